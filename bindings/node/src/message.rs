//! Messages as JS passes them in, send results as JS gets them back.

use std::collections::BTreeMap;

use bytes::Bytes;
use napi::ValueType;
use napi::bindgen_prelude::{Buffer, Either, JsValue, Uint8Array, Unknown};
use napi_derive::napi;
use rmq_core::Error;

/// A message to send. Only `topic` and `body` are required.
#[napi(object, object_to_js = false)]
pub struct Message {
    pub topic: String,
    /// Sent byte for byte; a string is sent as its UTF-8 bytes.
    #[napi(ts_type = "Buffer | Uint8Array | string")]
    pub body: Either<Uint8Array, String>,
    pub tags: Option<String>,
    /// Keys the broker indexes the message by.
    #[napi(ts_type = "string | string[]")]
    pub keys: Option<Either<String, Vec<String>>>,
    /// User properties; names the broker reserves are refused.
    pub properties: Option<BTreeMap<String, String>>,
    /// Delay level 1..=18 of the broker's fixed delay levels.
    pub delay_level: Option<i32>,
    /// Absolute delivery time, epoch milliseconds (the 5.x timer).
    pub deliver_time_ms: Option<i64>,
    /// The user-defined integer flag of the message.
    pub flag: Option<i32>,
    /// Whether the broker answers only once the message is stored (default true).
    pub wait_store_msg_ok: Option<bool>,
    /// The time budget of each send of this message, retries included, in milliseconds (1 to
    /// 86400000): it replaces the producer's `sendTimeoutMs`; a batch takes the smallest of its
    /// messages'.
    pub send_timeout_ms: Option<i64>,
}

/// Converts the message argument of a send; anything malformed is `INVALID_ARGUMENT`.
pub fn message_from_js(value: Unknown) -> rmq_core::Result<rmq_core::Message> {
    let not_an_object = || Error::invalid_argument("the message must be an object");
    if value.get_type().map_err(|_| not_an_object())? != ValueType::Object {
        return Err(not_an_object());
    }
    // SAFETY: the value was just checked to be an object, which is what `Message` expects;
    // each field's conversion checks its own type.
    let js: Message = unsafe { value.cast() }
        .map_err(|e| Error::invalid_argument(format!("invalid message: {}", e.reason)))?;
    Ok(js.into())
}

impl From<Message> for rmq_core::Message {
    fn from(js: Message) -> Self {
        let body = match js.body {
            // The body's one copy on its way to the socket. Holding the JS buffer instead would let
            // JS change or detach it while a library thread reads it.
            Either::A(bytes) => Bytes::copy_from_slice(&bytes),
            Either::B(text) => Bytes::from(text),
        };
        let mut message = rmq_core::Message::new(js.topic, body);
        message.tags = js.tags;
        message.keys = match js.keys {
            Some(Either::A(key)) => vec![key],
            Some(Either::B(keys)) => keys,
            None => Vec::new(),
        };
        message.properties = js.properties.unwrap_or_default().into_iter().collect();
        message.delay_level = js.delay_level;
        message.deliver_time_ms = js.deliver_time_ms;
        message.flag = js.flag.unwrap_or_default();
        message.wait_store_msg_ok = js.wait_store_msg_ok.unwrap_or(true);
        message.send_timeout_ms = js.send_timeout_ms;
        message
    }
}

/// How the broker stored the message; anything but `SEND_OK` is stored with a caveat.
#[napi(string_enum = "UPPER_SNAKE")]
pub enum SendStatus {
    SendOk,
    FlushDiskTimeout,
    FlushSlaveTimeout,
    SlaveNotAvailable,
}

impl From<rmq_core::SendStatus> for SendStatus {
    fn from(status: rmq_core::SendStatus) -> Self {
        match status {
            rmq_core::SendStatus::SendOk => SendStatus::SendOk,
            rmq_core::SendStatus::FlushDiskTimeout => SendStatus::FlushDiskTimeout,
            rmq_core::SendStatus::FlushSlaveTimeout => SendStatus::FlushSlaveTimeout,
            rmq_core::SendStatus::SlaveNotAvailable => SendStatus::SlaveNotAvailable,
        }
    }
}

/// A message as rmqproducer hands it to JS: the reply to a request, or the message a queue
/// selector, a local transaction or a transaction check is about.
#[napi(object, object_from_js = false)]
pub struct MessageView {
    pub topic: String,
    pub body: Buffer,
    pub tags: Option<String>,
    pub keys: Vec<String>,
    /// User properties.
    pub properties: BTreeMap<String, String>,
    pub flag: i32,
    pub delay_level: Option<i32>,
    pub deliver_time_ms: Option<i64>,
}

impl From<rmq_core::Message> for MessageView {
    fn from(message: rmq_core::Message) -> Self {
        MessageView {
            topic: message.topic,
            body: Buffer::from(message.body.to_vec()),
            tags: message.tags,
            keys: message.keys,
            properties: message.properties.into_iter().collect(),
            flag: message.flag,
            delay_level: message.delay_level,
            deliver_time_ms: message.deliver_time_ms,
        }
    }
}

/// Converts a list of messages (a batch); anything malformed is `INVALID_ARGUMENT`.
pub fn messages_from_js(value: Unknown) -> rmq_core::Result<Vec<rmq_core::Message>> {
    let not_an_array = || Error::invalid_argument("the messages must be an array of messages");
    if !value.is_array().map_err(|_| not_an_array())? {
        return Err(not_an_array());
    }
    // SAFETY: the value was just checked to be an array; each element is checked below.
    let elements: Vec<Unknown> = unsafe { value.cast() }.map_err(|_| not_an_array())?;
    elements.into_iter().map(message_from_js).collect()
}

/// One queue of a topic on one broker.
#[napi(object)]
pub struct MessageQueue {
    pub topic: String,
    pub broker_name: String,
    pub queue_id: i32,
}

impl From<rmq_core::MessageQueue> for MessageQueue {
    fn from(queue: rmq_core::MessageQueue) -> Self {
        MessageQueue {
            topic: queue.topic,
            broker_name: queue.broker_name,
            queue_id: queue.queue_id,
        }
    }
}

/// Converts the queue argument of `sendToQueue`; anything malformed is `INVALID_ARGUMENT`.
pub fn queue_from_js(value: Unknown) -> rmq_core::Result<rmq_core::MessageQueue> {
    let not_an_object =
        || Error::invalid_argument("the queue must be an object { topic, brokerName, queueId }");
    if value.get_type().map_err(|_| not_an_object())? != ValueType::Object {
        return Err(not_an_object());
    }
    // SAFETY: the value was just checked to be an object; each field checks its own type.
    let js: MessageQueue = unsafe { value.cast() }
        .map_err(|e| Error::invalid_argument(format!("invalid queue: {}", e.reason)))?;
    Ok(rmq_core::MessageQueue {
        topic: js.topic,
        broker_name: js.broker_name,
        queue_id: js.queue_id,
    })
}

/// What the broker said about a stored message.
#[napi(object, object_from_js = false)]
pub struct SendResult {
    pub status: SendStatus,
    /// The client-generated unique id (UNIQ_KEY); for a batch, its messages' ids joined by ','.
    pub msg_id: String,
    /// The UNIQ_KEY of each message: one for a single message, one per message of a batch,
    /// in the batch's order.
    pub msg_ids: Vec<String>,
    /// The broker's id: store host and commit log offset.
    pub offset_msg_id: String,
    /// The broker's id of each message, as `msgIds`.
    pub offset_msg_ids: Vec<String>,
    pub queue: MessageQueue,
    pub queue_offset: i64,
    pub transaction_id: Option<String>,
    pub region_id: String,
    pub trace_on: bool,
    /// What `Producer.recall` takes to cancel this timer message (`deliverTimeMs`) before it is
    /// due; set by RocketMQ 5.3.2+ brokers, absent for other messages.
    pub recall_handle: Option<String>,
}

impl From<rmq_core::SendResult> for SendResult {
    fn from(result: rmq_core::SendResult) -> Self {
        SendResult {
            status: result.status.into(),
            msg_ids: result.msg_ids().into_iter().map(str::to_string).collect(),
            offset_msg_ids: result
                .offset_msg_ids()
                .into_iter()
                .map(str::to_string)
                .collect(),
            msg_id: result.msg_id,
            offset_msg_id: result.offset_msg_id,
            queue: result.queue.into(),
            queue_offset: result.queue_offset,
            transaction_id: result.transaction_id,
            recall_handle: result.recall_handle,
            region_id: result.region_id,
            trace_on: result.trace_on,
        }
    }
}
