//! Every user-facing Chinese text follows the one term list
//! (`posfield_shared::terms::ZH_TERMS`): the app's words and screens, the
//! back office's pages, messages and templates, the certificate, the
//! verification page, the vocabulary, the checklists and the phone's
//! errors. A word the list replaces fails here with its file and line, as
//! does a half-width bracket beside a Chinese character. Comments and test
//! code are left out (they may quote a word to say it is not used).

use std::path::{Path, PathBuf};

use posfield_shared::terms::ZH_TERMS;

/// Where user-facing Chinese is written, and the file endings read there.
const SOURCES: &[(&str, &[&str])] = &[
    ("app/ui/src", &[".ts", ".svelte"]),
    ("app/core/src", &[".rs"]),
    ("app/src-tauri/src", &[".rs"]),
    ("shared/src", &[".rs"]),
    ("sync-server/src", &[".rs"]),
    ("sync-server/templates", &[".html", ".js"]),
];

/// Files that are not user-facing text: tests, and the list itself.
fn skipped(path: &Path) -> bool {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default();
    name.ends_with(".test.ts") || name == "tests.rs" || name == "terms.rs"
}

fn files(dir: &Path, endings: &[&str], found: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            if !matches!(entry.file_name().to_str(), Some("tests" | "node_modules")) {
                files(&path, endings, found);
            }
        } else if endings.iter().any(|e| path.to_string_lossy().ends_with(e)) && !skipped(&path) {
            found.push(path);
        }
    }
}

fn han(c: char) -> bool {
    ('\u{4e00}'..='\u{9fff}').contains(&c)
}

/// What is wrong with one line of text, if it holds Chinese.
fn offences(line: &str) -> Vec<String> {
    let text = line.trim_start();
    if !text.chars().any(han) || ["//", "/*", "*", "{#"].iter().any(|c| text.starts_with(c)) {
        return Vec::new();
    }
    let mut found: Vec<String> = ZH_TERMS
        .iter()
        .flat_map(|t| {
            t.instead_of.iter().filter(|w| text.contains(**w)).map(move |w| format!("{w} (say {})", t.term))
        })
        .collect();
    let chars: Vec<char> = text.chars().collect();
    for pair in chars.windows(2) {
        if (han(pair[0]) && matches!(pair[1], '(' | ')')) || (matches!(pair[0], '(' | ')') && han(pair[1])) {
            found.push(format!("half-width bracket in \"{}{}\" (use （）)", pair[0], pair[1]));
        }
    }
    found
}

/// The lines of `text` before its first `#[cfg(test)]`: a Rust file's own
/// tests come last and may hold anything.
fn shipped(text: &str) -> impl Iterator<Item = (usize, &str)> {
    text.lines().enumerate().take_while(|(_, line)| !line.trim_start().starts_with("#[cfg(test)]"))
}

#[test]
fn every_chinese_text_uses_the_term_list_and_full_width_brackets() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("the workspace");
    let mut found = Vec::new();
    for (dir, endings) in SOURCES {
        files(&root.join(dir), endings, &mut found);
    }
    assert!(found.len() > 100, "the scan found only {} files: the folders moved?", found.len());
    let mut problems = Vec::new();
    for path in &found {
        let text = std::fs::read_to_string(path).unwrap();
        for (n, line) in shipped(&text) {
            for problem in offences(line) {
                let shown = path.strip_prefix(root).unwrap_or(path).display();
                problems.push(format!("{shown}:{}: {problem}", n + 1));
            }
        }
    }
    assert!(problems.is_empty(), "words the term list replaces:\n{}", problems.join("\n"));
}

#[test]
fn the_check_finds_each_replaced_word_and_a_half_width_bracket() {
    assert_eq!(offences(r#"  newVisit: '新建任务',"#), ["任务 (say 工单)"]);
    assert_eq!(offences(r#"("kind", "过期更换", "Replacement")"#), ["过期更换 (say 到期换机)"]);
    assert_eq!(offences(r#"format!("故障(已修复)")"#).len(), 3);
    assert!(offences(r#"format!("故障：{}（{state}）", code)"#).is_empty());
    assert!(offences("/// A reactivation application (复机申请).").is_empty(), "comments are left out");
    assert!(offences("let x = (a, b);").is_empty(), "no Chinese, nothing to check");
    for term in ZH_TERMS {
        assert!(!term.instead_of.is_empty() && !term.instead_of.contains(&term.term), "{}", term.term);
    }
}
