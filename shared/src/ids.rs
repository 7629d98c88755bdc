//! Identifiers as types: a visit's id and a stored file's content hash.
//!
//! Both travel as plain strings (in documents, JSON and SQL), but a string
//! from outside (a command's argument, a URL) becomes one only after it is
//! checked, so a path or a short string can never be taken for a file's hash
//! or a visit's id. The visit document keeps its string fields: these types
//! are for the code around it, and the wire form is the same string.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A string that is not a valid identifier of its kind.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    /// Not a visit id (a UUID in lowercase, hyphenated).
    #[error("{0:?} is not a visit id (a lowercase hyphenated uuid)")]
    VisitId(String),
    /// Not a SHA-256 in lowercase hex.
    #[error("{0:?} is not a sha256 (64 lowercase hex digits)")]
    BlobHash(String),
}

fn is_lower_hex(byte: u8) -> bool {
    matches!(byte, b'0'..=b'9' | b'a'..=b'f')
}

/// A visit's id: a UUID as `8-4-4-4-12` lowercase hex digits, the form every
/// side generates and samod's document ids map to.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct VisitId(String);

impl VisitId {
    /// Checks `text` is a visit id.
    pub fn parse(text: &str) -> Result<VisitId, IdError> {
        let bytes = text.as_bytes();
        let well_formed = bytes.len() == 36
            && bytes.iter().enumerate().all(|(i, &b)| match i {
                8 | 13 | 18 | 23 => b == b'-',
                _ => is_lower_hex(b),
            });
        if well_formed { Ok(VisitId(text.to_owned())) } else { Err(IdError::VisitId(text.to_owned())) }
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The id as an owned string.
    pub fn into_string(self) -> String {
        self.0
    }
}

/// The SHA-256 of a stored file's bytes, in lowercase hex: the name of a
/// photo, a signature image or the strokes, wherever they are stored.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BlobHash(String);

impl BlobHash {
    /// Checks `text` is a SHA-256 in lowercase hex.
    pub fn parse(text: &str) -> Result<BlobHash, IdError> {
        if text.len() == 64 && text.bytes().all(is_lower_hex) {
            Ok(BlobHash(text.to_owned()))
        } else {
            Err(IdError::BlobHash(text.to_owned()))
        }
    }

    /// The SHA-256 of `bytes`.
    pub fn of(bytes: &[u8]) -> BlobHash {
        use sha2::{Digest, Sha256};
        BlobHash(hex::encode(Sha256::digest(bytes)))
    }

    /// The hash as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The hash as an owned string.
    pub fn into_string(self) -> String {
        self.0
    }
}

/// The string-like behaviour both identifiers share: display, parse,
/// comparison with text, and serde as the plain string (checked on the way in).
macro_rules! string_id {
    ($name:ident) => {
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl FromStr for $name {
            type Err = IdError;
            fn from_str(text: &str) -> Result<Self, IdError> {
                $name::parse(text)
            }
        }

        impl TryFrom<String> for $name {
            type Error = IdError;
            fn try_from(text: String) -> Result<Self, IdError> {
                $name::parse(&text)
            }
        }

        impl TryFrom<&str> for $name {
            type Error = IdError;
            fn try_from(text: &str) -> Result<Self, IdError> {
                $name::parse(text)
            }
        }

        // Hash, Eq and Ord are the inner string's, so sets and maps of ids
        // can be searched with a plain `&str`.
        impl std::borrow::Borrow<str> for $name {
            fn borrow(&self) -> &str {
                &self.0
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                self.0 == other
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.0 == *other
            }
        }

        impl PartialEq<String> for $name {
            fn eq(&self, other: &String) -> bool {
                &self.0 == other
            }
        }

        impl PartialEq<$name> for String {
            fn eq(&self, other: &$name) -> bool {
                *self == other.0
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(&self.0)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let text = String::deserialize(deserializer)?;
                $name::parse(&text).map_err(serde::de::Error::custom)
            }
        }
    };
}

string_id!(VisitId);
string_id!(BlobHash);

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[rstest]
    #[case::a_uuid_v7_as_generated("01a207b7-e9e1-7141-abf3-6a5ab3c38fc6", true)]
    #[case::a_uuid_v4("6f1c2d3e-4b5a-4978-8a6b-5c4d3e2f1a0b", true)]
    #[case::uppercase_is_not_the_stored_form("01A207B7-E9E1-7141-ABF3-6A5AB3C38FC6", false)]
    #[case::without_hyphens("01a207b7e9e17141abf36a5ab3c38fc6", false)]
    #[case::hyphens_misplaced("01a207b-7e9e1-7141-abf3-6a5ab3c38fc6", false)]
    #[case::cut_short("01a207b7-e9e1-7141-abf3", false)]
    #[case::a_path("../../etc/passwd", false)]
    #[case::a_short_name("v1", false)]
    #[case::empty("", false)]
    #[case::surrounded_by_spaces(" 01a207b7-e9e1-7141-abf3-6a5ab3c38fc6 ", false)]
    fn a_visit_id_is_exactly_a_lowercase_hyphenated_uuid(#[case] text: &str, #[case] valid: bool) {
        let parsed = VisitId::parse(text);
        assert_eq!(parsed.is_ok(), valid, "{text:?}: {parsed:?}");
        if let Ok(id) = parsed {
            assert_eq!(id.as_str(), text);
        } else {
            assert_eq!(parsed.unwrap_err(), IdError::VisitId(text.to_owned()));
        }
    }

    #[rstest]
    #[case::a_sha256("ab".repeat(32), true)]
    #[case::uppercase_hex("AB".repeat(32), false)]
    #[case::one_digit_short("a".repeat(63), false)]
    #[case::one_digit_long("a".repeat(65), false)]
    #[case::not_hex("g".repeat(64), false)]
    #[case::a_path_of_the_right_length(format!("../{}", "a".repeat(61)), false)]
    #[case::a_short_string("photo.jpg".into(), false)]
    #[case::empty(String::new(), false)]
    fn a_blob_hash_is_exactly_64_lowercase_hex_digits(#[case] text: String, #[case] valid: bool) {
        assert_eq!(BlobHash::parse(&text).is_ok(), valid, "{text:?}");
    }

    #[test]
    fn the_hash_of_bytes_is_their_sha256() {
        assert_eq!(
            BlobHash::of(b"abc").as_str(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn both_serialise_as_the_plain_string_and_are_checked_when_read() {
        let id = VisitId::parse("01a207b7-e9e1-7141-abf3-6a5ab3c38fc6").unwrap();
        assert_eq!(serde_json::to_string(&id).unwrap(), "\"01a207b7-e9e1-7141-abf3-6a5ab3c38fc6\"");
        assert_eq!(serde_json::from_str::<VisitId>("\"01a207b7-e9e1-7141-abf3-6a5ab3c38fc6\"").unwrap(), id);
        let error = serde_json::from_str::<BlobHash>("\"../../etc/passwd\"").unwrap_err();
        assert!(error.to_string().contains("is not a sha256"), "{error}");
    }
}
