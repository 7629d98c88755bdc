//! What the shell holds while it runs: the agent facade for the UI's
//! actions and the background sync with its own agent on the same folder.

use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::Duration;

use posfield_core::Agent;
use posfield_core::background::{BackgroundSync, Schedule, SyncEvent};

use crate::error::{UiError, UiResult};
use crate::events;
use crate::network::Network;

/// How long after launch the background sync starts.
const SYNC_START_DELAY: Duration = Duration::from_secs(2);

/// The app's managed state.
pub(crate) struct AppState {
    agent: Mutex<Agent>,
    /// Started a moment after launch, so the first screen does not compete
    /// with a sync of everything that waits.
    sync: Arc<OnceLock<BackgroundSync>>,
    /// The last event of the background sync, for a screen opened mid-sync.
    pub(crate) last_sync_event: Arc<Mutex<Option<SyncEvent>>>,
    /// Which network the phone is on, for "photos on Wi-Fi only".
    pub(crate) network: Network,
}

impl AppState {
    /// Opens the agent on `dir`, its key in `keystore`, and starts the
    /// background sync, whose events go to the UI as Tauri events.
    pub(crate) fn open(
        dir: &Path,
        keystore: Arc<dyn posfield_core::Keystore>,
        app: tauri::AppHandle,
    ) -> Result<AppState, posfield_core::AgentError> {
        let mut agent = Agent::open(dir, keystore.clone())?;
        let network = Network::for_this_device();
        agent.use_connection_source(network.source());
        let connection = network.source();
        let last_sync_event = Arc::new(Mutex::new(None));
        let sink = Arc::clone(&last_sync_event);
        let sync = Arc::new(OnceLock::new());
        let slot = Arc::clone(&sync);
        let dir = dir.to_owned();
        std::thread::Builder::new()
            .name("posfield-sync-start".into())
            .spawn(move || {
                std::thread::sleep(SYNC_START_DELAY);
                let on_event = move |event| events::sync_event(&app, &sink, event);
                match BackgroundSync::start_with_connection(
                    dir,
                    keystore,
                    Schedule::default(),
                    connection,
                    on_event,
                ) {
                    // The worker syncs at once by itself when work waits.
                    Ok(worker) => drop(slot.set(worker)),
                    Err(error) => eprintln!("posfield-app: the background sync did not start: {error}"),
                }
            })
            .map_err(|e| {
                posfield_core::sync::SyncError::Interrupted(format!("cannot start the sync thread: {e}"))
            })?;
        Ok(AppState { agent: Mutex::new(agent), sync, last_sync_event, network })
    }

    /// The agent, for one command.
    pub(crate) fn agent(&self) -> UiResult<MutexGuard<'_, Agent>> {
        self.agent
            .lock()
            .map_err(|_| UiError::new("storage", "the agent is unavailable after an earlier failure"))
    }

    /// Asks the background sync to run now.
    pub(crate) fn sync_now(&self) {
        // Before the worker starts there is nothing to poke: it syncs on start.
        if let Some(sync) = self.sync.get() {
            sync.sync_now();
        }
    }
}
