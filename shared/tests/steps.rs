//! How a step stands, derived once for every screen (`step_statuses`): the
//! phone's checklist and the back office's visit page used to derive it each
//! their own way. Each case says where the old copies disagreed.

mod common;

use common::*;
use posfield_shared::VisitKind;
use posfield_shared::checklist::Requirement;
use posfield_shared::visit::{StepState, StepStatus, VisitDoc, step_statuses};
use posfield_shared::vocab::{DocumentKind, WarrantyStatus};

fn status(doc: &VisitDoc, step: &str) -> StepStatus {
    let visit = doc.visit().unwrap();
    step_statuses(&visit).into_iter().find(|s| s.step.id.as_str() == step).expect("the step exists")
}

fn shown(doc: &VisitDoc, step: &str) -> (StepState, bool, Option<Requirement>) {
    let s = status(doc, step);
    (s.state.known().expect("a state this version knows"), s.applies, s.waits_for)
}

#[test]
fn every_step_of_the_checklist_is_listed_in_order() {
    let mut clock = Clock::default();
    let doc = new_visit(&mut clock, VisitKind::Repair);
    let listed: Vec<&str> = step_statuses(&doc.visit().unwrap()).iter().map(|s| s.step.id.as_str()).collect();
    let template: Vec<&str> = VisitKind::Repair.template().steps.iter().map(|s| s.id.as_str()).collect();
    assert_eq!(listed, template);
}

#[test]
fn a_step_not_worked_on_is_pending_where_it_applies_and_not_applicable_where_it_does_not() {
    let mut clock = Clock::default();
    let doc = new_visit(&mut clock, VisitKind::Repair);
    // Both old copies agreed: pending, and (no warranty decided yet) the police report does not apply.
    assert_eq!(shown(&doc, "plan"), (StepState::Pending, true, None));
    assert_eq!(shown(&doc, "docs.police_report"), (StepState::NotApplicable, false, None));
}

#[test]
fn a_done_step_whose_condition_no_longer_holds_is_shown_not_applicable() {
    let mut clock = Clock::default();
    let mut doc = new_visit(&mut clock, VisitKind::Repair);
    doc.set_warranty(&clock.ctx(&agent()), WarrantyStatus::Lost).unwrap();
    satisfy(&mut doc, &mut clock, Requirement::Photo(DocumentKind::PoliceReport));
    doc.set_step(&clock.ctx(&agent()), "docs.police_report", StepState::Done, None, None).unwrap();
    assert_eq!(shown(&doc, "docs.police_report"), (StepState::Done, true, None));
    doc.set_warranty(&clock.ctx(&agent()), WarrantyStatus::InWarranty).unwrap();
    // The back office showed "done" (the record); the phone showed it greyed
    // out as not applicable. Completion ignores the step: not applicable.
    assert_eq!(shown(&doc, "docs.police_report"), (StepState::NotApplicable, false, None));
}

#[test]
fn steps_after_an_undecided_application_say_what_they_wait_for() {
    let mut clock = Clock::default();
    let doc = new_visit(&mut clock, VisitKind::Reactivation);
    // The phone showed the lock; the back office showed a plain "pending".
    let waiting = Some(Requirement::ApplicationApproved);
    assert_eq!(shown(&doc, "install"), (StepState::Pending, true, waiting));
    assert_eq!(
        shown(&doc, "application"),
        (StepState::Pending, true, None),
        "the application itself waits for nothing"
    );
}
