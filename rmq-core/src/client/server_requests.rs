//! Requests a broker sends to the instance: transaction checks of half messages and the
//! replies of request-reply.

use std::sync::Arc;

use tokio::sync::oneshot;

use crate::protocol::codes::response;
use crate::protocol::command::RemotingCommand;
use crate::protocol::message::property;
use crate::protocol::stored::StoredMessage;
use crate::protocol::transaction::CheckTransactionStateRequestHeader;

use super::ClientInstance;

/// Answers a broker's check of a half message for one producer group: gets the broker's
/// address, the check's header and the half message. Called on a connection's reader task: it
/// must not block.
pub type TransactionCheckHandler =
    Arc<dyn Fn(String, CheckTransactionStateRequestHeader, StoredMessage) + Send + Sync>;

impl ClientInstance {
    /// Sends the broker's transaction checks of half messages of `group` to `handler`.
    pub fn register_transaction_checker(&self, group: &str, handler: TransactionCheckHandler) {
        self.transaction_checkers
            .lock()
            .insert(group.to_string(), handler);
    }

    pub fn unregister_transaction_checker(&self, group: &str) {
        self.transaction_checkers.lock().remove(group);
    }

    /// CHECK_TRANSACTION_STATE: the half message names its producer group (PGROUP), whose
    /// checker answers (`ClientRemotingProcessor.checkTransactionState`).
    pub(super) fn on_transaction_check(&self, addr: &str, cmd: RemotingCommand) {
        let decoded = CheckTransactionStateRequestHeader::from_ext_fields(&cmd.ext_fields)
            .and_then(|header| Ok((header, StoredMessage::decode(&cmd.body)?)));
        let (header, msg) = match decoded {
            Ok(decoded) => decoded,
            Err(e) => {
                tracing::warn!(addr, error = %e, "undecodable transaction check");
                return;
            }
        };
        let Some(group) = msg.property(property::PGROUP).map(str::to_string) else {
            tracing::warn!(addr, topic = %msg.topic, "transaction check of a message without PGROUP");
            return;
        };
        let handler = self.transaction_checkers.lock().get(&group).cloned();
        match handler {
            Some(handler) => handler(addr.to_string(), header, msg),
            None => tracing::warn!(
                addr,
                group,
                "transaction check for a group without a transaction producer here"
            ),
        }
    }

    /// Starts waiting for the reply with `correlation_id`; see [`ClientInstance::forget_reply`].
    pub fn await_reply(&self, correlation_id: &str) -> oneshot::Receiver<StoredMessage> {
        let (tx, rx) = oneshot::channel();
        self.awaited_replies
            .lock()
            .insert(correlation_id.to_string(), tx);
        rx
    }

    /// Stops waiting (the request timed out or failed).
    pub fn forget_reply(&self, correlation_id: &str) {
        self.awaited_replies.lock().remove(correlation_id);
    }

    /// PUSH_REPLY_MESSAGE_TO_CLIENT: hands the reply to its request by CORRELATION_ID and
    /// answers the broker (`ClientRemotingProcessor.receiveReplyMessage`).
    pub(super) fn on_reply_push(&self, addr: &str, cmd: RemotingCommand) -> RemotingCommand {
        let reply = match StoredMessage::from_reply_push(&cmd.ext_fields, &cmd.body) {
            Ok(reply) => reply,
            Err(e) => {
                tracing::warn!(addr, error = %e, "undecodable reply push");
                return RemotingCommand::response(response::SYSTEM_ERROR, 0, Some(e.to_string()));
            }
        };
        let waiting = reply
            .property(property::CORRELATION_ID)
            .and_then(|id| self.awaited_replies.lock().remove(id));
        match waiting {
            Some(tx) => {
                let _ = tx.send(reply);
            }
            None => tracing::debug!(addr, "reply to no awaited request (timed out?)"),
        }
        RemotingCommand::response(response::SUCCESS, 0, None)
    }
}
