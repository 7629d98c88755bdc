//! How to do what a checklist step requires: the one rule that turns a
//! [`Requirement`] into the document operations that meet it.
//!
//! The domain's tests, the server's demo fleet and the sync benchmark's
//! workload all build visits that get through the completion rule. Each
//! used to decide on its own what a photo requirement, a fault or an
//! approved application takes; here it is decided once:
//!
//! - a requirement the visit already meets ([`requirement_met`]) needs
//!   nothing, so satisfying is idempotent;
//! - a requirement brings what it depends on: the SIM card's action needs
//!   the card recorded first, a terminal's model and production date its
//!   serial, an approval needs the application submitted
//!   first (the approval is the back office's, [`Operation::by_back_office`]);
//! - a fault is recorded with what was tried, which is the fault's
//!   recommended on-site steps in their order (the appendix of common
//!   problems prescribes that order); when something was tried the fault is
//!   resolved, fixed exactly when the last thing tried fixed it;
//! - a renewed SIM card runs a year past the expiry recorded;
//! - the backed-up data is what the kind's step names (a replacement backs
//!   up settlement reports, transaction records and settlement slips; a
//!   deregistration, settlement reports and transaction records).
//!
//! What the domain cannot know comes from the caller: the free choices of
//! the visit through [`Choices`] (which fault, which warranty, the serial
//! on the label...), asked only when the rule needs them and in a fixed
//! order, and the photo and the signature through [`Evidence`] when the
//! operations are applied. Time comes in with the [`Ctx`] of each
//! operation.

use super::completion::requirement_met;
use super::document::VisitDoc;
use super::ops::{BlobInfo, Ctx, SignatureInput, SimInput, TerminalDetails, VisitError, WaiverInput};
use super::schema::Visit;
use crate::checklist::Requirement;
use crate::fault::{FaultCode, Remedy};
use crate::kind::VisitKind;
use crate::time::{CalendarDate, Timestamp};
use crate::vocab::{
    ApplicationState, BackupItem, DocumentKind, IdentificationMethod, NetworkLink, RepairPlan, SimAction,
    SuspensionCause, WarrantyStatus,
};

/// One operation on a visit document, as the rule asks for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Operation {
    /// Attach a photo of this kind of document; the photo is the caller's
    /// ([`Evidence::photo`]).
    AttachPhoto(DocumentKind),
    /// The merchant signs the acceptance; the signature is the caller's
    /// ([`Evidence::signature`]).
    Sign,
    /// Record a terminal's serial: the visit's terminal, or the new one of
    /// a replacement.
    Identify {
        /// The serial as read.
        serial: String,
        /// How it was read.
        method: IdentificationMethod,
        /// The hash of what it was read from, when kept.
        evidence: Option<String>,
        /// Whether this is the new terminal of a replacement.
        replacement: bool,
    },
    /// Record the SIM card found in the terminal.
    SetSim(SimInput),
    /// Record what was done with the SIM card.
    SetSimAction {
        /// Renewed, replaced or moved to a shared plan.
        action: SimAction,
        /// The new card's ICCID, for a replacement.
        new_iccid: Option<String>,
        /// The new expiry, when known.
        new_expiry: Option<CalendarDate>,
    },
    /// Record a terminal's model, manufacturer and production date.
    SetDetails {
        /// What the label says.
        details: TerminalDetails,
        /// Whether this is the new terminal of a replacement.
        replacement: bool,
    },
    /// Record the parameter set-up.
    RecordParameters {
        /// The terminal number configured.
        terminal_number: String,
    },
    /// Record a passed network test.
    RecordNetworkTest(NetworkLink),
    /// Record what was restored onto the new terminal.
    RecordRestore(Vec<BackupItem>),
    /// Record the acquirer's unbinding reference.
    SetUnbindReference(String),
    /// Record the settled balance, in fen.
    SetSettledBalance(u64),
    /// Set the follow-up day, this many days after the operation's day.
    SetFollowUp {
        /// Days from the day it is set.
        days: u16,
    },
    /// Record the hand-over of the visit's terminal with the visit's last
    /// photo of a terminal.
    RecordHandover {
        /// Its condition.
        condition: String,
        /// The seal or bag number.
        seal: Option<String>,
    },
    /// The merchant declines the backup and signs that they did; the
    /// signature is the caller's ([`Evidence::signature`]).
    WaiveBackup {
        /// Why, in the merchant's words.
        reason: Option<String>,
    },
    /// Confirm the terminal's data was backed up.
    ConfirmBackup {
        /// What was backed up.
        items: Vec<BackupItem>,
        /// The agent's note.
        note: Option<String>,
    },
    /// Record a fault.
    AddFault {
        /// The fault.
        code: FaultCode,
        /// The symptom in the agent's words.
        symptom: Option<String>,
    },
    /// Record something tried against the fault recorded last.
    TryRemedy {
        /// The on-site step tried.
        remedy: Remedy,
        /// The agent's note.
        note: Option<String>,
        /// Whether it fixed the fault.
        fixed: bool,
    },
    /// Resolve the fault recorded last.
    ResolveFault {
        /// Whether the fault was fixed on site.
        fixed: bool,
        /// The agent's note.
        note: Option<String>,
    },
    /// Record the warranty decision.
    SetWarranty(WarrantyStatus),
    /// Record the repair plan.
    SetRepairPlan(RepairPlan),
    /// Record the fee the merchant agreed to, in fen.
    SetRepairFee(u64),
    /// Record why the terminal was suspended.
    SetSuspensionCause(SuspensionCause),
    /// Submit the reactivation application.
    SubmitApplication,
    /// The back office approves the reactivation application.
    ApproveApplication,
}

impl Operation {
    /// Whether the back office does this operation rather than the agent:
    /// its [`Ctx`] must carry a back-office actor.
    #[must_use]
    pub fn by_back_office(&self) -> bool {
        matches!(self, Operation::ApproveApplication)
    }
}

/// A serial as the agent read it off a terminal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identification {
    /// The serial as read.
    pub serial: String,
    /// How it was read.
    pub method: IdentificationMethod,
    /// The hash of what it was read from (an NFC dump, a label photo), when kept.
    pub evidence: Option<String>,
}

/// The choices a visit leaves free: what the agent found on site and what
/// they typed. The rule asks for each only when it needs it, in the order
/// its operations come in.
pub trait Choices {
    /// The serial of the visit's terminal.
    fn terminal(&mut self) -> Identification;
    /// The serial of a replacement's new terminal.
    fn replacement(&mut self) -> Identification;
    /// The SIM card found in the terminal.
    fn sim(&mut self) -> SimInput;
    /// The note on the backup.
    fn backup_note(&mut self) -> Option<String>;
    /// The fault found and its symptom.
    fn fault(&mut self) -> (FaultCode, Option<String>);
    /// How many of the fault's `recommended` on-site steps were tried.
    fn remedies_tried(&mut self, recommended: usize) -> usize;
    /// The note on one thing tried.
    fn attempt_note(&mut self) -> Option<String>;
    /// Whether the last thing tried fixed the fault.
    fn fixed_on_site(&mut self) -> bool;
    /// The note on the fault's resolution.
    fn resolution_note(&mut self) -> Option<String>;
    /// The warranty status decided.
    fn warranty(&mut self) -> WarrantyStatus;
    /// The repair plan decided.
    fn repair_plan(&mut self) -> RepairPlan;
    /// The fee agreed, in fen.
    fn repair_fee(&mut self) -> u64;
    /// Why the terminal was suspended.
    fn suspension_cause(&mut self) -> SuspensionCause;
    /// The model, manufacturer and production date on a terminal's label:
    /// the visit's terminal, or the new one of a replacement.
    fn details(&mut self, replacement: bool) -> TerminalDetails;
    /// The terminal number configured, when the merchant's is not recorded.
    fn terminal_number(&mut self) -> String;
    /// The link the network test used.
    fn network_link(&mut self) -> NetworkLink;
    /// Whether the merchant declines the backup, and why.
    fn backup_declined(&mut self) -> Option<Option<String>>;
    /// The acquirer's unbinding reference.
    fn unbind_reference(&mut self) -> String;
    /// The balance settled to the merchant, in fen.
    fn settled_balance(&mut self) -> u64;
    /// Days from the visit to its follow-up check.
    fn follow_up_days(&mut self) -> u16;
    /// The condition of a terminal taken back, and the seal or bag number.
    fn handover(&mut self) -> (String, Option<String>);
}

/// What only the caller holds when the operations are applied to a
/// document: the photo taken and the merchant's signature.
pub trait Evidence {
    /// The stored photo of a document of this kind.
    fn photo(&mut self, kind: DocumentKind) -> BlobInfo;
    /// The merchant's signature over `visit` as it stands at `at`.
    fn signature(&mut self, visit: &Visit, at: Timestamp) -> SignatureInput;
}

/// The operations that meet `requirement` on `visit`, in order; none when
/// it is met already.
///
/// The merchant number and the registered phone are recorded when the
/// visit is created and no operation records them later: when missing they
/// stay missing, and the completion rule says so.
pub fn operations(visit: &Visit, requirement: Requirement, choices: &mut dyn Choices) -> Vec<Operation> {
    if requirement_met(visit, requirement) {
        return Vec::new();
    }
    match requirement {
        Requirement::Photo(kind) | Requirement::PhotoEither(kind, _) => vec![Operation::AttachPhoto(kind)],
        Requirement::Signature => vec![Operation::Sign],
        Requirement::TerminalIdentified => vec![identify(choices.terminal(), false)],
        Requirement::ReplacementSerial => vec![identify(choices.replacement(), true)],
        Requirement::SimData => vec![Operation::SetSim(choices.sim())],
        Requirement::SimAction => {
            let (mut operations, expiry) = match &visit.sim {
                Some(sim) => (Vec::new(), sim.expiry),
                None => {
                    let sim = choices.sim();
                    let expiry = sim.expiry;
                    (vec![Operation::SetSim(sim)], expiry)
                }
            };
            operations.push(Operation::SetSimAction {
                action: SimAction::Renewed,
                new_iccid: None,
                new_expiry: Some(expiry.add_years(1)),
            });
            operations
        }
        Requirement::BackupConfirmation => match choices.backup_declined() {
            Some(reason) => vec![Operation::WaiveBackup { reason }],
            None => vec![Operation::ConfirmBackup {
                items: backup_items(visit.kind).to_vec(),
                note: choices.backup_note(),
            }],
        },
        // The details are of an identified terminal: identify it first.
        Requirement::TerminalDetails => {
            let mut operations = Vec::new();
            if visit.terminal.is_none() {
                operations.push(identify(choices.terminal(), false));
            }
            operations.push(Operation::SetDetails { details: choices.details(false), replacement: false });
            operations
        }
        Requirement::ReplacementDetails => {
            let mut operations = Vec::new();
            if visit.replacement.is_none() {
                operations.push(identify(choices.replacement(), true));
            }
            operations.push(Operation::SetDetails { details: choices.details(true), replacement: true });
            operations
        }
        Requirement::ParameterConfig => {
            let terminal_number =
                visit.merchant.terminal_number.clone().unwrap_or_else(|| choices.terminal_number());
            vec![Operation::RecordParameters { terminal_number }]
        }
        Requirement::NetworkTest => vec![Operation::RecordNetworkTest(choices.network_link())],
        // What was backed up is what is restored; with no backup (the
        // merchant declined) what the kind's backup step names.
        Requirement::DataRestored => {
            let backed_up: Vec<BackupItem> =
                visit.backup.iter().flat_map(|b| b.items.iter().filter_map(|i| i.known())).collect();
            let items = if backed_up.is_empty() { backup_items(visit.kind).to_vec() } else { backed_up };
            vec![Operation::RecordRestore(items)]
        }
        Requirement::UnbindReference => vec![Operation::SetUnbindReference(choices.unbind_reference())],
        Requirement::SettledBalance => vec![Operation::SetSettledBalance(choices.settled_balance())],
        Requirement::FollowUpDate => vec![Operation::SetFollowUp { days: choices.follow_up_days() }],
        // A hand-over is of the identified terminal, with a photo of it.
        Requirement::HandoverRecorded => {
            let mut operations = Vec::new();
            if visit.terminal.is_none() {
                operations.push(identify(choices.terminal(), false));
            }
            if !visit.current_documents().any(|d| d.kind == DocumentKind::TerminalPhoto) {
                operations.push(Operation::AttachPhoto(DocumentKind::TerminalPhoto));
            }
            let (condition, seal) = choices.handover();
            operations.push(Operation::RecordHandover { condition, seal });
            operations
        }
        Requirement::FaultRecorded => fault(choices),
        Requirement::WarrantyDecision => vec![Operation::SetWarranty(choices.warranty())],
        Requirement::RepairPlan => vec![Operation::SetRepairPlan(choices.repair_plan())],
        Requirement::RepairFee => vec![Operation::SetRepairFee(choices.repair_fee())],
        Requirement::SuspensionCause => vec![Operation::SetSuspensionCause(choices.suspension_cause())],
        Requirement::ApplicationApproved => {
            let submitted = visit
                .reactivation
                .application
                .as_ref()
                .is_some_and(|a| a.state == ApplicationState::Submitted);
            if submitted {
                vec![Operation::ApproveApplication]
            } else {
                vec![Operation::SubmitApplication, Operation::ApproveApplication]
            }
        }
        Requirement::MerchantNumber | Requirement::RegisteredPhone => Vec::new(),
    }
}

/// The operations that record one fault: the fault, the first of its
/// recommended on-site steps that were tried, in order, and, when something
/// was tried, its resolution. Also what a visit with more than the one
/// fault its checklist requires records for each further fault.
pub fn fault(choices: &mut dyn Choices) -> Vec<Operation> {
    let (code, symptom) = choices.fault();
    let recommended = code.recommended_remedies();
    let tried = choices.remedies_tried(recommended.len()).min(recommended.len());
    let mut operations = vec![Operation::AddFault { code, symptom }];
    let mut fixed = false;
    for (n, remedy) in recommended.iter().take(tried).enumerate() {
        let note = choices.attempt_note();
        fixed = n + 1 == tried && choices.fixed_on_site();
        operations.push(Operation::TryRemedy { remedy: *remedy, note, fixed });
    }
    if tried > 0 {
        operations.push(Operation::ResolveFault { fixed, note: choices.resolution_note() });
    }
    operations
}

/// What a kind's backup step names.
fn backup_items(kind: VisitKind) -> &'static [BackupItem] {
    match kind {
        VisitKind::Replacement => {
            &[BackupItem::DailySettlementReports, BackupItem::TransactionRecords, BackupItem::SettlementSlips]
        }
        _ => &[BackupItem::DailySettlementReports, BackupItem::TransactionRecords],
    }
}

fn identify(identification: Identification, replacement: bool) -> Operation {
    let Identification { serial, method, evidence } = identification;
    Operation::Identify { serial, method, evidence, replacement }
}

/// Applies one operation to a document with `ctx` (a back-office actor's
/// for [`Operation::by_back_office`]), taking the photo and the signature
/// from `evidence`. A photo is taken when it is attached (`ctx.at`).
///
/// # Errors
///
/// The operation's own refusal ([`VisitError`]); a remedy or a resolution
/// with no fault recorded before it is [`VisitError::NotFound`].
pub fn apply(
    doc: &mut VisitDoc,
    ctx: &Ctx,
    operation: &Operation,
    evidence: &mut dyn Evidence,
) -> Result<Visit, VisitError> {
    match operation {
        Operation::AttachPhoto(kind) => {
            let photo = evidence.photo(*kind);
            doc.attach_document(ctx, &photo, *kind, ctx.at)
        }
        Operation::Sign => {
            let visit = doc.visit()?;
            let signature = evidence.signature(&visit, ctx.at);
            doc.sign_acceptance(ctx, &signature)
        }
        Operation::Identify { serial, method, evidence, replacement } => {
            doc.identify_terminal(ctx, serial, *method, evidence.clone(), *replacement)
        }
        Operation::SetSim(sim) => doc.set_sim(ctx, sim),
        Operation::SetSimAction { action, new_iccid, new_expiry } => {
            doc.set_sim_action(ctx, *action, new_iccid.as_deref(), *new_expiry)
        }
        Operation::ConfirmBackup { items, note } => doc.confirm_backup(ctx, items, note.as_deref()),
        Operation::SetDetails { details, replacement } => {
            doc.set_terminal_details(ctx, details, *replacement)
        }
        Operation::RecordParameters { terminal_number } => {
            doc.record_parameters(ctx, terminal_number, true, true)
        }
        Operation::RecordNetworkTest(link) => doc.record_network_test(ctx, *link, true, None),
        Operation::RecordRestore(items) => doc.record_restore(ctx, items, None),
        Operation::SetUnbindReference(reference) => doc.set_unbind_reference(ctx, reference),
        Operation::SetSettledBalance(fen) => doc.set_settled_balance(ctx, *fen),
        Operation::SetFollowUp { days } => {
            doc.set_follow_up(ctx, ctx.at.beijing_date().add_days(i64::from(*days)), None)
        }
        Operation::RecordHandover { condition, seal } => {
            let visit = doc.visit()?;
            let serial = visit
                .terminal
                .as_ref()
                .map(|t| t.serial.clone())
                .ok_or(VisitError::NotFound { what: "identified terminal", id: String::new() })?;
            let photo = visit
                .current_documents()
                .filter(|d| d.kind == DocumentKind::TerminalPhoto)
                .last()
                .map(|d| d.sha256.clone());
            doc.record_handover(ctx, &serial, condition, seal.as_deref(), photo.as_deref())
        }
        Operation::WaiveBackup { reason } => {
            let visit = doc.visit()?;
            let signature = evidence.signature(&visit, ctx.at);
            let waiver = WaiverInput {
                signer_name: signature.signer_name,
                reason: reason.clone(),
                image: signature.image,
                strokes_sha256: signature.strokes_sha256,
            };
            doc.waive_backup(ctx, &waiver)
        }
        Operation::AddFault { code, symptom } => doc.add_fault(ctx, *code, symptom.as_deref()),
        Operation::TryRemedy { remedy, note, fixed } => {
            let fault = last_fault(doc)?;
            doc.add_attempt(ctx, &fault, Some(*remedy), note.as_deref(), *fixed)
        }
        Operation::ResolveFault { fixed, note } => {
            let fault = last_fault(doc)?;
            doc.resolve_fault(ctx, &fault, *fixed, note.as_deref())
        }
        Operation::SetWarranty(warranty) => doc.set_warranty(ctx, *warranty),
        Operation::SetRepairPlan(plan) => doc.set_repair_plan(ctx, *plan),
        Operation::SetRepairFee(fee_fen) => doc.set_repair_fee(ctx, *fee_fen),
        Operation::SetSuspensionCause(cause) => doc.set_suspension_cause(ctx, *cause),
        Operation::SubmitApplication => doc.submit_application(ctx),
        Operation::ApproveApplication => doc.decide_application(ctx, ApplicationState::Approved, None),
    }
}

/// The id of the fault recorded last that is not removed.
fn last_fault(doc: &VisitDoc) -> Result<String, VisitError> {
    let visit = doc.visit()?;
    visit
        .current_faults()
        .last()
        .map(|fault| fault.id.clone())
        .ok_or(VisitError::NotFound { what: "fault", id: String::new() })
}
