//! The frame decoder on a byte stream: frames are taken off the front one by one.
#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use rmq_core::ErrorKind;
use rmq_core::protocol::command::RemotingCommand;
use rmq_core_fuzz::assert_reencodes;

/// Small, so that inputs reach the oversize check as well as whole frames.
const MAX_FRAME_LEN: usize = 1024;

fuzz_target!(|data: &[u8]| {
    let mut src = BytesMut::from(data);
    loop {
        let before = src.clone();
        match RemotingCommand::decode_frame(&mut src, MAX_FRAME_LEN) {
            Ok(Some(cmd)) => {
                // Exactly the declared frame is consumed: the length word and what it covers.
                let declared = i32::from_be_bytes(before[..4].try_into().unwrap()) as usize;
                assert!(declared + 4 <= before.len() && declared + 4 <= MAX_FRAME_LEN);
                assert_eq!(&src[..], &before[declared + 4..]);
                assert_reencodes(&cmd);
            }
            Ok(None) => {
                // More bytes needed: nothing is consumed, and a frame is indeed incomplete.
                assert_eq!(src, before);
                if before.len() >= 4 {
                    let declared = i32::from_be_bytes(before[..4].try_into().unwrap());
                    assert!(declared as usize + 4 > before.len());
                }
                return;
            }
            Err(e) => {
                assert_eq!(e.kind(), ErrorKind::Protocol, "{e}");
                return;
            }
        }
    }
});
