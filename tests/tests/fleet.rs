//! The fleet follows the visits: a real agent core works through each kind
//! of visit by the checklist's own rule, syncs with a real server, the desk
//! approves, and the register, each terminal's lifecycle and the alerts are
//! what the business expects; approving or syncing again changes nothing
//! twice, and what the lifecycle refuses stops the approval with its reason.

use std::collections::BTreeMap;

use posfield_core::Agent;
use posfield_e2e::ServerProcess;
use posfield_e2e::hostile::Desk;
use posfield_e2e::story::{open_at, strokes, testdata};
use posfield_shared::checklist::Requirement;
use posfield_shared::fault::FaultCode;
use posfield_shared::visit::MerchantInput;
use posfield_shared::visit::completion::applies;
use posfield_shared::visit::satisfy::{Choices, Identification, Operation, operations};
use posfield_shared::visit::{SimInput, StepState, TerminalDetails};
use posfield_shared::vocab::Term;
use posfield_shared::vocab::{
    DocumentKind, IdentificationMethod, NetworkLink, RepairPlan, SimAction, SimCarrier, SuspensionCause,
    WarrantyStatus,
};
use posfield_shared::{CalendarDate, VisitId, VisitKind};

/// The merchant of every visit.
fn shop() -> MerchantInput {
    MerchantInput {
        name: "老王便利店".into(),
        merchant_number: Some("898310048161234".into()),
        phone: Some("13812345678".into()),
        ..Default::default()
    }
}

/// An ICCID with its check digit.
fn iccid(body: &str) -> String {
    format!("{body}{}", posfield_shared::validate::luhn_digit(body))
}

/// What one row's visit finds and decides on site.
#[derive(Debug, Clone)]
struct Site {
    serial: String,
    replacement: Option<String>,
    warranty: WarrantyStatus,
    plan: RepairPlan,
    sim: SimInput,
    /// The merchant declines the backup and signs that they did.
    declined_backup: bool,
}

impl Choices for Site {
    fn terminal(&mut self) -> Identification {
        Identification { serial: self.serial.clone(), method: IdentificationMethod::Manual, evidence: None }
    }
    fn replacement(&mut self) -> Identification {
        let serial = self.replacement.clone().expect("the row names a new terminal");
        Identification { serial, method: IdentificationMethod::Manual, evidence: None }
    }
    fn sim(&mut self) -> SimInput {
        self.sim.clone()
    }
    fn backup_note(&mut self) -> Option<String> {
        Some("已导出到U盘".into())
    }
    fn fault(&mut self) -> (FaultCode, Option<String>) {
        (FaultCode::PrinterFault, Some("打印空白".into()))
    }
    fn remedies_tried(&mut self, recommended: usize) -> usize {
        recommended.min(1)
    }
    fn attempt_note(&mut self) -> Option<String> {
        None
    }
    fn fixed_on_site(&mut self) -> bool {
        self.plan == RepairPlan::FixedOnSite
    }
    fn resolution_note(&mut self) -> Option<String> {
        None
    }
    fn warranty(&mut self) -> WarrantyStatus {
        self.warranty
    }
    fn repair_plan(&mut self) -> RepairPlan {
        self.plan
    }
    fn repair_fee(&mut self) -> u64 {
        15_000
    }
    fn suspension_cause(&mut self) -> SuspensionCause {
        SuspensionCause::NetworkProblem
    }
    fn details(&mut self, replacement: bool) -> TerminalDetails {
        let (model, produced) = if replacement { ("N910", "2026-05-20") } else { ("ME31", "2022-04-01") };
        TerminalDetails {
            model: model.into(),
            manufacturer: Some("新大陆".into()),
            production_date: CalendarDate::parse(produced).unwrap(),
        }
    }
    fn terminal_number(&mut self) -> String {
        "10293847".into()
    }
    fn network_link(&mut self) -> NetworkLink {
        NetworkLink::Mobile
    }
    fn backup_declined(&mut self) -> Option<Option<String>> {
        self.declined_backup.then(|| Some("纸质结算单商户已自行留存".into()))
    }
    fn unbind_reference(&mut self) -> String {
        "JB20261206-0007".into()
    }
    fn settled_balance(&mut self) -> u64 {
        86_420
    }
    fn follow_up_days(&mut self) -> u16 {
        5
    }
    fn handover(&mut self) -> (String, Option<String>) {
        ("屏幕有划痕，配件齐全".into(), Some("FD-20261206".into()))
    }
}

/// The application's decision a reactivation row takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Application {
    Approve,
    Reject,
}

/// The test's world: a server, its desk (an administrator's session) and
/// the agent's phone.
struct World {
    server: ServerProcess,
    desk: Desk,
    /// A reviewer's session.
    reviewer: Desk,
    csrf: String,
    agent: Agent,
    dir: tempfile::TempDir,
}

impl World {
    fn new() -> World {
        let dir = tempfile::tempdir().unwrap();
        let server = ServerProcess::start(&dir.path().join("server"));
        server.add_user("zhou", "admin");
        server.add_user("chen", "reviewer");
        // The phone's clock is the real one: hand-overs are dated by it, and
        // the custody alerts count days from them.
        let now =
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64;
        let mut agent = open_at(&dir.path().join("wang"), now);
        agent.enroll(&server.base, &server.enrolment_code("wang"), "华为 Mate 60").unwrap();
        let desk = Desk::sign_in(&server, "zhou");
        let reviewer = Desk::sign_in(&server, "chen");
        let csrf = desk.csrf();
        World { server, desk, reviewer, csrf, agent, dir }
    }

    /// The server started again on the same data with its clock `days` ahead,
    /// and the desk signed in again.
    fn days_later(&mut self, days: i64) {
        let data = self.dir.path().join("server");
        let config = format!("clock_offset_secs = {}\n", days * 86_400);
        let old = std::mem::replace(
            &mut self.server,
            ServerProcess::start_configured(&data, "127.0.0.1:0", &config),
        );
        old.kill();
        self.desk = Desk::sign_in(&self.server, "zhou");
        self.reviewer = Desk::sign_in(&self.server, "chen");
        self.csrf = self.desk.csrf();
    }

    /// Checks a terminal in at `place`; the refusal's page when refused.
    fn check_in(&self, serial: &str, place: &str, promised_back: &str) -> Result<(), String> {
        let form = [
            ("csrf", self.csrf.as_str()),
            ("serial", serial),
            ("place", place),
            ("condition", "外观完好"),
            ("seal", "BAG-0042"),
            ("promised_back", promised_back),
        ];
        let (status, page) = self.desk.post("office/check-in", &form);
        if status == 303 { Ok(()) } else { Err(page) }
    }

    /// A terminal's page.
    fn terminal_page(&self, serial: &str) -> String {
        let (status, page) = self.desk.get(&format!("office/terminals/{serial}"));
        assert_eq!(status, 200, "terminal {serial}");
        page
    }

    fn sync(&mut self) {
        self.agent.sync(&mut |_| {}).unwrap();
    }

    /// Imports register rows (`serial,state,merchant,merchant_number,sim_iccid,sim_carrier,sim_expiry`).
    fn import(&self, rows: &[String]) {
        let mut csv =
            String::from("serial,state,merchant,merchant_number,sim_iccid,sim_carrier,sim_expiry\n");
        for row in rows {
            csv.push_str(row);
            csv.push('\n');
        }
        let (status, page) =
            self.desk.post("office/terminals/import", &[("csrf", &self.csrf), ("csv", &csv)]);
        assert_eq!(status, 200, "{page}");
        assert!(!page.contains("id=\"bad-rows\""), "rows refused: {page}");
    }

    /// The desk decides a reactivation application.
    fn decide_application(&self, id: &VisitId, decision: Application) {
        let form = match decision {
            Application::Approve => vec![("csrf", self.csrf.as_str()), ("decision", "approve")],
            Application::Reject => {
                vec![("csrf", self.csrf.as_str()), ("decision", "reject"), ("reason", "账户仍冻结")]
            }
        };
        let (status, page) = self.desk.post(&format!("office/applications/{id}"), &form);
        assert_eq!(status, 303, "{page}");
    }

    /// Approves at the desk; the refusal's page when refused.
    fn approve(&self, id: &VisitId, correct_register: bool) -> Result<(), String> {
        let mut form = vec![("csrf", self.csrf.as_str()), ("decision", "approve")];
        if correct_register {
            form.push(("correct_register", "1"));
        }
        let (status, page) = self.desk.post(&format!("office/visits/{id}/review"), &form);
        if status == 303 { Ok(()) } else { Err(page) }
    }

    /// The register, by serial: (state, merchant, ICCID).
    fn register(&self) -> BTreeMap<String, (String, String, String)> {
        let (status, bytes) = self.desk.get_bytes("office/terminals/export.csv");
        assert_eq!(status, 200);
        let text = String::from_utf8(bytes).unwrap();
        let text = text.trim_start_matches('\u{feff}');
        let mut lines = text.lines();
        let header: Vec<&str> = lines.next().unwrap().split(',').collect();
        let at = |name: &str| header.iter().position(|h| *h == name).unwrap();
        let (serial, state, merchant, sim) = (at("serial"), at("state"), at("merchant"), at("sim_iccid"));
        lines
            .map(|line| {
                let cells: Vec<&str> = line.split(',').collect();
                let cell = |i: usize| cells.get(i).unwrap_or(&"").trim_matches('"').to_owned();
                (cell(serial), (cell(state), cell(merchant), cell(sim)))
            })
            .collect()
    }

    /// How many lifecycle rows a terminal's page shows.
    fn lifecycle_rows(&self, serial: &str) -> usize {
        let (status, page) = self.desk.get(&format!("office/terminals/{serial}"));
        assert_eq!(status, 200, "terminal {serial}");
        match page.split_once("id=\"lifecycle\"") {
            Some((_, table)) => table.split("</table>").next().unwrap_or_default().matches("<tr><td").count(),
            None => 0,
        }
    }

    /// An alert's total on the alerts page.
    fn alert_total(&self, id: &str) -> i64 {
        let (status, page) = self.desk.get("office/alerts");
        assert_eq!(status, 200);
        let marker = format!("id=\"{id}\">");
        let start = page.find(&marker).unwrap_or_else(|| panic!("no {id}")) + marker.len();
        page[start..].split('<').next().unwrap().trim().parse().unwrap()
    }

    /// Works a visit of `kind` through its checklist by the domain's rule,
    /// the desk deciding the application where there is one, and completes
    /// it (unless the application was rejected: then nothing after it can
    /// be done). Returns the visit and whether it was completed.
    fn visit(
        &mut self,
        kind: VisitKind,
        site: &mut Site,
        application: Application,
        sim_action: Option<(SimAction, Option<String>)>,
    ) -> (VisitId, bool) {
        let id = self.agent.create_visit(kind, &shop()).unwrap().id;
        // A different photo for each kind: the same picture twice is one photo.
        let photo = |kind: DocumentKind| {
            let n = DocumentKind::ALL.iter().position(|k| *k == kind).unwrap();
            let (set, n) = if n < 7 { ("code128-1", n + 1) } else { ("qrcode-1", n - 6) };
            std::fs::read(testdata(&format!("{set}/{n}.png"))).unwrap()
        };
        if let Some((action, new_iccid)) = &sim_action {
            self.agent.set_sim(&id, &site.sim).unwrap();
            self.agent.set_sim_action(&id, *action, new_iccid.as_deref(), None).unwrap();
        }
        let mut signature_steps = Vec::new();
        let mut fault = String::new();
        let edition = self.agent.visit(&id).unwrap().checklist_edition();
        for step in kind.template().steps_in(edition) {
            if !applies(&self.agent.visit(&id).unwrap(), step.when) {
                continue;
            }
            if step.requires.contains(&Requirement::Signature) {
                signature_steps.push(step.id.as_str());
                continue;
            }
            for requirement in step.requires_in(edition) {
                let visit = self.agent.visit(&id).unwrap();
                for operation in operations(&visit, requirement, site) {
                    match operation {
                        Operation::AttachPhoto(kind) => {
                            self.agent.add_photo(&id, &photo(kind), kind).unwrap();
                        }
                        Operation::Identify { serial, replacement, .. } => {
                            self.agent.identify_typed(&id, &serial, replacement).unwrap();
                        }
                        Operation::SetSim(sim) => {
                            self.agent.set_sim(&id, &sim).unwrap();
                        }
                        Operation::SetSimAction { action, new_iccid, new_expiry } => {
                            self.agent.set_sim_action(&id, action, new_iccid.as_deref(), new_expiry).unwrap();
                        }
                        Operation::ConfirmBackup { items, note } => {
                            self.agent.confirm_backup(&id, &items, note.as_deref()).unwrap();
                        }
                        Operation::AddFault { code, symptom } => {
                            fault = self.agent.add_fault(&id, code, symptom.as_deref()).unwrap();
                        }
                        Operation::TryRemedy { remedy, note, fixed } => {
                            self.agent
                                .add_attempt(&id, &fault, Some(remedy), note.as_deref(), fixed)
                                .unwrap();
                        }
                        Operation::ResolveFault { fixed, note } => {
                            self.agent.resolve_fault(&id, &fault, fixed, note.as_deref()).unwrap();
                        }
                        Operation::SetWarranty(warranty) => {
                            self.agent.set_warranty(&id, warranty).unwrap();
                        }
                        Operation::SetRepairPlan(plan) => {
                            self.agent.set_repair_plan(&id, plan).unwrap();
                        }
                        Operation::SetRepairFee(fee) => {
                            self.agent.set_repair_fee(&id, fee).unwrap();
                        }
                        Operation::SetSuspensionCause(cause) => {
                            self.agent.set_suspension_cause(&id, cause).unwrap();
                        }
                        Operation::SubmitApplication => {
                            self.agent.submit_application(&id).unwrap();
                        }
                        Operation::ApproveApplication => {
                            self.sync();
                            self.decide_application(&id, application);
                            self.sync();
                            if application == Application::Reject {
                                return (id, false);
                            }
                        }
                        Operation::SetDetails { details, replacement } => {
                            self.agent.set_terminal_details(&id, &details, replacement).unwrap();
                        }
                        Operation::RecordParameters { terminal_number } => {
                            self.agent.record_parameters(&id, &terminal_number, true, true).unwrap();
                        }
                        Operation::RecordNetworkTest(link) => {
                            self.agent.record_network_test(&id, link, true, Some("签到成功")).unwrap();
                        }
                        Operation::RecordRestore(items) => {
                            self.agent.record_restore(&id, &items, None).unwrap();
                        }
                        Operation::SetUnbindReference(reference) => {
                            self.agent.set_unbind_reference(&id, &reference).unwrap();
                        }
                        Operation::SetSettledBalance(fen) => {
                            self.agent.set_settled_balance(&id, fen).unwrap();
                        }
                        Operation::SetFollowUp { days } => {
                            let day = self.agent.visit(&id).unwrap().created.at.beijing_date();
                            self.agent.set_follow_up(&id, day.add_days(i64::from(days)), None).unwrap();
                        }
                        Operation::RecordHandover { condition, seal } => {
                            let visit = self.agent.visit(&id).unwrap();
                            let serial = visit.terminal.unwrap().serial;
                            let photo = visit
                                .documents
                                .iter()
                                .rfind(|d| d.removed.is_none() && d.kind == DocumentKind::TerminalPhoto)
                                .map(|d| d.sha256.clone());
                            self.agent
                                .record_handover(&id, &serial, &condition, seal.as_deref(), photo.as_deref())
                                .unwrap();
                        }
                        Operation::WaiveBackup { reason } => {
                            self.agent.waive_backup(&id, "王老板", reason.as_deref(), &strokes()).unwrap();
                        }
                        Operation::Sign => unreachable!("the signature is the last step"),
                    }
                }
            }
            self.agent.set_step(&id, step.id.as_str(), StepState::Done, None, None).unwrap();
        }
        // The new terminal of a repair that replaced it: recorded in the
        // app, as the replacement's serial.
        if kind == VisitKind::Repair
            && site.plan == RepairPlan::Replaced
            && let Some(new) = &site.replacement
        {
            self.agent.identify_typed(&id, new, true).unwrap();
        }
        self.agent.sign(&id, "王老板", &strokes()).unwrap();
        for step in signature_steps {
            self.agent.set_step(&id, step, StepState::Done, None, None).unwrap();
        }
        self.agent.complete(&id).unwrap();
        self.sync();
        (id, true)
    }
}

/// One row: a visit, the register before it, and the register after its approval.
struct Row {
    name: &'static str,
    kind: VisitKind,
    /// Register rows imported first, `{s}`/`{n}` standing for the row's serials.
    before: &'static [&'static str],
    warranty: WarrantyStatus,
    plan: RepairPlan,
    application: Application,
    sim_action: Option<SimAction>,
    /// Whether the reviewer confirms correcting a register that contradicts the visit.
    correct_register: bool,
    /// What the approval answers: `Ok`, or a part of the refusal's words.
    refused: Option<&'static str>,
    /// (serial `{s}`/`{n}`, state, merchant, ICCID `{sim}`/`{new_sim}`/empty) after it.
    after: &'static [(&'static str, &'static str, &'static str, &'static str)],
    /// Lifecycle rows each terminal's page shows after it.
    lifecycle: &'static [(&'static str, usize)],
    /// Who holds each terminal after it, as its page says (the chain's last hand-over).
    holders: &'static [(&'static str, &'static str)],
    /// The merchant declines the backup and signs a waiver instead.
    declined_backup: bool,
}

const SHOP: &str = "老王便利店";
const SHOP_ROW: &str = "老王便利店,898310048161234";

fn row(name: &'static str, kind: VisitKind) -> Row {
    Row {
        name,
        kind,
        before: &[],
        warranty: WarrantyStatus::InWarranty,
        plan: RepairPlan::FixedOnSite,
        application: Application::Approve,
        sim_action: None,
        correct_register: false,
        refused: None,
        after: &[],
        lifecycle: &[],
        holders: &[],
        declined_backup: false,
    }
}

fn rows() -> Vec<Row> {
    use VisitKind as K;
    vec![
        Row {
            before: &["{s},in_stock,,,,,"],
            after: &[("{s}", "installed", SHOP, "")],
            lifecycle: &[("{s}", 1)],
            holders: &[("{s}", "商户 老王便利店")],
            ..row("installation puts a stock terminal in service at the merchant", K::Installation)
        },
        Row {
            before: &["{s},installed,SHOP,{sim},china_mobile,2026-12-01", "{n},in_stock,,,,,"],
            after: &[("{s}", "recycled", "", ""), ("{n}", "installed", SHOP, "{sim}")],
            lifecycle: &[("{s}", 1), ("{n}", 1)],
            holders: &[("{s}", "外勤人员 wang"), ("{n}", "商户 老王便利店")],
            ..row("replacement takes the old terminal back and moves the card to the new one", K::Replacement)
        },
        Row {
            before: &["{s},installed,SHOP,{sim},china_mobile,2026-12-01", "{n},in_stock,,,,,"],
            after: &[("{s}", "recycled", "", ""), ("{n}", "installed", SHOP, "{sim}")],
            lifecycle: &[("{s}", 1), ("{n}", 1)],
            declined_backup: true,
            ..row("replacement whose merchant declined the backup, signing the waiver", K::Replacement)
        },
        Row {
            before: &["{s},installed,SHOP,{sim},china_mobile,2026-12-01"],
            after: &[("{s}", "installed", SHOP, "{sim}")],
            lifecycle: &[("{s}", 2)],
            ..row("repair fixed on site leaves the terminal in service", K::Repair)
        },
        Row {
            before: &["{s},installed,SHOP,{sim},china_mobile,2026-12-01"],
            plan: RepairPlan::SentForRepair,
            after: &[("{s}", "in_repair", SHOP, "{sim}")],
            lifecycle: &[("{s}", 2)],
            holders: &[("{s}", "外勤人员 wang")],
            ..row("repair sent away puts the terminal in repair", K::Repair)
        },
        Row {
            before: &["{s},installed,SHOP,{sim},china_mobile,2026-12-01", "{n},in_stock,,,,,"],
            plan: RepairPlan::Replaced,
            after: &[("{s}", "recycled", "", ""), ("{n}", "installed", SHOP, "{sim}")],
            lifecycle: &[("{s}", 2), ("{n}", 1)],
            holders: &[("{s}", "外勤人员 wang"), ("{n}", "商户 老王便利店")],
            ..row("repair replaced with a new serial puts the new terminal in service", K::Repair)
        },
        Row {
            before: &["{s},installed,SHOP,{sim},china_mobile,2026-12-01"],
            warranty: WarrantyStatus::Lost,
            after: &[("{s}", "lost", SHOP, "{sim}")],
            lifecycle: &[("{s}", 1)],
            ..row("a terminal reported lost is lost", K::Repair)
        },
        Row {
            before: &["{s},installed,SHOP,{sim},china_mobile,2026-12-01", "{n},in_stock,,,,,"],
            warranty: WarrantyStatus::Lost,
            plan: RepairPlan::Replaced,
            after: &[("{s}", "lost", SHOP, ""), ("{n}", "installed", SHOP, "{sim}")],
            lifecycle: &[("{s}", 1), ("{n}", 1)],
            holders: &[("{n}", "商户 老王便利店")],
            ..row("a lost terminal replaced puts the new one in service with the card", K::Repair)
        },
        Row {
            before: &["{s},suspended,SHOP,{sim},china_mobile,2026-12-01"],
            after: &[("{s}", "installed", SHOP, "{sim}")],
            lifecycle: &[("{s}", 2)],
            ..row(
                "reactivation approved: issued with the application, in service with the visit",
                K::Reactivation,
            )
        },
        Row {
            before: &["{s},suspended,SHOP,{sim},china_mobile,2026-12-01"],
            application: Application::Reject,
            after: &[("{s}", "suspended", SHOP, "{sim}")],
            lifecycle: &[("{s}", 0)],
            ..row("reactivation rejected: the terminal stays suspended", K::Reactivation)
        },
        Row {
            before: &["{s},installed,SHOP,{sim},china_mobile,2026-12-01"],
            after: &[("{s}", "recycled", "", "")],
            lifecycle: &[("{s}", 2)],
            holders: &[("{s}", "外勤人员 wang")],
            ..row("deregistration unbinds the terminal and takes it back", K::Deregistration)
        },
        Row {
            before: &["{s},installed,SHOP,{sim},china_mobile,2026-12-01"],
            after: &[("{s}", "installed", SHOP, "{sim}")],
            lifecycle: &[("{s}", 1)],
            ..row("SIM renewed keeps the card with a new expiry", K::SimRenewal)
        },
        Row {
            before: &["{s},installed,SHOP,{sim},china_mobile,2026-12-01"],
            sim_action: Some(SimAction::Replaced),
            after: &[("{s}", "installed", SHOP, "{new_sim}")],
            lifecycle: &[("{s}", 1)],
            ..row("SIM replaced puts the new card in the register", K::SimRenewal)
        },
        Row {
            before: &["{s},installed,SHOP,{sim},china_mobile,2026-12-01"],
            sim_action: Some(SimAction::SharedPlan),
            after: &[("{s}", "installed", SHOP, "{sim}")],
            lifecycle: &[("{s}", 1)],
            ..row("SIM moved to a shared plan", K::SimRenewal)
        },
        Row {
            before: &["{s},installed,SHOP,{sim},china_mobile,2026-12-01"],
            after: &[("{s}", "installed", SHOP, "{sim}")],
            lifecycle: &[("{s}", 1)],
            ..row("inspection records the day", K::Inspection)
        },
        Row {
            after: &[("{s}", "installed", SHOP, "")],
            lifecycle: &[("{s}", 2)],
            ..row("a terminal the register did not know is created from the visit", K::Repair)
        },
        Row {
            before: &["{s},installed,张记面馆,898310048169999,{sim},china_mobile,2026-12-01"],
            refused: Some("与终端登记表不符"),
            after: &[("{s}", "installed", "张记面馆", "{sim}")],
            lifecycle: &[("{s}", 0)],
            ..row("a merchant the register contradicts is shown, not overwritten", K::Inspection)
        },
        Row {
            before: &["{s},installed,张记面馆,898310048169999,{sim},china_mobile,2026-12-01"],
            correct_register: true,
            after: &[("{s}", "installed", SHOP, "{sim}")],
            lifecycle: &[("{s}", 1)],
            ..row("an administrator who confirms corrects the register", K::Inspection)
        },
        Row {
            before: &["{s},lost,SHOP,{sim},china_mobile,2026-12-01"],
            refused: Some("不能执行"),
            after: &[("{s}", "lost", SHOP, "{sim}")],
            lifecycle: &[("{s}", 0)],
            ..row("deregistering a lost terminal is refused", K::Deregistration)
        },
        Row {
            before: &["{s},installed,张记面馆,898310048169999,,,"],
            refused: Some("不能执行"),
            after: &[("{s}", "installed", "张记面馆", "")],
            lifecycle: &[("{s}", 0)],
            ..row("installing a terminal installed elsewhere is refused", K::Installation)
        },
    ]
}

#[test]
fn each_visit_moves_the_register_once_and_what_the_lifecycle_refuses_stops_the_approval() {
    let mut world = World::new();
    let mut approved = Vec::new();
    for (i, row) in rows().into_iter().enumerate() {
        let serial = format!("N910{:010}", 1000 + i * 2);
        let new = format!("N910{:010}", 1001 + i * 2);
        let sim = iccid(&format!("898600{:012}", 100 + i));
        let new_sim = iccid(&format!("898601{:012}", 100 + i));
        let fill = |text: &str| {
            text.replace("{s}", &serial)
                .replace("{n}", &new)
                .replace("{new_sim}", &new_sim)
                .replace("{sim}", &sim)
                .replace("SHOP", SHOP_ROW)
        };
        let before: Vec<String> = row.before.iter().map(|r| fill(r)).collect();
        if !before.is_empty() {
            world.import(&before);
        }
        let mut site = Site {
            serial: serial.clone(),
            replacement: Some(new.clone()),
            warranty: row.warranty,
            plan: row.plan,
            sim: SimInput {
                iccid: sim.clone(),
                carrier: SimCarrier::ChinaMobile,
                expiry: CalendarDate::parse("2026-12-01").unwrap(),
            },
            declined_backup: row.declined_backup,
        };
        let sim_action = row.sim_action.map(|a| (a, (a == SimAction::Replaced).then(|| new_sim.clone())));
        let (id, completed) = world.visit(row.kind, &mut site, row.application, sim_action);
        if completed && row.correct_register {
            // Correcting the register is an administrator's: a reviewer's confirmation is refused.
            let csrf = world.reviewer.csrf();
            let form = [("csrf", csrf.as_str()), ("decision", "approve"), ("correct_register", "1")];
            let (status, page) = world.reviewer.post(&format!("office/visits/{id}/review"), &form);
            assert_eq!(status, 403, "{}: a reviewer corrected the register: {page}", row.name);
        }
        if completed {
            match (world.approve(&id, row.correct_register), row.refused) {
                (Ok(()), None) => approved.push(id.clone()),
                (Err(page), Some(words)) => {
                    assert!(page.contains(words), "{}: the refusal does not say {words:?}: {page}", row.name);
                    let (_, visit) = world.desk.get(&format!("office/visits/{id}"));
                    assert!(
                        visit.contains("id=\"register-"),
                        "{}: the visit page does not show it",
                        row.name
                    );
                }
                (got, want) => panic!("{}: approval {got:?}, expected refusal {want:?}", row.name),
            }
        }
        let register = world.register();
        for (serial_of, state, merchant, sim_of) in row.after {
            let serial = fill(serial_of);
            let got =
                register.get(&serial).unwrap_or_else(|| panic!("{}: {serial} not in the register", row.name));
            let want = (state.to_string(), merchant.to_string(), fill(sim_of));
            assert_eq!(got, &want, "{}: {serial}", row.name);
        }
        for (serial_of, count) in row.lifecycle {
            let serial = fill(serial_of);
            assert_eq!(world.lifecycle_rows(&serial), *count, "{}: lifecycle of {serial}", row.name);
        }
        for (serial_of, holder) in row.holders {
            let page = world.terminal_page(&fill(serial_of));
            let shown = format!("id=\"holder-now\">{holder}");
            assert!(page.contains(&shown), "{}: {serial_of} is not held by {holder}", row.name);
        }
        if completed {
            // What the steps recorded is on the visit's page: the label's
            // details, and the merchant's signed refusal with its image.
            let (_, visit) = world.desk.get(&format!("office/visits/{id}"));
            let asks_label = matches!(row.kind, VisitKind::Installation | VisitKind::Replacement);
            assert_eq!(visit.contains("ME31"), asks_label, "{}: the label's model", row.name);
            assert!(visit.contains("检查清单版本"), "{}: the checklist edition is not shown", row.name);
            let waiver = visit.contains("商户拒绝备份（已签字）");
            assert_eq!(waiver, row.declined_backup, "{}: the backup waiver", row.name);
        }
        // A terminal taken back is handed over with the condition and seal
        // the agent recorded: its custody chain says so.
        let taken_back = matches!(row.kind, VisitKind::Replacement | VisitKind::Deregistration);
        if taken_back && row.refused.is_none() && completed {
            let page = world.terminal_page(&serial);
            assert!(
                page.contains("屏幕有划痕，配件齐全") && page.contains("FD-20261206"),
                "{}: the hand-over's condition and seal are not in the chain",
                row.name
            );
        }
        // A terminal the register knew without a model takes it off the label.
        if row.kind == VisitKind::Installation && row.refused.is_none() && completed {
            let page = world.terminal_page(&serial);
            assert!(page.contains("ME31"), "{}: the register took no model from the label", row.name);
        }
    }

    // Approving again (refused: the visit is approved) and the phone
    // syncing every visit again: nothing applies twice.
    let register = world.register();
    let lifecycles: Vec<usize> = register.keys().map(|s| world.lifecycle_rows(s)).collect();
    for id in &approved {
        assert!(world.approve(id, false).is_err(), "an approved visit is approved again");
    }
    world.sync();
    world.sync();
    assert_eq!(world.register(), register, "the register changed on approving again");
    let again: Vec<usize> = register.keys().map(|s| world.lifecycle_rows(s)).collect();
    assert_eq!(again, lifecycles, "a lifecycle row was written twice");

    // A terminal that left the fleet raises no alert; one in service and
    // never inspected for a year would (the inspection rows were inspected today).
    assert_eq!(world.alert_total("total-inspection"), 0);
}

#[test]
fn an_alert_leaves_with_the_terminal() {
    let mut world = World::new();
    let serial = "N9100000077001";
    let sim = iccid("898600000000000077");
    world.import(&[format!("{serial},installed,{SHOP_ROW},{sim},china_mobile,2020-01-01")]);
    let sims = world.alert_total("total-sim");
    assert!(sims >= 1, "the expired card is an alert");
    let mut site = Site {
        serial: serial.into(),
        replacement: None,
        warranty: WarrantyStatus::InWarranty,
        plan: RepairPlan::FixedOnSite,
        sim: SimInput {
            iccid: sim,
            carrier: SimCarrier::ChinaMobile,
            expiry: CalendarDate::parse("2020-01-01").unwrap(),
        },
        declined_backup: false,
    };
    let (id, _) = world.visit(VisitKind::Deregistration, &mut site, Application::Approve, None);
    world.approve(&id, false).unwrap();
    assert_eq!(
        world.alert_total("total-sim"),
        sims - 1,
        "a deregistered terminal still raises its SIM alert"
    );

    // A terminal in service never inspected since its production years ago
    // is due; its inspection, approved, takes it off the list.
    let inspected = "N9100000077002";
    let csv = format!(
        "serial,state,merchant,merchant_number,production_date\n{inspected},installed,{SHOP_ROW},2021-03-01\n"
    );
    let (status, page) = world.desk.post("office/terminals/import", &[("csrf", &world.csrf), ("csv", &csv)]);
    assert_eq!(status, 200, "{page}");
    let due = world.alert_total("total-inspection");
    assert!(due >= 1, "a terminal never inspected is not due");
    site.serial = inspected.into();
    let (id, _) = world.visit(VisitKind::Inspection, &mut site, Application::Approve, None);
    world.approve(&id, false).unwrap();
    assert_eq!(world.alert_total("total-inspection"), due - 1, "the inspection did not take it off");
}

#[test]
fn custody_follows_each_hand_over_and_a_terminal_left_waiting_is_an_alert() {
    let mut world = World::new();
    let (old, new, sent) = ("N9100000088001", "N9100000088002", "N9100000088003");
    let sim = iccid("898600000000000088");
    world.import(&[
        format!("{old},installed,{SHOP_ROW},{sim},china_mobile,2027-06-01"),
        format!("{new},in_stock,,,,,"),
        format!("{sent},installed,{SHOP_ROW},,,"),
    ]);
    let site = |serial: &str, plan| Site {
        serial: serial.into(),
        replacement: Some(new.into()),
        warranty: WarrantyStatus::InWarranty,
        plan,
        sim: SimInput {
            iccid: sim.clone(),
            carrier: SimCarrier::ChinaMobile,
            expiry: CalendarDate::parse("2027-06-01").unwrap(),
        },
        declined_backup: false,
    };
    // The warehouse hands the new terminal to the agent, who installs it.
    assert!(world.check_in(new, "agent:nobody", "").unwrap_err().contains("nobody"), "an unknown agent");
    world.check_in(new, "agent:wang", "").unwrap();
    let (replacement, _) = world.visit(
        VisitKind::Replacement,
        &mut site(old, RepairPlan::FixedOnSite),
        Application::Approve,
        None,
    );
    world.approve(&replacement, false).unwrap();
    let (repair, _) = world.visit(
        VisitKind::Repair,
        &mut site(sent, RepairPlan::SentForRepair),
        Application::Approve,
        None,
    );
    world.approve(&repair, false).unwrap();

    // The merchant handed the old terminal to the agent, the agent the new one to the merchant.
    let page = world.terminal_page(old);
    assert!(page.contains("id=\"holder-now\">外勤人员 wang"), "{page}");
    assert!(page.contains("id=\"custody\"") && page.contains("商户签收"), "{page}");
    let page = world.terminal_page(new);
    assert!(page.contains("id=\"holder-now\">商户 老王便利店"), "{page}");
    let chain = page.split("id=\"custody\"").nth(1).unwrap().split("</table>").next().unwrap();
    assert_eq!(chain.matches("<tr><td").count(), 2, "warehouse → agent → merchant: {chain}");

    // The repair centre receives the terminal sent away, promised back in three days.
    let today = posfield_shared::Timestamp::from_seconds(
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64,
    )
    .beijing_date();
    // The agent drops the terminal at the warehouse on its way to repair: still in repair, nobody told.
    world.check_in(sent, "warehouse", "").unwrap();
    assert_eq!(world.register()[sent].0, "in_repair");
    assert!(world.check_in(sent, "repair_centre", "").unwrap_err().contains("承诺返回日期"));
    let yesterday = today.add_days(-1).to_string();
    assert!(
        world.check_in(sent, "repair_centre", &yesterday).unwrap_err().contains("已过"),
        "a past promised day"
    );
    world.check_in(sent, "repair_centre", &today.add_days(3).to_string()).unwrap();
    assert!(world.check_in("N9100000099999", "warehouse", "").unwrap_err().contains("不在登记表中"));
    assert!(world.check_in("12", "warehouse", "").is_err(), "a serial too short is checked in");
    for (alert, total) in [("total-held", 0), ("total-recalled", 0), ("total-repair-overdue", 0)] {
        assert_eq!(world.alert_total(alert), total, "{alert} today");
    }

    // Eight days on the agent still holds the old terminal and the repair is late.
    world.days_later(8);
    for (alert, total) in [("total-held", 1), ("total-recalled", 0), ("total-repair-overdue", 1)] {
        assert_eq!(world.alert_total(alert), total, "{alert} eight days later");
    }
    // Fifteen days on, the terminal taken back is not checked in.
    world.days_later(15);
    assert_eq!(world.alert_total("total-recalled"), 1);

    // The warehouse checks both in: the alerts go, the repaired terminal is
    // back in stock and its merchant is told.
    world.check_in(old, "warehouse", "").unwrap();
    world.check_in(sent, "warehouse", "").unwrap();
    for alert in ["total-held", "total-recalled", "total-repair-overdue"] {
        assert_eq!(world.alert_total(alert), 0, "{alert} after the check-ins");
    }
    let register = world.register();
    assert_eq!(register[sent].0, "in_stock");
    assert_eq!(register[old].0, "recycled");
    let page = world.terminal_page(old);
    assert!(page.contains("id=\"holder-now\">仓库") && page.contains("BAG-0042"), "{page}");

    // An import that changes a terminal's state is on its page too.
    let rows = world.lifecycle_rows(old);
    world.import(&[format!("{old},in_stock,,,,,")]);
    assert_eq!(world.lifecycle_rows(old), rows + 1, "an import changed the state silently");
    let (status, outbox) = world.desk.get("office/outbox");
    assert_eq!(status, 200);
    assert!(outbox.contains(sent), "the merchant is not told the repair is back: {outbox}");
}
