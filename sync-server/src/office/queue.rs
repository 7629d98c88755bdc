//! The review queue: the visits waiting for review (待审核), oldest first,
//! one at a time. `GET /office/queue` opens the oldest waiting visit the
//! reviewer reaches on its page in queue mode: "approve and next" and
//! "return and next" decide it and open the next one; "skip" opens the one
//! after it; the agent and kind filters carry through. The decisions are
//! the desk's own (`desk::review`), so nothing here approves anything.

use askama::Template;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::PageError;
use super::i18n::Lang;
use super::pages::{Chrome, html};
use super::queries::url_encode;
use super::session::Officer;
use crate::store::VisitQuery;

/// The queue's filters and, when skipping, the visit to start after.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct QueueQuery {
    /// Only this agent's visits.
    #[serde(default)]
    pub agent: String,
    /// Only visits of this kind (a code).
    #[serde(default)]
    pub kind: String,
    /// Start after this visit: `updated_at:id`.
    #[serde(default)]
    pub after: String,
}

impl QueueQuery {
    /// The filters as a query string to carry through the queue, `&` first
    /// (empty without filters).
    pub fn carried(&self) -> String {
        [("agent", &self.agent), ("kind", &self.kind)]
            .iter()
            .filter(|(_, value)| !value.trim().is_empty())
            .map(|(name, value)| format!("&{name}={}", url_encode(value.trim())))
            .collect()
    }

    /// The queue's address with these filters.
    pub fn address(&self) -> String {
        let carried = self.carried();
        if carried.is_empty() {
            "/office/queue".to_owned()
        } else {
            format!("/office/queue?{}", &carried[1..])
        }
    }
}

/// What a visit's page shows in queue mode.
#[derive(Debug, Clone)]
pub struct QueueMode {
    /// The skip link: the queue after this visit.
    pub skip: String,
    /// The filters, to send back with the decision.
    pub agent: String,
    /// The kind filter.
    pub kind: String,
}

/// The empty queue.
#[derive(Template)]
#[template(path = "office/queue_empty.html")]
pub struct QueueEmptyPage {
    c: Chrome,
    list: String,
}

/// GET /office/queue (reviewer or administrator).
pub async fn next(
    State(state): State<std::sync::Arc<crate::State>>,
    officer: Officer,
    lang: Lang,
    Query(queue): Query<QueueQuery>,
) -> Result<Response, PageError> {
    let text = |v: &str| Some(v.trim().to_owned()).filter(|v| !v.is_empty());
    let query = VisitQuery {
        status: Some("completed".to_owned()),
        kind: text(&queue.kind),
        assignee: text(&queue.agent),
        after: queue
            .after
            .split_once(':')
            .and_then(|(at, id)| Some((at.parse::<i64>().ok()?, id.to_owned()))),
        oldest_first: true,
        ..VisitQuery::default()
    };
    let (rows, _) = state.store.visit_list(&officer.principal(), &query, 1).await?;
    match rows.first() {
        Some(row) => {
            let at = format!("{}:{}", row.updated_at, row.id);
            let to = format!("/office/visits/{}?queue={}{}", row.id, url_encode(&at), queue.carried());
            Ok(Redirect::to(&to).into_response())
        }
        None => html(&QueueEmptyPage {
            c: Chrome::new(&officer, lang, "queue", queue.address()),
            list: format!("/office/visits?status=completed{}", queue.carried()),
        }),
    }
}

/// The keyboard and the stock return reasons of the visit's page.
pub async fn review_script() -> Response {
    super::pages::script(include_str!("../../templates/office/review.js"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_filters_carry_through_encoded_and_only_when_given() {
        let none = QueueQuery::default();
        assert_eq!((none.carried(), none.address()), (String::new(), "/office/queue".to_owned()));
        let some = QueueQuery { agent: "wang test".into(), kind: "repair".into(), after: "1:x".into() };
        assert_eq!(some.carried(), "&agent=wang%20test&kind=repair");
        assert_eq!(some.address(), "/office/queue?agent=wang%20test&kind=repair");
    }
}
