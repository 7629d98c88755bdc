//! Documents of other schema versions travel through a real server and
//! real agent cores without losing anything: an older version's visit stays
//! editable everywhere, and a newer version's visit arrives whole, is
//! read-only on a phone that may not edit it, and keeps the fields and codes
//! that phone does not know (docs/compatibility.md).

use posfield_core::Agent;
use posfield_e2e::ServerProcess;
use posfield_e2e::story::{open, schema_fixture as fixture};
use posfield_shared::VisitId;
use posfield_shared::visit::{SCHEMA_VERSION, losses, raw_json};

fn visit_id(bytes: &[u8]) -> VisitId {
    raw_json(bytes).unwrap()["id"].as_str().unwrap().parse().unwrap()
}

fn sync(agent: &mut Agent) {
    agent.sync(&mut |_| {}).unwrap();
}

/// What `copy` lost of `original`, as automerge holds them.
fn lost(original: &[u8], copy: &[u8]) -> Vec<String> {
    losses(&raw_json(original).unwrap(), &raw_json(copy).unwrap())
}

#[test]
fn an_older_and_a_newer_versions_visits_cross_server_and_phones_without_losing_anything() {
    let older = fixture(&format!("v{}.automerge", SCHEMA_VERSION - 1));
    let newer = fixture(&format!("v{}-breaking.automerge", SCHEMA_VERSION + 1));
    let (older_id, newer_id) = (visit_id(&older), visit_id(&newer));
    let dir = tempfile::tempdir().unwrap();
    let server = ServerProcess::start(&dir.path().join("server"));
    server.add_user("chen", "reviewer");
    server.add_user("zhou", "admin");

    // The documents reach the server as the phones of those versions send
    // the visits they hold: a push with the first phone's credential.
    let mut first = open(&dir.path().join("first"));
    let token = first.enroll(&server.base, &server.enrolment_code("wang"), "旧手机").unwrap().token;
    server.push_documents(&token, &[&older, &newer]);

    // The server keeps and shows both; a desk action on the newer one is
    // refused in words, and it stays as it came.
    for id in [&older_id, &newer_id] {
        let (status, body) = server.office_get("chen", &format!("api/v1/office/visits/{id}"));
        assert_eq!(status, 200, "{body}");
    }
    let (_, body) = server.office_get("chen", &format!("api/v1/office/visits/{newer_id}"));
    assert_eq!(body["read_only"], true, "{body}");
    assert_eq!(body["visit"]["documents"][0]["kind"], "drone_photo");
    let (status, body) = server.office_post(
        "zhou",
        &format!("api/v1/office/visits/{newer_id}/assign"),
        &serde_json::json!({ "agent": "wang" }),
    );
    assert_eq!(status, 409, "{body}");
    assert!(body["message"].as_str().unwrap().contains("newer version of the app"), "{body}");

    // Another phone of the same agent receives both from the server.
    let mut second = open(&dir.path().join("second"));
    second.enroll(&server.base, &server.enrolment_code("wang"), "新手机").unwrap();
    sync(&mut second);
    assert_eq!(lost(&older, &second.visit_document(&older_id).unwrap()), Vec::<String>::new());
    assert_eq!(lost(&newer, &second.visit_document(&newer_id).unwrap()), Vec::<String>::new());

    // The older version's visit is editable there; the newer one is shown
    // and every edit of it is refused with the words to update the app.
    second.add_note(&older_id, "新版本手机上的修改").unwrap();
    let shown = second.visit(&newer_id).unwrap();
    assert!(!shown.editable_by(SCHEMA_VERSION));
    assert_eq!(shown.faults[0].code.code(), "nfc_antenna_fault");
    let refused = second.add_note(&newer_id, "改不了").unwrap_err();
    assert_eq!(refused.code(), "newer_schema", "{refused}");
    assert!(refused.to_string().contains("update the app to change it"), "{refused}");
    sync(&mut second);

    // Back through the server to a third phone: the edit of the older visit
    // arrived and nothing of either visit was lost on the way.
    let mut third = open(&dir.path().join("third"));
    third.enroll(&server.base, &server.enrolment_code("wang"), "第三部手机").unwrap();
    sync(&mut third);
    let older_now = third.visit_document(&older_id).unwrap();
    assert_eq!(lost(&older, &older_now), Vec::<String>::new());
    assert!(third.visit(&older_id).unwrap().notes.iter().any(|n| n.text == "新版本手机上的修改"));
    assert_eq!(third.visit(&older_id).unwrap().written_by, Some(SCHEMA_VERSION));
    let newer_now = third.visit_document(&newer_id).unwrap();
    assert_eq!(lost(&newer, &newer_now), Vec::<String>::new());
    let json = raw_json(&newer_now).unwrap();
    assert_eq!(json["inspection_window"]["from"], "2027-01-01");
    assert_eq!(json["faults"][0]["severity"], "high");
    assert_eq!(json["documents"][0]["kind"], "drone_photo");
    assert_eq!(json["sim"]["carrier"], "china_broadnet");
    assert_eq!(json["repair"]["warranty"]["value"], "extended_warranty");

    // The first phone syncs too and still holds both whole.
    sync(&mut first);
    assert_eq!(lost(&older_now, &first.visit_document(&older_id).unwrap()), Vec::<String>::new());
    assert_eq!(lost(&newer, &first.visit_document(&newer_id).unwrap()), Vec::<String>::new());
}

#[test]
fn a_newer_versions_additive_visit_is_edited_on_an_older_phone_and_keeps_what_that_phone_does_not_know() {
    let newer = fixture(&format!("v{}-additive.automerge", SCHEMA_VERSION + 1));
    let id = visit_id(&newer);
    let dir = tempfile::tempdir().unwrap();
    let server = ServerProcess::start(&dir.path().join("server"));
    server.add_user("chen", "reviewer");
    let mut first = open(&dir.path().join("first"));
    let token = first.enroll(&server.base, &server.enrolment_code("wang"), "新版本手机").unwrap().token;
    server.push_documents(&token, &[&newer]);

    let mut older_phone = open(&dir.path().join("older"));
    older_phone.enroll(&server.base, &server.enrolment_code("wang"), "旧版本手机").unwrap();
    sync(&mut older_phone);
    let fault = older_phone.visit(&id).unwrap().faults[0].id.clone();
    older_phone.add_attempt(&id, &fault, None, Some("换了天线"), true).unwrap();
    sync(&mut older_phone);

    sync(&mut first);
    let after = first.visit_document(&id).unwrap();
    assert_eq!(lost(&newer, &after), Vec::<String>::new());
    let json = raw_json(&after).unwrap();
    assert_eq!(json["faults"][0]["attempts"][1]["description"], "换了天线");
    assert_eq!(json["faults"][0]["code"], "nfc_antenna_fault");
    assert_eq!(json["written_by"], SCHEMA_VERSION + 1, "the newest writer's version is never lowered");
    let (status, body) = server.office_get("chen", &format!("api/v1/office/visits/{id}"));
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["read_only"], false, "{body}");
}
