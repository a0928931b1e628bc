//! Core errors as JS `Error`s, and the panic boundary.
//!
//! Every failure reaches JS as an `Error` whose `code` is the core's `ErrorKind` in UPPER_SNAKE
//! (`'TIMEOUT'`, `'BROKER'`, ...), with `responseCode`, `remark` and `brokerAddr` when a server
//! was involved and `retriable` always. napi's own error codes (`'InvalidArg'`, ...) never leak:
//! conversion failures are reported as `INVALID_ARGUMENT`.

use std::panic::{AssertUnwindSafe, catch_unwind};

use napi::bindgen_prelude::{JsObjectValue, JsValue, Object};
use napi::{Env, Status};
use napi_derive::napi;
use rmq_core::{Error, ErrorKind, runtime};

/// The `code` of every error this package raises; one per core `ErrorKind`.
#[napi(string_enum = "UPPER_SNAKE")]
pub enum ErrorCode {
    InvalidArgument,
    InvalidMessage,
    IllegalState,
    GroupAlreadyExists,
    NoNameServer,
    NoRoute,
    Connect,
    Timeout,
    Network,
    Broker,
    TooManyRequests,
    Shutdown,
    Protocol,
    Internal,
    InvalidTopic,
    ReservedTopic,
    EmptyBody,
    MessageTooLarge,
}

impl From<ErrorKind> for ErrorCode {
    /// Exhaustive on purpose: a new core kind does not compile until it has a JS code.
    fn from(kind: ErrorKind) -> Self {
        match kind {
            ErrorKind::InvalidArgument => ErrorCode::InvalidArgument,
            ErrorKind::InvalidMessage => ErrorCode::InvalidMessage,
            ErrorKind::IllegalState => ErrorCode::IllegalState,
            ErrorKind::GroupAlreadyExists => ErrorCode::GroupAlreadyExists,
            ErrorKind::NoNameServer => ErrorCode::NoNameServer,
            ErrorKind::NoRoute => ErrorCode::NoRoute,
            ErrorKind::Connect => ErrorCode::Connect,
            ErrorKind::Timeout => ErrorCode::Timeout,
            ErrorKind::Network => ErrorCode::Network,
            ErrorKind::Broker => ErrorCode::Broker,
            ErrorKind::TooManyRequests => ErrorCode::TooManyRequests,
            ErrorKind::Shutdown => ErrorCode::Shutdown,
            ErrorKind::Protocol => ErrorCode::Protocol,
            ErrorKind::Internal => ErrorCode::Internal,
            ErrorKind::InvalidTopic => ErrorCode::InvalidTopic,
            ErrorKind::ReservedTopic => ErrorCode::ReservedTopic,
            ErrorKind::EmptyBody => ErrorCode::EmptyBody,
            ErrorKind::MessageTooLarge => ErrorCode::MessageTooLarge,
        }
    }
}

/// Builds the JS `Error` for `err` (must run on the JS thread). Should building it fail (the
/// engine is out of memory or shutting down), napi's plain error carries the message instead.
pub fn to_js_error(env: &Env, err: &Error) -> napi::Error {
    build_js_error(env, err)
        .map(|object| napi::Error::from(object.to_unknown()))
        .unwrap_or_else(|_| napi::Error::new(Status::GenericFailure, err.to_string()))
}

fn build_js_error<'env>(env: &'env Env, err: &Error) -> napi::Result<Object<'env>> {
    let mut object = env.create_error(napi::Error::new(Status::GenericFailure, err.message()))?;
    object.set_named_property("code", ErrorCode::from(err.kind()))?;
    object.set_named_property("retriable", err.kind().is_retriable())?;
    if let Some(code) = err.response_code() {
        object.set_named_property("responseCode", code)?;
    }
    if let Some(remark) = err.remark() {
        object.set_named_property("remark", remark)?;
    }
    if let Some(addr) = err.broker_addr() {
        object.set_named_property("brokerAddr", addr)?;
    }
    Ok(object)
}

/// Runs `f`, turning a panic into an `Internal` error so that it never unwinds into Node.
/// `AssertUnwindSafe` is sound here: the closures only read the producer handle, whose shared
/// state the core keeps consistent across its own panics.
pub fn catch_panic<T>(f: impl FnOnce() -> rmq_core::Result<T>) -> rmq_core::Result<T> {
    catch_unwind(AssertUnwindSafe(f)).unwrap_or_else(|payload| {
        Err(Error::internal(format!(
            "rmqproducer panicked (a bug, please report it): {}",
            runtime::panic_message(payload)
        )))
    })
}
