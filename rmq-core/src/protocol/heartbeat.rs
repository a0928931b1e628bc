//! HEART_BEAT bodies (`HeartbeatData`, v1: fingerprint 0).

use crate::protocol::command::RemotingCommand;

#[derive(Debug, Clone, PartialEq)]
pub struct HeartbeatData {
    pub client_id: String,
    /// Every producer group of the instance (the caller includes `CLIENT_INNER_PRODUCER`).
    pub producer_groups: Vec<String>,
}

/// The internal group every Java client instance registers.
pub const CLIENT_INNER_PRODUCER_GROUP: &str = "CLIENT_INNER_PRODUCER";

impl HeartbeatData {
    /// The fastjson-shaped JSON body.
    pub fn to_json(&self) -> Vec<u8> {
        todo!()
    }
    /// A HEART_BEAT request carrying this body, language RUST.
    pub fn to_command(&self) -> RemotingCommand {
        todo!()
    }
}
