//! `new Producer({ group, namesrv, ...options })`: JS option names to the core's string options.
//!
//! Every core option (`rmq_core::producer::OPTIONS`) is accepted under its camelCase name
//! (`send_timeout_ms` → `sendTimeoutMs`), except `namesrv_addr`, which JS calls `namesrv`. Values
//! are stringified and parsed by the core, so the rules and defaults live in one place.

use napi::ValueType;
use napi::bindgen_prelude::{JsObjectValue, JsValue, Object, Unknown};
use rmq_core::producer::{OPTIONS, is_test_option, js_option_name};
use rmq_core::{Error, ProducerConfig};

/// The producer configuration described by the constructor's `options` object.
pub fn config_from_js(options: Unknown) -> rmq_core::Result<ProducerConfig> {
    let not_an_object = || Error::invalid_argument("the producer options must be an object");
    if options.get_type().map_err(|_| not_an_object())? != ValueType::Object {
        return Err(not_an_object());
    }
    let options: Object = options.coerce_to_object().map_err(|_| not_an_object())?;

    let known: Vec<(String, &str)> = OPTIONS
        .iter()
        .map(|option| (js_option_name(option.key), option.key))
        .collect();
    let mut config = ProducerConfig::new("");
    let mut group_given = false;
    for name in own_keys(&options)? {
        let core_key = match known.iter().find(|(js, _)| *js == name) {
            Some((_, core_key)) => *core_key,
            None if is_test_option(&name) => name.as_str(),
            None => {
                let names: Vec<&str> = known.iter().map(|(js, _)| js.as_str()).collect();
                return Err(Error::invalid_argument(format!(
                    "unknown producer option '{name}' (known: {})",
                    names.join(", ")
                )));
            }
        };
        let value: Unknown = options.get_named_property(&name).map_err(js_failure)?;
        let Some(value) = option_value(&name, value)? else {
            continue;
        };
        config
            .set(core_key, &value)
            .map_err(|e| e.context(format!("option '{name}'")))?;
        group_given |= core_key == "group";
    }
    if !group_given {
        return Err(Error::invalid_argument(
            "the producer options need a 'group' (the producer group name)",
        ));
    }
    Ok(config)
}

fn own_keys(options: &Object) -> rmq_core::Result<Vec<String>> {
    let names = options.get_property_names().map_err(js_failure)?;
    let count = names.get_array_length().map_err(js_failure)?;
    (0..count)
        .map(|i| names.get_element::<String>(i).map_err(js_failure))
        .collect()
}

/// The option's value as the core's string; `None` for `undefined` and `null` (not given).
fn option_value(name: &str, value: Unknown) -> rmq_core::Result<Option<String>> {
    match value.get_type().map_err(js_failure)? {
        ValueType::Undefined | ValueType::Null => Ok(None),
        ValueType::String | ValueType::Number | ValueType::Boolean => value
            .coerce_to_string()
            .and_then(|s| s.into_utf8())
            .and_then(|s| s.into_owned())
            .map(Some)
            .map_err(js_failure),
        _ => Err(Error::invalid_argument(format!(
            "option '{name}' must be a string, a number or a boolean"
        ))),
    }
}

/// A failure of the JS engine itself while reading the options (a throwing getter, say).
fn js_failure(err: napi::Error) -> Error {
    Error::invalid_argument(format!(
        "the producer options could not be read: {}",
        err.reason
    ))
}
