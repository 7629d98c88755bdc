//! Writes the saved visit document that stands for this code's schema
//! version in `shared/tests/fixtures/schema/` (see the README there), and
//! the two documents of the next version: one with additive changes only,
//! one whose writer raised the edit floor (a breaking change).
//!
//! Run it only when `SCHEMA_VERSION` changes, to add the new version's
//! fixture and replace the next version's pair; the fixtures of older
//! versions are never regenerated, because they are what older apps wrote:
//!
//! ```text
//! cargo run -p posfield-shared --example schema-fixture -- shared/tests/fixtures/schema
//! ```
//!
//! Every input is fixed (actor ids, device times, operation ids), so two
//! runs of the same code write the same bytes.
#![allow(clippy::print_stdout)]

use automerge::transaction::Transactable;
use automerge::{AutoCommit, ObjType, ROOT, ReadDoc};
use posfield_shared::visit::{
    BlobInfo, Ctx, GeoPoint, MarkPoint, MarkShape, MerchantInput, SCHEMA_VERSION, SimInput, StepState,
    TerminalDetails, VisitDoc,
};
use posfield_shared::vocab::{DocumentKind, IdentificationMethod, NetworkLink, SimCarrier, WarrantyStatus};
use posfield_shared::{Actor, CalendarDate, FaultCode, Remedy, Timestamp, VisitKind};

/// The visit id of the current version's fixture (every version's fixture
/// has it: each stands for the same visit as its version wrote it).
const VISIT_ID: &str = "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b";

/// The visit ids of the next version's two fixtures, apart from the current
/// one's so that all of them can travel through one server together.
const NEXT_ADDITIVE_ID: &str = "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5c";
const NEXT_BREAKING_ID: &str = "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5d";

fn main() {
    let folder = std::env::args().nth(1).expect("usage: schema-fixture <folder>");
    let folder = std::path::Path::new(&folder);
    let next = SCHEMA_VERSION + 1;
    let files = [
        (format!("v{SCHEMA_VERSION}.automerge"), fixture(VISIT_ID)),
        (format!("v{next}-additive.automerge"), next_version(NEXT_ADDITIVE_ID, false)),
        (format!("v{next}-breaking.automerge"), next_version(NEXT_BREAKING_ID, true)),
    ];
    for (name, bytes) in files {
        let path = folder.join(name);
        std::fs::write(&path, bytes).expect("the fixture is written");
        println!("wrote {}", path.display());
    }
}

/// The document as the next schema version would write it: this version's
/// fixture with a new top-level field, a new field inside a fault, and
/// vocabulary codes this version does not have (a photo kind, a fault code,
/// a remedy, a SIM carrier, a warranty status and a step state), marked as written by the next version. `breaking` raises
/// the edit floor to the next version too, so this version may only read it.
fn next_version(visit_id: &str, breaking: bool) -> Vec<u8> {
    let next = SCHEMA_VERSION + 1;
    let mut doc = AutoCommit::load(&fixture(visit_id))
        .expect("the fixture loads")
        .with_actor(automerge::ActorId::from(&b"fixture-phone-of-the-next-version"[..]));
    let window = doc.put_object(ROOT, "inspection_window", ObjType::Map).expect("a new map");
    doc.put(&window, "from", "2027-01-01").expect("a new field");
    doc.put(&window, "to", "2027-01-31").expect("a new field");
    let (_, faults) = doc.get(ROOT, "faults").expect("faults").expect("a fault list");
    let (_, fault) = doc.get(&faults, 0).expect("a fault").expect("the first fault");
    doc.put(&fault, "severity", "high").expect("a new field in a list item");
    let (_, attempts) = doc.get(&fault, "attempts").expect("attempts").expect("an attempt list");
    let (_, attempt) = doc.get(&attempts, 0).expect("an attempt").expect("the first attempt");
    doc.put(&attempt, "remedy", "reflash_firmware").expect("an unknown remedy");
    doc.put(&fault, "code", "nfc_antenna_fault").expect("an unknown fault code");
    let (_, documents) = doc.get(ROOT, "documents").expect("documents").expect("a document list");
    let (_, photo) = doc.get(&documents, 0).expect("a photo").expect("the first photo");
    doc.put(&photo, "kind", "drone_photo").expect("an unknown photo kind");
    let (_, sim) = doc.get(ROOT, "sim").expect("sim").expect("a SIM record");
    doc.put(&sim, "carrier", "china_broadnet").expect("an unknown carrier");
    let (_, repair) = doc.get(ROOT, "repair").expect("repair").expect("repair decisions");
    let (_, warranty) = doc.get(&repair, "warranty").expect("warranty").expect("a warranty decision");
    doc.put(&warranty, "value", "extended_warranty").expect("an unknown warranty status");
    let (_, steps) = doc.get(ROOT, "steps").expect("steps").expect("the step records");
    let (_, identify) = doc.get(&steps, "identify").expect("a step").expect("the identify step");
    doc.put(&identify, "state", "verified_twice").expect("an unknown step state");
    doc.put(ROOT, "written_by", next).expect("the newest writer's version");
    if breaking {
        doc.put(ROOT, "schema", next).expect("the edit floor");
    }
    doc.commit_with(automerge::transaction::CommitOptions::default().with_time(1_795_001_000));
    doc.save()
}

/// A repair visit by agent `wang` touching every kind of field: an
/// identification with the label's details, steps, a fault with an
/// attempt, a photo, a SIM, a warranty decision, a network test, a
/// follow-up day and a note.
fn fixture(visit_id: &str) -> Vec<u8> {
    let agent = Actor::agent("wang", "phone-wang");
    let mut now = 1_795_000_000_000;
    let mut op = 0;
    let mut ctx = || {
        now += 60_000;
        op += 1;
        Ctx::new(agent.clone(), Timestamp(now), format!("fixture-op-{op}"))
    };
    let merchant = MerchantInput {
        name: "老王便利店".into(),
        merchant_number: Some("898310048161234".into()),
        ..Default::default()
    };
    let mut doc =
        VisitDoc::create_visit(&ctx(), b"fixture-phone-wang", visit_id, VisitKind::Repair, &merchant, "wang")
            .expect("the visit is created");
    // The agent's way there (schema 4).
    doc.accept_job(&ctx()).expect("the job is taken");
    doc.depart(&ctx()).expect("the agent sets off");
    let shop = GeoPoint::from_degrees(31.224361, 121.46917, Some(15.0)).expect("a point");
    doc.arrive(&ctx(), Ok(shop)).expect("the agent arrives");
    doc.identify_terminal(&ctx(), "N9100001234567", IdentificationMethod::Manual, None, false)
        .expect("the terminal is identified");
    let details = TerminalDetails {
        model: "N910".into(),
        manufacturer: Some("新大陆".into()),
        production_date: CalendarDate::from_ymd(2024, 3, 15).expect("a date"),
    };
    doc.set_terminal_details(&ctx(), &details, false).expect("the label's details are recorded");
    doc.set_step(&ctx(), "identify", StepState::Done, None, None).expect("a step is set");
    let fault = doc.add_fault(&ctx(), FaultCode::PrinterFault, Some("打印空白")).expect("a fault is added");
    let fault_id = fault.faults[0].id.clone();
    doc.add_attempt(&ctx(), &fault_id, Some(Remedy::CheckPaper), Some("纸卷装反"), true)
        .expect("an attempt is added");
    let photo = BlobInfo {
        sha256: "a".repeat(64),
        mime: "image/jpeg".into(),
        bytes: 180_000,
        width: 1600,
        height: 1200,
    };
    doc.attach_document(&ctx(), &photo, DocumentKind::PurchaseProof, Timestamp(1_795_000_300_000))
        .expect("a photo is attached");
    // A mark over the photo (schema 5).
    let (from, to) = (MarkPoint { x: 200, y: 300 }, MarkPoint { x: 450, y: 520 });
    doc.annotate(&ctx(), &photo.sha256, MarkShape::Arrow, from, to, None).expect("a mark is drawn");
    let sim = SimInput {
        iccid: "89860012345678901238".into(),
        carrier: SimCarrier::ChinaMobile,
        expiry: CalendarDate::from_ymd(2027, 3, 31).expect("a date"),
    };
    doc.set_sim(&ctx(), &sim).expect("the sim is recorded");
    doc.set_warranty(&ctx(), WarrantyStatus::InWarranty).expect("the warranty is decided");
    doc.record_network_test(&ctx(), NetworkLink::Mobile, true, Some("签到成功")).expect("a network test");
    doc.set_follow_up(&ctx(), CalendarDate::from_ymd(2026, 11, 30).expect("a date"), Some("回访打印"))
        .expect("a follow-up day");
    doc.add_note(&ctx(), "商户要求下午再来").expect("a note is added");
    doc.save()
}
