//! Signature pad strokes (JSON): captured whole (hashes match, a PNG within the size limit)
//! or refused.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    posfield_core::fuzz::signature_strokes(data);
});
