//! Clients for a hub whose listeners speak TLS (`[http.tls]`,
//! `[mqtt.tls]`): they trust exactly one certificate, the test's own.

use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;

use crate::RECV_TIMEOUT;

/// A rustls client config (ring, TLS 1.2 and 1.3) that trusts the
/// certificates in `cert_pem` and nothing else; for a self-signed test
/// certificate, give that certificate.
pub fn client_config(cert_pem: &str) -> Arc<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(cert_pem.as_bytes()) {
        let cert = cert.unwrap_or_else(|e| panic!("not a PEM certificate: {e}"));
        roots
            .add(cert)
            .unwrap_or_else(|e| panic!("rustls does not take the certificate as a root: {e}"));
    }
    assert!(!roots.is_empty(), "no certificate in {cert_pem:?}");
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("ring supports TLS 1.2 and 1.3")
        .with_root_certificates(roots)
        .with_no_client_auth();
    Arc::new(config)
}

/// The client side of a TLS handshake on `tcp` with the server `host`
/// (a DNS name or an IP address, checked against its certificate), trusting
/// what `config` trusts; panics if it fails or takes longer than
/// [`RECV_TIMEOUT`].
pub async fn connect(
    tcp: TcpStream,
    host: &str,
    config: Arc<rustls::ClientConfig>,
) -> TlsStream<TcpStream> {
    let name = ServerName::try_from(host.to_string())
        .unwrap_or_else(|e| panic!("{host:?} is not a server name: {e}"));
    let handshake = tokio_rustls::TlsConnector::from(config).connect(name, tcp);
    match tokio::time::timeout(RECV_TIMEOUT, handshake).await {
        Err(_) => panic!("TLS handshake with {host} timed out"),
        Ok(Err(e)) => panic!("TLS handshake with {host} failed: {e}"),
        Ok(Ok(stream)) => stream,
    }
}

impl crate::Hub {
    /// `https://127.0.0.1:PORT` of the current run (with `[http.tls]`).
    pub fn https_base(&self) -> String {
        format!("https://{}", self.addr())
    }

    /// `wss://127.0.0.1:PORT/ws` of the current run (with `[http.tls]`).
    pub fn wss_url(&self) -> String {
        format!("wss://{}/ws", self.addr())
    }

    /// `wss://127.0.0.1:PORT/mqtt` (MQTT over secure WebSocket) of the
    /// current run (with `[http.tls]`).
    pub fn mqtt_wss_url(&self) -> String {
        format!("wss://{}/mqtt", self.addr())
    }
}
