//! Broker faults on the real cluster: a hung broker, a killed broker, and its return. One test,
//! run alone in its binary, because it stops and starts the cluster's broker-b. At the end, the
//! stored copies of every message are counted: none missing, every duplicate explained by a retry.

mod support;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rmq_core::{Message, Producer, SendResult, SendStatus};
use support::{
    SendAttempts, check_copies, cluster, create_topic, producer, read_topic, unique_group,
    unique_topic,
};

/// The send budget (the default `send_timeout_ms`).
const SEND_TIMEOUT: Duration = Duration::from_secs(3);

async fn send_ok(producer: &Producer, topic: &str, body: String) -> SendResult {
    let result = producer
        .send(Message::new(topic, body.clone()))
        .await
        .unwrap_or_else(|e| panic!("send of {body:?} failed: {e}"));
    assert_eq!(result.status, SendStatus::SendOk);
    result
}

/// Runs a launcher command off the async runtime.
async fn cluster_async(args: &'static [&'static str]) {
    tokio::task::spawn_blocking(move || cluster(args))
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn sends_survive_a_hung_and_a_killed_broker_and_use_it_again_after_restart() {
    let topic = unique_topic("Faults");
    create_topic(&topic, 4);
    let producer = producer(
        &unique_group("faults"),
        &[
            ("poll_namesrv_interval_ms", "2000"),
            ("latency_fault_tolerance", "true"),
        ],
    );
    let attempts = Arc::new(SendAttempts::default());
    producer.add_send_hook(attempts.clone());
    producer.start().await.unwrap();
    let mut acknowledged = Vec::new();

    for i in 0..40 {
        acknowledged.push(send_ok(&producer, &topic, format!("warm {i}")).await);
    }
    let brokers: BTreeSet<_> = acknowledged
        .iter()
        .map(|r| r.queue.broker_name.clone())
        .collect();
    assert_eq!(brokers.len(), 2, "both brokers in use before the faults");

    // A hung broker stays in the route but answers nothing, not even the heartbeat that probes
    // it once a send has waited 1 s: the first send that meets it gives it up then, isolates it
    // and succeeds on broker-a, within the budget; the sends after it go straight to broker-a.
    cluster_async(&["pause-broker", "broker-b"]).await;
    let mut slow = 0;
    for i in 0..40 {
        let begin = Instant::now();
        let result = send_ok(&producer, &topic, format!("hung {i}")).await;
        let took = begin.elapsed();
        // Scheduling margin only: the send itself never outlives its budget.
        assert!(
            took < SEND_TIMEOUT + Duration::from_millis(500),
            "a send took {took:?}"
        );
        // A send that met the hung broker waited 1 s before it suspected the broker.
        if took >= Duration::from_millis(950) {
            slow += 1;
        }
        assert_eq!(result.queue.broker_name, "broker-a");
        acknowledged.push(result);
    }
    cluster_async(&["resume-broker", "broker-b"]).await;
    assert!(
        slow <= 1,
        "{slow} sends waited on the hung broker; isolation should spare all but the first"
    );

    // Killed in the middle of a stream: every send still succeeds, on broker-a.
    let stream_producer = producer.clone();
    let stream_topic = topic.clone();
    let stream = tokio::spawn(async move {
        let mut results = Vec::new();
        for i in 0..400 {
            results.push((
                Instant::now(),
                send_ok(&stream_producer, &stream_topic, format!("stream {i}")).await,
            ));
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        results
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    cluster_async(&["kill-broker", "broker-b"]).await;
    let killed_at = Instant::now();
    for (sent_at, result) in stream.await.unwrap() {
        if sent_at > killed_at {
            assert_eq!(
                result.queue.broker_name, "broker-a",
                "a send after the kill reached broker-b"
            );
        }
        acknowledged.push(result);
    }

    // Back again: broker-b receives messages within a route refresh or two.
    cluster_async(&["start-broker", "broker-b"]).await;
    let restarted = Instant::now();
    let mut back = false;
    let mut i = 0;
    while restarted.elapsed() < Duration::from_secs(30) {
        let result = send_ok(&producer, &topic, format!("after {i}")).await;
        i += 1;
        back = result.queue.broker_name == "broker-b";
        acknowledged.push(result);
        if back {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(back, "broker-b received nothing within 30 s of its restart");
    producer.shutdown().await.unwrap();

    // The statistics tell the same story: every send stored, each attempt the hook saw counted,
    // the retries those beyond the first of each send, the killed broker's connection lost.
    let stats = producer.stats();
    assert_eq!(
        stats.sends_of("sync", "SEND_OK"),
        acknowledged.len() as u64,
        "{stats:?}"
    );
    assert_eq!(stats.attempts, attempts.total() as u64, "{stats:?}");
    assert_eq!(stats.retries, stats.attempts - acknowledged.len() as u64);
    assert!(
        stats.retries >= 1 && stats.connections_lost >= 1,
        "{stats:?}"
    );

    // Nothing reported SEND_OK is missing; a copy beyond the first comes from a retry (the
    // hung broker stores what it was sent when it wakes up; a killed one may have stored a
    // message whose answer it never sent).
    let stored = read_topic(&topic, acknowledged.len());
    let ids: Vec<String> = acknowledged.iter().map(|r| r.msg_id.clone()).collect();
    check_copies(&ids, &stored, &attempts);
}
