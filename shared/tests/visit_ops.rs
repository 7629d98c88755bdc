//! Operations on a visit document: roles, status rules, the completion
//! rule for every kind, and stamps recorded from the device.

mod common;

use common::*;
use posfield_shared::checklist::{Condition, Requirement};
use posfield_shared::fault::Remedy;
use posfield_shared::visit::completion::{StepProblem, describe_zh};
use posfield_shared::visit::schema::ReviewDecision;
use posfield_shared::visit::{MerchantInput, Missing, StepState, VisitDoc, VisitError};
use posfield_shared::vocab::{DocumentKind, IdentificationMethod, Term, WarrantyStatus};
use posfield_shared::{FaultCode, Role, Timestamp, VisitKind, VisitStatus};

#[test]
fn every_kind_completes_once_its_checklist_is_filled() {
    for kind in VisitKind::ALL {
        let mut clock = Clock::default();
        let mut doc = new_visit(&mut clock, *kind);
        fill(&mut doc, &mut clock);
        let visit = doc.complete(&clock.ctx(&agent())).unwrap_or_else(|e| panic!("{kind}: {e}"));
        assert_eq!(visit.status, VisitStatus::Completed, "{kind}");
        assert!(visit.completion.is_some());
    }
}

#[test]
fn complete_lists_exactly_what_is_missing() {
    let mut clock = Clock::default();
    let mut doc = new_visit(&mut clock, VisitKind::Installation);
    let error = doc.complete(&clock.ctx(&agent())).unwrap_err();
    let VisitError::Incomplete(missing) = error else { panic!("expected Incomplete, got {error}") };
    let steps: Vec<&str> = missing
        .iter()
        .map(|m| match m {
            Missing::Step { step, problem: StepProblem::NotDone, .. } => *step,
            other => panic!("unexpected {other:?}"),
        })
        .collect();
    assert_eq!(
        steps,
        [
            "docs.business_licence",
            "docs.id_card",
            "docs.bank_card",
            "docs.agreement",
            "identify",
            "install",
            "params",
            "network",
            "test.print",
            "test.card",
            "test.payment",
            "training",
            "acceptance"
        ]
    );
    assert_eq!(describe_zh(&missing[0]), "未完成：拍摄营业执照");
    // Nothing was written by the refused completion.
    assert_eq!(doc.visit().unwrap().status, VisitStatus::Draft);
}

#[test]
fn a_done_step_without_its_photo_blocks_completion_and_says_which_photo() {
    let mut clock = Clock::default();
    let mut doc = new_visit(&mut clock, VisitKind::Installation);
    fill(&mut doc, &mut clock);
    let licence = doc
        .visit()
        .unwrap()
        .current_documents()
        .find(|d| d.kind == DocumentKind::BusinessLicence)
        .unwrap()
        .sha256
        .clone();
    doc.remove_document(&clock.ctx(&agent()), &licence).unwrap();
    let Err(VisitError::Incomplete(missing)) = doc.complete(&clock.ctx(&agent())) else { panic!() };
    assert_eq!(
        missing,
        [Missing::Requirement {
            step: "docs.business_licence",
            requirement: Requirement::Photo(DocumentKind::BusinessLicence)
        }]
    );
    // Re-attaching the same photo restores it.
    doc.attach_document(
        &clock.ctx(&agent()),
        &photo("business_licence"),
        DocumentKind::BusinessLicence,
        Timestamp(1),
    )
    .unwrap();
    assert!(doc.complete(&clock.ctx(&agent())).is_ok());
}

#[test]
fn removing_each_requirement_in_turn_is_reported() {
    // For every kind, skip satisfying one requirement at a time and check
    // that completion names exactly that requirement.
    for kind in VisitKind::ALL {
        // Conditional steps (police report, fee) are covered by their own test.
        for step in kind.template().steps.iter().filter(|s| s.when == Condition::Always) {
            for requirement in step.requires {
                if matches!(requirement, Requirement::MerchantNumber | Requirement::RegisteredPhone) {
                    continue;
                }
                let mut clock = Clock::default();
                let mut doc = new_visit(&mut clock, *kind);
                fill_except(&mut doc, &mut clock, *requirement);
                // An "A or B" photo that another step took already meets it.
                if posfield_shared::visit::completion::requirement_met(&doc.visit().unwrap(), *requirement) {
                    assert!(matches!(requirement, Requirement::PhotoEither(..)), "{kind}: {requirement:?}");
                    continue;
                }
                let error = doc.complete(&clock.ctx(&agent())).unwrap_err();
                let VisitError::Incomplete(missing) = error else { panic!("{kind}: {error}") };
                assert!(
                    missing.iter().any(
                        |m| matches!(m, Missing::Requirement { requirement: r, .. } if r == requirement)
                    ),
                    "{kind}/{}: {missing:?}",
                    step.id
                );
            }
        }
    }
}

/// Like `fill`, but leaves one requirement unmet while still marking its step done.
fn fill_except(doc: &mut VisitDoc, clock: &mut Clock, skip: Requirement) {
    use posfield_shared::visit::completion::applies;
    let kind = doc.visit().unwrap().kind;
    for step in kind.template().steps {
        if !applies(&doc.visit().unwrap(), step.when) || step.requires.contains(&Requirement::Signature) {
            continue;
        }
        for requirement in step.requires {
            // A SIM action cannot be recorded without the SIM record it
            // belongs to, nor a terminal's details without its serial.
            let depends_on_skipped = matches!(
                (skip, *requirement),
                (Requirement::SimData, Requirement::SimAction)
                    | (
                        Requirement::TerminalIdentified,
                        Requirement::TerminalDetails | Requirement::HandoverRecorded
                    )
                    | (Requirement::ReplacementSerial, Requirement::ReplacementDetails)
            );
            if *requirement != skip && !depends_on_skipped {
                satisfy(doc, clock, *requirement);
            }
        }
        done_unless_waiting(doc, clock, step.id.as_str(), skip);
    }
    if skip != Requirement::Signature && !skip.is_decision() {
        sign(doc, clock);
    }
    for step in kind.template().steps.iter().filter(|s| s.requires.contains(&Requirement::Signature)) {
        done_unless_waiting(doc, clock, step.id.as_str(), skip);
    }
}

/// Marks a step done; with a back-office decision left unmet, the steps
/// after it are refused as waiting for that decision.
fn done_unless_waiting(doc: &mut VisitDoc, clock: &mut Clock, step: &str, skip: Requirement) {
    match doc.set_step(&clock.ctx(&agent()), step, StepState::Done, None, None) {
        Ok(_) => {}
        Err(VisitError::WaitsForDecision { decision, .. }) if decision == skip => {}
        Err(error) => panic!("{step}: {error}"),
    }
}

#[test]
fn a_reactivation_waits_for_the_back_office_after_its_application() {
    let mut clock = Clock::default();
    let mut doc = new_visit(&mut clock, VisitKind::Reactivation);
    let a = agent();
    for requirement in [Requirement::TerminalIdentified, Requirement::SuspensionCause] {
        satisfy(&mut doc, &mut clock, requirement);
    }
    for step in ["identify", "cause"] {
        doc.set_step(&clock.ctx(&a), step, StepState::Done, None, None).unwrap();
    }
    doc.submit_application(&clock.ctx(&a)).unwrap();
    // Submitted, not approved: the installation and everything after it wait,
    // skipping too, and the merchant cannot sign yet.
    for (step, state, reason) in
        [("install", StepState::Done, None), ("training", StepState::Skipped, Some("商户已会用"))]
    {
        let error = doc.set_step(&clock.ctx(&a), step, state, reason, None).unwrap_err();
        assert!(
            matches!(&error, VisitError::WaitsForDecision { decision: Requirement::ApplicationApproved, .. }),
            "{step}: {error}"
        );
    }
    let visit = doc.visit().unwrap();
    assert_eq!(
        posfield_shared::visit::completion::waiting_for(&visit, "install"),
        Some(Requirement::ApplicationApproved)
    );
    assert_eq!(posfield_shared::visit::completion::waiting_for(&visit, "cause"), None);
    let refused = doc.sign_acceptance(&clock.ctx(&a), &signature()).unwrap_err();
    assert!(matches!(refused, VisitError::WaitsForDecision { .. }), "{refused}");
    // Steps before the application are still free to change.
    doc.set_step(&clock.ctx(&a), "docs.purchase_proof", StepState::NotApplicable, None, None).unwrap();

    // A cancelled visit's application is decided no more.
    let mut cancelled = doc.fork(b"cancelled");
    cancelled.cancel(&clock.ctx(&reviewer()), "商户取消").unwrap();
    let refused = cancelled
        .decide_application(&clock.ctx(&reviewer()), posfield_shared::vocab::ApplicationState::Approved, None)
        .unwrap_err();
    assert!(
        matches!(refused, VisitError::Locked { status: posfield_shared::VisitStatus::Cancelled }),
        "{refused}"
    );
    doc.decide_application(&clock.ctx(&reviewer()), posfield_shared::vocab::ApplicationState::Approved, None)
        .unwrap();
    let visit = doc.set_step(&clock.ctx(&a), "install", StepState::Done, None, None).unwrap();
    assert_eq!(visit.step_state("install"), StepState::Done);
}

#[test]
fn merchant_documents_are_also_unmet_when_the_merchant_lacks_them() {
    let mut clock = Clock::default();
    let mut merchant = merchant();
    merchant.phone = None;
    let mut doc = VisitDoc::create_visit(
        &clock.ctx(&agent()),
        b"a",
        "visit-2",
        VisitKind::Deregistration,
        &merchant,
        "agent-li",
    )
    .unwrap();
    fill(&mut doc, &mut clock);
    let Err(VisitError::Incomplete(missing)) = doc.complete(&clock.ctx(&agent())) else { panic!() };
    assert_eq!(missing, [Missing::Requirement { step: "phone", requirement: Requirement::RegisteredPhone }]);
}

#[test]
fn skipping_needs_a_reason_and_the_signature_cannot_be_skipped() {
    let mut clock = Clock::default();
    let mut doc = new_visit(&mut clock, VisitKind::Installation);
    let error =
        doc.set_step(&clock.ctx(&agent()), "training", StepState::Skipped, Some("  "), None).unwrap_err();
    assert!(matches!(error, VisitError::StepState { why: "skipping needs a reason", .. }), "{error}");
    let error = doc
        .set_step(&clock.ctx(&agent()), "acceptance", StepState::Skipped, Some("商户不在"), None)
        .unwrap_err();
    assert!(matches!(error, VisitError::StepState { why: "this step cannot be skipped", .. }), "{error}");
    let error =
        doc.set_step(&clock.ctx(&agent()), "install", StepState::NotApplicable, None, None).unwrap_err();
    assert!(matches!(error, VisitError::StepState { .. }), "{error}");
    doc.set_step(&clock.ctx(&agent()), "docs.tax_certificate", StepState::NotApplicable, None, None).unwrap();
    let visit = doc
        .set_step(&clock.ctx(&agent()), "training", StepState::Skipped, Some("店员已会使用"), Some("老员工"))
        .unwrap();
    let record = visit.step("training").unwrap();
    assert_eq!(record.reason.as_deref(), Some("店员已会使用"));
    assert_eq!(record.note.as_deref(), Some("老员工"));
    let error = doc.set_step(&clock.ctx(&agent()), "no.such.step", StepState::Done, None, None).unwrap_err();
    assert_eq!(error.to_string(), "installation visits have no step \"no.such.step\"");
}

#[test]
fn a_skipped_required_step_with_a_reason_does_not_block() {
    let mut clock = Clock::default();
    let mut doc = new_visit(&mut clock, VisitKind::Inspection);
    fill(&mut doc, &mut clock);
    doc.set_step(&clock.ctx(&agent()), "check.battery", StepState::Skipped, Some("终端无电池"), None)
        .unwrap();
    // The summary changed (a passed step is now skipped): sign again, then complete.
    sign(&mut doc, &mut clock);
    assert!(doc.complete(&clock.ctx(&agent())).is_ok());
}

#[test]
fn conditional_steps_apply_only_when_their_condition_holds() {
    let mut clock = Clock::default();
    let mut doc = new_visit(&mut clock, VisitKind::Repair);
    fill(&mut doc, &mut clock);
    // In warranty: no fee step, no police report. Now the terminal turns out lost.
    doc.set_warranty(&clock.ctx(&agent()), WarrantyStatus::Lost).unwrap();
    let Err(VisitError::Incomplete(missing)) = doc.complete(&clock.ctx(&agent())) else { panic!() };
    assert!(
        missing.iter().any(|m| matches!(m, Missing::Step { step: "docs.police_report", .. })),
        "{missing:?}"
    );
    doc.set_warranty(&clock.ctx(&agent()), WarrantyStatus::HumanDamage).unwrap();
    let Err(VisitError::Incomplete(missing)) = doc.complete(&clock.ctx(&agent())) else { panic!() };
    assert!(missing.iter().any(|m| matches!(m, Missing::Step { step: "fee", .. })), "{missing:?}");
    assert!(!missing.iter().any(|m| matches!(m, Missing::Step { step: "docs.police_report", .. })));
}

#[test]
fn the_status_machine_is_enforced_by_operations() {
    let mut clock = Clock::default();
    let mut doc = new_visit(&mut clock, VisitKind::SimRenewal);
    assert!(matches!(
        doc.review(&clock.ctx(&reviewer()), ReviewDecision::Approve, None),
        Err(VisitError::Transition(_))
    ));
    fill(&mut doc, &mut clock);
    doc.complete(&clock.ctx(&agent())).unwrap();
    // A completed visit is locked for the agent.
    let error = doc.add_fault(&clock.ctx(&agent()), FaultCode::Slow, None).unwrap_err();
    assert!(matches!(error, VisitError::Locked { status: VisitStatus::Completed }), "{error}");
    // Returning needs a note; then the agent works on it again.
    assert!(matches!(
        doc.review(&clock.ctx(&reviewer()), ReviewDecision::Return, None),
        Err(VisitError::EmptyText { .. })
    ));
    let visit =
        doc.review(&clock.ctx(&reviewer()), ReviewDecision::Return, Some("ICCID 照片不清楚")).unwrap();
    assert_eq!(visit.status, VisitStatus::Returned);
    assert_eq!(visit.latest_review().unwrap().note.as_deref(), Some("ICCID 照片不清楚"));
    let visit = doc.add_note(&clock.ctx(&agent()), "已重新拍照").unwrap();
    assert_eq!(visit.status, VisitStatus::Returned, "a note does not restart work");
    let visit =
        doc.set_step(&clock.ctx(&agent()), "verify.data", StepState::Done, None, Some("再次验证")).unwrap();
    assert_eq!(visit.status, VisitStatus::InProgress, "editing a returned visit restarts it");
    doc.complete(&clock.ctx(&agent())).unwrap();
    let visit = doc.review(&clock.ctx(&reviewer()), ReviewDecision::Approve, None).unwrap();
    assert_eq!(visit.status, VisitStatus::Approved);
    assert_eq!(visit.reviews.len(), 2);
    assert!(matches!(doc.cancel(&clock.ctx(&reviewer()), "重复"), Err(VisitError::Transition(_))));
}

#[test]
fn roles_are_enforced() {
    let mut clock = Clock::default();
    let mut doc = new_visit(&mut clock, VisitKind::Repair);
    let forbidden = |r: Result<_, VisitError>| matches!(r, Err(VisitError::Forbidden { .. }));
    assert!(forbidden(doc.review(&clock.ctx(&agent()), ReviewDecision::Approve, None)));
    assert!(forbidden(doc.assign(&clock.ctx(&agent()), "agent-li")));
    assert!(forbidden(doc.cancel(&clock.ctx(&agent()), "不需要")));
    assert!(forbidden(doc.add_fault(&clock.ctx(&reviewer()), FaultCode::Slow, None)));
    assert!(forbidden(doc.complete(&clock.ctx(&reviewer()))));
    let created =
        VisitDoc::create_visit(&clock.ctx(&agent()), b"x", "v", VisitKind::Repair, &merchant(), "agent-zhao");
    assert!(matches!(created, Err(VisitError::Forbidden { .. })));
    let error = doc.assign(&clock.ctx(&agent()), "agent-li").unwrap_err();
    assert_eq!(error.to_string(), "a Agent may not assign a visit");
    assert_eq!(doc.visit().unwrap().history.len(), 1, "refused operations write nothing");
    let visit = doc.assign(&clock.ctx(&reviewer()), "agent-zhao").unwrap();
    assert_eq!(visit.assignment.agent, "agent-zhao");
    assert_eq!(visit.assignment.stamp.by.role, Role::Reviewer);
}

#[test]
fn only_an_administrator_plans_a_visit_and_a_window_must_not_end_before_it_starts() {
    let mut clock = Clock::default();
    let mut doc = new_visit(&mut clock, VisitKind::Repair);
    let morning = plan("2026-12-08", "09:00", "11:30");
    for who in [agent(), reviewer()] {
        let refused = doc.schedule(&clock.ctx(&who), Some(morning.clone()));
        assert!(matches!(refused, Err(VisitError::Forbidden { .. })), "{who:?}");
    }
    let backwards = doc.schedule(&clock.ctx(&admin()), Some(plan("2026-12-08", "14:00", "09:00")));
    assert_eq!(backwards.unwrap_err().to_string(), "the time window: it ends before it starts");
    assert_eq!(doc.visit().unwrap().history.len(), 1, "refused operations write nothing");

    let visit = doc.schedule(&clock.ctx(&admin()), Some(morning.clone())).unwrap();
    assert_eq!(visit.assignment.schedule, Some(morning.clone()));
    assert_eq!(visit.history.last().unwrap().detail, "2026-12-08 09:00–11:30");
    // Given to another agent, it keeps its day.
    let visit = doc.assign(&clock.ctx(&admin()), "agent-zhao").unwrap();
    assert_eq!(visit.assignment.schedule, Some(morning));
    // Open ends and a whole day.
    let visit = doc.schedule(&clock.ctx(&admin()), Some(plan("2026-12-09", "", "10:00"))).unwrap();
    assert_eq!(visit.assignment.schedule.unwrap().window_words(), "–10:00");
    assert_eq!(plan("2026-12-09", "", "").window_words(), "");
    let visit = doc.schedule(&clock.ctx(&admin()), None).unwrap();
    assert_eq!(visit.assignment.schedule, None);
}

#[test]
fn a_final_visit_is_not_planned_again() {
    let mut clock = Clock::default();
    let mut doc = new_visit(&mut clock, VisitKind::Repair);
    doc.cancel(&clock.ctx(&admin()), "商户取消").unwrap();
    let refused = doc.schedule(&clock.ctx(&admin()), Some(plan("2026-12-08", "", "")));
    assert!(matches!(refused, Err(VisitError::Locked { .. })));
}

#[test]
fn bad_input_is_refused_with_the_reason() {
    let mut clock = Clock::default();
    let mut doc = new_visit(&mut clock, VisitKind::Repair);
    let error = doc
        .identify_terminal(&clock.ctx(&agent()), "N910/123", IdentificationMethod::Manual, None, false)
        .unwrap_err();
    assert!(matches!(error, VisitError::Invalid(_)), "{error}");
    let mut bad = photo("x");
    bad.sha256 = "not-a-hash".into();
    assert!(matches!(
        doc.attach_document(&clock.ctx(&agent()), &bad, DocumentKind::Other, Timestamp(0)),
        Err(VisitError::BadBlob(_))
    ));
    let mut pdf = photo("y");
    pdf.mime = "application/pdf".into();
    assert!(matches!(
        doc.attach_document(&clock.ctx(&agent()), &pdf, DocumentKind::Other, Timestamp(0)),
        Err(VisitError::BadBlob(_))
    ));
    assert!(matches!(
        doc.add_fault(&clock.ctx(&agent()), FaultCode::TransactionFailure, None),
        Err(VisitError::EmptyText { .. })
    ));
    assert!(matches!(
        doc.set_suspension_cause(
            &clock.ctx(&agent()),
            posfield_shared::vocab::SuspensionCause::HardwareFault
        ),
        Err(VisitError::WrongKind { .. })
    ));
    assert!(matches!(
        doc.resolve_fault(&clock.ctx(&agent()), "nope", true, None),
        Err(VisitError::NotFound { .. })
    ));
    let mut bad_merchant = merchant();
    bad_merchant.merchant_number = Some("12345".into());
    assert!(matches!(
        VisitDoc::create_visit(
            &clock.ctx(&agent()),
            b"x",
            "v2",
            VisitKind::Repair,
            &bad_merchant,
            "agent-li"
        ),
        Err(VisitError::Invalid(_))
    ));
}

#[test]
fn faults_record_what_was_tried_and_the_outcome() {
    let mut clock = Clock::default();
    let mut doc = new_visit(&mut clock, VisitKind::Repair);
    let ctx = clock.ctx(&agent());
    doc.add_fault(&ctx, FaultCode::PrinterFault, Some("打印空白")).unwrap();
    let fault_id = ctx.op_id.clone();
    doc.add_attempt(&clock.ctx(&agent()), &fault_id, Some(Remedy::Restart), None, false).unwrap();
    doc.add_attempt(&clock.ctx(&agent()), &fault_id, Some(Remedy::CheckPaper), Some("纸卷装反"), true)
        .unwrap();
    doc.attach_document(&clock.ctx(&agent()), &photo("screen"), DocumentKind::ScreenError, Timestamp(5))
        .unwrap();
    doc.add_fault_evidence(&clock.ctx(&agent()), &fault_id, &sha("screen")).unwrap();
    let visit = doc.resolve_fault(&clock.ctx(&agent()), &fault_id, true, Some("重新装纸后正常")).unwrap();
    let fault = &visit.faults[0];
    assert_eq!(fault.attempts.len(), 2);
    assert_eq!(fault.attempts[1].remedy, Some(Remedy::CheckPaper.into()));
    assert!(fault.attempts[1].fixed);
    assert_eq!(fault.evidence, [sha("screen")]);
    assert!(fault.resolution.as_ref().unwrap().fixed);
    let visit = doc.remove_fault(&clock.ctx(&agent()), &fault_id).unwrap();
    assert_eq!(visit.current_faults().count(), 0);
    assert_eq!(visit.faults.len(), 1, "a withdrawn fault stays in the document");
}

#[test]
fn every_operation_is_stamped_with_the_actor_and_device_time() {
    let mut clock = Clock::default();
    let mut doc = new_visit(&mut clock, VisitKind::Installation);
    let ctx = clock.ctx(&agent());
    let visit = doc
        .identify_terminal(
            &ctx,
            " n910 0001 2345 67 ",
            IdentificationMethod::Photo,
            Some(sha("label")),
            false,
        )
        .unwrap();
    let terminal = visit.terminal.unwrap();
    assert_eq!(terminal.serial, SERIAL);
    assert_eq!(terminal.stamp.at, ctx.at);
    assert_eq!(terminal.stamp.by, agent());
    let last = visit.history.last().unwrap();
    assert_eq!((last.action.as_str(), last.detail.as_str()), ("identify_terminal", SERIAL));
    assert_eq!(last.id, ctx.op_id);
    assert_eq!(last.stamp.at, ctx.at);
    // The device time survives a save and load untouched.
    let bytes = doc.save();
    let loaded = VisitDoc::load(&bytes).unwrap().visit().unwrap();
    assert_eq!(loaded.terminal.unwrap().stamp.at, ctx.at);
    assert_eq!(loaded.kind.code(), "installation");
}

#[test]
fn a_merchant_correction_is_validated_the_agents_own_and_names_only_the_fields() {
    let mut clock = Clock::default();
    let mut doc = new_visit(&mut clock, VisitKind::SimRenewal);
    let bad_phone = MerchantInput { phone: Some("1234".into()), ..merchant() };
    assert!(matches!(doc.correct_merchant(&clock.ctx(&agent()), &bad_phone), Err(VisitError::Invalid(_))));
    assert!(matches!(
        doc.correct_merchant(&clock.ctx(&reviewer()), &merchant()),
        Err(VisitError::Forbidden { role: Role::Reviewer, .. })
    ));
    let corrected = MerchantInput { phone: Some("13987654321".into()), address: None, ..merchant() };
    let visit = doc.correct_merchant(&clock.ctx(&agent()), &corrected).unwrap();
    assert_eq!(visit.merchant.phone.as_deref(), Some("13987654321"));
    assert_eq!(visit.merchant.address, None);
    let entry = visit.history.last().unwrap();
    assert_eq!((entry.action.as_str(), entry.detail.as_str()), ("correct_merchant", "phone,address"));

    fill(&mut doc, &mut clock);
    doc.complete(&clock.ctx(&agent())).unwrap();
    assert!(matches!(
        doc.correct_merchant(&clock.ctx(&agent()), &merchant()),
        Err(VisitError::Locked { status: VisitStatus::Completed })
    ));
}

#[test]
fn the_expected_terminal_is_what_the_back_office_dispatched_and_nothing_a_phone_writes() {
    let mut clock = Clock::default();
    let mut doc = new_visit(&mut clock, VisitKind::Repair);
    assert!(doc.visit().unwrap().expected_serials().is_empty());
    // A phone's note in the same words names nothing.
    doc.add_note(&clock.ctx(&agent()), &posfield_shared::visit::dispatched_serial_note("0821000001"))
        .unwrap();
    assert!(doc.visit().unwrap().expected_serials().is_empty());
    // The back office's does, normalized; an invalid one is ignored.
    doc.add_note(&clock.ctx(&reviewer()), &posfield_shared::visit::dispatched_serial_note("0821-674609"))
        .unwrap();
    doc.add_note(&clock.ctx(&reviewer()), &posfield_shared::visit::dispatched_serial_note("??")).unwrap();
    assert_eq!(doc.visit().unwrap().expected_serials(), ["0821674609"]);
}

#[test]
fn the_way_to_the_merchant_is_recorded_once_each_without_starting_the_work() {
    let mut clock = Clock::default();
    let mut doc = new_visit(&mut clock, VisitKind::Repair);
    let accepted = doc.accept_job(&clock.ctx(&agent())).unwrap();
    assert_eq!(accepted.status, VisitStatus::Draft, "taking a job is not working on it");
    let first = accepted.trip.clone().unwrap().accepted.unwrap();
    // Again: nothing new, no history entry.
    let again = doc.accept_job(&clock.ctx(&agent())).unwrap();
    assert_eq!(again.trip.unwrap().accepted.unwrap(), first);
    assert_eq!(again.history.len(), accepted.history.len());
    doc.depart(&clock.ctx(&agent())).unwrap();
    let at = posfield_shared::visit::GeoPoint::from_degrees(31.224361, 121.469170, Some(12.4)).unwrap();
    let arrived = doc.arrive(&clock.ctx(&agent()), Ok(at)).unwrap();
    let arrival = arrived.trip.unwrap().arrived.unwrap();
    assert_eq!(
        (arrival.location.unwrap().lat_e6, arrival.location.unwrap().lon_e6),
        (31_224_361, 121_469_170)
    );
    assert_eq!(arrival.location.unwrap().accuracy_m, Some(12));
    assert_eq!(arrived.status, VisitStatus::Draft);
    // Work begins with the first step: 处理中.
    let working =
        doc.set_step(&clock.ctx(&agent()), "identify", StepState::Skipped, Some("标签损坏"), None).unwrap();
    assert_eq!(working.status, VisitStatus::InProgress);
}

#[test]
fn an_arrival_without_a_location_says_why_and_fills_the_moments_skipped() {
    let mut clock = Clock::default();
    let mut doc = new_visit(&mut clock, VisitKind::Repair);
    let refused = doc.arrive(&clock.ctx(&agent()), Err("refused")).unwrap();
    let trip = refused.trip.unwrap();
    let arrival = trip.arrived.unwrap();
    assert_eq!((arrival.location, arrival.no_location.as_deref()), (None, Some("refused")));
    assert_eq!(trip.accepted.unwrap().at, arrival.stamp.at, "the skipped moments are now");
    assert_eq!(trip.departed.unwrap().at, arrival.stamp.at);
    let mut other = new_visit(&mut clock, VisitKind::Repair);
    assert!(matches!(
        other.arrive(&clock.ctx(&agent()), Err("the dog ate it")),
        Err(VisitError::OutOfRange { .. })
    ));
    assert!(matches!(
        other.arrive(&clock.ctx(&reviewer()), Err("refused")),
        Err(VisitError::Forbidden { .. })
    ));
    assert_eq!(posfield_shared::visit::GeoPoint::from_degrees(91.0, 0.0, None), None, "not on the earth");
    assert_eq!(posfield_shared::visit::GeoPoint::from_degrees(f64::NAN, 0.0, None), None);
    other.cancel(&clock.ctx(&admin()), "商户取消").unwrap();
    assert!(matches!(other.depart(&clock.ctx(&agent())), Err(VisitError::Locked { .. })));
}
