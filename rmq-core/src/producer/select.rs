//! Sends to a queue the caller chooses (Java's `send(msg, mq)` and `send(msg, selector, arg)`):
//! one attempt, no retry on another broker, no fault-strategy update.

use std::panic::AssertUnwindSafe;

use crate::error::{Error, Result};
use crate::protocol::message::Message;
use crate::protocol::route::MessageQueue;

/// A function that picks the index of a queue among a topic's writable queues.
pub type QueueSelector = Box<dyn FnOnce(&[MessageQueue], &Message) -> usize + Send>;

/// How the caller chooses the queue of a send.
pub enum QueueSelection {
    /// Exactly this queue. Its topic must be the message's topic.
    Queue(MessageQueue),
    /// The queue at the index the selector returns, among the topic's writable queues in
    /// Java's order (brokers sorted by name, then queue id).
    Selector(QueueSelector),
    /// Java's `SelectMessageQueueByHash` with this key: the same key goes to the same queue as
    /// with the Java client, as long as the topic's queues stay the same.
    ShardingKey(String),
}

impl QueueSelection {
    /// A selector from a closure.
    pub fn selector<F>(select: F) -> Self
    where
        F: FnOnce(&[MessageQueue], &Message) -> usize + Send + 'static,
    {
        QueueSelection::Selector(Box::new(select))
    }

    /// The choice with the message bound in, for the send path that no longer has it.
    pub(crate) fn into_route(self, msg: &Message) -> Route {
        match self {
            QueueSelection::Queue(queue) => Route::Queue(queue),
            QueueSelection::Selector(select) => {
                let msg = msg.clone();
                Route::Select(Box::new(move |queues| select(queues, &msg)))
            }
            QueueSelection::ShardingKey(key) => {
                Route::Select(Box::new(move |queues| hash_index(&key, queues.len())))
            }
        }
    }
}

/// A selector with its message bound in.
pub(crate) type BoundSelector = Box<dyn FnOnce(&[MessageQueue]) -> usize + Send>;

/// Where one send goes.
pub(crate) enum Route {
    /// Chosen by the fault strategy, retried on another broker.
    Auto,
    /// This queue, one attempt.
    Queue(MessageQueue),
    /// The queue at the index the function picks, one attempt.
    Select(BoundSelector),
}

impl Route {
    /// The queue of a one-attempt route, checked against the topic's writable queues.
    pub(crate) fn pick(self, topic: &str, queues: &[MessageQueue]) -> Result<MessageQueue> {
        match self {
            Route::Auto => Err(Error::internal("an automatic route has no fixed queue")),
            Route::Queue(queue) if queue.topic != topic => Err(Error::invalid_argument(format!(
                "the queue belongs to topic '{}', the message to topic '{topic}'",
                queue.topic
            ))),
            Route::Queue(queue) => Ok(queue),
            Route::Select(select) => {
                let index = std::panic::catch_unwind(AssertUnwindSafe(|| select(queues)))
                    .map_err(|_| Error::invalid_argument("the queue selector panicked"))?;
                queues.get(index).cloned().ok_or_else(|| {
                    Error::invalid_argument(format!(
                        "the queue selector returned index {index}, but topic '{topic}' has {} writable queue(s)",
                        queues.len()
                    ))
                })
            }
        }
    }
}

/// Java's `String.hashCode` (over UTF-16 code units, wrapping).
pub fn java_string_hash(s: &str) -> i32 {
    s.encode_utf16().fold(0i32, |h, unit| {
        h.wrapping_mul(31).wrapping_add(i32::from(unit))
    })
}

/// `SelectMessageQueueByHash`: `abs(key.hashCode() % n)`.
pub fn hash_index(key: &str, n: usize) -> usize {
    if n == 0 {
        return 0;
    }
    // n fits in i32 for any real topic (at most a few thousand queues).
    let n = i32::try_from(n).unwrap_or(i32::MAX);
    (java_string_hash(key) % n).unsigned_abs() as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn string_hash_matches_java() {
        // Values from Java's "...".hashCode().
        assert_eq!(java_string_hash(""), 0);
        assert_eq!(java_string_hash("a"), 97);
        assert_eq!(java_string_hash("hello"), 99_162_322);
        assert_eq!(java_string_hash("order-12345"), 478_832_884);
        assert_eq!(java_string_hash("polygenelubricants"), i32::MIN);
        assert_eq!(java_string_hash("é😀"), 1_996_812);
    }

    #[test]
    fn hash_index_is_abs_of_remainder() {
        assert_eq!(hash_index("hello", 8), 99_162_322 % 8);
        assert_eq!(
            hash_index("polygenelubricants", 7),
            (i32::MIN % 7).unsigned_abs() as usize
        );
        assert_eq!(hash_index("x", 0), 0);
    }

    fn queues(n: i32) -> Vec<MessageQueue> {
        (0..n)
            .map(|queue_id| MessageQueue {
                topic: "T".into(),
                broker_name: "b".into(),
                queue_id,
            })
            .collect()
    }

    #[test]
    fn selector_index_is_bounds_checked() {
        let route = QueueSelection::selector(|_, _| 4).into_route(&Message::new("T", "x"));
        let err = route.pick("T", &queues(4)).unwrap_err();
        assert!(err.message().contains("index 4"), "{err}");
        let panicking = QueueSelection::selector(|_, _| panic!("boom"));
        let err = panicking
            .into_route(&Message::new("T", "x"))
            .pick("T", &queues(4))
            .unwrap_err();
        assert!(err.message().contains("panicked"), "{err}");
        let other = Route::Queue(MessageQueue {
            topic: "U".into(),
            broker_name: "b".into(),
            queue_id: 0,
        });
        assert!(other.pick("T", &queues(1)).is_err());
    }
}
