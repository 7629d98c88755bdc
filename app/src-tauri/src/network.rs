//! Which network the phone is on, as the shell learns it: the UI reads the
//! WebView's `navigator.connection.type` at start and at every change and
//! passes it to the command `report_connection`.
//!
//! On a phone the reading goes to the core's [`Reported`], which the
//! background sync asks at every sync (Android's WebView knows the type;
//! iOS's has no `navigator.connection`, so an iPhone reads as unknown). A
//! desktop has no mobile data to spare and its WebView may say anything, so
//! its syncs use [`Desktop`], which always says unknown: every photo goes.

use std::sync::Arc;

use posfield_core::network::{Connection, ConnectionSource, Desktop, Reported};

/// The network as reported, and the source the syncs ask.
#[derive(Debug)]
pub(crate) struct Network {
    reported: Arc<Reported>,
    source: Arc<dyn ConnectionSource>,
}

impl Network {
    /// The phone's: syncs use what the UI reports.
    #[cfg(mobile)]
    pub(crate) fn for_this_device() -> Network {
        let reported = Arc::new(Reported::new());
        Network { source: reported.clone(), reported }
    }

    /// A desktop's: syncs cannot tell, whatever the UI reports.
    #[cfg(not(mobile))]
    pub(crate) fn for_this_device() -> Network {
        Network::desktop()
    }

    /// The desktop's: reports are kept, and syncs read unknown.
    #[cfg_attr(mobile, allow(dead_code))]
    fn desktop() -> Network {
        Network { reported: Arc::new(Reported::new()), source: Arc::new(Desktop) }
    }

    /// What the syncs ask.
    pub(crate) fn source(&self) -> Arc<dyn ConnectionSource> {
        self.source.clone()
    }

    /// Takes the WebView's reading (`navigator.connection.type`, or none);
    /// returns the network the syncs now see and whether it changed for them.
    pub(crate) fn report(&self, web_type: Option<&str>) -> (Connection, bool) {
        let before = self.source.connection();
        self.reported.set(Connection::from_web_type(web_type));
        let now = self.source.connection();
        (now, now != before)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_desktop_sees_unknown_whatever_its_webview_reports() {
        let network = Network::desktop();
        for reading in [Some("cellular"), Some("wifi"), None] {
            assert_eq!(network.report(reading), (Connection::Unknown, false), "{reading:?}");
        }
        assert_eq!(network.source().connection(), Connection::Unknown);
    }

    #[test]
    fn a_phone_sees_what_its_webview_reports_and_each_change_once() {
        let reported = Arc::new(Reported::new());
        let network = Network { source: reported.clone(), reported };
        assert_eq!(network.report(Some("cellular")), (Connection::Cellular, true));
        assert_eq!(network.report(Some("cellular")), (Connection::Cellular, false));
        assert_eq!(network.report(Some("wifi")), (Connection::Wifi, true));
        assert_eq!(network.source().connection(), Connection::Wifi);
        // iOS: no reading at all.
        assert_eq!(network.report(None), (Connection::Unknown, true));
    }
}
