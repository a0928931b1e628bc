//! Transactional messages (Java's `TransactionMQProducer`): a producer made with a check function,
//! `rmq_producer_send_in_transaction` with a local-transaction function, and the broker's checks.
//!
//! C functions cannot unwind, so "a local or check function that throws" has no C form; what C
//! can get wrong is the value returned, and any value that is not an `rmq_transaction_state`
//! counts as `RMQ_TRANSACTION_STATE_UNKNOWN` (the broker asks the check function later).

use std::ffi::{CString, c_char, c_void};
use std::time::Duration;

use rmq_core::producer::{LocalTransactionState, TransactionCheck, TransactionProducer};
use rmq_core::{Error, Message, SendResult, runtime};

use crate::config::rmq_config;
use crate::error::{outcome, rmq_result};
use crate::ffi::{check_out, to_c_string, try_ref, write_errbuf, write_out};
use crate::message::rmq_message;
use crate::producer::rmq_producer;
use crate::send_result::rmq_send_result;

/// How a local transaction ended (Java's `LocalTransactionState`), as the local-transaction and
/// check functions return it (as an `int`).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum rmq_transaction_state {
    /// Make the message visible to consumers.
    Commit = 0,
    /// Drop the message.
    Rollback = 1,
    /// Not known yet: the broker asks the producer's check function later.
    Unknown = 2,
}

impl rmq_transaction_state {
    /// A state from what a C function returned; anything unknown is `Unknown`.
    fn from_c(value: i32) -> LocalTransactionState {
        match value {
            0 => LocalTransactionState::Commit,
            1 => LocalTransactionState::Rollback,
            _ => LocalTransactionState::Unknown,
        }
    }
}

impl From<LocalTransactionState> for rmq_transaction_state {
    fn from(state: LocalTransactionState) -> Self {
        match state {
            LocalTransactionState::Commit => rmq_transaction_state::Commit,
            LocalTransactionState::Rollback => rmq_transaction_state::Rollback,
            LocalTransactionState::Unknown => rmq_transaction_state::Unknown,
        }
    }
}

/// A half message the broker asks about (opaque), valid only during the check function.
pub struct rmq_transaction_check {
    msg_id: CString,
    transaction_id: Option<CString>,
    message: rmq_message,
    born_timestamp: i64,
    check_times: u32,
}

/// The message id (`UNIQ_KEY`) of the half message, as its send result reported it; NULL for NULL.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rmq_transaction_check_msg_id(
    check: *const rmq_transaction_check,
) -> *const c_char {
    ffi_panic_boundary! {
        unsafe { try_ref(check, "check") }.map_or(std::ptr::null(), |c| c.msg_id.as_ptr())
    }
}

/// The transaction id, or NULL when the broker gave none (or for NULL).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rmq_transaction_check_transaction_id(
    check: *const rmq_transaction_check,
) -> *const c_char {
    ffi_panic_boundary! {
        unsafe { try_ref(check, "check") }
            .ok()
            .and_then(|c| c.transaction_id.as_ref())
            .map_or(std::ptr::null(), |t| t.as_ptr())
    }
}

/// The half message as it was sent (topic without namespace, body, tags, keys, user properties),
/// valid as long as `check`; NULL for NULL.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rmq_transaction_check_message(
    check: *const rmq_transaction_check,
) -> *const rmq_message {
    ffi_panic_boundary! {
        unsafe { try_ref(check, "check") }.map_or(std::ptr::null(), |c| std::ptr::from_ref(&c.message))
    }
}

/// When the half message was sent, in milliseconds since the Unix epoch; -1 for NULL.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rmq_transaction_check_born_timestamp(
    check: *const rmq_transaction_check,
) -> i64 {
    ffi_panic_boundary! {
        unsafe { try_ref(check, "check") }.map_or(-1, |c| c.born_timestamp)
    }
}

/// How many times the broker had asked about this message before; -1 for NULL.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rmq_transaction_check_times(check: *const rmq_transaction_check) -> i64 {
    ffi_panic_boundary! {
        unsafe { try_ref(check, "check") }.map_or(-1, |c| i64::from(c.check_times))
    }
}

/// The check function of a transactional producer: answers the broker's question about a half
/// message whose outcome is still unknown, returning an `rmq_transaction_state` (any other value
/// counts as `RMQ_TRANSACTION_STATE_UNKNOWN`, and the broker asks again later).
///
/// It runs on a library thread set aside for it (it may block, e.g. to look the transaction up),
/// one check at a time in the order the broker asked (up to 2,000 wait; beyond that a check is
/// dropped with a warning and the broker asks again later), from `rmq_producer_start` until
/// `rmq_producer_shutdown`; `userdata` must be usable from there and outlive the producer. It must
/// return normally (no `longjmp`, no C++ exception).
pub type rmq_transaction_check_cb =
    Option<unsafe extern "C" fn(userdata: *mut c_void, check: *const rmq_transaction_check) -> i32>;

/// The local-transaction function of `rmq_producer_send_in_transaction`: runs the application's
/// transaction for `message`, whose half message the broker stored as `half_result`, and returns an
/// `rmq_transaction_state` (any other value counts as `RMQ_TRANSACTION_STATE_UNKNOWN`). It runs
/// once, on the thread that called `rmq_producer_send_in_transaction`; both pointers are valid only
/// during the call. It must return normally (no `longjmp`, no C++ exception).
pub type rmq_local_transaction_cb = Option<
    unsafe extern "C" fn(
        userdata: *mut c_void,
        message: *const rmq_message,
        half_result: *const rmq_send_result,
    ) -> i32,
>;

/// The check function with its userdata, called from the producer's check thread.
struct Checker {
    function: unsafe extern "C" fn(*mut c_void, *const rmq_transaction_check) -> i32,
    userdata: *mut c_void,
}

// SAFETY: the header documents that the check function runs on a library thread; the application
// vouches that this is sound for its userdata.
unsafe impl Send for Checker {}
unsafe impl Sync for Checker {}

impl Checker {
    fn check(&self, check: &TransactionCheck) -> LocalTransactionState {
        let check = rmq_transaction_check {
            msg_id: to_c_string(&check.msg_id),
            transaction_id: check.transaction_id.as_deref().map(to_c_string),
            message: rmq_message::new(check.message.clone()),
            born_timestamp: check.born_timestamp,
            check_times: check.check_times,
        };
        rmq_transaction_state::from_c(unsafe { (self.function)(self.userdata, &check) })
    }
}

/// Creates a transactional producer from a copy of `config`, as `rmq_producer_new` does, with
/// `check` (called with `userdata`) answering the broker's checks. It is an ordinary
/// `rmq_producer` besides: every send function and the lifecycle work on it, and it is freed with
/// `rmq_producer_free`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rmq_producer_new_transactional(
    config: *const rmq_config,
    check: rmq_transaction_check_cb,
    userdata: *mut c_void,
    out: *mut *mut rmq_producer,
    errbuf: *mut c_char,
    errlen: usize,
) -> rmq_result {
    ffi_panic_boundary! {
        let result = (|| {
            let config = unsafe { try_ref(config, "config") }?;
            let function = check.ok_or_else(|| Error::invalid_argument("check is NULL"))?;
            check_out(out)?;
            let checker = Checker { function, userdata };
            let transaction =
                TransactionProducer::new(config.core.clone(), move |c| checker.check(c))?;
            let core = transaction.producer().clone();
            let producer = rmq_producer::new(config, core, Some(transaction));
            unsafe { write_out(out, Box::into_raw(Box::new(producer))) };
            Ok(())
        })();
        if let Err(error) = &result {
            unsafe { write_errbuf(error, errbuf, errlen) };
        }
        outcome(result)
    }
}

/// Sends `message` as a half message (SYNC, with retries; invisible to consumers), runs `local`
/// with `userdata` on the calling thread, then commits or rolls back as it returned; when it
/// returned unknown, the broker settles the message later through the check function. Writes the
/// half message's send result to `*out_result` (free it with `rmq_send_result_free`) and what the
/// local transaction returned to `*out_state` (`RMQ_TRANSACTION_STATE_ROLLBACK` when the half
/// message was not stored with SEND_OK, and then `local` does not run).
///
/// Needs a producer made by `rmq_producer_new_transactional` (else `RMQ_RESULT_ILLEGAL_STATE`); a
/// delay level on the message is ignored, as in Java. From a library thread (inside a thread-mode
/// delivery callback, a hook, a selector or a check function) it returns
/// `RMQ_RESULT_ILLEGAL_STATE`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rmq_producer_send_in_transaction(
    producer: *mut rmq_producer,
    message: *const rmq_message,
    local: rmq_local_transaction_cb,
    userdata: *mut c_void,
    out_result: *mut *mut rmq_send_result,
    out_state: *mut rmq_transaction_state,
) -> rmq_result {
    ffi_panic_boundary! {
        outcome((|| {
            let producer = unsafe { try_ref(producer.cast_const(), "producer") }?;
            let message = unsafe { try_ref(message, "message") }?.inner.clone();
            let local = local.ok_or_else(|| Error::invalid_argument("local is NULL"))?;
            check_out(out_result)?;
            check_out(out_state)?;
            let transaction = producer.transaction.as_ref().ok_or_else(|| {
                Error::illegal_state(
                    "rmq_producer_send_in_transaction needs a producer made by rmq_producer_new_transactional",
                )
            })?;
            let run_local = |message: &Message, half: &SendResult| {
                let message = rmq_message::new(message.clone());
                let half = rmq_send_result::new(half);
                rmq_transaction_state::from_c(unsafe { local(userdata, &message, &half) })
            };
            // Polled on this thread, so that the local transaction runs here (the application's
            // transaction may be tied to its thread); C has nothing to check while it waits.
            let sending = transaction.send_in_transaction(message, run_local);
            let nothing_to_check = || Ok::<_, Error>(());
            let sent =
                runtime::block_on_this_thread(sending, Duration::from_secs(1), nothing_to_check)??;
            unsafe {
                write_out(out_result, Box::into_raw(Box::new(rmq_send_result::new(&sent.send_result))));
                write_out(out_state, sent.local_state.into());
            }
            Ok(())
        })())
    }
}
