//! The operator's view of a running server: `/livez` and `/readyz` for a
//! load balancer, `/metrics` for Prometheus. A real server process with a
//! metrics token, a real agent core syncing a visit with a photo and a
//! signature, the desk returning it, and the counters read before and
//! after through a strict reading of the text exposition format.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use posfield_e2e::ServerProcess;
use posfield_e2e::hostile::HostilePhone;
use posfield_e2e::story::{open, repair_visit, schema_fixture};
use posfield_shared::visit::SCHEMA_VERSION;

const TOKEN: &str = "prometheus-reads-this-0f3a";

/// Every sample of a scrape, by its series (`name{labels}`), read strictly:
/// each line is a `# HELP`, a `# TYPE` of a known type, or a sample of a
/// family whose `TYPE` came before it, with a well-formed name, labels
/// and value. Anything else fails the test.
fn samples(text: &str) -> BTreeMap<String, f64> {
    let name_ok = |name: &str| {
        let mut chars = name.chars();
        chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
            && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
    };
    let mut typed: Vec<String> = Vec::new();
    let mut samples = BTreeMap::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let (name, _) = rest.split_once(' ').unwrap_or_else(|| panic!("a HELP without text: {line}"));
            assert!(name_ok(name), "{line}");
            continue;
        }
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) =
                rest.split_once(' ').unwrap_or_else(|| panic!("a TYPE without a type: {line}"));
            assert!(name_ok(name), "{line}");
            assert!(["counter", "gauge", "histogram", "summary", "untyped"].contains(&kind), "{line}");
            typed.push(name.to_owned());
            continue;
        }
        assert!(!line.starts_with('#') && !line.is_empty(), "not a line of the format: {line:?}");
        let (series, value) =
            line.rsplit_once(' ').unwrap_or_else(|| panic!("a sample without a value: {line}"));
        let value: f64 = match value {
            "+Inf" => f64::INFINITY,
            "-Inf" => f64::NEG_INFINITY,
            number => number.parse().unwrap_or_else(|_| panic!("not a number: {line}")),
        };
        let name = match series.split_once('{') {
            Some((name, labels)) => {
                let labels = labels.strip_suffix('}').unwrap_or_else(|| panic!("unclosed labels: {line}"));
                for pair in labels.split(',') {
                    let (key, quoted) = pair.split_once('=').unwrap_or_else(|| panic!("a bad label: {line}"));
                    assert!(name_ok(key), "{line}");
                    assert!(quoted.len() >= 2 && quoted.starts_with('"') && quoted.ends_with('"'), "{line}");
                }
                name
            }
            None => series,
        };
        assert!(name_ok(name), "{line}");
        assert!(name.starts_with("posfield_"), "a family outside posfield_: {line}");
        let family = typed.last().unwrap_or_else(|| panic!("a sample before any TYPE: {line}"));
        let known =
            [family.clone(), format!("{family}_bucket"), format!("{family}_sum"), format!("{family}_count")];
        assert!(known.iter().any(|f| f == name), "{name} is not of the family typed last, {family}");
        assert!(samples.insert(series.to_owned(), value).is_none(), "a series twice: {line}");
    }
    samples
}

fn scrape(server: &ServerProcess) -> BTreeMap<String, f64> {
    let response = server.client().get(server.url("metrics")).bearer_auth(TOKEN).send().unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let kind = response.headers()["content-type"].to_str().unwrap().to_owned();
    assert!(kind.starts_with("text/plain; version=0.0.4"), "{kind}");
    assert_eq!(response.headers()["cache-control"], "no-store");
    samples(&response.text().unwrap())
}

fn value(samples: &BTreeMap<String, f64>, series: &str) -> f64 {
    *samples.get(series).unwrap_or_else(|| panic!("no {series} in {samples:#?}"))
}

#[test]
fn liveness_readiness_and_metrics_follow_a_sync() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("server");
    let server =
        ServerProcess::start_configured(&data, "127.0.0.1:0", &format!("metrics_token = \"{TOKEN}\"\n"));
    server.add_user("chen", "reviewer");
    let http = server.client();

    let live = http.get(server.url("livez")).send().unwrap();
    assert_eq!(live.status().as_u16(), 200);
    assert_eq!(live.headers()["cache-control"], "no-store");
    assert_eq!(live.text().unwrap(), "ok");
    let ready = http.get(server.url("readyz")).send().unwrap();
    assert_eq!(ready.status().as_u16(), 200);
    assert_eq!(ready.headers()["cache-control"], "no-store");

    // A blob folder gone is not ready, with the reason; back, ready again.
    let blobs = data.join("blobs");
    std::fs::rename(&blobs, data.join("blobs-away")).unwrap();
    let unready = http.get(server.url("readyz")).send().unwrap();
    assert_eq!(unready.status().as_u16(), 503);
    let reason: serde_json::Value = unready.json().unwrap();
    assert_eq!(reason["reason"], "the blob folder is missing", "{reason}");
    std::fs::rename(data.join("blobs-away"), &blobs).unwrap();
    assert_eq!(http.get(server.url("readyz")).send().unwrap().status().as_u16(), 200);

    // Only the metrics token reads them: not nobody, not a wrong token,
    // not a phone's credential.
    let mut wang = open(&dir.path().join("wang"));
    let enrolled = wang.enroll(&server.base, &server.enrolment_code("wang"), "华为 Mate 60").unwrap();
    for token in [None, Some("prometheus-reads-this-0f3b"), Some(enrolled.token.as_str())] {
        let mut request = http.get(server.url("metrics"));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        assert_eq!(request.send().unwrap().status().as_u16(), 401, "{token:?}");
    }

    let before = scrape(&server);
    let version = env!("CARGO_PKG_VERSION");
    assert_eq!(value(&before, &format!("posfield_build_info{{version=\"{version}\"}}")), 1.0);
    assert_eq!(value(&before, "posfield_outbox_messages{state=\"pending\"}"), 0.0);
    assert_eq!(value(&before, "posfield_blobs_pending"), 0.0);

    // A visit with a photo and a signature, pushed and uploaded; returned
    // at the desk, and pulled back over the sync websocket.
    let id = repair_visit(&mut wang);
    wang.sync(&mut |_| {}).unwrap();
    let (status, body) = server.office_post(
        "chen",
        &format!("api/v1/office/visits/{id}/review"),
        &serde_json::json!({ "decision": "return", "note": "请补拍" }),
    );
    assert_eq!(status, 200, "{body}");
    wang.sync(&mut |_| {}).unwrap();
    // An upload whose bytes are not the blob named is refused.
    let phone = HostilePhone::enrol(&server, "li", "li-phone");
    let (status, _) = phone.put_blob(&"ab".repeat(32), 0, 5, b"hello");
    assert!((400..500).contains(&status), "{status}");
    // A visit whose photos never come: blobs pending.
    let older = schema_fixture(&format!("v{}.automerge", SCHEMA_VERSION - 1));
    server.push_documents(&enrolled.token, &[&older]);

    // The connection is counted open until it has ended on the server too.
    let deadline = Instant::now() + Duration::from_secs(10);
    let after = loop {
        let after = scrape(&server);
        if value(&after, "posfield_sync_connections_open") == 0.0 || Instant::now() > deadline {
            break after;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let moved = |series: &str| value(&after, series) - value(&before, series);
    assert!(moved("posfield_pushes_total{outcome=\"stored\"}") >= 2.0, "the agent's push and the fixture's");
    assert!(moved("posfield_push_duration_seconds_count") >= 2.0);
    assert_eq!(
        value(&after, "posfield_push_duration_seconds_count"),
        value(&after, "posfield_push_duration_seconds_bucket{le=\"+Inf\"}")
    );
    assert!(
        moved("posfield_blob_uploads_total{outcome=\"completed\"}") >= 2.0,
        "the photo and the signature"
    );
    assert_eq!(moved("posfield_blob_uploads_total{outcome=\"refused\"}"), 1.0);
    assert!(moved("posfield_sync_connections_total") >= 1.0, "the returned visit came over the websocket");
    assert_eq!(value(&after, "posfield_sync_connections_open"), 0.0);
    assert!(moved("posfield_http_responses_total{class=\"2xx\"}") >= 5.0);
    assert!(value(&after, "posfield_http_responses_total{class=\"4xx\"}") >= 4.0, "three 401s and a refusal");
    assert!(value(&after, "posfield_blobs_pending") >= 1.0, "the fixture's photos never came");
    server.kill();

    // Without a token configured, /metrics does not exist.
    let server = ServerProcess::start(&data);
    let response = server.client().get(server.url("metrics")).bearer_auth(TOKEN).send().unwrap();
    assert_eq!(response.status().as_u16(), 404);
    assert_eq!(server.client().get(server.url("readyz")).send().unwrap().status().as_u16(), 200);
}
