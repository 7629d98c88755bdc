//! The phone's HTTPS and WSS against a real TLS server on 127.0.0.1 with a
//! certificate made here: the right pin or root gets through, a wrong pin
//! is refused in the agent's words, before anything is sent.

use std::sync::Arc;
use std::time::Duration;

use posfield_sync_link_client::LinkError;
use posfield_sync_link_client::session::{Endpoint, Session};
use posfield_sync_link_client::tls::{CertificateProblem, SpkiPin, Trust, provider};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::{SyncError, tls_config};
use crate::agent::{Agent, AgentError};

/// A TLS server that answers every request (HTTP or a websocket upgrade)
/// with 403 and the server's JSON error: getting that answer proves the
/// handshake succeeded. Runs on its own runtime, as the agent's blocking
/// calls make theirs.
struct TlsServer {
    runtime: tokio::runtime::Runtime,
    port: u16,
    pin: SpkiPin,
    certificate: Vec<u8>,
}

impl TlsServer {
    fn start() -> TlsServer {
        let key = rcgen::KeyPair::generate().unwrap();
        let params = rcgen::CertificateParams::new(vec!["127.0.0.1".into(), "localhost".into()]).unwrap();
        let certificate = params.self_signed(&key).unwrap().der().to_vec();
        let pin = SpkiPin::of_certificate(&certificate).unwrap();
        let config = rustls::ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(
                vec![certificate.clone().into()],
                rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into()),
            )
            .unwrap();
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let runtime =
            tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
        let listener = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).unwrap();
        let port = listener.local_addr().unwrap().port();
        runtime.spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    // A refused handshake ends here: the client saw the certificate and left.
                    let Ok(mut tls) = acceptor.accept(tcp).await else { return };
                    let mut head = Vec::new();
                    let mut byte = [0u8; 1];
                    while !head.ends_with(b"\r\n\r\n") && tls.read(&mut byte).await.is_ok_and(|n| n == 1) {
                        head.push(byte[0]);
                    }
                    let body = r#"{"error":"forbidden","message":"reached over tls"}"#;
                    let answer = format!(
                        "HTTP/1.1 403 Forbidden\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = tls.write_all(answer.as_bytes()).await;
                    let _ = tls.shutdown().await;
                });
            }
        });
        TlsServer { runtime, port, pin, certificate }
    }

    fn https(&self) -> String {
        format!("https://127.0.0.1:{}/", self.port)
    }

    /// The phone's websocket dialer, trusting as `trust` says.
    fn dial(&self, trust: &Trust) -> Result<Session, LinkError> {
        let endpoint = Endpoint {
            url: format!("wss://127.0.0.1:{}/api/v1/sync/ws", self.port).parse().unwrap(),
            token: "token".into(),
            peer: "peer".into(),
            headers: Vec::new(),
            connect_timeout: Duration::from_secs(10),
        };
        let tls = tls_config(trust).unwrap();
        self.runtime.block_on(Session::open_with(&endpoint, tls, Vec::new()))
    }
}

fn other_pin() -> SpkiPin {
    let key = rcgen::KeyPair::generate().unwrap();
    SpkiPin::of_public_key_info(&rcgen::PublicKeyData::subject_public_key_info(&key))
}

fn agent() -> (tempfile::TempDir, Agent) {
    let dir = tempfile::tempdir().unwrap();
    let agent = Agent::open(dir.path(), std::sync::Arc::new(crate::KeyFile::at(dir.path().join("test.key"))))
        .unwrap();
    (dir, agent)
}

fn sync_error(result: Result<impl std::fmt::Debug, AgentError>) -> SyncError {
    match result {
        Err(AgentError::Sync(error)) => error,
        other => panic!("expected a sync error, got {other:?}"),
    }
}

#[test]
fn an_enrolment_link_with_the_servers_pin_reaches_it() {
    let server = TlsServer::start();
    let (_dir, mut agent) = agent();
    let link =
        format!("posfield://127.0.0.1:{}/K7MQ-3XPD-9QWE?pin={}", server.port, server.pin.to_link_form());
    // The server's 403 came back over TLS: the handshake was made.
    let error = sync_error(agent.enroll_link(&link, "phone"));
    assert!(
        matches!(&error, SyncError::Refused { status: 403, message, .. } if message == "reached over tls"),
        "{error}"
    );
}

#[test]
fn a_wrong_pin_is_refused_in_the_agents_words_before_anything_is_sent() {
    let server = TlsServer::start();
    let (_dir, mut agent) = agent();
    let link = format!("posfield://127.0.0.1:{}/K7MQ-3XPD-9QWE?pin={}", server.port, other_pin());
    let error = sync_error(agent.enroll_link(&link, "phone"));
    assert_eq!(error, SyncError::WrongCertificate { presented: server.pin.to_string() });
    assert_eq!(error.code(), "wrong_certificate");
    assert!(error.to_string().contains("not the one this phone was enrolled with"), "{error}");
    assert!(error.to_string().contains("impersonating the server"), "{error}");
}

#[test]
fn without_a_pin_a_self_signed_server_is_not_trusted_unless_its_root_is_given() {
    let server = TlsServer::start();
    let (_dir, mut agent) = agent();
    let error = sync_error(agent.enroll(&server.https(), "K7MQ-3XPD-9QWE", "phone"));
    // A machine with no trust store at all cannot set up the roots either.
    assert!(matches!(&error, SyncError::UntrustedCertificate(_) | SyncError::Offline(_)), "{error}");
    assert!(!matches!(error, SyncError::WrongCertificate { .. }));
    agent.trust_only_roots(vec![server.certificate.clone()]);
    let error = sync_error(agent.enroll(&server.https(), "K7MQ-3XPD-9QWE", "phone"));
    assert!(matches!(error, SyncError::Refused { status: 403, .. }), "{error}");
}

#[test]
fn the_websocket_dialer_connects_with_the_right_pin_and_names_a_wrong_one() {
    let server = TlsServer::start();
    // The upgrade's 403 came back over TLS.
    let reached = server.dial(&Trust::Pinned(server.pin)).unwrap_err();
    assert!(matches!(reached, LinkError::Refused(403)), "{reached}");
    let refused = server.dial(&Trust::Pinned(other_pin())).unwrap_err();
    assert!(
        matches!(&refused, LinkError::Certificate(CertificateProblem::WrongPin { presented }) if *presented == server.pin),
        "{refused}"
    );
    assert!(matches!(super::execute::link_error(refused), SyncError::WrongCertificate { .. }));
    let rooted = server.dial(&Trust::Roots(vec![server.certificate.clone()])).unwrap_err();
    assert!(matches!(rooted, LinkError::Refused(403)), "{rooted}");
}

#[test]
fn a_pinned_enrolment_keeps_its_pin_for_every_later_connection() {
    let server = TlsServer::start();
    let (_dir, mut agent) = agent();
    // As if enrolled with the server's pin: the later sync uses the stored one.
    agent
        .store_mut()
        .set_settings(&[
            (super::SETTING_SERVER, &server.https()),
            (super::SETTING_TOKEN, "token"),
            (super::SETTING_PEER, "peer"),
            (super::SETTING_PIN, &other_pin().to_string()),
        ])
        .unwrap();
    let error = sync_error(agent.sync(&mut |_| {}));
    assert!(matches!(error, SyncError::WrongCertificate { .. }), "{error}");
    assert_eq!(agent.sync_status().unwrap().last_error.unwrap().code, "wrong_certificate");
    agent.store_mut().set_setting(super::SETTING_PIN, &server.pin.to_string()).unwrap();
    let error = sync_error(agent.sync(&mut |_| {}));
    assert!(matches!(error, SyncError::Refused { status: 403, .. }), "{error}");
}
