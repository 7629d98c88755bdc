//! API errors: an HTTP status and a JSON body `{"error": code, "message": text}`.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use posfield_shared::visit::{DocError, VisitError};

use crate::auth::AuthError;
use crate::desk::DeskError;
use crate::store::StoreError;

/// An error answered to a client.
#[derive(Debug)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// Stable machine-readable code.
    pub code: &'static str,
    /// Words for a person.
    pub message: String,
    /// Seconds the client should wait before trying again (`Retry-After`).
    pub retry_after_secs: Option<i64>,
}

impl ApiError {
    /// An error with a status, a code and a message.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError { status, code, message: message.into(), retry_after_secs: None }
    }

    /// 429 `throttled`, with the seconds to wait.
    pub fn throttled(retry_after_secs: i64) -> ApiError {
        let message = format!("too many failed attempts; try again in {retry_after_secs} s");
        ApiError {
            retry_after_secs: Some(retry_after_secs),
            ..ApiError::new(StatusCode::TOO_MANY_REQUESTS, "throttled", message)
        }
    }

    /// 400 with a code.
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, code, message)
    }

    /// 404 for something the caller may not know about (also used for what
    /// it may not see, so ids of other agents' visits leak nothing).
    pub fn not_found(what: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, "not_found", what)
    }

    /// 500, logged.
    pub fn internal(error: impl std::fmt::Display) -> ApiError {
        tracing::error!(%error, "internal error");
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "the server failed; try again later")
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({ "error": self.code, "message": self.message });
        let mut response = (self.status, Json(body)).into_response();
        if let Some(secs) = self.retry_after_secs {
            response
                .headers_mut()
                .insert(axum::http::header::RETRY_AFTER, axum::http::HeaderValue::from(secs));
        }
        response
    }
}

/// Seconds a client is asked to wait when the database cannot be reached.
const DATABASE_RETRY_AFTER_SECS: i64 = 30;

/// A database that cannot be reached now is `503 database_unavailable`
/// with a `Retry-After` (nothing was written; the phone keeps its work and
/// syncs again); any other failure is the server's (`500`, logged).
impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Unavailable(why) => {
                tracing::warn!(error = %why, "the database cannot be reached");
                ApiError {
                    retry_after_secs: Some(DATABASE_RETRY_AFTER_SECS),
                    ..ApiError::new(
                        StatusCode::SERVICE_UNAVAILABLE,
                        "database_unavailable",
                        "the server's database cannot be reached; nothing was stored, try again later",
                    )
                }
            }
            other => ApiError::internal(other),
        }
    }
}

/// A blob that is not stored is not found; one that does not open is the
/// server's failure (logged), never served.
impl From<crate::blobs::BlobError> for ApiError {
    fn from(e: crate::blobs::BlobError) -> Self {
        match e {
            crate::blobs::BlobError::Missing(_) => ApiError::not_found("no such blob"),
            crate::blobs::BlobError::Storage { source, .. } => (*source).into(),
            _ => ApiError::internal(e),
        }
    }
}

/// A projection that failed for want of its database is the store's
/// failure (`503` when it cannot be reached); any other is the server's.
impl From<crate::projection::ProjectionError> for ApiError {
    fn from(e: crate::projection::ProjectionError) -> Self {
        match e {
            crate::projection::ProjectionError::Store(e) => e.into(),
            other => ApiError::internal(other),
        }
    }
}

impl From<DeskError> for ApiError {
    fn from(e: DeskError) -> Self {
        let message = e.to_string();
        match e {
            DeskError::Forbidden { .. } => ApiError::new(StatusCode::FORBIDDEN, "forbidden", message),
            DeskError::UnknownAgent(_) => {
                ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "unknown_agent", message)
            }
            DeskError::Invalid(_) => ApiError::bad_request("invalid", message),
            DeskError::BadVisitId(_) => ApiError::bad_request("bad_visit_id", message),
            DeskError::NotFound(_) => ApiError::not_found(message),
            DeskError::Refused(VisitError::Document(DocError::NewerSchema { .. })) => {
                ApiError::new(StatusCode::CONFLICT, "newer_schema", message)
            }
            DeskError::NotApprovable(gap) => ApiError::new(StatusCode::CONFLICT, gap.code(), message),
            DeskError::Refused(_) => ApiError::new(StatusCode::CONFLICT, "refused", message),
            DeskError::RegisterRefused(_) => ApiError::new(StatusCode::CONFLICT, "register_refused", message),
            DeskError::RegisterConflict(_) => {
                ApiError::new(StatusCode::CONFLICT, "register_conflict", message)
            }
            DeskError::Store(e) => e.into(),
            DeskError::Projection(_) => ApiError::internal(e),
        }
    }
}

impl From<AuthError> for ApiError {
    fn from(e: AuthError) -> Self {
        let message = e.to_string();
        match e {
            AuthError::Unauthenticated => ApiError::new(StatusCode::UNAUTHORIZED, "unauthenticated", message),
            AuthError::Revoked => ApiError::new(StatusCode::UNAUTHORIZED, "credential_revoked", message),
            AuthError::Expired => ApiError::new(StatusCode::UNAUTHORIZED, "credential_expired", message),
            AuthError::BadCode => ApiError::new(StatusCode::FORBIDDEN, "bad_enrolment_code", message),
            AuthError::Invalid(_) => ApiError::bad_request("invalid", message),
            AuthError::NoKeyRotationAsked(_) => {
                ApiError::new(StatusCode::CONFLICT, "no_key_rotation_requested", message)
            }
            AuthError::KeyRotationRefused(_) => {
                ApiError::new(StatusCode::FORBIDDEN, "key_rotation_refused", message)
            }
            AuthError::Throttled { retry_after_secs } => ApiError::throttled(retry_after_secs),
            AuthError::Store(e) => e.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_throttled_answer_says_when_to_try_again() {
        let response = ApiError::from(AuthError::Throttled { retry_after_secs: 42 }).into_response();
        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(response.headers()[axum::http::header::RETRY_AFTER], "42");
        let body = axum::body::to_bytes(response.into_body(), 1 << 10).await.unwrap();
        let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(body["error"], "throttled");
        // Other errors carry no Retry-After.
        let response = ApiError::from(AuthError::BadCode).into_response();
        assert!(response.headers().get(axum::http::header::RETRY_AFTER).is_none());
    }

    /// A database that cannot be reached is the phone's "later", however
    /// the request met it: its own store call, the credential's check or
    /// a projection; any other store failure stays the server's 500.
    #[test]
    fn a_database_out_of_reach_is_503_with_a_time_to_try_again() {
        let down = || StoreError::Unavailable("connection refused".into());
        for answer in [
            ApiError::from(down()),
            ApiError::from(AuthError::Store(down())),
            ApiError::from(crate::projection::ProjectionError::Store(down())),
            ApiError::from(DeskError::Store(down())),
        ] {
            assert_eq!(
                (answer.status, answer.code),
                (StatusCode::SERVICE_UNAVAILABLE, "database_unavailable")
            );
            assert_eq!(answer.retry_after_secs, Some(DATABASE_RETRY_AFTER_SECS));
        }
        let failed = ApiError::from(StoreError::Engine("syntax error".into()));
        assert_eq!((failed.status, failed.code), (StatusCode::INTERNAL_SERVER_ERROR, "internal"));
    }
}
