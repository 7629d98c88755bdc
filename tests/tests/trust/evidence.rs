//! What a phone's push may change in a visit, and who is recorded as having
//! done it: garbage, file names where hashes belong, edits after approval,
//! forged history and authorship, moved signatures, borrowed device ids,
//! borrowed actor ids, writes through the sync websocket, and approvals of
//! what is not complete.

use posfield_e2e::hostile::{Desk, Forge, HostilePhone, SERVER_ACTOR_ID};
use posfield_e2e::story::{merchant, repair_visit, strokes};
use posfield_shared::visit::schema::{
    Acceptance, BlobRef, HistoryEvent, Note, ReviewDecision, Stamp, StepState,
};
use posfield_shared::visit::{AcceptanceSummary, BlobInfo, SignatureInput, VisitDoc};
use posfield_shared::vocab::{DocumentKind, IdentificationMethod, RepairPlan, WarrantyStatus};
use posfield_shared::{Actor, BlobHash, FaultCode, Remedy, Timestamp, VisitKind, VisitStatus};

use posfield_core::sync::version_headers;
use posfield_shared::protocol::{APP_VERSION_HEADER, PROTOCOL_VERSION_HEADER};

use super::{ADMIN, FORGED_AT, id_of, notes, world};

/// Five bytes that start like an automerge document and end at once.
const GARBAGE: [u8; 5] = [0x85, 0x6f, 0x4a, 0x83, 0x01];

/// A push of bytes that are not automerge changes, on a base the server
/// never had, is refused for that visit alone (contract: the outcome
/// `refused: "unreadable"` with no heads) and nothing of it is stored: the
/// visit reads as before in the office's JSON API, its review and
/// assignment still answer, and the agent's next edits sync. For a visit
/// the agent created and for one created at the desk and assigned to it.
#[test]
fn garbage_push_is_refused_and_the_visit_stays_readable() {
    let mut w = world();
    let own = w.wang.create_visit(VisitKind::Inspection, &merchant("老王便利店")).unwrap().id;
    w.wang.add_note(&own, "第一次").unwrap();
    let (status, body) = w.desk_create(ADMIN, "inspection", "张姐水果店", "wang");
    assert_eq!(status, 201, "{body}");
    let desk = id_of(&body);
    w.sync_wang();
    // The honest push was stored and reads back.
    assert_eq!(notes(&w.shown(own.as_str())), ["第一次"]);
    assert_eq!(w.shown(desk.as_str())["visit"]["merchant"]["name"], "张姐水果店");

    let phone = w.wang_phone();
    for id in [own.as_str(), desk.as_str()] {
        let outcome = phone.push_one(id, vec!["ab".repeat(32)], GARBAGE.to_vec());
        assert!(
            outcome.refused.is_some() && outcome.heads.is_empty(),
            "five bytes of garbage on an invented base were taken into visit {id}: {outcome:?}"
        );
    }
    for id in [&own, &desk] {
        w.wang.add_note(id, "之后的记录").unwrap();
    }
    w.sync_wang();
    for id in [&own, &desk] {
        let shown = w.shown(id.as_str());
        assert!(notes(&shown).contains(&"之后的记录".to_owned()), "{shown}");
        let (status, body) = w.desk_assign(ADMIN, id.as_str(), "wang");
        assert_eq!(status, 200, "the assignment of {id} after the garbage: {body}");
    }
}

/// A reference in a visit document (here the signature image's
/// `sha256`) is a file name only once it is checked to be a SHA-256: the
/// server never opens a path a phone wrote there. Contract: the push is
/// refused (`refused: "bad_reference"`), or stored without the reference
/// being followed; either way the certificate never embeds a file from
/// outside the blob folder, and a one-character value gets an answer (a
/// refusal or a certificate without the image), not a dropped connection.
#[test]
fn the_server_never_opens_a_file_a_phone_names() {
    let mut w = world();
    let desk = Desk::sign_in(&w.server, ADMIN);
    // The honest certificate embeds the signature image from the blob folder.
    let honest = w.synced_repair();
    let certificate = |id: &str| {
        let (status, pdf) = desk.get_bytes(&format!("office/visits/{id}/certificate.pdf"));
        (status, pdf.windows(4).any(|window| window == b"/Im1"))
    };
    assert_eq!(certificate(honest.as_str()), (200, true), "the honest certificate with its signature image");

    // A signature image outside the server's data folder, named by its path.
    let outside = w.dir.path().join("outside");
    std::fs::create_dir_all(&outside).unwrap();
    let secret = outside.join("not-a-blob.png");
    std::fs::write(&secret, strokes().render_png().unwrap().0).unwrap();
    let phone = w.wang_phone();
    let mut failures = Vec::new();
    for (name, reference) in
        [("absolute path", secret.display().to_string()), ("one character", "x".to_owned())]
    {
        let (id, mut forge) =
            phone.new_visit(name, VisitKind::Inspection, "路径商店", FORGED_AT, b"modified-phone");
        forge.rewrite(FORGED_AT + 1000, |visit| {
            let summary = AcceptanceSummary::of(visit, Timestamp(FORGED_AT)).canonical_json();
            visit.acceptance = Some(Acceptance {
                signer_name: "王老板".into(),
                signed_at: Timestamp(FORGED_AT),
                signature: BlobRef {
                    sha256: reference.clone(),
                    mime: "image/png".into(),
                    bytes: 1,
                    width: 1,
                    height: 1,
                },
                strokes_sha256: "0".repeat(64),
                content_hash: AcceptanceSummary::hash_of(&summary),
                summary_json: summary,
                device_signature: None,
                stamp: Stamp { by: phone.actor(), at: Timestamp(FORGED_AT) },
            });
        });
        let outcome = phone.push(vec![forge.pushed(&id)]).remove(0);
        let answered = desk.try_get_bytes(&format!("office/visits/{id}/certificate.pdf"));
        // Every case is tried before any fails, so a later one is reached
        // even while an earlier one is broken.
        match answered {
            Ok((status, pdf)) if pdf.windows(4).any(|window| window == b"/Im1") => failures.push(format!(
                "the server opened {reference:?}, a file a phone named, and put it in the certificate \
                 (push {outcome:?}, certificate {status})"
            )),
            Ok(_) => {}
            Err(error) => failures.push(format!(
                "the certificate of a visit naming {name} {reference:?} dropped the connection: {error}"
            )),
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
    assert_eq!(certificate(honest.as_str()), (200, true), "the server still serves the honest certificate");
}

/// After approval the evidence is frozen for agents: a push that changes
/// the merchant and the address and empties the history (removing the
/// administrator's review entry) leaves the visit as approved. Contract:
/// the push is refused (`refused: "frozen"`) or its changes to frozen
/// fields are reverted by the server; what matters is the visit shown.
#[test]
fn approved_evidence_is_frozen_for_agents() {
    let mut w = world();
    let id = repair_visit(&mut w.wang);
    w.wang.add_note(&id, "审核前的补充").unwrap();
    w.sync_wang();
    // Before approval the agent's edits are taken.
    assert!(notes(&w.shown(id.as_str())).contains(&"审核前的补充".to_owned()));
    let (status, body) = w.review(id.as_str(), "approve");
    assert_eq!(status, 200, "{body}");
    w.sync_wang();

    let phone = w.wang_phone();
    let mut forge = Forge::load(&w.wang.visit_document(&id).unwrap(), b"modified-phone");
    forge.rewrite(FORGED_AT, |visit| {
        visit.merchant.name = "别家商店".into();
        visit.merchant.address = Some("伪造的地址".into());
        visit.history.clear();
    });
    let outcome = phone.push(vec![forge.pushed(id.as_str())]).remove(0);
    let shown = w.shown(id.as_str());
    let visit = &shown["visit"];
    let reviews_in_history =
        visit["history"].as_array().map_or(0, |h| h.iter().filter(|e| e["action"] == "review").count());
    assert!(
        visit["merchant"]["name"] == "老王便利店"
            && visit["merchant"]["address"].is_null()
            && reviews_in_history == 1
            && visit["status"] == "approved",
        "an agent rewrote an approved visit (push {outcome:?}): merchant {}, address {}, review entries in \
         the history {reviews_in_history}, status {}",
        visit["merchant"]["name"],
        visit["merchant"]["address"],
        visit["status"]
    );
}

/// An honest agent's offline edit that meets an approval: wang adds a note
/// to a completed visit without signal while the reviewer approves it. At
/// wang's next sync the server stores the visit with the note put back,
/// writes an audit row naming what it put back, and wang's sync report
/// says so in words; wang's phone then holds the visit as approved.
#[test]
fn an_offline_edit_that_meets_an_approval_is_put_back_and_the_agent_told() {
    let mut w = world();
    let id = w.synced_repair();
    w.wang.add_note(&id, "离线时补充的说明").unwrap();
    let (status, body) = w.review(id.as_str(), "approve");
    assert_eq!(status, 200, "{body}");

    let report = w.sync_wang();
    let shown = w.shown(id.as_str());
    assert_eq!(shown["visit"]["status"], "approved");
    assert!(notes(&shown).is_empty(), "the note reached the approved visit: {:?}", notes(&shown));
    let told = report.put_back.iter().find(|p| p.visit == id.as_str());
    let told = told.unwrap_or_else(|| panic!("wang was not told: {report:?}"));
    assert!(told.fields.contains(&"notes".to_owned()), "{told:?}");
    assert!(told.message.contains("备注") && told.message.contains("已通过"), "{told:?}");
    let restored = w.audit(Some(id.as_str()));
    assert!(
        restored.iter().any(|row| row["action"] == "restored_office_fields"
            && row["detail"].as_str().is_some_and(|d| d.contains("notes"))),
        "no audit row for what was put back: {restored:?}"
    );
    // The phone follows the server: the visit is approved there, without the note.
    let visit = w.wang.visit(&id).unwrap();
    assert_eq!(visit.status, VisitStatus::Approved);
    assert!(visit.notes.is_empty(), "{:?}", visit.notes);
}

/// Who created a visit and who did what in it is the server's to record:
/// a visit a phone sends names the phone's agent as its creator and in
/// every history entry, whatever the document claims. Contract: the push
/// of a document whose `created.by` or history names someone else is
/// refused (`refused: "forged_author"`), or the server records the
/// authenticated agent; the office never shows the administrator as having
/// created or reviewed it.
#[test]
fn history_and_authorship_are_the_servers_to_record() {
    let mut w = world();
    let honest = w.synced_inspection();
    let shown = w.shown(honest.as_str());
    assert_eq!(shown["visit"]["created"]["by"]["user"], "wang", "the honest visit's creator");

    let phone = w.wang_phone();
    let admin = Actor::admin(ADMIN, "back-office");
    let (id, mut forge) =
        phone.new_visit("forged author", VisitKind::Inspection, "伪造商店", FORGED_AT, b"modified-phone");
    forge.rewrite(FORGED_AT + 1000, |visit| {
        visit.created.by = admin.clone();
        visit.history.push(HistoryEvent {
            id: "forged-review".into(),
            action: "review".into(),
            detail: format!("{:?}", ReviewDecision::Approve),
            stamp: Stamp { by: admin.clone(), at: Timestamp(FORGED_AT + 1000) },
        });
    });
    let outcome = phone.push(vec![forge.pushed(&id)]).remove(0);
    let (status, shown) = w.office_visit(&id);
    if status == 404 {
        assert!(outcome.refused.is_some(), "{outcome:?}");
        return;
    }
    assert_eq!(status, 200, "{shown}");
    let visit = &shown["visit"];
    let named_admin: Vec<&serde_json::Value> = visit["history"]
        .as_array()
        .map(|h| h.iter().filter(|e| e["stamp"]["by"]["user"] == ADMIN).collect())
        .unwrap_or_default();
    // Beside what the phone claims, the server records who sent each entry
    // and when it arrived.
    let history = visit["history"].as_array().cloned().unwrap_or_default();
    for entry in &history {
        let receipt = &shown["received"][entry["id"].as_str().unwrap()];
        let sender = if entry["action"] == "restore_office_fields" { "posfield-server" } else { "wang" };
        assert_eq!(receipt["by"], sender, "entry {entry}: receipt {receipt}");
        assert!(receipt["at"].as_i64().is_some_and(|at| at > FORGED_AT), "{receipt}");
    }
    assert!(
        visit["created"]["by"]["user"] == "wang" && named_admin.is_empty(),
        "a phone's claims are shown as the administrator's acts: created by {}, history entries naming {ADMIN}: \
         {named_admin:?}",
        visit["created"]["by"]
    );
}

/// Desk decisions are written by the server into the audit table, which
/// no phone can touch. Contract: one row per decision, its actor the
/// office user's name and its action naming the decision (`create`,
/// `assign`, `review`).
#[test]
fn desk_decisions_are_written_to_the_audit_table() {
    let mut w = world();
    // The audit table answers, and records what the server already records.
    let enrolled = w.audit(None).iter().filter(|row| row["action"] == "enrolled").count();
    assert_eq!(enrolled, 1, "wang's enrolment is audited");
    let (status, body) = w.desk_create(ADMIN, "repair", "张姐水果店", "wang");
    assert_eq!(status, 201, "{body}");
    let created = id_of(&body);
    let (status, body) = w.desk_assign(ADMIN, created.as_str(), "wang");
    assert_eq!(status, 200, "{body}");
    let reviewed = w.synced_repair();
    let (status, body) = w.review(reviewed.as_str(), "return");
    assert_eq!(status, 200, "{body}");

    let decisions: Vec<(String, String)> = [created.as_str(), reviewed.as_str()]
        .iter()
        .flat_map(|id| w.audit(Some(id)))
        .filter(|row| row["actor"] == ADMIN)
        .map(|row| (row["action"].as_str().unwrap_or_default().to_owned(), row["visit"].to_string()))
        .collect();
    for decision in ["create", "assign", "review"] {
        assert!(
            decisions.iter().any(|(action, _)| action.contains(decision)),
            "the desk's {decision} is not in the audit table; rows by {ADMIN}: {decisions:?}"
        );
    }
}

/// The signature binds the merchant's strokes to one summary for good:
/// after approval, a new summary re-signed with another device key of the
/// same agent is not taken. Contract: the push is refused
/// (`refused: "frozen"`); the office keeps showing the summary, hash and
/// merchant the merchant signed.
#[test]
fn a_signature_cannot_be_moved_to_text_the_merchant_never_saw() {
    let mut w = world();
    let id = w.synced_repair();
    let signed = w.shown(id.as_str());
    assert_eq!(signed["device_signature_valid"], true, "the honest signature verifies");
    let (status, body) = w.review(id.as_str(), "approve");
    assert_eq!(status, 200, "{body}");
    w.sync_wang();

    // A second device of wang's, with a key of its own.
    let phone = HostilePhone::enrol(&w.server, "wang", "device-second-phone");
    let key = phone.key.as_ref().unwrap();
    let mut forge = Forge::load(&w.wang.visit_document(&id).unwrap(), b"second-phone");
    forge.rewrite(FORGED_AT, |visit| {
        visit.merchant.name = "另一家商户".into();
        let signed_at = visit.acceptance.as_ref().unwrap().signed_at;
        let summary = AcceptanceSummary::of(visit, signed_at).canonical_json();
        let hash = AcceptanceSummary::hash_of(&summary);
        let acceptance = visit.acceptance.as_mut().unwrap();
        acceptance.device_signature =
            Some(key.sign_acceptance(&hash, &acceptance.strokes_sha256, &acceptance.signature.sha256));
        acceptance.summary_json = summary;
        acceptance.content_hash = hash;
        acceptance.stamp.by = phone.actor();
    });
    let outcome = phone.push(vec![forge.pushed(id.as_str())]).remove(0);
    let shown = w.shown(id.as_str());
    let (was, now) = (&signed["visit"]["acceptance"], &shown["visit"]["acceptance"]);
    assert!(
        now["content_hash"] == was["content_hash"] && shown["visit"]["merchant"]["name"] == "老王便利店",
        "the approved signature now vouches for a summary the merchant never saw (push {outcome:?}): \
         merchant {}, summary {}, device signature valid {}",
        shown["visit"]["merchant"]["name"],
        now["summary_json"],
        shown["device_signature_valid"]
    );
}

/// Signing keys are looked up by the server's id of the device that
/// pushed, never by the id a phone chose: another agent enrolling a phone
/// with the same chosen device id takes nothing over. Contract: that
/// enrolment may be accepted or refused (409); either way wang's next
/// signature verifies with wang's key.
#[test]
fn a_second_enrolment_with_the_same_device_id_cannot_take_over_signatures() {
    let mut w = world();
    let first = w.synced_repair();
    assert_eq!(w.shown(first.as_str())["device_signature_valid"], true, "wang's first signature verifies");

    // The server orders a device id's keys by enrolment time in seconds:
    // li enrols in a later second than wang did.
    let wang_synced = unix_seconds();
    while unix_seconds() <= wang_synced {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let code = w.server.enrolment_code("li");
    let taken = HostilePhone::enrol_with_code(&w.server, &code, w.wang.device_id());
    let second = w.synced_repair();
    let shown = w.shown(second.as_str());
    assert_eq!(
        shown["device_signature_valid"],
        true,
        "after li enrolled a phone under wang's device id ({}), wang's own signature no longer verifies",
        if taken.is_ok() { "accepted" } else { "refused" }
    );
}

fn unix_seconds() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs()
}

/// Each device writes under its own automerge actor: a change under the
/// server's actor id, or under another device's, is refused. Contract:
/// the push outcome `refused: "foreign_actor"`; the server's heads for the
/// visit do not move, and the desk's next change is stored.
#[test]
fn no_phone_writes_under_the_server_actor() {
    let mut w = world();
    let id = w.synced_inspection();
    let (status, body) = w.desk_assign(ADMIN, id.as_str(), "wang");
    assert_eq!(status, 200, "{body}");
    w.wang.add_note(&id, "诚实的记录").unwrap();
    w.sync_wang();
    // The honest phone's change and the desk's are both stored.
    let before = w.shown(id.as_str());
    assert_eq!(notes(&before), ["诚实的记录"]);

    // The desk's change is under its server node's own actor: the phone
    // forges its change under that one, the very actor the server writes
    // under next.
    let document = w.wang.visit_document(&id).unwrap();
    let node = Forge::load(&document, SERVER_ACTOR_ID)
        .actors()
        .into_iter()
        .find(|a| a.starts_with(SERVER_ACTOR_ID) && a.as_slice() != SERVER_ACTOR_ID)
        .expect("the desk's change is under its node's actor");
    let mut forge = Forge::load(&document, &node);
    let wang_actor = forge.actors().into_iter().find(|a| !a.starts_with(SERVER_ACTOR_ID)).unwrap();
    let server = Actor::admin("posfield-server", "server");
    forge.rewrite(FORGED_AT, |visit| {
        visit.notes.push(Note {
            id: "as-the-server".into(),
            text: "以服务器名义写入".into(),
            stamp: Stamp { by: server.clone(), at: Timestamp(FORGED_AT) },
        });
    });
    let outcome = w.wang_phone().push(vec![forge.pushed(id.as_str())]).remove(0);
    let after = w.shown(id.as_str());
    assert!(
        outcome.refused.is_some() && after["heads"] == before["heads"],
        "a phone wrote under the server's actor id: {outcome:?}, notes now {:?}",
        notes(&after)
    );

    // Another device of wang's writing under the first phone's actor.
    let second = HostilePhone::enrol(&w.server, "wang", "device-second-phone");
    let mut forge = Forge::load(&w.wang.visit_document(&id).unwrap(), &wang_actor);
    forge.rewrite(FORGED_AT + 1000, |visit| {
        visit.notes.push(Note {
            id: "as-the-first-phone".into(),
            text: "冒用另一台设备".into(),
            stamp: Stamp { by: second.actor(), at: Timestamp(FORGED_AT + 1000) },
        });
    });
    let outcome = second.push(vec![forge.pushed(id.as_str())]).remove(0);
    let after = w.shown(id.as_str());
    assert!(
        outcome.refused.is_some() && after["heads"] == before["heads"],
        "a phone wrote under another device's actor id: {outcome:?}, notes now {:?}",
        notes(&after)
    );
    let (status, body) = w.desk_assign(ADMIN, id.as_str(), "wang");
    assert_eq!(status, 200, "the desk's next change: {body}");
    // Each refusal says in words whose actor it was, and is audited.
    assert_eq!(outcome.refused.as_deref(), Some("foreign_actor"), "{outcome:?}");
    assert!(outcome.message.as_deref().unwrap_or_default().contains("another device's"), "{outcome:?}");
    let refusals: Vec<String> = w
        .audit(Some(id.as_str()))
        .iter()
        .filter(|row| row["action"] == "foreign_actor")
        .map(|row| row["detail"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert!(
        refusals.len() == 2 && refusals.iter().any(|detail| detail.contains("the server's actor")),
        "{refusals:?}"
    );
}

/// An honest phone enrolled by this server writes under the prefix the
/// enrolment gave, with an actor of its own per process start: visits it
/// edits across two starts sync, and nothing needs binding.
#[test]
fn an_honest_phone_syncs_under_its_prefix_across_process_starts() {
    let mut w = world();
    let prefix = w.wang_enrolled.actor_prefix.clone().expect("the enrolment gives a prefix");
    let hex_of = |bytes: &[u8]| bytes.iter().map(|b| format!("{b:02x}")).collect::<String>();
    let id = w.synced_inspection();
    w.wang.add_note(&id, "第一次启动").unwrap();
    w.sync_wang();
    let first = w.wang.actor_id().to_vec();
    w.wang = posfield_e2e::story::open(&w.dir.path().join("wang"));
    let second = w.wang.actor_id().to_vec();
    w.wang.add_note(&id, "第二次启动").unwrap();
    w.sync_wang();
    assert_eq!(notes(&w.shown(id.as_str())), ["第一次启动", "第二次启动"]);
    for actor in [&first, &second] {
        assert!(actor.len() == 16 && hex_of(actor).starts_with(&prefix), "{actor:?} is not under {prefix}");
    }
    assert_ne!(first, second, "two process starts shared an actor");
    assert_eq!(bound_actors(&w), 0, "an actor under the device's prefix was bound");
}

/// A device enrolled before the server gave prefixes (its phone writes
/// under 16 random bytes per start) still syncs: each actor its pushes
/// bring is bound to it on first use, and is no other device's to write under.
#[test]
fn a_device_enrolled_before_prefixes_syncs_and_its_actors_are_bound_to_it() {
    let mut w = world();
    let db = rusqlite::Connection::open(w.server.data.join("posfield.db")).unwrap();
    db.execute("UPDATE devices SET actor_prefix = NULL", []).unwrap();
    drop(db);
    let phone = w.dir.path().join("wang");
    let forget_prefix = || {
        // The phone's store is encrypted: open it with its key, as an old
        // phone's own code would read it.
        let key = posfield_core::Keystore::load(&posfield_core::KeyFile::beside(&phone)).unwrap().unwrap();
        let db = rusqlite::Connection::open(phone.join("agent.db")).unwrap();
        db.pragma_update(None, "key", key.store_key().pragma_value()).unwrap();
        db.execute("UPDATE settings SET value = '' WHERE key = 'actor_prefix'", []).unwrap();
    };
    forget_prefix();
    w.wang = posfield_e2e::story::open(&phone);
    let id = w.synced_inspection();
    let first = w.wang.actor_id().to_vec();
    w.wang = posfield_e2e::story::open(&phone);
    w.wang.add_note(&id, "老设备的记录").unwrap();
    w.sync_wang();
    assert_eq!(notes(&w.shown(id.as_str())), ["老设备的记录"]);
    assert_eq!(bound_actors(&w), 2, "the two starts' actors are bound to the device");

    let second = HostilePhone::enrol(&w.server, "wang", "device-second-phone");
    let mut forge = Forge::load(&w.wang.visit_document(&id).unwrap(), &first);
    forge.rewrite(FORGED_AT, |visit| {
        visit.merchant.name = "冒用旧设备".into();
    });
    let outcome = second.push(vec![forge.pushed(id.as_str())]).remove(0);
    assert_eq!(outcome.refused.as_deref(), Some("foreign_actor"), "{outcome:?}");
}

/// How many automerge actors the server has bound to devices.
fn bound_actors(w: &super::World) -> i64 {
    let db = rusqlite::Connection::open(w.server.data.join("posfield.db")).unwrap();
    db.query_row("SELECT count(*) FROM actor_bindings", [], |r| r.get(0)).unwrap()
}

/// A phone writes only through pushes, which the server checks; the samod
/// websocket only reads for it. A modified phone that opens a real sync
/// session holding its own version of a visit it may write (the merchant
/// renamed, a note written around the app's operations) changes nothing on
/// the server: the office shows the visit as before, its heads do not move,
/// and the honest phone's next sync brings none of it back. The same holds
/// whichever protocol the phone says it speaks: this app's, which the
/// server shares read-only, or an older one's (protocol 2, and 1, which
/// sends no headers), whose changes the connection holds in memory and
/// never stores. Contract: the session itself may end as it likes; what
/// matters is what is stored.
#[test]
fn a_phone_cannot_write_through_the_websocket() {
    let mut w = world();
    let id = w.synced_inspection();
    w.wang.add_note(&id, "诚实的记录").unwrap();
    w.sync_wang();
    let before = w.shown(id.as_str());
    assert_eq!(notes(&before), ["诚实的记录"]);
    // The websocket reads the visit as the server holds it.
    let phone = w.wang_phone();
    let read = phone
        .sync_socket(id.as_str(), None, version_headers())
        .expect("the visit is read over the websocket");
    assert_eq!(serde_json::json!(read.heads), before["heads"], "the session ends with the server's heads");

    let older = |protocol: &str| {
        vec![
            (APP_VERSION_HEADER.to_owned(), "0.2.0".to_owned()),
            (PROTOCOL_VERSION_HEADER.to_owned(), protocol.to_owned()),
        ]
    };
    let speaking =
        [("this app's protocol", version_headers()), ("protocol 2", older("2")), ("no headers", vec![])];
    let mut failures = Vec::new();
    for (n, (protocol, headers)) in speaking.into_iter().enumerate() {
        let mut forge = Forge::load(&w.wang.visit_document(&id).unwrap(), b"modified-phone");
        let note = format!("through-the-socket-{n}");
        forge.rewrite(FORGED_AT, |visit| {
            visit.merchant.name = "伪造的商店".into();
            visit.notes.push(Note {
                id: note.clone(),
                text: "绕过检查写入".into(),
                stamp: Stamp { by: phone.actor(), at: Timestamp(FORGED_AT) },
            });
        });
        let session = phone.sync_socket(id.as_str(), Some(forge.saved()), headers).map(|synced| synced.heads);
        w.sync_wang();
        let after = w.shown(id.as_str());
        let honest = w.wang.visit(&id).unwrap();
        // Every protocol is tried before any fails.
        if after["heads"] != before["heads"]
            || after["visit"]["merchant"] != before["visit"]["merchant"]
            || notes(&after) != notes(&before)
            || honest.notes.iter().any(|n| n.id == note)
        {
            failures.push(format!(
                "a phone speaking {protocol} wrote through the websocket (session {session:?}): \
                 merchant now {}, notes now {:?}",
                after["visit"]["merchant"]["name"],
                notes(&after)
            ));
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

/// A repair visit with every step recorded and completed by the domain's
/// own operations, whose photo and signature image never reached the
/// server and whose acceptance carries no device signature.
fn unsigned_repair(phone: &HostilePhone) -> (String, Forge) {
    use posfield_shared::visit::{MerchantInput, VisitDoc};
    let id = posfield_e2e::hostile::visit_id_named("unsigned repair");
    let mut n = 0;
    let mut ctx = || {
        n += 1;
        phone.ctx(FORGED_AT + n * 1000, &format!("unsigned-{n}"))
    };
    let actor: &[u8] = b"modified-phone";
    let input = MerchantInput { name: "没签名的商店".into(), ..Default::default() };
    let mut doc =
        VisitDoc::create_visit(&ctx(), actor, &id, VisitKind::Repair, &input, &phone.agent).unwrap();
    let blob = |name: &str, mime: &str| BlobInfo {
        sha256: BlobHash::of(name.as_bytes()).into_string(),
        mime: mime.into(),
        bytes: 1000,
        width: 800,
        height: 600,
    };
    doc.identify_terminal(&ctx(), "N9100007654321", IdentificationMethod::Manual, None, false).unwrap();
    let fault_ctx = ctx();
    doc.add_fault(&fault_ctx, FaultCode::PrinterFault, Some("打印空白")).unwrap();
    doc.add_attempt(&ctx(), &fault_ctx.op_id, Some(Remedy::CheckPaper), Some("纸卷装反"), true).unwrap();
    doc.resolve_fault(&ctx(), &fault_ctx.op_id, true, None).unwrap();
    doc.set_warranty(&ctx(), WarrantyStatus::InWarranty).unwrap();
    doc.attach_document(
        &ctx(),
        &blob("never uploaded photo", "image/jpeg"),
        DocumentKind::PurchaseProof,
        Timestamp(FORGED_AT),
    )
    .unwrap();
    doc.set_repair_plan(&ctx(), RepairPlan::FixedOnSite).unwrap();
    for step in
        ["identify", "fault.classify", "fault.onsite", "warranty", "docs.purchase_proof", "plan", "test"]
    {
        doc.set_step(&ctx(), step, StepState::Done, None, None).unwrap();
    }
    let signature = SignatureInput {
        signer_name: "王老板".into(),
        image: blob("never uploaded signature", "image/png"),
        strokes_sha256: BlobHash::of(b"never uploaded strokes").into_string(),
        device_signature: None,
    };
    doc.sign_acceptance(&ctx(), &signature).unwrap();
    doc.set_step(&ctx(), "acceptance", StepState::Done, None, None).unwrap();
    doc.complete(&ctx()).unwrap();
    (id, Forge::fresh(&doc.save(), actor))
}

/// Approval means complete: approving requires the completion rule to
/// hold on the server (its photos and signature image there) and, where
/// the kind needs a signature, a device signature that verifies. Contract:
/// the review answers 409 with `{"error": "incomplete"}` (or `unsigned`)
/// and says what is missing; the visit is not approved.
#[test]
fn approval_refuses_an_incomplete_or_unsigned_visit() {
    let mut w = world();
    // A complete, signed visit is approved.
    let honest = w.synced_repair();
    let (status, body) = w.review(honest.as_str(), "approve");
    assert_eq!((status, &body["status"]), (200, &serde_json::json!("approved")), "{body}");

    let phone = w.wang_phone();
    let (empty, mut forge) =
        phone.new_visit("empty completed", VisitKind::Repair, "空白商店", FORGED_AT, b"modified-phone");
    forge.rewrite(FORGED_AT + 1000, |visit| {
        visit.status = VisitStatus::Completed;
        visit.completion = Some(Stamp { by: phone.actor(), at: Timestamp(FORGED_AT + 1000) });
    });
    let (unsigned, mut unsigned_forge) = unsigned_repair(&phone);
    let outcomes = phone.push(vec![forge.pushed(&empty), unsigned_forge.pushed(&unsigned)]);
    for (what, id) in
        [("an empty visit pushed as completed", &empty), ("a visit without a device signature", &unsigned)]
    {
        let (status, body) = w.review(id, "approve");
        let (_, shown) = w.office_visit(id);
        assert!(
            status != 200 && shown["visit"]["status"] != "approved",
            "{what} was approved: review {status} {body}, pushes {outcomes:?}"
        );
    }
}

/// The device that signs an acceptance is the device that pushes it: wang's
/// honest visit sent first by wang's second phone (written again under the
/// second phone's own actor, as the first phone's actor is not its to
/// write under) is countersigned as not verified (the first phone's key
/// signed it), and its approval is refused as unsigned, in zh-CN and
/// English; the visit page shows what is missing instead of an approve
/// button, and the visit can still be returned.
#[test]
fn an_acceptance_sent_by_another_device_than_its_signer_is_not_approved() {
    let mut w = world();
    let id = repair_visit(&mut w.wang);
    let second = HostilePhone::enrol(&w.server, "wang", "device-second-phone");
    let mut copied = Forge::fresh(&w.wang.visit_document(&id).unwrap(), b"second-phone");
    let outcome = second.push(vec![copied.pushed(id.as_str())]).remove(0);
    assert_eq!(outcome.refused.as_deref(), Some("foreign_actor"), "the first phone's changes: {outcome:?}");
    let visit = copied.visit();
    let mut rewritten = VisitDoc::create(&visit, b"second-phone", FORGED_AT / 1000).unwrap();
    let mut forge = Forge::fresh(&rewritten.save(), b"second-phone");
    let outcome = second.push(vec![forge.pushed(id.as_str())]).remove(0);
    assert!(outcome.refused.is_none(), "{outcome:?}");
    // The second phone brings the photo and the signature image too; the
    // strokes stay on the first phone, so one blob is missing, which does
    // not stand in the way of an approval (what does is below).
    let acceptance = visit.acceptance.as_ref().map(|a| a.signature.sha256.clone());
    for sha in visit.current_documents().map(|d| d.sha256.clone()).chain(acceptance) {
        let bytes = w.wang.photo_bytes(&id, &BlobHash::parse(&sha).unwrap()).unwrap();
        let (status, body) = second.put_blob(&sha, 0, bytes.len(), &bytes);
        assert!(status < 300, "uploading {sha}: {status} {body}");
    }
    let shown = w.shown(id.as_str());
    assert_eq!(
        (&shown["device_signature_valid"], &shown["blobs_missing"]),
        (&false.into(), &1.into()),
        "{shown}"
    );

    let (status, body) = w.review(id.as_str(), "approve");
    assert_eq!((status, body["error"].as_str()), (409, Some("unsigned")), "{body}");
    let message = body["message"].as_str().unwrap_or_default();
    assert!(message.contains("验收签字") && message.contains("acceptance signature"), "{message}");
    let desk = Desk::sign_in(&w.server, ADMIN);
    let (status, page) = desk.get(&format!("office/visits/{id}"));
    assert_eq!(status, 200);
    assert!(page.contains("id=\"approval-missing\"") && !page.contains("id=\"approve\""), "{page}");
    let (status, body) = w.review(id.as_str(), "return");
    assert_eq!(status, 200, "a visit can be returned whatever its state: {body}");
}

/// A visit whose stored chunks no longer load (here a chunk of garbage put
/// beside its good ones, as pushes stored before they were checked whole)
/// is quarantined: the JSON API and the office page answer 200 with its last
/// good state and a damaged marker, the bad chunk is set aside with an
/// audit row, and the agent's next edits sync onto it.
#[test]
fn a_damaged_visit_is_shown_from_its_last_good_state() {
    let mut w = world();
    let id = w.wang.create_visit(VisitKind::Inspection, &merchant("老王便利店")).unwrap().id;
    w.wang.add_note(&id, "第一次").unwrap();
    w.sync_wang();
    assert_eq!(w.office_visit(id.as_str()).1["damaged"], false);

    let db = rusqlite::Connection::open(w.server.data.join("posfield.db")).unwrap();
    let key: String = db
        .query_row("SELECT key FROM doc_chunks WHERE key LIKE '%/%/%' ORDER BY key LIMIT 1", [], |r| r.get(0))
        .unwrap();
    let prefix = key.split('/').next().unwrap();
    db.execute(
        "INSERT INTO doc_chunks (key, data) VALUES (?1, ?2)",
        rusqlite::params![format!("{prefix}/incremental/{}", "f".repeat(64)), GARBAGE.to_vec()],
    )
    .unwrap();
    drop(db);

    let (status, body) = w.office_visit(id.as_str());
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["damaged"], true, "{body}");
    assert_eq!(notes(&body), ["第一次"]);
    let desk = Desk::sign_in(&w.server, ADMIN);
    let (status, page) = desk.get_bytes(&format!("office/visits/{id}"));
    let page = String::from_utf8_lossy(&page);
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("id=\"damaged\""), "{page}");
    let rows = w.audit(Some(id.as_str()));
    assert_eq!(
        rows.iter().filter(|row| row["action"] == "quarantined_damaged_chunks").count(),
        1,
        "{rows:?}"
    );

    w.wang.add_note(&id, "之后的记录").unwrap();
    w.sync_wang();
    assert!(notes(&w.shown(id.as_str())).contains(&"之后的记录".to_owned()));
}

/// Marks over photos are bounded where the server takes them, not only on
/// an honest phone: a modified phone that pushes more marks than any app
/// makes, or a mark's text of a thousand characters, has the visit refused
/// (`over_bounds`) and nothing of it stored, so the desk never draws them.
#[test]
fn more_marks_or_longer_words_than_any_app_writes_are_refused() {
    use posfield_shared::visit::schema::{Annotation, MAX_ANNOTATIONS, MarkPoint, MarkShape};
    let w = world();
    let phone = w.wang_phone();
    let photo = "a".repeat(64);
    let mark = |i: usize, text: Option<String>| Annotation {
        id: format!("mark-{i}"),
        photo: photo.clone(),
        shape: if text.is_some() { MarkShape::Text.into() } else { MarkShape::Arrow.into() },
        from: MarkPoint { x: 10, y: 10 },
        to: MarkPoint { x: 20, y: 20 },
        text,
        stamp: Stamp { by: phone.actor(), at: Timestamp(FORGED_AT) },
        removed: None,
    };
    for (name, marks) in [
        ("too many marks", (0..=MAX_ANNOTATIONS).map(|i| mark(i, None)).collect::<Vec<_>>()),
        ("a long text", vec![mark(0, Some("裂".repeat(1000)))]),
    ] {
        let (id, mut forge) =
            phone.new_visit(name, VisitKind::Repair, "标注商店", FORGED_AT, b"modified-phone");
        forge.rewrite(FORGED_AT + 1000, |visit| visit.annotations = marks);
        let outcome = phone.push(vec![forge.pushed(&id)]).remove(0);
        assert_eq!(outcome.refused.as_deref(), Some("over_bounds"), "{name}: {outcome:?}");
        let (status, _) = Desk::sign_in(&w.server, ADMIN).get(&format!("office/visits/{id}"));
        assert_eq!(status, 404, "{name}: nothing of it is stored");
    }
}
