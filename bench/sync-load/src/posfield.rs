//! Posfield's side: the real `posfield-server` binary on 127.0.0.1 with a
//! fresh data folder, behind the counting proxy, and the agents' real cores
//! syncing through it, all at once.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use posfield_core::Agent;
use posfield_core::sync::{Phase as SyncPhase, Progress};

use crate::procstat::{self, Usage};
use crate::proxy::{self, Classify};
use crate::report::{Phase, Side};
use crate::workload::BuiltAgent;

/// How many times one agent tries a sync before the bench reports it failed:
/// a phone whose sync did not finish simply syncs again.
const ATTEMPTS: usize = 3;

/// A running `posfield-server serve`.
pub(crate) struct Server {
    child: Child,
    /// Where it listens.
    pub(crate) addr: std::net::SocketAddr,
}

impl Server {
    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        crate::stopped(self.child.id());
    }
}

/// Runs an administration command of the server on its data folder.
pub(crate) fn server_cli(binary: &Path, data: &Path, args: &[&str]) -> anyhow::Result<String> {
    let output = Command::new(binary)
        .arg("--data")
        .arg(data)
        .args(args)
        .env("RUST_LOG", "warn")
        .output()
        .with_context(|| format!("running {}", binary.display()))?;
    if !output.status.success() {
        bail!("posfield-server {args:?} failed: {}", String::from_utf8_lossy(&output.stderr));
    }
    Ok(String::from_utf8(output.stdout)?.trim().to_owned())
}

/// Starts `posfield-server serve` on a free port of 127.0.0.1; its log goes
/// to `log`.
pub(crate) fn start_server(binary: &Path, data: &Path, log: &Path) -> anyhow::Result<Server> {
    let mut child = Command::new(binary)
        .arg("--data")
        .arg(data)
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(crate::log_file(log)?)
        .spawn()
        .with_context(|| format!("starting {}", binary.display()))?;
    crate::started(child.id());
    let stdout = child.stdout.take().context("the server's stdout")?;
    let mut stdout = BufReader::new(stdout);
    let mut line = String::new();
    stdout.read_line(&mut line)?;
    crate::drain_into(stdout, log)?;
    let addr = line
        .trim()
        .rsplit("http://")
        .next()
        .and_then(|a| a.parse().ok())
        .with_context(|| format!("posfield-server did not say where it listens: {line:?}"))?;
    Ok(Server { child, addr })
}

/// What one agent's sync did.
struct Outcome {
    agent: Agent,
    elapsed: Duration,
    /// From the start until the server held every one of the agent's
    /// documents (its manifest agreed; the photos go after that).
    documents_done: Option<Duration>,
    attempts: usize,
    result: Result<posfield_core::sync::SyncReport, String>,
}

/// How the agents' syncs went, all together.
struct Round {
    /// From the common start to the last finish.
    wall: Duration,
    outcomes: Vec<Outcome>,
    /// Visits the server acknowledged in a push or over the websocket (counted from the
    /// agents' progress events, each visit at most once per agent).
    acknowledged: usize,
    /// The bench stopped the server at the time limit.
    gave_up: bool,
}

/// Runs every agent's sync at once, each on its own thread as on its own
/// phone, and waits for all. At `limit` the servers (`pids`) are killed,
/// which ends every sync still running with an error.
fn sync_all(agents: Vec<Agent>, pids: &[u32], limit: Duration) -> Round {
    let barrier = Arc::new(Barrier::new(agents.len() + 1));
    let acknowledged = Arc::new(AtomicUsize::new(0));
    let threads: Vec<_> = agents
        .into_iter()
        .map(|mut agent| {
            let barrier = barrier.clone();
            let acknowledged = acknowledged.clone();
            std::thread::Builder::new().stack_size(1 << 20).spawn(move || {
                barrier.wait();
                let started = Instant::now();
                let mut documents_done = None;
                let mut most_done = 0;
                let mut attempts = 0;
                let result = loop {
                    attempts += 1;
                    let mut progress = |p: Progress| {
                        let stored = matches!(p.phase, SyncPhase::Blobs | SyncPhase::Done);
                        if stored && documents_done.is_none() {
                            documents_done = Some(started.elapsed());
                        }
                        if p.phase == SyncPhase::Documents && p.docs_done > most_done {
                            acknowledged.fetch_add(p.docs_done - most_done, Ordering::Relaxed);
                            most_done = p.docs_done;
                        }
                    };
                    match agent.sync(&mut progress) {
                        Ok(report) => break Ok(report),
                        Err(e) if attempts < ATTEMPTS => {
                            eprintln!("  sync of {:?} failed, trying again: {e}", agent.user());
                            std::thread::sleep(Duration::from_millis(500));
                        }
                        Err(e) => break Err(format!("{} ({})", e, e.code())),
                    }
                };
                (agent, started.elapsed(), documents_done, attempts, result)
            })
        })
        .collect::<Result<_, _>>()
        .unwrap_or_else(|e| panic!("cannot start an agent thread: {e}"));
    let (finished, finished_rx) = std::sync::mpsc::channel::<()>();
    let gave_up = Arc::new(AtomicBool::new(false));
    let watchdog = {
        let gave_up = gave_up.clone();
        let pids = pids.to_vec();
        std::thread::spawn(move || {
            if finished_rx.recv_timeout(limit).is_err() {
                eprintln!("posfield: not finished after {} s: stopping the server", limit.as_secs());
                gave_up.store(true, Ordering::Relaxed);
                for pid in pids {
                    let _ = Command::new("kill").args(["-KILL", &pid.to_string()]).status();
                }
            }
        })
    };
    barrier.wait();
    let start = Instant::now();
    let mut outcomes = Vec::with_capacity(threads.len());
    for thread in threads {
        match thread.join() {
            Ok((agent, elapsed, documents_done, attempts, result)) => {
                outcomes.push(Outcome { agent, elapsed, documents_done, attempts, result })
            }
            Err(_) => panic!("an agent thread panicked"),
        }
    }
    let wall = start.elapsed();
    let _ = finished.send(());
    let _ = watchdog.join();
    Round {
        wall,
        outcomes,
        acknowledged: acknowledged.load(Ordering::Relaxed),
        gave_up: gave_up.load(Ordering::Relaxed),
    }
}

/// The key files every node of one fleet holds the same of: the signing
/// key and the blob keys (the server's `server_key::KEY_FILE` and
/// `blob_key::KEY_FILE`).
const KEY_FILES: [&str; 2] = ["server-signing.key", "server-blob.keys"];

/// Starts `nodes` servers on the same store: the first makes the key
/// files, which are copied to the others' data folders before they start.
/// Several nodes need the database and the bucket from the environment
/// (`POSFIELD_DATABASE`, `POSFIELD_BLOBS`): a data folder each does not
/// share.
fn start_nodes(binary: &Path, work: &Path, nodes: usize) -> anyhow::Result<Vec<(Server, PathBuf)>> {
    if nodes > 1 {
        for shared in ["POSFIELD_DATABASE", "POSFIELD_BLOBS"] {
            anyhow::ensure!(
                std::env::var_os(shared).is_some_and(|v| !v.is_empty()),
                "{nodes} nodes need one store: set {shared} (docs/deploy.md, several nodes)"
            );
        }
    }
    let mut started = Vec::with_capacity(nodes);
    for node in 0..nodes {
        let data =
            work.join(if node == 0 { "posfield-data".to_owned() } else { format!("posfield-data-{node}") });
        let log = work.join(if node == 0 {
            "posfield-server.log".to_owned()
        } else {
            format!("posfield-server-{node}.log")
        });
        if node > 0 {
            std::fs::create_dir_all(&data)?;
            let first = work.join("posfield-data");
            for key in KEY_FILES {
                std::fs::copy(first.join(key), data.join(key))
                    .with_context(|| format!("copying {key} to node {node}"))?;
            }
        }
        started.push((start_server(binary, &data, &log)?, log));
    }
    Ok(started)
}

/// The counting proxy, in this process or in one of its own.
enum Counting {
    Here(proxy::Proxy),
    Apart(proxy::ProxyProcess),
}

impl Counting {
    fn addr(&self) -> std::net::SocketAddr {
        match self {
            Counting::Here(proxy) => proxy.addr,
            Counting::Apart(proxy) => proxy.addr,
        }
    }

    fn snapshot(&mut self) -> anyhow::Result<proxy::Snapshot> {
        match self {
            Counting::Here(proxy) => Ok(proxy.counters.snapshot()),
            Counting::Apart(proxy) => proxy.snapshot(),
        }
    }

    /// CPU seconds of the proxy's own process, none when it runs here.
    fn cpu_seconds(&self) -> f64 {
        match self {
            Counting::Here(_) => 0.0,
            Counting::Apart(proxy) => procstat::cpu_seconds(proxy.pid()).unwrap_or(0.0),
        }
    }
}

/// Runs Posfield's side: `nodes` servers behind the counting proxy
/// (round robin), enrolment, the sync of every agent at once, and a
/// reconnect with nothing changed.
pub(crate) fn run(
    runtime: &tokio::runtime::Runtime,
    binary: &Path,
    work: &Path,
    built: Vec<BuiltAgent>,
    limit: Duration,
    nodes: usize,
    separate_proxy: bool,
) -> anyhow::Result<Side> {
    let data = work.join("posfield-data");
    let documents: usize = built.iter().map(|b| b.visits.len()).sum();
    eprintln!("posfield: issuing {} enrolment codes", built.len());
    let mut codes = Vec::with_capacity(built.len());
    for one in &built {
        codes.push(server_cli(binary, &data, &["enroll-agent", &one.name])?);
    }
    let servers = start_nodes(binary, work, nodes.max(1))?;
    let addrs: Vec<_> = servers.iter().map(|(server, _)| server.addr).collect();
    let pids: Vec<u32> = servers.iter().map(|(server, _)| server.pid()).collect();
    let mut proxy = if separate_proxy {
        Counting::Apart(proxy::ProxyProcess::spawn(&addrs)?)
    } else {
        Counting::Here(runtime.block_on(proxy::start(addrs.clone(), Classify::PosfieldRoutes))?)
    };
    let base = format!("http://{}/", proxy.addr());
    eprintln!("posfield: server pids {pids:?} on {addrs:?}, proxy on {}; enrolling", proxy.addr());
    let mut agents = Vec::with_capacity(built.len());
    for (one, code) in built.into_iter().zip(codes) {
        let mut agent = one.agent;
        agent.enroll(&base, &code, &format!("bench phone {}", one.name))?;
        agents.push(agent);
    }
    let peaks: Vec<_> = pids.iter().map(|pid| procstat::PeakWatch::start(*pid)).collect();

    eprintln!("posfield: {} agents sync {documents} visits at once", agents.len());
    let (round, bytes, used) = measured(agents, &pids, limit, &mut proxy)?;
    let peaks_after_sync: Vec<u64> = peaks.iter().map(procstat::PeakWatch::peak).collect();
    let mut failures: Vec<String> =
        round.outcomes.iter().filter_map(|o| o.result.as_ref().err().cloned()).collect();
    if round.gave_up {
        failures
            .insert(0, format!("not finished within {} s: the bench stopped the server", limit.as_secs()));
    }
    let retries: usize = round.outcomes.iter().map(|o| o.attempts - 1).sum();
    // Every visit on every phone must now be confirmed by the server's manifest.
    let mut unconfirmed = 0;
    for outcome in &round.outcomes {
        unconfirmed +=
            outcome.agent.list_visits(&Default::default())?.iter().filter(|row| row.unsynced).count();
    }
    let mut stored: Vec<Duration> = round.outcomes.iter().filter_map(|o| o.documents_done).collect();
    stored.sort();
    let mut notes = vec![
        format!(
            "per agent, every document was on the server after {:.2} s (median), {:.2} s (longest); the photos and signatures went after that",
            median(&stored).as_secs_f64(),
            stored.last().copied().unwrap_or_default().as_secs_f64(),
        ),
        format!(
            "visits the server acknowledged (in a push or over the websocket): {} of {documents}; confirmed by its manifest (agents whose sync finished): {}",
            round.acknowledged,
            documents - unconfirmed
        ),
    ];
    if nodes > 1 {
        let each: Vec<String> =
            peaks_after_sync.iter().map(|b| format!("{:.2} MB", *b as f64 / 1e6)).collect();
        notes.push(format!(
            "{nodes} nodes behind a round-robin proxy; peak RSS per node (first sync): {}",
            each.join(", ")
        ));
    }
    eprintln!(
        "posfield: sync over in {:.2} s ({} acknowledged, {} confirmed, {retries} retries, {} failures)",
        round.wall.as_secs_f64(),
        round.acknowledged,
        documents - unconfirmed,
        failures.len()
    );
    let sync = phase(&round, used, bytes, documents - unconfirmed, failures, notes);

    let reconnect = if round.gave_up {
        Phase { failures: vec!["not run: the first sync did not finish".into()], ..Phase::skipped() }
    } else {
        eprintln!("posfield: every agent reconnects with nothing changed");
        let agents: Vec<Agent> = round.outcomes.into_iter().map(|o| o.agent).collect();
        let (round, bytes, used) = measured(agents, &pids, limit, &mut proxy)?;
        let not_quiet =
            round.outcomes.iter().filter(|o| o.result.as_ref().is_ok_and(|r| !r.already_in_sync)).count();
        let failures: Vec<String> = round
            .outcomes
            .iter()
            .filter_map(|o| o.result.as_ref().err().cloned())
            .chain((not_quiet > 0).then(|| format!("{not_quiet} agents found something to sync")))
            .collect();
        phase(&round, used, bytes, documents, failures, Vec::new())
    };
    let peak_rss = peaks.iter().map(procstat::PeakWatch::peak).max().unwrap_or(0);
    let peak_after_sync = peaks_after_sync.into_iter().max().unwrap_or(0);
    let warnings: Vec<String> = servers.iter().flat_map(|(_, log)| log_problems(log)).collect();
    drop(proxy);
    drop(servers);
    Ok(Side {
        name: "posfield-server",
        documents,
        sync,
        reconnect,
        peak_rss_after_sync: peak_after_sync,
        peak_rss,
        log_problems: warnings,
    })
}

/// [`sync_all`] with what it cost: the bytes through the proxy and the CPU
/// time of the servers and of the clients (the proxy's own process counted
/// with them).
fn measured(
    agents: Vec<Agent>,
    pids: &[u32],
    limit: Duration,
    proxy: &mut Counting,
) -> anyhow::Result<(Round, proxy::Snapshot, Usage)> {
    let used_before = Usage::now(pids, Usage::default());
    let proxy_cpu_before = proxy.cpu_seconds();
    let bytes_before = proxy.snapshot()?;
    let round = sync_all(agents, pids, limit);
    let bytes = proxy.snapshot()?.since(&bytes_before);
    let mut used = Usage::now(pids, used_before).since(&used_before);
    used.clients += proxy.cpu_seconds() - proxy_cpu_before;
    Ok((round, bytes, used))
}

fn median(sorted: &[Duration]) -> Duration {
    sorted.get(sorted.len() / 2).copied().unwrap_or_default()
}

fn phase(
    round: &Round,
    used: Usage,
    bytes: crate::proxy::Snapshot,
    confirmed: usize,
    failures: Vec<String>,
    notes: Vec<String>,
) -> Phase {
    let mut per_agent: Vec<Duration> = round.outcomes.iter().map(|o| o.elapsed).collect();
    per_agent.sort();
    // Every document is stored when the last agent's are; an agent that never
    // got there counts as the whole round.
    let stored = round
        .outcomes
        .iter()
        .map(|o| o.documents_done.unwrap_or(round.wall))
        .max()
        .unwrap_or(round.wall)
        .min(round.wall);
    Phase {
        stored,
        wall: round.wall,
        server_cpu: used.server,
        clients_cpu: used.clients,
        bytes,
        documents_confirmed: confirmed,
        failures,
        retries: round.outcomes.iter().map(|o| o.attempts - 1).sum(),
        notes,
        per_agent_median: median(&per_agent),
        per_agent_max: per_agent.last().copied().unwrap_or_default(),
    }
}

/// Warning and error lines in the server's log.
fn log_problems(log: &Path) -> Vec<String> {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .filter(|l| l.contains("WARN") || l.contains("ERROR"))
        .map(str::to_owned)
        .collect()
}

/// The server binary next to this one (cargo builds both into the same folder).
pub(crate) fn default_binary() -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    Some(exe.parent()?.join(format!("posfield-server{}", std::env::consts::EXE_SUFFIX)))
}
