//! What each kind of visit does to the terminals it touches, applied
//! through the lifecycle state machine.

mod common;

use std::collections::BTreeMap;

use common::*;
use posfield_shared::visit::outcome::{
    Binding, PlanRefusal, RegisterPlan, Registered, SimChange, application_plan, register_plan,
    terminal_effects,
};
use posfield_shared::vocab::{RepairPlan, Term, WarrantyStatus};
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

/// What the register holds of a terminal in `state` at the test merchant.
fn registered(state: TerminalState) -> Registered {
    Registered {
        state,
        merchant: Some("老王便利店".into()),
        merchant_number: Some("898310048161234".into()),
        sim_iccid: Some(ICCID.into()),
        sim_carrier: Some("china_mobile".into()),
        sim_expiry: Some("2026-12-01".into()),
        holder: None,
    }
}

/// The plan of a filled visit of `kind`, adjusted, over `register`.
fn plan(
    kind: VisitKind,
    register: &[(&str, Registered)],
    adjust: impl FnOnce(&mut posfield_shared::visit::VisitDoc, &mut Clock),
) -> Result<RegisterPlan, PlanRefusal> {
    let mut clock = Clock::default();
    let mut doc = new_visit(&mut clock, kind);
    fill(&mut doc, &mut clock);
    adjust(&mut doc, &mut clock);
    let register: BTreeMap<String, Registered> =
        register.iter().map(|(s, r)| (s.to_string(), r.clone())).collect();
    register_plan(&doc.visit().unwrap(), &register)
}

/// Each change as (serial, state before, state after, binding, SIM).
fn summary(
    plan: &RegisterPlan,
) -> Vec<(String, Option<TerminalState>, TerminalState, &'static str, &'static str)> {
    plan.changes
        .iter()
        .map(|c| {
            let binding = match c.binding {
                Binding::Keep => "keep",
                Binding::Bind { .. } => "bind",
                Binding::Unbind => "unbind",
            };
            let sim = match &c.sim {
                SimChange::Keep => "keep",
                SimChange::Set { retired: Some(_), .. } => "new card",
                SimChange::Set { shared_plan: true, .. } => "shared",
                SimChange::Set { .. } => "set",
                SimChange::Remove => "remove",
            };
            (c.serial.clone(), c.before, c.after(), binding, sim)
        })
        .collect()
}

#[test]
fn each_kind_plans_the_register_change_its_users_expect() {
    use TerminalState as S;
    let installed = registered(S::Installed);
    let in_stock =
        Registered { merchant: None, merchant_number: None, sim_iccid: None, ..registered(S::InStock) };
    type Change = (&'static str, Option<S>, S, &'static str, &'static str);
    let cases: Vec<(&str, Result<RegisterPlan, PlanRefusal>, Vec<Change>)> = vec![
        (
            "an installation puts a stock terminal into service at the merchant",
            plan(VisitKind::Installation, &[(SERIAL, in_stock.clone())], |_, _| {}),
            vec![(SERIAL, Some(S::InStock), S::Installed, "bind", "keep")],
        ),
        (
            "an installation of a terminal the register does not know creates it",
            plan(VisitKind::Installation, &[], |_, _| {}),
            vec![(SERIAL, None, S::Installed, "bind", "keep")],
        ),
        (
            "a replacement takes the old one back and moves the card to the new one",
            plan(
                VisitKind::Replacement,
                &[(SERIAL, installed.clone()), (NEW_SERIAL, in_stock.clone())],
                |_, _| {},
            ),
            vec![
                (SERIAL, Some(S::Installed), S::Recycled, "unbind", "remove"),
                (NEW_SERIAL, Some(S::InStock), S::Installed, "bind", "set"),
            ],
        ),
        (
            "a repair fixed on site leaves the terminal in service",
            plan(VisitKind::Repair, &[(SERIAL, installed.clone())], |_, _| {}),
            vec![(SERIAL, Some(S::Installed), S::Installed, "keep", "keep")],
        ),
        (
            "a repair sent away puts the terminal in repair",
            plan(VisitKind::Repair, &[(SERIAL, installed.clone())], |doc, clock| {
                doc.set_repair_plan(&clock.ctx(&agent()), RepairPlan::SentForRepair).unwrap();
            }),
            vec![(SERIAL, Some(S::Installed), S::InRepair, "keep", "keep")],
        ),
        (
            "a terminal reported lost is lost",
            plan(VisitKind::Repair, &[(SERIAL, installed.clone())], |doc, clock| {
                doc.set_warranty(&clock.ctx(&agent()), WarrantyStatus::Lost).unwrap();
            }),
            vec![(SERIAL, Some(S::Installed), S::Lost, "keep", "keep")],
        ),
        (
            "a lost terminal replaced puts the new one in service with the card",
            plan(
                VisitKind::Repair,
                &[(SERIAL, installed.clone()), (NEW_SERIAL, in_stock.clone())],
                |doc, clock| {
                    let ctx = clock.ctx(&agent());
                    doc.set_warranty(&ctx, WarrantyStatus::Lost).unwrap();
                    doc.set_repair_plan(&clock.ctx(&agent()), RepairPlan::Replaced).unwrap();
                    let method = posfield_shared::vocab::IdentificationMethod::Manual;
                    doc.identify_terminal(&clock.ctx(&agent()), NEW_SERIAL, method, None, true).unwrap();
                },
            ),
            vec![
                (SERIAL, Some(S::Installed), S::Lost, "keep", "remove"),
                (NEW_SERIAL, Some(S::InStock), S::Installed, "bind", "set"),
            ],
        ),
        (
            "a reactivation approved brings a suspended terminal back through issued",
            plan(VisitKind::Reactivation, &[(SERIAL, registered(S::Suspended))], |_, _| {}),
            vec![(SERIAL, Some(S::Suspended), S::Installed, "keep", "keep")],
        ),
        (
            "a reactivation whose terminal the application issued puts it in service",
            plan(VisitKind::Reactivation, &[(SERIAL, registered(S::Issued))], |_, _| {}),
            vec![(SERIAL, Some(S::Issued), S::Installed, "keep", "keep")],
        ),
        (
            "a deregistration unbinds the terminal, takes it back and retires its card",
            plan(VisitKind::Deregistration, &[(SERIAL, installed.clone())], |_, _| {}),
            vec![(SERIAL, Some(S::Installed), S::Recycled, "unbind", "remove")],
        ),
        (
            "a SIM renewal sets the renewed plan",
            plan(VisitKind::SimRenewal, &[(SERIAL, installed.clone())], |_, _| {}),
            vec![(SERIAL, Some(S::Installed), S::Installed, "keep", "set")],
        ),
        (
            "an inspection records the day",
            plan(VisitKind::Inspection, &[(SERIAL, installed.clone())], |_, _| {}),
            vec![(SERIAL, Some(S::Installed), S::Installed, "keep", "keep")],
        ),
        (
            "a repair of a terminal the register does not know creates it at the merchant",
            plan(VisitKind::Repair, &[], |_, _| {}),
            vec![(SERIAL, None, S::Installed, "bind", "keep")],
        ),
    ];
    for (name, got, want) in cases {
        let got = got.unwrap_or_else(|e| panic!("{name}: {e}"));
        let want: Vec<_> =
            want.into_iter().map(|(s, b, a, bind, sim)| (s.to_owned(), b, a, bind, sim)).collect();
        assert_eq!(summary(&got), want, "{name}");
        assert!(got.conflicts.is_empty(), "{name}: {:?}", got.conflicts);
    }
}

#[test]
fn an_inspection_and_an_installation_record_their_day() {
    let inspected =
        plan(VisitKind::Inspection, &[(SERIAL, registered(TerminalState::Installed))], |_, _| {}).unwrap();
    assert!(inspected.changes[0].inspected_on.is_some());
    assert!(inspected.changes[0].in_service_since.is_none());
    let installed = plan(VisitKind::Installation, &[], |_, _| {}).unwrap();
    assert!(installed.changes[0].in_service_since.is_some());
}

#[test]
fn a_replaced_card_is_retired_and_a_shared_plan_is_named() {
    use posfield_shared::vocab::SimAction;
    for (action, new_iccid, want) in
        [(SimAction::Replaced, Some(NEW_ICCID), "new card"), (SimAction::SharedPlan, None, "shared")]
    {
        let got =
            plan(VisitKind::SimRenewal, &[(SERIAL, registered(TerminalState::Installed))], |doc, clock| {
                doc.set_sim_action(&clock.ctx(&agent()), action, new_iccid, None).unwrap();
            })
            .unwrap();
        assert_eq!(summary(&got)[0].4, want, "{action}");
    }
}

#[test]
fn a_register_that_binds_the_terminal_elsewhere_is_a_conflict_not_an_overwrite() {
    let elsewhere = Registered {
        merchant: Some("张记面馆".into()),
        merchant_number: Some("898310048169999".into()),
        ..registered(TerminalState::Installed)
    };
    let got = plan(VisitKind::Inspection, &[(SERIAL, elsewhere)], |_, _| {}).unwrap();
    assert_eq!(got.conflicts.len(), 1);
    assert_eq!(got.conflicts[0].register, "张记面馆（898310048169999）");
    assert_eq!(got.conflicts[0].visit, "老王便利店（898310048161234）");
    assert!(matches!(got.changes[0].binding, Binding::Bind { .. }), "an approval corrects the register");

    // Taking back or deregistering another merchant's terminal is a conflict too.
    let elsewhere = Registered {
        merchant_number: Some("898310048169999".into()),
        ..registered(TerminalState::Installed)
    };
    for kind in [VisitKind::Deregistration, VisitKind::Replacement] {
        let got = plan(kind, &[(SERIAL, elsewhere.clone())], |_, _| {}).unwrap();
        assert_eq!(got.conflicts.len(), 1, "{kind}");
    }
}

#[test]
fn what_the_lifecycle_refuses_stops_the_plan_with_its_reason() {
    use TerminalState as S;
    let cases = [
        ("deregistering a lost terminal", VisitKind::Deregistration, S::Lost),
        ("installing a terminal installed elsewhere", VisitKind::Installation, S::Installed),
        (
            "inspecting nothing is no event, but reactivating an installed one is",
            VisitKind::Reactivation,
            S::Installed,
        ),
    ];
    for (name, kind, state) in cases {
        let refused = plan(kind, &[(SERIAL, registered(state))], |_, _| {}).unwrap_err();
        assert!(matches!(refused, PlanRefusal::Lifecycle { .. }), "{name}");
        assert!(
            refused.zh().contains(SERIAL) && refused.zh().contains(state.zh()),
            "{name}: {}",
            refused.zh()
        );
    }
}

#[test]
fn an_approved_application_issues_a_suspended_terminal_only() {
    use TerminalState as S;
    let mut clock = Clock::default();
    let mut doc = new_visit(&mut clock, VisitKind::Reactivation);
    fill(&mut doc, &mut clock);
    let visit = doc.visit().unwrap();
    for (state, issued) in [(S::Suspended, true), (S::Installed, false), (S::Issued, false)] {
        let register = BTreeMap::from([(SERIAL.to_owned(), registered(state))]);
        let got = application_plan(&visit, &register);
        assert_eq!(got.changes.iter().any(|c| c.after() == S::Issued), issued, "{state}");
    }
    assert_eq!(application_plan(&visit, &BTreeMap::new()).changes[0].after(), S::Issued);
}

#[test]
fn a_replacement_hands_the_old_terminal_to_the_agent_and_the_new_one_to_the_merchant() {
    use posfield_shared::visit::outcome::Holder;
    let got = plan(
        VisitKind::Replacement,
        &[(SERIAL, registered(TerminalState::Installed)), (NEW_SERIAL, registered(TerminalState::InStock))],
        |_, _| {},
    )
    .unwrap();
    let handover = |serial: &str| {
        let change = got.changes.iter().find(|c| c.serial == serial).unwrap();
        let handover = change.handover.clone().expect("a hand-over");
        (handover.from, handover.to, handover.receipt.contains("王老板"))
    };
    let (shop, agent) = (Holder::Merchant("老王便利店".into()), Holder::Agent("agent-li".into()));
    assert_eq!(handover(SERIAL), (shop.clone(), agent.clone(), true));
    assert_eq!(handover(NEW_SERIAL), (agent, shop, true));
    // The old terminal's hand-over carries what the agent recorded taking it
    // back: its condition, seal number and photo. The new one's has none.
    let old = got.changes.iter().find(|c| c.serial == SERIAL).unwrap().handover.clone().unwrap();
    assert_eq!((old.condition.as_str(), old.seal.as_str()), ("外观完好，电源适配器齐全", "FD-00042"));
    assert_eq!(old.photo, Some(sha("terminal_photo")));
    let new = got.changes.iter().find(|c| c.serial == NEW_SERIAL).unwrap().handover.clone().unwrap();
    assert_eq!((new.condition.as_str(), new.photo.as_deref()), ("", None));
    let inspected = plan(VisitKind::Inspection, &[(SERIAL, registered(TerminalState::Installed))], |_, _| {});
    assert!(inspected.unwrap().changes[0].handover.is_none(), "an inspection hands nothing over");
}

#[test]
fn only_a_repaired_terminal_back_from_the_repair_centre_changes_state_at_the_warehouse() {
    use posfield_shared::lifecycle::TerminalEvent;
    use posfield_shared::visit::outcome::{Holder, check_in_event};
    let agent = Holder::Agent("wang".into());
    for state in TerminalState::ALL {
        for from in [None, Some(&agent), Some(&Holder::RepairCentre), Some(&Holder::Warehouse)] {
            for at in [Holder::Warehouse, Holder::RepairCentre, agent.clone()] {
                let back = *state == TerminalState::InRepair
                    && from == Some(&Holder::RepairCentre)
                    && at == Holder::Warehouse;
                let want = back.then_some(TerminalEvent::ReturnToStock);
                assert_eq!(check_in_event(*state, from, &at), want, "{state} from {from:?} at {at:?}");
            }
        }
    }
}
