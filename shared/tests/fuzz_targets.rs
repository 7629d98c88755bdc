//! The fuzz targets of `posfield_shared::fuzz` in the ordinary test run:
//! each over its corpus (`fuzz/corpus/<target>/`, and for visit documents
//! the bad-document fixtures too), then over a bounded number of fixed-seed
//! mutations. A panic or a broken property fails the test; the count of
//! accepted inputs shows the mutations still reach past the first checks.
//! `cargo fuzz` runs the same functions for as long as one likes.

use std::path::Path;

use posfield_shared::fuzz::{self, Mutator, run_bounded};

/// Every file in `dir` but its README, in name order.
fn files_in(dir: &Path) -> Vec<Vec<u8>> {
    let entries = std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    let mut paths: Vec<_> = entries
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.is_file() && path.extension().is_none_or(|e| e != "md"))
        .collect();
    paths.sort();
    paths.iter().map(|path| std::fs::read(path).unwrap()).collect()
}

fn corpus(target: &str) -> Vec<Vec<u8>> {
    let seeds = files_in(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus").join(target));
    assert!(!seeds.is_empty(), "the corpus of {target} is empty");
    seeds
}

#[test]
fn visit_documents_load_or_are_refused_and_what_they_save_reloads_as_the_same_visit() {
    let mut seeds = corpus("visit_document");
    seeds.extend(files_in(&Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/bad-documents")));
    let accepted = run_bounded(fuzz::visit_document, &seeds, 10_000, &mut Mutator::new(0x5eed_0d0c), 8192);
    // Most damage is caught by a checksum or by automerge's check of the
    // heads; some still loads, and what it saves reloads as the same visit or is refused.
    assert!(accepted > 20, "only {accepted} of 10000 mutated documents loaded");
}

#[test]
fn typed_identifiers_are_refused_or_already_normal() {
    let seeds = corpus("identifiers");
    let accepted = run_bounded(fuzz::identifiers, &seeds, 20_000, &mut Mutator::new(0x5eed_001d), 64);
    assert!(accepted > 800, "only {accepted} of 20000 mutated identifiers accepted");
}

#[test]
fn sync_bodies_are_refused_or_decode_to_what_they_encode() {
    let seeds = corpus("sync_bodies");
    let accepted = run_bounded(fuzz::sync_bodies, &seeds, 20_000, &mut Mutator::new(0x5eed_05bc), 512);
    assert!(accepted > 300, "only {accepted} of 20000 mutated bodies decoded");
}

#[test]
fn push_bodies_pass_the_servers_checks_or_are_refused() {
    let seeds = corpus("push_bodies");
    let accepted = run_bounded(fuzz::push_bodies, &seeds, 20_000, &mut Mutator::new(0x5eed_0b0d), 16384);
    assert!(accepted > 5, "only {accepted} of 20000 mutated push bodies had a visit pass the checks");
}

#[test]
fn the_push_seeds_are_push_bodies() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus/sync_bodies");
    let request = std::fs::read(dir.join("push_request.cbor")).expect("seed");
    let request: posfield_shared::protocol::PushRequest =
        posfield_shared::protocol::decode_cbor(&request).expect("a push request");
    assert_eq!(request.visits[0].base.len(), 1);
    let response = std::fs::read(dir.join("push_response.cbor")).expect("seed");
    let response: posfield_shared::protocol::PushResponse =
        posfield_shared::protocol::decode_cbor(&response).expect("a push response");
    assert_eq!(response.visits[1].refused.as_deref(), Some("not_found"));
}
