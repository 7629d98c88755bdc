//! Fuzz targets over the domain's decoders of outside input, and the
//! fixed-seed mutator that runs targets in `cargo test`.
//!
//! A target takes raw bytes. The decoder under it may refuse them with a
//! typed `Err`, never with a panic, and what it accepts must hold the
//! properties the target asserts. A target returns whether its decoder
//! accepted the input, so a bounded run can show its mutations got past the
//! first checks. `fuzz/` runs the targets under libFuzzer (`cargo fuzz`);
//! the tests run them over their corpus (`fuzz/corpus/<target>/`) and a
//! bounded number of mutations (`shared/tests/fuzz_targets.rs`).
//!
//! Compiled only with the `fuzzing` feature, which no build of the app or the
//! server turns on.

use serde::Serialize;
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};

use crate::protocol::{
    EnrollRequest, EnrollResponse, ManifestRequest, ManifestResponse, PUSH_MAX_BASE_HEADS, PUSH_MAX_VISITS,
    PushRequest, PushResponse, decode_push_request,
};
use crate::validate;
use crate::visit::VisitDoc;
use crate::visit::authority::{OfficeFields, Sender};
use crate::visit::pushed::{bad_reference, check_pushed, new_actors};

/// Bytes offered as a saved visit (a file on the phone, a document from a
/// peer): load and hydrate them as they are, and again with every chunk's
/// checksum made valid, so mutated bytes also reach the decoders behind the
/// checksum. Loading gives a typed error or a visit, never a panic; so does
/// loading what a loaded document saves, and when that loads it holds the
/// same visit. What the back office reads of a loaded document's past (its
/// history's changes, its concurrent values) is read without a panic too.
///
/// That save does not always load: automerge accepts some damaged files
/// whose save it then refuses (`shared/tests/fixtures/bad-documents/`).
pub fn visit_document(data: &[u8]) -> bool {
    let as_is = loads_and_round_trips(data);
    let resealed = reseal_chunks(data);
    let resealed_loads = resealed != data && loads_and_round_trips(&resealed);
    as_is || resealed_loads
}

fn loads_and_round_trips(bytes: &[u8]) -> bool {
    let Ok(mut doc) = VisitDoc::load(bytes) else { return false };
    let visit = doc.visit().expect("a loaded document reads as a visit");
    doc.history_changes();
    doc.concurrent_edits();
    if let Ok(again) = VisitDoc::load(&doc.save()) {
        assert_eq!(again.visit().expect("the reloaded document reads as a visit"), visit);
    }
    true
}

/// The magic bytes that start every automerge chunk.
const CHUNK_MAGIC: [u8; 4] = [0x85, 0x6f, 0x4a, 0x83];
/// The chunk type of a compressed change, whose checksum covers the
/// decompressed change rather than the bytes in the file.
const COMPRESSED_CHANGE: u8 = 2;

/// `data` with the checksum of each chunk recomputed. A chunk is the magic
/// bytes, a 4-byte checksum, a type byte, the data length (LEB128) and the
/// data; the checksum is the start of the SHA-256 over type, length and data.
/// Stops at the first byte that does not start a whole chunk.
fn reseal_chunks(data: &[u8]) -> Vec<u8> {
    let mut out = data.to_vec();
    let mut at = 0;
    while out.len() >= at + 9 && out[at..at + 4] == CHUNK_MAGIC {
        let Some((length, length_bytes)) = uleb128(&out[at + 9..]) else { break };
        let Some(end) = (at + 9 + length_bytes).checked_add(length).filter(|end| *end <= out.len()) else {
            break;
        };
        if out[at + 8] != COMPRESSED_CHANGE {
            let digest = Sha256::digest(&out[at + 8..end]);
            out[at + 4..at + 8].copy_from_slice(&digest[..4]);
        }
        at = end;
    }
    out
}

/// An unsigned LEB128 number at the start of `bytes`, and how many bytes it took.
fn uleb128(bytes: &[u8]) -> Option<(usize, usize)> {
    let mut value = 0u64;
    for (index, byte) in bytes.iter().take(10).enumerate() {
        value |= u64::from(byte & 0x7f).checked_shl(7 * index as u32)?;
        if byte & 0x80 == 0 {
            return Some((usize::try_from(value).ok()?, index + 1));
        }
    }
    None
}

/// Text typed or scanned as an identifier (serial, ICCID, mobile, merchant
/// and terminal numbers). A value a validator accepts is already normal: it
/// validates to itself.
pub fn identifiers(data: &[u8]) -> bool {
    type Validator = fn(&str) -> Result<String, validate::ValidationError>;
    let text = String::from_utf8_lossy(data);
    let validators: [Validator; 5] = [
        validate::serial,
        validate::iccid,
        validate::mobile,
        validate::merchant_number,
        validate::terminal_number,
    ];
    let mut accepted = false;
    for validator in validators {
        if let Ok(normal) = validator(&text) {
            assert_eq!(validator(&normal).as_ref(), Ok(&normal), "{text:?} normalized to {normal:?}");
            accepted = true;
        }
    }
    accepted
}

/// A body of the sync API, as the server decodes it from an agent
/// (enrolment and manifest in JSON, push in CBOR) and the agent from the server. A body that decodes
/// encodes and decodes to the same value.
pub fn sync_bodies(data: &[u8]) -> bool {
    fn round_trips<T: Serialize + DeserializeOwned + PartialEq + std::fmt::Debug>(data: &[u8]) -> bool {
        let Ok(value) = serde_json::from_slice::<T>(data) else { return false };
        let json = serde_json::to_vec(&value).expect("a decoded body encodes");
        assert_eq!(serde_json::from_slice::<T>(&json).expect("an encoded body decodes"), value);
        true
    }
    fn cbor_round_trips<T>(data: &[u8]) -> bool
    where
        T: minicbor::Encode<()> + for<'b> minicbor::Decode<'b, ()> + PartialEq + std::fmt::Debug,
    {
        let Ok(value) = crate::protocol::decode_cbor::<T>(data) else { return false };
        let cbor = crate::protocol::encode_cbor(&value);
        assert_eq!(crate::protocol::decode_cbor::<T>(&cbor).expect("an encoded body decodes"), value);
        true
    }
    let requests = round_trips::<EnrollRequest>(data)
        | round_trips::<ManifestRequest>(data)
        | cbor_round_trips::<PushRequest>(data);
    let responses = round_trips::<EnrollResponse>(data)
        | round_trips::<ManifestResponse>(data)
        | cbor_round_trips::<PushResponse>(data);
    requests || responses
}

/// A push body as the server checks it before storing anything: the
/// counts read from the CBOR headers first, then each visit's bytes loaded
/// strictly as a document new to the server and its blob references
/// checked ([`check_pushed`], the function `sync-server`'s push calls), and
/// the actors of its new changes listed ([`new_actors`]). A visit that
/// passes names only SHA-256 references, brings changes only while the
/// server does not hold its bytes, what it saves loads strictly again to
/// the same visit, and once the server has put back what the authority
/// table does not let its sender write, nothing is forged. Returns whether
/// any visit passed.
pub fn push_bodies(data: &[u8]) -> bool {
    let Ok(request) = decode_push_request(data) else { return false };
    assert!(request.visits.len() <= PUSH_MAX_VISITS, "{} visits decoded", request.visits.len());
    let mut passed = false;
    for pushed in &request.visits {
        assert!(pushed.base.len() <= PUSH_MAX_BASE_HEADS, "{} heads decoded", pushed.base.len());
        // As sent, and with each chunk's checksum made valid, so mutated
        // bytes also reach the checks behind the checksum.
        for bytes in [pushed.bytes.to_vec(), reseal_chunks(&pushed.bytes)] {
            let Ok((mut doc, visit)) = check_pushed(&[], &bytes) else { continue };
            assert!(bad_reference(&visit).is_none());
            // Everything a visit new to the server holds is new; nothing is
            // once the same bytes are stored.
            let actors = new_actors(&[], &mut doc).expect("the actors of a checked visit");
            assert!(!actors.is_empty(), "a visit with no change passed");
            let stored = new_actors(&[bytes.as_slice()], &mut doc).expect("the stored bytes load as checked");
            assert!(stored.is_empty(), "changes already stored counted as new: {stored:?}");
            let saved = doc.save();
            let again = VisitDoc::load_chunks([saved.as_slice()]).and_then(|d| d.visit());
            assert_eq!(again.expect("a checked visit saves and loads again"), visit);
            // The authority check the server runs next: whatever the visit
            // claims, what is put back for its sender leaves nothing forged.
            let sender = Sender { user: "fuzz-agent".into(), device: "fuzz-device".into() };
            let trusted = OfficeFields::first_seen(&visit, &sender.user);
            let forged = trusted.forged_by(&visit, Some(&sender));
            let mut restored = visit.clone();
            trusted.put_back_for(&mut restored, &forged, Some(&sender));
            let left = trusted.forged_by(&restored, Some(&sender));
            assert!(left.is_empty(), "still forged after the put-back: {left:?}");
            passed = true;
        }
    }
    passed
}

/// A fixed-seed generator of fuzz inputs (xorshift64): the same seed gives
/// the same inputs on every run and machine, so a bounded fuzz loop in
/// `cargo test` is reproducible.
#[derive(Debug, Clone)]
pub struct Mutator {
    state: u64,
}

/// Bytes that often sit on a decoder's boundaries.
const INTERESTING: [u8; 7] = [0x00, 0x01, 0x7F, 0x80, 0xFE, 0xFF, b'"'];

impl Mutator {
    /// A generator starting from `seed` (any value; zero is replaced).
    pub fn new(seed: u64) -> Mutator {
        Mutator { state: seed.max(1) }
    }

    /// The next pseudo-random number.
    pub fn next_u64(&mut self) -> u64 {
        self.state ^= self.state << 13;
        self.state ^= self.state >> 7;
        self.state ^= self.state << 17;
        self.state
    }

    /// A number below `n` (0 when `n` is 0).
    pub fn below(&mut self, n: usize) -> usize {
        if n == 0 { 0 } else { (self.next_u64() % n as u64) as usize }
    }

    /// Up to `max_len` random bytes.
    pub fn random_bytes(&mut self, max_len: usize) -> Vec<u8> {
        let len = self.below(max_len + 1);
        (0..len).map(|_| self.next_u64() as u8).collect()
    }

    /// One input: random bytes one time in eight, otherwise a seed changed
    /// by one to eight edits (a bit flipped, a byte replaced by a random or a
    /// boundary value, bytes inserted, a run deleted or repeated, the end cut
    /// off, a run of another seed spliced in), at most `max_len` bytes.
    pub fn input(&mut self, seeds: &[Vec<u8>], max_len: usize) -> Vec<u8> {
        if seeds.is_empty() || self.below(8) == 0 {
            return self.random_bytes(max_len);
        }
        let mut bytes = seeds[self.below(seeds.len())].clone();
        for _ in 0..=self.below(8) {
            let at = self.below(bytes.len() + 1);
            let run = 1 + self.below(16.min(bytes.len() - at + 1));
            match self.below(8) {
                0 if at < bytes.len() => bytes[at] ^= 1 << self.below(8),
                1 if at < bytes.len() => bytes[at] = self.next_u64() as u8,
                2 if at < bytes.len() => bytes[at] = INTERESTING[self.below(INTERESTING.len())],
                3 => drop(bytes.splice(at..at, (0..run).map(|_| self.next_u64() as u8).collect::<Vec<_>>())),
                4 => drop(bytes.drain(at..(at + run).min(bytes.len()))),
                5 => {
                    let repeated = bytes[at..(at + run).min(bytes.len())].to_vec();
                    drop(bytes.splice(at..at, repeated));
                }
                6 => bytes.truncate(at),
                _ => {
                    let other = &seeds[self.below(seeds.len())];
                    let from = self.below(other.len());
                    let piece = other[from..(from + run).min(other.len())].to_vec();
                    let end = (at + piece.len()).min(bytes.len());
                    drop(bytes.splice(at..end, piece));
                }
            }
        }
        bytes.truncate(max_len);
        bytes
    }
}

/// Runs `target` over every seed, then over `rounds` inputs the mutator makes
/// from them, and returns how many of those made inputs the target accepted.
pub fn run_bounded(
    target: impl Fn(&[u8]) -> bool,
    seeds: &[Vec<u8>],
    rounds: usize,
    mutator: &mut Mutator,
    max_len: usize,
) -> usize {
    for seed in seeds {
        target(seed);
    }
    (0..rounds).filter(|_| target(&mutator.input(seeds, max_len))).count()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_mutator_is_deterministic_and_stays_within_the_length() {
        let seeds = vec![b"{\"digest\":\"abc\"}".to_vec(), vec![0x85, 0x6f, 0x4a, 0x83, 1, 2, 3]];
        let inputs = |seed| {
            let mut mutator = Mutator::new(seed);
            (0..500).map(|_| mutator.input(&seeds, 24)).collect::<Vec<_>>()
        };
        assert_eq!(inputs(7), inputs(7));
        assert_ne!(inputs(7), inputs(8));
        assert!(inputs(7).iter().all(|input| input.len() <= 24));
        let changed = inputs(7).iter().filter(|input| !seeds.contains(input)).count();
        assert!(changed > 400, "only {changed} of 500 inputs differ from the seeds");
    }

    #[test]
    fn resealing_makes_a_damaged_chunk_checksum_valid_again() {
        let mut doc = automerge::AutoCommit::new();
        let saved = doc.save();
        let mut damaged = saved.clone();
        damaged[5] ^= 0xFF;
        assert!(automerge::AutoCommit::load(&damaged).is_err());
        assert_eq!(reseal_chunks(&damaged), saved);
        assert_eq!(uleb128(&[0xE5, 0x8E, 0x26]), Some((624_485, 3)));
        assert_eq!(uleb128(&[0x80; 11]), None);
    }
}
