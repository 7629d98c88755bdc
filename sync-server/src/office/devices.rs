//! The enrolled phones: whose they are, how long their credential holds,
//! and the app version, visit schema and sync protocol each last sent, so
//! an administrator sees who must update before the minimum is raised.

use std::sync::Arc;

use askama::Template;
use axum::extract::State;
use axum::response::Response;
use posfield_shared::Timestamp;

use super::PageError;
use super::i18n::Lang;
use super::pages::{Chrome, html};
use super::session::Admin;

/// One device's row, in words.
#[derive(Debug, Clone)]
pub struct DeviceLine {
    /// The server's id of the device.
    pub id: String,
    /// The agent.
    pub agent: String,
    /// The name the phone gave.
    pub name: String,
    /// Enrolled, Beijing time.
    pub enrolled: String,
    /// Credential expiry, Beijing time.
    pub expires: String,
    /// Revoked.
    pub revoked: bool,
    /// The app version it last sent.
    pub app_version: Option<String>,
    /// Below the server's minimum app version.
    pub below_minimum: bool,
    /// The visit schema version it writes (empty when it did not say).
    pub schema_version: String,
    /// The sync protocol it speaks (empty before it sent versions).
    pub protocol: String,
    /// Since when it sends this version, Beijing time.
    pub since: String,
}

/// The device list.
#[derive(Template)]
#[template(path = "office/devices.html")]
pub struct DevicesPage {
    c: Chrome,
    minimum: String,
    devices: Vec<DeviceLine>,
}

/// GET /office/devices (admin).
pub async fn device_list(
    State(state): State<Arc<crate::State>>,
    Admin(officer): Admin,
    lang: Lang,
) -> Result<Response, PageError> {
    let minimum = &state.config.min_app_version;
    let words = |secs: i64| Timestamp::from_seconds(secs).beijing_words();
    let devices = state
        .store
        .devices()
        .await?
        .into_iter()
        .map(|d| {
            let below_minimum =
                d.seen.as_ref().is_some_and(|seen| crate::versions::recorded_below(&seen.app, minimum));
            DeviceLine {
                enrolled: words(d.enrolled_at),
                expires: words(d.expires_at),
                revoked: d.revoked_at.is_some(),
                app_version: d.seen.as_ref().map(|s| s.app.clone()),
                below_minimum,
                schema_version: d
                    .seen
                    .as_ref()
                    .and_then(|s| s.schema)
                    .map(|v| v.to_string())
                    .unwrap_or_default(),
                protocol: d.seen.as_ref().map(|s| s.protocol.to_string()).unwrap_or_default(),
                since: d.seen_since.map(words).unwrap_or_default(),
                id: d.id,
                agent: d.agent,
                name: d.name,
            }
        })
        .collect();
    html(&DevicesPage {
        c: Chrome::new(&officer, lang, "devices", "/office/devices".into()),
        minimum: minimum.to_string(),
        devices,
    })
}
