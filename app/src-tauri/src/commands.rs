//! The Tauri commands: one per user action, each a thin adapter over one
//! method of the core's `Agent` facade.
//!
//! Every command runs on a blocking thread (the core does file and network
//! I/O and runs its own async runtime for sync), never on the UI thread.
//! Edits return the whole visit screen, tell the UI the visit changed, and
//! ask the background sync to run, so no screen ever waits on the network.

use base64::Engine as _;
use posfield_core::agent::PhotoIdentified;
use posfield_core::background::SyncEvent;
use posfield_core::{Agent, AgentError, VisitFilter};
use posfield_shared::visit::schema::{MarkPoint, MarkShape, StepState};
use posfield_shared::visit::{SimInput, TerminalDetails};
use posfield_shared::vocab::{
    BackupItem, DocumentKind, NetworkLink, RepairPlan, SimAction, SimCarrier, SuspensionCause, Term,
    WarrantyStatus,
};
use posfield_shared::{
    BlobHash, CalendarDate, FaultCode, Remedy, Timestamp, VisitId, VisitKind, VisitStatus,
};
use serde::Serialize;
use tauri::{AppHandle, Manager};

use crate::error::{UiError, UiResult};
use crate::events;
use crate::models::{
    DataUsageView, DayView, IdentifiedDto, JobCardDto, MerchantFields, NewVisit, NewsView, SerialChoiceDto,
    StrokesDto, SyncView, VisitList, VisitRowDto, VisitView, Vocabulary,
};
use crate::nfc::NfcTagDto;
use crate::state::AppState;

/// Every command, for the builder.
pub(crate) fn handler() -> impl Fn(tauri::ipc::Invoke) -> bool + Send + Sync + 'static {
    tauri::generate_handler![
        app_info,
        vocabulary,
        enroll,
        list_visits,
        day_view,
        search_visits,
        set_day_order,
        news_list,
        mark_news_seen,
        trip_step,
        create_visit,
        correct_merchant,
        visit_view,
        identify_photo,
        identify_photo_choice,
        identify_typed,
        identify_nfc,
        add_fault,
        add_attempt,
        resolve_fault,
        add_photo,
        remove_photo,
        annotate_photo,
        rub_out_mark,
        renew_on_same_trip,
        blob_data_url,
        set_step,
        set_sim,
        set_sim_action,
        confirm_backup,
        waive_backup,
        set_terminal_details,
        record_parameters,
        record_network_test,
        record_restore,
        set_unbind_reference,
        set_settled_balance,
        set_follow_up,
        record_handover,
        set_warranty,
        set_repair_plan,
        set_repair_fee,
        set_suspension_cause,
        submit_application,
        sign,
        verification,
        complete,
        sync_now,
        sync_view,
        set_photos_on_wifi_only,
        report_connection,
    ]
}

/// Runs `work` on a blocking thread with the app's state.
async fn blocking<T: Send + 'static>(
    app: AppHandle,
    work: impl FnOnce(&AppHandle, &AppState) -> UiResult<T> + Send + 'static,
) -> UiResult<T> {
    tauri::async_runtime::spawn_blocking(move || {
        let state = app.state::<AppState>();
        work(&app, state.inner())
    })
    .await
    .map_err(|e| UiError::new("internal", format!("the action stopped unexpectedly: {e}")))?
}

fn parse<T: Term>(what: &str, code: &str) -> UiResult<T> {
    T::from_code(code).ok_or_else(|| UiError::new("invalid_input", format!("unknown {what} {code:?}")))
}

/// A photo sent as the command request's own bytes (the webview's
/// `invoke(command, bytes, {headers})`), never as base64 text through the
/// bridge: a 10 MB photo stays 10 MB, and nothing decodes it on the way.
/// A body larger than any photo the core accepts is refused before it is
/// copied, with the core's own error.
fn photo_body(request: &tauri::ipc::Request<'_>) -> UiResult<Vec<u8>> {
    let tauri::ipc::InvokeBody::Raw(bytes) = request.body() else {
        return Err(UiError::new("invalid_input", "a photo comes as the request's bytes, not as JSON"));
    };
    let max = posfield_core::photo::PhotoLimits::default().max_input_bytes;
    let len = bytes.len() as u64;
    if len > max {
        return Err(AgentError::Photo(posfield_core::photo::PhotoError::TooLarge { bytes: len, max }).into());
    }
    Ok(bytes.clone())
}

/// The header `name` of a photo request, as text.
fn photo_header(request: &tauri::ipc::Request<'_>, name: &str) -> UiResult<String> {
    request
        .headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .ok_or_else(|| UiError::new("invalid_input", format!("the photo request has no {name} header")))
}

/// A visit id from the UI, checked: a bad one is the `bad_visit_id` error.
fn parse_visit_id(text: &str) -> UiResult<VisitId> {
    VisitId::parse(text).map_err(|e| AgentError::from(e).into())
}

/// A file hash from the UI, checked: a bad one is the `bad_blob_hash` error.
fn parse_blob_hash(text: &str) -> UiResult<BlobHash> {
    BlobHash::parse(text).map_err(|e| AgentError::from(e).into())
}

fn now() -> Timestamp {
    posfield_core::Clock::now(&posfield_core::SystemClock)
}

fn view_of(agent: &mut Agent, visit_id: &VisitId) -> UiResult<VisitView> {
    let visit = agent.visit(visit_id)?;
    let sync = agent.visit_sync_state(&visit)?;
    VisitView::build(&visit, now(), &sync).map_err(|e| AgentError::from(e).into())
}

/// Applies one edit, then returns the fresh visit screen, tells the UI and
/// asks for a sync.
fn edit(
    app: &AppHandle,
    state: &AppState,
    visit_id: &VisitId,
    op: impl FnOnce(&mut Agent) -> Result<(), AgentError>,
) -> UiResult<VisitView> {
    let view = {
        let mut agent = state.agent()?;
        op(&mut agent)?;
        view_of(&mut agent, visit_id)?
    };
    events::visit_changed(app, visit_id);
    state.sync_now();
    Ok(view)
}

/// Who is signed in and where the phone stands, for the first screen.
#[derive(Debug, Serialize)]
struct AppInfo {
    enrolled_agent: Option<String>,
    user: Option<String>,
    device_id: String,
    sync: SyncView,
    mobile: bool,
    /// When the app process started (ms since the epoch).
    launched_at: i64,
}

fn sync_view_of(agent: &Agent) -> UiResult<SyncView> {
    let status = agent.sync_status()?;
    Ok(SyncView {
        enrolled_agent: status.enrolled_agent,
        server: status.server,
        last_success: status.last_success,
        last_success_words: status.last_success.map(|at| Timestamp(at).beijing_words()),
        last_attempt: status.last_attempt,
        failures: status.failures,
        last_error_code: status.last_error.as_ref().map(|e| e.code.clone()),
        last_error_minimum_app_version: status
            .last_error
            .as_ref()
            .and_then(|e| e.minimum_app_version.clone()),
        last_error_message: status.last_error.map(|e| e.message),
        unsynced_visits: status.unsynced_visits,
        visit_count: i64::try_from(agent.visit_count()?).unwrap_or(i64::MAX),
        photos_on_wifi_only: status.photos_on_wifi_only,
        connection: agent.connection().code(),
        photos_waiting_for_wifi: status.photos_waiting_for_wifi,
        visits_waiting_for_photos: status.visits_waiting_for_photos,
        data_sent: status.data_used.sent,
        data_received: status.data_used.received,
        unseen_news: agent.unseen_news()?,
    })
}

#[tauri::command]
async fn app_info(app: AppHandle) -> UiResult<AppInfo> {
    blocking(app, |_, state| {
        let agent = state.agent()?;
        Ok(AppInfo {
            enrolled_agent: agent.enrolled_agent()?,
            user: agent.user().map(str::to_owned),
            device_id: agent.device_id().to_owned(),
            sync: sync_view_of(&agent)?,
            mobile: cfg!(mobile),
            launched_at: crate::launched_at(),
        })
    })
    .await
}

#[tauri::command]
fn vocabulary() -> Vocabulary {
    Vocabulary::build()
}

#[tauri::command]
async fn enroll(app: AppHandle, server: String, code: String, device_name: String) -> UiResult<String> {
    blocking(app, move |_, state| {
        // An enrolment link carries the server, the code and the pin; the
        // code field is then left empty.
        let mut agent = state.agent()?;
        let enrolled = if code.trim().is_empty() {
            agent.enroll_link(&server, &device_name)?
        } else {
            agent.enroll(&server, &code, &device_name)?
        };
        drop(agent);
        state.sync_now();
        Ok(enrolled.agent)
    })
    .await
}

#[tauri::command]
async fn list_visits(
    app: AppHandle,
    status: Option<String>,
    unsynced_only: bool,
    limit: u32,
    follow_up_on: Option<String>,
) -> UiResult<VisitList> {
    blocking(app, move |_, state| {
        let status = status.map(|s| parse::<VisitStatus>("visit status", &s)).transpose()?;
        let follow_up_on = follow_up_on.as_deref().map(|d| date("follow-up day", d)).transpose()?;
        let mut agent = state.agent()?;
        let filter = VisitFilter {
            status,
            unsynced_only,
            limit: Some(limit.saturating_add(1)),
            before: None,
            follow_up_on,
        };
        let mut rows: Vec<VisitRowDto> =
            agent.list_visits(&filter)?.into_iter().map(VisitRowDto::from_row).collect();
        let more = rows.len() > limit as usize;
        rows.truncate(limit as usize);
        for row in rows.iter_mut().filter(|r| r.status == VisitStatus::Returned) {
            row.returned_note = agent.visit(&row.id)?.latest_review().and_then(|r| r.note.clone());
        }
        Ok(VisitList { rows, more })
    })
    .await
}

/// The jobs of `day` (`YYYY-MM-DD`; today when absent), with the overdue
/// and unplanned ones on today's list.
#[tauri::command]
async fn day_view(app: AppHandle, day: Option<String>) -> UiResult<DayView> {
    blocking(app, move |_, state| {
        let today = now().beijing_date();
        let day = day.as_deref().map(|d| date("day", d)).transpose()?.unwrap_or(today);
        let mut agent = state.agent()?;
        let mut view = DayView::of(agent.day_plan(day)?, today.to_string());
        for list in [&mut view.planned, &mut view.overdue, &mut view.unplanned] {
            returned_notes(&mut agent, list)?;
        }
        Ok(view)
    })
    .await
}

/// The visits matching what the agent typed: merchant name, merchant or
/// terminal number, phone, address or serial.
#[tauri::command]
async fn search_visits(app: AppHandle, query: String, limit: u32) -> UiResult<Vec<JobCardDto>> {
    blocking(app, move |_, state| {
        let mut agent = state.agent()?;
        let mut cards: Vec<JobCardDto> = agent
            .search_visits(&query, limit)?
            .into_iter()
            .map(|card| JobCardDto { card, returned_note: None })
            .collect();
        returned_notes(&mut agent, &mut cards)?;
        Ok(cards)
    })
    .await
}

/// The agent's order of `day`'s jobs.
#[tauri::command]
async fn set_day_order(app: AppHandle, day: String, ids: Vec<String>) -> UiResult<()> {
    blocking(app, move |_, state| {
        let day = date("day", &day)?;
        if ids.len() > 200 {
            return Err(UiError::new("invalid_input", "a day holds at most 200 jobs"));
        }
        let ids = ids.iter().map(|id| parse_visit_id(id)).collect::<UiResult<Vec<_>>>()?;
        state.agent()?.set_day_order(day, &ids)?;
        Ok(())
    })
    .await
}

/// Where the phone said it was, as the UI's positioning gave it.
#[derive(Debug, serde::Deserialize)]
struct Fix {
    lat: f64,
    lon: f64,
    accuracy: Option<f64>,
}

/// A moment of the way to the merchant: `accept`, `depart`, or `arrive`
/// with where the phone said it was (`fix`) or why it could not say
/// (`no_fix`: `refused`, `unavailable`, `timeout`).
#[tauri::command]
async fn trip_step(
    app: AppHandle,
    visit_id: String,
    step: String,
    fix: Option<Fix>,
    no_fix: Option<String>,
) -> UiResult<VisitView> {
    blocking(app, move |app, state| {
        let id = parse_visit_id(&visit_id)?;
        if !matches!(step.as_str(), "accept" | "depart" | "arrive") {
            return Err(UiError::new("invalid_input", format!("no step {step:?} on the way")));
        }
        edit(app, state, &id, |agent| match step.as_str() {
            "accept" => agent.accept_job(&id).map(drop),
            "depart" => agent.depart(&id).map(drop),
            _ => {
                let location = match (&fix, no_fix.as_deref()) {
                    (Some(fix), _) => {
                        posfield_shared::visit::GeoPoint::from_degrees(fix.lat, fix.lon, fix.accuracy)
                            .ok_or("unavailable")
                    }
                    (None, Some(why)) => Err(why),
                    (None, None) => Err("unavailable"),
                };
                agent.arrive(&id, location).map(drop)
            }
        })
    })
    .await
}

/// The news the syncs brought, newest first.
#[tauri::command]
async fn news_list(app: AppHandle, limit: u32) -> UiResult<Vec<NewsView>> {
    blocking(app, move |_, state| {
        let news = state.agent()?.news(limit.min(500))?;
        Ok(news
            .into_iter()
            .map(|news| NewsView { at_words: Timestamp(news.at).beijing_words(), news })
            .collect())
    })
    .await
}

/// The agent saw the news up to `through`: the badge goes.
#[tauri::command]
async fn mark_news_seen(app: AppHandle, through: i64) -> UiResult<()> {
    blocking(app, move |_, state| Ok(state.agent()?.mark_news_seen(through)?)).await
}

/// Fills the reviewer's note of the returned visits among `cards`.
fn returned_notes(agent: &mut Agent, cards: &mut [JobCardDto]) -> UiResult<()> {
    for card in cards.iter_mut().filter(|c| c.card.status == VisitStatus::Returned) {
        card.returned_note = agent.visit(&card.card.id)?.latest_review().and_then(|r| r.note.clone());
    }
    Ok(())
}

#[tauri::command]
async fn create_visit(app: AppHandle, visit: NewVisit) -> UiResult<VisitId> {
    blocking(app, move |app, state| {
        let kind: VisitKind = parse("visit kind", &visit.kind)?;
        let row = state.agent()?.create_visit(kind, &visit.merchant.input())?;
        events::visit_changed(app, &row.id);
        state.sync_now();
        Ok(row.id)
    })
    .await
}

/// Corrects the merchant after dispatch; the visit's history shows the change.
#[tauri::command]
async fn correct_merchant(app: AppHandle, visit_id: String, merchant: MerchantFields) -> UiResult<VisitView> {
    blocking(app, move |app, state| {
        let visit_id = parse_visit_id(&visit_id)?;
        edit(app, state, &visit_id, |agent| agent.correct_merchant(&visit_id, &merchant.input()).map(|_| ()))
    })
    .await
}

/// The merchant's verification page of the visit's acceptance: its
/// address and QR code (`null` before signing or enrolment).
#[tauri::command]
async fn verification(
    app: AppHandle,
    visit_id: String,
) -> UiResult<Option<posfield_core::sync::Verification>> {
    blocking(app, move |_, state| Ok(state.agent()?.verification(&parse_visit_id(&visit_id)?)?)).await
}

#[tauri::command]
async fn visit_view(app: AppHandle, visit_id: String) -> UiResult<VisitView> {
    blocking(app, move |_, state| view_of(&mut *state.agent()?, &parse_visit_id(&visit_id)?)).await
}

/// The serial found and the visit as it now stands.
#[derive(Debug, Serialize)]
struct IdentifyReply {
    /// The serial recorded; `None` when the agent must choose.
    identified: Option<IdentifiedDto>,
    /// The candidates of a label photo that did not say which code is the serial.
    choice: Option<SerialChoiceDto>,
    visit: VisitView,
}

fn identify_reply(
    app: &AppHandle,
    state: &AppState,
    visit_id: &VisitId,
    run: impl FnOnce(&mut Agent) -> Result<posfield_core::agent::Identified, AgentError>,
) -> UiResult<IdentifyReply> {
    let mut found = None;
    let visit = edit(app, state, visit_id, |agent| {
        found = Some(run(agent)?);
        Ok(())
    })?;
    let found = found.ok_or_else(|| UiError::new("internal", "no serial recorded"))?;
    Ok(IdentifyReply { identified: Some(IdentifiedDto::from(found)), choice: None, visit })
}

#[tauri::command]
async fn identify_photo(app: AppHandle, request: tauri::ipc::Request<'_>) -> UiResult<IdentifyReply> {
    // The label photo as the request's bytes ([`photo_body`]); the visit in
    // `x-visit-id`, and `x-replacement: 1` for a replacement's new terminal.
    let (bytes, visit_id) = (photo_body(&request)?, photo_header(&request, "x-visit-id")?);
    let replacement = photo_header(&request, "x-replacement").is_ok_and(|v| v == "1");
    blocking(app, move |app, state| {
        let visit_id = parse_visit_id(&visit_id)?;
        let mut outcome = None;
        let visit = edit(app, state, &visit_id, |agent| {
            outcome = Some(agent.identify_photo(&visit_id, &bytes, replacement)?);
            Ok(())
        })?;
        Ok(match outcome.ok_or_else(|| UiError::new("internal", "no answer from the photo"))? {
            PhotoIdentified::Recorded(found) => {
                IdentifyReply { identified: Some(IdentifiedDto::from(found)), choice: None, visit }
            }
            PhotoIdentified::Choose(choice) => {
                IdentifyReply { identified: None, choice: Some(SerialChoiceDto::from(choice)), visit }
            }
        })
    })
    .await
}

/// The serial the agent tapped among a label photo's candidates.
#[tauri::command]
async fn identify_photo_choice(
    app: AppHandle,
    visit_id: String,
    photo: String,
    serial: String,
    replacement: bool,
) -> UiResult<IdentifyReply> {
    blocking(app, move |app, state| {
        let visit_id = parse_visit_id(&visit_id)?;
        let photo = BlobHash::parse(&photo).map_err(AgentError::from)?;
        identify_reply(app, state, &visit_id, |agent| {
            agent.identify_photo_choice(&visit_id, &photo, &serial, replacement)
        })
    })
    .await
}

/// A typed serial, or with `scanned` one the phone's live barcode scanner
/// read (recorded as scanned, not typed).
#[tauri::command]
async fn identify_typed(
    app: AppHandle,
    visit_id: String,
    serial: String,
    replacement: bool,
    scanned: Option<bool>,
) -> UiResult<IdentifyReply> {
    blocking(app, move |app, state| {
        let visit_id = parse_visit_id(&visit_id)?;
        identify_reply(app, state, &visit_id, |agent| {
            if scanned == Some(true) {
                agent.identify_scanned(&visit_id, &serial, replacement)
            } else {
                agent.identify_typed(&visit_id, &serial, replacement)
            }
        })
    })
    .await
}

#[tauri::command]
async fn identify_nfc(
    app: AppHandle,
    visit_id: String,
    tag: NfcTagDto,
    replacement: bool,
) -> UiResult<IdentifyReply> {
    blocking(app, move |app, state| {
        let visit_id = parse_visit_id(&visit_id)?;
        let message = tag.ndef_message();
        identify_reply(app, state, &visit_id, |agent| {
            agent.identify_nfc(&visit_id, &message, &tag.id.0, replacement)
        })
    })
    .await
}

#[tauri::command]
async fn add_fault(
    app: AppHandle,
    visit_id: String,
    code: String,
    symptom: Option<String>,
) -> UiResult<VisitView> {
    blocking(app, move |app, state| {
        let visit_id = parse_visit_id(&visit_id)?;
        let code: FaultCode = parse("fault", &code)?;
        let symptom = symptom.filter(|s| !s.trim().is_empty());
        edit(app, state, &visit_id, |agent| agent.add_fault(&visit_id, code, symptom.as_deref()).map(drop))
    })
    .await
}

#[tauri::command]
async fn add_attempt(
    app: AppHandle,
    visit_id: String,
    fault_id: String,
    remedy: Option<String>,
    description: Option<String>,
    fixed: bool,
) -> UiResult<VisitView> {
    blocking(app, move |app, state| {
        let visit_id = parse_visit_id(&visit_id)?;
        let remedy = remedy.map(|r| parse::<Remedy>("remedy", &r)).transpose()?;
        let description = description.filter(|s| !s.trim().is_empty());
        edit(app, state, &visit_id, |agent| {
            agent.add_attempt(&visit_id, &fault_id, remedy, description.as_deref(), fixed).map(drop)
        })
    })
    .await
}

#[tauri::command]
async fn resolve_fault(
    app: AppHandle,
    visit_id: String,
    fault_id: String,
    fixed: bool,
    note: Option<String>,
) -> UiResult<VisitView> {
    blocking(app, move |app, state| {
        let visit_id = parse_visit_id(&visit_id)?;
        edit(app, state, &visit_id, |agent| {
            agent.resolve_fault(&visit_id, &fault_id, fixed, note.as_deref()).map(drop)
        })
    })
    .await
}

/// A document photo: its bytes are the request's body, the visit and the
/// kind its `x-visit-id` and `x-kind` headers ([`photo_body`]),
/// `x-turns` the quarter turns clockwise the agent gave it in the preview
/// (0 to 3; absent, none) and `x-crop` the part it kept (`x,y,w,h` in
/// thousandths of the turned photo; absent, all of it) and `x-stamp: 1`
/// the evidence stamp drawn across its foot ([`posfield_core::stamp`]).
#[tauri::command]
async fn add_photo(app: AppHandle, request: tauri::ipc::Request<'_>) -> UiResult<VisitView> {
    let (bytes, visit_id, kind) =
        (photo_body(&request)?, photo_header(&request, "x-visit-id")?, photo_header(&request, "x-kind")?);
    let quarter_turns = match photo_header(&request, "x-turns") {
        Ok(turns) => turns.parse::<u8>().ok().filter(|t| *t < 4).ok_or_else(|| {
            UiError::new("invalid_input", format!("a photo turns 0 to 3 quarter turns, not {turns:?}"))
        })?,
        Err(_) => 0,
    };
    let crop = match photo_header(&request, "x-crop") {
        Ok(text) => Some(posfield_core::photo::CropBox::parse(&text).map_err(AgentError::Photo)?),
        Err(_) => None,
    };
    let photo_edit = posfield_core::photo::PhotoEdit { quarter_turns, crop };
    let stamped = photo_header(&request, "x-stamp").is_ok_and(|v| v == "1");
    blocking(app, move |app, state| {
        let visit_id = parse_visit_id(&visit_id)?;
        let kind: DocumentKind = parse("document kind", &kind)?;
        edit(app, state, &visit_id, |agent| {
            // The platform's CJK font, looked for once, when first needed.
            if stamped && !agent.can_stamp() {
                agent.set_stamp_font(posfield_core::stamp::StampFont::system());
            }
            agent.add_photo_stamped(&visit_id, &bytes, kind, &photo_edit, stamped).map(drop)
        })
    })
    .await
}

#[tauri::command]
async fn remove_photo(app: AppHandle, visit_id: String, sha256: String) -> UiResult<VisitView> {
    blocking(app, move |app, state| {
        let visit_id = parse_visit_id(&visit_id)?;
        let sha256 = parse_blob_hash(&sha256)?;
        edit(app, state, &visit_id, |agent| agent.remove_photo(&visit_id, &sha256).map(drop))
    })
    .await
}

/// Draws a mark over a photo: `shape` is `arrow`, `circle` or `text`;
/// points are thousandths of the photo's width and height.
#[tauri::command]
#[allow(clippy::too_many_arguments)]
async fn annotate_photo(
    app: AppHandle,
    visit_id: String,
    sha256: String,
    shape: String,
    from: [u32; 2],
    to: [u32; 2],
    text: Option<String>,
) -> UiResult<VisitView> {
    blocking(app, move |app, state| {
        let visit_id = parse_visit_id(&visit_id)?;
        let sha256 = parse_blob_hash(&sha256)?;
        let shape: MarkShape = parse("mark shape", &shape)?;
        let (from, to) = (MarkPoint { x: from[0], y: from[1] }, MarkPoint { x: to[0], y: to[1] });
        edit(app, state, &visit_id, |agent| {
            agent.annotate(&visit_id, &sha256, shape, from, to, text.as_deref()).map(drop)
        })
    })
    .await
}

/// Creates the SIM renewal offered at the terminal, linked to this visit;
/// answers the renewal's id (the one already created, when asked again).
#[tauri::command]
async fn renew_on_same_trip(app: AppHandle, visit_id: String) -> UiResult<String> {
    blocking(app, move |app, state| {
        let visit_id = parse_visit_id(&visit_id)?;
        let renewal = state.agent()?.renew_on_same_trip(&visit_id)?;
        events::visit_changed(app, &visit_id);
        events::visit_changed(app, &renewal);
        state.sync_now();
        Ok(renewal.to_string())
    })
    .await
}

/// Rubs out a mark drawn over a photo.
#[tauri::command]
async fn rub_out_mark(app: AppHandle, visit_id: String, mark_id: String) -> UiResult<VisitView> {
    blocking(app, move |app, state| {
        let visit_id = parse_visit_id(&visit_id)?;
        edit(app, state, &visit_id, |agent| agent.rub_out(&visit_id, &mark_id).map(drop))
    })
    .await
}

/// A photo or the signature image of a visit as a data URL, for thumbnails.
#[tauri::command]
async fn blob_data_url(app: AppHandle, visit_id: String, sha256: String) -> UiResult<String> {
    blocking(app, move |_, state| {
        let (visit_id, sha256) = (parse_visit_id(&visit_id)?, parse_blob_hash(&sha256)?);
        let bytes = state.agent()?.photo_bytes(&visit_id, &sha256)?;
        let mime = if bytes.starts_with(b"\x89PNG") { "image/png" } else { "image/jpeg" };
        Ok(format!("data:{mime};base64,{}", base64::engine::general_purpose::STANDARD.encode(bytes)))
    })
    .await
}

#[tauri::command]
async fn set_step(
    app: AppHandle,
    visit_id: String,
    step: String,
    state: StepState,
    reason: Option<String>,
    note: Option<String>,
) -> UiResult<VisitView> {
    blocking(app, move |app, shell| {
        let visit_id = parse_visit_id(&visit_id)?;
        let reason = reason.filter(|s| !s.trim().is_empty());
        edit(app, shell, &visit_id, |agent| {
            agent.set_step(&visit_id, &step, state, reason.as_deref(), note.as_deref()).map(drop)
        })
    })
    .await
}

#[tauri::command]
async fn set_sim(
    app: AppHandle,
    visit_id: String,
    iccid: String,
    carrier: String,
    expiry: String,
) -> UiResult<VisitView> {
    blocking(app, move |app, state| {
        let visit_id = parse_visit_id(&visit_id)?;
        let sim = SimInput {
            iccid,
            carrier: parse::<SimCarrier>("carrier", &carrier)?,
            expiry: CalendarDate::parse(&expiry)
                .map_err(|e| UiError::new("invalid_input", format!("the expiry date is not valid: {e}")))?,
        };
        edit(app, state, &visit_id, |agent| agent.set_sim(&visit_id, &sim).map(drop))
    })
    .await
}

#[tauri::command]
async fn set_sim_action(
    app: AppHandle,
    visit_id: String,
    action: String,
    new_iccid: Option<String>,
    new_expiry: Option<String>,
) -> UiResult<VisitView> {
    blocking(app, move |app, state| {
        let visit_id = parse_visit_id(&visit_id)?;
        let action: SimAction = parse("SIM action", &action)?;
        let expiry = new_expiry
            .filter(|s| !s.is_empty())
            .map(|e| CalendarDate::parse(&e))
            .transpose()
            .map_err(|e| UiError::new("invalid_input", format!("the expiry date is not valid: {e}")))?;
        let iccid = new_iccid.filter(|s| !s.trim().is_empty());
        edit(app, state, &visit_id, |agent| {
            agent.set_sim_action(&visit_id, action, iccid.as_deref(), expiry).map(drop)
        })
    })
    .await
}

#[tauri::command]
async fn confirm_backup(
    app: AppHandle,
    visit_id: String,
    items: Vec<String>,
    note: Option<String>,
) -> UiResult<VisitView> {
    blocking(app, move |app, state| {
        let visit_id = parse_visit_id(&visit_id)?;
        let items: Vec<BackupItem> =
            items.iter().map(|i| parse("backup item", i)).collect::<UiResult<_>>()?;
        edit(app, state, &visit_id, |agent| {
            agent.confirm_backup(&visit_id, &items, note.as_deref()).map(drop)
        })
    })
    .await
}

/// A day as typed or picked (YYYY-MM-DD).
fn date(what: &str, text: &str) -> UiResult<CalendarDate> {
    CalendarDate::parse(text).map_err(|e| UiError::new("invalid_input", format!("{what} is not valid: {e}")))
}

/// The merchant declines the backup and signs that they did.
#[tauri::command]
async fn waive_backup(
    app: AppHandle,
    visit_id: String,
    signer_name: String,
    reason: Option<String>,
    strokes: StrokesDto,
) -> UiResult<VisitView> {
    blocking(app, move |app, state| {
        let visit_id = parse_visit_id(&visit_id)?;
        edit(app, state, &visit_id, |agent| {
            agent.waive_backup(&visit_id, signer_name.trim(), reason.as_deref(), &strokes).map(drop)
        })
    })
    .await
}

/// The model, manufacturer and production date off a terminal's label.
#[tauri::command]
async fn set_terminal_details(
    app: AppHandle,
    visit_id: String,
    model: String,
    manufacturer: Option<String>,
    production_date: String,
    replacement: bool,
) -> UiResult<VisitView> {
    blocking(app, move |app, state| {
        let visit_id = parse_visit_id(&visit_id)?;
        let details = TerminalDetails {
            model,
            manufacturer: manufacturer.filter(|m| !m.trim().is_empty()),
            production_date: date("the production date", &production_date)?,
        };
        edit(app, state, &visit_id, |agent| {
            agent.set_terminal_details(&visit_id, &details, replacement).map(drop)
        })
    })
    .await
}

#[tauri::command]
async fn record_parameters(
    app: AppHandle,
    visit_id: String,
    terminal_number: String,
    parameters_downloaded: bool,
    keys_downloaded: bool,
) -> UiResult<VisitView> {
    blocking(app, move |app, state| {
        let visit_id = parse_visit_id(&visit_id)?;
        edit(app, state, &visit_id, |agent| {
            agent
                .record_parameters(&visit_id, &terminal_number, parameters_downloaded, keys_downloaded)
                .map(drop)
        })
    })
    .await
}

#[tauri::command]
async fn record_network_test(
    app: AppHandle,
    visit_id: String,
    link: String,
    passed: bool,
    note: Option<String>,
) -> UiResult<VisitView> {
    blocking(app, move |app, state| {
        let visit_id = parse_visit_id(&visit_id)?;
        let link: NetworkLink = parse("network link", &link)?;
        edit(app, state, &visit_id, |agent| {
            agent.record_network_test(&visit_id, link, passed, note.as_deref()).map(drop)
        })
    })
    .await
}

#[tauri::command]
async fn record_restore(
    app: AppHandle,
    visit_id: String,
    items: Vec<String>,
    note: Option<String>,
) -> UiResult<VisitView> {
    blocking(app, move |app, state| {
        let visit_id = parse_visit_id(&visit_id)?;
        let items: Vec<BackupItem> =
            items.iter().map(|i| parse("restored item", i)).collect::<UiResult<_>>()?;
        edit(app, state, &visit_id, |agent| {
            agent.record_restore(&visit_id, &items, note.as_deref()).map(drop)
        })
    })
    .await
}

#[tauri::command]
async fn set_unbind_reference(app: AppHandle, visit_id: String, reference: String) -> UiResult<VisitView> {
    blocking(app, move |app, state| {
        let visit_id = parse_visit_id(&visit_id)?;
        edit(app, state, &visit_id, |agent| agent.set_unbind_reference(&visit_id, &reference).map(drop))
    })
    .await
}

#[tauri::command]
async fn set_settled_balance(app: AppHandle, visit_id: String, balance_fen: u64) -> UiResult<VisitView> {
    blocking(app, move |app, state| {
        let visit_id = parse_visit_id(&visit_id)?;
        edit(app, state, &visit_id, |agent| agent.set_settled_balance(&visit_id, balance_fen).map(drop))
    })
    .await
}

#[tauri::command]
async fn set_follow_up(
    app: AppHandle,
    visit_id: String,
    on: String,
    note: Option<String>,
) -> UiResult<VisitView> {
    blocking(app, move |app, state| {
        let visit_id = parse_visit_id(&visit_id)?;
        let on = date("the follow-up day", &on)?;
        edit(app, state, &visit_id, |agent| agent.set_follow_up(&visit_id, on, note.as_deref()).map(drop))
    })
    .await
}

/// A terminal handed over in the visit: its condition, seal or bag number
/// and the hash of one of the visit's photos of it.
#[tauri::command]
async fn record_handover(
    app: AppHandle,
    visit_id: String,
    serial: String,
    condition: String,
    seal: Option<String>,
    photo: Option<String>,
) -> UiResult<VisitView> {
    blocking(app, move |app, state| {
        let visit_id = parse_visit_id(&visit_id)?;
        let photo = photo.filter(|p| !p.is_empty()).map(|p| parse_blob_hash(&p)).transpose()?;
        edit(app, state, &visit_id, |agent| {
            agent
                .record_handover(
                    &visit_id,
                    &serial,
                    &condition,
                    seal.as_deref(),
                    photo.as_ref().map(|p| p.as_str()),
                )
                .map(drop)
        })
    })
    .await
}

#[tauri::command]
async fn set_warranty(app: AppHandle, visit_id: String, status: String) -> UiResult<VisitView> {
    blocking(app, move |app, state| {
        let visit_id = parse_visit_id(&visit_id)?;
        let status: WarrantyStatus = parse("warranty status", &status)?;
        edit(app, state, &visit_id, |agent| agent.set_warranty(&visit_id, status).map(drop))
    })
    .await
}

#[tauri::command]
async fn set_repair_plan(app: AppHandle, visit_id: String, plan: String) -> UiResult<VisitView> {
    blocking(app, move |app, state| {
        let visit_id = parse_visit_id(&visit_id)?;
        let plan: RepairPlan = parse("repair plan", &plan)?;
        edit(app, state, &visit_id, |agent| agent.set_repair_plan(&visit_id, plan).map(drop))
    })
    .await
}

#[tauri::command]
async fn set_repair_fee(app: AppHandle, visit_id: String, fee_fen: u64) -> UiResult<VisitView> {
    blocking(app, move |app, state| {
        let visit_id = parse_visit_id(&visit_id)?;
        edit(app, state, &visit_id, |agent| agent.set_repair_fee(&visit_id, fee_fen).map(drop))
    })
    .await
}

#[tauri::command]
async fn set_suspension_cause(app: AppHandle, visit_id: String, cause: String) -> UiResult<VisitView> {
    blocking(app, move |app, state| {
        let visit_id = parse_visit_id(&visit_id)?;
        let cause: SuspensionCause = parse("suspension cause", &cause)?;
        edit(app, state, &visit_id, |agent| agent.set_suspension_cause(&visit_id, cause).map(drop))
    })
    .await
}

#[tauri::command]
async fn submit_application(app: AppHandle, visit_id: String) -> UiResult<VisitView> {
    blocking(app, move |app, state| {
        let visit_id = parse_visit_id(&visit_id)?;
        edit(app, state, &visit_id, |agent| agent.submit_application(&visit_id).map(drop))
    })
    .await
}

#[tauri::command]
async fn sign(
    app: AppHandle,
    visit_id: String,
    signer_name: String,
    strokes: StrokesDto,
) -> UiResult<VisitView> {
    blocking(app, move |app, state| {
        let visit_id = parse_visit_id(&visit_id)?;
        edit(app, state, &visit_id, |agent| agent.sign(&visit_id, signer_name.trim(), &strokes).map(drop))
    })
    .await
}

#[tauri::command]
async fn complete(app: AppHandle, visit_id: String) -> UiResult<VisitView> {
    blocking(app, move |app, state| {
        let visit_id = parse_visit_id(&visit_id)?;
        edit(app, state, &visit_id, |agent| agent.complete(&visit_id).map(drop))
    })
    .await
}

#[tauri::command]
async fn sync_now(app: AppHandle) -> UiResult<()> {
    blocking(app, |_, state| {
        state.sync_now();
        Ok(())
    })
    .await
}

/// The sync screen: stored status, the data used and the background
/// sync's last event.
#[derive(Debug, Serialize)]
struct SyncScreen {
    status: SyncView,
    data_usage: DataUsageView,
    /// The waiting visits the server holds, whose photos wait for Wi-Fi.
    waiting_for_photos: Vec<String>,
    last_event: Option<SyncEvent>,
}

#[tauri::command]
async fn sync_view(app: AppHandle) -> UiResult<SyncScreen> {
    blocking(app, |_, state| {
        let agent = state.agent()?;
        let status = sync_view_of(&agent)?;
        let data_usage = DataUsageView::of(&agent.data_usage()?);
        let waiting_for_photos = agent.visits_waiting_for_photos()?;
        drop(agent);
        let last_event = state.last_sync_event.lock().ok().and_then(|e| e.clone());
        Ok(SyncScreen { status, data_usage, waiting_for_photos, last_event })
    })
    .await
}

/// "Photos on Wi-Fi only": on, photos and signature images wait for Wi-Fi
/// while the documents go at once; off, everything goes on any network. A
/// sync follows at once, to send what waits or to hold what would go.
#[tauri::command]
async fn set_photos_on_wifi_only(app: AppHandle, on: bool) -> UiResult<SyncView> {
    blocking(app, move |_, state| {
        let view = {
            let mut agent = state.agent()?;
            agent.set_photos_on_wifi_only(on)?;
            sync_view_of(&agent)?
        };
        state.sync_now();
        Ok(view)
    })
    .await
}

/// The WebView's `navigator.connection.type` (absent where it has none, as
/// on iOS), at start and at every change. A network the syncs see differently
/// from before starts a sync, so photos waiting for Wi-Fi go as soon as it
/// is there. Returns the network the syncs see (`wifi`, `cellular`,
/// `unknown`; always `unknown` on a desktop).
#[tauri::command]
async fn report_connection(app: AppHandle, web_type: Option<String>) -> UiResult<&'static str> {
    blocking(app, move |_, state| {
        let (connection, changed) = state.network.report(web_type.as_deref());
        if changed {
            state.sync_now();
        }
        Ok(connection.code())
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_from_the_ui_that_do_not_parse_are_refused_with_the_codes_the_ui_knows() {
        for (error, code) in [
            (parse_visit_id("../../etc/passwd").unwrap_err(), "bad_visit_id"),
            (parse_visit_id("").unwrap_err(), "bad_visit_id"),
            (parse_blob_hash("photo.jpg").unwrap_err(), "bad_blob_hash"),
            (parse_blob_hash(&"A".repeat(64)).unwrap_err(), "bad_blob_hash"),
        ] {
            assert_eq!(error.code, code, "{error}");
            assert!(error.message.contains("is not a"), "{error}");
        }
        let id = "01a207b7-e9e1-7141-abf3-6a5ab3c38fc6";
        assert_eq!(parse_visit_id(id).unwrap().as_str(), id);
    }

    /// A command missing from the app manifest (`build.rs`) bypasses the
    /// permission system; one missing from the capability is refused to the
    /// UI. Every handler is in both, and nothing else is.
    #[test]
    fn every_command_is_declared_and_granted_and_nothing_else_is() {
        let source = include_str!("commands.rs");
        let start = source.find("generate_handler![").expect("the handler list") + "generate_handler![".len();
        let handlers: std::collections::BTreeSet<&str> = source[start..]
            .split(']')
            .next()
            .unwrap()
            .split(',')
            .map(str::trim)
            .filter(|h| !h.is_empty())
            .collect();
        let build = include_str!("../build.rs");
        let declared: std::collections::BTreeSet<&str> =
            build.split("];").next().unwrap().split('"').skip(1).step_by(2).collect();
        assert_eq!(handlers, declared, "build.rs's COMMANDS");
        let capability: serde_json::Value =
            serde_json::from_str(include_str!("../capabilities/default.json")).unwrap();
        let granted: std::collections::BTreeSet<String> = capability["permissions"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|p| p.as_str()?.strip_prefix("allow-").map(|c| c.replace('-', "_")))
            .collect();
        let handlers: std::collections::BTreeSet<String> = handlers.iter().map(|h| (*h).to_owned()).collect();
        assert_eq!(handlers, granted, "capabilities/default.json");
    }
}
