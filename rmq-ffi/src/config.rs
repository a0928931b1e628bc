//! `rmq_config`: producer options set by string key and value, as librdkafka does, so the ABI
//! stays the same while options are added. Every key of the core's `OPTION_KEYS` is forwarded to
//! `ProducerConfig::set`; the keys of [`ffi_option_keys`] belong to the C API.

use std::ffi::c_char;

use rmq_core::producer::OPTION_KEYS;
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
            _ if OPTION_KEYS.iter().any(|(known, _)| *known == key) => self.core.set(key, value)?,
            _ => {
                let known: Vec<&str> = OPTION_KEYS
                    .iter()
                    .chain(ffi_option_keys())
                    .map(|(known, _)| *known)
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
/// - `group`: producer group name (required)
/// - `namesrv_addr`: name servers, `host:port;host:port` (default: env `NAMESRV_ADDR` at start)
/// - `instance_name`: client instance name (default: pid-based)
/// - `send_timeout_ms`: total time budget of one send, all retries included (3000)
/// - `retry_times`: retries of a sync send (2)
/// - `retry_times_async`: retries of an async send (2)
/// - `compress_threshold`: compress bodies of at least this many bytes (4096)
/// - `compress_level`: zlib level 0-9 (5)
/// - `max_message_size`: largest body accepted, bytes (4194304)
/// - `default_topic_queue_nums`: queues of an auto-created topic (4)
/// - `create_topic_key`: topic auto-created topics inherit from (TBW102)
/// - `latency_fault_tolerance`: avoid slow or failed brokers for a while (true)
/// - `retry_another_broker_when_not_store_ok`: retry non-SEND_OK statuses (false)
/// - `heartbeat_interval_ms`: heartbeat period (30000)
/// - `poll_namesrv_interval_ms`: route refresh period (30000)
/// - `client_api_timeout_ms`: timeout of name server and heartbeat requests (3000)
/// - `serialize_type`: request header encoding, `json` or `rocketmq` (rocketmq: the binary encoding; servers answer in JSON either way)
/// - `max_in_flight_per_connection`: bound on requests in flight per connection (65535)
/// - `shutdown_timeout_ms`: how long shutdown waits for in-flight async sends (3000)
/// - `compress_type`: body compression, `zlib`, `lz4` or `zstd` (zlib)
/// - `max_async_in_flight`: bound on async sends in flight, 0 for none (10000); beyond it a
///   send waits or fails with `RMQ_RESULT_TOO_MANY_REQUESTS`, as `backpressure` says
/// - `max_async_in_flight_bytes`: bound on body bytes of async sends in flight, 0 for none
///   (134217728 = 128 MiB)
/// - `backpressure`: when an async bound is reached, `block` (the calling thread waits, within the
///   send timeout; inside a thread-mode callback the send waits after being accepted) or `fail`
///   (block)
/// - `namespace`: topics become `<namespace>%<topic>` (none)
/// - `vip_channel_enabled`: send to the brokers' VIP channel, listen port - 2 (false)
/// - `access_key`: access key for brokers with authentication on (none)
/// - `secret_key`: secret key that signs every request (none)
/// - `security_token`: security token sent with the access key (none)
/// - `tls`: TLS on every connection (false)
/// - `tls_verify`: check server certificates; false accepts any, for self-signed test servers
///   (true)
/// - `tls_ca_file`: PEM file of trusted CA certificates (the system's)
/// - `tls_server_name`: name server certificates must show (the address's host)
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

    #[test]
    fn the_documented_keys_are_the_known_keys() {
        let doc = include_str!("config.rs");
        for (key, _) in OPTION_KEYS.iter().chain(ffi_option_keys()) {
            assert!(
                doc.contains(&format!("/// - `{key}`:")),
                "{key} is undocumented"
            );
        }
    }
}
