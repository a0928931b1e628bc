//! Delivering the outcome of one background operation to JS, from any thread.
//!
//! Exactly once is the core's business: an operation's outcome goes through an
//! `rmq_core::Completion` (built here for a Promise, built by the core's `try_*` forms for a
//! callback), which also reports an operation dropped unanswered as `Internal`. What is left here
//! is the way to JS: a Promise's deferred, or a threadsafe function around a callback. Either one
//! keeps Node's event loop open only while its operation is pending, as a pending socket write
//! would, so a script that has shut its producers down exits by itself.

use std::future::Future;

use napi::bindgen_prelude::{FnArgs, Function, JsObjectValue, Object, ToNapiValue, Unknown};
use napi::threadsafe_function::{
    ThreadsafeCallContext, ThreadsafeFunctionCallMode, UnknownReturnValue,
};
use napi::{Env, ValueType};
use rmq_core::{Completion, Error, runtime};

use crate::error::to_js_error;
use crate::settling::Unsettled;

type Outcome<T> = rmq_core::Result<T>;

/// A JS callback `(err, result) => void`, Node style.
type Callback<'scope, T> =
    Function<'scope, FnArgs<(Option<napi::Error>, Option<T>)>, UnknownReturnValue>;

type Resolver<T> = Box<dyn FnOnce(Env) -> napi::Result<T> + Send>;

/// A Promise settled by `operation`, run on the library runtime. A refusal the operation returns
/// at once (the core's async forms check before they start) rejects the Promise at once.
pub fn promise<T, F>(env: &Env, operation: F) -> napi::Result<Object<'_>>
where
    T: ToNapiValue + Send + 'static,
    F: Future<Output = Outcome<T>> + Send + 'static,
{
    settled_promise(env, None, operation)
}

/// [`promise`] for an async send or request, `call`, which stays unsettled until the Promise is.
pub fn call_promise<T, F>(env: &Env, call: Unsettled, operation: F) -> napi::Result<Object<'_>>
where
    T: ToNapiValue + Send + 'static,
    F: Future<Output = Outcome<T>> + Send + 'static,
{
    settled_promise(env, Some(call), operation)
}

fn settled_promise<T, F>(
    env: &Env,
    call: Option<Unsettled>,
    operation: F,
) -> napi::Result<Object<'_>>
where
    T: ToNapiValue + Send + 'static,
    F: Future<Output = Outcome<T>> + Send + 'static,
{
    let (deferred, promise) = env.create_deferred::<T, Resolver<T>>()?;
    let completion = Completion::new(move |outcome: Outcome<T>| {
        deferred.resolve(Box::new(move |env: Env| {
            // On the JS thread: whatever waits for `call` to settle is answered after this.
            drop(call);
            outcome.map_err(|err| to_js_error(&env, &err))
        }))
    });
    runtime::spawn(async move { completion.complete(operation.await) });
    Ok(promise)
}

/// What the core calls back with the outcome of `call`, to call `callback(err, result)` on the
/// JS thread, after which `call` is settled; `INVALID_ARGUMENT` if `callback` is not a function.
/// An exception thrown by the callback is reported as a process warning
/// (`process.on('warning')`, type `RmqCallbackError`) instead of ending the process as an
/// uncaught exception would.
pub fn node_callback<T: ToNapiValue + Send + 'static>(
    callback: Unknown,
    call: Unsettled,
) -> rmq_core::Result<impl FnOnce(Outcome<T>) + Send + 'static> {
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
        .map_err(|e| Error::internal(format!("cannot hold on to the callback: {}", e.reason)))?;
    Ok(move |outcome: Outcome<T>| {
        // The queue is unbounded, so this never waits; it fails only while Node is exiting,
        // when there is no one left to tell.
        let _ = tsfn.call_with_return_value(
            outcome,
            ThreadsafeFunctionCallMode::NonBlocking,
            |returned, env| {
                drop(call);
                if let Err(thrown) = returned {
                    report_callback_failure(
                        &env,
                        &format!("a send callback threw: {}", thrown.reason),
                    );
                }
                Ok(())
            },
        );
    })
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
