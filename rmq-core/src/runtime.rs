//! The one tokio runtime of the library. Bindings and the C API drive everything through it;
//! nothing here ever blocks a runtime thread.

use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::thread::Thread;
use std::time::Duration;

use once_cell::sync::Lazy;
use tokio::runtime::{Handle, Runtime};

use crate::error::{Error, Result};

struct Owned {
    runtime: Runtime,
    pid: u32,
}

static RUNTIME: Lazy<Owned> = Lazy::new(|| {
    let workers = std::thread::available_parallelism()
        .map(|n| n.get().clamp(2, 4))
        .unwrap_or(2);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .thread_name("rmq-worker")
        .on_thread_start(block_sigpipe)
        .enable_all()
        .build()
        .expect("the rmqproducer runtime could not start its threads");
    Owned {
        runtime,
        pid: std::process::id(),
    }
});

/// A write to a socket its peer closed (a broker that refused the client's certificate, a broker
/// gone) raises SIGPIPE, whose default action kills the process, and C programs keep that default
/// (Rust, Python and Node ignore it). Blocked on the runtime's threads, which own every socket,
/// such a write fails with EPIPE instead, and the connection closes with a typed error.
fn block_sigpipe() {
    #[cfg(unix)]
    // SAFETY: the set is initialised by sigemptyset before use, and pthread_sigmask only changes
    // the calling thread's mask.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGPIPE);
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
    }
}

/// Fails when the runtime was created in a parent process: its threads do not survive `fork()`.
pub fn check_fork() -> Result<()> {
    if RUNTIME.pid != std::process::id() {
        return Err(Error::illegal_state(
            "rmqproducer was started before fork(): a producer cannot be used in a forked child; create producers after forking",
        ));
    }
    Ok(())
}

/// The runtime's handle.
pub fn handle() -> &'static Handle {
    RUNTIME.runtime.handle()
}

/// Runs `future` on the library runtime; the returned handle may be dropped (the task goes on).
pub fn spawn<F>(future: F) -> tokio::task::JoinHandle<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    handle().spawn(future)
}

/// Runs `future` on the library runtime and awaits it from any executor, so that sockets and
/// timers always live on the library's runtime, whoever polls the public API. A panic inside
/// becomes an `Internal` error instead of unwinding into the caller.
pub async fn on_runtime<F, T>(future: F) -> Result<T>
where
    F: Future<Output = Result<T>> + Send + 'static,
    T: Send + 'static,
{
    check_fork()?;
    match spawn(future).await {
        Ok(result) => result,
        Err(e) if e.is_panic() => Err(Error::internal(format!(
            "internal panic: {}",
            panic_message(e.into_panic())
        ))),
        Err(e) => Err(Error::internal(format!("runtime task failed: {e}"))),
    }
}

/// The text of a panic payload, when it has one.
pub fn panic_message(payload: Box<dyn std::any::Any + Send>) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".to_string())
}

/// Blocks the calling (non-runtime) thread until `future` completes on the library runtime.
/// Refuses to run on a thread of any tokio runtime, where blocking would stall or deadlock it.
pub fn block_on<F>(future: F) -> Result<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    check_fork()?;
    if Handle::try_current().is_ok() {
        return Err(Error::illegal_state(
            "a blocking call was made from an async runtime thread (for example inside a send callback); use the async form instead",
        ));
    }
    let (tx, rx) = std::sync::mpsc::sync_channel(1);
    handle().spawn(async move {
        let _ = tx.send(future.await);
    });
    rx.recv()
        .map_err(|_| Error::internal("the runtime dropped a blocking call's task"))
}

/// Polls `future` to completion on the calling thread, so that what it runs itself (a local
/// transaction, which the application may tie to its thread) runs here; the network work inside
/// still runs on the library runtime. Every `check_every` while it waits, `check` runs (a
/// binding's signal check, say); an error from it abandons the wait. Refused with `IllegalState`
/// on a thread of any tokio runtime, which must never block.
pub fn block_on_this_thread<F, E>(
    future: F,
    check_every: Duration,
    mut check: impl FnMut() -> std::result::Result<(), E>,
) -> std::result::Result<F::Output, E>
where
    F: Future,
    E: From<Error>,
{
    check_fork()?;
    if Handle::try_current().is_ok() {
        return Err(Error::illegal_state(
            "a blocking call was made from an async runtime thread (for example inside a callback); use the async form instead",
        )
        .into());
    }
    struct Unpark(Thread);
    impl Wake for Unpark {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
    let mut context = Context::from_waker(&waker);
    let mut future = pin!(future);
    loop {
        if let Poll::Ready(output) = future.as_mut().poll(&mut context) {
            return Ok(output);
        }
        std::thread::park_timeout(check_every);
        check()?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn block_on_runs_on_the_library_runtime() {
        assert_eq!(block_on(async { 21 * 2 }).unwrap(), 42);
    }

    #[test]
    fn block_on_this_thread_polls_here_and_stops_when_the_check_fails() {
        let here = std::thread::current().id();
        let ran_on = block_on_this_thread(
            async { std::thread::current().id() },
            Duration::from_secs(1),
            || Ok::<(), Error>(()),
        )
        .unwrap();
        assert_eq!(ran_on, here);
        let interrupted = block_on_this_thread(
            std::future::pending::<()>(),
            Duration::from_millis(1),
            || Err(Error::internal("interrupted")),
        );
        assert_eq!(interrupted.unwrap_err().message(), "interrupted");
        let refused = block_on(async {
            block_on_this_thread(async {}, Duration::from_secs(1), || Ok::<(), Error>(()))
        })
        .unwrap();
        assert_eq!(
            refused.unwrap_err().kind(),
            crate::error::ErrorKind::IllegalState
        );
    }

    #[test]
    fn block_on_from_a_runtime_thread_is_refused() {
        let nested = block_on(async { block_on(async { 1 }) }).unwrap();
        assert_eq!(
            nested.unwrap_err().kind(),
            crate::error::ErrorKind::IllegalState
        );
    }
}
