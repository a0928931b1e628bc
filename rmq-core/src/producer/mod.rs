//! The public producer: configuration, start / shutdown, and the three send modes.
//!
//! `send` is Java's SYNC mode (retries on another broker within one time budget), `send_async`
//! and `send_with_callback` are ASYNC mode (the send runs on the library runtime whether or not the
//! caller awaits it, and shutdown waits for it), `send_oneway` is fire-and-forget.

mod auto_batch;
mod bounds;
mod completion;
mod config;
mod fault;
mod hook;
pub mod metrics;
mod options;
#[cfg(feature = "opentelemetry")]
mod otel;
mod recall;
mod select;
pub(crate) mod send;
mod trace;
mod transaction;

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering};
use std::time::Duration;

use futures_util::FutureExt;
use parking_lot::Mutex;
use tokio::sync::{Notify, oneshot, watch};
use tokio::time::Instant;

pub use completion::{Completion, RoomWait};
pub use config::{Backpressure, ProducerConfig, Secret};
pub use hook::{SendContext, SendHook, SendOutcome};
pub use metrics::{LatencyHistogram, Stats};
pub use options::{
    OPTIONS, OptionDefault, OptionDoc, OptionValue, is_test_option, js_option_name, option_doc,
};
pub use select::{AsyncQueueSelector, QueueSelection, QueueSelector, hash_index, java_string_hash};
pub use trace::TraceStats;
pub use transaction::{
    LocalTransactionState, TransactionCheck, TransactionChecker, TransactionProducer,
    TransactionSendResult,
};

use crate::client::{ClientInstance, InstanceCounts};
use crate::error::{Error, ErrorKind, Result};
use crate::protocol::message::Message;
use crate::protocol::namespace;
use crate::protocol::route::MessageQueue;
use crate::protocol::validate;
use crate::runtime;
use auto_batch::{AutoBatcher, BatchKey, Gathered};
use bounds::{AsyncBounds, AsyncPermit};
use fault::FaultStrategy;
use hook::Hooks;
use metrics::ProducerMetrics;
use select::Route;
use send::{Mode, Prepared, Sender};
use trace::{TraceHook, Tracer};

/// `SendStatus.java`: four values since RocketMQ 3, so matches on it stay exhaustive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SendStatus {
    #[default]
    SendOk = 0,
    FlushDiskTimeout = 1,
    FlushSlaveTimeout = 2,
    SlaveNotAvailable = 3,
}

impl SendStatus {
    pub fn name(self) -> &'static str {
        match self {
            SendStatus::SendOk => "SEND_OK",
            SendStatus::FlushDiskTimeout => "FLUSH_DISK_TIMEOUT",
            SendStatus::FlushSlaveTimeout => "FLUSH_SLAVE_TIMEOUT",
            SendStatus::SlaveNotAvailable => "SLAVE_NOT_AVAILABLE",
        }
    }
}

/// What the broker said about a stored message. Fields may be added; a test double starts from
/// `SendResult::default()` and sets what it needs.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct SendResult {
    pub status: SendStatus,
    /// The client-generated unique id (UNIQ_KEY).
    pub msg_id: String,
    /// The broker's offset message id (store host + commit log offset).
    pub offset_msg_id: String,
    pub queue: MessageQueue,
    pub queue_offset: i64,
    pub transaction_id: Option<String>,
    pub region_id: String,
    pub trace_on: bool,
    /// What [`Producer::recall`] takes to cancel this message before it is due: set by 5.3.2+
    /// brokers on a timer message (`deliver_time_ms`), never on delay levels or batches.
    pub recall_handle: Option<String>,
}

impl SendResult {
    /// The UNIQ_KEY of each message: one for a single message, one per message of a batch
    /// (in the batch's order; `msg_id` joins them with ',' as Java does).
    pub fn msg_ids(&self) -> Vec<&str> {
        self.msg_id.split(',').collect()
    }

    /// The offset message id of each message, as [`SendResult::msg_ids`].
    pub fn offset_msg_ids(&self) -> Vec<&str> {
        self.offset_msg_id.split(',').collect()
    }
}

/// A producer. Cheap to clone; clones share one producer.
#[derive(Clone)]
pub struct Producer {
    inner: Arc<Inner>,
}

enum State {
    Created,
    Running(Arc<ClientInstance>),
    ShuttingDown,
    ShutDown,
}

struct Inner {
    config: ProducerConfig,
    state: Mutex<State>,
    fault: FaultStrategy,
    bounds: AsyncBounds,
    batcher: AutoBatcher,
    hooks: Mutex<Hooks>,
    /// Message trace, when `enable_msg_trace` is on.
    tracer: Option<Arc<Tracer>>,
    in_flight: AtomicUsize,
    idle: Notify,
    /// Flipped when shutdown gives up waiting: async sends still running fail with `Shutdown`.
    abort: watch::Sender<bool>,
    /// Async calls still to panic, as `test.panic_in_sends` asked.
    test_panics_left: AtomicU32,
    metrics: ProducerMetrics,
    statistics_callback: Mutex<Option<StatisticsCallback>>,
    statistics_callback_panicked: AtomicBool,
    /// Stops the statistics thread when dropped (shutdown).
    statistics_reporter: Mutex<Option<std::sync::mpsc::Sender<()>>>,
    /// The client instance's counts as shutdown left them.
    final_instance_counts: Mutex<InstanceCounts>,
}

/// Receives a snapshot of the producer's statistics every `statistics_interval_ms`, on the
/// library's `rmq-stats` thread.
pub type StatisticsCallback = Arc<dyn Fn(&Stats) + Send + Sync>;

/// A fresh CORRELATION_ID: 128 random bits in the text form of a UUID, as Java's.
fn correlation_id() -> String {
    let hex = format!("{:032x}", fastrand::u128(..));
    format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    )
}

/// A callback for an async call, and the future of the outcome it receives.
fn async_result<T: Send + 'static>() -> (
    impl FnOnce(Result<T>) + Send + 'static,
    impl Future<Output = Result<T>> + Send + 'static,
) {
    let (tx, rx) = oneshot::channel();
    let done = move |result| {
        let _ = tx.send(result);
    };
    let result = async move {
        rx.await
            .unwrap_or_else(|_| Err(Error::internal("an async call ended without a result")))
    };
    (done, result)
}

/// The outcome of an async call that was either refused (its error) or accepted (its outcome).
async fn refused_or<T>(
    refused: Result<()>,
    outcome: impl Future<Output = Result<T>> + Send + 'static,
) -> Result<T> {
    refused?;
    outcome.await
}

/// Counts one async call in flight for as long as it lives, and holds its room under the
/// async bounds. It lives until the call's callback has returned, so that `flush` and
/// `shutdown` return only after the callbacks of what they waited for have run (as librdkafka
/// counts a message until its delivery report is served). The count drops before the room is
/// given back (fields drop after `drop`), so a caller that gets the room never sees the
/// finished call still counted: with a bound of N, at most N calls are ever counted.
struct InFlight {
    inner: Arc<Inner>,
    /// `None` while the call waits for room inside its task.
    permit: Option<AsyncPermit>,
    bytes: usize,
    /// How long the call may wait for room: its send's timeout.
    timeout: Duration,
}

impl InFlight {
    fn new(
        inner: &Arc<Inner>,
        permit: Option<AsyncPermit>,
        bytes: usize,
        timeout: Duration,
    ) -> Self {
        inner.in_flight.fetch_add(1, Ordering::AcqRel);
        inner.metrics.in_flight_added(bytes);
        InFlight {
            inner: inner.clone(),
            permit,
            bytes,
            timeout,
        }
    }

    /// Room for a call accepted without it, up to the send's timeout.
    async fn wait_for_room(&mut self) -> Result<()> {
        if self.permit.is_none() {
            let deadline = Instant::now() + self.timeout;
            let permit = self.inner.bounds.acquire(self.bytes, deadline).await;
            if permit.is_err() {
                self.inner.metrics.backpressure_refused();
            }
            self.permit = Some(permit?);
        }
        Ok(())
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.inner.metrics.in_flight_removed(self.bytes);
        if self.inner.in_flight.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.inner.idle.notify_waiters();
        }
    }
}

/// What an async call admitted under the async bounds holds: its body bytes and its timeout.
trait Admitted {
    fn body_len(&self) -> usize;
    fn timeout(&self) -> Duration;
}

impl Admitted for Prepared {
    fn body_len(&self) -> usize {
        Prepared::body_len(self)
    }
    fn timeout(&self) -> Duration {
        Prepared::timeout(self)
    }
}

/// A gathered send: waiting in its batch, or back for a send of its own.
enum Enqueued {
    Waiting(oneshot::Receiver<Result<SendResult>>),
    Alone(Box<(BatchKey, Message)>),
}

/// A message checked as every send checks it, to wait in a gathered batch (`auto_batch`).
struct Gatherable {
    message: Message,
    timeout: Duration,
}

impl Gatherable {
    fn new(message: Message, config: &ProducerConfig) -> Result<Self> {
        validate::validate(&message, config.max_message_size)?;
        send::wire_topic(&message.topic, config)?;
        Ok(Gatherable {
            message,
            timeout: config.send_timeout,
        })
    }
}

impl Admitted for Gatherable {
    fn body_len(&self) -> usize {
        self.message.body.len()
    }
    fn timeout(&self) -> Duration {
        self.timeout
    }
}

/// Stops awaiting a request's reply however the request ends (answered, failed, timed out,
/// cancelled, panicked), so that no entry is left behind.
struct AwaitedReply<'a> {
    client: &'a ClientInstance,
    correlation_id: &'a str,
}

impl Drop for AwaitedReply<'_> {
    fn drop(&mut self) {
        self.client.forget_reply(self.correlation_id);
    }
}

impl Inner {
    fn take_test_panic(&self) -> bool {
        self.test_panics_left.load(Ordering::Relaxed) > 0
            && self
                .test_panics_left
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |left| {
                    left.checked_sub(1)
                })
                .is_ok()
    }

    /// The client instance, if the producer is running.
    fn client(&self) -> Result<Arc<ClientInstance>> {
        match &*self.state.lock() {
            State::Running(client) => Ok(client.clone()),
            State::Created => Err(Error::illegal_state(
                "the producer is not started; call start() first",
            )),
            State::ShuttingDown | State::ShutDown => {
                Err(Error::illegal_state("the producer is shut down"))
            }
        }
    }

    fn sender<'a>(&'a self, client: &'a Arc<ClientInstance>) -> Sender<'a> {
        Sender {
            config: &self.config,
            client,
            fault: &self.fault,
            hooks: self.hooks.lock().clone(),
            metrics: &self.metrics,
        }
    }

    fn stats(&self) -> Stats {
        let instance = match &*self.state.lock() {
            State::Running(client) => client.counts(),
            _ => *self.final_instance_counts.lock(),
        };
        self.metrics.snapshot(
            self.in_flight.load(Ordering::Acquire),
            instance,
            self.fault.isolated_brokers(),
        )
    }

    /// One tick of the statistics thread: the callback, if any, gets a snapshot; a panic in it
    /// is contained and reported once.
    fn report_statistics(&self) {
        let Some(callback) = self.statistics_callback.lock().clone() else {
            return;
        };
        let stats = self.stats();
        if std::panic::catch_unwind(AssertUnwindSafe(|| callback(&stats))).is_err()
            && !self
                .statistics_callback_panicked
                .swap(true, Ordering::Relaxed)
        {
            tracing::error!(
                "the statistics callback panicked; the panic was contained, and later ones are not reported"
            );
        }
    }

    fn start(&self) -> Result<()> {
        let mut state = self.state.lock();
        match &*state {
            State::Created => {}
            State::Running(_) => {
                return Err(Error::illegal_state("the producer is already started"));
            }
            State::ShuttingDown | State::ShutDown => {
                return Err(Error::illegal_state(
                    "the producer is shut down and cannot start again; create a new one",
                ));
            }
        }
        let client = ClientInstance::register(&self.config.client_config(), &self.config.group)?;
        tracing::info!(group = %self.config.group, client_id = client.client_id(), "producer started");
        let heartbeat = client.clone();
        runtime::spawn(async move { heartbeat.heartbeat_all().await });
        if let Some(tracer) = &self.tracer {
            tracer.start(client.clone());
        }
        *state = State::Running(client);
        Ok(())
    }

    /// The statistics thread, when `statistics_interval_ms` asks for one.
    fn start_statistics(self: &Arc<Self>) {
        let interval = self.config.statistics_interval;
        if interval.is_zero() || !self.metrics.enabled() {
            return;
        }
        let inner = Arc::downgrade(self);
        *self.statistics_reporter.lock() = metrics::spawn_reporter(interval, move || {
            inner
                .upgrade()
                .map(|inner| inner.report_statistics())
                .is_some()
        });
    }

    async fn shutdown(self: &Arc<Self>) -> Result<()> {
        let client = {
            let mut state = self.state.lock();
            match std::mem::replace(&mut *state, State::ShuttingDown) {
                State::Running(client) => client,
                State::Created | State::ShutDown => {
                    *state = State::ShutDown;
                    return Ok(());
                }
                State::ShuttingDown => return Ok(()),
            }
        };
        let grace = Instant::now() + self.config.shutdown_timeout;
        self.send_all_gathered(&client);
        if !self.wait_idle(grace).await {
            let left = self.in_flight.load(Ordering::Acquire);
            tracing::warn!(left, "shutdown: failing async sends still in flight");
            self.abort.send_replace(true);
            self.wait_idle(Instant::now() + Duration::from_secs(1))
                .await;
        }
        if let Some(tracer) = &self.tracer {
            tracer.shutdown(grace).await;
        }
        self.statistics_reporter.lock().take();
        *self.final_instance_counts.lock() = client.counts();
        client.unregister(&self.config.group).await;
        *self.state.lock() = State::ShutDown;
        tracing::info!(group = %self.config.group, "producer shut down");
        Ok(())
    }

    /// A send in a gathered batch (`auto_batch`): it waits with others of its topic, queue and
    /// mode; alone when the bytes held in batches are at their bound.
    async fn gather(
        self: Arc<Self>,
        client: Arc<ClientInstance>,
        message: Message,
        route: Route,
        mode: Mode,
    ) -> Result<SendResult> {
        let queue = match route {
            Route::Auto => None,
            route => {
                let deadline = Instant::now() + self.config.send_timeout;
                let sender = self.sender(&client);
                Some(sender.pick_queue(&message.topic, route, deadline).await?)
            }
        };
        let enqueued = self.enqueue(&client, BatchKey::new(&message, queue, mode), message);
        self.outcome(client, enqueued).await
    }

    /// Puts `message` in the batch of `key`, which it starts (and its delay) or fills (and
    /// sends); it comes back when the bytes held in batches are at their bound.
    fn enqueue(
        self: &Arc<Self>,
        client: &Arc<ClientInstance>,
        key: BatchKey,
        message: Message,
    ) -> Enqueued {
        let (outcome, result) = oneshot::channel();
        let added = match self.batcher.add(key.clone(), message, outcome) {
            Ok(added) => added,
            Err(message) => return Enqueued::Alone(Box::new((key, *message))),
        };
        if let Some(generation) = added.started {
            let (inner, client, key) = (self.clone(), client.clone(), key.clone());
            runtime::spawn(async move {
                tokio::time::sleep(inner.config.batch_max_delay).await;
                if let Some(batch) = inner.batcher.take(&key, generation) {
                    inner.send_gathered(&client, batch).await;
                }
            });
        }
        if let Some(full) = added.full {
            let (inner, client) = (self.clone(), client.clone());
            runtime::spawn(async move { inner.send_gathered(&client, full).await });
        }
        Enqueued::Waiting(result)
    }

    /// The outcome of an enqueued send: its part of its batch's, or its own.
    async fn outcome(
        self: Arc<Self>,
        client: Arc<ClientInstance>,
        enqueued: Enqueued,
    ) -> Result<SendResult> {
        match enqueued {
            Enqueued::Waiting(result) => result.await.unwrap_or_else(|_| {
                Err(Error::internal("a gathered batch ended without a result"))
            }),
            Enqueued::Alone(alone) => {
                let (key, message) = *alone;
                let prepared = Prepared::new(&message, &self.config)?;
                let route = key.queue.map_or(Route::Auto, Route::Queue);
                let sender = self.sender(&client);
                sender.send_routed(&prepared, route, key.mode).await
            }
        }
    }

    /// Sends every batch still gathering now, without waiting for its delay.
    fn send_all_gathered(self: &Arc<Self>, client: &Arc<ClientInstance>) {
        for batch in self.batcher.take_all() {
            let (inner, client) = (self.clone(), client.clone());
            runtime::spawn(async move { inner.send_gathered(&client, batch).await });
        }
    }

    /// Sends a gathered batch as one request and gives each of its messages its outcome.
    async fn send_gathered(&self, client: &Arc<ClientInstance>, batch: Gathered) {
        let route = batch.key.queue.clone().map_or(Route::Auto, Route::Queue);
        let outcome = match Prepared::batch(&batch.messages, &self.config) {
            Ok(prepared) => {
                let sender = self.sender(client);
                sender.send_routed(&prepared, route, batch.key.mode).await
            }
            Err(e) => Err(e),
        };
        batch.complete(outcome);
    }

    async fn wait_idle(&self, deadline: Instant) -> bool {
        loop {
            let notified = self.idle.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.in_flight.load(Ordering::Acquire) == 0 {
                return true;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return self.in_flight.load(Ordering::Acquire) == 0;
            }
        }
    }
}

impl Producer {
    /// Checks the configuration; nothing connects until [`Producer::start`].
    pub fn new(config: ProducerConfig) -> Result<Self> {
        validate::validate_group(&config.group)?;
        let test_panics = config.test_panic_in_sends;
        let tracer = config.enable_msg_trace.then(|| Tracer::new(&config));
        let hooks = match &tracer {
            Some(tracer) => Hooks::default().with(Arc::new(TraceHook(tracer.clone()))),
            None => Hooks::default(),
        };
        Ok(Producer {
            inner: Arc::new(Inner {
                fault: FaultStrategy::new(config.latency_fault_tolerance),
                bounds: AsyncBounds::new(&config),
                batcher: AutoBatcher::new(&config),
                hooks: Mutex::new(hooks),
                tracer,
                metrics: ProducerMetrics::new(config.enable_metrics),
                config,
                state: Mutex::new(State::Created),
                in_flight: AtomicUsize::new(0),
                idle: Notify::new(),
                abort: watch::Sender::new(false),
                test_panics_left: AtomicU32::new(test_panics),
                statistics_callback: Mutex::new(None),
                statistics_callback_panicked: AtomicBool::new(false),
                statistics_reporter: Mutex::new(None),
                final_instance_counts: Mutex::new(InstanceCounts::default()),
            }),
        })
    }

    pub fn config(&self) -> &ProducerConfig {
        &self.inner.config
    }

    /// Joins (or creates) the client instance and registers the group. Fails with
    /// `GroupAlreadyExists` when the instance has a producer of this group already.
    pub async fn start(&self) -> Result<()> {
        runtime::check_fork()?;
        let inner = self.inner.clone();
        runtime::on_runtime(async move {
            inner.start()?;
            inner.start_statistics();
            Ok(())
        })
        .await
    }

    /// Waits (up to `shutdown_timeout`) for async sends in flight, fails the rest with
    /// `Shutdown`, unregisters the group; the last producer of an instance closes it.
    /// Shutting down twice, or before start, is a no-op.
    pub async fn shutdown(&self) -> Result<()> {
        let inner = self.inner.clone();
        runtime::on_runtime(async move { inner.shutdown().await }).await
    }

    /// SYNC mode: up to `1 + retry_times` attempts within the send timeout: the message's
    /// `send_timeout_ms`, else the producer's. Every send form and mode takes it the same way.
    pub async fn send(&self, msg: Message) -> Result<SendResult> {
        let client = self.inner.client()?;
        if AutoBatcher::accepts(&self.inner.config, &msg) {
            return self.send_gathered(client, msg, Route::Auto).await;
        }
        let prepared = Prepared::new(&msg, &self.inner.config)?;
        self.send_prepared(client, prepared).await
    }

    /// SYNC mode in a gathered batch (`auto_batch`).
    async fn send_gathered(
        &self,
        client: Arc<ClientInstance>,
        msg: Message,
        route: Route,
    ) -> Result<SendResult> {
        let gatherable = Gatherable::new(msg, &self.inner.config)?;
        let inner = self.inner.clone();
        runtime::on_runtime(inner.gather(client, gatherable.message, route, Mode::Sync)).await
    }

    /// SYNC mode for a message already validated and encoded.
    async fn send_prepared(
        &self,
        client: Arc<ClientInstance>,
        prepared: Prepared,
    ) -> Result<SendResult> {
        let inner = self.inner.clone();
        runtime::on_runtime(async move { inner.sender(&client).send(&prepared, Mode::Sync).await })
            .await
    }

    /// ASYNC mode: the send starts at once on the library runtime and completes even if the
    /// returned future is dropped. A full producer (`backpressure=block`) makes it wait for room
    /// inside its task, never on the calling thread.
    pub fn send_async(
        &self,
        msg: Message,
    ) -> impl Future<Output = Result<SendResult>> + Send + 'static {
        let (done, result) = async_result();
        refused_or(
            self.try_send_with_callback(msg, RoomWait::InTask, done),
            result,
        )
    }

    /// ASYNC mode with a callback. A refused send (not started or shut down, an invalid message,
    /// no room under `wait`) returns its error and never calls back; an accepted one calls back
    /// exactly once, on a library runtime thread (with `Internal` should the send itself panic,
    /// with `Shutdown` when shutdown gives up waiting for it). A panic in the callback is caught
    /// and logged. The send counts in flight, and holds its room, until its callback returns.
    pub fn try_send_with_callback<F>(&self, msg: Message, wait: RoomWait, callback: F) -> Result<()>
    where
        F: FnOnce(Result<SendResult>) + Send + 'static,
    {
        self.try_spawn_single(msg, Route::Auto, wait, callback)
    }

    /// SYNC send to the queue `selection` chooses: one attempt, no retry on another broker
    /// (Java's `send(msg, mq)` / `send(msg, selector, arg)`).
    pub async fn send_to(&self, msg: Message, selection: QueueSelection) -> Result<SendResult> {
        let client = self.inner.client()?;
        let route = selection.into_route(&msg);
        if AutoBatcher::accepts(&self.inner.config, &msg) {
            return self.send_gathered(client, msg, route).await;
        }
        let prepared = Prepared::new(&msg, &self.inner.config)?;
        let inner = self.inner.clone();
        runtime::on_runtime(async move {
            inner
                .sender(&client)
                .send_routed(&prepared, route, Mode::Sync)
                .await
        })
        .await
    }

    /// [`Producer::send_to`] in ASYNC mode, as [`Producer::send_async`].
    pub fn send_to_async(
        &self,
        msg: Message,
        selection: QueueSelection,
    ) -> impl Future<Output = Result<SendResult>> + Send + 'static {
        let (done, result) = async_result();
        refused_or(
            self.try_send_to_with_callback(msg, selection, RoomWait::InTask, done),
            result,
        )
    }

    /// [`Producer::send_to`] in ASYNC mode with a callback, as [`Producer::try_send_with_callback`].
    pub fn try_send_to_with_callback<F>(
        &self,
        msg: Message,
        selection: QueueSelection,
        wait: RoomWait,
        callback: F,
    ) -> Result<()>
    where
        F: FnOnce(Result<SendResult>) + Send + 'static,
    {
        let route = selection.into_route(&msg);
        self.try_spawn_single(msg, route, wait, callback)
    }

    /// SYNC send to exactly `queue` (one attempt).
    pub async fn send_to_queue(&self, msg: Message, queue: MessageQueue) -> Result<SendResult> {
        self.send_to(msg, QueueSelection::Queue(queue)).await
    }

    /// SYNC send to the queue `selector` picks by index among the topic's writable queues.
    pub async fn send_with_selector<F>(&self, msg: Message, selector: F) -> Result<SendResult>
    where
        F: FnOnce(&[MessageQueue], &Message) -> usize + Send + 'static,
    {
        self.send_to(msg, QueueSelection::selector(selector)).await
    }

    /// SYNC send to the queue Java's `SelectMessageQueueByHash` picks for `key`: messages with
    /// one key keep their order in one queue, the same queue the Java client would use.
    pub async fn send_with_sharding_key(
        &self,
        msg: Message,
        key: impl Into<String>,
    ) -> Result<SendResult> {
        self.send_to(msg, QueueSelection::ShardingKey(key.into()))
            .await
    }

    /// The writable queues of `topic` in Java's order (`fetchPublishMessageQueues`), what
    /// selectors choose from.
    pub async fn publish_queues(&self, topic: &str) -> Result<Vec<MessageQueue>> {
        validate::validate_topic(topic)?;
        let client = self.inner.client()?;
        let deadline = Instant::now() + self.inner.config.send_timeout;
        let user_topic = topic.to_string();
        let topic = namespace::wrap(self.inner.config.namespace.as_deref(), topic);
        runtime::on_runtime(async move {
            let info = client.publish_info(&topic, deadline).await?;
            Ok(send::user_queues(&info.queues, &user_topic))
        })
        .await
    }

    /// SYNC send of a batch (one SEND_BATCH_MESSAGE request, retried as [`Producer::send`]).
    /// All messages need one topic and one `wait_store_msg_ok`, no delay; the encoded batch
    /// must fit `max_message_size`. The result's [`SendResult::msg_ids`] has one id per message.
    pub async fn send_batch(&self, msgs: Vec<Message>) -> Result<SendResult> {
        let client = self.inner.client()?;
        let prepared = Prepared::batch(&msgs, &self.inner.config)?;
        self.send_prepared(client, prepared).await
    }

    /// SYNC send of a batch to exactly `queue` (one attempt).
    pub async fn send_batch_to_queue(
        &self,
        msgs: Vec<Message>,
        queue: MessageQueue,
    ) -> Result<SendResult> {
        let client = self.inner.client()?;
        let prepared = Prepared::batch(&msgs, &self.inner.config)?;
        let inner = self.inner.clone();
        runtime::on_runtime(async move {
            inner
                .sender(&client)
                .send_routed(&prepared, Route::Queue(queue), Mode::Sync)
                .await
        })
        .await
    }

    /// [`Producer::send_batch`] in ASYNC mode, as [`Producer::send_async`].
    pub fn send_batch_async(
        &self,
        msgs: Vec<Message>,
    ) -> impl Future<Output = Result<SendResult>> + Send + 'static {
        let (done, result) = async_result();
        refused_or(
            self.try_send_batch_with_callback(msgs, RoomWait::InTask, done),
            result,
        )
    }

    /// [`Producer::send_batch`] in ASYNC mode with a callback, as
    /// [`Producer::try_send_with_callback`].
    pub fn try_send_batch_with_callback<F>(
        &self,
        msgs: Vec<Message>,
        wait: RoomWait,
        callback: F,
    ) -> Result<()>
    where
        F: FnOnce(Result<SendResult>) + Send + 'static,
    {
        self.try_spawn_send(
            |config| Prepared::batch(&msgs, config),
            Route::Auto,
            wait,
            callback,
        )
    }

    /// Accepts one ASYNC send of one message, gathered in a batch when `auto_batch` says so.
    fn try_spawn_single<F>(
        &self,
        msg: Message,
        route: Route,
        wait: RoomWait,
        callback: F,
    ) -> Result<()>
    where
        F: FnOnce(Result<SendResult>) + Send + 'static,
    {
        if !AutoBatcher::accepts(&self.inner.config, &msg) {
            return self.try_spawn_send(
                |config| Prepared::new(&msg, config),
                route,
                wait,
                callback,
            );
        }
        let (client, gatherable, in_flight) =
            self.admit(wait, |config, _| Gatherable::new(msg, config))?;
        let message = gatherable.message;
        let topic: Arc<str> = message.topic.as_str().into();
        let inner = self.inner.clone();
        let known_queue = match &route {
            Route::Auto => Some(None),
            Route::Queue(queue) if queue.topic == message.topic => Some(Some(queue.clone())),
            _ => None,
        };
        let completion = Completion::new(callback);
        match known_queue {
            // With its room held and its queue known, the message joins its batch now: a batch
            // keeps the order of the calls.
            Some(queue) if in_flight.permit.is_some() => {
                let key = BatchKey::new(&message, queue, Mode::Async);
                let enqueued = inner.enqueue(&client, key, message);
                let send = inner.outcome(client, enqueued);
                self.spawn_accepted(in_flight, ("send", topic), send, completion);
            }
            _ => {
                let send = inner.gather(client, message, route, Mode::Async);
                self.spawn_accepted(in_flight, ("send", topic), send, completion);
            }
        }
        Ok(())
    }

    /// Accepts one ASYNC send (or returns why not) and runs it on the library runtime.
    fn try_spawn_send<F>(
        &self,
        prepare: impl FnOnce(&ProducerConfig) -> Result<Prepared>,
        route: Route,
        wait: RoomWait,
        callback: F,
    ) -> Result<()>
    where
        F: FnOnce(Result<SendResult>) + Send + 'static,
    {
        let (client, prepared, in_flight) = self.admit(wait, |config, _| prepare(config))?;
        let inner = self.inner.clone();
        let topic = prepared.shared_user_topic();
        let send = async move {
            inner
                .sender(&client)
                .send_routed(&prepared, route, Mode::Async)
                .await
        };
        self.spawn_accepted(in_flight, ("send", topic), send, Completion::new(callback));
        Ok(())
    }

    /// Admits an async call or returns why not: the producer runs, `prepare` validates and
    /// encodes it, and it is counted in flight with its room under the async bounds, waiting for
    /// room where `wait` says.
    fn admit<P: Admitted>(
        &self,
        wait: RoomWait,
        prepare: impl FnOnce(&ProducerConfig, &ClientInstance) -> Result<P>,
    ) -> Result<(Arc<ClientInstance>, P, InFlight)> {
        runtime::check_fork()?;
        let client = self.inner.client()?;
        let prepared = prepare(&self.inner.config, &client)?;
        let bytes = prepared.body_len();
        let timeout = prepared.timeout();
        let bounds = &self.inner.bounds;
        let wait = match bounds.mode {
            Backpressure::Fail => RoomWait::Fail,
            Backpressure::Block => wait,
        };
        let metrics = &self.inner.metrics;
        let permit = match (bounds.try_acquire(bytes), wait) {
            (Some(permit), _) => Some(permit),
            (None, RoomWait::Fail) => {
                metrics.backpressure_refused();
                return Err(bounds.full());
            }
            (None, RoomWait::InTask) => {
                metrics.backpressure_waited();
                None
            }
            (None, RoomWait::ThisThread) => {
                metrics.backpressure_waited();
                let inner = self.inner.clone();
                let deadline = Instant::now() + timeout;
                let permit =
                    runtime::block_on(async move { inner.bounds.acquire(bytes, deadline).await })?;
                if permit.is_err() {
                    metrics.backpressure_refused();
                }
                Some(permit?)
            }
        };
        let in_flight = InFlight::new(&self.inner, permit, bytes, timeout);
        Ok((client, prepared, in_flight))
    }

    /// Runs an accepted async call on the library runtime and completes it exactly once: with
    /// its outcome, with `Internal` if it panics, or with `Shutdown` when shutdown gives up on it.
    /// `(kind, topic)` name the call in that error, formatted only then.
    fn spawn_accepted<T: Send + 'static>(
        &self,
        mut in_flight: InFlight,
        (kind, topic): (&'static str, Arc<str>),
        call: impl Future<Output = Result<T>> + Send + 'static,
        completion: Completion<T>,
    ) {
        let inner = self.inner.clone();
        runtime::spawn(async move {
            let mut abort = inner.abort.subscribe();
            let run = async {
                in_flight.wait_for_room().await?;
                if inner.take_test_panic() {
                    panic!(
                        "a panic inside the task of an async {kind}, as test.panic_in_sends asked"
                    );
                }
                call.await
            };
            let run = AssertUnwindSafe(run).catch_unwind().map(|outcome| {
                outcome.unwrap_or_else(|panic| {
                    Err(Error::internal(format!(
                        "internal panic in an async call: {}",
                        runtime::panic_message(panic)
                    )))
                })
            });
            let outcome = tokio::select! {
                outcome = run => outcome,
                _ = abort.wait_for(|aborted| *aborted) => Err(Error::new(
                    ErrorKind::Shutdown,
                    format!("the producer shut down before the {kind} to '{topic}' completed"),
                )),
            };
            completion.complete(outcome);
            drop(in_flight);
        });
    }

    /// ONEWAY mode: returns once the request is queued on the broker connection (as Java does);
    /// no response, no retry. Errors known before that (validation, route, connect) are returned.
    pub async fn send_oneway(&self, msg: Message) -> Result<()> {
        let client = self.inner.client()?;
        let prepared = Prepared::new(&msg, &self.inner.config)?;
        let inner = self.inner.clone();
        runtime::on_runtime(async move { inner.sender(&client).send_oneway(&prepared).await }).await
    }

    /// Waits until no async send or request is in flight (each callback has returned), or
    /// `timeout` passes (`Timeout`).
    pub async fn flush(&self, timeout: Duration) -> Result<()> {
        let inner = self.inner.clone();
        runtime::on_runtime(async move {
            if let Ok(client) = inner.client() {
                inner.send_all_gathered(&client);
            }
            if inner.wait_idle(Instant::now() + timeout).await {
                return Ok(());
            }
            Err(Error::new(
                ErrorKind::Timeout,
                format!(
                    "{} async send(s) still in flight after {} ms",
                    inner.in_flight.load(Ordering::Acquire),
                    timeout.as_millis()
                ),
            ))
        })
        .await
    }

    /// Async sends and requests started whose callbacks have not yet returned.
    pub fn in_flight(&self) -> usize {
        self.inner.in_flight.load(Ordering::Acquire)
    }

    /// Request-reply: sends `msg` (ASYNC mode, with its retries) and waits up to `timeout` for
    /// the reply a consumer sends with the Java client's `MessageUtil.createReplyMessage` (or
    /// any client that replies the same way). Fails with `Timeout` when no reply comes in time.
    /// A request counts as an async call in flight (`flush` and `shutdown` wait for it).
    pub fn request(
        &self,
        msg: Message,
        timeout: Duration,
    ) -> impl Future<Output = Result<Message>> + Send + 'static {
        let (done, reply) = async_result();
        refused_or(
            self.try_request_with_callback(msg, timeout, RoomWait::InTask, done),
            reply,
        )
    }

    /// [`Producer::request`] with a callback, as [`Producer::try_send_with_callback`].
    pub fn try_request_with_callback<F>(
        &self,
        msg: Message,
        timeout: Duration,
        wait: RoomWait,
        callback: F,
    ) -> Result<()>
    where
        F: FnOnce(Result<Message>) + Send + 'static,
    {
        let correlation_id = correlation_id();
        let (client, prepared, in_flight) = self.admit(wait, |config, client| {
            Prepared::request(&msg, config, &correlation_id, client.client_id(), timeout)
        })?;
        let inner = self.inner.clone();
        let topic = prepared.shared_user_topic();
        let request = async move {
            let deadline = Instant::now() + timeout;
            // The steps before the send are part of it: they end at its timeout too.
            let send_deadline = deadline.min(Instant::now() + prepared.timeout());
            let info = client
                .publish_info(prepared.wire_topic(), send_deadline)
                .await?;
            client.heartbeat_route_masters(&info, send_deadline).await;
            let reply = client.await_reply(&correlation_id);
            let _awaited = AwaitedReply {
                client: &client,
                correlation_id: &correlation_id,
            };
            inner.sender(&client).send(&prepared, Mode::Async).await?;
            match tokio::time::timeout_at(deadline, reply).await {
                Ok(Ok(reply)) => Ok(reply.to_message(inner.config.namespace.as_deref())),
                _ => Err(Error::new(
                    ErrorKind::Timeout,
                    format!(
                        "no reply to the request to topic '{}' within {} ms",
                        prepared.user_topic(),
                        timeout.as_millis()
                    ),
                )),
            }
        };
        self.spawn_accepted(
            in_flight,
            ("request", topic),
            request,
            Completion::new(callback),
        );
        Ok(())
    }

    /// Adds a hook called before and after every send attempt of this producer (all modes),
    /// after the hooks added before it.
    pub fn add_send_hook(&self, hook: Arc<dyn SendHook>) {
        let mut hooks = self.inner.hooks.lock();
        *hooks = hooks.with(hook);
    }

    /// What the producer did so far: sends by form and outcome, attempts, latency per broker,
    /// bytes, backpressure, routes, connections (see [`Stats`]). Empty with
    /// `enable_metrics=false`.
    pub fn stats(&self) -> Stats {
        self.inner.stats()
    }

    /// Sets the function that gets a [`Stats`] snapshot every `statistics_interval_ms`, on the
    /// library's `rmq-stats` thread, replacing any earlier one. A panic in it is contained and
    /// reported once (an error log record); sends never wait for it.
    pub fn set_statistics_callback(&self, callback: StatisticsCallback) {
        *self.inner.statistics_callback.lock() = Some(callback);
    }

    /// Sees each send attempt as it ends (the OpenTelemetry instruments).
    #[cfg(feature = "opentelemetry")]
    pub(crate) fn add_attempt_observer(&self, observer: Arc<dyn metrics::AttemptObserver>) {
        self.inner.metrics.add_observer(observer);
    }

    /// What became of this producer's trace records (`enable_msg_trace`): sent, dropped on a
    /// full queue, or lost with a failed trace send. All zero with trace off.
    pub fn trace_stats(&self) -> TraceStats {
        self.inner
            .tracer
            .as_ref()
            .map(|tracer| tracer.stats())
            .unwrap_or_default()
    }

    /// The client id of the instance this producer runs in, once started.
    pub fn client_id(&self) -> Option<String> {
        self.inner.client().ok().map(|c| c.client_id().to_string())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicUsize;
    use std::sync::mpsc;

    use super::*;

    fn started_producer(group: &str, options: &[(&str, &str)]) -> Producer {
        // Refuses connections: for tests that end before a route lookup, or want it to fail.
        started_producer_on("127.0.0.1:9", group, options)
    }

    fn started_producer_on(namesrv: &str, group: &str, options: &[(&str, &str)]) -> Producer {
        let mut config = ProducerConfig::new(group);
        config.set("namesrv_addr", namesrv).unwrap();
        for (key, value) in options {
            config.set(key, value).unwrap();
        }
        let producer = Producer::new(config).unwrap();
        let p = producer.clone();
        runtime::block_on(async move { p.start().await })
            .unwrap()
            .unwrap();
        producer
    }

    /// A name server that takes connections and never answers: a send waits for its route until
    /// its deadline, however slowly the test's own thread runs.
    fn silent_namesrv() -> (std::net::TcpListener, String) {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        (listener, addr)
    }

    fn shut_down(producer: Producer) {
        runtime::block_on(async move { producer.shutdown().await })
            .unwrap()
            .unwrap();
    }

    #[test]
    fn a_panic_inside_a_send_task_completes_its_callback_once_with_internal() {
        // A stand-in for any bug there: the first two async calls panic inside their task.
        let producer = started_producer("PanicInsideSendTask", &[("test.panic_in_sends", "2")]);
        let (tx, rx) = mpsc::channel();
        producer
            .try_send_with_callback(
                Message::new("PanicInsideTheSendTask", "x"),
                RoomWait::ThisThread,
                move |result| tx.send(result).unwrap(),
            )
            .unwrap();
        let result = rx
            .recv_timeout(Duration::from_secs(10))
            .expect("the callback was never called");
        let err = result.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Internal);
        assert!(err.message().contains("test.panic_in_sends"), "{err}");
        // The callback is gone (its sender dropped) without a second call.
        assert!(rx.recv().is_err());

        let future = producer.send_async(Message::new("PanicInsideTheSendTask", "y"));
        let err = runtime::block_on(future).unwrap().unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Internal);
        // The send counts until its completion has returned, which may be just after the future
        // resolved: flush waits for that.
        let p = producer.clone();
        runtime::block_on(async move { p.flush(Duration::from_secs(10)).await })
            .unwrap()
            .unwrap();
        assert_eq!(producer.in_flight(), 0);
        // The third is sent (and fails to find the name server that is not there: not INTERNAL).
        let future = producer.send_async(Message::new("PanicInsideTheSendTask", "z"));
        let err = runtime::block_on(future).unwrap().unwrap_err();
        assert_ne!(err.kind(), ErrorKind::Internal, "{err}");
        shut_down(producer);
    }

    /// A callback that counts its calls.
    fn counted() -> (
        Arc<AtomicUsize>,
        impl FnOnce(Result<SendResult>) + Send + 'static,
    ) {
        let calls = Arc::new(AtomicUsize::new(0));
        let counter = calls.clone();
        (calls, move |_| {
            counter.fetch_add(1, Ordering::SeqCst);
        })
    }

    #[test]
    fn a_refused_async_send_returns_its_error_and_never_calls_back() {
        let producer = started_producer("RefusedSends", &[("max_message_size", "16")]);
        let (calls, callback) = counted();
        let err = producer
            .try_send_with_callback(
                Message::new("T", "x".repeat(17)),
                RoomWait::InTask,
                callback,
            )
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::MessageTooLarge);
        let (_, callback) = counted();
        let err = producer
            .try_send_batch_with_callback(Vec::new(), RoomWait::InTask, callback)
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidArgument);
        shut_down(producer.clone());
        let (after_shutdown, callback) = counted();
        let err = producer
            .try_send_to_with_callback(
                Message::new("T", "x"),
                QueueSelection::ShardingKey("k".into()),
                RoomWait::InTask,
                callback,
            )
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::IllegalState);
        std::thread::sleep(Duration::from_millis(50));
        assert_eq!(calls.load(Ordering::SeqCst), 0);
        assert_eq!(after_shutdown.load(Ordering::SeqCst), 0);
        assert_eq!(producer.in_flight(), 0);
    }

    #[test]
    fn where_a_full_producer_waits_for_room_is_the_callers_choice() {
        let (_silent, namesrv) = silent_namesrv();
        let producer = started_producer_on(
            &namesrv,
            "RoomWaitChoice",
            &[("max_async_in_flight", "1"), ("send_timeout_ms", "1000")],
        );
        // The one send allowed waits for its route from a name server that never answers.
        let (_, first) = counted();
        producer
            .try_send_with_callback(Message::new("T", "1"), RoomWait::Fail, first)
            .unwrap();
        let (refused, callback) = counted();
        let err = producer
            .try_send_with_callback(Message::new("T", "2"), RoomWait::Fail, callback)
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::TooManyRequests);
        // Accepted at once, waiting inside its task: the calling thread is free.
        let (waited, callback) = counted();
        producer
            .try_send_with_callback(Message::new("T", "3"), RoomWait::InTask, callback)
            .unwrap();
        assert_eq!(producer.in_flight(), 2);
        // On a runtime thread, blocking is refused rather than stalling the runtime.
        let p = producer.clone();
        let on_runtime = runtime::block_on(async move {
            let (_, callback) = counted();
            p.try_send_with_callback(Message::new("T", "4"), RoomWait::ThisThread, callback)
        })
        .unwrap();
        assert_eq!(on_runtime.unwrap_err().kind(), ErrorKind::IllegalState);
        let p = producer.clone();
        runtime::block_on(async move { p.flush(Duration::from_secs(10)).await })
            .unwrap()
            .unwrap();
        assert_eq!(refused.load(Ordering::SeqCst), 0);
        assert_eq!(waited.load(Ordering::SeqCst), 1);
        shut_down(producer);
    }

    #[test]
    fn a_request_is_in_flight_until_it_completes() {
        let (_silent, namesrv) = silent_namesrv();
        let producer =
            started_producer_on(&namesrv, "RequestInFlight", &[("send_timeout_ms", "1000")]);
        let (tx, rx) = mpsc::channel();
        producer
            .try_request_with_callback(
                Message::new("T", "question"),
                Duration::from_millis(1000),
                RoomWait::ThisThread,
                move |reply| tx.send(reply).unwrap(),
            )
            .unwrap();
        assert_eq!(producer.in_flight(), 1);
        let p = producer.clone();
        runtime::block_on(async move { p.flush(Duration::from_secs(10)).await })
            .unwrap()
            .unwrap();
        assert!(rx.recv_timeout(Duration::from_secs(1)).unwrap().is_err());
        assert_eq!(producer.in_flight(), 0);
        shut_down(producer);
    }

    #[test]
    fn a_send_is_in_flight_until_its_callback_returns_so_flush_waits_for_the_callback() {
        let (_silent, namesrv) = silent_namesrv();
        let producer = started_producer_on(
            &namesrv,
            "FlushAfterCallback",
            &[("send_timeout_ms", "300")],
        );
        let (tx, rx) = mpsc::channel();
        let p = producer.clone();
        producer
            .try_send_with_callback(Message::new("T", "1"), RoomWait::Fail, move |_| {
                tx.send(p.in_flight()).unwrap();
            })
            .unwrap();
        let p = producer.clone();
        runtime::block_on(async move { p.flush(Duration::from_secs(10)).await })
            .unwrap()
            .unwrap();
        let counted_in_its_callback = rx.try_recv().expect("flush returned before the callback");
        assert_eq!(counted_in_its_callback, 1);
        assert_eq!(producer.in_flight(), 0);
        shut_down(producer);
    }

    #[test]
    fn room_is_given_back_only_after_the_in_flight_count_drops() {
        let producer = started_producer("InFlightOrder", &[("max_async_in_flight", "1")]);
        let inner = &producer.inner;
        let permit = inner.bounds.try_acquire(1).unwrap();
        let in_flight = InFlight::new(inner, Some(permit), 1, Duration::from_secs(3));
        let waiter = {
            let inner = inner.clone();
            std::thread::spawn(move || {
                let deadline = Instant::now() + Duration::from_secs(10);
                let waiting = inner.clone();
                runtime::block_on(async move { waiting.bounds.acquire(1, deadline).await })
                    .unwrap()
                    .unwrap();
                // The moment the room is free, the finished send is no longer counted.
                inner.in_flight.load(Ordering::Acquire)
            })
        };
        std::thread::sleep(Duration::from_millis(50));
        drop(in_flight);
        assert_eq!(waiter.join().unwrap(), 0);
        shut_down(producer);
    }
}
