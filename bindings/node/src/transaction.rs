//! The JS `TransactionProducer` class: transactional messages on one
//! `rmq_core::TransactionProducer`.
//!
//! Both JS functions run on the JS thread and may return a Promise. The local transaction is
//! awaited by the core's async form, so no thread waits for it. The check function is called
//! from the core's blocking check thread, which waits for the JS answer (at most
//! `CHECK_ANSWER_BOUND`; the broker asks again later). Any failure of either function (a throw,
//! a rejection, an answer that is not a state) counts as `'UNKNOWN'` and is reported as a
//! process warning.

use std::sync::Arc;
use std::time::Duration;

use napi::Env;
use napi::bindgen_prelude::{FnArgs, Object, Unknown};
use napi_derive::napi;

use crate::completion::promise;
use crate::error::{catch_panic, to_js_error};
use crate::js_function::JsFunction;
use crate::message::{MessageView, SendResult, message_from_js};
use crate::options::config_from_js;
use crate::producer::Producer;
use crate::settling::Settling;

/// How long a broker's check waits for the JS check function to answer before it counts as
/// unknown (the broker then asks again at its next check).
const CHECK_ANSWER_BOUND: Duration = Duration::from_secs(10);

/// How a local transaction ended.
#[napi(string_enum = "UPPER_SNAKE")]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LocalTransactionState {
    /// Make the message visible.
    Commit,
    /// Drop the message.
    Rollback,
    /// Not known yet: the broker asks the check function later.
    Unknown,
}

impl From<LocalTransactionState> for rmq_core::producer::LocalTransactionState {
    fn from(state: LocalTransactionState) -> Self {
        match state {
            LocalTransactionState::Commit => Self::Commit,
            LocalTransactionState::Rollback => Self::Rollback,
            LocalTransactionState::Unknown => Self::Unknown,
        }
    }
}

impl From<rmq_core::producer::LocalTransactionState> for LocalTransactionState {
    fn from(state: rmq_core::producer::LocalTransactionState) -> Self {
        match state {
            rmq_core::producer::LocalTransactionState::Commit => Self::Commit,
            rmq_core::producer::LocalTransactionState::Rollback => Self::Rollback,
            rmq_core::producer::LocalTransactionState::Unknown => Self::Unknown,
        }
    }
}

/// A half message whose outcome the broker asks about.
#[napi(object, object_from_js = false)]
pub struct TransactionCheck {
    /// The message's id (the `msgId` its send reported).
    pub msg_id: String,
    pub transaction_id: Option<String>,
    /// The message as sent.
    pub message: MessageView,
    pub born_timestamp: i64,
    /// How many times the broker has asked already.
    pub check_times: u32,
}

impl From<rmq_core::producer::TransactionCheck> for TransactionCheck {
    fn from(check: rmq_core::producer::TransactionCheck) -> Self {
        TransactionCheck {
            msg_id: check.msg_id,
            transaction_id: check.transaction_id,
            message: check.message.into(),
            born_timestamp: check.born_timestamp,
            check_times: check.check_times,
        }
    }
}

/// The outcome of `sendInTransaction`.
#[napi(object, object_from_js = false)]
pub struct TransactionSendResult {
    /// The half message's send result.
    pub send_result: SendResult,
    /// What the local transaction answered (`'ROLLBACK'` when the half message was not stored
    /// OK, `'UNKNOWN'` when the function failed).
    pub local_state: LocalTransactionState,
}

/// A producer of transactional messages.
///
/// `check` answers the broker's questions about half messages whose outcome stayed unknown.
/// Ordinary sends of the same group go through `producer`.
#[napi]
pub struct TransactionProducer {
    inner: rmq_core::producer::TransactionProducer,
    /// Shared with every `producer` handle, whose async sends `shutdown()` waits for.
    settling: Arc<Settling>,
}

#[napi]
impl TransactionProducer {
    /// Checks the options (as `new Producer`) and holds on to `check`; throws
    /// `INVALID_ARGUMENT` for bad options or a `check` that is not a function. The check
    /// function never keeps the process alive.
    #[napi(
        constructor,
        ts_args_type = "options: ProducerOptions, check: (check: TransactionCheck) => LocalTransactionState | Promise<LocalTransactionState>"
    )]
    pub fn new(env: Env, options: Unknown, check: Unknown) -> napi::Result<Self> {
        catch_panic(|| {
            let config = config_from_js(options)?;
            let checker = JsFunction::new(
                check,
                "transaction check function",
                true,
                |_env, check: rmq_core::producer::TransactionCheck| {
                    Ok(FnArgs::from((TransactionCheck::from(check),)))
                },
            )?;
            rmq_core::producer::TransactionProducer::new(config, move |check| {
                checker
                    .ask_blocking::<LocalTransactionState>(check.clone(), CHECK_ANSWER_BOUND)
                    .unwrap_or(LocalTransactionState::Unknown)
                    .into()
            })
        })
        .map(|inner| TransactionProducer {
            inner,
            settling: Arc::default(),
        })
        .map_err(|err| to_js_error(&env, &err))
    }

    /// The underlying producer, for ordinary sends in the same group. Start and shut down
    /// through the transaction producer.
    #[napi(getter)]
    pub fn producer(&self) -> Producer {
        Producer::wrap(self.inner.producer().clone(), self.settling.clone())
    }

    /// Starts the producer and begins answering the broker's checks.
    #[napi(ts_return_type = "Promise<void>")]
    pub fn start<'env>(&self, env: &'env Env) -> napi::Result<Object<'env>> {
        let producer = self.inner.clone();
        promise(env, async move { producer.start().await })
    }

    /// Stops answering checks and shuts the producer down.
    #[napi(ts_return_type = "Promise<void>")]
    pub fn shutdown<'env>(&self, env: &'env Env) -> napi::Result<Object<'env>> {
        let producer = self.inner.clone();
        let settled = self
            .settling
            .after_shutdown(async move { producer.shutdown().await });
        promise(env, settled)
    }

    /// Sends `message` as a half message, the broker keeps it invisible; then calls
    /// `local(message, sendResult)` (on the JS thread; it may return a Promise) and commits or
    /// rolls back as it answers. `'UNKNOWN'` leaves the outcome to `check`.
    #[napi(
        ts_args_type = "message: Message, local: (message: MessageView, sendResult: SendResult) => LocalTransactionState | Promise<LocalTransactionState>",
        ts_return_type = "Promise<TransactionSendResult>"
    )]
    pub fn send_in_transaction<'env>(
        &self,
        env: &'env Env,
        message: Unknown,
        local: Unknown,
    ) -> napi::Result<Object<'env>> {
        let started = message_from_js(message).and_then(|message| {
            let local = JsFunction::new(
                local,
                "local transaction function",
                true,
                |_env, (message, half): (rmq_core::Message, rmq_core::SendResult)| {
                    Ok(FnArgs::from((
                        MessageView::from(message),
                        SendResult::from(half),
                    )))
                },
            )?;
            Ok((message, local))
        });
        let producer = self.inner.clone();
        promise(env, async move {
            let (message, local) = started?;
            let sent = producer
                .send_in_transaction_async(message, move |message, half| async move {
                    local
                        .ask::<LocalTransactionState>((message, half))
                        .await
                        .unwrap_or(LocalTransactionState::Unknown)
                        .into()
                })
                .await?;
            Ok(TransactionSendResult {
                send_result: sent.send_result.into(),
                local_state: sent.local_state.into(),
            })
        })
    }
}
