//! The figures of both sides and their ratios, as a Markdown table.

use std::time::Duration;

use crate::proxy::{Class, Snapshot};
use crate::workload::Shape;

/// One timed phase of one side (the first sync, or the reconnect).
#[derive(Debug, Clone)]
pub(crate) struct Phase {
    /// From the common start to the last document stored.
    pub(crate) stored: Duration,
    /// From the common start to the end of the last sync (for Posfield,
    /// with every photo uploaded and every visit confirmed).
    pub(crate) wall: Duration,
    /// Server CPU time used during the phase, in seconds.
    pub(crate) server_cpu: f64,
    /// CPU time of the simulated clients and the proxy (this process), in seconds.
    pub(crate) clients_cpu: f64,
    /// Bytes through the proxy during the phase.
    pub(crate) bytes: Snapshot,
    /// Documents the server is known to hold at the end.
    pub(crate) documents_confirmed: usize,
    /// Agents or clients that did not finish, and why.
    pub(crate) failures: Vec<String>,
    /// Extra attempts taken.
    pub(crate) retries: usize,
    /// Other observations, printed under the table.
    pub(crate) notes: Vec<String>,
    /// Per agent: the median and longest time to finish.
    pub(crate) per_agent_median: Duration,
    pub(crate) per_agent_max: Duration,
}

impl Phase {
    /// A phase that did not run.
    pub(crate) fn skipped() -> Phase {
        Phase {
            stored: Duration::ZERO,
            wall: Duration::ZERO,
            server_cpu: 0.0,
            clients_cpu: 0.0,
            bytes: Snapshot::default(),
            documents_confirmed: 0,
            failures: Vec::new(),
            retries: 0,
            notes: Vec::new(),
            per_agent_median: Duration::ZERO,
            per_agent_max: Duration::ZERO,
        }
    }
}

/// One server's figures.
#[derive(Debug, Clone)]
pub(crate) struct Side {
    pub(crate) name: &'static str,
    pub(crate) documents: usize,
    pub(crate) sync: Phase,
    pub(crate) reconnect: Phase,
    /// Peak RSS of the server process up to the end of the first sync.
    pub(crate) peak_rss_after_sync: u64,
    /// Peak RSS of the server process over the whole run.
    pub(crate) peak_rss: u64,
    /// Warnings and errors the server logged.
    pub(crate) log_problems: Vec<String>,
}

const MB: f64 = 1_000_000.0;

pub(crate) fn secs(d: Duration) -> String {
    format!("{:.2} s", d.as_secs_f64())
}

pub(crate) fn mb(bytes: u64) -> String {
    format!("{:.2} MB", bytes as f64 / MB)
}

fn ratio(numerator: f64, denominator: f64) -> String {
    if denominator > 0.0 { format!("{:.2}", numerator / denominator) } else { "-".into() }
}

/// Prints the run's settings, the workload and the table.
pub(crate) fn print(settings: &str, shape: &Shape, ours: Option<&Side>, reference: Option<&Side>) {
    println!("## Sync load: {settings}");
    println!();
    let visits = shape.visits.max(1) as f64;
    println!(
        "Workload: {} visits, {:.1} edits each ({} photos, {} signatures, {} completed); \
         documents {:.1} KB each on average ({} in all); {} blobs, {} ({:.1} KB each).",
        shape.visits,
        shape.edits as f64 / visits,
        shape.photos,
        shape.signatures,
        shape.completed,
        shape.doc_bytes as f64 / visits / 1000.0,
        mb(shape.doc_bytes),
        shape.blobs,
        mb(shape.blob_bytes),
        shape.blob_bytes as f64 / shape.blobs.max(1) as f64 / 1000.0,
    );
    println!();
    let sides: Vec<&Side> = [ours, reference].into_iter().flatten().collect();
    let header: Vec<&str> = sides.iter().map(|s| s.name).collect();
    let both = ours.zip(reference);
    println!(
        "| measure | {} |{}",
        header.join(" | "),
        if both.is_some() { " ratio (reference / Posfield) |" } else { "" }
    );
    println!("|---|{}{}", "---|".repeat(sides.len()), if both.is_some() { "---|" } else { "" });
    let row = |name: &str, value: &dyn Fn(&Side) -> String, compare: Option<&dyn Fn(&Side) -> f64>| {
        let cells: Vec<String> = sides.iter().map(|s| value(s)).collect();
        let last = match (both, compare) {
            (Some((o, r)), Some(f)) => format!(" {} |", ratio(f(r), f(o))),
            (Some(_), None) => " |".to_owned(),
            _ => String::new(),
        };
        println!("| {name} | {} |{last}", cells.join(" | "));
    };
    // Documents are the sync websocket plus, for Posfield, the manifest requests before it.
    let docs_on_wire = |p: &Phase| p.bytes.both(Class::Documents) + p.bytes.both(Class::Manifest);
    row("documents stored / sent", &|s| format!("{} / {}", s.sync.documents_confirmed, s.documents), None);
    row(
        "wall time until every document is stored",
        &|s| secs(s.sync.stored),
        Some(&|s| s.sync.stored.as_secs_f64()),
    );
    row(
        "wall time until every sync is over (Posfield: photos uploaded, visits confirmed)",
        &|s| secs(s.sync.wall),
        Some(&|s| s.sync.wall.as_secs_f64()),
    );
    row(
        "per agent: median / longest",
        &|s| format!("{} / {}", secs(s.sync.per_agent_median), secs(s.sync.per_agent_max)),
        None,
    );
    row(
        "server CPU time during the sync",
        &|s| format!("{:.1} s", s.sync.server_cpu),
        Some(&|s| s.sync.server_cpu),
    );
    row("clients' and proxy's CPU time during the sync", &|s| format!("{:.1} s", s.sync.clients_cpu), None);
    row(
        "server peak RSS (first sync)",
        &|s| mb(s.peak_rss_after_sync),
        Some(&|s| s.peak_rss_after_sync as f64),
    );
    row("server peak RSS (whole run)", &|s| mb(s.peak_rss), Some(&|s| s.peak_rss as f64));
    row(
        "document bytes on the wire",
        &|s| mb(docs_on_wire(&s.sync)),
        Some(&|s| docs_on_wire(&s.sync) as f64),
    );
    row(
        "document bytes per document",
        &|s| format!("{:.2} KB", docs_on_wire(&s.sync) as f64 / s.documents.max(1) as f64 / 1000.0),
        Some(&|s| docs_on_wire(&s.sync) as f64 / s.documents.max(1) as f64),
    );
    row("of which manifest requests", &|s| mb(s.sync.bytes.both(Class::Manifest)), None);
    row(
        "blob bytes on the wire (payload)",
        &|s| {
            let payload = if s.sync.bytes.both(Class::Blobs) > 0 { shape.blob_bytes } else { 0 };
            format!("{} ({})", mb(s.sync.bytes.both(Class::Blobs)), mb(payload))
        },
        None,
    );
    row("other bytes on the wire", &|s| mb(s.sync.bytes.both(Class::Other)), None);
    row("connections", &|s| s.sync.bytes.connections.to_string(), None);
    row("retries / agents failed", &|s| format!("{} / {}", s.sync.retries, s.sync.failures.len()), None);
    row(
        "no-change reconnect: wall time",
        &|s| secs(s.reconnect.wall),
        Some(&|s| s.reconnect.wall.as_secs_f64()),
    );
    row(
        "no-change reconnect: bytes on the wire",
        &|s| mb(s.reconnect.bytes.total()),
        Some(&|s| s.reconnect.bytes.total() as f64),
    );
    row(
        "no-change reconnect: server CPU time",
        &|s| format!("{:.2} s", s.reconnect.server_cpu),
        Some(&|s| s.reconnect.server_cpu),
    );
    row(
        "no-change reconnect: retries / agents failed",
        &|s| format!("{} / {}", s.reconnect.retries, s.reconnect.failures.len()),
        None,
    );
    println!();
    if let Some((o, r)) = both {
        let stored = r.sync.stored.as_secs_f64() / o.sync.stored.as_secs_f64().max(1e-9);
        let whole = r.sync.stored.as_secs_f64() / o.sync.wall.as_secs_f64().max(1e-9);
        let memory = o.peak_rss as f64 / r.peak_rss.max(1) as f64;
        let per_doc = |s: &Side| docs_on_wire(&s.sync) as f64 / s.documents.max(1) as f64;
        println!("Goals against the reference measured in this run:");
        println!("- every document stored at least 10x sooner: {stored:.1}x ({})", verdict(stored >= 10.0));
        println!(
            "- the whole sync with the photos at least 5x sooner than the reference's documents alone: {whole:.1}x ({})",
            verdict(whole >= 5.0)
        );
        println!(
            "- server peak memory at most a quarter of the reference's: {:.2} of it ({})",
            memory,
            verdict(memory <= 0.25)
        );
        println!(
            "- fewer document bytes per document: {:.0} B against {:.0} B ({})",
            per_doc(o),
            per_doc(r),
            verdict(per_doc(o) < per_doc(r))
        );
        println!();
    }
    for side in &sides {
        for note in &side.sync.notes {
            println!("- {}: {note}", side.name);
        }
    }
    for side in sides {
        for (phase, failures) in [("sync", &side.sync.failures), ("reconnect", &side.reconnect.failures)] {
            // The same reason from many agents is one line with a count.
            let mut reasons: Vec<(&String, usize)> = Vec::new();
            for failure in failures {
                match reasons.iter_mut().find(|(r, _)| *r == failure) {
                    Some((_, n)) => *n += 1,
                    None => reasons.push((failure, 1)),
                }
            }
            for (reason, n) in reasons.iter().take(10) {
                println!("- {} {phase}, {n}x: {reason}", side.name);
            }
        }
        if !side.log_problems.is_empty() {
            println!("- {} logged {} warnings or errors; the first:", side.name, side.log_problems.len());
            for line in side.log_problems.iter().take(5) {
                println!("  `{}`", without_colours(line).chars().take(300).collect::<String>());
            }
        }
    }
}

/// A log line without its terminal colour codes (`ESC [ ... m`).
fn without_colours(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for skipped in chars.by_ref() {
                if skipped.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

fn verdict(met: bool) -> &'static str {
    if met { "met" } else { "NOT met" }
}
