//! The broker's answer to a send, from the frame to the SendResult (`processSendResponse`),
//! and the offset message ids in it, which an end of transaction decodes.
#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use rmq_core::protocol::codes::response;
use rmq_core::protocol::command::{DEFAULT_MAX_FRAME_LEN, RemotingCommand};
use rmq_core::protocol::unique_id::decode_offset_msg_id;
use rmq_core::{ErrorKind, SendStatus, fuzzing};

fuzz_target!(|frame: &[u8]| {
    let Ok(Some(cmd)) =
        RemotingCommand::decode_frame(&mut BytesMut::from(frame), DEFAULT_MAX_FRAME_LEN)
    else {
        return;
    };
    let fields = cmd.ext_fields.clone();
    let code = cmd.code;
    let result = match fuzzing::send_result(cmd) {
        Ok(result) => result,
        Err(e) => {
            let expected = match code {
                response::SUCCESS
                | response::FLUSH_DISK_TIMEOUT
                | response::FLUSH_SLAVE_TIMEOUT
                | response::SLAVE_NOT_AVAILABLE => ErrorKind::Protocol,
                _ => ErrorKind::Broker,
            };
            assert_eq!(e.kind(), expected, "{e}");
            return;
        }
    };
    let status = match code {
        response::SUCCESS => SendStatus::SendOk,
        response::FLUSH_DISK_TIMEOUT => SendStatus::FlushDiskTimeout,
        response::FLUSH_SLAVE_TIMEOUT => SendStatus::FlushSlaveTimeout,
        response::SLAVE_NOT_AVAILABLE => SendStatus::SlaveNotAvailable,
        other => panic!("code {other} gave a result"),
    };
    assert_eq!(result.status, status);
    assert_eq!(result.offset_msg_id, fields["msgId"]);
    assert_eq!(result.queue.topic, fuzzing::SENT_TOPIC);
    assert_eq!(Ok(result.queue.queue_id), fields["queueId"].trim().parse());
    assert_eq!(
        Ok(result.queue_offset),
        fields["queueOffset"].trim().parse()
    );
    assert_eq!(result.transaction_id.as_ref(), fields.get("transactionId"));
    assert_eq!(
        result.trace_on,
        fields.get("TRACE_ON").is_none_or(|t| t != "false")
    );
    for id in result.offset_msg_ids() {
        match decode_offset_msg_id(id) {
            Ok(_) => {
                assert!(matches!(id.len(), 32 | 56) && id.bytes().all(|b| b.is_ascii_hexdigit()))
            }
            Err(e) => assert_eq!(e.kind(), ErrorKind::Protocol, "{e}"),
        }
    }
});
