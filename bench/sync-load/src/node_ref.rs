//! The reference's side: `bench/node-ref/server.mjs` (a plain automerge-repo
//! sync server with NodeFS storage) on 127.0.0.1, behind the counting proxy,
//! and one automerge-repo client per agent holding the same documents,
//! all syncing at once.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use posfield_sync_link_client::reference::{ReferenceClient, automerge_repo_id};

use crate::procstat::{self, Usage};
use crate::proxy::{self, Classify};
use crate::report::{Phase, Side};
use crate::wait_until;

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

/// Runs every client's session at once; returns the wall time until the
/// last one finished, retries, failures and per-client times.
fn sync_all(
    runtime: &tokio::runtime::Runtime,
    clients: &[ReferenceClient],
    url: &url::Url,
    deadline: Duration,
) -> (Duration, usize, Vec<String>, Vec<Duration>) {
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
    let mut retries = 0;
    let mut failures = Vec::new();
    let mut times = Vec::new();
    for result in results {
        match result {
            Ok((elapsed, attempts, outcome)) => {
                retries += attempts - 1;
                times.push(elapsed);
                if let Err(e) = outcome {
                    failures.push(e);
                }
            }
            Err(e) => failures.push(format!("a client task failed: {e}")),
        }
    }
    times.sort();
    (wall, retries, failures, times)
}

/// One agent's name and its visits (id, saved bytes).
type AgentDocs = (String, Vec<(String, Vec<u8>)>);

/// Runs the reference's side with `docs`: for each agent, its name and its
/// visits' saved bytes.
pub(crate) fn run(
    runtime: &tokio::runtime::Runtime,
    node: &str,
    node_args: &[String],
    dir: &Path,
    work: &Path,
    docs: Vec<AgentDocs>,
    deadline: Duration,
) -> anyhow::Result<Side> {
    let data: PathBuf = work.join("reference-data");
    let log = work.join("reference-server.log");
    let documents: usize = docs.iter().map(|(_, d)| d.len()).sum();
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
    let ids: Vec<String> = clients
        .iter()
        .flat_map(|c| c.visits().iter().map(|v| automerge_repo_id(v)))
        .collect::<Result<_, _>>()?;
    let mut server = start_server(node, node_args, dir, &data, &log)?;
    let pid = server.child.id();
    let peak = procstat::PeakWatch::start(pid);
    let target = std::net::SocketAddr::from(([127, 0, 0, 1], server.port));
    let proxy = runtime.block_on(proxy::start(vec![target], Classify::AllDocuments))?;
    let url = url::Url::parse(&format!("ws://{}", proxy.addr))?;
    eprintln!("reference: node pid {pid} on port {}, proxy on {}", server.port, proxy.addr);

    eprintln!("reference: {} clients sync {documents} documents at once", clients.len());
    let used_before = Usage::now(&[pid], Usage::default());
    let bytes_before = proxy.counters.snapshot();
    let start = Instant::now();
    let (acknowledged, retries, mut failures, per_client) =
        sync_all(&clients_runtime, &clients, &url, deadline);
    // Acknowledged is not yet written: wait (bounded) until every document is on disk.
    let mut missing = ids.clone();
    let mut exited = server.exited();
    if exited.is_none() {
        wait_until(STORE_DEADLINE, || {
            missing.retain(|id| !stored(&data, id));
            missing.is_empty()
        });
    } else {
        missing.retain(|id| !stored(&data, id));
    }
    let wall = start.elapsed();
    let bytes = proxy.counters.snapshot().since(&bytes_before);
    let used = Usage::now(&[pid], used_before).since(&used_before);
    let peak_after_sync = peak.peak();
    exited = exited.or_else(|| server.exited());
    failures.extend(exited.clone());
    eprintln!(
        "reference: acknowledged in {:.2} s, all stored in {:.2} s ({} not stored, {retries} retries, {} failures)",
        acknowledged.as_secs_f64(),
        wall.as_secs_f64(),
        missing.len(),
        failures.len()
    );
    let sync = Phase {
        stored: wall,
        wall,
        server_cpu: used.server,
        clients_cpu: used.clients,
        bytes,
        documents_confirmed: documents - missing.len(),
        failures,
        retries,
        notes: Vec::new(),
        per_agent_median: per_client.get(per_client.len() / 2).copied().unwrap_or_default(),
        per_agent_max: per_client.last().copied().unwrap_or_default(),
    };

    let reconnect = if let Some(exited) = exited {
        Phase { failures: vec![exited], ..Phase::skipped() }
    } else {
        eprintln!("reference: every client reconnects with nothing changed");
        let used_before = Usage::now(&[pid], Usage::default());
        let bytes_before = proxy.counters.snapshot();
        let (wall, retries, mut failures, per_client) = sync_all(&clients_runtime, &clients, &url, deadline);
        let bytes = proxy.counters.snapshot().since(&bytes_before);
        let used = Usage::now(&[pid], used_before).since(&used_before);
        failures.extend(server.exited());
        Phase {
            stored: wall,
            wall,
            server_cpu: used.server,
            clients_cpu: used.clients,
            bytes,
            documents_confirmed: documents,
            failures,
            retries,
            notes: Vec::new(),
            per_agent_median: per_client.get(per_client.len() / 2).copied().unwrap_or_default(),
            per_agent_max: per_client.last().copied().unwrap_or_default(),
        }
    };
    let peak_rss = peak.peak();
    let log_problems = std::fs::read_to_string(&log)
        .unwrap_or_default()
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(str::to_owned)
        .collect();
    drop(proxy);
    drop(server);
    Ok(Side {
        name: "automerge-repo (Node)",
        documents,
        sync,
        reconnect,
        peak_rss_after_sync: peak_after_sync,
        peak_rss,
        log_problems,
    })
}
