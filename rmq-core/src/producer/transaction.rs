//! Transactional messages (`TransactionMQProducer`): a half message the broker keeps invisible,
//! a local transaction run by the caller, then commit or rollback; when the outcome stays
//! unknown, the broker asks again later and the producer's check function answers.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;

use futures_util::FutureExt;
use tokio::time::Instant;

use crate::client::{ClientInstance, TransactionCheckHandler};
use crate::error::Result;
use crate::producer::send::{Mode, Prepared};
use crate::producer::trace::{
    self, DEFAULT_REGION, EndTransactionFacts, RecordKind, TraceRecord, Tracer,
};
use crate::producer::{Producer, ProducerConfig, SendResult, SendStatus};
use crate::protocol::message::{Message, property};
use crate::protocol::stored::StoredMessage;
use crate::protocol::transaction::{
    CheckTransactionStateRequestHeader, EndTransactionRequestHeader, TRANSACTION_COMMIT_TYPE,
    TRANSACTION_NOT_TYPE, TRANSACTION_ROLLBACK_TYPE,
};
use crate::runtime;

/// How a local transaction ended (Java's `LocalTransactionState`: three values, matched exhaustively).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LocalTransactionState {
    /// Make the message visible.
    Commit,
    /// Drop the message.
    Rollback,
    /// Not known yet: the broker will ask the check function later.
    Unknown,
}

impl LocalTransactionState {
    pub fn name(self) -> &'static str {
        match self {
            LocalTransactionState::Commit => "COMMIT_MESSAGE",
            LocalTransactionState::Rollback => "ROLLBACK_MESSAGE",
            LocalTransactionState::Unknown => "UNKNOW",
        }
    }

    /// END_TRANSACTION's `commitOrRollback`.
    pub(crate) fn wire_type(self) -> i32 {
        match self {
            LocalTransactionState::Commit => TRANSACTION_COMMIT_TYPE,
            LocalTransactionState::Rollback => TRANSACTION_ROLLBACK_TYPE,
            LocalTransactionState::Unknown => TRANSACTION_NOT_TYPE,
        }
    }
}

/// A half message whose outcome the broker asks about.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct TransactionCheck {
    /// The message's UNIQ_KEY (the `msg_id` its send reported).
    pub msg_id: String,
    pub transaction_id: Option<String>,
    /// The message as sent: topic (without namespace), body, tags, keys, user properties.
    pub message: Message,
    pub born_timestamp: i64,
    /// How many times the broker has asked already (property TRANSACTION_CHECK_TIMES).
    pub check_times: u32,
}

/// The outcome of [`TransactionProducer::send_in_transaction`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TransactionSendResult {
    /// The half message's send result.
    pub send_result: SendResult,
    /// What the local transaction returned (Rollback when the half message was not stored OK).
    pub local_state: LocalTransactionState,
}

/// The function that answers the broker's checks; runs on the producer's check thread, one check
/// at a time (it may block).
pub type TransactionChecker = Arc<dyn Fn(&TransactionCheck) -> LocalTransactionState + Send + Sync>;

/// A producer of transactional messages. Ordinary sends go through [`TransactionProducer::producer`].
#[derive(Clone)]
pub struct TransactionProducer {
    producer: Producer,
    checker: TransactionChecker,
}

impl TransactionProducer {
    /// `check` answers the broker's checks of half messages whose outcome is unknown; it may
    /// block (it runs on a thread of its own) and a panic in it counts as Unknown.
    pub fn new<F>(config: ProducerConfig, check: F) -> Result<Self>
    where
        F: Fn(&TransactionCheck) -> LocalTransactionState + Send + Sync + 'static,
    {
        Ok(TransactionProducer {
            producer: Producer::new(config)?,
            checker: Arc::new(check),
        })
    }

    /// The underlying producer, for ordinary sends in the same group.
    pub fn producer(&self) -> &Producer {
        &self.producer
    }

    /// Starts the producer and begins answering the broker's checks for its group.
    pub async fn start(&self) -> Result<()> {
        self.producer.start().await?;
        let client = self.producer.inner.client()?;
        let handler = check_handler(
            Arc::downgrade(&client),
            self.producer.inner.config.clone(),
            self.checker.clone(),
            self.producer.inner.tracer.clone(),
        );
        client.register_transaction_checker(&self.producer.inner.config.group, handler);
        Ok(())
    }

    /// Stops answering checks (the broker asks another producer of the group, or later) and
    /// shuts the producer down.
    pub async fn shutdown(&self) -> Result<()> {
        if let Ok(client) = self.producer.inner.client() {
            client.unregister_transaction_checker(&self.producer.inner.config.group);
        }
        self.producer.shutdown().await
    }

    /// Sends `msg` as a half message (SYNC, with retries), runs `local` with it and its send
    /// result on the calling task, then commits or rolls back as `local` says (END_TRANSACTION,
    /// oneway; if that is lost, the broker's check settles it). A panic in `local` counts as
    /// Unknown. A delay level on `msg` is ignored, as in Java.
    pub async fn send_in_transaction<F>(
        &self,
        msg: Message,
        local: F,
    ) -> Result<TransactionSendResult>
    where
        F: FnOnce(&Message, &SendResult) -> LocalTransactionState,
    {
        self.send_in_transaction_async(msg, |msg, half| std::future::ready(local(&msg, &half)))
            .await
    }

    /// [`TransactionProducer::send_in_transaction`] with a local transaction that may wait
    /// (for a database, or for a language runtime's own thread): the future `local` returns is
    /// awaited on the calling task. A panic in `local` or in its future counts as Unknown.
    pub async fn send_in_transaction_async<F, Fut>(
        &self,
        msg: Message,
        local: F,
    ) -> Result<TransactionSendResult>
    where
        F: FnOnce(Message, SendResult) -> Fut,
        Fut: Future<Output = LocalTransactionState>,
    {
        let inner = &self.producer.inner;
        let client = inner.client()?;
        let prepared = Arc::new(Prepared::half(&msg, &inner.config)?);
        let send_result = {
            let (inner, client, prepared) = (inner.clone(), client.clone(), prepared.clone());
            runtime::on_runtime(
                async move { inner.sender(&client).send(&prepared, Mode::Sync).await },
            )
            .await?
        };
        let (local_state, remark) = if send_result.status == SendStatus::SendOk {
            let half = send_result.clone();
            match AssertUnwindSafe(async move { local(msg, half).await })
                .catch_unwind()
                .await
            {
                Ok(state) => (state, None),
                Err(panic) => (
                    LocalTransactionState::Unknown,
                    Some(format!(
                        "local transaction panicked: {}",
                        runtime::panic_message(panic)
                    )),
                ),
            }
        } else {
            (LocalTransactionState::Rollback, None)
        };
        let ended = {
            let (inner, half) = (inner.clone(), send_result.clone());
            runtime::on_runtime(async move {
                inner
                    .sender(&client)
                    .end_transaction(
                        &prepared,
                        &half,
                        local_state,
                        remark,
                        inner.tracer.as_deref(),
                    )
                    .await
            })
            .await
        };
        if let Err(e) = ended {
            tracing::warn!(msg_id = %send_result.msg_id, error = %e, "END_TRANSACTION not sent; the broker's check will settle it");
        }
        Ok(TransactionSendResult {
            send_result,
            local_state,
        })
    }
}

/// Checks waiting for the check function beyond this many are dropped with a warning; the
/// broker checks an unsettled half message again later (Java: one check thread, 2,000 queued).
const CHECK_QUEUE: usize = 2000;

/// A check of a half message as the broker sent it: the broker's address, the header, the
/// half message.
type CheckRequest = (String, CheckTransactionStateRequestHeader, StoredMessage);

/// Answers checks for one group: one thread of its own runs the checker (it may block) on the
/// checks in arrival order, at most [`CHECK_QUEUE`] waiting; each answer is an
/// END_TRANSACTION (oneway, `fromTransactionCheck`) to the broker that asked. The thread ends
/// once the handler is dropped and the queue is drained.
fn check_handler(
    client: std::sync::Weak<ClientInstance>,
    config: ProducerConfig,
    checker: TransactionChecker,
    tracer: Option<Arc<Tracer>>,
) -> TransactionCheckHandler {
    let (queue, checks) = std::sync::mpsc::sync_channel::<CheckRequest>(CHECK_QUEUE);
    let spawned = std::thread::Builder::new()
        .name("rmq-tx-check".into())
        .spawn(move || {
            for (addr, header, stored) in checks {
                let tracer = tracer.as_deref();
                answer_check(&client, &config, &checker, tracer, addr, header, stored);
            }
        });
    if let Err(e) = &spawned {
        // The sender below then reports every check as dropped; the broker keeps asking.
        tracing::error!(error = %e, "the transaction check thread could not start");
    }
    Arc::new(
        move |addr: String, header: CheckTransactionStateRequestHeader, stored: StoredMessage| {
            if let Err(e) = queue.try_send((addr, header, stored)) {
                let (addr, _, stored) = match e {
                    std::sync::mpsc::TrySendError::Full(check)
                    | std::sync::mpsc::TrySendError::Disconnected(check) => check,
                };
                tracing::warn!(addr, topic = %stored.topic, queued = CHECK_QUEUE, "transaction check dropped: the check function is behind; the broker will check again");
            }
        },
    )
}

/// Runs the checker on one check (a panic counts as Unknown) and sends its answer.
fn answer_check(
    client: &std::sync::Weak<ClientInstance>,
    config: &ProducerConfig,
    checker: &TransactionChecker,
    tracer: Option<&Tracer>,
    addr: String,
    header: CheckTransactionStateRequestHeader,
    stored: StoredMessage,
) {
    let check = transaction_check(&stored, &header, config.namespace.as_deref());
    let state = std::panic::catch_unwind(AssertUnwindSafe(|| checker(&check))).unwrap_or_else(|_| {
        tracing::error!(msg_id = %check.msg_id, "the transaction check function panicked; answering Unknown");
        LocalTransactionState::Unknown
    });
    let Some(client) = client.upgrade() else {
        return;
    };
    let end = check_answer(&config.group, &stored, &header, &check, state);
    if let Some(tracer) = tracer {
        tracer.record(check_answer_record(config, &addr, &check, state));
    }
    runtime::spawn(async move {
        let deadline = Instant::now() + Duration::from_secs(3);
        if let Err(e) = client
            .oneway_broker(&addr, end.to_command(None), deadline)
            .await
        {
            tracing::warn!(addr, msg_id = %end.msg_id, error = %e, "answer to a transaction check not sent");
        }
    });
}

/// The EndTransaction trace record of a check's answer.
fn check_answer_record(
    config: &ProducerConfig,
    addr: &str,
    check: &TransactionCheck,
    state: LocalTransactionState,
) -> TraceRecord {
    let msg = &check.message;
    TraceRecord {
        timestamp_ms: trace::now_millis(),
        region_id: DEFAULT_REGION.to_string(),
        group: config.group.clone(),
        topic: msg.topic.clone(),
        msg_id: check.msg_id.clone(),
        tags: msg.tags.clone(),
        keys: (!msg.keys.is_empty()).then(|| msg.keys.join(" ")),
        store_host: addr.to_string(),
        kind: RecordKind::EndTransaction(EndTransactionFacts {
            // Java's transaction id of the message: its UNIQ_KEY.
            transaction_id: Some(check.msg_id.clone()),
            state,
            from_check: true,
        }),
    }
}

/// The END_TRANSACTION that answers `header` with `state`; `bname` only when the broker sent
/// one (4.x brokers send none, and would read an empty value as null).
fn check_answer(
    group: &str,
    stored: &StoredMessage,
    header: &CheckTransactionStateRequestHeader,
    check: &TransactionCheck,
    state: LocalTransactionState,
) -> EndTransactionRequestHeader {
    EndTransactionRequestHeader {
        topic: stored.topic.clone(),
        producer_group: group.to_string(),
        tran_state_table_offset: header.tran_state_table_offset,
        commit_log_offset: header.commit_log_offset,
        commit_or_rollback: state.wire_type(),
        from_transaction_check: true,
        msg_id: check.msg_id.clone(),
        transaction_id: header.transaction_id.clone(),
        broker_name: header.broker_name.clone(),
    }
}

/// The half message of a check as the user sent it.
fn transaction_check(
    stored: &StoredMessage,
    header: &CheckTransactionStateRequestHeader,
    namespace: Option<&str>,
) -> TransactionCheck {
    TransactionCheck {
        msg_id: stored
            .property(property::UNIQ_KEY)
            .map(str::to_string)
            .or_else(|| header.msg_id.clone())
            .unwrap_or_default(),
        transaction_id: header.transaction_id.clone(),
        message: stored.to_message(namespace),
        born_timestamp: stored.born_timestamp,
        check_times: stored
            .property(CHECK_TIMES)
            .and_then(|n| n.parse().ok())
            .unwrap_or(0),
    }
}

/// How many times the broker checked a half message (a property it adds).
const CHECK_TIMES: &str = "TRANSACTION_CHECK_TIMES";

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::message;

    fn stored_half(topic: &str, flag: i32, properties: &str) -> StoredMessage {
        StoredMessage {
            topic: topic.into(),
            queue_id: 0,
            flag,
            queue_offset: 0,
            commit_log_offset: 0,
            sys_flag: 4,
            born_timestamp: 1,
            born_host: "127.0.0.1:1".parse().unwrap(),
            store_timestamp: 2,
            store_host: "127.0.0.1:2".parse().unwrap(),
            body: "b".into(),
            properties: message::decode_properties(properties),
        }
    }

    const HALF_PROPERTIES: &str = "TRAN_MSG\u{1}true\u{2}PGROUP\u{1}G\u{2}UNIQ_KEY\u{1}ID9\u{2}";

    /// A 4.9.x broker's check names no broker: the answer must carry no `bname` at all (a
    /// zero-length value is read as null by a 4.x broker and breaks its ACL 1.0 signature).
    #[test]
    fn the_answer_to_a_check_without_bname_carries_none_on_the_wire() {
        let stored = stored_half("Orders", 0, HALF_PROPERTIES);
        let mut header = CheckTransactionStateRequestHeader {
            tran_state_table_offset: 7,
            commit_log_offset: 99,
            msg_id: Some("ID9".into()),
            transaction_id: Some("TX".into()),
            offset_msg_id: None,
            broker_name: None,
        };
        let encoded = |header: &CheckTransactionStateRequestHeader| {
            let check = transaction_check(&stored, header, None);
            let end = check_answer("G", &stored, header, &check, LocalTransactionState::Commit);
            let mut frame = bytes::BytesMut::new();
            end.to_command(None).encode(
                crate::protocol::command::SerializeType::RocketMq,
                &mut frame,
            );
            frame
        };
        let contains =
            |frame: &[u8], needle: &[u8]| frame.windows(needle.len()).any(|w| w == needle);
        let frame = encoded(&header);
        assert!(!contains(&frame, b"bname"), "bname on the wire: {frame:?}");
        assert!(contains(&frame, b"commitOrRollback"));
        header.broker_name = Some("broker-a".into());
        assert!(contains(&encoded(&header), b"bname"));
    }

    /// Checks run one at a time on the check thread; beyond the queue they are dropped (the
    /// broker checks again) instead of taking a thread each.
    #[test]
    fn checks_run_one_at_a_time_and_the_excess_is_dropped() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        let running = Arc::new(AtomicUsize::new(0));
        let most = Arc::new(AtomicUsize::new(0));
        let ran = Arc::new(AtomicUsize::new(0));
        let (release, gate) = std::sync::mpsc::channel::<()>();
        let gate = Arc::new(parking_lot::Mutex::new(Some(gate)));
        let checker: TransactionChecker = {
            let (running, most, ran, gate) =
                (running.clone(), most.clone(), ran.clone(), gate.clone());
            Arc::new(move |_| {
                let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                most.fetch_max(now, Ordering::SeqCst);
                // Every check waits until the test has sent them all.
                if let Some(gate) = gate.lock().as_ref() {
                    let _ = gate.recv();
                }
                running.fetch_sub(1, Ordering::SeqCst);
                ran.fetch_add(1, Ordering::SeqCst);
                LocalTransactionState::Commit
            })
        };
        let handler = check_handler(
            std::sync::Weak::new(),
            ProducerConfig::new("G"),
            checker,
            None,
        );
        let header = CheckTransactionStateRequestHeader {
            tran_state_table_offset: 0,
            commit_log_offset: 0,
            msg_id: None,
            transaction_id: None,
            offset_msg_id: None,
            broker_name: None,
        };
        let sent = CHECK_QUEUE + 500;
        for _ in 0..sent {
            handler(
                "127.0.0.1:1".into(),
                header.clone(),
                stored_half("Orders", 0, HALF_PROPERTIES),
            );
        }
        drop(release);
        *gate.lock() = None;
        drop(handler);
        let begin = std::time::Instant::now();
        while ran.load(Ordering::SeqCst) < CHECK_QUEUE
            && begin.elapsed() < std::time::Duration::from_secs(30)
        {
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        std::thread::sleep(std::time::Duration::from_millis(300));
        let ran = ran.load(Ordering::SeqCst);
        assert_eq!(most.load(Ordering::SeqCst), 1, "checks ran concurrently");
        // One check running plus a full queue; the rest were dropped.
        assert!(
            (CHECK_QUEUE..=CHECK_QUEUE + 1).contains(&ran),
            "{ran} of {sent} checks ran"
        );
    }

    #[test]
    fn checked_message_gets_back_its_user_view() {
        let stored = stored_half(
            "ns1%Orders",
            3,
            "color\u{1}red\u{2}TAGS\u{1}T\u{2}KEYS\u{1}k1 k2\u{2}WAIT\u{1}true\u{2}TRAN_MSG\u{1}true\u{2}PGROUP\u{1}G\u{2}UNIQ_KEY\u{1}ID9\u{2}TRANSACTION_CHECK_TIMES\u{1}2\u{2}__transactionId__\u{1}X\u{2}",
        );
        let header = CheckTransactionStateRequestHeader {
            tran_state_table_offset: 0,
            commit_log_offset: 0,
            msg_id: None,
            transaction_id: Some("TX".into()),
            offset_msg_id: None,
            broker_name: None,
        };
        let check = transaction_check(&stored, &header, Some("ns1"));
        assert_eq!(check.msg_id, "ID9");
        assert_eq!(check.check_times, 2);
        assert_eq!(check.message.topic, "Orders");
        assert_eq!(check.message.tags.as_deref(), Some("T"));
        assert_eq!(check.message.keys, ["k1", "k2"]);
        assert_eq!(check.message.flag, 3);
        assert_eq!(
            check.message.properties,
            [("color".to_string(), "red".to_string())]
        );
    }
}
