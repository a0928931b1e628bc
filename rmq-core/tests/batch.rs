//! Batch sends (SEND_BATCH_MESSAGE): every inner message is stored as its own message, with its
//! own UNIQ_KEY, tags, keys and properties, as the Java reader sees them.

mod support;

use std::collections::BTreeSet;

use rmq_core::{ErrorKind, Message, SendResult, SendStatus};
use support::{by_msg_id, create_topic, producer, read_topic, unique_group, unique_topic};

fn batch(topic: &str, name: &str, n: usize) -> Vec<Message> {
    (0..n)
        .map(|i| {
            let mut msg = Message::new(topic, format!("{name} body {i}"))
                .with_tags(format!("Tag{name}"))
                .with_keys([format!("{name}-{i}")])
                .with_property("index", i.to_string());
            msg.flag = i as i32;
            msg
        })
        .collect()
}

fn check_result(result: &SendResult, n: usize) {
    assert_eq!(result.status, SendStatus::SendOk);
    let ids = result.msg_ids();
    assert_eq!(ids.len(), n);
    assert_eq!(
        ids.iter().collect::<BTreeSet<_>>().len(),
        n,
        "ids are unique"
    );
    assert_eq!(result.offset_msg_ids().len(), n);
}

#[tokio::test(flavor = "multi_thread")]
async fn batches_arrive_as_separate_messages() {
    let topic = unique_topic("Batch");
    create_topic(&topic, 4);
    let producer = producer(&unique_group("batch"), &[]);
    producer.start().await.unwrap();

    let mut sent: Vec<(SendResult, Vec<Message>)> = Vec::new();
    let sync = batch(&topic, "sync", 50);
    let result = producer.send_batch(sync.clone()).await.unwrap();
    check_result(&result, 50);
    sent.push((result, sync));

    let asynchronous = batch(&topic, "async", 20);
    let result = producer
        .send_batch_async(asynchronous.clone())
        .await
        .unwrap();
    check_result(&result, 20);
    sent.push((result, asynchronous));

    let queue = producer.publish_queues(&topic).await.unwrap()[5].clone();
    let to_queue = batch(&topic, "queue", 3);
    let result = producer
        .send_batch_to_queue(to_queue.clone(), queue.clone())
        .await
        .unwrap();
    check_result(&result, 3);
    assert_eq!(result.queue, queue);
    sent.push((result, to_queue));

    // The rules, checked before anything is sent.
    let mut mixed = batch(&topic, "bad", 2);
    mixed[1].topic = format!("{topic}_other");
    let mut delayed = batch(&topic, "bad", 2);
    delayed[0].delay_level = Some(1);
    let big = vec![Message::new(&topic, vec![b'x'; 3 * 1024 * 1024]); 2];
    for (msgs, kind) in [
        (mixed, ErrorKind::InvalidMessage),
        (delayed, ErrorKind::InvalidMessage),
        (big, ErrorKind::MessageTooLarge),
        (Vec::new(), ErrorKind::InvalidArgument),
    ] {
        let err = producer.send_batch(msgs).await.unwrap_err();
        assert_eq!(err.kind(), kind, "{err}");
    }
    producer.shutdown().await.unwrap();

    let total: usize = sent.iter().map(|(_, msgs)| msgs.len()).sum();
    let stored = by_msg_id(&read_topic(&topic, total));
    assert_eq!(stored.len(), total);
    for (result, msgs) in &sent {
        let offsets = result.offset_msg_ids();
        for (i, (id, msg)) in result.msg_ids().into_iter().zip(msgs).enumerate() {
            let found = stored
                .get(id)
                .unwrap_or_else(|| panic!("inner message {id} is not in the cluster"));
            assert_eq!(found.body, msg.body.as_ref());
            assert_eq!(found.tags.as_deref(), msg.tags.as_deref());
            assert_eq!(found.keys.as_deref(), Some(msg.keys[0].as_str()));
            assert_eq!(found.user_properties["index"], i.to_string());
            assert_eq!(found.broker_name, result.queue.broker_name);
            assert_eq!(found.queue_id, i64::from(result.queue.queue_id));
            assert_eq!(found.queue_offset, result.queue_offset + i as i64);
            assert_eq!(found.offset_msg_id, offsets[i]);
            assert_eq!(found.flag, msg.flag as i64);
        }
    }
}
