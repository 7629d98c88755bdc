//! Visits dispatched from the alerts, through a real `posfield-server` on
//! 127.0.0.1 and a real agent core: the desk ticks SIM cards about to
//! expire, confirms a page that names how many, and gets a line per
//! terminal (made, already open, not in the register, not a serial); the
//! alert's rows then show the visits they became, a second dispatch makes
//! none twice, and the agent's sync brings the jobs home for the day set.

use posfield_core::{Agent, VisitFilter};
use posfield_e2e::ServerProcess;
use posfield_e2e::hostile::Desk;
use posfield_e2e::story::open;
use posfield_shared::{Timestamp, VisitKind};

const SERIALS: [&str; 3] = ["N9100000000101", "N9100000000102", "N9100000000103"];
const UNREGISTERED: &str = "N9100000000999";

fn today() -> posfield_shared::CalendarDate {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    Timestamp::from_seconds(i64::try_from(now).unwrap()).beijing_date()
}

#[test]
fn ticked_sim_alerts_become_renewals_on_the_agents_phone_each_once() {
    let dir = tempfile::tempdir().unwrap();
    let server = ServerProcess::start(&dir.path().join("server"));
    server.add_user("boss", "admin");
    let mut li: Agent = open(&dir.path().join("li"));
    li.enroll(&server.base, &server.enrolment_code("li"), "小米 14").unwrap();
    let desk = Desk::sign_in(&server, "boss");
    let csrf = desk.csrf();

    // Three SIM cards expiring (one already expired), each at its merchant.
    let today = today();
    let csv = format!(
        "serial,model,merchant,merchant_number,state,sim_carrier,sim_iccid,sim_expiry\n\
         {},N910,老王便利店,898310048161234,installed,china_mobile,89860012345678901238,{}\n\
         {},N910,张姐水果店,898310048169999,installed,china_unicom,89860112345678901237,{}\n\
         {},A8,李记面馆,898310048165555,installed,china_telecom,89860312345678901235,{}\n",
        SERIALS[0],
        today.add_days(-3),
        SERIALS[1],
        today.add_days(5),
        SERIALS[2],
        today.add_days(20),
    );
    let (status, page) = desk.post("office/terminals/import", &[("csrf", &csrf), ("csv", &csv)]);
    assert!(status == 200 && page.contains(r#"id="imported-count">3<"#), "{page}");

    let (status, alerts) = desk.get("office/alerts");
    assert_eq!(status, 200);
    for serial in SERIALS {
        assert!(alerts.contains(&format!(r#"name="serial" value="{serial}""#)), "{serial} can be ticked");
    }
    assert!(alerts.contains("已过期 3 天"), "days overdue are shown");

    let day = today.add_days(2).to_string();
    let mut form: Vec<(&str, &str)> =
        vec![("csrf", &csrf), ("kind", "sim_renewal"), ("agent", "li"), ("day", &day)];
    form.extend(SERIALS.iter().map(|s| ("serial", *s)));
    form.extend([("serial", UNREGISTERED), ("serial", "N91?!")]);

    // First the confirmation: it names how many, and nothing is made yet.
    let (status, page) = desk.post("office/alerts/dispatch", &form);
    assert_eq!(status, 200, "{page}");
    assert!(page.contains(r#"id="dispatch-count">5<"#), "{page}");
    assert!(!desk.get("office/alerts").1.contains("became"), "nothing dispatched before the confirmation");

    form.push(("confirmed", "1"));
    let (status, page) = desk.post("office/alerts/dispatch", &form);
    assert_eq!(status, 200, "{page}");
    assert!(page.contains(r#"id="dispatch-created">3<"#), "three made: {page}");
    assert!(page.contains("终端登记表中没有这个序列号"), "the unregistered serial says why");
    assert!(page.contains("序列号无效"), "the typo says why");

    // The alert's rows now show the visit each became, and a second
    // dispatch of the same terminals makes nothing new.
    let (_, alerts) = desk.get("office/alerts");
    assert_eq!(alerts.matches(r#"class="became""#).count(), 3, "{alerts}");
    let (_, again) = desk.post("office/alerts/dispatch", &form);
    assert!(again.contains(r#"id="dispatch-created">0<"#), "{again}");
    assert_eq!(again.matches("已有未完成的同类上门").count(), 3);

    // A reviewer cannot dispatch.
    server.add_user("chen", "reviewer");
    let reviewer = Desk::sign_in(&server, "chen");
    let mut theirs = form.clone();
    let reviewer_csrf = reviewer.csrf();
    theirs[0] = ("csrf", &reviewer_csrf);
    let (status, _) = reviewer.post("office/alerts/dispatch", &theirs);
    assert_eq!(status, 403);

    // The agent's phone gets the three jobs, each for its terminal's merchant, on the day.
    li.sync(&mut |_| {}).unwrap();
    let jobs: Vec<_> = li
        .list_visits(&VisitFilter::default())
        .unwrap()
        .into_iter()
        .filter(|v| v.kind == VisitKind::SimRenewal)
        .collect();
    assert_eq!(jobs.len(), 3);
    let mut expected: Vec<String> = Vec::new();
    for job in &jobs {
        let visit = li.visit(&job.id).unwrap();
        assert_eq!(visit.assignment.schedule.as_ref().map(|s| s.day.to_string()), Some(day.clone()));
        expected.extend(visit.expected_serials());
    }
    expected.sort();
    assert_eq!(expected, SERIALS);
}

/// Approving and reassigning the visits ticked in the list: a visit that
/// is not complete is listed with what it misses and left as it was, the
/// complete one is approved; reassigned visits reach the other agent.
#[test]
fn a_bulk_approval_does_what_can_be_done_and_says_why_not_for_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let server = ServerProcess::start(&dir.path().join("server"));
    server.add_user("boss", "admin");
    server.add_user("chen", "reviewer");
    let mut li: Agent = open(&dir.path().join("li"));
    li.enroll(&server.base, &server.enrolment_code("li"), "小米 14").unwrap();
    let mut wang: Agent = open(&dir.path().join("wang"));
    wang.enroll(&server.base, &server.enrolment_code("wang"), "华为 P60").unwrap();
    let shop = posfield_shared::visit::MerchantInput { name: "老王便利店".into(), ..Default::default() };
    let complete = posfield_e2e::story::repair_visit_at(&mut li, &shop, "code128-1/1.png", &[]);
    let draft = li.create_visit(VisitKind::Inspection, &shop).unwrap().id;
    li.sync(&mut |_| {}).unwrap();

    let reviewer = Desk::sign_in(&server, "chen");
    let csrf = reviewer.csrf();
    let ids = [complete.as_str(), draft.as_str()];
    let mut form: Vec<(&str, &str)> = vec![("csrf", &csrf), ("action", "approve")];
    form.extend(ids.iter().map(|id| ("visit", *id)));
    let (status, page) = reviewer.post("office/visits/bulk", &form);
    assert!(status == 200 && page.contains(r#"id="bulk-count">2<"#), "{page}");
    form.push(("confirmed", "1"));
    let (status, page) = reviewer.post("office/visits/bulk", &form);
    assert_eq!(status, 200, "{page}");
    assert!(page.contains(r#"id="bulk-done">1<"#), "{page}");
    assert_eq!(page.matches(r#"class="not-done""#).count(), 1, "{page}");
    li.sync(&mut |_| {}).unwrap();
    assert_eq!(li.visit(&complete).unwrap().status, posfield_shared::VisitStatus::Approved);
    assert_eq!(li.visit(&draft).unwrap().status, posfield_shared::VisitStatus::Draft, "left as it was");

    // A reviewer cannot reassign; an administrator gives the draft to wang.
    let assign = |desk: &Desk| {
        let csrf = desk.csrf();
        desk.post(
            "office/visits/bulk",
            &[
                ("csrf", &csrf),
                ("action", "assign"),
                ("agent", "wang"),
                ("visit", draft.as_str()),
                ("confirmed", "1"),
            ],
        )
    };
    assert_eq!(assign(&reviewer).0, 403);
    let (status, page) = assign(&Desk::sign_in(&server, "boss"));
    assert!(status == 200 && page.contains(r#"id="bulk-done">1<"#), "{page}");
    wang.sync(&mut |_| {}).unwrap();
    assert_eq!(wang.visit(&draft).unwrap().assignment.agent, "wang");
}
