//! The desk's actions: each decision the back office takes exists once
//! here, with the role it needs ([`DeskAction::role`]) and the checks of
//! its input. The pages ([`crate::office::pages`]) and the JSON API
//! ([`crate::api`]) parse their own wire forms, call these functions and
//! decide nothing themselves; the route table ([`crate::api::routes`])
//! declares each action's route with the same role, so a request reaches
//! an action only with it, and the action checks it again.
//!
//! A visit goes only to an enrolled agent: an agent with at least one
//! device whose credential is not revoked ([`Store::enrolled_agents`]).
//! Expiry does not count against it (the phone enrols again and gets its
//! visits then); a revoked device was cut off on purpose, and an agent
//! with no other device is no one to send work to. An unknown assignee is
//! [`DeskError::UnknownAgent`].
//!
//! Every decision is written by the server into the audit table, with the
//! office user as actor, in the same transaction as the projection row it
//! changes (or the register rows it imports): the audit table is the
//! server's record, which no phone can touch, beside the history in the
//! visit document that the agent's phone holds too.
//!
//! **Approval means complete.** A visit is approved only when the
//! completion rule ([`posfield_shared::visit::missing`]) holds for what the
//! server itself holds of it: a photo counts once its file is on the
//! server, and, where the kind needs the merchant's signature, the
//! acceptance counts once its image is on the server and the server's
//! countersignature says the device signature verified with the key of the
//! device that sent it ([`approval_gaps`]). Otherwise the review is
//! refused with [`DeskError::NotApprovable`], naming what is missing in
//! zh-CN and English. Returning a visit is possible whatever its state.
//!
//! [`Store::enrolled_agents`]: crate::store::Store::enrolled_agents

use posfield_shared::lifecycle::TerminalEvent;
use posfield_shared::visit::completion::{StepProblem, describe_zh};
use posfield_shared::visit::outcome::{
    Holder, MerchantConflict, PlanRefusal, application_plan, check_in_event, register_plan,
};
use posfield_shared::visit::schema::ReviewDecision;
use posfield_shared::visit::{Ctx, GeoPoint, MerchantInput, Missing, Schedule, Visit, VisitDoc, VisitError};
use posfield_shared::vocab::{ApplicationState, Term};
use posfield_shared::{Actor, CalendarDate, TimeOfDay, Timestamp, VisitKind, VisitStatus};

use crate::State;
use crate::auth::UserRole;
use crate::office::i18n::Lang;
use crate::office::import::{self, ImportReport};
use crate::projection::{self, ProjectionError};
use crate::store::{
    AuditEntry, CheckIn, Principal, RegisterCause, RegisterNow, RegisterWrite, StoreError, VisitFacts,
};

/// A decision the desk takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeskAction {
    /// Approve a completed visit, or return it with a note.
    Review,
    /// Give a visit to another agent.
    Assign,
    /// Create a visit for an agent.
    Create,
    /// Import rows of the terminal register.
    Import,
    /// Approve or reject a reactivation application.
    DecideApplication,
    /// Check a terminal in at the warehouse or a repair centre.
    CheckIn,
}

impl DeskAction {
    /// Every action.
    pub const ALL: [DeskAction; 6] = [
        DeskAction::Review,
        DeskAction::Assign,
        DeskAction::Create,
        DeskAction::Import,
        DeskAction::DecideApplication,
        DeskAction::CheckIn,
    ];

    /// The least role that may take it. Reviewers judge the work agents
    /// did and receive terminals at the warehouse (a check-in records what
    /// arrived, it decides nothing); who does which work and what the
    /// register holds are the administrator's.
    pub fn role(self) -> UserRole {
        match self {
            DeskAction::Review | DeskAction::DecideApplication | DeskAction::CheckIn => UserRole::Reviewer,
            DeskAction::Assign | DeskAction::Create | DeskAction::Import => UserRole::Admin,
        }
    }

    /// Its code in the audit table.
    pub fn code(self) -> &'static str {
        match self {
            DeskAction::Review => "review",
            DeskAction::Assign => "assign",
            DeskAction::Create => "create_visit",
            DeskAction::Import => "import_terminals",
            DeskAction::DecideApplication => "decide_application",
            DeskAction::CheckIn => "check_in",
        }
    }
}

/// Whether `role` is at least `least`: an administrator may do what a reviewer may.
pub fn role_reaches(role: UserRole, least: UserRole) -> bool {
    role == UserRole::Admin || least == UserRole::Reviewer
}

/// A signed-in back-office user, through either door (a page's session or
/// the JSON API's Basic credentials).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeskUser {
    /// User name.
    pub name: String,
    /// Role.
    pub role: UserRole,
}

impl DeskUser {
    /// Who the user acts as, for the store.
    pub fn principal(&self) -> Principal {
        Principal::Office { name: self.name.clone(), role: self.role }
    }

    /// Who the user is in a visit's history.
    pub fn actor(&self) -> Actor {
        match self.role {
            UserRole::Admin => Actor::admin(&self.name, "back-office"),
            UserRole::Reviewer => Actor::reviewer(&self.name, "back-office"),
        }
    }

    /// Whether the user may take `action`.
    pub fn may(&self, action: DeskAction) -> bool {
        role_reaches(self.role, action.role())
    }

    fn require(&self, action: DeskAction) -> Result<(), DeskError> {
        if self.may(action) {
            Ok(())
        } else {
            Err(DeskError::Forbidden { role: self.role.code(), action: action.code() })
        }
    }

    fn ctx(&self) -> Ctx {
        Ctx::new(self.actor(), Timestamp(crate::clock::now_millis()), uuid::Uuid::now_v7().to_string())
    }

    fn audit(&self, visit: Option<&str>, action: DeskAction, detail: &str) -> AuditEntry {
        AuditEntry::new(visit, &self.name, action.code(), detail)
    }
}

/// Why the desk refused or failed an action.
#[derive(Debug, thiserror::Error)]
pub enum DeskError {
    /// The user's role may not take the action.
    #[error("a {role} may not {action}")]
    Forbidden {
        /// The user's role.
        role: &'static str,
        /// The action.
        action: &'static str,
    },
    /// The named assignee is not an enrolled agent.
    #[error("{0:?} is not an enrolled agent")]
    UnknownAgent(String),
    /// The input is not valid.
    #[error("{0}")]
    Invalid(String),
    /// Not a visit id.
    #[error("{0:?} is not a visit id")]
    BadVisitId(String),
    /// No such visit.
    #[error("no visit {0}")]
    NotFound(String),
    /// The visit is not complete by what the server holds, or its
    /// signature cannot be vouched for: it cannot be approved.
    #[error("{}", .0.words())]
    NotApprovable(ApprovalGap),
    /// The visit's rules refused the action.
    #[error(transparent)]
    Refused(VisitError),
    /// The lifecycle refuses what approving the visit would do to the
    /// register: nothing was approved or changed.
    #[error("{} / {}", .0.zh(), .0.en())]
    RegisterRefused(PlanRefusal),
    /// The register binds a terminal of the visit to another merchant: the
    /// reviewer approves only knowing it (the approval then corrects the
    /// register).
    #[error("{}", conflict_words(.0))]
    RegisterConflict(Vec<MerchantConflict>),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Writing the visit failed.
    #[error(transparent)]
    Projection(ProjectionError),
}

impl From<ProjectionError> for DeskError {
    fn from(e: ProjectionError) -> Self {
        match e {
            ProjectionError::NotFound(id) => DeskError::NotFound(id),
            ProjectionError::Link(posfield_sync_link_server::LinkError::BadId(id)) => {
                DeskError::BadVisitId(id)
            }
            ProjectionError::Visit(v) => DeskError::Refused(v),
            ProjectionError::Store(e) => DeskError::Store(e),
            other => DeskError::Projection(other),
        }
    }
}

/// The enrolled agent `agent` names (trimmed), or [`DeskError::UnknownAgent`].
async fn enrolled_agent(state: &State, agent: &str) -> Result<String, DeskError> {
    let agent = agent.trim();
    if state.store.enrolled_agents().await?.iter().any(|a| a == agent) {
        Ok(agent.to_owned())
    } else {
        Err(DeskError::UnknownAgent(agent.to_owned()))
    }
}

/// Why a visit cannot be approved: what is missing, in the completion
/// rule's terms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApprovalGap {
    /// The visit's kind, whose checklist names the steps.
    pub kind: VisitKind,
    /// What the completion rule misses in what the server holds.
    pub missing: Vec<Missing>,
    /// Whether only the acceptance's device signature is missing: the
    /// server did not countersign it as verified by the key of the device
    /// that sent it (otherwise steps, photos or the signature are missing,
    /// a photo or signature image the server has not received included).
    pub unsigned: bool,
}

impl ApprovalGap {
    /// Stable code: `incomplete` or `unsigned`.
    pub fn code(&self) -> &'static str {
        if self.unsigned { "unsigned" } else { "incomplete" }
    }

    /// What is missing, one line per item, in `lang`.
    pub fn lines(&self, lang: Lang) -> Vec<String> {
        let mut lines: Vec<String> = self.missing.iter().map(|item| self.words_for(item, lang)).collect();
        if self.unsigned {
            lines.push(lang.t("device_sig_invalid").to_owned());
        }
        lines
    }

    /// The refusal in zh-CN and English.
    pub fn words(&self) -> String {
        let key = if self.unsigned { "approval_unsigned" } else { "approval_incomplete" };
        let say = |lang: Lang| format!("{}{}", lang.t(key), self.lines(lang).join(lang.t("list_separator")));
        format!("{} / {}", say(Lang::Zh), say(Lang::En))
    }

    /// One missing item in `lang`: the step's label, or what a step needs.
    fn words_for(&self, item: &Missing, lang: Lang) -> String {
        match (item, lang) {
            (_, Lang::Zh) => describe_zh(item),
            (Missing::Step { step, problem, .. }, Lang::En) => {
                let label = self.kind.template().step(step).map_or(*step, |s| s.en);
                match problem {
                    StepProblem::NotDone => format!("not done: {label}"),
                    StepProblem::SkippedWithoutReason => format!("skipped without a reason: {label}"),
                }
            }
            (Missing::Requirement { requirement, .. }, Lang::En) => format!("missing: {}", requirement.en()),
        }
    }
}

/// What stands between `visit` and its approval, by what the server holds
/// of it (`facts`): `None` when it may be approved. The completion rule is
/// the domain's; the server only takes out of the visit what it cannot
/// vouch for (photos whose files have not arrived; an acceptance whose
/// image has not arrived or whose device signature it did not verify).
pub fn approval_gaps(visit: &Visit, facts: &VisitFacts) -> Option<ApprovalGap> {
    let arrived = |sha: &str| !facts.missing_blobs.iter().any(|missing| missing == sha);
    let mut held = visit.clone();
    held.documents.retain(|d| arrived(&d.sha256));
    if held.acceptance.as_ref().is_some_and(|a| !arrived(&a.signature.sha256)) {
        held.acceptance = None;
    }
    if held.backup_waiver.as_ref().is_some_and(|w| !arrived(&w.signature.sha256)) {
        held.backup_waiver = None;
    }
    let gap = |missing: Vec<Missing>, unsigned| {
        (!missing.is_empty()).then_some(ApprovalGap { kind: visit.kind, missing, unsigned })
    };
    let incomplete = posfield_shared::visit::missing(&held);
    if !incomplete.is_empty() {
        return gap(incomplete, false);
    }
    let content_hash = held.acceptance.as_ref().map(|a| a.content_hash.as_str());
    if facts.device_signature_valid(content_hash) == Some(true) {
        return None;
    }
    held.acceptance = None;
    gap(posfield_shared::visit::missing(&held), true)
}

/// The conflicts with the register in zh-CN and English.
fn conflict_words(conflicts: &[MerchantConflict]) -> String {
    let zh: Vec<String> = conflicts
        .iter()
        .map(|c| format!("终端 {} 在登记表中属于 {}，本工单记录为 {}", c.serial, c.register, c.visit))
        .collect();
    let en: Vec<String> = conflicts
        .iter()
        .map(|c| {
            format!("the register has terminal {} at {}, the visit at {}", c.serial, c.register, c.visit)
        })
        .collect();
    format!(
        "与终端登记表不符，确认后审核通过将更正登记表：{} / the visit contradicts the register; approve again, confirming, to correct it: {}",
        zh.join("；"),
        en.join("; ")
    )
}

/// What approving a visit does to the register, by the domain's rule
/// ([`register_plan`]): `None` once its effects were applied, a refusal
/// when the lifecycle refuses it, or when the register contradicts the
/// visit and no administrator confirmed the correction (what the register
/// holds is the administrator's: a reviewer sees the conflict and leaves
/// it to one).
pub fn approval_register(
    visit: &Visit,
    register: &RegisterNow,
    conflicts: Conflicts,
    user: &DeskUser,
) -> Result<Option<RegisterWrite>, DeskError> {
    if register.applied(RegisterCause::VisitApproved) {
        return Ok(None);
    }
    let plan = register_plan(visit, &register.known).map_err(DeskError::RegisterRefused)?;
    if !plan.conflicts.is_empty() {
        if conflicts == Conflicts::Refuse {
            return Err(DeskError::RegisterConflict(plan.conflicts));
        }
        if !role_reaches(user.role, UserRole::Admin) {
            return Err(DeskError::Forbidden { role: user.role.code(), action: "correct the register" });
        }
    }
    Ok(Some(RegisterWrite { cause: RegisterCause::VisitApproved, plan, actor: user.name.clone() }))
}

/// How a review treats facts of the visit the register contradicts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Conflicts {
    /// Refuse the approval and name them.
    #[default]
    Refuse,
    /// The reviewer saw them: the approval corrects the register.
    Correct,
}

/// Approves a completed visit that is complete on the server
/// ([`approval_gaps`]) and whose effects on the register the lifecycle
/// allows ([`approval_register`]), writing them with the approval; or
/// returns it with a note whatever its state.
pub async fn review(
    state: &State,
    user: &DeskUser,
    id: &str,
    decision: ReviewDecision,
    note: Option<&str>,
    conflicts: Conflicts,
) -> Result<Visit, DeskError> {
    user.require(DeskAction::Review)?;
    let principal = user.principal();
    // Read before the edit; the check itself runs on the document the edit
    // changes, so what is approved is what was checked. Blobs only arrive
    // and countersignatures are found by the acceptance's hash, so facts a
    // moment old never let an incomplete visit through.
    let facts = match decision {
        ReviewDecision::Approve => Some(state.store.visit_facts(&principal, id).await?),
        ReviewDecision::Return => None,
    };
    let ctx = user.ctx();
    let detail = match decision {
        ReviewDecision::Approve => "approve",
        ReviewDecision::Return => "return",
    };
    let entry = user.audit(Some(id), DeskAction::Review, detail);
    let mut refused = None;
    let tell = crate::outbox::messages_for_review;
    let edited = projection::office_decide(state, &principal, id, entry, tell, |doc, register| {
        let mut write = None;
        if let Some(facts) = &facts {
            let visit = doc.visit()?;
            if let Some(found) = approval_gaps(&visit, facts) {
                let refusal = VisitError::Incomplete(found.missing.clone());
                refused = Some(DeskError::NotApprovable(found));
                return Err(refusal);
            }
            // An approved visit whose register write failed after its
            // document was approved is approved again to write it; an
            // approved visit whose effects are written is refused by the
            // review itself.
            let retry = visit.status == VisitStatus::Approved;
            if !retry || !register.applied(RegisterCause::VisitApproved) {
                match approval_register(&visit, register, conflicts, user) {
                    Ok(planned) => write = planned,
                    Err(refusal) => {
                        refused = Some(refusal);
                        return Err(VisitError::Incomplete(Vec::new()));
                    }
                }
            }
            if retry && write.is_some() {
                return Ok((visit, write));
            }
        }
        Ok((doc.review(&ctx, decision, note)?, write))
    })
    .await;
    let visit = match (edited, refused) {
        (Err(_), Some(refused)) => {
            tracing::info!(visit = %id, user = %user.name, reason = %refused, "approval refused");
            return Err(refused);
        }
        (edited, _) => edited?,
    };
    tracing::info!(visit = %id, user = %user.name, ?decision, "visit reviewed");
    Ok(visit)
}

/// Gives a visit to an enrolled agent, and plans it for a day when
/// `schedule` says so (`Some(None)` takes the plan away, `None` keeps it).
pub async fn assign(
    state: &State,
    user: &DeskUser,
    id: &str,
    agent: &str,
    schedule: Option<Option<Schedule>>,
) -> Result<Visit, DeskError> {
    user.require(DeskAction::Assign)?;
    let agent = enrolled_agent(state, agent).await?;
    let ctx = user.ctx();
    // The new agent gets what the register knows now of the merchant's terminals.
    let stored =
        crate::projection::load_stored(state, id).await?.ok_or_else(|| DeskError::NotFound(id.to_owned()))?;
    let (_, before, _) = stored.readable(id)?;
    let mut serials = before.expected_serials();
    serials.extend([&before.terminal, &before.replacement].into_iter().flatten().map(|t| t.serial.clone()));
    let brief = brief_for(state, user, id, before.merchant.merchant_number.as_deref(), &serials).await?;
    let detail = match &schedule {
        Some(Some(plan)) => format!("{agent} {}", plan.words()),
        _ => agent.clone(),
    };
    let entry = user.audit(Some(id), DeskAction::Assign, &detail);
    let visit = projection::office_edit(state, &user.principal(), id, entry, |doc| {
        let mut visit = doc.assign(&ctx, &agent)?;
        if let Some(plan) = schedule.clone()
            && visit.assignment.schedule != plan
        {
            visit = doc.schedule(&ctx, plan)?;
        }
        if brief.is_some() && visit.assignment.brief != brief {
            visit = doc.brief(&ctx, brief)?;
        }
        Ok(visit)
    })
    .await?;
    tracing::info!(visit = %id, user = %user.name, %agent, "visit assigned");
    Ok(visit)
}

/// What the register knows now of the terminals of a visit's merchant
/// ([`crate::brief`]), by the server's clock.
async fn brief_for(
    state: &State,
    user: &DeskUser,
    id: &str,
    merchant_number: Option<&str>,
    serials: &[String],
) -> Result<Option<posfield_shared::visit::SiteBrief>, DeskError> {
    let now = posfield_shared::Timestamp::from_seconds(state.clock.now());
    Ok(crate::brief::make(state.store.as_ref(), &user.principal(), id, merchant_number, serials, now).await?)
}

/// The plan typed into a dispatch form: a day (`YYYY-MM-DD`, empty for no
/// plan) and a window whose ends are `HH:MM` or empty.
pub fn typed_schedule(day: &str, from: &str, until: &str) -> Result<Option<Schedule>, DeskError> {
    let invalid = |e: &dyn std::fmt::Display| DeskError::Invalid(e.to_string());
    let time = |text: &str| -> Result<Option<TimeOfDay>, DeskError> {
        let text = text.trim();
        if text.is_empty() { Ok(None) } else { TimeOfDay::parse(text).map(Some).map_err(|e| invalid(&e)) }
    };
    let (from, until) = (time(from)?, time(until)?);
    if day.trim().is_empty() {
        if from.is_some() || until.is_some() {
            return Err(DeskError::Invalid("时间段需要日期 / a time window needs a day".into()));
        }
        return Ok(None);
    }
    let plan = Schedule { day: CalendarDate::parse(day).map_err(|e| invalid(&e))?, from, until };
    if plan.ends_before_it_starts() {
        return Err(DeskError::Invalid(
            "结束时间早于开始时间 / the time window ends before it starts".into(),
        ));
    }
    Ok(Some(plan))
}

/// The shop's place typed into a dispatch form or sent to the API:
/// `latitude,longitude` in degrees (WGS-84, as a phone's positioning gives
/// it; a Chinese full-width comma is taken too), or empty for none.
pub fn typed_location(text: &str) -> Result<Option<GeoPoint>, DeskError> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    let bad =
        || DeskError::Invalid(format!("坐标应为“纬度,经度” / a place is \"latitude,longitude\": {text:?}"));
    let (lat, lon) = text.split_once([',', '，']).ok_or_else(bad)?;
    let (lat, lon) =
        (lat.trim().parse::<f64>().map_err(|_| bad())?, lon.trim().parse::<f64>().map_err(|_| bad())?);
    GeoPoint::from_degrees(lat, lon, None).map(Some).ok_or_else(bad)
}

/// A visit to create at the desk.
#[derive(Debug, Clone)]
pub struct NewVisit {
    /// Its kind.
    pub kind: VisitKind,
    /// The merchant.
    pub merchant: MerchantInput,
    /// The agent it is for.
    pub agent: String,
    /// The terminal's serial, when the desk knows it (kept as a note).
    pub serial: Option<String>,
    /// The day and window it is planned for, when the desk plans one.
    pub schedule: Option<Schedule>,
}

/// Creates a visit for an enrolled agent; it reaches the agent's phone at
/// the next sync.
pub async fn create(state: &State, user: &DeskUser, mut new: NewVisit) -> Result<Visit, DeskError> {
    user.require(DeskAction::Create)?;
    // No place typed: the register's, when its import gave the merchant one.
    if new.merchant.location.is_none()
        && let Some(number) = new.merchant.merchant_number.as_deref().map(str::trim).filter(|n| !n.is_empty())
        && let Some((lat_e6, lon_e6)) = state.store.merchant_place(number).await?
    {
        new.merchant.location = Some(GeoPoint { lat_e6, lon_e6, accuracy_m: None });
    }
    let agent = enrolled_agent(state, &new.agent).await?;
    let ctx = user.ctx();
    let id = uuid::Uuid::now_v7().to_string();
    let invalid = |e: VisitError| DeskError::Invalid(e.to_string());
    let mut doc =
        VisitDoc::create_visit(&ctx, &state.actor, &id, new.kind, &new.merchant, &agent).map_err(invalid)?;
    if let Some(serial) = new.serial.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        let serial =
            posfield_shared::validate::serial(serial).map_err(|e| DeskError::Invalid(e.to_string()))?;
        doc.add_note(&user.ctx(), &posfield_shared::visit::dispatched_serial_note(&serial))
            .map_err(invalid)?;
    }
    if let Some(plan) = new.schedule {
        doc.schedule(&ctx, Some(plan)).map_err(invalid)?;
    }
    let serials: Vec<String> = doc.visit().map(|v| v.expected_serials()).unwrap_or_default();
    let number = doc.visit().ok().and_then(|v| v.merchant.merchant_number);
    if let Some(brief) = brief_for(state, user, &id, number.as_deref(), &serials).await? {
        doc.brief(&ctx, Some(brief)).map_err(invalid)?;
    }
    let detail = format!("{} for {agent}", new.kind.code());
    let visit =
        projection::office_create(state, &mut doc, user.audit(Some(&id), DeskAction::Create, &detail), None)
            .await?;
    tracing::info!(visit = %id, user = %user.name, %agent, "visit created and assigned");
    Ok(visit)
}

/// At most this many terminals in one dispatch from the alerts.
pub const DISPATCH_MAX: usize = 200;

/// The kinds of visit the alerts' terminals are dispatched for: SIM
/// renewals, inspections, replacements of old terminals and repairs.
pub const DISPATCH_KINDS: [VisitKind; 4] =
    [VisitKind::SimRenewal, VisitKind::Inspection, VisitKind::Replacement, VisitKind::Repair];

/// What a dispatch did for one terminal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Dispatched {
    /// The visit it became.
    Created(String),
    /// A visit of the same kind was already open for it: nothing new.
    AlreadyOpen(String),
    /// The register does not know the serial.
    NotRegistered,
    /// The register names no merchant for it.
    NoMerchant,
    /// Not a serial.
    Invalid(String),
    /// The visit could not be made.
    Failed(String),
}

/// A dispatch from the alerts: a visit of `kind` for each of `serials`,
/// for its merchant in the register, assigned to `agent` on `schedule`.
/// Each terminal gets a whole visit or none, and its own outcome; a
/// terminal with an open visit of the same kind gets no second one. The
/// request is refused whole (nothing made) when the user may not create
/// visits, the agent is not enrolled, the kind is not one an alert calls
/// for or there are more than [`DISPATCH_MAX`] serials.
pub async fn dispatch(
    state: &State,
    user: &DeskUser,
    kind: VisitKind,
    agent: &str,
    schedule: Option<Schedule>,
    serials: &[String],
) -> Result<Vec<(String, Dispatched)>, DeskError> {
    user.require(DeskAction::Create)?;
    if !DISPATCH_KINDS.contains(&kind) {
        return Err(DeskError::Invalid(format!("an alert calls for no {} visit", kind.code())));
    }
    if serials.len() > DISPATCH_MAX {
        return Err(DeskError::Invalid(format!(
            "{} terminals at once; at most {DISPATCH_MAX}",
            serials.len()
        )));
    }
    let agent = enrolled_agent(state, agent).await?;
    let mut seen = std::collections::BTreeSet::new();
    let typed: Vec<(String, Result<String, String>)> = serials
        .iter()
        .map(|s| s.trim())
        .filter(|s| !s.is_empty() && seen.insert(s.to_ascii_uppercase()))
        .map(|s| (s.to_owned(), posfield_shared::validate::serial(s).map_err(|e| e.to_string())))
        .collect();
    let valid: Vec<String> = typed.iter().filter_map(|(_, v)| v.as_ref().ok().cloned()).collect();
    let open = state.store.open_visits(&user.principal(), &valid).await?;
    let mut outcomes = Vec::with_capacity(typed.len());
    for (typed, serial) in typed {
        let serial = match serial {
            Ok(serial) => serial,
            Err(problem) => {
                outcomes.push((typed, Dispatched::Invalid(problem)));
                continue;
            }
        };
        let same = open.iter().find(|v| v.serial.as_deref() == Some(&serial) && v.kind == kind.code());
        let outcome = match same {
            Some(visit) => Dispatched::AlreadyOpen(visit.id.clone()),
            // A store that fails midway fails this terminal, not the
            // visits already made: each says what became of it.
            None => dispatch_one(state, user, kind, &agent, schedule.as_ref(), &serial)
                .await
                .unwrap_or_else(|e| Dispatched::Failed(e.to_string())),
        };
        outcomes.push((serial, outcome));
    }
    Ok(outcomes)
}

/// At most this many visits in one bulk decision.
pub const BULK_MAX: usize = 200;

/// A decision taken on many visits at once from the list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Bulk {
    /// Approve each (each only when complete on the server with a verified
    /// signature, as one by one).
    Approve,
    /// Give each to `agent`, for `schedule` (none: the plan is cleared).
    Assign {
        /// The agent.
        agent: String,
        /// The day and window.
        schedule: Option<Schedule>,
    },
}

/// Takes `decision` on each of `ids`, each through the same one-visit
/// action as its page (`review`, `assign`), so each visit is changed whole
/// or not at all and audited as one; the outcome of each, in order, with
/// the words of why not. Refused whole (nothing done) when the user may
/// not take the decision, the agent is not enrolled, or there are more
/// than [`BULK_MAX`] visits.
pub async fn bulk(
    state: &State,
    user: &DeskUser,
    ids: &[String],
    decision: &Bulk,
) -> Result<Vec<(String, Result<(), String>)>, DeskError> {
    if ids.len() > BULK_MAX {
        return Err(DeskError::Invalid(format!("{} visits at once; at most {BULK_MAX}", ids.len())));
    }
    match decision {
        Bulk::Approve => user.require(DeskAction::Review)?,
        Bulk::Assign { agent, .. } => {
            user.require(DeskAction::Assign)?;
            enrolled_agent(state, agent).await?;
        }
    }
    let mut seen = std::collections::BTreeSet::new();
    let mut outcomes = Vec::new();
    for id in ids.iter().filter(|id| seen.insert(id.as_str())) {
        let done = match decision {
            Bulk::Approve => {
                Box::pin(review(state, user, id, ReviewDecision::Approve, None, Conflicts::Refuse))
                    .await
                    .map(drop)
            }
            Bulk::Assign { agent, schedule } => {
                Box::pin(assign(state, user, id, agent, Some(schedule.clone()))).await.map(drop)
            }
        };
        outcomes.push((id.clone(), done.map_err(|e| e.to_string())));
    }
    Ok(outcomes)
}

/// One terminal of a dispatch: its visit, for its merchant in the register.
async fn dispatch_one(
    state: &State,
    user: &DeskUser,
    kind: VisitKind,
    agent: &str,
    schedule: Option<&Schedule>,
    serial: &str,
) -> Result<Dispatched, DeskError> {
    let Some(terminal) = state.store.terminal(serial).await? else {
        return Ok(Dispatched::NotRegistered);
    };
    if terminal.merchant.trim().is_empty() {
        return Ok(Dispatched::NoMerchant);
    }
    let new = NewVisit {
        kind,
        merchant: MerchantInput {
            name: terminal.merchant,
            merchant_number: terminal.merchant_number,
            terminal_number: None,
            phone: None,
            address: None,
            location: None,
        },
        agent: agent.to_owned(),
        serial: Some(serial.to_owned()),
        schedule: schedule.cloned(),
    };
    Ok(Dispatched::Created(Box::pin(create(state, user, new)).await?.id))
}

/// Approves or rejects a reactivation application (a rejection with a
/// reason); the decision reaches the agent at the next sync.
pub async fn decide_application(
    state: &State,
    user: &DeskUser,
    id: &str,
    decision: ApplicationState,
    reason: Option<&str>,
) -> Result<Visit, DeskError> {
    user.require(DeskAction::DecideApplication)?;
    let ctx = user.ctx();
    let entry = user.audit(Some(id), DeskAction::DecideApplication, decision.code());
    let tell = crate::outbox::messages_for_application;
    let visit = projection::office_decide(state, &user.principal(), id, entry, tell, |doc, register| {
        let visit = doc.decide_application(&ctx, decision, reason)?;
        // An approved application issues the suspended terminal, once.
        let applied = register.applied(RegisterCause::ApplicationApproved);
        let write = (decision == ApplicationState::Approved && !applied).then(|| RegisterWrite {
            cause: RegisterCause::ApplicationApproved,
            plan: application_plan(&visit, &register.known),
            actor: user.name.clone(),
        });
        Ok((visit, write))
    })
    .await?;
    tracing::info!(visit = %id, user = %user.name, ?decision, "reactivation application decided");
    Ok(visit)
}

/// A terminal received at the warehouse or a repair centre, or handed out
/// from there to an agent.
#[derive(Debug, Clone)]
pub struct Arrival {
    /// The serial as typed or scanned.
    pub serial: String,
    /// Who receives it: [`Holder::Warehouse`], [`Holder::RepairCentre`],
    /// or an enrolled agent ([`Holder::Agent`]).
    pub at: Holder,
    /// Its condition, in the receiver's words.
    pub condition: String,
    /// The tamper-seal or bag number.
    pub seal: String,
    /// When a repair centre promised it back (needed there).
    pub promised_back: Option<CalendarDate>,
}

/// The longest condition or seal text a check-in keeps.
pub const CHECK_IN_TEXT: usize = 200;

/// Checks a terminal in (or hands it out to an agent): the hand-over from
/// whoever held it, the lifecycle
/// event it causes ([`check_in_event`]: a repaired terminal at the warehouse
/// is back in stock, and its merchant is told), audited, all at once.
/// Returns the serial as the register knows it and the event.
pub async fn check_in(
    state: &State,
    user: &DeskUser,
    arrival: Arrival,
) -> Result<(String, Option<TerminalEvent>), DeskError> {
    user.require(DeskAction::CheckIn)?;
    let invalid = |e: &dyn std::fmt::Display| DeskError::Invalid(e.to_string());
    let serial = posfield_shared::validate::serial(&arrival.serial).map_err(|e| invalid(&e))?;
    if arrival.condition.chars().count() > CHECK_IN_TEXT || arrival.seal.chars().count() > CHECK_IN_TEXT {
        return Err(DeskError::Invalid(format!(
            "at most {CHECK_IN_TEXT} characters / 最多 {CHECK_IN_TEXT} 个字"
        )));
    }
    let at = match arrival.at {
        Holder::Warehouse | Holder::RepairCentre => arrival.at,
        // Handed out to an agent (出库), who takes it to a merchant.
        Holder::Agent(agent) => Holder::Agent(enrolled_agent(state, &agent).await?),
        Holder::Merchant(_) => {
            return Err(DeskError::Invalid("a merchant receives a terminal in a visit, signed for".into()));
        }
    };
    if at == Holder::RepairCentre && arrival.promised_back.is_none() {
        return Err(DeskError::Invalid(
            "送修需填写承诺返回日期 / a repair centre's promised day is needed".into(),
        ));
    }
    // A promised day is the repair centre's, and not already past.
    let today = Timestamp::from_seconds(state.clock.now()).beijing_date();
    let promised_back = match (&at, arrival.promised_back) {
        (Holder::RepairCentre, Some(day)) if day < today => {
            return Err(DeskError::Invalid(format!(
                "承诺返回日期 {day} 已过 / the promised day {day} is past"
            )));
        }
        (Holder::RepairCentre, day) => day,
        _ => None,
    };
    let _turn = state.turns.register().await;
    let known = state.store.registered(std::slice::from_ref(&serial)).await?;
    let Some(registered) = known.get(&serial) else {
        return Err(DeskError::Invalid(format!(
            "终端 {serial} 不在登记表中 / terminal {serial} is not in the register"
        )));
    };
    let event = check_in_event(registered.state, registered.holder.as_ref(), &at);
    let mut messages = Vec::new();
    if event == Some(TerminalEvent::ReturnToStock) {
        let visits = state.store.terminal_visits(&user.principal(), &serial).await?;
        if let Some(repair) = visits.iter().find(|v| v.kind == VisitKind::Repair.code()) {
            let phone = repair.merchant_phone.as_deref();
            messages.push(crate::outbox::repair_back(&repair.id, &serial, &repair.merchant, phone));
        }
    }
    let detail = format!("{serial} to {} {}", at.kind(), at.name());
    state
        .store
        .check_in(CheckIn {
            serial: serial.clone(),
            state: registered.state,
            at,
            event,
            condition: arrival.condition.trim().to_owned(),
            seal: arrival.seal.trim().to_owned(),
            promised_back: promised_back.map(|d| d.to_string()),
            actor: user.name.clone(),
            at_time: state.clock.now(),
            audit: user.audit(None, DeskAction::CheckIn, &detail),
            messages,
        })
        .await?;
    tracing::info!(user = %user.name, %serial, ?event, "terminal checked in");
    Ok((serial, event))
}

/// Imports a register CSV: keeps the good rows, reports the bad ones.
pub async fn import_terminals(state: &State, user: &DeskUser, csv: &str) -> Result<ImportReport, DeskError> {
    user.require(DeskAction::Import)?;
    // The register's writers take turns with the desk's decisions, whose
    // plans are made from what the register holds.
    let _turn = state.turns.register().await;
    let report = import::import_terminals(state.store.as_ref(), csv, |report| {
        let detail = format!("{} imported, {} refused", report.imported, report.bad.len());
        user.audit(None, DeskAction::Import, &detail)
    })
    .await?;
    tracing::info!(user = %user.name, imported = report.imported, bad = report.bad.len(), "terminals imported");
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reviewers_judge_work_and_administrators_also_give_it_out() {
        // (action, a reviewer may, an administrator may)
        let cases = [
            (DeskAction::Review, true, true),
            (DeskAction::DecideApplication, true, true),
            (DeskAction::CheckIn, true, true),
            (DeskAction::Assign, false, true),
            (DeskAction::Create, false, true),
            (DeskAction::Import, false, true),
        ];
        assert_eq!(cases.len(), DeskAction::ALL.len(), "every action has a case");
        for (action, reviewer, admin) in cases {
            let user = |role| DeskUser { name: "chen".into(), role };
            assert_eq!(user(UserRole::Reviewer).may(action), reviewer, "{action:?}");
            assert_eq!(user(UserRole::Admin).may(action), admin, "{action:?}");
        }
    }
}
