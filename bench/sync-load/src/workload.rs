//! The workload: agents and the visits they did offline, built once through
//! the real agent core and the domain's operations.
//!
//! Every visit is what an agent's phone would hold at the end of a day
//! without signal: created, the terminal identified, the checklist worked
//! through with notes, faults and what was tried, three document photos,
//! the merchant's signature, completed. Each action goes through
//! [`Agent`], so it is one durable save and one automerge change, exactly
//! as on a phone. The choices (kind, merchant, faults, notes, photo pixels,
//! signature strokes) come from a seeded generator, so the same seed gives
//! the same shape of work; ids and device keys are random, as on phones.

use std::path::Path;
use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use anyhow::{Context, bail};
use posfield_core::signature::{Point, Strokes};
use posfield_core::{Agent, Clock};
use posfield_shared::checklist::Condition;
use posfield_shared::visit::MerchantInput;
use posfield_shared::visit::completion;
use posfield_shared::visit::satisfy::{self, Choices, Identification, Operation};
use posfield_shared::visit::schema::StepState;
use posfield_shared::visit::{SimInput, TerminalDetails};
use posfield_shared::vocab::{
    DocumentKind, IdentificationMethod, NetworkLink, RepairPlan, SimCarrier, SuspensionCause, Term,
    WarrantyStatus,
};
use posfield_shared::{CalendarDate, FaultCode, Requirement, Timestamp, VisitId, VisitKind};

/// A small deterministic generator (splitmix64): the bench needs repeatable
/// choices, not statistical quality.
#[derive(Debug, Clone)]
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (`n` > 0).
    pub(crate) fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }

    /// A number in `low..=high`.
    pub(crate) fn between(&mut self, low: usize, high: usize) -> usize {
        low + self.below(high - low + 1)
    }

    pub(crate) fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }

    pub(crate) fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }

    /// `n` decimal digits.
    pub(crate) fn digits(&mut self, n: usize) -> String {
        (0..n).map(|_| char::from(b'0' + self.below(10) as u8)).collect()
    }
}

/// The device clock of one simulated phone: starts at a fixed instant and
/// moves on by a fixed step at every reading, so timestamps are repeatable.
struct StepClock(AtomicI64);

impl Clock for StepClock {
    fn now(&self) -> Timestamp {
        Timestamp(self.0.fetch_add(37_000, Ordering::Relaxed))
    }
}

/// One simulated agent and their phone's core, holding the day's visits.
pub(crate) struct BuiltAgent {
    /// The agent's name (also their enrolment name on the server).
    pub(crate) name: String,
    /// The phone's core.
    pub(crate) agent: Agent,
    /// The visits built on this phone.
    pub(crate) visits: Vec<VisitId>,
}

/// Figures about the built workload.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Shape {
    pub(crate) visits: usize,
    /// Agent actions after creation (each one automerge change), in total.
    pub(crate) edits: usize,
    pub(crate) photos: usize,
    pub(crate) signatures: usize,
    pub(crate) completed: usize,
    /// Saved document bytes, in total.
    pub(crate) doc_bytes: u64,
    /// Blob bytes (photos, signature images and strokes), in total.
    pub(crate) blob_bytes: u64,
    pub(crate) blobs: usize,
}

impl Shape {
    fn add(&mut self, other: &Shape) {
        self.visits += other.visits;
        self.edits += other.edits;
        self.photos += other.photos;
        self.signatures += other.signatures;
        self.completed += other.completed;
        self.doc_bytes += other.doc_bytes;
        self.blob_bytes += other.blob_bytes;
        self.blobs += other.blobs;
    }
}

/// The agent's name of agent number `index`.
pub(crate) fn agent_name(index: usize) -> String {
    format!("agent-{index:04}")
}

/// Builds `agents` phones under `root`, each with `visits` visits, on
/// `threads` threads. The result is in agent order whatever the scheduling.
pub(crate) fn build(
    root: &Path,
    agents: usize,
    visits: usize,
    seed: u64,
    threads: usize,
) -> anyhow::Result<(Vec<BuiltAgent>, Shape)> {
    let next = AtomicUsize::new(0);
    let built: Mutex<Vec<Option<(BuiltAgent, Shape)>>> = Mutex::new((0..agents).map(|_| None).collect());
    let failure: Mutex<Option<anyhow::Error>> = Mutex::new(None);
    std::thread::scope(|scope| {
        for _ in 0..threads.max(1) {
            scope.spawn(|| {
                loop {
                    let index = next.fetch_add(1, Ordering::Relaxed);
                    if index >= agents || failure.lock().is_ok_and(|f| f.is_some()) {
                        return;
                    }
                    match build_agent(root, index, visits, seed) {
                        Ok(one) => {
                            if let Ok(mut slots) = built.lock() {
                                slots[index] = Some(one);
                            }
                        }
                        Err(error) => {
                            if let Ok(mut f) = failure.lock() {
                                f.get_or_insert(error);
                            }
                            return;
                        }
                    }
                }
            });
        }
    });
    if let Some(error) = failure.into_inner().ok().flatten() {
        return Err(error);
    }
    let mut shape = Shape::default();
    let mut out = Vec::with_capacity(agents);
    for slot in built.into_inner().map_err(|_| anyhow::anyhow!("a build thread panicked"))? {
        let (agent, one) = slot.context("an agent was not built")?;
        shape.add(&one);
        out.push(agent);
    }
    Ok((out, shape))
}

fn build_agent(root: &Path, index: usize, visits: usize, seed: u64) -> anyhow::Result<(BuiltAgent, Shape)> {
    let name = agent_name(index);
    let mut rng = Rng::new(seed ^ (index as u64).wrapping_mul(0xA24B_AED4_963E_E407));
    let start = 1_795_000_000_000 + index as i64 * 1_000;
    let clock = Arc::new(StepClock(AtomicI64::new(start)));
    let mut agent = Agent::open_with_clock(
        &root.join(&name),
        std::sync::Arc::new(posfield_core::KeyFile::beside(&root.join(&name))),
        clock,
    )
    .with_context(|| format!("opening the core of {name}"))?;
    agent.sign_in(&name)?;
    let mut shape = Shape::default();
    let mut ids = Vec::with_capacity(visits);
    for _ in 0..visits {
        let mut visit = VisitBuilder::start(&mut agent, &mut rng)?;
        visit.work(&mut rng)?;
        let (id, one) = visit.finish()?;
        shape.add(&one);
        ids.push(id);
    }
    let (count, bytes) = folder_files(&agent.data_dir().join("blobs"))?;
    shape.blobs = count;
    shape.blob_bytes = bytes;
    for id in &ids {
        shape.doc_bytes += agent.visit_document(id)?.len() as u64;
    }
    Ok((BuiltAgent { name, agent, visits: ids }, shape))
}

/// Files and bytes under a folder, recursively.
fn folder_files(dir: &Path) -> anyhow::Result<(usize, u64)> {
    let mut count = 0;
    let mut bytes = 0;
    for entry in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let entry = entry?;
        let meta = entry.metadata()?;
        if meta.is_dir() {
            let (c, b) = folder_files(&entry.path())?;
            count += c;
            bytes += b;
        } else {
            count += 1;
            bytes += meta.len();
        }
    }
    Ok((count, bytes))
}

const SHOP_OWNERS: &[&str] =
    &["老王", "李记", "张姐", "陈氏", "刘家", "好邻居", "金福", "万家", "顺心", "鑫源", "阿强", "福满多"];
const SHOP_KINDS: &[&str] =
    &["便利店", "面馆", "水果店", "超市", "药房", "烟酒店", "五金店", "理发店", "早餐店", "奶茶店"];
const STREETS: &[&str] = &["人民路", "解放路", "中山路", "建设路", "和平街", "新华路", "文化路", "滨江路"];
const DISTRICTS: &[&str] = &["天河区", "越秀区", "海珠区", "白云区", "番禺区", "黄埔区"];
const SIGNERS: &[&str] = &["王老板", "李女士", "张先生", "陈店长", "刘老板娘", "赵经理"];
const NOTES: &[&str] = &[
    "商户要求下周再来",
    "店员已培训，会自行换纸",
    "商户反映下午信号差",
    "终端贴纸磨损，已补贴机身号",
    "电源插座松动，建议商户更换插排",
    "商户询问流量卡费用，已解释",
    "老板不在，店员代为确认",
    "收银台潮湿，已提醒远离水源",
    "结算卡信息与系统一致",
    "商户希望升级为扫码一体机",
    "已核对商户营业执照地址",
    "终端外壳有裂纹，暂不影响使用",
    "已演示退款操作",
    "打印小票字迹偏淡，已调浓度",
];
const STEP_NOTES: &[&str] =
    &["正常", "已完成，商户在场", "测试通过", "第二次尝试后成功", "已拍照留存", "与系统记录一致"];
const SYMPTOMS: &[&str] = &[
    "打印空白",
    "开机后黑屏",
    "刷卡无反应",
    "交易时提示网络超时",
    "按键部分失灵",
    "电池无法充满",
    "系统频繁重启",
    "扫码交易失败，提示订单异常",
];
const FAULTS: &[FaultCode] = &[
    FaultCode::PrinterFault,
    FaultCode::ScreenBroken,
    FaultCode::CardReaderFault,
    FaultCode::CannotConnect,
    FaultCode::KeypadUnresponsive,
    FaultCode::BatteryFault,
    FaultCode::SystemCrash,
    FaultCode::TransactionFailure,
];

/// How many agent actions a visit gets, creation excluded: about thirty.
const EDITS: (usize, usize) = (27, 33);

/// One visit being built on a phone, counting its edits.
struct VisitBuilder<'a> {
    agent: &'a mut Agent,
    id: VisitId,
    kind: VisitKind,
    shape: Shape,
    /// The fault recorded last, which remedies and resolutions are for.
    fault: Option<String>,
}

impl<'a> VisitBuilder<'a> {
    fn start(agent: &'a mut Agent, rng: &mut Rng) -> anyhow::Result<VisitBuilder<'a>> {
        let kind = *rng.pick(&[
            VisitKind::Repair,
            VisitKind::Repair,
            VisitKind::Repair,
            VisitKind::Inspection,
            VisitKind::Inspection,
            VisitKind::Replacement,
            VisitKind::SimRenewal,
        ]);
        let merchant = MerchantInput {
            name: format!("{}{}", rng.pick(SHOP_OWNERS), rng.pick(SHOP_KINDS)),
            merchant_number: Some(format!("898{}", rng.digits(12))),
            terminal_number: Some(format!("{}", 10_000_000 + rng.below(89_999_999))),
            phone: Some(format!("1{}{}", rng.between(3, 9), rng.digits(9))),
            address: Some(format!(
                "广州市{}{}{}号",
                rng.pick(DISTRICTS),
                rng.pick(STREETS),
                rng.between(1, 999)
            )),
            location: None,
        };
        let id = agent.create_visit(kind, &merchant)?.id;
        Ok(VisitBuilder { agent, id, kind, shape: Shape { visits: 1, ..Shape::default() }, fault: None })
    }

    fn edit(&mut self) {
        self.shape.edits += 1;
    }

    fn step(&mut self, step: &str, note: Option<&str>) -> anyhow::Result<()> {
        self.agent
            .set_step(&self.id, step, StepState::Done, None, note)
            .with_context(|| format!("{:?} step {step}", self.kind))?;
        self.edit();
        Ok(())
    }

    fn note(&mut self, rng: &mut Rng) -> anyhow::Result<()> {
        let note = *rng.pick(NOTES);
        self.agent.add_note(&self.id, note)?;
        self.edit();
        Ok(())
    }

    /// Does what `requirement` takes, by the domain's rule, with the
    /// choices drawn from `rng`.
    fn satisfy(&mut self, rng: &mut Rng, requirement: Requirement) -> anyhow::Result<()> {
        let visit = self.agent.visit(&self.id)?;
        for operation in satisfy::operations(&visit, requirement, &mut Drawn(rng)) {
            self.apply(rng, &operation)?;
        }
        Ok(())
    }

    /// One more fault than the checklist requires, recorded as the rule
    /// records every fault.
    fn fault(&mut self, rng: &mut Rng) -> anyhow::Result<()> {
        for operation in satisfy::fault(&mut Drawn(rng)) {
            self.apply(rng, &operation)?;
        }
        Ok(())
    }

    /// Carries one of the rule's operations out through the phone's core:
    /// one action, one edit. The photo and the signature are drawn here.
    fn apply(&mut self, rng: &mut Rng, operation: &Operation) -> anyhow::Result<()> {
        let id = &self.id;
        match operation {
            Operation::AttachPhoto(kind) => {
                let jpeg = document_photo(rng)?;
                self.agent.add_photo(id, &jpeg, *kind)?;
                self.shape.photos += 1;
            }
            Operation::Sign => {
                let signer = *rng.pick(SIGNERS);
                self.agent.sign(id, signer, &strokes(rng))?;
                self.shape.signatures += 1;
            }
            Operation::Identify { serial, method: IdentificationMethod::Manual, replacement, .. } => {
                self.agent.identify_typed(id, serial, *replacement)?;
            }
            Operation::SetSim(sim) => {
                self.agent.set_sim(id, sim)?;
            }
            Operation::SetSimAction { action, new_iccid, new_expiry } => {
                self.agent.set_sim_action(id, *action, new_iccid.as_deref(), *new_expiry)?;
            }
            Operation::ConfirmBackup { items, note } => {
                self.agent.confirm_backup(id, items, note.as_deref())?;
            }
            Operation::AddFault { code, symptom } => {
                self.fault = Some(self.agent.add_fault(id, *code, symptom.as_deref())?);
            }
            Operation::TryRemedy { remedy, note, fixed } => {
                let fault = self.fault.as_deref().context("a remedy before any fault")?;
                self.agent.add_attempt(id, fault, Some(*remedy), note.as_deref(), *fixed)?;
            }
            Operation::ResolveFault { fixed, note } => {
                let fault = self.fault.as_deref().context("a resolution before any fault")?;
                self.agent.resolve_fault(id, fault, *fixed, note.as_deref())?;
            }
            Operation::SetWarranty(warranty) => {
                self.agent.set_warranty(id, *warranty)?;
            }
            Operation::SetRepairPlan(plan) => {
                self.agent.set_repair_plan(id, *plan)?;
            }
            Operation::SetRepairFee(fee_fen) => {
                self.agent.set_repair_fee(id, *fee_fen)?;
            }
            Operation::SetSuspensionCause(cause) => {
                self.agent.set_suspension_cause(id, *cause)?;
            }
            Operation::SubmitApplication => {
                self.agent.submit_application(id)?;
            }
            Operation::SetDetails { details, replacement } => {
                self.agent.set_terminal_details(id, details, *replacement)?;
            }
            Operation::RecordParameters { terminal_number } => {
                self.agent.record_parameters(id, terminal_number, true, true)?;
            }
            Operation::RecordNetworkTest(link) => {
                self.agent.record_network_test(id, *link, true, None)?;
            }
            Operation::RecordRestore(items) => {
                self.agent.record_restore(id, items, None)?;
            }
            Operation::SetUnbindReference(reference) => {
                self.agent.set_unbind_reference(id, reference)?;
            }
            Operation::SetSettledBalance(fen) => {
                self.agent.set_settled_balance(id, *fen)?;
            }
            Operation::SetFollowUp { days } => {
                let visit = self.agent.visit(id)?;
                let last = visit.history.last().map_or(visit.created.at, |h| h.stamp.at);
                self.agent.set_follow_up(id, last.beijing_date().add_days(i64::from(*days)), None)?;
            }
            Operation::RecordHandover { condition, seal } => {
                let visit = self.agent.visit(id)?;
                let serial =
                    visit.terminal.clone().context("a hand-over before the terminal is identified")?.serial;
                let photo = visit
                    .current_documents()
                    .filter(|d| d.kind == DocumentKind::TerminalPhoto)
                    .last()
                    .map(|d| d.sha256.clone());
                self.agent.record_handover(id, &serial, condition, seal.as_deref(), photo.as_deref())?;
            }
            Operation::WaiveBackup { reason } => {
                let signer = *rng.pick(SIGNERS);
                self.agent.waive_backup(id, signer, reason.as_deref(), &strokes(rng))?;
                self.shape.signatures += 1;
            }
            other @ (Operation::Identify { .. } | Operation::ApproveApplication) => {
                bail!("the workload's phones cannot do {other:?}")
            }
        }
        self.edit();
        Ok(())
    }

    /// The kind's own work: identification, its checklist, its data, three
    /// photos (the checklist's, then evidence photos up to three).
    fn work(&mut self, rng: &mut Rng) -> anyhow::Result<()> {
        self.satisfy(rng, Requirement::TerminalIdentified)?;
        self.step("identify", None)?;
        let note = |rng: &mut Rng| if rng.chance(40) { Some(*rng.pick(STEP_NOTES)) } else { None };
        match self.kind {
            VisitKind::Repair => {
                let faults = rng.between(1, 2);
                self.satisfy(rng, Requirement::FaultRecorded)?;
                for _ in 1..faults {
                    self.fault(rng)?;
                }
                self.step("fault.classify", note(rng))?;
                self.step("fault.onsite", note(rng))?;
                self.satisfy(rng, Requirement::WarrantyDecision)?;
                self.step("warranty", None)?;
                self.satisfy(rng, Requirement::Photo(DocumentKind::PurchaseProof))?;
                self.apply(rng, &Operation::AttachPhoto(DocumentKind::ScreenError))?;
                self.apply(rng, &Operation::AttachPhoto(DocumentKind::TransactionRecord))?;
                self.step("docs.purchase_proof", None)?;
                self.satisfy(rng, Requirement::RepairPlan)?;
                self.step("plan", None)?;
                let visit = self.agent.visit(&self.id)?;
                if completion::applies(&visit, Condition::MerchantPays) {
                    self.satisfy(rng, Requirement::RepairFee)?;
                    self.step("fee", None)?;
                }
                self.step("test", note(rng))?;
            }
            VisitKind::Inspection => {
                for step in ["check.hardware", "check.software", "check.backup", "check.battery"] {
                    self.step(step, note(rng))?;
                }
                if rng.chance(50) {
                    self.fault(rng)?;
                }
                for kind in [
                    DocumentKind::ScreenError,
                    DocumentKind::BusinessLicence,
                    DocumentKind::TransactionRecord,
                ] {
                    self.apply(rng, &Operation::AttachPhoto(kind))?;
                }
            }
            VisitKind::Replacement => {
                self.satisfy(rng, Requirement::TerminalDetails)?;
                self.step("old.production_date", Some("生产日期 2019 年，已超期"))?;
                self.satisfy(rng, Requirement::BackupConfirmation)?;
                self.step("backup", None)?;
                self.satisfy(rng, Requirement::ReplacementSerial)?;
                self.satisfy(rng, Requirement::ReplacementDetails)?;
                self.step("new.identify", None)?;
                self.step("new.install", note(rng))?;
                // Schema 3's records: the parameters, the network test and
                // what was restored, each from the domain's rule.
                for (step, requirement) in [
                    ("params", Requirement::ParameterConfig),
                    ("network", Requirement::NetworkTest),
                    ("restore", Requirement::DataRestored),
                ] {
                    self.satisfy(rng, requirement)?;
                    self.step(step, note(rng))?;
                }
                for step in ["test.print", "test.card", "test.payment"] {
                    self.step(step, note(rng))?;
                }
                self.satisfy(rng, Requirement::HandoverRecorded)?;
                self.step("old.collect", note(rng))?;
                for kind in
                    [DocumentKind::WarrantyCard, DocumentKind::PurchaseProof, DocumentKind::ServiceAgreement]
                {
                    self.apply(rng, &Operation::AttachPhoto(kind))?;
                }
            }
            VisitKind::SimRenewal => {
                self.satisfy(rng, Requirement::SimData)?;
                self.step("sim.record", None)?;
                self.satisfy(rng, Requirement::SimAction)?;
                self.step("sim.action", None)?;
                self.step("verify.data", note(rng))?;
                for kind in
                    [DocumentKind::TransactionRecord, DocumentKind::ScreenError, DocumentKind::PurchaseProof]
                {
                    self.apply(rng, &Operation::AttachPhoto(kind))?;
                }
            }
            other => bail!("the workload has no plan for {other:?} visits"),
        }
        // Notes fill the visit up to about thirty edits; the signature and
        // completion come last, as on site.
        let target = rng.between(EDITS.0, EDITS.1).saturating_sub(3);
        while self.shape.edits < target {
            self.note(rng)?;
        }
        self.satisfy(rng, Requirement::Signature)?;
        self.step("acceptance", None)?;
        self.agent.complete(&self.id).with_context(|| format!("completing a {:?} visit", self.kind))?;
        self.shape.completed += 1;
        self.edit();
        Ok(())
    }

    fn finish(self) -> anyhow::Result<(VisitId, Shape)> {
        Ok((self.id, self.shape))
    }
}

/// The workload's answers to what a visit leaves free, drawn from the
/// seeded generator in the order the domain's rule asks for them (the
/// order the workload drew them in before the rule had one home, so a seed
/// gives the same work as it did).
struct Drawn<'r>(&'r mut Rng);

impl Choices for Drawn<'_> {
    fn terminal(&mut self) -> Identification {
        Identification {
            serial: format!("N9{}", self.0.digits(12)),
            method: IdentificationMethod::Manual,
            evidence: None,
        }
    }

    fn replacement(&mut self) -> Identification {
        self.terminal()
    }

    fn sim(&mut self) -> SimInput {
        let carrier =
            *self.0.pick(&[SimCarrier::ChinaMobile, SimCarrier::ChinaUnicom, SimCarrier::ChinaTelecom]);
        let month = self.0.between(1, 12) as u8;
        let day = self.0.between(1, 28) as u8;
        let expiry = CalendarDate::from_ymd(2026, month, day).expect("every month has a 28th");
        SimInput { iccid: iccid(self.0), carrier, expiry }
    }

    fn backup_note(&mut self) -> Option<String> {
        Some("已导出到商户手机".into())
    }

    fn fault(&mut self) -> (FaultCode, Option<String>) {
        let code = *self.0.pick(FAULTS);
        (code, Some((*self.0.pick(SYMPTOMS)).to_owned()))
    }

    fn remedies_tried(&mut self, recommended: usize) -> usize {
        self.0.between(1, recommended.clamp(1, 2))
    }

    fn attempt_note(&mut self) -> Option<String> {
        Some((*self.0.pick(STEP_NOTES)).to_owned())
    }

    fn fixed_on_site(&mut self) -> bool {
        true
    }

    fn resolution_note(&mut self) -> Option<String> {
        Some("现场已修复".into())
    }

    fn warranty(&mut self) -> WarrantyStatus {
        if self.0.chance(30) { WarrantyStatus::OutOfWarranty } else { WarrantyStatus::InWarranty }
    }

    fn repair_plan(&mut self) -> RepairPlan {
        RepairPlan::FixedOnSite
    }

    fn repair_fee(&mut self) -> u64 {
        100 * self.0.between(50, 300) as u64
    }

    fn suspension_cause(&mut self) -> SuspensionCause {
        *self.0.pick(SuspensionCause::ALL)
    }

    // The choices schema 3 added draw nothing, so a seed still gives the
    // work it gave before.

    fn details(&mut self, replacement: bool) -> TerminalDetails {
        let (model, produced) = if replacement { ("N910", (2026, 5, 20)) } else { ("ME31", (2023, 4, 1)) };
        TerminalDetails {
            model: model.into(),
            manufacturer: Some("新大陆".into()),
            production_date: CalendarDate::from_ymd(produced.0, produced.1, produced.2)
                .expect("a day that exists"),
        }
    }

    fn terminal_number(&mut self) -> String {
        "10293847".into()
    }

    fn network_link(&mut self) -> NetworkLink {
        NetworkLink::Mobile
    }

    fn backup_declined(&mut self) -> Option<Option<String>> {
        None
    }

    fn unbind_reference(&mut self) -> String {
        "JB20260101-0001".into()
    }

    fn settled_balance(&mut self) -> u64 {
        0
    }

    fn follow_up_days(&mut self) -> u16 {
        7
    }

    fn handover(&mut self) -> (String, Option<String>) {
        ("外观完好".into(), None)
    }
}

/// A 19-digit ICCID with the telecom prefix and a valid Luhn check digit.
fn iccid(rng: &mut Rng) -> String {
    let payload = format!("8986{}", rng.digits(14));
    format!("{payload}{}", posfield_shared::validate::luhn_digit(&payload))
}

/// The merchant's signature: two or three wavy strokes, each a little different.
fn strokes(rng: &mut Rng) -> Strokes {
    let count = rng.between(2, 3);
    let mut t0 = 0;
    let strokes = (0..count)
        .map(|n| {
            let y = 90.0 + n as f32 * 70.0 + rng.below(20) as f32;
            let wave = 10.0 + rng.below(20) as f32;
            let phase = rng.below(100) as f32 / 30.0;
            let points = rng.between(30, 50);
            let stroke = (0..points)
                .map(|i| Point {
                    x: 30.0 + i as f32 * (500.0 / points as f32),
                    y: y + ((i as f32 / 3.0) + phase).sin() * wave,
                    t: t0 + i as u32 * 15,
                    p: Some(0.4 + rng.below(40) as f32 / 100.0),
                })
                .collect::<Vec<_>>();
            t0 += points as u32 * 15 + 300;
            stroke
        })
        .collect();
    Strokes { width: 600.0, height: 300.0, strokes }
}

/// A small photo of a document: light paper, dark lines of "text", a stamp
/// and sensor noise, as a JPEG. Small on purpose: the reference has no blob
/// channel, so blob bytes are reported apart and only need to be real.
fn document_photo(rng: &mut Rng) -> anyhow::Result<Vec<u8>> {
    let (width, height) = (320u32, 240u32);
    let paper = [225 + rng.below(20) as u8, 222 + rng.below(20) as u8, 210 + rng.below(25) as u8];
    let lines: Vec<(u32, u32, u32)> = (0..rng.between(6, 12))
        .map(|n| (24 + n as u32 * 17, 20 + rng.below(30) as u32, 160 + rng.below(120) as u32))
        .collect();
    let stamp = (rng.between(180, 280) as i64, rng.between(120, 200) as i64, rng.between(18, 30) as i64);
    let noise_seed = rng.next_u64();
    let image = image::RgbImage::from_fn(width, height, |x, y| {
        let mut hash = Rng::new(noise_seed ^ (u64::from(y) << 32 | u64::from(x)));
        let noise = (hash.below(17) as i16) - 8;
        let shade = (x + y) as i16 / 40;
        let mut pixel = paper.map(|c| (i16::from(c) - shade + noise).clamp(0, 255) as u8);
        if lines.iter().any(|&(ly, lx, lw)| y >= ly && y < ly + 6 && x >= lx && x < lx + lw) {
            pixel = [40, 40, 48].map(|c: i16| (c + noise).clamp(0, 255) as u8);
        }
        let (dx, dy) = (i64::from(x) - stamp.0, i64::from(y) - stamp.1);
        let ring = (dx * dx + dy * dy) as f64;
        if (ring.sqrt() - stamp.2 as f64).abs() < 2.5 {
            pixel = [200, 30, 40];
        }
        image::Rgb(pixel)
    });
    let mut jpeg = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut jpeg, 85)
        .encode_image(&image)
        .context("encoding a document photo")?;
    Ok(jpeg)
}
