//! Who may set what: the authority table, for every field of a visit, per
//! visit status and per principal, and how the server puts back what an
//! agent's change altered against it.
//!
//! An agent's phone holds the whole visit document and could write any
//! field. The table ([`may`]) says, for each field ([`Field`]), visit
//! status and writer ([`Writer`]), what that writer may do ([`May`]). The
//! server keeps what it last trusted of each visit ([`OfficeFields`]): the
//! back-office fields, the created stamp and kind, the notes and history as
//! lists only appended to, and, once agents may no longer write the
//! evidence (completed, approved, cancelled), the visit as it stood. When a
//! pushed change leaves a field different from what the table allows, the
//! server writes the trusted value back as its own change: only those
//! fields revert, every allowed edit in the same change survives, each
//! revert is named in the audit table and the agent is told in words.
//!
//! | field | agent | reviewer | admin | server |
//! |---|---|---|---|---|
//! | `schema`, `written_by` | raise | raise | raise | raise |
//! | `id`, `kind` and `checklist`, `created` | never (set at creation; a phone's claim to another creator, or to an older checklist, is put back) | never | never | restore |
//! | `status` | own moves (start, complete) while working; never from completed on | approve, return, cancel while open | same | restore |
//! | `assignment` (the agent, from schema 4 the `schedule`: the day and time window it is planned for, and from schema 5 the `brief`: what the register knew of the merchant's terminals, made by the server when the desk gives the job) | never | never | write while open | restore |
//! | `reviews` | never | append while open | append while open | restore |
//! | `reactivation.application` | submit while working | decide while open | decide while open | restore |
//! | evidence: `merchant`, `terminal`, `replacement`, `steps`, `faults`, `documents`, `annotations` (schema 5), `sim`, `backup`, `backup_waiver`, `parameters`, `network_test`, `restore`, `deregistration`, `follow_up`, `handovers`, `trip` (schema 4), `repair`, `reactivation.cause`, `acceptance`, `completion` | write while working (draft, in progress, returned); never from completed on | never | never | restore |
//! | `notes`, `history` | append, as itself, while open (not approved or cancelled) | append | append | append |
//!
//! "Append" means entries are added and none is changed or removed, and an
//! agent's new entries are stamped by the agent that sent them: a claimed
//! author is put back to the sender. The server records who sent each new
//! history entry and when it arrived ([`Receipt`]) beside the device time
//! the phone claims, where no phone can write. The back office's writes go
//! through the operations of its role (`crate::visit::ops`), which the
//! table's test checks against this table; the server's only writes are
//! restores, raised version markers and its history entries.
//!
//! The version markers (`schema`, the edit floor, and `written_by`) only go
//! up: a change that lowers one is put back, so no writer can reopen a
//! document to apps a newer one locked out, nor hide that a newer app wrote it.
//!
//! Approval also seals the acceptance ([`SealedAcceptance`]) for rows stored
//! before the whole visit was kept: the signature, its summary and the
//! records it is made of stay as approved.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::VisitKind;
use crate::actor::{Actor, Role};
use crate::status::VisitStatus;
use crate::visit::acceptance::SealedAcceptance;
use crate::visit::ops::Ctx;
use crate::visit::schema::{Application, Assignment, HistoryEvent, Note, Review, Stamp, Visit};
use crate::visit::{VisitDoc, VisitError};
use crate::vocab::ApplicationState;

/// A field of a visit document: every top-level key, and the two halves of
/// `reactivation` (the agent's cause, the back office's decision).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Field {
    /// `schema` and `written_by`, the version markers.
    Versions,
    /// `id`.
    Id,
    /// `kind`, and `checklist`, the edition it was created under.
    Kind,
    /// `status`.
    Status,
    /// `merchant`.
    Merchant,
    /// `created`.
    Created,
    /// `assignment`.
    Assignment,
    /// `terminal`.
    Terminal,
    /// `replacement`.
    Replacement,
    /// `steps`.
    Steps,
    /// `faults`.
    Faults,
    /// `documents`.
    Documents,
    /// `annotations`.
    Annotations,
    /// `sim`.
    Sim,
    /// `backup`.
    Backup,
    /// `backup_waiver`.
    BackupWaiver,
    /// `parameters`.
    Parameters,
    /// `network_test`.
    NetworkTest,
    /// `restore`.
    Restore,
    /// `deregistration`.
    Deregistration,
    /// `follow_up`.
    FollowUp,
    /// `handovers`.
    Handovers,
    /// `trip`.
    Trip,
    /// `repair`.
    Repair,
    /// `reactivation.cause`.
    ReactivationCause,
    /// `reactivation.application`.
    Application,
    /// `acceptance`.
    Acceptance,
    /// `completion`.
    Completion,
    /// `reviews`.
    Reviews,
    /// `notes`.
    Notes,
    /// `history`.
    History,
}

impl Field {
    /// Every field, in document order.
    pub const ALL: [Field; 31] = [
        Field::Versions,
        Field::Id,
        Field::Kind,
        Field::Status,
        Field::Merchant,
        Field::Created,
        Field::Assignment,
        Field::Terminal,
        Field::Replacement,
        Field::Steps,
        Field::Faults,
        Field::Documents,
        Field::Annotations,
        Field::Sim,
        Field::Backup,
        Field::BackupWaiver,
        Field::Parameters,
        Field::NetworkTest,
        Field::Restore,
        Field::Deregistration,
        Field::FollowUp,
        Field::Handovers,
        Field::Trip,
        Field::Repair,
        Field::ReactivationCause,
        Field::Application,
        Field::Acceptance,
        Field::Completion,
        Field::Reviews,
        Field::Notes,
        Field::History,
    ];

    /// Stable code, as named in audit rows.
    pub fn code(self) -> &'static str {
        match self {
            Field::Versions => "versions",
            Field::Id => "id",
            Field::Kind => "kind",
            Field::Status => "status",
            Field::Merchant => "merchant",
            Field::Created => "created",
            Field::Assignment => "assignment",
            Field::Terminal => "terminal",
            Field::Replacement => "replacement",
            Field::Steps => "steps",
            Field::Faults => "faults",
            Field::Documents => "documents",
            Field::Annotations => "annotations",
            Field::Sim => "sim",
            Field::Backup => "backup",
            Field::BackupWaiver => "backup_waiver",
            Field::Parameters => "parameters",
            Field::NetworkTest => "network_test",
            Field::Restore => "restore",
            Field::Deregistration => "deregistration",
            Field::FollowUp => "follow_up",
            Field::Trip => "trip",
            Field::Handovers => "handovers",
            Field::Repair => "repair",
            Field::ReactivationCause => "reactivation.cause",
            Field::Application => "application",
            Field::Acceptance => "acceptance",
            Field::Completion => "completion",
            Field::Reviews => "reviews",
            Field::Notes => "notes",
            Field::History => "history",
        }
    }

    /// The document keys the field covers (a dotted path for a half of `reactivation`).
    pub fn keys(self) -> &'static [&'static str] {
        match self {
            Field::Versions => &["schema", "written_by"],
            Field::Kind => &["kind", "checklist"],
            Field::ReactivationCause => &["reactivation.cause"],
            Field::Application => &["reactivation.application"],
            other => std::slice::from_ref(&KEYS[other as usize]),
        }
    }

    /// The field's name in the agent's words (简体中文), for the message
    /// that tells an agent what was put back.
    pub fn words(self) -> &'static str {
        match self {
            Field::Versions => "版本标记",
            Field::Id => "访问编号",
            Field::Kind => "访问类型",
            Field::Status => "状态",
            Field::Merchant => "商户信息",
            Field::Created => "创建人",
            Field::Assignment => "指派",
            Field::Terminal => "终端",
            Field::Replacement => "新终端",
            Field::Steps => "检查步骤",
            Field::Faults => "故障记录",
            Field::Documents => "资料照片",
            Field::Annotations => "照片标注",
            Field::Sim => "流量卡",
            Field::Backup => "数据备份",
            Field::BackupWaiver => "商户放弃备份签字",
            Field::Parameters => "参数配置",
            Field::NetworkTest => "网络测试",
            Field::Restore => "数据恢复",
            Field::Deregistration => "注销记录",
            Field::FollowUp => "回访日期",
            Field::Trip => "行程",
            Field::Handovers => "终端交接",
            Field::Repair => "维修决定",
            Field::ReactivationCause => "停机原因",
            Field::Application => "复机申请",
            Field::Acceptance => "商户签字",
            Field::Completion => "完成记录",
            Field::Reviews => "审核",
            Field::Notes => "备注",
            Field::History => "操作记录",
        }
    }
}

/// The document key of each single-key field, by the field's position.
const KEYS: [&str; 31] = [
    "schema",
    "id",
    "kind",
    "status",
    "merchant",
    "created",
    "assignment",
    "terminal",
    "replacement",
    "steps",
    "faults",
    "documents",
    "annotations",
    "sim",
    "backup",
    "backup_waiver",
    "parameters",
    "network_test",
    "restore",
    "deregistration",
    "follow_up",
    "handovers",
    "trip",
    "repair",
    "reactivation",
    "reactivation",
    "acceptance",
    "completion",
    "reviews",
    "notes",
    "history",
];

/// Who writes a change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Writer {
    /// A field agent's phone, through a push.
    Agent,
    /// A back-office reviewer, through the desk.
    Reviewer,
    /// A back-office administrator, through the desk.
    Admin,
    /// The server itself.
    Server,
}

impl Writer {
    /// Every writer.
    pub const ALL: [Writer; 4] = [Writer::Agent, Writer::Reviewer, Writer::Admin, Writer::Server];

    /// The writer acting in `role`.
    pub fn of(role: Role) -> Writer {
        match role {
            Role::Agent => Writer::Agent,
            Role::Reviewer => Writer::Reviewer,
            Role::Admin => Writer::Admin,
        }
    }
}

/// What a writer may do to a field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum May {
    /// Nothing: the trusted value is put back.
    Never,
    /// Set it, through the operations of its role.
    Write,
    /// Only the values of its own role: the status moves it makes itself
    /// (start, complete), an application it submits; never a back-office value.
    Own,
    /// Add entries, none changed or removed; an agent's new entries name the agent.
    Append,
    /// Raise it, never lower it.
    Raise,
    /// Only put back a value the server trusted.
    Restore,
}

/// The authority table: what `writer` may do to `field` of a visit whose
/// trusted status is `status`. See the module's documentation for the table.
pub fn may(field: Field, status: VisitStatus, writer: Writer) -> May {
    use Field as F;
    // The agent's work happens here; from completion on it waits for the back office.
    let working = status.is_editable_by_agent();
    // Approved and cancelled visits are final.
    let open = !status.is_final();
    let only = |allowed: bool, may: May| if allowed { may } else { May::Never };
    match (writer, field) {
        (_, F::Versions) => May::Raise,
        (Writer::Server, F::History) => May::Append,
        (Writer::Server, _) => May::Restore,
        (_, F::Id | F::Kind | F::Created) => May::Never,
        (Writer::Agent, F::Assignment | F::Reviews) => May::Never,
        (Writer::Agent, F::Status | F::Application) => only(working, May::Own),
        (Writer::Agent, F::Notes | F::History) => only(open, May::Append),
        (Writer::Agent, _) => only(working, May::Write),
        (Writer::Reviewer, F::Assignment) => May::Never,
        (Writer::Reviewer | Writer::Admin, F::Status | F::Assignment | F::Application) => {
            only(open, May::Write)
        }
        (Writer::Reviewer | Writer::Admin, F::Reviews) => only(open, May::Append),
        (Writer::Reviewer | Writer::Admin, F::Notes | F::History) => May::Append,
        (Writer::Reviewer | Writer::Admin, _) => May::Never,
    }
}

/// Whether agents may no longer write a visit's evidence in `status`: the
/// server keeps the visit as it stood to put it back.
fn evidence_locked(status: VisitStatus) -> bool {
    !status.is_editable_by_agent()
}

/// The principal a pushed change came from, as the server authenticated it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sender {
    /// The agent's user name.
    pub user: String,
    /// The server's id of the device that sent it.
    pub device: String,
}

impl Sender {
    /// The agent as the server records it in a stamp it puts back.
    pub fn actor(&self) -> Actor {
        Actor::agent(&self.user, &self.device)
    }

    /// Whether `stamp` names this sender's agent.
    fn signed(&self, stamp: &Stamp) -> bool {
        stamp.by.user == self.user && stamp.by.role == Role::Agent
    }
}

/// Who sent a history entry and when it arrived, as the server recorded it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Receipt {
    /// The user the server authenticated (an agent, or a back-office user).
    pub by: String,
    /// The server's id of the device that sent it; `back-office` for the desk.
    pub device: String,
    /// When it arrived, by the server's clock (ms since the epoch).
    pub at: i64,
}

/// What the server trusts of a visit: its back-office fields, what is set
/// once, the lists only appended to, and the visit as it stood once agents
/// may no longer write its evidence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OfficeFields {
    /// Who the visit is assigned to.
    pub assignment: Assignment,
    /// The status the back office last left or accepted.
    pub status: VisitStatus,
    /// Review decisions.
    pub reviews: Vec<Review>,
    /// The reactivation application as last decided.
    pub application: Option<Application>,
    /// The document's edit floor as last seen: it only goes up. Absent from
    /// rows stored before version markers were checked.
    #[serde(default)]
    pub schema: u64,
    /// The newest writer's schema version as last seen: it only goes up.
    #[serde(default)]
    pub written_by: Option<u64>,
    /// The acceptance and its records as approved: set when the back
    /// office approves, never changed after. Absent before approval, and
    /// from rows stored before approvals were sealed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approved: Option<SealedAcceptance>,
    /// Who created the visit, when, as the server attributed it. Absent
    /// from rows stored before creators were checked (as are the fields below).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<Stamp>,
    /// The visit's kind, set once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<VisitKind>,
    /// The checklist edition it was created under, set once. Absent from
    /// rows stored before schema 3.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checklist: Option<u64>,
    /// The notes as last trusted: later ones only add to them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notes: Option<Vec<Note>>,
    /// The history as last trusted: later ones only add to it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub history: Option<Vec<HistoryEvent>>,
    /// The visit as it stood when agents could no longer write its evidence
    /// (completed, approved, cancelled); absent while they may.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub locked: Option<Box<Visit>>,
    /// Who sent each history entry the server received, by entry id.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub received: BTreeMap<String, Receipt>,
}

fn office_status(status: VisitStatus) -> bool {
    matches!(status, VisitStatus::Approved | VisitStatus::Returned | VisitStatus::Cancelled)
}

fn office_decision(application: &Option<Application>) -> bool {
    application.as_ref().is_some_and(|a| a.state != ApplicationState::Submitted)
}

/// An entry of a list only appended to: notes and history.
trait Entry: Clone + PartialEq {
    fn id(&self) -> &str;
    fn stamp_mut(&mut self) -> &mut Stamp;
    fn stamp(&self) -> &Stamp;
}

/// Notes and history entries are such entries, by their `id` and `stamp`.
macro_rules! entry {
    ($($kind:ty),*) => {$(
        impl Entry for $kind {
            fn id(&self) -> &str {
                &self.id
            }
            fn stamp_mut(&mut self) -> &mut Stamp {
                &mut self.stamp
            }
            fn stamp(&self) -> &Stamp {
                &self.stamp
            }
        }
    )*};
}

entry!(Note, HistoryEvent);

/// Whether `now` keeps every `trusted` entry unchanged and names `sender`
/// in each entry it added.
fn appended_only<E: Entry>(trusted: &[E], now: &[E], sender: Option<&Sender>) -> bool {
    let kept = trusted.iter().all(|t| now.iter().any(|n| n == t));
    let added_by_sender = sender.is_none_or(|sender| {
        now.iter().filter(|n| !trusted.iter().any(|t| t.id() == n.id())).all(|n| sender.signed(n.stamp()))
    });
    kept && added_by_sender
}

/// `now` with every `trusted` entry put back where it was (a changed one
/// replaced, a removed one inserted after the trusted entry before it) and
/// each added entry stamped by `sender`, at the device time it claims.
fn append_back<E: Entry>(trusted: &[E], now: &[E], sender: Option<&Sender>) -> Vec<E> {
    let mut out: Vec<E> = Vec::with_capacity(now.len().max(trusted.len()));
    for entry in now {
        match trusted.iter().find(|t| t.id() == entry.id()) {
            Some(t) => out.push(t.clone()),
            None => {
                let mut entry = entry.clone();
                if let Some(sender) = sender.filter(|s| !s.signed(entry.stamp())) {
                    entry.stamp_mut().by = sender.actor();
                }
                out.push(entry);
            }
        }
    }
    let mut after: Option<usize> = None;
    for t in trusted {
        match out.iter().position(|e| e.id() == t.id()) {
            Some(at) => after = Some(at),
            None => {
                let at = after.map_or(0, |a| a + 1);
                out.insert(at, t.clone());
                after = Some(at);
            }
        }
    }
    out
}

/// Whether `a` and `b` hold the same value of `field`.
fn same(field: Field, a: &Visit, b: &Visit) -> bool {
    match field {
        Field::Versions => a.schema == b.schema && a.written_by == b.written_by,
        Field::Id => a.id == b.id,
        Field::Kind => a.kind == b.kind && a.checklist == b.checklist,
        Field::Status => a.status == b.status,
        Field::Merchant => a.merchant == b.merchant,
        Field::Created => a.created == b.created,
        Field::Assignment => a.assignment == b.assignment,
        Field::Terminal => a.terminal == b.terminal,
        Field::Replacement => a.replacement == b.replacement,
        Field::Steps => a.steps == b.steps,
        Field::Faults => a.faults == b.faults,
        Field::Documents => a.documents == b.documents,
        Field::Annotations => a.annotations == b.annotations,
        Field::Sim => a.sim == b.sim,
        Field::Backup => a.backup == b.backup,
        Field::BackupWaiver => a.backup_waiver == b.backup_waiver,
        Field::Parameters => a.parameters == b.parameters,
        Field::NetworkTest => a.network_test == b.network_test,
        Field::Restore => a.restore == b.restore,
        Field::Deregistration => a.deregistration == b.deregistration,
        Field::FollowUp => a.follow_up == b.follow_up,
        Field::Trip => a.trip == b.trip,
        Field::Handovers => a.handovers == b.handovers,
        Field::Repair => a.repair == b.repair,
        Field::ReactivationCause => a.reactivation.cause == b.reactivation.cause,
        Field::Application => a.reactivation.application == b.reactivation.application,
        Field::Acceptance => a.acceptance == b.acceptance,
        Field::Completion => a.completion == b.completion,
        Field::Reviews => a.reviews == b.reviews,
        Field::Notes => a.notes == b.notes,
        Field::History => a.history == b.history,
    }
}

/// Copies `field` from `from` into `to`.
fn copy(field: Field, from: &Visit, to: &mut Visit) {
    match field {
        Field::Versions => {
            to.schema = to.schema.max(from.schema);
            to.written_by = to.written_by.max(from.written_by);
        }
        Field::Id => to.id = from.id.clone(),
        Field::Kind => {
            to.kind = from.kind;
            to.checklist = from.checklist;
        }
        Field::Status => to.status = from.status,
        Field::Merchant => to.merchant = from.merchant.clone(),
        Field::Created => to.created = from.created.clone(),
        Field::Assignment => to.assignment = from.assignment.clone(),
        Field::Terminal => to.terminal = from.terminal.clone(),
        Field::Replacement => to.replacement = from.replacement.clone(),
        Field::Steps => to.steps = from.steps.clone(),
        Field::Faults => to.faults = from.faults.clone(),
        Field::Documents => to.documents = from.documents.clone(),
        Field::Annotations => to.annotations = from.annotations.clone(),
        Field::Sim => to.sim = from.sim.clone(),
        Field::Backup => to.backup = from.backup.clone(),
        Field::BackupWaiver => to.backup_waiver = from.backup_waiver.clone(),
        Field::Parameters => to.parameters = from.parameters.clone(),
        Field::NetworkTest => to.network_test = from.network_test.clone(),
        Field::Restore => to.restore = from.restore.clone(),
        Field::Deregistration => to.deregistration = from.deregistration.clone(),
        Field::FollowUp => to.follow_up = from.follow_up.clone(),
        Field::Trip => to.trip = from.trip.clone(),
        Field::Handovers => to.handovers = from.handovers.clone(),
        Field::Repair => to.repair = from.repair.clone(),
        Field::ReactivationCause => to.reactivation.cause = from.reactivation.cause.clone(),
        Field::Application => to.reactivation.application = from.reactivation.application.clone(),
        Field::Acceptance => to.acceptance = from.acceptance.clone(),
        Field::Completion => to.completion = from.completion.clone(),
        Field::Reviews => to.reviews = from.reviews.clone(),
        Field::Notes => to.notes = from.notes.clone(),
        Field::History => to.history = from.history.clone(),
    }
}

impl OfficeFields {
    /// What the server trusts of `visit` as a back-office action (or the
    /// server) left it.
    pub fn of(visit: &Visit) -> OfficeFields {
        OfficeFields {
            assignment: visit.assignment.clone(),
            status: visit.status,
            reviews: visit.reviews.clone(),
            application: visit.reactivation.application.clone(),
            schema: visit.schema,
            written_by: visit.written_by,
            approved: (visit.status == VisitStatus::Approved).then(|| SealedAcceptance::of(visit)),
            created: Some(visit.created.clone()),
            kind: Some(visit.kind),
            checklist: Some(visit.checklist_edition()),
            notes: Some(visit.notes.clone()),
            history: Some(visit.history.clone()),
            locked: evidence_locked(visit.status).then(|| Box::new(visit.clone())),
            received: BTreeMap::new(),
        }
    }

    /// What the server trusts of a visit the agent `owner` sent first: it
    /// is assigned to its creator, created by it, not reviewed, not decided,
    /// and none of its history is yet trusted (the entries it brings are
    /// checked as the agent's own).
    pub fn first_seen(visit: &Visit, owner: &str) -> OfficeFields {
        let mut fields = OfficeFields::of(visit);
        if fields.assignment.agent != owner {
            fields.assignment = Assignment {
                agent: owner.to_owned(),
                stamp: visit.created.clone(),
                schedule: None,
                brief: None,
            };
        }
        // Only the desk plans a day and briefs a job; a phone's plan or
        // brief for its own visit is put back.
        fields.assignment.schedule = None;
        fields.assignment.brief = None;
        if office_status(fields.status) {
            fields.status = VisitStatus::Draft;
        }
        fields.reviews.clear();
        if office_decision(&fields.application) {
            fields.application = None;
        }
        fields.approved = None;
        if visit.created.by.user != owner || visit.created.by.role != Role::Agent {
            let by = Actor::agent(owner, visit.created.by.device.clone());
            fields.created = Some(Stamp { by, at: visit.created.at });
        }
        fields.notes = Some(Vec::new());
        fields.history = Some(Vec::new());
        fields.locked = None;
        fields
    }

    /// The fields `visit` changed beyond what an agent may, by the table
    /// at the trusted status; no check of who added list entries.
    pub fn forged(&self, visit: &Visit) -> Vec<Field> {
        self.forged_by(visit, None)
    }

    /// The fields `visit`, sent by `sender`, changed beyond what an agent
    /// may, by the table at the trusted status. A field whose trusted value
    /// the server does not hold (rows stored before it kept it) is not
    /// checked until it does.
    pub fn forged_by(&self, visit: &Visit, sender: Option<&Sender>) -> Vec<Field> {
        Field::ALL.into_iter().filter(|&field| !self.allows(field, visit, sender)).collect()
    }

    /// Whether `visit`'s value of `field` is one an agent may leave.
    fn allows(&self, field: Field, visit: &Visit, sender: Option<&Sender>) -> bool {
        let locked = self.locked.as_deref();
        match (field, may(field, self.status, Writer::Agent)) {
            (Field::Versions, _) => visit.schema >= self.schema && visit.written_by >= self.written_by,
            (Field::Status, May::Own) => !office_status(visit.status) || visit.status == self.status,
            (Field::Application, May::Own) => {
                !office_decision(&visit.reactivation.application)
                    || visit.reactivation.application == self.application
            }
            (Field::Notes, May::Append) => {
                self.notes.as_ref().is_none_or(|trusted| appended_only(trusted, &visit.notes, sender))
            }
            (Field::History, May::Append) => {
                self.history.as_ref().is_none_or(|trusted| appended_only(trusted, &visit.history, sender))
            }
            (_, May::Write | May::Raise | May::Restore | May::Own | May::Append) => true,
            (Field::Id, May::Never) => locked.is_none_or(|l| same(field, l, visit)),
            // A row stored before editions holds a visit of edition 2: the
            // edition may be raised there (a newer phone created it), never lowered.
            (Field::Kind, May::Never) => {
                let edition = visit.checklist_edition();
                self.kind.is_none_or(|k| k == visit.kind)
                    && self.checklist.map_or(edition >= 2, |trusted| trusted == edition)
            }
            (Field::Created, May::Never) => self.created.as_ref().is_none_or(|c| *c == visit.created),
            (Field::Status, May::Never) => visit.status == self.status,
            (Field::Assignment, May::Never) => {
                visit.assignment.agent == self.assignment.agent
                    && visit.assignment.schedule == self.assignment.schedule
                    && visit.assignment.brief == self.assignment.brief
            }
            (Field::Reviews, May::Never) => visit.reviews == self.reviews,
            (Field::Application, May::Never) => visit.reactivation.application == self.application,
            (Field::Notes, May::Never) => self.notes.as_ref().is_none_or(|n| *n == visit.notes),
            (Field::History, May::Never) => self.history.as_ref().is_none_or(|h| *h == visit.history),
            (Field::Acceptance, May::Never) if locked.is_none() => {
                self.approved.as_ref().is_none_or(|sealed| sealed.holds_in(visit))
            }
            (_, May::Never) => locked.is_none_or(|l| same(field, l, visit)),
        }
    }

    /// What the server trusts after accepting `visit` (whose forged fields
    /// were restored): the agent's own moves and entries are accepted.
    pub fn accept(&self, visit: &Visit) -> OfficeFields {
        let mut next = self.clone();
        next.status = visit.status;
        if !office_decision(&visit.reactivation.application) {
            next.application = visit.reactivation.application.clone();
        }
        next.schema = next.schema.max(visit.schema);
        next.written_by = next.written_by.max(visit.written_by);
        next.created.get_or_insert_with(|| visit.created.clone());
        next.kind.get_or_insert(visit.kind);
        next.checklist.get_or_insert(visit.checklist_edition());
        next.notes = Some(visit.notes.clone());
        next.history = Some(visit.history.clone());
        next.locked = evidence_locked(visit.status).then(|| Box::new(visit.clone()));
        next
    }

    /// Records who sent each history entry of `visit` that `before` did
    /// not trust and that has no receipt yet: what arrived with this
    /// change, each entry's receipt made by `receipt`. Rows stored before
    /// the history was kept record nothing (their entries' senders are not known).
    pub fn receive(
        &mut self,
        before: &OfficeFields,
        visit: &Visit,
        receipt: impl Fn(&HistoryEvent) -> Receipt,
    ) {
        let Some(known) = &before.history else { return };
        for entry in &visit.history {
            if !self.received.contains_key(&entry.id) && !known.iter().any(|k| k.id == entry.id) {
                self.received.insert(entry.id.clone(), receipt(entry));
            }
        }
    }

    /// Keeps the receipts of `before`, whose history this one continues.
    pub fn keep_receipts(mut self, before: &OfficeFields) -> OfficeFields {
        let mut received = before.received.clone();
        received.append(&mut self.received);
        self.received = received;
        self
    }

    /// Puts the trusted values of `fields` back into `visit`; version
    /// markers are raised back, never lowered.
    pub fn put_back(&self, visit: &mut Visit, fields: &[Field]) {
        self.put_back_for(visit, fields, None);
    }

    /// Puts the trusted values of `fields` back into `visit`, sent by
    /// `sender`: entries it added to a list it may append to stay, stamped by it.
    pub fn put_back_for(&self, visit: &mut Visit, fields: &[Field], sender: Option<&Sender>) {
        for &field in fields {
            let rule = may(field, self.status, Writer::Agent);
            match field {
                Field::Versions => {
                    visit.schema = visit.schema.max(self.schema);
                    visit.written_by = visit.written_by.max(self.written_by);
                }
                Field::Assignment => visit.assignment = self.assignment.clone(),
                Field::Status => visit.status = self.status,
                Field::Reviews => visit.reviews = self.reviews.clone(),
                Field::Application => visit.reactivation.application = self.application.clone(),
                Field::Kind => {
                    visit.kind = self.kind.unwrap_or(visit.kind);
                    if let Some(edition) = self.checklist {
                        visit.checklist = (edition > 2).then_some(edition);
                    }
                }
                Field::Created => {
                    visit.created = self.created.clone().unwrap_or_else(|| visit.created.clone())
                }
                Field::Notes => match (&self.notes, rule) {
                    (Some(trusted), May::Append) => visit.notes = append_back(trusted, &visit.notes, sender),
                    (Some(trusted), _) => visit.notes = trusted.clone(),
                    (None, _) => {}
                },
                Field::History => match (&self.history, rule) {
                    (Some(trusted), May::Append) => {
                        visit.history = append_back(trusted, &visit.history, sender)
                    }
                    (Some(trusted), _) => visit.history = trusted.clone(),
                    (None, _) => {}
                },
                Field::Acceptance if self.locked.is_none() => {
                    if let Some(sealed) = &self.approved {
                        sealed.put_back(visit);
                    }
                }
                other => {
                    if let Some(locked) = &self.locked {
                        copy(other, locked, visit);
                    }
                }
            }
        }
    }
}

impl VisitDoc {
    /// The server writes the trusted values of `fields` back, as its own
    /// change with a history entry naming them; entries `sender` added to a
    /// list it may append to stay, stamped by it.
    pub fn restore_office_fields(
        &mut self,
        ctx: &Ctx,
        trusted: &OfficeFields,
        fields: &[Field],
        sender: Option<&Sender>,
    ) -> Result<Visit, VisitError> {
        let named = fields.iter().map(|f| f.code()).collect::<Vec<_>>().join(",");
        self.apply(ctx, "restore_office_fields", |visit| {
            trusted.put_back_for(visit, fields, sender);
            Ok(named)
        })
    }
}
