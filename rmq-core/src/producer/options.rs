//! The producer's options, documented once: the C header's list, the Python stubs and the
//! TypeScript typings are generated from [`OPTIONS`] (`rmq-core/tests/option_docs.rs`).

/// One option [`ProducerConfig::set`](crate::ProducerConfig::set) accepts: its key, the kind of
/// value, its default and what it means.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct OptionDoc {
    pub key: &'static str,
    pub value: OptionValue,
    pub default: OptionDefault,
    /// One sentence, lower case, without a final period.
    pub meaning: &'static str,
}

/// The values an option takes (`ProducerConfig::set` parses their string form).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OptionValue {
    Integer,
    Boolean,
    Text,
    OneOf(&'static [&'static str]),
}

/// What an unset option means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OptionDefault {
    /// The value `ProducerConfig::new` gives it, in the string form `set` accepts.
    Value(&'static str),
    /// No value: what happens instead.
    Unset(&'static str),
}

impl std::fmt::Display for OptionDefault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            OptionDefault::Value(value) | OptionDefault::Unset(value) => f.write_str(value),
        }
    }
}

const fn option(
    key: &'static str,
    value: OptionValue,
    default: OptionDefault,
    meaning: &'static str,
) -> OptionDoc {
    OptionDoc {
        key,
        value,
        default,
        meaning,
    }
}

use OptionDefault::{Unset, Value};
use OptionValue::{Boolean, Integer, OneOf, Text};

/// Every option `ProducerConfig::set` accepts, in the order the documentation lists them.
pub const OPTIONS: &[OptionDoc] = &[
    option("group", Text, Unset("required"), "producer group name"),
    option(
        "namesrv_addr",
        Text,
        Unset("the NAMESRV_ADDR environment variable, read at start"),
        "name servers, `host:port;host:port`",
    ),
    option(
        "instance_name",
        Text,
        Unset("pid-based"),
        "client instance name",
    ),
    option(
        "send_timeout_ms",
        Integer,
        Value("3000"),
        "total time budget of one send, all retries included",
    ),
    option(
        "retry_times",
        Integer,
        Value("2"),
        "retries of a sync send, 0-16",
    ),
    option(
        "retry_times_async",
        Integer,
        Value("2"),
        "retries of an async send, 0-16",
    ),
    option(
        "compress_threshold",
        Integer,
        Value("4096"),
        "compress bodies of at least this many bytes",
    ),
    option(
        "compress_level",
        Integer,
        Value("5"),
        "level of zlib compression, 0-9",
    ),
    option(
        "max_message_size",
        Integer,
        Value("4194304"),
        "largest body accepted, bytes",
    ),
    option(
        "default_topic_queue_nums",
        Integer,
        Value("4"),
        "queues of an auto-created topic",
    ),
    option(
        "create_topic_key",
        Text,
        Value("TBW102"),
        "topic that auto-created topics inherit from",
    ),
    option(
        "latency_fault_tolerance",
        Boolean,
        Value("true"),
        "avoid slow or failed brokers for a while",
    ),
    option(
        "retry_another_broker_when_not_store_ok",
        Boolean,
        Value("false"),
        "retry a sync send whose status is not SEND_OK on another broker (the first copy stays stored)",
    ),
    option(
        "heartbeat_interval_ms",
        Integer,
        Value("30000"),
        "heartbeat period",
    ),
    option(
        "poll_namesrv_interval_ms",
        Integer,
        Value("30000"),
        "route refresh period",
    ),
    option(
        "client_api_timeout_ms",
        Integer,
        Value("3000"),
        "timeout of name server and heartbeat requests",
    ),
    option(
        "serialize_type",
        OneOf(&["json", "rocketmq"]),
        Value("rocketmq"),
        "request header encoding: rocketmq (binary) or json; the servers answer in JSON either way",
    ),
    option(
        "max_in_flight_per_connection",
        Integer,
        Value("65535"),
        "bound on requests in flight per connection",
    ),
    option(
        "shutdown_timeout_ms",
        Integer,
        Value("3000"),
        "how long shutdown waits for async sends and requests in flight",
    ),
    option(
        "compress_type",
        OneOf(&["zlib", "lz4", "zstd"]),
        Value("zlib"),
        "algorithm for bodies of at least `compress_threshold` bytes",
    ),
    option(
        "max_async_in_flight",
        Integer,
        Value("10000"),
        "bound on async sends and requests in flight, 0 for none",
    ),
    option(
        "max_async_in_flight_bytes",
        Integer,
        Value("134217728"),
        "bound on body bytes of async sends and requests in flight (128 MiB), 0 for none",
    ),
    option(
        "backpressure",
        OneOf(&["block", "fail"]),
        Value("block"),
        "when an async bound is reached: block (wait for room within the send timeout) or fail \
         (refuse at once with TOO_MANY_REQUESTS)",
    ),
    option(
        "auto_batch",
        Boolean,
        Value("false"),
        "gather sync and async sends of one topic (and queue) into batch requests, each message \
         still answered on its own (Java 5.x autoBatch)",
    ),
    option(
        "batch_max_delay_ms",
        Integer,
        Value("10"),
        "how long a gathered batch waits for more messages, 1 to 30000",
    ),
    option(
        "batch_max_bytes",
        Integer,
        Value("32768"),
        "a gathered batch is sent once its bodies reach this many bytes, 1 to 2097152",
    ),
    option(
        "total_batch_max_bytes",
        Integer,
        Value("33554432"),
        "bound on body bytes waiting in gathered batches (32 MiB); beyond it sends go out alone",
    ),
    option(
        "enable_msg_trace",
        Boolean,
        Value("false"),
        "write a trace record (Java's message trace) for every send the broker answers, sent in \
         batches to the trace topic; never slows or fails a send",
    ),
    option(
        "customized_trace_topic",
        Text,
        Value("RMQ_SYS_TRACE_TOPIC"),
        "topic the trace records go to; empty means RMQ_SYS_TRACE_TOPIC",
    ),
    option(
        "enable_metrics",
        Boolean,
        Value("true"),
        "count sends, attempts, latency per broker and the rest of the producer's statistics \
         (`stats()`); off, the statistics stay empty",
    ),
    option(
        "statistics_interval_ms",
        Integer,
        Value("0"),
        "how often the statistics callback gets a snapshot; 0 never calls it",
    ),
    option(
        "namespace",
        Text,
        Unset("none"),
        "namespace: topics become `<namespace>%<topic>`",
    ),
    option(
        "vip_channel_enabled",
        Boolean,
        Value("false"),
        "send to the brokers' VIP channel, listen port - 2",
    ),
    option(
        "access_key",
        Text,
        Unset("none"),
        "access key for brokers with authentication on",
    ),
    option(
        "secret_key",
        Text,
        Unset("none"),
        "secret key that signs every request",
    ),
    option(
        "security_token",
        Text,
        Unset("none"),
        "security token sent with the access key",
    ),
    option("tls", Boolean, Value("false"), "TLS on every connection"),
    option(
        "tls_verify",
        Boolean,
        Value("true"),
        "check server certificates; false accepts any, for self-signed test servers",
    ),
    option(
        "tls_ca_file",
        Text,
        Unset("the system's"),
        "PEM file of trusted CA certificates",
    ),
    option(
        "tls_server_name",
        Text,
        Unset("the address's host"),
        "name server certificates must show",
    ),
    option(
        "tls_cert_file",
        Text,
        Unset("none"),
        "PEM file of the client certificate chain, for servers that require one (mutual TLS); \
         with `tls_key_file` or `tls_key_pem`, read at start",
    ),
    option(
        "tls_key_file",
        Text,
        Unset("none"),
        "PEM file of the client certificate's private key (PKCS#8, PKCS#1 or SEC1, unencrypted)",
    ),
    option(
        "tls_cert_pem",
        Text,
        Unset("none"),
        "the client certificate chain as PEM text, instead of `tls_cert_file`",
    ),
    option(
        "tls_key_pem",
        Text,
        Unset("none"),
        "the client certificate's private key as PEM text, instead of `tls_key_file`",
    ),
];

/// The name JavaScript gives option `key`: camelCase (`send_timeout_ms` is `sendTimeoutMs`), and
/// `namesrv` for `namesrv_addr`, as Python's `Producer(group, namesrv)` has it too. Here so that
/// the addon and its generated typings spell every option alike.
pub fn js_option_name(key: &str) -> String {
    if key == "namesrv_addr" {
        return "namesrv".to_string();
    }
    let mut words = key.split('_');
    let mut name = words.next().unwrap_or_default().to_string();
    for word in words {
        let mut chars = word.chars();
        if let Some(first) = chars.next() {
            name.push(first.to_ascii_uppercase());
            name.push_str(chars.as_str());
        }
    }
    name
}

/// Whether `key` names one of the core's undocumented test switches (`test.panic_in_sends`): the
/// bindings pass these through as they are, and `ProducerConfig::set` checks them.
pub fn is_test_option(key: &str) -> bool {
    key.starts_with("test.")
}

/// The documentation of option `key`.
pub fn option_doc(key: &str) -> Option<&'static OptionDoc> {
    OPTIONS.iter().find(|option| option.key == key)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ProducerConfig;

    #[test]
    fn documented_defaults_are_the_defaults() {
        for option in OPTIONS.iter().filter(|option| option.key != "group") {
            let mut config = ProducerConfig::new("g");
            let given = match option.default {
                OptionDefault::Value(value) => value,
                OptionDefault::Unset(_) => "",
            };
            config.set(option.key, given).unwrap();
            assert_eq!(config, ProducerConfig::new("g"), "{}", option.key);
        }
    }

    #[test]
    fn js_names_are_camel_case_but_namesrv() {
        assert_eq!(js_option_name("send_timeout_ms"), "sendTimeoutMs");
        assert_eq!(
            js_option_name("retry_another_broker_when_not_store_ok"),
            "retryAnotherBrokerWhenNotStoreOk"
        );
        assert_eq!(js_option_name("namesrv_addr"), "namesrv");
        assert_eq!(js_option_name("tls"), "tls");
    }

    #[test]
    fn meanings_are_one_plain_sentence() {
        for option in OPTIONS {
            assert!(!option.meaning.ends_with('.'), "{}", option.key);
            assert!(!option.meaning.contains("  "), "{}", option.key);
            if let OptionValue::OneOf(choices) = option.value {
                if let OptionDefault::Value(value) = option.default {
                    assert!(choices.contains(&value), "{}", option.key);
                }
            }
        }
    }
}
