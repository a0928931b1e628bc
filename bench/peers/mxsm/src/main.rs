//! The `rocketmq-client-rust` crate (mxsm/rocketmq-rust, a peer) under the bench contract
//! (bench/README.md). Sync senders are tasks on the runtime the crate requires its user to own,
//! each awaiting its send before the next, as for ours in Rust.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use bench_contract::{Args, COMPRESS_LEVEL, COMPRESS_THRESHOLD, Latencies, Mode, Outcome};
use rocketmq_client_rust::{ClientRuntime, ClientRuntimeConfig, DefaultMQProducer, SendStatus};
use rocketmq_model::common::message::message_single::Message;
use rocketmq_observability::TelemetryRuntimeGuard;
use rocketmq_runtime::RuntimeOwner;
use tokio::sync::Semaphore;

const CLIENT_VERSION: &str = "rocketmq-client-rust 1.0.0";
const SEND_TIMEOUT_MS: u64 = 3000;

#[derive(Default)]
struct Failures {
    count: AtomicUsize,
    first: Mutex<Option<String>>,
}

impl Failures {
    fn note(&self, error: impl std::fmt::Display) {
        if self.count.fetch_add(1, Ordering::Relaxed) == 0 {
            let mut first = self.first.lock().unwrap_or_else(|e| e.into_inner());
            first.get_or_insert(error.to_string());
        }
    }
}

struct Bench {
    producer: DefaultMQProducer,
    topic: String,
    body: bytes::Bytes,
    latencies: Latencies,
    failures: Failures,
}

impl Bench {
    fn message(&self) -> Message {
        Message::builder()
            .topic(self.topic.as_str())
            .body(self.body.clone())
            .build()
            .expect("the benchmark message is valid")
    }

    async fn send_sync(&self) -> Result<(), String> {
        match self
            .producer
            .send_with_timeout(self.message(), SEND_TIMEOUT_MS)
            .await
        {
            Ok(Some(result)) if result.send_status == SendStatus::SendOk => Ok(()),
            Ok(Some(result)) => Err(format!("send status {:?}", result.send_status)),
            Ok(None) => Err("send returned no result".to_string()),
            Err(e) => Err(e.to_string()),
        }
    }

    async fn sync_sender(self: Arc<Self>, first: usize, count: usize) {
        for index in first..first + count {
            let began = Instant::now();
            if let Err(e) = self.send_sync().await {
                self.failures.note(e);
            }
            self.latencies.record(index, began.elapsed());
        }
    }

    async fn run_sync(self: &Arc<Self>, args: &Args) {
        let mut senders = Vec::with_capacity(args.threads);
        let mut first = 0;
        for thread in 0..args.threads {
            let count = args.share(thread);
            senders.push(tokio::spawn(self.clone().sync_sender(first, count)));
            first += count;
        }
        for sender in senders {
            sender.await.expect("a sync sender panicked");
        }
    }

    async fn run_async(self: &Arc<Self>, args: &Args) {
        // The crate's callback is `Fn`, so the window is given back with add_permits.
        let window = Arc::new(Semaphore::new(args.in_flight));
        for index in 0..args.count {
            window.acquire().await.expect("window closed").forget();
            let (bench, done) = (self.clone(), window.clone());
            let began = Instant::now();
            let callback =
                move |result: Option<&rocketmq_client_rust::SendResult>,
                      error: Option<&rocketmq_client_rust::ClientError>| {
                    match (result, error) {
                        (_, Some(e)) => bench.failures.note(e),
                        (Some(r), None) if r.send_status != SendStatus::SendOk => bench
                            .failures
                            .note(format!("send status {:?}", r.send_status)),
                        (None, None) => bench.failures.note("callback without result or error"),
                        _ => {}
                    }
                    bench.latencies.record(index, began.elapsed());
                    done.add_permits(1);
                };
            if let Err(e) = self
                .producer
                .send_with_callback_timeout(self.message(), callback, SEND_TIMEOUT_MS)
                .await
            {
                // Refused before sending: the callback may never run.
                self.failures.note(e);
                self.latencies.record(index, began.elapsed());
                window.add_permits(1);
            }
        }
        let all = u32::try_from(args.in_flight).expect("in-flight fits u32");
        drop(window.acquire_many(all).await.expect("window closed"));
    }

    async fn run_oneway(self: &Arc<Self>, args: &Args) {
        for index in 0..args.count {
            let began = Instant::now();
            if let Err(e) = self.producer.send_oneway(self.message()).await {
                self.failures.note(e);
            }
            self.latencies.record(index, began.elapsed());
        }
    }
}

async fn run(args: &Args, client_runtime: Arc<ClientRuntime>) -> Result<String, String> {
    let threshold = if args.compress {
        COMPRESS_THRESHOLD as u32
    } else {
        u32::MAX
    };
    let mut producer = DefaultMQProducer::builder(client_runtime)
        .producer_group(format!("bench_mxsm_{}", std::process::id()))
        .name_server_addr(args.namesrv.clone())
        .send_msg_timeout(SEND_TIMEOUT_MS as u32)
        .compress_msg_body_over_howmuch(threshold)
        .compress_level(COMPRESS_LEVEL as i32)
        .build();
    producer.start().await.map_err(|e| format!("start: {e}"))?;
    let bench = Arc::new(Bench {
        producer: producer.clone(),
        topic: args.topic.clone(),
        body: bytes::Bytes::from(args.body.clone()),
        latencies: Latencies::new(args.count),
        failures: Failures::default(),
    });
    for _ in 0..args.warmup {
        bench
            .send_sync()
            .await
            .map_err(|e| format!("warm-up send: {e}"))?;
    }

    let cpu_before = bench_contract::cpu_seconds();
    let began = Instant::now();
    match args.mode {
        Mode::Sync => bench.run_sync(args).await,
        Mode::Async => bench.run_async(args).await,
        Mode::Oneway => bench.run_oneway(args).await,
    }
    let elapsed = began.elapsed();
    let cpu_seconds = bench_contract::cpu_seconds() - cpu_before;
    producer.shutdown().await;

    let errors = bench.failures.count.load(Ordering::Relaxed);
    let first_error = bench
        .failures
        .first
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone();
    Ok(Outcome {
        client: "rust-mxsm",
        version: CLIENT_VERSION,
        args,
        ok: args.count - errors,
        errors,
        first_error,
        elapsed,
        cpu_seconds,
        latencies: &bench.latencies,
    }
    .json_line())
}

fn main() {
    let args = Args::from_env();
    let owner = RuntimeOwner::new().expect("the crate's runtime");
    let telemetry = TelemetryRuntimeGuard::noop();
    let client_runtime = ClientRuntime::try_new(
        owner.root_context().component("bench"),
        ClientRuntimeConfig::default(),
        telemetry.handle(),
    )
    .expect("a client runtime");
    let outcome = owner.block_on(async {
        let outcome = run(&args, client_runtime.clone()).await;
        let _ = client_runtime.shutdown().await;
        outcome
    });
    match outcome {
        Ok(line) => println!("{line}"),
        Err(e) => {
            eprintln!("rust-mxsm: {e}");
            std::process::exit(1);
        }
    }
    // The process exits here; a slow runtime shutdown would only lengthen the wall time.
    std::process::exit(0);
}
