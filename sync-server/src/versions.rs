//! The versions a phone sends with every request, and the gate that answers
//! a phone older than the server's minimum before anything is read or written.
//!
//! A phone sends its app version, the visit schema version it writes and
//! its sync protocol in three headers (`posfield_shared::protocol`). A phone
//! released before the headers existed sends none: it is taken to run
//! [`UNVERSIONED_APP_VERSION`] with protocol 1, so it keeps syncing for as
//! long as the minimum allows that version.
//!
//! Versions are compared by semantic versioning's precedence (the `semver`
//! crate's `Ord` on `Version`), not by a version requirement: a requirement
//! `>=0.2.0` does not match the pre-release `0.3.0-beta.1`, which is newer
//! than the minimum and must pass.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use posfield_shared::protocol::{
    APP_TOO_OLD, APP_VERSION_HEADER, AppTooOld, PROTOCOL_VERSION_HEADER, SCHEMA_VERSION_HEADER,
    UNVERSIONED_APP_VERSION, UNVERSIONED_PROTOCOL,
};
use semver::Version;

use crate::error::ApiError;

/// The oldest app version this server syncs with: the default minimum.
/// Every phone in the field runs it or a newer one.
pub fn oldest_supported_app_version() -> Version {
    Version::new(0, 1, 0)
}

/// A minimum app version from configuration.
pub fn parse_minimum(text: &str) -> Result<Version, VersionError> {
    Version::parse(text.trim())
        .map_err(|_| VersionError::Malformed { what: "min_app_version", value: text.to_owned() })
}

/// A version header that is not a version.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VersionError {
    /// The value does not parse.
    #[error("{what} {value:?} is not a version")]
    Malformed {
        /// The header or setting.
        what: &'static str,
        /// What it said.
        value: String,
    },
}

/// What a phone says it runs; the defaults for a phone that says nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientVersion {
    /// The app's version.
    pub app: Version,
    /// The visit schema version it writes; unknown for a phone that sends
    /// no headers.
    pub schema: Option<u32>,
    /// The sync protocol it speaks.
    pub protocol: u32,
}

impl ClientVersion {
    /// A phone that sent no version headers: the app as released before them.
    pub fn unversioned() -> ClientVersion {
        ClientVersion {
            app: Version::parse(UNVERSIONED_APP_VERSION).unwrap_or_else(|_| oldest_supported_app_version()),
            schema: None,
            protocol: UNVERSIONED_PROTOCOL,
        }
    }

    /// The versions a request's headers carry; each header left out takes
    /// the value of a phone that sends none.
    pub fn from_headers(headers: &HeaderMap) -> Result<ClientVersion, VersionError> {
        let text = |name: &'static str| -> Result<Option<&str>, VersionError> {
            match headers.get(name) {
                None => Ok(None),
                Some(value) => value.to_str().map(|v| Some(v.trim())).map_err(|_| VersionError::Malformed {
                    what: name,
                    value: String::from_utf8_lossy(value.as_bytes()).into_owned(),
                }),
            }
        };
        let number = |name: &'static str| -> Result<Option<u32>, VersionError> {
            text(name)?
                .map(|v| v.parse().map_err(|_| VersionError::Malformed { what: name, value: v.to_owned() }))
                .transpose()
        };
        let mut version = ClientVersion::unversioned();
        if let Some(app) = text(APP_VERSION_HEADER)? {
            version.app = Version::parse(app)
                .map_err(|_| VersionError::Malformed { what: APP_VERSION_HEADER, value: app.to_owned() })?;
        }
        version.schema = number(SCHEMA_VERSION_HEADER)?;
        if let Some(protocol) = number(PROTOCOL_VERSION_HEADER)? {
            version.protocol = protocol;
        }
        Ok(version)
    }

    /// Whether the server syncs with this version under `minimum`.
    pub fn allowed_by(&self, minimum: &Version) -> bool {
        self.app >= *minimum
    }
}

/// Whether an app version as recorded is below `minimum` (a version that
/// does not parse is not said to be).
pub fn recorded_below(app: &str, minimum: &Version) -> bool {
    Version::parse(app).is_ok_and(|app| app < *minimum)
}

/// The answer to a phone below the minimum: `426 Upgrade Required` with
/// the minimum, so the phone can say what to install.
pub fn too_old(version: &ClientVersion, minimum: &Version) -> Response {
    let body = AppTooOld {
        error: APP_TOO_OLD.to_owned(),
        message: format!(
            "this app ({}) is older than the oldest this server syncs with; update the app to {minimum} or later to sync",
            version.app
        ),
        minimum: minimum.to_string(),
        app_version: version.app.to_string(),
    };
    (StatusCode::UPGRADE_REQUIRED, axum::Json(body)).into_response()
}

/// Middleware of every route a phone calls: reads the versions, answers a
/// phone below the minimum (or with a malformed version) at once, and hands
/// the versions on to the handler in the request's extensions.
pub async fn gate(State(state): State<Arc<crate::State>>, mut request: Request, next: Next) -> Response {
    let version = match ClientVersion::from_headers(request.headers()) {
        Ok(version) => version,
        Err(e) => return ApiError::bad_request("bad_version", e.to_string()).into_response(),
    };
    let minimum = &state.config.min_app_version;
    if !version.allowed_by(minimum) {
        tracing::debug!(app = %version.app, %minimum, path = %request.uri().path(), "an app below the minimum version");
        return too_old(&version, minimum);
    }
    request.extensions_mut().insert(version);
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;
    use rstest::rstest;

    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for (name, value) in pairs {
            headers.insert(*name, HeaderValue::from_str(value).unwrap());
        }
        headers
    }

    #[rstest]
    #[case::a_phone_sending_nothing_runs_the_first_release(&[], Ok(("0.1.0", None, 1)))]
    #[case::every_header(
        &[(APP_VERSION_HEADER, "0.2.0"), (SCHEMA_VERSION_HEADER, "3"), (PROTOCOL_VERSION_HEADER, "2")],
        Ok(("0.2.0", Some(3), 2))
    )]
    #[case::only_the_app_version(&[(APP_VERSION_HEADER, " 0.3.1 ")], Ok(("0.3.1", None, 1)))]
    #[case::a_pre_release(&[(APP_VERSION_HEADER, "0.3.0-beta.1")], Ok(("0.3.0-beta.1", None, 1)))]
    #[case::an_app_version_that_is_no_version(&[(APP_VERSION_HEADER, "2.0")], Err(APP_VERSION_HEADER))]
    #[case::a_schema_that_is_no_number(&[(SCHEMA_VERSION_HEADER, "v2")], Err(SCHEMA_VERSION_HEADER))]
    #[case::a_negative_protocol(&[(PROTOCOL_VERSION_HEADER, "-1")], Err(PROTOCOL_VERSION_HEADER))]
    fn versions_are_read_from_headers_with_defaults_for_old_phones(
        #[case] sent: &[(&'static str, &str)],
        #[case] expected: Result<(&str, Option<u32>, u32), &str>,
    ) {
        let read = ClientVersion::from_headers(&headers(sent));
        match (read, expected) {
            (Ok(read), Ok((app, schema, protocol))) => {
                assert_eq!(
                    (read.app.to_string().as_str(), read.schema, read.protocol),
                    (app, schema, protocol)
                );
            }
            (Err(VersionError::Malformed { what, .. }), Err(header)) => assert_eq!(what, header),
            (read, expected) => panic!("read {read:?}, expected {expected:?}"),
        }
    }

    #[rstest]
    #[case::the_same_version("0.2.0", "0.2.0", true)]
    #[case::a_patch_below("0.1.9", "0.2.0", false)]
    #[case::numbers_not_text("0.10.0", "0.9.0", true)]
    #[case::a_newer_pre_release_passes("0.3.0-beta.1", "0.2.0", true)]
    #[case::a_pre_release_of_the_minimum_is_below_it("0.2.0-rc.1", "0.2.0", false)]
    #[case::build_metadata_of_the_minimum("0.2.0+build.7", "0.2.0", true)]
    #[case::a_major_above("1.0.0", "0.9.9", true)]
    fn an_app_passes_when_its_version_is_the_minimum_or_newer(
        #[case] app: &str,
        #[case] minimum: &str,
        #[case] allowed: bool,
    ) {
        let version = ClientVersion { app: Version::parse(app).unwrap(), schema: None, protocol: 2 };
        assert_eq!(version.allowed_by(&parse_minimum(minimum).unwrap()), allowed);
    }

    #[test]
    fn an_unversioned_phone_passes_the_default_minimum() {
        assert!(ClientVersion::unversioned().allowed_by(&oldest_supported_app_version()));
        assert!(matches!(parse_minimum("latest"), Err(VersionError::Malformed { .. })));
    }
}
