//! The sync that runs by itself: a worker thread with its own [`Agent`] on
//! the phone's data folder, syncing when asked (an edit, connectivity back,
//! the agent pulling to refresh), on a timer when all is well, and after a
//! growing, spread-out delay when the server cannot be reached.
//!
//! Everything it needs to know survives the app being killed: the failure
//! count, the last error and whether a sync was cut are in the store
//! ([`Agent::sync_status`]), so a restarted app picks up where it stood: a
//! cut sync or unsynced work is synced at once, a failing server is retried
//! after the delay the failure count gives.
//!
//! Photos left for Wi-Fi ("photos on Wi-Fi only" on mobile data) are not
//! work to retry: a sync that left them ended well, and the worker waits
//! its interval, or until the app says the network changed
//! ([`BackgroundSync::sync_now`]); it syncs at once when it finds them
//! waiting on a network where they may go.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread::JoinHandle;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::agent::{Agent, AgentError};
use crate::network::{Connection, ConnectionSource, photos_wait};
use crate::sync::{Progress, SyncReport, SyncStatus};

/// When to sync again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Schedule {
    /// Delay after the first failure.
    pub first_retry: Duration,
    /// Longest delay between retries.
    pub max_retry: Duration,
    /// Delay between syncs while everything succeeds (to pick up the back
    /// office's changes).
    pub interval: Duration,
}

impl Default for Schedule {
    fn default() -> Self {
        Schedule {
            first_retry: Duration::from_secs(5),
            max_retry: Duration::from_secs(10 * 60),
            interval: Duration::from_secs(5 * 60),
        }
    }
}

impl Schedule {
    /// The delay before retrying after `failures` failed syncs in a row.
    /// It doubles from `first_retry` up to `max_retry`, then is spread over
    /// 50-100 % of that by `spread` (a per-device number), so a fleet whose
    /// server comes back does not return at the same instant.
    pub fn retry_delay(&self, failures: u32, spread: u64) -> Duration {
        if failures == 0 {
            return self.interval;
        }
        let doubled = self.first_retry.saturating_mul(1u32 << (failures - 1).min(20));
        let capped = doubled.min(self.max_retry);
        // An integer hash of (spread, failures): differs per device and per retry.
        let mixed = (spread ^ u64::from(failures).wrapping_mul(0x9E37_79B9_7F4A_7C15))
            .wrapping_mul(0xBF58_476D_1CE4_E5B9)
            .rotate_left(31);
        let fraction = 0.5 + (mixed % 1000) as f64 / 2000.0;
        capped.mul_f64(fraction)
    }

    /// How long to wait before the next sync, given where the sync stands,
    /// the network the phone is on and the time now (ms since epoch): at
    /// once for a cut sync, and, while nothing fails, for documents waiting
    /// or for photos waiting on a network where they may now go.
    pub fn next_delay(&self, status: &SyncStatus, connection: Connection, spread: u64, now: i64) -> Duration {
        if status.enrolled_agent.is_none() {
            // Nothing to do until the phone is enrolled and asks.
            return Duration::MAX;
        }
        let documents_waiting = status.unsynced_visits > status.visits_waiting_for_photos;
        let photos_may_go =
            status.visits_waiting_for_photos > 0 && !photos_wait(status.photos_on_wifi_only, connection);
        if status.interrupted || (status.failures == 0 && (documents_waiting || photos_may_go)) {
            return Duration::ZERO;
        }
        let delay = self.retry_delay(status.failures, spread);
        // Counted from the end of the failed attempt: a long sync cut near
        // its end is not retried at once, into the same outage.
        let since = status
            .last_error
            .as_ref()
            .map(|failure| failure.at)
            .or(status.last_attempt)
            .map_or(u64::MAX, |at| now.saturating_sub(at).max(0) as u64);
        delay.saturating_sub(Duration::from_millis(since))
    }
}

/// What the background sync reports, for the UI to show.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum SyncEvent {
    /// A sync started; `resumed` when the previous one was cut.
    Started {
        /// The previous sync never ended (app killed, phone died).
        resumed: bool,
    },
    /// A step of the running sync finished.
    Progress(Progress),
    /// Everything is on the server.
    Synced {
        /// What the sync did.
        report: SyncReport,
    },
    /// The sync failed; it is retried by itself after `retry_in_ms`
    /// (or only when asked, for `not_enrolled` and a refused credential).
    Failed {
        /// Stable code (`offline`, `refused`, ...).
        code: String,
        /// The agent-facing words.
        message: String,
        /// Failures in a row.
        failures: u32,
        /// When it is tried again by itself, if it is.
        retry_in_ms: Option<u64>,
        /// The oldest app version the server syncs with, when it refused
        /// this one (`app_too_old`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        minimum_app_version: Option<String>,
    },
}

enum Command {
    SyncNow,
    Stop,
}

/// The running background sync. Dropping it stops the worker after the
/// current sync (each sync is bounded by its own deadlines).
#[derive(Debug)]
pub struct BackgroundSync {
    commands: mpsc::Sender<Command>,
    worker: Option<JoinHandle<()>>,
}

impl BackgroundSync {
    /// Starts the worker on the data folder `data_dir`, its key in
    /// `keystore` (the worker opens its own [`Agent`] there); `on_event`
    /// receives every [`SyncEvent`] on the worker thread. The worker cannot
    /// tell which network it is on ([`crate::network::Desktop`]).
    pub fn start(
        data_dir: PathBuf,
        keystore: Arc<dyn crate::keystore::Keystore>,
        schedule: Schedule,
        on_event: impl FnMut(SyncEvent) + Send + 'static,
    ) -> Result<BackgroundSync, AgentError> {
        Self::start_with_connection(data_dir, keystore, schedule, Arc::new(crate::network::Desktop), on_event)
    }

    /// [`BackgroundSync::start`] on a phone: `connection` says which network
    /// it is on, for "photos on Wi-Fi only".
    pub fn start_with_connection(
        data_dir: PathBuf,
        keystore: Arc<dyn crate::keystore::Keystore>,
        schedule: Schedule,
        connection: Arc<dyn ConnectionSource>,
        on_event: impl FnMut(SyncEvent) + Send + 'static,
    ) -> Result<BackgroundSync, AgentError> {
        let mut agent = Agent::open(&data_dir, keystore)?;
        agent.use_connection_source(connection);
        let (commands, inbox) = mpsc::channel();
        let worker = std::thread::Builder::new()
            .name("posfield-sync".into())
            .spawn(move || run(agent, schedule, inbox, on_event))
            .map_err(|e| crate::sync::SyncError::Interrupted(format!("cannot start the sync thread: {e}")))?;
        Ok(BackgroundSync { commands, worker: Some(worker) })
    }

    /// Asks for a sync now (an edit was saved, the network came back, the
    /// agent asked). Requests made during a sync coalesce into one more.
    pub fn sync_now(&self) {
        let _ = self.commands.send(Command::SyncNow);
    }

    /// Stops the worker, waiting for a running sync to end.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        let _ = self.commands.send(Command::Stop);
        if let Some(worker) = self.worker.take() {
            let _ = worker.join();
        }
    }
}

impl Drop for BackgroundSync {
    fn drop(&mut self) {
        self.shutdown();
    }
}

fn spread_of(device_id: &str) -> u64 {
    // FNV-1a: a stable per-device number, not a secret.
    device_id
        .bytes()
        .fold(0xcbf2_9ce4_8422_2325, |hash, byte| (hash ^ u64::from(byte)).wrapping_mul(0x100_0000_01b3))
}

fn run(
    mut agent: Agent,
    schedule: Schedule,
    inbox: mpsc::Receiver<Command>,
    mut on_event: impl FnMut(SyncEvent),
) {
    let spread = spread_of(agent.device_id());
    let mut asked = false;
    loop {
        if !asked {
            let wait = match agent.sync_status() {
                Ok(status) => schedule.next_delay(&status, agent.connection(), spread, agent.now_millis()),
                Err(_) => schedule.max_retry,
            };
            let command = if wait == Duration::MAX {
                inbox.recv().map_err(|_| RecvTimeoutError::Disconnected)
            } else {
                inbox.recv_timeout(wait)
            };
            match command {
                Ok(Command::Stop) | Err(RecvTimeoutError::Disconnected) => return,
                Ok(Command::SyncNow) | Err(RecvTimeoutError::Timeout) => {}
            }
        }
        asked = false;
        let resumed = agent.sync_status().map(|s| s.interrupted).unwrap_or(false);
        // Announced with the first progress, once the attempt is on record.
        let mut started = false;
        let mut announce = |on_event: &mut dyn FnMut(SyncEvent)| {
            if !std::mem::replace(&mut started, true) {
                on_event(SyncEvent::Started { resumed });
            }
        };
        let outcome = agent.sync(&mut |progress| {
            announce(&mut on_event);
            on_event(SyncEvent::Progress(progress));
        });
        announce(&mut on_event);
        // Requests that came in during the sync: one more sync covers them all.
        for command in inbox.try_iter() {
            match command {
                Command::Stop => return,
                Command::SyncNow => asked = true,
            }
        }
        match outcome {
            // The phone was wiped: nothing is left to sync, ever.
            Ok(report) if report.wiped => return on_event(SyncEvent::Synced { report }),
            Ok(report) => on_event(SyncEvent::Synced { report }),
            Err(error) => {
                let failures = agent.sync_status().map(|s| s.failures).unwrap_or(1);
                let waits_for_agent =
                    matches!(error.code(), "not_enrolled" | "bad_server" | "insecure_server")
                        || matches!(&error, AgentError::Sync(sync) if sync.needs_someone());
                let retry_in_ms = (!waits_for_agent).then(|| {
                    schedule.retry_delay(failures, spread).as_millis().try_into().unwrap_or(u64::MAX)
                });
                on_event(SyncEvent::Failed {
                    code: error.code().to_owned(),
                    message: error.to_string(),
                    failures,
                    retry_in_ms,
                    minimum_app_version: error.minimum_app_version().map(str::to_owned),
                });
                if waits_for_agent && !asked {
                    // Retrying cannot help: wait until asked (new enrolment, settings).
                    match inbox.recv() {
                        Ok(Command::SyncNow) => asked = true,
                        Ok(Command::Stop) | Err(_) => return,
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(failures: u32, last_attempt: Option<i64>) -> SyncStatus {
        SyncStatus {
            enrolled_agent: Some("agent-li".into()),
            server: Some("http://127.0.0.1:8080/".into()),
            last_success: None,
            last_attempt,
            failures,
            last_error: None,
            interrupted: false,
            unsynced_visits: 0,
            credential_expires_at: None,
            photos_on_wifi_only: false,
            photos_waiting_for_wifi: 0,
            visits_waiting_for_photos: 0,
            data_used: crate::usage::Traffic::default(),
        }
    }

    #[test]
    fn retries_double_up_to_the_cap_and_are_spread() {
        let schedule = Schedule::default();
        let delays: Vec<Duration> = (1..=12).map(|n| schedule.retry_delay(n, 42)).collect();
        for (n, delay) in delays.iter().enumerate() {
            let full = Duration::from_secs(5).saturating_mul(1 << n).min(Duration::from_secs(600));
            assert!(
                *delay >= full / 2 && *delay <= full,
                "failure {}: {delay:?} not in [{:?}, {full:?}]",
                n + 1,
                full / 2
            );
        }
        assert!(delays[11] <= Duration::from_secs(600));
        assert!(delays[5] > delays[0] * 4, "{delays:?}");
        // A fleet coming back does not retry in step.
        let fleet: std::collections::BTreeSet<Duration> =
            (0..200).map(|device| schedule.retry_delay(3, spread_of(&format!("device-{device}")))).collect();
        assert!(fleet.len() > 100, "only {} distinct delays for 200 phones", fleet.len());
        assert!(schedule.retry_delay(u32::MAX, 7) <= Duration::from_secs(600));
        assert_eq!(schedule.retry_delay(0, 7), schedule.interval);
    }

    #[test]
    fn the_next_sync_follows_the_stored_status() {
        let schedule = Schedule::default();
        let now = 1_795_000_000_000;
        // Unsynced work with no failure, or a cut sync: at once.
        let mut unsynced = status(0, Some(now - 1_000));
        unsynced.unsynced_visits = 3;
        assert_eq!(schedule.next_delay(&unsynced, Connection::Unknown, 1, now), Duration::ZERO);
        let mut cut = status(4, Some(now - 1_000));
        cut.interrupted = true;
        assert_eq!(schedule.next_delay(&cut, Connection::Unknown, 1, now), Duration::ZERO);
        // Failing: the retry delay counted from the last attempt, across restarts.
        let failing = status(2, Some(now - 3_000));
        let full = schedule.retry_delay(2, 1);
        assert_eq!(schedule.next_delay(&failing, Connection::Unknown, 1, now), full - Duration::from_secs(3));
        assert_eq!(
            schedule.next_delay(&status(2, Some(now - 3_600_000)), Connection::Unknown, 1, now),
            Duration::ZERO
        );
        // A long attempt that failed near its end: counted from its failure,
        // not from its start, so it is not retried at once into the outage
        // that cut it.
        let mut long = status(1, Some(now - 40_000));
        long.last_error = Some(crate::sync::SyncFailure {
            code: "offline".into(),
            message: "cut".into(),
            at: now - 1_000,
            minimum_app_version: None,
        });
        let full = schedule.retry_delay(1, 1);
        assert_eq!(schedule.next_delay(&long, Connection::Unknown, 1, now), full - Duration::from_secs(1));
        // All well: the interval.
        assert_eq!(
            schedule.next_delay(&status(0, Some(now)), Connection::Unknown, 1, now),
            schedule.interval
        );
        // Not enrolled: only when asked.
        let mut fresh = status(0, None);
        fresh.enrolled_agent = None;
        assert_eq!(schedule.next_delay(&fresh, Connection::Unknown, 1, now), Duration::MAX);
    }

    /// Photos left for Wi-Fi are no failure and no work to retry on mobile
    /// data: the worker waits its interval there (no loop of syncs that
    /// send nothing), and syncs at once on Wi-Fi, where the phone cannot
    /// tell, or when the agent turned the option off.
    #[test]
    fn photos_waiting_for_wifi_wait_on_mobile_data_and_go_at_once_elsewhere() {
        let schedule = Schedule::default();
        let now = 1_795_000_000_000;
        let mut waiting = status(0, Some(now));
        waiting.photos_on_wifi_only = true;
        waiting.unsynced_visits = 2;
        waiting.visits_waiting_for_photos = 2;
        waiting.photos_waiting_for_wifi = 5;
        assert_eq!(schedule.next_delay(&waiting, Connection::Cellular, 1, now), schedule.interval);
        assert_eq!(schedule.next_delay(&waiting, Connection::Wifi, 1, now), Duration::ZERO);
        assert_eq!(schedule.next_delay(&waiting, Connection::Unknown, 1, now), Duration::ZERO);
        let mut turned_off = waiting.clone();
        turned_off.photos_on_wifi_only = false;
        assert_eq!(schedule.next_delay(&turned_off, Connection::Cellular, 1, now), Duration::ZERO);
        // A visit edited since (its document waits too) goes at once, on any network.
        let mut edited = waiting.clone();
        edited.unsynced_visits = 3;
        assert_eq!(schedule.next_delay(&edited, Connection::Cellular, 1, now), Duration::ZERO);
        // A failing server is retried after its delay, photos or not.
        let mut failing = waiting;
        failing.failures = 2;
        assert_eq!(schedule.next_delay(&failing, Connection::Wifi, 1, now), schedule.retry_delay(2, 1));
    }
}
