//! The merchant's verification page: the address the phone's QR code
//! carries after signing, served by a real server once the phone synced.
//! It shows what the merchant signed and whether the visit still matches,
//! where the review stands, and nothing else; every other address, and too
//! many requests, get nothing.

use posfield_core::Agent;
use posfield_e2e::ServerProcess;
use posfield_e2e::story::{merchant, open, repair_visit_at, repair_visit_unsigned, strokes};
use posfield_shared::VisitId;
use posfield_shared::vocab::RepairPlan;

const REVIEWER: &str = "chen";

fn enrolled(server: &ServerProcess, dir: &std::path::Path) -> Agent {
    let mut agent = open(dir);
    let code = server.enrolment_code("agent-wang");
    agent.enroll(&server.base, &code, "王师傅的手机").unwrap();
    agent
}

/// The page at `url`: its status, `Retry-After` and body.
fn page(server: &ServerProcess, url: &str) -> (u16, Option<String>, String) {
    let response = server.client().get(url).send().unwrap();
    let retry = response.headers().get("retry-after").map(|v| v.to_str().unwrap().to_owned());
    (response.status().as_u16(), retry, response.text().unwrap())
}

/// The page of `id`'s acceptance, at the address the phone shows in its QR code.
fn verification(agent: &mut Agent, id: &VisitId) -> String {
    let shown = agent.verification(id).unwrap().expect("a signed visit of an enrolled phone has a code");
    // The code carries exactly the address shown under it.
    let svg = &shown.qr_svg;
    assert!(svg.starts_with("<svg") && svg.contains("viewBox"), "{svg}");
    shown.url
}

#[test]
fn the_merchant_sees_what_they_signed_whether_it_still_matches_and_nothing_else() {
    let dir = tempfile::tempdir().unwrap();
    let server = ServerProcess::start(&dir.path().join("server"));
    server.add_user(REVIEWER, "reviewer");
    let mut agent = enrolled(&server, &dir.path().join("agent"));
    let mut shop = merchant("老王便利店");
    shop.phone = Some("13800138000".into());
    shop.address = Some("上海市浦东新区张杨路 500 号".into());
    let id = repair_visit_at(&mut agent, &shop, "code128-1/1.png", &[]);
    let url = verification(&mut agent, &id);
    assert!(url.starts_with(&format!("{}verify/{id}?h=", server.base)), "{url}");

    // Before the phone synced, the server knows nothing of it.
    let (status, _, body) = page(&server, &url);
    assert_eq!(status, 404);
    assert!(body.contains("data-state=\"not_found\""), "{body}");

    agent.sync(&mut |_| {}).unwrap();
    let (status, _, body) = page(&server, &url);
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("data-state=\"matches\""), "{body}");
    for shown in
        ["商户名称：老王便利店", "终端机身号：N9100001234567", "本人确认以上服务已完成", "王老板", "待审核"]
    {
        assert!(body.contains(shown), "{shown} is on the page: {body}");
    }
    assert!(body.contains("id=\"verify-signature\" ") || body.contains("id=\"verify-signature\">"), "{body}");
    // Nothing else of the visit: not the phone, the address or any photo.
    for hidden in ["13800138000", "138 0013 8000", "张杨路", "/office/blobs", "purchase_proof"] {
        assert!(!body.contains(hidden), "{hidden} is not on the page");
    }
    assert_eq!(body.matches("<img ").count(), 1, "the signature is the only image");

    // The back office approves: the page says so.
    let (status, _) = server.office_post(
        REVIEWER,
        &format!("api/v1/office/visits/{id}/review"),
        &serde_json::json!({ "decision": "approve" }),
    );
    assert_eq!(status, 200);
    let (_, _, body) = page(&server, &url);
    assert!(body.contains("已审核通过") && body.contains("data-state=\"matches\""), "{body}");

    // Every other address finds nothing, and says the same.
    let hash = url.rsplit_once("h=").unwrap().1.to_owned();
    let other = "0".repeat(64);
    let unknown = uuid::Uuid::now_v7();
    for wrong in [
        server.url(&format!("verify/{id}?h={other}")),
        server.url(&format!("verify/{id}")),
        server.url(&format!("verify/{id}?h={}", hash.to_uppercase())),
        server.url(&format!("verify/{id}?h=../../server-blob.keys")),
        server.url(&format!("verify/{unknown}?h={hash}")),
        server.url(&format!("verify/..%2F..%2Fposfield.db?h={hash}")),
        server.url(&format!("verify/{}?h={hash}", "x".repeat(5000))),
    ] {
        let (status, _, body) = page(&server, &wrong);
        assert_eq!(status, 404, "{wrong}");
        assert!(body.contains("data-state=\"not_found\""), "{wrong}: {body}");
        assert!(!body.contains("老王便利店"), "{wrong}");
    }
}

#[test]
fn a_visit_changed_after_signing_shows_what_changed_in_words() {
    let dir = tempfile::tempdir().unwrap();
    let server = ServerProcess::start(&dir.path().join("server"));
    let mut agent = enrolled(&server, &dir.path().join("agent"));
    let id = repair_visit_unsigned(&mut agent, &merchant("街角咖啡"), "code128-1/2.png");
    agent.sign(&id, "李老板", &strokes()).unwrap();
    let url = verification(&mut agent, &id);
    agent.set_repair_plan(&id, RepairPlan::Replaced).unwrap();
    agent.sync(&mut |_| {}).unwrap();
    let (status, _, body) = page(&server, &url);
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("data-state=\"changed\""), "{body}");
    assert!(body.contains("签字后以下内容有变更：维修方案"), "{body}");
    assert!(!body.contains("outcome.repair_plan"), "no field codes before the merchant");
}

#[test]
fn too_many_checks_from_one_address_are_refused_for_a_while_found_or_not() {
    let dir = tempfile::tempdir().unwrap();
    let server = ServerProcess::start_configured(
        &dir.path().join("server"),
        "127.0.0.1:0",
        "verifications_per_address = 3\n",
    );
    let url = server.url(&format!("verify/{}?h={}", uuid::Uuid::now_v7(), "a".repeat(64)));
    for _ in 0..3 {
        assert_eq!(page(&server, &url).0, 404);
    }
    let (status, retry, body) = page(&server, &url);
    assert_eq!(status, 429);
    let retry: i64 = retry.expect("Retry-After").parse().unwrap();
    assert!((1..=60).contains(&retry), "{retry}");
    assert!(body.contains("data-state=\"throttled\""), "{body}");
    // The server still serves everything else.
    assert!(server.client().get(server.url("healthz")).send().unwrap().status().is_success());
}
