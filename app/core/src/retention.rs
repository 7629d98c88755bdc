//! Personal photos leave the phone once they are no longer needed there.
//!
//! A visit's ID card, bank card and bank account proof photos
//! (`DocumentKind::IdCard`, `BankCard`, `AccountProof`) are personal information the phone carries only to get them
//! to the server. Once the back office approved the visit and the server's
//! setting (`personal_photo_days`, sent with the manifest answer) has
//! passed since, the phone deletes them, if the server confirmed it holds
//! them; the server keeps them. A phone that never heard the setting (an
//! older server) keeps everything.

use posfield_shared::visit::schema::{ReviewDecision, Visit};
use posfield_shared::vocab::DocumentKind;
use posfield_shared::{Timestamp, VisitStatus};

/// The setting holding the days, as the server last sent them.
pub(crate) const SETTING_PERSONAL_PHOTO_DAYS: &str = "retention.personal_photo_days";

/// When the phone last looked for photos to delete (ms since the epoch).
pub(crate) const SETTING_LAST_LOOKED: &str = "retention.last_looked";

/// Document kinds whose photos leave the phone after approval.
const PERSONAL: [DocumentKind; 3] =
    [DocumentKind::IdCard, DocumentKind::BankCard, DocumentKind::AccountProof];

/// The personal photos of `visit` that may leave the phone at `now`, when
/// they leave `days` days after the visit's last approval.
pub fn photos_due(visit: &Visit, now: Timestamp, days: u32) -> Vec<String> {
    if visit.status != VisitStatus::Approved {
        return Vec::new();
    }
    let approved = visit
        .reviews
        .iter()
        .filter(|r| r.decision.known() == Some(ReviewDecision::Approve))
        .map(|r| r.stamp.at.0)
        .max();
    let Some(approved) = approved else { return Vec::new() };
    if now.0 < approved.saturating_add(i64::from(days) * 24 * 3600 * 1000) {
        return Vec::new();
    }
    visit
        .documents
        .iter()
        .filter(|d| d.kind.known().is_some_and(|kind| PERSONAL.contains(&kind)))
        .map(|d| d.sha256.clone())
        .collect()
}

#[cfg(test)]
mod tests;
