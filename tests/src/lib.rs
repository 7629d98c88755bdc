//! Harness for whole-system tests: real `posfield-server` processes on
//! 127.0.0.1 with their own data folders, driven over HTTP and through real
//! agent cores.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine;

pub mod hostile;
pub mod proxy;
pub mod story;

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
/// the whole workspace's features and names them in `variable`; without it
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

/// Runs an administration command of `posfield-server` on a data folder and
/// returns its stdout.
pub fn server_cli(data: &Path, args: &[&str]) -> String {
    let output = Command::new(server_binary())
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
    /// `http://127.0.0.1:PORT/`.
    pub base: String,
    /// Its data folder.
    pub data: PathBuf,
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
        let level = std::env::var("POSFIELD_TEST_SERVER_LOG").unwrap_or_else(|_| "warn".into());
        Self::spawn(data, listen, &level, Stdio::inherit(), config)
    }

    /// Starts with every log line, down to TRACE, written to `log`.
    pub fn start_tracing_to(data: &Path, log: &Path) -> ServerProcess {
        let file = std::fs::File::create(log).expect("the log file");
        Self::spawn(data, "127.0.0.1:0", "trace", Stdio::from(file), "")
    }

    fn spawn(data: &Path, listen: &str, level: &str, stderr: Stdio, config: &str) -> ServerProcess {
        let config_file = data.with_extension("toml");
        std::fs::write(&config_file, config).expect("the configuration file");
        let mut child = Command::new(server_binary())
            .arg("--config")
            .arg(&config_file)
            .args(["--data"])
            .arg(data)
            .args(["serve", "--listen", listen])
            .env("RUST_LOG", level)
            .env("NO_COLOR", "1")
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .expect("posfield-server starts");
        let stdout = child.stdout.take().expect("stdout");
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).expect("the listening line");
        let addr = line.trim().rsplit("http://").next().expect("an address").to_owned();
        let server = ServerProcess { child, base: format!("http://{addr}/"), data: data.to_owned() };
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if reqwest::blocking::get(server.url("healthz")).is_ok_and(|r| r.status().is_success()) {
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
        self.base.trim_start_matches("http://").trim_end_matches('/').to_owned()
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
        let response = reqwest::blocking::Client::new()
            .get(self.url(path))
            .header("authorization", basic(user))
            .send()
            .expect("the server answers");
        let status = response.status().as_u16();
        (status, response.json().unwrap_or_default())
    }

    /// POST JSON on the back-office API as `user`.
    pub fn office_post(&self, user: &str, path: &str, body: &serde_json::Value) -> (u16, serde_json::Value) {
        let response = reqwest::blocking::Client::new()
            .post(self.url(path))
            .header("authorization", basic(user))
            .json(body)
            .send()
            .expect("the server answers");
        let status = response.status().as_u16();
        (status, response.json().unwrap_or_default())
    }
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
