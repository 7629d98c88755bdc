//! Which of a label's codes is the terminal's serial: chosen with evidence,
//! or an honest "which one?".
//!
//! A label carries a serial and, most often, a part number; sometimes a QR
//! code with the terminal and merchant numbers, an IMEI, or the box's
//! product code. A wrong serial recorded silently is worse than none: it
//! moves the wrong terminal in the register. So the serial is *sure* only
//! when something says which code it is, in this order:
//!
//! 1. **The terminal the visit expects** (the dispatch's serial): among the
//!    codes, it wins. When it is absent but another plausible serial is
//!    there, the answer is *not expected*: a possible wrong terminal, for the
//!    agent to confirm, never taken silently.
//! 2. **The code says it**: a labelled value (`SN: …`) or a URL's serial
//!    key ([`posfield_shared::serial_text::told_serial`]); exactly one
//!    such serial.
//! 3. **A maker's format** ([`crate::makers`]): after setting aside part
//!    numbers, IMEIs, ICCIDs and product codes (EAN/UPC), exactly one
//!    plausible serial remains and it is in a known maker's serial format.
//!
//! Otherwise the answer is *unsure* with the candidates (two plausible
//! serials, or one whose maker's format nobody has published), and the app
//! shows each with the crop of its barcode for the agent to tap.
//!
//! The printed key beside a barcode (S/N, 序列号 against P/N, 型号) would be
//! evidence too, but reading it needs text recognition, which this crate
//! does not do: keys inside a code's text are read (rule 2).

use serde::{Deserialize, Serialize};

use crate::makers::{self, Role};
use crate::{BarcodeError, Format, Located, Region, Symbol};

/// Why the answer is what it is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Evidence {
    /// Sure: the serial is the terminal the visit expects.
    Expected,
    /// Sure: the code's text names it as the serial.
    Told,
    /// Sure: the one plausible serial, in this maker's format.
    MakerFormat {
        /// The maker (a row of [`makers::FORMATS`]).
        maker: String,
    },
    /// Unsure: the terminal the visit expects is not on the label, but
    /// another serial is: possibly the wrong terminal.
    NotExpected {
        /// The serials the visit expects.
        expected: Vec<String>,
    },
    /// Unsure: two or more plausible serials.
    Several,
    /// Unsure: one plausible serial, in no known maker's format.
    UnknownFormat,
    /// Unsure: the decode stopped (its work spent, or the safety net)
    /// before it tried everything, so the serial's code may be unread.
    Incomplete,
}

impl Evidence {
    /// Whether the answer may be recorded without the agent's choice.
    pub fn is_sure(&self) -> bool {
        matches!(self, Evidence::Expected | Evidence::Told | Evidence::MakerFormat { .. })
    }
}

/// A plausible serial on the label.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Candidate {
    /// The serial, normalized ([`posfield_shared::validate::serial`]).
    pub serial: String,
    /// The code it came from (the first, when several hold it).
    pub symbol: Symbol,
    /// The maker whose serial format it is in, when one is.
    pub maker: Option<String>,
    /// Whether the code's text names it as the serial.
    pub told: bool,
    /// Where its code is in the photo (after EXIF orientation).
    pub region: Option<Region>,
    /// A JPEG of its code, straightened, for the agent to recognise; filled
    /// by [`crate::scan_serial`] when the answer is not sure.
    #[serde(skip)]
    pub crop_jpeg: Option<Vec<u8>>,
}

/// The serial read from a label photo, or the candidates to choose from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SerialAnswer {
    /// The serial, when the evidence is sure; `None` when the agent must choose.
    pub serial: Option<String>,
    /// Why.
    pub evidence: Evidence,
    /// Every plausible serial, the chosen one first.
    pub candidates: Vec<Candidate>,
    /// Every other code on the label (part numbers, IMEIs, QR texts...).
    pub others: Vec<Symbol>,
    /// The work the decode spent (see [`crate::DecodeOptions::work`]).
    pub work_spent: u64,
    /// Whether the wall-clock safety net stopped the decode before its work
    /// was done (see [`crate::DecodeOptions::time_cap`]).
    pub capped: bool,
}

impl SerialAnswer {
    /// Whether the serial may be recorded without asking.
    pub fn is_sure(&self) -> bool {
        self.serial.is_some()
    }
}

/// Chooses the serial among the codes found, given the serials the visit
/// expects (none when it expects none: invalid ones are ignored).
pub fn choose(found: &[Located], expected: &[String]) -> Result<SerialAnswer, BarcodeError> {
    if found.is_empty() {
        return Err(BarcodeError::NotFound);
    }
    let expected: Vec<String> =
        expected.iter().filter_map(|s| posfield_shared::validate::serial(s).ok()).collect();
    let mut candidates: Vec<(Candidate, bool)> = Vec::new();
    let mut others = Vec::new();
    for located in found {
        let symbol = &located.symbol;
        let Some(serial) = crate::serial_from_text(&symbol.text) else {
            others.push(symbol.clone());
            continue;
        };
        let told = posfield_shared::serial_text::told_serial(&symbol.text).is_some();
        let role = if told { Role::Unknown } else { makers::classify(&symbol.text) };
        let product_code = Format::ALL
            .iter()
            .find(|f| f.name() == symbol.format)
            .is_some_and(|f| matches!(f, Format::Ean8 | Format::Ean13 | Format::UpcA | Format::UpcE));
        // Set aside even when it is the expected serial: a part number typed
        // as the dispatch's serial must not confirm itself.
        let not_a_serial = matches!(role, Role::PartNumber { .. } | Role::Imei | Role::Iccid) || product_code;
        if not_a_serial {
            others.push(symbol.clone());
            continue;
        }
        let maker = match role {
            Role::Serial { maker } => Some(maker),
            _ => None,
        };
        let linear = Format::ALL.iter().find(|f| f.name() == symbol.format).is_none_or(|f| f.is_linear());
        match candidates.iter_mut().find(|(c, _)| c.serial == serial) {
            Some((existing, _)) => {
                existing.told |= told;
                existing.maker = existing.maker.take().or(maker);
                others.push(symbol.clone());
            }
            None => candidates.push((
                Candidate {
                    serial,
                    symbol: symbol.clone(),
                    maker,
                    told,
                    region: located.region,
                    crop_jpeg: None,
                },
                linear,
            )),
        }
    }
    if candidates.is_empty() {
        return Err(BarcodeError::NoSerial { symbols: found.iter().map(|l| l.symbol.clone()).collect() });
    }
    // The likelier first: named, then in a maker's format, then linear, then as found.
    candidates.sort_by_key(|(c, linear)| (!c.told, c.maker.is_none(), !linear));
    let mut candidates: Vec<Candidate> = candidates.into_iter().map(|(c, _)| c).collect();
    let sure = |candidates: &mut Vec<Candidate>, index: usize, evidence: Evidence| {
        let chosen = candidates.remove(index);
        let serial = chosen.serial.clone();
        candidates.insert(0, chosen);
        (Some(serial), evidence)
    };
    let (serial, evidence) = if !expected.is_empty() {
        match candidates.iter().position(|c| expected.contains(&c.serial)) {
            Some(index) => sure(&mut candidates, index, Evidence::Expected),
            None => (None, Evidence::NotExpected { expected }),
        }
    } else {
        let told: Vec<usize> = (0..candidates.len()).filter(|&i| candidates[i].told).collect();
        // A named serial and another in a maker's format disagree.
        let contradicted =
            |index: usize| candidates.iter().enumerate().any(|(i, c)| i != index && c.maker.is_some());
        match (told.as_slice(), candidates.as_slice()) {
            ([index], _) if contradicted(*index) => (None, Evidence::Several),
            ([index], _) => sure(&mut candidates, *index, Evidence::Told),
            ([_, _, ..], _) => (None, Evidence::Several),
            ([], [only]) => match &only.maker {
                Some(maker) => {
                    let maker = maker.clone();
                    sure(&mut candidates, 0, Evidence::MakerFormat { maker })
                }
                None => (None, Evidence::UnknownFormat),
            },
            ([], _) => (None, Evidence::Several),
        }
    };
    Ok(SerialAnswer { serial, evidence, candidates, others, work_spent: 0, capped: false })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(format: &str, text: &str) -> Located {
        Located { symbol: Symbol { format: format.into(), text: text.into() }, region: None }
    }

    fn answer(found: &[Located], expected: &[&str]) -> SerialAnswer {
        let expected: Vec<String> = expected.iter().map(|s| (*s).to_owned()).collect();
        choose(found, &expected).expect("an answer")
    }

    fn serials(answer: &SerialAnswer) -> Vec<&str> {
        answer.candidates.iter().map(|c| c.serial.as_str()).collect()
    }

    const PAX_SERIAL: &str = "0821674609";
    const PAX_PART: &str = "A920-3AW-RD5-21EU";

    #[test]
    fn a_maker_s_serial_beside_its_part_number_is_sure() {
        for found in [
            vec![code("CODE_128", PAX_PART), code("CODE_128", PAX_SERIAL)],
            vec![code("CODE_128", PAX_SERIAL), code("CODE_128", PAX_PART)],
            vec![code("CODE_128", PAX_SERIAL)],
        ] {
            let answer = answer(&found, &[]);
            assert_eq!(answer.serial.as_deref(), Some(PAX_SERIAL), "{found:?}");
            assert_eq!(answer.evidence, Evidence::MakerFormat { maker: "PAX 百富".into() });
        }
    }

    #[test]
    fn a_part_number_alone_is_no_serial() {
        // The serial's code was not read: the part number must not stand in for it.
        let error = choose(&[code("CODE_128", PAX_PART)], &[]).expect_err("no serial");
        assert!(matches!(error, BarcodeError::NoSerial { .. }), "{error:?}");
    }

    #[test]
    fn the_expected_terminal_wins_among_the_codes() {
        let found = [
            code("CODE_128", "N9100001234567"),
            code("CODE_128", "ACME99887766"),
            code("CODE_128", PAX_PART),
        ];
        let answer = answer(&found, &["ACME99887766"]);
        assert_eq!(answer.serial.as_deref(), Some("ACME99887766"));
        assert_eq!(answer.evidence, Evidence::Expected);
        assert_eq!(serials(&answer), ["ACME99887766", "N9100001234567"]);
        // Typed as the desk wrote it, with a hyphen and in lower case.
        assert_eq!(answer_serial(&found, "acme-99887766"), Some("ACME99887766".into()));
    }

    fn answer_serial(found: &[Located], expected: &str) -> Option<String> {
        answer(found, &[expected]).serial
    }

    #[test]
    fn another_serial_than_the_expected_one_is_a_possible_wrong_terminal() {
        let found = [code("CODE_128", PAX_PART), code("CODE_128", PAX_SERIAL)];
        let answer = answer(&found, &["0821000001"]);
        assert_eq!(answer.serial, None, "never taken silently");
        assert_eq!(answer.evidence, Evidence::NotExpected { expected: vec!["0821000001".into()] });
        assert_eq!(serials(&answer), [PAX_SERIAL]);
        assert!(!answer.evidence.is_sure());
    }

    #[test]
    fn a_code_that_names_its_serial_is_sure() {
        let found = [code("CODE_128", "N9100001234567"), code("QR_CODE", "SN:N9100007654321\nTID:12345678")];
        let answer = answer(&found, &[]);
        assert_eq!(answer.serial.as_deref(), Some("N9100007654321"));
        assert_eq!(answer.evidence, Evidence::Told);
    }

    #[test]
    fn a_named_serial_against_one_in_a_maker_s_format_is_unsure() {
        let found = [code("CODE_128", PAX_SERIAL), code("QR_CODE", "SN:N9100007654321")];
        let answer = answer(&found, &[]);
        assert_eq!((answer.serial, answer.evidence), (None, Evidence::Several));
    }

    #[test]
    fn a_merchant_page_s_address_names_no_serial() {
        // The QR's path ends in something serial-like: not named, so the
        // PAX serial beside it is not outvoted.
        let found = [code("CODE_128", PAX_SERIAL), code("QR_CODE", "https://pay.example.com/m/ABC12345678")];
        let answer = answer(&found, &[]);
        assert_eq!((answer.serial, answer.evidence), (None, Evidence::Several));
    }

    #[test]
    fn a_part_number_dispatched_as_the_serial_confirms_nothing() {
        let found = [code("CODE_128", PAX_PART), code("CODE_128", PAX_SERIAL)];
        let answer = answer(&found, &["A920-3AW-RD5-21EU"]);
        assert_eq!(answer.serial, None);
        assert!(matches!(answer.evidence, Evidence::NotExpected { .. }), "{:?}", answer.evidence);
    }

    #[test]
    fn eight_digits_alone_are_not_sure() {
        // A terminal number's or a date's barcode, the serial's unread.
        for text in ["12345678", "20240115"] {
            let answer = answer(&[code("CODE_128", text)], &[]);
            assert_eq!((answer.serial, answer.evidence), (None, Evidence::UnknownFormat), "{text}");
        }
    }

    #[test]
    fn two_plausible_serials_are_unsure_with_both() {
        let found = [code("CODE_128", "N9100001234567"), code("CODE_128", "ACME99887766")];
        let answer = answer(&found, &[]);
        assert_eq!(answer.serial, None);
        assert_eq!(answer.evidence, Evidence::Several);
        assert_eq!(serials(&answer), ["N9100001234567", "ACME99887766"]);
        // Two makers' formats are no better.
        let answer =
            super::tests::answer(&[code("CODE_128", PAX_SERIAL), code("CODE_128", "080-020-970")], &[]);
        assert_eq!((answer.serial, answer.evidence), (None, Evidence::Several));
    }

    #[test]
    fn a_maker_without_a_known_format_is_unsure_rather_than_guessed() {
        let answer = answer(&[code("CODE_128", "N9100001234567")], &[]);
        assert_eq!(answer.serial, None);
        assert_eq!(answer.evidence, Evidence::UnknownFormat);
        assert_eq!(serials(&answer), ["N9100001234567"]);
    }

    #[test]
    fn imei_iccid_and_product_codes_are_set_aside() {
        let found = [
            code("CODE_128", "490154203237518"),
            code("CODE_128", "89860012345678901238"),
            code("EAN_13", "6901234567892"),
            code("QR_CODE", "TID:12345678\nMID:898440153990123"),
            code("CODE_128", PAX_SERIAL),
        ];
        let answer = answer(&found, &[]);
        assert_eq!(answer.serial.as_deref(), Some(PAX_SERIAL));
        assert_eq!(answer.others.len(), 4);
    }

    #[test]
    fn the_same_serial_in_two_codes_is_one_candidate() {
        let found = [code("CODE_128", "080-020-970"), code("QR_CODE", "https://v.example/t?sn=080020970")];
        let answer = answer(&found, &[]);
        assert_eq!(answer.serial.as_deref(), Some("080020970"));
        assert_eq!(answer.evidence, Evidence::Told);
        assert_eq!(answer.candidates.len(), 1);
        assert_eq!(answer.candidates[0].maker.as_deref(), Some("Verifone"));
    }

    #[test]
    fn nothing_found_and_nothing_plausible_are_errors() {
        assert_eq!(choose(&[], &[]), Err(BarcodeError::NotFound));
        let found = [code("QR_CODE", "https://support.example.com/pos/help?model=A920")];
        assert!(matches!(choose(&found, &[]), Err(BarcodeError::NoSerial { .. })));
    }
}
