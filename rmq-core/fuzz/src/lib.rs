//! Checks the fuzz targets share: what must hold of any command the decoders accept.

use bytes::{BufMut, BytesMut};
use rmq_core::protocol::command::{DEFAULT_MAX_FRAME_LEN, RemotingCommand, SerializeType};
use rmq_core::{ErrorKind, Result};

/// A decoded command encodes and decodes back to itself: always in JSON, and in the binary form
/// when it fits it (16-bit code and version; an empty remark is written as none there).
pub fn assert_reencodes(cmd: &RemotingCommand) {
    assert_round_trip(cmd, SerializeType::Json);
    let fits_binary = i16::try_from(cmd.code).is_ok()
        && i16::try_from(cmd.version).is_ok()
        && cmd.remark.as_deref() != Some("");
    if fits_binary {
        assert_round_trip(cmd, SerializeType::RocketMq);
    }
}

fn assert_round_trip(cmd: &RemotingCommand, serialize: SerializeType) {
    let mut frame = BytesMut::new();
    cmd.encode(serialize, &mut frame);
    let back = RemotingCommand::decode_frame(&mut frame, DEFAULT_MAX_FRAME_LEN)
        .unwrap_or_else(|e| panic!("{serialize:?} re-encoding of {cmd:?} does not decode: {e}"))
        .expect("a whole frame");
    assert_eq!(&back, cmd, "{serialize:?} round trip");
    assert!(frame.is_empty(), "the re-encoded frame is consumed whole");
}

/// What must hold of a header decoder: its answer is the frame decoder's for the same header in
/// a frame, a refusal is a `Protocol` error, and a command it accepts re-encodes.
pub fn check_header_decoder(
    serialize: SerializeType,
    decode: fn(&[u8]) -> Result<RemotingCommand>,
    header: &[u8],
) {
    let decoded = decode(header);
    assert_header_as_in_frame(serialize, header, &decoded);
    if let Ok(cmd) = &decoded {
        assert!(cmd.body.is_empty() && cmd.typed_fields.is_none());
        assert_reencodes(cmd);
    }
}

fn assert_header_as_in_frame(
    serialize: SerializeType,
    header: &[u8],
    decoded: &Result<RemotingCommand>,
) {
    let mut frame = BytesMut::new();
    frame.put_u32(4 + header.len() as u32);
    frame.put_u32(((serialize as u32) << 24) | header.len() as u32);
    frame.put_slice(header);
    let in_frame = RemotingCommand::decode_frame(&mut frame, DEFAULT_MAX_FRAME_LEN);
    match (decoded, in_frame) {
        (Ok(alone), Ok(Some(framed))) => assert_eq!(alone, &framed),
        (Err(alone), Err(framed)) => {
            assert_eq!(alone.kind(), ErrorKind::Protocol, "{alone}");
            assert_eq!(alone.message(), framed.message());
        }
        (alone, framed) => panic!("alone {alone:?}, in a frame {framed:?}"),
    }
}
