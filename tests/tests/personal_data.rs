//! Personal data at the back office: every view of a photo of an ID card
//! or a bank card is in the audit log, with who looked and how; other
//! photos are shown without a row. A real server on 127.0.0.1, a real
//! agent core, a reviewer signed in through the pages.

use posfield_e2e::ServerProcess;
use posfield_e2e::hostile::Desk;
use posfield_e2e::story::{merchant, open, testdata};
use posfield_shared::VisitKind;
use posfield_shared::vocab::DocumentKind;

#[test]
fn a_reviewers_view_of_an_id_photo_is_in_the_audit_log() {
    let dir = tempfile::tempdir().unwrap();
    let server = ServerProcess::start(&dir.path().join("server"));
    server.add_user("zhou", "admin");
    server.add_user("chen", "reviewer");
    let mut wang = open(&dir.path().join("wang"));
    wang.enroll(&server.base, &server.enrolment_code("wang"), "华为 Mate 60").unwrap();
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
