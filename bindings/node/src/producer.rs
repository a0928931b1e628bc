//! The JS `Producer` class: a handle on one `rmq_core::Producer`.
//!
//! Methods that return a Promise never throw: a bad argument rejects the Promise like any other
//! failure. Only the constructor and `sendCallback` throw, synchronously, and only for bad
//! arguments.

use napi::Env;
use napi::bindgen_prelude::{Object, Unknown};
use napi_derive::napi;

use crate::completion::Completion;
use crate::error::{catch_panic, to_js_error};
use crate::message::{SendResult, message_from_js};
use crate::options::config_from_js;

/// A RocketMQ producer.
///
/// Sends run in the background on the library's own threads; each send's Promise (or callback)
/// keeps the process alive until the send completes, nothing else does. `shutdown()` waits for
/// sends in flight (up to `shutdownTimeoutMs`) and fails the rest with code `SHUTDOWN`.
#[napi]
pub struct Producer {
    inner: rmq_core::Producer,
}

#[napi]
impl Producer {
    /// Checks the options; nothing connects until `start()`. Throws `INVALID_ARGUMENT` for an
    /// unknown option or a value that does not parse. The name server comes from `namesrv`, or
    /// from the `NAMESRV_ADDR` environment variable at `start()`.
    #[napi(constructor, ts_args_type = "options: ProducerOptions")]
    pub fn new(env: Env, options: Unknown) -> napi::Result<Self> {
        catch_panic(|| config_from_js(options).and_then(rmq_core::Producer::new))
            .map(|inner| Producer { inner })
            .map_err(|err| to_js_error(&env, &err))
    }

    /// Resolves once the producer has its name server and is registered; rejects with
    /// `GROUP_ALREADY_EXISTS`, `NO_NAME_SERVER`, `ILLEGAL_STATE`, ...
    #[napi(ts_return_type = "Promise<void>")]
    pub fn start<'env>(&self, env: &'env Env) -> napi::Result<Object<'env>> {
        let (completion, promise) = Completion::promise(env)?;
        let producer = self.inner.clone();
        completion.complete_with(async move { producer.start().await });
        Ok(promise)
    }

    /// Waits for sends in flight (up to `shutdownTimeoutMs`), fails the rest with `SHUTDOWN`,
    /// and releases everything the producer holds.
    #[napi(ts_return_type = "Promise<void>")]
    pub fn shutdown<'env>(&self, env: &'env Env) -> napi::Result<Object<'env>> {
        let (completion, promise) = Completion::promise(env)?;
        let producer = self.inner.clone();
        completion.complete_with(async move { producer.shutdown().await });
        Ok(promise)
    }

    /// Sends `message` and resolves with where the broker stored it. Retries on another broker
    /// (`retryTimesAsync`) within `sendTimeoutMs`.
    #[napi(
        ts_args_type = "message: Message",
        ts_return_type = "Promise<SendResult>"
    )]
    pub fn send<'env>(&self, env: &'env Env, message: Unknown) -> napi::Result<Object<'env>> {
        let (completion, promise) = Completion::promise(env)?;
        self.send_to(message, completion);
        Ok(promise)
    }

    /// `send` with a Node-style callback, called once with `(err, null)` or `(null, result)`.
    /// An exception thrown by the callback does not end the process: it is reported with
    /// `process.emitWarning` (type `RmqCallbackError`).
    #[napi(
        ts_args_type = "message: Message, callback: (err: RmqError | null, result: SendResult | null) => void"
    )]
    pub fn send_callback(
        &self,
        env: &Env,
        message: Unknown,
        callback: Unknown,
    ) -> napi::Result<()> {
        let completion = Completion::callback(callback).map_err(|err| to_js_error(env, &err))?;
        self.send_to(message, completion);
        Ok(())
    }

    /// Writes `message` to a broker without waiting for an answer: resolves once written, and
    /// nothing tells whether the broker stored it.
    #[napi(ts_args_type = "message: Message", ts_return_type = "Promise<void>")]
    pub fn send_oneway<'env>(
        &self,
        env: &'env Env,
        message: Unknown,
    ) -> napi::Result<Object<'env>> {
        let (completion, promise) = Completion::promise(env)?;
        match message_from_js(message) {
            Ok(message) => {
                let producer = self.inner.clone();
                completion.complete_with(async move { producer.send_oneway(message).await });
            }
            Err(err) => completion.complete(Err(err)),
        }
        Ok(promise)
    }
}

impl Producer {
    fn send_to(&self, message: Unknown, completion: Completion<SendResult>) {
        let message = match message_from_js(message) {
            Ok(message) => message,
            Err(err) => return completion.complete(Err(err)),
        };
        // Should the core panic, the callback is dropped unrun, and dropping the completion
        // inside it delivers an `Internal` error: nothing is left to report here.
        let _ = catch_panic(|| {
            self.inner.send_with_callback(message, move |outcome| {
                completion.complete(outcome.map(SendResult::from))
            });
            Ok(())
        });
    }
}
