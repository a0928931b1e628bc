//! The public producer: configuration, start / shutdown, and the three send modes.
//!
//! `send` is Java's SYNC mode (retries on another broker within one time budget), `send_async`
//! and `send_with_callback` are ASYNC mode (the send runs on the library runtime whether or not the
//! caller awaits it, and shutdown waits for it), `send_oneway` is fire-and-forget.

mod config;

use std::future::Future;
use std::time::Duration;

pub use config::{OPTION_KEYS, ProducerConfig};

use crate::error::Result;
use crate::protocol::message::Message;
use crate::protocol::route::MessageQueue;

/// `SendStatus.java`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendStatus {
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

/// What the broker said about a stored message.
#[derive(Debug, Clone, PartialEq, Eq)]
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
}

/// A producer. Cheap to clone; clones share one producer.
#[derive(Clone)]
pub struct Producer {}

impl Producer {
    /// Checks the configuration; nothing connects until [`Producer::start`].
    pub fn new(config: ProducerConfig) -> Result<Self> {
        todo!("{config:?}")
    }

    pub fn config(&self) -> &ProducerConfig {
        todo!()
    }

    /// Joins (or creates) the client instance and registers the group. Fails with
    /// `GroupAlreadyExists` when the instance has a producer of this group already.
    pub async fn start(&self) -> Result<()> {
        todo!()
    }

    /// Waits (up to `shutdown_timeout`) for async sends in flight, fails the rest with
    /// `Shutdown`, unregisters the group; the last producer of an instance closes it.
    pub async fn shutdown(&self) -> Result<()> {
        todo!()
    }

    /// SYNC mode: up to `1 + retry_times` attempts within `send_timeout`.
    pub async fn send(&self, msg: Message) -> Result<SendResult> {
        todo!("{msg:?}")
    }

    /// ASYNC mode: the send starts at once on the library runtime and completes even if the
    /// returned future is dropped.
    pub fn send_async(
        &self,
        msg: Message,
    ) -> impl Future<Output = Result<SendResult>> + Send + 'static {
        let _ = msg;
        async { todo!() }
    }

    /// ASYNC mode with a callback, run exactly once on a library runtime thread.
    pub fn send_with_callback<F>(&self, msg: Message, callback: F)
    where
        F: FnOnce(Result<SendResult>) + Send + 'static,
    {
        let _ = (msg, callback);
        todo!()
    }

    /// ONEWAY mode: written to the socket, no response, no retry.
    pub async fn send_oneway(&self, msg: Message) -> Result<()> {
        todo!("{msg:?}")
    }

    /// Waits until no async send is in flight, or `timeout` passes (`Timeout`).
    pub async fn flush(&self, timeout: Duration) -> Result<()> {
        todo!("{timeout:?}")
    }

    /// Async sends started and not yet completed.
    pub fn in_flight(&self) -> usize {
        todo!()
    }
}
