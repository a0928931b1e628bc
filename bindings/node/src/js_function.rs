//! A JS function the library calls from its own threads: selectors, local transactions,
//! transaction checks and send hooks.
//!
//! The call is queued to the JS thread (never waited for there), and the function's answer, a
//! value or a Promise of one, comes back to the Rust side through a channel. The underlying
//! threadsafe function is unref'd: holding one never keeps Node's event loop alive, so a
//! producer with a checker or hooks does not stop a script from exiting. Whatever the function
//! does (throw, reject, answer nonsense) ends up as an `Err` describing it, never as an uncaught
//! exception.

use std::cell::Cell;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::Duration;

use napi::bindgen_prelude::JsValuesTupleIntoVec;
use napi::bindgen_prelude::{
    CallbackContext, FromNapiValue, Function, JsValue, PromiseRaw, Unknown,
};
use napi::threadsafe_function::{
    ThreadsafeCallContext, ThreadsafeFunction, ThreadsafeFunctionCallMode,
};
use napi::{Env, Status, ValueType};
use rmq_core::Error;
use tokio::sync::oneshot;

use crate::completion::report_callback_failure;

/// What went wrong with a call, in words fit for an error message ("threw: ...").
pub type CallFailure = String;

type Tsfn<V, Args> = ThreadsafeFunction<V, Unknown<'static>, Args, Status, false, true>;

pub struct JsFunction<V: 'static, Args: 'static + JsValuesTupleIntoVec> {
    tsfn: Arc<Tsfn<V, Args>>,
    /// Set for functions whose failures the caller never sees otherwise (hooks, transaction
    /// functions): the name their failures are reported under as process warnings.
    warn_as: Option<&'static str>,
    /// Set for a function called so often (the logger) that only its first failure is reported.
    warned_once: Option<Arc<AtomicBool>>,
}

impl<V: 'static, Args: 'static + JsValuesTupleIntoVec> Clone for JsFunction<V, Args> {
    fn clone(&self) -> Self {
        JsFunction {
            tsfn: self.tsfn.clone(),
            warn_as: self.warn_as,
            warned_once: self.warned_once.clone(),
        }
    }
}

impl<V: Send + 'static, Args: 'static + JsValuesTupleIntoVec> JsFunction<V, Args> {
    /// Holds on to `function` (`INVALID_ARGUMENT`, naming it `role`, if it is not a function).
    /// `to_args` turns the Rust value of each call into the JS arguments, on the JS thread.
    /// With `warn` set, each failure of the function is also a process warning.
    pub fn new(
        function: Unknown,
        role: &'static str,
        warn: bool,
        to_args: impl FnMut(Env, V) -> napi::Result<Args> + 'static,
    ) -> rmq_core::Result<Self> {
        if function.get_type().ok() != Some(ValueType::Function) {
            return Err(Error::invalid_argument(format!(
                "the {role} must be a function"
            )));
        }
        // SAFETY: the value was just checked to be a function.
        let function: Function<Args, Unknown<'static>> = unsafe { function.cast() }
            .map_err(|e| Error::invalid_argument(format!("bad {role}: {}", e.reason)))?;
        let mut to_args = to_args;
        let tsfn = function
            .build_threadsafe_function::<V>()
            .callee_handled::<false>()
            .weak::<true>()
            .build_callback(move |ctx: ThreadsafeCallContext<V>| to_args(ctx.env, ctx.value))
            .map_err(|e| Error::internal(format!("cannot hold on to the {role}: {}", e.reason)))?;
        Ok(JsFunction {
            tsfn: Arc::new(tsfn),
            warn_as: warn.then_some(role),
            warned_once: None,
        })
    }

    /// Reports only the first failure of the function as a process warning (with `warn` set).
    #[cfg_attr(test, allow(dead_code))] // used by `setLogger` only, which tests do not build
    pub fn warn_once(mut self) -> Self {
        self.warned_once = Some(Arc::new(AtomicBool::new(false)));
        self
    }

    /// Calls the function with `value` and hands its answer, converted to `T` (a Promise is
    /// awaited first), to `answer` on the JS thread. Should the call never happen (Node is
    /// exiting), `answer` is dropped uncalled.
    pub fn call<T, A>(&self, value: V, answer: A)
    where
        T: FromNapiValue + Send + 'static,
        A: FnOnce(Result<T, CallFailure>) + Send + 'static,
    {
        let warn_as = self.warn_as;
        let warned_once = self.warned_once.clone();
        // The queue is unbounded, so this never waits.
        self.tsfn.call_with_return_value(
            value,
            ThreadsafeFunctionCallMode::NonBlocking,
            move |returned, env| {
                // A function that warns once has warned when the flag is already set.
                let warn_as = warn_as.filter(|_| {
                    warned_once
                        .as_ref()
                        .is_none_or(|warned| !warned.load(Ordering::Relaxed))
                });
                let answer = move |outcome: Result<T, CallFailure>| {
                    if outcome.is_err()
                        && let Some(warned) = &warned_once
                    {
                        warned.store(true, Ordering::Relaxed);
                    }
                    answer(outcome)
                };
                settle(&env, returned, warn_as, answer);
                Ok(())
            },
        );
    }

    /// Calls the function and waits for its answer without blocking any thread.
    pub async fn ask<T: FromNapiValue + Send + 'static>(&self, value: V) -> Result<T, CallFailure> {
        let (tx, rx) = oneshot::channel();
        self.call(value, move |answer| {
            let _ = tx.send(answer);
        });
        rx.await.unwrap_or_else(|_| Err(unanswered()))
    }

    /// Calls the function and blocks the calling thread, which must not be the JS thread nor a
    /// runtime thread, until it answers or `bound` passes.
    pub fn ask_blocking<T: FromNapiValue + Send + 'static>(
        &self,
        value: V,
        bound: Duration,
    ) -> Result<T, CallFailure> {
        let (tx, rx) = mpsc::sync_channel(1);
        self.call(value, move |answer| {
            let _ = tx.send(answer);
        });
        match rx.recv_timeout(bound) {
            Ok(answer) => answer,
            Err(mpsc::RecvTimeoutError::Timeout) => {
                Err(format!("did not answer within {} ms", bound.as_millis()))
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => Err(unanswered()),
        }
    }
}

fn unanswered() -> CallFailure {
    "was not called (Node is shutting down)".to_string()
}

/// On the JS thread: the function's return value (or exception) as `T`, now or, for a
/// Promise, once it settles; a failure is also reported as a process warning when the
/// function was made with a `warn_as` name.
fn settle<T, A>(
    env: &Env,
    returned: napi::Result<Unknown<'static>>,
    warn_as: Option<&'static str>,
    answer: A,
) where
    T: FromNapiValue + Send + 'static,
    A: FnOnce(Result<T, CallFailure>) + Send + 'static,
{
    let finish = move |env: &Env, outcome: Result<T, CallFailure>| {
        if let (Err(failure), Some(role)) = (&outcome, warn_as) {
            report_callback_failure(env, &format!("the {role} {failure}"));
        }
        answer(outcome)
    };
    let value = match returned {
        Ok(value) => value,
        Err(thrown) => return finish(env, Err(format!("threw: {}", thrown.reason))),
    };
    if !value.is_promise().unwrap_or(false) {
        return finish(env, answer_as::<T>(&value));
    }
    // Exactly one of the two reactions runs; both share the one `finish`.
    let on_fulfil = Rc::new(Cell::new(Some(finish)));
    let on_reject = on_fulfil.clone();
    let on_failure = on_fulfil.clone();
    // SAFETY: the value was just checked to be a Promise.
    let attached = unsafe { value.cast::<PromiseRaw<Unknown<'static>>>() }.and_then(|promise| {
        promise
            .then(move |ctx| {
                if let Some(finish) = on_fulfil.take() {
                    finish(&ctx.env, answer_as::<T>(&ctx.value));
                }
                Ok(())
            })?
            .catch(move |ctx: CallbackContext<Unknown<'static>>| {
                if let Some(finish) = on_reject.take() {
                    let reason = describe(&ctx.value);
                    finish(
                        &ctx.env,
                        Err(format!("returned a Promise that rejected: {reason}")),
                    );
                }
                Ok(())
            })
    });
    if let Err(e) = attached
        && let Some(finish) = on_failure.take()
    {
        finish(
            env,
            Err(format!("returned an unusable Promise: {}", e.reason)),
        );
    }
}

/// The answer as `T`; the conversion checks its type.
fn answer_as<T: FromNapiValue>(value: &Unknown) -> Result<T, CallFailure> {
    // SAFETY: `T`'s conversion checks the value's type itself.
    unsafe { value.cast::<T>() }.map_err(|_| format!("returned {}", describe(value)))
}

/// A JS value in words, for error messages.
fn describe(value: &Unknown) -> String {
    value
        .coerce_to_string()
        .and_then(|s| s.into_utf8())
        .and_then(|s| s.into_owned())
        .unwrap_or_else(|_| "a value that cannot be shown".to_string())
}
