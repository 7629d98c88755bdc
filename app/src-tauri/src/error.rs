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
