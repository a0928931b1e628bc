//! What a client instance is made with: the settings its producers must share (name servers,
//! connections, security, periods), taken from the configuration of the producer that starts it.

use std::path::PathBuf;
use std::time::Duration;

use crate::error::{Error, Result};
use crate::protocol::acl::Credentials;
use crate::protocol::command::SerializeType;
use crate::transport::Tls;

/// A secret string that `Debug` never shows.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(pub String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

/// The settings of a client instance.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// Name servers, `host:port;host:port`; `None` reads `NAMESRV_ADDR` at start.
    pub namesrv_addr: Option<String>,
    /// Instance name; `None` means one per process.
    pub instance_name: Option<String>,
    pub serialize_type: SerializeType,
    /// Deadline of the instance's own requests (route lookups, heartbeats, unregistration).
    pub api_timeout: Duration,
    pub max_in_flight_per_connection: usize,
    pub heartbeat_interval: Duration,
    pub poll_namesrv_interval: Duration,
    /// What a broker auto-creates a new topic with.
    pub default_topic_queue_nums: i32,
    pub create_topic_key: String,
    pub security: Security,
}

/// TLS and credentials: every producer of an instance must agree on them.
#[derive(Debug, Clone, PartialEq)]
pub struct Security {
    pub tls: bool,
    pub tls_verify: bool,
    pub tls_ca_file: Option<PathBuf>,
    pub tls_server_name: Option<String>,
    pub access_key: Option<String>,
    pub secret_key: Option<Secret>,
    pub security_token: Option<Secret>,
}

impl Security {
    /// The signing credentials: both keys, or neither.
    pub fn credentials(&self) -> Result<Option<Credentials>> {
        match (&self.access_key, &self.secret_key) {
            (Some(access_key), Some(secret_key)) => Ok(Some(Credentials {
                access_key: access_key.clone(),
                secret_key: secret_key.0.clone(),
                security_token: self.security_token.as_ref().map(|t| t.0.clone()),
            })),
            (None, None) => Ok(None),
            _ => Err(Error::invalid_argument(
                "access_key and secret_key must be set together",
            )),
        }
    }

    /// The TLS settings, when `tls` is on.
    pub fn tls_settings(&self) -> Result<Option<Tls>> {
        if !self.tls {
            return Ok(None);
        }
        Tls::new(
            self.tls_verify,
            self.tls_ca_file.as_deref(),
            self.tls_server_name.clone(),
        )
        .map(Some)
    }
}
