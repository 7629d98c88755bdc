//! The reference's side: `bench/node-ref/server.mjs` (a plain automerge-repo
//! sync server with NodeFS storage) on 127.0.0.1, behind the counting proxy,
//! and one automerge-repo client per agent holding the same documents,
//! all syncing at once. The clients are automerge-repo's own JavaScript
//! ones (`bench/node-ref/clients.mjs`, a `Repo` per agent with the websocket
//! client adapter and its own storage, a few Node processes holding them),
//! or, labelled as such, samod clients in this process.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use posfield_sync_link_client::reference::{ReferenceClient, automerge_repo_id};

use crate::procstat::{self, Usage};
use crate::proxy::{self, Classify};
use crate::report::{Phase, Side};

/// Tries per client, as on Posfield's side.
const ATTEMPTS: usize = 3;
/// How long the server may take to write what it acknowledged.
const STORE_DEADLINE: Duration = Duration::from_secs(300);

/// A running reference server.
struct NodeServer {
    child: Child,
    port: u16,
}

impl NodeServer {
    /// Why the server is no longer running, if it is not.
    fn exited(&mut self) -> Option<String> {
        match self.child.try_wait() {
            Ok(Some(status)) => Some(format!("the reference server exited ({status}); see its log below")),
            _ => None,
        }
    }
}

impl Drop for NodeServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        crate::stopped(self.child.id());
    }
}

fn start_server(
    node: &str,
    node_args: &[String],
    dir: &Path,
    data: &Path,
    log: &Path,
) -> anyhow::Result<NodeServer> {
    if !dir.join("node_modules").join("@automerge").join("automerge-repo").exists() {
        bail!("{} has no node_modules: run `npm ci` there (scripts/bench-sync does)", dir.display());
    }
    let mut child = Command::new(node)
        .args(node_args.iter().filter(|a| !a.is_empty()))
        .arg("server.mjs")
        .current_dir(dir)
        .env("PORT", "0")
        .env("DATA_DIR", data)
        .stdout(Stdio::piped())
        .stderr(crate::log_file(log)?)
        .spawn()
        .with_context(|| format!("starting {node} server.mjs"))?;
    crate::started(child.id());
    let stdout = child.stdout.take().context("the reference server's stdout")?;
    let mut stdout = BufReader::new(stdout);
    let mut line = String::new();
    stdout.read_line(&mut line)?;
    crate::drain_into(stdout, log)?;
    let port = line
        .trim()
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .with_context(|| format!("the reference server did not say where it listens: {line:?}"))?;
    Ok(NodeServer { child, port })
}

/// Whether the reference server has written document `id` (bs58check) to
/// its NodeFS folder: `DIR/<2 chars>/<rest>/{snapshot,incremental}/<hash>`.
fn stored(data: &Path, id: &str) -> bool {
    let folder = data.join(&id[..2]).join(&id[2..]);
    ["snapshot", "incremental"]
        .iter()
        .any(|sub| std::fs::read_dir(folder.join(sub)).is_ok_and(|mut entries| entries.next().is_some()))
}

/// How a phase of the clients went: the wall time until the last one
/// finished, retries, failures and per-client times (sorted).
struct Outcome {
    wall: Duration,
    retries: usize,
    failures: Vec<String>,
    times: Vec<Duration>,
}

impl Outcome {
    fn median(&self) -> Duration {
        self.times.get(self.times.len() / 2).copied().unwrap_or_default()
    }

    fn longest(&self) -> Duration {
        self.times.last().copied().unwrap_or_default()
    }
}

/// Which clients drive the reference server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum ClientKind {
    /// automerge-repo's own JavaScript clients (`bench/node-ref/clients.mjs`),
    /// as the reference's users run it.
    Js,
    /// samod clients in this process (Rust, the earlier variant).
    Samod,
}

/// The JavaScript clients: a few Node processes, each running one
/// automerge-repo `Repo` per agent it was given.
struct JsClients {
    processes: Vec<JsProcess>,
}

struct JsProcess {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

impl Drop for JsProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        crate::stopped(self.child.id());
    }
}

impl JsClients {
    /// Writes each agent's documents under `work` and starts `processes`
    /// Node processes, the agents dealt among them in turn.
    #[allow(clippy::too_many_arguments)]
    fn start(
        node: &str,
        node_args: &[String],
        dir: &Path,
        work: &Path,
        store: &Path,
        docs: &[AgentDocs],
        url: &url::Url,
        deadline: Duration,
        processes: usize,
    ) -> anyhow::Result<JsClients> {
        let docs_dir = work.join("reference-documents");
        for (agent, visits) in docs {
            let folder = docs_dir.join(agent);
            std::fs::create_dir_all(&folder)?;
            for (id, bytes) in visits {
                std::fs::write(folder.join(automerge_repo_id(id)?), bytes)?;
            }
        }
        let processes = processes.clamp(1, docs.len().max(1));
        let log = work.join("reference-clients.log");
        let mut started = Vec::with_capacity(processes);
        for first in 0..processes {
            let agents = docs.iter().skip(first).step_by(processes).map(|(agent, _)| agent.as_str());
            let mut child = Command::new(node)
                .args(node_args.iter().filter(|a| !a.is_empty()))
                .arg("clients.mjs")
                .args(agents)
                .current_dir(dir)
                .env("URL", url.as_str())
                .env("DOCS", &docs_dir)
                .env("STORE", store)
                .env("DEADLINE_MS", deadline.as_millis().to_string())
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(crate::log_file(&log)?)
                .spawn()
                .with_context(|| format!("starting {node} clients.mjs"))?;
            crate::started(child.id());
            let stdin = child.stdin.take().context("the clients' stdin")?;
            let stdout = BufReader::new(child.stdout.take().context("the clients' stdout")?);
            started.push(JsProcess { child, stdin, stdout });
        }
        Ok(JsClients { processes: started })
    }

    fn pids(&self) -> Vec<u32> {
        self.processes.iter().map(|p| p.child.id()).collect()
    }

    /// Sends `command` to every process at once and reads every agent's result.
    fn run(&mut self, command: &str) -> anyhow::Result<Outcome> {
        let start = Instant::now();
        let mut outcome =
            Outcome { wall: Duration::ZERO, retries: 0, failures: Vec::new(), times: Vec::new() };
        let mut told = Vec::with_capacity(self.processes.len());
        for process in &mut self.processes {
            let sent = writeln!(process.stdin, "{command}").and_then(|()| process.stdin.flush());
            if let Err(e) = &sent {
                outcome.failures.push(format!("a reference client process cannot be told to {command}: {e}"));
            }
            told.push(sent.is_ok());
        }
        for (process, _) in self.processes.iter_mut().zip(told).filter(|(_, told)| *told) {
            loop {
                let mut line = String::new();
                if process.stdout.read_line(&mut line)? == 0 {
                    // Its agents are failures; the other processes' still count.
                    outcome.failures.push(format!(
                        "a reference client process ended before it finished ({}); see reference-clients.log",
                        process
                            .child
                            .try_wait()
                            .ok()
                            .flatten()
                            .map_or("still running".to_owned(), |s| s.to_string())
                    ));
                    break;
                }
                // automerge-repo itself prints some of its errors to stdout
                // ("error waiting for ... to be in one of states"): those lines
                // go to the log, and the process's results still count.
                let Ok(result) = serde_json::from_str::<serde_json::Value>(&line) else {
                    eprintln!("reference client: {}", line.trim_end());
                    continue;
                };
                if result["done"].as_bool() == Some(true) {
                    break;
                }
                let ms = result["ms"].as_f64().context("a client's time")?;
                outcome.times.push(Duration::from_secs_f64(ms / 1000.0));
                outcome.retries += result["attempts"].as_u64().unwrap_or(1).saturating_sub(1) as usize;
                if let Some(error) = result["error"].as_str() {
                    outcome.failures.push(format!("{}: {error}", result["agent"]));
                }
            }
        }
        outcome.wall = start.elapsed();
        outcome.times.sort();
        Ok(outcome)
    }
}

/// Runs every samod client's session at once.
fn sync_all(
    runtime: &tokio::runtime::Runtime,
    clients: &[ReferenceClient],
    url: &url::Url,
    deadline: Duration,
) -> Outcome {
    let start = Instant::now();
    let results = runtime.block_on(async {
        let tasks: Vec<_> = clients
            .iter()
            .cloned()
            .map(|client| {
                let url = url.clone();
                tokio::spawn(async move {
                    let started = Instant::now();
                    let mut attempts = 0;
                    let result = loop {
                        attempts += 1;
                        match client.sync_all(&url, Duration::from_secs(30), deadline).await {
                            Ok(()) => break Ok(()),
                            Err(e) if attempts < ATTEMPTS => {
                                eprintln!("  reference client failed, trying again: {e}");
                                tokio::time::sleep(Duration::from_millis(500)).await;
                            }
                            Err(e) => break Err(e.to_string()),
                        }
                    };
                    (started.elapsed(), attempts, result)
                })
            })
            .collect();
        let mut results = Vec::with_capacity(tasks.len());
        for task in tasks {
            results.push(task.await);
        }
        results
    });
    let wall = start.elapsed();
    let mut outcome = Outcome { wall, retries: 0, failures: Vec::new(), times: Vec::new() };
    for result in results {
        match result {
            Ok((elapsed, attempts, result)) => {
                outcome.retries += attempts - 1;
                outcome.times.push(elapsed);
                if let Err(e) = result {
                    outcome.failures.push(e);
                }
            }
            Err(e) => outcome.failures.push(format!("a client task failed: {e}")),
        }
    }
    outcome.times.sort();
    outcome
}

/// The clients of one run, of either kind.
enum Clients {
    Js(JsClients),
    Samod {
        runtime: tokio::runtime::Runtime,
        clients: Vec<ReferenceClient>,
        url: url::Url,
        deadline: Duration,
    },
}

impl Clients {
    fn pids(&self) -> Vec<u32> {
        match self {
            Clients::Js(js) => js.pids(),
            Clients::Samod { .. } => Vec::new(),
        }
    }

    /// Every client syncs at once: the first time, or again with nothing changed.
    fn sync(&mut self, first: bool) -> Outcome {
        match self {
            Clients::Js(js) => js.run(if first { "sync" } else { "reconnect" }).unwrap_or_else(|e| Outcome {
                wall: Duration::ZERO,
                retries: 0,
                failures: vec![format!("{e:#}")],
                times: Vec::new(),
            }),
            Clients::Samod { runtime, clients, url, deadline } => sync_all(runtime, clients, url, *deadline),
        }
    }
}

/// One agent's name and its visits (id, saved bytes).
type AgentDocs = (String, Vec<(String, Vec<u8>)>);

/// Who drives the reference server, and where their files go.
pub(crate) struct ClientSetup<'a> {
    pub(crate) kind: ClientKind,
    /// Node processes for the JavaScript clients.
    pub(crate) processes: usize,
    /// Where the clients keep their storage (as the phones do).
    pub(crate) store: &'a Path,
}

/// Runs the reference's side with `docs`: for each agent, its name and its
/// visits' saved bytes.
#[allow(clippy::too_many_arguments)]
pub(crate) fn run(
    runtime: &tokio::runtime::Runtime,
    node: &str,
    node_args: &[String],
    dir: &Path,
    work: &Path,
    docs: Vec<AgentDocs>,
    deadline: Duration,
    setup: &ClientSetup<'_>,
) -> anyhow::Result<Side> {
    let data: PathBuf = work.join("reference-data");
    let log = work.join("reference-server.log");
    let documents: usize = docs.iter().map(|(_, d)| d.len()).sum();
    let ids: Vec<String> = docs
        .iter()
        .flat_map(|(_, visits)| visits.iter().map(|(id, _)| automerge_repo_id(id)))
        .collect::<Result<_, _>>()?;
    let mut server = start_server(node, node_args, dir, &data, &log)?;
    let pid = server.child.id();
    let peak = procstat::PeakWatch::start(pid);
    let target = std::net::SocketAddr::from(([127, 0, 0, 1], server.port));
    let proxy = runtime.block_on(proxy::start(vec![target], Classify::AllDocuments))?;
    let url = url::Url::parse(&format!("ws://{}", proxy.addr))?;
    eprintln!("reference: node pid {pid} on port {}, proxy on {}", server.port, proxy.addr);
    let agents = docs.len();
    let mut clients = match setup.kind {
        ClientKind::Js => Clients::Js(JsClients::start(
            node,
            node_args,
            dir,
            work,
            setup.store,
            &docs,
            &url,
            deadline,
            setup.processes,
        )?),
        ClientKind::Samod => {
            // The clients get a runtime of their own, as each phone's core has on Posfield's side.
            let clients_runtime =
                tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
            let clients: Vec<ReferenceClient> = clients_runtime.block_on(async {
                let mut clients = Vec::with_capacity(docs.len());
                for (name, visits) in docs {
                    clients.push(ReferenceClient::new(&name, visits).await?);
                }
                Ok::<_, posfield_sync_link_client::LinkError>(clients)
            })?;
            Clients::Samod { runtime: clients_runtime, clients, url: url.clone(), deadline }
        }
    };
    let client_pids = clients.pids();

    eprintln!("reference: {agents} clients ({:?}) sync {documents} documents at once", setup.kind);
    let used_before = Usage::with_clients(&[pid], &client_pids, Usage::default());
    let bytes_before = proxy.counters.snapshot();
    let start = Instant::now();
    // The documents are watched arriving on the server's disk while the
    // clients run: the time the last one is written is the measure,
    // whether or not every client has seen its acknowledgement by then.
    let watch_stop = std::sync::atomic::AtomicBool::new(false);
    let (first, stored_after, mut missing) = std::thread::scope(|scope| {
        let watcher = scope.spawn(|| {
            let mut missing = ids.clone();
            loop {
                missing.retain(|id| !stored(&data, id));
                if missing.is_empty() {
                    return (Some(start.elapsed()), missing);
                }
                if watch_stop.load(std::sync::atomic::Ordering::Relaxed) {
                    return (None, missing);
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        });
        let first = clients.sync(true);
        // Acknowledged is not yet written: wait (bounded) until every document is on disk.
        let deadline = Instant::now() + STORE_DEADLINE;
        while !watcher.is_finished() && Instant::now() < deadline && server.exited().is_none() {
            std::thread::sleep(Duration::from_millis(100));
        }
        watch_stop.store(true, std::sync::atomic::Ordering::Relaxed);
        let (stored_after, missing) = watcher.join().unwrap_or((None, ids.clone()));
        (first, stored_after, missing)
    });
    let acknowledged = first.wall;
    let mut exited = server.exited();
    missing.retain(|id| !stored(&data, id));
    let wall = start.elapsed().max(acknowledged);
    let bytes = proxy.counters.snapshot().since(&bytes_before);
    let used = Usage::with_clients(&[pid], &client_pids, used_before).since(&used_before);
    let peak_after_sync = peak.peak();
    exited = exited.or_else(|| server.exited());
    let mut failures = first.failures.clone();
    failures.extend(exited.clone());
    eprintln!(
        "reference: every document stored after {}, clients done after {:.2} s ({} not stored, {} retries, {} failures)",
        stored_after.map_or("never".to_owned(), |d| format!("{:.2} s", d.as_secs_f64())),
        acknowledged.as_secs_f64(),
        missing.len(),
        first.retries,
        failures.len()
    );
    let sync = Phase {
        stored: stored_after.unwrap_or(wall),
        wall,
        server_cpu: used.server,
        clients_cpu: used.clients,
        bytes,
        documents_confirmed: documents - missing.len(),
        failures,
        retries: first.retries,
        notes: Vec::new(),
        per_agent_median: first.median(),
        per_agent_max: first.longest(),
    };

    let reconnect = if let Some(exited) = exited {
        Phase { failures: vec![exited], ..Phase::skipped() }
    } else {
        eprintln!("reference: every client reconnects with nothing changed");
        let used_before = Usage::with_clients(&[pid], &client_pids, Usage::default());
        let bytes_before = proxy.counters.snapshot();
        let again = clients.sync(false);
        let bytes = proxy.counters.snapshot().since(&bytes_before);
        let used = Usage::with_clients(&[pid], &client_pids, used_before).since(&used_before);
        let mut failures = again.failures.clone();
        failures.extend(server.exited());
        Phase {
            stored: again.wall,
            wall: again.wall,
            server_cpu: used.server,
            clients_cpu: used.clients,
            bytes,
            documents_confirmed: documents,
            failures,
            retries: again.retries,
            notes: Vec::new(),
            per_agent_median: again.median(),
            per_agent_max: again.longest(),
        }
    };
    let peak_rss = peak.peak();
    let log_problems = std::fs::read_to_string(&log)
        .unwrap_or_default()
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(str::to_owned)
        .collect();
    drop(clients);
    drop(proxy);
    drop(server);
    Ok(Side {
        name: match setup.kind {
            ClientKind::Js => "automerge-repo (Node), JS clients",
            ClientKind::Samod => "automerge-repo (Node), samod clients",
        },
        documents,
        sync,
        reconnect,
        peak_rss_after_sync: peak_after_sync,
        peak_rss,
        log_problems,
    })
}
