//! Bytes from an NFC reader, read as an NDEF message, a Type 2 tag dump and a TLV area:
//! every serial found is normal.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    posfield_core::fuzz::ndef(data);
});
