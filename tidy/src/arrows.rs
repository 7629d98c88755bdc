//! The arrows between crates that must never exist.
//!
//! [`RULES`] is the one table of them: packages, the crates they must never
//! reach through the dependencies they link, and why. [`check`] finds every
//! such arrow with the path it takes; `tests/arrows.rs` runs it over this
//! workspace, and over a fixture workspace where an arrow exists, to show
//! that it finds one.
//!
//! The check reads `cargo tree -p PACKAGE -e normal,features`, which
//! resolves features for that one package the way `cargo build -p PACKAGE`
//! does, so a rule can forbid a feature of a crate as well as the crate.
//! Cargo.lock and the resolve of `cargo metadata` cannot answer the
//! question: they unify features over the whole workspace, so an optional
//! dependency that only the server turns on (samod's `axum` feature, say)
//! shows up under the crate for every package that depends on it, the
//! phone's included. The fixture test shows both sides: its lock file lists
//! the arrow, and the check rightly passes the package whose own build does
//! not have it.
//!
//! Dependencies are walked for the host platform. Those that only a phone
//! target adds (the app's NFC and barcode plugins) are not: walking every
//! platform needs the crates of every platform downloaded, which a test run
//! on a desktop or CI machine has no other reason to do.

use std::ffi::OsString;
use std::fmt;
use std::path::Path;
use std::process::Command;

/// One rule: none of `packages` reaches any of `forbidden`.
#[derive(Debug, Clone, Copy)]
pub struct Rule {
    /// The packages whose linked dependencies are walked.
    pub packages: &'static [&'static str],
    /// What they must not reach, on any path: a crate (`axum`) or a
    /// feature of a crate (`hyper/server`).
    pub forbidden: &'static [&'static str],
    /// Why the arrow must not exist, said when it does.
    pub why: &'static str,
}

/// Every arrow that must never exist in this workspace.
pub const RULES: &[Rule] = &[
    Rule {
        packages: &["posfield-shared"],
        forbidden: &[
            "tokio",
            "mio",
            "rusqlite",
            "libsqlite3-sys",
            "hyper",
            "reqwest",
            "axum",
            "tauri",
            "image",
            "samod",
            "posfield-sync-link-client",
            "posfield-sync-link-server",
            "posfield-core",
            "posfield-sync-server",
        ],
        why: "the domain does no I/O and depends on nothing of ours: time, ids and bytes come in as arguments",
    },
    Rule {
        packages: &["posfield-sync-link-client", "posfield-core", "posfield-app"],
        // tower-http does reach the phone, through reqwest, which follows
        // redirects with it: a client's use. hyper's server is what must not.
        forbidden: &[
            "posfield-sync-link-server",
            "posfield-sync-server",
            "axum",
            "axum-core",
            "hyper/server",
            "hyper-util/server",
        ],
        why: "the phone links no server code: the server's half of sync-link builds on the client's, never the reverse",
    },
    Rule {
        packages: &["posfield-sync-link-client", "posfield-core"],
        forbidden: &["tauri"],
        why: "only posfield-app knows the Tauri shell",
    },
    Rule {
        packages: &["posfield-shared"],
        forbidden: &[
            "jiff/tz-system",
            "jiff/tzdb-zoneinfo",
            "jiff/tzdb-concatenated",
            "jiff/tzdb-bundle-platform",
        ],
        why: "the domain reads no file: jiff's lookups of the system's zone and zoneinfo files stay off, and Asia/Shanghai is compiled in with `jiff::tz::get!`",
    },
    Rule {
        packages: &["posfield-imaging"],
        forbidden: &[
            "tokio",
            "mio",
            "rusqlite",
            "libsqlite3-sys",
            "hyper",
            "reqwest",
            "axum",
            "tauri",
            "samod",
            "posfield-shared",
            "posfield-sync-link-client",
            "posfield-sync-link-server",
            "posfield-core",
            "posfield-sync-server",
        ],
        why: "image loading is shared by the phone and the server: it does no I/O and knows nothing of either side",
    },
    Rule {
        packages: &["posfield-sync-link-server", "posfield-sync-server"],
        forbidden: &["posfield-core", "posfield-app", "tauri"],
        why: "the server links no agent core and no Tauri: the agent's rules reach it only through posfield-shared",
    },
];

/// A forbidden arrow: `package` reaches `forbidden` along `path`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Arrow {
    /// The package walked.
    pub package: String,
    /// The crate it reaches.
    pub forbidden: String,
    /// The first path to it that cargo prints, from `package` to
    /// `forbidden`, both included.
    pub path: Vec<String>,
    /// The rule's reason.
    pub why: &'static str,
}

impl fmt::Display for Arrow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} reaches {} ({}): {}", self.package, self.forbidden, self.why, self.path.join(" -> "))
    }
}

/// Why a check could not be made.
#[derive(Debug, thiserror::Error)]
pub enum TidyError {
    /// cargo could not be started.
    #[error("cannot run {cargo}: {reason}")]
    Spawn {
        /// The cargo that was run.
        cargo: String,
        /// What the system said.
        reason: String,
    },
    /// `cargo tree` failed (an unknown package, a broken manifest).
    #[error("`cargo tree -p {package}` failed: {stderr}")]
    Cargo {
        /// The package asked about.
        package: String,
        /// What cargo said.
        stderr: String,
    },
    /// `cargo tree` printed something that is not a dependency line, or a
    /// tree that does not start at the package asked about.
    #[error("`cargo tree -p {package}` printed {line:?}, not the dependency tree of {package}")]
    Unreadable {
        /// The package asked about.
        package: String,
        /// The line that could not be read.
        line: String,
    },
}

/// The cargo running the tests (cargo gives them its path in `CARGO`), or
/// else the one on the `PATH`.
pub fn cargo() -> OsString {
    std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into())
}

/// Every arrow that `rules` forbid in the workspace whose root manifest is
/// `manifest`: one per package and forbidden crate it reaches, with the
/// first path to it. Each package's tree is asked of cargo once.
pub fn check(manifest: &Path, rules: &[Rule]) -> Result<Vec<Arrow>, TidyError> {
    let mut packages: Vec<&str> = Vec::new();
    for package in rules.iter().flat_map(|rule| rule.packages) {
        if !packages.contains(package) {
            packages.push(package);
        }
    }
    let mut found = Vec::new();
    for package in packages {
        let tree = tree(manifest, package)?;
        for rule in rules.iter().filter(|rule| rule.packages.contains(&package)) {
            found.extend(arrows(package, rule, &tree)?);
        }
    }
    Ok(found)
}

/// The linked dependencies of `package` and the features its own build
/// turns on in each, one a line, prefixed by its depth.
fn tree(manifest: &Path, package: &str) -> Result<String, TidyError> {
    let cargo = cargo();
    let output = Command::new(&cargo)
        .arg("tree")
        .arg("--manifest-path")
        .arg(manifest)
        .args(["--package", package, "--edges", "normal,features", "--prefix", "depth", "--format", "{p}"])
        .args(["--color", "never"])
        .output()
        .map_err(|e| TidyError::Spawn {
            cargo: cargo.to_string_lossy().into_owned(),
            reason: e.to_string(),
        })?;
    if !output.status.success() {
        return Err(TidyError::Cargo {
            package: package.to_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).trim().to_owned(),
        });
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// The arrows that `rule` forbids out of `package` in `tree`, as
/// `cargo tree -e normal,features --prefix depth --format {p}` prints it.
/// A line is the depth, then either a package (name, version and, for a
/// package already shown, `(*)`) or one of its features (`name feature
/// "server"`, which a rule names `name/server`). A node's first line comes
/// with all the lines that lead there above it, so the path to a forbidden
/// node is the chain of the nearest shallower lines; the arrow keeps the
/// packages of it.
pub fn arrows(package: &str, rule: &Rule, tree: &str) -> Result<Vec<Arrow>, TidyError> {
    // (node, whether it is a feature) from the root to the current line.
    let mut path: Vec<(String, bool)> = Vec::new();
    let mut found: Vec<Arrow> = Vec::new();
    for line in tree.lines().filter(|line| !line.trim().is_empty()) {
        let unreadable = || TidyError::Unreadable { package: package.to_owned(), line: line.to_owned() };
        let name_at = line.find(|c: char| !c.is_ascii_digit()).ok_or_else(unreadable)?;
        let depth: usize = line[..name_at].parse().map_err(|_| unreadable())?;
        let mut words = line[name_at..].split_whitespace();
        let name = words.next().ok_or_else(unreadable)?;
        let (node, feature) = match words.next() {
            Some("feature") => {
                let feature = words.next().ok_or_else(unreadable)?.trim_matches('"');
                (format!("{name}/{feature}"), true)
            }
            _ => (name.to_owned(), false),
        };
        // The first line is the package itself; each later one is one level
        // below a line already read.
        let root_mismatch = path.is_empty() && (depth != 0 || node != package);
        if root_mismatch || (depth == 0 && !path.is_empty()) || depth > path.len() {
            return Err(unreadable());
        }
        path.truncate(depth);
        path.push((node, feature));
        let node = &path[depth].0;
        if rule.forbidden.contains(&node.as_str()) && !found.iter().any(|arrow| &arrow.forbidden == node) {
            let last = path.len() - 1;
            found.push(Arrow {
                package: package.to_owned(),
                forbidden: node.clone(),
                path: path
                    .iter()
                    .enumerate()
                    .filter(|(at, (_, feature))| !feature || *at == last)
                    .map(|(_, (step, _))| step.clone())
                    .collect(),
                why: rule.why,
            });
        }
    }
    if path.is_empty() {
        return Err(TidyError::Unreadable { package: package.to_owned(), line: String::new() });
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    const PHONE: Rule =
        Rule { packages: &["phone"], forbidden: &["axum", "server", "hyper/server"], why: "a test" };

    /// The paths of the arrows found, or the line refused.
    type Expected = Result<&'static [&'static [&'static str]], &'static str>;

    /// (what the case shows, the printed tree, what is expected)
    const CASES: &[(&str, &str, Expected)] = &[
        ("a clean tree has no arrow", "0phone v0.1.0 (/w/phone)\n1link v0.1.0 (/w/link)\n", Ok(&[])),
        (
            "the path is the chain of shallower lines above the first sighting",
            "0phone v0.1.0\n1link v0.1.0\n2samod v0.16.0\n3axum v0.8.9\n1other v1.0.0\n2axum v0.8.9 (*)\n",
            Ok(&[&["phone", "link", "samod", "axum"]]),
        ),
        (
            "each forbidden crate is named once, by its first path",
            "0phone v0.1.0\n1server v0.1.0\n2axum v0.8.9\n1axum v0.8.9 (*)\n",
            Ok(&[&["phone", "server"], &["phone", "server", "axum"]]),
        ),
        (
            "a feature is a node of its own, and the path keeps the packages that lead to it",
            "0phone v0.1.0\n1reqwest feature \"json\"\n2reqwest v0.12.28\n3hyper feature \"client\"\n4hyper v1.12.0\n3hyper feature \"server\"\n4hyper v1.12.0 (*)\n",
            Ok(&[&["phone", "reqwest", "hyper/server"]]),
        ),
        (
            "a crate reached through a feature has the packages of the path",
            "0phone v0.1.0\n1link feature \"server\"\n2link v0.1.0\n3axum feature \"default\"\n4axum v0.8.9\n",
            Ok(&[&["phone", "link", "axum"]]),
        ),
        (
            "a feature line without a feature is refused",
            "0phone v0.1.0\n1hyper feature\n",
            Err("1hyper feature"),
        ),
        ("a tree of another package is refused", "0server v0.1.0\n1axum v0.8.9\n", Err("0server v0.1.0")),
        ("a line that skips a level is refused", "0phone v0.1.0\n2axum v0.8.9\n", Err("2axum v0.8.9")),
        ("a line without a depth is refused", "phone v0.1.0\n", Err("phone v0.1.0")),
        ("an empty tree is refused", "", Err("")),
    ];

    #[test]
    fn arrows_are_read_from_the_printed_tree_with_their_paths() {
        for (case, tree, expected) in CASES {
            let got = arrows("phone", &PHONE, tree);
            match (expected, got) {
                (Ok(paths), Ok(found)) => {
                    let found: Vec<Vec<&str>> =
                        found.iter().map(|arrow| arrow.path.iter().map(String::as_str).collect()).collect();
                    assert_eq!(found, paths.iter().map(|path| path.to_vec()).collect::<Vec<_>>(), "{case}");
                }
                (Err(line), Err(TidyError::Unreadable { line: refused, .. })) => {
                    assert_eq!(&refused, line, "{case}")
                }
                (expected, got) => panic!("{case}: expected {expected:?}, got {got:?}"),
            }
        }
    }

    #[test]
    fn every_rule_names_packages_crates_and_a_reason_and_never_forbids_a_package_itself() {
        for rule in RULES {
            assert!(
                !rule.why.is_empty() && !rule.packages.is_empty() && !rule.forbidden.is_empty(),
                "{rule:?}"
            );
            assert!(rule.packages.iter().all(|package| !rule.forbidden.contains(package)), "{rule:?}");
        }
    }
}
