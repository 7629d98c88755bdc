//! The outbox against real receivers: a local HTTP server on 127.0.0.1
//! that fails the first requests, answers 500, 429 or nothing at all,
//! loses its answers after acting, records every request and, like a
//! careful receiver, acts once per idempotency key. Real SQLite files; time
//! passed in as the worker's `now`, so no test waits out a backoff.
//!
//! What must hold: every message is delivered at least once, retried with
//! a growing wait, never lost, and acted on once by a receiver that keeps
//! the key; a message a worker was sending when its process died is
//! delivered by the next worker on the same database; a refusal for good
//! is recorded as failed and shown so in the back office; the SMS and
//! webhook bodies are the shapes pinned here.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use posfield_shared::visit::{Ctx, MerchantInput, VisitDoc};
use posfield_shared::vocab::ApplicationState;
use posfield_shared::{Actor, Timestamp, VisitKind};
use posfield_sync_server::auth::{self, UserRole};
use posfield_sync_server::clock;
use posfield_sync_server::config::{Config, OutboxConfig, OutboxSender, Secret, SmsConfig, WebhookConfig};
use posfield_sync_server::desk::{self, DeskUser};
use posfield_sync_server::outbox::{self, RetryPolicy, Sender, SmsSender, WebhookSender, Worker};
use posfield_sync_server::store::sqlite::SqliteStore;
use posfield_sync_server::store::{AuditEntry, OutboxMessage, OutboxRecord, OutboxState, Store};

/// What the receiver does with one request.
#[derive(Debug, Clone, Copy)]
enum Answer {
    /// Acts (once per key) and answers 200 with this body.
    Ok(&'static str),
    /// Answers this status without acting.
    Refuse(u16, &'static str),
    /// Never answers, without acting.
    Hang,
    /// Acts, then its answer is lost: a 502 from a proxy in between.
    ActThenLose,
    /// Acts, then never answers.
    ActThenHang,
}

/// One request as the receiver got it.
#[derive(Debug, Clone)]
struct Received {
    headers: HeaderMap,
    body: serde_json::Value,
}

/// A receiver that follows a script of answers (200 once it runs out).
#[derive(Debug, Default)]
struct Receiver {
    script: Mutex<VecDeque<Answer>>,
    requests: Mutex<Vec<Received>>,
    /// The key of every request the receiver acted on, in order; it acts
    /// on a key once, so repeats of a key have no further effect.
    acted: Mutex<Vec<String>>,
}

impl Receiver {
    fn requests(&self) -> Vec<Received> {
        self.requests.lock().unwrap().clone()
    }

    /// How many requests the receiver acted on, by key: the effect was
    /// once per key however many there were.
    fn acted(&self) -> BTreeMap<String, u32> {
        let mut counts = BTreeMap::new();
        for key in self.acted.lock().unwrap().iter() {
            *counts.entry(key.clone()).or_default() += 1;
        }
        counts
    }

    fn act(&self, key: &str) {
        self.acted.lock().unwrap().push(key.to_owned());
    }
}

async fn receive(
    State(receiver): State<Arc<Receiver>>,
    headers: HeaderMap,
    body: String,
) -> axum::response::Response {
    let key = headers.get("idempotency-key").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    let body = serde_json::from_str(&body).unwrap_or(serde_json::Value::String(body));
    receiver.requests.lock().unwrap().push(Received { headers, body });
    let answer = receiver.script.lock().unwrap().pop_front().unwrap_or(Answer::Ok("{\"Code\":\"OK\"}"));
    let hang = || tokio::time::sleep(Duration::from_secs(3600));
    match answer {
        Answer::Ok(body) => {
            receiver.act(&key);
            (StatusCode::OK, body).into_response()
        }
        Answer::Refuse(status, body) => (StatusCode::from_u16(status).unwrap(), body).into_response(),
        Answer::Hang => {
            hang().await;
            StatusCode::OK.into_response()
        }
        Answer::ActThenLose => {
            receiver.act(&key);
            StatusCode::BAD_GATEWAY.into_response()
        }
        Answer::ActThenHang => {
            receiver.act(&key);
            hang().await;
            StatusCode::OK.into_response()
        }
    }
}

/// A receiver on 127.0.0.1 following `script`, and its URL.
async fn receiver(script: &[Answer]) -> (Arc<Receiver>, url::Url) {
    let receiver = Arc::new(Receiver::default());
    receiver.script.lock().unwrap().extend(script.iter().copied());
    let app = axum::Router::new().route("/send", axum::routing::post(receive)).with_state(receiver.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/send", listener.local_addr().unwrap()).parse().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (receiver, url)
}

const ACCESS_KEY: &str = "ak-3f9c2e71d4b8a605";

fn sms_config(url: url::Url) -> SmsConfig {
    SmsConfig {
        url,
        sign_name: "银联商务".into(),
        templates: outbox::Event::ALL
            .iter()
            .enumerate()
            .map(|(i, e)| (e.code().into(), format!("SMS_90{i}")))
            .collect(),
        access_key: Some(Secret::new(ACCESS_KEY.into())),
        access_key_header: "X-Access-Key".into(),
    }
}

/// A policy for tests: the defaults' waits, a one-second attempt.
fn policy(max_attempts: u32) -> RetryPolicy {
    let config = OutboxConfig { max_attempts, timeout_secs: 1, ..OutboxConfig::default() };
    RetryPolicy::of(&config)
}

fn open_store(dir: &tempfile::TempDir) -> Arc<dyn Store> {
    Arc::new(SqliteStore::open(&dir.path().join("server.db")).unwrap())
}

/// A visit's rejected application, for merchant `n` at `phone`.
fn rejection(n: usize, phone: Option<&str>) -> OutboxMessage {
    let visit = format!("0190a000-0000-7000-8000-{n:012}");
    outbox::messages_for_application(&application_visit(&visit, phone)).remove(0)
}

/// A reactivation visit of `id` for a merchant with `phone`, its
/// application submitted by the agent.
fn submitted_application(id: &str, phone: Option<&str>) -> VisitDoc {
    let ctx = Ctx::new(Actor::agent("wang", "phone-a"), Timestamp(1_795_000_000_000), "op-1");
    let merchant = MerchantInput {
        name: "老王便利店".into(),
        merchant_number: None,
        terminal_number: None,
        phone: phone.map(str::to_owned),
        address: None,
        location: None,
    };
    let mut doc =
        VisitDoc::create_visit(&ctx, b"phone-a", id, VisitKind::Reactivation, &merchant, "wang").unwrap();
    let ctx = Ctx::new(Actor::agent("wang", "phone-a"), Timestamp(1_795_000_001_000), "op-2");
    doc.submit_application(&ctx).unwrap();
    doc
}

/// A reactivation visit of `id` whose application was rejected.
fn application_visit(id: &str, phone: Option<&str>) -> posfield_shared::visit::Visit {
    let mut doc = submitted_application(id, phone);
    let ctx = Ctx::new(Actor::reviewer("chen", "back-office"), Timestamp(1_795_000_002_000), "op-3");
    doc.decide_application(&ctx, ApplicationState::Rejected, Some("营业执照已过期")).unwrap()
}

async fn records(store: &dyn Store) -> Vec<OutboxRecord> {
    let (mut records, _) = store.outbox(1000).await.unwrap();
    records.reverse();
    records
}

/// Rounds at a `now` that moves past the longest wait each time, until
/// nothing is left to deliver (at most `rounds`).
async fn deliver_all(worker: &Worker, store: &dyn Store, mut now: i64, rounds: usize) -> i64 {
    for _ in 0..rounds {
        worker.deliver_due(now).await.unwrap();
        let open = records(store)
            .await
            .iter()
            .filter(|r| matches!(r.state, OutboxState::Pending | OutboxState::Sending))
            .count();
        if open == 0 {
            break;
        }
        now += 6 * 3600;
    }
    now
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_message_is_delivered_and_acted_on_once_through_failures_timeouts_and_lost_answers() {
    let script = [
        Answer::Refuse(500, "internal error"),
        Answer::Refuse(503, "busy"),
        Answer::Hang,
        Answer::Refuse(429, "slow down"),
        Answer::ActThenLose,
        Answer::ActThenHang,
        Answer::Refuse(200, "{\"Code\":\"isv.BUSINESS_LIMIT_CONTROL\"}"),
    ];
    let (receiver, url) = receiver(&script).await;
    let dir = tempfile::tempdir().unwrap();
    let store = open_store(&dir);
    let messages: Vec<OutboxMessage> = (0..5).map(|n| rejection(n, Some("13812345678"))).collect();
    assert_eq!(store.enqueue_messages(messages.clone()).await.unwrap(), 5);
    assert_eq!(store.enqueue_messages(messages.clone()).await.unwrap(), 0, "a key is enqueued once");
    let sender: Arc<dyn Sender> = Arc::new(SmsSender::new(sms_config(url), Duration::from_secs(1)).unwrap());
    let worker = Worker::new(store.clone(), sender, policy(16));

    // The first round: every message is tried once, and each failure waits
    // half to all of the first minute.
    let start = clock::now();
    let round = worker.deliver_due(start).await.unwrap();
    assert_eq!(round.taken, 5);
    for record in records(store.as_ref()).await {
        if record.state == OutboxState::Pending {
            let wait = record.next_attempt_at - start;
            assert!((30..=60).contains(&wait), "the first wait is {wait} s");
            assert!(record.last_error.is_some());
        }
    }
    assert_eq!(worker.deliver_due(start + 1).await.unwrap().taken, 0, "nothing is due before its wait");

    deliver_all(&worker, store.as_ref(), start + 3600, 20).await;
    let done = records(store.as_ref()).await;
    assert!(done.iter().all(|r| r.state == OutboxState::Delivered), "{done:#?}");
    assert!(done.iter().any(|r| r.attempts > 2), "some messages were tried again");
    let keys: Vec<&str> = messages.iter().map(|m| m.key.as_str()).collect();
    // The receiver's effects are one per key, and the keys are the
    // messages' own: the message whose answer was lost came again under
    // its key, and the receiver did not act twice.
    let acted = receiver.acted();
    let mut sorted = keys.clone();
    sorted.sort();
    assert_eq!(acted.keys().map(String::as_str).collect::<Vec<_>>(), sorted);
    assert!(acted.values().any(|times| *times > 1), "a message whose answer was lost came again: {acted:?}");
    let requests = receiver.requests();
    assert!(requests.len() > keys.len() + 4, "every failure was followed by another attempt");
    for request in &requests {
        let key = request.headers["idempotency-key"].to_str().unwrap();
        assert_eq!(request.body["OutId"], key, "every attempt carries its message's key");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_being_sent_when_its_server_died_is_delivered_by_the_next() {
    // The first request is acted on and never answered: the worst moment
    // to die. The next server's worker sends it again with the same key.
    let (receiver, url) = receiver(&[Answer::ActThenHang]).await;
    let dir = tempfile::tempdir().unwrap();
    let store = open_store(&dir);
    let message = rejection(7, Some("13812345678"));
    store.enqueue_messages(vec![message.clone()]).await.unwrap();
    let webhook = WebhookConfig { url, bearer_token: None };
    let sender: Arc<dyn Sender> =
        Arc::new(WebhookSender::new(webhook.clone(), Duration::from_secs(600)).unwrap());
    let config = OutboxConfig { timeout_secs: 600, ..OutboxConfig::default() };
    let (_stop, stopped) = tokio::sync::watch::channel(false);
    let first = tokio::spawn(
        Worker::new(store.clone(), sender, RetryPolicy::of(&config))
            .run(clock::Clock::system(), stopped.clone()),
    );
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while receiver.requests().is_empty() {
        assert!(tokio::time::Instant::now() < deadline, "the first worker never sent");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(records(store.as_ref()).await[0].state, OutboxState::Sending);
    // The process dies: its task ends where it is, its store goes with it.
    first.abort();
    let _ = first.await;
    drop(store);

    let store = open_store(&dir);
    assert_eq!(records(store.as_ref()).await[0].state, OutboxState::Sending, "left sending on disk");
    let sender: Arc<dyn Sender> = Arc::new(WebhookSender::new(webhook, Duration::from_secs(5)).unwrap());
    let second = tokio::spawn(
        Worker::new(store.clone(), sender, RetryPolicy::of(&config)).run(clock::Clock::system(), stopped),
    );
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let record = records(store.as_ref()).await.remove(0);
        if record.state == OutboxState::Delivered {
            assert_eq!(record.attempts, 2);
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "the next worker never delivered: {record:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    second.abort();
    let requests = receiver.requests();
    assert_eq!(requests.len(), 2);
    assert!(requests.iter().all(|r| r.headers["idempotency-key"] == message.key.as_str()));
    assert_eq!(receiver.acted()[&message.key], 2, "sent again under the same key, acted on once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refusal_for_good_fails_the_message_at_once_and_repeated_failures_give_up() {
    let script = [
        Answer::Refuse(400, "{\"error\":\"bad phone number\"}"),
        // A gateway says its refusals in a 200's body.
        Answer::Refuse(200, "{\"Code\":\"isv.MOBILE_NUMBER_ILLEGAL\",\"Message\":\"invalid mobile\"}"),
        Answer::Refuse(500, "down"),
        Answer::Refuse(500, "down"),
        Answer::Refuse(500, "down"),
    ];
    let (receiver, url) = receiver(&script).await;
    let dir = tempfile::tempdir().unwrap();
    let store = open_store(&dir);
    store.enqueue_messages((0..3).map(|n| rejection(n, Some("13812345678"))).collect()).await.unwrap();
    let sender: Arc<dyn Sender> = Arc::new(SmsSender::new(sms_config(url), Duration::from_secs(1)).unwrap());
    let worker = Worker::new(store.clone(), sender, policy(2));
    deliver_all(&worker, store.as_ref(), clock::now(), 10).await;
    let done = records(store.as_ref()).await;
    let states: Vec<(OutboxState, u32)> = done.iter().map(|r| (r.state, r.attempts)).collect();
    assert_eq!(states, [(OutboxState::Failed, 1), (OutboxState::Failed, 1), (OutboxState::Failed, 2)]);
    let errors: Vec<&str> = done.iter().map(|r| r.last_error.as_deref().unwrap()).collect();
    assert!(errors[0].contains("400") && errors[0].contains("bad phone number"), "{}", errors[0]);
    assert!(errors[1].contains("isv.MOBILE_NUMBER_ILLEGAL"), "{}", errors[1]);
    assert!(errors[2].contains("gave up after 2 attempts"), "{}", errors[2]);
    assert!(errors.iter().all(|e| !e.contains(ACCESS_KEY)), "no secret in an error");
    assert!(receiver.acted().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_without_a_phone_is_kept_and_never_sent() {
    let (receiver, url) = receiver(&[]).await;
    let dir = tempfile::tempdir().unwrap();
    let store = open_store(&dir);
    store.enqueue_messages(vec![rejection(1, None), rejection(2, Some("  "))]).await.unwrap();
    let sender: Arc<dyn Sender> = Arc::new(SmsSender::new(sms_config(url), Duration::from_secs(1)).unwrap());
    let worker = Worker::new(store.clone(), sender, policy(16));
    assert_eq!(worker.deliver_due(clock::now() + 86_400).await.unwrap().taken, 0);
    let states: Vec<OutboxState> = records(store.as_ref()).await.iter().map(|r| r.state).collect();
    assert_eq!(states, [OutboxState::NoRecipient, OutboxState::NoRecipient]);
    assert!(receiver.requests().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sms_request_is_the_gateways_template_message_shape() {
    let (receiver, url) = receiver(&[]).await;
    let dir = tempfile::tempdir().unwrap();
    let store = open_store(&dir);
    let message = rejection(3, Some("13812345678"));
    store.enqueue_messages(vec![message.clone()]).await.unwrap();
    let sender: Arc<dyn Sender> = Arc::new(SmsSender::new(sms_config(url), Duration::from_secs(1)).unwrap());
    Worker::new(store.clone(), sender, policy(16)).deliver_due(clock::now()).await.unwrap();
    let request = receiver.requests().remove(0);
    assert_eq!(
        request.body,
        serde_json::json!({
            "PhoneNumbers": "13812345678",
            "SignName": "银联商务",
            "TemplateCode": "SMS_901",
            "TemplateParam": { "merchant": "老王便利店", "reason": "营业执照已过期" },
            "OutId": "0190a000-0000-7000-8000-000000000003/application_rejected",
        })
    );
    assert_eq!(request.headers["x-access-key"], ACCESS_KEY);
    assert_eq!(request.headers["idempotency-key"], message.key.as_str());
    assert_eq!(request.headers["content-type"], "application/json");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_webhook_request_is_the_events_json_shape() {
    let (receiver, url) = receiver(&[]).await;
    let dir = tempfile::tempdir().unwrap();
    let store = open_store(&dir);
    let message = rejection(4, Some("13812345678"));
    store.enqueue_messages(vec![message.clone()]).await.unwrap();
    let webhook = WebhookConfig { url, bearer_token: Some(Secret::new("wh-token-58e1".into())) };
    let sender: Arc<dyn Sender> = Arc::new(WebhookSender::new(webhook, Duration::from_secs(1)).unwrap());
    Worker::new(store.clone(), sender, policy(16)).deliver_due(clock::now()).await.unwrap();
    let record = records(store.as_ref()).await.remove(0);
    let request = receiver.requests().remove(0);
    assert_eq!(
        request.body,
        serde_json::json!({
            "idempotency_key": "0190a000-0000-7000-8000-000000000004/application_rejected",
            "event": "application_rejected",
            "event_zh": "复机申请已驳回",
            "visit_id": "0190a000-0000-7000-8000-000000000004",
            "recipient": "13812345678",
            "params": { "merchant": "老王便利店", "reason": "营业执照已过期" },
            "text_zh": "尊敬的老王便利店：您的POS机复机申请未通过，原因：营业执照已过期。如有疑问请联系客服。",
            "created_at": record.created_at,
            "attempt": 1,
        })
    );
    assert_eq!(request.headers["idempotency-key"], message.key.as_str());
    assert_eq!(request.headers["authorization"], "Bearer wh-token-58e1");
}

const PASSWORD: &str = "correct horse battery";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_desk_decision_enqueues_its_message_once_and_the_back_office_shows_how_it_went() {
    let (receiver, url) = receiver(&[Answer::Refuse(400, "{\"error\":\"unknown merchant\"}")]).await;
    let dir = tempfile::tempdir().unwrap();
    let outbox = OutboxConfig {
        sender: OutboxSender::Webhook(WebhookConfig { url, bearer_token: None }),
        ..OutboxConfig::default()
    };
    let config = Config {
        data: dir.path().to_owned(),
        listen: "127.0.0.1:0".parse().unwrap(),
        outbox,
        ..Config::default()
    };
    let running = posfield_sync_server::start(config, false).await.unwrap();
    let state = running.state.clone();
    auth::add_user(state.store.as_ref(), "chen", UserRole::Reviewer, PASSWORD).await.unwrap();

    // An agent's reactivation visit with its application submitted, and one
    // of a merchant without a registered phone.
    let mut ids = Vec::new();
    for phone in [Some("13812345678"), None] {
        let id = uuid::Uuid::now_v7().to_string();
        let mut doc = submitted_application(&id, phone);
        let entry = AuditEntry::new(Some(&id), "wang", "test", "");
        posfield_sync_server::projection::office_create(&state, &mut doc, entry, None).await.unwrap();
        ids.push(id);
    }
    let chen = DeskUser { name: "chen".into(), role: UserRole::Reviewer };
    for id in &ids {
        desk::decide_application(&state, &chen, id, ApplicationState::Rejected, Some("营业执照已过期"))
            .await
            .unwrap();
        // The decision again (a retried request): refused by the visit's
        // rules, and nothing more is enqueued.
        assert!(
            desk::decide_application(&state, &chen, id, ApplicationState::Rejected, Some("x")).await.is_err()
        );
    }
    let (messages, _) = state.store.outbox(10).await.unwrap();
    assert_eq!(messages.len(), 2, "{messages:#?}");
    assert!(messages.iter().all(|m| m.message.event == "application_rejected"));

    // The server's own worker (started by `start`, polling) meets the refusal.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let (messages, _) = state.store.outbox(10).await.unwrap();
        if messages.iter().any(|m| m.state == OutboxState::Failed) {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "never delivered: {messages:#?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(receiver.requests().len(), 1, "the merchant without a phone is not sent to");

    // The page, as a reviewer: the failure, its error, the masked phone.
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let base = format!("http://{}", running.addr);
    let login = http
        .post(format!("{base}/office/login"))
        .form(&[("user", "chen"), ("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    let cookie = login.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_owned();
    let page = http.get(format!("{base}/office/outbox")).header("cookie", &cookie).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let page = page.text().await.unwrap();
    for shown in [
        "发送失败（已放弃）",
        "无注册手机号（不发送）",
        "138****5678",
        "unknown merchant",
        "复机申请已驳回",
        "营业执照已过期",
        &ids[0],
    ] {
        assert!(page.contains(shown), "the page shows {shown:?}");
    }
    assert!(!page.contains("13812345678"), "the phone is masked");
    let visits = http
        .get(format!("{base}/office/visits"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(visits.contains("href=\"/office/outbox\""), "the navigation links the outbox");
    running.stop().await.unwrap();
}
