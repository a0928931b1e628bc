//! TLS for every connection (Java's `useTLS`), with rustls. The servers run in permissive mode
//! by default and tell TLS from plain TCP by the first byte, so one port serves both.

use std::fmt;
use std::path::Path;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
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
    /// system's roots.
    pub fn new(verify: bool, ca_file: Option<&Path>, server_name: Option<String>) -> Result<Tls> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| Error::invalid_argument(format!("TLS setup: {e}")))?;
        let config = if verify {
            builder
                .with_root_certificates(roots(ca_file)?)
                .with_no_client_auth()
        } else {
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(AnyCertificate(
                    provider.signature_verification_algorithms,
                )))
                .with_no_client_auth()
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
        let missing = Tls::new(true, Some(Path::new("/nonexistent/ca.pem")), None).unwrap_err();
        assert_eq!(missing.kind(), ErrorKind::InvalidArgument);
        let dir = std::env::temp_dir().join(format!("rmq-empty-ca-{}.pem", std::process::id()));
        std::fs::write(&dir, "not a certificate").unwrap();
        let empty = Tls::new(true, Some(&dir), None).unwrap_err();
        assert!(empty.message().contains("no certificate"), "{empty}");
        let _ = std::fs::remove_file(dir);
        Tls::new(false, None, None).unwrap();
        Tls::new(true, None, None).unwrap();
    }
}
