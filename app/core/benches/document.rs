//! Visit document benchmark: a realistic repair visit (about thirty edits,
//! three photos, a fault with attempts, the merchant's signature) and what
//! it costs to move and read: its saved size, the size of its changes one
//! by one (what automerge's sync protocol sends), and the time to load it,
//! to read the typed visit from it, and to save it. Prints its figures; run
//! with `cargo bench -p posfield-core --bench document`.
#![allow(clippy::print_stdout, missing_docs)]

use std::time::{Duration, Instant};

use posfield_core::Agent;
use posfield_core::signature::{Point, Strokes};
use posfield_shared::visit::schema::StepState;
use posfield_shared::visit::{MerchantInput, VisitDoc};
use posfield_shared::vocab::{DocumentKind, RepairPlan, WarrantyStatus};
use posfield_shared::{FaultCode, VisitKind};

const ROUNDS: usize = 200;

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn timed<T>(mut work: impl FnMut() -> T) -> Duration {
    let samples = (0..ROUNDS)
        .map(|_| {
            let started = Instant::now();
            std::hint::black_box(work());
            started.elapsed()
        })
        .collect();
    median(samples)
}

fn photo(shade: u8) -> Vec<u8> {
    let image = image::RgbImage::from_fn(320, 240, |x, y| {
        let ink = (y / 17) % 2 == 0 && x > 20 && x < 280;
        if ink { image::Rgb([40, 40, 48]) } else { image::Rgb([shade, 228, 214]) }
    });
    let mut jpeg = Vec::new();
    image::DynamicImage::ImageRgb8(image)
        .write_to(&mut std::io::Cursor::new(&mut jpeg), image::ImageFormat::Jpeg)
        .expect("jpeg");
    jpeg
}

fn signature() -> Strokes {
    let strokes = (0..3)
        .map(|n| {
            (0..40)
                .map(|i| Point {
                    x: 30.0 + i as f32 * 12.0,
                    y: 90.0 + n as f32 * 70.0 + (i as f32 / 3.0).sin() * 20.0,
                    t: n * 900 + i * 15,
                    p: Some(0.6),
                })
                .collect()
        })
        .collect();
    Strokes { width: 600.0, height: 300.0, strokes }
}

/// A repair visit as the sync load benchmark's agents make them.
fn repair_visit(agent: &mut Agent) -> posfield_shared::VisitId {
    let merchant = MerchantInput {
        name: "老王便利店".into(),
        merchant_number: Some("898440358120031".into()),
        terminal_number: Some("38120031".into()),
        phone: Some("13800138000".into()),
        address: Some("广州市天河区人民路 88 号".into()),
        location: None,
    };
    let id = agent.create_visit(VisitKind::Repair, &merchant).expect("create").id;
    agent.identify_typed(&id, "N9123456789012", false).expect("identify");
    let step = |agent: &mut Agent, step: &str, note: Option<&str>| {
        agent.set_step(&id, step, StepState::Done, None, note).expect(step);
    };
    step(agent, "identify", None);
    let fault = agent.add_fault(&id, FaultCode::PrinterFault, Some("打印空白")).expect("fault");
    agent
        .add_attempt(&id, &fault, Some(FaultCode::PrinterFault.info().remedies[0]), Some("正常"), false)
        .expect("try");
    agent
        .add_attempt(&id, &fault, Some(FaultCode::PrinterFault.info().remedies[1]), Some("测试通过"), true)
        .expect("try");
    agent.resolve_fault(&id, &fault, true, Some("现场已修复")).expect("resolve");
    step(agent, "fault.classify", Some("已拍照留存"));
    step(agent, "fault.onsite", None);
    agent.set_warranty(&id, WarrantyStatus::InWarranty).expect("warranty");
    step(agent, "warranty", None);
    for (n, kind) in [DocumentKind::PurchaseProof, DocumentKind::ScreenError, DocumentKind::TransactionRecord]
        .into_iter()
        .enumerate()
    {
        agent.add_photo(&id, &photo(200 + n as u8 * 10), kind).expect("photo");
    }
    step(agent, "docs.purchase_proof", None);
    agent.set_repair_plan(&id, RepairPlan::FixedOnSite).expect("plan");
    step(agent, "plan", None);
    step(agent, "test", Some("测试通过"));
    for n in 0..10 {
        agent.add_note(&id, &format!("商户反映下午信号差，已解释 {n}")).expect("note");
    }
    agent.sign(&id, "王老板", &signature()).expect("sign");
    step(agent, "acceptance", None);
    agent.complete(&id).expect("complete");
    id
}

fn main() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut agent = Agent::open(
        &dir.path().join("data"),
        std::sync::Arc::new(posfield_core::KeyFile::at(dir.path().join("data.key"))),
    )
    .expect("open");
    agent.sign_in("agent-bench").expect("sign in");
    let id = repair_visit(&mut agent);
    let stored = agent.visit_document(&id).expect("bytes");
    let mut doc = VisitDoc::load(&stored).expect("load");
    let saved = doc.save();
    let changes = doc.changes();
    let change_bytes: usize = changes.iter().map(Vec::len).sum();
    let history = doc.visit().expect("visit").history.len();
    println!(
        "a repair visit: {} changes ({history} history entries), saved {} B, its changes one by one {} B",
        changes.len(),
        saved.len(),
        change_bytes
    );
    let raw = timed(|| automerge::Automerge::load(&saved).expect("automerge load"));
    let typed = timed(|| VisitDoc::load(&saved).expect("visit load"));
    let from_changes = timed(|| {
        let mut doc = automerge::Automerge::new();
        doc.load_incremental(&changes.concat()).expect("changes");
        doc
    });
    let resave = timed(|| VisitDoc::load(&saved).expect("load").save());
    let us = |d: Duration| format!("{:.0} µs", d.as_secs_f64() * 1e6);
    println!("load (automerge only): {}", us(raw));
    println!(
        "load and read the typed visit: {} (reading the visit: {})",
        us(typed),
        us(typed.saturating_sub(raw))
    );
    println!("load from its changes one by one (automerge only): {}", us(from_changes));
    println!("load, read and save again: {}", us(resave));
    // What reading the visit costs: autosurgeon looks every field up on its
    // own; automerge's one-pass materialisation (untyped) for comparison.
    let am = automerge::Automerge::load(&saved).expect("load");
    let typed = timed(|| autosurgeon::hydrate::<_, posfield_shared::visit::Visit>(&am).expect("hydrate"));
    let untyped = timed(|| am.hydrate(None));
    println!(
        "read the typed visit (autosurgeon): {}; materialise it untyped in one pass: {}",
        us(typed),
        us(untyped)
    );
}
