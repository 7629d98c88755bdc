//! Typed or scanned identifier text: refused, or accepted as a value that is already normal.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    posfield_shared::fuzz::identifiers(data);
});
