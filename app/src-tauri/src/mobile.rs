//! Phone-only plugins: the NFC reader and the live barcode scanner.
//!
//! Both are called from the UI in JavaScript; the shell only registers them.
//! The barcode scanner needs Google Play services (ML Kit), which Huawei and
//! most mainland-China Android phones lack; the UI treats any failure of it
//! as a cue to take a photo of the label, decoded in Rust by the core.

/// Registers the mobile plugins on the builder.
pub(crate) fn register<R: tauri::Runtime>(builder: tauri::Builder<R>) -> tauri::Builder<R> {
    builder.plugin(tauri_plugin_nfc::init()).plugin(tauri_plugin_barcode_scanner::init())
}
