//! Purity is a test: posfield-shared's own code must not reach I/O, the
//! clock or randomness. That no dependency reaches them either (tokio,
//! rusqlite, axum, tauri, image, reqwest...) is a rule in the workspace's
//! one table of forbidden arrows, `tidy/src/arrows.rs`.

use std::path::{Path, PathBuf};

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
