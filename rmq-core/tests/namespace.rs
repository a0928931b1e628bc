//! Namespaces (v1): the broker sees `<namespace>%<topic>` and INSTANCE_ID; the user sees the
//! bare topic everywhere.

mod support;

use rmq_core::{ErrorKind, Message, ProducerConfig};
use support::{by_msg_id, producer, read_topic, unique_group, unique_topic};

#[tokio::test(flavor = "multi_thread")]
async fn topics_are_wrapped_on_the_wire_and_bare_in_results() {
    let namespace = format!("ns{}", fastrand::u32(..));
    let topic = unique_topic("Spaced");
    let producer = producer(&unique_group("ns"), &[("namespace", &namespace)]);
    producer.start().await.unwrap();

    let single = producer.send(Message::new(&topic, "single")).await.unwrap();
    assert_eq!(single.queue.topic, topic);
    let queues = producer.publish_queues(&topic).await.unwrap();
    assert!(queues.iter().all(|q| q.topic == topic));
    let keyed = producer
        .send_with_sharding_key(Message::new(&topic, "keyed"), "k1")
        .await
        .unwrap();
    assert_eq!(keyed.queue.topic, topic);
    let explicit = producer
        .send_to_queue(Message::new(&topic, "explicit"), queues[0].clone())
        .await
        .unwrap();
    assert_eq!(explicit.queue, queues[0]);
    let batch = producer
        .send_batch(vec![Message::new(&topic, "b1"), Message::new(&topic, "b2")])
        .await
        .unwrap();
    assert_eq!(batch.queue.topic, topic);
    producer.shutdown().await.unwrap();

    let wrapped = format!("{namespace}%{topic}");
    let stored = by_msg_id(&read_topic(&wrapped, 5));
    for id in [&single.msg_id, &keyed.msg_id, &explicit.msg_id] {
        let found = &stored[id];
        assert_eq!(found.topic, wrapped);
        assert_eq!(
            found.properties.get("INSTANCE_ID"),
            Some(&namespace),
            "{id}"
        );
    }
    // INSTANCE_ID goes on the batch, as Java sends it. Brokers through 5.3 store each member with
    // the batch's properties (CLUSTER, INSTANCE_ID, ...) added; 5.5 stores members with their own.
    for id in batch.msg_ids() {
        let found = &stored[id];
        assert_eq!(found.topic, wrapped);
        let with_batch_properties = found.properties.contains_key("CLUSTER");
        assert_eq!(
            found.properties.get("INSTANCE_ID"),
            with_batch_properties.then_some(&namespace),
            "{id}: {:?}",
            found.properties
        );
    }

    let mut config = ProducerConfig::new("g");
    let err = config.set("namespace", "bad%ns").unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument);
}
