//! The outbox page: every message the merchants are to be told, with its
//! event, visit, masked recipient, state, attempts, next try and last
//! error, so the back office sees what was delivered, what waits, and what
//! was given up or had no phone to go to.

use std::sync::Arc;

use askama::Template;
use axum::extract::State;
use axum::response::Response;
use posfield_shared::Timestamp;

use super::PageError;
use super::i18n::Lang;
use super::pages::{Chrome, html};
use super::session::Officer;
use crate::outbox::{Event, text_zh};
use crate::personal::{Place, phone_for};
use crate::store::{OutboxRecord, OutboxState};

/// The page shows this many messages, the newest first.
pub const OUTBOX_ROWS: usize = 200;

/// One message, in words.
#[derive(Debug, Clone)]
pub struct MessageLine {
    /// The store's id of it.
    pub id: i64,
    /// Enqueued, Beijing time.
    pub created: String,
    /// The event, in the page's language.
    pub event: String,
    /// The text the merchant reads (zh-CN, as sent).
    pub text: String,
    /// The visit that caused it.
    pub visit_id: String,
    /// The recipient, masked; empty when there is none.
    pub recipient: String,
    /// The state's code (for the badge's class).
    pub state_code: &'static str,
    /// The state, in the page's language.
    pub state: &'static str,
    /// Attempts made.
    pub attempts: u32,
    /// The next attempt, Beijing time, while one is to come.
    pub next_try: String,
    /// What the last failed attempt met.
    pub last_error: String,
    /// Delivered, Beijing time.
    pub delivered: String,
}

/// The words key of a state.
fn state_key(state: OutboxState) -> &'static str {
    match state {
        OutboxState::Pending => "outbox_pending",
        OutboxState::Sending => "outbox_sending",
        OutboxState::Delivered => "outbox_delivered",
        OutboxState::Failed => "outbox_failed",
        OutboxState::NoRecipient => "outbox_no_recipient",
    }
}

/// `record` as `officer` reads it in `lang`.
pub fn message_line(lang: Lang, officer: &Officer, record: &OutboxRecord) -> MessageLine {
    let words = |secs: i64| Timestamp::from_seconds(secs).beijing_words();
    let message = &record.message;
    let event = Event::from_code(&message.event).map_or_else(
        || message.event.clone(),
        |e| match lang {
            Lang::Zh => e.zh().to_owned(),
            Lang::En => e.en().to_owned(),
        },
    );
    let waiting = matches!(record.state, OutboxState::Pending | OutboxState::Sending);
    MessageLine {
        id: record.id,
        created: words(record.created_at),
        event,
        text: text_zh(message),
        visit_id: message.visit_id.clone(),
        recipient: message
            .recipient
            .as_deref()
            .map(|p| phone_for(officer.role, Place::Outbox, p))
            .unwrap_or_default(),
        state_code: record.state.code(),
        state: lang.t(state_key(record.state)),
        attempts: record.attempts,
        next_try: if waiting { words(record.next_attempt_at) } else { String::new() },
        last_error: record.last_error.clone().unwrap_or_default(),
        delivered: record.delivered_at.map(words).unwrap_or_default(),
    }
}

/// The outbox page.
#[derive(Template)]
#[template(path = "office/outbox.html")]
pub struct OutboxPage {
    c: Chrome,
    sender: &'static str,
    counts: Vec<(&'static str, &'static str, i64)>,
    messages: Vec<MessageLine>,
}

/// GET /office/outbox (reviewers and administrators).
pub async fn outbox_page(
    State(state): State<Arc<crate::State>>,
    officer: Officer,
    lang: Lang,
) -> Result<Response, PageError> {
    let (records, counts) = state.store.outbox(OUTBOX_ROWS).await?;
    let sender = match state.config.outbox.sender.code() {
        "sms" => lang.t("outbox_sender_sms"),
        "webhook" => lang.t("outbox_sender_webhook"),
        _ => lang.t("outbox_sender_keep"),
    };
    html(&OutboxPage {
        sender,
        counts: counts.into_iter().map(|(s, n)| (s.code(), lang.t(state_key(s)), n)).collect(),
        messages: records.iter().map(|r| message_line(lang, &officer, r)).collect(),
        c: Chrome::new(&officer, lang, "outbox", "/office/outbox".into()),
    })
}
