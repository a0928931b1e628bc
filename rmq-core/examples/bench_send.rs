//! Throughput and latency of one producer against a cluster (a benchmark, not a test).
//!
//! `cargo run --release -p rmq-core --example bench_send -- MODE COUNT [IN_FLIGHT] [BODY_BYTES]`
//! with MODE `sync`, `async` or `oneway`; NAMESRV_ADDR names the cluster; topic BenchTopic.

use std::sync::Arc;
use std::time::{Duration, Instant};

use rmq_core::{Message, Producer, ProducerConfig, RoomWait};
use tokio::sync::Semaphore;

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let mode = args
        .get(1)
        .map(String::as_str)
        .unwrap_or("sync")
        .to_string();
    let count: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(10_000);
    let in_flight: usize = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(1000);
    let body_len: usize = args.get(4).and_then(|s| s.parse().ok()).unwrap_or(1024);
    let topic = std::env::var("BENCH_TOPIC").unwrap_or_else(|_| "BenchTopic".into());

    let producer =
        Producer::new(ProducerConfig::new(format!("bench_{}", std::process::id()))).unwrap();
    producer.start().await.unwrap();
    let body = bytes::Bytes::from(vec![b'x'; body_len]);
    // Warm-up: routes, connections, heartbeats.
    for _ in 0..200 {
        producer
            .send(Message::new(&topic, body.clone()))
            .await
            .unwrap();
    }

    let mut latencies = Vec::with_capacity(count);
    let begin = Instant::now();
    match mode.as_str() {
        "sync" => {
            for _ in 0..count {
                let t = Instant::now();
                producer
                    .send(Message::new(&topic, body.clone()))
                    .await
                    .unwrap();
                latencies.push(t.elapsed());
            }
        }
        "async" => {
            let window = Arc::new(Semaphore::new(in_flight));
            let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
            for _ in 0..count {
                let permit = window.clone().acquire_owned().await.unwrap();
                let tx = tx.clone();
                let t = Instant::now();
                producer
                    .try_send_with_callback(
                        Message::new(&topic, body.clone()),
                        RoomWait::InTask,
                        move |r| {
                            r.unwrap();
                            let _ = tx.send(t.elapsed());
                            drop(permit);
                        },
                    )
                    .unwrap();
            }
            drop(tx);
            while let Some(latency) = rx.recv().await {
                latencies.push(latency);
            }
        }
        "oneway" => {
            for _ in 0..count {
                let t = Instant::now();
                producer
                    .send_oneway(Message::new(&topic, body.clone()))
                    .await
                    .unwrap();
                latencies.push(t.elapsed());
            }
        }
        other => panic!("unknown mode {other}"),
    }
    let elapsed = begin.elapsed();
    producer.shutdown().await.unwrap();
    latencies.sort();
    let pct = |p: f64| latencies[((latencies.len() as f64 * p) as usize).min(latencies.len() - 1)];
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "mode={mode} count={count} in_flight={in_flight} body={body_len} msgs_per_s={:.0} p50_ms={:.3} p99_ms={:.3} p999_ms={:.3}",
        count as f64 / elapsed.as_secs_f64(),
        ms(pct(0.50)),
        ms(pct(0.99)),
        ms(pct(0.999)),
    );
}
