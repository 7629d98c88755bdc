//! Helpers shared by the visit document tests: actors, a deterministic
//! clock and id source, blob references, and a filler that records
//! everything a visit kind needs before completion.
#![allow(dead_code, unreachable_pub)]

use posfield_shared::checklist::Requirement;
use posfield_shared::visit::completion::applies;
use posfield_shared::visit::{BlobInfo, Ctx, MerchantInput, SignatureInput, SimInput, StepState, VisitDoc};
use posfield_shared::vocab::{
    ApplicationState, BackupItem, IdentificationMethod, RepairPlan, SimAction, SimCarrier, SuspensionCause,
    WarrantyStatus,
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

/// Records what `requirement` needs.
pub fn satisfy(doc: &mut VisitDoc, clock: &mut Clock, requirement: Requirement) {
    let a = agent();
    match requirement {
        Requirement::Photo(kind) => {
            let at = Timestamp(clock.now);
            doc.attach_document(&clock.ctx(&a), &photo(kind_seed(kind)), kind, at).unwrap();
        }
        Requirement::Signature => sign(doc, clock),
        Requirement::TerminalIdentified => {
            doc.identify_terminal(&clock.ctx(&a), SERIAL, IdentificationMethod::Manual, None, false).unwrap();
        }
        Requirement::ReplacementSerial => {
            doc.identify_terminal(
                &clock.ctx(&a),
                NEW_SERIAL,
                IdentificationMethod::Nfc,
                Some(sha("ndef")),
                true,
            )
            .unwrap();
        }
        Requirement::SimData => {
            let sim = SimInput {
                iccid: ICCID.into(),
                carrier: SimCarrier::ChinaMobile,
                expiry: CalendarDate::parse("2026-12-01").unwrap(),
            };
            doc.set_sim(&clock.ctx(&a), &sim).unwrap();
        }
        Requirement::SimAction => {
            doc.set_sim_action(&clock.ctx(&a), SimAction::Renewed, None, CalendarDate::from_ymd(2027, 12, 1))
                .unwrap();
        }
        Requirement::BackupConfirmation => {
            let items = [BackupItem::DailySettlementReports, BackupItem::TransactionRecords];
            doc.confirm_backup(&clock.ctx(&a), &items, Some("已导出到U盘")).unwrap();
        }
        Requirement::FaultRecorded => {
            doc.add_fault(&clock.ctx(&a), FaultCode::PrinterFault, None).unwrap();
        }
        Requirement::WarrantyDecision => {
            doc.set_warranty(&clock.ctx(&a), WarrantyStatus::InWarranty).unwrap();
        }
        Requirement::RepairPlan => {
            doc.set_repair_plan(&clock.ctx(&a), RepairPlan::FixedOnSite).unwrap();
        }
        Requirement::RepairFee => {
            doc.set_repair_fee(&clock.ctx(&a), 15_000).unwrap();
        }
        Requirement::SuspensionCause => {
            doc.set_suspension_cause(&clock.ctx(&a), SuspensionCause::NetworkProblem).unwrap();
        }
        Requirement::ApplicationApproved => {
            doc.submit_application(&clock.ctx(&a)).unwrap();
            doc.decide_application(&clock.ctx(&reviewer()), ApplicationState::Approved, None).unwrap();
        }
        Requirement::MerchantNumber | Requirement::RegisteredPhone => {
            // Recorded at creation by `merchant()`.
        }
    }
}

pub fn kind_seed(kind: posfield_shared::vocab::DocumentKind) -> &'static str {
    use posfield_shared::vocab::Term;
    kind.code()
}

pub fn sign(doc: &mut VisitDoc, clock: &mut Clock) {
    doc.sign_acceptance(&clock.ctx(&agent()), &signature()).unwrap();
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
    let kind = doc.visit().unwrap().kind;
    let mut signature_steps = Vec::new();
    for step in kind.template().steps {
        let visit = doc.visit().unwrap();
        if !applies(&visit, step.when) {
            continue;
        }
        if step.requires.contains(&Requirement::Signature) {
            signature_steps.push(step.id.as_str());
            continue;
        }
        for requirement in step.requires {
            satisfy(doc, clock, *requirement);
        }
        doc.set_step(&clock.ctx(&agent()), step.id.as_str(), StepState::Done, None, None).unwrap();
    }
    sign(doc, clock);
    for step in signature_steps {
        doc.set_step(&clock.ctx(&agent()), step, StepState::Done, None, None).unwrap();
    }
}
