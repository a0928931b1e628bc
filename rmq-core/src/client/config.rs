//! What a client instance is made with: the settings its producers must share (name servers,
//! connections, security, periods), taken from the configuration of the producer that starts it.

use std::path::PathBuf;
use std::time::Duration;

use crate::error::{Error, Result};
use crate::protocol::acl::Credentials;
use crate::protocol::command::SerializeType;
use crate::transport::{ClientCert, PemInput, PemSource, Tls};

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
    /// The client certificate chain and its key (mutual TLS): each from a PEM file or PEM text.
    pub tls_cert_file: Option<PathBuf>,
    pub tls_key_file: Option<PathBuf>,
    pub tls_cert_pem: Option<String>,
    pub tls_key_pem: Option<Secret>,
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
        let client_cert = self.client_cert_inputs()?;
        if !self.tls {
            if let Some((cert, _)) = client_cert {
                // Else the certificate meant to authenticate would silently go unused.
                return Err(Error::invalid_argument(format!(
                    "producer option '{}' is set but 'tls' is false",
                    cert.option
                )));
            }
            return Ok(None);
        }
        let client_cert = client_cert
            .map(|(cert, key)| ClientCert::load(cert, key))
            .transpose()?;
        Tls::new(
            self.tls_verify,
            self.tls_ca_file.as_deref(),
            self.tls_server_name.clone(),
            client_cert,
        )
        .map(Some)
    }

    /// Where the client certificate and its key come from: both or neither, each once.
    fn client_cert_inputs(&self) -> Result<Option<(PemInput<'_>, PemInput<'_>)>> {
        let cert = pem_input(
            ("tls_cert_file", self.tls_cert_file.as_deref()),
            ("tls_cert_pem", self.tls_cert_pem.as_deref()),
        )?;
        let key = pem_input(
            ("tls_key_file", self.tls_key_file.as_deref()),
            (
                "tls_key_pem",
                self.tls_key_pem.as_ref().map(|key| key.0.as_str()),
            ),
        )?;
        match (cert, key) {
            (Some(cert), Some(key)) => Ok(Some((cert, key))),
            (None, None) => Ok(None),
            (Some(cert), None) => Err(Error::invalid_argument(format!(
                "producer option '{}' is set without 'tls_key_file' or 'tls_key_pem'",
                cert.option
            ))),
            (None, Some(key)) => Err(Error::invalid_argument(format!(
                "producer option '{}' is set without 'tls_cert_file' or 'tls_cert_pem'",
                key.option
            ))),
        }
    }
}

/// The one of a file option and a PEM text option that is set.
fn pem_input<'a>(
    (file_option, file): (&'static str, Option<&'a std::path::Path>),
    (text_option, text): (&'static str, Option<&'a str>),
) -> Result<Option<PemInput<'a>>> {
    match (file, text) {
        (Some(_), Some(_)) => Err(Error::invalid_argument(format!(
            "producer options '{file_option}' and '{text_option}' are both set: give one"
        ))),
        (Some(path), None) => Ok(Some(PemInput {
            option: file_option,
            source: PemSource::File(path),
        })),
        (None, Some(text)) => Ok(Some(PemInput {
            option: text_option,
            source: PemSource::Text(text),
        })),
        (None, None) => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use crate::error::ErrorKind;
    use crate::producer::ProducerConfig;

    /// The error `start` would give for these options.
    fn tls_error(options: &[(&str, &str)]) -> String {
        let mut config = ProducerConfig::new("g");
        for (key, value) in options {
            config.set(key, value).unwrap();
        }
        let err = config
            .client_config()
            .security
            .tls_settings()
            .err()
            .unwrap();
        assert_eq!(err.kind(), ErrorKind::InvalidArgument, "{err}");
        err.message().to_string()
    }

    #[test]
    fn a_client_certificate_needs_its_key_tls_and_one_source_each() {
        let cert = (
            "tls_cert_pem",
            include_str!("../transport/testdata/client.pem"),
        );
        let key = (
            "tls_key_pem",
            include_str!("../transport/testdata/client.key"),
        );
        let tls = ("tls", "true");
        assert!(
            tls_error(&[tls, ("tls_cert_file", "/c.pem")])
                .contains("'tls_cert_file' is set without 'tls_key_file' or 'tls_key_pem'")
        );
        assert!(tls_error(&[tls, key]).contains("'tls_key_pem' is set without 'tls_cert_file'"));
        assert!(
            tls_error(&[tls, cert, key, ("tls_cert_file", "/c.pem")])
                .contains("'tls_cert_file' and 'tls_cert_pem' are both set")
        );
        assert!(
            tls_error(&[tls, cert, key, ("tls_key_file", "/c.key")])
                .contains("'tls_key_file' and 'tls_key_pem' are both set")
        );
        assert!(tls_error(&[cert, key]).contains("'tls_cert_pem' is set but 'tls' is false"));
        let mut config = ProducerConfig::new("g");
        for (k, v) in [tls, cert, key] {
            config.set(k, v).unwrap();
        }
        assert!(
            config
                .client_config()
                .security
                .tls_settings()
                .unwrap()
                .is_some()
        );
    }
}
