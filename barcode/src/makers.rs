//! What the main terminal makers print as a serial and as a part number,
//! and the other numbers a label carries: the evidence [`crate::choose`]
//! ranks a label's codes with.
//!
//! Every row names where its pattern comes from. A maker with no source is
//! in the table with no pattern, so that its labels are answered "unsure"
//! rather than guessed: a wrong serial recorded silently moves the wrong
//! terminal in the register. Patterns are matched against the code's text as
//! encoded (trimmed), before the serial's normalisation folds hyphens away:
//! a PAX part number `A920-3AW-RD5-21EU` is 14 letters and digits once
//! folded, which is how part numbers used to pass for serials.
//!
//! docs/benchmarks.md repeats the table with its sources; the table test
//! below checks every row against the samples its source shows.

use std::sync::LazyLock;

use regex::Regex;
use serde::{Deserialize, Serialize};

/// How much a row's sources show.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Confidence {
    /// A maker's own document and several independent samples.
    Strong,
    /// One source or a few samples.
    Weak,
    /// No source found: the row has no pattern.
    None,
}

/// One maker's row.
#[derive(Debug, Clone, Copy)]
pub struct MakerFormat {
    /// The maker, as the trade knows it (with its Chinese name where it has one).
    pub maker: &'static str,
    /// The serial as encoded on the label, anchored; `None` when no source shows it.
    pub serial: Option<&'static str>,
    /// At least this many digits in the serial (patterns alone cannot count).
    pub serial_min_digits: usize,
    /// The part number (P/N, 料号) as encoded, anchored; `None` when no source shows it.
    pub part_number: Option<&'static str>,
    /// How much the sources show.
    pub confidence: Confidence,
    /// Where the patterns come from, with the samples they were checked on.
    pub source: &'static str,
}

/// The table. Order does not matter: a text matched as a serial by one row
/// and as a part number by another is ambiguous.
pub const FORMATS: &[MakerFormat] = &[
    MakerFormat {
        maker: "PAX 百富",
        // 3-digit model code + 7 digits, or 2 characters (0-9, A-Z but O and I) + 6 digits.
        serial: Some(r"^(?:\d{10}|[0-9A-HJ-NP-Z]{2}\d{6})$"),
        serial_min_digits: 6,
        part_number: Some(r"^[A-Z]\d{2,3}[A-Z]?-[0-9A-Z]{3}-[0-9A-Z]{3}-[0-9A-Z]{2,4}$"),
        confidence: Confidence::Strong,
        source: "PAX A920 Reference Guide (sections 2.1 and A2: serial = model code + sequence, e.g. \
                 64999999 then 6A000001); PAXSTORE/paxstore-openapi-java-sdk docs/TERMINAL_API.md \
                 (P/N A920-3AW-RD5-21EU); samples 0821674609, 1851160310, 2290065118, 6C354788, \
                 7D332473, 5G047654 in public PAX repair and acquirer validation code; P/N \
                 D150-0B0-024-02E0 in miojofrio/ped-tampered PAX-D150.md",
    },
    MakerFormat {
        maker: "Verifone",
        // xxx-xxx-xxx, printed next to the barcode after S/N; systems store it without dashes.
        serial: Some(r"^(?:\d{3}-\d{3}-\d{3}|\d{9})$"),
        serial_min_digits: 9,
        part_number: Some(r"^M\d{3}-\d{3}-?\d{2}[-0-9A-Z ()]*$"),
        confidence: Confidence::Strong,
        source: "Verifone MX800 Programmer's Guide (packet M04: serial xxx-xxx-xxx); VX520 manual \
                 (serial next to the bar code after S/N); Adyen docs and \
                 Adyen/adyen-dotnet-api-library mocks (080-020-970, V400m-324689776); P/N \
                 M445-403-01-WWA-5 (T) and M132-40901R from inventory data (weak)",
    },
    MakerFormat {
        maker: "Castles 虹堡",
        // 12 digits on the label; payment systems prefix 000.
        serial: Some(r"^(?:000)?\d{12}$"),
        serial_min_digits: 12,
        part_number: None,
        confidence: Confidence::Weak,
        source: "Adyen/adyen-dotnet-api-library mocks (S1F2 000150183300032) and integrator code \
                 stripping the 000 prefix (000158213300585, 000158213605014)",
    },
    MakerFormat {
        maker: "SUNMI 商米",
        // 13-14 capitals and digits: the model's letters, then a letter before
        // the last five digits in every sample.
        serial: Some(r"^[A-Z][0-9A-Z]{6,7}[A-Z]\d{5}$"),
        serial_min_digits: 9,
        part_number: None,
        confidence: Confidence::Weak,
        source: "dafish7/Sunmi-v2-Firmware- issues #1 and #8 (V2C5225B21669, VB16206P01471); a SUNMI \
                 cloud printer's N4113227P00012 (third-party SUNMI Cloud docs); the serial is \
                 Android's ro.serialno (CSDN blog xuwei_net 81334217)",
    },
    MakerFormat {
        maker: "LANDI 联迪",
        serial: Some(r"^\d{3}[A-Z]{3}\d{6}$"),
        serial_min_digits: 9,
        part_number: None,
        confidence: Confidence::Weak,
        source: "one sample: M20se 247ACD201002 (ro.serialno, a public integration README)",
    },
    MakerFormat {
        maker: "WizarPOS 旺POS",
        serial: Some(r"^WP[0-9A-Z]{14}$"),
        serial_min_digits: 8,
        part_number: None,
        confidence: Confidence::Weak,
        source: "one sample: Q2 WP42601Q43200268 (a public Dejavoo deployment note)",
    },
    MakerFormat {
        maker: "Ingenico",
        // The one sample (24 digits) is longer than any serial the register takes.
        serial: None,
        serial_min_digits: 0,
        part_number: None,
        confidence: Confidence::None,
        source: "only the year-of-manufacture rule (e-monetique.com) and one 24-digit sample, \
                 longer than the 8-20 characters a serial may have: no usable pattern",
    },
    MakerFormat {
        maker: "Newland 新大陆",
        serial: None,
        serial_min_digits: 0,
        part_number: None,
        confidence: Confidence::None,
        source: "no public source found",
    },
    MakerFormat {
        maker: "Centerm 升腾",
        serial: None,
        serial_min_digits: 0,
        part_number: None,
        confidence: Confidence::None,
        source: "no public source found",
    },
    MakerFormat {
        maker: "Nexgo/Xinguodu 新国都, Urovo 优博讯, Kozen 魔方, Justtide 久通, SZZT 证通",
        serial: None,
        serial_min_digits: 0,
        part_number: None,
        confidence: Confidence::None,
        source: "no public source found",
    },
];

/// What a code's text is, as far as the table and the label's other
/// numbers tell.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Role {
    /// A serial in a maker's format.
    Serial {
        /// The maker whose format it is (the first row that matches).
        maker: String,
    },
    /// A maker's part number.
    PartNumber {
        /// The maker.
        maker: String,
    },
    /// A phone module's IMEI: 15 digits with a valid Luhn digit.
    Imei,
    /// A SIM card's ICCID: 19 or 20 digits from 89 with a valid Luhn digit.
    Iccid,
    /// Both a serial of one maker and a part number of another, or nothing
    /// the table knows.
    Unknown,
}

struct Compiled {
    maker: &'static str,
    serial: Option<Regex>,
    serial_min_digits: usize,
    part_number: Option<Regex>,
}

static COMPILED: LazyLock<Vec<Compiled>> = LazyLock::new(|| {
    FORMATS
        .iter()
        .map(|row| Compiled {
            maker: row.maker,
            serial: row.serial.map(|p| Regex::new(p).expect("the table's serial patterns compile")),
            serial_min_digits: row.serial_min_digits,
            part_number: row
                .part_number
                .map(|p| Regex::new(p).expect("the table's part-number patterns compile")),
        })
        .collect()
});

/// What `text` (a code's text as encoded) is.
pub fn classify(text: &str) -> Role {
    let text = text.trim();
    let digits = text.bytes().filter(u8::is_ascii_digit).count();
    if digits == text.len() && luhn_valid(text) {
        if text.len() == 15 {
            return Role::Imei;
        }
        if (19..=20).contains(&text.len()) && text.starts_with("89") {
            return Role::Iccid;
        }
    }
    // Eight digits are also what a terminal number (终端号) and a date look
    // like: no maker's format makes them a serial.
    if text.len() == 8 && digits == 8 {
        return Role::Unknown;
    }
    let serial = COMPILED.iter().find(|row| {
        digits >= row.serial_min_digits && row.serial.as_ref().is_some_and(|re| re.is_match(text))
    });
    let part = COMPILED.iter().find(|row| row.part_number.as_ref().is_some_and(|re| re.is_match(text)));
    match (serial, part) {
        (Some(row), None) => Role::Serial { maker: row.maker.to_owned() },
        (None, Some(row)) => Role::PartNumber { maker: row.maker.to_owned() },
        _ => Role::Unknown,
    }
}

/// Whether the digits end with a valid Luhn check digit.
fn luhn_valid(digits: &str) -> bool {
    let Some((payload, check)) = digits.split_at_checked(digits.len().saturating_sub(1)) else {
        return false;
    };
    !payload.is_empty() && check.parse::<u32>().ok() == Some(posfield_shared::validate::luhn_digit(payload))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn serial_of(text: &str) -> Option<String> {
        match classify(text) {
            Role::Serial { maker } => Some(maker),
            _ => None,
        }
    }

    #[test]
    fn every_sample_the_sources_show_is_classified_as_its_row_says() {
        for sample in
            ["0821674609", "1851160310", "2290065118", "6C354788", "7D332473", "5G047654", "3L013509"]
        {
            assert_eq!(serial_of(sample).as_deref(), Some("PAX 百富"), "{sample}");
        }
        for sample in ["080-020-970", "324689776", "275039202"] {
            assert_eq!(serial_of(sample).as_deref(), Some("Verifone"), "{sample}");
        }
        assert_eq!(serial_of("000150183300032").as_deref(), Some("Castles 虹堡"));
        for sample in ["V2C5225B21669", "VB16206P01471", "N4113227P00012"] {
            assert_eq!(serial_of(sample).as_deref(), Some("SUNMI 商米"), "{sample}");
        }
        assert_eq!(serial_of("247ACD201002").as_deref(), Some("LANDI 联迪"));
        assert_eq!(serial_of("WP42601Q43200268").as_deref(), Some("WizarPOS 旺POS"));
        for (sample, maker) in [
            ("A920-3AW-RD5-21EU", "PAX 百富"),
            ("D150-0B0-024-02E0", "PAX 百富"),
            ("M445-403-01-WWA-5 (T)", "Verifone"),
            ("M132-40901R", "Verifone"),
        ] {
            assert_eq!(classify(sample), Role::PartNumber { maker: maker.to_owned() }, "{sample}");
        }
    }

    #[test]
    fn phone_and_sim_numbers_are_not_serials() {
        // 49015420323751 with its Luhn digit 8: the GSMA's example IMEI.
        assert_eq!(classify("490154203237518"), Role::Imei);
        assert_eq!(classify("89860012345678901238"), Role::Iccid);
        // The same lengths without a valid check digit are left to the table.
        assert_eq!(classify("490154203237510"), Role::Unknown);
    }

    #[test]
    fn makers_without_a_source_and_unknown_texts_are_unknown() {
        // Eight digits: a terminal number or a date as much as a PAX serial.
        for text in ["N9100001234567", "ACME12345678", "K9-0001234", "HELLO2024WORLD", "12345678", "20240115"]
        {
            assert_eq!(classify(text), Role::Unknown, "{text}");
        }
        assert!(
            FORMATS.iter().filter(|row| row.confidence == Confidence::None).all(|row| row.serial.is_none())
        );
        assert!(FORMATS.iter().all(|row| !row.source.is_empty()));
    }
}
