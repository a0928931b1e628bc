//! Auto-batching (Java 5.x `autoBatch`, its `ProduceAccumulator`): sends of one topic, queue,
//! mode and `wait_store_msg_ok` wait together for up to `batch_max_delay_ms`, or until their
//! bodies reach `batch_max_bytes`, and go out as one batch request. Each message still gets its
//! own SendResult, split from the batch's, or the batch's error: exactly once, as its send would.
//!
//! Unlike Java's accumulator: limits are per producer (Java shares them per client instance, the
//! last setter winning); a message that cannot wait is never counted in the held bytes; a failed
//! batch fails every one of its sends, sync or async (Java's sync waiters other than the sender
//! get no result).
//!
//! This module keeps the books only; the producer sends what it hands out.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use parking_lot::Mutex;
use tokio::sync::oneshot;

use crate::error::Result;
use crate::producer::send::Mode;
use crate::producer::{ProducerConfig, SendResult};
use crate::protocol::batch;
use crate::protocol::message::Message;
use crate::protocol::route::MessageQueue;

/// Where a message's outcome goes.
pub(crate) type Outcome = oneshot::Sender<Result<SendResult>>;

/// Messages that may share one batch request.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct BatchKey {
    /// The topic as the user named it (the producer's namespace is the same for all).
    pub topic: String,
    /// The chosen queue; `None` lets the fault strategy choose (with retries).
    pub queue: Option<MessageQueue>,
    pub mode: Mode,
    pub wait_store_msg_ok: bool,
}

impl BatchKey {
    pub fn new(message: &Message, queue: Option<MessageQueue>, mode: Mode) -> Self {
        BatchKey {
            topic: message.topic.clone(),
            queue,
            mode,
            wait_store_msg_ok: message.wait_store_msg_ok,
        }
    }
}

/// A batch handed out to be sent: its messages in arrival order and where their outcomes go.
/// Its bytes count as held until it is dropped, sent or not.
pub(crate) struct Gathered {
    pub key: BatchKey,
    pub messages: Vec<Message>,
    outcomes: Vec<Outcome>,
    bytes: usize,
    held: Arc<AtomicUsize>,
}

impl Gathered {
    /// Gives every message its outcome: its own part of the batch's result, or the batch's error.
    pub fn complete(mut self, outcome: Result<SendResult>) {
        let outcomes = std::mem::take(&mut self.outcomes);
        match outcome {
            Ok(result) => {
                for (outcome, own) in outcomes
                    .into_iter()
                    .zip(split(&result, self.messages.len()))
                {
                    let _ = outcome.send(Ok(own));
                }
            }
            Err(error) => {
                for outcome in outcomes {
                    let _ = outcome.send(Err(error.clone()));
                }
            }
        }
    }
}

impl Drop for Gathered {
    fn drop(&mut self) {
        self.held.fetch_sub(self.bytes, Ordering::AcqRel);
    }
}

/// The result of message `i` of a batch: its own ids, the batch's queue, the batch's first
/// offset plus `i` (`MessageAccumulation.splitSendResults`). A broker that answers one offset id
/// for the whole batch gives each message that id.
fn split(result: &SendResult, count: usize) -> Vec<SendResult> {
    let ids = result.msg_ids();
    let offset_ids = result.offset_msg_ids();
    (0..count)
        .map(|i| SendResult {
            msg_id: ids.get(i).copied().unwrap_or_default().to_string(),
            offset_msg_id: if offset_ids.len() == count {
                offset_ids[i].to_string()
            } else {
                result.offset_msg_id.clone()
            },
            queue_offset: result.queue_offset + i as i64,
            ..result.clone()
        })
        .collect()
}

/// What a message adds to a batch request, as `batch::encode_record` writes it: the body, five
/// int fields and the properties (the UNIQ_KEY and WAIT ones given to every message, and the
/// message's own), so that a batch of many small bodies stays within its bound too.
fn encoded_len(msg: &Message) -> usize {
    const FIXED: usize =
        batch::RECORD_OVERHEAD + "UNIQ_KEY\u{1}\u{2}WAIT\u{1}false\u{2}".len() + 32;
    let tags = msg
        .tags
        .as_ref()
        .map_or(0, |tags| "TAGS".len() + 2 + tags.len());
    let keys: usize = msg.keys.iter().map(|key| key.len() + 1).sum::<usize>() + "KEYS".len() + 2;
    let properties: usize = msg
        .properties
        .iter()
        .map(|(name, value)| name.len() + value.len() + 2)
        .sum();
    FIXED + msg.body.len() + tags + keys + properties
}

/// A batch still gathering.
struct Gathering {
    generation: u64,
    messages: Vec<Message>,
    outcomes: Vec<Outcome>,
    bytes: usize,
}

/// What adding a message did.
#[derive(Default)]
pub(crate) struct Added {
    /// The message started a new batch: it is to be sent when this generation's delay ends.
    pub started: Option<u64>,
    /// A batch ready to be sent now: full, or making room for the message.
    pub full: Option<Gathered>,
}

/// The bound on one batch: `batch_max_bytes`, and never beyond what a request may carry.
fn max_bytes(config: &ProducerConfig) -> usize {
    config.batch_max_bytes.min(config.max_message_size)
}

/// The batches of one producer.
pub(crate) struct AutoBatcher {
    max_bytes: usize,
    total_max_bytes: usize,
    held: Arc<AtomicUsize>,
    generations: AtomicU64,
    gathering: Mutex<HashMap<BatchKey, Gathering>>,
}

impl AutoBatcher {
    pub fn new(config: &ProducerConfig) -> Self {
        AutoBatcher {
            max_bytes: max_bytes(config),
            total_max_bytes: config.total_batch_max_bytes,
            held: Arc::new(AtomicUsize::new(0)),
            generations: AtomicU64::new(0),
            gathering: Mutex::new(HashMap::new()),
        }
    }

    /// Whether a send of `msg` may wait in a batch (Java's `canBatch`): not a delayed or timer
    /// message, not a retry topic's, not one with its own send timeout (Java batches no send
    /// with a timeout of its own), and smaller than a batch.
    pub fn accepts(config: &ProducerConfig, msg: &Message) -> bool {
        config.auto_batch
            && msg.delay_level.is_none_or(|level| level == 0)
            && msg.deliver_time_ms.is_none()
            && msg.send_timeout_ms.is_none()
            && !msg.topic.starts_with("%RETRY%")
            && encoded_len(msg) < max_bytes(config)
    }

    /// Adds a validated message; gives it back when the held bytes are at their bound, for a
    /// send of its own.
    pub fn add(
        &self,
        key: BatchKey,
        message: Message,
        outcome: Outcome,
    ) -> std::result::Result<Added, Box<Message>> {
        let len = encoded_len(&message);
        let held = self
            .held
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |held| {
                (held + len <= self.total_max_bytes).then_some(held + len)
            });
        if held.is_err() {
            return Err(Box::new(message));
        }
        let mut added = Added::default();
        let mut gathering = self.gathering.lock();
        // A batch never grows past the limit: a message that would overflow it sends it first.
        if gathering
            .get(&key)
            .is_some_and(|batch| batch.bytes + len > self.max_bytes)
        {
            let batch = gathering.remove(&key).expect("checked above");
            added.full = Some(self.hand_out(key.clone(), batch));
        }
        let batch = gathering.entry(key.clone()).or_insert_with(|| {
            let generation = self.generations.fetch_add(1, Ordering::Relaxed);
            added.started = Some(generation);
            Gathering {
                generation,
                messages: Vec::new(),
                outcomes: Vec::new(),
                bytes: 0,
            }
        });
        batch.messages.push(message);
        batch.outcomes.push(outcome);
        batch.bytes += len;
        if batch.bytes >= self.max_bytes {
            let batch = gathering.remove(&key).expect("just added to");
            added.full = Some(self.hand_out(key, batch));
        }
        Ok(added)
    }

    /// The batch of `key` if it is still the one of `generation` (its delay ended).
    pub fn take(&self, key: &BatchKey, generation: u64) -> Option<Gathered> {
        let mut gathering = self.gathering.lock();
        if gathering.get(key)?.generation != generation {
            return None;
        }
        let batch = gathering.remove(key)?;
        Some(self.hand_out(key.clone(), batch))
    }

    /// Every batch still gathering, for a flush or a shutdown that will not wait for delays.
    pub fn take_all(&self) -> Vec<Gathered> {
        let batches: Vec<_> = self.gathering.lock().drain().collect();
        batches
            .into_iter()
            .map(|(key, batch)| self.hand_out(key, batch))
            .collect()
    }

    fn hand_out(&self, key: BatchKey, batch: Gathering) -> Gathered {
        Gathered {
            key,
            messages: batch.messages,
            outcomes: batch.outcomes,
            bytes: batch.bytes,
            held: self.held.clone(),
        }
    }

    /// Bytes waiting in batches or being sent in them.
    #[cfg(test)]
    fn held(&self) -> usize {
        self.held.load(Ordering::Acquire)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::{Error, ErrorKind};

    fn batcher(max_bytes: usize, total: usize) -> AutoBatcher {
        let mut config = ProducerConfig::new("g");
        config.batch_max_bytes = max_bytes;
        config.total_batch_max_bytes = total;
        AutoBatcher::new(&config)
    }

    fn key(topic: &str) -> BatchKey {
        BatchKey {
            topic: topic.into(),
            queue: None,
            mode: Mode::Async,
            wait_store_msg_ok: true,
        }
    }

    fn add(
        batcher: &AutoBatcher,
        topic: &str,
        body: &str,
    ) -> (Added, oneshot::Receiver<Result<SendResult>>) {
        let (tx, rx) = oneshot::channel();
        let added = batcher
            .add(key(topic), Message::new(topic, body.to_string()), tx)
            .unwrap_or_else(|_| panic!("refused"));
        (added, rx)
    }

    /// What one message of the tests (a 4-byte body) weighs in a batch.
    fn weight() -> usize {
        encoded_len(&Message::new("T", "1234"))
    }

    #[test]
    fn a_batch_is_handed_out_when_full_or_when_its_generation_ends() {
        let b = batcher(2 * weight() + 1, 1 << 20);
        let (first, _) = add(&b, "T", "1234");
        let generation = first.started.expect("the first message starts a batch");
        assert!(first.full.is_none());
        let (second, _) = add(&b, "T", "1234");
        assert!(second.started.is_none() && second.full.is_none());
        // Another topic gathers apart.
        let (other, _) = add(&b, "U", "1234");
        assert!(other.started.is_some());
        // A third would overflow the batch: the waiting two go first, it starts the next one.
        let (third, _) = add(&b, "T", "1234");
        let full = third.full.expect("the batch was full");
        assert_eq!(full.messages.len(), 2);
        let next = third.started.expect("a new batch");
        assert!(b.take(&key("T"), generation).is_none(), "an old generation");
        assert_eq!(b.take(&key("T"), next).unwrap().messages.len(), 1);

        let (_, _) = add(&b, "U", "1234");
        let all = b.take_all();
        assert_eq!(all.len(), 1, "the batch of U, still gathering");
        assert_eq!(all[0].messages.len(), 2);

        // Reaching the bound exactly hands the batch out.
        let b = batcher(2 * weight(), 1 << 20);
        let (_, _) = add(&b, "V", "1234");
        let (at_bound, _) = add(&b, "V", "1234");
        assert_eq!(at_bound.full.unwrap().messages.len(), 2);
    }

    #[test]
    fn held_bytes_bound_what_waits_and_are_released_when_a_batch_is_done() {
        let b = batcher(100 * weight(), weight() + weight() / 2);
        let (_, _) = add(&b, "T", "1234");
        let (tx, _rx) = oneshot::channel();
        let refused = b.add(key("T"), Message::new("T", "1234"), tx);
        assert!(
            refused.is_err(),
            "beyond the total bound a message goes alone"
        );
        assert_eq!(b.held(), weight());
        let gathered = b.take(&key("T"), 0).unwrap();
        assert_eq!(b.held(), weight(), "held while being sent");
        drop(gathered);
        assert_eq!(b.held(), 0);
    }

    #[test]
    fn every_message_gets_its_own_part_of_the_result_or_the_batch_error_once() {
        let b = batcher(100 * weight(), 1 << 20);
        let (first, rx1) = add(&b, "T", "a");
        let (_, rx2) = add(&b, "T", "b");
        let gathered = b.take(&key("T"), first.started.unwrap()).unwrap();
        let result = SendResult {
            msg_id: "ID1,ID2".into(),
            offset_msg_id: "OFF1,OFF2".into(),
            queue_offset: 40,
            ..SendResult::default()
        };
        gathered.complete(Ok(result));
        let one = rx1.blocking_recv().unwrap().unwrap();
        let two = rx2.blocking_recv().unwrap().unwrap();
        assert_eq!(
            (
                one.msg_id.as_str(),
                one.offset_msg_id.as_str(),
                one.queue_offset
            ),
            ("ID1", "OFF1", 40)
        );
        assert_eq!(
            (
                two.msg_id.as_str(),
                two.offset_msg_id.as_str(),
                two.queue_offset
            ),
            ("ID2", "OFF2", 41)
        );

        let (first, rx1) = add(&b, "T", "a");
        let (_, rx2) = add(&b, "T", "b");
        let gathered = b.take(&key("T"), first.started.unwrap()).unwrap();
        gathered.complete(Err(Error::new(ErrorKind::Timeout, "late")));
        for rx in [rx1, rx2] {
            assert_eq!(
                rx.blocking_recv().unwrap().unwrap_err().kind(),
                ErrorKind::Timeout
            );
        }
        // A batch dropped unsent (its task panicked) closes every outcome: no one waits forever.
        let (first, rx) = add(&b, "T", "a");
        drop(b.take(&key("T"), first.started.unwrap()));
        assert!(rx.blocking_recv().is_err());
    }

    #[test]
    fn delayed_timer_retry_and_own_timeout_messages_go_alone() {
        let mut config = ProducerConfig::new("g");
        assert!(
            !AutoBatcher::accepts(&config, &Message::new("T", "x")),
            "off by default"
        );
        config.auto_batch = true;
        assert!(AutoBatcher::accepts(&config, &Message::new("T", "x")));
        let mut delayed = Message::new("T", "x");
        delayed.delay_level = Some(2);
        let mut timer = Message::new("T", "x");
        timer.deliver_time_ms = Some(1);
        let own = Message::new("T", "x").with_send_timeout(std::time::Duration::from_secs(1));
        let retry = Message::new("%RETRY%g", "x");
        let big = Message::new("T", vec![0u8; config.batch_max_bytes]);
        for msg in [delayed, timer, own, retry, big] {
            assert!(!AutoBatcher::accepts(&config, &msg), "{msg:?}");
        }
    }
}
