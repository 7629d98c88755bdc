//! Every route × every kind of caller, against one table of what each may
//! do: a real server on 127.0.0.1, real HTTP, a real database, once on
//! each engine (SQLite, and PostgreSQL when `POSFIELD_TEST_POSTGRES` names
//! a server).
//!
//! The routes swept are the server's own table (`api::routes`), the one the
//! router is built from, so a route added without a row here fails
//! [`every_route_answers_each_caller_as_the_table_says`], and a row left
//! for a route that is gone fails it too; so does a route whose declared
//! access lets past its guard other callers than its row here serves.
//!
//! The callers: nobody; agents A (wang) and B (li) with live device
//! credentials; a revoked device of A's; an expired credential of A's; a
//! forged bearer token, a forged session cookie and an administrator's
//! name with a wrong password; a reviewer and an administrator, each by a
//! page's session and by the JSON API's Basic credentials.
//!
//! What a cell says: `y` the route served the caller (any answer but a
//! refusal, a 404 or a server error: a decision the visit's rules refuse,
//! 409, was still the caller's to ask for); `.` refused (401, 403, or the
//! pages' redirect to the sign-in page without a new cookie); `h` hidden
//! (404: the thing exists, but not for this caller).

mod common;

use std::collections::BTreeSet;
use std::sync::Arc;

use base64::Engine as _;
use posfield_shared::protocol::{PUSH_MEDIA_TYPE, PushRequest, PushedVisit, encode_cbor};
use posfield_shared::visit::{BlobInfo, Ctx, MerchantInput, VisitDoc};
use posfield_shared::vocab::DocumentKind;
use posfield_shared::{Actor, Timestamp, VisitKind};
use posfield_sync_server::State;
use posfield_sync_server::auth::{self, UserRole};
use posfield_sync_server::config::{Config, DatabaseUrl};
use posfield_sync_server::routes::{Access, Door};
use posfield_sync_server::store::{AuditEntry, NewDevice, RegisterRow};
use sha2::{Digest, Sha256};

const PASSWORD: &str = "correct horse battery";
const REVIEWER: &str = "chen";
const ADMIN: &str = "zhou";
const KEY: &str = "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c";
const SERIAL: &str = "N910000000001";

/// The callers, in the order of the table's columns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Caller {
    Nobody,
    AgentA,
    AgentB,
    Revoked,
    Expired,
    ForgedBearer,
    ForgedSession,
    ForgedBasic,
    ReviewerSession,
    ReviewerBasic,
    AdminSession,
    AdminBasic,
}

const CALLERS: [Caller; 12] = [
    Caller::Nobody,
    Caller::AgentA,
    Caller::AgentB,
    Caller::Revoked,
    Caller::Expired,
    Caller::ForgedBearer,
    Caller::ForgedSession,
    Caller::ForgedBasic,
    Caller::ReviewerSession,
    Caller::ReviewerBasic,
    Caller::AdminSession,
    Caller::AdminBasic,
];

/// What each caller may do on each route. Columns: nobody, A, B, revoked,
/// expired, forged bearer, forged session, forged Basic, reviewer by
/// session, reviewer by Basic, administrator by session, administrator by
/// Basic.
const TABLE: &[(&str, &str, &str)] = &[
    //                                                   n A B r e f f f R R A A
    ("GET", "/healthz", "yyyyyyyyyyyy"),
    ("GET", "/livez", "yyyyyyyyyyyy"),
    ("GET", "/readyz", "yyyyyyyyyyyy"),
    // Only the metrics token opens it, and no caller here holds it.
    ("GET", "/metrics", "............"),
    ("POST", "/api/v1/enroll", "yyyyyyyyyyyy"),
    // Public, but the signed summary's hash is the key: without it (as
    // here), or with another, the page is "not found" to every caller.
    ("GET", "/verify/{id}", "hhhhhhhhhhhh"),
    ("POST", "/api/v1/sync/manifest", ".yy........."),
    ("POST", "/api/v1/sync/renew", ".yy........."),
    ("POST", "/api/v1/sync/wiped", ".yy........."),
    ("POST", "/api/v1/sync/device-key", ".yy........."),
    ("POST", "/api/v1/sync/push", ".yy........."),
    ("GET", "/api/v1/sync/ws", ".yy........."),
    ("GET", "/api/v1/blobs/{sha}/status", ".yy........."),
    ("GET", "/api/v1/blobs/{sha}", ".yh........."),
    ("PUT", "/api/v1/blobs/{sha}", ".yy........."),
    ("POST", "/api/v1/office/visits", "...........y"),
    ("GET", "/api/v1/office/visits/{id}", ".........y.y"),
    ("POST", "/api/v1/office/visits/{id}/review", ".........y.y"),
    ("POST", "/api/v1/office/visits/{id}/assign", "...........y"),
    ("GET", "/api/v1/office/audit", "...........y"),
    ("GET", "/office", "yyyyyyyyyyyy"),
    ("GET", "/office/", "yyyyyyyyyyyy"),
    ("GET", "/office/login", "yyyyyyyyyyyy"),
    ("POST", "/office/login", "yyyyyyyyyyyy"),
    // An administrator exists: the first administrator's setup is gone.
    ("GET", "/office/setup", "hhhhhhhhhhhh"),
    ("POST", "/office/setup", "hhhhhhhhhhhh"),
    ("POST", "/office/logout", "........y.y."),
    ("GET", "/office/lang/{code}", "yyyyyyyyyyyy"),
    ("GET", "/office/static/office.css", "yyyyyyyyyyyy"),
    ("GET", "/office/static/import.js", "yyyyyyyyyyyy"),
    ("GET", "/office/static/review.js", "yyyyyyyyyyyy"),
    ("GET", "/office/visits", "........y.y."),
    ("POST", "/office/visits", "..........y."),
    ("GET", "/office/visits/new", "..........y."),
    ("GET", "/office/visits/export.csv", "........y.y."),
    ("GET", "/office/visits/export.xlsx", "........y.y."),
    ("POST", "/office/visits/bulk", "........y.y."),
    ("GET", "/office/visits/{id}", "........y.y."),
    ("POST", "/office/visits/{id}/review", "........y.y."),
    ("POST", "/office/visits/{id}/assign", "..........y."),
    ("GET", "/office/visits/{id}/certificate.pdf", "........y.y."),
    ("GET", "/office/blobs/{sha}", "........y.y."),
    ("GET", "/office/terminals", "........y.y."),
    ("GET", "/office/terminals/export.csv", "........y.y."),
    ("GET", "/office/terminals/export.xlsx", "........y.y."),
    ("GET", "/office/terminals/import", "..........y."),
    ("POST", "/office/terminals/import", "..........y."),
    ("GET", "/office/terminals/{serial}", "........y.y."),
    ("GET", "/office/dashboard", "........y.y."),
    ("GET", "/office/dashboard.csv", "........y.y."),
    ("GET", "/office/alerts", "........y.y."),
    ("POST", "/office/alerts/dispatch", "..........y."),
    ("GET", "/office/static/lists.js", "yyyyyyyyyyyy"),
    ("GET", "/office/queue", "........y.y."),
    ("GET", "/office/applications", "........y.y."),
    ("POST", "/office/applications/{id}", "........y.y."),
    ("GET", "/office/outbox", "........y.y."),
    ("GET", "/office/check-in", "........y.y."),
    ("POST", "/office/check-in", "........y.y."),
    ("GET", "/office/settings", "..........y."),
    ("POST", "/office/settings", "..........y."),
    ("GET", "/office/users", "..........y."),
    ("POST", "/office/users", "..........y."),
    ("POST", "/office/users/{name}/remove", "..........y."),
    ("GET", "/office/audit", "..........y."),
    ("GET", "/office/audit/export.csv", "..........y."),
    ("GET", "/office/audit/export.xlsx", "..........y."),
    ("GET", "/office/devices", "..........y."),
    ("POST", "/office/devices/enrol", "..........y."),
    ("POST", "/office/devices/{id}/revoke", "..........y."),
    ("POST", "/office/devices/{id}/wipe", "..........y."),
    ("POST", "/office/devices/{id}/rotate-key", "..........y."),
];

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// The server, its callers' credentials and the things the routes name.
struct World {
    _dir: tempfile::TempDir,
    running: posfield_sync_server::Running,
    http: reqwest::Client,
    base: String,
    agent_a: String,
    agent_b: String,
    revoked: String,
    expired: String,
    visit: String,
    blob: Vec<u8>,
}

impl World {
    fn state(&self) -> &Arc<State> {
        &self.running.state
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }
}

async fn world(database: Option<DatabaseUrl>) -> World {
    let dir = tempfile::tempdir().unwrap();
    let config = Config {
        data: dir.path().to_owned(),
        listen: "127.0.0.1:0".parse().unwrap(),
        metrics_token: Some(posfield_sync_server::config::Secret::new("the scraper's own token".into())),
        database,
        database_pool_size: 4,
        ..Config::default()
    };
    let running = posfield_sync_server::start(config, false).await.unwrap();
    let store = running.state.store.clone();
    let store = store.as_ref();
    auth::add_user(store, REVIEWER, UserRole::Reviewer, PASSWORD).await.unwrap();
    auth::add_user(store, ADMIN, UserRole::Admin, PASSWORD).await.unwrap();
    let enrol = |agent: &'static str, phone: &'static str| async move {
        let code = auth::issue_enrolment_code(store, agent).await.unwrap();
        auth::enrol(store, &code, phone, "phone", KEY, posfield_sync_server::clock::now()).await.unwrap()
    };
    let a = enrol("wang", "phone-a").await;
    let b = enrol("li", "phone-b").await;
    let revoked = enrol("wang", "phone-a-lost").await;
    assert!(auth::revoke_device(store, &revoked.device_id).await.unwrap());
    store.add_enrolment_code("wang", "expired-code", 1, i64::MAX).await.unwrap();
    let expired = NewDevice {
        code_hash: "expired-code".into(),
        device_id: "expired-device".into(),
        token_hash: sha256_hex(b"pfd_expired"),
        client_device_id: "phone-a-old".into(),
        name: String::new(),
        public_key: KEY.into(),
        at: 1,
        expires_at: 2,
        actor_prefix: auth::random_bytes(),
        previous_token_hash: None,
    };
    assert_eq!(store.enrol(expired).await.unwrap().as_deref(), Some("wang"));
    let register = RegisterRow { serial: SERIAL.into(), state: "installed".into(), ..RegisterRow::default() };
    store
        .import_register(vec![register], AuditEntry::new(None, ADMIN, "import_terminals", "1"))
        .await
        .unwrap();

    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let world = World {
        _dir: dir,
        base: format!("http://{}", running.addr),
        running,
        http,
        agent_a: a.token,
        agent_b: b.token,
        revoked: revoked.token,
        expired: "pfd_expired".into(),
        visit: uuid::Uuid::now_v7().to_string(),
        blob: b"a photo of the business licence, as bytes".to_vec(),
    };
    // A's visit, referring to a photo A uploads.
    let ctx = Ctx::new(Actor::agent("wang", "phone-a"), Timestamp(1_795_000_000_000), "op-1");
    let merchant = MerchantInput {
        name: "老王便利店".into(),
        merchant_number: None,
        terminal_number: None,
        phone: None,
        address: None,
        location: None,
    };
    let mut doc =
        VisitDoc::create_visit(&ctx, b"phone-a", &world.visit, VisitKind::Inspection, &merchant, "wang")
            .unwrap();
    let photo = BlobInfo {
        sha256: sha256_hex(&world.blob),
        mime: "image/jpeg".into(),
        bytes: world.blob.len() as u64,
        width: 1,
        height: 1,
    };
    let ctx = Ctx::new(Actor::agent("wang", "phone-a"), Timestamp(1_795_000_001_000), "op-2");
    doc.attach_document(&ctx, &photo, DocumentKind::BusinessLicence, ctx.at).unwrap();
    let pushed = PushedVisit { id: world.visit.clone(), base: Vec::new(), bytes: doc.save().into() };
    let response = world
        .http
        .post(world.url("/api/v1/sync/push"))
        .bearer_auth(&world.agent_a)
        .header("content-type", PUSH_MEDIA_TYPE)
        .body(encode_cbor(&PushRequest { visits: vec![pushed] }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "A's visit is pushed");
    let status = world.upload().bearer_auth(&world.agent_a).send().await.unwrap().status();
    assert_eq!(status, 201, "A's photo is uploaded");
    world
}

impl World {
    /// A's photo, uploaded whole (without a credential yet).
    fn upload(&self) -> reqwest::RequestBuilder {
        self.http
            .put(self.url(&format!("/api/v1/blobs/{}?offset=0", sha256_hex(&self.blob))))
            .header("x-blob-size", self.blob.len().to_string())
            .body(self.blob.clone())
    }

    /// A new session of `user`, as its cookie and its forms' CSRF token.
    async fn session(&self, user: &str) -> (String, String) {
        let response = self
            .http
            .post(self.url("/office/login"))
            .form(&[("user", user), ("password", PASSWORD)])
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 303, "{user} signs in");
        let cookie = response.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_owned();
        let token = cookie.trim_start_matches("posfield_office=");
        let limits = posfield_sync_server::office::session::limits(&self.state().config);
        let now = posfield_sync_server::clock::now();
        let session = self.state().store.session(&sha256_hex(token.as_bytes()), now, limits).await.unwrap();
        (cookie, session.expect("the new session").csrf)
    }

    /// The request `caller` makes to `method` `path`: the body each route
    /// reads, the caller's credential.
    async fn request(&self, caller: Caller, method: &str, path: &str) -> reqwest::RequestBuilder {
        let sha = sha256_hex(&self.blob);
        let url = self.url(
            &path
                .replace("{sha}", &sha)
                .replace("{id}", &self.visit)
                .replace("{serial}", SERIAL)
                .replace("{code}", "en")
                .replace("{name}", "nobody"),
        );
        let (cookie, csrf) = match caller {
            Caller::ReviewerSession => self.session(REVIEWER).await,
            Caller::AdminSession => self.session(ADMIN).await,
            Caller::ForgedSession => (format!("posfield_office={}", "ab".repeat(32)), "0".repeat(32)),
            _ => (String::new(), "0".repeat(32)),
        };
        let mut request = match (method, path) {
            ("PUT", _) => return self.authorised(self.upload(), caller, &cookie),
            ("GET", _) => self.http.get(url),
            ("POST", "/api/v1/enroll") => {
                let code = auth::issue_enrolment_code(self.state().store.as_ref(), "zhao").await.unwrap();
                let device = uuid::Uuid::now_v7().to_string();
                let body = serde_json::json!({
                    "code": code, "device_id": device, "device_name": "phone", "public_key": KEY,
                });
                self.http.post(url).json(&body)
            }
            ("POST", "/api/v1/sync/manifest") => {
                self.http.post(url).json(&serde_json::json!({ "digest": "" }))
            }
            ("POST", "/api/v1/sync/renew" | "/api/v1/sync/wiped") => self.http.post(url),
            // A key of the wrong shape: refused (400) once the caller passed.
            ("POST", "/api/v1/sync/device-key") => {
                self.http.post(url).json(&serde_json::json!({ "public_key": "00", "proof": "00" }))
            }
            ("POST", "/api/v1/sync/push") => self
                .http
                .post(url)
                .header("content-type", PUSH_MEDIA_TYPE)
                .body(encode_cbor(&PushRequest { visits: Vec::new() })),
            ("POST", "/api/v1/office/visits") => self.http.post(url).json(&serde_json::json!({
                "kind": "inspection", "merchant": "张姐水果店", "agent": "wang",
            })),
            ("POST", "/api/v1/office/visits/{id}/review") => {
                self.http.post(url).json(&serde_json::json!({ "decision": "return", "note": "请补拍" }))
            }
            ("POST", "/api/v1/office/visits/{id}/assign") => {
                self.http.post(url).json(&serde_json::json!({ "agent": "wang" }))
            }
            ("POST", "/office/login") => {
                self.http.post(url).form(&[("user", REVIEWER), ("password", PASSWORD)])
            }
            ("POST", page) => {
                let form: &[(&str, &str)] = match page {
                    "/office/visits" => {
                        &[("kind", "inspection"), ("merchant", "张姐水果店"), ("agent", "wang")]
                    }
                    "/office/visits/{id}/review" => &[("decision", "return"), ("note", "请补拍")],
                    "/office/visits/{id}/assign" => &[("agent", "wang")],
                    "/office/terminals/import" => &[("csv", "serial\nN910000000002\n")],
                    "/office/applications/{id}" => &[("decision", "approve")],
                    "/office/check-in" => &[("serial", "N910000000002"), ("place", "warehouse")],
                    "/office/devices/enrol" => &[("agent", "zhao")],
                    "/office/visits/bulk" => &[("action", "approve")],
                    "/office/settings" => &[("reasons", "")],
                    "/office/users" => {
                        &[("name", "zhao"), ("role", "reviewer"), ("password", "a long password")]
                    }
                    "/office/alerts/dispatch" => {
                        &[("kind", "sim_renewal"), ("agent", "wang"), ("serial", SERIAL)]
                    }
                    "/office/setup" => &[
                        ("code", "00000000000000000000000000000000"),
                        ("user", "mallory"),
                        ("password", "correct horse battery"),
                        ("password_again", "correct horse battery"),
                    ],
                    _ => &[],
                };
                let mut fields = vec![("csrf", csrf.as_str())];
                fields.extend_from_slice(form);
                self.http.post(url).form(&fields)
            }
            (other, _) => panic!("the sweep makes no {other} request yet: add it"),
        };
        request = self.authorised(request, caller, &cookie);
        request
    }

    /// `request` with `caller`'s credential.
    fn authorised(
        &self,
        request: reqwest::RequestBuilder,
        caller: Caller,
        cookie: &str,
    ) -> reqwest::RequestBuilder {
        let basic = |user: &str, password: &str| {
            let pair = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
            format!("Basic {pair}")
        };
        match caller {
            Caller::Nobody => request,
            Caller::AgentA => request.bearer_auth(&self.agent_a),
            Caller::AgentB => request.bearer_auth(&self.agent_b),
            Caller::Revoked => request.bearer_auth(&self.revoked),
            Caller::Expired => request.bearer_auth(&self.expired),
            Caller::ForgedBearer => request.bearer_auth(format!("pfd_{}", "0".repeat(64))),
            Caller::ForgedSession | Caller::ReviewerSession | Caller::AdminSession => {
                request.header("cookie", cookie)
            }
            Caller::ForgedBasic => request.header("authorization", basic(ADMIN, "wrong horse battery")),
            Caller::ReviewerBasic => request.header("authorization", basic(REVIEWER, PASSWORD)),
            Caller::AdminBasic => request.header("authorization", basic(ADMIN, PASSWORD)),
        }
    }
}

/// The callers a route's declared access lets past its guard, as a row of
/// the table reads them (`y` past, `.` refused).
fn past_the_guard(access: Access) -> String {
    CALLERS
        .iter()
        .map(|caller| {
            let past = match access {
                Access::Public => true,
                Access::Device => matches!(caller, Caller::AgentA | Caller::AgentB),
                // No caller of the sweep holds the metrics token.
                Access::Metrics => false,
                Access::Office { door: Door::Basic, role: UserRole::Reviewer } => {
                    matches!(caller, Caller::ReviewerBasic | Caller::AdminBasic)
                }
                Access::Office { door: Door::Basic, role: UserRole::Admin } => *caller == Caller::AdminBasic,
                Access::Office { door: Door::Session, role: UserRole::Reviewer } => {
                    matches!(caller, Caller::ReviewerSession | Caller::AdminSession)
                }
                Access::Office { door: Door::Session, role: UserRole::Admin } => {
                    *caller == Caller::AdminSession
                }
            };
            if past { 'y' } else { '.' }
        })
        .collect()
}

/// The cell an answer makes (see the module's documentation); `!` for a
/// server error, which no caller may cause.
fn cell(response: &reqwest::Response) -> char {
    let header = |name: &str| response.headers().get(name).and_then(|v| v.to_str().ok());
    match response.status().as_u16() {
        401 | 403 => '.',
        303 if header("location") == Some("/office/login") && header("set-cookie").is_none() => '.',
        404 => 'h',
        500.. => '!',
        _ => 'y',
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_answers_each_caller_as_the_table_says() {
    for database in common::engines("routes").await {
        let engine = database.as_ref().map_or_else(|| "SQLite".to_owned(), DatabaseUrl::shown);
        let started = std::time::Instant::now();
        sweep(world(database).await).await;
        eprintln!("the route sweep on {engine}: {} ms", started.elapsed().as_millis());
    }
}

/// Checks every route of `world`'s server for every caller against the table.
async fn sweep(world: World) {
    let routes: Vec<(String, &str)> = posfield_sync_server::api::routes(&world.state().config)
        .iter()
        .map(|entry| (entry.route.method.to_string(), entry.route.path))
        .collect();
    let declared: BTreeSet<(&str, &str)> = routes.iter().map(|(m, p)| (m.as_str(), *p)).collect();
    let rows: BTreeSet<(&str, &str)> = TABLE.iter().map(|(m, p, _)| (*m, *p)).collect();
    let without_row: Vec<_> = declared.difference(&rows).collect();
    let without_route: Vec<_> = rows.difference(&declared).collect();
    assert!(
        without_row.is_empty() && without_route.is_empty(),
        "routes without a row in the table: {without_row:?}; rows without a route: {without_route:?}"
    );
    assert_eq!(declared.len(), routes.len(), "a route is declared twice");

    // A route's declaration is no wider than what it does: the callers its
    // guard lets past are the ones the table says it serves (a handler
    // stricter than its row would hide a row that says too much).
    let mut too_wide = Vec::new();
    for entry in posfield_sync_server::api::routes(&world.state().config) {
        let (method, path) = (entry.route.method.as_str(), entry.route.path);
        let row = TABLE.iter().find(|(m, p, _)| *m == method && *p == path).expect("a row");
        let served: String = row.2.chars().map(|c| if c == '.' { '.' } else { 'y' }).collect();
        if past_the_guard(entry.route.access) != served {
            too_wide.push(format!(
                "{method} {path}: declared {}, the table {served}",
                past_the_guard(entry.route.access)
            ));
        }
    }
    assert!(too_wide.is_empty(), "declarations that differ from the table:\n{}", too_wide.join("\n"));

    let mut wrong = Vec::new();
    for (method, path, expected) in TABLE {
        let expected: Vec<char> = expected.chars().collect();
        assert_eq!(expected.len(), CALLERS.len(), "{method} {path}: one cell per caller");
        let mut got = String::new();
        for caller in CALLERS {
            let response = world.request(caller, method, path).await.send().await.unwrap();
            got.push(cell(&response));
        }
        if got.chars().ne(expected.iter().copied()) {
            wrong.push(format!(
                "{method} {path}: expected {}, got {got}",
                expected.iter().collect::<String>()
            ));
        }
    }
    assert!(wrong.is_empty(), "routes that answered a caller against the table:\n{}", wrong.join("\n"));
    world.running.stop().await.unwrap();
}

#[tokio::test]
async fn the_sweep_reads_refusals_and_served_answers_apart() {
    // (status, location, a new cookie, the cell)
    let cases = [
        (200, None, false, 'y'),
        (201, None, false, 'y'),
        (409, None, false, 'y'),
        (422, None, false, 'y'),
        (426, None, false, 'y'),
        (303, Some("/office/visits"), true, 'y'),
        (303, Some("/office/login"), true, 'y'),
        (303, Some("/office/login"), false, '.'),
        (401, None, false, '.'),
        (403, None, false, '.'),
        (404, None, false, 'h'),
        (500, None, false, '!'),
        (503, None, false, '!'),
    ];
    for (status, location, cookie, expected) in cases {
        let mut answer = axum::http::Response::builder().status(status);
        if let Some(location) = location {
            answer = answer.header("location", location);
        }
        if cookie {
            answer = answer.header("set-cookie", "posfield_office=; Max-Age=0");
        }
        let response = reqwest::Response::from(answer.body(Vec::<u8>::new()).unwrap());
        assert_eq!(cell(&response), expected, "{status} {location:?} cookie {cookie}");
    }
}
