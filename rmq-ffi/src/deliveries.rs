//! How the outcome of an async call (a send, a batch, a request) reaches its C callback, exactly
//! once.
//!
//! The core calls back exactly once per accepted call and never for a refused one; what is left
//! to the binding is where the C callback runs and when it counts as done. Every accepted call is
//! *pending* until its C callback has returned. In thread mode the callback runs at once, on the
//! library runtime thread the call completes on; in poll mode the outcome is queued, and
//! `rmq_producer_poll` (or flush, shutdown, free) runs the queued callbacks on the application's
//! thread. No lock is held while a callback runs, so a callback may call back into the library.

use std::cell::Cell;
use std::collections::VecDeque;
use std::ffi::c_void;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError, Weak};
use std::time::Instant;

use rmq_core::{Error, RoomWait, SendResult};

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
    /// How many delivery callbacks this thread is inside (they can nest through poll), and how
    /// many of those are thread-mode ones (run on a library runtime thread).
    static INSIDE: Cell<(u32, u32)> = const { Cell::new((0, 0)) };
}

/// Whether the calling thread is inside a delivery callback, where calls that wait for callbacks
/// (flush, shutdown) would wait for themselves.
pub(crate) fn in_callback() -> bool {
    INSIDE.with(Cell::get).0 > 0
}

/// Where an async call made on the calling thread waits for room when the async bounds are full
/// (`backpressure=block`): the application's threads block, as the header documents; a
/// thread-mode delivery callback runs on a library runtime thread, which must never block, so
/// its call is accepted at once and waits inside its task.
pub(crate) fn room_wait() -> RoomWait {
    if INSIDE.with(Cell::get).1 > 0 {
        RoomWait::InTask
    } else {
        RoomWait::ThisThread
    }
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

    /// The callback as the function [`Deliveries::core_callback`] takes.
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

/// Runs a callback, marking the thread as inside one (of `mode`) meanwhile.
fn run(ready: Ready, mode: CallbackMode) {
    let thread_mode = u32::from(mode == CallbackMode::Thread);
    INSIDE.with(|inside| {
        let (depth, threaded) = inside.get();
        inside.set((depth + 1, threaded + thread_mode));
    });
    ready();
    INSIDE.with(|inside| {
        let (depth, threaded) = inside.get();
        inside.set((depth - 1, threaded - thread_mode));
    });
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
    /// Signalled when an outcome is queued or a call stops being pending.
    changed: Condvar,
}

/// Counts one async call as pending for as long as it lives: until its callback has returned, or
/// until the core drops the callback uncalled (a refused call). Weak, so that callbacks queued in
/// a producer freed from inside its own callback do not keep it alive.
struct Pending(Weak<Deliveries>);

impl Drop for Pending {
    fn drop(&mut self) {
        if let Some(deliveries) = self.0.upgrade() {
            deliveries.finished();
        }
    }
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

    /// The callback to hand the core for one async call, pending from now on. The core calls it
    /// at most once (exactly once for an accepted call); it then runs `callback` where the mode
    /// says. A refused call drops it uncalled, which ends the pending count with no callback.
    pub(crate) fn core_callback<T: Send + 'static>(
        self: &Arc<Self>,
        callback: impl FnOnce(Result<T, Error>) + Send + 'static,
    ) -> impl FnOnce(Result<T, Error>) + Send + 'static {
        self.lock().pending += 1;
        let pending = Pending(Arc::downgrade(self));
        let mode = self.mode;
        move |outcome| {
            let deliveries = pending.0.upgrade();
            // The pending count ends once the callback has returned.
            let ready: Ready = Box::new(move || {
                callback(outcome);
                drop(pending);
            });
            match (mode, deliveries) {
                (CallbackMode::Poll, Some(deliveries)) => {
                    deliveries.lock().queued.push_back(ready);
                    deliveries.changed.notify_all();
                }
                // A poll-mode producer already freed: nobody polls any more.
                (CallbackMode::Poll, None) => {}
                (CallbackMode::Thread, _) => run(ready, mode),
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

    /// Waits until no call is pending or `deadline` passes (`false`), running queued callbacks on
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
                run(ready, self.mode);
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    use rmq_core::{Completion, ErrorKind};

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
    fn a_refused_call_never_calls_back_and_is_not_pending() {
        let calls = AtomicUsize::new(0);
        let deliveries = Deliveries::new(CallbackMode::Thread);
        // What the core does with the callback of a call it refuses: drops it.
        drop(deliveries.core_callback(counting(&calls)));
        assert_eq!(deliveries.pending(), 0);
        assert_eq!(calls.load(Ordering::SeqCst), 0);
        assert!(deliveries.drain(Some(Instant::now())));
    }

    #[test]
    fn an_accepted_call_dropped_unanswered_still_calls_back_once_and_poll_runs_it() {
        let calls = AtomicUsize::new(0);
        let deliveries = Deliveries::new(CallbackMode::Poll);
        let completion = Completion::new(deliveries.core_callback(counting(&calls)));
        assert_eq!(deliveries.pending(), 1);
        drop(completion);
        assert_eq!(
            calls.load(Ordering::SeqCst),
            0,
            "poll mode runs callbacks in poll"
        );
        assert_eq!(deliveries.poll(Some(Instant::now())), 1);
        assert_eq!(deliveries.poll(Some(Instant::now())), 0);
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        assert!(deliveries.drain(Some(Instant::now())));
    }

    #[test]
    fn drain_waits_until_the_callback_has_returned() {
        let calls = AtomicUsize::new(0);
        let deliveries = Deliveries::new(CallbackMode::Thread);
        let completion = Completion::new(deliveries.core_callback(counting(&calls)));
        assert!(!deliveries.drain(Some(Instant::now() + Duration::from_millis(20))));
        completion.complete(Err(Error::internal("x")));
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        assert!(deliveries.drain(None));
    }

    #[test]
    fn thread_mode_callbacks_make_async_calls_wait_for_room_in_their_task() {
        let deliveries = Deliveries::new(CallbackMode::Thread);
        let (tx, rx) = std::sync::mpsc::channel();
        let callback = deliveries.core_callback(move |outcome: Result<(), Error>| {
            tx.send((outcome.unwrap_err().kind(), room_wait())).unwrap();
        });
        assert_eq!(room_wait(), RoomWait::ThisThread);
        callback(Err(Error::internal("x")));
        assert_eq!(rx.recv().unwrap(), (ErrorKind::Internal, RoomWait::InTask));
        assert_eq!(room_wait(), RoomWait::ThisThread);
        assert!(!in_callback());
    }
}
