//! Sync connections per device, and the end of a revoked device's.
//!
//! The server serves [`crate::config::Config::max_sync_sessions`] sync
//! connections at once; without a cap per device, one phone could open
//! them all and hold them idle. A device gets at most
//! [`crate::config::Config::max_sync_sessions_per_device`] connections
//! open or waiting for a turn: a [`Slot`] is taken before the handshake
//! and given back when the connection ends, and a request without one is
//! answered 429. An idle connection is closed by its
//! [`posfield_sync_link_server::Limits::idle`].
//!
//! A device may be revoked by another process (`posfield-server
//! revoke-device` on the same data folder), so an open connection asks the
//! store every [`REVOCATION_POLL`] whether its device still may sync
//! ([`until_revoked`]), and ends at once when not.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use crate::store::Store;

/// How often an open sync connection checks that its device is not revoked.
pub const REVOCATION_POLL: Duration = Duration::from_secs(1);

/// The sync connections each device has open or waiting.
#[derive(Debug)]
pub struct SyncSlots {
    per_device: usize,
    open: Mutex<HashMap<String, usize>>,
}

/// One of a device's sync connections; given back when dropped.
#[derive(Debug)]
pub struct Slot {
    slots: Arc<SyncSlots>,
    device: String,
}

impl SyncSlots {
    /// At most `per_device` connections per device (at least one).
    pub fn new(per_device: usize) -> SyncSlots {
        SyncSlots { per_device: per_device.max(1), open: Mutex::default() }
    }

    /// A slot for `device`, or `None` when it has all of its own.
    pub fn take(self: &Arc<Self>, device: &str) -> Option<Slot> {
        let mut open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        let count = open.entry(device.to_owned()).or_insert(0);
        if *count >= self.per_device {
            return None;
        }
        *count += 1;
        Some(Slot { slots: self.clone(), device: device.to_owned() })
    }

    /// Connections `device` has open or waiting.
    pub fn held(&self, device: &str) -> usize {
        self.open.lock().unwrap_or_else(PoisonError::into_inner).get(device).copied().unwrap_or(0)
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut open = self.slots.open.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(count) = open.get_mut(&self.device) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                open.remove(&self.device);
            }
        }
    }
}

/// Resolves once `device` is revoked (or gone), checking every
/// [`REVOCATION_POLL`]; a store that fails is asked again at the next.
pub async fn until_revoked(store: Arc<dyn Store>, device: String) {
    let mut every = tokio::time::interval(REVOCATION_POLL);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        every.tick().await;
        if let Ok(false) = store.device_may_sync(&device).await {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_device_holds_at_most_its_slots_and_gets_them_back() {
        let slots = Arc::new(SyncSlots::new(2));
        let first = slots.take("li").unwrap();
        let second = slots.take("li").unwrap();
        assert!(slots.take("li").is_none(), "a third connection of one device");
        assert!(slots.take("wang").is_some(), "another device is not held back");
        drop(first);
        assert_eq!(slots.held("li"), 1);
        assert!(slots.take("li").is_some());
        drop(second);
    }

    #[tokio::test]
    async fn a_connection_ends_once_its_device_is_revoked() {
        let dir = tempfile::tempdir().unwrap();
        let store: Arc<dyn Store> =
            Arc::new(crate::store::sqlite::SqliteStore::open(&dir.path().join("s.db")).unwrap());
        let code = crate::auth::issue_enrolment_code(store.as_ref(), "li").await.unwrap();
        let key = "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c";
        let now = crate::clock::now();
        let device = crate::auth::enrol(store.as_ref(), &code, "p", "", key, now).await.unwrap().device_id;
        let watch = tokio::spawn(until_revoked(store.clone(), device.clone()));
        tokio::time::sleep(REVOCATION_POLL * 2).await;
        assert!(!watch.is_finished(), "a valid device's connection was ended");
        assert!(crate::auth::revoke_device(store.as_ref(), &device).await.unwrap());
        tokio::time::timeout(REVOCATION_POLL * 3, watch).await.expect("ended after the revocation").unwrap();
    }
}
