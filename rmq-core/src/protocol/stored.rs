//! Messages as the broker hands them to a client: the store-format record
//! (`MessageDecoder.decode`, in transaction checks) and the header of a pushed reply
//! (PUSH_REPLY_MESSAGE_TO_CLIENT). Bodies come out decompressed.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use bytes::{Buf, Bytes};

use crate::error::{Error, Result};
use crate::protocol::compression::CompressionType;
use crate::protocol::message::{self, Message, property, sys_flag};
use crate::protocol::namespace;

/// Properties of transaction messages that are not the user's (`__transactionId__` is put by
/// the Java client, TRANSACTION_CHECK_TIMES by the broker) and outside the system name set.
const BROKER_ADDED: &[&str] = &["__transactionId__", "TRANSACTION_CHECK_TIMES"];

/// A message as the broker stores it (`MessageDecoder.decode`), the parts a producer uses.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredMessage {
    pub topic: String,
    pub queue_id: i32,
    pub flag: i32,
    pub queue_offset: i64,
    pub commit_log_offset: i64,
    pub sys_flag: i32,
    pub born_timestamp: i64,
    pub born_host: SocketAddr,
    pub store_timestamp: i64,
    pub store_host: SocketAddr,
    /// Decompressed when the sysFlag says compressed.
    pub body: Bytes,
    pub properties: Vec<(String, String)>,
}

const MAGIC_V1: i32 = 0xDAA320A7_u32 as i32;
const MAGIC_V2: i32 = 0xDAA320AB_u32 as i32;
const BORNHOST_V6: i32 = 0x10;
const STOREHOST_V6: i32 = 0x20;

impl StoredMessage {
    /// Decodes one store-format record.
    pub fn decode(mut buf: &[u8]) -> Result<StoredMessage> {
        let short = || Error::protocol("stored message record is truncated");
        let need = |buf: &[u8], n: usize| {
            if buf.remaining() < n {
                Err(short())
            } else {
                Ok(())
            }
        };
        need(buf, 4 * 5 + 8 * 2 + 4 + 8)?;
        let _total = buf.get_i32();
        let magic = buf.get_i32();
        if magic != MAGIC_V1 && magic != MAGIC_V2 {
            return Err(Error::protocol(format!(
                "stored message record has magic {magic:#x}"
            )));
        }
        let _body_crc = buf.get_i32();
        let queue_id = buf.get_i32();
        let flag = buf.get_i32();
        let queue_offset = buf.get_i64();
        let commit_log_offset = buf.get_i64();
        let sys_flag = buf.get_i32();
        let born_timestamp = buf.get_i64();
        let host = |buf: &mut &[u8], v6: bool| -> Result<SocketAddr> {
            let ip = if v6 {
                need(buf, 20)?;
                let mut octets = [0u8; 16];
                buf.copy_to_slice(&mut octets);
                IpAddr::from(octets)
            } else {
                need(buf, 8)?;
                let mut octets = [0u8; 4];
                buf.copy_to_slice(&mut octets);
                IpAddr::from(octets)
            };
            Ok(SocketAddr::new(ip, buf.get_i32() as u16))
        };
        let born_host = host(&mut buf, sys_flag & BORNHOST_V6 != 0)?;
        need(buf, 8)?;
        let store_timestamp = buf.get_i64();
        let store_host = host(&mut buf, sys_flag & STOREHOST_V6 != 0)?;
        need(buf, 4 + 8 + 4)?;
        let _reconsume_times = buf.get_i32();
        let _prepared_transaction_offset = buf.get_i64();
        let body_len = usize::try_from(buf.get_i32()).map_err(|_| short())?;
        need(buf, body_len)?;
        let raw_body = Bytes::copy_from_slice(&buf[..body_len]);
        buf.advance(body_len);
        let topic_len = if magic == MAGIC_V2 {
            need(buf, 2)?;
            buf.get_i16() as u16 as usize
        } else {
            need(buf, 1)?;
            buf.get_u8() as usize
        };
        need(buf, topic_len)?;
        let topic = String::from_utf8(buf[..topic_len].to_vec())
            .map_err(|_| Error::protocol("stored message topic is not UTF-8"))?;
        buf.advance(topic_len);
        need(buf, 2)?;
        let properties_len = buf.get_i16() as u16 as usize;
        need(buf, properties_len)?;
        let properties = std::str::from_utf8(&buf[..properties_len])
            .map_err(|_| Error::protocol("stored message properties are not UTF-8"))?;
        let properties = message::decode_properties(properties);
        let body = if sys_flag & sys_flag::COMPRESSED != 0 {
            let kind = CompressionType::of_sys_flag(sys_flag);
            Bytes::from(kind.decompress(&raw_body).ok_or_else(|| {
                Error::protocol(format!(
                    "stored message body does not decompress as {}",
                    kind.name()
                ))
            })?)
        } else {
            raw_body
        };
        Ok(StoredMessage {
            topic,
            queue_id,
            flag,
            queue_offset,
            commit_log_offset,
            sys_flag,
            born_timestamp,
            born_host,
            store_timestamp,
            store_host,
            body,
            properties,
        })
    }

    /// A reply the broker pushed (PUSH_REPLY_MESSAGE_TO_CLIENT): `ReplyMessageRequestHeader`
    /// fields and the (maybe compressed) body (`ClientRemotingProcessor.receiveReplyMessage`).
    pub fn from_reply_push(
        fields: &BTreeMap<String, String>,
        body: &[u8],
    ) -> Result<StoredMessage> {
        let text = |name: &str| fields.get(name).map(String::as_str).unwrap_or_default();
        let number = |name: &str| -> Result<i64> {
            let value = text(name);
            if value.is_empty() {
                return Ok(0);
            }
            value.trim().parse().map_err(|_| {
                Error::protocol(format!(
                    "reply push field {name} is not a number: {value:?}"
                ))
            })
        };
        let topic = text("topic");
        if topic.is_empty() {
            return Err(Error::protocol("reply push lacks the topic header field"));
        }
        let sys_flag = number("sysFlag")? as i32;
        // Hosts come as Java renders them: "/127.0.0.1:10911" or "127.0.0.1:10911".
        let host = |name: &str| {
            text(name)
                .trim_start_matches('/')
                .parse()
                .unwrap_or(SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0))
        };
        Ok(StoredMessage {
            topic: topic.to_string(),
            queue_id: number("queueId")? as i32,
            flag: number("flag")? as i32,
            queue_offset: 0,
            commit_log_offset: 0,
            sys_flag,
            born_timestamp: number("bornTimestamp")?,
            born_host: host("bornHost"),
            store_timestamp: number("storeTimestamp")?,
            store_host: host("storeHost"),
            body: decompressed(Bytes::copy_from_slice(body), sys_flag)?,
            properties: message::decode_properties(text("properties")),
        })
    }

    /// The message as its sender built it: topic without `namespace`, body, flag, tags, keys,
    /// wait flag and user properties (system ones, and those the broker adds, left out).
    pub fn to_message(&self, namespace: Option<&str>) -> Message {
        let mut msg = Message::new(namespace::unwrap(namespace, &self.topic), self.body.clone());
        msg.flag = self.flag;
        for (name, value) in &self.properties {
            match name.as_str() {
                property::TAGS => msg.tags = Some(value.clone()),
                property::KEYS => msg.keys = value.split(' ').map(str::to_string).collect(),
                property::WAIT => msg.wait_store_msg_ok = value != "false",
                name if !property::SYSTEM_NAMES.contains(&name)
                    && !BROKER_ADDED.contains(&name) =>
                {
                    msg.properties.push((name.to_string(), value.clone()));
                }
                _ => {}
            }
        }
        msg
    }

    /// The last value of property `name` (Java keeps the last of repeated names).
    pub fn property(&self, name: &str) -> Option<&str> {
        self.properties
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// `body` as sent, when `sys_flag` says it is compressed.
fn decompressed(body: Bytes, sys_flag: i32) -> Result<Bytes> {
    if sys_flag & sys_flag::COMPRESSED == 0 {
        return Ok(body);
    }
    let kind = CompressionType::of_sys_flag(sys_flag);
    kind.decompress(&body).map(Bytes::from).ok_or_else(|| {
        Error::protocol(format!(
            "message body does not decompress as {}",
            kind.name()
        ))
    })
}

#[cfg(test)]
mod tests {
    use bytes::BufMut;

    use super::*;

    fn record(magic: i32, body: &[u8], sys_flag: i32) -> Vec<u8> {
        let mut b = Vec::new();
        b.put_i32(0);
        b.put_i32(magic);
        b.put_i32(0);
        b.put_i32(3); // queue id
        b.put_i32(7); // flag
        b.put_i64(42); // queue offset
        b.put_i64(4096); // commit log offset
        b.put_i32(sys_flag);
        b.put_i64(1_700_000_000_000);
        b.put_slice(&[127, 0, 0, 1]);
        b.put_i32(5555);
        b.put_i64(1_700_000_000_500);
        b.put_slice(&[10, 0, 0, 2]);
        b.put_i32(10911);
        b.put_i32(0);
        b.put_i64(0);
        b.put_i32(body.len() as i32);
        b.put_slice(body);
        let topic = b"TopicT";
        if magic == MAGIC_V2 {
            b.put_i16(topic.len() as i16);
        } else {
            b.put_u8(topic.len() as u8);
        }
        b.put_slice(topic);
        let props = "PGROUP\u{1}G\u{2}UNIQ_KEY\u{1}ID1\u{2}";
        b.put_i16(props.len() as i16);
        b.put_slice(props.as_bytes());
        b
    }

    #[test]
    fn decodes_v1_and_v2_records() {
        for magic in [MAGIC_V1, MAGIC_V2] {
            let m = StoredMessage::decode(&record(magic, b"hello", 4)).unwrap();
            assert_eq!(m.topic, "TopicT");
            assert_eq!((m.queue_id, m.flag, m.queue_offset), (3, 7, 42));
            assert_eq!(m.commit_log_offset, 4096);
            assert_eq!(m.store_host, "10.0.0.2:10911".parse().unwrap());
            assert_eq!(&m.body[..], b"hello");
            assert_eq!(m.property("PGROUP"), Some("G"));
            assert_eq!(m.property("UNIQ_KEY"), Some("ID1"));
        }
    }

    #[test]
    fn decompresses_and_refuses_garbage() {
        let packed = CompressionType::Zstd
            .compress(b"hello hello hello", 3)
            .unwrap();
        let m = StoredMessage::decode(&record(MAGIC_V2, &packed, 0x201)).unwrap();
        assert_eq!(&m.body[..], b"hello hello hello");
        let full = record(MAGIC_V1, b"x", 0);
        for cut in [0, 10, 40, full.len() - 1] {
            assert!(StoredMessage::decode(&full[..cut]).is_err(), "cut at {cut}");
        }
        let mut bad = full.clone();
        bad[4] = 0;
        assert!(StoredMessage::decode(&bad).is_err());
    }

    #[test]
    fn reply_push_header_decodes() {
        let fields: BTreeMap<String, String> = [
            ("topic", "DefaultCluster_REPLY_TOPIC"),
            ("sysFlag", "0"),
            ("bornTimestamp", "5"),
            ("storeTimestamp", "6"),
            ("bornHost", "/127.0.0.1:5555"),
            ("storeHost", "127.0.0.1:10911"),
            (
                "properties",
                "CORRELATION_ID\u{1}C1\u{2}MSG_TYPE\u{1}reply\u{2}",
            ),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let m = StoredMessage::from_reply_push(&fields, b"pong").unwrap();
        assert_eq!(m.topic, "DefaultCluster_REPLY_TOPIC");
        assert_eq!(m.property("CORRELATION_ID"), Some("C1"));
        assert_eq!(m.born_host, "127.0.0.1:5555".parse().unwrap());
        assert_eq!(&m.body[..], b"pong");
        assert!(StoredMessage::from_reply_push(&BTreeMap::new(), b"x").is_err());
    }
}
