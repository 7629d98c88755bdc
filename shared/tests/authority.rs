//! The server restores back-office fields an agent's change altered, and
//! keeps the rest of that change.

mod common;

use common::*;
use posfield_shared::visit::authority::{OfficeField, OfficeFields};
use posfield_shared::visit::schema::{Note, ReviewDecision};
use posfield_shared::visit::{AcceptanceSummary, SignatureCheck, VisitDoc};
use posfield_shared::{Actor, VisitKind};

fn server() -> Actor {
    Actor::admin("posfield-server", "server")
}

#[test]
fn an_agent_assigning_itself_someone_elses_visit_is_put_back_and_its_note_kept() {
    let mut clock = Clock::default();
    let mut phone = new_visit(&mut clock, VisitKind::Repair);
    let mut office = phone.fork(b"server-actor");
    let trusted = OfficeFields::of(&office.visit().unwrap());
    // A tampered phone writes the assignment with a reviewer's role, and a note.
    phone.assign(&clock.ctx(&reviewer()), "mallory").unwrap();
    phone.add_note(&clock.ctx(&agent()), "门店已搬迁").unwrap();
    office.merge(&mut phone).unwrap();
    let merged = office.visit().unwrap();
    let forged = trusted.forged(&merged);
    assert_eq!(forged, vec![OfficeField::Assignment]);
    let restored = office.restore_office_fields(&clock.ctx(&server()), &trusted, &forged).unwrap();
    assert_eq!(restored.assignment, trusted.assignment);
    assert!(restored.notes.iter().any(|n| n.text == "门店已搬迁"));
    assert_eq!(restored.history.last().unwrap().action, "restore_office_fields");
    assert_eq!(restored.history.last().unwrap().detail, "assignment");
    assert!(trusted.forged(&restored).is_empty());
    // The phone gets the restoration back and agrees.
    phone.merge(&mut office).unwrap();
    assert_eq!(phone.visit().unwrap(), restored);
}

#[test]
fn legitimate_agent_work_is_not_forged() {
    let mut clock = Clock::default();
    let mut phone = new_visit(&mut clock, VisitKind::Repair);
    let trusted = OfficeFields::of(&phone.visit().unwrap());
    phone.add_note(&clock.ctx(&agent()), "到店").unwrap();
    assert!(trusted.forged(&phone.visit().unwrap()).is_empty());
}

#[test]
fn a_visit_first_seen_from_an_agent_is_trusted_only_as_its_own() {
    let mut clock = Clock::default();
    let mut phone: VisitDoc = new_visit(&mut clock, VisitKind::Repair);
    phone.assign(&clock.ctx(&reviewer()), "someone-else").unwrap();
    let visit = phone.visit().unwrap();
    let owner = agent().user;
    let trusted = OfficeFields::first_seen(&visit, &owner);
    assert_eq!(trusted.assignment.agent, owner);
    assert_eq!(trusted.forged(&visit), vec![OfficeField::Assignment]);
}

/// A visit filled, completed and approved, as the back office left it, and
/// the trusted fields the server keeps of it.
fn approved(clock: &mut Clock) -> (VisitDoc, OfficeFields) {
    let mut office = new_visit(clock, VisitKind::Repair);
    fill(&mut office, clock);
    office.complete(&clock.ctx(&agent())).unwrap();
    let visit = office.review(&clock.ctx(&reviewer()), ReviewDecision::Approve, None).unwrap();
    (office, OfficeFields::of(&visit))
}

#[test]
fn approval_seals_the_acceptance_and_the_records_its_summary_is_made_of() {
    let mut clock = Clock::default();
    let (office, trusted) = approved(&mut clock);
    let sealed = trusted.approved.as_ref().expect("an approved visit's acceptance is sealed");
    assert!(sealed.acceptance.is_some());
    // Before approval nothing is sealed, and a visit first seen from a phone
    // never is, whatever status it claims.
    let mut clock = Clock::default();
    let draft = new_visit(&mut clock, VisitKind::Repair).visit().unwrap();
    assert_eq!(OfficeFields::of(&draft).approved, None);
    let claimed = office.visit().unwrap();
    assert_eq!(OfficeFields::first_seen(&claimed, &agent().user).approved, None);
}

#[test]
fn a_summary_made_anew_after_approval_is_put_back_with_the_signature_it_replaced() {
    let mut clock = Clock::default();
    let (office, trusted) = approved(&mut clock);
    let honest = office.visit().unwrap();
    // A modified phone changes the merchant after approval, signs a summary
    // made anew over it, and adds a note.
    let mut forged = honest.clone();
    forged.merchant.name = "另一家商户".into();
    let signed_at = forged.acceptance.as_ref().unwrap().signed_at;
    let summary = AcceptanceSummary::of(&forged, signed_at).canonical_json();
    let acceptance = forged.acceptance.as_mut().unwrap();
    acceptance.content_hash = AcceptanceSummary::hash_of(&summary);
    acceptance.summary_json = summary;
    acceptance.device_signature = Some("ab".repeat(64));
    forged.notes.push(Note {
        id: "after".into(),
        text: "审核后的备注".into(),
        stamp: honest.created.clone(),
    });
    assert_eq!(SignatureCheck::of(&forged), SignatureCheck::Valid, "the forgery is consistent in itself");

    assert_eq!(trusted.forged(&forged), vec![OfficeField::Acceptance]);
    let mut restored = forged.clone();
    trusted.put_back(&mut restored, &[OfficeField::Acceptance]);
    assert_eq!(restored.acceptance, honest.acceptance);
    assert_eq!(restored.merchant, honest.merchant);
    assert_eq!(SignatureCheck::of(&restored), SignatureCheck::Valid);
    assert!(restored.notes.iter().any(|n| n.text == "审核后的备注"), "the rest of the change is kept");
    assert!(trusted.forged(&restored).is_empty());
    // The seal survives the trip through the projection's JSON.
    let stored: OfficeFields = serde_json::from_str(&serde_json::to_string(&trusted).unwrap()).unwrap();
    assert_eq!(stored, trusted);
}
