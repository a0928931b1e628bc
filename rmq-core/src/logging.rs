//! The library's `tracing` events, forwarded to a host's logger: the C log callback, a Node
//! function, Python's `logging`. A Rust program installs a `tracing` subscriber of its own
//! instead and never calls this.
//!
//! Silent until a sink is set. An event at or above the sink's level is formatted on the thread
//! that emits it and queued to one `rmq-log` thread, which calls the sink: a slow or blocking
//! sink never stalls the network threads. Records that find the queue full are counted and
//! reported to the sink as one warning. A sink that panics is contained and reported once, on
//! stderr (the sink itself being what failed).

use std::fmt::Write as _;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};

use parking_lot::{Mutex, RwLock};
use tracing::field::{Field, Visit};
use tracing::level_filters::LevelFilter;
use tracing::subscriber::Interest;
use tracing::{Event, Level, Metadata, Subscriber};
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};

use crate::{Error, ErrorKind, Result};

/// One event, as a host's logger receives it.
#[derive(Debug, Clone)]
pub struct LogRecord {
    pub level: Level,
    /// The Rust module that emitted it, `rmq_core::transport::connection` say.
    pub target: &'static str,
    /// The event's message, then its other fields as `key=value`.
    pub message: String,
    pub file: Option<&'static str>,
    pub line: Option<u32>,
}

/// Receives the records, one at a time, on the `rmq-log` thread.
pub type LogSink = Arc<dyn Fn(&LogRecord) + Send + Sync>;

/// Records waiting for the sink; past this, records are dropped and counted.
const QUEUE_CAPACITY: usize = 4096;

/// The most verbose level forwarded, as [`level_rank`] numbers it (0: nothing).
static THRESHOLD: AtomicU8 = AtomicU8::new(0);
static SINK: RwLock<Option<LogSink>> = RwLock::new(None);
/// The queue to the `rmq-log` thread, with the process that started it (a forked child has
/// the queue but not the thread, and starts its own).
static QUEUE: Mutex<Option<(u32, SyncSender<LogRecord>)>> = Mutex::new(None);
static DROPPED: AtomicU64 = AtomicU64::new(0);
static SINK_PANICKED: AtomicBool = AtomicBool::new(false);
static INSTALLED: Mutex<bool> = Mutex::new(false);

/// Forwards the events of `level` and more severe to `sink`; `None` (or `LevelFilter::OFF`)
/// silences the library again. The first call installs the forwarding subscriber as the
/// process's global one: `IllegalState` if the program has installed another.
pub fn set_log_sink(level: LevelFilter, sink: Option<LogSink>) -> Result<()> {
    install()?;
    let level = if sink.is_some() {
        level
    } else {
        LevelFilter::OFF
    };
    *SINK.write() = sink;
    set_log_level(level);
    Ok(())
}

/// Changes the level of the sink already set (Python follows its logger's level this way).
pub fn set_log_level(level: LevelFilter) {
    THRESHOLD.store(filter_rank(level), Ordering::Relaxed);
    // Callsites cache whether they are enabled; a new level must reach them.
    tracing::callsite::rebuild_interest_cache();
}

fn install() -> Result<()> {
    let mut installed = INSTALLED.lock();
    if !*installed {
        let subscriber = tracing_subscriber::registry().with(Forward);
        tracing::subscriber::set_global_default(subscriber).map_err(|_| {
            Error::new(
                ErrorKind::IllegalState,
                "another tracing subscriber is installed in this process; its events go there",
            )
        })?;
        *installed = true;
    }
    Ok(())
}

/// ERROR is 1, TRACE is 5.
fn level_rank(level: &Level) -> u8 {
    match *level {
        Level::ERROR => 1,
        Level::WARN => 2,
        Level::INFO => 3,
        Level::DEBUG => 4,
        Level::TRACE => 5,
    }
}

fn filter_rank(filter: LevelFilter) -> u8 {
    filter.into_level().map_or(0, |level| level_rank(&level))
}

fn forwarded(level: &Level) -> bool {
    level_rank(level) <= THRESHOLD.load(Ordering::Relaxed)
}

struct Forward;

impl<S: Subscriber> Layer<S> for Forward {
    fn register_callsite(&self, metadata: &'static Metadata<'static>) -> Interest {
        if forwarded(metadata.level()) {
            Interest::always()
        } else {
            Interest::never()
        }
    }

    fn enabled(&self, metadata: &Metadata<'_>, _: Context<'_, S>) -> bool {
        forwarded(metadata.level())
    }

    fn max_level_hint(&self) -> Option<LevelFilter> {
        Some(match THRESHOLD.load(Ordering::Relaxed) {
            0 => LevelFilter::OFF,
            1 => LevelFilter::ERROR,
            2 => LevelFilter::WARN,
            3 => LevelFilter::INFO,
            4 => LevelFilter::DEBUG,
            _ => LevelFilter::TRACE,
        })
    }

    fn on_event(&self, event: &Event<'_>, _: Context<'_, S>) {
        let metadata = event.metadata();
        let mut text = MessageText::default();
        event.record(&mut text);
        enqueue(LogRecord {
            level: *metadata.level(),
            target: metadata.target(),
            message: text.into_text(),
            file: metadata.file(),
            line: metadata.line(),
        });
    }
}

fn enqueue(record: LogRecord) {
    let pid = std::process::id();
    let mut queue = QUEUE.lock();
    if queue
        .as_ref()
        .is_none_or(|(started_in, _)| *started_in != pid)
    {
        *queue = start_log_thread().map(|sender| (pid, sender));
    }
    let Some((_, sender)) = queue.as_ref() else {
        return;
    };
    match sender.try_send(record) {
        Ok(()) => {}
        Err(TrySendError::Full(_)) => {
            DROPPED.fetch_add(1, Ordering::Relaxed);
        }
        Err(TrySendError::Disconnected(_)) => *queue = None,
    }
}

fn start_log_thread() -> Option<SyncSender<LogRecord>> {
    let (sender, records) = mpsc::sync_channel(QUEUE_CAPACITY);
    std::thread::Builder::new()
        .name("rmq-log".into())
        .spawn(move || deliver(records))
        .ok()
        .map(|_| sender)
}

fn deliver(records: Receiver<LogRecord>) {
    while let Ok(record) = records.recv() {
        let dropped = DROPPED.swap(0, Ordering::Relaxed);
        if dropped > 0 {
            call_sink(&LogRecord {
                level: Level::WARN,
                target: module_path!(),
                message: format!(
                    "{dropped} log records dropped: the log sink is slower than the library logs"
                ),
                file: None,
                line: None,
            });
        }
        call_sink(&record);
    }
}

fn call_sink(record: &LogRecord) {
    let Some(sink) = SINK.read().clone() else {
        return;
    };
    if catch_unwind(AssertUnwindSafe(|| sink(record))).is_err()
        && !SINK_PANICKED.swap(true, Ordering::Relaxed)
    {
        eprintln!(
            "rmqproducer: the log callback panicked; the panic was contained, and later ones are not reported"
        );
    }
}

/// The event's `message`, then its other fields as `key=value`.
#[derive(Default)]
struct MessageText {
    message: String,
    fields: String,
}

impl MessageText {
    fn into_text(self) -> String {
        match (self.message.is_empty(), self.fields.is_empty()) {
            (_, true) => self.message,
            (true, false) => self.fields,
            (false, false) => format!("{} {}", self.message, self.fields),
        }
    }
}

impl Visit for MessageText {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            let _ = write!(self.message, "{value:?}");
        } else {
            if !self.fields.is_empty() {
                self.fields.push(' ');
            }
            let _ = write!(self.fields, "{}={value:?}", field.name());
        }
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.message.push_str(value);
        } else {
            self.record_debug(field, &value);
        }
    }
}
