//! Push bodies (CBOR) through the server's checks: counts from the headers,
//! each visit loaded strictly, its blob references checked and the actors of
//! its new changes listed; a visit that passes saves and loads again to itself.
#![no_main]

libfuzzer_sys::fuzz_target!(
    // `VisitDoc::load_chunks` turns a panic inside automerge's decoder into
    // `DocError::Undecodable` on purpose. libfuzzer-sys's panic hook would
    // abort on that caught panic too, so the default hook comes back: a panic
    // still escaping the target aborts the run and keeps the input.
    init: drop(std::panic::take_hook()),
    |data: &[u8]| {
        posfield_shared::fuzz::push_bodies(data);
    }
);
