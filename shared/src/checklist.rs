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
    /// A photo of either document is attached: "A or B" (the bank card or
    /// the account proof).
    PhotoEither(DocumentKind, DocumentKind),
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
    /// The terminal's model and production date are recorded (edition 3).
    TerminalDetails,
    /// The new terminal's model and production date are recorded (edition 3).
    ReplacementDetails,
    /// The parameters and keys were downloaded and the terminal number set (edition 3).
    ParameterConfig,
    /// A network test passed (edition 3).
    NetworkTest,
    /// What was restored onto the new terminal is recorded (edition 3).
    DataRestored,
    /// The acquirer's unbinding reference is recorded (edition 3).
    UnbindReference,
    /// The settled balance is recorded (edition 3).
    SettledBalance,
    /// The follow-up day is set (edition 3).
    FollowUpDate,
    /// The terminal taken back is handed over with its condition and a photo (edition 3).
    HandoverRecorded,
}

impl Requirement {
    /// A stable code for this requirement, for UI text and error details.
    pub fn code(self) -> String {
        match self {
            Requirement::Photo(kind) => format!("photo:{}", kind.code()),
            Requirement::PhotoEither(a, b) => format!("photo:{}|{}", a.code(), b.code()),
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

    /// The checklist edition that first asks for it: a visit created under
    /// an earlier edition is not asked for it (see `CHECKLIST_EDITION`).
    pub fn since(self) -> u64 {
        match self {
            Requirement::TerminalDetails
            | Requirement::ReplacementDetails
            | Requirement::ParameterConfig
            | Requirement::NetworkTest
            | Requirement::DataRestored
            | Requirement::UnbindReference
            | Requirement::SettledBalance
            | Requirement::FollowUpDate
            | Requirement::HandoverRecorded
            | Requirement::Photo(DocumentKind::SettlementProof | DocumentKind::AccountProof) => 3,
            _ => 1,
        }
    }

    /// zh-CN words for what is missing.
    pub fn zh(self) -> String {
        match self {
            Requirement::Photo(kind) => format!("{}照片", kind.zh()),
            Requirement::PhotoEither(a, b) => format!("{}或{}照片", a.zh(), b.zh()),
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
            Requirement::TerminalDetails => "终端型号和生产日期".into(),
            Requirement::ReplacementDetails => "新终端型号和生产日期".into(),
            Requirement::ParameterConfig => "参数和密钥下载记录".into(),
            Requirement::NetworkTest => "网络测试通过记录".into(),
            Requirement::DataRestored => "数据恢复记录".into(),
            Requirement::UnbindReference => "解绑流水号".into(),
            Requirement::SettledBalance => "结清金额".into(),
            Requirement::FollowUpDate => "回访日期".into(),
            Requirement::HandoverRecorded => "回收终端交接记录（外观和照片）".into(),
        }
    }

    /// English words for what is missing.
    pub fn en(self) -> String {
        match self {
            Requirement::Photo(kind) => format!("photo of the {}", kind.en().to_lowercase()),
            Requirement::PhotoEither(a, b) => {
                format!("photo of the {} or the {}", a.en().to_lowercase(), b.en().to_lowercase())
            }
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
            Requirement::TerminalDetails => "the terminal's model and production date".into(),
            Requirement::ReplacementDetails => "the new terminal's model and production date".into(),
            Requirement::ParameterConfig => "the parameter and key download".into(),
            Requirement::NetworkTest => "a passed network test".into(),
            Requirement::DataRestored => "what was restored".into(),
            Requirement::UnbindReference => "the unbinding reference".into(),
            Requirement::SettledBalance => "the settled balance".into(),
            Requirement::FollowUpDate => "the follow-up day".into(),
            Requirement::HandoverRecorded => {
                "the hand-over of the terminal taken back (condition and photo)".into()
            }
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
    /// The checklist edition that added the step: visits of earlier
    /// editions do not have it.
    pub since: u64,
    /// The edition from which the step cannot be skipped, when it could
    /// be before (a mandatory step that used to be a tick).
    pub locked_from: Option<u64>,
}

impl StepTemplate {
    /// Whether a visit of checklist `edition` has this step.
    pub fn in_edition(&self, edition: u64) -> bool {
        self.since <= edition
    }

    /// Whether the step may be skipped on a visit of checklist `edition`.
    pub fn skippable_in(&self, edition: u64) -> bool {
        self.skippable && self.locked_from.is_none_or(|from| edition < from)
    }

    /// What the step asks of a visit of checklist `edition`.
    pub fn requires_in(&self, edition: u64) -> impl Iterator<Item = Requirement> + '_ {
        self.requires.iter().copied().filter(move |r| r.since() <= edition)
    }
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

    /// The steps of checklist `edition`, in order.
    pub fn steps_in(&self, edition: u64) -> impl Iterator<Item = &'static StepTemplate> {
        self.steps.iter().filter(move |s| s.in_edition(edition))
    }

    /// Whether `edition` asks more of this kind than the edition before it
    /// (a required step, a new requirement of any step, since a step an
    /// older app marks done must meet it, or a step no longer skippable): a
    /// phone of an older schema could not complete a visit created under
    /// it, so it is created locked to them.
    pub fn asks_more_in(&self, edition: u64) -> bool {
        self.steps.iter().any(|s| {
            (s.since == edition && s.need == Need::Required)
                || s.locked_from == Some(edition)
                || (s.since < edition && s.requires.iter().any(|r| r.since() == edition))
        })
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
        since: 1,
        locked_from: None,
    }
}

/// A step added by checklist `edition`.
const fn since(edition: u64, step: StepTemplate) -> StepTemplate {
    StepTemplate { since: edition, ..step }
}

/// A step that cannot be skipped from checklist `edition` on.
const fn locked_from(edition: u64, step: StepTemplate) -> StepTemplate {
    StepTemplate { locked_from: Some(edition), ..step }
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
const NETWORK: StepTemplate =
    step("network", "连接网络并测试签到", "Connect to the network and test signing on", &[Q::NetworkTest]);
/// The network step of a reactivation, which records no test yet.
const CONNECT: StepTemplate = step("network", "连接网络", "Connect to the network", &[]);
const PARAMS: StepTemplate = since(
    3,
    step(
        "params",
        "参数配置（参数和密钥下载）",
        "Configure the terminal (download parameters and keys)",
        &[Q::ParameterConfig],
    ),
);
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
                "拍摄结算银行卡或账户证明",
                "Photograph the settlement bank card or account proof",
                &[Q::PhotoEither(D::BankCard, D::AccountProof)],
            ),
            step(
                "docs.agreement",
                "拍摄协议书",
                "Photograph the signed service agreement",
                &[Q::Photo(D::ServiceAgreement)],
            ),
            optional(step(
                "docs.tax_certificate",
                "拍摄税务登记证（如需）",
                "Photograph the tax registration certificate (where required)",
                &[Q::Photo(D::TaxCertificate)],
            )),
            step(
                "identify",
                "识别终端机身号、型号和生产日期",
                "Identify the terminal: serial, model, production date",
                &[Q::TerminalIdentified, Q::TerminalDetails],
            ),
            step("install", "安装终端", "Install the terminal", &[]),
            PARAMS,
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
                "核对旧终端型号和生产日期",
                "Check the old terminal's model and production date",
                &[Q::TerminalDetails],
            ),
            locked_from(
                3,
                step(
                    "backup",
                    "备份旧终端数据（日结报表、交易记录、结算单）；商户拒绝备份须签字确认",
                    "Back up the old terminal (settlement reports, transactions, slips); a merchant who declines signs that they did",
                    &[Q::BackupConfirmation],
                ),
            ),
            step(
                "new.identify",
                "登记新终端机身号、型号和生产日期",
                "Record the new terminal's serial, model and production date",
                &[Q::ReplacementSerial, Q::ReplacementDetails],
            ),
            step("new.install", "安装新终端", "Install the new terminal", &[]),
            PARAMS,
            since(3, NETWORK),
            step("restore", "恢复数据", "Restore the data", &[Q::DataRestored]),
            TEST_PRINT,
            TEST_CARD,
            TEST_PAYMENT,
            step(
                "old.collect",
                "回收旧终端（记录外观、封签号并拍照）",
                "Take back the old terminal (its condition, seal number and a photo)",
                &[Q::HandoverRecorded],
            ),
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
            step(
                "fault.onsite",
                "现场处理（记录已尝试的步骤）",
                "Try the on-site steps and record them",
                &[],
            ),
            step("warranty", "判定保修状态", "Decide the warranty status", &[Q::WarrantyDecision]),
            optional(step(
                "docs.purchase_proof",
                "拍摄购买凭证或保修卡",
                "Photograph the proof of purchase or warranty card",
                &[Q::PhotoEither(D::PurchaseProof, D::WarrantyCard)],
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
                    "记录维修费用（商户签字确认）",
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
                "拍摄银行卡或账户证明",
                "Photograph the bank card or account proof",
                &[Q::PhotoEither(D::BankCard, D::AccountProof)],
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
                &[Q::PhotoEither(D::WarrantyCard, D::PurchaseProof)],
            )),
            unskippable(step(
                "application",
                "复机申请审批",
                "Reactivation application approved",
                &[Q::ApplicationApproved],
            )),
            step("install", "安装终端", "Install the terminal", &[]),
            CONNECT,
            TEST_PRINT,
            step("test.scan", "扫码测试", "Test: scan a code", &[]),
            TEST_PAYMENT,
            TRAINING,
            ACCEPTANCE,
            optional(step(
                "followup",
                "约定回访日期",
                "Set the day of the follow-up check",
                &[Q::FollowUpDate],
            )),
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
                "备份数据（结算报表、交易记录）",
                "Back up the data (settlement reports, transactions)",
                &[Q::BackupConfirmation],
            ),
            locked_from(
                3,
                step(
                    "unbind",
                    "解绑终端（记录解绑流水号）",
                    "Unbind the terminal (record the acquirer's reference)",
                    &[Q::UnbindReference],
                ),
            ),
            step(
                "collect",
                "回收终端（记录外观、封签号并拍照）",
                "Take the terminal back for recycling (its condition, seal number and a photo)",
                &[Q::HandoverRecorded],
            ),
            step("confirm.result", "确认注销结果", "Confirm the deregistration result", &[]),
            locked_from(
                3,
                step(
                    "confirm.settled",
                    "确认款项结清（记录结清金额并拍摄结清证明）",
                    "Confirm the balance is settled (the amount and a photo of the proof)",
                    &[Q::SettledBalance, Q::Photo(D::SettlementProof)],
                ),
            ),
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
                "记录流量卡信息（ICCID、运营商、到期日）",
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
    fn chinese_step_labels_use_full_width_punctuation() {
        for template in TEMPLATES {
            for step in template.steps {
                assert!(
                    !step.zh.contains(['(', ')', ',', ':', ';']),
                    "{}: step {} has half-width punctuation in {:?}",
                    template.kind,
                    step.id,
                    step.zh
                );
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
                Requirement::Photo(kind) | Requirement::PhotoEither(kind, _) => Some(*kind),
                _ => None,
            })
            .collect();
        assert_eq!(
            photos,
            [D::BusinessLicence, D::IdCard, D::BankCard, D::ServiceAgreement, D::TaxCertificate]
        );
    }

    /// The kinds whose edition 3 asks more than older phones know are
    /// exactly those whose steps used to be ticks the business depends on.
    #[test]
    fn edition_three_asks_more_of_the_kinds_whose_steps_record_more() {
        let asking: Vec<VisitKind> = TEMPLATES.iter().filter(|t| t.asks_more_in(3)).map(|t| t.kind).collect();
        // A reactivation's optional follow-up step now records its day: an
        // older app marking it done would leave it unmet.
        assert_eq!(
            asking,
            [
                VisitKind::Installation,
                VisitKind::Replacement,
                VisitKind::Reactivation,
                VisitKind::Deregistration
            ]
        );
        for template in TEMPLATES {
            assert!(!template.asks_more_in(2), "{}", template.kind);
        }
    }

    /// A visit created before edition 3 keeps the steps it was created
    /// with: no new step, no new requirement, and its skippable steps stay so.
    #[test]
    fn an_edition_two_visit_keeps_its_checklist() {
        let deregistration = VisitKind::Deregistration.template();
        let unbind = deregistration.step("unbind").unwrap();
        assert!(unbind.skippable_in(2) && !unbind.skippable_in(3));
        assert_eq!(unbind.requires_in(2).count(), 0);
        assert_eq!(unbind.requires_in(3).collect::<Vec<_>>(), [Requirement::UnbindReference]);
        let replacement = VisitKind::Replacement.template();
        let old: Vec<&str> = replacement.steps_in(2).map(|s| s.id.as_str()).collect();
        assert!(!old.contains(&"params") && !old.contains(&"network"));
        let new: Vec<&str> = replacement.steps_in(3).map(|s| s.id.as_str()).collect();
        assert!(new.contains(&"params") && new.contains(&"network"));
    }

    #[test]
    fn requirement_codes_are_stable() {
        assert_eq!(Requirement::Photo(D::PoliceReport).code(), "photo:police_report");
        assert_eq!(Requirement::BackupConfirmation.code(), "backup_confirmation");
        assert_eq!(Requirement::Signature.code(), "signature");
    }
}
