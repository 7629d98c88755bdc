//! The smaller findings: CSV exports, sessions, blob status and partial
//! uploads, what a failed sign-in logs, and a revoked device's socket.
//! Two are left to tests with a controllable clock: a session's absolute
//! lifetime, and unreferenced uploads collected after a grace period.

use std::time::{Duration, Instant};

use posfield_e2e::hostile::{Desk, HostilePhone, set_user};
use posfield_e2e::story::merchant;
use posfield_e2e::{ServerProcess, TEST_PASSWORD, server_cli};
use posfield_shared::{BlobHash, VisitKind};

use super::{ADMIN, REVIEWER, world};

/// Merchant names a spreadsheet would run as formulas.
const FORMULAS: [&str; 4] = [
    "=HYPERLINK(\"http://example.invalid/x\",\"点我\")",
    "+1+cmd|' /C calc'!A0",
    "-2+3+cmd|' /C calc'!A0",
    "@SUM(1+1)*cmd|' /C calc'!A0",
];

/// The cells of a CSV export that carry one of the [`FORMULAS`] or the imported one.
fn formula_cells(csv_text: &str) -> Vec<String> {
    let mut reader =
        csv::ReaderBuilder::new().has_headers(false).flexible(true).from_reader(csv_text.as_bytes());
    reader
        .records()
        .flat_map(|record| record.unwrap().iter().map(str::to_owned).collect::<Vec<_>>())
        .filter(|cell| cell.contains("cmd|") || cell.contains("HYPERLINK"))
        .collect()
}

/// CSV exports never hand a spreadsheet a formula: a cell that would
/// start with `=`, `+`, `-`, `@`, a tab or a carriage return is escaped.
/// Contract: it is prefixed with `'`. From merchant names of synced visits
/// (the visit and terminal exports) and from a terminal import.
#[test]
fn csv_cells_cannot_start_a_formula() {
    let mut w = world();
    for (n, name) in FORMULAS.iter().enumerate() {
        let id = w.wang.create_visit(VisitKind::Inspection, &merchant(name)).unwrap().id;
        w.wang.identify_typed(&id, &format!("P10000000{n:02}"), false).unwrap();
    }
    w.sync_wang();
    let desk = Desk::sign_in(&w.server, ADMIN);
    let csv = "serial,merchant\nP2000000001,=cmd|' /C calc'!A0\n";
    let (status, page) = desk.post("office/terminals/import", &[("csrf", &desk.csrf()), ("csv", csv)]);
    assert_eq!(status, 200, "{page}");
    let (status, visits) = desk.get("office/visits/export.csv");
    assert_eq!(status, 200);
    let (status, terminals) = desk.get("office/terminals/export.csv");
    assert_eq!(status, 200);
    let (visits, terminals) = (formula_cells(&visits), formula_cells(&terminals));
    // Every merchant reached the exports.
    assert_eq!(visits.len(), FORMULAS.len(), "{visits:?}");
    assert_eq!(terminals.len(), FORMULAS.len() + 1, "{terminals:?}");
    let live: Vec<&String> = visits
        .iter()
        .chain(&terminals)
        .filter(|cell| cell.starts_with(['=', '+', '-', '@', '\t', '\r']))
        .collect();
    assert!(live.is_empty(), "CSV cells a spreadsheet runs as formulas: {live:?}");
}

/// Changing a user's role or password ends their open sessions. Contract:
/// the old session's next page is the redirect to the sign-in page (303).
#[test]
fn sessions_end_on_a_role_or_password_change() {
    let w = world();
    let admin = Desk::sign_in(&w.server, ADMIN);
    let reviewer = Desk::sign_in(&w.server, REVIEWER);
    assert_eq!(admin.get("office/terminals/import").0, 200, "the administrator's session");
    assert_eq!(reviewer.get("office/visits").0, 200, "the reviewer's session");

    set_user(&w.server.data, ADMIN, "reviewer", TEST_PASSWORD);
    set_user(&w.server.data, REVIEWER, "reviewer", "a new password for chen");
    // Signing in again works with what is now true.
    assert_eq!(Desk::sign_in(&w.server, ADMIN).get("office/terminals/import").0, 403, "now a reviewer");
    assert!(Desk::sign_in_with(&w.server, REVIEWER, "a new password for chen").is_ok());
    let (demoted, old_password) = (admin.get("office/terminals/import").0, reviewer.get("office/visits").0);
    assert!(
        demoted == 303 && old_password == 303,
        "sessions outlived the change: the demoted administrator's old session got {demoted} on an admin page, \
         the session from before the password change got {old_password}"
    );
}

/// Blob status answers only for what the asking agent uploaded or
/// reaches. Contract: another agent gets 404 `not_found`, or the answer
/// for a blob it does not have (`complete: false, received: 0`).
#[test]
fn blob_status_answers_only_the_uploader() {
    let mut w = world();
    let id = w.synced_repair();
    let photo = w.wang.visit(&id).unwrap().documents[0].sha256.clone();
    let (status, body) = w.wang_phone().blob_status(&photo);
    assert_eq!((status, &body["complete"]), (200, &serde_json::json!(true)), "wang's own photo: {body}");
    let li = HostilePhone::enrol(&w.server, "li", "li-phone");
    let (status, body) = li.blob_status(&photo);
    let learns_nothing = status == 404 || (body["complete"] == false && body["received"] == 0);
    assert!(learns_nothing, "li learns that wang's photo is on the server: {status} {body}");
}

/// A partial upload is the uploader's: another agent's request for the
/// same hash neither reads nor destroys it. Contract: wang resumes from
/// where wang stood, whatever li sent.
#[test]
fn another_agent_cannot_destroy_your_partial_upload() {
    let w = world();
    let wang = w.wang_phone();
    let li = HostilePhone::enrol(&w.server, "li", "li-phone");
    let bytes: Vec<u8> = (0..200_000u32).map(|i| (i * 7 % 251) as u8).collect();
    let sha = BlobHash::of(&bytes).into_string();
    assert_eq!(wang.put_blob(&sha, 0, bytes.len(), &bytes[..70_000]).0, 202);
    assert_eq!(wang.blob_status(&sha).1["received"], 70_000, "the cut upload is kept for wang");

    // li sends more than the declared size at wang's offset.
    let attack = li.put_blob(&sha, 70_000, bytes.len(), &vec![0u8; bytes.len() - 70_000 + 1]);
    let (_, status) = wang.blob_status(&sha);
    assert_eq!(
        status["received"], 70_000,
        "li's upload ({attack:?}) destroyed wang's partial upload; wang's status is now {status}"
    );
    assert_eq!(wang.put_blob(&sha, 70_000, bytes.len(), &bytes[70_000..]).0, 201);
}

/// Polls `log` until it holds `text`, for at most 10 s.
fn wait_for_log(log: &std::path::Path, text: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let content = std::fs::read_to_string(log).unwrap_or_default();
        if content.contains(text) || Instant::now() > deadline {
            return content;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A failed sign-in does not log what was typed as the user name (people
/// type their password there). Contract: the refusal is logged without
/// the name, through the pages and the JSON API alike.
#[test]
fn a_failed_sign_in_does_not_log_what_was_typed() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("server.log");
    let server = ServerProcess::start_tracing_to(&dir.path().join("server"), &log);
    server.add_user(ADMIN, "admin");
    let typed = "typed-my-password-here-Hunter2";
    assert_eq!(Desk::sign_in_with(&server, typed, "anything at all").err(), Some(401));
    let (status, _) = server.office_get(typed, "api/v1/office/audit");
    assert_eq!(status, 401);
    let text = wait_for_log(&log, "/api/v1/office/audit");
    assert!(text.contains("/office/login") && text.contains("/api/v1/office/audit"), "requests are logged");
    let lines: Vec<&str> = text.lines().filter(|line| line.contains(typed)).collect();
    assert!(lines.is_empty(), "what was typed as a user name is in the log: {lines:?}");
}

/// Revoking a device closes its open connections at once. Contract: its
/// sync websocket is closed within 5 s of `revoke-device`.
#[test]
fn revoking_a_device_closes_its_connections_at_once() {
    let w = world();
    let li = HostilePhone::enrol(&w.server, "li", "li-phone");
    let mut socket = li.open_socket().expect("li's device opens its sync socket");
    assert!(!socket.closed_within(Duration::from_secs(2)), "the server kept an idle, valid socket open");
    server_cli(&w.server.data, &["revoke-device", &li.server_device_id]);
    assert!(li.open_socket().is_err(), "a revoked device cannot open a new socket");
    assert!(
        socket.closed_within(Duration::from_secs(5)),
        "the revoked device's sync socket was still open 5 s after the revocation"
    );
}
