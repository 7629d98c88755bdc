//! The back office's pages under `/office`: server-rendered (askama
//! templates in `templates/office/`), zh-CN by default with an English
//! switch, signed in with the users of `posfield-server add-user`.
//!
//! - [`session`]: sign-in sessions, CSRF tokens, the `Officer`/`Admin` extractors.
//! - [`i18n`]: the pages' words.
//! - [`queries`]: the lists' filters and the alerts' dates, put to the store.
//! - [`pages`]: the handlers.
//! - [`dashboard`]: the fleet at a glance, charts drawn on the server with their numbers.
//! - [`forms`]: forms with a tick box per row, read as pairs.
//! - [`bulk`]: approving or reassigning the visits ticked in the list, with a line for each.
//! - [`audit`]: the audit log for administrators, filtered, paged and exported.
//! - [`alerts`]: the alerts, and the visits dispatched from their rows.
//! - [`fields`]: a visit document's paths and values in the pages' words.
//! - [`import`]: the terminal register's CSV import and the CSV exports.
//! - [`xlsx`]: the same as spreadsheets: an XLSX file read for the import (zip bombs refused), the exports written as XLSX.
//! - [`certificate`]: the acceptance certificate as a PDF.
//! - [`devices`]: the enrolled phones, with the app version each last sent.
//! - [`outbox`]: the messages to merchants and whether each was delivered.
//! - [`custody`]: the warehouse's check-in of terminals received.
//! - [`users`]: the back office's users and roles, for administrators.
//! - [`settings`]: what the desk sets in the browser: the return reasons.
//! - [`setup`]: the first administrator, made with a one-time link from the data folder.
//!
//! Their routes are rows of the server's one table, [`crate::api::routes`],
//! which says who may open each.
//!
//! Every decision taken here (review, assignment, creation, application,
//! import) is one of the desk's actions in [`crate::desk`], which the JSON
//! API calls too: the role it needs and the checks of its input are
//! there, and a decision on a visit is a change of the visit document
//! that syncs to the agent.

pub mod alerts;
pub mod audit;
pub mod bulk;
pub mod certificate;
pub mod custody;
pub mod dashboard;
pub mod devices;
pub mod fields;
pub mod forms;
pub mod i18n;
pub mod import;
pub mod outbox;
pub mod pages;
pub mod queries;
pub mod queue;
pub mod session;
pub mod settings;
pub mod setup;
pub mod users;
pub mod xlsx;

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

/// A device key's fingerprint as people compare it: the first 64 bits of
/// the SHA-256 of its 32 bytes, in groups of four hex digits. A key that is
/// not 32 bytes of hex is shown as it is.
pub fn key_fingerprint(public_key_hex: &str) -> String {
    let Some(bytes) = hex::decode(public_key_hex).ok().filter(|b| b.len() == 32) else {
        return public_key_hex.to_owned();
    };
    let digest = hex::encode(&Sha256::digest(&bytes)[..8]);
    digest.as_bytes().chunks(4).map(|c| String::from_utf8_lossy(c).into_owned()).collect::<Vec<_>>().join(" ")
}

/// The largest form the pages accept (a terminal CSV import).
pub const MAX_FORM_BYTES: usize = 8 << 20;

/// Headers on every page: only this site's scripts, styles, images and
/// forms; never inside a frame; content types as declared.
pub(crate) async fn security_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        header::HeaderValue::from_static(
            "default-src 'self'; img-src 'self'; style-src 'self'; script-src 'self'; form-action 'self'; \
             frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    headers.insert(header::X_FRAME_OPTIONS, header::HeaderValue::from_static("DENY"));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, header::HeaderValue::from_static("nosniff"));
    headers.insert(header::REFERRER_POLICY, header::HeaderValue::from_static("same-origin"));
    response
}

/// What a page answers instead of itself.
#[derive(Debug)]
pub enum PageError {
    /// No session: go to the sign-in page.
    SignIn,
    /// Signed in, but not allowed (a reviewer on an admin page).
    Forbidden,
    /// No such thing.
    NotFound,
    /// A form without this session's CSRF token, or from another site.
    BadForm,
    /// The visit's rules refused the action; the words say why.
    Refused(String),
    /// The request itself is malformed.
    BadRequest(String),
    /// The server lacks something it needs for this page (a CJK font for
    /// the certificate); the words say what to install.
    Unavailable(String),
    /// The server failed (logged).
    Internal,
}

impl PageError {
    /// A 500, logged with its cause.
    pub fn internal(error: impl std::fmt::Display) -> PageError {
        tracing::error!(%error, "back-office page failed");
        PageError::Internal
    }
}

impl From<crate::store::StoreError> for PageError {
    fn from(e: crate::store::StoreError) -> Self {
        PageError::internal(e)
    }
}

impl From<crate::desk::DeskError> for PageError {
    fn from(e: crate::desk::DeskError) -> Self {
        use crate::desk::DeskError;
        use posfield_shared::visit::{DocError, VisitError};
        match e {
            DeskError::Forbidden { .. } => PageError::Forbidden,
            DeskError::NotFound(_) | DeskError::BadVisitId(_) => PageError::NotFound,
            DeskError::Refused(VisitError::Document(DocError::NewerSchema { found, supported })) => {
                PageError::Refused(format!(
                    "此工单由更新版本的应用写入（版本 {found}，本服务器可修改到 {supported}），只能查看；请先升级服务器。 / this visit was written by a newer version of the app (schema {found}, this server edits up to {supported}); it is read-only until the server is updated"
                ))
            }
            DeskError::UnknownAgent(_)
            | DeskError::Invalid(_)
            | DeskError::Refused(_)
            | DeskError::RegisterRefused(_)
            | DeskError::RegisterConflict(_)
            | DeskError::NotApprovable(_) => PageError::Refused(e.to_string()),
            DeskError::Store(_) | DeskError::Projection(_) => PageError::internal(e),
        }
    }
}

/// A blob that is not stored is not found; one that is stored but does
/// not open is the server's failure (logged), never served.
impl From<crate::blobs::BlobError> for PageError {
    fn from(e: crate::blobs::BlobError) -> Self {
        match e {
            crate::blobs::BlobError::Missing(_) => PageError::NotFound,
            _ => PageError::internal(e),
        }
    }
}

/// The folder of the photos' thumbnails in the data folder `data`: made
/// from blobs, so sealed as they are.
pub fn thumbnail_folder(data: &std::path::Path) -> std::path::PathBuf {
    data.join("office-thumbs")
}

impl From<askama::Error> for PageError {
    fn from(e: askama::Error) -> Self {
        PageError::internal(e)
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let (status, zh, en) = match &self {
            PageError::SignIn => {
                return (StatusCode::SEE_OTHER, [(header::LOCATION, "/office/login")]).into_response();
            }
            PageError::Forbidden => {
                (StatusCode::FORBIDDEN, "需要管理员权限", "Only an administrator may open this page")
            }
            PageError::NotFound => (StatusCode::NOT_FOUND, "找不到该记录", "Not found"),
            PageError::BadForm => (
                StatusCode::FORBIDDEN,
                "表单已过期，请刷新页面后重试",
                "The form expired; reload the page and try again",
            ),
            PageError::Refused(_) => (StatusCode::CONFLICT, "操作被拒绝", "Refused"),
            PageError::BadRequest(_) => (StatusCode::BAD_REQUEST, "请求无效", "Bad request"),
            PageError::Unavailable(_) => (
                StatusCode::SERVICE_UNAVAILABLE,
                "服务器缺少所需组件，请联系管理员",
                "The server lacks something this page needs; tell its administrator",
            ),
            PageError::Internal => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "服务器出错，请稍后再试",
                "The server failed; try again later",
            ),
        };
        let detail = match &self {
            PageError::Refused(why) | PageError::BadRequest(why) | PageError::Unavailable(why) => why.clone(),
            _ => String::new(),
        };
        let page = pages::ErrorPage { status: status.as_u16(), zh, en, detail };
        let body = askama::Template::render(&page).unwrap_or_else(|_| format!("{} {en}", status.as_u16()));
        (status, [(header::CONTENT_TYPE, "text/html; charset=utf-8")], body).into_response()
    }
}
