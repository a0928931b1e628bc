//! The producer's statistics as OpenTelemetry instruments (cargo feature `opentelemetry`), on
//! the meter the application gives: the send latency histogram under the 5.x clients' name
//! `rocketmq_send_cost_time`, the rest as `rocketmq_producer_*` observable instruments read
//! from [`Stats`] at each collection.

use std::sync::{Arc, Weak};

use opentelemetry::KeyValue;
use opentelemetry::metrics::{AsyncInstrument, Histogram, Meter};

use super::metrics::{AttemptObserver, AttemptRecord, LATENCY_BUCKETS_MS, Stats};
use super::{Inner, Producer};

/// `rocketmq_send_cost_time`: each attempt, with the 5.x clients' attributes.
struct SendCostTime(Histogram<f64>);

impl AttemptObserver for SendCostTime {
    fn attempt_ended(&self, record: &AttemptRecord<'_>) {
        let status = if record.succeeded {
            "success"
        } else {
            "failure"
        };
        self.0.record(
            record.latency.as_secs_f64() * 1000.0,
            &[
                KeyValue::new("topic", record.topic.to_string()),
                KeyValue::new("client_id", record.client_id.to_string()),
                KeyValue::new("invocation_status", status),
            ],
        );
    }
}

/// A counter or gauge read from the statistics: its name, meaning, and how to read it.
type Reading = (&'static str, &'static str, fn(&Stats) -> u64);

const COUNTERS: [Reading; 9] = [
    (
        "rocketmq_producer_attempts",
        "requests sent to brokers, retries included",
        |s| s.attempts,
    ),
    (
        "rocketmq_producer_retries",
        "attempts after a send's first",
        |s| s.retries,
    ),
    (
        "rocketmq_producer_bytes_sent",
        "message body bytes of every attempt",
        |s| s.bytes_sent,
    ),
    (
        "rocketmq_producer_backpressure_waits",
        "async calls that waited for room",
        |s| s.backpressure_waits,
    ),
    (
        "rocketmq_producer_backpressure_refusals",
        "async calls refused with TOO_MANY_REQUESTS",
        |s| s.backpressure_refusals,
    ),
    (
        "rocketmq_producer_route_refreshes",
        "route lookups asked of the name servers",
        |s| s.route_refreshes,
    ),
    (
        "rocketmq_producer_route_refresh_failures",
        "route lookups that failed",
        |s| s.route_refresh_failures,
    ),
    (
        "rocketmq_producer_connections_opened",
        "connections opened",
        |s| s.connections_opened,
    ),
    (
        "rocketmq_producer_connections_lost",
        "connections lost without the client closing them",
        |s| s.connections_lost,
    ),
];

const GAUGES: [Reading; 3] = [
    (
        "rocketmq_producer_in_flight",
        "async calls whose callbacks have not returned",
        |s| s.in_flight,
    ),
    (
        "rocketmq_producer_in_flight_bytes",
        "body bytes of those calls",
        |s| s.in_flight_bytes,
    ),
    (
        "rocketmq_producer_isolated_brokers",
        "brokers the fault strategy avoids now",
        |s| s.isolated_brokers.len() as u64,
    ),
];

/// The callback of an instrument that observes `read` of the statistics, with `group`.
fn reading(
    inner: &Weak<Inner>,
    group: &KeyValue,
    read: fn(&Stats) -> u64,
) -> impl Fn(&dyn AsyncInstrument<u64>) + Send + Sync + 'static {
    let (inner, group) = (inner.clone(), group.clone());
    move |observer| {
        if let Some(stats) = stats_of(&inner) {
            observer.observe(read(&stats), std::slice::from_ref(&group));
        }
    }
}

/// The statistics of the producer behind `inner`, if it still exists.
fn stats_of(inner: &Weak<Inner>) -> Option<Stats> {
    inner.upgrade().map(|inner| inner.stats())
}

impl Producer {
    /// Records this producer's statistics on `meter`, every instrument with the attribute
    /// `producer_group`: `rocketmq_send_cost_time` (histogram, ms, per attempt, buckets as the
    /// 5.x clients'), `rocketmq_producer_sends` (by `form` and `outcome`), and the counters and
    /// gauges of [`Stats`] as `rocketmq_producer_<field>`. The instruments hold the producer
    /// weakly: they go quiet once it is dropped.
    pub fn register_opentelemetry(&self, meter: &Meter) {
        let histogram = meter
            .f64_histogram("rocketmq_send_cost_time")
            .with_unit("ms")
            .with_description("how long each send attempt took")
            .with_boundaries(LATENCY_BUCKETS_MS.iter().map(|ms| *ms as f64).collect())
            .build();
        self.add_attempt_observer(Arc::new(SendCostTime(histogram)));

        let group = KeyValue::new("producer_group", self.inner.config.group.clone());
        let inner = Arc::downgrade(&self.inner);
        let (sends_of, sends_group) = (inner.clone(), group.clone());
        meter
            .u64_observable_counter("rocketmq_producer_sends")
            .with_description("sends that ended, by form and outcome")
            .with_callback(move |observer| {
                let Some(stats) = stats_of(&sends_of) else {
                    return;
                };
                for (form, outcomes) in &stats.sends {
                    for (outcome, count) in outcomes {
                        let attributes = [
                            sends_group.clone(),
                            KeyValue::new("form", *form),
                            KeyValue::new("outcome", *outcome),
                        ];
                        observer.observe(*count, &attributes);
                    }
                }
            })
            .build();
        for (name, description, read) in COUNTERS {
            meter
                .u64_observable_counter(name)
                .with_description(description)
                .with_callback(reading(&inner, &group, read))
                .build();
        }
        for (name, description, read) in GAUGES {
            meter
                .u64_observable_gauge(name)
                .with_description(description)
                .with_callback(reading(&inner, &group, read))
                .build();
        }
    }
}
