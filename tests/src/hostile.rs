//! A phone, a reviewer and a stranger that turned against the company: the
//! tools the trust tests attack a real server with.
//!
//! [`HostilePhone`] enrols over HTTP the way a phone does, with a device id
//! and a key of its own choosing, or borrows an honest phone's credential.
//! It pushes what a modified phone could send: visit documents written with
//! the domain's operations under any actor and any stamp ([`Forge`]), raw
//! field values written around those operations, invented bases, garbage
//! bytes and hand-made CBOR bodies. It opens the samod websocket with a raw
//! handshake and holds it idle ([`RawSocket`]), or syncs a document of its
//! own making over it in a real sync session ([`HostilePhone::sync_socket`]). [`Desk`] is a browser at the
//! back office's pages; the JSON API is [`ServerProcess::office_get`] and
//! [`ServerProcess::office_post`].

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use automerge::transaction::CommitOptions;
use automerge::{AutoCommit, ChangeHash};
use posfield_core::signature::DeviceKey;
use posfield_shared::protocol::{
    EnrollRequest, EnrollResponse, PUSH_MEDIA_TYPE, PushOutcome, PushRequest, PushResponse, PushedVisit,
    decode_cbor, encode_cbor,
};
use posfield_shared::visit::{Ctx, MerchantInput, Visit, VisitDoc};
use posfield_shared::{Actor, BlobHash, Timestamp, VisitKind};
use posfield_sync_link_client::LinkError;
use posfield_sync_link_client::session::{Endpoint, Session, Synced};
use reqwest::blocking::Client;

use crate::{ServerProcess, server_binary};

/// The start of every automerge actor id a server node writes its own
/// changes under (`posfield_sync_server::projection::SERVER_ACTOR_ID`,
/// followed by `/` and the node's random bytes; a phone sees one in every
/// document the back office touched).
pub const SERVER_ACTOR_ID: &[u8] = b"posfield-server";

/// A device the tests control byte for byte.
pub struct HostilePhone {
    http: Client,
    base: String,
    /// The agent the credential belongs to.
    pub agent: String,
    /// The device id the phone chose and stamps on its edits.
    pub client_device_id: String,
    /// The credential the server issued.
    pub token: String,
    /// The server's id of the device (for `revoke-device`).
    pub server_device_id: String,
    /// The samod peer id the server knows the device by.
    pub peer: String,
    /// The device key registered at enrolment; `None` when the credential
    /// is borrowed from another phone.
    pub key: Option<DeviceKey>,
}

impl std::fmt::Debug for HostilePhone {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HostilePhone")
            .field("agent", &self.agent)
            .field("client_device_id", &self.client_device_id)
            .finish_non_exhaustive()
    }
}

/// A device key derived from a name: reproducible, and distinct per name.
pub fn key_named(name: &str) -> DeviceKey {
    let hex = BlobHash::of(name.as_bytes()).into_string();
    let mut secret = [0u8; 32];
    for (i, byte) in secret.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).expect("hex");
    }
    DeviceKey::from_secret(secret)
}

impl HostilePhone {
    /// Enrols a new device for `agent` with the device id it chooses and a
    /// key of its own, as `POST /api/v1/enroll` allows any phone to.
    pub fn enrol(server: &ServerProcess, agent: &str, client_device_id: &str) -> HostilePhone {
        let code = server.enrolment_code(agent);
        Self::enrol_with_code(server, &code, client_device_id).unwrap_or_else(|(status, body)| {
            panic!("enrolling {client_device_id} for {agent}: {status} {body}")
        })
    }

    /// Enrols with a given code; the refusal's status and JSON body when refused.
    pub fn enrol_with_code(
        server: &ServerProcess,
        code: &str,
        client_device_id: &str,
    ) -> Result<HostilePhone, (u16, serde_json::Value)> {
        let key = key_named(&format!("{}|{client_device_id}|{code}", server.base));
        let request = EnrollRequest {
            code: code.to_owned(),
            device_id: client_device_id.to_owned(),
            device_name: "modified phone".into(),
            public_key: key.public_hex(),
            previous_token: None,
        };
        let http = Client::new();
        let response =
            http.post(server.url("api/v1/enroll")).json(&request).send().expect("the server answers");
        let status = response.status().as_u16();
        if status != 200 {
            return Err((status, response.json().unwrap_or_default()));
        }
        let enrolled: EnrollResponse = response.json().expect("an enrolment answer");
        Ok(HostilePhone {
            http,
            base: server.base.clone(),
            agent: enrolled.agent,
            client_device_id: client_device_id.to_owned(),
            token: enrolled.token,
            server_device_id: enrolled.device_id,
            peer: enrolled.peer,
            key: Some(key),
        })
    }

    /// The credential of an honest phone (`enrolled`, whose device id is
    /// `client_device_id`), in the hands of a modified copy of its app.
    pub fn sharing(
        server: &ServerProcess,
        enrolled: &EnrollResponse,
        client_device_id: &str,
    ) -> HostilePhone {
        HostilePhone {
            http: Client::new(),
            base: server.base.clone(),
            agent: enrolled.agent.clone(),
            client_device_id: client_device_id.to_owned(),
            token: enrolled.token.clone(),
            server_device_id: enrolled.device_id.clone(),
            peer: enrolled.peer.clone(),
            key: None,
        }
    }

    /// This phone's agent as the domain stamps it.
    pub fn actor(&self) -> Actor {
        Actor::agent(&self.agent, &self.client_device_id)
    }

    /// An operation context for this phone's agent at device time `at` (ms).
    pub fn ctx(&self, at: i64, op: &str) -> Ctx {
        Ctx::new(self.actor(), Timestamp(at), op)
    }

    fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path.trim_start_matches('/'))
    }

    /// A new visit written with the domain's own creation, stamped as this
    /// phone's agent at device time `at` (ms), under automerge actor
    /// `actor`; its id is derived from `name`.
    pub fn new_visit(
        &self,
        name: &str,
        kind: VisitKind,
        merchant: &str,
        at: i64,
        actor: &[u8],
    ) -> (String, Forge) {
        let id = visit_id_named(name);
        let input = MerchantInput { name: merchant.to_owned(), ..Default::default() };
        let mut doc = VisitDoc::create_visit(
            &self.ctx(at, &format!("{name}-create")),
            actor,
            &id,
            kind,
            &input,
            &self.agent,
        )
        .expect("a new visit");
        (id, Forge::fresh(&doc.save(), actor))
    }

    /// Posts raw bytes as a push body; the status and the answer's bytes.
    pub fn push_raw(&self, body: Vec<u8>) -> (u16, Vec<u8>) {
        let response = self
            .http
            .post(self.url("api/v1/sync/push"))
            .bearer_auth(&self.token)
            .header("content-type", PUSH_MEDIA_TYPE)
            .body(body)
            .send()
            .expect("the server answers a push");
        let status = response.status().as_u16();
        (status, response.bytes().map(|b| b.to_vec()).unwrap_or_default())
    }

    /// Pushes visits; the server's outcome for each (the request as a whole must be answered 200).
    pub fn push(&self, visits: Vec<PushedVisit>) -> Vec<PushOutcome> {
        let (status, body) = self.push_raw(encode_cbor(&PushRequest { visits }));
        assert_eq!(status, 200, "the push as a whole: {}", String::from_utf8_lossy(&body));
        decode_cbor::<PushResponse>(&body).expect("a push answer").visits
    }

    /// Pushes one visit: `bytes` on top of the server's `base` heads.
    pub fn push_one(&self, id: &str, base: Vec<String>, bytes: Vec<u8>) -> PushOutcome {
        let mut outcomes = self.push(vec![PushedVisit { id: id.to_owned(), base, bytes: bytes.into() }]);
        assert_eq!(outcomes.len(), 1, "{outcomes:?}");
        outcomes.remove(0)
    }

    /// `GET /api/v1/blobs/{sha}/status`: the status and the JSON body.
    pub fn blob_status(&self, sha: &str) -> (u16, serde_json::Value) {
        let response = self
            .http
            .get(self.url(&format!("api/v1/blobs/{sha}/status")))
            .bearer_auth(&self.token)
            .send()
            .expect("the server answers");
        (response.status().as_u16(), response.json().unwrap_or_default())
    }

    /// `PUT /api/v1/blobs/{sha}?offset=N` of `body`, declaring `total` bytes.
    pub fn put_blob(&self, sha: &str, offset: usize, total: usize, body: &[u8]) -> (u16, serde_json::Value) {
        let response = self
            .http
            .put(self.url(&format!("api/v1/blobs/{sha}?offset={offset}")))
            .bearer_auth(&self.token)
            .header("x-blob-size", total.to_string())
            .body(body.to_vec())
            .send()
            .expect("the server answers");
        (response.status().as_u16(), response.json().unwrap_or_default())
    }

    /// Opens the samod websocket with this phone's credential and says
    /// nothing on it.
    pub fn open_socket(&self) -> Result<RawSocket, String> {
        let addr = self.base.trim_start_matches("http://").trim_end_matches('/').to_owned();
        RawSocket::open(&addr, "/api/v1/sync/ws", &self.token)
    }

    /// Syncs visit `id` in a real sync session (the samod websocket, as the
    /// app opens it, with the version `headers` of the upgrade request)
    /// holding `document` (saved bytes of the phone's own making), or
    /// holding nothing, to fetch the server's. The session's answer: the
    /// document and heads it ended with.
    pub fn sync_socket(
        &self,
        id: &str,
        document: Option<Vec<u8>>,
        headers: Vec<(String, String)>,
    ) -> Result<Synced, LinkError> {
        let endpoint = self.endpoint(headers);
        socket_runtime().block_on(async {
            let seeds = document.map(|bytes| vec![(id.to_owned(), bytes)]).unwrap_or_default();
            let session = Session::open(&endpoint, seeds).await?;
            let synced = session.sync(id, &[], Duration::from_secs(30)).await;
            session.close().await;
            synced
        })
    }
}

impl HostilePhone {
    /// The sync websocket of this phone's server, as this phone, with the
    /// version `headers` of the upgrade request.
    fn endpoint(&self, headers: Vec<(String, String)>) -> Endpoint {
        let addr = self.base.trim_start_matches("http://").trim_end_matches('/');
        Endpoint {
            url: format!("ws://{addr}/api/v1/sync/ws").parse().expect("a websocket URL"),
            token: self.token.clone(),
            peer: self.peer.clone(),
            headers,
            connect_timeout: Duration::from_secs(10),
        }
    }

    /// Pulls visit `id` in a real sync session (holding nothing), keeps the
    /// connection open while `meanwhile` runs (on a thread of its own: it
    /// may make blocking requests, such as the desk's), and waits up to
    /// `limit` for the server to send a change of the visit on that open
    /// connection. The document the session then holds, and how long after
    /// `meanwhile` returned the change arrived.
    pub fn watch_socket(
        &self,
        id: &str,
        meanwhile: impl FnOnce() + Send + 'static,
        limit: Duration,
    ) -> Result<(Synced, Duration), LinkError> {
        let endpoint = self.endpoint(Vec::new());
        socket_runtime().block_on(async {
            let session = Session::open(&endpoint, Vec::new()).await?;
            let pulled = session.sync(id, &[], Duration::from_secs(30)).await?;
            tokio::task::spawn_blocking(meanwhile).await.expect("the desk's work");
            let started = std::time::Instant::now();
            let changed = session.changed(id, &pulled.heads, limit).await;
            let elapsed = started.elapsed();
            session.close().await;
            changed.map(|synced| (synced, elapsed))
        })
    }
}

/// A runtime for one sync session of a test's phone.
fn socket_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("a runtime")
}

/// A visit document written the way a modified phone can: with the
/// domain's operations under any actor and stamp, or around them, any field
/// set to any value. It remembers the heads it started from, so that what
/// it pushes is the changes since the server's state.
pub struct Forge {
    doc: AutoCommit,
    base: Vec<ChangeHash>,
}

impl std::fmt::Debug for Forge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Forge").field("base", &self.base).finish_non_exhaustive()
    }
}

impl Forge {
    /// A document from saved bytes (the server's state, as a phone holds
    /// it after a sync), written from now on under automerge actor `actor`.
    pub fn load(bytes: &[u8], actor: &[u8]) -> Forge {
        let mut doc =
            AutoCommit::load(bytes).expect("a saved document").with_actor(automerge::ActorId::from(actor));
        let base = doc.get_heads();
        Forge { doc, base }
    }

    /// A document with no base: everything in it is new to the server.
    pub fn fresh(bytes: &[u8], actor: &[u8]) -> Forge {
        let mut forge = Forge::load(bytes, actor);
        forge.base.clear();
        forge
    }

    /// The typed visit the document holds now.
    pub fn visit(&self) -> Visit {
        autosurgeon::hydrate(&self.doc).expect("a readable visit")
    }

    /// Rewrites any fields of the visit, as one change at device time `at_ms`:
    /// no operation, no rule, no history entry unless `edit` writes one.
    pub fn rewrite(&mut self, at_ms: i64, edit: impl FnOnce(&mut Visit)) {
        let mut visit = self.visit();
        edit(&mut visit);
        autosurgeon::reconcile(&mut self.doc, &visit).expect("the visit is written");
        self.doc
            .commit_with(CommitOptions::default().with_message("edit".to_owned()).with_time(at_ms / 1000));
    }

    /// The heads the document started from, as the protocol names them.
    pub fn base(&self) -> Vec<String> {
        hex_heads(&self.base)
    }

    /// The whole document as it stands, saved.
    pub fn saved(&mut self) -> Vec<u8> {
        self.doc.save()
    }

    /// The changes since the base (the whole document when it has none).
    pub fn changes(&mut self) -> Vec<u8> {
        if self.base.is_empty() { self.doc.save() } else { self.doc.save_after(&self.base) }
    }

    /// The push of these changes for visit `id`.
    pub fn pushed(&mut self, id: &str) -> PushedVisit {
        PushedVisit { id: id.to_owned(), base: self.base(), bytes: self.changes().into() }
    }

    /// The actor ids of every change in the document, oldest first, deduplicated.
    pub fn actors(&mut self) -> Vec<Vec<u8>> {
        let mut actors: Vec<Vec<u8>> = Vec::new();
        for change in self.doc.get_changes(&[]) {
            let actor = change.actor_id().to_bytes().to_vec();
            if !actors.contains(&actor) {
                actors.push(actor);
            }
        }
        actors
    }
}

/// A visit id (a lowercase hyphenated UUID) derived from `name`.
pub fn visit_id_named(name: &str) -> String {
    let hex = BlobHash::of(name.as_bytes()).into_string();
    format!("{}-{}-7{}-8{}-{}", &hex[..8], &hex[8..12], &hex[12..15], &hex[15..18], &hex[18..30])
}

fn hex_heads(heads: &[ChangeHash]) -> Vec<String> {
    let mut heads: Vec<String> = heads.iter().map(ToString::to_string).collect();
    heads.sort();
    heads
}

/// A push body of `count` visits with an empty id, base and document each,
/// written by hand so that the test itself never holds them decoded.
pub fn push_of_empty_entries(count: u32) -> Vec<u8> {
    let entry = PushedVisit { id: String::new(), base: Vec::new(), bytes: Vec::new().into() };
    let one = encode_cbor(&PushRequest { visits: vec![entry.clone()] });
    let two = encode_cbor(&PushRequest { visits: vec![entry.clone(), entry] });
    let entry_bytes = &two[one.len()..];
    let prefix = &one[..one.len() - entry_bytes.len()];
    let (outer, list) = prefix.split_at(prefix.len() - 1);
    assert_eq!(list, [0x81], "a one-entry list is CBOR array(1)");
    let mut body = outer.to_vec();
    body.push(0x9a); // array, 32-bit length
    body.extend_from_slice(&count.to_be_bytes());
    body.reserve(entry_bytes.len() * count as usize);
    for _ in 0..count {
        body.extend_from_slice(entry_bytes);
    }
    body
}

/// A websocket opened with a raw HTTP/1.1 handshake and never spoken on.
#[derive(Debug)]
pub struct RawSocket {
    stream: TcpStream,
    buffer: Vec<u8>,
}

impl RawSocket {
    /// Opens `path` on `addr` with a bearer credential; the HTTP status line
    /// and body when the server does not switch protocols.
    pub fn open(addr: &str, path: &str, token: &str) -> Result<RawSocket, String> {
        let mut stream = TcpStream::connect(addr).map_err(|e| e.to_string())?;
        // A handshake left unanswered counts as refused: a server that makes
        // extra sockets wait is not holding them open for this device.
        stream.set_read_timeout(Some(Duration::from_secs(5))).map_err(|e| e.to_string())?;
        let request = format!(
            "GET {path} HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\
             Authorization: Bearer {token}\r\n\r\n"
        );
        stream.write_all(request.as_bytes()).map_err(|e| e.to_string())?;
        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            match stream.read(&mut byte) {
                Ok(1) => head.push(byte[0]),
                Ok(_) => {
                    return Err(format!("closed during the handshake: {}", String::from_utf8_lossy(&head)));
                }
                Err(e) => return Err(format!("the handshake: {e}")),
            }
        }
        let head = String::from_utf8_lossy(&head).into_owned();
        if !head.starts_with("HTTP/1.1 101") {
            return Err(head.lines().next().unwrap_or_default().to_owned());
        }
        Ok(RawSocket { stream, buffer: Vec::new() })
    }

    /// Whether the server closes the connection (a close frame, or the end
    /// of the stream) within `limit`; frames of other kinds are skipped.
    pub fn closed_within(&mut self, limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        let mut chunk = [0u8; 4096];
        loop {
            if self.close_frame_received() {
                return true;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            let _ = self.stream.set_read_timeout(Some(left.min(Duration::from_millis(200))));
            match self.stream.read(&mut chunk) {
                Ok(0) => return true,
                Ok(n) => self.buffer.extend_from_slice(&chunk[..n]),
                Err(e)
                    if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {}
                Err(_) => return true,
            }
        }
    }

    /// Consumes whole frames from the buffer; true at a close frame.
    fn close_frame_received(&mut self) -> bool {
        loop {
            let Some(&[first, second]) = self.buffer.get(..2) else { return false };
            let (mut header, mut length) = (2usize, u64::from(second & 0x7f));
            if length == 126 {
                let Some(bytes) = self.buffer.get(2..4) else { return false };
                length = u64::from(u16::from_be_bytes([bytes[0], bytes[1]]));
                header = 4;
            } else if length == 127 {
                let Some(bytes) = self.buffer.get(2..10) else { return false };
                length = u64::from_be_bytes(bytes.try_into().expect("8 bytes"));
                header = 10;
            }
            if second & 0x80 != 0 {
                header += 4;
            }
            let end = header + length as usize;
            if self.buffer.len() < end {
                return false;
            }
            self.buffer.drain(..end);
            if first & 0x0f == 0x8 {
                return true;
            }
        }
    }
}

/// A browser at the back office's pages: signed in, the session cookie
/// kept by hand, no redirects followed.
#[derive(Debug)]
pub struct Desk {
    http: Client,
    base: String,
    /// The session cookie (`name=value`).
    pub cookie: String,
}

impl Desk {
    /// Signs in with the test password.
    pub fn sign_in(server: &ServerProcess, user: &str) -> Desk {
        Self::sign_in_with(server, user, crate::TEST_PASSWORD).expect("the sign-in succeeds")
    }

    /// Signs in; the status when refused.
    pub fn sign_in_with(server: &ServerProcess, user: &str, password: &str) -> Result<Desk, u16> {
        let http = Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("a client");
        let response = http
            .post(server.url("office/login"))
            .form(&[("user", user), ("password", password)])
            .send()
            .expect("the server answers");
        if response.status().as_u16() != 303 {
            return Err(response.status().as_u16());
        }
        let set_cookie = response.headers()["set-cookie"].to_str().expect("a cookie").to_owned();
        let cookie = set_cookie.split(';').next().unwrap_or_default().to_owned();
        Ok(Desk { http, base: server.base.clone(), cookie })
    }

    /// GET a page; the status and the body.
    pub fn get(&self, path: &str) -> (u16, String) {
        let response = self
            .http
            .get(format!("{}{}", self.base, path.trim_start_matches('/')))
            .header("cookie", &self.cookie)
            .send()
            .expect("the server answers");
        (response.status().as_u16(), response.text().unwrap_or_default())
    }

    /// GET a file; the status and the bytes, or why no answer came.
    pub fn try_get_bytes(&self, path: &str) -> Result<(u16, Vec<u8>), String> {
        let response = self
            .http
            .get(format!("{}{}", self.base, path.trim_start_matches('/')))
            .header("cookie", &self.cookie)
            .send()
            .map_err(|e| e.to_string())?;
        let status = response.status().as_u16();
        let bytes = response.bytes().map_err(|e| e.to_string())?;
        Ok((status, bytes.to_vec()))
    }

    /// GET a file, which must be answered; the status and the bytes.
    pub fn get_bytes(&self, path: &str) -> (u16, Vec<u8>) {
        self.try_get_bytes(path).unwrap_or_else(|e| panic!("GET {path}: {e}"))
    }

    /// POST a form; the status and the body.
    pub fn post(&self, path: &str, form: &[(&str, &str)]) -> (u16, String) {
        let response = self
            .http
            .post(format!("{}{}", self.base, path.trim_start_matches('/')))
            .header("cookie", &self.cookie)
            .form(form)
            .send()
            .expect("the server answers");
        (response.status().as_u16(), response.text().unwrap_or_default())
    }

    /// The session's CSRF token, from a page's sign-out form.
    pub fn csrf(&self) -> String {
        let (status, page) = self.get("office/visits");
        assert_eq!(status, 200, "the visit list");
        let marker = "name=\"csrf\" value=\"";
        let start = page.find(marker).expect("a CSRF field") + marker.len();
        page[start..].split('"').next().unwrap_or_default().to_owned()
    }
}

/// Sets a back-office user's role and password with the server's CLI.
pub fn set_user(data: &Path, name: &str, role: &str, password: &str) {
    let output = Command::new(server_binary())
        .arg("--data")
        .arg(data)
        .args(["add-user", name, "--role", role])
        .env("POSFIELD_PASSWORD", password)
        .output()
        .expect("posfield-server runs");
    assert!(output.status.success(), "add-user {name}: {}", String::from_utf8_lossy(&output.stderr));
}

/// The peak resident memory of a process so far, in KiB (Linux's `VmHWM`).
pub fn peak_rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("the process's status");
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("a VmHWM line")
}
