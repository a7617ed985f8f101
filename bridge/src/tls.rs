//! TLS for the listeners: the `[http.tls]` and `[mqtt.tls]` tables, the
//! loader that turns their PEM files into a [`TlsAcceptor`], and the
//! server side of one handshake.
//!
//! rustls with the *ring* provider, TLS 1.2 and 1.3. The files are read
//! once, at start-up: a new certificate takes a restart.

use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::pem::{self, PemObject};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use serde::Deserialize;
use tokio::net::TcpStream;
use tokio_rustls::server::TlsStream;

pub use tokio_rustls::TlsAcceptor;

/// Longest a client may take over its TLS handshake. Each handshake runs in
/// its connection's own task, so a slow client holds only itself.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// `[http.tls]` or `[mqtt.tls]`: the listener's certificate and key, as PEM
/// files. Relative paths are from the hub's working directory.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// The certificate chain, the server's own certificate first.
    pub cert: PathBuf,
    /// The private key of that certificate: PKCS#8 (`BEGIN PRIVATE KEY`),
    /// PKCS#1 (`BEGIN RSA PRIVATE KEY`) or SEC1 (`BEGIN EC PRIVATE KEY`).
    pub key: PathBuf,
}

/// Why a listener's certificate or key cannot be used. Each error names
/// the config key at fault (`http.tls.cert`, ...); the cause is its
/// [`source`](std::error::Error::source).
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// The file cannot be read.
    #[error("{key}: cannot read {}", path.display())]
    Read {
        /// The config key naming the file.
        key: String,
        /// The file.
        path: PathBuf,
        /// What the OS said.
        source: io::Error,
    },
    /// The file is not well-formed PEM.
    #[error("{key}: {} is not valid PEM", path.display())]
    Pem {
        /// The config key naming the file.
        key: String,
        /// The file.
        path: PathBuf,
        /// What the PEM parser said.
        source: pem::Error,
    },
    /// The certificate file holds no certificate.
    #[error("{key}: no certificate (BEGIN CERTIFICATE) in {}", path.display())]
    NoCertificate {
        /// The config key naming the file.
        key: String,
        /// The file.
        path: PathBuf,
    },
    /// The key file holds no private key.
    #[error(
        "{key}: no private key (BEGIN PRIVATE KEY, RSA PRIVATE KEY or EC PRIVATE KEY) in {}",
        path.display()
    )]
    NoKey {
        /// The config key naming the file.
        key: String,
        /// The file.
        path: PathBuf,
    },
    /// rustls refuses the pair: the key does not belong to the certificate,
    /// or its algorithm is not supported.
    #[error("{table}: the certificate and key cannot be used together")]
    Refused {
        /// The config table (`http.tls`).
        table: String,
        /// What rustls said.
        source: rustls::Error,
    },
}

impl TlsConfig {
    /// What can be seen to be wrong without reading the files, as
    /// `key: why`; `table` is where this config sits (`http.tls`).
    pub fn problems(&self, table: &str) -> Vec<String> {
        [("cert", &self.cert), ("key", &self.key)]
            .into_iter()
            .filter(|(_, path)| path.as_os_str().is_empty())
            .map(|(name, _)| format!("{table}.{name}: must name a PEM file"))
            .collect()
    }

    /// Reads the PEM files and builds an acceptor for TLS 1.2 and 1.3 that
    /// offers `alpn` (none if empty: any client is then accepted, whatever
    /// it asks for). `table` is where this config sits (`http.tls`), for
    /// the errors.
    pub fn acceptor(&self, table: &str, alpn: &[&[u8]]) -> Result<TlsAcceptor, TlsError> {
        let cert_key = format!("{table}.cert");
        let certs = CertificateDer::pem_slice_iter(&read(&cert_key, &self.cert)?)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|source| TlsError::Pem {
                key: cert_key.clone(),
                path: self.cert.clone(),
                source,
            })?;
        if certs.is_empty() {
            return Err(TlsError::NoCertificate {
                key: cert_key,
                path: self.cert.clone(),
            });
        }
        let key_key = format!("{table}.key");
        let key = PrivateKeyDer::from_pem_slice(&read(&key_key, &self.key)?).map_err(|e| {
            let path = self.key.clone();
            match e {
                pem::Error::NoItemsFound => TlsError::NoKey { key: key_key, path },
                source => TlsError::Pem {
                    key: key_key,
                    path,
                    source,
                },
            }
        })?;
        let refused = |source| TlsError::Refused {
            table: table.to_string(),
            source,
        };
        // The provider is named, not taken from the process default, so the
        // hub never depends on which rustls features other crates turn on.
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
            .map_err(refused)?
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .map_err(refused)?;
        config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        Ok(TlsAcceptor::from(Arc::new(config)))
    }
}

fn read(key: &str, path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|source| TlsError::Read {
        key: key.to_string(),
        path: path.to_path_buf(),
        source,
    })
}

/// The server side of one TLS handshake, bounded by [`HANDSHAKE_TIMEOUT`].
/// `None` if it fails or takes too long: that is the client's doing (a
/// plain-text client, a certificate it does not trust, a port scan), so it
/// is logged at debug level only.
pub(crate) async fn handshake(
    acceptor: &TlsAcceptor,
    tcp: TcpStream,
    peer: SocketAddr,
) -> Option<TlsStream<TcpStream>> {
    match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
        Ok(Ok(stream)) => Some(stream),
        Ok(Err(e)) => {
            tracing::debug!(%peer, error = %e, "TLS handshake failed");
            None
        }
        Err(_) => {
            tracing::debug!(%peer, "no TLS handshake in time; closing");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The error loading `cert` and `key` (in `dir`) as the table `table`.
    fn error(dir: &Path, cert: &str, key: &str, table: &str) -> TlsError {
        let config = TlsConfig {
            cert: dir.join(cert),
            key: dir.join(key),
        };
        match config.acceptor(table, &[]) {
            Ok(_) => panic!("{config:?} loaded"),
            Err(e) => e,
        }
    }

    #[test]
    fn errors_name_the_key_and_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let e = error(dir.path(), "nope.pem", "nope.key", "http.tls");
        assert!(matches!(e, TlsError::Read { .. }), "{e:?}");
        let text = e.to_string();
        assert!(
            text.starts_with("http.tls.cert: cannot read ") && text.contains("nope.pem"),
            "{text}"
        );

        std::fs::write(dir.path().join("empty.pem"), "no PEM here\n").unwrap();
        let e = error(dir.path(), "empty.pem", "nope.key", "mqtt.tls");
        assert!(
            e.to_string().starts_with("mqtt.tls.cert: no certificate"),
            "{e}"
        );

        let broken = "-----BEGIN CERTIFICATE-----\nAAAA\n";
        std::fs::write(dir.path().join("broken.pem"), broken).unwrap();
        let e = error(dir.path(), "broken.pem", "nope.key", "http.tls");
        assert!(matches!(e, TlsError::Pem { .. }), "{e:?}");
        assert!(e.to_string().starts_with("http.tls.cert: "), "{e}");
    }

    #[test]
    fn empty_paths_are_problems() {
        let c = TlsConfig {
            cert: PathBuf::new(),
            key: PathBuf::from("k.pem"),
        };
        assert_eq!(
            c.problems("http.tls"),
            vec!["http.tls.cert: must name a PEM file".to_string()]
        );
    }
}
