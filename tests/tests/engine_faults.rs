//! Faults of the server's own engines: PostgreSQL restarted while phones
//! sync, the S3 bucket unreachable mid-upload, a database a newer server
//! migrated (on both engines), and a PostgreSQL that does not answer,
//! refuses the connection or refuses the password. Each ends in a clear
//! error, the phone keeps its work, and nothing is left half-written.
//!
//! The PostgreSQL tests run on the server `POSFIELD_TEST_POSTGRES` names
//! (`scripts/lib.sh`'s `pg_cluster_start`, which also exports the
//! cluster's folder and binaries, `PG_CLUSTER_DIR` and `PG_CLUSTER_BIN`,
//! for the restart), the bucket's on `POSFIELD_TEST_S3` (`moto_start`).
//! Without them each says in one line what was not tested, and fails when
//! `CI` is set.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::RwLock;
use std::time::{Duration, Instant};

use posfield_core::{Agent, VisitFilter};
use posfield_e2e::hostile::HostilePhone;
use posfield_e2e::story::{open, repair_visit_with_photo};
use posfield_e2e::{ServerProcess, dump_database, pg_tool, server_binary, test_database};
use posfield_shared::VisitId;

const REVIEWER: &str = "chen";
const PHOTOS: [&str; 3] = ["code128-1/1.png", "code128-1/2.png", "code128-1/3.png"];
/// Any credentials do for moto; the server requires some.
const S3_CREDENTIALS: [(&str, &str); 2] = [
    ("POSFIELD_S3_ACCESS_KEY_ID", "posfield-test"),
    ("POSFIELD_S3_SECRET_ACCESS_KEY", "posfield-test-secret"),
];

/// Taken for writing by the test that restarts the cluster, for reading by
/// the others that use it, so none of them sees the restart by accident.
static CLUSTER: RwLock<()> = RwLock::new(());

/// The value of `variable`, or `None` after saying in one line that `what`
/// was not tested (a failure when `CI` is set).
fn needed(variable: &str, what: &str) -> Option<String> {
    let value = std::env::var(variable).ok().filter(|v| !v.is_empty());
    if value.is_none() {
        let ci = std::env::var_os("CI").is_some_and(|v| !v.is_empty());
        assert!(!ci, "{variable} is not set: under CI {what} is tested (scripts/test sets it)");
        // Past the test harness's capture of a passing test's output.
        let line = format!("{what} was not tested: {variable} is unset (scripts/lib.sh sets it)\n");
        let _ = std::io::Write::write_all(&mut std::io::stderr(), line.as_bytes());
    }
    value
}

/// The PostgreSQL server the tests make databases in, and every server of
/// this process set to run on it; `None` when `POSFIELD_TEST_POSTGRES` is unset.
fn postgres(what: &str) -> Option<String> {
    let server = needed("POSFIELD_TEST_POSTGRES", what)?;
    posfield_e2e::use_database_server(&server);
    Some(server)
}

/// Runs `psql` on `database` with `sql`, stopping at the first error;
/// returns what it printed (unaligned, tuples only).
fn psql(database: &str, sql: &str) -> String {
    let output = Command::new(pg_tool("psql"))
        .arg(database)
        .args(["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-c", sql])
        .output()
        .expect("psql runs");
    assert!(output.status.success(), "{sql}: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout).expect("utf-8").trim().to_owned()
}

/// `posfield-server [--database DATABASE] --data DATA ARGS`, waited for at
/// most `limit`: its output, or a failure when it still runs (a `serve`
/// that should have stopped at once).
fn server_command(database: Option<&str>, data: &Path, args: &[&str], limit: Duration) -> Output {
    let mut command = Command::new(server_binary());
    if let Some(database) = database {
        command.arg("--database").arg(database);
    }
    let mut child = command
        .arg("--data")
        .arg(data)
        .args(args)
        .env("POSFIELD_PASSWORD", posfield_e2e::TEST_PASSWORD)
        .env("NO_COLOR", "1")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("posfield-server starts");
    let deadline = Instant::now() + limit;
    while child.try_wait().expect("the process's state").is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            let output = child.wait_with_output().expect("its output");
            panic!(
                "posfield-server {args:?} still ran after {limit:?}: {}",
                String::from_utf8_lossy(&output.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().expect("its output")
}

/// An enrolled phone of agent `agent`.
fn enrolled(server: &ServerProcess, agent: &str, dir: &Path) -> Agent {
    let mut phone = open(dir);
    phone.enroll(&server.base, &server.enrolment_code(agent), &format!("{agent} 的手机")).unwrap();
    phone
}

fn visit_ids(agent: &mut Agent) -> Vec<VisitId> {
    let filter = VisitFilter { limit: Some(u32::MAX), ..Default::default() };
    agent.list_visits(&filter).unwrap().into_iter().map(|row| row.id).collect()
}

/// A sync repeated until it finishes, within a few attempts.
fn sync_until_done(agent: &mut Agent) {
    let mut errors = Vec::new();
    for _ in 0..5 {
        match agent.sync(&mut |_| {}) {
            Ok(_) => return,
            Err(error) => errors.push(error.to_string()),
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    panic!("no complete sync in 5 attempts: {errors:?}");
}

/// Every visit of the phone is on the server, the same document with the
/// same heads and every photo there.
fn assert_all_on(server: &ServerProcess, agent: &mut Agent) {
    let ids = visit_ids(agent);
    assert!(!ids.is_empty());
    for id in ids {
        let (status, body) = server.office_get(REVIEWER, &format!("api/v1/office/visits/{id}"));
        assert_eq!(status, 200, "visit {id} is not on the server: {body}");
        assert_eq!(body["visit"], serde_json::to_value(agent.visit(&id).unwrap()).unwrap(), "visit {id}");
        let heads: Vec<&str> =
            body["heads"].as_array().unwrap().iter().map(|h| h.as_str().unwrap()).collect();
        assert_eq!(heads.join(","), agent.visit_heads(&id).unwrap(), "visit {id}'s heads");
        assert_eq!(body["blobs_missing"], 0, "visit {id} lacks photos on the server: {body}");
    }
    assert_eq!(agent.sync_status().unwrap().unsynced_visits, 0);
}

/// The throwaway cluster's `pg_ctl ACTION`, as the cluster's owner (the
/// user `postgres` when the tests run as root, as `scripts/lib.sh` does).
fn pg_ctl(cluster: &Path, action: &[&str]) {
    use std::os::unix::fs::MetadataExt;
    let tool = pg_tool("pg_ctl");
    let as_root = std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0);
    let mut command = if as_root {
        let mut command = Command::new("runuser");
        command.args(["-u", "postgres", "--"]).arg(&tool);
        command
    } else {
        Command::new(&tool)
    };
    let output = command
        .current_dir(cluster)
        .arg("-D")
        .arg(cluster.join("data"))
        // The server's own output to its log, not to this pipe, which it
        // would hold open for ever.
        .arg("-l")
        .arg(cluster.join("server.log"))
        .args(["-w", "-t", "60"])
        .args(action)
        .output()
        .expect("pg_ctl runs");
    assert!(
        output.status.success(),
        "pg_ctl {action:?}: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// A sync's error is the server's passing failure (or the network's), not
/// a refusal of the phone's credential or of its work: the server answers
/// a database it cannot reach with `503 database_unavailable`, which the
/// phone says as refused by the server for now and tries again on its
/// timer (no one needs to act).
fn assert_server_failure(error: &posfield_core::AgentError) {
    let passing = match error.code() {
        "offline" | "interrupted" => true,
        "refused" => error.to_string().contains("(database_unavailable)"),
        _ => false,
    };
    assert!(passing, "a database down was told the phone as {}: {error}", error.code());
    let posfield_core::AgentError::Sync(sync) = error else { panic!("not a sync error: {error}") };
    assert!(!sync.needs_someone(), "a database down stops the phone's retries: {error}");
}

#[test]
fn postgres_restarted_mid_sync_fails_the_syncs_in_flight_cleanly_and_the_next_ones_finish() {
    let Some(_) = postgres("PostgreSQL restarted mid-sync") else { return };
    let Some(cluster) = needed("PG_CLUSTER_DIR", "PostgreSQL restarted mid-sync") else { return };
    let cluster = PathBuf::from(cluster);
    let _alone = CLUSTER.write().unwrap_or_else(std::sync::PoisonError::into_inner);
    let dir = tempfile::tempdir().unwrap();
    let server = ServerProcess::start(&dir.path().join("server"));
    server.add_user(REVIEWER, "reviewer");
    let mut wang = enrolled(&server, "wang", &dir.path().join("wang"));
    let mut li = enrolled(&server, "li", &dir.path().join("li"));
    for (phone, round) in [(&mut wang, 0), (&mut li, 1)] {
        for photo in PHOTOS {
            let id = repair_visit_with_photo(phone, photo);
            phone.add_note(&id, &format!("第 {round} 轮")).unwrap();
        }
    }
    let wang_before = visit_ids(&mut wang);

    // Wang's sync: the database goes down after its first step and stays
    // down until the sync ended; the sync fails and Wang keeps everything.
    let mut steps = 0;
    let outcome = wang.sync(&mut |_| {
        steps += 1;
        if steps == 1 {
            pg_ctl(&cluster, &["-m", "fast", "stop"]);
        }
    });
    pg_ctl(&cluster, &["start"]);
    let error = outcome.expect_err("a sync finished while its database was down");
    assert_server_failure(&error);
    assert_eq!(visit_ids(&mut wang), wang_before, "the phone lost visits");
    assert!(wang.sync_status().unwrap().unsynced_visits > 0, "the failed sync marked work synced");

    // Li's sync while the cluster restarts (pg_ctl restart): it finishes or
    // fails cleanly.
    let restart = {
        let cluster = cluster.clone();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(30));
            pg_ctl(&cluster, &["-m", "fast", "restart"]);
        })
    };
    let outcome = li.sync(&mut |_| {});
    restart.join().unwrap();
    if let Err(error) = &outcome {
        assert_server_failure(error);
    }

    // The same server process, its pool reconnected by itself: both finish.
    sync_until_done(&mut wang);
    sync_until_done(&mut li);
    assert_all_on(&server, &mut wang);
    assert_all_on(&server, &mut li);
    assert!(wang.sync(&mut |_| {}).unwrap().already_in_sync);
}

#[test]
fn a_bucket_unreachable_mid_upload_keeps_the_photos_queued_while_the_documents_sync() {
    let Some(endpoint) = needed("POSFIELD_TEST_S3", "the bucket unreachable") else { return };
    let _shared = CLUSTER.read().unwrap_or_else(std::sync::PoisonError::into_inner);
    let suffix = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
    let bucket = format!("faults-{}-{suffix:x}", std::process::id());
    let made = reqwest::blocking::Client::new()
        .put(format!("{endpoint}/{bucket}"))
        .header("content-length", "0")
        .send()
        .unwrap();
    assert!(made.status().is_success(), "creating bucket {bucket}: {}", made.status());
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("server");
    let config = format!("blobs = \"s3://{bucket}/node?endpoint={endpoint}&path_style=true\"\n");
    let server = ServerProcess::start_with_env(&data, "127.0.0.1:0", &config, &S3_CREDENTIALS);
    server.add_user(REVIEWER, "reviewer");
    let addr = server.addr();
    let mut wang = enrolled(&server, "wang", &dir.path().join("wang"));
    let first = repair_visit_with_photo(&mut wang, PHOTOS[0]);
    wang.sync(&mut |_| {}).unwrap();

    // After the first upload the bucket goes away (a closed port).
    server.kill();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let closed = format!("blobs = \"s3://{bucket}/node?endpoint=http://127.0.0.1:{port}&path_style=true\"\n");
    let server = ServerProcess::start_with_env(&data, &addr, &closed, &S3_CREDENTIALS);
    let second = repair_visit_with_photo(&mut wang, PHOTOS[1]);
    wang.add_note(&first, "下午补充").unwrap();
    let outcome = wang.sync(&mut |_| {});
    let error = outcome.expect_err("a sync whose photos could not be stored finished");
    assert!(matches!(error.code(), "unfinished" | "offline" | "interrupted"), "{}: {error}", error.code());
    // The photos stay queued on the phone, whole.
    let photos: Vec<_> = wang.visit(&second).unwrap().documents;
    assert!(!photos.is_empty());
    for photo in &photos {
        let sha = posfield_shared::BlobHash::parse(&photo.sha256).unwrap();
        assert!(!wang.photo_bytes(&second, &sha).unwrap().is_empty(), "photo {sha} left the phone");
    }
    // The visit documents still synced: the note is on the server, the new
    // visit's photos are missing there.
    let (status, body) = server.office_get(REVIEWER, &format!("api/v1/office/visits/{first}"));
    assert_eq!(status, 200, "{body}");
    assert!(body["visit"].to_string().contains("下午补充"), "the note did not sync: {body}");
    let (status, body) = server.office_get(REVIEWER, &format!("api/v1/office/visits/{second}"));
    assert_eq!(status, 200, "the visit's document did not sync: {body}");
    assert!(body["blobs_missing"].as_u64().unwrap() > 0, "{body}");
    // An upload is answered 503 storage_unavailable (the phone's retryable
    // case): a second phone of Wang's sends one of the photos.
    let sha = posfield_shared::BlobHash::parse(&photos[0].sha256).unwrap();
    let bytes = wang.photo_bytes(&second, &sha).unwrap();
    let other = HostilePhone::enrol(&server, "wang", "wang-second-phone");
    let (status, answer) = other.put_blob(sha.as_str(), 0, bytes.len(), &bytes);
    assert_eq!((status, answer["error"].as_str()), (503, Some("storage_unavailable")), "{answer}");

    // The bucket back: the next sync uploads the photos.
    server.kill();
    let server = ServerProcess::start_with_env(&data, &addr, &config, &S3_CREDENTIALS);
    let report = wang.sync(&mut |_| {}).unwrap();
    assert!(report.blobs_uploaded >= 1, "{report:?}");
    assert_all_on(&server, &mut wang);
}

#[test]
fn a_postgres_database_a_newer_server_migrated_is_refused_and_left_as_it_was() {
    let Some(_) = postgres("a PostgreSQL schema newer than the server's") else { return };
    let _shared = CLUSTER.read().unwrap_or_else(std::sync::PoisonError::into_inner);
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("server");
    posfield_e2e::server_cli(&data, &["add-user", REVIEWER, "--role", "reviewer"]);
    let database = test_database(&data).unwrap();
    let known: i64 = psql(&database, "SELECT max(version) FROM refinery_schema_history").parse().unwrap();
    let newer = known + 7;
    psql(
        &database,
        &format!(
            "INSERT INTO refinery_schema_history (version, name, applied_on, checksum) \
             VALUES ({newer}, 'from_a_newer_server', '2027-01-01T00:00:00Z', '1')"
        ),
    );
    let before = content(&dump_database(&data).unwrap());
    let output = server_command(
        Some(&database),
        &data,
        &["serve", "--listen", "127.0.0.1:0"],
        Duration::from_secs(20),
    );
    let said = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "serve started on a newer schema: {said}");
    assert!(said.contains(&format!("version {newer}")) && said.contains(&format!("{known}")), "{said}");
    let after = content(&dump_database(&data).unwrap());
    let changed: Vec<_> = after.iter().filter(|line| !before.contains(line)).collect();
    let gone: Vec<_> = before.iter().filter(|line| !after.contains(line)).collect();
    assert!(before == after, "the refused database changed: new lines {changed:?}, lines gone {gone:?}");
}

/// The lines of a dump that say what the database holds: without
/// `\restrict`/`\unrestrict`, whose key pg_dump draws anew for each dump.
fn content(dump: &[u8]) -> Vec<String> {
    String::from_utf8_lossy(dump)
        .lines()
        .filter(|line| !line.starts_with("\\restrict") && !line.starts_with("\\unrestrict"))
        .map(str::to_owned)
        .collect()
}

#[test]
fn a_sqlite_database_a_newer_server_migrated_is_refused_and_left_as_it_was() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("server");
    let made =
        server_command(None, &data, &["add-user", REVIEWER, "--role", "reviewer"], Duration::from_secs(60));
    assert!(made.status.success(), "{}", String::from_utf8_lossy(&made.stderr));
    let file = data.join("posfield.db");
    let known: i64;
    let newer;
    {
        let db = rusqlite::Connection::open(&file).unwrap();
        known = db.query_row("SELECT max(version) FROM refinery_schema_history", [], |r| r.get(0)).unwrap();
        newer = known + 7;
        db.execute(
            "INSERT INTO refinery_schema_history (version, name, applied_on, checksum) \
             VALUES (?1, 'from_a_newer_server', '2027-01-01T00:00:00Z', '1')",
            [newer],
        )
        .unwrap();
        db.pragma_update(None, "wal_checkpoint", "TRUNCATE").unwrap();
    }
    let before = std::fs::read(&file).unwrap();
    let output = server_command(None, &data, &["serve", "--listen", "127.0.0.1:0"], Duration::from_secs(20));
    let said = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "serve started on a newer schema: {said}");
    assert!(said.contains(&format!("version {newer}")) && said.contains(&format!("{known}")), "{said}");
    let wal = data.join("posfield.db-wal");
    let wal_bytes = std::fs::metadata(&wal).map(|m| m.len()).unwrap_or(0);
    assert!(std::fs::read(&file).unwrap() == before && wal_bytes == 0, "the refused database changed");
}

/// `serve` on `url` stops at once (within 15 s), non-zero, with a message
/// that names `host` and says `reason`, and never shows `password`.
fn assert_refused_at_once(url: &str, host: &str, reason: &str, password: &str) {
    let dir = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let output = server_command(
        Some(url),
        &dir.path().join("server"),
        &["serve", "--listen", "127.0.0.1:0"],
        Duration::from_secs(15),
    );
    let said = String::from_utf8_lossy(&output.stderr);
    eprintln!("refused in {} ms: {}", started.elapsed().as_millis(), said.trim());
    assert!(!output.status.success(), "serve started on {host}: {said}");
    assert!(said.contains(host), "the message does not name {host}: {said}");
    assert!(said.to_lowercase().contains(reason), "the message does not say {reason:?}: {said}");
    assert!(!said.contains(password), "the message shows the password: {said}");
    assert!(!String::from_utf8_lossy(&output.stdout).contains(password), "stdout shows the password");
}

#[test]
fn a_postgres_that_does_not_answer_or_refuses_the_password_stops_serve_at_once() {
    // A closed port: nothing listens.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let password = "s3cret-never-shown";
    assert_refused_at_once(
        &format!("postgres://posfield:{password}@{closed}/posfield"),
        &closed.to_string(),
        "refused",
        password,
    );
    // A port that takes the connection and never answers.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = silent.local_addr().unwrap();
    assert_refused_at_once(
        &format!("postgres://posfield:{password}@{address}/posfield"),
        &address.to_string(),
        "timeout",
        password,
    );
    drop(silent);

    // A wrong password for a role the cluster asks a password of.
    let Some(server) = postgres("a PostgreSQL refusing the password") else { return };
    let _shared = CLUSTER.read().unwrap_or_else(std::sync::PoisonError::into_inner);
    psql(
        &server,
        "DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'posfield_guarded') \
         THEN CREATE ROLE posfield_guarded LOGIN PASSWORD 'the-right-one'; END IF; END $$",
    );
    let authority = server.split_once('@').and_then(|(_, rest)| rest.split_once('/')).unwrap().0.to_owned();
    let wrong = "not-the-right-one";
    assert_refused_at_once(
        &format!("postgres://posfield_guarded:{wrong}@{authority}/postgres"),
        &authority,
        "password authentication failed",
        wrong,
    );
}
