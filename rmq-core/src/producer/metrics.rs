//! A producer's statistics: the counters and histograms an operator puts on a dashboard, read
//! as a [`Stats`] snapshot (`Producer::stats`), handed to a statistics callback every
//! `statistics_interval_ms`, and exported through OpenTelemetry with the `opentelemetry` feature.
//!
//! Recording costs a few relaxed atomic adds per send and per attempt, plus a read-locked map
//! lookup for the attempt's broker; with `enable_metrics=false` nothing is recorded.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::Duration;

use parking_lot::RwLock;
use serde::Serialize;

use crate::client::InstanceCounts;
use crate::error::{ErrorKind, Result};
use crate::producer::{SendResult, SendStatus};

/// Upper bounds (ms) of the send latency histogram's buckets; one more bucket takes the rest.
pub const LATENCY_BUCKETS_MS: [u64; 7] = [1, 5, 10, 20, 50, 200, 500];

/// How a send was made, as the statistics name it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SendForm {
    Sync,
    Async,
    Oneway,
    /// A batch, sync or async.
    Batch,
}

impl SendForm {
    const ALL: [SendForm; 4] = [
        SendForm::Sync,
        SendForm::Async,
        SendForm::Oneway,
        SendForm::Batch,
    ];

    pub fn name(self) -> &'static str {
        match self {
            SendForm::Sync => "sync",
            SendForm::Async => "async",
            SendForm::Oneway => "oneway",
            SendForm::Batch => "batch",
        }
    }
}

const STATUSES: [SendStatus; 4] = [
    SendStatus::SendOk,
    SendStatus::FlushDiskTimeout,
    SendStatus::FlushSlaveTimeout,
    SendStatus::SlaveNotAvailable,
];
/// A oneway request written to its connection: the only success a oneway send knows.
const WRITTEN: usize = STATUSES.len();
/// Outcomes: the send statuses, WRITTEN, then one per error kind.
const OUTCOMES: usize = WRITTEN + 1 + ErrorKind::ALL.len();

fn outcome_index(outcome: Result<Option<SendStatus>, ErrorKind>) -> usize {
    match outcome {
        Ok(Some(status)) => status as usize,
        Ok(None) => WRITTEN,
        Err(kind) => WRITTEN + 1 + ErrorKind::ALL.iter().position(|k| *k == kind).unwrap_or(0),
    }
}

fn outcome_name(index: usize) -> &'static str {
    match index {
        i if i < WRITTEN => STATUSES[i].name(),
        WRITTEN => "WRITTEN",
        i => ErrorKind::ALL[i - WRITTEN - 1].name(),
    }
}

/// A latency histogram whose buckets are [`LATENCY_BUCKETS_MS`] (cumulative, as Prometheus'),
/// in a snapshot.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct LatencyHistogram {
    /// `buckets[i]`: attempts that took at most `LATENCY_BUCKETS_MS[i]` ms.
    pub buckets: Vec<u64>,
    /// All attempts (the `+Inf` bucket).
    pub count: u64,
    /// Their total time, ms.
    pub sum_ms: f64,
}

/// What a producer did since it was created: a snapshot. In JSON (C's `rmq_producer_stats`,
/// the statistics callbacks) the fields keep these names.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Stats {
    /// Sends that ended, by form (`sync`, `async`, `oneway`, `batch`) then outcome: the broker's
    /// status (`SEND_OK`, `FLUSH_DISK_TIMEOUT`, ...), `WRITTEN` for a oneway send, or the error
    /// kind that failed it (`TIMEOUT`, `NO_ROUTE`, ...); outcomes never seen are left out.
    /// Sends refused before the network (invalid message, backpressure) are not in it.
    pub sends: BTreeMap<&'static str, BTreeMap<&'static str, u64>>,
    /// Requests sent to brokers, the first attempt of each send and its retries.
    pub attempts: u64,
    /// Attempts after a send's first (a retry on the same or another broker).
    pub retries: u64,
    /// Message body bytes of every attempt (compressed size; retries count again).
    pub bytes_sent: u64,
    /// How long attempts took, by broker name, answered or failed.
    pub send_latency_ms: BTreeMap<String, LatencyHistogram>,
    /// Async sends and requests admitted whose callbacks have not returned yet, and their body
    /// bytes (what `max_async_in_flight` and `max_async_in_flight_bytes` bound).
    pub in_flight: u64,
    pub in_flight_bytes: u64,
    /// Async calls that found the bounds full and waited for room (`backpressure=block`), and
    /// those refused with `TOO_MANY_REQUESTS` (at once with `backpressure=fail`, or after
    /// waiting their whole timeout).
    pub backpressure_waits: u64,
    pub backpressure_refusals: u64,
    /// Route lookups asked of the name servers, and those that failed (client instance-wide:
    /// every producer of one client id shares them).
    pub route_refreshes: u64,
    pub route_refresh_failures: u64,
    /// Connections to name servers and brokers opened, and lost without the client closing them
    /// (closed by the peer, a failed read or write, an undecodable frame, given up as hung);
    /// instance-wide as the routes.
    pub connections_opened: u64,
    pub connections_lost: u64,
    /// Brokers the fault strategy avoids now (`latency_fault_tolerance`).
    pub isolated_brokers: Vec<String>,
}

#[derive(Default)]
struct Histogram {
    buckets: [AtomicU64; LATENCY_BUCKETS_MS.len()],
    count: AtomicU64,
    sum_us: AtomicU64,
}

impl Histogram {
    fn record(&self, latency: Duration) {
        let ms = latency.as_secs_f64() * 1000.0;
        if let Some(first) = LATENCY_BUCKETS_MS.iter().position(|le| ms <= *le as f64) {
            for bucket in &self.buckets[first..] {
                bucket.fetch_add(1, Ordering::Relaxed);
            }
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        self.sum_us
            .fetch_add(latency.as_micros() as u64, Ordering::Relaxed);
    }

    fn snapshot(&self) -> LatencyHistogram {
        LatencyHistogram {
            buckets: self
                .buckets
                .iter()
                .map(|b| b.load(Ordering::Relaxed))
                .collect(),
            count: self.count.load(Ordering::Relaxed),
            sum_ms: self.sum_us.load(Ordering::Relaxed) as f64 / 1000.0,
        }
    }
}

/// One attempt's end, as [`AttemptObserver`]s see it.
pub struct AttemptRecord<'a> {
    pub topic: &'a str,
    pub client_id: &'a str,
    pub broker_name: &'a str,
    pub latency: Duration,
    pub succeeded: bool,
}

/// Sees each attempt as it ends (the OpenTelemetry instruments).
pub trait AttemptObserver: Send + Sync {
    fn attempt_ended(&self, record: &AttemptRecord<'_>);
}

/// The live counters of one producer.
pub struct ProducerMetrics {
    enabled: bool,
    sends: [[AtomicU64; OUTCOMES]; SendForm::ALL.len()],
    attempts: AtomicU64,
    retries: AtomicU64,
    bytes_sent: AtomicU64,
    in_flight_bytes: AtomicU64,
    backpressure_waits: AtomicU64,
    backpressure_refusals: AtomicU64,
    latency: RwLock<HashMap<String, Arc<Histogram>>>,
    observers: RwLock<Vec<Arc<dyn AttemptObserver>>>,
}

impl ProducerMetrics {
    pub fn new(enabled: bool) -> Self {
        ProducerMetrics {
            enabled,
            sends: std::array::from_fn(|_| std::array::from_fn(|_| AtomicU64::new(0))),
            attempts: AtomicU64::new(0),
            retries: AtomicU64::new(0),
            bytes_sent: AtomicU64::new(0),
            in_flight_bytes: AtomicU64::new(0),
            backpressure_waits: AtomicU64::new(0),
            backpressure_refusals: AtomicU64::new(0),
            latency: RwLock::new(HashMap::new()),
            observers: RwLock::new(Vec::new()),
        }
    }

    pub fn enabled(&self) -> bool {
        self.enabled
    }

    pub fn add_observer(&self, observer: Arc<dyn AttemptObserver>) {
        self.observers.write().push(observer);
    }

    fn send_ended(&self, form: SendForm, outcome: Result<Option<SendStatus>, ErrorKind>) {
        if self.enabled {
            self.sends[form as usize][outcome_index(outcome)].fetch_add(1, Ordering::Relaxed);
        }
    }

    /// A send that waited for its broker's answer ended with `result`.
    pub fn answered_send_ended(&self, form: SendForm, result: &Result<SendResult>) {
        self.send_ended(
            form,
            result
                .as_ref()
                .map(|r| Some(r.status))
                .map_err(|e| e.kind()),
        );
    }

    /// A oneway send ended: written, or failed.
    pub fn oneway_send_ended(&self, result: &Result<()>) {
        self.send_ended(
            SendForm::Oneway,
            result.as_ref().map(|_| None).map_err(|e| e.kind()),
        );
    }

    /// Attempt number `attempt` (0: the first) of a send ended after `latency`.
    pub fn attempt_ended(&self, record: &AttemptRecord<'_>, attempt: u32, body_len: usize) {
        if !self.enabled {
            return;
        }
        self.attempts.fetch_add(1, Ordering::Relaxed);
        if attempt > 0 {
            self.retries.fetch_add(1, Ordering::Relaxed);
        }
        self.bytes_sent
            .fetch_add(body_len as u64, Ordering::Relaxed);
        let known = self.latency.read().get(record.broker_name).cloned();
        let histogram = known.unwrap_or_else(|| {
            self.latency
                .write()
                .entry(record.broker_name.to_string())
                .or_default()
                .clone()
        });
        histogram.record(record.latency);
        for observer in self.observers.read().iter() {
            observer.attempt_ended(record);
        }
    }

    pub fn in_flight_added(&self, bytes: usize) {
        self.in_flight_bytes
            .fetch_add(bytes as u64, Ordering::Relaxed);
    }

    pub fn in_flight_removed(&self, bytes: usize) {
        self.in_flight_bytes
            .fetch_sub(bytes as u64, Ordering::Relaxed);
    }

    pub fn backpressure_waited(&self) {
        if self.enabled {
            self.backpressure_waits.fetch_add(1, Ordering::Relaxed);
        }
    }

    pub fn backpressure_refused(&self) {
        if self.enabled {
            self.backpressure_refusals.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// The snapshot, with what only the caller knows: the async calls in flight, the client
    /// instance's counts and the isolated brokers. All zero and empty when metrics are off.
    pub fn snapshot(
        &self,
        in_flight: usize,
        instance: InstanceCounts,
        isolated_brokers: Vec<String>,
    ) -> Stats {
        if !self.enabled {
            return Stats::default();
        }
        let mut sends: BTreeMap<&'static str, BTreeMap<&'static str, u64>> = BTreeMap::new();
        for form in SendForm::ALL {
            for (index, count) in self.sends[form as usize].iter().enumerate() {
                let count = count.load(Ordering::Relaxed);
                if count > 0 {
                    sends
                        .entry(form.name())
                        .or_default()
                        .insert(outcome_name(index), count);
                }
            }
        }
        Stats {
            sends,
            attempts: self.attempts.load(Ordering::Relaxed),
            retries: self.retries.load(Ordering::Relaxed),
            bytes_sent: self.bytes_sent.load(Ordering::Relaxed),
            send_latency_ms: self
                .latency
                .read()
                .iter()
                .map(|(broker, histogram)| (broker.clone(), histogram.snapshot()))
                .collect(),
            in_flight: in_flight as u64,
            in_flight_bytes: self.in_flight_bytes.load(Ordering::Relaxed),
            backpressure_waits: self.backpressure_waits.load(Ordering::Relaxed),
            backpressure_refusals: self.backpressure_refusals.load(Ordering::Relaxed),
            route_refreshes: instance.route_refreshes,
            route_refresh_failures: instance.route_refresh_failures,
            connections_opened: instance.connections_opened,
            connections_lost: instance.connections_lost,
            isolated_brokers,
        }
    }
}

/// Calls `report` every `interval` on a thread of its own (a slow statistics callback must not
/// hold up a runtime thread) until `report` returns false or the returned sender is dropped.
pub fn spawn_reporter(
    interval: Duration,
    report: impl Fn() -> bool + Send + 'static,
) -> Option<mpsc::Sender<()>> {
    let (stop, stopped) = mpsc::channel::<()>();
    let spawned = std::thread::Builder::new()
        .name("rmq-stats".into())
        .spawn(move || {
            while let Err(RecvTimeoutError::Timeout) = stopped.recv_timeout(interval) {
                if !report() {
                    break;
                }
            }
        });
    match spawned {
        Ok(_) => Some(stop),
        Err(e) => {
            tracing::error!(error = %e, "statistics thread not started; the callback will not be called");
            None
        }
    }
}

impl Stats {
    /// Sends of `form` that ended with `outcome` (a status name, `WRITTEN` or an error kind's).
    pub fn sends_of(&self, form: &str, outcome: &str) -> u64 {
        self.sends
            .get(form)
            .and_then(|outcomes| outcomes.get(outcome))
            .copied()
            .unwrap_or(0)
    }

    /// The snapshot as JSON, the form C and the statistics callbacks of the bindings get.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|_| "{}".to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Error;

    #[test]
    fn outcomes_are_counted_by_form_and_named_as_everywhere_else() {
        let metrics = ProducerMetrics::new(true);
        metrics.answered_send_ended(SendForm::Sync, &Ok(SendResult::default()));
        metrics.answered_send_ended(SendForm::Sync, &Ok(SendResult::default()));
        metrics.answered_send_ended(
            SendForm::Async,
            &Err(Error::new(ErrorKind::Timeout, "late")),
        );
        metrics.oneway_send_ended(&Ok(()));
        let stats = metrics.snapshot(0, InstanceCounts::default(), Vec::new());
        assert_eq!(stats.sends_of("sync", "SEND_OK"), 2);
        assert_eq!(stats.sends_of("async", "TIMEOUT"), 1);
        assert_eq!(stats.sends_of("oneway", "WRITTEN"), 1);
        assert!(!stats.sends.contains_key("batch"));
        for (index, kind) in ErrorKind::ALL.iter().enumerate() {
            assert_eq!(outcome_name(outcome_index(Err(*kind))), kind.name());
            assert_eq!(outcome_index(Err(*kind)), WRITTEN + 1 + index);
        }
    }

    #[test]
    fn latency_buckets_are_cumulative_per_broker() {
        let metrics = ProducerMetrics::new(true);
        for (broker, ms, attempt) in [("a", 3, 0), ("a", 30, 1), ("b", 900, 0)] {
            let record = AttemptRecord {
                topic: "T",
                client_id: "c",
                broker_name: broker,
                latency: Duration::from_millis(ms),
                succeeded: true,
            };
            metrics.attempt_ended(&record, attempt, 10);
        }
        let stats = metrics.snapshot(0, InstanceCounts::default(), Vec::new());
        assert_eq!(
            (stats.attempts, stats.retries, stats.bytes_sent),
            (3, 1, 30)
        );
        let a = &stats.send_latency_ms["a"];
        assert_eq!(a.buckets, vec![0, 1, 1, 1, 2, 2, 2]);
        assert_eq!((a.count, a.sum_ms), (2, 33.0));
        let b = &stats.send_latency_ms["b"];
        assert_eq!((b.buckets.iter().sum::<u64>(), b.count), (0, 1));
    }

    #[test]
    fn nothing_is_recorded_when_metrics_are_off() {
        let metrics = ProducerMetrics::new(false);
        metrics.answered_send_ended(SendForm::Sync, &Ok(SendResult::default()));
        metrics.backpressure_refused();
        let stats = metrics.snapshot(5, InstanceCounts::default(), vec!["x".into()]);
        assert_eq!(stats, Stats::default());
    }
}
