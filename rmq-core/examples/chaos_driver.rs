//! The Rust workload of the chaos test: every send mode, paced, with a history of every call,
//! answer and attempt for the checker (tests/chaos/README.md, "The drivers").
//!
//! `chaos_driver NAMESRV_ADDR TOPIC GROUP HISTORY_FILE RATE`; stops on a `stop` line or end of
//! stdin. CHAOS_REQUEST_TOPIC adds request-reply against a responder on that topic.
//! CHAOS_INJECT, for the checker's self-test only: `drop-ack` reports one sync send as SEND_OK
//! without sending it, `double-answer` answers one async send twice.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufRead, BufWriter, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use parking_lot::Mutex;
use rmq_core::producer::{
    LocalTransactionState, SendContext, SendHook, SendOutcome, TransactionProducer,
};
use rmq_core::{Error, Message, ProducerConfig, RoomWait, SendResult};
use serde_json::{Value, json};
use tokio::sync::{Semaphore, watch};

const LANG: &str = "rust";
const ASYNC_IN_FLIGHT: usize = 1000;
const BATCH_SIZE: usize = 4;
const SYNC_TASKS: usize = 3;
const ANSWER_WAIT: Duration = Duration::from_secs(60);

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// The history file: whole JSON lines from any thread, flushed by a ticker.
struct History {
    out: Mutex<BufWriter<File>>,
    next_call: AtomicU64,
    /// Calls made and not answered yet (below 0 when answers came twice).
    outstanding: AtomicI64,
}

impl History {
    fn record(&self, mut event: Value) {
        event["t"] = json!(now_ms());
        let mut line = event.to_string();
        line.push('\n');
        let _ = self.out.lock().write_all(line.as_bytes());
    }

    fn flush(&self) {
        let _ = self.out.lock().flush();
    }

    /// Records a call of `op` sending `ids`; returns its call id.
    fn call(&self, op: &str, ids: &[String], extra: Value) -> u64 {
        let call = self.next_call.fetch_add(1, Ordering::Relaxed);
        self.outstanding.fetch_add(1, Ordering::Relaxed);
        self.record(with_fields(
            json!({"ev": "call", "call": call, "op": op, "ids": ids}),
            extra,
        ));
        call
    }

    fn answer(&self, call: u64, outcome: std::result::Result<Value, &Error>) {
        self.outstanding.fetch_sub(1, Ordering::Relaxed);
        self.record(match outcome {
            Ok(fields) => with_fields(json!({"ev": "answer", "call": call, "ok": true}), fields),
            Err(e) => json!({"ev": "answer", "call": call, "ok": false,
                             "kind": e.kind().name(), "error": e.to_string()}),
        });
    }

    fn answer_send(&self, call: u64, result: &rmq_core::Result<SendResult>) {
        self.answer(
            call,
            result
                .as_ref()
                .map(|r| json!({"status": r.status.name(), "uniq": r.msg_id})),
        );
    }
}

/// `event` with the fields of the object `extra` added.
fn with_fields(mut event: Value, extra: Value) -> Value {
    if let (Some(event), Value::Object(extra)) = (event.as_object_mut(), extra) {
        event.extend(extra);
    }
    event
}

/// Writes an `attempt` record after each attempt to send to a broker.
struct AttemptRecorder(Arc<History>);

impl SendHook for AttemptRecorder {
    fn after_send(&self, ctx: &SendContext<'_>, _latency: Duration, outcome: SendOutcome<'_>) {
        let mut event = json!({"ev": "attempt", "uniq": ctx.msg_id, "n": ctx.attempt});
        match outcome {
            SendOutcome::Stored(_) | SendOutcome::Written => event["ok"] = json!(true),
            SendOutcome::Failed(e) => {
                event["ok"] = json!(false);
                event["kind"] = json!(e.kind().name());
            }
        }
        self.0.record(event);
    }
}

/// Message ids `rust-<op>-<seq>`, one sequence per op.
#[derive(Default)]
struct Ids(Mutex<HashMap<&'static str, u64>>);

impl Ids {
    fn next(&self, op: &'static str) -> String {
        let mut seqs = self.0.lock();
        let seq = seqs.entry(op).or_default();
        *seq += 1;
        format!("{LANG}-{op}-{seq}")
    }
}

fn message(topic: &str, id: &str) -> Message {
    Message::new(topic, id.as_bytes().to_vec()).with_keys([id])
}

/// What the local transaction of each transactional send decided, for the check-backs.
type Decisions = Arc<Mutex<HashMap<String, LocalTransactionState>>>;

/// An unknown local transaction settles, when the broker asks, by its id's parity.
fn settle_unknown(id: &str) -> LocalTransactionState {
    let even = id
        .rsplit('-')
        .next()
        .and_then(|seq| seq.parse::<u64>().ok())
        .is_some_and(|seq| seq % 2 == 0);
    if even {
        LocalTransactionState::Commit
    } else {
        LocalTransactionState::Rollback
    }
}

struct Workload {
    producer: TransactionProducer,
    history: Arc<History>,
    ids: Ids,
    topic: String,
    request_topic: Option<String>,
    decisions: Decisions,
    inject: String,
    async_window: Arc<Semaphore>,
}

impl Workload {
    async fn sync_send(&self) {
        let id = self.ids.next("sync");
        let call = self
            .history
            .call("sync", std::slice::from_ref(&id), json!({}));
        if self.inject == "drop-ack" && id == "rust-sync-50" {
            let fields = json!({"status": "SEND_OK", "uniq": "00000000000000000000000000000000"});
            self.history.answer(call, Ok(fields));
            return;
        }
        let result = self
            .producer
            .producer()
            .send(message(&self.topic, &id))
            .await;
        self.history.answer_send(call, &result);
    }

    async fn async_send(&self) {
        let Ok(permit) = self.async_window.clone().acquire_owned().await else {
            return;
        };
        let id = self.ids.next("async");
        let call = self
            .history
            .call("async", std::slice::from_ref(&id), json!({}));
        let history = self.history.clone();
        let twice = self.inject == "double-answer" && id == "rust-async-50";
        let accepted = self.producer.producer().try_send_with_callback(
            message(&self.topic, &id),
            RoomWait::InTask,
            move |result| {
                history.answer_send(call, &result);
                if twice {
                    history.answer_send(call, &result);
                }
                drop(permit);
            },
        );
        if let Err(refused) = accepted {
            self.history.answer_send(call, &Err(refused));
        }
    }

    async fn oneway_send(&self) {
        let id = self.ids.next("oneway");
        let call = self
            .history
            .call("oneway", std::slice::from_ref(&id), json!({}));
        let result = self
            .producer
            .producer()
            .send_oneway(message(&self.topic, &id))
            .await;
        self.history
            .answer(call, result.as_ref().map(|()| json!({})));
    }

    async fn batch_send(&self) {
        let ids: Vec<String> = (0..BATCH_SIZE).map(|_| self.ids.next("batch")).collect();
        let call = self.history.call("batch", &ids, json!({}));
        let msgs = ids.iter().map(|id| message(&self.topic, id)).collect();
        let result = self.producer.producer().send_batch(msgs).await;
        self.history.answer_send(call, &result);
    }

    async fn transaction(&self) {
        let id = self.ids.next("tx");
        // Commit, rollback and unknown in turn.
        let local = match id
            .rsplit('-')
            .next()
            .and_then(|seq| seq.parse::<u64>().ok())
        {
            Some(seq) if seq % 3 == 0 => LocalTransactionState::Commit,
            Some(seq) if seq % 3 == 1 => LocalTransactionState::Rollback,
            _ => LocalTransactionState::Unknown,
        };
        let local_name = match local {
            LocalTransactionState::Commit => "commit",
            LocalTransactionState::Rollback => "rollback",
            LocalTransactionState::Unknown => "unknown",
        };
        let call = self.history.call(
            "tx",
            std::slice::from_ref(&id),
            json!({"local": local_name}),
        );
        let decisions = self.decisions.clone();
        let result = self
            .producer
            .send_in_transaction(message(&self.topic, &id), |msg, _| {
                let id = String::from_utf8_lossy(&msg.body).into_owned();
                decisions.lock().insert(id, local);
                local
            })
            .await;
        self.history.answer(
            call,
            result.as_ref().map(|r| {
                json!({"status": r.send_result.status.name(), "uniq": r.send_result.msg_id,
                       "local_state": r.local_state.name()})
            }),
        );
    }

    async fn request(&self, topic: &str) {
        let id = self.ids.next("request");
        let call = self
            .history
            .call("request", std::slice::from_ref(&id), json!({}));
        let result = self
            .producer
            .producer()
            .request(message(topic, &id), Duration::from_secs(3))
            .await;
        self.history.answer(
            call,
            result
                .as_ref()
                .map(|reply| json!({"reply": String::from_utf8_lossy(&reply.body)})),
        );
    }
}

/// Runs `step` about `per_second` times a second (never in a burst after a stall) until stopped.
async fn paced<F, Fut>(per_second: f64, mut stop: watch::Receiver<bool>, mut step: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    if per_second <= 0.0 {
        return;
    }
    let mut ticks = tokio::time::interval(Duration::from_secs_f64(1.0 / per_second));
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    while !*stop.borrow() {
        tokio::select! {
            _ = ticks.tick() => step().await,
            _ = stop.changed() => {}
        }
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let [_, namesrv, topic, group, history_path, rate] = args.as_slice() else {
        eprintln!("usage: chaos_driver NAMESRV_ADDR TOPIC GROUP HISTORY_FILE RATE");
        std::process::exit(64);
    };
    let rate: f64 = rate
        .parse()
        .expect("RATE is a number of messages per second");
    let history = Arc::new(History {
        out: Mutex::new(BufWriter::new(
            File::create(history_path).expect("the history file can be created"),
        )),
        next_call: AtomicU64::new(0),
        outstanding: AtomicI64::new(0),
    });
    history.record(json!({"ev": "start", "lang": LANG, "pid": std::process::id()}));

    let mut config = ProducerConfig::new(group.as_str());
    config.namesrv_addr = Some(namesrv.clone());
    config
        .set("send_timeout_ms", "3000")
        .expect("a valid option");
    let decisions: Decisions = Arc::default();
    let check_history = history.clone();
    let check_decisions = decisions.clone();
    let producer = TransactionProducer::new(config, move |check| {
        let id = String::from_utf8_lossy(&check.message.body).into_owned();
        let decided = check_decisions.lock().get(&id).copied();
        // A half message whose local transaction never ran (its send failed) is rolled back.
        let answer = match decided {
            Some(LocalTransactionState::Unknown) => settle_unknown(&id),
            Some(state) => state,
            None => LocalTransactionState::Rollback,
        };
        let name = if answer == LocalTransactionState::Commit {
            "commit"
        } else {
            "rollback"
        };
        check_history
            .record(json!({"ev": "check", "uniq": check.msg_id, "id": id, "answer": name}));
        answer
    })
    .expect("a valid producer configuration");
    producer
        .producer()
        .add_send_hook(Arc::new(AttemptRecorder(history.clone())));
    producer.start().await.expect("the producer starts");

    let workload = Arc::new(Workload {
        producer,
        history: history.clone(),
        ids: Ids::default(),
        topic: topic.clone(),
        request_topic: std::env::var("CHAOS_REQUEST_TOPIC").ok(),
        decisions,
        inject: std::env::var("CHAOS_INJECT").unwrap_or_default(),
        async_window: Arc::new(Semaphore::new(ASYNC_IN_FLIGHT)),
    });

    let (stop_tx, stop) = watch::channel(false);
    std::thread::spawn(move || {
        for line in std::io::stdin().lock().lines() {
            match line {
                Ok(line) if line.trim() != "stop" => continue,
                _ => break,
            }
        }
        let _ = stop_tx.send(true);
    });
    let flusher = history.clone();
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(Duration::from_millis(500)).await;
            flusher.flush();
        }
    });

    // Shares of RATE (messages per second) by mode.
    let mut workers = Vec::new();
    let mut spawn = |share: f64, kind: &'static str| {
        let workload = workload.clone();
        let stop = stop.clone();
        workers.push(tokio::spawn(async move {
            let w = &workload;
            paced(rate * share, stop, || async move {
                match kind {
                    "sync" => w.sync_send().await,
                    "async" => w.async_send().await,
                    "oneway" => w.oneway_send().await,
                    "batch" => w.batch_send().await,
                    "tx" => w.transaction().await,
                    _ => {
                        if let Some(topic) = &w.request_topic {
                            w.request(topic).await
                        }
                    }
                }
            })
            .await
        }));
    };
    for _ in 0..SYNC_TASKS {
        spawn(0.30 / SYNC_TASKS as f64, "sync");
    }
    spawn(0.35, "async");
    spawn(0.10, "oneway");
    spawn(0.10 / BATCH_SIZE as f64, "batch");
    spawn(0.10, "tx");
    spawn(0.05, "request");

    let mut stopped = stop.clone();
    let _ = stopped.wait_for(|stopped| *stopped).await;
    // Shut down with async sends still in flight: each must still be answered, once.
    if let Err(e) = workload.producer.shutdown().await {
        eprintln!("chaos_driver: shutdown: {e}");
    }
    let deadline = tokio::time::Instant::now() + ANSWER_WAIT;
    while history.outstanding.load(Ordering::Relaxed) > 0 && tokio::time::Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for worker in workers {
        let _ = tokio::time::timeout_at(deadline, worker).await;
    }
    let outstanding = history.outstanding.load(Ordering::Relaxed);
    history.record(json!({"ev": "end", "lang": LANG, "outstanding": outstanding}));
    history.flush();
}
