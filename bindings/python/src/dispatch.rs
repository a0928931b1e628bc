//! The delivery thread: every outcome of an async operation, every log record and every call of
//! a queue selector reaches Python through it.
//!
//! Library runtime threads never wait for the GIL (a Python thread holding it would stall the
//! network I/O of every producer); they queue a job here instead. This one thread takes the GIL,
//! runs every job queued meanwhile, and lets go. Jobs run in the order they were queued, so an
//! outcome queued before `shutdown()` returns is delivered before it returns (see [`drain`]).

use std::cell::Cell;
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::time::Duration;

use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::PyCFunction;
use tokio::sync::oneshot;

use crate::errors::to_py_err;
use crate::logging;

/// Work to run on the delivery thread, with the GIL held.
pub type Job = Box<dyn FnOnce(Python<'_>) + Send>;

/// Jobs run per GIL acquisition, so that a flood of results does not starve Python threads.
const JOBS_PER_ATTACH: usize = 256;

/// How long [`drain`] waits for user callbacks queued before it.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

/// The delivery thread's queue; `None` if the thread could not be started.
static DELIVERY: OnceLock<Option<Sender<Job>>> = OnceLock::new();

/// The process that started the delivery thread (0: none yet). A forked child inherits the
/// queue but not the thread.
static STARTED_IN: AtomicU32 = AtomicU32::new(0);

thread_local! {
    static ON_DELIVERY_THREAD: Cell<bool> = const { Cell::new(false) };
}

/// Queues `job` for the delivery thread, starting the thread on first use. Where no delivery
/// thread can run it (a forked child, a thread that could not start, an interpreter shutting
/// down), the job runs at once on the calling thread instead of being lost.
pub fn submit(job: Job) {
    let pid = std::process::id();
    let started_in = STARTED_IN.load(Ordering::Acquire);
    let job = if started_in != 0 && started_in != pid {
        job
    } else {
        let queue = DELIVERY.get_or_init(|| {
            STARTED_IN.store(pid, Ordering::Release);
            start()
        });
        match queue {
            Some(queue) => match queue.send(job) {
                Ok(()) => return,
                Err(mpsc::SendError(job)) => job,
            },
            None => job,
        }
    };
    Python::try_attach(|py| run_job(py, job));
}

fn start() -> Option<Sender<Job>> {
    let (jobs, queue) = mpsc::channel();
    std::thread::Builder::new()
        .name("rmq-python-delivery".into())
        .spawn(move || run(queue))
        .ok()
        .map(|_| jobs)
}

fn run(queue: Receiver<Job>) {
    ON_DELIVERY_THREAD.set(true);
    while let Ok(first) = queue.recv() {
        let attached = Python::try_attach(|py| {
            run_job(py, first);
            for job in queue.try_iter().take(JOBS_PER_ATTACH) {
                run_job(py, job);
            }
        });
        if attached.is_none() {
            // The interpreter is finalizing: nothing can be delivered any more.
            return;
        }
    }
}

fn run_job(py: Python<'_>, job: Job) {
    if catch_unwind(AssertUnwindSafe(|| job(py))).is_err() {
        logging::emit(
            py,
            logging::ERROR,
            "a result delivery panicked (a bug in rmqproducer)",
        );
    }
}

/// Whether this is the delivery thread (a callback, a hook, a selector runs on it).
pub fn on_delivery_thread() -> bool {
    ON_DELIVERY_THREAD.get()
}

/// Waits (GIL released, up to [`DRAIN_TIMEOUT`]) until every job queued before this call has run,
/// so that callbacks of sends that completed before `shutdown()` or `flush()` returned have run
/// too. Returns at once on the delivery thread itself (a callback would wait for itself).
pub fn drain(py: Python<'_>) {
    if on_delivery_thread() {
        return;
    }
    if STARTED_IN.load(Ordering::Acquire) != std::process::id() {
        return; // no delivery thread in this process: nothing is queued
    }
    let (done, wait) = mpsc::sync_channel(1);
    submit(Box::new(move |_| {
        let _ = done.send(());
    }));
    let _ = py.detach(move || wait.recv_timeout(DRAIN_TIMEOUT));
}

/// Where the outcome of one async operation goes.
pub enum Target {
    /// An asyncio future, resolved on its own event loop through `call_soon_threadsafe`.
    Future {
        event_loop: Py<PyAny>,
        future: Py<PyAny>,
    },
    /// A user function called as `callback(result, error)`.
    Callback(Py<PyAny>),
}

impl Target {
    /// A new future on the running event loop of the calling thread, and the target resolving it.
    pub fn asyncio_future(py: Python<'_>) -> PyResult<(Bound<'_, PyAny>, Target)> {
        let event_loop = py.import("asyncio")?.call_method0("get_running_loop")?;
        let future = event_loop.call_method0("create_future")?;
        let target = Target::Future {
            event_loop: event_loop.unbind(),
            future: future.clone().unbind(),
        };
        Ok((future, target))
    }

    /// The callback of one async call of the core (which calls it exactly once): it queues the
    /// outcome, converted to Python by `convert`, for the delivery thread.
    pub fn callback<T: Send + 'static>(
        self,
        convert: impl FnOnce(Python<'_>, T) -> PyResult<Py<PyAny>> + Send + 'static,
    ) -> impl FnOnce(rmq_core::Result<T>) + Send + 'static {
        move |outcome| {
            submit(Box::new(move |py| {
                let outcome = outcome
                    .map_err(|error| to_py_err(py, error))
                    .and_then(|value| convert(py, value));
                self.deliver(py, outcome);
            }))
        }
    }

    fn deliver(self, py: Python<'_>, outcome: PyResult<Py<PyAny>>) {
        let (value, error) = match outcome {
            Ok(value) => (value, py.None()),
            Err(error) => (py.None(), error.into_value(py).into_any()),
        };
        match self {
            Target::Future { event_loop, future } => {
                let scheduled = set_future_outcome_fn(py).and_then(|set_outcome| {
                    event_loop.call_method1(
                        py,
                        "call_soon_threadsafe",
                        (set_outcome, future, &value, &error),
                    )
                });
                if scheduled.is_err() {
                    // The loop was closed before the operation finished: nobody can await the
                    // outcome any more, so at least say what it was.
                    let outcome = if error.is_none(py) { value } else { error };
                    logging::emit(
                        py,
                        logging::WARNING,
                        &format!(
                            "the event loop closed before a result could be delivered: {}",
                            outcome
                                .bind(py)
                                .repr()
                                .map(|r| r.to_string())
                                .unwrap_or_default()
                        ),
                    );
                }
            }
            Target::Callback(callback) => {
                if let Err(raised) = callback.call1(py, (value, error)) {
                    logging::callback_raised(py, callback.bind(py), raised);
                }
            }
        }
    }
}

/// Sets a future's outcome unless its awaiter cancelled it meanwhile.
#[pyfunction]
fn set_future_outcome(
    future: &Bound<'_, PyAny>,
    value: &Bound<'_, PyAny>,
    error: &Bound<'_, PyAny>,
) -> PyResult<()> {
    if future.call_method0("done")?.is_truthy()? {
        return Ok(());
    }
    if error.is_none() {
        future.call_method1("set_result", (value,))?;
    } else {
        future.call_method1("set_exception", (error,))?;
    }
    Ok(())
}

fn set_future_outcome_fn(py: Python<'_>) -> PyResult<Py<PyCFunction>> {
    static FUNCTION: PyOnceLock<Py<PyCFunction>> = PyOnceLock::new();
    FUNCTION
        .get_or_try_init(
            py,
            || Ok(wrap_pyfunction!(set_future_outcome, py)?.unbind()),
        )
        .map(|function| function.clone_ref(py))
}

/// Runs `job` on the delivery thread for the library runtime, which must not wait for the GIL
/// itself (a queue selector): the future of its answer, `None` if it could not run.
pub fn ask<T: Send + 'static>(
    job: impl FnOnce(Python<'_>) -> T + Send + 'static,
) -> impl Future<Output = Option<T>> + Send + 'static {
    let (answer, answered) = oneshot::channel();
    submit(Box::new(move |py| {
        let _ = answer.send(job(py));
    }));
    // A job dropped without running drops its sender: the answer is `None`.
    async move { answered.await.ok() }
}
