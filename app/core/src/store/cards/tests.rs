//! The day's list and the search, on a real store file.

use posfield_shared::visit::{Ctx, MerchantInput, Schedule, VisitDoc};
use posfield_shared::vocab::IdentificationMethod;
use posfield_shared::{Actor, CalendarDate, TimeOfDay, Timestamp, VisitId, VisitKind, VisitStatus};

use crate::store::Store;
use crate::store::tests::{test_key, visit_id};

fn day(text: &str) -> CalendarDate {
    CalendarDate::parse(text).unwrap()
}

fn desk(n: u64) -> Ctx {
    Ctx::new(
        Actor::admin("boss", "back-office"),
        Timestamp(1_795_000_000_000 + n as i64 * 1000),
        format!("desk-{n}"),
    )
}

fn agent(n: u64) -> Ctx {
    Ctx::new(
        Actor::agent("agent-li", "phone-li"),
        Timestamp(1_795_100_000_000 + n as i64 * 1000),
        format!("op-{n}"),
    )
}

/// A job the desk made for agent li: `n`, merchant `name`, planned for
/// `planned` (`day from until`, ends `-` when open) when given.
fn job(store: &mut Store, n: u64, name: &str, planned: Option<&str>) -> VisitDoc {
    let merchant = MerchantInput {
        name: name.into(),
        merchant_number: Some(format!("8983100481{n:05}")),
        phone: Some(format!("1380013{n:04}")),
        address: Some(format!("浦东新区张杨路 {n} 号")),
        ..MerchantInput::default()
    };
    let mut doc =
        VisitDoc::create_visit(&desk(n), b"server", &visit_id(n), VisitKind::Repair, &merchant, "agent-li")
            .unwrap();
    if let Some(planned) = planned {
        let parts: Vec<&str> = planned.split(' ').collect();
        let time = |t: &str| (t != "-").then(|| TimeOfDay::parse(t).unwrap());
        let plan = Schedule { day: day(parts[0]), from: time(parts[1]), until: time(parts[2]) };
        doc.schedule(&desk(n), Some(plan)).unwrap();
    }
    store.save_visit(&mut doc).unwrap();
    doc
}

fn names(cards: &[crate::store::JobCard]) -> Vec<&str> {
    cards.iter().map(|c| c.merchant.as_str()).collect()
}

fn open(dir: &std::path::Path) -> Store {
    Store::open(&dir.join("agent.db"), &test_key()).unwrap()
}

#[test]
fn a_day_lists_its_jobs_by_window_then_the_overdue_and_the_unplanned() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = open(dir.path());
    job(&mut store, 1, "下午店", Some("2026-12-07 14:00 17:00"));
    job(&mut store, 2, "全天店", Some("2026-12-07 - -"));
    job(&mut store, 3, "上午店", Some("2026-12-07 09:00 11:00"));
    job(&mut store, 4, "明天店", Some("2026-12-08 10:00 -"));
    job(&mut store, 5, "昨天店", Some("2026-12-06 - 12:00"));
    job(&mut store, 6, "未排期店", None);
    let mut cancelled = job(&mut store, 7, "取消店", Some("2026-12-07 08:00 09:00"));
    cancelled.cancel(&desk(70), "商户取消").unwrap();
    store.save_visit(&mut cancelled).unwrap();
    let mut done = job(&mut store, 8, "已完成的昨天店", Some("2026-12-05 - -"));
    done.cancel(&desk(80), "已处理").unwrap();
    store.save_visit(&mut done).unwrap();

    let today = store.day_plan(day("2026-12-07"), day("2026-12-07")).unwrap();
    assert_eq!(names(&today.planned), ["上午店", "下午店", "全天店"]);
    assert_eq!(names(&today.overdue), ["昨天店"]);
    assert_eq!(names(&today.unplanned), ["未排期店"]);
    let first = &today.planned[0];
    assert_eq!(
        (first.planned_from.as_deref(), first.planned_until.as_deref()),
        (Some("09:00"), Some("11:00"))
    );
    assert_eq!(first.address.as_deref(), Some("浦东新区张杨路 3 号"));
    assert_eq!(first.phone.as_deref(), Some("13800130003"));

    // Another day shows its own jobs only.
    let tomorrow = store.day_plan(day("2026-12-08"), day("2026-12-07")).unwrap();
    assert_eq!(names(&tomorrow.planned), ["明天店"]);
    assert!(tomorrow.overdue.is_empty() && tomorrow.unplanned.is_empty());
}

#[test]
fn the_agents_order_comes_first_and_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = open(dir.path());
    for (n, name, window) in [(1, "甲", "09:00"), (2, "乙", "10:00"), (3, "丙", "11:00"), (4, "丁", "12:00")]
    {
        job(&mut store, n, name, Some(&format!("2026-12-07 {window} -")));
    }
    let id = |n| VisitId::parse(&visit_id(n)).unwrap();
    // The agent puts 丙 first and 甲 second; the others follow by window.
    store.set_day_order(day("2026-12-07"), &[id(3), id(1), id(3)]).unwrap();
    drop(store);
    let mut store = open(dir.path());
    let plan = store.day_plan(day("2026-12-07"), day("2026-12-07")).unwrap();
    assert_eq!(names(&plan.planned), ["丙", "甲", "乙", "丁"]);
    // A job the agent finished moves after those still to do.
    let mut first = store.load_visit(&visit_id(3)).unwrap();
    first.cancel(&desk(30), "x").unwrap();
    store.save_visit(&mut first).unwrap();
    let plan = store.day_plan(day("2026-12-07"), day("2026-12-07")).unwrap();
    assert_eq!(names(&plan.planned), ["甲", "乙", "丁"], "a cancelled job leaves the day");
    // The order of one day is not another's.
    store.set_day_order(day("2026-12-08"), &[id(4)]).unwrap();
    let plan = store.day_plan(day("2026-12-07"), day("2026-12-07")).unwrap();
    assert_eq!(names(&plan.planned), ["甲", "乙", "丁"]);
}

#[test]
fn a_search_finds_a_job_by_name_number_serial_phone_or_address() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = open(dir.path());
    job(&mut store, 1, "张姐水果店", Some("2026-12-07 - -"));
    let mut identified = job(&mut store, 2, "Lucky Mart 幸运超市", None);
    identified
        .identify_terminal(&agent(1), "N9100001234567", IdentificationMethod::Manual, None, false)
        .unwrap();
    store.save_visit(&mut identified).unwrap();
    let found = |typed: &str| names(&store.search_cards(typed, 50).unwrap()).join(",");
    assert_eq!(found("水果"), "张姐水果店");
    assert_eq!(found("lucky"), "Lucky Mart 幸运超市", "case is ignored");
    assert_eq!(found("89831004810000"), "Lucky Mart 幸运超市,张姐水果店", "a merchant number's start");
    assert_eq!(found("898310048100001"), "张姐水果店");
    assert_eq!(found("n910000123"), "Lucky Mart 幸运超市", "a serial, typed in lower case");
    assert_eq!(found("138 0013 0002"), "Lucky Mart 幸运超市", "a phone typed with spaces");
    assert_eq!(found("张杨路 1 号"), "张姐水果店");
    assert_eq!(found("   "), "");
    assert_eq!(found("%"), "", "no wildcard");
    assert_eq!(found(&"水".repeat(10_000)), "", "a long text is cut, not refused");
    assert_eq!(store.search_cards("店", 1).unwrap().len(), 1);
}

#[test]
fn the_cards_follow_every_save_and_sync_and_agree_with_the_documents() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = open(dir.path());
    let mut doc = job(&mut store, 1, "张姐水果店", None);
    assert!(store.search_cards("张姐", 5).unwrap()[0].unsynced);
    store.mark_synced(&visit_id(1), &["abc".into()], 5, false).unwrap();
    assert!(!store.search_cards("张姐", 5).unwrap()[0].unsynced);
    doc.schedule(&desk(10), Some(Schedule { day: day("2026-12-09"), from: None, until: None })).unwrap();
    store.save_visit(&mut doc).unwrap();
    let plan = store.day_plan(day("2026-12-09"), day("2026-12-07")).unwrap();
    assert_eq!(names(&plan.planned), ["张姐水果店"]);
    assert!(plan.planned[0].unsynced);
    assert_eq!(plan.planned[0].trip, None);
    doc.depart(&agent(12)).unwrap();
    store.save_visit(&mut doc).unwrap();
    let plan = store.day_plan(day("2026-12-09"), day("2026-12-07")).unwrap();
    assert_eq!(plan.planned[0].trip.as_deref(), Some("departed"), "how far the agent got");
    assert!(store.index_mismatches().unwrap().is_empty());
    assert_eq!(plan.planned[0].status, VisitStatus::Draft);
}

#[test]
fn a_merchant_is_placed_by_the_latest_arrival_located_there() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = open(dir.path());
    // Two jobs at the same merchant number (job 1's number is reused by job 2).
    let mut earlier = job(&mut store, 1, "张姐水果店", Some("2026-12-01 - -"));
    let shop = posfield_shared::visit::GeoPoint::from_degrees(31.224361, 121.46917, Some(10.0)).unwrap();
    earlier.arrive(&agent(1), Ok(shop)).unwrap();
    store.save_visit(&mut earlier).unwrap();
    let merchant = MerchantInput {
        name: "张姐水果店".into(),
        merchant_number: Some("898310048100001".into()),
        ..MerchantInput::default()
    };
    let mut again =
        VisitDoc::create_visit(&desk(2), b"server", &visit_id(2), VisitKind::Repair, &merchant, "agent-li")
            .unwrap();
    let plan = Schedule { day: day("2026-12-07"), from: None, until: None };
    again.schedule(&desk(3), Some(plan)).unwrap();
    store.save_visit(&mut again).unwrap();
    // One without a located arrival anywhere stays unplaced, and a refused location places nothing.
    let mut elsewhere = job(&mut store, 3, "陈氏药房", Some("2026-12-07 - -"));
    elsewhere.arrive(&agent(3), Err("refused")).unwrap();
    store.save_visit(&mut elsewhere).unwrap();

    let today = store.day_plan(day("2026-12-07"), day("2026-12-07")).unwrap();
    let placed: Vec<_> = today.planned.iter().map(|c| (c.merchant.as_str(), c.lat_e6, c.lon_e6)).collect();
    assert_eq!(placed, [("张姐水果店", Some(31_224_361), Some(121_469_170)), ("陈氏药房", None, None)]);
    let found = store.search_cards("898310048100001", 10).unwrap();
    assert!(found.iter().all(|c| c.lat_e6 == Some(31_224_361)), "{found:?}");
    assert!(store.index_mismatches().unwrap().is_empty());
}

#[test]
fn a_job_is_placed_where_the_desk_says_until_the_agent_arrives() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = open(dir.path());
    let desk_place = posfield_shared::visit::GeoPoint::from_degrees(31.2, 121.4, None).unwrap();
    let merchant = MerchantInput {
        name: "老王便利店".into(),
        merchant_number: Some("898310048100009".into()),
        location: Some(desk_place),
        ..MerchantInput::default()
    };
    let mut doc =
        VisitDoc::create_visit(&desk(1), b"server", &visit_id(1), VisitKind::Repair, &merchant, "agent-li")
            .unwrap();
    doc.schedule(&desk(2), Some(Schedule { day: day("2026-12-07"), from: None, until: None })).unwrap();
    store.save_visit(&mut doc).unwrap();
    let placed = |store: &Store| {
        let plan = store.day_plan(day("2026-12-07"), day("2026-12-07")).unwrap();
        (plan.planned[0].lat_e6, plan.planned[0].lon_e6)
    };
    assert_eq!(placed(&store), (Some(31_200_000), Some(121_400_000)));
    // Where the phone was at the arrival wins over the desk's place.
    let there = posfield_shared::visit::GeoPoint::from_degrees(31.224361, 121.46917, Some(10.0)).unwrap();
    doc.arrive(&agent(3), Ok(there)).unwrap();
    store.save_visit(&mut doc).unwrap();
    assert_eq!(placed(&store), (Some(31_224_361), Some(121_469_170)));
}
