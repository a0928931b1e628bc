//! `setLogger(logger, level)`: the library's log records, handed to a JS function on the JS
//! thread as `logger(level, target, message)`. Silent until a logger is set.
//!
//! The logger is held through an unref'd threadsafe function, so it never keeps the process
//! alive; what it throws is caught, and only its first failure becomes a process warning.

use napi::bindgen_prelude::{FnArgs, Unknown};
use napi::threadsafe_function::UnknownReturnValue;
use napi::{Env, ValueType};
use napi_derive::napi;
use rmq_core::Error;
use rmq_core::logging::{self, LogRecord};
use std::sync::Arc;
use tracing::Level;
use tracing::level_filters::LevelFilter;

use crate::error::{catch_panic, to_js_error};
use crate::js_function::JsFunction;

fn level_name(level: Level) -> &'static str {
    match level {
        Level::ERROR => "error",
        Level::WARN => "warn",
        Level::INFO => "info",
        Level::DEBUG => "debug",
        Level::TRACE => "trace",
    }
}

fn level_filter(name: &str) -> rmq_core::Result<LevelFilter> {
    Ok(match name {
        "off" => LevelFilter::OFF,
        "error" => LevelFilter::ERROR,
        "warn" => LevelFilter::WARN,
        "info" => LevelFilter::INFO,
        "debug" => LevelFilter::DEBUG,
        "trace" => LevelFilter::TRACE,
        _ => {
            return Err(Error::invalid_argument(format!(
                "log level '{name}' is not one of 'off', 'error', 'warn', 'info', 'debug', 'trace'"
            )));
        }
    })
}

/// Sends the library's log records of `level` (default `'warn'`) and more severe to
/// `logger(level, target, message)`, called on the JS thread, for the whole process; `null`
/// silences the library again, which is how it starts.
#[napi(
    js_name = "setLogger",
    ts_args_type = "logger: ((level: LogLevel, target: string, message: string) => void) | null, level?: LogLevel"
)]
pub fn set_logger(env: Env, logger: Unknown, level: Option<String>) -> napi::Result<()> {
    let set = || -> rmq_core::Result<()> {
        let level = level_filter(level.as_deref().unwrap_or("warn"))?;
        let sink = match logger
            .get_type()
            .map_err(|e| Error::invalid_argument(e.reason))?
        {
            ValueType::Null | ValueType::Undefined => None,
            _ => {
                let logger =
                    JsFunction::new(logger, "logger", true, |_: Env, record: LogRecord| {
                        Ok(FnArgs::from((
                            level_name(record.level),
                            record.target,
                            record.message,
                        )))
                    })?
                    .warn_once();
                Some(Arc::new(move |record: &LogRecord| {
                    logger.call::<UnknownReturnValue, _>(record.clone(), |_| {});
                }) as logging::LogSink)
            }
        };
        logging::set_log_sink(level, sink)
    };
    catch_panic(set).map_err(|e| to_js_error(&env, &e))
}
