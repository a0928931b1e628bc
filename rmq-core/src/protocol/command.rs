//! RemotingCommand frames: `length | serializeType<<24 | headerLen | header | body`, big-endian.
//! Headers are JSON (fastjson layout) or the ROCKETMQ binary form; both decode, either encodes.

use std::collections::BTreeMap;

use bytes::{Bytes, BytesMut};

use crate::error::Result;

/// `version` sent in every request: MQVersion V5_3_3. At >= 401 the name server answers with
/// standard JSON routes, and at > 475 brokers send GO_AWAY before shutting down.
pub const CLIENT_VERSION: i32 = 479;
/// Default maximum frame length, as the Java remoting layer (16 MiB).
pub const DEFAULT_MAX_FRAME_LEN: usize = 16 * 1024 * 1024;

/// flag bit 0: the command is a response.
pub const FLAG_RESPONSE: i32 = 1;
/// flag bit 1: the request expects no response.
pub const FLAG_ONEWAY: i32 = 2;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SerializeType {
    #[default]
    Json = 0,
    RocketMq = 1,
}

/// `LanguageCode.java`; the numeric value is used in binary headers, the name in JSON ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LanguageCode {
    Java = 0,
    Cpp = 1,
    Dotnet = 2,
    Python = 3,
    Delphi = 4,
    Erlang = 5,
    Ruby = 6,
    Other = 7,
    Http = 8,
    Go = 9,
    Php = 10,
    Oms = 11,
    Rust = 12,
    NodeJs = 13,
}

#[derive(Debug, Clone, PartialEq)]
pub struct RemotingCommand {
    pub code: i32,
    pub language: LanguageCode,
    pub version: i32,
    pub opaque: i32,
    pub flag: i32,
    pub remark: Option<String>,
    pub ext_fields: BTreeMap<String, String>,
    pub body: Bytes,
}

impl LanguageCode {
    pub fn name(self) -> &'static str {
        todo!()
    }
    pub fn from_name(name: &str) -> Option<Self> {
        todo!("{name}")
    }
    pub fn from_code(code: u8) -> Option<Self> {
        todo!("{code}")
    }
}

impl RemotingCommand {
    /// A request from this client: language RUST, version [`CLIENT_VERSION`], opaque 0 (the
    /// transport assigns it), empty body.
    pub fn request(code: i32, ext_fields: BTreeMap<String, String>) -> Self {
        todo!("{code} {ext_fields:?}")
    }

    pub fn with_body(self, body: Bytes) -> Self {
        todo!("{body:?}")
    }

    /// A response to the request with `opaque`.
    pub fn response(code: i32, opaque: i32, remark: Option<String>) -> Self {
        todo!("{code} {opaque} {remark:?}")
    }

    pub fn is_response(&self) -> bool {
        todo!()
    }
    pub fn is_oneway(&self) -> bool {
        todo!()
    }
    pub fn mark_oneway(&mut self) {
        todo!()
    }

    /// Appends the whole frame (length prefix included) to `dst`.
    pub fn encode(&self, serialize: SerializeType, dst: &mut BytesMut) {
        todo!("{serialize:?} {dst:?}")
    }

    /// Takes one whole frame off the front of `src` if one is there (`Ok(None)` when more bytes
    /// are needed). A frame longer than `max_frame_len` or a header that does not decode is a
    /// `Protocol` error: the connection cannot be resynchronised after it.
    pub fn decode_frame(src: &mut BytesMut, max_frame_len: usize) -> Result<Option<Self>> {
        todo!("{src:?} {max_frame_len}")
    }
}
