//! The workload a seed gives, pinned: the figures below are those of the
//! workload as it was built before each checklist requirement was met by
//! the domain's rule (`posfield_shared::visit::satisfy`), so the
//! benchmark's figures stay comparable across that change and any later
//! one that keeps this test green. Ids and device keys are random, so the
//! documents' bytes are not pinned; everything the seed decides is. The
//! blob files are sealed on the phone, 32 bytes each beyond their content.
//! Schema 3 (checklist edition 3) gave replacement visits the label's
//! details, the parameters, the network test, the data restored and the
//! old terminal's hand-over with a photo of it: the seed's figures moved
//! from 495 edits, 48 photos and 771,569 bytes of blobs to 486, 51 and
//! 819,462 (fewer notes fill each visit to its edits, so the generator
//! draws differently after them).

use crate::workload::{Shape, build};

#[test]
fn a_seed_gives_the_workload_it_gave_before_the_rule_had_one_home() {
    let root = tempfile::tempdir().expect("a temporary folder");
    let (agents, shape) = build(root.path(), 2, 8, 20_261_123, 2).expect("the workload builds");
    assert_eq!(agents.len(), 2);
    let Shape { visits, edits, photos, signatures, completed, blobs, blob_bytes, .. } = shape;
    assert_eq!(
        (visits, edits, photos, signatures, completed, blobs, blob_bytes),
        (16, 486, 51, 16, 16, 83, 819_462 + 83 * 32)
    );
}
