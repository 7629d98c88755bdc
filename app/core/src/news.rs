//! What a sync brought from the back office that the agent should see:
//! a new job, a visit returned with the reviewer's note, a reactivation
//! application decided, a job planned for another day, a job cancelled.
//!
//! [`between`] compares a visit as the phone held it with the visit after
//! the server's changes were merged; the store records what it finds in the
//! transaction that saves the merge (`news` table, store version 7), so a
//! killed process never loses a piece of news nor shows one twice.

use posfield_shared::VisitStatus;
use posfield_shared::visit::Visit;
use posfield_shared::vocab::ApplicationState;

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum NewsKind {
    /// The desk gave the agent a job this phone did not have.
    NewJob,
    /// A reviewer returned the visit (the detail is their note).
    Returned,
    /// The reactivation application was approved.
    ApplicationApproved,
    /// The reactivation application was rejected (the detail is why).
    ApplicationRejected,
    /// The desk planned the job for another day or window (the detail is
    /// the new day and window; none when it took the plan away).
    Replanned,
    /// The desk cancelled the job (the detail is why).
    Cancelled,
}

impl NewsKind {
    /// The stored code.
    pub fn code(self) -> &'static str {
        match self {
            NewsKind::NewJob => "new_job",
            NewsKind::Returned => "returned",
            NewsKind::ApplicationApproved => "application_approved",
            NewsKind::ApplicationRejected => "application_rejected",
            NewsKind::Replanned => "replanned",
            NewsKind::Cancelled => "cancelled",
        }
    }

    /// The kind of a stored code.
    pub fn from_code(code: &str) -> Option<NewsKind> {
        [
            NewsKind::NewJob,
            NewsKind::Returned,
            NewsKind::ApplicationApproved,
            NewsKind::ApplicationRejected,
            NewsKind::Replanned,
            NewsKind::Cancelled,
        ]
        .into_iter()
        .find(|k| k.code() == code)
    }
}

/// One piece of news, as the news list shows it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct News {
    /// Its number, in the order it arrived.
    pub id: i64,
    /// The visit it is about.
    pub visit_id: String,
    /// What happened.
    pub kind: NewsKind,
    /// The merchant, as the visit names it.
    pub merchant: String,
    /// The desk's words: a note, a reason, a day.
    pub detail: Option<String>,
    /// When the phone received it (device time, ms since the epoch).
    pub at: i64,
    /// Whether the agent has seen the list since it arrived.
    pub seen: bool,
}

/// What changed between the visit as the phone held it (`None`: it did not
/// have it) and the visit with the server's changes, as news for the agent.
pub fn between(before: Option<&Visit>, after: &Visit) -> Vec<(NewsKind, Option<String>)> {
    let plan =
        |visit: &Visit| visit.assignment.schedule.as_ref().map(posfield_shared::visit::Schedule::words);
    let Some(before) = before else {
        // A job the phone did not have; one that arrives already closed
        // (an old visit after a reinstall) is no news.
        let open =
            matches!(after.status, VisitStatus::Draft | VisitStatus::InProgress | VisitStatus::Returned);
        return if open { vec![(NewsKind::NewJob, plan(after))] } else { Vec::new() };
    };
    let mut news = Vec::new();
    if after.status == VisitStatus::Returned && before.status != VisitStatus::Returned {
        news.push((NewsKind::Returned, after.latest_review().and_then(|r| r.note.clone())));
    }
    if after.status == VisitStatus::Cancelled && before.status != VisitStatus::Cancelled {
        let reason =
            after.notes.iter().filter(|n| n.stamp.by.role.is_back_office()).max_by_key(|n| n.stamp.at);
        news.push((NewsKind::Cancelled, reason.map(|n| n.text.clone())));
    }
    let decision = |visit: &Visit| visit.reactivation.application.as_ref().and_then(|a| a.state.known());
    let decided = decision(after);
    if decided != decision(before) {
        let reason = after.reactivation.application.as_ref().and_then(|a| a.reason.clone());
        match decided {
            Some(ApplicationState::Approved) => news.push((NewsKind::ApplicationApproved, None)),
            Some(ApplicationState::Rejected) => news.push((NewsKind::ApplicationRejected, reason)),
            _ => {}
        }
    }
    if before.assignment.schedule != after.assignment.schedule && !after.status.is_final() {
        news.push((NewsKind::Replanned, plan(after)));
    }
    news
}

/// Records the news of one merge (in the caller's transaction).
pub(crate) fn record(
    conn: &rusqlite::Connection,
    before: Option<&Visit>,
    after: &Visit,
    at: i64,
) -> Result<(), rusqlite::Error> {
    for (kind, detail) in between(before, after) {
        conn.execute(
            "INSERT INTO news (visit_id, kind, merchant, detail, at) VALUES (?1, ?2, ?3, ?4, ?5)",
            rusqlite::params![after.id, kind.code(), after.merchant.name, detail, at],
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests;
