//! Other agents' sync latency while strangers guess passwords.
//!
//! Starts a real server on a temporary data folder with a few enrolled
//! agents, each assigned visits created at the desk, and times their sync
//! requests (the manifest: credential check, version record, the visits it
//! reaches) through the router in-process, first alone, then while 16
//! clients send wrong passwords as fast as they are answered (to the
//! administrator's name and to names nobody has), once with the default
//! limits and once on a second server whose limits are out of reach (a
//! guesser with endless addresses). Then it times a wrong password for a
//! known name against one for an unknown name. Prints Markdown tables.
//!
//! `cargo bench -p posfield-sync-server --bench guessing` (`-- --secs N`
//! for each phase's length, `--agents N`, `--visits N` per agent).

// A benchmark binary reports on stdout.
#![allow(clippy::print_stdout, missing_docs)]

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use base64::Engine as _;
use posfield_shared::visit::{Ctx, MerchantInput, VisitDoc};
use posfield_shared::{Actor, Timestamp, VisitKind};
use posfield_sync_server::auth::{self, UserRole};
use posfield_sync_server::config::Config;
use posfield_sync_server::store::AuditEntry;
use posfield_sync_server::{State, projection};
use tower::ServiceExt;

/// Clients sending wrong passwords at once.
const GUESSERS: usize = 16;

const KEY: &str = "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c";

struct Size {
    secs: u64,
    agents: usize,
    visits: usize,
}

fn main() -> anyhow::Result<()> {
    let mut size = Size { secs: 10, agents: 4, visits: 20 };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let value = args.next().and_then(|v| v.parse::<u64>().ok());
        match (arg.as_str(), value) {
            ("--secs", Some(v)) => size.secs = v,
            ("--agents", Some(v)) => size.agents = v as usize,
            ("--visits", Some(v)) => size.visits = v as usize,
            _ => {}
        }
    }
    tokio::runtime::Builder::new_multi_thread().enable_all().build()?.block_on(run(size))
}

/// A server with an administrator and `size.agents` enrolled agents, each
/// assigned `size.visits` visits; the agents' credentials.
async fn server(config: Config, size: &Size) -> anyhow::Result<(Arc<State>, Vec<String>)> {
    let running = posfield_sync_server::start(config, false).await?;
    let state = running.state.clone();
    // The server runs until the process ends.
    std::mem::forget(running);
    let store = state.store.as_ref();
    auth::add_user(store, "zhou", UserRole::Admin, "the administrator's password").await?;
    let mut tokens = Vec::new();
    for a in 0..size.agents {
        let agent = format!("agent{a}");
        let code = auth::issue_enrolment_code(store, &agent).await?;
        let enrolled = auth::enrol(store, &code, &format!("phone{a}"), "", KEY, state.clock.now()).await?;
        tokens.push(enrolled.token);
        for v in 0..size.visits {
            let merchant = MerchantInput {
                name: format!("商户 {a}-{v}"),
                merchant_number: None,
                terminal_number: None,
                phone: None,
                address: None,
                location: None,
            };
            let id = uuid::Uuid::now_v7().to_string();
            let desk =
                Ctx::new(Actor::admin("zhou", "back-office"), Timestamp(1_795_000_000_000), id.clone());
            let mut doc = VisitDoc::create_visit(
                &desk,
                projection::SERVER_ACTOR_ID,
                &id,
                VisitKind::Inspection,
                &merchant,
                &agent,
            )?;
            let audit = AuditEntry::new(Some(&id), "zhou", "create", &agent);
            projection::office_create(&state, &mut doc, audit, None).await?;
        }
    }
    Ok((state, tokens))
}

/// One sync request of an agent; its time.
async fn manifest(app: &axum::Router, token: &str) -> anyhow::Result<Duration> {
    let request = Request::post("/api/v1/sync/manifest")
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(r#"{"digest":"stale"}"#))?;
    let started = Instant::now();
    let response = app.clone().oneshot(request).await?;
    let status = response.status();
    axum::body::to_bytes(response.into_body(), usize::MAX).await?;
    anyhow::ensure!(status == StatusCode::OK, "a manifest answered {status}");
    Ok(started.elapsed())
}

/// A wrong password for `name` through the JSON API; the status.
async fn guess(app: &axum::Router, name: &str, n: usize) -> anyhow::Result<u16> {
    let credentials = base64::engine::general_purpose::STANDARD.encode(format!("{name}:wrong password {n}"));
    let request = Request::get("/api/v1/office/audit")
        .header(header::AUTHORIZATION, format!("Basic {credentials}"))
        .body(Body::empty())?;
    Ok(app.clone().oneshot(request).await?.status().as_u16())
}

struct Phase {
    latencies: Vec<Duration>,
    answers: BTreeMap<u16, usize>,
}

/// The agents' sync latencies for `secs`, with or without the guessers.
async fn phase(state: &Arc<State>, tokens: &[String], secs: u64, guessing: bool) -> anyhow::Result<Phase> {
    let app = posfield_sync_server::api::router(state.clone());
    let stop = Arc::new(AtomicBool::new(false));
    let mut guessers = Vec::new();
    if guessing {
        for g in 0..GUESSERS {
            let (app, stop) = (app.clone(), stop.clone());
            guessers.push(tokio::spawn(async move {
                let mut answers = BTreeMap::new();
                let mut n = 0;
                while !stop.load(Ordering::Relaxed) {
                    // Every other guess is for a name nobody has.
                    let name = if n % 2 == 0 { "zhou".to_owned() } else { format!("guess{g}x{n}") };
                    *answers.entry(guess(&app, &name, n).await?).or_insert(0) += 1;
                    n += 1;
                }
                anyhow::Ok(answers)
            }));
        }
        // The guessers are at full speed before the timing starts.
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    let deadline = Instant::now() + Duration::from_secs(secs);
    let mut agents = Vec::new();
    for token in tokens {
        let (app, token) = (app.clone(), token.clone());
        agents.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            while Instant::now() < deadline {
                latencies.push(manifest(&app, &token).await?);
                // A phone syncs now and then, not in a loop.
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            anyhow::Ok(latencies)
        }));
    }
    let mut latencies = Vec::new();
    for agent in agents {
        latencies.extend(agent.await??);
    }
    stop.store(true, Ordering::Relaxed);
    let mut answers = BTreeMap::new();
    for guesser in guessers {
        for (status, count) in guesser.await?? {
            *answers.entry(status).or_insert(0) += count;
        }
    }
    latencies.sort();
    Ok(Phase { latencies, answers })
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted.get(index).map_or(f64::NAN, |d| d.as_secs_f64() * 1000.0)
}

/// Median milliseconds of `rounds` wrong passwords for `name`, one at a time.
async fn median_refusal(state: &Arc<State>, name: &str, rounds: usize) -> anyhow::Result<f64> {
    let app = posfield_sync_server::api::router(state.clone());
    let mut times = Vec::new();
    for n in 0..rounds {
        let started = Instant::now();
        let status = guess(&app, name, n).await?;
        anyhow::ensure!(status == 401, "a wrong password answered {status}");
        times.push(started.elapsed());
    }
    times.sort();
    Ok(percentile(&times, 0.5))
}

async fn run(size: Size) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let listen = "127.0.0.1:0".parse()?;
    let limited = Config { data: dir.path().join("limited"), listen, ..Config::default() };
    let unlimited = Config {
        data: dir.path().join("unlimited"),
        listen,
        password_failures_per_account: u32::MAX,
        password_failures_per_address: u32::MAX,
        ..Config::default()
    };
    let (limited, limited_tokens) = server(limited, &size).await?;
    let (unlimited, unlimited_tokens) = server(unlimited, &size).await?;
    println!(
        "{} agents with {} visits each, {} s per phase, {GUESSERS} guessers, {} password check(s) at once\n",
        size.agents,
        size.visits,
        size.secs,
        auth::password_turns().available_permits()
    );
    println!("| phase | agents' syncs | p50 ms | p95 ms | p99 ms | max ms | guesses answered |");
    println!("|---|---:|---:|---:|---:|---:|---|");
    let phases = [
        ("alone", &limited, &limited_tokens, false),
        ("16 guessers, default limits", &limited, &limited_tokens, true),
        ("alone (limits out of reach)", &unlimited, &unlimited_tokens, false),
        ("16 guessers, limits out of reach", &unlimited, &unlimited_tokens, true),
    ];
    for (name, state, tokens, guessing) in phases {
        let result = phase(state, tokens, size.secs, guessing).await?;
        let answers: Vec<String> =
            result.answers.iter().map(|(status, count)| format!("{count} x {status}")).collect();
        let l = &result.latencies;
        println!(
            "| {name} | {} | {:.2} | {:.2} | {:.2} | {:.2} | {} |",
            l.len(),
            percentile(l, 0.5),
            percentile(l, 0.95),
            percentile(l, 0.99),
            l.last().map_or(f64::NAN, |d| d.as_secs_f64() * 1000.0),
            if answers.is_empty() { "-".to_owned() } else { answers.join(", ") }
        );
    }
    let known = median_refusal(&unlimited, "zhou", 20).await?;
    let unknown = median_refusal(&unlimited, "nobody-has-this-name", 20).await?;
    println!("\n| wrong password for | median ms (20, one at a time) |");
    println!("|---|---:|");
    println!("| a known name | {known:.1} |");
    println!("| an unknown name | {unknown:.1} |");
    Ok(())
}
