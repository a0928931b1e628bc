//! Send hooks written in Python (`Producer.add_send_hook`).
//!
//! The core calls hooks on its runtime threads, which never wait for the GIL (see
//! [`crate::dispatch`]): each call copies what it saw and queues the Python call for the delivery
//! thread. Hooks only observe, so running them a moment later changes nothing but timing, and
//! queued after the attempt they stay in order with the send's own result.

use std::sync::Arc;
use std::time::Duration;

use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use rmq_core::producer::{SendContext, SendHook, SendOutcome};
use rmq_core::{Error, MessageQueue, SendResult};

use crate::dispatch;
use crate::errors::to_py_err;
use crate::logging;
use crate::result::{PyMessageQueue, PySendResult};

/// One attempt to send to a broker, as a send hook sees it.
#[pyclass(module = "rmqproducer", name = "SendContext", frozen)]
pub struct PySendContext {
    #[pyo3(get)]
    group: String,
    /// The queue (the topic as the application names it, broker, queue id).
    #[pyo3(get)]
    queue: Py<PyMessageQueue>,
    /// The broker master's address.
    #[pyo3(get)]
    broker_addr: String,
    /// The UNIQ_KEY (a batch: its messages' ids joined with ',').
    #[pyo3(get)]
    msg_id: String,
    /// 0 for the first attempt of a send, 1 for its first retry, ...
    #[pyo3(get)]
    attempt: u32,
    #[pyo3(get)]
    batch: bool,
    #[pyo3(get)]
    oneway: bool,
}

#[pymethods]
impl PySendContext {
    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        Ok(format!(
            "SendContext(group={:?}, queue={}, broker_addr={:?}, msg_id={:?}, attempt={}, batch={}, oneway={})",
            self.group,
            self.queue.get().__repr__(py)?,
            self.broker_addr,
            self.msg_id,
            self.attempt,
            if self.batch { "True" } else { "False" },
            if self.oneway { "True" } else { "False" },
        ))
    }
}

/// An owned copy of a [`SendContext`], to cross to the delivery thread.
struct Context {
    group: String,
    queue: MessageQueue,
    broker_addr: String,
    msg_id: String,
    attempt: u32,
    batch: bool,
    oneway: bool,
}

impl Context {
    fn copy(ctx: &SendContext<'_>) -> Self {
        Context {
            group: ctx.group.to_string(),
            queue: ctx.queue.clone(),
            broker_addr: ctx.broker_addr.to_string(),
            msg_id: ctx.msg_id.to_string(),
            attempt: ctx.attempt,
            batch: ctx.batch,
            oneway: ctx.oneway,
        }
    }

    fn into_py(self, py: Python<'_>) -> PyResult<Py<PySendContext>> {
        Py::new(
            py,
            PySendContext {
                group: self.group,
                queue: Py::new(py, PyMessageQueue::from_core(self.queue))?,
                broker_addr: self.broker_addr,
                msg_id: self.msg_id,
                attempt: self.attempt,
                batch: self.batch,
                oneway: self.oneway,
            },
        )
    }
}

/// An owned copy of a [`SendOutcome`].
enum Outcome {
    Stored(SendResult),
    Written,
    Failed(Error),
}

/// The Python functions of one `add_send_hook` call.
pub struct PySendHook {
    before: Option<Arc<Py<PyAny>>>,
    after: Option<Arc<Py<PyAny>>>,
}

impl PySendHook {
    pub fn new(
        before: Option<Bound<'_, PyAny>>,
        after: Option<Bound<'_, PyAny>>,
    ) -> PyResult<Self> {
        if before.is_none() && after.is_none() {
            return Err(PyTypeError::new_err(
                "add_send_hook needs before=, after= or both",
            ));
        }
        for function in [&before, &after].into_iter().flatten() {
            if !function.is_callable() {
                return Err(PyTypeError::new_err(
                    "send hooks must be callable: before(ctx), after(ctx, latency, result, error)",
                ));
            }
        }
        let owned = |function: Option<Bound<'_, PyAny>>| function.map(|f| Arc::new(f.unbind()));
        Ok(PySendHook {
            before: owned(before),
            after: owned(after),
        })
    }
}

/// Calls `function(ctx, *rest)` on the delivery thread; an exception is logged.
fn call_later(
    function: &Arc<Py<PyAny>>,
    ctx: Context,
    rest: impl FnOnce(Python<'_>) -> PyResult<Vec<Py<PyAny>>> + Send + 'static,
) {
    let function = function.clone();
    dispatch::submit(Box::new(move |py| {
        let called = (|| -> PyResult<()> {
            let mut args = vec![ctx.into_py(py)?.into_any()];
            args.extend(rest(py)?);
            function.call1(py, pyo3::types::PyTuple::new(py, args)?)?;
            Ok(())
        })();
        if let Err(raised) = called {
            logging::function_raised(py, "send hook", function.bind(py), raised);
        }
    }));
}

impl SendHook for PySendHook {
    fn before_send(&self, ctx: &SendContext<'_>) {
        if let Some(before) = &self.before {
            call_later(before, Context::copy(ctx), |_| Ok(Vec::new()));
        }
    }

    fn after_send(&self, ctx: &SendContext<'_>, latency: Duration, outcome: SendOutcome<'_>) {
        let Some(after) = &self.after else {
            return;
        };
        let outcome = match outcome {
            SendOutcome::Stored(result) => Outcome::Stored(result.clone()),
            SendOutcome::Written => Outcome::Written,
            SendOutcome::Failed(error) => Outcome::Failed(error.clone()),
        };
        call_later(after, Context::copy(ctx), move |py| {
            let (result, error) = match outcome {
                Outcome::Stored(result) => (PySendResult::into_object(py, result)?, py.None()),
                Outcome::Written => (py.None(), py.None()),
                Outcome::Failed(error) => {
                    (py.None(), to_py_err(py, error).into_value(py).into_any())
                }
            };
            let latency = latency.as_secs_f64().into_pyobject(py)?.into_any().unbind();
            Ok(vec![latency, result, error])
        });
    }
}
