//! Two server nodes serving one fleet: real `posfield-server` processes on
//! one PostgreSQL database and one S3 bucket (`posfield_e2e::nodes`), real
//! agent cores syncing through a round-robin balancer in front of them, or
//! through one node's own address. Agents spread over both nodes finish
//! through one when the other is killed, with nothing lost or doubled; the
//! desk's decisions through one node reach agents and open connections on
//! the other; each node writes under its own actor; the outbox is
//! delivered once although both nodes deliver; and a node without the
//! first node's key files refuses to start. Without
//! `POSFIELD_TEST_POSTGRES` and `POSFIELD_TEST_S3` each test says in one
//! line that it did not run, and fails when `CI` is set.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use posfield_core::Agent;
use posfield_e2e::hostile::{Desk, HostilePhone, SERVER_ACTOR_ID};
use posfield_e2e::nodes::{Cluster, S3_CREDENTIALS, SharedServices};
use posfield_e2e::server_binary;
use posfield_e2e::story::{merchant, open, repair_visit, repair_visit_at};
use posfield_shared::visit::{MerchantInput, VisitDoc};
use posfield_shared::vocab::{DocumentKind, SuspensionCause};
use posfield_shared::{BlobHash, VisitId, VisitKind, VisitStatus};

/// Syncs until a sync succeeds, at most `attempts` times, a short wait
/// between two; the failed attempts' errors.
fn sync_until_done(agent: &mut Agent, attempts: usize) -> Vec<String> {
    let mut errors = Vec::new();
    loop {
        match agent.sync(&mut |_| {}) {
            Ok(_) => return errors,
            Err(error) => {
                errors.push(error.to_string());
                assert!(errors.len() < attempts, "the sync kept failing: {errors:?}");
                std::thread::sleep(Duration::from_millis(200));
            }
        }
    }
}

#[test]
fn agents_spread_over_two_nodes_finish_through_one_when_the_other_is_killed() {
    let Some(services) = SharedServices::make("killed") else { return };
    let test_started = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let mut cluster = Cluster::start(dir.path(), services, 2, "");
    cluster.add_user("chen", "reviewer");

    // Six agents enrolled through the balancer, two whole visits each with
    // a purchase proof, an ID card and a signature: the proofs differ, an
    // agent's ID card is the same in both its visits, the signature image
    // is the same in every visit.
    let mut agents = Vec::new();
    for n in 0..6 {
        let name = format!("agent{n}");
        let mut agent = open(&dir.path().join(&name));
        agent.enroll(&cluster.base(), &cluster.enrolment_code(&name), "phone").unwrap();
        let card = format!("code128-1/{}.png", n + 1);
        let visits: Vec<VisitId> = (0..2)
            .map(|v| {
                let proof = format!("qrcode-1/{}.png", 2 * n + v + 1);
                let shop = merchant(&format!("商户 {n}-{v}"));
                repair_visit_at(&mut agent, &shop, &proof, &[(&card, DocumentKind::IdCard)])
            })
            .collect();
        agents.push((agent, visits));
    }

    // All sync at once through the balancer; node 0 is killed while they do.
    let sync_started = Instant::now();
    let syncing: Vec<_> = agents
        .into_iter()
        .map(|(mut agent, visits)| {
            std::thread::spawn(move || {
                let errors = sync_until_done(&mut agent, 50);
                (agent, visits, errors, Instant::now())
            })
        })
        .collect();
    let deadline = Instant::now() + Duration::from_secs(30);
    while cluster.balancer.served()[0] < 8 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    let served_before = cluster.balancer.served();
    assert!(served_before.iter().all(|n| *n > 0), "the agents did not spread: {served_before:?}");
    cluster.kill(0);
    let killed = Instant::now();
    let finished: Vec<_> = syncing.into_iter().map(|t| t.join().unwrap()).collect();
    let last = finished.iter().map(|f| f.3).max().unwrap();
    let interrupted: Vec<&String> = finished.iter().flat_map(|f| f.2.first()).collect();
    eprintln!(
        "connections before the kill {served_before:?}; {} of 6 syncs interrupted ({interrupted:?}); all finished {} ms after the kill ({} ms after they began)",
        interrupted.len(),
        last.duration_since(killed).as_millis(),
        last.duration_since(sync_started).as_millis()
    );
    assert!(
        finished.iter().any(|f| f.3 > killed),
        "every sync had finished before the kill: the test proved nothing"
    );

    // Each agent again: nothing left to send.
    let mut agents: Vec<(Agent, Vec<VisitId>)> = Vec::new();
    for (mut agent, visits, _, _) in finished {
        let report = agent.sync(&mut |_| {}).unwrap();
        assert!(report.already_in_sync, "{report:?}");
        agents.push((agent, visits));
    }

    // Through node 1's back office: every visit once, every photo whole.
    let b = cluster.node(1);
    let desk = Desk::sign_in(b, "chen");
    let (status, csv) = desk.get_bytes("office/visits/export.csv");
    assert_eq!(status, 200);
    let csv = String::from_utf8(csv).unwrap();
    let all: Vec<VisitId> = agents.iter().flat_map(|(_, visits)| visits.clone()).collect();
    assert_eq!(csv.trim().lines().count(), 1 + all.len(), "one row per visit: {csv}");
    for (agent, visits) in &mut agents {
        for id in visits.iter() {
            assert_eq!(csv.matches(&id.to_string()).count(), 1, "visit {id} in the export: {csv}");
            let (status, body) = b.office_get("chen", &format!("api/v1/office/visits/{id}"));
            assert_eq!(status, 200, "{body}");
            assert_eq!(body["visit"]["status"], "completed", "{body}");
            assert_eq!(body["blobs_missing"], 0, "{body}");
            assert_eq!(body["device_signature_valid"], true, "{body}");
            let local = agent.visit(id).unwrap();
            let server: Vec<&str> = body["visit"]["history"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e["id"].as_str().unwrap())
                .collect();
            let mine: Vec<&str> = local.history.iter().map(|e| e.id.as_str()).collect();
            let once: BTreeSet<&str> = server.iter().copied().collect();
            assert_eq!(once.len(), server.len(), "a history entry twice: {server:?}");
            assert_eq!(once, mine.iter().copied().collect(), "the history differs from the phone's");
            for document in &local.documents {
                let sha = BlobHash::parse(&document.sha256).unwrap();
                let (status, bytes) = desk.get_bytes(&format!("office/blobs/{sha}"));
                assert_eq!(status, 200, "photo {sha} of {id}");
                assert_eq!(BlobHash::of(&bytes), sha, "photo {sha} of {id} came back other bytes");
                assert!(
                    bytes == agent.photo_bytes(id, &sha).unwrap(),
                    "photo {sha} differs from the phone's"
                );
            }
        }
    }
    // In the shared database: the visits and the blobs they name (photos,
    // the signatures' images and strokes), each once and nothing besides.
    let mut named = BTreeSet::new();
    for (agent, visits) in &mut agents {
        for id in visits.iter() {
            let visit = agent.visit(id).unwrap();
            named.extend(visit.documents.iter().map(|d| d.sha256.clone()));
            let acceptance = visit.acceptance.expect("a signed visit");
            named.insert(acceptance.signature.sha256.clone());
            named.insert(acceptance.strokes_sha256.clone());
        }
    }
    let services = &cluster.services;
    assert_eq!(services.query("SELECT count(*) FROM visits"), [all.len().to_string()]);
    let rows = services.query("SELECT DISTINCT sha256 FROM visit_blobs ORDER BY 1");
    assert_eq!(rows, named.iter().cloned().collect::<Vec<_>>(), "the visits' blob rows");
    let stored = services.query("SELECT sha256 FROM blobs ORDER BY 1");
    assert_eq!(stored, named.into_iter().collect::<Vec<_>>(), "the stored blobs");
    eprintln!("the two-node kill test took {} ms", test_started.elapsed().as_millis());
}

#[test]
fn a_desk_decision_through_one_node_reaches_an_agent_syncing_through_the_other() {
    let Some(services) = SharedServices::make("desk") else { return };
    let dir = tempfile::tempdir().unwrap();
    let cluster = Cluster::start(dir.path(), services, 2, "");
    cluster.add_user("chen", "reviewer");
    cluster.add_user("zhou", "admin");
    let (a, b) = (cluster.node(0), cluster.node(1));
    // The agent syncs through node B's own address only.
    let mut wang = open(&dir.path().join("wang"));
    wang.enroll(&b.base, &cluster.enrolment_code("wang"), "华为 Mate 60").unwrap();
    let repair = repair_visit(&mut wang);
    wang.sync(&mut |_| {}).unwrap();

    // Node A returns the visit and creates another for wang.
    let (status, body) = a.office_post(
        "chen",
        &format!("api/v1/office/visits/{repair}/review"),
        &serde_json::json!({ "decision": "return", "note": "请补拍购机凭证" }),
    );
    assert_eq!(status, 200, "{body}");
    let (status, body) = a.office_post(
        "zhou",
        "api/v1/office/visits",
        &serde_json::json!({ "kind": "sim_renewal", "merchant": "张姐水果店", "agent": "wang" }),
    );
    assert_eq!(status, 201, "{body}");
    let assigned: VisitId = body["id"].as_str().unwrap().parse().unwrap();

    // Wang's next sync through node B has both.
    let report = wang.sync(&mut |_| {}).unwrap();
    assert_eq!(report.visits_received, 1, "{report:?}");
    let visit = wang.visit(&repair).unwrap();
    assert_eq!(visit.status, VisitStatus::Returned);
    assert_eq!(visit.reviews[0].note.as_deref(), Some("请补拍购机凭证"));
    assert_eq!(wang.visit(&assigned).unwrap().merchant.name, "张姐水果店");
}

#[test]
fn an_edit_through_one_node_reaches_an_open_connection_on_the_other_within_two_seconds() {
    let Some(services) = SharedServices::make("open") else { return };
    let dir = tempfile::tempdir().unwrap();
    let cluster = Cluster::start(dir.path(), services, 2, "");
    cluster.add_user("zhou", "admin");
    let (a, b) = (cluster.node(0), cluster.node(1));
    let phone = HostilePhone::enrol_with_code(b, &cluster.enrolment_code("wang"), "device-watching").unwrap();
    let _li = HostilePhone::enrol_with_code(b, &cluster.enrolment_code("li"), "device-li").unwrap();
    let (status, body) = a.office_post(
        "zhou",
        "api/v1/office/visits",
        &serde_json::json!({ "kind": "inspection", "merchant": "老王便利店", "agent": "wang" }),
    );
    assert_eq!(status, 201, "{body}");
    let id = body["id"].as_str().unwrap().to_owned();

    // The phone's connection is open on node B; the desk reassigns through node A.
    let (base, url) = (a.base.clone(), format!("api/v1/office/visits/{id}/assign"));
    let desk = move || {
        let answer = reqwest::blocking::Client::new()
            .post(format!("{base}{url}"))
            .header("authorization", posfield_e2e::basic("zhou"))
            .json(&serde_json::json!({ "agent": "li" }))
            .send()
            .expect("the desk's request");
        assert_eq!(answer.status(), 200, "{:?}", answer.text());
    };
    let (synced, after) = phone
        .watch_socket(&id, desk, Duration::from_secs(2))
        .expect("the open connection on node B was not sent node A's change within 2 s");
    // Node B's copy was refreshed from the store: the document sent holds the change.
    let visit = VisitDoc::load(&synced.bytes.unwrap()).unwrap().visit().unwrap();
    assert_eq!(visit.assignment.agent, "li");
    eprintln!(
        "node A's change reached the open connection on node B {} ms after it was made",
        after.as_millis()
    );
}

#[test]
fn each_node_writes_under_its_own_actor() {
    let Some(services) = SharedServices::make("actors") else { return };
    let dir = tempfile::tempdir().unwrap();
    let cluster = Cluster::start(dir.path(), services, 2, "");
    cluster.add_user("zhou", "admin");
    let (a, b) = (cluster.node(0), cluster.node(1));
    let li = HostilePhone::enrol_with_code(b, &cluster.enrolment_code("li"), "device-li").unwrap();
    let _wang = HostilePhone::enrol_with_code(b, &cluster.enrolment_code("wang"), "device-wang").unwrap();
    let (status, body) = a.office_post(
        "zhou",
        "api/v1/office/visits",
        &serde_json::json!({ "kind": "inspection", "merchant": "老王便利店", "agent": "wang" }),
    );
    assert_eq!(status, 201, "{body}");
    let id = body["id"].as_str().unwrap().to_owned();
    let (status, body) = b.office_post(
        "zhou",
        &format!("api/v1/office/visits/{id}/assign"),
        &serde_json::json!({ "agent": "li" }),
    );
    assert_eq!(status, 200, "{body}");

    let synced = li.sync_socket(&id, None, Vec::new()).unwrap();
    let doc = automerge::Automerge::load(&synced.bytes.unwrap()).unwrap();
    let servers: BTreeSet<Vec<u8>> = doc
        .get_changes(&[])
        .iter()
        .map(|change| change.actor_id().to_bytes().to_vec())
        .filter(|actor| actor.starts_with(SERVER_ACTOR_ID))
        .collect();
    assert_eq!(servers.len(), 2, "one actor per node: {servers:?}");
    for actor in &servers {
        assert_eq!(actor.len(), SERVER_ACTOR_ID.len() + 1 + 8, "{actor:?}");
        assert_eq!(actor[SERVER_ACTOR_ID.len()], b'/', "{actor:?}");
    }
}

/// A webhook receiver on 127.0.0.1 that answers every request `200` after
/// `delay` (each on a thread of its own) and counts the requests of each
/// `Idempotency-Key`.
fn webhook_receiver(delay: Duration) -> (String, Arc<Mutex<BTreeMap<String, usize>>>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/events", listener.local_addr().unwrap());
    let counts = Arc::new(Mutex::new(BTreeMap::new()));
    let counting = counts.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { continue };
            let counting = counting.clone();
            std::thread::spawn(move || answer_webhook(stream, delay, &counting));
        }
    });
    (url, counts)
}

/// Reads one request, counts its idempotency key, and answers `200` after `delay`.
fn answer_webhook(mut stream: std::net::TcpStream, delay: Duration, counts: &Mutex<BTreeMap<String, usize>>) {
    use std::io::{BufRead, BufReader, Read, Write};
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let (mut key, mut length) = (None, 0usize);
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            match name.trim().to_ascii_lowercase().as_str() {
                "idempotency-key" => key = Some(value.trim().to_owned()),
                "content-length" => length = value.trim().parse().unwrap_or(0),
                _ => {}
            }
        }
    }
    let mut body = vec![0u8; length];
    let _ = reader.read_exact(&mut body);
    if let Some(key) = key {
        *counts.lock().unwrap().entry(key).or_insert(0) += 1;
    }
    std::thread::sleep(delay);
    let _ = stream.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
}

#[test]
fn the_outbox_is_delivered_once_while_both_nodes_deliver() {
    let Some(services) = SharedServices::make("outbox") else { return };
    // A slow receiver: each delivery is still in flight when the other
    // node's worker looks for due messages.
    let (url, received) = webhook_receiver(Duration::from_millis(2500));
    let dir = tempfile::tempdir().unwrap();
    let config = format!("[outbox]\nsender = \"webhook\"\n\n[outbox.webhook]\nurl = \"{url}\"\n");
    let cluster = Cluster::start(dir.path(), services, 2, &config);
    cluster.add_user("zhou", "admin");

    // Four reactivation applications, with the merchant's phone.
    let mut wang = open(&dir.path().join("wang"));
    wang.enroll(&cluster.base(), &cluster.enrolment_code("wang"), "phone").unwrap();
    let ids: Vec<VisitId> = (0..4)
        .map(|n| {
            let shop =
                MerchantInput { phone: Some(format!("1381234567{n}")), ..merchant(&format!("商户 {n}")) };
            let id = wang.create_visit(VisitKind::Reactivation, &shop).unwrap().id;
            wang.set_suspension_cause(&id, SuspensionCause::NetworkProblem).unwrap();
            wang.submit_application(&id).unwrap();
            id
        })
        .collect();
    wang.sync(&mut |_| {}).unwrap();

    // The desk rejects them, two through each node.
    let desks = [Desk::sign_in(cluster.node(0), "zhou"), Desk::sign_in(cluster.node(1), "zhou")];
    for (n, id) in ids.iter().enumerate() {
        let desk = &desks[n % 2];
        let form = [("csrf", desk.csrf()), ("decision", "reject".into()), ("reason", "账户仍冻结".into())];
        let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let (status, page) = desk.post(&format!("office/applications/{id}"), &form);
        assert_eq!(status, 303, "{page}");
    }

    // Each message reaches the receiver, and once, after both workers had
    // more than one round at it.
    let keys: BTreeSet<String> = ids.iter().map(|id| format!("{id}/application_rejected")).collect();
    let deadline = Instant::now() + Duration::from_secs(30);
    while received.lock().unwrap().len() < keys.len() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(OUTBOX_POLL * 2 + Duration::from_secs(1));
    let received = received.lock().unwrap().clone();
    let expected: BTreeMap<String, usize> = keys.into_iter().map(|k| (k, 1)).collect();
    assert_eq!(received, expected, "each message once");
}

/// How often an outbox worker looks for due messages (the server's `outbox::POLL`).
const OUTBOX_POLL: Duration = Duration::from_secs(5);

/// Starts `posfield-server serve` on `folder` with the cluster's
/// configuration and database, and returns what it said on stderr once it
/// exited; fails when it is still running after 20 s.
fn refused_start(cluster: &Cluster, folder: &Path) -> String {
    let config = folder.with_extension("toml");
    std::fs::write(&config, cluster.config()).unwrap();
    let mut child = Command::new(server_binary())
        .arg("--config")
        .arg(&config)
        .arg("--database")
        .arg(&cluster.services.database)
        .arg("--data")
        .arg(folder)
        .args(["serve", "--listen", "127.0.0.1:0"])
        .envs(S3_CREDENTIALS)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("the node started");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let output = child.wait_with_output().unwrap();
    assert!(!output.status.success());
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn a_node_without_the_first_nodes_key_files_refuses_to_start() {
    let Some(services) = SharedServices::make("keys") else { return };
    let dir = tempfile::tempdir().unwrap();
    let cluster = Cluster::start(dir.path(), services, 1, "");
    // Before any photo or visit: the database names the first node's blob key.
    let early = dir.path().join("early");
    let said = refused_start(&cluster, &early);
    assert!(said.contains("does not hold key") && said.contains("copy server-blob.keys"), "{said}");
    assert!(!early.join("server-blob.keys").exists(), "a new blob key was made");

    let mut wang = open(&dir.path().join("wang"));
    wang.enroll(&cluster.base(), &cluster.enrolment_code("wang"), "phone").unwrap();
    repair_visit(&mut wang);
    wang.sync(&mut |_| {}).unwrap();

    // No key files at all: the bucket's sealed blobs stop it first.
    let said = refused_start(&cluster, &dir.path().join("bare"));
    assert!(said.contains("server-blob.keys is missing but the bucket"), "{said}");
    // The blob keys but not the signing key: refused, saying what to copy.
    let folder = dir.path().join("half");
    std::fs::create_dir_all(&folder).unwrap();
    std::fs::copy(cluster.folder(0).join("server-blob.keys"), folder.join("server-blob.keys")).unwrap();
    let said = refused_start(&cluster, &folder);
    assert!(said.contains("server-signing.key is missing but the database already holds visits"), "{said}");
    assert!(said.contains("copy the key files"), "{said}");
    assert!(!folder.join("server-signing.key").exists(), "a new signing key was made");
}
