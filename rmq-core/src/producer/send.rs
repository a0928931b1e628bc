//! One send, from a validated message to a SendResult: the message is encoded once, then each
//! attempt picks a queue under the fault strategy and sends to that broker's master
//! (`sendKernelImpl`), retrying on another broker within one time budget (`sendDefaultImpl`).

use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use once_cell::sync::Lazy;
use tokio::time::Instant;

use crate::client::{ClientInstance, TopicPublishInfo};
use crate::error::{Error, ErrorKind, Result};
use crate::producer::LocalTransactionState;
use crate::producer::config::MAX_MILLIS;
use crate::producer::fault::FaultStrategy;
use crate::producer::hook::{Hooks, SendContext, SendOutcome};
use crate::producer::metrics::{AttemptRecord, ProducerMetrics, SendForm};
use crate::producer::select::Route;
use crate::producer::trace::{
    self, DEFAULT_REGION, EndTransactionFacts, RecordKind, TraceRecord, Tracer,
};
use crate::producer::{ProducerConfig, SendResult, SendStatus};
use crate::protocol::batch;
use crate::protocol::codes::response;
use crate::protocol::command::RemotingCommand;
use crate::protocol::header::{SendMessageRequestHeader, SendMessageResponseHeader};
use crate::protocol::message::{self, Message, sys_flag};
use crate::protocol::namespace;
use crate::protocol::route::{self, MessageQueue};
use crate::protocol::transaction::EndTransactionRequestHeader;
use crate::protocol::unique_id::{self, UniqIdGenerator};
use crate::protocol::validate;

static UNIQ_IDS: Lazy<UniqIdGenerator> =
    Lazy::new(|| UniqIdGenerator::new(crate::transport::local_ip()));

/// An attempt unanswered for its share of the budget (but never less than this) makes its broker
/// suspect: the connection is probed. A broker that answers the probe is slow and is waited for
/// until the send's deadline, as Java waits, so that it is never sent a message it is still
/// storing; one that answers nothing is hung, and the attempt moves on to another broker, so
/// that a hung broker does not eat every retry's time (Java's users' complaint).
const MIN_SUSPECT_AFTER: Duration = Duration::from_millis(1000);

/// Broker response codes after which a send is tried again on another broker (Java's
/// `retryResponseCodes`, 5.3.x).
const RETRY_RESPONSE_CODES: [i32; 8] = [
    response::TOPIC_NOT_EXIST,
    response::SERVICE_NOT_AVAILABLE,
    response::SYSTEM_ERROR,
    response::SYSTEM_BUSY,
    response::NO_PERMISSION,
    response::NO_BUYER_ID,
    response::NOT_IN_CURRENT_UNIT,
    response::GO_AWAY,
];

/// The parts of a message that stay the same across attempts, encoded once.
pub struct Prepared {
    /// The topic as the user named it.
    user_topic: Arc<str>,
    /// The topic on the wire (inside the namespace, if any).
    topic: String,
    /// What the SendResult reports as `msg_id`: the UNIQ_KEY, or a batch's inner UNIQ_KEYs
    /// joined with ','.
    msg_id: String,
    properties: String,
    body: Bytes,
    sys_flag: i32,
    flag: i32,
    batch: bool,
    /// The send's time budget, retries included.
    timeout: Duration,
    /// What a trace record reports of the message.
    tags: Option<String>,
    keys: Option<String>,
    msg_type: u8,
}

impl Prepared {
    /// Validates and encodes `msg`; nothing reaches the network when this fails.
    pub fn new(msg: &Message, config: &ProducerConfig) -> Result<Prepared> {
        validate::validate(msg, config.max_message_size)?;
        let uniq_key = UNIQ_IDS.next_id();
        let mut properties = message::message_properties(msg, &uniq_key);
        add_instance_id(&mut properties, config);
        let (body, sys_flag) = match compressed(&msg.body, config) {
            Some(body) => (Bytes::from(body), config.compress_type.sys_flag()),
            None => (msg.body.clone(), 0),
        };
        Ok(Prepared {
            user_topic: msg.topic.as_str().into(),
            topic: wire_topic(&msg.topic, config)?,
            msg_id: uniq_key,
            properties,
            body,
            sys_flag,
            flag: msg.flag,
            batch: false,
            timeout: send_timeout(msg, config)?,
            // Only a trace record needs them: no copies on the send path otherwise.
            tags: msg.tags.clone().filter(|_| config.enable_msg_trace),
            keys: (config.enable_msg_trace && !msg.keys.is_empty()).then(|| msg.keys.join(" ")),
            msg_type: if msg.delay_level.is_some() {
                trace::message_type::DELAY
            } else {
                trace::message_type::NORMAL
            },
        })
    }

    /// A transaction's half message (`sendMessageInTransaction`): no delay, TRAN_MSG and PGROUP
    /// set, sysFlag TRANSACTION_PREPARED; the broker keeps it invisible until the commit.
    pub fn half(msg: &Message, config: &ProducerConfig) -> Result<Prepared> {
        let mut msg = msg.clone();
        msg.delay_level = None;
        let mut prepared = Prepared::new(&msg, config)?;
        prepared.properties.push_str(&message::encode_properties([
            (message::property::TRAN_MSG, "true"),
            (message::property::PGROUP, config.group.as_str()),
        ]));
        prepared.sys_flag |= sys_flag::TRANSACTION_PREPARED;
        prepared.msg_type = trace::message_type::TRANSACTION_HALF;
        Ok(prepared)
    }

    /// A request of request-reply (`DefaultMQProducerImpl.request`): CORRELATION_ID,
    /// REPLY_TO_CLIENT (this client's id, where the broker pushes the reply) and TTL (ms).
    pub fn request(
        msg: &Message,
        config: &ProducerConfig,
        correlation_id: &str,
        client_id: &str,
        ttl: Duration,
    ) -> Result<Prepared> {
        let mut prepared = Prepared::new(msg, config)?;
        let ttl = ttl.as_millis().to_string();
        prepared.properties.push_str(&message::encode_properties([
            (message::property::CORRELATION_ID, correlation_id),
            (message::property::REPLY_TO_CLIENT, client_id),
            (message::property::TTL, ttl.as_str()),
        ]));
        Ok(prepared)
    }

    /// Validates and encodes a batch (`DefaultMQProducer.batch`): every message gets its own
    /// UNIQ_KEY inside the body; the body is never compressed.
    pub fn batch(msgs: &[Message], config: &ProducerConfig) -> Result<Prepared> {
        batch::check_batch(msgs)?;
        let mut body = BytesMut::new();
        let mut ids = Vec::with_capacity(msgs.len());
        let mut timeout: Option<Duration> = None;
        for msg in msgs {
            validate::validate(msg, config.max_message_size)?;
            if msg.send_timeout_ms.is_some() {
                let own = send_timeout(msg, config)?;
                timeout = Some(timeout.map_or(own, |t| t.min(own)));
            }
            let uniq_key = UNIQ_IDS.next_id();
            let properties = message::message_properties(msg, &uniq_key);
            batch::encode_record(&mut body, msg.flag, &msg.body, &properties)?;
            ids.push(uniq_key);
        }
        if body.len() > config.max_message_size {
            return Err(Error::new(
                ErrorKind::MessageTooLarge,
                format!(
                    "the batch of {} messages encodes to {} bytes, more than the maximum of {}",
                    msgs.len(),
                    body.len(),
                    config.max_message_size
                ),
            ));
        }
        let first = &msgs[0];
        let wait = if first.wait_store_msg_ok {
            "true"
        } else {
            "false"
        };
        // The broker appends the batch's properties to every inner message's. Java gives the
        // batch a UNIQ_KEY of its own, which then overrides every inner one (all messages of
        // a Java batch are stored with one id, not the ids its SendResult reports); without
        // it, each message keeps its own.
        let mut properties = message::encode_properties([(message::property::WAIT, wait)]);
        add_instance_id(&mut properties, config);
        Ok(Prepared {
            user_topic: first.topic.as_str().into(),
            topic: wire_topic(&first.topic, config)?,
            msg_id: ids.join(","),
            properties,
            body: body.freeze(),
            sys_flag: 0,
            flag: 0,
            batch: true,
            timeout: timeout.unwrap_or(config.send_timeout),
            tags: None,
            keys: None,
            msg_type: trace::message_type::NORMAL,
        })
    }

    /// How the statistics name a send of this in `mode`.
    fn form(&self, mode: Mode) -> SendForm {
        match (self.batch, mode) {
            (true, _) => SendForm::Batch,
            (false, Mode::Sync) => SendForm::Sync,
            (false, Mode::Async) => SendForm::Async,
        }
    }

    /// Body bytes on the wire (what async bounds count).
    pub fn body_len(&self) -> usize {
        self.body.len()
    }

    /// The send's time budget, retries included: the message's own or the producer's.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// `queue` (from the wire route) named by the user's topic.
    fn user_queue(&self, queue: &MessageQueue) -> MessageQueue {
        MessageQueue {
            topic: self.user_topic.to_string(),
            ..queue.clone()
        }
    }

    fn hook_context<'a>(
        &'a self,
        config: &'a ProducerConfig,
        queue: &'a MessageQueue,
        broker_addr: &'a str,
        attempt: u32,
        oneway: bool,
    ) -> SendContext<'a> {
        SendContext {
            group: &config.group,
            queue,
            broker_addr,
            msg_id: &self.msg_id,
            attempt,
            batch: self.batch,
            oneway,
            tags: self.tags.as_deref(),
            keys: self.keys.as_deref(),
            body_len: self.body.len(),
            msg_type: self.msg_type,
        }
    }

    /// The topic on the wire.
    pub fn wire_topic(&self) -> &str {
        &self.topic
    }

    /// The topic as the user named it.
    pub fn user_topic(&self) -> &str {
        &self.user_topic
    }

    /// The topic as the user named it, shared (a refcount, not a copy).
    pub fn shared_user_topic(&self) -> Arc<str> {
        self.user_topic.clone()
    }

    fn command(&self, config: &ProducerConfig, queue: &MessageQueue) -> RemotingCommand {
        let header = SendMessageRequestHeader {
            producer_group: config.group.clone(),
            topic: self.topic.clone(),
            default_topic: config.create_topic_key.clone(),
            default_topic_queue_nums: config.default_topic_queue_nums,
            queue_id: queue.queue_id,
            sys_flag: self.sys_flag,
            born_timestamp: now_millis(),
            flag: self.flag,
            properties: self.properties.clone(),
            reconsume_times: 0,
            unit_mode: false,
            max_reconsume_times: None,
            batch: self.batch,
            broker_name: Some(queue.broker_name.clone()),
        };
        header.into_command(self.body.clone())
    }
}

/// A message's own send timeout (Java's `send(msg, timeout)`), or else the producer's.
fn send_timeout(msg: &Message, config: &ProducerConfig) -> Result<Duration> {
    let Some(ms) = msg.send_timeout_ms else {
        return Ok(config.send_timeout);
    };
    u64::try_from(ms)
        .ok()
        .filter(|ms| (1..=MAX_MILLIS).contains(ms))
        .map(Duration::from_millis)
        .ok_or_else(|| {
            Error::invalid_argument(format!(
                "send timeout of {ms} ms is out of range: use 1 to {MAX_MILLIS} ms"
            ))
        })
}

fn compressed(body: &Bytes, config: &ProducerConfig) -> Option<Vec<u8>> {
    if body.len() < config.compress_threshold {
        return None;
    }
    config.compress_type.compress(body, config.compress_level)
}

/// The topic inside the configured namespace, checked again as the broker will see it.
pub(super) fn wire_topic(topic: &str, config: &ProducerConfig) -> Result<String> {
    let wrapped = namespace::wrap(config.namespace.as_deref(), topic);
    if wrapped != topic {
        validate::validate_topic(&wrapped)
            .map_err(|e| e.context(format!("in namespace '{}'", wrapped)))?;
    }
    Ok(wrapped)
}

/// Java tags every message sent in a namespace with property INSTANCE_ID = the namespace.
fn add_instance_id(properties: &mut String, config: &ProducerConfig) {
    if let Some(ns) = &config.namespace {
        properties.push_str(&message::encode_properties([(
            message::property::INSTANCE_ID,
            ns.as_str(),
        )]));
    }
}

fn now_millis() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or_default()
}

/// Java's CommunicationMode of a send that waits for its answer: SYNC or ASYNC.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Mode {
    Sync,
    Async,
}

impl Mode {
    /// Retries on another broker after a failed attempt.
    fn retries(self, config: &ProducerConfig) -> u32 {
        match self {
            Mode::Sync => config.retry_times,
            Mode::Async => config.retry_times_async,
        }
    }

    /// Whether a stored message answered with a status other than SEND_OK is sent again to
    /// another broker: in SYNC mode on request only; Java's ASYNC mode never looks at the status.
    fn retries_not_store_ok(self, config: &ProducerConfig) -> bool {
        self == Mode::Sync && config.retry_another_broker_when_not_store_ok
    }
}

/// Everything one send needs from its producer.
pub struct Sender<'a> {
    pub config: &'a ProducerConfig,
    pub client: &'a Arc<ClientInstance>,
    pub fault: &'a FaultStrategy,
    pub hooks: Hooks,
    pub metrics: &'a ProducerMetrics,
}

impl Sender<'_> {
    /// SYNC or ASYNC mode: up to `1 + retries` attempts, all within the send's timeout.
    #[tracing::instrument(
        name = "send",
        level = "info",
        skip_all,
        fields(topic = %prepared.topic, mode = ?mode)
    )]
    pub async fn send(&self, prepared: &Prepared, mode: Mode) -> Result<SendResult> {
        let result = self.send_with_retries(prepared, mode).await;
        self.metrics
            .answered_send_ended(prepared.form(mode), &result);
        result
    }

    async fn send_with_retries(&self, prepared: &Prepared, mode: Mode) -> Result<SendResult> {
        let started = Instant::now();
        let deadline = started + prepared.timeout;
        let info = self.client.publish_info(&prepared.topic, deadline).await?;
        let attempts = 1 + mode.retries(self.config);
        let mut last_broker: Option<String> = None;
        let mut last_error: Option<Error> = None;
        let mut last_result: Option<SendResult> = None;
        let mut brokers_tried: Vec<String> = Vec::new();
        for attempt in 0..attempts {
            let now = Instant::now();
            if now >= deadline {
                break;
            }
            let queue = self.fault.select(&info, last_broker.as_deref())?;
            let suspect_at = suspect_at(now, deadline, attempts - attempt);
            brokers_tried.push(queue.broker_name.clone());
            let begin = Instant::now();
            let outcome = self
                .attempt(&info, prepared, &queue, attempt, Some(suspect_at), deadline)
                .await;
            let latency = begin.elapsed();
            match outcome {
                Ok(result) => {
                    self.fault.update(&queue.broker_name, latency, false);
                    if result.status != SendStatus::SendOk && mode.retries_not_store_ok(self.config)
                    {
                        last_broker = Some(queue.broker_name.clone());
                        last_result = Some(result);
                        continue;
                    }
                    return Ok(result);
                }
                Err(e) => {
                    let verdict = Verdict::of(&e);
                    tracing::debug!(topic = %prepared.topic, broker = %queue.broker_name, attempt, error = %e, "send attempt failed");
                    if verdict.isolate {
                        self.fault.update(&queue.broker_name, latency, true);
                    }
                    if verdict.refresh_route {
                        self.client.refresh_route_soon(&prepared.topic);
                    }
                    if !verdict.retry {
                        return Err(e);
                    }
                    last_broker = Some(queue.broker_name.clone());
                    last_error = Some(e);
                }
            }
        }
        if let Some(result) = last_result {
            return Ok(result);
        }
        let cost = started.elapsed().as_millis();
        let tried = brokers_tried.join(", ");
        let error = match last_error {
            Some(e) => e,
            None => Error::new(
                ErrorKind::Timeout,
                "the send timeout passed before an attempt could start",
            ),
        };
        Err(error.context(format!(
            "send to topic '{}' failed after {} attempt(s) in {cost} ms (brokers: {tried})",
            prepared.topic,
            brokers_tried.len()
        )))
    }

    /// SYNC or ASYNC mode along `route`: automatic routes retry as `send`, chosen queues get
    /// one attempt and leave the fault strategy alone (as Java's `sendSelectImpl`).
    pub async fn send_routed(
        &self,
        prepared: &Prepared,
        route: Route,
        mode: Mode,
    ) -> Result<SendResult> {
        if let Route::Auto = route {
            return self.send(prepared, mode).await;
        }
        self.send_to_chosen_queue(prepared, route, mode).await
    }

    /// One attempt on the queue `route` chooses, with nowhere else to go: it waits until the
    /// deadline, even on a hung broker.
    #[tracing::instrument(
        name = "send",
        level = "info",
        skip_all,
        fields(topic = %prepared.topic, mode = ?mode)
    )]
    async fn send_to_chosen_queue(
        &self,
        prepared: &Prepared,
        route: Route,
        mode: Mode,
    ) -> Result<SendResult> {
        let deadline = Instant::now() + prepared.timeout;
        let sent = async {
            let info = self.client.publish_info(&prepared.topic, deadline).await?;
            let queues = user_queues(&info.queues, &prepared.user_topic);
            let queue = route.pick(&prepared.user_topic, &queues, deadline).await?;
            self.attempt(&info, prepared, &queue, 0, None, deadline)
                .await
        };
        let result = sent.await;
        self.metrics
            .answered_send_ended(prepared.form(mode), &result);
        result
    }

    /// The queue a chosen route names, or picks among `user_topic`'s writable queues.
    pub async fn pick_queue(
        &self,
        user_topic: &str,
        route: Route,
        deadline: Instant,
    ) -> Result<MessageQueue> {
        let info = self
            .client
            .publish_info(&wire_topic(user_topic, self.config)?, deadline)
            .await?;
        let queues = user_queues(&info.queues, user_topic);
        route.pick(user_topic, &queues, deadline).await
    }

    /// ONEWAY mode: one attempt, returns once the request is queued to the broker's connection.
    #[tracing::instrument(
        name = "send",
        level = "info",
        skip_all,
        fields(topic = %prepared.topic, mode = "Oneway")
    )]
    pub async fn send_oneway(&self, prepared: &Prepared) -> Result<()> {
        let result = self.send_oneway_once(prepared).await;
        self.metrics.oneway_send_ended(&result);
        result
    }

    async fn send_oneway_once(&self, prepared: &Prepared) -> Result<()> {
        let deadline = Instant::now() + prepared.timeout;
        let info = self.client.publish_info(&prepared.topic, deadline).await?;
        let queue = self.fault.select(&info, None)?;
        let addr = &self.broker_addr(&info, &queue)?;
        let cmd = prepared.command(self.config, &queue);
        let user_queue = prepared.user_queue(&queue);
        let ctx = prepared.hook_context(self.config, &user_queue, addr, 0, true);
        self.hooks.before(&ctx);
        let begin = Instant::now();
        let result = self.client.oneway_broker(addr, cmd, deadline).await;
        let latency = begin.elapsed();
        self.attempt_ended(prepared, &queue, 0, latency, result.is_ok());
        let outcome = match &result {
            Ok(()) => SendOutcome::Written,
            Err(e) => SendOutcome::Failed(e),
        };
        self.hooks.after(&ctx, latency, outcome);
        if let Err(e) = &result {
            let verdict = Verdict::of(e);
            if verdict.isolate {
                self.fault.update(&queue.broker_name, Duration::ZERO, true);
            }
            if verdict.refresh_route {
                self.client.refresh_route_soon(&prepared.topic);
            }
        }
        result
    }

    /// END_TRANSACTION (oneway) for a half message this producer sent, to the master that
    /// stored it (`DefaultMQProducerImpl.endTransaction`).
    pub async fn end_transaction(
        &self,
        prepared: &Prepared,
        half: &SendResult,
        state: LocalTransactionState,
        remark: Option<String>,
        tracer: Option<&Tracer>,
    ) -> Result<()> {
        let deadline = Instant::now() + prepared.timeout;
        // The broker that stored the half message ends it, writable or not (drained).
        let info = self.client.route_info(&prepared.topic, deadline).await?;
        let addr = &self.broker_addr(&info, &half.queue)?;
        if let Some(tracer) = tracer {
            tracer.record(TraceRecord {
                timestamp_ms: trace::now_millis(),
                region_id: DEFAULT_REGION.to_string(),
                group: self.config.group.clone(),
                topic: prepared.user_topic.to_string(),
                msg_id: half.msg_id.clone(),
                tags: prepared.tags.clone(),
                keys: prepared.keys.clone(),
                store_host: addr.clone(),
                kind: RecordKind::EndTransaction(EndTransactionFacts {
                    // Java's transaction id of the message: its UNIQ_KEY.
                    transaction_id: Some(half.msg_id.clone()),
                    state,
                    from_check: false,
                }),
            });
        }
        let (_, commit_log_offset) = unique_id::decode_offset_msg_id(&half.offset_msg_id)?;
        let header = EndTransactionRequestHeader {
            topic: prepared.topic.clone(),
            producer_group: self.config.group.clone(),
            tran_state_table_offset: half.queue_offset,
            commit_log_offset,
            commit_or_rollback: state.wire_type(),
            from_transaction_check: false,
            msg_id: half.msg_id.clone(),
            transaction_id: half.transaction_id.clone(),
            broker_name: Some(half.queue.broker_name.clone()),
        };
        self.client
            .oneway_broker(addr, header.to_command(remark), deadline)
            .await
    }

    /// Where requests for `queue` go: its broker's master, on the VIP channel when enabled.
    fn broker_addr(&self, info: &TopicPublishInfo, queue: &MessageQueue) -> Result<String> {
        let addr = master_addr(info, queue)?;
        Ok(if self.config.vip_channel_enabled {
            route::vip_channel_addr(addr)
        } else {
            addr.to_string()
        })
    }

    #[tracing::instrument(
        name = "send_attempt",
        level = "debug",
        skip_all,
        fields(broker = %queue.broker_name, queue_id = queue.queue_id, attempt = attempt)
    )]
    async fn attempt(
        &self,
        info: &TopicPublishInfo,
        prepared: &Prepared,
        queue: &MessageQueue,
        attempt: u32,
        suspect_at: Option<Instant>,
        deadline: Instant,
    ) -> Result<SendResult> {
        let addr = &self.broker_addr(info, queue)?;
        let cmd = prepared.command(self.config, queue);
        let user_queue = prepared.user_queue(queue);
        let ctx = prepared.hook_context(self.config, &user_queue, addr, attempt, false);
        self.hooks.before(&ctx);
        let begin = Instant::now();
        let response = self
            .client
            .invoke_broker(addr, cmd, suspect_at, deadline)
            .await;
        let result = match response {
            Ok(response) => send_result(response, queue, prepared, addr),
            Err(e) => Err(e),
        };
        let latency = begin.elapsed();
        self.attempt_ended(prepared, queue, attempt, latency, result.is_ok());
        let outcome = match &result {
            Ok(stored) => SendOutcome::Stored(stored),
            Err(e) => SendOutcome::Failed(e),
        };
        self.hooks.after(&ctx, latency, outcome);
        result
    }

    fn attempt_ended(
        &self,
        prepared: &Prepared,
        queue: &MessageQueue,
        attempt: u32,
        latency: Duration,
        succeeded: bool,
    ) {
        let record = AttemptRecord {
            topic: &prepared.user_topic,
            client_id: self.client.client_id(),
            broker_name: &queue.broker_name,
            latency,
            succeeded,
        };
        self.metrics
            .attempt_ended(&record, attempt, prepared.body_len());
    }
}

/// The queues of a route as the user sees them: named by the user's topic (Java's
/// `parsePublishMessageQueues` takes the namespace off).
pub fn user_queues(queues: &[MessageQueue], user_topic: &str) -> Vec<MessageQueue> {
    queues
        .iter()
        .map(|q| MessageQueue {
            topic: user_topic.to_string(),
            ..q.clone()
        })
        .collect()
}

fn master_addr<'a>(info: &'a TopicPublishInfo, queue: &MessageQueue) -> Result<&'a str> {
    info.master_addr(&queue.broker_name).ok_or_else(|| {
        Error::new(
            ErrorKind::NoRoute,
            format!(
                "the route names no master for broker '{}'",
                queue.broker_name
            ),
        )
    })
}

/// When an unanswered attempt makes its broker suspect: after an even share of what is left,
/// but at least [`MIN_SUSPECT_AFTER`] (or all that is left: the last attempt is never probed).
fn suspect_at(now: Instant, deadline: Instant, attempts_left: u32) -> Instant {
    let remaining = deadline - now;
    let share = remaining / attempts_left.max(1);
    (now + share.max(MIN_SUSPECT_AFTER.min(remaining))).min(deadline)
}

/// `MQClientAPIImpl.processSendResponse`.
pub(crate) fn send_result(
    response: RemotingCommand,
    queue: &MessageQueue,
    prepared: &Prepared,
    addr: &str,
) -> Result<SendResult> {
    let status = match response.code {
        response::SUCCESS => SendStatus::SendOk,
        response::FLUSH_DISK_TIMEOUT => SendStatus::FlushDiskTimeout,
        response::FLUSH_SLAVE_TIMEOUT => SendStatus::FlushSlaveTimeout,
        response::SLAVE_NOT_AVAILABLE => SendStatus::SlaveNotAvailable,
        code => return Err(Error::broker(code, response.remark, addr)),
    };
    let header = SendMessageResponseHeader::from_ext_fields(response.ext_fields)
        .map_err(|e| e.with_addr(addr))?;
    Ok(SendResult {
        status,
        msg_id: prepared.msg_id.clone(),
        offset_msg_id: header.msg_id,
        queue: MessageQueue {
            topic: prepared.user_topic.to_string(),
            broker_name: queue.broker_name.clone(),
            queue_id: header.queue_id,
        },
        queue_offset: header.queue_offset,
        transaction_id: header.transaction_id,
        region_id: header
            .region_id
            .unwrap_or_else(|| DEFAULT_REGION.to_string()),
        trace_on: header.trace_on.as_deref() != Some("false"),
        recall_handle: header.recall_handle,
    })
}

/// What a failed attempt means for the next one.
struct Verdict {
    retry: bool,
    isolate: bool,
    refresh_route: bool,
}

impl Verdict {
    fn of(error: &Error) -> Verdict {
        match error.kind() {
            ErrorKind::Connect | ErrorKind::Network => Verdict {
                retry: true,
                isolate: true,
                refresh_route: true,
            },
            ErrorKind::Timeout => Verdict {
                retry: true,
                isolate: true,
                refresh_route: false,
            },
            ErrorKind::NoRoute => Verdict {
                retry: true,
                isolate: false,
                refresh_route: true,
            },
            ErrorKind::Broker => {
                let code = error.response_code().unwrap_or_default();
                Verdict {
                    retry: RETRY_RESPONSE_CODES.contains(&code),
                    isolate: true,
                    refresh_route: code == response::TOPIC_NOT_EXIST,
                }
            }
            _ => Verdict {
                retry: false,
                isolate: false,
                refresh_route: false,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suspicion_comes_after_a_share_of_the_budget_with_a_floor() {
        let now = Instant::now();
        let deadline = now + Duration::from_millis(3000);
        assert_eq!(
            suspect_at(now, deadline, 3),
            now + Duration::from_millis(1000)
        );
        assert_eq!(suspect_at(now, deadline, 1), deadline);
        let short = now + Duration::from_millis(300);
        assert_eq!(suspect_at(now, short, 3), short);
    }

    #[test]
    fn only_sync_mode_retries_a_status_other_than_send_ok_and_only_on_request() {
        let mut config = ProducerConfig::new("g");
        assert!(!Mode::Sync.retries_not_store_ok(&config));
        config.retry_another_broker_when_not_store_ok = true;
        assert!(Mode::Sync.retries_not_store_ok(&config));
        assert!(!Mode::Async.retries_not_store_ok(&config));
    }

    #[test]
    fn a_message_s_send_timeout_replaces_the_producer_s_and_a_batch_takes_the_smallest() {
        let config = ProducerConfig::new("g");
        let plain = Message::new("T", "x");
        assert_eq!(
            Prepared::new(&plain, &config).unwrap().timeout(),
            config.send_timeout
        );
        let own = plain.clone().with_send_timeout(Duration::from_millis(250));
        assert_eq!(
            Prepared::new(&own, &config).unwrap().timeout(),
            Duration::from_millis(250)
        );
        let longer = plain.clone().with_send_timeout(Duration::from_secs(9));
        let batch = Prepared::batch(&[plain.clone(), longer.clone(), own], &config).unwrap();
        assert_eq!(batch.timeout(), Duration::from_millis(250));
        let batch = Prepared::batch(&[plain.clone(), longer], &config).unwrap();
        assert_eq!(batch.timeout(), Duration::from_secs(9));
    }

    #[test]
    fn a_send_timeout_out_of_range_is_refused_before_any_traffic() {
        let config = ProducerConfig::new("g");
        for ms in [0, -1, i64::MIN, MAX_MILLIS as i64 + 1, i64::MAX] {
            let mut msg = Message::new("T", "x");
            msg.send_timeout_ms = Some(ms);
            let err = Prepared::new(&msg, &config).err().unwrap();
            assert_eq!(err.kind(), ErrorKind::InvalidArgument, "{ms}");
            assert!(err.message().contains(&ms.to_string()), "{err}");
            let err = Prepared::batch(&[Message::new("T", "y"), msg], &config)
                .err()
                .unwrap();
            assert_eq!(err.kind(), ErrorKind::InvalidArgument, "{ms}");
        }
    }

    #[test]
    fn broker_codes_retry_as_java() {
        let busy = Error::broker(response::SYSTEM_BUSY, None, "b");
        assert!(Verdict::of(&busy).retry);
        let illegal = Error::broker(response::MESSAGE_ILLEGAL, None, "b");
        assert!(!Verdict::of(&illegal).retry);
        let missing = Error::broker(response::TOPIC_NOT_EXIST, None, "b");
        assert!(Verdict::of(&missing).refresh_route);
        assert!(!Verdict::of(&Error::invalid_message("x")).retry);
    }
}
