//! Whole-system sync faults: connections cut at random points, the server
//! and the agent killed mid-sync, the background sync waiting out a dead
//! server. After each, everything converges: every visit on the server as on
//! the phone, every photo complete, nothing left half-written.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use posfield_core::Agent;
use posfield_core::VisitFilter;
use posfield_core::background::{BackgroundSync, Schedule, SyncEvent};
use posfield_e2e::proxy::CuttingProxy;
use posfield_e2e::story::{open, repair_visit_with_photo};
use posfield_e2e::{ServerProcess, agent_binary};
use posfield_shared::VisitId;

const REVIEWER: &str = "chen";

/// Photos big enough that their uploads are cut part way.
const PHOTOS: [&str; 3] = ["qrcode-1/16.png", "qrcode-1/17.png", "qrcode-1/18.png"];

fn enrolled_agent(server: &ServerProcess, base: &str, dir: &Path) -> Agent {
    let mut agent = open(dir);
    let code = server.enrolment_code("agent-wang");
    agent.enroll(base, &code, "王师傅的手机").unwrap();
    agent
}

/// A server, and a phone's data folder beside it holding a repair visit with
/// each of [`PHOTOS`], none of it synced.
fn server_and_unsynced_phone(dir: &Path) -> (ServerProcess, std::path::PathBuf) {
    let server = ServerProcess::start(&dir.join("server"));
    server.add_user(REVIEWER, "reviewer");
    let phone = dir.join("agent");
    let mut agent = enrolled_agent(&server, &server.base, &phone);
    for photo in PHOTOS {
        repair_visit_with_photo(&mut agent, photo);
    }
    (server, phone)
}

/// The background sync on `phone` as the app starts it (asked for nothing),
/// with `schedule`; its events arrive on the receiver.
fn background_on(phone: &Path, schedule: Schedule) -> (BackgroundSync, mpsc::Receiver<SyncEvent>) {
    let (events, inbox) = mpsc::channel();
    let keys = Arc::new(posfield_core::KeyFile::beside(phone));
    let background = BackgroundSync::start(phone.to_owned(), keys, schedule, move |event| {
        let _ = events.send(event);
    })
    .unwrap();
    (background, inbox)
}

/// Every visit on the phone is on the server, identical and complete, each
/// photo stored once and no upload left half-written.
fn assert_all_on_server(server: &ServerProcess, agent: &mut Agent) {
    let rows = agent.list_visits(&VisitFilter { limit: Some(u32::MAX), ..Default::default() }).unwrap();
    assert!(!rows.is_empty());
    let manifest: std::collections::BTreeMap<VisitId, String> = agent.store_manifest().into_iter().collect();
    for row in rows {
        let (status, body) = server.office_get(REVIEWER, &format!("api/v1/office/visits/{}", row.id));
        assert_eq!(status, 200, "visit {} missing on the server: {body}", row.id);
        let local = serde_json::to_value(agent.visit(&row.id).unwrap()).unwrap();
        assert_eq!(body["visit"], local, "visit {} differs", row.id);
        let heads: Vec<&str> =
            body["heads"].as_array().unwrap().iter().map(|h| h.as_str().unwrap()).collect();
        assert_eq!(heads.join(","), manifest[&row.id], "visit {} heads", row.id);
        assert_eq!(body["blobs_missing"], 0, "visit {} lacks photos on the server", row.id);
    }
    // Partial uploads are kept in a folder per uploading agent.
    let list = |folder: &std::path::Path| -> Vec<std::path::PathBuf> {
        std::fs::read_dir(folder).map(|d| d.flatten().map(|e| e.path()).collect()).unwrap_or_default()
    };
    let left: Vec<_> = list(&server.data.join("blobs/partial"))
        .into_iter()
        .flat_map(|path| if path.is_dir() { list(&path) } else { vec![path] })
        .collect();
    assert!(left.is_empty(), "half-written uploads left: {left:?}");
}

/// A sync repeated until it finishes, as the background sync would, within
/// a bounded number of attempts; returns the failed attempts' error codes.
fn sync_until_done(agent: &mut Agent, attempts: usize) -> Vec<String> {
    let mut failures = Vec::new();
    for _ in 0..attempts {
        match agent.sync(&mut |_| {}) {
            Ok(_) => return failures,
            Err(error) => {
                assert!(
                    matches!(error.code(), "offline" | "interrupted" | "unfinished"),
                    "a cut must read as a network fault, not as {}: {error}",
                    error.code()
                );
                failures.push(error.code().to_owned());
            }
        }
    }
    panic!("no complete sync in {attempts} attempts: {failures:?}");
}

trait Manifest {
    fn store_manifest(&mut self) -> Vec<(VisitId, String)>;
}

impl Manifest for Agent {
    fn store_manifest(&mut self) -> Vec<(VisitId, String)> {
        let ids: Vec<VisitId> = self
            .list_visits(&VisitFilter { limit: Some(u32::MAX), ..Default::default() })
            .unwrap()
            .into_iter()
            .map(|row| row.id)
            .collect();
        ids.into_iter().map(|id| (id.clone(), self.visit_heads(&id).unwrap())).collect()
    }
}

#[test]
fn a_network_that_cuts_connections_at_random_points_still_delivers_everything_once() {
    let dir = tempfile::tempdir().unwrap();
    let server = ServerProcess::start(&dir.path().join("server"));
    server.add_user(REVIEWER, "reviewer");
    let proxy = CuttingProxy::start(&server.addr(), 0x5eed_c0de, 40 * 1024);
    proxy.set_cutting(false);
    let mut agent = enrolled_agent(&server, &proxy.base(), &dir.path().join("agent"));
    proxy.set_cutting(true);
    for photo in PHOTOS {
        let id = repair_visit_with_photo(&mut agent, photo);
        agent.add_note(&id, "信号很差").unwrap();
    }
    let failures = sync_until_done(&mut agent, 400);
    let (connections, cut) = proxy.counts();
    assert!(cut >= 2, "the proxy cut only {cut} of {connections} connections");
    assert!(!failures.is_empty(), "no sync attempt was cut");
    // A second day through the same network: more edits, more cuts.
    let ids: Vec<VisitId> =
        agent.list_visits(&VisitFilter::default()).unwrap().into_iter().map(|row| row.id).collect();
    for id in &ids {
        agent.add_note(id, "第二天补充").unwrap();
    }
    sync_until_done(&mut agent, 400);
    proxy.set_cutting(false);
    assert!(agent.sync(&mut |_| {}).unwrap().already_in_sync);
    assert_all_on_server(&server, &mut agent);
}

#[test]
fn the_server_killed_mid_sync_and_restarted_converges() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("server");
    let first = ServerProcess::start(&data);
    first.add_user(REVIEWER, "reviewer");
    let addr = first.addr();
    let mut agent = enrolled_agent(&first, &first.base, &dir.path().join("agent"));
    let running = Arc::new(Mutex::new(Some(first)));
    for round in 0..4 {
        let id = repair_visit_with_photo(&mut agent, PHOTOS[round % PHOTOS.len()]);
        agent.add_note(&id, &format!("第 {round} 轮")).unwrap();
        // Kill at a different point each round: after the first blob, at the
        // manifest, or on a timer while the documents sync; then shut down.
        let victim = running.clone();
        let kill = move || {
            if let Some(server) = victim.lock().unwrap().take() {
                server.kill();
            }
        };
        let outcome = match round {
            0 => {
                let mut events = 0;
                agent.sync(&mut |_| {
                    events += 1;
                    if events == 2 {
                        kill();
                    }
                })
            }
            1 => agent.sync(&mut |progress| {
                if progress.phase == posfield_core::sync::Phase::Manifest {
                    kill();
                }
            }),
            2 => {
                let timer = std::thread::spawn(move || {
                    std::thread::sleep(Duration::from_millis(40));
                    kill();
                });
                let outcome = agent.sync(&mut |_| {});
                timer.join().unwrap();
                outcome
            }
            _ => {
                // A graceful shutdown (SIGTERM) mid-sync: in-flight requests
                // finish or fail cleanly and the server exits by itself.
                let victim = running.clone();
                let timer = std::thread::spawn(move || {
                    std::thread::sleep(Duration::from_millis(30));
                    let server = victim.lock().unwrap().take().unwrap();
                    assert!(server.terminate(Duration::from_secs(20)), "no clean exit within 20 s");
                });
                let outcome = agent.sync(&mut |_| {});
                timer.join().unwrap();
                outcome
            }
        };
        if let Err(error) = &outcome {
            assert!(matches!(error.code(), "offline" | "interrupted"), "{error}");
        }
        // Make sure it is down, then bring it back on the same port.
        if let Some(server) = running.lock().unwrap().take() {
            server.kill();
        }
        let server = ServerProcess::start_on(&data, &addr);
        sync_until_done(&mut agent, 5);
        *running.lock().unwrap() = Some(server);
    }
    let server = running.lock().unwrap().take().unwrap();
    assert_all_on_server(&server, &mut agent);
}

#[test]
fn the_agent_killed_mid_sync_resumes_where_it_stood() {
    let dir = tempfile::tempdir().unwrap();
    let (server, phone) = server_and_unsynced_phone(dir.path());
    let sync_loop = || {
        Command::new(agent_binary())
            .arg("--data")
            .arg(&phone)
            .args(["sync-loop", "--until-synced", "--first-retry-ms", "100", "--max-retry-ms", "500"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap()
    };
    // SIGKILL the app at a different event of its sync each time.
    let mut cut_mid_sync = 0;
    for kill_at in [1, 2, 4] {
        let mut child = sync_loop();
        let lines = BufReader::new(child.stdout.take().unwrap()).lines();
        for (n, _) in lines.map_while(Result::ok).enumerate() {
            if n + 1 >= kill_at {
                break;
            }
        }
        child.kill().unwrap();
        child.wait().unwrap();
        let status = open(&phone).sync_status().unwrap();
        if status.interrupted {
            cut_mid_sync += 1;
        }
    }
    assert!(cut_mid_sync >= 1, "no kill landed during a sync");
    // Restarted, it sees the cut sync and finishes it.
    let mut child = sync_loop();
    let lines: Vec<String> =
        BufReader::new(child.stdout.take().unwrap()).lines().map_while(Result::ok).collect();
    assert!(child.wait().unwrap().success(), "{lines:?}");
    let events: Vec<SyncEvent> = lines.iter().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert!(matches!(events.last(), Some(SyncEvent::Synced { .. })), "{events:?}");
    let mut agent = open(&phone);
    let status = agent.sync_status().unwrap();
    assert!(!status.interrupted && status.failures == 0 && status.unsynced_visits == 0, "{status:?}");
    assert_all_on_server(&server, &mut agent);
}

/// The app's next start after the phone's vendor killed it mid-sync (as
/// Xiaomi, Huawei, OPPO and vivo phones do to apps in the background): the
/// background worker, started as the app starts it and asked for nothing,
/// reads the cut sync from the store, resumes it at once saying so
/// (`resumed`), and finishes it; a photo cut part way goes on from what the
/// server holds.
#[test]
fn the_app_started_again_after_a_kill_mid_sync_resumes_the_sync_by_itself() {
    let dir = tempfile::tempdir().unwrap();
    let (server, phone) = server_and_unsynced_phone(dir.path());
    // Killed as soon as its sync is on record, a few times at most.
    let cut = (0..5).any(|_| {
        let mut child = Command::new(agent_binary())
            .arg("--data")
            .arg(&phone)
            .args(["sync-loop", "--until-synced"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let started = BufReader::new(child.stdout.take().unwrap()).lines().next();
        child.kill().unwrap();
        child.wait().unwrap();
        assert!(started.is_some(), "the sync loop said nothing");
        open(&phone).sync_status().unwrap().interrupted
    });
    assert!(cut, "no kill landed during a sync");

    let (background, inbox) = background_on(&phone, Schedule::default());
    let first = inbox.recv_timeout(Duration::from_secs(10)).expect("a sync starts by itself within 10 s");
    assert!(matches!(first, SyncEvent::Started { resumed: true }), "{first:?}");
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match inbox.recv_timeout(left).expect("the resumed sync ends within 120 s") {
            SyncEvent::Synced { .. } => break,
            SyncEvent::Failed { message, .. } => panic!("the resumed sync failed: {message}"),
            _ => {}
        }
    }
    background.stop();
    let mut agent = open(&phone);
    let status = agent.sync_status().unwrap();
    assert!(!status.interrupted && status.failures == 0 && status.unsynced_visits == 0, "{status:?}");
    assert_all_on_server(&server, &mut agent);
}

#[test]
fn the_background_sync_waits_out_a_dead_server_then_delivers() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("server");
    let server = ServerProcess::start(&data);
    server.add_user(REVIEWER, "reviewer");
    let addr = server.addr();
    let phone = dir.path().join("agent");
    let mut agent = enrolled_agent(&server, &server.base, &phone);
    let id = repair_visit_with_photo(&mut agent, PHOTOS[0]);
    server.kill();
    let schedule = Schedule {
        first_retry: Duration::from_millis(100),
        max_retry: Duration::from_millis(800),
        interval: Duration::from_secs(60),
    };
    let next_failure = |inbox: &mpsc::Receiver<SyncEvent>| loop {
        match inbox.recv_timeout(Duration::from_secs(30)).expect("an event within 30 s") {
            SyncEvent::Failed { code, failures, retry_in_ms, .. } => break (code, failures, retry_in_ms),
            SyncEvent::Synced { .. } => panic!("synced with the server down"),
            _ => {}
        }
    };
    // Unsynced work: it tries at once, then again and again, each later.
    let (background, inbox) = background_on(&phone, schedule);
    let mut retries = Vec::new();
    for expected in 1..=3 {
        let (code, failures, retry_in_ms) = next_failure(&inbox);
        assert_eq!((code.as_str(), failures), ("offline", expected));
        retries.push(retry_in_ms.expect("an offline failure is retried by itself"));
    }
    assert!(retries.iter().all(|ms| *ms <= 800), "{retries:?}");
    assert!(retries[2] > retries[0], "the delay grows: {retries:?}");
    // The app is closed while the server is down: the count survives. On a
    // loaded machine a fourth attempt can fail before the stop lands.
    background.stop();
    let status = open(&phone).sync_status().unwrap();
    assert!(status.failures >= 3, "the failures counted so far survive: {}", status.failures);
    assert_eq!(status.last_error.as_ref().map(|e| e.code.as_str()), Some("offline"));
    // The server comes back; the reopened app delivers by itself.
    let server = ServerProcess::start_on(&data, &addr);
    let (background, inbox) = background_on(&phone, schedule);
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut failures_before = 0;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match inbox.recv_timeout(left).expect("synced within 30 s of the server's return") {
            SyncEvent::Synced { report } => {
                assert!(report.visits_synced >= 1, "{report:?}");
                break;
            }
            SyncEvent::Failed { failures, .. } => failures_before = failures,
            _ => {}
        }
    }
    assert_eq!(failures_before, 0, "the first try after the restart reached the server");
    // An edit and a nudge: synced again without waiting for the interval.
    agent.add_note(&id, "回到有信号的地方").unwrap();
    background.sync_now();
    loop {
        if let SyncEvent::Synced { .. } =
            inbox.recv_timeout(Duration::from_secs(30)).expect("synced after the nudge")
        {
            break;
        }
    }
    background.stop();
    let status = agent.sync_status().unwrap();
    assert_eq!((status.failures, status.unsynced_visits, status.last_error), (0, 0, None));
    assert_all_on_server(&server, &mut agent);
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap().flatten() {
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

#[test]
fn a_server_restored_from_an_older_backup_gets_back_what_it_lost() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("server");
    let server = ServerProcess::start(&data);
    server.add_user(REVIEWER, "reviewer");
    let addr = server.addr();
    let mut agent = enrolled_agent(&server, &server.base, &dir.path().join("agent"));
    let first = repair_visit_with_photo(&mut agent, PHOTOS[0]);
    agent.sync(&mut |_| {}).unwrap();
    // Last night's backup: a copy of the stopped server's folder, and on
    // PostgreSQL a dump of its database.
    server.kill();
    let backup = dir.path().join("backup");
    copy_dir(&data, &backup);
    let dump = posfield_e2e::dump_database(&data);
    // A day's work reaches the server, photos included...
    let server = ServerProcess::start_on(&data, &addr);
    repair_visit_with_photo(&mut agent, PHOTOS[1]);
    agent.add_note(&first, "下午补充").unwrap();
    agent.sync(&mut |_| {}).unwrap();
    assert_eq!(agent.sync_status().unwrap().unsynced_visits, 0);
    // ...then the server's disk dies and last night's backup is restored.
    server.kill();
    std::fs::remove_dir_all(&data).unwrap();
    copy_dir(&backup, &data);
    if let Some(dump) = &dump {
        posfield_e2e::restore_database(&data, dump);
    }
    let server = ServerProcess::start_on(&data, &addr);
    // The phone still holds everything and sends what the server lost,
    // the photo it had already seen confirmed included.
    let report = agent.sync(&mut |_| {}).unwrap();
    assert!(report.visits_synced >= 2 && report.blobs_uploaded >= 1, "{report:?}");
    assert_all_on_server(&server, &mut agent);
}

#[test]
fn forty_days_offline_with_fifty_visits_syncs_in_one_background_session() {
    let dir = tempfile::tempdir().unwrap();
    let server = ServerProcess::start(&dir.path().join("server"));
    server.add_user(REVIEWER, "reviewer");
    let phone = dir.path().join("agent");
    let forty_days = 40 * 24 * 3600 * 1000;
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64;
    {
        let mut agent = posfield_e2e::story::open_at(&phone, now - forty_days);
        agent.enroll(&server.base, &server.enrolment_code("agent-wang"), "王师傅的手机").unwrap();
        // Forty days of work, a visit or two a day, none of it synced.
        for day in 0..50 {
            let id = repair_visit_with_photo(&mut agent, PHOTOS[day % PHOTOS.len()]);
            agent.add_note(&id, &format!("第 {day} 天")).unwrap();
        }
    }
    let (background, inbox) = background_on(&phone, Schedule::default());
    let mut seen = Vec::new();
    let report = loop {
        match inbox.recv_timeout(Duration::from_secs(120)).expect("the session ends within 120 s") {
            SyncEvent::Synced { report } => break report,
            SyncEvent::Failed { message, .. } => panic!("the session failed: {message}"),
            event => seen.push(event),
        }
    };
    background.stop();
    assert!(matches!(seen.first(), Some(SyncEvent::Started { resumed: false })), "{:?}", seen.first());
    assert!(report.visits_synced >= 50 && report.rounds <= 3, "{report:?}");
    // The progress bar saw every document go by.
    let most = seen
        .iter()
        .filter_map(|e| match e {
            SyncEvent::Progress(p) => Some((p.docs_done, p.docs_total)),
            _ => None,
        })
        .max();
    assert_eq!(most, Some((50, 50)));
    let mut agent = open(&phone);
    assert_eq!(agent.sync_status().unwrap().unsynced_visits, 0);
    assert_all_on_server(&server, &mut agent);
}
