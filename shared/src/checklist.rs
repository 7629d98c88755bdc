//! Checklist templates: the ordered steps of each visit kind, as data.
//!
//! [`TEMPLATES`] is the single place that says what an agent does on each
//! kind of visit and what each step needs before the visit can be completed.
//! Step ids are stable: documents store them, so a step is renamed by
//! changing its labels, never its id.

use serde::{Deserialize, Serialize};

use crate::kind::VisitKind;
use crate::vocab::{DocumentKind, SimAction, Term, WarrantyStatus};

/// The stable id of a checklist step, unique within its kind, such as `test.print`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct StepId(pub &'static str);

impl StepId {
    /// The id as stored in documents.
    pub fn as_str(self) -> &'static str {
        self.0
    }
}

impl std::fmt::Display for StepId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0)
    }
}

/// Something a step needs recorded in the visit before the visit can be completed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "type", content = "document_kind")]
pub enum Requirement {
    /// A document photo of this kind is attached (and not removed).
    Photo(DocumentKind),
    /// The merchant's acceptance signature exists and matches the summary.
    Signature,
    /// The terminal was identified (serial by NFC, photo or typing).
    TerminalIdentified,
    /// The new terminal's serial is recorded (replacement).
    ReplacementSerial,
    /// SIM data: ICCID, carrier and expiry.
    SimData,
    /// What was done about the SIM card (renewed, replaced, shared plan).
    SimAction,
    /// The data backup is confirmed.
    BackupConfirmation,
    /// At least one fault is recorded.
    FaultRecorded,
    /// The warranty status is decided.
    WarrantyDecision,
    /// The repair plan is decided.
    RepairPlan,
    /// The agreed fee is recorded (the merchant pays).
    RepairFee,
    /// The cause of the suspension is recorded.
    SuspensionCause,
    /// The back office approved the reactivation application.
    ApplicationApproved,
    /// The merchant number is recorded.
    MerchantNumber,
    /// The registered mobile number is recorded.
    RegisteredPhone,
}

impl Requirement {
    /// A stable code for this requirement, for UI text and error details.
    pub fn code(self) -> String {
        match self {
            Requirement::Photo(kind) => format!("photo:{}", kind.code()),
            other => serde_json::to_value(other)
                .ok()
                .and_then(|v| v.get("type").and_then(|t| t.as_str()).map(str::to_owned))
                .unwrap_or_default(),
        }
    }

    /// Whether only the back office can meet it (a decision, not something
    /// the agent records): the steps after it wait until it is met.
    pub fn is_decision(self) -> bool {
        matches!(self, Requirement::ApplicationApproved)
    }

    /// zh-CN words for what is missing.
    pub fn zh(self) -> String {
        match self {
            Requirement::Photo(kind) => format!("{}照片", kind.zh()),
            Requirement::Signature => "商户验收签字".into(),
            Requirement::TerminalIdentified => "终端机身号".into(),
            Requirement::ReplacementSerial => "新终端机身号".into(),
            Requirement::SimData => "流量卡信息".into(),
            Requirement::SimAction => "流量卡处理方式".into(),
            Requirement::BackupConfirmation => "数据备份确认".into(),
            Requirement::FaultRecorded => "故障记录".into(),
            Requirement::WarrantyDecision => "保修状态".into(),
            Requirement::RepairPlan => "维修方案".into(),
            Requirement::RepairFee => "维修费用".into(),
            Requirement::SuspensionCause => "停用原因".into(),
            Requirement::ApplicationApproved => "复机申请审批通过".into(),
            Requirement::MerchantNumber => "商户号".into(),
            Requirement::RegisteredPhone => "注册手机号".into(),
        }
    }

    /// English words for what is missing.
    pub fn en(self) -> String {
        match self {
            Requirement::Photo(kind) => format!("photo of the {}", kind.en().to_lowercase()),
            Requirement::Signature => "the merchant's acceptance signature".into(),
            Requirement::TerminalIdentified => "the terminal's serial".into(),
            Requirement::ReplacementSerial => "the new terminal's serial".into(),
            Requirement::SimData => "the SIM card's data".into(),
            Requirement::SimAction => "what was done with the SIM card".into(),
            Requirement::BackupConfirmation => "the backup confirmation".into(),
            Requirement::FaultRecorded => "a recorded fault".into(),
            Requirement::WarrantyDecision => "the warranty status".into(),
            Requirement::RepairPlan => "the repair plan".into(),
            Requirement::RepairFee => "the repair fee".into(),
            Requirement::SuspensionCause => "the suspension cause".into(),
            Requirement::ApplicationApproved => "the reactivation application's approval".into(),
            Requirement::MerchantNumber => "the merchant number".into(),
            Requirement::RegisteredPhone => "the registered mobile number".into(),
        }
    }
}

/// When a step applies. A step whose condition does not hold is not
/// applicable and never blocks completion.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Condition {
    /// Always applies.
    Always,
    /// Applies when the warranty decision is this status.
    Warranty(WarrantyStatus),
    /// Applies when the merchant pays for the repair.
    MerchantPays,
    /// Applies when the SIM action is this one.
    SimAction(SimAction),
}

/// Whether a step must be done (or skipped with a reason) to complete.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Need {
    /// Done, or skipped with a reason, before completion.
    Required,
    /// May be left open or marked not applicable.
    Optional,
}

/// One step of a checklist.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct StepTemplate {
    /// Stable id, unique within the kind.
    pub id: StepId,
    /// zh-CN label.
    pub zh: &'static str,
    /// English label.
    pub en: &'static str,
    /// Required or optional.
    pub need: Need,
    /// Whether it may be skipped at all (the acceptance signature may not).
    pub skippable: bool,
    /// When it applies.
    pub when: Condition,
    /// What must be recorded when the step is done.
    pub requires: &'static [Requirement],
}

/// A visit kind's checklist.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct KindTemplate {
    /// The kind.
    pub kind: VisitKind,
    /// Whether the merchant must sign the acceptance.
    pub requires_signature: bool,
    /// Whether the kind moves a second (replacement) terminal.
    pub has_replacement: bool,
    /// The steps, in the order the agent works through them.
    pub steps: &'static [StepTemplate],
}

impl KindTemplate {
    /// The step with this id.
    pub fn step(&self, id: &str) -> Option<&'static StepTemplate> {
        self.steps.iter().find(|s| s.id.0 == id)
    }
}

impl VisitKind {
    /// This kind's checklist template.
    pub fn template(self) -> &'static KindTemplate {
        TEMPLATES.iter().find(|t| t.kind == self).unwrap_or(&TEMPLATES[0])
    }
}

const fn step(
    id: &'static str,
    zh: &'static str,
    en: &'static str,
    requires: &'static [Requirement],
) -> StepTemplate {
    StepTemplate {
        id: StepId(id),
        zh,
        en,
        need: Need::Required,
        skippable: true,
        when: Condition::Always,
        requires,
    }
}

const fn optional(step: StepTemplate) -> StepTemplate {
    StepTemplate { need: Need::Optional, ..step }
}

const fn only_when(when: Condition, step: StepTemplate) -> StepTemplate {
    StepTemplate { when, ..step }
}

const fn unskippable(step: StepTemplate) -> StepTemplate {
    StepTemplate { skippable: false, ..step }
}

use DocumentKind as D;
use Requirement as Q;

const IDENTIFY: StepTemplate =
    step("identify", "识别终端机身号", "Identify the terminal", &[Q::TerminalIdentified]);
const NETWORK: StepTemplate = step("network", "连接网络", "Connect to the network", &[]);
const TEST_PRINT: StepTemplate = step("test.print", "打印测试", "Test: print a receipt", &[]);
const TEST_CARD: StepTemplate = step("test.card", "刷卡/扫码测试", "Test: read a card or scan a code", &[]);
const TEST_PAYMENT: StepTemplate = step("test.payment", "交易测试", "Test: a test payment", &[]);
const TRAINING: StepTemplate = step("training", "培训商户员工", "Train the merchant's staff", &[]);
const ACCEPTANCE: StepTemplate =
    unskippable(step("acceptance", "商户验收签字", "Merchant signs the acceptance", &[Q::Signature]));

/// Every kind's checklist, in [`VisitKind::ALL`] order.
pub const TEMPLATES: &[KindTemplate] = &[
    KindTemplate {
        kind: VisitKind::Installation,
        requires_signature: true,
        has_replacement: false,
        steps: &[
            step(
                "docs.business_licence",
                "拍摄营业执照",
                "Photograph the business licence",
                &[Q::Photo(D::BusinessLicence)],
            ),
            step(
                "docs.id_card",
                "拍摄法人身份证",
                "Photograph the legal representative's ID card",
                &[Q::Photo(D::IdCard)],
            ),
            step(
                "docs.bank_card",
                "拍摄结算银行卡",
                "Photograph the settlement bank card",
                &[Q::Photo(D::BankCard)],
            ),
            step(
                "docs.agreement",
                "拍摄协议书",
                "Photograph the signed service agreement",
                &[Q::Photo(D::ServiceAgreement)],
            ),
            optional(step(
                "docs.tax_certificate",
                "拍摄税务登记证(如需)",
                "Photograph the tax registration certificate (where required)",
                &[Q::Photo(D::TaxCertificate)],
            )),
            IDENTIFY,
            step("install", "安装终端", "Install the terminal", &[]),
            NETWORK,
            TEST_PRINT,
            TEST_CARD,
            TEST_PAYMENT,
            TRAINING,
            ACCEPTANCE,
        ],
    },
    KindTemplate {
        kind: VisitKind::Replacement,
        requires_signature: true,
        has_replacement: true,
        steps: &[
            step("identify", "识别旧终端机身号", "Identify the old terminal", &[Q::TerminalIdentified]),
            step(
                "old.production_date",
                "核对旧终端生产日期",
                "Check the old terminal's production date",
                &[],
            ),
            step(
                "backup",
                "备份旧终端数据(日结报表、交易记录、结算单)",
                "Back up the old terminal (settlement reports, transactions, slips)",
                &[Q::BackupConfirmation],
            ),
            step(
                "new.identify",
                "登记新终端机身号",
                "Record the new terminal's serial",
                &[Q::ReplacementSerial],
            ),
            step("new.install", "安装新终端", "Install the new terminal", &[]),
            step("restore", "恢复数据", "Restore the data", &[]),
            TEST_PRINT,
            TEST_CARD,
            TEST_PAYMENT,
            step("old.collect", "回收旧终端", "Take back the old terminal", &[]),
            ACCEPTANCE,
        ],
    },
    KindTemplate {
        kind: VisitKind::Repair,
        requires_signature: true,
        has_replacement: false,
        steps: &[
            IDENTIFY,
            step("fault.classify", "故障分类", "Classify the fault", &[Q::FaultRecorded]),
            step("fault.onsite", "现场处理(记录已尝试的步骤)", "Try the on-site steps and record them", &[]),
            step("warranty", "判定保修状态", "Decide the warranty status", &[Q::WarrantyDecision]),
            optional(step(
                "docs.purchase_proof",
                "拍摄购买凭证或保修卡",
                "Photograph the proof of purchase or warranty card",
                &[Q::Photo(D::PurchaseProof)],
            )),
            only_when(
                Condition::Warranty(WarrantyStatus::Lost),
                unskippable(step(
                    "docs.police_report",
                    "拍摄报警证明",
                    "Photograph the police report",
                    &[Q::Photo(D::PoliceReport)],
                )),
            ),
            step("plan", "确定维修方案", "Decide the repair plan", &[Q::RepairPlan]),
            only_when(
                Condition::MerchantPays,
                unskippable(step(
                    "fee",
                    "记录维修费用(商户签字确认)",
                    "Record the agreed fee (the merchant confirms by signing)",
                    &[Q::RepairFee],
                )),
            ),
            step("test", "维修后测试", "Test after the repair", &[]),
            ACCEPTANCE,
        ],
    },
    KindTemplate {
        kind: VisitKind::Reactivation,
        requires_signature: true,
        has_replacement: false,
        steps: &[
            IDENTIFY,
            step("cause", "记录停用原因", "Record the cause of suspension", &[Q::SuspensionCause]),
            step("docs.id_card", "拍摄身份证", "Photograph the ID card", &[Q::Photo(D::IdCard)]),
            step(
                "docs.bank_card",
                "拍摄银行账户材料",
                "Photograph the bank account proof",
                &[Q::Photo(D::BankCard)],
            ),
            optional(step(
                "docs.purchase_proof",
                "拍摄购买凭证",
                "Photograph the purchase receipt",
                &[Q::Photo(D::PurchaseProof)],
            )),
            optional(step(
                "docs.agreement",
                "拍摄原合同",
                "Photograph the earlier contract",
                &[Q::Photo(D::ServiceAgreement)],
            )),
            optional(step(
                "docs.warranty_card",
                "拍摄发票或保修卡",
                "Photograph the invoice or warranty card",
                &[Q::Photo(D::WarrantyCard)],
            )),
            unskippable(step(
                "application",
                "复机申请审批",
                "Reactivation application approved",
                &[Q::ApplicationApproved],
            )),
            step("install", "安装终端", "Install the terminal", &[]),
            NETWORK,
            TEST_PRINT,
            step("test.scan", "扫码测试", "Test: scan a code", &[]),
            TEST_PAYMENT,
            TRAINING,
            ACCEPTANCE,
            optional(step("followup", "回访检查", "Follow-up check after some days", &[])),
        ],
    },
    KindTemplate {
        kind: VisitKind::Deregistration,
        requires_signature: true,
        has_replacement: false,
        steps: &[
            step("merchant_number", "核对商户号", "Record the merchant number", &[Q::MerchantNumber]),
            IDENTIFY,
            step("phone", "核对注册手机号", "Record the registered phone number", &[Q::RegisteredPhone]),
            step(
                "backup",
                "备份数据(结算报表、交易记录)",
                "Back up the data (settlement reports, transactions)",
                &[Q::BackupConfirmation],
            ),
            step("unbind", "解绑终端", "Unbind the terminal", &[]),
            step("collect", "回收终端", "Take the terminal back for recycling", &[]),
            step("confirm.result", "确认注销结果", "Confirm the deregistration result", &[]),
            step("confirm.settled", "确认款项结清", "Confirm the balance is settled", &[]),
            step("notify.finance", "通知财务/银行", "Notify finance or the bank", &[]),
            unskippable(step(
                "acceptance",
                "商户签字确认撤机",
                "Merchant signs the hand-back",
                &[Q::Signature],
            )),
        ],
    },
    KindTemplate {
        kind: VisitKind::SimRenewal,
        requires_signature: false,
        has_replacement: false,
        steps: &[
            IDENTIFY,
            step(
                "sim.record",
                "记录流量卡信息(ICCID、运营商、到期日)",
                "Record the SIM card (ICCID, carrier, expiry)",
                &[Q::SimData],
            ),
            step(
                "sim.action",
                "续费、换卡或流量共享",
                "Renew, replace or move to a shared plan",
                &[Q::SimAction],
            ),
            step("verify.data", "验证终端数据收发正常", "Verify the terminal sends and receives data", &[]),
            optional(step("acceptance", "商户签字确认", "Merchant signs", &[Q::Signature])),
        ],
    },
    KindTemplate {
        kind: VisitKind::Inspection,
        requires_signature: false,
        has_replacement: false,
        steps: &[
            IDENTIFY,
            step("check.hardware", "检查硬件磨损", "Check hardware wear", &[]),
            step("check.software", "检查软件版本", "Check the software version is up to date", &[]),
            step("check.backup", "检查数据已备份", "Check the data is backed up", &[]),
            step("check.battery", "检查电池电量和续航", "Check the battery is charged and holds charge", &[]),
            optional(step("acceptance", "商户签字确认", "Merchant signs", &[Q::Signature])),
        ],
    },
];

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn every_kind_has_exactly_one_template_in_kind_order() {
        let kinds: Vec<_> = TEMPLATES.iter().map(|t| t.kind).collect();
        assert_eq!(kinds, VisitKind::ALL);
    }

    #[test]
    fn step_ids_are_unique_within_a_kind_and_well_formed() {
        for template in TEMPLATES {
            let mut seen = HashSet::new();
            for step in template.steps {
                assert!(seen.insert(step.id), "{}: duplicate step {}", template.kind, step.id);
                assert!(
                    step.id.0.chars().all(|c| c.is_ascii_lowercase() || c == '.' || c == '_'),
                    "{}: step id {} is not lowercase dotted",
                    template.kind,
                    step.id
                );
                assert!(!step.zh.is_empty() && !step.en.is_empty());
            }
        }
    }

    #[test]
    fn kinds_that_require_a_signature_have_an_unskippable_required_signature_step() {
        for template in TEMPLATES {
            let signing = template.steps.iter().find(|s| s.requires.contains(&Requirement::Signature));
            let signing = signing.unwrap_or_else(|| panic!("{} has no signature step", template.kind));
            if template.requires_signature {
                assert_eq!(signing.need, Need::Required, "{}", template.kind);
                assert!(!signing.skippable, "{}", template.kind);
            } else {
                assert_eq!(signing.need, Need::Optional, "{}", template.kind);
            }
        }
    }

    #[test]
    fn installation_asks_for_the_onboarding_documents() {
        let photos: Vec<_> = VisitKind::Installation
            .template()
            .steps
            .iter()
            .flat_map(|s| s.requires)
            .filter_map(|r| match r {
                Requirement::Photo(kind) => Some(*kind),
                _ => None,
            })
            .collect();
        assert_eq!(
            photos,
            [D::BusinessLicence, D::IdCard, D::BankCard, D::ServiceAgreement, D::TaxCertificate]
        );
    }

    #[test]
    fn requirement_codes_are_stable() {
        assert_eq!(Requirement::Photo(D::PoliceReport).code(), "photo:police_report");
        assert_eq!(Requirement::BackupConfirmation.code(), "backup_confirmation");
        assert_eq!(Requirement::Signature.code(), "signature");
    }
}
