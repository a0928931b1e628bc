//! `rmq_send_result`: what the broker said about a stored message, with every field of Java's
//! `SendResult`. Strings are prepared once as C strings, so the accessors hand out pointers that
//! stay valid as long as the result.

use std::ffi::{CString, c_char};

use rmq_core::{SendResult, SendStatus};

use crate::ffi::{to_c_string, try_ref};

/// How the broker stored the message (Java's `SendStatus`).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum rmq_send_status {
    /// Only for a NULL result: no status.
    Unknown = -1,
    /// Stored (and flushed or replicated as the broker is configured to).
    SendOk = 0,
    /// Stored, but the synchronous disk flush timed out.
    FlushDiskTimeout = 1,
    /// Stored, but synchronous replication to the slave timed out.
    FlushSlaveTimeout = 2,
    /// Stored, but no slave was available for synchronous replication.
    SlaveNotAvailable = 3,
}

impl From<SendStatus> for rmq_send_status {
    fn from(status: SendStatus) -> Self {
        match status {
            SendStatus::SendOk => rmq_send_status::SendOk,
            SendStatus::FlushDiskTimeout => rmq_send_status::FlushDiskTimeout,
            SendStatus::FlushSlaveTimeout => rmq_send_status::FlushSlaveTimeout,
            SendStatus::SlaveNotAvailable => rmq_send_status::SlaveNotAvailable,
        }
    }
}

/// The result of a successful send (opaque). Results from `rmq_producer_send_sync` and
/// `rmq_send_result_clone` are the caller's to free with `rmq_send_result_free`; the one a delivery
/// callback is handed belongs to the library and is valid only during the callback.
pub struct rmq_send_result {
    status: SendStatus,
    msg_id: CString,
    offset_msg_id: CString,
    topic: CString,
    broker_name: CString,
    queue_id: i32,
    queue_offset: i64,
    transaction_id: Option<CString>,
    region_id: CString,
    recall_handle: Option<CString>,
    /// One id per message: one for a single message, one per message of a batch.
    msg_ids: Vec<CString>,
    offset_msg_ids: Vec<CString>,
}

impl rmq_send_result {
    pub(crate) fn new(result: &SendResult) -> Self {
        rmq_send_result {
            status: result.status,
            msg_id: to_c_string(&result.msg_id),
            offset_msg_id: to_c_string(&result.offset_msg_id),
            topic: to_c_string(&result.queue.topic),
            broker_name: to_c_string(&result.queue.broker_name),
            queue_id: result.queue.queue_id,
            queue_offset: result.queue_offset,
            transaction_id: result.transaction_id.as_deref().map(to_c_string),
            region_id: to_c_string(&result.region_id),
            recall_handle: result.recall_handle.as_deref().map(to_c_string),
            msg_ids: result.msg_ids().into_iter().map(to_c_string).collect(),
            offset_msg_ids: result
                .offset_msg_ids()
                .into_iter()
                .map(to_c_string)
                .collect(),
        }
    }

    fn clone_boxed(&self) -> Box<Self> {
        Box::new(rmq_send_result {
            status: self.status,
            msg_id: self.msg_id.clone(),
            offset_msg_id: self.offset_msg_id.clone(),
            topic: self.topic.clone(),
            broker_name: self.broker_name.clone(),
            queue_id: self.queue_id,
            queue_offset: self.queue_offset,
            transaction_id: self.transaction_id.clone(),
            region_id: self.region_id.clone(),
            recall_handle: self.recall_handle.clone(),
            msg_ids: self.msg_ids.clone(),
            offset_msg_ids: self.offset_msg_ids.clone(),
        })
    }
}

/// A string field of a result, or NULL for a NULL result.
unsafe fn string_field(
    result: *const rmq_send_result,
    field: impl FnOnce(&rmq_send_result) -> &CString,
) -> *const c_char {
    unsafe { try_ref(result, "result") }.map_or(std::ptr::null(), |r| field(r).as_ptr())
}

/// The store status; `RMQ_SEND_STATUS_UNKNOWN` for NULL.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rmq_send_result_status(result: *const rmq_send_result) -> rmq_send_status {
    ffi_panic_boundary! {
        unsafe { try_ref(result, "result") }.map_or(rmq_send_status::Unknown, |r| r.status.into())
    }
}

/// The stable name of a send status (`"SEND_OK"`, `"FLUSH_DISK_TIMEOUT"`, ...), or `"UNKNOWN"`.
/// A static string; never free it.
#[unsafe(no_mangle)]
pub extern "C" fn rmq_send_status_name(status: i32) -> *const c_char {
    ffi_panic_boundary! {
        let name = match status {
            0 => c"SEND_OK",
            1 => c"FLUSH_DISK_TIMEOUT",
            2 => c"FLUSH_SLAVE_TIMEOUT",
            3 => c"SLAVE_NOT_AVAILABLE",
            _ => c"UNKNOWN",
        };
        name.as_ptr()
    }
}

/// The message id the client generated (`UNIQ_KEY`), as Java's `getMsgId()`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rmq_send_result_msg_id(result: *const rmq_send_result) -> *const c_char {
    ffi_panic_boundary! { unsafe { string_field(result, |r| &r.msg_id) } }
}

/// How many messages the result is about: 1 for a single message, the batch's size for a batch;
/// 0 for NULL.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rmq_send_result_msg_id_count(result: *const rmq_send_result) -> usize {
    ffi_panic_boundary! {
        unsafe { try_ref(result, "result") }.map_or(0, |r| r.msg_ids.len())
    }
}

/// The message id (`UNIQ_KEY`) of message `index` (from 0, in the batch's order); NULL when out
/// of range (or for NULL). For a batch, `rmq_send_result_msg_id` joins them all with commas, as
/// Java does.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rmq_send_result_msg_id_at(
    result: *const rmq_send_result,
    index: usize,
) -> *const c_char {
    ffi_panic_boundary! {
        unsafe { try_ref(result, "result") }
            .ok()
            .and_then(|r| r.msg_ids.get(index))
            .map_or(std::ptr::null(), |id| id.as_ptr())
    }
}

/// The offset message id of message `index`, as `rmq_send_result_msg_id_at`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rmq_send_result_offset_msg_id_at(
    result: *const rmq_send_result,
    index: usize,
) -> *const c_char {
    ffi_panic_boundary! {
        unsafe { try_ref(result, "result") }
            .ok()
            .and_then(|r| r.offset_msg_ids.get(index))
            .map_or(std::ptr::null(), |id| id.as_ptr())
    }
}

/// The broker's offset message id (store host and commit log offset).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rmq_send_result_offset_msg_id(
    result: *const rmq_send_result,
) -> *const c_char {
    ffi_panic_boundary! { unsafe { string_field(result, |r| &r.offset_msg_id) } }
}

/// The topic the message was stored in.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rmq_send_result_topic(result: *const rmq_send_result) -> *const c_char {
    ffi_panic_boundary! { unsafe { string_field(result, |r| &r.topic) } }
}

/// The name of the broker that stored the message.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rmq_send_result_broker_name(
    result: *const rmq_send_result,
) -> *const c_char {
    ffi_panic_boundary! { unsafe { string_field(result, |r| &r.broker_name) } }
}

/// The queue the message was stored in; -1 for NULL.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rmq_send_result_queue_id(result: *const rmq_send_result) -> i32 {
    ffi_panic_boundary! {
        unsafe { try_ref(result, "result") }.map_or(-1, |r| r.queue_id)
    }
}

/// The message's offset in its queue; -1 for NULL.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rmq_send_result_queue_offset(result: *const rmq_send_result) -> i64 {
    ffi_panic_boundary! {
        unsafe { try_ref(result, "result") }.map_or(-1, |r| r.queue_offset)
    }
}

/// The transaction id, or NULL when the broker gave none.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rmq_send_result_transaction_id(
    result: *const rmq_send_result,
) -> *const c_char {
    ffi_panic_boundary! {
        unsafe { try_ref(result, "result") }
            .ok()
            .and_then(|r| r.transaction_id.as_ref())
            .map_or(std::ptr::null(), |t| t.as_ptr())
    }
}

/// The broker's region id (`"DefaultRegion"` unless configured).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rmq_send_result_region_id(
    result: *const rmq_send_result,
) -> *const c_char {
    ffi_panic_boundary! { unsafe { string_field(result, |r| &r.region_id) } }
}

/// The handle `rmq_producer_recall` takes to cancel this timer message before it is due, or NULL:
/// RocketMQ 5.3.2+ brokers give one for a message with a deliver time
/// (`rmq_message_set_deliver_time_ms`), never for delay levels or batches.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rmq_send_result_recall_handle(
    result: *const rmq_send_result,
) -> *const c_char {
    ffi_panic_boundary! {
        unsafe { try_ref(result, "result") }
            .ok()
            .and_then(|r| r.recall_handle.as_ref())
            .map_or(std::ptr::null(), |h| h.as_ptr())
    }
}

/// A copy of `result` that the caller owns (e.g. to keep a callback's result); NULL for NULL.
/// Free it with `rmq_send_result_free`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rmq_send_result_clone(
    result: *const rmq_send_result,
) -> *mut rmq_send_result {
    ffi_panic_boundary! {
        unsafe { try_ref(result, "result") }
            .map_or(std::ptr::null_mut(), |r| Box::into_raw(r.clone_boxed()))
    }
}

/// Frees a result owned by the caller; NULL is a no-op. Never free the result a callback is handed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rmq_send_result_free(result: *mut rmq_send_result) {
    ffi_panic_boundary! {
        if !result.is_null() {
            drop(unsafe { Box::from_raw(result) });
        }
    }
}

#[cfg(test)]
mod tests {
    use std::ffi::CStr;

    use rmq_core::{MessageQueue, SendResult};

    use super::*;

    #[test]
    fn a_batch_result_through_raw_pointers() {
        let mut result = SendResult::default();
        result.status = SendStatus::FlushSlaveTimeout;
        result.msg_id = "U1,U2".into();
        result.offset_msg_id = "O1,O2".into();
        result.queue = MessageQueue {
            topic: "T".into(),
            broker_name: "broker-a".into(),
            queue_id: 2,
        };
        result.queue_offset = 9;
        result.region_id = "DefaultRegion".into();
        result.trace_on = true;
        result.recall_handle = Some("djEgVCBiIDEgSUQ=".into());
        unsafe {
            let original = Box::into_raw(Box::new(rmq_send_result::new(&result)));
            let r = rmq_send_result_clone(original);
            rmq_send_result_free(original);
            assert_eq!(
                rmq_send_result_status(r),
                rmq_send_status::FlushSlaveTimeout
            );
            assert_eq!(CStr::from_ptr(rmq_send_result_msg_id(r)), c"U1,U2");
            assert_eq!(rmq_send_result_msg_id_count(r), 2);
            assert_eq!(CStr::from_ptr(rmq_send_result_msg_id_at(r, 1)), c"U2");
            assert_eq!(
                CStr::from_ptr(rmq_send_result_offset_msg_id_at(r, 0)),
                c"O1"
            );
            assert!(rmq_send_result_msg_id_at(r, 2).is_null());
            assert_eq!(CStr::from_ptr(rmq_send_result_broker_name(r)), c"broker-a");
            assert_eq!(
                (rmq_send_result_queue_id(r), rmq_send_result_queue_offset(r)),
                (2, 9)
            );
            assert!(rmq_send_result_transaction_id(r).is_null());
            assert_eq!(
                CStr::from_ptr(rmq_send_result_recall_handle(r)),
                c"djEgVCBiIDEgSUQ="
            );
            assert!(rmq_send_result_recall_handle(std::ptr::null()).is_null());
            assert_eq!(
                CStr::from_ptr(rmq_send_result_region_id(r)),
                c"DefaultRegion"
            );
            rmq_send_result_free(r);
            assert_eq!(
                rmq_send_result_status(std::ptr::null()),
                rmq_send_status::Unknown
            );
            rmq_send_result_free(std::ptr::null_mut());
        }
    }
}
