//! The producer's statistics in JS: `producer.stats()` and the function of
//! `producer.setStatisticsCallback(fn)`, both given the core's snapshot as a plain object (its
//! JSON, parsed by the engine: one conversion for every field the core has).

use napi::bindgen_prelude::{FnArgs, Function, JsObjectValue, Object, Unknown};
use napi::threadsafe_function::UnknownReturnValue;
use napi::{Env, ValueType};
use rmq_core::Error;
use rmq_core::producer::{StatisticsCallback, Stats};
use std::sync::Arc;

use crate::js_function::JsFunction;

/// `JSON.parse(json)`.
pub fn parse_json<'env>(env: &'env Env, json: &str) -> napi::Result<Unknown<'env>> {
    let json_namespace: Object = env.get_global()?.get_named_property("JSON")?;
    let parse: Function<FnArgs<(&str,)>, Unknown> = json_namespace.get_named_property("parse")?;
    parse.call(FnArgs::from((json,)))
}

/// Calls the user's function with the parsed snapshot.
const PARSE_THEN_CALL: &str = "(function (callback) {
  return function (json) { return callback(JSON.parse(json)) }
})";

/// The core's statistics callback for `callback`: on the JS thread, through an unref'd
/// threadsafe function; only its first failure becomes a process warning.
pub fn statistics_callback(env: &Env, callback: Unknown) -> rmq_core::Result<StatisticsCallback> {
    if callback.get_type().ok() != Some(ValueType::Function) {
        return Err(Error::invalid_argument(
            "the statistics callback must be a function",
        ));
    }
    let engine = |e: napi::Error| {
        Error::internal(format!("cannot hold the statistics callback: {}", e.reason))
    };
    let make: Function<FnArgs<(Unknown,)>, Unknown> =
        env.run_script(PARSE_THEN_CALL).map_err(engine)?;
    let wrapped = make.call(FnArgs::from((callback,))).map_err(engine)?;
    let function = JsFunction::new(
        wrapped,
        "statistics callback",
        true,
        |_: Env, json: String| Ok(FnArgs::from((json,))),
    )?
    .warn_once();
    Ok(Arc::new(move |stats: &Stats| {
        function.call::<UnknownReturnValue, _>(stats.to_json(), |_| {});
    }))
}
