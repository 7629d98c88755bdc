//! Documents of every schema version: the saved fixtures in
//! `tests/fixtures/schema/` (one per version this code's predecessors
//! wrote, and the next version's additive and breaking documents) load, and
//! round trips through this version keep every key and code it does not know.
//! The comparisons are of the automerge documents themselves, not only of
//! the typed view, since the typed view cannot show what it drops.

mod common;

use std::path::{Path, PathBuf};

use automerge::transaction::Transactable;
use automerge::{AutoCommit, ROOT};
use common::*;
use posfield_shared::visit::authority::{Field, OfficeFields};
use posfield_shared::visit::schema::Visit;
use posfield_shared::visit::{
    Ctx, DocError, SCHEMA_VERSION, StepState, VisitDoc, VisitError, losses, raw_json,
};
use posfield_shared::vocab::{DocumentKind, Open, SimCarrier, WarrantyStatus};
use posfield_shared::{FaultCode, Remedy, Timestamp};
use serde_json::{Map, Value as Json};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/schema")
}

fn fixture(name: &str) -> Vec<u8> {
    let path = fixtures().join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The fixtures of this version and every older one, oldest first.
fn versions_up_to_this_one() -> Vec<(u64, Vec<u8>)> {
    (1..=SCHEMA_VERSION).map(|version| (version, fixture(&format!("v{version}.automerge")))).collect()
}

/// Every fixture in the folder, by file name.
fn every_fixture() -> Vec<(String, Vec<u8>)> {
    let mut found: Vec<(String, Vec<u8>)> = std::fs::read_dir(fixtures())
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".automerge"))
        .map(|name| {
            let bytes = fixture(&name);
            (name, bytes)
        })
        .collect();
    found.sort();
    found
}

fn dump(bytes: &[u8]) -> Json {
    raw_json(bytes).unwrap()
}

/// Fails with every loss when `after` lost anything `before` held.
fn assert_nothing_lost(name: &str, before: &[u8], after: &[u8]) {
    let found = losses(&dump(before), &dump(after));
    assert!(found.is_empty(), "{name}: {found:?}");
}

/// A device time well after the fixtures were written.
fn later(clock: &mut Clock) -> Ctx {
    clock.now = clock.now.max(1_796_000_000_000);
    clock.ctx(&agent())
}

/// An agent's edits touching the top level, a list and an item of a list
/// whose neighbours hold keys this version does not know.
fn edit_as_an_agent(doc: &mut VisitDoc) -> Result<Visit, VisitError> {
    let mut clock = Clock { now: 1_796_000_000_000, next_id: 900 };
    let fault_id = doc.visit()?.faults[0].id.clone();
    doc.add_attempt(&later(&mut clock), &fault_id, Some(Remedy::Restart), Some("重启后正常"), true)?;
    doc.set_step(&later(&mut clock), "fault.classify", StepState::Done, None, None)?;
    doc.add_note(&later(&mut clock), "旧版本手机上的修改")
}

#[test]
fn every_older_version_has_a_fixture_that_still_loads_and_is_editable() {
    for (version, bytes) in versions_up_to_this_one() {
        let mut doc = VisitDoc::load(&bytes).unwrap_or_else(|e| panic!("v{version}: {e}"));
        let visit = doc.visit().unwrap();
        assert_eq!(visit.merchant.name, "老王便利店", "v{version}");
        assert!(!doc.is_read_only(), "v{version} is editable by this version");
        let edited = edit_as_an_agent(&mut doc).unwrap_or_else(|e| panic!("v{version}: {e}"));
        assert_eq!(edited.written_by, Some(SCHEMA_VERSION), "v{version}: this version wrote it last");
        assert_eq!(edited.schema, 1, "v{version}: an additive writer leaves the edit floor where it was");
        let reloaded = VisitDoc::load(&doc.save()).unwrap().visit().unwrap();
        assert_eq!(reloaded, edited, "v{version}");
    }
}

#[test]
fn loading_and_saving_any_fixture_keeps_every_key_and_value() {
    for (name, bytes) in every_fixture() {
        let mut doc = VisitDoc::load(&bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_nothing_lost(&name, &bytes, &doc.save());
    }
}

#[test]
fn an_agent_edit_keeps_every_key_and_code_this_version_does_not_know() {
    for (name, bytes) in every_fixture().into_iter().filter(|(name, _)| !name.contains("breaking")) {
        let mut doc = VisitDoc::load(&bytes).unwrap();
        edit_as_an_agent(&mut doc).unwrap_or_else(|e| panic!("{name}: {e}"));
        let saved = doc.save();
        assert_nothing_lost(&name, &bytes, &saved);
        let dumped = dump(&saved);
        assert_eq!(dumped["faults"][0]["attempts"].as_array().unwrap().len(), 2, "{name}: the edit is there");
    }
}

#[test]
fn reconciling_the_whole_visit_keeps_keys_this_version_does_not_know() {
    // `VisitDoc` writes only the fields that changed; autosurgeon's whole
    // reconcile is the other path a writer could take, and must keep them too.
    let bytes = fixture(&format!("v{}-additive.automerge", SCHEMA_VERSION + 1));
    let mut raw = AutoCommit::load(&bytes).unwrap();
    let mut visit: Visit = autosurgeon::hydrate(&raw).unwrap();
    visit.merchant.address = Some("长安街 1 号".into());
    visit.faults[0].symptom = Some("屏幕闪烁".into());
    autosurgeon::reconcile(&mut raw, &visit).unwrap();
    raw.commit();
    let mut expected = dump(&bytes);
    expected["merchant"]["address"] = "长安街 1 号".into();
    expected["faults"][0]["symptom"] = "屏幕闪烁".into();
    let found = losses(&expected, &dump(&raw.save()));
    assert!(found.is_empty(), "{found:?}");
}

#[test]
fn codes_and_fields_of_the_next_version_are_read_as_written() {
    let next = SCHEMA_VERSION + 1;
    for (file, read_only) in [("additive", false), ("breaking", true)] {
        let doc = VisitDoc::load(&fixture(&format!("v{next}-{file}.automerge"))).unwrap();
        let visit = doc.visit().unwrap();
        assert_eq!(visit.written_by, Some(next), "{file}");
        assert_eq!(doc.is_read_only(), read_only, "{file}");
        assert_eq!(visit.faults[0].code, Open::<FaultCode>::Unknown("nfc_antenna_fault".into()));
        assert_eq!(
            visit.faults[0].attempts[0].remedy,
            Some(Open::<Remedy>::Unknown("reflash_firmware".into()))
        );
        assert_eq!(visit.documents[0].kind, Open::<DocumentKind>::Unknown("drone_photo".into()));
        assert_eq!(visit.documents[0].kind.en(), "drone_photo (unknown to this version)");
        assert_eq!(visit.sim.as_ref().unwrap().carrier, Open::<SimCarrier>::Unknown("china_broadnet".into()));
        let warranty = &visit.repair.warranty.as_ref().unwrap().value;
        assert_eq!(*warranty, Open::<WarrantyStatus>::Unknown("extended_warranty".into()));
        assert_eq!(visit.step_state("identify").code(), "verified_twice");
    }
}

/// Every kind of write on a document this version may only read.
type Write = fn(&mut VisitDoc, &mut Clock, &str) -> Result<Visit, VisitError>;

/// Gives each case's closure its type.
fn write(write: Write) -> Write {
    write
}

#[rstest::rstest]
#[case::a_note(write(|d, c, _| d.add_note(&c.ctx(&agent()), "改一下")))]
#[case::a_step(write(|d, c, _| d.set_step(&c.ctx(&agent()), "identify", StepState::Skipped, Some("无法识别"), None)))]
#[case::a_fault(write(|d, c, _| d.add_fault(&c.ctx(&agent()), FaultCode::PrinterFault, None)))]
#[case::an_attempt(write(|d, c, f| d.add_attempt(&c.ctx(&agent()), f, Some(Remedy::Restart), None, true)))]
#[case::a_photo(write(|d, c, _| d.attach_document(&c.ctx(&agent()), &photo("new"), DocumentKind::Other, Timestamp(1))))]
#[case::a_warranty(write(|d, c, _| d.set_warranty(&c.ctx(&agent()), WarrantyStatus::Lost)))]
#[case::a_cancellation(write(|d, c, _| d.cancel(&c.ctx(&reviewer()), "商户取消")))]
#[case::an_assignment(write(|d, c, _| d.assign(&c.ctx(&reviewer()), "zhao")))]
#[case::a_restored_office_field(write(|d, c, _| {
    let mut trusted = OfficeFields::of(&d.visit()?);
    trusted.assignment.agent = "zhao".into();
    d.restore_office_fields(&c.ctx(&reviewer()), &trusted, &[Field::Assignment], None)
}))]
fn every_write_to_a_document_this_version_may_only_read_is_refused_in_words(#[case] write: Write) {
    let bytes = fixture(&format!("v{}-breaking.automerge", SCHEMA_VERSION + 1));
    let mut doc = VisitDoc::load(&bytes).unwrap();
    let heads = doc.heads();
    let fault_id = doc.visit().unwrap().faults[0].id.clone();
    let mut clock = Clock { now: 1_796_000_000_000, next_id: 700 };
    let error = write(&mut doc, &mut clock, &fault_id).unwrap_err();
    assert!(
        matches!(error, VisitError::Document(DocError::NewerSchema { found, supported })
            if found == SCHEMA_VERSION + 1 && supported == SCHEMA_VERSION),
        "{error}"
    );
    assert!(error.to_string().contains("written by a newer version of the app"), "{error}");
    assert!(error.to_string().contains("update the app to change it"), "{error}");
    assert_eq!(doc.heads(), heads, "nothing was written");
    assert_nothing_lost("refused write", &bytes, &doc.save());
}

#[test]
fn concurrent_version_markers_merge_to_the_highest() {
    let bytes = fixture(&format!("v{SCHEMA_VERSION}.automerge"));
    let mark = |actor: &[u8], written_by: u64, floor: u64| {
        let mut raw = AutoCommit::load(&bytes).unwrap().with_actor(automerge::ActorId::from(actor));
        raw.put(ROOT, "written_by", written_by).unwrap();
        raw.put(ROOT, "schema", floor).unwrap();
        raw.commit();
        VisitDoc::load(&raw.save()).unwrap()
    };
    // Either actor id may win automerge's pick: both orders are tried.
    for (first, second) in [(&b"aaaa"[..], &b"ffff"[..]), (&b"ffff"[..], &b"aaaa"[..])] {
        let mut newer = mark(first, SCHEMA_VERSION + 3, 1);
        let mut other = mark(second, SCHEMA_VERSION + 1, SCHEMA_VERSION + 1);
        newer.merge(&mut other).unwrap();
        let visit = newer.visit().unwrap();
        assert_eq!(visit.written_by, Some(SCHEMA_VERSION + 3));
        assert_eq!(visit.schema, SCHEMA_VERSION + 1);
        assert!(newer.is_read_only(), "the higher edit floor holds after the merge");
    }
}

#[rstest::rstest]
#[case::the_newest_writer_lowered(Some(SCHEMA_VERSION), 1, true)]
#[case::the_newest_writer_removed(None, 1, true)]
#[case::the_edit_floor_lowered(Some(SCHEMA_VERSION + 1), 0, true)]
#[case::both_kept(Some(SCHEMA_VERSION + 1), 1, false)]
#[case::both_raised(Some(SCHEMA_VERSION + 2), 2, false)]
fn a_lowered_version_marker_is_put_back_like_a_forged_office_field(
    #[case] written_by: Option<u64>,
    #[case] floor: u64,
    #[case] forged: bool,
) {
    let doc = VisitDoc::load(&fixture(&format!("v{}-additive.automerge", SCHEMA_VERSION + 1))).unwrap();
    let trusted = OfficeFields::of(&doc.visit().unwrap());
    let mut changed = doc.visit().unwrap();
    changed.written_by = written_by;
    changed.schema = floor;
    let found = trusted.forged(&changed);
    assert_eq!(found.contains(&Field::Versions), forged, "{found:?}");
    trusted.put_back(&mut changed, &found);
    assert!(changed.written_by >= trusted.written_by && changed.schema >= trusted.schema);
}

#[test]
fn the_next_versions_fixtures_differ_from_this_versions_only_where_a_newer_app_wrote() {
    let next = SCHEMA_VERSION + 1;
    let current = dump(&fixture(&format!("v{SCHEMA_VERSION}.automerge")));
    let additive = dump(&fixture(&format!("v{next}-additive.automerge")));
    let mut unknown = Map::new();
    for (key, value) in additive.as_object().unwrap() {
        if current.get(key).is_none() {
            unknown.insert(key.clone(), value.clone());
        }
    }
    assert_eq!(
        Json::Object(unknown),
        serde_json::json!({ "inspection_window": { "from": "2027-01-01", "to": "2027-01-31" } })
    );
    assert_eq!(additive["faults"][0]["severity"], "high");
}

/// The loss check itself, so a round trip that drops something cannot pass.
#[rstest::rstest]
#[case::a_dropped_key(r#"{"a": {"b": 1}}"#, r#"{"a": {}}"#, &[".a.b was dropped"])]
#[case::a_changed_code(r#"{"kind": "drone_photo"}"#, r#"{"kind": "other"}"#, &[".kind changed from \"drone_photo\" to \"other\""])]
#[case::a_shortened_list(r#"{"l": [1, 2]}"#, r#"{"l": [1]}"#, &[".l lost items"])]
#[case::an_added_key_or_item_is_not_a_loss(r#"{"l": [1]}"#, r#"{"l": [1, 2], "new": true}"#, &[])]
fn a_loss_is_found_wherever_it_is(#[case] before: &str, #[case] after: &str, #[case] expected: &[&str]) {
    let parse = |text: &str| serde_json::from_str::<Json>(text).unwrap();
    assert_eq!(losses(&parse(before), &parse(after)), expected);
}

/// Every field of a visit reaches the document: `write_changes` writes
/// each top-level field whole or item by item, and a field it does not
/// name would be silently left out of every save.
#[test]
fn every_field_of_a_visit_is_written() {
    use posfield_shared::visit::document::{ITEM_FIELDS, WHOLE_FIELDS};
    let doc = VisitDoc::load(&fixture(&format!("v{SCHEMA_VERSION}.automerge"))).unwrap();
    let json = serde_json::to_value(doc.visit().unwrap()).unwrap();
    let keys: std::collections::BTreeSet<&str> =
        json.as_object().unwrap().keys().map(String::as_str).collect();
    let written: std::collections::BTreeSet<&str> =
        WHOLE_FIELDS.iter().chain(&ITEM_FIELDS).copied().collect();
    assert_eq!(keys, written);
}
