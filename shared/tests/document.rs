//! Loading visit documents: bad bytes and bad shapes give typed errors
//! naming what is wrong, never a panic; saving and loading round-trips.

mod common;

use automerge::transaction::Transactable;
use automerge::{AutoCommit, ROOT, ReadDoc};
use common::*;
use posfield_shared::visit::{DocError, SCHEMA_VERSION, VisitDoc, VisitError};
use posfield_shared::{FaultCode, VisitKind};

fn saved_visit() -> Vec<u8> {
    let mut clock = Clock::default();
    let mut doc = new_visit(&mut clock, VisitKind::Repair);
    fill(&mut doc, &mut clock);
    doc.save()
}

#[test]
fn save_load_round_trips_the_visit_and_incremental_saves_append() {
    let mut clock = Clock::default();
    let mut doc = new_visit(&mut clock, VisitKind::Repair);
    let mut file = doc.save();
    fill(&mut doc, &mut clock);
    file.extend(doc.save_incremental());
    doc.add_fault(&clock.ctx(&agent()), FaultCode::Slow, None).unwrap();
    file.extend(doc.save_incremental());
    let loaded = VisitDoc::load(&file).unwrap();
    assert_eq!(loaded.visit().unwrap(), doc.visit().unwrap());
}

#[test]
fn stored_chunks_load_in_any_order() {
    let mut clock = Clock::default();
    let mut doc = new_visit(&mut clock, VisitKind::Repair);
    let first = doc.save();
    fill(&mut doc, &mut clock);
    let second = doc.save_incremental();
    doc.add_fault(&clock.ctx(&agent()), FaultCode::Slow, None).unwrap();
    let third = doc.save_incremental();
    let expected = doc.visit().unwrap();
    for order in [[&first, &second, &third], [&third, &first, &second], [&second, &third, &first]] {
        let mut loaded = VisitDoc::load_chunks(order.map(|c| c.as_slice())).unwrap();
        assert_eq!(loaded.visit().unwrap(), expected);
        assert_eq!(loaded.heads(), doc.heads());
    }
    assert!(VisitDoc::load_chunks(std::iter::empty()).is_err(), "no chunks is no visit");
}

#[test]
fn truncated_documents_are_refused_at_every_length() {
    let bytes = saved_visit();
    for len in (0..bytes.len()).step_by(7) {
        match VisitDoc::load(&bytes[..len]) {
            Err(DocError::Corrupt(_) | DocError::Empty) => {}
            Err(other) => panic!("truncated to {len}: unexpected {other}"),
            Ok(_) => panic!("truncated to {len} bytes loaded"),
        }
    }
}

#[test]
fn bit_flips_give_errors_not_panics() {
    let bytes = saved_visit();
    let mut refused = 0;
    for i in (0..bytes.len()).step_by(3) {
        let mut flipped = bytes.clone();
        flipped[i] ^= 0x20;
        // Either the checksum catches it or the data still reads as a visit.
        match VisitDoc::load(&flipped) {
            Ok(doc) => assert!(doc.visit().is_ok()),
            Err(_) => refused += 1,
        }
    }
    assert!(refused > 0);
}

#[test]
fn random_bytes_and_empty_documents_are_refused() {
    let mut state = 0x2545_f491_4f6c_dd1du64;
    for len in [0usize, 1, 8, 64, 4096] {
        let bytes: Vec<u8> = (0..len)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                state as u8
            })
            .collect();
        assert!(VisitDoc::load(&bytes).is_err(), "{len} random bytes loaded");
    }
    let empty = AutoCommit::new().save();
    assert!(matches!(VisitDoc::load(&empty), Err(DocError::Empty)));
}

/// Loads `bytes`, then lets `edit` damage the raw document, and returns the load error.
fn damaged(edit: impl FnOnce(&mut AutoCommit)) -> DocError {
    let mut raw = AutoCommit::load(&saved_visit()).unwrap();
    edit(&mut raw);
    raw.commit();
    VisitDoc::load(&raw.save()).unwrap_err()
}

#[test]
fn a_missing_field_is_named() {
    let error = damaged(|doc| doc.delete(ROOT, "kind").unwrap());
    assert_eq!(error.to_string(), "visit document field kind: missing");
}

#[test]
fn a_wrong_type_is_named_with_the_list_index() {
    let error = damaged(|doc| {
        let (_, faults) = doc.get(ROOT, "faults").unwrap().unwrap();
        let (_, first) = doc.get(&faults, 0).unwrap().unwrap();
        doc.put(&first, "code", 42_i64).unwrap();
    });
    let DocError::Schema { path, .. } = &error else { panic!("{error}") };
    assert_eq!(path, "faults[0]");
}

#[test]
fn an_unknown_enum_value_is_refused_with_its_path() {
    let error = damaged(|doc| doc.put(ROOT, "status", "teleported").unwrap());
    let DocError::Schema { path, .. } = &error else { panic!("{error}") };
    assert_eq!(path, "status");
}

#[test]
fn a_newer_edit_floor_is_read_but_not_written() {
    let mut raw = AutoCommit::load(&saved_visit()).unwrap();
    raw.put(ROOT, "schema", 99_u64).unwrap();
    raw.commit();
    let mut doc = VisitDoc::load(&raw.save()).unwrap();
    assert_eq!(doc.visit().unwrap().schema, 99);
    let mut clock = Clock { now: 1_900_000_000_000, next_id: 500 };
    let error = doc.add_note(&clock.ctx(&agent()), "not written").unwrap_err();
    assert!(
        matches!(error, VisitError::Document(DocError::NewerSchema { found: 99, supported: SCHEMA_VERSION })),
        "{error}"
    );
}

#[test]
fn extra_keys_from_a_newer_writer_are_tolerated_and_kept() {
    let mut raw = AutoCommit::load(&saved_visit()).unwrap();
    raw.put(ROOT, "future_field", "kept").unwrap();
    raw.commit();
    let mut doc = VisitDoc::load(&raw.save()).unwrap();
    let mut clock = Clock { now: 1_900_000_000_000, next_id: 500 };
    doc.add_note(&clock.ctx(&agent()), "still writable").unwrap();
    let reloaded = AutoCommit::load(&doc.save()).unwrap();
    assert!(reloaded.get(ROOT, "future_field").unwrap().is_some());
}

#[test]
fn malformed_changes_from_a_peer_are_refused() {
    let mut clock = Clock::default();
    let mut doc = new_visit(&mut clock, VisitKind::Repair);
    let error = doc.apply_changes(&[vec![0x85, 0x6f, 0x4a, 0x83, 1, 2, 3]]).unwrap_err();
    assert!(matches!(error, DocError::Undecodable(_)), "{error}");
    assert!(matches!(doc.apply_changes(&[Vec::new()]), Err(DocError::Undecodable(_))));
    assert!(doc.visit().is_ok(), "the document is untouched");
}

#[test]
fn incremental_saves_after_load_hold_only_new_changes() {
    let mut clock = Clock::default();
    let mut doc = new_visit(&mut clock, VisitKind::Repair);
    fill(&mut doc, &mut clock);
    let full = doc.save();
    let mut loaded = VisitDoc::load(&full).unwrap();
    assert!(loaded.save_incremental().is_empty(), "nothing new since load");
    loaded.add_note(&clock.ctx(&agent()), "一条备注").unwrap();
    let increment = loaded.save_incremental();
    assert!(
        !increment.is_empty() && increment.len() < full.len() / 2,
        "{} vs {}",
        increment.len(),
        full.len()
    );
    let mut file = full;
    file.extend(increment);
    assert_eq!(VisitDoc::load(&file).unwrap().visit().unwrap().notes.len(), 1);
}

/// Every file in `tests/fixtures/bad-documents/` (see its README) and what
/// loading it gives: a typed error, or a visit. Never a panic.
const BAD_DOCUMENTS: &[(&str, &str)] = &[
    ("empty.bin", "empty"),
    ("magic-only.bin", "corrupt"),
    ("header-cut-before-length.bin", "corrupt"),
    ("truncated-in-data.bin", "corrupt"),
    ("wrong-checksum.bin", "corrupt"),
    ("bit-flip-with-valid-checksum.bin", "corrupt"),
    ("length-overflows-u64.bin", "corrupt"),
    ("length-beyond-input.bin", "corrupt"),
    ("unknown-chunk-type.bin", "corrupt"),
    ("compressed-change-bad-deflate.bin", "corrupt"),
    ("change-claims-2-pow-50-deps.bin", "corrupt"),
    ("change-without-its-dependencies.bin", "corrupt"),
    ("random-bytes.bin", "corrupt"),
    ("document-chunk-of-random-data.bin", "corrupt"),
    ("the-same-visit-twice.bin", "loads"),
    ("two-visits-in-one-file.bin", "loads with conflicting ids"),
    ("two-visits-with-damaged-changes.bin", "loads with conflicting ids, its save does not load"),
    ("one-visit-whose-save-does-not-load.bin", "loads, its save does not load"),
    ("changes-that-do-not-rebuild.bin", "loads, its save does not load"),
    ("changes-that-do-not-rebuild-2.bin", "loads, its save does not load"),
];

fn bad_documents_dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/bad-documents")
}

#[test]
fn every_bad_document_fixture_loads_to_its_typed_outcome_without_a_panic() {
    for (file, expected) in BAD_DOCUMENTS {
        let bytes = std::fs::read(bad_documents_dir().join(file)).unwrap();
        let loaded = std::panic::catch_unwind(|| VisitDoc::load(&bytes));
        let outcome = match loaded {
            Err(_) => panic!("{file}: loading panicked"),
            Ok(Ok(mut doc)) => {
                // What the back office reads of its past is read without a panic too.
                doc.history_changes();
                doc.concurrent_edits();
                match (doc.conflicts().iter().any(|c| c.path == "id"), VisitDoc::load(&doc.save())) {
                    (false, Ok(_)) => "loads",
                    (true, Ok(_)) => "loads with conflicting ids",
                    (true, Err(_)) => "loads with conflicting ids, its save does not load",
                    (false, Err(_)) => "loads, its save does not load",
                }
            }
            Ok(Err(DocError::Corrupt(_))) => "corrupt",
            Ok(Err(DocError::Empty)) => "empty",
            Ok(Err(other)) => panic!("{file}: unexpected {other}"),
        };
        assert_eq!(outcome, *expected, "{file}");
    }
}

#[test]
fn every_file_in_the_bad_documents_folder_has_an_expected_outcome() {
    let mut on_disk: Vec<String> = std::fs::read_dir(bad_documents_dir())
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".bin"))
        .collect();
    on_disk.sort();
    let mut listed: Vec<String> = BAD_DOCUMENTS.iter().map(|(file, _)| (*file).to_owned()).collect();
    listed.sort();
    assert_eq!(on_disk, listed);
}
