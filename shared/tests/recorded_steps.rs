//! Steps that record what was done, not a tick (schema 3, checklist
//! edition 3): the deregistration's unbinding reference and settled
//! balance with its proof, a declined backup's signed waiver, the
//! terminal's label details, the parameter set-up, the network test, the
//! data restored and the follow-up day; and visits begun before the
//! checklist grew, which keep the rules they were begun under.

mod common;

use common::*;
use posfield_shared::checklist::Requirement;
use posfield_shared::visit::authority::{Field, OfficeFields};
use posfield_shared::visit::{CHECKLIST_EDITION, Missing, StepState, VisitDoc, VisitError, WaiverInput};
use posfield_shared::vocab::{DocumentKind, IdentificationMethod};
use posfield_shared::{CalendarDate, VisitKind, VisitStatus};

fn gaps(doc: &mut VisitDoc, clock: &mut Clock) -> Vec<Missing> {
    match doc.complete(&clock.ctx(&agent())) {
        Err(VisitError::Incomplete(missing)) => missing,
        other => panic!("expected the completion to be refused, got {other:?}"),
    }
}

fn names(missing: &[Missing]) -> Vec<(&'static str, Requirement)> {
    missing
        .iter()
        .filter_map(|m| match m {
            Missing::Requirement { step, requirement } => Some((*step, *requirement)),
            Missing::Step { .. } => None,
        })
        .collect()
}

/// A deregistration completes only with the unbinding reference, the
/// settled balance and a photo of the settlement proof; each one left out
/// is named, and the steps that ask for them cannot be skipped with words.
#[rstest::rstest]
#[case::no_unbinding_reference(&[Requirement::UnbindReference], "unbind")]
#[case::no_settled_balance(&[Requirement::SettledBalance], "confirm.settled")]
#[case::no_proof_photo(&[Requirement::Photo(DocumentKind::SettlementProof)], "confirm.settled")]
fn a_deregistration_needs_its_reference_balance_and_proof(#[case] leave: &[Requirement], #[case] step: &str) {
    let mut clock = Clock::default();
    let mut doc = new_visit(&mut clock, VisitKind::Deregistration);
    fill_leaving(&mut doc, &mut clock, &mut Plain::default(), leave);
    assert_eq!(names(&gaps(&mut doc, &mut clock)), [(step_id(step), leave[0])]);
    let skip = doc.set_step(&clock.ctx(&agent()), step, StepState::Skipped, Some("系统里查不到"), None);
    assert!(
        matches!(skip, Err(VisitError::StepState { why: "this step cannot be skipped", .. })),
        "{skip:?}"
    );
    satisfy(&mut doc, &mut clock, leave[0]);
    // The reference and the amount are in what the merchant signs: a
    // signature over the summary without them no longer matches.
    if leave[0] != Requirement::Photo(DocumentKind::SettlementProof) {
        assert!(matches!(doc.complete(&clock.ctx(&agent())), Err(VisitError::Incomplete(_))));
        sign(&mut doc, &mut clock);
    }
    let visit = doc.complete(&clock.ctx(&agent())).expect("complete once recorded");
    assert_eq!(visit.deregistration.unbind_reference.unwrap().value, "JB20261116-0042");
    assert_eq!(visit.deregistration.settled_balance_fen.unwrap().value, 123_456);
    // The merchant signed the reference and the amount.
    let summary = &visit.acceptance.unwrap().summary_json;
    assert!(summary.contains("\"unbind_reference\":\"JB20261116-0042\""), "{summary}");
    assert!(summary.contains("\"settled_balance_fen\":123456"), "{summary}");
}

fn step_id(step: &str) -> &'static str {
    VisitKind::Deregistration.template().step(step).unwrap().id.as_str()
}

/// A replacement's backup is done, or declined by the merchant with a
/// signed waiver; a skip with free text is refused.
#[test]
fn a_declined_backup_needs_the_merchants_signed_waiver() {
    let mut clock = Clock::default();
    let mut doc = new_visit(&mut clock, VisitKind::Replacement);
    fill_leaving(&mut doc, &mut clock, &mut Plain::default(), &[Requirement::BackupConfirmation]);
    assert_eq!(names(&gaps(&mut doc, &mut clock)), [("backup", Requirement::BackupConfirmation)]);
    let skip = doc.set_step(&clock.ctx(&agent()), "backup", StepState::Skipped, Some("商户不需要"), None);
    assert!(matches!(skip, Err(VisitError::StepState { .. })), "{skip:?}");
    // A waiver without a real signature is refused, and nothing is written.
    let before = doc.visit().unwrap();
    let mut unsigned = WaiverInput {
        signer_name: "王老板".into(),
        reason: Some("纸质结算单已自行保存".into()),
        image: signature().image,
        strokes_sha256: "not a hash".into(),
    };
    assert!(matches!(doc.waive_backup(&clock.ctx(&agent()), &unsigned), Err(VisitError::BadBlob(_))));
    unsigned.strokes_sha256 = signature().strokes_sha256;
    unsigned.signer_name = "  ".into();
    assert!(doc.waive_backup(&clock.ctx(&agent()), &unsigned).is_err());
    assert_eq!(doc.visit().unwrap(), before);
    // The merchant signs the waiver: the backup requirement is met, and
    // the waiver's image travels with the visit's blobs.
    let mut choices = Plain { declined: true, ..Plain::default() };
    satisfy_with(&mut doc, &mut clock, Requirement::BackupConfirmation, &mut choices);
    let visit = doc.visit().unwrap();
    let waiver = visit.backup_waiver.as_ref().expect("the waiver");
    assert_eq!(waiver.signer_name, "王老板");
    assert!(visit.blob_refs().contains(&waiver.signature.sha256));
    assert!(visit.hash_references().iter().any(|(at, _)| at == "backup_waiver.strokes"));
    // The acceptance signed before the waiver no longer matches: it must
    // say the backup was declined, so the merchant signs again.
    assert!(matches!(doc.complete(&clock.ctx(&agent())), Err(VisitError::Incomplete(_))));
    sign(&mut doc, &mut clock);
    let visit = doc.complete(&clock.ctx(&agent())).expect("complete with the waiver");
    assert!(visit.acceptance.unwrap().summary_json.contains("\"backup_declined\":true"));
    // Restored: what the kind's backup names, since nothing was backed up.
    assert_eq!(visit.restore.unwrap().items.len(), 3);
}

/// The terminal's model and production date are part of identifying it on
/// an installation; its age is derived from the date, and the same
/// terminal read again keeps them while another one starts without.
#[test]
fn the_label_details_are_recorded_with_the_serial_and_give_the_age() {
    let mut clock = Clock::default();
    let mut doc = new_visit(&mut clock, VisitKind::Installation);
    fill_leaving(&mut doc, &mut clock, &mut Plain::default(), &[Requirement::TerminalDetails]);
    assert_eq!(names(&gaps(&mut doc, &mut clock)), [("identify", Requirement::TerminalDetails)]);
    satisfy(&mut doc, &mut clock, Requirement::TerminalDetails);
    let terminal = doc.visit().unwrap().terminal.unwrap();
    assert_eq!(terminal.model.as_deref(), Some("N900"));
    let on = |text: &str| CalendarDate::parse(text).unwrap();
    assert_eq!(terminal.age_years(on("2025-03-14")), Some(2));
    assert_eq!(terminal.age_years(on("2025-03-15")), Some(3));
    assert_eq!(terminal.age_years(on("2022-01-01")), None);
    let ctx = clock.ctx(&agent());
    doc.identify_terminal(&ctx, SERIAL, IdentificationMethod::Nfc, None, false).unwrap();
    assert_eq!(doc.visit().unwrap().terminal.unwrap().model.as_deref(), Some("N900"));
    doc.identify_terminal(&clock.ctx(&agent()), NEW_SERIAL, IdentificationMethod::Manual, None, false)
        .unwrap();
    assert_eq!(doc.visit().unwrap().terminal.unwrap().production_date, None);
    // A date after today, or a model of nothing, is refused.
    let future = posfield_shared::visit::TerminalDetails {
        model: "N900".into(),
        manufacturer: None,
        production_date: on("2099-01-01"),
    };
    assert!(matches!(
        doc.set_terminal_details(&clock.ctx(&agent()), &future, false),
        Err(VisitError::OutOfRange { .. })
    ));
    let blank = posfield_shared::visit::TerminalDetails { model: " ".into(), ..future };
    assert!(doc.set_terminal_details(&clock.ctx(&agent()), &blank, false).is_err());
}

/// Parameters and a network test are steps with records on installations
/// and replacements: a failed test or a missing key download does not count.
#[test]
fn parameters_and_the_network_test_must_have_succeeded() {
    let mut clock = Clock::default();
    let mut doc = new_visit(&mut clock, VisitKind::Replacement);
    fill_leaving(
        &mut doc,
        &mut clock,
        &mut Plain::default(),
        &[Requirement::ParameterConfig, Requirement::NetworkTest],
    );
    let ctx = clock.ctx(&agent());
    doc.record_parameters(&ctx, "10293847", true, false).unwrap();
    doc.record_network_test(
        &clock.ctx(&agent()),
        posfield_shared::vocab::NetworkLink::Wifi,
        false,
        Some("签到失败 A0"),
    )
    .unwrap();
    assert_eq!(
        names(&gaps(&mut doc, &mut clock)),
        [("params", Requirement::ParameterConfig), ("network", Requirement::NetworkTest)]
    );
    assert!(doc.record_parameters(&clock.ctx(&agent()), "not a number!", true, true).is_err());
    doc.record_parameters(&clock.ctx(&agent()), "10293847", true, true).unwrap();
    doc.record_network_test(&clock.ctx(&agent()), posfield_shared::vocab::NetworkLink::Mobile, true, None)
        .unwrap();
    assert_eq!(doc.complete(&clock.ctx(&agent())).unwrap().status, VisitStatus::Completed);
}

/// The follow-up day is today or later; a reactivation's follow-up step
/// records it.
#[test]
fn a_follow_up_day_is_not_in_the_past() {
    let mut clock = Clock::default();
    let mut doc = new_visit(&mut clock, VisitKind::Reactivation);
    let ctx = clock.ctx(&agent());
    let today = ctx.at.beijing_date();
    let past = doc.set_follow_up(&ctx, today.add_days(-1), None);
    assert!(matches!(past, Err(VisitError::OutOfRange { .. })), "{past:?}");
    let far = doc.set_follow_up(&clock.ctx(&agent()), today.add_days(400), None);
    assert!(far.is_err());
    let visit = doc.set_follow_up(&clock.ctx(&agent()), today.add_days(7), Some("看扫码是否正常")).unwrap();
    assert_eq!(visit.follow_up.unwrap().on, today.add_days(7));
}

/// A visit begun before edition 3 (no `checklist` key, as an older phone
/// or server created it) is completed by the rules it was begun under: no
/// parameter step, no unbinding reference, a backup still skippable.
#[test]
fn a_visit_begun_before_the_checklist_grew_keeps_its_rules() {
    for kind in [VisitKind::Deregistration, VisitKind::Replacement, VisitKind::Installation] {
        let mut clock = Clock::default();
        let doc = new_visit(&mut clock, kind);
        let mut visit = doc.visit().unwrap();
        assert_eq!(visit.checklist, Some(CHECKLIST_EDITION));
        assert_eq!(visit.schema, CHECKLIST_EDITION, "{kind}: a phone of schema 2 could not complete it");
        // As an edition 2 visit: the key absent, the floor where version 2 left it.
        visit.checklist = None;
        visit.schema = 1;
        let mut old = VisitDoc::create(&visit, b"older-server", 1_795_000_000).unwrap();
        assert!(old.visit().unwrap().step_state("params") == StepState::Pending);
        fill(&mut old, &mut clock);
        let done = old.complete(&clock.ctx(&agent())).unwrap_or_else(|e| panic!("{kind}: {e}"));
        assert!(done.parameters.is_none() && done.deregistration.unbind_reference.is_none(), "{kind}");
        assert!(!done.steps.contains_key("params"), "{kind}: no step of a later edition");
    }
    // The kinds whose checklist asks nothing new stay editable by older phones.
    let mut clock = Clock::default();
    assert_eq!(new_visit(&mut clock, VisitKind::Repair).visit().unwrap().schema, 1);
}

/// An agent's phone cannot move its visit to an older checklist: the
/// edition is set once, like the kind, and the server puts it back.
#[test]
fn a_phone_cannot_lower_its_visits_checklist() {
    let mut clock = Clock::default();
    let doc = new_visit(&mut clock, VisitKind::Deregistration);
    let trusted = OfficeFields::of(&doc.visit().unwrap());
    let mut forged = doc.visit().unwrap();
    forged.checklist = None;
    assert_eq!(trusted.forged(&forged), [Field::Kind]);
    trusted.put_back(&mut forged, &[Field::Kind]);
    assert_eq!(forged.checklist, Some(CHECKLIST_EDITION));
    assert_eq!(Field::Kind.keys(), ["kind", "checklist"]);
}

/// Taking a terminal back records the hand-over: its condition, the seal
/// or bag number and a photo of it, one of the visit's own. A serial or a
/// photo not of the visit is refused, and nothing is written.
#[rstest::rstest]
#[case::a_replacements_old_terminal(VisitKind::Replacement, "old.collect")]
#[case::a_deregistered_terminal(VisitKind::Deregistration, "collect")]
fn a_terminal_taken_back_is_handed_over_with_its_condition_and_a_photo(
    #[case] kind: VisitKind,
    #[case] step: &str,
) {
    let mut clock = Clock::default();
    let mut doc = new_visit(&mut clock, kind);
    fill_leaving(&mut doc, &mut clock, &mut Plain::default(), &[Requirement::HandoverRecorded]);
    let missing = names(&gaps(&mut doc, &mut clock));
    assert_eq!(
        missing,
        [(VisitKind::template(kind).step(step).unwrap().id.as_str(), Requirement::HandoverRecorded)]
    );
    let before = doc.visit().unwrap();
    let stranger = doc.record_handover(&clock.ctx(&agent()), "N9999999999999", "外观完好", None, None);
    assert!(matches!(stranger, Err(VisitError::NotFound { .. })), "{stranger:?}");
    let not_ours =
        doc.record_handover(&clock.ctx(&agent()), SERIAL, "外观完好", None, Some(&sha("elsewhere")));
    assert!(matches!(not_ours, Err(VisitError::NotFound { .. })), "{not_ours:?}");
    assert_eq!(doc.visit().unwrap(), before);
    // Without a photo it is recorded, and does not yet count.
    doc.record_handover(&clock.ctx(&agent()), SERIAL, "外观完好", Some("FD-1"), None).unwrap();
    assert_eq!(names(&gaps(&mut doc, &mut clock)), missing);
    satisfy(&mut doc, &mut clock, Requirement::HandoverRecorded);
    let visit = doc.complete(&clock.ctx(&agent())).expect("complete once handed over");
    assert_eq!(visit.handovers.len(), 1, "recorded again, replaced");
    assert_eq!(visit.handovers[0].seal.as_deref(), Some("FD-00042"));
    assert!(visit.hash_references().iter().any(|(at, _)| at == "handovers[0].photo"));
}

/// An edition no app creates counts as edition 2, never as a checklist
/// that asks nothing; a row the server stored before editions may see the
/// edition raised, never lowered.
#[test]
fn an_edition_below_two_asks_what_edition_two_asks_and_an_old_row_is_only_raised() {
    let mut clock = Clock::default();
    let doc = new_visit(&mut clock, VisitKind::Installation);
    let mut forged = doc.visit().unwrap();
    forged.checklist = Some(0);
    assert_eq!(forged.checklist_edition(), 2);
    assert!(!posfield_shared::visit::missing(&forged).is_empty(), "edition 0 asks for the checklist");
    let mut old_row = OfficeFields::of(&doc.visit().unwrap());
    old_row.checklist = None;
    assert_eq!(old_row.forged(&forged), [], "a forged 0 is edition 2, what an old row holds");
    forged.checklist = Some(CHECKLIST_EDITION);
    assert_eq!(old_row.forged(&forged), [], "raised on an old row");
    let trusted = OfficeFields::of(&forged);
    forged.checklist = Some(1);
    assert_eq!(trusted.forged(&forged), [Field::Kind], "lowered once trusted");
}

/// A hand-over counts only with a photo the visit still holds: a photo
/// removed after the hand-over leaves it unmet, and the register's custody
/// row does not name it.
#[test]
fn a_hand_over_whose_photo_was_removed_does_not_count() {
    let mut clock = Clock::default();
    let mut doc = new_visit(&mut clock, VisitKind::Deregistration);
    fill(&mut doc, &mut clock);
    let photo = doc.visit().unwrap().handovers[0].photo.clone().unwrap();
    doc.remove_document(&clock.ctx(&agent()), &photo).unwrap();
    assert_eq!(names(&gaps(&mut doc, &mut clock)), [("collect", Requirement::HandoverRecorded)]);
}

/// The records only edition 3 asks for are refused on a visit begun
/// before it, so two phones of different versions sign the same summary;
/// the waiver and the backup exclude each other.
#[test]
fn an_edition_two_visit_takes_no_edition_three_record_and_a_waiver_replaces_the_backup() {
    let mut clock = Clock::default();
    let mut visit = new_visit(&mut clock, VisitKind::Deregistration).visit().unwrap();
    visit.checklist = None;
    visit.schema = 1;
    let mut old = VisitDoc::create(&visit, b"older-server", 1_795_000_000).unwrap();
    old.identify_terminal(&clock.ctx(&agent()), SERIAL, IdentificationMethod::Manual, None, false).unwrap();
    for refused in [
        old.set_unbind_reference(&clock.ctx(&agent()), "JB-1"),
        old.set_settled_balance(&clock.ctx(&agent()), 100),
        old.waive_backup(&clock.ctx(&agent()), &waiver()),
    ] {
        assert!(matches!(refused, Err(VisitError::WrongKind { .. })), "{refused:?}");
    }
    let mut clock = Clock::default();
    let mut doc = new_visit(&mut clock, VisitKind::Replacement);
    doc.waive_backup(&clock.ctx(&agent()), &waiver()).unwrap();
    let backed_up = doc.confirm_backup(
        &clock.ctx(&agent()),
        &[posfield_shared::vocab::BackupItem::TransactionRecords],
        None,
    );
    let backed_up = backed_up.unwrap();
    assert!(backed_up.backup.is_some() && backed_up.backup_waiver.is_none());
    let waived = doc.waive_backup(&clock.ctx(&agent()), &waiver()).unwrap();
    assert!(waived.backup.is_none() && waived.backup_waiver.is_some());
}

fn waiver() -> WaiverInput {
    let signature = signature();
    WaiverInput {
        signer_name: signature.signer_name,
        reason: None,
        image: signature.image,
        strokes_sha256: signature.strokes_sha256,
    }
}
