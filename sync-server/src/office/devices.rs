//! The enrolled phones: whose they are, how long their credential holds,
//! and the app version, visit schema and sync protocol each last sent, so
//! an administrator sees who must update before the minimum is raised.
//! From here an administrator enrols a phone (a one-time code shown as a
//! QR code of the enrolment link the app scans, carrying the server's
//! address and its certificate pin; the code still works typed), revokes
//! a phone's credential, asks for a lost one to be wiped, or for its device
//! key to be replaced at its next sync. Each is audited under the
//! administrator.

use std::sync::Arc;

use askama::Template;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect, Response};
use posfield_shared::Timestamp;

use super::PageError;
use super::i18n::Lang;
use super::pages::{Chrome, html};
use super::session::Admin;
use crate::auth;
use crate::throttle::OverHttps;

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
    /// A wipe asked and not yet done: by whom, when (Beijing time).
    pub wipe_requested: Option<String>,
    /// When the phone wiped itself, Beijing time.
    pub wiped: Option<String>,
    /// Its device key's fingerprint.
    pub key_fingerprint: String,
    /// How many keys rotations replaced.
    pub earlier_keys: usize,
    /// A key rotation asked and not yet done: by whom, when (Beijing time).
    pub key_rotation_requested: Option<String>,
}

/// What a wipe means, for the command line (the pages say it in the
/// reader's language: `wipe_means` in `i18n`).
pub const WIPE_MEANS_EN: &str = "Wiping a phone: at its next contact it first sends the work it has not synced, \
then destroys its keys, so the visits, photos and signatures left on it can no longer be read, and its \
credential is revoked. This cannot be undone. Use it for a lost or stolen phone; to only stop its syncs, \
use revoke-device instead.";

/// The device list.
#[derive(Template)]
#[template(path = "office/devices.html")]
pub struct DevicesPage {
    c: Chrome,
    minimum: String,
    devices: Vec<DeviceLine>,
    /// The enrolled agents, offered to the enrolment form.
    agents: Vec<String>,
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
                wipe_requested: d.wipe_requested.as_ref().map(|(at, by)| format!("{} · {by}", words(*at))),
                wiped: d.wiped_at.map(words),
                key_fingerprint: super::key_fingerprint(&d.public_key),
                earlier_keys: d.earlier_keys,
                key_rotation_requested: d
                    .key_rotation_requested
                    .as_ref()
                    .map(|(at, by)| format!("{} · {by}", words(*at))),
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
        agents: state.store.enrolled_agents().await?,
    })
}

/// The wipe and key rotation forms: the page's CSRF token.
#[derive(Debug, serde::Deserialize)]
pub struct WipeForm {
    csrf: String,
}

/// What an administrator asks of a device from the device list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DeviceRequest {
    Wipe,
    KeyRotation,
}

/// Asks `request` of device `id` once the form's CSRF token is the page's,
/// audited under the administrator, and goes back to the device's row.
async fn ask(
    state: &crate::State,
    officer: &super::session::Officer,
    id: &str,
    form: &WipeForm,
    request: DeviceRequest,
) -> Result<Response, PageError> {
    officer.check_csrf(&form.csrf)?;
    let (store, now) = (&state.store, crate::clock::now());
    let (asked, what) = match request {
        DeviceRequest::Wipe => (store.request_wipe(id, &officer.name, now).await?, "wipe"),
        DeviceRequest::KeyRotation => {
            (store.request_key_rotation(id, &officer.name, now).await?, "key rotation")
        }
    };
    if !asked {
        return Err(PageError::BadRequest(format!(
            "no device {id:?} with a live credential and no {what} asked yet"
        )));
    }
    Ok(Redirect::to(&format!("/office/devices#device-{id}")).into_response())
}

/// POST /office/devices/{id}/wipe (admin): asks for the phone to be wiped
/// at its next contact, audited under the administrator. The device list
/// says what a wipe means beside the button that confirms it.
pub async fn wipe(
    State(state): State<Arc<crate::State>>,
    Admin(officer): Admin,
    Path(id): Path<String>,
    axum::Form(form): axum::Form<WipeForm>,
) -> Result<Response, PageError> {
    ask(&state, &officer, &id, &form, DeviceRequest::Wipe).await
}

/// POST /office/devices/{id}/rotate-key (admin): asks for the phone's
/// device key to be replaced at its next sync, audited under the
/// administrator. Acceptances it signed before stay verifiable by the key
/// that made them.
pub async fn rotate_key(
    State(state): State<Arc<crate::State>>,
    Admin(officer): Admin,
    Path(id): Path<String>,
    axum::Form(form): axum::Form<WipeForm>,
) -> Result<Response, PageError> {
    ask(&state, &officer, &id, &form, DeviceRequest::KeyRotation).await
}

/// The enrolment form: the agent the phone is for (new, or one whose
/// phone is replaced).
#[derive(Debug, serde::Deserialize)]
pub struct EnrolForm {
    csrf: String,
    agent: String,
}

/// The enrolment page: the code, its link and the link as a QR code.
#[derive(Template)]
#[template(path = "office/enrol.html")]
pub struct EnrolPage {
    c: Chrome,
    agent: String,
    code: String,
    link: String,
    /// The link as an inline SVG QR code (made here, no input of the reader's in it but the agent's checked name).
    qr_svg: String,
    /// How many days the code works.
    days: i64,
}

/// The enrolment link for `code` at the server `base` (`https://HOST/` or
/// `http://HOST/`, as the merchant and the phone reach it), with the
/// server certificate's `pin` when it has one: `posfield://` for HTTPS,
/// `posfield+http://` for plain HTTP (which the phone takes only on its
/// own loopback address).
pub fn enrolment_link(base: &str, code: &str, pin: Option<&str>) -> String {
    let (scheme, address) = match base.strip_prefix("https://") {
        Some(address) => ("posfield", address),
        None => ("posfield+http", base.strip_prefix("http://").unwrap_or(base)),
    };
    let address = address.trim_end_matches('/');
    match pin {
        Some(pin) => format!("{scheme}://{address}/{code}?pin={pin}"),
        None => format!("{scheme}://{address}/{code}"),
    }
}

/// `text` as a QR code in SVG, quiet zone included, to inline in a page
/// (the app's own writer: `posfield_barcode::qr`).
fn qr_svg(text: &str) -> Result<String, PageError> {
    Ok(posfield_barcode::qr::QrCode::of(text).map_err(PageError::internal)?.svg())
}

/// POST /office/devices/enrol (admin): a one-time code for the agent's
/// phone (the agent is made when new), shown as a QR code the app scans
/// and as text to type; audited under the administrator, without the code.
pub async fn enrol(
    State(state): State<Arc<crate::State>>,
    Admin(officer): Admin,
    lang: Lang,
    headers: HeaderMap,
    transport: OverHttps,
    axum::Form(form): axum::Form<EnrolForm>,
) -> Result<Response, PageError> {
    officer.check_csrf(&form.csrf)?;
    let agent = form.agent.trim().to_owned();
    let code = auth::issue_enrolment_code_by(state.store.as_ref(), &agent, &officer.name).await.map_err(
        |e| match e {
            auth::AuthError::Invalid(why) => PageError::BadRequest(why),
            other => PageError::internal(other),
        },
    )?;
    let pin = match &state.config.tls_cert {
        Some(cert) => Some(crate::tls::certificate_pin(cert).map_err(PageError::internal)?),
        None => None,
    };
    let base = super::pages::public_base(&state.config, &headers, transport);
    let link = enrolment_link(&base, &code, pin.as_deref());
    html(&EnrolPage {
        c: Chrome::new(&officer, lang, "devices", "/office/devices".into()),
        qr_svg: qr_svg(&link)?,
        agent,
        code,
        link,
        days: auth::CODE_LIFETIME_SECS / 86_400,
    })
}

/// POST /office/devices/{id}/revoke (admin): the phone's credential is
/// revoked: its next sync is refused, and what it has not synced stays on
/// it (wipe is the other button). A phone waiting for its wipe is not
/// revoked, which would keep it from the sync that wipes it.
pub async fn revoke(
    State(state): State<Arc<crate::State>>,
    Admin(officer): Admin,
    Path(id): Path<String>,
    axum::Form(form): axum::Form<WipeForm>,
) -> Result<Response, PageError> {
    officer.check_csrf(&form.csrf)?;
    match auth::revoke_by(state.store.as_ref(), &id, &officer.name).await.map_err(PageError::internal)? {
        auth::Revoked::Done => Ok(Redirect::to(&format!("/office/devices#device-{id}")).into_response()),
        auth::Revoked::NoLiveDevice => {
            Err(PageError::BadRequest(format!("no device {id:?} with a live credential")))
        }
        auth::Revoked::WaitingForWipe => {
            Err(PageError::Refused(format!("device {id} waits for its wipe, which revokes it once done")))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_enrolment_link_follows_the_transport_and_carries_the_pin() {
        assert_eq!(
            enrolment_link("https://pos.example.cn/", "ABCD-EFGH-JKLM", Some("sha256/abc")),
            "posfield://pos.example.cn/ABCD-EFGH-JKLM?pin=sha256/abc"
        );
        assert_eq!(
            enrolment_link("http://127.0.0.1:8080/", "ABCD-EFGH-JKLM", None),
            "posfield+http://127.0.0.1:8080/ABCD-EFGH-JKLM"
        );
        assert_eq!(
            enrolment_link("https://desk.example.cn/posfield/", "ABCD-EFGH-JKLM", None),
            "posfield://desk.example.cn/posfield/ABCD-EFGH-JKLM"
        );
    }

    #[test]
    fn the_qr_code_is_an_svg_to_inline() {
        let svg = qr_svg("posfield://pos.example.cn/ABCD-EFGH-JKLM").unwrap();
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"), "{svg}");
    }
}
