//! The NFC tag as the phone's NFC plugin hands it to the UI, and its
//! conversion back into the raw NDEF message the core parses.
//!
//! The plugin's own Rust model does not match what the phones send: Android
//! serialises Java `byte[]` as signed numbers (-128..127), iOS as unsigned
//! ones, and both send the TNF as a plain number. These types accept both,
//! and the core's NDEF parser stays the single place that reads tags, on
//! every platform. The antenna cannot be exercised here; the tests feed the
//! shapes both phones send.

use serde::{Deserialize, Deserializer};

/// Bytes as a JSON array of numbers, signed or unsigned.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ByteList(pub Vec<u8>);

impl<'de> Deserialize<'de> for ByteList {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let numbers = Vec::<i64>::deserialize(deserializer)?;
        numbers
            .into_iter()
            .map(|n| match n {
                // A Java byte: two's complement.
                -128..=-1 => Ok((n + 256) as u8),
                0..=255 => Ok(n as u8),
                other => Err(serde::de::Error::custom(format!("{other} is not a byte"))),
            })
            .collect::<Result<Vec<u8>, D::Error>>()
            .map(ByteList)
    }
}

/// One NDEF record as the plugin reports it.
#[derive(Debug, Clone, Deserialize)]
pub struct NfcRecordDto {
    /// Type name format (0..=7).
    pub tnf: u8,
    /// Record type.
    #[serde(default)]
    pub kind: ByteList,
    /// Record id.
    #[serde(default)]
    pub id: ByteList,
    /// Payload.
    #[serde(default)]
    pub payload: ByteList,
}

/// A scanned tag as the plugin reports it.
#[derive(Debug, Clone, Deserialize)]
pub struct NfcTagDto {
    /// The tag UID.
    #[serde(default)]
    pub id: ByteList,
    /// The NDEF records, in order.
    #[serde(default)]
    pub records: Vec<NfcRecordDto>,
}

impl NfcTagDto {
    /// The NDEF message bytes (NFC Forum NDEF 1.0): each record with its
    /// header flags, short-record form where the payload fits.
    pub fn ndef_message(&self) -> Vec<u8> {
        let mut out = Vec::new();
        let last = self.records.len().saturating_sub(1);
        for (index, record) in self.records.iter().enumerate() {
            let payload = &record.payload.0;
            let short = payload.len() < 256;
            let mut header = record.tnf & 0x07;
            if index == 0 {
                header |= 0x80; // MB
            }
            if index == last {
                header |= 0x40; // ME
            }
            if short {
                header |= 0x10; // SR
            }
            if !record.id.0.is_empty() {
                header |= 0x08; // IL
            }
            out.push(header);
            out.push(record.kind.0.len().min(255) as u8);
            if short {
                out.push(payload.len() as u8);
            } else {
                out.extend_from_slice(&(payload.len() as u32).to_be_bytes());
            }
            if !record.id.0.is_empty() {
                out.push(record.id.0.len().min(255) as u8);
            }
            out.extend_from_slice(&record.kind.0[..record.kind.0.len().min(255)]);
            out.extend_from_slice(&record.id.0[..record.id.0.len().min(255)]);
            out.extend_from_slice(payload);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use posfield_core::identify::ndef::serial_from_tag;

    fn text_record(text: &str) -> serde_json::Value {
        let mut payload = vec![2u8, b'e', b'n'];
        payload.extend_from_slice(text.as_bytes());
        serde_json::json!({ "tnf": 1, "kind": [0x54], "id": [], "payload": payload })
    }

    #[test]
    fn an_android_tag_with_signed_bytes_yields_the_serial() {
        // Android sends the UID as Java bytes: 0xE2 arrives as -30.
        let tag: NfcTagDto = serde_json::from_value(serde_json::json!({
            "id": [4, -94, 36, -30, -60, 94, -128],
            "kind": ["android.nfc.tech.NfcA", "android.nfc.tech.Ndef"],
            "records": [text_record("SN:N9100001234567")],
        }))
        .unwrap();
        assert_eq!(tag.id.0, [0x04, 0xA2, 0x24, 0xE2, 0xC4, 0x5E, 0x80]);
        let found = serial_from_tag(&tag.ndef_message(), &tag.id.0).unwrap();
        assert_eq!(found.serial, "N9100001234567");
    }

    #[test]
    fn an_ios_tag_with_unsigned_bytes_and_several_records_yields_the_serial() {
        let tag: NfcTagDto = serde_json::from_value(serde_json::json!({
            "id": [4, 162, 36, 226, 196, 94, 128],
            "records": [
                { "tnf": 1, "kind": [0x55], "payload": [4, b'e', b'x', b'.', b'c', b'n'] },
                text_record("SN:P3000123456789"),
            ],
        }))
        .unwrap();
        let message = tag.ndef_message();
        assert_eq!(message[0] & 0xC0, 0x80, "first record has MB only");
        let found = serial_from_tag(&message, &tag.id.0).unwrap();
        assert_eq!(found.serial, "P3000123456789");
    }

    #[test]
    fn a_number_outside_a_byte_is_refused() {
        let result: Result<NfcTagDto, _> = serde_json::from_value(serde_json::json!({ "id": [300] }));
        assert!(result.is_err());
    }

    #[test]
    fn a_long_payload_uses_the_four_byte_length() {
        let tag = NfcTagDto {
            id: ByteList(vec![1, 2, 3, 4]),
            records: vec![NfcRecordDto {
                tnf: 2,
                kind: ByteList(b"application/octet-stream".to_vec()),
                id: ByteList(Vec::new()),
                payload: ByteList(vec![7; 300]),
            }],
        };
        let message = tag.ndef_message();
        assert_eq!(message[0], 0xC2);
        assert_eq!(&message[2..6], &300u32.to_be_bytes());
        assert_eq!(message.len(), 6 + 24 + 300);
    }
}
