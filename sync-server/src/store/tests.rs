//! The store's tests on every engine: each test that speaks only through
//! [`Store`] (and samod's `KvStore`) runs on the SQLite engine, on a file
//! in a temporary folder, and on the PostgreSQL engine, on a database of
//! its own in the server `POSFIELD_TEST_POSTGRES` names. Without that
//! variable the PostgreSQL half fails under CI and is left out, said once,
//! elsewhere. Tests that set rows up with an engine's own SQL stay beside
//! that engine.

mod sessions;

use std::sync::Arc;

use super::postgres::testing::TestDatabase;
use super::sqlite::SqliteStore;
use super::{
    AuditEntry, Countersignature, DeliveryOutcome, NewDevice, OutboxMessage, OutboxState,
    PendingCountersignature, Principal, ProjectionRow, RENEWALS_KEPT, RegisterRow, Renewal, SeenVersion,
    SigningDevice, Store, StoreError, UserRole, VisitFacts, VisitQuery, VisitRow,
};

/// Where a test store keeps its data.
enum Engine {
    /// A SQLite file in this folder.
    Sqlite(tempfile::TempDir),
    /// A database made for the test.
    Postgres(Box<TestDatabase>),
}

/// A store of one engine for one test; its data goes with it.
pub(crate) struct TestStore {
    /// Dropped first: the database it uses goes after it.
    store: Arc<dyn Store>,
    engine: Engine,
}

impl std::ops::Deref for TestStore {
    type Target = dyn Store;

    fn deref(&self) -> &(dyn Store + 'static) {
        self.store.as_ref()
    }
}

impl TestStore {
    /// The engine's name.
    pub(crate) fn name(&self) -> &'static str {
        match self.engine {
            Engine::Sqlite(_) => "sqlite",
            Engine::Postgres(_) => "postgres",
        }
    }

    /// The same data opened again, as by a restarted server (or, on
    /// PostgreSQL, by another node).
    pub(crate) async fn reopen(&self) -> Arc<dyn Store> {
        match &self.engine {
            Engine::Sqlite(dir) => Arc::new(SqliteStore::open(&dir.path().join("server.db")).unwrap()),
            Engine::Postgres(database) => Arc::new(database.open().await.unwrap()),
        }
    }
}

/// A fresh store of each engine there is to test, each named on stderr
/// as the test takes it (a failure's output says which engine failed).
pub(crate) async fn engines() -> impl Iterator<Item = TestStore> {
    let dir = tempfile::tempdir().unwrap();
    let sqlite = SqliteStore::open(&dir.path().join("server.db")).unwrap();
    let mut stores = vec![TestStore { store: Arc::new(sqlite), engine: Engine::Sqlite(dir) }];
    if let Some(database) = TestDatabase::for_test().await {
        let store = database.open().await.unwrap();
        stores.push(TestStore { store: Arc::new(store), engine: Engine::Postgres(Box::new(database)) });
    }
    stores.into_iter().inspect(|store| eprintln!("-- on {}", store.name()))
}

#[tokio::test]
async fn chunks_are_found_by_prefix_and_no_further() {
    for store in engines().await {
        let store = store.documents();
        for (key, value) in [
            ("doc1/incremental/a", "1"),
            ("doc1/snapshot/b", "2"),
            ("doc10/incremental/c", "3"),
            ("doc1", "4"),
        ] {
            store.put(key.into(), value.into()).await.unwrap();
        }
        let mut found: Vec<_> =
            store.load_prefix("doc1".into()).await.unwrap().into_iter().map(|(k, _)| k).collect();
        found.sort();
        assert_eq!(found, ["doc1", "doc1/incremental/a", "doc1/snapshot/b"]);
        assert_eq!(store.load_prefix("doc1/incremental".into()).await.unwrap().len(), 1);
        store.delete("doc1/snapshot/b".into()).await.unwrap();
        assert_eq!(store.load("doc1/snapshot/b".into()).await.unwrap(), None);
        assert_eq!(store.load("doc1/incremental/a".into()).await.unwrap().as_deref(), Some(&b"1"[..]));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_chunk_writes_are_all_committed_before_they_return() {
    for store in engines().await {
        let documents = store.documents();
        let writers: Vec<_> = (0..16)
            .map(|writer| {
                let documents = documents.clone();
                tokio::spawn(async move {
                    for i in 0..50 {
                        let key = format!("doc{writer}/incremental/{i}");
                        documents.put(key.clone(), format!("{writer}-{i}").into_bytes()).await.unwrap();
                        // Visible to a reader as soon as put returns.
                        assert!(documents.load(key).await.unwrap().is_some());
                    }
                    documents.delete(format!("doc{writer}/incremental/0")).await.unwrap();
                })
            })
            .collect();
        for writer in writers {
            writer.await.unwrap();
        }
        drop(documents);
        let reopened = store.reopen().await.documents();
        for writer in 0..16 {
            let chunks = reopened.load_prefix(format!("doc{writer}")).await.unwrap();
            assert_eq!(chunks.len(), 49, "writer {writer}");
            let seventh = reopened.load(format!("doc{writer}/incremental/7")).await.unwrap().unwrap();
            assert_eq!(seventh, format!("{writer}-7").as_bytes());
        }
    }
}

#[tokio::test]
async fn reopening_keeps_everything() {
    for store in engines().await {
        store.documents().put("k".into(), b"v".to_vec()).await.unwrap();
        store.set_setting("a", "b").await.unwrap();
        let reopened = store.reopen().await;
        assert_eq!(reopened.documents().load("k".into()).await.unwrap().as_deref(), Some(&b"v"[..]));
        assert_eq!(reopened.setting("a").await.unwrap().as_deref(), Some("b"));
    }
}

#[tokio::test]
async fn the_access_rule_reaches_owned_and_assigned_visits_and_claims_unknown_ones() {
    for store in engines().await {
        store
            .write_projections(
                vec![row("v1", "wang", "wang", &["b1"]), row("v2", "office", "li", &["b2"])],
                Vec::new(),
            )
            .await
            .unwrap();
        // (who, visit, claim, reached)
        let cases = [
            (agent("wang"), "v1", false, true),
            (agent("li"), "v1", true, false),
            (agent("li"), "v2", false, true),
            (agent("wang"), "v2", true, false),
            (office(), "v1", false, true),
            (office(), "v2", false, true),
            // Unknown without a claim: nobody's.
            (agent("wang"), "v3", false, false),
            // The first claim wins, for the claimer only.
            (agent("li"), "v3", true, true),
            (agent("li"), "v3", false, true),
            (agent("wang"), "v3", true, false),
        ];
        for (who, visit, claim, reached) in cases {
            assert_eq!(
                store.reaches_visit(&who, visit, claim).await.unwrap(),
                reached,
                "{who:?} {visit} claim {claim}"
            );
        }
        assert_eq!(store.visit_owner("v3").await.unwrap().as_deref(), Some("li"));
        // Once projected, the row decides, and the claim is gone.
        store.write_projections(vec![row("v3", "li", "zhao", &[])], Vec::new()).await.unwrap();
        assert!(store.reaches_visit(&agent("zhao"), "v3", false).await.unwrap());
        assert!(store.reaches_visit(&agent("li"), "v3", false).await.unwrap(), "the owner keeps it");
        assert!(!store.reaches_visit(&agent("wang"), "v3", true).await.unwrap());

        // The lists are scoped by the same rule.
        let ids = |entries: Vec<posfield_shared::protocol::ManifestEntry>| -> Vec<String> {
            entries.into_iter().map(|e| e.id).collect()
        };
        assert_eq!(ids(store.manifest(&agent("wang")).await.unwrap()), ["v1"]);
        assert_eq!(ids(store.manifest(&agent("li")).await.unwrap()), ["v2", "v3"]);
        assert_eq!(store.missing_blobs(&agent("wang"), 10).await.unwrap(), ["b1"]);
        assert!(store.reaches_blob(&agent("li"), "b2").await.unwrap());
        assert!(!store.reaches_blob(&agent("li"), "b1").await.unwrap());
        assert!(store.reaches_blob(&office(), "b1").await.unwrap());
        store.blob_received("b1", 10, "wang").await.unwrap();
        assert!(store.missing_blobs(&agent("wang"), 10).await.unwrap().is_empty());
        assert_eq!(store.visit_facts(&agent("wang"), "v2").await.unwrap(), VisitFacts::default());
        assert_eq!(store.visit_facts(&office(), "v2").await.unwrap().missing_blobs, ["b2"]);
    }
}

#[tokio::test]
async fn a_device_keeps_the_versions_it_last_sent_and_a_renewal_waits_beside_its_credential() {
    for store in engines().await {
        store.add_enrolment_code("wang", "code", 1, i64::MAX).await.unwrap();
        let device = NewDevice {
            code_hash: "code".into(),
            device_id: "d1".into(),
            token_hash: "old".into(),
            client_device_id: "phone-1".into(),
            name: "华为 Mate".into(),
            public_key: "00".repeat(32),
            at: 10,
            expires_at: 1_000,
            actor_prefix: crate::auth::random_bytes(),
            previous_token_hash: None,
        };
        assert_eq!(store.enrol(device).await.unwrap().as_deref(), Some("wang"));
        let listed = store.devices().await.unwrap();
        assert_eq!((listed.len(), listed[0].seen.clone(), listed[0].expires_at), (1, None, 1_000));

        let seen = SeenVersion { app: "0.2.0".into(), schema: Some(1), protocol: 2 };
        store.record_version("d1", &seen, 50).await.unwrap();
        let listed = store.devices().await.unwrap();
        assert_eq!((listed[0].seen.as_ref(), listed[0].seen_since), (Some(&seen), Some(50)));
        assert_eq!(store.device_by_token("old").await.unwrap().unwrap().seen, Some(seen));

        // Renewals wait beside the credential, a later one beside an earlier.
        let renewal = |token: &str, at: i64| Renewal {
            device_id: "d1".into(),
            token_hash: token.into(),
            at,
            expires_at: 2_000 + at,
        };
        assert!(store.add_renewal(renewal("lost", 60)).await.unwrap());
        assert!(store.add_renewal(renewal("new", 61)).await.unwrap());
        assert!(store.device_by_token("lost").await.unwrap().is_some_and(|d| d.renewal));
        let new = store.device_by_token("new").await.unwrap().unwrap();
        assert_eq!((new.id.as_str(), new.renewal, new.expires_at), ("d1", true, 2_061));
        let old = store.device_by_token("old").await.unwrap().unwrap();
        assert_eq!((old.renewal, old.expires_at), (false, 1_000));

        // Taking one with a hash that is not waiting does nothing; taking one
        // replaces the credential and ends the others.
        store.take_renewal("d1", "never-issued").await.unwrap();
        assert!(store.device_by_token("old").await.unwrap().is_some());
        store.take_renewal("d1", "new").await.unwrap();
        assert!(store.device_by_token("old").await.unwrap().is_none());
        assert!(store.device_by_token("lost").await.unwrap().is_none());
        let current = store.device_by_token("new").await.unwrap().unwrap();
        assert_eq!((current.renewal, current.expires_at), (false, 2_061));
        assert_eq!(store.devices().await.unwrap()[0].expires_at, 2_061);

        // Only the newest few wait.
        for n in 0..RENEWALS_KEPT + 2 {
            store.add_renewal(renewal(&format!("r{n:02}"), 100 + n)).await.unwrap();
        }
        assert!(store.device_by_token("r01").await.unwrap().is_none());
        assert!(store.device_by_token("r02").await.unwrap().is_some());
        assert!(store.device_by_token(&format!("r{:02}", RENEWALS_KEPT + 1)).await.unwrap().is_some());

        // A revoked device gets no renewal, and those waiting stop working.
        assert!(store.revoke_device("d1", 70).await.unwrap());
        assert!(!store.add_renewal(renewal("after", 200)).await.unwrap());
        assert!(store.device_by_token("after").await.unwrap().is_none());
        assert!(store.device_by_token("r02").await.unwrap().is_none());
    }
}

/// The key an acceptance is verified with is the one of the device the
/// server names (the device that sent it), exactly: two enrolments in the
/// same second under the same device id the phones chose, by two agents,
/// are never confused, and the visit's facts name that device.
#[tokio::test]
async fn an_acceptance_is_verified_with_the_key_of_the_device_that_sent_it_exactly() {
    for store in engines().await {
        for (agent, device, key) in [("wang", "d-wang", "aa"), ("li", "d-li", "bb")] {
            store.add_enrolment_code(agent, &format!("code-{agent}"), 1, i64::MAX).await.unwrap();
            let enrolled = store
                .enrol(NewDevice {
                    code_hash: format!("code-{agent}"),
                    device_id: device.into(),
                    token_hash: format!("token-{agent}"),
                    client_device_id: "same-phone-id".into(),
                    name: format!("{agent}'s phone"),
                    public_key: key.repeat(32),
                    at: 10,
                    expires_at: 1_000,
                    actor_prefix: crate::auth::random_bytes(),
                    previous_token_hash: None,
                })
                .await
                .unwrap();
            assert_eq!(enrolled.as_deref(), Some(agent));
        }
        for (visit, device, key) in [("v-wang", "d-wang", "aa"), ("v-li", "d-li", "bb")] {
            let mut projected = row(visit, "wang", "wang", &[]);
            let expected = (device.to_owned(), key.repeat(32));
            projected.countersign = Some(PendingCountersignature {
                content_hash: format!("{visit}-hash"),
                device_id: device.into(),
                sign: Box::new(move |signer: Option<&SigningDevice>| {
                    let signer = signer.expect("the device is enrolled");
                    let valid = (signer.id.clone(), signer.public_key.clone()) == expected;
                    Countersignature {
                        content_hash: format!("{visit}-hash"),
                        strokes_sha256: String::new(),
                        image_sha256: String::new(),
                        device_id: signer.client_device_id.clone(),
                        device_signature_valid: valid,
                        device_public_key: valid.then(|| signer.public_key.clone()),
                        server_signature: String::new(),
                        server_public_key: "cc".repeat(32),
                        received_at: 10,
                    }
                }),
            });
            store.write_projections(vec![projected], Vec::new()).await.unwrap();
            let facts = store.visit_facts(&office(), visit).await.unwrap();
            let fact = facts.countersignature.expect("countersigned");
            assert!(fact.device_signature_valid, "{visit} was verified with another device's key");
            assert_eq!(
                fact.server_public_key,
                Some("cc".repeat(32)),
                "the server key that made it is recorded"
            );
            assert_eq!(fact.device.map(|d| d.id).as_deref(), Some(device));
            assert_eq!(facts_valid(&*store, visit, &format!("{visit}-hash")).await, Some(true));
            assert_eq!(facts_valid(&*store, visit, "another-hash").await, Some(false));
        }
    }
}

async fn facts_valid(store: &dyn Store, visit: &str, content_hash: &str) -> Option<bool> {
    store.visit_facts(&office(), visit).await.unwrap().device_signature_valid(Some(content_hash))
}

/// A key rotation is asked once for a live device, audited; it replaces
/// the key only from the key checked and while asked; the replaced key
/// stays among the device's earlier keys and is offered with the current
/// one when an acceptance that device pushed is countersigned.
#[tokio::test]
async fn a_rotated_device_key_joins_the_earlier_keys_the_countersignature_is_offered() {
    for store in engines().await {
        store.add_enrolment_code("wang", "code", 1, i64::MAX).await.unwrap();
        let device = NewDevice {
            code_hash: "code".into(),
            device_id: "d1".into(),
            token_hash: "token".into(),
            client_device_id: "phone-1".into(),
            name: "华为 Mate".into(),
            public_key: "aa".repeat(32),
            at: 10,
            expires_at: 1_000,
            actor_prefix: crate::auth::random_bytes(),
            previous_token_hash: None,
        };
        store.enrol(device).await.unwrap();
        let (old, new) = ("aa".repeat(32), "bb".repeat(32));
        // Not asked: nothing is replaced.
        assert!(!store.replace_device_key("d1", &old, &new, 20).await.unwrap());
        assert!(!store.device_by_token("token").await.unwrap().unwrap().key_rotation_requested);

        assert!(store.request_key_rotation("d1", "zhou", 30).await.unwrap());
        assert!(!store.request_key_rotation("d1", "zhou", 31).await.unwrap(), "asked twice");
        assert!(!store.request_key_rotation("no-such-device", "zhou", 31).await.unwrap());
        assert!(store.device_by_token("token").await.unwrap().unwrap().key_rotation_requested);
        let listed = store.devices().await.unwrap();
        assert_eq!(listed[0].key_rotation_requested, Some((30, "zhou".into())));

        // From a key that is not the device's: nothing changes.
        assert!(!store.replace_device_key("d1", &"cc".repeat(32), &new, 40).await.unwrap());
        assert!(store.replace_device_key("d1", &old, &new, 40).await.unwrap());
        let keys = store.device_keys("d1").await.unwrap().unwrap();
        assert_eq!(
            (keys.current.as_str(), keys.earlier.as_slice(), keys.rotation_requested),
            (new.as_str(), &[old.clone()][..], false)
        );
        assert!(
            !store.replace_device_key("d1", &new, &"dd".repeat(32), 50).await.unwrap(),
            "the request was used"
        );
        let listed = store.devices().await.unwrap();
        assert_eq!((listed[0].public_key.as_str(), listed[0].earlier_keys), (new.as_str(), 1));
        assert_eq!(listed[0].key_rotation_requested, None);

        let audit = store.audit_log(None, 100).await.unwrap();
        let actions: Vec<(&str, &str)> = audit
            .iter()
            .map(|a| &a.entry)
            .filter(|a| a.detail == "d1")
            .map(|a| (a.actor.as_str(), a.action.as_str()))
            .collect();
        assert!(actions.contains(&("zhou", "rotate_device_key")), "{actions:?}");
        assert!(actions.contains(&("wang", "device_key_rotated")), "{actions:?}");

        // The countersignature is offered both keys, and records the one that verified.
        let mut projected = row("v1", "wang", "wang", &[]);
        let offered = std::sync::Arc::new(std::sync::Mutex::new(None));
        let seen = offered.clone();
        projected.countersign = Some(PendingCountersignature {
            content_hash: "v1-hash".into(),
            device_id: "d1".into(),
            sign: Box::new(move |signer: Option<&SigningDevice>| {
                let signer = signer.expect("the device is enrolled");
                *seen.lock().unwrap() = Some((signer.public_key.clone(), signer.earlier_keys.clone()));
                Countersignature {
                    content_hash: "v1-hash".into(),
                    strokes_sha256: String::new(),
                    image_sha256: String::new(),
                    device_id: signer.client_device_id.clone(),
                    device_signature_valid: true,
                    device_public_key: signer.earlier_keys.first().cloned(),
                    server_signature: String::new(),
                    server_public_key: "cc".repeat(32),
                    received_at: 50,
                }
            }),
        });
        store.write_projections(vec![projected], Vec::new()).await.unwrap();
        assert_eq!(offered.lock().unwrap().clone(), Some((new.clone(), vec![old.clone()])));
        let fact = store.visit_facts(&office(), "v1").await.unwrap().countersignature.unwrap();
        assert_eq!(fact.device.unwrap().public_key, old, "the page shows the key that verified it");
    }
}

/// A plan that installs terminal `serial`, made when the register held it
/// in `before` (`None`: unknown).
fn install_plan(
    serial: &str,
    before: Option<posfield_shared::lifecycle::TerminalState>,
) -> crate::store::RegisterWrite {
    use posfield_shared::lifecycle::{TerminalEvent, TerminalState};
    use posfield_shared::visit::outcome::{Binding, RegisterPlan, SimChange, TerminalChange};
    crate::store::RegisterWrite {
        cause: crate::store::RegisterCause::VisitApproved,
        plan: RegisterPlan {
            changes: vec![TerminalChange {
                serial: serial.into(),
                before,
                from: TerminalState::InStock,
                events: vec![(TerminalEvent::Install, TerminalState::Installed)],
                binding: Binding::Bind { name: "老王便利店".into(), number: None },
                sim: SimChange::Keep,
                in_service_since: None,
                inspected_on: None,
                handover: None,
                label: None,
            }],
            conflicts: Vec::new(),
        },
        actor: "chen".into(),
    }
}

#[tokio::test]
async fn a_decisions_register_change_is_written_once_and_only_over_the_state_it_was_planned_from() {
    use posfield_shared::lifecycle::TerminalState;
    for store in engines().await {
        let approved = |id: &str, write| ProjectionRow { register: Some(write), ..row(id, "li", "li", &[]) };

        // Written once: the same decision written again changes nothing.
        store
            .write_projections(vec![approved("v1", install_plan("N9100000000101", None))], Vec::new())
            .await
            .unwrap();
        store
            .write_projections(vec![approved("v1", install_plan("N9100000000101", None))], Vec::new())
            .await
            .unwrap();
        assert_eq!(store.terminal_events("N9100000000101", 10).await.unwrap().len(), 1);
        assert!(store.register_applied("v1", crate::store::RegisterCause::VisitApproved).await.unwrap());
        let known = store.registered(&["N9100000000101".into()]).await.unwrap();
        assert_eq!(known["N9100000000101"].state, TerminalState::Installed);

        // Planned from a state the register no longer holds: nothing of the
        // decision is written, its projection row included.
        let stale = approved("v2", install_plan("N9100000000101", Some(TerminalState::InStock)));
        let refused = store.write_projections(vec![stale], Vec::new()).await.unwrap_err();
        assert!(
            matches!(refused, StoreError::RegisterChanged(ref serial) if serial == "N9100000000101"),
            "{refused}"
        );
        assert!(
            store.projected("v2").await.unwrap().is_none(),
            "the row was written without its register change"
        );
        assert_eq!(store.terminal_events("N9100000000101", 10).await.unwrap().len(), 1);
        assert!(!store.register_applied("v2", crate::store::RegisterCause::VisitApproved).await.unwrap());
    }
}

pub(crate) fn agent(name: &str) -> Principal {
    Principal::Agent { agent: name.to_owned(), device: format!("{name}-device") }
}

pub(crate) fn office() -> Principal {
    Principal::Office { name: "chen".into(), role: UserRole::Reviewer }
}

/// A projection row of a visit with only what the access rule and the
/// lists read.
pub(crate) fn row(id: &str, owner: &str, assignee: &str, blobs: &[&str]) -> ProjectionRow {
    ProjectionRow {
        id: id.into(),
        owner: owner.into(),
        kind: "repair".into(),
        status: "draft".into(),
        merchant: "老王便利店".into(),
        merchant_number: None,
        merchant_phone: None,
        serial: None,
        dispatched_serial: None,
        arrived_at: None,
        completed_at: None,
        assignee: assignee.into(),
        created_by: owner.into(),
        created_at: 1_790_000_000,
        updated_at: 1_790_000_000,
        heads: vec![format!("{id}-head")],
        office: "{}".into(),
        blobs: blobs.iter().map(|b| (*b).to_owned()).collect(),
        sim_iccid: None,
        sim_carrier: None,
        sim_expiry: None,
        countersign: None,
        register: None,
        messages: Vec::new(),
    }
}
fn device(code: &str, id: &str, prefix: [u8; crate::actors::PREFIX_LEN]) -> NewDevice {
    NewDevice {
        code_hash: code.into(),
        device_id: id.into(),
        token_hash: format!("token-{id}"),
        client_device_id: format!("phone-{id}"),
        name: String::new(),
        public_key: "00".repeat(32),
        at: 10,
        expires_at: i64::MAX,
        actor_prefix: prefix,
        previous_token_hash: None,
    }
}

/// Prefixes are unique: an enrolment drawing one another device has
/// fails whole, and the code still enrols with another prefix.
#[tokio::test]
async fn a_prefix_another_device_has_fails_the_enrolment_and_leaves_the_code() {
    for store in engines().await {
        for code in ["first", "second"] {
            store.add_enrolment_code("wang", code, 1, i64::MAX).await.unwrap();
        }
        store.enrol(device("first", "d1", *b"same-one")).await.unwrap().expect("enrolled");
        assert!(store.enrol(device("second", "d2", *b"same-one")).await.is_err());
        assert_eq!(store.enrol(device("second", "d2", *b"other-on")).await.unwrap().as_deref(), Some("wang"));
        let owners = store.actor_owners("d2", &[b"same-onexxxxxxxx".to_vec()]).await.unwrap();
        assert_eq!(owners.actors[0].prefix_of.as_deref(), Some("d1"));
    }
}

/// A phone enrolling again with its previous credential takes over that
/// device's prefix and bound actors, and the old credential is revoked;
/// a credential of another agent's device hands nothing over. Binding is
/// all or none.
#[tokio::test]
async fn enrolling_again_with_the_previous_credential_takes_over_its_actors() {
    for store in engines().await {
        for (agent, code) in [("wang", "first"), ("wang", "again"), ("li", "li")] {
            store.add_enrolment_code(agent, code, 1, i64::MAX).await.unwrap();
        }
        store.enrol(device("first", "d1", *b"prefix-1")).await.unwrap().expect("enrolled");
        let drawn = b"drawn before it!".to_vec();
        assert_eq!(store.bind_actors("d1", std::slice::from_ref(&drawn), 20).await.unwrap(), None);

        let again =
            NewDevice { previous_token_hash: Some("token-d1".into()), ..device("again", "d2", *b"prefix-2") };
        store.enrol(again).await.unwrap().expect("enrolled again");
        let owners = store.actor_owners("d2", &[b"prefix-1process".to_vec(), drawn.clone()]).await.unwrap();
        assert_eq!(owners.own_prefix.as_deref(), Some(&b"prefix-1"[..]));
        assert_eq!(owners.actors[0].prefix_of.as_deref(), Some("d2"));
        assert_eq!(owners.actors[1].bound_to.as_deref(), Some("d2"));
        assert!(store.device_by_token("token-d1").await.unwrap().expect("the old device").revoked);

        let li =
            NewDevice { previous_token_hash: Some("token-d2".into()), ..device("li", "d3", *b"prefix-3") };
        store.enrol(li).await.unwrap().expect("li enrolled");
        assert_eq!(
            store.actor_owners("d3", &[]).await.unwrap().own_prefix.as_deref(),
            Some(&b"prefix-3"[..])
        );
        assert!(!store.device_by_token("token-d2").await.unwrap().expect("wang's device").revoked);

        let fresh = b"another random b".to_vec();
        let refused = store.bind_actors("d3", &[fresh.clone(), drawn.clone()], 40).await.unwrap();
        assert_eq!(refused, Some((drawn, "d2".to_owned())));
        let owners = store.actor_owners("d3", &[fresh]).await.unwrap();
        assert_eq!(owners.actors[0].bound_to, None, "the actor before the refused one stays unbound");
    }
}

/// A message of the outbox for visit `visit`.
fn message(visit: &str, recipient: Option<&str>) -> OutboxMessage {
    OutboxMessage {
        key: format!("{visit}/approved"),
        event: "visit_approved".into(),
        visit_id: visit.into(),
        recipient: recipient.map(str::to_owned),
        payload: "{}".into(),
    }
}

/// The outbox holds one message per key; a message taken is leased and
/// not taken again until its lease runs out, and what its attempt came
/// to is recorded only while it is being sent.
#[tokio::test]
async fn the_outbox_takes_each_message_once_under_its_lease() {
    for store in engines().await {
        let messages =
            vec![message("v1", Some("13800000001")), message("v2", Some("13800000002")), message("v3", None)];
        assert_eq!(store.enqueue_messages(messages.clone()).await.unwrap(), 3);
        assert_eq!(store.enqueue_messages(messages).await.unwrap(), 0, "the keys are held already");
        let now = crate::clock::now();
        let first = store.take_due_messages(now, now + 60, 1).await.unwrap();
        let second = store.take_due_messages(now, now + 60, 10).await.unwrap();
        assert_eq!((first.len(), second.len()), (1, 1), "no recipient, never sent");
        assert_ne!(first[0].id, second[0].id);
        assert_eq!((first[0].state, first[0].attempts), (OutboxState::Sending, 1));
        assert!(store.take_due_messages(now, now + 60, 10).await.unwrap().is_empty(), "both are leased");
        let again = store.take_due_messages(now + 61, now + 120, 10).await.unwrap();
        assert_eq!(again.len(), 2, "a lease that ran out");
        assert_eq!(again[0].attempts, 2);

        store.record_delivery(first[0].id, DeliveryOutcome::Delivered, now + 62).await.unwrap();
        let retry = DeliveryOutcome::Retry { error: "busy".into(), at: now + 500 };
        store.record_delivery(second[0].id, retry, now + 62).await.unwrap();
        // A late answer for a message no longer being sent changes nothing.
        let late = DeliveryOutcome::Failed { error: "late".into() };
        store.record_delivery(second[0].id, late, now + 63).await.unwrap();
        let (rows, counts) = store.outbox(10).await.unwrap();
        assert_eq!(rows.len(), 3);
        assert_eq!(
            counts,
            [(OutboxState::Pending, 1), (OutboxState::Delivered, 1), (OutboxState::NoRecipient, 1)]
        );
        assert_eq!(store.release_sending_messages(now).await.unwrap(), 0);
    }
}

/// A signature's strokes are kept as long as the visit: the projection
/// names them now, and a row projected before it did still has its
/// countersignature naming them, which keeps them from the collection of
/// unreferenced uploads; an upload nothing names goes.
#[tokio::test]
async fn strokes_a_countersignature_names_are_never_collected() {
    for store in engines().await {
        let (strokes, orphan) = ("5".repeat(64), "6".repeat(64));
        for sha in [&strokes, &orphan] {
            store.blob_received(sha, 10, "wang").await.unwrap();
        }
        let mut projected = row("v1", "wang", "wang", &[]);
        let named = strokes.clone();
        projected.countersign = Some(PendingCountersignature {
            content_hash: "v1-hash".into(),
            device_id: "d-wang".into(),
            sign: Box::new(move |_: Option<&SigningDevice>| Countersignature {
                content_hash: "v1-hash".into(),
                strokes_sha256: named,
                image_sha256: String::new(),
                device_id: "d-wang".into(),
                device_signature_valid: false,
                device_public_key: None,
                server_signature: String::new(),
                server_public_key: "cc".repeat(32),
                received_at: 10,
            }),
        });
        store.write_projections(vec![projected], Vec::new()).await.unwrap();
        let later = crate::clock::now() + 30 * 24 * 3600;
        assert_eq!(store.unreferenced_blobs(later, 10).await.unwrap(), std::slice::from_ref(&orphan));
        assert!(!store.forget_unreferenced_blob(&strokes).await.unwrap(), "the strokes were forgotten");
        assert!(store.forget_unreferenced_blob(&orphan).await.unwrap());
    }
}

/// Each visit counts the blobs it names that have not arrived: an arrival
/// counts once for every visit naming it, arriving again changes nothing,
/// and a projection after the arrival counts it as there.
#[tokio::test]
async fn a_visit_counts_the_blobs_it_still_waits_for() {
    for store in engines().await {
        let (shared, own, later) = ("1".repeat(64), "2".repeat(64), "3".repeat(64));
        store
            .write_projections(
                vec![row("v1", "wang", "wang", &[&shared, &own]), row("v2", "wang", "wang", &[&shared])],
                Vec::new(),
            )
            .await
            .unwrap();
        let waiting = |rows: Vec<VisitRow>| -> Vec<(String, i64)> {
            let mut rows: Vec<_> = rows.into_iter().map(|r| (r.id, r.blobs_missing)).collect();
            rows.sort();
            rows
        };
        let list =
            || async { waiting(store.visit_list(&office(), &VisitQuery::default(), 10).await.unwrap().0) };
        assert_eq!(list().await, [("v1".into(), 2), ("v2".into(), 1)]);
        store.blob_received(&shared, 10, "wang").await.unwrap();
        assert_eq!(list().await, [("v1".into(), 1), ("v2".into(), 0)]);
        store.blob_received(&shared, 10, "wang").await.unwrap();
        assert_eq!(list().await, [("v1".into(), 1), ("v2".into(), 0)], "a second arrival counted again");
        store.blob_received(&later, 10, "wang").await.unwrap();
        store
            .write_projections(vec![row("v2", "wang", "wang", &[&shared, &later])], Vec::new())
            .await
            .unwrap();
        assert_eq!(list().await, [("v1".into(), 1), ("v2".into(), 0)]);
        store.blob_received(&own, 10, "wang").await.unwrap();
        assert_eq!(list().await, [("v1".into(), 0), ("v2".into(), 0)]);
        assert!(store.missing_blobs(&agent("wang"), 10).await.unwrap().is_empty());
        assert!(store.missing_blobs(&office(), 10).await.unwrap().is_empty());
    }
}

/// Arrivals at the same moment (written together by the PostgreSQL
/// engine) each count once, every uploader is remembered, and the same
/// blob from two agents at once is one blob.
#[tokio::test]
async fn arrivals_at_once_each_count_once() {
    for store in engines().await {
        let shas: Vec<String> = (0..40).map(|i| format!("{i:064x}")).collect();
        let names: Vec<&str> = shas.iter().map(String::as_str).collect();
        store
            .write_projections(
                vec![row("v1", "wang", "wang", &names[..20]), row("v2", "li", "li", &names[10..])],
                Vec::new(),
            )
            .await
            .unwrap();
        let counts = || async {
            let page = store.visit_list(&office(), &VisitQuery::default(), 10).await.unwrap().0;
            let mut counts: Vec<(String, i64)> = page.into_iter().map(|r| (r.id, r.blobs_missing)).collect();
            counts.sort();
            counts
        };
        for (part, expected) in [(&shas[..16], [4, 24]), (&shas[16..], [0, 0])] {
            let arrivals = part.iter().flat_map(|sha| {
                let store = &store;
                [store.blob_received(sha, 10, "wang"), store.blob_received(sha, 10, "li")]
            });
            for done in futures::future::join_all(arrivals).await {
                done.unwrap();
            }
            assert_eq!(counts().await, [("v1".into(), expected[0]), ("v2".into(), expected[1])]);
        }
        for sha in &shas {
            assert!(store.blob_uploaded_by(sha, "wang").await.unwrap());
            assert!(store.blob_uploaded_by(sha, "li").await.unwrap());
        }
        let later = crate::clock::now() + 30 * 24 * 3600;
        assert!(store.unreferenced_blobs(later, 100).await.unwrap().is_empty());
    }
}

/// The alerts' counters and the repeat-fault list count the same on both
/// engines: visits waiting for review and returned ones (as each principal
/// reaches them), and terminals repaired twice or more within the year,
/// most repairs first, with the total of such terminals.
#[tokio::test]
async fn the_alerts_count_reviews_returns_and_repeated_repairs_alike() {
    let now = posfield_shared::CalendarDate::parse("2026-11-10").unwrap().beijing_start();
    let recent = now.seconds() - 30 * 24 * 3600;
    for store in engines().await {
        let mut rows = Vec::new();
        for (i, (status, serial, owner)) in [
            ("completed", "T1", "wang"),
            ("completed", "T1", "li"),
            ("returned", "T1", "wang"),
            ("approved", "T2", "wang"),
            ("approved", "T2", "wang"),
            ("completed", "T3", "wang"),
        ]
        .into_iter()
        .enumerate()
        {
            let mut visit = row(&format!("v{i}"), owner, owner, &[]);
            visit.status = status.into();
            visit.serial = Some(serial.into());
            visit.updated_at = recent + i64::try_from(i).unwrap();
            rows.push(visit);
        }
        store.write_projections(rows, Vec::new()).await.unwrap();
        let alerts = crate::office::queries::alerts(&*store, &office(), now).await.unwrap();
        assert_eq!((alerts.waiting_review, alerts.returned), (3, 1));
        let repeated: Vec<(String, i64)> =
            alerts.repeated_faults.rows.iter().map(|a| (a.terminal.serial.clone(), a.figure)).collect();
        assert_eq!(repeated, [("T1".into(), 3), ("T2".into(), 2)]);
        assert_eq!(alerts.repeated_faults.total, 2);
        let wang = crate::office::queries::alerts(&*store, &agent("wang"), now).await.unwrap();
        assert_eq!((wang.waiting_review, wang.returned), (2, 1));
    }
}

#[tokio::test]
async fn a_merchants_terminals_and_place_come_from_the_register() {
    let row = |serial: &str, number: &str, place: Option<(i64, i64)>| RegisterRow {
        serial: serial.into(),
        merchant_number: Some(number.into()),
        state: "installed".into(),
        lat_e6: place.map(|p| p.0),
        lon_e6: place.map(|p| p.1),
        ..RegisterRow::default()
    };
    let audit = || AuditEntry::new(None, "boss", "import_terminals", "");
    let (number, other) = ("898310048161234", "898310048169999");
    let shop = (31_224_361, 121_469_170);
    for store in engines().await {
        let rows = vec![
            row("N9100000000002", number, None),
            row("N9100000000001", number, Some(shop)),
            row("N9100000000009", other, Some((1, 1))),
        ];
        store.import_register(rows, audit()).await.unwrap();
        let serials: Vec<_> =
            store.merchant_terminals(number, 20).await.unwrap().into_iter().map(|t| t.serial).collect();
        assert_eq!(serials, ["N9100000000001", "N9100000000002"], "{}", store.name());
        assert_eq!(store.merchant_terminals(number, 1).await.unwrap().len(), 1, "bounded");
        assert_eq!(store.merchant_place(number).await.unwrap(), Some(shop), "{}", store.name());
        assert_eq!(store.merchant_place("898310048160000").await.unwrap(), None);
        // A later import that gives no place keeps the one the register has.
        store.import_register(vec![row("N9100000000001", number, None)], audit()).await.unwrap();
        assert_eq!(store.merchant_place(number).await.unwrap(), Some(shop), "{}", store.name());
        // A terminal moved to another merchant does not take its old shop's place along.
        let third = "898310048167777";
        store.import_register(vec![row("N9100000000001", third, None)], audit()).await.unwrap();
        assert_eq!(store.merchant_place(third).await.unwrap(), None, "{}", store.name());
        assert_eq!(store.merchant_place(number).await.unwrap(), None, "the shop's only placed terminal left");
    }
}

/// The review queue's order: waiting visits oldest change first, ties by
/// id, paged forward from a visit's key; the list's own order is untouched.
#[tokio::test]
async fn the_queue_reads_waiting_visits_oldest_first_and_pages_forward() {
    for store in engines().await {
        let waiting = |id: &str, at: i64| ProjectionRow {
            status: "completed".into(),
            updated_at: at,
            ..row(id, "wang", "wang", &[])
        };
        let rows = vec![
            waiting("v3", 300),
            waiting("v1", 100),
            waiting("v2b", 200),
            waiting("v2a", 200),
            ProjectionRow { status: "approved".into(), updated_at: 50, ..row("done", "wang", "wang", &[]) },
        ];
        store.write_projections(rows, Vec::new()).await.unwrap();
        let query = |after: Option<(i64, &str)>| VisitQuery {
            status: Some("completed".into()),
            oldest_first: true,
            after: after.map(|(at, id)| (at, id.to_owned())),
            ..VisitQuery::default()
        };
        let ids = |rows: Vec<VisitRow>| rows.into_iter().map(|r| r.id).collect::<Vec<_>>();
        let (first, next) = store.visit_list(&office(), &query(None), 2).await.unwrap();
        assert_eq!(ids(first), ["v1", "v2a"], "{}", store.name());
        assert_eq!(next, Some((200, "v2a".to_owned())));
        let (rest, _) = store.visit_list(&office(), &query(Some((200, "v2a"))), 10).await.unwrap();
        assert_eq!(ids(rest), ["v2b", "v3"], "{}", store.name());
        let newest = VisitQuery { status: Some("completed".into()), ..VisitQuery::default() };
        let (list, _) = store.visit_list(&office(), &newest, 10).await.unwrap();
        assert_eq!(ids(list), ["v3", "v2a", "v2b", "v1"], "the list stays newest first");
    }
}

/// What an alert's rows became: the open visits of their terminals, newest
/// first, within the asker's reach; approved and cancelled ones are done.
#[tokio::test]
async fn the_open_visits_of_terminals_are_those_not_yet_decided() {
    for store in engines().await {
        let visit = |id: &str, serial: &str, status: &str, owner: &str, at: i64| ProjectionRow {
            status: status.into(),
            serial: Some(serial.into()),
            updated_at: at,
            ..row(id, owner, owner, &[])
        };
        let rows = vec![
            visit("a1", "T1", "draft", "wang", 100),
            visit("a2", "T1", "approved", "wang", 200),
            // Dispatched for T2, not identified yet: the alert's row still finds it.
            ProjectionRow {
                serial: None,
                dispatched_serial: Some("T2".into()),
                ..visit("b1", "T2", "returned", "li", 300)
            },
            visit("c1", "T3", "cancelled", "wang", 400),
            visit("d1", "T4", "completed", "wang", 500),
        ];
        store.write_projections(rows, Vec::new()).await.unwrap();
        let serials: Vec<String> = ["T1", "T2", "T3", "T9"].map(String::from).to_vec();
        let ids = |rows: Vec<VisitRow>| rows.into_iter().map(|r| r.id).collect::<Vec<_>>();
        let open = store.open_visits(&office(), &serials).await.unwrap();
        assert_eq!(open.iter().map(|r| r.serial.as_deref()).collect::<Vec<_>>(), [Some("T2"), Some("T1")]);
        assert_eq!(ids(open), ["b1", "a1"], "{}", store.name());
        // The dispatched terminal is not the visit's terminal yet: its
        // visits and its repairs (the repeat-fault alert) do not count it.
        assert!(store.terminal_visits(&office(), "T2").await.unwrap().is_empty(), "{}", store.name());
        assert_eq!(
            ids(store.open_visits(&agent("wang"), &serials).await.unwrap()),
            ["a1"],
            "{}",
            store.name()
        );
        assert!(store.open_visits(&office(), &[]).await.unwrap().is_empty());
    }
}

/// The dashboard counts per Beijing day, the review backlog by age, SIM
/// expiries in its window, the register by state, and arrival to completion.
#[tokio::test]
async fn the_dashboard_counts_days_backlog_sims_states_and_arrival_to_completion() {
    let day = 86_400;
    // 2026-11-10 00:00 Beijing.
    let midnight = posfield_shared::CalendarDate::parse("2026-11-10").unwrap().beijing_start().seconds();
    let now = midnight + 12 * 3600;
    for store in engines().await {
        let visit =
            |id: &str, kind: &str, agent: &str, status: &str, created: i64, updated: i64| ProjectionRow {
                kind: kind.into(),
                status: status.into(),
                created_at: created,
                updated_at: updated,
                ..row(id, agent, agent, &[])
            };
        let rows = vec![
            // Created at 23:30 Beijing on the 9th: the 9th, though UTC says the 9th at 15:30 too.
            visit("a", "repair", "wang", "completed", midnight - 1800, now - 3600),
            visit("b", "repair", "wang", "completed", midnight + 60, now - 2 * day),
            visit("c", "inspection", "li", "completed", midnight + 120, now - 10 * day),
            ProjectionRow {
                arrived_at: Some(now - 5000),
                completed_at: Some(now - 2000),
                ..visit("d", "sim_renewal", "li", "approved", midnight + 180, now)
            },
            visit("old", "repair", "li", "approved", now - 90 * day, now - 90 * day),
        ];
        store.write_projections(rows, Vec::new()).await.unwrap();
        let register = |serial: &str, state: &str, expiry: Option<&str>| RegisterRow {
            serial: serial.into(),
            state: state.into(),
            sim_expiry: expiry.map(String::from),
            ..RegisterRow::default()
        };
        let audit = AuditEntry::new(None, "boss", "import_terminals", "");
        store
            .import_register(
                vec![
                    register("S1", "installed", Some("2026-11-20")),
                    register("S2", "installed", Some("2026-11-20")),
                    register("S3", "lost", Some("2026-11-21")),
                    register("S4", "in_stock", Some("2027-06-01")),
                ],
                audit,
            )
            .await
            .unwrap();
        let window = super::DashboardWindow {
            now,
            since: midnight - 30 * day,
            sim_from: "2026-11-10".into(),
            sim_until: "2027-02-01".into(),
            repairs_since: midnight - 365 * day,
        };
        let figures = store.dashboard(&office(), &window).await.unwrap();
        let today = (midnight + super::BEIJING_OFFSET_SECS) / day;
        let mut kinds = figures.per_day_kind.clone();
        kinds.sort();
        assert_eq!(
            kinds,
            [
                (today - 1, "repair".to_owned(), 1),
                (today, "inspection".to_owned(), 1),
                (today, "repair".to_owned(), 1),
                (today, "sim_renewal".to_owned(), 1)
            ],
            "{}",
            store.name()
        );
        let mut agents = figures.per_day_agent.clone();
        agents.sort();
        assert_eq!(
            agents,
            [(today - 1, "wang".to_owned(), 1), (today, "li".to_owned(), 2), (today, "wang".to_owned(), 1)]
        );
        assert_eq!(figures.backlog, [1, 1, 0, 1], "{}", store.name());
        assert_eq!(figures.oldest_waiting, Some(now - 10 * day));
        assert_eq!(
            figures.sim_expiries,
            [("2026-11-20".to_owned(), 2)],
            "a lost terminal's card is not counted"
        );
        let mut states = figures.states.clone();
        states.sort();
        assert_eq!(states, [("in_stock".to_owned(), 1), ("installed".to_owned(), 2), ("lost".to_owned(), 1)]);
        assert_eq!(figures.arrival_to_completion, (1, 3000), "{}", store.name());
        assert_eq!(figures.repeated_faults, 0, "repairs without a serial are no terminal's");
        let li = store.dashboard(&agent("li"), &window).await.unwrap();
        assert_eq!(li.backlog, [0, 0, 0, 1], "an agent's reach only");
    }
}

/// The audit log's search: newest first, each filter exact, days as a
/// range, paged by id.
#[tokio::test]
async fn the_audit_log_is_searched_by_who_what_which_visit_and_when() {
    for store in engines().await {
        for (visit, actor, action) in [
            (Some("v1"), "boss", "review"),
            (None, "boss", "enrolment_code_issued"),
            (Some("v2"), "chen", "review"),
            (Some("v1"), "chen", "viewed_personal_document"),
        ] {
            store.audit(AuditEntry::new(visit, actor, action, "")).await.unwrap();
        }
        let search = |query: super::AuditQuery| {
            let store = &store;
            async move {
                let found = store.audit_search(&query, 10).await.unwrap();
                found
                    .into_iter()
                    .map(|(_, r)| format!("{}:{}", r.entry.actor, r.entry.action))
                    .collect::<Vec<_>>()
            }
        };
        assert_eq!(
            search(super::AuditQuery::default()).await,
            ["chen:viewed_personal_document", "chen:review", "boss:enrolment_code_issued", "boss:review"],
            "{}",
            store.name()
        );
        let by = |actor: &str| super::AuditQuery { actor: Some(actor.into()), ..Default::default() };
        assert_eq!(search(by("boss")).await, ["boss:enrolment_code_issued", "boss:review"]);
        let reviews = super::AuditQuery { action: Some("review".into()), ..Default::default() };
        assert_eq!(search(reviews).await, ["chen:review", "boss:review"]);
        let v1 = super::AuditQuery { visit_id: Some("v1".into()), ..Default::default() };
        assert_eq!(search(v1).await, ["chen:viewed_personal_document", "boss:review"]);
        let future = super::AuditQuery { from: Some(crate::clock::now() + 3600), ..Default::default() };
        assert!(search(future).await.is_empty());
        let first = store.audit_search(&super::AuditQuery::default(), 2).await.unwrap();
        let after = super::AuditQuery { before: Some(first[1].0), ..Default::default() };
        assert_eq!(search(after).await, ["boss:enrolment_code_issued", "boss:review"], "the next page");
    }
}
