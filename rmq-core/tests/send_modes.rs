//! The three send modes against the real cluster, read back by the independent Java reader.

mod support;

use std::collections::BTreeSet;

use futures_util::future::join_all;
use rmq_core::{Message, SendStatus};
use support::{Stored, by_msg_id, create_topic, producer, read_topic, unique_group, unique_topic};

const PER_MODE: usize = 1000;

fn message(topic: &str, mode: &str, i: usize) -> Message {
    Message::new(topic, format!("{mode} body {i}"))
        .with_tags(format!("Tag{mode}"))
        .with_keys([format!("{mode}-key-{i}"), "common".to_string()])
        .with_property("mode", mode)
        .with_property("index", i.to_string())
}

fn assert_same(stored: &Stored, sent: &Message) {
    assert_eq!(stored.body, sent.body.as_ref());
    assert_eq!(stored.tags.as_deref(), sent.tags.as_deref());
    assert_eq!(stored.keys.as_deref(), Some(sent.keys.join(" ").as_str()));
    for (k, v) in &sent.properties {
        assert_eq!(stored.user_properties.get(k), Some(v), "property {k}");
    }
}

/// One test at a time: a oneway message is never answered, so one that a starved broker drops
/// under flow control (requests queued over 200 ms) would be lost without a trace; two bursts at
/// once on a small machine invite exactly that.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Sends PER_MODE messages in each mode and checks every one in the cluster.
async fn send_all_modes(topic: &str) {
    let producer = producer(&unique_group("modes"), &[]);
    producer.start().await.unwrap();

    let mut sent = Vec::new();
    for i in 0..PER_MODE {
        let msg = message(topic, "sync", i);
        let result = producer.send(msg.clone()).await.unwrap();
        assert_eq!(result.status, SendStatus::SendOk);
        assert_eq!(result.queue.topic, topic);
        sent.push((result, msg));
    }

    let async_msgs: Vec<Message> = (0..PER_MODE).map(|i| message(topic, "async", i)).collect();
    let results = join_all(async_msgs.iter().map(|m| producer.send_async(m.clone()))).await;
    for (result, msg) in results.into_iter().zip(async_msgs) {
        sent.push((result.unwrap(), msg));
    }

    let oneway_msgs: Vec<Message> = (0..PER_MODE).map(|i| message(topic, "oneway", i)).collect();
    for msg in &oneway_msgs {
        producer.send_oneway(msg.clone()).await.unwrap();
    }
    producer.shutdown().await.unwrap();

    let stored = read_topic(topic, 3 * PER_MODE);
    let by_id = by_msg_id(&stored);
    for (result, msg) in &sent {
        let found = by_id.get(&result.msg_id).unwrap_or_else(|| {
            panic!(
                "{} reported SEND_OK but is not in the cluster",
                result.msg_id
            )
        });
        assert_same(found, msg);
        assert_eq!(found.offset_msg_id, result.offset_msg_id);
        assert_eq!(found.broker_name, result.queue.broker_name);
        assert_eq!(found.queue_id, i64::from(result.queue.queue_id));
        assert_eq!(found.queue_offset, result.queue_offset);
    }
    for msg in &oneway_msgs {
        let found = stored
            .iter()
            .find(|s| s.body == msg.body.as_ref())
            .unwrap_or_else(|| panic!("oneway {:?} never arrived", msg.body));
        assert_same(found, msg);
    }
    let brokers: BTreeSet<&str> = stored.iter().map(|s| s.broker_name.as_str()).collect();
    assert_eq!(
        brokers,
        BTreeSet::from(["broker-a", "broker-b"]),
        "queues should span both brokers"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn every_mode_reaches_an_existing_topic() {
    let _turn = ONE_AT_A_TIME.lock().await;
    let topic = unique_topic("Existing");
    create_topic(&topic, 4);
    send_all_modes(&topic).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn every_mode_reaches_a_topic_created_through_tbw102() {
    let _turn = ONE_AT_A_TIME.lock().await;
    send_all_modes(&unique_topic("AutoCreated")).await;
}
