//! Result codes, error objects and the thread's last error.
//!
//! `rmq_result` maps one to one onto `rmq_core::ErrorKind` (same numbers), plus `RMQ_RESULT_OK`.
//! The details of a failure (message, the broker's response code and remark) are kept per thread
//! by the failing call and read with `rmq_last_error_*`; asynchronous failures hand the callback
//! an `rmq_error` instead.

use std::cell::RefCell;
use std::ffi::{CString, c_char};
use std::sync::OnceLock;

use rmq_core::{Error, ErrorKind};

use crate::ffi::{copy_to_buffer, to_c_string, try_ref};

/// The result of every fallible function. The numbers are stable: new codes may be added, existing
/// ones never change meaning.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum rmq_result {
    /// Success.
    Ok = 0,
    /// A bad argument: a NULL pointer, bad UTF-8, an unknown option or a value that does not parse.
    InvalidArgument = 1,
    /// The message fails validation before any network traffic (user properties, delay level); the
    /// topic and the body have codes of their own (15 to 18).
    InvalidMessage = 2,
    /// The call does not fit the producer's state (not started, already started, shut down), or a
    /// blocking call was made from inside a delivery callback.
    IllegalState = 3,
    /// Another producer of the same group is already started in this client instance.
    GroupAlreadyExists = 4,
    /// No name server address is configured (neither `namesrv_addr` nor `NAMESRV_ADDR`).
    NoNameServer = 5,
    /// No route for the topic, neither its own nor through the auto-create fallback.
    NoRoute = 6,
    /// A TCP connection could not be established.
    Connect = 7,
    /// The deadline passed before the operation completed.
    Timeout = 8,
    /// The connection failed or closed while the request was in flight.
    Network = 9,
    /// The broker or name server answered with an error response code (see
    /// `rmq_last_error_response_code` / `rmq_error_response_code`).
    Broker = 10,
    /// Too many requests in flight.
    TooManyRequests = 11,
    /// The producer shut down before the send completed.
    Shutdown = 12,
    /// A peer sent bytes that do not decode as the remoting protocol.
    Protocol = 13,
    /// A bug inside the library (a caught panic); please report it.
    Internal = 14,
    /// The topic is blank, longer than 127 characters, or has characters outside
    /// `[%|a-zA-Z0-9_-]`.
    InvalidTopic = 15,
    /// The topic is a system topic that producers may not send to.
    ReservedTopic = 16,
    /// The message body is empty.
    EmptyBody = 17,
    /// The message body is larger than the option `max_message_size`.
    MessageTooLarge = 18,
}

impl From<ErrorKind> for rmq_result {
    fn from(kind: ErrorKind) -> Self {
        match kind {
            ErrorKind::InvalidArgument => rmq_result::InvalidArgument,
            ErrorKind::InvalidMessage => rmq_result::InvalidMessage,
            ErrorKind::IllegalState => rmq_result::IllegalState,
            ErrorKind::GroupAlreadyExists => rmq_result::GroupAlreadyExists,
            ErrorKind::NoNameServer => rmq_result::NoNameServer,
            ErrorKind::NoRoute => rmq_result::NoRoute,
            ErrorKind::Connect => rmq_result::Connect,
            ErrorKind::Timeout => rmq_result::Timeout,
            ErrorKind::Network => rmq_result::Network,
            ErrorKind::Broker => rmq_result::Broker,
            ErrorKind::TooManyRequests => rmq_result::TooManyRequests,
            ErrorKind::Shutdown => rmq_result::Shutdown,
            ErrorKind::Protocol => rmq_result::Protocol,
            ErrorKind::Internal => rmq_result::Internal,
            ErrorKind::InvalidTopic => rmq_result::InvalidTopic,
            ErrorKind::ReservedTopic => rmq_result::ReservedTopic,
            ErrorKind::EmptyBody => rmq_result::EmptyBody,
            ErrorKind::MessageTooLarge => rmq_result::MessageTooLarge,
        }
    }
}

/// Ends a fallible entry point: records a failure as the thread's last error (clearing it on
/// success) and returns its code.
pub(crate) fn outcome(result: Result<(), Error>) -> rmq_result {
    match result {
        Ok(()) => {
            last_error::clear();
            rmq_result::Ok
        }
        Err(error) => {
            last_error::set(&error);
            error.kind().into()
        }
    }
}

/// The stable upper-case name of a result code (`"OK"`, `"INVALID_ARGUMENT"`, ... `"INTERNAL"`),
/// or `"UNKNOWN"` for a number that is no `rmq_result`. A static string; never free it.
///
/// Takes an `int` rather than an `rmq_result` so that any number is safe to pass.
#[unsafe(no_mangle)]
pub extern "C" fn rmq_result_name(result: i32) -> *const c_char {
    ffi_panic_boundary! {
        static NAMES: OnceLock<Vec<(i32, CString)>> = OnceLock::new();
        let names = NAMES.get_or_init(|| {
            let ok = (rmq_result::Ok as i32, to_c_string("OK"));
            let kinds = ErrorKind::ALL.iter().map(|kind| (kind.code(), to_c_string(kind.name())));
            std::iter::once(ok).chain(kinds).collect()
        });
        match names.iter().find(|(code, _)| *code == result) {
            Some((_, name)) => name.as_ptr(),
            None => c"UNKNOWN".as_ptr(),
        }
    }
}

/// The thread-local last error of the calling thread.
pub(crate) mod last_error {
    use super::*;

    thread_local! {
        static LAST_ERROR: RefCell<Option<Error>> = const { RefCell::new(None) };
    }

    pub(crate) fn set(error: &Error) {
        LAST_ERROR.with(|last| *last.borrow_mut() = Some(error.clone()));
    }

    pub(crate) fn clear() {
        LAST_ERROR.with(|last| *last.borrow_mut() = None);
    }

    pub(crate) fn get() -> Option<Error> {
        LAST_ERROR.with(|last| last.borrow().clone())
    }
}

/// The code of the calling thread's last failure: set by every function returning `rmq_result`
/// when it fails, reset to `RMQ_RESULT_OK` when it succeeds.
#[unsafe(no_mangle)]
pub extern "C" fn rmq_last_error_code() -> rmq_result {
    ffi_panic_boundary! {
        last_error::get().map_or(rmq_result::Ok, |e| e.kind().into())
    }
}

/// Copies the message of the calling thread's last failure into `buf` (`len` bytes including the
/// terminating NUL; truncated at a UTF-8 character boundary, always NUL-terminated when `len > 0`).
/// An empty string when the last call succeeded. Returns the full length of the message (without
/// NUL), like `snprintf`, so a return value `>= len` means it was truncated. `buf` may be NULL when
/// `len` is 0, to ask for the length.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rmq_last_error_message(buf: *mut c_char, len: usize) -> usize {
    ffi_panic_boundary! {
        let message = last_error::get().map(|e| e.message().to_owned()).unwrap_or_default();
        unsafe { copy_to_buffer(message.as_bytes(), buf, len) }
    }
}

/// The broker's (or name server's) response code of the calling thread's last failure, or -1 when
/// that failure was not an error response (`RMQ_RESULT_BROKER` always has one).
#[unsafe(no_mangle)]
pub extern "C" fn rmq_last_error_response_code() -> i32 {
    ffi_panic_boundary! {
        last_error::get().and_then(|e| e.response_code()).unwrap_or(-1)
    }
}

/// Copies the broker's remark of the calling thread's last failure into `buf`, as
/// `rmq_last_error_message` does; an empty string when there is none.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rmq_last_error_remark(buf: *mut c_char, len: usize) -> usize {
    ffi_panic_boundary! {
        let remark = last_error::get().and_then(|e| e.remark().map(str::to_owned)).unwrap_or_default();
        unsafe { copy_to_buffer(remark.as_bytes(), buf, len) }
    }
}

/// An error, as handed to a delivery callback (valid only during the callback; copy what you need,
/// or keep all of it with `rmq_error_clone`).
pub struct rmq_error {
    kind: ErrorKind,
    message: CString,
    response_code: Option<i32>,
    remark: Option<CString>,
    broker_addr: Option<CString>,
}

impl rmq_error {
    pub(crate) fn new(error: &Error) -> Self {
        rmq_error {
            kind: error.kind(),
            message: to_c_string(error.message()),
            response_code: error.response_code(),
            remark: error.remark().map(to_c_string),
            broker_addr: error.broker_addr().map(to_c_string),
        }
    }

    fn clone_boxed(&self) -> Box<Self> {
        Box::new(rmq_error {
            kind: self.kind,
            message: self.message.clone(),
            response_code: self.response_code,
            remark: self.remark.clone(),
            broker_addr: self.broker_addr.clone(),
        })
    }
}

/// The error's result code; `RMQ_RESULT_INVALID_ARGUMENT` for NULL.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rmq_error_code(error: *const rmq_error) -> rmq_result {
    ffi_panic_boundary! {
        match unsafe { try_ref(error, "error") } {
            Ok(error) => error.kind.into(),
            Err(_) => rmq_result::InvalidArgument,
        }
    }
}

/// The error's message, valid as long as `error`; NULL for NULL.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rmq_error_message(error: *const rmq_error) -> *const c_char {
    ffi_panic_boundary! {
        unsafe { try_ref(error, "error") }.map_or(std::ptr::null(), |e| e.message.as_ptr())
    }
}

/// The broker's response code, or -1 when the error is not an error response (or for NULL).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rmq_error_response_code(error: *const rmq_error) -> i32 {
    ffi_panic_boundary! {
        unsafe { try_ref(error, "error") }.ok().and_then(|e| e.response_code).unwrap_or(-1)
    }
}

/// The broker's remark, valid as long as `error`; NULL when there is none (or for NULL).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rmq_error_remark(error: *const rmq_error) -> *const c_char {
    ffi_panic_boundary! {
        unsafe { try_ref(error, "error") }
            .ok()
            .and_then(|e| e.remark.as_ref())
            .map_or(std::ptr::null(), |r| r.as_ptr())
    }
}

/// The address of the server involved, valid as long as `error`; NULL when unknown (or for NULL).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rmq_error_broker_addr(error: *const rmq_error) -> *const c_char {
    ffi_panic_boundary! {
        unsafe { try_ref(error, "error") }
            .ok()
            .and_then(|e| e.broker_addr.as_ref())
            .map_or(std::ptr::null(), |a| a.as_ptr())
    }
}

/// A copy of `error` that outlives the callback; free it with `rmq_error_free`. NULL for NULL.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rmq_error_clone(error: *const rmq_error) -> *mut rmq_error {
    ffi_panic_boundary! {
        unsafe { try_ref(error, "error") }.map_or(std::ptr::null_mut(), |e| Box::into_raw(e.clone_boxed()))
    }
}

/// Frees an error made by `rmq_error_clone`; NULL is a no-op. Never free the error a callback is
/// handed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rmq_error_free(error: *mut rmq_error) {
    ffi_panic_boundary! {
        if !error.is_null() {
            drop(unsafe { Box::from_raw(error) });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::CStr;

    #[test]
    fn result_codes_are_the_core_error_codes() {
        for kind in ErrorKind::ALL {
            assert_eq!(rmq_result::from(kind) as i32, kind.code());
            let name = unsafe { CStr::from_ptr(rmq_result_name(kind.code())) };
            assert_eq!(name.to_str().unwrap(), kind.name());
        }
        let ok = unsafe { CStr::from_ptr(rmq_result_name(0)) };
        assert_eq!(ok.to_bytes(), b"OK");
        let unknown = unsafe { CStr::from_ptr(rmq_result_name(99)) };
        assert_eq!(unknown.to_bytes(), b"UNKNOWN");
    }

    #[test]
    fn last_error_keeps_broker_details_and_success_clears_it() {
        let error = Error::broker(17, Some("topic not exist".into()), "127.0.0.1:10911");
        assert_eq!(outcome(Err(error)), rmq_result::Broker);
        assert_eq!(rmq_last_error_code(), rmq_result::Broker);
        assert_eq!(rmq_last_error_response_code(), 17);
        let mut buf = [0 as c_char; 64];
        let n = unsafe { rmq_last_error_remark(buf.as_mut_ptr(), buf.len()) };
        assert_eq!(n, "topic not exist".len());

        assert_eq!(outcome(Ok(())), rmq_result::Ok);
        assert_eq!(rmq_last_error_code(), rmq_result::Ok);
        assert_eq!(rmq_last_error_response_code(), -1);
        assert_eq!(
            unsafe { rmq_last_error_message(std::ptr::null_mut(), 0) },
            0
        );
    }
}
