//! What the server checks of one pushed visit before it stores any of it:
//! the bytes apply whole to what it holds and load strictly, and every
//! blob reference in the visit is a SHA-256; and which automerge actors the
//! changes new to the server are written under, for the server to check
//! against the pushing device ([`new_actors`]). Pure, so the server's push
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
    /// The visit holds more, or longer, than any app's operations make.
    #[error("{0}")]
    OverBounds(String),
}

impl PushRefusal {
    /// A stable code for the refusal.
    pub fn code(&self) -> &'static str {
        match self {
            PushRefusal::Unreadable(_) => "unreadable",
            PushRefusal::BadReference { .. } => "bad_reference",
            PushRefusal::OverBounds(_) => "over_bounds",
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
    if let Some(why) = over_bounds(&visit) {
        return Err(PushRefusal::OverBounds(why));
    }
    Ok((doc, visit))
}

/// The actor ids of the changes in `doc` (a document [`check_pushed`]
/// accepted) that the `stored` chunks it was checked against do not hold:
/// the changes the push brings, whose authors the server must check. The
/// server's own changes and other devices' already stored are not among
/// them, so a phone may send back what it received. Each actor once; none
/// when the push brings nothing new.
pub fn new_actors(stored: &[&[u8]], doc: &mut VisitDoc) -> Result<Vec<Vec<u8>>, PushRefusal> {
    // A visit new to the server: every change in it is new.
    let heads = if stored.is_empty() { Vec::new() } else { VisitDoc::chunk_heads(stored.iter().copied())? };
    // `doc` was loaded from the stored chunks and more: it holds their heads.
    doc.actors_since(&heads).ok_or_else(|| {
        PushRefusal::Unreadable(DocError::Undecodable("the pushed document lacks the stored heads".into()))
    })
}

/// The first blob reference in `visit` that is not a SHA-256, and where it
/// is, or `None` when every one is.
pub fn bad_reference(visit: &Visit) -> Option<(String, &str)> {
    visit.hash_references().into_iter().find(|(_, reference)| BlobHash::parse(reference).is_err())
}

/// What in `visit` is over the bounds the operations keep to, in words, or
/// `None`: a phone's own operations never write more marks than
/// [`MAX_ANNOTATIONS`] nor a mark's text longer than [`MARK_TEXT_CHARS`],
/// so more is a modified phone's, refused before the desk draws it.
pub fn over_bounds(visit: &Visit) -> Option<String> {
    use super::schema::{MARK_TEXT_CHARS, MAX_ANNOTATIONS};
    if visit.annotations.len() > MAX_ANNOTATIONS {
        return Some(format!("{} marks over photos, more than {MAX_ANNOTATIONS}", visit.annotations.len()));
    }
    visit
        .annotations
        .iter()
        .position(|m| m.text.as_ref().is_some_and(|t| t.chars().count() > MARK_TEXT_CHARS))
        .map(|i| format!("annotations[{i}].text is longer than {MARK_TEXT_CHARS} characters"))
}
