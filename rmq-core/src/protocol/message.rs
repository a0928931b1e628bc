//! Messages as the user builds them, and their wire encoding: properties string, unique ids,
//! offset message ids, compression and sysFlag, and validation before any network traffic.

use std::net::SocketAddr;

use bytes::Bytes;

use crate::error::Result;

/// A message to send. Fields are public; [`validate`] checks them before a send.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Message {
    pub topic: String,
    pub body: Bytes,
    pub tags: Option<String>,
    /// Keys for the broker's index, sent space-separated (property KEYS).
    pub keys: Vec<String>,
    /// User properties, in insertion order; names of system properties are refused by [`validate`].
    pub properties: Vec<(String, String)>,
    /// Delay level 1..=18 (property DELAY).
    pub delay_level: Option<i32>,
    /// Absolute delivery time in epoch milliseconds (5.x timer, property TIMER_DELIVER_MS).
    pub deliver_time_ms: Option<i64>,
    /// The user int `flag` of the message header.
    pub flag: i32,
    /// Property WAIT (waitStoreMsgOK); Java's default is true.
    pub wait_store_msg_ok: bool,
}

impl Message {
    pub fn new(topic: impl Into<String>, body: impl Into<Bytes>) -> Self {
        Message {
            topic: topic.into(),
            body: body.into(),
            wait_store_msg_ok: true,
            ..Default::default()
        }
    }
    pub fn with_tags(mut self, tags: impl Into<String>) -> Self {
        self.tags = Some(tags.into());
        self
    }
    pub fn with_keys<I, S>(mut self, keys: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.keys = keys.into_iter().map(Into::into).collect();
        self
    }
    pub fn with_property(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.properties.push((name.into(), value.into()));
        self
    }
}

/// Property names (`MessageConst.java`).
pub mod property {
    pub const KEYS: &str = "KEYS";
    pub const TAGS: &str = "TAGS";
    pub const WAIT: &str = "WAIT";
    pub const DELAY: &str = "DELAY";
    pub const UNIQ_KEY: &str = "UNIQ_KEY";
    pub const TIMER_DELIVER_MS: &str = "TIMER_DELIVER_MS";
    pub const MSG_REGION: &str = "MSG_REGION";
    pub const TRACE_ON: &str = "TRACE_ON";
}

/// sysFlag bits (`MessageSysFlag.java`).
pub mod sys_flag {
    pub const COMPRESSED: i32 = 0x1;
    pub const TRANSACTION_PREPARED: i32 = 0x4;
    pub const COMPRESSION_ZLIB: i32 = 0x300;
}

/// Topics a producer may never send to.
pub const MAX_TOPIC_LEN: usize = 127;

/// Encodes `name \x01 value \x02` pairs.
pub fn encode_properties<'a>(props: impl IntoIterator<Item = (&'a str, &'a str)>) -> String {
    let _ = props.into_iter();
    todo!()
}

/// Decodes a properties string; malformed pairs are skipped as Java does.
pub fn decode_properties(s: &str) -> Vec<(String, String)> {
    todo!("{s}")
}

/// The wire properties of `msg` (user properties, then TAGS, KEYS, WAIT, DELAY, TIMER_DELIVER_MS,
/// then UNIQ_KEY = `uniq_key`), encoded.
pub fn message_properties(msg: &Message, uniq_key: &str) -> String {
    todo!("{msg:?} {uniq_key}")
}

/// Generates UNIQ_KEY ids: ip (4|16) · pid i16 · random i32 · ms since month start i32 · counter i16,
/// as uppercase hex.
#[derive(Debug)]
pub struct UniqIdGenerator {}

impl UniqIdGenerator {
    pub fn new() -> Self {
        todo!()
    }
    pub fn next_id(&self) -> String {
        todo!()
    }
}

impl Default for UniqIdGenerator {
    fn default() -> Self {
        Self::new()
    }
}

/// Decodes an offset message id into the store host and commit log offset.
pub fn decode_offset_msg_id(id: &str) -> Result<(SocketAddr, i64)> {
    todo!("{id}")
}

/// zlib (RFC 1950) compression at `level`; `None` if it fails.
pub fn compress_zlib(body: &[u8], level: u32) -> Option<Vec<u8>> {
    todo!("{body:?} {level}")
}

/// Checks a topic: non-blank, at most 127 chars, `[%|a-zA-Z0-9_-]`, not a reserved topic.
pub fn validate_topic(topic: &str) -> Result<()> {
    todo!("{topic}")
}

/// Checks a producer group name (charset, length, not `DEFAULT_PRODUCER`).
pub fn validate_group(group: &str) -> Result<()> {
    todo!("{group}")
}

/// Checks a whole message before sending: topic, non-empty body no larger than `max_size`,
/// user property names not reserved and not blank, delay level range. Errors are `InvalidMessage`.
pub fn validate(msg: &Message, max_size: usize) -> Result<()> {
    todo!("{msg:?} {max_size}")
}

/// This host's address as Java's `UtilAll.getIP` would pick it (used in client ids and UNIQ_KEY).
pub fn local_ip() -> std::net::IpAddr {
    todo!()
}
