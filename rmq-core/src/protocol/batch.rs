//! The body of a SEND_BATCH_MESSAGE request (`MessageDecoder.encodeMessages`): one record per
//! message, each with its own flag, body and properties (its own UNIQ_KEY among them).

use bytes::{BufMut, BytesMut};

use crate::error::{Error, Result};
use crate::protocol::message::Message;
use crate::protocol::validate::MAX_PROPERTIES_LEN;

/// Fixed bytes of a record besides body and properties: totalSize, magic, bodyCRC, flag,
/// bodyLen (i32 each) and propertiesLen (i16).
pub const RECORD_OVERHEAD: usize = 4 * 5 + 2;

/// Appends one record: totalSize · magic 0 · bodyCRC 0 · flag · bodyLen · body · propLen i16 ·
/// properties.
pub fn encode_record(dst: &mut BytesMut, flag: i32, body: &[u8], properties: &str) -> Result<()> {
    if properties.len() > MAX_PROPERTIES_LEN {
        return Err(Error::invalid_message(format!(
            "batch message properties take {} bytes, more than {MAX_PROPERTIES_LEN}",
            properties.len()
        )));
    }
    let total = RECORD_OVERHEAD + body.len() + properties.len();
    let total = i32::try_from(total)
        .map_err(|_| Error::invalid_message("a batch record is larger than 2 GiB"))?;
    dst.reserve(total as usize);
    dst.put_i32(total);
    dst.put_i32(0);
    dst.put_i32(0);
    dst.put_i32(flag);
    dst.put_i32(body.len() as i32);
    dst.put_slice(body);
    dst.put_i16(properties.len() as i16);
    dst.put_slice(properties.as_bytes());
    Ok(())
}

/// Java's `MessageBatch.generateFromList` rules: at least one message, one topic, one
/// waitStoreMsgOK, no delay, no retry topic. (Timer messages are refused as well: the broker
/// schedules a batch as a whole, never its inner messages.)
pub fn check_batch(msgs: &[Message]) -> Result<()> {
    let Some(first) = msgs.first() else {
        return Err(Error::invalid_argument(
            "a batch needs at least one message",
        ));
    };
    for (i, msg) in msgs.iter().enumerate() {
        if msg.topic != first.topic {
            return Err(Error::invalid_message(format!(
                "batch message {i} has topic '{}', the batch topic '{}'; a batch goes to one topic",
                msg.topic, first.topic
            )));
        }
        if msg.wait_store_msg_ok != first.wait_store_msg_ok {
            return Err(Error::invalid_message(format!(
                "batch message {i} differs from the first in wait_store_msg_ok"
            )));
        }
        if msg.delay_level.is_some_and(|level| level > 0) || msg.deliver_time_ms.is_some() {
            return Err(Error::invalid_message(format!(
                "batch message {i} is delayed; delayed and timer messages cannot be batched"
            )));
        }
    }
    if first.topic.starts_with("%RETRY%") {
        return Err(Error::invalid_message(
            "a batch cannot be sent to a retry topic",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;

    #[test]
    fn record_layout_matches_java() {
        let mut dst = BytesMut::new();
        encode_record(&mut dst, 7, b"abc", "K\u{1}V\u{2}").unwrap();
        let total: i32 = 22 + 3 + 4;
        let mut expected = Vec::new();
        expected.extend_from_slice(&total.to_be_bytes());
        expected.extend_from_slice(&0i32.to_be_bytes());
        expected.extend_from_slice(&0i32.to_be_bytes());
        expected.extend_from_slice(&7i32.to_be_bytes());
        expected.extend_from_slice(&3i32.to_be_bytes());
        expected.extend_from_slice(b"abc");
        expected.extend_from_slice(&4i16.to_be_bytes());
        expected.extend_from_slice(b"K\x01V\x02");
        assert_eq!(&dst[..], &expected[..]);
    }

    #[test]
    fn batch_rules() {
        let m = |topic: &str| Message::new(topic, "x");
        check_batch(&[m("T"), m("T")]).unwrap();
        assert_eq!(
            check_batch(&[]).unwrap_err().kind(),
            ErrorKind::InvalidArgument
        );
        let mixed = check_batch(&[m("T"), m("U")]).unwrap_err();
        assert!(mixed.message().contains("one topic"), "{mixed}");
        let mut nowait = m("T");
        nowait.wait_store_msg_ok = false;
        assert!(check_batch(&[m("T"), nowait]).is_err());
        let mut delayed = m("T");
        delayed.delay_level = Some(2);
        assert!(check_batch(&[m("T"), delayed]).is_err());
        let mut timed = m("T");
        timed.deliver_time_ms = Some(1);
        assert!(check_batch(&[timed]).is_err());
        assert!(check_batch(&[m("%RETRY%G")]).is_err());
    }
}
