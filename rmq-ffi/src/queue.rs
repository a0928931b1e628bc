//! Sends to a queue the application chooses: `rmq_message_queue`, the list of a topic's publish
//! queues, and sends to an explicit queue, by a selector callback, or by a sharding key. These are
//! one attempt each, never retried on another broker (Java's `send(msg, mq)` and
//! `send(msg, selector, arg)`).

use std::ffi::{CString, c_char, c_void};
use std::future::ready;

use rmq_core::{Error, Message, MessageQueue, QueueSelection};

use crate::deliveries::{Callback, rmq_delivery_cb, room_wait};
use crate::error::{outcome, rmq_result};
use crate::ffi::{check_out, to_c_string, try_ref, try_str, write_out};
use crate::message::rmq_message;
use crate::producer::rmq_producer;
use crate::send_result::rmq_send_result;

/// A queue of a topic on one broker (opaque): topic, broker name and queue id.
pub struct rmq_message_queue {
    pub(crate) inner: MessageQueue,
    topic: CString,
    broker_name: CString,
}

impl rmq_message_queue {
    fn new(inner: MessageQueue) -> Self {
        rmq_message_queue {
            topic: to_c_string(&inner.topic),
            broker_name: to_c_string(&inner.broker_name),
            inner,
        }
    }
}

/// The writable queues of a topic (opaque), in Java's order: brokers by name, then queue id.
pub struct rmq_queue_list {
    queues: Vec<rmq_message_queue>,
}

impl rmq_queue_list {
    fn new(queues: &[MessageQueue]) -> Self {
        rmq_queue_list {
            queues: queues.iter().cloned().map(rmq_message_queue::new).collect(),
        }
    }
}

/// Makes a queue (e.g. to send to the same queue again) and writes it to `*out`; free it with
/// `rmq_message_queue_free`. A negative `queue_id` is `RMQ_RESULT_INVALID_ARGUMENT`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rmq_message_queue_new(
    topic: *const c_char,
    broker_name: *const c_char,
    queue_id: i32,
    out: *mut *mut rmq_message_queue,
) -> rmq_result {
    ffi_panic_boundary! {
        outcome((|| {
            let topic = unsafe { try_str(topic, "topic") }?.to_owned();
            let broker_name = unsafe { try_str(broker_name, "broker_name") }?.to_owned();
            check_out(out)?;
            if queue_id < 0 {
                return Err(Error::invalid_argument(format!("queue_id {queue_id} is negative")));
            }
            let queue = rmq_message_queue::new(MessageQueue { topic, broker_name, queue_id });
            unsafe { write_out(out, Box::into_raw(Box::new(queue))) };
            Ok(())
        })())
    }
}

/// A copy of `queue` that the caller owns (e.g. one taken from a list); NULL for NULL.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rmq_message_queue_clone(
    queue: *const rmq_message_queue,
) -> *mut rmq_message_queue {
    ffi_panic_boundary! {
        unsafe { try_ref(queue, "queue") }.map_or(std::ptr::null_mut(), |q| {
            Box::into_raw(Box::new(rmq_message_queue::new(q.inner.clone())))
        })
    }
}

/// The queue's topic; NULL for NULL.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rmq_message_queue_topic(queue: *const rmq_message_queue) -> *const c_char {
    ffi_panic_boundary! {
        unsafe { try_ref(queue, "queue") }.map_or(std::ptr::null(), |q| q.topic.as_ptr())
    }
}

/// The name of the queue's broker (e.g. `"broker-a"`); NULL for NULL.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rmq_message_queue_broker_name(
    queue: *const rmq_message_queue,
) -> *const c_char {
    ffi_panic_boundary! {
        unsafe { try_ref(queue, "queue") }.map_or(std::ptr::null(), |q| q.broker_name.as_ptr())
    }
}

/// The queue's id on its broker; -1 for NULL.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rmq_message_queue_queue_id(queue: *const rmq_message_queue) -> i32 {
    ffi_panic_boundary! {
        unsafe { try_ref(queue, "queue") }.map_or(-1, |q| q.inner.queue_id)
    }
}

/// Frees a queue made by `rmq_message_queue_new` or `_clone`; NULL is a no-op. Never free a
/// queue that belongs to a list.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rmq_message_queue_free(queue: *mut rmq_message_queue) {
    ffi_panic_boundary! {
        if !queue.is_null() {
            drop(unsafe { Box::from_raw(queue) });
        }
    }
}

/// How many queues the list has; 0 for NULL.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rmq_queue_list_len(list: *const rmq_queue_list) -> usize {
    ffi_panic_boundary! {
        unsafe { try_ref(list, "list") }.map_or(0, |l| l.queues.len())
    }
}

/// Queue `index` (from 0) of the list, valid as long as the list; NULL when out of range (or for
/// NULL).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rmq_queue_list_get(
    list: *const rmq_queue_list,
    index: usize,
) -> *const rmq_message_queue {
    ffi_panic_boundary! {
        unsafe { try_ref(list, "list") }
            .ok()
            .and_then(|l| l.queues.get(index))
            .map_or(std::ptr::null(), std::ptr::from_ref)
    }
}

/// Frees a list made by `rmq_producer_publish_queues`; NULL is a no-op. Never free the list a
/// selector is handed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rmq_queue_list_free(list: *mut rmq_queue_list) {
    ffi_panic_boundary! {
        if !list.is_null() {
            drop(unsafe { Box::from_raw(list) });
        }
    }
}

/// Writes the writable queues of `topic` to `*out` (free the list with `rmq_queue_list_free`), in
/// the order selectors see them. Asks the name server for the route when the producer has none
/// yet (blocking, within `send_timeout_ms`). Needs a started producer.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rmq_producer_publish_queues(
    producer: *mut rmq_producer,
    topic: *const c_char,
    out: *mut *mut rmq_queue_list,
) -> rmq_result {
    ffi_panic_boundary! {
        outcome((|| {
            let producer = unsafe { try_ref(producer.cast_const(), "producer") }?;
            let topic = unsafe { try_str(topic, "topic") }?.to_owned();
            check_out(out)?;
            let queues = producer.block(|core| async move { core.publish_queues(&topic).await })?;
            unsafe { write_out(out, Box::into_raw(Box::new(rmq_queue_list::new(&queues)))) };
            Ok(())
        })())
    }
}

/// Sends with `selection` (SYNC, one attempt) and writes the result to `*out`.
unsafe fn send_to(
    producer: *mut rmq_producer,
    message: *const rmq_message,
    out: *mut *mut rmq_send_result,
    selection: impl FnOnce() -> Result<QueueSelection, Error>,
) -> Result<(), Error> {
    let producer = unsafe { try_ref(producer.cast_const(), "producer") }?;
    let message = unsafe { try_ref(message, "message") }?.inner.clone();
    check_out(out)?;
    let selection = selection()?;
    let result = producer.block(|core| async move { core.send_to(message, selection).await })?;
    unsafe { write_out(out, Box::into_raw(Box::new(rmq_send_result::new(&result)))) };
    Ok(())
}

/// SYNC send to exactly `queue` (one attempt, no retry on another broker); the queue's topic must
/// be the message's (else `RMQ_RESULT_INVALID_ARGUMENT`). Writes the result to `*out` as
/// `rmq_producer_send_sync` does.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rmq_producer_send_to_queue(
    producer: *mut rmq_producer,
    message: *const rmq_message,
    queue: *const rmq_message_queue,
    out: *mut *mut rmq_send_result,
) -> rmq_result {
    ffi_panic_boundary! {
        outcome(unsafe {
            send_to(producer, message, out, || {
                let queue = try_ref(queue, "queue")?;
                Ok(QueueSelection::Queue(queue.inner.clone()))
            })
        })
    }
}

/// SYNC send to the queue Java's `SelectMessageQueueByHash` picks for `sharding_key` (one attempt):
/// messages with one key keep their order in one queue, the same queue the Java client would use
/// as long as the topic's queues stay the same.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rmq_producer_send_with_sharding_key(
    producer: *mut rmq_producer,
    message: *const rmq_message,
    sharding_key: *const c_char,
    out: *mut *mut rmq_send_result,
) -> rmq_result {
    ffi_panic_boundary! {
        outcome(unsafe {
            send_to(producer, message, out, || {
                let key = try_str(sharding_key, "sharding_key")?;
                Ok(QueueSelection::ShardingKey(key.to_owned()))
            })
        })
    }
}

/// Sends with `selection` in ASYNC mode (one attempt); `callback` runs exactly once when this
/// returns `Ok`.
unsafe fn send_to_async(
    producer: *mut rmq_producer,
    message: *const rmq_message,
    callback: rmq_delivery_cb,
    userdata: *mut c_void,
    selection: impl FnOnce() -> Result<QueueSelection, Error>,
) -> Result<(), Error> {
    let producer = unsafe { try_ref(producer.cast_const(), "producer") }?;
    let message = unsafe { try_ref(message, "message") }?.inner.clone();
    let callback = callback.ok_or_else(|| Error::invalid_argument("callback is NULL"))?;
    let selection = selection()?;
    let callback = producer
        .deliveries
        .core_callback(Callback::new(callback, userdata).into_delivery());
    producer
        .core
        .try_send_to_with_callback(message, selection, room_wait(), callback)
}

/// `rmq_producer_send_to_queue` in ASYNC mode: returns at once, and `callback` is called exactly
/// once with `userdata` and the outcome, where `callback_mode` says, as for
/// `rmq_producer_send_async` (also what it refuses, and where it waits for room; a queue of
/// another topic reaches the callback as `RMQ_RESULT_INVALID_ARGUMENT`).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rmq_producer_send_to_queue_async(
    producer: *mut rmq_producer,
    message: *const rmq_message,
    queue: *const rmq_message_queue,
    callback: rmq_delivery_cb,
    userdata: *mut c_void,
) -> rmq_result {
    ffi_panic_boundary! {
        outcome(unsafe {
            send_to_async(producer, message, callback, userdata, || {
                let queue = try_ref(queue, "queue")?;
                Ok(QueueSelection::Queue(queue.inner.clone()))
            })
        })
    }
}

/// `rmq_producer_send_with_sharding_key` in ASYNC mode, with a callback as
/// `rmq_producer_send_to_queue_async`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rmq_producer_send_with_sharding_key_async(
    producer: *mut rmq_producer,
    message: *const rmq_message,
    sharding_key: *const c_char,
    callback: rmq_delivery_cb,
    userdata: *mut c_void,
) -> rmq_result {
    ffi_panic_boundary! {
        outcome(unsafe {
            send_to_async(producer, message, callback, userdata, || {
                let key = try_str(sharding_key, "sharding_key")?;
                Ok(QueueSelection::ShardingKey(key.to_owned()))
            })
        })
    }
}

/// A queue selector: returns the index (from 0) of the queue to send to among `queues`, the
/// topic's writable queues in Java's order. `message` is the message being sent. Both are valid
/// only during the call.
///
/// It runs once per send, on a library thread, while the thread that called
/// `rmq_producer_send_with_selector` waits; `userdata` must be usable from there. Inside it,
/// blocking calls of the library return `RMQ_RESULT_ILLEGAL_STATE`. An index out of range
/// (negative, or not below `rmq_queue_list_len(queues)`) fails the send with
/// `RMQ_RESULT_INVALID_ARGUMENT`. It must return normally (no `longjmp`, no C++ exception).
pub type rmq_queue_selector_cb = Option<
    unsafe extern "C" fn(
        userdata: *mut c_void,
        queues: *const rmq_queue_list,
        message: *const rmq_message,
    ) -> i32,
>;

/// The selector with its userdata, for the library thread it runs on.
struct Selector {
    function: unsafe extern "C" fn(*mut c_void, *const rmq_queue_list, *const rmq_message) -> i32,
    userdata: *mut c_void,
}

// SAFETY: the header documents that the selector and its userdata are used on a library thread
// while the caller waits; the application vouches that this is sound for its userdata.
unsafe impl Send for Selector {}

impl Selector {
    fn select(&self, queues: &[MessageQueue], message: Message) -> i32 {
        let queues = rmq_queue_list::new(queues);
        let message = rmq_message::new(message);
        unsafe { (self.function)(self.userdata, &queues, &message) }
    }

    /// The selection that asks this selector, whatever int it returns: the core checks the
    /// index (negative ones included) and words the error.
    fn into_selection(self) -> QueueSelection {
        QueueSelection::async_selector(move |queues, message| {
            ready(Ok(i64::from(self.select(&queues, message))))
        })
    }
}

/// SYNC send to the queue `selector` picks (see `rmq_queue_selector_cb`), called with `userdata`;
/// one attempt. Writes the result to `*out` as `rmq_producer_send_sync` does.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rmq_producer_send_with_selector(
    producer: *mut rmq_producer,
    message: *const rmq_message,
    selector: rmq_queue_selector_cb,
    userdata: *mut c_void,
    out: *mut *mut rmq_send_result,
) -> rmq_result {
    ffi_panic_boundary! {
        outcome(unsafe {
            send_to(producer, message, out, || {
                let function = selector.ok_or_else(|| Error::invalid_argument("selector is NULL"))?;
                Ok(Selector { function, userdata }.into_selection())
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use std::ffi::CStr;

    use super::*;

    #[test]
    fn queues_and_lists_through_raw_pointers() {
        unsafe {
            let mut queue = std::ptr::null_mut();
            let made = rmq_message_queue_new(c"T".as_ptr(), c"broker-a".as_ptr(), 3, &mut queue);
            assert_eq!(made, rmq_result::Ok);
            let copy = rmq_message_queue_clone(queue);
            rmq_message_queue_free(queue);
            assert_eq!(CStr::from_ptr(rmq_message_queue_topic(copy)), c"T");
            assert_eq!(
                CStr::from_ptr(rmq_message_queue_broker_name(copy)),
                c"broker-a"
            );
            assert_eq!(rmq_message_queue_queue_id(copy), 3);
            let list = Box::into_raw(Box::new(rmq_queue_list::new(&[(*copy).inner.clone()])));
            rmq_message_queue_free(copy);
            assert_eq!(rmq_queue_list_len(list), 1);
            assert_eq!(rmq_message_queue_queue_id(rmq_queue_list_get(list, 0)), 3);
            assert!(rmq_queue_list_get(list, 1).is_null());
            rmq_queue_list_free(list);
            let mut unset = std::ptr::null_mut();
            let negative = rmq_message_queue_new(c"T".as_ptr(), c"b".as_ptr(), -1, &mut unset);
            assert_eq!(negative, rmq_result::InvalidArgument);
            assert!(unset.is_null());
            assert_eq!(rmq_message_queue_queue_id(std::ptr::null()), -1);
        }
    }
}
