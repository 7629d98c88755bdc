//! Events from the core to the UI.
//!
//! - `sync`: every [`SyncEvent`] of the background sync (started, progress
//!   with documents and bytes, synced, failed with agent-facing words).
//! - `visit-changed`: a visit was saved (by the agent or merged by a sync);
//!   the payload is its id, or null when many may have changed.

use std::sync::{Arc, Mutex};

use posfield_core::background::SyncEvent;
use tauri::Emitter;

/// Event name for sync events.
pub(crate) const SYNC: &str = "sync";
/// Event name for store changes.
pub(crate) const VISIT_CHANGED: &str = "visit-changed";

/// Forwards a sync event to the UI and remembers it.
pub(crate) fn sync_event(app: &tauri::AppHandle, last: &Arc<Mutex<Option<SyncEvent>>>, event: SyncEvent) {
    let finished = matches!(event, SyncEvent::Synced { .. });
    let wiped = matches!(&event, SyncEvent::Synced { report } if report.wiped);
    if let Ok(mut slot) = last.lock() {
        *slot = Some(event.clone());
    }
    // A closed window is not an error worth stopping the sync for.
    let _ = app.emit(SYNC, &event);
    if finished {
        // The sync may have merged the back office's changes into any visit.
        let _ = app.emit(VISIT_CHANGED, Option::<String>::None);
    }
    if wiped {
        // The company wiped this phone: its keys and data are gone, and the
        // app starts again empty, at the enrolment screen.
        app.restart();
    }
}

/// Tells the UI a visit changed.
pub(crate) fn visit_changed(app: &tauri::AppHandle, visit_id: &posfield_shared::VisitId) {
    let _ = app.emit(VISIT_CHANGED, Some(visit_id));
}
