//! Request-reply (Java's `DefaultMQProducer.request`): the message goes out with a correlation id,
//! a consumer answers it with a reply message (Java's `MessageUtil.createReplyMessage`), and the
//! broker pushes the reply back to this producer.

use std::ffi::c_void;
use std::time::Duration;

use rmq_core::{Error, Message};

use crate::deliveries::room_wait;
use crate::error::{outcome, rmq_error, rmq_result};
use crate::ffi::{check_out, try_ref, write_out};
use crate::message::rmq_message;
use crate::producer::rmq_producer;

/// The callback of `rmq_producer_request_async`, called exactly once per accepted request with its
/// `userdata` and the outcome: on success `result` is `RMQ_RESULT_OK`, `reply` is set and `error`
/// is NULL; on failure (`RMQ_RESULT_TIMEOUT` when no reply came in time) `reply` is NULL and
/// `error` holds the details. Both are valid only during the call (keep the reply with
/// `rmq_message_clone`). It must return normally (no `longjmp`, no C++ exception).
pub type rmq_reply_cb = Option<
    unsafe extern "C" fn(
        userdata: *mut c_void,
        result: rmq_result,
        reply: *const rmq_message,
        error: *const rmq_error,
    ),
>;

/// A reply callback with its userdata.
struct ReplyCallback {
    function: unsafe extern "C" fn(*mut c_void, rmq_result, *const rmq_message, *const rmq_error),
    userdata: *mut c_void,
}

// SAFETY: as for delivery callbacks, the header documents the thread the callback runs on; the
// application vouches that its userdata may be used there.
unsafe impl Send for ReplyCallback {}

impl ReplyCallback {
    fn invoke(self, outcome: Result<Message, Error>) {
        match outcome {
            Ok(reply) => {
                let reply = rmq_message::new(reply);
                unsafe { (self.function)(self.userdata, rmq_result::Ok, &reply, std::ptr::null()) };
            }
            Err(error) => {
                let code = error.kind().into();
                let error = rmq_error::new(&error);
                unsafe { (self.function)(self.userdata, code, std::ptr::null(), &error) };
            }
        }
    }
}

/// The reply timeout, which must be positive.
fn reply_timeout(timeout_ms: i32) -> Result<Duration, Error> {
    match u64::try_from(timeout_ms) {
        Ok(ms) if ms > 0 => Ok(Duration::from_millis(ms)),
        _ => Err(Error::invalid_argument(format!(
            "timeout_ms must be positive, not {timeout_ms}"
        ))),
    }
}

/// Sends `message` as a request and blocks until its reply comes (written to `*out`; free it with
/// `rmq_message_free`) or `timeout_ms` (> 0) passes: `RMQ_RESULT_TIMEOUT`. The reply's topic is the
/// cluster's reply topic (`<cluster>_REPLY_TOPIC`); read it with the `rmq_message_*` getters. From
/// inside a thread-mode delivery callback it returns `RMQ_RESULT_ILLEGAL_STATE`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rmq_producer_request(
    producer: *mut rmq_producer,
    message: *const rmq_message,
    timeout_ms: i32,
    out: *mut *mut rmq_message,
) -> rmq_result {
    ffi_panic_boundary! {
        outcome((|| {
            let producer = unsafe { try_ref(producer.cast_const(), "producer") }?;
            let message = unsafe { try_ref(message, "message") }?.inner.clone();
            check_out(out)?;
            let timeout = reply_timeout(timeout_ms)?;
            let reply = producer.block(|core| async move { core.request(message, timeout).await })?;
            unsafe { write_out(out, Box::into_raw(Box::new(rmq_message::new(reply)))) };
            Ok(())
        })())
    }
}

/// Sends `message` as a request and returns at once; `callback` is called exactly once with
/// `userdata` and the reply, or `RMQ_RESULT_TIMEOUT` when none comes within `timeout_ms` (> 0). It
/// runs where `callback_mode` says, as the callbacks of `rmq_producer_send_async` do, and
/// `rmq_producer_flush` / `shutdown` wait for it too (a shutdown waits at most
/// `shutdown_timeout_ms` for a request still unanswered). A refused request (NULL argument,
/// invalid message or timeout, producer not started or shut down, no room under
/// `backpressure=fail`) returns its error and never calls back. Requests count against the async
/// bounds and wait for room as `rmq_producer_send_async` does.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rmq_producer_request_async(
    producer: *mut rmq_producer,
    message: *const rmq_message,
    timeout_ms: i32,
    callback: rmq_reply_cb,
    userdata: *mut c_void,
) -> rmq_result {
    ffi_panic_boundary! {
        outcome((|| {
            let producer = unsafe { try_ref(producer.cast_const(), "producer") }?;
            let message = unsafe { try_ref(message, "message") }?.inner.clone();
            let function = callback.ok_or_else(|| Error::invalid_argument("callback is NULL"))?;
            let timeout = reply_timeout(timeout_ms)?;
            let reply = ReplyCallback { function, userdata };
            let callback = producer.deliveries.core_callback(move |outcome| reply.invoke(outcome));
            producer
                .core
                .try_request_with_callback(message, timeout, room_wait(), callback)
        })())
    }
}
