//! The one error shape the UI receives: `{code, message, details}`.
//!
//! The code is stable and the zh-CN UI says it in Chinese; the message is the
//! core's English wording, shown only when the UI has no words of its own.

use posfield_core::AgentError;
use posfield_shared::visit::VisitError;
use serde::Serialize;

/// An error as the UI sees it.
#[derive(Debug, Clone, Serialize, thiserror::Error)]
#[error("{code}: {message}")]
pub(crate) struct UiError {
    /// Stable machine code (`offline`, `incomplete`, `barcode`, ...).
    pub(crate) code: String,
    /// The core's wording, for logs and as a last resort on screen.
    pub(crate) message: String,
    /// Structured detail: what is missing, which field changed, the app
    /// version the server needs.
    pub(crate) details: serde_json::Value,
}

impl UiError {
    /// An error raised by the shell itself (bad input from the UI).
    pub(crate) fn new(code: &str, message: impl Into<String>) -> UiError {
        UiError { code: code.to_owned(), message: message.into(), details: serde_json::Value::Null }
    }
}

impl From<AgentError> for UiError {
    fn from(error: AgentError) -> Self {
        let details = match &error {
            AgentError::Visit(VisitError::Incomplete(missing)) => {
                let words: Vec<String> =
                    missing.iter().map(posfield_shared::visit::completion::describe_zh).collect();
                serde_json::json!({ "missing": words })
            }
            // An enrolment refused because the app is too old: the version to install.
            _ => error.minimum_app_version().map_or(
                serde_json::Value::Null,
                |minimum| serde_json::json!({ "minimum_app_version": minimum }),
            ),
        };
        UiError { code: error.code().to_owned(), message: error.to_string(), details }
    }
}

/// What every command returns.
pub(crate) type UiResult<T> = Result<T, UiError>;

#[cfg(test)]
mod tests {
    use posfield_core::sync::SyncError;

    use super::*;

    #[test]
    fn an_app_too_old_carries_the_version_to_install_and_other_errors_no_details() {
        let too_old = UiError::from(AgentError::Sync(SyncError::AppTooOld { minimum: Some("0.2.0".into()) }));
        assert_eq!(too_old.code, "app_too_old");
        assert_eq!(too_old.details, serde_json::json!({ "minimum_app_version": "0.2.0" }));
        let offline = UiError::from(AgentError::Sync(SyncError::Offline("no signal".into())));
        assert_eq!((offline.code.as_str(), offline.details), ("offline", serde_json::Value::Null));
    }
}

/// Every error code the Rust side can give the UI has the UI's words, in
/// both languages: the codes of `AgentError::code`, `SyncError::code`,
/// `id_error_code` and the shell's own `UiError::new`, read from their
/// sources, against the keys of `errorWords` in `app/ui/src/i18n.ts`.
#[cfg(test)]
mod words_for_every_code {
    use std::collections::BTreeSet;
    use std::path::Path;

    fn read(path: &str) -> String {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        std::fs::read_to_string(root.join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    /// The `"code"` literals in `source` from `start` to the next `end`
    /// (a function's body: its closing brace at its indent).
    fn codes_of(source: &str, start: &str, end: &str, into: &mut BTreeSet<String>) {
        let from = source.find(start).unwrap_or_else(|| panic!("no {start}"));
        let body = &source[from..];
        let body = &body[..body.find(end).unwrap_or_else(|| panic!("no end of {start}"))];
        for literal in body.split('"').skip(1).step_by(2) {
            if !literal.is_empty() && literal.bytes().all(|b| b.is_ascii_lowercase() || b == b'_') {
                into.insert(literal.to_owned());
            }
        }
    }

    #[test]
    fn every_rust_error_code_has_words_in_the_app() {
        let mut codes = BTreeSet::new();
        let (agent, sync) = (read("core/src/agent.rs"), read("core/src/sync.rs"));
        codes_of(&agent, "pub fn code(&self)", "\n    }\n", &mut codes);
        codes_of(&agent, "fn id_error_code(", "\n}\n", &mut codes);
        codes_of(&sync, "pub fn code(&self)", "\n    }\n", &mut codes);
        codes.insert("app_too_old".to_owned()); // `SyncError::AppTooOld`'s constant
        for file in ["commands.rs", "error.rs", "nfc.rs", "state.rs"] {
            let source = read(&format!("src-tauri/src/{file}"));
            for part in source.split("UiError::new(\"").skip(1) {
                let code: String = part.chars().take_while(|c| c.is_ascii_lowercase() || *c == '_').collect();
                codes.insert(code);
            }
        }
        assert!(codes.len() > 25, "the codes were not found in the sources: {codes:?}");
        let words = read("ui/src/i18n.ts");
        let table = &words[words.find("const errorWords").expect("errorWords in i18n.ts")..];
        let table = &table[..table.find("\n};").expect("the end of errorWords")];
        let missing: Vec<_> =
            codes.iter().filter(|code| !table.contains(&format!("\n  {code}: {{ zh: "))).collect();
        assert!(missing.is_empty(), "error codes without the app's words: {missing:?}");
    }
}
