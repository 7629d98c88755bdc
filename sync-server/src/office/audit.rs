//! The audit log in the browser (administrators): every decision, view of
//! a personal document, enrolment, revocation, import and refusal the
//! server recorded, newest first, filtered by who, what, which visit and
//! which days, a page at a time, and exported as CSV or XLSX with the same
//! filters.

use std::sync::Arc;

use askama::Template;
use axum::extract::{Query, State};
use axum::response::Response;
use posfield_shared::Timestamp;

use super::PageError;
use super::i18n::Lang;
use super::pages::{Chrome, html};
use super::queries::{day_start, url_encode};
use super::session::Admin;
use crate::store::{AuditQuery, AuditRecord};

/// Entries a page shows.
pub const AUDIT_PAGE_ROWS: usize = 100;
/// Entries an export holds at most.
pub const AUDIT_EXPORT_ROWS: usize = 100_000;
/// The export's columns.
const COLUMNS: &[&str] = &["time", "actor", "action", "visit", "detail"];

/// The page's filters as typed; empty means any.
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(default)]
pub struct AuditFilter {
    /// Who.
    pub actor: String,
    /// The action code.
    pub action: String,
    /// The visit id.
    pub visit: String,
    /// First day (`YYYY-MM-DD`, Beijing).
    pub from: String,
    /// Last day.
    pub to: String,
    /// The next page: entries before this id.
    pub before: String,
}

impl AuditFilter {
    fn to_query(&self) -> AuditQuery {
        let text = |v: &str| Some(v.trim().to_owned()).filter(|v| !v.is_empty());
        AuditQuery {
            actor: text(&self.actor),
            action: text(&self.action),
            visit_id: text(&self.visit),
            from: day_start(&self.from),
            until: day_start(&self.to).map(|start| start + 86_400),
            before: self.before.trim().parse().ok(),
        }
    }

    /// The filters as a query string (without the page), for links.
    fn query_string(&self) -> String {
        [
            ("actor", &self.actor),
            ("action", &self.action),
            ("visit", &self.visit),
            ("from", &self.from),
            ("to", &self.to),
        ]
        .iter()
        .filter(|(_, v)| !v.trim().is_empty())
        .map(|(k, v)| format!("{k}={}", url_encode(v.trim())))
        .collect::<Vec<_>>()
        .join("&")
    }
}

/// One entry as shown.
#[derive(Debug, Clone)]
pub struct AuditLine {
    /// When, Beijing time.
    pub at: String,
    /// Who.
    pub actor: String,
    /// The action's code.
    pub action: String,
    /// The visit, or empty.
    pub visit: String,
    /// The detail.
    pub detail: String,
}

fn line(record: &AuditRecord) -> AuditLine {
    AuditLine {
        at: Timestamp::from_seconds(record.at).beijing_words(),
        actor: record.entry.actor.clone(),
        action: record.entry.action.clone(),
        visit: record.entry.visit_id.clone().unwrap_or_default(),
        detail: record.entry.detail.clone(),
    }
}

/// The audit log page.
#[derive(Template)]
#[template(path = "office/audit.html")]
pub struct AuditPage {
    c: Chrome,
    filter: AuditFilter,
    rows: Vec<AuditLine>,
    next: Option<String>,
    export: String,
}

/// GET /office/audit (admin).
pub async fn audit_page(
    State(state): State<Arc<crate::State>>,
    Admin(officer): Admin,
    lang: Lang,
    Query(filter): Query<AuditFilter>,
) -> Result<Response, PageError> {
    let mut found = state.store.audit_search(&filter.to_query(), AUDIT_PAGE_ROWS + 1).await?;
    let more = found.len() > AUDIT_PAGE_ROWS;
    found.truncate(AUDIT_PAGE_ROWS);
    let base = filter.query_string();
    let next = more.then(|| found.last().map(|(id, _)| *id)).flatten().map(|id| {
        if base.is_empty() {
            format!("/office/audit?before={id}")
        } else {
            format!("/office/audit?{base}&before={id}")
        }
    });
    html(&AuditPage {
        c: Chrome::new(&officer, lang, "audit", format!("/office/audit?{base}")),
        rows: found.iter().map(|(_, r)| line(r)).collect(),
        next,
        export: format!("/office/audit/export.csv?{base}"),
        filter,
    })
}

async fn exported(state: &crate::State, filter: &AuditFilter) -> Result<Vec<Vec<String>>, PageError> {
    let mut query = filter.to_query();
    query.before = None;
    let found = state.store.audit_search(&query, AUDIT_EXPORT_ROWS).await?;
    Ok(found
        .iter()
        .map(|(_, r)| {
            let l = line(r);
            vec![l.at, l.actor, l.action, l.visit, l.detail]
        })
        .collect())
}

/// GET /office/audit/export.csv (admin): the filtered log, up to 100,000 entries.
pub async fn audit_csv(
    State(state): State<Arc<crate::State>>,
    Admin(_officer): Admin,
    Query(filter): Query<AuditFilter>,
) -> Result<Response, PageError> {
    let rows = exported(&state, &filter).await?;
    Ok(super::pages::csv_response("audit.csv", super::import::csv_text(COLUMNS, rows)))
}

/// GET /office/audit/export.xlsx (admin): the same as a spreadsheet.
pub async fn audit_xlsx(
    State(state): State<Arc<crate::State>>,
    Admin(_officer): Admin,
    Query(filter): Query<AuditFilter>,
) -> Result<Response, PageError> {
    let rows = exported(&state, &filter).await?;
    super::pages::xlsx_response("audit.xlsx", super::xlsx::workbook("audit", COLUMNS, &rows))
}
