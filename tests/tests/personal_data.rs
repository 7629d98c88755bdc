//! Personal data at the back office: every view of a photo of an ID card
//! or a bank card is in the audit log, with who looked and how; other
//! photos are shown without a row; the merchant's registered phone is
//! masked for a reviewer in lists, exports and the certificate. A real
//! server on 127.0.0.1, a real agent core, office users signed in through
//! the pages.

use posfield_e2e::ServerProcess;
use posfield_e2e::hostile::Desk;
use posfield_e2e::story::{merchant, open, open_at, repair_visit_at, repair_visit_with_photos, testdata};
use posfield_shared::visit::MerchantInput;
use posfield_shared::vocab::DocumentKind;
use posfield_shared::{BlobHash, VisitKind};

/// A server in `dir` with an administrator (zhou) and a reviewer (chen),
/// and agent wang's phone enrolled with it.
fn desk_and_agent(dir: &std::path::Path) -> (ServerProcess, posfield_core::Agent) {
    let server = ServerProcess::start(&dir.join("server"));
    server.add_user("zhou", "admin");
    server.add_user("chen", "reviewer");
    let mut wang = open(&dir.join("wang"));
    wang.enroll(&server.base, &server.enrolment_code("wang"), "华为 Mate 60").unwrap();
    (server, wang)
}

/// Where each role sees the merchant's registered phone whole (`true`) or
/// masked: the visit list, the CSV export, the certificate, the visit's
/// page, and the numbers its history shows before and after each change
/// (the rule's table, `sync-server/src/personal.rs`, seen from outside).
#[test]
fn a_reviewer_sees_the_registered_phone_masked_in_lists_exports_and_the_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let (server, mut wang) = desk_and_agent(dir.path());
    let shop = MerchantInput { phone: Some("13812345678".into()), ..merchant("老王便利店") };
    let id = repair_visit_at(&mut wang, &shop, "code128-1/1.png", &[]);
    wang.sync(&mut |_| {}).unwrap();
    let (whole, masked) = ("13812345678", "138****5678");

    // (user, list, export, certificate, visit page, its history): whole or not.
    let table = [("zhou", true, true, true, true, true), ("chen", false, false, false, true, false)];
    for (user, list, export, certificate, page, history) in table {
        let desk = Desk::sign_in(&server, user);
        let shown = |text: &str, whole_expected: bool, place: &str| {
            let (expected, other) = if whole_expected { (whole, masked) } else { (masked, whole) };
            assert!(text.contains(expected), "{user} should see {expected} in the {place}");
            assert!(!text.contains(other), "{user} sees {other} in the {place}");
        };
        let (status, body) = desk.get("office/visits");
        assert_eq!(status, 200);
        shown(&body, list, "visit list");
        let (status, body) = desk.get("office/visits/export.csv");
        assert_eq!(status, 200);
        shown(&body, export, "CSV export");
        assert!(body.lines().next().unwrap().contains("merchant_phone"), "{body}");
        let (status, body) = desk.get(&format!("office/visits/{id}"));
        assert_eq!(status, 200);
        // The history (the visit's creation set the phone) is the page's last section.
        let (page_body, history_body) =
            body.split_at(body.find("<section class=\"card\" id=\"history\">").unwrap());
        shown(page_body, page, "visit's page");
        shown(history_body, history, "visit's history");
        // The certificate's text is set in glyphs; its ToUnicode map names
        // every character used (`<glyph> <code>`), so `*` (U+002A) is there only when masked.
        let (status, pdf) = desk.get_bytes(&format!("office/visits/{id}/certificate.pdf"));
        assert_eq!(status, 200);
        let pdf = String::from_utf8_lossy(&pdf);
        assert!(
            pdf.contains("> <002A>") != certificate,
            "{user}: the certificate's phone is not as the table says"
        );
    }
}

#[test]
fn a_reviewers_view_of_an_id_photo_is_in_the_audit_log() {
    let dir = tempfile::tempdir().unwrap();
    let (server, mut wang) = desk_and_agent(dir.path());
    let id = wang.create_visit(VisitKind::Installation, &merchant("老王便利店")).unwrap().id;
    let photo = |name: &str| std::fs::read(testdata(name)).unwrap();
    let id_card = wang.add_photo(&id, &photo("code128-1/1.png"), DocumentKind::IdCard).unwrap().sha256;
    let licence =
        wang.add_photo(&id, &photo("code128-1/2.png"), DocumentKind::BusinessLicence).unwrap().sha256;
    wang.sync(&mut |_| {}).unwrap();

    let chen = Desk::sign_in(&server, "chen");
    for path in [
        format!("office/blobs/{id_card}?w=1"),
        format!("office/blobs/{id_card}"),
        format!("office/blobs/{licence}"),
    ] {
        let (status, bytes) = chen.get_bytes(&path);
        assert_eq!(status, 200, "{path}");
        assert!(!bytes.is_empty());
    }

    let (status, audit) = server.office_get("zhou", &format!("api/v1/office/audit?visit={id}"));
    assert_eq!(status, 200, "{audit}");
    let views: Vec<(String, String)> = audit
        .as_array()
        .unwrap()
        .iter()
        .filter(|row| row["action"] == "viewed_personal_document")
        .map(|row| (row["actor"].as_str().unwrap().to_owned(), row["detail"].as_str().unwrap().to_owned()))
        .collect();
    assert_eq!(
        views.len(),
        2,
        "one row for the thumbnail and one for the full size of the ID card, none for the licence: {views:?}"
    );
    for (actor, detail) in &views {
        assert_eq!(actor, "chen");
        assert!(detail.starts_with("id_card ") && detail.contains(id_card.as_str()), "{detail}");
    }
    assert!(
        views.iter().any(|(_, d)| d.ends_with("(thumbnail)"))
            && views.iter().any(|(_, d)| d.ends_with("(full size)"))
    );
}

/// After approval and the server's `personal_photo_days_on_phone` (here
/// none), the phone's next sync deletes the visit's ID card photo and keeps
/// its other photos; the server keeps the ID card photo.
#[test]
fn an_approved_visits_id_photo_leaves_the_phone_and_stays_on_the_server() {
    let dir = tempfile::tempdir().unwrap();
    let server = ServerProcess::start_configured(
        &dir.path().join("server"),
        "127.0.0.1:0",
        "personal_photo_days_on_phone = 0\n",
    );
    server.add_user("chen", "reviewer");
    // The phone's clock reads what the server's does: the approval's time
    // is the server's, and the days count from it.
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap();
    let mut wang = open_at(&dir.path().join("wang"), i64::try_from(now.as_millis()).unwrap() + 60_000);
    wang.enroll(&server.base, &server.enrolment_code("wang"), "华为 Mate 60").unwrap();
    let others = [("code128-1/3.png", DocumentKind::IdCard)];
    let id = repair_visit_with_photos(&mut wang, "code128-1/1.png", &others);
    let documents = wang.visit(&id).unwrap().documents;
    let sha_of = |kind: DocumentKind| {
        let found = documents.iter().find(|d| d.kind.known() == Some(kind)).expect("the photo");
        BlobHash::parse(&found.sha256).unwrap()
    };
    let (id_card, proof) = (sha_of(DocumentKind::IdCard), sha_of(DocumentKind::PurchaseProof));
    let report = wang.sync(&mut |_| {}).unwrap();
    assert_eq!(report.personal_photos_removed, 0, "not approved yet: {report:?}");
    assert!(wang.photo_bytes(&id, &id_card).is_ok());

    let (status, body) = server.office_post(
        "chen",
        &format!("api/v1/office/visits/{id}/review"),
        &serde_json::json!({"decision": "approve"}),
    );
    assert_eq!(status, 200, "{body}");
    let report = wang.sync(&mut |_| {}).unwrap();
    assert_eq!(report.personal_photos_removed, 1, "{report:?}");
    assert!(wang.photo_bytes(&id, &id_card).is_err(), "the ID card photo is still on the phone");
    assert!(wang.photo_bytes(&id, &proof).is_ok(), "the purchase proof went too");
    // The app says the photo is kept by the server, instead of a blank.
    let visit = wang.visit(&id).unwrap();
    let gone = wang.visit_sync_state(&visit).unwrap().files_gone_from_phone;
    assert_eq!(gone.into_iter().collect::<Vec<_>>(), std::slice::from_ref(&id_card));
    let chen = Desk::sign_in(&server, "chen");
    let (status, _) = chen.get_bytes(&format!("office/blobs/{id_card}"));
    assert_eq!(status, 200, "the server keeps the ID card photo");
    // The next sync has nothing to send and deletes nothing more.
    let report = wang.sync(&mut |_| {}).unwrap();
    assert_eq!(report.personal_photos_removed, 0, "{report:?}");
    assert!(report.already_in_sync, "{report:?}");
}
