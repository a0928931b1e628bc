//! The one way an async call reports its outcome: a callback called exactly once.

use std::panic::AssertUnwindSafe;

use crate::error::{Error, Result};

/// The callback of an accepted async call (a send, a batch, a request), called exactly once: with
/// the call's outcome, or with `Internal` when the completion is dropped unanswered (the task that
/// held it panicked or was dropped). A panic in the callback is caught and logged.
///
/// The bindings hand their host-language callbacks to the core through this type, so that
/// "exactly once" is written once.
pub struct Completion<T> {
    callback: Option<Box<dyn FnOnce(Result<T>) + Send>>,
}

impl<T> Completion<T> {
    pub fn new(callback: impl FnOnce(Result<T>) + Send + 'static) -> Self {
        Completion {
            callback: Some(Box::new(callback)),
        }
    }

    /// Calls the callback with `outcome`.
    pub fn complete(mut self, outcome: Result<T>) {
        if let Some(callback) = self.callback.take() {
            call_contained(callback, outcome);
        }
    }
}

impl<T> Drop for Completion<T> {
    fn drop(&mut self) {
        if let Some(callback) = self.callback.take() {
            call_contained(
                callback,
                Err(Error::internal(
                    "the async call ended without an outcome (an internal panic; see the log)",
                )),
            );
        }
    }
}

/// Runs a user callback; a panic in it is logged, never propagated into the library.
fn call_contained<T>(callback: Box<dyn FnOnce(Result<T>) + Send>, outcome: Result<T>) {
    if std::panic::catch_unwind(AssertUnwindSafe(|| callback(outcome))).is_err() {
        tracing::error!("an async call's callback panicked; the panic was contained");
    }
}

/// Where an async call that finds the async bounds full (`max_async_in_flight`,
/// `max_async_in_flight_bytes`) waits for room, chosen by the caller. With the option
/// `backpressure=fail` it is refused at once whatever is chosen here.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RoomWait {
    /// The calling thread blocks until there is room, up to the send timeout (Java's behaviour).
    /// On a thread of an async runtime, which must never block, the call is refused with
    /// `IllegalState`.
    ThisThread,
    /// The call is accepted at once (counted in flight) and waits for room inside its task, up
    /// to the send timeout: for callers on an event loop.
    InTask,
    /// The call is refused at once with `TooManyRequests`.
    Fail,
}

#[cfg(test)]
mod tests {
    use std::sync::mpsc;

    use super::*;
    use crate::error::ErrorKind;

    #[test]
    fn a_completion_dropped_unanswered_calls_back_once_with_internal() {
        let (tx, rx) = mpsc::channel();
        drop(Completion::new(move |outcome: Result<()>| {
            tx.send(outcome).unwrap();
        }));
        assert_eq!(
            rx.try_recv().unwrap().unwrap_err().kind(),
            ErrorKind::Internal
        );
        assert!(rx.recv().is_err());
    }

    #[test]
    fn a_panicking_callback_is_contained() {
        Completion::new(|_: Result<()>| panic!("in the callback")).complete(Ok(()));
    }
}
