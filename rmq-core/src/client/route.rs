//! What a producer needs to publish to a topic: its writable queues and their brokers.

use std::sync::atomic::{AtomicUsize, Ordering};

use crate::error::{Error, ErrorKind};
use crate::protocol::route::{MessageQueue, TopicRouteData};

#[derive(Debug)]
pub struct TopicPublishInfo {
    pub topic: String,
    /// The writable queues; may be empty (every broker read-only, or no master up).
    pub queues: Vec<MessageQueue>,
    pub route: TopicRouteData,
    /// Derived from the create-topic-key (TBW102) route: the topic does not exist yet and the
    /// broker creates it on the first send.
    pub from_default_topic: bool,
    next_index: AtomicUsize,
}

impl TopicPublishInfo {
    pub fn new(topic: &str, route: TopicRouteData, from_default_topic: bool) -> Self {
        let queues = route.publish_queues(topic);
        TopicPublishInfo {
            topic: topic.to_string(),
            queues,
            route,
            from_default_topic,
            // A random start spreads the first messages of many producers over the queues.
            next_index: AtomicUsize::new(fastrand::usize(..)),
        }
    }

    /// The next position of the round robin.
    pub fn next_index(&self) -> usize {
        self.next_index.fetch_add(1, Ordering::Relaxed)
    }

    /// What a send to a route without a writable queue fails with (Java: "No route info").
    pub fn no_writable_queue(&self) -> Error {
        let brokers: Vec<&str> = self
            .route
            .queue_datas
            .iter()
            .map(|q| q.broker_name.as_str())
            .collect();
        Error::new(
            ErrorKind::NoRoute,
            format!(
                "no queue of topic '{}' is writable: on its brokers [{}] the topic or the broker is read-only (drained), or no master is up",
                self.topic,
                brokers.join(", ")
            ),
        )
    }

    pub fn master_addr(&self, broker_name: &str) -> Option<&str> {
        self.route.master_addr(broker_name)
    }
}

/// The TBW102 route as a route for `topic`: each broker's queue counts clamped to
/// `default_queue_nums`, as Java's `getDefaultTopicRouteInfoFromNameServer` does.
pub fn route_from_default_topic(
    mut route: TopicRouteData,
    default_queue_nums: i32,
) -> TopicRouteData {
    for queue in &mut route.queue_datas {
        let nums = default_queue_nums.min(queue.read_queue_nums);
        queue.read_queue_nums = nums;
        queue.write_queue_nums = nums;
    }
    route
}
