//! Visit document bytes: load and hydrate, as is and with valid chunk
//! checksums; a document holding one visit must round-trip.
#![no_main]

libfuzzer_sys::fuzz_target!(
    // `VisitDoc::load` turns a panic inside automerge's decoder into
    // `DocError::Undecodable` on purpose. libfuzzer-sys's panic hook would
    // abort on that caught panic too, so the default hook comes back: a panic
    // still escaping the target aborts the run and keeps the input.
    init: drop(std::panic::take_hook()),
    |data: &[u8]| {
        posfield_shared::fuzz::visit_document(data);
    }
);
