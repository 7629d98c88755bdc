//! Concurrent edits by the agent and the back office, merged: list additions
//! from both sides are kept, single values have a deterministic winner with
//! the loser visible as a conflict, and review decisions are never lost.

mod common;

use common::*;
use posfield_shared::visit::schema::ReviewDecision;
use posfield_shared::visit::{StepState, VisitDoc};
use posfield_shared::vocab::DocumentKind;
use posfield_shared::{FaultCode, Timestamp, VisitKind, VisitStatus};

/// Merges both ways and checks the replicas are identical.
fn converge(a: &mut VisitDoc, b: &mut VisitDoc) {
    a.merge(b).unwrap();
    b.merge(a).unwrap();
    assert_eq!(a.heads(), b.heads());
    assert_eq!(a.visit().unwrap(), b.visit().unwrap());
    assert_eq!(a.conflicts(), b.conflicts());
}

fn phone_and_office(kind: VisitKind) -> (VisitDoc, VisitDoc, Clock) {
    let mut clock = Clock::default();
    let mut phone = new_visit(&mut clock, kind);
    let office = phone.fork(b"server-actor");
    (phone, office, clock)
}

#[test]
fn faults_added_on_two_phones_at_once_are_both_kept() {
    let (mut a, _, mut clock) = phone_and_office(VisitKind::Repair);
    let mut b = a.fork(b"second-phone");
    a.add_fault(&clock.ctx(&agent()), FaultCode::PrinterFault, None).unwrap();
    b.add_fault(&clock.ctx(&other_agent()), FaultCode::KeypadUnresponsive, None).unwrap();
    converge(&mut a, &mut b);
    let codes: Vec<_> = a.visit().unwrap().faults.iter().filter_map(|f| f.code.known()).collect();
    assert_eq!(codes.len(), 2);
    assert!(codes.contains(&FaultCode::PrinterFault) && codes.contains(&FaultCode::KeypadUnresponsive));
}

#[test]
fn photos_from_the_agent_and_notes_from_the_office_are_all_kept() {
    let (mut phone, mut office, mut clock) = phone_and_office(VisitKind::Installation);
    for kind in [DocumentKind::BusinessLicence, DocumentKind::IdCard, DocumentKind::BankCard] {
        phone.attach_document(&clock.ctx(&agent()), &photo(&format!("{kind}")), kind, Timestamp(7)).unwrap();
    }
    office.add_note(&clock.ctx(&reviewer()), "请补拍门头照").unwrap();
    phone.add_note(&clock.ctx(&agent()), "商户下午三点后在店").unwrap();
    converge(&mut phone, &mut office);
    let visit = phone.visit().unwrap();
    assert_eq!(visit.current_documents().count(), 3);
    assert_eq!(visit.notes.len(), 2);
    // Every history entry from both sides is there.
    assert_eq!(visit.history.len(), 1 + 3 + 2);
    assert!(phone.conflicts().is_empty());
}

#[test]
fn concurrent_edits_of_different_fields_of_one_fault_both_survive() {
    let (mut a, _, mut clock) = phone_and_office(VisitKind::Repair);
    let ctx = clock.ctx(&agent());
    a.add_fault(&ctx, FaultCode::PrinterFault, None).unwrap();
    let id = ctx.op_id;
    let mut b = a.fork(b"second-phone");
    a.add_attempt(&clock.ctx(&agent()), &id, Some(posfield_shared::Remedy::Restart), None, false).unwrap();
    b.resolve_fault(&clock.ctx(&agent()), &id, true, Some("换纸后正常")).unwrap();
    converge(&mut a, &mut b);
    let fault = a.visit().unwrap().faults[0].clone();
    assert_eq!(fault.attempts.len(), 1);
    assert!(fault.resolution.unwrap().fixed);
}

#[test]
fn a_removal_and_a_concurrent_edit_of_the_same_fault_both_survive() {
    let (mut a, _, mut clock) = phone_and_office(VisitKind::Repair);
    let ctx = clock.ctx(&agent());
    a.add_fault(&ctx, FaultCode::Slow, None).unwrap();
    let id = ctx.op_id;
    let mut b = a.fork(b"second-phone");
    a.remove_fault(&clock.ctx(&agent()), &id).unwrap();
    b.add_attempt(&clock.ctx(&agent()), &id, None, Some("清理缓存"), true).unwrap();
    converge(&mut a, &mut b);
    let fault = a.visit().unwrap().faults[0].clone();
    assert!(fault.removed.is_some(), "the removal is kept");
    assert_eq!(fault.attempts.len(), 1, "the attempt is kept");
}

#[test]
fn one_value_changed_on_both_sides_has_one_winner_and_a_visible_conflict() {
    let (mut a, _, mut clock) = phone_and_office(VisitKind::Installation);
    a.set_step(&clock.ctx(&agent()), "install", StepState::Done, None, Some("first")).unwrap();
    let mut b = a.fork(b"second-phone");
    a.set_step(&clock.ctx(&agent()), "install", StepState::Done, None, Some("墙上固定")).unwrap();
    b.set_step(&clock.ctx(&other_agent()), "install", StepState::Done, None, Some("放在收银台")).unwrap();
    // Merge in opposite orders on two copies: the same winner either way.
    let (mut a2, mut b2) = (a.fork(b"x1"), b.fork(b"x2"));
    a.merge(&mut b).unwrap();
    b2.merge(&mut a2).unwrap();
    let winner = a.visit().unwrap().step("install").unwrap().note.clone().unwrap();
    assert_eq!(b2.visit().unwrap().step("install").unwrap().note.as_deref(), Some(winner.as_str()));
    let conflicts = a.conflicts();
    let note = conflicts.iter().find(|c| c.path == "steps.install.note").expect("note conflict reported");
    assert_eq!(note.winner, winner);
    let mut values = note.values.clone();
    values.sort();
    assert_eq!(values, ["墙上固定", "放在收银台"]);
    // Writing the field again resolves the conflict.
    a.set_step(&clock.ctx(&agent()), "install", StepState::Done, None, Some("墙上固定")).unwrap();
    assert!(a.conflicts().iter().all(|c| c.path != "steps.install.note"));
}

#[test]
fn a_return_made_while_the_agent_kept_working_is_not_lost() {
    let mut clock = Clock::default();
    let mut phone = new_visit(&mut clock, VisitKind::SimRenewal);
    fill(&mut phone, &mut clock);
    phone.complete(&clock.ctx(&agent())).unwrap();
    let mut office = phone.fork(b"server-actor");
    office.review(&clock.ctx(&reviewer()), ReviewDecision::Return, Some("到期日填错")).unwrap();
    // Offline, the agent keeps adding notes to the completed visit.
    phone.add_note(&clock.ctx(&agent()), "商户要求下月续费").unwrap();
    converge(&mut phone, &mut office);
    let visit = phone.visit().unwrap();
    assert_eq!(visit.status, VisitStatus::Returned);
    assert_eq!(visit.latest_review().unwrap().note.as_deref(), Some("到期日填错"));
    assert_eq!(visit.notes.len(), 1);
}

#[test]
fn cancel_against_a_concurrent_complete_resolves_to_the_office_and_keeps_the_work() {
    let mut clock = Clock::default();
    let mut phone = new_visit(&mut clock, VisitKind::Inspection);
    fill(&mut phone, &mut clock);
    let mut office = phone.fork(b"server-actor");
    phone.complete(&clock.ctx(&agent())).unwrap();
    office.cancel(&clock.ctx(&reviewer()), "商户已撤机").unwrap();
    converge(&mut phone, &mut office);
    let visit = phone.visit().unwrap();
    assert_eq!(visit.status, VisitStatus::Cancelled, "the back office's decision outranks");
    assert!(visit.completion.is_some(), "the agent's completion is kept");
    let status = phone.conflicts().into_iter().find(|c| c.path == "status").expect("status conflict visible");
    assert_eq!(status.winner, "cancelled");
    let mut values = status.values;
    values.sort();
    assert_eq!(values, ["cancelled", "completed"]);
    // The back office's page: the office's value shown, the agent's kept, each with its history entry.
    let edits = phone.concurrent_edits();
    let status = edits.iter().find(|e| e.path == "status").expect("the status is contested");
    let action = |value: &posfield_shared::visit::ConcurrentValue| {
        value.written.as_ref().and_then(|w| w.entry.as_ref()).map(|e| e.action.clone())
    };
    assert_eq!(
        (status.winner.value.as_deref(), action(&status.winner).as_deref()),
        (Some("cancelled"), Some("cancel"))
    );
    assert_eq!(status.losers.len(), 1);
    assert_eq!(
        (status.losers[0].value.as_deref(), action(&status.losers[0]).as_deref()),
        (Some("completed"), Some("complete"))
    );
}

#[test]
fn approval_and_a_concurrent_agent_note_both_land() {
    let mut clock = Clock::default();
    let mut phone = new_visit(&mut clock, VisitKind::Installation);
    fill(&mut phone, &mut clock);
    phone.complete(&clock.ctx(&agent())).unwrap();
    let mut office = phone.fork(b"server-actor");
    office.review(&clock.ctx(&reviewer()), ReviewDecision::Approve, None).unwrap();
    office.assign(&clock.ctx(&reviewer()), "agent-zhao").unwrap_err(); // approved is final
    phone.add_note(&clock.ctx(&agent()), "已留下维修电话").unwrap();
    converge(&mut phone, &mut office);
    let visit = phone.visit().unwrap();
    assert_eq!(visit.status, VisitStatus::Approved);
    assert_eq!(visit.reviews.len(), 1);
    assert_eq!(visit.notes.len(), 1);
}

#[test]
fn a_reassignment_and_agent_work_merge() {
    let (mut phone, mut office, mut clock) = phone_and_office(VisitKind::Repair);
    office.assign(&clock.ctx(&reviewer()), "agent-zhao").unwrap();
    phone.add_fault(&clock.ctx(&agent()), FaultCode::CannotConnect, None).unwrap();
    converge(&mut phone, &mut office);
    let visit = phone.visit().unwrap();
    assert_eq!(visit.assignment.agent, "agent-zhao");
    assert_eq!(visit.faults.len(), 1);
    assert_eq!(visit.status, VisitStatus::InProgress);
}
