//! Identifying the terminal: from an NFC tag's NDEF message, a photo of the
//! serial label, or typing.

pub mod barcode;
pub mod ndef;
