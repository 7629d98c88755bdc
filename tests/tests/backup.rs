//! `posfield-server backup DEST` against a running server: taken while an
//! agent syncs, the backup restores, on a server started with
//! `--data DEST`, every visit, photo, signature, user and terminal the
//! server held when it began, and phones that synced after it converge
//! with the restored server without losing their work. A backup into a
//! folder that holds something, or that cannot be made, is refused and
//! leaves nothing behind. With `POSFIELD_TEST_DATABASE` (PostgreSQL) the
//! command refuses, and the backup is docs/deploy.md's by hand: `pg_dump`,
//! then the blob and key files, restored into a new database.

use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use posfield_core::{Agent, VisitFilter};
use posfield_e2e::hostile::Desk;
use posfield_e2e::story::{open, repair_visit_with_photo};
use posfield_e2e::{ServerProcess, server_binary, server_cli};
use posfield_shared::{BlobHash, VisitId};

const REVIEWER: &str = "chen";
const ADMIN: &str = "zhou";
const PHOTOS: [&str; 3] = ["code128-1/1.png", "code128-1/2.png", "code128-1/3.png"];

fn visit_ids(agent: &mut Agent) -> Vec<VisitId> {
    let filter = VisitFilter { limit: Some(u32::MAX), ..Default::default() };
    agent.list_visits(&filter).unwrap().into_iter().map(|row| row.id).collect()
}

/// A sync repeated until it finishes (a restored server may first ask the
/// phone again for what it lost).
fn sync_until_done(agent: &mut Agent) {
    let mut errors = Vec::new();
    for _ in 0..5 {
        match agent.sync(&mut |_| {}) {
            Ok(_) => return,
            Err(error) => errors.push(error.to_string()),
        }
    }
    panic!("no complete sync in 5 attempts: {errors:?}");
}

/// The blob hashes a visit shows: its photos and its signature's image.
fn blobs_of(agent: &mut Agent, id: &VisitId) -> Vec<BlobHash> {
    let visit = agent.visit(id).unwrap();
    let mut hashes: Vec<BlobHash> =
        visit.documents.iter().map(|d| BlobHash::parse(&d.sha256).unwrap()).collect();
    if let Some(acceptance) = &visit.acceptance {
        hashes.push(BlobHash::parse(&acceptance.signature.sha256).unwrap());
    }
    hashes
}

/// Every visit of the phone is on `server`, the same document with the
/// same heads, and every photo and signature there with the same bytes.
fn assert_all_on(server: &ServerProcess, desk: &Desk, agent: &mut Agent) {
    for id in visit_ids(agent) {
        let (status, body) = server.office_get(REVIEWER, &format!("api/v1/office/visits/{id}"));
        assert_eq!(status, 200, "visit {id} is not on the server: {body}");
        assert_eq!(body["visit"], serde_json::to_value(agent.visit(&id).unwrap()).unwrap(), "visit {id}");
        let heads: Vec<&str> =
            body["heads"].as_array().unwrap().iter().map(|h| h.as_str().unwrap()).collect();
        assert_eq!(heads.join(","), agent.visit_heads(&id).unwrap(), "visit {id}'s heads");
        assert_eq!(body["blobs_missing"], 0, "visit {id} lacks photos");
        for sha in blobs_of(agent, &id) {
            let (status, bytes) = desk.get_bytes(&format!("office/blobs/{sha}"));
            assert_eq!(status, 200, "{sha} of {id}");
            assert!(bytes == agent.photo_bytes(&id, &sha).unwrap(), "{sha} of {id} has other bytes");
        }
    }
}

#[test]
fn a_backup_taken_while_an_agent_syncs_restores_every_visit_photo_user_and_terminal() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("server");
    let server = ServerProcess::start(&data);
    server.add_user(REVIEWER, "reviewer");
    server.add_user(ADMIN, "admin");
    let addr = server.addr();
    let mut wang = open(&dir.path().join("wang"));
    wang.enroll(&server.base, &server.enrolment_code("wang"), "华为 Mate 60").unwrap();
    let first = repair_visit_with_photo(&mut wang, PHOTOS[0]);
    repair_visit_with_photo(&mut wang, PHOTOS[1]);
    wang.sync(&mut |_| {}).unwrap();
    let mut li = open(&dir.path().join("li"));
    li.enroll(&server.base, &server.enrolment_code("li"), "小米 14").unwrap();

    // Li works and syncs on; the backup is taken after Li's first sync,
    // while the next ones run.
    let stop = Arc::new(AtomicBool::new(false));
    let (synced, first_sync) = std::sync::mpsc::channel();
    let li_stop = stop.clone();
    let li_working = std::thread::spawn(move || {
        let mut ids = Vec::new();
        for round in 0.. {
            ids.push(repair_visit_with_photo(&mut li, PHOTOS[round % PHOTOS.len()]));
            li.sync(&mut |_| {}).unwrap();
            if round == 0 {
                synced.send(()).unwrap();
            }
            if round >= 2 && li_stop.load(Ordering::SeqCst) {
                break;
            }
        }
        (li, ids)
    });
    first_sync.recv_timeout(Duration::from_secs(60)).unwrap();
    let backup = dir.path().join("backup");
    // On PostgreSQL the command refuses; the backup is docs/deploy.md's:
    // a dump of the database, then the blob files and the key files.
    let dump = match posfield_e2e::dump_database(&data) {
        None => {
            let said = server_cli(&data, &["backup", backup.to_str().unwrap()]);
            assert!(said.contains("written to"), "{said}");
            None
        }
        Some(dump) => {
            copy_blobs_and_keys(&data, &backup);
            Some(dump)
        }
    };
    stop.store(true, Ordering::SeqCst);
    let (mut li, li_ids) = li_working.join().unwrap();
    // Work the backup cannot hold: a note Wang syncs after it.
    wang.add_note(&first, "备份之后补充：商户要求下周回访").unwrap();
    wang.sync(&mut |_| {}).unwrap();
    assert!(server.terminate(Duration::from_secs(20)), "the server did not stop");

    if let Some(dump) = &dump {
        // Restored into a new database: the backup folder's own.
        posfield_e2e::restore_database(&backup, dump);
    } else {
        let manifest: serde_json::Value =
            serde_json::from_slice(&std::fs::read(backup.join("backup.json")).unwrap()).unwrap();
        assert_eq!(manifest["database"]["users"], 2, "{manifest}");
        assert!(manifest["database"]["visits"].as_u64().unwrap() >= 3, "{manifest}");
        assert_eq!(manifest["key_files"], serde_json::json!(["server-signing.key", "server-blob.keys"]));
        assert_eq!(manifest["server_version"], env!("CARGO_PKG_VERSION"));
        #[cfg(unix)]
        for file in ["server-signing.key", "server-blob.keys", "posfield.db"] {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(backup.join(file)).unwrap().permissions().mode();
            assert_eq!(mode & 0o077, 0, "{file} of the backup is readable by others: {mode:o}");
        }
    }

    // The restore: a server on the backup, where the phones knew it.
    let restored = ServerProcess::start_on(&backup, &addr);
    let chen = Desk::sign_in(&restored, REVIEWER);
    let (status, audit) = restored.office_get(ADMIN, "api/v1/office/audit");
    assert_eq!(status, 200, "the administrator is restored: {audit}");
    let (status, terminal) = chen.get("office/terminals/N9100001234567");
    assert_eq!(status, 200, "the terminal is restored");
    assert!(terminal.contains("老王便利店"), "the terminal's merchant");
    // Li's first visit was synced before the backup began.
    let (status, body) = restored.office_get(REVIEWER, &format!("api/v1/office/visits/{}", li_ids[0]));
    assert_eq!(status, 200, "{body}");
    // Wang's visits as they were at the backup: the later note is not there yet.
    let (_, body) = restored.office_get(REVIEWER, &format!("api/v1/office/visits/{first}"));
    assert!(!body["visit"].to_string().contains("备份之后补充"), "the backup holds a note made after it");
    for id in visit_ids(&mut wang) {
        let (status, body) = restored.office_get(REVIEWER, &format!("api/v1/office/visits/{id}"));
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["blobs_missing"], 0, "{id}: {body}");
        for sha in blobs_of(&mut wang, &id) {
            let (status, bytes) = chen.get_bytes(&format!("office/blobs/{sha}"));
            assert_eq!(status, 200, "{sha}");
            assert!(bytes == wang.photo_bytes(&id, &sha).unwrap(), "{sha} of {id} has other bytes");
        }
    }

    // The phones sync with the restored server and lose nothing.
    sync_until_done(&mut wang);
    sync_until_done(&mut li);
    assert_all_on(&restored, &chen, &mut wang);
    assert_all_on(&restored, &chen, &mut li);
    let (_, body) = restored.office_get(REVIEWER, &format!("api/v1/office/visits/{first}"));
    assert!(body["visit"].to_string().contains("备份之后补充"), "the note reached the restored server");
}

/// The rest of a PostgreSQL install's backup, after its database's dump
/// (docs/deploy.md): the sealed blob files as they are (not the uploads in
/// progress under `blobs/partial/`), then the key files, into `dest`.
fn copy_blobs_and_keys(data: &Path, dest: &Path) {
    fn copy_tree(from: &Path, to: &Path) {
        std::fs::create_dir_all(to).unwrap();
        for entry in std::fs::read_dir(from).unwrap().flatten() {
            let target = to.join(entry.file_name());
            if entry.file_type().unwrap().is_dir() {
                if entry.file_name() != "partial" {
                    copy_tree(&entry.path(), &target);
                }
            } else {
                std::fs::copy(entry.path(), &target).unwrap();
            }
        }
    }
    copy_tree(&data.join("blobs"), &dest.join("blobs"));
    for key in ["server-signing.key", "server-blob.keys"] {
        std::fs::copy(data.join(key), dest.join(key)).unwrap();
    }
}

/// `posfield-server --data DATA backup DEST`: its stderr when it fails.
fn backup_refused(data: &Path, dest: &Path) -> String {
    let output =
        Command::new(server_binary()).arg("--data").arg(data).arg("backup").arg(dest).output().unwrap();
    assert!(!output.status.success(), "a backup into {} was made", dest.display());
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn a_backup_into_a_folder_that_holds_something_or_cannot_be_made_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("server");
    server_cli(&data, &["add-user", ADMIN, "--role", "admin"]);
    if let Some(database) = posfield_e2e::test_database(&data) {
        // On PostgreSQL the command refuses, names pg_dump and makes nothing.
        let dest = dir.path().join("fine");
        let output = Command::new(server_binary())
            .arg("--database")
            .arg(&database)
            .arg("--data")
            .arg(&data)
            .arg("backup")
            .arg(&dest)
            .output()
            .unwrap();
        let said = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success() && said.contains("pg_dump"), "{said}");
        assert!(!dest.exists(), "a refused backup made {}", dest.display());
        return;
    }

    // A folder that holds something: refused, and what it holds is kept.
    let full = dir.path().join("full");
    std::fs::create_dir(&full).unwrap();
    std::fs::write(full.join("last-week.tar"), b"an older backup").unwrap();
    let said = backup_refused(&data, &full);
    assert!(said.contains("not empty") && said.contains("full"), "{said}");
    assert_eq!(std::fs::read(full.join("last-week.tar")).unwrap(), b"an older backup");
    // A file where the folder should be.
    let file = dir.path().join("a-file");
    std::fs::write(&file, b"not a folder").unwrap();
    let said = backup_refused(&data, &file);
    assert!(said.contains("a-file"), "{said}");
    // A folder that cannot be made (its parent is a file): the error
    // names it, and nothing is left half-written.
    let below_a_file = file.join("backup");
    let said = backup_refused(&data, &below_a_file);
    assert!(said.contains("a-file"), "{said}");
    let left: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert!(!left.iter().any(|name| name.contains("partial")), "a cut backup was left: {left:?}");
    // No data folder: nothing to back up.
    let said = backup_refused(&dir.path().join("nowhere"), &dir.path().join("b"));
    assert!(said.contains("no database"), "{said}");
    assert!(!dir.path().join("nowhere").exists(), "a refused backup made a data folder");

    // The same command into a new folder works.
    let made = server_cli(&data, &["backup", dir.path().join("fine").to_str().unwrap()]);
    assert!(made.contains("1 users"), "{made}");
}
