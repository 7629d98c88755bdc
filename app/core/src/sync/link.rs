//! The enrolment link: the server's address, its public-key pin and the
//! one-time code in one thing the agent types or scans.
//!
//! ```text
//! posfield://HOST[:PORT][/PATH]/CODE[?pin=sha256/BASE64]
//! ```
//!
//! stands for the server `https://HOST[:PORT][/PATH]/` and the code `CODE`
//! (`XXXX-XXXX-XXXX`); `pin` is the server key's pin (base64 in either
//! alphabet, padded or not) for a private deployment with its own
//! certificate. `posfield+http://` is the same for a plain-HTTP server,
//! which the phone accepts only on its own loopback address (tests and a
//! developer's machine). A scheme of its own keeps a link from being
//! mistaken for a web page to open, and lets a phone's camera hand it to
//! the app.

use posfield_sync_link_client::tls::SpkiPin;

use super::{SyncError, parse_server};

/// The scheme of an enrolment link to an HTTPS server.
pub const LINK_SCHEME: &str = "posfield";
/// The scheme of an enrolment link to a plain-HTTP loopback server.
pub const LINK_SCHEME_PLAIN: &str = "posfield+http";

/// A parsed enrolment link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnrolmentLink {
    /// The server's base address (ends with `/`).
    pub server: url::Url,
    /// The one-time enrolment code.
    pub code: String,
    /// The server key's pin, when the link carries one.
    pub pin: Option<SpkiPin>,
}

impl EnrolmentLink {
    /// Whether `text` is written as an enrolment link (rather than a server address).
    pub fn is_link(text: &str) -> bool {
        let text = text.trim().to_ascii_lowercase();
        [LINK_SCHEME, LINK_SCHEME_PLAIN].iter().any(|scheme| text.starts_with(&format!("{scheme}://")))
    }

    /// Reads a link; a malformed one is [`SyncError::BadLink`] with its text.
    pub fn parse(text: &str) -> Result<EnrolmentLink, SyncError> {
        let bad = || SyncError::BadLink(text.to_owned());
        let link = url::Url::parse(text.trim()).map_err(|_| bad())?;
        let scheme = match link.scheme() {
            LINK_SCHEME => "https",
            LINK_SCHEME_PLAIN => "http",
            _ => return Err(bad()),
        };
        if link.fragment().is_some() || !link.username().is_empty() || link.password().is_some() {
            return Err(bad());
        }
        let host = link.host_str().filter(|h| !h.is_empty()).ok_or_else(bad)?;
        let port = link.port().map(|p| format!(":{p}")).unwrap_or_default();
        let path = link.path().trim_start_matches('/');
        let (base, code) = path.rsplit_once('/').unwrap_or(("", path));
        let code = code.trim().to_ascii_uppercase();
        if code.is_empty() || !code.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
            return Err(bad());
        }
        let base = if base.is_empty() { String::new() } else { format!("{base}/") };
        let server = parse_server(&format!("{scheme}://{host}{port}/{base}"))?;
        let mut pin = None;
        for pair in link.query().unwrap_or_default().split('&').filter(|p| !p.is_empty()) {
            let (key, value) = pair.split_once('=').ok_or_else(bad)?;
            // Percent-decoded, never form-decoded: a `+` of standard base64 stays a `+`.
            let value = percent_encoding::percent_decode_str(value).decode_utf8().map_err(|_| bad())?;
            match key {
                "pin" if pin.is_none() => pin = Some(SpkiPin::parse(&value).map_err(|_| bad())?),
                "pin" => return Err(bad()),
                // A newer server's link may say more; what this phone does not know it leaves.
                _ => {}
            }
        }
        Ok(EnrolmentLink { server, code, pin })
    }

    /// The link, written back in its compact form.
    pub fn to_link(&self) -> String {
        let scheme = if self.server.scheme() == "https" { LINK_SCHEME } else { LINK_SCHEME_PLAIN };
        let host = self.server.host_str().unwrap_or_default();
        let port = self.server.port().map(|p| format!(":{p}")).unwrap_or_default();
        let pin = self.pin.map(|p| format!("?pin={}", p.to_link_form())).unwrap_or_default();
        format!("{scheme}://{host}{port}{}{}{pin}", self.server.path(), self.code)
    }
}

#[cfg(test)]
mod tests {
    use rstest::rstest;

    use super::*;

    const PIN: &str = "sha256/47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU";

    fn check(link: &str, server: &str, code: &str, pin: Option<&str>) {
        let parsed = EnrolmentLink::parse(link).unwrap();
        assert_eq!(parsed.server.as_str(), server, "{link}");
        assert_eq!(parsed.code, code, "{link}");
        assert_eq!(parsed.pin, pin.map(|p| SpkiPin::parse(p).unwrap()), "{link}");
        assert!(EnrolmentLink::is_link(link));
        // Written back, it reads the same.
        assert_eq!(EnrolmentLink::parse(&parsed.to_link()).unwrap(), parsed);
    }

    #[rstest]
    #[case::a_host_and_a_code(
        "posfield://pos.example.com/K7MQ-3XPD-9QWE",
        "https://pos.example.com/",
        "K7MQ-3XPD-9QWE",
        None
    )]
    #[case::a_port_and_a_pin(&format!("posfield://10.1.2.3:8443/K7MQ-3XPD-9QWE?pin={PIN}"), "https://10.1.2.3:8443/", "K7MQ-3XPD-9QWE", Some(PIN))]
    #[case::a_pin_in_standard_base64_escaped_or_not(
        "posfield://pos.example.com/k7mq-3xpd-9qwe?pin=sha256/47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU%3D",
        "https://pos.example.com/",
        "K7MQ-3XPD-9QWE",
        Some(PIN)
    )]
    #[case::a_server_under_a_path(
        "posfield://example.com/posfield/K7MQ-3XPD-9QWE",
        "https://example.com/posfield/",
        "K7MQ-3XPD-9QWE",
        None
    )]
    #[case::plain_http_on_loopback(
        "posfield+http://127.0.0.1:8080/K7MQ-3XPD-9QWE",
        "http://127.0.0.1:8080/",
        "K7MQ-3XPD-9QWE",
        None
    )]
    #[case::an_ipv6_host(
        "posfield://[2001:db8::1]:8443/K7MQ-3XPD-9QWE",
        "https://[2001:db8::1]:8443/",
        "K7MQ-3XPD-9QWE",
        None
    )]
    #[case::unknown_parameters_are_left(
        "posfield://pos.example.com/K7MQ-3XPD-9QWE?v=2",
        "https://pos.example.com/",
        "K7MQ-3XPD-9QWE",
        None
    )]
    fn a_link_gives_the_server_the_code_and_the_pin(
        #[case] link: &str,
        #[case] server: &str,
        #[case] code: &str,
        #[case] pin: Option<&str>,
    ) {
        check(link, server, code, pin);
    }

    #[rstest]
    #[case::a_server_address("https://pos.example.com/")]
    #[case::another_scheme("posfieldx://pos.example.com/K7MQ")]
    #[case::no_host("posfield:///K7MQ-3XPD-9QWE")]
    #[case::no_code("posfield://pos.example.com/")]
    #[case::no_path("posfield://pos.example.com")]
    #[case::a_code_with_other_characters("posfield://pos.example.com/K7MQ%20DROP")]
    #[case::a_bad_pin("posfield://pos.example.com/K7MQ-3XPD-9QWE?pin=sha256/AAAA")]
    #[case::a_pin_without_a_value("posfield://pos.example.com/K7MQ-3XPD-9QWE?pin")]
    #[case::two_pins(&format!("posfield://pos.example.com/K7MQ-3XPD-9QWE?pin={PIN}&pin={PIN}"))]
    #[case::credentials_in_the_link("posfield://user:secret@pos.example.com/K7MQ-3XPD-9QWE")]
    #[case::a_fragment("posfield://pos.example.com/K7MQ-3XPD-9QWE#x")]
    #[case::garbage("not a link")]
    fn a_malformed_link_is_refused_with_its_text(#[case] link: &str) {
        assert_eq!(EnrolmentLink::parse(link), Err(SyncError::BadLink(link.to_owned())));
    }

    #[test]
    fn a_link_to_a_plain_http_server_elsewhere_is_refused_as_insecure() {
        let link = "posfield+http://pos.example.com/K7MQ-3XPD-9QWE";
        assert!(matches!(EnrolmentLink::parse(link), Err(SyncError::InsecureServer(_))));
    }
}
