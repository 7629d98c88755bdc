//! The warehouse's check-in page: a terminal received at the warehouse or a
//! repair centre, or handed out to an agent, is scanned (a USB scanner
//! types into the serial field) or typed, with its condition, seal or bag
//! number and, for a repair centre, the day it is promised back. The
//! decision is [`crate::desk::check_in`].

use std::sync::Arc;

use askama::Template;
use axum::Form;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use posfield_shared::CalendarDate;
use posfield_shared::lifecycle::TerminalEvent;
use posfield_shared::visit::outcome::Holder;
use posfield_shared::vocab::Term;
use serde::Deserialize;

use super::PageError;
use super::i18n::Lang;
use super::pages::{Chrome, html};
use super::queries::url_encode;
use super::session::Officer;
use crate::desk::{self, Arrival};

/// The check-in page.
#[derive(Template)]
#[template(path = "office/check_in.html")]
pub struct CheckInPage {
    c: Chrome,
    /// The enrolled agents a terminal may be handed out to.
    agents: Vec<String>,
    /// The serial just checked in, and what it caused, in words.
    done: Option<(String, String)>,
}

/// What the page says after a check-in.
#[derive(Debug, Default, Deserialize)]
pub struct Done {
    #[serde(default)]
    serial: String,
    #[serde(default)]
    event: String,
}

/// GET /office/check-in.
pub async fn check_in_page(
    State(state): State<Arc<crate::State>>,
    officer: Officer,
    lang: Lang,
    Query(done): Query<Done>,
) -> Result<Response, PageError> {
    let agents = state.store.enrolled_agents().await?;
    // The serial comes back in the query: shown only when it is one.
    let done = posfield_shared::validate::serial(&done.serial).ok().map(|serial| Done { serial, ..done });
    let done = done.map(|done| {
        let event =
            TerminalEvent::from_code(&done.event).map(|e| lang.term(e).to_owned()).unwrap_or_default();
        (done.serial, event)
    });
    html(&CheckInPage { c: Chrome::new(&officer, lang, "check_in", "/office/check-in".into()), agents, done })
}

/// The check-in form.
#[derive(Debug, Deserialize)]
pub struct CheckInForm {
    csrf: String,
    serial: String,
    /// `warehouse`, `repair_centre` or `agent:<name>` (handed out).
    place: String,
    #[serde(default)]
    condition: String,
    #[serde(default)]
    seal: String,
    /// `YYYY-MM-DD`, for a repair centre.
    #[serde(default)]
    promised_back: String,
}

/// POST /office/check-in: records the hand-over, then shows the page again
/// ready for the next terminal.
pub async fn check_in(
    State(state): State<Arc<crate::State>>,
    officer: Officer,
    Form(form): Form<CheckInForm>,
) -> Result<Response, PageError> {
    officer.check_csrf(&form.csrf)?;
    let at = match form.place.as_str() {
        "warehouse" => Holder::Warehouse,
        "repair_centre" => Holder::RepairCentre,
        other => match other.strip_prefix("agent:") {
            Some(agent) => Holder::Agent(agent.to_owned()),
            None => return Err(PageError::BadRequest(format!("unknown place {other:?}"))),
        },
    };
    let promised_back = match form.promised_back.trim() {
        "" => None,
        day => Some(CalendarDate::parse(day).map_err(|e| PageError::BadRequest(e.to_string()))?),
    };
    let arrival =
        Arrival { serial: form.serial, at, condition: form.condition, seal: form.seal, promised_back };
    let (serial, event) = desk::check_in(&state, &officer.desk_user(), arrival).await?;
    let event = event.map(|e| e.code()).unwrap_or_default();
    Ok(Redirect::to(&format!("/office/check-in?serial={}&event={event}", url_encode(&serial)))
        .into_response())
}
