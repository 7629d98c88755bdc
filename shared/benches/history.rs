//! What the back office's visit page costs to read a visit's past: each
//! history entry's before and after (`VisitDoc::history_changes`, one
//! automerge diff per entry) and the values that lost a concurrent write
//! (`VisitDoc::concurrent_edits`), on a visit of 300 changes made by a
//! phone and the office, merged back and forth, loaded from its saved
//! bytes as the server loads it.
//!
//! `cargo bench -p posfield-shared --bench history` (`-- --changes N` to
//! change the size). Prints one Markdown table.

// A benchmark binary reports on stdout and reads the clock.
#![allow(clippy::print_stdout, missing_docs)]

use std::time::{Duration, Instant};

use posfield_shared::visit::{BlobInfo, Ctx, MerchantInput, SimInput, StepState, VisitDoc};
use posfield_shared::vocab::{DocumentKind, IdentificationMethod, SimCarrier};
use posfield_shared::{Actor, CalendarDate, FaultCode, Timestamp, VisitKind};

const RUNS: usize = 5;

fn main() {
    let mut changes = 300_usize;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        if arg == "--changes" {
            changes = args.next().and_then(|v| v.parse().ok()).unwrap_or(changes);
        }
    }
    let bytes = visit_of(changes);
    let mut loaded = VisitDoc::load(&bytes).expect("the visit loads");
    let entries = loaded.visit().expect("a visit").history.len();
    let history = timed(|| {
        let mut doc = VisitDoc::load(&bytes).unwrap();
        let started = Instant::now();
        let found = doc.history_changes();
        assert_eq!(found.len(), entries);
        started.elapsed()
    });
    let concurrent = timed(|| {
        let mut doc = VisitDoc::load(&bytes).unwrap();
        let started = Instant::now();
        doc.concurrent_edits();
        started.elapsed()
    });
    let load = timed(|| {
        let started = Instant::now();
        VisitDoc::load(&bytes).unwrap();
        started.elapsed()
    });
    println!("| visit | changes | saved bytes | load | history_changes | per entry | concurrent_edits |");
    println!("|---|---|---|---|---|---|---|");
    println!(
        "| replacement, phone and office | {} | {} | {} | {} | {:.3} ms | {} |",
        loaded.change_count(),
        bytes.len(),
        ms(load),
        ms(history),
        history.as_secs_f64() * 1000.0 / entries as f64,
        ms(concurrent),
    );
}

/// The median of `RUNS` timings.
fn timed(mut run: impl FnMut() -> Duration) -> Duration {
    let mut times: Vec<Duration> = (0..RUNS).map(|_| run()).collect();
    times.sort();
    times[RUNS / 2]
}

fn ms(duration: Duration) -> String {
    format!("{:.1} ms", duration.as_secs_f64() * 1000.0)
}

/// A replacement visit of about `changes` changes: the phone works through
/// steps, notes, photos (some removed), faults, SIM and merchant
/// corrections while the office adds notes, the two merged every tenth
/// change, a few of the phone's edits made beside the office's.
fn visit_of(changes: usize) -> Vec<u8> {
    let agent = Actor::agent("li", "phone-li");
    let office_user = Actor::reviewer("wang", "server");
    let mut n = 0_i64;
    let mut ctx = |actor: &Actor| {
        n += 1;
        Ctx::new(actor.clone(), Timestamp(1_795_000_000_000 + n * 60_000), format!("op-{n}"))
    };
    let merchant = MerchantInput {
        name: "老王便利店".into(),
        phone: Some("13812345678".into()),
        merchant_number: Some("898310048161234".into()),
        ..MerchantInput::default()
    };
    let mut phone =
        VisitDoc::create_visit(&ctx(&agent), b"phone-li", "visit", VisitKind::Replacement, &merchant, "li")
            .expect("created");
    phone
        .identify_terminal(&ctx(&agent), "N9100001234567", IdentificationMethod::Manual, None, false)
        .unwrap();
    let mut office = phone.fork(b"server");
    let steps: Vec<&str> = VisitKind::Replacement.template().steps.iter().map(|s| s.id.as_str()).collect();
    let mut made = 2;
    let mut attached = None;
    while made < changes {
        let i = made;
        let edit = ctx(&agent);
        match i % 7 {
            0 => phone.set_step(
                &edit,
                steps[i % steps.len()],
                StepState::Done,
                None,
                Some(&format!("第 {i} 次")),
            ),
            1 => phone.add_note(&edit, &format!("备注 {i}")),
            2 => {
                attached = Some(i);
                phone.attach_document(&edit, &photo(i), DocumentKind::Other, Timestamp(7))
            }
            3 => match attached.take() {
                Some(earlier) => phone.remove_document(&edit, &photo(earlier).sha256),
                None => phone.add_note(&edit, &format!("备注 {i}")),
            },
            4 => phone.add_fault(&edit, FaultCode::PrinterFault, None),
            5 => phone.set_sim(
                &edit,
                &SimInput {
                    iccid: "89860012345678901238".into(),
                    carrier: SimCarrier::ChinaMobile,
                    expiry: CalendarDate::parse("2026-12-01").unwrap().add_days(i as i64),
                },
            ),
            _ => phone.correct_merchant(
                &edit,
                &MerchantInput { phone: Some(format!("139{:08}", i)), ..merchant.clone() },
            ),
        }
        .expect("the edit is allowed");
        made += 1;
        if i % 5 == 0 {
            office.add_note(&ctx(&office_user), &format!("后台备注 {i}")).unwrap();
            made += 1;
        }
        if i % 10 == 0 {
            phone.merge(&mut office).unwrap();
            office.merge(&mut phone).unwrap();
        }
    }
    phone.merge(&mut office).unwrap();
    phone.save()
}

fn photo(i: usize) -> BlobInfo {
    BlobInfo {
        sha256: format!("{i:064x}"),
        mime: "image/jpeg".into(),
        bytes: 180_000,
        width: 1600,
        height: 1200,
    }
}
