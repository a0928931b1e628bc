//! The request and response headers a producer uses: the send header writes its ext fields
//! into the frame itself, the others are ext-field maps.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::error::{Error, Result};
use crate::protocol::codes::request;
use crate::protocol::command::{FieldValue, HeaderFields, RemotingCommand};

/// `SendMessageRequestHeaderV2`: single-letter ext fields `a`..`n`.
#[derive(Debug, Clone, PartialEq)]
pub struct SendMessageRequestHeader {
    pub producer_group: String,
    pub topic: String,
    pub default_topic: String,
    pub default_topic_queue_nums: i32,
    pub queue_id: i32,
    pub sys_flag: i32,
    pub born_timestamp: i64,
    pub flag: i32,
    pub properties: String,
    pub reconsume_times: i32,
    pub unit_mode: bool,
    pub max_reconsume_times: Option<i32>,
    pub batch: bool,
    pub broker_name: Option<String>,
}

/// `SendMessageResponseHeader` plus the ext fields the broker adds (`MSG_REGION`, `TRACE_ON`).
#[derive(Debug, Clone, PartialEq)]
pub struct SendMessageResponseHeader {
    /// The offset message id (store host + commit log offset).
    pub msg_id: String,
    pub queue_id: i32,
    pub queue_offset: i64,
    pub transaction_id: Option<String>,
    pub batch_uniq_id: Option<String>,
    pub region_id: Option<String>,
    pub trace_on: Option<String>,
    /// Set by 5.3.2+ brokers on a message they made a timer message.
    pub recall_handle: Option<String>,
}

impl HeaderFields for SendMessageRequestHeader {
    fn for_each_field(&self, field: &mut dyn FnMut(&str, FieldValue<'_>)) {
        use FieldValue::{Bool, Int, Text};
        field("a", Text(&self.producer_group));
        field("b", Text(&self.topic));
        field("c", Text(&self.default_topic));
        field("d", Int(self.default_topic_queue_nums.into()));
        field("e", Int(self.queue_id.into()));
        field("f", Int(self.sys_flag.into()));
        field("g", Int(self.born_timestamp));
        field("h", Int(self.flag.into()));
        field("i", Text(&self.properties));
        field("j", Int(self.reconsume_times.into()));
        field("k", Bool(self.unit_mode));
        if let Some(max) = self.max_reconsume_times {
            field("l", Int(max.into()));
        }
        field("m", Bool(self.batch));
        if let Some(broker_name) = &self.broker_name {
            field("n", Text(broker_name));
        }
    }
}

impl SendMessageRequestHeader {
    /// A SEND_MESSAGE_V2 request (SEND_BATCH_MESSAGE when `batch`), its header written
    /// straight into the frame.
    pub fn into_command(self, body: bytes::Bytes) -> RemotingCommand {
        let code = if self.batch {
            request::SEND_BATCH_MESSAGE
        } else {
            request::SEND_MESSAGE_V2
        };
        RemotingCommand::typed_request(code, Arc::new(self)).with_body(body)
    }
}

impl SendMessageResponseHeader {
    /// Takes the fields out of a send response's ext fields (no copies).
    pub fn from_ext_fields(mut fields: BTreeMap<String, String>) -> Result<Self> {
        let mut required = |name: &str| {
            fields.remove(name).ok_or_else(|| {
                Error::protocol(format!("send response lacks the {name} header field"))
            })
        };
        let msg_id = required("msgId")?;
        let queue_id = parse_number(&required("queueId")?, "queueId")?;
        let queue_offset = parse_number(&required("queueOffset")?, "queueOffset")?;
        Ok(SendMessageResponseHeader {
            msg_id,
            queue_id,
            queue_offset,
            transaction_id: fields.remove("transactionId"),
            batch_uniq_id: fields.remove("batchUniqId"),
            region_id: fields.remove("MSG_REGION"),
            trace_on: fields.remove("TRACE_ON"),
            recall_handle: fields.remove("recallHandle"),
        })
    }
}

fn parse_number<T: std::str::FromStr>(text: &str, name: &str) -> Result<T> {
    text.trim().parse().map_err(|_| {
        Error::protocol(format!(
            "send response field {name} is not a number: {text:?}"
        ))
    })
}

/// GET_ROUTEINFO_BY_TOPIC with `acceptStandardJsonOnly=true`.
pub fn get_route_info_request(topic: &str) -> RemotingCommand {
    let fields = BTreeMap::from([
        ("topic".to_owned(), topic.to_owned()),
        ("acceptStandardJsonOnly".to_owned(), "true".to_owned()),
    ]);
    RemotingCommand::request(request::GET_ROUTEINFO_BY_TOPIC, fields)
}

/// UNREGISTER_CLIENT for one producer group.
pub fn unregister_client_request(client_id: &str, producer_group: &str) -> RemotingCommand {
    let fields = BTreeMap::from([
        ("clientID".to_owned(), client_id.to_owned()),
        ("producerGroup".to_owned(), producer_group.to_owned()),
    ]);
    RemotingCommand::request(request::UNREGISTER_CLIENT, fields)
}

#[cfg(test)]
mod tests {
    use bytes::{Bytes, BytesMut};

    use super::*;
    use crate::ErrorKind;
    use crate::protocol::command::{CLIENT_VERSION, LanguageCode, SerializeType};

    fn header() -> SendMessageRequestHeader {
        SendMessageRequestHeader {
            producer_group: "PG".into(),
            topic: "TopicTest".into(),
            default_topic: "TBW102".into(),
            default_topic_queue_nums: 4,
            queue_id: 3,
            sys_flag: 0,
            born_timestamp: 1_700_000_000_123,
            flag: 0,
            properties: "WAIT\u{1}true\u{2}".into(),
            reconsume_times: 0,
            unit_mode: false,
            max_reconsume_times: None,
            batch: false,
            broker_name: Some("broker-a".into()),
        }
    }

    fn fields(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    /// The send header as the map it used to be built into: the reference encoding.
    fn as_map_command(
        header: &SendMessageRequestHeader,
        pairs: &[(&str, &str)],
    ) -> RemotingCommand {
        let code = if header.batch { 320 } else { 310 };
        RemotingCommand::request(code, fields(pairs)).with_body(Bytes::from_static(b"hello"))
    }

    fn encoded(cmd: &RemotingCommand, serialize: SerializeType) -> BytesMut {
        let mut dst = BytesMut::new();
        cmd.encode(serialize, &mut dst);
        dst
    }

    #[test]
    fn send_header_encodes_as_its_ext_field_map_did() {
        let expected = [
            ("a", "PG"),
            ("b", "TopicTest"),
            ("c", "TBW102"),
            ("d", "4"),
            ("e", "3"),
            ("f", "0"),
            ("g", "1700000000123"),
            ("h", "0"),
            ("i", "WAIT\u{1}true\u{2}"),
            ("j", "0"),
            ("k", "false"),
            ("m", "false"),
            ("n", "broker-a"),
        ];
        let cmd = header().into_command(Bytes::from_static(b"hello"));
        assert_eq!(cmd.code, 310);
        assert_eq!(cmd.language, LanguageCode::Rust);
        assert_eq!(cmd.version, CLIENT_VERSION);
        assert_eq!(*cmd.all_ext_fields(), fields(&expected));
        let reference = as_map_command(&header(), &expected);
        for serialize in [SerializeType::Json, SerializeType::RocketMq] {
            assert_eq!(encoded(&cmd, serialize), encoded(&reference, serialize));
        }
        let json = encoded(&cmd, SerializeType::Json);
        let header_json = br#"{"code":310,"extFields":{"a":"PG","b":"TopicTest","c":"TBW102","d":"4","e":"3","f":"0","g":"1700000000123","h":"0","i":"WAIT\u0001true\u0002","j":"0","k":"false","m":"false","n":"broker-a"},"flag":0,"language":"RUST","opaque":0,"serializeTypeCurrentRPC":"JSON","version":479}"#;
        assert_eq!(&json[8..8 + header_json.len()], &header_json[..]);
        assert_eq!(&json[8 + header_json.len()..], b"hello");
    }

    #[test]
    fn batch_retry_and_odd_values_encode_as_the_map_did() {
        let mut odd = header();
        odd.batch = true;
        odd.max_reconsume_times = Some(16);
        odd.broker_name = None;
        odd.queue_id = -1;
        odd.born_timestamp = i64::MIN;
        odd.unit_mode = true;
        odd.producer_group = "grüppe \"q\" \\ \t\n".into();
        odd.properties = "KEYS\u{1}a b\u{2}x\u{1}\u{7f}é\u{1f}\u{2}".into();
        let min = i64::MIN.to_string();
        let expected = [
            ("a", odd.producer_group.as_str()),
            ("b", "TopicTest"),
            ("c", "TBW102"),
            ("d", "4"),
            ("e", "-1"),
            ("f", "0"),
            ("g", min.as_str()),
            ("h", "0"),
            ("i", odd.properties.as_str()),
            ("j", "0"),
            ("k", "true"),
            ("l", "16"),
            ("m", "true"),
        ];
        let reference = as_map_command(&odd, &expected);
        let cmd = odd.clone().into_command(Bytes::from_static(b"hello"));
        assert_eq!(cmd.code, 320);
        for serialize in [SerializeType::Json, SerializeType::RocketMq] {
            let bytes = encoded(&cmd, serialize);
            assert_eq!(bytes, encoded(&reference, serialize));
            let back = RemotingCommand::decode_frame(&mut bytes.clone(), 1 << 20)
                .unwrap()
                .unwrap();
            assert_eq!(back.ext_fields, fields(&expected));
        }
    }

    #[test]
    fn send_response_header_from_java_fields() {
        let header = SendMessageResponseHeader::from_ext_fields(fields(&[
            ("msgId", "7F00000100002A9F0000000000000000"),
            ("queueId", "1"),
            ("queueOffset", "42"),
            ("transactionId", "TX"),
            ("MSG_REGION", "DefaultRegion"),
            ("TRACE_ON", "true"),
            ("recallHandle", "djEgVCBiIDEgSUQ="),
        ]))
        .unwrap();
        assert_eq!(
            header,
            SendMessageResponseHeader {
                msg_id: "7F00000100002A9F0000000000000000".into(),
                queue_id: 1,
                queue_offset: 42,
                transaction_id: Some("TX".into()),
                batch_uniq_id: None,
                region_id: Some("DefaultRegion".into()),
                trace_on: Some("true".into()),
                recall_handle: Some("djEgVCBiIDEgSUQ=".into()),
            }
        );
    }

    #[test]
    fn send_response_header_missing_or_bad_fields() {
        let full = fields(&[("msgId", "X"), ("queueId", "1"), ("queueOffset", "2")]);
        assert!(SendMessageResponseHeader::from_ext_fields(full.clone()).is_ok());
        for missing in ["msgId", "queueId", "queueOffset"] {
            let mut partial = full.clone();
            partial.remove(missing);
            let err = SendMessageResponseHeader::from_ext_fields(partial).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::Protocol);
            assert!(err.message().contains(missing), "{err}");
        }
        let mut bad = full.clone();
        bad.insert("queueOffset".into(), "many".into());
        let err = SendMessageResponseHeader::from_ext_fields(bad).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Protocol);
        assert!(err.message().contains("queueOffset"), "{err}");
    }

    #[test]
    fn route_and_unregister_requests() {
        let route = get_route_info_request("TopicTest");
        assert_eq!(route.code, 105);
        assert_eq!(
            route.ext_fields,
            fields(&[("acceptStandardJsonOnly", "true"), ("topic", "TopicTest")])
        );
        let unregister = unregister_client_request("127.0.0.1@1", "PG");
        assert_eq!(unregister.code, 35);
        assert_eq!(
            unregister.ext_fields,
            fields(&[("clientID", "127.0.0.1@1"), ("producerGroup", "PG")])
        );
    }
}
