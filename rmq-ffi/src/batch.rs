//! `rmq_batch`: messages sent together in one request (Java's `send(Collection<Message>)`), each
//! stored as a message of its own. Java's rules apply: one topic, no delay, and the encoded batch
//! within `max_message_size`.

use std::ffi::c_void;

use rmq_core::Message;

use crate::deliveries::{Callback, rmq_delivery_cb, room_wait};
use crate::error::{outcome, rmq_result};
use crate::ffi::{check_out, try_mut, try_ref, write_out};
use crate::message::rmq_message;
use crate::producer::rmq_producer;
use crate::send_result::rmq_send_result;

/// A batch of messages (opaque). Not thread-safe while it is being filled; sending only reads it.
pub struct rmq_batch {
    messages: Vec<Message>,
}

/// An empty batch. Free it with `rmq_batch_free`.
#[unsafe(no_mangle)]
pub extern "C" fn rmq_batch_new() -> *mut rmq_batch {
    ffi_panic_boundary! {
        Box::into_raw(Box::new(rmq_batch { messages: Vec::new() }))
    }
}

/// Adds a copy of `message` to the end of the batch (free the message whenever you like). The
/// batch's rules are checked when it is sent.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rmq_batch_add(
    batch: *mut rmq_batch,
    message: *const rmq_message,
) -> rmq_result {
    ffi_panic_boundary! {
        outcome((|| {
            let batch = unsafe { try_mut(batch, "batch") }?;
            let message = unsafe { try_ref(message, "message") }?;
            batch.messages.push(message.inner.clone());
            Ok(())
        })())
    }
}

/// How many messages the batch holds; 0 for NULL.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rmq_batch_len(batch: *const rmq_batch) -> usize {
    ffi_panic_boundary! {
        unsafe { try_ref(batch, "batch") }.map_or(0, |b| b.messages.len())
    }
}

/// Frees a batch; NULL is a no-op. A batch may be freed as soon as the send call that used it
/// returns, even for `rmq_producer_send_batch_async`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rmq_batch_free(batch: *mut rmq_batch) {
    ffi_panic_boundary! {
        if !batch.is_null() {
            drop(unsafe { Box::from_raw(batch) });
        }
    }
}

/// SYNC send of a batch (one request, retried as `rmq_producer_send_sync`). The result has one
/// message id per message: `rmq_send_result_msg_id_count` / `rmq_send_result_msg_id_at`; its
/// queue and offset are the first message's (the others follow it in the same queue).
///
/// Refused before any network traffic: an empty batch (`RMQ_RESULT_INVALID_ARGUMENT`), messages of
/// different topics or with a delay (`RMQ_RESULT_INVALID_MESSAGE`), a batch larger than
/// `max_message_size` once encoded (`RMQ_RESULT_MESSAGE_TOO_LARGE`), and any message that a
/// single send would refuse.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rmq_producer_send_batch_sync(
    producer: *mut rmq_producer,
    batch: *const rmq_batch,
    out: *mut *mut rmq_send_result,
) -> rmq_result {
    ffi_panic_boundary! {
        outcome((|| {
            let producer = unsafe { try_ref(producer.cast_const(), "producer") }?;
            let messages = unsafe { try_ref(batch, "batch") }?.messages.clone();
            check_out(out)?;
            let result = producer.block(|core| async move { core.send_batch(messages).await })?;
            unsafe { write_out(out, Box::into_raw(Box::new(rmq_send_result::new(&result)))) };
            Ok(())
        })())
    }
}

/// ASYNC send of a batch: copies it and returns at once; `callback` is then called exactly once
/// with `userdata` and the outcome, on the thread `callback_mode` says, as for
/// `rmq_producer_send_async` (which also says where it waits for room). The batch's rules,
/// including its size once encoded, are checked before it returns: a refused batch returns its
/// error and never calls back.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rmq_producer_send_batch_async(
    producer: *mut rmq_producer,
    batch: *const rmq_batch,
    callback: rmq_delivery_cb,
    userdata: *mut c_void,
) -> rmq_result {
    ffi_panic_boundary! {
        outcome((|| {
            let producer = unsafe { try_ref(producer.cast_const(), "producer") }?;
            let messages = unsafe { try_ref(batch, "batch") }?.messages.clone();
            let callback = callback
                .ok_or_else(|| rmq_core::Error::invalid_argument("callback is NULL"))?;
            let callback = producer
                .deliveries
                .core_callback(Callback::new(callback, userdata).into_delivery());
            producer.core.try_send_batch_with_callback(messages, room_wait(), callback)
        })())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::{rmq_message_free, rmq_message_new};

    #[test]
    fn a_batch_keeps_copies_of_its_messages() {
        unsafe {
            let batch = rmq_batch_new();
            let message = rmq_message_new();
            assert_eq!(rmq_batch_add(batch, message), rmq_result::Ok);
            rmq_message_free(message);
            assert_eq!(
                rmq_batch_add(batch, std::ptr::null()),
                rmq_result::InvalidArgument
            );
            assert_eq!(rmq_batch_len(batch), 1);
            rmq_batch_free(batch);
            assert_eq!(rmq_batch_len(std::ptr::null()), 0);
            rmq_batch_free(std::ptr::null_mut());
        }
    }
}
