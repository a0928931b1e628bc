//! A timeout per send (Java's `send(msg, timeout)`): a message's `send_timeout_ms` replaces the
//! producer's for the send that carries it, retries included, in every send form. Proven on the
//! real cluster with a hung broker (SIGSTOP): each form fails TIMEOUT at its own timeout, not at
//! the producer's. Alone in its binary, because it pauses the cluster's broker-b.

mod support;

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use rmq_core::producer::{LocalTransactionState, RoomWait, TransactionProducer};
use rmq_core::{
    ErrorKind, Message, MessageQueue, Producer, ProducerConfig, QueueSelection, SendStatus,
};
use support::{
    SendAttempts, Starvation, cluster, namesrv, producer, read_topic, unique_group, unique_topic,
};
use tokio::time::Instant;

/// The producers' own timeout, far longer than any send below may take.
const PRODUCER_TIMEOUT_MS: &str = "20000";
/// Each send's own timeout.
const OWN_TIMEOUT: Duration = Duration::from_millis(1500);
/// Scheduling margin beyond a send's timeout; the measured starvation of the machine is added.
const MARGIN: Duration = Duration::from_millis(1500);

async fn cluster_async(args: &'static [&'static str]) {
    tokio::task::spawn_blocking(move || cluster(args))
        .await
        .unwrap();
}

fn message(topic: &str, body: &str, timeout: Duration) -> Message {
    Message::new(topic, body.to_string()).with_send_timeout(timeout)
}

/// How long `send` took to fail, and with what.
async fn failure<T: std::fmt::Debug>(
    send: impl Future<Output = rmq_core::Result<T>>,
) -> (Duration, rmq_core::Error) {
    let begin = Instant::now();
    let error = send.await.expect_err("a send to a hung broker succeeded");
    (begin.elapsed(), error)
}

#[tokio::test(flavor = "multi_thread")]
async fn every_send_form_fails_at_its_own_timeout_on_a_hung_broker() {
    // A topic only broker-b serves: with broker-b hung, no retry can go elsewhere.
    let topic = unique_topic("OwnTimeout");
    cluster(&["create-topic", &topic, "--queues", "2", "--on", "broker-b"]);
    let group = unique_group("own_timeout");
    let attempts = Arc::new(SendAttempts::default());
    let producer = producer(&group, &[("send_timeout_ms", PRODUCER_TIMEOUT_MS)]);
    producer.add_send_hook(attempts.clone());
    producer.start().await.unwrap();
    // A producer whose own timeout is shorter than the message's: the message's wins.
    let hurried = support::producer(&unique_group("own_timeout"), &[("send_timeout_ms", "1000")]);
    hurried.add_send_hook(attempts.clone());
    hurried.start().await.unwrap();
    let mut config = ProducerConfig::new(unique_group("own_timeout_tx"));
    config.namesrv_addr = Some(namesrv());
    config.set("send_timeout_ms", PRODUCER_TIMEOUT_MS).unwrap();
    let transactional =
        TransactionProducer::new(config, |_| LocalTransactionState::Rollback).unwrap();
    transactional.start().await.unwrap();

    // Routes known and connections open before the broker hangs.
    let mut acknowledged = Vec::new();
    for p in [&producer, &hurried, transactional.producer()] {
        let warm = p.send(Message::new(&topic, "warm")).await.unwrap();
        acknowledged.push(warm.msg_id);
    }
    let queue: MessageQueue = producer.publish_queues(&topic).await.unwrap()[0].clone();

    cluster_async(&["pause-broker", "broker-b"]).await;
    let starvation = Starvation::measure();
    let (callback_tx, callback_rx) = tokio::sync::oneshot::channel();
    let callback_begin = Instant::now();
    producer
        .try_send_with_callback(
            message(&topic, "callback", OWN_TIMEOUT),
            RoomWait::Fail,
            move |result| {
                let _ = callback_tx.send((callback_begin.elapsed(), result));
            },
        )
        .unwrap();
    let forms = tokio::join!(
        failure(producer.send(message(&topic, "sync", OWN_TIMEOUT))),
        failure(producer.send_async(message(&topic, "async", OWN_TIMEOUT))),
        failure(producer.send_batch(vec![
            message(&topic, "batch 1", OWN_TIMEOUT),
            message(&topic, "batch 2", OWN_TIMEOUT * 4),
        ])),
        failure(producer.send_batch_async(vec![message(&topic, "batch async", OWN_TIMEOUT)])),
        failure(producer.send_to_queue(message(&topic, "queue", OWN_TIMEOUT), queue.clone())),
        failure(producer.send_with_selector(message(&topic, "selector", OWN_TIMEOUT), |_, _| 1)),
        failure(producer.send_to_async(
            message(&topic, "sharding key", OWN_TIMEOUT),
            QueueSelection::ShardingKey("k".into()),
        )),
        failure(producer.request(
            message(&topic, "request", OWN_TIMEOUT),
            Duration::from_secs(20)
        )),
        failure(
            transactional
                .send_in_transaction(message(&topic, "transaction", OWN_TIMEOUT), |_, _| {
                    LocalTransactionState::Commit
                },)
        ),
        failure(hurried.send(message(
            &topic,
            "longer than the producer's",
            OWN_TIMEOUT * 2
        ))),
    );
    let (callback_took, callback_result) = callback_rx.await.unwrap();
    let starved = starvation.total().await;
    cluster_async(&["resume-broker", "broker-b"]).await;

    let mut outcomes = vec![
        ("sync", OWN_TIMEOUT, forms.0),
        ("async", OWN_TIMEOUT, forms.1),
        (
            "batch (the smallest of its messages' timeouts)",
            OWN_TIMEOUT,
            forms.2,
        ),
        ("batch async", OWN_TIMEOUT, forms.3),
        ("queue", OWN_TIMEOUT, forms.4),
        ("selector", OWN_TIMEOUT, forms.5),
        ("sharding key, async", OWN_TIMEOUT, forms.6),
        ("request", OWN_TIMEOUT, forms.7),
        ("transaction", OWN_TIMEOUT, forms.8),
        ("longer than the producer's", OWN_TIMEOUT * 2, forms.9),
    ];
    outcomes.push((
        "callback",
        OWN_TIMEOUT,
        (
            callback_took,
            callback_result.expect_err("the callback got a result"),
        ),
    ));
    for (form, timeout, (took, error)) in &outcomes {
        println!("{form}: failed after {took:?}: {error}");
        assert_eq!(error.kind(), ErrorKind::Timeout, "{form}: {error}");
        // Never before its own timeout (timers fire late, never early)...
        assert!(
            *took >= *timeout,
            "{form} gave up after {took:?}, before its {timeout:?}"
        );
        // ...and long before the producer's.
        assert!(
            *took < *timeout + MARGIN + starved,
            "{form} failed after {took:?}, its own timeout {timeout:?} (timers {starved:?} late)"
        );
    }

    // On a healthy broker the same sends are stored; what the hung broker took before it hung
    // and stored when it woke up was each time an attempt (no copy beyond its attempts).
    for form in ["sync after", "async after"] {
        let msg = message(&topic, form, OWN_TIMEOUT * 4);
        let result = if form == "sync after" {
            producer.send(msg).await
        } else {
            producer.send_async(msg).await
        };
        let result = result.unwrap();
        assert_eq!(result.status, SendStatus::SendOk);
        acknowledged.push(result.msg_id);
    }
    let stored = read_topic(&topic, acknowledged.len());
    let mut copies: BTreeMap<&str, usize> = BTreeMap::new();
    for message in &stored {
        *copies.entry(message.msg_id.as_str()).or_default() += 1;
    }
    for id in &acknowledged {
        assert_eq!(copies.get(id.as_str()), Some(&1), "acknowledged {id}");
    }
    for (id, n) in &copies {
        assert!(
            *n <= attempts.of(id).max(1),
            "{id} is stored {n} times after {} attempt(s)",
            attempts.of(id)
        );
    }
    println!(
        "{} acknowledged, {} stored ({} taken by the hung broker and stored when it woke)",
        acknowledged.len(),
        stored.len(),
        stored.len() - acknowledged.len()
    );
    for p in [&producer, &hurried] {
        p.shutdown().await.unwrap();
    }
    transactional.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_send_timeout_out_of_range_fails_at_the_call_in_every_form() {
    let producer: Producer = producer(&unique_group("bad_own_timeout"), &[]);
    producer.start().await.unwrap();
    for ms in [0, -1, 86_400_001] {
        let mut msg = Message::new("BadOwnTimeout", "x");
        msg.send_timeout_ms = Some(ms);
        let sync = producer.send(msg.clone()).await.unwrap_err();
        let refused = producer
            .try_send_with_callback(msg.clone(), RoomWait::Fail, |_| {
                panic!("a refused send called back")
            })
            .unwrap_err();
        let batch = producer.send_batch(vec![msg.clone()]).await.unwrap_err();
        let oneway = producer.send_oneway(msg).await.unwrap_err();
        for error in [sync, refused, batch, oneway] {
            assert_eq!(error.kind(), ErrorKind::InvalidArgument, "{ms}: {error}");
            assert!(error.message().contains("send timeout"), "{error}");
        }
    }
    assert_eq!(producer.in_flight(), 0);
    producer.shutdown().await.unwrap();
}
