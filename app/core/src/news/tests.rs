//! The news a sync brings: the rule, and its record in the store's
//! transaction.

use posfield_shared::visit::StepState;
use posfield_shared::visit::schema::{Review, ReviewDecision, Stamp};
use posfield_shared::visit::{Ctx, MerchantInput, Schedule, Visit, VisitDoc};
use posfield_shared::vocab::{ApplicationState, SuspensionCause};
use posfield_shared::{Actor, CalendarDate, Timestamp, VisitKind, VisitStatus};

use super::{NewsKind, between};

struct Desk {
    n: i64,
}

impl Desk {
    fn ctx(&mut self, actor: Actor) -> Ctx {
        self.n += 1;
        Ctx::new(actor, Timestamp(1_795_000_000_000 + self.n * 1000), format!("op-{}", self.n))
    }
    fn admin(&mut self) -> Ctx {
        self.ctx(Actor::admin("boss", "back-office"))
    }
    fn reviewer(&mut self) -> Ctx {
        self.ctx(Actor::reviewer("chen", "back-office"))
    }
    fn agent(&mut self) -> Ctx {
        self.ctx(Actor::agent("li", "phone-li"))
    }
}

fn job(desk: &mut Desk, kind: VisitKind) -> VisitDoc {
    let merchant = MerchantInput { name: "张姐水果店".into(), ..MerchantInput::default() };
    let id = "0190b3a4-0000-7000-8000-000000000001";
    VisitDoc::create_visit(&desk.admin(), b"server", id, kind, &merchant, "li").unwrap()
}

fn plan(day: &str) -> Schedule {
    Schedule {
        day: CalendarDate::parse(day).unwrap(),
        from: posfield_shared::TimeOfDay::from_hm(9, 0),
        until: None,
    }
}

fn news(before: Option<&Visit>, after: &VisitDoc) -> Vec<(NewsKind, Option<String>)> {
    between(before, &after.visit().unwrap())
}

#[test]
fn a_new_job_is_news_with_its_day_and_a_closed_one_is_not() {
    let mut desk = Desk { n: 0 };
    let mut doc = job(&mut desk, VisitKind::Repair);
    assert_eq!(news(None, &doc), [(NewsKind::NewJob, None)]);
    doc.schedule(&desk.admin(), Some(plan("2026-12-08"))).unwrap();
    assert_eq!(news(None, &doc), [(NewsKind::NewJob, Some("2026-12-08 09:00–".into()))]);
    doc.cancel(&desk.admin(), "商户取消").unwrap();
    assert_eq!(news(None, &doc), [], "a job that arrives cancelled is no news");
}

#[test]
fn returned_cancelled_replanned_and_unchanged() {
    let mut desk = Desk { n: 0 };
    let mut doc = job(&mut desk, VisitKind::Repair);
    let before = doc.visit().unwrap();
    assert_eq!(news(Some(&before), &doc), [], "nothing changed, nothing new");
    // The agent's own work is not news.
    doc.set_step(&desk.agent(), "identify", StepState::Skipped, Some("标签损坏"), None).unwrap();
    assert_eq!(news(Some(&before), &doc), []);

    doc.schedule(&desk.admin(), Some(plan("2026-12-09"))).unwrap();
    assert_eq!(news(Some(&before), &doc), [(NewsKind::Replanned, Some("2026-12-09 09:00–".into()))]);
    let planned = doc.visit().unwrap();
    doc.schedule(&desk.admin(), None).unwrap();
    assert_eq!(news(Some(&planned), &doc), [(NewsKind::Replanned, None)], "the plan taken away");

    let open = doc.visit().unwrap();
    doc.cancel(&desk.admin(), "商户已搬迁").unwrap();
    assert_eq!(news(Some(&open), &doc), [(NewsKind::Cancelled, Some("商户已搬迁".into()))]);
}

#[test]
fn a_returned_visit_brings_the_reviewers_note() {
    let mut desk = Desk { n: 0 };
    let before = job(&mut desk, VisitKind::Repair).visit().unwrap();
    // The visit as a review returned it (the review's own rules are the
    // domain's to test).
    let mut after = before.clone();
    after.status = VisitStatus::Returned;
    after.reviews.push(Review {
        id: "review-1".into(),
        decision: ReviewDecision::Return.into(),
        note: Some("请补拍门头照".into()),
        stamp: Stamp { by: Actor::reviewer("chen", "back-office"), at: Timestamp(1_795_100_000_000) },
    });
    assert_eq!(between(Some(&before), &after), [(NewsKind::Returned, Some("请补拍门头照".into()))]);
    assert_eq!(between(Some(&after), &after), [], "once");
}

#[test]
fn a_decided_application_is_news_once() {
    let mut desk = Desk { n: 0 };
    let mut doc = job(&mut desk, VisitKind::Reactivation);
    doc.set_suspension_cause(&desk.agent(), SuspensionCause::NetworkProblem).unwrap();
    doc.submit_application(&desk.agent()).unwrap();
    let submitted = doc.visit().unwrap();
    let mut rejected = doc.fork(b"other-desk");
    doc.decide_application(&desk.reviewer(), ApplicationState::Approved, None).unwrap();
    assert_eq!(news(Some(&submitted), &doc), [(NewsKind::ApplicationApproved, None)]);
    assert_eq!(news(Some(&doc.visit().unwrap()), &doc), [], "once");
    rejected.decide_application(&desk.reviewer(), ApplicationState::Rejected, Some("资料不全")).unwrap();
    assert_eq!(news(Some(&submitted), &rejected), [(NewsKind::ApplicationRejected, Some("资料不全".into()))]);
}
