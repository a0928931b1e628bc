//! `Producer`: the core producer with Python's calling conventions.
//!
//! Blocking calls (`send`, `send_to_queue`, `send_with_selector`, `send_batch`, `request`, ...)
//! release the GIL while they wait; their `_async` forms and `async with` return asyncio futures
//! of the caller's running loop, and never block it; `send_callback`, send hooks and queue
//! selectors run on the delivery thread (see [`crate::dispatch`]). Every call first checks that
//! the process is the one that created the library's runtime, so a producer used in a forked
//! child fails at once instead of hanging.

use std::future::Future;
use std::mem::ManuallyDrop;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyList, PyString, PyTuple};
use rmq_core::{Completion, Error, ProducerConfig, QueueSelection, RoomWait, runtime};

use crate::dispatch::{self, Target};
use crate::errors::{IntoPyResult, catch_panic};
use crate::hook::PySendHook;
use crate::logging;
use crate::message::PyMessage;
use crate::result::{PyMessageQueue, PySendResult};

/// How often a blocking call wakes up to let Python run signal handlers.
pub const SIGNAL_CHECK_INTERVAL: Duration = Duration::from_millis(100);

#[pyclass(module = "rmqproducer", name = "Producer", frozen)]
pub struct PyProducer {
    /// Not dropped in a forked child: its runtime threads are gone, and dropping may wake them.
    inner: ManuallyDrop<rmq_core::Producer>,
    /// The process that created this producer.
    pid: u32,
}

impl Drop for PyProducer {
    fn drop(&mut self) {
        if self.pid == std::process::id() {
            // SAFETY: `inner` is not used after this, the only drop of `self`.
            unsafe { ManuallyDrop::drop(&mut self.inner) }
        }
    }
}

impl PyProducer {
    /// A producer object for a core producer of this process.
    pub fn from_core(inner: rmq_core::Producer) -> Self {
        PyProducer {
            inner: ManuallyDrop::new(inner),
            pid: std::process::id(),
        }
    }

    /// A clone of the core producer, once the process is known to own a live runtime.
    fn usable(&self) -> rmq_core::Result<rmq_core::Producer> {
        runtime::check_fork()?;
        Ok((*self.inner).clone())
    }

    /// Runs `operation` on the library runtime and waits for it with the GIL released (see
    /// [`wait_releasing_gil`]).
    fn wait<T, F>(
        &self,
        py: Python<'_>,
        what: &str,
        operation: impl FnOnce(rmq_core::Producer) -> F,
    ) -> PyResult<T>
    where
        T: Send + 'static,
        F: Future<Output = rmq_core::Result<T>> + Send + 'static,
    {
        let producer = self.usable().into_py_result(py)?;
        wait_releasing_gil(py, what, operation(producer))
    }

    /// Runs `operation` on the library runtime and returns an asyncio future of its outcome.
    fn spawn_awaitable<'py, T, F>(
        &self,
        py: Python<'py>,
        operation: impl FnOnce(rmq_core::Producer) -> F,
        convert: impl FnOnce(Python<'_>, T) -> PyResult<Py<PyAny>> + Send + 'static,
    ) -> PyResult<Bound<'py, PyAny>>
    where
        T: Send + 'static,
        F: Future<Output = rmq_core::Result<T>> + Send + 'static,
    {
        let producer = self.usable().into_py_result(py)?;
        let (future, target) = Target::asyncio_future(py)?;
        let completion = Completion::new(target.callback(convert));
        let operation = operation(producer);
        runtime::spawn(async move { completion.complete(operation.await) });
        Ok(future)
    }

    /// Starts an async call with `try_call` (one of the core's `try_*_with_callback`, given
    /// `RoomWait::InTask`, so that a full producer never holds the event loop) and returns an
    /// asyncio future of its outcome. A refused call raises here; its future is never resolved.
    fn try_awaitable<'py, T>(
        &self,
        py: Python<'py>,
        what: &str,
        try_call: impl FnOnce(&rmq_core::Producer, Callback<T>) -> rmq_core::Result<()> + Send,
        convert: impl FnOnce(Python<'_>, T) -> PyResult<Py<PyAny>> + Send + 'static,
    ) -> PyResult<Bound<'py, PyAny>>
    where
        T: Send + 'static,
    {
        let producer = self.usable().into_py_result(py)?;
        let (future, target) = Target::asyncio_future(py)?;
        let callback = Box::new(target.callback(convert));
        // Encoding a large message takes a while: without the GIL.
        catch_panic(what, || py.detach(|| try_call(&producer, callback))).into_py_result(py)?;
        Ok(future)
    }
}

/// The callback of an async call, as the core's `try_*_with_callback` take it.
type Callback<T> = Box<dyn FnOnce(rmq_core::Result<T>) + Send>;

#[pymethods]
impl PyProducer {
    /// `namesrv` defaults to the `NAMESRV_ADDR` environment variable (read at `start()`); every
    /// other producer option is a keyword (see `rmqproducer.OPTION_KEYS`).
    #[new]
    #[pyo3(signature = (group, namesrv=None, **options))]
    fn new(
        py: Python<'_>,
        group: String,
        namesrv: Option<String>,
        options: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<Self> {
        let config = producer_config(py, group, namesrv, options)?;
        let inner =
            catch_panic("Producer::new", || rmq_core::Producer::new(config)).into_py_result(py)?;
        Ok(PyProducer::from_core(inner))
    }

    #[getter]
    fn group(&self) -> &str {
        &self.inner.config().group
    }

    /// The name servers given, or `None` when they come from `NAMESRV_ADDR`.
    #[getter]
    fn namesrv(&self) -> Option<&str> {
        self.inner.config().namesrv_addr.as_deref()
    }

    /// Connects to the name server and registers the group; raises `GroupAlreadyExistsError` if
    /// this process already runs a producer of the group.
    fn start(&self, py: Python<'_>) -> PyResult<()> {
        self.wait(
            py,
            "start",
            |producer| async move { producer.start().await },
        )
    }

    /// Waits for async sends in flight (up to the `shutdown_timeout_ms` option) and for their
    /// callbacks, then unregisters the group.
    fn shutdown(&self, py: Python<'_>) -> PyResult<()> {
        let outcome = self.wait(py, "shutdown", |producer| async move {
            producer.shutdown().await
        });
        dispatch::drain(py);
        outcome
    }

    /// Sends and waits for the broker's answer (retrying on another broker within
    /// `send_timeout_ms`), with the GIL released.
    fn send(&self, py: Python<'_>, msg: PyRef<'_, PyMessage>) -> PyResult<PySendResult> {
        let message = msg.to_core();
        drop(msg);
        let result = self.wait(py, "send", |producer| async move {
            producer.send(message).await
        })?;
        PySendResult::new(py, result)
    }

    /// Starts a send now and returns an `asyncio.Future` of its `SendResult`, resolved on the
    /// running event loop of the caller. Cancelling the future does not cancel the send. A send
    /// refused at once raises here; a full producer makes it wait in its task, never the loop.
    fn send_async<'py>(
        &self,
        py: Python<'py>,
        msg: PyRef<'_, PyMessage>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let message = msg.to_core();
        self.try_awaitable(
            py,
            "send_async",
            |producer, callback| {
                producer.try_send_with_callback(message, RoomWait::InTask, callback)
            },
            PySendResult::into_object,
        )
    }

    /// Starts a send now; `callback(result, error)` is called once, on the library's delivery
    /// thread with the GIL held, with either a `SendResult` or an `RmqError`. An exception raised
    /// by the callback is logged to the `rmqproducer` logger. A send refused at once raises here
    /// and never calls back.
    fn send_callback(
        &self,
        py: Python<'_>,
        msg: PyRef<'_, PyMessage>,
        callback: Bound<'_, PyAny>,
    ) -> PyResult<()> {
        if !callback.is_callable() {
            return Err(PyTypeError::new_err(
                "callback must be callable as callback(result, error)",
            ));
        }
        let producer = self.usable().into_py_result(py)?;
        let message = msg.to_core();
        let callback = Target::Callback(callback.unbind()).callback(PySendResult::into_object);
        // With `backpressure=block` a full producer holds this thread until there is room:
        // without the GIL.
        catch_panic("send_callback", || {
            py.detach(|| producer.try_send_with_callback(message, RoomWait::ThisThread, callback))
        })
        .into_py_result(py)
    }

    /// Writes the message to a broker without waiting for any answer (no retry, no result).
    fn send_oneway(&self, py: Python<'_>, msg: PyRef<'_, PyMessage>) -> PyResult<()> {
        let message = msg.to_core();
        drop(msg);
        self.wait(py, "send_oneway", |producer| async move {
            producer.send_oneway(message).await
        })
    }

    /// The writable queues of `topic`, in the order selectors see them (brokers by name, then
    /// queue id).
    fn publish_queues(&self, py: Python<'_>, topic: String) -> PyResult<Vec<PyMessageQueue>> {
        let queues = self.wait(py, "publish_queues", |producer| async move {
            producer.publish_queues(&topic).await
        })?;
        Ok(queues.into_iter().map(PyMessageQueue::from_core).collect())
    }

    /// Cancels the timer message whose `SendResult.recall_handle` is `handle`, sent to `topic`,
    /// and waits, with the GIL released; returns the recalled message's id.
    fn recall(&self, py: Python<'_>, topic: String, handle: String) -> PyResult<String> {
        self.wait(py, "recall", |producer| async move {
            producer.recall(&topic, &handle).await
        })
    }

    /// `recall` as an `asyncio.Future` of the caller's running loop.
    fn recall_async<'py>(
        &self,
        py: Python<'py>,
        topic: String,
        handle: String,
    ) -> PyResult<Bound<'py, PyAny>> {
        self.spawn_awaitable(
            py,
            |producer| async move { producer.recall(&topic, &handle).await },
            |py, msg_id: String| Ok(PyString::new(py, &msg_id).into_any().unbind()),
        )
    }

    /// Sends to exactly `queue` (one attempt, no retry on another broker) and waits, with the
    /// GIL released. The queue's topic must be the message's.
    fn send_to_queue(
        &self,
        py: Python<'_>,
        msg: PyRef<'_, PyMessage>,
        queue: PyRef<'_, PyMessageQueue>,
    ) -> PyResult<PySendResult> {
        let (message, queue) = (msg.to_core(), queue.to_core());
        drop(msg);
        let result = self.wait(py, "send_to_queue", |producer| async move {
            producer.send_to_queue(message, queue).await
        })?;
        PySendResult::new(py, result)
    }

    /// `send_to_queue` as an `asyncio.Future` of the caller's running loop.
    fn send_to_queue_async<'py>(
        &self,
        py: Python<'py>,
        msg: PyRef<'_, PyMessage>,
        queue: PyRef<'_, PyMessageQueue>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let selection = QueueSelection::Queue(queue.to_core());
        let message = msg.to_core();
        self.try_awaitable(
            py,
            "send_to_queue_async",
            |producer, callback| {
                producer.try_send_to_with_callback(message, selection, RoomWait::InTask, callback)
            },
            PySendResult::into_object,
        )
    }

    /// Sends to the queue `selector(queues, msg)` picks among the topic's writable queues (as
    /// `publish_queues` lists them); it is called on the library's delivery thread. An index out
    /// of range, something other than an int, or a selector that raises (its exception is the
    /// `__cause__`) is an `InvalidArgumentError`.
    fn send_with_selector(
        &self,
        py: Python<'_>,
        msg: PyRef<'_, PyMessage>,
        selector: Bound<'_, PyAny>,
    ) -> PyResult<PySendResult> {
        let selector = PySelector::new(selector)?;
        if dispatch::on_delivery_thread() {
            // The selector would wait for this very thread until the send timeout.
            return Err(Error::illegal_state(
                "send_with_selector was called from a callback or hook, on the thread its selector runs on; call it from another thread",
            ))
            .into_py_result(py);
        }
        let message = msg.to_core();
        drop(msg);
        let selection = selector.selection(py);
        let sent = self.wait(py, "send_with_selector", |producer| async move {
            producer.send_to(message, selection).await
        });
        let result = sent.map_err(|error| selector.explain(py, error))?;
        PySendResult::new(py, result)
    }

    /// Sends to the queue the Java client's `SelectMessageQueueByHash` picks for `key`, so
    /// messages with one key stay in order in one queue, the queue a Java producer would use.
    fn send_with_sharding_key(
        &self,
        py: Python<'_>,
        msg: PyRef<'_, PyMessage>,
        key: String,
    ) -> PyResult<PySendResult> {
        let message = msg.to_core();
        drop(msg);
        let result = self.wait(py, "send_with_sharding_key", |producer| async move {
            producer.send_with_sharding_key(message, key).await
        })?;
        PySendResult::new(py, result)
    }

    /// `send_with_sharding_key` as an `asyncio.Future` of the caller's running loop.
    fn send_with_sharding_key_async<'py>(
        &self,
        py: Python<'py>,
        msg: PyRef<'_, PyMessage>,
        key: String,
    ) -> PyResult<Bound<'py, PyAny>> {
        let message = msg.to_core();
        self.try_awaitable(
            py,
            "send_with_sharding_key_async",
            |producer, callback| {
                let selection = QueueSelection::ShardingKey(key);
                producer.try_send_to_with_callback(message, selection, RoomWait::InTask, callback)
            },
            PySendResult::into_object,
        )
    }

    /// Sends `msgs` as one batch and waits, with the GIL released. They need one topic, no
    /// delay, and together at most `max_message_size`; `SendResult.msg_ids` has each one's id.
    fn send_batch(&self, py: Python<'_>, msgs: &Bound<'_, PyAny>) -> PyResult<PySendResult> {
        let messages = message_list(msgs)?;
        let result = self.wait(py, "send_batch", |producer| async move {
            producer.send_batch(messages).await
        })?;
        PySendResult::new(py, result)
    }

    /// `send_batch` as an `asyncio.Future` of the caller's running loop.
    fn send_batch_async<'py>(
        &self,
        py: Python<'py>,
        msgs: &Bound<'_, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let messages = message_list(msgs)?;
        self.try_awaitable(
            py,
            "send_batch_async",
            |producer, callback| {
                producer.try_send_batch_with_callback(messages, RoomWait::InTask, callback)
            },
            PySendResult::into_object,
        )
    }

    /// Request-reply: sends `msg` and waits (GIL released) up to `timeout` seconds for the
    /// consumer's reply message; `TimeoutError` when none comes in time.
    #[pyo3(signature = (msg, timeout=3.0))]
    fn request(
        &self,
        py: Python<'_>,
        msg: PyRef<'_, PyMessage>,
        timeout: f64,
    ) -> PyResult<PyMessage> {
        let timeout = seconds(py, "request timeout", timeout)?;
        let message = msg.to_core();
        drop(msg);
        let reply = self.wait(py, "request", move |producer| async move {
            producer.request(message, timeout).await
        })?;
        Ok(PyMessage::from_core(reply))
    }

    /// `request` as an `asyncio.Future` of the reply, on the caller's running loop.
    #[pyo3(signature = (msg, timeout=3.0))]
    fn request_async<'py>(
        &self,
        py: Python<'py>,
        msg: PyRef<'_, PyMessage>,
        timeout: f64,
    ) -> PyResult<Bound<'py, PyAny>> {
        let timeout = seconds(py, "request timeout", timeout)?;
        let message = msg.to_core();
        self.try_awaitable(
            py,
            "request_async",
            |producer, callback| {
                producer.try_request_with_callback(message, timeout, RoomWait::InTask, callback)
            },
            PyMessage::into_object,
        )
    }

    /// Adds functions called around every attempt to send to a broker (all send modes):
    /// `before(ctx)` and `after(ctx, latency, result, error)`, with a `SendContext`, the
    /// attempt's latency in seconds, and a `SendResult` or an `RmqError` (both `None` for a
    /// oneway write). They run on the library's delivery thread, in order, after the attempt
    /// (`flush()` waits for them); an exception they raise is logged and changes nothing.
    #[pyo3(signature = (before=None, after=None))]
    fn add_send_hook(
        &self,
        py: Python<'_>,
        before: Option<Bound<'_, PyAny>>,
        after: Option<Bound<'_, PyAny>>,
    ) -> PyResult<()> {
        let hook = PySendHook::new(before, after)?;
        let producer = self.usable().into_py_result(py)?;
        producer.add_send_hook(Arc::new(hook));
        Ok(())
    }

    /// Waits until no async send or request is in flight and their callbacks have run, or raises
    /// `TimeoutError` after `timeout` seconds.
    #[pyo3(signature = (timeout=30.0))]
    fn flush(&self, py: Python<'_>, timeout: f64) -> PyResult<()> {
        let timeout = seconds(py, "flush timeout", timeout)?;
        self.wait(py, "flush", move |producer| async move {
            producer.flush(timeout).await
        })?;
        dispatch::drain(py);
        Ok(())
    }

    /// Async sends and requests started and not yet completed.
    #[getter]
    fn in_flight(&self, py: Python<'_>) -> PyResult<usize> {
        let producer = self.usable().into_py_result(py)?;
        catch_panic("in_flight", || Ok(producer.in_flight())).into_py_result(py)
    }

    /// What became of the message-trace records (``enable_msg_trace``): ``sent``, ``dropped``
    /// (the trace queue was full), ``failed`` (their trace send failed).
    #[getter]
    fn trace_stats(
        &self,
        py: Python<'_>,
    ) -> PyResult<std::collections::BTreeMap<&'static str, u64>> {
        let producer = self.usable().into_py_result(py)?;
        catch_panic("trace_stats", || {
            let stats = producer.trace_stats();
            Ok([
                ("sent", stats.sent),
                ("dropped", stats.dropped),
                ("failed", stats.failed),
            ]
            .into())
        })
        .into_py_result(py)
    }

    /// What the producer did so far, as a dict: ``sends`` (by form, then outcome), ``attempts``,
    /// ``retries``, ``bytes_sent``, ``send_latency_ms`` (by broker), ``in_flight``,
    /// ``in_flight_bytes``, ``backpressure_waits``, ``backpressure_refusals``,
    /// ``route_refreshes``, ``route_refresh_failures``, ``connections_opened``,
    /// ``connections_lost``, ``isolated_brokers``. Empty counts with ``enable_metrics=False``.
    fn stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let producer = self.usable().into_py_result(py)?;
        let json = catch_panic("stats", || Ok(producer.stats().to_json())).into_py_result(py)?;
        py.import("json")?.call_method1("loads", (json,))
    }

    /// Calls ``callback(stats)`` with a dict as ``stats()`` gives it every
    /// ``statistics_interval_ms``, on the library's delivery thread, replacing any earlier
    /// callback. The first exception it raises is logged; later ones are not.
    fn set_statistics_callback(&self, py: Python<'_>, callback: Bound<'_, PyAny>) -> PyResult<()> {
        if !callback.is_callable() {
            return Err(PyTypeError::new_err(
                "the statistics callback must be callable as callback(dict)",
            ));
        }
        let producer = self.usable().into_py_result(py)?;
        let callback = Arc::new(callback.unbind());
        let raised = Arc::new(AtomicBool::new(false));
        producer.set_statistics_callback(Arc::new(move |stats: &rmq_core::producer::Stats| {
            let json = stats.to_json();
            let (callback, raised) = (callback.clone(), raised.clone());
            dispatch::submit(Box::new(move |py| {
                let callback = callback.bind(py);
                let called = py
                    .import("json")
                    .and_then(|json_module| json_module.call_method1("loads", (json,)))
                    .and_then(|stats| callback.call1((stats,)));
                if let Err(error) = called
                    && !raised.swap(true, Ordering::Relaxed)
                {
                    logging::function_raised(py, "statistics callback", callback, error);
                }
            }));
        }));
        Ok(())
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

    fn __aenter__<'py>(slf: Bound<'py, Self>) -> PyResult<Bound<'py, PyAny>> {
        let this = slf.clone().unbind();
        slf.get().spawn_awaitable(
            slf.py(),
            |producer| async move { producer.start().await },
            move |_, ()| Ok(this.into_any()),
        )
    }

    #[pyo3(signature = (*_exc_info))]
    fn __aexit__<'py>(
        &self,
        py: Python<'py>,
        _exc_info: &Bound<'py, PyTuple>,
    ) -> PyResult<Bound<'py, PyAny>> {
        // The outcome reaches the loop through the delivery thread, after every callback queued
        // before it, so no separate drain is needed.
        self.spawn_awaitable(
            py,
            |producer| async move { producer.shutdown().await },
            |py, ()| Ok(PyBool::new(py, false).to_owned().into_any().unbind()),
        )
    }

    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        let namesrv = match self.namesrv() {
            Some(addr) => PyString::new(py, addr).repr()?.to_string(),
            None => "None".to_string(),
        };
        Ok(format!(
            "Producer(group={}, namesrv={namesrv})",
            PyString::new(py, self.group()).repr()?
        ))
    }
}

/// Runs `operation` on the library runtime and waits for it with the GIL released, waking up
/// now and then to let Python handle signals: Ctrl-C interrupts the wait with
/// `KeyboardInterrupt` (the operation itself goes on, as a cancelled `send_async` does).
pub fn wait_releasing_gil<T, F>(py: Python<'_>, what: &str, operation: F) -> PyResult<T>
where
    T: Send + 'static,
    F: Future<Output = rmq_core::Result<T>> + Send + 'static,
{
    let (done, mut outcome) = mpsc::sync_channel(1);
    runtime::spawn(async move {
        let _ = done.send(operation.await);
    });
    loop {
        let received;
        (received, outcome) = py.detach(move || {
            let received = outcome.recv_timeout(SIGNAL_CHECK_INTERVAL);
            (received, outcome)
        });
        match received {
            Ok(result) => return result.into_py_result(py),
            Err(RecvTimeoutError::Timeout) => py.check_signals()?,
            Err(RecvTimeoutError::Disconnected) => {
                // The task ended without sending: it panicked.
                let lost = Error::internal(format!(
                    "{what} panicked (a bug in rmqproducer, please report it)"
                ));
                return Err(lost).into_py_result(py);
            }
        }
    }
}

/// The configuration of a producer from `Producer(group, namesrv, **options)`.
pub fn producer_config(
    py: Python<'_>,
    group: String,
    namesrv: Option<String>,
    options: Option<&Bound<'_, PyDict>>,
) -> PyResult<ProducerConfig> {
    // A new producer is when the logger's level, maybe changed since import, is read again.
    crate::logging::follow_logger_level(py);
    let mut config = ProducerConfig::new(group);
    if let Some(addr) = &namesrv {
        config.set("namesrv_addr", addr).into_py_result(py)?;
    }
    for (key, value) in options.into_iter().flatten() {
        if value.is_none() {
            continue;
        }
        let key = key.cast::<PyString>()?.to_cow()?.into_owned();
        if key == "namesrv_addr" && namesrv.is_some() {
            return Err(Error::invalid_argument(
                "the name server is given twice: as namesrv and as namesrv_addr",
            ))
            .into_py_result(py);
        }
        config
            .set(&key, &option_value(&value)?)
            .into_py_result(py)?;
    }
    Ok(config)
}

/// A timeout in seconds as a `Duration`; negative, NaN or huge values are `InvalidArgumentError`.
pub fn seconds(py: Python<'_>, what: &str, timeout: f64) -> PyResult<Duration> {
    Duration::try_from_secs_f64(timeout)
        .map_err(|_| Error::invalid_argument(format!("{what} {timeout}: expected seconds >= 0")))
        .into_py_result(py)
}

/// Every message of an iterable of `Message`.
fn message_list(messages: &Bound<'_, PyAny>) -> PyResult<Vec<rmq_core::Message>> {
    messages
        .try_iter()
        .map_err(|_| PyTypeError::new_err("messages must be an iterable of Message"))?
        .map(|item| {
            let item = item?;
            let message = item
                .cast::<PyMessage>()
                .map_err(|_| PyTypeError::new_err("every item of messages must be a Message"))?;
            Ok(message.borrow().to_core())
        })
        .collect()
}

/// A user's queue selector, `selector(queues, msg) -> int`, for the core to call.
struct PySelector {
    selector: Py<PyAny>,
    /// What the selector raised, to be the `__cause__` of the send's error.
    raised: Arc<Mutex<Option<PyErr>>>,
}

impl PySelector {
    fn new(selector: Bound<'_, PyAny>) -> PyResult<Self> {
        if !selector.is_callable() {
            return Err(PyTypeError::new_err(
                "selector must be callable as selector(queues, msg) -> int",
            ));
        }
        Ok(PySelector {
            selector: selector.unbind(),
            raised: Arc::default(),
        })
    }

    /// The core's selection: the selector runs on the delivery thread (a runtime thread never
    /// waits for the GIL), the core checks the index it returns.
    fn selection(&self, py: Python<'_>) -> QueueSelection {
        let (selector, raised) = (self.selector.clone_ref(py), self.raised.clone());
        QueueSelection::async_selector(move |queues, msg| {
            let picked =
                dispatch::ask(move |py| call_selector(py, &selector, queues, msg, &raised));
            async move {
                picked.await.unwrap_or_else(|| {
                    Err(Error::internal(
                        "the queue selector could not run: the interpreter is shutting down",
                    ))
                })
            }
        })
    }

    /// The send's error, with what the selector raised as its `__cause__`.
    fn explain(&self, py: Python<'_>, error: PyErr) -> PyErr {
        let raised = self
            .raised
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(raised) = raised {
            error.set_cause(py, Some(raised));
        }
        error
    }
}

/// The index a selector returns for `queues` and `msg`; a raise or a non-int is an invalid
/// argument (and what it raised goes to `raised`).
fn call_selector(
    py: Python<'_>,
    selector: &Py<PyAny>,
    queues: Vec<rmq_core::MessageQueue>,
    msg: rmq_core::Message,
    raised: &Mutex<Option<PyErr>>,
) -> rmq_core::Result<i64> {
    let returned = PyList::new(py, queues.into_iter().map(PyMessageQueue::from_core))
        .and_then(|queues| Ok((queues, Py::new(py, PyMessage::from_core(msg))?)))
        .and_then(|args| selector.bind(py).call1(args));
    let returned = returned.map_err(|exception| {
        let error = Error::invalid_argument(format!("the queue selector raised {exception}"));
        *raised.lock().unwrap_or_else(PoisonError::into_inner) = Some(exception);
        error
    })?;
    returned.extract::<i64>().map_err(|_| {
        let shown = returned.repr().map(|r| r.to_string()).unwrap_or_default();
        Error::invalid_argument(format!(
            "the queue selector returned {shown}, not an int index"
        ))
    })
}

/// An option value as the core's string form: `True` → `"true"`, numbers and `str` as written.
fn option_value(value: &Bound<'_, PyAny>) -> PyResult<String> {
    if let Ok(flag) = value.cast::<PyBool>() {
        return Ok(if flag.is_true() { "true" } else { "false" }.to_string());
    }
    Ok(value.str()?.to_cow()?.into_owned())
}
