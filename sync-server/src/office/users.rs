//! The back office's users and their roles (administrators): add a user
//! or set a user's role and password (their sessions end), and remove one.
//! An administrator cannot remove themselves or the last administrator,
//! so the desk is never left without one. Each change is in the audit
//! log under the administrator, never with the password.

use std::sync::Arc;

use askama::Template;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};

use super::PageError;
use super::i18n::Lang;
use super::pages::{Chrome, html};
use super::session::Admin;
use crate::auth::{self, AuthError, UserRole};
use crate::store::AuditEntry;

/// The users page.
#[derive(Template)]
#[template(path = "office/users.html")]
pub struct UsersPage {
    c: Chrome,
    /// Each user: name, role code, role in words.
    users: Vec<(String, &'static str, &'static str)>,
}

fn role_words(lang: Lang, role: UserRole) -> &'static str {
    lang.t(if role == UserRole::Admin { "role_admin" } else { "role_reviewer" })
}

/// GET /office/users (admin).
pub async fn users_page(
    State(state): State<Arc<crate::State>>,
    Admin(officer): Admin,
    lang: Lang,
) -> Result<Response, PageError> {
    let users = state.store.users().await?;
    html(&UsersPage {
        c: Chrome::new(&officer, lang, "users", "/office/users".into()),
        users: users.into_iter().map(|(name, role)| (name, role.code(), role_words(lang, role))).collect(),
    })
}

/// The form that adds a user or sets one's role and password.
#[derive(Debug, serde::Deserialize)]
pub struct UserForm {
    csrf: String,
    name: String,
    role: String,
    password: String,
}

fn refused(error: AuthError) -> PageError {
    match error {
        AuthError::Invalid(why) => PageError::BadRequest(why),
        other => PageError::internal(other),
    }
}

/// POST /office/users (admin): adds the user, or sets an existing one's
/// role and password (their sessions end). An administrator cannot take
/// their own administrator role away here.
pub async fn save_user(
    State(state): State<Arc<crate::State>>,
    Admin(officer): Admin,
    axum::Form(form): axum::Form<UserForm>,
) -> Result<Response, PageError> {
    officer.check_csrf(&form.csrf)?;
    let role = match form.role.as_str() {
        "admin" => UserRole::Admin,
        "reviewer" => UserRole::Reviewer,
        other => return Err(PageError::BadRequest(format!("unknown role {other:?}"))),
    };
    let name = form.name.trim();
    if name == officer.name && role != UserRole::Admin {
        return Err(PageError::Refused(
            "an administrator cannot take away their own administrator role".into(),
        ));
    }
    auth::add_user(state.store.as_ref(), name, role, &form.password).await.map_err(refused)?;
    let detail = format!("{name} ({})", role.code());
    state.store.audit(AuditEntry::new(None, &officer.name, "user_saved", &detail)).await?;
    Ok(Redirect::to("/office/users").into_response())
}

/// The removal's form: the page's CSRF token.
#[derive(Debug, serde::Deserialize)]
pub struct RemoveForm {
    csrf: String,
}

/// POST /office/users/{name}/remove (admin): the user goes and their
/// sessions end; never oneself, never the last administrator.
pub async fn remove_user(
    State(state): State<Arc<crate::State>>,
    Admin(officer): Admin,
    Path(name): Path<String>,
    axum::Form(form): axum::Form<RemoveForm>,
) -> Result<Response, PageError> {
    officer.check_csrf(&form.csrf)?;
    if name == officer.name {
        return Err(PageError::Refused("an administrator cannot remove themselves".into()));
    }
    let users = state.store.users().await?;
    let admins = users.iter().filter(|(_, role)| *role == UserRole::Admin).count();
    match users.iter().find(|(user, _)| *user == name) {
        None => return Err(PageError::BadRequest(format!("no user {name:?}"))),
        Some((_, UserRole::Admin)) if admins <= 1 => {
            return Err(PageError::Refused("the last administrator cannot be removed".into()));
        }
        Some(_) => {}
    }
    auth::remove_user(state.store.as_ref(), &name).await.map_err(refused)?;
    state.store.audit(AuditEntry::new(None, &officer.name, "user_removed", &name)).await?;
    Ok(Redirect::to("/office/users").into_response())
}
