//! The ROCKETMQ binary header decoder.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rmq_core::fuzzing;
use rmq_core::protocol::command::SerializeType;
use rmq_core_fuzz::check_header_decoder;

fuzz_target!(|header: &[u8]| {
    check_header_decoder(SerializeType::RocketMq, fuzzing::header_rocketmq, header);
});
