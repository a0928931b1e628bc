//! From core errors to the exception classes of `rmqproducer.errors`, and the panic boundary.
//!
//! The classes are plain Python (so that `TimeoutError` can also be a `builtins.TimeoutError`,
//! and so on); this module only picks the class, in one exhaustive `match` over the closed
//! `ErrorKind`, and fills in the structured fields.

use std::panic::{AssertUnwindSafe, catch_unwind};

use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;
use pyo3::types::PyDict;
use rmq_core::{Error, ErrorKind, runtime};

/// The module that defines the exception classes.
const ERRORS_MODULE: &str = "rmqproducer.errors";

/// The class of `rmqproducer.errors` raised for `kind`.
pub fn exception_class_name(kind: ErrorKind) -> &'static str {
    match kind {
        ErrorKind::InvalidArgument => "InvalidArgumentError",
        ErrorKind::InvalidMessage => "InvalidMessageError",
        ErrorKind::IllegalState => "IllegalStateError",
        ErrorKind::GroupAlreadyExists => "GroupAlreadyExistsError",
        ErrorKind::NoNameServer => "NoNameServerError",
        ErrorKind::NoRoute => "NoRouteError",
        ErrorKind::Connect => "ConnectError",
        ErrorKind::Timeout => "TimeoutError",
        ErrorKind::Network => "NetworkError",
        ErrorKind::Broker => "BrokerError",
        ErrorKind::TooManyRequests => "TooManyRequestsError",
        ErrorKind::Shutdown => "ShutdownError",
        ErrorKind::Protocol => "ProtocolError",
        ErrorKind::Internal => "InternalError",
        ErrorKind::InvalidTopic => "InvalidTopicError",
        ErrorKind::ReservedTopic => "ReservedTopicError",
        ErrorKind::EmptyBody => "EmptyBodyError",
        ErrorKind::MessageTooLarge => "MessageTooLargeError",
    }
}

/// Builds the Python exception for a core error.
pub fn to_py_err(py: Python<'_>, error: Error) -> PyErr {
    build_exception(py, &error).unwrap_or_else(|failure| {
        // Only a broken installation (the errors module missing) gets here; say both things.
        PyRuntimeError::new_err(format!(
            "{error} (rmqproducer.errors could not raise it: {failure})"
        ))
    })
}

fn build_exception(py: Python<'_>, error: &Error) -> PyResult<PyErr> {
    let class = py
        .import(ERRORS_MODULE)?
        .getattr(exception_class_name(error.kind()))?;
    let fields = PyDict::new(py);
    fields.set_item("response_code", error.response_code())?;
    fields.set_item("remark", error.remark())?;
    fields.set_item("broker_addr", error.broker_addr())?;
    fields.set_item("retriable", error.kind().is_retriable())?;
    let exception = class.call((error.to_string(),), Some(&fields))?;
    Ok(PyErr::from_value(exception))
}

/// Extension to turn core results into Python results.
pub trait IntoPyResult<T> {
    fn into_py_result(self, py: Python<'_>) -> PyResult<T>;
}

impl<T> IntoPyResult<T> for rmq_core::Result<T> {
    fn into_py_result(self, py: Python<'_>) -> PyResult<T> {
        self.map_err(|error| to_py_err(py, error))
    }
}

/// Runs a call into the core, turning a panic (a library bug) into an `Internal` error so that
/// it surfaces as `rmqproducer.InternalError` instead of a `PanicException`.
pub fn catch_panic<T>(
    what: &str,
    call: impl FnOnce() -> rmq_core::Result<T>,
) -> rmq_core::Result<T> {
    catch_unwind(AssertUnwindSafe(call)).unwrap_or_else(|payload| {
        Err(Error::internal(format!(
            "{what} panicked (a bug in rmqproducer, please report it): {}",
            runtime::panic_message(payload)
        )))
    })
}
