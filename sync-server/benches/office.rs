//! How fast the back office answers with 100,000 visits.
//!
//! Starts a real server on a temporary data folder, fills it with the demo
//! fleet (real documents, projected), then replicates the demo's projection
//! rows to 100,000 visits and its register to 20,000 terminals (new ids and
//! serials, dates spread over two years), written through the store as a
//! projection and a register import are, signs in, and times the pages
//! through the router in-process: routing, session, SQL and rendering, which
//! is the server's time for a request. Prints one Markdown table.
//!
//! `cargo bench -p posfield-sync-server --bench office` (`-- --visits N` to
//! change the size); with `POSFIELD_DATABASE=postgres://...` (an empty
//! database) the store is PostgreSQL.

// A benchmark binary reports on stdout.
#![allow(clippy::print_stdout, missing_docs)]

use std::time::{Duration, Instant};

use anyhow::Context as _;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use posfield_shared::CalendarDate;
use posfield_shared::visit::VisitDoc;
use posfield_shared::visit::authority::OfficeFields;
use posfield_sync_server::State;
use posfield_sync_server::auth::UserRole;
use posfield_sync_server::config::Config;
use posfield_sync_server::office::pages::PAGE_ROWS;
use posfield_sync_server::projection::projection_row;
use posfield_sync_server::store::{
    AuditEntry, Principal, ProjectionRow, RegisterRow, Store, VisitQuery, VisitRow,
};
use tower::ServiceExt;

/// Rows written through the store at once.
const BATCH_ROWS: usize = 5_000;

fn main() -> anyhow::Result<()> {
    let mut visits = 100_000_i64;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        if arg == "--visits" {
            visits = args.next().and_then(|v| v.parse().ok()).unwrap_or(visits);
        }
    }
    tokio::runtime::Builder::new_multi_thread().enable_all().build()?.block_on(run(visits))
}

/// The first `pages` pages of the visit list as the desk reads them, and
/// the key the next page starts after.
async fn visit_pages(
    store: &dyn Store,
    desk: &Principal,
    pages: usize,
) -> anyhow::Result<(Vec<VisitRow>, Option<(i64, String)>)> {
    let mut query = VisitQuery::default();
    let mut rows = Vec::new();
    for _ in 0..pages {
        let (page, next) = store.visit_list(desk, &query, PAGE_ROWS).await?;
        rows.extend(page);
        match next {
            Some(key) => query.after = Some(key),
            None => return Ok((rows, None)),
        }
    }
    Ok((rows, query.after))
}

/// Copies 1 to `copies` of every demo visit: a new id, the serial of
/// another terminal copy, k times 7 hours earlier; the same document
/// fields, heads and back-office fields as the visit's own projection.
async fn replicate_visits(state: &State, demo: &[VisitRow], copies: i64) -> anyhow::Result<()> {
    let store = state.store.as_ref();
    let mut originals = Vec::with_capacity(demo.len());
    for row in demo {
        let (bytes, _) = state.repo.load(&row.id).await?.context("a demo visit without its document")?;
        let visit = VisitDoc::load(&bytes)?.visit()?;
        let projected = store.projected(&row.id).await?.context("a demo visit without its projection")?;
        let office: OfficeFields = serde_json::from_str(&projected.office)?;
        let heads: Vec<String> = projected.heads.split(',').map(str::to_owned).collect();
        originals.push((visit, projected, office, heads));
    }
    let mut batch: Vec<ProjectionRow> = Vec::with_capacity(BATCH_ROWS);
    for k in 1..=copies {
        for (visit, projected, office, heads) in &originals {
            // A copy's acceptance is its original's, countersigned once already.
            let mut row = projection_row(visit, &projected.owner, office, heads, &state.signing_key, None);
            row.id = format!("{}-{k}", visit.id);
            row.serial = row.serial.map(|serial| format!("{serial}{:02}", k % 60));
            row.created_at -= k * 7 * 3600;
            row.updated_at -= k * 7 * 3600;
            row.office.clone_from(&projected.office);
            batch.push(row);
            if batch.len() == BATCH_ROWS {
                store.write_projections(std::mem::take(&mut batch), Vec::new()).await?;
            }
        }
    }
    store.write_projections(batch, Vec::new()).await?;
    Ok(())
}

/// Copies 0 to 59 of every registered terminal: the serial with two more
/// digits, produced and out of warranty n days earlier, the SIM card
/// expiring 5n days later.
async fn replicate_register(store: &dyn Store) -> anyhow::Result<()> {
    let shift = |date: &Option<String>, days: i64| -> anyhow::Result<Option<String>> {
        date.as_deref().map(|d| Ok(CalendarDate::parse(d)?.add_days(days).to_string())).transpose()
    };
    let registered: Vec<_> = store.all_terminals().await?.into_iter().filter(|t| t.state.is_some()).collect();
    let mut batch = Vec::with_capacity(BATCH_ROWS);
    for n in 0..60 {
        for terminal in &registered {
            batch.push(RegisterRow {
                serial: format!("{}{n:02}", terminal.serial),
                model: terminal.model.clone(),
                manufacturer: terminal.manufacturer.clone(),
                merchant: Some(terminal.merchant.clone()),
                merchant_number: terminal.merchant_number.clone(),
                state: terminal.state.clone().unwrap_or_default(),
                production_date: shift(&terminal.production_date, -n)?,
                warranty_end: shift(&terminal.warranty_end, -n)?,
                sim_iccid: terminal.sim_iccid.clone(),
                sim_carrier: terminal.sim_carrier.clone(),
                sim_expiry: shift(&terminal.sim_expiry, 5 * n)?,
                lat_e6: None,
                lon_e6: None,
            });
            if batch.len() == BATCH_ROWS {
                store.import_register(std::mem::take(&mut batch), imported(BATCH_ROWS)).await?;
            }
        }
    }
    let rows = batch.len();
    store.import_register(batch, imported(rows)).await?;
    Ok(())
}

/// The audit entry of a register import of `rows` rows by the benchmark.
fn imported(rows: usize) -> AuditEntry {
    AuditEntry::new(None, "bench", "import_terminals", &format!("{rows} imported, 0 refused"))
}

async fn run(target: i64) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    // `POSFIELD_DATABASE=postgres://...` runs it on PostgreSQL (an empty database).
    let database = std::env::var("POSFIELD_DATABASE").ok().filter(|url| !url.is_empty());
    let config = Config {
        data: dir.path().to_owned(),
        listen: "127.0.0.1:0".parse()?,
        database: database.map(posfield_sync_server::config::DatabaseUrl::new),
        ..Config::default()
    };
    let running = posfield_sync_server::start(config, false).await?;
    let state = running.state.clone();
    let store = state.store.as_ref();
    let desk = Principal::Office { name: "bench".into(), role: UserRole::Admin };
    let started = Instant::now();
    posfield_sync_server::demo::fill(&state)
        .await?
        .ok_or_else(|| anyhow::anyhow!("the folder was not empty"))?;
    let demo_time = started.elapsed();
    let started = Instant::now();
    let (demo, _) = visit_pages(store, &desk, usize::MAX).await?;
    let copies = (target + demo.len() as i64 - 1) / demo.len() as i64 - 1;
    replicate_register(store).await?;
    replicate_visits(&state, &demo, copies).await?;
    // As after a migration or a bulk import: the engine's statistics and
    // visibility brought up to date (PostgreSQL's autovacuum would get
    // there within minutes; the pages are timed right after the fill).
    store.after_bulk_load().await?;
    let counts = (demo.len() as i64 * (copies + 1), store.all_terminals().await?.len());
    let fill_time = started.elapsed();

    posfield_sync_server::auth::add_user(store, "bench", UserRole::Admin, "bench password").await?;
    let app = posfield_sync_server::api::router(state.clone());
    let login = Request::post("/office/login")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from("user=bench&password=bench+password"))?;
    let response = app.clone().oneshot(login).await?;
    anyhow::ensure!(response.status() == StatusCode::SEE_OTHER, "sign-in failed: {}", response.status());
    let cookie =
        response.headers()[header::SET_COOKIE].to_str()?.split(';').next().unwrap_or_default().to_owned();

    // A key deep in the list: the 100th page of everything.
    let (_, deep) = visit_pages(store, &desk, 100).await?;
    let (deep_at, deep_id) = deep.context("fewer than 100 pages of visits")?;
    let deep_key = format!("{deep_at}:{deep_id}");
    // A waiting visit's page as the queue opens it (one of the demo's, whose
    // documents exist: the replicas are projection rows only).
    let waiting = demo.iter().find(|v| v.status == "completed").context("the demo has a waiting visit")?;
    let queued = format!("/office/visits/{}?queue={}%3A{}", waiting.id, waiting.updated_at, waiting.id);
    let pages = [
        ("visit list, first page", "/office/visits".to_owned()),
        ("visit list, page 100", format!("/office/visits?after={}", deep_key.replace(':', "%3A"))),
        ("visits waiting for review", "/office/visits?status=completed".into()),
        ("repairs of one agent", "/office/visits?kind=repair&agent=li.na".into()),
        ("merchant name contains", "/office/visits?merchant=%E8%8A%B1%E5%BA%97".into()),
        ("serial starts with", "/office/visits?serial=NLME31".into()),
        ("one month", "/office/visits?from=2026-09-01&to=2026-09-30".into()),
        (
            "status + kind + month",
            "/office/visits?status=approved&kind=installation&from=2026-08-01&to=2026-10-31".into(),
        ),
        ("alerts (every alert list)", "/office/alerts".into()),
        ("dashboard", "/office/dashboard".into()),
        ("review queue (to its first visit)", "/office/queue".into()),
        ("the queue's visit page", queued),
        ("terminals, first page", "/office/terminals".into()),
    ];
    println!(
        "{} visits, {} terminals (demo built in {:.1} s, replicated in {:.1} s)\n",
        counts.0,
        counts.1,
        demo_time.as_secs_f64(),
        fill_time.as_secs_f64()
    );
    println!("| page | median ms | p95 ms | max ms | bytes |");
    println!("|---|---:|---:|---:|---:|");
    let mut worst = Duration::ZERO;
    for (name, uri) in pages {
        let mut times = Vec::new();
        let mut bytes = 0;
        for round in 0..60 {
            let request = Request::get(&uri).header(header::COOKIE, &cookie).body(Body::empty())?;
            let started = Instant::now();
            let response = app.clone().oneshot(request).await?;
            let status = response.status();
            let body = axum::body::to_bytes(response.into_body(), usize::MAX).await?;
            let elapsed = started.elapsed();
            // The queue answers with the address of the visit it opens.
            let expected = if uri == "/office/queue" { StatusCode::SEE_OTHER } else { StatusCode::OK };
            anyhow::ensure!(status == expected, "{uri}: {status}");
            bytes = body.len();
            if round >= 10 {
                times.push(elapsed);
            }
        }
        times.sort();
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        let (median, p95, max) =
            (times[times.len() / 2], times[times.len() * 95 / 100], times[times.len() - 1]);
        worst = worst.max(median);
        println!("| {name} | {:.1} | {:.1} | {:.1} | {bytes} |", ms(median), ms(p95), ms(max));
    }
    println!("\nslowest median: {:.1} ms (budget 50 ms)", worst.as_secs_f64() * 1000.0);
    running.stop().await?;
    Ok(())
}
