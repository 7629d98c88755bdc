//! `posfield-server migrate`: an embedded install moved to PostgreSQL and a
//! bucket. The demo fleet is made by `serve --demo` with one of its
//! agents' phones enrolled and synced; the server is stopped and migrated
//! into a new database of the PostgreSQL server `POSFIELD_TEST_POSTGRES`
//! names and a new bucket of the S3-compatible test server
//! `POSFIELD_TEST_S3` names (both started by `scripts/test`); a server on
//! them, with the data folder's key files only, shows every visit,
//! terminal, photo and signature as before, the same certificate, signs
//! the same user in, and syncs the phone with its credential. A second
//! migration into the same database is refused and changes nothing, and
//! one that fails after every row was copied leaves no row behind.
//! Without the two variables the test says in one line that it did not
//! run, and fails when `CI` is set.

use std::io::BufRead;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};

use posfield_e2e::story::{open, repair_visit_with_photo};
use posfield_e2e::{ServerProcess, TEST_PASSWORD, basic, server_binary};
use posfield_shared::BlobHash;

/// Any credentials do for moto; the server requires some.
const CREDENTIALS: [(&str, &str); 2] = [
    ("POSFIELD_S3_ACCESS_KEY_ID", "posfield-test"),
    ("POSFIELD_S3_SECRET_ACCESS_KEY", "posfield-test-secret"),
];

const REVIEWER: &str = "chen";

/// The PostgreSQL server's URL and the S3 test server's address, or
/// `None` when either is unset (a failure when `CI` is set).
fn services() -> Option<(String, String)> {
    let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    let (Some(postgres), Some(s3)) = (var("POSFIELD_TEST_POSTGRES"), var("POSFIELD_TEST_S3")) else {
        assert!(
            var("CI").is_none(),
            "POSFIELD_TEST_POSTGRES and POSFIELD_TEST_S3 must be set: this test needs PostgreSQL and an S3-compatible server (scripts/lib.sh)"
        );
        let line = "migrate was not tested: POSFIELD_TEST_POSTGRES or POSFIELD_TEST_S3 is unset (scripts/lib.sh's pg_cluster_start and moto_start set them)\n";
        let _ = std::io::Write::write_all(&mut std::io::stderr(), line.as_bytes());
        return None;
    };
    Some((postgres, s3))
}

/// A name no earlier run used.
fn unique(name: &str) -> String {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
    format!("{name}_{}_{nanos:x}", std::process::id())
}

/// A new, empty database on the PostgreSQL server at `server`: its URL.
fn new_database(server: &str) -> String {
    let name = unique("posfield_migrate");
    let output = Command::new("psql")
        .arg(server)
        .args(["-v", "ON_ERROR_STOP=1", "-qc", &format!("CREATE DATABASE {name}")])
        .output()
        .expect("psql runs (the postgresql-client package)");
    assert!(output.status.success(), "creating {name}: {}", String::from_utf8_lossy(&output.stderr));
    let (server_path, _) = server.rsplit_once('/').expect("a postgres://HOST/DATABASE URL");
    format!("{server_path}/{name}")
}

/// A new bucket of the S3 test server at `endpoint`: its name.
fn new_bucket(endpoint: &str) -> String {
    let bucket = unique("migrate").replace('_', "-");
    let made = reqwest::blocking::Client::new()
        .put(format!("{endpoint}/{bucket}"))
        .header("content-length", "0")
        .send()
        .unwrap();
    assert!(made.status().is_success(), "creating bucket {bucket}: {}", made.status());
    bucket
}

/// `posfield-server --data DATA ARGS...` (always the data folder's SQLite
/// file), with the bucket's credentials.
fn cli(data: &Path, args: &[&str]) -> Output {
    Command::new(server_binary())
        .arg("--data")
        .arg(data)
        .args(args)
        .envs(CREDENTIALS)
        .env("POSFIELD_PASSWORD", TEST_PASSWORD)
        .env("RUST_LOG", "warn")
        .output()
        .expect("posfield-server runs")
}

/// Its stdout, which must be a success's.
fn succeeded(output: &Output, what: &str) -> String {
    assert!(output.status.success(), "{what}: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}

/// `serve --demo` on a free port, killed when dropped.
struct Demo {
    child: Child,
    base: String,
}

impl Demo {
    fn start(data: &Path) -> Demo {
        let mut child = Command::new(server_binary())
            .arg("--data")
            .arg(data)
            .args(["serve", "--listen", "127.0.0.1:0", "--demo"])
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        let base = format!("http://{}/", line.trim().rsplit("http://").next().unwrap());
        Demo { child, base }
    }

    /// Stops the server as an operator does (SIGTERM) and waits for it.
    fn stop(mut self) {
        let sent = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status().unwrap();
        assert!(sent.success());
        assert!(self.child.wait().unwrap().success(), "the demo server did not stop cleanly");
    }
}

impl Drop for Demo {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What the back office shows of the fleet, to compare before and after.
#[derive(Debug, PartialEq)]
struct Shown {
    visits_csv: String,
    terminals_csv: String,
    /// Each visit: its document, heads, missing photos and signature check.
    visits: Vec<(String, serde_json::Value)>,
    /// Each photo and signature image named by a visit: status and bytes.
    blobs: Vec<(String, u16, Vec<u8>)>,
    /// The certificate of an approved, countersigned visit.
    certificate: (String, Vec<u8>),
}

/// Reads [`Shown`] from the server at `base` as the reviewer.
fn shown(desk: &Office) -> Shown {
    let base = &desk.base;
    let http = reqwest::blocking::Client::new();
    let (status, visits_csv) = desk.get("office/visits/export.csv");
    assert_eq!(status, 200);
    let (status, terminals_csv) = desk.get("office/terminals/export.csv");
    assert_eq!(status, 200);
    let ids: Vec<String> =
        visits_csv.lines().skip(1).map(|line| line.split(',').next().unwrap().to_owned()).collect();
    assert!(ids.len() >= 280, "{} visits", ids.len());
    let mut visits = Vec::new();
    let mut blobs = std::collections::BTreeSet::new();
    let mut certified = None;
    for id in ids {
        let body: serde_json::Value = http
            .get(format!("{base}api/v1/office/visits/{id}"))
            .header("authorization", basic(REVIEWER))
            .send()
            .unwrap()
            .json()
            .unwrap();
        let visit = &body["visit"];
        for document in visit["documents"].as_array().into_iter().flatten() {
            blobs.insert(document["sha256"].as_str().unwrap().to_owned());
        }
        if let Some(signature) = visit["acceptance"]["signature"]["sha256"].as_str() {
            blobs.insert(signature.to_owned());
        }
        if certified.is_none() && visit["status"] == "approved" && body["device_signature_valid"] == true {
            certified = Some(id.clone());
        }
        let kept = serde_json::json!({
            "visit": body["visit"],
            "heads": body["heads"],
            "blobs_missing": body["blobs_missing"],
            "device_signature_valid": body["device_signature_valid"],
            "signing_device": body["signing_device"],
        });
        visits.push((id, kept));
    }
    let blobs = blobs
        .into_iter()
        .map(|sha| {
            BlobHash::parse(&sha).unwrap();
            let (status, bytes) = desk.get_bytes(&format!("office/blobs/{sha}"));
            (sha, status, bytes)
        })
        .collect();
    let certified = certified.expect("an approved visit with a verified signature");
    let (status, pdf) = desk.get_bytes(&format!("office/visits/{certified}/certificate.pdf"));
    assert_eq!(status, 200, "the certificate of {certified}");
    assert!(pdf.starts_with(b"%PDF-"));
    Shown { visits_csv, terminals_csv, visits, blobs, certificate: (certified, pdf) }
}

/// Every table's rows in the database at `url`, by `psql`.
fn row_counts(url: &str) -> String {
    let sql = "SELECT string_agg(table_name || '=' || (xpath('/row/n/text()', \
               query_to_xml('SELECT count(*) AS n FROM ' || quote_ident(table_name), false, true, '')))[1]::text, ',' \
               ORDER BY table_name) FROM information_schema.tables \
               WHERE table_schema = 'public' AND table_type = 'BASE TABLE'";
    let output = Command::new("psql").arg(url).args(["-v", "ON_ERROR_STOP=1", "-Atc", sql]).output().unwrap();
    succeeded(&output, "counting rows")
}

#[test]
fn the_demo_fleet_moves_to_postgres_and_a_bucket_whole_and_a_second_migration_is_refused() {
    let Some((postgres, endpoint)) = services() else { return };
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("demo");
    let demo = Demo::start(&data);
    let addr = demo.base.trim_start_matches("http://").trim_end_matches('/').to_owned();
    succeeded(&cli(&data, &["add-user", REVIEWER, "--role", "reviewer"]), "add-user");
    // A phone enrolled and synced before the migration.
    let mut wang = open(&dir.path().join("wang"));
    let code = succeeded(&cli(&data, &["enroll-agent", "wang"]), "enroll-agent");
    wang.enroll(&demo.base, &code, "华为 Mate 60").unwrap();
    let first = repair_visit_with_photo(&mut wang, "code128-1/1.png");
    wang.sync(&mut |_| {}).unwrap();
    let before = shown(&Office::sign_in(&demo.base, REVIEWER));

    // The new node's database: the one the harness gives its folder when
    // the suite runs on PostgreSQL (its servers are started on that), else a new one.
    let node = dir.path().join("node");
    let database = posfield_e2e::test_database(&node).unwrap_or_else(|| new_database(&postgres));
    let bucket = new_bucket(&endpoint);
    let blobs = format!("s3://{bucket}?endpoint={endpoint}&path_style=true");
    let migrate = ["migrate", "--to", database.as_str(), "--blobs", blobs.as_str()];
    // While the server runs, the SQLite file is its: refused.
    let refused = cli(&data, &migrate);
    assert!(!refused.status.success(), "a migration ran beside the running server");
    let said = String::from_utf8_lossy(&refused.stderr);
    assert!(said.contains("stop the server first"), "{said}");
    demo.stop();

    // A failure after every row was copied (a blob the database counts is
    // gone from the folder) leaves the database without a row, so the
    // migration can be run again into it.
    let blob = std::fs::read_dir(data.join("blobs"))
        .unwrap()
        .flatten()
        .filter(|shard| shard.file_name().len() == 2)
        .find_map(|shard| std::fs::read_dir(shard.path()).unwrap().flatten().next())
        .expect("a stored blob")
        .path();
    let aside = dir.path().join("aside");
    std::fs::rename(&blob, &aside).unwrap();
    let failed = cli(&data, &migrate);
    assert!(!failed.status.success(), "a migration without one of the blobs succeeded");
    let said = String::from_utf8_lossy(&failed.stderr);
    assert!(said.contains("the blob folder does not hold it"), "{said}");
    let counts = row_counts(&database);
    let left = counts.split(',').filter(|t| !t.starts_with("refinery_schema_history=") && !t.ends_with("=0"));
    assert_eq!(left.count(), 0, "rows left by a failed migration (the schema is migrated): {counts}");
    std::fs::rename(&aside, &blob).unwrap();

    let started = std::time::Instant::now();
    let summary = succeeded(&cli(&data, &migrate), "migrate");
    let line = summary.lines().last().unwrap_or_default();
    assert!(line.contains("every hash checked"), "{summary}");
    eprintln!("{line} (the command took {} ms)", started.elapsed().as_millis());

    // A server on the database and the bucket, with the key files alone.
    std::fs::create_dir_all(&node).unwrap();
    for key in ["server-signing.key", "server-blob.keys"] {
        std::fs::copy(data.join(key), node.join(key)).unwrap();
    }
    let config = format!("database = \"{database}\"\nblobs = \"{blobs}\"\n");
    let server = ServerProcess::start_with_env(&node, &addr, &config, &CREDENTIALS);
    assert!(!node.join("posfield.db").exists(), "the new server runs on PostgreSQL");
    let after = shown(&Office::sign_in(&server.base, REVIEWER));
    assert_eq!(before.visits_csv, after.visits_csv, "the visit list");
    assert_eq!(before.terminals_csv, after.terminals_csv, "the terminals");
    assert_eq!(before.visits.len(), after.visits.len());
    for ((id, was), (_, is)) in before.visits.iter().zip(&after.visits) {
        assert_eq!(was, is, "visit {id}");
    }
    assert_eq!(before.blobs.len(), after.blobs.len());
    for ((sha, status, bytes), (_, status_after, bytes_after)) in before.blobs.iter().zip(&after.blobs) {
        assert_eq!(status, status_after, "blob {sha}");
        assert!(bytes == bytes_after, "blob {sha} has other bytes");
    }
    let served = before.blobs.iter().filter(|(_, status, _)| *status == 200).count();
    eprintln!(
        "{} visits, {served} photos and signatures served the same before and after",
        after.visits.len()
    );
    assert!(served >= 10, "{served} photos and signatures");
    assert!(before.certificate == after.certificate, "the certificate of {}", before.certificate.0);

    // The phone syncs with its credential and converges.
    wang.add_note(&first, "迁移之后补充：商户要求下周回访").unwrap();
    wang.sync(&mut |_| {}).unwrap();
    let (status, body) = server.office_get(REVIEWER, &format!("api/v1/office/visits/{first}"));
    assert_eq!(status, 200, "{body}");
    assert!(body["visit"].to_string().contains("迁移之后补充"), "the note reached the new server");
    let heads: Vec<&str> = body["heads"].as_array().unwrap().iter().map(|h| h.as_str().unwrap()).collect();
    assert_eq!(heads.join(","), wang.visit_heads(&first).unwrap(), "the phone and the server converge");
    assert_eq!(body["blobs_missing"], 0);
    drop(server);

    // A second migration into the same database is refused and changes nothing.
    let counts = row_counts(&database);
    let again = cli(&data, &migrate);
    assert!(!again.status.success(), "a second migration ran");
    let said = String::from_utf8_lossy(&again.stderr);
    assert!(said.contains("is not empty"), "{said}");
    assert_eq!(row_counts(&database), counts, "the refused migration changed the database");
}

/// A browser signed in at the back office of the server at `base`.
struct Office {
    http: reqwest::blocking::Client,
    base: String,
    cookie: String,
}

impl Office {
    fn sign_in(base: &str, user: &str) -> Office {
        let http =
            reqwest::blocking::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
        let response = http
            .post(format!("{base}office/login"))
            .form(&[("user", user), ("password", TEST_PASSWORD)])
            .send()
            .unwrap();
        assert_eq!(response.status().as_u16(), 303, "signing {user} in at {base}");
        let cookie = response.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_owned();
        Office { http, base: base.to_owned(), cookie }
    }

    /// GET a page or file: the status and the bytes.
    fn get_bytes(&self, path: &str) -> (u16, Vec<u8>) {
        let response =
            self.http.get(format!("{}{path}", self.base)).header("cookie", &self.cookie).send().unwrap();
        (response.status().as_u16(), response.bytes().unwrap().to_vec())
    }

    /// GET a page: the status and the text.
    fn get(&self, path: &str) -> (u16, String) {
        let (status, bytes) = self.get_bytes(path);
        (status, String::from_utf8(bytes).unwrap())
    }
}
