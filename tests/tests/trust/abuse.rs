//! Many requests against one server: password and code guessing, the
//! audit table, the sync slots and a push body's memory. The latency
//! findings (argon2 holding the database while other agents sync; the
//! answer time of unknown against known user names) are measured in a
//! benchmark, not here: a timed test on a shared machine would be flaky.

use std::collections::BTreeMap;
use std::sync::mpsc;
use std::time::Duration;

use posfield_core::Agent;
use posfield_e2e::hostile::{HostilePhone, RawSocket, peak_rss_kib, push_of_empty_entries};
use posfield_e2e::story::merchant;
use posfield_shared::VisitKind;
use reqwest::blocking::Client;

use super::{ADMIN, world};

/// How many of each status a series of requests got.
fn tally(statuses: &[u16]) -> BTreeMap<u16, usize> {
    let mut counts = BTreeMap::new();
    for status in statuses {
        *counts.entry(*status).or_insert(0) += 1;
    }
    counts
}

fn bad_enrolment(http: &Client, server: &posfield_e2e::ServerProcess, n: usize) -> u16 {
    http.post(server.url("api/v1/enroll"))
        .json(&serde_json::json!({
            "code": format!("AAAA-BBBB-{n:04}"), "device_id": format!("guess-{n}"),
            "device_name": "", "public_key": "00".repeat(32),
        }))
        .send()
        .unwrap()
        .status()
        .as_u16()
}

/// Guessing is throttled, per account first. Contract: after at most 20
/// wrong passwords for one user in a row, the JSON API answers 429 with
/// `{"error": "throttled"}` (and a `retry-after`); after at most 50 wrong
/// enrolment codes from one address in a minute (a limit that leaves room
/// for many phones behind one carrier's address), the enrolment endpoint
/// answers 429.
#[test]
fn password_and_enrolment_guessing_is_throttled() {
    let w = world();
    let (status, body) = w.server.office_get(ADMIN, "api/v1/office/audit");
    assert_eq!(status, 200, "the right password is let in: {body}");
    let http = Client::new();
    let passwords: Vec<u16> = (0..40)
        .map(|n| {
            let credentials = format!("{ADMIN}:wrong password {n}");
            let header = format!("Basic {}", base64_encode(credentials.as_bytes()));
            let response =
                http.get(w.server.url("api/v1/office/audit")).header("authorization", header).send();
            response.unwrap().status().as_u16()
        })
        .collect();
    let codes: Vec<u16> = (0..100).map(|n| bad_enrolment(&http, &w.server, n)).collect();
    assert!(
        passwords.contains(&429) && codes.contains(&429),
        "nothing was throttled: 40 wrong passwords for {ADMIN} got {:?}, 100 wrong enrolment codes got {:?}",
        tally(&passwords),
        tally(&codes)
    );
}

fn base64_encode(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// Refused enrolments cannot grow the audit table without bound. Contract:
/// 200 refusals in a row from one address leave at most 20
/// `enrol_refused` rows (a summary row per interval is fine).
#[test]
fn refused_enrolments_do_not_grow_the_audit_table_without_bound() {
    let w = world();
    let rows = |action: &str| w.audit(None).iter().filter(|row| row["action"] == action).count();
    assert_eq!(rows("enrolled"), 1, "the audit table records wang's enrolment");
    let http = Client::new();
    let statuses: Vec<u16> = (0..200).map(|n| bad_enrolment(&http, &w.server, n)).collect();
    assert!(statuses.iter().all(|s| matches!(s, 403 | 429)), "{:?}", tally(&statuses));
    let refused = rows("enrol_refused");
    assert!(refused <= 20, "200 refused enrolments wrote {refused} audit rows");
}

/// Unreadable pushes cannot grow the audit table without bound either: 200
/// pushes of five garbage bytes from one phone are each refused, and leave
/// at most a handful of `unreadable_document` rows (the first ones, then
/// one at each power of ten, carrying the count).
#[test]
fn unreadable_pushes_do_not_grow_the_audit_table_without_bound() {
    let mut w = world();
    let id = w.synced_inspection();
    let rows = |action: &str| w.audit(None).iter().filter(|row| row["action"] == action).count();
    let phone = w.wang_phone();
    for _ in 0..200 {
        let outcome = phone.push_one(id.as_str(), vec!["ab".repeat(32)], vec![0x85, 0x6f, 0x4a, 0x83, 0x01]);
        assert_eq!(outcome.refused.as_deref(), Some("unreadable"), "{outcome:?}");
    }
    let audited = rows("unreadable_document");
    assert!((1..=6).contains(&audited), "200 unreadable pushes wrote {audited} audit rows");
}

/// Wang's sync, bounded: the agent core goes back to the caller with the
/// outcome, or the test fails after `limit`.
fn sync_within(agent: Agent, limit: Duration, while_what: &str) -> (Agent, Result<usize, String>) {
    let (done, outcome) = mpsc::channel();
    std::thread::spawn(move || {
        let mut agent = agent;
        let result = agent.sync(&mut |_| {}).map(|report| report.visits_synced).map_err(|e| e.to_string());
        let _ = done.send((agent, result));
    });
    outcome
        .recv_timeout(limit)
        .unwrap_or_else(|_| panic!("wang's sync did not end within {limit:?} {while_what}"))
}

/// One device cannot hold every sync slot. Contract: a device gets at most
/// a few sync connections at once (the next is refused with 429) and an idle
/// one is closed after a while; either way, with another device's idle
/// sockets open, wang's sync through the websocket ends within 30 s.
#[test]
fn one_device_cannot_hold_every_sync_slot() {
    let mut w = world();
    let id = w.synced_inspection();
    // A change on each side: the sync pulls the desk's over the websocket
    // and pushes the note.
    let both_sides_change = |w: &mut super::World, note: &str| {
        let (status, body) = w.desk_assign(ADMIN, id.as_str(), "wang");
        assert_eq!(status, 200, "{body}");
        w.wang.add_note(&id, note).unwrap();
    };
    both_sides_change(&mut w, "第一次交换");
    let limit = Duration::from_secs(30);
    let (wang, synced) = sync_within(w.wang, limit, "with every slot free");
    w.wang = wang;
    assert!(synced.is_ok(), "{synced:?}");

    let li = HostilePhone::enrol(&w.server, "li", "li-phone");
    let mut sockets: Vec<RawSocket> = Vec::new();
    let mut refused = Vec::new();
    for _ in 0..10 {
        match li.open_socket() {
            Ok(socket) => sockets.push(socket),
            Err(status) => refused.push(status),
        }
    }
    assert!(!sockets.is_empty(), "li's device could not open one sync socket: {refused:?}");
    both_sides_change(&mut w, "第二次交换");
    let while_what = format!("while li's device held {} idle sync sockets", sockets.len());
    let (wang, synced) = sync_within(w.wang, limit, &while_what);
    w.wang = wang;
    assert!(synced.is_ok(), "{while_what}: {synced:?}");
    drop(sockets);
}

/// A push body's entry count is checked before its entries are decoded.
/// Contract: a body of four million empty entries (under the 16 MiB body
/// limit) is refused (400 `too_many_visits`) while the server's peak
/// memory grows by less than 96 MiB (decoding them all cost about 290 MB),
/// and the server goes on serving.
#[test]
fn a_push_body_is_bounded_before_decoding() {
    let mut w = world();
    let id = w.wang.create_visit(VisitKind::Inspection, &merchant("老王便利店")).unwrap().id;
    w.wang.add_note(&id, "正常的推送").unwrap();
    w.sync_wang();
    assert_eq!(w.shown(id.as_str())["visit"]["merchant"]["name"], "老王便利店", "the honest push was stored");

    let body = push_of_empty_entries(4_000_000);
    assert!(body.len() < 16 << 20, "{} bytes", body.len());
    let phone = w.wang_phone();
    let before = peak_rss_kib(w.server.pid());
    let (status, answer) = phone.push_raw(body);
    let grown_mib = (peak_rss_kib(w.server.pid()) - before) / 1024;
    assert!(matches!(status, 400 | 413), "{status} {}", String::from_utf8_lossy(&answer));
    assert!(
        grown_mib < 96,
        "a push of four million empty entries grew the server's peak memory by {grown_mib} MiB before it was refused"
    );
    w.wang.add_note(&id, "之后的推送").unwrap();
    w.sync_wang();
}
