//! The app's wire types: what the Tauri commands send to the UI and accept
//! from it. Domain types stay in posfield-shared; these are built from them
//! here, so the JSON the UI reads can change without touching the domain.

use base64::Engine as _;
use posfield_core::agent::{Identified, SerialChoice};
use posfield_core::identify::barcode::Evidence;
use posfield_core::{DayPlan, JobCard, VisitRow, VisitSyncState};
use posfield_shared::checklist::{Condition, Need};
use posfield_shared::fault::FAULTS;
use posfield_shared::visit::MerchantInput;
use posfield_shared::visit::completion::applies;
use posfield_shared::visit::schema::ReviewDecision;
use posfield_shared::visit::{AcceptanceSummary, SCHEMA_VERSION, SignatureCheck, Visit};
use posfield_shared::vocab::{
    BackupItem, DocumentKind, NetworkLink, RepairPlan, SimAction, SimCarrier, SuspensionCause, Term,
    WarrantyStatus,
};
use posfield_shared::{BlobHash, FaultCategory, IdError, Remedy, Timestamp, VisitId, VisitKind, VisitStatus};
use serde::{Deserialize, Serialize};

/// A vocabulary term with its labels.
#[derive(Debug, Clone, Serialize)]
pub struct TermDto {
    /// Stable code.
    pub code: &'static str,
    /// zh-CN label.
    pub zh: &'static str,
    /// English label.
    pub en: &'static str,
}

fn terms<T: Term>() -> Vec<TermDto> {
    T::ALL.iter().map(|t| TermDto { code: t.code(), zh: t.zh(), en: t.en() }).collect()
}

fn term<T: Term>(t: T) -> TermDto {
    TermDto { code: t.code(), zh: t.zh(), en: t.en() }
}

/// One fault of the taxonomy with its recommended on-site steps.
#[derive(Debug, Clone, Serialize)]
pub struct FaultInfoDto {
    /// The fault.
    pub fault: TermDto,
    /// Its category code.
    pub category: &'static str,
    /// The on-site steps to try, in order.
    pub remedies: Vec<TermDto>,
    /// Whether the symptom must be described.
    pub symptom_required: bool,
}

/// Every label and table the UI shows, from the domain (never copied into
/// the UI), fetched once at start.
#[derive(Debug, Clone, Serialize)]
pub struct Vocabulary {
    /// Visit kinds.
    pub kinds: Vec<TermDto>,
    /// Visit statuses.
    pub statuses: Vec<TermDto>,
    /// Document kinds.
    pub document_kinds: Vec<TermDto>,
    /// Fault categories.
    pub fault_categories: Vec<TermDto>,
    /// The fault taxonomy.
    pub faults: Vec<FaultInfoDto>,
    /// Every remedy.
    pub remedies: Vec<TermDto>,
    /// Warranty statuses.
    pub warranty: Vec<TermDto>,
    /// Repair plans.
    pub repair_plans: Vec<TermDto>,
    /// Suspension causes.
    pub suspension_causes: Vec<TermDto>,
    /// SIM carriers.
    pub carriers: Vec<TermDto>,
    /// SIM actions.
    pub sim_actions: Vec<TermDto>,
    /// Backup items.
    pub backup_items: Vec<TermDto>,
    /// How a terminal reaches the acquirer in a network test.
    pub network_links: Vec<TermDto>,
    /// A terminal's lifecycle states (the job's brief).
    pub terminal_states: Vec<TermDto>,
    /// The desk's alerts on a terminal (the job's brief).
    pub brief_alerts: Vec<TermDto>,
}

impl Vocabulary {
    /// The whole vocabulary.
    pub fn build() -> Vocabulary {
        Vocabulary {
            kinds: terms::<VisitKind>(),
            statuses: terms::<VisitStatus>(),
            document_kinds: terms::<DocumentKind>(),
            fault_categories: terms::<FaultCategory>(),
            faults: FAULTS
                .iter()
                .map(|info| FaultInfoDto {
                    fault: term(info.code),
                    category: info.category.code(),
                    remedies: info.remedies.iter().map(|r| term(*r)).collect(),
                    symptom_required: info.symptom_required,
                })
                .collect(),
            remedies: terms::<Remedy>(),
            warranty: terms::<WarrantyStatus>(),
            repair_plans: terms::<RepairPlan>(),
            suspension_causes: terms::<SuspensionCause>(),
            carriers: terms::<SimCarrier>(),
            sim_actions: terms::<SimAction>(),
            backup_items: terms::<BackupItem>(),
            network_links: terms::<NetworkLink>(),
            terminal_states: terms::<posfield_shared::lifecycle::TerminalState>(),
            brief_alerts: terms::<posfield_shared::visit::BriefAlert>(),
        }
    }
}

/// A job's card on the day's list or in a search, with the reviewer's note
/// when the visit was returned.
#[derive(Debug, Clone, Serialize)]
pub struct JobCardDto {
    /// What the card shows (kind and status as their codes).
    #[serde(flatten)]
    pub card: JobCard,
    /// The reviewer's note when the visit was returned.
    pub returned_note: Option<String>,
}

/// A day's jobs as the today screen shows them.
#[derive(Debug, Clone, Serialize)]
pub struct DayView {
    /// The day shown, `YYYY-MM-DD`.
    pub day: String,
    /// Today, by the phone's clock in Beijing time, `YYYY-MM-DD`.
    pub today: String,
    /// The jobs planned for the day, in the agent's order.
    pub planned: Vec<JobCardDto>,
    /// Open jobs planned for an earlier day (today only).
    pub overdue: Vec<JobCardDto>,
    /// Open jobs with no day (today only).
    pub unplanned: Vec<JobCardDto>,
}

impl DayView {
    /// From the core's plan; the returned notes are filled by the caller.
    pub fn of(plan: DayPlan, today: String) -> DayView {
        let cards = |cards: Vec<JobCard>| {
            cards.into_iter().map(|card| JobCardDto { card, returned_note: None }).collect()
        };
        DayView {
            day: plan.day,
            today,
            planned: cards(plan.planned),
            overdue: cards(plan.overdue),
            unplanned: cards(plan.unplanned),
        }
    }
}

/// A row of the visit list, with the reviewer's note. Its own type: the
/// core's row may change without changing what the list screen reads.
#[derive(Debug, Clone, Serialize)]
pub struct VisitRowDto {
    /// Visit id.
    pub id: VisitId,
    /// Kind (its code in JSON).
    pub kind: VisitKind,
    /// Status (its code in JSON).
    pub status: VisitStatus,
    /// Merchant name.
    pub merchant: String,
    /// Terminal serial, once identified.
    pub serial: Option<String>,
    /// Assigned agent.
    pub assignee: String,
    /// Device time of the last change, ms since the epoch.
    pub updated_at: i64,
    /// Whether the phone holds changes the server has not confirmed.
    pub unsynced: bool,
    /// The last change in Beijing time, `YYYY-MM-DD HH:MM`: the UI shows
    /// this rather than reading `updated_at` in the phone's own zone.
    pub updated_words: String,
    /// The reviewer's note when the visit was returned.
    pub returned_note: Option<String>,
    /// The day of the follow-up check (`YYYY-MM-DD`), when one is set.
    pub follow_up: Option<String>,
}

impl VisitRowDto {
    /// From a list row; `returned_note` filled by the caller for returned visits.
    pub fn from_row(row: VisitRow) -> VisitRowDto {
        VisitRowDto {
            id: row.id,
            kind: row.kind,
            status: row.status,
            merchant: row.merchant,
            serial: row.serial,
            assignee: row.assignee,
            updated_at: row.updated_at,
            updated_words: Timestamp(row.updated_at).beijing_words(),
            unsynced: row.unsynced,
            returned_note: None,
            follow_up: row.follow_up,
        }
    }
}

/// The visit list and how many visits the phone holds in all.
#[derive(Debug, Clone, Serialize)]
pub struct VisitList {
    /// Rows, newest first.
    pub rows: Vec<VisitRowDto>,
    /// Whether more rows exist past the limit.
    pub more: bool,
}

/// Merchant details typed by the agent for a new visit.
#[derive(Debug, Clone, Deserialize)]
pub struct NewVisit {
    /// Kind code.
    pub kind: String,
    /// The merchant.
    #[serde(flatten)]
    pub merchant: MerchantFields,
}

/// The merchant as the agent typed it (a new visit's, or a correction).
#[derive(Debug, Clone, Deserialize)]
pub struct MerchantFields {
    /// Merchant name.
    pub merchant: String,
    /// Merchant number.
    pub merchant_number: Option<String>,
    /// Terminal number.
    pub terminal_number: Option<String>,
    /// Registered phone.
    pub phone: Option<String>,
    /// Address.
    pub address: Option<String>,
}

impl MerchantFields {
    /// The domain's input: each field trimmed, an empty one left out (the
    /// domain validates the rest).
    pub fn input(&self) -> MerchantInput {
        let blank =
            |s: &Option<String>| s.as_deref().map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned);
        MerchantInput {
            name: self.merchant.trim().to_owned(),
            merchant_number: blank(&self.merchant_number),
            terminal_number: blank(&self.terminal_number),
            phone: blank(&self.phone),
            address: blank(&self.address),
            location: None,
        }
    }
}

/// One checklist step as the visit screen shows it.
#[derive(Debug, Clone, Serialize)]
pub struct StepView {
    /// Step id.
    pub id: &'static str,
    /// zh-CN label.
    pub zh: &'static str,
    /// English label.
    pub en: &'static str,
    /// `pending`, `done`, `skipped`, `not_applicable`, or a state a newer
    /// version wrote, as written.
    pub state: String,
    /// Why it was skipped.
    pub reason: Option<String>,
    /// The agent's note.
    pub note: Option<String>,
    /// Required (or optional).
    pub required: bool,
    /// May be skipped at all.
    pub skippable: bool,
    /// Applies to this visit as recorded (a condition may rule it out).
    pub applies: bool,
    /// Requirement codes (`photo:id_card`, `terminal_identified`, ...).
    pub requires: Vec<String>,
    /// The back-office decision this step waits for (its zh-CN words), if any:
    /// it cannot be done or skipped until the decision reaches the phone.
    pub waits_for: Option<String>,
}

/// One thing missing before completion.
#[derive(Debug, Clone, Serialize)]
pub struct MissingView {
    /// The step it belongs to.
    pub step: String,
    /// zh-CN words.
    pub zh: String,
    /// English words.
    pub en: String,
}

/// An identification record, with what the label says of the terminal.
#[derive(Debug, Clone, Serialize)]
pub struct IdentificationView {
    /// Serial.
    pub serial: String,
    /// `nfc`, `photo`, `manual`.
    pub method: String,
    /// The model (型号), once recorded.
    pub model: Option<String>,
    /// The manufacturer (厂商), once recorded.
    pub manufacturer: Option<String>,
    /// The production date, `YYYY-MM-DD`, once recorded.
    pub production_date: Option<String>,
    /// Whole years from the production date to today (the Beijing date of
    /// the view's `now`), once the date is recorded.
    pub age_years: Option<u32>,
}

/// The parameter set-up as recorded (参数配置).
#[derive(Debug, Clone, Serialize)]
pub struct ParametersView {
    /// The terminal number configured.
    pub terminal_number: String,
    /// The parameters were downloaded.
    pub parameters_downloaded: bool,
    /// The keys were downloaded.
    pub keys_downloaded: bool,
}

/// The network test as recorded.
#[derive(Debug, Clone, Serialize)]
pub struct NetworkTestView {
    /// Link code (`mobile`, `wifi`, `ethernet`, or a newer version's code).
    pub link: String,
    /// Whether the terminal signed on.
    pub passed: bool,
    /// The agent's note.
    pub note: Option<String>,
}

/// What was restored onto the new terminal.
#[derive(Debug, Clone, Serialize)]
pub struct RestoreView {
    /// Backup item codes restored.
    pub items: Vec<String>,
    /// The agent's note.
    pub note: Option<String>,
}

/// The merchant's signed refusal of the backup.
#[derive(Debug, Clone, Serialize)]
pub struct BackupWaiverView {
    /// Who signed.
    pub signer_name: String,
    /// Why, when the merchant said.
    pub reason: Option<String>,
    /// When (ms since epoch).
    pub signed_at: i64,
    /// When, in Beijing time (`YYYY-MM-DD HH:MM`), as the UI shows it.
    pub signed_words: String,
    /// The signature image's content hash.
    pub signature_sha256: BlobHash,
    /// The server confirmed it has the signature image.
    pub signature_confirmed: bool,
}

/// The day of the follow-up check.
#[derive(Debug, Clone, Serialize)]
pub struct FollowUpView {
    /// The day, `YYYY-MM-DD`.
    pub on: String,
    /// What to check.
    pub note: Option<String>,
}

/// The agent's way to the merchant, each moment in Beijing time.
#[derive(Debug, Clone, Serialize)]
pub struct TripView {
    /// 已接单, `YYYY-MM-DD HH:MM`.
    pub accepted: Option<String>,
    /// 出发.
    pub departed: Option<String>,
    /// 到达.
    pub arrived: Option<String>,
    /// Where the phone said it was at the arrival: `lat, lon` in degrees.
    pub location: Option<String>,
    /// Its accuracy in metres.
    pub accuracy_m: Option<u32>,
    /// Why there is no location: `refused`, `unavailable`, `timeout`.
    pub no_location: Option<String>,
}

impl TripView {
    fn of(trip: &posfield_shared::visit::Trip) -> TripView {
        let words =
            |s: &Option<posfield_shared::visit::schema::Stamp>| s.as_ref().map(|s| s.at.beijing_words());
        let arrival = trip.arrived.as_ref();
        let location = arrival.and_then(|a| a.location);
        TripView {
            accepted: words(&trip.accepted),
            departed: words(&trip.departed),
            arrived: arrival.map(|a| a.stamp.at.beijing_words()),
            location: location.map(|p| {
                let (lat, lon) = p.degrees();
                format!("{lat:.6}, {lon:.6}")
            }),
            accuracy_m: location.and_then(|p| p.accuracy_m),
            no_location: arrival.and_then(|a| a.no_location.clone()),
        }
    }
}

/// A terminal taken back from the merchant, as handed over (回收终端交接).
#[derive(Debug, Clone, Serialize)]
pub struct HandoverView {
    /// The terminal's serial.
    pub serial: String,
    /// Its condition in the agent's words.
    pub condition: String,
    /// The tamper seal or bag number it travels under.
    pub seal: Option<String>,
    /// The content hash of the visit's photo of it, when one was chosen.
    pub photo: Option<BlobHash>,
    /// The server confirmed it has that photo.
    pub photo_confirmed: bool,
    /// The photo is still one of the visit's current photos (not removed since).
    pub photo_current: bool,
}

/// One attempt against a fault.
#[derive(Debug, Clone, Serialize)]
pub struct AttemptView {
    /// Remedy code, if from the list.
    pub remedy: Option<String>,
    /// Free description.
    pub description: Option<String>,
    /// Whether it fixed the fault.
    pub fixed: bool,
}

/// A recorded fault.
#[derive(Debug, Clone, Serialize)]
pub struct FaultView {
    /// Fault id.
    pub id: String,
    /// Fault code.
    pub code: String,
    /// Symptom.
    pub symptom: Option<String>,
    /// Attempts, in order.
    pub attempts: Vec<AttemptView>,
    /// `None` while open; whether it was fixed once resolved.
    pub fixed: Option<bool>,
}

/// A document photo.
#[derive(Debug, Clone, Serialize)]
pub struct DocumentView {
    /// Content hash (the blob's name).
    pub sha256: BlobHash,
    /// Document kind code.
    pub kind: String,
    /// Size in bytes.
    pub bytes: u64,
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// The server confirmed it has the photo.
    pub confirmed: bool,
    /// The phone no longer holds it: a personal photo kept by the server
    /// only, after the visit's approval.
    pub only_on_server: bool,
    /// The marks drawn over it, oldest first (rubbed-out ones left out).
    pub marks: Vec<MarkView>,
}

/// A mark drawn over a photo: points in thousandths of the photo.
#[derive(Debug, Clone, Serialize)]
pub struct MarkView {
    /// Its id (to rub it out).
    pub id: String,
    /// `arrow`, `circle`, `text`, or a newer code this version does not draw.
    pub shape: String,
    /// Where it starts, `[x, y]`.
    pub from: [u32; 2],
    /// Where it ends, `[x, y]`.
    pub to: [u32; 2],
    /// A text mark's words.
    pub text: Option<String>,
}

/// The SIM card as recorded.
#[derive(Debug, Clone, Serialize)]
pub struct SimView {
    /// ICCID.
    pub iccid: String,
    /// Carrier code.
    pub carrier: String,
    /// Expiry, `YYYY-MM-DD`.
    pub expiry: String,
    /// Action code.
    pub action: Option<String>,
    /// New ICCID.
    pub new_iccid: Option<String>,
}

/// The fields changed since signing, in words
/// ([`posfield_shared::visit::acceptance::changed_fields_words`]).
#[derive(Debug, Clone, Default, Serialize)]
pub struct ChangedWords {
    /// zh-CN, joined with 、.
    pub zh: String,
    /// English, joined with commas.
    pub en: String,
}

/// The acceptance as signed.
#[derive(Debug, Clone, Serialize)]
pub struct AcceptanceView {
    /// Who signed.
    pub signer_name: String,
    /// When (ms since epoch).
    pub signed_at: i64,
    /// When, in Beijing time (`YYYY-MM-DD HH:MM`), as the UI shows it.
    pub signed_words: String,
    /// The summary the merchant signed, in zh-CN.
    pub signed_summary_zh: String,
    /// `valid`, or `mismatch` with the changed fields.
    pub check: SignatureCheck,
    /// The changed fields in words, zh-CN and English (empty when valid).
    pub changed: ChangedWords,
    /// The signature image's content hash.
    pub signature_sha256: BlobHash,
    /// The server confirmed it has the signature image.
    pub signature_confirmed: bool,
}

/// What the kind of this visit needs recorded beyond the checklist.
#[derive(Debug, Clone, Serialize)]
pub struct Needs {
    /// A replacement (new) terminal serial.
    pub replacement: bool,
    /// SIM data card details.
    pub sim: bool,
    /// A SIM action.
    pub sim_action: bool,
    /// A backup confirmation.
    pub backup: bool,
    /// Faults.
    pub faults: bool,
    /// Warranty, plan and fee.
    pub repair: bool,
    /// Suspension cause and application.
    pub reactivation: bool,
    /// A merchant signature.
    pub signature: bool,
    /// The terminal's model and production date.
    pub details: bool,
    /// The new terminal's model and production date.
    pub replacement_details: bool,
    /// The parameter set-up (terminal number, parameters and keys downloaded).
    pub parameters: bool,
    /// A passed network test.
    pub network_test: bool,
    /// What was restored onto the new terminal.
    pub restore: bool,
    /// The unbinding reference and the settled balance (deregistration).
    pub deregistration: bool,
    /// The day of the follow-up check.
    pub follow_up: bool,
    /// The hand-over of the terminal taken back: condition, seal and a photo.
    pub handover: bool,
}

/// The whole visit screen in one reply.
#[derive(Debug, Clone, Serialize)]
pub struct VisitView {
    /// Id.
    pub id: VisitId,
    /// Kind code.
    pub kind: String,
    /// Status code.
    pub status: String,
    /// Whether the agent may still edit it.
    pub editable: bool,
    /// Whether a newer app wrote it in a way this version may not edit: the
    /// visit is shown read-only, with words saying to update the app.
    pub read_only_newer: bool,
    /// Merchant name.
    pub merchant_name: String,
    /// Merchant number.
    pub merchant_number: Option<String>,
    /// Terminal number.
    pub terminal_number: Option<String>,
    /// Registered phone.
    pub phone: Option<String>,
    /// Address.
    pub address: Option<String>,
    /// The visited terminal.
    pub terminal: Option<IdentificationView>,
    /// The new terminal (replacement).
    pub replacement: Option<IdentificationView>,
    /// Checklist, in order.
    pub steps: Vec<StepView>,
    /// What is still missing.
    pub missing: Vec<MissingView>,
    /// Faults not withdrawn.
    pub faults: Vec<FaultView>,
    /// Photos not removed.
    pub documents: Vec<DocumentView>,
    /// Document kinds the checklist asks for, in checklist order (both
    /// kinds of an "either" requirement).
    pub wanted_documents: Vec<String>,
    /// The same, one entry per requirement: a kind alone, or the two kinds
    /// either of which will do.
    pub wanted_photos: Vec<Vec<String>>,
    /// SIM card.
    pub sim: Option<SimView>,
    /// Backup items confirmed.
    pub backup: Option<Vec<String>>,
    /// The merchant's signed refusal of the backup, when given.
    pub backup_waiver: Option<BackupWaiverView>,
    /// The parameter set-up, once recorded.
    pub parameters: Option<ParametersView>,
    /// The network test, once recorded.
    pub network_test: Option<NetworkTestView>,
    /// What was restored, once recorded.
    pub restore: Option<RestoreView>,
    /// The acquirer's unbinding reference (deregistration).
    pub unbind_reference: Option<String>,
    /// The balance settled to the merchant, in fen (deregistration).
    pub settled_balance_fen: Option<u64>,
    /// The day of the follow-up check, once set.
    pub follow_up: Option<FollowUpView>,
    /// The terminals handed over, as recorded.
    pub handovers: Vec<HandoverView>,
    /// The agent's way to the merchant, once begun.
    pub trip: Option<TripView>,
    /// Where the shop is as the desk gave it, `[lat_e6, lon_e6]` (WGS-84).
    pub place: Option<[i64; 2]>,
    /// What the job's brief says of the identified terminal, once it is identified.
    pub terminal_history: Option<TerminalHistoryView>,
    /// Today's date in Beijing (`YYYY-MM-DD`), the day ages count to and
    /// the earliest follow-up day.
    pub today: String,
    /// Warranty code.
    pub warranty: Option<String>,
    /// Repair plan code.
    pub repair_plan: Option<String>,
    /// Fee in fen.
    pub fee_fen: Option<u64>,
    /// Whether the merchant pays (the fee step applies).
    pub merchant_pays: bool,
    /// Suspension cause code.
    pub suspension_cause: Option<String>,
    /// Application state code.
    pub application: Option<String>,
    /// What the kind needs.
    pub needs: Needs,
    /// The summary as the merchant would sign it now, in zh-CN.
    pub summary_zh: String,
    /// The sentence the merchant agrees to by signing (inside the summary).
    pub consent_zh: &'static str,
    /// The acceptance, once signed.
    pub acceptance: Option<AcceptanceView>,
    /// The latest review's decision and note.
    pub review_note: Option<String>,
    /// Whether the latest review returned it.
    pub returned: bool,
    /// Changes the server has not confirmed.
    pub unsynced: bool,
}

/// The identified terminal's history from the job's brief, and what can
/// be done on the same trip.
#[derive(Debug, Clone, Serialize)]
pub struct TerminalHistoryView {
    /// The serial.
    pub serial: String,
    /// The model, when registered.
    pub model: Option<String>,
    /// The lifecycle state's code, when registered.
    pub state: Option<String>,
    /// The SIM plan's expiry, `YYYY-MM-DD`.
    pub sim_expiry: Option<String>,
    /// Days until it (negative: past).
    pub sim_days_left: Option<i64>,
    /// The warranty's end, `YYYY-MM-DD`.
    pub warranty_end: Option<String>,
    /// Days until it (negative: past).
    pub warranty_days_left: Option<i64>,
    /// The last year's visits, newest first.
    pub visits: Vec<PastVisitView>,
    /// How many of the last year's visits were repairs.
    pub repairs_last_year: u64,
    /// The desk's alerts, as codes.
    pub alerts: Vec<String>,
    /// When the server made the brief, ms since the epoch.
    pub made_at: i64,
    /// Days the SIM plan has left when a renewal is offered on this trip.
    pub renewal_offer: Option<i64>,
    /// The renewal created on this trip, once created.
    pub linked_renewal: Option<String>,
}

/// A past visit to the terminal, in summary.
#[derive(Debug, Clone, Serialize)]
pub struct PastVisitView {
    /// `YYYY-MM-DD`, Beijing time.
    pub day: String,
    /// Kind code.
    pub kind: String,
    /// Status code.
    pub status: String,
}

impl TerminalHistoryView {
    fn of(visit: &Visit, today: posfield_shared::CalendarDate) -> Option<TerminalHistoryView> {
        use posfield_core::same_trip;
        let brief = same_trip::identified(visit)?;
        let made_at = visit.assignment.brief.as_ref().map_or(0, |b| b.made_at.0);
        Some(TerminalHistoryView {
            serial: brief.serial.clone(),
            model: brief.model.clone(),
            state: brief.state.clone(),
            sim_expiry: brief.sim_expiry.map(|d| d.to_string()),
            sim_days_left: brief.sim_expiry.map(|d| today.days_until(d)),
            warranty_end: brief.warranty_end.map(|d| d.to_string()),
            warranty_days_left: brief.warranty_end.map(|d| today.days_until(d)),
            visits: brief
                .visits
                .iter()
                .map(|v| PastVisitView {
                    day: v.day.to_string(),
                    kind: v.kind.code().to_owned(),
                    status: v.status.code().to_owned(),
                })
                .collect(),
            repairs_last_year: brief.repairs_last_year,
            alerts: brief.alerts.iter().map(|a| a.code().to_owned()).collect(),
            made_at,
            renewal_offer: same_trip::renewal_offer(visit, today),
            linked_renewal: same_trip::linked_renewal(visit).map(|id| id.to_string()),
        })
    }
}

impl VisitView {
    /// Builds the view; `sync` says whether the visit has unconfirmed
    /// changes and which of its files the server holds. A visit whose id or
    /// file hashes are not identifiers (a document changed behind the
    /// phone's back) is refused rather than shown with names that lead nowhere.
    pub fn build(visit: &Visit, now: Timestamp, sync: &VisitSyncState) -> Result<VisitView, IdError> {
        let (unsynced, confirmed) = (sync.unsynced, |sha: &str| sync.on_server(sha));
        let template = visit.kind.template();
        let edition = visit.checklist_edition();
        let today = now.beijing_date();
        let steps = posfield_shared::visit::step_statuses(visit)
            .into_iter()
            .map(|status| {
                let step = status.step;
                let record = visit.step(step.id.as_str());
                StepView {
                    id: step.id.as_str(),
                    zh: step.zh,
                    en: step.en,
                    state: status.state.code().to_owned(),
                    reason: record.and_then(|r| r.reason.clone()),
                    note: record.and_then(|r| r.note.clone()),
                    required: step.need == Need::Required,
                    skippable: step.skippable_in(edition),
                    applies: status.applies,
                    requires: step.requires_in(edition).map(|r| r.code()).collect(),
                    waits_for: status.waits_for.map(|decision| decision.zh()),
                }
            })
            .collect();
        let missing = posfield_shared::visit::missing(visit)
            .into_iter()
            .map(|m| {
                let step = match &m {
                    posfield_shared::visit::Missing::Step { step, .. }
                    | posfield_shared::visit::Missing::Requirement { step, .. } => (*step).to_owned(),
                };
                MissingView {
                    step,
                    zh: posfield_shared::visit::completion::describe_zh(&m),
                    en: m.describe(),
                }
            })
            .collect();
        use posfield_shared::Requirement as Q;
        let mut wanted_documents: Vec<String> = Vec::new();
        let mut wanted_photos: Vec<Vec<String>> = Vec::new();
        for step in template.steps_in(edition).filter(|s| applies(visit, s.when)) {
            for requirement in step.requires_in(edition) {
                let kinds = match requirement {
                    Q::Photo(kind) => vec![kind],
                    Q::PhotoEither(a, b) => vec![a, b],
                    _ => continue,
                };
                let codes: Vec<String> = kinds.iter().map(|k| k.code().to_owned()).collect();
                for code in &codes {
                    if !wanted_documents.contains(code) {
                        wanted_documents.push(code.clone());
                    }
                }
                if !wanted_photos.contains(&codes) {
                    wanted_photos.push(codes);
                }
            }
        }
        // What the visit's own checklist edition asks, whatever a newer one would.
        let requirement_in_kind = |wanted: fn(&Q) -> bool| {
            template.steps_in(edition).any(|s| s.requires_in(edition).any(|r| wanted(&r)))
        };
        let needs = Needs {
            replacement: posfield_shared::visit::outcome::takes_new_terminal(visit),
            sim: requirement_in_kind(|r| matches!(r, Q::SimData)),
            sim_action: requirement_in_kind(|r| matches!(r, Q::SimAction)),
            backup: requirement_in_kind(|r| matches!(r, Q::BackupConfirmation)),
            faults: requirement_in_kind(|r| matches!(r, Q::FaultRecorded)),
            repair: requirement_in_kind(|r| matches!(r, Q::WarrantyDecision | Q::RepairPlan)),
            reactivation: requirement_in_kind(|r| matches!(r, Q::SuspensionCause)),
            signature: template.requires_signature,
            details: requirement_in_kind(|r| matches!(r, Q::TerminalDetails)),
            replacement_details: requirement_in_kind(|r| matches!(r, Q::ReplacementDetails)),
            parameters: requirement_in_kind(|r| matches!(r, Q::ParameterConfig)),
            network_test: requirement_in_kind(|r| matches!(r, Q::NetworkTest)),
            restore: requirement_in_kind(|r| matches!(r, Q::DataRestored)),
            deregistration: requirement_in_kind(|r| matches!(r, Q::UnbindReference | Q::SettledBalance)),
            follow_up: requirement_in_kind(|r| matches!(r, Q::FollowUpDate)),
            // Asked of a step that applies to this visit as recorded.
            handover: template
                .steps_in(edition)
                .filter(|s| applies(visit, s.when))
                .any(|s| s.requires_in(edition).any(|r| matches!(r, Q::HandoverRecorded))),
        };
        let merchant_pays = template
            .steps_in(edition)
            .any(|s| matches!(s.when, Condition::MerchantPays) && applies(visit, s.when));
        let acceptance = visit
            .acceptance
            .as_ref()
            .map(|a| -> Result<AcceptanceView, IdError> {
                let signed_summary_zh = serde_json::from_str::<AcceptanceSummary>(&a.summary_json)
                    .map(|s| s.render_zh())
                    .unwrap_or_default();
                let check = SignatureCheck::of(visit);
                let changed = match &check {
                    SignatureCheck::Mismatch { fields } => {
                        let (zh, en) = posfield_shared::visit::acceptance::changed_fields_words(fields);
                        ChangedWords { zh, en }
                    }
                    _ => ChangedWords::default(),
                };
                Ok(AcceptanceView {
                    signer_name: a.signer_name.clone(),
                    signed_at: a.signed_at.millis(),
                    signed_words: a.signed_at.beijing_words(),
                    signed_summary_zh,
                    check,
                    changed,
                    signature_sha256: BlobHash::parse(&a.signature.sha256)?,
                    signature_confirmed: confirmed(&a.signature.sha256),
                })
            })
            .transpose()?;
        let backup_waiver = visit
            .backup_waiver
            .as_ref()
            .map(|w| -> Result<BackupWaiverView, IdError> {
                Ok(BackupWaiverView {
                    signer_name: w.signer_name.clone(),
                    reason: w.reason.clone(),
                    signed_at: w.signed_at.millis(),
                    signed_words: w.signed_at.beijing_words(),
                    signature_sha256: BlobHash::parse(&w.signature.sha256)?,
                    signature_confirmed: confirmed(&w.signature.sha256),
                })
            })
            .transpose()?;
        let documents = visit
            .current_documents()
            .map(|d| {
                Ok(DocumentView {
                    sha256: BlobHash::parse(&d.sha256)?,
                    kind: d.kind.code().to_owned(),
                    bytes: d.bytes,
                    width: d.width,
                    height: d.height,
                    confirmed: confirmed(&d.sha256),
                    only_on_server: sync.files_gone_from_phone.contains(d.sha256.as_str()),
                    marks: visit
                        .marks_on(&d.sha256)
                        .map(|m| MarkView {
                            id: m.id.clone(),
                            shape: m.shape.code().to_owned(),
                            from: [m.from.x, m.from.y],
                            to: [m.to.x, m.to.y],
                            text: m.text.clone(),
                        })
                        .collect(),
                })
            })
            .collect::<Result<Vec<_>, IdError>>()?;
        let handovers = visit
            .handovers
            .iter()
            .map(|h| -> Result<HandoverView, IdError> {
                Ok(HandoverView {
                    serial: h.serial.clone(),
                    condition: h.condition.clone(),
                    seal: h.seal.clone(),
                    photo: h.photo.as_deref().map(BlobHash::parse).transpose()?,
                    photo_confirmed: h.photo.as_deref().is_some_and(confirmed),
                    photo_current: h
                        .photo
                        .as_deref()
                        .is_some_and(|sha| visit.current_documents().any(|d| d.sha256 == sha)),
                })
            })
            .collect::<Result<Vec<_>, IdError>>()?;
        let review = visit.latest_review();
        let identification = |i: &posfield_shared::visit::schema::Identification| IdentificationView {
            serial: i.serial.clone(),
            method: i.method.code().to_owned(),
            model: i.model.clone(),
            manufacturer: i.manufacturer.clone(),
            production_date: i.production_date.map(|d| d.to_string()),
            age_years: i.age_years(today),
        };
        Ok(VisitView {
            id: VisitId::parse(&visit.id)?,
            kind: visit.kind.code().to_owned(),
            status: visit.status.code().to_owned(),
            editable: visit.status.is_editable_by_agent() && visit.editable_by(SCHEMA_VERSION),
            read_only_newer: !visit.editable_by(SCHEMA_VERSION),
            merchant_name: visit.merchant.name.clone(),
            merchant_number: visit.merchant.merchant_number.clone(),
            terminal_number: visit.merchant.terminal_number.clone(),
            phone: visit.merchant.phone.clone(),
            address: visit.merchant.address.clone(),
            terminal: visit.terminal.as_ref().map(identification),
            replacement: visit.replacement.as_ref().map(identification),
            steps,
            missing,
            faults: visit
                .current_faults()
                .map(|f| FaultView {
                    id: f.id.clone(),
                    code: f.code.code().to_owned(),
                    symptom: f.symptom.clone(),
                    attempts: f
                        .attempts
                        .iter()
                        .map(|a| AttemptView {
                            remedy: a.remedy.as_ref().map(|r| r.code().to_owned()),
                            description: a.description.clone(),
                            fixed: a.fixed,
                        })
                        .collect(),
                    fixed: f.resolution.as_ref().map(|r| r.fixed),
                })
                .collect(),
            documents,
            wanted_documents,
            wanted_photos,
            sim: visit.sim.as_ref().map(|s| SimView {
                iccid: s.iccid.clone(),
                carrier: s.carrier.code().to_owned(),
                expiry: s.expiry.to_string(),
                action: s.action.as_ref().map(|a| a.code().to_owned()),
                new_iccid: s.new_iccid.clone(),
            }),
            backup: visit.backup.as_ref().map(|b| b.items.iter().map(|i| i.code().to_owned()).collect()),
            backup_waiver,
            parameters: visit.parameters.as_ref().map(|p| ParametersView {
                terminal_number: p.terminal_number.clone(),
                parameters_downloaded: p.parameters_downloaded,
                keys_downloaded: p.keys_downloaded,
            }),
            network_test: visit.network_test.as_ref().map(|t| NetworkTestView {
                link: t.link.code().to_owned(),
                passed: t.passed,
                note: t.note.clone(),
            }),
            restore: visit.restore.as_ref().map(|r| RestoreView {
                items: r.items.iter().map(|i| i.code().to_owned()).collect(),
                note: r.note.clone(),
            }),
            unbind_reference: visit.deregistration.unbind_reference.as_ref().map(|d| d.value.clone()),
            settled_balance_fen: visit.deregistration.settled_balance_fen.as_ref().map(|d| d.value),
            follow_up: visit
                .follow_up
                .as_ref()
                .map(|f| FollowUpView { on: f.on.to_string(), note: f.note.clone() }),
            handovers,
            trip: visit.trip.as_ref().map(TripView::of),
            place: visit.merchant.location.map(|p| [p.lat_e6, p.lon_e6]),
            terminal_history: TerminalHistoryView::of(visit, today),
            today: today.to_string(),
            warranty: visit.repair.warranty.as_ref().map(|d| d.value.code().to_owned()),
            repair_plan: visit.repair.plan.as_ref().map(|d| d.value.code().to_owned()),
            fee_fen: visit.repair.fee_fen.as_ref().map(|d| d.value),
            merchant_pays,
            suspension_cause: visit.reactivation.cause.as_ref().map(|d| d.value.code().to_owned()),
            application: visit.reactivation.application.as_ref().map(|a| a.state.code().to_owned()),
            needs,
            summary_zh: AcceptanceSummary::of(visit, now).render_zh(),
            consent_zh: posfield_shared::visit::acceptance::CONSENT_ZH,
            acceptance,
            review_note: review.and_then(|r| r.note.clone()),
            returned: review.is_some_and(|r| r.decision == ReviewDecision::Return)
                && visit.status == VisitStatus::Returned,
            unsynced,
        })
    }
}

/// A decoded terminal serial, for the agent to confirm.
#[derive(Debug, Clone, Serialize)]
pub struct IdentifiedDto {
    /// The serial recorded.
    pub serial: String,
    /// `nfc`, `photo`, `manual`.
    pub method: String,
    /// Other codes found on the label.
    pub alternatives: Vec<String>,
}

impl From<Identified> for IdentifiedDto {
    fn from(found: Identified) -> Self {
        let method = serde_json::to_value(found.method).ok().and_then(|v| v.as_str().map(str::to_owned));
        IdentifiedDto {
            serial: found.serial,
            method: method.unwrap_or_default(),
            alternatives: found.alternatives,
        }
    }
}

/// A label photo that did not say which code is the serial: the candidates
/// to tap, each with the crop of its code.
#[derive(Debug, Clone, Serialize)]
pub struct SerialChoiceDto {
    /// The stored photo's sha256, passed back with the choice.
    pub photo: String,
    /// `not_expected` (possibly the wrong terminal), `several`, `unknown_format`, `incomplete`.
    pub reason: String,
    /// The serials the visit was dispatched for, with `not_expected`.
    pub expected: Vec<String>,
    /// The candidates, likeliest first.
    pub candidates: Vec<CandidateDto>,
}

/// One serial to tap.
#[derive(Debug, Clone, Serialize)]
pub struct CandidateDto {
    /// The serial.
    pub serial: String,
    /// The code's symbology.
    pub format: String,
    /// The maker whose format it is in, when one is.
    pub maker: Option<String>,
    /// The code's crop as a `data:image/jpeg;base64,` URL.
    pub crop: Option<String>,
}

impl From<SerialChoice> for SerialChoiceDto {
    fn from(choice: SerialChoice) -> Self {
        let (reason, expected) = match choice.evidence {
            Evidence::NotExpected { expected } => ("not_expected", expected),
            Evidence::Several => ("several", Vec::new()),
            Evidence::Incomplete => ("incomplete", Vec::new()),
            _ => ("unknown_format", Vec::new()),
        };
        let candidates = choice
            .candidates
            .into_iter()
            .map(|c| CandidateDto {
                crop: c.crop_jpeg.map(|jpeg| {
                    format!(
                        "data:image/jpeg;base64,{}",
                        base64::engine::general_purpose::STANDARD.encode(jpeg)
                    )
                }),
                serial: c.serial,
                format: c.symbol.format,
                maker: c.maker,
            })
            .collect();
        SerialChoiceDto {
            photo: choice.photo.as_str().to_owned(),
            reason: reason.to_owned(),
            expected,
            candidates,
        }
    }
}

/// Where the phone's sync stands, for the sync screen and the header.
#[derive(Debug, Clone, Serialize)]
pub struct SyncView {
    /// The enrolled agent.
    pub enrolled_agent: Option<String>,
    /// The server address.
    pub server: Option<String>,
    /// Last full success (ms since epoch).
    pub last_success: Option<i64>,
    /// Last full success in Beijing time (`YYYY-MM-DD HH:MM`), as the UI shows it.
    pub last_success_words: Option<String>,
    /// Last attempt (ms since epoch).
    pub last_attempt: Option<i64>,
    /// Failures in a row.
    pub failures: u32,
    /// The last error's code.
    pub last_error_code: Option<String>,
    /// The last error's words.
    pub last_error_message: Option<String>,
    /// The oldest app version the server syncs with, when it refused this one.
    pub last_error_minimum_app_version: Option<String>,
    /// Visits waiting to sync.
    pub unsynced_visits: usize,
    /// Visits on the phone in all.
    pub visit_count: i64,
    /// The agent chose "photos on Wi-Fi only".
    pub photos_on_wifi_only: bool,
    /// The network the syncs see: `wifi`, `cellular` or `unknown` (a
    /// phone that cannot tell, and every desktop; photos then go).
    pub connection: &'static str,
    /// Photos and signature images the last sync left on the phone for Wi-Fi.
    pub photos_waiting_for_wifi: usize,
    /// Visits the server holds whose photos wait for Wi-Fi.
    pub visits_waiting_for_photos: usize,
    /// Bytes the syncs sent since the count began.
    pub data_sent: u64,
    /// Bytes the syncs received since the count began.
    pub data_received: u64,
    /// News from the back office the agent has not seen: the badge.
    pub unseen_news: u64,
}

/// A piece of news with its time in words.
#[derive(Debug, Clone, Serialize)]
pub struct NewsView {
    /// The news (kind as its code).
    #[serde(flatten)]
    pub news: posfield_core::news::News,
    /// When it arrived, in Beijing time, `YYYY-MM-DD HH:MM`.
    pub at_words: String,
}

/// What the syncs used, for the sync screen: the visits that used the most
/// and the totals.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DataUsageView {
    /// The visits that used the most data, the most first.
    pub visits: Vec<VisitUsageView>,
    /// Visits that used data beyond those listed.
    pub more_visits: usize,
    /// Bytes sent for every visit at once (the manifest, renewals).
    pub other_sent: u64,
    /// Bytes received for every visit at once.
    pub other_received: u64,
    /// Everything sent.
    pub total_sent: u64,
    /// Everything received.
    pub total_received: u64,
}

/// One visit's data, as the sync screen lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VisitUsageView {
    /// The visit.
    pub visit_id: String,
    /// Its merchant, while the visit is on the phone.
    pub merchant: Option<String>,
    /// Its kind's code, while the visit is on the phone.
    pub kind: Option<String>,
    /// Bytes sent for it.
    pub sent: u64,
    /// Bytes received for it.
    pub received: u64,
}

impl DataUsageView {
    /// Visits listed at most: the screen shows where the data went, not a ledger.
    pub const LISTED: usize = 30;

    /// The view of the core's count.
    pub fn of(usage: &posfield_core::usage::DataUsage) -> DataUsageView {
        let visits = usage
            .visits
            .iter()
            .take(Self::LISTED)
            .map(|v| VisitUsageView {
                visit_id: v.visit_id.clone(),
                merchant: v.merchant.clone(),
                kind: v.kind.clone(),
                sent: v.traffic.sent,
                received: v.traffic.received,
            })
            .collect();
        DataUsageView {
            visits,
            more_visits: usage.visits.len().saturating_sub(Self::LISTED),
            other_sent: usage.other.sent,
            other_received: usage.other.received,
            total_sent: usage.total.sent,
            total_received: usage.total.received,
        }
    }
}

/// Merchant signature strokes from the pad.
pub type StrokesDto = posfield_core::signature::Strokes;

#[cfg(test)]
mod tests {
    use super::*;
    use posfield_shared::FaultCode;
    use posfield_shared::visit::schema::StepState;

    #[test]
    fn the_vocabulary_carries_every_fault_with_its_remedies() {
        let vocabulary = Vocabulary::build();
        assert_eq!(vocabulary.faults.len(), FaultCode::ALL.len());
        let printer = vocabulary.faults.iter().find(|f| f.fault.code == "printer_fault").unwrap();
        let remedies: Vec<&str> = printer.remedies.iter().map(|r| r.code).collect();
        assert_eq!(remedies, ["restart", "check_paper"]);
        assert_eq!(printer.fault.zh, "打印机故障");
        assert_eq!(vocabulary.kinds.len(), VisitKind::ALL.len());
        let links: Vec<&str> = vocabulary.network_links.iter().map(|l| l.code).collect();
        assert_eq!(links, ["mobile", "wifi", "ethernet"]);
        assert_eq!(vocabulary.network_links[0].zh, "移动网络（流量卡）");
    }

    #[test]
    fn a_visit_row_keeps_the_flat_json_shape_the_list_screen_reads() {
        let (_dir, agent, id) = repair_visit();
        let mut row = agent.list_visits(&Default::default()).unwrap().remove(0);
        row.updated_at = 1_795_000_000_000;
        let mut dto = VisitRowDto::from_row(row);
        dto.returned_note = Some("补拍营业执照".into());
        // Typed in Rust, the same plain strings in JSON: the ids and codes the UI reads.
        assert_eq!(
            serde_json::to_value(&dto).unwrap(),
            serde_json::json!({
                "id": id.as_str(),
                "kind": "repair",
                "status": "draft",
                "merchant": "老王便利店",
                "serial": null,
                "assignee": "agent-li",
                "updated_at": 1_795_000_000_000_i64,
                "updated_words": "2026-11-18 19:06",
                "unsynced": true,
                "returned_note": "补拍营业执照",
                "follow_up": null,
            })
        );
    }

    #[test]
    fn a_visit_row_shows_its_time_in_beijing_whatever_the_phone_zone() {
        let (_dir, agent, _id) = repair_visit();
        let mut row = agent.list_visits(&Default::default()).unwrap().remove(0);
        // 16:30 UTC is half past midnight of the next day in Beijing.
        row.updated_at = 1_795_019_400_000;
        assert_eq!(VisitRowDto::from_row(row).updated_words, "2026-11-19 00:30");
    }

    #[test]
    fn the_visit_screen_names_its_visit_and_files_by_plain_strings() {
        let (_dir, mut agent, id) = repair_visit();
        let image = image::RgbImage::from_fn(96, 64, |x, y| image::Rgb([x as u8, y as u8, 7]));
        let mut png = Vec::new();
        image.write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png).unwrap();
        let photo = agent.add_photo(&id, &png, DocumentKind::PurchaseProof).unwrap();
        let json = serde_json::to_value(view(&mut agent, &id)).unwrap();
        assert_eq!(json["id"], id.as_str());
        assert_eq!(
            json["documents"],
            serde_json::json!([{
                "sha256": photo.sha256,
                "kind": "purchase_proof",
                "bytes": photo.bytes,
                "width": photo.width,
                "height": photo.height,
                "confirmed": false,
                "only_on_server": false,
                "marks": [],
            }])
        );
    }

    fn repair_visit() -> (tempfile::TempDir, posfield_core::Agent, VisitId) {
        let dir = tempfile::tempdir().unwrap();
        let mut agent = posfield_core::Agent::open(
            dir.path(),
            std::sync::Arc::new(posfield_core::KeyFile::at(dir.path().join("test.key"))),
        )
        .unwrap();
        agent.sign_in("agent-li").unwrap();
        let merchant =
            posfield_shared::visit::MerchantInput { name: "老王便利店".into(), ..Default::default() };
        let id = agent.create_visit(VisitKind::Repair, &merchant).unwrap().id;
        (dir, agent, id)
    }

    fn view(agent: &mut posfield_core::Agent, id: &VisitId) -> VisitView {
        let visit = agent.visit(id).unwrap();
        let sync = agent.visit_sync_state(&visit).unwrap();
        VisitView::build(&visit, Timestamp(1_795_000_000_000), &sync).unwrap()
    }

    #[test]
    fn a_new_repair_visit_shows_its_checklist_in_order_and_what_is_missing() {
        let (_dir, mut agent, id) = repair_visit();
        let view = view(&mut agent, &id);
        let template: Vec<&str> = VisitKind::Repair.template().steps.iter().map(|s| s.id.as_str()).collect();
        let shown: Vec<&str> = view.steps.iter().map(|s| s.id).collect();
        assert_eq!(shown, template);
        // Steps whose condition does not hold yet (a police report, a fee) show as not applicable.
        for step in &view.steps {
            let expected = if step.applies { StepState::Pending } else { StepState::NotApplicable };
            assert_eq!(step.state, expected.code(), "{}", step.id);
        }
        assert!(view.steps.iter().any(|s| !s.applies));
        assert!(
            view.missing.iter().any(|m| m.step == "identify" && m.zh.contains("识别终端机身号")),
            "{:?}",
            view.missing
        );
        assert!(view.needs.faults && view.needs.repair && view.needs.signature);
        assert!(!view.needs.sim && !view.needs.replacement);
        // Either photo does: both kinds are offered, as one requirement.
        assert_eq!(view.wanted_documents, ["purchase_proof", "warranty_card"]);
        assert_eq!(view.wanted_photos, [vec!["purchase_proof", "warranty_card"]]);
        assert!(!view.merchant_pays);
        assert!(view.summary_zh.contains("商户名称：老王便利店"), "{}", view.summary_zh);
        assert!(view.editable && view.unsynced && view.acceptance.is_none());
    }

    #[test]
    fn a_merchant_typed_in_the_app_is_trimmed_and_an_empty_field_left_out() {
        let typed: MerchantFields = serde_json::from_value(serde_json::json!({
            "merchant": "  张姐水果店 ", "merchant_number": "", "phone": " 13912345678 ", "address": null,
        }))
        .unwrap();
        let input = typed.input();
        assert_eq!(input.name, "张姐水果店");
        assert_eq!(input.merchant_number, None);
        assert_eq!(input.phone.as_deref(), Some("13912345678"));
        // A new visit's JSON is the merchant's fields beside the kind, as before.
        let visit: NewVisit =
            serde_json::from_value(serde_json::json!({ "kind": "repair", "merchant": "老王便利店" }))
                .unwrap();
        assert_eq!(visit.merchant.input().name, "老王便利店");
    }

    #[test]
    fn a_repair_that_replaces_the_terminal_asks_for_the_new_ones_serial() {
        let (_dir, mut agent, id) = repair_visit();
        assert!(!view(&mut agent, &id).needs.replacement);
        agent.set_repair_plan(&id, posfield_shared::vocab::RepairPlan::Replaced).unwrap();
        assert!(view(&mut agent, &id).needs.replacement, "the new terminal's serial is hidden");
        agent.identify_typed(&id, "N9100009876543", true).unwrap();
        assert_eq!(view(&mut agent, &id).replacement.map(|r| r.serial), Some("N9100009876543".into()));
    }

    #[test]
    fn conditional_steps_follow_the_warranty_decision() {
        let (_dir, mut agent, id) = repair_visit();
        agent.set_warranty(&id, WarrantyStatus::Lost).unwrap();
        let lost = view(&mut agent, &id);
        assert!(lost.steps.iter().any(|s| s.id == "docs.police_report" && s.applies));
        assert_eq!(lost.wanted_documents, ["purchase_proof", "warranty_card", "police_report"]);
        assert!(!lost.merchant_pays);
        agent.set_warranty(&id, WarrantyStatus::HumanDamage).unwrap();
        let pays = view(&mut agent, &id);
        assert!(pays.merchant_pays);
        assert!(pays.steps.iter().any(|s| s.id == "fee" && s.applies && !s.skippable));
        assert!(pays.steps.iter().any(|s| s.id == "docs.police_report" && !s.applies));
        assert_eq!(pays.warranty.as_deref(), Some("human_damage"));
    }

    /// A clock that stands still, for the ages and days the views count.
    struct Fixed(Timestamp);

    impl posfield_core::Clock for Fixed {
        fn now(&self) -> Timestamp {
            self.0
        }
    }

    /// 2026-11-18 16:30 UTC: already 2026-11-19 00:30 in Beijing.
    const AFTER_BEIJING_MIDNIGHT: Timestamp = Timestamp(1_795_019_400_000);

    fn visit_at(now: Timestamp, kind: VisitKind) -> (tempfile::TempDir, posfield_core::Agent, VisitId) {
        let dir = tempfile::tempdir().unwrap();
        let mut agent = posfield_core::Agent::open_with_clock(
            dir.path(),
            std::sync::Arc::new(posfield_core::KeyFile::at(dir.path().join("test.key"))),
            std::sync::Arc::new(Fixed(now)),
        )
        .unwrap();
        agent.sign_in("agent-li").unwrap();
        let merchant =
            posfield_shared::visit::MerchantInput { name: "张姐水果店".into(), ..Default::default() };
        let id = agent.create_visit(kind, &merchant).unwrap().id;
        (dir, agent, id)
    }

    fn view_at(agent: &mut posfield_core::Agent, id: &VisitId, now: Timestamp) -> VisitView {
        let visit = agent.visit(id).unwrap();
        let sync = agent.visit_sync_state(&visit).unwrap();
        VisitView::build(&visit, now, &sync).unwrap()
    }

    fn details(model: &str, produced: &str) -> posfield_shared::visit::TerminalDetails {
        posfield_shared::visit::TerminalDetails {
            model: model.into(),
            manufacturer: Some("新大陆".into()),
            production_date: posfield_shared::CalendarDate::parse(produced).unwrap(),
        }
    }

    fn signature() -> StrokesDto {
        let line = |y: f32, t0: u32| -> Vec<posfield_core::signature::Point> {
            (0..40)
                .map(|i| posfield_core::signature::Point {
                    x: 30.0 + i as f32 * 12.0,
                    y: y + (i as f32 / 3.0).sin() * 20.0,
                    t: t0 + i * 15,
                    p: Some(0.6),
                })
                .collect()
        };
        StrokesDto { width: 600.0, height: 300.0, strokes: vec![line(120.0, 0), line(200.0, 800)] }
    }

    #[test]
    fn an_installation_asks_for_the_terminal_details_the_parameters_and_a_network_test() {
        let (_dir, mut agent, id) = visit_at(AFTER_BEIJING_MIDNIGHT, VisitKind::Installation);
        let view = view_at(&mut agent, &id, AFTER_BEIJING_MIDNIGHT);
        assert!(view.needs.details && view.needs.parameters && view.needs.network_test);
        assert!(!view.needs.replacement_details && !view.needs.restore && !view.needs.deregistration);
        assert!(!view.needs.follow_up);
        let identify = view.steps.iter().find(|s| s.id == "identify").unwrap();
        assert_eq!(identify.requires, ["terminal_identified", "terminal_details"]);
        assert!(view.steps.iter().any(|s| s.id == "params" && s.requires == ["parameter_config"]));
        // The bank card or the account proof: both offered, as one requirement.
        assert!(view.wanted_photos.contains(&vec!["bank_card".to_owned(), "account_proof".to_owned()]));
        let bank = view.wanted_documents.iter().position(|k| k == "bank_card").unwrap();
        assert_eq!(view.wanted_documents[bank + 1], "account_proof");
        assert_eq!(view.today, "2026-11-19");
        assert!(view.parameters.is_none() && view.network_test.is_none());

        agent.identify_typed(&id, "N9100001234567", false).unwrap();
        agent.set_terminal_details(&id, &details("N910", "2016-11-19"), false).unwrap();
        agent.record_parameters(&id, "12345678", true, false).unwrap();
        agent
            .record_network_test(&id, posfield_shared::vocab::NetworkLink::Wifi, true, Some(" 签到成功 "))
            .unwrap();
        let json = serde_json::to_value(view_at(&mut agent, &id, AFTER_BEIJING_MIDNIGHT)).unwrap();
        // Ten years old on the Beijing date; the UTC date (the 18th) would say nine.
        assert_eq!(
            json["terminal"],
            serde_json::json!({
                "serial": "N9100001234567",
                "method": "manual",
                "model": "N910",
                "manufacturer": "新大陆",
                "production_date": "2016-11-19",
                "age_years": 10,
            })
        );
        assert_eq!(
            json["parameters"],
            serde_json::json!({
                "terminal_number": "12345678", "parameters_downloaded": true, "keys_downloaded": false,
            })
        );
        assert_eq!(
            json["network_test"],
            serde_json::json!({ "link": "wifi", "passed": true, "note": "签到成功" })
        );
    }

    #[test]
    fn a_terminal_without_its_production_date_has_no_age() {
        let (_dir, mut agent, id) = visit_at(AFTER_BEIJING_MIDNIGHT, VisitKind::Installation);
        agent.identify_typed(&id, "N9100001234567", false).unwrap();
        let terminal = view_at(&mut agent, &id, AFTER_BEIJING_MIDNIGHT).terminal.unwrap();
        assert_eq!((terminal.model, terminal.production_date, terminal.age_years), (None, None, None));
    }

    #[test]
    fn a_replacement_shows_both_terminals_the_restore_and_a_declined_backup() {
        let (_dir, mut agent, id) = visit_at(AFTER_BEIJING_MIDNIGHT, VisitKind::Replacement);
        let view = view_at(&mut agent, &id, AFTER_BEIJING_MIDNIGHT);
        assert!(view.needs.details && view.needs.replacement_details && view.needs.restore);
        assert!(view.needs.backup && view.needs.parameters && view.needs.network_test);
        // From edition 3 the backup is done, or declined with a signature: never skipped.
        assert!(view.steps.iter().any(|s| s.id == "backup" && !s.skippable));
        assert!(view.backup_waiver.is_none() && view.restore.is_none());

        agent.identify_typed(&id, "N9100001234567", false).unwrap();
        agent.set_terminal_details(&id, &details("N910", "2019-03-01"), false).unwrap();
        agent.identify_typed(&id, "N9100009876543", true).unwrap();
        agent.set_terminal_details(&id, &details("N950", "2026-10-01"), true).unwrap();
        agent.waive_backup(&id, "张姐", Some("交易记录已自行导出"), &signature()).unwrap();
        agent
            .record_restore(
                &id,
                &[posfield_shared::vocab::BackupItem::TransactionRecords],
                Some("日结报表无需恢复"),
            )
            .unwrap();
        let view = view_at(&mut agent, &id, AFTER_BEIJING_MIDNIGHT);
        let old = view.terminal.unwrap();
        assert_eq!((old.model.as_deref(), old.age_years), (Some("N910"), Some(7)));
        let new = view.replacement.unwrap();
        assert_eq!(
            (new.model.as_deref(), new.production_date.as_deref()),
            (Some("N950"), Some("2026-10-01"))
        );
        assert_eq!(new.age_years, Some(0));
        let waiver = view.backup_waiver.expect("the signed refusal is shown");
        assert_eq!(waiver.signer_name, "张姐");
        assert_eq!(waiver.reason.as_deref(), Some("交易记录已自行导出"));
        assert_eq!(waiver.signed_at, AFTER_BEIJING_MIDNIGHT.millis());
        assert_eq!(waiver.signed_words, "2026-11-19 00:30");
        assert!(!waiver.signature_confirmed);
        assert!(view.backup.is_none(), "a waiver is not a backup");
        // The refusal stands for the backup: the step misses nothing once done.
        agent.set_step(&id, "backup", StepState::Done, None, None).unwrap();
        let view = view_at(&mut agent, &id, AFTER_BEIJING_MIDNIGHT);
        assert!(!view.missing.iter().any(|m| m.step == "backup"), "{:?}", view.missing);
        let restore = view.restore.unwrap();
        assert_eq!(restore.items, ["transaction_records"]);
        assert_eq!(restore.note.as_deref(), Some("日结报表无需恢复"));
    }

    #[test]
    fn a_deregistration_shows_its_unbinding_reference_and_settled_balance() {
        let (_dir, mut agent, id) = visit_at(AFTER_BEIJING_MIDNIGHT, VisitKind::Deregistration);
        let view = view_at(&mut agent, &id, AFTER_BEIJING_MIDNIGHT);
        assert!(view.needs.deregistration && !view.needs.details && !view.needs.follow_up);
        assert!(view.wanted_documents.iter().any(|k| k == "settlement_proof"));
        let settled = view.steps.iter().find(|s| s.id == "confirm.settled").unwrap();
        assert_eq!(settled.requires, ["settled_balance", "photo:settlement_proof"]);
        assert!(!settled.skippable);
        assert_eq!((view.unbind_reference, view.settled_balance_fen), (None, None));

        agent.set_unbind_reference(&id, "JB20261119001").unwrap();
        agent.set_settled_balance(&id, 123_456).unwrap();
        let json = serde_json::to_value(view_at(&mut agent, &id, AFTER_BEIJING_MIDNIGHT)).unwrap();
        assert_eq!(json["unbind_reference"], "JB20261119001");
        assert_eq!(json["settled_balance_fen"], 123_456);
    }

    #[test]
    fn a_reactivation_shows_its_follow_up_day_and_the_list_row_carries_it() {
        let (_dir, mut agent, id) = visit_at(AFTER_BEIJING_MIDNIGHT, VisitKind::Reactivation);
        let view = view_at(&mut agent, &id, AFTER_BEIJING_MIDNIGHT);
        assert!(view.needs.follow_up && !view.needs.deregistration && !view.needs.network_test);
        assert!(view.follow_up.is_none());

        let day = posfield_shared::CalendarDate::parse("2026-11-26").unwrap();
        agent.set_follow_up(&id, day, Some("检查扫码是否正常")).unwrap();
        let follow_up = view_at(&mut agent, &id, AFTER_BEIJING_MIDNIGHT).follow_up.unwrap();
        assert_eq!(
            (follow_up.on.as_str(), follow_up.note.as_deref()),
            ("2026-11-26", Some("检查扫码是否正常"))
        );
        let filter = posfield_core::VisitFilter { follow_up_on: Some(day), ..Default::default() };
        let rows: Vec<VisitRowDto> =
            agent.list_visits(&filter).unwrap().into_iter().map(VisitRowDto::from_row).collect();
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].follow_up.as_deref(), Some("2026-11-26"));
    }

    fn png() -> Vec<u8> {
        let image = image::RgbImage::from_fn(96, 64, |x, y| image::Rgb([x as u8, y as u8, 7]));
        let mut png = Vec::new();
        image.write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png).unwrap();
        png
    }

    #[test]
    fn a_terminal_taken_back_is_shown_as_handed_over_with_its_photo() {
        for kind in [VisitKind::Replacement, VisitKind::Deregistration] {
            let (_dir, mut agent, id) = visit_at(AFTER_BEIJING_MIDNIGHT, kind);
            let view = view_at(&mut agent, &id, AFTER_BEIJING_MIDNIGHT);
            assert!(view.needs.handover, "{kind:?}");
            assert!(view.handovers.is_empty());
            let collect = view.steps.iter().find(|s| s.requires == ["handover_recorded"]).unwrap();
            assert!(collect.applies, "{kind:?}");
            let collect = collect.id;

            agent.identify_typed(&id, "N9100001234567", false).unwrap();
            let photo = agent.add_photo(&id, &png(), DocumentKind::TerminalPhoto).unwrap();
            agent
                .record_handover(
                    &id,
                    "N9100001234567",
                    "外观完好，缺电源适配器",
                    Some("QF-0042"),
                    Some(&photo.sha256),
                )
                .unwrap();
            let json = serde_json::to_value(view_at(&mut agent, &id, AFTER_BEIJING_MIDNIGHT)).unwrap();
            assert_eq!(
                json["handovers"],
                serde_json::json!([{
                    "serial": "N9100001234567",
                    "condition": "外观完好，缺电源适配器",
                    "seal": "QF-0042",
                    "photo": photo.sha256,
                    "photo_confirmed": false,
                    "photo_current": true,
                }])
            );
            assert!(json["needs"]["handover"].as_bool().unwrap());
            agent.set_step(&id, collect, StepState::Done, None, None).unwrap();
            let view = view_at(&mut agent, &id, AFTER_BEIJING_MIDNIGHT);
            assert!(!view.missing.iter().any(|m| m.step == collect), "{:?}", view.missing);

            // The photo's state is the one the photos show: confirmed once the server has it.
            let visit = agent.visit(&id).unwrap();
            let mut sync = agent.visit_sync_state(&visit).unwrap();
            sync.files_on_server.insert(BlobHash::parse(&photo.sha256).unwrap());
            let view = VisitView::build(&visit, AFTER_BEIJING_MIDNIGHT, &sync).unwrap();
            assert!(view.handovers[0].photo_confirmed);
            assert!(view.documents.iter().all(|d| d.confirmed));

            // A hand-over without a photo is shown, and still missing its photo.
            agent.record_handover(&id, "N9100001234567", "屏幕有划痕", None, None).unwrap();
            let view = view_at(&mut agent, &id, AFTER_BEIJING_MIDNIGHT);
            let handover = &view.handovers[0];
            assert_eq!((handover.condition.as_str(), handover.seal.as_deref()), ("屏幕有划痕", None));
            assert!(handover.photo.is_none() && !handover.photo_confirmed && !handover.photo_current);
            assert!(
                view.missing.iter().any(|m| m.step == collect && m.zh.contains("回收终端交接")),
                "{:?}",
                view.missing
            );
        }
    }

    #[test]
    fn a_visit_that_takes_no_terminal_back_needs_no_hand_over() {
        for kind in [
            VisitKind::Installation,
            VisitKind::Repair,
            VisitKind::Reactivation,
            VisitKind::SimRenewal,
            VisitKind::Inspection,
        ] {
            let (_dir, mut agent, id) = visit_at(AFTER_BEIJING_MIDNIGHT, kind);
            let view = view_at(&mut agent, &id, AFTER_BEIJING_MIDNIGHT);
            assert!(!view.needs.handover, "{kind:?}");
            assert!(view.handovers.is_empty());
        }
        // Edition 2 took the terminal back with a tick: nothing to record.
        let (_dir, mut agent, id) = visit_at(AFTER_BEIJING_MIDNIGHT, VisitKind::Deregistration);
        let mut visit = agent.visit(&id).unwrap();
        visit.checklist = None;
        let sync = agent.visit_sync_state(&visit).unwrap();
        let view = VisitView::build(&visit, AFTER_BEIJING_MIDNIGHT, &sync).unwrap();
        assert!(!view.needs.handover);
        assert!(view.steps.iter().any(|s| s.id == "collect" && s.requires.is_empty()));
    }

    #[test]
    fn a_visit_begun_under_edition_two_keeps_the_checklist_it_was_begun_with() {
        let (_dir, mut agent, id) = visit_at(AFTER_BEIJING_MIDNIGHT, VisitKind::Replacement);
        let mut visit = agent.visit(&id).unwrap();
        // What a phone of schema 2 wrote: no edition recorded.
        visit.checklist = None;
        let sync = agent.visit_sync_state(&visit).unwrap();
        let view = VisitView::build(&visit, AFTER_BEIJING_MIDNIGHT, &sync).unwrap();
        let ids: Vec<&str> = view.steps.iter().map(|s| s.id).collect();
        assert!(!ids.contains(&"params") && !ids.contains(&"network"), "{ids:?}");
        assert!(view.steps.iter().any(|s| s.id == "backup" && s.skippable));
        let new = view.steps.iter().find(|s| s.id == "new.identify").unwrap();
        assert_eq!(new.requires, ["replacement_serial"]);
        // The restore step was a tick then: nothing to record.
        assert!(view.needs.backup && !view.needs.restore);
        assert!(view.steps.iter().any(|s| s.id == "restore" && s.requires.is_empty()));
        assert!(!view.needs.details && !view.needs.replacement_details);
        assert!(!view.needs.parameters && !view.needs.network_test);

        let (_dir, mut agent, id) = visit_at(AFTER_BEIJING_MIDNIGHT, VisitKind::Deregistration);
        let mut visit = agent.visit(&id).unwrap();
        visit.checklist = None;
        let sync = agent.visit_sync_state(&visit).unwrap();
        let view = VisitView::build(&visit, AFTER_BEIJING_MIDNIGHT, &sync).unwrap();
        assert!(!view.needs.deregistration);
        assert!(!view.wanted_documents.iter().any(|k| k == "settlement_proof"));
        let unbind = view.steps.iter().find(|s| s.id == "unbind").unwrap();
        assert!(unbind.skippable && unbind.requires.is_empty());
    }
}
