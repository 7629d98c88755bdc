//! The authority table, and how the server restores what an agent's change
//! altered beyond it while keeping the rest of that change.

mod common;

use common::*;
use std::collections::BTreeSet;

use posfield_shared::actor::Role;
use posfield_shared::status::VisitStatus;
use posfield_shared::visit::authority::{Field, May, OfficeFields, Sender, Writer, may};
use posfield_shared::visit::schema::{Note, ReviewDecision};
use posfield_shared::visit::{
    AcceptanceSummary, Ctx, SignatureCheck, StepState, Visit, VisitDoc, VisitError,
};
use posfield_shared::vocab::Term;
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
    assert_eq!(forged, vec![Field::Assignment]);
    let restored = office.restore_office_fields(&clock.ctx(&server()), &trusted, &forged, None).unwrap();
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
    assert_eq!(trusted.forged(&visit), vec![Field::Assignment]);
}

#[test]
fn a_phone_that_moves_its_visit_to_another_day_has_the_desks_day_put_back() {
    let mut clock = Clock::default();
    let mut office = new_visit(&mut clock, VisitKind::Repair);
    office.schedule(&clock.ctx(&admin()), Some(plan("2026-12-08", "09:00", "11:00"))).unwrap();
    let trusted = OfficeFields::of(&office.visit().unwrap());
    let mut phone = office.fork(b"phone-actor");
    // A tampered phone writes a plan with an administrator's role, and a step.
    phone.schedule(&clock.ctx(&admin()), Some(plan("2026-12-31", "", ""))).unwrap();
    phone.add_note(&clock.ctx(&agent()), "改天再来").unwrap();
    office.merge(&mut phone).unwrap();
    let merged = office.visit().unwrap();
    let forged = trusted.forged(&merged);
    assert_eq!(forged, vec![Field::Assignment]);
    let restored = office.restore_office_fields(&clock.ctx(&server()), &trusted, &forged, None).unwrap();
    assert_eq!(restored.assignment.schedule, Some(plan("2026-12-08", "09:00", "11:00")));
    assert!(restored.notes.iter().any(|n| n.text == "改天再来"));
}

#[test]
fn a_phone_planning_its_own_new_visit_is_not_trusted() {
    let mut clock = Clock::default();
    let mut phone = new_visit(&mut clock, VisitKind::Repair);
    phone.schedule(&clock.ctx(&admin()), Some(plan("2026-12-08", "", ""))).unwrap();
    let visit = phone.visit().unwrap();
    let trusted = OfficeFields::first_seen(&visit, &agent().user);
    assert_eq!(trusted.assignment.schedule, None);
    assert_eq!(trusted.forged(&visit), vec![Field::Assignment]);
}

fn forged_brief(alerts: usize) -> posfield_shared::visit::SiteBrief {
    use posfield_shared::visit::{BriefAlert, SiteBrief, TerminalBrief};
    SiteBrief {
        made_at: posfield_shared::Timestamp(0),
        terminals: vec![TerminalBrief {
            serial: SERIAL.into(),
            model: None,
            state: None,
            sim_carrier: None,
            sim_expiry: None,
            warranty_end: None,
            production_date: None,
            visits: Vec::new(),
            repairs_last_year: 99,
            alerts: (0..alerts).map(|_| BriefAlert::RepeatedFaults.into()).collect(),
        }],
    }
}

#[test]
fn a_phone_that_writes_the_jobs_brief_has_the_servers_put_back() {
    let mut clock = Clock::default();
    let mut office = new_visit(&mut clock, VisitKind::Repair);
    office.brief(&clock.ctx(&admin()), Some(forged_brief(1))).unwrap();
    let trusted = OfficeFields::of(&office.visit().unwrap());
    let mut phone = office.fork(b"phone-actor");
    // A tampered phone plants another history under an administrator's role.
    phone.brief(&clock.ctx(&admin()), Some(forged_brief(3))).unwrap();
    office.merge(&mut phone).unwrap();
    let merged = office.visit().unwrap();
    let forged = trusted.forged(&merged);
    assert_eq!(forged, vec![Field::Assignment]);
    let restored = office.restore_office_fields(&clock.ctx(&server()), &trusted, &forged, None).unwrap();
    assert_eq!(restored.assignment.brief, Some(forged_brief(1)));
}

#[test]
fn a_phone_briefing_its_own_new_visit_is_not_trusted() {
    let mut clock = Clock::default();
    let mut phone = new_visit(&mut clock, VisitKind::Repair);
    phone.brief(&clock.ctx(&admin()), Some(forged_brief(1))).unwrap();
    let visit = phone.visit().unwrap();
    let trusted = OfficeFields::first_seen(&visit, &agent().user);
    assert_eq!(trusted.assignment.brief, None);
    assert_eq!(trusted.forged(&visit), vec![Field::Assignment]);
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
fn a_summary_made_anew_after_approval_is_put_back_with_everything_else_the_agent_changed() {
    let mut clock = Clock::default();
    let (office, trusted) = approved(&mut clock);
    let honest = office.visit().unwrap();
    // A modified phone changes the merchant after approval, signs a summary
    // made anew over it, adds a note and empties the history.
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
    forged.history.clear();
    assert_eq!(SignatureCheck::of(&forged), SignatureCheck::Valid, "the forgery is consistent in itself");

    let found = trusted.forged(&forged);
    assert_eq!(found, vec![Field::Merchant, Field::Acceptance, Field::Notes, Field::History]);
    let mut restored = forged.clone();
    trusted.put_back(&mut restored, &found);
    assert_eq!(restored, honest, "an approved visit is frozen for agents: everything goes back");
    assert_eq!(SignatureCheck::of(&restored), SignatureCheck::Valid);
    assert!(trusted.forged(&restored).is_empty());
    // What the server trusts survives the trip through the projection's JSON.
    let stored: OfficeFields = serde_json::from_str(&serde_json::to_string(&trusted).unwrap()).unwrap();
    assert_eq!(stored, trusted);
}

/// The authority table, written out: per writer, per field, what it may
/// do in each status (draft, in progress, completed, approved, returned,
/// cancelled). N never, W write, O its own values only, A append, R raise,
/// S restore. A field or a status added to the code without a row here
/// fails.
const TABLE: &[(Writer, Field, &str)] = &[
    (Writer::Agent, Field::Versions, "RRRRRR"),
    (Writer::Agent, Field::Id, "NNNNNN"),
    (Writer::Agent, Field::Kind, "NNNNNN"),
    (Writer::Agent, Field::Status, "OONNON"),
    (Writer::Agent, Field::Merchant, "WWNNWN"),
    (Writer::Agent, Field::Created, "NNNNNN"),
    (Writer::Agent, Field::Assignment, "NNNNNN"),
    (Writer::Agent, Field::Terminal, "WWNNWN"),
    (Writer::Agent, Field::Replacement, "WWNNWN"),
    (Writer::Agent, Field::Steps, "WWNNWN"),
    (Writer::Agent, Field::Faults, "WWNNWN"),
    (Writer::Agent, Field::Documents, "WWNNWN"),
    (Writer::Agent, Field::Annotations, "WWNNWN"),
    (Writer::Agent, Field::Sim, "WWNNWN"),
    (Writer::Agent, Field::Backup, "WWNNWN"),
    (Writer::Agent, Field::BackupWaiver, "WWNNWN"),
    (Writer::Agent, Field::Parameters, "WWNNWN"),
    (Writer::Agent, Field::NetworkTest, "WWNNWN"),
    (Writer::Agent, Field::Restore, "WWNNWN"),
    (Writer::Agent, Field::Deregistration, "WWNNWN"),
    (Writer::Agent, Field::FollowUp, "WWNNWN"),
    (Writer::Agent, Field::Handovers, "WWNNWN"),
    (Writer::Agent, Field::Trip, "WWNNWN"),
    (Writer::Agent, Field::Repair, "WWNNWN"),
    (Writer::Agent, Field::ReactivationCause, "WWNNWN"),
    (Writer::Agent, Field::Application, "OONNON"),
    (Writer::Agent, Field::Acceptance, "WWNNWN"),
    (Writer::Agent, Field::Completion, "WWNNWN"),
    (Writer::Agent, Field::Reviews, "NNNNNN"),
    (Writer::Agent, Field::Notes, "AAANAN"),
    (Writer::Agent, Field::History, "AAANAN"),
    (Writer::Reviewer, Field::Versions, "RRRRRR"),
    (Writer::Reviewer, Field::Id, "NNNNNN"),
    (Writer::Reviewer, Field::Kind, "NNNNNN"),
    (Writer::Reviewer, Field::Status, "WWWNWN"),
    (Writer::Reviewer, Field::Merchant, "NNNNNN"),
    (Writer::Reviewer, Field::Created, "NNNNNN"),
    (Writer::Reviewer, Field::Assignment, "NNNNNN"),
    (Writer::Reviewer, Field::Terminal, "NNNNNN"),
    (Writer::Reviewer, Field::Replacement, "NNNNNN"),
    (Writer::Reviewer, Field::Steps, "NNNNNN"),
    (Writer::Reviewer, Field::Faults, "NNNNNN"),
    (Writer::Reviewer, Field::Documents, "NNNNNN"),
    (Writer::Reviewer, Field::Annotations, "NNNNNN"),
    (Writer::Reviewer, Field::Sim, "NNNNNN"),
    (Writer::Reviewer, Field::Backup, "NNNNNN"),
    (Writer::Reviewer, Field::BackupWaiver, "NNNNNN"),
    (Writer::Reviewer, Field::Parameters, "NNNNNN"),
    (Writer::Reviewer, Field::NetworkTest, "NNNNNN"),
    (Writer::Reviewer, Field::Restore, "NNNNNN"),
    (Writer::Reviewer, Field::Deregistration, "NNNNNN"),
    (Writer::Reviewer, Field::FollowUp, "NNNNNN"),
    (Writer::Reviewer, Field::Handovers, "NNNNNN"),
    (Writer::Reviewer, Field::Trip, "NNNNNN"),
    (Writer::Reviewer, Field::Repair, "NNNNNN"),
    (Writer::Reviewer, Field::ReactivationCause, "NNNNNN"),
    (Writer::Reviewer, Field::Application, "WWWNWN"),
    (Writer::Reviewer, Field::Acceptance, "NNNNNN"),
    (Writer::Reviewer, Field::Completion, "NNNNNN"),
    (Writer::Reviewer, Field::Reviews, "AAANAN"),
    (Writer::Reviewer, Field::Notes, "AAAAAA"),
    (Writer::Reviewer, Field::History, "AAAAAA"),
    (Writer::Admin, Field::Versions, "RRRRRR"),
    (Writer::Admin, Field::Id, "NNNNNN"),
    (Writer::Admin, Field::Kind, "NNNNNN"),
    (Writer::Admin, Field::Status, "WWWNWN"),
    (Writer::Admin, Field::Merchant, "NNNNNN"),
    (Writer::Admin, Field::Created, "NNNNNN"),
    (Writer::Admin, Field::Assignment, "WWWNWN"),
    (Writer::Admin, Field::Terminal, "NNNNNN"),
    (Writer::Admin, Field::Replacement, "NNNNNN"),
    (Writer::Admin, Field::Steps, "NNNNNN"),
    (Writer::Admin, Field::Faults, "NNNNNN"),
    (Writer::Admin, Field::Documents, "NNNNNN"),
    (Writer::Admin, Field::Annotations, "NNNNNN"),
    (Writer::Admin, Field::Sim, "NNNNNN"),
    (Writer::Admin, Field::Backup, "NNNNNN"),
    (Writer::Admin, Field::BackupWaiver, "NNNNNN"),
    (Writer::Admin, Field::Parameters, "NNNNNN"),
    (Writer::Admin, Field::NetworkTest, "NNNNNN"),
    (Writer::Admin, Field::Restore, "NNNNNN"),
    (Writer::Admin, Field::Deregistration, "NNNNNN"),
    (Writer::Admin, Field::FollowUp, "NNNNNN"),
    (Writer::Admin, Field::Handovers, "NNNNNN"),
    (Writer::Admin, Field::Trip, "NNNNNN"),
    (Writer::Admin, Field::Repair, "NNNNNN"),
    (Writer::Admin, Field::ReactivationCause, "NNNNNN"),
    (Writer::Admin, Field::Application, "WWWNWN"),
    (Writer::Admin, Field::Acceptance, "NNNNNN"),
    (Writer::Admin, Field::Completion, "NNNNNN"),
    (Writer::Admin, Field::Reviews, "AAANAN"),
    (Writer::Admin, Field::Notes, "AAAAAA"),
    (Writer::Admin, Field::History, "AAAAAA"),
    (Writer::Server, Field::Versions, "RRRRRR"),
    (Writer::Server, Field::Id, "SSSSSS"),
    (Writer::Server, Field::Kind, "SSSSSS"),
    (Writer::Server, Field::Status, "SSSSSS"),
    (Writer::Server, Field::Merchant, "SSSSSS"),
    (Writer::Server, Field::Created, "SSSSSS"),
    (Writer::Server, Field::Assignment, "SSSSSS"),
    (Writer::Server, Field::Terminal, "SSSSSS"),
    (Writer::Server, Field::Replacement, "SSSSSS"),
    (Writer::Server, Field::Steps, "SSSSSS"),
    (Writer::Server, Field::Faults, "SSSSSS"),
    (Writer::Server, Field::Documents, "SSSSSS"),
    (Writer::Server, Field::Annotations, "SSSSSS"),
    (Writer::Server, Field::Sim, "SSSSSS"),
    (Writer::Server, Field::Backup, "SSSSSS"),
    (Writer::Server, Field::BackupWaiver, "SSSSSS"),
    (Writer::Server, Field::Parameters, "SSSSSS"),
    (Writer::Server, Field::NetworkTest, "SSSSSS"),
    (Writer::Server, Field::Restore, "SSSSSS"),
    (Writer::Server, Field::Deregistration, "SSSSSS"),
    (Writer::Server, Field::FollowUp, "SSSSSS"),
    (Writer::Server, Field::Handovers, "SSSSSS"),
    (Writer::Server, Field::Trip, "SSSSSS"),
    (Writer::Server, Field::Repair, "SSSSSS"),
    (Writer::Server, Field::ReactivationCause, "SSSSSS"),
    (Writer::Server, Field::Application, "SSSSSS"),
    (Writer::Server, Field::Acceptance, "SSSSSS"),
    (Writer::Server, Field::Completion, "SSSSSS"),
    (Writer::Server, Field::Reviews, "SSSSSS"),
    (Writer::Server, Field::Notes, "SSSSSS"),
    (Writer::Server, Field::History, "AAAAAA"),
];

const STATUSES: [VisitStatus; 6] = [
    VisitStatus::Draft,
    VisitStatus::InProgress,
    VisitStatus::Completed,
    VisitStatus::Approved,
    VisitStatus::Returned,
    VisitStatus::Cancelled,
];

fn letter(may: May) -> char {
    match may {
        May::Never => 'N',
        May::Write => 'W',
        May::Own => 'O',
        May::Append => 'A',
        May::Raise => 'R',
        May::Restore => 'S',
    }
}

#[test]
fn the_authority_table_covers_every_field_status_and_writer() {
    assert_eq!(STATUSES.len(), VisitStatus::ALL.len(), "a status without a column");
    assert_eq!(TABLE.len(), Field::ALL.len() * Writer::ALL.len(), "a field or writer without a row");
    for writer in Writer::ALL {
        for field in Field::ALL {
            let row = TABLE.iter().find(|(w, f, _)| *w == writer && *f == field);
            let Some((_, _, expected)) = row else { panic!("no row for {writer:?} {field:?}") };
            let found: String = STATUSES.iter().map(|&status| letter(may(field, status, writer))).collect();
            assert_eq!(&found, expected, "{writer:?} {field:?}");
        }
    }
}

/// Every key of a visit document is some field's: a key added to the
/// schema without a row in the table fails here.
#[test]
fn every_key_of_the_visit_document_has_a_field() {
    let mut clock = Clock::default();
    let (office, _) = approved(&mut clock);
    let json = serde_json::to_value(office.visit().unwrap()).unwrap();
    let mut keys: BTreeSet<String> = json.as_object().unwrap().keys().cloned().collect();
    keys.remove("reactivation");
    for key in json["reactivation"].as_object().unwrap().keys() {
        keys.insert(format!("reactivation.{key}"));
    }
    let covered: BTreeSet<String> =
        Field::ALL.iter().flat_map(|f| f.keys().iter().map(|k| (*k).to_owned())).collect();
    assert_eq!(keys, covered);
}

/// What each of the back office's operations changes is what the table lets
/// its role change, in the status it starts from.
#[rstest::rstest]
#[case::approve(Role::Reviewer, VisitStatus::Completed, |d: &mut VisitDoc, c: &Ctx| d.review(c, ReviewDecision::Approve, None))]
#[case::return_(Role::Reviewer, VisitStatus::Completed, |d: &mut VisitDoc, c: &Ctx| d.review(c, ReviewDecision::Return, Some("补拍照片")))]
#[case::cancel(Role::Admin, VisitStatus::InProgress, |d: &mut VisitDoc, c: &Ctx| d.cancel(c, "商户取消"))]
#[case::assign(Role::Admin, VisitStatus::InProgress, |d: &mut VisitDoc, c: &Ctx| d.assign(c, "agent-zhao"))]
#[case::schedule(Role::Admin, VisitStatus::InProgress, |d: &mut VisitDoc, c: &Ctx| d.schedule(c, Some(plan("2026-12-08", "09:00", "11:00"))))]
#[case::a_note_on_an_approved_visit(Role::Reviewer, VisitStatus::Approved, |d: &mut VisitDoc, c: &Ctx| d.add_note(c, "已归档"))]
fn the_back_offices_operations_change_only_what_the_table_lets_them(
    #[case] role: Role,
    #[case] from: VisitStatus,
    #[case] operation: fn(&mut VisitDoc, &Ctx) -> Result<Visit, VisitError>,
) {
    let mut clock = Clock::default();
    let mut doc = new_visit(&mut clock, VisitKind::Repair);
    doc.add_note(&clock.ctx(&agent()), "到店").unwrap();
    if from == VisitStatus::InProgress {
        doc.set_step(&clock.ctx(&agent()), "identify", StepState::Skipped, Some("无法识别"), None).unwrap();
    } else {
        fill(&mut doc, &mut clock);
        doc.complete(&clock.ctx(&agent())).unwrap();
    }
    if from == VisitStatus::Approved {
        doc.review(&clock.ctx(&reviewer()), ReviewDecision::Approve, None).unwrap();
    }
    let before = doc.visit().unwrap();
    assert_eq!(before.status, from);
    let actor = Actor { role, ..reviewer() };
    let after = operation(&mut doc, &clock.ctx(&actor)).unwrap();
    let trusted = OfficeFields::of(&before);
    let mut changed = trusted.forged(&after);
    changed.retain(|&field| field != Field::Versions);
    for field in changed {
        let allowed = may(field, from, Writer::of(role));
        assert_ne!(allowed, May::Never, "{role:?} changed {field:?} of a {from} visit");
    }
}

#[test]
fn an_agent_appends_to_the_notes_and_history_as_itself_and_removes_nothing() {
    let mut clock = Clock::default();
    let mut phone = new_visit(&mut clock, VisitKind::Repair);
    phone.add_note(&clock.ctx(&reviewer()), "后台备注").unwrap();
    let trusted = OfficeFields::of(&phone.visit().unwrap());
    let sender = Sender { user: agent().user, device: "device-1".into() };
    // Honest: a note of its own.
    phone.add_note(&clock.ctx(&agent()), "到店").unwrap();
    assert!(trusted.forged_by(&phone.visit().unwrap(), Some(&sender)).is_empty());
    // A modified phone removes the back office's note, and writes a history
    // entry in the reviewer's name.
    let mut forged = phone.visit().unwrap();
    forged.notes.retain(|n| n.text != "后台备注");
    let mut claimed = forged.history.last().unwrap().clone();
    claimed.id = "claimed".into();
    claimed.action = "review".into();
    claimed.stamp.by = reviewer();
    forged.history.push(claimed);
    let found = trusted.forged_by(&forged, Some(&sender));
    assert_eq!(found, vec![Field::Notes, Field::History]);
    trusted.put_back_for(&mut forged, &found, Some(&sender));
    let texts: Vec<&str> = forged.notes.iter().map(|n| n.text.as_str()).collect();
    assert_eq!(texts, ["后台备注", "到店"], "the removed note is back where it was, the new one kept");
    let entry = forged.history.iter().find(|e| e.id == "claimed").unwrap();
    assert_eq!(entry.stamp.by, sender.actor(), "the entry names who sent it");
    assert!(trusted.forged_by(&forged, Some(&sender)).is_empty());
}

#[test]
fn a_visit_a_phone_sends_first_is_created_by_its_agent_whatever_it_claims() {
    let mut clock = Clock::default();
    let phone = new_visit(&mut clock, VisitKind::Repair);
    let mut visit = phone.visit().unwrap();
    visit.created.by = reviewer();
    let trusted = OfficeFields::first_seen(&visit, &agent().user);
    let found = trusted.forged(&visit);
    assert_eq!(found, vec![Field::Created]);
    trusted.put_back(&mut visit, &found);
    assert_eq!(visit.created.by.user, agent().user);
    assert_eq!(visit.created.by.role, Role::Agent);
}
