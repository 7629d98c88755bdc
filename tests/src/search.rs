//! Searching a data folder for what must not be in it in clear: every file
//! at any depth, read whole, for each needle.

use std::path::{Path, PathBuf};

/// Every file under `root`, at any depth. A folder or file that a running
/// process removes while the search lists it (a temporary file renamed into
/// place) is passed over: the search looks at what stays.
pub fn files_under(root: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut folders = vec![root.to_owned()];
    while let Some(folder) = folders.pop() {
        let entries = match std::fs::read_dir(&folder) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && folder != root => continue,
            Err(e) => panic!("{} is not readable: {e}", folder.display()),
        };
        for entry in entries.flatten() {
            let Ok(kind) = entry.file_type() else { continue };
            if kind.is_dir() {
                folders.push(entry.path());
            } else {
                found.push(entry.path());
            }
        }
    }
    found
}

/// Every file under `root` that holds one of `needles`, with the needle's name.
pub fn files_holding(root: &Path, needles: &[(String, Vec<u8>)]) -> Vec<(PathBuf, String)> {
    let mut found = Vec::new();
    for file in files_under(root) {
        let bytes = match std::fs::read(&file) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => panic!("{} is not readable: {e}", file.display()),
        };
        for (name, needle) in needles {
            if bytes.windows(needle.len()).any(|w| w == needle.as_slice()) {
                found.push((file.clone(), name.clone()));
            }
        }
    }
    found
}

/// The needle of a text, named by it.
pub fn text(text: &str) -> (String, Vec<u8>) {
    (format!("{text:?}"), text.as_bytes().to_vec())
}

/// Three stretches of `bytes` (start, middle, end), each long enough to be
/// found only where those bytes were written.
pub fn stretches(name: &str, bytes: &[u8]) -> Vec<(String, Vec<u8>)> {
    assert!(bytes.len() > 200, "{name} is too short to search for");
    let at = [16, bytes.len() / 2, bytes.len() - 80];
    at.iter().map(|&i| (format!("{name}@{i}"), bytes[i..i + 64].to_vec())).collect()
}
