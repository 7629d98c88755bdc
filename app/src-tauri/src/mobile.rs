//! Phone-only plugins: the NFC reader, the live barcode scanner,
//! positioning (the arrival check-in's location) and system notifications
//! (what a sync brought).
//!
//! Both are called from the UI in JavaScript; the shell only registers them.
//! The barcode scanner needs Google Play services (ML Kit), which Huawei and
//! most mainland-China Android phones lack; the UI treats any failure of it
//! as a cue to take a photo of the label, decoded in Rust by the core.

/// Registers the mobile plugins on the builder.
pub(crate) fn register<R: tauri::Runtime>(builder: tauri::Builder<R>) -> tauri::Builder<R> {
    builder
        .plugin(tauri_plugin_nfc::init())
        .plugin(tauri_plugin_barcode_scanner::init())
        .plugin(tauri_plugin_geolocation::init())
        .plugin(tauri_plugin_notification::init())
}

/// Hands `rustls-platform-verifier` the Android context through which it
/// asks the platform's trust store about the server's certificate: without
/// it every HTTPS connection to a server trusted by roots fails (a pinned
/// server needs no store). The app's Android project must also bundle the
/// verifier's Kotlin half (the `rustls-platform-verifier-android` package).
#[cfg(target_os = "android")]
pub(crate) fn init_platform_verifier<R: tauri::Runtime>(app: &tauri::App<R>) {
    use tauri::Manager;
    let Some(window) = app.get_webview_window("main") else {
        eprintln!("posfield-app: no main window to reach the Android trust store through");
        return;
    };
    let handed = window.with_webview(|webview| {
        webview.jni_handle().exec(|env, activity, _webview| {
            let context = match env.new_local_ref(activity) {
                Ok(context) => context,
                Err(error) => return eprintln!("posfield-app: no Android context: {error}"),
            };
            if let Err(error) = rustls_platform_verifier::android::init_with_env(env, context) {
                eprintln!("posfield-app: the Android trust store is unavailable: {error}");
            }
        });
    });
    if let Err(error) = handed {
        eprintln!("posfield-app: the Android trust store is unavailable: {error}");
    }
}
