//! Marks drawn over a photo (schema 5) and the job's terminal brief: the
//! operations' rules, their bounds, and marks from two phones merging.

mod common;

use common::*;
use posfield_shared::visit::schema::{BRIEF_TERMINALS, BRIEF_VISITS, MARK_TEXT_CHARS, MAX_ANNOTATIONS};
use posfield_shared::visit::{
    BriefAlert, MarkPoint, MarkShape, PastVisit, SiteBrief, TerminalBrief, VisitDoc, VisitError,
};
use posfield_shared::vocab::DocumentKind;
use posfield_shared::{CalendarDate, Timestamp, VisitKind, VisitStatus};

fn at(x: u32, y: u32) -> MarkPoint {
    MarkPoint { x, y }
}

/// A repair visit with one photo of the fault.
fn with_photo(clock: &mut Clock) -> (VisitDoc, String) {
    let mut doc = new_visit(clock, VisitKind::Repair);
    let photo = photo("fault");
    doc.attach_document(&clock.ctx(&agent()), &photo, DocumentKind::ScreenError, Timestamp(clock.now))
        .unwrap();
    (doc, photo.sha256)
}

#[test]
fn an_arrow_a_circle_and_a_text_are_kept_beside_the_untouched_photo() {
    let mut clock = Clock::default();
    let (mut doc, sha) = with_photo(&mut clock);
    let before = doc.visit().unwrap().documents;
    doc.annotate(&clock.ctx(&agent()), &sha, MarkShape::Arrow, at(100, 100), at(400, 380), None).unwrap();
    doc.annotate(&clock.ctx(&agent()), &sha, MarkShape::Circle, at(300, 300), at(500, 450), None).unwrap();
    let visit = doc
        .annotate(&clock.ctx(&agent()), &sha, MarkShape::Text, at(50, 900), at(50, 900), Some(" 屏幕裂 "))
        .unwrap();
    assert_eq!(visit.documents, before, "the photo's record is as taken");
    let marks: Vec<_> = visit.marks_on(&sha).collect();
    assert_eq!(marks.len(), 3);
    assert_eq!(marks[2].text.as_deref(), Some("屏幕裂"));
    assert_eq!(marks[0].text, None, "only a text mark keeps words");
    assert!(
        visit.hash_references().iter().any(|(path, hash)| path == "annotations[0].photo" && *hash == sha)
    );
    // Rubbed out: kept in the document, no longer drawn.
    let id = marks[1].id.clone();
    let visit = doc.rub_out(&clock.ctx(&agent()), &id).unwrap();
    assert_eq!(visit.marks_on(&sha).count(), 2);
    assert_eq!(visit.annotations.len(), 3);
    assert!(matches!(doc.rub_out(&clock.ctx(&agent()), &id), Err(VisitError::NotFound { .. })));
}

#[test]
fn a_mark_outside_the_photo_on_no_photo_or_without_words_is_refused() {
    let mut clock = Clock::default();
    let (mut doc, sha) = with_photo(&mut clock);
    let arrow = MarkShape::Arrow;
    let refused = doc.annotate(&clock.ctx(&agent()), &sha, arrow, at(0, 0), at(1001, 5), None);
    assert!(matches!(refused, Err(VisitError::OutOfRange { .. })), "{refused:?}");
    let refused = doc.annotate(&clock.ctx(&agent()), &common::sha("other"), arrow, at(0, 0), at(9, 9), None);
    assert!(matches!(refused, Err(VisitError::NotFound { .. })), "{refused:?}");
    let refused = doc.annotate(&clock.ctx(&agent()), &sha, MarkShape::Text, at(5, 5), at(5, 5), Some("  "));
    assert!(matches!(refused, Err(VisitError::EmptyText { .. })), "{refused:?}");
    let long = "字".repeat(MARK_TEXT_CHARS + 1);
    let refused = doc.annotate(&clock.ctx(&agent()), &sha, MarkShape::Text, at(5, 5), at(5, 5), Some(&long));
    assert!(matches!(refused, Err(VisitError::OutOfRange { .. })), "{refused:?}");
    // A removed photo takes no new marks; the back office draws none.
    doc.remove_document(&clock.ctx(&agent()), &sha).unwrap();
    let refused = doc.annotate(&clock.ctx(&agent()), &sha, arrow, at(0, 0), at(9, 9), None);
    assert!(matches!(refused, Err(VisitError::NotFound { .. })), "{refused:?}");
    let refused = doc.annotate(&clock.ctx(&reviewer()), &sha, arrow, at(0, 0), at(9, 9), None);
    assert!(matches!(refused, Err(VisitError::Forbidden { .. })), "{refused:?}");
    assert!(doc.visit().unwrap().annotations.is_empty(), "nothing refused was written");
}

#[test]
fn a_visit_holds_a_bounded_number_of_marks() {
    let mut clock = Clock::default();
    let (mut doc, sha) = with_photo(&mut clock);
    for i in 0..MAX_ANNOTATIONS {
        let point = at(u32::try_from(i).unwrap() % 1000, 10);
        doc.annotate(&clock.ctx(&agent()), &sha, MarkShape::Arrow, point, point, None).unwrap();
    }
    let refused = doc.annotate(&clock.ctx(&agent()), &sha, MarkShape::Arrow, at(1, 1), at(2, 2), None);
    assert!(matches!(refused, Err(VisitError::OutOfRange { .. })), "{refused:?}");
}

#[test]
fn marks_drawn_on_two_phones_at_once_are_both_kept() {
    let mut clock = Clock::default();
    let (mut phone, sha) = with_photo(&mut clock);
    let mut other = phone.fork(b"second-phone");
    phone.annotate(&clock.ctx(&agent()), &sha, MarkShape::Arrow, at(1, 1), at(9, 9), None).unwrap();
    other.annotate(&clock.ctx(&agent()), &sha, MarkShape::Circle, at(5, 5), at(50, 50), None).unwrap();
    phone.merge(&mut other).unwrap();
    other.merge(&mut phone).unwrap();
    let (a, b) = (phone.visit().unwrap(), other.visit().unwrap());
    assert_eq!(a.annotations.len(), 2);
    assert_eq!(a.annotations, b.annotations);
}

fn terminal_brief(serial: &str, visits: usize) -> TerminalBrief {
    let day = CalendarDate::parse("2026-10-01").unwrap();
    TerminalBrief {
        serial: serial.into(),
        model: Some("N910".into()),
        state: Some("installed".into()),
        sim_carrier: Some("china_mobile".into()),
        sim_expiry: Some(CalendarDate::parse("2026-12-20").unwrap()),
        warranty_end: None,
        production_date: None,
        visits: (0..visits)
            .map(|_| PastVisit { day, kind: VisitKind::Repair.into(), status: VisitStatus::Approved.into() })
            .collect(),
        repairs_last_year: u64::try_from(visits).unwrap(),
        alerts: vec![BriefAlert::SimExpiring.into()],
    }
}

#[test]
fn the_brief_is_the_administrators_bounded_and_kept_through_a_reassignment() {
    let mut clock = Clock::default();
    let mut doc = new_visit(&mut clock, VisitKind::Repair);
    let brief = SiteBrief { made_at: Timestamp(clock.now), terminals: vec![terminal_brief(SERIAL, 2)] };
    let refused = doc.brief(&clock.ctx(&agent()), Some(brief.clone()));
    assert!(matches!(refused, Err(VisitError::Forbidden { .. })), "{refused:?}");
    let refused = doc.brief(&clock.ctx(&reviewer()), Some(brief.clone()));
    assert!(matches!(refused, Err(VisitError::Forbidden { .. })), "{refused:?}");
    let visit = doc.brief(&clock.ctx(&admin()), Some(brief.clone())).unwrap();
    assert_eq!(visit.assignment.brief.as_ref().and_then(|b| b.terminal(SERIAL)), Some(&brief.terminals[0]));
    let visit = doc.assign(&clock.ctx(&admin()), "agent-zhao").unwrap();
    assert_eq!(visit.assignment.brief, Some(brief), "kept until the server makes a newer one");

    let too_many = SiteBrief {
        made_at: Timestamp(clock.now),
        terminals: (0..=BRIEF_TERMINALS).map(|i| terminal_brief(&format!("N91000000{i:05}"), 0)).collect(),
    };
    let refused = doc.brief(&clock.ctx(&admin()), Some(too_many));
    assert!(matches!(refused, Err(VisitError::OutOfRange { .. })), "{refused:?}");
    let long_past = SiteBrief {
        made_at: Timestamp(clock.now),
        terminals: vec![terminal_brief(SERIAL, BRIEF_VISITS + 1)],
    };
    let refused = doc.brief(&clock.ctx(&admin()), Some(long_past));
    assert!(matches!(refused, Err(VisitError::OutOfRange { .. })), "{refused:?}");
}

#[test]
fn the_desks_place_of_the_shop_survives_the_agents_correction() {
    let mut clock = Clock::default();
    let place = posfield_shared::visit::GeoPoint::from_degrees(31.2, 121.4, None).unwrap();
    let shop = posfield_shared::visit::MerchantInput { location: Some(place), ..merchant() };
    let mut doc = VisitDoc::create_visit(
        &clock.ctx(&admin()),
        b"server",
        "visit-1",
        VisitKind::Repair,
        &shop,
        "agent-li",
    )
    .unwrap();
    let corrected = posfield_shared::visit::MerchantInput { phone: Some("13900001111".into()), ..merchant() };
    let visit = doc.correct_merchant(&clock.ctx(&agent()), &corrected).unwrap();
    assert_eq!(visit.merchant.location, Some(place));
    assert_eq!(visit.merchant.phone.as_deref(), Some("13900001111"));
}
