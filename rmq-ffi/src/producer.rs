//! `rmq_producer`: lifecycle and the three send modes over `rmq_core::Producer`.
//!
//! Blocking calls run on the library runtime through `rmq_core::runtime::block_on`, which refuses
//! (`RMQ_RESULT_ILLEGAL_STATE`) on a runtime thread, i.e. inside a thread-mode delivery callback,
//! instead of deadlocking. Calls that wait for delivery callbacks (flush, shutdown) refuse inside
//! any delivery callback, where they would wait for themselves.

use std::ffi::{c_char, c_void};
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use rmq_core::producer::TransactionProducer;
use rmq_core::{Error, Producer, runtime};

use crate::config::{CallbackMode, rmq_config};
use crate::deliveries::{Callback, Deliveries, in_callback, rmq_delivery_cb, room_wait};
use crate::error::{outcome, rmq_result};
use crate::ffi::{check_out, try_ref, write_errbuf, write_out};
use crate::message::rmq_message;
use crate::send_result::rmq_send_result;

/// A producer (opaque). Thread-safe: any function may be called from several threads at once,
/// except `rmq_producer_free`, which must be the last call.
pub struct rmq_producer {
    pub(crate) core: Producer,
    /// Set for a producer made by `rmq_producer_new_transactional`; `core` is its producer.
    pub(crate) transaction: Option<TransactionProducer>,
    pub(crate) deliveries: Arc<Deliveries>,
    /// Started and not shut down since: `rmq_producer_free` has to shut it down.
    running: AtomicBool,
}

impl rmq_producer {
    /// A producer over `core` (or, when `transaction` is set, over its producer) for `config`.
    pub(crate) fn new(
        config: &rmq_config,
        core: Producer,
        transaction: Option<TransactionProducer>,
    ) -> Self {
        rmq_producer {
            core,
            transaction,
            deliveries: Deliveries::new(config.callback_mode),
            running: AtomicBool::new(false),
        }
    }

    /// Runs an operation of the core on the library runtime and waits for it.
    pub(crate) fn block<T, F>(&self, operation: impl FnOnce(Producer) -> F) -> Result<T, Error>
    where
        F: Future<Output = Result<T, Error>> + Send + 'static,
        T: Send + 'static,
    {
        runtime::block_on(operation(self.core.clone()))?
    }

    fn start(&self) -> Result<(), Error> {
        match self.transaction.clone() {
            Some(transaction) => runtime::block_on(async move { transaction.start().await })??,
            None => self.block(|core| async move { core.start().await })?,
        }
        self.running.store(true, Ordering::Release);
        Ok(())
    }

    /// Shuts the core down, then waits until every delivery callback has returned (running the
    /// queued ones on this thread in poll mode).
    fn shutdown(&self) -> Result<(), Error> {
        refuse_inside_callback("rmq_producer_shutdown")?;
        match self.transaction.clone() {
            Some(transaction) => runtime::block_on(async move { transaction.shutdown().await })??,
            None => self.block(|core| async move { core.shutdown().await })?,
        }
        self.running.store(false, Ordering::Release);
        // The core has given every send its outcome; the callbacks only have to run (and return).
        let grace = self
            .core
            .config()
            .shutdown_timeout
            .max(Duration::from_secs(1));
        if self.deliveries.drain(Some(Instant::now() + grace)) {
            Ok(())
        } else {
            Err(Error::new(
                rmq_core::ErrorKind::Timeout,
                format!(
                    "{} delivery callbacks had not returned {} ms after shutdown",
                    self.deliveries.pending(),
                    grace.as_millis()
                ),
            ))
        }
    }

    fn send_async(&self, message: &rmq_message, callback: Callback) -> Result<(), Error> {
        let callback = self.deliveries.core_callback(callback.into_delivery());
        self.core
            .try_send_with_callback(message.inner.clone(), room_wait(), callback)
    }
}

fn refuse_inside_callback(function: &str) -> Result<(), Error> {
    if in_callback() {
        return Err(Error::illegal_state(format!(
            "{function} was called from inside a delivery callback, where it would wait for itself; call it from the application's thread"
        )));
    }
    Ok(())
}

/// A deadline `timeout_ms` from now; `None` (no deadline) for a negative timeout.
pub(crate) fn deadline(timeout_ms: i32) -> Option<Instant> {
    u64::try_from(timeout_ms)
        .ok()
        .map(|ms| Instant::now() + Duration::from_millis(ms))
}

/// Creates a producer from a copy of `config` (which the caller still owns and frees) and writes
/// it to `*out`. Nothing connects until `rmq_producer_start`. On failure (e.g. a missing or
/// invalid `group`) the message is written to `errbuf` (`errlen` bytes; may be NULL) and kept as
/// the last error, and `*out` is not written. Free the producer with `rmq_producer_free`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rmq_producer_new(
    config: *const rmq_config,
    out: *mut *mut rmq_producer,
    errbuf: *mut c_char,
    errlen: usize,
) -> rmq_result {
    ffi_panic_boundary! {
        let result = (|| {
            let config = unsafe { try_ref(config, "config") }?;
            check_out(out)?;
            let producer = rmq_producer::new(config, Producer::new(config.core.clone())?, None);
            unsafe { write_out(out, Box::into_raw(Box::new(producer))) };
            Ok(())
        })();
        if let Err(error) = &result {
            unsafe { write_errbuf(error, errbuf, errlen) };
        }
        outcome(result)
    }
}

/// Starts the producer: connects to the name servers and registers the group. Blocks until done.
/// A second start is `RMQ_RESULT_ILLEGAL_STATE`; so is a start from inside a thread-mode callback.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rmq_producer_start(producer: *mut rmq_producer) -> rmq_result {
    ffi_panic_boundary! {
        outcome(unsafe { try_ref(producer.cast_const(), "producer") }.and_then(rmq_producer::start))
    }
}

/// Shuts the producer down: waits up to `shutdown_timeout_ms` for async sends in flight, fails the
/// rest (their callbacks get `RMQ_RESULT_SHUTDOWN`), unregisters the group. When it returns, every
/// delivery callback has run and returned; in poll mode the queued ones run on the calling thread.
/// Sends after shutdown are `RMQ_RESULT_ILLEGAL_STATE`. Refused (`RMQ_RESULT_ILLEGAL_STATE`) inside
/// a delivery callback.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rmq_producer_shutdown(producer: *mut rmq_producer) -> rmq_result {
    ffi_panic_boundary! {
        outcome(unsafe { try_ref(producer.cast_const(), "producer") }.and_then(rmq_producer::shutdown))
    }
}

/// Frees a producer; NULL is a no-op. A producer still started is shut down first (as
/// `rmq_producer_shutdown`, so every pending callback runs before this returns). Must be the last
/// call on the producer; freeing it twice is undefined behaviour. Do not free a producer from
/// inside one of its own delivery callbacks: if it happens anyway, the shutdown continues in the
/// background and, in poll mode, callbacks still queued never run.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rmq_producer_free(producer: *mut rmq_producer) {
    ffi_panic_boundary! {
        if producer.is_null() {
            return;
        }
        let producer = unsafe { Box::from_raw(producer) };
        if !producer.running.load(Ordering::Acquire) {
            producer.deliveries.drain(Some(Instant::now()));
        } else if in_callback() {
            let core = producer.core.clone();
            let transaction = producer.transaction.clone();
            runtime::spawn(async move {
                match transaction {
                    Some(transaction) => transaction.shutdown().await,
                    None => core.shutdown().await,
                }
            });
        } else {
            // Errors have nowhere to go from here; the shutdown still delivered every outcome.
            let _ = producer.shutdown();
        }
    }
}

/// SYNC send: blocks until the broker stored the message (up to `1 + retry_times` attempts within
/// `send_timeout_ms`) and writes the result to `*out` (free it with `rmq_send_result_free`). On
/// failure `*out` is not written and the last error holds the message and, for
/// `RMQ_RESULT_BROKER`, the broker's response code and remark. From inside a thread-mode delivery
/// callback it returns `RMQ_RESULT_ILLEGAL_STATE` (use `rmq_producer_send_async` there).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rmq_producer_send_sync(
    producer: *mut rmq_producer,
    message: *const rmq_message,
    out: *mut *mut rmq_send_result,
) -> rmq_result {
    ffi_panic_boundary! {
        outcome((|| {
            let producer = unsafe { try_ref(producer.cast_const(), "producer") }?;
            let message = unsafe { try_ref(message, "message") }?.inner.clone();
            check_out(out)?;
            let result = producer.block(|core| async move { core.send(message).await })?;
            let result = Box::new(rmq_send_result::new(&result));
            unsafe { write_out(out, Box::into_raw(result)) };
            Ok(())
        })())
    }
}

/// ASYNC send: copies the message (free it whenever you like) and returns at once. When it returns
/// `RMQ_RESULT_OK`, `callback` is called exactly once with `userdata` and the outcome, also when
/// the producer shuts down first (`RMQ_RESULT_SHUTDOWN`); when it returns an error (NULL argument,
/// invalid message, producer not started or shut down, no room under `backpressure=fail`) the
/// callback is never called.
///
/// When `max_async_in_flight` or `max_async_in_flight_bytes` is reached and `backpressure=block`,
/// the calling thread blocks until there is room (`RMQ_RESULT_TOO_MANY_REQUESTS` after
/// `send_timeout_ms`). Inside a thread-mode delivery callback, a library thread that must not
/// block, the send is accepted at once instead and waits for room before it goes out (a send that
/// finds none in time reaches its callback as `RMQ_RESULT_TOO_MANY_REQUESTS`).
///
/// Where the callback runs depends on `callback_mode`:
/// - `thread` (default): on a library runtime thread, as soon as the outcome is known. Keep it
///   short (it holds up other completions); `userdata` must be usable from that thread. Inside it,
///   `rmq_producer_send_async` works, while blocking calls (`send_sync`, `send_oneway`, `start`,
///   `shutdown`, `flush`) return `RMQ_RESULT_ILLEGAL_STATE` rather than deadlock.
/// - `poll`: on the application's thread, inside `rmq_producer_poll` (or `flush`, `shutdown`,
///   `free`). Inside it every call works except `flush` and `shutdown`
///   (`RMQ_RESULT_ILLEGAL_STATE`).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rmq_producer_send_async(
    producer: *mut rmq_producer,
    message: *const rmq_message,
    callback: rmq_delivery_cb,
    userdata: *mut c_void,
) -> rmq_result {
    ffi_panic_boundary! {
        outcome((|| {
            let producer = unsafe { try_ref(producer.cast_const(), "producer") }?;
            let message = unsafe { try_ref(message, "message") }?;
            let callback = callback.ok_or_else(|| Error::invalid_argument("callback is NULL"))?;
            producer.send_async(message, Callback::new(callback, userdata))
        })())
    }
}

/// ONEWAY send: blocks until the request is queued on the broker's connection; no response, no
/// retry, no result. From inside a thread-mode delivery callback it returns
/// `RMQ_RESULT_ILLEGAL_STATE`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rmq_producer_send_oneway(
    producer: *mut rmq_producer,
    message: *const rmq_message,
) -> rmq_result {
    ffi_panic_boundary! {
        outcome((|| {
            let producer = unsafe { try_ref(producer.cast_const(), "producer") }?;
            let message = unsafe { try_ref(message, "message") }?.inner.clone();
            producer.block(|core| async move { core.send_oneway(message).await })
        })())
    }
}

/// Waits until every async call (send, batch, request) has had its callback run and return, or
/// `timeout_ms` passes (`RMQ_RESULT_TIMEOUT`; a negative timeout waits forever). In poll mode the
/// callbacks run on the calling thread meanwhile. Refused (`RMQ_RESULT_ILLEGAL_STATE`) inside a
/// delivery callback.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rmq_producer_flush(
    producer: *mut rmq_producer,
    timeout_ms: i32,
) -> rmq_result {
    ffi_panic_boundary! {
        outcome((|| {
            let producer = unsafe { try_ref(producer.cast_const(), "producer") }?;
            refuse_inside_callback("rmq_producer_flush")?;
            if producer.deliveries.drain(deadline(timeout_ms)) {
                return Ok(());
            }
            Err(Error::new(
                rmq_core::ErrorKind::Timeout,
                format!(
                    "{} async sends still in flight after {timeout_ms} ms",
                    producer.deliveries.pending()
                ),
            ))
        })())
    }
}

/// Poll mode only (`callback_mode=poll`, else `RMQ_RESULT_ILLEGAL_STATE`): waits up to
/// `timeout_ms` (0: not at all; negative: forever) for a delivery outcome, then runs the callbacks
/// queued at that moment on the calling thread. Writes how many ran to `*served` unless `served`
/// is NULL. Returns `RMQ_RESULT_OK` also when none ran.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rmq_producer_poll(
    producer: *mut rmq_producer,
    timeout_ms: i32,
    served: *mut usize,
) -> rmq_result {
    ffi_panic_boundary! {
        outcome((|| {
            let producer = unsafe { try_ref(producer.cast_const(), "producer") }?;
            if producer.deliveries.mode() != CallbackMode::Poll {
                return Err(Error::illegal_state(
                    "rmq_producer_poll needs the option callback_mode=poll",
                ));
            }
            let ran = producer.deliveries.poll(deadline(timeout_ms));
            if !served.is_null() {
                unsafe { write_out(served, ran) };
            }
            Ok(())
        })())
    }
}

/// Async calls (sends, batches, requests) accepted whose callback has not returned yet (queued
/// ones included); 0 for NULL.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rmq_producer_in_flight(producer: *const rmq_producer) -> usize {
    ffi_panic_boundary! {
        unsafe { try_ref(producer, "producer") }.map_or(0, |p| p.deliveries.pending())
    }
}

/// What became of the producer's message-trace records (`enable_msg_trace`), since it was
/// created: sent to the trace topic, dropped on a full trace queue, lost with a failed trace
/// send. Each count is written unless its pointer is NULL; all zero with trace off.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rmq_producer_trace_stats(
    producer: *const rmq_producer,
    sent: *mut u64,
    dropped: *mut u64,
    failed: *mut u64,
) -> rmq_result {
    ffi_panic_boundary! {
        outcome((|| {
            let stats = unsafe { try_ref(producer, "producer") }?.core.trace_stats();
            for (out, count) in [(sent, stats.sent), (dropped, stats.dropped), (failed, stats.failed)] {
                if !out.is_null() {
                    unsafe { write_out(out, count) };
                }
            }
            Ok(())
        })())
    }
}
