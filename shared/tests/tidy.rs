//! Purity is a test: posfield-shared must not reach I/O, the clock,
//! randomness or the heavy runtime crates, directly or through a dependency.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

const FORBIDDEN_CRATES: &[&str] =
    &["tokio", "rusqlite", "axum", "tauri", "image", "reqwest", "hyper", "libsqlite3-sys", "mio"];

const FORBIDDEN_CODE: &[&str] = &[
    "std::fs",
    "std::net",
    "std::env",
    "std::process",
    "std::thread",
    "SystemTime",
    "Instant::now",
    "now_utc",
    "now_local",
    "OffsetDateTime::now",
    // jiff's clock, the system's zone and its zoneinfo files: the one zone
    // the domain knows is compiled in with `jiff::tz::get!`.
    "::now()",
    "TimeZone::system",
    "TimeZone::try_system",
    "TimeZone::get(",
    "tz::db(",
    "tz::include!",
    "thread_rng",
    "rand::",
    "ActorId::random",
    "File::",
    "println!",
    "eprintln!",
];

fn crate_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("readable source dir") {
        let path = entry.expect("dir entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn shared_source_reads_no_clock_file_socket_or_randomness() {
    let mut files = Vec::new();
    rust_files(&crate_dir().join("src"), &mut files);
    assert!(files.len() > 5, "found the sources");
    let mut offences = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).expect("readable source");
        for (number, line) in text.lines().enumerate() {
            for pattern in FORBIDDEN_CODE {
                if line.contains(pattern) {
                    offences.push(format!("{}:{}: {pattern}", file.display(), number + 1));
                }
            }
        }
    }
    assert!(offences.is_empty(), "posfield-shared must stay pure:\n{}", offences.join("\n"));
}

/// Every package reachable from posfield-shared in Cargo.lock (dev-dependencies included).
fn reachable_packages() -> BTreeSet<String> {
    let lock =
        std::fs::read_to_string(crate_dir().join("../Cargo.lock")).expect("Cargo.lock at the workspace root");
    let mut graph: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut current: Option<String> = None;
    let mut in_deps = false;
    for line in lock.lines() {
        let line = line.trim();
        if line == "[[package]]" {
            current = None;
            in_deps = false;
        } else if let Some(name) = line.strip_prefix("name = ") {
            let name = name.trim_matches('"').to_owned();
            graph.entry(name.clone()).or_default();
            current = Some(name);
        } else if line.starts_with("dependencies = [") {
            in_deps = true;
        } else if in_deps && line == "]" {
            in_deps = false;
        } else if in_deps {
            let dep = line.trim_matches(|c| c == '"' || c == ',').split(' ').next().unwrap_or("").to_owned();
            if let Some(name) = &current {
                graph.entry(name.clone()).or_default().push(dep);
            }
        }
    }
    let mut seen = BTreeSet::new();
    let mut stack = vec!["posfield-shared".to_owned()];
    while let Some(name) = stack.pop() {
        if seen.insert(name.clone()) {
            stack.extend(graph.get(&name).cloned().unwrap_or_default());
        }
    }
    seen
}

/// jiff's default features find the system's time zone and read the
/// zoneinfo files; the workspace takes it without them.
#[test]
fn the_date_library_is_taken_without_its_system_time_zone_features() {
    let manifest =
        std::fs::read_to_string(crate_dir().join("../Cargo.toml")).expect("Cargo.toml at the workspace root");
    let jiff = manifest.lines().find(|l| l.starts_with("jiff =")).expect("jiff in [workspace.dependencies]");
    assert!(jiff.contains("default-features = false"), "{jiff}");
    for feature in ["tz-system", "tzdb-zoneinfo", "tzdb-concatenated", "tzdb-bundle-platform", "\"default\""]
    {
        assert!(!jiff.contains(feature), "jiff must not have {feature}: {jiff}");
    }
}

#[test]
fn shared_depends_on_no_runtime_storage_network_or_image_crate() {
    let reachable = reachable_packages();
    assert!(reachable.contains("automerge"), "the lock file was parsed");
    let bad: Vec<_> = FORBIDDEN_CRATES.iter().filter(|c| reachable.contains(**c)).collect();
    assert!(bad.is_empty(), "posfield-shared reaches {bad:?}");
}
