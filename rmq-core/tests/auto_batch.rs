//! Auto-batching on the real cluster: sends gathered into batch requests, each message still
//! answered on its own (its id, its offset, its callback once) and stored with its own body,
//! tags, keys and properties, as the Java reader finds them.

mod support;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use parking_lot::Mutex;
use rmq_core::producer::{RoomWait, SendContext, SendHook};
use rmq_core::{ErrorKind, Message, Producer, QueueSelection, SendResult, SendStatus};
use support::{by_msg_id, create_topic, producer, read_topic, unique_group, unique_topic};

/// Every attempt's request: how many messages it carried (one for a send alone).
#[derive(Default)]
struct Requests(Mutex<Vec<usize>>);

impl SendHook for Requests {
    fn before_send(&self, ctx: &SendContext<'_>) {
        let messages = if ctx.batch {
            ctx.msg_id.split(',').count()
        } else {
            1
        };
        self.0.lock().push(messages);
    }
}

async fn batching_producer(options: &[(&str, &str)]) -> (Producer, Arc<Requests>) {
    let mut all = vec![("auto_batch", "true")];
    all.extend_from_slice(options);
    let producer = producer(&unique_group("auto_batch"), &all);
    let requests = Arc::new(Requests::default());
    producer.add_send_hook(requests.clone());
    producer.start().await.unwrap();
    (producer, requests)
}

fn message(topic: &str, i: usize) -> Message {
    Message::new(topic, format!("gathered {i}"))
        .with_tags(format!("tag{}", i % 3))
        .with_keys([format!("key-{i}"), format!("order-{}", i / 5)])
        .with_property("index", i.to_string())
}

/// Sends `count` messages with callbacks at once; every callback must come exactly once.
async fn send_with_callbacks(producer: &Producer, topic: &str, count: usize) -> Vec<SendResult> {
    let calls = Arc::new(AtomicUsize::new(0));
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    for i in 0..count {
        let (tx, calls) = (tx.clone(), calls.clone());
        producer
            .try_send_with_callback(message(topic, i), RoomWait::Fail, move |result| {
                calls.fetch_add(1, Ordering::SeqCst);
                tx.send((i, result)).unwrap();
            })
            .unwrap();
    }
    producer.flush(Duration::from_secs(30)).await.unwrap();
    drop(tx);
    let mut results = vec![None; count];
    while let Some((i, result)) = rx.recv().await {
        assert!(results[i].is_none(), "message {i} was answered twice");
        results[i] = Some(result.unwrap_or_else(|e| panic!("message {i}: {e}")));
    }
    assert_eq!(calls.load(Ordering::SeqCst), count);
    results.into_iter().map(Option::unwrap).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn async_sends_go_out_together_and_each_message_keeps_its_own_result_and_content() {
    let topic = unique_topic("AutoBatch");
    create_topic(&topic, 4);
    // Long enough that all 20 wait for one another even on a slow machine.
    let (producer, requests) = batching_producer(&[("batch_max_delay_ms", "500")]).await;
    let results = send_with_callbacks(&producer, &topic, 20).await;

    assert_eq!(*requests.0.lock(), vec![20], "one request carried all 20");
    let queues: BTreeSet<_> = results.iter().map(|r| r.queue.clone()).collect();
    assert_eq!(queues.len(), 1, "one batch, one queue");
    let first = results[0].queue_offset;
    for (i, result) in results.iter().enumerate() {
        assert_eq!(result.status, SendStatus::SendOk);
        assert_eq!(result.queue_offset, first + i as i64, "contiguous offsets");
        assert!(
            !result.msg_id.contains(','),
            "its own id: {}",
            result.msg_id
        );
    }
    let offset_ids: BTreeSet<_> = results.iter().map(|r| r.offset_msg_id.clone()).collect();
    assert_eq!(offset_ids.len(), 20, "distinct offset ids");

    let stored = by_msg_id(&read_topic(&topic, 20));
    assert_eq!(stored.len(), 20);
    for (i, result) in results.iter().enumerate() {
        let back = &stored[&result.msg_id];
        assert_eq!(back.body, format!("gathered {i}").into_bytes());
        assert_eq!(back.tags.as_deref(), Some(format!("tag{}", i % 3).as_str()));
        assert_eq!(
            back.keys.as_deref(),
            Some(format!("key-{i} order-{}", i / 5).as_str())
        );
        assert_eq!(back.user_properties["index"], i.to_string());
        assert_eq!(back.offset_msg_id, result.offset_msg_id);
        assert_eq!(back.queue_offset, result.queue_offset);
    }
    producer.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn sync_sends_wait_for_their_batch_and_a_full_batch_goes_at_once() {
    let topic = unique_topic("AutoBatchSync");
    create_topic(&topic, 4);
    // A batch holds about three of these messages: one that would overflow it sends it at once;
    // the last batch waits for its delay.
    const DELAY: Duration = Duration::from_secs(6);
    let delay_ms = DELAY.as_millis().to_string();
    let (producer, requests) = batching_producer(&[
        ("batch_max_delay_ms", &delay_ms),
        ("batch_max_bytes", "600"),
    ])
    .await;
    let begin = std::time::Instant::now();
    let sends: Vec<_> = (0..8)
        .map(|i| {
            let producer = producer.clone();
            let msg = Message::new(&topic, vec![b'a' + i as u8; 100]);
            tokio::spawn(async move {
                let result = producer.send(msg).await;
                (begin.elapsed(), result)
            })
        })
        .collect();
    let mut ids = BTreeSet::new();
    let mut before_the_delay = 0;
    for send in sends {
        let (took, result) = send.await.unwrap();
        ids.insert(result.unwrap().msg_id);
        if took < DELAY - Duration::from_secs(2) {
            before_the_delay += 1;
        }
    }
    let sizes = requests.0.lock().clone();
    assert_eq!(sizes.iter().sum::<usize>(), 8);
    assert!(sizes.len() < 8, "the sync sends went together: {sizes:?}");
    assert_eq!(
        before_the_delay,
        8 - sizes.last().unwrap(),
        "the sends of full batches did not wait for the delay: {sizes:?}"
    );
    let stored = by_msg_id(&read_topic(&topic, 8));
    assert_eq!(stored.keys().cloned().collect::<BTreeSet<_>>(), ids);
    producer.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn delayed_messages_go_alone_and_chosen_queues_batch_per_queue() {
    let topic = unique_topic("AutoBatchMixed");
    create_topic(&topic, 4);
    let (producer, requests) = batching_producer(&[("batch_max_delay_ms", "300")]).await;
    let mut delayed = Message::new(&topic, "delayed");
    delayed.delay_level = Some(1);
    let sends = (0..6).map(|i| {
        let producer = producer.clone();
        let msg = Message::new(&topic, format!("keyed {i}"));
        // Two sharding keys: two queues, so two batches.
        let key = format!("order-{}", i % 2);
        tokio::spawn(async move {
            producer
                .send_to(msg, QueueSelection::ShardingKey(key.clone()))
                .await
                .map(|r| (key, r))
        })
    });
    let sends: Vec<_> = sends.collect();
    let delayed = producer.send(delayed).await.unwrap();
    let mut by_key: std::collections::BTreeMap<String, BTreeSet<_>> = Default::default();
    for send in sends {
        let (key, result) = send.await.unwrap().unwrap();
        by_key.entry(key).or_default().insert(result.queue);
    }
    assert!(
        by_key.values().all(|queues| queues.len() == 1),
        "{by_key:?}"
    );
    let mut sizes = requests.0.lock().clone();
    sizes.sort();
    assert_eq!(
        sizes,
        vec![1, 3, 3],
        "the delayed one alone, one batch per queue"
    );
    let stored = by_msg_id(&read_topic(&topic, 7));
    assert!(stored.contains_key(&delayed.msg_id));
    producer.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_failed_batch_answers_each_of_its_messages_once_with_the_error() {
    // A name server that is never there: every gathered send fails, each callback once.
    let producer = support::producer_on(
        "127.0.0.1:9",
        &unique_group("auto_batch_fail"),
        &[("auto_batch", "true"), ("send_timeout_ms", "500")],
    );
    producer.start().await.unwrap();
    let calls = Arc::new(AtomicUsize::new(0));
    for i in 0..5 {
        let calls = calls.clone();
        producer
            .try_send_with_callback(
                Message::new("AutoBatchFail", format!("{i}")),
                RoomWait::Fail,
                move |result| {
                    assert!(result.is_err());
                    calls.fetch_add(1, Ordering::SeqCst);
                },
            )
            .unwrap();
    }
    let sync = producer
        .send(Message::new("AutoBatchFail", "sync"))
        .await
        .unwrap_err();
    assert_ne!(sync.kind(), ErrorKind::Internal, "{sync}");
    producer.flush(Duration::from_secs(10)).await.unwrap();
    assert_eq!(calls.load(Ordering::SeqCst), 5);
    // Invalid messages are refused at the call, before they could wait in a batch.
    let err = producer
        .try_send_with_callback(Message::new("AutoBatchFail", ""), RoomWait::Fail, |_| {
            panic!("a refused send called back")
        })
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::EmptyBody);
    producer.shutdown().await.unwrap();
}
