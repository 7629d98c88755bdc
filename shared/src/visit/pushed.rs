//! What the server checks of one pushed visit before it stores any of it:
//! the bytes apply whole to what it holds and load strictly, and every
//! blob reference in the visit is a SHA-256. Pure, so the server's push
//! and the push fuzz target run the same checks.

use super::{DocError, Visit, VisitDoc};
use crate::ids::BlobHash;

/// Why a pushed visit was refused.
#[derive(Debug, thiserror::Error)]
pub enum PushRefusal {
    /// The stored chunks and the pushed bytes do not load strictly
    /// together into a visit.
    #[error(transparent)]
    Unreadable(#[from] DocError),
    /// A blob reference in the visit is not a SHA-256.
    #[error("{place} is {reference:?}, not a lowercase SHA-256 hex digest")]
    BadReference {
        /// Where in the visit, like `acceptance.signature`.
        place: String,
        /// What is written there.
        reference: String,
    },
}

impl PushRefusal {
    /// A stable code for the refusal.
    pub fn code(&self) -> &'static str {
        match self {
            PushRefusal::Unreadable(_) => "unreadable",
            PushRefusal::BadReference { .. } => "bad_reference",
        }
    }
}

/// Checks `pushed` bytes against the `stored` chunks of their visit (none
/// for a visit new to the server): the document they make and the visit in
/// it, or why the push of this visit is refused.
pub fn check_pushed(stored: &[&[u8]], pushed: &[u8]) -> Result<(VisitDoc, Visit), PushRefusal> {
    let doc = VisitDoc::load_chunks(stored.iter().copied().chain([pushed]))?;
    let visit = doc.visit()?;
    if let Some((place, reference)) = bad_reference(&visit) {
        return Err(PushRefusal::BadReference { place, reference: reference.to_owned() });
    }
    Ok((doc, visit))
}

/// The first blob reference in `visit` that is not a SHA-256, and where it
/// is, or `None` when every one is.
pub fn bad_reference(visit: &Visit) -> Option<(String, &str)> {
    visit.hash_references().into_iter().find(|(_, reference)| BlobHash::parse(reference).is_err())
}
