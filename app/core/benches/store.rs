//! Store benchmark: an edit made durable (p50/p99), listing 10,000 visits
//! from the index, and the day's list and a search over them. Prints its
//! figures; run with
//! `cargo bench -p posfield-core --bench store`.
#![allow(clippy::print_stdout, missing_docs)]

use std::time::{Duration, Instant};

use posfield_core::Agent;
use posfield_core::VisitFilter;
use posfield_shared::visit::MerchantInput;
use posfield_shared::visit::schema::StepState;
use posfield_shared::vocab::Term;
use posfield_shared::{FaultCode, VisitKind};

fn percentile(samples: &mut [Duration], p: f64) -> Duration {
    samples.sort();
    samples[((samples.len() as f64 - 1.0) * p).round() as usize]
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

fn main() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut agent = Agent::open(
        &dir.path().join("data"),
        std::sync::Arc::new(posfield_core::KeyFile::at(dir.path().join("data.key"))),
    )
    .expect("open");
    agent.sign_in("agent-bench").expect("sign in");
    let merchant = MerchantInput { name: "基准测试商户".into(), ..Default::default() };

    // 1. Edits made durable: a realistic visit grows to ~300 edits.
    let id = agent.create_visit(VisitKind::Repair, &merchant).expect("create").id;
    let steps = ["identify", "fault.classify", "fault.onsite", "warranty", "plan", "test"];
    let mut samples = Vec::new();
    for i in 0..300 {
        let started = Instant::now();
        match i % 3 {
            0 => drop(agent.add_note(&id, &format!("备注 {i}")).expect("note")),
            1 => drop(
                agent.set_step(&id, steps[i % steps.len()], StepState::Done, None, Some("ok")).expect("step"),
            ),
            _ => drop(agent.add_fault(&id, FaultCode::Slow, Some("慢")).expect("fault")),
        }
        samples.push(started.elapsed());
    }
    let p50 = percentile(&mut samples, 0.5);
    let p99 = percentile(&mut samples, 0.99);
    println!(
        "edit made durable (300 edits on one visit, WAL + synchronous=FULL): p50 {}  p99 {}  (target p99 <= 5 ms)",
        ms(p50),
        ms(p99)
    );

    // 2. Listing 10,000 visits from the index.
    let started = Instant::now();
    let shops = ["便利店", "水果店", "餐厅", "药房", "超市", "五金店", "理发店"];
    for i in 0..10_000 {
        let kind = VisitKind::ALL[i % VisitKind::ALL.len()];
        let merchant = MerchantInput {
            name: format!("{}{} {i}", ["老王", "张姐", "李记", "陈氏"][i % 4], shops[i % shops.len()]),
            merchant_number: Some(format!("8983100481{i:05}")),
            phone: Some(format!("1380013{i:04}")),
            address: Some(format!("上海市浦东新区张杨路 {} 弄 {i} 号", i % 500)),
            ..Default::default()
        };
        agent.create_visit(kind, &merchant).expect("create");
    }
    println!("created 10,000 visits in {:.1} s", started.elapsed().as_secs_f64());
    let mut samples = Vec::new();
    for _ in 0..30 {
        let started = Instant::now();
        let rows =
            agent.list_visits(&VisitFilter { limit: Some(10_000), ..Default::default() }).expect("list");
        samples.push(started.elapsed());
        assert_eq!(rows.len(), 10_000);
    }
    let median = percentile(&mut samples, 0.5);
    let first_screen = {
        let started = Instant::now();
        agent.list_visits(&VisitFilter { limit: Some(50), ..Default::default() }).expect("list");
        started.elapsed()
    };
    println!(
        "list 10,000 visits from the index: median {}  (target <= 30 ms); first screen of 50: {}",
        ms(median),
        ms(first_screen)
    );

    // 3. Today's list (every visit unplanned and open: the largest section
    //    the day reads) and searches over the 10,000 visits' cards.
    let today = posfield_shared::Timestamp(
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_millis() as i64,
    )
    .beijing_date();
    let mut samples = Vec::new();
    for _ in 0..30 {
        let started = Instant::now();
        let plan = agent.day_plan(today).expect("day");
        samples.push(started.elapsed());
        assert_eq!(plan.unplanned.len(), 200);
    }
    println!(
        "today's list over 10,000 visits (200 unplanned shown): median {}  p99 {}",
        ms(percentile(&mut samples, 0.5)),
        ms(percentile(&mut samples, 0.99))
    );
    let searches = [
        ("a merchant's name, one match", "张姐餐厅 4321", 1),
        ("a merchant number's start, many matches", "89831004810", 50),
        ("a phone typed with spaces", "138 0013 9876", 1),
        ("an address", "张杨路 42 弄", 20),
        ("a serial no visit has (every card read)", "N9100001234567", 0),
    ];
    for (what, typed, expected) in searches {
        let mut samples = Vec::new();
        for _ in 0..50 {
            let started = Instant::now();
            let found = agent.search_visits(typed, 50).expect("search");
            samples.push(started.elapsed());
            assert_eq!(found.len(), expected, "{what}");
        }
        println!(
            "search over 10,000 visits, {what}: median {}  p99 {}  (target < 50 ms)",
            ms(percentile(&mut samples, 0.5)),
            ms(percentile(&mut samples, 0.99))
        );
    }
}
