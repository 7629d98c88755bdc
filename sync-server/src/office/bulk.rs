//! Decisions on many visits at once from the visit list: approve the
//! ticked visits, or give them to an agent for a day. A confirmation
//! names how many and what; afterwards a line for each visit says whether
//! it was done or why not (a visit that is not complete is listed with
//! what it misses). Each visit goes through the desk's one-visit action
//! ([`crate::desk::bulk`]), so none is half-changed.

use std::sync::Arc;

use askama::Template;
use axum::body::Bytes;
use axum::extract::State;
use axum::response::Response;

use super::PageError;
use super::forms::TickedForm;
use super::i18n::Lang;
use super::pages::{Chrome, html};
use super::session::Officer;
use crate::desk::{self, BULK_MAX, Bulk};

/// One visit's outcome.
#[derive(Debug, Clone)]
pub struct BulkLine {
    /// The visit.
    pub id: String,
    /// Done.
    pub done: bool,
    /// Why not, in the desk's words.
    pub why: String,
}

/// The confirmation of a bulk decision, and afterwards its result.
#[derive(Template)]
#[template(path = "office/bulk.html")]
pub struct BulkPage {
    c: Chrome,
    /// `approve` or `assign`.
    action: String,
    agent: String,
    day: String,
    ids: Vec<String>,
    results: Option<Vec<BulkLine>>,
    done: usize,
    /// The list to go back to.
    back: String,
}

/// POST /office/visits/bulk: without `confirmed`, the page that names how
/// many visits and what is done to them; with it, the decision on each and
/// a line for each. Approving needs a reviewer, reassigning an administrator.
pub async fn bulk(
    State(state): State<Arc<crate::State>>,
    officer: Officer,
    lang: Lang,
    body: Bytes,
) -> Result<Response, PageError> {
    let form = TickedForm::parse(&body, "visit", BULK_MAX)?;
    officer.check_csrf(form.field("csrf"))?;
    let (agent, day) = (form.field("agent").trim().to_owned(), form.field("day").trim().to_owned());
    let action = form.field("action").to_owned();
    let decision = match action.as_str() {
        "approve" => Bulk::Approve,
        "assign" => Bulk::Assign { agent: agent.clone(), schedule: desk::typed_schedule(&day, "", "")? },
        other => return Err(PageError::BadRequest(format!("unknown action {other:?}"))),
    };
    if matches!(decision, Bulk::Assign { .. }) && !officer.is_admin() {
        return Err(PageError::Forbidden);
    }
    if form.ticked.is_empty() {
        return Err(PageError::BadRequest(lang.t("bulk_none").to_owned()));
    }
    let results = if form.fields.contains_key("confirmed") {
        let outcomes = desk::bulk(&state, &officer.desk_user(), &form.ticked, &decision).await?;
        Some(
            outcomes
                .into_iter()
                .map(|(id, done)| BulkLine { done: done.is_ok(), why: done.err().unwrap_or_default(), id })
                .collect::<Vec<_>>(),
        )
    } else {
        None
    };
    // Back to the list as it was filtered: only ever a page of the list.
    let back = Some(form.field("back"))
        .filter(|b| b.starts_with("/office/visits?") || *b == "/office/visits")
        .unwrap_or("/office/visits")
        .to_owned();
    html(&BulkPage {
        c: Chrome::new(&officer, lang, "visits", "/office/visits".into()),
        action,
        agent,
        day,
        done: results.iter().flatten().filter(|l| l.done).count(),
        ids: form.ticked,
        results,
        back,
    })
}
