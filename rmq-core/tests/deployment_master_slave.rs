//! The producer on master/slave groups (RocketMQ 5.3.3, SYNC_MASTER: each master acknowledges a
//! send once its slave has it): `up --topology master-slave` on a port base of its own. Run by
//! tests/deployments.sh (`make test-deployments`, part of `make test`), one test at a time: the
//! tests kill and pause brokers of the deployment they share, and each brings all four back
//! however it ends. Fault tests count stored copies (read back by the Java reader) against
//! send attempts, and async callbacks against sends.

mod support;

use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use rmq_core::{
    Error, ErrorKind, Message, MessageQueue, Producer, RoomWait, SendResult, SendStatus,
};
use support::{Deployment, SendAttempts, check_copies, store_host, unique_group, unique_topic};

const PORT_BASE: u32 = 22876;

fn master_slave() -> &'static Deployment {
    support::deployment(PORT_BASE, &["--topology", "master-slave"])
}

#[tokio::test]
#[ignore = "needs the master-slave deployment: tests/deployments.sh"]
async fn sends_go_to_the_masters_only_and_are_stored_on_them() {
    let cluster = master_slave();
    let topic = unique_topic("MsMasters");
    cluster.create_topic(&topic, 4);
    let producer = cluster.producer(&unique_group("ms_masters"), &[]);
    producer.start().await.unwrap();
    let masters: Vec<String> =
        serde_json::from_str::<serde_json::Value>(cluster.cli(&["route", &topic]).trim()).unwrap()
            ["brokerDatas"]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| b["brokerAddrs"]["0"].as_str().unwrap().to_string())
            .collect();
    assert_eq!(
        masters.len(),
        2,
        "two groups with a master each: {masters:?}"
    );
    let mut sent = Vec::new();
    for i in 0..40 {
        let result = producer
            .send(Message::new(&topic, format!("ms-{i}")))
            .await
            .unwrap();
        assert!(
            masters.contains(&store_host(&result.offset_msg_id)),
            "message {i} stored by {} (masters: {masters:?})",
            store_host(&result.offset_msg_id)
        );
        sent.push(result.msg_id);
    }
    producer.shutdown().await.unwrap();
    let stored = cluster.read_topic(&topic, sent.len());
    let mut ids: Vec<String> = stored.iter().map(|s| s.msg_id.clone()).collect();
    ids.sort();
    sent.sort();
    assert_eq!(ids, sent, "every acknowledged message stored once");
}

/// Every broker of the deployment, masters first: a master restarted after its slave would
/// otherwise find the slave still waiting to reconnect.
const BROKERS: [&str; 4] = ["broker-a", "broker-b", "broker-a-s", "broker-b-s"];

/// The send budget of the sends around a killed master (see its test).
const KILL_SEND_TIMEOUT_MS: &str = "10000";

/// Above the brokers' `slaveTimeout` (3 s, how long a SYNC_MASTER waits for its slave), so that
/// the broker's FLUSH_SLAVE_TIMEOUT reaches the client before its own timeout does.
const SLAVE_WAIT_SEND_TIMEOUT_MS: &str = "10000";

/// Brings every broker back (resumed, running, registered, slaves reconnected) when dropped,
/// however the test ends: the tests of this binary share the deployment.
struct RestoreBrokers;

impl Drop for RestoreBrokers {
    fn drop(&mut self) {
        let cluster = master_slave();
        for command in ["resume-broker", "start-broker"] {
            for broker in BROKERS {
                let output = Command::new(support::launcher())
                    .args(["--port-base", &cluster.port_base, command, broker])
                    .output();
                let failure = match output {
                    Ok(o) if o.status.success() => continue,
                    Ok(o) => String::from_utf8_lossy(&o.stderr).into_owned(),
                    Err(e) => e.to_string(),
                };
                // A panic while a failed test unwinds would abort the whole binary.
                if std::thread::panicking() {
                    eprintln!("could not {command} {broker}: {failure}");
                } else {
                    panic!("could not {command} {broker}: {failure}");
                }
            }
        }
    }
}

/// Runs a launcher command on the deployment off the async runtime; returns how long it took.
async fn cli(args: &[&str]) -> Duration {
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    tokio::task::spawn_blocking(move || {
        let begin = Instant::now();
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        master_slave().cli(&args);
        begin.elapsed()
    })
    .await
    .unwrap()
}

/// A started producer on the deployment whose attempts `attempts` counts.
async fn started_producer(
    prefix: &str,
    options: &[(&str, &str)],
    attempts: &Arc<SendAttempts>,
) -> Producer {
    let producer = master_slave().producer(&unique_group(prefix), options);
    producer.add_send_hook(attempts.clone());
    producer.start().await.unwrap();
    producer
}

/// One async send: when it started, and each call of its callback with the result and when.
type Slot = (Instant, Vec<(Result<SendResult, Error>, Duration)>);

/// The results of async sends by send number, as many as their callbacks were called.
#[derive(Default)]
struct Callbacks(Mutex<Vec<Slot>>);

impl Callbacks {
    /// Starts one async send whose callback records its result.
    fn send(self: &Arc<Self>, producer: &Producer, msg: Message) {
        let index = {
            let mut slots = self.0.lock();
            slots.push((Instant::now(), Vec::new()));
            slots.len() - 1
        };
        let callbacks = self.clone();
        producer
            .try_send_with_callback(msg, RoomWait::InTask, move |result| {
                let mut slots = callbacks.0.lock();
                let took = slots[index].0.elapsed();
                slots[index].1.push((result, took));
            })
            .expect("a running producer accepts the send");
    }
}

/// A send whose result a test checks: when it started, and what it returned.
type Outcome = (Instant, Result<SendResult, Error>, Duration);

/// Sync sends one after the other until `stop` is set.
async fn sync_stream(producer: Producer, topic: String, stop: Arc<AtomicBool>) -> Vec<Outcome> {
    let mut outcomes = Vec::new();
    let mut i = 0;
    while !stop.load(Ordering::SeqCst) {
        let begin = Instant::now();
        let result = producer
            .send(Message::new(&topic, format!("sync {i}")))
            .await;
        outcomes.push((begin, result, begin.elapsed()));
        i += 1;
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    outcomes
}

/// Async sends, kept at about `in_flight` at a time, until `stop` is set.
async fn async_pump(
    producer: Producer,
    topic: String,
    in_flight: usize,
    stop: Arc<AtomicBool>,
) -> Arc<Callbacks> {
    let callbacks = Arc::new(Callbacks::default());
    let mut i = 0;
    while !stop.load(Ordering::SeqCst) {
        while producer.in_flight() < in_flight {
            callbacks.send(&producer, Message::new(&topic, format!("async {i}")));
            i += 1;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    callbacks
}

/// Checks that a send acknowledged SEND_OK, and after `moved_at` on broker-a; returns its id.
fn acknowledged_ok(
    what: &str,
    (begin, result, _): &Outcome,
    moved_at: Instant,
    acknowledged: &mut Vec<String>,
) {
    let result = result
        .as_ref()
        .unwrap_or_else(|e| panic!("{what} failed: {e}"));
    assert_eq!(result.status, SendStatus::SendOk, "{what}: {result:?}");
    if *begin > moved_at {
        assert_eq!(
            result.queue.broker_name, "broker-a",
            "{what} started after broker-b's master died but went to broker-b"
        );
    }
    acknowledged.push(result.msg_id.clone());
}

fn print_durations(what: &str, outcomes: &[Outcome]) {
    let max = outcomes.iter().map(|o| o.2).max().unwrap_or_default();
    println!("{what}: {} sends, the longest took {max:?}", outcomes.len());
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs the master-slave deployment: tests/deployments.sh"]
async fn a_killed_master_moves_every_send_to_the_other_group_and_is_used_again_after_restart() {
    let cluster = master_slave();
    let _restore = RestoreBrokers;
    let topic = unique_topic("MsKilled");
    cluster.create_topic(&topic, 4);
    let attempts = Arc::new(SendAttempts::default());
    // Routes are polled every 2 s (30 s by default) so that the restarted master is seen soon.
    // A budget well above the default 3 s: four brokers and the test on a starved 2-core
    // machine answer a send in over 3 s now and then (seen at load 45, before any kill); what
    // is proven here is where the sends go and that none is lost.
    let producer = started_producer(
        "ms_killed",
        &[
            ("poll_namesrv_interval_ms", "2000"),
            ("send_timeout_ms", KILL_SEND_TIMEOUT_MS),
        ],
        &attempts,
    )
    .await;

    // Sync sends one after the other and a few hundred async sends in flight when broker-b's
    // master dies: the sends it answers no more go again to broker-a, within the budget.
    let stop = Arc::new(AtomicBool::new(false));
    let sync = tokio::spawn(sync_stream(producer.clone(), topic.clone(), stop.clone()));
    let pump = tokio::spawn(async_pump(
        producer.clone(),
        topic.clone(),
        300,
        stop.clone(),
    ));
    tokio::time::sleep(Duration::from_millis(500)).await;
    cli(&["kill-broker", "broker-b"]).await;
    let killed_at = Instant::now();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    stop.store(true, Ordering::SeqCst);
    let sync = sync.await.unwrap();
    let callbacks = pump.await.unwrap();
    assert!(
        support::eventually(20, || producer.in_flight() == 0),
        "{} async sends still in flight 20 s after the last started",
        producer.in_flight()
    );

    let mut acknowledged = Vec::new();
    print_durations("sync sends around the kill", &sync);
    for (i, outcome) in sync.iter().enumerate() {
        acknowledged_ok(
            &format!("sync send {i}"),
            outcome,
            killed_at,
            &mut acknowledged,
        );
    }
    let asyncs: Vec<Outcome> = std::mem::take(&mut *callbacks.0.lock())
        .into_iter()
        .enumerate()
        .map(|(i, (begin, mut calls))| {
            assert_eq!(
                calls.len(),
                1,
                "the callback of async send {i} was called {} time(s)",
                calls.len()
            );
            let (result, took) = calls.pop().unwrap();
            (begin, result, took)
        })
        .collect();
    print_durations("async sends around the kill", &asyncs);
    for (i, outcome) in asyncs.iter().enumerate() {
        acknowledged_ok(
            &format!("async send {i}"),
            outcome,
            killed_at,
            &mut acknowledged,
        );
    }
    let on_b = |o: &&Outcome| matches!(&o.1, Ok(r) if r.queue.broker_name == "broker-b");
    assert!(
        sync.iter().chain(&asyncs).filter(on_b).count() > 0,
        "no send reached broker-b before it was killed: the test proved nothing"
    );

    // Back: broker-b's master is used again once the producer's route shows it.
    let took = cli(&["start-broker", "broker-b"]).await;
    println!("start-broker broker-b took {took:?}");
    let restarted = Instant::now();
    let mut back = None;
    while back.is_none() && restarted.elapsed() < Duration::from_secs(30) {
        let result = producer
            .send(Message::new(&topic, "after the restart"))
            .await
            .unwrap();
        acknowledged.push(result.msg_id.clone());
        if result.queue.broker_name == "broker-b" {
            back = Some(restarted.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let back = back.expect("broker-b received nothing within 30 s of its restart");
    println!("first send stored on broker-b {back:?} after its restart");
    producer.shutdown().await.unwrap();

    // None lost; a copy beyond the first was stored by broker-b before it died, unanswered.
    let stored = cluster.read_topic(&topic, acknowledged.len());
    check_copies(&acknowledged, &stored, &attempts);
}

/// Sends with `send` (SYNC) until one of them was first tried on broker-b; returns the results
/// of all (every one of them stored somewhere) and that one's.
async fn sync_until_broker_b(
    producer: &Producer,
    topic: &str,
    attempts: &SendAttempts,
) -> (Vec<SendResult>, SendResult) {
    let mut results = Vec::new();
    for i in 0..16 {
        let result = producer
            .send(Message::new(topic, format!("sync {i}")))
            .await
            .unwrap();
        results.push(result.clone());
        // broker-a answers at once; a second attempt follows only a status from broker-b.
        if result.queue.broker_name == "broker-b" || attempts.of(&result.msg_id) > 1 {
            return (results, result);
        }
    }
    panic!("16 sends, none tried on broker-b: {results:?}");
}

/// Sends with `send_async` until one of them was stored on broker-b; returns all the results.
async fn async_until_broker_b(producer: &Producer, topic: &str) -> Vec<SendResult> {
    let mut results = Vec::new();
    for i in 0..16 {
        let result = producer
            .send_async(Message::new(topic, format!("async {i}")))
            .await
            .unwrap();
        results.push(result.clone());
        if result.queue.broker_name == "broker-b" {
            return results;
        }
    }
    panic!("16 async sends, none stored on broker-b: {results:?}");
}

/// The result on broker-b of `results`, which must be the last.
fn last_on_broker_b(results: &[SendResult]) -> &SendResult {
    let last = results.last().unwrap();
    assert_eq!(last.queue.broker_name, "broker-b", "{results:?}");
    last
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs the master-slave deployment: tests/deployments.sh"]
async fn a_slave_that_does_not_answer_reaches_the_user_as_a_status_retried_elsewhere_only_on_request()
 {
    let cluster = master_slave();
    let _restore = RestoreBrokers;
    let topic = unique_topic("MsSlave");
    cluster.create_topic(&topic, 4);
    let attempts = Arc::new(SendAttempts::default());
    // Plain round robin (no latency isolation), so that sends alternate between the groups.
    let options = |retry: &'static str| {
        [
            ("send_timeout_ms", SLAVE_WAIT_SEND_TIMEOUT_MS),
            ("latency_fault_tolerance", "false"),
            ("retry_another_broker_when_not_store_ok", retry),
        ]
    };
    let plain = started_producer("ms_slave", &options("false"), &attempts).await;
    let retrying = started_producer("ms_slave_retry", &options("true"), &attempts).await;
    let queue_b = MessageQueue {
        topic: topic.clone(),
        broker_name: "broker-b".into(),
        queue_id: 0,
    };

    // broker-b's slave frozen: broker-b stores each message and waits `slaveTimeout` for the
    // slave's ack in vain. Java reports that as a SendResult with FLUSH_SLAVE_TIMEOUT, not as
    // an error; only a SYNC send with retry_another_broker_when_not_store_ok goes on to
    // another broker (keeping the copy on broker-b), the async mode never looks at the status.
    cli(&["pause-broker", "broker-b-s"]).await;
    let begin = Instant::now();
    let (to_queue, (plain_sync, plain_sync_b), plain_async, (retry_sync, retried), retry_async) = tokio::join!(
        plain.send_to_queue(Message::new(&topic, "to broker-b"), queue_b.clone()),
        sync_until_broker_b(&plain, &topic, &attempts),
        async_until_broker_b(&plain, &topic),
        sync_until_broker_b(&retrying, &topic, &attempts),
        async_until_broker_b(&retrying, &topic),
    );
    println!("statuses with the slave paused, in {:?}", begin.elapsed());
    let to_queue = to_queue.unwrap();
    let mut acknowledged = vec![to_queue.msg_id.clone()];
    for (what, result) in [
        ("send_to_queue", &to_queue),
        ("send", &plain_sync_b),
        ("send_async", last_on_broker_b(&plain_async)),
        ("send_async, retry flag set", last_on_broker_b(&retry_async)),
    ] {
        println!(
            "{what}: {:?} on {}",
            result.status, result.queue.broker_name
        );
        assert_eq!(
            result.status,
            SendStatus::FlushSlaveTimeout,
            "{what}: {result:?}"
        );
        assert_eq!(result.queue.broker_name, "broker-b", "{what}: {result:?}");
        assert_eq!(
            attempts.of(&result.msg_id),
            1,
            "{what} was retried: {result:?}"
        );
    }
    println!(
        "send, retry flag set: {:?} on {} after {} attempts",
        retried.status,
        retried.queue.broker_name,
        attempts.of(&retried.msg_id)
    );
    assert_eq!(
        (
            retried.status,
            retried.queue.broker_name.as_str(),
            attempts.of(&retried.msg_id)
        ),
        (SendStatus::SendOk, "broker-a", 2),
        "a sync send with the retry flag set goes on to broker-a after broker-b's status: {retried:?}"
    );
    for results in [&plain_sync, &plain_async, &retry_sync, &retry_async] {
        acknowledged.extend(results.iter().map(|r| r.msg_id.clone()));
    }
    cli(&["resume-broker", "broker-b-s"]).await;

    // broker-b's slave gone (killed): the master has no HA connection at all.
    cli(&["kill-broker", "broker-b-s"]).await;
    let no_slave = plain
        .send_to_queue(Message::new(&topic, "no slave"), queue_b)
        .await
        .unwrap();
    println!("send_to_queue with the slave killed: {:?}", no_slave.status);
    // 5.3.3 no longer answers SLAVE_NOT_AVAILABLE: it waits for the ack as for a frozen slave.
    assert_eq!(
        no_slave.status,
        SendStatus::FlushSlaveTimeout,
        "{no_slave:?}"
    );
    acknowledged.push(no_slave.msg_id.clone());
    plain.shutdown().await.unwrap();
    retrying.shutdown().await.unwrap();

    // Every message answered with a status is stored on its master all the same; the one the
    // retry flag sent again is stored twice, on broker-b and on broker-a.
    let stored = cluster.read_topic(&topic, acknowledged.len() + 1);
    check_copies(&acknowledged, &stored, &attempts);
    let mut copies: Vec<&str> = stored
        .iter()
        .filter(|s| s.msg_id == retried.msg_id)
        .map(|s| s.broker_name.as_str())
        .collect();
    copies.sort();
    assert_eq!(
        copies,
        ["broker-a", "broker-b"],
        "copies of the retried message"
    );
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs the master-slave deployment: tests/deployments.sh"]
async fn with_every_master_down_sends_fail_at_once_with_no_route_and_resume_when_one_returns() {
    let cluster = master_slave();
    let restore = RestoreBrokers;
    let topic = unique_topic("MsNoMaster");
    cluster.create_topic(&topic, 4);
    let attempts = Arc::new(SendAttempts::default());
    let producer = started_producer(
        "ms_no_master",
        &[("send_timeout_ms", SLAVE_WAIT_SEND_TIMEOUT_MS)],
        &attempts,
    )
    .await;
    let mut acknowledged = Vec::new();
    for i in 0..10 {
        let result = producer
            .send(Message::new(&topic, format!("before {i}")))
            .await
            .unwrap();
        acknowledged.push(result.msg_id);
    }

    // Both masters killed, their slaves still registered: the route keeps the queues but names
    // no master. The running producer's cached route still names the dead masters: its sends
    // fail fast on refused connections, which refresh the route, then with NoRoute.
    cli(&["kill-broker", "broker-a"]).await;
    cli(&["kill-broker", "broker-b"]).await;
    let mut no_route_after = None;
    for i in 0..10 {
        let begin = Instant::now();
        let result = producer
            .send(Message::new(&topic, format!("no master {i}")))
            .await;
        let took = begin.elapsed();
        println!("send {i} with no master up: {took:?} {result:?}");
        let error = result.expect_err("a send succeeded with every master down");
        assert!(
            matches!(
                error.kind(),
                ErrorKind::Connect | ErrorKind::Network | ErrorKind::NoRoute
            ),
            "send {i}: {error:?}"
        );
        assert!(
            took < Duration::from_secs(5),
            "send {i} took {took:?} to fail: {error}"
        );
        if error.kind() == ErrorKind::NoRoute {
            no_route_after = Some(i);
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let no_route_after = no_route_after.expect("no NoRoute within 10 sends (2 s)");
    println!("the running producer's sends failed with NoRoute from send {no_route_after} on");
    support::send_forms::assert_every_form_fails_at_once_with_no_route(&cluster.namesrv, &topic)
        .await;

    // One master back: sends resume on it as soon as the route names it.
    let took = cli(&["start-broker", "broker-a"]).await;
    println!("start-broker broker-a took {took:?}");
    let restarted = Instant::now();
    let first = loop {
        match producer
            .send(Message::new(&topic, "after broker-a returned"))
            .await
        {
            Ok(result) => break result,
            Err(e) if restarted.elapsed() < Duration::from_secs(30) => {
                assert_eq!(e.kind(), ErrorKind::NoRoute, "{e:?}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => panic!("no send succeeded within 30 s of broker-a's return: {e}"),
        }
    };
    println!(
        "sends resumed {:?} after broker-a returned",
        restarted.elapsed()
    );
    acknowledged.push(first.msg_id);
    for i in 0..10 {
        let result = producer
            .send(Message::new(&topic, format!("after {i}")))
            .await
            .unwrap();
        assert_eq!(result.queue.broker_name, "broker-a", "{result:?}");
        acknowledged.push(result.msg_id);
    }
    producer.shutdown().await.unwrap();
    // broker-b holds messages sent before the kill.
    drop(restore);

    let stored = cluster.read_topic(&topic, acknowledged.len());
    check_copies(&acknowledged, &stored, &attempts);
}
