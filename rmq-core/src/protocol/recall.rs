//! Recall of timer messages (RocketMQ 5.3.2+): the handle a send result carries, and the
//! RECALL_MESSAGE request that turns it into a delete marker before the message is due.

use std::collections::BTreeMap;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE;

use crate::error::{Error, Result};
use crate::protocol::codes::{request, response};
use crate::protocol::command::RemotingCommand;

/// The only handle version brokers issue.
const HANDLE_VERSION: &str = "v1";

/// A decoded recall handle: URL-safe Base64 of `v1 <topic> <brokerName> <timestamp> <msgId>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecallHandle {
    /// The topic as the broker stored it (inside its namespace).
    pub topic: String,
    /// The broker that holds the timer message: the recall goes to its master.
    pub broker_name: String,
    /// The broker's due time + 1, kept as text: only the broker interprets it.
    pub timestamp: String,
    /// The message's UNIQ_KEY.
    pub message_id: String,
}

impl RecallHandle {
    /// Decodes `handle` as the broker will, so that a handle it would refuse fails here,
    /// before any network traffic, with `InvalidArgument` naming the cause.
    pub fn decode(handle: &str) -> Result<Self> {
        let invalid =
            |cause: &str| Error::invalid_argument(format!("recall handle is invalid: {cause}"));
        if handle.is_empty() {
            return Err(invalid("it is empty"));
        }
        let bytes = URL_SAFE
            .decode(handle)
            .map_err(|e| invalid(&format!("not URL-safe Base64 ({e})")))?;
        let text = String::from_utf8(bytes).map_err(|_| invalid("not UTF-8 inside"))?;
        let items: Vec<&str> = text.split(' ').collect();
        if items[0] != HANDLE_VERSION {
            return Err(invalid("not a version 1 handle"));
        }
        let [_, topic, broker_name, timestamp, message_id, ..] = items[..] else {
            return Err(invalid("fewer than 5 items"));
        };
        Ok(RecallHandle {
            topic: topic.to_string(),
            broker_name: broker_name.to_string(),
            timestamp: timestamp.to_string(),
            message_id: message_id.to_string(),
        })
    }
}

/// `RecallMessageRequestHeader`.
#[derive(Debug, Clone, PartialEq)]
pub struct RecallMessageRequestHeader {
    pub producer_group: String,
    /// The topic inside the producer's namespace.
    pub topic: String,
    pub recall_handle: String,
    /// `bname`: the handle's broker.
    pub broker_name: String,
}

impl RecallMessageRequestHeader {
    pub fn to_command(&self) -> RemotingCommand {
        let fields = BTreeMap::from([
            ("producerGroup".to_owned(), self.producer_group.clone()),
            ("topic".to_owned(), self.topic.clone()),
            ("recallHandle".to_owned(), self.recall_handle.clone()),
            ("bname".to_owned(), self.broker_name.clone()),
        ]);
        RemotingCommand::request(request::RECALL_MESSAGE, fields)
    }
}

/// The recalled message's id from a RECALL_MESSAGE response of the broker at `addr`; any other
/// answer is a `Broker` error with its code and remark.
pub fn recalled_msg_id(response: RemotingCommand, addr: &str) -> Result<String> {
    match response.code {
        response::SUCCESS => {
            let mut fields = response.ext_fields;
            fields.remove("msgId").ok_or_else(|| {
                Error::protocol("recall response lacks the msgId header field").with_addr(addr)
            })
        }
        // Brokers before 5.3.2 know no RECALL_MESSAGE.
        response::REQUEST_CODE_NOT_SUPPORTED => {
            Err(Error::broker(response.code, response.remark, addr)
                .context("the broker does not support recall (RocketMQ 5.3.2 or later needed)"))
        }
        code => Err(Error::broker(code, response.remark, addr).context("recall failed")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;

    /// The handle the broker would build (its text joined by spaces, URL-safe Base64).
    fn handle(text: &str) -> String {
        URL_SAFE.encode(text)
    }

    #[test]
    fn decodes_a_broker_handle() {
        // Computed with java.util.Base64.getUrlEncoder over the same text.
        let java = "djEgVG9waWNUZXN0IGJyb2tlci1hIDE3MzU2OTMyMDAwMDEgN0YwMDAwMDEwNEQyNkQwNkQ2OUMwQTRDQjJGMDAwMDE=";
        let decoded = RecallHandle::decode(java).unwrap();
        assert_eq!(
            decoded,
            RecallHandle {
                topic: "TopicTest".into(),
                broker_name: "broker-a".into(),
                timestamp: "1735693200001".into(),
                message_id: "7F00000104D26D06D69C0A4CB2F00001".into(),
            }
        );
        let with_extra_items = handle("v1 ns%T broker-b 1 ID more");
        let decoded = RecallHandle::decode(&with_extra_items).unwrap();
        assert_eq!(
            (decoded.topic.as_str(), decoded.broker_name.as_str()),
            ("ns%T", "broker-b")
        );
    }

    #[test]
    fn url_safe_alphabet_only() {
        // '?' and '>' encode to '_' and '-' in the URL-safe alphabet, '/' and '+' in the standard one.
        let text = "v1 T b 1 ??>>";
        let url_safe = handle(text);
        assert!(
            url_safe.contains('_') || url_safe.contains('-'),
            "{url_safe}"
        );
        assert!(RecallHandle::decode(&url_safe).is_ok());
        let standard = base64::engine::general_purpose::STANDARD.encode(text);
        assert!(RecallHandle::decode(&standard).is_err());
    }

    #[test]
    fn garbage_is_an_invalid_argument_naming_the_cause() {
        let cases = [
            ("", "empty"),
            ("not base64!", "Base64"),
            (&URL_SAFE.encode([0xff, 0xfe, 0x20]), "UTF-8"),
            (&handle("v2 T broker-a 1 ID"), "version 1"),
            (&handle("hello"), "version 1"),
            (&handle("v1 T broker-a 1"), "5 items"),
        ];
        for (input, cause) in cases {
            let err = RecallHandle::decode(input).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::InvalidArgument, "{input:?}");
            assert!(err.message().contains("recall handle is invalid"), "{err}");
            assert!(err.message().contains(cause), "{input:?}: {err}");
        }
    }

    #[test]
    fn request_fields() {
        let header = RecallMessageRequestHeader {
            producer_group: "PG".into(),
            topic: "ns%T".into(),
            recall_handle: "H".into(),
            broker_name: "broker-a".into(),
        };
        let cmd = header.to_command();
        assert_eq!(cmd.code, 370);
        let fields: Vec<(&str, &str)> = cmd
            .ext_fields
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        assert_eq!(
            fields,
            [
                ("bname", "broker-a"),
                ("producerGroup", "PG"),
                ("recallHandle", "H"),
                ("topic", "ns%T"),
            ]
        );
    }

    fn answer(code: i32, remark: Option<&str>, fields: &[(&str, &str)]) -> RemotingCommand {
        let mut cmd = RemotingCommand::request(
            code,
            fields
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        );
        cmd.remark = remark.map(str::to_string);
        cmd
    }

    #[test]
    fn responses() {
        let ok = answer(0, None, &[("msgId", "ID"), ("MSG_REGION", "DefaultRegion")]);
        assert_eq!(recalled_msg_id(ok, "b:1").unwrap(), "ID");

        let err = recalled_msg_id(answer(0, None, &[]), "b:1").unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Protocol);

        let err = recalled_msg_id(
            answer(604, Some("recall failed, topic not match"), &[]),
            "b:1",
        )
        .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Broker);
        assert_eq!(err.response_code(), Some(604));
        assert_eq!(err.remark(), Some("recall failed, topic not match"));
        assert_eq!(err.broker_addr(), Some("b:1"));

        let err = recalled_msg_id(
            answer(3, Some(" request type 370 not supported"), &[]),
            "b:1",
        )
        .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Broker);
        assert_eq!(err.response_code(), Some(3));
        assert!(err.message().contains("does not support recall"), "{err}");
    }
}
