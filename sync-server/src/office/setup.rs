//! The first administrator, made without a password anyone knew before.
//!
//! When `serve` starts (outside `--demo`) on a store where no
//! administrator was ever made, it makes a one-time setup code (128
//! random bits), keeps only its SHA-256 with its expiry (24 hours) in a
//! setting, and writes the setup link, `/office/setup?code=...`, into
//! `first-admin.txt` in the data folder, readable by its owner only; the
//! log says where the file is, never the code (logs are read by more
//! people than the data folder). Each start while no administrator
//! exists makes a new code, which replaces the last.
//!
//! `GET /office/setup` asks the administrator's name and password (at
//! least 10 characters, twice); `POST /office/setup` checks the code
//! (the SHA-256 of what was sent against the one kept, in constant
//! time; a wrong code counts against the address's enrolment-code
//! throttle), makes the administrator, consumes the code, deletes the
//! file, audits it and signs the new administrator in. Once an
//! administrator exists both routes answer 404.
//!
//! Whether an administrator exists: the store has no query for it, so
//! the setting [`auth::FIRST_ADMIN_MADE`] records it, written by
//! [`auth::add_user`] for every administrator (the command line, the
//! demo) and by this page. A store that was in use before this setting
//! existed (it holds visits or agents) and was never offered a code is
//! taken to have its administrators already: the setting is recorded
//! then, and `add-user` stays the way to add one.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use askama::Template;
use axum::Form;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use serde::Deserialize;
use sha2::{Digest, Sha256};

use super::PageError;
use super::i18n::Lang;
use super::queries::url_encode;
use super::session;
use crate::auth::{self, FIRST_ADMIN_MADE, UserRole};
use crate::store::{AuditEntry, Store, StoreError};
use crate::throttle::{ClientAddress, OverHttps};

/// The file in the data folder that holds the setup link.
pub const LINK_FILE: &str = "first-admin.txt";

/// The setting holding the live code's SHA-256 and expiry (`hash:expiry`),
/// or nothing once it was used.
const SETTING_CODE: &str = "first_admin_setup";

/// How long a setup code is good for.
pub const CODE_LIFETIME_SECS: i64 = 24 * 3600;

/// Setups are made one at a time: two right codes sent at once make one
/// administrator.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn sha256_hex(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}

/// The live code's hash, if a code is offered at `now`: none was used,
/// no administrator was made, and it has not expired.
async fn live_code(store: &dyn Store, now: i64) -> Result<Option<String>, StoreError> {
    if store.setting(FIRST_ADMIN_MADE).await?.is_some() {
        return Ok(None);
    }
    let Some(kept) = store.setting(SETTING_CODE).await? else { return Ok(None) };
    let Some((hash, expires)) = kept.split_once(':') else { return Ok(None) };
    let live = expires.parse::<i64>().is_ok_and(|expires| now < expires);
    Ok(live.then(|| hash.to_owned()))
}

/// At the start of `serve` on the data folder `data`: when no
/// administrator was made, a new setup code, its link written to
/// [`LINK_FILE`] (owner-only); returns the file's path. When one was
/// made, a link file left from before is removed and nothing is offered.
pub async fn offer(store: &dyn Store, data: &Path, now: i64) -> anyhow::Result<Option<PathBuf>> {
    let file = data.join(LINK_FILE);
    let made = store.setting(FIRST_ADMIN_MADE).await?.is_some();
    let offered_before = store.setting(SETTING_CODE).await?.is_some();
    let in_use = store.has_visits().await? || !store.agents().await?.is_empty();
    if !made && !offered_before && in_use {
        // A store from before this setting: its administrators were made
        // with add-user, which did not record them.
        store.set_setting(FIRST_ADMIN_MADE, "(made before the setup link existed)").await?;
        tracing::info!(
            "this store was in use already: no setup link is offered (add-user adds administrators)"
        );
    }
    if made || (!offered_before && in_use) {
        match std::fs::remove_file(&file) {
            Ok(()) => {
                tracing::info!(file = %file.display(), "an administrator exists: the setup link was removed")
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(anyhow::anyhow!("cannot remove {}: {e}", file.display())),
        }
        return Ok(None);
    }
    let code = hex::encode(auth::random_bytes::<16>());
    let expires = now + CODE_LIFETIME_SECS;
    store.set_setting(SETTING_CODE, &format!("{}:{expires}", sha256_hex(&code))).await?;
    let until = posfield_shared::Timestamp::from_seconds(expires).beijing_words();
    let text = format!(
        "No administrator of the back office exists yet. Open this link on the server's address\n\
         (for example https://posfield.example.com/office/setup?code=...) to make the first one.\n\
         It works once, until {until} (Beijing time); each start of the server makes a new one\n\
         while no administrator exists.\n\n/office/setup?code={code}\n"
    );
    crate::files::write_durably(&file, text.as_bytes())
        .map_err(|e| anyhow::anyhow!("cannot write the setup link to {}: {e}", file.display()))?;
    Ok(Some(file))
}

/// The setup page.
#[derive(Template)]
#[template(path = "office/setup.html")]
pub struct SetupPage {
    lang: Lang,
    code: String,
    name: String,
    /// Words saying what was wrong with the last try, or empty.
    problem: &'static str,
    back: String,
}

impl SetupPage {
    fn t(&self, key: &str) -> &'static str {
        self.lang.t(key)
    }

    fn new(lang: Lang, code: &str, name: &str, problem: &'static str) -> SetupPage {
        let back = url_encode(&format!("/office/setup?code={}", url_encode(code)));
        SetupPage { lang, code: code.to_owned(), name: name.to_owned(), problem, back }
    }
}

/// The code a setup link carries.
#[derive(Debug, Deserialize)]
pub struct CodeQuery {
    #[serde(default)]
    code: String,
}

/// `GET /office/setup?code=...`: the form, while a code is offered; 404 otherwise.
pub async fn setup_page(
    State(state): State<Arc<crate::State>>,
    lang: Lang,
    Query(query): Query<CodeQuery>,
) -> Result<Response, PageError> {
    if live_code(state.store.as_ref(), state.clock.now()).await?.is_none() {
        return Err(PageError::NotFound);
    }
    super::pages::html(&SetupPage::new(lang, &query.code, "", ""))
}

/// The setup form.
#[derive(Debug, Deserialize)]
pub struct SetupForm {
    code: String,
    user: String,
    password: String,
    password_again: String,
}

/// `POST /office/setup`: makes the first administrator and signs them in.
pub async fn setup(
    State(state): State<Arc<crate::State>>,
    lang: Lang,
    headers: HeaderMap,
    client: ClientAddress,
    transport: OverHttps,
    Form(form): Form<SetupForm>,
) -> Result<Response, PageError> {
    let same_site = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()).is_none_or(|origin| {
        let host = headers.get(header::HOST).and_then(|v| v.to_str().ok()).unwrap_or_default();
        origin.split_once("://").is_some_and(|(_, rest)| rest == host)
    });
    if !same_site {
        return Err(PageError::BadForm);
    }
    let _one = ONE_AT_A_TIME.lock().await;
    let (store, now) = (state.store.as_ref(), state.clock.now());
    let Some(kept) = live_code(store, now).await? else { return Err(PageError::NotFound) };
    let name = form.user.trim().to_owned();
    let again = |status: StatusCode, problem: &'static str| -> Result<Response, PageError> {
        let body = SetupPage::new(lang, &form.code, &name, problem).render()?;
        Ok((status, [(header::CACHE_CONTROL, "no-store")], Html(body)).into_response())
    };
    let codes = &state.throttles.codes_per_address;
    let Ok(_attempt) = codes.take(&client.0, now) else {
        return again(StatusCode::TOO_MANY_REQUESTS, "setup_throttled");
    };
    if !auth::same_secret(sha256_hex(form.code.trim()).as_bytes(), kept.as_bytes()) {
        tracing::info!("first administrator's setup refused: a wrong code");
        return again(StatusCode::FORBIDDEN, "setup_bad_code");
    }
    codes.forgive(&client.0);
    if form.password != form.password_again {
        return again(StatusCode::UNPROCESSABLE_ENTITY, "setup_passwords_differ");
    }
    if form.password.chars().count() < 10 {
        return again(StatusCode::UNPROCESSABLE_ENTITY, "setup_password_short");
    }
    if !name.is_empty() && store.user(&name).await?.is_some() {
        return again(StatusCode::UNPROCESSABLE_ENTITY, "setup_name_taken");
    }
    match auth::add_user(store, &name, UserRole::Admin, &form.password).await {
        Ok(()) => {}
        Err(auth::AuthError::Invalid(_)) => return again(StatusCode::UNPROCESSABLE_ENTITY, "setup_bad_name"),
        Err(e) => return Err(PageError::internal(e)),
    }
    // The code is used: it opens nothing again, and its file goes.
    store.set_setting(SETTING_CODE, "").await?;
    let file = state.config.data.join(LINK_FILE);
    if let Err(e) = std::fs::remove_file(&file)
        && e.kind() != std::io::ErrorKind::NotFound
    {
        tracing::warn!(file = %file.display(), error = %e, "the used setup link's file could not be removed");
    }
    let detail = format!("the first administrator {name}, by the setup link");
    store.audit(AuditEntry::new(None, &name, "first_admin_made", &detail)).await?;
    tracing::info!(user = %name, "the first administrator was made with the setup link");
    let user = store.user(&name).await?.ok_or(PageError::Internal)?;
    let limits = session::limits(&state.config);
    let token = session::open(store, limits, &name, &user.password_hash).await?.ok_or(PageError::Internal)?;
    let cookie = token.cookie(state.config.office_session_lifetime_secs, transport);
    let location = HeaderValue::from_static("/office/visits");
    let cookie = HeaderValue::from_str(&cookie).map_err(PageError::internal)?;
    Ok((StatusCode::SEE_OTHER, [(header::SET_COOKIE, cookie), (header::LOCATION, location)]).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::sqlite::SqliteStore;

    #[tokio::test]
    async fn a_code_is_offered_until_an_administrator_is_made_and_kept_only_as_its_hash() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("posfield.db")).unwrap();
        let now = 1_795_000_000;
        let file = offer(&store, dir.path(), now).await.unwrap().expect("a setup link");
        let text = std::fs::read_to_string(&file).unwrap();
        let code = text.split("code=").last().unwrap().trim().to_owned();
        assert_eq!(code.len(), 32, "128 bits in hex: {code}");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(std::fs::metadata(&file).unwrap().permissions().mode() & 0o777, 0o600);
        }
        let kept = store.setting(SETTING_CODE).await.unwrap().unwrap();
        assert!(!kept.contains(&code) && kept.starts_with(&sha256_hex(&code)), "{kept}");
        assert!(live_code(&store, now).await.unwrap().is_some());
        assert!(live_code(&store, now + CODE_LIFETIME_SECS).await.unwrap().is_none(), "a day later");
        // Another start: a new code replaces it.
        offer(&store, dir.path(), now + 60).await.unwrap().unwrap();
        let second = std::fs::read_to_string(&file).unwrap();
        assert_ne!(second.split("code=").last().unwrap().trim(), code);
        // An administrator made another way: nothing is offered, the file goes.
        auth::add_user(&store, "zhou", UserRole::Admin, "correct horse battery").await.unwrap();
        assert!(live_code(&store, now + 120).await.unwrap().is_none());
        assert_eq!(offer(&store, dir.path(), now + 120).await.unwrap(), None);
        assert!(!file.exists());
    }

    #[tokio::test]
    async fn a_store_in_use_from_before_is_offered_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("posfield.db")).unwrap();
        // A reviewer only: no administrator, but no store in use either.
        auth::add_user(&store, "chen", UserRole::Reviewer, "correct horse battery").await.unwrap();
        assert_eq!(store.setting(FIRST_ADMIN_MADE).await.unwrap(), None);
        auth::issue_enrolment_code(&store, "wang").await.unwrap();
        assert_eq!(offer(&store, dir.path(), 1_795_000_000).await.unwrap(), None);
        assert!(store.setting(FIRST_ADMIN_MADE).await.unwrap().is_some());
        assert!(!dir.path().join(LINK_FILE).exists());
    }
}
