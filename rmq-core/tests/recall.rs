//! Recall of timer messages (5.3.2+ brokers started with `recallMessageEnable=true`): a recalled
//! message is never delivered, the broker's refusals come back as `Broker` errors with its code
//! and remark, and a bad handle fails at the call. The Java reader is the judge of delivery.

mod support;

use rmq_core::protocol::recall::RecallHandle;
use rmq_core::{ErrorKind, Message, Producer, ProducerConfig};
use support::{
    create_topic, missing_on_4x, now_ms, producer, read_topic, unique_group, unique_topic,
};

fn timer_message(topic: &str, body: &'static str, due_in_ms: i64) -> Message {
    let mut msg = Message::new(topic, body);
    msg.deliver_time_ms = Some(now_ms() + due_in_ms);
    msg
}

async fn started_producer() -> Producer {
    let producer = producer(&unique_group("recall"), &[]);
    producer.start().await.unwrap();
    producer
}

/// One wait past the due times serves every case that needs one.
#[tokio::test(flavor = "multi_thread")]
async fn recalled_timer_message_is_never_delivered() {
    if missing_on_4x("recall (RECALL_MESSAGE); skipped") {
        return;
    }
    let topic = unique_topic("Recall");
    let other_topic = unique_topic("RecallOther");
    std::thread::scope(|s| {
        s.spawn(|| create_topic(&topic, 2));
        s.spawn(|| create_topic(&other_topic, 2));
    });
    let producer = started_producer().await;

    let expiring = producer
        .send(timer_message(&topic, "due in 2 s, recalled too late", 2000))
        .await
        .unwrap();
    // The recalled message is due before the kept one: once the kept one is delivered, the
    // recalled one would have been too.
    let recalled = producer
        .send(timer_message(&topic, "due in 5 s, recalled", 5000))
        .await
        .unwrap();
    let kept = producer
        .send(timer_message(&topic, "due in 6 s, kept", 6000))
        .await
        .unwrap();

    let handle = recalled
        .recall_handle
        .clone()
        .expect("a timer message's handle");
    let decoded = RecallHandle::decode(&handle).unwrap();
    assert_eq!(decoded.topic, topic);
    assert_eq!(decoded.broker_name, recalled.queue.broker_name);
    assert_eq!(decoded.message_id, recalled.msg_id);
    assert_eq!(
        producer.recall(&topic, &handle).await.unwrap(),
        recalled.msg_id
    );

    let kept_handle = kept
        .recall_handle
        .clone()
        .expect("a timer message's handle");
    let err = producer
        .recall(&other_topic, &kept_handle)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Broker, "{err}");
    assert_eq!(err.response_code(), Some(604), "{err}");
    assert_eq!(
        err.remark(),
        Some("recall failed, topic not match"),
        "{err}"
    );

    let normal = producer.send(Message::new(&topic, "normal")).await.unwrap();
    assert_eq!(normal.recall_handle, None);
    let mut level = Message::new(&topic, "delay level 1");
    level.delay_level = Some(1);
    let level = producer.send(level).await.unwrap();
    assert_eq!(level.recall_handle, None);
    let batch = producer
        .send_batch(vec![Message::new(&topic, "b1"), Message::new(&topic, "b2")])
        .await
        .unwrap();
    assert_eq!(batch.recall_handle, None);

    let mut expected: Vec<String> = vec![expiring.msg_id.clone(), kept.msg_id, normal.msg_id];
    expected.push(level.msg_id);
    expected.extend(batch.msg_ids().iter().map(|id| id.to_string()));
    let stored = tokio::task::spawn_blocking({
        let topic = topic.clone();
        let expect = expected.len();
        move || read_topic(&topic, expect)
    })
    .await
    .unwrap();
    let stored_ids: Vec<&str> = stored.iter().map(|s| s.msg_id.as_str()).collect();
    for id in &expected {
        assert!(
            stored_ids.contains(&id.as_str()),
            "{id} not delivered: {stored_ids:?}"
        );
    }
    assert!(
        !stored_ids.contains(&recalled.msg_id.as_str()),
        "the recalled message {} was delivered",
        recalled.msg_id
    );
    assert_eq!(stored.len(), expected.len(), "{stored_ids:?}");

    // Long past its due time (the kept message, due later, was delivered).
    let late = expiring.recall_handle.expect("a timer message's handle");
    let err = producer.recall(&topic, &late).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Broker, "{err}");
    assert_eq!(err.response_code(), Some(604), "{err}");
    assert_eq!(
        err.remark(),
        Some("recall failed, timestamp invalid"),
        "{err}"
    );
    producer.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_namespaced_topic_is_wrapped_as_sends_wrap_it() {
    if missing_on_4x("recall (RECALL_MESSAGE); skipped") {
        return;
    }
    let topic = unique_topic("RecallSpaced");
    let producer = producer(&unique_group("recall"), &[("namespace", "rns")]);
    producer.start().await.unwrap();
    let sent = producer
        .send(timer_message(&topic, "due in a minute, recalled", 60_000))
        .await
        .unwrap();
    let handle = sent.recall_handle.expect("a timer message's handle");
    assert_eq!(
        RecallHandle::decode(&handle).unwrap().topic,
        format!("rns%{topic}")
    );
    assert_eq!(producer.recall(&topic, &handle).await.unwrap(), sent.msg_id);
    producer.shutdown().await.unwrap();
}

/// On a producer whose name server does not exist: any network traffic would fail otherwise.
#[tokio::test(flavor = "multi_thread")]
async fn bad_arguments_fail_at_the_call() {
    let topic = unique_topic("RecallArgs");
    let mut config = ProducerConfig::new(unique_group("recall"));
    config.namesrv_addr = Some("127.0.0.1:1".into());
    let producer = Producer::new(config).unwrap();
    let valid_handle = "djEgVCBiIDEgSUQ="; // "v1 T b 1 ID"
    let err = producer.recall(&topic, valid_handle).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::IllegalState, "{err}");

    producer.start().await.unwrap();
    for garbage in ["", "garbage!", "aGVsbG8=", "djEgVCBiIDE="] {
        let err = producer.recall(&topic, garbage).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidArgument, "{garbage:?}: {err}");
        assert!(err.message().contains("recall handle is invalid"), "{err}");
    }
    for (bad_topic, kind) in [
        ("", ErrorKind::InvalidTopic),
        ("bad topic", ErrorKind::InvalidTopic),
        ("%RETRY%G", ErrorKind::InvalidTopic),
        ("SCHEDULE_TOPIC_XXXX", ErrorKind::ReservedTopic),
    ] {
        let err = producer.recall(bad_topic, valid_handle).await.unwrap_err();
        assert_eq!(err.kind(), kind, "{bad_topic:?}: {err}");
    }
    producer.shutdown().await.unwrap();
}
