//! The producer on a 5.x controller-mode group (`up --topology controller`): one group broker-a
//! of three brokers whose master the controller inside the NameServer elects, with
//! `allAckInSyncStateSet=true` (a send is acknowledged once every in-sync replica has it). The
//! master is SIGKILLed (`failover broker-a`) under sync and under async load: the route must move
//! to the elected master, sends resume, and every acknowledged message is read back from the new
//! master. The gap with no successful send is printed. Run by tests/deployments.sh, one test at
//! a time.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use rmq_core::{ErrorKind, Message, Producer, RoomWait, SendResult, SendStatus};
use serde_json::Value;
use support::{
    Deployment, SendAttempts, Stored, check_copies, store_host, unique_group, unique_topic,
};
use tokio::sync::Semaphore;

const PORT_BASE: u32 = 23876;
const UP_ARGS: [&str; 3] = ["up", "--topology", "controller"];
const GROUP: &str = "broker-a";
/// Successful sends before the master is killed, and after the new one took over.
const WARM_SENDS: usize = 200;
const SENDS_AFTER: usize = 200;
/// How long sends may take to resume after the failover; far above the expected few seconds
/// (an election plus a route refresh), so a starved machine does not fail the test.
const RESUME_BOUND: Duration = Duration::from_secs(90);
const ASYNC_IN_FLIGHT: usize = 1000;

/// The deployment, brought up once per binary; prints the bring-up time and each server's RSS.
fn controller() -> &'static Deployment {
    static TIMED: std::sync::OnceLock<()> = std::sync::OnceLock::new();
    let started = Instant::now();
    let deployment = support::deployment(PORT_BASE, &UP_ARGS[1..]);
    TIMED.get_or_init(|| {
        println!(
            "controller deployment up in {:.1} s; RSS: {}",
            started.elapsed().as_secs_f64(),
            server_rss(deployment)
        );
    });
    deployment
}

/// "name MB" of every running server, from `status` (pids) and /proc (VmRSS).
fn server_rss(deployment: &Deployment) -> String {
    let status = deployment.cli(&["status"]);
    status
        .lines()
        .filter_map(|line| {
            let name = line.split_whitespace().next()?;
            let pid = line.split("(pid ").nth(1)?.split(')').next()?;
            let proc_status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
            let kb: u64 = proc_status
                .lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))?
                .trim()
                .trim_end_matches("kB")
                .trim()
                .parse()
                .ok()?;
            Some(format!("{name} {} MB", kb / 1024))
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Brings back a broker an earlier test killed (it rejoins as a slave) and waits until all
/// three are in sync, so that the controller has a candidate to elect.
fn whole_group(deployment: &Deployment) {
    deployment.cli(&UP_ARGS);
}

/// What `failover` reported.
struct Failover {
    killed: String,
    new_master: String,
    seconds: f64,
    /// When the master died: `seconds` before the command returned. Not when the command
    /// started: it may spend seconds starting up and waiting for the launcher's lock while the
    /// master still acknowledges sends.
    killed_at: Instant,
}

async fn failover(deployment: &'static Deployment) -> Failover {
    let called = Instant::now();
    let out = tokio::task::spawn_blocking(move || deployment.cli(&["failover", GROUP]))
        .await
        .unwrap();
    let command_took = called.elapsed();
    let v: Value = serde_json::from_str(out.trim())
        .unwrap_or_else(|e| panic!("failover printed {out:?}: {e}"));
    let text = |k: &str| v[k].as_str().unwrap_or_default().to_string();
    let seconds = v["seconds"].as_f64().unwrap_or_default();
    let failover = Failover {
        killed: text("killed"),
        new_master: text("addr"),
        seconds,
        killed_at: Instant::now() - Duration::from_secs_f64(seconds),
    };
    println!(
        "failover: {} killed, {} ({}) master after {:.2} s (the command took {:.2} s in all)",
        failover.killed,
        text("master"),
        failover.new_master,
        failover.seconds,
        command_took.as_secs_f64()
    );
    failover
}

/// The id-0 (master) address of the group in the topic's route.
fn route_master(deployment: &Deployment, topic: &str) -> String {
    let route: Value = serde_json::from_str(deployment.cli(&["route", topic]).trim()).unwrap();
    route["brokerDatas"][0]["brokerAddrs"]["0"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

/// Every send's outcome with the time it completed, in completion order.
/// The first error of each kind is kept whole, to show where failing sends went.
#[derive(Default)]
struct Timeline(
    Mutex<Vec<(Instant, Result<SendResult, ErrorKind>)>>,
    Mutex<std::collections::BTreeMap<String, String>>,
);

impl Timeline {
    fn record(&self, outcome: rmq_core::Result<SendResult>) {
        if let Err(e) = &outcome {
            self.1
                .lock()
                .entry(format!("{:?}", e.kind()))
                .or_insert_with(|| e.to_string());
        }
        self.0
            .lock()
            .push((Instant::now(), outcome.map_err(|e| e.kind())));
    }

    fn successes_since(&self, since: Instant) -> usize {
        self.0
            .lock()
            .iter()
            .filter(|(at, outcome)| *at >= since && outcome.is_ok())
            .count()
    }

    /// Outcomes by kind ("Ok" or the error kind) completed after `since`.
    fn outcomes_since(&self, since: Instant) -> String {
        let mut kinds: std::collections::BTreeMap<String, usize> = Default::default();
        for (_, outcome) in self.0.lock().iter().filter(|(at, _)| *at >= since) {
            let kind = outcome
                .as_ref()
                .map_or_else(|e| format!("{e:?}"), |_| "Ok".into());
            *kinds.entry(kind).or_insert(0) += 1;
        }
        format!("{kinds:?}")
    }

    /// Waits until `n` sends succeeded after `since`; panics after RESUME_BOUND.
    async fn wait_successes(&self, since: Instant, n: usize, what: &str) {
        let deadline = Instant::now() + RESUME_BOUND;
        while self.successes_since(since) < n {
            assert!(
                Instant::now() < deadline,
                "only {} of {n} sends succeeded {what} within {RESUME_BOUND:?}; since then: {}",
                self.successes_since(since),
                self.outcomes_since(since)
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Prints the failures and the gap with no successful send around the failover, and checks
    /// that every send acknowledged after the failover was stored by the new master.
    fn report(&self, killed_at: Instant, new_master: &str) -> Vec<SendResult> {
        let events = self.0.lock();
        let mut failures: std::collections::BTreeMap<String, usize> = Default::default();
        for (_, outcome) in events.iter() {
            if let Err(kind) = outcome {
                *failures.entry(format!("{kind:?}")).or_insert(0) += 1;
            }
        }
        let first_failure = events.iter().find(|(_, o)| o.is_err()).map(|(at, _)| *at);
        let resumed = first_failure.and_then(|failed| {
            events
                .iter()
                .find(|(at, o)| *at > failed && o.is_ok())
                .map(|(at, _)| at.duration_since(failed))
        });
        let successes: Vec<Instant> = events
            .iter()
            .filter(|(_, o)| o.is_ok())
            .map(|(at, _)| *at)
            .collect();
        let longest_gap = successes
            .windows(2)
            .map(|w| w[1].duration_since(w[0]))
            .max()
            .unwrap_or_default();
        println!(
            "{} sends, failures by kind: {failures:?}; first failure -> first success after: {}; \
             longest interval without a successful send: {:.2} s",
            events.len(),
            resumed.map_or("no failure".to_string(), |d| format!(
                "{:.2} s",
                d.as_secs_f64()
            )),
            longest_gap.as_secs_f64()
        );
        for (kind, first) in self.1.lock().iter() {
            println!("  first {kind} error: {first}");
        }
        let acknowledged: Vec<SendResult> = events
            .iter()
            .filter_map(|(_, o)| o.as_ref().ok().cloned())
            .collect();
        for result in &acknowledged {
            assert_eq!(result.status, SendStatus::SendOk, "{result:?}");
        }
        let last = events.last().map(|(at, _)| *at).unwrap_or(killed_at);
        let after: Vec<&SendResult> = events
            .iter()
            .filter(|(at, _)| *at > killed_at + (last - killed_at) / 2)
            .filter_map(|(_, o)| o.as_ref().ok())
            .collect();
        assert!(!after.is_empty(), "no send succeeded after the failover");
        for result in after {
            assert_eq!(
                store_host(&result.offset_msg_id),
                new_master,
                "a send acknowledged well after the failover was stored elsewhere than the new master"
            );
        }
        acknowledged
    }
}

/// Reads the topic back (from the new master) and checks the copies of every acknowledged
/// message; messages whose send failed may be stored or not (the user was told it failed), but
/// each must be one of ours.
fn check_store(
    deployment: &Deployment,
    topic: &str,
    acknowledged: &[SendResult],
    attempts: &SendAttempts,
) {
    let ids: Vec<String> = acknowledged.iter().map(|r| r.msg_id.clone()).collect();
    let known: std::collections::BTreeSet<&str> = ids.iter().map(String::as_str).collect();
    let (stored, of_failed_sends): (Vec<Stored>, Vec<Stored>) = deployment
        .read_topic(topic, ids.len())
        .into_iter()
        .partition(|s| known.contains(s.msg_id.as_str()));
    for message in &of_failed_sends {
        assert!(
            attempts.of(&message.msg_id) > 0,
            "stored but never sent: {}",
            message.msg_id
        );
    }
    println!(
        "{} stored copies of messages whose send failed",
        of_failed_sends.len()
    );
    check_copies(&ids, &stored, attempts);
}

async fn started_producer(
    topic_prefix: &str,
) -> (&'static Deployment, String, Producer, Arc<SendAttempts>) {
    let deployment = controller();
    whole_group(deployment);
    let topic = unique_topic(topic_prefix);
    deployment.create_topic(&topic, 4);
    let producer = deployment.producer(&unique_group(topic_prefix), &[]);
    let attempts = Arc::new(SendAttempts::default());
    producer.add_send_hook(attempts.clone());
    producer.start().await.unwrap();
    (deployment, topic, producer, attempts)
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs the controller deployment: tests/deployments.sh"]
async fn sync_sends_move_to_the_elected_master_and_no_acknowledged_message_is_lost() {
    let (deployment, topic, producer, attempts) = started_producer("CtlSync").await;
    let timeline = Arc::new(Timeline::default());
    let stop = Arc::new(AtomicBool::new(false));
    let sender = {
        let (producer, timeline, stop, topic) = (
            producer.clone(),
            timeline.clone(),
            stop.clone(),
            topic.clone(),
        );
        tokio::spawn(async move {
            let mut i = 0;
            while !stop.load(Ordering::Relaxed) {
                let outcome = producer
                    .send(Message::new(&topic, format!("sync-{i}")))
                    .await;
                timeline.record(outcome);
                i += 1;
            }
        })
    };
    let begin = Instant::now();
    timeline
        .wait_successes(begin, WARM_SENDS, "before the failover")
        .await;
    let failover = failover(deployment).await;
    let killed_at = failover.killed_at;
    timeline
        .wait_successes(Instant::now(), SENDS_AFTER, "after the failover")
        .await;
    stop.store(true, Ordering::Relaxed);
    sender.await.expect("the sending task did not panic");

    assert_eq!(route_master(deployment, &topic), failover.new_master);
    let acknowledged = timeline.report(killed_at, &failover.new_master);
    check_store(deployment, &topic, &acknowledged, &attempts);
    producer.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs the controller deployment: tests/deployments.sh"]
async fn async_sends_with_1000_in_flight_move_to_the_elected_master_each_callback_once() {
    let (deployment, topic, producer, attempts) = started_producer("CtlAsync").await;
    let timeline = Arc::new(Timeline::default());
    let in_flight = Arc::new(Semaphore::new(ASYNC_IN_FLIGHT));
    // Callbacks per message index: each must be exactly 1 in the end.
    let calls: Arc<Mutex<Vec<Arc<AtomicU32>>>> = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let issued = Arc::new(AtomicUsize::new(0));
    let sender = {
        let (timeline, in_flight, calls, stop, issued, topic) = (
            timeline.clone(),
            in_flight.clone(),
            calls.clone(),
            stop.clone(),
            issued.clone(),
            topic.clone(),
        );
        let producer = producer.clone();
        tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let permit = in_flight.clone().acquire_owned().await.unwrap();
                let count = Arc::new(AtomicU32::new(0));
                calls.lock().push(count.clone());
                let i = issued.fetch_add(1, Ordering::Relaxed);
                let timeline = timeline.clone();
                producer
                    .try_send_with_callback(
                        Message::new(&topic, format!("async-{i}")),
                        RoomWait::InTask,
                        move |outcome| {
                            count.fetch_add(1, Ordering::Relaxed);
                            timeline.record(outcome);
                            drop(permit);
                        },
                    )
                    .expect("a running producer accepts the send");
            }
        })
    };
    let begin = Instant::now();
    let _progress = {
        let (timeline, in_flight) = (timeline.clone(), in_flight.clone());
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_secs(5)).await;
                println!(
                    "progress {:.0} s: {} in flight; outcomes so far {}",
                    begin.elapsed().as_secs_f64(),
                    ASYNC_IN_FLIGHT - in_flight.available_permits(),
                    timeline.outcomes_since(begin)
                );
            }
        })
    };
    timeline
        .wait_successes(begin, 2 * ASYNC_IN_FLIGHT, "before the failover")
        .await;
    println!(
        "{} async sends succeeded in {:.1} s before the failover",
        2 * ASYNC_IN_FLIGHT,
        begin.elapsed().as_secs_f64()
    );
    let failover = failover(deployment).await;
    let killed_at = failover.killed_at;
    timeline
        .wait_successes(Instant::now(), 2 * ASYNC_IN_FLIGHT, "after the failover")
        .await;
    stop.store(true, Ordering::Relaxed);
    sender.await.expect("the sending task did not panic");
    // Every callback has run once its permit is back.
    let _all_back =
        tokio::time::timeout(RESUME_BOUND, in_flight.acquire_many(ASYNC_IN_FLIGHT as u32))
            .await
            .expect("callbacks still missing")
            .unwrap();

    let calls: Vec<u32> = calls
        .lock()
        .iter()
        .map(|c| c.load(Ordering::Relaxed))
        .collect();
    let never = calls.iter().filter(|&&n| n == 0).count();
    let twice = calls.iter().filter(|&&n| n > 1).count();
    println!(
        "{} async sends: callbacks never {never}, more than once {twice}",
        calls.len()
    );
    assert_eq!((never, twice), (0, 0), "each callback exactly once");
    assert_eq!(route_master(deployment, &topic), failover.new_master);
    let acknowledged = timeline.report(killed_at, &failover.new_master);
    check_store(deployment, &topic, &acknowledged, &attempts);
    producer.shutdown().await.unwrap();
}
