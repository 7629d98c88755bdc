//! What the desk sets in the browser (administrators): the return reasons
//! a reviewer picks from when returning a visit (one a line; the stock
//! list until the desk keeps its own). Each save is in the audit log.

use std::sync::Arc;

use askama::Template;
use axum::extract::State;
use axum::response::{IntoResponse, Redirect, Response};

use super::PageError;
use super::i18n::Lang;
use super::pages::{Chrome, html};
use super::session::Admin;
use crate::store::{AuditEntry, Store, StoreError};

/// The setting that holds the desk's return reasons, one a line.
pub const RETURN_REASONS_SETTING: &str = "return_reasons";
/// At most this many return reasons…
pub const MAX_REASONS: usize = 20;
/// …of at most this many characters each.
pub const MAX_REASON_CHARS: usize = 60;

/// The stock return reasons, until the desk keeps its own.
const STOCK_REASONS: &[(&str, &str)] = &[
    ("照片不清晰，请补拍", "A photo is not clear: take it again"),
    ("缺少必要的资料照片", "A required document photo is missing"),
    ("机身号与工单不符，请核对", "The serial does not match the job: check it"),
    ("商户签字不完整，请重新签字", "The merchant's signature is incomplete: sign again"),
    ("故障处理记录不完整", "The fault's record is incomplete"),
];

/// The return reasons a reviewer picks from: the desk's own when it kept
/// some (in the words it typed, whatever the page's language), else the
/// stock ones in `lang`.
pub async fn return_reasons(store: &dyn Store, lang: Lang) -> Result<Vec<String>, StoreError> {
    let kept = store.setting(RETURN_REASONS_SETTING).await?.unwrap_or_default();
    let kept: Vec<String> =
        kept.lines().map(str::trim).filter(|l| !l.is_empty()).map(str::to_owned).collect();
    if !kept.is_empty() {
        return Ok(kept);
    }
    Ok(STOCK_REASONS
        .iter()
        .map(|(zh, en)| if lang == Lang::Zh { *zh } else { *en })
        .map(str::to_owned)
        .collect())
}

/// The reasons as typed, one a line, checked: blank lines dropped, at most
/// [`MAX_REASONS`] of at most [`MAX_REASON_CHARS`] characters, no control
/// characters.
pub fn typed_reasons(text: &str) -> Result<Vec<String>, String> {
    let reasons: Vec<String> =
        text.lines().map(str::trim).filter(|l| !l.is_empty()).map(str::to_owned).collect();
    if reasons.len() > MAX_REASONS {
        return Err(format!("{} reasons; at most {MAX_REASONS}", reasons.len()));
    }
    if let Some(long) = reasons.iter().find(|r| r.chars().count() > MAX_REASON_CHARS) {
        return Err(format!("{long:?} is over {MAX_REASON_CHARS} characters"));
    }
    if let Some(bad) = reasons.iter().find(|r| r.chars().any(char::is_control)) {
        return Err(format!("{bad:?} holds a control character"));
    }
    Ok(reasons)
}

/// The settings page.
#[derive(Template)]
#[template(path = "office/settings.html")]
pub struct SettingsPage {
    c: Chrome,
    reasons: String,
}

/// GET /office/settings (admin).
pub async fn settings_page(
    State(state): State<Arc<crate::State>>,
    Admin(officer): Admin,
    lang: Lang,
) -> Result<Response, PageError> {
    html(&SettingsPage {
        c: Chrome::new(&officer, lang, "settings", "/office/settings".into()),
        reasons: return_reasons(state.store.as_ref(), lang).await?.join("\n"),
    })
}

/// The settings form.
#[derive(Debug, serde::Deserialize)]
pub struct SettingsForm {
    csrf: String,
    reasons: String,
}

/// POST /office/settings (admin): keeps the return reasons (none typed:
/// the stock ones again), audited.
pub async fn save_settings(
    State(state): State<Arc<crate::State>>,
    Admin(officer): Admin,
    axum::Form(form): axum::Form<SettingsForm>,
) -> Result<Response, PageError> {
    officer.check_csrf(&form.csrf)?;
    let reasons = typed_reasons(&form.reasons).map_err(PageError::BadRequest)?;
    state.store.set_setting(RETURN_REASONS_SETTING, &reasons.join("\n")).await?;
    let detail = format!("return_reasons: {}", reasons.len());
    state.store.audit(AuditEntry::new(None, &officer.name, "settings_saved", &detail)).await?;
    Ok(Redirect::to("/office/settings").into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_are_lines_bounded_in_number_and_length() {
        assert_eq!(typed_reasons(" 照片模糊 \r\n\n缺营业执照\n").unwrap(), ["照片模糊", "缺营业执照"]);
        assert!(typed_reasons("").unwrap().is_empty(), "none: the stock reasons again");
        let many = (0..=MAX_REASONS).map(|i| format!("原因{i}")).collect::<Vec<_>>().join("\n");
        assert!(typed_reasons(&many).is_err());
        assert!(typed_reasons(&"长".repeat(MAX_REASON_CHARS + 1)).is_err());
        assert!(typed_reasons(&"长".repeat(MAX_REASON_CHARS)).is_ok());
        assert!(typed_reasons("a\u{7}b").is_err());
    }
}
