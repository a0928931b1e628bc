//! The producer's statistics (`Producer::stats`, the statistics callback) against what a test
//! did: sends of each form on the real cluster (read back by the Java reader), refusals under
//! backpressure, and a retry after a dead broker (an in-process fake: a real broker cannot be
//! made to refuse connections for one send only).

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use parking_lot::Mutex;
use rmq_core::producer::Stats;
use rmq_core::{ErrorKind, Message, Producer, ProducerConfig, RoomWait};
use support::fake::{FakeNameServer, SlowBroker};
use support::{create_topic, eventually, producer, read_topic, unique_group, unique_topic};

fn assert_latency_counts_every_attempt(stats: &Stats) {
    let counted: u64 = stats.send_latency_ms.values().map(|h| h.count).sum();
    assert_eq!(counted, stats.attempts, "{stats:?}");
    for histogram in stats.send_latency_ms.values() {
        assert!(
            histogram.buckets.windows(2).all(|w| w[0] <= w[1]),
            "{histogram:?}"
        );
        assert!(histogram.buckets.last().copied().unwrap_or(0) <= histogram.count);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_statistics_and_their_callback_count_each_form_of_send() {
    let topic = unique_topic("Metrics");
    create_topic(&topic, 4);
    let producer = producer(
        &unique_group("metrics"),
        &[("statistics_interval_ms", "100")],
    );
    let reported: Arc<Mutex<Option<Stats>>> = Arc::default();
    let latest = reported.clone();
    producer.set_statistics_callback(Arc::new(move |stats: &Stats| {
        *latest.lock() = Some(stats.clone());
    }));
    producer.start().await.unwrap();

    let mut bytes = 0;
    for i in 0..20 {
        let body = format!("sync {i}");
        bytes += body.len() as u64;
        producer.send(Message::new(&topic, body)).await.unwrap();
    }
    let mut pending = Vec::new();
    for i in 0..10 {
        let body = format!("async body {i}");
        bytes += body.len() as u64;
        pending.push(producer.send_async(Message::new(&topic, body)));
    }
    for sent in pending {
        sent.await.unwrap();
    }
    for i in 0..5 {
        let body = format!("oneway {i}");
        bytes += body.len() as u64;
        producer
            .send_oneway(Message::new(&topic, body))
            .await
            .unwrap();
    }
    assert_eq!(read_topic(&topic, 35).len(), 35);

    let stats = producer.stats();
    assert_eq!(stats.sends_of("sync", "SEND_OK"), 20, "{stats:?}");
    assert_eq!(stats.sends_of("async", "SEND_OK"), 10, "{stats:?}");
    assert_eq!(stats.sends_of("oneway", "WRITTEN"), 5, "{stats:?}");
    // A healthy cluster on loopback: one attempt per send.
    assert_eq!((stats.attempts, stats.retries), (35, 0), "{stats:?}");
    assert_eq!(stats.bytes_sent, bytes);
    assert_latency_counts_every_attempt(&stats);
    assert_eq!((stats.in_flight, stats.in_flight_bytes), (0, 0));
    assert!(
        stats.route_refreshes >= 1 && stats.route_refresh_failures == 0,
        "{stats:?}"
    );
    assert!(
        stats.connections_opened >= 2 && stats.connections_lost == 0,
        "{stats:?}"
    );
    assert!(stats.isolated_brokers.is_empty());

    // The callback gets the same numbers on its next tick.
    assert!(eventually(5, || reported.lock().as_ref() == Some(&producer.stats())));
    let json: serde_json::Value = serde_json::from_str(&stats.to_json()).unwrap();
    assert_eq!(json["sends"]["sync"]["SEND_OK"], 20);

    // A panicking callback is contained: sends go on, and the next callback is called.
    let calls = Arc::new(AtomicUsize::new(0));
    let counted = calls.clone();
    producer.set_statistics_callback(Arc::new(move |_: &Stats| {
        counted.fetch_add(1, Ordering::Relaxed);
        panic!("statistics callback broke");
    }));
    assert!(eventually(5, || calls.load(Ordering::Relaxed) >= 2));
    producer
        .send(Message::new(&topic, "after the panic"))
        .await
        .unwrap();
    *reported.lock() = None;
    let latest = reported.clone();
    producer.set_statistics_callback(Arc::new(move |stats: &Stats| {
        *latest.lock() = Some(stats.clone());
    }));
    assert!(eventually(5, || reported
        .lock()
        .as_ref()
        .is_some_and(|s| s.sends_of("sync", "SEND_OK") == 21)));
    producer.shutdown().await.unwrap();
    assert_eq!(producer.stats().sends_of("sync", "SEND_OK"), 21);
}

#[tokio::test(flavor = "multi_thread")]
async fn refusals_under_backpressure_and_batches_are_counted() {
    let topic = unique_topic("MetricsRefused");
    create_topic(&topic, 4);
    let producer = producer(
        &unique_group("metrics_refused"),
        &[("max_async_in_flight", "1"), ("backpressure", "fail")],
    );
    producer.start().await.unwrap();
    let (answered, answers) = std::sync::mpsc::channel();
    let mut refused = 0;
    for i in 0..50 {
        let answered = answered.clone();
        let message = Message::new(&topic, format!("maybe {i}"));
        match producer.try_send_with_callback(message, RoomWait::Fail, move |r| {
            let _ = answered.send(r.is_ok());
        }) {
            Ok(()) => {}
            Err(e) => {
                assert_eq!(e.kind(), ErrorKind::TooManyRequests);
                refused += 1;
            }
        }
    }
    drop(answered);
    let stored = answers.iter().filter(|ok| *ok).count();
    assert!(refused > 0, "the bound of 1 never refused");
    producer
        .send_batch(vec![
            Message::new(&topic, "batch 0"),
            Message::new(&topic, "batch 1"),
            Message::new(&topic, "batch 2"),
        ])
        .await
        .unwrap();
    assert_eq!(read_topic(&topic, stored + 3).len(), stored + 3);

    let stats = producer.stats();
    assert_eq!(stats.backpressure_refusals, refused);
    assert_eq!(stats.backpressure_waits, 0);
    assert_eq!(
        stats.sends_of("async", "SEND_OK"),
        stored as u64,
        "{stats:?}"
    );
    assert_eq!(stats.sends_of("batch", "SEND_OK"), 1, "{stats:?}");
    producer.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_retry_after_a_dead_broker_is_an_attempt_a_retry_and_an_isolated_broker() {
    let alive = SlowBroker::start(Duration::ZERO).await;
    let dead = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().to_string()
    };
    let namesrv = FakeNameServer::start_with(&[("dead", &dead), ("alive", &alive.addr)]).await;
    let sent = |enable_metrics: &str| {
        let mut config = ProducerConfig::new(unique_group("metrics_retry"));
        config.namesrv_addr = Some(namesrv.addr.clone());
        config.set("vip_channel_enabled", "false").unwrap();
        config.set("enable_metrics", enable_metrics).unwrap();
        Producer::new(config).unwrap()
    };
    let producer = sent("true");
    producer.start().await.unwrap();
    // Round robin over 8 queues, 4 on each broker: the dead one comes up within two sends.
    for i in 0..4 {
        producer
            .send(Message::new("RetryTopic", format!("m{i}")))
            .await
            .unwrap();
    }
    let stats = producer.stats();
    assert_eq!(stats.sends_of("sync", "SEND_OK"), 4, "{stats:?}");
    assert!(stats.retries >= 1, "{stats:?}");
    assert_eq!(stats.attempts, 4 + stats.retries);
    assert_eq!(
        stats.send_latency_ms["dead"].count, stats.retries,
        "{stats:?}"
    );
    assert_eq!(stats.isolated_brokers, vec!["dead".to_string()]);
    assert_latency_counts_every_attempt(&stats);
    producer.shutdown().await.unwrap();

    // Metrics off: nothing is counted.
    let uncounted = sent("false");
    uncounted.start().await.unwrap();
    uncounted
        .send(Message::new("RetryTopic", "uncounted"))
        .await
        .unwrap();
    assert_eq!(uncounted.stats(), Stats::default());
    uncounted.shutdown().await.unwrap();
}
