//! How fast the back office answers with 100,000 visits.
//!
//! Starts a real server on a temporary data folder, fills it with the demo
//! fleet (real documents, projected), then replicates the demo's projection
//! rows to 100,000 visits and its register to 20,000 terminals (new ids and
//! serials, dates spread over two years, written straight into the SQLite
//! engine's tables, as only a benchmark of that engine may), signs in, and
//! times the pages
//! through the router in-process: routing, session, SQL and rendering, which
//! is the server's time for a request. Prints one Markdown table.
//!
//! `cargo bench -p posfield-sync-server --bench office` (`-- --visits N` to
//! change the size).

// A benchmark binary reports on stdout.
#![allow(clippy::print_stdout, missing_docs)]

use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use posfield_sync_server::config::Config;
use tower::ServiceExt;

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

async fn run(target: i64) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let config = Config { data: dir.path().to_owned(), listen: "127.0.0.1:0".parse()?, ..Config::default() };
    let running = posfield_sync_server::start(config, false).await?;
    let state = running.state.clone();
    let started = Instant::now();
    posfield_sync_server::demo::fill(&state)
        .await?
        .ok_or_else(|| anyhow::anyhow!("the folder was not empty"))?;
    let demo_time = started.elapsed();
    let started = Instant::now();
    // The engine's own tables, on a connection of the benchmark's own.
    let mut c = rusqlite::Connection::open(dir.path().join("posfield.db"))?;
    c.busy_timeout(Duration::from_secs(30))?;
    let demo: i64 = c.query_row("SELECT count(*) FROM visits", [], |r| r.get(0))?;
    let copies = (target + demo - 1) / demo - 1;
    let tx = c.transaction()?;
    // Copy k of every demo row: a new id, the serial of another terminal copy, k days earlier.
    tx.execute(
        "WITH RECURSIVE k(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM k WHERE n < ?1)
         INSERT INTO visits (id, owner, kind, status, merchant, merchant_number, serial, assignee, created_by,
            created_at, updated_at, heads, office, blobs_missing, sim_iccid, sim_expiry)
         SELECT v.id || '-' || k.n, v.owner, v.kind, v.status, v.merchant, v.merchant_number,
            CASE WHEN v.serial IS NULL THEN NULL ELSE v.serial || printf('%02d', k.n % 60) END,
            v.assignee, v.created_by, v.created_at - k.n * 7 * 3600, v.updated_at - k.n * 7 * 3600,
            v.heads, v.office, v.blobs_missing, v.sim_iccid, v.sim_expiry
         FROM visits v, k",
        [copies],
    )?;
    tx.execute(
        "WITH RECURSIVE k(n) AS (SELECT 0 UNION ALL SELECT n + 1 FROM k WHERE n < 59)
         INSERT INTO terminal_register (serial, model, manufacturer, merchant, merchant_number, state,
            production_date, warranty_end, sim_iccid, sim_carrier, sim_expiry, imported_at)
         SELECT r.serial || printf('%02d', k.n), r.model, r.manufacturer, r.merchant, r.merchant_number,
            r.state, date(r.production_date, '-' || k.n || ' days'), date(r.warranty_end, '-' || k.n || ' days'),
            r.sim_iccid, r.sim_carrier, date(r.sim_expiry, '+' || (k.n * 5) || ' days'), r.imported_at
         FROM terminal_register r, k",
        [],
    )?;
    tx.commit()?;
    let counts: (i64, i64) = (
        c.query_row("SELECT count(*) FROM visits", [], |r| r.get(0))?,
        c.query_row("SELECT count(*) FROM fleet", [], |r| r.get(0))?,
    );
    let fill_time = started.elapsed();

    posfield_sync_server::auth::add_user(
        state.store.as_ref(),
        "bench",
        posfield_sync_server::auth::UserRole::Admin,
        "bench password",
    )
    .await?;
    let app = posfield_sync_server::api::router(state.clone());
    let login = Request::post("/office/login")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from("user=bench&password=bench+password"))?;
    let response = app.clone().oneshot(login).await?;
    anyhow::ensure!(response.status() == StatusCode::SEE_OTHER, "sign-in failed: {}", response.status());
    let cookie =
        response.headers()[header::SET_COOKIE].to_str()?.split(';').next().unwrap_or_default().to_owned();

    // A key deep in the list: the 100th page of everything.
    let deep_key: String = c.query_row(
        "SELECT updated_at || ':' || id FROM visits ORDER BY updated_at DESC, id LIMIT 1 OFFSET 4999",
        [],
        |r| r.get(0),
    )?;
    drop(c);
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
        ("alerts", "/office/alerts".into()),
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
            anyhow::ensure!(status == StatusCode::OK, "{uri}: {status}");
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
