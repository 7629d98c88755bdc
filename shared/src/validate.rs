//! Validation of the identifiers an agent captures on site.
//!
//! Every validator first normalizes what a phone keyboard, an NFC tag or a
//! barcode hands us (full-width digits from a Chinese IME, spaces, hyphens,
//! lower case) and then either returns the canonical form or a
//! [`ValidationError`] that says exactly what is wrong, so the UI can tell the
//! agent in words.

use serde::{Deserialize, Serialize};

/// Which identifier a validation error is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Field {
    /// Terminal serial number (机身号 / SN).
    Serial,
    /// SIM data card ICCID.
    Iccid,
    /// Mainland mobile number (注册手机号).
    Mobile,
    /// Merchant number (商户号).
    MerchantNumber,
    /// Terminal number (终端号).
    TerminalNumber,
}

impl Field {
    /// A stable lowercase code for the field, used in error messages and UI keys.
    pub fn code(self) -> &'static str {
        match self {
            Field::Serial => "serial",
            Field::Iccid => "iccid",
            Field::Mobile => "mobile",
            Field::MerchantNumber => "merchant_number",
            Field::TerminalNumber => "terminal_number",
        }
    }
}

/// Why a value is not a valid identifier.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ValidationError {
    /// Nothing but whitespace was given.
    #[error("{} is empty", field.code())]
    Empty {
        /// The identifier.
        field: Field,
    },
    /// The normalized value has the wrong number of characters.
    #[error("{} {value:?} has {length} characters, expected {expected}", field.code())]
    Length {
        /// The identifier.
        field: Field,
        /// The value as normalized.
        value: String,
        /// Its length in characters.
        length: usize,
        /// What was expected, in words ("15", "8 to 20").
        expected: &'static str,
    },
    /// A character that cannot appear in this identifier.
    #[error("{} {value:?} contains {character:?} at position {position}, expected {allowed}", field.code())]
    Character {
        /// The identifier.
        field: Field,
        /// The value as normalized.
        value: String,
        /// The offending character.
        character: char,
        /// 1-based position of the offending character.
        position: usize,
        /// What may appear instead.
        allowed: &'static str,
    },
    /// The value does not start the way this identifier always starts.
    #[error("{} {value:?} must start with {expected}", field.code())]
    Prefix {
        /// The identifier.
        field: Field,
        /// The value as normalized.
        value: String,
        /// The required prefix, in words.
        expected: &'static str,
    },
    /// The check digit does not match (ICCID's Luhn digit).
    #[error("{} {value:?} fails its check digit: last digit should be {expected_digit}", field.code())]
    CheckDigit {
        /// The identifier.
        field: Field,
        /// The value as normalized.
        value: String,
        /// The check digit the rest of the number implies.
        expected_digit: u32,
    },
    /// A serial made of one repeated character, as printed on placeholder labels.
    #[error("{} {value:?} is one repeated character, not a real serial", field.code())]
    Placeholder {
        /// The identifier.
        field: Field,
        /// The value as normalized.
        value: String,
    },
}

impl ValidationError {
    /// The identifier this error is about.
    pub fn field(&self) -> Field {
        match self {
            ValidationError::Empty { field }
            | ValidationError::Length { field, .. }
            | ValidationError::Character { field, .. }
            | ValidationError::Prefix { field, .. }
            | ValidationError::CheckDigit { field, .. }
            | ValidationError::Placeholder { field, .. } => *field,
        }
    }

    /// A stable machine code for the kind of problem, for translated UI text.
    pub fn code(&self) -> &'static str {
        match self {
            ValidationError::Empty { .. } => "empty",
            ValidationError::Length { .. } => "length",
            ValidationError::Character { .. } => "character",
            ValidationError::Prefix { .. } => "prefix",
            ValidationError::CheckDigit { .. } => "check_digit",
            ValidationError::Placeholder { .. } => "placeholder",
        }
    }
}

/// Folds full-width ASCII (as typed with a Chinese IME) to half-width and
/// drops whitespace, hyphens and the ideographic space.
fn fold(raw: &str, drop: &[char]) -> String {
    raw.chars()
        .map(|c| match c {
            '\u{FF01}'..='\u{FF5E}' => char::from_u32(c as u32 - 0xFEE0).unwrap_or(c),
            '\u{3000}' => ' ',
            _ => c,
        })
        .filter(|c| !c.is_whitespace() && !drop.contains(c))
        .collect()
}

fn first_bad(
    field: Field,
    value: &str,
    allowed: &'static str,
    ok: impl Fn(char) -> bool,
) -> Result<(), ValidationError> {
    match value.chars().enumerate().find(|(_, c)| !ok(*c)) {
        Some((index, character)) => Err(ValidationError::Character {
            field,
            value: value.to_owned(),
            character,
            position: index + 1,
            allowed,
        }),
        None => Ok(()),
    }
}

fn check_length(
    field: Field,
    value: &str,
    range: std::ops::RangeInclusive<usize>,
    expected: &'static str,
) -> Result<(), ValidationError> {
    let length = value.chars().count();
    if length == 0 {
        return Err(ValidationError::Empty { field });
    }
    if !range.contains(&length) {
        return Err(ValidationError::Length { field, value: value.to_owned(), length, expected });
    }
    Ok(())
}

/// Shortest and longest serial number accepted.
pub const SERIAL_LENGTH: std::ops::RangeInclusive<usize> = 8..=20;

/// Normalizes a terminal serial number: upper case, no spaces or hyphens,
/// full-width folded; 8 to 20 letters and digits, not one repeated character.
pub fn serial(raw: &str) -> Result<String, ValidationError> {
    let field = Field::Serial;
    let value = fold(raw, &['-']).to_ascii_uppercase();
    if value.is_empty() {
        return Err(ValidationError::Empty { field });
    }
    first_bad(field, &value, "letters A-Z and digits", |c| c.is_ascii_alphanumeric())?;
    check_length(field, &value, SERIAL_LENGTH, "8 to 20")?;
    let mut chars = value.chars();
    let first = chars.next();
    if chars.all(|c| Some(c) == first) {
        return Err(ValidationError::Placeholder { field, value });
    }
    Ok(value)
}

/// The Luhn check digit for `payload` (all ASCII digits), as ICCIDs end with.
pub fn luhn_digit(payload: &str) -> u32 {
    let sum: u32 = payload
        .bytes()
        .rev()
        .enumerate()
        .map(|(i, b)| {
            let d = u32::from(b - b'0');
            if i % 2 == 0 {
                let doubled = d * 2;
                if doubled > 9 { doubled - 9 } else { doubled }
            } else {
                d
            }
        })
        .sum();
    (10 - sum % 10) % 10
}

/// Normalizes an ICCID: 19 or 20 digits, starting with the telecom prefix 89,
/// with a valid Luhn check digit.
pub fn iccid(raw: &str) -> Result<String, ValidationError> {
    let field = Field::Iccid;
    let value = fold(raw, &['-']).to_ascii_uppercase();
    if value.is_empty() {
        return Err(ValidationError::Empty { field });
    }
    first_bad(field, &value, "digits", |c| c.is_ascii_digit())?;
    check_length(field, &value, 19..=20, "19 or 20")?;
    if !value.starts_with("89") {
        return Err(ValidationError::Prefix { field, value, expected: "89 (telecom)" });
    }
    let (payload, check) = value.split_at(value.len() - 1);
    let expected_digit = luhn_digit(payload);
    if check.parse::<u32>().ok() != Some(expected_digit) {
        return Err(ValidationError::CheckDigit { field, value, expected_digit });
    }
    Ok(value)
}

/// Normalizes a mainland China mobile number: 11 digits, `1` then `3`-`9`;
/// an optional `+86` or `0086` country prefix is removed.
pub fn mobile(raw: &str) -> Result<String, ValidationError> {
    let field = Field::Mobile;
    let folded = fold(raw, &['-', '(', ')']);
    let value = folded
        .strip_prefix("+86")
        .or_else(|| folded.strip_prefix("0086"))
        .map(str::to_owned)
        .unwrap_or(folded);
    if value.is_empty() {
        return Err(ValidationError::Empty { field });
    }
    first_bad(field, &value, "digits", |c| c.is_ascii_digit())?;
    check_length(field, &value, 11..=11, "11")?;
    let second = value.as_bytes()[1];
    if value.as_bytes()[0] != b'1' || !(b'3'..=b'9').contains(&second) {
        return Err(ValidationError::Prefix { field, value, expected: "13 to 19" });
    }
    Ok(value)
}

/// Normalizes a merchant number (商户号): exactly 15 digits.
pub fn merchant_number(raw: &str) -> Result<String, ValidationError> {
    let field = Field::MerchantNumber;
    let value = fold(raw, &['-']);
    if value.is_empty() {
        return Err(ValidationError::Empty { field });
    }
    first_bad(field, &value, "digits", |c| c.is_ascii_digit())?;
    check_length(field, &value, 15..=15, "15")?;
    Ok(value)
}

/// Normalizes a terminal number (终端号): exactly 8 letters or digits, upper case.
pub fn terminal_number(raw: &str) -> Result<String, ValidationError> {
    let field = Field::TerminalNumber;
    let value = fold(raw, &['-']).to_ascii_uppercase();
    if value.is_empty() {
        return Err(ValidationError::Empty { field });
    }
    first_bad(field, &value, "letters A-Z and digits", |c| c.is_ascii_alphanumeric())?;
    check_length(field, &value, 8..=8, "8")?;
    Ok(value)
}

#[cfg(test)]
mod tests {
    use rstest::rstest;

    use super::*;

    fn check(
        validator: fn(&str) -> Result<String, ValidationError>,
        raw: &str,
        expected: Result<&str, &str>,
    ) {
        let got = validator(raw);
        match (got, expected) {
            (Ok(value), Ok(want)) => assert_eq!(value, want, "normalized form of {raw:?}"),
            (Err(error), Err(code)) => assert_eq!(error.code(), code, "{raw:?}: {error}"),
            (got, want) => panic!("{raw:?}: got {got:?}, want {want:?}"),
        }
    }

    #[rstest]
    #[case::newland_n910("N9100001234567", Ok("N9100001234567"))]
    #[case::lowercase_and_spaces(" p3a0 1234 5678 ", Ok("P3A012345678"))]
    #[case::pax_with_hyphens("0820-1234-5678", Ok("082012345678"))]
    #[case::full_width_ime("ＳＮ１２３４５６７８", Ok("SN12345678"))]
    #[case::ideographic_space("QR\u{3000}12345678", Ok("QR12345678"))]
    #[case::shortest("AB123456", Ok("AB123456"))]
    #[case::longest("ABCDEFGHIJ0123456789", Ok("ABCDEFGHIJ0123456789"))]
    #[case::nfc_uid_hex("04A224E2C45E80", Ok("04A224E2C45E80"))]
    #[case::empty("", Err("empty"))]
    #[case::only_spaces("   ", Err("empty"))]
    #[case::too_short("AB12345", Err("length"))]
    #[case::too_long("ABCDEFGHIJ01234567890", Err("length"))]
    #[case::url("https://pos.example/sn", Err("character"))]
    #[case::slash("N910/12345678", Err("character"))]
    #[case::chinese("机身号12345678", Err("character"))]
    #[case::placeholder_zeros("00000000", Err("placeholder"))]
    #[case::placeholder_x("xxxxxxxxxx", Err("placeholder"))]
    fn serials(#[case] raw: &str, #[case] expected: Result<&str, &str>) {
        check(serial, raw, expected);
    }

    #[rstest]
    #[case::china_mobile_20("89860012345678901238", Ok("89860012345678901238"))]
    #[case::china_unicom_19("8986011234567890128", Ok("8986011234567890128"))]
    #[case::spaced("8986 0012 3456 7890 1238", Ok("89860012345678901238"))]
    #[case::full_width("８９８６００１２３４５６７８９０１２３８", Ok("89860012345678901238"))]
    #[case::wrong_check_digit("89860012345678901237", Err("check_digit"))]
    #[case::transposed_digits("89860012345678910238", Err("check_digit"))]
    #[case::too_short("898600123456789012", Err("length"))]
    #[case::too_long("898600123456789012345", Err("length"))]
    #[case::letters("8986001234567890123F", Err("character"))]
    #[case::not_telecom("12345678901234567894", Err("prefix"))]
    #[case::empty("", Err("empty"))]
    fn iccids(#[case] raw: &str, #[case] expected: Result<&str, &str>) {
        check(iccid, raw, expected);
    }

    #[rstest]
    #[case::plain("13812345678", Ok("13812345678"))]
    #[case::spaced("138 1234 5678", Ok("13812345678"))]
    #[case::hyphens("138-1234-5678", Ok("13812345678"))]
    #[case::plus86("+86 199 1234 5678", Ok("19912345678"))]
    #[case::zero_zero_86("008615012345678", Ok("15012345678"))]
    #[case::full_width("１３８１２３４５６７８", Ok("13812345678"))]
    #[case::landline("02112345678", Err("prefix"))]
    #[case::second_digit_two("12812345678", Err("prefix"))]
    #[case::ten_digits("1381234567", Err("length"))]
    #[case::twelve_digits("138123456789", Err("length"))]
    #[case::letter_o("138l2345678", Err("character"))]
    #[case::empty(" ", Err("empty"))]
    fn mobiles(#[case] raw: &str, #[case] expected: Result<&str, &str>) {
        check(mobile, raw, expected);
    }

    #[rstest]
    #[case::plain("898310048161234", Ok("898310048161234"))]
    #[case::spaced("898 3100 4816 1234", Ok("898310048161234"))]
    #[case::fourteen("89831004816123", Err("length"))]
    #[case::sixteen("8983100481612345", Err("length"))]
    #[case::letter("89831004816123A", Err("character"))]
    #[case::empty("", Err("empty"))]
    fn merchant_numbers(#[case] raw: &str, #[case] expected: Result<&str, &str>) {
        check(merchant_number, raw, expected);
    }

    #[rstest]
    #[case::digits("12345678", Ok("12345678"))]
    #[case::mixed_lower("a1b2c3d4", Ok("A1B2C3D4"))]
    #[case::seven("1234567", Err("length"))]
    #[case::nine("123456789", Err("length"))]
    #[case::underscore("1234_678", Err("character"))]
    #[case::empty("", Err("empty"))]
    fn terminal_numbers(#[case] raw: &str, #[case] expected: Result<&str, &str>) {
        check(terminal_number, raw, expected);
    }

    #[test]
    fn errors_say_what_is_wrong() {
        let error = iccid("89860012345678901237").unwrap_err();
        assert_eq!(
            error.to_string(),
            "iccid \"89860012345678901237\" fails its check digit: last digit should be 8"
        );
        let error = serial("N910/12345678").unwrap_err();
        assert_eq!(
            error.to_string(),
            "serial \"N910/12345678\" contains '/' at position 5, expected letters A-Z and digits"
        );
        assert_eq!(error.field(), Field::Serial);
    }
}
