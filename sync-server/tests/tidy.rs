//! Tidy: the storage boundary holds. Only the store's engines
//! (`src/store/sqlite/` and `src/store/postgres/`) name SQLite, PostgreSQL's
//! client, their migrations or SQL; every handler, page and service reaches
//! the database through the `Store` interface, and so does the office
//! benchmark, whose figures are the store's.
//!
//! And the route table holds: only `src/routes.rs` adds a route to a
//! router, from the table that says who may call it.

use std::path::{Path, PathBuf};

/// The folders allowed to name what [`FORBIDDEN`] lists: the engines.
const ENGINES: &[&str] = &["src/store/sqlite", "src/store/postgres"];

/// What names SQLite or PostgreSQL's client or runs SQL: the crates, the
/// statements, and the calls that run them.
const FORBIDDEN: &[&str] = &[
    "rusqlite",
    "tokio_postgres",
    "deadpool_postgres",
    "refinery::",
    "embed_migrations",
    "SELECT ",
    "INSERT INTO",
    "INSERT OR",
    "UPDATE ",
    "DELETE FROM",
    "CREATE TABLE",
    "CREATE INDEX",
    "CREATE TRIGGER",
    "CREATE TEMP",
    "PRAGMA ",
    "execute_batch(",
    "prepare_cached(",
    "query_row(",
    "query_map(",
    "batch_execute(",
    "CREATE DATABASE",
];

/// The forbidden names in `text`, by line (1-based).
fn offences(text: &str) -> Vec<(usize, &'static str)> {
    text.lines()
        .enumerate()
        .flat_map(|(n, line)| FORBIDDEN.iter().filter(move |f| line.contains(**f)).map(move |f| (n + 1, *f)))
        .collect()
}

fn rust_files(dir: &Path, found: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, found);
        } else if path.extension().is_some_and(|e| e == "rs") {
            found.push(path);
        }
    }
}

/// What `find` finds in `files` outside `allowed` (files or folders),
/// as `path:line: what`.
fn found_in(
    root: &Path,
    files: &[PathBuf],
    allowed: &[PathBuf],
    find: fn(&str) -> Vec<(usize, &'static str)>,
) -> Vec<String> {
    let mut found = Vec::new();
    for file in files.iter().filter(|f| !allowed.iter().any(|a| f.starts_with(a))) {
        let text = std::fs::read_to_string(file).unwrap();
        for (line, what) in find(&text) {
            found.push(format!("{}:{line}: {what:?}", file.strip_prefix(root).unwrap_or(file).display()));
        }
    }
    found
}

#[test]
fn only_the_engines_name_sqlite_postgres_or_sql() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    rust_files(&root.join("src"), &mut files);
    assert!(files.len() > 20, "the server's sources were not found under {}", root.display());
    rust_files(&root.join("benches"), &mut files);
    let engines: Vec<PathBuf> = ENGINES.iter().map(|e| root.join(e)).collect();
    let found = found_in(root, &files, &engines, offences);
    assert!(
        found.is_empty(),
        "only {ENGINES:?} may name SQLite, PostgreSQL's client or SQL; go through the Store:\n{}",
        found.join("\n")
    );
    for (engine, name) in engines.iter().zip(ENGINES) {
        assert!(files.iter().any(|f| f.starts_with(engine)), "the engine {name} moved: update ENGINES");
    }
}

#[test]
fn the_checker_finds_sql_and_sqlite_and_nothing_else() {
    // (text, what the checker must find)
    let cases: &[(&str, &[&str])] = &[
        ("use rusqlite::Connection;", &["rusqlite"]),
        (
            "let n: i64 = c.query_row(\"SELECT count(*) FROM visits\", [], |r| r.get(0))?;",
            &["SELECT ", "query_row("],
        ),
        ("\"UPDATE visits SET status = ?1\"", &["UPDATE "]),
        ("tx.execute(\"INSERT INTO audit (at) VALUES (?1)\", [at])?;", &["INSERT INTO"]),
        ("refinery::embed_migrations!(\"migrations\");", &["refinery::", "embed_migrations"]),
        ("c.execute_batch(\"PRAGMA synchronous=FULL\")?;", &["PRAGMA ", "execute_batch("]),
        ("let (client, connection) = tokio_postgres::connect(url, NoTls).await?;", &["tokio_postgres"]),
        (
            "client.batch_execute(\"CREATE DATABASE posfield_test\").await?;",
            &["batch_execute(", "CREATE DATABASE"],
        ),
        // Words that only look alike, and the store's own calls, pass.
        ("// Projections are brought up to date, selected and updated.", &[]),
        ("let rows = state.store.visit_list(&principal, &query, 50).await?;", &[]),
        ("tracing_subscriber::EnvFilter::new(\"info,refinery_core=warn\")", &[]),
    ];
    for (text, expected) in cases {
        let found: Vec<&str> = offences(text).into_iter().map(|(_, name)| name).collect();
        assert_eq!(&found, expected, "{text}");
    }
}

/// The one file that adds routes to a router: from the table, each behind its guard.
const ROUTER_BUILDER: &str = "src/routes.rs";

/// What adds a route to an axum router.
const ROUTE_CALLS: &[&str] =
    &[".route(", ".route_service(", ".nest(", ".nest_service(", ".fallback_service("];

/// The route-adding calls in `text`, by line (1-based).
fn route_calls(text: &str) -> Vec<(usize, &'static str)> {
    text.lines()
        .enumerate()
        .flat_map(|(n, line)| {
            ROUTE_CALLS.iter().filter(move |c| line.contains(**c)).map(move |c| (n + 1, *c))
        })
        .collect()
}

#[test]
fn only_the_route_table_adds_routes() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    rust_files(&root.join("src"), &mut files);
    let builder = root.join(ROUTER_BUILDER);
    assert!(files.contains(&builder), "the router's builder moved: update ROUTER_BUILDER");
    let found = found_in(root, &files, std::slice::from_ref(&builder), route_calls);
    assert!(
        found.is_empty(),
        "a route is added outside the table; add a row to api::routes with who may call it:\n{}",
        found.join("\n")
    );
}

#[test]
fn the_route_checker_finds_each_way_of_adding_a_route() {
    // (text, what the checker must find)
    let cases: &[(&str, &[&str])] = &[
        (".route(\"/office/secret\", get(secret))", &[".route("]),
        ("router.nest(\"/v2\", other)", &[".nest("]),
        (".nest_service(\"/files\", ServeDir::new(\"x\"))", &[".nest_service("]),
        (".route_service(\"/x\", service)", &[".route_service("]),
        (".fallback_service(service)", &[".fallback_service("]),
        // The router's own layers and a document's merge are not routes.
        (".route_layer(guard)", &[]),
        ("state.repo.merge(id, increment).await?;", &[]),
        (".fallback(|| async { not_found() })", &[]),
    ];
    for (text, expected) in cases {
        let found: Vec<&str> = route_calls(text).into_iter().map(|(_, call)| call).collect();
        assert_eq!(&found, expected, "{text}");
    }
}
