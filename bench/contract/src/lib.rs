//! The contract every benchmark client follows, whatever its language (see bench/README.md):
//!
//! ```text
//! CLIENT --namesrv ADDR --topic T --mode sync|async|oneway --threads N --in-flight N
//!        --count N --warmup N --body-file PATH [--compress] [--auto-batch]
//! ```
//!
//! and one JSON line on stdout with the measured window's throughput, latency percentiles and
//! the process's own CPU time over that window. This crate is the Rust side of it.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Sync,
    Async,
    Oneway,
}

impl Mode {
    pub fn name(self) -> &'static str {
        match self {
            Mode::Sync => "sync",
            Mode::Async => "async",
            Mode::Oneway => "oneway",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Args {
    pub namesrv: String,
    pub topic: String,
    pub mode: Mode,
    /// Concurrent synchronous senders (sync mode only).
    pub threads: usize,
    /// Bound on async sends awaiting their response.
    pub in_flight: usize,
    /// Messages in the measured window, over all threads.
    pub count: usize,
    /// Messages sent before the window opens (routes, connections, JIT for the JVM).
    pub warmup: usize,
    pub body: Vec<u8>,
    /// Compress bodies of 4 KiB and more at zlib level 5 (every client's default); without it
    /// compression is off.
    pub compress: bool,
    /// Gather async and sync sends into batch requests (`auto_batch`, Java's `autoBatch`).
    pub auto_batch: bool,
}

pub const COMPRESS_THRESHOLD: usize = 4096;
pub const COMPRESS_LEVEL: u32 = 5;

impl Args {
    /// Parses the process's arguments; prints the problem and exits with 64 on bad usage.
    pub fn from_env() -> Args {
        match Args::parse(std::env::args().skip(1)) {
            Ok(args) => args,
            Err(problem) => {
                eprintln!("usage error: {problem}");
                std::process::exit(64);
            }
        }
    }

    pub fn parse(mut argv: impl Iterator<Item = String>) -> Result<Args, String> {
        let mut namesrv = std::env::var("NAMESRV_ADDR").ok();
        let mut topic = None;
        let mut mode = Mode::Sync;
        let (mut threads, mut in_flight, mut count, mut warmup) = (1, 1, 10_000, 200);
        let mut body_file = None;
        let (mut compress, mut auto_batch) = (false, false);
        while let Some(flag) = argv.next() {
            if flag == "--compress" {
                compress = true;
                continue;
            }
            if flag == "--auto-batch" {
                auto_batch = true;
                continue;
            }
            let value = argv.next().ok_or_else(|| format!("{flag} needs a value"))?;
            let number = |v: &str| {
                v.parse::<usize>()
                    .map_err(|_| format!("{flag} takes a number, not {v:?}"))
            };
            match flag.as_str() {
                "--namesrv" => namesrv = Some(value),
                "--topic" => topic = Some(value),
                "--mode" => {
                    mode = match value.as_str() {
                        "sync" => Mode::Sync,
                        "async" => Mode::Async,
                        "oneway" => Mode::Oneway,
                        other => return Err(format!("unknown mode {other:?}")),
                    }
                }
                "--threads" => threads = number(&value)?.max(1),
                "--in-flight" => in_flight = number(&value)?.max(1),
                "--count" => count = number(&value)?.max(1),
                "--warmup" => warmup = number(&value)?,
                "--body-file" => body_file = Some(value),
                other => return Err(format!("unknown option {other}")),
            }
        }
        let body_file = body_file.ok_or("--body-file is required")?;
        let body = std::fs::read(&body_file).map_err(|e| format!("{body_file}: {e}"))?;
        Ok(Args {
            namesrv: namesrv.ok_or("--namesrv or NAMESRV_ADDR is required")?,
            topic: topic.ok_or("--topic is required")?,
            mode,
            threads,
            in_flight,
            count,
            warmup,
            body,
            compress,
            auto_batch,
        })
    }

    /// How many messages sender `index` of `self.threads` sends (they add up to `count`).
    pub fn share(&self, index: usize) -> usize {
        self.count / self.threads + usize::from(index < self.count % self.threads)
    }
}

/// One latency slot per message of the window, written once by whichever thread completes it,
/// so that recording costs one relaxed store and no lock.
pub struct Latencies {
    nanos: Vec<AtomicU64>,
}

impl Latencies {
    pub fn new(count: usize) -> Self {
        Latencies {
            nanos: (0..count).map(|_| AtomicU64::new(0)).collect(),
        }
    }

    pub fn record(&self, index: usize, latency: Duration) {
        self.nanos[index].store(latency.as_nanos() as u64, Ordering::Relaxed);
    }

    fn sorted_millis(&self) -> Vec<f64> {
        let mut all: Vec<u64> = self
            .nanos
            .iter()
            .map(|n| n.load(Ordering::Relaxed))
            .collect();
        all.sort_unstable();
        all.into_iter().map(|n| n as f64 / 1e6).collect()
    }
}

/// The nearest-rank percentile of sorted values.
fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = (p * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// User + system CPU time of this process so far.
pub fn cpu_seconds() -> f64 {
    // SAFETY: getrusage only writes the struct it is given.
    let usage = unsafe {
        let mut usage = std::mem::zeroed::<libc::rusage>();
        libc::getrusage(libc::RUSAGE_SELF, &mut usage);
        usage
    };
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    secs(usage.ru_utime) + secs(usage.ru_stime)
}

/// What one run measured; printed as the single JSON result line.
pub struct Outcome<'a> {
    pub client: &'a str,
    pub version: &'a str,
    pub args: &'a Args,
    pub ok: usize,
    pub errors: usize,
    pub first_error: Option<String>,
    pub elapsed: Duration,
    pub cpu_seconds: f64,
    pub latencies: &'a Latencies,
}

impl Outcome<'_> {
    pub fn json_line(&self) -> String {
        let millis = self.latencies.sorted_millis();
        let secs = self.elapsed.as_secs_f64();
        let mut line = String::new();
        let _ = write!(
            line,
            "{{\"client\":{},\"version\":{},\"mode\":\"{}\",\"threads\":{},\"in_flight\":{},\
             \"count\":{},\"body\":{},\"compress\":{},\"ok\":{},\"errors\":{},\"first_error\":{},\
             \"elapsed_s\":{:.6},\"msgs_per_s\":{:.1},\"p50_ms\":{:.4},\"p99_ms\":{:.4},\
             \"p999_ms\":{:.4},\"max_ms\":{:.4},\"cpu_s\":{:.4}}}",
            json_string(self.client),
            json_string(self.version),
            self.args.mode.name(),
            self.args.threads,
            self.args.in_flight,
            self.args.count,
            self.args.body.len(),
            self.args.compress,
            self.ok,
            self.errors,
            self.first_error
                .as_deref()
                .map_or("null".to_string(), json_string),
            secs,
            self.ok as f64 / secs,
            percentile(&millis, 0.50),
            percentile(&millis, 0.99),
            percentile(&millis, 0.999),
            millis.last().copied().unwrap_or(f64::NAN),
            self.cpu_seconds,
        );
        line.replace("NaN", "null")
    }
}

fn json_string(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_add_up_to_the_count() {
        let args = Args {
            namesrv: String::new(),
            topic: String::new(),
            mode: Mode::Sync,
            threads: 16,
            in_flight: 1,
            count: 1000,
            warmup: 0,
            body: Vec::new(),
            compress: false,
            auto_batch: false,
        };
        assert_eq!((0..16).map(|i| args.share(i)).sum::<usize>(), 1000);
    }

    #[test]
    fn nearest_rank_percentiles() {
        let sorted: Vec<f64> = (1..=1000).map(f64::from).collect();
        assert_eq!(percentile(&sorted, 0.5), 500.0);
        assert_eq!(percentile(&sorted, 0.99), 990.0);
        assert_eq!(percentile(&sorted, 0.999), 999.0);
    }

    #[test]
    fn strings_are_escaped() {
        assert_eq!(json_string("a\"b\\\n"), "\"a\\\"b\\\\\\u000a\"");
    }
}
