//! HTTPS served by the server itself: a real server on 127.0.0.1 with
//! certificates this test makes, clients that trust only the test's
//! authority, certificate files replaced while it serves, and the session
//! cookie's `Secure` over TLS, behind a trusted proxy, and nowhere else.

use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use posfield_sync_server::auth::{self, UserRole};
use posfield_sync_server::config::Config;
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair, KeyUsagePurpose};

const PASSWORD: &str = "correct horse battery";

/// A test authority and the PEM of a server certificate it issued for
/// 127.0.0.1 with its key.
struct Authority {
    issuer: CertifiedIssuer<'static, KeyPair>,
}

impl Authority {
    fn new(name: &str) -> Authority {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign];
        Authority { issuer: CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap() }
    }

    /// Writes a new server certificate and its key over `cert` and `key`
    /// (each written beside and renamed into place).
    fn issue_to(&self, cert: &Path, key: &Path) {
        let pair = KeyPair::generate().unwrap();
        let issued =
            CertificateParams::new(vec!["127.0.0.1".to_owned()]).unwrap().signed_by(&pair, &*self.issuer);
        replace(cert, &issued.unwrap().pem());
        replace(key, &pair.serialize_pem());
    }

    /// A client that trusts this authority alone, on a new connection each time.
    fn client(&self) -> reqwest::Client {
        reqwest::Client::builder()
            .tls_built_in_root_certs(false)
            .add_root_certificate(reqwest::Certificate::from_pem(self.issuer.pem().as_bytes()).unwrap())
            .redirect(reqwest::redirect::Policy::none())
            .pool_max_idle_per_host(0)
            .build()
            .unwrap()
    }
}

fn replace(path: &Path, text: &str) {
    let beside = path.with_extension("new");
    std::fs::write(&beside, text).unwrap();
    std::fs::rename(&beside, path).unwrap();
}

/// A server on 127.0.0.1, over TLS with `tls` certificate and key files.
async fn serve(
    dir: &Path,
    tls: Option<(&Path, &Path)>,
    trusted_proxies: &str,
) -> posfield_sync_server::Running {
    let config = Config {
        data: dir.join("data"),
        listen: "127.0.0.1:0".parse().unwrap(),
        tls_cert: tls.map(|(cert, _)| cert.to_owned()),
        tls_key: tls.map(|(_, key)| key.to_owned()),
        tls_reload_secs: 1,
        trusted_proxies: trusted_proxies.split(',').filter_map(|a| a.parse().ok()).collect(),
        ..Config::default()
    };
    let running = posfield_sync_server::start(config, false).await.unwrap();
    auth::add_user(running.state.store.as_ref(), "zhou", UserRole::Admin, PASSWORD).await.unwrap();
    running
}

async fn healthy(client: &reqwest::Client, addr: SocketAddr) -> bool {
    client.get(format!("https://{addr}/healthz")).send().await.is_ok_and(|r| r.status().is_success())
}

/// Waits up to 10 s for `client` to be answered `/healthz` (or refused, `expected` false).
async fn eventually_healthy(client: &reqwest::Client, addr: SocketAddr, expected: bool) -> bool {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if healthy(client, addr).await == expected {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_is_served_to_clients_that_trust_the_certificate_and_plain_http_is_not() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    let authority = Authority::new("first authority");
    authority.issue_to(&cert, &key);
    let running = serve(dir.path(), Some((&cert, &key)), "").await;
    let addr = running.addr;

    assert!(healthy(&authority.client(), addr).await, "a client trusting the authority is answered");
    assert!(
        !healthy(&Authority::new("stranger").client(), addr).await,
        "a client trusting another is refused"
    );
    let plain = reqwest::Client::new().get(format!("http://{addr}/healthz")).send().await;
    assert!(plain.is_err(), "plain HTTP on the TLS port: {plain:?}");

    running.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replaced_certificate_files_are_served_to_new_connections_and_broken_ones_are_not() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    let (first, second) = (Authority::new("first authority"), Authority::new("second authority"));
    first.issue_to(&cert, &key);
    let running = serve(dir.path(), Some((&cert, &key)), "").await;
    let addr = running.addr;
    // A connection opened before the renewal, kept alive across it.
    let kept = reqwest::Client::builder()
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(first.issuer.pem().as_bytes()).unwrap())
        .build()
        .unwrap();
    assert!(healthy(&kept, addr).await);
    assert!(!healthy(&second.client(), addr).await);

    second.issue_to(&cert, &key);
    assert!(eventually_healthy(&second.client(), addr, true).await, "the renewed certificate is served");
    assert!(!healthy(&first.client(), addr).await, "new connections no longer get the first certificate");
    assert!(healthy(&kept, addr).await, "the connection opened before the renewal goes on");

    // A half-written certificate, then a key that is not the certificate's:
    // each is refused and the renewed certificate is still served.
    let whole = std::fs::read_to_string(&cert).unwrap();
    replace(&cert, &whole[..whole.len() / 2]);
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert!(healthy(&second.client(), addr).await, "a half-written certificate is not served");
    replace(&cert, &whole);
    replace(&key, &KeyPair::generate().unwrap().serialize_pem());
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert!(healthy(&second.client(), addr).await, "a key that is not the certificate's is not served");

    running.stop().await.unwrap();
}

#[tokio::test]
async fn a_certificate_that_cannot_be_served_stops_the_start_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    Authority::new("first authority").issue_to(&cert, &key);
    let other_key = dir.path().join("other-key.pem");
    replace(&other_key, &KeyPair::generate().unwrap().serialize_pem());
    let missing = dir.path().join("missing.pem");
    // (certificate, key, words the error must contain)
    let cases = [
        (Some(&missing), Some(&key), vec!["missing.pem", "cannot read"]),
        (Some(&cert), Some(&other_key), vec!["other-key.pem", "cert.pem", "not the key"]),
        (Some(&cert), None, vec!["cert.pem", "private key"]),
        (None, Some(&key), vec!["key.pem", "certificate"]),
    ];
    for (cert, key, words) in cases {
        let config = Config {
            data: dir.path().join("data"),
            listen: "127.0.0.1:0".parse().unwrap(),
            tls_cert: cert.cloned(),
            tls_key: key.cloned(),
            ..Config::default()
        };
        let error = format!("{:#}", posfield_sync_server::start(config, false).await.unwrap_err());
        assert!(words.iter().all(|word| error.contains(word)), "{words:?} in {error}");
    }
}

/// A request header: name and value.
type Header = (&'static str, &'static str);

/// Whether the session cookie a sign-in sets is `Secure`.
async fn session_cookie_is_secure(client: &reqwest::Client, url: String, headers: &[Header]) -> bool {
    let mut request = client.post(url).form(&[("user", "zhou"), ("password", PASSWORD)]);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.send().await.unwrap();
    assert_eq!(response.status().as_u16(), 303, "signed in");
    let cookie = response.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(cookie.starts_with("posfield_office="), "{cookie}");
    cookie.split(';').any(|attribute| attribute.trim() == "Secure")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_session_cookie_is_secure_over_tls_and_behind_a_trusted_proxy_only() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    let authority = Authority::new("first authority");
    authority.issue_to(&cert, &key);
    let over_tls = serve(&dir.path().join("tls"), Some((&cert, &key)), "").await;
    let url = format!("https://{}/office/login", over_tls.addr);
    assert!(session_cookie_is_secure(&authority.client(), url, &[]).await, "over TLS");
    over_tls.stop().await.unwrap();

    let plain_client =
        reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let https = [("x-forwarded-proto", "https")];
    let rfc_7239 = [("forwarded", "for=203.0.113.7;proto=https")];
    // (trusted proxies, headers the request carries, Secure)
    let cases: [(&str, &[Header], bool); 5] = [
        ("127.0.0.1", &https, true),
        ("127.0.0.1", &rfc_7239, true),
        ("127.0.0.1", &[], false),
        ("", &https, false),
        ("10.0.0.2", &rfc_7239, false),
    ];
    for (n, (trusted, headers, secure)) in cases.into_iter().enumerate() {
        let plain = serve(&dir.path().join(format!("plain-{n}")), None, trusted).await;
        let url = format!("http://{}/office/login", plain.addr);
        assert_eq!(
            session_cookie_is_secure(&plain_client, url, headers).await,
            secure,
            "{trusted:?} {headers:?}"
        );
        plain.stop().await.unwrap();
    }
}
