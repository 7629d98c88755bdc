//! The poor-signal run (`--poor-signal`): one agent's day, built by the
//! same workload as the load run, synced by the phone's real background
//! worker (`posfield_core::background`, its default `Schedule` choosing
//! every retry delay) through a shaper that behaves like a poor mobile link
//! (`posfield-shaper`: bandwidth each way, round trip, loss as TCP feels it,
//! cuts with an outage), in front of the counting proxy and a real
//! `posfield-server`.
//!
//! It reports when every document and every photo was on the server, the
//! bytes each way (on the link, and by class at the server's door), the
//! syncs tried and why they failed, the cuts and which of them hit a sync,
//! and a timeline of what the agent would see meanwhile: the sync's state,
//! the visits and photos still waiting, the failures in a row and the last
//! error, read from the phone's store through a second `Agent` as the app's
//! screens read it.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::{Duration, Instant};

use anyhow::Context;
use posfield_core::Agent;
use posfield_core::background::{BackgroundSync, Schedule, SyncEvent};
use posfield_core::sync::{Phase, Progress};
use posfield_shaper::{Counts, Cuts, Link, Shaper};
use posfield_shared::VisitId;

use crate::posfield;
use crate::proxy::{self, Class, Classify, Snapshot};
use crate::report::{mb, secs};
use crate::workload::{self, Shape};

/// The poor-signal run's settings.
#[derive(Debug, clap::Args)]
pub(crate) struct Signal {
    /// Instead of the load run: one agent's day (`--visits`, `--seed`)
    /// synced by the phone's background worker through a shaped poor mobile
    /// link, with the settings below.
    #[arg(long)]
    pub(crate) poor_signal: bool,
    /// With --poor-signal: the phone's upload rate, in kbit/s.
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u64).range(1..))]
    up_kbit: u64,
    /// With --poor-signal: the phone's download rate, in kbit/s.
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u64).range(1..))]
    down_kbit: u64,
    /// With --poor-signal: the round trip, in milliseconds.
    #[arg(long, default_value_t = 1000)]
    rtt_ms: u64,
    /// With --poor-signal: the share of segments lost, in percent (each is
    /// sent again after a retransmission timeout, as TCP does).
    #[arg(long, default_value_t = 5.0)]
    loss_percent: f64,
    /// With --poor-signal: seconds between cuts of every connection (0: none).
    #[arg(long, default_value_t = 30)]
    cut_every: u64,
    /// With --poor-signal: seconds after a cut during which new connections
    /// are reset.
    #[arg(long, default_value_t = 5)]
    outage: u64,
    /// With --poor-signal: the longest the day may take to reach the
    /// server, in seconds; then the run stops and reports where it stood.
    #[arg(long, default_value_t = 3600)]
    signal_deadline: u64,
    /// With --poor-signal: a row of the timeline every this many seconds.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..))]
    timeline_every: u64,
}

impl Signal {
    /// The shaper's link, or what is wrong with the settings.
    fn link(&self, seed: u64) -> anyhow::Result<Link> {
        anyhow::ensure!(
            (0.0..100.0).contains(&self.loss_percent),
            "--loss-percent is a share from 0 up to 100, not {}",
            self.loss_percent
        );
        let link = Link {
            up_bits_per_second: Some(self.up_kbit * 1000),
            down_bits_per_second: Some(self.down_kbit * 1000),
            round_trip: Duration::from_millis(self.rtt_ms),
            loss: self.loss_percent / 100.0,
            cuts: (self.cut_every > 0).then(|| Cuts {
                every: Duration::from_secs(self.cut_every),
                outage: Duration::from_secs(self.outage),
            }),
            seed,
        };
        link.check().context("the poor signal's settings")?;
        Ok(link)
    }

    fn describe(&self, link: &Link) -> String {
        let cuts = match link.cuts {
            Some(cuts) => format!(
                "a cut of every connection every {} s, new ones reset for {} s after it",
                cuts.every.as_secs(),
                cuts.outage.as_secs()
            ),
            None => "no cuts".into(),
        };
        format!(
            "{} kbit/s up, {} kbit/s down, {} ms round trip, {} % of segments lost (each held back {} ms, doubling when lost again), {cuts}",
            self.up_kbit,
            self.down_kbit,
            self.rtt_ms,
            self.loss_percent,
            link.retransmission_timeout().as_millis()
        )
    }
}

/// Runs the poor-signal day and prints its report.
pub(crate) fn run(
    runtime: &tokio::runtime::Runtime,
    signal: &Signal,
    server: Option<PathBuf>,
    work: &Path,
    phones: &Path,
    visits: usize,
    seed: u64,
) -> anyhow::Result<()> {
    let link = signal.link(seed)?;
    let binary = server.or_else(posfield::default_binary).context("where is posfield-server?")?;
    anyhow::ensure!(
        binary.exists(),
        "{} does not exist: build it with `cargo build --release -p posfield-sync-server`",
        binary.display()
    );
    eprintln!("building one agent's day: {visits} visits (seed {seed})");
    let (mut built, shape) = workload::build(phones, 1, visits, seed, 1)?;
    let day = built.pop().context("the workload built no agent")?;
    let data = work.join("posfield-data");
    let code = posfield::server_cli(&binary, &data, &["enroll-agent", &day.name])?;
    let server = posfield::start_server(&binary, &data, &work.join("posfield-server.log"))?;
    let counting = runtime.block_on(proxy::start(vec![server.addr], Classify::PosfieldRoutes))?;
    let shaper = Shaper::start(counting.addr, link)?;
    eprintln!("poor signal: {}", signal.describe(&link));

    // The phone is enrolled through the same link (a cut may hit that too).
    let mut agent = day.agent;
    enrol(&mut agent, &shaper.base_url(), &code, &day.name)?;
    let before = (shaper.counts(), counting.counters.snapshot());

    let dir = agent.data_dir().to_owned();
    let (events_in, events) = mpsc::channel();
    let started = Instant::now();
    let worker = BackgroundSync::start(
        dir.clone(),
        Arc::new(posfield_core::KeyFile::beside(&dir)),
        Schedule::default(),
        move |event| {
            let _ = events_in.send((Instant::now(), event));
        },
    )?;
    let limit = Duration::from_secs(signal.signal_deadline);
    let every = Duration::from_secs(signal.timeline_every);
    let mut watch = Watch::new(agent, day.visits, started);
    let finished = watch.follow(&events, &shaper, limit, every)?;
    eprintln!(
        "poor signal: {}; stopping the phone's sync",
        if finished { "done" } else { "deadline reached" }
    );
    worker.stop();
    // Events the stop let through (a sync that was running ends first).
    while let Ok((at, event)) = events.try_recv() {
        watch.seen(at, event)?;
    }

    let link_bytes = since(shaper.counts(), before.0);
    let door = counting.counters.snapshot().since(&before.1);
    let hit = watch.cuts_that_hit_a_sync(&shaper);
    let settings = format!("{}; seed {seed}", signal.describe(&link));
    print!("{}", watch.report(&settings, &shape, (!finished).then_some(limit), &link_bytes, &door, &hit));
    drop(shaper);
    drop(counting);
    drop(server);
    Ok(())
}

/// Enrols through the shaped link, trying again after a failure (a cut or
/// an outage) a bounded number of times.
fn enrol(agent: &mut Agent, base: &str, code: &str, name: &str) -> anyhow::Result<()> {
    const TRIES: usize = 10;
    let mut attempt = 1;
    loop {
        match agent.enroll(base, code, &format!("bench phone {name}")) {
            Ok(_) => return Ok(()),
            Err(error) if attempt < TRIES => {
                eprintln!("  enrolment failed, trying again in 3 s: {error}");
                std::thread::sleep(Duration::from_secs(3));
                attempt += 1;
            }
            Err(error) => return Err(error).context(format!("enrolling through the link {TRIES} times")),
        }
    }
}

/// The difference of two shaper counts.
fn since(now: Counts, before: Counts) -> Counts {
    Counts {
        up_bytes: now.up_bytes.saturating_sub(before.up_bytes),
        down_bytes: now.down_bytes.saturating_sub(before.down_bytes),
        up_undelivered: now.up_undelivered.saturating_sub(before.up_undelivered),
        down_undelivered: now.down_undelivered.saturating_sub(before.down_undelivered),
        up_retransmitted: now.up_retransmitted.saturating_sub(before.up_retransmitted),
        down_retransmitted: now.down_retransmitted.saturating_sub(before.down_retransmitted),
        segments: now.segments.saturating_sub(before.segments),
        losses: now.losses.saturating_sub(before.losses),
        connections: now.connections.saturating_sub(before.connections),
        refused: now.refused.saturating_sub(before.refused),
        cuts: now.cuts.saturating_sub(before.cuts),
        connections_cut: now.connections_cut.saturating_sub(before.connections_cut),
    }
}

/// What the sync is doing, as the app would show it.
#[derive(Debug, Clone)]
enum Shown {
    NotStarted,
    Syncing(Option<Progress>),
    /// Failed with this code; tried again by itself at this instant.
    Failed {
        code: String,
        retry_at: Option<Instant>,
    },
    Synced,
}

/// One row of the timeline.
#[derive(Debug)]
struct Row {
    at: Duration,
    shown: String,
    unsynced_visits: usize,
    photos_left: usize,
    signatures_left: usize,
    failures: u32,
    last_error: Option<String>,
    up_bytes: u64,
    cuts: u64,
}

/// One failed sync.
#[derive(Debug)]
struct Failure {
    at: Duration,
    code: String,
    message: String,
    retry_in: Option<Duration>,
}

/// The day as it unfolds: the worker's events and the app's view of the store.
struct Watch {
    /// The app's own handle on the phone's store (the worker has another).
    agent: Agent,
    visits: Vec<VisitId>,
    started: Instant,
    /// When following stopped: the day on the server, or the deadline.
    stopped: Option<Instant>,
    shown: Shown,
    documents_at: Option<Duration>,
    synced_at: Option<Duration>,
    attempts: usize,
    failures: Vec<Failure>,
    /// Each sync's start and end.
    windows: Vec<(Instant, Option<Instant>)>,
    timeline: Vec<Row>,
}

impl Watch {
    fn new(agent: Agent, visits: Vec<VisitId>, started: Instant) -> Watch {
        Watch {
            agent,
            visits,
            started,
            stopped: None,
            shown: Shown::NotStarted,
            documents_at: None,
            synced_at: None,
            attempts: 0,
            failures: Vec::new(),
            windows: Vec::new(),
            timeline: Vec::new(),
        }
    }

    /// Takes the worker's events and a row of the timeline every `every`
    /// until every visit and file is confirmed on the server, or `limit`.
    /// Returns whether the day got there.
    fn follow(
        &mut self,
        events: &mpsc::Receiver<(Instant, SyncEvent)>,
        shaper: &Shaper,
        limit: Duration,
        every: Duration,
    ) -> anyhow::Result<bool> {
        let mut next_row = Duration::ZERO;
        loop {
            let now = self.started.elapsed();
            if now >= next_row {
                self.row(shaper)?;
                next_row += every;
            }
            if self.synced_at.is_some() || now >= limit {
                self.stopped = Some(Instant::now());
                self.row(shaper)?;
                return Ok(self.synced_at.is_some());
            }
            let wait = next_row.saturating_sub(now).min(limit.saturating_sub(now));
            match events.recv_timeout(wait) {
                Ok((at, event)) => self.seen(at, event)?,
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => {
                    anyhow::bail!("the phone's background sync ended by itself")
                }
            }
        }
    }

    /// One event of the worker.
    fn seen(&mut self, at: Instant, event: SyncEvent) -> anyhow::Result<()> {
        let elapsed = at.saturating_duration_since(self.started);
        match event {
            SyncEvent::Started { .. } => {
                self.attempts += 1;
                self.windows.push((at, None));
                self.shown = Shown::Syncing(None);
            }
            SyncEvent::Progress(progress) => {
                if matches!(progress.phase, Phase::Blobs | Phase::Done) && self.documents_at.is_none() {
                    self.documents_at = Some(elapsed);
                }
                self.shown = Shown::Syncing(Some(progress));
            }
            SyncEvent::Synced { .. } => {
                self.ended(at);
                self.shown = Shown::Synced;
                let (visits, photos, signatures) = self.waiting()?;
                if visits + photos + signatures == 0 && self.synced_at.is_none() {
                    self.synced_at = Some(elapsed);
                }
            }
            SyncEvent::Failed { code, message, retry_in_ms, .. } => {
                self.ended(at);
                let retry_in = retry_in_ms.map(Duration::from_millis);
                self.shown = Shown::Failed { code: code.clone(), retry_at: retry_in.map(|wait| at + wait) };
                self.failures.push(Failure { at: elapsed, code, message, retry_in });
            }
        }
        Ok(())
    }

    fn ended(&mut self, at: Instant) {
        if let Some((_, end @ None)) = self.windows.last_mut() {
            *end = Some(at);
        }
    }

    /// What the app shows as waiting: visits the server has not confirmed,
    /// photos and signature images it has not confirmed holding.
    fn waiting(&mut self) -> anyhow::Result<(usize, usize, usize)> {
        let visits = self.agent.sync_status()?.unsynced_visits;
        let (mut photos, mut signatures) = (0, 0);
        for id in &self.visits {
            let visit = self.agent.visit(id)?;
            let on_server = self.agent.visit_sync_state(&visit)?;
            photos += visit.current_documents().filter(|d| !on_server.on_server(&d.sha256)).count();
            let signed = visit.acceptance.iter().map(|a| &a.signature.sha256);
            let waived = visit.backup_waiver.iter().map(|w| &w.signature.sha256);
            signatures += signed.chain(waived).filter(|sha| !on_server.on_server(sha.as_str())).count();
        }
        Ok((visits, photos, signatures))
    }

    fn row(&mut self, shaper: &Shaper) -> anyhow::Result<()> {
        let now = Instant::now();
        let (unsynced_visits, photos_left, signatures_left) = self.waiting()?;
        let status = self.agent.sync_status()?;
        let shown = match &self.shown {
            Shown::NotStarted => "not started".to_owned(),
            Shown::Syncing(None) => "syncing".to_owned(),
            Shown::Syncing(Some(p)) => match p.phase {
                Phase::Manifest => "syncing: comparing with the server".to_owned(),
                Phase::Documents => format!("syncing: visits {}/{}", p.docs_done, p.docs_total),
                Phase::Blobs => format!(
                    "syncing: photos {:.0}/{:.0} KB",
                    p.bytes_done as f64 / 1e3,
                    p.bytes_total as f64 / 1e3
                ),
                Phase::Done => "syncing: finishing".to_owned(),
            },
            Shown::Failed { code, retry_at: Some(at) } => {
                format!("failed ({code}), retry in {} s", at.saturating_duration_since(now).as_secs())
            }
            Shown::Failed { code, retry_at: None } => format!("failed ({code}), waits to be asked"),
            Shown::Synced => "all on the server".to_owned(),
        };
        let counts = shaper.counts();
        self.timeline.push(Row {
            at: now.saturating_duration_since(self.started),
            shown,
            unsynced_visits,
            photos_left,
            signatures_left,
            failures: status.failures,
            last_error: status.last_error.map(|e| e.code),
            up_bytes: counts.up_bytes,
            cuts: counts.cuts,
        });
        Ok(())
    }

    /// Cuts during the day that came while a sync was running (and so
    /// reset its connections), out of all cuts during the day.
    fn cuts_that_hit_a_sync(&self, shaper: &Shaper) -> (usize, usize) {
        let stopped = self.stopped.unwrap_or_else(Instant::now);
        let cuts: Vec<_> =
            shaper.cuts().into_iter().filter(|cut| self.started <= cut.at && cut.at <= stopped).collect();
        let hit = cuts
            .iter()
            .filter(|cut| {
                self.windows
                    .iter()
                    .any(|(start, end)| *start <= cut.at && end.is_none_or(|end| cut.at <= end))
            })
            .count();
        (hit, cuts.len())
    }

    /// The Markdown report.
    fn report(
        &self,
        settings: &str,
        shape: &Shape,
        unfinished_after: Option<Duration>,
        link: &Counts,
        door: &Snapshot,
        (hit, cuts): &(usize, usize),
    ) -> String {
        let mut out = String::new();
        let visits = shape.visits.max(1) as u64;
        let blobs = shape.blobs.max(1) as u64;
        let when = |at: Option<Duration>| at.map_or_else(|| "not reached".to_owned(), secs);
        let mut failed_by_code: Vec<(String, usize)> = Vec::new();
        for failure in &self.failures {
            match failed_by_code.iter_mut().find(|(code, _)| *code == failure.code) {
                Some((_, n)) => *n += 1,
                None => failed_by_code.push((failure.code.clone(), 1)),
            }
        }
        let failed_by_code: Vec<String> =
            failed_by_code.iter().map(|(code, n)| format!("{code} {n}")).collect();
        let delays: Vec<String> = self
            .failures
            .iter()
            .filter_map(|f| f.retry_in)
            .map(|d| format!("{:.0}", d.as_secs_f64()))
            .collect();
        let documents = |d: &[u64; 4]| d[Class::Documents as usize] + d[Class::Manifest as usize];
        let kb = |bytes: u64| format!("{:.1} KB", bytes as f64 / 1e3);
        let on_the_link = link.up_bytes
            + link.down_bytes
            + link.up_retransmitted
            + link.down_retransmitted
            + link.up_undelivered
            + link.down_undelivered;
        out.push_str(&format!("## Sync on a poor signal\n\nLink: {settings}.\n\n"));
        out.push_str(&format!(
            "The day: {} visits, {} edits, {} photos, {} signatures; {} files ({}) and {} of documents.\n\n",
            shape.visits,
            shape.edits,
            shape.photos,
            shape.signatures,
            shape.blobs,
            mb(shape.blob_bytes),
            mb(shape.doc_bytes),
        ));
        if let Some(limit) = unfinished_after {
            out.push_str(&format!("**Not finished within {} s.**\n\n", limit.as_secs()));
        }
        let rows = [
            ("every visit document on the server after", when(self.documents_at)),
            ("every photo and signature on the server (visits confirmed) after", when(self.synced_at)),
            ("syncs tried / failed", format!("{} / {}", self.attempts, self.failures.len())),
            (
                "failures by cause",
                if failed_by_code.is_empty() { "none".into() } else { failed_by_code.join(", ") },
            ),
            (
                "retry delays the worker chose (s)",
                if delays.is_empty() { "none".into() } else { delays.join(", ") },
            ),
            ("cuts during the day / that hit a sync", format!("{cuts} / {hit}")),
            (
                "connections / reset by a cut / reset in an outage",
                format!("{} / {} / {}", link.connections, link.connections_cut, link.refused),
            ),
            (
                "bytes up / down carried by the link (at the server's door)",
                format!(
                    "{} / {} ({} / {})",
                    mb(link.up_bytes),
                    mb(link.down_bytes),
                    mb(door.up.iter().sum()),
                    mb(door.down.iter().sum())
                ),
            ),
            (
                "segments / lost and sent again (bytes up / down)",
                format!(
                    "{} / {} ({} / {})",
                    link.segments,
                    link.losses,
                    kb(link.up_retransmitted),
                    kb(link.down_retransmitted)
                ),
            ),
            (
                "bytes sent that a cut threw away on the way, up / down",
                format!("{} / {}", kb(link.up_undelivered), kb(link.down_undelivered)),
            ),
            (
                "per visit, everything on the link (carried, sent again, thrown away; both ways)",
                kb(on_the_link / visits),
            ),
            (
                "per visit, its document (pushes, manifests, websocket), up / down",
                format!("{} / {}", kb(documents(&door.up) / visits), kb(documents(&door.down) / visits)),
            ),
            (
                "per file (photo, signature image or strokes), up at the server",
                format!(
                    "{} (the files average {})",
                    kb(door.up[Class::Blobs as usize] / blobs),
                    kb(shape.blob_bytes / blobs)
                ),
            ),
            (
                "per photo, up at the server (all file bytes / photos)",
                kb(door.up[Class::Blobs as usize] / shape.photos.max(1) as u64),
            ),
        ];
        out.push_str("| measure | value |\n|---|---|\n");
        for (measure, value) in rows {
            out.push_str(&format!("| {measure} | {value} |\n"));
        }
        out.push_str("\n### What the agent sees\n\n");
        out.push_str(
            "| t | sync | visits waiting | photos / signatures left | failures in a row | last error | up so far | cuts |\n|---|---|---|---|---|---|---|---|\n",
        );
        for row in &self.timeline {
            out.push_str(&format!(
                "| {:.0} s | {} | {} | {} / {} | {} | {} | {} | {} |\n",
                row.at.as_secs_f64(),
                row.shown,
                row.unsynced_visits,
                row.photos_left,
                row.signatures_left,
                row.failures,
                row.last_error.as_deref().unwrap_or("-"),
                kb(row.up_bytes),
                row.cuts
            ));
        }
        out.push_str("\n### Why the syncs failed\n\n");
        if self.failures.is_empty() {
            out.push_str("None failed.\n");
        }
        for failure in &self.failures {
            let retry = failure.retry_in.map_or_else(|| "not by itself".to_owned(), secs);
            out.push_str(&format!(
                "- {:.1} s, {}: {} (retried in {retry})\n",
                failure.at.as_secs_f64(),
                failure.code,
                failure.message
            ));
        }
        out
    }
}
