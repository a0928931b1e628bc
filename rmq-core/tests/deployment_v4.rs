//! The producer on RocketMQ 4.9.7 (`up --version 4.9.7`: two lone masters), every feature 4.9 has,
//! read back by the 4.9.7 Java reader; and what 4.9 lacks (timer messages, recall), as the user sees it.
//! Run by tests/deployments.sh (`make test-deployments`, part of `make test`), one test at a time;
//! the transaction test needs the quick checks it sets (`RMQ_BROKER_CONF`).

mod support;

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::sync::{Arc, Once};
use std::time::{Duration, Instant};

use base64::Engine;
use futures_util::future::join_all;
use rmq_core::{ErrorKind, Message, SendStatus};
use support::{
    BrokerAddrs, Deployment, Stored, by_msg_id, compressible_body, now_ms, unique_group,
    unique_topic,
};

const PORT_BASE: u32 = 26876;

fn v4() -> &'static Deployment {
    static BROUGHT_UP: Once = Once::new();
    let began = Instant::now();
    let deployment = support::deployment(PORT_BASE, &["--version", "4.9.7"]);
    BROUGHT_UP.call_once(|| println!("4.9.7 masters up in {:?}", began.elapsed()));
    deployment
}

/// A topic with `queues` queues on each of the two brokers.
fn topic(prefix: &str, queues: u32) -> String {
    let topic = unique_topic(prefix);
    v4().create_topic(&topic, queues);
    topic
}

fn stored<'a>(stored: &'a std::collections::BTreeMap<String, Stored>, id: &str) -> &'a Stored {
    stored
        .get(id)
        .unwrap_or_else(|| panic!("{id} was acknowledged but the 4.9.7 reader does not find it"))
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs the v4 deployment: tests/deployments.sh"]
async fn send_modes_queue_selection_and_batches_are_stored() {
    let topic = topic("V4Modes", 4);
    let producer = v4().producer(&unique_group("v4_modes"), &[]);
    producer.start().await.unwrap();
    let mut sent = Vec::new(); // (result, body)
    for i in 0..10 {
        let body = format!("sync {i}");
        let msg = Message::new(&topic, body.clone())
            .with_tags("TagV4")
            .with_keys([format!("key-{i}")])
            .with_property("index", i.to_string());
        sent.push((producer.send(msg).await.unwrap(), body));
    }
    let bodies: Vec<String> = (0..10).map(|i| format!("async {i}")).collect();
    let results = join_all(
        bodies
            .iter()
            .map(|b| producer.send_async(Message::new(&topic, b.clone()))),
    )
    .await;
    for (result, body) in results.into_iter().zip(bodies) {
        sent.push((result.unwrap(), body));
    }
    let queues = producer.publish_queues(&topic).await.unwrap();
    assert_eq!(queues.len(), 8, "4 queues on each broker: {queues:?}");
    let chosen = queues[5].clone();
    let explicit = producer
        .send_to_queue(Message::new(&topic, "explicit"), chosen.clone())
        .await
        .unwrap();
    assert_eq!(explicit.queue, chosen);
    sent.push((explicit, "explicit".into()));
    let keyed: Vec<_> = join_all((0..3).map(|i| {
        producer.send_with_sharding_key(Message::new(&topic, format!("k{i}")), "order-7")
    }))
    .await
    .into_iter()
    .map(Result::unwrap)
    .collect();
    assert!(
        keyed.iter().all(|r| r.queue == keyed[0].queue),
        "one sharding key, one queue"
    );
    for (i, result) in keyed.into_iter().enumerate() {
        sent.push((result, format!("k{i}")));
    }
    let batch = producer
        .send_batch(
            (0..3)
                .map(|i| Message::new(&topic, format!("batch {i}")))
                .collect(),
        )
        .await
        .unwrap();
    let batch_ids: Vec<String> = batch.msg_ids().into_iter().map(str::to_string).collect();
    assert_eq!(batch_ids.len(), 3, "{batch:?}");
    for _ in 0..5 {
        producer
            .send_oneway(Message::new(&topic, "oneway"))
            .await
            .unwrap();
    }
    producer.shutdown().await.unwrap();

    let all = v4().read_topic(&topic, sent.len() + batch_ids.len() + 5);
    let by_id = by_msg_id(&all);
    for (result, body) in &sent {
        assert_eq!(result.status, SendStatus::SendOk);
        let found = stored(&by_id, &result.msg_id);
        assert_eq!(found.body, body.as_bytes());
        assert_eq!(found.offset_msg_id, result.offset_msg_id);
        assert_eq!(
            (
                found.broker_name.as_str(),
                found.queue_id,
                found.queue_offset
            ),
            (
                result.queue.broker_name.as_str(),
                i64::from(result.queue.queue_id),
                result.queue_offset
            )
        );
    }
    let first = stored(&by_id, &sent[0].0.msg_id);
    assert_eq!(first.tags.as_deref(), Some("TagV4"));
    assert_eq!(first.keys.as_deref(), Some("key-0"));
    assert_eq!(
        first.user_properties.get("index").map(String::as_str),
        Some("0")
    );
    for (i, id) in batch_ids.iter().enumerate() {
        let found = stored(&by_id, id);
        assert_eq!(found.body, format!("batch {i}").as_bytes());
        assert_eq!(
            found.queue_offset,
            batch.queue_offset + i as i64,
            "batch order"
        );
    }
    assert_eq!(all.iter().filter(|s| s.body == b"oneway").count(), 5);
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs the v4 deployment: tests/deployments.sh"]
async fn transactions_commit_roll_back_and_answer_the_check_back() {
    let topic = topic("V4Tx", 2);
    // The unknown one is committed by the check-back answer (the 4.9 broker's check names no
    // broker: the answer must carry no `bname`).
    v4().assert_transactions_settle(&topic, v4().config(&unique_group("v4_tx"), &[]))
        .await;
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs the v4 deployment: tests/deployments.sh"]
async fn requests_get_the_4_9_responders_replies() {
    let topic = topic("V4Request", 2);
    let mut responder = v4().spawn(&["reply-responder", &topic, "--count", "2"]);
    let mut lines = BufReader::new(responder.stdout.take().unwrap()).lines();
    let ready = lines.next().expect("responder printed nothing").unwrap();
    assert!(ready.contains("ready"), "{ready}");
    let producer = v4().producer(&unique_group("v4_request"), &[]);
    producer.start().await.unwrap();
    for i in 0..2 {
        let body = format!("ping {i}");
        let reply = producer
            .request(Message::new(&topic, body.clone()), Duration::from_secs(30))
            .await
            .unwrap();
        assert_eq!(reply.body.as_ref(), format!("reply:{body}").as_bytes());
    }
    producer.shutdown().await.unwrap();
    assert!(responder.wait().unwrap().success());
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs the v4 deployment: tests/deployments.sh"]
async fn delay_levels_are_held_and_timer_messages_are_not() {
    let topic = topic("V4Delay", 2);
    let producer = v4().producer(&unique_group("v4_delay"), &[]);
    producer.start().await.unwrap();
    let mut delayed = Message::new(&topic, "delay level 2 (5 s)");
    delayed.delay_level = Some(2);
    let delayed = producer.send(delayed).await.unwrap();
    // 4.9 has no timer wheel: it ignores TIMER_DELIVER_MS and stores the message at once.
    let mut timer = Message::new(&topic, "timer, due in 10 minutes");
    timer.deliver_time_ms = Some(now_ms() + 600_000);
    let timer = producer.send(timer).await.unwrap();
    assert_eq!(timer.recall_handle, None);
    // 4.9 knows no RECALL_MESSAGE: a well-formed handle gets a clear refusal, its code kept.
    let handle = base64::engine::general_purpose::URL_SAFE.encode(format!(
        "v1 {topic} {} {} {}",
        timer.queue.broker_name,
        now_ms() + 600_000,
        timer.msg_id
    ));
    let err = producer.recall(&topic, &handle).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Broker, "{err}");
    assert_eq!(err.response_code(), Some(3), "{err}");
    assert!(err.message().contains("does not support recall"), "{err}");
    producer.shutdown().await.unwrap();

    let by_id = by_msg_id(&v4().read_topic(&topic, 2));
    let held = stored(&by_id, &delayed.msg_id);
    let waited = held.store_timestamp - held.born_timestamp;
    assert!(waited >= 4900, "delay level 2 stored after {waited} ms");
    let at_once = stored(&by_id, &timer.msg_id);
    let waited = at_once.store_timestamp - at_once.born_timestamp;
    println!("4.9.7: a timer message due in 10 minutes was delivered after {waited} ms");
    assert!(waited < 60_000, "timer message held {waited} ms");
    assert_eq!(at_once.topic, topic);
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs the v4 deployment: tests/deployments.sh"]
async fn namespaced_topics_are_wrapped() {
    let namespace = format!("ns{}", fastrand::u32(..));
    let bare = unique_topic("V4Spaced");
    let wrapped = format!("{namespace}%{bare}");
    v4().create_topic(&wrapped, 2);
    let producer = v4().producer(&unique_group("v4_ns"), &[("namespace", &namespace)]);
    producer.start().await.unwrap();
    let single = producer.send(Message::new(&bare, "single")).await.unwrap();
    assert_eq!(single.queue.topic, bare);
    let batch = producer
        .send_batch(vec![Message::new(&bare, "b1"), Message::new(&bare, "b2")])
        .await
        .unwrap();
    producer.shutdown().await.unwrap();
    let by_id = by_msg_id(&v4().read_topic(&wrapped, 3));
    let mut ids = vec![single.msg_id.as_str()];
    ids.extend(batch.msg_ids());
    for id in ids {
        let found = stored(&by_id, id);
        assert_eq!(found.topic, wrapped);
        assert_eq!(found.properties.get("INSTANCE_ID"), Some(&namespace));
    }
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs the v4 deployment: tests/deployments.sh"]
async fn the_vip_channel_is_listen_port_minus_two() {
    let topic = topic("V4Vip", 2);
    let producer = v4().producer(&unique_group("v4_vip"), &[("vip_channel_enabled", "true")]);
    let addrs = Arc::new(BrokerAddrs::default());
    producer.add_send_hook(addrs.clone());
    producer.start().await.unwrap();
    let mut ids = Vec::new();
    for i in 0..8 {
        ids.push(
            producer
                .send(Message::new(&topic, format!("vip {i}")))
                .await
                .unwrap()
                .msg_id,
        );
    }
    producer.shutdown().await.unwrap();
    let base: u32 = v4().port_base.parse().unwrap();
    let vip: BTreeSet<String> = [base + 98, base + 198]
        .iter()
        .map(|p| format!("127.0.0.1:{p}"))
        .collect();
    assert_eq!(addrs.stored_at(), vip);
    let by_id = by_msg_id(&v4().read_topic(&topic, ids.len()));
    assert!(ids.iter().all(|id| by_id.contains_key(id)));
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs the v4 deployment: tests/deployments.sh"]
async fn zlib_lz4_and_zstd_bodies_are_read_back_by_4_9_with_their_type() {
    let topic = topic("V4Compressed", 2);
    let body = compressible_body(16 * 1024);
    let mut sent = Vec::new();
    // 4.9.7 has lz4 and zstd (its CompressionType): the type bits of sysFlag are kept.
    for (kind, flag) in [("zlib", 0x301), ("lz4", 0x101), ("zstd", 0x201)] {
        let producer = v4().producer(
            &unique_group(kind),
            &[("compress_type", kind), ("compress_threshold", "1024")],
        );
        producer.start().await.unwrap();
        let result = producer
            .send(Message::new(&topic, body.clone()))
            .await
            .unwrap();
        producer.shutdown().await.unwrap();
        sent.push((kind, flag, result.msg_id));
    }
    let by_id = by_msg_id(&v4().read_topic(&topic, sent.len()));
    for (kind, flag, id) in &sent {
        let found = stored(&by_id, id);
        assert_eq!(
            found.sys_flag & 0x701,
            *flag,
            "{kind}: sysFlag {:#x}",
            found.sys_flag
        );
        assert!(
            found.body == body,
            "{kind}: the 4.9.7 reader's body differs"
        );
    }
}
