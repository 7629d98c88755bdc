//! The acceptance binding: the signed summary, its hash, and the check
//! that names every field changed after signing.

mod common;

use common::*;
use expect_test::expect;
use posfield_shared::visit::acceptance::{CONSENT_ZH, SUMMARY_VERSION, changed_fields_words, field_words};
use posfield_shared::visit::schema::ReviewDecision;
use posfield_shared::visit::{AcceptanceSummary, SignatureCheck, StepState, VisitDoc, VisitError};
use posfield_shared::vocab::{IdentificationMethod, RepairPlan, WarrantyStatus};
use posfield_shared::{FaultCode, VisitKind, VisitStatus};

fn signed_repair() -> (VisitDoc, Clock) {
    let mut clock = Clock::default();
    let mut doc = new_visit(&mut clock, VisitKind::Repair);
    fill(&mut doc, &mut clock);
    (doc, clock)
}

fn mismatch(doc: &VisitDoc) -> Vec<String> {
    match SignatureCheck::of(&doc.visit().unwrap()) {
        SignatureCheck::Mismatch { fields } => fields,
        other => panic!("expected a mismatch, got {other:?}"),
    }
}

#[test]
fn a_fresh_signature_matches_and_its_hash_is_of_the_canonical_summary() {
    let (doc, _) = signed_repair();
    let visit = doc.visit().unwrap();
    assert_eq!(SignatureCheck::of(&visit), SignatureCheck::Valid);
    let acceptance = visit.acceptance.as_ref().unwrap();
    let summary = AcceptanceSummary::of(&visit, acceptance.signed_at);
    assert_eq!(summary.canonical_json(), acceptance.summary_json);
    assert_eq!(AcceptanceSummary::hash_of(&acceptance.summary_json), acceptance.content_hash);
    assert_eq!(acceptance.content_hash.len(), 64);
}

#[test]
fn the_merchant_reads_the_summary_in_plain_chinese() {
    let (doc, _) = signed_repair();
    let visit = doc.visit().unwrap();
    let summary = AcceptanceSummary::of(&visit, visit.acceptance.as_ref().unwrap().signed_at);
    expect![[r#"
        服务类型：维修
        商户名称：老王便利店
        商户号：898310048161234
        终端机身号：N9100001234567
        已完成项目：识别终端机身号、故障分类、现场处理（记录已尝试的步骤）、判定保修状态、拍摄购买凭证或保修卡、确定维修方案、维修后测试
        故障：打印机故障（处理中）
        保修状态：保修期内
        维修方案：现场修复
        签字时间：2026-11-18 19:20（北京时间）
        本人确认以上服务已完成，内容属实，同意签字验收。"#]]
    .assert_eq(&summary.render_zh());
}

/// `visit` with its acceptance's summary replaced by `json` (and its hash
/// made to match), as a phone of another release would have signed it.
fn signed_over(mut visit: posfield_shared::visit::Visit, json: String) -> posfield_shared::visit::Visit {
    let acceptance = visit.acceptance.as_mut().unwrap();
    acceptance.content_hash = AcceptanceSummary::hash_of(&json);
    acceptance.summary_json = json;
    visit
}

#[test]
fn the_consent_sentence_is_inside_what_is_signed_and_cannot_be_changed() {
    let (doc, _) = signed_repair();
    let visit = doc.visit().unwrap();
    let acceptance = visit.acceptance.clone().unwrap();
    let signed: serde_json::Value = serde_json::from_str(&acceptance.summary_json).unwrap();
    assert_eq!(signed["version"], SUMMARY_VERSION);
    assert_eq!(signed["consent"], CONSENT_ZH);
    // Another sentence, hashed anew: the check names it.
    let other = acceptance.summary_json.replace(CONSENT_ZH, "本人仅确认收到机具。");
    let changed = signed_over(visit, other);
    assert_eq!(SignatureCheck::of(&changed), SignatureCheck::Mismatch { fields: vec!["consent".into()] });
}

#[test]
fn a_signature_over_the_first_summary_format_still_verifies() {
    let (doc, mut clock) = signed_repair();
    let visit = doc.visit().unwrap();
    let at = visit.acceptance.as_ref().unwrap().signed_at;
    // Version 1 has no consent: its JSON (and so its hash) is as it was.
    let first = AcceptanceSummary::of_version(&visit, at, 1);
    let json = first.canonical_json();
    assert!(!json.contains("consent"), "{json}");
    assert!(json.starts_with(r#"{"version":1,"#), "{json}");
    assert!(!first.render_zh().contains(CONSENT_ZH));
    let old = signed_over(visit, json.clone());
    assert_eq!(SignatureCheck::of(&old), SignatureCheck::Valid);
    // And a change after it is still named.
    let mut doc = doc;
    doc.set_repair_plan(&clock.ctx(&agent()), RepairPlan::Replaced).unwrap();
    let changed = signed_over(doc.visit().unwrap(), json);
    assert_eq!(
        SignatureCheck::of(&changed),
        SignatureCheck::Mismatch { fields: vec!["outcome.repair_plan".into()] }
    );
}

#[test]
fn a_summary_format_this_build_does_not_know_is_not_taken_as_valid() {
    let (doc, _) = signed_repair();
    let visit = doc.visit().unwrap();
    let json = visit.acceptance.as_ref().unwrap().summary_json.replacen(
        &format!(r#""version":{SUMMARY_VERSION}"#),
        r#""version":99"#,
        1,
    );
    let newer = signed_over(visit, json);
    assert_eq!(SignatureCheck::of(&newer), SignatureCheck::Mismatch { fields: vec!["version".into()] });
}

#[test]
fn changed_fields_read_as_words_never_as_codes() {
    let words =
        |fields: &[&str]| changed_fields_words(&fields.iter().map(|f| f.to_string()).collect::<Vec<_>>());
    assert_eq!(
        words(&["outcome.fee_fen", "outcome.repair_plan"]),
        ("维修费用、维修方案".into(), "repair fee, repair plan".into())
    );
    // A field of a later format, and the two names of the summary's content, once each.
    assert_eq!(words(&["outcome.something_new", "content_hash", "summary_json"]).0, "其他内容、确认单内容");
    // A leaf under a known field reads as that field.
    assert_eq!(words(&["faults.0.fixed", "faults"]).0, "故障");
    for field in ["version", "visit_id", "kind", "merchant_name", "consent", "signed_at", "a.b"] {
        let (zh, _) = field_words(field);
        assert!(!zh.is_ascii() && !zh.contains('_'), "{field}: {zh}");
    }
}

#[test]
fn changing_the_serial_after_signing_is_reported_by_field() {
    let (mut doc, mut clock) = signed_repair();
    doc.identify_terminal(&clock.ctx(&agent()), "N9100001111111", IdentificationMethod::Manual, None, false)
        .unwrap();
    assert_eq!(mismatch(&doc), ["terminal_serial"]);
}

#[test]
fn changing_outcome_faults_or_steps_after_signing_is_reported_by_field() {
    let (mut doc, mut clock) = signed_repair();
    doc.set_repair_plan(&clock.ctx(&agent()), RepairPlan::Replaced).unwrap();
    assert_eq!(mismatch(&doc), ["outcome.repair_plan"]);

    let (mut doc, mut clock) = signed_repair();
    doc.add_fault(&clock.ctx(&agent()), FaultCode::Slow, None).unwrap();
    assert_eq!(mismatch(&doc), ["faults"]);

    let (mut doc, mut clock) = signed_repair();
    doc.set_step(&clock.ctx(&agent()), "test", StepState::Skipped, Some("没有测试卡"), None).unwrap();
    assert_eq!(mismatch(&doc), ["steps_passed"]);

    let (mut doc, mut clock) = signed_repair();
    doc.set_warranty(&clock.ctx(&agent()), WarrantyStatus::HumanDamage).unwrap();
    doc.set_repair_fee(&clock.ctx(&agent()), 20_000).unwrap();
    assert_eq!(mismatch(&doc), ["outcome.fee_fen", "outcome.warranty"]);
}

#[test]
fn a_changed_signature_blocks_completion_and_approval_until_signed_again() {
    let (mut doc, mut clock) = signed_repair();
    doc.set_repair_plan(&clock.ctx(&agent()), RepairPlan::SentForRepair).unwrap();
    let error = doc.complete(&clock.ctx(&agent())).unwrap_err();
    assert!(error.to_string().contains("needs signature"), "{error}");
    sign(&mut doc, &mut clock);
    doc.complete(&clock.ctx(&agent())).unwrap();
    assert_eq!(doc.visit().unwrap().status, VisitStatus::Completed);
}

#[test]
fn the_server_refuses_to_approve_a_tampered_acceptance() {
    let (mut doc, mut clock) = signed_repair();
    doc.complete(&clock.ctx(&agent())).unwrap();
    // Another replica (a tampering client) rewrites the stored summary's hash.
    let mut visit = doc.visit().unwrap();
    visit.acceptance.as_mut().unwrap().content_hash = "0".repeat(64);
    let mut forged = VisitDoc::create(&visit, b"forger", 0).unwrap();
    let error = forged.review(&clock.ctx(&reviewer()), ReviewDecision::Approve, None).unwrap_err();
    assert!(
        matches!(&error, VisitError::SignatureMismatch(fields) if fields == &["content_hash"]),
        "{error}"
    );
    // The genuine document approves.
    doc.review(&clock.ctx(&reviewer()), ReviewDecision::Approve, None).unwrap();
}

#[test]
fn a_follow_up_after_signing_does_not_break_the_signature() {
    let mut clock = Clock::default();
    let mut doc = new_visit(&mut clock, VisitKind::Reactivation);
    fill(&mut doc, &mut clock);
    doc.set_step(&clock.ctx(&agent()), "followup", StepState::Done, None, Some("三天后回访正常")).unwrap();
    assert_eq!(SignatureCheck::of(&doc.visit().unwrap()), SignatureCheck::Valid);
}

/// The one rule for an acceptance's device signature, as a table: what the
/// phone signs, and what the phone and the server accept. The phone and the
/// server used to carry a copy each (and the demo signed a third way); the
/// copies agreed on every case below. The one rule verifies with
/// `verify_strict`, which also refuses small-order keys and signature points
/// that plain `verify` lets through for some messages.
#[test]
fn the_device_signature_binds_the_three_hashes_under_one_key() {
    use ed25519_dalek::SigningKey;
    use posfield_shared::visit::acceptance::{device_signature_verifies, sign_binding};

    let (doc, _) = signed_repair();
    let signed = doc.visit().unwrap().acceptance.unwrap();
    let key = SigningKey::from_bytes(&[7; 32]);
    let public = hex::encode(key.verifying_key().to_bytes());
    let other_public = hex::encode(SigningKey::from_bytes(&[8; 32]).verifying_key().to_bytes());
    let mut good = signed.clone();
    good.device_signature =
        Some(sign_binding(&key, &good.content_hash, &good.strokes_sha256, &good.signature.sha256));
    assert!(device_signature_verifies(&good, &public));

    type Tamper = fn(&mut posfield_shared::visit::schema::Acceptance);
    let cases: [(&str, Tamper, bool); 8] = [
        ("summary hash changed", |a| a.content_hash = "1".repeat(64), false),
        ("strokes hash changed", |a| a.strokes_sha256 = "2".repeat(64), false),
        ("image hash changed", |a| a.signature.sha256 = "3".repeat(64), false),
        ("no signature", |a| a.device_signature = None, false),
        ("signature not hex", |a| a.device_signature = Some("zz".into()), false),
        ("signature too short", |a| a.device_signature = Some("ab".repeat(10)), false),
        ("signature of zeros", |a| a.device_signature = Some("00".repeat(64)), false),
        (
            "signer's name changed (not part of the binding: the summary hash is)",
            |a| a.signer_name = "x".into(),
            true,
        ),
    ];
    for (name, tamper, expected) in cases {
        let mut acceptance = good.clone();
        tamper(&mut acceptance);
        assert_eq!(device_signature_verifies(&acceptance, &public), expected, "{name}");
    }
    assert!(!device_signature_verifies(&good, &other_public), "another device's key");
    assert!(!device_signature_verifies(&good, "not hex"), "a malformed key");
    assert!(!device_signature_verifies(&good, &"00".repeat(32)), "a small-order key");
}
