//! What the back office reads of a visit's past: each history entry's
//! fields before and after its change, and the values that lost a
//! concurrent write with who wrote them.

mod common;

use common::*;
use posfield_shared::visit::schema::ReviewDecision;
use posfield_shared::visit::{
    ConcurrentEdit, Ctx, FieldChange, MerchantInput, SimInput, StepState, Visit, VisitDoc, VisitError,
};
use posfield_shared::vocab::{DocumentKind, IdentificationMethod, SimCarrier};
use posfield_shared::{CalendarDate, Timestamp, VisitKind};
use rstest::rstest;

type Operation = fn(&mut VisitDoc, &Ctx) -> Result<Visit, VisitError>;

fn corrected_merchant() -> MerchantInput {
    MerchantInput { name: "老王超市".into(), phone: Some("13987654321".into()), ..merchant() }
}

fn sim(expiry: &str) -> SimInput {
    SimInput {
        iccid: ICCID.into(),
        carrier: SimCarrier::ChinaMobile,
        expiry: CalendarDate::parse(expiry).unwrap(),
    }
}

/// The photo the cases attach and remove.
fn licence() -> String {
    photo("licence").sha256
}

/// The visit in progress before each case's operation: the terminal
/// identified (so the operation does not also start the visit), the
/// backup step skipped, a SIM card recorded and a photo attached.
fn prepared(clock: &mut Clock) -> VisitDoc {
    let mut doc = new_visit(clock, VisitKind::Replacement);
    doc.identify_terminal(&clock.ctx(&agent()), SERIAL, IdentificationMethod::Manual, None, false).unwrap();
    doc.set_step(&clock.ctx(&agent()), "restore", StepState::Skipped, Some("商户不需要"), None).unwrap();
    doc.set_sim(&clock.ctx(&agent()), &sim("2026-12-31")).unwrap();
    doc.attach_document(&clock.ctx(&agent()), &photo("licence"), DocumentKind::BusinessLicence, Timestamp(7))
        .unwrap();
    doc
}

/// Each operation's history entry lists exactly the fields it changed,
/// with their values before and after; authors and bookkeeping are left out.
#[rstest]
#[case::a_merchant_correction(
    |doc: &mut VisitDoc, ctx: &Ctx| doc.correct_merchant(ctx, &corrected_merchant()),
    &[("merchant.name", Some("老王便利店"), Some("老王超市")), ("merchant.phone", Some("13812345678"), Some("13987654321"))],
)]
#[case::a_step_done(
    |doc: &mut VisitDoc, ctx: &Ctx| doc.set_step(ctx, "backup", StepState::Done, None, None),
    &[("steps.backup.state", None, Some("done"))],
)]
#[case::a_skipped_step_done_loses_its_reason(
    |doc: &mut VisitDoc, ctx: &Ctx| doc.set_step(ctx, "restore", StepState::Done, None, Some("已恢复交易记录")),
    &[("steps.restore.note", None, Some("已恢复交易记录")), ("steps.restore.reason", Some("商户不需要"), None), ("steps.restore.state", Some("skipped"), Some("done"))],
)]
#[case::a_sim_expiry_change(
    |doc: &mut VisitDoc, ctx: &Ctx| doc.set_sim(ctx, &sim("2027-06-30")),
    &[("sim.expiry", Some("2026-12-31"), Some("2027-06-30"))],
)]
#[case::a_photo_removed(
    |doc: &mut VisitDoc, ctx: &Ctx| doc.remove_document(ctx, &licence()),
    &[("documents[LICENCE].removed", None, Some("{at: 1795000360000, by: {device: phone-li, role: agent, user: agent-li}}"))],
)]
#[case::a_new_terminal_identified(
    |doc: &mut VisitDoc, ctx: &Ctx| doc.identify_terminal(ctx, NEW_SERIAL, IdentificationMethod::Nfc, None, true),
    &[("replacement.method", None, Some("nfc")), ("replacement.serial", None, Some(NEW_SERIAL))],
)]
fn each_history_entry_shows_the_fields_its_change_altered_before_and_after(
    #[case] operation: Operation,
    #[case] expected: &[(&str, Option<&str>, Option<&str>)],
) {
    let mut clock = Clock::default();
    let mut doc = prepared(&mut clock);
    let ctx = clock.ctx(&agent());
    operation(&mut doc, &ctx).unwrap();
    let changes = doc.history_changes();
    let expected: Vec<FieldChange> = expected
        .iter()
        .map(|(path, before, after)| FieldChange {
            path: path.replace("LICENCE", &licence()),
            before: before.map(str::to_owned),
            after: after.map(str::to_owned),
        })
        .collect();
    assert_eq!(changes[&ctx.op_id], expected);
    // Every entry has its changes, the earlier ones unchanged by the later.
    let history = doc.visit().unwrap().history;
    assert!(history.iter().all(|entry| changes.contains_key(&entry.id)));
    let identified = &changes[&history[1].id];
    assert!(identified.contains(&FieldChange {
        path: "terminal.serial".into(),
        before: None,
        after: Some(SERIAL.into())
    }));
    assert!(identified.contains(&FieldChange {
        path: "status".into(),
        before: Some("draft".into()),
        after: Some("in_progress".into())
    }));
}

#[test]
fn a_change_made_beside_another_shows_what_it_did_to_the_visit_its_writer_saw() {
    let mut clock = Clock::default();
    let mut phone = prepared(&mut clock);
    let mut office = phone.fork(b"server-actor");
    let phone_edit = clock.ctx(&agent());
    phone.correct_merchant(&phone_edit, &corrected_merchant()).unwrap();
    let note = clock.ctx(&reviewer());
    office.add_note(&note, "请核对手机号").unwrap();
    phone.merge(&mut office).unwrap();
    let changes = phone.history_changes();
    let text = FieldChange {
        path: format!("notes[{}].text", note.op_id),
        before: None,
        after: Some("请核对手机号".into()),
    };
    assert_eq!(changes[&note.op_id], [text], "the note, and nothing of the phone's edit");
    assert_eq!(changes[&phone_edit.op_id].len(), 2, "{:?}", changes[&phone_edit.op_id]);
}

/// Two phones and two copies of each: the same answer whichever way the merge went.
fn merged_both_ways(a: &mut VisitDoc, b: &mut VisitDoc) -> Vec<ConcurrentEdit> {
    let (mut a2, mut b2) = (a.fork(b"copy-a"), b.fork(b"copy-b"));
    a.merge(b).unwrap();
    b2.merge(&mut a2).unwrap();
    let edits = a.concurrent_edits();
    assert_eq!(edits, b2.concurrent_edits());
    edits
}

#[test]
fn a_field_corrected_on_two_phones_at_once_shows_the_winner_and_the_loser_with_their_authors() {
    let mut clock = Clock::default();
    let mut li = prepared(&mut clock);
    let mut zhao = li.fork(b"phone-zhao-actor");
    let li_edit = clock.ctx(&agent());
    li.correct_merchant(&li_edit, &MerchantInput { phone: Some("13911112222".into()), ..merchant() })
        .unwrap();
    let zhao_edit = clock.ctx(&other_agent());
    zhao.correct_merchant(&zhao_edit, &MerchantInput { phone: Some("13733334444".into()), ..merchant() })
        .unwrap();
    let edits = merged_both_ways(&mut li, &mut zhao);
    assert_eq!(edits.iter().map(|e| e.path.as_str()).collect::<Vec<_>>(), ["merchant.phone"], "{edits:?}");
    let phone = &edits[0];
    let shown = li.visit().unwrap().merchant.phone.unwrap();
    assert_eq!(
        phone.winner.value.as_deref(),
        Some(shown.as_str()),
        "the winner is the value the visit shows"
    );
    assert_eq!(phone.losers.len(), 1);
    let loser = &phone.losers[0];
    for value in [&phone.winner, loser] {
        let written = value.written.as_ref().expect("who wrote it is known");
        let entry = written.entry.as_ref().expect("the change's history entry");
        let (author, op, actor) = match value.value.as_deref() {
            Some("13911112222") => ("agent-li", &li_edit, "phone-li-actor"),
            Some("13733334444") => ("agent-zhao", &zhao_edit, "phone-zhao-actor"),
            other => panic!("unexpected value {other:?}"),
        };
        assert_eq!(entry.stamp.by.user, author);
        assert_eq!(entry.id, op.op_id);
        assert_eq!(entry.action, "correct_merchant");
        assert_eq!(written.actor, hex::encode(actor));
        assert_eq!(written.at_seconds, op.at.seconds());
    }
    assert_ne!(phone.winner.value, loser.value);
}

#[test]
fn a_step_first_set_on_two_phones_at_once_shows_each_field_that_differs() {
    let mut clock = Clock::default();
    let mut li = prepared(&mut clock);
    let mut zhao = li.fork(b"phone-zhao-actor");
    li.set_step(&clock.ctx(&agent()), "test.print", StepState::Done, None, None).unwrap();
    zhao.set_step(&clock.ctx(&other_agent()), "test.print", StepState::Skipped, Some("终端无法开机"), None)
        .unwrap();
    let edits = merged_both_ways(&mut li, &mut zhao);
    let shown = li.visit().unwrap().step("test.print").unwrap().clone();
    let by_path =
        |path: &str| edits.iter().find(|e| e.path == path).unwrap_or_else(|| panic!("{path} in {edits:?}"));
    let state = by_path("steps.test.print.state");
    assert_eq!(state.winner.value.as_deref(), Some(shown.state.code()));
    let mut values: Vec<_> =
        [&state.winner, &state.losers[0]].iter().map(|v| v.value.clone().unwrap()).collect();
    values.sort();
    assert_eq!(values, ["done", "skipped"]);
    let reason = by_path("steps.test.print.reason");
    assert_eq!(reason.winner.value, shown.reason);
    assert_eq!(edits.len(), 2, "the authors are left out: {edits:?}");
}

#[test]
fn edits_that_merge_without_contest_show_no_concurrent_values() {
    let mut clock = Clock::default();
    let mut phone = prepared(&mut clock);
    let mut office = phone.fork(b"server-actor");
    phone.set_step(&clock.ctx(&agent()), "backup", StepState::Done, None, None).unwrap();
    office.review(&clock.ctx(&reviewer()), ReviewDecision::Return, Some("请补拍")).unwrap_err();
    office.add_note(&clock.ctx(&reviewer()), "请补拍").unwrap();
    assert_eq!(merged_both_ways(&mut phone, &mut office), []);
}

/// The saved documents of every schema version, a newer app's included:
/// each history entry shows its change, whichever app wrote it.
#[rstest]
#[case::version_1("v1.automerge")]
#[case::version_2("v2.automerge")]
#[case::version_3("v3.automerge")]
#[case::version_4("v4.automerge")]
#[case::version_5("v5.automerge")]
#[case::next_version_additive("v6-additive.automerge")]
#[case::next_version_breaking("v6-breaking.automerge")]
fn every_schema_versions_history_shows_each_change(#[case] name: &str) {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/schema").join(name);
    let mut doc = VisitDoc::load(&std::fs::read(path).unwrap()).unwrap();
    let changes = doc.history_changes();
    let history = doc.visit().unwrap().history;
    for entry in &history {
        assert!(!changes[&entry.id].is_empty(), "{name}: {} shows no change", entry.action);
    }
    let sim = FieldChange { path: "sim.expiry".into(), before: None, after: Some("2027-03-31".into()) };
    let set_sim = &history.iter().find(|e| e.action == "set_sim").expect("the SIM was recorded").id;
    assert!(changes[set_sim].contains(&sim), "{name}: {:?}", changes[set_sim]);
    assert_eq!(doc.concurrent_edits(), [], "{name}");
}
