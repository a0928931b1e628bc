//! The request and response headers a producer uses, as ext-field maps.

use std::collections::BTreeMap;

use crate::error::{Error, Result};
use crate::protocol::codes::request;
use crate::protocol::command::RemotingCommand;

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
}

impl SendMessageRequestHeader {
    pub fn to_ext_fields(&self) -> BTreeMap<String, String> {
        let mut fields = BTreeMap::new();
        let mut put = |key: &str, value: String| {
            fields.insert(key.to_owned(), value);
        };
        put("a", self.producer_group.clone());
        put("b", self.topic.clone());
        put("c", self.default_topic.clone());
        put("d", self.default_topic_queue_nums.to_string());
        put("e", self.queue_id.to_string());
        put("f", self.sys_flag.to_string());
        put("g", self.born_timestamp.to_string());
        put("h", self.flag.to_string());
        put("i", self.properties.clone());
        put("j", self.reconsume_times.to_string());
        put("k", self.unit_mode.to_string());
        if let Some(max) = self.max_reconsume_times {
            put("l", max.to_string());
        }
        put("m", self.batch.to_string());
        if let Some(broker_name) = &self.broker_name {
            put("n", broker_name.clone());
        }
        fields
    }

    /// A SEND_MESSAGE_V2 request (SEND_BATCH_MESSAGE when `batch`).
    pub fn to_command(&self, body: bytes::Bytes) -> RemotingCommand {
        let code = if self.batch {
            request::SEND_BATCH_MESSAGE
        } else {
            request::SEND_MESSAGE_V2
        };
        RemotingCommand::request(code, self.to_ext_fields()).with_body(body)
    }
}

impl SendMessageResponseHeader {
    pub fn from_ext_fields(fields: &BTreeMap<String, String>) -> Result<Self> {
        let required = |name: &str| {
            fields.get(name).ok_or_else(|| {
                Error::protocol(format!("send response lacks the {name} header field"))
            })
        };
        let optional = |name: &str| fields.get(name).cloned();
        Ok(SendMessageResponseHeader {
            msg_id: required("msgId")?.clone(),
            queue_id: parse_number(required("queueId")?, "queueId")?,
            queue_offset: parse_number(required("queueOffset")?, "queueOffset")?,
            transaction_id: optional("transactionId"),
            batch_uniq_id: optional("batchUniqId"),
            region_id: optional("MSG_REGION"),
            trace_on: optional("TRACE_ON"),
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

    #[test]
    fn send_header_uses_short_keys() {
        assert_eq!(
            header().to_ext_fields(),
            fields(&[
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
            ])
        );
        let mut retry = header();
        retry.max_reconsume_times = Some(16);
        retry.broker_name = None;
        let ext = retry.to_ext_fields();
        assert_eq!(ext["l"], "16");
        assert!(!ext.contains_key("n"));
    }

    #[test]
    fn send_header_command_codes_and_bytes() {
        let cmd = header().to_command(Bytes::from_static(b"hello"));
        assert_eq!(cmd.code, 310);
        assert_eq!(cmd.language, LanguageCode::Rust);
        assert_eq!(cmd.version, CLIENT_VERSION);
        assert_eq!(&cmd.body[..], b"hello");
        let mut dst = BytesMut::new();
        cmd.encode(SerializeType::Json, &mut dst);
        let header_json = br#"{"code":310,"extFields":{"a":"PG","b":"TopicTest","c":"TBW102","d":"4","e":"3","f":"0","g":"1700000000123","h":"0","i":"WAIT\u0001true\u0002","j":"0","k":"false","m":"false","n":"broker-a"},"flag":0,"language":"RUST","opaque":0,"serializeTypeCurrentRPC":"JSON","version":479}"#;
        assert_eq!(&dst[8..8 + header_json.len()], &header_json[..]);
        assert_eq!(&dst[8 + header_json.len()..], b"hello");

        let mut batch = header();
        batch.batch = true;
        let cmd = batch.to_command(Bytes::new());
        assert_eq!(cmd.code, 320);
        assert_eq!(cmd.ext_fields["m"], "true");
    }

    #[test]
    fn send_response_header_from_java_fields() {
        let header = SendMessageResponseHeader::from_ext_fields(&fields(&[
            ("msgId", "7F00000100002A9F0000000000000000"),
            ("queueId", "1"),
            ("queueOffset", "42"),
            ("transactionId", "TX"),
            ("MSG_REGION", "DefaultRegion"),
            ("TRACE_ON", "true"),
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
            }
        );
    }

    #[test]
    fn send_response_header_missing_or_bad_fields() {
        let full = fields(&[("msgId", "X"), ("queueId", "1"), ("queueOffset", "2")]);
        assert!(SendMessageResponseHeader::from_ext_fields(&full).is_ok());
        for missing in ["msgId", "queueId", "queueOffset"] {
            let mut partial = full.clone();
            partial.remove(missing);
            let err = SendMessageResponseHeader::from_ext_fields(&partial).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::Protocol);
            assert!(err.message().contains(missing), "{err}");
        }
        let mut bad = full.clone();
        bad.insert("queueOffset".into(), "many".into());
        let err = SendMessageResponseHeader::from_ext_fields(&bad).unwrap_err();
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
