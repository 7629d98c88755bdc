//! JSON bodies of the sync API: refused, or decoded to a value that encodes and decodes to itself.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    posfield_shared::fuzz::sync_bodies(data);
});
