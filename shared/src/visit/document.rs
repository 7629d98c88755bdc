//! The automerge side of a visit: the only code that touches automerge.
//!
//! [`VisitDoc`] wraps one automerge document. It loads and saves bytes,
//! hydrates the typed [`Visit`], writes a changed `Visit` back by reconciling
//! (so only what changed becomes automerge operations), exchanges changes
//! with other replicas and reports the values that lost a concurrent write.
//!
//! Merge rule for the status: automerge keeps every concurrently written
//! value of a field and picks one winner by operation id. For the visit
//! status that winner would be arbitrary from the domain's point of view, so
//! the status is resolved by precedence instead: a back-office decision
//! (cancel, return, approve) outranks the agent's progress, so a review made
//! while the agent kept working offline is never silently undone. Both values
//! stay visible through [`VisitDoc::conflicts`] until the next status write.
//!
//! Versions (docs/compatibility.md): any document is read, whatever version
//! wrote it; keys this version does not know are left as they are, because
//! writing reconciles only the fields that changed. A document whose edit
//! floor (`schema`) is above [`SCHEMA_VERSION`] is read-only here: every
//! write is refused with [`DocError::NewerSchema`]. Each write raises the
//! version markers to this code's, never lowers them, and concurrent marker
//! values resolve to the highest.

use automerge::transaction::{CommitOptions, Transactable};
use std::collections::{BTreeMap, HashMap};

use automerge::{
    AutoCommit, ChangeHash, ObjId, ObjType, PatchAction, Prop, ROOT, ReadDoc, ScalarValue, Value,
};
use autosurgeon::{Hydrate, HydrateError};

use super::schema::{EDITABLE_FROM, HistoryEvent, SCHEMA_VERSION, Visit};
use crate::status::VisitStatus;
use crate::vocab::Term;

/// Applies `$apply` to the top-level fields of `Visit` written whole when
/// they change (`VisitDoc::write_changes`); the lists and the steps
/// ([`ITEM_FIELDS`]) are written item by item. A field of `Visit` in
/// neither would never reach the document: a test holds them to `Visit`.
macro_rules! whole_fields {
    ($apply:ident) => {
        $apply!(
            schema,
            written_by,
            id,
            kind,
            status,
            merchant,
            created,
            assignment,
            terminal,
            replacement,
            sim,
            backup,
            repair,
            reactivation,
            acceptance,
            completion,
            checklist,
            backup_waiver,
            parameters,
            network_test,
            restore,
            deregistration,
            follow_up,
            handovers,
            trip,
        )
    };
}

macro_rules! names {
    ($($field:ident),* $(,)?) => {
        [$(stringify!($field)),*]
    };
}

/// The top-level fields `VisitDoc::write_changes` writes whole.
pub const WHOLE_FIELDS: &[&str] = &whole_fields!(names);

/// The top-level fields `VisitDoc::write_changes` writes item by item.
pub const ITEM_FIELDS: [&str; 7] =
    ["faults", "documents", "annotations", "reviews", "notes", "history", "steps"];

/// Why a document could not be loaded, read or written.
#[derive(Debug, thiserror::Error)]
pub enum DocError {
    /// The bytes are not an automerge document (truncated, corrupt, wrong checksum).
    #[error("not a valid visit document: {0}")]
    Corrupt(#[source] Box<automerge::AutomergeError>),
    /// The bytes are an empty automerge document with no visit in it.
    #[error("the document holds no visit")]
    Empty,
    /// A field is missing or has the wrong type.
    #[error("visit document field {path}: {message}")]
    Schema {
        /// Where in the document, like `faults[2]` or `status`.
        path: String,
        /// What was wrong there.
        message: String,
    },
    /// The document was written by a newer app whose changes this version
    /// may not edit (its edit floor is above this code's schema version): it
    /// is read-only here.
    #[error(
        "this visit was written by a newer version of the app (schema {found}, this app edits up to {supported}); update the app to change it"
    )]
    NewerSchema {
        /// The document's edit floor.
        found: u64,
        /// The highest version this code edits.
        supported: u64,
    },
    /// Bytes from outside (a saved file or a peer's change) that the decoder
    /// could not read at all.
    #[error("not a valid visit document: {0}")]
    Undecodable(String),
    /// Writing the visit into the document failed.
    #[error("could not write the visit document: {0}")]
    Write(String),
    /// Changes that wait on changes the bytes do not hold: they would sit
    /// unapplied in the document for ever.
    #[error("{count} change(s) this document depends on are missing, first {first}")]
    MissingDependencies {
        /// How many changes are missing.
        count: usize,
        /// The hash of the first one.
        first: String,
    },
    /// A change from another replica could not be applied.
    #[error("could not apply a change: {0}")]
    Change(#[source] Box<automerge::AutomergeError>),
}

/// An automerge document from chunks end to end, refused unless every
/// chunk parses to its end and no change waits on one the chunks lack.
fn load_strictly<'a>(chunks: impl IntoIterator<Item = &'a [u8]>) -> Result<AutoCommit, DocError> {
    // One strict load: automerge reads a document chunk anywhere in the
    // sequence as its changes.
    let all: Vec<u8> = chunks.into_iter().flatten().copied().collect();
    let doc = std::panic::catch_unwind(|| AutoCommit::load(&all))
        .map_err(|_| DocError::Undecodable("the decoder failed on these bytes".into()))?
        .map_err(|e| DocError::Corrupt(Box::new(e)))?;
    let missing = doc.get_missing_deps(&[]);
    if let Some(first) = missing.first() {
        return Err(DocError::MissingDependencies { count: missing.len(), first: first.to_string() });
    }
    Ok(doc)
}

/// A value that lost (or won) a concurrent write to the same field.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Conflict {
    /// Path of the field, like `status` or `merchant.name` or `steps.install.note`.
    pub path: String,
    /// The value the visit shows.
    pub winner: String,
    /// Every value written concurrently, the winner included, rendered as text.
    pub values: Vec<String>,
}

/// Precedence of concurrent status values: higher wins.
fn status_rank(status: VisitStatus) -> u8 {
    match status {
        VisitStatus::Draft => 0,
        VisitStatus::InProgress => 1,
        VisitStatus::Completed => 2,
        VisitStatus::Approved => 3,
        VisitStatus::Returned => 4,
        VisitStatus::Cancelled => 5,
    }
}

/// One visit's automerge document.
#[derive(Debug)]
pub struct VisitDoc {
    doc: AutoCommit,
    /// Heads already written out by `save` or `save_incremental` (or loaded):
    /// the next incremental save holds only what came after them.
    saved_heads: Vec<automerge::ChangeHash>,
    /// The hydrated visit, exactly as the document holds it now. Hydrating
    /// reads every list item through automerge and grows quadratically with
    /// the visit, so operations start from this copy and write back only
    /// what they changed. Refreshed whenever changes arrive from elsewhere.
    cached: Option<Visit>,
}

impl VisitDoc {
    /// A new document holding `visit`, written by `actor_id` (a per-device,
    /// per-install id: two writers must never share one) at device time `at_seconds`.
    pub fn create(visit: &Visit, actor_id: &[u8], at_seconds: i64) -> Result<Self, DocError> {
        let doc = AutoCommit::new().with_actor(automerge::ActorId::from(actor_id));
        let mut this = VisitDoc { doc, saved_heads: Vec::new(), cached: None };
        this.write(visit, "create", at_seconds)?;
        Ok(this)
    }

    /// Loads a document from saved bytes (a full save, optionally followed by
    /// incremental saves) and checks that it holds a readable visit.
    pub fn load(bytes: &[u8]) -> Result<Self, DocError> {
        let doc = std::panic::catch_unwind(|| AutoCommit::load(bytes))
            .map_err(|_| DocError::Undecodable("the decoder failed on these bytes".into()))?
            .map_err(|e| DocError::Corrupt(Box::new(e)))?;
        Self::loaded(doc)
    }

    /// A document just loaded, checked to hold a readable visit.
    fn loaded(doc: AutoCommit) -> Result<Self, DocError> {
        let mut this = VisitDoc { doc, saved_heads: Vec::new(), cached: None };
        this.saved_heads = this.doc.get_heads();
        this.cached = Some(this.hydrate()?);
        Ok(this)
    }

    /// Loads a document from stored chunks (saved documents and changes, in
    /// any order, as a sync repository stores them) and checks that it
    /// holds a readable visit. Strict, like [`VisitDoc::load`]: every chunk
    /// must parse to its end and every change must apply, so bytes that are
    /// not automerge, or changes that wait on one the chunks lack, refuse
    /// the whole load instead of being skipped with a warning.
    pub fn load_chunks<'a>(chunks: impl IntoIterator<Item = &'a [u8]>) -> Result<Self, DocError> {
        Self::loaded(load_strictly(chunks)?)
    }

    /// The chunks of a damaged document that still load strictly together
    /// (indices into `chunks`, in order): the largest set found by adding
    /// chunks while any more fits, so a change waiting on a chunk further on
    /// is taken once that chunk is. The others are what broke it. Costs a
    /// load per chunk per round: for the rare document found damaged.
    pub fn sound_chunks(chunks: &[&[u8]]) -> Vec<usize> {
        let mut sound: Vec<usize> = Vec::new();
        let mut rest: Vec<usize> = (0..chunks.len()).collect();
        loop {
            let before = rest.len();
            rest.retain(|&candidate| {
                let trial = sound.iter().chain([&candidate]).map(|&i| chunks[i]);
                let fits = load_strictly(trial).is_ok();
                if fits {
                    sound.push(candidate);
                }
                !fits
            });
            if rest.len() == before || rest.is_empty() {
                break;
            }
        }
        sound.sort_unstable();
        sound
    }

    /// Sets the actor id this replica writes with from now on.
    pub fn set_actor(&mut self, actor_id: &[u8]) {
        self.doc.set_actor(automerge::ActorId::from(actor_id));
    }

    /// A copy of this document that writes as `actor_id`.
    pub fn fork(&mut self, actor_id: &[u8]) -> VisitDoc {
        VisitDoc {
            doc: self.doc.fork().with_actor(automerge::ActorId::from(actor_id)),
            saved_heads: Vec::new(),
            cached: self.cached.clone(),
        }
    }

    /// The whole document, compacted.
    pub fn save(&mut self) -> Vec<u8> {
        self.saved_heads = self.doc.get_heads();
        self.doc.save()
    }

    /// The changes made since the last `save`, `save_incremental` or `load`,
    /// to append to a saved file; empty when nothing changed.
    pub fn save_incremental(&mut self) -> Vec<u8> {
        let bytes = self.doc.save_after(&self.saved_heads);
        self.saved_heads = self.doc.get_heads();
        bytes
    }

    /// The document's current heads, as lowercase hex hashes.
    pub fn heads(&mut self) -> Vec<String> {
        let mut heads: Vec<String> = self.doc.get_heads().iter().map(|h| h.to_string()).collect();
        heads.sort();
        heads
    }

    /// Whether this document holds every change named in `heads` (hex
    /// hashes): when it does, it has seen everything a replica at those heads saw.
    pub fn contains_heads(&mut self, heads: &[String]) -> bool {
        heads.iter().all(|head| {
            head.parse::<automerge::ChangeHash>()
                .is_ok_and(|hash| self.doc.get_change_by_hash(&hash).is_some())
        })
    }

    /// Every change this document has, each as raw bytes, oldest first.
    pub fn changes(&mut self) -> Vec<Vec<u8>> {
        self.doc.get_changes(&[]).into_iter().map(|c| c.raw_bytes().to_vec()).collect()
    }

    /// Applies changes received from another replica (raw bytes, any order,
    /// duplicates allowed); changes whose dependencies are missing wait until they arrive.
    pub fn apply_changes(&mut self, changes: &[Vec<u8>]) -> Result<(), DocError> {
        let mut parsed = Vec::with_capacity(changes.len());
        for bytes in changes {
            let change = automerge::Change::from_bytes(bytes.clone())
                .map_err(|e| DocError::Undecodable(format!("malformed change: {e}")))?;
            parsed.push(change);
        }
        let doc = &mut self.doc;
        let applied = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| doc.apply_changes(parsed)))
            .map_err(|_| DocError::Undecodable("the decoder failed on these changes".into()))?
            .map_err(|e| DocError::Change(Box::new(e)));
        self.cached = self.hydrate().ok();
        applied
    }

    /// Merges every change of `other` into this document. A merge that
    /// fails (automerge has panicked on malformed changes; that is caught
    /// here) leaves this document unusable: drop it and reload from storage.
    pub fn merge(&mut self, other: &mut VisitDoc) -> Result<(), DocError> {
        let (doc, theirs) = (&mut self.doc, &mut other.doc);
        let merged = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| doc.merge(theirs)))
            .map_err(|_| DocError::Undecodable("the decoder failed on the other document".into()))?
            .map(|_| ())
            .map_err(|e| DocError::Change(Box::new(e)));
        self.cached = self.hydrate().ok();
        merged
    }

    /// Whether this document, saved whole, loads again as the same visit.
    /// automerge accepts some damaged inputs that it then cannot reload from
    /// its own save; checking before storing keeps them out.
    pub fn reloads_identically(&mut self) -> Result<(), DocError> {
        let bytes = self.doc.save();
        let reloaded = VisitDoc::load(&bytes)?;
        if reloaded.visit()? != self.visit()? {
            return Err(DocError::Undecodable("the document does not reload as the same visit".into()));
        }
        Ok(())
    }

    /// Whether the visit's id is contested (two visits' histories in one
    /// document: automerge would pick one id and mix their fields).
    pub fn has_conflicting_id(&self) -> bool {
        self.conflicts().iter().any(|c| c.path == "id")
    }

    /// The changes since `heads` (hex hashes) as one chunk to append to a
    /// replica at those heads, or `None` when this document lacks one of them.
    pub fn changes_since(&mut self, heads: &[String]) -> Option<Vec<u8>> {
        let hashes: Vec<automerge::ChangeHash> =
            heads.iter().map(|h| h.parse().ok()).collect::<Option<_>>()?;
        if hashes.iter().any(|hash| self.doc.get_change_by_hash(hash).is_none()) {
            return None;
        }
        Some(self.doc.save_after(&hashes))
    }

    /// Saved document bytes (a document followed by changes) compacted into
    /// one saved document, without reading the visit in it.
    pub fn compacted(bytes: &[u8]) -> Result<Vec<u8>, DocError> {
        let mut doc = std::panic::catch_unwind(|| AutoCommit::load(bytes))
            .map_err(|_| DocError::Undecodable("the decoder failed on these bytes".into()))?
            .map_err(|e| DocError::Corrupt(Box::new(e)))?;
        Ok(doc.save())
    }

    /// The heads (lowercase hex, sorted) of the document that `chunks`
    /// make together, loaded as strictly as [`VisitDoc::load_chunks`] but
    /// not read as a visit: what a replica holding those chunks has seen.
    pub fn chunk_heads<'a>(chunks: impl IntoIterator<Item = &'a [u8]>) -> Result<Vec<String>, DocError> {
        let mut heads: Vec<String> =
            load_strictly(chunks)?.get_heads().iter().map(|h| h.to_string()).collect();
        heads.sort();
        Ok(heads)
    }

    /// The actor ids of the changes a replica at `heads` (hex hashes) lacks,
    /// each once, in the order automerge lists the changes; `None` when this
    /// document lacks one of the heads or one is not a hash.
    pub fn actors_since(&mut self, heads: &[String]) -> Option<Vec<Vec<u8>>> {
        let hashes: Vec<automerge::ChangeHash> =
            heads.iter().map(|h| h.parse().ok()).collect::<Option<_>>()?;
        if hashes.iter().any(|hash| self.doc.get_change_by_hash(hash).is_none()) {
            return None;
        }
        let mut actors: Vec<Vec<u8>> = Vec::new();
        for change in self.doc.get_changes(&hashes) {
            let actor = change.actor_id().to_bytes();
            if !actors.iter().any(|known| known.as_slice() == actor) {
                actors.push(actor.to_vec());
            }
        }
        Some(actors)
    }

    /// Number of changes in the document's history.
    pub fn change_count(&mut self) -> usize {
        self.doc.get_changes(&[]).len()
    }

    /// Reads the typed visit.
    pub fn visit(&self) -> Result<Visit, DocError> {
        match &self.cached {
            Some(visit) => Ok(visit.clone()),
            None => self.hydrate(),
        }
    }

    /// Reads the typed visit from the automerge document itself.
    fn hydrate(&self) -> Result<Visit, DocError> {
        if self.doc.length(ROOT) == 0 {
            return Err(DocError::Empty);
        }
        let schema: Option<u64> =
            autosurgeon::hydrate_prop(&self.doc, ROOT, "schema").map_err(|e| schema_error("schema", &e))?;
        if schema.is_none() {
            return Err(DocError::Schema { path: "schema".into(), message: "missing".into() });
        }
        let mut visit: Visit = autosurgeon::hydrate(&self.doc).map_err(|e| self.locate(&e))?;
        if let Some(status) = self.resolved_status() {
            visit.status = status;
        }
        visit.schema = visit.schema.max(self.highest("schema").unwrap_or(0));
        visit.written_by = visit.written_by.max(self.highest("written_by"));
        Ok(visit)
    }

    /// Writes `visit` into the document as one change with `message` at device time `at_seconds`.
    /// Only the fields that differ from the document become operations.
    /// Refused when the document is read-only for this version; the
    /// version markers are raised to this code's as part of the change.
    pub(crate) fn write(&mut self, visit: &Visit, message: &str, at_seconds: i64) -> Result<(), DocError> {
        self.editable()?;
        let mut visit = visit.clone();
        visit.schema = visit.schema.max(EDITABLE_FROM);
        visit.written_by = visit.written_by.max(Some(SCHEMA_VERSION));
        let visit = &visit;
        let written = match self.cached.take() {
            Some(old) => self.write_changes(&old, visit),
            None => autosurgeon::reconcile(&mut self.doc, visit),
        };
        if let Err(error) = written {
            self.doc.rollback();
            self.cached = self.hydrate().ok();
            return Err(DocError::Write(error.to_string()));
        }
        self.doc.commit_with(CommitOptions::default().with_message(message.to_owned()).with_time(at_seconds));
        self.cached = Some(visit.clone());
        Ok(())
    }

    /// Whether this version may edit the document: refused with
    /// [`DocError::NewerSchema`] when a newer app raised its edit floor above
    /// [`SCHEMA_VERSION`]. An empty document (being created) is editable.
    pub fn editable(&self) -> Result<(), DocError> {
        let floor = match &self.cached {
            Some(visit) => Some(visit.schema),
            None => self.highest("schema"),
        };
        match floor {
            Some(found) if found > SCHEMA_VERSION => {
                Err(DocError::NewerSchema { found, supported: SCHEMA_VERSION })
            }
            _ => Ok(()),
        }
    }

    /// Whether the document is read-only for this version (see [`VisitDoc::editable`]).
    pub fn is_read_only(&self) -> bool {
        self.editable().is_err()
    }

    /// The highest unsigned number among the values concurrently written to
    /// top-level key `key`: the version markers only ever go up, so a merge
    /// of two writers keeps the higher one whichever automerge shows.
    fn highest(&self, key: &str) -> Option<u64> {
        let values = self.doc.get_all(ROOT, key).ok()?;
        values
            .iter()
            .filter_map(|(value, _)| match value {
                Value::Scalar(s) => match s.as_ref() {
                    ScalarValue::Uint(n) => Some(*n),
                    ScalarValue::Int(n) => u64::try_from(*n).ok(),
                    _ => None,
                },
                Value::Object(_) => None,
            })
            .max()
    }

    /// Writes the fields of `new` that differ from `old` (the document's
    /// current state): changed list items in place, new items appended, so
    /// an operation costs what it changed rather than the whole visit.
    fn write_changes(&mut self, old: &Visit, new: &Visit) -> Result<(), autosurgeon::ReconcileError> {
        macro_rules! fields {
            ($($field:ident),* $(,)?) => {
                $(
                    if old.$field != new.$field {
                        autosurgeon::reconcile_prop(&mut self.doc, ROOT, stringify!($field), &new.$field)?;
                    }
                )*
            };
        }
        whole_fields!(fields);
        self.write_list("faults", &old.faults, &new.faults)?;
        self.write_list("documents", &old.documents, &new.documents)?;
        self.write_list("annotations", &old.annotations, &new.annotations)?;
        self.write_list("reviews", &old.reviews, &new.reviews)?;
        self.write_list("notes", &old.notes, &new.notes)?;
        self.write_list("history", &old.history, &new.history)?;
        if old.steps != new.steps {
            match self.doc.get(ROOT, "steps") {
                Ok(Some((Value::Object(ObjType::Map), steps))) => {
                    for (key, record) in &new.steps {
                        if old.steps.get(key) != Some(record) {
                            autosurgeon::reconcile_prop(&mut self.doc, &steps, key.as_str(), record)?;
                        }
                    }
                    for key in old.steps.keys().filter(|k| !new.steps.contains_key(*k)) {
                        self.doc.delete(&steps, key.as_str())?;
                    }
                }
                _ => autosurgeon::reconcile_prop(&mut self.doc, ROOT, "steps", &new.steps)?,
            }
        }
        Ok(())
    }

    /// Writes one list field: items changed in place, then appended items.
    fn write_list<T: autosurgeon::Reconcile + PartialEq>(
        &mut self,
        field: &str,
        old: &[T],
        new: &[T],
    ) -> Result<(), autosurgeon::ReconcileError> {
        if old == new {
            return Ok(());
        }
        let list = match self.doc.get(ROOT, field) {
            Ok(Some((Value::Object(ObjType::List), list))) if new.len() >= old.len() => list,
            _ => return autosurgeon::reconcile_prop(&mut self.doc, ROOT, field, new),
        };
        for (index, (before, after)) in old.iter().zip(new).enumerate() {
            if before != after {
                autosurgeon::reconcile_prop(&mut self.doc, &list, index, after)?;
            }
        }
        for (offset, item) in new[old.len()..].iter().enumerate() {
            autosurgeon::reconcile_insert(&mut self.doc, list.clone(), old.len() + offset, item)?;
        }
        Ok(())
    }

    /// The status by precedence among concurrently written values, when there are several.
    fn resolved_status(&self) -> Option<VisitStatus> {
        let values = self.doc.get_all(ROOT, "status").ok()?;
        if values.len() < 2 {
            return None;
        }
        values
            .iter()
            .filter_map(|(value, _)| match value {
                Value::Scalar(s) => match s.as_ref() {
                    ScalarValue::Str(text) => VisitStatus::from_code(text),
                    _ => None,
                },
                Value::Object(_) => None,
            })
            .max_by_key(|s| status_rank(*s))
    }

    /// Finds which top-level field (and which list item) fails to hydrate.
    fn locate(&self, error: &HydrateError) -> DocError {
        macro_rules! probe {
            ($($field:ident : $ty:ty),* $(,)?) => {
                $(
                    if let Err(e) = autosurgeon::hydrate_prop::<_, $ty, _, _>(&self.doc, ROOT, stringify!($field)) {
                        return self.locate_in_list(stringify!($field), e);
                    }
                )*
            };
        }
        use super::schema::*;
        // `written_by` and the fields of schema 3 are not probed: a missing
        // key is valid there (`None`, or the default), which a probe of the
        // key alone would report as an error.
        probe!(
            schema: u64, id: String, kind: crate::kind::VisitKind, status: VisitStatus,
            merchant: Merchant, created: Stamp, assignment: Assignment,
            terminal: Option<Identification>, replacement: Option<Identification>,
            steps: std::collections::BTreeMap<String, StepRecord>, faults: Vec<Fault>,
            documents: Vec<DocumentRef>, sim: Option<SimRecord>, backup: Option<BackupRecord>,
            repair: RepairRecord, reactivation: ReactivationRecord, acceptance: Option<Acceptance>,
            completion: Option<Stamp>, reviews: Vec<Review>, notes: Vec<Note>,
            history: Vec<HistoryEvent>,
        );
        schema_error("visit", error)
    }

    /// Narrows a list field's hydrate error to the failing item's index.
    fn locate_in_list(&self, field: &str, error: HydrateError) -> DocError {
        use super::schema::*;
        fn first_bad<T: Hydrate>(doc: &AutoCommit, list: &ObjId) -> Option<(usize, HydrateError)> {
            (0..doc.length(list))
                .find_map(|i| autosurgeon::hydrate_prop::<_, T, _, _>(doc, list, i).err().map(|e| (i, e)))
        }
        let list = match self.doc.get(ROOT, field) {
            Ok(Some((Value::Object(ObjType::List), id))) => id,
            _ => return schema_error(field, &error),
        };
        let item = match field {
            "faults" => first_bad::<Fault>(&self.doc, &list),
            "documents" => first_bad::<DocumentRef>(&self.doc, &list),
            "annotations" => first_bad::<Annotation>(&self.doc, &list),
            "reviews" => first_bad::<Review>(&self.doc, &list),
            "notes" => first_bad::<Note>(&self.doc, &list),
            "history" => first_bad::<HistoryEvent>(&self.doc, &list),
            _ => None,
        };
        match item {
            Some((index, e)) => schema_error(&format!("{field}[{index}]"), &e),
            None => schema_error(field, &error),
        }
    }

    /// Every field currently holding concurrently written values.
    pub fn conflicts(&self) -> Vec<Conflict> {
        let mut found = Vec::new();
        let visit_status = self.visit().ok().map(|v| v.status);
        self.collect_conflicts(&ROOT, String::new(), &mut found);
        for conflict in &mut found {
            if let (true, Some(status)) = (conflict.path == "status", visit_status) {
                conflict.winner = status.code().to_owned();
            }
        }
        found
    }

    fn collect_conflicts(&self, obj: &ObjId, prefix: String, found: &mut Vec<Conflict>) {
        let props: Vec<automerge::Prop> = match self.doc.object_type(obj) {
            Ok(ObjType::Map | ObjType::Table) => self.doc.keys(obj).map(automerge::Prop::Map).collect(),
            Ok(ObjType::List) => (0..self.doc.length(obj)).map(automerge::Prop::Seq).collect(),
            _ => return,
        };
        for prop in props {
            let path = match &prop {
                automerge::Prop::Map(key) if prefix.is_empty() => key.clone(),
                automerge::Prop::Map(key) => format!("{prefix}.{key}"),
                automerge::Prop::Seq(index) => format!("{prefix}[{index}]"),
            };
            let Ok(values) = self.doc.get_all(obj, prop.clone()) else { continue };
            if values.len() > 1 {
                let rendered: Vec<String> = values.iter().map(|(value, id)| self.render(value, id)).collect();
                found.push(Conflict {
                    path: path.clone(),
                    winner: rendered[rendered.len() - 1].clone(),
                    values: rendered,
                });
            }
            if let Ok(Some((Value::Object(_), child))) = self.doc.get(obj, prop) {
                self.collect_conflicts(&child, path, found);
            }
        }
    }

    /// Renders a value as compact JSON-like text for conflict reports.
    fn render(&self, value: &Value<'_>, id: &ObjId) -> String {
        At::now(&self.doc).render(value, id)
    }
}

/// Top-level keys whose changes and concurrent values say nothing to a
/// reader of the visit: the history itself (each entry names the change it
/// describes) and the version markers, which only go up.
const BOOKKEEPING: [&str; 3] = ["history", "schema", "written_by"];

/// The key of a record's author (a `Stamp`): who wrote a record is who made
/// the change, which its history entry already says.
const AUTHOR_KEY: &str = "stamp";

/// The keys that name a list item in a path: a record's `id`, a photo's `sha256`.
const ITEM_KEYS: [&str; 2] = ["id", "sha256"];

/// One field a change altered, with its value before and after as text.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct FieldChange {
    /// Where: map keys joined by dots and a list item named by its key (a
    /// record's `id`, a photo's `sha256`) in brackets, like
    /// `merchant.phone`, `steps.backup.state` or `documents[<sha256>].removed`.
    pub path: String,
    /// The value before the change; `None` where the field was absent or null.
    pub before: Option<String>,
    /// The value after the change; `None` where it is absent or null.
    pub after: Option<String>,
}

/// Who wrote a value, as far as the document can tell.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Authorship {
    /// The automerge actor of the change that wrote it, in hex.
    pub actor: String,
    /// The device time recorded with that change, in seconds.
    pub at_seconds: i64,
    /// The history entry the same change added (the operation, who did it
    /// and when in the visit's own words), when it added one.
    pub entry: Option<HistoryEvent>,
}

/// One of the values written concurrently to a field.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ConcurrentValue {
    /// The value as text; `None` where this side left the field empty.
    pub value: Option<String>,
    /// Who wrote it, when the document can tell.
    pub written: Option<Authorship>,
}

/// A field holding values written concurrently on two or more replicas:
/// the one the visit shows and the ones it does not.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ConcurrentEdit {
    /// Where, named as in [`FieldChange::path`].
    pub path: String,
    /// The value the visit shows.
    pub winner: ConcurrentValue,
    /// The values that lost, each with who wrote it.
    pub losers: Vec<ConcurrentValue>,
}

/// A field found holding concurrent values: the values as text with the
/// operation that wrote each, and which of them the visit shows.
struct Contested {
    path: String,
    values: Vec<(Option<String>, ObjId)>,
    winner: usize,
}

impl VisitDoc {
    /// What each history entry's change altered, by entry id: every field
    /// it set, with its value before and after. The change is diffed
    /// against its own parents, so an edit made beside a concurrent one
    /// shows what it did to the visit its writer saw. The history itself,
    /// the version markers and each record's author (the entry names it)
    /// are left out, and so is a field set to the value it already had.
    ///
    /// The diff is scoped to the objects the change wrote to, but for those
    /// under the history and records' authors: a diff of the whole document
    /// passes over every operation of the visit (its long history list
    /// above all) for each entry, which made a visit of 300 changes take
    /// over half a second; scoped, about 0.4 ms an entry (docs/benchmarks.md).
    ///
    /// A damaged document (one loaded from bytes without the strict checks
    /// of [`VisitDoc::load_chunks`]) may have no history automerge can
    /// rebuild: it lacks changes its own depend on, or automerge panics
    /// rebuilding them (caught here). It shows no changes.
    pub fn history_changes(&mut self) -> BTreeMap<String, Vec<FieldChange>> {
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.read_history_changes()))
            .unwrap_or_default()
    }

    fn read_history_changes(&mut self) -> BTreeMap<String, Vec<FieldChange>> {
        let mut found = BTreeMap::new();
        if !self.doc.get_missing_deps(&[]).is_empty() {
            return found;
        }
        for (entry, hash) in self.history_entries() {
            let Some(change) = ReadDoc::get_change_by_hash(&self.doc, &hash) else { continue };
            let parents = change.deps().to_vec();
            let mut written: Vec<String> =
                change.decode().operations.iter().map(|op| op.obj.to_string()).collect();
            written.sort_unstable();
            written.dedup();
            let objects: Vec<ObjId> = written
                .iter()
                .filter_map(|obj| self.doc.import_obj(obj).ok())
                .filter(|obj| !self.left_out(obj))
                .collect();
            found.insert(entry, self.changed_between(&objects, &parents, &[hash]));
        }
        found
    }

    /// Every field holding concurrently written values, in the words of
    /// [`VisitDoc::history_changes`]: the value the visit shows (the status
    /// by the precedence of [`VisitDoc::conflicts`]) and each value that
    /// lost, with who wrote it. Where both sides wrote a whole record (a
    /// step first set on two phones), each field of it that differs is
    /// reported; authors and bookkeeping are left out as in the history.
    /// A damaged document on which automerge panics (caught here) shows none.
    pub fn concurrent_edits(&mut self) -> Vec<ConcurrentEdit> {
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.read_concurrent_edits()))
            .unwrap_or_default()
    }

    fn read_concurrent_edits(&mut self) -> Vec<ConcurrentEdit> {
        let mut contested = Vec::new();
        self.collect_contested(&ROOT, "", &mut contested);
        if contested.is_empty() {
            return Vec::new();
        }
        if let Ok(visit) = self.visit() {
            let status = visit.status.code();
            for field in contested.iter_mut().filter(|f| f.path == "status") {
                if let Some(index) = field.values.iter().position(|(v, _)| v.as_deref() == Some(status)) {
                    field.winner = index;
                }
            }
        }
        // Without the changes its own depend on, automerge cannot rebuild
        // the change that wrote a value: the values are given without authors.
        let complete = self.doc.get_missing_deps(&[]).is_empty();
        let entries = if complete { self.entries_by_change() } else { HashMap::new() };
        let written = |op: &ObjId| {
            if !complete {
                return None;
            }
            let hash = self.doc.hash_for_opid(op)?;
            let change = ReadDoc::get_change_by_hash(&self.doc, &hash)?;
            Some(Authorship {
                actor: change.actor_id().to_hex_string(),
                at_seconds: change.timestamp(),
                entry: entries.get(&hash).cloned(),
            })
        };
        contested
            .into_iter()
            .map(|field| {
                let mut values: Vec<ConcurrentValue> = field
                    .values
                    .iter()
                    .map(|(value, op)| ConcurrentValue { value: value.clone(), written: written(op) })
                    .collect();
                let winner = values.remove(field.winner);
                ConcurrentEdit { path: field.path, winner, losers: values }
            })
            .collect()
    }

    /// Whether every field of object `obj` is left out of the changes: it
    /// lies in the history, the version markers or a record's author.
    fn left_out(&self, obj: &ObjId) -> bool {
        let Ok(parents) = self.doc.parents(obj) else { return false };
        let path: Vec<Prop> = parents.map(|parent| parent.prop).collect();
        path.iter().rev().enumerate().any(|(depth, prop)| match prop {
            Prop::Map(key) => key == AUTHOR_KEY || (depth == 0 && BOOKKEEPING.contains(&key.as_str())),
            Prop::Seq(_) => false,
        })
    }

    /// The history entries (id, and the hash of the change that added each), in list order.
    fn history_entries(&self) -> Vec<(String, ChangeHash)> {
        let now = At::now(&self.doc);
        let Some((Value::Object(ObjType::List), list)) = now.get(&ROOT, "history") else { return Vec::new() };
        now.children(&list)
            .into_iter()
            .filter_map(|(_, _, item)| {
                let id = now.text_of(&item, &Prop::Map("id".into()))?;
                Some((id, self.doc.hash_for_opid(&item)?))
            })
            .collect()
    }

    /// The typed history entry each change added, by the change's hash.
    fn entries_by_change(&self) -> HashMap<ChangeHash, HistoryEvent> {
        let Ok(visit) = self.visit() else { return HashMap::new() };
        let by_id: HashMap<&str, &HistoryEvent> = visit.history.iter().map(|e| (e.id.as_str(), e)).collect();
        self.history_entries()
            .into_iter()
            .filter_map(|(id, hash)| Some((hash, (*by_id.get(id.as_str())?).clone())))
            .collect()
    }

    /// The fields of `objects` whose value differs between the document at
    /// `before` and at `after`.
    fn changed_between(
        &mut self,
        objects: &[ObjId],
        before: &[ChangeHash],
        after: &[ChangeHash],
    ) -> Vec<FieldChange> {
        let mut patches = Vec::new();
        for obj in objects {
            patches.extend(self.doc.diff_obj(obj, before, after, false).unwrap_or_default());
        }
        let (old, new) = (At::heads(&self.doc, before), At::heads(&self.doc, after));
        let mut seen: Vec<String> = Vec::new();
        let mut changes = Vec::new();
        for patch in &patches {
            let touched: Vec<Option<Prop>> = match &patch.action {
                PatchAction::PutMap { key, .. } | PatchAction::DeleteMap { key } => {
                    vec![Some(Prop::Map(key.clone()))]
                }
                PatchAction::PutSeq { index, .. } => vec![Some(Prop::Seq(*index))],
                PatchAction::Insert { index, values } => {
                    (*index..index + values.len()).map(|i| Some(Prop::Seq(i))).collect()
                }
                PatchAction::DeleteSeq { index, length } => {
                    (*index..index + length).map(|i| Some(Prop::Seq(i))).collect()
                }
                PatchAction::Increment { prop, .. } | PatchAction::Conflict { prop } => {
                    vec![Some(prop.clone())]
                }
                // A text's splices and marks change the text itself.
                PatchAction::SpliceText { .. } | PatchAction::Mark { .. } => vec![None],
            };
            for prop in touched {
                let mut segments = patch.path.clone();
                segments.extend(prop.map(|prop| (patch.obj.clone(), prop)));
                let Some((path, obj, prop)) = field_at([At::now(&self.doc), new, old], &segments) else {
                    continue;
                };
                if seen.contains(&path) {
                    continue;
                }
                seen.push(path.clone());
                let (before, after) = (old.text_of(&obj, &prop), new.text_of(&obj, &prop));
                if before != after {
                    changes.push(FieldChange { path, before, after });
                }
            }
        }
        changes.sort_by(|a, b| a.path.cmp(&b.path));
        changes
    }

    /// Walks the document for props holding several values, from `obj` at `prefix`.
    fn collect_contested(&self, obj: &ObjId, prefix: &str, found: &mut Vec<Contested>) {
        let now = At::now(&self.doc);
        for (prop, value, child) in now.children(obj) {
            if skipped(prefix, &prop) {
                continue;
            }
            let path = now.join(prefix, obj, &prop);
            let values = self.doc.get_all(obj, prop.clone()).unwrap_or_default();
            if values.len() > 1 {
                contest(now, &path, &values, found);
            }
            if !now.is_field(&value, &child) {
                self.collect_contested(&child, &path, found);
            }
        }
    }
}

/// Whether `prop` of an object at `prefix` is left out of changes and
/// concurrent values: a record's author, bookkeeping at the top, and a list
/// item's key, which its path already names.
fn skipped(prefix: &str, prop: &Prop) -> bool {
    match prop {
        Prop::Map(key) => {
            key == AUTHOR_KEY
                || (prefix.is_empty() && BOOKKEEPING.contains(&key.as_str()))
                || (prefix.ends_with(']') && ITEM_KEYS.contains(&key.as_str()))
        }
        Prop::Seq(_) => false,
    }
}

/// The field a patch at `segments` (the path from the root, then the prop
/// it touched) changed: its path, object and prop. Descends until a value
/// shown as one field; `None` for what is left out. Reads the document as
/// it stands where it can (list items keep their keys, records their
/// shape), which costs no clock; a field since removed is read as it stood.
fn field_at(readers: [At<'_>; 3], segments: &[(ObjId, Prop)]) -> Option<(String, ObjId, Prop)> {
    let mut path = String::new();
    for (obj, prop) in segments {
        if skipped(&path, prop) {
            return None;
        }
        let found = readers.iter().find_map(|reader| Some((*reader, reader.get(obj, prop.clone())?)));
        let Some((reader, (value, child))) = found else {
            return Some((readers[0].join(&path, obj, prop), obj.clone(), prop.clone()));
        };
        path = reader.join(&path, obj, prop);
        if reader.is_field(&value, &child) {
            return Some((path, obj.clone(), prop.clone()));
        }
    }
    None
}

/// Records the concurrent `values` of the field at `path`: as they are when
/// each is one field, or else (whole records written on both sides) each
/// field of the records where they differ.
fn contest(now: At<'_>, path: &str, values: &[(Value<'_>, ObjId)], found: &mut Vec<Contested>) {
    let winner = values.len() - 1;
    if values.iter().all(|(value, id)| now.is_field(value, id)) {
        let values: Vec<(Option<String>, ObjId)> =
            values.iter().map(|(value, id)| (now.field_text(value, id), id.clone())).collect();
        if values.iter().any(|(v, _)| *v != values[winner].0) {
            found.push(Contested { path: path.to_owned(), values, winner });
        }
        return;
    }
    let sides: Vec<Vec<(String, Option<String>)>> = values
        .iter()
        .map(|(value, id)| {
            let mut fields = Vec::new();
            if now.is_field(value, id) {
                fields.push((path.to_owned(), now.field_text(value, id)));
            } else {
                now.fields(id, path, &mut fields);
            }
            fields
        })
        .collect();
    let mut names: Vec<&String> = Vec::new();
    for (name, _) in sides.iter().flatten() {
        if !names.contains(&name) {
            names.push(name);
        }
    }
    for name in names {
        let texts: Vec<Option<String>> = sides
            .iter()
            .map(|side| side.iter().find(|(n, _)| n == name).and_then(|(_, text)| text.clone()))
            .collect();
        if texts.iter().all(|t| *t == texts[winner]) {
            continue;
        }
        let values = texts.into_iter().zip(values.iter().map(|(_, id)| id.clone())).collect();
        found.push(Contested { path: name.clone(), values, winner });
    }
}

/// Reads the document as it stood at some heads, or as it stands now.
#[derive(Clone, Copy)]
struct At<'a> {
    doc: &'a AutoCommit,
    heads: Option<&'a [ChangeHash]>,
}

impl<'a> At<'a> {
    fn now(doc: &'a AutoCommit) -> Self {
        At { doc, heads: None }
    }

    fn heads(doc: &'a AutoCommit, heads: &'a [ChangeHash]) -> Self {
        At { doc, heads: Some(heads) }
    }

    fn get(&self, obj: &ObjId, prop: impl Into<Prop>) -> Option<(Value<'a>, ObjId)> {
        match self.heads {
            Some(heads) => self.doc.get_at(obj, prop, heads),
            None => self.doc.get(obj, prop),
        }
        .ok()
        .flatten()
    }

    /// Each key or index of `obj` with its (winning) value.
    fn children(&self, obj: &ObjId) -> Vec<(Prop, Value<'a>, ObjId)> {
        let map = |item: automerge::iter::MapRangeItem<'a>| {
            (Prop::Map(item.key.to_string()), Value::from(item.value.clone()), item.id())
        };
        let list = |item: automerge::iter::ListRangeItem<'a>| {
            (Prop::Seq(item.index), Value::from(item.value.clone()), item.id())
        };
        match (self.doc.object_type(obj), self.heads) {
            (Ok(ObjType::Map | ObjType::Table), None) => self.doc.map_range(obj, ..).map(map).collect(),
            (Ok(ObjType::Map | ObjType::Table), Some(heads)) => {
                self.doc.map_range_at(obj, .., heads).map(map).collect()
            }
            (Ok(ObjType::List), None) => self.doc.list_range(obj, ..).map(list).collect(),
            (Ok(ObjType::List), Some(heads)) => self.doc.list_range_at(obj, .., heads).map(list).collect(),
            _ => Vec::new(),
        }
    }

    /// Whether a value is shown as one field: a plain value, a text, a
    /// who-and-when record (a map with `by` and `at`, like a removal), or a
    /// list of plain values (backed-up items, evidence hashes).
    fn is_field(&self, value: &Value<'_>, id: &ObjId) -> bool {
        match value {
            Value::Scalar(_) | Value::Object(ObjType::Text) => true,
            Value::Object(ObjType::Map | ObjType::Table) => {
                self.get(id, "by").is_some() && self.get(id, "at").is_some()
            }
            Value::Object(ObjType::List) => {
                self.children(id).iter().all(|(_, value, _)| matches!(value, Value::Scalar(_)))
            }
        }
    }

    /// A field's value as text: `None` for null and for an empty list; a
    /// list of plain values joined by `, `.
    fn field_text(&self, value: &Value<'_>, id: &ObjId) -> Option<String> {
        match value {
            Value::Scalar(scalar) if matches!(scalar.as_ref(), ScalarValue::Null) => None,
            Value::Object(ObjType::List) => {
                let items: Vec<String> = self
                    .children(id)
                    .iter()
                    .filter_map(|(_, value, id)| self.field_text(value, id))
                    .collect();
                (!items.is_empty()).then(|| items.join(", "))
            }
            other => Some(self.render(other, id)),
        }
    }

    /// The text of the field at `prop` of `obj`, `None` when it is absent.
    fn text_of(&self, obj: &ObjId, prop: &Prop) -> Option<String> {
        let (value, id) = self.get(obj, prop.clone())?;
        self.field_text(&value, &id)
    }

    /// How a path names item `index` of `list`: by its key (a record's
    /// `id`, a photo's `sha256`), else by its index.
    fn item_name(&self, list: &ObjId, index: usize) -> String {
        let key = match self.get(list, index) {
            Some((Value::Object(ObjType::Map), item)) => {
                ITEM_KEYS.iter().find_map(|key| match self.get(&item, *key) {
                    Some((Value::Scalar(scalar), _)) => match scalar.as_ref() {
                        ScalarValue::Str(text) => Some(text.to_string()),
                        _ => None,
                    },
                    _ => None,
                })
            }
            _ => None,
        };
        key.unwrap_or_else(|| index.to_string())
    }

    /// `prefix` followed by `prop` of `obj`: `.key` or `[item]`.
    fn join(&self, prefix: &str, obj: &ObjId, prop: &Prop) -> String {
        match prop {
            Prop::Map(key) if prefix.is_empty() => key.clone(),
            Prop::Map(key) => format!("{prefix}.{key}"),
            Prop::Seq(index) => format!("{prefix}[{}]", self.item_name(obj, *index)),
        }
    }

    /// Every field under `obj` with its text, named from `prefix`; authors
    /// and item keys left out.
    fn fields(&self, obj: &ObjId, prefix: &str, found: &mut Vec<(String, Option<String>)>) {
        for (prop, value, id) in self.children(obj) {
            if skipped(prefix, &prop) {
                continue;
            }
            let path = self.join(prefix, obj, &prop);
            if self.is_field(&value, &id) {
                found.push((path, self.field_text(&value, &id)));
            } else {
                self.fields(&id, &path, found);
            }
        }
    }

    /// A value as compact JSON-like text.
    fn render(&self, value: &Value<'_>, id: &ObjId) -> String {
        match value {
            Value::Scalar(scalar) => match scalar.as_ref() {
                ScalarValue::Str(text) => text.to_string(),
                other => other.to_string(),
            },
            Value::Object(ObjType::Map | ObjType::Table) => {
                let parts: Vec<String> = self
                    .children(id)
                    .iter()
                    .map(|(prop, value, id)| format!("{prop}: {}", self.render(value, id)))
                    .collect();
                format!("{{{}}}", parts.join(", "))
            }
            Value::Object(ObjType::List) => {
                let parts: Vec<String> =
                    self.children(id).iter().map(|(_, value, id)| self.render(value, id)).collect();
                format!("[{}]", parts.join(", "))
            }
            Value::Object(ObjType::Text) => match self.heads {
                Some(heads) => self.doc.text_at(id, heads),
                None => self.doc.text(id),
            }
            .unwrap_or_default(),
        }
    }
}

/// Every key and value of saved document bytes as JSON, as automerge holds
/// them: keys and codes this version does not know included, which the
/// typed [`Visit`] cannot show. Of concurrently written values, the one
/// automerge shows.
pub fn raw_json(bytes: &[u8]) -> Result<serde_json::Value, DocError> {
    let doc = std::panic::catch_unwind(|| AutoCommit::load(bytes))
        .map_err(|_| DocError::Undecodable("the decoder failed on these bytes".into()))?
        .map_err(|e| DocError::Corrupt(Box::new(e)))?;
    Ok(object_json(&doc, &ROOT))
}

fn object_json(doc: &AutoCommit, obj: &ObjId) -> serde_json::Value {
    let value = |value: Value<'_>, id: ObjId| match value {
        Value::Object(_) => object_json(doc, &id),
        Value::Scalar(scalar) => serde_json::to_value(scalar.as_ref()).unwrap_or(serde_json::Value::Null),
    };
    match doc.object_type(obj) {
        Ok(ObjType::Map | ObjType::Table) => serde_json::Value::Object(
            doc.map_range(obj, ..)
                .map(|item| (item.key.to_string(), value(item.value.clone().into(), item.id())))
                .collect(),
        ),
        Ok(ObjType::List) => serde_json::Value::Array(
            doc.list_range(obj, ..).map(|item| value(item.value.clone().into(), item.id())).collect(),
        ),
        Ok(ObjType::Text) => serde_json::Value::String(doc.text(obj).unwrap_or_default()),
        Err(_) => serde_json::Value::Null,
    }
}

/// Where `after` lost or changed something `before` held (both from
/// [`raw_json`]), one line per place: every key of a map still there with
/// what it held, every list item still at its index (lists may grow), every
/// scalar the same. Empty when `after` kept everything; keys `after` added
/// and top-level version markers raised are not losses.
pub fn losses(before: &serde_json::Value, after: &serde_json::Value) -> Vec<String> {
    let mut found = Vec::new();
    collect_losses(before, after, "", &mut found);
    found
}

fn collect_losses(
    before: &serde_json::Value,
    after: &serde_json::Value,
    path: &str,
    found: &mut Vec<String>,
) {
    use serde_json::Value as Json;
    match (before, after) {
        (Json::Object(was), Json::Object(is)) => {
            for (key, value) in was {
                match is.get(key) {
                    Some(kept) => collect_losses(value, kept, &format!("{path}.{key}"), found),
                    None => found.push(format!("{path}.{key} was dropped")),
                }
            }
        }
        (Json::Array(was), Json::Array(is)) => {
            if is.len() < was.len() {
                found.push(format!("{path} lost items"));
            }
            for (index, (x, y)) in was.iter().zip(is).enumerate() {
                collect_losses(x, y, &format!("{path}[{index}]"), found);
            }
        }
        (x, y) if x == y => {}
        // A version marker only goes up: raised by a newer writer, it lost nothing.
        (Json::Number(x), Json::Number(y))
            if matches!(path, ".schema" | ".written_by") && x.as_u64() <= y.as_u64() => {}
        (x, y) => found.push(format!("{path} changed from {x} to {y}")),
    }
}

fn schema_error(path: &str, error: &HydrateError) -> DocError {
    let message = match error {
        HydrateError::Unexpected(autosurgeon::hydrate::Unexpected::None) => "missing".to_owned(),
        other => other.to_string(),
    };
    DocError::Schema { path: path.to_owned(), message }
}
