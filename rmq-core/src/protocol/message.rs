//! Messages as the user builds them, and their wire encoding: properties string, unique ids,
//! offset message ids, compression and sysFlag, and validation before any network traffic.

use std::hash::BuildHasher;
use std::io::Write;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::{Buf, Bytes};
use flate2::Compression;
use flate2::write::ZlibEncoder;

use crate::error::{Error, ErrorKind, Result};

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

/// Topics a producer may never send to (`TopicValidator.NOT_ALLOWED_SEND_TOPIC_SET`, 5.3.3).
/// Other system topics such as TBW102 are accepted, as in Java.
pub const NOT_ALLOWED_SEND_TOPICS: &[&str] = &[
    "SCHEDULE_TOPIC_XXXX",
    "RMQ_SYS_TRANS_HALF_TOPIC",
    "RMQ_SYS_TRANS_OP_HALF_TOPIC",
    "TRANS_CHECK_MAX_TIME_TOPIC",
    "SELF_TEST_TOPIC",
    "OFFSET_MOVED_EVENT",
];

/// Longest topic a client may send to, in characters.
pub const MAX_TOPIC_LEN: usize = 127;
/// Longest producer group name (`Validators.CHARACTER_MAX_LENGTH`).
pub const MAX_GROUP_LEN: usize = 255;
/// The group name Java reserves for its default producer.
pub const DEFAULT_PRODUCER_GROUP: &str = "DEFAULT_PRODUCER";
/// The broker stores the properties length as an i16.
pub const MAX_PROPERTIES_LEN: usize = i16::MAX as usize;

const NAME_VALUE_SEPARATOR: char = '\u{1}';
const PROPERTY_SEPARATOR: char = '\u{2}';

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

/// The IPv4 address this host would use for outbound traffic (its default route), else
/// 127.0.0.1. Connecting a UDP socket only picks a route; nothing is sent. The target is a
/// documentation address (TEST-NET-1), so no real host is ever involved.
pub fn local_ip() -> IpAddr {
    let routed = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0))
        .and_then(|socket| {
            socket.connect((Ipv4Addr::new(192, 0, 2, 1), 9))?;
            socket.local_addr()
        })
        .map(|addr| addr.ip());
    match routed {
        Ok(ip) if !ip.is_loopback() && !ip.is_unspecified() => ip,
        _ => IpAddr::V4(Ipv4Addr::LOCALHOST),
    }
}

/// Generates UNIQ_KEY ids: ip (4|16) · pid i16 · random i32 · ms since month start i32 · counter i16,
/// as uppercase hex.
///
/// The random i32 stands in for Java's class loader hash, so two generators (or processes with
/// a recycled pid) differ. The month starts on day 1 at 00:00 local time, as Java's
/// `MessageClientIDSetter` (4.9.x tools look messages up by that time). Time and counter advance together as one 48-bit
/// sequence: ids of one generator strictly increase, and more than 65536 ids in one millisecond
/// borrow the next millisecond instead of repeating.
#[derive(Debug)]
pub struct UniqIdGenerator {
    /// Hex of ip · pid · random.
    prefix: String,
    /// Epoch milliseconds << 16 | counter of the last id.
    last: AtomicU64,
    /// The current local month as [start, next start) in epoch ms.
    month: parking_lot::Mutex<(u64, u64)>,
}

impl UniqIdGenerator {
    pub fn new() -> Self {
        Self::with_ip(local_ip())
    }

    fn with_ip(ip: IpAddr) -> Self {
        let mut fixed = match ip {
            IpAddr::V4(v4) => v4.octets().to_vec(),
            IpAddr::V6(v6) => v6.octets().to_vec(),
        };
        fixed.extend_from_slice(&(std::process::id() as i16).to_be_bytes());
        fixed.extend_from_slice(&random_u32().to_be_bytes());
        UniqIdGenerator {
            prefix: to_hex(&fixed),
            last: AtomicU64::new(0),
            month: parking_lot::Mutex::new((0, 0)),
        }
    }

    pub fn next_id(&self) -> String {
        self.id_at(epoch_ms())
    }

    /// The next id when the clock reads `now_ms`.
    fn id_at(&self, now_ms: u64) -> String {
        let now = now_ms << 16;
        let advance = |last: u64| now.max(last + 1);
        // The closure always returns Some, so this is Ok(previous value).
        let previous = self
            .last
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |last| {
                Some(advance(last))
            })
            .unwrap_or_else(|last| last);
        let current = advance(previous);
        let ms = current >> 16;
        let since_month_start = ms.saturating_sub(self.month_start(ms)) as u32;
        format!(
            "{}{since_month_start:08X}{:04X}",
            self.prefix, current as u16
        )
    }

    /// The start of the local month of `ms`, recomputed only when a month ends.
    fn month_start(&self, ms: u64) -> u64 {
        let mut month = self.month.lock();
        if !(month.0..month.1).contains(&ms) {
            *month = month_window(ms, &chrono::Local)
                .or_else(|| month_window(ms, &chrono::Utc))
                .unwrap_or((ms, ms + 1));
        }
        month.0
    }
}

impl Default for UniqIdGenerator {
    fn default() -> Self {
        Self::new()
    }
}

fn epoch_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// The month containing `ms` (epoch ms) in time zone `tz`, as [day 1 00:00, next day 1
/// 00:00) in epoch ms. A midnight skipped by a daylight-saving change counts from 01:00.
fn month_window<Tz: chrono::TimeZone>(ms: u64, tz: &Tz) -> Option<(u64, u64)> {
    use chrono::{Datelike, Months, NaiveDate, TimeDelta};
    let local = tz.timestamp_millis_opt(ms as i64).single()?.naive_local();
    let first = NaiveDate::from_ymd_opt(local.year(), local.month(), 1)?.and_hms_opt(0, 0, 0)?;
    let next = first.checked_add_months(Months::new(1))?;
    let epoch_ms = |naive: chrono::NaiveDateTime| {
        tz.from_local_datetime(&naive)
            .earliest()
            .or_else(|| {
                tz.from_local_datetime(&(naive + TimeDelta::hours(1)))
                    .earliest()
            })
            .map(|t| t.timestamp_millis().max(0) as u64)
    };
    Some((epoch_ms(first)?, epoch_ms(next)?))
}

/// 32 random bits from the standard library's randomly keyed hasher (no extra dependency).
fn random_u32() -> u32 {
    let seed = (SystemTime::now(), std::process::id());
    std::collections::hash_map::RandomState::new().hash_one(seed) as u32
}

fn to_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02X}")).collect()
}

/// Decodes an offset message id into the store host and commit log offset.
///
/// The id is hex of ip (4 or 16 bytes) · port i32 · offset i64: 32 or 56 characters.
pub fn decode_offset_msg_id(id: &str) -> Result<(SocketAddr, i64)> {
    let bad = |why: &str| Error::protocol(format!("offset message id {id:?} {why}"));
    let ipv6 = match id.len() {
        32 => false,
        56 => true,
        n => return Err(bad(&format!("has {n} characters, expected 32 or 56"))),
    };
    let hex_digit = |b: u8| char::from(b).to_digit(16);
    let bytes = id
        .as_bytes()
        .chunks_exact(2)
        .map(|pair| Some((hex_digit(pair[0])? * 16 + hex_digit(pair[1])?) as u8))
        .collect::<Option<Vec<u8>>>()
        .ok_or_else(|| bad("is not hexadecimal"))?;
    // The length check above makes every read below in bounds.
    let mut buf = &bytes[..];
    let ip = if ipv6 {
        let mut octets = [0u8; 16];
        buf.copy_to_slice(&mut octets);
        IpAddr::from(octets)
    } else {
        let mut octets = [0u8; 4];
        buf.copy_to_slice(&mut octets);
        IpAddr::from(octets)
    };
    let port = buf.get_i32();
    let port = u16::try_from(port).map_err(|_| bad(&format!("has port {port}")))?;
    Ok((SocketAddr::new(ip, port), buf.get_i64()))
}

/// zlib (RFC 1950) compression at `level`; `None` if it fails.
///
/// Levels above 9 fail, as `java.util.zip.Deflater` rejects them.
pub fn compress_zlib(body: &[u8], level: u32) -> Option<Vec<u8>> {
    if level > 9 {
        return None;
    }
    let mut encoder = ZlibEncoder::new(Vec::with_capacity(body.len() / 2), Compression::new(level));
    encoder.write_all(body).ok()?;
    encoder.finish().ok()
}

/// Java's `isBlank`: empty or only whitespace.
fn is_blank(s: &str) -> bool {
    s.trim().is_empty()
}

/// The first character outside `[%|a-zA-Z0-9_-]`.
fn illegal_char(s: &str) -> Option<char> {
    s.chars()
        .find(|&c| !(c.is_ascii_alphanumeric() || matches!(c, '%' | '|' | '_' | '-')))
}

/// Checks a topic: non-blank, at most 127 chars, `[%|a-zA-Z0-9_-]`, not a reserved topic.
pub fn validate_topic(topic: &str) -> Result<()> {
    if is_blank(topic) {
        return Err(Error::new(ErrorKind::InvalidTopic, "topic is blank"));
    }
    let len = topic.chars().count();
    if len > MAX_TOPIC_LEN {
        return Err(Error::new(
            ErrorKind::InvalidTopic,
            format!("topic of {len} characters is longer than {MAX_TOPIC_LEN}"),
        ));
    }
    if let Some(c) = illegal_char(topic) {
        return Err(Error::new(
            ErrorKind::InvalidTopic,
            format!(
                "topic {topic:?} contains illegal character {c:?}; allowed are [%|a-zA-Z0-9_-]"
            ),
        ));
    }
    if NOT_ALLOWED_SEND_TOPICS.contains(&topic) {
        return Err(Error::new(
            ErrorKind::ReservedTopic,
            format!("sending to system topic {topic:?} is forbidden"),
        ));
    }
    Ok(())
}

/// Checks a producer group name (charset, length, not `DEFAULT_PRODUCER`).
pub fn validate_group(group: &str) -> Result<()> {
    if is_blank(group) {
        return Err(Error::invalid_argument("producer group is blank"));
    }
    let len = group.chars().count();
    if len > MAX_GROUP_LEN {
        return Err(Error::invalid_argument(format!(
            "producer group of {len} characters is longer than {MAX_GROUP_LEN}"
        )));
    }
    if let Some(c) = illegal_char(group) {
        return Err(Error::invalid_argument(format!(
            "producer group {group:?} contains illegal character {c:?}; allowed are [%|a-zA-Z0-9_-]"
        )));
    }
    if group == DEFAULT_PRODUCER_GROUP {
        return Err(Error::invalid_argument(format!(
            "producer group {DEFAULT_PRODUCER_GROUP:?} is reserved; choose another name"
        )));
    }
    Ok(())
}

/// Checks a whole message before sending: topic, non-empty body no larger than `max_size`,
/// user property names not reserved and not blank, delay level range. Topic and body problems
/// have kinds of their own (`InvalidTopic`, `ReservedTopic`, `EmptyBody`, `MessageTooLarge`);
/// the rest are `InvalidMessage`.
///
/// Also: no `\x01`/`\x02` (the properties separators) in tags, keys or properties; a delay
/// level is not negative (0 means none; levels above the broker's highest are clamped by the
/// broker); a delivery time is not negative and not combined with a delay level (the broker
/// would silently drop it); the encoded properties fit the broker's 32767 bytes.
pub fn validate(msg: &Message, max_size: usize) -> Result<()> {
    validate_topic(&msg.topic)?;
    if msg.body.is_empty() {
        return Err(Error::new(ErrorKind::EmptyBody, "message body is empty"));
    }
    if msg.body.len() > max_size {
        return Err(Error::new(
            ErrorKind::MessageTooLarge,
            format!(
                "message body of {} bytes is larger than the maximum of {max_size}",
                msg.body.len()
            ),
        ));
    }
    if let Some(tags) = &msg.tags {
        check_no_separator("tags", tags)?;
    }
    for key in &msg.keys {
        check_no_separator("key", key)?;
    }
    for (name, value) in &msg.properties {
        validate_user_property(name, value)?;
    }
    if let Some(level) = msg.delay_level.filter(|&level| level < 0) {
        return Err(Error::invalid_message(format!(
            "delay level {level} is negative; use 1..=18 (0 means no delay)"
        )));
    }
    if let Some(ms) = msg.deliver_time_ms {
        if ms < 0 {
            return Err(Error::invalid_message(format!(
                "delivery time {ms} ms is negative"
            )));
        }
        if msg.delay_level.is_some_and(|level| level > 0) {
            return Err(Error::invalid_message(
                "a message may have a delay level or a delivery time, not both",
            ));
        }
    }
    // Measured with a placeholder of the real UNIQ_KEY's length (IPv6 ids are the longest).
    let properties_len = message_properties(msg, &"0".repeat(56)).len();
    if properties_len > MAX_PROPERTIES_LEN {
        return Err(Error::invalid_message(format!(
            "message properties take {properties_len} bytes, more than {MAX_PROPERTIES_LEN}"
        )));
    }
    Ok(())
}

fn validate_user_property(name: &str, value: &str) -> Result<()> {
    if is_blank(name) {
        return Err(Error::invalid_message("a property name is blank"));
    }
    if property::SYSTEM_NAMES.contains(&name) {
        return Err(Error::invalid_message(format!(
            "property name {name:?} is reserved for the system"
        )));
    }
    if is_blank(value) {
        return Err(Error::invalid_message(format!(
            "property {name:?} has a blank value"
        )));
    }
    check_no_separator("property name", name)?;
    check_no_separator(&format!("property {name:?} value"), value)?;
    if name == property::INNER_MULTI_DISPATCH && value.contains('/') {
        return Err(Error::invalid_message(format!(
            "property {name:?} value {value:?} contains '/'"
        )));
    }
    Ok(())
}

fn check_no_separator(what: &str, text: &str) -> Result<()> {
    match text
        .chars()
        .find(|&c| c == NAME_VALUE_SEPARATOR || c == PROPERTY_SEPARATOR)
    {
        Some(c) => Err(Error::invalid_message(format!(
            "{what} {text:?} contains the reserved separator {c:?}"
        ))),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;
    use std::io::Read;
    use std::net::Ipv6Addr;

    use flate2::read::ZlibDecoder;

    use super::*;
    use crate::ErrorKind;

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

    #[test]
    fn month_window_in_utc() {
        let start = |ms| month_window(ms, &chrono::Utc).unwrap().0;
        // 1970-01-01, 2024-02-29 12:34:56.789 (leap day), 2024-03-01 00:00, 2023-12-31 23:59:59.999
        assert_eq!(start(0), 0);
        assert_eq!(start(1_709_210_096_789), 1_706_745_600_000);
        assert_eq!(start(1_709_251_200_000), 1_709_251_200_000);
        assert_eq!(start(1_704_067_199_999), 1_701_388_800_000);
        assert_eq!(
            month_window(1_709_210_096_789, &chrono::Utc),
            Some((1_706_745_600_000, 1_709_251_200_000))
        );
    }

    /// Java counts from day 1, 00:00 in the local time zone: at 2026-12-01 03:00 UTC it is
    /// already December in UTC+8, whose month began at 2026-11-30 16:00 UTC; in UTC-5 it is
    /// still November.
    #[test]
    fn month_window_follows_the_local_time_zone_as_java() {
        let shanghai = chrono::FixedOffset::east_opt(8 * 3600).unwrap();
        let new_york = chrono::FixedOffset::west_opt(5 * 3600).unwrap();
        let now = 1_796_094_000_000; // 2026-12-01T03:00:00Z
        assert_eq!(
            month_window(now, &shanghai),
            Some((1_796_054_400_000, 1_798_732_800_000))
        );
        assert_eq!(month_window(now, &new_york).unwrap().0, 1_793_509_200_000);
        assert_eq!(
            month_window(now, &chrono::Utc).unwrap().0,
            1_796_083_200_000
        );
    }

    fn id_parts(id: &str, ip_hex_len: usize) -> (&str, &str, &str, u32, u16) {
        let (ip, rest) = id.split_at(ip_hex_len);
        let (pid, rest) = rest.split_at(4);
        let (random, rest) = rest.split_at(8);
        let (time, counter) = rest.split_at(8);
        (
            ip,
            pid,
            random,
            u32::from_str_radix(time, 16).unwrap(),
            u16::from_str_radix(counter, 16).unwrap(),
        )
    }

    #[test]
    fn uniq_id_layout_ipv4() {
        let generator = UniqIdGenerator::with_ip(IpAddr::V4(Ipv4Addr::new(10, 1, 2, 254)));
        let before = epoch_ms();
        let id = generator.next_id();
        assert_eq!(id.len(), 32);
        assert!(
            id.chars()
                .all(|c| c.is_ascii_digit() || c.is_ascii_uppercase()),
            "{id}"
        );
        let (ip, pid, _random, time, _counter) = id_parts(&id, 8);
        assert_eq!(ip, "0A0102FE");
        assert_eq!(pid, format!("{:04X}", std::process::id() as u16));
        let expected = before - month_window(before, &chrono::Local).unwrap().0;
        assert!(
            (time as u64).abs_diff(expected) < 5_000,
            "{time} vs {expected}"
        );
        assert_eq!(UniqIdGenerator::new().next_id().len(), 32);
    }

    #[test]
    fn uniq_id_layout_ipv6() {
        let generator = UniqIdGenerator::with_ip(IpAddr::V6(Ipv6Addr::LOCALHOST));
        let id = generator.next_id();
        assert_eq!(id.len(), 56);
        assert!(id.starts_with("00000000000000000000000000000001"), "{id}");
    }

    #[test]
    fn generators_differ_in_their_random_part() {
        let ip = IpAddr::V4(Ipv4Addr::LOCALHOST);
        let a = UniqIdGenerator::with_ip(ip).next_id();
        let b = UniqIdGenerator::with_ip(ip).next_id();
        assert_ne!(a[12..20], b[12..20]);
    }

    #[test]
    fn a_million_ids_in_one_millisecond_are_unique() {
        let generator = UniqIdGenerator::with_ip(IpAddr::V4(Ipv4Addr::LOCALHOST));
        let now = 1_709_210_096_789;
        let mut seen = HashSet::with_capacity(1_000_000);
        for _ in 0..1_000_000 {
            let id = generator.id_at(now);
            assert!(
                seen.insert(u64::from_str_radix(&id[20..], 16).unwrap()),
                "{id}"
            );
        }
        // The first 65536 ids share the millisecond; later ones borrow the following ones.
        let (.., time, counter) = id_parts(&generator.id_at(now), 8);
        let month_start = month_window(now, &chrono::Local).unwrap().0;
        assert_eq!(time as u64, now - month_start + 1_000_000 / 65_536);
        assert_eq!(counter as usize, 1_000_000 % 65_536);
    }

    #[test]
    fn ids_stay_unique_when_the_clock_steps_back() {
        let generator = UniqIdGenerator::with_ip(IpAddr::V4(Ipv4Addr::LOCALHOST));
        let first = generator.id_at(2_000_000_000_000);
        let second = generator.id_at(1_999_999_999_000);
        assert!(second > first, "{first} {second}");
    }

    #[test]
    fn ids_unique_across_threads() {
        let generator = UniqIdGenerator::new();
        let ids: Vec<String> = std::thread::scope(|s| {
            let workers: Vec<_> = (0..4)
                .map(|_| s.spawn(|| (0..50_000).map(|_| generator.next_id()).collect::<Vec<_>>()))
                .collect();
            workers
                .into_iter()
                .flat_map(|w| w.join().unwrap())
                .collect()
        });
        let unique: HashSet<&String> = ids.iter().collect();
        assert_eq!(unique.len(), 200_000);
    }

    #[test]
    fn local_ip_is_never_unspecified() {
        let ip = local_ip();
        assert!(!ip.is_unspecified());
    }

    #[test]
    fn offset_msg_id_decodes() {
        let (addr, offset) = decode_offset_msg_id("7F00000100002A9F0000000000000000").unwrap();
        assert_eq!(addr, "127.0.0.1:10911".parse().unwrap());
        assert_eq!(offset, 0);
        let (addr, offset) = decode_offset_msg_id("c0a80a0500002a9f00000001000f4240").unwrap();
        assert_eq!(addr, "192.168.10.5:10911".parse().unwrap());
        assert_eq!(offset, 0x1_000F_4240);
        let v6 = format!("{}00002A9F7FFFFFFFFFFFFFFF", "0".repeat(31) + "1");
        let (addr, offset) = decode_offset_msg_id(&v6).unwrap();
        assert_eq!(addr, "[::1]:10911".parse().unwrap());
        assert_eq!(offset, i64::MAX);
    }

    #[test]
    fn bad_offset_msg_ids_are_protocol_errors() {
        for id in [
            "",
            "7F00000100002A9F000000000000000",
            "7F00000100002A9F00000000000000000",
            "7F00000100002A9F000000000000000G",
            "+F00000100002A9F0000000000000000",
            "7F000001FFFFFFFF0000000000000000",
            "7F0000010001000000000000000000000",
            "ÿF00000100002A9F000000000000000",
        ] {
            let err = decode_offset_msg_id(id).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::Protocol, "{id}");
            assert!(err.message().contains("offset message id"), "{err}");
        }
    }

    #[test]
    fn zlib_compression_round_trip() {
        let body: Vec<u8> = (0..10_000u32)
            .flat_map(|i| (i % 97).to_be_bytes())
            .collect();
        let compressed = compress_zlib(&body, 5).unwrap();
        assert!(compressed.len() < body.len() / 4);
        assert_eq!(compressed[0], 0x78, "zlib header");
        let mut back = Vec::new();
        ZlibDecoder::new(&compressed[..])
            .read_to_end(&mut back)
            .unwrap();
        assert_eq!(back, body);
        assert!(compress_zlib(b"", 0).is_some());
        assert_eq!(compress_zlib(b"x", 10), None);
    }

    fn assert_invalid(result: Result<()>, kind: ErrorKind, needle: &str) {
        let err = result.unwrap_err();
        assert_eq!(err.kind(), kind, "{err}");
        assert!(err.message().contains(needle), "{err:?} lacks {needle:?}");
    }

    #[test]
    fn topic_validation() {
        let bad = |topic: &str, needle: &str| {
            assert_invalid(validate_topic(topic), ErrorKind::InvalidTopic, needle)
        };
        bad("", "blank");
        bad("  ", "blank");
        bad(&"t".repeat(128), "128 characters is longer than 127");
        bad("a b", "topic \"a b\" contains illegal character ' '");
        bad("topic.1", "illegal character '.'");
        bad("tópico", "illegal character 'ó'");
        for topic in NOT_ALLOWED_SEND_TOPICS {
            assert_invalid(validate_topic(topic), ErrorKind::ReservedTopic, "forbidden");
        }
        for topic in [
            "TopicTest",
            "%RETRY%g",
            "a|b",
            "A-z_09",
            "TBW102",
            &"t".repeat(127),
        ] {
            validate_topic(topic).unwrap();
        }
    }

    #[test]
    fn group_validation() {
        let bad = |group: &str, needle: &str| {
            assert_invalid(validate_group(group), ErrorKind::InvalidArgument, needle)
        };
        bad("", "blank");
        bad("\t", "blank");
        bad(&"g".repeat(256), "256 characters is longer than 255");
        bad("my group", "illegal character ' '");
        bad("DEFAULT_PRODUCER", "reserved");
        validate_group("PG_1").unwrap();
        validate_group(&"g".repeat(255)).unwrap();
    }

    #[test]
    fn message_validation() {
        let ok = Message::new("T", "body");
        validate(&ok, 4).unwrap();
        let invalid = |msg: Message, needle: &str| {
            assert_invalid(
                validate(&msg, 4 * 1024 * 1024),
                ErrorKind::InvalidMessage,
                needle,
            )
        };
        let max = 4 * 1024 * 1024;
        let kind = |msg: Message| validate(&msg, max).unwrap_err().kind();
        assert_eq!(kind(Message::new("a b", "x")), ErrorKind::InvalidTopic);
        assert_eq!(
            kind(Message::new("SCHEDULE_TOPIC_XXXX", "x")),
            ErrorKind::ReservedTopic
        );
        assert_eq!(kind(Message::new("T", "")), ErrorKind::EmptyBody);
        assert_invalid(
            validate(&Message::new("T", "12345"), 4),
            ErrorKind::MessageTooLarge,
            "5 bytes is larger than the maximum of 4",
        );
        invalid(
            ok.clone().with_property("UNIQ_KEY", "x"),
            "\"UNIQ_KEY\" is reserved",
        );
        invalid(ok.clone().with_property("__CRC32#", "x"), "reserved");
        invalid(ok.clone().with_property(" ", "x"), "name is blank");
        invalid(
            ok.clone().with_property("n", " "),
            "\"n\" has a blank value",
        );
        invalid(ok.clone().with_property("a\u{1}b", "x"), "property name");
        invalid(
            ok.clone().with_property("n", "x\u{2}y"),
            "separator '\\u{2}'",
        );
        invalid(ok.clone().with_tags("a\u{2}"), "tags");
        invalid(ok.clone().with_keys(["k", "b\u{1}"]), "key");
        invalid(
            ok.clone().with_property("INNER_MULTI_DISPATCH", "a/b"),
            "contains '/'",
        );
        let mut delayed = ok.clone();
        delayed.delay_level = Some(-1);
        invalid(delayed.clone(), "delay level -1 is negative");
        delayed.delay_level = Some(0);
        validate(&delayed, 4).unwrap();
        delayed.delay_level = Some(40);
        validate(&delayed, 4).unwrap();
        delayed.deliver_time_ms = Some(1);
        invalid(delayed, "not both");
        let mut timed = ok.clone();
        timed.deliver_time_ms = Some(-5);
        invalid(timed, "delivery time -5 ms is negative");
        let huge = ok.clone().with_property("big", "v".repeat(32_700));
        invalid(huge, "more than 32767");
        validate(&ok.clone().with_property("big", "v".repeat(32_000)), 4).unwrap();
    }
}
