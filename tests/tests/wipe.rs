//! Wiping a lost phone, a separate action from revoking it: the
//! administrator asks (the command line says what it means and does
//! nothing without `--yes`; the device list says it beside its button); at
//! the phone's next contact its unsynced work reaches the server, then its
//! keys are destroyed, its data deleted, its credential revoked. A copy of
//! the data folder taken before (a thief's image of the flash) is
//! unreadable afterwards. A real server on 127.0.0.1, a real agent core.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use posfield_core::{Agent, KeyFile};
use posfield_e2e::ServerProcess;
use posfield_e2e::hostile::Desk;
use posfield_e2e::story::{merchant, open, repair_visit_with_photos};
use posfield_shared::VisitKind;
use posfield_shared::vocab::DocumentKind;

/// Copies every file of `from` into `to`, keeping the layout.
fn copy_folder(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap().flatten() {
        let target = to.join(entry.file_name());
        if entry.path().is_dir() {
            copy_folder(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// Runs an administration command that must fail; its output.
fn refused_cli(server: &ServerProcess, args: &[&str]) -> std::process::Output {
    let output = std::process::Command::new(posfield_e2e::server_binary())
        .arg("--data")
        .arg(&server.data)
        .args(args)
        .output()
        .unwrap();
    assert!(!output.status.success(), "posfield-server {args:?} succeeded");
    output
}

#[test]
fn a_wiped_phone_sends_its_work_then_its_data_is_unreadable() {
    let dir = tempfile::tempdir().unwrap();
    let server = ServerProcess::start(&dir.path().join("server"));
    server.add_user("zhou", "admin");
    let phone = dir.path().join("wang");
    let mut wang = open(&phone);
    let device = wang.enroll(&server.base, &server.enrolment_code("wang"), "华为 Mate 60").unwrap().device_id;
    let synced = wang.create_visit(VisitKind::Inspection, &merchant("小李水果店")).unwrap().id;
    wang.sync(&mut |_| {}).unwrap();
    // Offline, the agent finishes a whole visit with an ID card photo.
    let unsynced =
        repair_visit_with_photos(&mut wang, "code128-1/1.png", &[("code128-1/3.png", DocumentKind::IdCard)]);
    wang.add_note(&synced, "离线时写下的记录").unwrap();
    assert_eq!(wang.sync_status().unwrap().unsynced_visits, 2);

    // Without --yes the command line says what a wipe means and does nothing.
    let refused = refused_cli(&server, &["wipe-device", &device]);
    let said = String::from_utf8_lossy(&refused.stdout);
    assert!(said.contains("destroys its keys") && said.contains("cannot be undone"), "{said}");
    assert!(String::from_utf8_lossy(&refused.stderr).contains("--yes"));
    assert!(server.audited("zhou", &device).iter().all(|(_, action)| action != "wipe_device"));
    let asked = posfield_e2e::server_cli(&server.data, &["wipe-device", &device, "--yes"]);
    assert!(asked.contains("will be wiped at its next contact"), "{asked}");
    // Revoking it now would keep it from the sync that wipes it: refused.
    let revoke = refused_cli(&server, &["revoke-device", &device]);
    assert!(String::from_utf8_lossy(&revoke.stderr).contains("waiting to be wiped"));

    // A copy of the data folder taken before the next contact (what a thief
    // reads off the flash where the key is kept apart from the folder).
    let image = dir.path().join("image");
    copy_folder(&phone, &image);

    let report = wang.sync(&mut |_| {}).unwrap();
    assert!(report.wiped, "{report:?}");
    drop(wang);

    // The work reached the server whole: the offline visit, its photos, the note.
    let (status, shown) = server.office_get("zhou", &format!("api/v1/office/visits/{unsynced}"));
    assert_eq!(status, 200, "{shown}");
    assert_eq!(shown["visit"]["merchant"]["name"], "老王便利店");
    assert_eq!(shown["visit"]["documents"].as_array().unwrap().len(), 2);
    let desk = Desk::sign_in(&server, "zhou");
    for document in shown["visit"]["documents"].as_array().unwrap() {
        let (status, bytes) =
            desk.get_bytes(&format!("office/blobs/{}", document["sha256"].as_str().unwrap()));
        assert_eq!(status, 200);
        assert!(!bytes.is_empty());
    }
    let (_, shown) = server.office_get("zhou", &format!("api/v1/office/visits/{synced}"));
    assert_eq!(shown["visit"]["notes"][0]["text"], "离线时写下的记录");

    // On the phone: the key is gone, and with it everything the image holds.
    let key = KeyFile::beside(&phone);
    assert!(!key.path().exists(), "the key file is still there");
    assert!(!phone.join("agent.db").exists() && !phone.join("blobs").exists());
    let error = Agent::open(&image, Arc::new(key.clone())).unwrap_err();
    assert_eq!(error.code(), "key_gone", "{error}");
    let image_files: Vec<PathBuf> =
        std::fs::read_dir(image.join("blobs")).unwrap().flatten().map(|e| e.path()).collect();
    assert!(!image_files.is_empty(), "the image kept the sealed files");
    // The folder opens again empty, under a new key, waiting for an enrolment.
    let mut fresh = open(&phone);
    assert_eq!(fresh.visit_count().unwrap(), 0);
    assert_eq!(fresh.sync(&mut |_| {}).unwrap_err().code(), "not_enrolled");

    // On the server: asked by the command line, done by the phone, its credential revoked.
    let actions = server.audited("zhou", &device);
    assert!(actions.contains(&("(command line)".into(), "wipe_device".into())), "{actions:?}");
    assert!(actions.contains(&("wang".into(), "device_wiped".into())), "{actions:?}");
    let (status, page) = desk.get("office/devices");
    assert_eq!(status, 200);
    assert!(page.contains("Wiped") || page.contains("已清除"), "the device list does not show the wipe");
}

/// The back office's way: the device list says what a wipe means beside the
/// button; a reviewer may not press it; an administrator's press is audited
/// under their name, and the phone learns it at its next sync.
#[test]
fn an_administrator_asks_for_a_wipe_from_the_device_list_and_a_reviewer_cannot() {
    let dir = tempfile::tempdir().unwrap();
    let server = ServerProcess::start(&dir.path().join("server"));
    server.add_user("zhou", "admin");
    server.add_user("chen", "reviewer");
    let phone = dir.path().join("wang");
    let mut wang = open(&phone);
    let device = wang.enroll(&server.base, &server.enrolment_code("wang"), "华为 Mate 60").unwrap().device_id;

    let zhou = Desk::sign_in(&server, "zhou");
    let (status, page) = zhou.get("office/devices");
    assert_eq!(status, 200);
    assert!(page.contains(&format!("/office/devices/{device}/wipe")), "no wipe button for the device");
    assert!(
        page.contains("cannot be undone") || page.contains("无法撤销"),
        "the page does not say what a wipe means"
    );

    let chen = Desk::sign_in(&server, "chen");
    let (status, _) = chen.post(&format!("office/devices/{device}/wipe"), &[("csrf", &chen.csrf())]);
    assert_eq!(status, 403, "a reviewer asked for a wipe");
    let (status, page) = zhou.post(&format!("office/devices/{device}/wipe"), &[("csrf", &zhou.csrf())]);
    assert_eq!(status, 303, "{page}");
    let (_, page) = zhou.get("office/devices");
    assert!(
        page.contains("Wipe asked") || page.contains("已要求清除"),
        "the list does not show the wipe asked"
    );
    let actions = server.audited("zhou", &device);
    assert!(actions.contains(&("zhou".into(), "wipe_device".into())), "{actions:?}");
    assert!(!actions.iter().any(|(actor, _)| actor == "chen"), "{actions:?}");

    assert!(wang.sync(&mut |_| {}).unwrap().wiped);
    assert!(!KeyFile::beside(&phone).path().exists());
}

/// A phone told to wipe itself whose credential is revoked before the sync
/// that would wipe it (here by the database, as the command line refuses)
/// wipes itself at its next contact all the same, sending nothing more.
#[test]
fn a_phone_told_to_wipe_and_then_revoked_wipes_itself_at_its_next_contact() {
    let dir = tempfile::tempdir().unwrap();
    let server = ServerProcess::start(&dir.path().join("server"));
    let phone = dir.path().join("wang");
    let mut wang = open(&phone);
    let device = wang.enroll(&server.base, &server.enrolment_code("wang"), "华为 Mate 60").unwrap().device_id;
    wang.create_visit(VisitKind::Inspection, &merchant("小李水果店")).unwrap();
    drop(wang);
    // The phone heard "wipe" (a sync cut short after the manifest), then the
    // device was revoked.
    let key = posfield_core::Keystore::load(&KeyFile::beside(&phone)).unwrap().unwrap();
    let store = rusqlite::Connection::open(phone.join("agent.db")).unwrap();
    store.pragma_update(None, "key", key.store_key().pragma_value()).unwrap();
    store.execute("UPDATE settings SET value = '1' WHERE key = 'wipe.asked'", []).unwrap();
    drop(store);
    let db = rusqlite::Connection::open(server.data.join("posfield.db")).unwrap();
    db.execute("UPDATE devices SET revoked_at = 1 WHERE id = ?1", [&device]).unwrap();
    drop(db);

    let mut wang = open(&phone);
    let report = wang.sync(&mut |_| {}).unwrap();
    assert!(report.wiped, "{report:?}");
    drop(wang);
    assert!(!KeyFile::beside(&phone).path().exists());
    assert!(!phone.join("agent.db").exists());
    assert_eq!(open(&phone).visit_count().unwrap(), 0);
}
