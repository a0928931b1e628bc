//! Producer configuration with Java's defaults, settable by string key and value so that every
//! binding (C, Python, Node) passes options through without deciding anything itself.

use std::path::PathBuf;
use std::time::Duration;

pub use crate::client::Secret;
use crate::client::{ClientConfig, Security};
use crate::error::{Error, Result};
use crate::protocol::command::SerializeType;
use crate::protocol::compression::CompressionType;

use super::options::OPTIONS;

/// Built by [`ProducerConfig::new`] and [`ProducerConfig::set`]; options will be added.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct ProducerConfig {
    /// Producer group; unique within a client instance.
    pub group: String,
    /// Name servers, `host:port;host:port`. `None` reads `NAMESRV_ADDR` at start.
    pub namesrv_addr: Option<String>,
    /// Instance name; `None` means a pid-based one, as Java's `DEFAULT`.
    pub instance_name: Option<String>,
    /// One budget for all attempts of one send.
    pub send_timeout: Duration,
    /// Retries of a sync send (attempts = 1 + this).
    pub retry_times: u32,
    /// Retries of an async send.
    pub retry_times_async: u32,
    /// Bodies of at least this many bytes are compressed.
    pub compress_threshold: usize,
    /// zlib level 0..=9.
    pub compress_level: u32,
    pub max_message_size: usize,
    pub default_topic_queue_nums: i32,
    /// Topic whose route the broker auto-creates new topics from.
    pub create_topic_key: String,
    /// Avoid brokers that failed or answered slowly, for their isolation period.
    pub latency_fault_tolerance: bool,
    /// Retry a SYNC send whose status is not SEND_OK on another broker (the message stays stored
    /// where it was, so this duplicates). Async sends report the status, as Java's do.
    pub retry_another_broker_when_not_store_ok: bool,
    pub heartbeat_interval: Duration,
    pub poll_namesrv_interval: Duration,
    /// Timeout of name server and heartbeat requests.
    pub client_api_timeout: Duration,
    /// Header encoding of requests: binary ROCKETMQ by default (cheaper to write; the 5.3.3
    /// NameServer and brokers read it and answer in JSON, which is always read), JSON as Java's
    /// default.
    pub serialize_type: SerializeType,
    /// Bound on requests in flight on one connection.
    pub max_in_flight_per_connection: usize,
    /// How long shutdown waits for async sends still in flight.
    pub shutdown_timeout: Duration,
    /// Algorithm for bodies of at least `compress_threshold` bytes.
    pub compress_type: CompressionType,
    /// Bound on async sends in flight ([`DEFAULT_MAX_ASYNC_IN_FLIGHT`]; 0: no bound).
    pub max_async_in_flight: usize,
    /// Bound on the body bytes of async sends in flight
    /// ([`DEFAULT_MAX_ASYNC_IN_FLIGHT_BYTES`]; 0: no bound).
    pub max_async_in_flight_bytes: usize,
    /// What an async send does when a bound is reached.
    pub backpressure: Backpressure,
    /// Gather sends of one topic (and queue) into batch requests (Java 5.x `autoBatch`).
    pub auto_batch: bool,
    /// How long a gathered batch waits for more messages before it is sent.
    pub batch_max_delay: Duration,
    /// A gathered batch is sent once its bodies reach this many bytes.
    pub batch_max_bytes: usize,
    /// Bound on the body bytes waiting in gathered batches; beyond it, sends go out alone.
    pub total_batch_max_bytes: usize,
    /// Namespace (v1): topics go to the broker as `<namespace>%<topic>`.
    pub namespace: Option<String>,
    /// Write Java-compatible trace records of sends to `trace_topic`.
    pub enable_msg_trace: bool,
    /// Where trace records go (option `customized_trace_topic`, Java's `customizedTraceTopic`).
    pub trace_topic: String,
    /// Record the producer's statistics (`Producer::stats`).
    pub enable_metrics: bool,
    /// How often the statistics callback runs; zero: never.
    pub statistics_interval: Duration,
    /// Send to each broker's VIP channel (listen port − 2) instead of its listen port.
    pub vip_channel_enabled: bool,
    /// Credentials for brokers with authentication on: every request is signed.
    pub access_key: Option<String>,
    pub secret_key: Option<Secret>,
    pub security_token: Option<Secret>,
    /// TLS on every connection (name servers and brokers).
    pub tls: bool,
    /// Check the servers' certificates (off only for self-signed test servers).
    pub tls_verify: bool,
    /// PEM file of the CA certificates to trust instead of the system's.
    pub tls_ca_file: Option<PathBuf>,
    /// The name server certificates must show, instead of the host of the address.
    pub tls_server_name: Option<String>,
    /// The client certificate chain (mutual TLS), PEM: from a file, or the text itself.
    pub tls_cert_file: Option<PathBuf>,
    pub tls_cert_pem: Option<String>,
    /// The private key of that certificate, PEM (PKCS#8, PKCS#1 or SEC1, unencrypted).
    pub tls_key_file: Option<PathBuf>,
    pub tls_key_pem: Option<Secret>,
    /// `test.panic_in_sends`: so many async calls panic inside their task, so that each binding's
    /// tests can see a panic complete a callback once with `Internal` (librdkafka's
    /// `rd_kafka_test_fatal_error` in spirit). Never set outside tests.
    #[doc(hidden)]
    pub test_panic_in_sends: u32,
}

/// Java's default trace topic (`TopicValidator.RMQ_SYS_TRACE_TOPIC`).
pub const DEFAULT_TRACE_TOPIC: &str = "RMQ_SYS_TRACE_TOPIC";

/// Default bound on async sends in flight. Unbounded, a callback loop against a stalled broker
/// keeps every body until its deadline. Java bounds async sends too (65,535 permits, a
/// 50,000-task queue; 1,024 with 5.x backpressure on); 10,000 never throttles a healthy
/// cluster (10,000 sends in flight at 10 ms a send is 1 M sends/s) and caps a stalled one.
pub const DEFAULT_MAX_ASYNC_IN_FLIGHT: usize = 10_000;

/// Default bound on the body bytes of async sends in flight: the memory a stalled broker can
/// pin, near Java 5.x's 100 MiB, and 32 maximum-size (4 MiB) messages.
pub const DEFAULT_MAX_ASYNC_IN_FLIGHT_BYTES: usize = 128 << 20;

/// What an async send does when `max_async_in_flight` or `max_async_in_flight_bytes` is reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Backpressure {
    /// Wait for room, within the send timeout (then `TooManyRequests`).
    Block,
    /// Fail at once with `TooManyRequests`.
    Fail,
}

impl ProducerConfig {
    /// The settings of the client instance this producer starts or joins.
    pub fn client_config(&self) -> ClientConfig {
        ClientConfig {
            namesrv_addr: self.namesrv_addr.clone(),
            instance_name: self.instance_name.clone(),
            serialize_type: self.serialize_type,
            api_timeout: self.client_api_timeout,
            max_in_flight_per_connection: self.max_in_flight_per_connection,
            heartbeat_interval: self.heartbeat_interval,
            poll_namesrv_interval: self.poll_namesrv_interval,
            default_topic_queue_nums: self.default_topic_queue_nums,
            create_topic_key: self.create_topic_key.clone(),
            security: Security {
                tls: self.tls,
                tls_verify: self.tls_verify,
                tls_ca_file: self.tls_ca_file.clone(),
                tls_server_name: self.tls_server_name.clone(),
                tls_cert_file: self.tls_cert_file.clone(),
                tls_key_file: self.tls_key_file.clone(),
                tls_cert_pem: self.tls_cert_pem.clone(),
                tls_key_pem: self.tls_key_pem.clone(),
                access_key: self.access_key.clone(),
                secret_key: self.secret_key.clone(),
                security_token: self.security_token.clone(),
            },
        }
    }

    pub fn new(group: impl Into<String>) -> Self {
        ProducerConfig {
            group: group.into(),
            namesrv_addr: None,
            instance_name: None,
            send_timeout: Duration::from_millis(3000),
            retry_times: 2,
            retry_times_async: 2,
            compress_threshold: 4096,
            compress_level: 5,
            max_message_size: 4 * 1024 * 1024,
            default_topic_queue_nums: 4,
            create_topic_key: "TBW102".to_string(),
            latency_fault_tolerance: true,
            retry_another_broker_when_not_store_ok: false,
            heartbeat_interval: Duration::from_millis(30_000),
            poll_namesrv_interval: Duration::from_millis(30_000),
            client_api_timeout: Duration::from_millis(3000),
            serialize_type: SerializeType::RocketMq,
            max_in_flight_per_connection: 65535,
            shutdown_timeout: Duration::from_millis(3000),
            compress_type: CompressionType::Zlib,
            max_async_in_flight: DEFAULT_MAX_ASYNC_IN_FLIGHT,
            max_async_in_flight_bytes: DEFAULT_MAX_ASYNC_IN_FLIGHT_BYTES,
            backpressure: Backpressure::Block,
            auto_batch: false,
            batch_max_delay: Duration::from_millis(10),
            batch_max_bytes: 32 * 1024,
            total_batch_max_bytes: 32 << 20,
            namespace: None,
            enable_msg_trace: false,
            trace_topic: DEFAULT_TRACE_TOPIC.to_string(),
            enable_metrics: true,
            statistics_interval: Duration::ZERO,
            vip_channel_enabled: false,
            access_key: None,
            secret_key: None,
            security_token: None,
            tls: false,
            tls_verify: true,
            tls_ca_file: None,
            tls_server_name: None,
            tls_cert_file: None,
            tls_cert_pem: None,
            tls_key_file: None,
            tls_key_pem: None,
            test_panic_in_sends: 0,
        }
    }

    /// Sets one option by its string key (see [`OPTIONS`]); an unknown key or a value that
    /// does not parse is an `InvalidArgument` error naming both.
    pub fn set(&mut self, key: &str, value: &str) -> Result<()> {
        let value = value.trim();
        match key {
            "group" => self.group = value.to_string(),
            "namesrv_addr" => self.namesrv_addr = non_empty(value),
            "instance_name" => self.instance_name = non_empty(value),
            "send_timeout_ms" => self.send_timeout = millis(key, value, 1)?,
            "retry_times" => self.retry_times = number(key, value, 0, 16)?,
            "retry_times_async" => self.retry_times_async = number(key, value, 0, 16)?,
            "compress_threshold" => {
                self.compress_threshold = number::<u64>(key, value, 0, u32::MAX as u64)? as usize
            }
            "compress_level" => self.compress_level = number(key, value, 0, 9)?,
            "max_message_size" => {
                self.max_message_size = number::<u64>(key, value, 1, 64 * 1024 * 1024)? as usize
            }
            "default_topic_queue_nums" => {
                self.default_topic_queue_nums = number::<u64>(key, value, 1, 1024)? as i32
            }
            "create_topic_key" => self.create_topic_key = value.to_string(),
            "latency_fault_tolerance" => self.latency_fault_tolerance = boolean(key, value)?,
            "retry_another_broker_when_not_store_ok" => {
                self.retry_another_broker_when_not_store_ok = boolean(key, value)?
            }
            "heartbeat_interval_ms" => self.heartbeat_interval = millis(key, value, 100)?,
            "poll_namesrv_interval_ms" => self.poll_namesrv_interval = millis(key, value, 100)?,
            "client_api_timeout_ms" => self.client_api_timeout = millis(key, value, 1)?,
            "serialize_type" => {
                self.serialize_type = match value.to_ascii_lowercase().as_str() {
                    "json" => SerializeType::Json,
                    "rocketmq" => SerializeType::RocketMq,
                    _ => return Err(bad_value(key, value, "json or rocketmq")),
                }
            }
            "max_in_flight_per_connection" => {
                self.max_in_flight_per_connection = number::<u64>(key, value, 1, 1 << 20)? as usize
            }
            "shutdown_timeout_ms" => self.shutdown_timeout = millis(key, value, 0)?,
            "compress_type" => {
                self.compress_type = CompressionType::from_name(value)
                    .ok_or_else(|| bad_value(key, value, "zlib, lz4 or zstd"))?
            }
            "max_async_in_flight" => {
                self.max_async_in_flight = number::<u64>(key, value, 0, 1 << 24)? as usize
            }
            "max_async_in_flight_bytes" => {
                self.max_async_in_flight_bytes = number::<u64>(key, value, 0, 1 << 40)? as usize
            }
            "backpressure" => {
                self.backpressure = match value.to_ascii_lowercase().as_str() {
                    "block" => Backpressure::Block,
                    "fail" => Backpressure::Fail,
                    _ => return Err(bad_value(key, value, "block or fail")),
                }
            }
            "auto_batch" => self.auto_batch = boolean(key, value)?,
            "batch_max_delay_ms" => {
                self.batch_max_delay =
                    number::<u64>(key, value, 1, 30_000).map(Duration::from_millis)?
            }
            "batch_max_bytes" => {
                self.batch_max_bytes = number::<u64>(key, value, 1, 2 << 20)? as usize
            }
            "total_batch_max_bytes" => {
                self.total_batch_max_bytes = number::<u64>(key, value, 1, 1 << 40)? as usize
            }
            "enable_msg_trace" => self.enable_msg_trace = boolean(key, value)?,
            "customized_trace_topic" => {
                self.trace_topic = match value {
                    "" => DEFAULT_TRACE_TOPIC.to_string(),
                    topic => {
                        crate::protocol::validate::validate_topic(topic)
                            .map_err(|e| bad_value(key, value, e.message()))?;
                        topic.to_string()
                    }
                }
            }
            "enable_metrics" => self.enable_metrics = boolean(key, value)?,
            "statistics_interval_ms" => self.statistics_interval = millis(key, value, 0)?,
            "vip_channel_enabled" => self.vip_channel_enabled = boolean(key, value)?,
            "access_key" => self.access_key = non_empty(value),
            "secret_key" => self.secret_key = non_empty(value).map(Secret),
            "security_token" => self.security_token = non_empty(value).map(Secret),
            "tls" => self.tls = boolean(key, value)?,
            "tls_verify" => self.tls_verify = boolean(key, value)?,
            "tls_ca_file" => self.tls_ca_file = non_empty(value).map(PathBuf::from),
            "tls_server_name" => self.tls_server_name = non_empty(value),
            "tls_cert_file" => self.tls_cert_file = non_empty(value).map(PathBuf::from),
            "tls_key_file" => self.tls_key_file = non_empty(value).map(PathBuf::from),
            "tls_cert_pem" => self.tls_cert_pem = non_empty(value),
            "tls_key_pem" => self.tls_key_pem = non_empty(value).map(Secret),
            "test.panic_in_sends" => self.test_panic_in_sends = number(key, value, 0, 1000)?,
            "namespace" => {
                self.namespace = non_empty(value);
                if let Some(ns) = &self.namespace {
                    crate::protocol::namespace::validate(ns)
                        .map_err(|e| bad_value(key, value, e.message()))?;
                }
            }
            _ => {
                let known: Vec<&str> = OPTIONS.iter().map(|option| option.key).collect();
                return Err(Error::invalid_argument(format!(
                    "unknown producer option '{key}' (known: {})",
                    known.join(", ")
                )));
            }
        }
        Ok(())
    }
}

fn non_empty(value: &str) -> Option<String> {
    (!value.is_empty()).then(|| value.to_string())
}

fn bad_value(key: &str, value: &str, expected: &str) -> Error {
    Error::invalid_argument(format!(
        "producer option '{key}' = '{value}': expected {expected}"
    ))
}

fn number<T: TryFrom<u64>>(key: &str, value: &str, min: u64, max: u64) -> Result<T> {
    value
        .parse::<u64>()
        .ok()
        .filter(|n| (min..=max).contains(n))
        .and_then(|n| T::try_from(n).ok())
        .ok_or_else(|| bad_value(key, value, &format!("an integer from {min} to {max}")))
}

/// The longest time any option or call may set, in milliseconds: a day.
pub(crate) const MAX_MILLIS: u64 = 24 * 3600 * 1000;

fn millis(key: &str, value: &str, min: u64) -> Result<Duration> {
    number::<u64>(key, value, min, MAX_MILLIS).map(Duration::from_millis)
}

fn boolean(key: &str, value: &str) -> Result<bool> {
    match value.to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Ok(true),
        "false" | "0" | "no" | "off" => Ok(false),
        _ => Err(bad_value(key, value, "true or false")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;

    #[test]
    fn defaults_are_javas() {
        let c = ProducerConfig::new("g");
        assert_eq!(c.send_timeout, Duration::from_millis(3000));
        assert_eq!((c.retry_times, c.retry_times_async), (2, 2));
        assert_eq!((c.compress_threshold, c.compress_level), (4096, 5));
        assert_eq!(c.max_message_size, 4 * 1024 * 1024);
        assert_eq!(c.default_topic_queue_nums, 4);
    }

    #[test]
    fn every_documented_key_is_settable() {
        let samples = [
            ("group", "G2"),
            ("namesrv_addr", "127.0.0.1:9876"),
            ("instance_name", "i1"),
            ("send_timeout_ms", "5000"),
            ("retry_times", "3"),
            ("retry_times_async", "1"),
            ("compress_threshold", "1024"),
            ("compress_level", "9"),
            ("max_message_size", "1048576"),
            ("default_topic_queue_nums", "8"),
            ("create_topic_key", "TBW102"),
            ("latency_fault_tolerance", "false"),
            ("retry_another_broker_when_not_store_ok", "true"),
            ("heartbeat_interval_ms", "1000"),
            ("poll_namesrv_interval_ms", "2000"),
            ("client_api_timeout_ms", "1500"),
            ("serialize_type", "json"),
            ("max_in_flight_per_connection", "100"),
            ("shutdown_timeout_ms", "0"),
            ("compress_type", "zstd"),
            ("max_async_in_flight", "1024"),
            ("max_async_in_flight_bytes", "104857600"),
            ("backpressure", "fail"),
            ("auto_batch", "true"),
            ("batch_max_delay_ms", "5"),
            ("batch_max_bytes", "65536"),
            ("total_batch_max_bytes", "1048576"),
            ("enable_msg_trace", "true"),
            ("customized_trace_topic", "MyTraceTopic"),
            ("enable_metrics", "false"),
            ("statistics_interval_ms", "1000"),
            ("namespace", "ns1"),
            ("vip_channel_enabled", "true"),
            ("access_key", "ak"),
            ("secret_key", "sk"),
            ("security_token", "token"),
            ("tls", "true"),
            ("tls_verify", "false"),
            ("tls_ca_file", "/etc/ca.pem"),
            ("tls_server_name", "broker.example"),
            ("tls_cert_file", "/etc/client.pem"),
            ("tls_key_file", "/etc/client.key"),
            ("tls_cert_pem", "-----BEGIN CERTIFICATE-----"),
            ("tls_key_pem", "-----BEGIN PRIVATE KEY-----"),
        ];
        let keys: Vec<&str> = OPTIONS.iter().map(|option| option.key).collect();
        assert_eq!(keys, samples.iter().map(|(k, _)| *k).collect::<Vec<_>>());
        let mut c = ProducerConfig::new("g");
        for (key, value) in samples {
            c.set(key, value).unwrap_or_else(|e| panic!("{key}: {e}"));
        }
        assert_eq!(c.send_timeout, Duration::from_millis(5000));
        assert_eq!(c.serialize_type, SerializeType::Json);
        assert_eq!(
            ProducerConfig::new("g").serialize_type,
            SerializeType::RocketMq
        );
        assert!(!c.latency_fault_tolerance);
        assert_eq!(c.compress_type, CompressionType::Zstd);
        assert_eq!(c.backpressure, Backpressure::Fail);
        assert!(c.auto_batch);
        assert_eq!(c.batch_max_delay, Duration::from_millis(5));
        assert_eq!(
            (c.batch_max_bytes, c.total_batch_max_bytes),
            (65536, 1 << 20)
        );
        assert_eq!(c.namespace.as_deref(), Some("ns1"));
        assert!(c.enable_msg_trace);
        assert_eq!(c.trace_topic, "MyTraceTopic");
        assert!(!c.enable_metrics);
        assert_eq!(c.statistics_interval, Duration::from_secs(1));
        assert!(
            !format!("{c:?}").contains("\"sk\""),
            "secrets stay out of Debug"
        );
        assert!(
            !format!("{c:?}").contains("PRIVATE KEY"),
            "the client key stays out of Debug"
        );
        assert!(c.client_config().security.credentials().unwrap().is_some());
        c.secret_key = None;
        assert_eq!(
            c.client_config().security.credentials().unwrap_err().kind(),
            ErrorKind::InvalidArgument
        );
    }

    #[test]
    fn bad_keys_and_values_are_invalid_arguments() {
        let mut c = ProducerConfig::new("g");
        for (k, v) in [
            ("nope", "1"),
            ("send_timeout_ms", "-1"),
            ("send_timeout_ms", "abc"),
            ("compress_level", "10"),
            ("latency_fault_tolerance", "maybe"),
            ("serialize_type", "xml"),
            ("compress_type", "gzip"),
            ("backpressure", "maybe"),
            ("namespace", "a%b"),
            ("auto_batch", "sometimes"),
            ("batch_max_delay_ms", "0"),
            ("batch_max_delay_ms", "30001"),
            ("batch_max_bytes", "0"),
            ("batch_max_bytes", "2097153"),
            ("total_batch_max_bytes", "0"),
            ("total_batch_max_bytes", "-5"),
        ] {
            let e = c.set(k, v).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::InvalidArgument, "{k}={v}");
            assert!(e.message().contains(k));
        }
    }
}
