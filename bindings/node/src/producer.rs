//! The JS `Producer` class: a handle on one `rmq_core::Producer`.
//!
//! Methods that return a Promise never throw: a bad argument rejects the Promise like any other
//! failure. Only the constructor, the callback forms and `addSendHook` throw, synchronously, and
//! only for bad arguments.

use std::sync::Arc;
use std::time::Duration;

use napi::bindgen_prelude::{FnArgs, Object, Unknown};
use napi::{Env, ValueType};
use napi_derive::napi;
use rmq_core::{Error, QueueSelection, runtime};

use crate::completion::Completion;
use crate::error::{catch_panic, to_js_error};
use crate::hook::JsSendHook;
use crate::js_function::JsFunction;
use crate::message::{
    MessageQueue, MessageView, SendResult, message_from_js, messages_from_js, queue_from_js,
};
use crate::options::config_from_js;

/// A queue selector: `(queues, message) => index`.
type Selector = JsFunction<
    (Vec<rmq_core::MessageQueue>, rmq_core::Message),
    FnArgs<(Vec<MessageQueue>, MessageView)>,
>;

/// A RocketMQ producer.
///
/// Sends run in the background on the library's own threads; each send's Promise (or callback)
/// keeps the process alive until the send completes, nothing else does. `shutdown()` waits for
/// sends in flight (up to `shutdownTimeoutMs`) and fails the rest with code `SHUTDOWN`.
#[napi]
pub struct Producer {
    inner: rmq_core::Producer,
}

#[napi]
impl Producer {
    /// Checks the options; nothing connects until `start()`. Throws `INVALID_ARGUMENT` for an
    /// unknown option or a value that does not parse. The name server comes from `namesrv`, or
    /// from the `NAMESRV_ADDR` environment variable at `start()`.
    #[napi(constructor, ts_args_type = "options: ProducerOptions")]
    pub fn new(env: Env, options: Unknown) -> napi::Result<Self> {
        catch_panic(|| config_from_js(options).and_then(rmq_core::Producer::new))
            .map(|inner| Producer { inner })
            .map_err(|err| to_js_error(&env, &err))
    }

    /// Resolves once the producer has its name server and is registered; rejects with
    /// `GROUP_ALREADY_EXISTS`, `NO_NAME_SERVER`, `ILLEGAL_STATE`, ...
    #[napi(ts_return_type = "Promise<void>")]
    pub fn start<'env>(&self, env: &'env Env) -> napi::Result<Object<'env>> {
        let producer = self.inner.clone();
        Completion::promise_with(env, async move { producer.start().await })
    }

    /// Waits for sends in flight (up to `shutdownTimeoutMs`), fails the rest with `SHUTDOWN`,
    /// and releases everything the producer holds.
    #[napi(ts_return_type = "Promise<void>")]
    pub fn shutdown<'env>(&self, env: &'env Env) -> napi::Result<Object<'env>> {
        let producer = self.inner.clone();
        Completion::promise_with(env, async move { producer.shutdown().await })
    }

    /// Sends `message` and resolves with where the broker stored it. Retries on another broker
    /// (`retryTimesAsync`) within `sendTimeoutMs`.
    #[napi(
        ts_args_type = "message: Message",
        ts_return_type = "Promise<SendResult>"
    )]
    pub fn send<'env>(&self, env: &'env Env, message: Unknown) -> napi::Result<Object<'env>> {
        let (completion, promise) = Completion::promise(env)?;
        self.send_to(message, completion);
        Ok(promise)
    }

    /// `send` with a Node-style callback, called once with `(err, null)` or `(null, result)`.
    /// An exception thrown by the callback does not end the process: it is reported with
    /// `process.emitWarning` (type `RmqCallbackError`).
    #[napi(
        ts_args_type = "message: Message, callback: (err: RmqError | null, result: SendResult | null) => void"
    )]
    pub fn send_callback(
        &self,
        env: &Env,
        message: Unknown,
        callback: Unknown,
    ) -> napi::Result<()> {
        let completion = Completion::callback(callback).map_err(|err| to_js_error(env, &err))?;
        self.send_to(message, completion);
        Ok(())
    }

    /// Writes `message` to a broker without waiting for an answer: resolves once written, and
    /// nothing tells whether the broker stored it.
    #[napi(ts_args_type = "message: Message", ts_return_type = "Promise<void>")]
    pub fn send_oneway<'env>(
        &self,
        env: &'env Env,
        message: Unknown,
    ) -> napi::Result<Object<'env>> {
        let (completion, promise) = Completion::promise(env)?;
        match message_from_js(message) {
            Ok(message) => {
                let producer = self.inner.clone();
                completion.complete_with(async move { producer.send_oneway(message).await });
            }
            Err(err) => completion.complete(Err(err)),
        }
        Ok(promise)
    }

    /// The writable queues of `topic` in the order selectors see them (brokers by name, then
    /// queue id).
    #[napi(
        ts_args_type = "topic: string",
        ts_return_type = "Promise<MessageQueue[]>"
    )]
    pub fn publish_queues<'env>(
        &self,
        env: &'env Env,
        topic: Unknown,
    ) -> napi::Result<Object<'env>> {
        let (completion, promise) = Completion::<Vec<MessageQueue>>::promise(env)?;
        match string_from_js(topic, "topic") {
            Ok(topic) => {
                let producer = self.inner.clone();
                completion.complete_with(async move {
                    let queues = producer.publish_queues(&topic).await?;
                    Ok(queues.into_iter().map(MessageQueue::from).collect())
                });
            }
            Err(err) => completion.complete(Err(err)),
        }
        Ok(promise)
    }

    /// Sends `message` to exactly `queue` (one of `publishQueues(topic)`): one attempt, no
    /// retry on another broker.
    #[napi(
        ts_args_type = "message: Message, queue: MessageQueue",
        ts_return_type = "Promise<SendResult>"
    )]
    pub fn send_to_queue<'env>(
        &self,
        env: &'env Env,
        message: Unknown,
        queue: Unknown,
    ) -> napi::Result<Object<'env>> {
        let (completion, promise) = Completion::promise(env)?;
        match queue_from_js(queue) {
            Ok(queue) => self.send_routed(message, QueueSelection::Queue(queue), completion),
            Err(err) => completion.complete(Err(err)),
        }
        Ok(promise)
    }

    /// Sends `message` to the queue `selector` picks: it gets the topic's writable queues (as
    /// `publishQueues` lists them) and the message, and returns an index into the queues (or a
    /// Promise of one). One attempt, no retry on another broker. An index out of range, or a
    /// selector that throws, rejects with `INVALID_ARGUMENT`.
    #[napi(
        ts_args_type = "message: Message, selector: (queues: MessageQueue[], message: MessageView) => number | Promise<number>",
        ts_return_type = "Promise<SendResult>"
    )]
    pub fn send_with_selector<'env>(
        &self,
        env: &'env Env,
        message: Unknown,
        selector: Unknown,
    ) -> napi::Result<Object<'env>> {
        let (completion, promise) = Completion::promise(env)?;
        let started = message_from_js(message).and_then(|message| {
            let selector: Selector = JsFunction::new(
                selector,
                "queue selector",
                false,
                |_env, (queues, message)| {
                    let queues: Vec<rmq_core::MessageQueue> = queues;
                    Ok(FnArgs::from((
                        queues.into_iter().map(MessageQueue::from).collect(),
                        MessageView::from(message),
                    )))
                },
            )?;
            Ok((message, selector))
        });
        let (message, selector) = match started {
            Ok(started) => started,
            Err(err) => {
                completion.complete(Err(err));
                return Ok(promise);
            }
        };
        let producer = self.inner.clone();
        completion.complete_with(async move {
            let queues = producer.publish_queues(&message.topic).await?;
            let index = selector
                .ask::<f64>((queues.clone(), message.clone()))
                .await
                .map_err(|failure| {
                    Error::invalid_argument(format!("the queue selector {failure}"))
                })?;
            let queue = selected_queue(&message.topic, queues, index)?;
            producer
                .send_to_async(message, QueueSelection::Queue(queue))
                .await
                .map(SendResult::from)
        });
        Ok(promise)
    }

    /// Sends `message` to the queue the Java client's `SelectMessageQueueByHash` picks for
    /// `shardingKey`: messages with one key stay in order in one queue, the queue the Java
    /// client would use. One attempt, no retry on another broker.
    #[napi(
        ts_args_type = "message: Message, shardingKey: string",
        ts_return_type = "Promise<SendResult>"
    )]
    pub fn send_with_sharding_key<'env>(
        &self,
        env: &'env Env,
        message: Unknown,
        sharding_key: Unknown,
    ) -> napi::Result<Object<'env>> {
        let (completion, promise) = Completion::promise(env)?;
        match string_from_js(sharding_key, "sharding key") {
            Ok(key) => self.send_routed(message, QueueSelection::ShardingKey(key), completion),
            Err(err) => completion.complete(Err(err)),
        }
        Ok(promise)
    }

    /// Sends `messages` as one batch (one request, retried as `send`); the result's `msgIds`
    /// has each message's id, in order. All messages need one topic and no delay, and the batch
    /// must fit `maxMessageSize`, else `INVALID_MESSAGE` / `MESSAGE_TOO_LARGE`.
    #[napi(
        ts_args_type = "messages: Message[]",
        ts_return_type = "Promise<SendResult>"
    )]
    pub fn send_batch<'env>(
        &self,
        env: &'env Env,
        messages: Unknown,
    ) -> napi::Result<Object<'env>> {
        let (completion, promise) = Completion::promise(env)?;
        self.send_batch_to(messages, completion);
        Ok(promise)
    }

    /// `sendBatch` with a Node-style callback, as `sendCallback`.
    #[napi(
        ts_args_type = "messages: Message[], callback: (err: RmqError | null, result: SendResult | null) => void"
    )]
    pub fn send_batch_callback(
        &self,
        env: &Env,
        messages: Unknown,
        callback: Unknown,
    ) -> napi::Result<()> {
        let completion = Completion::callback(callback).map_err(|err| to_js_error(env, &err))?;
        self.send_batch_to(messages, completion);
        Ok(())
    }

    /// Request-reply: sends `message` and resolves with the reply a consumer sends back (the
    /// Java client's `MessageUtil.createReplyMessage`), or rejects with `TIMEOUT` when none
    /// comes within `timeoutMs`.
    #[napi(
        ts_args_type = "message: Message, timeoutMs: number",
        ts_return_type = "Promise<MessageView>"
    )]
    pub fn request<'env>(
        &self,
        env: &'env Env,
        message: Unknown,
        timeout_ms: Unknown,
    ) -> napi::Result<Object<'env>> {
        let (completion, promise) = Completion::promise(env)?;
        self.request_to(message, timeout_ms, completion);
        Ok(promise)
    }

    /// `request` with a Node-style callback, called once with `(err, null)` or `(null, reply)`.
    #[napi(
        ts_args_type = "message: Message, timeoutMs: number, callback: (err: RmqError | null, reply: MessageView | null) => void"
    )]
    pub fn request_callback(
        &self,
        env: &Env,
        message: Unknown,
        timeout_ms: Unknown,
        callback: Unknown,
    ) -> napi::Result<()> {
        let completion = Completion::callback(callback).map_err(|err| to_js_error(env, &err))?;
        self.request_to(message, timeout_ms, completion);
        Ok(())
    }

    /// Adds a hook called around every send attempt of this producer (all send forms):
    /// `before(ctx)` as the attempt starts, `after(ctx, outcome)` once it ended. Hooks run on
    /// the JS thread shortly after the attempt, so they never slow a send down; an exception
    /// in a hook is reported as a process warning (type `RmqCallbackError`).
    #[napi(ts_args_type = "hook: SendHook")]
    pub fn add_send_hook(&self, env: &Env, hook: Unknown) -> napi::Result<()> {
        let hook = JsSendHook::from_js(env, hook).map_err(|err| to_js_error(env, &err))?;
        self.inner.add_send_hook(Arc::new(hook));
        Ok(())
    }
}

impl Producer {
    /// A JS handle on an existing core producer.
    pub fn wrap(inner: rmq_core::Producer) -> Self {
        Producer { inner }
    }

    fn send_routed(
        &self,
        message: Unknown,
        selection: QueueSelection,
        completion: Completion<SendResult>,
    ) {
        let message = match message_from_js(message) {
            Ok(message) => message,
            Err(err) => return completion.complete(Err(err)),
        };
        let _ = catch_panic(|| {
            let _context = runtime::handle().enter();
            self.inner
                .send_to_with_callback(message, selection, move |outcome| {
                    completion.complete(outcome.map(SendResult::from))
                });
            Ok(())
        });
    }

    fn request_to(
        &self,
        message: Unknown,
        timeout_ms: Unknown,
        completion: Completion<MessageView>,
    ) {
        let started = message_from_js(message)
            .and_then(|message| Ok((message, millis_from_js(timeout_ms, "timeoutMs")?)));
        match started {
            Ok((message, timeout)) => {
                let producer = self.inner.clone();
                completion.complete_with(async move {
                    producer
                        .request(message, timeout)
                        .await
                        .map(MessageView::from)
                });
            }
            Err(err) => completion.complete(Err(err)),
        }
    }

    fn send_batch_to(&self, messages: Unknown, completion: Completion<SendResult>) {
        let messages = match messages_from_js(messages) {
            Ok(messages) => messages,
            Err(err) => return completion.complete(Err(err)),
        };
        let _ = catch_panic(|| {
            let _context = runtime::handle().enter();
            self.inner
                .send_batch_with_callback(messages, move |outcome| {
                    completion.complete(outcome.map(SendResult::from))
                });
            Ok(())
        });
    }

    fn send_to(&self, message: Unknown, completion: Completion<SendResult>) {
        let message = match message_from_js(message) {
            Ok(message) => message,
            Err(err) => return completion.complete(Err(err)),
        };
        // Should the core panic, the callback is dropped unrun, and dropping the completion
        // inside it delivers an `Internal` error: nothing is left to report here. The send
        // starts inside the library runtime's context so that with `backpressure: 'block'` it
        // waits for room in its own task (its Promise stays pending), never on the JS thread.
        let _ = catch_panic(|| {
            let _context = runtime::handle().enter();
            self.inner.send_with_callback(message, move |outcome| {
                completion.complete(outcome.map(SendResult::from))
            });
            Ok(())
        });
    }
}

/// The queue at the index a selector returned; `INVALID_ARGUMENT` for anything but an integer
/// in range.
fn selected_queue(
    topic: &str,
    queues: Vec<rmq_core::MessageQueue>,
    index: f64,
) -> rmq_core::Result<rmq_core::MessageQueue> {
    let count = queues.len();
    let valid = index.fract() == 0.0 && index >= 0.0 && index < count as f64;
    valid
        .then(|| queues.into_iter().nth(index as usize))
        .flatten()
        .ok_or_else(|| {
            Error::invalid_argument(format!(
                "the queue selector returned index {index}, but topic '{topic}' has {count} writable queue(s)"
            ))
        })
}

fn string_from_js(value: Unknown, name: &str) -> rmq_core::Result<String> {
    let not_a_string = || Error::invalid_argument(format!("the {name} must be a string"));
    if value.get_type().map_err(|_| not_a_string())? != ValueType::String {
        return Err(not_a_string());
    }
    // SAFETY: the value was just checked to be a string.
    unsafe { value.cast::<String>() }.map_err(|_| not_a_string())
}

/// A duration in milliseconds: a finite number, at least 0.
fn millis_from_js(value: Unknown, name: &str) -> rmq_core::Result<Duration> {
    let invalid = || Error::invalid_argument(format!("{name} must be a number of milliseconds"));
    if value.get_type().map_err(|_| invalid())? != ValueType::Number {
        return Err(invalid());
    }
    // SAFETY: the value was just checked to be a number.
    let millis = unsafe { value.cast::<f64>() }.map_err(|_| invalid())?;
    Duration::try_from_secs_f64(millis / 1000.0).map_err(|_| invalid())
}
