//! A visit document's paths in the back office's words: the field a
//! history change or a concurrent value names (`merchant.phone`,
//! `steps.backup.state`, `documents[<sha256>].removed`), labelled in zh-CN
//! or English from the checklist and the vocabularies, and its value as a
//! reviewer reads it, the registered phone shown whole or masked by
//! [`crate::personal`]. A path this table does not know is shown as it is,
//! with its value as written.

use posfield_shared::vocab::{
    ApplicationState, BackupItem, DocumentKind, IdentificationMethod, NetworkLink, Open, RepairPlan,
    SimAction, SimCarrier, SuspensionCause, Term, WarrantyStatus,
};
use std::collections::BTreeMap;

use posfield_shared::visit::schema::{MarkShape, ReviewDecision, StepState};
use posfield_shared::visit::{ConcurrentEdit, FieldChange, Visit};
use posfield_shared::{FaultCode, Remedy, Timestamp, VisitKind, VisitStatus};

use super::i18n::Lang;
use crate::personal::{Place, phone_for};
use crate::store::UserRole;

/// How a field's value reads.
#[derive(Clone, Copy)]
enum Shown {
    /// As written.
    Plain,
    /// The registered phone: whole or masked by role.
    Phone,
    /// A code of a vocabulary, in words.
    Term(fn(Lang, &str) -> String),
    /// A list of codes of a vocabulary, joined by `, ` in the document.
    Terms(fn(Lang, &str) -> String),
    /// The state of a step: absent is pending.
    StepState,
    /// An instant in milliseconds, in Beijing time.
    Instant,
    /// An amount in fen, in yuan.
    Fen,
    /// Whether something was fixed.
    Fixed,
    /// A SHA-256, shortened.
    Hash,
    /// Millionths of a degree, in degrees.
    Degrees,
    /// A who-and-when record: present is the word given, absent is a dash.
    Present(&'static str, &'static str),
    /// Technical detail shown elsewhere on the page (a photo's size, the
    /// signed summary's text): left out of the changes.
    Hidden,
}

/// Each known path, its items written `[]` and a step's id `*`, with its
/// words and how its value reads.
const FIELDS: &[(&str, &str, &str, Shown)] = &[
    ("id", "工单编号", "Visit id", Shown::Plain),
    ("kind", "类型", "Kind", Shown::Term(term::<VisitKind>)),
    ("status", "状态", "Status", Shown::Term(term::<VisitStatus>)),
    ("created", "创建", "Created", Shown::Present("已创建", "created")),
    ("merchant.name", "商户名称", "Merchant name", Shown::Plain),
    ("merchant.merchant_number", "商户号", "Merchant number", Shown::Plain),
    ("merchant.terminal_number", "终端号", "Terminal number", Shown::Plain),
    ("merchant.phone", "注册手机号", "Registered phone", Shown::Phone),
    ("merchant.address", "地址", "Address", Shown::Plain),
    ("merchant.location.lat_e6", "商户位置纬度", "Shop latitude", Shown::Degrees),
    ("merchant.location.lon_e6", "商户位置经度", "Shop longitude", Shown::Degrees),
    ("merchant.location.accuracy_m", "", "", Shown::Hidden),
    ("assignment.agent", "指派给", "Assigned to", Shown::Plain),
    ("assignment.brief.made_at", "机具档案", "Terminal brief", Shown::Instant),
    ("annotations[].shape", "照片标注", "Mark", Shown::Term(term::<MarkShape>)),
    ("annotations[].text", "标注文字", "Mark text", Shown::Plain),
    ("annotations[].photo", "标注的照片", "Photo marked", Shown::Hash),
    ("annotations[].removed", "照片标注", "Mark", Shown::Present("已擦除", "rubbed out")),
    ("annotations[].id", "", "", Shown::Hidden),
    ("annotations[].from.x", "", "", Shown::Hidden),
    ("annotations[].from.y", "", "", Shown::Hidden),
    ("annotations[].to.x", "", "", Shown::Hidden),
    ("annotations[].to.y", "", "", Shown::Hidden),
    ("terminal.serial", "终端机身号", "Terminal serial", Shown::Plain),
    (
        "terminal.method",
        "终端识别方式",
        "How the terminal was identified",
        Shown::Term(term::<IdentificationMethod>),
    ),
    ("terminal.evidence", "终端识别依据", "What the terminal was identified from", Shown::Hash),
    ("replacement.serial", "新终端机身号", "New terminal serial", Shown::Plain),
    (
        "replacement.method",
        "新终端识别方式",
        "How the new terminal was identified",
        Shown::Term(term::<IdentificationMethod>),
    ),
    ("replacement.evidence", "新终端识别依据", "What the new terminal was identified from", Shown::Hash),
    ("terminal.model", "终端型号", "Terminal model", Shown::Plain),
    ("terminal.manufacturer", "终端厂商", "Terminal manufacturer", Shown::Plain),
    ("terminal.production_date", "终端生产日期", "Terminal production date", Shown::Plain),
    ("replacement.model", "新终端型号", "New terminal model", Shown::Plain),
    ("replacement.manufacturer", "新终端厂商", "New terminal manufacturer", Shown::Plain),
    ("replacement.production_date", "新终端生产日期", "New terminal production date", Shown::Plain),
    ("parameters.terminal_number", "配置终端号", "Terminal number configured", Shown::Plain),
    ("parameters.parameters_downloaded", "参数下载", "Parameters downloaded", Shown::Plain),
    ("parameters.keys_downloaded", "密钥下载", "Keys downloaded", Shown::Plain),
    ("network_test.link", "测试网络", "Network tested", Shown::Term(term::<NetworkLink>)),
    ("network_test.passed", "网络测试结果", "Network test passed", Shown::Plain),
    ("network_test.note", "网络测试说明", "Network test note", Shown::Plain),
    ("restore.items", "恢复内容", "Restored", Shown::Terms(term::<BackupItem>)),
    ("restore.note", "恢复说明", "Restore note", Shown::Plain),
    ("backup_waiver.signer_name", "拒绝备份签字人", "Declined the backup", Shown::Plain),
    ("backup_waiver.reason", "拒绝备份原因", "Why the backup was declined", Shown::Plain),
    ("backup_waiver.signed_at", "拒绝备份签字时间", "Signed the refusal", Shown::Instant),
    ("backup_waiver.signature.sha256", "拒绝备份签字图片", "Refusal signature image", Shown::Hash),
    ("backup_waiver.strokes_sha256", "拒绝备份签字笔迹", "Refusal signature strokes", Shown::Hash),
    ("backup_waiver.signature.mime", "", "", Shown::Hidden),
    ("backup_waiver.signature.bytes", "", "", Shown::Hidden),
    ("backup_waiver.signature.width", "", "", Shown::Hidden),
    ("backup_waiver.signature.height", "", "", Shown::Hidden),
    ("deregistration.unbind_reference.value", "解绑流水号", "Unbinding reference", Shown::Plain),
    ("deregistration.settled_balance_fen.value", "结清金额（元）", "Settled balance (yuan)", Shown::Fen),
    ("follow_up.on", "回访日期", "Follow-up day", Shown::Plain),
    ("handovers[].condition", "交接外观", "Condition handed over", Shown::Plain),
    ("handovers[].seal", "封签号", "Seal or bag number", Shown::Plain),
    ("handovers[].photo", "交接照片", "Hand-over photo", Shown::Hash),
    ("follow_up.note", "回访事项", "Follow-up note", Shown::Plain),
    ("steps.*.state", "状态", "State", Shown::StepState),
    ("steps.*.reason", "原因", "Reason", Shown::Plain),
    ("steps.*.note", "备注", "Note", Shown::Plain),
    ("faults[].code", "故障", "Fault", Shown::Term(term::<FaultCode>)),
    ("faults[].symptom", "现象", "Symptom", Shown::Plain),
    ("faults[].evidence", "证据照片", "Evidence photos", Shown::Hash),
    ("faults[].removed", "撤销", "Withdrawn", Shown::Present("已撤销", "withdrawn")),
    ("faults[].resolution.fixed", "处理结果", "Outcome", Shown::Fixed),
    ("faults[].resolution.note", "结果说明", "Outcome note", Shown::Plain),
    ("faults[].attempts[].remedy", "已尝试", "Tried", Shown::Term(term::<Remedy>)),
    ("faults[].attempts[].description", "处理说明", "What was done", Shown::Plain),
    ("faults[].attempts[].fixed", "是否解决", "Fixed it", Shown::Fixed),
    ("documents[].kind", "照片类型", "Photo kind", Shown::Term(term::<DocumentKind>)),
    ("documents[].removed", "照片", "Photo", Shown::Present("已删除", "removed")),
    ("documents[].taken_at", "拍摄时间", "Taken", Shown::Instant),
    ("documents[].sha256", "文件", "File", Shown::Hash),
    ("documents[].mime", "", "", Shown::Hidden),
    ("documents[].bytes", "", "", Shown::Hidden),
    ("documents[].width", "", "", Shown::Hidden),
    ("documents[].height", "", "", Shown::Hidden),
    ("sim.iccid", "流量卡 ICCID", "SIM ICCID", Shown::Plain),
    ("sim.carrier", "运营商", "Carrier", Shown::Term(term::<SimCarrier>)),
    ("sim.expiry", "流量卡到期日", "SIM expiry", Shown::Plain),
    ("sim.action", "流量卡处理方式", "SIM action", Shown::Term(term::<SimAction>)),
    ("sim.new_iccid", "新卡 ICCID", "New card ICCID", Shown::Plain),
    ("sim.new_expiry", "续费后到期日", "Expiry after renewal", Shown::Plain),
    ("backup.items", "备份内容", "Backed up", Shown::Terms(term::<BackupItem>)),
    ("backup.note", "备份说明", "Backup note", Shown::Plain),
    ("repair.warranty.value", "保修状态", "Warranty", Shown::Term(term::<WarrantyStatus>)),
    ("repair.plan.value", "维修方案", "Repair plan", Shown::Term(term::<RepairPlan>)),
    ("repair.fee_fen.value", "费用（元）", "Fee (yuan)", Shown::Fen),
    ("reactivation.cause.value", "停用原因", "Cause of suspension", Shown::Term(term::<SuspensionCause>)),
    ("reactivation.application.state", "复机申请", "Application", Shown::Term(term::<ApplicationState>)),
    ("reactivation.application.reason", "驳回原因", "Reason for rejecting", Shown::Plain),
    ("acceptance.signer_name", "签字人", "Signer", Shown::Plain),
    ("acceptance.signed_at", "签字时间", "Signed", Shown::Instant),
    ("acceptance.signature.sha256", "签字图片", "Signature image", Shown::Hash),
    ("acceptance.strokes_sha256", "签字笔迹", "Signature strokes", Shown::Hash),
    ("acceptance.content_hash", "验收摘要", "Acceptance summary", Shown::Hash),
    ("acceptance.device_signature", "设备签名", "Device signature", Shown::Hash),
    ("acceptance.summary_json", "", "", Shown::Hidden),
    ("acceptance.signature.mime", "", "", Shown::Hidden),
    ("acceptance.signature.bytes", "", "", Shown::Hidden),
    ("acceptance.signature.width", "", "", Shown::Hidden),
    ("acceptance.signature.height", "", "", Shown::Hidden),
    ("completion", "完成", "Completion", Shown::Present("已完成", "completed")),
    ("reviews[].decision", "审核", "Review", Shown::Term(term::<ReviewDecision>)),
    ("reviews[].note", "审核意见", "Review note", Shown::Plain),
    ("notes[].text", "备注", "Note", Shown::Plain),
];

/// `value` of the field at `path` as a user in `role` may read it among a
/// visit's earlier and concurrent values: the registered phone masked by
/// [`crate::personal`], anything else as written. For the JSON API, which
/// gives values without words.
pub fn as_seen(role: UserRole, path: &str, value: Option<String>) -> Option<String> {
    match FIELDS.iter().find(|(known, ..)| *known == path) {
        Some((.., Shown::Phone)) => value.map(|phone| phone_for(role, Place::VisitChanges, &phone)),
        _ => value,
    }
}

/// A visit's history changes and concurrent edits with every value as a
/// user in `role` may read it ([`as_seen`]).
pub fn history_as_seen(
    role: UserRole,
    changes: BTreeMap<String, Vec<FieldChange>>,
    edits: Vec<ConcurrentEdit>,
) -> (BTreeMap<String, Vec<FieldChange>>, Vec<ConcurrentEdit>) {
    let changes = changes
        .into_iter()
        .map(|(entry, changes)| {
            let changes = changes
                .into_iter()
                .map(|c| FieldChange {
                    before: as_seen(role, &c.path, c.before),
                    after: as_seen(role, &c.path, c.after),
                    path: c.path,
                })
                .collect();
            (entry, changes)
        })
        .collect();
    let edits = edits
        .into_iter()
        .map(|mut edit| {
            for value in std::iter::once(&mut edit.winner).chain(&mut edit.losers) {
                value.value = as_seen(role, &edit.path, value.value.take());
            }
            edit
        })
        .collect();
    (changes, edits)
}

fn term<T: Term>(lang: Lang, code: &str) -> String {
    lang.open(&Open::<T>::from_code(code))
}

/// A path split into its pattern (items as `[]`, a step's id as `*`) and
/// the names of the items it passes through, outermost first.
fn pattern(path: &str) -> (String, Vec<String>) {
    if let Some((step, field)) = path.strip_prefix("steps.").and_then(|rest| rest.rsplit_once('.')) {
        return (format!("steps.*.{field}"), vec![step.to_owned()]);
    }
    let (mut shape, mut items) = (String::new(), Vec::new());
    let mut rest = path;
    while let Some(open) = rest.find('[') {
        let Some(close) = rest[open..].find(']').map(|c| open + c) else { break };
        shape.push_str(&rest[..open]);
        shape.push_str("[]");
        items.push(rest[open + 1..close].to_owned());
        rest = &rest[close + 1..];
    }
    shape.push_str(rest);
    (shape, items)
}

/// A field's label and its values, as one reader is shown them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldWords {
    /// What the field is, with the item it belongs to.
    pub label: String,
    /// Each value given, in words, in order.
    pub values: Vec<String>,
}

/// Names a visit's fields for one reader.
pub struct Fields<'a> {
    lang: Lang,
    role: UserRole,
    visit: &'a Visit,
}

impl<'a> Fields<'a> {
    /// Words for `visit`'s fields in `lang`, for a user in `role`.
    pub fn new(lang: Lang, role: UserRole, visit: &'a Visit) -> Self {
        Fields { lang, role, visit }
    }

    /// The field at `path` with `values` in words; `None` for a field left
    /// out of the page (technical detail shown elsewhere).
    pub fn words(&self, path: &str, values: &[Option<&str>]) -> Option<FieldWords> {
        let (shape, items) = pattern(path);
        // The brief's content is the register's, shown on the terminal's
        // pages: a change of it is named once, by when it was made.
        if shape.starts_with("assignment.brief.") && shape != "assignment.brief.made_at" {
            return None;
        }
        let Some((_, zh, en, shown)) = FIELDS.iter().find(|(known, ..)| *known == shape) else {
            let values = values.iter().map(|v| v.map_or_else(|| "—".to_owned(), str::to_owned)).collect();
            return Some(FieldWords { label: path.to_owned(), values });
        };
        if matches!(shown, Shown::Hidden) {
            return None;
        }
        let field = if self.lang == Lang::Zh { *zh } else { *en };
        let label = match self.item_words(&shape, &items) {
            Some(item) => format!("{item} · {field}"),
            None => field.to_owned(),
        };
        Some(FieldWords { label, values: values.iter().map(|v| self.value(*shown, *v)).collect() })
    }

    /// The item a path passes through, in words: the step, the fault, the photo.
    fn item_words(&self, shape: &str, items: &[String]) -> Option<String> {
        let lang = self.lang;
        let first = items.first()?;
        let short = |text: &str| text.chars().take(12).collect::<String>();
        let words = match shape.split(['.', '[']).next()? {
            "steps" => match self.visit.kind.template().step(first) {
                Some(step) => (if lang == Lang::Zh { step.zh } else { step.en }).to_owned(),
                None => first.clone(),
            },
            "faults" => {
                let fault = self.visit.faults.iter().find(|f| f.id == *first);
                let fault_words = if lang == Lang::Zh { "故障" } else { "Fault" };
                fault.map_or_else(
                    || format!("{fault_words} {first}"),
                    |f| format!("{fault_words}「{}」", lang.open(&f.code)),
                )
            }
            "annotations" => format!("{} {}", if lang == Lang::Zh { "标注" } else { "Mark" }, short(first)),
            "documents" => {
                let photo = self.visit.documents.iter().find(|d| d.sha256 == *first);
                let photo_words = if lang == Lang::Zh { "照片" } else { "Photo" };
                match photo {
                    Some(d) => format!("{photo_words}「{}」{}", lang.open(&d.kind), short(first)),
                    None => format!("{photo_words} {}", short(first)),
                }
            }
            _ => return None,
        };
        Some(words)
    }

    /// One value in words; absent is a dash, but for a step (pending).
    fn value(&self, shown: Shown, value: Option<&str>) -> String {
        let lang = self.lang;
        let Some(value) = value else {
            return match shown {
                Shown::StepState => lang.term(StepState::Pending).to_owned(),
                _ => "—".to_owned(),
            };
        };
        match shown {
            Shown::Plain | Shown::Hidden => value.to_owned(),
            Shown::Phone => phone_for(self.role, Place::VisitChanges, value),
            Shown::Term(words) => words(lang, value),
            Shown::Terms(words) => {
                let separator = if lang == Lang::Zh { "、" } else { ", " };
                value.split(", ").map(|code| words(lang, code)).collect::<Vec<_>>().join(separator)
            }
            Shown::StepState => term::<StepState>(lang, value),
            Shown::Instant => {
                value.parse().map_or_else(|_| value.to_owned(), |ms| Timestamp(ms).beijing_words())
            }
            Shown::Fen => value
                .parse::<u64>()
                .map_or_else(|_| value.to_owned(), |fen| format!("{}.{:02}", fen / 100, fen % 100)),
            Shown::Fixed => match value {
                "true" => lang.t("fixed").to_owned(),
                "false" => lang.t("not_fixed").to_owned(),
                other => other.to_owned(),
            },
            Shown::Degrees => {
                value.parse::<f64>().map_or_else(|_| value.to_owned(), |v| format!("{:.6}", v / 1e6))
            }
            Shown::Hash => value
                .split(", ")
                .map(|hash| hash.chars().take(12).collect::<String>())
                .collect::<Vec<_>>()
                .join(", "),
            Shown::Present(zh, en) => (if lang == Lang::Zh { zh } else { en }).to_owned(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use posfield_shared::visit::{Ctx, MerchantInput, VisitDoc};
    use posfield_shared::{Actor, Timestamp};
    use rstest::rstest;

    fn visit() -> Visit {
        let ctx = Ctx::new(Actor::agent("li", "phone-li"), Timestamp(1_795_000_000_000), "op-1");
        let merchant = MerchantInput { name: "老王便利店".into(), ..MerchantInput::default() };
        let doc =
            VisitDoc::create_visit(&ctx, b"phone-li", "visit-1", VisitKind::Replacement, &merchant, "li");
        doc.unwrap().visit().unwrap()
    }

    /// The label and the values, before and after, of a path as each
    /// reader sees them.
    #[rstest]
    #[case::a_phone_masked_for_a_reviewer(Lang::Zh, UserRole::Reviewer, "merchant.phone", [Some("13812341234"), Some("13956785678")], "注册手机号", ["138****1234", "139****5678"])]
    #[case::a_phone_whole_for_an_administrator(Lang::Zh, UserRole::Admin, "merchant.phone", [Some("13812341234"), None], "注册手机号", ["13812341234", "—"])]
    #[case::a_step_by_its_checklist_words(Lang::Zh, UserRole::Reviewer, "steps.backup.state", [None, Some("done")], "备份旧终端数据（日结报表、交易记录、结算单）；商户拒绝备份须签字确认 · 状态", ["未完成", "已完成"])]
    #[case::a_step_whose_id_has_dots(Lang::En, UserRole::Reviewer, "steps.new.install.note", [None, Some("壁挂")], "Install the new terminal · Note", ["—", "壁挂"])]
    #[case::a_sim_expiry(Lang::En, UserRole::Reviewer, "sim.expiry", [Some("2026-12-31"), Some("2027-06-30")], "SIM expiry", ["2026-12-31", "2027-06-30"])]
    #[case::a_repair_plan_by_its_vocabulary(Lang::Zh, UserRole::Reviewer, "repair.plan.value", [Some("sent_for_repair"), Some("fixed_on_site")], "维修方案", ["寄修", "现场修复"])]
    #[case::a_photo_removed(Lang::En, UserRole::Reviewer, "documents[0123456789abcdef].removed", [None, Some("{at: 1}")], "Photo 0123456789ab · Photo", ["—", "removed"])]
    #[case::backed_up_items(Lang::Zh, UserRole::Reviewer, "backup.items", [None, Some("daily_settlement_reports, transaction_records")], "备份内容", ["—", "日结报表、交易记录"])]
    #[case::an_unknown_path_as_it_is(Lang::Zh, UserRole::Reviewer, "terminal.colour", [None, Some("黑色")], "terminal.colour", ["—", "黑色"])]
    #[case::a_settled_balance_in_yuan(Lang::Zh, UserRole::Reviewer, "deregistration.settled_balance_fen.value", [None, Some("123456")], "结清金额（元）", ["—", "1234.56"])]
    fn each_path_reads_in_the_readers_words(
        #[case] lang: Lang,
        #[case] role: UserRole,
        #[case] path: &str,
        #[case] values: [Option<&str>; 2],
        #[case] label: &str,
        #[case] shown: [&str; 2],
    ) {
        let visit = visit();
        let words = Fields::new(lang, role, &visit).words(path, &values).expect("shown");
        assert_eq!(words, FieldWords { label: label.into(), values: shown.map(str::to_owned).to_vec() });
    }

    #[test]
    fn a_photos_file_details_are_left_to_the_photos_section() {
        let visit = visit();
        assert_eq!(
            Fields::new(Lang::Zh, UserRole::Admin, &visit).words("documents[ab].bytes", &[None]),
            None
        );
    }
}
