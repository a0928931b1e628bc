//! The real cluster for integration tests, through the project's launcher
//! (`tests/cluster/rmq-cluster`): messages are read back by its Java reader, never by our code.
#![allow(dead_code)] // each test binary uses a different part of this module

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;

pub mod fake;
pub mod send_forms;

use base64::Engine;
use rmq_core::{Producer, ProducerConfig};
use serde_json::Value;

/// A message as the independent Java reader found it in the cluster.
#[derive(Debug, Clone)]
pub struct Stored {
    pub msg_id: String,
    pub offset_msg_id: String,
    pub broker_name: String,
    pub queue_id: i64,
    pub queue_offset: i64,
    pub tags: Option<String>,
    pub keys: Option<String>,
    pub user_properties: BTreeMap<String, String>,
    pub body: Vec<u8>,
    pub sys_flag: i64,
    pub flag: i64,
    pub born_timestamp: i64,
    pub store_timestamp: i64,
    pub topic: String,
    /// Every stored property, system ones included.
    pub properties: BTreeMap<String, String>,
}

pub fn launcher() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/cluster/rmq-cluster")
}

/// Runs the launcher with the test cluster's port base; panics with its output on failure.
pub fn cluster(args: &[&str]) -> String {
    run_launcher(&[], args)
}

/// Runs the launcher with `base_args` (e.g. `--port-base N`) before `args`.
fn run_launcher(base_args: &[&str], args: &[&str]) -> String {
    run_launcher_with_env(base_args, args, &[])
}

/// As `run_launcher`, with extra environment variables (e.g. `RMQ_BROKER_CONF` for `up`).
fn run_launcher_with_env(base_args: &[&str], args: &[&str], env: &[(&str, &str)]) -> String {
    let output = Command::new(launcher())
        .args(base_args)
        .args(args)
        .envs(env.iter().copied())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", launcher().display()));
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    if !output.status.success() {
        panic!(
            "rmq-cluster {args:?} failed:\n{stdout}\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    // Progress of long steps (e.g. waiting for a broker to register again).
    eprint!("{}", String::from_utf8_lossy(&output.stderr));
    stdout
}

/// Starts a long-running launcher command (e.g. `reply-responder`) with its stdout piped.
pub fn spawn_cluster(args: &[&str]) -> std::process::Child {
    namesrv();
    spawn_launcher(&[], args)
}

fn spawn_launcher(base_args: &[&str], args: &[&str]) -> std::process::Child {
    Command::new(launcher())
        .args(base_args)
        .args(args)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", launcher().display()))
}

/// The name server of the test cluster: `NAMESRV_ADDR` when the runner started one (make
/// test), else the launcher's default cluster, brought up on first use.
pub fn namesrv() -> String {
    static ADDR: OnceLock<String> = OnceLock::new();
    ADDR.get_or_init(|| {
        if let Ok(addr) = std::env::var("NAMESRV_ADDR") {
            return addr;
        }
        let out = cluster(&["up"]);
        out.lines()
            .find_map(|l| l.strip_prefix("NAMESRV_ADDR="))
            .map(str::to_string)
            .unwrap_or_else(|| panic!("rmq-cluster up printed no NAMESRV_ADDR:\n{out}"))
    })
    .clone()
}

/// The RocketMQ version the test cluster's brokers report (e.g. `V4_9_7`), asked once through the
/// launcher (`broker-info`); None when it cannot tell (NAMESRV_ADDR names a cluster it did not
/// start): the tests then expect 5.x, the default.
pub fn server_version() -> Option<&'static str> {
    static VERSION: OnceLock<Option<String>> = OnceLock::new();
    VERSION
        .get_or_init(|| {
            namesrv();
            let output = Command::new(launcher())
                .args(["broker-info", "broker-a"])
                .output()
                .ok()?;
            let info: Value = serde_json::from_slice(&output.stdout).ok()?;
            info.get("version")?.as_str().map(str::to_string)
        })
        .as_deref()
}

/// True, with the reason printed, when the test cluster runs RocketMQ 4.x, which does not have
/// `feature` (the caller then proves what 4.x does instead, or skips).
pub fn missing_on_4x(feature: &str) -> bool {
    match server_version().filter(|v| v.starts_with("V4_")) {
        Some(version) => {
            println!("{feature}: not in RocketMQ {version}");
            true
        }
        None => false,
    }
}

/// The secure cluster (brokers require TLS and ACL 2.0 signatures, see tests/cluster/README.md):
/// the one `make test` started (`RMQ_SECURE_*`), else the launcher's, brought up on first use
/// at `RMQ_SECURE_PORT_BASE` or the plain cluster's base + 1000. None, with the reason printed,
/// when the test cluster runs 4.x: ACL 2.0 is 5.3+, and 4.9's ACL 1.0 has a deployment of its own.
pub fn secure_cluster() -> Option<&'static SecureCluster> {
    if missing_on_4x("ACL 2.0 (the --secure cluster); skipped") {
        return None;
    }
    Some(secure_cluster_5x())
}

pub struct SecureCluster {
    pub namesrv: String,
    pub port_base: String,
    pub access_key: String,
    pub secret_key: String,
}

fn secure_cluster_5x() -> &'static SecureCluster {
    static CLUSTER: OnceLock<SecureCluster> = OnceLock::new();
    CLUSTER.get_or_init(|| {
        let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        let port_base = env("RMQ_SECURE_PORT_BASE").unwrap_or_else(|| {
            let plain: u32 = env("RMQ_PORT_BASE").map_or(19876, |b| b.parse().unwrap());
            (plain + 1000).to_string()
        });
        let namesrv = env("RMQ_SECURE_NAMESRV_ADDR").unwrap_or_else(|| {
            let out = run_launcher(&["--port-base", &port_base], &["up", "--secure"]);
            out.lines()
                .find_map(|l| l.strip_prefix("NAMESRV_ADDR="))
                .map(str::to_string)
                .unwrap_or_else(|| {
                    panic!("rmq-cluster up --secure printed no NAMESRV_ADDR:\n{out}")
                })
        });
        SecureCluster {
            namesrv,
            port_base,
            access_key: env("RMQ_SECURE_ACCESS_KEY").unwrap_or_else(|| "rocketmq".into()),
            secret_key: env("RMQ_SECURE_SECRET_KEY").unwrap_or_else(|| "12345678".into()),
        }
    })
}

impl SecureCluster {
    /// A producer on the secure cluster with exactly `options` (no TLS or credentials unless given).
    pub fn producer(&self, group: &str, options: &[(&str, &str)]) -> Producer {
        producer_on(&self.namesrv, group, options)
    }

    /// What the Java reader (signing, over TLS) finds in `topic` of the secure cluster.
    pub fn read_topic(&self, topic: &str, expect: usize) -> Vec<Stored> {
        read_topic_at(&["--port-base", &self.port_base], topic, expect)
    }
}

/// The mutual-TLS cluster (`rmq-cluster up --mtls`: broker-a alone, requiring a client
/// certificate of the launcher's test CA) at `RMQ_MTLS_PORT_BASE` (`make test` starts it there), or
/// the plain cluster's base + 1500, brought up on first use.
pub struct MtlsCluster {
    pub namesrv: String,
    pub port_base: String,
    /// The launcher's files by their `up` names, lower case: `ca`, `cert`, `key`,
    /// `untrusted_ca`, `untrusted_cert`, `untrusted_key`.
    files: BTreeMap<String, String>,
}

pub fn mtls_cluster() -> &'static MtlsCluster {
    static CLUSTER: OnceLock<MtlsCluster> = OnceLock::new();
    CLUSTER.get_or_init(|| {
        let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        let port_base = env("RMQ_MTLS_PORT_BASE").unwrap_or_else(|| {
            let plain: u32 = env("RMQ_PORT_BASE").map_or(19876, |b| b.parse().unwrap());
            (plain + 1500).to_string()
        });
        // `up` on a healthy cluster only prints its address and files again.
        let out = run_launcher(&["--port-base", &port_base], &["up", "--mtls"]);
        let mut files = BTreeMap::new();
        let mut namesrv = None;
        for line in out.lines() {
            if let Some(addr) = line.strip_prefix("NAMESRV_ADDR=") {
                namesrv = Some(addr.to_string());
            } else if let Some((name, path)) = line
                .strip_prefix("TLS_")
                .and_then(|l| l.split_once("_FILE="))
            {
                files.insert(name.to_ascii_lowercase(), path.to_string());
            }
        }
        MtlsCluster {
            namesrv: namesrv
                .unwrap_or_else(|| panic!("rmq-cluster up --mtls printed no NAMESRV_ADDR:\n{out}")),
            port_base,
            files,
        }
    })
}

impl MtlsCluster {
    /// The path of one of the launcher's files (`ca`, `cert`, `key`, `untrusted_ca`, ...).
    pub fn file(&self, name: &str) -> &str {
        self.files
            .get(name)
            .unwrap_or_else(|| panic!("rmq-cluster up --mtls printed no TLS_{name}_FILE"))
    }

    /// A producer on the mTLS cluster with exactly `options`.
    pub fn producer(&self, group: &str, options: &[(&str, &str)]) -> Producer {
        producer_on(&self.namesrv, group, options)
    }

    /// What the Java reader (presenting the launcher's client certificate) finds in `topic`.
    pub fn read_topic(&self, topic: &str, expect: usize) -> Vec<Stored> {
        read_topic_at(&["--port-base", &self.port_base], topic, expect)
    }
}

/// A deployment other than the default cluster (master/slave groups, controller mode, another
/// RocketMQ version, the Proxy...), on a port base of its own: `RMQ_DEPLOYMENT_PORT_BASE` when
/// set (tests/deployments.sh sets it), else `default_base`. Brought up by its first user with
/// `up_args` (a no-op when it already runs); `tests/deployments.sh` brings it down afterwards.
/// One test binary uses one deployment.
pub struct Deployment {
    pub namesrv: String,
    pub port_base: String,
}

pub fn deployment(default_base: u32, up_args: &[&str]) -> &'static Deployment {
    deployment_with_env(default_base, up_args, &[])
}

/// As `deployment`, brought up with extra environment variables (e.g. `RMQ_BROKER_CONF`: the
/// servers read them when they start). Prints how long bringing it up took.
pub fn deployment_with_env(
    default_base: u32,
    up_args: &[&str],
    env: &[(&str, &str)],
) -> &'static Deployment {
    static DEPLOYMENT: OnceLock<Deployment> = OnceLock::new();
    DEPLOYMENT.get_or_init(|| {
        let port_base = std::env::var("RMQ_DEPLOYMENT_PORT_BASE")
            .ok()
            .filter(|v| !v.is_empty())
            .unwrap_or_else(|| default_base.to_string());
        let mut args = vec!["up"];
        args.extend_from_slice(up_args);
        let started = std::time::Instant::now();
        let out = run_launcher_with_env(&["--port-base", &port_base], &args, env);
        println!(
            "rmq-cluster {args:?} on port base {port_base}: {:.1} s",
            started.elapsed().as_secs_f64()
        );
        let namesrv = out
            .lines()
            .find_map(|l| l.strip_prefix("NAMESRV_ADDR="))
            .map(str::to_string)
            .unwrap_or_else(|| panic!("rmq-cluster {args:?} printed no NAMESRV_ADDR:\n{out}"));
        Deployment { namesrv, port_base }
    })
}

impl Deployment {
    /// Runs the launcher on this deployment's port base; panics with its output on failure.
    pub fn cli(&self, args: &[&str]) -> String {
        run_launcher(&["--port-base", &self.port_base], args)
    }

    /// Starts a long-running launcher command (e.g. `reply-responder`) on this deployment, its
    /// stdout piped.
    pub fn spawn(&self, args: &[&str]) -> std::process::Child {
        spawn_launcher(&["--port-base", &self.port_base], args)
    }

    /// A producer on this deployment with `options` set, not started.
    pub fn producer(&self, group: &str, options: &[(&str, &str)]) -> Producer {
        producer_on(&self.namesrv, group, options)
    }

    /// The configuration of a producer on this deployment with `options` set (for the
    /// transaction producer).
    pub fn config(&self, group: &str, options: &[(&str, &str)]) -> ProducerConfig {
        config_on(&self.namesrv, group, options)
    }

    pub fn create_topic(&self, topic: &str, queues: u32) {
        self.cli(&["create-topic", topic, "--queues", &queues.to_string()]);
    }

    /// Sends three transactional messages to `topic` whose local transactions answer Commit,
    /// Rollback and Unknown, from a producer of `config` whose check-back answers Commit, and
    /// asserts what the Java reader finds: the committed one and the checked one, never the
    /// rolled-back one. Only the stored message proves an END_TRANSACTION was accepted (it is a
    /// oneway: a broker refuses a wrongly signed one silently).
    pub async fn assert_transactions_settle(&self, topic: &str, config: ProducerConfig) {
        use rmq_core::producer::{LocalTransactionState, TransactionProducer};
        let checked = std::sync::Arc::new(parking_lot::Mutex::new(Vec::<String>::new()));
        let record = checked.clone();
        let producer = TransactionProducer::new(config, move |check| {
            record.lock().push(check.msg_id.clone());
            LocalTransactionState::Commit
        })
        .unwrap();
        producer.start().await.unwrap();
        let mut ids = Vec::new();
        for local in [
            LocalTransactionState::Commit,
            LocalTransactionState::Rollback,
            LocalTransactionState::Unknown,
        ] {
            let outcome = producer
                .send_in_transaction(
                    rmq_core::Message::new(topic, format!("{local:?}")),
                    |_, _| local,
                )
                .await
                .unwrap();
            assert_eq!(outcome.send_result.status, rmq_core::SendStatus::SendOk);
            ids.push(outcome.send_result.msg_id);
        }
        let (commit, rollback, unknown) = (&ids[0], &ids[1], &ids[2]);
        assert!(
            eventually(90, || checked.lock().contains(unknown)),
            "the broker never checked {unknown}"
        );
        let visible = by_msg_id(&self.read_topic(topic, 2));
        producer.shutdown().await.unwrap();
        let body = |id: &String| {
            visible
                .get(id)
                .unwrap_or_else(|| panic!("{id} was committed but the reader does not find it"))
                .body
                .clone()
        };
        assert_eq!(body(commit), b"Commit");
        assert_eq!(body(unknown), b"Unknown");
        assert!(!visible.contains_key(rollback), "rolled back but visible");
    }

    /// What the Java reader of this deployment's version finds in `topic`.
    pub fn read_topic(&self, topic: &str, expect: usize) -> Vec<Stored> {
        read_topic_at(&["--port-base", &self.port_base], topic, expect)
    }

    /// The resident memory (KiB, from /proc) of each running server, as `status` lists them.
    pub fn server_rss_kib(&self) -> Vec<(String, u64)> {
        let status = Command::new(launcher())
            .args(["--port-base", &self.port_base, "status"])
            .output()
            .expect("rmq-cluster status");
        String::from_utf8_lossy(&status.stdout)
            .lines()
            .filter_map(|line| {
                let name = line.split_whitespace().next()?;
                let pid = line.split("(pid ").nth(1)?.split(')').next()?;
                let proc_status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
                let rss = proc_status
                    .lines()
                    .find_map(|l| l.strip_prefix("VmRSS:"))?
                    .split_whitespace()
                    .next()?
                    .parse()
                    .ok()?;
                Some((name.to_string(), rss))
            })
            .collect()
    }
}

/// The store host ("ip:port") an offset message id names: the broker that stored the message.
pub fn store_host(offset_msg_id: &str) -> String {
    rmq_core::protocol::unique_id::decode_offset_msg_id(offset_msg_id)
        .unwrap_or_else(|e| panic!("{e}"))
        .0
        .to_string()
}

/// Milliseconds since the epoch (the clock brokers stamp messages with).
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// A topic name no other test run uses.
pub fn unique_topic(prefix: &str) -> String {
    format!("{prefix}_{}_{}", std::process::id(), fastrand::u32(..))
}

pub fn create_topic(topic: &str, queues: u32) {
    namesrv();
    cluster(&["create-topic", topic, "--queues", &queues.to_string()]);
}

/// Everything stored in `topic`, waiting until at least `expect` messages are there.
pub fn read_topic(topic: &str, expect: usize) -> Vec<Stored> {
    read_topic_at(&[], topic, expect)
}

fn read_topic_at(base_args: &[&str], topic: &str, expect: usize) -> Vec<Stored> {
    let expect = expect.to_string();
    let args = [
        "read-topic",
        topic,
        "--expect",
        &expect,
        "--timeout-ms",
        "60000",
    ];
    run_launcher(base_args, &args)
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            parse_stored(
                &serde_json::from_str(l).unwrap_or_else(|e| panic!("bad reader line {l}: {e}")),
            )
        })
        .collect()
}

/// Only the messages of `topic` whose UNIQ_KEY is in `ids` (the reader returns all).
pub fn by_msg_id(stored: &[Stored]) -> BTreeMap<String, Stored> {
    stored
        .iter()
        .map(|s| (s.msg_id.clone(), s.clone()))
        .collect()
}

fn parse_stored(v: &Value) -> Stored {
    let text = |k: &str| v.get(k).and_then(Value::as_str).map(str::to_string);
    let int = |k: &str| {
        v.get(k)
            .and_then(Value::as_i64)
            .unwrap_or_else(|| panic!("reader gave no {k}: {v}"))
    };
    Stored {
        msg_id: text("msgId").expect("msgId"),
        offset_msg_id: text("offsetMsgId").unwrap_or_default(),
        broker_name: text("brokerName").expect("brokerName"),
        queue_id: int("queueId"),
        queue_offset: int("queueOffset"),
        tags: text("tags").filter(|t| !t.is_empty()),
        keys: text("keys").filter(|k| !k.is_empty()),
        user_properties: string_map(v.get("userProperties")),
        body: base64::engine::general_purpose::STANDARD
            .decode(text("bodyBase64").expect("bodyBase64"))
            .expect("base64 body"),
        sys_flag: int("sysFlag"),
        flag: int("flag"),
        born_timestamp: int("bornTimestamp"),
        store_timestamp: int("storeTimestamp"),
        topic: text("topic").expect("topic"),
        properties: string_map(v.get("properties")),
    }
}

fn string_map(v: Option<&Value>) -> BTreeMap<String, String> {
    v.and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                .collect()
        })
        .unwrap_or_default()
}

/// Logs of the library on stderr when `RUST_LOG` asks for them (cargo shows them for failing tests).
pub fn init_logging() {
    static ONCE: OnceLock<()> = OnceLock::new();
    ONCE.get_or_init(|| {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_test_writer()
            .try_init();
    });
}

/// A producer on the test cluster with `options` set, not started.
pub fn producer(group: &str, options: &[(&str, &str)]) -> Producer {
    producer_on(&namesrv(), group, options)
}

pub fn producer_on(namesrv: &str, group: &str, options: &[(&str, &str)]) -> Producer {
    Producer::new(config_on(namesrv, group, options)).unwrap()
}

fn config_on(namesrv: &str, group: &str, options: &[(&str, &str)]) -> ProducerConfig {
    init_logging();
    let mut config = ProducerConfig::new(group);
    config.namesrv_addr = Some(namesrv.to_string());
    for (k, v) in options {
        config.set(k, v).unwrap();
    }
    config
}

pub fn unique_group(prefix: &str) -> String {
    format!("{prefix}_{}_{}", std::process::id(), fastrand::u32(..))
}

/// The producer connections the brokers know for `group`: (broker name, client id, client address).
pub fn producer_connections(group: &str) -> Vec<(String, String, String)> {
    let out = cluster(&["producers", group]);
    let v: Value = serde_json::from_str(out.trim())
        .unwrap_or_else(|e| panic!("bad producers output {out}: {e}"));
    v["connections"]
        .as_array()
        .map(|list| {
            list.iter()
                .map(|c| {
                    let s = |k: &str| c[k].as_str().unwrap_or_default().to_string();
                    (s("brokerName"), s("clientId"), s("clientAddr"))
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Polls `check` every 300 ms until it holds or `secs` pass; returns whether it held.
pub fn eventually(secs: u64, mut check: impl FnMut() -> bool) -> bool {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    loop {
        if check() {
            return true;
        }
        if std::time::Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(std::time::Duration::from_millis(300));
    }
}

/// How much later than asked the timers of this process fired while an operation ran. On a
/// starved machine (a loaded CI runner) every wake-up of the library is late by about as much,
/// so a time bound adds it; a wait that ignores its deadline is still caught, as it is late by
/// seconds while the timers are not.
pub struct Starvation {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    ticker: tokio::task::JoinHandle<std::time::Duration>,
}

impl Starvation {
    const TICK: std::time::Duration = std::time::Duration::from_millis(50);

    /// Starts measuring: a task that sleeps one tick after another, adding up how late each ends.
    pub fn measure() -> Starvation {
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let stopped = stop.clone();
        let ticker = tokio::spawn(async move {
            let mut late = std::time::Duration::ZERO;
            while !stopped.load(std::sync::atomic::Ordering::SeqCst) {
                let begin = tokio::time::Instant::now();
                tokio::time::sleep(Self::TICK).await;
                late += begin.elapsed().saturating_sub(Self::TICK);
            }
            late
        });
        Starvation { stop, ticker }
    }

    /// The lateness added up since `measure`.
    pub async fn total(self) -> std::time::Duration {
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
        self.ticker.await.expect("the starvation ticker panicked")
    }
}

/// A send hook that counts the attempts of each send by message id: every stored copy beyond
/// the first must be explained by one of them.
#[derive(Default)]
pub struct SendAttempts(parking_lot::Mutex<BTreeMap<String, usize>>);

impl rmq_core::producer::SendHook for SendAttempts {
    fn before_send(&self, ctx: &rmq_core::producer::SendContext<'_>) {
        *self.0.lock().entry(ctx.msg_id.to_string()).or_insert(0) += 1;
    }
}

impl SendAttempts {
    pub fn of(&self, msg_id: &str) -> usize {
        self.0.lock().get(msg_id).copied().unwrap_or(0)
    }

    /// Attempts of every send.
    pub fn total(&self) -> usize {
        self.0.lock().values().sum()
    }
}

/// A send hook that keeps the broker address of every attempt, and whether each was stored.
#[derive(Default)]
pub struct BrokerAddrs(parking_lot::Mutex<Vec<(String, bool)>>);

impl rmq_core::producer::SendHook for BrokerAddrs {
    fn after_send(
        &self,
        ctx: &rmq_core::producer::SendContext<'_>,
        _: std::time::Duration,
        outcome: rmq_core::producer::SendOutcome<'_>,
    ) {
        let stored = matches!(outcome, rmq_core::producer::SendOutcome::Stored(_));
        self.0.lock().push((ctx.broker_addr.to_string(), stored));
    }
}

impl BrokerAddrs {
    /// The addresses of the attempts that stored their message.
    pub fn stored_at(&self) -> std::collections::BTreeSet<String> {
        self.0
            .lock()
            .iter()
            .filter(|(_, stored)| *stored)
            .map(|(addr, _)| addr.clone())
            .collect()
    }

    /// Attempts that did not store their message.
    pub fn not_stored(&self) -> usize {
        self.0.lock().iter().filter(|(_, stored)| !*stored).count()
    }
}

/// A body of `len` bytes that compresses well but not to nothing (repeated text, varied every 4 KiB).
pub fn compressible_body(len: u32) -> Vec<u8> {
    (0..len)
        .map(|i| b"compressible rocketmq body "[(i % 27) as usize] ^ (i / 4096) as u8)
        .collect()
}

/// What a fault test reports about the store of a topic that only it sent to, every send
/// acknowledged: copies per message id are printed, and no message may be missing, stored more
/// often than it was attempted, or stored without having been acknowledged.
pub fn check_copies(acknowledged: &[String], stored: &[Stored], attempts: &SendAttempts) {
    let mut copies: BTreeMap<&str, usize> = BTreeMap::new();
    for message in stored {
        *copies.entry(message.msg_id.as_str()).or_insert(0) += 1;
    }
    let mut histogram: BTreeMap<usize, usize> = BTreeMap::new();
    for id in acknowledged {
        *histogram
            .entry(copies.get(id.as_str()).copied().unwrap_or(0))
            .or_insert(0) += 1;
    }
    println!(
        "{} acknowledged, {} stored; acknowledged ids by stored copies: {histogram:?}",
        acknowledged.len(),
        stored.len()
    );
    for id in acknowledged {
        let n = copies.get(id.as_str()).copied().unwrap_or(0);
        if n > 1 {
            println!("  {id}: {n} copies after {} attempt(s)", attempts.of(id));
        }
    }
    for id in acknowledged {
        let n = copies.get(id.as_str()).copied().unwrap_or(0);
        assert!(n > 0, "{id} was acknowledged but is not stored");
        assert!(
            n <= attempts.of(id),
            "{id} is stored {n} times but was attempted {} time(s)",
            attempts.of(id)
        );
    }
    let known: std::collections::BTreeSet<&str> = acknowledged.iter().map(String::as_str).collect();
    let unknown: Vec<&&str> = copies.keys().filter(|id| !known.contains(**id)).collect();
    assert!(
        unknown.is_empty(),
        "stored but never acknowledged: {unknown:?}"
    );
}
