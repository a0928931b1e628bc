//! Queue selection under the fault strategy (Java 5.x `MQFaultStrategy` and
//! `LatencyFaultToleranceImpl`): brokers that failed or answered slowly are avoided for a while.

use std::collections::HashMap;
use std::time::Duration;

use parking_lot::Mutex;
use tokio::time::Instant;

use crate::client::TopicPublishInfo;
use crate::error::Result;
use crate::protocol::route::MessageQueue;

/// Latency thresholds (ms) and the isolation each one earns (ms), as Java 5.1.4+.
const LATENCY_MAX: [u64; 7] = [50, 100, 550, 1800, 3000, 5000, 15000];
const NOT_AVAILABLE_DURATION: [u64; 7] = [0, 0, 2000, 5000, 6000, 10000, 30000];
/// A failed attempt counts as this latency: 10 s of isolation.
const ISOLATION_LATENCY_MS: u64 = 10_000;

pub struct FaultStrategy {
    enabled: bool,
    /// broker name → the instant it becomes available again.
    unavailable_until: Mutex<HashMap<String, Instant>>,
}

impl FaultStrategy {
    pub fn new(enabled: bool) -> Self {
        FaultStrategy {
            enabled,
            unavailable_until: Mutex::new(HashMap::new()),
        }
    }

    /// Records how an attempt on `broker` went; a failure (`isolate`) counts as 10 s of latency.
    pub fn update(&self, broker: &str, latency: Duration, isolate: bool) {
        if !self.enabled {
            return;
        }
        let latency_ms = if isolate {
            ISOLATION_LATENCY_MS
        } else {
            latency.as_millis() as u64
        };
        let duration = isolation_for(latency_ms);
        if duration.is_zero() {
            return;
        }
        let now = Instant::now();
        let until = now + duration;
        let mut items = self.unavailable_until.lock();
        if isolate && items.get(broker).is_none_or(|until| *until <= now) {
            tracing::warn!(
                broker,
                for_ms = duration.as_millis() as u64,
                "broker isolated: sends avoid it until it answers again"
            );
        }
        let entry = items.entry(broker.to_string()).or_insert(until);
        // Isolation only moves forward.
        if *entry < until {
            *entry = until;
        }
    }

    /// Brokers inside their isolation period (forgetting those whose period ended).
    pub fn isolated_brokers(&self) -> Vec<String> {
        if !self.enabled {
            return Vec::new();
        }
        let now = Instant::now();
        let mut items = self.unavailable_until.lock();
        items.retain(|_, until| now < *until);
        items.keys().cloned().collect()
    }

    /// Round robin over the topic's queues, preferring an available broker other than
    /// `last_broker` (the one the previous attempt failed on), then any available broker, then
    /// any other broker, then anything. Within a preference the round robin runs over the
    /// queues that qualify, so skipping a broker spreads its share evenly over the others.
    /// `NoRoute` when the route has no writable queue.
    pub fn select(
        &self,
        info: &TopicPublishInfo,
        last_broker: Option<&str>,
    ) -> Result<MessageQueue> {
        let queues = &info.queues;
        let turn = info.next_index();
        let isolated = self.isolated_brokers();
        let available = |q: &MessageQueue| !isolated.contains(&q.broker_name);
        let not_last = |q: &MessageQueue| last_broker != Some(q.broker_name.as_str());
        let preferences: [&dyn Fn(&MessageQueue) -> bool; 4] = [
            &|q| available(q) && not_last(q),
            &available,
            &not_last,
            &|_| true,
        ];
        preferences
            .iter()
            .find_map(|qualifies| nth_qualifying(queues, turn, qualifies))
            .cloned()
            .ok_or_else(|| info.no_writable_queue())
    }
}

/// The `turn`-th queue (cyclically) among those that qualify, if any does.
fn nth_qualifying<'a>(
    queues: &'a [MessageQueue],
    turn: usize,
    qualifies: &dyn Fn(&MessageQueue) -> bool,
) -> Option<&'a MessageQueue> {
    let count = queues.iter().filter(|q| qualifies(q)).count();
    if count == 0 {
        return None;
    }
    queues.iter().filter(|q| qualifies(q)).nth(turn % count)
}

fn isolation_for(latency_ms: u64) -> Duration {
    let index = LATENCY_MAX.iter().rposition(|max| latency_ms >= *max);
    Duration::from_millis(index.map_or(0, |i| NOT_AVAILABLE_DURATION[i]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::route::{BrokerData, QueueData, TopicRouteData};

    fn two_broker_info() -> TopicPublishInfo {
        two_broker_info_with_perm(6)
    }

    fn two_broker_info_with_perm(perm: i32) -> TopicPublishInfo {
        let broker = |name: &str, port| BrokerData {
            cluster: "c".into(),
            broker_name: name.into(),
            broker_addrs: [(0, format!("127.0.0.1:{port}"))].into_iter().collect(),
        };
        let queue = |name: &str| QueueData {
            broker_name: name.into(),
            read_queue_nums: 4,
            write_queue_nums: 4,
            perm,
            topic_sys_flag: 0,
        };
        let route = TopicRouteData {
            order_topic_conf: None,
            queue_datas: vec![queue("broker-a"), queue("broker-b")],
            broker_datas: vec![broker("broker-a", 10911), broker("broker-b", 11911)],
        };
        TopicPublishInfo::new("T", route, false)
    }

    #[test]
    fn isolation_table_matches_java_5x() {
        assert_eq!(isolation_for(10), Duration::ZERO);
        assert_eq!(isolation_for(100), Duration::ZERO);
        assert_eq!(isolation_for(600), Duration::from_millis(2000));
        assert_eq!(
            isolation_for(ISOLATION_LATENCY_MS),
            Duration::from_millis(10_000)
        );
        assert_eq!(isolation_for(20_000), Duration::from_millis(30_000));
    }

    #[test]
    fn round_robin_spans_every_queue() {
        let info = two_broker_info();
        let strategy = FaultStrategy::new(true);
        let picked: std::collections::HashSet<_> = (0..8)
            .map(|_| strategy.select(&info, None).unwrap())
            .collect();
        assert_eq!(picked.len(), 8);
    }

    #[test]
    fn retry_avoids_the_last_failed_broker() {
        let info = two_broker_info();
        for enabled in [true, false] {
            let strategy = FaultStrategy::new(enabled);
            for _ in 0..16 {
                assert_eq!(
                    strategy
                        .select(&info, Some("broker-b"))
                        .unwrap()
                        .broker_name,
                    "broker-a"
                );
            }
        }
    }

    #[tokio::test(start_paused = true)]
    async fn isolated_broker_is_avoided_until_its_period_ends() {
        let info = two_broker_info();
        let strategy = FaultStrategy::new(true);
        strategy.update("broker-b", Duration::from_millis(5), true);
        for _ in 0..16 {
            assert_eq!(
                strategy.select(&info, None).unwrap().broker_name,
                "broker-a"
            );
        }
        tokio::time::advance(Duration::from_millis(10_001)).await;
        let brokers: std::collections::HashSet<_> = (0..16)
            .map(|_| strategy.select(&info, None).unwrap().broker_name)
            .collect();
        assert!(brokers.contains("broker-b"));
    }

    #[test]
    fn skipped_broker_share_spreads_evenly_over_the_others() {
        let info = two_broker_info();
        let strategy = FaultStrategy::new(true);
        strategy.update("broker-b", Duration::ZERO, true);
        let mut per_queue = std::collections::HashMap::new();
        for _ in 0..400 {
            *per_queue
                .entry(strategy.select(&info, None).unwrap().queue_id)
                .or_insert(0) += 1;
        }
        assert_eq!(per_queue.len(), 4);
        assert!(per_queue.values().all(|n| *n == 100), "{per_queue:?}");
    }

    #[test]
    fn when_every_broker_is_isolated_a_queue_is_still_chosen() {
        let info = two_broker_info();
        let strategy = FaultStrategy::new(true);
        strategy.update("broker-a", Duration::ZERO, true);
        strategy.update("broker-b", Duration::ZERO, true);
        assert_eq!(
            strategy
                .select(&info, Some("broker-a"))
                .unwrap()
                .broker_name,
            "broker-b"
        );
    }

    #[test]
    fn a_route_without_writable_queue_selects_nothing() {
        // Both brokers drained (brokerPermission = 4, read only).
        let info = two_broker_info_with_perm(4);
        assert!(info.queues.is_empty());
        for enabled in [true, false] {
            let strategy = FaultStrategy::new(enabled);
            for last in [None, Some("broker-a")] {
                let err = strategy.select(&info, last).unwrap_err();
                assert_eq!(err.kind(), crate::error::ErrorKind::NoRoute);
                assert!(
                    err.message().contains("'T'") && err.message().contains("writable"),
                    "{err}"
                );
            }
        }
    }
}
