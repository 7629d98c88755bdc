//! TLS to PostgreSQL: rustls on ring through `tokio-postgres-rustls`, for
//! the pool's connections and refinery's migration run alike.
//!
//! The URL's `sslmode` is read as libpq reads it, with the modes the
//! engine takes: `disable` (in clear), `prefer` (the default: TLS when
//! the server offers it), `require` (TLS or no connection; the server's
//! certificate is not checked, as libpq does without a root file) and
//! `verify-full` (TLS with a certificate that chains to the root file of
//! `sslrootcert=` or the configuration's `database_ca`, else to the
//! platform's roots, and names the host connected to). tokio-postgres
//! knows neither `verify-full` nor `sslrootcert`: they are taken out of
//! the URL before it parses it.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use posfield_sync_link_client::tls::{Trust, client_config, provider};
use rustls::DigitallySignedStruct;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, verify_tls12_signature, verify_tls13_signature};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use tokio_postgres::config::SslMode;
use tokio_postgres_rustls::MakeRustlsConnect;

use super::StoreError;

/// How the engine speaks TLS to the database.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsMode {
    /// In clear.
    Disable,
    /// TLS when the server offers it, the certificate unchecked.
    Prefer,
    /// TLS always, the certificate unchecked.
    Require,
    /// TLS always, the certificate checked: its chain and the host's name.
    VerifyFull,
}

impl TlsMode {
    /// The `sslmode` that asks for it.
    pub fn code(self) -> &'static str {
        match self {
            TlsMode::Disable => "disable",
            TlsMode::Prefer => "prefer",
            TlsMode::Require => "require",
            TlsMode::VerifyFull => "verify-full",
        }
    }
}

/// A database URL with its TLS settings taken out: the URL tokio-postgres
/// parses, and the connector that speaks the TLS it asks for.
pub(super) struct Connection {
    /// The URL's configuration, with the `sslmode` tokio-postgres knows.
    pub(super) config: tokio_postgres::Config,
    /// The connector.
    pub(super) tls: MakeRustlsConnect,
    /// The mode asked for.
    pub(super) mode: TlsMode,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection").field("mode", &self.mode).finish()
    }
}

/// Reads `url`'s TLS settings (see the module's comment); `ca` is the
/// root file of the configuration's `database_ca`, which a URL's
/// `sslrootcert` overrides. `shown` is the URL without its password, for errors.
pub(super) fn connection(url: &str, ca: Option<&Path>, shown: &str) -> Result<Connection, StoreError> {
    let invalid = |why: String| StoreError::Engine(format!("invalid database url {shown:?}: {why}"));
    let (base, query) = url.split_once('?').unwrap_or((url, ""));
    let mut mode = TlsMode::Prefer;
    let mut root: Option<PathBuf> = ca.map(Path::to_owned);
    let mut kept = url::form_urlencoded::Serializer::new(String::new());
    for (key, value) in url::form_urlencoded::parse(query.as_bytes()) {
        match &*key {
            "sslmode" => {
                mode = match &*value {
                    "disable" => TlsMode::Disable,
                    "prefer" => TlsMode::Prefer,
                    "require" => TlsMode::Require,
                    "verify-full" => TlsMode::VerifyFull,
                    other => {
                        return Err(invalid(format!(
                            "sslmode {other:?} is not one of disable, prefer, require, verify-full"
                        )));
                    }
                }
            }
            "sslrootcert" => root = Some(PathBuf::from(&*value)),
            _ => {
                kept.append_pair(&key, &value);
            }
        }
    }
    let ssl_mode = match mode {
        TlsMode::Disable => SslMode::Disable,
        TlsMode::Prefer => SslMode::Prefer,
        TlsMode::Require | TlsMode::VerifyFull => SslMode::Require,
    };
    if root.is_some() && mode != TlsMode::VerifyFull && query.contains("sslrootcert") {
        return Err(invalid(format!(
            "sslrootcert is read with sslmode=verify-full only; with sslmode={} the server's certificate would not be checked against it",
            mode.code()
        )));
    }
    let kept = kept.finish();
    let rebuilt = if kept.is_empty() { base.to_owned() } else { format!("{base}?{kept}") };
    let mut config: tokio_postgres::Config = rebuilt.parse().map_err(|e| invalid(format!("{e}")))?;
    config.ssl_mode(ssl_mode);
    let client = match (mode, &root) {
        (TlsMode::VerifyFull, Some(root)) => client_config(&Trust::Roots(roots(root)?)),
        (TlsMode::VerifyFull, None) => client_config(&Trust::Platform),
        (TlsMode::Disable | TlsMode::Prefer | TlsMode::Require, _) => unverified(),
    }
    .map_err(|e| StoreError::Engine(format!("no TLS client for the database: {e}")))?;
    Ok(Connection { config, tls: MakeRustlsConnect::new((*client).clone()), mode })
}

/// The certificates of the PEM file `path`, as DER.
fn roots(path: &Path) -> Result<Vec<Vec<u8>>, StoreError> {
    let cannot = |why: String| {
        StoreError::Engine(format!("the database's root certificate {}: {why}", path.display()))
    };
    let pem = std::fs::read(path).map_err(|e| cannot(e.to_string()))?;
    let roots = CertificateDer::pem_slice_iter(&pem)
        .map(|c| c.map(|c| c.to_vec()))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| cannot(e.to_string()))?;
    if roots.is_empty() {
        return Err(cannot("holds no certificate".into()));
    }
    Ok(roots)
}

/// A client that encrypts without checking whom it speaks to: `prefer`
/// and `require`, as libpq has them without a root file.
fn unverified() -> Result<Arc<rustls::ClientConfig>, posfield_sync_link_client::tls::TlsError> {
    let provider = provider();
    let config = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| posfield_sync_link_client::tls::TlsError::Config(e.to_string()))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(Unverified(provider)))
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// Takes any certificate, and checks only that the server holds its key.
#[derive(Debug)]
struct Unverified(Arc<CryptoProvider>);

impl ServerCertVerifier for Unverified {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHOWN: &str = "postgres://posfield@db.internal/posfield";

    #[test]
    fn the_mode_and_root_are_read_out_of_the_url_and_the_rest_is_kept() {
        let url = "postgres://posfield:secret@db.internal:5433/posfield?sslmode=verify-full&sslrootcert=%2Fetc%2Fca.pem&application_name=posfield";
        let error = connection(url, None, SHOWN).unwrap_err().to_string();
        assert!(error.contains("/etc/ca.pem"), "{error}");
        let plain =
            connection("postgres://posfield@db.internal/posfield?application_name=posfield", None, SHOWN)
                .expect("no TLS setting: prefer");
        assert_eq!(plain.mode, TlsMode::Prefer);
        assert_eq!(plain.config.get_ssl_mode(), SslMode::Prefer);
        assert_eq!(plain.config.get_application_name(), Some("posfield"));
        let required =
            connection("postgres://posfield@db.internal/posfield?sslmode=require", None, SHOWN).unwrap();
        assert_eq!((required.mode, required.config.get_ssl_mode()), (TlsMode::Require, SslMode::Require));
        let clear =
            connection("postgres://posfield@db.internal/posfield?sslmode=disable", None, SHOWN).unwrap();
        assert_eq!(clear.config.get_ssl_mode(), SslMode::Disable);
    }

    #[test]
    fn verify_full_asks_tokio_postgres_for_tls_and_the_configured_root_is_read() {
        let dir = tempfile::tempdir().unwrap();
        let ca = dir.path().join("ca.pem");
        let authority = rcgen::generate_simple_self_signed(vec!["db.internal".to_owned()]).unwrap();
        std::fs::write(&ca, authority.cert.pem()).unwrap();
        let url = "postgres://posfield@db.internal/posfield?sslmode=verify-full";
        let verified = connection(url, Some(&ca), SHOWN).unwrap();
        assert_eq!((verified.mode, verified.config.get_ssl_mode()), (TlsMode::VerifyFull, SslMode::Require));
        std::fs::write(&ca, "not a certificate").unwrap();
        let error = connection(url, Some(&ca), SHOWN).unwrap_err().to_string();
        assert!(error.contains("holds no certificate"), "{error}");
    }

    #[test]
    fn a_mode_the_engine_does_not_take_is_named_without_the_password() {
        for mode in ["verify-ca", "allow", "VERIFY-FULL"] {
            let url = format!("postgres://posfield:secret@db.internal/posfield?sslmode={mode}");
            let error = connection(&url, None, SHOWN).unwrap_err().to_string();
            assert!(error.contains(&format!("sslmode {mode:?}")) && !error.contains("secret"), "{error}");
        }
        let url = "postgres://posfield:secret@db.internal/posfield?sslmode=require&sslrootcert=ca.pem";
        let error = connection(url, None, SHOWN).unwrap_err().to_string();
        assert!(error.contains("verify-full only") && !error.contains("secret"), "{error}");
    }
}
