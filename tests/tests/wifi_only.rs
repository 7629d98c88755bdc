//! "Photos on Wi-Fi only" and the data each visit's syncs use: a real
//! posfield-server process on 127.0.0.1, a real agent core whose network
//! the test sets as the app shell does from the phone's WebView.

use std::sync::Arc;

use posfield_core::Agent;
use posfield_core::background::Schedule;
use posfield_core::network::{Connection, Reported};
use posfield_core::sync::SyncReport;
use posfield_e2e::ServerProcess;
use posfield_e2e::story::{open, repair_visit};
use posfield_shared::VisitKind;

fn sync(agent: &mut Agent) -> SyncReport {
    agent.sync(&mut |_| {}).unwrap()
}

/// An enrolled agent with "photos on Wi-Fi only" on, on mobile data; the
/// handle sets its network. With the server's id of the phone.
fn on_mobile_data(server: &ServerProcess, dir: &std::path::Path) -> (Agent, Arc<Reported>, String) {
    let mut agent = open(dir);
    let device = agent.enroll(&server.base, &server.enrolment_code("wang"), "小米 14").unwrap().device_id;
    let network = Arc::new(Reported::new());
    network.set(Connection::Cellular);
    agent.use_connection_source(network.clone());
    agent.set_photos_on_wifi_only(true).unwrap();
    (agent, network, device)
}

/// The documents go on mobile data and the photos wait, the sync ending
/// well with the count of photos waiting; the back office has the visit and
/// may not approve it without its photos; the worker does not loop; on
/// Wi-Fi the photos go and the visit is synced.
#[test]
fn on_mobile_data_the_visits_reach_the_server_and_the_photos_wait_for_wifi() {
    let dir = tempfile::tempdir().unwrap();
    let server = ServerProcess::start(&dir.path().join("server"));
    server.add_user("chen", "reviewer");
    let (mut wang, network, _) = on_mobile_data(&server, &dir.path().join("wang"));
    let repair = repair_visit(&mut wang);
    let inspection =
        wang.create_visit(VisitKind::Inspection, &posfield_e2e::story::merchant("李记面馆")).unwrap().id;

    let report = sync(&mut wang);
    assert_eq!(report.visits_synced, 2, "{report:?}");
    assert_eq!(report.blobs_uploaded, 0, "{report:?}");
    assert_eq!(report.photos_waiting_for_wifi, 3, "photo, signature image and strokes: {report:?}");
    assert_eq!(report.visits_waiting_for_photos, 1, "{report:?}");
    eprintln!("two visits' documents on mobile data, the photos held: {:?}", report.traffic);

    // The server has both visits; of the repair, none of its files.
    let (status, body) = server.office_get("chen", &format!("api/v1/office/visits/{repair}"));
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["visit"]["status"], "completed");
    assert_eq!(body["blobs_missing"], 3, "{body}");
    let (status, _) = server.office_get("chen", &format!("api/v1/office/visits/{inspection}"));
    assert_eq!(status, 200);
    // No approval while the evidence is on the phone.
    let approve = serde_json::json!({ "decision": "approve" });
    let (status, body) =
        server.office_post("chen", &format!("api/v1/office/visits/{repair}/review"), &approve);
    assert_eq!(status, 409, "{body}");

    // A success for the documents, the photos counted as waiting, not failed.
    let status = wang.sync_status().unwrap();
    assert_eq!(
        (status.failures, status.last_error.is_none(), status.interrupted),
        (0, true, false),
        "{status:?}"
    );
    assert_eq!((status.unsynced_visits, status.visits_waiting_for_photos), (1, 1), "{status:?}");
    assert_eq!(status.photos_waiting_for_wifi, 3);
    assert!(status.photos_on_wifi_only);
    // The background worker waits its interval on mobile data, and goes at once on Wi-Fi.
    let schedule = Schedule::default();
    let now = status.last_attempt.unwrap();
    assert_eq!(schedule.next_delay(&status, Connection::Cellular, 7, now), schedule.interval);
    assert_eq!(schedule.next_delay(&status, Connection::Wifi, 7, now), std::time::Duration::ZERO);
    // Still on mobile data: one manifest, nothing more.
    let again = sync(&mut wang);
    assert!(again.already_in_sync && again.blobs_uploaded == 0, "{again:?}");
    assert_eq!(again.photos_waiting_for_wifi, 3);
    assert!(again.traffic.total() < 2_000, "{again:?}");

    // Wi-Fi: the photos go, and the visit is synced.
    network.set(Connection::Wifi);
    let report = sync(&mut wang);
    assert_eq!((report.blobs_uploaded, report.photos_waiting_for_wifi), (3, 0), "{report:?}");
    eprintln!("their photos on Wi-Fi: {:?}", report.traffic);
    let status = wang.sync_status().unwrap();
    assert_eq!(
        (status.unsynced_visits, status.visits_waiting_for_photos, status.photos_waiting_for_wifi),
        (0, 0, 0)
    );
    let (_, body) = server.office_get("chen", &format!("api/v1/office/visits/{repair}"));
    assert_eq!(body["blobs_missing"], 0, "{body}");
    assert_eq!(body["device_signature_valid"], true);
    let (status, body) =
        server.office_post("chen", &format!("api/v1/office/visits/{repair}/review"), &approve);
    assert_eq!(status, 200, "{body}");
}

/// A phone the company asked to wipe sends its photos on mobile data too:
/// the wipe waits for every photo, and the agent's choice does not keep the
/// evidence on a phone that is no longer the agent's.
#[test]
fn a_wipe_asked_on_mobile_data_sends_every_photo_before_the_keys_go() {
    let dir = tempfile::tempdir().unwrap();
    let server = ServerProcess::start(&dir.path().join("server"));
    server.add_user("chen", "reviewer");
    let (mut wang, _network, device) = on_mobile_data(&server, &dir.path().join("wang"));
    let repair = repair_visit(&mut wang);
    let report = sync(&mut wang);
    assert_eq!(report.photos_waiting_for_wifi, 3);
    let asked = posfield_e2e::server_cli(&server.data, &["wipe-device", &device, "--yes"]);
    assert!(asked.contains("will be wiped at its next contact"), "{asked}");

    let report = sync(&mut wang);
    assert!(report.wiped, "{report:?}");
    assert_eq!((report.blobs_uploaded, report.photos_waiting_for_wifi), (3, 0), "{report:?}");
    let (_, body) = server.office_get("chen", &format!("api/v1/office/visits/{repair}"));
    assert_eq!(body["blobs_missing"], 0, "{body}");
}

/// What a typical visit costs in data: a whole repair visit (one document
/// photo, the merchant's signature) synced through a relay that counts the
/// bytes on the wire. The phone's count (bodies and websocket messages) is
/// below the wire's (HTTP headers) and most of it; the visit pays for its
/// push and its files, the manifests are "other". The figures are printed
/// for docs/mobile.md.
#[test]
fn a_visits_data_is_counted_and_charged_to_it() {
    let dir = tempfile::tempdir().unwrap();
    let server = ServerProcess::start(&dir.path().join("server"));
    let wire = posfield_e2e::proxy::CuttingProxy::start(&server.addr(), 1, 1);
    wire.set_cutting(false);
    let mut wang = open(&dir.path().join("wang"));
    wang.enroll(&wire.base(), &server.enrolment_code("wang"), "phone").unwrap();
    let repair = repair_visit(&mut wang);
    let before = wire.bytes();
    let first = sync(&mut wang);
    let on_wire = wire.bytes() - before;
    let counted = first.traffic.total();
    eprintln!(
        "a repair visit's first sync: {} bytes sent, {} received, counted; {on_wire} on the wire ({} blobs, {} bytes of them)",
        first.traffic.sent, first.traffic.received, first.blobs_uploaded, first.blob_bytes_sent
    );
    assert!(counted <= on_wire, "counted {counted} > {on_wire} on the wire");
    assert!(counted * 10 >= on_wire * 8, "counted {counted} is under 80 % of the {on_wire} on the wire");
    assert!(first.traffic.sent >= first.blob_bytes_sent, "{first:?}");

    let usage = wang.data_usage().unwrap();
    assert_eq!(usage.total, first.traffic);
    let visit = usage.visits.iter().find(|v| v.visit_id == repair.as_str()).expect("the repair's row");
    assert_eq!(visit.merchant.as_deref(), Some("老王便利店"));
    assert!(visit.traffic.sent > first.blob_bytes_sent, "its push and its files: {visit:?}");
    assert!(usage.other.sent > 0 && usage.other.received > 0, "the manifests: {usage:?}");
    eprintln!("charged to the visit: {:?}; other: {:?}", visit.traffic, usage.other);

    // A no-change sync costs the manifest only, counted as other.
    let before = wire.bytes();
    let again = sync(&mut wang);
    eprintln!("a no-change sync: {:?} counted, {} on the wire", again.traffic, wire.bytes() - before);
    assert!(again.already_in_sync);
    let after = wang.data_usage().unwrap();
    assert_eq!(after.visits, usage.visits, "no visit pays for a sync that moved none");
    assert_eq!(after.total.total(), usage.total.total() + again.traffic.total());

    // The back office's change comes down through samod: the visit pays for it.
    server.add_user("chen", "reviewer");
    let (status, body) = server.office_post(
        "chen",
        &format!("api/v1/office/visits/{repair}/review"),
        &serde_json::json!({ "decision": "return", "note": "请补拍购机凭证" }),
    );
    assert_eq!(status, 200, "{body}");
    let pulled = sync(&mut wang);
    assert_eq!(pulled.visits_synced, 1, "{pulled:?}");
    let latest = wang.data_usage().unwrap();
    let now = latest.visits.iter().find(|v| v.visit_id == repair.as_str()).unwrap();
    assert!(
        now.traffic.received > visit.traffic.received,
        "the exchange's messages: {now:?} after {visit:?}"
    );
    eprintln!("a returned visit pulled: {:?} counted", pulled.traffic);
}
