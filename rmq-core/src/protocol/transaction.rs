//! Transaction messages on the wire: END_TRANSACTION (client → broker), CHECK_TRANSACTION_STATE
//! (broker → client) and the store-format message record the check carries.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};

use bytes::{Buf, Bytes};

use crate::error::{Error, Result};
use crate::protocol::codes::request;
use crate::protocol::command::RemotingCommand;
use crate::protocol::compression::CompressionType;
use crate::protocol::message::{self, sys_flag};

/// `commitOrRollback` values of END_TRANSACTION (`MessageSysFlag.TRANSACTION_*_TYPE`).
pub const TRANSACTION_NOT_TYPE: i32 = 0;
pub const TRANSACTION_COMMIT_TYPE: i32 = 0x8;
pub const TRANSACTION_ROLLBACK_TYPE: i32 = 0xC;

/// `EndTransactionRequestHeader`.
#[derive(Debug, Clone, PartialEq)]
pub struct EndTransactionRequestHeader {
    pub topic: String,
    pub producer_group: String,
    /// The half message's queue offset.
    pub tran_state_table_offset: i64,
    pub commit_log_offset: i64,
    pub commit_or_rollback: i32,
    pub from_transaction_check: bool,
    /// The half message's UNIQ_KEY.
    pub msg_id: String,
    pub transaction_id: Option<String>,
    pub broker_name: String,
}

impl EndTransactionRequestHeader {
    /// The oneway END_TRANSACTION request; `remark` carries why the local transaction failed.
    pub fn to_command(&self, remark: Option<String>) -> RemotingCommand {
        let mut fields = BTreeMap::new();
        let mut put = |key: &str, value: String| {
            fields.insert(key.to_owned(), value);
        };
        put("topic", self.topic.clone());
        put("producerGroup", self.producer_group.clone());
        put(
            "tranStateTableOffset",
            self.tran_state_table_offset.to_string(),
        );
        put("commitLogOffset", self.commit_log_offset.to_string());
        put("commitOrRollback", self.commit_or_rollback.to_string());
        put(
            "fromTransactionCheck",
            self.from_transaction_check.to_string(),
        );
        put("msgId", self.msg_id.clone());
        if let Some(id) = &self.transaction_id {
            put("transactionId", id.clone());
        }
        put("bname", self.broker_name.clone());
        let mut cmd = RemotingCommand::request(request::END_TRANSACTION, fields);
        cmd.remark = remark;
        cmd
    }
}

/// `CheckTransactionStateRequestHeader`.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckTransactionStateRequestHeader {
    pub tran_state_table_offset: i64,
    pub commit_log_offset: i64,
    pub msg_id: Option<String>,
    pub transaction_id: Option<String>,
    pub offset_msg_id: Option<String>,
    pub broker_name: Option<String>,
}

impl CheckTransactionStateRequestHeader {
    pub fn from_ext_fields(fields: &BTreeMap<String, String>) -> Result<Self> {
        let number = |name: &str| -> Result<i64> {
            let text = fields.get(name).ok_or_else(|| {
                Error::protocol(format!("transaction check lacks the {name} header field"))
            })?;
            text.trim().parse().map_err(|_| {
                Error::protocol(format!(
                    "transaction check field {name} is not a number: {text:?}"
                ))
            })
        };
        let optional = |name: &str| fields.get(name).filter(|v| !v.is_empty()).cloned();
        Ok(CheckTransactionStateRequestHeader {
            tran_state_table_offset: number("tranStateTableOffset")?,
            commit_log_offset: number("commitLogOffset")?,
            msg_id: optional("msgId"),
            transaction_id: optional("transactionId"),
            offset_msg_id: optional("offsetMsgId"),
            broker_name: optional("bname"),
        })
    }
}

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

    /// The last value of property `name` (Java keeps the last of repeated names).
    pub fn property(&self, name: &str) -> Option<&str> {
        self.properties
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
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
    fn end_transaction_fields() {
        let header = EndTransactionRequestHeader {
            topic: "T".into(),
            producer_group: "G".into(),
            tran_state_table_offset: 5,
            commit_log_offset: 99,
            commit_or_rollback: TRANSACTION_COMMIT_TYPE,
            from_transaction_check: false,
            msg_id: "ID".into(),
            transaction_id: Some("TX".into()),
            broker_name: "broker-a".into(),
        };
        let cmd = header.to_command(Some("why".into()));
        assert_eq!(cmd.code, 37);
        assert_eq!(cmd.remark.as_deref(), Some("why"));
        assert_eq!(cmd.ext_fields["commitOrRollback"], "8");
        assert_eq!(cmd.ext_fields["fromTransactionCheck"], "false");
        assert_eq!(cmd.ext_fields["tranStateTableOffset"], "5");
        assert_eq!(cmd.ext_fields["bname"], "broker-a");
    }

    #[test]
    fn check_header_needs_its_offsets() {
        let fields: BTreeMap<String, String> = [
            ("tranStateTableOffset", "3"),
            ("commitLogOffset", "77"),
            ("msgId", "ID"),
            ("bname", "broker-b"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let h = CheckTransactionStateRequestHeader::from_ext_fields(&fields).unwrap();
        assert_eq!((h.tran_state_table_offset, h.commit_log_offset), (3, 77));
        assert_eq!(h.broker_name.as_deref(), Some("broker-b"));
        let mut partial = fields.clone();
        partial.remove("commitLogOffset");
        assert!(CheckTransactionStateRequestHeader::from_ext_fields(&partial).is_err());
    }
}
