//! `TransactionProducer`: transactional messages with a local transaction and a check-back
//! function written in Python.
//!
//! The local transaction runs on the thread that called `send_in_transaction`, as in Java: that
//! thread drives the core's future itself (GIL released) and takes the GIL back only to call the
//! function. The check-back runs on a blocking thread of the library, never on a runtime thread.
//! A function that raises, or returns something other than a `LocalTransactionState`, counts as
//! `UNKNOWN` (the broker asks again later) and is logged; a `KeyboardInterrupt` in the local
//! transaction also counts as `UNKNOWN`, and then reaches the caller.

use std::future::Future;
use std::mem::ManuallyDrop;
use std::sync::{Arc, Mutex, PoisonError};

use pyo3::exceptions::{PyException, PyTypeError};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyTuple};
use rmq_core::producer::{LocalTransactionState, TransactionCheck};
use rmq_core::{SendResult, runtime};

use crate::errors::{IntoPyResult, catch_panic, to_py_err};
use crate::logging;
use crate::message::PyMessage;
use crate::producer::{PyProducer, SIGNAL_CHECK_INTERVAL, producer_config, wait_releasing_gil};
use crate::result::PySendResult;

/// How a local transaction ended (Java's `LocalTransactionState`).
#[pyclass(
    module = "rmqproducer",
    name = "LocalTransactionState",
    eq,
    eq_int,
    frozen,
    hash
)]
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub enum PyLocalTransactionState {
    /// Make the message visible.
    #[pyo3(name = "COMMIT")]
    Commit,
    /// Drop the message.
    #[pyo3(name = "ROLLBACK")]
    Rollback,
    /// Not known yet: the broker asks the check function later.
    #[pyo3(name = "UNKNOWN")]
    Unknown,
}

impl From<PyLocalTransactionState> for LocalTransactionState {
    fn from(state: PyLocalTransactionState) -> Self {
        match state {
            PyLocalTransactionState::Commit => LocalTransactionState::Commit,
            PyLocalTransactionState::Rollback => LocalTransactionState::Rollback,
            PyLocalTransactionState::Unknown => LocalTransactionState::Unknown,
        }
    }
}

impl From<LocalTransactionState> for PyLocalTransactionState {
    fn from(state: LocalTransactionState) -> Self {
        match state {
            LocalTransactionState::Commit => PyLocalTransactionState::Commit,
            LocalTransactionState::Rollback => PyLocalTransactionState::Rollback,
            LocalTransactionState::Unknown => PyLocalTransactionState::Unknown,
        }
    }
}

/// A half message the broker asks about, as the check function sees it.
#[pyclass(module = "rmqproducer", name = "TransactionCheck", frozen)]
pub struct PyTransactionCheck {
    /// The message's UNIQ_KEY (the `msg_id` its send reported).
    #[pyo3(get)]
    msg_id: String,
    #[pyo3(get)]
    transaction_id: Option<String>,
    /// The message as sent (topic without namespace, body, tags, keys, properties).
    #[pyo3(get)]
    message: Py<PyMessage>,
    #[pyo3(get)]
    born_timestamp: i64,
    /// How many times the broker has asked already.
    #[pyo3(get)]
    check_times: u32,
}

#[pymethods]
impl PyTransactionCheck {
    fn __repr__(&self) -> String {
        format!(
            "TransactionCheck(msg_id={:?}, transaction_id={:?}, check_times={})",
            self.msg_id, self.transaction_id, self.check_times
        )
    }
}

/// The outcome of `send_in_transaction`.
#[pyclass(module = "rmqproducer", name = "TransactionSendResult", frozen)]
pub struct PyTransactionSendResult {
    /// The half message's send result.
    #[pyo3(get)]
    send_result: Py<PySendResult>,
    local_state: LocalTransactionState,
}

#[pymethods]
impl PyTransactionSendResult {
    /// What the local transaction returned (`ROLLBACK` when the half message was not stored).
    #[getter]
    fn local_state(&self) -> PyLocalTransactionState {
        self.local_state.into()
    }

    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        Ok(format!(
            "TransactionSendResult(send_result={}, local_state={})",
            self.send_result.bind(py).repr()?,
            self.local_state.name()
        ))
    }
}

/// Calls a local transaction or check function: its state, or what it raised (a `TypeError`
/// when it returned something else).
fn call_for_state(
    role: &str,
    function: &Bound<'_, PyAny>,
    args: Bound<'_, PyTuple>,
) -> PyResult<LocalTransactionState> {
    function.call1(args).and_then(|returned| {
        returned
            .cast::<PyLocalTransactionState>()
            .map(|state| *state.get())
            .map_err(|_| {
                let shown = returned.repr().map(|r| r.to_string()).unwrap_or_default();
                PyTypeError::new_err(format!(
                    "{role} returned {shown}, not a LocalTransactionState"
                ))
            })
            .map(LocalTransactionState::from)
    })
}

/// Answers the broker's checks with the Python function `check(TransactionCheck)`.
fn checker(check: Py<PyAny>) -> impl Fn(&TransactionCheck) -> LocalTransactionState + Send + Sync {
    move |asked| {
        Python::try_attach(|py| {
            let args = Py::new(
                py,
                PyTransactionCheck {
                    msg_id: asked.msg_id.clone(),
                    transaction_id: asked.transaction_id.clone(),
                    message: Py::new(py, PyMessage::from_core(asked.message.clone()))?,
                    born_timestamp: asked.born_timestamp,
                    check_times: asked.check_times,
                },
            )
            .and_then(|asked| PyTuple::new(py, [asked]));
            let check = check.bind(py);
            Ok::<_, PyErr>(
                match args.and_then(|args| call_for_state("transaction check", check, args)) {
                    Ok(state) => state,
                    Err(raised) => {
                        logging::function_raised(py, "transaction check", check, raised);
                        LocalTransactionState::Unknown
                    }
                },
            )
        })
        .and_then(Result::ok)
        // The interpreter is finalizing: the broker asks again later (or another producer).
        .unwrap_or(LocalTransactionState::Unknown)
    }
}

/// Polls `future` on the calling thread, GIL released, until it completes. Its network parts run
/// on the library runtime (the core moves them there); what runs here is the caller's local
/// transaction. Wakes up now and then to let Python handle signals: Ctrl-C abandons the wait
/// with `KeyboardInterrupt`, and a half message already stored is then settled by `check`.
fn run_here<F>(py: Python<'_>, future: F) -> PyResult<F::Output>
where
    F: Future + Send,
    F::Output: Send,
{
    py.detach(|| {
        runtime::block_on_this_thread(future, SIGNAL_CHECK_INTERVAL, || {
            Python::attach(|py| py.check_signals()).map_err(Raised)
        })
    })
    .map_err(|Raised(exception)| exception)
}

/// A Python exception as the error of the core's wait, which also reports its own refusals.
struct Raised(PyErr);

impl From<rmq_core::Error> for Raised {
    fn from(refused: rmq_core::Error) -> Self {
        Raised(Python::attach(|py| to_py_err(py, refused)))
    }
}

#[pyclass(module = "rmqproducer", name = "TransactionProducer", frozen)]
pub struct PyTransactionProducer {
    /// Not dropped in a forked child, as `Producer`.
    inner: ManuallyDrop<rmq_core::producer::TransactionProducer>,
    pid: u32,
}

impl Drop for PyTransactionProducer {
    fn drop(&mut self) {
        if self.pid == std::process::id() {
            // SAFETY: `inner` is not used after this, the only drop of `self`.
            unsafe { ManuallyDrop::drop(&mut self.inner) }
        }
    }
}

impl PyTransactionProducer {
    fn usable(&self) -> rmq_core::Result<rmq_core::producer::TransactionProducer> {
        runtime::check_fork()?;
        Ok((*self.inner).clone())
    }
}

#[pymethods]
impl PyTransactionProducer {
    /// `check(TransactionCheck) -> LocalTransactionState` answers the broker about half
    /// messages whose outcome stayed `UNKNOWN`; the other arguments are those of `Producer`.
    #[new]
    #[pyo3(signature = (group, namesrv=None, *, check, **options))]
    fn new(
        py: Python<'_>,
        group: String,
        namesrv: Option<String>,
        check: Bound<'_, PyAny>,
        options: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<Self> {
        if !check.is_callable() {
            return Err(PyTypeError::new_err(
                "check must be callable as check(TransactionCheck) -> LocalTransactionState",
            ));
        }
        let config = producer_config(py, group, namesrv, options)?;
        let check = checker(check.unbind());
        let inner = catch_panic("TransactionProducer::new", || {
            rmq_core::producer::TransactionProducer::new(config, check)
        })
        .into_py_result(py)?;
        Ok(PyTransactionProducer {
            inner: ManuallyDrop::new(inner),
            pid: std::process::id(),
        })
    }

    #[getter]
    fn group(&self) -> &str {
        &self.inner.producer().config().group
    }

    /// A `Producer` sharing this one's connections and group, for ordinary sends; shut down this
    /// `TransactionProducer`, not it.
    #[getter]
    fn producer(&self, py: Python<'_>) -> PyResult<PyProducer> {
        let producer = self.usable().into_py_result(py)?;
        Ok(PyProducer::from_core(producer.producer().clone()))
    }

    /// Starts the producer and begins answering the broker's checks for its group.
    fn start(&self, py: Python<'_>) -> PyResult<()> {
        let producer = self.usable().into_py_result(py)?;
        wait_releasing_gil(py, "start", async move { producer.start().await })
    }

    /// Stops answering checks and shuts the producer down.
    fn shutdown(&self, py: Python<'_>) -> PyResult<()> {
        let producer = self.usable().into_py_result(py)?;
        let outcome = wait_releasing_gil(py, "shutdown", async move { producer.shutdown().await });
        crate::dispatch::drain(py);
        outcome
    }

    /// Sends `msg` as a half message (invisible to consumers), then calls
    /// `local(msg, send_result)` on this thread and commits or rolls back as it returns
    /// (`UNKNOWN`: the broker asks `check` later). The GIL is released while waiting.
    fn send_in_transaction(
        &self,
        py: Python<'_>,
        msg: PyRef<'_, PyMessage>,
        local: Bound<'_, PyAny>,
    ) -> PyResult<PyTransactionSendResult> {
        if !local.is_callable() {
            return Err(PyTypeError::new_err(
                "local must be callable as local(msg, send_result) -> LocalTransactionState",
            ));
        }
        let producer = self.usable().into_py_result(py)?;
        let message = msg.to_core();
        drop(msg);
        let local = local.unbind();
        // A KeyboardInterrupt or SystemExit in `local` ends the transaction as UNKNOWN, then
        // reaches the caller.
        let interrupted = Arc::new(Mutex::new(None));
        let interruption = interrupted.clone();
        let sending = producer.send_in_transaction(message, move |sent, half| {
            Python::attach(|py| match run_local(py, local.bind(py), sent, half) {
                Ok(state) => state,
                Err(raised) if raised.is_instance_of::<PyException>(py) => {
                    logging::function_raised(py, "local transaction", local.bind(py), raised);
                    LocalTransactionState::Unknown
                }
                Err(raised) => {
                    *interruption.lock().unwrap_or_else(PoisonError::into_inner) = Some(raised);
                    LocalTransactionState::Unknown
                }
            })
        });
        let outcome = run_here(py, sending)?;
        if let Some(raised) = interrupted
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
        {
            return Err(raised);
        }
        let result = outcome.into_py_result(py)?;
        Ok(PyTransactionSendResult {
            send_result: Py::new(py, PySendResult::new(py, result.send_result)?)?,
            local_state: result.local_state,
        })
    }

    fn __enter__(slf: Bound<'_, Self>) -> PyResult<Bound<'_, Self>> {
        slf.get().start(slf.py())?;
        Ok(slf)
    }

    #[pyo3(signature = (*_exc_info))]
    fn __exit__(&self, py: Python<'_>, _exc_info: &Bound<'_, PyTuple>) -> PyResult<bool> {
        self.shutdown(py)?;
        Ok(false)
    }

    fn __repr__(&self) -> String {
        format!("TransactionProducer(group={:?})", self.group())
    }
}

/// The local transaction with the message and the half message's result.
fn run_local(
    py: Python<'_>,
    local: &Bound<'_, PyAny>,
    sent: &rmq_core::Message,
    half: &SendResult,
) -> PyResult<LocalTransactionState> {
    let message = Py::new(py, PyMessage::from_core(sent.clone()))?.into_any();
    let result = PySendResult::into_object(py, half.clone())?;
    call_for_state(
        "local transaction",
        local,
        PyTuple::new(py, [message, result])?,
    )
}
