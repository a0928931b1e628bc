//! `rmq_config`: producer options set by string key and value, as librdkafka does, so the ABI
//! stays the same while options are added. Every key of the core's `OPTIONS` is forwarded to
//! `ProducerConfig::set`; the keys of [`ffi_option_keys`] belong to the C API.

use std::ffi::c_char;

use rmq_core::producer::{OPTIONS, is_test_option, option_doc};
use rmq_core::{Error, ProducerConfig};

use crate::error::{outcome, rmq_result};
use crate::ffi::{try_mut, try_str, write_errbuf};

/// Options only the C API has, with what they mean. (A function rather than a `const` so that
/// cbindgen, which looks at every `const`, does not warn about a private one.)
fn ffi_option_keys() -> &'static [(&'static str, &'static str)] {
    &[(
        "callback_mode",
        "where delivery callbacks run: thread (a library thread, default) or poll (inside rmq_producer_poll)",
    )]
}

/// Where the callbacks of `rmq_producer_send_async` run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CallbackMode {
    /// On a library runtime thread, as soon as the outcome is known.
    Thread,
    /// Queued, and run on the application's thread inside `rmq_producer_poll`.
    Poll,
}

/// Producer configuration (opaque). Not thread-safe: set it up from one thread.
pub struct rmq_config {
    pub(crate) core: ProducerConfig,
    pub(crate) callback_mode: CallbackMode,
}

impl rmq_config {
    fn set(&mut self, key: &str, value: &str) -> Result<(), Error> {
        match key {
            "callback_mode" => {
                self.callback_mode = match value.trim() {
                    "thread" => CallbackMode::Thread,
                    "poll" => CallbackMode::Poll,
                    other => {
                        return Err(Error::invalid_argument(format!(
                            "producer option 'callback_mode' = '{other}': expected thread or poll"
                        )));
                    }
                }
            }
            _ if option_doc(key).is_some() || is_test_option(key) => self.core.set(key, value)?,
            _ => {
                let known: Vec<&str> = OPTIONS
                    .iter()
                    .map(|option| option.key)
                    .chain(ffi_option_keys().iter().map(|(known, _)| *known))
                    .collect();
                return Err(Error::invalid_argument(format!(
                    "unknown producer option '{key}' (known: {})",
                    known.join(", ")
                )));
            }
        }
        Ok(())
    }
}

/// A configuration with every option at its default. The group has no default: set `group`.
/// Free it with `rmq_config_free` (a producer keeps its own copy).
#[unsafe(no_mangle)]
pub extern "C" fn rmq_config_new() -> *mut rmq_config {
    ffi_panic_boundary! {
        Box::into_raw(Box::new(rmq_config {
            core: ProducerConfig::new(""),
            callback_mode: CallbackMode::Thread,
        }))
    }
}

/// Sets option `key` to `value`. The keys, with their defaults:
///
// options: generated from rmq_core::producer::OPTIONS (rmq-core/tests/option_docs.rs)
/// - `group`: producer group name (required)
/// - `namesrv_addr`: name servers, `host:port;host:port` (default: the NAMESRV_ADDR environment
///   variable, read at start)
/// - `instance_name`: client instance name (default: pid-based)
/// - `send_timeout_ms`: total time budget of one send, all retries included (default: 3000)
/// - `retry_times`: retries of a sync send, 0-16 (default: 2)
/// - `retry_times_async`: retries of an async send, 0-16 (default: 2)
/// - `compress_threshold`: compress bodies of at least this many bytes (default: 4096)
/// - `compress_level`: level of zlib compression, 0-9 (default: 5)
/// - `max_message_size`: largest body accepted, bytes (default: 4194304)
/// - `default_topic_queue_nums`: queues of an auto-created topic (default: 4)
/// - `create_topic_key`: topic that auto-created topics inherit from (default: TBW102)
/// - `latency_fault_tolerance`: avoid slow or failed brokers for a while (default: true)
/// - `retry_another_broker_when_not_store_ok`: retry a sync send whose status is not SEND_OK on
///   another broker (the first copy stays stored) (default: false)
/// - `heartbeat_interval_ms`: heartbeat period (default: 30000)
/// - `poll_namesrv_interval_ms`: route refresh period (default: 30000)
/// - `client_api_timeout_ms`: timeout of name server and heartbeat requests (default: 3000)
/// - `serialize_type`: request header encoding: rocketmq (binary) or json; the servers answer in
///   JSON either way (default: rocketmq)
/// - `max_in_flight_per_connection`: bound on requests in flight per connection (default: 65535)
/// - `shutdown_timeout_ms`: how long shutdown waits for async sends and requests in flight
///   (default: 3000)
/// - `compress_type`: algorithm for bodies of at least `compress_threshold` bytes (default: zlib)
/// - `max_async_in_flight`: bound on async sends and requests in flight, 0 for none (default:
///   10000)
/// - `max_async_in_flight_bytes`: bound on body bytes of async sends and requests in flight (128
///   MiB), 0 for none (default: 134217728)
/// - `backpressure`: when an async bound is reached: block (wait for room within the send timeout)
///   or fail (refuse at once with TOO_MANY_REQUESTS); `block` makes the calling thread wait (inside
///   a thread-mode callback, the send waits after being accepted) (default: block)
/// - `auto_batch`: gather sync and async sends of one topic (and queue) into batch requests, each
///   message still answered on its own (Java 5.x autoBatch) (default: false)
/// - `batch_max_delay_ms`: how long a gathered batch waits for more messages, 1 to 30000 (default:
///   10)
/// - `batch_max_bytes`: a gathered batch is sent once its bodies reach this many bytes, 1 to
///   2097152 (default: 32768)
/// - `total_batch_max_bytes`: bound on body bytes waiting in gathered batches (32 MiB); beyond it
///   sends go out alone (default: 33554432)
/// - `enable_msg_trace`: write a trace record (Java's message trace) for every send the broker
///   answers, sent in batches to the trace topic; never slows or fails a send (default: false)
/// - `customized_trace_topic`: topic the trace records go to; empty means RMQ_SYS_TRACE_TOPIC
///   (default: RMQ_SYS_TRACE_TOPIC)
/// - `enable_metrics`: count sends, attempts, latency per broker and the rest of the producer's
///   statistics (`stats()`); off, the statistics stay empty (default: true)
/// - `statistics_interval_ms`: how often the statistics callback gets a snapshot; 0 never calls it
///   (default: 0)
/// - `namespace`: namespace: topics become `<namespace>%<topic>` (default: none)
/// - `vip_channel_enabled`: send to the brokers' VIP channel, listen port - 2 (default: false)
/// - `access_key`: access key for brokers with authentication on (default: none)
/// - `secret_key`: secret key that signs every request (default: none)
/// - `security_token`: security token sent with the access key (default: none)
/// - `tls`: TLS on every connection (default: false)
/// - `tls_verify`: check server certificates; false accepts any, for self-signed test servers
///   (default: true)
/// - `tls_ca_file`: PEM file of trusted CA certificates (default: the system's)
/// - `tls_server_name`: name server certificates must show (default: the address's host)
/// - `tls_cert_file`: PEM file of the client certificate chain, for servers that require one
///   (mutual TLS); with `tls_key_file` or `tls_key_pem`, read at start (default: none)
/// - `tls_key_file`: PEM file of the client certificate's private key (PKCS#8, PKCS#1 or SEC1,
///   unencrypted) (default: none)
/// - `tls_cert_pem`: the client certificate chain as PEM text, instead of `tls_cert_file` (default:
///   none)
/// - `tls_key_pem`: the client certificate's private key as PEM text, instead of `tls_key_file`
///   (default: none)
// end of generated options
/// - `callback_mode`: `thread` (default: delivery callbacks run on a library thread) or `poll`
///   (they are queued and run inside `rmq_producer_poll` on the calling thread)
///
/// An unknown key or a value that does not parse is `RMQ_RESULT_INVALID_ARGUMENT`, with a message
/// naming both written to `errbuf` (`errlen` bytes, NUL-terminated; `errbuf` may be NULL) and kept
/// as the last error. `errbuf` is not touched on success.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rmq_config_set(
    config: *mut rmq_config,
    key: *const c_char,
    value: *const c_char,
    errbuf: *mut c_char,
    errlen: usize,
) -> rmq_result {
    ffi_panic_boundary! {
        let result = (|| {
            let config = unsafe { try_mut(config, "config") }?;
            let key = unsafe { try_str(key, "key") }?;
            let value = unsafe { try_str(value, "value") }?;
            config.set(key, value)
        })();
        if let Err(error) = &result {
            unsafe { write_errbuf(error, errbuf, errlen) };
        }
        outcome(result)
    }
}

/// Frees a configuration; NULL is a no-op.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rmq_config_free(config: *mut rmq_config) {
    ffi_panic_boundary! {
        if !config.is_null() {
            drop(unsafe { Box::from_raw(config) });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ffi_keys_and_core_keys_are_settable_and_unknown_keys_list_both() {
        let mut config = rmq_config {
            core: ProducerConfig::new(""),
            callback_mode: CallbackMode::Thread,
        };
        config.set("callback_mode", "poll").unwrap();
        assert_eq!(config.callback_mode, CallbackMode::Poll);
        config.set("send_timeout_ms", "1234").unwrap();
        assert_eq!(config.core.send_timeout.as_millis(), 1234);
        let error = config.set("nope", "1").unwrap_err();
        assert!(error.message().contains("callback_mode"));
        assert!(error.message().contains("send_timeout_ms"));
        assert!(config.set("callback_mode", "fiber").is_err());
    }
}
