//! Operations on a visit: every action an agent or the back office takes.
//!
//! Each operation checks who may do it and in which status, changes the
//! typed [`Visit`], appends a history entry and writes it as one automerge
//! change stamped with the actor and the device time from the [`Ctx`]. A
//! refused operation writes nothing.

use super::acceptance::{AcceptanceSummary, SignatureCheck};
use super::completion::{Missing, missing, waiting_for};
use super::document::{DocError, VisitDoc};
use super::schema::*;
use crate::actor::{Actor, Role};
use crate::checklist::{Need, Requirement};
use crate::fault::{FaultCode, Remedy};
use crate::kind::VisitKind;
use crate::status::{TransitionError, VisitEvent, VisitStatus};
use crate::time::{CalendarDate, Timestamp};
use crate::validate::{self, ValidationError};
use crate::vocab::{
    ApplicationState, BackupItem, DocumentKind, IdentificationMethod, NetworkLink, Open, RepairPlan,
    SimAction, SimCarrier, SuspensionCause, Term, WarrantyStatus,
};

/// Who acts, when, and the unique id of this operation. Supplied by the
/// caller: the domain reads no clock and makes no ids.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ctx {
    /// Who acts.
    pub actor: Actor,
    /// Device time of the action.
    pub at: Timestamp,
    /// A unique id for this operation (a UUID); it also names any list item it creates.
    pub op_id: String,
}

impl Ctx {
    /// A context.
    pub fn new(actor: Actor, at: Timestamp, op_id: impl Into<String>) -> Self {
        Ctx { actor, at, op_id: op_id.into() }
    }

    fn stamp(&self) -> Stamp {
        Stamp { by: self.actor.clone(), at: self.at }
    }
}

/// Why an operation was refused.
#[derive(Debug, thiserror::Error)]
pub enum VisitError {
    /// The document could not be read or written.
    #[error(transparent)]
    Document(#[from] DocError),
    /// A value the agent entered is not valid.
    #[error(transparent)]
    Invalid(#[from] ValidationError),
    /// The status does not allow this.
    #[error(transparent)]
    Transition(#[from] TransitionError),
    /// This role may not do this.
    #[error("a {role:?} may not {action}")]
    Forbidden {
        /// The role that tried.
        role: Role,
        /// The refused action.
        action: &'static str,
    },
    /// The visit's status does not allow changing its content.
    #[error("the visit is {status} and can no longer be changed")]
    Locked {
        /// Its status.
        status: VisitStatus,
    },
    /// The step comes after a decision the back office has not taken yet.
    #[error("step {step} waits for the back office: {}", decision.code())]
    WaitsForDecision {
        /// The step.
        step: String,
        /// The decision it waits for.
        decision: Requirement,
    },
    /// The step does not exist in this kind's checklist.
    #[error("{kind} visits have no step {step:?}")]
    UnknownStep {
        /// The visit's kind.
        kind: VisitKind,
        /// The step asked for.
        step: String,
    },
    /// The step cannot be put in this state.
    #[error("step {step} cannot be {state:?}: {why}")]
    StepState {
        /// The step.
        step: String,
        /// The refused state.
        state: StepState,
        /// Why not.
        why: &'static str,
    },
    /// No list item with this id.
    #[error("no {what} with id {id:?}")]
    NotFound {
        /// What was looked for (fault, document).
        what: &'static str,
        /// The id.
        id: String,
    },
    /// A required text was empty.
    #[error("{what} must not be empty")]
    EmptyText {
        /// Which text.
        what: &'static str,
    },
    /// The operation does not fit this kind of visit.
    #[error("{what} does not apply to {kind} visits")]
    WrongKind {
        /// The operation.
        what: &'static str,
        /// The visit's kind.
        kind: VisitKind,
    },
    /// A blob reference is malformed.
    #[error("bad blob reference: {0}")]
    BadBlob(String),
    /// A value that is not text the rules check elsewhere is out of bounds.
    #[error("{what}: {why}")]
    OutOfRange {
        /// Which value.
        what: &'static str,
        /// Why it is refused.
        why: &'static str,
    },
    /// The visit cannot be completed yet; every missing item is listed.
    #[error("the visit cannot be completed yet: {}", Missing::describe_all(.0))]
    Incomplete(Vec<Missing>),
    /// The signature no longer matches the visit, so it cannot be approved.
    #[error("the acceptance signature no longer matches: {}", .0.join(", "))]
    SignatureMismatch(Vec<String>),
}

/// The merchant as entered when creating a visit; identifiers are validated.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MerchantInput {
    /// Shop name.
    pub name: String,
    /// 商户号, optional.
    pub merchant_number: Option<String>,
    /// 终端号, optional.
    pub terminal_number: Option<String>,
    /// 注册手机号, optional.
    pub phone: Option<String>,
    /// Address, optional.
    pub address: Option<String>,
    /// Where the shop is, when the desk knows it (the register or its form).
    pub location: Option<GeoPoint>,
}

impl MerchantInput {
    fn validate(&self) -> Result<Merchant, VisitError> {
        let name = self.name.trim();
        if name.is_empty() {
            return Err(VisitError::EmptyText { what: "merchant name" });
        }
        let optional = |value: &Option<String>, check: fn(&str) -> Result<String, ValidationError>| {
            value.as_deref().filter(|v| !v.trim().is_empty()).map(check).transpose()
        };
        Ok(Merchant {
            name: name.to_owned(),
            merchant_number: optional(&self.merchant_number, validate::merchant_number)?,
            terminal_number: optional(&self.terminal_number, validate::terminal_number)?,
            phone: optional(&self.phone, validate::mobile)?,
            address: self.address.as_deref().map(str::trim).filter(|a| !a.is_empty()).map(str::to_owned),
            location: self.location,
        })
    }
}

/// A photo or image to reference from the visit, as stored in the blob store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlobInfo {
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

impl BlobInfo {
    fn check(&self) -> Result<(), VisitError> {
        let hex_ok =
            self.sha256.len() == 64 && self.sha256.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
        if !hex_ok {
            return Err(VisitError::BadBlob(format!(
                "sha256 {:?} is not 64 lowercase hex digits",
                self.sha256
            )));
        }
        if self.bytes == 0 || self.width == 0 || self.height == 0 {
            return Err(VisitError::BadBlob(format!("{} is empty", self.sha256)));
        }
        if !self.mime.starts_with("image/") {
            return Err(VisitError::BadBlob(format!("{} is {:?}, not an image", self.sha256, self.mime)));
        }
        Ok(())
    }

    fn to_ref(&self) -> BlobRef {
        BlobRef {
            sha256: self.sha256.clone(),
            mime: self.mime.clone(),
            bytes: self.bytes,
            width: self.width,
            height: self.height,
        }
    }
}

/// SIM data as entered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimInput {
    /// ICCID as read or typed.
    pub iccid: String,
    /// Carrier.
    pub carrier: SimCarrier,
    /// Expiry of the data plan.
    pub expiry: CalendarDate,
}

/// A terminal's model, manufacturer and production date as read off its
/// label or NFC tag, else typed or picked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TerminalDetails {
    /// The model (型号).
    pub model: String,
    /// The manufacturer (厂商), when known.
    pub manufacturer: Option<String>,
    /// The production date (生产日期).
    pub production_date: CalendarDate,
}

/// A declined backup's waiver as the merchant signed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WaiverInput {
    /// The signer's name.
    pub signer_name: String,
    /// Why the merchant declined, when they said.
    pub reason: Option<String>,
    /// The rendered signature image.
    pub image: BlobInfo,
    /// SHA-256 of the stroke data, lowercase hex.
    pub strokes_sha256: String,
}

/// The longest model, manufacturer or reference accepted, in characters.
const SHORT_TEXT: usize = 64;

/// Whether `text` is a short free text as [`short_text`] accepts it.
pub(crate) fn is_short_text(text: &str) -> bool {
    short_text(text, "text").is_ok_and(|t| t == text)
}

/// A short free text (a model, a reference): trimmed, not empty, at most
/// [`SHORT_TEXT`] characters and no control characters.
fn short_text(text: &str, what: &'static str) -> Result<String, VisitError> {
    let text = require_text(text, what)?;
    if text.chars().count() > SHORT_TEXT {
        return Err(VisitError::OutOfRange { what, why: "longer than 64 characters" });
    }
    if text.chars().any(char::is_control) {
        return Err(VisitError::OutOfRange { what, why: "holds control characters" });
    }
    Ok(text)
}

fn strokes_hash(strokes_sha256: &str) -> Result<String, VisitError> {
    let ok = strokes_sha256.len() == 64 && strokes_sha256.bytes().all(|b| b.is_ascii_hexdigit());
    if ok {
        Ok(strokes_sha256.to_ascii_lowercase())
    } else {
        Err(VisitError::BadBlob(format!("strokes hash {strokes_sha256:?} is not sha256 hex")))
    }
}

/// A list of backed-up or restored data: not empty, each item once, in order.
fn item_list(items: &[BackupItem], what: &'static str) -> Result<Vec<Open<BackupItem>>, VisitError> {
    if items.is_empty() {
        return Err(VisitError::EmptyText { what });
    }
    let mut items = items.to_vec();
    items.sort();
    items.dedup();
    Ok(items.into_iter().map(Open::from).collect())
}

/// Whether the visit's checklist asks for `requirement` at all.
fn kind_asks(visit: &Visit, requirement: Requirement) -> bool {
    let edition = visit.checklist_edition();
    visit.kind.template().steps_in(edition).any(|s| s.requires_in(edition).any(|r| r == requirement))
}

/// Refuses a record the visit's checklist edition does not ask for: what
/// the merchant signs would differ between the phones working on it.
fn edition_asks(visit: &Visit, requirement: Requirement, what: &'static str) -> Result<(), VisitError> {
    if kind_asks(visit, requirement) { Ok(()) } else { Err(VisitError::WrongKind { what, kind: visit.kind }) }
}

/// The signature as captured: the rendered image and the strokes' hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignatureInput {
    /// The signer's name.
    pub signer_name: String,
    /// The rendered signature image.
    pub image: BlobInfo,
    /// SHA-256 of the stroke data, lowercase hex.
    pub strokes_sha256: String,
    /// The device's signature over the hashes (hex), when the device signs.
    pub device_signature: Option<String>,
}

fn require_text(text: &str, what: &'static str) -> Result<String, VisitError> {
    let text = text.trim();
    if text.is_empty() { Err(VisitError::EmptyText { what }) } else { Ok(text.to_owned()) }
}

fn forbid_unless(ctx: &Ctx, allowed: bool, action: &'static str) -> Result<(), VisitError> {
    if allowed { Ok(()) } else { Err(VisitError::Forbidden { role: ctx.actor.role, action }) }
}

impl VisitDoc {
    /// Creates a visit. An agent creating a visit is assigned to it; the back
    /// office names the assignee.
    pub fn create_visit(
        ctx: &Ctx,
        actor_id: &[u8],
        visit_id: &str,
        kind: VisitKind,
        merchant: &MerchantInput,
        assignee: &str,
    ) -> Result<VisitDoc, VisitError> {
        let visit_id = require_text(visit_id, "visit id")?;
        let assignee = require_text(assignee, "assignee")?;
        if ctx.actor.role == Role::Agent && assignee != ctx.actor.user {
            return Err(VisitError::Forbidden {
                role: Role::Agent,
                action: "assign a visit to someone else",
            });
        }
        // A kind whose checklist asks more than older phones know is
        // created locked to them: they could not complete it.
        let schema = if kind.template().asks_more_in(CHECKLIST_EDITION) {
            EDITABLE_FROM.max(CHECKLIST_EDITION)
        } else {
            EDITABLE_FROM
        };
        let visit = Visit {
            schema,
            written_by: Some(SCHEMA_VERSION),
            id: visit_id,
            kind,
            checklist: Some(CHECKLIST_EDITION),
            status: VisitStatus::Draft,
            merchant: merchant.validate()?,
            created: ctx.stamp(),
            assignment: Assignment { agent: assignee, stamp: ctx.stamp(), schedule: None, brief: None },
            terminal: None,
            replacement: None,
            steps: Default::default(),
            faults: Vec::new(),
            documents: Vec::new(),
            annotations: Vec::new(),
            sim: None,
            backup: None,
            backup_waiver: None,
            parameters: None,
            network_test: None,
            restore: None,
            deregistration: DeregistrationRecord::default(),
            follow_up: None,
            handovers: Vec::new(),
            trip: None,
            repair: RepairRecord::default(),
            reactivation: ReactivationRecord::default(),
            acceptance: None,
            completion: None,
            reviews: Vec::new(),
            notes: Vec::new(),
            history: vec![HistoryEvent {
                id: ctx.op_id.clone(),
                action: "create".into(),
                detail: kind.code().into(),
                stamp: ctx.stamp(),
            }],
        };
        Ok(VisitDoc::create(&visit, actor_id, ctx.at.seconds())?)
    }

    /// Applies `change` to the visit and writes it with a history entry.
    pub(crate) fn apply(
        &mut self,
        ctx: &Ctx,
        action: &'static str,
        change: impl FnOnce(&mut Visit) -> Result<String, VisitError>,
    ) -> Result<Visit, VisitError> {
        // A document this version may only read is refused before any rule
        // about its content, so the refusal says what to do: update the app.
        self.editable()?;
        let mut visit = self.visit()?;
        let detail = change(&mut visit)?;
        visit.history.push(HistoryEvent {
            id: ctx.op_id.clone(),
            action: action.into(),
            detail,
            stamp: ctx.stamp(),
        });
        self.write(&visit, action, ctx.at.seconds())?;
        Ok(visit)
    }

    /// An agent's edit of the visit's content: only the agent role, only while
    /// the status allows; a draft or returned visit is started by the edit.
    fn agent_edit(
        &mut self,
        ctx: &Ctx,
        action: &'static str,
        change: impl FnOnce(&mut Visit) -> Result<String, VisitError>,
    ) -> Result<Visit, VisitError> {
        forbid_unless(ctx, ctx.actor.role == Role::Agent, action)?;
        self.apply(ctx, action, |visit| {
            if !visit.status.is_editable_by_agent() {
                return Err(VisitError::Locked { status: visit.status });
            }
            if matches!(visit.status, VisitStatus::Draft | VisitStatus::Returned) {
                visit.status = visit.status.apply(VisitEvent::Start)?;
            }
            change(visit)
        })
    }

    /// A moment of the agent's way to the merchant, recorded once: the
    /// status stays as it is (a job accepted or on its way is not yet
    /// being worked on). Recording a moment again changes nothing.
    fn trip_edit(
        &mut self,
        ctx: &Ctx,
        action: &'static str,
        change: impl FnOnce(&mut Trip) -> bool,
    ) -> Result<Visit, VisitError> {
        forbid_unless(ctx, ctx.actor.role == Role::Agent, action)?;
        let visit = self.visit()?;
        if !visit.status.is_editable_by_agent() {
            return Err(VisitError::Locked { status: visit.status });
        }
        let mut trip = visit.trip.clone().unwrap_or_default();
        if !change(&mut trip) {
            return Ok(visit);
        }
        self.apply(ctx, action, |visit| {
            visit.trip = Some(trip);
            Ok(String::new())
        })
    }

    /// 已接单: the agent takes the job.
    pub fn accept_job(&mut self, ctx: &Ctx) -> Result<Visit, VisitError> {
        self.trip_edit(ctx, "accept_job", |trip| {
            if trip.accepted.is_some() {
                return false;
            }
            trip.accepted = Some(ctx.stamp());
            true
        })
    }

    /// 出发: the agent sets off (and has taken the job).
    pub fn depart(&mut self, ctx: &Ctx) -> Result<Visit, VisitError> {
        self.trip_edit(ctx, "depart", |trip| {
            if trip.departed.is_some() {
                return false;
            }
            trip.accepted.get_or_insert_with(|| ctx.stamp());
            trip.departed = Some(ctx.stamp());
            true
        })
    }

    /// 到达: the arrival check-in, with where the phone said it was, or why
    /// it could not say (`refused`, `unavailable`, `timeout`); the moments
    /// before it are taken as now when the agent skipped them.
    pub fn arrive(&mut self, ctx: &Ctx, location: Result<GeoPoint, &str>) -> Result<Visit, VisitError> {
        let (location, no_location) = match location {
            Ok(point) => (Some(point), None),
            Err(why) => {
                let why = require_text(why, "why there is no location")?;
                if !matches!(why.as_str(), "refused" | "unavailable" | "timeout") {
                    return Err(VisitError::OutOfRange {
                        what: "why there is no location",
                        why: "is not refused, unavailable or timeout",
                    });
                }
                (None, Some(why))
            }
        };
        self.trip_edit(ctx, "arrive", |trip| {
            if trip.arrived.is_some() {
                return false;
            }
            trip.accepted.get_or_insert_with(|| ctx.stamp());
            trip.departed.get_or_insert_with(|| ctx.stamp());
            trip.arrived = Some(Arrival { stamp: ctx.stamp(), location, no_location });
            true
        })
    }

    /// Corrects the merchant after dispatch (a shop name as on the licence,
    /// a merchant or terminal number read wrong, a registered phone that
    /// changed), validated as at creation. The history entry names the
    /// fields that changed, never their values: the phone is personal, and
    /// the visit page shows it masked where the reader may not see it whole.
    pub fn correct_merchant(&mut self, ctx: &Ctx, merchant: &MerchantInput) -> Result<Visit, VisitError> {
        let mut merchant = merchant.validate()?;
        self.agent_edit(ctx, "correct_merchant", |visit| {
            let old = &visit.merchant;
            // The desk's place of the shop stays unless a new one is given.
            merchant.location = merchant.location.or(old.location);
            let changed: Vec<&str> = [
                ("name", old.name == merchant.name),
                ("merchant_number", old.merchant_number == merchant.merchant_number),
                ("terminal_number", old.terminal_number == merchant.terminal_number),
                ("phone", old.phone == merchant.phone),
                ("address", old.address == merchant.address),
            ]
            .into_iter()
            .filter(|(_, same)| !same)
            .map(|(field, _)| field)
            .collect();
            let detail = changed.join(",");
            visit.merchant = merchant;
            Ok(detail)
        })
    }

    /// Records the terminal's serial and how it was read. `replacement`
    /// records the new terminal of a replacement visit instead.
    pub fn identify_terminal(
        &mut self,
        ctx: &Ctx,
        raw_serial: &str,
        method: IdentificationMethod,
        evidence: Option<String>,
        replacement: bool,
    ) -> Result<Visit, VisitError> {
        let serial = validate::serial(raw_serial)?;
        let action = if replacement { "identify_replacement" } else { "identify_terminal" };
        self.agent_edit(ctx, action, |visit| {
            // The same terminal read again keeps its model and production
            // date; another terminal starts without them.
            let before = if replacement { visit.replacement.as_ref() } else { visit.terminal.as_ref() };
            let kept = before.filter(|b| b.serial == serial);
            let record = Identification {
                serial: serial.clone(),
                method: method.into(),
                evidence,
                stamp: ctx.stamp(),
                model: kept.and_then(|b| b.model.clone()),
                manufacturer: kept.and_then(|b| b.manufacturer.clone()),
                production_date: kept.and_then(|b| b.production_date),
            };
            if replacement {
                if !visit.kind.template().has_replacement && visit.kind != VisitKind::Repair {
                    return Err(VisitError::WrongKind { what: "a replacement terminal", kind: visit.kind });
                }
                visit.replacement = Some(record);
            } else {
                visit.terminal = Some(record);
            }
            Ok(serial)
        })
    }

    /// Sets a checklist step's state. Skipping needs a reason; only optional
    /// steps may be not applicable; unskippable steps (the signature) cannot be skipped.
    pub fn set_step(
        &mut self,
        ctx: &Ctx,
        step_id: &str,
        state: StepState,
        reason: Option<&str>,
        note: Option<&str>,
    ) -> Result<Visit, VisitError> {
        self.agent_edit(ctx, "set_step", |visit| {
            let template = visit.kind.template();
            let edition = visit.checklist_edition();
            let step = template
                .step(step_id)
                .filter(|step| step.in_edition(edition))
                .ok_or_else(|| VisitError::UnknownStep { kind: visit.kind, step: step_id.to_owned() })?;
            let reason = reason.map(str::trim).filter(|r| !r.is_empty()).map(str::to_owned);
            let refuse = |why| Err(VisitError::StepState { step: step_id.to_owned(), state, why });
            match state {
                StepState::Skipped if !step.skippable_in(edition) => {
                    return refuse("this step cannot be skipped");
                }
                StepState::Skipped if reason.is_none() => return refuse("skipping needs a reason"),
                StepState::NotApplicable if step.need == Need::Required => {
                    return refuse("a required step is done or skipped with a reason");
                }
                _ => {}
            }
            if matches!(state, StepState::Done | StepState::Skipped)
                && let Some(decision) = waiting_for(visit, step_id)
            {
                return Err(VisitError::WaitsForDecision { step: step_id.to_owned(), decision });
            }
            let note = note.map(str::trim).filter(|n| !n.is_empty()).map(str::to_owned);
            visit.steps.insert(
                step_id.to_owned(),
                StepRecord { state: state.into(), reason, note, stamp: ctx.stamp() },
            );
            Ok(format!("{step_id}={state:?}"))
        })
    }

    /// Records a fault; its id is the operation id.
    pub fn add_fault(
        &mut self,
        ctx: &Ctx,
        code: FaultCode,
        symptom: Option<&str>,
    ) -> Result<Visit, VisitError> {
        let symptom = symptom.map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned);
        if code.info().symptom_required && symptom.is_none() {
            return Err(VisitError::EmptyText { what: "the symptom of this fault" });
        }
        self.agent_edit(ctx, "add_fault", |visit| {
            visit.faults.push(Fault {
                id: ctx.op_id.clone(),
                code: code.into(),
                symptom,
                evidence: Vec::new(),
                attempts: Vec::new(),
                resolution: None,
                stamp: ctx.stamp(),
                removed: None,
            });
            Ok(code.code().into())
        })
    }

    /// Records something tried against a fault; its id is the operation id.
    pub fn add_attempt(
        &mut self,
        ctx: &Ctx,
        fault_id: &str,
        remedy: Option<Remedy>,
        description: Option<&str>,
        fixed: bool,
    ) -> Result<Visit, VisitError> {
        let description = description.map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned);
        if remedy.is_none() && description.is_none() {
            return Err(VisitError::EmptyText { what: "what was tried" });
        }
        self.agent_edit(ctx, "add_attempt", |visit| {
            let fault = find_fault(visit, fault_id)?;
            fault.attempts.push(Attempt {
                id: ctx.op_id.clone(),
                remedy: remedy.map(Open::from),
                description,
                fixed,
                stamp: ctx.stamp(),
            });
            Ok(fault_id.to_owned())
        })
    }

    /// Adds an evidence photo (by sha256) to a fault.
    pub fn add_fault_evidence(
        &mut self,
        ctx: &Ctx,
        fault_id: &str,
        sha256: &str,
    ) -> Result<Visit, VisitError> {
        self.agent_edit(ctx, "add_fault_evidence", |visit| {
            if !visit.documents.iter().any(|d| d.sha256 == sha256) {
                return Err(VisitError::NotFound { what: "document", id: sha256.to_owned() });
            }
            let fault = find_fault(visit, fault_id)?;
            if !fault.evidence.iter().any(|e| e == sha256) {
                fault.evidence.push(sha256.to_owned());
            }
            Ok(fault_id.to_owned())
        })
    }

    /// Marks a fault resolved, fixed or not.
    pub fn resolve_fault(
        &mut self,
        ctx: &Ctx,
        fault_id: &str,
        fixed: bool,
        note: Option<&str>,
    ) -> Result<Visit, VisitError> {
        self.agent_edit(ctx, "resolve_fault", |visit| {
            let fault = find_fault(visit, fault_id)?;
            let note = note.map(str::trim).filter(|n| !n.is_empty()).map(str::to_owned);
            fault.resolution = Some(FaultResolution { fixed, note, stamp: ctx.stamp() });
            Ok(format!("{fault_id} fixed={fixed}"))
        })
    }

    /// Withdraws a fault recorded by mistake (it stays in the document, marked removed).
    pub fn remove_fault(&mut self, ctx: &Ctx, fault_id: &str) -> Result<Visit, VisitError> {
        self.agent_edit(ctx, "remove_fault", |visit| {
            let fault = find_fault(visit, fault_id)?;
            fault.removed = Some(ctx.stamp());
            Ok(fault_id.to_owned())
        })
    }

    /// Attaches a document photo. Attaching the same bytes again restores a removed one.
    pub fn attach_document(
        &mut self,
        ctx: &Ctx,
        blob: &BlobInfo,
        kind: DocumentKind,
        taken_at: Timestamp,
    ) -> Result<Visit, VisitError> {
        blob.check()?;
        self.agent_edit(ctx, "attach_document", |visit| {
            match visit.documents.iter_mut().find(|d| d.sha256 == blob.sha256) {
                Some(existing) => {
                    existing.kind = kind.into();
                    existing.removed = None;
                }
                None => visit.documents.push(DocumentRef {
                    sha256: blob.sha256.clone(),
                    mime: blob.mime.clone(),
                    bytes: blob.bytes,
                    width: blob.width,
                    height: blob.height,
                    kind: kind.into(),
                    taken_at,
                    stamp: ctx.stamp(),
                    removed: None,
                }),
            }
            Ok(format!("{} {}", kind.code(), &blob.sha256[..12]))
        })
    }

    /// Removes a document photo (it stays in the document, marked removed, and its blob is kept).
    pub fn remove_document(&mut self, ctx: &Ctx, sha256: &str) -> Result<Visit, VisitError> {
        self.agent_edit(ctx, "remove_document", |visit| {
            let document = visit
                .documents
                .iter_mut()
                .find(|d| d.sha256 == sha256)
                .ok_or_else(|| VisitError::NotFound { what: "document", id: sha256.to_owned() })?;
            document.removed = Some(ctx.stamp());
            Ok(sha256.chars().take(12).collect())
        })
    }

    /// Records the SIM data card found in the terminal.
    pub fn set_sim(&mut self, ctx: &Ctx, sim: &SimInput) -> Result<Visit, VisitError> {
        let iccid = validate::iccid(&sim.iccid)?;
        self.agent_edit(ctx, "set_sim", |visit| {
            let (action, new_iccid, new_expiry) = visit
                .sim
                .as_ref()
                .map(|s| (s.action.clone(), s.new_iccid.clone(), s.new_expiry))
                .unwrap_or_default();
            visit.sim = Some(SimRecord {
                iccid: iccid.clone(),
                carrier: sim.carrier.into(),
                expiry: sim.expiry,
                action,
                new_iccid,
                new_expiry,
                stamp: ctx.stamp(),
            });
            Ok(iccid)
        })
    }

    /// Records what was done about the SIM card; a replacement needs the new ICCID.
    pub fn set_sim_action(
        &mut self,
        ctx: &Ctx,
        action: SimAction,
        new_iccid: Option<&str>,
        new_expiry: Option<CalendarDate>,
    ) -> Result<Visit, VisitError> {
        let new_iccid = match (action, new_iccid) {
            (SimAction::Replaced, None) => {
                return Err(VisitError::EmptyText { what: "the new card's ICCID" });
            }
            (_, Some(raw)) => Some(validate::iccid(raw)?),
            (_, None) => None,
        };
        self.agent_edit(ctx, "set_sim_action", |visit| {
            let sim =
                visit.sim.as_mut().ok_or(VisitError::NotFound { what: "SIM record", id: String::new() })?;
            sim.action = Some(action.into());
            sim.new_iccid = new_iccid;
            sim.new_expiry = new_expiry;
            sim.stamp = ctx.stamp();
            Ok(action.code().into())
        })
    }

    /// Confirms the terminal's data was backed up.
    pub fn confirm_backup(
        &mut self,
        ctx: &Ctx,
        items: &[BackupItem],
        note: Option<&str>,
    ) -> Result<Visit, VisitError> {
        let items = item_list(items, "the list of backed-up data")?;
        self.agent_edit(ctx, "confirm_backup", |visit| {
            let note = note.map(str::trim).filter(|n| !n.is_empty()).map(str::to_owned);
            let detail = items.iter().map(|i| i.code()).collect::<Vec<_>>().join(",");
            visit.backup = Some(BackupRecord { items, note, stamp: ctx.stamp() });
            visit.backup_waiver = None;
            Ok(detail)
        })
    }

    /// The merchant declines the backup and signs that they did: it stands
    /// for the backup in the completion rule. Needs the signature image and
    /// the strokes' hash, like the acceptance.
    pub fn waive_backup(&mut self, ctx: &Ctx, waiver: &WaiverInput) -> Result<Visit, VisitError> {
        waiver.image.check()?;
        let signer_name = short_text(&waiver.signer_name, "the signer's name")?;
        let strokes_sha256 = strokes_hash(&waiver.strokes_sha256)?;
        let reason = waiver.reason.as_deref().map(str::trim).filter(|r| !r.is_empty()).map(str::to_owned);
        self.agent_edit(ctx, "waive_backup", |visit| {
            // A waiver stands for the backup from edition 3 on, where the
            // step may no longer be skipped; the two exclude each other.
            if !kind_asks(visit, Requirement::BackupConfirmation) || visit.checklist_edition() < 3 {
                return Err(VisitError::WrongKind { what: "a backup waiver", kind: visit.kind });
            }
            visit.backup = None;
            visit.backup_waiver = Some(BackupWaiver {
                signer_name,
                reason,
                signed_at: ctx.at,
                signature: waiver.image.to_ref(),
                strokes_sha256,
                stamp: ctx.stamp(),
            });
            Ok(waiver.image.sha256.chars().take(12).collect())
        })
    }

    /// Records the model, manufacturer and production date of the visit's
    /// terminal, or of the new one of a replacement, once its serial is
    /// recorded. A production date after the day it is recorded is refused.
    pub fn set_terminal_details(
        &mut self,
        ctx: &Ctx,
        details: &TerminalDetails,
        replacement: bool,
    ) -> Result<Visit, VisitError> {
        let model = short_text(&details.model, "the model")?;
        let manufacturer = match details.manufacturer.as_deref().map(str::trim).filter(|m| !m.is_empty()) {
            Some(text) => Some(short_text(text, "the manufacturer")?),
            None => None,
        };
        if details.production_date > ctx.at.beijing_date() {
            return Err(VisitError::OutOfRange { what: "the production date", why: "is after today" });
        }
        if details.production_date.ymd().0 < 1990 {
            return Err(VisitError::OutOfRange { what: "the production date", why: "is before 1990" });
        }
        let action = if replacement { "set_replacement_details" } else { "set_terminal_details" };
        self.agent_edit(ctx, action, |visit| {
            let target = if replacement { visit.replacement.as_mut() } else { visit.terminal.as_mut() };
            let identification =
                target.ok_or(VisitError::NotFound { what: "identified terminal", id: String::new() })?;
            identification.model = Some(model.clone());
            identification.manufacturer = manufacturer;
            identification.production_date = Some(details.production_date);
            Ok(format!("{model} {}", details.production_date))
        })
    }

    /// Records the parameter set-up: the terminal number configured, and
    /// whether the parameters and the keys were downloaded.
    pub fn record_parameters(
        &mut self,
        ctx: &Ctx,
        terminal_number: &str,
        parameters_downloaded: bool,
        keys_downloaded: bool,
    ) -> Result<Visit, VisitError> {
        let terminal_number = validate::terminal_number(terminal_number)?;
        self.agent_edit(ctx, "record_parameters", |visit| {
            edition_asks(visit, Requirement::ParameterConfig, "a parameter set-up")?;
            visit.parameters = Some(ParameterRecord {
                terminal_number: terminal_number.clone(),
                parameters_downloaded,
                keys_downloaded,
                stamp: ctx.stamp(),
            });
            Ok(format!("{terminal_number} params={parameters_downloaded} keys={keys_downloaded}"))
        })
    }

    /// Records a network test: the link and whether the terminal signed on.
    pub fn record_network_test(
        &mut self,
        ctx: &Ctx,
        link: NetworkLink,
        passed: bool,
        note: Option<&str>,
    ) -> Result<Visit, VisitError> {
        let note = note.map(str::trim).filter(|n| !n.is_empty()).map(str::to_owned);
        self.agent_edit(ctx, "record_network_test", |visit| {
            visit.network_test =
                Some(NetworkTestRecord { link: link.into(), passed, note, stamp: ctx.stamp() });
            Ok(format!("{} passed={passed}", link.code()))
        })
    }

    /// Records what was restored onto the new terminal.
    pub fn record_restore(
        &mut self,
        ctx: &Ctx,
        items: &[BackupItem],
        note: Option<&str>,
    ) -> Result<Visit, VisitError> {
        let items = item_list(items, "the list of restored data")?;
        self.agent_edit(ctx, "record_restore", |visit| {
            edition_asks(visit, Requirement::DataRestored, "a data restore")?;
            let note = note.map(str::trim).filter(|n| !n.is_empty()).map(str::to_owned);
            let detail = items.iter().map(|i| i.code()).collect::<Vec<_>>().join(",");
            visit.restore = Some(RestoreRecord { items, note, stamp: ctx.stamp() });
            Ok(detail)
        })
    }

    /// Records the acquirer's reference for the unbinding (deregistration).
    pub fn set_unbind_reference(&mut self, ctx: &Ctx, reference: &str) -> Result<Visit, VisitError> {
        let reference = short_text(reference, "the unbinding reference")?;
        self.agent_edit(ctx, "set_unbind_reference", |visit| {
            only_kind(visit, VisitKind::Deregistration, "an unbinding reference")?;
            edition_asks(visit, Requirement::UnbindReference, "an unbinding reference")?;
            visit.deregistration.unbind_reference =
                Some(Decided { value: reference.clone(), stamp: ctx.stamp() });
            Ok(reference)
        })
    }

    /// Records the balance settled to the merchant, in fen (deregistration).
    pub fn set_settled_balance(&mut self, ctx: &Ctx, balance_fen: u64) -> Result<Visit, VisitError> {
        // A hundred million yuan: beyond it the number is a typing slip.
        if balance_fen > 10_000_000_000 {
            return Err(VisitError::OutOfRange {
                what: "the settled balance",
                why: "is over 100,000,000 yuan",
            });
        }
        self.agent_edit(ctx, "set_settled_balance", |visit| {
            only_kind(visit, VisitKind::Deregistration, "a settled balance")?;
            edition_asks(visit, Requirement::SettledBalance, "a settled balance")?;
            visit.deregistration.settled_balance_fen =
                Some(Decided { value: balance_fen, stamp: ctx.stamp() });
            Ok(balance_fen.to_string())
        })
    }

    /// Sets the day of the follow-up check: the visit is on the agent's
    /// list that day. The day is today or later, within a year.
    pub fn set_follow_up(
        &mut self,
        ctx: &Ctx,
        on: CalendarDate,
        note: Option<&str>,
    ) -> Result<Visit, VisitError> {
        let today = ctx.at.beijing_date();
        if on < today {
            return Err(VisitError::OutOfRange { what: "the follow-up day", why: "is before today" });
        }
        if on > today.add_years(1) {
            return Err(VisitError::OutOfRange {
                what: "the follow-up day",
                why: "is more than a year away",
            });
        }
        let note = note.map(str::trim).filter(|n| !n.is_empty()).map(str::to_owned);
        self.agent_edit(ctx, "set_follow_up", |visit| {
            visit.follow_up = Some(FollowUp { on, note, stamp: ctx.stamp() });
            Ok(on.to_string())
        })
    }

    /// Records a terminal handed over in the visit: its condition, the seal
    /// or bag it travels under, and the visit's photo of it. The serial is
    /// the visit's terminal or its new one; the photo one of the visit's own
    /// current photos. Recording the same terminal again replaces the record.
    pub fn record_handover(
        &mut self,
        ctx: &Ctx,
        serial: &str,
        condition: &str,
        seal: Option<&str>,
        photo: Option<&str>,
    ) -> Result<Visit, VisitError> {
        let serial = validate::serial(serial)?;
        let condition = short_text(condition, "the terminal's condition")?;
        let seal = match seal.map(str::trim).filter(|s| !s.is_empty()) {
            Some(text) => Some(short_text(text, "the seal or bag number")?),
            None => None,
        };
        self.agent_edit(ctx, "record_handover", |visit| {
            let known =
                [&visit.terminal, &visit.replacement].into_iter().flatten().any(|t| t.serial == serial);
            if !known {
                return Err(VisitError::NotFound { what: "terminal of this visit", id: serial.clone() });
            }
            if let Some(photo) = photo
                && !visit.current_documents().any(|d| d.sha256 == photo)
            {
                return Err(VisitError::NotFound { what: "photo of this visit", id: photo.to_owned() });
            }
            let record = HandoverRecord {
                serial: serial.clone(),
                condition,
                seal,
                photo: photo.map(str::to_owned),
                stamp: ctx.stamp(),
            };
            match visit.handovers.iter_mut().find(|h| h.serial == serial) {
                Some(existing) => *existing = record,
                None => visit.handovers.push(record),
            }
            Ok(serial)
        })
    }

    /// Records the warranty decision of a repair.
    pub fn set_warranty(&mut self, ctx: &Ctx, warranty: WarrantyStatus) -> Result<Visit, VisitError> {
        self.agent_edit(ctx, "set_warranty", |visit| {
            only_kind(visit, VisitKind::Repair, "a warranty decision")?;
            visit.repair.warranty = Some(Decided { value: warranty.into(), stamp: ctx.stamp() });
            Ok(warranty.code().into())
        })
    }

    /// Records the repair plan.
    pub fn set_repair_plan(&mut self, ctx: &Ctx, plan: RepairPlan) -> Result<Visit, VisitError> {
        self.agent_edit(ctx, "set_repair_plan", |visit| {
            only_kind(visit, VisitKind::Repair, "a repair plan")?;
            visit.repair.plan = Some(Decided { value: plan.into(), stamp: ctx.stamp() });
            Ok(plan.code().into())
        })
    }

    /// Records the fee the merchant agreed to pay, in fen.
    pub fn set_repair_fee(&mut self, ctx: &Ctx, fee_fen: u64) -> Result<Visit, VisitError> {
        self.agent_edit(ctx, "set_repair_fee", |visit| {
            only_kind(visit, VisitKind::Repair, "a repair fee")?;
            visit.repair.fee_fen = Some(Decided { value: fee_fen, stamp: ctx.stamp() });
            Ok(fee_fen.to_string())
        })
    }

    /// Records why the terminal was suspended (reactivation).
    pub fn set_suspension_cause(&mut self, ctx: &Ctx, cause: SuspensionCause) -> Result<Visit, VisitError> {
        self.agent_edit(ctx, "set_suspension_cause", |visit| {
            only_kind(visit, VisitKind::Reactivation, "a suspension cause")?;
            visit.reactivation.cause = Some(Decided { value: cause.into(), stamp: ctx.stamp() });
            Ok(cause.code().into())
        })
    }

    /// The agent submits the reactivation application (materials are the visit's photos).
    pub fn submit_application(&mut self, ctx: &Ctx) -> Result<Visit, VisitError> {
        self.agent_edit(ctx, "submit_application", |visit| {
            only_kind(visit, VisitKind::Reactivation, "a reactivation application")?;
            let state = visit.reactivation.application.as_ref().and_then(|a| a.state.known());
            if matches!(state, Some(ApplicationState::Approved | ApplicationState::TerminalIssued)) {
                return Err(VisitError::StepState {
                    step: "application".into(),
                    state: StepState::Done,
                    why: "the application is already approved",
                });
            }
            visit.reactivation.application = Some(Application {
                state: ApplicationState::Submitted.into(),
                reason: None,
                stamp: ctx.stamp(),
            });
            Ok("submitted".into())
        })
    }

    /// The back office decides a reactivation application: approved, rejected
    /// (with a reason) or terminal issued.
    pub fn decide_application(
        &mut self,
        ctx: &Ctx,
        state: ApplicationState,
        reason: Option<&str>,
    ) -> Result<Visit, VisitError> {
        forbid_unless(ctx, ctx.actor.role.is_back_office(), "decide an application")?;
        let reason = reason.map(str::trim).filter(|r| !r.is_empty()).map(str::to_owned);
        if state == ApplicationState::Rejected && reason.is_none() {
            return Err(VisitError::EmptyText { what: "the reason for rejecting" });
        }
        self.apply(ctx, "decide_application", |visit| {
            only_kind(visit, VisitKind::Reactivation, "a reactivation application")?;
            // The authority table: decisions only while the visit is open.
            if visit.status.is_final() {
                return Err(VisitError::Locked { status: visit.status });
            }
            let current = visit.reactivation.application.as_ref().and_then(|a| a.state.known());
            let allowed = matches!(
                (current, state),
                (Some(ApplicationState::Submitted), ApplicationState::Approved | ApplicationState::Rejected)
                    | (Some(ApplicationState::Approved), ApplicationState::TerminalIssued)
            );
            if !allowed {
                return Err(VisitError::StepState {
                    step: "application".into(),
                    state: StepState::Done,
                    why: "the application is not waiting for this decision",
                });
            }
            visit.reactivation.application =
                Some(Application { state: state.into(), reason, stamp: ctx.stamp() });
            Ok(state.code().into())
        })
    }

    /// The merchant signs: the current acceptance summary is frozen into the
    /// visit with its hash, the signature image and the strokes' hash.
    pub fn sign_acceptance(&mut self, ctx: &Ctx, signature: &SignatureInput) -> Result<Visit, VisitError> {
        signature.image.check()?;
        let signer_name = require_text(&signature.signer_name, "the signer's name")?;
        let strokes_ok = signature.strokes_sha256.len() == 64
            && signature.strokes_sha256.bytes().all(|b| b.is_ascii_hexdigit());
        if !strokes_ok {
            return Err(VisitError::BadBlob(format!(
                "strokes hash {:?} is not sha256 hex",
                signature.strokes_sha256
            )));
        }
        self.agent_edit(ctx, "sign_acceptance", |visit| {
            if let Some(decision) = waiting_for(visit, "acceptance") {
                return Err(VisitError::WaitsForDecision { step: "acceptance".into(), decision });
            }
            let summary = AcceptanceSummary::of(visit, ctx.at);
            let summary_json = summary.canonical_json();
            visit.acceptance = Some(Acceptance {
                signer_name,
                signed_at: ctx.at,
                signature: signature.image.to_ref(),
                strokes_sha256: signature.strokes_sha256.to_ascii_lowercase(),
                content_hash: AcceptanceSummary::hash_of(&summary_json),
                summary_json,
                device_signature: signature.device_signature.clone(),
                stamp: ctx.stamp(),
            });
            Ok(signature.image.sha256.chars().take(12).collect())
        })
    }

    /// Completes the visit, or lists exactly what is still missing.
    pub fn complete(&mut self, ctx: &Ctx) -> Result<Visit, VisitError> {
        forbid_unless(ctx, VisitEvent::Complete.allowed_for(ctx.actor.role), "complete a visit")?;
        self.apply(ctx, "complete", |visit| {
            if matches!(visit.status, VisitStatus::Draft | VisitStatus::Returned) {
                visit.status = visit.status.apply(VisitEvent::Start)?;
            }
            let next = visit.status.apply(VisitEvent::Complete)?;
            let gaps = missing(visit);
            if !gaps.is_empty() {
                return Err(VisitError::Incomplete(gaps));
            }
            visit.status = next;
            visit.completion = Some(ctx.stamp());
            Ok(String::new())
        })
    }

    /// The back office approves a completed visit (refused when the signature
    /// no longer matches) or returns it with a note.
    pub fn review(
        &mut self,
        ctx: &Ctx,
        decision: ReviewDecision,
        note: Option<&str>,
    ) -> Result<Visit, VisitError> {
        let event = match decision {
            ReviewDecision::Approve => VisitEvent::Approve,
            ReviewDecision::Return => VisitEvent::Return,
        };
        forbid_unless(ctx, event.allowed_for(ctx.actor.role), "review a visit")?;
        let note = note.map(str::trim).filter(|n| !n.is_empty()).map(str::to_owned);
        if decision == ReviewDecision::Return && note.is_none() {
            return Err(VisitError::EmptyText { what: "the note saying why the visit is returned" });
        }
        self.apply(ctx, "review", |visit| {
            let next = visit.status.apply(event)?;
            if let (ReviewDecision::Approve, SignatureCheck::Mismatch { fields }) =
                (decision, SignatureCheck::of(visit))
            {
                return Err(VisitError::SignatureMismatch(fields));
            }
            visit.status = next;
            visit.reviews.push(Review {
                id: ctx.op_id.clone(),
                decision: decision.into(),
                note,
                stamp: ctx.stamp(),
            });
            Ok(format!("{decision:?}"))
        })
    }

    /// The back office cancels the visit.
    pub fn cancel(&mut self, ctx: &Ctx, reason: &str) -> Result<Visit, VisitError> {
        forbid_unless(ctx, VisitEvent::Cancel.allowed_for(ctx.actor.role), "cancel a visit")?;
        let reason = require_text(reason, "the reason for cancelling")?;
        self.apply(ctx, "cancel", |visit| {
            visit.status = visit.status.apply(VisitEvent::Cancel)?;
            visit.notes.push(Note { id: ctx.op_id.clone(), text: reason.clone(), stamp: ctx.stamp() });
            Ok(reason)
        })
    }

    /// The back office assigns the visit to an agent.
    pub fn assign(&mut self, ctx: &Ctx, agent: &str) -> Result<Visit, VisitError> {
        forbid_unless(ctx, ctx.actor.role.is_back_office(), "assign a visit")?;
        let agent = require_text(agent, "the agent")?;
        self.apply(ctx, "assign", |visit| {
            if visit.status.is_final() {
                return Err(VisitError::Locked { status: visit.status });
            }
            // A visit given to another agent keeps the day it was planned
            // for, and the brief until the server makes a newer one.
            let schedule = visit.assignment.schedule.take();
            let brief = visit.assignment.brief.take();
            visit.assignment = Assignment { agent: agent.clone(), stamp: ctx.stamp(), schedule, brief };
            Ok(agent)
        })
    }

    /// The back office plans the visit for a day and window, or takes the
    /// plan away (`None`). The window's ends may each be open; when both
    /// are given the window must not end before it starts.
    pub fn schedule(&mut self, ctx: &Ctx, schedule: Option<Schedule>) -> Result<Visit, VisitError> {
        forbid_unless(ctx, ctx.actor.role == Role::Admin, "plan a visit")?;
        if schedule.as_ref().is_some_and(Schedule::ends_before_it_starts) {
            return Err(VisitError::OutOfRange { what: "the time window", why: "it ends before it starts" });
        }
        self.apply(ctx, "schedule", |visit| {
            if visit.status.is_final() {
                return Err(VisitError::Locked { status: visit.status });
            }
            let detail = schedule.as_ref().map(Schedule::words).unwrap_or_default();
            visit.assignment.schedule = schedule;
            Ok(detail)
        })
    }

    /// The back office gives the job what the register knows of the
    /// merchant's terminals (made by the server at dispatch), or takes it
    /// away; a brief over the bounds ([`BRIEF_TERMINALS`], [`BRIEF_VISITS`])
    /// is refused.
    pub fn brief(&mut self, ctx: &Ctx, brief: Option<SiteBrief>) -> Result<Visit, VisitError> {
        forbid_unless(ctx, ctx.actor.role == Role::Admin, "brief a visit")?;
        if let Some(brief) = &brief
            && (brief.terminals.len() > BRIEF_TERMINALS
                || brief.terminals.iter().any(|t| t.visits.len() > BRIEF_VISITS))
        {
            return Err(VisitError::OutOfRange { what: "the terminal brief", why: "it names too many" });
        }
        self.apply(ctx, "brief", |visit| {
            if visit.status.is_final() {
                return Err(VisitError::Locked { status: visit.status });
            }
            let detail = brief.as_ref().map(|b| b.terminals.len().to_string()).unwrap_or_default();
            visit.assignment.brief = brief;
            Ok(detail)
        })
    }

    /// The agent draws a mark over a photo of the visit: an arrow, a circle
    /// or a short text, kept beside the photo (the photo stays as taken).
    /// Points are thousandths of the photo's width and height (0 to 1000).
    pub fn annotate(
        &mut self,
        ctx: &Ctx,
        photo: &str,
        shape: MarkShape,
        from: MarkPoint,
        to: MarkPoint,
        text: Option<&str>,
    ) -> Result<Visit, VisitError> {
        if [from, to].iter().any(|p| p.x > 1000 || p.y > 1000) {
            return Err(VisitError::OutOfRange { what: "the mark", why: "it is outside the photo" });
        }
        let text = text.map(str::trim).filter(|t| !t.is_empty()).map(str::to_owned);
        let text = match (shape, text) {
            (MarkShape::Text, None) => return Err(VisitError::EmptyText { what: "the mark's text" }),
            (MarkShape::Text, Some(t)) if t.chars().count() > MARK_TEXT_CHARS => {
                return Err(VisitError::OutOfRange { what: "the mark's text", why: "it is too long" });
            }
            (MarkShape::Text, text) => text,
            (_, _) => None,
        };
        self.agent_edit(ctx, "annotate", |visit| {
            if !visit.current_documents().any(|d| d.sha256 == photo) {
                return Err(VisitError::NotFound { what: "document", id: photo.to_owned() });
            }
            if visit.annotations.len() >= MAX_ANNOTATIONS {
                return Err(VisitError::OutOfRange { what: "the marks", why: "the visit holds too many" });
            }
            visit.annotations.push(Annotation {
                id: ctx.op_id.clone(),
                photo: photo.to_owned(),
                shape: shape.into(),
                from,
                to,
                text,
                stamp: ctx.stamp(),
                removed: None,
            });
            Ok(format!("{} {}", shape.code(), photo.chars().take(12).collect::<String>()))
        })
    }

    /// The agent rubs out a mark (it stays in the document, marked removed).
    pub fn rub_out(&mut self, ctx: &Ctx, mark_id: &str) -> Result<Visit, VisitError> {
        self.agent_edit(ctx, "rub_out", |visit| {
            let mark = visit
                .annotations
                .iter_mut()
                .find(|a| a.id == mark_id && a.removed.is_none())
                .ok_or_else(|| VisitError::NotFound { what: "mark", id: mark_id.to_owned() })?;
            mark.removed = Some(ctx.stamp());
            Ok(mark_id.to_owned())
        })
    }

    /// Anyone adds a free note, in any status.
    pub fn add_note(&mut self, ctx: &Ctx, text: &str) -> Result<Visit, VisitError> {
        let text = require_text(text, "the note")?;
        self.apply(ctx, "add_note", |visit| {
            visit.notes.push(Note { id: ctx.op_id.clone(), text, stamp: ctx.stamp() });
            Ok(String::new())
        })
    }
}

fn find_fault<'v>(visit: &'v mut Visit, fault_id: &str) -> Result<&'v mut Fault, VisitError> {
    visit
        .faults
        .iter_mut()
        .find(|f| f.id == fault_id)
        .ok_or_else(|| VisitError::NotFound { what: "fault", id: fault_id.to_owned() })
}

fn only_kind(visit: &Visit, kind: VisitKind, what: &'static str) -> Result<(), VisitError> {
    if visit.kind == kind { Ok(()) } else { Err(VisitError::WrongKind { what, kind: visit.kind }) }
}
