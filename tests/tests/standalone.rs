//! The repository stands alone: no tracked file reads a path outside it.
//!
//! A clone with nothing beside it must pass the test command, so tests,
//! benches, scripts and docs may only name paths inside the repository.
//! The checker reads every tracked text file, takes each relative path that
//! starts with `../` (and, in shell scripts, a bare `..` as in `cd ..`), and
//! resolves it from where it is resolved at run time: the crate's folder when
//! the line names `CARGO_MANIFEST_DIR`, the repository root in shell scripts
//! (they all `cd` there first), and the file's own folder otherwise (Cargo
//! manifests, Markdown links, JavaScript imports). A path is an offence when it
//! climbs above the root from there, or when it names a `shared` folder one
//! level up and lands on nothing inside the repository (a JavaScript path
//! joined to the root, which the folder rule alone would let through).

use std::path::{Path, PathBuf};
use std::process::Command;

/// Folders of data, not readers: their text is never resolved as a path.
const DATA_FOLDERS: &[&str] = &["testdata/", "fuzz/corpus/"];

/// The folder beside the repository that tests used to read, spelled so that
/// this file does not name it.
const SHARED_ONE_UP: &str = concat!("..", "/shared");

/// A relative path that reads outside the repository.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Offence {
    file: String,
    line: usize,
    path: String,
}

impl std::fmt::Display for Offence {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}: `{}` reads outside the repository", self.file, self.line, self.path)
    }
}

fn repository_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the tests crate sits in the repository")
        .to_path_buf()
}

/// The files git tracks under `root`, or every file but build output and
/// installed packages when `root` is not a git checkout (an unpacked archive).
fn tracked_files(root: &Path) -> Vec<String> {
    let listed = Command::new("git").arg("-C").arg(root).args(["ls-files", "-z"]).output();
    if let Ok(output) = listed
        && output.status.success()
    {
        return String::from_utf8_lossy(&output.stdout)
            .split('\0')
            .filter(|f| !f.is_empty())
            .map(str::to_owned)
            .collect();
    }
    let mut files = Vec::new();
    walk(root, root, &mut files);
    files
}

fn walk(root: &Path, dir: &Path, files: &mut Vec<String>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name();
        if matches!(name.to_str(), Some(".git" | "target" | "node_modules")) {
            continue;
        }
        if path.is_dir() {
            walk(root, &path, files);
        } else if let Ok(relative) = path.strip_prefix(root) {
            files.push(relative.to_string_lossy().replace('\\', "/"));
        }
    }
}

/// The folder (relative to the root, `""` for the root) of the nearest
/// `Cargo.toml` at or above `file`'s folder.
fn crate_folder(root: &Path, file: &str) -> String {
    let mut folder = parent(file);
    while !folder.is_empty() {
        if root.join(&folder).join("Cargo.toml").is_file() {
            return folder;
        }
        folder = parent(&folder);
    }
    folder
}

fn parent(path: &str) -> String {
    path.rsplit_once('/').map(|(head, _)| head.to_owned()).unwrap_or_default()
}

fn is_shell(file: &str, text: &str) -> bool {
    file.ends_with(".sh")
        || text.starts_with("#!/usr/bin/env bash")
        || text.starts_with("#!/bin/sh")
        || text.starts_with("#!/bin/bash")
}

/// Characters that may stand before a relative path: a quote, a bracket, a
/// separator or the start of the line. `/..` or `x..` are not relative paths.
fn starts_token(before: Option<char>) -> bool {
    before.is_none_or(|c| c.is_whitespace() || "\"'(=,[{`:<".contains(c))
}

fn ends_token(c: char) -> bool {
    c.is_whitespace() || "\"'`)]},;>".contains(c)
}

/// Every relative path on `line` that starts with `..`, with bare `..` only
/// when `bare` (shell scripts).
fn relative_paths(line: &str, bare: bool) -> Vec<&str> {
    let mut found = Vec::new();
    let mut from = 0;
    while let Some(at) = line[from..].find("..").map(|i| i + from) {
        let end = line[at..].find(ends_token).map_or(line.len(), |i| i + at);
        let token = &line[at..end];
        let before = line[..at].chars().next_back();
        if starts_token(before) && (token.starts_with("../") || (bare && token == "..")) {
            found.push(token);
        }
        from = end.max(at + 2);
    }
    found
}

/// Whether `path` resolved from `base` (both relative to the root) climbs
/// above the root at any step.
fn climbs_above(base: &str, path: &str) -> bool {
    let mut depth = base.split('/').filter(|s| !s.is_empty()).count() as i64;
    for segment in path.split('/') {
        match segment {
            ".." => depth -= 1,
            "" | "." => {}
            _ => depth += 1,
        }
        if depth < 0 {
            return true;
        }
    }
    false
}

/// Every read outside the repository in `files` (relative to `root`).
fn offences(root: &Path, files: &[String]) -> Vec<Offence> {
    let mut found = Vec::new();
    for file in files {
        if DATA_FOLDERS.iter().any(|folder| file.starts_with(folder)) {
            continue;
        }
        let Ok(bytes) = std::fs::read(root.join(file)) else { continue };
        let Ok(text) = String::from_utf8(bytes) else { continue };
        if text.contains('\0') {
            continue;
        }
        let shell = is_shell(file, &text);
        for (index, line) in text.lines().enumerate() {
            for path in relative_paths(line, shell) {
                let base = if shell {
                    String::new()
                } else if line.contains("CARGO_MANIFEST_DIR") {
                    crate_folder(root, file)
                } else {
                    parent(file)
                };
                let outside = climbs_above(&base, path);
                let dangling_shared = path.contains(SHARED_ONE_UP) && !root.join(&base).join(path).exists();
                if outside || dangling_shared {
                    found.push(Offence { file: file.clone(), line: index + 1, path: path.to_owned() });
                }
            }
        }
    }
    found
}

#[test]
fn no_tracked_file_reads_outside_the_repository() {
    let root = repository_root();
    let files = tracked_files(&root);
    assert!(
        files.iter().any(|f| f == "Cargo.toml"),
        "the file list holds the workspace manifest: {} files",
        files.len()
    );
    let found = offences(&root, &files);
    let report: Vec<String> = found.iter().map(ToString::to_string).collect();
    assert!(found.is_empty(), "move what these read into the repository (testdata/):\n{}", report.join("\n"));
}

#[test]
fn checker_flags_every_planted_read_outside_and_nothing_inside() {
    // (file, content, offending path or None). `^^` stands for `..`, so
    // that this file holds no offence of its own.
    let cases: &[(&str, &str, Option<&str>)] = &[
        ("core/Cargo.toml", "[dependencies]\nshared = { path = \"^^/shared\" }\n", None),
        ("shared/Cargo.toml", "[package]\n", None),
        (
            "core/src/deep/inside.rs",
            "let d = Path::new(env!(\"CARGO_MANIFEST_DIR\")).join(\"^^/testdata/x\");\n",
            None,
        ),
        (
            "core/src/deep/outside.rs",
            "let d = Path::new(env!(\"CARGO_MANIFEST_DIR\")).join(\"^^/^^/shared/testdata/x\");\n",
            Some("^^/^^/shared/testdata/x"),
        ),
        ("core/src/range.rs", "let Some([a, ^^]) = x else { return };\nlet s = &b[^^];\n", None),
        ("scripts/inside", "#!/usr/bin/env bash\ncd \"$(dirname \"$0\")/^^\"\ncat testdata/x\n", None),
        ("scripts/outside", "#!/usr/bin/env bash\ndata=\"$(cd ^^ && pwd)/shared/testdata\"\n", Some("^^")),
        (
            "app/e2e/harness.mjs",
            "const t = path.resolve(repo, '^^/shared/testdata');\n",
            Some("^^/shared/testdata"),
        ),
        (
            "app/e2e/ok.mjs",
            "import { x } from '^^/harness.mjs';\nconst repo = path.resolve(here, '^^/^^');\n",
            None,
        ),
        ("docs/inside.md", "See [the readme](^^/README.md).\n", None),
        ("docs/outside.md", "See [the notes](^^/^^/notes/x.md).\n", Some("^^/^^/notes/x.md")),
        ("testdata/data.txt", "^^/^^/^^/anything\n", None),
    ];
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("repo");
    let mut files = Vec::new();
    for (file, content, _) in cases {
        let path = root.join(file);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, content.replace("^^", "..")).unwrap();
        files.push((*file).to_owned());
    }
    let found = offences(&root, &files);
    for (file, _, expected) in cases {
        let flagged: Vec<String> = found.iter().filter(|o| o.file == *file).map(|o| o.path.clone()).collect();
        let expected: Vec<String> = expected.iter().map(|path| path.replace("^^", "..")).collect();
        assert_eq!(flagged, expected, "{file}");
    }
    // Without git metadata the listing falls back to walking the folder.
    let mut walked = tracked_files(&root);
    walked.sort();
    files.sort();
    assert_eq!(walked, files);
}
