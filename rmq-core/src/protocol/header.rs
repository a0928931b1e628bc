//! The request and response headers a producer uses, as ext-field maps.

use std::collections::BTreeMap;

use crate::error::Result;
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
        todo!()
    }
    /// A SEND_MESSAGE_V2 request (SEND_BATCH_MESSAGE when `batch`).
    pub fn to_command(&self, body: bytes::Bytes) -> RemotingCommand {
        todo!("{body:?}")
    }
}

impl SendMessageResponseHeader {
    pub fn from_ext_fields(fields: &BTreeMap<String, String>) -> Result<Self> {
        todo!("{fields:?}")
    }
}

/// GET_ROUTEINFO_BY_TOPIC with `acceptStandardJsonOnly=true`.
pub fn get_route_info_request(topic: &str) -> RemotingCommand {
    todo!("{topic}")
}

/// UNREGISTER_CLIENT for one producer group.
pub fn unregister_client_request(client_id: &str, producer_group: &str) -> RemotingCommand {
    todo!("{client_id} {producer_group}")
}
