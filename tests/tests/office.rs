//! The back office's pages against a real `posfield-server` process on
//! 127.0.0.1 and real agent cores: sessions (across restarts, ended by a
//! change of their user), CSRF, roles, a review that
//! reaches the agent, a visit created at the desk, the demo fleet, and the
//! acceptance certificate.

use posfield_core::Agent;
use posfield_e2e::story::{open, repair_visit, schema_fixture};
use posfield_e2e::{ServerProcess, server_binary, server_cli};
use posfield_shared::visit::schema::StepState;
use posfield_shared::visit::{SCHEMA_VERSION, SimInput};
use posfield_shared::vocab::{ApplicationState, DocumentKind, SimAction, SimCarrier, SuspensionCause};
use posfield_shared::{CalendarDate, VisitId, VisitKind, VisitStatus};
use reqwest::blocking::{Client, Response};
use reqwest::redirect::Policy;

/// A browser-like client of the pages: no automatic redirects, the session
/// cookie kept by hand.
struct Desk {
    http: Client,
    base: String,
    cookie: String,
}

fn client() -> Client {
    Client::builder().redirect(Policy::none()).build().unwrap()
}

impl Desk {
    fn sign_in(server: &ServerProcess, user: &str) -> Desk {
        let http = client();
        let response = http
            .post(server.url("office/login"))
            .form(&[("user", user), ("password", "correct horse battery")])
            .send()
            .unwrap();
        assert_eq!(response.status().as_u16(), 303, "sign-in of {user}");
        let set_cookie = response.headers()["set-cookie"].to_str().unwrap().to_owned();
        assert!(set_cookie.contains("HttpOnly") && set_cookie.contains("SameSite=Strict"), "{set_cookie}");
        let cookie = set_cookie.split(';').next().unwrap().to_owned();
        Desk { http, base: server.base.clone(), cookie }
    }

    fn get(&self, path: &str) -> Response {
        self.http.get(format!("{}{path}", self.base)).header("cookie", &self.cookie).send().unwrap()
    }

    fn page(&self, path: &str) -> String {
        let response = self.get(path);
        assert_eq!(response.status().as_u16(), 200, "GET {path}");
        response.text().unwrap()
    }

    fn post(&self, path: &str, form: &[(&str, &str)]) -> Response {
        self.http
            .post(format!("{}{path}", self.base))
            .header("cookie", &self.cookie)
            .form(form)
            .send()
            .unwrap()
    }

    /// The CSRF token of the session, from any page's sign-out form.
    fn csrf(&self) -> String {
        let page = self.page("office/visits");
        let start = page.find("name=\"csrf\" value=\"").unwrap() + "name=\"csrf\" value=\"".len();
        page[start..start + 32].to_owned()
    }
}

fn sync(agent: &mut Agent) {
    agent.sync(&mut |_| {}).unwrap();
}

#[test]
fn a_visit_returned_on_its_page_reaches_the_agent_with_the_note() {
    let dir = tempfile::tempdir().unwrap();
    let server = ServerProcess::start(&dir.path().join("server"));
    server.add_user("chen", "reviewer");
    let mut wang = open(&dir.path().join("wang"));
    wang.enroll(&server.base, &server.enrolment_code("wang"), "华为 Mate 60").unwrap();
    let id = repair_visit(&mut wang);
    sync(&mut wang);

    let desk = Desk::sign_in(&server, "chen");
    let headers = desk.get("office/visits");
    let policy = headers.headers()["content-security-policy"].to_str().unwrap();
    assert!(policy.contains("script-src 'self'") && policy.contains("frame-ancestors 'none'"), "{policy}");
    assert_eq!(headers.headers()["x-content-type-options"], "nosniff");
    // The list finds it by status, kind, agent, merchant and serial.
    for filter in ["status=completed", "kind=repair", "agent=wang", "merchant=老王", "serial=n91000"] {
        let list = desk.page(&format!("office/visits?{filter}"));
        assert!(list.contains(id.as_str()), "filter {filter} misses the visit");
    }
    let list = desk.page("office/visits?status=approved");
    assert!(!list.contains(id.as_str()));
    let list = desk.page("office/visits?from=2000-01-01&to=2000-01-02");
    assert!(!list.contains(id.as_str()));

    let visit = wang.visit(&id).unwrap();
    let page = desk.page(&format!("office/visits/{id}"));
    assert!(page.contains("老王便利店") && page.contains("N9100001234567"));
    assert!(page.contains("打印机故障") && page.contains("纸卷装反"), "fault with what was tried");
    assert!(page.contains("签字有效：与验收摘要一致"), "signature badge");
    assert!(page.contains("设备签名已核验"), "device signature verified");
    // Photo thumbnail and signature, served to the session.
    let photo = &visit.documents[0].sha256;
    let signature = &visit.acceptance.as_ref().unwrap().signature.sha256;
    for sha in [photo, signature] {
        assert!(page.contains(&format!("/office/blobs/{sha}")));
        let blob = desk.get(&format!("office/blobs/{sha}"));
        assert_eq!(blob.status().as_u16(), 200);
        assert!(blob.headers()["content-type"].to_str().unwrap().starts_with("image/"));
    }
    // The thumbnail is a small JPEG made from the photo; the link gives the photo itself.
    let thumb = desk.get(&format!("office/blobs/{photo}?w=320"));
    assert_eq!(thumb.headers()["content-type"], "image/jpeg");
    assert!(thumb.bytes().unwrap().starts_with(&[0xff, 0xd8]));
    assert!(page.contains(&format!("href=\"/office/blobs/{photo}\"")));
    // History from the document: the agent's operations with who did them.
    assert!(page.contains("识别终端") && page.contains("商户验收签字") && page.contains("wang (业务员)"));

    // Returning without a note is refused and changes nothing.
    let csrf = desk.csrf();
    let refused =
        desk.post(&format!("office/visits/{id}/review"), &[("csrf", &csrf), ("decision", "return")]);
    assert_eq!(refused.status().as_u16(), 409);
    let response = desk.post(
        &format!("office/visits/{id}/review"),
        &[("csrf", &csrf), ("decision", "return"), ("note", "请补拍购机凭证")],
    );
    assert_eq!(response.status().as_u16(), 303);
    let page = desk.page(&format!("office/visits/{id}?saved=1"));
    assert!(page.contains("已退回") && page.contains("请补拍购机凭证"));

    sync(&mut wang);
    let visit = wang.visit(&id).unwrap();
    assert_eq!(visit.status, VisitStatus::Returned);
    let review = visit.latest_review().unwrap();
    assert_eq!(review.note.as_deref(), Some("请补拍购机凭证"));
    assert_eq!(review.stamp.by.user, "chen");

    // The English switch.
    let english = desk.http.get(server.url("office/lang/en?back=/office/visits")).send().unwrap();
    let lang_cookie = english.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_owned();
    let page = desk
        .http
        .get(server.url(&format!("office/visits/{id}")))
        .header("cookie", format!("{}; {lang_cookie}", desk.cookie))
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert!(page.contains("lang=\"en\"") && page.contains("Returned") && page.contains("Printer fault"));
}

#[test]
fn no_page_or_blob_without_a_session_and_reviewers_stay_out_of_admin_pages() {
    let dir = tempfile::tempdir().unwrap();
    let server = ServerProcess::start(&dir.path().join("server"));
    server.add_user("chen", "reviewer");
    server.add_user("boss", "admin");
    let mut wang = open(&dir.path().join("wang"));
    wang.enroll(&server.base, &server.enrolment_code("wang"), "华为 Mate 60").unwrap();
    let id = repair_visit(&mut wang);
    sync(&mut wang);
    let photo = wang.visit(&id).unwrap().documents[0].sha256.clone();

    let anonymous = client();
    for path in [
        "office/visits".to_owned(),
        format!("office/visits/{id}"),
        format!("office/blobs/{photo}"),
        format!("office/visits/{id}/certificate.pdf"),
        "office/alerts".into(),
        "office/terminals".into(),
        "office/terminals/export.csv".into(),
        "office/visits/export.csv".into(),
        "office/applications".into(),
        "office/devices".into(),
    ] {
        let response = anonymous.get(server.url(&path)).send().unwrap();
        assert_eq!(response.status().as_u16(), 303, "{path}");
        assert_eq!(response.headers()["location"], "/office/login", "{path}");
        assert!(!response.bytes().unwrap().starts_with(b"\xff\xd8"), "no photo bytes for {path}");
    }
    // A forged session cookie is no session.
    let forged = anonymous
        .get(server.url("office/visits"))
        .header("cookie", format!("posfield_office={}", "ab".repeat(32)))
        .send()
        .unwrap();
    assert_eq!(forged.status().as_u16(), 303);
    // A wrong password opens nothing.
    let wrong = anonymous
        .post(server.url("office/login"))
        .form(&[("user", "chen"), ("password", "wrong horse battery")])
        .send()
        .unwrap();
    assert_eq!(wrong.status().as_u16(), 401);
    assert!(wrong.headers().get("set-cookie").is_none());

    let reviewer = Desk::sign_in(&server, "chen");
    let csrf = reviewer.csrf();
    for path in ["office/visits/new", "office/terminals/import", "office/devices"] {
        assert_eq!(reviewer.get(path).status().as_u16(), 403, "{path}");
    }
    let csv = "serial,model\nN910000000001,N910\n";
    let response = reviewer.post("office/terminals/import", &[("csrf", &csrf), ("csv", csv)]);
    assert_eq!(response.status().as_u16(), 403);
    let response = reviewer.post(
        "office/visits",
        &[("csrf", &csrf), ("kind", "inspection"), ("merchant", "x"), ("agent", "wang")],
    );
    assert_eq!(response.status().as_u16(), 403);
    assert!(!reviewer.page("office/terminals").contains("N910000000001"), "nothing was imported");

    // A form without the session's CSRF token, or from another site, changes nothing.
    let without = reviewer.post(
        &format!("office/visits/{id}/review"),
        &[("csrf", "0".repeat(32).as_str()), ("decision", "approve")],
    );
    assert_eq!(without.status().as_u16(), 403);
    let cross_site = reviewer
        .http
        .post(server.url(&format!("office/visits/{id}/review")))
        .header("cookie", &reviewer.cookie)
        .header("origin", "http://evil.example")
        .form(&[("csrf", csrf.as_str()), ("decision", "approve")])
        .send()
        .unwrap();
    assert_eq!(cross_site.status().as_u16(), 403);
    sync(&mut wang);
    assert_eq!(wang.visit(&id).unwrap().status, VisitStatus::Completed);

    // Signing out ends the session.
    let out = reviewer.post("office/logout", &[("csrf", &csrf)]);
    assert_eq!(out.status().as_u16(), 303);
    assert_eq!(reviewer.get("office/visits").status().as_u16(), 303);

    // The admin reaches both admin pages.
    let admin = Desk::sign_in(&server, "boss");
    assert!(admin.page("office/visits/new").contains("name=\"merchant\""));
    assert!(admin.page("office/terminals/import").contains("name=\"csv\""));
    // The device list shows the app version each phone last sent.
    let devices = admin.page("office/devices");
    let version = posfield_core::sync::APP_VERSION;
    assert!(devices.contains(&format!("<td class=\"app-version\">{version}</td>")), "{devices}");
    assert!(devices.contains("华为 Mate 60"), "{devices}");
}

/// Whether a page request with this desk's cookie is sent to the sign-in page.
fn signed_out(desk: &Desk) -> bool {
    let response = desk.get("office/visits");
    response.status().as_u16() == 303 && response.headers()["location"] == "/office/login"
}

/// The status of a sign-in with this password (303 opens a session, 401 none).
fn sign_in_status(server: &ServerProcess, user: &str, password: &str) -> u16 {
    let form = [("user", user), ("password", password)];
    client().post(server.url("office/login")).form(&form).send().unwrap().status().as_u16()
}

#[test]
fn a_session_outlives_a_restart_and_ends_when_its_users_role_or_password_changes_or_the_user_goes() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("server");
    let server = ServerProcess::start(&data);
    for (user, role) in [("chen", "reviewer"), ("boss", "admin"), ("zhou", "reviewer")] {
        server.add_user(user, role);
    }
    let (chen, boss, zhou) =
        (Desk::sign_in(&server, "chen"), Desk::sign_in(&server, "boss"), Desk::sign_in(&server, "zhou"));
    let csrf = chen.csrf();

    // The database keeps no token: a copy of the data folder opens no session.
    for desk in [&chen, &boss, &zhou] {
        let token = desk.cookie.split_once('=').unwrap().1;
        assert_eq!(token.len(), 64, "{}", desk.cookie);
        for entry in std::fs::read_dir(&data).unwrap() {
            let path = entry.unwrap().path();
            if path.is_file() {
                let bytes = std::fs::read(&path).unwrap();
                let found = bytes.windows(token.len()).any(|w| w == token.as_bytes());
                assert!(!found, "a session token is stored in {}", path.display());
            }
        }
    }

    // A restart on the same database keeps every session and its CSRF token.
    let addr = server.addr();
    assert!(server.terminate(std::time::Duration::from_secs(20)), "no clean exit within 20 s");
    let server = ServerProcess::start_on(&data, &addr);
    assert!(chen.page("office/visits").contains(&csrf));
    assert_eq!(chen.get("office/visits/new").status().as_u16(), 403, "still a reviewer");
    assert!(boss.page("office/visits/new").contains("name=\"merchant\""));

    // chen becomes an administrator: the reviewer's session ends, and a new
    // sign-in opens the admin pages. Other users stay signed in.
    server.add_user("chen", "admin");
    assert!(signed_out(&chen), "the session of the old role ended");
    let chen = Desk::sign_in(&server, "chen");
    assert!(chen.page("office/visits/new").contains("name=\"merchant\""));
    assert!(!signed_out(&boss) && !signed_out(&zhou));

    // A new password ends boss's session; the old password opens none.
    server_cli(&data, &["add-user", "boss", "--role", "admin", "--password", "a brand new password"]);
    assert!(signed_out(&boss), "the session of the old password ended");
    assert_eq!(sign_in_status(&server, "boss", "correct horse battery"), 401);

    // zhou is removed: the session ends and no sign-in opens another.
    assert_eq!(server_cli(&data, &["remove-user", "zhou"]), "user zhou removed");
    assert!(signed_out(&zhou), "the removed user's session ended");
    assert_eq!(sign_in_status(&server, "zhou", "correct horse battery"), 401);

    // Signing out ends the session in the store: it stays ended after a restart.
    let csrf = chen.csrf();
    assert_eq!(chen.post("office/logout", &[("csrf", &csrf)]).status().as_u16(), 303);
    assert!(signed_out(&chen));
    assert!(server.terminate(std::time::Duration::from_secs(20)), "no clean exit within 20 s");
    let _server = ServerProcess::start_on(&data, &addr);
    assert!(signed_out(&chen), "a signed-out session stays ended after a restart");
}

/// A server with an administrator signed in at the desk and agent `li`'s
/// phone enrolled.
fn desk_and_agent_li() -> (tempfile::TempDir, ServerProcess, Agent, Desk) {
    let dir = tempfile::tempdir().unwrap();
    let server = ServerProcess::start(&dir.path().join("server"));
    server.add_user("boss", "admin");
    let mut li = open(&dir.path().join("li"));
    li.enroll(&server.base, &server.enrolment_code("li"), "小米 14").unwrap();
    let desk = Desk::sign_in(&server, "boss");
    (dir, server, li, desk)
}

#[test]
fn a_visit_created_and_assigned_at_the_desk_reaches_the_agent() {
    let (_dir, _server, mut li, desk) = desk_and_agent_li();
    let csrf = desk.csrf();
    let response = desk.post(
        "office/visits",
        &[
            ("csrf", &csrf),
            ("kind", "sim_renewal"),
            ("merchant", "张姐水果店"),
            ("merchant_number", "898310048161234"),
            ("phone", "13800138000"),
            ("serial", "n9100001234567"),
            ("agent", "li"),
        ],
    );
    assert_eq!(response.status().as_u16(), 303);
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    let id: VisitId = location.trim_start_matches("/office/visits/").parse().unwrap();
    let page = desk.page(location.trim_start_matches('/'));
    assert!(page.contains("张姐水果店") && page.contains("流量卡续费"));

    sync(&mut li);
    let visit = li.visit(&id).unwrap();
    assert_eq!(visit.assignment.agent, "li");
    assert_eq!(visit.merchant.merchant_number.as_deref(), Some("898310048161234"));
    assert!(visit.notes.iter().any(|n| n.text.contains("N9100001234567")), "the serial to visit");

    // A bad merchant number is refused with the rule's words, and nothing is created.
    let refused = desk.post(
        "office/visits",
        &[("csrf", &csrf), ("kind", "repair"), ("merchant", "x"), ("merchant_number", "12"), ("agent", "li")],
    );
    assert_eq!(refused.status().as_u16(), 409);
    let list = desk.page("office/visits");
    assert_eq!(list.matches("href=\"/office/visits/0").count(), 1, "one visit only");
}

#[test]
fn a_visit_dispatched_for_a_day_and_window_reaches_the_agent_and_is_planned_again() {
    let (_dir, server, mut li, desk) = desk_and_agent_li();
    let csrf = desk.csrf();
    let base = [("csrf", csrf.as_str()), ("kind", "repair"), ("merchant", "张姐水果店"), ("agent", "li")];
    // A window without a day, or ending before it starts, is refused in words.
    for (fields, words) in [
        (vec![("from", "09:00")], "时间段需要日期"),
        (vec![("day", "2026-12-08"), ("from", "14:00"), ("until", "09:00")], "结束时间早于开始时间"),
        (vec![("day", "2026-12-32")], "2026-12-32"),
        (vec![("day", "2026-12-08"), ("from", "25:00")], "25:00"),
    ] {
        let response = desk.post("office/visits", &[&base[..], &fields[..]].concat());
        assert_eq!(response.status().as_u16(), 409, "{fields:?}");
        assert!(response.text().unwrap().contains(words), "{fields:?}");
    }
    let planned = [("day", "2026-12-08"), ("from", "9:30"), ("until", "11:00")];
    let response = desk.post("office/visits", &[&base[..], &planned[..]].concat());
    assert_eq!(response.status().as_u16(), 303);
    let location = response.headers()["location"].to_str().unwrap().trim_start_matches('/').to_owned();
    let id: VisitId = location.trim_start_matches("office/visits/").parse().unwrap();
    assert!(desk.page(&location).contains("<dd id=\"planned\">2026-12-08 09:30–11:00</dd>"));

    sync(&mut li);
    let schedule = li.visit(&id).unwrap().assignment.schedule.expect("the plan reached the phone");
    assert_eq!(
        (schedule.day.to_string(), schedule.window_words()),
        ("2026-12-08".into(), "09:30–11:00".into())
    );

    // The agent takes the job, sets off and checks in on arrival: the desk sees the way there.
    li.accept_job(&id).unwrap();
    li.depart(&id).unwrap();
    let shop = posfield_shared::visit::GeoPoint::from_degrees(31.224361, 121.46917, Some(12.0)).unwrap();
    li.arrive(&id, Ok(shop)).unwrap();
    sync(&mut li);
    let page = desk.page(&location);
    for words in [
        "<dt>已接单</dt>",
        "<dt>已出发</dt>",
        "<dt>已到达</dt>",
        "<dd class=\"trip\">31.224361, 121.469170 ±12 m</dd>",
    ] {
        assert!(page.contains(words), "{words} is not on the visit page");
    }

    // The desk moves it to the afternoon of the next day, open-ended.
    let moved = [("csrf", csrf.as_str()), ("agent", "li"), ("day", "2026-12-09"), ("from", "14:00")];
    assert_eq!(desk.post(&format!("{location}/assign"), &moved).status().as_u16(), 303);
    sync(&mut li);
    let schedule = li.visit(&id).unwrap().assignment.schedule.unwrap();
    assert_eq!((schedule.day.to_string(), schedule.window_words()), ("2026-12-09".into(), "14:00–".into()));

    // The JSON API: absent keeps the plan, null takes it away.
    let path = format!("api/v1/office/visits/{id}/assign");
    let (status, body) = server.office_post("boss", &path, &serde_json::json!({ "agent": "li" }));
    assert_eq!((status, &body["schedule"]["day"]), (200, &serde_json::json!("2026-12-09")), "{body}");
    let (status, body) =
        server.office_post("boss", &path, &serde_json::json!({ "agent": "li", "schedule": null }));
    assert_eq!((status, &body["schedule"]), (200, &serde_json::Value::Null), "{body}");
    let (status, body) = server.office_post(
        "boss",
        &path,
        &serde_json::json!({ "agent": "li", "schedule": { "day": "2026-12-10", "until": "12:00" } }),
    );
    assert_eq!((status, &body["schedule"]["until"]), (200, &serde_json::json!("12:00")), "{body}");
    let (status, body) = server.office_post(
        "boss",
        &path,
        &serde_json::json!({ "agent": "li", "schedule": { "day": "tomorrow" } }),
    );
    assert_eq!(status, 422, "{body}");
    sync(&mut li);
    let schedule = li.visit(&id).unwrap().assignment.schedule.unwrap();
    assert_eq!(schedule.window_words(), "–12:00");
}

#[test]
fn a_merchant_corrected_on_the_phone_after_dispatch_shows_in_the_history_before_and_after() {
    let (_dir, server, mut li, desk) = desk_and_agent_li();
    server.add_user("chen", "reviewer");
    let csrf = desk.csrf();
    let response = desk.post(
        "office/visits",
        &[
            ("csrf", &csrf),
            ("kind", "inspection"),
            ("merchant", "张姐水果店"),
            ("phone", "13800138000"),
            ("agent", "li"),
        ],
    );
    assert_eq!(response.status().as_u16(), 303);
    let location = response.headers()["location"].to_str().unwrap().trim_start_matches('/').to_owned();
    let id: VisitId = location.trim_start_matches("office/visits/").parse().unwrap();
    sync(&mut li);

    // On site the shop's name is the licence's and the phone has changed.
    let mut merchant = posfield_e2e::story::merchant("张姐水果店（浦东店）");
    merchant.phone = Some("13912345678".into());
    let bad = posfield_shared::visit::MerchantInput { phone: Some("123".into()), ..merchant.clone() };
    assert!(li.correct_merchant(&id, &bad).is_err(), "a phone of three digits is taken");
    li.correct_merchant(&id, &merchant).unwrap();
    sync(&mut li);

    // The administrator reads the change whole, the reviewer the phone masked.
    let page = desk.page(&location);
    assert!(page.contains("张姐水果店（浦东店）"), "the correction did not reach the server");
    assert!(page.contains("13800138000</span> → <span class=\"mono after\">13912345678"), "{page}");
    let reviewer = Desk::sign_in(&server, "chen");
    let page = reviewer.page(&location);
    assert!(page.contains("138****8000</span> → <span class=\"mono after\">139****5678"), "{page}");
    assert!(!page.contains("13800138000</span>"), "the old phone is shown whole to a reviewer");
}

/// A reactivation visit worked up to its application, submitted.
fn reactivation_applied(agent: &mut Agent, merchant: &str) -> VisitId {
    let id =
        agent.create_visit(VisitKind::Reactivation, &posfield_e2e::story::merchant(merchant)).unwrap().id;
    agent.identify_typed(&id, "N9100001234567", false).unwrap();
    agent.set_suspension_cause(&id, SuspensionCause::NetworkProblem).unwrap();
    let photo = std::fs::read(posfield_e2e::story::testdata("code128-1/1.png")).unwrap();
    agent.add_photo(&id, &photo, DocumentKind::IdCard).unwrap();
    agent.add_photo(&id, &photo, DocumentKind::BankCard).unwrap();
    for step in ["identify", "cause", "docs.id_card", "docs.bank_card"] {
        agent.set_step(&id, step, StepState::Done, None, None).unwrap();
    }
    agent.submit_application(&id).unwrap();
    id
}

#[test]
fn an_application_decided_at_the_desk_reaches_the_agent_and_unlocks_the_installation() {
    let dir = tempfile::tempdir().unwrap();
    let server = ServerProcess::start(&dir.path().join("server"));
    server.add_user("boss", "admin");
    let mut zhao = open(&dir.path().join("zhao"));
    zhao.enroll(&server.base, &server.enrolment_code("zhao"), "荣耀 X50").unwrap();
    let approved = reactivation_applied(&mut zhao, "赵记面馆");
    let rejected = reactivation_applied(&mut zhao, "钱家超市");
    sync(&mut zhao);

    // Until the back office decides, the installation waits on the phone.
    let waiting = zhao.set_step(&approved, "install", StepState::Done, None, None).unwrap_err();
    assert_eq!(waiting.code(), "waits_for_decision", "{waiting}");

    let desk = Desk::sign_in(&server, "boss");
    let page = desk.page("office/applications");
    assert!(page.contains("赵记面馆") && page.contains("钱家超市"), "both applications listed");
    assert!(page.contains("网络问题") || page.contains("network"), "the suspension cause is shown");
    // The visit's page shows the installation waiting, as the phone does.
    let visit_page = desk.page(&format!("office/visits/{approved}"));
    assert!(visit_page.contains("🔒 等待：复机申请审批通过"), "the lock is shown on the visit's page");
    let csrf = desk.csrf();
    // Rejecting needs a reason; refused without one, nothing changes.
    let refused =
        desk.post(&format!("office/applications/{rejected}"), &[("csrf", &csrf), ("decision", "reject")]);
    assert_eq!(refused.status().as_u16(), 409);
    for (id, decision, reason) in [(&approved, "approve", ""), (&rejected, "reject", "营业执照已过期")]
    {
        let response = desk.post(
            &format!("office/applications/{id}"),
            &[("csrf", &csrf), ("decision", decision), ("reason", reason)],
        );
        assert_eq!(response.status().as_u16(), 303, "{decision}");
    }

    sync(&mut zhao);
    let visit = zhao.visit(&approved).unwrap();
    assert_eq!(visit.reactivation.application.as_ref().unwrap().state, ApplicationState::Approved);
    let visit = zhao.set_step(&approved, "install", StepState::Done, None, None).unwrap();
    assert_eq!(visit.step_state("install"), StepState::Done, "approved: the installation is unlocked");
    let visit = zhao.visit(&rejected).unwrap();
    let application = visit.reactivation.application.as_ref().unwrap();
    assert_eq!(application.state, ApplicationState::Rejected);
    assert_eq!(application.reason.as_deref(), Some("营业执照已过期"));
    let still = zhao.set_step(&rejected, "install", StepState::Done, None, None).unwrap_err();
    assert_eq!(still.code(), "waits_for_decision", "rejected: the installation stays locked");
}

#[test]
fn a_renewed_sim_card_leaves_the_expiry_alerts_with_its_new_card_and_date() {
    let dir = tempfile::tempdir().unwrap();
    let server = ServerProcess::start(&dir.path().join("server"));
    server.add_user("boss", "admin");
    let mut li = open(&dir.path().join("li"));
    li.enroll(&server.base, &server.enrolment_code("li"), "小米 14").unwrap();
    let id = li.create_visit(VisitKind::SimRenewal, &posfield_e2e::story::merchant("张姐水果店")).unwrap().id;
    li.identify_typed(&id, "N9100001234567", false).unwrap();
    // Found on site: a card that ran out last month.
    let found = SimInput {
        iccid: "89860012345678901238".into(),
        carrier: SimCarrier::ChinaMobile,
        expiry: CalendarDate::parse("2000-01-31").unwrap(),
    };
    li.set_sim(&id, &found).unwrap();
    sync(&mut li);
    let desk = Desk::sign_in(&server, "boss");
    assert!(desk.page("office/alerts").contains("N9100001234567"), "the expired card is an alert");

    // Replaced with a new card on a plan running into next century.
    li.set_sim_action(
        &id,
        SimAction::Replaced,
        Some("8986011234567890128"),
        CalendarDate::parse("2100-12-31").ok(),
    )
    .unwrap();
    sync(&mut li);
    let alerts = desk.page("office/alerts");
    assert!(!alerts.contains("N9100001234567"), "the renewed card is no longer an alert");
    let db = rusqlite::Connection::open(server.data.join("posfield.db")).unwrap();
    let (iccid, expiry): (String, String) = db
        .query_row("SELECT sim_iccid, sim_expiry FROM terminals WHERE serial = 'N9100001234567'", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .unwrap();
    assert_eq!((iccid.as_str(), expiry.as_str()), ("8986011234567890128", "2100-12-31"));
}

#[test]
fn the_demo_fleet_has_every_kind_in_every_status_and_working_pages() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("demo");
    let mut server = std::process::Command::new(server_binary());
    server.env("RUST_LOG", "warn");
    let (base, child) = start_demo(&data, &mut server);
    let guard = KillOnDrop(child);

    let db = rusqlite::Connection::open(data.join("posfield.db")).unwrap();
    let pairs: i64 = db
        .query_row("SELECT count(*) FROM (SELECT DISTINCT kind, status FROM visits)", [], |r| r.get(0))
        .unwrap();
    assert_eq!(pairs, 7 * 6, "every kind in every status");
    let terminals: i64 = db.query_row("SELECT count(*) FROM fleet", [], |r| r.get(0)).unwrap();
    assert!(terminals >= 300, "{terminals} terminals");
    // The register follows the demo's visits: every lifecycle state is
    // there, with hand-overs, some terminals held by agents for weeks.
    let states: Vec<String> = db
        .prepare("SELECT DISTINCT state FROM terminal_register ORDER BY state")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    use posfield_shared::vocab::Term;
    for state in posfield_shared::TerminalState::ALL {
        assert!(states.iter().any(|s| s == state.code()), "no demo terminal is {state}: {states:?}");
    }
    let moved: i64 = db.query_row("SELECT count(*) FROM terminal_events", [], |r| r.get(0)).unwrap();
    let handed: i64 = db.query_row("SELECT count(*) FROM custody_events", [], |r| r.get(0)).unwrap();
    assert!(moved > 20 && handed > 10, "{moved} lifecycle rows, {handed} hand-overs");
    let invalid: i64 = db
        .query_row("SELECT count(*) FROM countersignatures WHERE device_signature_valid = 0", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(invalid, 0, "every demo acceptance is signed by its device's key");
    let signed: i64 = db.query_row("SELECT count(*) FROM countersignatures", [], |r| r.get(0)).unwrap();
    assert!(signed > 100, "{signed} acceptances");
    let unbound: i64 = db
        .query_row("SELECT count(*) FROM countersignatures WHERE signing_device IS NULL", [], |r| r.get(0))
        .unwrap();
    assert_eq!(unbound, 0, "every demo acceptance names the device whose key verified it");
    // Approval means complete: no approved visit waits for a photo or a signature image.
    let approved_incomplete: i64 = db
        .query_row("SELECT count(*) FROM visits WHERE status = 'approved' AND blobs_missing > 0", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(approved_incomplete, 0, "approved demo visits are complete on the server");
    let missing: i64 =
        db.query_row("SELECT count(*) FROM visits WHERE blobs_missing > 0", [], |r| r.get(0)).unwrap();
    assert!(missing > 0, "some visits wait for photos");

    posfield_e2e::server_cli(&data, &["add-user", "boss", "--role", "admin"]);
    let server_like = ServerLike { base };
    let desk = Desk::sign_in_at(&server_like.base, "boss");
    // The desk planned its drafts around today: the agents' day has jobs.
    let draft: String =
        db.query_row("SELECT id FROM visits WHERE status = 'draft' LIMIT 1", [], |r| r.get(0)).unwrap();
    let page = desk.page(&format!("office/visits/{draft}"));
    assert!(page.contains("<dd id=\"planned\">20"), "a demo draft is not planned");
    let alerts = desk.page("office/alerts");
    for id in [
        "total-sim",
        "total-old",
        "total-warranty",
        "total-faults",
        "total-applications",
        "total-blobs",
        "total-held",
    ] {
        let at = alerts.find(&format!("id=\"{id}\">")).unwrap() + id.len() + 6;
        let total: i64 = alerts[at..alerts[at..].find('<').unwrap() + at].parse().unwrap();
        assert!(total > 0, "the alert {id} is empty in the demo");
    }
    let applications = desk.page("office/applications");
    assert!(applications.contains("value=\"approve\""), "waiting applications can be decided");

    // Approving a waiting application unlocks it on the document.
    let id: String = db
        .query_row(
            "SELECT id FROM visits WHERE kind = 'reactivation' AND json_extract(office, '$.application.state') = 'submitted' LIMIT 1",
            [],
            |r| r.get(0),
        )
        .unwrap();
    let csrf = desk.csrf();
    let rejected =
        desk.post(&format!("office/applications/{id}"), &[("csrf", &csrf), ("decision", "reject")]);
    assert_eq!(rejected.status().as_u16(), 409, "rejecting needs a reason");
    let approved =
        desk.post(&format!("office/applications/{id}"), &[("csrf", &csrf), ("decision", "approve")]);
    assert_eq!(approved.status().as_u16(), 303);
    let state: String = db
        .query_row(
            "SELECT json_extract(office, '$.application.state') FROM visits WHERE id = ?1",
            [&id],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(state, "approved");

    // A signed visit's certificate is a PDF with the Chinese text searchable.
    let signed_id: String =
        db.query_row("SELECT visit_id FROM countersignatures LIMIT 1", [], |r| r.get(0)).unwrap();
    let pdf = desk.get(&format!("office/visits/{signed_id}/certificate.pdf"));
    assert_eq!(pdf.headers()["content-type"], "application/pdf");
    let bytes = pdf.bytes().unwrap();
    assert!(bytes.starts_with(b"%PDF-"));
    // The ToUnicode map names 验 (U+9A8C) and 收 (U+6536).
    let text = String::from_utf8_lossy(&bytes);
    assert!(text.contains("<9A8C>") && text.contains("<6536>"), "the certificate maps its Chinese glyphs");

    // CSV exports.
    let visits_csv = desk.page("office/visits/export.csv?status=approved");
    assert!(visits_csv.lines().count() > 30 && visits_csv.lines().skip(1).all(|l| l.contains(",approved,")));
    let terminals_csv = desk.page("office/terminals/export.csv");
    assert_eq!(terminals_csv.lines().count() as i64, terminals + 1);
    drop(guard);
}

struct ServerLike {
    base: String,
}

struct KillOnDrop(std::process::Child);

/// Starts `server` (the server binary, with the test's environment) as
/// `serve --demo` on a free port of 127.0.0.1 with its data in `data`, and
/// returns its base URL once it listens.
fn start_demo(data: &std::path::Path, server: &mut std::process::Command) -> (String, std::process::Child) {
    let mut child = server
        .arg("--data")
        .arg(data)
        .args(["serve", "--listen", "127.0.0.1:0", "--demo"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(&mut std::io::BufReader::new(child.stdout.take().unwrap()), &mut line)
        .unwrap();
    (format!("http://{}/", line.trim().rsplit("http://").next().unwrap()), child)
}

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Desk {
    fn sign_in_at(base: &str, user: &str) -> Desk {
        let http = client();
        let response = http
            .post(format!("{base}office/login"))
            .form(&[("user", user), ("password", "correct horse battery")])
            .send()
            .unwrap();
        assert_eq!(response.status().as_u16(), 303);
        let cookie = response.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_owned();
        Desk { http, base: base.to_owned(), cookie }
    }
}

#[test]
fn without_a_cjk_font_the_server_warns_at_start_and_the_certificate_says_what_to_install() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("demo");
    // A font the operator names is the only one tried, so a missing file
    // stands for a machine without the package.
    let no_font = dir.path().join("no-such-font.ttf");
    let mut server = std::process::Command::new(server_binary());
    server
        .env("RUST_LOG", "warn")
        .env("NO_COLOR", "1")
        .env("POSFIELD_CERTIFICATE_FONT", &no_font)
        .stderr(std::process::Stdio::piped());
    let (base, mut child) = start_demo(&data, &mut server);
    let stderr = child.stderr.take().unwrap();
    let guard = KillOnDrop(child);

    posfield_e2e::server_cli(&data, &["add-user", "boss", "--role", "admin"]);
    let desk = Desk::sign_in_at(&base, "boss");
    let db = rusqlite::Connection::open(data.join("posfield.db")).unwrap();
    let signed_id: String =
        db.query_row("SELECT visit_id FROM countersignatures LIMIT 1", [], |r| r.get(0)).unwrap();
    let response = desk.get(&format!("office/visits/{signed_id}/certificate.pdf"));
    assert_eq!(response.status().as_u16(), 503, "the server lacks the font, the request is fine");
    let page = response.text().unwrap();
    for needed in ["fonts-wqy-microhei", "POSFIELD_CERTIFICATE_FONT", "no-such-font.ttf"] {
        assert!(page.contains(needed), "the page does not name {needed}: {page}");
    }

    drop(guard);
    let mut log = String::new();
    std::io::Read::read_to_string(&mut std::io::BufReader::new(stderr), &mut log).unwrap();
    assert!(
        log.contains("acceptance certificates (PDF) cannot be made") && log.contains("fonts-wqy-microhei"),
        "no warning at start: {log}"
    );
}

#[test]
fn a_visit_a_newer_app_wrote_is_shown_read_only_and_a_desk_action_on_it_is_refused_in_words() {
    let dir = tempfile::tempdir().unwrap();
    let server = ServerProcess::start(&dir.path().join("server"));
    server.add_user("zhou", "admin");
    let mut wang = open(&dir.path().join("wang"));
    let token = wang.enroll(&server.base, &server.enrolment_code("wang"), "华为 Mate 60").unwrap().token;
    let newer = schema_fixture(&format!("v{}-breaking.automerge", SCHEMA_VERSION + 1));
    server.push_documents(&token, &[&newer]);
    let id = posfield_shared::visit::raw_json(&newer).unwrap()["id"].as_str().unwrap().to_owned();

    let desk = Desk::sign_in(&server, "zhou");
    let page = desk.page(&format!("office/visits/{id}"));
    assert!(page.contains("id=\"read-only\""), "the page says it is read-only");
    assert!(page.contains("drone_photo（此版本不认识的值）"), "an unknown photo kind is shown as written");
    assert!(
        page.contains("nfc_antenna_fault（此版本不认识的值）"),
        "an unknown fault code is shown as written"
    );
    assert!(page.contains("china_broadnet（此版本不认识的值）"), "an unknown carrier is shown as written");
    assert!(page.contains("verified_twice（此版本不认识的值）"), "an unknown step state is shown as written");
    assert!(
        page.contains("extended_warranty（此版本不认识的值）"),
        "an unknown warranty is shown as written"
    );
    assert!(!page.contains(&format!("action=\"/office/visits/{id}/assign\"")), "no desk action is offered");
    assert!(desk.page("office/visits").contains(&id), "the list shows it");

    let refused =
        desk.post(&format!("office/visits/{id}/assign"), &[("csrf", &desk.csrf()), ("agent", "wang")]);
    assert_eq!(refused.status().as_u16(), 409);
    let words = refused.text().unwrap();
    assert!(words.contains("更新版本的应用") && words.contains("newer version of the app"), "{words}");
}
