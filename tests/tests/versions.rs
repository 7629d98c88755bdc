//! Versions and credentials across releases, against real server processes
//! and real agent cores: a server that raised its minimum app version, and
//! credentials renewed by a sync before they lapse, with the server's clock
//! moved ahead by its configuration rather than by waiting.

use posfield_core::Agent;
use posfield_e2e::ServerProcess;
use posfield_e2e::story::open;
use posfield_shared::protocol::{APP_VERSION_HEADER, PROTOCOL_VERSION_HEADER};
use posfield_shared::visit::MerchantInput;
use posfield_shared::{VisitId, VisitKind};
use reqwest::blocking::Client;

const DAY: i64 = 24 * 3600;

/// A manifest request as a phone of another build would send it.
fn manifest(server: &ServerProcess, token: &str, headers: &[(&str, &str)]) -> (u16, serde_json::Value) {
    let mut request = Client::new()
        .post(server.url("api/v1/sync/manifest"))
        .bearer_auth(token)
        .json(&serde_json::json!({ "digest": "x" }));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.send().unwrap();
    (response.status().as_u16(), response.json().unwrap_or_default())
}

/// The notes of a visit as the back office reads it.
fn notes_on_server(server: &ServerProcess, visit: &VisitId) -> Vec<String> {
    let (status, body) = server.office_get("chen", &format!("api/v1/office/visits/{visit}"));
    if status != 200 {
        return Vec::new();
    }
    body["visit"]["notes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["text"].as_str().unwrap().to_owned())
        .collect()
}

fn merchant(name: &str) -> MerchantInput {
    MerchantInput { name: name.into(), ..Default::default() }
}

/// A server's data folder with one enrolled phone that synced one visit;
/// the server that served it is stopped, to be started again as a test needs.
struct Setup {
    _dir: tempfile::TempDir,
    data: std::path::PathBuf,
    addr: String,
    wang: Agent,
    visit: VisitId,
    token: String,
}

impl Setup {
    fn new() -> Setup {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("server");
        let server = ServerProcess::start(&data);
        server.add_user("chen", "reviewer");
        let mut wang = open(&dir.path().join("wang"));
        let enrolled = wang.enroll(&server.base, &server.enrolment_code("wang"), "phone").unwrap();
        let visit = wang.create_visit(VisitKind::Inspection, &merchant("老王便利店")).unwrap().id;
        wang.sync(&mut |_| {}).unwrap();
        let addr = server.addr();
        Setup { _dir: dir, data, addr, wang, visit, token: enrolled.token }
    }

    /// The server again, on the same data and address, with `config`.
    fn serve(&self, config: &str) -> ServerProcess {
        ServerProcess::start_configured(&self.data, &self.addr, config)
    }
}

#[test]
fn a_phone_below_the_minimum_version_gets_the_clear_answer_keeps_its_work_and_sends_it_once_allowed() {
    let mut s = Setup::new();
    // The server now syncs only with 0.2.0 and later; this phone runs 0.1.0.
    let server = s.serve("min_app_version = \"0.2.0\"\n");
    s.wang.add_note(&s.visit, "升级前的记录").unwrap();
    let second = s.wang.create_visit(VisitKind::Repair, &merchant("李记面馆")).unwrap().id;
    let error = s.wang.sync(&mut |_| {}).unwrap_err();
    assert_eq!(error.code(), "app_too_old", "{error}");
    assert!(error.to_string().contains("update the app to 0.2.0 or later"), "{error}");
    let status = s.wang.sync_status().unwrap();
    assert_eq!(status.unsynced_visits, 2, "every change stays on the phone, none marked synced");
    let failure = status.last_error.unwrap();
    assert_eq!(
        (failure.code.as_str(), failure.minimum_app_version.as_deref()),
        ("app_too_old", Some("0.2.0"))
    );
    assert!(notes_on_server(&server, &s.visit).is_empty(), "nothing of the refused sync was stored");
    assert_eq!(server.office_get("chen", &format!("api/v1/office/visits/{second}")).0, 404);

    // Every phone route answers the same, before the credential is even
    // looked at: a phone that sends no version is taken to run 0.1.0.
    let newer_phone: &[(&str, &str)] = &[(APP_VERSION_HEADER, "0.1.9"), (PROTOCOL_VERSION_HEADER, "2")];
    for (headers, app) in [(&[][..], "0.1.0"), (newer_phone, "0.1.9")] {
        for token in [s.token.as_str(), "pfd_forged"] {
            let (status, body) = manifest(&server, token, headers);
            assert_eq!(status, 426, "{body}");
            assert_eq!(
                (body["error"].as_str(), body["minimum"].as_str()),
                (Some("app_too_old"), Some("0.2.0"))
            );
            assert_eq!(body["app_version"].as_str(), Some(app));
        }
    }
    // A phone of the minimum's version passes the gate (and meets the credential check).
    assert_eq!(manifest(&server, &s.token, &[(APP_VERSION_HEADER, "0.2.0")]).0, 200);
    drop(server);

    // The minimum lowered again: the next sync sends everything.
    let server = s.serve("");
    let report = s.wang.sync(&mut |_| {}).unwrap();
    assert_eq!(report.visits_synced, 2);
    assert_eq!(notes_on_server(&server, &s.visit), ["升级前的记录"]);
    assert_eq!(server.office_get("chen", &format!("api/v1/office/visits/{second}")).0, 200);
    assert_eq!(s.wang.sync_status().unwrap().unsynced_visits, 0);
}

#[test]
fn a_phone_whose_credential_is_near_expiry_renews_it_during_a_sync_and_goes_on_syncing_after_the_old_expiry()
{
    let mut s = Setup::new();
    let old_expiry = s.wang.sync_status().unwrap().credential_expires_at.expect("kept at enrolment");

    // 340 days on, 25 left: the sync renews the credential.
    let server = s.serve(&format!("clock_offset_secs = {}\n", 340 * DAY));
    s.wang.add_note(&s.visit, "续期前").unwrap();
    let report = s.wang.sync(&mut |_| {}).unwrap();
    assert!(report.credential_renewed, "{report:?}");
    let new_expiry = s.wang.sync_status().unwrap().credential_expires_at.unwrap();
    assert!(
        new_expiry >= old_expiry + 340 * DAY - 60,
        "renewed for a year from the server's now: {new_expiry}"
    );
    // The new credential was used, so the old one is gone.
    assert_eq!(manifest(&server, &s.token, &[]).0, 401);
    // A sync with a year left does not renew again.
    assert!(!s.wang.sync(&mut |_| {}).unwrap().credential_renewed);
    drop(server);

    // Past the old expiry, the phone goes on syncing.
    let server = s.serve(&format!("clock_offset_secs = {}\n", 400 * DAY));
    s.wang.add_note(&s.visit, "旧凭证过期后").unwrap();
    let report = s.wang.sync(&mut |_| {}).unwrap();
    assert!(!report.credential_renewed);
    assert_eq!(notes_on_server(&server, &s.visit), ["续期前", "旧凭证过期后"]);
}

#[test]
fn a_renewal_cut_before_the_phone_stored_it_leaves_the_phone_able_to_sync() {
    let mut s = Setup::new();
    let server = s.serve(&format!("clock_offset_secs = {}\n", 350 * DAY));

    // The server issues a new credential; the answer never reaches the
    // phone (it died, or the signal went) before it was stored.
    let lost = Client::new().post(server.url("api/v1/sync/renew")).bearer_auth(&s.token).send().unwrap();
    assert_eq!(lost.status().as_u16(), 200);
    let lost: serde_json::Value = lost.json().unwrap();
    let lost = lost["token"].as_str().unwrap().to_owned();

    // The phone's own credential still works: it syncs, and renews again.
    s.wang.add_note(&s.visit, "续期中断后").unwrap();
    let report = s.wang.sync(&mut |_| {}).unwrap();
    assert!(report.credential_renewed);
    assert_eq!(notes_on_server(&server, &s.visit), ["续期中断后"]);
    // The lost credential was replaced by the one the phone stored.
    assert_eq!(manifest(&server, &lost, &[]).0, 401);
    assert!(s.wang.sync(&mut |_| {}).unwrap().already_in_sync);
}
