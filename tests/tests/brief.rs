//! The job's terminal brief and the merchant's place, through a real
//! `posfield-server` on 127.0.0.1 and a real agent core: the desk imports
//! the register and dispatches a job; the phone gets, with the job, what
//! the register knows of that merchant's terminals (their last year's
//! visits in summary, the desk's alerts) and nothing of another merchant's;
//! marks drawn on a photo reach the desk's visit page.

use posfield_core::Agent;
use posfield_core::photo::PhotoEdit;
use posfield_core::stamp::StampFont;
use posfield_core::{AgentError, VisitFilter, same_trip};
use posfield_e2e::ServerProcess;
use posfield_e2e::hostile::Desk;
use posfield_e2e::story::{open, repair_visit_at};
use posfield_shared::visit::{BriefAlert, MarkPoint, MarkShape, MerchantInput};
use posfield_shared::vocab::DocumentKind;
use posfield_shared::{Timestamp, VisitId, VisitKind, VisitStatus};

const MERCHANT_NUMBER: &str = "898310048161234";
const SERIAL: &str = "N9100001234567";
const SECOND: &str = "N9100007654321";
const ELSEWHERE: &str = "N9100000000009";

fn sync(agent: &mut Agent) {
    agent.sync(&mut |_| {}).unwrap();
}

fn world() -> (tempfile::TempDir, ServerProcess, Agent, Desk) {
    let dir = tempfile::tempdir().unwrap();
    let server = ServerProcess::start(&dir.path().join("server"));
    server.add_user("boss", "admin");
    let mut li = open(&dir.path().join("li"));
    li.enroll(&server.base, &server.enrolment_code("li"), "小米 14").unwrap();
    let desk = Desk::sign_in(&server, "boss");
    (dir, server, li, desk)
}

#[test]
fn a_job_carries_its_merchants_terminals_history_and_alerts_and_no_other_merchants() {
    let (_dir, _server, mut li, desk) = world();
    // Last month li repaired the merchant's terminal.
    let shop = MerchantInput {
        name: "老王便利店".into(),
        merchant_number: Some(MERCHANT_NUMBER.into()),
        ..Default::default()
    };
    let repair = repair_visit_at(&mut li, &shop, "code128-1/1.png", &[]);
    sync(&mut li);

    // The register: two of the merchant's terminals, one of another's.
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    let today = Timestamp::from_seconds(i64::try_from(now).unwrap()).beijing_date();
    let in_days = |days: i64| today.add_days(days).to_string();
    let csv = format!(
        "serial,model,merchant,merchant_number,state,production_date,warranty_end,sim_carrier,sim_expiry,latitude,longitude\n\
         {SERIAL},N910,老王便利店,{MERCHANT_NUMBER},installed,2020-03-15,{},china_mobile,{},31.2304,121.4737\n\
         {SECOND},A8,老王便利店,{MERCHANT_NUMBER},installed,2025-06-01,,china_unicom,{},,\n\
         {ELSEWHERE},N910,张姐水果店,898310048169999,installed,2025-06-01,,china_mobile,{},30.0,120.0\n",
        in_days(40),
        in_days(12),
        in_days(300),
        in_days(5),
    );
    let csrf = desk.csrf();
    let (status, page) = desk.post("office/terminals/import", &[("csrf", &csrf), ("csv", &csv)]);
    assert!(status == 200 && page.contains(r#"id="imported-count">3<"#), "{page}");

    // The desk sends li back for an inspection, with the shop's place.
    let (status, _) = desk.post(
        "office/visits",
        &[
            ("csrf", &csrf),
            ("kind", "inspection"),
            ("merchant", "老王便利店"),
            ("merchant_number", MERCHANT_NUMBER),
            ("location", " 31.224361，121.46917 "),
            ("agent", "li"),
        ],
    );
    assert_eq!(status, 303);
    sync(&mut li);
    let rows = li.list_visits(&VisitFilter::default()).unwrap();
    let job = rows.into_iter().find(|v| v.kind == VisitKind::Inspection).expect("the job arrived");
    let visit = li.visit(&job.id).unwrap();
    let place = visit.merchant.location.expect("the shop's place travelled with the job");
    assert_eq!((place.lat_e6, place.lon_e6), (31_224_361, 121_469_170));

    let brief = visit.assignment.brief.expect("the job carries a brief");
    let serials: Vec<&str> = brief.terminals.iter().map(|t| t.serial.as_str()).collect();
    assert_eq!(serials, [SERIAL, SECOND], "the merchant's terminals only");
    let first = brief.terminal(SERIAL).unwrap();
    assert_eq!(first.model.as_deref(), Some("N910"));
    assert_eq!(first.sim_expiry, Some(today.add_days(12)));
    assert_eq!(first.repairs_last_year, 1);
    assert_eq!(first.visits.len(), 1, "last month's repair, in summary");
    assert_eq!(first.visits[0].kind, VisitKind::Repair);
    assert_eq!(first.visits[0].status, VisitStatus::Completed);
    for alert in [BriefAlert::SimExpiring, BriefAlert::WarrantyEnding, BriefAlert::OldTerminal] {
        assert!(first.alerts.contains(&alert.into()), "{alert:?} in {:?}", first.alerts);
    }
    let second = brief.terminal(SECOND).unwrap();
    assert!(second.visits.is_empty() && second.alerts.is_empty(), "{second:?}");
    // The summary names no visit: another agent's evidence stays on the server.
    let json = serde_json::to_string(&brief).unwrap();
    assert!(!json.contains(repair.as_str()), "{json}");

    // At the terminal: identified, its plan ends in 12 days, so a renewal
    // is offered; taken, it is a job of its own, linked, and reaches the desk.
    li.identify_typed(&job.id, SERIAL, false).unwrap();
    let visit = li.visit(&job.id).unwrap();
    assert_eq!(same_trip::identified(&visit).map(|t| t.serial.as_str()), Some(SERIAL));
    assert_eq!(same_trip::renewal_offer(&visit, today), Some(12));
    let renewal = li.renew_on_same_trip(&job.id).unwrap();
    assert_eq!(li.renew_on_same_trip(&job.id).unwrap(), renewal, "asked again, the same renewal");
    let visit = li.visit(&job.id).unwrap();
    assert_eq!(same_trip::renewal_offer(&visit, today), None, "offered once");
    assert_eq!(same_trip::linked_renewal(&visit), Some(renewal.clone()));
    let created = li.visit(&renewal).unwrap();
    assert_eq!(
        (created.kind, created.merchant.merchant_number.as_deref()),
        (VisitKind::SimRenewal, Some(MERCHANT_NUMBER))
    );
    assert_eq!(created.merchant.location, Some(place), "the shop's place goes with it");
    sync(&mut li);
    let (status, page) = desk.get(&format!("office/visits/{renewal}"));
    assert_eq!(status, 200, "the renewal reached the desk");
    assert!(page.contains(job.id.as_str()), "its note names the job it came from");

    // Dispatched with no place typed, a job takes the one the register's import gave.
    let (status, _) = desk.post(
        "office/visits",
        &[
            ("csrf", &csrf),
            ("kind", "sim_renewal"),
            ("merchant", "老王便利店"),
            ("merchant_number", MERCHANT_NUMBER),
            ("agent", "li"),
        ],
    );
    assert_eq!(status, 303);
    sync(&mut li);
    let rows = li.list_visits(&VisitFilter::default()).unwrap();
    let second =
        rows.iter().find(|v| v.kind == VisitKind::SimRenewal && v.id != renewal).expect("the second job");
    let place = li.visit(&second.id).unwrap().merchant.location.expect("the register's place");
    assert_eq!((place.lat_e6, place.lon_e6), (31_230_400, 121_473_700));

    // A place that is not one is refused with words, and nothing is created.
    let (status, page) = desk.post(
        "office/visits",
        &[("csrf", &csrf), ("kind", "repair"), ("merchant", "x"), ("location", "31.2"), ("agent", "li")],
    );
    assert_eq!(status, 409, "{page}");
    assert!(page.contains("纬度"), "{page}");
}

#[test]
fn marks_drawn_on_the_phone_are_drawn_over_the_photo_on_the_desks_page() {
    let (_dir, _server, mut li, desk) = world();
    let shop = MerchantInput { name: "老王便利店".into(), ..Default::default() };
    let id: VisitId = posfield_e2e::story::repair_visit_unsigned(&mut li, &shop, "code128-1/1.png");
    let photo = li.visit(&id).unwrap().documents[0].sha256.clone();
    let photo_hash = photo.parse().unwrap();
    let at = |x, y| MarkPoint { x, y };
    li.annotate(&id, &photo_hash, MarkShape::Arrow, at(100, 100), at(400, 300), None).unwrap();
    li.annotate(&id, &photo_hash, MarkShape::Text, at(500, 600), at(500, 600), Some("<b>屏幕裂</b>"))
        .unwrap();
    let circle = li.annotate(&id, &photo_hash, MarkShape::Circle, at(10, 10), at(90, 90), None).unwrap();
    li.rub_out(&id, &circle.annotations[2].id).unwrap();
    // A stamped photo: refused with its reason on a phone without a CJK
    // font (nothing stored), stored stamped once there is one.
    let label = std::fs::read(posfield_e2e::story::testdata("code128-1/2.png")).unwrap();
    let kind = DocumentKind::TerminalPhoto;
    let refused = li.add_photo_stamped(&id, &label, kind, &PhotoEdit::default(), true);
    assert!(matches!(refused, Err(AgentError::NoStampFont)), "{refused:?}");
    assert_eq!(li.visit(&id).unwrap().documents.len(), 1, "nothing stored");
    li.set_stamp_font(StampFont::system());
    let stamped = li.add_photo_stamped(&id, &label, kind, &PhotoEdit::default(), true).unwrap();
    let plain = li.add_photo(&id, &label, kind).unwrap();
    assert_ne!(stamped.sha256, plain.sha256, "the stamp is in the stored pixels");
    sync(&mut li);
    let (status, bytes) = desk.get_bytes(&format!("office/blobs/{}", stamped.sha256));
    assert_eq!(status, 200);
    assert_eq!(
        posfield_shared::BlobHash::of(&bytes).as_str(),
        stamped.sha256,
        "the desk has the stamped photo"
    );

    let (status, page) = desk.get(&format!("office/visits/{id}"));
    assert_eq!(status, 200);
    assert!(page.contains(r#"class="marked" data-marks="2""#), "two marks drawn");
    assert!(
        page.contains("<line ") && page.contains("&lt;b&gt;屏幕裂&lt;/b&gt;"),
        "the arrow and the escaped text"
    );
    assert!(!page.contains("<ellipse"), "the rubbed-out circle is not drawn");
    // The photo itself is served as taken.
    let (status, bytes) = desk.get_bytes(&format!("office/blobs/{photo}"));
    assert_eq!(status, 200);
    assert_eq!(posfield_shared::BlobHash::of(&bytes).as_str(), photo);
}
