//! Generates the Tauri context (config, capabilities, icons) at build time,
//! with one permission per app command so the capability files grant only
//! the commands the UI uses.

const COMMANDS: &[&str] = &[
    "app_info",
    "vocabulary",
    "enroll",
    "list_visits",
    "day_view",
    "search_visits",
    "set_day_order",
    "news_list",
    "mark_news_seen",
    "trip_step",
    "create_visit",
    "visit_view",
    "identify_photo",
    "identify_photo_choice",
    "identify_typed",
    "identify_nfc",
    "add_fault",
    "add_attempt",
    "resolve_fault",
    "add_photo",
    "remove_photo",
    "annotate_photo",
    "rub_out_mark",
    "renew_on_same_trip",
    "blob_data_url",
    "set_step",
    "set_sim",
    "set_sim_action",
    "confirm_backup",
    "set_warranty",
    "set_repair_plan",
    "set_repair_fee",
    "set_suspension_cause",
    "submit_application",
    "sign",
    "verification",
    "complete",
    "sync_now",
    "sync_view",
    "set_photos_on_wifi_only",
    "report_connection",
    "correct_merchant",
    "record_handover",
    "record_network_test",
    "record_parameters",
    "record_restore",
    "set_follow_up",
    "set_settled_balance",
    "set_terminal_details",
    "set_unbind_reference",
    "waive_backup",
];

fn main() {
    let attributes =
        tauri_build::Attributes::new().app_manifest(tauri_build::AppManifest::new().commands(COMMANDS));
    if let Err(error) = tauri_build::try_build(attributes) {
        panic!("tauri build step failed: {error:#}");
    }
}
