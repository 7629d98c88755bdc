//! Whole-system sync: a real posfield-server process on 127.0.0.1 and real
//! agent cores with their own data folders.

use posfield_core::sync::{Phase, SyncError, SyncReport};
use posfield_core::{Agent, AgentError};
use posfield_e2e::ServerProcess;
use posfield_e2e::hostile::HostilePhone;
use posfield_e2e::story::{merchant, open, repair_visit};
use posfield_shared::visit::{Ctx, VisitDoc};
use posfield_shared::{Actor, Timestamp, VisitId, VisitKind, VisitStatus};

fn sync(agent: &mut Agent) -> SyncReport {
    agent.sync(&mut |_| {}).unwrap()
}

#[test]
fn offline_work_by_two_agents_and_a_back_office_review_converge() {
    let dir = tempfile::tempdir().unwrap();
    let server = ServerProcess::start(&dir.path().join("server"));
    server.add_user("chen", "reviewer");
    server.add_user("zhou", "admin");
    let mut wang = open(&dir.path().join("wang"));
    let mut li = open(&dir.path().join("li"));
    assert!(matches!(wang.sync(&mut |_| {}), Err(AgentError::Sync(SyncError::NotEnrolled))));
    wang.enroll(&server.base, &server.enrolment_code("wang"), "华为 Mate 60").unwrap();
    li.enroll(&server.base, &server.enrolment_code("li"), "小米 14").unwrap();
    assert_eq!(wang.user(), Some("wang"));

    // A whole day offline: each works on their own visits.
    let repair = repair_visit(&mut wang);
    let inspection = li.create_visit(VisitKind::Inspection, &merchant("李记面馆")).unwrap().id;
    li.add_note(&inspection, "商户要求下周再来").unwrap();

    let mut events = Vec::new();
    let report = wang.sync(&mut |p| events.push(p)).unwrap();
    assert_eq!(report.visits_synced, 1);
    assert_eq!(report.blobs_uploaded, 3, "photo, signature image and strokes");
    assert!(events.iter().any(|p| p.phase == Phase::Documents && p.docs_done == 1));
    sync(&mut li);
    assert!(wang.list_visits(&Default::default()).unwrap().iter().all(|row| !row.unsynced));

    // The server has the visit, its photos, and the verified signature.
    let (status, body) = server.office_get("chen", &format!("api/v1/office/visits/{repair}"));
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["visit"]["status"], "completed");
    assert_eq!(body["blobs_missing"], 0);
    assert_eq!(body["device_signature_valid"], true);
    assert_eq!(body["visit"]["faults"][0]["code"], "printer_fault");

    // The reviewer returns it with a note; the note reaches wang, not li.
    let (status, body) = server.office_post(
        "chen",
        &format!("api/v1/office/visits/{repair}/review"),
        &serde_json::json!({ "decision": "return", "note": "请补拍购机凭证" }),
    );
    assert_eq!(status, 200, "{body}");
    sync(&mut wang);
    let visit = wang.visit(&repair).unwrap();
    assert_eq!(visit.status, VisitStatus::Returned);
    assert_eq!(visit.reviews[0].note.as_deref(), Some("请补拍购机凭证"));
    sync(&mut li);
    assert!(matches!(li.visit(&repair), Err(AgentError::Store(_))));

    // A visit created at the back office (by its administrator) reaches the assigned agent.
    let (status, body) = server.office_post(
        "zhou",
        "api/v1/office/visits",
        &serde_json::json!({ "kind": "sim_renewal", "merchant": "张姐水果店", "agent": "li" }),
    );
    assert_eq!(status, 201, "{body}");
    let assigned: VisitId = body["id"].as_str().unwrap().parse().unwrap();
    let report = sync(&mut li);
    assert_eq!(report.visits_received, 1);
    assert_eq!(li.visit(&assigned).unwrap().merchant.name, "张姐水果店");

    // Nothing changed: one manifest round trip.
    let report = sync(&mut wang);
    assert!(report.already_in_sync, "{report:?}");
    assert_eq!(report.visits_synced, 0);
}

/// A sync connection left open hears of the desk's decision made while it
/// is open: the server refreshes the connection's copy of the visit (samod
/// keeps one in memory per connection) from the store, and samod sends the
/// change, within 2 seconds. Here the visit is reassigned to another agent:
/// the phone holding it learns that it is no longer its own.
#[test]
fn an_open_sync_connection_is_sent_the_desks_change_within_two_seconds() {
    let dir = tempfile::tempdir().unwrap();
    let server = ServerProcess::start(&dir.path().join("server"));
    server.add_user("zhou", "admin");
    let phone = HostilePhone::enrol(&server, "wang", "device-watching");
    let _li = HostilePhone::enrol(&server, "li", "device-li");
    let (status, body) = server.office_post(
        "zhou",
        "api/v1/office/visits",
        &serde_json::json!({ "kind": "inspection", "merchant": "老王便利店", "agent": "wang" }),
    );
    assert_eq!(status, 201, "{body}");
    let id = body["id"].as_str().unwrap().to_owned();

    let (base, url) = (server.base.clone(), format!("api/v1/office/visits/{id}/assign"));
    let desk = move || {
        let answer = reqwest::blocking::Client::new()
            .post(format!("{base}{url}"))
            .header("authorization", posfield_e2e::basic("zhou"))
            .json(&serde_json::json!({ "agent": "li" }))
            .send()
            .expect("the desk's request");
        assert_eq!(answer.status(), 200, "{:?}", answer.text());
    };
    let (synced, after) = phone
        .watch_socket(&id, desk, std::time::Duration::from_secs(2))
        .expect("the open connection was not sent the desk's change within 2 s");
    let visit = VisitDoc::load(&synced.bytes.unwrap()).unwrap().visit().unwrap();
    assert_eq!(visit.assignment.agent, "li");
    eprintln!("the desk's change reached the open connection {} ms after it was made", after.as_millis());
}

#[test]
fn an_agent_setting_a_back_office_field_has_just_that_field_put_back() {
    let dir = tempfile::tempdir().unwrap();
    let server = ServerProcess::start(&dir.path().join("server"));
    server.add_user("chen", "admin");
    let mut wang = open(&dir.path().join("wang"));
    let token = wang.enroll(&server.base, &server.enrolment_code("wang"), "phone").unwrap().token;
    let id = wang.create_visit(VisitKind::Inspection, &merchant("老王便利店")).unwrap().id;
    sync(&mut wang);

    // A tampered phone writes an assignment with a reviewer's role, and a
    // note, and pushes the document with its credential as any phone does.
    let mut doc = VisitDoc::load(&wang.visit_document(&id).unwrap()).unwrap();
    doc.set_actor(b"tampered-phone");
    let forger = Actor::reviewer("wang", "device-x");
    doc.assign(&Ctx::new(forger, Timestamp(1_795_000_100_000), "forged-1"), "someone-else").unwrap();
    let agent = Actor::agent("wang", "device-x");
    doc.add_note(&Ctx::new(agent, Timestamp(1_795_000_100_001), "n-1"), "门店已搬迁").unwrap();
    server.push_documents(&token, &[&doc.save()]);
    sync(&mut wang);
    let visit = wang.visit(&id).unwrap();
    assert_eq!(visit.assignment.agent, "wang", "the assignment was put back");
    assert!(visit.notes.iter().any(|n| n.text == "门店已搬迁"), "the rest of the change survived");
    let (_, audit) = server.office_get("chen", &format!("api/v1/office/audit?visit={id}"));
    assert_eq!(audit[0]["action"], "restored_office_fields", "{audit}");
    // The history entry of the forged assignment claims a reviewer: it stays,
    // as what the agent's phone sent.
    assert_eq!(audit[0]["detail"], "assignment,history");
    let entry = visit.history.iter().find(|e| e.id == "forged-1").expect("the forged entry is kept");
    assert_eq!((entry.stamp.by.user.as_str(), entry.stamp.by.role), ("wang", posfield_shared::Role::Agent));
}

#[test]
fn a_no_change_reconnect_with_500_visits_is_one_round_trip_under_2_kb() {
    let dir = tempfile::tempdir().unwrap();
    let server = ServerProcess::start(&dir.path().join("server"));
    let wire = posfield_e2e::proxy::CuttingProxy::start(&server.addr(), 1, 1);
    wire.set_cutting(false);
    let mut agent = open(&dir.path().join("agent"));
    agent.enroll(&wire.base(), &server.enrolment_code("wang"), "phone").unwrap();
    for n in 0..500 {
        let id = agent.create_visit(VisitKind::Inspection, &merchant(&format!("商户 {n}"))).unwrap().id;
        agent.add_note(&id, "巡检正常").unwrap();
    }
    let first = sync(&mut agent);
    assert_eq!(first.visits_synced, 500);
    let (connections, bytes) = (wire.counts().0, wire.bytes());
    let report = sync(&mut agent);
    assert!(report.already_in_sync, "{report:?}");
    let (connections, bytes) = (wire.counts().0 - connections, wire.bytes() - bytes);
    assert_eq!(connections, 1, "one HTTP request on one connection");
    assert!(bytes <= 2048, "{bytes} bytes on the wire for a no-change reconnect");
}
