//! HTTP routes.
//!
//! Agents' devices authenticate with `Authorization: Bearer <credential>`;
//! the back-office JSON API with `Authorization: Basic` (user and password
//! from `posfield-server add-user`). Every error is a JSON body with a
//! stable `error` code; nothing an agent may not see is distinguishable
//! from something that does not exist.
//!
//! Every route a phone calls goes through [`crate::versions::gate`] first:
//! a phone below the minimum app version is answered `426 app_too_old`
//! before its credential or body is read.

use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{FromRequestParts, Path, Query, Request};
use axum::http::Method;
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use axum::response::Redirect;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use posfield_shared::VisitKind;
use posfield_shared::protocol::{
    DeviceKeyRotation, EnrollRequest, EnrollResponse, ManifestRequest, ManifestResponse, PULLING_PROTOCOL,
    PUSH_MEDIA_TYPE, PushRequest, PushResponse, RenewResponse, decode_push_request, digest, encode_cbor,
};
use posfield_shared::visit::schema::ReviewDecision;
use posfield_shared::visit::{MerchantInput, Schedule};
use posfield_sync_link_server::{Limits, PeerChanges};
use serde::Deserialize;

use crate::State;
use crate::auth::{self, Device};
use crate::blobs::check_sha;
use crate::desk::{self, DeskAction, DeskUser};
use crate::error::ApiError;
use crate::policy::ConnectionPolicy;
use crate::routes::{Access, BodyLimit, Entry};
use crate::store::{AuditEntry, SeenVersion};
use crate::throttle::ClientAddress;
use crate::versions::ClientVersion;

/// Longest a manifest waits for the device's previous sync connection to be
/// projected.
const MANIFEST_WAIT: Duration = Duration::from_secs(20);

/// Most blobs a manifest names as missing; the phone asks again after sending them.
const MANIFEST_MISSING_BLOBS: usize = 1000;

/// Longest a photo upload waits for the pushes being served.
const UPLOAD_WAIT_FOR_PUSHES: Duration = Duration::from_secs(10);

/// Longest the store may take to answer `/readyz`'s query.
const READY_WITHIN: Duration = Duration::from_secs(2);

type AppState = Arc<State>;

/// The router: the table of [`routes`], each behind the guard of its
/// access ([`crate::routes::build`]).
pub fn router(state: AppState) -> axum::Router {
    crate::routes::build(routes(&state.config), &state)
        .fallback(|| async { ApiError::not_found("no such endpoint") })
        .layer(axum::middleware::from_fn_with_state(state.clone(), count_response))
        .layer(tower_http::trace::TraceLayer::new_for_http())
        .with_state(state)
}

/// Every route of the server, with who may call it and how large a body
/// it reads: the one table the router is built from.
pub fn routes(config: &crate::config::Config) -> Vec<Entry> {
    use crate::office::pages;
    const GET: Method = Method::GET;
    const POST: Method = Method::POST;
    const PUT: Method = Method::PUT;
    use crate::routes::Door::{Basic, Session};
    let api = BodyLimit::Max(config.max_body_bytes);
    let pushes = BodyLimit::Max(config.max_sync_message_bytes);
    let form = BodyLimit::Max(crate::office::MAX_FORM_BYTES);
    let to_visits = || async { Redirect::to("/office/visits") };
    let anyone = Access::Public;
    let officer = Access::officer(Session);
    let admin = Access::admin(Session);
    let desk = |action| Access::desk(Session, action);
    let by_basic = |action| Access::desk(Basic, action);
    vec![
        Entry::new(GET, "/healthz", Access::Public, api, healthz),
        // The operator's: a load balancer's checks and Prometheus.
        Entry::new(GET, "/livez", Access::Public, api, livez),
        Entry::new(GET, "/readyz", Access::Public, api, readyz),
        Entry::new(GET, "/metrics", Access::Metrics, api, metrics),
        // The phone's.
        Entry::new(POST, "/api/v1/enroll", Access::Public, api, enroll).phone(),
        Entry::new(POST, "/api/v1/sync/manifest", Access::Device, api, manifest).phone(),
        Entry::new(POST, "/api/v1/sync/renew", Access::Device, api, renew).phone(),
        Entry::new(POST, "/api/v1/sync/wiped", Access::Device, api, wiped).phone(),
        Entry::new(POST, "/api/v1/sync/device-key", Access::Device, api, device_key).phone(),
        Entry::new(POST, "/api/v1/sync/push", Access::Device, pushes, push).phone(),
        Entry::new(GET, "/api/v1/sync/ws", Access::Device, api, sync_ws).phone(),
        Entry::new(GET, "/api/v1/blobs/{sha}/status", Access::Device, api, blob_status).phone(),
        Entry::new(GET, "/api/v1/blobs/{sha}", Access::Device, api, blob_get).phone(),
        Entry::new(PUT, "/api/v1/blobs/{sha}", Access::Device, BodyLimit::Streamed, blob_put).phone(),
        // The merchant's verification page: the hash in its address is the key.
        Entry::new(GET, "/verify/{id}", Access::Public, api, crate::verify::verify_page),
        // The back office's JSON API (Basic).
        Entry::new(POST, "/api/v1/office/visits", by_basic(DeskAction::Create), api, office_create),
        Entry::new(GET, "/api/v1/office/visits/{id}", Access::officer(Basic), api, office_visit),
        Entry::new(
            POST,
            "/api/v1/office/visits/{id}/review",
            by_basic(DeskAction::Review),
            api,
            office_review,
        ),
        Entry::new(
            POST,
            "/api/v1/office/visits/{id}/assign",
            by_basic(DeskAction::Assign),
            api,
            office_assign,
        ),
        Entry::new(GET, "/api/v1/office/audit", Access::admin(Basic), api, office_audit),
        // The back office's pages (a session).
        Entry::new(GET, "/office", anyone, form, to_visits).page(),
        Entry::new(GET, "/office/", anyone, form, to_visits).page(),
        Entry::new(GET, "/office/login", anyone, form, pages::login_page).page(),
        // The first administrator's setup link (the code is checked by the handler).
        Entry::new(GET, "/office/setup", anyone, form, crate::office::setup::setup_page).page(),
        Entry::new(POST, "/office/setup", anyone, form, crate::office::setup::setup).page(),
        Entry::new(POST, "/office/login", anyone, form, pages::login).page(),
        Entry::new(POST, "/office/logout", officer, form, pages::logout).page(),
        Entry::new(GET, "/office/lang/{code}", anyone, form, pages::switch_language).page(),
        Entry::new(GET, "/office/static/office.css", anyone, form, pages::stylesheet).page(),
        Entry::new(GET, "/office/static/import.js", anyone, form, pages::import_script).page(),
        Entry::new(GET, "/office/queue", officer, form, crate::office::queue::next).page(),
        Entry::new(GET, "/office/static/review.js", anyone, form, crate::office::queue::review_script).page(),
        Entry::new(GET, "/office/visits", officer, form, pages::visit_list).page(),
        Entry::new(POST, "/office/visits", desk(DeskAction::Create), form, pages::create_visit).page(),
        Entry::new(GET, "/office/visits/new", desk(DeskAction::Create), form, pages::new_visit_page).page(),
        Entry::new(GET, "/office/visits/export.csv", officer, form, pages::export_visits).page(),
        Entry::new(GET, "/office/visits/export.xlsx", officer, form, pages::export_visits_xlsx).page(),
        Entry::new(POST, "/office/visits/bulk", desk(DeskAction::Review), form, crate::office::bulk::bulk)
            .page(),
        Entry::new(GET, "/office/visits/{id}", officer, form, pages::visit_page).page(),
        Entry::new(POST, "/office/visits/{id}/review", desk(DeskAction::Review), form, pages::review).page(),
        Entry::new(POST, "/office/visits/{id}/assign", desk(DeskAction::Assign), form, pages::assign).page(),
        Entry::new(GET, "/office/visits/{id}/certificate.pdf", officer, form, pages::certificate).page(),
        Entry::new(GET, "/office/blobs/{sha}", officer, form, pages::blob).page(),
        Entry::new(GET, "/office/terminals", officer, form, pages::terminal_list).page(),
        Entry::new(GET, "/office/terminals/export.csv", officer, form, pages::export_terminals).page(),
        Entry::new(GET, "/office/terminals/export.xlsx", officer, form, pages::export_terminals_xlsx).page(),
        Entry::new(GET, "/office/terminals/import", desk(DeskAction::Import), form, pages::import_page)
            .page(),
        Entry::new(POST, "/office/terminals/import", desk(DeskAction::Import), form, pages::import_terminals)
            .page(),
        Entry::new(GET, "/office/terminals/{serial}", officer, form, pages::terminal_page).page(),
        Entry::new(GET, "/office/dashboard", officer, form, crate::office::dashboard::dashboard).page(),
        Entry::new(GET, "/office/dashboard.csv", officer, form, crate::office::dashboard::dashboard_csv)
            .page(),
        Entry::new(GET, "/office/alerts", officer, form, crate::office::alerts::alerts).page(),
        Entry::new(
            POST,
            "/office/alerts/dispatch",
            desk(DeskAction::Create),
            form,
            crate::office::alerts::dispatch,
        )
        .page(),
        Entry::new(GET, "/office/static/lists.js", anyone, form, crate::office::alerts::lists_script).page(),
        Entry::new(GET, "/office/applications", officer, form, pages::applications).page(),
        Entry::new(
            POST,
            "/office/applications/{id}",
            desk(DeskAction::DecideApplication),
            form,
            pages::decide_application,
        )
        .page(),
        Entry::new(GET, "/office/outbox", officer, form, crate::office::outbox::outbox_page).page(),
        Entry::new(
            GET,
            "/office/check-in",
            desk(DeskAction::CheckIn),
            form,
            crate::office::custody::check_in_page,
        )
        .page(),
        Entry::new(
            POST,
            "/office/check-in",
            desk(DeskAction::CheckIn),
            form,
            crate::office::custody::check_in,
        )
        .page(),
        Entry::new(GET, "/office/settings", admin, form, crate::office::settings::settings_page).page(),
        Entry::new(POST, "/office/settings", admin, form, crate::office::settings::save_settings).page(),
        Entry::new(GET, "/office/users", admin, form, crate::office::users::users_page).page(),
        Entry::new(POST, "/office/users", admin, form, crate::office::users::save_user).page(),
        Entry::new(POST, "/office/users/{name}/remove", admin, form, crate::office::users::remove_user)
            .page(),
        Entry::new(GET, "/office/audit", admin, form, crate::office::audit::audit_page).page(),
        Entry::new(GET, "/office/audit/export.csv", admin, form, crate::office::audit::audit_csv).page(),
        Entry::new(GET, "/office/audit/export.xlsx", admin, form, crate::office::audit::audit_xlsx).page(),
        Entry::new(GET, "/office/devices", admin, form, crate::office::devices::device_list).page(),
        Entry::new(POST, "/office/devices/enrol", admin, form, crate::office::devices::enrol).page(),
        Entry::new(POST, "/office/devices/{id}/revoke", admin, form, crate::office::devices::revoke).page(),
        Entry::new(POST, "/office/devices/{id}/wipe", admin, form, crate::office::devices::wipe).page(),
        Entry::new(POST, "/office/devices/{id}/rotate-key", admin, form, crate::office::devices::rotate_key)
            .page(),
    ]
}

async fn healthz() -> Json<serde_json::Value> {
    Json(serde_json::json!({ "status": "ok" }))
}

/// Counts every response by its status class ([`crate::metrics`]).
async fn count_response(
    axum::extract::State(state): axum::extract::State<AppState>,
    request: Request,
    next: axum::middleware::Next,
) -> Response {
    let response = next.run(request).await;
    state.metrics.responded(response.status());
    response
}

/// `GET /livez`: `ok` while the process serves requests.
async fn livez() -> Response {
    ([(header::CACHE_CONTROL, "no-store")], "ok").into_response()
}

/// `GET /readyz`: 200 when the store answers a cheap query within
/// [`READY_WITHIN`] and so does the blob storage (the folder is there, or
/// the bucket answers); else 503 with the reason.
async fn readyz(axum::extract::State(state): axum::extract::State<AppState>) -> Response {
    let reason = match tokio::time::timeout(READY_WITHIN, state.store.has_visits()).await {
        Err(_) => Some("the store did not answer within 2 s"),
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "not ready: the store failed");
            Some("the store failed")
        }
        Ok(Ok(_)) => None,
    };
    let reason = match reason {
        Some(reason) => Some(reason),
        None => match tokio::time::timeout(READY_WITHIN, state.blobs.ready()).await {
            Err(_) => Some("the blob storage did not answer within 2 s"),
            Ok(Err(reason)) => Some(reason),
            Ok(Ok(())) => None,
        },
    };
    let no_store = [(header::CACHE_CONTROL, "no-store")];
    match reason {
        None => (StatusCode::OK, no_store, Json(serde_json::json!({ "status": "ready" }))).into_response(),
        Some(reason) => {
            let body = serde_json::json!({ "status": "not_ready", "reason": reason });
            (StatusCode::SERVICE_UNAVAILABLE, no_store, Json(body)).into_response()
        }
    }
}

/// `GET /metrics`: the Prometheus text format, for the holder of the
/// metrics token (the route's guard checked it).
async fn metrics(axum::extract::State(state): axum::extract::State<AppState>) -> Result<Response, ApiError> {
    let text = state.metrics.scrape(state.store.as_ref()).await?;
    let headers = [(header::CONTENT_TYPE, crate::metrics::CONTENT_TYPE), (header::CACHE_CONTROL, "no-store")];
    Ok((headers, text).into_response())
}

fn json_body<T>(body: Result<Json<T>, JsonRejection>) -> Result<T, ApiError> {
    body.map(|Json(v)| v)
        .map_err(|rejection| body_error(rejection.status(), rejection.body_text(), "bad_json"))
}

/// A refused request body: too large, or `code` for anything else.
fn body_error(status: StatusCode, text: String, code: &'static str) -> ApiError {
    let code = if status == StatusCode::PAYLOAD_TOO_LARGE { "body_too_large" } else { code };
    ApiError::new(status, code, text)
}

fn bearer(parts: &Parts) -> Option<&str> {
    parts.headers.get(header::AUTHORIZATION)?.to_str().ok()?.strip_prefix("Bearer ")
}

impl FromRequestParts<AppState> for Device {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        // The route's guard authenticated the request already.
        if let Some(device) = parts.extensions.get::<Device>() {
            return Ok(device.clone());
        }
        let token = bearer(parts)
            .ok_or_else(|| {
                ApiError::new(StatusCode::UNAUTHORIZED, "unauthenticated", "a device credential is required")
            })?
            .to_owned();
        let device = auth::authenticate(state.store.as_ref(), &token, state.clock.now()).await?;
        // The gate put the versions there; a device's are written when they change.
        let version =
            parts.extensions.get::<ClientVersion>().cloned().unwrap_or_else(ClientVersion::unversioned);
        let seen =
            SeenVersion { app: version.app.to_string(), schema: version.schema, protocol: version.protocol };
        if device.seen.as_ref() != Some(&seen) {
            state.store.record_version(&device.id, &seen, state.clock.now()).await?;
            tracing::info!(device = %device.id, app = %seen.app, protocol = seen.protocol, "device version");
        }
        Ok(device)
    }
}

/// A back-office user, authenticated with HTTP Basic.
#[derive(Debug, Clone)]
pub struct OfficeUser(pub DeskUser);

impl FromRequestParts<AppState> for OfficeUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        // The route's guard checked the password already.
        if let Some(user) = parts.extensions.get::<OfficeUser>() {
            return Ok(user.clone());
        }
        let unauthenticated = || ApiError::new(StatusCode::UNAUTHORIZED, "unauthenticated", "sign in first");
        let basic = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Basic "))
            .ok_or_else(unauthenticated)?;
        let decoded =
            base64::engine::general_purpose::STANDARD.decode(basic).map_err(|_| unauthenticated())?;
        let decoded = String::from_utf8(decoded).map_err(|_| unauthenticated())?;
        let (name, password) = decoded.split_once(':').ok_or_else(unauthenticated)?;
        let Ok(client) = ClientAddress::from_request_parts(parts, state).await;
        let (store, throttles, now) = (state.store.as_ref(), &state.throttles, state.clock.now());
        let role = match auth::sign_in(store, throttles, client.0, name, password, now).await {
            Ok(user) => user.role,
            Err(e @ (auth::AuthError::Store(_) | auth::AuthError::Throttled { .. })) => return Err(e.into()),
            Err(_) => {
                // Never what was typed: people type their password into the name.
                tracing::info!(door = "basic", "back-office sign-in refused");
                return Err(unauthenticated());
            }
        };
        Ok(OfficeUser(DeskUser { name: name.to_owned(), role }))
    }
}

/// `POST /api/v1/enroll`: a device enrols with a one-time code. Wrong codes
/// are throttled per client address, and a few of them per address and
/// minute are audited, with their count (see [`crate::throttle`]).
async fn enroll(
    axum::extract::State(state): axum::extract::State<AppState>,
    client: ClientAddress,
    body: Result<Json<EnrollRequest>, JsonRejection>,
) -> Result<Json<EnrollResponse>, ApiError> {
    let request = json_body(body)?;
    let now = state.clock.now();
    let codes = &state.throttles.codes_per_address;
    let attempt = codes.take(&client.0, now).map_err(|t| ApiError::throttled(t.retry_after_secs))?;
    let enrolled = auth::enrol_replacing(
        state.store.as_ref(),
        &request.code,
        &request.device_id,
        &request.device_name,
        &request.public_key,
        request.previous_token.as_deref(),
        now,
    )
    .await;
    // Only a wrong code counts; the audit rows are a few per address and minute.
    if let Err(auth::AuthError::BadCode) = enrolled {
        if crate::throttle::audits_refusal(attempt) {
            let detail = format!("bad code: refusal {attempt} from {} this minute", client.0);
            state.store.audit(AuditEntry::new(None, "anonymous", "enrol_refused", &detail)).await?;
        }
    } else {
        codes.forgive(&client.0);
    }
    let enrolled = enrolled?;
    tracing::info!(agent = %enrolled.agent, device = %enrolled.device_id, "device enrolled");
    Ok(Json(EnrollResponse {
        agent: enrolled.agent,
        device_id: enrolled.device_id,
        token: enrolled.token,
        peer: enrolled.peer,
        expires_at: enrolled.expires_at,
        actor_prefix: Some(enrolled.actor_prefix).filter(|prefix| !prefix.is_empty()),
    }))
}

async fn manifest(
    axum::extract::State(state): axum::extract::State<AppState>,
    device: Device,
    body: Result<Json<ManifestRequest>, JsonRejection>,
) -> Result<Json<ManifestResponse>, ApiError> {
    let request = json_body(body)?;
    // Answer from a projection that holds what this device's last sync
    // connection brought (the agent closes it just before asking).
    if !state.in_flight.settled(&device.id, MANIFEST_WAIT).await {
        tracing::warn!(device = %device.id, "a manifest answered before the device's last sync was projected");
    }
    let principal = device.principal();
    let visits = state.store.manifest(&principal).await?;
    let ours = digest(visits.iter().map(|v| (v.id.as_str(), v.heads.as_str())));
    // The phone renews its credential when few seconds are left of it.
    let credential_expires_in = Some(device.expires_at - state.clock.now());
    let personal_photo_days = Some(state.config.personal_photo_days_on_phone);
    if ours != request.digest {
        // The phone syncs the documents first; the blobs come after.
        return Ok(Json(ManifestResponse {
            in_sync: false,
            visits,
            missing_blobs: Vec::new(),
            credential_expires_in,
            personal_photo_days,
            wipe: device.wipe,
            rotate_device_key: device.rotate_key,
        }));
    }
    let missing_blobs = if request.uploads_pending {
        Vec::new()
    } else {
        state.store.missing_blobs(&principal, MANIFEST_MISSING_BLOBS).await?
    };
    Ok(Json(ManifestResponse {
        in_sync: true,
        visits: Vec::new(),
        missing_blobs,
        credential_expires_in,
        personal_photo_days,
        wipe: device.wipe,
        rotate_device_key: device.rotate_key,
    }))
}

/// `POST /api/v1/sync/device-key`: the phone's new device key, vouched
/// for by its current one, once an administrator asked for it (see
/// [`auth::rotate_device_key`]). 204 when the key is the device's now
/// (also for the same request again, its answer lost); 400 for a key or
/// proof of the wrong shape, 403 for a proof the current key did not make,
/// 409 when no rotation was asked. Nothing changes unless it answers 204.
async fn device_key(
    axum::extract::State(state): axum::extract::State<AppState>,
    device: Device,
    body: Result<Json<DeviceKeyRotation>, JsonRejection>,
) -> Result<StatusCode, ApiError> {
    let rotation = json_body(body)?;
    let done = auth::rotate_device_key(state.store.as_ref(), &device, &rotation, state.clock.now()).await?;
    if done == auth::KeyRotation::Made {
        tracing::info!(device = %device.id, agent = %device.agent, "a phone replaced its device key as asked");
    }
    Ok(StatusCode::NO_CONTENT)
}

/// POST /api/v1/sync/wiped: a phone asked to wipe itself says it has sent
/// its work and destroyed its keys. Its credential is revoked with it; a
/// device no wipe was asked for is refused (409) and keeps its credential.
async fn wiped(
    axum::extract::State(state): axum::extract::State<AppState>,
    device: Device,
) -> Result<axum::http::StatusCode, ApiError> {
    if !state.store.confirm_wiped(&device.id, state.clock.now()).await? {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "no_wipe_requested",
            "no wipe was asked for this device",
        ));
    }
    tracing::info!(device = %device.id, agent = %device.agent, "a phone wiped itself as asked");
    Ok(axum::http::StatusCode::NO_CONTENT)
}

/// `POST /api/v1/sync/renew`: a new credential for the device, held beside
/// the one the request carried until its first use (see [`auth::renew`]).
async fn renew(
    axum::extract::State(state): axum::extract::State<AppState>,
    device: Device,
) -> Result<Json<RenewResponse>, ApiError> {
    let renewed = auth::renew(state.store.as_ref(), &device, state.clock.now()).await?;
    tracing::info!(agent = %device.agent, device = %device.id, expires_at = renewed.expires_at, "credential renewed");
    Ok(Json(RenewResponse { token: renewed.token, expires_at: renewed.expires_at }))
}

/// `POST /api/v1/sync/push` (CBOR [`PushRequest`]): visits the phone holds
/// changes of that the server lacks, answered with a CBOR [`PushResponse`].
/// Counted by outcome, with the time it took ([`crate::metrics`]).
async fn push(
    axum::extract::State(state): axum::extract::State<AppState>,
    device: Device,
    headers: axum::http::HeaderMap,
    body: Result<axum::body::Bytes, axum::extract::rejection::BytesRejection>,
) -> Result<Response, ApiError> {
    use crate::metrics::PushOutcome;
    let started = std::time::Instant::now();
    let answer = push_visits(&state, &device, &headers, body).await;
    let outcome = match &answer {
        Ok((_, 0)) => PushOutcome::stored,
        Ok(_) => PushOutcome::refused,
        Err(_) => PushOutcome::failed,
    };
    state.metrics.push_answered(outcome, started.elapsed());
    answer.map(|(response, _)| response)
}

/// A push answered, with how many of its visits were refused.
async fn push_visits(
    state: &AppState,
    device: &Device,
    headers: &axum::http::HeaderMap,
    body: Result<axum::body::Bytes, axum::extract::rejection::BytesRejection>,
) -> Result<(Response, usize), ApiError> {
    let cbor = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case(PUSH_MEDIA_TYPE));
    if !cbor {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            format!("a push body is {PUSH_MEDIA_TYPE}"),
        ));
    }
    let body = body.map_err(|rejection| body_error(rejection.status(), rejection.body_text(), "bad_body"))?;
    let _serving = state.documents_first.serving();
    // The counts first, from the array headers: nothing is decoded into
    // memory for a body that carries too many visits or heads.
    let request: PushRequest = decode_push_request(&body)
        .map_err(|refused| ApiError::bad_request(refused.code(), refused.to_string()))?;
    let visits = crate::push::push(state, &device.principal(), request.visits).await?;
    let stored = visits.iter().filter(|v| v.refused.is_none()).count();
    tracing::debug!(agent = %device.agent, visits = visits.len(), stored, "push");
    let refused = visits.len() - stored;
    let answer = encode_cbor(&PushResponse { visits });
    Ok((([(header::CONTENT_TYPE, PUSH_MEDIA_TYPE)], answer).into_response(), refused))
}

/// `GET /api/v1/sync/ws`: the samod websocket. A device has at most
/// [`crate::config::Config::max_sync_sessions_per_device`] connections
/// open or waiting (429 `too_many_sync_connections` beyond), and each waits
/// for one of the server's turns before the handshake; a connection ends
/// at its deadline, when the phone has sent nothing for
/// [`crate::config::Config::sync_idle_secs`], or once its device is revoked.
async fn sync_ws(
    axum::extract::State(state): axum::extract::State<AppState>,
    device: Device,
    version: Option<axum::Extension<ClientVersion>>,
    upgrade: WebSocketUpgrade,
) -> Result<Response, ApiError> {
    // Nothing a phone sends here is stored: its changes go through the push.
    let version = version.map(|axum::Extension(v)| v).unwrap_or_else(ClientVersion::unversioned);
    let changes =
        if version.protocol >= PULLING_PROTOCOL { PeerChanges::Ignored } else { PeerChanges::Discarded };
    let Some(slot) = state.sync_slots.take(&device.id) else {
        return Err(ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "too_many_sync_connections",
            format!("this device has {} sync connections already", state.config.max_sync_sessions_per_device),
        ));
    };
    // Waiting for a turn counts against the connection's deadline on the
    // phone's side; a phone that gives up syncs later.
    let turn = state.sync_turns.clone().acquire_owned().await.map_err(ApiError::internal)?;
    let limits = Limits {
        max_messages: 200_000,
        max_message_bytes: state.config.max_sync_message_bytes,
        deadline: Duration::from_secs(state.config.sync_deadline_secs),
        idle: Duration::from_secs(state.config.sync_idle_secs),
        refresh: Duration::from_secs(1),
    };
    let peer = device.peer();
    let policy = Arc::new(ConnectionPolicy::new(state.store.clone(), device.principal(), peer.clone()));
    let unsettled = state.in_flight.begin(&device.id);
    let revoked = Box::pin(crate::sync_slots::until_revoked(state.store.clone(), device.id.clone()));
    let failed = state.clone();
    Ok(upgrade
        .max_message_size(state.config.max_sync_message_bytes)
        .on_failed_upgrade(move |e| {
            failed.metrics.sync_failed(crate::metrics::SyncFailure::upgrade);
            tracing::warn!(error = %e, "sync upgrade failed");
        })
        .on_upgrade(move |socket| async move {
            let open = state.metrics.sync_opened();
            tracing::debug!(%peer, "sync connection open");
            match state.repo.serve(socket, &peer, limits, policy, changes, revoked).await {
                // The phone's changes were not stored; samod may have saved
                // again (or compacted) the documents it loaded, which are
                // projected so that the projection names what is stored.
                // No device brought them, so none countersigns.
                Ok(written) => {
                    tracing::debug!(%peer, visits = written.len(), "sync connection closed");
                    crate::projection::project_all(&state, written, None).await;
                }
                Err(e) => {
                    state.metrics.sync_failed(crate::metrics::SyncFailure::of(&e));
                    tracing::warn!(%peer, error = %e, "sync connection failed");
                }
            }
            drop((open, unsettled, turn, slot));
        }))
}

#[derive(Debug, Deserialize)]
struct UploadQuery {
    #[serde(default)]
    offset: u64,
}

/// Whether `device`'s agent may learn that blob `sha` is stored: it
/// uploaded it, or a visit it reaches refers to it.
async fn knows_blob(state: &State, device: &Device, sha: &str) -> Result<bool, ApiError> {
    Ok(state.store.blob_uploaded_by(sha, &device.agent).await?
        || state.store.reaches_blob(&device.principal(), sha).await?)
}

/// `GET /api/v1/blobs/{sha}/status`: where the agent's upload stands; a
/// stored blob shows as complete only to an agent that knows it.
///
/// A server stopped between storing an upload whole and recording it
/// leaves a stored blob the database does not count, and the phone that
/// asks next is told it is complete and never sends it again. So a stored
/// blob this agent is not recorded as uploading is recorded here (the
/// record is idempotent): the visits waiting for it count it from now on.
async fn blob_status(
    axum::extract::State(state): axum::extract::State<AppState>,
    device: Device,
    Path(sha): Path<String>,
) -> Result<Json<crate::blobs::UploadStatus>, ApiError> {
    let sha = check_sha(&sha)?;
    let uploaded = state.store.blob_uploaded_by(sha.as_str(), &device.agent).await?;
    let known = uploaded || state.store.reaches_blob(&device.principal(), sha.as_str()).await?;
    let status = state.blobs.status(&sha, &device.agent, known).await?;
    if status.complete && !uploaded {
        state.store.blob_received(sha.as_str(), status.received, &device.agent).await?;
    }
    Ok(Json(status))
}

/// `PUT /api/v1/blobs/{sha}`: part of a blob, or its rest; counted as
/// completed or refused ([`crate::metrics`]).
async fn blob_put(
    axum::extract::State(state): axum::extract::State<AppState>,
    device: Device,
    Path(sha): Path<String>,
    query: Result<Query<UploadQuery>, axum::extract::rejection::QueryRejection>,
    request: Request,
) -> Result<Response, ApiError> {
    use crate::metrics::UploadOutcome;
    let answer = blob_append(&state, &device, &sha, query, request).await;
    match &answer {
        Ok(response) if response.status() == StatusCode::CREATED => {
            state.metrics.upload(UploadOutcome::completed)
        }
        Err(refused) if refused.status.is_client_error() => state.metrics.upload(UploadOutcome::refused),
        _ => {}
    }
    answer
}

async fn blob_append(
    state: &AppState,
    device: &Device,
    sha: &str,
    query: Result<Query<UploadQuery>, axum::extract::rejection::QueryRejection>,
    request: Request,
) -> Result<Response, ApiError> {
    let sha = check_sha(sha)?;
    let Query(query) = query.map_err(|e| ApiError::bad_request("bad_query", e.body_text()))?;
    let total: u64 = request
        .headers()
        .get("x-blob-size")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| {
            ApiError::bad_request("missing_size", "the x-blob-size header (total bytes) is required")
        })?;
    // Visit documents first: the back office needs them before the photos.
    state.documents_first.wait_for_pushes(UPLOAD_WAIT_FOR_PUSHES).await;
    let body = request.into_body().into_data_stream();
    let known = knows_blob(state, device, sha.as_str()).await?;
    let max = state.config.max_blob_bytes;
    let status = state.blobs.append(&sha, &device.agent, known, query.offset, total, max, body).await?;
    if status.complete {
        // The blob counts now: visits waiting for it are no longer incomplete.
        state.store.blob_received(sha.as_str(), status.received, &device.agent).await?;
    }
    let code = if status.complete { StatusCode::CREATED } else { StatusCode::ACCEPTED };
    Ok((code, Json(status)).into_response())
}

async fn blob_get(
    axum::extract::State(state): axum::extract::State<AppState>,
    device: Device,
    Path(sha): Path<String>,
) -> Result<Response, ApiError> {
    let sha = check_sha(&sha)?;
    if !state.store.reaches_blob(&device.principal(), sha.as_str()).await? {
        return Err(ApiError::not_found("no such blob"));
    }
    let bytes = state.blobs.read(&sha).await?;
    Ok(([(header::CONTENT_TYPE, "application/octet-stream")], bytes).into_response())
}

async fn office_visit(
    axum::extract::State(state): axum::extract::State<AppState>,
    OfficeUser(user): OfficeUser,
    Path(id): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    posfield_sync_link_server::doc_id(&id)
        .map_err(|_| ApiError::bad_request("bad_visit_id", "not a visit id"))?;
    let principal = user.principal();
    if !state.store.reaches_visit(&principal, &id, false).await? {
        return Err(ApiError::not_found("no such visit"));
    }
    let stored = crate::projection::load_stored(&state, &id)
        .await?
        .ok_or_else(|| ApiError::not_found("no such visit"))?;
    let (mut doc, visit, damaged) = stored.readable(&id).map_err(ApiError::internal)?;
    let mut heads = doc.heads();
    heads.sort();
    let facts = state.store.visit_facts(&principal, &id).await?;
    let blobs_missing = facts.missing_blobs.len();
    let content_hash = visit.acceptance.as_ref().map(|a| a.content_hash.as_str());
    let device_signature_valid = facts.device_signature_valid(content_hash);
    // Each history entry's fields before and after, and the values that
    // lost a concurrent write, with the registered phone as the user may
    // read it there.
    let (history_changes, concurrent_edits) =
        crate::office::fields::history_as_seen(user.role, doc.history_changes(), doc.concurrent_edits());
    let approval_missing = (visit.status == posfield_shared::VisitStatus::Completed)
        .then(|| desk::approval_gaps(&visit, &facts))
        .flatten()
        .map(|gap| serde_json::json!({ "code": gap.code(), "missing": gap.missing }));
    Ok(Json(serde_json::json!({
        "visit": visit,
        "read_only": doc.is_read_only(),
        // Chunks that no longer loaded were set aside: this is the last good state.
        "damaged": damaged,
        "heads": heads,
        "blobs_missing": blobs_missing,
        "complete_on_server": blobs_missing == 0,
        "device_signature_valid": device_signature_valid,
        "signing_device": facts.countersignature.as_ref().and_then(|c| c.device.as_ref()).map(|d| {
            serde_json::json!({
                "id": d.id, "agent": d.agent, "name": d.name,
                "fingerprint": crate::office::key_fingerprint(&d.public_key), "enrolled_at": d.enrolled_at,
            })
        }),
        "approval_missing": approval_missing,
        // Who sent each history entry and when it arrived, by entry id: the
        // server's record, beside the device times the entries claim.
        "received": crate::projection::receipts(&state, &id).await?,
        "history_changes": history_changes,
        "concurrent_edits": concurrent_edits,
    })))
}

#[derive(Debug, Deserialize)]
struct ReviewBody {
    decision: ReviewDecision,
    note: Option<String>,
    /// The reviewer saw where the register contradicts the visit: the
    /// approval corrects it.
    #[serde(default)]
    correct_register: bool,
}

async fn office_review(
    axum::extract::State(state): axum::extract::State<AppState>,
    OfficeUser(user): OfficeUser,
    Path(id): Path<String>,
    body: Result<Json<ReviewBody>, JsonRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let body = json_body(body)?;
    let conflicts = if body.correct_register { desk::Conflicts::Correct } else { desk::Conflicts::Refuse };
    let visit = desk::review(&state, &user, &id, body.decision, body.note.as_deref(), conflicts).await?;
    Ok(Json(serde_json::json!({ "status": visit.status })))
}

#[derive(Debug, Deserialize)]
struct AssignBody {
    agent: String,
    /// The plan: absent keeps it, `null` takes it away.
    #[serde(default, deserialize_with = "present")]
    schedule: Option<Option<Schedule>>,
}

/// A key that is present, even as `null`, is `Some`; an absent key falls
/// to the field's default, `None`.
fn present<'de, D: serde::Deserializer<'de>, T: Deserialize<'de>>(
    deserializer: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(deserializer).map(Some)
}

async fn office_assign(
    axum::extract::State(state): axum::extract::State<AppState>,
    OfficeUser(user): OfficeUser,
    Path(id): Path<String>,
    body: Result<Json<AssignBody>, JsonRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let body = json_body(body)?;
    let visit = desk::assign(&state, &user, &id, &body.agent, body.schedule).await?;
    Ok(Json(serde_json::json!({ "assignee": visit.assignment.agent, "schedule": visit.assignment.schedule })))
}

#[derive(Debug, Deserialize)]
struct CreateBody {
    kind: VisitKind,
    merchant: String,
    merchant_number: Option<String>,
    terminal_number: Option<String>,
    phone: Option<String>,
    address: Option<String>,
    agent: String,
    /// The terminal's serial, when the desk knows it: the phone takes it as
    /// the terminal the visit expects when it reads the label.
    serial: Option<String>,
    /// The day and window it is planned for.
    #[serde(default)]
    schedule: Option<Schedule>,
    /// Where the shop is: `"latitude,longitude"` in degrees (WGS-84).
    #[serde(default)]
    location: Option<String>,
}

async fn office_create(
    axum::extract::State(state): axum::extract::State<AppState>,
    OfficeUser(user): OfficeUser,
    body: Result<Json<CreateBody>, JsonRejection>,
) -> Result<(StatusCode, Json<serde_json::Value>), ApiError> {
    let body = json_body(body)?;
    let new = desk::NewVisit {
        kind: body.kind,
        merchant: MerchantInput {
            name: body.merchant,
            merchant_number: body.merchant_number,
            terminal_number: body.terminal_number,
            phone: body.phone,
            address: body.address,
            location: desk::typed_location(body.location.as_deref().unwrap_or_default())?,
        },
        agent: body.agent,
        serial: body.serial,
        schedule: body.schedule,
    };
    let visit = desk::create(&state, &user, new).await?;
    Ok((
        StatusCode::CREATED,
        Json(serde_json::json!({
            "id": visit.id,
            "assignee": visit.assignment.agent,
            "schedule": visit.assignment.schedule,
        })),
    ))
}

#[derive(Debug, Deserialize)]
struct AuditQuery {
    visit: Option<String>,
}

async fn office_audit(
    axum::extract::State(state): axum::extract::State<AppState>,
    _user: OfficeUser,
    Query(query): Query<AuditQuery>,
) -> Result<Json<Vec<serde_json::Value>>, ApiError> {
    let log = state.store.audit_log(query.visit.as_deref(), 500).await?;
    Ok(Json(
        log.into_iter()
            .map(|record| {
                serde_json::json!({
                    "at": record.at, "visit": record.entry.visit_id, "actor": record.entry.actor,
                    "action": record.entry.action, "detail": record.entry.detail,
                })
            })
            .collect(),
    ))
}
