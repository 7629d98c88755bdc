//! The arrows that must never exist, checked over this workspace; and the
//! checker checked on a fixture workspace where one exists.

use std::path::{Path, PathBuf};

use posfield_tidy::arrows::{self, RULES, Rule};

fn here() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn no_package_reaches_a_crate_its_rules_forbid() {
    let manifest = here().join("../Cargo.toml");
    let found = arrows::check(&manifest, RULES).unwrap_or_else(|e| panic!("{e}"));
    let found: Vec<String> = found.iter().map(ToString::to_string).collect();
    assert!(found.is_empty(), "arrows that must not exist:\n{}", found.join("\n"));
}

/// A copy of the fixture workspace in a temporary folder, where cargo may
/// write its lock file without touching the work tree.
fn fixture_copy() -> tempfile::TempDir {
    fn copy(from: &Path, to: &Path) {
        std::fs::create_dir_all(to).expect("create the fixture's folders");
        for entry in std::fs::read_dir(from).expect("read the fixture") {
            let entry = entry.expect("read the fixture");
            let target = to.join(entry.file_name());
            if entry.path().is_dir() {
                copy(&entry.path(), &target);
            } else {
                std::fs::copy(entry.path(), &target).expect("copy the fixture");
            }
        }
    }
    let dir = tempfile::tempdir().expect("a temporary folder");
    copy(&here().join("tests/fixtures/arrows"), dir.path());
    dir
}

const AXUM_FROM_PHONES: Rule = Rule {
    packages: &["phone", "phone-with-arrow"],
    forbidden: &["axum", "server", "link/server"],
    why: "the fixture's phones link no server code",
};
const PHONE_FROM_SERVER: Rule =
    Rule { packages: &["server"], forbidden: &["phone"], why: "the fixture's server" };

#[test]
fn the_checker_flags_the_arrow_a_feature_adds_and_only_where_the_package_s_own_build_has_it() {
    let fixture = fixture_copy();
    let manifest = fixture.path().join("Cargo.toml");
    let found =
        arrows::check(&manifest, &[AXUM_FROM_PHONES, PHONE_FROM_SERVER]).unwrap_or_else(|e| panic!("{e}"));
    let found: Vec<(&str, Vec<&str>)> = found
        .iter()
        .map(|arrow| (arrow.package.as_str(), arrow.path.iter().map(String::as_str).collect()))
        .collect();
    assert_eq!(
        found,
        [
            ("phone-with-arrow", vec!["phone-with-arrow", "link", "axum"]),
            ("phone-with-arrow", vec!["phone-with-arrow", "link/server"]),
        ]
    );
}

#[test]
fn the_lock_file_shows_the_arrow_for_the_phone_whose_own_build_has_none() {
    let fixture = fixture_copy();
    let manifest = fixture.path().join("Cargo.toml");
    arrows::check(&manifest, &[AXUM_FROM_PHONES]).unwrap_or_else(|e| panic!("{e}"));
    // The lock file cargo wrote: `link` depends on `axum` there, for every
    // package of the workspace, phone included; a check over it would flag
    // the phone wrongly.
    let lock = std::fs::read_to_string(fixture.path().join("Cargo.lock")).expect("cargo wrote a lock file");
    let link = lock.split("[[package]]").find(|package| package.contains("name = \"link\"")).expect("link");
    assert!(link.contains("\"axum\""), "{link}");
}

#[test]
fn a_package_the_workspace_lacks_is_an_error_not_a_pass() {
    let fixture = fixture_copy();
    let manifest = fixture.path().join("Cargo.toml");
    let missing = Rule { packages: &["tablet"], forbidden: &["axum"], why: "a package that does not exist" };
    let error = arrows::check(&manifest, &[missing]).expect_err("no such package");
    assert!(matches!(error, arrows::TidyError::Cargo { ref package, .. } if package == "tablet"), "{error}");
}
