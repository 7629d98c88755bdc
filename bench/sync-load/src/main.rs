//! The sync load benchmark: many agents with a day of offline visits each
//! connect at once and sync, first against `posfield-server`, then, in the
//! same run and with the same documents, against a plain automerge-repo
//! sync server on Node (`bench/node-ref`) driven by automerge-repo's own
//! JavaScript clients. For each it measures the wall
//! time until every document is stored, the server's peak RSS and CPU time,
//! the bytes on the wire (through a counting proxy) and a reconnect of every
//! agent with nothing changed, and prints one table with the ratios.
//!
//! With `--poor-signal` it runs one agent's day through a shaped poor
//! mobile link instead (`poor_signal.rs`).
//!
//! Run it with `scripts/bench-sync` (which installs the Node packages and
//! builds the release binaries); `--help` lists the knobs. Every server
//! listens on 127.0.0.1 only; every wait is bounded; everything it writes
//! is in temporary folders removed at the end.

// A benchmark binary: its output is the table of figures.
#![allow(clippy::print_stdout)]

mod node_ref;
mod poor_signal;
mod posfield;
mod procstat;
mod proxy;
mod report;
mod workload;
#[cfg(test)]
mod workload_shape;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Parser;

/// Sync load: Posfield's server against a plain automerge-repo server, same workload, same run.
#[derive(Debug, Parser)]
struct Args {
    /// Simulated agents, all syncing at once.
    #[arg(long, default_value_t = 200)]
    agents: usize,
    /// Offline visits per agent.
    #[arg(long, default_value_t = 20)]
    visits: usize,
    /// Seed of the workload's choices.
    #[arg(long, default_value_t = 20_261_123)]
    seed: u64,
    /// Threads that build the workload.
    #[arg(long, default_value_t = 4)]
    build_threads: usize,
    /// The posfield-server binary (default: next to this one).
    #[arg(long)]
    server: Option<PathBuf>,
    /// The folder of the reference server (`server.mjs` and its node_modules).
    #[arg(long, default_value = concat!(env!("CARGO_MANIFEST_DIR"), "/../node-ref"))]
    node_ref: PathBuf,
    /// The Node.js executable.
    #[arg(long, default_value = "node")]
    node: String,
    /// An option for node before the script (repeatable; replaces the
    /// default). The default keeps the reference server running when one of
    /// automerge-repo's internal 60 s waits times out under load, which
    /// otherwise ends the process (an unhandled promise rejection);
    /// `--node-arg=` runs it with none.
    #[arg(long, allow_hyphen_values = true, default_value = "--unhandled-rejections=warn")]
    node_arg: Vec<String>,
    /// Where the simulated phones keep their data (a RAM-backed folder keeps
    /// the phones' own disk writes from competing with the servers' disk).
    #[arg(long)]
    phones_dir: Option<PathBuf>,
    /// Longest Posfield's side may take to sync every agent, in seconds: then
    /// the bench stops the server and reports what was stored.
    #[arg(long, default_value_t = 1200)]
    give_up_after: u64,
    /// Longest a reference client's session may take, in seconds.
    #[arg(long, default_value_t = 900)]
    session_deadline: u64,
    /// Who drives the reference server: automerge-repo's own JavaScript
    /// clients (as its users run it), or samod clients (the earlier variant).
    #[arg(long, value_enum, default_value = "js")]
    reference_clients: node_ref::ClientKind,
    /// Node processes holding the JavaScript clients (one `Repo` per agent
    /// in each; the agents dealt among them).
    #[arg(long, default_value_t = 2)]
    client_processes: usize,
    /// Posfield's server nodes, behind the counting proxy in round robin;
    /// more than one needs PostgreSQL and a bucket (`POSFIELD_DATABASE`,
    /// `POSFIELD_BLOBS`, with the bucket's credentials).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=8))]
    nodes: u16,
    /// Runs Posfield's counting proxy in a process of its own: beyond some
    /// 600 agents the clients' connections and files and the proxy's two
    /// descriptors per connection do not fit in one process's limit of
    /// open files.
    #[arg(long)]
    separate_proxy: bool,
    /// Serve as that separate proxy, in front of these comma-separated
    /// addresses (the bench starts it so).
    #[arg(long, hide = true)]
    serve_proxy: Option<String>,
    /// Only Posfield's side.
    #[arg(long, conflicts_with = "only_reference")]
    only_posfield: bool,
    /// Only the reference's side.
    #[arg(long)]
    only_reference: bool,
    #[command(flatten)]
    signal: poor_signal::Signal,
}

/// What to undo if the bench is interrupted: server processes it started
/// and temporary folders it made.
#[derive(Debug, Default)]
struct Leftovers {
    pids: Vec<u32>,
    dirs: Vec<PathBuf>,
}

static LEFTOVERS: std::sync::Mutex<Leftovers> =
    std::sync::Mutex::new(Leftovers { pids: Vec::new(), dirs: Vec::new() });

/// Remembers a server process to stop if the bench is interrupted.
pub(crate) fn started(pid: u32) {
    if let Ok(mut left) = LEFTOVERS.lock() {
        left.pids.push(pid);
    }
}

/// Forgets a server process that has been stopped.
pub(crate) fn stopped(pid: u32) {
    if let Ok(mut left) = LEFTOVERS.lock() {
        left.pids.retain(|p| *p != pid);
    }
}

/// On SIGINT or SIGTERM: kills the servers this bench started (by their
/// process ids), removes its temporary folders and exits.
fn clean_up_on_signal(runtime: &tokio::runtime::Runtime) {
    runtime.spawn(async {
        let Ok(mut term) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) else {
            return;
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
        if let Ok(left) = LEFTOVERS.lock() {
            for pid in &left.pids {
                let _ = std::process::Command::new("kill").args(["-KILL", &pid.to_string()]).status();
            }
            for dir in &left.dirs {
                let _ = std::fs::remove_dir_all(dir);
            }
        }
        eprintln!("interrupted: servers stopped, temporary folders removed");
        std::process::exit(130);
    });
}

/// A server's log file, opened for appending (its stderr and the rest of its
/// stdout both go there).
pub(crate) fn log_file(path: &std::path::Path) -> std::io::Result<std::fs::File> {
    std::fs::OpenOptions::new().create(true).append(true).open(path)
}

/// Copies the rest of a server's stdout into its log on a thread of its
/// own, so that the server never writes into a closed pipe.
pub(crate) fn drain_into(
    mut stdout: impl std::io::Read + Send + 'static,
    log: &std::path::Path,
) -> std::io::Result<()> {
    let mut file = log_file(log)?;
    std::thread::spawn(move || std::io::copy(&mut stdout, &mut file));
    Ok(())
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if let Some(targets) = &args.serve_proxy {
        return proxy::serve(targets);
    }
    // Logs of the bench's own clients (samod, the agents' cores), only when asked for.
    if std::env::var_os("RUST_LOG").is_some() {
        tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_writer(std::io::stderr)
            .init();
    }
    let work = tempfile::Builder::new().prefix("posfield-bench-sync-").tempdir()?;
    let phones = match &args.phones_dir {
        Some(dir) => tempfile::Builder::new().prefix("posfield-bench-phones-").tempdir_in(dir)?,
        None => tempfile::Builder::new().prefix("posfield-bench-phones-").tempdir()?,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    if let Ok(mut left) = LEFTOVERS.lock() {
        left.dirs.extend([work.path().to_owned(), phones.path().to_owned()]);
    }
    clean_up_on_signal(&runtime);
    if args.signal.poor_signal {
        let phones = phones.path();
        return poor_signal::run(
            &runtime,
            &args.signal,
            args.server,
            work.path(),
            phones,
            args.visits,
            args.seed,
        );
    }

    eprintln!(
        "building the workload: {} agents x {} visits (seed {}) on {} threads",
        args.agents, args.visits, args.seed, args.build_threads
    );
    let started = Instant::now();
    let (built, shape) =
        workload::build(phones.path(), args.agents, args.visits, args.seed, args.build_threads)?;
    eprintln!("built in {:.1} s", started.elapsed().as_secs_f64());
    // The reference gets exactly the documents the phones hold before they sync.
    let mut docs = Vec::with_capacity(built.len());
    for one in &built {
        let mut visits = Vec::with_capacity(one.visits.len());
        for id in &one.visits {
            visits.push((id.to_string(), one.agent.visit_document(id)?));
        }
        docs.push((one.name.clone(), visits));
    }

    let ours = if args.only_reference {
        None
    } else {
        let binary =
            args.server.clone().or_else(posfield::default_binary).context("where is posfield-server?")?;
        anyhow::ensure!(
            binary.exists(),
            "{} does not exist: build it with `cargo build --release -p posfield-sync-server`",
            binary.display()
        );
        Some(posfield::run(
            &runtime,
            &binary,
            work.path(),
            built,
            Duration::from_secs(args.give_up_after),
            usize::from(args.nodes),
            args.separate_proxy,
        )?)
    };
    let reference = if args.only_posfield {
        None
    } else {
        Some(node_ref::run(
            &runtime,
            &args.node,
            &args.node_arg,
            &args.node_ref,
            work.path(),
            docs,
            Duration::from_secs(args.session_deadline),
            &node_ref::ClientSetup {
                kind: args.reference_clients,
                processes: args.client_processes,
                store: &phones.path().join("reference-clients"),
            },
        )?)
    };
    let nodes = if args.nodes > 1 { format!(", {} server nodes", args.nodes) } else { String::new() };
    let settings = format!(
        "{} agents x {} visits{nodes}, seed {}, {} cores",
        args.agents,
        args.visits,
        args.seed,
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
    );
    report::print(&settings, &shape, ours.as_ref(), reference.as_ref());
    Ok(())
}
