//! What kind of network the phone is on, for the "photos on Wi-Fi only"
//! option: on mobile data the visit documents still go at once and the
//! photos wait; on Wi-Fi, and whenever the phone cannot tell, everything goes.
//!
//! Only a phone knows its network, so the sync asks a [`ConnectionSource`]:
//! [`Desktop`] on a desktop (and in the CLI), which cannot tell, and
//! [`Reported`] on a phone, fed by the app shell with what the WebView says
//! (`navigator.connection.type`, read by [`Connection::from_web_type`]).
//! Android's WebView reports the type; iOS's WKWebView has no
//! `navigator.connection`, so an iPhone always reports
//! [`Connection::Unknown`].
//!
//! Unknown means "send the photos": a phone that cannot tell which network
//! it is on must not strand the merchant's documents and signature on
//! itself, where a lost or broken phone loses them, to save the agent some
//! data. Evidence missing at the back office costs more than the megabytes.

use std::sync::atomic::{AtomicU8, Ordering};

use serde::{Deserialize, Serialize};

/// The kind of network the phone is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Connection {
    /// Wi-Fi or a wired network: no data charges.
    Wifi,
    /// Mobile data (3G/4G/5G), or a link that ends in it (Bluetooth
    /// tethering, WiMAX): the agent pays by the megabyte.
    Cellular,
    /// The phone cannot tell (iOS, a desktop, a WebView without the API, no
    /// network at all): treated as Wi-Fi.
    Unknown,
}

impl Connection {
    /// Reads the Network Information API's `type` (`navigator.connection.type`
    /// in the WebView): `wifi` and `ethernet` are Wi-Fi; `cellular`, `wimax`
    /// and `bluetooth` (tethered to another phone's data) are cellular;
    /// `none`, `mixed`, `other`, `unknown`, anything else and no value at
    /// all are unknown.
    pub fn from_web_type(web_type: Option<&str>) -> Connection {
        match web_type.map(|t| t.trim().to_ascii_lowercase()).as_deref() {
            Some("wifi" | "ethernet") => Connection::Wifi,
            Some("cellular" | "wimax" | "bluetooth") => Connection::Cellular,
            _ => Connection::Unknown,
        }
    }

    /// Parses the stable code (`wifi`, `cellular`, `unknown`).
    pub fn from_code(code: &str) -> Option<Connection> {
        match code {
            "wifi" => Some(Connection::Wifi),
            "cellular" => Some(Connection::Cellular),
            "unknown" => Some(Connection::Unknown),
            _ => None,
        }
    }

    /// The stable code.
    pub fn code(self) -> &'static str {
        match self {
            Connection::Wifi => "wifi",
            Connection::Cellular => "cellular",
            Connection::Unknown => "unknown",
        }
    }

    fn to_byte(self) -> u8 {
        match self {
            Connection::Unknown => 0,
            Connection::Wifi => 1,
            Connection::Cellular => 2,
        }
    }

    fn from_byte(byte: u8) -> Connection {
        match byte {
            1 => Connection::Wifi,
            2 => Connection::Cellular,
            _ => Connection::Unknown,
        }
    }
}

/// Whether a sync holds the photos back: only when the agent chose
/// "photos on Wi-Fi only" and the phone knows it is on mobile data.
pub fn photos_wait(photos_on_wifi_only: bool, connection: Connection) -> bool {
    photos_on_wifi_only && connection == Connection::Cellular
}

/// Where a sync learns which network the phone is on.
pub trait ConnectionSource: Send + Sync + std::fmt::Debug {
    /// The network now.
    fn connection(&self) -> Connection;
}

/// A desktop, and the CLI: no way to tell, so [`Connection::Unknown`], and
/// every photo goes.
#[derive(Debug, Clone, Copy, Default)]
pub struct Desktop;

impl ConnectionSource for Desktop {
    fn connection(&self) -> Connection {
        Connection::Unknown
    }
}

/// What the phone last reported (the app shell passes on the WebView's
/// reading at start and at every change); [`Connection::Unknown`] until the
/// first report. Shared between the shell and the background sync.
#[derive(Debug, Default)]
pub struct Reported {
    connection: AtomicU8,
}

impl Reported {
    /// Nothing reported yet: unknown.
    pub fn new() -> Reported {
        Reported::default()
    }

    /// Records the network now; returns the one it replaces.
    pub fn set(&self, connection: Connection) -> Connection {
        Connection::from_byte(self.connection.swap(connection.to_byte(), Ordering::SeqCst))
    }
}

impl ConnectionSource for Reported {
    fn connection(&self) -> Connection {
        Connection::from_byte(self.connection.load(Ordering::SeqCst))
    }
}

#[cfg(test)]
mod tests {
    use rstest::rstest;

    use super::*;

    #[rstest]
    #[case::wifi(Some("wifi"), Connection::Wifi)]
    #[case::a_cable(Some("ethernet"), Connection::Wifi)]
    #[case::mobile_data(Some("cellular"), Connection::Cellular)]
    #[case::upper_case_and_spaces(Some(" Cellular "), Connection::Cellular)]
    #[case::wimax(Some("wimax"), Connection::Cellular)]
    #[case::tethered_over_bluetooth(Some("bluetooth"), Connection::Cellular)]
    #[case::no_network(Some("none"), Connection::Unknown)]
    #[case::several_at_once(Some("mixed"), Connection::Unknown)]
    #[case::other(Some("other"), Connection::Unknown)]
    #[case::the_browser_cannot_tell(Some("unknown"), Connection::Unknown)]
    #[case::a_word_from_a_future_browser(Some("satellite"), Connection::Unknown)]
    #[case::no_network_information_api_as_on_ios(None, Connection::Unknown)]
    fn the_webviews_network_type_is_read_as_one_of_three(
        #[case] web_type: Option<&str>,
        #[case] expected: Connection,
    ) {
        assert_eq!(Connection::from_web_type(web_type), expected);
    }

    #[rstest]
    #[case::off_on_mobile_data(false, Connection::Cellular, false)]
    #[case::on_on_mobile_data(true, Connection::Cellular, true)]
    #[case::on_on_wifi(true, Connection::Wifi, false)]
    #[case::on_when_the_phone_cannot_tell(true, Connection::Unknown, false)]
    #[case::off_when_the_phone_cannot_tell(false, Connection::Unknown, false)]
    fn photos_wait_only_on_mobile_data_the_phone_knows_of(
        #[case] option: bool,
        #[case] connection: Connection,
        #[case] wait: bool,
    ) {
        assert_eq!(photos_wait(option, connection), wait);
    }

    #[test]
    fn a_desktop_cannot_tell_and_sends_every_photo() {
        assert_eq!(Desktop.connection(), Connection::Unknown);
        assert!(!photos_wait(true, Desktop.connection()));
    }

    #[test]
    fn the_phone_reports_and_the_sync_reads_the_latest() {
        let reported = Reported::new();
        assert_eq!(reported.connection(), Connection::Unknown, "nothing reported yet");
        assert_eq!(reported.set(Connection::Cellular), Connection::Unknown);
        assert_eq!(reported.connection(), Connection::Cellular);
        assert_eq!(reported.set(Connection::Wifi), Connection::Cellular);
        assert_eq!(reported.connection(), Connection::Wifi);
        for connection in [Connection::Wifi, Connection::Cellular, Connection::Unknown] {
            assert_eq!(Connection::from_code(connection.code()), Some(connection));
        }
        assert_eq!(Connection::from_code("4g"), None);
    }
}
