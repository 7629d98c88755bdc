//! The SQLite engine's tests: document chunks and the group commit, the
//! access rule, the back office's lists, and what happens to a write the
//! database refuses, from the store up to a sync connection (which stores
//! nothing a phone sends); uploads no visit refers to, collected.

use std::time::Duration;

use posfield_shared::visit::{Ctx, MerchantInput, VisitDoc};
use posfield_shared::{Actor, Timestamp, VisitKind};
use posfield_sync_link_server::storage::KvStore;

use super::*;
use crate::blobs::{BlobDir, Blobs, Collected, collect_unreferenced};
use crate::office::queries::{VisitFilter, day_of, day_start};
use crate::store::{
    AlertList, Countersignature, PendingCountersignature, RENEWALS_KEPT, SigningDevice, TerminalAlert,
};

fn open() -> (tempfile::TempDir, SqliteStore) {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("server.db")).unwrap();
    (dir, store)
}

fn agent(name: &str) -> Principal {
    Principal::Agent { agent: name.to_owned(), device: format!("{name}-device") }
}

fn office() -> Principal {
    Principal::Office { name: "chen".into(), role: UserRole::Reviewer }
}

/// A projection row of a visit with only what the access rule and the
/// lists read.
fn row(id: &str, owner: &str, assignee: &str, blobs: &[&str]) -> ProjectionRow {
    ProjectionRow {
        id: id.into(),
        owner: owner.into(),
        kind: "repair".into(),
        status: "draft".into(),
        merchant: "老王便利店".into(),
        merchant_number: None,
        merchant_phone: None,
        serial: None,
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

#[tokio::test]
async fn chunks_are_found_by_prefix_and_no_further() {
    let (_dir, store) = open();
    for (key, value) in
        [("doc1/incremental/a", "1"), ("doc1/snapshot/b", "2"), ("doc10/incremental/c", "3"), ("doc1", "4")]
    {
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_chunk_writes_are_all_committed_before_they_return() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("server.db");
    let store = SqliteStore::open(&path).unwrap();
    let writers: Vec<_> = (0..16)
        .map(|writer| {
            let store = store.clone();
            tokio::spawn(async move {
                for i in 0..50 {
                    let key = format!("doc{writer}/incremental/{i}");
                    store.put(key.clone(), format!("{writer}-{i}").into_bytes()).await.unwrap();
                    // Visible to a reader as soon as put returns.
                    assert!(store.load(key).await.unwrap().is_some());
                }
                store.delete(format!("doc{writer}/incremental/0")).await.unwrap();
            })
        })
        .collect();
    for writer in writers {
        writer.await.unwrap();
    }
    drop(store);
    let reopened = SqliteStore::open(&path).unwrap();
    for writer in 0..16 {
        let chunks = reopened.load_prefix(format!("doc{writer}")).await.unwrap();
        assert_eq!(chunks.len(), 49, "writer {writer}");
        let seventh = reopened.load(format!("doc{writer}/incremental/7")).await.unwrap().unwrap();
        assert_eq!(seventh, format!("{writer}-7").as_bytes());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_batched_write_fails_alone() {
    let (_dir, store) = open();
    let mut writes = Vec::new();
    for i in 0..40 {
        let store = store.clone();
        writes.push(tokio::spawn(async move {
            store
                .batched(move |c| {
                    if i == 17 {
                        c.execute("INSERT INTO no_such_table VALUES (1)", [])?;
                    }
                    c.execute("INSERT INTO settings (key, value) VALUES (?1, 'v')", [format!("k{i}")])?;
                    Ok(())
                })
                .await
        }));
    }
    for (i, write) in writes.into_iter().enumerate() {
        let outcome = write.await.unwrap();
        assert_eq!(outcome.is_err(), i == 17, "write {i}: {outcome:?}");
    }
    assert_eq!(store.setting("k16").await.unwrap().as_deref(), Some("v"));
    assert_eq!(store.setting("k17").await.unwrap(), None, "the failed write left nothing");
    assert_eq!(store.setting("k18").await.unwrap().as_deref(), Some("v"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batched_jobs_sharing_a_batch_with_chunk_writes_get_their_own_outcome() {
    let (_dir, store) = open();
    let writers: Vec<_> = (0..4)
        .map(|writer| {
            let store = store.clone();
            tokio::spawn(async move {
                for i in 0..100 {
                    store.put(format!("doc{writer}/incremental/{i}"), b"x".to_vec()).await.unwrap();
                }
            })
        })
        .collect();
    let mut jobs = Vec::new();
    for i in 0..200 {
        let store = store.clone();
        jobs.push(tokio::spawn(
            async move { store.put_chunks(vec![(format!("job{i}"), b"y".to_vec())]).await },
        ));
    }
    for (i, job) in jobs.into_iter().enumerate() {
        let outcome = job.await.unwrap();
        assert!(outcome.is_ok(), "job {i}: {outcome:?}");
    }
    for writer in writers {
        writer.await.unwrap();
    }
}

#[tokio::test]
async fn reopening_keeps_everything() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("server.db");
    SqliteStore::open(&path).unwrap().put("k".into(), b"v".to_vec()).await.unwrap();
    assert_eq!(SqliteStore::open(&path).unwrap().load("k".into()).await.unwrap().as_deref(), Some(&b"v"[..]));
}

#[tokio::test]
async fn a_chunk_write_the_database_refuses_is_answered_with_its_error() {
    let (_dir, store) = open();
    store.put("doc1/incremental/a".into(), b"1".to_vec()).await.unwrap();
    store.refuse_document_writes().await.unwrap();
    let refused = store.put("doc1/incremental/b".into(), b"2".to_vec()).await;
    assert!(refused.as_ref().is_err_and(|e| e.0.contains("full")), "{refused:?}");
    assert!(store.put_chunks(vec![("doc1/incremental/c".into(), b"3".to_vec())]).await.is_err());
    assert!(store.delete("doc1/incremental/a".into()).await.is_err());
    // Nothing of the refused writes is there, and what was stored before stays.
    let keys: Vec<String> =
        store.load_prefix("doc1".into()).await.unwrap().into_iter().map(|(k, _)| k).collect();
    assert_eq!(keys, ["doc1/incremental/a"]);
}

#[tokio::test]
async fn the_access_rule_reaches_owned_and_assigned_visits_and_claims_unknown_ones() {
    let (_dir, store) = open();
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

/// A store with `n` projected visits: kinds, statuses and agents in
/// turn, many sharing one `updated_at` so the key's tie-break matters.
#[tokio::test]
async fn a_device_keeps_the_versions_it_last_sent_and_a_renewal_waits_beside_its_credential() {
    let (_dir, store) = open();
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

fn fleet(n: usize) -> (tempfile::TempDir, SqliteStore) {
    let (dir, store) = open();
    let conn = store.connection();
    for i in 0..n {
        conn.execute(
            "INSERT INTO visits (id, owner, kind, status, merchant, merchant_number, serial, assignee, created_by,
                created_at, updated_at, heads, office, blobs_missing)
             VALUES (?1, ?2, ?3, ?4, ?5, NULL, ?6, ?2, ?2, ?7, ?8, '', '{}', ?9)",
            params![
                format!("v{i:04}"),
                ["wang", "li", "zhao"][i % 3],
                ["repair", "installation"][i % 2],
                ["completed", "approved", "returned", "draft"][i % 4],
                format!("{}店", ["老王", "李记", "张姐"][i % 3]),
                format!("N91000{:08}", i % 40),
                1_790_000_000 + i as i64,
                1_790_000_000 + (i as i64 / 7) * 3_600,
                i64::from(i % 10 == 0),
            ],
        )
        .unwrap();
    }
    drop(conn);
    (dir, store)
}

async fn all_pages(store: &SqliteStore, who: &Principal, filter: &VisitFilter) -> Vec<VisitRow> {
    let mut filter = filter.clone();
    let mut seen = Vec::new();
    loop {
        let (rows, next) = crate::office::queries::visits(store, who, &filter, 9).await.unwrap();
        assert!(rows.len() <= 9);
        seen.extend(rows);
        match next {
            Some(key) => filter.after = key,
            None => return seen,
        }
    }
}

#[tokio::test]
async fn keyset_pages_cover_every_match_once_newest_first() {
    let (_dir, store) = fleet(200);
    let cases = [
        (office(), VisitFilter::default()),
        (office(), VisitFilter { status: "completed".into(), ..Default::default() }),
        (office(), VisitFilter { kind: "repair".into(), agent: "li".into(), ..Default::default() }),
        (office(), VisitFilter { merchant: "李记".into(), ..Default::default() }),
        (office(), VisitFilter { serial: "n9100000000".into(), ..Default::default() }),
        (
            office(),
            VisitFilter {
                from: day_of(1_790_000_000 + 10 * 3_600),
                to: day_of(1_790_000_000 + 10 * 3_600),
                ..Default::default()
            },
        ),
        // An agent's list holds its own visits only.
        (agent("zhao"), VisitFilter { status: "draft".into(), ..Default::default() }),
    ];
    let everything = store.visit_list(&office(), &VisitQuery::default(), 10_000).await.unwrap().0;
    for (who, filter) in cases {
        let rows = all_pages(&store, &who, &filter).await;
        let expected: Vec<String> = everything
            .iter()
            .filter(|r| {
                (filter.status.is_empty() || r.status == filter.status)
                    && (filter.kind.is_empty() || r.kind == filter.kind)
                    && (filter.agent.is_empty() || r.assignee == filter.agent)
                    && (filter.merchant.is_empty() || r.merchant.contains(&filter.merchant))
                    && (filter.serial.is_empty()
                        || r.serial.as_deref().unwrap_or("").starts_with(&filter.serial.to_uppercase()))
                    && day_start(&filter.from).is_none_or(|from| r.updated_at >= from)
                    && day_start(&filter.to).is_none_or(|to| r.updated_at < to + 86_400)
                    && who.agent().is_none_or(|agent| r.assignee == agent)
            })
            .map(|r| r.id.clone())
            .collect();
        let ids: Vec<String> = rows.iter().map(|r| r.id.clone()).collect();
        assert_eq!(ids, expected, "{who:?} {filter:?}");
        assert!(!ids.is_empty(), "the case {filter:?} matches something");
        assert!(rows.windows(2).all(|w| (w[0].updated_at, &w[1].id) >= (w[1].updated_at, &w[0].id)));
    }
}

#[tokio::test]
async fn a_merchant_filter_treats_like_wildcards_as_text() {
    let (_dir, store) = fleet(20);
    let filter = VisitFilter { merchant: "%".into(), ..Default::default() };
    assert!(crate::office::queries::visits(&store, &office(), &filter, 50).await.unwrap().0.is_empty());
}

#[tokio::test]
async fn the_list_and_the_alerts_use_their_indexes() {
    let (_dir, store) = fleet(10);
    let plan = |sql: &str| -> String {
        let conn = store.connection();
        let mut statement = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
        let rows = statement.query_map([], |r| r.get::<_, String>(3)).unwrap();
        rows.map(Result::unwrap).collect::<Vec<_>>().join("; ")
    };
    let list = "SELECT v.id FROM visits v WHERE 1 = 1 AND v.status = 'completed' ORDER BY v.updated_at DESC, v.id LIMIT 51";
    assert!(
        plan(list).contains("visits_by_status_updated") && !plan(list).contains("TEMP B-TREE"),
        "{}",
        plan(list)
    );
    let by_kind = "SELECT v.id FROM visits v WHERE 1 = 1 AND v.kind = 'repair' ORDER BY v.updated_at DESC, v.id LIMIT 51";
    assert!(plan(by_kind).contains("visits_by_kind_updated"), "{}", plan(by_kind));
    // The register's alerts read their indexes, in their order (V14, V16).
    let held = "SELECT r.serial FROM terminal_register r WHERE r.holder_kind = 'agent' AND r.held_since <= 0 \
                ORDER BY r.held_since, r.serial LIMIT 20";
    assert!(plan(held).contains("terminal_register_by_holder"), "{}", plan(held));
    let inspection = "SELECT r.serial FROM terminal_register r WHERE r.state = 'installed' \
                      AND COALESCE(r.last_inspected, r.in_service_since, r.production_date) <= '2025-01-01' \
                      ORDER BY COALESCE(r.last_inspected, r.in_service_since, r.production_date), r.serial \
                      LIMIT 20";
    assert!(plan(inspection).contains("terminal_register_by_inspection"), "{}", plan(inspection));
    // The alerts name their partial indexes; SQLite refuses the query if one cannot serve it.
    let alerts = crate::office::queries::alerts(&store, &office(), day("2026-11-10")).await.unwrap();
    assert_eq!(alerts.incomplete_blobs.total, 1);
    assert_eq!(alerts.waiting_applications.total, 0);
}

#[tokio::test]
async fn alerts_find_sims_old_terminals_warranties_and_repeated_repairs() {
    let (_dir, store) = fleet(0);
    let csv = "serial,state,production_date,warranty_end,sim_iccid,sim_expiry\n\
               N910000000001,installed,2020-01-01,2026-12-01,89860012345678901238,2026-11-01\n\
               N910000000002,installed,2025-01-01,2027-06-01,89860012345678901238,2026-11-30\n\
               N910000000003,deregistered,2019-01-01,,89860012345678901238,2025-01-01\n\
               N910000000004,installed,2024-06-01,2026-11-20,,\n";
    assert!(
        crate::office::import::import_terminals(&store, csv, |_| {
            crate::store::AuditEntry::new(None, "zhou", "import_terminals", "")
        })
        .await
        .unwrap()
        .bad
        .is_empty()
    );
    for (i, serial) in ["N910000000004", "N910000000004", "N910000000002"].iter().enumerate() {
        store
            .connection()
            .execute(
                "INSERT INTO visits (id, owner, kind, status, merchant, serial, assignee, created_by, created_at,
                    updated_at, heads, office) VALUES (?1, 'wang', 'repair', 'approved', 'x', ?2, 'wang', 'wang', 0, ?3, '', '{}')",
                params![format!("r{i}"), serial, day_start("2026-10-01").unwrap()],
            )
            .unwrap();
    }
    let alerts = crate::office::queries::alerts(&store, &office(), day("2026-11-10")).await.unwrap();
    let serials = |list: &AlertList<TerminalAlert>| -> Vec<(String, i64)> {
        list.rows.iter().map(|a| (a.terminal.serial.clone(), a.figure)).collect()
    };
    // Expired 9 days ago, and expiring in 20 days; the deregistered terminal is not watched.
    assert_eq!(serials(&alerts.sim_expiring), [("N910000000001".into(), -9), ("N910000000002".into(), 20)]);
    assert_eq!(serials(&alerts.old_terminals), [("N910000000001".into(), 6)]);
    assert_eq!(
        serials(&alerts.warranty_ending),
        [("N910000000004".into(), 10), ("N910000000001".into(), 21)]
    );
    assert_eq!(serials(&alerts.repeated_faults), [("N910000000004".into(), 2)]);
    assert_eq!(alerts.sim_expiring.total, 2);
}

// ------------------------------------------------- a refused write, from the server's side

const KEY: &str = "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c";

/// A running server on a temporary folder, and an enrolled device of agent `wang`.
async fn server() -> (tempfile::TempDir, crate::Running, crate::auth::Enrolled) {
    let dir = tempfile::tempdir().unwrap();
    let config = crate::config::Config {
        data: dir.path().to_owned(),
        listen: "127.0.0.1:0".parse().unwrap(),
        ..crate::config::Config::default()
    };
    let running = crate::start(config, false).await.unwrap();
    let store = running.state.store.as_ref();
    let code = crate::auth::issue_enrolment_code(store, "wang").await.unwrap();
    let enrolled = crate::auth::enrol(store, &code, "phone-1", "", KEY, crate::clock::now()).await.unwrap();
    (dir, running, enrolled)
}

/// Makes the server's database refuse every write of a document chunk, as
/// a full disk would, or accept them again.
fn refuse_chunk_writes(dir: &tempfile::TempDir, refuse: bool) {
    let conn = Connection::open(dir.path().join("posfield.db")).unwrap();
    let sql = if refuse {
        "CREATE TRIGGER refuse_chunk_inserts BEFORE INSERT ON doc_chunks
             BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END;
         CREATE TRIGGER refuse_chunk_updates BEFORE UPDATE ON doc_chunks
             BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END;"
    } else {
        "DROP TRIGGER refuse_chunk_inserts; DROP TRIGGER refuse_chunk_updates;"
    };
    conn.execute_batch(sql).unwrap();
}

fn new_visit(agent: &str) -> (String, VisitDoc) {
    let id = uuid::Uuid::now_v7().to_string();
    let ctx = Ctx::new(Actor::agent(agent, "phone-1"), Timestamp(1_795_000_000_000), "op-1");
    let merchant = MerchantInput { name: "老王便利店".into(), ..Default::default() };
    let doc = VisitDoc::create_visit(&ctx, b"phone-1", &id, VisitKind::Repair, &merchant, agent).unwrap();
    (id, doc)
}

/// The version headers of a phone speaking `protocol` (`None`: a phone of
/// the first release, which sends none).
fn speaking(protocol: Option<u32>) -> Vec<(String, String)> {
    use posfield_shared::protocol::{APP_VERSION_HEADER, PROTOCOL_VERSION_HEADER};
    protocol
        .map(|p| {
            vec![
                (APP_VERSION_HEADER.to_owned(), "0.3.0".to_owned()),
                (PROTOCOL_VERSION_HEADER.to_owned(), p.to_string()),
            ]
        })
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sync_connection_stores_nothing_of_the_phone_and_ends_when_its_own_write_is_refused() {
    use posfield_shared::protocol::{PROTOCOL_VERSION, PULLING_PROTOCOL};
    use posfield_sync_link_client::LinkError;
    use posfield_sync_link_client::session::{Endpoint, Session};

    let (dir, running, enrolled) = server().await;
    let state = running.state.clone();
    let principal = Principal::Agent { agent: "wang".into(), device: enrolled.device_id.clone() };
    let endpoint = |protocol: Option<u32>| Endpoint {
        url: format!("ws://{}/api/v1/sync/ws", running.addr).parse().unwrap(),
        token: enrolled.token.clone(),
        peer: enrolled.peer.clone(),
        connect_timeout: Duration::from_secs(5),
        headers: speaking(protocol),
    };
    // Syncs one visit in a session of its own holding `seed`, if any; the
    // session's answer, how long it took, and whether the server ended the
    // connection within `patience` after it.
    // Before protocol 3 a session waited until the server held its changes too.
    let sync = |id: String, seed: Option<Vec<u8>>, protocol: Option<u32>, patience: Duration| {
        let (endpoint, state, device) = (endpoint(protocol), state.clone(), enrolled.device_id.clone());
        async move {
            let seeds = seed.map(|bytes| vec![(id.clone(), bytes)]).unwrap_or_default();
            let started = std::time::Instant::now();
            let session = Session::open(&endpoint, seeds).await.unwrap();
            let deadline = Duration::from_secs(10);
            let synced = match protocol {
                Some(p) if p >= PULLING_PROTOCOL => session.sync(&id, &[], deadline).await,
                _ => session.sync_both_ways(&id, &[], deadline).await,
            };
            let took = started.elapsed();
            let ended = tokio::time::timeout(patience, async {
                while session.is_connected() {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            })
            .await
            .is_ok();
            session.close().await;
            assert!(state.in_flight.settled(&device, Duration::from_secs(10)).await);
            (synced, took, ended)
        }
    };
    // What the server holds of a visit: its stored heads, the manifest's and the projection.
    let held = |id: String| {
        let state = state.clone();
        let principal = principal.clone();
        async move {
            let stored = state.repo.document(&id).await.unwrap().expect("the visit is stored");
            let stored = posfield_sync_link_client::hex_heads(&stored);
            let manifest = state.store.manifest(&principal).await.unwrap().into_iter().find(|e| e.id == id);
            (stored, manifest.map(|e| e.heads), state.store.projected(&id).await.unwrap())
        }
    };

    // A visit stored by a push, and the phone's own later version of it.
    let (id, mut doc) = new_visit("wang");
    let pushed =
        posfield_shared::protocol::PushedVisit { id: id.clone(), base: Vec::new(), bytes: doc.save().into() };
    let stored = crate::push::push(&state, &principal, vec![pushed]).await.unwrap();
    assert!(stored[0].refused.is_none(), "{stored:?}");
    let before = held(id.clone()).await;
    let mut phone = doc.fork(b"phone-1");
    let ctx = Ctx::new(Actor::agent("wang", "phone-1"), Timestamp(1_795_000_100_000), "op-2");
    phone.add_note(&ctx, "只在手机上").unwrap();

    // The phone reads the server's visit.
    let (read, took, _) = sync(id.clone(), None, Some(PROTOCOL_VERSION), Duration::ZERO).await;
    assert_eq!(read.unwrap().heads, before.0, "the session ends with the server's heads");
    assert!(took < Duration::from_secs(5), "a pull ends once it holds the server's changes: {took:?}");

    // The phone's changes are not stored, whichever protocol it speaks: this
    // app's (shared read-only), or an older one's, whose session waits until
    // the server holds its changes (held by the connection in memory, so
    // that the session ends, and never written).
    for protocol in [Some(PROTOCOL_VERSION), Some(2), None] {
        let (synced, took, _) = sync(id.clone(), Some(phone.save()), protocol, Duration::ZERO).await;
        assert!(synced.is_ok(), "protocol {protocol:?}: {synced:?}");
        assert!(took < Duration::from_secs(5), "protocol {protocol:?}: the session ends promptly: {took:?}");
        assert_eq!(held(id.clone()).await, before, "protocol {protocol:?}: the server holds what it held");
    }

    // A visit the server never saw is not found, and not claimed by asking.
    let (unknown, _) = new_visit("wang");
    let (synced, took, _) = sync(unknown.clone(), None, Some(PROTOCOL_VERSION), Duration::ZERO).await;
    assert!(matches!(synced, Err(LinkError::NotFound(_))), "{synced:?}");
    assert!(took < Duration::from_secs(5), "{took:?}");
    assert!(state.store.visit_owner(&unknown).await.unwrap().is_none(), "asking claimed the visit");

    // samod saves again what a connection loads: when the store refuses
    // that write the server ends the connection at once, and nothing changes.
    refuse_chunk_writes(&dir, true);
    let (synced, _, ended) = sync(id.clone(), None, Some(PROTOCOL_VERSION), Duration::from_secs(10)).await;
    assert!(ended, "a connection whose write failed ends ({synced:?})");
    refuse_chunk_writes(&dir, false);
    assert_eq!(held(id.clone()).await, before);
    // With the disk back, the phone reads the visit again.
    let (read, _, _) = sync(id.clone(), None, Some(PROTOCOL_VERSION), Duration::ZERO).await;
    assert_eq!(read.unwrap().heads, before.0);
    running.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_push_or_an_office_edit_whose_write_is_refused_fails_and_the_projection_stays() {
    let (dir, running, enrolled) = server().await;
    let state = running.state.clone();
    // The enrolled device, to which the push binds the actor it writes under.
    let principal = Principal::Agent { agent: "wang".into(), device: enrolled.device_id.clone() };
    let (id, mut doc) = new_visit("wang");
    let pushed = |bytes: Vec<u8>| posfield_shared::protocol::PushedVisit {
        id: id.clone(),
        base: Vec::new(),
        bytes: bytes.into(),
    };

    refuse_chunk_writes(&dir, true);
    let refused = crate::push::push(&state, &principal, vec![pushed(doc.save())]).await;
    assert!(refused.is_err(), "a push whose document was not stored is not answered as stored: {refused:?}");
    assert!(state.store.manifest(&principal).await.unwrap().is_empty());

    refuse_chunk_writes(&dir, false);
    let stored = crate::push::push(&state, &principal, vec![pushed(doc.save())]).await.unwrap();
    assert!(stored[0].refused.is_none(), "{stored:?}");
    let before = state.store.projected(&id).await.unwrap().unwrap();

    // A desk edit whose document change cannot be stored changes nothing.
    refuse_chunk_writes(&dir, true);
    let admin = Principal::Office { name: "chen".into(), role: UserRole::Admin };
    let ctx = Ctx::new(Actor::admin("chen", "back-office"), Timestamp(1_795_000_100_000), "op-2");
    let audit = crate::store::AuditEntry::new(Some(&id), "chen", "assign", "li");
    let edit = crate::projection::office_edit(&state, &admin, &id, audit, |doc| doc.assign(&ctx, "li")).await;
    assert!(
        matches!(
            edit,
            Err(crate::projection::ProjectionError::Link(posfield_sync_link_server::LinkError::Storage(_)))
        ),
        "{edit:?}"
    );
    assert_eq!(state.store.projected(&id).await.unwrap().unwrap(), before);
    assert!(state.store.audit_log(Some(&id), 10).await.unwrap().is_empty(), "no decision, no audit row");
    assert!(!state.store.reaches_visit(&agent("li"), &id, false).await.unwrap());
    refuse_chunk_writes(&dir, false);
    running.stop().await.unwrap();
}

#[tokio::test]
async fn visits_go_to_agents_with_a_device_that_is_not_revoked() {
    let (_dir, store) = open();
    // (agent, its devices: whether each is revoked, whether each has expired)
    let agents: &[(&str, &[(bool, bool)])] = &[
        ("wang", &[(false, false)]),
        ("li", &[(true, false)]),
        ("zhao", &[]),
        ("zhang", &[(true, false), (false, false)]),
        ("sun", &[(false, true)]),
    ];
    for (n, (agent, devices)) in agents.iter().enumerate() {
        store.add_enrolment_code(agent, &format!("code-{agent}"), 1, i64::MAX).await.unwrap();
        for (d, (revoked, expired)) in devices.iter().enumerate() {
            let code = format!("code-{agent}-{d}");
            store.add_enrolment_code(agent, &code, 1, i64::MAX).await.unwrap();
            let device = NewDevice {
                code_hash: code,
                device_id: format!("device-{n}-{d}"),
                token_hash: format!("token-{n}-{d}"),
                client_device_id: format!("phone-{d}"),
                name: String::new(),
                public_key: KEY.into(),
                at: 1,
                expires_at: if *expired { 2 } else { i64::MAX },
                actor_prefix: crate::auth::random_bytes(),
                previous_token_hash: None,
            };
            store.enrol(device).await.unwrap().unwrap();
            if *revoked {
                assert!(store.revoke_device(&format!("device-{n}-{d}"), 3).await.unwrap());
            }
        }
    }
    // An agent with only a code, or only revoked devices, is no one to send work to;
    // an expired phone enrols again and gets its visits then.
    assert_eq!(store.enrolled_agents().await.unwrap(), ["sun", "wang", "zhang"]);
    assert_eq!(store.agents().await.unwrap().len(), agents.len(), "every agent stays known");
}

/// An upload's body.
fn blob_body(bytes: &[u8]) -> axum::body::BodyDataStream {
    axum::body::Body::from(bytes.to_vec()).into_data_stream()
}

/// `bytes` uploaded whole by `agent`; their hash.
async fn upload(
    blobs: &BlobDir,
    store: &SqliteStore,
    bytes: &[u8],
    agent: &str,
) -> posfield_shared::BlobHash {
    let sha = posfield_shared::BlobHash::of(bytes);
    let len = bytes.len() as u64;
    let status = blobs.append(&sha, agent, false, 0, len, 1 << 20, blob_body(bytes)).await.unwrap();
    assert!(status.complete);
    store.blob_received(sha.as_str(), len, agent).await.unwrap();
    sha
}

#[tokio::test]
async fn unreferenced_uploads_are_collected_after_the_grace_and_referenced_ones_never() {
    let (dir, store) = open();
    let blobs =
        BlobDir::open(&dir.path().join("blobs"), crate::blob_key::BlobKeys::generate(), true, 1 << 20)
            .unwrap();
    let referenced = upload(&blobs, &store, b"a photo a visit refers to", "wang").await;
    let orphan = upload(&blobs, &store, b"a photo no visit refers to", "wang").await;
    store
        .write_projections(vec![row("v1", "wang", "wang", &[referenced.as_str()])], Vec::new())
        .await
        .unwrap();
    let partial = posfield_shared::BlobHash::of(b"cut");
    blobs.append(&partial, "li", false, 0, 100, 1 << 20, blob_body(b"cut")).await.unwrap();
    let now = crate::clock::now();
    let grace = 7 * 24 * 3600;
    let engine = Blobs::Local(blobs.clone());
    // Within the grace nothing goes.
    let early = collect_unreferenced(&engine, &store, now + grace - 3600, grace).await.unwrap();
    assert_eq!(early, Collected::default());
    // After it, the orphan and the partial go; the referenced blob stays,
    // however late the collection runs.
    for later in [now + grace + 3600, now + 100 * grace] {
        collect_unreferenced(&engine, &store, later, grace).await.unwrap();
        assert!(blobs.path(&referenced).exists(), "a referenced blob was collected");
    }
    assert!(!blobs.path(&orphan).exists());
    assert!(!store.blob_uploaded_by(orphan.as_str(), "wang").await.unwrap());
    assert_eq!(blobs.status(&partial, "li", false).await.received, 0);
    assert!(store.blob_uploaded_by(referenced.as_str(), "wang").await.unwrap());
}

/// The key an acceptance is verified with is the one of the device the
/// server names (the device that sent it), exactly: two enrolments in the
/// same second under the same device id the phones chose, by two agents,
/// are never confused, and the visit's facts name that device.
#[tokio::test]
async fn an_acceptance_is_verified_with_the_key_of_the_device_that_sent_it_exactly() {
    let (_dir, store) = open();
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
        assert_eq!(fact.server_public_key, Some("cc".repeat(32)), "the server key that made it is recorded");
        assert_eq!(fact.device.map(|d| d.id).as_deref(), Some(device));
        assert_eq!(facts_valid(&store, visit, &format!("{visit}-hash")).await, Some(true));
        assert_eq!(facts_valid(&store, visit, "another-hash").await, Some(false));
    }
}

async fn facts_valid(store: &SqliteStore, visit: &str, content_hash: &str) -> Option<bool> {
    store.visit_facts(&office(), visit).await.unwrap().device_signature_valid(Some(content_hash))
}

/// A visit whose stored chunks no longer load strictly (bytes that are not
/// automerge and a change waiting on one the server never got, as pushes
/// stored before they were checked whole) is quarantined once: its last
/// good state is what readers load, marked damaged, and the bad chunks are
/// moved aside (not deleted) with one audit row.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_damaged_visit_is_quarantined_with_its_last_good_state() {
    let (_dir, running, _) = server().await;
    let state = running.state.clone();
    let (id, mut doc) = new_visit("wang");
    let good = doc.save();
    let expected = doc.visit().unwrap();
    let ctx = Ctx::new(Actor::agent("wang", "phone-1"), Timestamp(1_795_000_100_000), "op-2");
    let mut fork = doc.fork(b"phone-1b");
    fork.save_incremental();
    fork.add_fault(&ctx, posfield_shared::FaultCode::Slow, None).unwrap();
    fork.save_incremental(); // never reaches the server
    fork.add_fault(&ctx, posfield_shared::FaultCode::PrinterFault, None).unwrap();
    let orphan = fork.save_incremental();
    let garbage = vec![0x85, 0x6f, 0x4a, 0x83, 0x01];
    let chunks: Vec<(String, Vec<u8>)> = [good, garbage, orphan]
        .into_iter()
        .map(|bytes| (posfield_sync_link_server::storage::chunk_key(&id, &bytes).unwrap(), bytes))
        .collect();
    state.store.put_chunks(chunks).await.unwrap();

    for round in 0..2 {
        let stored = crate::projection::load_stored(&state, &id).await.unwrap().unwrap();
        let (_, visit, damaged) = stored.readable(&id).unwrap();
        assert_eq!((visit, damaged), (expected.clone(), true), "round {round}");
    }
    assert_eq!(state.store.quarantined(&id).await.unwrap(), 2);
    assert_eq!(state.repo.chunks(&id).await.unwrap().map(|c| c.len()), Some(1));
    let audit = state.store.audit_log(Some(&id), 10).await.unwrap();
    let rows: Vec<&str> = audit.iter().map(|r| r.entry.action.as_str()).collect();
    assert_eq!(rows, ["quarantined_damaged_chunks"]);

    // A sound visit is not marked.
    let (sound, mut sound_doc) = new_visit("wang");
    let bytes = sound_doc.save();
    let key = posfield_sync_link_server::storage::chunk_key(&sound, &bytes).unwrap();
    state.store.put_chunks(vec![(key, bytes)]).await.unwrap();
    let stored = crate::projection::load_stored(&state, &sound).await.unwrap().unwrap();
    assert!(!stored.damaged);
}

#[tokio::test]
async fn the_registered_phone_is_projected_and_rows_from_before_it_are_found_to_fill_in() {
    let (dir, store) = open();
    let with_phone =
        ProjectionRow { merchant_phone: Some("13812345678".into()), ..row("v1", "wang", "wang", &[]) };
    store.write_projections(vec![with_phone, row("v2", "wang", "wang", &[])], Vec::new()).await.unwrap();
    let phones = |rows: Vec<crate::store::VisitRow>| {
        let mut phones: Vec<_> = rows.into_iter().map(|r| (r.id, r.merchant_phone)).collect();
        phones.sort();
        phones
    };
    let listed = store.visit_list(&office(), &VisitQuery::default(), 10).await.unwrap().0;
    assert_eq!(phones(listed), [("v1".into(), Some("13812345678".into())), ("v2".into(), None)]);
    assert_eq!(store.visits_without_projected_phone(10).await.unwrap(), Vec::<String>::new());

    // A row projected before the column existed holds NULL until filled in.
    let db = rusqlite::Connection::open(dir.path().join("server.db")).unwrap();
    db.execute("UPDATE visits SET merchant_phone = NULL WHERE id = 'v1'", []).unwrap();
    assert_eq!(store.visits_without_projected_phone(10).await.unwrap(), ["v1"]);
    store.set_projected_phone("v1", Some("13900001111")).await.unwrap();
    assert_eq!(store.visits_without_projected_phone(10).await.unwrap(), Vec::<String>::new());
    let listed = store.visit_list(&office(), &VisitQuery::default(), 10).await.unwrap().0;
    assert_eq!(phones(listed)[0], ("v1".into(), Some("13900001111".into())));
}

/// A key rotation is asked once for a live device, audited; it replaces
/// the key only from the key checked and while asked; the replaced key
/// stays among the device's earlier keys and is offered with the current
/// one when an acceptance that device pushed is countersigned.
#[tokio::test]
async fn a_rotated_device_key_joins_the_earlier_keys_the_countersignature_is_offered() {
    let (_dir, store) = open();
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
    let (_dir, store) = open();
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

/// The instant day `text` (Beijing) begins.
fn day(text: &str) -> Timestamp {
    posfield_shared::CalendarDate::parse(text).unwrap().beijing_start()
}
