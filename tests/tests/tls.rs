//! The `posfield-server` process over TLS: started with `--tls-cert` and
//! `--tls-key` and certificates the test makes, it serves HTTPS to a client
//! trusting the test's authority, the back office's API included, and its
//! certificate files renewed while it runs.

use std::time::{Duration, Instant};

use posfield_core::sync::link::EnrolmentLink;
use posfield_e2e::ServerProcess;
use posfield_e2e::story::{merchant, open, repair_visit};
use posfield_e2e::tls::{TestCa, TestTls};
use posfield_shared::{VisitKind, VisitStatus};
use posfield_sync_link_client::tls::SpkiPin;

fn healthy(client: &reqwest::blocking::Client, server: &ServerProcess) -> bool {
    client.get(server.url("healthz")).send().is_ok_and(|r| r.status().is_success())
}

/// A client that trusts `ca` alone and opens a new connection for each request.
fn trusting(ca: &TestCa) -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(ca.pem().as_bytes()).unwrap())
        .pool_max_idle_per_host(0)
        .build()
        .unwrap()
}

#[test]
fn the_server_process_serves_https_with_its_flags_and_takes_a_renewal_without_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let tls = TestTls::write(dir.path());
    let server = ServerProcess::start_tls_configured(&dir.path().join("data"), &tls, "tls_reload_secs = 1\n");
    assert!(server.base.starts_with("https://127.0.0.1:"), "{}", server.base);

    server.add_user("zhou", "admin");
    let (status, _) = server.office_get("zhou", "api/v1/office/audit");
    assert_eq!(status, 200, "the back office's API over HTTPS");
    let plain = reqwest::blocking::get(format!("http://{}/healthz", server.addr()));
    assert!(plain.is_err(), "plain HTTP on the TLS port: {plain:?}");

    // A renewal by another authority: new connections get it, the process goes on.
    let renewed = TestCa::new("renewing authority");
    renewed.issue_server().write_to(&tls.cert, &tls.key);
    let deadline = Instant::now() + Duration::from_secs(10);
    while !healthy(&trusting(&renewed), &server) {
        assert!(Instant::now() < deadline, "the renewed certificate was not served within 10 s");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(!healthy(&trusting(&tls.ca), &server), "the first certificate is no longer served");
}

/// The link of a phone's enrolment with `server` over HTTPS, pinning `pin`.
fn link(server: &ServerProcess, code: &str, pin: SpkiPin) -> String {
    let https = url::Url::parse(&server.base).unwrap();
    let server = url::Url::parse(&format!("https://127.0.0.1:{}/", https.port().unwrap())).unwrap();
    EnrolmentLink { server, code: code.to_owned(), pin: Some(pin) }.to_link()
}

/// The whole field journey over HTTPS, trusting only the key the enrolment
/// link pins: the phone enrols from the link, syncs a signed repair visit
/// with its photos (the websocket too, for the back office's return), and
/// the back office sees it complete, reviews it and the phone gets the
/// decision.
#[test]
fn an_agent_enrols_from_a_pinned_link_and_syncs_visits_and_photos_over_https() {
    let dir = tempfile::tempdir().unwrap();
    let tls = TestTls::write(dir.path());
    let server = ServerProcess::start_tls(&dir.path().join("data"), &tls);
    server.add_user("chen", "reviewer");
    let pin = SpkiPin::of_certificate(&tls.server.cert_der).unwrap();

    let mut wang = open(&dir.path().join("wang"));
    wang.enroll_link(&link(&server, &server.enrolment_code("wang"), pin), "华为 Mate 60").unwrap();
    let id = repair_visit(&mut wang);
    let report = wang.sync(&mut |_| {}).unwrap();
    assert!(report.blobs_uploaded >= 2, "the photo and the signature went up: {report:?}");

    let (status, shown) = server.office_get("chen", &format!("api/v1/office/visits/{id}"));
    assert_eq!(status, 200, "{shown}");
    assert_eq!(shown["blobs_missing"], 0, "{shown}");
    assert_eq!(shown["device_signature_valid"], true, "{shown}");
    let (status, body) = server.office_post(
        "chen",
        &format!("api/v1/office/visits/{id}/review"),
        &serde_json::json!({ "decision": "return", "note": "补拍照片" }),
    );
    assert_eq!(status, 200, "{body}");
    wang.sync(&mut |_| {}).unwrap();
    assert_eq!(wang.visit(&id).unwrap().status, VisitStatus::Returned, "the return came over WSS");
}

/// A phone whose pin names another key than the server's is refused before
/// anything is sent, and told so in words: the enrolment, and a phone
/// enrolled with the right pin once the server's key is not the one pinned.
#[test]
fn a_wrong_pinned_certificate_is_refused_in_words_the_agent_understands() {
    let dir = tempfile::tempdir().unwrap();
    let tls = TestTls::write(dir.path());
    let server = ServerProcess::start_tls_configured(&dir.path().join("data"), &tls, "tls_reload_secs = 1\n");
    let other = SpkiPin::of_certificate(&TestCa::new("someone else").issue_server().cert_der).unwrap();

    let mut wang = open(&dir.path().join("wang"));
    let code = server.enrolment_code("wang");
    let error = wang.enroll_link(&link(&server, &code, other), "华为 Mate 60").unwrap_err();
    assert_eq!(error.code(), "wrong_certificate", "{error}");
    assert!(error.to_string().contains("not the one this phone was enrolled with"), "{error}");
    // The code was not spent on the impostor: the right pin enrols with it.
    let pin = SpkiPin::of_certificate(&tls.server.cert_der).unwrap();
    wang.enroll_link(&link(&server, &code, pin), "华为 Mate 60").unwrap();
    wang.sync(&mut |_| {}).unwrap();

    // The server's key changes (someone in the middle, or a new key the
    // phone was not told of): the phone refuses it.
    let impostor = TestCa::new("impostor");
    impostor.issue_server().write_to(&tls.cert, &tls.key);
    std::thread::sleep(Duration::from_secs(3));
    wang.create_visit(VisitKind::Inspection, &merchant("老王便利店")).unwrap();
    let error = wang.sync(&mut |_| {}).unwrap_err();
    assert_eq!(error.code(), "wrong_certificate", "{error}");
    assert_eq!(wang.sync_status().unwrap().unsynced_visits, 1, "the visit waits on the phone");
}

/// Plain HTTP is refused to any address but the phone's own loopback, before
/// any connection is tried.
#[test]
fn http_to_an_address_off_the_phone_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mut wang = open(&dir.path().join("wang"));
    for server in
        ["http://192.0.2.10:8080", "http://sync.example.com/", "posfield+http://192.0.2.10/ABCD-EFGH-JKMN"]
    {
        let error = if server.starts_with("posfield") {
            wang.enroll_link(server, "phone").unwrap_err()
        } else {
            wang.enroll(server, "ABCD-EFGH-JKMN", "phone").unwrap_err()
        };
        if server.starts_with("posfield") {
            assert!(
                matches!(error.code(), "insecure_server" | "bad_link"),
                "{server}: {} {error}",
                error.code()
            );
        } else {
            assert_eq!(error.code(), "insecure_server", "{server}: {error}");
            assert!(error.to_string().contains("must start with https://"), "{server}: {error}");
        }
    }
}

/// `posfield-server enroll-agent NAME --link ADDRESS` prints the one thing
/// the agent types or scans: the address, the code and the pin of the
/// certificate the server serves; the phone enrols from it as printed and
/// syncs. An address that is not HOST[:PORT][/PATH] is refused.
#[test]
fn the_server_prints_an_enrolment_link_with_its_certificates_pin() {
    let dir = tempfile::tempdir().unwrap();
    let tls = TestTls::write(dir.path());
    let server = ServerProcess::start_tls(&dir.path().join("data"), &tls);
    let port = url::Url::parse(&server.base).unwrap().port().unwrap();
    let config = dir.path().join("enrol.toml");
    std::fs::write(&config, format!("tls_cert = {:?}\n", tls.cert.to_str().unwrap())).unwrap();
    let enroll = |args: &[&str]| {
        std::process::Command::new(posfield_e2e::server_binary())
            .arg("--config")
            .arg(&config)
            .arg("--data")
            .arg(&server.data)
            .args(["enroll-agent", "wang"])
            .args(args)
            .output()
            .unwrap()
    };
    let printed = enroll(&["--link", &format!("127.0.0.1:{port}")]);
    assert!(printed.status.success(), "{}", String::from_utf8_lossy(&printed.stderr));
    let printed = String::from_utf8(printed.stdout).unwrap().trim().to_owned();
    let pin = SpkiPin::of_certificate(&tls.server.cert_der).unwrap();
    assert!(printed.starts_with(&format!("posfield://127.0.0.1:{port}/")), "{printed}");
    assert!(printed.ends_with(&format!("?pin={}", pin.to_link_form())), "{printed}");

    let mut wang = open(&dir.path().join("wang"));
    wang.enroll_link(&printed, "华为 Mate 60").unwrap();
    repair_visit(&mut wang);
    assert_eq!(wang.sync(&mut |_| {}).unwrap().visits_synced, 1);

    for bad in ["https://sync.example.cn", "/office", "sync.example.cn?pin=x", ""] {
        let refused = enroll(&["--link", bad]);
        assert!(!refused.status.success(), "{bad:?} was taken");
        assert!(String::from_utf8_lossy(&refused.stderr).contains("HOST[:PORT]"), "{bad:?}");
    }
}
