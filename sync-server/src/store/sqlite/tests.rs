//! The SQLite engine's own tests: the group commit, the back office's
//! lists and their indexes over rows set up with SQL, and what happens to a
//! write the database refuses, from the store up to a sync connection
//! (which stores nothing a phone sends); uploads no visit refers to,
//! collected. What every engine does is tested on each in `store::tests`.

use std::time::Duration;

use posfield_shared::visit::{Ctx, MerchantInput, VisitDoc};
use posfield_shared::{Actor, Timestamp, VisitKind};
use posfield_sync_link_server::storage::KvStore;

use super::*;
use crate::blobs::{BlobDir, Blobs, Collected, collect_unreferenced};
use crate::office::queries::{VisitFilter, day_of, day_start};
use crate::store::tests::{agent, office, row};
use crate::store::{AlertList, TerminalAlert};

fn open() -> (tempfile::TempDir, SqliteStore) {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("server.db")).unwrap();
    (dir, store)
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

/// A store with `n` projected visits: kinds, statuses and agents in
/// turn, many sharing one `updated_at` so the key's tie-break matters.
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

/// The instant day `text` (Beijing) begins.
fn day(text: &str) -> Timestamp {
    posfield_shared::CalendarDate::parse(text).unwrap().beijing_start()
}

/// A database whose schema a newer server migrated is refused before
/// anything is migrated, naming both versions, and left as it was.
#[tokio::test]
async fn a_database_a_newer_server_migrated_is_refused_and_left_as_it_was() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("server.db");
    drop(SqliteStore::open(&path).unwrap());
    let known =
        embedded::migrations::runner().get_migrations().iter().map(|m| i64::from(m.version())).max().unwrap();
    let conn = connect(&path).unwrap();
    conn.execute(
        "INSERT INTO refinery_schema_history (version, name, applied_on, checksum)
         VALUES (?1, 'from_a_newer_server', '2030-01-01T00:00:00Z', '0')",
        [known + 1],
    )
    .unwrap();
    let schema = |conn: &Connection| -> Vec<String> {
        let mut statement = conn
            .prepare(
                "SELECT type || ' ' || name || ' ' || COALESCE(sql, '') FROM sqlite_master
                 UNION ALL SELECT version || ' ' || name FROM refinery_schema_history ORDER BY 1",
            )
            .unwrap();
        statement.query_map([], |r| r.get(0)).unwrap().collect::<Result<_, _>>().unwrap()
    };
    let before = schema(&conn);
    let refused = SqliteStore::open(&path).unwrap_err();
    assert!(
        matches!(refused, StoreError::NewerSchema { found, known: k } if found == known + 1 && k == known),
        "{refused}"
    );
    let said = refused.to_string();
    assert!(said.contains(&format!("version {}, newer than the {known}", known + 1)), "{said}");
    assert_eq!(schema(&conn), before, "the refused database was changed");
}
