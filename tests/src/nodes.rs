//! Several `posfield-server` nodes serving one fleet: each a process of its
//! own on 127.0.0.1 with its own data folder and port, all on one
//! PostgreSQL database (in the server `POSFIELD_TEST_POSTGRES` names) and
//! one bucket (of the S3-compatible server `POSFIELD_TEST_S3` names), with
//! the first node's key files copied to the others before they start, and
//! a round-robin [`Balancer`] in front.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::balancer::Balancer;
use crate::{ServerProcess, TEST_PASSWORD, server_binary};

/// Any credentials do for the S3 test server; the server requires some.
pub const S3_CREDENTIALS: [(&str, &str); 2] = [
    ("POSFIELD_S3_ACCESS_KEY_ID", "posfield-test"),
    ("POSFIELD_S3_SECRET_ACCESS_KEY", "posfield-test-secret"),
];

/// The key files every node must hold the same of: the signing key
/// (`server_key::KEY_FILE`) and the blob keys (`blob_key::KEY_FILE`).
pub const KEY_FILES: [&str; 2] = ["server-signing.key", "server-blob.keys"];

/// The database and the bucket the nodes share.
#[derive(Debug, Clone)]
pub struct SharedServices {
    /// The `postgres://` URL of a database made for this test.
    pub database: String,
    /// The S3-compatible server's address.
    pub endpoint: String,
    /// A bucket made for this test.
    pub bucket: String,
}

impl SharedServices {
    /// A new database and a new bucket named after `name`, or `None` when
    /// `POSFIELD_TEST_POSTGRES` or `POSFIELD_TEST_S3` is unset: then the
    /// test says so in one line, and fails when `CI` is set.
    pub fn make(name: &str) -> Option<SharedServices> {
        let variable = |key: &str| std::env::var(key).ok().filter(|v| !v.is_empty());
        let (postgres, s3) = (variable("POSFIELD_TEST_POSTGRES"), variable("POSFIELD_TEST_S3"));
        let missing: Vec<&str> = [("POSFIELD_TEST_POSTGRES", &postgres), ("POSFIELD_TEST_S3", &s3)]
            .into_iter()
            .filter(|(_, value)| value.is_none())
            .map(|(key, _)| key)
            .collect();
        let (Some(postgres), Some(endpoint)) = (postgres, s3) else {
            let missing = missing.join(" and ");
            let ci = std::env::var_os("CI").is_some_and(|v| !v.is_empty());
            assert!(
                !ci,
                "{missing} not set: the nodes' tests need PostgreSQL and an S3-compatible server (scripts/lib.sh's pg_cluster_start and moto_start)"
            );
            // Past the test harness's capture of a passing test's output.
            let line = format!("several nodes were not tested: {missing} unset (scripts/lib.sh sets them)\n");
            let _ = std::io::Write::write_all(&mut std::io::stderr(), line.as_bytes());
            return None;
        };
        let suffix = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("a clock after 1970")
            .as_nanos();
        let unique = format!("{name}-{}-{suffix:x}", std::process::id());
        let database_name = format!("posfield_nodes_{}", unique.replace('-', "_"));
        psql(&postgres, &format!("CREATE DATABASE {database_name}"));
        let (server, _) = postgres.rsplit_once('/').expect("a postgres://HOST/DATABASE URL");
        // moto takes requests without a signature; the server's are signed.
        let made = reqwest::blocking::Client::new()
            .put(format!("{endpoint}/{unique}"))
            .header("content-length", "0")
            .send()
            .expect("the S3 test server answers");
        assert!(made.status().is_success(), "creating bucket {unique}: {}", made.status());
        Some(SharedServices { database: format!("{server}/{database_name}"), endpoint, bucket: unique })
    }

    /// The configuration line of the shared bucket.
    pub fn blobs_line(&self) -> String {
        format!("blobs = \"s3://{}/fleet?endpoint={}&path_style=true\"\n", self.bucket, self.endpoint)
    }

    /// Runs `sql` on the shared database; its rows, one line each, cells
    /// separated by `|`.
    pub fn query(&self, sql: &str) -> Vec<String> {
        psql(&self.database, sql).lines().map(str::to_owned).filter(|l| !l.is_empty()).collect()
    }
}

/// Runs one statement with psql on `url` and returns its unaligned,
/// tuples-only output.
fn psql(url: &str, sql: &str) -> String {
    let output = Command::new("psql")
        .arg(url)
        .args(["-v", "ON_ERROR_STOP=1", "-qAtc", sql])
        .output()
        .expect("psql runs (the postgresql-client package)");
    assert!(output.status.success(), "{sql}: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout).expect("utf-8")
}

/// The nodes and the balancer in front of them.
#[derive(Debug)]
pub struct Cluster {
    /// The nodes, in start order; `None` once killed.
    nodes: Vec<Option<ServerProcess>>,
    /// Each node's data folder.
    folders: Vec<PathBuf>,
    /// The configuration every node runs with.
    config: String,
    /// What the nodes share.
    pub services: SharedServices,
    /// The round-robin balancer in front of every node.
    pub balancer: Balancer,
}

impl Cluster {
    /// Starts `count` nodes in folders `node-0`, `node-1`... of `dir`, each
    /// with the shared database and bucket and `config` besides: the first
    /// alone, then the others once its key files are copied into their
    /// folders; and the balancer in front of them all.
    pub fn start(dir: &Path, services: SharedServices, count: usize, config: &str) -> Cluster {
        let config = format!("{}{config}", services.blobs_line());
        let folders: Vec<PathBuf> = (0..count).map(|n| dir.join(format!("node-{n}"))).collect();
        let first =
            ServerProcess::start_on_database(&folders[0], &services.database, &config, &S3_CREDENTIALS);
        let mut nodes = vec![Some(first)];
        for folder in &folders[1..] {
            copy_key_files(&folders[0], folder);
            nodes.push(Some(ServerProcess::start_on_database(
                folder,
                &services.database,
                &config,
                &S3_CREDENTIALS,
            )));
        }
        let addresses: Vec<String> = nodes.iter().flatten().map(ServerProcess::addr).collect();
        let balancer = Balancer::start(&addresses);
        Cluster { nodes, folders, config, services, balancer }
    }

    /// Node `n`, which must be running.
    pub fn node(&self, n: usize) -> &ServerProcess {
        self.nodes[n].as_ref().unwrap_or_else(|| panic!("node {n} was killed"))
    }

    /// `http://127.0.0.1:PORT/` of the balancer.
    pub fn base(&self) -> String {
        self.balancer.base()
    }

    /// Kills node `n` with SIGKILL.
    pub fn kill(&mut self, n: usize) {
        if let Some(node) = self.nodes[n].take() {
            node.kill();
        }
    }

    /// Node `n`'s data folder.
    pub fn folder(&self, n: usize) -> &Path {
        &self.folders[n]
    }

    /// The configuration file every node runs with.
    pub fn config(&self) -> &str {
        &self.config
    }

    /// Runs an administration command of `posfield-server` on the shared
    /// database (with the first node's folder) and returns its stdout.
    pub fn cli(&self, args: &[&str]) -> String {
        let output = Command::new(server_binary())
            .arg("--config")
            .arg(self.folders[0].with_extension("toml"))
            .arg("--database")
            .arg(&self.services.database)
            .arg("--data")
            .arg(&self.folders[0])
            .args(args)
            .envs(S3_CREDENTIALS)
            .env("POSFIELD_PASSWORD", TEST_PASSWORD)
            .output()
            .expect("posfield-server runs");
        let said = String::from_utf8_lossy(&output.stderr);
        assert!(output.status.success(), "posfield-server {args:?}: {said}");
        String::from_utf8(output.stdout).expect("utf-8").trim().to_owned()
    }

    /// An enrolment code for an agent (created if new).
    pub fn enrolment_code(&self, agent: &str) -> String {
        self.cli(&["enroll-agent", agent])
    }

    /// Adds a back-office user with the test password.
    pub fn add_user(&self, name: &str, role: &str) {
        self.cli(&["add-user", name, "--role", role]);
    }
}

/// Copies the key files of the node in folder `from` into folder `to`
/// (made if absent), keeping their owner-only permissions.
pub fn copy_key_files(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("the node's data folder");
    for name in KEY_FILES {
        std::fs::copy(from.join(name), to.join(name))
            .unwrap_or_else(|e| panic!("copying {name} from the first node: {e}"));
    }
}
