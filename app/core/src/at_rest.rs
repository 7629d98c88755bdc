//! Encryption at rest: the data key, the keys derived from it, and the
//! sealing of photos and signatures.
//!
//! Each data folder has one data key: 32 bytes from the operating system's
//! random source, held by a [`crate::keystore::Keystore`] (the platform's
//! keystore on a phone, the desktop's secret service, or an owner-only key
//! file for the command line), never in the data folder's files. Two keys
//! are derived from it with HKDF-SHA256, so neither use can weaken the
//! other: the SQLCipher key of the store and the key that seals each blob.
//!
//! A sealed blob is `PFB1`, a random 96-bit nonce, then the ChaCha20-Poly1305
//! ciphertext and its tag. The blob's SHA-256 (the content address of its
//! plain bytes, and its file name) is the associated data, so a sealed file
//! renamed to another blob's name does not open. Destroying the data key
//! makes the store and every blob unreadable at once: that is how a phone is
//! wiped.

use ring::aead::{Aad, CHACHA20_POLY1305, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use ring::hkdf;
use zeroize::Zeroizing;

/// The first bytes of every sealed blob; the digit is the format's version.
pub(crate) const SEALED_MAGIC: &[u8; 4] = b"PFB1";
/// Bytes a sealed blob has beyond its plain bytes: magic, nonce and tag.
pub(crate) const SEAL_OVERHEAD: usize = SEALED_MAGIC.len() + NONCE_LEN + 16;

/// A data folder's secret: 32 random bytes, wiped from memory when dropped.
#[derive(Clone)]
pub struct DataKey(Zeroizing<[u8; 32]>);

impl std::fmt::Debug for DataKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DataKey(..)")
    }
}

impl DataKey {
    /// A new key from the operating system's random source.
    pub fn generate() -> DataKey {
        let mut bytes = Zeroizing::new([0u8; 32]);
        getrandom::fill(bytes.as_mut()).expect("the operating system's random source is available");
        DataKey(bytes)
    }

    /// A key from its 32 bytes (as a keystore returns them).
    pub fn from_bytes(bytes: [u8; 32]) -> DataKey {
        DataKey(Zeroizing::new(bytes))
    }

    /// The key's bytes, for a keystore to keep.
    pub fn bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// 32 bytes for `purpose`, derived with HKDF-SHA256.
    fn derive(&self, purpose: &[u8]) -> Zeroizing<[u8; 32]> {
        struct Len32;
        impl hkdf::KeyType for Len32 {
            fn len(&self) -> usize {
                32
            }
        }
        let prk = hkdf::Salt::new(hkdf::HKDF_SHA256, b"posfield data key").extract(self.0.as_ref());
        let mut out = Zeroizing::new([0u8; 32]);
        let info = [purpose];
        prk.expand(&info, Len32)
            .and_then(|okm| okm.fill(out.as_mut()))
            .expect("32 bytes is a valid HKDF-SHA256 output length");
        out
    }

    /// The store's SQLCipher key, as the `PRAGMA key` value of a raw key
    /// (`x'…'`: no password stretching, the key is already random). Public
    /// for support tools and tests that open the store with SQLCipher.
    pub fn store_key(&self) -> StoreKey {
        StoreKey(Zeroizing::new(format!("x'{}'", hex::encode(self.derive(b"store").as_ref()))))
    }

    /// The key that seals blobs.
    pub(crate) fn blob_seal(&self) -> BlobSeal {
        let key = self.derive(b"blobs");
        let unbound = UnboundKey::new(&CHACHA20_POLY1305, key.as_ref()).expect("a 32-byte ChaCha20 key");
        BlobSeal { key: std::sync::Arc::new(LessSafeKey::new(unbound)) }
    }
}

/// The SQLCipher key of the store, ready for `PRAGMA key`.
#[derive(Clone)]
pub struct StoreKey(Zeroizing<String>);

impl StoreKey {
    /// The `PRAGMA key` value.
    pub fn pragma_value(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for StoreKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StoreKey(..)")
    }
}

/// Why a sealed blob did not open.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SealError {
    /// Shorter than a sealed blob can be, or without the magic.
    #[error("not a sealed file ({len} bytes)")]
    NotSealed {
        /// The file's length.
        len: usize,
    },
    /// The tag did not verify: the file was changed, belongs to another
    /// blob, or was sealed under another key.
    #[error("the sealed file does not open with this phone's key: changed, or not this blob's")]
    DoesNotOpen,
}

/// Seals and opens blobs with the key derived for them.
#[derive(Clone)]
pub(crate) struct BlobSeal {
    key: std::sync::Arc<LessSafeKey>,
}

impl std::fmt::Debug for BlobSeal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BlobSeal(..)")
    }
}

impl BlobSeal {
    /// The sealed form of the blob `sha256` whose plain bytes are `plain`.
    pub(crate) fn seal(&self, sha256: &str, plain: &[u8]) -> Vec<u8> {
        let mut nonce = [0u8; NONCE_LEN];
        getrandom::fill(&mut nonce).expect("the operating system's random source is available");
        let mut out = Vec::with_capacity(plain.len() + SEAL_OVERHEAD);
        out.extend_from_slice(SEALED_MAGIC);
        out.extend_from_slice(&nonce);
        let mut body = plain.to_vec();
        self.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(sha256.as_bytes()),
                &mut body,
            )
            .expect("a blob is far below ChaCha20-Poly1305's length limit");
        out.extend_from_slice(&body);
        out
    }

    /// Whether `bytes` look like a sealed blob (a blob stored in the clear
    /// by an older version is a JPEG, a PNG or NDEF bytes, never this).
    pub(crate) fn is_sealed(bytes: &[u8]) -> bool {
        bytes.len() >= SEAL_OVERHEAD && bytes.starts_with(SEALED_MAGIC)
    }

    /// The plain bytes of the sealed blob `sha256`.
    pub(crate) fn open(&self, sha256: &str, sealed: &[u8]) -> Result<Vec<u8>, SealError> {
        if !Self::is_sealed(sealed) {
            return Err(SealError::NotSealed { len: sealed.len() });
        }
        let (head, body) = sealed.split_at(SEALED_MAGIC.len() + NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(&head[SEALED_MAGIC.len()..])
            .map_err(|_| SealError::NotSealed { len: sealed.len() })?;
        let mut body = body.to_vec();
        let plain = self
            .key
            .open_in_place(nonce, Aad::from(sha256.as_bytes()), &mut body)
            .map_err(|_| SealError::DoesNotOpen)?;
        let len = plain.len();
        body.truncate(len);
        Ok(body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHA: &str = "4b227777d4dd1fc61c6f884f48641d02b4d121d3fd328cb08b5531fcacdabf8a";

    #[test]
    fn a_sealed_blob_opens_to_its_bytes_and_hides_them() {
        let seal = DataKey::generate().blob_seal();
        let plain = b"\xff\xd8 a merchant's ID card, 110101199001011234".repeat(20);
        let sealed = seal.seal(SHA, &plain);
        assert_eq!(sealed.len(), plain.len() + SEAL_OVERHEAD);
        assert!(!sealed.windows(18).any(|w| w == b"110101199001011234"));
        assert_eq!(seal.open(SHA, &sealed).unwrap(), plain);
        // The same bytes sealed twice differ: the nonce is fresh each time.
        assert_ne!(seal.seal(SHA, &plain), sealed);
    }

    #[test]
    fn a_changed_moved_or_foreign_blob_does_not_open() {
        let key = DataKey::generate();
        let seal = key.blob_seal();
        let sealed = seal.seal(SHA, b"signature strokes");
        let other_sha = "0".repeat(64);
        let mut flipped = sealed.clone();
        let last = flipped.len() - 1;
        flipped[last] ^= 1;
        let cases: [(&str, &str, Vec<u8>, SealError); 5] = [
            ("a bit flipped in the tag", SHA, flipped, SealError::DoesNotOpen),
            ("renamed to another blob", &other_sha, sealed.clone(), SealError::DoesNotOpen),
            ("cut short", SHA, sealed[..10].to_vec(), SealError::NotSealed { len: 10 }),
            ("a plain JPEG", SHA, b"\xff\xd8\xff\xe0 plain".repeat(4), SealError::NotSealed { len: 40 }),
            (
                "sealed by another phone",
                SHA,
                DataKey::generate().blob_seal().seal(SHA, b"x"),
                SealError::DoesNotOpen,
            ),
        ];
        for (case, sha, bytes, expected) in cases {
            assert_eq!(seal.open(sha, &bytes).unwrap_err(), expected, "{case}");
        }
    }

    #[test]
    fn the_derived_keys_differ_from_each_other_and_from_the_data_key() {
        let key = DataKey::from_bytes([7; 32]);
        let store = key.store_key();
        assert!(store.pragma_value().starts_with("x'") && store.pragma_value().len() == 67);
        assert!(!store.pragma_value().contains(&hex::encode([7u8; 32])));
        assert_ne!(key.derive(b"store").as_ref(), key.derive(b"blobs").as_ref());
        // Derivation is stable: the same data key opens the same store tomorrow.
        assert_eq!(DataKey::from_bytes([7; 32]).store_key().pragma_value(), store.pragma_value());
        assert_eq!(format!("{key:?} {store:?}"), "DataKey(..) StoreKey(..)");
    }
}
