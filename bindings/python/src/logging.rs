//! The library's log records (`rmq_core::logging`), forwarded to Python's `logging` under the
//! `rmqproducer` logger (records of `rmq_core::transport` go to `rmqproducer.transport`, and so
//! on).
//!
//! Silent by default: the Python package gives the logger a `NullHandler`. The records forwarded
//! are those the `rmqproducer` logger's effective level lets through, read when the module is
//! imported and whenever a producer is created (as pyo3-log does), so setting that logger to
//! DEBUG before creating a producer is enough; a disabled event costs one atomic load.

use pyo3::prelude::*;
use pyo3::types::PyDict;
use rmq_core::logging::{self as core_logging, LogRecord};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use tracing::Level;
use tracing::level_filters::LevelFilter;

use crate::dispatch;

/// Python's numeric logging levels.
pub const ERROR: u8 = 40;
pub const WARNING: u8 = 30;
const INFO: u8 = 20;
const DEBUG: u8 = 10;
/// Below DEBUG, for tracing's TRACE (Python has no name for it).
const TRACE: u8 = 5;

const ROOT_LOGGER: &str = "rmqproducer";

/// Set once forwarding a record to `logging` has failed.
static EMIT_FAILED: AtomicBool = AtomicBool::new(false);

fn python_level(level: Level) -> u8 {
    match level {
        Level::ERROR => ERROR,
        Level::WARN => WARNING,
        Level::INFO => INFO,
        Level::DEBUG => DEBUG,
        Level::TRACE => TRACE,
    }
}

/// The most verbose library level a Python level lets through.
fn level_filter(python_level: i64) -> LevelFilter {
    match python_level {
        level if level > i64::from(ERROR) => LevelFilter::OFF,
        level if level > i64::from(WARNING) => LevelFilter::ERROR,
        level if level > i64::from(INFO) => LevelFilter::WARN,
        level if level > i64::from(DEBUG) => LevelFilter::INFO,
        level if level > i64::from(TRACE) => LevelFilter::DEBUG,
        _ => LevelFilter::TRACE,
    }
}

/// Installs the forwarding sink, at import, at the `rmqproducer` logger's level. Another
/// subscriber in the same library copy can only be ours, so a failure here is ignored.
pub fn install(py: Python<'_>) {
    let sink: core_logging::LogSink = Arc::new(|record: &LogRecord| {
        let record = Record::of(record);
        dispatch::submit(Box::new(move |py| {
            // A handler or filter that raises: reported once, as an unraisable exception.
            if let Err(error) = record.emit(py)
                && !EMIT_FAILED.swap(true, Ordering::Relaxed)
            {
                error.write_unraisable(py, None);
            }
        }));
    });
    let _ = core_logging::set_log_sink(LevelFilter::WARN, Some(sink));
    follow_logger_level(py);
}

/// Forwards what the `rmqproducer` logger's effective level lets through.
pub fn follow_logger_level(py: Python<'_>) {
    let level = py
        .import("logging")
        .and_then(|logging| logging.call_method1("getLogger", (ROOT_LOGGER,)))
        .and_then(|logger| logger.call_method0("getEffectiveLevel"))
        .and_then(|level| level.extract::<i64>());
    if let Ok(level) = level {
        core_logging::set_log_level(level_filter(level));
    }
}

/// Forwards events of `level` (a Python logging level) and above; used by `enable_logging`.
#[pyfunction(name = "_set_log_level")]
pub fn set_log_level(level: i64) {
    core_logging::set_log_level(level_filter(level));
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

struct Record {
    logger: String,
    level: u8,
    message: String,
    file: String,
    line: u32,
}

impl Record {
    fn of(record: &LogRecord) -> Self {
        Record {
            logger: logger_name(record.target),
            level: python_level(record.level),
            message: record.message.clone(),
            file: record.file.unwrap_or("<rust>").to_string(),
            line: record.line.unwrap_or(0),
        }
    }

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
