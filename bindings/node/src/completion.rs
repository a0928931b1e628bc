//! Delivering the outcome of one background operation to JS, exactly once, from any thread.
//!
//! A [`Completion`] is created on the JS thread (a Promise's deferred, or a threadsafe function
//! around a callback) and completed from a library runtime thread. While it is pending it keeps
//! Node's event loop open, as a pending socket write would; once delivered it lets go. Dropping
//! one unsettled (a panic inside the core, say) delivers an `Internal` error, so a Promise can
//! never stay pending forever and hold the process open.

use std::future::Future;

use napi::bindgen_prelude::{FnArgs, Function, JsObjectValue, Object, ToNapiValue, Unknown};
use napi::threadsafe_function::{
    ThreadsafeCallContext, ThreadsafeFunctionCallMode, UnknownReturnValue,
};
use napi::{Env, ValueType};
use rmq_core::{Error, runtime};

use crate::error::to_js_error;

type Outcome<T> = rmq_core::Result<T>;

/// A JS callback `(err, result) => void`, Node style.
type Callback<'scope, T> =
    Function<'scope, FnArgs<(Option<napi::Error>, Option<T>)>, UnknownReturnValue>;

type Resolver<T> = Box<dyn FnOnce(Env) -> napi::Result<T> + Send>;

pub struct Completion<T: 'static> {
    deliver: Option<Box<dyn FnOnce(Outcome<T>) + Send>>,
}

impl<T: ToNapiValue + Send + 'static> Completion<T> {
    /// A completion that settles the Promise returned with it.
    pub fn promise(env: &Env) -> napi::Result<(Self, Object<'_>)> {
        let (deferred, promise) = env.create_deferred::<T, Resolver<T>>()?;
        let deliver = move |outcome: Outcome<T>| {
            deferred.resolve(Box::new(move |env: Env| {
                outcome.map_err(|err| to_js_error(&env, &err))
            }))
        };
        Ok((Completion::new(deliver), promise))
    }

    /// A Promise settled by `operation`, run on the library runtime.
    pub fn promise_with<F>(env: &Env, operation: F) -> napi::Result<Object<'_>>
    where
        F: Future<Output = Outcome<T>> + Send + 'static,
    {
        let (completion, promise) = Completion::promise(env)?;
        completion.complete_with(operation);
        Ok(promise)
    }

    /// A completion that calls `callback(err, result)` on the JS thread; `INVALID_ARGUMENT` if
    /// `callback` is not a function. An exception thrown by the callback is reported as a
    /// process warning (`process.on('warning')`, type `RmqCallbackError`) instead of ending the
    /// process as an uncaught exception would.
    pub fn callback(callback: Unknown) -> rmq_core::Result<Self> {
        if callback.get_type().ok() != Some(ValueType::Function) {
            return Err(Error::invalid_argument("the callback must be a function"));
        }
        // SAFETY: the value was just checked to be a function, which is what `Callback` holds.
        let callback: Callback<T> = unsafe { callback.cast() }
            .map_err(|e| Error::invalid_argument(format!("bad callback: {}", e.reason)))?;
        let tsfn = callback
            .build_threadsafe_function::<Outcome<T>>()
            .callee_handled::<false>()
            .build_callback(|ctx: ThreadsafeCallContext<Outcome<T>>| {
                Ok(match ctx.value {
                    Ok(value) => FnArgs::from((None, Some(value))),
                    Err(err) => FnArgs::from((Some(to_js_error(&ctx.env, &err)), None)),
                })
            })
            .map_err(|e| {
                Error::internal(format!("cannot hold on to the callback: {}", e.reason))
            })?;
        let deliver = move |outcome: Outcome<T>| {
            // The queue is unbounded, so this never waits; it fails only while Node is exiting,
            // when there is no one left to tell.
            let _ = tsfn.call_with_return_value(
                outcome,
                ThreadsafeFunctionCallMode::NonBlocking,
                |returned, env| {
                    if let Err(thrown) = returned {
                        report_callback_failure(
                            &env,
                            &format!("a sendCallback callback threw: {}", thrown.reason),
                        );
                    }
                    Ok(())
                },
            );
        };
        Ok(Completion::new(deliver))
    }
}

impl<T: Send + 'static> Completion<T> {
    fn new(deliver: impl FnOnce(Outcome<T>) + Send + 'static) -> Self {
        Completion {
            deliver: Some(Box::new(deliver)),
        }
    }

    pub fn complete(mut self, outcome: Outcome<T>) {
        if let Some(deliver) = self.deliver.take() {
            deliver(outcome);
        }
    }

    /// Runs `operation` on the library runtime and completes with its outcome, or with an
    /// `Internal` error if it panics.
    pub fn complete_with<F>(self, operation: F)
    where
        F: Future<Output = Outcome<T>> + Send + 'static,
    {
        runtime::spawn(async move { self.complete(runtime::on_runtime(operation).await) });
    }
}

impl<T: 'static> Drop for Completion<T> {
    fn drop(&mut self) {
        if let Some(deliver) = self.deliver.take() {
            deliver(Err(Error::internal(
                "rmqproducer dropped an operation without completing it (a bug, please report it)",
            )));
        }
    }
}

/// Emits `process.emitWarning(message, 'RmqCallbackError')` for a JS callback that failed
/// (`what` says which and how), or writes to stderr if even that fails.
pub fn report_callback_failure(env: &Env, what: &str) {
    let message = format!("{what}; rmqproducer caught it so the process goes on");
    let emit = || -> napi::Result<()> {
        let process: Object = env.get_global()?.get_named_property("process")?;
        let emit_warning: Function<FnArgs<(&str, &str)>, Unknown> =
            process.get_named_property("emitWarning")?;
        emit_warning.call(FnArgs::from((message.as_str(), "RmqCallbackError")))?;
        Ok(())
    };
    if let Err(failed) = emit() {
        eprintln!("rmqproducer: {message} (process.emitWarning failed: {failed})");
    }
}
