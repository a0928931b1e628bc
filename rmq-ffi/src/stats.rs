//! The producer's statistics in C: a JSON snapshot on demand, and a callback that gets one every
//! `statistics_interval_ms` (as librdkafka's `stats_cb` and `statistics.interval.ms`).

use std::ffi::{CString, c_char, c_void};
use std::sync::Arc;

use rmq_core::Error;
use rmq_core::producer::Stats;

use crate::error::{outcome, rmq_result};
use crate::ffi::{check_out, try_ref, write_out};
use crate::producer::rmq_producer;

/// Writes to `*json` a NUL-terminated JSON snapshot of what the producer did so far, to be freed
/// with `rmq_string_free`. Its fields: `sends` (by form `sync` / `async` / `oneway` / `batch`,
/// then outcome: a send status name, `WRITTEN` for oneway, or the `rmq_result_name` of the
/// failure without `RMQ_RESULT_`), `attempts`, `retries`, `bytes_sent`, `send_latency_ms` (by
/// broker: cumulative `buckets` for 1, 5, 10, 20, 50, 200 and 500 ms, `count`, `sum_ms`),
/// `in_flight`, `in_flight_bytes`, `backpressure_waits`, `backpressure_refusals`,
/// `route_refreshes`, `route_refresh_failures`, `connections_opened`, `connections_lost`,
/// `isolated_brokers`. All zero and empty with `enable_metrics=false`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rmq_producer_stats(
    producer: *const rmq_producer,
    json: *mut *mut c_char,
) -> rmq_result {
    ffi_panic_boundary! {
        outcome((|| {
            let producer = unsafe { try_ref(producer, "producer") }?;
            check_out(json)?;
            let text = CString::new(producer.core.stats().to_json())
                .map_err(|_| Error::internal("statistics JSON with a NUL byte"))?;
            unsafe { write_out(json, text.into_raw()) };
            Ok(())
        })())
    }
}

/// Frees a string the library allocated for the caller (`rmq_producer_stats`); NULL is a no-op.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rmq_string_free(s: *mut c_char) {
    ffi_panic_boundary! {
        if !s.is_null() {
            drop(unsafe { CString::from_raw(s) });
        }
    }
}

/// A statistics callback: `json` (`len` bytes, NUL-terminated) is a snapshot as
/// `rmq_producer_stats` gives it, valid only during the call. Called every
/// `statistics_interval_ms` on the library's `rmq-stats` thread (one per producer), never while
/// a send waits; it must return normally (no `longjmp`, no C++ exception).
pub type rmq_statistics_cb =
    Option<unsafe extern "C" fn(userdata: *mut c_void, json: *const c_char, len: usize)>;

struct CStatistics {
    callback: unsafe extern "C" fn(*mut c_void, *const c_char, usize),
    userdata: *mut c_void,
}

// SAFETY: the header documents the thread the callback runs on; the application vouches that
// this is sound for its userdata.
unsafe impl Send for CStatistics {}
unsafe impl Sync for CStatistics {}

impl CStatistics {
    fn report(&self, stats: &Stats) {
        let json = stats.to_json();
        let text = CString::new(json.as_str()).unwrap_or_default();
        unsafe { (self.callback)(self.userdata, text.as_ptr(), json.len()) };
    }
}

/// Sets the function that gets the producer's statistics every `statistics_interval_ms` (an
/// option; 0, the default, never calls it), with `userdata` (which must outlive the producer),
/// replacing any earlier one; see `rmq_statistics_cb` for its thread. A NULL `callback` is
/// `RMQ_RESULT_INVALID_ARGUMENT`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rmq_producer_set_statistics_cb(
    producer: *mut rmq_producer,
    callback: rmq_statistics_cb,
    userdata: *mut c_void,
) -> rmq_result {
    ffi_panic_boundary! {
        outcome((|| {
            let producer = unsafe { try_ref(producer.cast_const(), "producer") }?;
            let callback = callback.ok_or_else(|| Error::invalid_argument("callback is NULL"))?;
            let target = CStatistics { callback, userdata };
            producer
                .core
                .set_statistics_callback(Arc::new(move |stats: &Stats| target.report(stats)));
            Ok(())
        })())
    }
}
