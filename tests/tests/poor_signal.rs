//! One agent's day on a poor signal: twenty visits with three photos and a
//! merchant's signature each, made offline, then synced by the phone's
//! background worker through a shaped link (`posfield-shaper`: 400 kbit/s
//! up, 2 Mbit/s down, 300 ms round trip, 5 % of segments lost, every
//! connection cut every 10 s with 2 s of outage after each cut). The day
//! must reach the server whole, every visit and every photo, within
//! [`DEADLINE`], with at least one cut having hit a sync on the way. The
//! photos are small (about 5 KB) so that the run stays near a minute
//! (52 s on the shared 2-core machine); the day's files, about 530 KB, still
//! take more than 10 s of the link to go up (a round trip or more for each
//! of the 100 files, four at a time, on top), longer than the time between
//! two cuts, so some cut falls inside a sync.

use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant};

use posfield_core::background::{BackgroundSync, Schedule, SyncEvent};
use posfield_e2e::ServerProcess;
use posfield_e2e::story::{merchant, open, strokes};
use posfield_shaper::{Cuts, Link, Shaper};
use posfield_shared::VisitKind;
use posfield_shared::vocab::DocumentKind;

const REVIEWER: &str = "chen";

/// The longest the day may take to reach the server.
const DEADLINE: Duration = Duration::from_secs(300);

const VISITS: usize = 20;
const PHOTOS: [DocumentKind; 3] =
    [DocumentKind::BusinessLicence, DocumentKind::ScreenError, DocumentKind::TransactionRecord];

/// A photo of a page, small: paper, lines of print and the sensor's noise,
/// different for every `seed`.
fn page_photo(seed: u64) -> Vec<u8> {
    let mut noise = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let image = image::RgbImage::from_fn(240, 180, |x, y| {
        noise ^= noise << 13;
        noise ^= noise >> 7;
        noise ^= noise << 17;
        let grain = (noise % 12) as u8;
        let printed = y % 16 < 3 && x > 15 && x < 225 - (y * 7 + seed as u32 * 13) % 80;
        let paper = if printed { 40 } else { 210 };
        image::Rgb([paper + grain, paper + grain, paper + grain / 2])
    });
    let mut jpeg = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut jpeg, 90)
        .encode_image(&image)
        .expect("the photo encodes");
    jpeg
}

#[test]
fn an_agents_day_reaches_the_server_whole_through_a_poor_signal() {
    let dir = tempfile::tempdir().unwrap();
    let server = ServerProcess::start(&dir.path().join("server"));
    server.add_user(REVIEWER, "reviewer");
    let link = Link {
        up_bits_per_second: Some(400_000),
        down_bits_per_second: Some(2_000_000),
        round_trip: Duration::from_millis(300),
        loss: 0.05,
        cuts: Some(Cuts { every: Duration::from_secs(10), outage: Duration::from_secs(2) }),
        seed: 20_261_207,
    };
    let shaper = Shaper::start(server.addr().parse().expect("host:port"), link).expect("the shaper starts");

    // Enrolled through the same link: a cut may hit that too.
    let phone = dir.path().join("phone");
    let mut agent = open(&phone);
    let code = server.enrolment_code("agent-wang");
    let mut tries = 0;
    while let Err(error) = agent.enroll(&shaper.base_url(), &code, "王师傅的手机") {
        tries += 1;
        assert!(tries < 5, "no enrolment through the link in 5 tries: {error}");
        std::thread::sleep(Duration::from_secs(2));
    }

    // The day, offline: each visit with its photos and the merchant's signature.
    let mut ids = Vec::with_capacity(VISITS);
    for n in 0..VISITS {
        let id = agent.create_visit(VisitKind::Inspection, &merchant(&format!("商户 {n}"))).unwrap().id;
        for (k, kind) in PHOTOS.into_iter().enumerate() {
            agent.add_photo(&id, &page_photo((n * PHOTOS.len() + k) as u64), kind).unwrap();
        }
        agent.add_note(&id, "信号很差，晚点再传").unwrap();
        agent.sign(&id, "王老板", &strokes()).unwrap();
        ids.push(id);
    }

    // The phone's own background sync, with short retries so the test stays short.
    let schedule = Schedule {
        first_retry: Duration::from_secs(1),
        max_retry: Duration::from_secs(4),
        interval: Duration::from_secs(600),
    };
    let (events_in, events) = mpsc::channel();
    let started = Instant::now();
    let background = BackgroundSync::start(
        phone.clone(),
        Arc::new(posfield_core::KeyFile::beside(&phone)),
        schedule,
        move |event| {
            let _ = events_in.send((Instant::now(), event));
        },
    )
    .unwrap();
    // Each sync's start and end, and the failures' codes.
    let mut syncs: Vec<(Instant, Option<Instant>)> = Vec::new();
    let mut failures: Vec<String> = Vec::new();
    // The failure count the worker backs off by, at each failure.
    let mut in_a_row: Vec<u32> = Vec::new();
    loop {
        let left = DEADLINE.saturating_sub(started.elapsed());
        let Ok((at, event)) = events.recv_timeout(left) else {
            panic!("the day was not on the server after {DEADLINE:?}: {failures:?}, {:?}", shaper.counts());
        };
        match event {
            SyncEvent::Started { .. } => syncs.push((at, None)),
            SyncEvent::Progress(_) => {}
            SyncEvent::Failed { code, message, failures: count, .. } => {
                in_a_row.push(count);
                if let Some((_, end)) = syncs.last_mut() {
                    *end = Some(at);
                }
                eprintln!("{:.1} s: a sync failed: {message}", started.elapsed().as_secs_f64());
                failures.push(code);
            }
            SyncEvent::Synced { .. } => {
                if let Some((_, end)) = syncs.last_mut() {
                    *end = Some(at);
                }
                if agent.sync_status().unwrap().unsynced_visits == 0 {
                    break;
                }
            }
        }
    }
    let took = started.elapsed();
    background.stop();
    let counts = shaper.counts();
    eprintln!(
        "the day reached the server in {:.1} s: {} syncs, failures {failures:?}; {counts:?}",
        took.as_secs_f64(),
        syncs.len()
    );

    // Every visit is on the server as on the phone, with every photo and the signature.
    let mut photos = 0;
    for id in &ids {
        let (status, body) = server.office_get(REVIEWER, &format!("api/v1/office/visits/{id}"));
        assert_eq!(status, 200, "visit {id} is not on the server: {body}");
        let on_phone = agent.visit(id).unwrap();
        assert_eq!(body["visit"], serde_json::to_value(&on_phone).unwrap(), "visit {id} differs");
        assert_eq!(body["blobs_missing"], 0, "visit {id} lacks files on the server");
        photos += on_phone.current_documents().count();
        assert!(on_phone.acceptance.is_some(), "visit {id} was signed");
    }
    assert_eq!(photos, VISITS * PHOTOS.len());

    // The link was poor on the way: a cut came while a sync was running,
    // and what failed, failed as the network.
    let during_a_sync =
        |at: Instant| syncs.iter().any(|(start, end)| *start <= at && end.is_none_or(|end| at <= end));
    let cuts = shaper.cuts();
    assert!(
        cuts.iter().any(|cut| cut.open_connections > 0 && during_a_sync(cut.at)),
        "no cut hit a sync: {cuts:?}, syncs {syncs:?}"
    );
    assert!(!failures.is_empty(), "no sync failed: {counts:?}");
    assert!(
        failures.iter().all(|code| matches!(code.as_str(), "offline" | "interrupted" | "unfinished")),
        "a cut must read as the network failing: {failures:?}"
    );
    assert!(counts.losses > 0, "{counts:?}");
    // A sync the link cut while the server answered starts the count again
    // at one: only attempts that never reached the server (those made during
    // an outage, at most three before it ends) double the delay. Counted in
    // a row, the day's failures would reach a dozen.
    assert!(
        in_a_row.iter().all(|count| *count <= 4),
        "the worker backed off as if the server were gone: {in_a_row:?} ({failures:?})"
    );
}
