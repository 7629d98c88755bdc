//! Trust: the server believes only what a principal may say, and the
//! evidence cannot be rewritten. One test per finding of the review of the
//! landed server as an attacker would approach it (a phone turned against
//! the company, a reviewer trying admin actions, a stranger without
//! credentials), against a real `posfield-server` process on 127.0.0.1.
//!
//! Each test asserts the secure behaviour and is red until its fix lands:
//! `cargo test --workspace --locked --test trust -- --ignored` shows them.
//! Each also shows, in the same run, that the honest counterpart of its
//! attack works, so that a red test means the attack got through and not
//! that the harness is broken. Where the exact answer is open (a status
//! code, a refusal code) the test's doc comment states the contract chosen
//! and the assertions hold to what matters: what is stored and shown.
//!
//! - `evidence`: what a phone may change in a visit by a push or on the sync websocket, and who is recorded as having done it.
//! - `roles`: the desk's actions through the JSON API, by role.
//! - `abuse`: guessing, slots, memory and the audit table against many requests.
//! - `smaller`: CSV exports, sessions, blob uploads, logs, revoked devices.

mod abuse;
mod evidence;
mod roles;
mod smaller;

use posfield_core::Agent;
use posfield_core::sync::SyncReport;
use posfield_e2e::ServerProcess;
use posfield_e2e::hostile::HostilePhone;
use posfield_e2e::story::{merchant, open, repair_visit};
use posfield_shared::protocol::EnrollResponse;
use posfield_shared::{VisitId, VisitKind};

/// The back office's administrator.
const ADMIN: &str = "zhou";
/// A back-office reviewer.
const REVIEWER: &str = "chen";

/// Device time of the forged edits, a day after the honest ones.
const FORGED_AT: i64 = 1_795_086_400_000;

/// A server with an administrator and a reviewer, and agent wang's phone
/// (a real agent core) enrolled.
struct World {
    dir: tempfile::TempDir,
    server: ServerProcess,
    wang: Agent,
    wang_enrolled: EnrollResponse,
}

fn world() -> World {
    let dir = tempfile::tempdir().unwrap();
    let server = ServerProcess::start(&dir.path().join("server"));
    server.add_user(ADMIN, "admin");
    server.add_user(REVIEWER, "reviewer");
    let mut wang = open(&dir.path().join("wang"));
    let wang_enrolled = wang.enroll(&server.base, &server.enrolment_code("wang"), "华为 Mate 60").unwrap();
    World { dir, server, wang, wang_enrolled }
}

impl World {
    /// Wang's credential in a modified copy of the app on the same phone.
    fn wang_phone(&self) -> HostilePhone {
        HostilePhone::sharing(&self.server, &self.wang_enrolled, self.wang.device_id())
    }

    /// A whole agent core for another agent, enrolled.
    fn agent(&self, name: &str) -> Agent {
        let mut agent = open(&self.dir.path().join(name));
        agent.enroll(&self.server.base, &self.server.enrolment_code(name), "phone").unwrap();
        agent
    }

    /// The visit as the office's JSON API shows it to the administrator.
    fn office_visit(&self, id: &str) -> (u16, serde_json::Value) {
        self.server.office_get(ADMIN, &format!("api/v1/office/visits/{id}"))
    }

    /// The visit as the office shows it, which must answer.
    fn shown(&self, id: &str) -> serde_json::Value {
        let (status, body) = self.office_visit(id);
        assert_eq!(status, 200, "the office's view of visit {id}: {body}");
        body
    }

    /// The administrator's review decision through the JSON API.
    fn review(&self, id: &str, decision: &str) -> (u16, serde_json::Value) {
        let note = (decision == "return").then_some("请补充");
        self.server.office_post(
            ADMIN,
            &format!("api/v1/office/visits/{id}/review"),
            &serde_json::json!({ "decision": decision, "note": note }),
        )
    }

    /// The audit log as the administrator reads it (all of it, or one visit's).
    fn audit(&self, visit: Option<&str>) -> Vec<serde_json::Value> {
        let path = match visit {
            Some(id) => format!("api/v1/office/audit?visit={id}"),
            None => "api/v1/office/audit".to_owned(),
        };
        let (status, body) = self.server.office_get(ADMIN, &path);
        assert_eq!(status, 200, "the audit log: {body}");
        body.as_array().cloned().unwrap_or_default()
    }

    /// A visit created at the desk by `user` for `agent`; the status and the answer.
    fn desk_create(&self, user: &str, kind: &str, merchant: &str, agent: &str) -> (u16, serde_json::Value) {
        self.server.office_post(
            user,
            "api/v1/office/visits",
            &serde_json::json!({ "kind": kind, "merchant": merchant, "agent": agent }),
        )
    }

    /// A visit assigned at the desk by `user`; the status and the answer.
    fn desk_assign(&self, user: &str, id: &str, agent: &str) -> (u16, serde_json::Value) {
        self.server.office_post(
            user,
            &format!("api/v1/office/visits/{id}/assign"),
            &serde_json::json!({ "agent": agent }),
        )
    }

    /// An inspection wang starts and syncs.
    fn synced_inspection(&mut self) -> VisitId {
        let id = self.wang.create_visit(VisitKind::Inspection, &merchant("老王便利店")).unwrap().id;
        self.sync_wang();
        id
    }

    /// A whole repair visit wang completes, signs and syncs.
    fn synced_repair(&mut self) -> VisitId {
        let id = repair_visit(&mut self.wang);
        self.sync_wang();
        id
    }

    /// Wang's phone syncs, which must succeed.
    fn sync_wang(&mut self) -> SyncReport {
        sync(&mut self.wang)
    }
}

fn sync(agent: &mut Agent) -> SyncReport {
    agent.sync(&mut |_| {}).unwrap()
}

/// The texts of a shown visit's notes.
fn notes(shown: &serde_json::Value) -> Vec<String> {
    shown["visit"]["notes"]
        .as_array()
        .map(|notes| notes.iter().filter_map(|n| n["text"].as_str().map(str::to_owned)).collect())
        .unwrap_or_default()
}

/// A visit id from the office API's JSON.
fn id_of(body: &serde_json::Value) -> VisitId {
    body["id"].as_str().expect("an id").parse().expect("a visit id")
}
