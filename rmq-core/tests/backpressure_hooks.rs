//! Async backpressure (count and byte bounds, block or fail) and send hooks, on the real cluster.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use futures_util::future::join_all;
use parking_lot::Mutex;
use rmq_core::producer::{SendContext, SendHook, SendOutcome};
use rmq_core::{ErrorKind, Message, RoomWait};
use support::{by_msg_id, create_topic, producer, read_topic, unique_group, unique_topic};

#[tokio::test(flavor = "multi_thread")]
async fn fail_mode_refuses_beyond_the_bounds_at_once() {
    let topic = unique_topic("BoundFail");
    create_topic(&topic, 4);
    for (options, body_len) in [
        (
            [
                ("max_async_in_flight", "2"),
                ("max_async_in_flight_bytes", "0"),
            ],
            10,
        ),
        (
            [
                ("max_async_in_flight", "0"),
                ("max_async_in_flight_bytes", "1000"),
            ],
            600,
        ),
    ] {
        let mut all = options.to_vec();
        all.push(("backpressure", "fail"));
        let producer = producer(&unique_group("fail"), &all);
        producer.start().await.unwrap();
        producer
            .send(Message::new(&topic, "warm up the route"))
            .await
            .unwrap();
        let sends: Vec<_> = (0..50)
            .map(|_| producer.send_async(Message::new(&topic, vec![b'x'; body_len])))
            .collect();
        let results = join_all(sends).await;
        let refused = results
            .iter()
            .filter(|r| matches!(r, Err(e) if e.kind() == ErrorKind::TooManyRequests))
            .count();
        let stored: Vec<String> = results
            .into_iter()
            .filter_map(|r| r.ok().map(|r| r.msg_id))
            .collect();
        assert!(refused > 0, "{options:?}: nothing was refused");
        assert_eq!(refused + stored.len(), 50, "{options:?}: other errors");
        producer.shutdown().await.unwrap();
        let found = by_msg_id(&read_topic(&topic, stored.len()));
        for id in &stored {
            assert!(found.contains_key(id), "{id} reported sent but not stored");
        }
    }
}

#[test]
fn block_mode_holds_the_caller_thread_until_there_is_room() {
    let topic = unique_topic("BoundBlock");
    create_topic(&topic, 4);
    let producer = producer(
        &unique_group("block"),
        &[("max_async_in_flight", "4"), ("backpressure", "block")],
    );
    rmq_core::runtime::block_on({
        let p = producer.clone();
        async move { p.start().await }
    })
    .unwrap()
    .unwrap();
    let done = Arc::new(Mutex::new(Vec::new()));
    let mut most_in_flight = 0;
    for i in 0..200 {
        let done = done.clone();
        producer
            .try_send_with_callback(
                Message::new(&topic, format!("blocked {i}")),
                RoomWait::ThisThread,
                move |r| done.lock().push(r.map(|r| r.msg_id)),
            )
            .unwrap();
        most_in_flight = most_in_flight.max(producer.in_flight());
    }
    assert!(
        most_in_flight <= 4,
        "{most_in_flight} async sends in flight"
    );
    rmq_core::runtime::block_on({
        let p = producer.clone();
        async move { p.flush(Duration::from_secs(30)).await }
    })
    .unwrap()
    .unwrap();
    let ids: Vec<String> = done.lock().drain(..).map(|r| r.unwrap()).collect();
    assert_eq!(ids.len(), 200);
    rmq_core::runtime::block_on(async move { producer.shutdown().await })
        .unwrap()
        .unwrap();
    let found = by_msg_id(&read_topic(&topic, 200));
    assert!(ids.iter().all(|id| found.contains_key(id)));
}

#[derive(Default)]
struct Counting {
    before: AtomicUsize,
    stored: AtomicUsize,
    written: AtomicUsize,
    failed: AtomicUsize,
    seen: Mutex<Vec<(String, String, bool, bool)>>,
}

impl SendHook for Counting {
    fn before_send(&self, ctx: &SendContext<'_>) {
        self.before.fetch_add(1, Ordering::SeqCst);
        assert!(!ctx.broker_addr.is_empty());
    }
    fn after_send(&self, ctx: &SendContext<'_>, _latency: Duration, outcome: SendOutcome<'_>) {
        let counter = match outcome {
            SendOutcome::Stored(result) => {
                assert_eq!(result.msg_id, ctx.msg_id);
                &self.stored
            }
            SendOutcome::Written => &self.written,
            SendOutcome::Failed(_) => &self.failed,
        };
        counter.fetch_add(1, Ordering::SeqCst);
        self.seen.lock().push((
            ctx.queue.topic.clone(),
            ctx.queue.broker_name.clone(),
            ctx.batch,
            ctx.oneway,
        ));
    }
}

struct Panicking;

impl SendHook for Panicking {
    fn before_send(&self, _: &SendContext<'_>) {
        panic!("hook bug");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn hooks_see_every_attempt_of_every_mode() {
    let topic = unique_topic("Hooked");
    let producer = producer(&unique_group("hooks"), &[]);
    let counting = Arc::new(Counting::default());
    producer.add_send_hook(counting.clone());
    producer.add_send_hook(Arc::new(Panicking));
    producer.start().await.unwrap();

    let mut ids = Vec::new();
    for i in 0..5 {
        ids.push(
            producer
                .send(Message::new(&topic, format!("sync {i}")))
                .await
                .unwrap()
                .msg_id,
        );
        ids.push(
            producer
                .send_async(Message::new(&topic, format!("async {i}")))
                .await
                .unwrap()
                .msg_id,
        );
        producer
            .send_oneway(Message::new(&topic, format!("oneway {i}")))
            .await
            .unwrap();
    }
    let batch = producer
        .send_batch(vec![Message::new(&topic, "b1"), Message::new(&topic, "b2")])
        .await
        .unwrap();
    ids.extend(batch.msg_ids().into_iter().map(str::to_string));
    producer.shutdown().await.unwrap();

    // 16 sends; a busy broker may fail an attempt, which is retried: one more before/after pair.
    let failed = counting.failed.load(Ordering::SeqCst);
    assert_eq!(counting.before.load(Ordering::SeqCst), 16 + failed);
    assert_eq!(counting.stored.load(Ordering::SeqCst), 11);
    assert_eq!(counting.written.load(Ordering::SeqCst), 5);
    let seen = counting.seen.lock();
    assert!(
        seen.iter()
            .all(|(t, b, _, _)| *t == topic && b.starts_with("broker-"))
    );
    assert_eq!(seen.iter().filter(|s| s.2).count(), 1, "one batch");
    assert_eq!(seen.iter().filter(|s| s.3).count(), 5, "five oneway");
    let found = by_msg_id(&read_topic(&topic, 17));
    assert!(ids.iter().all(|id| found.contains_key(id)));
}
