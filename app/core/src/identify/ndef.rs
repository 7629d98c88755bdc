//! Parsing NFC Data Exchange Format (NDEF) messages read from a terminal's tag.
