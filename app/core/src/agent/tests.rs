//! The `Agent` facade end to end on a real data folder: a whole repair visit
//! offline, the signature bound to the device key, and no path that loses
//! work the server has not confirmed.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use posfield_shared::visit::schema::StepState;
use posfield_shared::visit::{MerchantInput, VisitError};
use posfield_shared::vocab::{DocumentKind, RepairPlan, WarrantyStatus};
use posfield_shared::{BlobHash, FaultCode, Remedy, Timestamp, VisitId, VisitKind, VisitStatus};

use crate::signature::{Point, Strokes, Tampered};
use crate::store::VisitFilter;
use crate::{Agent, AgentError, Clock};

/// A clock that moves one second per reading.
struct TestClock(AtomicI64);
impl Clock for TestClock {
    fn now(&self) -> Timestamp {
        Timestamp(self.0.fetch_add(1000, Ordering::SeqCst))
    }
}

/// The key of a test data folder: a key file inside it.
fn keys(dir: &std::path::Path) -> Arc<crate::KeyFile> {
    Arc::new(crate::KeyFile::at(dir.join("test.key")))
}

fn open(dir: &std::path::Path) -> Agent {
    Agent::open_with_clock(dir, keys(dir), Arc::new(TestClock(AtomicI64::new(1_795_000_000_000)))).unwrap()
}

fn strokes() -> Strokes {
    let line = |y: f32, t0: u32| -> Vec<Point> {
        (0..40)
            .map(|i| Point {
                x: 30.0 + i as f32 * 12.0,
                y: y + (i as f32 / 3.0).sin() * 20.0,
                t: t0 + i * 15,
                p: Some(0.6),
            })
            .collect()
    };
    Strokes { width: 600.0, height: 300.0, strokes: vec![line(120.0, 0), line(200.0, 800)] }
}

fn merchant() -> MerchantInput {
    MerchantInput {
        name: "老王便利店".into(),
        merchant_number: Some("898310048161234".into()),
        ..Default::default()
    }
}

/// Works through a repair visit without photos (the purchase proof is optional).
fn repair_visit(agent: &mut Agent) -> VisitId {
    let id = agent.create_visit(VisitKind::Repair, &merchant()).unwrap().id;
    agent.identify_typed(&id, "n910 0001 2345 67", false).unwrap();
    agent.set_step(&id, "identify", StepState::Done, None, None).unwrap();
    let fault = agent.add_fault(&id, FaultCode::PrinterFault, Some("打印空白")).unwrap();
    agent.add_attempt(&id, &fault, Some(Remedy::CheckPaper), Some("纸卷装反"), true).unwrap();
    agent.resolve_fault(&id, &fault, true, None).unwrap();
    for step in ["fault.classify", "fault.onsite"] {
        agent.set_step(&id, step, StepState::Done, None, None).unwrap();
    }
    agent.set_warranty(&id, WarrantyStatus::InWarranty).unwrap();
    agent.set_step(&id, "warranty", StepState::Done, None, None).unwrap();
    agent.set_step(&id, "docs.purchase_proof", StepState::NotApplicable, None, None).unwrap();
    agent.set_repair_plan(&id, RepairPlan::FixedOnSite).unwrap();
    for step in ["plan", "test"] {
        agent.set_step(&id, step, StepState::Done, None, None).unwrap();
    }
    id
}

#[test]
fn a_whole_repair_visit_offline_signed_and_completed() {
    let dir = tempfile::tempdir().unwrap();
    let mut agent = open(dir.path());
    assert!(matches!(agent.create_visit(VisitKind::Repair, &merchant()), Err(AgentError::NotSignedIn)));
    agent.sign_in("agent-li").unwrap();
    let id = repair_visit(&mut agent);
    let missing = agent.missing(&id).unwrap();
    assert_eq!(missing.iter().map(|(_, words)| words.as_str()).collect::<Vec<_>>(), ["未完成：商户验收签字"]);
    agent.sign(&id, "王老板", &strokes()).unwrap();
    agent.set_step(&id, "acceptance", StepState::Done, None, None).unwrap();
    assert_eq!(agent.verify_signature(&id).unwrap(), []);
    let before = agent.store().visit_bytes(id.as_str()).unwrap();
    let visit = agent.complete(&id).unwrap();
    assert_eq!(visit.status, VisitStatus::Completed);
    assert_eq!(visit.terminal.unwrap().serial, "N9100001234567");
    // Completing compacts the stored document: a sync sends it as it is.
    let whole = agent.store().visit_saved_whole(id.as_str()).unwrap();
    assert_eq!(whole, agent.store().visit_bytes(id.as_str()).unwrap(), "no increments left after completing");
    assert!(whole.len() < before.len(), "{} bytes compacted, {} before", whole.len(), before.len());
    assert_eq!(
        posfield_shared::visit::VisitDoc::load(&whole).unwrap().visit().unwrap().status,
        VisitStatus::Completed
    );
    // Everything survives closing and reopening the data folder.
    drop(agent);
    let mut agent = open(dir.path());
    assert_eq!(agent.user(), Some("agent-li"));
    assert_eq!(agent.visit(&id).unwrap().status, VisitStatus::Completed);
    assert!(agent.check_storage().unwrap().is_empty());
}

#[test]
fn tampering_with_the_signature_files_or_the_summary_is_detected_by_part() {
    let dir = tempfile::tempdir().unwrap();
    let mut agent = open(dir.path());
    agent.sign_in("agent-li").unwrap();
    let id = repair_visit(&mut agent);
    let visit = agent.sign(&id, "王老板", &strokes()).unwrap();
    let acceptance = visit.acceptance.unwrap();
    // Overwrite the stored image and strokes behind the agent's back.
    std::fs::write(agent.blobs().path_of(&acceptance.signature.sha256).unwrap(), b"another image").unwrap();
    std::fs::write(agent.blobs().path_of(&acceptance.strokes_sha256).unwrap(), b"other strokes").unwrap();
    let problems = agent.verify_signature(&id).unwrap();
    assert!(problems.contains(&Tampered::Image) && problems.contains(&Tampered::Strokes), "{problems:?}");
    // Change a signed field: the summary part names it.
    agent.set_repair_plan(&id, RepairPlan::SentForRepair).unwrap();
    let problems = agent.verify_signature(&id).unwrap();
    assert!(problems.contains(&Tampered::Summary(vec!["outcome.repair_plan".into()])), "{problems:?}");
}

#[test]
fn a_trivial_signature_is_refused_and_nothing_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let mut agent = open(dir.path());
    agent.sign_in("agent-li").unwrap();
    let id = repair_visit(&mut agent);
    let dot =
        Strokes { width: 600.0, height: 300.0, strokes: vec![vec![Point { x: 5.0, y: 5.0, t: 0, p: None }]] };
    let error = agent.sign(&id, "王老板", &dot).unwrap_err();
    assert_eq!(error.code(), "signature");
    assert!(agent.visit(&id).unwrap().acceptance.is_none());
}

#[test]
fn wrong_serials_and_refused_actions_are_clear_and_change_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut agent = open(dir.path());
    agent.sign_in("agent-li").unwrap();
    let id = agent.create_visit(VisitKind::Installation, &merchant()).unwrap().id;
    let error = agent.identify_typed(&id, "SN-12", false).unwrap_err();
    assert_eq!(error.code(), "invalid_input");
    assert!(error.to_string().contains("expected 8 to 20"), "{error}");
    let error = agent.complete(&id).unwrap_err();
    assert!(matches!(error, AgentError::Visit(VisitError::Incomplete(_))));
    assert_eq!(agent.visit(&id).unwrap().history.len(), 1);
    let never_made = VisitId::parse("0190b3a4-0000-7000-8000-000000000000").unwrap();
    assert_eq!(agent.visit(&never_made).unwrap_err().code(), "visit_not_found");
    // A live scan is read by the same rule as a label photo, and recorded as scanned.
    let error = agent.identify_scanned(&id, "https://example.com/x", false).unwrap_err();
    assert_eq!(error.code(), "barcode");
    assert!(error.to_string().contains("https://example.com/x"), "{error}");
    assert!(agent.visit(&id).unwrap().terminal.is_none());
    let found = agent.identify_scanned(&id, "https://pos.example.com/t?sn=n9100001234567", false).unwrap();
    assert_eq!(found.serial, "N9100001234567");
    let terminal = agent.visit(&id).unwrap().terminal.unwrap();
    assert_eq!(terminal.method, posfield_shared::vocab::IdentificationMethod::Scan);
    assert!(terminal.evidence.is_none());
}

#[test]
fn no_path_discards_work_the_server_has_not_confirmed() {
    let dir = tempfile::tempdir().unwrap();
    let mut agent = open(dir.path());
    agent.sign_in("agent-li").unwrap();
    let id = repair_visit(&mut agent);
    let visit = agent.sign(&id, "王老板", &strokes()).unwrap();
    let signature_sha = visit.acceptance.unwrap().signature.sha256;

    // Sign-out keeps everything and says how much is waiting.
    let report = agent.sign_out().unwrap();
    assert_eq!(report.unsynced_visits, 1);
    // Storage clean-up keeps every visit and file.
    agent.clean_up_storage().unwrap();
    let signature_sha = BlobHash::parse(&signature_sha).unwrap();
    assert_eq!(agent.photo_bytes(&id, &signature_sha).unwrap()[..4], *b"\x89PNG");
    drop(agent);
    // Signing in as someone else (re-enrolment of the phone) keeps the visit too.
    let mut agent = open(dir.path());
    agent.sign_in("agent-zhao").unwrap();
    let rows = agent.list_visits(&VisitFilter { unsynced_only: true, ..Default::default() }).unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(agent.visit_count().unwrap(), 1);
    assert_eq!(agent.visit(&id).unwrap().faults.len(), 1);
}

#[test]
fn the_device_key_is_created_once_and_kept() {
    let dir = tempfile::tempdir().unwrap();
    let first = open(dir.path());
    let (device, key) = (first.device_id().to_owned(), first.device_public_key());
    drop(first);
    let again = open(dir.path());
    assert_eq!(key.len(), 64);
    assert_eq!((again.device_id(), again.device_public_key()), (device.as_str(), key));
}

/// A rotation's next key is drawn once and kept until the server's answer;
/// only adopting it makes it the device key, the replaced key joining the
/// earlier ones, so an acceptance signed before still verifies on the
/// phone; another `Agent` on the folder signs with the new key at once.
#[test]
fn a_rotated_device_key_is_adopted_only_when_confirmed_and_old_signatures_still_verify() {
    let dir = tempfile::tempdir().unwrap();
    let mut agent = open(dir.path());
    let mut other = open(dir.path());
    agent.sign_in("agent-li").unwrap();
    let before = repair_visit(&mut agent);
    agent.sign(&before, "王老板", &strokes()).unwrap();
    let first = agent.device_public_key();

    let next = agent.pending_device_key().unwrap();
    assert_eq!(agent.pending_device_key().unwrap().public_hex(), next.public_hex(), "a second draw");
    assert_ne!(next.public_hex(), first);
    assert!(agent.has_pending_device_key().unwrap());
    assert_eq!(agent.device_public_key(), first, "the next key was used before the server took it");
    // Refused: forgotten, and a fresh one drawn next time.
    agent.discard_pending_device_key().unwrap();
    assert!(!agent.has_pending_device_key().unwrap());
    let next = agent.pending_device_key().unwrap();
    assert_ne!(agent.pending_device_key().unwrap().public_hex(), first);

    agent.adopt_pending_device_key().unwrap();
    assert_eq!(agent.device_public_key(), next.public_hex());
    assert_eq!(agent.earlier_device_public_keys().unwrap(), vec![first.clone()]);
    assert!(!agent.has_pending_device_key().unwrap());
    assert_eq!(agent.verify_signature(&before).unwrap(), [], "the old key's signature no longer verifies");
    let after = repair_visit(&mut agent);
    agent.sign(&after, "王老板", &strokes()).unwrap();
    assert_eq!(agent.verify_signature(&after).unwrap(), []);

    other.sign_in("agent-li").unwrap();
    let elsewhere = repair_visit(&mut other);
    let signed = other.sign(&elsewhere, "王老板", &strokes()).unwrap();
    let acceptance = signed.acceptance.unwrap();
    assert!(posfield_shared::visit::acceptance::device_signature_verifies(&acceptance, &next.public_hex()));
    drop((agent, other));
    let again = open(dir.path());
    assert_eq!(
        (again.device_public_key(), again.earlier_device_public_keys().unwrap()),
        (next.public_hex(), vec![first])
    );
}

#[test]
fn two_agents_on_one_phone_see_each_others_saves() {
    // The app and its background sync open the same data folder.
    let dir = tempfile::tempdir().unwrap();
    let mut app = open(dir.path());
    app.sign_in("agent-li").unwrap();
    let id = app.create_visit(VisitKind::Repair, &merchant()).unwrap().id;
    app.identify_typed(&id, "N9100001234567", false).unwrap();
    let mut background = open(dir.path());
    let fault = background.add_fault(&id, FaultCode::PrinterFault, Some("打印空白")).unwrap();
    // The app's cached copy is behind the store: its next read and edit see the fault.
    assert_eq!(app.visit(&id).unwrap().faults.len(), 1);
    app.add_attempt(&id, &fault, Some(Remedy::CheckPaper), None, true).unwrap();
    let stored = background.visit(&id).unwrap();
    assert_eq!(stored.faults[0].attempts.len(), 1);
    assert_eq!(stored.terminal.unwrap().serial, "N9100001234567");
    assert!(app.check_storage().unwrap().is_empty());
}

fn photo(seed: u8) -> Vec<u8> {
    let image = image::RgbImage::from_fn(96, 64, |x, y| image::Rgb([x as u8 ^ seed, y as u8, seed]));
    let mut png = Vec::new();
    image.write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png).unwrap();
    png
}

#[test]
fn a_photo_is_read_only_through_a_visit_that_refers_to_it() {
    let dir = tempfile::tempdir().unwrap();
    let mut agent = open(dir.path());
    agent.sign_in("agent-li").unwrap();
    let first = agent.create_visit(VisitKind::Repair, &merchant()).unwrap().id;
    let second = agent.create_visit(VisitKind::Repair, &merchant()).unwrap().id;
    let info = agent.add_photo(&first, &photo(1), DocumentKind::PurchaseProof).unwrap();
    let hash = BlobHash::parse(&info.sha256).unwrap();
    assert_eq!(BlobHash::of(&agent.photo_bytes(&first, &hash).unwrap()), hash);
    // Another visit, a file never stored, a removed photo: refused, with a code the UI knows.
    let error = agent.photo_bytes(&second, &hash).unwrap_err();
    assert_eq!(error.code(), "file_not_in_visit", "{error}");
    assert_eq!(
        agent.photo_bytes(&first, &BlobHash::of(b"never stored")).unwrap_err().code(),
        "file_not_in_visit"
    );
    agent.remove_photo(&first, &hash).unwrap();
    assert_eq!(agent.photo_bytes(&first, &hash).unwrap_err().code(), "file_not_in_visit");
}

#[test]
fn a_new_visit_waits_for_the_server_with_no_file_confirmed() {
    let dir = tempfile::tempdir().unwrap();
    let mut agent = open(dir.path());
    agent.sign_in("agent-li").unwrap();
    let id = agent.create_visit(VisitKind::Repair, &merchant()).unwrap().id;
    let info = agent.add_photo(&id, &photo(2), DocumentKind::PurchaseProof).unwrap();
    let visit = agent.visit(&id).unwrap();
    let state = agent.visit_sync_state(&visit).unwrap();
    assert!(state.unsynced && !state.on_server(&info.sha256), "{state:?}");
    // The sync client records what the server verified; the screen then shows it.
    agent.store_mut().mark_blob_confirmed(&info.sha256, info.bytes, 1).unwrap();
    agent.store_mut().mark_synced(id.as_str(), &[], 2, false).unwrap();
    let visit = agent.visit(&id).unwrap();
    let state = agent.visit_sync_state(&visit).unwrap();
    assert!(!state.unsynced && state.on_server(&info.sha256), "{state:?}");
}

#[test]
fn identifiers_from_outside_that_do_not_parse_have_stable_codes() {
    for (error, code) in [
        (VisitId::parse("../../etc/passwd").unwrap_err(), "bad_visit_id"),
        (BlobHash::parse("photo.jpg").unwrap_err(), "bad_blob_hash"),
    ] {
        let error = AgentError::from(error);
        assert_eq!(error.code(), code, "{error}");
        assert!(error.to_string().contains("is not a"), "{error}");
    }
}

/// The device's key and actors come from the operating system's random
/// source with every bit free: a UUIDv4 source would fix byte 6's high
/// nibble to 4 and byte 8's two top bits to 10 in every 16 bytes.
#[test]
fn random_bytes_have_no_fixed_bits() {
    let draws: Vec<[u8; 16]> = (0..64).map(|_| super::random_bytes::<16>()).collect();
    assert!(draws.iter().any(|d| d[6] >> 4 != 4), "byte 6 always carries a UUID version");
    assert!(draws.iter().any(|d| d[8] >> 6 != 0b10), "byte 8 always carries a UUID variant");
    let distinct: std::collections::BTreeSet<_> = draws.iter().collect();
    assert_eq!(distinct.len(), draws.len());
}

/// Looking for personal photos to delete loads every approved visit, so
/// without a sync that moved visits it happens at most once a day.
#[test]
fn personal_photos_are_looked_for_at_most_once_a_day_without_news() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(TestClock(AtomicI64::new(1_795_000_000_000)));
    let mut agent = Agent::open_with_clock(dir.path(), keys(dir.path()), clock.clone()).unwrap();
    assert!(agent.retention_due().unwrap(), "never looked");
    agent.store_mut().set_setting(crate::retention::SETTING_PERSONAL_PHOTO_DAYS, "30").unwrap();
    assert_eq!(agent.apply_photo_retention().unwrap(), 0);
    assert!(!agent.retention_due().unwrap(), "just looked");
    let hour = 3600 * 1000;
    clock.0.fetch_add(23 * hour, Ordering::SeqCst);
    assert!(!agent.retention_due().unwrap(), "23 hours later");
    clock.0.fetch_add(2 * hour, Ordering::SeqCst);
    assert!(agent.retention_due().unwrap(), "25 hours later");
}

/// A wipe the process did not live to finish (killed between destroying
/// the key and deleting the files) is finished at the next start, which
/// opens an empty folder under a new key instead of refusing as `key_gone`.
#[test]
fn a_wipe_cut_short_is_finished_at_the_next_start() {
    let dir = tempfile::tempdir().unwrap();
    let mut agent = open(dir.path());
    agent.sign_in("agent-li").unwrap();
    agent
        .create_visit(VisitKind::Repair, &MerchantInput { name: "老王便利店".into(), ..Default::default() })
        .unwrap();
    agent.begin_wipe().unwrap();
    drop(agent); // the process dies here
    assert!(dir.path().join("agent.db").exists(), "the files are still there, unreadable");
    assert!(!dir.path().join("test.key").exists(), "the key is gone");

    let agent = open(dir.path());
    assert_eq!(agent.visit_count().unwrap(), 0);
    assert_eq!(agent.user(), None);
    assert!(!dir.path().join(super::WIPE_MARKER).exists());
    assert!(dir.path().join("test.key").exists(), "a new key for the new folder");
}
