//! Fuzz targets over the agent core's decoders of outside input: what an NFC
//! reader hands over, document photos from the camera or the gallery, and
//! the strokes the signature pad sends.
//!
//! They follow `posfield_shared::fuzz`, which holds the domain's targets and
//! the fixed-seed mutator: bytes in, a typed refusal or an accepted value
//! that holds what the target asserts, never a panic, and `true` when the
//! decoder accepted the input. `fuzz/` runs them under libFuzzer; the tests
//! below run them over `fuzz/corpus/<target>/` and bounded mutations.
//!
//! Compiled for the tests, and for `fuzz/` with the `fuzzing` feature.

use posfield_shared::validate;

use crate::blobs::sha256_hex;
use crate::identify::ndef::{parse_message, parse_tlv, parse_type2_dump, serial_from_tag};
use crate::photo::{MAX_LONG_SIDE, OUTPUT_MIME, PhotoLimits, normalize_photo};
use crate::signature::Strokes;

/// Bytes from an NFC reader, read as an NDEF message, as a Type 2 tag dump
/// and as a TLV area, their first 7 bytes also standing in for the tag UID.
/// A serial found is a normal one. Accepted when a record's content decoded.
pub fn ndef(data: &[u8]) -> bool {
    let decoded = parse_message(data).is_ok_and(|records| records.iter().any(|r| r.content().is_ok()));
    let mut serials = vec![serial_from_tag(data, &data[..data.len().min(7)])];
    let _ = parse_tlv(data);
    if let Ok(dump) = parse_type2_dump(data)
        && let Ok(message) = parse_tlv(dump.tlv_area)
    {
        serials.push(serial_from_tag(message, &dump.uid));
    }
    for found in serials.into_iter().flatten() {
        assert_eq!(validate::serial(&found.serial).as_ref(), Ok(&found.serial), "not a normal serial");
    }
    decoded
}

/// A document photo, normalized within small limits (1 MiB, 2048 x 2048
/// pixels, 32 MiB of pixel memory). What comes out is a JPEG no larger than
/// the normalized size.
pub fn photo(data: &[u8]) -> bool {
    let limits =
        PhotoLimits { max_input_bytes: 1 << 20, max_width: 2048, max_height: 2048, max_alloc: 32 << 20 };
    let Ok(photo) = normalize_photo(data, &limits) else { return false };
    assert!(photo.width.max(photo.height) <= MAX_LONG_SIDE, "{}x{}", photo.width, photo.height);
    assert!(photo.jpeg.starts_with(&[0xFF, 0xD8]) && photo.jpeg.ends_with(&[0xFF, 0xD9]), "not a JPEG");
    assert_eq!(photo.mime, OUTPUT_MIME);
    true
}

/// The signature pad's strokes (JSON), validated, encoded and rendered as the
/// agent does before signing. What is captured is a PNG no wider or taller
/// than the rendering limit, and the hashes match the bytes.
pub fn signature_strokes(data: &[u8]) -> bool {
    let Ok(strokes) = serde_json::from_slice::<Strokes>(data) else { return false };
    let Ok(captured) = strokes.capture() else { return false };
    assert_eq!(captured.strokes_sha256, sha256_hex(&captured.strokes_blob));
    assert_eq!(captured.png_sha256, sha256_hex(&captured.png));
    assert!(captured.png.starts_with(b"\x89PNG\r\n\x1a\n"), "not a PNG");
    assert!(captured.width.max(captured.height) <= 1000, "{}x{}", captured.width, captured.height);
    true
}

#[cfg(test)]
mod tests {
    use posfield_shared::fuzz::{Mutator, run_bounded};

    use super::*;

    /// Runs `target` over its corpus (`expected_seeds` files), then `rounds`
    /// mutations of at most `max_len` bytes from the fixed `seed`, and
    /// demands that more than `min_accepted` of them were accepted.
    fn check(
        target: fn(&[u8]) -> bool,
        name: &str,
        expected_seeds: usize,
        rounds: usize,
        seed: u64,
        max_len: usize,
        min_accepted: usize,
    ) {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus").join(name);
        let mut names: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).collect();
        names.sort();
        let seeds: Vec<Vec<u8>> = names.iter().map(|path| std::fs::read(path).unwrap()).collect();
        assert_eq!(seeds.len(), expected_seeds, "the corpus of {name}");
        let accepted = run_bounded(target, &seeds, rounds, &mut Mutator::new(seed), max_len);
        assert!(accepted > min_accepted, "{name}: only {accepted} of {rounds} mutated inputs accepted");
    }

    #[test]
    fn nfc_bytes_decode_or_are_refused_and_every_serial_found_is_normal() {
        check(ndef, "ndef", 5, 20_000, 0x5eed_0def, 300, 400);
    }

    #[test]
    fn photos_normalize_within_the_limits_or_are_refused() {
        check(photo, "photo", 5, 1500, 0x5eed_f070, 4096, 50);
    }

    #[test]
    fn signature_strokes_are_captured_whole_or_refused() {
        check(signature_strokes, "signature_strokes", 3, 10_000, 0x5eed_0516, 2048, 20);
    }
}
