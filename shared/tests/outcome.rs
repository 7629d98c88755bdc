//! What each kind of visit does to the terminals it touches, applied
//! through the lifecycle state machine.

mod common;

use std::collections::BTreeMap;

use common::*;
use posfield_shared::visit::outcome::terminal_effects;
use posfield_shared::vocab::{RepairPlan, WarrantyStatus};
use posfield_shared::{TerminalState, VisitKind};

fn run(
    kind: VisitKind,
    start: &[(&str, TerminalState)],
    adjust: impl FnOnce(&mut posfield_shared::visit::VisitDoc, &mut Clock),
) -> BTreeMap<String, TerminalState> {
    let mut clock = Clock::default();
    let mut doc = new_visit(&mut clock, kind);
    fill(&mut doc, &mut clock);
    adjust(&mut doc, &mut clock);
    let mut states: BTreeMap<String, TerminalState> =
        start.iter().map(|(s, t)| (s.to_string(), *t)).collect();
    for effect in terminal_effects(&doc.visit().unwrap()) {
        let state = states.get_mut(&effect.serial).expect("effect on a known terminal");
        *state = state.apply(effect.event).unwrap_or_else(|e| panic!("{kind}: {e}"));
    }
    states
}

#[test]
fn each_kind_moves_its_terminals_along_the_lifecycle() {
    use TerminalState as S;
    let expect = |kind, start: &[(&str, S)], end: &[(&str, S)]| {
        let got = run(kind, start, |_, _| {});
        let want: BTreeMap<String, S> = end.iter().map(|(s, t)| (s.to_string(), *t)).collect();
        assert_eq!(got, want, "{kind}");
    };
    expect(VisitKind::Installation, &[(SERIAL, S::InStock)], &[(SERIAL, S::Installed)]);
    expect(
        VisitKind::Replacement,
        &[(SERIAL, S::Installed), (NEW_SERIAL, S::InStock)],
        &[(SERIAL, S::Recycled), (NEW_SERIAL, S::Installed)],
    );
    expect(VisitKind::Repair, &[(SERIAL, S::Installed)], &[(SERIAL, S::Installed)]);
    expect(VisitKind::Reactivation, &[(SERIAL, S::Suspended)], &[(SERIAL, S::Installed)]);
    expect(VisitKind::Deregistration, &[(SERIAL, S::Installed)], &[(SERIAL, S::Recycled)]);
    expect(VisitKind::SimRenewal, &[(SERIAL, S::Installed)], &[(SERIAL, S::Installed)]);
    expect(VisitKind::Inspection, &[(SERIAL, S::Installed)], &[(SERIAL, S::Installed)]);
}

#[test]
fn repair_outcomes_follow_the_plan_and_warranty() {
    use TerminalState as S;
    let sent = run(VisitKind::Repair, &[(SERIAL, S::Installed)], |doc, clock| {
        doc.set_repair_plan(&clock.ctx(&agent()), RepairPlan::SentForRepair).unwrap();
    });
    assert_eq!(sent[SERIAL], S::InRepair);
    let lost = run(VisitKind::Repair, &[(SERIAL, S::Installed)], |doc, clock| {
        doc.set_warranty(&clock.ctx(&agent()), WarrantyStatus::Lost).unwrap();
    });
    assert_eq!(lost[SERIAL], S::Lost);
}
