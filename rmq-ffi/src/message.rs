//! `rmq_message`: a message being built. Setters copy their arguments; the message is validated
//! when it is sent (topic, non-empty body within `max_message_size`, user property names, delay
//! level), so a bad value surfaces as `RMQ_RESULT_INVALID_MESSAGE` from the send call.

use std::ffi::c_char;

use rmq_core::{Error, Message};

use crate::error::{outcome, rmq_result};
use crate::ffi::{try_bytes, try_mut, try_str};

/// A message (opaque). Sending reads it and never changes it, so one message may be sent many times
/// and from several threads at once, as long as no thread changes it meanwhile.
pub struct rmq_message {
    pub(crate) inner: Message,
}

/// Runs a setter on a checked message.
unsafe fn update(
    message: *mut rmq_message,
    set: impl FnOnce(&mut Message) -> Result<(), Error>,
) -> rmq_result {
    outcome(unsafe { try_mut(message, "message") }.and_then(|m| set(&mut m.inner)))
}

/// An empty message (no topic, empty body). Free it with `rmq_message_free`.
#[unsafe(no_mangle)]
pub extern "C" fn rmq_message_new() -> *mut rmq_message {
    ffi_panic_boundary! {
        Box::into_raw(Box::new(rmq_message {
            inner: Message::new("", Vec::new()),
        }))
    }
}

/// Frees a message; NULL is a no-op. A message may be freed as soon as the send call that used it
/// returns, even for `rmq_producer_send_async`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rmq_message_free(message: *mut rmq_message) {
    ffi_panic_boundary! {
        if !message.is_null() {
            drop(unsafe { Box::from_raw(message) });
        }
    }
}

/// Sets the topic (NUL-terminated UTF-8).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rmq_message_set_topic(
    message: *mut rmq_message,
    topic: *const c_char,
) -> rmq_result {
    ffi_panic_boundary! {
        unsafe {
            update(message, |m| {
                m.topic = try_str(topic, "topic")?.to_owned();
                Ok(())
            })
        }
    }
}

/// Sets the tags (one tag in practice, e.g. `"TagA"`); an empty string clears them.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rmq_message_set_tags(
    message: *mut rmq_message,
    tags: *const c_char,
) -> rmq_result {
    ffi_panic_boundary! {
        unsafe {
            update(message, |m| {
                let tags = try_str(tags, "tags")?;
                m.tags = (!tags.is_empty()).then(|| tags.to_owned());
                Ok(())
            })
        }
    }
}

/// Sets the keys the broker indexes the message by, separated by spaces (`"order-1 user-7"`);
/// an empty string clears them.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rmq_message_set_keys(
    message: *mut rmq_message,
    keys: *const c_char,
) -> rmq_result {
    ffi_panic_boundary! {
        unsafe {
            update(message, |m| {
                m.keys = try_str(keys, "keys")?.split_whitespace().map(str::to_owned).collect();
                Ok(())
            })
        }
    }
}

/// Sets the body to a copy of the `len` bytes at `body` (binary-safe; `body` may be NULL when
/// `len` is 0, but an empty body is refused when sent).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rmq_message_set_body(
    message: *mut rmq_message,
    body: *const u8,
    len: usize,
) -> rmq_result {
    ffi_panic_boundary! {
        unsafe {
            update(message, |m| {
                m.body = try_bytes(body, len, "body")?.to_vec().into();
                Ok(())
            })
        }
    }
}

/// Sets user property `name` to `value` (both UTF-8), replacing an earlier value of `name`.
/// Names of system properties (`KEYS`, `TAGS`, `UNIQ_KEY`...) are refused when sent.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rmq_message_set_property(
    message: *mut rmq_message,
    name: *const c_char,
    value: *const c_char,
) -> rmq_result {
    ffi_panic_boundary! {
        unsafe {
            update(message, |m| {
                let name = try_str(name, "name")?;
                let value = try_str(value, "value")?.to_owned();
                match m.properties.iter_mut().find(|(n, _)| n == name) {
                    Some(existing) => existing.1 = value,
                    None => m.properties.push((name.to_owned(), value)),
                }
                Ok(())
            })
        }
    }
}

/// Sets the delay level (1..=18, the broker's `messageDelayLevel` table: 1s 5s 10s 30s 1m ...);
/// 0 clears it.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rmq_message_set_delay_level(
    message: *mut rmq_message,
    level: i32,
) -> rmq_result {
    ffi_panic_boundary! {
        unsafe {
            update(message, |m| {
                m.delay_level = (level != 0).then_some(level);
                Ok(())
            })
        }
    }
}

/// Sets an absolute delivery time, in milliseconds since the Unix epoch (RocketMQ 5 timer
/// messages); 0 clears it.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rmq_message_set_deliver_time_ms(
    message: *mut rmq_message,
    epoch_ms: i64,
) -> rmq_result {
    ffi_panic_boundary! {
        unsafe {
            update(message, |m| {
                m.deliver_time_ms = (epoch_ms != 0).then_some(epoch_ms);
                Ok(())
            })
        }
    }
}
