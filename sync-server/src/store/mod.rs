//! The server's storage boundary: every query the server makes, behind one
//! interface, [`Store`], with two engines behind it: the embedded SQLite
//! file ([`sqlite`], the default) and PostgreSQL ([`postgres`]).
//!
//! The interface speaks the server's terms (visits, devices, users and
//! their sessions, the register, audit entries), never an engine's: no SQL, no connection and
//! no transaction crosses it, so a second engine (PostgreSQL) implements
//! the same methods with its own dialect. Each method is one unit of work:
//! it commits everything it writes, or nothing, before its future resolves.
//!
//! **The access rule lives here.** Every method that reads or writes a
//! visit or a blob for someone takes that someone as a [`Principal`], and
//! the engine applies the one rule: an agent reaches the visits it owns
//! (first sent) or is assigned, and the blobs those visits refer to; the
//! back office reaches every visit. [`Store::reaches_visits`] is the rule
//! for given visits (pushes, the samod policy, office reads), and the list
//! queries (manifest, missing blobs, blob reads) are scoped by the same
//! rule in the engine.
//!
//! The interface is asynchronous (docs/decisions.md says why): methods
//! return boxed futures, so the trait is object safe and the server holds
//! an `Arc<dyn Store>`.

pub mod postgres;
pub mod rows;
pub mod sqlite;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use futures::future::BoxFuture;
use posfield_shared::lifecycle::{TerminalEvent, TerminalState};
use posfield_shared::protocol::ManifestEntry;
use posfield_shared::visit::outcome::{Holder, RegisterPlan, Registered};
use posfield_sync_link_server::storage::KvStore;

/// What a store method's future resolves to.
pub type StoreFuture<'a, T> = BoxFuture<'a, Result<T, StoreError>>;

/// A storage failure. The message says what the engine reported; it is
/// logged, never shown to a client.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The engine failed to read or write.
    #[error("database error: {0}")]
    Engine(String),
    /// The schema could not be brought up to date.
    #[error("database migration failed: {0}")]
    Migration(String),
    /// The database cannot be reached now (refused, restarting, the
    /// connection cut): nothing was written, and the same request may be
    /// made again later.
    #[error("the database cannot be reached: {0}")]
    Unavailable(String),
    /// The work was cancelled (the server is shutting down).
    #[error("the server is shutting down")]
    Cancelled,
    /// The register changed between the decision's plan and its write: the
    /// decision was not written, and may be taken again.
    #[error("terminal {0} changed in the register meanwhile: try again")]
    RegisterChanged(String),
    /// A newer server migrated the database: this one must not run on it.
    #[error(
        "the database's schema is version {found}, newer than the {known} this server knows; run a server of the version that migrated it, or restore a backup"
    )]
    NewerSchema {
        /// The schema version the database holds.
        found: i64,
        /// The newest version this server's migrations reach.
        known: i64,
    },
}

/// A back-office role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UserRole {
    /// Reviews visits.
    Reviewer,
    /// Reviews, assigns and administers.
    Admin,
}

impl UserRole {
    /// Stable code.
    pub fn code(self) -> &'static str {
        match self {
            UserRole::Reviewer => "reviewer",
            UserRole::Admin => "admin",
        }
    }

    /// The role of a stable code; anything but `admin` is a reviewer.
    pub fn from_code(code: &str) -> UserRole {
        if code == "admin" { UserRole::Admin } else { UserRole::Reviewer }
    }
}

/// Who a request acts for. Only the request extractors make one (the
/// device credential, the back office's Basic sign-in and sessions), and
/// the server's own work (projections, the demo) acts as no principal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    /// An agent, through one of its enrolled devices.
    Agent {
        /// The agent's name.
        agent: String,
        /// The server's id of the device.
        device: String,
    },
    /// A signed-in back-office user.
    Office {
        /// The user's name.
        name: String,
        /// The user's role.
        role: UserRole,
    },
}

impl Principal {
    /// The agent an agent principal acts for.
    pub fn agent(&self) -> Option<&str> {
        match self {
            Principal::Agent { agent, .. } => Some(agent),
            Principal::Office { .. } => None,
        }
    }

    /// The server's id of the device an agent principal acts through.
    pub fn device(&self) -> Option<&str> {
        match self {
            Principal::Agent { device, .. } => Some(device),
            Principal::Office { .. } => None,
        }
    }

    /// The name recorded in logs and audit entries.
    pub fn name(&self) -> &str {
        match self {
            Principal::Agent { agent, .. } => agent,
            Principal::Office { name, .. } => name,
        }
    }
}

/// A device's credential as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceRecord {
    /// The server's id of the device.
    pub id: String,
    /// The agent it belongs to.
    pub agent: String,
    /// When the credential expires (Unix seconds).
    pub expires_at: i64,
    /// Whether it was revoked.
    pub revoked: bool,
    /// The credential is a renewal not used before: its first use makes it
    /// the device's credential ([`Store::take_renewal`]).
    pub renewal: bool,
    /// The versions the device last sent, if it ever sent any.
    pub seen: Option<SeenVersion>,
    /// An administrator asked for the phone to be wiped at its next contact.
    pub wipe_requested: bool,
    /// An administrator asked for the phone's device key to be replaced.
    pub key_rotation_requested: bool,
}

/// A device's Ed25519 public keys (lowercase hex), for its key's rotation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceKeys {
    /// The agent it belongs to.
    pub agent: String,
    /// The key registered now.
    pub current: String,
    /// The keys it replaced, the most recently replaced first.
    pub earlier: Vec<String>,
    /// An administrator asked for the key to be replaced, not done yet.
    pub rotation_requested: bool,
}

/// The versions a device said it runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeenVersion {
    /// The app version (semantic versioning).
    pub app: String,
    /// The visit schema version it writes, when it said.
    pub schema: Option<u32>,
    /// The sync protocol it speaks.
    pub protocol: u32,
}

/// A renewed credential to hold until its first use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Renewal {
    /// The device.
    pub device_id: String,
    /// SHA-256 (hex) of the new credential.
    pub token_hash: String,
    /// Now (Unix seconds).
    pub at: i64,
    /// When the new credential expires (Unix seconds).
    pub expires_at: i64,
}

/// Renewals of one device that may wait for their first use at once. A
/// renewal whose answer was lost never replaces one the phone stored: a
/// request the network delayed can reach the server after a later one.
pub const RENEWALS_KEPT: i64 = 8;

/// One enrolled device, as the back office lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceRow {
    /// The server's id of the device.
    pub id: String,
    /// The agent it belongs to.
    pub agent: String,
    /// The name the phone gave.
    pub name: String,
    /// Enrolled (Unix seconds).
    pub enrolled_at: i64,
    /// When its credential expires (Unix seconds).
    pub expires_at: i64,
    /// When it was revoked (Unix seconds).
    pub revoked_at: Option<i64>,
    /// The versions it last sent, if it ever sent any.
    pub seen: Option<SeenVersion>,
    /// Since when it sends them (Unix seconds).
    pub seen_since: Option<i64>,
    /// When an administrator asked for it to be wiped, and who.
    pub wipe_requested: Option<(i64, String)>,
    /// When the phone said it destroyed its keys (Unix seconds).
    pub wiped_at: Option<i64>,
    /// Its Ed25519 public key now (lowercase hex).
    pub public_key: String,
    /// When an administrator asked for its key to be replaced, and who, until the phone does.
    pub key_rotation_requested: Option<(i64, String)>,
    /// How many keys rotations replaced.
    pub earlier_keys: usize,
}

/// A device to enrol with a one-time code, everything hashed already.
#[derive(Debug, Clone)]
pub struct NewDevice {
    /// SHA-256 (hex) of the normalized enrolment code.
    pub code_hash: String,
    /// The server's id of the new device.
    pub device_id: String,
    /// SHA-256 (hex) of the credential.
    pub token_hash: String,
    /// The device id the phone stamps on its edits.
    pub client_device_id: String,
    /// The device's name.
    pub name: String,
    /// Ed25519 public key (lowercase hex) that signs acceptances.
    pub public_key: String,
    /// Now (Unix seconds).
    pub at: i64,
    /// When the credential expires (Unix seconds).
    pub expires_at: i64,
    /// The random start of every automerge actor the device writes under
    /// (unique: an enrolment drawing one another device has fails whole).
    pub actor_prefix: [u8; crate::actors::PREFIX_LEN],
    /// SHA-256 (hex) of the credential the phone held before, when it
    /// enrols again: a device of the same agent with that credential (live,
    /// expired or revoked) is replaced, and its actor prefix and bound
    /// actors become the new device's.
    pub previous_token_hash: Option<String>,
}

/// Who the automerge actors a device's push brings belong to, as far as
/// the store knows ([`Store::actor_owners`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ActorOwners {
    /// The pushing device's actor prefix; `None` for a device enrolled
    /// before prefixes were given.
    pub own_prefix: Option<Vec<u8>>,
    /// For each actor asked about, in order.
    pub actors: Vec<ActorOwner>,
}

/// Who one automerge actor belongs to.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ActorOwner {
    /// The device whose prefix the actor starts with.
    pub prefix_of: Option<String>,
    /// The device the actor is bound to.
    pub bound_to: Option<String>,
}

/// A back-office user as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserRecord {
    /// Role.
    pub role: UserRole,
    /// The argon2id PHC string.
    pub password_hash: String,
}

/// A back-office session to store. Only the token's SHA-256 is stored, so
/// a copy of the database opens no session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewSession {
    /// SHA-256 (hex) of the session token.
    pub token_hash: String,
    /// The signed-in user.
    pub user: String,
    /// The password hash the sign-in was checked against: the session is
    /// opened only if the user still has it.
    pub password_hash: String,
    /// The token the session's POST forms carry.
    pub csrf: String,
    /// When it was opened (Unix seconds).
    pub at: i64,
}

/// How long back-office sessions live; the store applies them whenever it
/// reads or adds a session, so a shorter setting holds for open sessions too.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionLimits {
    /// A session unused for this many seconds is over.
    pub idle_secs: i64,
    /// A session opened this many seconds ago is over, however much it is used.
    pub lifetime_secs: i64,
    /// At most this many sessions per user; the least recently used go first.
    pub per_user: usize,
}

impl SessionLimits {
    /// Whether a session opened at `created_at` and last used at
    /// `last_used_at` is still live at `at` (all Unix seconds).
    pub fn live(&self, created_at: i64, last_used_at: i64, at: i64) -> bool {
        at - last_used_at < self.idle_secs && at - created_at < self.lifetime_secs
    }
}

/// A live back-office session, as read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRecord {
    /// The signed-in user.
    pub user: String,
    /// The user's role now.
    pub role: UserRole,
    /// The token the session's POST forms carry.
    pub csrf: String,
    /// When it was opened (Unix seconds).
    pub created_at: i64,
    /// When it was last used (Unix seconds).
    pub last_used_at: i64,
}

/// The actor of audit rows written for the server's command line (users
/// added or removed, enrolment codes issued, devices revoked): the
/// operator on the server's host, who signs in nowhere. No user or agent
/// can take the name: names are letters, digits, `-`, `_` and `.` only.
pub const COMMAND_LINE: &str = "(command line)";

/// An entry of the audit log, to append.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEntry {
    /// The visit it is about.
    pub visit_id: Option<String>,
    /// Who acted.
    pub actor: String,
    /// What happened (stable code).
    pub action: String,
    /// Details.
    pub detail: String,
}

impl AuditEntry {
    /// An entry.
    pub fn new(visit_id: Option<&str>, actor: &str, action: &str, detail: &str) -> AuditEntry {
        AuditEntry {
            visit_id: visit_id.map(str::to_owned),
            actor: actor.to_owned(),
            action: action.to_owned(),
            detail: detail.to_owned(),
        }
    }
}

/// An entry of the audit log, as read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditRecord {
    /// When (Unix seconds).
    pub at: i64,
    /// The entry.
    pub entry: AuditEntry,
}

/// The audit log's filters; `None` matches anything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditQuery {
    /// Who (exactly).
    pub actor: Option<String>,
    /// The action code (exactly).
    pub action: Option<String>,
    /// The visit (exactly).
    pub visit_id: Option<String>,
    /// From this time (Unix seconds)…
    pub from: Option<i64>,
    /// …to before this one.
    pub until: Option<i64>,
    /// Entries older than this id (the next page).
    pub before: Option<i64>,
}

/// What the projection holds of a visit: what a new document is compared with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Projected {
    /// Sorted hex heads, comma separated, of the document last projected.
    pub heads: String,
    /// JSON of the trusted back-office fields.
    pub office: String,
    /// The agent that owns the visit.
    pub owner: String,
}

/// A countersignature of an acceptance, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Countersignature {
    /// The signed summary's hash.
    pub content_hash: String,
    /// The strokes' hash.
    pub strokes_sha256: String,
    /// The signature image's hash.
    pub image_sha256: String,
    /// The device id the acceptance is stamped with (the phone's words).
    pub device_id: String,
    /// Whether the device's signature verified with the key of the device
    /// that brought it, and the acceptance names that device.
    pub device_signature_valid: bool,
    /// Which of that device's keys (current or earlier, hex) verified it.
    pub device_public_key: Option<String>,
    /// The server's signature (hex).
    pub server_signature: String,
    /// The public key of the server key that made it (hex): a
    /// countersignature stays verifiable by its key after a rotation.
    pub server_public_key: String,
    /// When it arrived (Unix seconds).
    pub received_at: i64,
}

/// The enrolled device whose push brought an acceptance, as the store
/// holds it: the only device whose key may verify the acceptance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SigningDevice {
    /// The server's id of the device.
    pub id: String,
    /// The agent it belongs to.
    pub agent: String,
    /// The device id the phone chose at enrolment, which it stamps on its edits.
    pub client_device_id: String,
    /// Ed25519 public key (lowercase hex) registered now: at enrolment, or
    /// at the last rotation.
    pub public_key: String,
    /// The keys it had before, replaced by rotations: an acceptance signed
    /// before a rotation and pushed after it verifies with the key that
    /// made it.
    pub earlier_keys: Vec<String>,
}

/// Signs an acceptance given the device that brought it, if it is enrolled.
pub type Countersign = Box<dyn FnOnce(Option<&SigningDevice>) -> Countersignature + Send>;

/// An acceptance to countersign once, the first time it is projected.
pub struct PendingCountersignature {
    /// The signed summary's hash (with the visit, what makes it new).
    pub content_hash: String,
    /// The server's id of the device whose push or sync connection brought
    /// the acceptance, whose key is looked up (never the id a phone chose).
    pub device_id: String,
    /// Makes the countersignature.
    pub sign: Countersign,
}

impl std::fmt::Debug for PendingCountersignature {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PendingCountersignature")
            .field("content_hash", &self.content_hash)
            .field("device_id", &self.device_id)
            .finish_non_exhaustive()
    }
}

/// A visit's projection row, ready to write.
#[derive(Debug)]
pub struct ProjectionRow {
    /// Visit id.
    pub id: String,
    /// The agent that owns it.
    pub owner: String,
    /// Kind code.
    pub kind: String,
    /// Status code.
    pub status: String,
    /// Merchant name.
    pub merchant: String,
    /// Merchant number.
    pub merchant_number: Option<String>,
    /// The merchant's registered phone.
    pub merchant_phone: Option<String>,
    /// Terminal serial, once the agent identified it.
    pub serial: Option<String>,
    /// The terminal the desk dispatched the visit for, when it named one:
    /// what [`Store::open_visits`] finds it by until the agent identifies
    /// one. Kept apart from `serial`: the fleet's terminals, a terminal's
    /// visits and the repeat-fault count learn nothing from it.
    pub dispatched_serial: Option<String>,
    /// When the agent arrived (the phone's clock, Unix seconds).
    pub arrived_at: Option<i64>,
    /// When the agent completed it (the phone's clock, Unix seconds).
    pub completed_at: Option<i64>,
    /// Assigned agent.
    pub assignee: String,
    /// Who created it.
    pub created_by: String,
    /// Created (Unix seconds).
    pub created_at: i64,
    /// Last change (Unix seconds).
    pub updated_at: i64,
    /// Hex heads of the document, sorted.
    pub heads: Vec<String>,
    /// JSON of the trusted back-office fields.
    pub office: String,
    /// Every blob the visit refers to.
    pub blobs: BTreeSet<String>,
    /// SIM card ICCID.
    pub sim_iccid: Option<String>,
    /// SIM carrier code.
    pub sim_carrier: Option<String>,
    /// SIM expiry (`YYYY-MM-DD`).
    pub sim_expiry: Option<String>,
    /// The acceptance to countersign, if the visit has one.
    pub countersign: Option<PendingCountersignature>,
    /// What the decision that wrote this row does to the terminal register,
    /// applied with the row, once per visit and cause.
    pub register: Option<RegisterWrite>,
    /// What the merchant must be told of the decision that wrote the row,
    /// enqueued in the same transaction; a message whose idempotency key
    /// the outbox holds already is left out (a re-approval, a re-projection).
    pub messages: Vec<OutboxMessage>,
}

/// What caused a change of the register.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RegisterCause {
    /// The visit was approved.
    VisitApproved,
    /// The visit's reactivation application was approved.
    ApplicationApproved,
}

impl RegisterCause {
    /// Stable code in `register_effects` and `terminal_events`.
    pub fn code(self) -> &'static str {
        match self {
            RegisterCause::VisitApproved => "visit_approved",
            RegisterCause::ApplicationApproved => "application_approved",
        }
    }
}

/// What the register holds for a decision on a visit, read under the
/// register's turn: its terminals, and which of the visit's effects were
/// written already.
#[derive(Debug, Clone, Default)]
pub struct RegisterNow {
    /// What the register holds of the visit's terminals.
    pub known: BTreeMap<String, Registered>,
    /// The causes whose effects for this visit were written.
    pub applied: Vec<RegisterCause>,
}

impl RegisterNow {
    /// Whether the visit's effects of `cause` were written.
    pub fn applied(&self, cause: RegisterCause) -> bool {
        self.applied.contains(&cause)
    }
}

/// A decision's plan for the register, to write with its projection row.
#[derive(Debug, Clone)]
pub struct RegisterWrite {
    /// What caused it.
    pub cause: RegisterCause,
    /// The plan ([`posfield_shared::visit::outcome`]), which names the
    /// state each terminal was in when it was made.
    pub plan: RegisterPlan,
    /// The office user who decided.
    pub actor: String,
}

/// One change of a terminal in the register, with the visit that caused it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TerminalEventRow {
    /// The terminal.
    pub serial: String,
    /// The visit whose decision caused it.
    pub visit_id: String,
    /// A [`RegisterCause`] code.
    pub cause: String,
    /// A `TerminalEvent` code; `None` for a change of facts alone.
    pub event: Option<String>,
    /// The state before (`None`: the register did not know the terminal).
    pub from_state: Option<String>,
    /// The state after.
    pub to_state: String,
    /// What else changed, in words.
    pub detail: String,
    /// When it was written (Unix seconds).
    pub at: i64,
    /// Who decided.
    pub actor: String,
}

/// A terminal checked in at the warehouse or a repair centre.
#[derive(Debug, Clone)]
pub struct CheckIn {
    /// The terminal.
    pub serial: String,
    /// Its state when the check-in was decided.
    pub state: TerminalState,
    /// Where it is checked in: [`Holder::Warehouse`] or [`Holder::RepairCentre`].
    pub at: Holder,
    /// Its lifecycle event ([`posfield_shared::visit::outcome::check_in_event`]).
    pub event: Option<TerminalEvent>,
    /// Its condition, in the receiver's words.
    pub condition: String,
    /// The tamper-seal or bag number.
    pub seal: String,
    /// When a repair centre promised it back.
    pub promised_back: Option<String>,
    /// The office user who received it.
    pub actor: String,
    /// When (Unix seconds, the server's [`crate::clock::Clock`]).
    pub at_time: i64,
    /// The decision's audit entry.
    pub audit: AuditEntry,
    /// What the merchant must be told of it (a repair back), enqueued with it.
    pub messages: Vec<OutboxMessage>,
}

/// One hand-over of a terminal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustodyRow {
    /// Who gave it (a holder kind), when known.
    pub from_kind: Option<String>,
    /// The giver's name.
    pub from_name: String,
    /// Who received it (a holder kind).
    pub to_kind: String,
    /// The receiver's name.
    pub to_name: String,
    /// When (Unix seconds): the device's time for a visit, the server's for a check-in.
    pub at: i64,
    /// Where.
    pub place: String,
    /// Its condition.
    pub condition: String,
    /// The seal or bag number.
    pub seal: String,
    /// The visit in which it changed hands, if any.
    pub visit_id: Option<String>,
    /// What confirms it.
    pub confirmed_by: String,
    /// When a repair centre promised it back.
    pub promised_back: Option<String>,
}

/// Who holds a terminal now, by the register.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct HolderNow {
    /// A holder kind, when known.
    pub kind: Option<String>,
    /// The holder's name.
    pub name: String,
    /// Since when (Unix seconds).
    pub since: Option<i64>,
    /// When a repair centre promised it back.
    pub promised_back: Option<String>,
}

/// A message for the merchant, to enqueue in the outbox ([`crate::outbox`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxMessage {
    /// Stable for one event of one visit, whatever retries or re-approvals:
    /// the outbox holds one message per key, and receivers drop repeats by it.
    pub key: String,
    /// The event's code ([`crate::outbox::Event::code`]).
    pub event: String,
    /// The visit that caused it.
    pub visit_id: String,
    /// The merchant's registered phone; `None` keeps the message as
    /// [`OutboxState::NoRecipient`], never sent.
    pub recipient: Option<String>,
    /// The event's parameters, a JSON object.
    pub payload: String,
}

/// Where a message of the outbox stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutboxState {
    /// Waiting for its next attempt.
    Pending,
    /// Taken by a delivery worker: being sent now, or left by a worker that stopped.
    Sending,
    /// The receiver took it.
    Delivered,
    /// Given up: the receiver refused it for good, or every attempt failed.
    Failed,
    /// Kept only: the merchant has no registered phone.
    NoRecipient,
}

impl OutboxState {
    /// Every state.
    pub const ALL: [OutboxState; 5] = [
        OutboxState::Pending,
        OutboxState::Sending,
        OutboxState::Delivered,
        OutboxState::Failed,
        OutboxState::NoRecipient,
    ];

    /// Stable code, as stored.
    pub fn code(self) -> &'static str {
        match self {
            OutboxState::Pending => "pending",
            OutboxState::Sending => "sending",
            OutboxState::Delivered => "delivered",
            OutboxState::Failed => "failed",
            OutboxState::NoRecipient => "no_recipient",
        }
    }

    /// The state of a stable code.
    pub fn from_code(code: &str) -> Option<OutboxState> {
        OutboxState::ALL.into_iter().find(|s| s.code() == code)
    }
}

/// A message of the outbox, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxRecord {
    /// The store's id of it.
    pub id: i64,
    /// The message.
    pub message: OutboxMessage,
    /// Where it stands.
    pub state: OutboxState,
    /// Attempts made (a message taken counts one, whether or not its answer came).
    pub attempts: u32,
    /// When it is due (Unix seconds); for a message being sent, when its
    /// worker's lease runs out.
    pub next_attempt_at: i64,
    /// What the last failed attempt met.
    pub last_error: Option<String>,
    /// Enqueued (Unix seconds).
    pub created_at: i64,
    /// Delivered (Unix seconds).
    pub delivered_at: Option<i64>,
}

/// The newest messages of the outbox, and how many it holds in each state.
pub type OutboxView = (Vec<OutboxRecord>, Vec<(OutboxState, i64)>);

/// What one delivery attempt came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeliveryOutcome {
    /// The receiver took the message.
    Delivered,
    /// It failed; the next attempt is at this time (Unix seconds).
    Retry {
        /// What the attempt met.
        error: String,
        /// When to try again (Unix seconds).
        at: i64,
    },
    /// It failed for good.
    Failed {
        /// What the attempt met.
        error: String,
    },
}

/// What the server knows of a visit beyond its document.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VisitFacts {
    /// Blobs the visit refers to that have not arrived.
    pub missing_blobs: Vec<String>,
    /// The newest countersignature of the visit's acceptances, if any.
    pub countersignature: Option<CountersignatureFact>,
}

impl VisitFacts {
    /// Whether the device signature of the acceptance whose summary hash is
    /// `content_hash` verified: `None` when the server countersigned no
    /// acceptance of the visit, `false` when the newest one it did is another.
    pub fn device_signature_valid(&self, content_hash: Option<&str>) -> Option<bool> {
        let fact = self.countersignature.as_ref()?;
        Some(fact.device_signature_valid && Some(fact.content_hash.as_str()) == content_hash)
    }
}

/// What the server recorded when it countersigned an acceptance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CountersignatureFact {
    /// The signed summary's hash.
    pub content_hash: String,
    /// Whether the device signature verified with the key of the device that brought it.
    pub device_signature_valid: bool,
    /// When it arrived (Unix seconds).
    pub received_at: i64,
    /// The device whose key it was verified with; `None` for acceptances
    /// countersigned before the server recorded it.
    pub device: Option<SignerDevice>,
    /// The server's signature (hex).
    pub server_signature: String,
    /// The public key of the server key that made it (hex); `None` until
    /// the server has moved its key out of the database once.
    pub server_public_key: Option<String>,
}

/// The device whose key an acceptance was verified with, as the back office shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignerDevice {
    /// The server's id of the device.
    pub id: String,
    /// The agent it belongs to.
    pub agent: String,
    /// The name the phone gave at enrolment.
    pub name: String,
    /// The Ed25519 public key (lowercase hex) that verified the acceptance,
    /// current or since replaced; the device's current key for an
    /// acceptance countersigned before the server recorded which.
    pub public_key: String,
    /// When it was enrolled (Unix seconds).
    pub enrolled_at: i64,
}

/// How the visit list matches a merchant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MerchantMatch {
    /// The merchant number, exactly.
    Number(String),
    /// Text the merchant's name contains (taken literally).
    NameContains(String),
}

/// The visit list's filters, each optional.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VisitQuery {
    /// Status code.
    pub status: Option<String>,
    /// Kind code.
    pub kind: Option<String>,
    /// Assigned agent.
    pub assignee: Option<String>,
    /// The merchant.
    pub merchant: Option<MerchantMatch>,
    /// Start of the terminal serial.
    pub serial_prefix: Option<String>,
    /// Last change at or after (Unix seconds).
    pub updated_from: Option<i64>,
    /// Last change before (Unix seconds).
    pub updated_before: Option<i64>,
    /// The key (`updated_at`, id) after which the page starts.
    pub after: Option<(i64, String)>,
    /// Oldest change first (the review queue), rather than newest first;
    /// `after` then pages forward in that order.
    pub oldest_first: bool,
}

/// A page of a visit list, and the key (`updated_at`, id) after which the
/// next page starts, if there is one.
pub type VisitPage = (Vec<VisitRow>, Option<(i64, String)>);

/// One row of a visit list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VisitRow {
    /// Visit id.
    pub id: String,
    /// Kind code.
    pub kind: String,
    /// Status code.
    pub status: String,
    /// Merchant name.
    pub merchant: String,
    /// Merchant number.
    pub merchant_number: Option<String>,
    /// The merchant's registered phone, whole: shown through
    /// [`crate::personal::phone_for`] only.
    pub merchant_phone: Option<String>,
    /// Terminal serial.
    pub serial: Option<String>,
    /// Assigned agent.
    pub assignee: String,
    /// Created (Unix seconds).
    pub created_at: i64,
    /// Last change (Unix seconds).
    pub updated_at: i64,
    /// Photos not yet received.
    pub blobs_missing: i64,
}

/// One terminal as the back office knows it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TerminalRow {
    /// Serial.
    pub serial: String,
    /// Current merchant.
    pub merchant: String,
    /// Merchant number.
    pub merchant_number: Option<String>,
    /// Model.
    pub model: Option<String>,
    /// Manufacturer.
    pub manufacturer: Option<String>,
    /// TerminalState code, when registered.
    pub state: Option<String>,
    /// Production date.
    pub production_date: Option<String>,
    /// Warranty end.
    pub warranty_end: Option<String>,
    /// SIM ICCID.
    pub sim_iccid: Option<String>,
    /// SIM carrier code.
    pub sim_carrier: Option<String>,
    /// SIM expiry.
    pub sim_expiry: Option<String>,
    /// The last visit's id.
    pub last_visit: Option<String>,
}

/// A row of the terminal register, normalized, to import.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RegisterRow {
    /// Serial.
    pub serial: String,
    /// Model.
    pub model: Option<String>,
    /// Manufacturer.
    pub manufacturer: Option<String>,
    /// Merchant name.
    pub merchant: Option<String>,
    /// Merchant number.
    pub merchant_number: Option<String>,
    /// TerminalState code.
    pub state: String,
    /// Production date (`YYYY-MM-DD`).
    pub production_date: Option<String>,
    /// Warranty end (`YYYY-MM-DD`).
    pub warranty_end: Option<String>,
    /// SIM ICCID.
    pub sim_iccid: Option<String>,
    /// SIM carrier code.
    pub sim_carrier: Option<String>,
    /// SIM expiry (`YYYY-MM-DD`).
    pub sim_expiry: Option<String>,
    /// The shop's latitude, millionths of a degree (WGS-84), with `lon_e6`.
    pub lat_e6: Option<i64>,
    /// The shop's longitude.
    pub lon_e6: Option<i64>,
}

/// A terminal with a reason to look at it, and a number (days left, age
/// in years or a count) that says how urgent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TerminalAlert {
    /// The terminal.
    pub terminal: TerminalRow,
    /// The date the alert is about (expiry, production date, warranty end).
    pub date: String,
    /// Days left (negative: past), years of age, or repairs.
    pub figure: i64,
}

/// The first rows of an alert and how many there are in all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlertList<T> {
    /// The most urgent rows, at most [`ALERT_ROWS`].
    pub rows: Vec<T>,
    /// How many rows the alert has in all.
    pub total: i64,
}

/// At most this many serials in one ask for their open visits (a page of
/// alerts, a bulk dispatch).
pub const OPEN_VISITS_SERIALS: usize = 500;

/// The statuses of a visit still open: the desk has not approved or
/// cancelled it.
pub const OPEN_STATUSES: &[&str] = &["draft", "in_progress", "completed", "returned"];

/// What the dashboard is taken over, worked out by the caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DashboardWindow {
    /// Now (Unix seconds).
    pub now: i64,
    /// Visits created, and completed, from this time on are counted per day.
    pub since: i64,
    /// SIM expiries from this day (`YYYY-MM-DD`)…
    pub sim_from: String,
    /// …to this day.
    pub sim_until: String,
    /// Repairs from this time on count towards a repeat fault (two or more).
    pub repairs_since: i64,
}

/// The dashboard's figures, as the store counts them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DashboardFigures {
    /// Visits created per Beijing day (days since 1970-01-01) and kind.
    pub per_day_kind: Vec<(i64, String, i64)>,
    /// Visits created per Beijing day and assigned agent.
    pub per_day_agent: Vec<(i64, String, i64)>,
    /// Visits waiting for review by how long: under a day, one to three
    /// days, three to seven, seven and more.
    pub backlog: [i64; 4],
    /// When the longest-waiting visit last changed.
    pub oldest_waiting: Option<i64>,
    /// Terminals in service per SIM expiry day in the window.
    pub sim_expiries: Vec<(String, i64)>,
    /// Registered terminals per lifecycle state code.
    pub states: Vec<(String, i64)>,
    /// Visits completed in the window with an arrival before it: how many,
    /// and their seconds from arrival to completion in all.
    pub arrival_to_completion: (i64, i64),
    /// Terminals with two or more repair visits since `repairs_since`.
    pub repeated_faults: i64,
}

/// Counts by (day, kind, agent) as the engines group them, split into the
/// dashboard's per-day counts by kind and by agent.
#[allow(clippy::type_complexity)]
pub(crate) fn split_per_day(
    grouped: Vec<(i64, String, String, i64)>,
) -> (Vec<(i64, String, i64)>, Vec<(i64, String, i64)>) {
    let mut kinds: BTreeMap<(i64, String), i64> = BTreeMap::new();
    let mut agents: BTreeMap<(i64, String), i64> = BTreeMap::new();
    for (day, kind, agent, n) in grouped {
        *kinds.entry((day, kind)).or_default() += n;
        *agents.entry((day, agent)).or_default() += n;
    }
    let flat = |map: BTreeMap<(i64, String), i64>| map.into_iter().map(|((d, k), n)| (d, k, n)).collect();
    (flat(kinds), flat(agents))
}

/// The offset of Beijing time from UTC in seconds (no daylight saving):
/// a Unix time plus this, divided by a day, is its Beijing day.
pub const BEIJING_OFFSET_SECS: i64 = 8 * 3600;

/// Each alert list shows this many rows (the most urgent first) and its total.
pub const ALERT_ROWS: usize = 20;

/// The dates the alerts are taken at, worked out by the caller (days are
/// the fleet's, which the store does not know).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlertWindow {
    /// Today (`YYYY-MM-DD`).
    pub today: String,
    /// SIM cards expiring on or before this day.
    pub sim_until: String,
    /// Terminals produced on or before this day are old.
    pub old_until: String,
    /// Warranties ending on or before this day (and from today).
    pub warranty_until: String,
    /// Repairs counted from this time (Unix seconds).
    pub repairs_since: i64,
    /// Terminals last inspected on or before this day are due.
    pub inspection_until: String,
    /// Terminals an agent holds since before this time (Unix seconds) are held too long.
    pub held_before: i64,
    /// Terminals taken back and held by an agent since before this time are not checked in.
    pub recalled_before: i64,
}

/// What the alerts page shows. Terminal alerts carry their date; the
/// figure is the repairs' count for repeated faults and left at 0 for the
/// caller to work out from the date otherwise.
#[derive(Debug, Clone)]
pub struct Alerts {
    /// SIM cards expiring soon, or expired.
    pub sim_expiring: AlertList<TerminalAlert>,
    /// Old terminals.
    pub old_terminals: AlertList<TerminalAlert>,
    /// Warranties ending soon.
    pub warranty_ending: AlertList<TerminalAlert>,
    /// Terminals with two or more repair visits since the window's start.
    pub repeated_faults: AlertList<TerminalAlert>,
    /// Terminals in service whose last inspection (or, never inspected,
    /// whose entry into service) is on or before the window's
    /// `inspection_until`.
    pub inspection_due: AlertList<TerminalAlert>,
    /// Terminals an agent has held since before the window's `held_before`.
    pub held_too_long: AlertList<TerminalAlert>,
    /// Terminals taken back that an agent has held since before the
    /// window's `recalled_before`: not checked in.
    pub recalled_not_checked_in: AlertList<TerminalAlert>,
    /// Terminals at a repair centre past the day it promised them back.
    pub repair_overdue: AlertList<TerminalAlert>,
    /// Reactivation applications waiting for a decision.
    pub waiting_applications: AlertList<VisitRow>,
    /// Visits whose photos have not all arrived.
    pub incomplete_blobs: AlertList<VisitRow>,
    /// Visits waiting for review.
    pub waiting_review: i64,
    /// Returned visits.
    pub returned: i64,
}

/// Visits held against the other server nodes on the same store
/// ([`Store::hold_visits`]); dropping it gives them back.
#[derive(Default)]
pub struct HeldVisits(Option<Box<dyn std::any::Any + Send + Sync>>);

impl HeldVisits {
    /// Held as long as `guard` lives.
    pub fn new(guard: impl std::any::Any + Send + Sync) -> HeldVisits {
        HeldVisits(Some(Box::new(guard)))
    }
}

impl std::fmt::Debug for HeldVisits {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("HeldVisits").field(&self.0.is_some()).finish()
    }
}

/// The server's storage. See the module documentation for the rules every
/// engine keeps.
pub trait Store: Send + Sync + std::fmt::Debug + 'static {
    /// Waits until no other server node on this store holds any of visits
    /// `ids` (sorted, each once) and holds them until the answer is
    /// dropped: a projection reads a visit's row and documents and writes
    /// the row again, which two nodes must not do at once. An engine one
    /// process serves alone (SQLite) holds nothing; the process's own
    /// turns ([`crate::turns`]) order its work.
    fn hold_visits<'a>(&'a self, ids: &'a [String]) -> StoreFuture<'a, HeldVisits> {
        let _ = ids;
        Box::pin(async { Ok(HeldVisits::default()) })
    }

    // ---------------------------------------------------------------- identities

    /// Creates the agent if needed and stores a one-time enrolment code's hash.
    fn add_enrolment_code<'a>(
        &'a self,
        agent: &'a str,
        code_hash: &'a str,
        at: i64,
        expires_at: i64,
    ) -> StoreFuture<'a, ()>;

    /// Consumes a live enrolment code and stores the device; returns the
    /// agent, or `None` (audited) when the code is unknown, used or expired.
    /// A device of the agent whose credential is the new device's previous
    /// one is revoked, and its actor prefix (when it has one: else the new
    /// device keeps its own) and bound actors go to the new device.
    fn enrol(&self, device: NewDevice) -> StoreFuture<'_, Option<String>>;

    /// The device a credential's hash belongs to.
    fn device_by_token<'a>(&'a self, token_hash: &'a str) -> StoreFuture<'a, Option<DeviceRecord>>;

    /// Revokes a live credential; returns whether there was one. A renewal
    /// not yet used goes with it.
    fn revoke_device<'a>(&'a self, device_id: &'a str, at: i64) -> StoreFuture<'a, bool>;

    /// Asks for a live device to be wiped at its next contact, audited
    /// under `actor`; returns whether there was such a device not asked
    /// already.
    fn request_wipe<'a>(&'a self, device_id: &'a str, actor: &'a str, at: i64) -> StoreFuture<'a, bool>;

    /// Records that a device asked to wipe itself says it did: its
    /// credential is revoked with it, audited. Returns whether a wipe was
    /// asked for this device.
    fn confirm_wiped<'a>(&'a self, device_id: &'a str, at: i64) -> StoreFuture<'a, bool>;

    /// Asks for a live device's key to be replaced at its next sync,
    /// audited under `actor`; returns whether there was such a device not
    /// asked already.
    fn request_key_rotation<'a>(
        &'a self,
        device_id: &'a str,
        actor: &'a str,
        at: i64,
    ) -> StoreFuture<'a, bool>;

    /// A device's current and earlier public keys.
    fn device_keys<'a>(&'a self, device_id: &'a str) -> StoreFuture<'a, Option<DeviceKeys>>;

    /// Replaces a device's key `old`, asked to be replaced, by `new`: `old`
    /// joins its earlier keys, the request is cleared, audited under the
    /// device's agent. Returns `false`, changing nothing, when `old` is no
    /// longer its key or no rotation is asked (another request won).
    fn replace_device_key<'a>(
        &'a self,
        device_id: &'a str,
        old: &'a str,
        new: &'a str,
        at: i64,
    ) -> StoreFuture<'a, bool>;

    /// Whether `device_id` is a device whose credential is not revoked (an
    /// open sync connection asks, as another process may revoke it).
    fn device_may_sync<'a>(&'a self, device_id: &'a str) -> StoreFuture<'a, bool>;

    /// Holds a renewed credential for a live device beside its credential
    /// and any other renewals not used yet (the newest [`RENEWALS_KEPT`]),
    /// audited; the device's credential stays valid until a renewal's
    /// first use. Returns whether the device was live (not revoked).
    fn add_renewal(&self, renewal: Renewal) -> StoreFuture<'_, bool>;

    /// Makes a renewal the device's credential, at its first use: the
    /// credential it replaces and the device's other renewals stop working.
    /// Nothing happens when the renewal is no longer waiting (another was
    /// used first).
    fn take_renewal<'a>(&'a self, device_id: &'a str, token_hash: &'a str) -> StoreFuture<'a, ()>;

    /// Records the versions a device sent, and since when.
    fn record_version<'a>(
        &'a self,
        device_id: &'a str,
        seen: &'a SeenVersion,
        at: i64,
    ) -> StoreFuture<'a, ()>;

    /// Every enrolled device, by agent and enrolment.
    fn devices(&self) -> StoreFuture<'_, Vec<DeviceRow>>;

    /// Device `device_id`'s actor prefix, and for each of `actors` the
    /// device whose prefix it starts with and the device it is bound to.
    fn actor_owners<'a>(&'a self, device_id: &'a str, actors: &'a [Vec<u8>]) -> StoreFuture<'a, ActorOwners>;

    /// Binds `actors` to device `device_id` at `at`, all or none: returns
    /// the first actor already bound to another device and that device,
    /// binding nothing then (a push of another device bound it meanwhile).
    fn bind_actors<'a>(
        &'a self,
        device_id: &'a str,
        actors: &'a [Vec<u8>],
        at: i64,
    ) -> StoreFuture<'a, Option<(Vec<u8>, String)>>;

    /// Adds a back-office user, or replaces the role and password of one
    /// and ends every session they have (their sessions were opened with
    /// the old role or password).
    fn put_user<'a>(&'a self, name: &'a str, role: UserRole, password_hash: &'a str) -> StoreFuture<'a, ()>;

    /// A back-office user.
    fn user<'a>(&'a self, name: &'a str) -> StoreFuture<'a, Option<UserRecord>>;

    /// Every back-office user and their role, by name.
    fn users(&self) -> StoreFuture<'_, Vec<(String, UserRole)>>;

    /// Removes a back-office user and ends their sessions; returns whether
    /// there was one.
    fn remove_user<'a>(&'a self, name: &'a str) -> StoreFuture<'a, bool>;

    // ---------------------------------------------------------------- back-office sessions

    /// Stores a new session, removes every session that is over at its
    /// time, and the user's least recently used ones beyond
    /// [`SessionLimits::per_user`]. Returns `false`, storing nothing, when
    /// the user is gone or their password is no longer the one the sign-in
    /// was checked against (it changed meanwhile).
    fn create_session<'a>(&'a self, session: &'a NewSession, limits: SessionLimits) -> StoreFuture<'a, bool>;

    /// The session of a token's hash if it is live at `at`, with its user's
    /// role now. A session that is over is removed and is `None`.
    fn session<'a>(
        &'a self,
        token_hash: &'a str,
        at: i64,
        limits: SessionLimits,
    ) -> StoreFuture<'a, Option<SessionRecord>>;

    /// Records that a session was used at `at`.
    fn touch_session<'a>(&'a self, token_hash: &'a str, at: i64) -> StoreFuture<'a, ()>;

    /// Ends a session (signing out); returns whether there was one.
    fn end_session<'a>(&'a self, token_hash: &'a str) -> StoreFuture<'a, bool>;

    /// Ends every session of a user; returns how many there were.
    fn end_user_sessions<'a>(&'a self, user: &'a str) -> StoreFuture<'a, u64>;

    /// The agents known to the server, by name.
    fn agents(&self) -> StoreFuture<'_, Vec<String>>;

    /// The agents a visit may go to, by name: those with at least one
    /// device whose credential is not revoked (an expired one enrols again).
    fn enrolled_agents(&self) -> StoreFuture<'_, Vec<String>>;

    // ---------------------------------------------------------------- settings and audit

    /// A setting.
    fn setting<'a>(&'a self, key: &'a str) -> StoreFuture<'a, Option<String>>;

    /// Stores a setting.
    fn set_setting<'a>(&'a self, key: &'a str, value: &'a str) -> StoreFuture<'a, ()>;

    /// Finishes moving the server's signing key out of the database, in one
    /// transaction: every countersignature that names no server key gets
    /// `public_key` (the only key there was), and the setting `key`, which
    /// held the secret, is deleted.
    fn signing_key_moved_out<'a>(&'a self, key: &'a str, public_key: &'a str) -> StoreFuture<'a, ()>;

    /// Appends to the audit log.
    fn audit(&self, entry: AuditEntry) -> StoreFuture<'_, ()>;

    /// The newest audit entries, of one visit or of all.
    fn audit_log<'a>(&'a self, visit_id: Option<&'a str>, limit: usize) -> StoreFuture<'a, Vec<AuditRecord>>;

    /// The newest audit entries that match `query`, at most `limit`, each
    /// with its id (a page after the last starts `before` it).
    fn audit_search<'a>(
        &'a self,
        query: &'a AuditQuery,
        limit: usize,
    ) -> StoreFuture<'a, Vec<(i64, AuditRecord)>>;

    // ---------------------------------------------------------------- access and sync

    /// The access rule: whether `principal` may read and write each of
    /// `visit_ids`, in order. With `claim`, a visit id the server has never
    /// seen is claimed for the agent (it owns the visit from then on);
    /// without, an unknown visit is not reached.
    fn reaches_visits<'a>(
        &'a self,
        principal: &'a Principal,
        visit_ids: &'a [String],
        claim: bool,
    ) -> StoreFuture<'a, Vec<bool>>;

    /// The access rule for one visit ([`Store::reaches_visits`]).
    fn reaches_visit<'a>(
        &'a self,
        principal: &'a Principal,
        visit_id: &'a str,
        claim: bool,
    ) -> StoreFuture<'a, bool> {
        Box::pin(async move {
            let reached = self.reaches_visits(principal, &[visit_id.to_owned()], claim).await?;
            Ok(reached.first().copied().unwrap_or(false))
        })
    }

    /// The visits `principal` reaches, with their projected heads.
    fn manifest<'a>(&'a self, principal: &'a Principal) -> StoreFuture<'a, Vec<ManifestEntry>>;

    /// Blobs the visits `principal` reaches refer to that have not arrived
    /// (at most `limit`, in hash order).
    fn missing_blobs<'a>(&'a self, principal: &'a Principal, limit: usize) -> StoreFuture<'a, Vec<String>>;

    /// Whether a visit `principal` reaches refers to blob `sha256`.
    fn reaches_blob<'a>(&'a self, principal: &'a Principal, sha256: &'a str) -> StoreFuture<'a, bool>;

    /// The visits `principal` reaches that refer to blob `sha256`, at most
    /// `limit` of them, by id.
    fn visits_with_blob<'a>(
        &'a self,
        principal: &'a Principal,
        sha256: &'a str,
        limit: usize,
    ) -> StoreFuture<'a, Vec<String>>;

    /// Whether `agent` uploaded the stored blob `sha256` first.
    fn blob_uploaded_by<'a>(&'a self, sha256: &'a str, agent: &'a str) -> StoreFuture<'a, bool>;

    /// Records a blob received whole and verified; the visits waiting for
    /// it count it from now on.
    fn blob_received<'a>(&'a self, sha256: &'a str, bytes: u64, uploaded_by: &'a str) -> StoreFuture<'a, ()>;

    /// Blobs received before `received_before` (Unix seconds) that no
    /// visit refers to, oldest first (at most `limit`). A signature's
    /// strokes a countersignature names are referred to too (rows
    /// projected before the projection counted strokes do not list them).
    fn unreferenced_blobs(&self, received_before: i64, limit: usize) -> StoreFuture<'_, Vec<String>>;

    /// Forgets a received blob if, at this moment, no visit refers to it;
    /// returns whether it did (then its file may be deleted).
    fn forget_unreferenced_blob<'a>(&'a self, sha256: &'a str) -> StoreFuture<'a, bool>;

    /// Stores document chunks (key, bytes) in one durable write.
    fn put_chunks(&self, chunks: Vec<(String, Vec<u8>)>) -> StoreFuture<'_, ()>;

    /// Sets chunks `keys` of visit `visit_id` aside: moves them out of the
    /// document into the quarantine (never deleting them) with `reason`,
    /// and writes `audit`, all or none.
    fn quarantine_chunks<'a>(
        &'a self,
        visit_id: &'a str,
        keys: Vec<String>,
        reason: &'a str,
        audit: AuditEntry,
    ) -> StoreFuture<'a, ()>;

    /// How many chunks of visit `visit_id` were set aside as damaged.
    fn quarantined<'a>(&'a self, visit_id: &'a str) -> StoreFuture<'a, usize>;

    /// The document chunks as samod's key/value store.
    fn documents(&self) -> Arc<dyn KvStore>;

    // ---------------------------------------------------------------- projections

    /// What the projection holds of a visit.
    fn projected<'a>(&'a self, visit_id: &'a str) -> StoreFuture<'a, Option<Projected>>;

    /// The agent that owns a visit: from its projection, or the agent that
    /// claimed it and whose documents are not projected yet.
    fn visit_owner<'a>(&'a self, visit_id: &'a str) -> StoreFuture<'a, Option<String>>;

    /// Writes projection rows, the blobs they refer to, the
    /// countersignatures of new acceptances (an invalid device signature
    /// is audited) and the audit entries of the decision that changed
    /// them (a desk's), all or none.
    fn write_projections(&self, rows: Vec<ProjectionRow>, audit: Vec<AuditEntry>) -> StoreFuture<'_, ()>;

    /// Whether any visit is projected.
    fn has_visits(&self) -> StoreFuture<'_, bool>;

    /// After many rows were written at once (a migration, a bulk import):
    /// brings the engine's own bookkeeping up to date now rather than when
    /// its background work gets to it, so the next queries are planned on
    /// what the tables hold. PostgreSQL vacuums and analyses (its planner
    /// and its index-only scans rest on both); the embedded engine has
    /// nothing to do.
    fn after_bulk_load(&self) -> StoreFuture<'_, ()> {
        Box::pin(async { Ok(()) })
    }

    /// Up to `limit` visits projected before the projection kept the
    /// merchant's registered phone (migration V11).
    fn visits_without_projected_phone(&self, limit: usize) -> StoreFuture<'_, Vec<String>>;

    /// Records visit `id`'s registered phone (`None`: it has none) in its
    /// projection row.
    fn set_projected_phone<'a>(&'a self, id: &'a str, phone: Option<&'a str>) -> StoreFuture<'a, ()>;

    // ---------------------------------------------------------------- the back office

    /// Missing blobs and the acceptance's check of a visit; nothing for a
    /// visit `principal` does not reach.
    fn visit_facts<'a>(&'a self, principal: &'a Principal, visit_id: &'a str) -> StoreFuture<'a, VisitFacts>;

    /// A page of the visits `principal` reaches that match `query`, newest
    /// change first, and the key (`updated_at`, id) of the next page.
    fn visit_list<'a>(
        &'a self,
        principal: &'a Principal,
        query: &'a VisitQuery,
        limit: usize,
    ) -> StoreFuture<'a, VisitPage>;

    /// The visits of one terminal `principal` reaches, newest first.
    fn terminal_visits<'a>(
        &'a self,
        principal: &'a Principal,
        serial: &'a str,
    ) -> StoreFuture<'a, Vec<VisitRow>>;

    /// The open visits (not approved, not cancelled) `principal` reaches
    /// whose terminal is one of `serials`, newest change first: what an
    /// alert's row already became. At most [`OPEN_VISITS_SERIALS`] serials.
    fn open_visits<'a>(
        &'a self,
        principal: &'a Principal,
        serials: &'a [String],
    ) -> StoreFuture<'a, Vec<VisitRow>>;

    /// Reactivation visits `principal` reaches that have an application,
    /// with its state, waiting ones first.
    fn applications<'a>(&'a self, principal: &'a Principal) -> StoreFuture<'a, Vec<(VisitRow, String)>>;

    /// The dashboard's figures over the visits `principal` reaches and the
    /// register, as of `window`.
    fn dashboard<'a>(
        &'a self,
        principal: &'a Principal,
        window: &'a DashboardWindow,
    ) -> StoreFuture<'a, DashboardFigures>;

    /// The alerts over the register and the visits `principal` reaches.
    fn alerts<'a>(&'a self, principal: &'a Principal, window: &'a AlertWindow) -> StoreFuture<'a, Alerts>;

    /// A page of terminals by serial, optionally only those whose serial
    /// starts with `serial_prefix` or whose merchant contains `merchant`,
    /// after serial `after`; and the serial the next page starts after.
    fn terminals<'a>(
        &'a self,
        serial_prefix: &'a str,
        merchant: &'a str,
        after: &'a str,
        limit: usize,
    ) -> StoreFuture<'a, (Vec<TerminalRow>, Option<String>)>;

    /// One terminal.
    fn terminal<'a>(&'a self, serial: &'a str) -> StoreFuture<'a, Option<TerminalRow>>;

    /// The registered terminals of the merchant with `merchant_number`, by
    /// serial, at most `limit` (the job's brief).
    fn merchant_terminals<'a>(
        &'a self,
        merchant_number: &'a str,
        limit: usize,
    ) -> StoreFuture<'a, Vec<TerminalRow>>;

    /// Where the register places the shop of `merchant_number`
    /// (`(lat_e6, lon_e6)`, WGS-84), from its latest import that gave a place.
    fn merchant_place<'a>(&'a self, merchant_number: &'a str) -> StoreFuture<'a, Option<(i64, i64)>>;

    /// What the register holds of each of `serials` it knows, for a
    /// decision's plan.
    fn registered<'a>(&'a self, serials: &'a [String]) -> StoreFuture<'a, BTreeMap<String, Registered>>;

    /// Who holds a terminal now, and its hand-overs, oldest first (the newest `limit`).
    fn custody<'a>(&'a self, serial: &'a str, limit: usize) -> StoreFuture<'a, (HolderNow, Vec<CustodyRow>)>;

    /// Records a check-in: the hand-over from the terminal's holder, the
    /// new holder, the lifecycle event it causes and the audit entry, all or
    /// none; [`StoreError::RegisterChanged`] when the terminal is no longer
    /// in the state it was decided in.
    fn check_in(&self, check_in: CheckIn) -> StoreFuture<'_, ()>;

    /// Whether the effects of visit `visit_id` of `cause` were written to the register.
    fn register_applied<'a>(&'a self, visit_id: &'a str, cause: RegisterCause) -> StoreFuture<'a, bool>;

    /// The register's changes of one terminal, oldest first (at most `limit`, the newest).
    fn terminal_events<'a>(&'a self, serial: &'a str, limit: usize)
    -> StoreFuture<'a, Vec<TerminalEventRow>>;

    /// Every terminal, by serial.
    fn all_terminals(&self) -> StoreFuture<'_, Vec<TerminalRow>>;

    /// Stores register rows (new or replacing) and the import's audit
    /// entry, all or none.
    fn import_register(&self, rows: Vec<RegisterRow>, audit: AuditEntry) -> StoreFuture<'_, ()>;

    // ---------------------------------------------------------------- the outbox

    /// Enqueues messages not tied to a projection row (a row's own go
    /// with it, [`ProjectionRow::messages`]), due at once; one whose key
    /// the outbox holds already is left out. Returns how many were new.
    fn enqueue_messages(&self, messages: Vec<OutboxMessage>) -> StoreFuture<'_, usize>;

    /// Takes up to `limit` messages due at `now`, oldest due first: each is
    /// marked [`OutboxState::Sending`] with one more attempt, and due again
    /// at `lease_until` should no outcome be recorded by then (its worker
    /// died or hangs). Another worker never takes a message whose lease runs.
    fn take_due_messages(
        &self,
        now: i64,
        lease_until: i64,
        limit: usize,
    ) -> StoreFuture<'_, Vec<OutboxRecord>>;

    /// Makes every message left [`OutboxState::Sending`] due at `now`: a
    /// worker starting on a store no other process serves calls it, as the
    /// process that took them is gone. Returns how many. An engine several
    /// processes share (PostgreSQL) leaves the messages whose lease still
    /// runs, as another process may be sending them: they are due when it
    /// runs out.
    fn release_sending_messages(&self, now: i64) -> StoreFuture<'_, usize>;

    /// Records what an attempt at message `id` came to, at `now`. Nothing
    /// changes unless the message is still being sent (an attempt whose
    /// lease ran out and that another worker took again may answer late:
    /// a delivery is recorded all the same).
    fn record_delivery(&self, id: i64, outcome: DeliveryOutcome, now: i64) -> StoreFuture<'_, ()>;

    /// The newest `limit` messages of the outbox, and how many it holds in
    /// each state.
    fn outbox(&self, limit: usize) -> StoreFuture<'_, OutboxView>;
}

#[cfg(test)]
pub(crate) mod tests;
