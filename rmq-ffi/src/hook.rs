//! Send hooks (Java's `SendMessageHook`): C functions called before and after every attempt to
//! send to a broker, with an `rmq_send_context` describing the attempt, for metrics and tracing.

use std::ffi::{CString, c_char, c_void};
use std::sync::Arc;
use std::time::Duration;

use rmq_core::Error;
use rmq_core::producer::{SendContext, SendHook, SendOutcome};

use crate::error::{outcome, rmq_error, rmq_result};
use crate::ffi::{to_c_string, try_ref};
use crate::producer::rmq_producer;
use crate::send_result::rmq_send_result;

/// One attempt to send to a broker (opaque), valid only during the hook it is handed to.
pub struct rmq_send_context {
    group: CString,
    topic: CString,
    broker_name: CString,
    broker_addr: CString,
    msg_id: CString,
    queue_id: i32,
    attempt: u32,
    batch: bool,
    oneway: bool,
    /// After the attempt: how long it took and how it ended.
    after: Option<After>,
}

struct After {
    latency: Duration,
    result: rmq_result,
    send_result: Option<rmq_send_result>,
    error: Option<rmq_error>,
}

impl rmq_send_context {
    fn new(ctx: &SendContext<'_>, after: Option<After>) -> Self {
        rmq_send_context {
            group: to_c_string(ctx.group),
            topic: to_c_string(&ctx.queue.topic),
            broker_name: to_c_string(&ctx.queue.broker_name),
            broker_addr: to_c_string(ctx.broker_addr),
            msg_id: to_c_string(ctx.msg_id),
            queue_id: ctx.queue.queue_id,
            attempt: ctx.attempt,
            batch: ctx.batch,
            oneway: ctx.oneway,
            after,
        }
    }
}

impl After {
    fn new(latency: Duration, outcome: SendOutcome<'_>) -> Self {
        let (result, send_result, error) = match outcome {
            SendOutcome::Stored(r) => (rmq_result::Ok, Some(rmq_send_result::new(r)), None),
            SendOutcome::Written => (rmq_result::Ok, None, None),
            SendOutcome::Failed(e) => (e.kind().into(), None, Some(rmq_error::new(e))),
        };
        After {
            latency,
            result,
            send_result,
            error,
        }
    }
}

/// A string field of a context, or NULL for a NULL context.
unsafe fn string_field(
    ctx: *const rmq_send_context,
    field: impl FnOnce(&rmq_send_context) -> &CString,
) -> *const c_char {
    unsafe { try_ref(ctx, "context") }.map_or(std::ptr::null(), |c| field(c).as_ptr())
}

/// The producer group; NULL for NULL.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rmq_send_context_group(ctx: *const rmq_send_context) -> *const c_char {
    ffi_panic_boundary! { unsafe { string_field(ctx, |c| &c.group) } }
}

/// The topic, as the application names it; NULL for NULL.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rmq_send_context_topic(ctx: *const rmq_send_context) -> *const c_char {
    ffi_panic_boundary! { unsafe { string_field(ctx, |c| &c.topic) } }
}

/// The name of the broker the attempt goes to; NULL for NULL.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rmq_send_context_broker_name(
    ctx: *const rmq_send_context,
) -> *const c_char {
    ffi_panic_boundary! { unsafe { string_field(ctx, |c| &c.broker_name) } }
}

/// The address (`host:port`) the attempt goes to; NULL for NULL.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rmq_send_context_broker_addr(
    ctx: *const rmq_send_context,
) -> *const c_char {
    ffi_panic_boundary! { unsafe { string_field(ctx, |c| &c.broker_addr) } }
}

/// The message id (`UNIQ_KEY`; for a batch, its messages' ids joined with commas); NULL for NULL.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rmq_send_context_msg_id(ctx: *const rmq_send_context) -> *const c_char {
    ffi_panic_boundary! { unsafe { string_field(ctx, |c| &c.msg_id) } }
}

/// The queue id the attempt goes to; -1 for NULL.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rmq_send_context_queue_id(ctx: *const rmq_send_context) -> i32 {
    ffi_panic_boundary! {
        unsafe { try_ref(ctx, "context") }.map_or(-1, |c| c.queue_id)
    }
}

/// 0 for the first attempt of a send, 1 for its first retry, ...; -1 for NULL.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rmq_send_context_attempt(ctx: *const rmq_send_context) -> i64 {
    ffi_panic_boundary! {
        unsafe { try_ref(ctx, "context") }.map_or(-1, |c| i64::from(c.attempt))
    }
}

/// Whether the attempt sends a batch; false for NULL.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rmq_send_context_is_batch(ctx: *const rmq_send_context) -> bool {
    ffi_panic_boundary! {
        unsafe { try_ref(ctx, "context") }.is_ok_and(|c| c.batch)
    }
}

/// Whether the attempt is a oneway send; false for NULL.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rmq_send_context_is_oneway(ctx: *const rmq_send_context) -> bool {
    ffi_panic_boundary! {
        unsafe { try_ref(ctx, "context") }.is_ok_and(|c| c.oneway)
    }
}

/// After hook: how long the attempt took, in microseconds; -1 in a before hook (or for NULL).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rmq_send_context_latency_us(ctx: *const rmq_send_context) -> i64 {
    ffi_panic_boundary! {
        unsafe { try_ref(ctx, "context") }
            .ok()
            .and_then(|c| c.after.as_ref())
            .map_or(-1, |a| i64::try_from(a.latency.as_micros()).unwrap_or(i64::MAX))
    }
}

/// After hook: `RMQ_RESULT_OK` when the broker stored the message (or a oneway request was
/// written), else the failure's code; `RMQ_RESULT_OK` in a before hook,
/// `RMQ_RESULT_INVALID_ARGUMENT` for NULL.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rmq_send_context_result(ctx: *const rmq_send_context) -> rmq_result {
    ffi_panic_boundary! {
        match unsafe { try_ref(ctx, "context") } {
            Ok(c) => c.after.as_ref().map_or(rmq_result::Ok, |a| a.result),
            Err(_) => rmq_result::InvalidArgument,
        }
    }
}

/// After hook: the broker's result when it stored the message, valid during the hook; NULL
/// otherwise (a before hook, a oneway send, a failure, or NULL).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rmq_send_context_send_result(
    ctx: *const rmq_send_context,
) -> *const rmq_send_result {
    ffi_panic_boundary! {
        unsafe { try_ref(ctx, "context") }
            .ok()
            .and_then(|c| c.after.as_ref()?.send_result.as_ref())
            .map_or(std::ptr::null(), std::ptr::from_ref)
    }
}

/// After hook: the failure, valid during the hook; NULL when the attempt did not fail (or for
/// NULL).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rmq_send_context_error(ctx: *const rmq_send_context) -> *const rmq_error {
    ffi_panic_boundary! {
        unsafe { try_ref(ctx, "context") }
            .ok()
            .and_then(|c| c.after.as_ref()?.error.as_ref())
            .map_or(std::ptr::null(), std::ptr::from_ref)
    }
}

/// A send hook: called with its `userdata` and the attempt's context (valid only during the call).
///
/// Hooks run on a library thread, around every attempt of every send mode, possibly on several
/// threads at once; keep them quick (they hold up the send) and make `userdata` usable from there.
/// Inside them, blocking calls of the library return `RMQ_RESULT_ILLEGAL_STATE`. A hook must
/// return normally (no `longjmp`, no C++ exception); it cannot fail the send.
pub type rmq_send_hook_cb =
    Option<unsafe extern "C" fn(userdata: *mut c_void, ctx: *const rmq_send_context)>;

/// The C hook functions with their userdata.
struct CHook {
    before: rmq_send_hook_cb,
    after: rmq_send_hook_cb,
    userdata: *mut c_void,
}

// SAFETY: the header documents that hooks run on library threads, several at once; the
// application vouches that this is sound for its userdata.
unsafe impl Send for CHook {}
unsafe impl Sync for CHook {}

impl SendHook for CHook {
    fn before_send(&self, ctx: &SendContext<'_>) {
        if let Some(before) = self.before {
            let ctx = rmq_send_context::new(ctx, None);
            unsafe { before(self.userdata, &ctx) };
        }
    }

    fn after_send(&self, ctx: &SendContext<'_>, latency: Duration, outcome: SendOutcome<'_>) {
        if let Some(after) = self.after {
            let ctx = rmq_send_context::new(ctx, Some(After::new(latency, outcome)));
            unsafe { after(self.userdata, &ctx) };
        }
    }
}

/// Adds a send hook to the producer, called after the hooks added before it: `before` before each
/// attempt to send to a broker, `after` once that attempt ended (either may be NULL, not both),
/// each with `userdata` (which must outlive the producer). See `rmq_send_hook_cb` for the thread
/// they run on. Hooks cannot be removed; they apply to sends started after this call.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rmq_producer_add_send_hook(
    producer: *mut rmq_producer,
    before: rmq_send_hook_cb,
    after: rmq_send_hook_cb,
    userdata: *mut c_void,
) -> rmq_result {
    ffi_panic_boundary! {
        outcome((|| {
            let producer = unsafe { try_ref(producer.cast_const(), "producer") }?;
            if before.is_none() && after.is_none() {
                return Err(Error::invalid_argument("before and after are both NULL"));
            }
            producer.core.add_send_hook(Arc::new(CHook { before, after, userdata }));
            Ok(())
        })())
    }
}
