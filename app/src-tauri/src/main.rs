//! `posfield-app`: the field agent's app on the desktop (Linux, webkit2gtk).
//! On phones the same library is started by the mobile entry point.
#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

fn main() {
    posfield_app::run();
}
