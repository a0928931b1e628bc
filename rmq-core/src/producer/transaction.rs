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
use crate::producer::send::Prepared;
use crate::producer::{Producer, ProducerConfig, SendResult, SendStatus};
use crate::protocol::message::{Message, property};
use crate::protocol::stored::StoredMessage;
use crate::protocol::transaction::{
    CheckTransactionStateRequestHeader, EndTransactionRequestHeader, TRANSACTION_COMMIT_TYPE,
    TRANSACTION_NOT_TYPE, TRANSACTION_ROLLBACK_TYPE,
};
use crate::runtime;

/// How a local transaction ended (Java's `LocalTransactionState`).
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
    fn wire_type(self) -> i32 {
        match self {
            LocalTransactionState::Commit => TRANSACTION_COMMIT_TYPE,
            LocalTransactionState::Rollback => TRANSACTION_ROLLBACK_TYPE,
            LocalTransactionState::Unknown => TRANSACTION_NOT_TYPE,
        }
    }
}

/// A half message whose outcome the broker asks about.
#[derive(Debug, Clone)]
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
pub struct TransactionSendResult {
    /// The half message's send result.
    pub send_result: SendResult,
    /// What the local transaction returned (Rollback when the half message was not stored OK).
    pub local_state: LocalTransactionState,
}

/// The function that answers the broker's checks; runs on a blocking-safe thread.
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
            runtime::on_runtime(async move {
                inner
                    .sender(&client)
                    .send(&prepared, inner.config.retry_times)
                    .await
            })
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
                    .end_transaction(&prepared, &half, local_state.wire_type(), remark)
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

/// Answers checks for one group: runs the checker on a blocking thread, then END_TRANSACTION
/// (oneway, `fromTransactionCheck`) to the broker that asked.
fn check_handler(
    client: std::sync::Weak<ClientInstance>,
    config: ProducerConfig,
    checker: TransactionChecker,
) -> TransactionCheckHandler {
    Arc::new(
        move |addr: String, header: CheckTransactionStateRequestHeader, stored: StoredMessage| {
            let (client, config, checker) = (client.clone(), config.clone(), checker.clone());
            runtime::spawn(async move {
                let check = transaction_check(&stored, &header, config.namespace.as_deref());
                let asked = check.clone();
                let state = tokio::task::spawn_blocking(move || {
                    std::panic::catch_unwind(AssertUnwindSafe(|| checker(&asked)))
                })
                .await;
                let state = match state {
                    Ok(Ok(state)) => state,
                    _ => {
                        tracing::error!(msg_id = %check.msg_id, "the transaction check function panicked; answering Unknown");
                        LocalTransactionState::Unknown
                    }
                };
                let Some(client) = client.upgrade() else {
                    return;
                };
                let end = EndTransactionRequestHeader {
                    topic: stored.topic.clone(),
                    producer_group: config.group.clone(),
                    tran_state_table_offset: header.tran_state_table_offset,
                    commit_log_offset: header.commit_log_offset,
                    commit_or_rollback: state.wire_type(),
                    from_transaction_check: true,
                    msg_id: check.msg_id.clone(),
                    transaction_id: header.transaction_id.clone(),
                    broker_name: header.broker_name.clone().unwrap_or_default(),
                };
                let deadline = Instant::now() + Duration::from_secs(3);
                if let Err(e) = client
                    .transport()
                    .invoke_oneway(&addr, end.to_command(None), deadline)
                    .await
                {
                    tracing::warn!(addr, msg_id = %check.msg_id, error = %e, "answer to a transaction check not sent");
                }
            });
        },
    )
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

    #[test]
    fn checked_message_gets_back_its_user_view() {
        let stored = StoredMessage {
            topic: "ns1%Orders".into(),
            queue_id: 0,
            flag: 3,
            queue_offset: 0,
            commit_log_offset: 0,
            sys_flag: 4,
            born_timestamp: 1,
            born_host: "127.0.0.1:1".parse().unwrap(),
            store_timestamp: 2,
            store_host: "127.0.0.1:2".parse().unwrap(),
            body: "b".into(),
            properties: message::decode_properties(
                "color\u{1}red\u{2}TAGS\u{1}T\u{2}KEYS\u{1}k1 k2\u{2}WAIT\u{1}true\u{2}TRAN_MSG\u{1}true\u{2}PGROUP\u{1}G\u{2}UNIQ_KEY\u{1}ID9\u{2}TRANSACTION_CHECK_TIMES\u{1}2\u{2}__transactionId__\u{1}X\u{2}",
            ),
        };
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
