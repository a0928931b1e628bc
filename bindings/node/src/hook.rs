//! `producer.addSendHook({ before, after })`: JS functions called around every send attempt.
//!
//! The core calls hooks on its runtime threads and must not wait for JS, so each call is only
//! queued to the JS thread: a hook sees every attempt, in order, shortly after it happens, and
//! cannot slow a send down. A hook that throws is reported as a process warning.

use napi::bindgen_prelude::{FnArgs, Function, JsObjectValue, Object, Unknown};
use napi::threadsafe_function::UnknownReturnValue;
use napi::{Env, ValueType};
use napi_derive::napi;
use rmq_core::Error;
use rmq_core::producer::{SendContext as CoreContext, SendHook, SendOutcome as CoreOutcome};

use crate::error::to_js_error;
use crate::js_function::JsFunction;
use crate::message::{MessageQueue, SendResult};

/// One attempt to send to a broker, as a send hook sees it.
#[napi(object, object_from_js = false)]
pub struct SendContext {
    pub group: String,
    /// The queue (topic as the user named it).
    pub queue: MessageQueue,
    /// The broker master's address.
    pub broker_addr: String,
    /// The UNIQ_KEY (a batch: its messages' ids joined with ',').
    pub msg_id: String,
    /// 0 for the first attempt of a send, 1 for its first retry, ...
    pub attempt: u32,
    pub batch: bool,
    pub oneway: bool,
}

impl From<&CoreContext<'_>> for SendContext {
    fn from(ctx: &CoreContext<'_>) -> Self {
        SendContext {
            group: ctx.group.to_string(),
            queue: ctx.queue.clone().into(),
            broker_addr: ctx.broker_addr.to_string(),
            msg_id: ctx.msg_id.to_string(),
            attempt: ctx.attempt,
            batch: ctx.batch,
            oneway: ctx.oneway,
        }
    }
}

/// How a send attempt ended, as the core reports it (owned, to cross to the JS thread).
pub enum Outcome {
    Stored(rmq_core::SendResult),
    Written,
    Failed(Error),
}

/// How a send attempt ended, as a send hook sees it.
#[napi(object, object_from_js = false)]
pub struct SendOutcome {
    /// How long the attempt took.
    pub latency_ms: f64,
    /// `'STORED'` (the broker answered: `result`), `'WRITTEN'` (a oneway request went out) or
    /// `'FAILED'` (`error`).
    #[napi(ts_type = "'STORED' | 'WRITTEN' | 'FAILED'")]
    pub kind: String,
    pub result: Option<SendResult>,
    #[napi(ts_type = "RmqError")]
    pub error: Option<napi::Error>,
}

/// One call of a hook, as the core makes it (owned, to cross to the JS thread).
pub enum HookCall {
    Before(SendContext),
    After(SendContext, f64, Outcome),
}

/// Makes the one function through which every call of a hook object goes, `this` bound to the
/// object, so that a hook's calls reach it in the order they were made (`before` of an attempt
/// ahead of its `after`).
const DISPATCHER: &str = "(function (hook) {
  return function (kind, ctx, outcome) {
    return kind === 'before' ? hook.before(ctx) : hook.after(ctx, outcome)
  }
})";

type Dispatch = JsFunction<HookCall, FnArgs<(String, SendContext, Option<SendOutcome>)>>;

pub struct JsSendHook {
    dispatch: Dispatch,
    has_before: bool,
    has_after: bool,
}

impl JsSendHook {
    /// The hook described by `{ before?, after? }`; `INVALID_ARGUMENT` if it is not an object
    /// or a member given is not a function.
    pub fn from_js(env: &Env, hook: Unknown) -> rmq_core::Result<Self> {
        let not_a_hook = || {
            Error::invalid_argument(
                "the send hook must be an object { before?(ctx), after?(ctx, outcome) }",
            )
        };
        if hook.get_type().map_err(|_| not_a_hook())? != ValueType::Object {
            return Err(not_a_hook());
        }
        // SAFETY: the value was just checked to be an object.
        let hook: Object = unsafe { hook.cast() }.map_err(|_| not_a_hook())?;
        let has = |name: &str| -> rmq_core::Result<bool> {
            let value: Unknown = hook.get_named_property(name).map_err(|_| not_a_hook())?;
            match value.get_type().map_err(|_| not_a_hook())? {
                ValueType::Undefined | ValueType::Null => Ok(false),
                ValueType::Function => Ok(true),
                _ => Err(not_a_hook()),
            }
        };
        let (has_before, has_after) = (has("before")?, has("after")?);
        let engine =
            |e: napi::Error| Error::internal(format!("cannot set up the send hook: {}", e.reason));
        let make: Function<FnArgs<(Object,)>, Unknown> =
            env.run_script(DISPATCHER).map_err(engine)?;
        let dispatch = make.call(FnArgs::from((hook,))).map_err(engine)?;
        let dispatch = JsFunction::new(dispatch, "send hook", true, |env: Env, call| {
            Ok(match call {
                HookCall::Before(ctx) => FnArgs::from(("before".to_string(), ctx, None)),
                HookCall::After(ctx, latency_ms, outcome) => FnArgs::from((
                    "after".to_string(),
                    ctx,
                    Some(js_outcome(&env, latency_ms, outcome)),
                )),
            })
        })?;
        Ok(JsSendHook {
            dispatch,
            has_before,
            has_after,
        })
    }
}

fn js_outcome(env: &Env, latency_ms: f64, outcome: Outcome) -> SendOutcome {
    let (kind, result, error) = match outcome {
        Outcome::Stored(result) => ("STORED", Some(result.into()), None),
        Outcome::Written => ("WRITTEN", None, None),
        Outcome::Failed(err) => ("FAILED", None, Some(to_js_error(env, &err))),
    };
    SendOutcome {
        latency_ms,
        kind: kind.to_string(),
        result,
        error,
    }
}

impl SendHook for JsSendHook {
    fn before_send(&self, ctx: &CoreContext<'_>) {
        if self.has_before {
            let call = HookCall::Before(ctx.into());
            self.dispatch.call::<UnknownReturnValue, _>(call, |_| {});
        }
    }

    fn after_send(
        &self,
        ctx: &CoreContext<'_>,
        latency: std::time::Duration,
        outcome: CoreOutcome<'_>,
    ) {
        if self.has_after {
            let outcome = match outcome {
                CoreOutcome::Stored(result) => Outcome::Stored(result.clone()),
                CoreOutcome::Written => Outcome::Written,
                CoreOutcome::Failed(err) => Outcome::Failed(err.clone()),
            };
            let call = HookCall::After(ctx.into(), latency.as_secs_f64() * 1000.0, outcome);
            self.dispatch.call::<UnknownReturnValue, _>(call, |_| {});
        }
    }
}
