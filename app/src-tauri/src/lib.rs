//! posfield-app: the field agent's app, a Tauri v2 shell over posfield-core.
//!
//! Every command in [`commands`] is a thin adapter: it parses the UI's
//! input, calls one method of the core's `Agent` facade and turns the result
//! into a wire type from [`models`]. No rule of the domain is implemented
//! here. The background sync runs in its own thread ([`events`]) and reaches
//! the UI as Tauri events, as do store changes.
//!
//! Only this crate knows Tauri types; the core and the domain know nothing
//! of the shell.

mod commands;
mod error;
mod events;
#[cfg(mobile)]
mod mobile;
pub mod models;
mod network;
pub mod nfc;
mod state;

use std::sync::OnceLock;

use tauri::Manager;

/// When this process started (ms since the epoch), for the launch benchmark.
static LAUNCHED_AT: OnceLock<i64> = OnceLock::new();

/// When the app process started (ms since the epoch).
pub(crate) fn launched_at() -> i64 {
    *LAUNCHED_AT.get_or_init(now_millis)
}

fn now_millis() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or_default()
}

/// Where the agent's data lives: `POSFIELD_AGENT_DATA` when set (tests and
/// benchmarks), else the platform's app data folder.
fn data_dir(app: &tauri::App) -> std::path::PathBuf {
    match std::env::var_os("POSFIELD_AGENT_DATA") {
        Some(dir) if !dir.is_empty() => dir.into(),
        _ => app.path().app_data_dir().unwrap_or_else(|_| "posfield-agent-data".into()),
    }
}

/// Where the data folder's key is kept: an owner-only key file when the
/// folder was given by `POSFIELD_AGENT_DATA` (tests and benchmarks; beside
/// the folder, or at `POSFIELD_AGENT_KEY_FILE`), else the platform's
/// keystore: the desktop's secret service on Linux, the Keychain on macOS
/// and iOS. Elsewhere, Android included until its Keystore glue is written
/// (docs/security.md), a key file beside the folder, in the app's private
/// storage.
fn keystore(dir: &std::path::Path) -> std::sync::Arc<dyn posfield_core::Keystore> {
    use posfield_core::KeyFile;
    use std::sync::Arc;
    if let Some(file) = std::env::var_os("POSFIELD_AGENT_KEY_FILE").filter(|f| !f.is_empty()) {
        return Arc::new(KeyFile::at(file));
    }
    if std::env::var_os("POSFIELD_AGENT_DATA").is_some_and(|d| !d.is_empty()) {
        return Arc::new(KeyFile::beside(dir));
    }
    // Android's data folder is the app's sandbox itself: nothing beside it
    // is writable, so the key file sits in it, as safe as the sandbox.
    #[cfg(target_os = "android")]
    return Arc::new(KeyFile::at(dir.join("keys").join("data.key")));
    posfield_core::keystore::platform_keystore(dir).unwrap_or_else(|| Arc::new(KeyFile::beside(dir)))
}

/// Builds and runs the app; the desktop `main` and the mobile entry point both call this.
#[cfg_attr(mobile, tauri::mobile_entry_point)]
pub fn run() {
    LAUNCHED_AT.get_or_init(now_millis);
    let builder = tauri::Builder::default();
    #[cfg(mobile)]
    let builder = mobile::register(builder);
    let result = builder
        .setup(|app| {
            let dir = data_dir(app);
            std::fs::create_dir_all(&dir)?;
            let state = state::AppState::open(&dir, keystore(&dir), app.handle().clone())?;
            app.manage(state);
            #[cfg(target_os = "android")]
            mobile::init_platform_verifier(app);
            Ok(())
        })
        .invoke_handler(commands::handler())
        .run(tauri::generate_context!());
    if let Err(error) = result {
        // No window to show it in: stderr is all there is.
        eprintln!("posfield-app: {error}");
        std::process::exit(1);
    }
}
