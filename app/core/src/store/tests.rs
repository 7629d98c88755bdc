//! The agent's SQLite store on a real file: durability settings, incremental
//! saves, the index agreeing with the documents, corruption moved aside,
//! torn WAL tails and backups while writing.

use std::path::Path;

use posfield_shared::visit::{Ctx, MerchantInput, VisitDoc};
use posfield_shared::{Actor, Timestamp, VisitKind, VisitStatus};

use super::{Store, StoreError, VisitFilter};

/// The id of the `n`th test visit (visit ids are UUIDs).
pub(super) fn visit_id(n: u64) -> String {
    format!("0190b3a4-0000-7000-8000-{n:012}")
}

fn agent_ctx(n: u64) -> Ctx {
    Ctx::new(
        Actor::agent("agent-li", "phone-li"),
        Timestamp(1_795_000_000_000 + n as i64 * 1000),
        format!("op-{n}"),
    )
}

pub(super) fn new_doc(id: &str, n: u64) -> VisitDoc {
    let merchant = MerchantInput { name: format!("商户 {id}"), ..MerchantInput::default() };
    VisitDoc::create_visit(&agent_ctx(n), b"phone-li", id, VisitKind::Repair, &merchant, "agent-li").unwrap()
}

/// The store key of the tests: any fixed key does.
pub(super) fn test_key() -> crate::at_rest::StoreKey {
    crate::at_rest::DataKey::from_bytes([9; 32]).store_key()
}

fn open(dir: &Path) -> Store {
    Store::open(&dir.join("agent.db"), &test_key()).unwrap()
}

#[test]
fn the_store_runs_wal_with_full_sync() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    assert_eq!(store.durability().unwrap(), ("wal".to_owned(), 2));
    assert_eq!(store.schema_version().unwrap(), 7);
    store.integrity_check().unwrap();
}

#[test]
fn edits_are_saved_incrementally_and_reload_identically() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = open(dir.path());
    let mut doc = new_doc(&visit_id(1), 0);
    store.save_visit(&mut doc).unwrap();
    for n in 1..=100 {
        doc.add_note(&agent_ctx(n), &format!("note {n}")).unwrap();
        store.save_visit(&mut doc).unwrap();
    }
    drop(store);
    let store = open(dir.path());
    let loaded = store.load_visit(&visit_id(1)).unwrap().visit().unwrap();
    assert_eq!(loaded, doc.visit().unwrap());
    assert_eq!(loaded.notes.len(), 100);
    // Compaction kept the saved bytes far below one full copy per edit.
    let bytes = store.visit_bytes(&visit_id(1)).unwrap().len();
    assert!(bytes < 64 * 1024, "{bytes} bytes for 100 small edits");
}

#[test]
fn the_index_never_disagrees_with_the_documents() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = open(dir.path());
    for i in 0..30u64 {
        let mut doc = new_doc(&visit_id(i), i);
        store.save_visit(&mut doc).unwrap();
        if i % 3 == 0 {
            doc.identify_terminal(
                &agent_ctx(100 + i),
                "N9100001234567",
                posfield_shared::vocab::IdentificationMethod::Manual,
                None,
                false,
            )
            .unwrap();
            store.save_visit(&mut doc).unwrap();
        }
    }
    assert!(store.index_mismatches().unwrap().is_empty());
    let rows = store.list_visits(&VisitFilter::default()).unwrap();
    assert_eq!(rows.len(), 30);
    assert!(rows.windows(2).all(|w| w[0].updated_at >= w[1].updated_at), "newest first");
    let started = store
        .list_visits(&VisitFilter { status: Some(VisitStatus::InProgress), ..Default::default() })
        .unwrap();
    assert_eq!(started.len(), 10);
    assert!(started.iter().all(|r| r.serial.as_deref() == Some("N9100001234567")));
    let page = store.list_visits(&VisitFilter { limit: Some(5), ..Default::default() }).unwrap();
    let next = store
        .list_visits(&VisitFilter { limit: Some(5), before: Some(page[4].updated_at), ..Default::default() })
        .unwrap();
    assert!(next.iter().all(|r| r.updated_at < page[4].updated_at));
    store.mark_synced(&visit_id(0), &["abc".into()], 5, false).unwrap();
    let unsynced = store.list_visits(&VisitFilter { unsynced_only: true, ..Default::default() }).unwrap();
    assert_eq!(unsynced.len(), 29);
}

#[test]
fn two_stores_on_one_file_never_save_over_each_other() {
    // The app and its background sync each hold a store on the same file.
    let dir = tempfile::tempdir().unwrap();
    let mut app = open(dir.path());
    let mut sync = open(dir.path());
    let mut cached = new_doc(&visit_id(1), 0);
    app.save_visit(&mut cached).unwrap();
    let mut other = sync.load_visit(&visit_id(1)).unwrap();
    other.set_actor(b"phone-li-sync");
    other.add_note(&agent_ctx(1), "from the server").unwrap();
    sync.save_visit(&mut other).unwrap();
    // The app's copy has not seen that change; saving it must not hide it.
    cached.add_note(&agent_ctx(2), "typed by the agent").unwrap();
    app.save_visit(&mut cached).unwrap();
    let stored = sync.load_visit(&visit_id(1)).unwrap().visit().unwrap();
    let mut notes: Vec<_> = stored.notes.iter().map(|n| n.text.as_str()).collect();
    notes.sort();
    assert_eq!(notes, ["from the server", "typed by the agent"]);
    assert_eq!(cached.visit().unwrap(), stored, "the saving copy merged what was stored first");
    assert_eq!(
        app.stored_heads(&visit_id(1)).unwrap().unwrap(),
        posfield_shared::protocol::join_heads(&cached.heads())
    );
    assert!(app.index_mismatches().unwrap().is_empty());
}

#[test]
fn a_corrupt_store_is_moved_aside_never_deleted() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("agent.db");
    let garbage = b"this is not a database, it is a photo of a cat".repeat(200);
    std::fs::write(&path, &garbage).unwrap();
    let error = Store::open(&path, &test_key()).unwrap_err();
    let StoreError::Corrupt { moved_to, .. } = &error else { panic!("expected Corrupt, got {error}") };
    assert_eq!(std::fs::read(moved_to).unwrap(), garbage, "the corrupt file is kept byte for byte");
    assert!(error.to_string().contains("moved to"));
    // Opening again starts a fresh store beside the kept file.
    let store = Store::open(&path, &test_key()).unwrap();
    assert_eq!(store.visit_count().unwrap(), 0);
    assert!(moved_to.exists());
}

#[test]
fn a_missing_visit_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    assert_eq!(store.load_visit("nope").unwrap_err().to_string(), "no visit \"nope\" in the store");
}

#[test]
fn a_torn_wal_tail_loses_at_most_the_torn_transaction() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("agent.db");
    let mut store = Store::open(&path, &test_key()).unwrap();
    for i in 0..20u64 {
        store.save_visit(&mut new_doc(&visit_id(i), i)).unwrap();
    }
    // Leave the WAL un-checkpointed, as a killed process would, and take the
    // files a crash leaves behind (the -shm index is rebuilt from the WAL).
    std::mem::forget(store);
    let crashed = tempfile::tempdir().unwrap();
    std::fs::copy(&path, crashed.path().join("agent.db")).unwrap();
    let wal = crashed.path().join("agent.db-wal");
    std::fs::copy(dir.path().join("agent.db-wal"), &wal).unwrap();
    let length = std::fs::metadata(&wal).unwrap().len();
    assert!(length > 4096, "the WAL holds the commits");
    let file = std::fs::OpenOptions::new().write(true).open(&wal).unwrap();
    file.set_len(length - 100).unwrap();
    drop(file);
    let path = crashed.path().join("agent.db");
    let store = Store::open(&path, &test_key()).unwrap();
    store.integrity_check().unwrap();
    let count = store.visit_count().unwrap();
    assert!((19..=20).contains(&count), "{count} visits survived");
    for row in store.list_visits(&VisitFilter::default()).unwrap() {
        store.load_visit(row.id.as_str()).unwrap();
    }
}

#[test]
fn a_backup_while_writing_is_consistent_and_leaves_the_wal_alone() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = open(dir.path());
    for i in 0..10u64 {
        store.save_visit(&mut new_doc(&visit_id(i), i)).unwrap();
    }
    let backup = dir.path().join("backup.db");
    store.backup_to(&backup).unwrap();
    // The backup is encrypted under the same key, like the store.
    assert!(!std::fs::read(&backup).unwrap().starts_with(b"SQLite format 3"));
    store.save_visit(&mut new_doc(&visit_id(99), 99)).unwrap();
    assert!(dir.path().join("agent.db-wal").exists());
    let copy = Store::open(&backup, &test_key()).unwrap();
    assert_eq!(copy.visit_count().unwrap(), 10);
    copy.integrity_check().unwrap();
    assert!(matches!(store.backup_to(&backup), Err(StoreError::Io { .. })), "never overwrites");
}

#[test]
fn settings_persist() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = open(dir.path());
    store.set_setting("server", "https://posfield.example").unwrap();
    store.set_setting("server", "http://127.0.0.1:8080").unwrap();
    drop(store);
    assert_eq!(open(dir.path()).setting("server").unwrap().as_deref(), Some("http://127.0.0.1:8080"));
}

/// A copy of the frozen store of schema version 1 in `dir`, as `agent.db`.
fn frozen_v1_store_in(dir: &Path) -> std::path::PathBuf {
    let path = dir.join("agent.db");
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/store-v1/agent.db");
    std::fs::copy(&fixture, &path).unwrap();
    path
}

/// A store written by the first released schema, frozen: today's code must
/// open it, migrate it if needed, and read every visit.
#[test]
fn the_frozen_v1_store_opens_with_todays_code() {
    let dir = tempfile::tempdir().unwrap();
    let path = frozen_v1_store_in(dir.path());
    // A conversion a crash cut short left its half-written copy behind.
    std::fs::write(dir.path().join("agent.db.encrypting"), b"half a copy").unwrap();
    let mut store = Store::open(&path, &test_key()).unwrap();
    store.integrity_check().unwrap();
    // The plain store was encrypted in place: no merchant in clear, no copy left.
    let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().flatten().map(|e| e.file_name()).collect();
    assert!(names.iter().all(|n| !n.to_string_lossy().ends_with(".encrypting")), "{names:?}");
    assert!(!std::fs::read(&path).unwrap().starts_with(b"SQLite format 3"));
    for name in ["老王便利店", "小李水果店"] {
        assert!(!std::fs::read(&path).unwrap().windows(name.len()).any(|w| w == name.as_bytes()), "{name}");
    }
    assert!(store.schema_version().unwrap() >= 1);
    // Version 2 adds each visit's heads for the sync manifest, filled in on first use.
    let manifest = store.sync_manifest().unwrap();
    assert_eq!(manifest.len(), 2);
    assert!(manifest.iter().all(|(_, heads)| heads.len() == 64), "{manifest:?}");
    assert_eq!(store.sync_manifest().unwrap(), manifest);
    let repair = store.load_visit("01a207b7-e9e1-7141-abf3-6a5ab3c38fc6").unwrap().visit().unwrap();
    assert_eq!(repair.merchant.name, "老王便利店");
    assert_eq!(repair.terminal.unwrap().serial, "N9100001234567");
    assert_eq!(repair.faults[0].attempts.len(), 1);
    let sim = store.load_visit("01a207b7-eaa8-7728-b069-a6a75accfa6c").unwrap().visit().unwrap();
    assert_eq!(sim.sim.unwrap().iccid, "89860012345678901238");
    assert_eq!(sim.notes[0].text, "冻结的 v1 存储");
    assert!(store.index_mismatches().unwrap().is_empty());
}

/// Changes visit `id` of the frozen store at `path` in place. The frozen
/// store is plain SQLite of version 1: the document is stored whole, as
/// the older app would have stored a document a newer phone wrote.
fn edit_frozen(path: &Path, id: &str, edit: impl FnOnce(&mut VisitDoc)) {
    let conn = rusqlite::Connection::open(path).unwrap();
    let bytes: Vec<u8> = conn.query_row("SELECT doc FROM visits WHERE id = ?1", [id], |r| r.get(0)).unwrap();
    let mut doc = VisitDoc::load(&bytes).unwrap();
    edit(&mut doc);
    conn.execute("UPDATE visits SET doc = ?2 WHERE id = ?1", rusqlite::params![id, doc.save()]).unwrap();
}

/// A visit that reached a phone with a follow-up day before its store knew
/// the column (a document a newer phone wrote, kept whole by an older app)
/// is on that day's list once the store is migrated: the column is filled
/// from the documents when its migration runs.
#[test]
fn the_follow_up_day_is_filled_from_documents_an_older_store_kept() {
    let dir = tempfile::tempdir().unwrap();
    let path = frozen_v1_store_in(dir.path());
    let id = "01a207b7-eaa8-7728-b069-a6a75accfa6c";
    let day = posfield_shared::CalendarDate::parse("2026-12-24").unwrap();
    edit_frozen(&path, id, |doc| {
        let ctx =
            Ctx::new(Actor::agent("agent-li", "phone-li"), Timestamp(1_796_000_000_000), "op-follow-up");
        doc.set_follow_up(&ctx, day, Some("回访")).unwrap();
    });
    let store = Store::open(&path, &test_key()).unwrap();
    let on = |day| VisitFilter { follow_up_on: Some(day), ..VisitFilter::default() };
    let listed: Vec<String> =
        store.list_visits(&on(day)).unwrap().into_iter().map(|r| r.id.to_string()).collect();
    assert_eq!(listed, [id]);
    assert!(store.list_visits(&on(day.add_days(1))).unwrap().is_empty());
}

/// Version 6 on the frozen v1 store: every visit an older store kept has
/// its job card, filled from its document once, so it is found by a search
/// and, when the desk planned it, on its day.
#[test]
fn the_job_cards_are_filled_from_documents_an_older_store_kept() {
    let dir = tempfile::tempdir().unwrap();
    let path = frozen_v1_store_in(dir.path());
    let id = "01a207b7-eaa8-7728-b069-a6a75accfa6c";
    let day = posfield_shared::CalendarDate::parse("2026-12-24").unwrap();
    edit_frozen(&path, id, |doc| {
        let ctx = Ctx::new(Actor::admin("boss", "back-office"), Timestamp(1_796_000_000_000), "op-plan");
        let plan = posfield_shared::visit::Schedule { day, from: None, until: None };
        doc.schedule(&ctx, Some(plan)).unwrap();
    });
    let store = Store::open(&path, &test_key()).unwrap();
    let planned = store.day_plan(day, day).unwrap().planned;
    assert_eq!(planned.iter().map(|c| c.id.to_string()).collect::<Vec<_>>(), [id]);
    let found = store.search_cards("老王", 10).unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].serial.as_deref(), Some("N9100001234567"));
    // Filled once: a second open finds the setting and reads no document.
    drop(store);
    let store = Store::open(&path, &test_key()).unwrap();
    assert_eq!(store.setting("store.derived_filled").unwrap().as_deref(), Some("6"));
}

/// Version 5 on the frozen v1 store: what each visit's syncs used adds up
/// across syncs and restarts, with the visit's merchant beside it, and a
/// visit whose photos wait for Wi-Fi counts as waiting only for them until
/// its heads move on or it is confirmed whole.
#[test]
fn the_frozen_v1_store_keeps_the_data_used_and_the_visits_waiting_for_photos() {
    use crate::usage::{OTHER, Traffic};
    let dir = tempfile::tempdir().unwrap();
    let path = frozen_v1_store_in(dir.path());
    let repair = "01a207b7-e9e1-7141-abf3-6a5ab3c38fc6";
    let sim = "01a207b7-eaa8-7728-b069-a6a75accfa6c";
    {
        let mut store = Store::open(&path, &test_key()).unwrap();
        assert!(store.schema_version().unwrap() >= 5);
        assert_eq!(store.data_usage().unwrap(), crate::usage::DataUsage::default());
        let counted = |rows: &[(&str, u64, u64)]| {
            rows.iter()
                .map(|(id, sent, received)| (id.to_string(), Traffic { sent: *sent, received: *received }))
                .collect::<std::collections::BTreeMap<_, _>>()
        };
        store.add_data_usage(&counted(&[(OTHER, 300, 500), (repair, 40_000, 200)])).unwrap();
        store.add_data_usage(&counted(&[(OTHER, 300, 100), (repair, 1_000, 0), (sim, 5, 7)])).unwrap();
    }
    let mut store = Store::open(&path, &test_key()).unwrap();
    let usage = store.data_usage().unwrap();
    assert_eq!(usage.other, Traffic { sent: 600, received: 600 });
    assert_eq!(usage.total, Traffic { sent: 41_605, received: 807 });
    let first = &usage.visits[0];
    assert_eq!((first.visit_id.as_str(), first.merchant.as_deref()), (repair, Some("老王便利店")));
    assert_eq!(
        (first.kind.as_deref(), first.traffic),
        (Some("repair"), Traffic { sent: 41_000, received: 200 })
    );
    assert_eq!(usage.visits[1].visit_id, sim);

    let heads: std::collections::BTreeMap<String, String> =
        store.sync_manifest().unwrap().into_iter().collect();
    let split = |id: &str| heads[id].split(',').map(str::to_owned).collect::<Vec<_>>();
    assert!(store.visits_waiting_for_photos().unwrap().is_empty());
    store.mark_synced(repair, &split(repair), 10, true).unwrap();
    assert!(store.is_unsynced(repair).unwrap(), "its photos are not on the server");
    assert_eq!(store.visits_waiting_for_photos().unwrap(), [repair]);
    // Confirmed at other heads than the phone's: it has more to send than photos.
    store.mark_synced(sim, &["0".repeat(64)], 11, true).unwrap();
    assert_eq!(store.visits_waiting_for_photos().unwrap(), [repair]);
    store.mark_synced(repair, &split(repair), 12, false).unwrap();
    assert!(!store.is_unsynced(repair).unwrap());
    assert!(store.visits_waiting_for_photos().unwrap().is_empty());
}

/// A photo whose upload began before (a kill or a lost signal may have cut
/// it) is known as such, across restarts, so its next upload asks the
/// server how much it holds instead of sending it whole again.
#[test]
fn an_upload_that_began_before_is_known_across_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let sha = "ab".repeat(32);
    assert!(!open(dir.path()).blob_upload_starting(&sha, 1000, 1).unwrap(), "the first upload");
    let mut store = open(dir.path());
    assert!(store.blob_upload_starting(&sha, 1000, 2).unwrap(), "cut, then started again");
    assert!(!store.blob_confirmed(&sha).unwrap());
    store.mark_blob_confirmed(&sha, 1000, 3).unwrap();
    assert!(store.blob_confirmed(&sha).unwrap());
}

#[test]
fn damaged_or_mixed_documents_from_the_server_are_refused_and_nothing_is_stored() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = open(dir.path());
    // The domain crate's fixtures, inside this repository (app/core is two levels below its root).
    let repository = Path::new(env!("CARGO_MANIFEST_DIR")).ancestors().nth(2).expect("the repository root");
    let fixtures = repository.join("shared/tests/fixtures/bad-documents");
    for name in [
        "one-visit-whose-save-does-not-load.bin",
        "two-visits-in-one-file.bin",
        "two-visits-with-damaged-changes.bin",
    ] {
        let bytes = std::fs::read(fixtures.join(name)).unwrap();
        // automerge itself accepts these bytes...
        let id = VisitDoc::load(&bytes).unwrap().visit().unwrap().id;
        // ...the store does not.
        let error = store.merge_remote(&id, &bytes, 0).unwrap_err();
        assert!(matches!(error, StoreError::Document { .. }), "{name}: {error}");
        assert_eq!(store.visit_count().unwrap(), 0, "{name} was stored");
    }
    // A healthy visit still merges.
    let mut doc = new_doc(&visit_id(1), 0);
    store.merge_remote(&visit_id(1), &doc.save(), 0).unwrap();
    assert_eq!(store.visit_count().unwrap(), 1);
}

/// A plain store whose last commits are still only in its WAL (the older
/// version was killed before a checkpoint) keeps them when it is encrypted.
#[test]
fn a_plain_store_with_commits_only_in_its_wal_keeps_them_when_encrypted() {
    let dir = tempfile::tempdir().unwrap();
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/store-v1/agent.db");
    let live = dir.path().join("live");
    std::fs::create_dir_all(&live).unwrap();
    std::fs::copy(&fixture, live.join("agent.db")).unwrap();
    let plain = rusqlite::Connection::open(live.join("agent.db")).unwrap();
    plain.query_row("PRAGMA journal_mode=WAL", [], |_| Ok(())).unwrap();
    plain.pragma_update(None, "wal_autocheckpoint", 0).unwrap();
    plain.execute("INSERT INTO settings (key, value) VALUES ('only-in-the-wal', '最后一笔')", []).unwrap();
    // The files as a kill leaves them: the commit is in the WAL alone.
    let image = dir.path().join("image");
    std::fs::create_dir_all(&image).unwrap();
    for name in ["agent.db", "agent.db-wal"] {
        std::fs::copy(live.join(name), image.join(name)).unwrap();
    }
    drop(plain);
    let store = Store::open(&image.join("agent.db"), &test_key()).unwrap();
    assert_eq!(store.setting("only-in-the-wal").unwrap().as_deref(), Some("最后一笔"));
    assert_eq!(store.visit_count().unwrap(), 2);
    assert!(!std::fs::read(image.join("agent.db")).unwrap().starts_with(b"SQLite format 3"));
}

/// The one failure the store opens again for is SQLCipher's refusal to set
/// the key up; a file that is not a database under the key is not it.
#[test]
fn only_a_refused_key_set_up_is_tried_again() {
    let dir = tempfile::tempdir().unwrap();
    let keyed_twice = rusqlite::Connection::open(dir.path().join("a.db")).unwrap();
    // A zero-length key is what SQLCipher refuses with the words checked.
    let refused = keyed_twice.execute_batch("PRAGMA key = ''").unwrap_err();
    assert!(super::key_setup_failed(&refused), "{refused}");
    let other = keyed_twice.execute_batch("SELECT * FROM no_such_table").unwrap_err();
    assert!(!super::key_setup_failed(&other), "{other}");
}

/// What a sync brings from the desk is recorded with the merge, once.
#[test]
fn the_news_a_merge_brings_is_recorded_once_and_seen() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = open(dir.path());
    let desk = |n: i64| {
        Ctx::new(Actor::admin("boss", "back-office"), Timestamp(1_795_000_000_000 + n), format!("d{n}"))
    };
    let merchant = MerchantInput { name: "张姐水果店".into(), ..MerchantInput::default() };
    let mut office =
        VisitDoc::create_visit(&desk(1), b"server", &visit_id(1), VisitKind::Repair, &merchant, "agent-li")
            .unwrap();
    store.merge_remote(&visit_id(1), &office.save(), 10).unwrap();
    store.merge_remote(&visit_id(1), &office.save(), 11).unwrap();
    let news = store.news(10).unwrap();
    assert_eq!(news.len(), 1, "{news:?}");
    assert_eq!(
        (news[0].kind, news[0].merchant.as_str(), news[0].at),
        (crate::news::NewsKind::NewJob, "张姐水果店", 10)
    );
    let plan = posfield_shared::visit::Schedule {
        day: posfield_shared::CalendarDate::parse("2026-12-09").unwrap(),
        from: None,
        until: None,
    };
    office.schedule(&desk(2), Some(plan)).unwrap();
    store.merge_remote(&visit_id(1), &office.save(), 12).unwrap();
    assert_eq!(store.unseen_news().unwrap(), 2);
    let newest = store.news(10).unwrap();
    assert_eq!(newest[0].kind, crate::news::NewsKind::Replanned);
    assert_eq!(newest[0].detail.as_deref(), Some("2026-12-09"));
    store.mark_news_seen(newest[0].id).unwrap();
    assert_eq!(store.unseen_news().unwrap(), 0);
    assert!(store.news(10).unwrap().iter().all(|n| n.seen));
}
