//! Send hooks (Java's `SendMessageHook`): called before and after every attempt to send to a
//! broker, for metrics and tracing. A panicking hook is contained and logged; it never fails
//! the send.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;

use crate::error::Error;
use crate::producer::SendResult;
use crate::protocol::route::MessageQueue;

/// One attempt to send to a broker.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct SendContext<'a> {
    pub group: &'a str,
    /// The queue (topic as the user named it, broker, queue id).
    pub queue: &'a MessageQueue,
    /// The broker master's address.
    pub broker_addr: &'a str,
    /// The UNIQ_KEY (a batch: its messages' ids joined with ',').
    pub msg_id: &'a str,
    /// 0 for the first attempt of a send, 1 for its first retry, ...
    pub attempt: u32,
    pub batch: bool,
    pub oneway: bool,
    /// The message's tags and space-separated keys, for its trace record: set only with
    /// `enable_msg_trace` on (none for a batch).
    pub(crate) tags: Option<&'a str>,
    pub(crate) keys: Option<&'a str>,
    /// Body bytes on the wire (compressed, if it was).
    pub body_len: usize,
    /// Java's `MessageType` ordinal, as a trace record writes it.
    pub(crate) msg_type: u8,
}

/// How an attempt ended: every attempt ends in one of these three, so matches stay exhaustive.
#[derive(Debug, Clone, Copy)]
pub enum SendOutcome<'a> {
    /// The broker answered with a send status.
    Stored(&'a SendResult),
    /// A oneway request was written; no answer comes.
    Written,
    Failed(&'a Error),
}

/// Called around each send attempt, on a library runtime thread; keep it quick.
pub trait SendHook: Send + Sync {
    fn before_send(&self, _ctx: &SendContext<'_>) {}
    fn after_send(&self, _ctx: &SendContext<'_>, _latency: Duration, _outcome: SendOutcome<'_>) {}
}

/// The hooks of a producer, as a snapshot taken at the start of a send.
#[derive(Clone, Default)]
pub struct Hooks(Arc<Vec<Arc<dyn SendHook>>>);

impl Hooks {
    /// These hooks and `hook` after them.
    pub fn with(&self, hook: Arc<dyn SendHook>) -> Hooks {
        let mut hooks = (*self.0).clone();
        hooks.push(hook);
        Hooks(Arc::new(hooks))
    }

    pub fn before(&self, ctx: &SendContext<'_>) {
        for hook in self.0.iter() {
            contain(|| hook.before_send(ctx));
        }
    }

    pub fn after(&self, ctx: &SendContext<'_>, latency: Duration, outcome: SendOutcome<'_>) {
        for hook in self.0.iter() {
            contain(|| hook.after_send(ctx, latency, outcome));
        }
    }
}

fn contain(f: impl FnOnce()) {
    if std::panic::catch_unwind(AssertUnwindSafe(f)).is_err() {
        tracing::error!("a send hook panicked; the panic was contained");
    }
}
