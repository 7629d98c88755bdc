//! The handlers of the `/office` pages and the view models their
//! templates render. Templates get words already translated and times
//! already formatted, so they hold no logic beyond loops and conditions.

use std::sync::Arc;

use askama::Template;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use posfield_shared::lifecycle::{TerminalEvent, TerminalState};
use posfield_shared::visit::acceptance::SignatureCheck;
use posfield_shared::visit::outcome::register_plan;
use posfield_shared::visit::schema::{ReviewDecision, StepState, Visit};
use posfield_shared::visit::{
    Authorship, ConcurrentEdit, ConcurrentValue, FieldChange, MerchantInput, SCHEMA_VERSION, VisitDoc,
};
use posfield_shared::vocab::{ApplicationState, DocumentKind, SimCarrier, Term};
use posfield_shared::{BlobHash, CalendarDate, Timestamp, VisitKind, VisitStatus};
use serde::Deserialize;

use super::PageError;
use super::certificate::CertificateError;
use super::fields::Fields;
use super::i18n::{LANG_COOKIE, Lang};
use super::import::{self, BadRow};
use super::queries::{self, TerminalRow, VisitFilter, VisitRow, url_encode};
use super::session::{self, Admin, Officer};
use crate::auth;
use crate::desk;
use crate::personal::{Place, phone_for};
use crate::store::{
    AuditEntry, CustodyRow, Principal, RegisterCause, StoreError, TerminalEventRow, UserRole,
};
use crate::throttle::OverHttps;

type AppState = State<Arc<crate::State>>;

/// Rows per page of the visit and terminal lists.
pub const PAGE_ROWS: usize = 50;

/// What every signed-in page shows around its content.
#[derive(Debug, Clone)]
pub struct Chrome {
    /// The page's language.
    pub lang: Lang,
    /// The signed-in user.
    pub user: String,
    /// The user's role, in words.
    pub role: &'static str,
    /// Whether admin links are shown.
    pub admin: bool,
    /// The CSRF token of the session's forms.
    pub csrf: String,
    /// Which tab is current.
    pub tab: &'static str,
    /// The current address, to come back to after switching language.
    pub back: String,
}

impl Chrome {
    pub(super) fn new(officer: &Officer, lang: Lang, tab: &'static str, back: String) -> Chrome {
        Chrome {
            lang,
            user: officer.name.clone(),
            role: lang.t(if officer.is_admin() { "role_admin" } else { "role_reviewer" }),
            admin: officer.is_admin(),
            csrf: officer.csrf.clone(),
            tab,
            back: url_encode(&back),
        }
    }

    /// The word for a key.
    pub fn t(&self, key: &str) -> &'static str {
        self.lang.t(key)
    }

    /// The language to switch to, and its name.
    pub fn other_lang(&self) -> (&'static str, &'static str) {
        match self.lang {
            Lang::Zh => ("en", "English"),
            Lang::En => ("zh-CN", "中文"),
        }
    }
}

pub(super) fn html(template: &impl Template) -> Result<Response, PageError> {
    let body = template.render()?;
    Ok(([(header::CACHE_CONTROL, "no-store")], Html(body)).into_response())
}

pub(super) fn status_label(lang: Lang, code: &str) -> String {
    VisitStatus::from_code(code).map_or_else(|| code.to_owned(), |s| lang.term(s).to_owned())
}

pub(super) fn kind_label(lang: Lang, code: &str) -> String {
    VisitKind::from_code(code).map_or_else(|| code.to_owned(), |k| lang.term(k).to_owned())
}

fn carrier_label(lang: Lang, code: Option<&str>) -> String {
    code.map(|c| SimCarrier::from_code(c).map_or_else(|| c.to_owned(), |s| lang.term(s).to_owned()))
        .unwrap_or_default()
}

fn terminal_state_label(lang: Lang, code: Option<&str>) -> String {
    code.map(|c| TerminalState::from_code(c).map_or_else(|| c.to_owned(), |s| lang.term(s).to_owned()))
        .unwrap_or_default()
}

/// A selectable option of a filter.
#[derive(Debug, Clone)]
pub struct Choice {
    /// The value sent.
    pub value: String,
    /// The words shown.
    pub label: String,
    /// Whether it is the current one.
    pub selected: bool,
}

pub(super) fn choices<T: Term>(lang: Lang, current: &str) -> Vec<Choice> {
    T::ALL
        .iter()
        .map(|t| Choice {
            value: t.code().into(),
            label: lang.term(*t).into(),
            selected: t.code() == current,
        })
        .collect()
}

/// A visit in a list.
#[derive(Debug, Clone)]
pub struct VisitLine {
    /// Visit id.
    pub id: String,
    /// Kind, in words.
    pub kind: String,
    /// Status code (for the badge's colour).
    pub status_code: String,
    /// Status, in words.
    pub status: String,
    /// Merchant.
    pub merchant: String,
    /// The registered phone as the viewer may see it in a list, or empty.
    pub phone: String,
    /// Serial or empty.
    pub serial: String,
    /// Assigned agent.
    pub assignee: String,
    /// Last change.
    pub updated: String,
    /// Photos not yet received.
    pub blobs_missing: i64,
}

pub(super) fn visit_line(lang: Lang, role: UserRole, row: &VisitRow) -> VisitLine {
    VisitLine {
        id: row.id.clone(),
        kind: kind_label(lang, &row.kind),
        status_code: row.status.clone(),
        status: status_label(lang, &row.status),
        merchant: row.merchant.clone(),
        phone: row.merchant_phone.as_deref().map(|p| phone_for(role, Place::List, p)).unwrap_or_default(),
        serial: row.serial.clone().unwrap_or_default(),
        assignee: row.assignee.clone(),
        updated: Timestamp::from_seconds(row.updated_at).beijing_words(),
        blobs_missing: row.blobs_missing,
    }
}

// ---------------------------------------------------------------- sign-in

/// The sign-in page.
#[derive(Template)]
#[template(path = "office/login.html")]
pub struct LoginPage {
    lang: Lang,
    failed: bool,
}

impl LoginPage {
    fn t(&self, key: &str) -> &'static str {
        self.lang.t(key)
    }
}

/// GET /office/login.
pub async fn login_page(lang: Lang) -> Result<Response, PageError> {
    html(&LoginPage { lang, failed: false })
}

/// The sign-in form.
#[derive(Debug, Deserialize)]
pub struct LoginForm {
    user: String,
    password: String,
}

/// POST /office/login: checks the password (argon2id) and opens a session.
pub async fn login(
    State(state): AppState,
    lang: Lang,
    headers: HeaderMap,
    client: crate::throttle::ClientAddress,
    transport: OverHttps,
    Form(form): Form<LoginForm>,
) -> Result<Response, PageError> {
    let origin_ok = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()).is_none_or(|origin| {
        let host = headers.get(header::HOST).and_then(|v| v.to_str().ok()).unwrap_or_default();
        origin.split_once("://").is_some_and(|(_, rest)| rest == host)
    });
    if !origin_ok {
        return Err(PageError::BadForm);
    }
    let (name, password) = (form.user.trim().to_owned(), form.password);
    let (store, throttles, now) = (state.store.as_ref(), &state.throttles, state.clock.now());
    let user = match auth::sign_in(store, throttles, client.0, &name, &password, now).await {
        Ok(user) => Some(user),
        Err(auth::AuthError::Store(e)) => return Err(e.into()),
        Err(auth::AuthError::Throttled { retry_after_secs }) => {
            let body = LoginPage { lang, failed: true }.render()?;
            let retry_after = HeaderValue::from(retry_after_secs);
            return Ok((StatusCode::TOO_MANY_REQUESTS, [(header::RETRY_AFTER, retry_after)], Html(body))
                .into_response());
        }
        Err(_) => None,
    };
    // A password changed or a user removed between the check and the
    // session is refused as a wrong password is.
    let limits = session::limits(&state.config);
    let opened = match &user {
        Some(user) => session::open(state.store.as_ref(), limits, &name, &user.password_hash).await?,
        None => None,
    };
    let (Some(user), Some(token)) = (user, opened) else {
        // Never what was typed: people type their password into the name field.
        tracing::info!(door = "page", "back-office sign-in refused");
        let body = LoginPage { lang, failed: true }.render()?;
        return Ok((StatusCode::UNAUTHORIZED, Html(body)).into_response());
    };
    tracing::info!(user = %name, role = user.role.code(), "back-office sign-in");
    let cookie = token.cookie(state.config.office_session_lifetime_secs, transport);
    Ok((StatusCode::SEE_OTHER, [(header::SET_COOKIE, cookie), (header::LOCATION, "/office/visits".into())])
        .into_response())
}

/// The sign-out form.
#[derive(Debug, Deserialize)]
pub struct CsrfForm {
    csrf: String,
}

/// POST /office/logout.
pub async fn logout(
    State(state): AppState,
    officer: Officer,
    transport: OverHttps,
    Form(form): Form<CsrfForm>,
) -> Result<Response, PageError> {
    officer.check_csrf(&form.csrf)?;
    officer.sign_out(state.store.as_ref()).await?;
    Ok((
        StatusCode::SEE_OTHER,
        [
            (header::SET_COOKIE, session::expired_session_cookie(transport)),
            (header::LOCATION, "/office/login".into()),
        ],
    )
        .into_response())
}

/// Where to go back to after switching language.
#[derive(Debug, Deserialize)]
pub struct Back {
    #[serde(default)]
    back: String,
}

/// GET /office/lang/{code}: remembers the language in a cookie.
pub async fn switch_language(
    Path(code): Path<String>,
    Query(back): Query<Back>,
    transport: OverHttps,
) -> Response {
    let lang = Lang::from_code(&code);
    // Only a path of this site: never an open redirect.
    let back = if back.back.starts_with("/office") && !back.back.starts_with("//") {
        back.back
    } else {
        "/office/visits".into()
    };
    (
        StatusCode::SEE_OTHER,
        [
            (
                header::SET_COOKIE,
                format!(
                    "{LANG_COOKIE}={}; Path=/office; SameSite=Strict; Max-Age=31536000{}",
                    lang.code(),
                    transport.cookie_attributes()
                ),
            ),
            (header::LOCATION, back),
        ],
    )
        .into_response()
}

/// GET /office/static/office.css.
pub async fn stylesheet() -> Response {
    (
        [(header::CONTENT_TYPE, "text/css; charset=utf-8"), (header::CACHE_CONTROL, "max-age=3600")],
        include_str!("../../templates/office/office.css"),
    )
        .into_response()
}

/// One of the pages' scripts, served from the binary.
pub(super) fn script(source: &'static str) -> Response {
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8"), (header::CACHE_CONTROL, "max-age=3600")],
        source,
    )
        .into_response()
}

/// GET /office/static/import.js: loads a chosen CSV file into the import form.
pub async fn import_script() -> Response {
    script(include_str!("../../templates/office/import.js"))
}

// ---------------------------------------------------------------- visits

/// The visit list.
#[derive(Template)]
#[template(path = "office/visits.html")]
pub struct VisitsPage {
    c: Chrome,
    filter: VisitFilter,
    statuses: Vec<Choice>,
    kinds: Vec<Choice>,
    agents: Vec<Choice>,
    rows: Vec<VisitLine>,
    next: Option<String>,
    first: Option<String>,
    export: String,
    /// This page's address, for a bulk decision to come back to.
    here: String,
}

/// GET /office/visits.
pub async fn visit_list(
    State(state): AppState,
    officer: Officer,
    lang: Lang,
    Query(filter): Query<VisitFilter>,
) -> Result<Response, PageError> {
    let (rows, next) =
        queries::visits(state.store.as_ref(), &officer.principal(), &filter, PAGE_ROWS).await?;
    let agents = state.store.agents().await?;
    let base = filter.query();
    let link = |after: &str| {
        let mut q = base.clone();
        if !after.is_empty() {
            if !q.is_empty() {
                q.push('&');
            }
            q.push_str(&format!("after={}", url_encode(after)));
        }
        format!("/office/visits?{q}")
    };
    let page = VisitsPage {
        c: Chrome::new(&officer, lang, "visits", link(&filter.after)),
        statuses: choices::<VisitStatus>(lang, &filter.status),
        kinds: choices::<VisitKind>(lang, &filter.kind),
        agents: agents
            .into_iter()
            .map(|a| Choice { selected: a == filter.agent, label: a.clone(), value: a })
            .collect(),
        rows: rows.iter().map(|r| visit_line(lang, officer.role, r)).collect(),
        next: next.map(|n| link(&n)),
        first: (!filter.after.is_empty()).then(|| link("")),
        export: format!("/office/visits/export.csv?{base}"),
        here: link(&filter.after),
        filter,
    };
    html(&page)
}

/// The visits an export holds: the filtered list from its start, up to 100,000.
async fn exported_visits(
    state: &crate::State,
    officer: &Officer,
    mut filter: VisitFilter,
) -> Result<Vec<VisitRow>, PageError> {
    filter.after.clear();
    Ok(queries::visits(state.store.as_ref(), &officer.principal(), &filter, 100_000).await?.0)
}

/// GET /office/visits/export.csv: the filtered visits (up to 100,000).
pub async fn export_visits(
    State(state): AppState,
    officer: Officer,
    Query(filter): Query<VisitFilter>,
) -> Result<Response, PageError> {
    let rows = exported_visits(&state, &officer, filter).await?;
    Ok(csv_response("visits.csv", import::visits_csv(&rows, officer.role)))
}

/// GET /office/visits/export.xlsx: the same visits as a spreadsheet.
pub async fn export_visits_xlsx(
    State(state): AppState,
    officer: Officer,
    Query(filter): Query<VisitFilter>,
) -> Result<Response, PageError> {
    let rows = exported_visits(&state, &officer, filter).await?;
    let table = import::visits_table(&rows, officer.role);
    xlsx_response("visits.xlsx", super::xlsx::workbook("visits", import::VISIT_COLUMNS, &table))
}

pub(super) fn xlsx_response(
    name: &str,
    book: Result<Vec<u8>, rust_xlsxwriter::XlsxError>,
) -> Result<Response, PageError> {
    Ok((
        [
            (header::CONTENT_TYPE, super::xlsx::CONTENT_TYPE.to_owned()),
            (header::CONTENT_DISPOSITION, format!("attachment; filename=\"{name}\"")),
        ],
        book.map_err(PageError::internal)?,
    )
        .into_response())
}

pub(super) fn csv_response(name: &str, body: String) -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
            (header::CONTENT_DISPOSITION, format!("attachment; filename=\"{name}\"")),
        ],
        body,
    )
        .into_response()
}

/// A checklist step as shown.
#[derive(Debug, Clone)]
pub struct StepLine {
    /// Its words.
    pub label: String,
    /// State code (for the badge).
    pub state_code: String,
    /// State in words.
    pub state: String,
    /// The back-office decision this step waits for, in words (empty when none).
    pub waits_for: String,
    /// Reason for skipping, note.
    pub note: String,
    /// Who and when.
    pub stamp: String,
}

/// A fault as shown.
#[derive(Debug, Clone)]
pub struct FaultLine {
    /// The fault, in words.
    pub label: String,
    /// The symptom.
    pub symptom: String,
    /// What was tried, in order.
    pub attempts: Vec<String>,
    /// The outcome.
    pub outcome: String,
}

/// A photo as shown.
#[derive(Debug, Clone)]
pub struct PhotoLine {
    /// Blob address.
    pub sha256: String,
    /// What it is.
    pub label: String,
    /// Whether the server has it.
    pub arrived: bool,
    /// The agent's marks over it, as an SVG overlay (markup made by
    /// `posfield_shared::visit::marks`, its text escaped); empty without marks.
    pub marks: String,
    /// How many marks (the overlay leaves out shapes this version does not know).
    pub mark_count: usize,
}

impl PhotoLine {
    /// A photo or image without marks.
    pub fn plain(sha256: &str, label: String, arrived: bool) -> PhotoLine {
        PhotoLine { sha256: sha256.to_owned(), label, arrived, marks: String::new(), mark_count: 0 }
    }

    /// A photo of `visit` with the marks drawn on it.
    fn of(
        visit: &Visit,
        document: &posfield_shared::visit::schema::DocumentRef,
        label: String,
        arrived: bool,
    ) -> PhotoLine {
        let marks: Vec<_> = visit.marks_on(&document.sha256).collect();
        PhotoLine {
            mark_count: marks.len(),
            marks: if marks.is_empty() {
                String::new()
            } else {
                posfield_shared::visit::marks::overlay_svg(marks, document.width, document.height)
            },
            ..PhotoLine::plain(&document.sha256, label, arrived)
        }
    }
}

/// A field a history entry's change altered, as shown.
#[derive(Debug, Clone)]
pub struct ChangeLine {
    /// The field, in words.
    pub label: String,
    /// Its value before the change.
    pub before: String,
    /// Its value after the change.
    pub after: String,
}

/// One of the values two devices wrote to a field at once, as shown.
#[derive(Debug, Clone)]
pub struct ConcurrentValueLine {
    /// The value.
    pub value: String,
    /// Who wrote it and when, as far as the document tells.
    pub written: String,
}

/// A field written on two devices at once, as shown.
#[derive(Debug, Clone)]
pub struct ConcurrentLine {
    /// The field, in words.
    pub label: String,
    /// The value the visit shows.
    pub winner: ConcurrentValueLine,
    /// The values it does not show.
    pub losers: Vec<ConcurrentValueLine>,
}

/// A history entry as shown.
#[derive(Debug, Clone)]
pub struct HistoryLine {
    /// When (device time).
    pub at: String,
    /// Who, with role.
    pub by: String,
    /// The operation in words.
    pub action: String,
    /// Its detail.
    pub detail: String,
    /// Who the server received it from and when, by the server's clock;
    /// empty for entries that arrived before the server recorded it.
    pub received: String,
    /// The fields its change altered, before and after.
    pub changes: Vec<ChangeLine>,
}

/// The visit page.
#[derive(Template)]
#[template(path = "office/visit.html")]
pub struct VisitPage {
    c: Chrome,
    id: String,
    kind: String,
    status_code: String,
    status: String,
    merchant: posfield_shared::visit::schema::Merchant,
    assignee: String,
    /// The planned day and window in words (empty when not planned), and
    /// the form's current values.
    planned: String,
    plan: PlanFields,
    /// The agent's way there, as (label, words) lines.
    trip: Vec<(&'static str, String)>,
    created: String,
    completed: String,
    terminal: String,
    replacement: String,
    steps: Vec<StepLine>,
    faults: Vec<FaultLine>,
    photos: Vec<PhotoLine>,
    signature: Option<PhotoLine>,
    signer: String,
    signed_at: String,
    /// The merchant's verification page of the acceptance (absolute path).
    verify_path: Option<String>,
    signature_badge: &'static str,
    signature_state: &'static str,
    device_signature: Option<bool>,
    /// The device whose key verified the signature, as (label, value) lines.
    signing_device: Vec<(&'static str, String)>,
    sim: Vec<(&'static str, String)>,
    facts: Vec<(&'static str, String)>,
    reviews: Vec<HistoryLine>,
    notes: Vec<HistoryLine>,
    history: Vec<HistoryLine>,
    /// Fields written on two devices at once: the value shown and the others.
    concurrent: Vec<ConcurrentLine>,
    missing_blobs: usize,
    can_review: bool,
    /// What a completed visit still misses before it can be approved (the
    /// approve button is offered only when nothing is).
    approval_missing: Vec<String>,
    /// What approving the visit does to the terminal register.
    register: RegisterPreview,
    /// A newer app wrote the visit in a way this server may not change:
    /// shown, with no desk action offered.
    read_only: bool,
    /// Chunks of the document were set aside as damaged: what is shown is
    /// its last good state.
    damaged: bool,
    agents: Vec<Choice>,
    saved: bool,
    /// Open in the review queue.
    queue: Option<super::queue::QueueMode>,
    /// The return reasons the desk keeps (or the stock ones, in the page's language).
    reasons: Vec<String>,
}

/// The agent's way to the merchant in words: each moment in Beijing time,
/// and where the phone said it was on arrival or why it could not say.
fn trip_lines(lang: Lang, trip: &posfield_shared::visit::Trip) -> Vec<(&'static str, String)> {
    let mut lines = Vec::new();
    let moments = [("trip_accepted", trip.accepted.as_ref()), ("trip_departed", trip.departed.as_ref())];
    for (key, stamp) in moments {
        if let Some(stamp) = stamp {
            lines.push((lang.t(key), stamp.at.beijing_words()));
        }
    }
    if let Some(arrival) = &trip.arrived {
        lines.push((lang.t("trip_arrived"), arrival.stamp.at.beijing_words()));
        let place = match (arrival.location, arrival.no_location.as_deref()) {
            (Some(point), _) => {
                let (lat, lon) = point.degrees();
                let within = point.accuracy_m.map(|m| format!(" ±{m} m")).unwrap_or_default();
                format!("{lat:.6}, {lon:.6}{within}")
            }
            (None, Some("refused")) => lang.t("trip_no_fix_refused").to_owned(),
            (None, Some("timeout")) => lang.t("trip_no_fix_timeout").to_owned(),
            (None, _) => lang.t("trip_no_fix_unavailable").to_owned(),
        };
        lines.push((lang.t("trip_location"), place));
    }
    lines
}

/// A dispatch form's plan fields as they stand.
#[derive(Debug, Default)]
pub struct PlanFields {
    day: String,
    from: String,
    until: String,
}

impl PlanFields {
    fn of(plan: Option<&posfield_shared::visit::Schedule>) -> PlanFields {
        let time = |t: Option<posfield_shared::TimeOfDay>| t.map(|t| t.to_string()).unwrap_or_default();
        plan.map_or_else(PlanFields::default, |p| PlanFields {
            day: p.day.to_string(),
            from: time(p.from),
            until: time(p.until),
        })
    }
}

fn role_words(lang: Lang, role: posfield_shared::Role) -> &'static str {
    match role {
        posfield_shared::Role::Agent => lang.t("agent"),
        posfield_shared::Role::Reviewer => lang.t("role_reviewer"),
        posfield_shared::Role::Admin => lang.t("role_admin"),
    }
}

fn stamp_words(lang: Lang, stamp: &posfield_shared::visit::schema::Stamp) -> String {
    format!("{} ({}) · {}", stamp.by.user, role_words(lang, stamp.by.role), stamp.at.beijing_words())
}

fn action_words(lang: Lang, action: &str) -> String {
    const ACTIONS: &[(&str, &str, &str)] = &[
        ("create", "创建工单", "Created"),
        ("identify_terminal", "识别终端", "Identified the terminal"),
        ("set_step", "更新检查项", "Checklist step"),
        ("add_fault", "记录故障", "Recorded a fault"),
        ("add_attempt", "现场处理", "Tried on site"),
        ("add_fault_evidence", "故障证据", "Fault evidence"),
        ("resolve_fault", "故障处理结果", "Fault outcome"),
        ("remove_fault", "撤销故障", "Withdrew a fault"),
        ("attach_document", "上传材料照片", "Attached a photo"),
        ("remove_document", "删除材料照片", "Removed a photo"),
        ("set_sim", "记录流量卡", "SIM data"),
        ("set_sim_action", "流量卡处理", "SIM action"),
        ("confirm_backup", "确认数据备份", "Confirmed the backup"),
        ("waive_backup", "商户拒绝备份并签字", "Merchant declined the backup and signed"),
        ("set_terminal_details", "记录终端铭牌", "Recorded the terminal's label"),
        ("set_replacement_details", "记录新终端铭牌", "Recorded the new terminal's label"),
        ("record_parameters", "参数配置", "Parameters set up"),
        ("record_network_test", "网络测试", "Network test"),
        ("record_restore", "数据恢复", "Data restored"),
        ("set_unbind_reference", "记录解绑流水号", "Unbinding reference"),
        ("set_settled_balance", "记录结清金额", "Settled balance"),
        ("set_follow_up", "约定回访日期", "Follow-up day"),
        ("set_warranty", "保修判定", "Warranty decision"),
        ("set_repair_plan", "维修方案", "Repair plan"),
        ("set_repair_fee", "维修费用", "Repair fee"),
        ("set_suspension_cause", "停用原因", "Cause of suspension"),
        ("submit_application", "提交复机申请", "Submitted the application"),
        ("decide_application", "审批复机申请", "Decided the application"),
        ("sign_acceptance", "商户验收签字", "Merchant signed"),
        ("complete", "提交完成", "Completed"),
        ("review", "审核", "Reviewed"),
        ("cancel", "取消", "Cancelled"),
        ("assign", "指派", "Assigned"),
        ("add_note", "添加备注", "Added a note"),
        ("correct_merchant", "更正商户信息", "Corrected the merchant"),
        ("restore_office_fields", "恢复后台字段", "Restored back-office fields"),
    ];
    ACTIONS.iter().find(|(code, _, _)| *code == action).map_or_else(
        || action.to_owned(),
        |(_, zh, en)| if lang == Lang::Zh { (*zh).to_owned() } else { (*en).to_owned() },
    )
}

/// What the steps of schema 3 recorded, as the visit page lists it: the
/// labels' details with the terminal's age, the parameters, the network
/// test, the data restored, the backup's signed refusal, the unbinding
/// reference, the settled balance and the follow-up day.
pub(crate) fn recorded_facts(lang: Lang, visit: &Visit, now_seconds: i64) -> Vec<(&'static str, String)> {
    let today = posfield_shared::Timestamp::from_seconds(now_seconds).beijing_date();
    // Which checklist's rules the visit is completed by: a visit begun on an
    // older phone is asked less, and the reviewer sees that it was.
    let mut facts = vec![(lang.t("checklist_edition"), visit.checklist_edition().to_string())];
    let label = |i: &posfield_shared::visit::schema::Identification| {
        let mut parts: Vec<String> =
            [i.manufacturer.clone(), i.model.clone()].into_iter().flatten().collect();
        if let Some(day) = i.production_date {
            parts.push(day.to_string());
        }
        if let Some(age) = i.age_years(today) {
            parts.push(format!("{age} {}", lang.t("age_years")));
        }
        (!parts.is_empty() && (i.model.is_some() || i.production_date.is_some())).then(|| parts.join(" · "))
    };
    if let Some(words) = visit.terminal.as_ref().and_then(label) {
        facts.push((lang.t("label_details"), words));
    }
    if let Some(words) = visit.replacement.as_ref().and_then(label) {
        facts.push((lang.t("new_label_details"), words));
    }
    if let Some(p) = &visit.parameters {
        let ok =
            if p.parameters_downloaded && p.keys_downloaded { "parameters_ok" } else { "parameters_missing" };
        facts.push((lang.t("parameters"), format!("{} · {}", p.terminal_number, lang.t(ok))));
    }
    if let Some(t) = &visit.network_test {
        let result = lang.t(if t.passed { "passed" } else { "failed" });
        let note = t.note.as_deref().map(|n| format!(" · {n}")).unwrap_or_default();
        facts.push((lang.t("network_test"), format!("{} · {result}{note}", lang.open(&t.link))));
    }
    if let Some(r) = &visit.restore {
        let items: Vec<String> = r.items.iter().map(|i| lang.open(i)).collect();
        let note = r.note.as_deref().map(|n| format!(" · {n}")).unwrap_or_default();
        facts.push((lang.t("restore"), format!("{}{note}", items.join("、"))));
    }
    if let Some(w) = &visit.backup_waiver {
        let reason = w.reason.as_deref().map(|r| format!(" · {r}")).unwrap_or_default();
        facts.push((
            lang.t("backup_waiver"),
            format!("{} · {}{reason}", w.signer_name, w.signed_at.beijing_words()),
        ));
    }
    if let Some(reference) = &visit.deregistration.unbind_reference {
        facts.push((lang.t("unbind_reference"), reference.value.clone()));
    }
    if let Some(balance) = &visit.deregistration.settled_balance_fen {
        facts
            .push((lang.t("settled_balance"), format!("{}.{:02}", balance.value / 100, balance.value % 100)));
    }
    for h in &visit.handovers {
        let seal = h.seal.as_deref().map(|s| format!(" · {s}")).unwrap_or_default();
        facts.push((lang.t("handover"), format!("{} · {}{seal}", h.serial, h.condition)));
    }
    if let Some(f) = &visit.follow_up {
        let note = f.note.as_deref().map(|n| format!(" · {n}")).unwrap_or_default();
        facts.push((lang.t("follow_up"), format!("{}{note}", f.on)));
    }
    facts
}

async fn load_visit(state: &crate::State, principal: &Principal, id: &str) -> Result<Visit, PageError> {
    load_shown(state, principal, id).await.map(|(_, visit, _)| visit)
}

/// A visit as the pages show it, its document, and whether it is the last
/// good state of a damaged document.
async fn load_shown(
    state: &crate::State,
    principal: &Principal,
    id: &str,
) -> Result<(VisitDoc, Visit, bool), PageError> {
    posfield_sync_link_server::doc_id(id).map_err(|_| PageError::NotFound)?;
    if !state.store.reaches_visit(principal, id, false).await? {
        return Err(PageError::NotFound);
    }
    let stored = crate::projection::load_stored(state, id)
        .await
        .map_err(PageError::internal)?
        .ok_or(PageError::NotFound)?;
    let (doc, visit, damaged) = stored.readable(id).map_err(PageError::internal)?;
    Ok((doc, visit, damaged))
}

/// Whether a visit page was reached right after a decision, and whether
/// it is open in the review queue ([`super::queue`]).
#[derive(Debug, Deserialize)]
pub struct Saved {
    #[serde(default)]
    saved: Option<String>,
    /// In the queue: this visit's key (`updated_at:id`), the skip's start.
    #[serde(default)]
    queue: Option<String>,
    /// The queue's agent filter.
    #[serde(default)]
    agent: String,
    /// The queue's kind filter.
    #[serde(default)]
    kind: String,
}

/// GET /office/visits/{id}.
pub async fn visit_page(
    State(state): AppState,
    officer: Officer,
    lang: Lang,
    Path(id): Path<String>,
    Query(saved): Query<Saved>,
) -> Result<Response, PageError> {
    let principal = officer.principal();
    let (mut doc, visit, damaged) = load_shown(&state, &principal, &id).await?;
    let facts = state.store.visit_facts(&principal, &id).await?;
    let content_hash = visit.acceptance.as_ref().map(|a| a.content_hash.as_str());
    let device_signature = facts.device_signature_valid(content_hash);
    let can_review = visit.status == VisitStatus::Completed && visit.editable_by(SCHEMA_VERSION);
    let approval_missing = can_review
        .then(|| desk::approval_gaps(&visit, &facts))
        .flatten()
        .map(|gap| gap.lines(lang))
        .unwrap_or_default();
    let register = if can_review {
        RegisterPreview::of(&state, lang, &visit).await?
    } else {
        RegisterPreview::default()
    };
    let signing_device = match &facts.countersignature {
        Some(countersigned) => {
            let received = Timestamp::from_seconds(countersigned.received_at).beijing_words();
            let mut lines = match &countersigned.device {
                Some(d) => vec![
                    (lang.t("signing_device"), format!("{} · {} · {}", d.agent, d.name, d.id)),
                    (lang.t("key_fingerprint"), crate::office::key_fingerprint(&d.public_key)),
                    (lang.t("device_enrolled_at"), Timestamp::from_seconds(d.enrolled_at).beijing_words()),
                ],
                None => vec![(lang.t("signing_device"), lang.t("signing_device_unrecorded").to_owned())],
            };
            lines.push((lang.t("countersigned_at"), received));
            lines
        }
        None => Vec::new(),
    };
    let missing = facts.missing_blobs;
    let agents = state.store.enrolled_agents().await?;
    let arrived = |sha: &str| !missing.iter().any(|m| m == sha);
    let steps = posfield_shared::visit::step_statuses(&visit)
        .into_iter()
        .map(|status| {
            let step = status.step;
            let record = visit.step(step.id.as_str());
            StepLine {
                label: if lang == Lang::Zh { step.zh.into() } else { step.en.into() },
                state_code: status.state.code().to_owned(),
                state: lang.open(&status.state),
                waits_for: status
                    .waits_for
                    .filter(|_| status.state == StepState::Pending)
                    .map(|decision| if lang == Lang::Zh { decision.zh() } else { decision.en() })
                    .unwrap_or_default(),
                note: record
                    .map(|r| {
                        [r.reason.clone(), r.note.clone()]
                            .into_iter()
                            .flatten()
                            .collect::<Vec<_>>()
                            .join(" · ")
                    })
                    .unwrap_or_default(),
                stamp: record.map(|r| stamp_words(lang, &r.stamp)).unwrap_or_default(),
            }
        })
        .collect();
    let faults = visit
        .current_faults()
        .map(|f| FaultLine {
            label: lang.open(&f.code),
            symptom: f.symptom.clone().unwrap_or_default(),
            attempts: f
                .attempts
                .iter()
                .map(|a| {
                    let what = [a.remedy.as_ref().map(|r| lang.open(r)), a.description.clone()]
                        .into_iter()
                        .flatten()
                        .collect::<Vec<_>>()
                        .join("：");
                    let result = lang.t(if a.fixed { "fixed" } else { "not_fixed" });
                    format!("{what} → {result} ({})", stamp_words(lang, &a.stamp))
                })
                .collect(),
            outcome: f
                .resolution
                .as_ref()
                .map(|r| {
                    let words = lang.t(if r.fixed { "fixed" } else { "not_fixed" });
                    format!("{words} {}", r.note.clone().unwrap_or_default())
                })
                .unwrap_or_default(),
        })
        .collect();
    let mut photos: Vec<PhotoLine> = visit
        .current_documents()
        .map(|d| PhotoLine::of(&visit, d, lang.open(&d.kind), arrived(&d.sha256)))
        .collect();
    // The merchant's signed refusal of the backup is shown beside the photos.
    if let Some(waiver) = &visit.backup_waiver {
        let sha = &waiver.signature.sha256;
        photos.push(PhotoLine::plain(sha, lang.t("backup_waiver").to_owned(), arrived(sha)));
    }
    let (signature_state, signature_badge) = match SignatureCheck::of(&visit) {
        SignatureCheck::Unsigned => ("unsigned", lang.t("sig_unsigned")),
        SignatureCheck::Valid => ("valid", lang.t("sig_valid")),
        SignatureCheck::Mismatch { .. } => ("mismatch", lang.t("sig_mismatch")),
    };
    let mut sim = Vec::new();
    if let Some(s) = &visit.sim {
        sim.push((lang.t("iccid"), s.iccid.clone()));
        sim.push((lang.t("carrier"), lang.open(&s.carrier)));
        sim.push((lang.t("expiry"), s.expiry.to_string()));
        if let Some(action) = &s.action {
            sim.push((lang.t("sim_action"), lang.open(action)));
        }
        if let Some(new) = &s.new_iccid {
            sim.push((lang.t("iccid"), format!("→ {new}")));
        }
        if let Some(new) = s.new_expiry {
            sim.push((lang.t("expiry"), format!("→ {new}")));
        }
    }
    let mut facts = Vec::new();
    if let Some(w) = &visit.repair.warranty {
        facts.push((lang.t("warranty"), lang.open(&w.value)));
    }
    if let Some(p) = &visit.repair.plan {
        facts.push((lang.t("repair_plan"), lang.open(&p.value)));
    }
    if let Some(fee) = &visit.repair.fee_fen {
        facts.push((lang.t("fee"), format!("{}.{:02}", fee.value / 100, fee.value % 100)));
    }
    if let Some(cause) = &visit.reactivation.cause {
        facts.push((lang.t("cause"), lang.open(&cause.value)));
    }
    if let Some(application) = &visit.reactivation.application {
        let reason = application.reason.clone().map(|r| format!(" · {r}")).unwrap_or_default();
        facts.push((lang.t("application"), format!("{}{reason}", lang.open(&application.state))));
    }
    if let Some(backup) = &visit.backup {
        let items: Vec<String> = backup.items.iter().map(|i| lang.open(i)).collect();
        facts.push((lang.t("backup"), items.join("、")));
    }
    facts.extend(recorded_facts(lang, &visit, state.clock.now()));
    let identification = |i: &Option<posfield_shared::visit::schema::Identification>| {
        i.as_ref().map(|i| format!("{} ({})", i.serial, lang.open(&i.method))).unwrap_or_default()
    };
    let line = |stamp: &posfield_shared::visit::schema::Stamp, action: String, detail: String| HistoryLine {
        at: stamp.at.beijing_words(),
        by: format!("{} ({})", stamp.by.user, role_words(lang, stamp.by.role)),
        action,
        detail,
        received: String::new(),
        changes: Vec::new(),
    };
    // Who sent each entry and when it arrived, as the server recorded it,
    // beside the device time the entry claims.
    let receipts = crate::projection::receipts(&state, &id).await?;
    // The values before and after each change, and the values that lost a
    // concurrent write, in the reader's words and with the registered phone
    // as the reader may see it there.
    let fields = Fields::new(lang, officer.role, &visit);
    let mut changes = doc.history_changes();
    let concurrent = concurrent_lines(lang, &fields, doc.concurrent_edits());
    let mut history: Vec<HistoryLine> = {
        let mut events = visit.history.clone();
        events.sort_by_key(|e| e.stamp.at);
        events
            .iter()
            .map(|e| HistoryLine {
                received: receipts
                    .get(&e.id)
                    .map(|r| {
                        let at = Timestamp::from_seconds(r.at.div_euclid(1000)).beijing_words();
                        format!("{} {} · {} · {at}", lang.t("received_from"), r.by, r.device)
                    })
                    .unwrap_or_default(),
                changes: change_lines(&fields, changes.remove(&e.id).unwrap_or_default()),
                ..line(&e.stamp, action_words(lang, &e.action), e.detail.clone())
            })
            .collect()
    };
    history.reverse();
    let reviews = visit
        .reviews
        .iter()
        .map(|r| line(&r.stamp, lang.open(&r.decision), r.note.clone().unwrap_or_default()))
        .collect();
    let notes = visit.notes.iter().map(|n| line(&n.stamp, String::new(), n.text.clone())).collect();
    let page = VisitPage {
        c: Chrome::new(
            &officer,
            lang,
            if saved.queue.is_some() && can_review { "queue" } else { "visits" },
            format!("/office/visits/{id}"),
        ),
        kind: lang.term(visit.kind).into(),
        status_code: visit.status.code().into(),
        status: lang.term(visit.status).into(),
        merchant: posfield_shared::visit::schema::Merchant {
            phone: visit.merchant.phone.as_deref().map(|p| phone_for(officer.role, Place::VisitPage, p)),
            ..visit.merchant.clone()
        },
        assignee: visit.assignment.agent.clone(),
        planned: visit
            .assignment
            .schedule
            .as_ref()
            .map(posfield_shared::visit::Schedule::words)
            .unwrap_or_default(),
        plan: PlanFields::of(visit.assignment.schedule.as_ref()),
        trip: visit.trip.as_ref().map(|trip| trip_lines(lang, trip)).unwrap_or_default(),
        created: stamp_words(lang, &visit.created),
        completed: visit.completion.as_ref().map(|s| stamp_words(lang, s)).unwrap_or_default(),
        terminal: identification(&visit.terminal),
        replacement: identification(&visit.replacement),
        steps,
        faults,
        photos,
        signature: visit.acceptance.as_ref().map(|a| {
            PhotoLine::plain(&a.signature.sha256, a.signer_name.clone(), arrived(&a.signature.sha256))
        }),
        signer: visit.acceptance.as_ref().map(|a| a.signer_name.clone()).unwrap_or_default(),
        signed_at: visit.acceptance.as_ref().map(|a| a.signed_at.beijing_words()).unwrap_or_default(),
        verify_path: visit.acceptance.as_ref().map(|a| {
            format!("/{}", posfield_shared::visit::acceptance::verification_path(&visit.id, &a.content_hash))
        }),
        signature_badge,
        signature_state,
        device_signature,
        signing_device,
        sim,
        facts,
        reviews,
        notes,
        history,
        concurrent,
        missing_blobs: missing.len(),
        can_review,
        approval_missing,
        register,
        read_only: !visit.editable_by(SCHEMA_VERSION),
        damaged,
        agents: agents
            .into_iter()
            .map(|a| Choice { selected: a == visit.assignment.agent, label: a.clone(), value: a })
            .collect(),
        saved: saved.saved.is_some(),
        queue: saved.queue.as_ref().filter(|_| can_review).map(|at| {
            let q = super::queue::QueueQuery {
                agent: saved.agent.clone(),
                kind: saved.kind.clone(),
                after: at.clone(),
            };
            super::queue::QueueMode {
                skip: format!("/office/queue?after={}{}", super::queries::url_encode(at), q.carried()),
                agent: saved.agent.clone(),
                kind: saved.kind.clone(),
            }
        }),
        reasons: super::settings::return_reasons(state.store.as_ref(), lang).await?,
        id,
    };
    html(&page)
}

/// A change's fields as shown: those the page leaves out dropped.
fn change_lines(fields: &Fields<'_>, changes: Vec<FieldChange>) -> Vec<ChangeLine> {
    changes
        .into_iter()
        .filter_map(|change| {
            let words = fields.words(&change.path, &[change.before.as_deref(), change.after.as_deref()])?;
            let [before, after] = <[String; 2]>::try_from(words.values).ok()?;
            Some(ChangeLine { label: words.label, before, after })
        })
        .collect()
}

/// The fields written on two devices at once, as shown, each value with
/// who wrote it: the history entry of its change where there is one, else
/// the change's writer and time.
fn concurrent_lines(lang: Lang, fields: &Fields<'_>, edits: Vec<ConcurrentEdit>) -> Vec<ConcurrentLine> {
    let written = |value: &ConcurrentValue| match &value.written {
        Some(Authorship { entry: Some(entry), .. }) => {
            format!("{} · {}", action_words(lang, &entry.action), stamp_words(lang, &entry.stamp))
        }
        Some(Authorship { actor, at_seconds, entry: None }) => {
            let actor: String = actor.chars().take(12).collect();
            format!("{actor} · {}", Timestamp::from_seconds(*at_seconds).beijing_words())
        }
        None => String::new(),
    };
    edits
        .into_iter()
        .filter_map(|edit| {
            let values: Vec<Option<&str>> =
                std::iter::once(&edit.winner).chain(&edit.losers).map(|v| v.value.as_deref()).collect();
            let words = fields.words(&edit.path, &values)?;
            let mut shown = words
                .values
                .into_iter()
                .zip(std::iter::once(&edit.winner).chain(&edit.losers))
                .map(|(value, concurrent)| ConcurrentValueLine { value, written: written(concurrent) });
            let winner = shown.next()?;
            Some(ConcurrentLine { label: words.label, winner, losers: shown.collect() })
        })
        .collect()
}

fn saved(id: &str) -> Response {
    Redirect::to(&format!("/office/visits/{id}?saved=1")).into_response()
}

/// The review form.
#[derive(Debug, Deserialize)]
pub struct ReviewForm {
    csrf: String,
    decision: String,
    #[serde(default)]
    note: String,
    /// Present when the reviewer confirmed correcting the register where it
    /// contradicts the visit.
    #[serde(default)]
    correct_register: Option<String>,
    /// Present when decided in the review queue: the next waiting visit
    /// opens after the decision, with the queue's filters.
    #[serde(default)]
    queue: Option<String>,
    #[serde(default)]
    queue_agent: String,
    #[serde(default)]
    queue_kind: String,
}

/// POST /office/visits/{id}/review: approve, or return with a note. The
/// same document operation as the JSON API, so the decision syncs back.
pub async fn review(
    State(state): AppState,
    officer: Officer,
    Path(id): Path<String>,
    Form(form): Form<ReviewForm>,
) -> Result<Response, PageError> {
    officer.check_csrf(&form.csrf)?;
    let decision = match form.decision.as_str() {
        "approve" => ReviewDecision::Approve,
        "return" => ReviewDecision::Return,
        other => return Err(PageError::BadRequest(format!("unknown decision {other:?}"))),
    };
    let note = Some(form.note.as_str()).filter(|n| !n.trim().is_empty());
    let conflicts =
        if form.correct_register.is_some() { desk::Conflicts::Correct } else { desk::Conflicts::Refuse };
    desk::review(&state, &officer.desk_user(), &id, decision, note, conflicts).await?;
    if form.queue.is_some() {
        let next =
            super::queue::QueueQuery { agent: form.queue_agent, kind: form.queue_kind, after: String::new() };
        return Ok(Redirect::to(&next.address()).into_response());
    }
    Ok(saved(&id))
}

/// The day and window of a dispatch form, each empty when not given.
#[derive(Debug, Deserialize)]
pub struct PlanForm {
    #[serde(default)]
    day: String,
    #[serde(default)]
    from: String,
    #[serde(default)]
    until: String,
}

impl PlanForm {
    fn schedule(&self) -> Result<Option<posfield_shared::visit::Schedule>, desk::DeskError> {
        desk::typed_schedule(&self.day, &self.from, &self.until)
    }
}

/// The assignment form.
#[derive(Debug, Deserialize)]
pub struct AssignForm {
    csrf: String,
    agent: String,
    #[serde(flatten)]
    plan: PlanForm,
}

/// POST /office/visits/{id}/assign (admin).
pub async fn assign(
    State(state): AppState,
    Admin(officer): Admin,
    Path(id): Path<String>,
    Form(form): Form<AssignForm>,
) -> Result<Response, PageError> {
    officer.check_csrf(&form.csrf)?;
    let schedule = form.plan.schedule()?;
    desk::assign(&state, &officer.desk_user(), &id, &form.agent, Some(schedule)).await?;
    Ok(saved(&id))
}

/// The new-visit page.
#[derive(Template)]
#[template(path = "office/new_visit.html")]
pub struct NewVisitPage {
    c: Chrome,
    kinds: Vec<Choice>,
    agents: Vec<Choice>,
}

/// GET /office/visits/new (admin).
pub async fn new_visit_page(
    State(state): AppState,
    Admin(officer): Admin,
    lang: Lang,
) -> Result<Response, PageError> {
    let agents = state.store.enrolled_agents().await?;
    html(&NewVisitPage {
        c: Chrome::new(&officer, lang, "new", "/office/visits/new".into()),
        kinds: choices::<VisitKind>(lang, ""),
        agents: agents.into_iter().map(|a| Choice { label: a.clone(), value: a, selected: false }).collect(),
    })
}

/// The new-visit form.
#[derive(Debug, Deserialize)]
pub struct NewVisitForm {
    csrf: String,
    kind: String,
    merchant: String,
    #[serde(default)]
    merchant_number: String,
    #[serde(default)]
    terminal_number: String,
    #[serde(default)]
    phone: String,
    #[serde(default)]
    address: String,
    /// `latitude,longitude` (WGS-84), or empty.
    #[serde(default)]
    location: String,
    #[serde(default)]
    serial: String,
    agent: String,
    #[serde(flatten)]
    plan: PlanForm,
}

/// POST /office/visits (admin): creates a visit assigned to an agent; it
/// reaches the agent's phone at the next sync.
pub async fn create_visit(
    State(state): AppState,
    Admin(officer): Admin,
    Form(form): Form<NewVisitForm>,
) -> Result<Response, PageError> {
    officer.check_csrf(&form.csrf)?;
    let kind = VisitKind::from_code(&form.kind)
        .ok_or_else(|| PageError::BadRequest(format!("kind {:?}", form.kind)))?;
    let optional = |v: &str| Some(v.trim().to_owned()).filter(|v| !v.is_empty());
    let new = desk::NewVisit {
        kind,
        merchant: MerchantInput {
            name: form.merchant.clone(),
            merchant_number: optional(&form.merchant_number),
            terminal_number: optional(&form.terminal_number),
            phone: optional(&form.phone),
            address: optional(&form.address),
            location: desk::typed_location(&form.location)?,
        },
        agent: form.agent,
        serial: optional(&form.serial),
        schedule: form.plan.schedule()?,
    };
    let visit = desk::create(&state, &officer.desk_user(), new).await?;
    Ok(Redirect::to(&format!("/office/visits/{}", visit.id)).into_response())
}

/// The server's address as a merchant reaches it, ending in `/`: the
/// configuration's `public_url`, or else the scheme and host the desk's
/// own request came by (a desk on the office network gets its own address;
/// set `public_url` for merchants outside it).
pub(crate) fn public_base(
    config: &crate::config::Config,
    headers: &HeaderMap,
    transport: OverHttps,
) -> String {
    if let Some(url) = &config.public_url {
        let url = url.as_str();
        return if url.ends_with('/') { url.to_owned() } else { format!("{url}/") };
    }
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .filter(|h| !h.is_empty() && h.bytes().all(|b| b.is_ascii_graphic() && b != b'/' && b != b'@'))
        .map_or_else(|| config.listen.to_string(), str::to_owned);
    let scheme = if transport.0 { "https" } else { "http" };
    format!("{scheme}://{host}/")
}

/// GET /office/visits/{id}/certificate.pdf: the acceptance certificate.
pub async fn certificate(
    State(state): AppState,
    officer: Officer,
    Path(id): Path<String>,
    headers: HeaderMap,
    transport: OverHttps,
) -> Result<Response, PageError> {
    let visit = load_visit(&state, &officer.principal(), &id).await?;
    let verify_url = visit.acceptance.as_ref().map(|a| {
        let path = posfield_shared::visit::acceptance::verification_path(&visit.id, &a.content_hash);
        format!("{}{path}", public_base(&state.config, &headers, transport))
    });
    let signature = match &visit.acceptance {
        // A reference that is not a hash is a missing image, never a path.
        Some(a) => match BlobHash::parse(&a.signature.sha256) {
            Ok(sha) => match state.blobs.read(&sha).await {
                Ok(bytes) => Some(bytes),
                // A missing image is shown as missing; a damaged one is the server's failure.
                Err(crate::blobs::BlobError::Missing(_)) => None,
                Err(e) => return Err(e.into()),
            },
            Err(_) => None,
        },
        None => None,
    };
    let phone = visit.merchant.phone.as_deref().map(|p| phone_for(officer.role, Place::Certificate, p));
    let pdf = tokio::task::spawn_blocking(move || {
        super::certificate::render(
            &visit,
            phone.as_deref(),
            &verify_url.unwrap_or_default(),
            signature.as_deref(),
        )
    })
    .await
    .map_err(PageError::internal)?
    .map_err(|e| match e {
        CertificateError::Unsigned(_) => PageError::Refused(e.to_string()),
        CertificateError::NoFont { .. } | CertificateError::Font(_) => {
            tracing::error!(error = %e, "certificate not made");
            PageError::Unavailable(e.to_string())
        }
    })?;
    Ok((
        [
            (header::CONTENT_TYPE, "application/pdf".to_owned()),
            (header::CONTENT_DISPOSITION, format!("inline; filename=\"acceptance-{id}.pdf\"")),
        ],
        pdf,
    )
        .into_response())
}

/// The size of a requested thumbnail.
#[derive(Debug, Default, Deserialize)]
pub struct BlobQuery {
    /// Thumbnail width in pixels (the full image when absent).
    #[serde(default)]
    w: Option<u32>,
}

/// Thumbnails are made at this width only: one cached file per photo.
const THUMB_WIDTH: u32 = 320;

/// What a photo or signature may be to get a thumbnail: the phone's own
/// photo limits, with less memory, since many thumbnails are made at once.
const THUMB_SOURCE_LIMITS: posfield_imaging::Limits = posfield_imaging::Limits {
    max_input_bytes: 40 * 1024 * 1024,
    max_width: 12_000,
    max_height: 12_000,
    max_pixels: 12_000 * 12_000,
    max_alloc: 256 << 20,
};

/// A JPEG thumbnail of an image, at most `THUMB_WIDTH` wide; `None` when
/// the loading rule refuses the bytes (the page then shows the link alone).
fn thumbnail(bytes: &[u8]) -> Option<Vec<u8>> {
    let image = match posfield_imaging::decode(bytes, &THUMB_SOURCE_LIMITS) {
        Ok(decoded) => decoded.image,
        Err(error) => {
            tracing::warn!(%error, "no thumbnail for a stored file");
            return None;
        }
    };
    let small = image.thumbnail(THUMB_WIDTH, THUMB_WIDTH * 4).to_rgb8();
    let mut out = std::io::Cursor::new(Vec::new());
    small.write_with_encoder(image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 80)).ok()?;
    Some(out.into_inner())
}

/// Document kinds whose photos carry a person's identity or bank account:
/// every view of one at the back office is in the audit log.
const PERSONAL_DOCUMENTS: [DocumentKind; 3] =
    [DocumentKind::IdCard, DocumentKind::BankCard, DocumentKind::AccountProof];

/// Writes an audit row for each visit in which `sha` is the photo of an ID
/// card or a bank card, naming the viewer, the document kind and whether a
/// thumbnail or the full size was shown.
async fn audit_personal_view(
    state: &crate::State,
    officer: &Officer,
    sha: &BlobHash,
    how: &str,
) -> Result<(), PageError> {
    let principal = officer.principal();
    for id in state.store.visits_with_blob(&principal, sha.as_str(), 20).await? {
        let Some(stored) = crate::projection::load_stored(state, &id).await.map_err(PageError::internal)?
        else {
            continue;
        };
        let Ok((_, visit)) = stored.loaded else { continue };
        let kinds = visit
            .current_documents()
            .filter(|d| d.sha256 == sha.as_str())
            .filter_map(|d| d.kind.known())
            .filter(|kind| PERSONAL_DOCUMENTS.contains(kind));
        for kind in kinds {
            let detail = format!("{} {sha} ({how})", kind.code());
            let entry = AuditEntry::new(Some(&id), principal.name(), "viewed_personal_document", &detail);
            state.store.audit(entry).await?;
        }
    }
    Ok(())
}

/// GET /office/blobs/{sha}: a photo or signature of some visit, to a
/// signed-in user only; `?w=320` gives its thumbnail (made once, kept
/// beside the database).
pub async fn blob(
    State(state): AppState,
    officer: Officer,
    Path(sha): Path<String>,
    Query(query): Query<BlobQuery>,
) -> Result<Response, PageError> {
    let Ok(sha) = BlobHash::parse(&sha) else { return Err(PageError::NotFound) };
    if !state.store.reaches_blob(&officer.principal(), sha.as_str()).await? {
        return Err(PageError::NotFound);
    }
    let mut bytes = state.blobs.read(&sha).await?;
    audit_personal_view(&state, &officer, &sha, if query.w.is_some() { "thumbnail" } else { "full size" })
        .await?;
    if query.w.is_some() {
        let name = format!("{sha}-{THUMB_WIDTH}.jpg");
        let cached = super::thumbnail_folder(&state.config.data).join(&name);
        bytes = match state.blobs.read_derived(&cached, &name).await {
            Some(thumb) => thumb,
            None => {
                let thumb = tokio::task::spawn_blocking(move || thumbnail(&bytes))
                    .await
                    .map_err(PageError::internal)?
                    .ok_or(PageError::NotFound)?;
                // Sealed as the blob is, and written whole or not at all.
                if let Err(e) = state.blobs.write_derived(&cached, &name, &thumb).await {
                    tracing::warn!(error = %e, "keeping a thumbnail failed");
                }
                thumb
            }
        };
    }
    let mime = if bytes.starts_with(b"\x89PNG") {
        "image/png"
    } else if bytes.starts_with(&[0xff, 0xd8]) {
        "image/jpeg"
    } else {
        "application/octet-stream"
    };
    let mut response = bytes.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(mime));
    // Content-addressed: the bytes under this name never change.
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("private, max-age=31536000, immutable"));
    Ok(response)
}

// ---------------------------------------------------------------- terminals

/// A terminal as shown.
#[derive(Debug, Clone)]
pub struct TerminalLine {
    /// Serial.
    pub serial: String,
    /// Merchant.
    pub merchant: String,
    /// Model and manufacturer.
    pub model: String,
    /// State in words.
    pub state: String,
    /// Production date.
    pub production_date: String,
    /// Age in years.
    pub age: String,
    /// Warranty end.
    pub warranty_end: String,
    /// ICCID.
    pub iccid: String,
    /// Carrier in words.
    pub carrier: String,
    /// SIM expiry.
    pub sim_expiry: String,
    /// The number an alert is about.
    pub figure: i64,
    /// The date an alert is about.
    pub date: String,
    /// The open visit an alert's row already became: its id and status in words.
    pub became: Option<(String, String)>,
}

pub(super) fn terminal_line(lang: Lang, today: CalendarDate, row: &TerminalRow) -> TerminalLine {
    let model =
        [row.manufacturer.clone(), row.model.clone()].into_iter().flatten().collect::<Vec<_>>().join(" ");
    let age = row
        .production_date
        .as_deref()
        .and_then(|p| CalendarDate::parse(p).ok())
        .map(|produced| format!("{:.1}", produced.days_until(today) as f64 / 365.25))
        .unwrap_or_default();
    TerminalLine {
        serial: row.serial.clone(),
        merchant: row.merchant.clone(),
        model,
        state: terminal_state_label(lang, row.state.as_deref()),
        production_date: row.production_date.clone().unwrap_or_default(),
        age,
        warranty_end: row.warranty_end.clone().unwrap_or_default(),
        iccid: row.sim_iccid.clone().unwrap_or_default(),
        carrier: carrier_label(lang, row.sim_carrier.as_deref()),
        sim_expiry: row.sim_expiry.clone().unwrap_or_default(),
        figure: 0,
        date: String::new(),
        became: None,
    }
}

/// The Beijing day it is on the server's clock.
fn today() -> CalendarDate {
    Timestamp::from_seconds(crate::clock::now()).beijing_date()
}

/// The terminal register.
#[derive(Template)]
#[template(path = "office/terminals.html")]
pub struct TerminalsPage {
    c: Chrome,
    serial: String,
    merchant: String,
    rows: Vec<TerminalLine>,
    next: Option<String>,
}

/// The terminal list's filters.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct TerminalFilter {
    serial: String,
    merchant: String,
    after: String,
}

/// GET /office/terminals.
pub async fn terminal_list(
    State(state): AppState,
    officer: Officer,
    lang: Lang,
    Query(filter): Query<TerminalFilter>,
) -> Result<Response, PageError> {
    let (rows, next) =
        state.store.terminals(&filter.serial, &filter.merchant, &filter.after, PAGE_ROWS).await?;
    let today = today();
    let link = |after: &str| {
        format!(
            "/office/terminals?serial={}&merchant={}&after={}",
            url_encode(&filter.serial),
            url_encode(&filter.merchant),
            url_encode(after)
        )
    };
    html(&TerminalsPage {
        c: Chrome::new(&officer, lang, "terminals", link(&filter.after)),
        rows: rows.iter().map(|r| terminal_line(lang, today, r)).collect(),
        next: next.map(|n| link(&n)),
        serial: filter.serial,
        merchant: filter.merchant,
    })
}

/// What approving a visit does to the terminal register, for the reviewer
/// to see before approving.
#[derive(Debug, Default)]
pub struct RegisterPreview {
    /// Each terminal's change: serial, states and what else changes.
    lines: Vec<String>,
    /// Where the register contradicts the visit.
    conflicts: Vec<String>,
    /// Why the lifecycle refuses the approval, when it does.
    refused: String,
    /// The visit's effects were applied already (a returned visit approved again).
    applied: bool,
}

impl RegisterPreview {
    /// The preview of approving `visit` (completed, reviewable) now.
    async fn of(state: &crate::State, lang: Lang, visit: &Visit) -> Result<RegisterPreview, StoreError> {
        if state.store.register_applied(&visit.id, RegisterCause::VisitApproved).await? {
            return Ok(RegisterPreview { applied: true, ..Default::default() });
        }
        let serials: Vec<String> =
            [&visit.terminal, &visit.replacement].into_iter().flatten().map(|t| t.serial.clone()).collect();
        let register = state.store.registered(&serials).await?;
        Ok(match register_plan(visit, &register) {
            Err(refusal) => RegisterPreview {
                refused: match lang {
                    Lang::Zh => refusal.zh(),
                    Lang::En => refusal.en(),
                },
                ..Default::default()
            },
            Ok(plan) => RegisterPreview {
                lines: plan
                    .changes
                    .iter()
                    .map(|c| {
                        let from = c.before.map_or_else(|| "—".to_owned(), |s| lang.term(s).to_owned());
                        format!("{} {from} → {}  {}", c.serial, lang.term(c.after()), c.detail())
                    })
                    .collect(),
                conflicts: plan
                    .conflicts
                    .iter()
                    .map(|c| format!("{}：{} ≠ {}", c.serial, c.register, c.visit))
                    .collect(),
                ..Default::default()
            },
        })
    }
}

/// One terminal and its visits.
#[derive(Template)]
#[template(path = "office/terminal.html")]
pub struct TerminalPage {
    c: Chrome,
    t: TerminalLine,
    merchant_number: String,
    visits: Vec<VisitLine>,
    lifecycle: Vec<LifecycleLine>,
    /// Who holds it now, since when, in words; empty when unknown.
    holder: String,
    custody: Vec<CustodyLine>,
}

/// One hand-over of a terminal, as shown on its page.
#[derive(Debug)]
pub struct CustodyLine {
    at: String,
    from: String,
    to: String,
    place: String,
    condition: String,
    seal: String,
    visit_id: String,
    confirmed_by: String,
}

/// A holder in words: its kind, and its name when it has one.
fn holder_words(lang: Lang, kind: Option<&str>, name: &str) -> String {
    let Some(kind) = kind else { return String::new() };
    let kind = lang.t(&format!("holder_{kind}"));
    if name.is_empty() { kind.to_owned() } else { format!("{kind} {name}") }
}

fn custody_line(lang: Lang, row: &CustodyRow) -> CustodyLine {
    let mut condition = row.condition.clone();
    if let Some(day) = &row.promised_back {
        condition = format!("{condition} {} {day}", lang.t("promised_back")).trim().to_owned();
    }
    CustodyLine {
        at: Timestamp::from_seconds(row.at).beijing_words(),
        from: holder_words(lang, row.from_kind.as_deref(), &row.from_name),
        to: holder_words(lang, Some(&row.to_kind), &row.to_name),
        place: row.place.clone(),
        condition,
        seal: row.seal.clone(),
        visit_id: row.visit_id.clone().unwrap_or_default(),
        confirmed_by: row.confirmed_by.clone(),
    }
}

/// One change of a terminal in the register, as shown on its page.
#[derive(Debug)]
pub struct LifecycleLine {
    at: String,
    event: String,
    from: String,
    to: String,
    detail: String,
    visit_id: String,
    cause: String,
    actor: String,
}

/// How many register changes a terminal's page shows (the newest).
const LIFECYCLE_LINES: usize = 200;

fn lifecycle_line(lang: Lang, row: &TerminalEventRow) -> LifecycleLine {
    let event = row.event.as_deref();
    LifecycleLine {
        at: Timestamp::from_seconds(row.at).beijing_words(),
        event: event
            .map(|c| TerminalEvent::from_code(c).map_or_else(|| c.to_owned(), |e| lang.term(e).to_owned()))
            .unwrap_or_default(),
        from: terminal_state_label(lang, row.from_state.as_deref()),
        to: terminal_state_label(lang, Some(&row.to_state)),
        detail: row.detail.clone(),
        visit_id: row.visit_id.clone(),
        cause: lang.t(&format!("cause_{}", row.cause)).to_owned(),
        actor: row.actor.clone(),
    }
}

/// GET /office/terminals/{serial}.
pub async fn terminal_page(
    State(state): AppState,
    officer: Officer,
    lang: Lang,
    Path(serial): Path<String>,
) -> Result<Response, PageError> {
    let row = state.store.terminal(&serial).await?;
    let visits = state.store.terminal_visits(&officer.principal(), &serial).await?;
    let lifecycle = state.store.terminal_events(&serial, LIFECYCLE_LINES).await?;
    let (holder, custody) = state.store.custody(&serial, LIFECYCLE_LINES).await?;
    let holder = match (holder_words(lang, holder.kind.as_deref(), &holder.name), holder.since) {
        (words, Some(since)) if !words.is_empty() => {
            format!("{words}（{} {}）", lang.t("held_since"), Timestamp::from_seconds(since).beijing_words())
        }
        (words, _) => words,
    };
    let row = match row {
        Some(row) => row,
        None if !visits.is_empty() => TerminalRow { serial: serial.clone(), ..Default::default() },
        None => return Err(PageError::NotFound),
    };
    html(&TerminalPage {
        c: Chrome::new(&officer, lang, "terminals", format!("/office/terminals/{}", url_encode(&serial))),
        t: terminal_line(lang, today(), &row),
        merchant_number: row.merchant_number.clone().unwrap_or_default(),
        visits: visits.iter().map(|v| visit_line(lang, officer.role, v)).collect(),
        lifecycle: lifecycle.iter().map(|e| lifecycle_line(lang, e)).collect(),
        holder,
        custody: custody.iter().map(|c| custody_line(lang, c)).collect(),
    })
}

/// GET /office/terminals/export.csv.
pub async fn export_terminals(State(state): AppState, _officer: Officer) -> Result<Response, PageError> {
    let rows = state.store.all_terminals().await?;
    Ok(csv_response("terminals.csv", import::terminals_csv(&rows)))
}

/// GET /office/terminals/export.xlsx: the register as a spreadsheet, in
/// the import's columns.
pub async fn export_terminals_xlsx(State(state): AppState, _officer: Officer) -> Result<Response, PageError> {
    let rows = state.store.all_terminals().await?;
    xlsx_response(
        "terminals.xlsx",
        super::xlsx::workbook("terminals", import::COLUMNS, &import::terminals_table(&rows)),
    )
}

/// The import page, with the last import's report.
#[derive(Template)]
#[template(path = "office/import.html")]
pub struct ImportPage {
    c: Chrome,
    columns: String,
    /// The largest XLSX file the page sends.
    max_xlsx: usize,
    imported: Option<usize>,
    bad: Vec<BadRow>,
}

/// GET /office/terminals/import (admin).
pub async fn import_page(Admin(officer): Admin, lang: Lang) -> Result<Response, PageError> {
    html(&ImportPage {
        c: Chrome::new(&officer, lang, "import", "/office/terminals/import".into()),
        columns: import::import_columns(),
        max_xlsx: super::xlsx::MAX_XLSX_BYTES,
        imported: None,
        bad: Vec::new(),
    })
}

/// The import form.
#[derive(Debug, Deserialize)]
pub struct ImportForm {
    csrf: String,
    #[serde(default)]
    csv: String,
    /// An XLSX file, base64, as the page's script read it (instead of `csv`).
    #[serde(default)]
    xlsx: String,
}

/// The first sheet of a base64 XLSX file as the import's CSV text, or why not.
fn spreadsheet_rows(base64_text: &str) -> Result<String, String> {
    use base64::Engine as _;
    let most = super::xlsx::MAX_XLSX_BYTES.div_ceil(3) * 4 + 4;
    let text: String = base64_text.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    if text.len() > most {
        return Err(super::xlsx::XlsxError::TooLarge(text.len() / 4 * 3).to_string());
    }
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(text.as_bytes())
        .map_err(|e| format!("the XLSX file did not arrive whole: {e}"))?;
    super::xlsx::first_sheet_as_csv(&bytes).map_err(|e| e.to_string())
}

/// POST /office/terminals/import (admin): keeps the good rows, reports the bad ones.
pub async fn import_terminals(
    State(state): AppState,
    Admin(officer): Admin,
    lang: Lang,
    Form(form): Form<ImportForm>,
) -> Result<Response, PageError> {
    officer.check_csrf(&form.csrf)?;
    let csv = if form.xlsx.trim().is_empty() {
        form.csv
    } else {
        match spreadsheet_rows(&form.xlsx) {
            Ok(csv) => csv,
            // The file is refused whole, with why, and nothing is imported.
            Err(problem) => {
                return html(&ImportPage {
                    c: Chrome::new(&officer, lang, "import", "/office/terminals/import".into()),
                    columns: import::import_columns(),
                    max_xlsx: super::xlsx::MAX_XLSX_BYTES,
                    imported: Some(0),
                    bad: vec![BadRow { line: 0, problem }],
                });
            }
        }
    };
    let report = desk::import_terminals(&state, &officer.desk_user(), &csv).await?;
    html(&ImportPage {
        c: Chrome::new(&officer, lang, "import", "/office/terminals/import".into()),
        columns: import::import_columns(),
        max_xlsx: super::xlsx::MAX_XLSX_BYTES,
        imported: Some(report.imported),
        bad: report.bad,
    })
}

// ---------------------------------------------------------------- alerts

// ---------------------------------------------------------------- applications

/// A reactivation application as listed.
#[derive(Debug, Clone)]
pub struct ApplicationLine {
    /// The visit.
    pub visit: VisitLine,
    /// Application state code.
    pub state_code: String,
    /// Application state in words.
    pub state: String,
    /// Cause of suspension.
    pub cause: String,
    /// Material photos: (sha, label).
    pub materials: Vec<PhotoLine>,
    /// The rejection reason, if any.
    pub reason: String,
}

/// The applications page.
#[derive(Template)]
#[template(path = "office/applications.html")]
pub struct ApplicationsPage {
    c: Chrome,
    rows: Vec<ApplicationLine>,
}

/// GET /office/applications: waiting applications first, with their materials.
pub async fn applications(
    State(state): AppState,
    officer: Officer,
    lang: Lang,
) -> Result<Response, PageError> {
    let rows = state.store.applications(&officer.principal()).await?;
    let mut lines = Vec::with_capacity(rows.len());
    for (row, state_code) in rows {
        // Materials and cause come from the document; waiting ones are few.
        let (cause, materials, reason) = if state_code == ApplicationState::Submitted.code() {
            let visit = load_visit(&state, &officer.principal(), &row.id).await?;
            (
                visit.reactivation.cause.as_ref().map(|c| lang.open(&c.value)).unwrap_or_default(),
                visit
                    .current_documents()
                    .map(|d| PhotoLine::of(&visit, d, lang.open(&d.kind), true))
                    .collect(),
                String::new(),
            )
        } else {
            (String::new(), Vec::new(), String::new())
        };
        lines.push(ApplicationLine {
            visit: visit_line(lang, officer.role, &row),
            state: ApplicationState::from_code(&state_code)
                .map_or(state_code.clone(), |s| lang.term(s).into()),
            state_code,
            cause,
            materials,
            reason,
        });
    }
    html(&ApplicationsPage {
        c: Chrome::new(&officer, lang, "applications", "/office/applications".into()),
        rows: lines,
    })
}

/// The application decision form.
#[derive(Debug, Deserialize)]
pub struct ApplicationForm {
    csrf: String,
    decision: String,
    #[serde(default)]
    reason: String,
}

/// POST /office/applications/{id}: approve, or reject with a reason; the
/// decision reaches the agent at the next sync and unlocks the installation.
pub async fn decide_application(
    State(state): AppState,
    officer: Officer,
    Path(id): Path<String>,
    Form(form): Form<ApplicationForm>,
) -> Result<Response, PageError> {
    officer.check_csrf(&form.csrf)?;
    let decision = match form.decision.as_str() {
        "approve" => ApplicationState::Approved,
        "reject" => ApplicationState::Rejected,
        other => return Err(PageError::BadRequest(format!("unknown decision {other:?}"))),
    };
    let reason = Some(form.reason.as_str()).filter(|r| !r.trim().is_empty());
    desk::decide_application(&state, &officer.desk_user(), &id, decision, reason).await?;
    Ok(Redirect::to("/office/applications").into_response())
}

// ---------------------------------------------------------------- errors

/// The page of an error.
#[derive(Template)]
#[template(path = "office/error.html")]
pub struct ErrorPage {
    /// HTTP status.
    pub status: u16,
    /// zh-CN words.
    pub zh: &'static str,
    /// English words.
    pub en: &'static str,
    /// More detail (the rule that refused).
    pub detail: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::HOST, value.parse().unwrap());
        headers
    }

    #[test]
    fn the_certificate_s_address_is_the_configured_one_else_the_desk_s_own_host() {
        let mut config = crate::config::Config {
            public_url: Some("https://posfield.example.cn/merchants".parse().unwrap()),
            ..crate::config::Config::default()
        };
        assert_eq!(
            public_base(&config, &host("10.0.0.5:8080"), OverHttps(false)),
            "https://posfield.example.cn/merchants/"
        );
        config.public_url = None;
        assert_eq!(public_base(&config, &host("10.0.0.5:8080"), OverHttps(false)), "http://10.0.0.5:8080/");
        assert_eq!(
            public_base(&config, &host("desk.example.cn"), OverHttps(true)),
            "https://desk.example.cn/"
        );
        // A host that would change the address's meaning is not taken: the listening address is.
        for bad in ["evil.example/phish", "user@evil.example", ""] {
            let listen = config.listen.to_string();
            assert_eq!(
                public_base(&config, &host(bad), OverHttps(false)),
                format!("http://{listen}/"),
                "{bad}"
            );
        }
        assert_eq!(
            public_base(&config, &HeaderMap::new(), OverHttps(false)),
            format!("http://{}/", config.listen)
        );
    }
}
