//! What an approved visit does to the terminals it touched, and so to the
//! terminal register: the lifecycle events (through the state machine in
//! [`crate::lifecycle`]), the merchant a terminal is bound to, its SIM card,
//! the day it entered service and the day it was last inspected.
//!
//! This is the one home of those rules. The server reads what the register
//! holds of the visit's terminals ([`Registered`]), asks [`register_plan`]
//! (or [`application_plan`] when a reactivation application is approved) and
//! writes the plan it gets, with the decision, in one transaction. A plan
//! names the state each terminal was in when it was made, so the store can
//! refuse to write it over a register that changed in between.
//!
//! A terminal the register does not know is created from the visit, in the
//! state the visit's kind presumes it was found in (in stock for a terminal
//! being installed, suspended for a reactivation, otherwise in service at
//! the visit's merchant). A register that binds a visited terminal to
//! another merchant is a [`MerchantConflict`]: the plan names it and the
//! reviewer decides, rather than the visit silently overwriting it.

use std::collections::BTreeMap;

use serde::Serialize;

use super::schema::Visit;
use crate::kind::VisitKind;
use crate::lifecycle::{LifecycleError, TerminalEvent, TerminalState};
use crate::time::{CalendarDate, Timestamp};
use crate::vocab::{ApplicationState, RepairPlan, SimAction, Term, WarrantyStatus};

/// One lifecycle event for one terminal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TerminalEffect {
    /// The terminal's serial.
    pub serial: String,
    /// What happens to it.
    pub event: TerminalEvent,
}

/// The lifecycle events a visit causes, in the order they apply.
pub fn terminal_effects(visit: &Visit) -> Vec<TerminalEffect> {
    use TerminalEvent as E;
    let mut effects = Vec::new();
    let mut push = |serial: Option<&String>, events: &[TerminalEvent]| {
        if let Some(serial) = serial {
            effects.extend(events.iter().map(|e| TerminalEffect { serial: serial.clone(), event: *e }));
        }
    };
    let old = visit.terminal.as_ref().map(|t| &t.serial);
    let new = visit.replacement.as_ref().map(|t| &t.serial);
    match visit.kind {
        VisitKind::Installation => push(old, &[E::Install]),
        VisitKind::Replacement => {
            push(old, &[E::Recycle]);
            push(new, &[E::Install]);
        }
        VisitKind::Repair => {
            // A decision this version does not know moves no terminal here.
            let warranty = visit.repair.warranty.as_ref().and_then(|d| d.value.known());
            let plan = visit.repair.plan.as_ref().and_then(|d| d.value.known());
            match (warranty, plan) {
                // A lost terminal replaced: the new one is in service.
                (Some(WarrantyStatus::Lost), Some(RepairPlan::Replaced)) => {
                    push(old, &[E::ReportLost]);
                    push(new, &[E::Install]);
                }
                (Some(WarrantyStatus::Lost), _) => push(old, &[E::ReportLost]),
                (_, Some(RepairPlan::FixedOnSite)) => push(old, &[E::ReportFault, E::Repaired]),
                (_, Some(RepairPlan::SentForRepair)) => push(old, &[E::ReportFault, E::SendForRepair]),
                (_, Some(RepairPlan::Replaced)) => {
                    push(old, &[E::ReportFault, E::Recycle]);
                    push(new, &[E::Install]);
                }
                (_, None) => push(old, &[E::ReportFault]),
            }
        }
        // Issued when the application was approved (the plan passes over
        // the issue when the register already says so), in service now.
        VisitKind::Reactivation if application_approved(visit) => push(old, &[E::Issue, E::Reactivate]),
        VisitKind::Reactivation => {}
        VisitKind::Deregistration => push(old, &[E::Deregister, E::Recycle]),
        VisitKind::SimRenewal | VisitKind::Inspection => {}
    }
    effects
}

/// Whether the visit puts a new terminal in service, whose serial the agent
/// records: a replacement, and a repair whose plan is to replace the
/// terminal. The app offers the new terminal's identification exactly then.
pub fn takes_new_terminal(visit: &Visit) -> bool {
    visit.kind.template().has_replacement
        || visit.repair.plan.as_ref().and_then(|d| d.value.known()) == Some(RepairPlan::Replaced)
}

/// Whether the visit's reactivation application was approved (the terminal
/// may be issued, or was).
pub fn application_approved(visit: &Visit) -> bool {
    let state = visit.reactivation.application.as_ref().and_then(|a| a.state.known());
    matches!(state, Some(ApplicationState::Approved | ApplicationState::TerminalIssued))
}

/// What the register holds of one terminal before a plan is made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registered {
    /// Its state.
    pub state: TerminalState,
    /// The merchant it is bound to.
    pub merchant: Option<String>,
    /// That merchant's number.
    pub merchant_number: Option<String>,
    /// Its SIM card's ICCID.
    pub sim_iccid: Option<String>,
    /// The SIM card's carrier code.
    pub sim_carrier: Option<String>,
    /// The SIM plan's expiry.
    pub sim_expiry: Option<String>,
    /// Who holds it, when the register knows.
    pub holder: Option<Holder>,
}

/// How a terminal's binding to a merchant changes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Binding {
    /// As it was.
    Keep,
    /// Bound to this merchant (installed there, or found there).
    Bind {
        /// The merchant's name.
        name: String,
        /// Its merchant number, when the visit has one.
        number: Option<String>,
    },
    /// Bound to no merchant (deregistered, taken back).
    Unbind,
}

/// How a terminal's SIM card changes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum SimChange {
    /// As it was.
    Keep,
    /// This card, with this plan.
    Set {
        /// The card's ICCID.
        iccid: String,
        /// Its carrier's code.
        carrier: String,
        /// The plan's expiry (`YYYY-MM-DD`).
        expiry: String,
        /// The card taken out of service, when a new one replaced it.
        retired: Option<String>,
        /// Whether the card was moved to a shared data plan.
        shared_plan: bool,
    },
    /// The terminal has no card any more (it went with the terminal's
    /// replacement, or the terminal left the fleet).
    Remove,
}

/// Who holds a physical terminal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", content = "name", rename_all = "snake_case")]
pub enum Holder {
    /// A merchant, by name: in service there, or left there.
    Merchant(String),
    /// A field agent, by user id: taken back, or on the way.
    Agent(String),
    /// The company's warehouse.
    Warehouse,
    /// A repair centre.
    RepairCentre,
}

impl Holder {
    /// Stable code of the holder's kind.
    pub fn kind(&self) -> &'static str {
        match self {
            Holder::Merchant(_) => "merchant",
            Holder::Agent(_) => "agent",
            Holder::Warehouse => "warehouse",
            Holder::RepairCentre => "repair_centre",
        }
    }

    /// The holder's name (empty for the warehouse and the repair centre).
    pub fn name(&self) -> &str {
        match self {
            Holder::Merchant(name) | Holder::Agent(name) => name,
            Holder::Warehouse | Holder::RepairCentre => "",
        }
    }
}

/// A terminal changing hands in a visit: the merchant hands it to the agent
/// (taken back, sent for repair) or the agent to the merchant (installed).
/// The merchant's signature on the visit's acceptance is the receipt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Handover {
    /// Who gave it.
    pub from: Holder,
    /// Who received it.
    pub to: Holder,
    /// When (the device's clock: the visit's completion).
    pub at: Timestamp,
    /// Where (the merchant's address, when the visit has one).
    pub place: String,
    /// What confirms it: the merchant's signed acceptance, by the signer's name.
    pub receipt: String,
    /// Its condition, as the agent recorded it in the visit.
    pub condition: String,
    /// The seal or bag number it travels under.
    pub seal: String,
    /// SHA-256 of the visit's photo of it.
    pub photo: Option<String>,
}

/// What a plan does to one terminal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TerminalChange {
    /// The terminal's serial.
    pub serial: String,
    /// Its state when the plan was made; `None`: the register did not know
    /// it, and the plan creates it.
    pub before: Option<TerminalState>,
    /// The state the plan starts from: `before`, or the state presumed for
    /// a terminal the register did not know.
    pub from: TerminalState,
    /// Each event, with the state after it, in order.
    pub events: Vec<(TerminalEvent, TerminalState)>,
    /// The merchant binding.
    pub binding: Binding,
    /// The SIM card.
    pub sim: SimChange,
    /// The day it entered service, when it did.
    pub in_service_since: Option<CalendarDate>,
    /// The day it was inspected, when it was.
    pub inspected_on: Option<CalendarDate>,
    /// The terminal changing hands in the visit, when it does.
    pub handover: Option<Handover>,
    /// The model, manufacturer and production date the agent read off its
    /// label: the register takes each where it has none (an import's value
    /// stays). Absent when the visit recorded none.
    pub label: Option<Label>,
}

/// What a terminal's label says, as a visit recorded it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Label {
    /// The model (型号).
    pub model: Option<String>,
    /// The manufacturer (厂商).
    pub manufacturer: Option<String>,
    /// The production date (生产日期).
    pub production_date: Option<CalendarDate>,
}

impl Label {
    /// The label details of an identification, when it holds any. Text a
    /// phone wrote that the app would not have accepted (too long, control
    /// characters) and a production date after `day` are left out.
    pub fn of(identification: &crate::visit::schema::Identification, day: CalendarDate) -> Option<Label> {
        let text = |t: &Option<String>| t.clone().filter(|t| crate::visit::ops::is_short_text(t));
        let label = Label {
            model: text(&identification.model),
            manufacturer: text(&identification.manufacturer),
            production_date: identification.production_date.filter(|d| *d <= day),
        };
        (label.model.is_some() || label.manufacturer.is_some() || label.production_date.is_some())
            .then_some(label)
    }
}

impl TerminalChange {
    /// The state after the plan.
    pub fn after(&self) -> TerminalState {
        self.events.last().map_or(self.from, |(_, state)| *state)
    }

    /// What the change does besides its events, in words (zh-CN / English),
    /// for the terminal's page and the reviewer.
    pub fn detail(&self) -> String {
        let mut parts = Vec::new();
        if self.before.is_none() {
            parts.push("登记新终端 / added to the register".to_owned());
        }
        match &self.binding {
            Binding::Keep => {}
            Binding::Bind { name, number: Some(number) } => {
                parts.push(format!("商户 / merchant: {name}（{number}）"))
            }
            Binding::Bind { name, number: None } => parts.push(format!("商户 / merchant: {name}")),
            Binding::Unbind => parts.push("解绑商户 / unbound from the merchant".to_owned()),
        }
        match &self.sim {
            SimChange::Keep => {}
            SimChange::Set { iccid, expiry, retired, shared_plan, .. } => {
                parts.push(format!("流量卡 / SIM {iccid}，到期 / expires {expiry}"));
                if let Some(old) = retired {
                    parts.push(format!("旧卡停用 / card {old} retired"));
                }
                if *shared_plan {
                    parts.push("流量共享 / shared data plan".to_owned());
                }
            }
            SimChange::Remove => parts.push("流量卡移出 / SIM card removed".to_owned()),
        }
        if let Some(day) = self.in_service_since {
            parts.push(format!("投入使用 / in service since {day}"));
        }
        if let Some(day) = self.inspected_on {
            parts.push(format!("巡检 / inspected {day}"));
        }
        parts.join("；")
    }

    /// Whether the change alters nothing in the register.
    pub fn is_empty(&self) -> bool {
        self.before.is_some()
            && self.events.is_empty()
            && self.binding == Binding::Keep
            && self.sim == SimChange::Keep
            && self.in_service_since.is_none()
            && self.inspected_on.is_none()
            && self.handover.is_none()
    }
}

/// The register binds a visited terminal to another merchant than the
/// visit's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MerchantConflict {
    /// The terminal's serial.
    pub serial: String,
    /// The register's merchant (name, and number when known).
    pub register: String,
    /// The visit's merchant.
    pub visit: String,
}

/// What a decision does to the register.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
pub struct RegisterPlan {
    /// The terminals it changes, in order.
    pub changes: Vec<TerminalChange>,
    /// Facts of the visit the register contradicts: the reviewer sees them
    /// before approving, and an approval that goes ahead corrects the register.
    pub conflicts: Vec<MerchantConflict>,
}

impl RegisterPlan {
    /// The serials the plan touches.
    pub fn serials(&self) -> impl Iterator<Item = &str> {
        self.changes.iter().map(|c| c.serial.as_str())
    }
}

/// Why a plan cannot be made: the approval stops with this reason and the
/// register is left as it was.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanRefusal {
    /// The lifecycle refuses an event for a terminal.
    #[error("terminal {serial}: {error}")]
    Lifecycle {
        /// The terminal's serial.
        serial: String,
        /// The refused event and the state it met.
        error: LifecycleError,
    },
    /// The same serial is recorded as the old and the new terminal.
    #[error("terminal {0} is recorded as both the old and the new terminal")]
    SameTerminal(String),
}

impl PlanRefusal {
    /// The refusal in zh-CN.
    pub fn zh(&self) -> String {
        match self {
            PlanRefusal::Lifecycle { serial, error } => {
                format!("终端 {serial} 当前状态为“{}”，不能执行“{}”", error.from.zh(), error.event.zh())
            }
            PlanRefusal::SameTerminal(serial) => format!("终端 {serial} 同时被记录为旧终端和新终端"),
        }
    }

    /// The refusal in English.
    pub fn en(&self) -> String {
        match self {
            PlanRefusal::Lifecycle { serial, error } => format!(
                "terminal {serial} is {} and cannot be {}",
                error.from.en().to_lowercase(),
                error.event.en().to_lowercase()
            ),
            PlanRefusal::SameTerminal(_) => self.to_string(),
        }
    }
}

/// What approving `visit` does to the register, which holds `register` of
/// the visit's terminals (a serial absent from it is unknown to the
/// register). A visit that touches no terminal has an empty plan.
pub fn register_plan(
    visit: &Visit,
    register: &BTreeMap<String, Registered>,
) -> Result<RegisterPlan, PlanRefusal> {
    let old = visit.terminal.as_ref().map(|t| t.serial.as_str());
    let new = visit.replacement.as_ref().map(|t| t.serial.as_str());
    if let (Some(old), Some(new)) = (old, new)
        && old == new
    {
        return Err(PlanRefusal::SameTerminal(old.to_owned()));
    }
    let replaced = takes_new_terminal(visit);
    let new = new.filter(|_| replaced);
    let day = visit.completion.as_ref().map_or(visit.created.at, |c| c.at).beijing_date();
    let effects = terminal_effects(visit);

    let mut plan = RegisterPlan::default();
    for (serial, is_new) in old.map(|s| (s, false)).into_iter().chain(new.map(|s| (s, true))) {
        let known = register.get(serial);
        let presumed = if is_new || visit.kind == VisitKind::Installation {
            TerminalState::InStock
        } else if visit.kind == VisitKind::Reactivation {
            TerminalState::Suspended
        } else {
            TerminalState::Installed
        };
        let from = known.map_or(presumed, |k| k.state);
        let mut state = from;
        let mut events = Vec::new();
        for effect in effects.iter().filter(|e| e.serial == serial) {
            // The application's approval issued the terminal already.
            if effect.event == TerminalEvent::Issue && state == TerminalState::Issued {
                continue;
            }
            state = state
                .apply(effect.event)
                .map_err(|error| PlanRefusal::Lifecycle { serial: serial.to_owned(), error })?;
            events.push((effect.event, state));
        }
        let visit_merchant = Binding::Bind {
            name: visit.merchant.name.trim().to_owned(),
            number: visit.merchant.merchant_number.clone(),
        };
        // The terminal the agent found at the merchant (not one being
        // installed) must be the register's terminal of that merchant,
        // whatever the visit then does to it: deregistering or taking back
        // another merchant's terminal is a conflict too.
        let found_there = !is_new && visit.kind != VisitKind::Installation;
        let conflict = known.filter(|_| found_there).and_then(|k| merchant_conflict(serial, k, visit));
        let unbound =
            events.iter().any(|(e, _)| matches!(e, TerminalEvent::Deregister | TerminalEvent::Recycle));
        let installed = events.iter().any(|(e, _)| *e == TerminalEvent::Install);
        let binding = if unbound {
            Binding::Unbind
        } else if installed || known.is_none() || conflict.is_some() {
            visit_merchant
        } else {
            Binding::Keep
        };
        plan.conflicts.extend(conflict);
        let sim =
            sim_change(visit, known, is_new, replaced, new.is_some(), register.get(old.unwrap_or_default()));
        // Entered service now, or (a terminal the register did not know, found
        // in service) known to be in service from now: the inspection alert
        // counts from it.
        let in_service_since =
            (installed || (known.is_none() && from == TerminalState::Installed)).then_some(day);
        let inspected_on = (visit.kind == VisitKind::Inspection && !is_new).then_some(day);
        let handover = handover(visit, serial, &events);
        let identification = if is_new { visit.replacement.as_ref() } else { visit.terminal.as_ref() };
        let change = TerminalChange {
            serial: serial.to_owned(),
            before: known.map(|k| k.state),
            from,
            events,
            binding,
            sim,
            in_service_since,
            inspected_on,
            handover,
            label: identification.and_then(|i| Label::of(i, day)),
        };
        if !change.is_empty() {
            plan.changes.push(change);
        }
    }
    Ok(plan)
}

/// What approving the reactivation application of `visit` does to the
/// register: a suspended terminal (or one the register did not know) is
/// issued. A terminal in any other state is left to the visit's approval,
/// which the lifecycle then judges: the application is the acquirer's
/// decision, not the register's.
pub fn application_plan(visit: &Visit, register: &BTreeMap<String, Registered>) -> RegisterPlan {
    let Some(serial) = visit.terminal.as_ref().map(|t| t.serial.as_str()) else {
        return RegisterPlan::default();
    };
    let known = register.get(serial);
    let from = known.map_or(TerminalState::Suspended, |k| k.state);
    let Ok(issued) = from.apply(TerminalEvent::Issue) else {
        return RegisterPlan::default();
    };
    let binding = match known {
        Some(_) => Binding::Keep,
        None => Binding::Bind {
            name: visit.merchant.name.trim().to_owned(),
            number: visit.merchant.merchant_number.clone(),
        },
    };
    RegisterPlan {
        changes: vec![TerminalChange {
            serial: serial.to_owned(),
            before: known.map(|k| k.state),
            from,
            events: vec![(TerminalEvent::Issue, issued)],
            binding,
            sim: SimChange::Keep,
            in_service_since: None,
            inspected_on: None,
            handover: None,
            label: None,
        }],
        conflicts: Vec::new(),
    }
}

/// The hand-over a terminal's events in a visit imply: installed, the agent
/// gives it to the merchant; taken back or sent for repair, the merchant
/// gives it to the agent, who holds it until the warehouse checks it in.
fn handover(visit: &Visit, serial: &str, events: &[(TerminalEvent, TerminalState)]) -> Option<Handover> {
    let record = visit.handovers.iter().find(|h| h.serial == serial);
    let merchant = Holder::Merchant(visit.merchant.name.trim().to_owned());
    let agent = Holder::Agent(visit.assignment.agent.clone());
    let (from, to) = match events.last().map(|(event, _)| *event)? {
        TerminalEvent::Install => (agent, merchant),
        TerminalEvent::Recycle | TerminalEvent::SendForRepair => (merchant, agent),
        _ => return None,
    };
    Some(Handover {
        from,
        to,
        at: visit.completion.as_ref().map_or(visit.created.at, |c| c.at),
        place: visit.merchant.address.clone().unwrap_or_default(),
        receipt: visit
            .acceptance
            .as_ref()
            .map(|a| format!("商户签收 / signed by the merchant: {}", a.signer_name))
            .unwrap_or_default(),
        condition: record.map(|r| r.condition.clone()).unwrap_or_default(),
        seal: record.and_then(|r| r.seal.clone()).unwrap_or_default(),
        // Only a photo the visit still holds, which reached the server with it.
        photo: record
            .and_then(|r| r.photo.clone())
            .filter(|p| visit.current_documents().any(|d| d.sha256 == *p)),
    })
}

/// The conflict when the register binds `serial` to another merchant than
/// the visit's: by merchant number when both have one, else by name.
fn merchant_conflict(serial: &str, known: &Registered, visit: &Visit) -> Option<MerchantConflict> {
    let name = known.merchant.as_deref().map(str::trim).filter(|n| !n.is_empty())?;
    let visit_name = visit.merchant.name.trim();
    let differs = match (known.merchant_number.as_deref(), visit.merchant.merchant_number.as_deref()) {
        (Some(a), Some(b)) => a.trim() != b.trim(),
        _ => name != visit_name,
    };
    let words = |name: &str, number: Option<&str>| match number {
        Some(number) => format!("{name}（{number}）"),
        None => name.to_owned(),
    };
    differs.then(|| MerchantConflict {
        serial: serial.to_owned(),
        register: words(name, known.merchant_number.as_deref()),
        visit: words(visit_name, visit.merchant.merchant_number.as_deref()),
    })
}

/// The SIM card of one terminal after the visit. The card the visit
/// recorded goes to the terminal left in service (the new one when the old
/// was replaced); an old terminal replaced gives its card up; a terminal
/// that left the fleet keeps none.
fn sim_change(
    visit: &Visit,
    known: Option<&Registered>,
    is_new: bool,
    replaced: bool,
    has_new: bool,
    old_registered: Option<&Registered>,
) -> SimChange {
    let leaves = matches!(visit.kind, VisitKind::Deregistration);
    if leaves || (replaced && has_new && !is_new) {
        return match known.and_then(|k| k.sim_iccid.as_ref()).or(visit.sim.as_ref().map(|s| &s.iccid)) {
            Some(_) => SimChange::Remove,
            None => SimChange::Keep,
        };
    }
    if let Some(sim) = &visit.sim {
        let action = sim.action.as_ref().and_then(|a| a.known());
        return SimChange::Set {
            iccid: sim.current_iccid().to_owned(),
            carrier: sim.carrier.code().to_owned(),
            expiry: sim.current_expiry().to_string(),
            retired: sim.new_iccid.as_ref().map(|_| sim.iccid.clone()),
            shared_plan: action == Some(SimAction::SharedPlan),
        };
    }
    // The card moves with the service to the new terminal.
    match (is_new, old_registered) {
        (true, Some(old)) => match (&old.sim_iccid, &old.sim_carrier, &old.sim_expiry) {
            (Some(iccid), Some(carrier), Some(expiry)) => SimChange::Set {
                iccid: iccid.clone(),
                carrier: carrier.clone(),
                expiry: expiry.clone(),
                retired: None,
                shared_plan: false,
            },
            _ => SimChange::Keep,
        },
        _ => SimChange::Keep,
    }
}

/// What a terminal held by `from` reaching `at` (the warehouse, a repair
/// centre, an agent) does to its lifecycle: a terminal in repair that comes
/// from the repair centre to the warehouse is back in stock; otherwise (an
/// agent dropping a terminal on its way to repair at the warehouse, say)
/// its state stays and only its holder changes.
pub fn check_in_event(state: TerminalState, from: Option<&Holder>, at: &Holder) -> Option<TerminalEvent> {
    match (state, from, at) {
        (TerminalState::InRepair, Some(Holder::RepairCentre), Holder::Warehouse) => {
            Some(TerminalEvent::ReturnToStock)
        }
        _ => None,
    }
}
