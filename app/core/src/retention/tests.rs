use posfield_shared::visit::schema::{DocumentRef, Review, ReviewDecision, Stamp};
use posfield_shared::visit::{Ctx, MerchantInput, VisitDoc};
use posfield_shared::vocab::{DocumentKind, Open};
use posfield_shared::{Actor, Timestamp, VisitKind, VisitStatus};

use super::photos_due;

const DAY: i64 = 24 * 3600 * 1000;
const APPROVED_AT: i64 = 1_795_000_000_000;

fn photo(kind: DocumentKind, sha: char) -> DocumentRef {
    DocumentRef {
        sha256: sha.to_string().repeat(64),
        mime: "image/jpeg".into(),
        bytes: 1,
        width: 1,
        height: 1,
        kind: Open::Known(kind),
        taken_at: Timestamp(0),
        stamp: Stamp { by: Actor::agent("wang", "phone"), at: Timestamp(0) },
        removed: None,
    }
}

fn visit(status: VisitStatus, decisions: &[(ReviewDecision, i64)]) -> posfield_shared::visit::Visit {
    let ctx = Ctx::new(Actor::agent("wang", "phone"), Timestamp(1), "op-1");
    let merchant = MerchantInput { name: "老王便利店".into(), ..Default::default() };
    let doc =
        VisitDoc::create_visit(&ctx, b"phone", "visit-1", VisitKind::Repair, &merchant, "wang").unwrap();
    let mut visit = doc.visit().unwrap();
    visit.status = status;
    visit.documents = vec![
        photo(DocumentKind::IdCard, 'a'),
        photo(DocumentKind::BankCard, 'b'),
        photo(DocumentKind::BusinessLicence, 'c'),
    ];
    visit.reviews = decisions
        .iter()
        .enumerate()
        .map(|(n, (decision, at))| Review {
            id: format!("r{n}"),
            decision: Open::Known(*decision),
            note: None,
            stamp: Stamp { by: Actor::reviewer("chen", "back-office"), at: Timestamp(*at) },
        })
        .collect();
    visit
}

#[rstest::rstest]
#[case::approved_long_enough_ago(VisitStatus::Approved, &[(ReviewDecision::Approve, APPROVED_AT)], 30, APPROVED_AT + 30 * DAY, true)]
#[case::approved_a_day_too_recently(VisitStatus::Approved, &[(ReviewDecision::Approve, APPROVED_AT)], 30, APPROVED_AT + 29 * DAY, false)]
#[case::zero_days_means_at_approval(VisitStatus::Approved, &[(ReviewDecision::Approve, APPROVED_AT)], 0, APPROVED_AT, true)]
#[case::returned_then_approved_counts_from_the_approval(VisitStatus::Approved, &[(ReviewDecision::Return, APPROVED_AT - 90 * DAY), (ReviewDecision::Approve, APPROVED_AT)], 30, APPROVED_AT + 10 * DAY, false)]
#[case::not_approved(VisitStatus::Completed, &[(ReviewDecision::Return, APPROVED_AT)], 0, APPROVED_AT + 90 * DAY, false)]
#[case::approved_without_a_review_record(VisitStatus::Approved, &[], 0, APPROVED_AT + 90 * DAY, false)]
fn personal_photos_leave_the_phone_only_after_approval_and_the_days(
    #[case] status: VisitStatus,
    #[case] decisions: &[(ReviewDecision, i64)],
    #[case] days: u32,
    #[case] now: i64,
    #[case] due: bool,
) {
    let found = photos_due(&visit(status, decisions), Timestamp(now), days);
    let expected: Vec<String> = if due { vec!["a".repeat(64), "b".repeat(64)] } else { Vec::new() };
    assert_eq!(found, expected, "only ID and bank card photos, never the licence");
}
