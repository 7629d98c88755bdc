//! HTTPS served by the server itself, and its certificate replaced without
//! a restart.
//!
//! With a certificate and a key ([`crate::config::Config::tls_cert`],
//! `tls_key`) the server speaks only TLS on its address: HTTPS, and WSS on
//! the same routes. The files are PEM, read and checked before the server
//! listens: an unreadable file, a file with no certificate or no key, or a
//! key that is not the certificate's stops the start with a message naming
//! the file. rustls does the TLS with the ring provider, named here rather
//! than left to the process default, so no other crate's features can
//! change it.
//!
//! Certificates are short-lived (ACME issues them for 90 days), so a task
//! looks at both files' modification times and sizes every
//! `tls_reload_secs` and, when either changed, loads them again. New
//! connections get the new certificate; open ones keep theirs. A reload
//! that fails (a half-written file, a key that is not the new
//! certificate's) keeps the old certificate served and logs a warning; it is
//! tried again at the files' next change, which is when a certificate tool
//! finishes writing them.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use axum::Router;
use axum::extract::connect_info::IntoMakeServiceWithConnectInfo;
use axum_server::tls_rustls::RustlsConfig;
use rustls::ServerConfig;
use rustls::pki_types::pem::{self, PemObject};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// The certificate and key files the server serves TLS with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    /// The PEM certificate chain, the server's own certificate first.
    pub cert: PathBuf,
    /// The PEM private key of the chain's first certificate.
    pub key: PathBuf,
}

/// Why TLS cannot be served with the configured files.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A certificate without its key.
    #[error("the TLS certificate {} needs its private key too (--tls-key)", cert.display())]
    KeyMissing {
        /// The certificate given.
        cert: PathBuf,
    },
    /// A key without its certificate.
    #[error("the TLS private key {} needs its certificate too (--tls-cert)", key.display())]
    CertMissing {
        /// The key given.
        key: PathBuf,
    },
    /// A file cannot be read.
    #[error("cannot read the TLS file {}: {source}", path.display())]
    Unreadable {
        /// The file.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// The certificate file holds no certificate, or one that is not PEM.
    #[error("the TLS certificate file {} holds no PEM certificate{reason}", path.display())]
    NoCertificate {
        /// The file.
        path: PathBuf,
        /// What was wrong with its PEM, if it had any (`: ...`).
        reason: String,
    },
    /// The key file holds no private key, or one that is not PEM.
    #[error("the TLS key file {} holds no PEM private key{reason}", path.display())]
    NoKey {
        /// The file.
        path: PathBuf,
        /// What was wrong with its PEM, if it had any (`: ...`).
        reason: String,
    },
    /// The key is not the certificate's.
    #[error("the TLS private key {} is not the key of the certificate {}", key.display(), cert.display())]
    KeyMismatch {
        /// The certificate file.
        cert: PathBuf,
        /// The key file.
        key: PathBuf,
    },
    /// rustls refused the pair for another reason (an unsupported key type).
    #[error("the TLS certificate {} with the key {} cannot be served: {reason}", cert.display(), key.display())]
    Refused {
        /// The certificate file.
        cert: PathBuf,
        /// The key file.
        key: PathBuf,
        /// rustls's reason.
        reason: String,
    },
}

/// The public-key pin of the certificate in `cert` (its first, the
/// server's own): `sha256/` and the SHA-256 of its SubjectPublicKeyInfo in
/// URL-safe base64 without padding, as an enrolment link carries it and the
/// phone checks it on every connection.
pub fn certificate_pin(cert: &Path) -> Result<String, TlsError> {
    use base64::Engine as _;
    use sha2::Digest as _;
    let pem = read(cert)?;
    let no_certificate = |reason: String| TlsError::NoCertificate { path: cert.to_owned(), reason };
    let leaf = CertificateDer::pem_slice_iter(&pem)
        .next()
        .ok_or_else(|| no_certificate(String::new()))?
        .map_err(|e| no_certificate(format!(": {e}")))?;
    let parsed =
        rustls::server::ParsedCertificate::try_from(&leaf).map_err(|e| no_certificate(format!(": {e}")))?;
    let digest = sha2::Sha256::digest(parsed.subject_public_key_info().as_ref());
    Ok(format!("sha256/{}", base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest)))
}

/// Reads both files and makes the rustls configuration they serve.
pub fn server_config(files: &TlsFiles) -> Result<Arc<ServerConfig>, TlsError> {
    let cert_pem = read(&files.cert)?;
    let key_pem = read(&files.key)?;
    let no_certificate = |reason: String| TlsError::NoCertificate { path: files.cert.clone(), reason };
    let chain = CertificateDer::pem_slice_iter(&cert_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| no_certificate(format!(": {e}")))?;
    if chain.is_empty() {
        return Err(no_certificate(String::new()));
    }
    let key = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|e| {
        let reason = if matches!(e, pem::Error::NoItemsFound) { String::new() } else { format!(": {e}") };
        TlsError::NoKey { path: files.key.clone(), reason }
    })?;
    let refused = |e: rustls::Error| match e {
        rustls::Error::InconsistentKeys(rustls::InconsistentKeys::KeyMismatch) => {
            TlsError::KeyMismatch { cert: files.cert.clone(), key: files.key.clone() }
        }
        other => {
            TlsError::Refused { cert: files.cert.clone(), key: files.key.clone(), reason: other.to_string() }
        }
    };
    let mut config = ServerConfig::builder_with_provider(ring_provider())
        .with_safe_default_protocol_versions()
        .map_err(refused)?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(refused)?;
    // HTTP/2 for browsers that offer it; phones' clients ask for HTTP/1.1,
    // which the websocket upgrade needs.
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// rustls's ring provider. rustls 0.23.48 deprecated it because ring has no
/// post-quantum key exchange (X25519MLKEM768, only in aws-lc-rs); ring is
/// kept knowingly, for the build's sake (docs/decisions.md, docs/security.md).
#[allow(deprecated)]
fn ring_provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn read(path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|source| TlsError::Unreadable { path: path.to_owned(), source })
}

/// What is looked at to notice that a file was replaced: its modification
/// time and size, or nothing when it cannot be read (being replaced).
type Stamp = Option<(SystemTime, u64)>;

fn stamp(path: &Path) -> Stamp {
    let metadata = std::fs::metadata(path).ok()?;
    Some((metadata.modified().ok()?, metadata.len()))
}

/// The certificate being served, and the files it came from.
#[derive(Debug)]
pub struct ServedCertificate {
    files: TlsFiles,
    rustls: RustlsConfig,
    seen: [Stamp; 2],
}

/// What looking at the files again did.
#[derive(Debug)]
pub enum Reload {
    /// Neither file changed since the last look.
    Unchanged,
    /// The files changed and the new certificate is served.
    Reloaded,
    /// The files changed but cannot be served; the previous certificate
    /// still is.
    Failed(TlsError),
}

impl ServedCertificate {
    /// Loads the files (see [`server_config`]).
    pub fn load(files: TlsFiles) -> Result<ServedCertificate, TlsError> {
        // Stamped before reading, so a change while they are read is seen
        // at the next look.
        let seen = [stamp(&files.cert), stamp(&files.key)];
        let config = server_config(&files)?;
        Ok(ServedCertificate { files, rustls: RustlsConfig::from_config(config), seen })
    }

    /// The configuration the acceptor reads for each new connection.
    pub fn rustls(&self) -> RustlsConfig {
        self.rustls.clone()
    }

    /// Looks at the files once and loads them again if either changed.
    pub fn look(&mut self) -> Reload {
        let now = [stamp(&self.files.cert), stamp(&self.files.key)];
        if now == self.seen {
            return Reload::Unchanged;
        }
        self.seen = now;
        match server_config(&self.files) {
            Ok(config) => {
                self.rustls.reload_from_config(config);
                Reload::Reloaded
            }
            Err(e) => Reload::Failed(e),
        }
    }

    /// Looks at the files every `every` until dropped, logging each reload.
    /// Each look reads two small files' metadata, and the files themselves
    /// only when they changed: too little to leave the runtime's thread for.
    pub async fn reload_when_changed(mut self, every: Duration) {
        let mut ticks = tokio::time::interval(every);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        ticks.tick().await;
        loop {
            ticks.tick().await;
            match self.look() {
                Reload::Unchanged => {}
                Reload::Reloaded => {
                    tracing::info!(cert = %self.files.cert.display(), "TLS certificate reloaded");
                }
                Reload::Failed(e) => tracing::warn!(
                    error = %e,
                    "TLS certificate not reloaded: the previous one is still served, and the files are read \
                     again when they next change"
                ),
            }
        }
    }
}

/// Serves `app` over TLS on `listener` until `stopping` completes, then
/// finishes the requests in flight, as the plain HTTP server does. The
/// certificate is reloaded every `reload_every` while it serves.
pub fn serve(
    listener: tokio::net::TcpListener,
    certificate: ServedCertificate,
    reload_every: Duration,
    app: IntoMakeServiceWithConnectInfo<Router, SocketAddr>,
    stopping: impl Future<Output = ()> + Send + 'static,
) -> io::Result<tokio::task::JoinHandle<io::Result<()>>> {
    let handle = axum_server::Handle::new();
    let mut server =
        axum_server::from_tcp_rustls(listener.into_std()?, certificate.rustls())?.handle(handle.clone());
    // As axum's own server does: websockets over HTTP/2 too.
    server.http_builder().http2().enable_connect_protocol();
    Ok(tokio::spawn(async move {
        let reload = tokio::spawn(certificate.reload_when_changed(reload_every));
        let stop = tokio::spawn(async move {
            stopping.await;
            // No deadline: in-flight requests finish, as with `axum::serve`.
            handle.graceful_shutdown(None);
        });
        let served = server.serve(app).await;
        reload.abort();
        stop.abort();
        served
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files(dir: &Path) -> TlsFiles {
        TlsFiles { cert: dir.join("cert.pem"), key: dir.join("key.pem") }
    }

    /// A self-signed certificate for localhost and its key, as PEM.
    fn self_signed() -> (String, String) {
        let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
        (certified.cert.pem(), certified.signing_key.serialize_pem())
    }

    /// (what the certificate file holds, what the key file holds, words the error must contain)
    #[test]
    fn a_pair_that_cannot_be_served_is_refused_naming_the_file() {
        let (cert, key) = self_signed();
        let (_, other_key) = self_signed();
        let cases: [(Option<&str>, Option<&str>, &[&str]); 6] = [
            (None, Some(&key), &["cannot read", "cert.pem"]),
            (Some(&cert), None, &["cannot read", "key.pem"]),
            (Some("not a certificate"), Some(&key), &["cert.pem", "no PEM certificate"]),
            (Some(&cert), Some(&cert), &["key.pem", "no PEM private key"]),
            (Some(&cert[..cert.len() / 2]), Some(&key), &["cert.pem", "no PEM certificate:"]),
            (Some(&cert), Some(&other_key), &["key.pem", "is not the key of the certificate", "cert.pem"]),
        ];
        for (cert_text, key_text, words) in cases {
            let dir = tempfile::tempdir().unwrap();
            let files = files(dir.path());
            if let Some(text) = cert_text {
                std::fs::write(&files.cert, text).unwrap();
            }
            if let Some(text) = key_text {
                std::fs::write(&files.key, text).unwrap();
            }
            let error = server_config(&files).unwrap_err().to_string();
            assert!(words.iter().all(|word| error.contains(word)), "{words:?} in {error}");
        }
        let dir = tempfile::tempdir().unwrap();
        let files = files(dir.path());
        std::fs::write(&files.cert, &cert).unwrap();
        std::fs::write(&files.key, &key).unwrap();
        assert!(server_config(&files).is_ok(), "a certificate and its key are served");
    }

    #[test]
    fn a_changed_pair_is_reloaded_and_a_broken_one_keeps_the_served_certificate() {
        let dir = tempfile::tempdir().unwrap();
        let files = files(dir.path());
        let (cert, key) = self_signed();
        std::fs::write(&files.cert, &cert).unwrap();
        std::fs::write(&files.key, &key).unwrap();
        let mut served = ServedCertificate::load(files.clone()).unwrap();
        let first = served.rustls().get_inner();
        assert!(matches!(served.look(), Reload::Unchanged));

        // A half-written certificate: refused, the first one still served.
        std::fs::write(&files.cert, &cert[..cert.len() / 2]).unwrap();
        assert!(matches!(served.look(), Reload::Failed(TlsError::NoCertificate { .. })));
        assert!(Arc::ptr_eq(&served.rustls().get_inner(), &first));
        // Not read again until the files change.
        assert!(matches!(served.look(), Reload::Unchanged));

        let (cert, key) = self_signed();
        std::fs::write(&files.cert, &cert).unwrap();
        std::fs::write(&files.key, &key).unwrap();
        assert!(matches!(served.look(), Reload::Reloaded));
        assert!(!Arc::ptr_eq(&served.rustls().get_inner(), &first));
    }
}
