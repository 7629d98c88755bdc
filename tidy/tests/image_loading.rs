//! Every image from outside is opened by `posfield-imaging`: no other
//! crate's code calls the `image` crate's own loaders, which guess any
//! format the build happens to include and bound nothing before decoding.
//! Tests may decode what the code produced; they live in `tests` folders
//! and `tests.rs` files, which the scan leaves out.

use std::path::{Path, PathBuf};

/// The `image` crate's ways of opening bytes or files.
const LOADERS: &[&str] = &["load_from_memory", "ImageReader", "with_guessed_format", "image::open("];

/// Folders the scan does not enter: build output, dependencies, the one
/// home of image loading, and tests.
const SKIPPED: &[&str] = &["target", "node_modules", ".git", "imaging", "tests", "benches"];

/// The loaders named in `text`, with their line numbers.
fn offences(text: &str) -> Vec<(usize, &'static str)> {
    text.lines()
        .enumerate()
        .flat_map(|(n, line)| LOADERS.iter().filter(move |l| line.contains(**l)).map(move |l| (n + 1, *l)))
        .collect()
}

fn rust_sources(dir: &Path, found: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        if path.is_dir() {
            if !SKIPPED.contains(&name.as_str()) {
                rust_sources(&path, found);
            }
        } else if name.ends_with(".rs") && name != "tests.rs" {
            found.push(path);
        }
    }
}

#[test]
fn no_code_outside_posfield_imaging_opens_an_image_itself() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut sources = Vec::new();
    rust_sources(&root, &mut sources);
    assert!(sources.iter().any(|p| p.ends_with("photo.rs")), "the scan reaches the agent core");
    let found: Vec<String> = sources
        .iter()
        .flat_map(|path| {
            let text = std::fs::read_to_string(path).unwrap_or_default();
            offences(&text)
                .into_iter()
                .map(|(line, loader)| format!("{}:{line}: {loader}", path.display()))
                .collect::<Vec<_>>()
        })
        .collect();
    assert!(found.is_empty(), "open images with posfield_imaging::decode instead:\n{}", found.join("\n"));
}

#[test]
fn the_scan_finds_each_of_the_image_crate_s_loaders() {
    for (text, expected) in [
        ("let img = image::load_from_memory(bytes)?;", vec![(1, "load_from_memory")]),
        (
            "\nlet r = ImageReader::new(Cursor::new(b)).with_guessed_format()?;",
            vec![(2, "ImageReader"), (2, "with_guessed_format")],
        ),
        ("let img = image::open(path)?;", vec![(1, "image::open(")]),
        ("let decoded = posfield_imaging::decode(bytes, &LIMITS)?;", vec![]),
    ] {
        assert_eq!(offences(text), expected, "{text}");
    }
}
