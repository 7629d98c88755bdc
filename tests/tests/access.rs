//! Access rules and bad input against a real server process: every endpoint
//! without a credential, with a forged, revoked or another agent's one;
//! malformed and oversized bodies; wrong blob hashes; cut uploads. Each gets
//! the right 4xx with a JSON error, the server keeps serving, and nothing
//! stored changes.

use posfield_core::Agent;
use posfield_e2e::ServerProcess;
use posfield_e2e::story::open;
use posfield_shared::protocol::{
    APP_VERSION_HEADER, PUSH_MAX_VISITS, PUSH_MEDIA_TYPE, PushRequest, PushResponse, PushedVisit,
    decode_cbor, encode_cbor,
};
use posfield_shared::visit::MerchantInput;
use posfield_shared::{BlobHash, VisitId, VisitKind};
use reqwest::blocking::Client;

struct Setup {
    _dir: tempfile::TempDir,
    server: ServerProcess,
    wang: Agent,
    wang_token: String,
    li_token: String,
    wang_device: String,
    wang_visit: VisitId,
}

/// The SHA-256 of `bytes` in lowercase hex, as a blob's URL names it.
fn sha256_hex(bytes: &[u8]) -> String {
    BlobHash::of(bytes).into_string()
}

/// Every route a phone calls, with the blob routes on blob `sha`.
fn phone_routes(sha: &str) -> Vec<(&'static str, String)> {
    vec![
        ("POST", "api/v1/enroll".into()),
        ("POST", "api/v1/sync/manifest".into()),
        ("POST", "api/v1/sync/renew".into()),
        ("POST", "api/v1/sync/push".into()),
        ("GET", "api/v1/sync/ws".into()),
        ("GET", format!("api/v1/blobs/{sha}/status")),
        ("GET", format!("api/v1/blobs/{sha}")),
        ("PUT", format!("api/v1/blobs/{sha}")),
    ]
}

fn setup() -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let server = ServerProcess::start(&dir.path().join("server"));
    let mut wang = open(&dir.path().join("wang"));
    let mut li = open(&dir.path().join("li"));
    let wang_enrolled = wang.enroll(&server.base, &server.enrolment_code("wang"), "phone").unwrap();
    let li_token = li.enroll(&server.base, &server.enrolment_code("li"), "phone").unwrap().token;
    let merchant = MerchantInput { name: "老王便利店".into(), ..Default::default() };
    let wang_visit = wang.create_visit(VisitKind::Inspection, &merchant).unwrap().id;
    wang.sync(&mut |_| {}).unwrap();
    let (wang_token, wang_device) = (wang_enrolled.token, wang_enrolled.device_id);
    Setup { _dir: dir, server, wang, wang_token, li_token, wang_device, wang_visit }
}

fn assert_json_error(response: reqwest::blocking::Response, status: u16, code: &str) {
    assert_eq!(response.status().as_u16(), status);
    let body: serde_json::Value = response.json().expect("a JSON error body");
    assert_eq!(body["error"], code, "{body}");
    assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()));
}

/// The server's manifest answer for a device (a digest matching nothing).
fn manifest_of(http: &Client, s: &Setup, token: &str) -> serde_json::Value {
    let response = http
        .post(s.server.url("api/v1/sync/manifest"))
        .bearer_auth(token)
        .json(&serde_json::json!({ "digest": "x" }))
        .send()
        .unwrap();
    response.json().unwrap()
}

#[test]
fn every_agent_endpoint_refuses_missing_forged_revoked_and_foreign_credentials() {
    let s = setup();
    let http = Client::new();
    let sha = "0".repeat(64);
    // Every phone route but enrolment, which takes a code, not a credential.
    let endpoints: Vec<(&str, String)> =
        phone_routes(&sha).into_iter().filter(|(_, path)| path != "api/v1/enroll").collect();
    let forged = format!("pfd_{}", "ab".repeat(32));
    for (method, path) in &endpoints {
        let request = |token: Option<&str>| {
            let mut r =
                http.request(method.parse().unwrap(), s.server.url(path)).json(&serde_json::json!({}));
            if let Some(token) = token {
                r = r.bearer_auth(token);
            }
            r.send().unwrap()
        };
        assert_json_error(request(None), 401, "unauthenticated");
        assert_json_error(request(Some(&forged)), 401, "unauthenticated");
    }
    // The office API does not take device credentials.
    let response = http
        .get(s.server.url(&format!("api/v1/office/visits/{}", s.wang_visit)))
        .bearer_auth(&s.wang_token)
        .send()
        .unwrap();
    assert_json_error(response, 401, "unauthenticated");

    // Another agent cannot read wang's blobs or learn about wang's visit.
    let photo = sha256_hex(b"not uploaded");
    let response =
        http.get(s.server.url(&format!("api/v1/blobs/{photo}"))).bearer_auth(&s.li_token).send().unwrap();
    assert_json_error(response, 404, "not_found");
    let body = manifest_of(&http, &s, &s.li_token);
    assert!(!body.to_string().contains(s.wang_visit.as_str()), "li sees nothing of wang's visit: {body}");

    // Revoked: refused everywhere, with a reason the phone can show.
    posfield_e2e::server_cli(&s.server.data, &["revoke-device", &s.wang_device]);
    let response = http
        .post(s.server.url("api/v1/sync/manifest"))
        .bearer_auth(&s.wang_token)
        .json(&serde_json::json!({ "digest": "x" }))
        .send()
        .unwrap();
    assert_json_error(response, 401, "credential_revoked");
    // A revoked device cannot renew its credential.
    let response = http.post(s.server.url("api/v1/sync/renew")).bearer_auth(&s.wang_token).send().unwrap();
    assert_json_error(response, 401, "credential_revoked");
    let mut wang = s.wang;
    let error = wang.sync(&mut |_| {}).unwrap_err();
    assert_eq!(error.code(), "credential_revoked");
    // The server is still serving.
    assert!(http.get(s.server.url("healthz")).send().unwrap().status().is_success());
}

#[test]
fn every_phone_route_answers_an_app_below_the_minimum_before_reading_anything() {
    let s = setup();
    let http = Client::new();
    let sha = "0".repeat(64);
    let routes = phone_routes(&sha);
    for (method, path) in &routes {
        let request = |version: &str, token: Option<&str>| {
            let mut r = http
                .request(method.parse().unwrap(), s.server.url(path))
                .header(APP_VERSION_HEADER, version)
                .json(&serde_json::json!({}));
            if let Some(token) = token {
                r = r.bearer_auth(token);
            }
            r.send().unwrap()
        };
        // Below the default minimum (0.1.0): with a good credential, a forged
        // one or none, the answer is the same and names the minimum.
        for token in [Some(s.wang_token.as_str()), Some("pfd_forged"), None] {
            let response = request("0.0.9", token);
            assert_eq!(response.status().as_u16(), 426, "{method} {path}");
            let body: serde_json::Value = response.json().unwrap();
            assert_eq!(body["error"], "app_too_old", "{method} {path}: {body}");
            assert_eq!(body["minimum"], "0.1.0", "{method} {path}: {body}");
        }
        assert_json_error(request("soon", Some(&s.wang_token)), 400, "bad_version");
    }
    // The back office's routes take no app version.
    let response = http.get(s.server.url("healthz")).header(APP_VERSION_HEADER, "0.0.1").send().unwrap();
    assert!(response.status().is_success());
    // Nothing was recorded or changed: the phone syncs as before.
    let mut wang = s.wang;
    assert!(wang.sync(&mut |_| {}).unwrap().already_in_sync);
}

#[test]
fn malformed_and_oversized_bodies_get_json_errors_and_change_nothing() {
    let s = setup();
    // The server closes a connection after refusing an oversized body: no connection reuse.
    let http = Client::builder().pool_max_idle_per_host(0).build().unwrap();
    let manifest = |body: Vec<u8>| {
        http.post(s.server.url("api/v1/sync/manifest"))
            .bearer_auth(&s.wang_token)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .unwrap()
    };
    assert_json_error(manifest(b"{\"digest\":".to_vec()), 400, "bad_json");
    assert_json_error(manifest(b"\xff\xfe".to_vec()), 400, "bad_json");
    assert_json_error(manifest(vec![b' '; 2 << 20]), 413, "body_too_large");
    let response = http
        .post(s.server.url("api/v1/enroll"))
        .json(&serde_json::json!({ "code": "AAAA-BBBB-CCCC", "device_id": "d", "device_name": "", "public_key": "00".repeat(32) }))
        .send()
        .unwrap();
    assert_json_error(response, 403, "bad_enrolment_code");
    assert_json_error(http.get(s.server.url("api/v1/nothing")).send().unwrap(), 404, "not_found");
    // Nothing changed: wang is still in sync.
    let mut wang = s.wang;
    assert!(wang.sync(&mut |_| {}).unwrap().already_in_sync);
}

#[test]
fn blobs_are_verified_resumable_and_size_limited() {
    let s = setup();
    let http = Client::new();
    let bytes: Vec<u8> = (0..200_000u32).map(|i| (i * 7 % 251) as u8).collect();
    let sha = sha256_hex(&bytes);
    let put = |offset: usize, body: &[u8], total: usize, sha: &str| {
        http.put(s.server.url(&format!("api/v1/blobs/{sha}?offset={offset}")))
            .bearer_auth(&s.wang_token)
            .header("x-blob-size", total.to_string())
            .body(body.to_vec())
            .send()
            .unwrap()
    };
    let status = |sha: &str| -> serde_json::Value {
        http.get(s.server.url(&format!("api/v1/blobs/{sha}/status")))
            .bearer_auth(&s.wang_token)
            .send()
            .unwrap()
            .json()
            .unwrap()
    };
    // A wrong hash is refused and nothing is kept.
    let wrong = sha256_hex(b"something else");
    assert_json_error(put(0, &bytes, bytes.len(), &wrong), 422, "hash_mismatch");
    assert_eq!(status(&wrong), serde_json::json!({ "complete": false, "received": 0 }));
    // A cut upload resumes from what the server has.
    assert_eq!(put(0, &bytes[..70_000], bytes.len(), &sha).status().as_u16(), 202);
    assert_eq!(status(&sha)["received"], 70_000);
    assert_json_error(put(10, &bytes[10..], bytes.len(), &sha), 409, "wrong_offset");
    assert_eq!(put(70_000, &bytes[70_000..], bytes.len(), &sha).status().as_u16(), 201);
    assert_eq!(status(&sha), serde_json::json!({ "complete": true, "received": bytes.len() }));
    // Idempotent.
    assert_eq!(put(0, &bytes, bytes.len(), &sha).status().as_u16(), 201);
    // Over the limit, a bad id, a missing size.
    assert_json_error(put(0, b"x", 1 << 30, &sha256_hex(b"x")), 413, "blob_too_large");
    assert_json_error(put(0, b"x", 1, "not-a-sha"), 400, "bad_blob_id");
    let response = http
        .put(s.server.url(&format!("api/v1/blobs/{}", sha256_hex(b"x"))))
        .bearer_auth(&s.wang_token)
        .body("x")
        .send()
        .unwrap();
    assert_json_error(response, 400, "missing_size");
    // A body longer than declared is refused and not kept.
    assert_json_error(put(0, b"xy", 1, &sha256_hex(b"x")), 400, "blob_too_long");
    assert_eq!(status(&sha256_hex(b"x"))["received"], 0);
}

#[test]
fn the_server_killed_mid_day_and_restarted_loses_nothing() {
    let mut s = setup();
    let merchant = MerchantInput { name: "李记面馆".into(), ..Default::default() };
    let second = s.wang.create_visit(VisitKind::Inspection, &merchant).unwrap().id;
    s.wang.add_note(&second, "第一次").unwrap();
    s.wang.sync(&mut |_| {}).unwrap();
    let data = s.server.data.clone();
    let addr = s.server.addr();
    s.server.kill();
    // Offline: the sync fails clearly and keeps everything.
    s.wang.add_note(&second, "服务器宕机时的记录").unwrap();
    let error = s.wang.sync(&mut |_| {}).unwrap_err();
    assert_eq!(error.code(), "offline", "{error}");
    let server = ServerProcess::start_on(&data, &addr);
    s.wang.sync(&mut |_| {}).unwrap();
    server.add_user("chen", "reviewer");
    let (_, body) = server.office_get("chen", &format!("api/v1/office/visits/{second}"));
    let notes: Vec<&str> =
        body["visit"]["notes"].as_array().unwrap().iter().map(|n| n["text"].as_str().unwrap()).collect();
    assert_eq!(notes, ["第一次", "服务器宕机时的记录"]);
    assert!(s.wang.sync(&mut |_| {}).unwrap().already_in_sync);
}

#[test]
fn an_expired_credential_is_refused_everywhere_and_the_phone_keeps_its_work() {
    let mut s = setup();
    s.wang.add_note(&s.wang_visit, "过期前的记录").unwrap();
    // A year has passed: the server's record of the credential says so.
    let db = rusqlite::Connection::open(s.server.data.join("posfield.db")).unwrap();
    db.busy_timeout(std::time::Duration::from_secs(5)).unwrap();
    assert_eq!(db.execute("UPDATE devices SET expires_at = 0 WHERE agent = 'wang'", []).unwrap(), 1);
    let client = Client::new();
    let manifest = client
        .post(s.server.url("api/v1/sync/manifest"))
        .bearer_auth(&s.wang_token)
        .json(&serde_json::json!({ "digest": "00" }))
        .send()
        .unwrap();
    assert_json_error(manifest, 401, "credential_expired");
    let blob = client
        .get(s.server.url(&format!("api/v1/blobs/{}/status", sha256_hex(b"x"))))
        .bearer_auth(&s.wang_token)
        .send()
        .unwrap();
    assert_json_error(blob, 401, "credential_expired");
    let error = s.wang.sync(&mut |_| {}).unwrap_err();
    assert_eq!(error.code(), "credential_expired", "{error}");
    assert!(error.to_string().contains("enrol it again"), "{error}");
    // Nothing on the phone is lost; enrolling again sends it.
    assert_eq!(s.wang.sync_status().unwrap().unsynced_visits, 1);
    s.wang.enroll(&s.server.base, &s.server.enrolment_code("wang"), "phone").unwrap();
    s.wang.sync(&mut |_| {}).unwrap();
    let visit = s.wang.visit(&s.wang_visit).unwrap();
    assert_eq!(visit.notes.len(), 1);
}

/// Revoking a device refuses its syncs and keeps its work on the phone:
/// what the agent wrote offline is still there, unsynced, and goes to the
/// server once the phone is enrolled again (revoke is not wipe).
#[test]
fn a_revoked_phone_keeps_its_work_and_sends_it_once_enrolled_again() {
    let mut s = setup();
    s.wang.add_note(&s.wang_visit, "吊销前写下的记录").unwrap();
    let revoked = posfield_e2e::server_cli(&s.server.data, &["revoke-device", &s.wang_device]);
    assert!(revoked.contains("revoked"), "{revoked}");

    let error = s.wang.sync(&mut |_| {}).unwrap_err();
    assert_eq!(error.code(), "credential_revoked", "{error}");
    assert_eq!(s.wang.sync_status().unwrap().unsynced_visits, 1, "the offline note waits on the phone");
    assert_eq!(s.wang.visit(&s.wang_visit).unwrap().notes.len(), 1);

    s.wang.enroll(&s.server.base, &s.server.enrolment_code("wang"), "phone").unwrap();
    s.wang.sync(&mut |_| {}).unwrap();
    assert_eq!(s.wang.sync_status().unwrap().unsynced_visits, 0);
    s.server.add_user("chen", "reviewer");
    let (status, shown) = s.server.office_get("chen", &format!("api/v1/office/visits/{}", s.wang_visit));
    assert_eq!(status, 200, "{shown}");
    let notes: Vec<&str> =
        shown["visit"]["notes"].as_array().unwrap().iter().filter_map(|n| n["text"].as_str()).collect();
    assert_eq!(notes, ["吊销前写下的记录"], "the revoked phone's work reached the server");
}

#[test]
fn pushes_reach_only_the_agents_own_visits_and_unreadable_documents_are_stored_nowhere() {
    let s = setup();
    // The server closes a connection after refusing an oversized body: no connection reuse.
    let http = Client::builder().pool_max_idle_per_host(0).build().unwrap();
    let push = |token: &str, content_type: &str, body: Vec<u8>| {
        http.post(s.server.url("api/v1/sync/push"))
            .bearer_auth(token)
            .header("content-type", content_type)
            .body(body)
            .send()
            .unwrap()
    };
    let wang_doc = s.wang.visit_document(&s.wang_visit).unwrap();
    let visit = |id: &str, base: Vec<String>, bytes: &[u8]| PushedVisit {
        id: id.to_owned(),
        base,
        bytes: bytes.to_vec().into(),
    };
    let request = PushRequest {
        visits: vec![
            // li claims wang's visit: refused as if it did not exist.
            visit(s.wang_visit.as_str(), Vec::new(), &wang_doc),
            // wang's document under another visit's id.
            visit("0190b3a4-1111-7000-8000-000000000001", Vec::new(), &wang_doc),
            // Not a document at all.
            visit("0190b3a4-1111-7000-8000-000000000002", Vec::new(), b"not an automerge document"),
            // Changes on a state of the visit the server never had.
            visit("0190b3a4-1111-7000-8000-000000000003", vec!["ab".repeat(32)], &wang_doc),
            visit("../../etc/passwd", Vec::new(), &wang_doc),
            visit("0190b3a4-1111-7000-8000-000000000002", Vec::new(), &wang_doc),
        ],
    };
    let response = push(&s.li_token, PUSH_MEDIA_TYPE, encode_cbor(&request));
    assert_eq!(response.status().as_u16(), 200);
    let answer: PushResponse = decode_cbor(&response.bytes().unwrap()).unwrap();
    let refused: Vec<Option<&str>> = answer.visits.iter().map(|v| v.refused.as_deref()).collect();
    assert_eq!(
        refused,
        [
            Some("not_found"),
            Some("unreadable"),
            Some("unreadable"),
            Some("unknown_base"),
            Some("bad_visit_id"),
            Some("duplicate")
        ]
    );
    assert!(
        answer.visits.iter().all(|v| v.heads.is_empty() && v.message.as_ref().is_some_and(|m| !m.is_empty()))
    );
    assert!(!format!("{answer:?}").contains("老王"), "nothing of wang's visit comes back: {answer:?}");

    // Whole-request faults are JSON errors.
    assert_json_error(push(&s.li_token, PUSH_MEDIA_TYPE, b"\xff\x00".to_vec()), 400, "bad_cbor");
    assert_json_error(push(&s.li_token, "application/json", b"{}".to_vec()), 415, "unsupported_media_type");
    let many = PushRequest { visits: vec![visit("x", Vec::new(), b""); PUSH_MAX_VISITS + 1] };
    assert_json_error(push(&s.li_token, PUSH_MEDIA_TYPE, encode_cbor(&many)), 400, "too_many_visits");
    assert_json_error(push(&s.li_token, PUSH_MEDIA_TYPE, vec![0; 17 << 20]), 413, "body_too_large");

    // Nothing was stored: li's manifest lists no visit, wang is still in sync.
    let body = manifest_of(&http, &s, &s.li_token);
    assert_eq!(body["visits"].as_array().map_or(0, Vec::len), 0, "{body}");
    let mut wang = s.wang;
    assert!(wang.sync(&mut |_| {}).unwrap().already_in_sync);
    assert!(http.get(s.server.url("healthz")).send().unwrap().status().is_success());
}

#[test]
fn the_same_push_twice_and_twice_at_once_has_one_effect() {
    let mut s = setup();
    let merchant = MerchantInput { name: "李记面馆".into(), ..Default::default() };
    let id = s.wang.create_visit(VisitKind::Repair, &merchant).unwrap().id;
    let bytes = s.wang.visit_document(&id).unwrap();
    let body = encode_cbor(&PushRequest {
        visits: vec![PushedVisit { id: id.to_string(), base: Vec::new(), bytes: bytes.into() }],
    });
    let push = || -> Vec<String> {
        let response = Client::new()
            .post(s.server.url("api/v1/sync/push"))
            .bearer_auth(&s.wang_token)
            .header("content-type", PUSH_MEDIA_TYPE)
            .body(body.clone())
            .send()
            .unwrap();
        assert_eq!(response.status().as_u16(), 200);
        let answer: PushResponse = decode_cbor(&response.bytes().unwrap()).unwrap();
        assert_eq!(answer.visits.len(), 1);
        assert_eq!(answer.visits[0].refused, None, "{answer:?}");
        answer.visits[0].heads.clone()
    };
    let (first, second) = std::thread::scope(|scope| {
        let (a, b) = (scope.spawn(push), scope.spawn(push));
        (a.join().unwrap(), b.join().unwrap())
    });
    let again = push();
    assert_eq!(first, second);
    assert_eq!(first, again);
    let stored = s.wang.visit_heads(&id).unwrap();
    assert_eq!(posfield_shared::protocol::join_heads(&first), stored);
    // One visit more on the server, once, at the phone's heads: the phone is in sync.
    let http = Client::new();
    let body = manifest_of(&http, &s, &s.wang_token);
    let listed: Vec<&str> =
        body["visits"].as_array().unwrap().iter().filter_map(|v| v["id"].as_str()).collect();
    assert_eq!(listed.len(), 2, "{body}");
    assert!(listed.contains(&id.as_str()));
    let mut wang = s.wang;
    assert!(wang.sync(&mut |_| {}).unwrap().already_in_sync);
}

/// A sync connection on which the phone says nothing is closed after
/// `sync_idle_secs`, and its device gets the slot back: idle sockets
/// cannot hold the server's turns, and a device's extra connection is
/// refused before the handshake.
#[test]
fn an_idle_sync_connection_is_closed_and_its_slot_given_back() {
    use std::time::{Duration, Instant};
    let dir = tempfile::tempdir().unwrap();
    let config = "sync_idle_secs = 5\nmax_sync_sessions_per_device = 1\n";
    let server = ServerProcess::start_configured(&dir.path().join("server"), "127.0.0.1:0", config);
    let li = posfield_e2e::hostile::HostilePhone::enrol(&server, "li", "li-phone");
    let mut socket = li.open_socket().expect("the device's one sync connection");
    let refused = li.open_socket().err();
    assert!(refused.as_deref().is_some_and(|e| e.contains("429")), "a second connection: {refused:?}");
    assert!(!socket.closed_within(Duration::from_secs(3)), "closed before its idle limit");
    assert!(socket.closed_within(Duration::from_secs(6)), "an idle connection stayed open past its limit");
    let deadline = Instant::now() + Duration::from_secs(5);
    let again = loop {
        match li.open_socket() {
            Ok(socket) => break Some(socket),
            Err(_) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(100)),
            Err(_) => break None,
        }
    };
    assert!(again.is_some(), "the device's slot was not given back after its idle connection closed");
}
