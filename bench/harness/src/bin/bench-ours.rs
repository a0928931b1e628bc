//! Ours through Rust: `rmq_core::Producer` under the bench contract (bench/README.md).
//!
//! Sync senders are tasks on this program's own single-threaded runtime, each awaiting its
//! send before the next: how an async Rust application drives a producer. The producer's
//! sockets and timers run on the library's runtime, as they do for every binding.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use bench_contract::{Args, COMPRESS_LEVEL, COMPRESS_THRESHOLD, Latencies, Mode, Outcome};
use bytes::Bytes;
use rmq_core::{Message, Producer, ProducerConfig, RoomWait};
use tokio::sync::Semaphore;

/// Failures of the measured window: how many, and the first one's text.
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
    producer: Producer,
    topic: String,
    body: Bytes,
    latencies: Latencies,
    failures: Failures,
}

impl Bench {
    fn message(&self) -> Message {
        Message::new(self.topic.as_str(), self.body.clone())
    }

    /// Sends `count` messages one after another, recording slots `first..first + count`.
    async fn sync_sender(self: Arc<Self>, first: usize, count: usize) {
        for index in first..first + count {
            let began = Instant::now();
            if let Err(e) = self.producer.send(self.message()).await {
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
        let window = Arc::new(Semaphore::new(args.in_flight));
        for index in 0..args.count {
            let permit = window.clone().acquire_owned().await.expect("window closed");
            let bench = self.clone();
            let began = Instant::now();
            let accepted = self.producer.try_send_with_callback(
                self.message(),
                RoomWait::InTask,
                move |result| {
                    if let Err(e) = result {
                        bench.failures.note(e);
                    }
                    bench.latencies.record(index, began.elapsed());
                    drop(permit);
                },
            );
            if let Err(e) = accepted {
                self.failures.note(e);
            }
        }
        // Every permit back means every callback ran.
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

fn config(args: &Args) -> rmq_core::Result<ProducerConfig> {
    let mut config = ProducerConfig::new(format!("bench_ours_{}", std::process::id()));
    config.set("namesrv_addr", &args.namesrv)?;
    let threshold = if args.compress {
        COMPRESS_THRESHOLD
    } else {
        u32::MAX as usize
    };
    config.set("compress_threshold", &threshold.to_string())?;
    config.set("compress_level", &COMPRESS_LEVEL.to_string())?;
    config.set("auto_batch", &args.auto_batch.to_string())?;
    // Extra options for experiments, e.g. BENCH_OURS_OPTIONS=serialize_type=json.
    if let Ok(extra) = std::env::var("BENCH_OURS_OPTIONS") {
        for option in extra.split(',').filter(|o| !o.trim().is_empty()) {
            let (key, value) = option.split_once('=').unwrap_or((option, ""));
            config.set(key.trim(), value)?;
        }
    }
    Ok(config)
}

async fn run(args: Args) -> rmq_core::Result<String> {
    let producer = Producer::new(config(&args)?)?;
    producer.start().await?;
    let bench = Arc::new(Bench {
        producer,
        topic: args.topic.clone(),
        body: Bytes::from(args.body.clone()),
        latencies: Latencies::new(args.count),
        failures: Failures::default(),
    });
    for _ in 0..args.warmup {
        bench.producer.send(bench.message()).await?;
    }

    let cpu_before = bench_contract::cpu_seconds();
    let began = Instant::now();
    match args.mode {
        Mode::Sync => bench.run_sync(&args).await,
        Mode::Async => bench.run_async(&args).await,
        Mode::Oneway => bench.run_oneway(&args).await,
    }
    let elapsed = began.elapsed();
    let cpu_seconds = bench_contract::cpu_seconds() - cpu_before;
    bench.producer.shutdown().await?;

    let errors = bench.failures.count.load(Ordering::Relaxed);
    let first_error = bench
        .failures
        .first
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone();
    Ok(Outcome {
        client: "ours-rust",
        version: rmq_core::VERSION,
        args: &args,
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
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a current-thread runtime");
    match runtime.block_on(run(args)) {
        Ok(line) => println!("{line}"),
        Err(e) => {
            eprintln!("ours-rust: {e}");
            std::process::exit(1);
        }
    }
}
