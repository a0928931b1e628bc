//! The producer across network partitions: `up --netns` (RocketMQ 5.3.3, two masters), each server
//! in a network namespace of its own, so that `partition NAME` makes a server's packets vanish
//! while every TCP connection to it stays open (half-open: no RST, no FIN), the hardest case for a
//! client. Run by tests/deployments.sh (`make test-deployments`, part of `make test`), one test at
//! a time. Where namespaces cannot be made (not root), the launcher runs the servers on loopback
//! and every test here says why and passes without testing anything.

mod support;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use rmq_core::{ErrorKind, Message, Producer, RoomWait, SendResult, SendStatus};
use support::{Deployment, SendAttempts, check_copies, unique_group, unique_topic};

const PORT_BASE: u32 = 25876;
/// The send budget (the default `send_timeout_ms`).
const SEND_TIMEOUT: Duration = Duration::from_secs(3);
/// Scheduling margin of a busy 2-core machine: a send never outlives its budget by more.
const MARGIN: Duration = Duration::from_millis(700);
/// How long a broker stays partitioned: longer than the 10 s its first failed send isolates it
/// for, so the producer also meets it again once the isolation ends.
const PARTITION: Duration = Duration::from_secs(12);
/// After heal, the broker must get messages again within this: the name server may drop it when
/// the broker's connection, closed on a timed-out call during the partition, finally ends, and
/// lists it again at its next registration (30 s); the producer polls routes every
/// `ROUTE_POLL_MS`; any isolation has 10 s left at most.
const BACK_WITHIN: Duration = Duration::from_secs(40);
/// The producers' route poll (`poll_namesrv_interval_ms`) in the broker-partition tests.
const ROUTE_POLL_MS: &str = "2000";

/// The deployment, or None (after saying why) where the servers could not get namespaces.
fn partitionable() -> Option<&'static Deployment> {
    static BRING_UP: OnceLock<Duration> = OnceLock::new();
    let started = Instant::now();
    let deployment = support::deployment(PORT_BASE, &["--netns"]);
    BRING_UP.get_or_init(|| {
        let took = started.elapsed();
        println!("bring-up (up --netns, or nothing if it already ran): {took:.1?}");
        took
    });
    if !deployment.namesrv.starts_with("127.") {
        return Some(deployment);
    }
    // Not `status` on every test: after a partition heals, the name server forgets the broker
    // until its next registration, and `status` fails meanwhile.
    let status = deployment.cli(&["status"]);
    let reason = status
        .lines()
        .find_map(|l| l.strip_prefix("network: loopback "))
        .unwrap_or("(the launcher gave no reason)");
    println!("SKIPPED, no partition possible: {reason}");
    None
}

/// A server cut off by `partition`; healed by `heal` or, should the test fail first, on drop.
struct Partitioned<'a> {
    deployment: &'a Deployment,
    name: &'static str,
    healed: bool,
}

fn partition<'a>(deployment: &'a Deployment, name: &'static str) -> Partitioned<'a> {
    tokio::task::block_in_place(|| deployment.cli(&["partition", name]));
    Partitioned {
        deployment,
        name,
        healed: false,
    }
}

impl Partitioned<'_> {
    fn heal(&mut self) -> Instant {
        tokio::task::block_in_place(|| self.deployment.cli(&["heal", self.name]));
        self.healed = true;
        Instant::now()
    }
}

impl Drop for Partitioned<'_> {
    fn drop(&mut self) {
        if !self.healed {
            let _ = std::panic::catch_unwind(|| self.deployment.cli(&["heal", self.name]));
        }
    }
}

/// A started producer on the deployment, with its attempts counted.
async fn started_producer(
    deployment: &Deployment,
    group: &str,
    options: &[(&str, &str)],
) -> (Producer, Arc<SendAttempts>) {
    let producer = deployment.producer(&unique_group(group), options);
    let attempts = Arc::new(SendAttempts::default());
    producer.add_send_hook(attempts.clone());
    producer.start().await.unwrap();
    (producer, attempts)
}

/// A send that succeeded, and when it completed.
struct Sent {
    done: Instant,
    result: SendResult,
}

/// Every acknowledged send of `log` is stored, and each copy beyond the first comes from a retry.
fn check_store(deployment: &Deployment, topic: &str, log: &[Sent], attempts: &SendAttempts) {
    let stored = deployment.read_topic(topic, log.len());
    let ids: Vec<String> = log.iter().map(|s| s.result.msg_id.clone()).collect();
    check_copies(&ids, &stored, attempts);
}

/// Sync sends one after the other until `stop`, each asserted SEND_OK within the budget.
fn sync_stream(
    producer: Producer,
    topic: String,
    stop: Arc<AtomicBool>,
    log: Arc<Mutex<Vec<Sent>>>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut i = 0;
        while !stop.load(Ordering::Acquire) {
            let begin = Instant::now();
            let result = producer
                .send(Message::new(&topic, format!("sync {i}")))
                .await
                .unwrap_or_else(|e| panic!("sync send {i} failed: {e}"));
            let took = begin.elapsed();
            assert_eq!(result.status, SendStatus::SendOk);
            assert!(took < SEND_TIMEOUT + MARGIN, "sync send {i} took {took:?}");
            log.lock().push(Sent {
                done: Instant::now(),
                result,
            });
            i += 1;
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
}

/// The longest time within [from, to] in which no send completed.
fn longest_gap(log: &[Sent], from: Instant, to: Instant) -> Duration {
    let mut last = from;
    let mut gap = Duration::ZERO;
    for sent in log.iter().filter(|s| s.done > from && s.done <= to) {
        gap = gap.max(sent.done - last);
        last = sent.done;
    }
    gap.max(to.saturating_duration_since(last))
}

/// When `broker` first stored a send that completed after `since`.
fn first_on(log: &[Sent], broker: &str, since: Instant) -> Option<Instant> {
    log.iter()
        .filter(|s| s.done > since && s.result.queue.broker_name == broker)
        .map(|s| s.done)
        .min()
}

/// Waits (up to BACK_WITHIN) until `broker` stored a send completed after `since`.
async fn wait_back(log: &Mutex<Vec<Sent>>, broker: &str, since: Instant) -> Option<Instant> {
    let deadline = since + BACK_WITHIN;
    loop {
        if let Some(at) = first_on(&log.lock(), broker, since) {
            return Some(at);
        }
        if Instant::now() > deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Prints what a user would have seen of a broker partition and its heal.
fn report_gaps(
    what: &str,
    log: &[Sent],
    cut_at: Instant,
    healed_at: Instant,
    back_at: Option<Instant>,
) {
    let end = back_at.unwrap_or(healed_at) + Duration::from_secs(2);
    println!(
        "{what}: {} sends; longest no-send gap after the partition {:?}, after the heal {:?}; \
         broker-a used again {:?} after the heal",
        log.len(),
        longest_gap(log, cut_at, healed_at),
        longest_gap(log, healed_at, end),
        back_at.map(|at| at - healed_at)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs the partition deployment: tests/deployments.sh"]
async fn sync_sends_leave_a_partitioned_broker_and_return_after_heal() {
    let Some(deployment) = partitionable() else {
        return;
    };
    let topic = unique_topic("PartSync");
    deployment.create_topic(&topic, 4);
    let (producer, attempts) = started_producer(
        deployment,
        "part_sync",
        &[("poll_namesrv_interval_ms", ROUTE_POLL_MS)],
    )
    .await;
    let stop = Arc::new(AtomicBool::new(false));
    let log = Arc::new(Mutex::new(Vec::new()));
    let stream = sync_stream(producer.clone(), topic.clone(), stop.clone(), log.clone());

    let started = Instant::now();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let mut cut = partition(deployment, "broker-a");
    let cut_at = Instant::now();
    tokio::time::sleep(PARTITION).await;
    let healed_at = cut.heal();
    let back_at = wait_back(&log, "broker-a", healed_at).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    stop.store(true, Ordering::Release);
    stream
        .await
        .expect("every sync send succeeded within its budget");
    producer.shutdown().await.unwrap();

    let log = std::mem::take(&mut *log.lock());
    report_gaps("sync", &log, cut_at, healed_at, back_at);
    assert!(
        first_on(&log, "broker-a", started).is_some_and(|at| at < cut_at),
        "broker-a was used before the partition"
    );
    assert!(
        back_at.is_some(),
        "broker-a got no message within {BACK_WITHIN:?} of the heal"
    );
    // Nothing acknowledged is missing; a copy beyond the first comes from a retry (a request
    // that reached broker-a before the cut, or was still in its TCP queue and is delivered by
    // retransmission after the heal, is stored there too).
    check_store(deployment, &topic, &log, &attempts);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs the partition deployment: tests/deployments.sh"]
async fn async_sends_in_flight_leave_a_partitioned_broker_each_callback_once() {
    let Some(deployment) = partitionable() else {
        return;
    };
    let topic = unique_topic("PartAsync");
    deployment.create_topic(&topic, 4);
    let (producer, attempts) = started_producer(
        deployment,
        "part_async",
        &[("poll_namesrv_interval_ms", ROUTE_POLL_MS)],
    )
    .await;
    let calls: Arc<Mutex<BTreeMap<usize, usize>>> = Arc::default();
    let log = Arc::new(Mutex::new(Vec::new()));
    let failures: Arc<Mutex<Vec<String>>> = Arc::default();
    let issued = AtomicUsize::new(0);
    let send = |count: usize| {
        for _ in 0..count {
            let i = issued.fetch_add(1, Ordering::Relaxed);
            let (calls, log, failures) = (calls.clone(), log.clone(), failures.clone());
            let begin = Instant::now();
            producer
                .try_send_with_callback(
                    Message::new(&topic, format!("async {i}")),
                    RoomWait::InTask,
                    move |outcome| {
                        *calls.lock().entry(i).or_insert(0) += 1;
                        let took = begin.elapsed();
                        match outcome {
                            Ok(result) if result.status == SendStatus::SendOk => {
                                if took >= SEND_TIMEOUT + MARGIN {
                                    failures.lock().push(format!("async {i} took {took:?}"));
                                }
                                log.lock().push(Sent {
                                    done: Instant::now(),
                                    result,
                                })
                            }
                            Ok(result) => failures.lock().push(format!("async {i}: {result:?}")),
                            Err(e) => failures.lock().push(format!("async {i}: {e}")),
                        }
                    },
                )
                .expect("a running producer accepts the send");
        }
    };

    send(100);
    // Hundreds in flight when the link goes: those on broker-a wait for answers that never come.
    let mut cut = partition(deployment, "broker-a");
    let cut_at = Instant::now();
    send(300);
    let max_in_flight = producer.in_flight();
    // Then a trickle (40 a second: a busy 2-core machine's brokers keep up) through the
    // partition and the heal.
    let mut healed = None;
    let mut back_at = None;
    while back_at.is_none() && cut_at.elapsed() < PARTITION + BACK_WITHIN {
        send(2);
        tokio::time::sleep(Duration::from_millis(50)).await;
        match healed {
            None if cut_at.elapsed() >= PARTITION => healed = Some(cut.heal()),
            Some(healed_at) => back_at = first_on(&log.lock(), "broker-a", healed_at),
            None => {}
        }
    }
    let healed_at = healed.expect("healed");
    let issued = issued.load(Ordering::Relaxed);
    let all_called =
        support::eventually(SEND_TIMEOUT.as_secs() * 3, || calls.lock().len() == issued);
    tokio::time::sleep(Duration::from_millis(500)).await; // a second call would come by now
    producer.shutdown().await.unwrap();

    let log = std::mem::take(&mut *log.lock());
    println!("async: {issued} issued, {max_in_flight} in flight just after the cut");
    report_gaps("async", &log, cut_at, healed_at, back_at);
    let calls = calls.lock();
    let twice: Vec<_> = calls.iter().filter(|(_, n)| **n > 1).collect();
    assert!(
        all_called && twice.is_empty(),
        "{} of {issued} callbacks ran; more than once: {twice:?}",
        calls.len()
    );
    let failures = failures.lock();
    assert!(
        failures.is_empty(),
        "{} sends failed or outlived the budget, first: {:?}",
        failures.len(),
        &failures[..failures.len().min(5)]
    );
    assert!(
        back_at.is_some(),
        "broker-a got no message within {BACK_WITHIN:?} of the heal"
    );
    check_store(deployment, &topic, &log, &attempts);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs the partition deployment: tests/deployments.sh"]
async fn sends_go_on_while_the_name_server_is_partitioned() {
    let Some(deployment) = partitionable() else {
        return;
    };
    let topic = unique_topic("PartNs");
    deployment.create_topic(&topic, 4);
    // Route refreshes every second, so several of them meet the partitioned name server.
    let (producer, attempts) = started_producer(
        deployment,
        "part_ns",
        &[("poll_namesrv_interval_ms", "1000")],
    )
    .await;
    let stop = Arc::new(AtomicBool::new(false));
    let log = Arc::new(Mutex::new(Vec::new()));
    let stream = sync_stream(producer.clone(), topic.clone(), stop.clone(), log.clone());
    tokio::time::sleep(Duration::from_secs(1)).await;

    let mut cut = partition(deployment, "namesrv");
    let cut_at = Instant::now();
    // A topic whose route is not cached needs the name server: a typed error within the budget.
    let begin = Instant::now();
    let unknown = producer
        .send(Message::new(unique_topic("PartNsNew"), "no route"))
        .await;
    let took = begin.elapsed();
    let error =
        unknown.expect_err("a new topic's route cannot be had while the name server is cut off");
    println!(
        "new topic while the name server is partitioned: {:?} after {took:?}: {error}",
        error.kind()
    );
    assert!(
        matches!(error.kind(), ErrorKind::Timeout | ErrorKind::Network),
        "{error}"
    );
    assert!(took < SEND_TIMEOUT + MARGIN, "took {took:?}");
    tokio::time::sleep(Duration::from_secs(6)).await;
    let healed_at = cut.heal();
    tokio::time::sleep(Duration::from_secs(2)).await;
    stop.store(true, Ordering::Release);
    stream
        .await
        .expect("every sync send succeeded within its budget");

    let log = std::mem::take(&mut *log.lock());
    let during: Vec<&Sent> = log
        .iter()
        .filter(|s| s.done > cut_at && s.done < healed_at)
        .collect();
    let brokers: std::collections::BTreeSet<&str> = during
        .iter()
        .map(|s| s.result.queue.broker_name.as_str())
        .collect();
    println!(
        "name server partitioned for {:?}: {} sends meanwhile on {brokers:?}, longest no-send gap {:?}",
        healed_at - cut_at,
        during.len(),
        longest_gap(&log, cut_at, healed_at)
    );
    assert_eq!(
        brokers.len(),
        2,
        "both brokers served from the cached route"
    );
    // Healed, the name server answers again: a new topic gets its route (auto-created) within a
    // few sends (the first may still meet the reconnect to the healed name server).
    let new_topic = unique_topic("PartNsAfter");
    let mut routed = None;
    while routed.is_none() && healed_at.elapsed() < BACK_WITHIN {
        match producer.send(Message::new(&new_topic, "route again")).await {
            Ok(result) => routed = Some(result),
            Err(e) => println!("new topic {:?} after the heal: {e}", healed_at.elapsed()),
        }
    }
    let routed = routed.expect("a new topic gets a route once the name server is back");
    assert_eq!(routed.status, SendStatus::SendOk);
    println!("new topic routed {:?} after the heal", healed_at.elapsed());
    producer.shutdown().await.unwrap();

    check_store(deployment, &topic, &log, &attempts);
}
