//! The typed shape of a visit document.
//!
//! These types are mapped to automerge with autosurgeon: every list item that
//! can be added on two devices at once carries a `#[key]`, so concurrent
//! additions merge as additions instead of overwriting each other. Nothing is
//! ever deleted from a list: removal is a `removed` stamp, so a removal on
//! one side and an edit on the other both survive a merge.
//!
//! Field names are the document's keys; renaming a field is a schema change
//! (see [`SCHEMA_VERSION`] and docs/compatibility.md). Vocabulary fields are
//! [`Open`], and unknown keys are left alone by reconciling, so a document
//! written by a newer app keeps what this one does not understand.

use std::collections::BTreeMap;

use autosurgeon::{Hydrate, Reconcile};
use serde::{Deserialize, Serialize};

use crate::actor::Actor;
use crate::fault::{FaultCode, Remedy};
use crate::kind::VisitKind;
use crate::status::VisitStatus;
use crate::time::{CalendarDate, TimeOfDay, Timestamp};
use crate::vocab::{
    ApplicationState, BackupItem, DocumentKind, IdentificationMethod, NetworkLink, Open, RepairPlan,
    SimAction, SimCarrier, SuspensionCause, WarrantyStatus,
};

/// The schema version this code reads and writes. It goes up by one with
/// every change to the document's shape, additive or not, and this code
/// records it in a document's `written_by` whenever it writes.
///
/// Version 2 added `written_by` and opened vocabulary fields to codes from
/// newer versions. Version 3 added the checklist edition (`checklist`), the
/// terminal's model and production date at identification, and the records
/// of steps that used to be ticks: parameters, network test, data restore,
/// a declined backup's signed waiver, the deregistration's unbinding
/// reference and settled balance, and a follow-up date. Version 4 added the
/// day and time window the desk plans a visit for (`assignment.schedule`)
/// and the agent's way there (`trip`: accepted, set off, arrived with the
/// phone's location). Version 5 added the marks an agent draws over a
/// photo (`annotations`), the merchant's place as the desk knows it
/// (`merchant.location`) and what the register knew of the merchant's
/// terminals when the job was given (`assignment.brief`).
pub const SCHEMA_VERSION: u64 = 5;

/// The checklist edition this code creates visits under. A visit keeps the
/// edition it was created under (`Visit::checklist`), and the completion
/// rule asks of it only the steps and requirements of that edition, so a
/// visit begun before a checklist grew is completed by the rules it was
/// begun under, on every phone and on the server alike. Edition 2 is every
/// visit created before the edition was recorded.
pub const CHECKLIST_EDITION: u64 = 3;

/// The lowest schema version whose apps may still edit a document this code
/// has written: this code raises a document's `schema` to it when it writes.
/// It rises only with a breaking change (a field whose meaning changed, a
/// rule older apps would break); additive changes leave it alone, so older
/// phones keep editing.
pub const EDITABLE_FROM: u64 = 1;

/// Who did something, and when, by the clock of the device they used.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Reconcile, Hydrate)]
pub struct Stamp {
    /// Who acted.
    pub by: Actor,
    /// The device time of the action (never the time it synced).
    pub at: Timestamp,
}

/// The merchant visited.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Reconcile, Hydrate, Default)]
pub struct Merchant {
    /// Shop name as on the business licence.
    pub name: String,
    /// 商户号, 15 digits, when known.
    pub merchant_number: Option<String>,
    /// 终端号, 8 characters, when known.
    pub terminal_number: Option<String>,
    /// 注册手机号, when known.
    pub phone: Option<String>,
    /// Street address.
    pub address: Option<String>,
    /// Where the shop is, as the desk knows it (the register's import or
    /// the dispatch form, schema 5); absent when nobody told it.
    #[autosurgeon(missing = "Option::default")]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<GeoPoint>,
}

/// How and from what the terminal's serial was captured.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Reconcile, Hydrate)]
pub struct Identification {
    /// The normalized serial.
    pub serial: String,
    /// NFC, photo or typing.
    pub method: Open<IdentificationMethod>,
    /// What it was read from: the photo's sha256, the NDEF bytes' sha256, or none when typed.
    pub evidence: Option<String>,
    /// Who identified it, when.
    pub stamp: Stamp,
    /// The model (型号) as on the label or the NFC tag, else typed or picked (schema 3).
    #[autosurgeon(missing = "Option::default")]
    #[serde(default)]
    pub model: Option<String>,
    /// The manufacturer (厂商) (schema 3).
    #[autosurgeon(missing = "Option::default")]
    #[serde(default)]
    pub manufacturer: Option<String>,
    /// The production date (生产日期) the terminal's age counts from (schema 3).
    #[autosurgeon(missing = "Option::default")]
    #[serde(default)]
    pub production_date: Option<CalendarDate>,
}

impl Identification {
    /// Whole years from the production date to `on`, when the date is known.
    pub fn age_years(&self, on: CalendarDate) -> Option<u32> {
        let produced = self.production_date?;
        if on < produced {
            return None;
        }
        let years = (0..200).take_while(|y| produced.add_years(y + 1) <= on).count();
        u32::try_from(years).ok()
    }
}

crate::vocab::vocabulary! {
    /// The state of one checklist step.
    pub enum StepState {
        /// Not yet worked on.
        Pending = ("pending", "未完成", "Pending"),
        /// Done.
        Done = ("done", "已完成", "Done"),
        /// Skipped, with a reason.
        Skipped = ("skipped", "已跳过", "Skipped"),
        /// Does not apply to this visit.
        NotApplicable = ("not_applicable", "不适用", "Not applicable"),
    }
}

/// What the agent recorded for one step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Reconcile, Hydrate)]
pub struct StepRecord {
    /// Its state.
    pub state: Open<StepState>,
    /// Why it was skipped or not applicable.
    pub reason: Option<String>,
    /// A free note.
    pub note: Option<String>,
    /// Who set it, when.
    pub stamp: Stamp,
}

/// Something tried on site against a fault.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Reconcile, Hydrate)]
pub struct Attempt {
    /// Unique id.
    #[key]
    pub id: String,
    /// The recommended step tried, if it was one.
    pub remedy: Option<Open<Remedy>>,
    /// What was done, in the agent's words.
    pub description: Option<String>,
    /// Whether it fixed the fault.
    pub fixed: bool,
    /// Who tried it, when.
    pub stamp: Stamp,
}

/// How a fault ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Reconcile, Hydrate)]
pub struct FaultResolution {
    /// Whether the terminal works again.
    pub fixed: bool,
    /// A note on the outcome.
    pub note: Option<String>,
    /// Who resolved it, when.
    pub stamp: Stamp,
}

/// A fault recorded on the visit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Reconcile, Hydrate)]
pub struct Fault {
    /// Unique id.
    #[key]
    pub id: String,
    /// The fault.
    pub code: Open<FaultCode>,
    /// The symptom in the agent's words (required for some faults).
    pub symptom: Option<String>,
    /// sha256 of evidence photos (the screen's message, transaction records).
    pub evidence: Vec<String>,
    /// What was tried, in order.
    pub attempts: Vec<Attempt>,
    /// The outcome, once resolved.
    pub resolution: Option<FaultResolution>,
    /// Who recorded it, when.
    pub stamp: Stamp,
    /// Set when the fault was withdrawn (recorded by mistake).
    pub removed: Option<Stamp>,
}

/// A reference to a photographed document stored as a blob.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Reconcile, Hydrate)]
pub struct DocumentRef {
    /// SHA-256 of the stored bytes, lowercase hex: the blob's address.
    #[key]
    pub sha256: String,
    /// MIME type of the stored bytes.
    pub mime: String,
    /// Size of the stored bytes.
    pub bytes: u64,
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// What the document is.
    pub kind: Open<DocumentKind>,
    /// When the photo was taken (from the camera, else the device time).
    pub taken_at: Timestamp,
    /// Who attached it, when.
    pub stamp: Stamp,
    /// Set when the photo was removed (retaken or attached by mistake).
    pub removed: Option<Stamp>,
}

/// A blob reference without a document kind (the signature image).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Reconcile, Hydrate)]
pub struct BlobRef {
    /// SHA-256 of the stored bytes, lowercase hex.
    pub sha256: String,
    /// MIME type.
    pub mime: String,
    /// Size in bytes.
    pub bytes: u64,
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
}

/// The terminal's SIM data card.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Reconcile, Hydrate)]
pub struct SimRecord {
    /// The card's ICCID as found on site.
    pub iccid: String,
    /// Its carrier.
    pub carrier: Open<SimCarrier>,
    /// The data plan's expiry date.
    pub expiry: CalendarDate,
    /// What was done about it.
    pub action: Option<Open<SimAction>>,
    /// The new card's ICCID, when it was replaced.
    pub new_iccid: Option<String>,
    /// The new expiry after renewal, when known.
    pub new_expiry: Option<CalendarDate>,
    /// Who recorded it, when.
    pub stamp: Stamp,
}

impl SimRecord {
    /// The ICCID of the card left in the terminal: the new card's when it was replaced.
    pub fn current_iccid(&self) -> &str {
        self.new_iccid.as_deref().unwrap_or(&self.iccid)
    }

    /// The plan's expiry as the visit left it: the new expiry after a renewal.
    pub fn current_expiry(&self) -> CalendarDate {
        self.new_expiry.unwrap_or(self.expiry)
    }
}

/// Confirmation that the terminal's data was backed up.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Reconcile, Hydrate)]
pub struct BackupRecord {
    /// What was backed up.
    pub items: Vec<Open<BackupItem>>,
    /// Where it went, or anything else worth noting.
    pub note: Option<String>,
    /// Who confirmed it, when.
    pub stamp: Stamp,
}

/// The terminal's parameters as set up on site (参数配置, schema 3).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Reconcile, Hydrate)]
pub struct ParameterRecord {
    /// The terminal number (终端号) configured into the terminal.
    pub terminal_number: String,
    /// The acquirer's parameters were downloaded (参数下载).
    pub parameters_downloaded: bool,
    /// The keys were downloaded (密钥下载).
    pub keys_downloaded: bool,
    /// Who recorded it, when.
    pub stamp: Stamp,
}

/// A network test: the terminal signed on to the acquirer (签到) over a link (schema 3).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Reconcile, Hydrate)]
pub struct NetworkTestRecord {
    /// The link it used.
    pub link: Open<NetworkLink>,
    /// Whether it signed on.
    pub passed: bool,
    /// What the terminal showed, or anything else worth noting.
    pub note: Option<String>,
    /// Who tested, when.
    pub stamp: Stamp,
}

/// What was restored onto the new terminal (schema 3).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Reconcile, Hydrate)]
pub struct RestoreRecord {
    /// The data restored.
    pub items: Vec<Open<BackupItem>>,
    /// Anything not restored, or worth noting.
    pub note: Option<String>,
    /// Who restored it, when.
    pub stamp: Stamp,
}

/// The merchant declined the backup and signed that they did (schema 3).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Reconcile, Hydrate)]
pub struct BackupWaiver {
    /// The signer's name as they gave it.
    pub signer_name: String,
    /// Why, in the merchant's words, when given.
    pub reason: Option<String>,
    /// When they signed (device time).
    pub signed_at: Timestamp,
    /// The rendered signature image.
    pub signature: BlobRef,
    /// SHA-256 of the stroke data, lowercase hex.
    pub strokes_sha256: String,
    /// Who collected the signature, when.
    pub stamp: Stamp,
}

/// A deregistration's records (注销, schema 3).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Reconcile, Hydrate, Default)]
pub struct DeregistrationRecord {
    /// The acquirer's reference for the unbinding (解绑流水号 or 工单号).
    pub unbind_reference: Option<Decided<String>>,
    /// The balance settled to the merchant, in fen (款项结清).
    pub settled_balance_fen: Option<Decided<u64>>,
}

/// A terminal handed over in the visit (交接, schema 3): the merchant
/// gives it to the agent who takes it back. The merchant's acceptance
/// signature confirms it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Reconcile, Hydrate)]
pub struct HandoverRecord {
    /// The terminal's serial: the visit's terminal or its new one.
    #[key]
    pub serial: String,
    /// Its condition in the agent's words (外观, 配件).
    pub condition: String,
    /// The tamper seal or bag number it travels under.
    pub seal: Option<String>,
    /// SHA-256 of the visit's photo of it (a terminal photo of the visit).
    pub photo: Option<String>,
    /// Who recorded it, when.
    pub stamp: Stamp,
}

/// A follow-up visit's day (回访, schema 3): the visit is on the agent's list that day.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Reconcile, Hydrate)]
pub struct FollowUp {
    /// The day.
    pub on: CalendarDate,
    /// What to check.
    pub note: Option<String>,
    /// Who set it, when.
    pub stamp: Stamp,
}

/// A decision with who made it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Reconcile, Hydrate)]
pub struct Decided<T> {
    /// The decision.
    pub value: T,
    /// Who decided, when.
    pub stamp: Stamp,
}

/// Repair decisions (repair visits).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Reconcile, Hydrate, Default)]
pub struct RepairRecord {
    /// Warranty status.
    pub warranty: Option<Decided<Open<WarrantyStatus>>>,
    /// Repair plan.
    pub plan: Option<Decided<Open<RepairPlan>>>,
    /// The agreed fee in fen (分) when the merchant pays.
    pub fee_fen: Option<Decided<u64>>,
}

/// A reactivation application (复机申请).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Reconcile, Hydrate)]
pub struct Application {
    /// Its state.
    pub state: Open<ApplicationState>,
    /// The back office's reason, for a rejection.
    pub reason: Option<String>,
    /// Who moved it to this state, when.
    pub stamp: Stamp,
}

/// Reactivation data (reactivation visits).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Reconcile, Hydrate, Default)]
pub struct ReactivationRecord {
    /// Why the terminal was suspended.
    pub cause: Option<Decided<Open<SuspensionCause>>>,
    /// The application, once submitted.
    pub application: Option<Application>,
}

/// The merchant's signed acceptance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Reconcile, Hydrate)]
pub struct Acceptance {
    /// The signer's name as they gave it.
    pub signer_name: String,
    /// When they signed (device time).
    pub signed_at: Timestamp,
    /// The rendered signature image.
    pub signature: BlobRef,
    /// SHA-256 of the stroke data, lowercase hex.
    pub strokes_sha256: String,
    /// The canonical summary that was shown and signed, exactly as hashed.
    pub summary_json: String,
    /// SHA-256 of `summary_json`, lowercase hex.
    pub content_hash: String,
    /// The device's Ed25519 signature over the hashes, hex, when the device signs.
    pub device_signature: Option<String>,
    /// Who collected the signature, when.
    pub stamp: Stamp,
}

crate::vocab::vocabulary! {
    /// The back office's decision on a completed visit.
    pub enum ReviewDecision {
        /// Approved.
        Approve = ("approve", "审核通过", "Approve"),
        /// Returned to the agent with a note.
        Return = ("return", "退回", "Return"),
    }
}

/// A review by the back office.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Reconcile, Hydrate)]
pub struct Review {
    /// Unique id.
    #[key]
    pub id: String,
    /// The decision.
    pub decision: Open<ReviewDecision>,
    /// The reviewer's note (required when returning).
    pub note: Option<String>,
    /// Who reviewed, when.
    pub stamp: Stamp,
}

/// A free note on the visit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Reconcile, Hydrate)]
pub struct Note {
    /// Unique id.
    #[key]
    pub id: String,
    /// The text.
    pub text: String,
    /// Who wrote it, when.
    pub stamp: Stamp,
}

/// One entry of the visit's history: every operation adds one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Reconcile, Hydrate)]
pub struct HistoryEvent {
    /// The operation's unique id.
    #[key]
    pub id: String,
    /// A stable code for the operation (`identify_terminal`, `review`...).
    pub action: String,
    /// A short human-readable detail (a step id, a serial, a fault code).
    pub detail: String,
    /// Who did it, when.
    pub stamp: Stamp,
}

/// The assignment of a visit to an agent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Reconcile, Hydrate)]
pub struct Assignment {
    /// The agent's user id.
    pub agent: String,
    /// Who assigned it, when.
    pub stamp: Stamp,
    /// The day and time window the desk planned it for; absent while it is
    /// not planned, and on visits dispatched before schema 4.
    #[autosurgeon(missing = "Option::default")]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule: Option<Schedule>,
    /// What the register knew of the merchant's terminals when the desk
    /// gave the job (schema 5): the agent sees a terminal's history as
    /// soon as it is identified, offline.
    #[autosurgeon(missing = "Option::default")]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub brief: Option<SiteBrief>,
}

/// The most terminals a brief carries (a merchant's first, by serial).
pub const BRIEF_TERMINALS: usize = 20;

/// The most past visits a brief carries per terminal (the newest).
pub const BRIEF_VISITS: usize = 10;

/// What the register knew of a merchant's terminals when the desk gave
/// the job (schema 5). Summaries only: a past visit is its day, kind and
/// state, never the visit itself (another agent's evidence stays on the
/// server).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Reconcile, Hydrate)]
pub struct SiteBrief {
    /// When the server made it.
    pub made_at: Timestamp,
    /// The merchant's terminals (at most [`BRIEF_TERMINALS`]).
    pub terminals: Vec<TerminalBrief>,
}

impl SiteBrief {
    /// The brief of the terminal with `serial`, if the brief has it.
    pub fn terminal(&self, serial: &str) -> Option<&TerminalBrief> {
        self.terminals.iter().find(|t| t.serial == serial)
    }
}

crate::vocab::vocabulary! {
    /// Why the desk looks at a terminal: the alerts that travel with a job.
    pub enum BriefAlert {
        /// The SIM's plan has expired.
        SimExpired = ("sim_expired", "流量卡已过期", "SIM expired"),
        /// The SIM's plan expires within the alert window.
        SimExpiring = ("sim_expiring", "流量卡即将到期", "SIM expiring"),
        /// The warranty ends within the alert window.
        WarrantyEnding = ("warranty_ending", "保修即将到期", "Warranty ending"),
        /// Two or more repairs in the last year.
        RepeatedFaults = ("repeated_faults", "反复故障", "Repeated faults"),
        /// Older than the fleet's age limit.
        OldTerminal = ("old_terminal", "机具老旧", "Old terminal"),
    }
}

/// One terminal of the merchant as the register knew it (schema 5).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Reconcile, Hydrate)]
pub struct TerminalBrief {
    /// The serial.
    #[key]
    pub serial: String,
    /// The model, when registered.
    pub model: Option<String>,
    /// Its lifecycle state's code, when registered.
    pub state: Option<String>,
    /// The SIM's carrier code, when known.
    pub sim_carrier: Option<String>,
    /// The SIM plan's expiry, when known.
    pub sim_expiry: Option<CalendarDate>,
    /// The warranty's end, when known.
    pub warranty_end: Option<CalendarDate>,
    /// The production date, when known.
    pub production_date: Option<CalendarDate>,
    /// The visits of the last year, newest first (at most [`BRIEF_VISITS`]).
    pub visits: Vec<PastVisit>,
    /// How many of the last year's visits were repairs (all of them, not only those listed).
    pub repairs_last_year: u64,
    /// The desk's alerts on it.
    pub alerts: Vec<Open<BriefAlert>>,
}

/// A past visit to a terminal, in summary (schema 5).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Reconcile, Hydrate)]
pub struct PastVisit {
    /// The day it last changed, in Beijing time.
    pub day: CalendarDate,
    /// What it was for.
    pub kind: Open<VisitKind>,
    /// Where it stands.
    pub status: Open<VisitStatus>,
}

crate::vocab::vocabulary! {
    /// The shape of a mark drawn over a photo.
    pub enum MarkShape {
        /// An arrow from `from` to `to` (its head).
        Arrow = ("arrow", "箭头", "Arrow"),
        /// An ellipse in the box from `from` to `to`.
        Circle = ("circle", "圆圈", "Circle"),
        /// Short text written at `from`.
        Text = ("text", "文字", "Text"),
    }
}

/// The most characters a text mark holds.
pub const MARK_TEXT_CHARS: usize = 40;

/// The most marks a visit holds (removed ones included).
pub const MAX_ANNOTATIONS: usize = 200;

/// A point on a photo, in thousandths of its width and height from its
/// top left corner (0 to 1000), so a mark fits the photo at any size.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Reconcile, Hydrate)]
pub struct MarkPoint {
    /// Across, thousandths of the width.
    pub x: u32,
    /// Down, thousandths of the height.
    pub y: u32,
}

/// A mark an agent drew over a photo (schema 5): an overlay kept beside
/// the photo, which stays exactly as taken (its hash unchanged).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Reconcile, Hydrate)]
pub struct Annotation {
    /// Unique id.
    #[key]
    pub id: String,
    /// The SHA-256 of the photo it is drawn on (a photo of the visit).
    pub photo: String,
    /// Its shape.
    pub shape: Open<MarkShape>,
    /// Where it starts.
    pub from: MarkPoint,
    /// Where it ends (an arrow's head, a circle's far corner; as `from` for text).
    pub to: MarkPoint,
    /// A text mark's words.
    pub text: Option<String>,
    /// Who drew it, when.
    pub stamp: Stamp,
    /// Set when the mark was rubbed out.
    pub removed: Option<Stamp>,
}

/// The agent's way to the merchant (schema 4). Each moment is recorded
/// once, by the phone's clock; the visit's status says the rest (处理中 once
/// work began, 完成 once completed).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, Reconcile, Hydrate)]
pub struct Trip {
    /// 已接单: the agent took the job.
    #[autosurgeon(missing = "Option::default")]
    #[serde(default)]
    pub accepted: Option<Stamp>,
    /// 出发: the agent set off for the merchant.
    #[autosurgeon(missing = "Option::default")]
    #[serde(default)]
    pub departed: Option<Stamp>,
    /// 到达: the arrival check-in.
    #[autosurgeon(missing = "Option::default")]
    #[serde(default)]
    pub arrived: Option<Arrival>,
}

/// The arrival check-in: when, and where the phone said it was.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Reconcile, Hydrate)]
pub struct Arrival {
    /// Who arrived, when (the phone's clock).
    pub stamp: Stamp,
    /// Where the phone said it was, when it could say.
    #[autosurgeon(missing = "Option::default")]
    #[serde(default)]
    pub location: Option<GeoPoint>,
    /// Why there is no location (`refused`, `unavailable`, `timeout`), when there is none.
    #[autosurgeon(missing = "Option::default")]
    #[serde(default)]
    pub no_location: Option<String>,
}

/// A point on the earth as the phone's positioning gives it: WGS-84, in
/// millionths of a degree (whole numbers merge and compare exactly), with
/// the phone's stated accuracy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Reconcile, Hydrate)]
pub struct GeoPoint {
    /// Latitude, millionths of a degree (-90,000,000 to 90,000,000).
    pub lat_e6: i64,
    /// Longitude, millionths of a degree (-180,000,000 to 180,000,000).
    pub lon_e6: i64,
    /// The radius the phone is sure within, in metres.
    #[autosurgeon(missing = "Option::default")]
    #[serde(default)]
    pub accuracy_m: Option<u32>,
}

impl GeoPoint {
    /// A point from degrees, if it is on the earth; accuracy in metres.
    pub fn from_degrees(lat: f64, lon: f64, accuracy_m: Option<f64>) -> Option<GeoPoint> {
        let on_earth = lat.is_finite() && lon.is_finite() && lat.abs() <= 90.0 && lon.abs() <= 180.0;
        on_earth.then(|| GeoPoint {
            lat_e6: (lat * 1e6).round() as i64,
            lon_e6: (lon * 1e6).round() as i64,
            accuracy_m: accuracy_m
                .filter(|a| a.is_finite() && *a >= 0.0)
                .map(|a| a.min(f64::from(u32::MAX)).round() as u32),
        })
    }

    /// Latitude and longitude in degrees.
    pub fn degrees(self) -> (f64, f64) {
        (self.lat_e6 as f64 / 1e6, self.lon_e6 as f64 / 1e6)
    }
}

/// When the desk plans a visit: a day, and the window the merchant asked
/// for when there is one (either end may be open), in Beijing time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Reconcile, Hydrate)]
pub struct Schedule {
    /// The day.
    pub day: CalendarDate,
    /// Not before.
    #[autosurgeon(missing = "Option::default")]
    #[serde(default)]
    pub from: Option<TimeOfDay>,
    /// Not after.
    #[autosurgeon(missing = "Option::default")]
    #[serde(default)]
    pub until: Option<TimeOfDay>,
}

impl Schedule {
    /// The day and window in words, the same in both languages:
    /// `2026-12-08 09:00–11:00`, or the day alone when the whole day will do.
    pub fn words(&self) -> String {
        let window = self.window_words();
        if window.is_empty() { self.day.to_string() } else { format!("{} {window}", self.day) }
    }

    /// Whether the window ends before it starts (both ends given): the one
    /// rule the desk's forms and the domain's operation both apply.
    pub fn ends_before_it_starts(&self) -> bool {
        matches!((self.from, self.until), (Some(from), Some(until)) if until < from)
    }

    /// The window in words, the same in both languages: `09:00–11:00`,
    /// `09:00–` or `–11:00`; empty when the whole day will do.
    pub fn window_words(&self) -> String {
        match (self.from, self.until) {
            (None, None) => String::new(),
            (from, until) => format!(
                "{}–{}",
                from.map(|t| t.to_string()).unwrap_or_default(),
                until.map(|t| t.to_string()).unwrap_or_default()
            ),
        }
    }
}

/// One visit, as stored in its automerge document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Reconcile, Hydrate)]
pub struct Visit {
    /// The lowest schema version that may edit the document (its edit floor).
    /// Version 1 apps refuse to read a document whose `schema` is above 1, so
    /// this key keeps that meaning; it is raised only by a breaking writer
    /// and never lowered.
    pub schema: u64,
    /// The schema version of the newest app that wrote the document; absent
    /// while only version 1 apps wrote it (a missing key reads as `None`).
    /// Never lowered.
    #[autosurgeon(missing = "Option::default")]
    pub written_by: Option<u64>,
    /// The visit's id.
    pub id: String,
    /// What the visit is for.
    pub kind: VisitKind,
    /// The checklist edition the visit was created under; absent (edition
    /// 2) on visits created before schema 3. Set once, like the kind.
    #[autosurgeon(missing = "Option::default")]
    #[serde(default)]
    pub checklist: Option<u64>,
    /// Where it stands.
    pub status: VisitStatus,
    /// The merchant visited.
    pub merchant: Merchant,
    /// Who created it, when.
    pub created: Stamp,
    /// Who works on it.
    pub assignment: Assignment,
    /// The terminal worked on (for a replacement, the old one).
    pub terminal: Option<Identification>,
    /// The new terminal, for replacements.
    pub replacement: Option<Identification>,
    /// Checklist step records, by step id.
    pub steps: BTreeMap<String, StepRecord>,
    /// Faults found.
    pub faults: Vec<Fault>,
    /// Document photos.
    pub documents: Vec<DocumentRef>,
    /// Marks drawn over the photos (schema 5).
    #[autosurgeon(missing = "Vec::new")]
    #[serde(default)]
    pub annotations: Vec<Annotation>,
    /// SIM data card.
    pub sim: Option<SimRecord>,
    /// Data backup confirmation.
    pub backup: Option<BackupRecord>,
    /// The merchant's signed refusal of the backup (schema 3).
    #[autosurgeon(missing = "Option::default")]
    #[serde(default)]
    pub backup_waiver: Option<BackupWaiver>,
    /// The parameters set up (schema 3).
    #[autosurgeon(missing = "Option::default")]
    #[serde(default)]
    pub parameters: Option<ParameterRecord>,
    /// The network test (schema 3).
    #[autosurgeon(missing = "Option::default")]
    #[serde(default)]
    pub network_test: Option<NetworkTestRecord>,
    /// What was restored (schema 3).
    #[autosurgeon(missing = "Option::default")]
    #[serde(default)]
    pub restore: Option<RestoreRecord>,
    /// Deregistration records (schema 3).
    #[autosurgeon(missing = "Default::default")]
    #[serde(default)]
    pub deregistration: DeregistrationRecord,
    /// The follow-up day (schema 3).
    #[autosurgeon(missing = "Option::default")]
    #[serde(default)]
    pub follow_up: Option<FollowUp>,
    /// Terminals handed over in the visit, one record per serial (schema 3).
    #[autosurgeon(missing = "Vec::new")]
    #[serde(default)]
    pub handovers: Vec<HandoverRecord>,
    /// The agent's way to the merchant: job accepted, set off, arrived
    /// (schema 4).
    #[autosurgeon(missing = "Option::default")]
    #[serde(default)]
    pub trip: Option<Trip>,
    /// Repair decisions.
    pub repair: RepairRecord,
    /// Reactivation data.
    pub reactivation: ReactivationRecord,
    /// The merchant's acceptance, once signed.
    pub acceptance: Option<Acceptance>,
    /// When the agent completed the visit.
    pub completion: Option<Stamp>,
    /// Back-office reviews, oldest first.
    pub reviews: Vec<Review>,
    /// Free notes.
    pub notes: Vec<Note>,
    /// Every operation, in order.
    pub history: Vec<HistoryEvent>,
}

/// How the back office's note names the terminal a visit was dispatched
/// for ([`dispatched_serial_note`], [`Visit::expected_serials`]).
const DISPATCHED_SERIAL: &str = "终端机身号 / serial: ";

/// The note the back office adds to a visit it dispatches for a known
/// terminal: the one spelling both the desk and the phone read.
pub fn dispatched_serial_note(serial: &str) -> String {
    format!("{DISPATCHED_SERIAL}{serial}")
}

impl Visit {
    /// The serials of the terminals the visit was dispatched for: the
    /// back office's notes written by [`dispatched_serial_note`]. Only notes
    /// stamped by a back-office role count: the server puts back any
    /// phone's claim to another author, so a phone cannot name its own
    /// expected terminal.
    pub fn expected_serials(&self) -> Vec<String> {
        let mut serials: Vec<String> = self
            .notes
            .iter()
            .filter(|note| note.stamp.by.role != crate::actor::Role::Agent)
            .filter_map(|note| note.text.strip_prefix(DISPATCHED_SERIAL))
            .filter_map(|serial| crate::validate::serial(serial.trim()).ok())
            .collect();
        let mut seen = std::collections::BTreeSet::new();
        serials.retain(|serial| seen.insert(serial.clone()));
        serials
    }

    /// Whether an app of schema version `version` may edit this visit: its
    /// edit floor is not above that version.
    pub fn editable_by(&self, version: u64) -> bool {
        self.schema <= version
    }

    /// The checklist edition the visit is completed under: edition 2 for a
    /// visit that records none, and never below it (an edition no app ever
    /// created, which would ask for nothing, counts as edition 2).
    pub fn checklist_edition(&self) -> u64 {
        self.checklist.unwrap_or(2).max(2)
    }

    /// The record of a step, if any.
    pub fn step(&self, id: &str) -> Option<&StepRecord> {
        self.steps.get(id)
    }

    /// The state of a step (pending when never touched); a state a newer
    /// version wrote is kept as written, and counts as neither done nor skipped.
    pub fn step_state(&self, id: &str) -> Open<StepState> {
        self.steps.get(id).map_or(Open::Known(StepState::Pending), |r| r.state.clone())
    }

    /// Photos not removed.
    pub fn current_documents(&self) -> impl Iterator<Item = &DocumentRef> {
        self.documents.iter().filter(|d| d.removed.is_none())
    }

    /// The marks not rubbed out that are drawn on the photo `sha256`.
    pub fn marks_on<'v>(&'v self, sha256: &'v str) -> impl Iterator<Item = &'v Annotation> {
        self.annotations.iter().filter(move |a| a.removed.is_none() && a.photo == sha256)
    }

    /// Faults not withdrawn.
    pub fn current_faults(&self) -> impl Iterator<Item = &Fault> {
        self.faults.iter().filter(|f| f.removed.is_none())
    }

    /// The most recent review, if any.
    pub fn latest_review(&self) -> Option<&Review> {
        self.reviews.iter().max_by_key(|r| r.stamp.at)
    }

    /// Every blob reference the visit holds, with where it is: photos
    /// (removed ones included), fault evidence, the signature image and its
    /// strokes. Text a phone wrote: each must be checked to be a SHA-256
    /// before anything follows it.
    pub fn hash_references(&self) -> Vec<(String, &str)> {
        let mut refs: Vec<(String, &str)> = self
            .documents
            .iter()
            .enumerate()
            .map(|(i, d)| (format!("documents[{i}]"), d.sha256.as_str()))
            .collect();
        for (i, fault) in self.faults.iter().enumerate() {
            for (j, evidence) in fault.evidence.iter().enumerate() {
                refs.push((format!("faults[{i}].evidence[{j}]"), evidence.as_str()));
            }
        }
        if let Some(acceptance) = &self.acceptance {
            refs.push(("acceptance.signature".to_owned(), acceptance.signature.sha256.as_str()));
            refs.push(("acceptance.strokes".to_owned(), acceptance.strokes_sha256.as_str()));
        }
        for (i, handover) in self.handovers.iter().enumerate() {
            if let Some(photo) = &handover.photo {
                refs.push((format!("handovers[{i}].photo"), photo.as_str()));
            }
        }
        if let Some(waiver) = &self.backup_waiver {
            refs.push(("backup_waiver.signature".to_owned(), waiver.signature.sha256.as_str()));
            refs.push(("backup_waiver.strokes".to_owned(), waiver.strokes_sha256.as_str()));
        }
        for (i, mark) in self.annotations.iter().enumerate() {
            refs.push((format!("annotations[{i}].photo"), mark.photo.as_str()));
        }
        refs
    }

    /// Every blob the visit refers to (photos, removed ones included, and the signature).
    pub fn blob_refs(&self) -> Vec<String> {
        let mut refs: Vec<String> = self.documents.iter().map(|d| d.sha256.clone()).collect();
        if let Some(acceptance) = &self.acceptance {
            refs.push(acceptance.signature.sha256.clone());
        }
        if let Some(waiver) = &self.backup_waiver {
            refs.push(waiver.signature.sha256.clone());
        }
        refs.sort();
        refs.dedup();
        refs
    }
}
