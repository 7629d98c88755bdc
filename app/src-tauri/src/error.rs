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
    /// Structured detail: what is missing, which field changed.
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
            _ => serde_json::Value::Null,
        };
        UiError { code: error.code().to_owned(), message: error.to_string(), details }
    }
}

/// What every command returns.
pub(crate) type UiResult<T> = Result<T, UiError>;
