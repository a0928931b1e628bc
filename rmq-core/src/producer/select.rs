//! Sends to a queue the caller chooses (Java's `send(msg, mq)` and `send(msg, selector, arg)`):
//! one attempt, no retry on another broker, no fault-strategy update.

use std::future::{Future, ready};
use std::panic::AssertUnwindSafe;

use futures_util::FutureExt;
use futures_util::future::BoxFuture;
use tokio::time::Instant;

use crate::error::{Error, ErrorKind, Result};
use crate::protocol::message::Message;
use crate::protocol::route::MessageQueue;

/// A function that picks the index of a queue among a topic's writable queues.
pub type QueueSelector = Box<dyn FnOnce(&[MessageQueue], &Message) -> usize + Send>;

/// A selector that answers later, for selectors that must run elsewhere (a binding's selector
/// runs on its host language's thread): the index it picked (any integer; the core checks it),
/// or why it could not pick one.
pub type AsyncQueueSelector =
    Box<dyn FnOnce(Vec<MessageQueue>, Message) -> BoxFuture<'static, Result<i64>> + Send>;

/// How the caller chooses the queue of a send.
#[non_exhaustive]
pub enum QueueSelection {
    /// Exactly this queue. Its topic must be the message's topic.
    Queue(MessageQueue),
    /// The queue at the index the selector returns, among the topic's writable queues in
    /// Java's order (brokers sorted by name, then queue id).
    Selector(QueueSelector),
    /// As `Selector`, with an index that comes later, within the send timeout.
    AsyncSelector(AsyncQueueSelector),
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

    /// An async selector from a closure returning a future.
    pub fn async_selector<F, Fut>(select: F) -> Self
    where
        F: FnOnce(Vec<MessageQueue>, Message) -> Fut + Send + 'static,
        Fut: Future<Output = Result<i64>> + Send + 'static,
    {
        QueueSelection::AsyncSelector(Box::new(move |queues, msg| select(queues, msg).boxed()))
    }

    /// The choice with the message bound in, for the send path that no longer has it.
    pub(crate) fn into_route(self, msg: &Message) -> Route {
        match self {
            QueueSelection::Queue(queue) => Route::Queue(queue),
            QueueSelection::Selector(select) => {
                let msg = msg.clone();
                Route::Select(Box::new(move |queues| {
                    let picked =
                        std::panic::catch_unwind(AssertUnwindSafe(|| select(&queues, &msg)))
                            .map(|index| i64::try_from(index).unwrap_or(i64::MAX))
                            .map_err(|_| Error::invalid_argument("the queue selector panicked"));
                    ready(picked).boxed()
                }))
            }
            QueueSelection::AsyncSelector(select) => {
                let msg = msg.clone();
                Route::Select(Box::new(move |queues| select(queues, msg)))
            }
            QueueSelection::ShardingKey(key) => Route::Select(Box::new(move |queues| {
                let index = hash_index(&key, queues.len());
                ready(Ok(i64::try_from(index).unwrap_or(i64::MAX))).boxed()
            })),
        }
    }
}

/// A selector with its message bound in.
pub(crate) type BoundSelector =
    Box<dyn FnOnce(Vec<MessageQueue>) -> BoxFuture<'static, Result<i64>> + Send>;

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
    /// The queue of a one-attempt route, checked against the topic's writable queues; a
    /// selector gets until `deadline` to pick.
    pub(crate) async fn pick(
        self,
        topic: &str,
        queues: &[MessageQueue],
        deadline: Instant,
    ) -> Result<MessageQueue> {
        match self {
            Route::Auto => Err(Error::internal("an automatic route has no fixed queue")),
            Route::Queue(queue) if queue.topic != topic => Err(Error::invalid_argument(format!(
                "the queue belongs to topic '{}', the message to topic '{topic}'",
                queue.topic
            ))),
            Route::Queue(queue) => Ok(queue),
            Route::Select(select) => {
                let picked = AssertUnwindSafe(select(queues.to_vec())).catch_unwind();
                let index = match tokio::time::timeout_at(deadline, picked).await {
                    Ok(Ok(picked)) => picked?,
                    Ok(Err(_)) => {
                        return Err(Error::invalid_argument("the queue selector panicked"));
                    }
                    Err(_) => {
                        return Err(Error::new(
                            ErrorKind::Timeout,
                            "the queue selector did not pick a queue within the send timeout",
                        ));
                    }
                };
                usize::try_from(index)
                    .ok()
                    .and_then(|i| queues.get(i))
                    .cloned()
                    .ok_or_else(|| {
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

    fn pick(selection: QueueSelection, n: i32) -> Result<MessageQueue> {
        let route = selection.into_route(&Message::new("T", "x"));
        let deadline = Instant::now() + std::time::Duration::from_millis(200);
        crate::runtime::block_on(async move { route.pick("T", &queues(n), deadline).await })
            .unwrap()
    }

    #[test]
    fn selector_index_is_bounds_checked() {
        let err = pick(QueueSelection::selector(|_, _| 4), 4).unwrap_err();
        assert!(err.message().contains("index 4"), "{err}");
        let err = pick(QueueSelection::selector(|_, _| panic!("boom")), 4).unwrap_err();
        assert!(err.message().contains("panicked"), "{err}");
        let other = QueueSelection::Queue(MessageQueue {
            topic: "U".into(),
            broker_name: "b".into(),
            queue_id: 0,
        });
        assert!(pick(other, 1).is_err());
    }

    #[test]
    fn an_async_selector_gets_the_same_check_and_the_send_timeout() {
        let negative = QueueSelection::async_selector(|_, _| async { Ok(-1) });
        let err = pick(negative, 4).unwrap_err();
        assert_eq!(
            err.message(),
            "the queue selector returned index -1, but topic 'T' has 4 writable queue(s)"
        );
        let last =
            QueueSelection::async_selector(|queues, _| async move { Ok(queues.len() as i64 - 1) });
        assert_eq!(pick(last, 4).unwrap().queue_id, 3);
        let never = QueueSelection::async_selector(|_, _| std::future::pending());
        assert_eq!(pick(never, 4).unwrap_err().kind(), ErrorKind::Timeout);
        let failed = QueueSelection::async_selector(|_, _| async {
            Err(Error::invalid_argument(
                "the queue selector raised ValueError",
            ))
        });
        assert!(
            pick(failed, 4)
                .unwrap_err()
                .message()
                .contains("ValueError")
        );
    }
}
