//! The producer behind the RocketMQ 5.3.3 Proxy (cluster mode, in front of the `masters`
//! cluster): `up --topology proxy` on a port base of its own. The producer's name server is the
//! Proxy's remoting port, which answers route requests itself (every group of a route at the
//! Proxy's own address, under its real broker name) and forwards each send to the master it
//! names. Messages are read back from the brokers by the Java reader, through the real
//! NameServer. Run by tests/deployments.sh (`make test-deployments`), one test at a time.
//!
//! Where the Proxy differs from a broker, the tests prove what it does (README.md, "Through the
//! 5.x Proxy"): a topic accepts only messages of its `message.type`; an immediate commit or
//! rollback is dropped, so the transaction check-back decides; replies are not relayed.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use futures_util::future::join_all;
use parking_lot::Mutex;
use rmq_core::producer::{LocalTransactionState, TransactionProducer};
use rmq_core::{ErrorKind, Message, ProducerConfig, SendResult, SendStatus};
use support::{
    Deployment, Stored, by_msg_id, eventually, now_ms, store_host, unique_group, unique_topic,
};

const PORT_BASE: u32 = 24876;
/// The broker's first transaction check 2 s after the half message, then every 2 s (defaults
/// 6 s and 30 s): behind the Proxy every outcome waits for a check. The Proxy announces a
/// transactional group to the brokers only every 20 s (`transactionHeartbeatPeriodSecond`);
/// until then a check finds no channel, and after `transactionCheckMax` (15) such checks the
/// broker discards the half message: at 2 s per check that would be 30 s, so allow more.
const BROKER_CONF: &str =
    "transactionTimeOut=2000;transactionCheckInterval=2000;transactionCheckMax=1000";
const MESSAGE_ILLEGAL: i32 = 13;

fn proxy() -> &'static Deployment {
    static UP: OnceLock<&'static Deployment> = OnceLock::new();
    UP.get_or_init(|| {
        let deployment = support::deployment_with_env(
            PORT_BASE,
            &["--topology", "proxy"],
            &[("RMQ_BROKER_CONF", BROKER_CONF)],
        );
        print_rss(deployment, "after up");
        deployment
    })
}

fn print_rss(deployment: &Deployment, when: &str) {
    let rss: Vec<String> = deployment
        .server_rss_kib()
        .into_iter()
        .map(|(name, kib)| format!("{name} {} MiB", kib / 1024))
        .collect();
    println!("server RSS {when}: {}", rss.join(", "));
}

/// A topic on both brokers whose `message.type` attribute is `message_type` (NORMAL, DELAY,
/// TRANSACTION...): the Proxy accepts only messages of that type.
fn topic_of_type(prefix: &str, message_type: &str) -> String {
    let topic = unique_topic(prefix);
    proxy().cli(&[
        "create-topic",
        &topic,
        "--queues",
        "2",
        "--message-type",
        message_type,
    ]);
    topic
}

/// The real address of a broker behind the Proxy (the launcher's ports).
fn broker_addr(broker_name: &str) -> String {
    let base: u32 = proxy().port_base.parse().unwrap();
    let port = match broker_name {
        "broker-a" => base + 100,
        "broker-b" => base + 200,
        other => panic!("unexpected broker {other}"),
    };
    format!("127.0.0.1:{port}")
}

/// The stored copy of an acknowledged message is where the result says: the broker named in
/// the route, at its own address (not the Proxy's), the queue and offset the broker gave.
fn assert_stored_as_acknowledged(stored: &BTreeMap<String, Stored>, result: &SendResult) {
    let found = stored
        .get(&result.msg_id)
        .unwrap_or_else(|| panic!("{} acknowledged but not stored", result.msg_id));
    assert_eq!(found.broker_name, result.queue.broker_name);
    assert_eq!(found.queue_id, i64::from(result.queue.queue_id));
    assert_eq!(found.queue_offset, result.queue_offset);
    assert_eq!(found.offset_msg_id, result.offset_msg_id);
    assert_eq!(
        store_host(&result.offset_msg_id),
        broker_addr(&result.queue.broker_name),
        "stored by the broker the route named"
    );
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs the proxy deployment: tests/deployments.sh"]
async fn every_send_mode_through_the_proxy_is_stored_on_the_named_broker() {
    const PER_MODE: usize = 100;
    let deployment = proxy();
    let topic = unique_topic("PxModes");
    deployment.create_topic(&topic, 4);
    let producer = deployment.producer(&unique_group("px_modes"), &[]);
    producer.start().await.unwrap();
    // The Proxy's route keeps the real broker names (every group at the Proxy's address).
    let brokers: BTreeSet<String> = producer
        .publish_queues(&topic)
        .await
        .unwrap()
        .into_iter()
        .map(|q| q.broker_name)
        .collect();
    assert_eq!(
        brokers,
        BTreeSet::from(["broker-a".into(), "broker-b".into()])
    );

    let body = |mode: &str, i: usize| format!("{mode} through the proxy {i}");
    let mut acknowledged = Vec::new();
    for i in 0..PER_MODE {
        let result = producer
            .send(Message::new(&topic, body("sync", i)).with_tags("TagSync"))
            .await
            .unwrap();
        assert_eq!(result.status, SendStatus::SendOk);
        acknowledged.push(result);
    }
    let sends = (0..PER_MODE).map(|i| producer.send_async(Message::new(&topic, body("async", i))));
    for result in join_all(sends).await {
        acknowledged.push(result.unwrap());
    }
    for i in 0..PER_MODE {
        producer
            .send_oneway(Message::new(&topic, body("oneway", i)))
            .await
            .unwrap();
    }
    producer.shutdown().await.unwrap();

    let stored = deployment.read_topic(&topic, 3 * PER_MODE);
    assert_eq!(stored.len(), 3 * PER_MODE, "each message stored once");
    let by_id = by_msg_id(&stored);
    for result in &acknowledged {
        assert_stored_as_acknowledged(&by_id, result);
    }
    let bodies: BTreeSet<Vec<u8>> = stored.iter().map(|s| s.body.clone()).collect();
    for i in 0..PER_MODE {
        assert!(
            bodies.contains(body("oneway", i).as_bytes()),
            "oneway {i} lost"
        );
    }
    let used: BTreeSet<&str> = stored.iter().map(|s| s.broker_name.as_str()).collect();
    assert_eq!(used.len(), 2, "sends spread over both brokers: {used:?}");
    print_rss(deployment, "after the send modes");
}

/// The Proxy drops an answer when its connection's write buffer is over Netty's high-water mark
/// (64 KiB; `AbstractRemotingActivity.writeResponse` returns when the channel is not writable):
/// with 1,000 sends in flight on one connection, some may never be answered. Whatever it drops,
/// each send is answered once, acknowledged ones are stored, and the rest end at the budget's end
/// (TIMEOUT, or CONNECT when it ran out while reconnecting).
#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs the proxy deployment: tests/deployments.sh"]
async fn a_thousand_pipelined_sends_are_each_answered_once_though_the_proxy_drops_answers() {
    const IN_FLIGHT: usize = 1000;
    let deployment = proxy();
    let topic = unique_topic("PxPipelined");
    deployment.create_topic(&topic, 4);
    let producer = deployment.producer(&unique_group("px_pipelined"), &[]);
    producer.start().await.unwrap();
    let sends =
        (0..IN_FLIGHT).map(|i| producer.send_async(Message::new(&topic, format!("pipelined {i}"))));
    let outcomes = join_all(sends).await;
    producer.shutdown().await.unwrap();

    let mut acknowledged = Vec::new();
    let mut timed_out = 0;
    for outcome in outcomes {
        match outcome {
            Ok(result) => acknowledged.push(result),
            // The budget ran out: waiting for an answer the Proxy dropped, or, after a probe
            // it dropped too made the connection look hung, reconnecting for another attempt.
            Err(e) if matches!(e.kind(), ErrorKind::Timeout | ErrorKind::Connect) => timed_out += 1,
            Err(e) => panic!("neither an answer nor the budget's end: {e}"),
        }
    }
    let stored = deployment.read_topic(&topic, acknowledged.len());
    let mut copies: BTreeMap<&str, usize> = BTreeMap::new();
    for message in &stored {
        *copies.entry(message.msg_id.as_str()).or_default() += 1;
    }
    println!(
        "{IN_FLIGHT} sends in flight through the Proxy: {} acknowledged, {timed_out} out of budget, {} stored, {} ids stored twice",
        acknowledged.len(),
        stored.len(),
        copies.values().filter(|&&n| n > 1).count()
    );
    for result in &acknowledged {
        assert!(
            copies.contains_key(result.msg_id.as_str()),
            "{} acknowledged but not stored",
            result.msg_id
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs the proxy deployment: tests/deployments.sh"]
async fn batches_through_the_proxy_are_stored_message_by_message() {
    let deployment = proxy();
    let topic = unique_topic("PxBatch");
    deployment.create_topic(&topic, 4);
    let producer = deployment.producer(&unique_group("px_batch"), &[]);
    producer.start().await.unwrap();
    let batch = |name: &str, n: usize| -> Vec<Message> {
        (0..n)
            .map(|i| {
                Message::new(&topic, format!("{name} {i}"))
                    .with_keys([format!("{name}-{i}")])
                    .with_property("index", i.to_string())
            })
            .collect()
    };
    let queue = producer.publish_queues(&topic).await.unwrap()[5].clone();
    let sent = vec![
        (producer.send_batch(batch("batch", 20)).await.unwrap(), 20),
        (
            producer
                .send_batch_to_queue(batch("to queue", 5), queue.clone())
                .await
                .unwrap(),
            5,
        ),
    ];
    assert_eq!(sent[1].0.queue, queue);
    producer.shutdown().await.unwrap();

    let stored = by_msg_id(&deployment.read_topic(&topic, 25));
    assert_eq!(stored.len(), 25);
    for (result, n) in &sent {
        assert_eq!(result.status, SendStatus::SendOk);
        let (ids, offsets) = (result.msg_ids(), result.offset_msg_ids());
        assert_eq!((ids.len(), offsets.len()), (*n, *n));
        for (i, id) in ids.into_iter().enumerate() {
            let found = &stored[id];
            assert_eq!(found.broker_name, result.queue.broker_name);
            assert_eq!(found.queue_id, i64::from(result.queue.queue_id));
            assert_eq!(found.queue_offset, result.queue_offset + i as i64);
            assert_eq!(found.offset_msg_id, offsets[i]);
            assert_eq!(found.user_properties["index"], i.to_string());
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs the proxy deployment: tests/deployments.sh"]
async fn delay_and_timer_messages_need_a_delay_topic_behind_the_proxy() {
    let deployment = proxy();
    let delay_topic = topic_of_type("PxDelay", "DELAY");
    let normal_topic = unique_topic("PxNormal");
    deployment.create_topic(&normal_topic, 2);
    let producer = deployment.producer(&unique_group("px_delay"), &[]);
    producer.start().await.unwrap();

    let mut level1 = Message::new(&delay_topic, "delay level 1 (1 s)");
    level1.delay_level = Some(1);
    let mut timer = Message::new(&delay_topic, "timer, due in 3 s");
    timer.deliver_time_ms = Some(now_ms() + 3000);
    // (result, delay, the broker's precision: the timer wheel works in whole seconds)
    let mut due = Vec::new();
    for (msg, delay_ms, precision_ms) in [(level1.clone(), 1000, 100), (timer.clone(), 3000, 1000)]
    {
        let result = producer.send(msg).await.unwrap();
        assert_eq!(result.status, SendStatus::SendOk);
        due.push((result, delay_ms, precision_ms));
    }

    // A broker takes any message on any topic; the Proxy refuses a type the topic does not
    // declare, both ways, with MESSAGE_ILLEGAL (not retried: it would fail on every broker).
    let mut refused = Vec::new();
    for msg in [
        Message {
            topic: normal_topic.clone(),
            ..level1
        },
        Message {
            topic: normal_topic.clone(),
            ..timer
        },
        Message::new(&delay_topic, "a normal message on a DELAY topic"),
    ] {
        let err = producer.send(msg).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Broker, "{err}");
        assert_eq!(err.response_code(), Some(MESSAGE_ILLEGAL), "{err}");
        refused.push(err.to_string());
    }
    println!("refused by the proxy: {refused:#?}");
    producer.shutdown().await.unwrap();

    let stored = by_msg_id(&deployment.read_topic(&delay_topic, due.len()));
    assert_eq!(
        stored.len(),
        due.len(),
        "the refused message was not stored"
    );
    for (result, delay_ms, precision_ms) in &due {
        let found = &stored[&result.msg_id];
        assert_eq!(found.topic, delay_topic);
        let waited = found.store_timestamp - found.born_timestamp;
        assert!(
            waited >= delay_ms - precision_ms,
            "{}: stored {waited} ms after birth, delay {delay_ms} ms",
            result.msg_id
        );
    }
    let normal = deployment.cli(&["read-topic", &normal_topic]);
    assert!(normal.trim().is_empty(), "refused but stored: {normal}");
}

/// Behind a broker, the local transaction's answer decides at once. Behind the Proxy an
/// immediate END_TRANSACTION from a remoting client is dropped (the Proxy knows only
/// transactions it relayed a check for), so the broker's check-back decides every outcome:
/// the checker's answer wins even where the local transaction said otherwise.
#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs the proxy deployment: tests/deployments.sh"]
async fn behind_the_proxy_the_check_back_decides_every_transaction() {
    let deployment = proxy();
    let topic = topic_of_type("PxTx", "TRANSACTION");
    // body -> (local transaction's answer, check-back's answer)
    let cases: BTreeMap<&str, (LocalTransactionState, LocalTransactionState)> = [
        (
            "commit",
            (LocalTransactionState::Commit, LocalTransactionState::Commit),
        ),
        (
            "rollback",
            (
                LocalTransactionState::Rollback,
                LocalTransactionState::Rollback,
            ),
        ),
        (
            "local commit, checked rollback",
            (
                LocalTransactionState::Commit,
                LocalTransactionState::Rollback,
            ),
        ),
        (
            "local rollback, checked commit",
            (
                LocalTransactionState::Rollback,
                LocalTransactionState::Commit,
            ),
        ),
    ]
    .into_iter()
    .collect();
    let checked = Arc::new(Mutex::new(BTreeMap::<String, Instant>::new()));
    let record = checked.clone();
    let answers = cases.clone();
    let mut config = ProducerConfig::new(unique_group("px_tx"));
    config.namesrv_addr = Some(deployment.namesrv.clone());
    // The Proxy relays a check only to a connection whose heartbeat named the group; the first
    // heartbeat would otherwise come after 30 s.
    config.set("heartbeat_interval_ms", "1000").unwrap();
    let producer = TransactionProducer::new(config, move |check| {
        let body = String::from_utf8_lossy(&check.message.body).into_owned();
        record
            .lock()
            .entry(check.msg_id.clone())
            .or_insert_with(Instant::now);
        answers
            .get(body.as_str())
            .map_or(LocalTransactionState::Unknown, |a| a.1)
    })
    .unwrap();
    producer.start().await.unwrap();

    let sent_at = Instant::now();
    let mut ids = BTreeMap::new();
    for (body, (local, _)) in &cases {
        let result = producer
            .send_in_transaction(Message::new(&topic, *body), |_, half| {
                assert_eq!(half.status, SendStatus::SendOk);
                *local
            })
            .await
            .unwrap();
        assert_eq!(result.local_state, *local);
        ids.insert(result.send_result.msg_id.clone(), *body);
    }

    let every_one_checked = || ids.keys().all(|id| checked.lock().contains_key(id));
    assert!(
        eventually(150, every_one_checked),
        "the broker did not check every transaction through the proxy: {:?}",
        checked.lock()
    );
    for (id, at) in checked.lock().iter() {
        println!(
            "{:?} first checked {:.1} s after the sends",
            ids[id],
            (*at - sent_at).as_secs_f64()
        );
    }
    // The two the check-back committed, nothing else, whatever the local transactions said.
    let stored = by_msg_id(&deployment.read_topic(&topic, 2));
    producer.shutdown().await.unwrap();
    let visible: BTreeSet<&str> = stored.keys().map(|id| ids[id]).collect();
    assert_eq!(
        visible,
        BTreeSet::from(["commit", "local rollback, checked commit"]),
        "the check-back's answers decide"
    );
    println!(
        "committed visible {:.1} s after the sends",
        sent_at.elapsed().as_secs_f64()
    );
    print_rss(deployment, "after the transactions");
}

/// A request through the Proxy is stored and reaches a responder on the brokers, but the reply
/// never comes back: the requester's client is known to the Proxy only (its heartbeats go
/// there), so the broker has no connection to push the reply on and refuses it (SYSTEM_ERROR,
/// which the Java responder retries, then gives up); and the Proxy serves no
/// SEND_REPLY_MESSAGE for a responder that would send its reply through it. Our user sees a
/// timeout.
#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs the proxy deployment: tests/deployments.sh"]
async fn a_request_through_the_proxy_gets_no_reply_and_times_out() {
    let deployment = proxy();
    let topic = unique_topic("PxRequest");
    deployment.create_topic(&topic, 2);
    let mut responder = std::process::Command::new(support::launcher())
        .args(["--port-base", &deployment.port_base])
        .args([
            "reply-responder",
            &topic,
            "--count",
            "1",
            "--timeout-ms",
            "15000",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("rmq-cluster reply-responder");
    let mut lines = BufReader::new(responder.stdout.take().unwrap()).lines();
    let ready = lines.next().expect("responder printed nothing").unwrap();
    assert!(ready.contains("ready"), "{ready}");

    let producer = deployment.producer(&unique_group("px_request"), &[]);
    producer.start().await.unwrap();
    let asked_at = Instant::now();
    let err = producer
        .request(
            Message::new(&topic, "ping through the proxy"),
            Duration::from_secs(8),
        )
        .await
        .unwrap_err();
    println!(
        "request through the proxy: {err} after {:.1} s",
        asked_at.elapsed().as_secs_f64()
    );
    assert_eq!(err.kind(), ErrorKind::Timeout, "{err}");
    producer.shutdown().await.unwrap();

    let output = responder.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    println!("responder ({}): {}", output.status, stderr.trim());
    assert!(
        !output.status.success() && stderr.contains("reply failed"),
        "the responder got the request, and its reply was refused: {stderr}"
    );
    let stored = deployment.read_topic(&topic, 1);
    assert_eq!(stored[0].body, b"ping through the proxy");
}
