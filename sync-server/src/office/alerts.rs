//! The alerts (预警) and the visits dispatched from them. Each terminal
//! alert lists its most urgent rows; an administrator ticks rows and
//! creates the visits they call for (SIM renewals, inspections,
//! replacements, repairs) for an agent and a day, in one action: a
//! confirmation that names how many, then a result for each terminal. A
//! row that already became an open visit shows that visit instead of a
//! tick box. The visits are the desk's own ([`crate::desk::dispatch`]).

use std::sync::Arc;

use askama::Template;
use axum::body::Bytes;
use axum::extract::State;
use axum::response::Response;
use posfield_shared::vocab::Term;
use posfield_shared::{Timestamp, VisitKind};

use super::PageError;
use super::forms::TickedForm;
use super::i18n::Lang;
use super::pages::{
    Choice, Chrome, TerminalLine, VisitLine, html, kind_label, status_label, terminal_line, visit_line,
};
use super::queries::{self, TerminalAlert};
use super::session::{Admin, Officer};
use crate::desk::{self, DISPATCH_MAX, Dispatched};

/// The alerts page.
#[derive(Template)]
#[template(path = "office/alerts.html")]
pub struct AlertsPage {
    c: Chrome,
    sim_expiring: Vec<TerminalLine>,
    old_terminals: Vec<TerminalLine>,
    warranty_ending: Vec<TerminalLine>,
    repeated_faults: Vec<TerminalLine>,
    inspection_due: Vec<TerminalLine>,
    held_too_long: Vec<TerminalLine>,
    recalled_not_checked_in: Vec<TerminalLine>,
    repair_overdue: Vec<TerminalLine>,
    waiting_applications: Vec<VisitLine>,
    incomplete_blobs: Vec<VisitLine>,
    /// Totals in the order of the tiles: SIM, old, warranty, faults,
    /// applications, photos, inspections, held too long, recalled not
    /// checked in, repairs overdue.
    totals: [i64; 10],
    waiting_review: i64,
    returned: i64,
    /// The agents a dispatch can go to (empty for a reviewer, who sees no
    /// dispatch).
    agents: Vec<Choice>,
    /// Tomorrow, the day a dispatch proposes.
    tomorrow: String,
}

/// GET /office/alerts.
pub async fn alerts(
    State(state): State<Arc<crate::State>>,
    officer: Officer,
    lang: Lang,
) -> Result<Response, PageError> {
    let now = Timestamp::from_seconds(state.clock.now());
    let today = now.beijing_date();
    let principal = officer.principal();
    let alerts = queries::alerts(state.store.as_ref(), &principal, now).await?;
    // What each dispatchable row already became, asked once for them all.
    let dispatchable = [
        (&alerts.sim_expiring.rows, VisitKind::SimRenewal),
        (&alerts.inspection_due.rows, VisitKind::Inspection),
        (&alerts.old_terminals.rows, VisitKind::Replacement),
        (&alerts.repeated_faults.rows, VisitKind::Repair),
    ];
    let serials: Vec<String> =
        dispatchable.iter().flat_map(|(rows, _)| rows.iter().map(|a| a.terminal.serial.clone())).collect();
    let open = state.store.open_visits(&principal, &serials).await?;
    let lines = |alerts: &[TerminalAlert], kind: Option<VisitKind>| -> Vec<TerminalLine> {
        alerts
            .iter()
            .map(|a| TerminalLine {
                figure: a.figure,
                date: a.date.clone(),
                became: kind.and_then(|kind| {
                    open.iter()
                        .find(|v| v.serial.as_deref() == Some(&a.terminal.serial) && v.kind == kind.code())
                        .map(|v| (v.id.clone(), status_label(lang, &v.status)))
                }),
                ..terminal_line(lang, today, &a.terminal)
            })
            .collect()
    };
    let agents = if officer.is_admin() {
        let agents = state.store.enrolled_agents().await?;
        agents.into_iter().map(|a| Choice { label: a.clone(), value: a, selected: false }).collect()
    } else {
        Vec::new()
    };
    let visits =
        |rows: &[queries::VisitRow]| rows.iter().map(|v| visit_line(lang, officer.role, v)).collect();
    html(&AlertsPage {
        c: Chrome::new(&officer, lang, "alerts", "/office/alerts".into()),
        sim_expiring: lines(&alerts.sim_expiring.rows, Some(VisitKind::SimRenewal)),
        old_terminals: lines(&alerts.old_terminals.rows, Some(VisitKind::Replacement)),
        warranty_ending: lines(&alerts.warranty_ending.rows, None),
        repeated_faults: lines(&alerts.repeated_faults.rows, Some(VisitKind::Repair)),
        inspection_due: lines(&alerts.inspection_due.rows, Some(VisitKind::Inspection)),
        held_too_long: lines(&alerts.held_too_long.rows, None),
        recalled_not_checked_in: lines(&alerts.recalled_not_checked_in.rows, None),
        repair_overdue: lines(&alerts.repair_overdue.rows, None),
        waiting_applications: visits(&alerts.waiting_applications.rows),
        incomplete_blobs: visits(&alerts.incomplete_blobs.rows),
        totals: [
            alerts.sim_expiring.total,
            alerts.old_terminals.total,
            alerts.warranty_ending.total,
            alerts.repeated_faults.total,
            alerts.waiting_applications.total,
            alerts.incomplete_blobs.total,
            alerts.inspection_due.total,
            alerts.held_too_long.total,
            alerts.recalled_not_checked_in.total,
            alerts.repair_overdue.total,
        ],
        waiting_review: alerts.waiting_review,
        returned: alerts.returned,
        agents,
        tomorrow: today.add_days(1).to_string(),
    })
}

/// GET /office/static/lists.js: ticking, sorting and filtering the lists' rows.
pub async fn lists_script() -> Response {
    super::pages::script(include_str!("../../templates/office/lists.js"))
}

/// One terminal's outcome on the result page.
#[derive(Debug, Clone)]
pub struct DispatchLine {
    /// The serial.
    pub serial: String,
    /// The visit it became or already had.
    pub visit: Option<String>,
    /// Whether a visit was made now.
    pub created: bool,
    /// What happened, in words.
    pub outcome: String,
}

/// The confirmation of a dispatch, and afterwards its result.
#[derive(Template)]
#[template(path = "office/dispatch.html")]
pub struct DispatchPage {
    c: Chrome,
    kind_code: String,
    kind: String,
    agent: String,
    day: String,
    serials: Vec<String>,
    /// After the dispatch: each terminal's outcome.
    results: Option<Vec<DispatchLine>>,
    /// How many visits were made.
    created: usize,
}

/// POST /office/alerts/dispatch (admin): without `confirmed`, the page that
/// names how many visits of which kind go to whom; with it, the visits,
/// and a line for each terminal.
pub async fn dispatch(
    State(state): State<Arc<crate::State>>,
    Admin(officer): Admin,
    lang: Lang,
    body: Bytes,
) -> Result<Response, PageError> {
    let form = TickedForm::parse(&body, "serial", DISPATCH_MAX)?;
    officer.check_csrf(form.field("csrf"))?;
    let kind = VisitKind::from_code(form.field("kind"))
        .filter(|kind| desk::DISPATCH_KINDS.contains(kind))
        .ok_or_else(|| PageError::BadRequest(format!("kind {:?}", form.field("kind"))))?;
    if form.ticked.is_empty() {
        return Err(PageError::BadRequest(lang.t("dispatch_none").to_owned()));
    }
    let (agent, day) = (form.field("agent"), form.field("day"));
    let schedule = desk::typed_schedule(day, "", "")?;
    let results = if form.fields.contains_key("confirmed") {
        let outcomes =
            desk::dispatch(&state, &officer.desk_user(), kind, agent, schedule, &form.ticked).await?;
        Some(outcomes.into_iter().map(|(serial, outcome)| line(lang, serial, outcome)).collect::<Vec<_>>())
    } else {
        None
    };
    html(&DispatchPage {
        c: Chrome::new(&officer, lang, "alerts", "/office/alerts".into()),
        kind: kind_label(lang, kind.code()),
        kind_code: kind.code().to_owned(),
        agent: agent.trim().to_owned(),
        day: day.trim().to_owned(),
        created: results.iter().flatten().filter(|l| l.created).count(),
        serials: form.ticked,
        results,
    })
}

fn line(lang: Lang, serial: String, outcome: Dispatched) -> DispatchLine {
    let (visit, created, outcome) = match outcome {
        Dispatched::Created(id) => (Some(id), true, lang.t("dispatch_created").to_owned()),
        Dispatched::AlreadyOpen(id) => (Some(id), false, lang.t("dispatch_already_open").to_owned()),
        Dispatched::NotRegistered => (None, false, lang.t("dispatch_not_registered").to_owned()),
        Dispatched::NoMerchant => (None, false, lang.t("dispatch_no_merchant").to_owned()),
        Dispatched::Invalid(why) => (None, false, format!("{}: {why}", lang.t("dispatch_invalid"))),
        Dispatched::Failed(why) => (None, false, format!("{}: {why}", lang.t("dispatch_failed"))),
    };
    DispatchLine { serial, visit, created, outcome }
}
