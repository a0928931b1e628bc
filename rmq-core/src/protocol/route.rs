//! TopicRouteData from the name server, and the publish queues derived from it.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::error::{Error, Result};

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
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

/// The broker id of a master (`MixAll.MASTER_ID`).
pub const MASTER_ID: i64 = 0;

impl TopicRouteData {
    /// Parses the JSON body, standard or with fastjson's unquoted integer map keys.
    pub fn decode(body: &[u8]) -> Result<Self> {
        let text = std::str::from_utf8(body)
            .map_err(|_| Error::protocol("topic route data is not UTF-8"))?;
        let raw: RawRouteData = serde_json::from_str(&quote_integer_keys(text))
            .map_err(|e| Error::protocol(format!("topic route data does not parse: {e}")))?;
        raw.try_into()
    }

    /// The master ("ip:port") of `broker_name`, if the route names one.
    pub fn master_addr(&self, broker_name: &str) -> Option<&str> {
        self.broker_datas
            .iter()
            .find(|b| b.broker_name == broker_name)
            .and_then(|b| b.broker_addrs.get(&MASTER_ID))
            .map(String::as_str)
    }

    /// Java's `topicRouteData2TopicPublishInfo`: from `orderTopicConf` when set, else writable
    /// queue data sorted by broker name, only brokers with a master, queue ids 0..writeQueueNums.
    ///
    /// Malformed `orderTopicConf` entries are skipped (Java would throw). Static-topic mappings
    /// (`topicQueueMappingByBroker`) are not supported and fall back to the queue data.
    pub fn publish_queues(&self, topic: &str) -> Vec<MessageQueue> {
        let queue = |broker_name: &str, queue_id: i32| MessageQueue {
            topic: topic.to_owned(),
            broker_name: broker_name.to_owned(),
            queue_id,
        };
        if let Some(conf) = self.order_topic_conf.as_deref().filter(|c| !c.is_empty()) {
            return conf
                .split(';')
                .filter_map(|entry| {
                    let (broker_name, nums) = entry.split_once(':')?;
                    Some((broker_name, nums.trim().parse::<i32>().ok()?))
                })
                .flat_map(|(broker_name, nums)| (0..nums).map(move |id| queue(broker_name, id)))
                .collect();
        }
        let mut queue_datas: Vec<&QueueData> = self.queue_datas.iter().collect();
        // Stable, like Collections.sort with QueueData.compareTo (broker name only).
        queue_datas.sort_by(|a, b| a.broker_name.cmp(&b.broker_name));
        queue_datas
            .into_iter()
            .filter(|qd| qd.perm & PERM_WRITE != 0)
            .filter(|qd| self.master_addr(&qd.broker_name).is_some())
            .flat_map(|qd| (0..qd.write_queue_nums).map(|id| queue(&qd.broker_name, id)))
            .collect()
    }

    /// Every broker address of the route (all ids).
    pub fn all_broker_addrs(&self) -> impl Iterator<Item = &str> {
        self.broker_datas
            .iter()
            .flat_map(|b| b.broker_addrs.values().map(String::as_str))
    }
}

/// A broker's VIP channel ("fast remoting server"): the same host, listen port − 2
/// (`MixAll.brokerVIPChannel`). An address it cannot parse is returned unchanged.
pub fn vip_channel_addr(addr: &str) -> String {
    match addr.rsplit_once(':') {
        Some((host, port)) => match port.parse::<u16>() {
            Ok(port) if port >= 2 => format!("{host}:{}", port - 2),
            _ => addr.to_string(),
        },
        None => addr.to_string(),
    }
}

/// The JSON shape of `TopicRouteData`; unknown fields (`filterServerTable`,
/// `topicQueueMappingByBroker`, ...) are ignored and nulls read as absent.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawRouteData {
    order_topic_conf: Option<String>,
    queue_datas: Option<Vec<RawQueueData>>,
    broker_datas: Option<Vec<RawBrokerData>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawQueueData {
    broker_name: String,
    read_queue_nums: Option<i32>,
    write_queue_nums: Option<i32>,
    perm: Option<i32>,
    topic_sys_flag: Option<i32>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawBrokerData {
    cluster: Option<String>,
    broker_name: String,
    broker_addrs: Option<BTreeMap<String, Option<String>>>,
}

impl TryFrom<RawRouteData> for TopicRouteData {
    type Error = Error;

    fn try_from(raw: RawRouteData) -> Result<Self> {
        let queue_datas = raw
            .queue_datas
            .unwrap_or_default()
            .into_iter()
            .map(|q| QueueData {
                broker_name: q.broker_name,
                read_queue_nums: q.read_queue_nums.unwrap_or(0),
                write_queue_nums: q.write_queue_nums.unwrap_or(0),
                perm: q.perm.unwrap_or(0),
                topic_sys_flag: q.topic_sys_flag.unwrap_or(0),
            })
            .collect();
        let broker_datas = raw
            .broker_datas
            .unwrap_or_default()
            .into_iter()
            .map(|b| {
                let mut broker_addrs = BTreeMap::new();
                for (id, addr) in b.broker_addrs.unwrap_or_default() {
                    let Some(addr) = addr else { continue };
                    let id = id.trim().parse::<i64>().map_err(|_| {
                        Error::protocol(format!(
                            "broker {} has a non-numeric broker id {id:?}",
                            b.broker_name
                        ))
                    })?;
                    broker_addrs.insert(id, addr);
                }
                Ok(BrokerData {
                    cluster: b.cluster.unwrap_or_default(),
                    broker_name: b.broker_name,
                    broker_addrs,
                })
            })
            .collect::<Result<_>>()?;
        Ok(TopicRouteData {
            order_topic_conf: raw.order_topic_conf,
            queue_datas,
            broker_datas,
        })
    }
}

/// Rewrites fastjson's unquoted integer object keys (`{0:"a",1:"b"}`) as standard JSON
/// (`{"0":"a","1":"b"}`). Only a number that directly follows `{` or `,` and is followed by `:`
/// is a key; text inside strings is copied untouched, so valid JSON passes through unchanged.
fn quote_integer_keys(json: &str) -> String {
    let bytes = json.as_bytes();
    let mut out = String::with_capacity(json.len() + 16);
    let mut copied = 0; // bytes[..copied] are already in `out`
    let mut in_string = false;
    let mut escaped = false;
    let mut after_open_or_comma = false;
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if in_string {
            match b {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            i += 1;
            continue;
        }
        match b {
            b'"' => {
                in_string = true;
                after_open_or_comma = false;
            }
            b'{' | b',' => after_open_or_comma = true,
            b' ' | b'\t' | b'\r' | b'\n' => {}
            b'-' | b'0'..=b'9' if after_open_or_comma => {
                let start = i;
                let mut end = i + 1;
                while end < bytes.len() && bytes[end].is_ascii_digit() {
                    end += 1;
                }
                let mut next = end;
                while next < bytes.len() && bytes[next].is_ascii_whitespace() {
                    next += 1;
                }
                let has_digit = end > start + 1 || b != b'-';
                if has_digit && bytes.get(next) == Some(&b':') {
                    out.push_str(&json[copied..start]);
                    out.push('"');
                    out.push_str(&json[start..end]);
                    out.push('"');
                    copied = end;
                }
                after_open_or_comma = false;
                i = end;
                continue;
            }
            _ => after_open_or_comma = false,
        }
        i += 1;
    }
    out.push_str(&json[copied..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vip_channel_is_two_ports_down() {
        assert_eq!(vip_channel_addr("127.0.0.1:10911"), "127.0.0.1:10909");
        assert_eq!(vip_channel_addr("[::1]:10911"), "[::1]:10909");
        assert_eq!(vip_channel_addr("host"), "host");
        assert_eq!(vip_channel_addr("host:1"), "host:1");
    }
    use crate::ErrorKind;

    /// A two-broker route as a 5.3.3 name server writes it for `acceptStandardJsonOnly=true`.
    const STANDARD: &str = r#"{"brokerDatas":[{"brokerAddrs":{"0":"127.0.0.1:10911","1":"127.0.0.1:10921"},"brokerName":"broker-b","cluster":"DefaultCluster","enableActingMaster":false,"zoneName":null},{"brokerAddrs":{"0":"127.0.0.1:10811"},"brokerName":"broker-a","cluster":"DefaultCluster","enableActingMaster":false}],"filterServerTable":{},"queueDatas":[{"brokerName":"broker-b","perm":6,"readQueueNums":4,"topicSysFlag":0,"writeQueueNums":2},{"brokerName":"broker-a","perm":6,"readQueueNums":4,"topicSysFlag":0,"writeQueueNums":3}]}"#;

    /// The same in fastjson's default form (older name servers, cluster info).
    const FASTJSON: &str = r#"{"brokerDatas":[{"brokerAddrs":{0:"127.0.0.1:10911",1:"127.0.0.1:10921"},"brokerName":"broker-b","cluster":"DefaultCluster","enableActingMaster":false},{"brokerAddrs":{0:"127.0.0.1:10811"},"brokerName":"broker-a","cluster":"DefaultCluster","enableActingMaster":false}],"filterServerTable":{},"queueDatas":[{"brokerName":"broker-b","perm":6,"readQueueNums":4,"topicSysFlag":0,"writeQueueNums":2},{"brokerName":"broker-a","perm":6,"readQueueNums":4,"topicSysFlag":0,"writeQueueNums":3}]}"#;

    fn mq(broker: &str, id: i32) -> MessageQueue {
        MessageQueue {
            topic: "T".into(),
            broker_name: broker.into(),
            queue_id: id,
        }
    }

    #[test]
    fn decodes_standard_and_fastjson_forms_alike() {
        let standard = TopicRouteData::decode(STANDARD.as_bytes()).unwrap();
        let fastjson = TopicRouteData::decode(FASTJSON.as_bytes()).unwrap();
        assert_eq!(standard, fastjson);
        assert_eq!(standard.order_topic_conf, None);
        assert_eq!(standard.queue_datas.len(), 2);
        assert_eq!(
            standard.queue_datas[1],
            QueueData {
                broker_name: "broker-a".into(),
                read_queue_nums: 4,
                write_queue_nums: 3,
                perm: 6,
                topic_sys_flag: 0,
            }
        );
        assert_eq!(
            standard.broker_datas[0],
            BrokerData {
                cluster: "DefaultCluster".into(),
                broker_name: "broker-b".into(),
                broker_addrs: BTreeMap::from([
                    (0, "127.0.0.1:10911".to_owned()),
                    (1, "127.0.0.1:10921".to_owned()),
                ]),
            }
        );
        assert_eq!(standard.master_addr("broker-b"), Some("127.0.0.1:10911"));
        assert_eq!(standard.master_addr("broker-a"), Some("127.0.0.1:10811"));
        assert_eq!(standard.master_addr("broker-c"), None);
        assert_eq!(standard.all_broker_addrs().count(), 3);
    }

    #[test]
    fn publish_queues_sorted_by_broker_name() {
        let route = TopicRouteData::decode(STANDARD.as_bytes()).unwrap();
        assert_eq!(
            route.publish_queues("T"),
            vec![
                mq("broker-a", 0),
                mq("broker-a", 1),
                mq("broker-a", 2),
                mq("broker-b", 0),
                mq("broker-b", 1),
            ]
        );
    }

    #[test]
    fn publish_queues_skip_read_only_and_masterless_brokers() {
        let json = r#"{"brokerDatas":[{"brokerAddrs":{1:"127.0.0.1:10921"},"brokerName":"slave-only","cluster":"C"},{"brokerAddrs":{0:"127.0.0.1:10911"},"brokerName":"ro","cluster":"C"},{"brokerAddrs":{0:"127.0.0.1:10811"},"brokerName":"rw","cluster":"C"}],"queueDatas":[{"brokerName":"slave-only","perm":6,"readQueueNums":1,"writeQueueNums":1},{"brokerName":"ro","perm":4,"readQueueNums":1,"writeQueueNums":1},{"brokerName":"rw","perm":2,"readQueueNums":1,"writeQueueNums":1},{"brokerName":"unknown","perm":6,"readQueueNums":1,"writeQueueNums":1}]}"#;
        let route = TopicRouteData::decode(json.as_bytes()).unwrap();
        assert_eq!(route.publish_queues("T"), vec![mq("rw", 0)]);
    }

    #[test]
    fn publish_queues_from_order_topic_conf() {
        let mut route = TopicRouteData::decode(STANDARD.as_bytes()).unwrap();
        route.order_topic_conf = Some("broker-b:2;broker-a:1;garbage;x:y".into());
        assert_eq!(
            route.publish_queues("T"),
            vec![mq("broker-b", 0), mq("broker-b", 1), mq("broker-a", 0)]
        );
        route.order_topic_conf = Some(String::new());
        assert_eq!(route.publish_queues("T").len(), 5);
    }

    #[test]
    fn tolerates_unknown_fields_and_nulls() {
        let json = r#"{"orderTopicConf":null,"brokerDatas":[{"brokerAddrs":{0:"a:1", 2 :null},"brokerName":"b","cluster":null,"zoneName":null,"enableActingMaster":true}],"queueDatas":[{"brokerName":"b","perm":6,"writeQueueNums":1}],"topicQueueMappingByBroker":null,"filterServerTable":{"a:1":["f"]},"extra":{"1":2}}"#;
        let route = TopicRouteData::decode(json.as_bytes()).unwrap();
        assert_eq!(route.broker_datas[0].cluster, "");
        assert_eq!(
            route.broker_datas[0].broker_addrs,
            BTreeMap::from([(0, "a:1".to_owned())])
        );
        assert_eq!(route.publish_queues("T"), vec![mq("b", 0)]);
        assert_eq!(
            TopicRouteData::decode(b"{}").unwrap(),
            TopicRouteData::default()
        );
    }

    #[test]
    fn quoting_leaves_strings_and_values_alone() {
        let cases = [
            (r#"{0:"a",-1:"b"}"#, r#"{"0":"a","-1":"b"}"#),
            (r#"{ 12 : "x" }"#, r#"{ "12" : "x" }"#),
            (r#"{"k":[1,2,{3:4}]}"#, r#"{"k":[1,2,{"3":4}]}"#),
            (
                r#"{"s":"{0:\"x\",1:2}","n":5}"#,
                r#"{"s":"{0:\"x\",1:2}","n":5}"#,
            ),
            (r#"{"e":"\\",7:"v"}"#, r#"{"e":"\\","7":"v"}"#),
            ("{\"ü\":\"é\",1:\"ö\"}", "{\"ü\":\"é\",\"1\":\"ö\"}"),
        ];
        for (input, expected) in cases {
            assert_eq!(quote_integer_keys(input), expected, "{input}");
        }
    }

    #[test]
    fn bad_route_bodies_are_protocol_errors() {
        for body in [
            &b"not json"[..],
            b"[]",
            b"\xff\xfe",
            br#"{"brokerDatas":[{"brokerAddrs":{"x":"a:1"},"brokerName":"b"}]}"#,
            br#"{"queueDatas":[{"perm":6}]}"#,
            br#"{"queueDatas":[{"brokerName":"b","perm":"rw"}]}"#,
        ] {
            let err = TopicRouteData::decode(body).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::Protocol, "{body:?}");
        }
    }
}
