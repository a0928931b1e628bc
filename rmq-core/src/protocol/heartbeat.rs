//! HEART_BEAT bodies (`HeartbeatData`, v1: fingerprint 0).

use std::collections::BTreeMap;

use serde::Serialize;

use crate::protocol::codes::request;
use crate::protocol::command::RemotingCommand;

#[derive(Debug, Clone, PartialEq)]
pub struct HeartbeatData {
    pub client_id: String,
    /// Every producer group of the instance (the caller includes `CLIENT_INNER_PRODUCER`).
    pub producer_groups: Vec<String>,
}

/// The internal group every Java client instance registers.
pub const CLIENT_INNER_PRODUCER_GROUP: &str = "CLIENT_INNER_PRODUCER";

/// `HeartbeatData` with fastjson's getter names, fields in sorted order.
#[derive(Serialize)]
struct HeartbeatJson<'a> {
    #[serde(rename = "clientID")]
    client_id: &'a str,
    #[serde(rename = "consumerDataSet")]
    consumer_data_set: [(); 0],
    /// 0 selects the broker's v1 heartbeat path.
    #[serde(rename = "heartbeatFingerprint")]
    heartbeat_fingerprint: i64,
    #[serde(rename = "producerDataSet")]
    producer_data_set: Vec<ProducerData<'a>>,
    #[serde(rename = "withoutSub")]
    without_sub: bool,
}

#[derive(Serialize)]
struct ProducerData<'a> {
    #[serde(rename = "groupName")]
    group_name: &'a str,
}

impl HeartbeatData {
    /// The fastjson-shaped JSON body.
    pub fn to_json(&self) -> Vec<u8> {
        let json = HeartbeatJson {
            client_id: &self.client_id,
            consumer_data_set: [],
            heartbeat_fingerprint: 0,
            producer_data_set: self
                .producer_groups
                .iter()
                .map(|group| ProducerData { group_name: group })
                .collect(),
            without_sub: false,
        };
        // Serialising plain strings, numbers and booleans cannot fail.
        serde_json::to_vec(&json).unwrap_or_default()
    }
    /// A HEART_BEAT request carrying this body, language RUST.
    pub fn to_command(&self) -> RemotingCommand {
        RemotingCommand::request(request::HEART_BEAT, BTreeMap::new())
            .with_body(self.to_json().into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::command::LanguageCode;

    fn data() -> HeartbeatData {
        HeartbeatData {
            client_id: "10.0.0.5@4242#1".into(),
            producer_groups: vec!["G".into(), CLIENT_INNER_PRODUCER_GROUP.into()],
        }
    }

    #[test]
    fn body_matches_java_layout() {
        assert_eq!(
            String::from_utf8(data().to_json()).unwrap(),
            r#"{"clientID":"10.0.0.5@4242#1","consumerDataSet":[],"heartbeatFingerprint":0,"producerDataSet":[{"groupName":"G"},{"groupName":"CLIENT_INNER_PRODUCER"}],"withoutSub":false}"#
        );
    }

    #[test]
    fn command_is_heart_beat_in_rust() {
        let cmd = data().to_command();
        assert_eq!(cmd.code, 34);
        assert_eq!(cmd.language, LanguageCode::Rust);
        assert!(cmd.ext_fields.is_empty());
        assert_eq!(&cmd.body[..], &data().to_json()[..]);
    }
}
