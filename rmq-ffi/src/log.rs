//! The log callback: the library's log records, at a chosen level and more severe, handed to a C
//! function (as librdkafka's `log_cb`). Silent until one is set.

use std::ffi::{CString, c_char, c_void};
use std::sync::Arc;

use rmq_core::Error;
use rmq_core::logging::{self, LogRecord};
use tracing::Level;
use tracing::level_filters::LevelFilter;

use crate::error::{outcome, rmq_result};

/// Nothing is logged.
pub const RMQ_LOG_OFF: i32 = 0;
/// Failures the library could not handle by itself (a callback that panicked, ...).
pub const RMQ_LOG_ERROR: i32 = 1;
/// What an operator should look at: a name server that failed, a broker isolated, a heartbeat
/// refused, a connection closed on an undecodable frame.
pub const RMQ_LOG_WARN: i32 = 2;
/// Lifecycle: producers and client instances started and closed, brokers leaving routes.
pub const RMQ_LOG_INFO: i32 = 3;
/// Route updates, failed attempts before their retry, and the like.
pub const RMQ_LOG_DEBUG: i32 = 4;
/// Everything.
pub const RMQ_LOG_TRACE: i32 = 5;

/// A log callback: `level` is one of `RMQ_LOG_ERROR` .. `RMQ_LOG_TRACE`, `target` the part of
/// the library that logs (`rmq_core::client::namesrv`, ...), `message` the text with its fields
/// as `key=value`; both strings are valid only during the call.
///
/// Called on the library's `rmq-log` thread, one record at a time, in order. A slow callback
/// holds up no send: records that find a full queue (4096) are dropped and counted, and the
/// count is logged as a warning. It must return normally (no `longjmp`, no C++ exception).
pub type rmq_log_cb = Option<
    unsafe extern "C" fn(
        userdata: *mut c_void,
        level: i32,
        target: *const c_char,
        message: *const c_char,
    ),
>;

struct CLogger {
    callback: unsafe extern "C" fn(*mut c_void, i32, *const c_char, *const c_char),
    userdata: *mut c_void,
}

// SAFETY: the header documents that the callback runs on the library's log thread; the
// application vouches that this is sound for its userdata.
unsafe impl Send for CLogger {}
unsafe impl Sync for CLogger {}

impl CLogger {
    fn log(&self, record: &LogRecord) {
        let target = CString::new(record.target).unwrap_or_default();
        let message = CString::new(record.message.replace('\0', "\\0")).unwrap_or_default();
        unsafe {
            (self.callback)(
                self.userdata,
                level_number(record.level),
                target.as_ptr(),
                message.as_ptr(),
            )
        };
    }
}

fn level_number(level: Level) -> i32 {
    match level {
        Level::ERROR => RMQ_LOG_ERROR,
        Level::WARN => RMQ_LOG_WARN,
        Level::INFO => RMQ_LOG_INFO,
        Level::DEBUG => RMQ_LOG_DEBUG,
        Level::TRACE => RMQ_LOG_TRACE,
    }
}

fn level_filter(level: i32) -> Option<LevelFilter> {
    Some(match level {
        RMQ_LOG_OFF => LevelFilter::OFF,
        RMQ_LOG_ERROR => LevelFilter::ERROR,
        RMQ_LOG_WARN => LevelFilter::WARN,
        RMQ_LOG_INFO => LevelFilter::INFO,
        RMQ_LOG_DEBUG => LevelFilter::DEBUG,
        RMQ_LOG_TRACE => LevelFilter::TRACE,
        _ => return None,
    })
}

/// Sends the library's log records of `level` (`RMQ_LOG_OFF` .. `RMQ_LOG_TRACE`) and more
/// severe to `callback` with `userdata` (which must stay valid until the callback is replaced),
/// for the whole process; see `rmq_log_cb` for the thread it runs on. A NULL `callback` (or
/// `RMQ_LOG_OFF`) silences the library again, which is how it starts.
/// `RMQ_RESULT_INVALID_ARGUMENT` for a level outside that range.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rmq_set_log_callback(
    level: i32,
    callback: rmq_log_cb,
    userdata: *mut c_void,
) -> rmq_result {
    ffi_panic_boundary! {
        outcome((|| {
            let level = level_filter(level).ok_or_else(|| {
                Error::invalid_argument(format!(
                    "log level {level} is not one of RMQ_LOG_OFF (0) .. RMQ_LOG_TRACE (5)"
                ))
            })?;
            let sink = callback.map(|callback| {
                let logger = CLogger { callback, userdata };
                Arc::new(move |record: &LogRecord| logger.log(record)) as logging::LogSink
            });
            logging::set_log_sink(level, sink)
        })())
    }
}
