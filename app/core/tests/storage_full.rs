//! A full disk and I/O errors on the agent's write paths, injected with
//! failpoints: SQLite's own SQLITE_FULL (`store::max_page_count`) and each
//! step of a blob write (`blobs::write`, `blobs::sync`, `blobs::rename`,
//! `blobs::sync_dir`). The agent gets an error saying the phone's storage
//! is full and nothing was lost; everything saved before survives a reopen
//! whole; nothing is left half written; the next write after space is freed
//! succeeds.
//!
//! Failpoints are global to the process, so these tests have their own test
//! binary and each runs inside a `FailScenario`, one at a time.

use std::path::Path;

use fail::FailScenario;
use posfield_core::photo::{PhotoLimits, normalize_photo};
use posfield_core::signature::{Point, Strokes, Tampered};
use posfield_core::{Agent, AgentError};
use posfield_shared::visit::schema::StepState;
use posfield_shared::visit::{MerchantInput, Visit};
use posfield_shared::vocab::DocumentKind;
use posfield_shared::{BlobHash, VisitId, VisitKind};
use rstest::rstest;

/// The key of a test data folder: a key file inside it.
fn keys(dir: &Path) -> std::sync::Arc<posfield_core::KeyFile> {
    std::sync::Arc::new(posfield_core::KeyFile::at(dir.join("test.key")))
}

/// SQLite's largest `max_page_count`: the cap lifted, as when the agent has freed space.
const SPACE_FREED: &str = "return(4294967294)";

/// What the agent had saved: every visit as it reads back, and every file they refer to.
#[derive(Debug, PartialEq)]
struct Saved {
    visits: Vec<Visit>,
    blobs: Vec<String>,
}

fn saved(agent: &mut Agent, ids: &[&VisitId]) -> Saved {
    let visits: Vec<Visit> = ids.iter().map(|id| agent.visit(id).unwrap()).collect();
    let mut blobs: Vec<String> = visits.iter().flat_map(|v| &v.documents).map(|d| d.sha256.clone()).collect();
    for acceptance in visits.iter().filter_map(|v| v.acceptance.as_ref()) {
        blobs.extend([acceptance.signature.sha256.clone(), acceptance.strokes_sha256.clone()]);
    }
    Saved { visits, blobs }
}

/// Reopens the data folder and checks it holds `expected` whole: SQLite's
/// integrity check passes, every index row agrees with its document, every
/// visit reads back equal, every file is there with bytes matching its hash
/// (photos read through their visit, the signature's files by verifying it),
/// and no temporary file of a failed write was left behind.
fn reopen_intact(dir: &Path, expected: &Saved) -> Agent {
    let mut agent = Agent::open(dir, keys(dir)).unwrap();
    assert_eq!(agent.check_storage().unwrap(), Vec::<String>::new());
    assert_eq!(agent.visit_count().unwrap(), expected.visits.len() as u64);
    for visit in &expected.visits {
        let id = VisitId::parse(&visit.id).unwrap();
        assert_eq!(&agent.visit(&id).unwrap(), visit);
        for document in &visit.documents {
            let sha256 = BlobHash::parse(&document.sha256).unwrap();
            agent.photo_bytes(&id, &sha256).unwrap_or_else(|e| panic!("stored file {sha256}: {e}"));
        }
        if visit.acceptance.is_some() {
            let problems = agent.verify_signature(&id).unwrap();
            assert!(
                !problems.iter().any(|p| matches!(p, Tampered::Image | Tampered::Strokes)),
                "{problems:?}"
            );
        }
    }
    assert_eq!(agent.clean_up_storage().unwrap(), 0, "a failed write left a temporary file");
    agent
}

fn assert_storage_full(error: &AgentError) {
    assert_eq!(error.code(), "storage_full", "{error}");
    let message = error.to_string();
    assert!(message.contains("storage full") && message.contains("nothing was lost"), "{message}");
}

/// A fresh data folder with a signed-in agent and one repair visit.
fn fresh_phone_with_a_visit() -> (tempfile::TempDir, Agent, VisitId) {
    let dir = tempfile::tempdir().unwrap();
    let mut agent = Agent::open(dir.path(), keys(dir.path())).unwrap();
    agent.sign_in("agent-li").unwrap();
    let visit = new_visit(&mut agent, VisitKind::Repair, "老王便利店");
    (dir, agent, visit)
}

fn new_visit(agent: &mut Agent, kind: VisitKind, merchant: &str) -> VisitId {
    agent.create_visit(kind, &MerchantInput { name: merchant.into(), ..Default::default() }).unwrap().id
}

/// A small document photo (PNG), a different one for each `seed`.
fn photo(seed: u8) -> Vec<u8> {
    let image = image::RgbImage::from_fn(96, 64, |x, y| image::Rgb([x as u8 ^ seed, y as u8, seed]));
    let mut png = Vec::new();
    image.write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png).unwrap();
    png
}

/// The hash the agent stores `photo` under once normalized.
fn stored_hash(photo: &[u8]) -> String {
    BlobHash::of(&normalize_photo(photo, &PhotoLimits::default()).unwrap().jpeg).into_string()
}

/// Whether a file named `sha256` is anywhere in the data folder. The one
/// look past the facade: a write that failed is attached to no visit, so
/// only the folder can say whether a file appeared under its hash.
fn file_under_hash(dir: &Path, sha256: &str) -> bool {
    std::fs::read_dir(dir).unwrap().flatten().any(|entry| {
        let path = entry.path();
        if path.is_dir() { file_under_hash(&path, sha256) } else { entry.file_name() == sha256 }
    })
}

fn merchant_signature() -> Strokes {
    let stroke = (0..40)
        .map(|i| Point { x: 20.0 + i as f32 * 13.0, y: 90.0 + (i % 9) as f32 * 15.0, t: i * 18, p: None })
        .collect();
    Strokes { width: 600.0, height: 300.0, strokes: vec![stroke] }
}

/// `chars` Chinese characters that do not compress, so saving them needs new pages.
fn long_note(chars: usize) -> String {
    let mut state = 0x2545_f491u32;
    (0..chars)
        .map(|_| {
            state = state.wrapping_mul(1_103_515_245).wrapping_add(12_345);
            char::from_u32(0x4E00 + (state >> 8) % 0x5000).unwrap()
        })
        .collect()
}

#[test]
fn a_full_database_refuses_the_edit_keeps_every_earlier_visit_and_takes_it_once_space_is_freed() {
    let scenario = FailScenario::setup();
    let (dir, mut agent, repair) = fresh_phone_with_a_visit();
    agent.identify_typed(&repair, "N9100001234567", false).unwrap();
    agent.set_step(&repair, "identify", StepState::Done, None, None).unwrap();
    agent.add_photo(&repair, &photo(1), DocumentKind::PurchaseProof).unwrap();
    agent.sign(&repair, "王老板", &merchant_signature()).unwrap();
    let install = new_visit(&mut agent, VisitKind::Installation, "小李水果店");
    let before = saved(&mut agent, &[&repair, &install]);
    assert_eq!(before.blobs.len(), 3, "a photo, the signature image and its strokes");

    // The disk is full: the store may not grow by a single page.
    fail::cfg("store::max_page_count", "return(1)").unwrap();
    let note = long_note(4000);
    assert_storage_full(&agent.set_step(&repair, "test", StepState::Done, None, Some(&note)).unwrap_err());
    assert_storage_full(&agent.add_note(&install, &note).unwrap_err());
    // The agent shows what is on disk, not the refused edits.
    assert_eq!(saved(&mut agent, &[&repair, &install]), before);
    drop(agent);
    let mut agent = reopen_intact(dir.path(), &before);

    fail::cfg("store::max_page_count", SPACE_FREED).unwrap();
    agent.set_step(&repair, "test", StepState::Done, None, Some(&note)).unwrap();
    agent.add_note(&install, &note).unwrap();
    let after = saved(&mut agent, &[&repair, &install]);
    assert_eq!(after.visits[0].steps["test"].note.as_deref(), Some(note.as_str()));
    assert_eq!(after.visits[1].notes.len(), before.visits[1].notes.len() + 1);
    drop(agent);
    reopen_intact(dir.path(), &after);
    scenario.teardown();
}

#[rstest]
#[case::the_disk_fills_halfway_through_the_file("blobs::write", "return", "storage_full")]
#[case::fsync_of_the_file("blobs::sync", "return", "storage_full")]
#[case::rename_into_place("blobs::rename", "return", "storage_full")]
#[case::fsync_of_the_directory("blobs::sync_dir", "return", "storage_full")]
#[case::an_io_error_halfway_through_the_file("blobs::write", "return(5)", "storage")]
fn a_failed_photo_write_attaches_nothing_leaves_nothing_half_written_and_the_retry_succeeds(
    #[case] failpoint: &str,
    #[case] action: &str,
    #[case] code: &str,
) {
    let scenario = FailScenario::setup();
    let (dir, mut agent, visit) = fresh_phone_with_a_visit();
    agent.add_photo(&visit, &photo(1), DocumentKind::PurchaseProof).unwrap();
    let before = saved(&mut agent, &[&visit]);
    let (licence, licence_hash) = (photo(2), stored_hash(&photo(2)));

    fail::cfg(failpoint, action).unwrap();
    let error = agent.add_photo(&visit, &licence, DocumentKind::BusinessLicence).unwrap_err();
    assert_eq!(error.code(), code, "{error}");
    if code == "storage_full" {
        assert_storage_full(&error);
    }
    // Only a failed directory fsync comes after the rename; the file under
    // the hash is then whole, and nothing refers to it yet.
    assert_eq!(file_under_hash(dir.path(), &licence_hash), failpoint == "blobs::sync_dir");
    drop(agent);
    let mut agent = reopen_intact(dir.path(), &before);

    fail::remove(failpoint);
    agent.add_photo(&visit, &licence, DocumentKind::BusinessLicence).unwrap();
    let after = saved(&mut agent, &[&visit]);
    assert_eq!(after.blobs, [before.blobs[0].clone(), licence_hash]);
    drop(agent);
    reopen_intact(dir.path(), &after);
    scenario.teardown();
}

#[test]
fn signing_on_a_full_disk_records_no_signature_and_signs_once_space_is_freed() {
    let scenario = FailScenario::setup();
    let (dir, mut agent, visit) = fresh_phone_with_a_visit();
    let before = saved(&mut agent, &[&visit]);

    fail::cfg("blobs::write", "return").unwrap();
    assert_storage_full(&agent.sign(&visit, "王老板", &merchant_signature()).unwrap_err());
    assert!(agent.visit(&visit).unwrap().acceptance.is_none());
    drop(agent);
    let mut agent = reopen_intact(dir.path(), &before);

    fail::remove("blobs::write");
    agent.sign(&visit, "王老板", &merchant_signature()).unwrap();
    assert_eq!(agent.verify_signature(&visit).unwrap(), []);
    let after = saved(&mut agent, &[&visit]);
    drop(agent);
    reopen_intact(dir.path(), &after);
    scenario.teardown();
}
