//! Sync connections per device that are open or whose documents are still
//! being projected, so that a manifest answers only once what the device's
//! last connection wrote is in the projection.
//!
//! A connection stores nothing the device sends (its changes go through
//! the push), but samod saves again, or compacts, the documents it loaded,
//! and those visits are projected after the connection closes. An agent
//! closes its sync connection and then asks for the manifest; the server
//! may see the request before it has noticed the close. Waiting keeps the
//! manifest's answer from racing that projection.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Notify;

/// Counts of unsettled sync connections by device id.
#[derive(Debug, Default)]
pub struct InFlight {
    counts: Mutex<HashMap<String, usize>>,
    changed: Notify,
}

/// A connection counted as unsettled until dropped.
#[derive(Debug)]
pub struct Unsettled {
    in_flight: Arc<InFlight>,
    device: String,
}

impl Drop for Unsettled {
    fn drop(&mut self) {
        if let Ok(mut counts) = self.in_flight.counts.lock()
            && let Some(count) = counts.get_mut(&self.device)
        {
            *count -= 1;
            if *count == 0 {
                counts.remove(&self.device);
            }
        }
        self.in_flight.changed.notify_waiters();
    }
}

impl InFlight {
    /// Counts a connection of `device` until the returned guard is dropped.
    pub fn begin(self: &Arc<Self>, device: &str) -> Unsettled {
        if let Ok(mut counts) = self.counts.lock() {
            *counts.entry(device.to_owned()).or_default() += 1;
        }
        Unsettled { in_flight: self.clone(), device: device.to_owned() }
    }

    fn unsettled(&self, device: &str) -> bool {
        self.counts.lock().map(|counts| counts.contains_key(device)).unwrap_or(false)
    }

    /// Waits until no connection of `device` is unsettled, at most `limit`.
    /// Returns whether they all settled.
    pub async fn settled(&self, device: &str, limit: Duration) -> bool {
        let wait = async {
            loop {
                let changed = self.changed.notified();
                tokio::pin!(changed);
                changed.as_mut().enable();
                if !self.unsettled(device) {
                    return;
                }
                changed.await;
            }
        };
        tokio::time::timeout(limit, wait).await.is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn waits_for_the_devices_own_connections_only() {
        let in_flight = Arc::new(InFlight::default());
        let first = in_flight.begin("d1");
        let second = in_flight.begin("d1");
        let _other = in_flight.begin("d2");
        assert!(!in_flight.settled("d1", Duration::from_millis(20)).await);
        assert!(in_flight.settled("d3", Duration::from_millis(20)).await);
        let waiter = {
            let in_flight = in_flight.clone();
            tokio::spawn(async move { in_flight.settled("d1", Duration::from_secs(10)).await })
        };
        drop(first);
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!waiter.is_finished(), "one connection of d1 is still open");
        drop(second);
        assert!(waiter.await.unwrap());
        assert!(!in_flight.settled("d2", Duration::from_millis(20)).await);
    }
}
