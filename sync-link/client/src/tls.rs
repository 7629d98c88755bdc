//! The phone's TLS: the one rustls client configuration every connection to
//! the server uses, the HTTP client's and the sync websocket's alike.
//!
//! rustls runs on the ring provider, named explicitly, so that no process
//! default is needed and nothing else in the build can swap it. A server is
//! trusted in one of three ways ([`Trust`]):
//!
//! - by the platform's roots, through `rustls-platform-verifier`: Android's
//!   and iOS's own trust stores (with the user's and the enterprise's
//!   certificates), the system's store elsewhere. The store is read at the
//!   first handshake, not when the configuration is built, so a phone that
//!   talks plain HTTP to a loopback server never needs one;
//! - by a pinned public key ([`SpkiPin`], `sha256/<base64>` of the server
//!   certificate's SubjectPublicKeyInfo), for a private deployment with a
//!   self-signed certificate: the chain, the name and the dates are not
//!   checked against any root, but the leaf's key must be the pinned one and
//!   the handshake signature is still verified with that key, so only the
//!   holder of the pinned private key can answer;
//! - by root certificates given explicitly ([`Trust::Roots`]), for tests and
//!   private certificate authorities. Nothing here reads trust from the
//!   environment.
//!
//! A refused certificate reaches the caller wrapped in an HTTP or websocket
//! error; [`certificate_problem`] finds it there, so that the agent is told
//! the server is not the one the phone was enrolled with rather than that it
//! cannot be reached.

use std::sync::{Arc, OnceLock};

use base64::Engine;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, ClientConfig, DigitallySignedStruct, OtherError, SignatureScheme};
use sha2::{Digest, Sha256};

/// How a pin is written: the hash's name, a slash, the base64 of the hash.
pub const PIN_PREFIX: &str = "sha256/";

/// Why a pin or a trust setting is unusable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TlsError {
    /// The pin is not `sha256/` and the base64 of 32 bytes.
    #[error("{0:?} is not a public-key pin (sha256/ and the base64 of 32 bytes)")]
    BadPin(String),
    /// A certificate could not be read.
    #[error("the certificate cannot be read: {0}")]
    BadCertificate(String),
    /// rustls refused the configuration.
    #[error("the TLS configuration cannot be built: {0}")]
    Config(String),
}

/// A public-key pin: the SHA-256 of a certificate's SubjectPublicKeyInfo
/// (the form HPKP and OkHttp use). A pin on the key survives the
/// certificate's renewal with the same key.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct SpkiPin([u8; 32]);

impl SpkiPin {
    /// Reads `sha256/<base64>`; the standard and the URL-safe alphabets,
    /// padded or not, are all accepted, since a pin travels in links.
    pub fn parse(text: &str) -> Result<SpkiPin, TlsError> {
        let bad = || TlsError::BadPin(text.to_owned());
        let encoded = text.trim().strip_prefix(PIN_PREFIX).ok_or_else(bad)?;
        let engines = [
            base64::engine::general_purpose::STANDARD,
            base64::engine::general_purpose::STANDARD_NO_PAD,
            base64::engine::general_purpose::URL_SAFE,
            base64::engine::general_purpose::URL_SAFE_NO_PAD,
        ];
        let bytes = engines.iter().find_map(|engine| engine.decode(encoded).ok()).ok_or_else(bad)?;
        Ok(SpkiPin(bytes.try_into().map_err(|_| bad())?))
    }

    /// The pin of a DER SubjectPublicKeyInfo.
    pub fn of_public_key_info(spki_der: &[u8]) -> SpkiPin {
        SpkiPin(Sha256::digest(spki_der).into())
    }

    /// The pin of a DER certificate's public key.
    pub fn of_certificate(certificate_der: &[u8]) -> Result<SpkiPin, TlsError> {
        let der = CertificateDer::from(certificate_der);
        let parsed = rustls::server::ParsedCertificate::try_from(&der)
            .map_err(|e| TlsError::BadCertificate(e.to_string()))?;
        Ok(SpkiPin::of_public_key_info(parsed.subject_public_key_info().as_ref()))
    }

    /// The pin in the URL-safe alphabet without padding, for links: no
    /// character of it needs escaping in a URL.
    pub fn to_link_form(&self) -> String {
        format!("{PIN_PREFIX}{}", base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(self.0))
    }
}

/// `sha256/<standard base64>`, as `openssl ... | base64` writes it.
impl std::fmt::Display for SpkiPin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{PIN_PREFIX}{}", base64::engine::general_purpose::STANDARD.encode(self.0))
    }
}

impl std::fmt::Debug for SpkiPin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SpkiPin({self})")
    }
}

/// Whom the phone trusts to be its server.
#[derive(Debug, Clone, Default)]
pub enum Trust {
    /// A certificate that chains to the platform's roots, for the server's name.
    #[default]
    Platform,
    /// Any certificate whose public key has this pin (a private deployment).
    Pinned(SpkiPin),
    /// A certificate that chains to one of these roots (DER), for the
    /// server's name: tests and private certificate authorities.
    Roots(Vec<Vec<u8>>),
}

/// The ring provider every connection uses (and a test's server may).
///
/// rustls 0.23.48 deprecated it for lacking post-quantum key exchange
/// (X25519MLKEM768), which only aws-lc-rs offers; its C build is the cost
/// docs/decisions.md weighs against that.
#[allow(deprecated)]
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The client configuration for `trust`: TLS 1.2 and 1.3 with ring's
/// algorithms, no client certificate.
pub fn client_config(trust: &Trust) -> Result<Arc<ClientConfig>, TlsError> {
    let provider = provider();
    let config = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Config(e.to_string()))?
        .dangerous()
        .with_custom_certificate_verifier(verifier(trust, provider)?)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// The verifier of the server's certificate for `trust`.
fn verifier(trust: &Trust, provider: Arc<CryptoProvider>) -> Result<Arc<dyn ServerCertVerifier>, TlsError> {
    Ok(match trust {
        Trust::Platform => Arc::new(PlatformRoots { provider: provider.clone(), inner: OnceLock::new() }),
        Trust::Pinned(pin) => Arc::new(PinnedKey { pin: *pin, provider: provider.clone() }),
        Trust::Roots(roots) => {
            let mut store = rustls::RootCertStore::empty();
            for root in roots {
                store
                    .add(CertificateDer::from(root.clone()))
                    .map_err(|e| TlsError::BadCertificate(e.to_string()))?;
            }
            rustls::client::WebPkiServerVerifier::builder_with_provider(Arc::new(store), provider.clone())
                .build()
                .map_err(|e| TlsError::Config(e.to_string()))?
        }
    })
}

/// The platform's verifier, made at the first handshake: reading the
/// system's trust store can fail (a machine with none), and a phone that
/// only talks to a loopback server over plain HTTP must still work.
#[derive(Debug)]
struct PlatformRoots {
    provider: Arc<CryptoProvider>,
    inner: OnceLock<Result<Arc<rustls_platform_verifier::Verifier>, rustls::Error>>,
}

impl PlatformRoots {
    fn verifier(&self) -> Result<&rustls_platform_verifier::Verifier, rustls::Error> {
        self.inner
            .get_or_init(|| rustls_platform_verifier::Verifier::new(self.provider.clone()).map(Arc::new))
            .as_deref()
            .map_err(Clone::clone)
    }
}

impl ServerCertVerifier for PlatformRoots {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        self.verifier()?.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.verifier()?.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.verifier()?.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider.signature_verification_algorithms.supported_schemes()
    }
}

/// The server's certificate carries a key other than the pinned one.
#[derive(Debug, thiserror::Error)]
#[error("the server's public key is {presented}, not the pinned {pinned}")]
pub struct PinMismatch {
    /// The pin of the key the server presented.
    pub presented: SpkiPin,
    /// The pin the phone holds.
    pub pinned: SpkiPin,
}

/// Trusts the pinned key and nothing else. The chain, the name and the
/// dates are not checked (a self-signed certificate for an address is what
/// a private deployment has); the handshake's signature is, with the
/// certificate's key, which is the pinned one.
#[derive(Debug)]
struct PinnedKey {
    pin: SpkiPin,
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for PinnedKey {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let presented = SpkiPin::of_certificate(end_entity.as_ref())
            .map_err(|_| rustls::Error::InvalidCertificate(CertificateError::BadEncoding))?;
        if presented == self.pin {
            Ok(ServerCertVerified::assertion())
        } else {
            let mismatch = PinMismatch { presented, pinned: self.pin };
            Err(rustls::Error::InvalidCertificate(CertificateError::Other(OtherError(Arc::new(mismatch)))))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider.signature_verification_algorithms.supported_schemes()
    }
}

/// What was wrong with the server's certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CertificateProblem {
    /// Its key is not the pinned one: another server, or someone in between.
    WrongPin {
        /// The pin of the key the server presented.
        presented: SpkiPin,
    },
    /// It does not chain to a trusted root, is expired, or names another
    /// host: rustls's words.
    Untrusted(String),
}

/// The certificate problem somewhere in `error`'s chain of causes, if the
/// connection failed because the server's certificate was refused.
///
/// `std::io::Error::source` skips the error it wraps, and TLS errors reach
/// HTTP and websocket clients inside one, so each `io::Error` is opened too.
pub fn certificate_problem(error: &(dyn std::error::Error + 'static)) -> Option<CertificateProblem> {
    let mut next = Some(error);
    while let Some(error) = next {
        if let Some(tls) = error.downcast_ref::<rustls::Error>() {
            return match tls {
                rustls::Error::InvalidCertificate(CertificateError::Other(OtherError(other))) => {
                    match other.downcast_ref::<PinMismatch>() {
                        Some(mismatch) => {
                            Some(CertificateProblem::WrongPin { presented: mismatch.presented })
                        }
                        None => Some(CertificateProblem::Untrusted(tls.to_string())),
                    }
                }
                rustls::Error::InvalidCertificate(_) => Some(CertificateProblem::Untrusted(tls.to_string())),
                _ => None,
            };
        }
        let wrapped = error.downcast_ref::<std::io::Error>().and_then(|io| io.get_ref());
        if let Some(found) = wrapped.and_then(|inner| certificate_problem(inner)) {
            return Some(found);
        }
        next = error.source();
    }
    None
}

#[cfg(test)]
mod tests {
    use rstest::rstest;

    use super::*;

    /// A self-signed certificate for 127.0.0.1 and localhost: (DER, the pin of its key).
    fn self_signed() -> (Vec<u8>, SpkiPin, rcgen::KeyPair) {
        let key = rcgen::KeyPair::generate().unwrap();
        let params = rcgen::CertificateParams::new(vec!["localhost".into(), "127.0.0.1".into()]).unwrap();
        let cert = params.self_signed(&key).unwrap();
        let pin = SpkiPin::of_public_key_info(&rcgen::PublicKeyData::subject_public_key_info(&key));
        (cert.der().to_vec(), pin, key)
    }

    fn verify(trust: &Trust, certificate: &[u8]) -> Result<ServerCertVerified, rustls::Error> {
        let verifier = verifier(trust, provider()).unwrap();
        let name = ServerName::try_from("localhost").unwrap();
        verifier.verify_server_cert(&CertificateDer::from(certificate), &[], &name, &[], UnixTime::now())
    }

    #[test]
    fn the_pin_of_a_certificate_is_the_hash_of_its_public_key_info() {
        let (der, pin, _) = self_signed();
        assert_eq!(SpkiPin::of_certificate(&der).unwrap(), pin);
        // Both written forms read back to the same pin.
        assert_eq!(SpkiPin::parse(&pin.to_string()).unwrap(), pin);
        assert_eq!(SpkiPin::parse(&pin.to_link_form()).unwrap(), pin);
        assert_eq!(pin.to_string().len(), PIN_PREFIX.len() + 44);
        assert!(!pin.to_link_form()[PIN_PREFIX.len()..].contains(['+', '/', '=']));
    }

    #[rstest]
    #[case::no_prefix("47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=")]
    #[case::another_hash("sha1/47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=")]
    #[case::not_base64("sha256/not base64!")]
    #[case::too_short("sha256/AAAA")]
    #[case::too_long("sha256/47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFUAAA==")]
    #[case::empty("")]
    fn a_malformed_pin_is_refused_with_its_text(#[case] text: &str) {
        assert_eq!(SpkiPin::parse(text), Err(TlsError::BadPin(text.to_owned())));
    }

    #[test]
    fn a_matching_pin_is_trusted_without_any_root() {
        let (der, pin, _) = self_signed();
        assert!(verify(&Trust::Pinned(pin), &der).is_ok());
    }

    #[test]
    fn another_key_is_refused_as_a_pin_mismatch() {
        let (der, _, _) = self_signed();
        let (_, other_pin, _) = self_signed();
        let refused = verify(&Trust::Pinned(other_pin), &der).unwrap_err();
        let presented = SpkiPin::of_certificate(&der).unwrap();
        assert_eq!(certificate_problem(&refused), Some(CertificateProblem::WrongPin { presented }));
        // Wrapped as a TLS stream wraps it, it is still found.
        let wrapped = std::io::Error::new(std::io::ErrorKind::InvalidData, refused);
        assert_eq!(certificate_problem(&wrapped), Some(CertificateProblem::WrongPin { presented }));
    }

    #[test]
    fn without_a_pin_a_self_signed_certificate_is_refused_by_the_roots() {
        let (der, _, _) = self_signed();
        let refused = verify(&Trust::Platform, &der).unwrap_err();
        // A machine without any trust store refuses too, in its own words.
        assert!(
            matches!(certificate_problem(&refused), Some(CertificateProblem::Untrusted(_)))
                || matches!(refused, rustls::Error::General(_)),
            "{refused:?}"
        );
        let (other_root, _, _) = self_signed();
        let refused = verify(&Trust::Roots(vec![other_root]), &der).unwrap_err();
        assert!(matches!(certificate_problem(&refused), Some(CertificateProblem::Untrusted(_))), "{refused}");
    }

    #[test]
    fn a_certificate_under_a_given_root_is_trusted() {
        let (der, _, _) = self_signed();
        assert!(verify(&Trust::Roots(vec![der.clone()]), &der).is_ok());
    }

    #[test]
    fn errors_that_are_not_about_certificates_are_not_mistaken_for_them() {
        let cut = std::io::Error::new(std::io::ErrorKind::ConnectionReset, "reset");
        assert_eq!(certificate_problem(&cut), None);
        let other = std::io::Error::other(rustls::Error::HandshakeNotComplete);
        assert_eq!(certificate_problem(&other), None);
    }
}
