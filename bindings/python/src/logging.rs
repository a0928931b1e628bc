//! The library's `tracing` events, forwarded to Python's `logging` under the `rmqproducer` logger
//! (events of `rmq_core::transport` go to `rmqproducer.transport`, and so on).
//!
//! Silent by default: the Python package gives the logger a `NullHandler`, and only WARN and
//! above are forwarded at all, so a disabled debug event costs one atomic load.
//! `rmqproducer.enable_logging(level)` widens the forwarded range.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU8, Ordering};

use pyo3::prelude::*;
use pyo3::types::PyDict;
use tracing::field::{Field, Visit};
use tracing::subscriber::Interest;
use tracing::{Event, Level, Metadata, Subscriber};
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};

use crate::dispatch;

/// Python's numeric logging levels.
pub const ERROR: u8 = 40;
pub const WARNING: u8 = 30;
const INFO: u8 = 20;
const DEBUG: u8 = 10;
/// Below DEBUG, for tracing's TRACE (Python has no name for it).
const TRACE: u8 = 5;

const ROOT_LOGGER: &str = "rmqproducer";

/// The lowest Python level forwarded.
static THRESHOLD: AtomicU8 = AtomicU8::new(WARNING);

fn python_level(level: &Level) -> u8 {
    match *level {
        Level::ERROR => ERROR,
        Level::WARN => WARNING,
        Level::INFO => INFO,
        Level::DEBUG => DEBUG,
        Level::TRACE => TRACE,
    }
}

/// Installs the forwarding subscriber once, at import. Another global subscriber in the same
/// library copy can only be ours, so a failure here is ignored.
pub fn install() {
    let subscriber = tracing_subscriber::registry().with(ForwardToPython);
    let _ = tracing::subscriber::set_global_default(subscriber);
}

/// Forwards events of `level` (a Python logging level) and above; used by `enable_logging`.
#[pyfunction(name = "_set_log_level")]
pub fn set_log_level(level: i64) {
    THRESHOLD.store(
        level.clamp(TRACE.into(), ERROR.into()) as u8,
        Ordering::Relaxed,
    );
}

struct ForwardToPython;

impl<S: Subscriber> Layer<S> for ForwardToPython {
    fn register_callsite(&self, _: &'static Metadata<'static>) -> Interest {
        // The threshold changes at run time, so ask `enabled` every time.
        Interest::sometimes()
    }

    fn enabled(&self, metadata: &Metadata<'_>, _: Context<'_, S>) -> bool {
        python_level(metadata.level()) >= THRESHOLD.load(Ordering::Relaxed)
    }

    fn on_event(&self, event: &Event<'_>, _: Context<'_, S>) {
        let metadata = event.metadata();
        let mut text = MessageText::default();
        event.record(&mut text);
        let record = Record {
            logger: logger_name(metadata.target()),
            level: python_level(metadata.level()),
            message: text.into_text(),
            file: metadata.file().unwrap_or("<rust>").to_string(),
            line: metadata.line().unwrap_or(0),
        };
        dispatch::submit(Box::new(move |py| {
            if let Err(error) = record.emit(py) {
                error.write_unraisable(py, None);
            }
        }));
    }
}

/// `rmq_core::transport::conn` → `rmqproducer.transport.conn`.
fn logger_name(target: &str) -> String {
    let path = target
        .strip_prefix("rmq_core")
        .or_else(|| target.strip_prefix("_rmqproducer"))
        .unwrap_or(target);
    let mut name = String::from(ROOT_LOGGER);
    for part in path.split("::").filter(|part| !part.is_empty()) {
        name.push('.');
        name.push_str(part);
    }
    name
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

struct Record {
    logger: String,
    level: u8,
    message: String,
    file: String,
    line: u32,
}

impl Record {
    /// `logger.handle(logger.makeRecord(...))`, so that handlers see the Rust file and line.
    fn emit(self, py: Python<'_>) -> PyResult<()> {
        let logger = py
            .import("logging")?
            .call_method1("getLogger", (&self.logger,))?;
        if !logger
            .call_method1("isEnabledFor", (self.level,))?
            .is_truthy()?
        {
            return Ok(());
        }
        let record = logger.call_method1(
            "makeRecord",
            (
                &self.logger,
                self.level,
                &self.file,
                self.line,
                &self.message,
                (),
                py.None(),
            ),
        )?;
        logger.call_method1("handle", (record,))?;
        Ok(())
    }
}

/// Logs `message` from the binding itself (the caller holds the GIL).
pub fn emit(py: Python<'_>, level: u8, message: &str) {
    let logged = py
        .import("logging")
        .and_then(|logging| logging.call_method1("getLogger", (ROOT_LOGGER,)))
        .and_then(|logger| logger.call_method1("log", (level, message)));
    if let Err(error) = logged {
        error.write_unraisable(py, None);
    }
}

/// Reports an exception raised by a user's send callback, with its traceback.
pub fn callback_raised(py: Python<'_>, callback: &Bound<'_, PyAny>, raised: PyErr) {
    function_raised(py, "send callback", callback, raised);
}

/// Reports an exception raised by a user function the library called (`role` says which: a
/// send hook, a transaction check, ...), with its traceback.
pub fn function_raised(py: Python<'_>, role: &str, function: &Bound<'_, PyAny>, raised: PyErr) {
    let logged = (|| -> PyResult<()> {
        let logger = py
            .import("logging")?
            .call_method1("getLogger", (ROOT_LOGGER,))?;
        let options = PyDict::new(py);
        options.set_item("exc_info", raised.value(py))?;
        logger.call_method(
            "error",
            ("%s %r raised an exception", role, function),
            Some(&options),
        )?;
        Ok(())
    })();
    if let Err(error) = logged {
        error.write_unraisable(py, Some(function));
    }
}
