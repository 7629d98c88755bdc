//! The desktop's secret service as the agent's keystore, against a real
//! one: GNOME Keyring on a private D-Bus session bus this test starts (both
//! Debian packages the test command installs), its keyrings in a temporary
//! folder, unlocked at start with a log-in password as a desktop session does.

#![cfg(target_os = "linux")]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use posfield_core::keystore::PlatformKeystore;
use posfield_core::{Agent, DataKey, Keystore};

/// A child process killed when dropped, so a failed assertion leaves no daemon behind.
struct Daemon(Child);

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A private session bus and a secret service on it; returns the bus
/// address and both daemons.
fn secret_service(home: &std::path::Path) -> (String, [Daemon; 2]) {
    let mut bus = Command::new("dbus-daemon")
        .args(["--session", "--nofork", "--print-address=1"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("dbus-daemon runs (Debian package dbus)");
    let mut address = String::new();
    BufReader::new(bus.stdout.take().unwrap()).read_line(&mut address).unwrap();
    let address = address.trim().to_owned();
    let bus = Daemon(bus);
    let runtime = home.join("run");
    std::fs::create_dir_all(&runtime).unwrap();
    // As on a desktop after its first log-in: the login keyring is the
    // default one (the daemon creates it, unlocked by the password below).
    let keyrings = home.join("data/keyrings");
    std::fs::create_dir_all(&keyrings).unwrap();
    std::fs::write(keyrings.join("default"), "login").unwrap();
    let mut keyring = Command::new("gnome-keyring-daemon")
        .args(["--foreground", "--unlock", "--components=secrets"])
        .env("DBUS_SESSION_BUS_ADDRESS", &address)
        .env("HOME", home)
        .env("XDG_DATA_HOME", home.join("data"))
        .env("XDG_RUNTIME_DIR", &runtime)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("gnome-keyring-daemon runs (Debian package gnome-keyring)");
    // The login keyring's password, as a log-in screen hands it over.
    {
        use std::io::Write as _;
        let mut stdin = keyring.stdin.take().unwrap();
        stdin.write_all(b"posfield-test-login").unwrap();
    }
    let keyring = Daemon(keyring);
    // Wait, bounded, for the service's name on the bus.
    for _ in 0..100 {
        let names = Command::new("dbus-send")
            .args(["--session", "--print-reply", "--dest=org.freedesktop.DBus", "/org/freedesktop/DBus"])
            .arg("org.freedesktop.DBus.ListNames")
            .env("DBUS_SESSION_BUS_ADDRESS", &address)
            .output()
            .expect("dbus-send runs");
        if String::from_utf8_lossy(&names.stdout).contains("org.freedesktop.secrets") {
            return (address, [bus, keyring]);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("the secret service did not appear on the bus within 10 s");
}

/// Set in the child process this test starts on the private bus.
const CHILD_ENV: &str = "POSFIELD_KEYSTORE_TEST_HOME";

/// The parent starts the bus and the secret service, then runs this same
/// test in a child process whose environment names the bus (the D-Bus
/// library reads it from there, and a test may not change its own).
#[test]
fn the_desktops_secret_service_keeps_the_agents_key_and_destroys_it() {
    let Some(home) = std::env::var_os(CHILD_ENV) else {
        let home = tempfile::tempdir().unwrap();
        let (address, _daemons) = secret_service(home.path());
        let child = Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "the_desktops_secret_service_keeps_the_agents_key_and_destroys_it",
                "--nocapture",
            ])
            .env("DBUS_SESSION_BUS_ADDRESS", &address)
            .env(CHILD_ENV, home.path())
            .output()
            .unwrap();
        let output = String::from_utf8_lossy(&child.stdout);
        assert!(child.status.success(), "{output}{}", String::from_utf8_lossy(&child.stderr));
        assert!(output.contains("1 passed"), "the child ran no test: {output}");
        return;
    };
    let home = std::path::PathBuf::from(home);
    let data = home.join("agent");
    let keys = PlatformKeystore::for_data_dir(&data);
    assert!(keys.load().unwrap().is_none());
    let key = DataKey::generate();
    assert_eq!(keys.save_new(&key).unwrap().bytes(), key.bytes());
    assert_eq!(keys.save_new(&DataKey::generate()).unwrap().bytes(), key.bytes(), "the first key is kept");
    assert_eq!(keys.load().unwrap().unwrap().bytes(), key.bytes());
    // Another data folder has another entry.
    assert!(PlatformKeystore::for_data_dir(&home.join("other")).load().unwrap().is_none());
    keys.destroy().unwrap();
    assert!(keys.load().unwrap().is_none());
    keys.destroy().unwrap();

    // The agent opens with it: a key is made on first start and opens the
    // store again on the next; no key file is written anywhere.
    let mut agent = Agent::open(&data, Arc::new(keys.clone())).unwrap();
    agent.sign_in("wang").unwrap();
    drop(agent);
    assert!(keys.load().unwrap().is_some());
    let agent = Agent::open(&data, Arc::new(keys.clone())).unwrap();
    assert_eq!(agent.user(), Some("wang"));
    drop(agent);
    let key_files: Vec<_> =
        walk(&home).into_iter().filter(|p| p.extension().is_some_and(|e| e == "key")).collect();
    assert!(key_files.is_empty(), "{key_files:?}");
    // Destroyed, the folder no longer opens: the wipe of a lost desktop.
    keys.destroy().unwrap();
    let error = Agent::open(&data, Arc::new(keys)).unwrap_err();
    assert_eq!(error.code(), "key_gone", "{error}");
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() { found.extend(walk(&path)) } else { found.push(path) }
    }
    found
}
