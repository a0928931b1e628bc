//! The JS `Producer` class: a handle on one `rmq_core::Producer`.
//!
//! Methods that return a Promise never throw: a bad argument or a refused send rejects the
//! Promise like any other failure. The constructor, the callback forms and `addSendHook` throw,
//! synchronously: a callback form throws whatever refuses its send (a bad argument, an invalid
//! message, a producer not running, no room under `backpressure: 'fail'`), and then never calls
//! back.
//!
//! Retries, one setting per form as in every binding: `send` and `sendBatch` are the core's
//! SYNC sends (`retryTimes`), the callback forms its ASYNC ones (`retryTimesAsync`). Every
//! async form waits for room under the async bounds inside its task (`RoomWait::InTask`): the
//! JS thread never blocks.

use std::sync::Arc;
use std::time::Duration;

use napi::bindgen_prelude::{FnArgs, Object, Unknown};
use napi::{Env, ValueType};
use napi_derive::napi;
use rmq_core::{Error, ErrorKind, QueueSelection, RoomWait};
use tokio::time::Instant;

use crate::completion::{call_promise, node_callback, promise};
use crate::error::{catch_panic, to_js_error};
use crate::hook::JsSendHook;
use crate::js_function::JsFunction;
use crate::message::{
    MessageQueue, MessageView, SendResult, message_from_js, messages_from_js, queue_from_js,
};
use crate::options::config_from_js;
use crate::settling::{Settling, Unsettled};
use crate::stats::{parse_json, statistics_callback};

/// A queue selector: `(queues, message) => index`.
type Selector = JsFunction<
    (Vec<rmq_core::MessageQueue>, rmq_core::Message),
    FnArgs<(Vec<MessageQueue>, MessageView)>,
>;

/// Counts of message-trace records (`Producer.traceStats()`).
#[napi(object, object_from_js = false)]
pub struct TraceStats {
    pub sent: f64,
    pub dropped: f64,
    pub failed: f64,
}

/// A RocketMQ producer.
///
/// Sends run in the background on the library's own threads; each send's Promise (or callback)
/// keeps the process alive until the send completes, nothing else does. `shutdown()` waits for
/// async sends and requests in flight (up to `shutdownTimeoutMs`) and fails the rest with code
/// `SHUTDOWN`.
#[napi]
pub struct Producer {
    inner: rmq_core::Producer,
    settling: Arc<Settling>,
}

#[napi]
impl Producer {
    /// Checks the options; nothing connects until `start()`. Throws `INVALID_ARGUMENT` for an
    /// unknown option or a value that does not parse. The name server comes from `namesrv`, or
    /// from the `NAMESRV_ADDR` environment variable at `start()`.
    #[napi(constructor, ts_args_type = "options: ProducerOptions")]
    pub fn new(env: Env, options: Unknown) -> napi::Result<Self> {
        catch_panic(|| config_from_js(options).and_then(rmq_core::Producer::new))
            .map(|inner| Producer::wrap(inner, Arc::default()))
            .map_err(|err| to_js_error(&env, &err))
    }

    /// What became of the message-trace records (`enableMsgTrace`): sent, dropped (the trace
    /// queue was full), failed (their trace send failed). All zero with trace off.
    #[napi]
    pub fn trace_stats(&self) -> TraceStats {
        let stats = self.inner.trace_stats();
        TraceStats {
            sent: stats.sent as f64,
            dropped: stats.dropped as f64,
            failed: stats.failed as f64,
        }
    }

    /// What the producer did so far (see `ProducerStats`); empty counts with
    /// `enableMetrics: false`.
    #[napi(ts_return_type = "ProducerStats")]
    pub fn stats<'env>(&self, env: &'env Env) -> napi::Result<Unknown<'env>> {
        let json = catch_panic(|| Ok(self.inner.stats().to_json()))
            .map_err(|err| to_js_error(env, &err))?;
        parse_json(env, &json)
    }

    /// Calls `callback(stats)` every `statisticsIntervalMs` on the JS thread, replacing any
    /// earlier callback. It never keeps the process alive; its first exception is reported as
    /// a process warning (type `RmqCallbackError`).
    #[napi(ts_args_type = "callback: (stats: ProducerStats) => void")]
    pub fn set_statistics_callback(&self, env: &Env, callback: Unknown) -> napi::Result<()> {
        let callback = catch_panic(|| statistics_callback(env, callback))
            .map_err(|err| to_js_error(env, &err))?;
        self.inner.set_statistics_callback(callback);
        Ok(())
    }

    /// Resolves once the producer has its name server and is registered; rejects with
    /// `GROUP_ALREADY_EXISTS`, `NO_NAME_SERVER`, `ILLEGAL_STATE`, ...
    #[napi(ts_return_type = "Promise<void>")]
    pub fn start<'env>(&self, env: &'env Env) -> napi::Result<Object<'env>> {
        let producer = self.inner.clone();
        promise(env, async move { producer.start().await })
    }

    /// Waits for async sends and requests in flight (up to `shutdownTimeoutMs`), fails the rest
    /// with `SHUTDOWN`, and releases everything the producer holds.
    #[napi(ts_return_type = "Promise<void>")]
    pub fn shutdown<'env>(&self, env: &'env Env) -> napi::Result<Object<'env>> {
        let producer = self.inner.clone();
        let settled = self
            .settling
            .after_shutdown(async move { producer.shutdown().await });
        promise(env, settled)
    }

    /// Resolves once no async send (the callback forms, `sendToQueue`, `sendWithSelector`,
    /// `sendWithShardingKey`) and no request is in flight, and the callback or Promise of each
    /// one begun before has settled; rejects with `TIMEOUT` if some still are after `timeoutMs`.
    #[napi(ts_args_type = "timeoutMs: number", ts_return_type = "Promise<void>")]
    pub fn flush<'env>(&self, env: &'env Env, timeout_ms: Unknown) -> napi::Result<Object<'env>> {
        let timeout = millis_from_js(timeout_ms, "timeoutMs");
        let horizon = self.settling.horizon();
        let (producer, settling) = (self.inner.clone(), self.settling.clone());
        promise(env, async move {
            let timeout = timeout?;
            let deadline = Instant::now() + timeout;
            producer.flush(timeout).await?;
            if settling.wait(horizon, deadline).await {
                return Ok(());
            }
            Err(Error::new(
                ErrorKind::Timeout,
                format!(
                    "async outcomes had not all reached JS after {} ms",
                    timeout.as_millis()
                ),
            ))
        })
    }

    /// Sends `message` and resolves with where the broker stored it: the core's SYNC send, as
    /// Python's blocking `send`, retrying on another broker (`retryTimes`) within
    /// `sendTimeoutMs`.
    #[napi(
        ts_args_type = "message: Message",
        ts_return_type = "Promise<SendResult>"
    )]
    pub fn send<'env>(&self, env: &'env Env, message: Unknown) -> napi::Result<Object<'env>> {
        let message = message_from_js(message);
        let producer = self.inner.clone();
        promise(env, async move {
            producer.send(message?).await.map(SendResult::from)
        })
    }

    /// The ASYNC send with a Node-style callback, called once with `(err, null)` or
    /// `(null, result)`; retries `retryTimesAsync` times. Throws, and never calls back, when the
    /// send is refused. An exception thrown by the callback does not end the process: it is
    /// reported with `process.emitWarning` (type `RmqCallbackError`).
    #[napi(
        ts_args_type = "message: Message, callback: (err: RmqError | null, result: SendResult | null) => void"
    )]
    pub fn send_callback(
        &self,
        env: &Env,
        message: Unknown,
        callback: Unknown,
    ) -> napi::Result<()> {
        throw_refusal(env, || {
            let done = send_result_callback(callback, self.settling.begin())?;
            self.inner
                .try_send_with_callback(message_from_js(message)?, RoomWait::InTask, done)
        })
    }

    /// Writes `message` to a broker without waiting for an answer: resolves once written, and
    /// nothing tells whether the broker stored it.
    #[napi(ts_args_type = "message: Message", ts_return_type = "Promise<void>")]
    pub fn send_oneway<'env>(
        &self,
        env: &'env Env,
        message: Unknown,
    ) -> napi::Result<Object<'env>> {
        let message = message_from_js(message);
        let producer = self.inner.clone();
        promise(env, async move { producer.send_oneway(message?).await })
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
        let topic = string_from_js(topic, "topic");
        let producer = self.inner.clone();
        promise(env, async move {
            let queues = producer.publish_queues(&topic?).await?;
            Ok(queues
                .into_iter()
                .map(MessageQueue::from)
                .collect::<Vec<_>>())
        })
    }

    /// Cancels the timer message whose `SendResult.recallHandle` is `handle`, sent to `topic`, so
    /// that it is never delivered; resolves to its `msgId`. Needs a RocketMQ 5.3.2+ broker with
    /// `recallMessageEnable=true`. A handle that does not decode rejects with `INVALID_ARGUMENT`
    /// before any network traffic; the broker's refusals (another topic's handle, a message
    /// already due) reject with `BROKER` and its `responseCode` and `remark`.
    #[napi(
        ts_args_type = "topic: string, handle: string",
        ts_return_type = "Promise<string>"
    )]
    pub fn recall<'env>(
        &self,
        env: &'env Env,
        topic: Unknown,
        handle: Unknown,
    ) -> napi::Result<Object<'env>> {
        let topic = string_from_js(topic, "topic");
        let handle = string_from_js(handle, "handle");
        let producer = self.inner.clone();
        promise(env, async move { producer.recall(&topic?, &handle?).await })
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
        let selection = queue_from_js(queue).map(QueueSelection::Queue);
        self.send_routed(env, message, selection)
    }

    /// Sends `message` to the queue `selector` picks: it gets the topic's writable queues (as
    /// `publishQueues` lists them) and the message, on the JS thread, and returns an index into
    /// the queues (or a Promise of one) within `sendTimeoutMs`. One attempt, no retry on another
    /// broker. An index out of range or not an integer, or a selector that throws, rejects with
    /// `INVALID_ARGUMENT`.
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
        let selection = js_selector(selector).map(|selector| {
            QueueSelection::async_selector(move |queues, message| async move {
                let index = selector
                    .ask::<f64>((queues, message))
                    .await
                    .map_err(|failure| {
                        Error::invalid_argument(format!("the queue selector {failure}"))
                    })?;
                integer_index(index)
            })
        });
        self.send_routed(env, message, selection)
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
        let selection =
            string_from_js(sharding_key, "sharding key").map(QueueSelection::ShardingKey);
        self.send_routed(env, message, selection)
    }

    /// Sends `messages` as one batch (one request): the core's SYNC send, retried as `send`
    /// (`retryTimes`); the result's `msgIds` has each message's id, in order. All messages need
    /// one topic and no delay, and the batch must fit `maxMessageSize`, else `INVALID_MESSAGE` /
    /// `MESSAGE_TOO_LARGE`.
    #[napi(
        ts_args_type = "messages: Message[]",
        ts_return_type = "Promise<SendResult>"
    )]
    pub fn send_batch<'env>(
        &self,
        env: &'env Env,
        messages: Unknown,
    ) -> napi::Result<Object<'env>> {
        let messages = messages_from_js(messages);
        let producer = self.inner.clone();
        promise(env, async move {
            producer.send_batch(messages?).await.map(SendResult::from)
        })
    }

    /// The ASYNC batch with a Node-style callback (`retryTimesAsync`), as `sendCallback`.
    #[napi(
        ts_args_type = "messages: Message[], callback: (err: RmqError | null, result: SendResult | null) => void"
    )]
    pub fn send_batch_callback(
        &self,
        env: &Env,
        messages: Unknown,
        callback: Unknown,
    ) -> napi::Result<()> {
        throw_refusal(env, || {
            let done = send_result_callback(callback, self.settling.begin())?;
            self.inner.try_send_batch_with_callback(
                messages_from_js(messages)?,
                RoomWait::InTask,
                done,
            )
        })
    }

    /// Request-reply: sends `message` (ASYNC, `retryTimesAsync`) and resolves with the reply a
    /// consumer sends back (the Java client's `MessageUtil.createReplyMessage`), or rejects
    /// with `TIMEOUT` when none comes within `timeoutMs`. A pending request counts in flight:
    /// `flush()` and `shutdown()` wait for it.
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
        // Started here, not in the task, so that it is in flight as this call returns.
        let asked = catch_panic(|| {
            let message = message_from_js(message)?;
            let timeout = millis_from_js(timeout_ms, "timeoutMs")?;
            Ok(self.inner.request(message, timeout))
        });
        call_promise(env, self.settling.begin(), async move {
            asked?.await.map(MessageView::from)
        })
    }

    /// `request` with a Node-style callback, called once with `(err, null)` or `(null, reply)`;
    /// throws, and never calls back, when the request is refused.
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
        throw_refusal(env, || {
            let reply = node_callback::<MessageView>(callback, self.settling.begin())?;
            let message = message_from_js(message)?;
            let timeout = millis_from_js(timeout_ms, "timeoutMs")?;
            self.inner.try_request_with_callback(
                message,
                timeout,
                RoomWait::InTask,
                move |outcome| reply(outcome.map(MessageView::from)),
            )
        })
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
    /// A JS handle on a core producer; every handle on one producer shares its `settling`.
    pub fn wrap(inner: rmq_core::Producer, settling: Arc<Settling>) -> Self {
        Producer { inner, settling }
    }

    /// An ASYNC one-attempt send to the queue `selection` chooses. It starts here, so that a
    /// refusal rejects the Promise at once.
    fn send_routed<'env>(
        &self,
        env: &'env Env,
        message: Unknown,
        selection: rmq_core::Result<QueueSelection>,
    ) -> napi::Result<Object<'env>> {
        let sending = catch_panic(|| {
            Ok(self
                .inner
                .send_to_async(message_from_js(message)?, selection?))
        });
        call_promise(env, self.settling.begin(), async move {
            sending?.await.map(SendResult::from)
        })
    }
}

/// Runs a callback form's start; what refuses it is thrown. A panic is thrown as `INTERNAL`.
fn throw_refusal(env: &Env, start: impl FnOnce() -> rmq_core::Result<()>) -> napi::Result<()> {
    catch_panic(start).map_err(|err| to_js_error(env, &err))
}

/// A callback of the send forms, taking the core's send results.
fn send_result_callback(
    js_callback: Unknown,
    call: Unsettled,
) -> rmq_core::Result<impl FnOnce(rmq_core::Result<rmq_core::SendResult>) + Send + 'static> {
    let done = node_callback::<SendResult>(js_callback, call)?;
    Ok(move |outcome: rmq_core::Result<rmq_core::SendResult>| done(outcome.map(SendResult::from)))
}

/// Holds on to a JS queue selector, called with the queues and the message as JS sees them.
fn js_selector(selector: Unknown) -> rmq_core::Result<Selector> {
    JsFunction::new(
        selector,
        "queue selector",
        false,
        |_env, (queues, message): (Vec<rmq_core::MessageQueue>, rmq_core::Message)| {
            Ok(FnArgs::from((
                queues.into_iter().map(MessageQueue::from).collect(),
                MessageView::from(message),
            )))
        },
    )
}

/// A selector's answer as an index; whether it is in range is the core's check.
fn integer_index(index: f64) -> rmq_core::Result<i64> {
    // i64::MIN and i64::MAX + 1 as f64 are exact powers of two.
    let representable = index >= i64::MIN as f64 && index < -(i64::MIN as f64);
    if index.fract() == 0.0 && representable {
        Ok(index as i64)
    } else {
        Err(Error::invalid_argument(format!(
            "the queue selector returned {index}, which is not an integer index"
        )))
    }
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
