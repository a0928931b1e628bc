//! Recall of timer messages (Java 5.3's `DefaultMQProducer.recallMessage`).

use std::ffi::c_char;

use crate::error::{outcome, rmq_result};
use crate::ffi::{copy_to_buffer, try_ref, try_str};
use crate::producer::rmq_producer;

/// Cancels the timer message whose `rmq_send_result_recall_handle` is `handle`, sent to `topic`, so
/// that it is never delivered (needs a RocketMQ 5.3.2+ broker with `recallMessageEnable=true`).
/// Blocks for one request to the broker that holds the message, within `send_timeout_ms`. On
/// success the recalled message's id (its `UNIQ_KEY`) is copied to `msg_id_buf` (`msg_id_len`
/// bytes, NUL-terminated; may be NULL); on failure nothing is written. A handle that does not
/// decode is `RMQ_RESULT_INVALID_ARGUMENT` before any network traffic; the broker's refusals
/// (another topic's handle, a message already due: code 604; a broker without recall) are
/// `RMQ_RESULT_BROKER` with its response code and remark in the last error. From inside a
/// thread-mode delivery callback it returns `RMQ_RESULT_ILLEGAL_STATE`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rmq_producer_recall(
    producer: *mut rmq_producer,
    topic: *const c_char,
    handle: *const c_char,
    msg_id_buf: *mut c_char,
    msg_id_len: usize,
) -> rmq_result {
    ffi_panic_boundary! {
        outcome((|| {
            let producer = unsafe { try_ref(producer.cast_const(), "producer") }?;
            let topic = unsafe { try_str(topic, "topic") }?.to_owned();
            let handle = unsafe { try_str(handle, "handle") }?.to_owned();
            let msg_id = producer.block(|core| async move { core.recall(&topic, &handle).await })?;
            unsafe { copy_to_buffer(msg_id.as_bytes(), msg_id_buf, msg_id_len) };
            Ok(())
        })())
    }
}
