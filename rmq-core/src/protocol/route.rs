//! TopicRouteData from the name server, and the publish queues derived from it.

use std::collections::BTreeMap;

use crate::error::Result;

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MessageQueue {
    pub topic: String,
    pub broker_name: String,
    pub queue_id: i32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueData {
    pub broker_name: String,
    pub read_queue_nums: i32,
    pub write_queue_nums: i32,
    pub perm: i32,
    pub topic_sys_flag: i32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerData {
    pub cluster: String,
    pub broker_name: String,
    /// broker id → "ip:port"; id 0 is the master.
    pub broker_addrs: BTreeMap<i64, String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TopicRouteData {
    pub order_topic_conf: Option<String>,
    pub queue_datas: Vec<QueueData>,
    pub broker_datas: Vec<BrokerData>,
}

/// perm bit: the queue accepts writes.
pub const PERM_WRITE: i32 = 2;

impl TopicRouteData {
    /// Parses the JSON body, standard or with fastjson's unquoted integer map keys.
    pub fn decode(body: &[u8]) -> Result<Self> {
        todo!("{body:?}")
    }

    /// The master ("ip:port") of `broker_name`, if the route names one.
    pub fn master_addr(&self, broker_name: &str) -> Option<&str> {
        todo!("{broker_name}")
    }

    /// Java's `topicRouteData2TopicPublishInfo`: from `orderTopicConf` when set, else writable
    /// queue data sorted by broker name, only brokers with a master, queue ids 0..writeQueueNums.
    pub fn publish_queues(&self, topic: &str) -> Vec<MessageQueue> {
        todo!("{topic}")
    }

    /// Every broker address of the route (all ids).
    pub fn all_broker_addrs(&self) -> impl Iterator<Item = &str> {
        self.broker_datas
            .iter()
            .flat_map(|b| b.broker_addrs.values().map(String::as_str))
    }
}
