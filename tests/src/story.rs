//! A field agent's day, shared by the whole-system tests: agent cores with a
//! test clock and a complete repair visit with a photo and a signature.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use posfield_core::signature::{Point, Strokes};
use posfield_core::{Agent, Clock};
use posfield_shared::Timestamp;
use posfield_shared::visit::MerchantInput;
use posfield_shared::visit::schema::StepState;
use posfield_shared::vocab::{DocumentKind, RepairPlan, WarrantyStatus};
use posfield_shared::{FaultCode, Remedy, VisitId, VisitKind};

/// A clock that moves one second per reading.
#[derive(Debug)]
pub struct TestClock(AtomicI64);

impl Clock for TestClock {
    fn now(&self) -> Timestamp {
        Timestamp(self.0.fetch_add(1000, Ordering::SeqCst))
    }
}

/// Opens an agent core on `dir` with a test clock, its key in the key file
/// beside the folder (where the `posfield-agent` command line looks too).
pub fn open(dir: &Path) -> Agent {
    open_at(dir, 1_795_000_000_000)
}

/// Opens an agent core whose test clock starts at `millis` since the epoch.
pub fn open_at(dir: &Path, millis: i64) -> Agent {
    let keys = Arc::new(posfield_core::KeyFile::beside(dir));
    Agent::open_with_clock(dir, keys, Arc::new(TestClock(AtomicI64::new(millis)))).expect("the agent opens")
}

/// A file of the barcode test photos in the repository's `testdata/barcodes`.
pub fn testdata(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata/barcodes").join(relative)
}

/// A saved visit document of `shared/tests/fixtures/schema` (one per schema
/// version, and the next version's pair; see the README there).
pub fn schema_fixture(name: &str) -> Vec<u8> {
    // The domain crate's fixtures, inside this repository (tests/ is one level below its root).
    let repository = Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("the repository root");
    let path = repository.join("shared/tests/fixtures/schema").join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// A merchant's signature: two wavy strokes with timing and pressure.
pub fn strokes() -> Strokes {
    let line = |y: f32, t0: u32| -> Vec<Point> {
        (0..40)
            .map(|i| Point {
                x: 30.0 + i as f32 * 12.0,
                y: y + (i as f32 / 3.0).sin() * 20.0,
                t: t0 + i * 15,
                p: Some(0.6),
            })
            .collect()
    };
    Strokes { width: 600.0, height: 300.0, strokes: vec![line(120.0, 0), line(200.0, 800)] }
}

/// A merchant with just a name.
pub fn merchant(name: &str) -> MerchantInput {
    MerchantInput { name: name.into(), ..Default::default() }
}

/// A whole repair visit, with a document photo and the merchant's signature.
pub fn repair_visit(agent: &mut Agent) -> VisitId {
    repair_visit_with_photo(agent, "code128-1/1.png")
}

/// A whole repair visit whose purchase proof is the given test photo.
pub fn repair_visit_with_photo(agent: &mut Agent, photo: &str) -> VisitId {
    repair_visit_with_photos(agent, photo, &[])
}

/// A whole repair visit whose purchase proof is the test photo `proof`,
/// with these test photos of other kinds attached before it is signed.
pub fn repair_visit_with_photos(agent: &mut Agent, proof: &str, others: &[(&str, DocumentKind)]) -> VisitId {
    repair_visit_at(agent, &merchant("老王便利店"), proof, others)
}

/// A whole repair visit for `shop`, whose purchase proof is the test photo
/// `proof`, with these test photos of other kinds attached before it is signed.
pub fn repair_visit_at(
    agent: &mut Agent,
    shop: &MerchantInput,
    proof: &str,
    others: &[(&str, DocumentKind)],
) -> VisitId {
    let id = repair_visit_unsigned(agent, shop, proof);
    for (photo, kind) in others {
        agent.add_photo(&id, &std::fs::read(testdata(photo)).unwrap(), *kind).unwrap();
    }
    agent.sign(&id, "王老板", &strokes()).unwrap();
    agent.set_step(&id, "acceptance", StepState::Done, None, None).unwrap();
    agent.complete(&id).unwrap();
    id
}

/// A repair visit for `shop` with every step before the acceptance done.
pub fn repair_visit_unsigned(agent: &mut Agent, shop: &MerchantInput, photo: &str) -> VisitId {
    let id = agent.create_visit(VisitKind::Repair, shop).unwrap().id;
    agent.identify_typed(&id, "N9100001234567", false).unwrap();
    agent.set_step(&id, "identify", StepState::Done, None, None).unwrap();
    let fault = agent.add_fault(&id, FaultCode::PrinterFault, Some("打印空白")).unwrap();
    agent.add_attempt(&id, &fault, Some(Remedy::CheckPaper), Some("纸卷装反"), true).unwrap();
    agent.resolve_fault(&id, &fault, true, None).unwrap();
    for step in ["fault.classify", "fault.onsite"] {
        agent.set_step(&id, step, StepState::Done, None, None).unwrap();
    }
    agent.set_warranty(&id, WarrantyStatus::InWarranty).unwrap();
    agent.set_step(&id, "warranty", StepState::Done, None, None).unwrap();
    let photo = std::fs::read(testdata(photo)).unwrap();
    agent.add_photo(&id, &photo, DocumentKind::PurchaseProof).unwrap();
    agent.set_step(&id, "docs.purchase_proof", StepState::Done, None, None).unwrap();
    agent.set_repair_plan(&id, RepairPlan::FixedOnSite).unwrap();
    for step in ["plan", "test"] {
        agent.set_step(&id, step, StepState::Done, None, None).unwrap();
    }
    id
}
