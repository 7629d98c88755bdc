//! The merchant's verification page: `GET /verify/{id}?h={hash}`, the one
//! public page about a visit.
//!
//! After signing, the phone shows a QR code of this page's address with the
//! visit's id and the signed summary's hash (`posfield_shared`'s
//! [`acceptance::verification_path`]); the desk's certificate prints the
//! same address. Whoever holds it sees what the merchant signed, the
//! signature, whether the visit still matches it and where its review
//! stands. Nothing else: never a document photo, an ID number, the phone
//! or the address. The hash is the key: an unknown visit, a visit without
//! an acceptance, a hash of another summary and a malformed request all
//! get the same "not found" page, so the page tells a guesser nothing.
//! Requests are limited per client address
//! ([`crate::throttle::Throttles::verifications_per_address`]), found or
//! not, so a guesser gets nowhere at scale either.

use std::sync::Arc;

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use base64::Engine as _;
use posfield_shared::visit::Visit;
use posfield_shared::visit::acceptance::{self, AcceptanceSummary, SignatureCheck};
use posfield_shared::{BlobHash, Timestamp};
use serde::Deserialize;

use crate::throttle::ClientAddress;

/// The page's query: the signed summary's hash.
#[derive(Debug, Deserialize)]
pub struct VerifyQuery {
    #[serde(default)]
    h: String,
}

/// Whether the visit still matches what the merchant signed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Standing {
    /// Nothing the merchant signed changed since.
    Matches,
    /// Something changed since (the words name what).
    Changed,
}

/// The verification page.
#[derive(Template)]
#[template(path = "verify.html")]
pub struct VerifyPage {
    /// HTTP status (200, or 404 and 429 with `found` false).
    pub status: u16,
    /// What was found; `None`: not found, or too many requests.
    pub found: Option<Found>,
    /// Seconds to wait, when refused for too many requests.
    pub retry_after: Option<i64>,
}

/// What the page shows of a found acceptance.
pub struct Found {
    /// Whether the visit still matches the signature.
    pub standing: Standing,
    /// What changed since signing, in words (empty when it matches).
    pub changed_zh: String,
    /// The signed summary as the merchant read it, line by line.
    pub summary_lines: Vec<String>,
    /// Who signed.
    pub signer: String,
    /// The signature image as a `data:` URL, when the server has it.
    pub signature: Option<String>,
    /// The review's state, in zh-CN and English.
    pub review: (&'static str, &'static str),
    /// The signed summary's hash (what the QR code carries).
    pub hash: String,
    /// When the page was made, Beijing time.
    pub checked_at: String,
}

/// `GET /verify/{id}?h={hash}`.
pub async fn verify_page(
    State(state): State<Arc<crate::State>>,
    client: ClientAddress,
    Path(id): Path<String>,
    query: Result<Query<VerifyQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let now = state.clock.now();
    if let Err(throttled) = state.throttles.verifications_per_address.take(&client.0, now) {
        let page = VerifyPage { status: 429, found: None, retry_after: Some(throttled.retry_after_secs) };
        return answer(page, &[(header::RETRY_AFTER, throttled.retry_after_secs.to_string())]);
    }
    let hash = query.map(|Query(q)| q.h).unwrap_or_default();
    match found(&state, &id, &hash, now).await {
        Ok(Some(found)) => answer(VerifyPage { status: 200, found: Some(found), retry_after: None }, &[]),
        Ok(None) => answer(VerifyPage { status: 404, found: None, retry_after: None }, &[]),
        Err(error) => {
            tracing::error!(%error, "the verification page failed");
            crate::office::PageError::Internal.into_response()
        }
    }
}

fn answer(page: VerifyPage, headers: &[(header::HeaderName, String)]) -> Response {
    let status = StatusCode::from_u16(page.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let body = page.render().unwrap_or_else(|_| status.to_string());
    let mut response = (status, [(header::CACHE_CONTROL, "no-store")], Html(body)).into_response();
    for (name, value) in headers {
        if let Ok(value) = value.parse() {
            response.headers_mut().insert(name.clone(), value);
        }
    }
    // Not to be shown inside another site's frame, nor its address passed on.
    response.headers_mut().insert(header::X_FRAME_OPTIONS, header::HeaderValue::from_static("DENY"));
    response.headers_mut().insert(header::REFERRER_POLICY, header::HeaderValue::from_static("no-referrer"));
    response
}

/// The acceptance of visit `id` whose summary hashes to `hash`, or `None`.
async fn found(
    state: &crate::State,
    id: &str,
    hash: &str,
    now: i64,
) -> Result<Option<Found>, crate::projection::ProjectionError> {
    // Both checked before anything is read: an id the document store takes,
    // a hash of SHA-256's shape (a blob's, lowercase hex).
    if BlobHash::parse(hash).is_err() || posfield_sync_link_server::doc_id(id).is_err() {
        return Ok(None);
    }
    let Some(stored) = crate::projection::load_stored(state, id).await? else { return Ok(None) };
    let Ok((_, visit, _)) = stored.readable(id) else { return Ok(None) };
    let Some(signed) = visit.acceptance.as_ref().filter(|a| a.content_hash == hash) else {
        return Ok(None);
    };
    let summary_lines = serde_json::from_str::<AcceptanceSummary>(&signed.summary_json)
        .map(|s| s.render_zh().lines().map(str::to_owned).collect())
        .unwrap_or_default();
    let (standing, changed_zh) = match SignatureCheck::of(&visit) {
        SignatureCheck::Mismatch { fields } => {
            (Standing::Changed, acceptance::changed_fields_words(&fields).0)
        }
        _ => (Standing::Matches, String::new()),
    };
    let signature = match BlobHash::parse(&signed.signature.sha256) {
        Ok(sha) => state.blobs.read(&sha).await.ok().filter(|png| png.starts_with(b"\x89PNG")),
        Err(_) => None,
    }
    .map(|png| format!("data:image/png;base64,{}", base64::engine::general_purpose::STANDARD.encode(png)));
    Ok(Some(Found {
        standing,
        changed_zh,
        summary_lines,
        signer: signed.signer_name.clone(),
        signature,
        review: review_words(&visit),
        hash: hash.to_owned(),
        checked_at: Timestamp::from_seconds(now).beijing_words(),
    }))
}

/// Where the visit's review stands, as the merchant reads it.
fn review_words(visit: &Visit) -> (&'static str, &'static str) {
    use posfield_shared::VisitStatus as S;
    match visit.status {
        S::Approved => ("已审核通过", "Approved by the back office"),
        S::Returned => ("已退回服务人员补充", "Returned to the agent for more"),
        S::Cancelled => ("已取消", "Cancelled"),
        _ => ("待审核", "Waiting for the back office's review"),
    }
}
