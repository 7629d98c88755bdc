//! The acceptance summary the merchant signs, and the check that it still
//! matches the visit.
//!
//! When the merchant signs, the summary of what they accept (kind, merchant,
//! terminal serials, steps passed, faults and outcome, time) is serialized
//! canonically, hashed with SHA-256 and frozen into the visit. Any later
//! change to one of those fields makes [`SignatureCheck::of`] report a
//! mismatch naming the field, so a signature cannot be carried over to a
//! visit the merchant never saw.
//!
//! The summary's format is versioned ([`AcceptanceSummary::version`]): a
//! signature is always checked against a summary made anew in the version
//! it was signed in, so signatures over an older format still verify.
//! Version 2 (this release's) puts the sentence the merchant agrees to,
//! [`CONSENT_ZH`], inside the signed JSON; version 1 had none.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};

use std::collections::BTreeMap;

use super::schema::{
    Acceptance, BackupWaiver, DeregistrationRecord, Fault, Identification, Merchant, RepairRecord, SimRecord,
    StepRecord, StepState, Visit,
};
use crate::fault::FaultCode;
use crate::kind::VisitKind;
use crate::time::Timestamp;
use crate::vocab::{Open, RepairPlan, SimAction, Term, WarrantyStatus};

/// The summary format new signatures are made in.
pub const SUMMARY_VERSION: u32 = 2;

/// The oldest summary format a signature may be checked in.
const OLDEST_SUMMARY_VERSION: u32 = 1;

/// The sentence the merchant agrees to by signing (summary version 2 on),
/// signed as part of the summary: shown above the pad, in the summary's
/// words on the verification page and the certificate.
pub const CONSENT_ZH: &str = "本人确认以上服务已完成，内容属实，同意签字验收。";

/// A fault as the merchant sees it in the summary.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SummaryFault {
    /// The fault.
    pub code: Open<FaultCode>,
    /// Whether it was fixed; `None` while unresolved.
    pub fixed: Option<bool>,
}

/// The outcome fields the merchant agrees to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct SummaryOutcome {
    /// Warranty decision (repair).
    pub warranty: Option<Open<WarrantyStatus>>,
    /// Repair plan (repair).
    pub repair_plan: Option<Open<RepairPlan>>,
    /// The fee the merchant pays, in fen.
    pub fee_fen: Option<u64>,
    /// What was done about the SIM card.
    pub sim_action: Option<Open<SimAction>>,
    /// The new SIM card's ICCID.
    pub new_iccid: Option<String>,
    /// Whether the merchant declined the backup (signed separately).
    /// Absent when not, so summaries signed before schema 3 hash as they did.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub backup_declined: bool,
    /// The acquirer's unbinding reference (deregistration); absent when none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unbind_reference: Option<String>,
    /// The balance settled to the merchant, in fen (deregistration); absent when none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub settled_balance_fen: Option<u64>,
}

/// What the merchant signs. Field order is the canonical order: changing it
/// changes every hash, so it is part of the schema.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AcceptanceSummary {
    /// Summary format version.
    pub version: u32,
    /// The visit's id.
    pub visit_id: String,
    /// The visit kind.
    pub kind: VisitKind,
    /// Merchant name.
    pub merchant_name: String,
    /// Merchant number.
    pub merchant_number: Option<String>,
    /// Terminal serial (the old one for a replacement).
    pub terminal_serial: Option<String>,
    /// The new terminal's serial.
    pub replacement_serial: Option<String>,
    /// Ids of the steps done, in checklist order.
    pub steps_passed: Vec<String>,
    /// Faults, in recorded order, not withdrawn ones.
    pub faults: Vec<SummaryFault>,
    /// Outcome decisions.
    pub outcome: SummaryOutcome,
    /// When it was signed (device time).
    pub signed_at: Timestamp,
    /// The sentence the merchant agreed to ([`CONSENT_ZH`]; version 2 on).
    /// Absent in version 1, so its summaries hash as they did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consent: Option<String>,
}

impl AcceptanceSummary {
    /// The summary of the visit as it is now, signed at `signed_at`, in
    /// the current format ([`SUMMARY_VERSION`]).
    pub fn of(visit: &Visit, signed_at: Timestamp) -> Self {
        Self::of_version(visit, signed_at, SUMMARY_VERSION)
    }

    /// [`AcceptanceSummary::of`] in format `version` (1 or 2), to check a
    /// signature made in it.
    pub fn of_version(visit: &Visit, signed_at: Timestamp, version: u32) -> Self {
        // Only the steps before the signature: a follow-up done days later is
        // not part of what the merchant signed.
        let steps_passed = visit
            .kind
            .template()
            .steps
            .iter()
            .take_while(|s| s.id.as_str() != "acceptance")
            .filter(|s| visit.step_state(s.id.as_str()) == StepState::Done)
            .map(|s| s.id.as_str().to_owned())
            .collect();
        let sim = visit.sim.as_ref();
        AcceptanceSummary {
            version,
            visit_id: visit.id.clone(),
            kind: visit.kind,
            merchant_name: visit.merchant.name.clone(),
            merchant_number: visit.merchant.merchant_number.clone(),
            terminal_serial: visit.terminal.as_ref().map(|t| t.serial.clone()),
            replacement_serial: visit.replacement.as_ref().map(|t| t.serial.clone()),
            steps_passed,
            faults: visit
                .current_faults()
                .map(|f| SummaryFault { code: f.code.clone(), fixed: f.resolution.as_ref().map(|r| r.fixed) })
                .collect(),
            outcome: SummaryOutcome {
                warranty: visit.repair.warranty.as_ref().map(|d| d.value.clone()),
                repair_plan: visit.repair.plan.as_ref().map(|d| d.value.clone()),
                fee_fen: visit.repair.fee_fen.as_ref().map(|d| d.value),
                sim_action: sim.and_then(|s| s.action.clone()),
                new_iccid: sim.and_then(|s| s.new_iccid.clone()),
                backup_declined: visit.backup_waiver.is_some(),
                unbind_reference: visit.deregistration.unbind_reference.as_ref().map(|d| d.value.clone()),
                settled_balance_fen: visit.deregistration.settled_balance_fen.as_ref().map(|d| d.value),
            },
            signed_at,
            consent: (version >= 2).then(|| CONSENT_ZH.to_owned()),
        }
    }

    /// Canonical JSON: fields in declaration order, no whitespace, no floats.
    pub fn canonical_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// SHA-256 of canonical JSON, lowercase hex.
    pub fn hash_of(canonical_json: &str) -> String {
        hex::encode(Sha256::digest(canonical_json.as_bytes()))
    }

    /// The summary in plain zh-CN, line by line, as shown to the merchant.
    pub fn render_zh(&self) -> String {
        let mut lines =
            vec![format!("服务类型：{}", self.kind.zh()), format!("商户名称：{}", self.merchant_name)];
        if let Some(number) = &self.merchant_number {
            lines.push(format!("商户号：{number}"));
        }
        if let Some(serial) = &self.terminal_serial {
            lines.push(format!("终端机身号：{serial}"));
        }
        if let Some(serial) = &self.replacement_serial {
            lines.push(format!("新终端机身号：{serial}"));
        }
        let template = self.kind.template();
        let passed: Vec<&str> =
            self.steps_passed.iter().filter_map(|id| template.step(id).map(|s| s.zh)).collect();
        if !passed.is_empty() {
            lines.push(format!("已完成项目：{}", passed.join("、")));
        }
        for fault in &self.faults {
            let state = match fault.fixed {
                Some(true) => "已修复",
                Some(false) => "未修复",
                None => "处理中",
            };
            lines.push(format!("故障：{}（{state}）", fault.code.zh()));
        }
        if let Some(warranty) = &self.outcome.warranty {
            lines.push(format!("保修状态：{}", warranty.zh()));
        }
        if let Some(plan) = &self.outcome.repair_plan {
            lines.push(format!("维修方案：{}", plan.zh()));
        }
        if let Some(fee) = self.outcome.fee_fen {
            lines.push(format!("维修费用：{}.{:02} 元", fee / 100, fee % 100));
        }
        if let Some(action) = &self.outcome.sim_action {
            lines.push(format!("流量卡：{}", action.zh()));
        }
        if let Some(iccid) = &self.outcome.new_iccid {
            lines.push(format!("新流量卡 ICCID：{iccid}"));
        }
        if self.outcome.backup_declined {
            lines.push("数据备份：商户拒绝备份（已另行签字确认）".to_owned());
        }
        if let Some(reference) = &self.outcome.unbind_reference {
            lines.push(format!("解绑流水号：{reference}"));
        }
        if let Some(fen) = self.outcome.settled_balance_fen {
            lines.push(format!("结清金额：{}.{:02} 元", fen / 100, fen % 100));
        }
        lines.push(format!("签字时间：{}（北京时间）", self.signed_at.beijing_words()));
        if let Some(consent) = &self.consent {
            lines.push(consent.clone());
        }
        lines.join("\n")
    }
}

/// Whether the visit's signature still matches what it records.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "state")]
pub enum SignatureCheck {
    /// Not signed yet.
    Unsigned,
    /// Signed, and nothing the merchant signed has changed since.
    Valid,
    /// Signed, but these summary fields changed since (or the stored summary
    /// does not match its hash: `content_hash`). The merchant must sign again.
    Mismatch {
        /// The summary fields that differ.
        fields: Vec<String>,
    },
}

impl SignatureCheck {
    /// Checks the visit's acceptance against the visit as it is now.
    pub fn of(visit: &Visit) -> SignatureCheck {
        let Some(acceptance) = &visit.acceptance else { return SignatureCheck::Unsigned };
        if AcceptanceSummary::hash_of(&acceptance.summary_json) != acceptance.content_hash {
            return SignatureCheck::Mismatch { fields: vec!["content_hash".into()] };
        }
        let signed: serde_json::Value = match serde_json::from_str(&acceptance.summary_json) {
            Ok(value) => value,
            Err(_) => return SignatureCheck::Mismatch { fields: vec!["summary_json".into()] },
        };
        // Made anew in the format it was signed in; a format this build does
        // not know (a newer phone's) cannot be checked here.
        let version = signed.get("version").and_then(serde_json::Value::as_u64);
        let Some(version) = version
            .and_then(|v| u32::try_from(v).ok())
            .filter(|v| (OLDEST_SUMMARY_VERSION..=SUMMARY_VERSION).contains(v))
        else {
            return SignatureCheck::Mismatch { fields: vec!["version".into()] };
        };
        let current = AcceptanceSummary::of_version(visit, acceptance.signed_at, version);
        let current = serde_json::to_value(&current).unwrap_or_default();
        let fields = differing_fields(&signed, &current, "");
        if fields.is_empty() { SignatureCheck::Valid } else { SignatureCheck::Mismatch { fields } }
    }
}

/// The address of an acceptance's verification page below the server's
/// own (`verify/{visit}?h={content_hash}`, no leading slash): the phone's
/// QR code after signing and the desk's certificate both point there.
pub fn verification_path(visit_id: &str, content_hash: &str) -> String {
    format!("verify/{visit_id}?h={content_hash}")
}

/// A summary field as a merchant or a reviewer reads it, in zh-CN and in
/// English: the one home of these words (the app, the verification page
/// and the certificate show them). A field of a later format this build
/// does not know reads as "other content".
pub fn field_words(field: &str) -> (&'static str, &'static str) {
    let words = |field: &str| {
        Some(match field {
            "version" => ("确认单格式", "summary format"),
            "visit_id" => ("工单编号", "visit number"),
            "kind" => ("服务类型", "visit kind"),
            "merchant_name" => ("商户名称", "merchant name"),
            "merchant_number" => ("商户号", "merchant number"),
            "terminal_serial" => ("终端机身号", "terminal serial"),
            "replacement_serial" => ("新终端机身号", "new terminal serial"),
            "steps_passed" => ("已完成项目", "steps done"),
            "faults" => ("故障", "faults"),
            "outcome.warranty" => ("保修状态", "warranty"),
            "outcome.repair_plan" => ("维修方案", "repair plan"),
            "outcome.fee_fen" => ("维修费用", "repair fee"),
            "outcome.sim_action" => ("流量卡处理方式", "SIM action"),
            "outcome.new_iccid" => ("新流量卡 ICCID", "new ICCID"),
            "outcome.backup_declined" => ("数据备份", "data backup"),
            "outcome.unbind_reference" => ("解绑流水号", "unbinding reference"),
            "outcome.settled_balance_fen" => ("结清金额", "settled balance"),
            "signed_at" => ("签字时间", "signing time"),
            "consent" => ("确认声明", "consent sentence"),
            "content_hash" | "summary_json" => ("确认单内容", "summary content"),
            _ => return None,
        })
    };
    // A leaf under a known field (a fault's `faults.0.fixed`) reads as that field.
    words(field).or_else(|| field.split('.').next().and_then(words)).unwrap_or(("其他内容", "other content"))
}

/// The fields changed since signing in words, each once: zh-CN joined
/// with 、 ("维修费用、维修方案") and English with commas; never the codes.
pub fn changed_fields_words(fields: &[String]) -> (String, String) {
    let (mut zh, mut en): (Vec<&str>, Vec<&str>) = (Vec::new(), Vec::new());
    for field in fields {
        let (z, e) = field_words(field);
        if !zh.contains(&z) {
            zh.push(z);
            en.push(e);
        }
    }
    (zh.join("、"), en.join(", "))
}

/// Names the leaf fields (dotted, `outcome.fee_fen`) that differ between two JSON objects.
fn differing_fields(signed: &serde_json::Value, current: &serde_json::Value, prefix: &str) -> Vec<String> {
    use serde_json::Value;
    match (signed, current) {
        (Value::Object(a), Value::Object(b)) => {
            let mut keys: Vec<&String> = a.keys().chain(b.keys()).collect();
            keys.sort();
            keys.dedup();
            keys.into_iter()
                .flat_map(|key| {
                    let path = if prefix.is_empty() { key.clone() } else { format!("{prefix}.{key}") };
                    differing_fields(
                        a.get(key).unwrap_or(&Value::Null),
                        b.get(key).unwrap_or(&Value::Null),
                        &path,
                    )
                })
                .collect()
        }
        (a, b) if a == b => Vec::new(),
        _ => vec![prefix.to_owned()],
    }
}

/// The bytes a device signs (and the server countersigns) for an acceptance:
/// the summary's content hash, the strokes' hash and the signature image's hash.
pub fn binding_message(content_hash: &str, strokes_sha256: &str, image_sha256: &str) -> Vec<u8> {
    format!("posfield-acceptance-v1\n{content_hash}\n{strokes_sha256}\n{image_sha256}\n").into_bytes()
}

/// The device's Ed25519 signature over an acceptance's binding message, hex.
///
/// This and [`device_signature_verifies`] are the one home of how an
/// acceptance is signed and checked: the phone signs with it, the phone and
/// the server verify with the other, the demo fleet signs with it too.
pub fn sign_binding(
    key: &SigningKey,
    content_hash: &str,
    strokes_sha256: &str,
    image_sha256: &str,
) -> String {
    hex::encode(key.sign(&binding_message(content_hash, strokes_sha256, image_sha256)).to_bytes())
}

/// Whether the acceptance's device signature verifies under the device's
/// public key (32 bytes, hex). A missing, malformed or wrong signature, or a
/// malformed key, is `false`: the caller says which part failed.
pub fn device_signature_verifies(acceptance: &Acceptance, public_key_hex: &str) -> bool {
    let verified = || -> Option<()> {
        let key: [u8; 32] = hex::decode(public_key_hex).ok()?.try_into().ok()?;
        let key = VerifyingKey::from_bytes(&key).ok()?;
        let signature: [u8; 64] =
            hex::decode(acceptance.device_signature.as_deref()?).ok()?.try_into().ok()?;
        let message = binding_message(
            &acceptance.content_hash,
            &acceptance.strokes_sha256,
            &acceptance.signature.sha256,
        );
        key.verify_strict(&message, &Signature::from_bytes(&signature)).ok()
    };
    verified().is_some()
}

/// The acceptance of an approved visit and every record its summary is
/// made of, as approved: once the back office approved a visit, none of
/// them changes again, so the merchant's strokes stay bound to the one
/// summary they signed (a new signature, or a summary made anew over
/// changed records, is put back by the server; see
/// [`crate::visit::authority`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SealedAcceptance {
    /// The acceptance as approved (none: approved without one, and none may be added).
    pub acceptance: Option<Acceptance>,
    /// The visit kind.
    pub kind: VisitKind,
    /// The merchant record (name and number are in the summary).
    pub merchant: Merchant,
    /// The terminal.
    pub terminal: Option<Identification>,
    /// The new terminal of a replacement.
    pub replacement: Option<Identification>,
    /// The checklist's step records.
    pub steps: BTreeMap<String, StepRecord>,
    /// The faults, withdrawn ones included.
    pub faults: Vec<Fault>,
    /// The repair decisions.
    pub repair: RepairRecord,
    /// The SIM data card (its action and new ICCID are in the summary).
    pub sim: Option<SimRecord>,
    /// The merchant's signed refusal of the backup (schema 3).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backup_waiver: Option<BackupWaiver>,
    /// The unbinding reference and settled balance (schema 3).
    #[serde(default)]
    pub deregistration: DeregistrationRecord,
}

impl SealedAcceptance {
    /// The acceptance of `visit` and the records its summary is made of, as they are now.
    pub fn of(visit: &Visit) -> SealedAcceptance {
        SealedAcceptance {
            acceptance: visit.acceptance.clone(),
            kind: visit.kind,
            merchant: visit.merchant.clone(),
            terminal: visit.terminal.clone(),
            replacement: visit.replacement.clone(),
            steps: visit.steps.clone(),
            faults: visit.faults.clone(),
            repair: visit.repair.clone(),
            sim: visit.sim.clone(),
            backup_waiver: visit.backup_waiver.clone(),
            deregistration: visit.deregistration.clone(),
        }
    }

    /// Whether `visit` still holds exactly this acceptance and these records.
    pub fn holds_in(&self, visit: &Visit) -> bool {
        *self == SealedAcceptance::of(visit)
    }

    /// Puts the sealed acceptance and records back into `visit`.
    pub fn put_back(&self, visit: &mut Visit) {
        visit.acceptance = self.acceptance.clone();
        visit.kind = self.kind;
        visit.merchant = self.merchant.clone();
        visit.terminal = self.terminal.clone();
        visit.replacement = self.replacement.clone();
        visit.steps = self.steps.clone();
        visit.faults = self.faults.clone();
        visit.repair = self.repair.clone();
        visit.sim = self.sim.clone();
        visit.backup_waiver = self.backup_waiver.clone();
        visit.deregistration = self.deregistration.clone();
    }
}
