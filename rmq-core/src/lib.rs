#![doc = include_str!("../README.md")]
//!
//! ## Layers
//!
//! Data flows one way: [`protocol`] (pure encode/decode) → [`transport`] (one connection actor
//! per address) → [`client`] (the shared client instance: name servers, routes, heartbeats) →
//! [`producer`] (the public API: queue selection, fault strategy, retries).

// The layers below the producer are public for the bindings' tests and the fuzz targets only:
// the supported surface is the producer API re-exported here.
#[doc(hidden)]
pub mod client;
pub mod error;
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
pub mod logging;
pub mod producer;
#[doc(hidden)]
pub mod protocol;
pub mod runtime;
#[doc(hidden)]
pub mod transport;

pub use error::{Error, ErrorKind, Result};
pub use producer::{
    Completion, Producer, ProducerConfig, QueueSelection, RoomWait, SendResult, SendStatus,
};
pub use protocol::message::Message;
pub use protocol::route::MessageQueue;

/// The library's version, as in Cargo.toml.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
