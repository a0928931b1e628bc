//! Node.js bindings of rmqproducer (npm package `rmqproducer`), built with napi-rs.
//!
//! A thin mirror of `rmq_core`: [`producer::Producer`] wraps `rmq_core::Producer`, options and
//! messages are converted at the boundary ([`options`], [`message`]), and every failure becomes a
//! JS `Error` with a `code` ([`error`]).
//!
//! Nothing here runs a runtime of its own: all network work runs on `rmq_core::runtime`, and its
//! outcome comes back to the JS thread, exactly once through the core's `Completion`, as a
//! Promise or a callback ([`completion`]). Either holds the event loop open only while its
//! operation is pending, so a script that has shut its producers down exits by itself.
//! `flush()` and `shutdown()` resolve after the outcomes they waited for have reached JS
//! ([`settling`]).
//!
//! [`transaction::TransactionProducer`] wraps `rmq_core::producer::TransactionProducer`. JS
//! functions the library calls from its own threads (queue selectors, transaction functions,
//! send hooks) go through a [`js_function::JsFunction`], which never blocks the JS thread nor
//! keeps the event loop alive.

mod completion;
mod error;
mod hook;
mod js_function;
// napi-derive registers free functions (`setLogger`) outside test builds only.
#[cfg_attr(test, allow(dead_code))]
mod logging;
mod message;
mod options;
mod producer;
mod settling;
mod stats;
mod transaction;
