//! When the outcomes of a producer's async sends and requests have settled in JS.
//!
//! The core's `flush` returns once every async call has its outcome, but each outcome still has
//! to cross to the JS thread, through its own threadsafe function, and Node does not keep those
//! in order: `flush()` could resolve before the Promise or callback of a send it waited for.
//! Each async call is therefore tracked from its start until its outcome has reached JS, and
//! `flush()` and `shutdown()` resolve only after every call begun before them has.

use std::collections::BTreeSet;
use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;

/// How long `shutdown()` waits for outcomes to reach JS after the producer has shut down.
const SHUTDOWN_SETTLE_BOUND: Duration = Duration::from_secs(10);

/// One producer's async calls whose outcomes have not reached JS yet.
#[derive(Default)]
pub struct Settling {
    calls: Mutex<Calls>,
    settled: Notify,
}

#[derive(Default)]
struct Calls {
    next: u64,
    unsettled: BTreeSet<u64>,
}

/// An async call whose outcome has not reached JS; dropped on the JS thread once it has (or
/// wherever the outcome is dropped undelivered, as when Node exits).
pub struct Unsettled {
    settling: Arc<Settling>,
    ticket: u64,
}

impl Settling {
    fn calls(&self) -> std::sync::MutexGuard<'_, Calls> {
        self.calls.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Tracks a call that starts now.
    pub fn begin(self: &Arc<Self>) -> Unsettled {
        let mut calls = self.calls();
        let ticket = calls.next;
        calls.next += 1;
        calls.unsettled.insert(ticket);
        Unsettled {
            settling: self.clone(),
            ticket,
        }
    }

    /// `shutdown`, resolving once the outcomes of the calls begun before it have reached JS too
    /// (given up to [`SHUTDOWN_SETTLE_BOUND`]: they are on their way and still get there).
    pub fn after_shutdown<T: Send>(
        self: &Arc<Self>,
        shutdown: impl Future<Output = T> + Send + 'static,
    ) -> impl Future<Output = T> + Send + 'static {
        let (horizon, settling) = (self.horizon(), self.clone());
        async move {
            let outcome = shutdown.await;
            settling
                .wait(horizon, Instant::now() + SHUTDOWN_SETTLE_BOUND)
                .await;
            outcome
        }
    }

    /// Marks the calls begun so far, for [`Settling::wait`].
    pub fn horizon(&self) -> u64 {
        self.calls().next
    }

    /// Waits until every call begun before `horizon` has settled in JS; `false` if some have not
    /// by `deadline`.
    pub async fn wait(&self, horizon: u64, deadline: Instant) -> bool {
        loop {
            let settled = self.settled.notified();
            tokio::pin!(settled);
            settled.as_mut().enable();
            if self.all_settled_before(horizon) {
                return true;
            }
            if tokio::time::timeout_at(deadline, settled).await.is_err() {
                return self.all_settled_before(horizon);
            }
        }
    }

    fn all_settled_before(&self, horizon: u64) -> bool {
        self.calls()
            .unsettled
            .first()
            .is_none_or(|&oldest| oldest >= horizon)
    }
}

impl Drop for Unsettled {
    fn drop(&mut self) {
        let mut calls = self.settling.calls();
        // Only the oldest call's settling can answer a wait: no wake-ups for the others.
        let was_oldest = calls.unsettled.first() == Some(&self.ticket);
        calls.unsettled.remove(&self.ticket);
        drop(calls);
        if was_oldest {
            self.settling.settled.notify_waiters();
        }
    }
}
