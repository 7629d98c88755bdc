//! The server restores back-office fields an agent's change altered, and
//! keeps the rest of that change.

mod common;

use common::*;
use posfield_shared::visit::VisitDoc;
use posfield_shared::visit::authority::{OfficeField, OfficeFields};
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
