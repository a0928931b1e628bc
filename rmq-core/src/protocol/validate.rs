//! The checks a message, topic or group passes before any network traffic, as Java's
//! `Validators` and `TopicValidator`.

use crate::error::{Error, ErrorKind, Result};
use crate::protocol::message::{
    Message, NAME_VALUE_SEPARATOR, PROPERTY_SEPARATOR, message_properties, property,
};

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
    use super::*;

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
