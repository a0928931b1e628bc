//! How the outcome of an async call (a send, a batch, a request) reaches its C callback, exactly
//! once.
//!
//! Every accepted call is *pending* until its callback has returned. In thread mode the core's
//! completion runs the callback at once, on the library runtime thread it completes on; in poll
//! mode it queues the outcome, and `rmq_producer_poll` (or flush, shutdown, free) runs the queued
//! callbacks on the application's thread. No lock is held while a callback runs, so a callback may
//! call back into the library.

use std::cell::Cell;
use std::collections::VecDeque;
use std::ffi::c_void;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::Instant;

use rmq_core::{Error, SendResult};

use crate::config::CallbackMode;
use crate::error::{rmq_error, rmq_result};
use crate::send_result::rmq_send_result;

/// The callback of `rmq_producer_send_async`, called exactly once per accepted send with the
/// `userdata` given to that send and the outcome: on success `result` is `RMQ_RESULT_OK`,
/// `send_result` is set and `error` is NULL; on failure `send_result` is NULL and `error` holds the
/// code, message, and the broker's response code and remark. Both are valid only during the call:
/// copy what you need (or use `rmq_send_result_clone` / `rmq_error_clone`).
///
/// It must return normally (no `longjmp`, no C++ exception).
pub type rmq_delivery_cb = Option<
    unsafe extern "C" fn(
        userdata: *mut c_void,
        result: rmq_result,
        send_result: *const rmq_send_result,
        error: *const rmq_error,
    ),
>;

thread_local! {
    /// How many delivery callbacks this thread is inside (they can nest through poll).
    static CALLBACK_DEPTH: Cell<u32> = const { Cell::new(0) };
}

/// Whether the calling thread is inside a delivery callback, where calls that wait for callbacks
/// (flush, shutdown) would wait for themselves.
pub(crate) fn in_callback() -> bool {
    CALLBACK_DEPTH.with(Cell::get) > 0
}

/// A C callback with its userdata.
pub(crate) struct Callback {
    function:
        unsafe extern "C" fn(*mut c_void, rmq_result, *const rmq_send_result, *const rmq_error),
    userdata: *mut c_void,
}

// SAFETY: the header documents that in thread mode the callback and its userdata are used on a
// library thread; the application vouches that this is sound for its userdata.
unsafe impl Send for Callback {}

impl Callback {
    pub(crate) fn new(
        function: unsafe extern "C" fn(
            *mut c_void,
            rmq_result,
            *const rmq_send_result,
            *const rmq_error,
        ),
        userdata: *mut c_void,
    ) -> Self {
        Callback { function, userdata }
    }

    /// The callback as the function [`Deliveries::submit`] takes.
    pub(crate) fn into_delivery(self) -> impl FnOnce(Outcome) + Send + 'static {
        move |outcome| self.invoke(&outcome)
    }

    fn invoke(self, outcome: &Outcome) {
        match outcome {
            Ok(result) => {
                let result = rmq_send_result::new(result);
                unsafe {
                    (self.function)(self.userdata, rmq_result::Ok, &result, std::ptr::null())
                };
            }
            Err(error) => {
                let code = error.kind().into();
                let error = rmq_error::new(error);
                unsafe { (self.function)(self.userdata, code, std::ptr::null(), &error) };
            }
        }
    }
}

/// The outcome of an async send.
pub(crate) type Outcome = Result<SendResult, Error>;

/// A callback bound to its outcome, ready to run.
type Ready = Box<dyn FnOnce() + Send>;

/// Runs a callback, marking the thread as inside one meanwhile.
fn run(ready: Ready) {
    CALLBACK_DEPTH.with(|depth| depth.set(depth.get() + 1));
    ready();
    CALLBACK_DEPTH.with(|depth| depth.set(depth.get() - 1));
}

struct State {
    /// Accepted calls whose callback has not returned yet.
    pending: usize,
    /// Poll mode: callbacks with their outcome, waiting to be run.
    queued: VecDeque<Ready>,
}

/// The delivery callbacks of one producer.
pub(crate) struct Deliveries {
    mode: CallbackMode,
    state: Mutex<State>,
    /// Signalled when an outcome is queued or a send stops being pending.
    changed: Condvar,
}

impl Deliveries {
    pub(crate) fn new(mode: CallbackMode) -> Arc<Self> {
        Arc::new(Deliveries {
            mode,
            state: Mutex::new(State {
                pending: 0,
                queued: VecDeque::new(),
            }),
            changed: Condvar::new(),
        })
    }

    pub(crate) fn mode(&self) -> CallbackMode {
        self.mode
    }

    pub(crate) fn pending(&self) -> usize {
        self.lock().pending
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // No callback runs under the lock, so a poisoned lock only means a panic in our own short
        // critical sections, which leave the state consistent.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Hands a call to the core: `start` receives the completion to call with the outcome. On
    /// `Ok` the callback will run exactly once; on `Err` (or a panic, which is passed on) it never
    /// runs.
    pub(crate) fn submit<T: Send + 'static>(
        self: &Arc<Self>,
        callback: impl FnOnce(Result<T, Error>) + Send + 'static,
        start: impl FnOnce(Completion<T>),
    ) -> Result<(), Error> {
        self.lock().pending += 1;
        let handoff = Arc::new(Mutex::new(Handoff::Submitting));
        let completion = Completion {
            deliveries: Arc::clone(self),
            callback: Some(Box::new(callback)),
            handoff: Arc::clone(&handoff),
        };
        let started = catch_unwind(AssertUnwindSafe(|| start(completion)));
        let mut handoff = handoff.lock().unwrap_or_else(PoisonError::into_inner);
        let during_submit = std::mem::replace(&mut *handoff, Handoff::Submitted);
        match (started, during_submit) {
            (Ok(()), Handoff::Orphaned) => Err(Error::internal(
                "the send was dropped without an outcome before it started",
            )),
            (Ok(()), _) => Ok(()),
            (Err(panic), during_submit) => {
                if matches!(during_submit, Handoff::Submitting) {
                    // The completion may still be alive somewhere: make sure it never runs.
                    *handoff = Handoff::Cancelled;
                    drop(handoff);
                    self.finished();
                }
                resume_unwind(panic)
            }
        }
    }

    fn deliver(&self, ready: Ready) {
        match self.mode {
            CallbackMode::Thread => {
                run(ready);
                self.finished();
            }
            CallbackMode::Poll => {
                self.lock().queued.push_back(ready);
                self.changed.notify_all();
            }
        }
    }

    fn finished(&self) {
        self.lock().pending -= 1;
        self.changed.notify_all();
    }

    /// Poll mode: waits until `deadline` (`None`: forever) for an outcome to be queued, then runs
    /// the callbacks queued at that point on this thread. Returns how many ran.
    pub(crate) fn poll(&self, deadline: Option<Instant>) -> usize {
        let mut state = self.lock();
        while state.queued.is_empty() {
            match wait(&self.changed, state, deadline) {
                Some(next) => state = next,
                None => return 0,
            }
        }
        let ready = state.queued.len();
        drop(state);
        let mut ran = 0;
        while ran < ready && self.run_one_queued() {
            ran += 1;
        }
        ran
    }

    /// Waits until no send is pending or `deadline` passes (`false`), running queued callbacks on
    /// this thread meanwhile (poll mode).
    pub(crate) fn drain(&self, deadline: Option<Instant>) -> bool {
        loop {
            if self.run_one_queued() {
                continue;
            }
            let state = self.lock();
            if state.pending == 0 {
                return true;
            }
            if !state.queued.is_empty() {
                continue;
            }
            if wait(&self.changed, state, deadline).is_none() {
                return false;
            }
        }
    }

    fn run_one_queued(&self) -> bool {
        let next = self.lock().queued.pop_front();
        match next {
            Some(ready) => {
                run(ready);
                self.finished();
                true
            }
            None => false,
        }
    }
}

/// One wait on `changed`; `None` when `deadline` has passed.
fn wait<'a>(
    changed: &Condvar,
    state: MutexGuard<'a, State>,
    deadline: Option<Instant>,
) -> Option<MutexGuard<'a, State>> {
    match deadline {
        None => Some(changed.wait(state).unwrap_or_else(PoisonError::into_inner)),
        Some(deadline) => {
            let left = deadline.checked_duration_since(Instant::now())?;
            let (state, _) = changed
                .wait_timeout(state, left)
                .unwrap_or_else(PoisonError::into_inner);
            Some(state)
        }
    }
}

/// Where the hand-over of a send to the core stands.
enum Handoff {
    /// The core is being called.
    Submitting,
    /// The core called the completion before returning (the callback ran or is queued).
    DeliveredEarly,
    /// The core took the send: an outcome (or a dropped completion) runs the callback.
    Submitted,
    /// The core dropped the completion while being called: the call reports the failure.
    Orphaned,
    /// The call failed: the callback must never run.
    Cancelled,
}

/// The callback of one call, as the completion keeps it.
type Delivery<T> = Box<dyn FnOnce(Result<T, Error>) + Send>;

/// The one-shot completion the core calls with a call's outcome.
pub(crate) struct Completion<T: Send + 'static> {
    deliveries: Arc<Deliveries>,
    callback: Option<Delivery<T>>,
    handoff: Arc<Mutex<Handoff>>,
}

impl<T: Send + 'static> Completion<T> {
    pub(crate) fn complete(mut self, outcome: Result<T, Error>) {
        if let Some(callback) = self.callback.take() {
            self.finish(callback, outcome);
        }
    }

    fn finish(&self, callback: Delivery<T>, outcome: Result<T, Error>) {
        let cancelled = {
            let mut handoff = self.handoff.lock().unwrap_or_else(PoisonError::into_inner);
            if matches!(*handoff, Handoff::Submitting) {
                *handoff = Handoff::DeliveredEarly;
            }
            matches!(*handoff, Handoff::Cancelled)
        };
        // A cancelled send is no longer pending (its submit released it): nothing to run.
        if !cancelled {
            self.deliveries.deliver(Box::new(move || callback(outcome)));
        }
    }
}

impl<T: Send + 'static> Drop for Completion<T> {
    /// A completion dropped without an outcome (a bug, or a panic in the core's task) still
    /// reports one, so that no callback is ever lost.
    fn drop(&mut self) {
        let Some(callback) = self.callback.take() else {
            return;
        };
        {
            let mut handoff = self.handoff.lock().unwrap_or_else(PoisonError::into_inner);
            if matches!(*handoff, Handoff::Submitting) {
                *handoff = Handoff::Orphaned;
                drop(handoff);
                self.deliveries.finished();
                return;
            }
        }
        self.finish(
            callback,
            Err(Error::internal("the send ended without an outcome")),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    unsafe extern "C" fn count(
        calls: *mut c_void,
        _: rmq_result,
        _: *const rmq_send_result,
        _: *const rmq_error,
    ) {
        unsafe { &*calls.cast::<AtomicUsize>() }.fetch_add(1, Ordering::SeqCst);
    }

    fn counting(calls: &AtomicUsize) -> impl FnOnce(Outcome) + Send + 'static {
        Callback::new(count, std::ptr::from_ref(calls).cast_mut().cast()).into_delivery()
    }

    #[test]
    fn a_panicking_submit_never_calls_back_and_is_not_pending() {
        let calls = AtomicUsize::new(0);
        let deliveries = Deliveries::new(CallbackMode::Thread);
        let caught = catch_unwind(AssertUnwindSafe(|| {
            deliveries.submit(counting(&calls), |_completion: Completion<SendResult>| {
                panic!("todo")
            })
        }));
        assert!(caught.is_err());
        assert_eq!(deliveries.pending(), 0);
        assert_eq!(calls.load(Ordering::SeqCst), 0);
    }

    #[test]
    fn a_completion_kept_by_a_panicking_submit_never_runs() {
        let calls = AtomicUsize::new(0);
        let deliveries = Deliveries::new(CallbackMode::Thread);
        let kept = Mutex::new(None);
        let caught = catch_unwind(AssertUnwindSafe(|| {
            deliveries.submit(counting(&calls), |completion| {
                *kept.lock().unwrap() = Some(completion);
                panic!("after taking the completion")
            })
        }));
        assert!(caught.is_err());
        assert_eq!(deliveries.pending(), 0);
        let completion = kept.lock().unwrap().take().unwrap();
        completion.complete(Err(Error::internal("late")));
        assert_eq!(deliveries.pending(), 0);
        assert_eq!(calls.load(Ordering::SeqCst), 0);
    }

    #[test]
    fn a_dropped_completion_still_reports_once_and_poll_runs_it() {
        let calls = AtomicUsize::new(0);
        let deliveries = Deliveries::new(CallbackMode::Poll);
        let kept = Mutex::new(None);
        deliveries
            .submit(counting(&calls), |completion| {
                *kept.lock().unwrap() = Some(completion)
            })
            .unwrap();
        assert_eq!(deliveries.pending(), 1);
        drop(kept.lock().unwrap().take());
        assert_eq!(deliveries.poll(Some(Instant::now())), 1);
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        assert!(deliveries.drain(Some(Instant::now())));
    }

    #[test]
    fn drain_times_out_while_a_send_is_pending() {
        let calls = AtomicUsize::new(0);
        let deliveries = Deliveries::new(CallbackMode::Thread);
        let kept = Mutex::new(None);
        deliveries
            .submit(counting(&calls), |completion| {
                *kept.lock().unwrap() = Some(completion)
            })
            .unwrap();
        assert!(!deliveries.drain(Some(Instant::now() + Duration::from_millis(20))));
        let completion = kept.lock().unwrap().take().unwrap();
        completion.complete(Err(Error::internal("x")));
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        assert!(deliveries.drain(None));
    }
}
