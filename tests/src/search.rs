//! Searching a data folder for what must not be in it in clear: every file
//! at any depth, read whole, for each needle.

use std::path::{Path, PathBuf};

/// Every file under `root`, at any depth.
pub fn files_under(root: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut folders = vec![root.to_owned()];
    while let Some(folder) = folders.pop() {
        for entry in std::fs::read_dir(folder).expect("a readable folder").flatten() {
            if entry.file_type().expect("a file type").is_dir() {
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
        let bytes = std::fs::read(&file).expect("a readable file");
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
