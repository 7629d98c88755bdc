//! Helpers shared by the visit document tests: actors, a deterministic
//! clock and id source, blob references, and a filler that records
//! everything a visit kind needs before completion.
#![allow(dead_code, unreachable_pub)]

use posfield_shared::checklist::Requirement;
use posfield_shared::visit::completion::applies;
use posfield_shared::visit::satisfy::{Choices, Evidence, Identification, Operation, apply, operations};
use posfield_shared::visit::{
    BlobInfo, Ctx, MerchantInput, SignatureInput, SimInput, StepState, TerminalDetails, Visit, VisitDoc,
};
use posfield_shared::vocab::{
    DocumentKind, IdentificationMethod, NetworkLink, RepairPlan, SimCarrier, SuspensionCause, WarrantyStatus,
};
use posfield_shared::{Actor, CalendarDate, FaultCode, Timestamp, VisitKind};
use sha2::{Digest, Sha256};

pub fn agent() -> Actor {
    Actor::agent("agent-li", "phone-li")
}

pub fn other_agent() -> Actor {
    Actor::agent("agent-zhao", "phone-zhao")
}

pub fn reviewer() -> Actor {
    Actor::reviewer("reviewer-wang", "server-1")
}

pub fn admin() -> Actor {
    Actor::admin("admin-zhou", "server-1")
}

/// A plan for `day` with the window given as `HH:MM` ends (empty: open).
pub fn plan(day: &str, from: &str, until: &str) -> posfield_shared::visit::Schedule {
    let time = |t: &str| (!t.is_empty()).then(|| posfield_shared::TimeOfDay::parse(t).unwrap());
    posfield_shared::visit::Schedule {
        day: CalendarDate::parse(day).unwrap(),
        from: time(from),
        until: time(until),
    }
}

/// Hands out contexts with increasing device times and unique operation ids.
pub struct Clock {
    pub now: i64,
    pub next_id: u64,
}

impl Default for Clock {
    fn default() -> Self {
        Clock { now: 1_795_000_000_000, next_id: 0 }
    }
}

impl Clock {
    pub fn ctx(&mut self, actor: &Actor) -> Ctx {
        self.now += 60_000;
        self.next_id += 1;
        Ctx::new(actor.clone(), Timestamp(self.now), format!("op-{}-{}", actor.device, self.next_id))
    }
}

pub fn sha(seed: &str) -> String {
    hex::encode(Sha256::digest(seed.as_bytes()))
}

pub fn photo(seed: &str) -> BlobInfo {
    BlobInfo { sha256: sha(seed), mime: "image/jpeg".into(), bytes: 180_000, width: 1600, height: 1200 }
}

pub fn merchant() -> MerchantInput {
    MerchantInput {
        name: "老王便利店".into(),
        merchant_number: Some("898310048161234".into()),
        terminal_number: Some("10293847".into()),
        phone: Some("13812345678".into()),
        address: Some("上海市浦东新区张江路 88 号".into()),
        location: None,
    }
}

pub const SERIAL: &str = "N9100001234567";
pub const NEW_SERIAL: &str = "N9100009876543";
pub const ICCID: &str = "89860012345678901238";
pub const NEW_ICCID: &str = "8986011234567890128";

pub fn new_visit(clock: &mut Clock, kind: VisitKind) -> VisitDoc {
    VisitDoc::create_visit(&clock.ctx(&agent()), b"phone-li-actor", "visit-1", kind, &merchant(), "agent-li")
        .expect("create visit")
}

/// The tests' answers to what a visit leaves free: the fixed serials,
/// SIM card and decisions above; `tried` of the fault's recommended steps
/// are tried, the last fixing it when `fixed`.
#[derive(Debug, Default)]
pub struct Plain {
    pub tried: usize,
    pub fixed: bool,
    /// The merchant declines the backup.
    pub declined: bool,
}

impl Choices for Plain {
    fn terminal(&mut self) -> Identification {
        Identification { serial: SERIAL.into(), method: IdentificationMethod::Manual, evidence: None }
    }
    fn replacement(&mut self) -> Identification {
        Identification {
            serial: NEW_SERIAL.into(),
            method: IdentificationMethod::Nfc,
            evidence: Some(sha("ndef")),
        }
    }
    fn sim(&mut self) -> SimInput {
        SimInput {
            iccid: ICCID.into(),
            carrier: SimCarrier::ChinaMobile,
            expiry: CalendarDate::parse("2026-12-01").unwrap(),
        }
    }
    fn backup_note(&mut self) -> Option<String> {
        Some("已导出到U盘".into())
    }
    fn fault(&mut self) -> (FaultCode, Option<String>) {
        (FaultCode::PrinterFault, None)
    }
    fn remedies_tried(&mut self, _recommended: usize) -> usize {
        self.tried
    }
    fn attempt_note(&mut self) -> Option<String> {
        None
    }
    fn fixed_on_site(&mut self) -> bool {
        self.fixed
    }
    fn resolution_note(&mut self) -> Option<String> {
        None
    }
    fn warranty(&mut self) -> WarrantyStatus {
        WarrantyStatus::InWarranty
    }
    fn repair_plan(&mut self) -> RepairPlan {
        RepairPlan::FixedOnSite
    }
    fn repair_fee(&mut self) -> u64 {
        15_000
    }
    fn suspension_cause(&mut self) -> SuspensionCause {
        SuspensionCause::NetworkProblem
    }
    fn details(&mut self, replacement: bool) -> TerminalDetails {
        let (model, produced) = if replacement { ("N910", "2026-05-20") } else { ("N900", "2022-03-15") };
        TerminalDetails {
            model: model.into(),
            manufacturer: Some("新大陆".into()),
            production_date: CalendarDate::parse(produced).unwrap(),
        }
    }
    fn terminal_number(&mut self) -> String {
        "10293847".into()
    }
    fn network_link(&mut self) -> NetworkLink {
        NetworkLink::Mobile
    }
    fn backup_declined(&mut self) -> Option<Option<String>> {
        self.declined.then(|| Some("商户自行保存了纸质结算单".into()))
    }
    fn unbind_reference(&mut self) -> String {
        "JB20261116-0042".into()
    }
    fn settled_balance(&mut self) -> u64 {
        123_456
    }
    fn follow_up_days(&mut self) -> u16 {
        7
    }
    fn handover(&mut self) -> (String, Option<String>) {
        ("外观完好，电源适配器齐全".into(), Some("FD-00042".into()))
    }
}

/// The tests' photos (a hash per document kind) and signature.
pub struct Photos;

impl Evidence for Photos {
    fn photo(&mut self, kind: DocumentKind) -> BlobInfo {
        photo(kind_seed(kind))
    }
    fn signature(&mut self, _visit: &Visit, _at: Timestamp) -> SignatureInput {
        signature()
    }
}

/// Records what `requirement` needs, by the domain's rule, the agent
/// acting except where the back office decides.
pub fn satisfy(doc: &mut VisitDoc, clock: &mut Clock, requirement: Requirement) {
    satisfy_with(doc, clock, requirement, &mut Plain::default());
}

/// Like [`satisfy`], with these choices.
pub fn satisfy_with(doc: &mut VisitDoc, clock: &mut Clock, requirement: Requirement, choices: &mut Plain) {
    let visit = doc.visit().unwrap();
    for operation in operations(&visit, requirement, choices) {
        let actor = if operation.by_back_office() { reviewer() } else { agent() };
        apply(doc, &clock.ctx(&actor), &operation, &mut Photos).unwrap();
    }
}

pub fn kind_seed(kind: DocumentKind) -> &'static str {
    use posfield_shared::vocab::Term;
    kind.code()
}

/// The merchant signs (again, when already signed).
pub fn sign(doc: &mut VisitDoc, clock: &mut Clock) {
    apply(doc, &clock.ctx(&agent()), &Operation::Sign, &mut Photos).unwrap();
}

/// The merchant's signature as the agent core hands it over.
pub fn signature() -> SignatureInput {
    SignatureInput {
        signer_name: "王老板".into(),
        image: BlobInfo {
            sha256: sha("signature"),
            mime: "image/png".into(),
            bytes: 9_000,
            width: 800,
            height: 300,
        },
        strokes_sha256: sha("strokes"),
        device_signature: None,
    }
}

/// Works through the whole checklist of the visit's kind: every applicable
/// step done with its requirements met, the signature last.
pub fn fill(doc: &mut VisitDoc, clock: &mut Clock) {
    fill_leaving(doc, clock, &mut Plain::default(), &[]);
}

/// Like [`fill`], with these choices, and leaving the requirements in
/// `leave` unmet (their steps are still marked done).
pub fn fill_leaving(doc: &mut VisitDoc, clock: &mut Clock, choices: &mut Plain, leave: &[Requirement]) {
    let kind = doc.visit().unwrap().kind;
    let mut signature_steps = Vec::new();
    let edition = doc.visit().unwrap().checklist_edition();
    for step in kind.template().steps_in(edition) {
        let visit = doc.visit().unwrap();
        if !applies(&visit, step.when) {
            continue;
        }
        if step.requires.contains(&Requirement::Signature) {
            signature_steps.push(step.id.as_str());
            continue;
        }
        for requirement in step.requires_in(edition).filter(|r| !leave.contains(r)) {
            satisfy_with(doc, clock, requirement, choices);
        }
        doc.set_step(&clock.ctx(&agent()), step.id.as_str(), StepState::Done, None, None).unwrap();
    }
    sign(doc, clock);
    for step in signature_steps {
        doc.set_step(&clock.ctx(&agent()), step, StepState::Done, None, None).unwrap();
    }
}
