//! Encryption at rest on the phone: after a whole visit with photos, a
//! signature and a sync, no file in the agent's data folder (the store, its
//! WAL and shared memory, the blobs, temporary files) holds the merchant's
//! name, phone or number, or a photo's or the signature's bytes in clear;
//! without its key the folder is unreadable and nothing is deleted; an older
//! version's plain folder is encrypted in place without loss. A real server
//! on 127.0.0.1 and a real agent core.

use std::path::{Path, PathBuf};

use posfield_core::{AgentError, KeyFile};
use posfield_e2e::ServerProcess;
use posfield_e2e::search::{files_holding, files_under, stretches, text};
use posfield_e2e::story::{open, repair_visit_with_photos};
use posfield_shared::visit::MerchantInput;
use posfield_shared::vocab::DocumentKind;
use posfield_shared::{BlobHash, VisitId};

#[test]
fn nothing_of_a_merchant_is_in_clear_in_the_agents_data_folder() {
    let dir = tempfile::tempdir().unwrap();
    let server = ServerProcess::start(&dir.path().join("server"));
    let phone = dir.path().join("wang");
    let mut wang = open(&phone);
    wang.enroll(&server.base, &server.enrolment_code("wang"), "华为 Mate 60").unwrap();
    let id =
        repair_visit_with_photos(&mut wang, "code128-1/1.png", &[("code128-1/3.png", DocumentKind::IdCard)]);
    wang.sync(&mut |_| {}).unwrap();
    // A second visit edited after the sync: its changes sit in the WAL.
    let merchant = MerchantInput {
        name: "张记五金店".into(),
        merchant_number: Some("102290058120001".into()),
        phone: Some("13812345678".into()),
        ..MerchantInput::default()
    };
    let second = wang.create_visit(posfield_shared::VisitKind::Installation, &merchant).unwrap().id;
    wang.add_note(&second, "老板说下午三点后再来").unwrap();

    let visit = wang.visit(&id).unwrap();
    let mut blobs: Vec<(String, Vec<u8>)> = visit
        .documents
        .iter()
        .map(|d| {
            (
                format!("{:?} photo", d.kind),
                wang.photo_bytes(&id, &BlobHash::parse(&d.sha256).unwrap()).unwrap(),
            )
        })
        .collect();
    let signature = BlobHash::parse(&visit.acceptance.as_ref().unwrap().signature.sha256).unwrap();
    blobs.push(("signature".into(), wang.photo_bytes(&id, &signature).unwrap()));
    assert_eq!(blobs.len(), 3, "two photos and the signature");

    let mut needles: Vec<(String, Vec<u8>)> =
        ["老王便利店", "王老板", "张记五金店", "102290058120001", "13812345678", "老板说下午三点后再来"]
            .into_iter()
            .map(text)
            .collect();
    for (what, bytes) in &blobs {
        needles.extend(stretches(what, bytes));
    }
    let check = |when: &str| {
        let found = files_holding(&phone, &needles);
        assert!(found.is_empty(), "{when}: in clear: {found:?}");
    };
    let files = files_under(&phone);
    assert!(files.iter().any(|f| f.ends_with("agent.db-wal")), "the WAL is searched too: {files:?}");
    check("while the agent is open");
    // The key is not in the folder: a copy of the folder alone is unreadable.
    assert!(KeyFile::beside(&phone).path().is_file());
    assert!(!KeyFile::beside(&phone).path().starts_with(&phone));
    drop(wang);
    check("after the agent closed");
}

#[test]
fn without_its_key_the_folder_is_unreadable_and_nothing_is_deleted() {
    let dir = tempfile::tempdir().unwrap();
    let phone = dir.path().join("wang");
    let mut wang = open(&phone);
    wang.sign_in("wang").unwrap();
    let id = repair_visit_with_photos(&mut wang, "code128-1/1.png", &[]);
    drop(wang);
    let before: Vec<(PathBuf, Vec<u8>)> =
        files_under(&phone).into_iter().map(|f| (f.clone(), std::fs::read(&f).unwrap())).collect();
    let key = KeyFile::beside(&phone);
    let saved = std::fs::read(key.path()).unwrap();
    std::fs::remove_file(key.path()).unwrap();

    let error = posfield_core::Agent::open(&phone, std::sync::Arc::new(key.clone())).unwrap_err();
    assert!(matches!(error, AgentError::KeyGone { .. }), "{error}");
    assert_eq!(error.code(), "key_gone");
    assert!(
        error.to_string().contains("cannot be read") && error.to_string().contains("nothing was deleted"),
        "{error}"
    );
    // No new key was made, and every file is as it was.
    assert!(!key.path().exists());
    for (file, bytes) in &before {
        assert_eq!(&std::fs::read(file).unwrap(), bytes, "{file:?} changed");
    }
    // Another key does not open it either: the store is set aside, whole,
    // never deleted, and the right key opens it once it is put back.
    use posfield_core::Keystore;
    key.save_new(&posfield_core::DataKey::from_bytes([1; 32])).unwrap();
    let error = posfield_core::Agent::open(&phone, std::sync::Arc::new(key.clone())).unwrap_err();
    let AgentError::Store(posfield_core::StoreError::Corrupt { moved_to, .. }) = &error else {
        panic!("a store under another key opened or failed otherwise: {error}")
    };
    let store = before.iter().find(|(f, _)| f.ends_with("agent.db")).unwrap();
    assert_eq!(&std::fs::read(moved_to).unwrap(), &store.1, "the set-aside store is not the store");
    std::fs::rename(moved_to, phone.join("agent.db")).unwrap();
    key.destroy().unwrap();
    key.save_new(&posfield_core::DataKey::from_bytes(saved.try_into().unwrap())).unwrap();
    let mut wang = open(&phone);
    assert_eq!(wang.visit(&id).unwrap().merchant.name, "老王便利店", "its own key opens it again");
}

#[test]
fn an_older_versions_plain_folder_is_encrypted_in_place_without_loss() {
    let dir = tempfile::tempdir().unwrap();
    let phone = dir.path().join("old-phone");
    std::fs::create_dir_all(&phone).unwrap();
    // The frozen store of the first release, written in the clear.
    let repository = Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("the repository root");
    std::fs::copy(repository.join("app/core/tests/fixtures/store-v1/agent.db"), phone.join("agent.db"))
        .unwrap();
    assert!(!files_holding(&phone, &[text("老王便利店")]).is_empty(), "the fixture is plain");
    let mut wang = open(&phone);
    let repair = wang.visit(&VisitId::parse("01a207b7-e9e1-7141-abf3-6a5ab3c38fc6").unwrap()).unwrap();
    assert_eq!(repair.merchant.name, "老王便利店");
    assert_eq!(wang.visit_count().unwrap(), 2);
    assert_eq!(wang.check_storage().unwrap(), Vec::<String>::new());
    drop(wang);
    let names = ["老王便利店", "小李水果店", "冻结的 v1 存储"].map(text);
    assert_eq!(files_holding(&phone, &names), Vec::new(), "still in clear");
    assert!(!std::fs::read(phone.join("agent.db")).unwrap().starts_with(b"SQLite format 3"));
    assert!(files_under(&phone).iter().all(|f| !f.to_string_lossy().ends_with(".encrypting")));
}

/// The server keeps no phone's store and never needs SQLCipher: the binary
/// every whole-system test runs (`scripts/test` builds it alone, apart from
/// the workspace, whose one SQLite is SQLCipher for the agent) links plain
/// SQLite. The agent's binary links SQLCipher.
#[test]
fn the_server_links_plain_sqlite_and_the_agent_sqlcipher() {
    let dir = tempfile::tempdir().unwrap();
    let about = posfield_e2e::server_cli(&dir.path().join("server"), &["about"]);
    assert!(about.contains("store: SQLite 3.") && about.ends_with("no SQLCipher"), "{about}");
    // The agent's store answers SQLCipher's pragma, with its version.
    let phone = dir.path().join("wang");
    drop(open(&phone));
    let key = posfield_core::Keystore::load(&KeyFile::beside(&phone)).unwrap().unwrap();
    let db = rusqlite::Connection::open(phone.join("agent.db")).unwrap();
    db.pragma_update(None, "key", key.store_key().pragma_value()).unwrap();
    let cipher: String = db.query_row("PRAGMA cipher_version", [], |row| row.get(0)).unwrap();
    assert!(cipher.starts_with('4'), "{cipher}");
}
