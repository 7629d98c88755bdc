//! Parsing NFC Data Exchange Format (NDEF) messages read from a terminal's tag.
//!
//! Terminals carry an NFC tag whose NDEF message usually holds the serial
//! number (as a Text record, a URL, a `text/plain` or JSON MIME record or a
//! vendor's external type). The phone's NFC stack hands us raw bytes, and tags
//! in the field are worn, half-written or read while the phone moves away, so
//! everything here parses those bytes itself, checks every length against what
//! is actually there and answers with an [`NdefError`] instead of panicking.
//!
//! The entry point for the app is [`serial_from_tag`]; [`parse_message`],
//! [`Record::content`], [`parse_tlv`] and [`parse_type2_dump`] are the layers
//! below it, public so diagnostics can show what a tag really holds.

use std::fmt;

use posfield_shared::serial_text;
use posfield_shared::validate::{self, ValidationError};

/// Header flag: first record of the message (Message Begin).
const MB: u8 = 0x80;
/// Header flag: last record of the message (Message End).
const ME: u8 = 0x40;
/// Header flag: this record is a chunk and more chunks follow (Chunk Flag).
const CF: u8 = 0x20;
/// Header flag: the payload length is one byte instead of four (Short Record).
const SR: u8 = 0x10;
/// Header flag: an ID length byte and an ID are present (ID Length).
const IL: u8 = 0x08;

/// The Type Name Format of a record: how to read its type field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Tnf {
    /// 0: no type, id or payload.
    Empty,
    /// 1: an NFC Forum well-known type such as `T` (text) or `U` (URI).
    WellKnown,
    /// 2: a MIME media type such as `text/plain`.
    MimeMedia,
    /// 3: the type field is itself an absolute URI.
    AbsoluteUri,
    /// 4: an NFC Forum external type such as `example.com:sn`.
    External,
    /// 5: payload of unknown type.
    Unknown,
    /// 6: a middle or last chunk that continues the previous record's type.
    Unchanged,
    /// 7: reserved by the specification; read like [`Tnf::Unknown`].
    Reserved,
}

impl Tnf {
    /// The TNF for the low three bits of a record header.
    pub fn from_bits(bits: u8) -> Tnf {
        match bits & 0x07 {
            0 => Tnf::Empty,
            1 => Tnf::WellKnown,
            2 => Tnf::MimeMedia,
            3 => Tnf::AbsoluteUri,
            4 => Tnf::External,
            5 => Tnf::Unknown,
            6 => Tnf::Unchanged,
            _ => Tnf::Reserved,
        }
    }

    /// The three-bit value written in a record header.
    pub fn bits(self) -> u8 {
        match self {
            Tnf::Empty => 0,
            Tnf::WellKnown => 1,
            Tnf::MimeMedia => 2,
            Tnf::AbsoluteUri => 3,
            Tnf::External => 4,
            Tnf::Unknown => 5,
            Tnf::Unchanged => 6,
            Tnf::Reserved => 7,
        }
    }
}

/// One logical NDEF record; chunked records are already joined into one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// How to read `record_type`.
    pub tnf: Tnf,
    /// The type field (`T`, `U`, `text/plain`, `example.com:sn`, ...).
    pub record_type: Vec<u8>,
    /// The optional record id (empty when the IL flag was clear).
    pub id: Vec<u8>,
    /// The payload, the concatenation of all chunks for a chunked record.
    pub payload: Vec<u8>,
}

/// The decoded meaning of a [`Record`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Content {
    /// Well-known Text record (`T`).
    Text {
        /// IANA language code such as `en` or `zh-CN`.
        language: String,
        /// The text itself.
        text: String,
    },
    /// Well-known URI record (`U`) with its prefix expanded, or an absolute-URI record.
    Uri(String),
    /// A MIME media record.
    Mime {
        /// The media type as written on the tag, e.g. `text/plain; charset=utf-8`.
        mime_type: String,
        /// The payload.
        data: Vec<u8>,
    },
    /// An NFC Forum external type record.
    External {
        /// The external type name, e.g. `newland.com:sn`.
        type_name: String,
        /// The payload.
        data: Vec<u8>,
    },
    /// Anything else (empty, unknown, reserved or other well-known types).
    Other,
}

/// Which kind of record a serial was read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordKind {
    /// A well-known Text record.
    Text,
    /// A URI record (well-known `U` or absolute URI).
    Uri,
    /// A MIME record (`text/plain` or JSON).
    Mime,
    /// An external type record.
    External,
}

/// Where the serial of an [`NfcSerial`] came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SerialSource {
    /// From a record of the NDEF message.
    Record {
        /// 0-based index into the records [`parse_message`] returns.
        index: usize,
        /// The kind of record.
        kind: RecordKind,
    },
    /// No record held a serial, so the tag's UID (as upper-case hex) stands in.
    TagUid,
}

/// The serial read from a tag, where it came from and what went wrong on the way.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NfcSerial {
    /// The serial, normalized by [`validate::serial`].
    pub serial: String,
    /// Where it came from.
    pub source: SerialSource,
    /// Problems that did not stop us: a malformed message (we then fell back
    /// to the UID) or records that could not be decoded.
    pub warnings: Vec<NdefError>,
}

/// Why the tag's UID cannot stand in for a serial.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UidProblem {
    /// NFC UIDs are 4, 7 or 10 bytes long (single, double, triple size).
    #[error("uid has {0} bytes, expected 4, 7 or 10")]
    Length(usize),
    /// The hex form does not pass the serial validator (e.g. all zeros).
    #[error("{0}")]
    Invalid(ValidationError),
}

/// Why an NDEF message, a record or a tag could not be read.
///
/// Messages are lower case and carry the offending value and byte offset so
/// a support engineer can find the spot in a hex dump. Records are counted
/// from 1 in messages, as a person would count them.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NdefError {
    /// The input ends inside a record header.
    #[error(
        "record {record} is cut off at offset {offset}: its {field} needs {needed} bytes but only {remaining} remain"
    )]
    TruncatedHeader {
        /// 1-based record number.
        record: usize,
        /// Byte offset where the field starts.
        offset: usize,
        /// Which header field ("header", "type length", "payload length", "id length").
        field: &'static str,
        /// Bytes the field needs.
        needed: usize,
        /// Bytes left in the input.
        remaining: usize,
    },
    /// A length field claims more bytes than the input holds.
    #[error(
        "record {record} claims a {field} of {claimed} bytes but only {remaining} remain at offset {offset}"
    )]
    LengthOverrun {
        /// 1-based record number.
        record: usize,
        /// Which field ("type", "id", "payload").
        field: &'static str,
        /// The claimed length.
        claimed: u64,
        /// Bytes left in the input.
        remaining: usize,
        /// Byte offset where the field would start.
        offset: usize,
    },
    /// The first record lacks the message-begin flag.
    #[error("first record header {header:#04x} lacks the message-begin flag")]
    MissingMessageBegin {
        /// The header byte.
        header: u8,
    },
    /// A later record sets the message-begin flag.
    #[error("record {record} at offset {offset} sets the message-begin flag but is not the first record")]
    UnexpectedMessageBegin {
        /// 1-based record number.
        record: usize,
        /// Byte offset of its header.
        offset: usize,
    },
    /// The input ends without a record carrying the message-end flag.
    #[error("message ends after {records} records at offset {offset} without the message-end flag")]
    MissingMessageEnd {
        /// Records read.
        records: usize,
        /// Length of the input.
        offset: usize,
    },
    /// Bytes follow the record with the message-end flag.
    #[error("{count} bytes follow the message-end record at offset {offset}")]
    TrailingBytes {
        /// Byte offset of the first extra byte.
        offset: usize,
        /// How many extra bytes.
        count: usize,
    },
    /// A record breaks the chunking rules.
    #[error("record {record} at offset {offset} breaks the chunk rules: {rule}")]
    BadChunk {
        /// 1-based record number.
        record: usize,
        /// Byte offset of its header.
        offset: usize,
        /// The rule broken, in words.
        rule: &'static str,
    },
    /// A TNF 0 (empty) record that is not empty.
    #[error(
        "record {record} at offset {offset} has TNF 0 (empty) but type, id and payload lengths {type_length}/{id_length}/{payload_length}"
    )]
    EmptyRecordNotEmpty {
        /// 1-based record number.
        record: usize,
        /// Byte offset of its header.
        offset: usize,
        /// Its type length.
        type_length: usize,
        /// Its id length.
        id_length: usize,
        /// Its payload length.
        payload_length: usize,
    },
    /// A Text or URI record without the bytes its format requires.
    #[error("{what} record payload is empty")]
    EmptyPayload {
        /// "text" or "uri".
        what: &'static str,
    },
    /// The Text status byte claims a longer language code than the payload holds.
    #[error("text record language code claims {claimed} bytes but only {available} follow the status byte")]
    LanguageOverrun {
        /// Language code length from the status byte.
        claimed: usize,
        /// Bytes after the status byte.
        available: usize,
    },
    /// The Text language code is not ASCII.
    #[error("text record language code {hex} is not ascii")]
    LanguageNotAscii {
        /// The language code bytes in hex.
        hex: String,
    },
    /// Bytes that should be UTF-8 are not.
    #[error("{what} is not valid utf-8 at byte {offset}")]
    InvalidUtf8 {
        /// Which field ("text record", "uri", "mime type", ...).
        what: &'static str,
        /// Offset of the first bad byte within the field's record part.
        offset: usize,
    },
    /// A UTF-16 Text record is not valid UTF-16.
    #[error("text record is not valid utf-16 at payload byte {offset}: {reason}")]
    InvalidUtf16 {
        /// Offset of the bad code unit within the payload.
        offset: usize,
        /// "odd number of bytes" or "unpaired surrogate 0x....".
        reason: String,
    },
    /// A URI record's prefix code is not in the NFC Forum table.
    #[error("uri prefix code {code:#04x} is not defined (0x00 to 0x23 are)")]
    UnknownUriPrefix {
        /// The prefix byte.
        code: u8,
    },
    /// A JSON MIME record that does not parse.
    #[error("json payload does not parse: {reason}")]
    InvalidJson {
        /// The JSON parser's message.
        reason: String,
    },
    /// A problem decoding one record of a message that parsed.
    #[error("record {record}: {error}")]
    InRecord {
        /// 1-based record number.
        record: usize,
        /// What is wrong with it.
        error: Box<NdefError>,
    },
    /// A TLV in tag memory claims more bytes than the memory holds.
    #[error(
        "tlv {tag:#04x} at offset {offset} claims a {field} of {claimed} bytes but only {remaining} remain"
    )]
    TlvOverrun {
        /// The TLV tag byte.
        tag: u8,
        /// Offset of the tag byte.
        offset: usize,
        /// "length field" or "value".
        field: &'static str,
        /// Claimed bytes.
        claimed: usize,
        /// Bytes left.
        remaining: usize,
    },
    /// Tag memory holds no NDEF message TLV.
    #[error("no ndef message tlv (0x03) before {end} at offset {offset}")]
    NoNdefTlv {
        /// "the terminator tlv" or "the end of the memory".
        end: &'static str,
        /// Where the search stopped.
        offset: usize,
    },
    /// A Type 2 tag dump without the header pages or the NDEF capability container.
    #[error("not a type 2 tag ndef dump: {reason}")]
    NotType2Dump {
        /// What is wrong, with the bad value.
        reason: String,
    },
    /// Neither a record nor the UID gave a valid serial.
    #[error("no serial found: none of {records} records holds a valid serial and tag uid {uid:?} is unusable ({uid_problem}){}", also(.problems))]
    NoSerial {
        /// How many records the message had (0 if it did not parse).
        records: usize,
        /// The UID as upper-case hex.
        uid: String,
        /// Why the UID cannot stand in.
        uid_problem: UidProblem,
        /// Parse or decode problems met on the way.
        problems: Vec<NdefError>,
    },
}

impl NdefError {
    /// A stable machine code for the kind of problem, for UI text and tests.
    pub fn code(&self) -> &'static str {
        match self {
            NdefError::TruncatedHeader { .. } => "truncated_header",
            NdefError::LengthOverrun { .. } => "length_overrun",
            NdefError::MissingMessageBegin { .. } => "missing_message_begin",
            NdefError::UnexpectedMessageBegin { .. } => "unexpected_message_begin",
            NdefError::MissingMessageEnd { .. } => "missing_message_end",
            NdefError::TrailingBytes { .. } => "trailing_bytes",
            NdefError::BadChunk { .. } => "bad_chunk",
            NdefError::EmptyRecordNotEmpty { .. } => "empty_record_not_empty",
            NdefError::EmptyPayload { .. } => "empty_payload",
            NdefError::LanguageOverrun { .. } => "language_overrun",
            NdefError::LanguageNotAscii { .. } => "language_not_ascii",
            NdefError::InvalidUtf8 { .. } => "invalid_utf8",
            NdefError::InvalidUtf16 { .. } => "invalid_utf16",
            NdefError::UnknownUriPrefix { .. } => "unknown_uri_prefix",
            NdefError::InvalidJson { .. } => "invalid_json",
            NdefError::InRecord { .. } => "in_record",
            NdefError::TlvOverrun { .. } => "tlv_overrun",
            NdefError::NoNdefTlv { .. } => "no_ndef_tlv",
            NdefError::NotType2Dump { .. } => "not_type2_dump",
            NdefError::NoSerial { .. } => "no_serial",
        }
    }
}

/// Appends the side problems to a [`NdefError::NoSerial`] message.
fn also(problems: &[NdefError]) -> String {
    problems.iter().map(|p| format!("; {p}")).collect()
}

/// A read position over the input that never indexes out of bounds.
struct Cursor<'a> {
    bytes: &'a [u8],
    pos: usize,
    record: usize,
}

impl<'a> Cursor<'a> {
    fn remaining(&self) -> usize {
        self.bytes.len() - self.pos
    }

    /// Takes a fixed-size header field, or says which one was cut off.
    fn header<const N: usize>(&mut self, field: &'static str) -> Result<[u8; N], NdefError> {
        let remaining = self.remaining();
        let taken = self.bytes.get(self.pos..self.pos + N).and_then(|s| <[u8; N]>::try_from(s).ok());
        let value = taken.ok_or(NdefError::TruncatedHeader {
            record: self.record,
            offset: self.pos,
            field,
            needed: N,
            remaining,
        })?;
        self.pos += N;
        Ok(value)
    }

    /// Takes a variable field whose length came from the input: the length is
    /// compared with what remains *before* anything is sliced or allocated,
    /// so a claimed 4 GiB payload is an error, not an allocation.
    fn field(&mut self, field: &'static str, claimed: u64) -> Result<&'a [u8], NdefError> {
        let remaining = self.remaining();
        let overrun =
            NdefError::LengthOverrun { record: self.record, field, claimed, remaining, offset: self.pos };
        let length = usize::try_from(claimed).ok().filter(|n| *n <= remaining).ok_or(overrun)?;
        let slice = &self.bytes[self.pos..self.pos + length];
        self.pos += length;
        Ok(slice)
    }
}

/// One physical record as it sits in the bytes, before chunks are joined.
struct RawRecord<'a> {
    header: u8,
    tnf: Tnf,
    record_type: &'a [u8],
    id: &'a [u8],
    payload: &'a [u8],
}

impl RawRecord<'_> {
    fn flag(&self, flag: u8) -> bool {
        self.header & flag != 0
    }
}

fn read_raw<'a>(cursor: &mut Cursor<'a>) -> Result<RawRecord<'a>, NdefError> {
    let [header] = cursor.header::<1>("header")?;
    let [type_length] = cursor.header::<1>("type length")?;
    let payload_length = if header & SR != 0 {
        u64::from(cursor.header::<1>("payload length")?[0])
    } else {
        u64::from(u32::from_be_bytes(cursor.header::<4>("payload length")?))
    };
    let id_length = if header & IL != 0 { cursor.header::<1>("id length")?[0] } else { 0 };
    let record_type = cursor.field("type", u64::from(type_length))?;
    let id = cursor.field("id", u64::from(id_length))?;
    let payload = cursor.field("payload", payload_length)?;
    Ok(RawRecord { header, tnf: Tnf::from_bits(header), record_type, id, payload })
}

/// Parses a complete NDEF message into its logical records.
///
/// Zero bytes are an empty message (`Ok` with no records): that is what a
/// formatted but blank tag's NDEF TLV of length 0 hands us. Otherwise the
/// first record must carry MB, the last ME, nothing may follow ME, and chunked
/// records are joined (their middle and last chunks must have TNF 6, no type
/// and no id).
pub fn parse_message(bytes: &[u8]) -> Result<Vec<Record>, NdefError> {
    let mut records = Vec::new();
    if bytes.is_empty() {
        return Ok(records);
    }
    let mut cursor = Cursor { bytes, pos: 0, record: 0 };
    // The record whose chunks are still arriving.
    let mut open: Option<Record> = None;
    loop {
        cursor.record += 1;
        let number = cursor.record;
        let offset = cursor.pos;
        // Check MB before reading on, so bytes that are not a message at all
        // (a whole tag dump, say) are reported as that and not as some overrun.
        let header = bytes.get(offset).copied().unwrap_or_default();
        if number == 1 && header & MB == 0 {
            return Err(NdefError::MissingMessageBegin { header });
        }
        if number > 1 && header & MB != 0 {
            return Err(NdefError::UnexpectedMessageBegin { record: number, offset });
        }
        let raw = read_raw(&mut cursor)?;
        let bad_chunk = |rule| NdefError::BadChunk { record: number, offset, rule };
        let record = match open.take() {
            None => {
                if raw.tnf == Tnf::Unchanged {
                    return Err(bad_chunk("tnf 6 (unchanged) outside a chunked record"));
                }
                if raw.tnf == Tnf::Empty
                    && !(raw.record_type.is_empty() && raw.id.is_empty() && raw.payload.is_empty())
                {
                    return Err(NdefError::EmptyRecordNotEmpty {
                        record: number,
                        offset,
                        type_length: raw.record_type.len(),
                        id_length: raw.id.len(),
                        payload_length: raw.payload.len(),
                    });
                }
                Record {
                    tnf: raw.tnf,
                    record_type: raw.record_type.to_vec(),
                    id: raw.id.to_vec(),
                    payload: raw.payload.to_vec(),
                }
            }
            Some(mut first) => {
                if raw.tnf != Tnf::Unchanged {
                    return Err(bad_chunk("a middle or last chunk must have tnf 6 (unchanged)"));
                }
                if !raw.record_type.is_empty() {
                    return Err(bad_chunk("a middle or last chunk must have no type"));
                }
                if raw.flag(IL) {
                    return Err(bad_chunk("a middle or last chunk must have no id"));
                }
                first.payload.extend_from_slice(raw.payload);
                first
            }
        };
        if raw.flag(CF) {
            open = Some(record);
        } else {
            records.push(record);
        }
        if raw.flag(ME) {
            if open.is_some() {
                return Err(bad_chunk("message-end set on a chunk that is not the last"));
            }
            if cursor.remaining() > 0 {
                return Err(NdefError::TrailingBytes { offset: cursor.pos, count: cursor.remaining() });
            }
            return Ok(records);
        }
        if cursor.remaining() == 0 {
            return Err(NdefError::MissingMessageEnd { records: number, offset: cursor.pos });
        }
    }
}

/// URI record prefix codes 0x00 to 0x23 (NFC Forum URI RTD, table 3).
const URI_PREFIXES: [&str; 36] = [
    "",
    "http://www.",
    "https://www.",
    "http://",
    "https://",
    "tel:",
    "mailto:",
    "ftp://anonymous:anonymous@",
    "ftp://ftp.",
    "ftps://",
    "sftp://",
    "smb://",
    "nfs://",
    "ftp://",
    "dav://",
    "news:",
    "telnet://",
    "imap:",
    "rtsp://",
    "urn:",
    "pop:",
    "sip:",
    "sips:",
    "tftp:",
    "btspp://",
    "btl2cap://",
    "btgoep://",
    "tcpobex://",
    "irdaobex://",
    "file://",
    "urn:epc:id:",
    "urn:epc:tag:",
    "urn:epc:pat:",
    "urn:epc:raw:",
    "urn:epc:",
    "urn:nfc:",
];

fn utf8<'a>(bytes: &'a [u8], what: &'static str, base: usize) -> Result<&'a str, NdefError> {
    std::str::from_utf8(bytes).map_err(|e| NdefError::InvalidUtf8 { what, offset: base + e.valid_up_to() })
}

impl Record {
    /// Decodes the record by its TNF and type.
    ///
    /// Errors only for records that claim a format and break it (a Text
    /// record with bad UTF-8, a URI with an undefined prefix code, a MIME type
    /// that is not text); types we do not interpret are [`Content::Other`].
    pub fn content(&self) -> Result<Content, NdefError> {
        match (self.tnf, self.record_type.as_slice()) {
            (Tnf::WellKnown, b"T") => decode_text(&self.payload),
            (Tnf::WellKnown, b"U") => decode_uri(&self.payload).map(Content::Uri),
            (Tnf::MimeMedia, _) => Ok(Content::Mime {
                mime_type: utf8(&self.record_type, "mime type", 0)?.to_owned(),
                data: self.payload.clone(),
            }),
            (Tnf::AbsoluteUri, _) => Ok(Content::Uri(utf8(&self.record_type, "absolute uri", 0)?.to_owned())),
            (Tnf::External, _) => Ok(Content::External {
                type_name: utf8(&self.record_type, "external type", 0)?.to_owned(),
                data: self.payload.clone(),
            }),
            _ => Ok(Content::Other),
        }
    }
}

/// Text RTD: status byte (bit 7 UTF-16, bits 0-5 language length), language, text.
fn decode_text(payload: &[u8]) -> Result<Content, NdefError> {
    let (&status, rest) = payload.split_first().ok_or(NdefError::EmptyPayload { what: "text" })?;
    let claimed = usize::from(status & 0x3F);
    if claimed > rest.len() {
        return Err(NdefError::LanguageOverrun { claimed, available: rest.len() });
    }
    let (language, body) = rest.split_at(claimed);
    if !language.is_ascii() {
        return Err(NdefError::LanguageNotAscii { hex: hex::encode(language) });
    }
    let language = language.iter().map(|&b| char::from(b)).collect();
    let body_offset = 1 + claimed;
    let text = if status & 0x80 != 0 {
        decode_utf16(body, body_offset)?
    } else {
        utf8(body, "text record", body_offset)?.to_owned()
    };
    Ok(Content::Text { language, text })
}

/// UTF-16 text: big-endian unless a byte-order mark says otherwise (the Text
/// RTD requires BE without a BOM, but phones write LE with a BOM too).
fn decode_utf16(body: &[u8], base: usize) -> Result<String, NdefError> {
    if !body.len().is_multiple_of(2) {
        return Err(NdefError::InvalidUtf16 {
            offset: base + body.len() - 1,
            reason: "odd number of bytes".to_owned(),
        });
    }
    let (big_endian, start) = match body {
        [0xFE, 0xFF, ..] => (true, 2),
        [0xFF, 0xFE, ..] => (false, 2),
        _ => (true, 0),
    };
    let units = body[start..].chunks_exact(2).map(|pair| {
        let pair = [pair[0], pair[1]];
        if big_endian { u16::from_be_bytes(pair) } else { u16::from_le_bytes(pair) }
    });
    let mut text = String::new();
    let mut unit = 0;
    for decoded in char::decode_utf16(units) {
        match decoded {
            Ok(c) => {
                text.push(c);
                unit += c.len_utf16();
            }
            Err(e) => {
                return Err(NdefError::InvalidUtf16 {
                    offset: base + start + unit * 2,
                    reason: format!("unpaired surrogate {:#06x}", e.unpaired_surrogate()),
                });
            }
        }
    }
    Ok(text)
}

/// URI RTD: prefix code byte, then the rest of the URI as UTF-8.
fn decode_uri(payload: &[u8]) -> Result<String, NdefError> {
    let (&code, rest) = payload.split_first().ok_or(NdefError::EmptyPayload { what: "uri" })?;
    let prefix = URI_PREFIXES.get(usize::from(code)).ok_or(NdefError::UnknownUriPrefix { code })?;
    Ok(format!("{prefix}{}", utf8(rest, "uri", 1)?))
}

/// Extracts the NDEF message from a Type 1/2 tag's TLV area (the memory after
/// the capability container), which is how tag dumps and raw reads come.
///
/// Skips NULL (0x00), lock control (0x01), memory control (0x02),
/// proprietary (0xFD) and unknown TLVs; returns the value of the first NDEF
/// TLV (0x03), which may be empty. Stops with an error at the terminator
/// (0xFE) or the end of memory without one.
pub fn parse_tlv(bytes: &[u8]) -> Result<&[u8], NdefError> {
    let mut pos = 0;
    while let Some(&tag) = bytes.get(pos) {
        match tag {
            0x00 => {
                pos += 1;
                continue;
            }
            0xFE => return Err(NdefError::NoNdefTlv { end: "the terminator tlv", offset: pos }),
            _ => {}
        }
        let remaining = bytes.len() - pos - 1;
        let overrun =
            |field, claimed, remaining| NdefError::TlvOverrun { tag, offset: pos, field, claimed, remaining };
        // One length byte, or 0xFF and a two-byte big-endian length.
        let (length, header) = match bytes.get(pos + 1..) {
            Some([0xFF, hi, lo, ..]) => (usize::from(u16::from_be_bytes([*hi, *lo])), 4),
            Some([0xFF, ..]) => return Err(overrun("length field", 3, remaining)),
            Some([length, ..]) => (usize::from(*length), 2),
            _ => return Err(overrun("length field", 1, remaining)),
        };
        let start = pos + header;
        let value = bytes.get(start..start + length).ok_or(overrun("value", length, bytes.len() - start))?;
        if tag == 0x03 {
            return Ok(value);
        }
        pos = start + length;
    }
    Err(NdefError::NoNdefTlv { end: "the end of the memory", offset: pos })
}

/// A Type 2 tag (NTAG, MIFARE Ultralight) memory dump, split into its parts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Type2Dump<'a> {
    /// The 7-byte UID from pages 0 and 1 (check bytes left out).
    pub uid: [u8; 7],
    /// The TLV area from page 4 on, for [`parse_tlv`].
    pub tlv_area: &'a [u8],
}

/// Splits a full Type 2 tag dump (as NFC tools export it, starting at page 0)
/// into UID and TLV area, checking the capability container's NDEF magic 0xE1.
pub fn parse_type2_dump(dump: &[u8]) -> Result<Type2Dump<'_>, NdefError> {
    // Pages 0-3: UID0-2, BCC0, UID3-6, BCC1, internal, lock 0-1, CC 0-3.
    let Some((header, tlv_area)) = dump.split_first_chunk::<16>() else {
        return Err(NdefError::NotType2Dump {
            reason: format!("{} bytes is shorter than the 16-byte header", dump.len()),
        });
    };
    if header[12] != 0xE1 {
        return Err(NdefError::NotType2Dump {
            reason: format!("capability container magic is {:#04x}, expected 0xe1", header[12]),
        });
    }
    let uid = [header[0], header[1], header[2], header[4], header[5], header[6], header[7]];
    Ok(Type2Dump { uid, tlv_area })
}

/// Reads the terminal serial from a tag: the first record that holds one,
/// else the tag UID as upper-case hex.
///
/// Records are read in order by the rule every reader shares
/// ([`posfield_shared::serial_text`]): Text records' text; a URI's serial
/// query value (`sn`, `serial`, ...) then its last path segment;
/// `text/plain` and JSON (`{"sn": ...}`, `{"serial": ...}`) MIME records;
/// external-type payloads as UTF-8.
///
/// A malformed message does not stop us: the parse error goes into
/// [`NfcSerial::warnings`] and the UID stands in, because the agent is
/// standing at the terminal and a UID still identifies the tag. Only when the
/// UID is unusable too is the answer [`NdefError::NoSerial`].
pub fn serial_from_tag(message_bytes: &[u8], uid: &[u8]) -> Result<NfcSerial, NdefError> {
    let mut warnings = Vec::new();
    let records = parse_message(message_bytes).unwrap_or_else(|error| {
        warnings.push(error);
        Vec::new()
    });
    for (index, record) in records.iter().enumerate() {
        let in_record = |error| NdefError::InRecord { record: index + 1, error: Box::new(error) };
        let found = record.content().and_then(|content| serial_in(&content)).map_err(in_record);
        match found {
            Ok(Some((serial, kind))) => {
                return Ok(NfcSerial { serial, source: SerialSource::Record { index, kind }, warnings });
            }
            Ok(None) => {}
            Err(error) => warnings.push(error),
        }
    }
    match uid_serial(uid) {
        Ok(serial) => Ok(NfcSerial { serial, source: SerialSource::TagUid, warnings }),
        Err(uid_problem) => Err(NdefError::NoSerial {
            records: records.len(),
            uid: hex::encode_upper(uid),
            uid_problem,
            problems: warnings,
        }),
    }
}

fn uid_serial(uid: &[u8]) -> Result<String, UidProblem> {
    if ![4, 7, 10].contains(&uid.len()) {
        return Err(UidProblem::Length(uid.len()));
    }
    validate::serial(&hex::encode_upper(uid)).map_err(UidProblem::Invalid)
}

/// The serial in one record, with the record kind: text goes through the
/// one free-text rule ([`serial_text::serial_from_text`]), URIs through
/// [`serial_text::serial_from_uri`], JSON through its serial keys.
fn serial_in(content: &Content) -> Result<Option<(String, RecordKind)>, NdefError> {
    let (kind, serial) = match content {
        Content::Text { text, .. } => (RecordKind::Text, serial_text::serial_from_text(text)),
        Content::Uri(uri) => (RecordKind::Uri, serial_text::serial_from_uri(uri)),
        Content::Mime { mime_type, data } => (RecordKind::Mime, mime_serial(mime_type, data)?),
        // External payloads are often binary, so non-UTF-8 is no problem worth reporting.
        Content::External { data, .. } => match std::str::from_utf8(data) {
            Ok(text) => (RecordKind::External, serial_text::serial_from_text(text)),
            Err(_) => return Ok(None),
        },
        Content::Other => return Ok(None),
    };
    Ok(serial.map(|serial| (serial, kind)))
}

/// `text/plain` as free text; JSON's values under a serial key, each a serial by itself.
fn mime_serial(mime_type: &str, data: &[u8]) -> Result<Option<String>, NdefError> {
    let essence = mime_type.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
    if essence == "text/plain" {
        return Ok(serial_text::serial_from_text(utf8(data, "text/plain payload", 0)?));
    }
    if essence == "application/json" || essence.ends_with("+json") {
        let value: serde_json::Value =
            serde_json::from_slice(data).map_err(|e| NdefError::InvalidJson { reason: e.to_string() })?;
        let Some(object) = value.as_object() else { return Ok(None) };
        let serial = object.iter().filter(|(key, _)| serial_text::is_serial_key(key)).find_map(
            |(_, value)| match value {
                serde_json::Value::String(s) => serial_text::accept_serial(s),
                serde_json::Value::Number(n) => serial_text::accept_serial(&n.to_string()),
                _ => None,
            },
        );
        return Ok(serial);
    }
    Ok(None)
}

impl fmt::Display for Tnf {
    /// The TNF number and name, as in the specification.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self {
            Tnf::Empty => "empty",
            Tnf::WellKnown => "well-known",
            Tnf::MimeMedia => "mime media",
            Tnf::AbsoluteUri => "absolute uri",
            Tnf::External => "external",
            Tnf::Unknown => "unknown",
            Tnf::Unchanged => "unchanged",
            Tnf::Reserved => "reserved",
        };
        write!(f, "{} ({name})", self.bits())
    }
}

#[cfg(test)]
mod tests {
    use rstest::rstest;

    use super::*;

    /// Encodes one physical record; `flags` carries MB/ME/CF, SR is chosen
    /// unless `long` forces the four-byte payload length.
    fn raw(flags: u8, tnf: u8, record_type: &[u8], id: &[u8], payload: &[u8], long: bool) -> Vec<u8> {
        let short = !long && payload.len() < 256;
        let mut header = flags | tnf;
        if short {
            header |= SR;
        }
        if !id.is_empty() {
            header |= IL;
        }
        let mut out = vec![header, record_type.len() as u8];
        if short {
            out.push(payload.len() as u8);
        } else {
            out.extend((payload.len() as u32).to_be_bytes());
        }
        if !id.is_empty() {
            out.push(id.len() as u8);
        }
        out.extend(record_type);
        out.extend(id);
        out.extend(payload);
        out
    }

    /// A message of (tnf, type, payload) records with MB and ME set right.
    fn message(records: &[(u8, &[u8], Vec<u8>)]) -> Vec<u8> {
        let last = records.len() - 1;
        let mut out = Vec::new();
        for (i, (tnf, record_type, payload)) in records.iter().enumerate() {
            let flags = if i == 0 { MB } else { 0 } | if i == last { ME } else { 0 };
            out.extend(raw(flags, *tnf, record_type, b"", payload, false));
        }
        out
    }

    fn text_payload(language: &str, text: &str) -> Vec<u8> {
        let mut out = vec![language.len() as u8];
        out.extend(language.as_bytes());
        out.extend(text.as_bytes());
        out
    }

    fn text(language: &str, body: &str) -> Vec<u8> {
        message(&[(1, b"T", text_payload(language, body))])
    }

    fn uri(code: u8, rest: &str) -> Vec<u8> {
        let mut payload = vec![code];
        payload.extend(rest.as_bytes());
        message(&[(1, b"U", payload)])
    }

    fn only_content(bytes: &[u8]) -> Result<Content, NdefError> {
        let records = parse_message(bytes)?;
        assert_eq!(records.len(), 1, "{records:?}");
        records[0].content()
    }

    const UID7: [u8; 7] = [0x04, 0xA2, 0x24, 0xE2, 0xC4, 0x5E, 0x80];

    fn serial_of(bytes: &[u8]) -> NfcSerial {
        serial_from_tag(bytes, &UID7).unwrap()
    }

    #[test]
    fn short_and_long_records_parse_to_the_same_record() {
        let payload = text_payload("en", "N9100001234567");
        let short = raw(MB | ME, 1, b"T", b"", &payload, false);
        let long = raw(MB | ME, 1, b"T", b"", &payload, true);
        assert_eq!(short[0] & SR, SR);
        assert_eq!(long.len(), short.len() + 3);
        assert_eq!(parse_message(&short).unwrap(), parse_message(&long).unwrap());
    }

    #[test]
    fn a_long_record_carries_a_payload_over_255_bytes() {
        let body = "x".repeat(400);
        let records = parse_message(&text("en", &body)).unwrap();
        assert_eq!(records[0].payload.len(), 403);
        assert_eq!(records[0].content().unwrap(), Content::Text { language: "en".into(), text: body });
    }

    #[test]
    fn the_record_id_is_kept() {
        let bytes = raw(MB | ME, 1, b"T", b"id-1", &text_payload("en", "hi"), false);
        assert_eq!(parse_message(&bytes).unwrap()[0].id, b"id-1");
    }

    #[rstest]
    #[case::english("en", "SN: N9100001234567", "N9100001234567")]
    #[case::chinese("zh", "机身号：P3A012345678", "P3A012345678")]
    #[case::chinese_region("zh-CN", "序列号 SN12345678", "SN12345678")]
    #[case::bare("en", "  sn12345678 ", "SN12345678")]
    #[case::slash_label("en", "S/N N9100001234567", "N9100001234567")]
    #[case::second_line("en", "Newland N910\nSN:N9100001234567", "N9100001234567")]
    #[case::chinese_label_without_separator("zh", "机身号N9100001234567", "N9100001234567")]
    #[case::bare_line_after_model("en", "Newland N910\nN9100001234567", "N9100001234567")]
    fn text_records_give_their_language_and_serial(
        #[case] language: &str,
        #[case] body: &str,
        #[case] serial: &str,
    ) {
        let bytes = text(language, body);
        assert_eq!(
            only_content(&bytes).unwrap(),
            Content::Text { language: language.into(), text: body.into() }
        );
        let found = serial_of(&bytes);
        assert_eq!(found.serial, serial);
        assert_eq!(found.source, SerialSource::Record { index: 0, kind: RecordKind::Text });
        assert!(found.warnings.is_empty());
    }

    #[rstest]
    #[case::big_endian_without_bom(vec![], true)]
    #[case::big_endian_with_bom(vec![0xFE, 0xFF], true)]
    #[case::little_endian_with_bom(vec![0xFF, 0xFE], false)]
    fn utf16_text_records_decode(#[case] bom: Vec<u8>, #[case] big_endian: bool) {
        let body = "机身号:N9100001234567";
        let mut payload = vec![0x80 | 2, b'z', b'h'];
        payload.extend(bom);
        for unit in body.encode_utf16() {
            payload.extend(if big_endian { unit.to_be_bytes() } else { unit.to_le_bytes() });
        }
        let bytes = message(&[(1, b"T", payload)]);
        assert_eq!(only_content(&bytes).unwrap(), Content::Text { language: "zh".into(), text: body.into() });
        assert_eq!(serial_of(&bytes).serial, "N9100001234567");
    }

    #[rstest]
    #[case::odd_length(vec![0x80, 0x00, 0x41, 0x00], "invalid_utf16")]
    #[case::unpaired_surrogate(vec![0x80, 0xD8, 0x00, 0x00, 0x41], "invalid_utf16")]
    #[case::bad_utf8(vec![0x02, b'e', b'n', b'S', 0xFF, 0xFE], "invalid_utf8")]
    #[case::language_overrun(vec![0x05, b'e', b'n'], "language_overrun")]
    #[case::language_not_ascii(vec![0x02, 0xC3, 0xA9, b'x'], "language_not_ascii")]
    #[case::empty(vec![], "empty_payload")]
    fn malformed_text_is_an_error(#[case] payload: Vec<u8>, #[case] code: &str) {
        let error = only_content(&message(&[(1, b"T", payload)])).unwrap_err();
        assert_eq!(error.code(), code, "{error}");
    }

    #[test]
    fn errors_carry_the_bad_offset() {
        let error = only_content(&message(&[(1, b"T", vec![0x02, b'e', b'n', b'S', 0xFF])])).unwrap_err();
        assert_eq!(error.to_string(), "text record is not valid utf-8 at byte 4");
        let error = only_content(&message(&[(1, b"T", vec![0x80, 0xD8, 0x00, 0x00, 0x41])])).unwrap_err();
        assert_eq!(
            error.to_string(),
            "text record is not valid utf-16 at payload byte 1: unpaired surrogate 0xd800"
        );
    }

    #[test]
    fn non_utf8_text_falls_back_to_the_uid_with_a_warning() {
        let found = serial_of(&message(&[(1, b"T", vec![0x02, b'e', b'n', 0xC3, 0x28])]));
        assert_eq!(found.source, SerialSource::TagUid);
        assert_eq!(found.warnings.len(), 1);
        assert_eq!(found.warnings[0].to_string(), "record 1: text record is not valid utf-8 at byte 3");
    }

    #[rstest]
    #[case::none(0x00, "pos://t/N9100001234567", "pos://t/N9100001234567")]
    #[case::http_www(0x01, "example.com/t/N9100001234567", "http://www.example.com/t/N9100001234567")]
    #[case::https_www(0x02, "example.com/t?sn=P3A012345678", "https://www.example.com/t?sn=P3A012345678")]
    #[case::http(0x03, "pos.example.com/device/SN12345678/", "http://pos.example.com/device/SN12345678/")]
    #[case::https(
        0x04,
        "x.cn/a?model=N910&SN=N9100001234567#top",
        "https://x.cn/a?model=N910&SN=N9100001234567#top"
    )]
    #[case::ftp_anonymous(0x07, "host/N9100001234567", "ftp://anonymous:anonymous@host/N9100001234567")]
    #[case::urn_nfc(0x23, "sn?serial=P3A012345678", "urn:nfc:sn?serial=P3A012345678")]
    fn uri_prefixes_expand_and_give_the_serial(#[case] code: u8, #[case] rest: &str, #[case] full: &str) {
        let bytes = uri(code, rest);
        assert_eq!(only_content(&bytes).unwrap(), Content::Uri(full.into()));
        let found = serial_of(&bytes);
        assert_eq!(found.source, SerialSource::Record { index: 0, kind: RecordKind::Uri });
        assert!(["N9100001234567", "P3A012345678", "SN12345678"].contains(&found.serial.as_str()));
    }

    #[test]
    fn every_uri_prefix_code_is_defined_and_the_next_is_an_error() {
        for code in 0x00..=0x23u8 {
            assert!(matches!(only_content(&uri(code, "x")), Ok(Content::Uri(_))), "code {code:#04x}");
        }
        assert_eq!(URI_PREFIXES[0x05], "tel:");
        assert_eq!(URI_PREFIXES[0x23], "urn:nfc:");
        let error = only_content(&uri(0x24, "x")).unwrap_err();
        assert_eq!(error, NdefError::UnknownUriPrefix { code: 0x24 });
        assert_eq!(error.to_string(), "uri prefix code 0x24 is not defined (0x00 to 0x23 are)");
    }

    #[rstest]
    #[case::phone_number(0x05, "13812345678")]
    #[case::mail(0x06, "sn12345678@example.com")]
    #[case::site_root(0x04, "www.example.com/")]
    #[case::word_segment(0x04, "example.com/download")]
    fn uris_without_a_serial_fall_back_to_the_uid(#[case] code: u8, #[case] rest: &str) {
        let found = serial_of(&uri(code, rest));
        assert_eq!(found.source, SerialSource::TagUid);
        assert_eq!(found.serial, "04A224E2C45E80");
    }

    #[test]
    fn absolute_uri_records_are_uris() {
        let bytes = message(&[(3, b"https://pos.example.com/t/N9100001234567", vec![])]);
        assert_eq!(
            only_content(&bytes).unwrap(),
            Content::Uri("https://pos.example.com/t/N9100001234567".into())
        );
        assert_eq!(serial_of(&bytes).serial, "N9100001234567");
    }

    #[rstest]
    #[case::text_plain("text/plain", "SN: P3A012345678", "P3A012345678")]
    #[case::text_plain_charset("Text/Plain; charset=utf-8", "N9100001234567", "N9100001234567")]
    #[case::json_sn("application/json", r#"{"model":"N910","sn":"N9100001234567"}"#, "N9100001234567")]
    #[case::json_serial("application/json", r#"{"Serial":"p3a012345678"}"#, "P3A012345678")]
    #[case::json_number("application/vnd.pos+json", r#"{"serial":12345678}"#, "12345678")]
    fn mime_records_give_the_serial(#[case] mime: &str, #[case] data: &str, #[case] serial: &str) {
        let bytes = message(&[(2, mime.as_bytes(), data.as_bytes().to_vec())]);
        assert_eq!(
            only_content(&bytes).unwrap(),
            Content::Mime { mime_type: mime.into(), data: data.as_bytes().to_vec() }
        );
        let found = serial_of(&bytes);
        assert_eq!(found.serial, serial);
        assert_eq!(found.source, SerialSource::Record { index: 0, kind: RecordKind::Mime });
    }

    #[test]
    fn broken_json_is_a_warning_not_a_panic() {
        let found = serial_of(&message(&[(2, b"application/json", b"{\"sn\": ".to_vec())]));
        assert_eq!(found.source, SerialSource::TagUid);
        assert_eq!(found.warnings[0].code(), "in_record");
        assert!(
            matches!(&found.warnings[0], NdefError::InRecord { record: 1, error } if error.code() == "invalid_json")
        );
    }

    #[test]
    fn external_records_give_the_serial_and_binary_ones_are_skipped() {
        let bytes = message(&[
            (4, b"newland.com:key", vec![0xFF, 0x00, 0x9C]),
            (4, b"newland.com:sn", b"N9100001234567".to_vec()),
        ]);
        let records = parse_message(&bytes).unwrap();
        assert_eq!(
            records[1].content().unwrap(),
            Content::External { type_name: "newland.com:sn".into(), data: b"N9100001234567".to_vec() }
        );
        let found = serial_of(&bytes);
        assert_eq!(found.serial, "N9100001234567");
        assert_eq!(found.source, SerialSource::Record { index: 1, kind: RecordKind::External });
        assert!(found.warnings.is_empty());
    }

    #[test]
    fn the_serial_comes_from_the_second_record_when_the_first_holds_none() {
        let bytes = message(&[
            (1, b"U", {
                let mut p = vec![0x04];
                p.extend(b"www.newlandpayment.com/");
                p
            }),
            (1, b"T", text_payload("zh", "机身号:N9100001234567")),
            (1, b"T", text_payload("en", "SN12345678")),
        ]);
        assert_eq!(parse_message(&bytes).unwrap().len(), 3);
        let found = serial_of(&bytes);
        assert_eq!(found.serial, "N9100001234567");
        assert_eq!(found.source, SerialSource::Record { index: 1, kind: RecordKind::Text });
    }

    #[test]
    fn words_and_model_names_are_not_taken_for_serials() {
        let bytes = message(&[
            (1, b"T", text_payload("en", "Newland POS")),
            (1, b"T", text_payload("en", "Newland N910 POS")),
            (1, b"T", text_payload("en", "SN12345678")),
        ]);
        assert_eq!(serial_of(&bytes).serial, "SN12345678");
    }

    /// The payload of a text/plain record split into three chunks.
    fn chunked() -> Vec<u8> {
        let mut bytes = raw(MB | CF, 2, b"text/plain", b"c1", b"SN: N910", false);
        bytes.extend(raw(CF, 6, b"", b"", b"00012", false));
        bytes.extend(raw(ME, 6, b"", b"", b"34567", true));
        bytes
    }

    #[test]
    fn chunked_records_are_reassembled() {
        let records = parse_message(&chunked()).unwrap();
        assert_eq!(
            records,
            vec![Record {
                tnf: Tnf::MimeMedia,
                record_type: b"text/plain".to_vec(),
                id: b"c1".to_vec(),
                payload: b"SN: N9100001234567".to_vec(),
            }]
        );
        assert_eq!(serial_of(&chunked()).serial, "N9100001234567");
    }

    #[rstest]
    #[case::middle_chunk_with_a_type(raw(ME, 6, b"T", b"", b"x", false), "must have no type")]
    #[case::middle_chunk_with_an_id(raw(ME, 6, b"", b"i", b"x", false), "must have no id")]
    #[case::middle_chunk_with_a_tnf(raw(ME, 1, b"", b"", b"x", false), "must have tnf 6")]
    #[case::message_ends_mid_chunk(raw(ME | CF, 6, b"", b"", b"x", false), "not the last")]
    fn chunk_rules_are_enforced(#[case] second: Vec<u8>, #[case] rule: &str) {
        let mut bytes = raw(MB | CF, 1, b"T", b"", b"\x02en", false);
        bytes.extend(second);
        let error = parse_message(&bytes).unwrap_err();
        assert!(matches!(error, NdefError::BadChunk { record: 2, offset: 7, .. }), "{error}");
        assert!(error.to_string().contains(rule), "{error}");
    }

    #[test]
    fn unchanged_outside_a_chunk_is_an_error() {
        let error = parse_message(&raw(MB | ME, 6, b"", b"", b"x", false)).unwrap_err();
        assert_eq!(error.code(), "bad_chunk");
    }

    #[test]
    fn every_prefix_of_a_valid_message_is_an_error_never_a_panic() {
        // A chunked record followed by a text record that ends the message.
        let mut bytes = raw(MB | CF, 2, b"text/plain", b"c1", b"SN: N910", false);
        bytes.extend(raw(CF, 6, b"", b"", b"00012", false));
        bytes.extend(raw(0, 6, b"", b"", b"34567", true));
        bytes.extend(raw(ME, 1, b"T", b"", &text_payload("en", "SN12345678"), false));
        assert_eq!(parse_message(&bytes).unwrap().len(), 2);
        for cut in 1..bytes.len() {
            let error = parse_message(&bytes[..cut]).unwrap_err();
            assert!(
                ["truncated_header", "length_overrun", "missing_message_end"].contains(&error.code()),
                "cut at {cut}: {error}"
            );
            let found = serial_from_tag(&bytes[..cut], &UID7).unwrap();
            assert_eq!(found.source, SerialSource::TagUid);
            assert_eq!(found.warnings, vec![error]);
        }
    }

    #[test]
    fn a_four_gigabyte_payload_length_is_an_error_not_an_allocation() {
        let bytes = [MB | ME | 0x01, 0x01, 0xFF, 0xFF, 0xFF, 0xFF, b'T', 0x02, b'e', b'n', b'h', b'i', b'!'];
        let error = parse_message(&bytes).unwrap_err();
        assert_eq!(
            error,
            NdefError::LengthOverrun {
                record: 1,
                field: "payload",
                claimed: 0xFFFF_FFFF,
                remaining: 6,
                offset: 7
            }
        );
        assert_eq!(
            error.to_string(),
            "record 1 claims a payload of 4294967295 bytes but only 6 remain at offset 7"
        );
    }

    #[test]
    fn the_overrun_names_the_record_and_offset() {
        let mut bytes = raw(MB, 1, b"T", b"", &text_payload("en", "x"), false);
        bytes.extend([ME | 0x01, 0x01, 0xFF, 0xFF, 0xFF, 0xFF, b'T']);
        let error = parse_message(&bytes).unwrap_err();
        assert_eq!(
            error.to_string(),
            "record 2 claims a payload of 4294967295 bytes but only 0 remain at offset 15"
        );
    }

    #[rstest]
    #[case::empty(0)]
    #[case::well_known(1)]
    #[case::mime_media(2)]
    #[case::absolute_uri(3)]
    #[case::external(4)]
    #[case::unknown(5)]
    #[case::unchanged(6)]
    #[case::reserved(7)]
    fn every_tnf_gives_a_typed_result(#[case] bits: u8) {
        let tnf = Tnf::from_bits(bits);
        assert_eq!(tnf.bits(), bits);
        assert!(tnf.to_string().starts_with(&bits.to_string()));
        // A record with a type and payload: only empty and unchanged reject it.
        let full = parse_message(&raw(MB | ME, bits, b"a:b", b"", b"data", false));
        match (bits, full) {
            (0, Err(e)) => assert_eq!(e.code(), "empty_record_not_empty"),
            (6, Err(e)) => assert_eq!(e.code(), "bad_chunk"),
            (_, Ok(records)) => {
                assert_eq!(records[0].tnf, tnf);
                let content = records[0].content().unwrap();
                let expected = match bits {
                    2 => Content::Mime { mime_type: "a:b".into(), data: b"data".to_vec() },
                    3 => Content::Uri("a:b".into()),
                    4 => Content::External { type_name: "a:b".into(), data: b"data".to_vec() },
                    _ => Content::Other,
                };
                assert_eq!(content, expected);
            }
            (_, Err(e)) => panic!("tnf {bits}: {e}"),
        }
        // The same TNF with nothing in it.
        let bare = parse_message(&raw(MB | ME, bits, b"", b"", b"", false));
        match bits {
            6 => assert_eq!(bare.unwrap_err().code(), "bad_chunk"),
            _ => {
                let expected = match bits {
                    2 => Content::Mime { mime_type: String::new(), data: vec![] },
                    3 => Content::Uri(String::new()),
                    4 => Content::External { type_name: String::new(), data: vec![] },
                    _ => Content::Other,
                };
                assert_eq!(bare.unwrap()[0].content().unwrap(), expected);
            }
        }
    }

    #[test]
    fn an_empty_message_has_no_records_and_falls_back_to_the_uid() {
        assert_eq!(parse_message(&[]).unwrap(), vec![]);
        let empty_record = [MB | ME | SR, 0x00, 0x00];
        assert_eq!(parse_message(&empty_record).unwrap()[0].tnf, Tnf::Empty);
        for bytes in [&[][..], &empty_record[..]] {
            let found = serial_of(bytes);
            assert_eq!(found.source, SerialSource::TagUid);
            assert!(found.warnings.is_empty());
        }
    }

    #[test]
    fn a_missing_message_end_is_an_error() {
        let bytes = raw(MB, 1, b"T", b"", &text_payload("en", "SN12345678"), false);
        let error = parse_message(&bytes).unwrap_err();
        assert_eq!(error, NdefError::MissingMessageEnd { records: 1, offset: bytes.len() });
    }

    #[test]
    fn message_flags_are_enforced() {
        let record = text_payload("en", "SN12345678");
        let no_begin = parse_message(&raw(ME, 1, b"T", b"", &record, false)).unwrap_err();
        assert_eq!(no_begin, NdefError::MissingMessageBegin { header: ME | SR | 1 });
        let mut twice = raw(MB, 1, b"T", b"", &record, false);
        twice.extend(raw(MB | ME, 1, b"T", b"", &record, false));
        assert_eq!(parse_message(&twice).unwrap_err().code(), "unexpected_message_begin");
        let mut trailing = text("en", "SN12345678");
        trailing.extend([0x00, 0xFE]);
        let error = parse_message(&trailing).unwrap_err();
        assert_eq!(error, NdefError::TrailingBytes { offset: trailing.len() - 2, count: 2 });
    }

    #[test]
    fn a_seven_byte_uid_falls_back_to_fourteen_hex_characters() {
        let found = serial_from_tag(&[], &UID7).unwrap();
        assert_eq!(
            found,
            NfcSerial { serial: "04A224E2C45E80".into(), source: SerialSource::TagUid, warnings: vec![] }
        );
        assert_eq!(serial_from_tag(&[], &[0xDE, 0xAD, 0xBE, 0xEF]).unwrap().serial, "DEADBEEF");
    }

    #[test]
    fn a_malformed_message_falls_back_to_the_uid_and_reports_why() {
        let found = serial_from_tag(&[MB | ME | 0x01, 0x01, 0xFF, 0xFF, 0xFF, 0xFF], &UID7).unwrap();
        assert_eq!(found.serial, "04A224E2C45E80");
        assert_eq!(found.source, SerialSource::TagUid);
        assert_eq!(found.warnings.len(), 1);
        assert_eq!(found.warnings[0].code(), "length_overrun");
    }

    #[rstest]
    #[case::five_bytes(&[1, 2, 3, 4, 5], "uid has 5 bytes, expected 4, 7 or 10")]
    #[case::no_uid(&[], "uid has 0 bytes, expected 4, 7 or 10")]
    #[case::all_zero(&[0, 0, 0, 0], "serial \"00000000\" is one repeated character, not a real serial")]
    fn no_serial_and_no_usable_uid_is_an_error(#[case] uid: &[u8], #[case] problem: &str) {
        let error = serial_from_tag(&text("en", "hello"), uid).unwrap_err();
        assert_eq!(error.code(), "no_serial");
        let NdefError::NoSerial { records, uid_problem, problems, .. } = &error else { unreachable!() };
        assert_eq!(*records, 1);
        assert_eq!(uid_problem.to_string(), problem);
        assert!(problems.is_empty());
    }

    #[test]
    fn no_serial_reports_the_parse_problem_too() {
        let error = serial_from_tag(&[MB | ME | SR | 0x01], &[1, 2]).unwrap_err();
        assert_eq!(
            error.to_string(),
            "no serial found: none of 0 records holds a valid serial and tag uid \"0102\" is unusable \
             (uid has 2 bytes, expected 4, 7 or 10); record 1 is cut off at offset 1: its type length \
             needs 1 bytes but only 0 remain"
        );
    }

    /// An NTAG213 dump: header pages with UID and CC, a lock control TLV,
    /// NULL padding, the NDEF TLV, the terminator and zeroed memory.
    fn type2_dump(ndef: &[u8]) -> Vec<u8> {
        let mut dump = vec![0x04, 0xA2, 0x24, 0x0A, 0xE2, 0xC4, 0x5E, 0x80, 0xF8, 0x48, 0x00, 0x00];
        dump.extend([0xE1, 0x10, 0x12, 0x00]);
        dump.extend([0x01, 0x03, 0xA0, 0x0C, 0x34, 0x00]);
        dump.push(0x03);
        if ndef.len() < 0xFF {
            dump.push(ndef.len() as u8);
        } else {
            dump.push(0xFF);
            dump.extend((ndef.len() as u16).to_be_bytes());
        }
        dump.extend(ndef);
        dump.push(0xFE);
        dump.resize(dump.len().max(180), 0);
        dump
    }

    #[test]
    fn tlv_extraction_finds_the_message_in_a_type2_dump() {
        let ndef = text("en", "SN: N9100001234567");
        let dump = type2_dump(&ndef);
        let parsed = parse_type2_dump(&dump).unwrap();
        assert_eq!(parsed.uid, UID7);
        assert_eq!(parse_tlv(parsed.tlv_area).unwrap(), ndef);
        assert_eq!(serial_from_tag(&ndef, &parsed.uid).unwrap().serial, "N9100001234567");
        // Three-byte length form.
        let long = text("en", &"x".repeat(300));
        assert_eq!(parse_tlv(parse_type2_dump(&type2_dump(&long)).unwrap().tlv_area).unwrap(), long);
    }

    #[rstest]
    #[case::terminator_first(vec![0x00, 0xFE, 0x03, 0x00], "no_ndef_tlv")]
    #[case::only_nulls(vec![0x00, 0x00], "no_ndef_tlv")]
    #[case::value_overrun(vec![0x03, 0x10, 0xD1], "tlv_overrun")]
    #[case::length_cut(vec![0x01], "tlv_overrun")]
    #[case::long_length_cut(vec![0x03, 0xFF, 0x01], "tlv_overrun")]
    fn malformed_tlv_areas_are_errors(#[case] area: Vec<u8>, #[case] code: &str) {
        assert_eq!(parse_tlv(&area).unwrap_err().code(), code);
    }

    #[test]
    fn an_empty_ndef_tlv_is_an_empty_message() {
        assert_eq!(parse_tlv(&[0x03, 0x00, 0xFE]).unwrap(), &[] as &[u8]);
    }

    #[test]
    fn a_dump_without_the_ndef_magic_is_rejected() {
        let mut dump = type2_dump(&text("en", "x"));
        dump[12] = 0x00;
        assert_eq!(
            parse_type2_dump(&dump).unwrap_err().to_string(),
            "not a type 2 tag ndef dump: capability container magic is 0x00, expected 0xe1"
        );
        assert_eq!(parse_type2_dump(&dump[..15]).unwrap_err().code(), "not_type2_dump");
    }

    #[test]
    fn random_and_mutated_inputs_never_panic() {
        let seeds = [
            text("en", "SN: N9100001234567"),
            uri(0x04, "pos.example.com/t?sn=P3A012345678"),
            chunked(),
            message(&[(2, b"application/json", br#"{"sn":"N9100001234567"}"#.to_vec())]),
            type2_dump(&text("zh", "机身号:P3A012345678")),
        ];
        let mut mutator = posfield_shared::fuzz::Mutator::new(0x9E37_79B9_7F4A_7C15);
        let decoded =
            posfield_shared::fuzz::run_bounded(crate::fuzz::ndef, &seeds, 20_000, &mut mutator, 300);
        // The mutations must leave enough valid messages for the decoders to be exercised.
        assert!(decoded > 500, "only {decoded} of 20000 messages decoded");
    }
}
