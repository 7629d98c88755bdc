//! The `posfield-server` process over TLS: started with `--tls-cert` and
//! `--tls-key` and certificates the test makes, it serves HTTPS to a client
//! trusting the test's authority, the back office's API included, and its
//! certificate files renewed while it runs.

use std::time::{Duration, Instant};

use posfield_e2e::ServerProcess;
use posfield_e2e::tls::{TestCa, TestTls};

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
