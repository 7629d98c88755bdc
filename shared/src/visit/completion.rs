//! The completion rule: what must be recorded before a visit can be completed.
//!
//! A visit completes only when every applicable required step is done or
//! skipped with a reason, every requirement of every done step is met
//! (photos attached, SIM data recorded...), and, where the kind requires it,
//! the merchant's signature exists and still matches the visit.

use serde::Serialize;

use super::acceptance::SignatureCheck;
use super::schema::{Identification, StepState, Visit};
use crate::checklist::{Condition, Need, Requirement, StepTemplate};
use crate::vocab::{ApplicationState, Open};

/// Why a step blocks completion.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StepProblem {
    /// Not worked on yet.
    NotDone,
    /// Skipped without a reason.
    SkippedWithoutReason,
}

/// One thing still missing before completion.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "type")]
pub enum Missing {
    /// A required step is not done.
    Step {
        /// The step id.
        step: &'static str,
        /// The step's zh-CN label.
        label_zh: &'static str,
        /// Why it blocks.
        problem: StepProblem,
    },
    /// A done step's requirement is not met.
    Requirement {
        /// The step id.
        step: &'static str,
        /// What is missing.
        requirement: Requirement,
    },
}

impl Missing {
    /// English words for one missing item.
    pub fn describe(&self) -> String {
        match self {
            Missing::Step { step, problem: StepProblem::NotDone, .. } => format!("step {step} is not done"),
            Missing::Step { step, problem: StepProblem::SkippedWithoutReason, .. } => {
                format!("step {step} was skipped without a reason")
            }
            Missing::Requirement { step, requirement } => format!("step {step} needs {}", requirement.code()),
        }
    }

    /// English words for a list of missing items.
    pub fn describe_all(items: &[Missing]) -> String {
        items.iter().map(Missing::describe).collect::<Vec<_>>().join("; ")
    }
}

/// How one step of a visit stands: the one derivation every screen shows
/// (the phone's checklist, the back office's visit page).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepStatus {
    /// The step as the kind's checklist defines it.
    pub step: &'static StepTemplate,
    /// The state to show: the recorded state while the step applies;
    /// `NotApplicable` when its condition does not hold (whatever was
    /// recorded before the condition changed, since completion ignores it).
    /// A state a newer version wrote is shown as written.
    pub state: Open<StepState>,
    /// Whether the step's condition holds for the visit as recorded.
    pub applies: bool,
    /// The back-office decision an earlier step waits for: until it arrives
    /// this step cannot be done, skipped or signed.
    pub waits_for: Option<Requirement>,
}

/// Every step of the visit's checklist, in order, with how it stands.
pub fn step_statuses(visit: &Visit) -> Vec<StepStatus> {
    visit
        .kind
        .template()
        .steps_in(visit.checklist_edition())
        .map(|step| {
            let applies = applies(visit, step.when);
            let state = if applies {
                visit.step_state(step.id.as_str())
            } else {
                Open::Known(StepState::NotApplicable)
            };
            StepStatus { step, state, applies, waits_for: waiting_for(visit, step.id.as_str()) }
        })
        .collect()
}

/// Whether a step with this condition applies to the visit as recorded.
pub fn applies(visit: &Visit, condition: Condition) -> bool {
    // A code this version does not know satisfies no condition.
    let warranty = visit.repair.warranty.as_ref().and_then(|d| d.value.known());
    match condition {
        Condition::Always => true,
        Condition::Warranty(status) => warranty == Some(status),
        Condition::MerchantPays => warranty.is_some_and(|w| w.merchant_pays()),
        Condition::SimAction(action) => {
            visit.sim.as_ref().and_then(|s| s.action.as_ref()).and_then(|a| a.known()) == Some(action)
        }
    }
}

/// Whether a requirement is met by what the visit records.
pub fn requirement_met(visit: &Visit, requirement: Requirement) -> bool {
    match requirement {
        Requirement::Photo(kind) => visit.current_documents().any(|d| d.kind == kind),
        Requirement::PhotoEither(a, b) => visit.current_documents().any(|d| d.kind == a || d.kind == b),
        Requirement::Signature => SignatureCheck::of(visit) == SignatureCheck::Valid,
        Requirement::TerminalIdentified => visit.terminal.is_some(),
        Requirement::ReplacementSerial => visit.replacement.is_some(),
        Requirement::SimData => visit.sim.is_some(),
        Requirement::SimAction => visit.sim.as_ref().is_some_and(|s| s.action.is_some()),
        // A backup, or the merchant's signed refusal of it.
        Requirement::BackupConfirmation => visit.backup.is_some() || visit.backup_waiver.is_some(),
        Requirement::FaultRecorded => visit.current_faults().next().is_some(),
        Requirement::WarrantyDecision => visit.repair.warranty.is_some(),
        Requirement::RepairPlan => visit.repair.plan.is_some(),
        Requirement::RepairFee => visit.repair.fee_fen.is_some(),
        Requirement::SuspensionCause => visit.reactivation.cause.is_some(),
        Requirement::ApplicationApproved => visit.reactivation.application.as_ref().is_some_and(|a| {
            matches!(a.state.known(), Some(ApplicationState::Approved | ApplicationState::TerminalIssued))
        }),
        Requirement::MerchantNumber => visit.merchant.merchant_number.is_some(),
        Requirement::RegisteredPhone => visit.merchant.phone.is_some(),
        Requirement::TerminalDetails => visit.terminal.as_ref().is_some_and(details_known),
        Requirement::ReplacementDetails => visit.replacement.as_ref().is_some_and(details_known),
        Requirement::ParameterConfig => visit
            .parameters
            .as_ref()
            .is_some_and(|p| p.parameters_downloaded && p.keys_downloaded && !p.terminal_number.is_empty()),
        Requirement::NetworkTest => visit.network_test.as_ref().is_some_and(|t| t.passed),
        Requirement::DataRestored => visit.restore.is_some(),
        Requirement::UnbindReference => visit.deregistration.unbind_reference.is_some(),
        Requirement::SettledBalance => visit.deregistration.settled_balance_fen.is_some(),
        Requirement::FollowUpDate => visit.follow_up.is_some(),
        // The terminal found on site, handed over with a photo of it.
        // The terminal found on site, handed over with a photo of it that
        // is one of the visit's current photos (on the server: one that arrived).
        Requirement::HandoverRecorded => visit.terminal.as_ref().is_some_and(|t| {
            visit.handovers.iter().any(|h| {
                h.serial == t.serial
                    && h.photo.as_ref().is_some_and(|p| visit.current_documents().any(|d| d.sha256 == *p))
            })
        }),
    }
}

/// Whether a terminal's model and production date are recorded.
fn details_known(identification: &Identification) -> bool {
    identification.model.as_deref().is_some_and(|m| !m.trim().is_empty())
        && identification.production_date.is_some()
}

/// The back-office decision this step waits for: a step after one that
/// requires a decision not yet taken (in a reactivation, everything after
/// the application until it is approved) cannot be done, skipped or signed.
pub fn waiting_for(visit: &Visit, step_id: &str) -> Option<Requirement> {
    for step in visit.kind.template().steps_in(visit.checklist_edition()) {
        if step.id.as_str() == step_id {
            return None;
        }
        let open = step.requires.iter().find(|r| r.is_decision() && !requirement_met(visit, **r));
        if let Some(decision) = open {
            return Some(*decision);
        }
    }
    None
}

/// Everything still missing before the visit can be completed, in checklist order.
pub fn missing(visit: &Visit) -> Vec<Missing> {
    let mut gaps = Vec::new();
    let edition = visit.checklist_edition();
    for step in visit.kind.template().steps_in(edition) {
        if !applies(visit, step.when) {
            continue;
        }
        let record = visit.step(step.id.as_str());
        // A state a newer version wrote counts as not done yet: completing
        // on this version needs the step redone in words this version knows.
        let state = record.and_then(|r| r.state.known()).unwrap_or(StepState::Pending);
        match state {
            StepState::Done => {
                for requirement in step.requires_in(edition) {
                    if !requirement_met(visit, requirement) {
                        gaps.push(Missing::Requirement { step: step.id.as_str(), requirement });
                    }
                }
            }
            // A step that may no longer be skipped counts as not done,
            // whatever reason an older app wrote.
            StepState::Skipped if !step.skippable_in(edition) => {
                gaps.push(Missing::Step {
                    step: step.id.as_str(),
                    label_zh: step.zh,
                    problem: StepProblem::NotDone,
                });
            }
            StepState::Skipped if record.and_then(|r| r.reason.as_ref()).is_none() => {
                gaps.push(Missing::Step {
                    step: step.id.as_str(),
                    label_zh: step.zh,
                    problem: StepProblem::SkippedWithoutReason,
                });
            }
            StepState::Skipped => {}
            StepState::Pending | StepState::NotApplicable if step.need == Need::Required => {
                gaps.push(Missing::Step {
                    step: step.id.as_str(),
                    label_zh: step.zh,
                    problem: StepProblem::NotDone,
                });
            }
            StepState::Pending | StepState::NotApplicable => {}
        }
    }
    let template = visit.kind.template();
    if template.requires_signature && !requirement_met(visit, Requirement::Signature) {
        let already = gaps.iter().any(|g| {
            matches!(g, Missing::Requirement { requirement: Requirement::Signature, .. })
                || matches!(g, Missing::Step { step: "acceptance", .. })
        });
        if !already {
            gaps.push(Missing::Requirement { step: "acceptance", requirement: Requirement::Signature });
        }
    }
    gaps
}

/// zh-CN words for what is missing, for the agent's screen.
pub fn describe_zh(item: &Missing) -> String {
    match item {
        Missing::Step { label_zh, problem: StepProblem::NotDone, .. } => format!("未完成：{label_zh}"),
        Missing::Step { label_zh, problem: StepProblem::SkippedWithoutReason, .. } => {
            format!("跳过需填写原因：{label_zh}")
        }
        Missing::Requirement { requirement, .. } => format!("缺少：{}", requirement.zh()),
    }
}
