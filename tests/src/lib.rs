//! Harness for whole-system tests: real `posfield-server` processes on
//! 127.0.0.1 with their own data folders, driven over HTTP (or HTTPS, with
//! certificates the test makes: [`tls`]) and through real agent cores.
//! With `POSFIELD_TEST_DATABASE` set, each data folder's server keeps its
//! store in a PostgreSQL database of its own ([`test_database`]).

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine;

pub mod balancer;
pub mod hostile;
pub mod nodes;
pub mod proxy;
pub mod search;
pub mod story;
pub mod tls;

/// The password of every back-office user the tests add.
pub const TEST_PASSWORD: &str = "correct horse battery";

/// The `posfield-server` binary: the one `POSFIELD_SERVER_BIN` names, else
/// built on first use.
pub fn server_binary() -> PathBuf {
    workspace_binary("POSFIELD_SERVER_BIN", "posfield-sync-server", "posfield-server")
}

/// The `posfield-agent` binary (the agent core's CLI): the one
/// `POSFIELD_AGENT_BIN` names, else built on first use.
pub fn agent_binary() -> PathBuf {
    workspace_binary("POSFIELD_AGENT_BIN", "posfield-core", "posfield-agent")
}

/// A binary of this workspace. `scripts/test` builds every binary once with
/// the whole workspace's features (the server alone, so it links plain
/// SQLite, not the agent's SQLCipher) and names them in `variable`; without it
/// the binary is built beside the test binary, once per test process (cargo
/// test builds only the tested package's own binaries). Building one package
/// alone resolves its dependencies' features differently from the workspace,
/// so in a full run that build compiled much of the tree a second time.
fn workspace_binary(variable: &str, package: &str, bin: &str) -> PathBuf {
    if let Some(named) = std::env::var_os(variable) {
        let binary = PathBuf::from(named);
        assert!(binary.is_file(), "{variable} names {}, which is not a file", binary.display());
        return binary;
    }
    static BUILT: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());
    let exe = std::env::current_exe().expect("the test binary's path");
    // target/<profile>/deps/<test> -> target/<profile>/<bin>
    let profile_dir = exe.parent().and_then(Path::parent).expect("a target directory");
    let binary = profile_dir.join(format!("{bin}{}", std::env::consts::EXE_SUFFIX));
    let mut built = BUILT.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    if !built.iter().any(|b| b == bin) {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let status = Command::new(cargo)
            .args(["build", "--quiet", "-p", package, "--bin", bin])
            .status()
            .expect("cargo runs");
        assert!(status.success(), "building {bin} failed");
        built.push(bin.to_owned());
    }
    assert!(binary.exists(), "{} was not built", binary.display());
    binary
}

/// The variable that, set to the `postgres://` URL of a PostgreSQL server
/// where the tests may create databases, runs every server on PostgreSQL.
pub const TEST_DATABASE_VARIABLE: &str = "POSFIELD_TEST_DATABASE";

/// The PostgreSQL server [`use_database_server`] named for this test process.
static DATABASE_SERVER: std::sync::OnceLock<String> = std::sync::OnceLock::new();

/// Runs every server this test process starts from now on on PostgreSQL,
/// in databases of `server` (a `postgres://` URL where the tests may create
/// databases), as `POSFIELD_TEST_DATABASE` would: for a test binary whose
/// tests are about the PostgreSQL engine. The first server named stays.
pub fn use_database_server(server: &str) {
    let _ = DATABASE_SERVER.set(server.to_owned());
}

/// The PostgreSQL server the tests' databases are made in:
/// [`use_database_server`]'s, else `POSFIELD_TEST_DATABASE`'s; `None` for SQLite.
fn database_server() -> Option<String> {
    DATABASE_SERVER
        .get()
        .cloned()
        .or_else(|| std::env::var(TEST_DATABASE_VARIABLE).ok())
        .filter(|s| !s.is_empty())
}

/// The database of the server on data folder `data`: with
/// `POSFIELD_TEST_DATABASE` set (or [`use_database_server`] called), a
/// PostgreSQL database of its own (created the first time, so a server
/// restarted on the folder finds its data again); `None`, the default, for
/// the SQLite file in the folder.
pub fn test_database(data: &Path) -> Option<String> {
    use std::hash::{Hash, Hasher};
    let server = database_server()?;
    // SipHash with fixed keys: the same folder is the same database in every process.
    let mut hasher = std::hash::DefaultHasher::new();
    data.hash(&mut hasher);
    let name = format!("posfield_e2e_{:016x}", hasher.finish());
    static CREATED: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());
    let mut created = CREATED.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    if !created.contains(&name) {
        let output = Command::new(pg_tool("psql"))
            .arg(&server)
            .args(["-v", "ON_ERROR_STOP=1", "-qc", &format!("CREATE DATABASE {name}")])
            .output()
            .expect("psql runs (the postgresql-client package)");
        let said = String::from_utf8_lossy(&output.stderr);
        assert!(
            output.status.success() || said.contains("already exists"),
            "creating database {name}: {said}"
        );
        created.push(name.clone());
    }
    let (server_path, _) = server.rsplit_once('/').expect("a postgres://HOST/DATABASE URL");
    Some(format!("{server_path}/{name}"))
}

/// A PostgreSQL client tool (`psql`, `pg_dump`, `pg_ctl`): the one in the
/// folder `PG_CLUSTER_BIN` names (the throwaway cluster's binaries, which
/// `scripts/lib.sh`'s `pg_cluster_start` exports), else the one on the PATH.
pub fn pg_tool(name: &str) -> PathBuf {
    std::env::var_os("PG_CLUSTER_BIN")
        .filter(|dir| !dir.is_empty())
        .map(|dir| PathBuf::from(dir).join(name))
        .filter(|tool| tool.is_file())
        .unwrap_or_else(|| PathBuf::from(name))
}

/// A plain-SQL dump (`pg_dump --no-owner --no-privileges`) of the database
/// of the server on data folder `data`, as docs/deploy.md has operators
/// back it up; `None` when the server keeps its store in the folder's
/// SQLite file.
pub fn dump_database(data: &Path) -> Option<Vec<u8>> {
    let database = test_database(data)?;
    let output = Command::new(pg_tool("pg_dump"))
        .args(["--no-owner", "--no-privileges", "--dbname"])
        .arg(&database)
        .output()
        .expect("pg_dump runs");
    assert!(output.status.success(), "pg_dump of {database}: {}", String::from_utf8_lossy(&output.stderr));
    Some(output.stdout)
}

/// Replaces the database of the server on data folder `data` with `dump`
/// ([`dump_database`]): drops it, creates it empty and loads the dump with
/// `psql`, stopping at the first error. The server must be stopped.
pub fn restore_database(data: &Path, dump: &[u8]) {
    use std::io::Write;
    let database = test_database(data).expect("a PostgreSQL database (POSFIELD_TEST_DATABASE)");
    let server = database_server().expect("a PostgreSQL server");
    let name = database.rsplit('/').next().expect("a database name");
    for statement in
        [format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"), format!("CREATE DATABASE {name}")]
    {
        let output = Command::new(pg_tool("psql"))
            .arg(&server)
            .args(["-X", "-v", "ON_ERROR_STOP=1", "-qc", &statement])
            .output()
            .expect("psql runs");
        assert!(output.status.success(), "{statement}: {}", String::from_utf8_lossy(&output.stderr));
    }
    let mut psql = Command::new(pg_tool("psql"))
        .arg(&database)
        .args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-f", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("psql runs");
    psql.stdin.take().expect("psql's stdin").write_all(dump).expect("the dump reaches psql");
    let output = psql.wait_with_output().expect("psql ends");
    assert!(
        output.status.success(),
        "loading the dump into {database}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Runs an administration command of `posfield-server` on a data folder and
/// returns its stdout.
pub fn server_cli(data: &Path, args: &[&str]) -> String {
    let mut command = Command::new(server_binary());
    if let Some(database) = test_database(data) {
        command.arg("--database").arg(database);
    }
    let output = command
        .arg("--data")
        .arg(data)
        .args(args)
        .env("POSFIELD_PASSWORD", TEST_PASSWORD)
        .output()
        .expect("posfield-server runs");
    assert!(output.status.success(), "posfield-server {args:?}: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout).expect("utf-8").trim().to_owned()
}

/// A running server process.
#[derive(Debug)]
pub struct ServerProcess {
    child: Child,
    /// `http://127.0.0.1:PORT/`, or `https://127.0.0.1:PORT/` when it serves TLS.
    pub base: String,
    /// Its data folder.
    pub data: PathBuf,
    /// A client for it: over TLS, one that trusts the test's authority alone.
    client: reqwest::blocking::Client,
}

impl ServerProcess {
    /// Starts `posfield-server serve` on a free port of 127.0.0.1 and waits
    /// until it answers `/healthz`.
    pub fn start(data: &Path) -> ServerProcess {
        Self::start_on(data, "127.0.0.1:0")
    }

    /// Starts on a given address (to restart on the same port). Its logs
    /// go to the test's stderr at the level `POSFIELD_TEST_SERVER_LOG` says
    /// (default `warn`).
    pub fn start_on(data: &Path, listen: &str) -> ServerProcess {
        Self::start_configured(data, listen, "")
    }

    /// Starts on a given address with `config` as its TOML configuration
    /// file (written beside the data folder, as `<data>.toml`).
    pub fn start_configured(data: &Path, listen: &str, config: &str) -> ServerProcess {
        Self::start_with_env(data, listen, config, &[])
    }

    /// [`ServerProcess::start_configured`] with extra environment variables
    /// (an S3 bucket's credentials).
    pub fn start_with_env(data: &Path, listen: &str, config: &str, env: &[(&str, &str)]) -> ServerProcess {
        let level = std::env::var("POSFIELD_TEST_SERVER_LOG").unwrap_or_else(|_| "warn".into());
        Self::spawn(data, listen, &level, Stdio::inherit(), config, None, env)
    }

    /// [`ServerProcess::start_with_env`] on the PostgreSQL database
    /// `database` (a `postgres://` URL), whatever `POSFIELD_TEST_DATABASE`
    /// says: one node of several sharing a database ([`nodes`]).
    pub fn start_on_database(
        data: &Path,
        database: &str,
        config: &str,
        env: &[(&str, &str)],
    ) -> ServerProcess {
        let level = std::env::var("POSFIELD_TEST_SERVER_LOG").unwrap_or_else(|_| "warn".into());
        let spawned = Spawn { database: Some(database.to_owned()), tls: None, env };
        Self::spawn_with(data, "127.0.0.1:0", &level, Stdio::inherit(), config, spawned)
    }

    /// Starts `posfield-server serve --tls-cert --tls-key` with the
    /// certificate and key of `tls` ([`tls::TestTls::write`]) on a free
    /// port of 127.0.0.1, and waits until it answers `/healthz` over HTTPS.
    /// Its [`ServerProcess::base`] is `https://127.0.0.1:PORT/`.
    pub fn start_tls(data: &Path, tls: &tls::TestTls) -> ServerProcess {
        Self::start_tls_configured(data, tls, "")
    }

    /// [`ServerProcess::start_tls`] with `config` as its TOML configuration
    /// (`tls_reload_secs = 1` to see replaced certificate files at once).
    pub fn start_tls_configured(data: &Path, tls: &tls::TestTls, config: &str) -> ServerProcess {
        let level = std::env::var("POSFIELD_TEST_SERVER_LOG").unwrap_or_else(|_| "warn".into());
        Self::spawn(data, "127.0.0.1:0", &level, Stdio::inherit(), config, Some(tls), &[])
    }

    /// Starts with every log line, down to TRACE, written to `log`.
    pub fn start_tracing_to(data: &Path, log: &Path) -> ServerProcess {
        let file = std::fs::File::create(log).expect("the log file");
        Self::spawn(data, "127.0.0.1:0", "trace", Stdio::from(file), "", None, &[])
    }

    fn spawn(
        data: &Path,
        listen: &str,
        level: &str,
        stderr: Stdio,
        config: &str,
        tls: Option<&tls::TestTls>,
        env: &[(&str, &str)],
    ) -> ServerProcess {
        let spawned = Spawn { database: test_database(data), tls, env };
        Self::spawn_with(data, listen, level, stderr, config, spawned)
    }

    fn spawn_with(
        data: &Path,
        listen: &str,
        level: &str,
        stderr: Stdio,
        config: &str,
        Spawn { database, tls, env }: Spawn<'_>,
    ) -> ServerProcess {
        let config_file = data.with_extension("toml");
        std::fs::write(&config_file, config).expect("the configuration file");
        let mut command = Command::new(server_binary());
        if let Some(database) = database {
            command.arg("--database").arg(database);
        }
        command
            .arg("--config")
            .arg(&config_file)
            .args(["--data"])
            .arg(data)
            .args(["serve", "--listen", listen]);
        if let Some(tls) = tls {
            command.arg("--tls-cert").arg(&tls.cert).arg("--tls-key").arg(&tls.key);
        }
        let mut child = command
            .envs(env.iter().copied())
            .env("RUST_LOG", level)
            .env("NO_COLOR", "1")
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .expect("posfield-server starts");
        let stdout = child.stdout.take().expect("stdout");
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).expect("the listening line");
        let base = line.trim().rsplit(' ').next().expect("an address").to_owned();
        let client = tls.map_or_else(reqwest::blocking::Client::new, tls::TestTls::client);
        let server = ServerProcess { child, base: format!("{base}/"), data: data.to_owned(), client };
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if server.client.get(server.url("healthz")).send().is_ok_and(|r| r.status().is_success()) {
                return server;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("posfield-server did not answer /healthz within 20 s");
    }

    /// A URL on this server.
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path.trim_start_matches('/'))
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The `host:port` it listens on.
    pub fn addr(&self) -> String {
        self.base.split_once("://").map_or(&self.base[..], |(_, rest)| rest).trim_end_matches('/').to_owned()
    }

    /// An HTTP client for this server (over TLS, it trusts the test's
    /// authority and nothing else).
    pub fn client(&self) -> &reqwest::blocking::Client {
        &self.client
    }

    /// Kills the process with SIGKILL (no graceful shutdown).
    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Asks the server to shut down (SIGTERM) and waits up to `limit` for
    /// it to exit; returns whether it exited successfully in time.
    pub fn terminate(mut self, limit: Duration) -> bool {
        let pid = self.child.id().to_string();
        let sent = Command::new("kill").args(["-TERM", &pid]).status().is_ok_and(|s| s.success());
        let deadline = Instant::now() + limit;
        while sent && Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status.success();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }

    /// Sends saved visit documents as the phone holding `token` pushes the
    /// visits it holds (`POST /api/v1/sync/push`), and expects every one stored.
    pub fn push_documents(&self, token: &str, documents: &[&[u8]]) {
        use posfield_shared::protocol::{PUSH_MEDIA_TYPE, PushRequest, PushResponse, PushedVisit};
        let visits = documents
            .iter()
            .map(|bytes| {
                let id = posfield_shared::visit::raw_json(bytes).expect("a visit document")["id"]
                    .as_str()
                    .expect("a visit id")
                    .to_owned();
                PushedVisit { id, base: Vec::new(), bytes: bytes.to_vec().into() }
            })
            .collect();
        let response = self
            .client
            .post(self.url("api/v1/sync/push"))
            .bearer_auth(token)
            .header("content-type", PUSH_MEDIA_TYPE)
            .body(posfield_shared::protocol::encode_cbor(&PushRequest { visits }))
            .send()
            .expect("the push is answered");
        assert_eq!(response.status().as_u16(), 200, "push");
        let answer: PushResponse = posfield_shared::protocol::decode_cbor(&response.bytes().expect("a body"))
            .expect("a push answer");
        assert!(answer.visits.iter().all(|v| v.refused.is_none()), "{answer:?}");
    }

    /// An enrolment code for an agent (created if new).
    pub fn enrolment_code(&self, agent: &str) -> String {
        server_cli(&self.data, &["enroll-agent", agent])
    }

    /// Adds a back-office user with the test password.
    pub fn add_user(&self, name: &str, role: &str) {
        server_cli(&self.data, &["add-user", name, "--role", role]);
    }

    /// GET on the back-office JSON API as `user`.
    pub fn office_get(&self, user: &str, path: &str) -> (u16, serde_json::Value) {
        let response = self
            .client
            .get(self.url(path))
            .header("authorization", basic(user))
            .send()
            .expect("the server answers");
        let status = response.status().as_u16();
        (status, response.json().unwrap_or_default())
    }

    /// POST JSON on the back-office API as `user`.
    pub fn office_post(&self, user: &str, path: &str, body: &serde_json::Value) -> (u16, serde_json::Value) {
        let response = self
            .client
            .post(self.url(path))
            .header("authorization", basic(user))
            .json(body)
            .send()
            .expect("the server answers");
        let status = response.status().as_u16();
        (status, response.json().unwrap_or_default())
    }

    /// (actor, action) of every audit row about `detail`, read by an
    /// administrator `admin` through the back-office API.
    pub fn audited(&self, admin: &str, detail: &str) -> Vec<(String, String)> {
        let (status, audit) = self.office_get(admin, "api/v1/office/audit");
        assert_eq!(status, 200, "{audit}");
        let rows = audit.as_array().expect("the audit log is a list");
        rows.iter()
            .filter(|row| row["detail"] == detail)
            .map(|row| {
                (
                    row["actor"].as_str().unwrap_or("").to_owned(),
                    row["action"].as_str().unwrap_or("").to_owned(),
                )
            })
            .collect()
    }
}

/// How a server process is started besides its folder, address and configuration.
struct Spawn<'a> {
    /// The `--database` it is given, if any.
    database: Option<String>,
    /// The certificate and key it serves, if any.
    tls: Option<&'a tls::TestTls>,
    /// Extra environment variables.
    env: &'a [(&'a str, &'a str)],
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The Basic authorization header of a test user.
pub fn basic(user: &str) -> String {
    let credentials = format!("{user}:{TEST_PASSWORD}");
    format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(credentials))
}
