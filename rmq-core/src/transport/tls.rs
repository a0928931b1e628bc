//! TLS for every connection (Java's `useTLS`), with rustls. The servers run in permissive mode
//! by default and tell TLS from plain TCP by the first byte, so one port serves both. Servers that
//! require client certificates (`tls.server.need.client.auth=require`) get a [`ClientCert`].

use std::borrow::Cow;
use std::fmt;
use std::path::Path;
use std::sync::Arc;

use rustls::client::WantsClientCert;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::pki_types::pem::{self, PemObject};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{
    ClientConfig, ConfigBuilder, DigitallySignedStruct, InconsistentKeys, RootCertStore,
    SignatureScheme,
};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

use crate::error::{Error, ErrorKind, Result};

/// How connections are secured.
#[derive(Clone)]
pub struct Tls {
    connector: TlsConnector,
    /// The name the server's certificate must show; by default the host of the address.
    server_name: Option<String>,
}

impl fmt::Debug for Tls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tls")
            .field("server_name", &self.server_name)
            .finish_non_exhaustive()
    }
}

impl Tls {
    /// `verify` false accepts any server certificate (the brokers' default self-signed one, for
    /// tests); otherwise certificates must chain to `ca_file` (PEM) or, without it, to the
    /// system's roots. `client_cert` is shown to servers that ask for one.
    pub fn new(
        verify: bool,
        ca_file: Option<&Path>,
        server_name: Option<String>,
        client_cert: Option<ClientCert>,
    ) -> Result<Tls> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| Error::invalid_argument(format!("TLS setup: {e}")))?;
        let builder = if verify {
            builder.with_root_certificates(roots(ca_file)?)
        } else {
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(AnyCertificate(
                    provider.signature_verification_algorithms,
                )))
        };
        let config = match client_cert {
            Some(client_cert) => client_cert.install(builder)?,
            None => builder.with_no_client_auth(),
        };
        Ok(Tls {
            connector: TlsConnector::from(Arc::new(config)),
            server_name,
        })
    }

    /// The TLS handshake over a connected socket to `addr`.
    pub async fn handshake(&self, addr: &str, tcp: TcpStream) -> Result<TlsStream<TcpStream>> {
        let host = match &self.server_name {
            Some(name) => name.clone(),
            None => host_of(addr).to_string(),
        };
        let name = ServerName::try_from(host.clone()).map_err(|_| {
            Error::new(
                ErrorKind::Connect,
                format!("TLS to {addr}: '{host}' is not a valid server name"),
            )
        })?;
        self.connector.connect(name, tcp).await.map_err(|e| {
            Error::new(
                ErrorKind::Connect,
                format!("TLS handshake with {addr}: {e}"),
            )
            .with_addr(addr)
        })
    }
}

/// Where one PEM input of the client certificate comes from: the producer option that gave it,
/// and that option's value.
#[derive(Debug, Clone, Copy)]
pub struct PemInput<'a> {
    pub option: &'static str,
    pub source: PemSource<'a>,
}

/// A PEM file, or the PEM text itself.
#[derive(Debug, Clone, Copy)]
pub enum PemSource<'a> {
    File(&'a Path),
    Text(&'a str),
}

impl PemInput<'_> {
    fn read(&self) -> Result<Cow<'_, [u8]>> {
        match self.source {
            PemSource::File(path) => std::fs::read(path)
                .map(Cow::Owned)
                .map_err(|e| self.invalid(e)),
            PemSource::Text(text) => Ok(Cow::Borrowed(text.as_bytes())),
        }
    }

    /// An `InvalidArgument` naming the option (and the file) and `cause`.
    fn invalid(&self, cause: impl fmt::Display) -> Error {
        let file = match self.source {
            PemSource::File(path) => format!(" ({})", path.display()),
            PemSource::Text(_) => String::new(),
        };
        Error::invalid_argument(format!("producer option '{}'{file}: {cause}", self.option))
    }
}

/// A client certificate chain and its private key, both read from PEM, for servers that require
/// one (mutual TLS).
pub struct ClientCert {
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
    /// The options that gave the chain and the key, for the errors of [`ClientCert::install`].
    options: (&'static str, &'static str),
}

impl ClientCert {
    /// Reads the chain (one or more CERTIFICATE blocks, the client's own first) and the key (a
    /// PKCS#8, PKCS#1 or SEC1 block, unencrypted). Whether the key belongs to the certificate is
    /// checked when it is installed.
    pub fn load(cert: PemInput<'_>, key: PemInput<'_>) -> Result<ClientCert> {
        let chain = CertificateDer::pem_slice_iter(&cert.read()?)
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(|e| cert.invalid(format_args!("not valid PEM: {e}")))?;
        if chain.is_empty() {
            return Err(cert.invalid("no CERTIFICATE PEM block in it"));
        }
        let private_key = PrivateKeyDer::from_pem_slice(&key.read()?).map_err(|e| match e {
            pem::Error::NoItemsFound => key.invalid(
                "no unencrypted private key PEM block (PRIVATE KEY, RSA PRIVATE KEY or EC PRIVATE \
                 KEY) in it",
            ),
            e => key.invalid(format_args!("not valid PEM: {e}")),
        })?;
        Ok(ClientCert {
            chain,
            key: private_key,
            options: (cert.option, key.option),
        })
    }

    fn install(
        self,
        builder: ConfigBuilder<ClientConfig, WantsClientCert>,
    ) -> Result<ClientConfig> {
        let (cert_option, key_option) = self.options;
        builder
            .with_client_auth_cert(self.chain, self.key)
            .map_err(|e| {
                let cause = match e {
                    rustls::Error::InconsistentKeys(InconsistentKeys::KeyMismatch) => {
                        "the private key does not belong to the certificate".to_string()
                    }
                    // rustls words it as about the peer's ("invalid peer certificate").
                    rustls::Error::InvalidCertificate(reason) => {
                        format!("the first certificate does not parse ({reason:?})")
                    }
                    e => e.to_string(),
                };
                Error::invalid_argument(format!(
                    "producer options '{cert_option}' and '{key_option}': {cause}"
                ))
            })
    }
}

/// The host part of "host:port" or "[v6]:port".
fn host_of(addr: &str) -> &str {
    let host = addr.rsplit_once(':').map_or(addr, |(host, _)| host);
    host.trim_start_matches('[').trim_end_matches(']')
}

fn roots(ca_file: Option<&Path>) -> Result<RootCertStore> {
    let mut roots = RootCertStore::empty();
    match ca_file {
        Some(path) => {
            let pem = std::fs::read(path).map_err(|e| {
                Error::invalid_argument(format!("TLS CA file {}: {e}", path.display()))
            })?;
            let certs = rustls::pki_types::pem::PemObject::pem_slice_iter(&pem)
                .collect::<std::result::Result<Vec<CertificateDer<'static>>, _>>()
                .map_err(|e| {
                    Error::invalid_argument(format!("TLS CA file {}: {e}", path.display()))
                })?;
            let (added, _) = roots.add_parsable_certificates(certs);
            if added == 0 {
                return Err(Error::invalid_argument(format!(
                    "TLS CA file {} holds no certificate",
                    path.display()
                )));
            }
        }
        None => {
            let native = rustls_native_certs::load_native_certs();
            roots.add_parsable_certificates(native.certs);
        }
    }
    Ok(roots)
}

/// Accepts any certificate, but still checks that the server holds its key.
#[derive(Debug)]
struct AnyCertificate(WebPkiSupportedAlgorithms);

impl ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_of_addresses() {
        assert_eq!(host_of("127.0.0.1:10911"), "127.0.0.1");
        assert_eq!(host_of("[::1]:10911"), "::1");
        assert_eq!(host_of("broker.example:10911"), "broker.example");
    }

    #[test]
    fn bad_ca_files_are_invalid_arguments() {
        let missing =
            Tls::new(true, Some(Path::new("/nonexistent/ca.pem")), None, None).unwrap_err();
        assert_eq!(missing.kind(), ErrorKind::InvalidArgument);
        let dir = std::env::temp_dir().join(format!("rmq-empty-ca-{}.pem", std::process::id()));
        std::fs::write(&dir, "not a certificate").unwrap();
        let empty = Tls::new(true, Some(&dir), None, None).unwrap_err();
        assert!(empty.message().contains("no certificate"), "{empty}");
        let _ = std::fs::remove_file(dir);
        Tls::new(false, None, None, None).unwrap();
        Tls::new(true, None, None, None).unwrap();
    }

    // A self-signed client certificate with its key (PKCS#8 and SEC1 forms) and an unrelated key.
    const CERT: &str = include_str!("testdata/client.pem");
    const KEY: &str = include_str!("testdata/client.key");
    const KEY_SEC1: &str = include_str!("testdata/client-sec1.key");
    const OTHER_KEY: &str = include_str!("testdata/other.key");

    fn text<'a>(option: &'static str, pem: &'a str) -> PemInput<'a> {
        PemInput {
            option,
            source: PemSource::Text(pem),
        }
    }

    fn with_client_cert(cert: PemInput<'_>, key: PemInput<'_>) -> Result<Tls> {
        Tls::new(false, None, None, Some(ClientCert::load(cert, key)?))
    }

    #[test]
    fn a_client_certificate_with_its_key_is_accepted() {
        with_client_cert(text("tls_cert_pem", CERT), text("tls_key_pem", KEY)).unwrap();
        with_client_cert(text("tls_cert_pem", CERT), text("tls_key_pem", KEY_SEC1)).unwrap();
        let dir = std::env::temp_dir().join(format!("rmq-client-cert-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (cert_file, key_file) = (dir.join("client.pem"), dir.join("client.key"));
        std::fs::write(&cert_file, CERT).unwrap();
        std::fs::write(&key_file, KEY).unwrap();
        let file = |option, path| PemInput {
            option,
            source: PemSource::File(path),
        };
        Tls::new(
            true,
            None,
            None,
            Some(
                ClientCert::load(
                    file("tls_cert_file", &cert_file),
                    file("tls_key_file", &key_file),
                )
                .unwrap(),
            ),
        )
        .unwrap();
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn bad_client_certificates_are_invalid_arguments_naming_the_option() {
        let missing = PemInput {
            option: "tls_cert_file",
            source: PemSource::File(Path::new("/nonexistent/client.pem")),
        };
        let cases = [
            (
                missing,
                text("tls_key_pem", KEY),
                "'tls_cert_file' (/nonexistent/client.pem): No such file",
            ),
            (
                text("tls_cert_pem", "not PEM"),
                text("tls_key_pem", KEY),
                "'tls_cert_pem': no CERTIFICATE",
            ),
            (
                text("tls_cert_pem", KEY),
                text("tls_key_pem", KEY),
                "'tls_cert_pem': no CERTIFICATE",
            ),
            (
                text("tls_cert_pem", CERT),
                text("tls_key_pem", CERT),
                "'tls_key_pem': no unencrypted private key",
            ),
            (
                text(
                    "tls_cert_pem",
                    "-----BEGIN CERTIFICATE-----\n!!!\n-----END CERTIFICATE-----\n",
                ),
                text("tls_key_pem", KEY),
                "'tls_cert_pem': not valid PEM",
            ),
            (
                text("tls_cert_pem", CERT),
                text("tls_key_pem", OTHER_KEY),
                "'tls_cert_pem' and 'tls_key_pem': the private key does not belong to the certificate",
            ),
            (
                text(
                    "tls_cert_pem",
                    "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
                ),
                text("tls_key_pem", KEY),
                "'tls_cert_pem' and 'tls_key_pem': the first certificate does not parse",
            ),
        ];
        for (cert, key, expected) in cases {
            let err = with_client_cert(cert, key).expect_err(expected);
            assert_eq!(err.kind(), ErrorKind::InvalidArgument, "{err}");
            assert!(err.message().contains(expected), "{err}");
        }
    }
}
