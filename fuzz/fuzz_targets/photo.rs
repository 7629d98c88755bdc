//! Document photo bytes: normalized within small limits, or refused.
#![no_main]

libfuzzer_sys::fuzz_target!(
    // `normalize_photo` turns a panic inside an image decoder into
    // `PhotoError::Corrupt` on purpose. libfuzzer-sys's panic hook would
    // abort on that caught panic too, so the default hook comes back: a panic
    // still escaping the target aborts the run and keeps the input.
    init: drop(std::panic::take_hook()),
    |data: &[u8]| {
        posfield_core::fuzz::photo(data);
    }
);
