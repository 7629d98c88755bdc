//! Identifying the terminal: from an NFC tag's NDEF message, a photo of the
//! serial label, or typing.

/// Reading the serial from a label photo: the `posfield-barcode` crate.
pub use posfield_barcode as barcode;
pub mod ndef;
