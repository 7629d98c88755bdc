//! Secrets and personal data stay out of the server's logs: the whole flow
//! (enrol, sync a visit with a photo and a signature, a back-office review)
//! against a server logging at TRACE, then the log is searched.

use posfield_core::VisitFilter;
use posfield_e2e::story::{open, repair_visit};
use posfield_e2e::{ServerProcess, basic};
use posfield_shared::VisitKind;
use posfield_shared::visit::MerchantInput;

#[test]
fn no_token_code_password_or_phone_number_reaches_the_trace_log() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("server.log");
    let server = ServerProcess::start_tracing_to(&dir.path().join("server"), &log);
    server.add_user("chen", "reviewer");
    let code = server.enrolment_code("agent-wang");
    let mut agent = open(&dir.path().join("agent"));
    let token = agent.enroll(&server.base, &code, "王师傅的手机").unwrap().token;
    let phone = "13912345678";
    let merchant = MerchantInput {
        name: "张记水果店".into(),
        phone: Some(phone.into()),
        merchant_number: Some("898310048161234".into()),
        ..Default::default()
    };
    let inspection = agent.create_visit(VisitKind::Inspection, &merchant).unwrap().id;
    agent.add_note(&inspection, &format!("商户电话 {phone}")).unwrap();
    let repair = repair_visit(&mut agent);
    agent.sync(&mut |_| {}).unwrap();
    let (status, _) = server.office_post(
        "chen",
        &format!("api/v1/office/visits/{repair}/review"),
        &serde_json::json!({ "decision": "return", "note": "照片不清楚" }),
    );
    assert_eq!(status, 200);
    agent.sync(&mut |_| {}).unwrap();
    assert_eq!(agent.list_visits(&VisitFilter::default()).unwrap().len(), 2);
    server.kill();

    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.lines().filter(|l| l.contains("TRACE")).count() > 10, "the server did not log at TRACE");
    assert!(text.contains("/api/v1/sync/manifest"), "requests are logged");
    let authorization = basic("chen");
    let secrets = [
        ("device token", token.as_str()),
        ("enrolment code", code.as_str()),
        ("enrolment code without dashes", &code.replace('-', "")),
        ("back-office password", "correct horse battery"),
        ("Basic credentials", authorization.trim_start_matches("Basic ")),
        ("merchant phone number", phone),
    ];
    for (what, secret) in secrets {
        assert!(!text.contains(secret), "the {what} is in the server's log");
    }
}
