//! What a message becomes on the way: compression, binary bodies, and the checks that refuse a
//! bad message before any network traffic.

mod support;

use rmq_core::protocol::message::sys_flag;
use rmq_core::{ErrorKind, Message, Producer, ProducerConfig, SendStatus};
use support::{by_msg_id, producer, read_topic, unique_group, unique_topic};

#[tokio::test(flavor = "multi_thread")]
async fn large_bodies_are_compressed_and_binary_bodies_arrive_byte_exact() {
    let topic = unique_topic("Bodies");
    let producer = producer(&unique_group("bodies"), &[]);
    producer.start().await.unwrap();

    let five_kib: Vec<u8> = (0..5 * 1024).map(|i| b"rocketmq "[i % 9]).collect();
    let with_nuls: Vec<u8> = vec![0, 1, 0, 255, 0, b'a', 0, 0];
    let every_byte: Vec<u8> = (0..=255u8).collect();
    let mut sent = Vec::new();
    for body in [five_kib.clone(), with_nuls, every_byte] {
        let result = producer
            .send(Message::new(&topic, body.clone()))
            .await
            .unwrap();
        assert_eq!(result.status, SendStatus::SendOk);
        sent.push((result.msg_id, body));
    }
    producer.shutdown().await.unwrap();

    let stored = by_msg_id(&read_topic(&topic, sent.len()));
    for (msg_id, body) in &sent {
        let found = &stored[msg_id];
        assert_eq!(&found.body, body, "body of {msg_id}");
        let compressed = found.sys_flag & i64::from(sys_flag::COMPRESSED) != 0;
        assert_eq!(
            compressed,
            body.len() >= 4096,
            "sysFlag {:#x} of a {}-byte body",
            found.sys_flag,
            body.len()
        );
    }
}

/// A producer whose name server cannot be reached: anything that gets past validation fails
/// with a network error, so a validation error proves nothing was sent.
async fn unreachable_producer() -> Producer {
    let mut config = ProducerConfig::new(unique_group("offline"));
    config.namesrv_addr = Some("127.0.0.1:1".to_string());
    config.set("max_message_size", "1024").unwrap();
    let producer = Producer::new(config).unwrap();
    producer.start().await.unwrap();
    producer
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_messages_fail_before_any_network_traffic_each_with_its_kind() {
    let producer = unreachable_producer().await;
    let cases = [
        (Message::new("T", ""), ErrorKind::EmptyBody),
        (Message::new("bad topic!", "x"), ErrorKind::InvalidTopic),
        (Message::new("", "x"), ErrorKind::InvalidTopic),
        (Message::new("t".repeat(128), "x"), ErrorKind::InvalidTopic),
        (
            Message::new("SCHEDULE_TOPIC_XXXX", "x"),
            ErrorKind::ReservedTopic,
        ),
        (
            Message::new("RMQ_SYS_TRANS_HALF_TOPIC", "x"),
            ErrorKind::ReservedTopic,
        ),
        (
            Message::new("T", vec![7u8; 1025]),
            ErrorKind::MessageTooLarge,
        ),
        (
            Message::new("T", "x").with_property("UNIQ_KEY", "forged"),
            ErrorKind::InvalidMessage,
        ),
    ];
    for (msg, kind) in cases {
        let topic = msg.topic.clone();
        assert_eq!(
            producer.send(msg.clone()).await.unwrap_err().kind(),
            kind,
            "sync {topic:?}"
        );
        assert_eq!(
            producer.send_async(msg.clone()).await.unwrap_err().kind(),
            kind,
            "async {topic:?}"
        );
        assert_eq!(
            producer.send_oneway(msg).await.unwrap_err().kind(),
            kind,
            "oneway {topic:?}"
        );
    }
    // The same producer does reach for the network with a valid message.
    let e = producer.send(Message::new("T", "x")).await.unwrap_err();
    assert!(
        matches!(e.kind(), ErrorKind::Connect | ErrorKind::Network),
        "{e}"
    );
    producer.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn calls_in_the_wrong_state_are_illegal_state_errors() {
    let producer = producer(&unique_group("states"), &[]);
    let msg = Message::new(unique_topic("States"), "x");
    assert_eq!(
        producer.send(msg.clone()).await.unwrap_err().kind(),
        ErrorKind::IllegalState
    );
    assert_eq!(
        producer.send_async(msg.clone()).await.unwrap_err().kind(),
        ErrorKind::IllegalState
    );
    producer.start().await.unwrap();
    assert_eq!(
        producer.start().await.unwrap_err().kind(),
        ErrorKind::IllegalState
    );
    producer.shutdown().await.unwrap();
    producer.shutdown().await.unwrap();
    for e in [
        producer.send(msg.clone()).await.unwrap_err(),
        producer.send_async(msg.clone()).await.unwrap_err(),
        producer.send_oneway(msg.clone()).await.unwrap_err(),
        producer.start().await.unwrap_err(),
    ] {
        assert_eq!(e.kind(), ErrorKind::IllegalState, "{e}");
    }
}
