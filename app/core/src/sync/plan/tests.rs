//! The planner's rules as tables: each case is the phone's state and a
//! script of the steps the planner must take, each with what the executor
//! saw carrying it out; the case's name is the rule it proves.

use std::collections::{BTreeMap, BTreeSet};

use posfield_shared::protocol::{ManifestEntry, ManifestResponse, PushOutcome};
use rstest::rstest;

use super::*;

/// Drives a planner from `phone` through `script` and checks every step.
fn check(phone: PhoneState, script: Vec<(&str, Vec<Observation>)>) {
    let mut planner = Planner::new(&phone);
    let mut taken = Vec::new();
    for (expected, observations) in script {
        let step = render(&planner.next_step());
        taken.push(step.clone());
        assert_eq!(step, expected, "steps so far: {taken:#?}");
        for observation in observations {
            planner.observe(observation);
        }
    }
    // A finished plan stays finished.
    let last = taken.last().cloned().unwrap_or_default();
    assert_eq!(render(&planner.next_step()), last, "after the end");
}

fn render(step: &Step) -> String {
    let list = |items: Vec<String>| items.join(", ");
    match step {
        Step::Manifest { uploads_pending: false } => "manifest".into(),
        Step::Manifest { uploads_pending: true } => "manifest, uploads pending".into(),
        Step::Push(pushes) => format!(
            "push {}",
            list(
                pushes
                    .iter()
                    .map(|p| match &p.body {
                        PushBody::Whole => format!("{} whole", p.id),
                        PushBody::ChangesSince(base) => format!("{} since {}", p.id, base.join("+")),
                    })
                    .collect()
            )
        ),
        Step::Exchange(visits) => format!(
            "exchange {}",
            list(
                visits
                    .iter()
                    .map(|v| if v.seed {
                        format!("{}@{}", v.id, v.heads.join("+"))
                    } else {
                        format!("{} (new)", v.id)
                    })
                    .collect()
            )
        ),
        Step::Upload(blobs) => format!("upload {}", list(blobs.iter().map(|b| b.sha256.clone()).collect())),
        Step::Pause(wait) => format!("pause {} ms", wait.as_millis()),
        Step::Renew => "renew the credential".into(),
        Step::MarkSynced(visits) => {
            format!(
                "mark {}",
                list(
                    visits
                        .iter()
                        .map(|v| {
                            let wait = if v.photos_wait { " (photos wait)" } else { "" };
                            format!("{}@{}{wait}", v.id, v.heads.join("+"))
                        })
                        .collect()
                )
            )
        }
        Step::Finish(Ok(report)) => {
            format!(
                "synced: {} round(s){}, {} visit(s) ({} new), {} blob(s) of {} bytes{}",
                report.rounds,
                if report.already_in_sync { ", already in sync" } else { "" },
                report.visits_synced,
                report.visits_received,
                report.blobs_uploaded,
                report.blob_bytes_sent,
                if report.credential_renewed { ", credential renewed" } else { "" },
            ) + &match (report.photos_waiting_for_wifi, report.visits_waiting_for_photos) {
                (0, 0) => String::new(),
                (photos, visits) => format!(", {photos} photo(s) of {visits} visit(s) waiting for Wi-Fi"),
            }
        }
        Step::Finish(Err(error)) => format!("{}: {error}", error.code()),
    }
}

/// The phone: visits waiting (with the blobs they refer to), blobs the server confirmed, blobs held.
fn phone(waiting: &[(&str, &[&str])], confirmed: &[&str], held: &[(&str, u64)]) -> PhoneState {
    PhoneState {
        waiting: waiting
            .iter()
            .map(|(id, blobs)| (id.to_string(), blobs.iter().map(|b| b.to_string()).collect::<BTreeSet<_>>()))
            .collect(),
        confirmed: confirmed.iter().map(|b| b.to_string()).collect(),
        held: held.iter().map(|(b, size)| (b.to_string(), *size)).collect(),
        photos_wait: false,
    }
}

/// The phone on mobile data with "photos on Wi-Fi only" on.
fn on_mobile_data(mut phone: PhoneState) -> PhoneState {
    phone.photos_wait = true;
    phone
}

/// The manifest's answer, with the server asking for a wipe.
fn wipe_asked(mut manifest: Observation) -> Observation {
    if let Observation::Manifest { answer, .. } = &mut manifest {
        answer.wipe = true;
    }
    manifest
}

fn heads(visits: &[(&str, &str)]) -> BTreeMap<String, String> {
    visits.iter().map(|(id, heads)| (id.to_string(), heads.to_string())).collect()
}

/// The manifests differ; the server holds `server`.
fn differ(phone: &[(&str, &str)], server: &[(&str, &str)]) -> Observation {
    let visits =
        server.iter().map(|(id, heads)| ManifestEntry { id: id.to_string(), heads: heads.to_string() });
    Observation::Manifest {
        phone: heads(phone),
        answer: ManifestResponse {
            in_sync: false,
            visits: visits.collect(),
            missing_blobs: Vec::new(),
            credential_expires_in: None,
            personal_photo_days: None,
            wipe: false,
            rotate_device_key: false,
        },
        held: BTreeMap::new(),
    }
}

/// The manifests agree; the server lacks `missing`, of which the phone holds those with a size.
fn agree(phone: &[(&str, &str)], missing: &[(&str, Option<u64>)]) -> Observation {
    Observation::Manifest {
        phone: heads(phone),
        answer: ManifestResponse {
            in_sync: true,
            visits: Vec::new(),
            missing_blobs: missing.iter().map(|(sha, _)| sha.to_string()).collect(),
            credential_expires_in: None,
            personal_photo_days: None,
            wipe: false,
            rotate_device_key: false,
        },
        held: missing.iter().filter_map(|(sha, size)| size.map(|s| (sha.to_string(), s))).collect(),
    }
}

/// A manifest answer saying the credential has `days` left.
fn expiring_in(days: i64, mut manifest: Observation) -> Observation {
    if let Observation::Manifest { answer, .. } = &mut manifest {
        answer.credential_expires_in = Some(days * 24 * 3600);
    }
    manifest
}

fn renewed(outcome: Result<(), SyncError>) -> Observation {
    Observation::Renewed { outcome }
}

fn stored(ids: &[&str]) -> Observation {
    Observation::Pushed {
        sent: ids.iter().map(|id| id.to_string()).collect(),
        outcomes: ids.iter().map(|id| PushOutcome::stored(id, vec!["s".into()])).collect(),
    }
}

fn cannot_push(id: &str) -> Observation {
    Observation::CannotPush { id: id.to_owned() }
}

fn exchanged(id: &str) -> Observation {
    Observation::Exchanged { id: id.to_owned(), outcome: Ok(()) }
}

fn uploaded(sha: &str, bytes: u64) -> Observation {
    Observation::Uploaded { sha256: sha.to_owned(), outcome: Ok(bytes) }
}

fn upload_failed(sha: &str, error: SyncError) -> Observation {
    Observation::Uploaded { sha256: sha.to_owned(), outcome: Err(error) }
}

fn offline() -> SyncError {
    SyncError::Offline("connection reset".into())
}

fn refusal(status: u16, code: &str) -> SyncError {
    SyncError::Refused { status, code: code.into(), message: "no".into() }
}

#[rstest]
#[case::equal_manifests_take_one_round_trip_and_mark_every_visit_synced(
    phone(&[], &[], &[]),
    vec![
        ("manifest", vec![agree(&[("v1", "a"), ("v2", "b,c")], &[])]),
        ("mark v1@a, v2@b+c", vec![]),
        ("synced: 1 round(s), already in sync, 0 visit(s) (0 new), 0 blob(s) of 0 bytes", vec![]),
    ],
)]
#[case::a_credential_with_a_year_left_is_not_renewed(
    phone(&[], &[], &[]),
    vec![
        ("manifest", vec![expiring_in(365, agree(&[("v1", "a")], &[]))]),
        ("mark v1@a", vec![]),
        ("synced: 1 round(s), already in sync, 0 visit(s) (0 new), 0 blob(s) of 0 bytes", vec![]),
    ],
)]
#[case::a_credential_with_less_than_a_month_left_is_renewed_before_anything_goes(
    phone(&[("v1", &[])], &[], &[]),
    vec![
        ("manifest", vec![expiring_in(29, differ(&[("v1", "a")], &[]))]),
        ("renew the credential", vec![renewed(Ok(()))]),
        ("push v1 whole", vec![stored(&["v1"])]),
        ("manifest", vec![expiring_in(365, agree(&[("v1", "a")], &[]))]),
        ("mark v1@a", vec![]),
        ("synced: 2 round(s), 1 visit(s) (0 new), 0 blob(s) of 0 bytes, credential renewed", vec![]),
    ],
)]
#[case::a_renewal_is_asked_once_a_sync_even_when_it_failed(
    phone(&[("v1", &[])], &[], &[]),
    vec![
        ("manifest", vec![expiring_in(3, differ(&[("v1", "a")], &[]))]),
        ("renew the credential", vec![renewed(Err(SyncError::Interrupted("cut".into())))]),
        ("push v1 whole", vec![stored(&["v1"])]),
        ("manifest", vec![expiring_in(3, agree(&[("v1", "a")], &[]))]),
        ("mark v1@a", vec![]),
        ("synced: 2 round(s), 1 visit(s) (0 new), 0 blob(s) of 0 bytes", vec![]),
    ],
)]
#[case::a_renewal_refused_for_a_revoked_credential_ends_the_sync_and_marks_nothing(
    phone(&[("v1", &[])], &[], &[]),
    vec![
        ("manifest", vec![expiring_in(3, agree(&[("v1", "a")], &[]))]),
        ("renew the credential", vec![renewed(Err(SyncError::CredentialRevoked))]),
        ("credential_revoked: this phone's credential was revoked; enrol it again with a new code (every change stays on the phone)", vec![]),
    ],
)]
#[case::an_app_too_old_for_the_server_ends_the_sync_at_the_manifest_and_marks_nothing(
    phone(&[("v1", &["p1"])], &[], &[("p1", 10)]),
    vec![
        ("manifest, uploads pending", vec![Observation::Failed(SyncError::AppTooOld { minimum: Some("0.2.0".into()) })]),
        ("app_too_old: this app is too old for the server: update the app to 0.2.0 or later to sync; every change stays on the phone", vec![]),
    ],
)]
#[case::a_visit_the_server_lacks_is_pushed_whole(
    phone(&[("v1", &[])], &[], &[]),
    vec![
        ("manifest", vec![differ(&[("v1", "a")], &[])]),
        ("push v1 whole", vec![stored(&["v1"])]),
        ("manifest", vec![agree(&[("v1", "a")], &[])]),
        ("mark v1@a", vec![]),
        ("synced: 2 round(s), 1 visit(s) (0 new), 0 blob(s) of 0 bytes", vec![]),
    ],
)]
#[case::a_visit_the_server_has_an_older_state_of_goes_as_the_changes_since_its_heads(
    phone(&[("v1", &[])], &[], &[]),
    vec![
        ("manifest", vec![differ(&[("v1", "b"), ("v2", "x")], &[("v1", "a"), ("v2", "x")])]),
        ("push v1 since a", vec![stored(&["v1"])]),
        ("manifest", vec![agree(&[("v1", "b"), ("v2", "x")], &[])]),
        ("mark v1@b, v2@x", vec![]),
        ("synced: 2 round(s), 1 visit(s) (0 new), 0 blob(s) of 0 bytes", vec![]),
    ],
)]
#[case::a_visit_only_the_server_has_is_exchanged_through_samod_unseeded(
    phone(&[], &[], &[]),
    vec![
        ("manifest", vec![differ(&[], &[("v9", "z")])]),
        ("exchange v9 (new)", vec![exchanged("v9")]),
        ("manifest", vec![agree(&[("v9", "z")], &[])]),
        ("mark v9@z", vec![]),
        ("synced: 2 round(s), 1 visit(s) (1 new), 0 blob(s) of 0 bytes", vec![]),
    ],
)]
#[case::a_visit_whose_server_heads_the_phone_lacks_is_pulled_then_pushed_and_counted_once(
    phone(&[("v1", &[]), ("v2", &[])], &[], &[]),
    vec![
        ("manifest", vec![differ(&[("v1", "b"), ("v2", "c")], &[("v1", "r"), ("v2", "a")])]),
        ("push v1 since r, v2 since a", vec![cannot_push("v1"), stored(&["v2"])]),
        ("exchange v1@b", vec![exchanged("v1")]),
        // The pull brought the server's changes in (the phone now holds r
        // under m); the server took none of the phone's, which go up next.
        ("manifest", vec![differ(&[("v1", "m"), ("v2", "c")], &[("v1", "r"), ("v2", "c")])]),
        ("push v1 since r", vec![stored(&["v1"])]),
        ("manifest", vec![agree(&[("v1", "m"), ("v2", "c")], &[])]),
        ("mark v1@m, v2@c", vec![]),
        ("synced: 3 round(s), 2 visit(s) (0 new), 0 blob(s) of 0 bytes", vec![]),
    ],
)]
#[case::blobs_go_up_once_the_documents_agree_and_the_server_is_asked_again(
    phone(&[("v1", &["b1", "b2"])], &[], &[("b1", 10), ("b2", 20)]),
    vec![
        ("manifest, uploads pending", vec![differ(&[("v1", "a")], &[])]),
        ("push v1 whole", vec![stored(&["v1"])]),
        ("manifest, uploads pending", vec![agree(&[("v1", "a")], &[])]),
        ("upload b1, b2", vec![uploaded("b1", 10), uploaded("b2", 20)]),
        ("manifest", vec![agree(&[("v1", "a")], &[])]),
        ("mark v1@a", vec![]),
        ("synced: 3 round(s), 1 visit(s) (0 new), 2 blob(s) of 30 bytes", vec![]),
    ],
)]
#[case::confirmed_blobs_blobs_not_held_and_blobs_of_synced_visits_stay_put(
    phone(&[("v1", &["b1", "b2", "b3"])], &["b1"], &[("b1", 10), ("b2", 20), ("b4", 40)]),
    vec![
        ("manifest, uploads pending", vec![agree(&[("v1", "a"), ("v2", "s")], &[])]),
        ("upload b2", vec![uploaded("b2", 20)]),
        ("manifest", vec![agree(&[("v1", "a"), ("v2", "s")], &[])]),
        ("mark v1@a, v2@s", vec![]),
        ("synced: 2 round(s), 0 visit(s) (0 new), 1 blob(s) of 20 bytes", vec![]),
    ],
)]
#[case::blobs_go_four_at_a_time(
    phone(&[("v1", &["b1", "b2", "b3", "b4", "b5"])], &[], &[("b1", 1), ("b2", 1), ("b3", 1), ("b4", 1), ("b5", 1)]),
    vec![
        ("manifest, uploads pending", vec![agree(&[("v1", "a")], &[])]),
        ("upload b1, b2, b3, b4", vec![uploaded("b1", 1), uploaded("b2", 1), uploaded("b3", 1), uploaded("b4", 1)]),
        ("upload b5", vec![uploaded("b5", 1)]),
        ("manifest", vec![agree(&[("v1", "a")], &[])]),
        ("mark v1@a", vec![]),
        ("synced: 2 round(s), 0 visit(s) (0 new), 5 blob(s) of 5 bytes", vec![]),
    ],
)]
#[case::a_blob_the_server_lost_is_sent_again_though_the_phone_had_it_confirmed(
    phone(&[], &[], &[]),
    vec![
        ("manifest", vec![agree(&[("v1", "a")], &[("b7", Some(70)), ("b8", None)])]),
        ("upload b7", vec![uploaded("b7", 70)]),
        ("mark v1@a", vec![]),
        ("synced: 1 round(s), 0 visit(s) (0 new), 1 blob(s) of 70 bytes", vec![]),
    ],
)]
#[case::on_mobile_data_the_documents_go_and_the_photos_wait_for_wifi_with_their_visits_unsynced(
    on_mobile_data(phone(&[("v1", &["b1", "b2"]), ("v2", &[])], &[], &[("b1", 10), ("b2", 20)])),
    vec![
        ("manifest, uploads pending", vec![differ(&[("v1", "a"), ("v2", "b")], &[])]),
        ("push v1 whole, v2 whole", vec![stored(&["v1", "v2"])]),
        // Pending: the server need not list the photos the phone keeps.
        ("manifest, uploads pending", vec![agree(&[("v1", "a"), ("v2", "b")], &[])]),
        ("mark v1@a (photos wait), v2@b", vec![]),
        ("synced: 2 round(s), 2 visit(s) (0 new), 0 blob(s) of 0 bytes, 2 photo(s) of 1 visit(s) waiting for Wi-Fi", vec![]),
    ],
)]
#[case::on_mobile_data_photos_the_server_confirmed_before_keep_nothing_waiting(
    on_mobile_data(phone(&[("v1", &["b1"])], &["b1"], &[("b1", 10)])),
    vec![
        ("manifest", vec![agree(&[("v1", "a")], &[])]),
        ("mark v1@a", vec![]),
        ("synced: 1 round(s), already in sync, 0 visit(s) (0 new), 0 blob(s) of 0 bytes", vec![]),
    ],
)]
#[case::a_wipe_asked_sends_the_photos_waiting_for_wifi_on_any_network(
    on_mobile_data(phone(&[("v1", &["b1"])], &[], &[("b1", 10)])),
    vec![
        ("manifest, uploads pending", vec![wipe_asked(agree(&[("v1", "a")], &[]))]),
        ("upload b1", vec![uploaded("b1", 10)]),
        ("manifest", vec![wipe_asked(agree(&[("v1", "a")], &[]))]),
        ("mark v1@a", vec![]),
        ("synced: 2 round(s), 0 visit(s) (0 new), 1 blob(s) of 10 bytes", vec![]),
    ],
)]
#[case::a_missing_blob_this_sync_already_sent_is_not_sent_twice(
    phone(&[("v1", &["b1"])], &[], &[("b1", 10)]),
    vec![
        ("manifest, uploads pending", vec![agree(&[("v1", "a")], &[])]),
        ("upload b1", vec![uploaded("b1", 10)]),
        ("manifest", vec![agree(&[("v1", "a")], &[("b1", Some(10))])]),
        ("mark v1@a", vec![]),
        ("synced: 2 round(s), 0 visit(s) (0 new), 1 blob(s) of 10 bytes", vec![]),
    ],
)]
#[case::a_refused_visit_is_not_sent_again_and_leaves_the_sync_unfinished(
    phone(&[("v1", &[]), ("v2", &[])], &[], &[]),
    vec![
        ("manifest", vec![differ(&[("v1", "a"), ("v2", "b")], &[])]),
        ("push v1 whole, v2 whole", vec![Observation::Pushed {
            sent: vec!["v1".into(), "v2".into()],
            outcomes: vec![PushOutcome::refused("v1", "not_found", "no such visit"), PushOutcome::stored("v2", vec!["b".into()])],
        }]),
        ("manifest", vec![differ(&[("v1", "a"), ("v2", "b")], &[("v2", "b")])]),
        ("unfinished: 1 visit(s) and 0 photo(s) are not on the server yet: visit v1: no such visit (not_found)", vec![]),
    ],
)]
#[case::an_outcome_for_a_visit_the_request_did_not_carry_counts_for_nothing(
    phone(&[("v1", &[])], &[], &[]),
    vec![
        ("manifest", vec![differ(&[("v1", "a")], &[])]),
        ("push v1 whole", vec![Observation::Pushed {
            sent: vec!["v1".into()],
            outcomes: vec![PushOutcome::stored("v1", vec!["a".into()]), PushOutcome::stored("v7", vec!["x".into()])],
        }]),
        ("manifest", vec![agree(&[("v1", "a")], &[])]),
        ("mark v1@a", vec![]),
        ("synced: 2 round(s), 1 visit(s) (0 new), 0 blob(s) of 0 bytes", vec![]),
    ],
)]
#[case::a_blob_the_server_refuses_leaves_every_visit_waiting(
    phone(&[("v1", &["b1", "b2"])], &[], &[("b1", 10), ("b2", 20)]),
    vec![
        ("manifest, uploads pending", vec![agree(&[("v1", "a")], &[])]),
        ("upload b1, b2", vec![upload_failed("b1", refusal(422, "hash_mismatch")), uploaded("b2", 20)]),
        ("unfinished: 0 visit(s) and 1 photo(s) are not on the server yet: photo b1: the server refused: no (hash_mismatch)", vec![]),
    ],
)]
#[case::a_lost_connection_during_the_uploads_ends_the_sync_after_the_batch(
    phone(&[("v1", &["b1", "b2", "b3", "b4", "b5"])], &[], &[("b1", 1), ("b2", 1), ("b3", 1), ("b4", 1), ("b5", 1)]),
    vec![
        ("manifest, uploads pending", vec![agree(&[("v1", "a")], &[])]),
        ("upload b1, b2, b3, b4", vec![uploaded("b1", 1), upload_failed("b2", offline()), uploaded("b3", 1), upload_failed("b4", refusal(401, "unauthorized"))]),
        ("offline: the server cannot be reached (connection reset); everything stays on the phone and will be sent later", vec![]),
    ],
)]
#[case::a_refused_credential_during_the_uploads_ends_the_sync(
    phone(&[("v1", &["b1"])], &[], &[("b1", 1)]),
    vec![
        ("manifest, uploads pending", vec![agree(&[("v1", "a")], &[])]),
        ("upload b1", vec![upload_failed("b1", refusal(401, "unauthorized"))]),
        ("refused: the server refused: no (unauthorized)", vec![]),
    ],
)]
#[case::a_failed_exchange_ends_the_sync(
    phone(&[], &[], &[]),
    vec![
        ("manifest", vec![differ(&[], &[("v8", "y"), ("v9", "z")])]),
        ("exchange v8 (new), v9 (new)", vec![exchanged("v8"), Observation::Exchanged { id: "v9".into(), outcome: Err(SyncError::Interrupted("cut".into())) }]),
        ("interrupted: the sync was interrupted: cut; nothing is lost, it continues next time", vec![]),
    ],
)]
#[case::an_unreachable_server_ends_the_sync_at_once(
    phone(&[("v1", &["b1"])], &[], &[("b1", 1)]),
    vec![
        ("manifest, uploads pending", vec![Observation::Failed(offline())]),
        ("offline: the server cannot be reached (connection reset); everything stays on the phone and will be sent later", vec![]),
    ],
)]
#[case::a_push_the_server_refuses_whole_ends_the_sync(
    phone(&[("v1", &[])], &[], &[]),
    vec![
        ("manifest", vec![differ(&[("v1", "a")], &[])]),
        ("push v1 whole", vec![Observation::Failed(refusal(413, "too_large"))]),
        ("refused: the server refused: no (too_large)", vec![]),
    ],
)]
#[case::equal_visits_under_a_differing_digest_wait_for_the_servers_projection(
    phone(&[], &[], &[]),
    vec![
        ("manifest", vec![differ(&[("v1", "a")], &[("v1", "a")])]),
        ("pause 200 ms", vec![]),
        ("manifest", vec![agree(&[("v1", "a")], &[])]),
        ("mark v1@a", vec![]),
        ("synced: 2 round(s), 0 visit(s) (0 new), 0 blob(s) of 0 bytes", vec![]),
    ],
)]
#[case::a_server_that_keeps_changing_ends_the_sync_unfinished_after_five_rounds(
    phone(&[], &[], &[]),
    vec![
        ("manifest", vec![differ(&[], &[("v9", "1")])]),
        ("exchange v9 (new)", vec![exchanged("v9")]),
        ("manifest", vec![differ(&[("v9", "1")], &[("v9", "2")])]),
        ("push v9 since 2", vec![cannot_push("v9")]),
        ("exchange v9@1", vec![exchanged("v9")]),
        ("manifest", vec![differ(&[("v9", "2")], &[("v9", "3")])]),
        ("push v9 since 3", vec![cannot_push("v9")]),
        ("exchange v9@2", vec![exchanged("v9")]),
        ("manifest", vec![differ(&[("v9", "3")], &[("v9", "4")])]),
        ("push v9 since 4", vec![cannot_push("v9")]),
        ("exchange v9@3", vec![exchanged("v9")]),
        ("manifest", vec![differ(&[("v9", "4")], &[("v9", "5")])]),
        ("push v9 since 5", vec![cannot_push("v9")]),
        ("exchange v9@4", vec![exchanged("v9")]),
        ("unfinished: 1 visit(s) and 0 photo(s) are not on the server yet: ", vec![]),
    ],
)]
#[case::a_manifest_left_unanswered_ends_the_sync(
    phone(&[], &[], &[]),
    vec![
        ("manifest", vec![exchanged("v1")]),
        ("interrupted: the sync was interrupted: the manifest went unanswered; nothing is lost, it continues next time", vec![]),
    ],
)]
fn the_plan_follows_the_rules(#[case] phone: PhoneState, #[case] script: Vec<(&str, Vec<Observation>)>) {
    check(phone, script);
}

#[rstest]
#[case::a_stored_blob_needs_nothing_more(true, 10, 10, Resume::Stored)]
#[case::a_fresh_upload_starts_at_the_beginning(false, 0, 10, Resume::From(0))]
#[case::a_cut_upload_resumes_where_the_server_copy_ends(false, 4, 10, Resume::From(4))]
#[case::a_server_claiming_more_than_the_blob_has_resumes_at_the_end(false, 12, 10, Resume::From(10))]
fn resume_starts_where_the_server_copy_ends(
    #[case] complete: bool,
    #[case] received: u64,
    #[case] size: u64,
    #[case] expected: Resume,
) {
    assert_eq!(resume(complete, received, size), expected);
}

#[test]
fn progress_counts_every_document_and_byte_once_and_only_moves_forward() {
    let mut planner = Planner::new(&phone(&[("v1", &["b1"])], &[], &[("b1", 10)]));
    let mut seen = Vec::new();
    let script = [
        vec![differ(&[("v1", "a")], &[("v2", "x")])],
        vec![stored(&["v1"])],
        vec![exchanged("v2")],
        vec![agree(&[("v1", "a"), ("v2", "x")], &[("b9", Some(5))])],
        vec![uploaded("b1", 10), uploaded("b9", 5)],
        vec![agree(&[("v1", "a"), ("v2", "x")], &[])],
        vec![],
    ];
    for observations in script {
        assert!(!matches!(planner.next_step(), Step::Finish(_)));
        seen.extend(planner.progress());
        for observation in observations {
            planner.observe(observation);
            seen.extend(planner.progress());
        }
    }
    assert!(matches!(planner.next_step(), Step::Finish(Ok(_))));
    seen.extend(planner.progress());
    let last = seen.last().copied().expect("progress was reported");
    assert_eq!(last.phase, Phase::Done);
    assert_eq!((last.docs_done, last.docs_total, last.bytes_done, last.bytes_total), (2, 2, 15, 15));
    for pair in seen.windows(2) {
        let (a, b) = (pair[0], pair[1]);
        assert!(b.docs_done >= a.docs_done && b.bytes_done >= a.bytes_done, "{a:?} then {b:?}");
    }
}
