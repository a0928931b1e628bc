//! Message trace, wire-compatible with Java's (`TraceDataEncoder`, `AsyncTraceDispatcher`):
//! every send the broker answers becomes a Pub record, every commit or rollback an
//! EndTransaction record; a dispatcher task sends them in batches, async, to the trace topic
//! through the producer's client instance. Tracing never slows or fails a user's send: a full
//! queue drops records and a failed trace send is only logged; both are counted.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use parking_lot::Mutex;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::client::ClientInstance;
use crate::producer::ProducerConfig;
use crate::producer::fault::FaultStrategy;
use crate::producer::hook::{Hooks, SendContext, SendHook, SendOutcome};
use crate::producer::metrics::ProducerMetrics;
use crate::producer::send::{Mode, Prepared, Sender};
use crate::producer::{LocalTransactionState, SendStatus};
use crate::protocol::message::Message;
use crate::runtime;

/// Records waiting to be sent (Java 5.3.3's context queue).
const QUEUE_CAPACITY: usize = 2048;
/// Records per flush (Java's `traceMsgBatchNum`).
const BATCH_RECORDS: usize = 10;
/// A flush comes at the latest this long after the previous one.
const FLUSH_INTERVAL: Duration = Duration::from_secs(5);
/// A trace message body is cut once it reaches this many bytes (Java: 128000 chars).
const MAX_BODY: usize = 128_000;
/// The trace producer's send timeout, as Java's.
const TRACE_SEND_TIMEOUT: Duration = Duration::from_millis(5000);

/// The region a record names when the broker names none (Java's `DefaultRegion`).
pub(crate) const DEFAULT_REGION: &str = "DefaultRegion";

const CONTENT_SEPARATOR: char = '\u{1}';
const RECORD_END: char = '\u{2}';

/// Java's `MessageType` ordinals, as a Pub record writes them.
pub(crate) mod message_type {
    pub const NORMAL: u8 = 0;
    pub const TRANSACTION_HALF: u8 = 1;
    pub const TRANSACTION_COMMIT: u8 = 2;
    pub const DELAY: u8 = 3;
}

/// What a Pub record adds to the fields every record has.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct PubFacts {
    pub body_len: usize,
    pub cost_ms: u64,
    pub msg_type: u8,
    pub offset_msg_id: String,
    pub success: bool,
}

/// What an EndTransaction record adds.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct EndTransactionFacts {
    pub transaction_id: Option<String>,
    pub state: LocalTransactionState,
    pub from_check: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum RecordKind {
    Pub(PubFacts),
    EndTransaction(EndTransactionFacts),
}

/// One trace record (Java's `TraceContext` with its one `TraceBean`).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct TraceRecord {
    pub timestamp_ms: i64,
    pub region_id: String,
    pub group: String,
    /// The business topic as the user named it.
    pub topic: String,
    pub msg_id: String,
    pub tags: Option<String>,
    /// Space-separated, as on the wire.
    pub keys: Option<String>,
    pub store_host: String,
    pub kind: RecordKind,
}

impl TraceRecord {
    /// Appends the record in `TraceDataEncoder`'s layout: fields separated by 0x01, the record
    /// ended by 0x02; a missing tag or key prints as `null`, as Java's string concatenation does.
    pub fn encode_into(&self, out: &mut String) {
        let kind = match self.kind {
            RecordKind::Pub(_) => "Pub",
            RecordKind::EndTransaction(_) => "EndTransaction",
        };
        let mut fields: Vec<String> = vec![
            kind.to_string(),
            self.timestamp_ms.to_string(),
            self.region_id.clone(),
            self.group.clone(),
            self.topic.clone(),
            self.msg_id.clone(),
            self.tags.clone().unwrap_or_else(|| "null".into()),
            self.keys.clone().unwrap_or_else(|| "null".into()),
            self.store_host.clone(),
        ];
        match &self.kind {
            RecordKind::Pub(facts) => fields.extend([
                facts.body_len.to_string(),
                facts.cost_ms.to_string(),
                facts.msg_type.to_string(),
                facts.offset_msg_id.clone(),
                facts.success.to_string(),
            ]),
            RecordKind::EndTransaction(facts) => fields.extend([
                message_type::TRANSACTION_COMMIT.to_string(),
                facts
                    .transaction_id
                    .clone()
                    .unwrap_or_else(|| "null".into()),
                facts.state.name().to_string(),
                facts.from_check.to_string(),
            ]),
        }
        for (i, field) in fields.iter().enumerate() {
            if i > 0 {
                out.push(CONTENT_SEPARATOR);
            }
            out.push_str(field);
        }
        out.push(RECORD_END);
    }

    /// The keys the trace message is indexed by: this record's msgId and its user keys.
    fn index_keys(&self) -> impl Iterator<Item = &str> {
        std::iter::once(self.msg_id.as_str()).chain(
            self.keys
                .iter()
                .flat_map(|keys| keys.split(' ').filter(|key| !key.is_empty())),
        )
    }
}

/// Trace records a producer lost, since it was created.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct TraceStats {
    /// Records sent to the trace topic (the broker answered).
    pub sent: u64,
    /// Records dropped because the trace queue was full (or shut).
    pub dropped: u64,
    /// Records in trace messages whose send failed.
    pub failed: u64,
}

#[derive(Default)]
struct Counters {
    sent: AtomicU64,
    dropped: AtomicU64,
    failed: AtomicU64,
}

/// The trace of one producer: its record queue and the dispatcher that empties it. Dropping it
/// (a producer dropped without shutdown) closes the queue, which ends the dispatcher.
pub(crate) struct Tracer {
    records: mpsc::Sender<TraceRecord>,
    waiting: Mutex<Option<mpsc::Receiver<TraceRecord>>>,
    trace_producer: Arc<TraceProducer>,
    warned_full: AtomicBool,
    stop: watch::Sender<bool>,
    dispatcher: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

/// What sends trace messages: group `_INNER_TRACE_PRODUCER-<group>`, its own fault strategy.
struct TraceProducer {
    config: ProducerConfig,
    fault: FaultStrategy,
    counters: Counters,
}

impl Tracer {
    pub fn new(producer: &ProducerConfig) -> Arc<Tracer> {
        let (records, waiting) = mpsc::channel(QUEUE_CAPACITY);
        let mut config = producer.clone();
        config.group = format!("_INNER_TRACE_PRODUCER-{}", producer.group);
        config.enable_msg_trace = false;
        config.auto_batch = false;
        config.namespace = None;
        config.send_timeout = TRACE_SEND_TIMEOUT;
        Arc::new(Tracer {
            records,
            waiting: Mutex::new(Some(waiting)),
            trace_producer: Arc::new(TraceProducer {
                fault: FaultStrategy::new(config.latency_fault_tolerance),
                config,
                counters: Counters::default(),
            }),
            warned_full: AtomicBool::new(false),
            stop: watch::Sender::new(false),
            dispatcher: Mutex::new(None),
        })
    }

    pub fn stats(&self) -> TraceStats {
        let counters = &self.trace_producer.counters;
        TraceStats {
            sent: counters.sent.load(Ordering::Relaxed),
            dropped: counters.dropped.load(Ordering::Relaxed),
            failed: counters.failed.load(Ordering::Relaxed),
        }
    }

    fn trace_topic(&self) -> &str {
        &self.trace_producer.config.trace_topic
    }

    /// Queues `record`; a full queue drops it (counted, warned about once).
    pub fn record(&self, record: TraceRecord) {
        if self.records.try_send(record).is_err() {
            let dropped = &self.trace_producer.counters.dropped;
            dropped.fetch_add(1, Ordering::Relaxed);
            if !self.warned_full.swap(true, Ordering::Relaxed) {
                tracing::warn!(
                    capacity = QUEUE_CAPACITY,
                    "trace queue full: trace records are dropped (counted in trace_stats)"
                );
            }
        }
    }

    /// Starts the dispatcher on the producer's client instance (on the library runtime).
    pub fn start(&self, client: Arc<ClientInstance>) {
        let Some(waiting) = self.waiting.lock().take() else {
            return;
        };
        let dispatch = dispatch(
            self.trace_producer.clone(),
            client,
            waiting,
            self.stop.subscribe(),
        );
        *self.dispatcher.lock() = Some(runtime::spawn(dispatch));
    }

    /// Flushes what is queued and waits for the trace sends, until `deadline`.
    pub async fn shutdown(&self, deadline: Instant) {
        self.stop.send_replace(true);
        let handle = self.dispatcher.lock().take();
        if let Some(handle) = handle {
            if tokio::time::timeout_at(deadline, handle).await.is_err() {
                tracing::warn!("shutdown: trace records still unsent at the shutdown timeout");
            }
        }
    }
}

/// Takes records off the queue and sends them, [`BATCH_RECORDS`] at a time or every
/// [`FLUSH_INTERVAL`]; on stop (or once the queue is closed) sends the rest and waits for them.
async fn dispatch(
    producer: Arc<TraceProducer>,
    client: Arc<ClientInstance>,
    mut waiting: mpsc::Receiver<TraceRecord>,
    mut stop: watch::Receiver<bool>,
) {
    let mut sends = JoinSet::new();
    let mut batch: Vec<TraceRecord> = Vec::with_capacity(BATCH_RECORDS);
    let mut next_flush = Instant::now() + FLUSH_INTERVAL;
    loop {
        let stopping = tokio::select! {
            record = waiting.recv() => match record {
                Some(record) => {
                    batch.push(record);
                    false
                }
                None => true,
            },
            _ = tokio::time::sleep_until(next_flush) => false,
            _ = stop.wait_for(|stop| *stop) => true,
        };
        if stopping {
            waiting.close();
            while let Some(record) = waiting.recv().await {
                batch.push(record);
            }
            for chunk in batch.chunks(BATCH_RECORDS) {
                flush(&producer, &client, chunk, &mut sends);
            }
            while sends.join_next().await.is_some() {}
            return;
        }
        if batch.len() >= BATCH_RECORDS || Instant::now() >= next_flush {
            flush(&producer, &client, &batch, &mut sends);
            batch.clear();
            next_flush = Instant::now() + FLUSH_INTERVAL;
        }
        // Finished sends are reaped here so that the set stays small.
        while sends.try_join_next().is_some() {}
    }
}

/// Sends `records` as trace messages, one or more per business topic.
fn flush(
    producer: &Arc<TraceProducer>,
    client: &Arc<ClientInstance>,
    records: &[TraceRecord],
    sends: &mut JoinSet<()>,
) {
    for message in trace_messages(records, &producer.config.trace_topic) {
        let (producer, client) = (producer.clone(), client.clone());
        sends.spawn_on(
            async move { producer.send(&client, message).await },
            runtime::handle(),
        );
    }
}

static UNCOUNTED: once_cell::sync::Lazy<ProducerMetrics> =
    once_cell::sync::Lazy::new(|| ProducerMetrics::new(false));

impl TraceProducer {
    async fn send(&self, client: &Arc<ClientInstance>, message: TraceMessage) {
        let sender = Sender {
            config: &self.config,
            client,
            fault: &self.fault,
            // Trace messages are not traced, nor counted in the producer's statistics.
            hooks: Hooks::default(),
            metrics: &UNCOUNTED,
        };
        let sent = match Prepared::new(&message.message, &self.config) {
            Ok(prepared) => sender.send(&prepared, Mode::Async).await,
            Err(e) => Err(e),
        };
        let records = message.records as u64;
        match sent {
            Ok(_) => {
                self.counters.sent.fetch_add(records, Ordering::Relaxed);
            }
            Err(e) => {
                self.counters.failed.fetch_add(records, Ordering::Relaxed);
                tracing::warn!(topic = %self.config.trace_topic, records, error = %e, "trace message not sent");
            }
        }
    }
}

struct TraceMessage {
    message: Message,
    records: usize,
}

/// The trace messages of `records`: grouped by business topic, each body cut at [`MAX_BODY`],
/// KEYS the records' msgIds and user keys.
fn trace_messages(records: &[TraceRecord], trace_topic: &str) -> Vec<TraceMessage> {
    let mut by_topic: Vec<(&str, Vec<&TraceRecord>)> = Vec::new();
    let mut index: HashMap<&str, usize> = HashMap::new();
    for record in records {
        let slot = *index.entry(record.topic.as_str()).or_insert_with(|| {
            by_topic.push((record.topic.as_str(), Vec::new()));
            by_topic.len() - 1
        });
        by_topic[slot].1.push(record);
    }
    let mut messages = Vec::new();
    for (_, group) in by_topic {
        let mut body = String::new();
        let mut keys: Vec<String> = Vec::new();
        let mut count = 0;
        for record in group {
            record.encode_into(&mut body);
            for key in record.index_keys() {
                if !keys.iter().any(|k| k == key) {
                    keys.push(key.to_string());
                }
            }
            count += 1;
            if body.len() >= MAX_BODY {
                messages.push(trace_message(trace_topic, &mut body, &mut keys, &mut count));
            }
        }
        if count > 0 {
            messages.push(trace_message(trace_topic, &mut body, &mut keys, &mut count));
        }
    }
    messages
}

fn trace_message(
    trace_topic: &str,
    body: &mut String,
    keys: &mut Vec<String>,
    count: &mut usize,
) -> TraceMessage {
    let mut message = Message::new(trace_topic, std::mem::take(body).into_bytes());
    message.keys = std::mem::take(keys);
    TraceMessage {
        message,
        records: std::mem::take(count),
    }
}

/// Turns each answered send into a Pub record (Java's `SendMessageTraceHookImpl`).
pub(crate) struct TraceHook(pub Arc<Tracer>);

impl SendHook for TraceHook {
    fn after_send(&self, ctx: &SendContext<'_>, latency: Duration, outcome: SendOutcome<'_>) {
        // Only sends with a SendResult are traced; a broker that says trace off is obeyed;
        // sends to the trace topic itself are not traced.
        let SendOutcome::Stored(result) = outcome else {
            return;
        };
        if !result.trace_on || ctx.oneway || ctx.queue.topic == self.0.trace_topic() {
            return;
        }
        let cost_ms = latency.as_millis() as u64;
        self.0.record(TraceRecord {
            timestamp_ms: now_millis() - cost_ms as i64,
            region_id: result.region_id.clone(),
            group: ctx.group.to_string(),
            topic: ctx.queue.topic.clone(),
            msg_id: result.msg_id.clone(),
            tags: ctx.tags.map(str::to_string),
            keys: ctx.keys.map(str::to_string),
            store_host: ctx.broker_addr.to_string(),
            kind: RecordKind::Pub(PubFacts {
                body_len: ctx.body_len,
                cost_ms,
                msg_type: ctx.msg_type,
                offset_msg_id: result.offset_msg_id.clone(),
                success: result.status == SendStatus::SendOk,
            }),
        });
    }
}

pub(crate) fn now_millis() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::producer::SendResult;
    use crate::protocol::route::MessageQueue;

    fn record(kind: RecordKind) -> TraceRecord {
        TraceRecord {
            timestamp_ms: 1_700_000_000_000,
            region_id: "DefaultRegion".into(),
            group: "g".into(),
            topic: "T".into(),
            msg_id: "ID1".into(),
            tags: None,
            keys: Some("k1 k2".into()),
            store_host: "127.0.0.1:10911".into(),
            kind,
        }
    }

    #[test]
    fn a_pub_record_has_java_s_fourteen_fields_and_null_for_a_missing_tag() {
        let mut out = String::new();
        record(RecordKind::Pub(PubFacts {
            body_len: 5,
            cost_ms: 3,
            msg_type: message_type::NORMAL,
            offset_msg_id: "OFF".into(),
            success: true,
        }))
        .encode_into(&mut out);
        assert_eq!(
            out,
            "Pub\u{1}1700000000000\u{1}DefaultRegion\u{1}g\u{1}T\u{1}ID1\u{1}null\u{1}k1 k2\u{1}\
             127.0.0.1:10911\u{1}5\u{1}3\u{1}0\u{1}OFF\u{1}true\u{2}"
        );
        assert_eq!(out.trim_end_matches('\u{2}').split('\u{1}').count(), 14);
    }

    #[test]
    fn an_end_transaction_record_has_thirteen_fields_with_type_two_and_the_state_name() {
        let mut out = String::new();
        record(RecordKind::EndTransaction(EndTransactionFacts {
            transaction_id: None,
            state: LocalTransactionState::Unknown,
            from_check: true,
        }))
        .encode_into(&mut out);
        assert_eq!(
            out,
            "EndTransaction\u{1}1700000000000\u{1}DefaultRegion\u{1}g\u{1}T\u{1}ID1\u{1}null\u{1}\
             k1 k2\u{1}127.0.0.1:10911\u{1}2\u{1}null\u{1}UNKNOW\u{1}true\u{2}"
        );
    }

    /// What the hook queues for one answered attempt.
    fn queued_after(result: &SendResult, oneway: bool, topic: &str) -> usize {
        let tracer = Tracer::new(&ProducerConfig::new("g"));
        let queue = MessageQueue {
            topic: topic.into(),
            ..MessageQueue::default()
        };
        let ctx = SendContext {
            group: "g",
            queue: &queue,
            broker_addr: "127.0.0.1:10911",
            msg_id: "ID",
            attempt: 0,
            batch: false,
            oneway,
            tags: None,
            keys: None,
            body_len: 1,
            msg_type: message_type::NORMAL,
        };
        TraceHook(tracer.clone()).after_send(&ctx, Duration::ZERO, SendOutcome::Stored(result));
        tracer
            .waiting
            .lock()
            .as_ref()
            .map_or(0, |waiting| waiting.len())
    }

    #[test]
    fn no_record_when_the_broker_says_trace_off_nor_for_the_trace_topic_itself() {
        let traced = SendResult {
            trace_on: true,
            ..SendResult::default()
        };
        assert_eq!(queued_after(&traced, false, "T"), 1);
        let off = SendResult {
            trace_on: false,
            ..SendResult::default()
        };
        assert_eq!(queued_after(&off, false, "T"), 0);
        assert_eq!(queued_after(&traced, false, "RMQ_SYS_TRACE_TOPIC"), 0);
        assert_eq!(queued_after(&traced, true, "T"), 0);
    }

    #[test]
    fn a_full_queue_drops_records_and_counts_them() {
        let tracer = Tracer::new(&ProducerConfig::new("g"));
        let end = RecordKind::EndTransaction(EndTransactionFacts {
            transaction_id: None,
            state: LocalTransactionState::Commit,
            from_check: false,
        });
        for _ in 0..QUEUE_CAPACITY + 2 {
            tracer.record(record(end.clone()));
        }
        assert_eq!(
            tracer.stats(),
            TraceStats {
                sent: 0,
                dropped: 2,
                failed: 0
            }
        );
    }

    #[test]
    fn trace_messages_never_mix_topics_and_are_keyed_by_msg_ids_and_user_keys() {
        let pub_facts = RecordKind::Pub(PubFacts {
            body_len: 1,
            cost_ms: 1,
            msg_type: 0,
            offset_msg_id: "O".into(),
            success: true,
        });
        let mut other = record(pub_facts.clone());
        other.topic = "U".into();
        other.msg_id = "ID2".into();
        let mut same = record(pub_facts.clone());
        same.msg_id = "ID3".into();
        let messages = trace_messages(&[record(pub_facts), other, same], "RMQ_SYS_TRACE_TOPIC");
        assert_eq!(messages.len(), 2);
        assert_eq!(messages[0].records, 2);
        assert_eq!(messages[0].message.keys, ["ID1", "k1", "k2", "ID3"]);
        assert_eq!(messages[0].message.tags, None);
        assert_eq!(messages[1].message.keys, ["ID2", "k1", "k2"]);
        assert_eq!(messages[1].message.topic, "RMQ_SYS_TRACE_TOPIC");
    }
}
