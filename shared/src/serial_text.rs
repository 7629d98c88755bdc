//! The terminal serial read from free text: one rule for every reader.
//!
//! An NFC tag's text, URI and MIME records, a barcode decoded from a label
//! photo and the phone's live scanner all hand us text that may hold a
//! serial: bare (`N9100001234567`), after a label (`SN: …`, `机身号：…`), in a
//! URL (`https://…/t/N9100001234567`, `…?sn=…`), or on one line of several.
//! Each reader used to have its own copy of this rule and they disagreed on
//! the same text; this module is the one home, and its table test names the
//! cases where the copies disagreed and the answer chosen.
//!
//! The rule, in order of how much the text says about itself:
//! 1. in the whole text, then line by line: a URL's serial query value (`sn`,
//!    `s/n`, `serial`, …, percent-decoded) or else its last path segment; a
//!    labelled value (the first token after a label);
//! 2. the whole text, then each line, when it is a single token.
//!
//! A candidate counts only when [`validate::serial`] accepts it and it carries
//! a digit: the validator accepts any 8 to 20 letters, so words on a tag
//! ("Terminal") would pass, while every real terminal serial has digits.
//! A wrong serial is worse than none: the agent is asked to choose or type.

use crate::validate;

/// Labels printed before a serial, compared ignoring ASCII case; longer ones
/// first, so "SERIAL NO" wins over "SERIAL".
pub const SERIAL_LABELS: [&str; 9] =
    ["serial number", "serial no.", "serial no", "serial", "s/n", "sn.", "sn", "机身号", "序列号"];

/// URL query keys and JSON keys that name a serial, compared ignoring ASCII case.
pub const SERIAL_KEYS: [&str; 7] =
    ["sn", "s/n", "serial", "serialno", "serial_no", "serialnumber", "serial_number"];

/// Whether a query or JSON key names a serial.
pub fn is_serial_key(key: &str) -> bool {
    SERIAL_KEYS.iter().any(|known| key.eq_ignore_ascii_case(known))
}

/// A candidate that is a serial by itself, in its normalized form: one token
/// (no whitespace), accepted by [`validate::serial`], with at least one digit.
pub fn accept_serial(candidate: &str) -> Option<String> {
    let candidate = candidate.trim();
    if candidate.is_empty() || candidate.contains(char::is_whitespace) {
        return None;
    }
    validate::serial(candidate).ok().filter(|serial| serial.bytes().any(|b| b.is_ascii_digit()))
}

/// The terminal serial in a piece of free text, or `None` (see the module
/// documentation for the rule).
pub fn serial_from_text(text: &str) -> Option<String> {
    let text = text.trim();
    if text.is_empty() {
        return None;
    }
    let lines: Vec<&str> = if text.contains(['\n', '\r']) {
        text.lines().map(str::trim).filter(|line| !line.is_empty()).collect()
    } else {
        Vec::new()
    };
    let pieces = || std::iter::once(text).chain(lines.iter().copied());
    pieces().find_map(telling_serial).or_else(|| pieces().find_map(accept_serial))
}

/// The serial the text names as such: a URL's serial key (`sn=`, ...) or a
/// value after a serial label (`SN:`, `机身号`), or `None`. A URL's last path
/// segment does not count, although [`serial_from_text`] takes it: any
/// merchant or product page ends in one. A label photo's reader takes a
/// named serial as evidence that the code is the serial's.
pub fn told_serial(text: &str) -> Option<String> {
    let text = text.trim();
    let lines = text.lines().map(str::trim).filter(|line| !line.is_empty());
    std::iter::once(text).chain(lines).find_map(|piece| {
        if is_web_url(piece) {
            serial_from_query(piece)
        } else {
            after_label(piece).and_then(|value| accept_serial(first_token(value)))
        }
    })
}

/// A URL's serial query value (`sn`, `serial`, ...), percent-decoded.
fn serial_from_query(uri: &str) -> Option<String> {
    let without_fragment = uri.split('#').next().unwrap_or_default();
    let query = without_fragment.split_once('?').map_or("", |(_, query)| query).replace(';', "&");
    form_urlencoded::parse(query.as_bytes())
        .filter(|(key, _)| is_serial_key(key))
        .find_map(|(_, value)| accept_serial(&value))
}

/// A serial the piece says it holds: through a URL or after a label.
fn telling_serial(piece: &str) -> Option<String> {
    if is_web_url(piece) {
        return serial_from_uri(piece);
    }
    after_label(piece).and_then(|value| accept_serial(first_token(value)))
}

/// The serial in a URI: a serial query value first (it says what it is), then
/// the last path segment of a hierarchical URI (`scheme://host/…`), so `tel:`
/// numbers and mail addresses never become serials. Values are percent-decoded.
pub fn serial_from_uri(uri: &str) -> Option<String> {
    let without_fragment = uri.split('#').next().unwrap_or_default();
    let (path, _) = without_fragment.split_once('?').unwrap_or((without_fragment, ""));
    serial_from_query(uri).or_else(|| {
        let after_host = match path.split_once("://") {
            Some((_, rest)) => rest.split_once('/')?.1,
            // `www.example.com/t/…` as printed on labels: the first segment is the host.
            None => path.split_once('/')?.1,
        };
        let last = after_host.split('/').rfind(|segment| !segment.is_empty())?;
        accept_serial(&percent_encoding::percent_decode_str(last).decode_utf8_lossy())
    })
}

/// A URL as printed in free text: a scheme followed by `://`, or `www.`.
fn is_web_url(piece: &str) -> bool {
    if piece.contains(char::is_whitespace) {
        return false;
    }
    if let Some((scheme, _)) = piece.split_once("://") {
        return !scheme.is_empty() && scheme.chars().all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c));
    }
    piece.get(..4).is_some_and(|head| head.eq_ignore_ascii_case("www."))
}

/// What follows a serial label. A label made only of letters ("SN") must be
/// followed by a separator, since "SN12345678" is itself a whole serial; a
/// hyphen is no separator, because serials carry hyphens ("SN-12345678" is
/// the serial SN12345678).
fn after_label(piece: &str) -> Option<&str> {
    let is_separator = |c: char| c.is_whitespace() || ":：#=.".contains(c);
    SERIAL_LABELS.iter().find_map(|label| {
        let head = piece.get(..label.len())?;
        let rest = &piece[label.len()..];
        let needs_separator = label.chars().all(|c| c.is_ascii_alphanumeric());
        let separated = !needs_separator || rest.starts_with(is_separator);
        (head.eq_ignore_ascii_case(label) && separated).then(|| rest.trim_start_matches(is_separator))
    })
}

/// The first whitespace-separated token: a label's value is one token, so a
/// model name after it on the same line never joins the serial.
fn first_token(value: &str) -> &str {
    value.split_whitespace().next().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use rstest::rstest;

    use super::*;

    /// One table for every reader. Where the NFC reader and the barcode reader
    /// used to answer differently, the case name starts with `was_` and its
    /// comment gives both old answers.
    #[rstest]
    #[case::bare("N9100001234567", Some("N9100001234567"))]
    #[case::bare_lower_case_padded("  n9100001234567\n", Some("N9100001234567"))]
    #[case::sn_colon("SN:N9100001234567", Some("N9100001234567"))]
    #[case::slash_label("S/N: PX12345678", Some("PX12345678"))]
    #[case::sn_space("SN N9100001234567", Some("N9100001234567"))]
    #[case::sn_equals_lower("s/n=PX12345678", Some("PX12345678"))]
    #[case::sn_dot("SN. PX12345678", Some("PX12345678"))]
    #[case::serial_no_grouped_by_hyphens("Serial No. 0820-1234-5678", Some("082012345678"))]
    #[case::slash_label_glued("S/NPX12345678", Some("PX12345678"))]
    #[case::sn_is_part_of_the_serial("SN12345678", Some("SN12345678"))]
    #[case::url_last_segment("https://pos.example.com/t/N9100001234567", Some("N9100001234567"))]
    #[case::url_trailing_slash_and_query(
        "https://pos.example.com/t/N9100001234567/?x=1",
        Some("N9100001234567")
    )]
    #[case::url_sn_key("http://x.example/activate?model=A920&sn=PX12345678", Some("PX12345678"))]
    #[case::url_upper_case_with_fragment("HTTPS://X.EXAMPLE/A?SN=px12345678#top", Some("PX12345678"))]
    #[case::url_www_without_scheme("www.example.com/t/N9100001234567", Some("N9100001234567"))]
    #[case::label_on_second_line("Model: A920\r\nSN: PX12345678", Some("PX12345678"))]
    #[case::bare_line_after_model("Newland N910\nN9100001234567", Some("N9100001234567"))]
    #[case::chinese_label_with_full_width_colon("机身号：P3A012345678", Some("P3A012345678"))]
    #[case::chinese_label_glued("机身号N9100001234567", Some("N9100001234567"))]
    #[case::chinese_label_space("序列号 SN12345678", Some("SN12345678"))]
    #[case::full_width_digits_from_an_ime("ＳＮ１２３４５６７８", Some("SN12345678"))]
    // NFC: P3A012345678; barcode: None (it knew no Chinese labels).
    #[case::was_chinese_label_unknown_to_the_barcode_reader("机身号: P3A012345678", Some("P3A012345678"))]
    // NFC: None (no digit); barcode: ABCDEFGHJK. Words on a label are no serial.
    #[case::was_letters_only("ABCDEFGHJK", None)]
    // NFC: None (kept %2D); barcode: PX12345678 (decoded).
    #[case::was_percent_encoded_query_value("https://x.example/t?sn=PX%2D12345678", Some("PX12345678"))]
    // NFC: None (knew no `s/n` key); barcode: PX12345678.
    #[case::was_slash_key("https://x.example/a?s/n=PX12345678", Some("PX12345678"))]
    // NFC: PX12345678; barcode: the last path segment (knew no `serial_no`).
    #[case::was_serial_no_key("https://x.example/t/N9100001234567?serial_no=PX12345678", Some("PX12345678"))]
    // NFC: the path segment (split only on `&`); barcode: PX12345678.
    #[case::was_semicolon_query("https://x.example/t/N9100001234567?a=1;sn=PX12345678", Some("PX12345678"))]
    // NFC: PX12345678 (spaces folded); barcode: None. A label's value is one token.
    #[case::was_label_value_with_a_space("SN: PX1234 5678", None)]
    // NFC: 12345678 (hyphen as separator); barcode: SN12345678. Serials carry hyphens.
    #[case::was_hyphen_after_label("SN-12345678", Some("SN12345678"))]
    // NFC: None for a URL in a text record; barcode: N9100001234567.
    #[case::was_url_in_text("https://pos.example.com/t/N9100001234567", Some("N9100001234567"))]
    // NFC: the labelled P3A012345678; barcode: the first line's N9100001234567. A label says what it is.
    #[case::was_label_on_a_later_line("N9100001234567\nSN: P3A012345678", Some("P3A012345678"))]
    #[case::model_name_after_the_label_is_left_out("SN: N9100001234567 型号 N910", Some("N9100001234567"))]
    #[case::model_names_with_spaces("Newland N910 POS", None)]
    #[case::help_url("https://support.example.com/pos/help?model=A920&lang=zh", None)]
    #[case::site_root("https://pos.example.com/", None)]
    #[case::words_and_a_year("Hello World 2024", None)]
    #[case::too_short("168901", None)]
    #[case::placeholder("AAAAAAAAAA", None)]
    #[case::empty("", None)]
    #[case::only_a_label("SN:", None)]
    fn serial_from_text_reads_every_reader_s_text_the_same_way(
        #[case] text: &str,
        #[case] expected: Option<&str>,
    ) {
        assert_eq!(serial_from_text(text).as_deref(), expected, "{text:?}");
    }

    #[rstest]
    #[case::urn_query("urn:nfc:sn?serial=P3A012345678", Some("P3A012345678"))]
    #[case::phone_number("tel:13812345678", None)]
    #[case::mail("mailto:sn12345678@example.com", None)]
    #[case::ftp_with_user("ftp://anonymous:anonymous@host/N9100001234567", Some("N9100001234567"))]
    #[case::word_segment("https://www.example.com/download", None)]
    #[case::percent_encoded_segment("https://x.example/t/N91%300001234567", Some("N9100001234567"))]
    fn serial_from_uri_reads_queries_of_any_uri_and_paths_of_hierarchical_ones(
        #[case] uri: &str,
        #[case] expected: Option<&str>,
    ) {
        assert_eq!(serial_from_uri(uri).as_deref(), expected, "{uri:?}");
    }

    #[rstest]
    #[case::labelled("SN: PX12345678", Some("PX12345678"))]
    #[case::labelled_on_a_later_line("TID:12345678\nSN:0821674609", Some("0821674609"))]
    #[case::url_key("https://pos.example.com/t?sn=0821674609", Some("0821674609"))]
    #[case::url_path_names_nothing("https://pay.example.com/m/ABC12345678", None)]
    #[case::bare_token_says_nothing("0821674609", None)]
    #[case::part_number_key("P/N:A920-3AW-RD5-21EU", None)]
    fn told_serial_is_only_what_the_text_names(#[case] text: &str, #[case] expected: Option<&str>) {
        assert_eq!(told_serial(text).as_deref(), expected, "{text:?}");
    }

    #[test]
    fn serial_keys_ignore_case() {
        assert!(is_serial_key("SN") && is_serial_key("Serial_Number") && is_serial_key("S/N"));
        assert!(!is_serial_key("model") && !is_serial_key("snack"));
    }
}
