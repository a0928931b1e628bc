//! Messages as the user builds them, and their wire form: the properties string and sysFlag.

use bytes::Bytes;

use crate::error::Result;

/// A message to send. Fields are public; [`Message::validate`] checks them before a send.
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
    /// The time budget of the send that carries this message, retries included, in
    /// milliseconds: replaces the producer's `send_timeout_ms` for that send (Java's
    /// `send(msg, timeout)`). Not sent to the broker.
    pub send_timeout_ms: Option<i64>,
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
    pub fn with_send_timeout(mut self, timeout: std::time::Duration) -> Self {
        self.send_timeout_ms = Some(i64::try_from(timeout.as_millis()).unwrap_or(i64::MAX));
        self
    }

    /// Checks the message as every send does before any network traffic (see
    /// [`crate::protocol::validate::validate`]); `max_size` is the producer's `max_message_size`.
    pub fn validate(&self, max_size: usize) -> Result<()> {
        crate::protocol::validate::validate(self, max_size)
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
    pub const INSTANCE_ID: &str = "INSTANCE_ID";
    pub const TRAN_MSG: &str = "TRAN_MSG";
    pub const PGROUP: &str = "PGROUP";
    pub const CORRELATION_ID: &str = "CORRELATION_ID";
    pub const REPLY_TO_CLIENT: &str = "REPLY_TO_CLIENT";
    pub const TTL: &str = "TTL";
    /// Light message queue dispatch targets; the value may not contain '/'.
    pub const INNER_MULTI_DISPATCH: &str = "INNER_MULTI_DISPATCH";

    /// Names reserved for the system (`MessageConst.STRING_HASH_SET`, 5.3.3): a user property
    /// may not use them.
    pub const SYSTEM_NAMES: &[&str] = &[
        "TRACE_ON",
        "MSG_REGION",
        "KEYS",
        "TAGS",
        "WAIT",
        "DELAY",
        "RETRY_TOPIC",
        "REAL_TOPIC",
        "REAL_QID",
        "TRAN_MSG",
        "PGROUP",
        "MIN_OFFSET",
        "MAX_OFFSET",
        "BUYER_ID",
        "ORIGIN_MESSAGE_ID",
        "TRANSFER_FLAG",
        "CORRECTION_FLAG",
        "MQ2_FLAG",
        "RECONSUME_TIME",
        "UNIQ_KEY",
        "MAX_RECONSUME_TIMES",
        "CONSUME_START_TIME",
        "POP_CK",
        "POP_CK_OFFSET",
        "1ST_POP_TIME",
        "TRAN_PREPARED_QUEUE_OFFSET",
        "DUP_INFO",
        "EXTEND_UNIQ_INFO",
        "INSTANCE_ID",
        "CORRELATION_ID",
        "REPLY_TO_CLIENT",
        "TTL",
        "ARRIVE_TIME",
        "PUSH_REPLY_TIME",
        "CLUSTER",
        "MSG_TYPE",
        "INNER_MULTI_QUEUE_OFFSET",
        "TIMER_DELAY_MS",
        "TIMER_DELAY_SEC",
        "TIMER_DELIVER_MS",
        "TIMER_ENQUEUE_MS",
        "TIMER_DEQUEUE_MS",
        "TIMER_ROLL_TIMES",
        "TIMER_OUT_MS",
        "TIMER_DEL_UNIQKEY",
        "TIMER_DELAY_LEVEL",
        "__BORNHOST",
        "BORN_TIMESTAMP",
        "DLQ_ORIGIN_TOPIC",
        "DLQ_ORIGIN_MESSAGE_ID",
        "__CRC32#",
    ];
}

/// sysFlag bits (`MessageSysFlag.java`).
pub mod sys_flag {
    pub const COMPRESSED: i32 = 0x1;
    pub const TRANSACTION_PREPARED: i32 = 0x4;
    pub const COMPRESSION_LZ4: i32 = 0x100;
    pub const COMPRESSION_ZSTD: i32 = 0x200;
    pub const COMPRESSION_ZLIB: i32 = 0x300;
}

pub(crate) const NAME_VALUE_SEPARATOR: char = '\u{1}';
pub(crate) const PROPERTY_SEPARATOR: char = '\u{2}';

/// Encodes `name \x01 value \x02` pairs.
pub fn encode_properties<'a>(props: impl IntoIterator<Item = (&'a str, &'a str)>) -> String {
    let mut out = String::new();
    for (name, value) in props {
        out.push_str(name);
        out.push(NAME_VALUE_SEPARATOR);
        out.push_str(value);
        out.push(PROPERTY_SEPARATOR);
    }
    out
}

/// Decodes a properties string; malformed pairs are skipped as Java does.
///
/// A pair needs a non-empty name and a non-empty value around the first `\x01`. Pairs are
/// returned in order; when a name repeats, Java keeps the last one.
pub fn decode_properties(s: &str) -> Vec<(String, String)> {
    s.split(PROPERTY_SEPARATOR)
        .filter_map(|pair| {
            let (name, value) = pair.split_once(NAME_VALUE_SEPARATOR)?;
            (!name.is_empty() && !value.is_empty()).then(|| (name.to_owned(), value.to_owned()))
        })
        .collect()
}

/// The wire properties of `msg` (user properties, then TAGS, KEYS, WAIT, DELAY, TIMER_DELIVER_MS,
/// then UNIQ_KEY = `uniq_key`), encoded.
///
/// Empty tags and keys are left out, as Java's constructor does; WAIT is always present; a delay
/// level of 0 means no delay and is left out.
pub fn message_properties(msg: &Message, uniq_key: &str) -> String {
    let keys = msg.keys.join(" ");
    let delay = msg
        .delay_level
        .filter(|&level| level > 0)
        .map(|l| l.to_string());
    let deliver_time = msg.deliver_time_ms.map(|ms| ms.to_string());
    let wait = if msg.wait_store_msg_ok {
        "true"
    } else {
        "false"
    };

    let mut pairs: Vec<(&str, &str)> = msg
        .properties
        .iter()
        .map(|(name, value)| (name.as_str(), value.as_str()))
        .collect();
    if let Some(tags) = msg.tags.as_deref().filter(|t| !t.is_empty()) {
        pairs.push((property::TAGS, tags));
    }
    if !keys.is_empty() {
        pairs.push((property::KEYS, &keys));
    }
    pairs.push((property::WAIT, wait));
    if let Some(delay) = &delay {
        pairs.push((property::DELAY, delay));
    }
    if let Some(deliver_time) = &deliver_time {
        pairs.push((property::TIMER_DELIVER_MS, deliver_time));
    }
    pairs.push((property::UNIQ_KEY, uniq_key));
    encode_properties(pairs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn properties_encode_and_round_trip() {
        let encoded = encode_properties([("KEYS", "k1 k2"), ("WAIT", "true"), ("ü", "é")]);
        assert_eq!(encoded, "KEYS\u{1}k1 k2\u{2}WAIT\u{1}true\u{2}ü\u{1}é\u{2}");
        assert_eq!(
            decode_properties(&encoded),
            vec![
                ("KEYS".to_owned(), "k1 k2".to_owned()),
                ("WAIT".to_owned(), "true".to_owned()),
                ("ü".to_owned(), "é".to_owned()),
            ]
        );
        assert_eq!(encode_properties([]), "");
        assert!(decode_properties("").is_empty());
    }

    #[test]
    fn properties_decode_skips_malformed_pairs() {
        let s = "a\u{1}1\u{2}noseparator\u{2}\u{1}novalue\u{2}nokey\u{1}\u{2}\u{2}x\u{1}y\u{1}z\u{2}last\u{1}v";
        assert_eq!(
            decode_properties(s),
            vec![
                ("a".to_owned(), "1".to_owned()),
                ("x".to_owned(), "y\u{1}z".to_owned()),
                ("last".to_owned(), "v".to_owned()),
            ]
        );
    }

    #[test]
    fn message_properties_in_java_order() {
        let mut msg = Message::new("T", "body")
            .with_tags("TagA")
            .with_keys(["k1", "k2"])
            .with_property("color", "red");
        msg.delay_level = Some(3);
        msg.deliver_time_ms = Some(1_700_000_000_000);
        assert_eq!(
            message_properties(&msg, "ID"),
            "color\u{1}red\u{2}TAGS\u{1}TagA\u{2}KEYS\u{1}k1 k2\u{2}WAIT\u{1}true\u{2}\
             DELAY\u{1}3\u{2}TIMER_DELIVER_MS\u{1}1700000000000\u{2}UNIQ_KEY\u{1}ID\u{2}"
        );
        let mut plain = Message::new("T", "body").with_tags("");
        plain.wait_store_msg_ok = false;
        plain.delay_level = Some(0);
        assert_eq!(
            message_properties(&plain, "ID"),
            "WAIT\u{1}false\u{2}UNIQ_KEY\u{1}ID\u{2}"
        );
    }
}
