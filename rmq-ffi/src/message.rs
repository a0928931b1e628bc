//! `rmq_message`: a message being built, or one the library hands out (a reply, a checked half
//! message). Setters copy their arguments; the message is validated when it is sent (topic,
//! non-empty body within `max_message_size`, user property names, delay level), so a bad value
//! surfaces as `RMQ_RESULT_INVALID_MESSAGE` from the send call. Getters read it back.

use std::ffi::{CString, c_char};
use std::sync::OnceLock;

use rmq_core::{Error, Message};

use crate::error::{outcome, rmq_result};
use crate::ffi::{check_out, to_c_string, try_bytes, try_mut, try_ref, try_str, write_out};

/// A message (opaque). Sending reads it and never changes it, so one message may be sent many times
/// and from several threads at once, as long as no thread changes it meanwhile.
pub struct rmq_message {
    pub(crate) inner: Message,
    /// The C strings the getters hand out, made on first use and dropped by every setter.
    view: OnceLock<View>,
}

/// The string fields of a message as C strings.
struct View {
    topic: CString,
    tags: Option<CString>,
    keys: Option<CString>,
    properties: Vec<(CString, CString)>,
}

impl rmq_message {
    pub(crate) fn new(inner: Message) -> Self {
        rmq_message {
            inner,
            view: OnceLock::new(),
        }
    }

    fn view(&self) -> &View {
        self.view.get_or_init(|| {
            let m = &self.inner;
            View {
                topic: to_c_string(&m.topic),
                tags: m.tags.as_deref().map(to_c_string),
                keys: (!m.keys.is_empty()).then(|| to_c_string(&m.keys.join(" "))),
                properties: m
                    .properties
                    .iter()
                    .map(|(n, v)| (to_c_string(n), to_c_string(v)))
                    .collect(),
            }
        })
    }
}

/// Runs a setter on a checked message.
unsafe fn update(
    message: *mut rmq_message,
    set: impl FnOnce(&mut Message) -> Result<(), Error>,
) -> rmq_result {
    outcome(unsafe { try_mut(message, "message") }.and_then(|m| {
        m.view = OnceLock::new();
        set(&mut m.inner)
    }))
}

/// An empty message (no topic, empty body). Free it with `rmq_message_free`.
#[unsafe(no_mangle)]
pub extern "C" fn rmq_message_new() -> *mut rmq_message {
    ffi_panic_boundary! {
        Box::into_raw(Box::new(rmq_message::new(Message::new("", Vec::new()))))
    }
}

/// A copy of `message` that the caller owns (e.g. to keep a reply beyond its callback); NULL for
/// NULL. Free it with `rmq_message_free`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rmq_message_clone(message: *const rmq_message) -> *mut rmq_message {
    ffi_panic_boundary! {
        unsafe { try_ref(message, "message") }
            .map_or(std::ptr::null_mut(), |m| Box::into_raw(Box::new(rmq_message::new(m.inner.clone()))))
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

/// Sets the time budget, in milliseconds, of every send of this message, retries included: it
/// replaces the producer's `send_timeout_ms` for those sends (Java's `send(msg, timeout)`); a
/// batch takes the smallest of its messages'. A value outside 1..=86400000 is kept, and each send
/// of the message then fails with `RMQ_RESULT_INVALID_ARGUMENT` before any network traffic.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rmq_message_set_send_timeout_ms(
    message: *mut rmq_message,
    timeout_ms: i64,
) -> rmq_result {
    ffi_panic_boundary! {
        unsafe {
            update(message, |m| {
                m.send_timeout_ms = Some(timeout_ms);
                Ok(())
            })
        }
    }
}

/// A string field of a message, or NULL for a NULL message.
unsafe fn view_field(
    message: *const rmq_message,
    field: impl FnOnce(&View) -> Option<&CString>,
) -> *const c_char {
    unsafe { try_ref(message, "message") }
        .ok()
        .and_then(|m| field(m.view()))
        .map_or(std::ptr::null(), |s| s.as_ptr())
}

// The getters' strings stay valid until the message is changed (by a setter) or freed.

/// The topic (as the application names it, without namespace); NULL for NULL.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rmq_message_topic(message: *const rmq_message) -> *const c_char {
    ffi_panic_boundary! { unsafe { view_field(message, |v| Some(&v.topic)) } }
}

/// The tags, or NULL when there are none (or for NULL).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rmq_message_tags(message: *const rmq_message) -> *const c_char {
    ffi_panic_boundary! { unsafe { view_field(message, |v| v.tags.as_ref()) } }
}

/// The keys separated by spaces, or NULL when there are none (or for NULL).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rmq_message_keys(message: *const rmq_message) -> *const c_char {
    ffi_panic_boundary! { unsafe { view_field(message, |v| v.keys.as_ref()) } }
}

/// The body: returns its bytes (valid until the message is changed or freed) and writes its length
/// to `*len`. NULL for a NULL message or a NULL `len`, and then `*len` is not written.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rmq_message_body(
    message: *const rmq_message,
    len: *mut usize,
) -> *const u8 {
    ffi_panic_boundary! {
        match unsafe { try_ref(message, "message") } {
            Ok(m) if check_out(len).is_ok() => {
                unsafe { write_out(len, m.inner.body.len()) };
                m.inner.body.as_ptr()
            }
            _ => std::ptr::null(),
        }
    }
}

/// The value of user property `name`, or NULL when the message has none of that name (or for a
/// NULL argument or a `name` that is not UTF-8).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rmq_message_property(
    message: *const rmq_message,
    name: *const c_char,
) -> *const c_char {
    ffi_panic_boundary! {
        let Ok(name) = (unsafe { try_str(name, "name") }) else {
            return std::ptr::null();
        };
        unsafe {
            view_field(message, |v| {
                v.properties
                    .iter()
                    .find(|(n, _)| n.to_bytes() == name.as_bytes())
                    .map(|(_, value)| value)
            })
        }
    }
}

/// How many user properties the message has; 0 for NULL. With `rmq_message_property_name` and
/// `rmq_message_property_value` they can be listed in order.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rmq_message_property_count(message: *const rmq_message) -> usize {
    ffi_panic_boundary! {
        unsafe { try_ref(message, "message") }.map_or(0, |m| m.inner.properties.len())
    }
}

/// The name of user property `index` (from 0); NULL when out of range (or for NULL).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rmq_message_property_name(
    message: *const rmq_message,
    index: usize,
) -> *const c_char {
    ffi_panic_boundary! {
        unsafe { view_field(message, |v| v.properties.get(index).map(|(n, _)| n)) }
    }
}

/// The value of user property `index` (from 0); NULL when out of range (or for NULL).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rmq_message_property_value(
    message: *const rmq_message,
    index: usize,
) -> *const c_char {
    ffi_panic_boundary! {
        unsafe { view_field(message, |v| v.properties.get(index).map(|(_, value)| value)) }
    }
}

#[cfg(test)]
mod tests {
    use std::ffi::CStr;

    use super::*;

    /// The C string at `ptr`, which a getter promised valid (Miri checks the promise).
    unsafe fn text<'a>(ptr: *const c_char) -> Option<&'a str> {
        (!ptr.is_null()).then(|| unsafe { CStr::from_ptr(ptr) }.to_str().unwrap())
    }

    #[test]
    fn setters_getters_clone_and_free_through_raw_pointers() {
        unsafe {
            let m = rmq_message_new();
            assert_eq!(rmq_message_set_topic(m, c"T".as_ptr()), rmq_result::Ok);
            assert_eq!(rmq_message_set_tags(m, c"TagA".as_ptr()), rmq_result::Ok);
            assert_eq!(
                rmq_message_set_keys(m, c" k1  k2 ".as_ptr()),
                rmq_result::Ok
            );
            assert_eq!(
                rmq_message_set_body(m, b"\0body".as_ptr(), 5),
                rmq_result::Ok
            );
            assert_eq!(
                rmq_message_set_property(m, c"a".as_ptr(), c"1".as_ptr()),
                rmq_result::Ok
            );
            // A setter drops the strings getters handed out; the next getter makes them anew.
            assert_eq!(text(rmq_message_topic(m)), Some("T"));
            assert_eq!(
                rmq_message_set_property(m, c"a".as_ptr(), c"2".as_ptr()),
                rmq_result::Ok
            );
            assert_eq!(text(rmq_message_property(m, c"a".as_ptr())), Some("2"));
            assert_eq!(text(rmq_message_tags(m)), Some("TagA"));
            assert_eq!(text(rmq_message_keys(m)), Some("k1 k2"));
            assert_eq!(rmq_message_property_count(m), 1);
            assert_eq!(text(rmq_message_property_name(m, 0)), Some("a"));
            assert_eq!(text(rmq_message_property_value(m, 0)), Some("2"));
            assert!(rmq_message_property_name(m, 1).is_null());
            let copy = rmq_message_clone(m);
            rmq_message_free(m);
            let mut len = 0;
            let body = rmq_message_body(copy, &mut len);
            assert_eq!(std::slice::from_raw_parts(body, len), b"\0body");
            assert_eq!(
                rmq_message_set_body(copy, std::ptr::null(), 0),
                rmq_result::Ok
            );
            assert_eq!(
                rmq_message_set_body(copy, std::ptr::null(), 1),
                rmq_result::InvalidArgument
            );
            assert_eq!(
                rmq_message_set_topic(copy, std::ptr::null()),
                rmq_result::InvalidArgument
            );
            assert!(rmq_message_body(copy, std::ptr::null_mut()).is_null());
            rmq_message_free(copy);
            assert!(rmq_message_topic(std::ptr::null()).is_null());
            assert!(rmq_message_clone(std::ptr::null()).is_null());
            rmq_message_free(std::ptr::null_mut());
        }
    }
}
