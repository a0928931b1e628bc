//! Sends to a chosen queue: explicit queue, selector, and sharding key, the last compared with
//! the official Java client's `SelectMessageQueueByHash` on the same topic.

mod support;

use rmq_core::{ErrorKind, Message, MessageQueue, QueueSelection, SendStatus};
use serde_json::Value;
use support::{by_msg_id, cluster, create_topic, producer, read_topic, unique_group, unique_topic};

/// Where the Java client put a message sent with `--sharding-key key`.
fn java_queue_for_key(topic: &str, key: &str) -> (String, i32) {
    let out = cluster(&["send", topic, &format!("java {key}"), "--sharding-key", key]);
    let v: Value = serde_json::from_str(out.trim()).unwrap_or_else(|e| panic!("{out}: {e}"));
    assert_eq!(v["status"], "SEND_OK", "{out}");
    (
        v["brokerName"].as_str().unwrap().to_string(),
        v["queueId"].as_i64().unwrap() as i32,
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn explicit_queue_selector_and_sharding_key_land_where_asked() {
    let topic = unique_topic("Selected");
    create_topic(&topic, 4);
    let producer = producer(&unique_group("select"), &[]);
    producer.start().await.unwrap();

    let queues = producer.publish_queues(&topic).await.unwrap();
    let order: Vec<(&str, i32)> = queues
        .iter()
        .map(|q| (q.broker_name.as_str(), q.queue_id))
        .collect();
    assert_eq!(
        order,
        [
            ("broker-a", 0),
            ("broker-a", 1),
            ("broker-a", 2),
            ("broker-a", 3)
        ]
        .into_iter()
        .chain([
            ("broker-b", 0),
            ("broker-b", 1),
            ("broker-b", 2),
            ("broker-b", 3)
        ])
        .collect::<Vec<_>>()
    );

    let mut expected: Vec<(String, MessageQueue)> = Vec::new();
    for target in [&queues[6], &queues[1]] {
        let result = producer
            .send_to_queue(Message::new(&topic, "explicit"), target.clone())
            .await
            .unwrap();
        assert_eq!(result.status, SendStatus::SendOk);
        assert_eq!(&result.queue, target);
        expected.push((result.msg_id, target.clone()));
    }

    let result = producer
        .send_with_selector(
            Message::new(&topic, "selected").with_tags("last"),
            |qs, msg| {
                assert_eq!(msg.tags.as_deref(), Some("last"));
                qs.len() - 1
            },
        )
        .await
        .unwrap();
    assert_eq!(result.queue, queues[7]);
    expected.push((result.msg_id, queues[7].clone()));

    let async_result = producer
        .send_to_async(
            Message::new(&topic, "async explicit"),
            QueueSelection::Queue(queues[3].clone()),
        )
        .await
        .unwrap();
    assert_eq!(async_result.queue, queues[3]);
    expected.push((async_result.msg_id, queues[3].clone()));

    // The same keys through the Java client and through ours.
    let keys = [
        "order-1",
        "order-2",
        "customer-42",
        "clé-é",
        "polygenelubricants",
        "z",
    ];
    for key in keys {
        let (java_broker, java_queue) = java_queue_for_key(&topic, key);
        let ours = producer
            .send_with_sharding_key(Message::new(&topic, format!("rust {key}")), key)
            .await
            .unwrap();
        assert_eq!(
            (ours.queue.broker_name.as_str(), ours.queue.queue_id),
            (java_broker.as_str(), java_queue),
            "key {key}"
        );
        let again = producer
            .send_to_async(
                Message::new(&topic, format!("rust async {key}")),
                QueueSelection::ShardingKey(key.to_string()),
            )
            .await
            .unwrap();
        assert_eq!(again.queue, ours.queue, "async, key {key}");
        expected.push((ours.msg_id, ours.queue.clone()));
        expected.push((again.msg_id, again.queue));
    }

    // Bad choices fail before anything is sent.
    let err = producer
        .send_with_selector(Message::new(&topic, "x"), |qs, _| qs.len())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument);
    assert!(err.message().contains("index 8"), "{err}");
    let err = producer
        .send_to_async(
            Message::new(&topic, "x"),
            QueueSelection::selector(|_, _| panic!("selector bug")),
        )
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument);
    let mut foreign = queues[0].clone();
    foreign.topic = "OtherTopic".into();
    let err = producer
        .send_to_queue(Message::new(&topic, "x"), foreign)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument);
    producer.shutdown().await.unwrap();

    let stored = by_msg_id(&read_topic(&topic, expected.len() + keys.len()));
    for (msg_id, queue) in &expected {
        let found = &stored[msg_id];
        assert_eq!(
            (found.broker_name.as_str(), found.queue_id),
            (queue.broker_name.as_str(), i64::from(queue.queue_id)),
            "{msg_id}"
        );
    }
}
