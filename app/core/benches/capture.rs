//! Capture benchmark: serial-from-photo on the ZXing barcode test set (`testdata/barcodes`) and on
//! generated 12-megapixel label photos, and document photo normalization.
//! It writes the generated images to a folder so `scripts/bench-capture` can
//! time zxing-cpp and libvips on exactly the same files, and prints JSON lines.
//!
//! Run: `cargo bench -p posfield-core --features fixtures --bench capture -- OUT_DIR TESTDATA_DIR`
#![allow(clippy::print_stdout, missing_docs)]

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use posfield_core::identify::barcode::{self, DecodeOptions, label_fixtures};
use posfield_core::photo::{self, PhotoLimits};

fn median(mut samples: Vec<Duration>) -> f64 {
    samples.sort();
    samples[samples.len() / 2].as_secs_f64() * 1000.0
}

/// Times `f` three times and returns the median in milliseconds and the last result.
fn timed<T>(mut f: impl FnMut() -> T) -> (f64, T) {
    let mut samples = Vec::new();
    let mut last = None;
    for _ in 0..3 {
        let started = Instant::now();
        last = Some(f());
        samples.push(started.elapsed());
    }
    (median(samples), last.expect("ran"))
}

fn testdata_images(root: &Path) -> Vec<(PathBuf, String)> {
    let mut out = Vec::new();
    for folder in ["code128-1", "qrcode-1", "qrcode-3", "datamatrix-1"] {
        let Ok(entries) = std::fs::read_dir(root.join(folder)) else { continue };
        let mut images: Vec<PathBuf> = entries
            .flatten()
            .map(|e| e.path())
            .filter(|p| matches!(p.extension().and_then(|e| e.to_str()), Some("png" | "jpg" | "gif")))
            .collect();
        images.sort();
        for image in images {
            let expected = image.with_extension("txt");
            if let Ok(text) = std::fs::read_to_string(&expected) {
                out.push((image, text));
            }
        }
    }
    out
}

/// How much slower a phone's core is taken to be than this machine's, for
/// the phone-pace run (docs/benchmarks.md says why this figure).
const PHONE_SLOWDOWN: u32 = 4;

fn percentile(mut ms: Vec<f64>, p: f64) -> f64 {
    ms.sort_by(f64::total_cmp);
    ms[((ms.len() - 1) as f64 * p).round() as usize]
}

fn harder(out_dir: &Path) {
    use label_fixtures::measure::{self, Tally};
    std::fs::create_dir_all(out_dir.join("harder")).expect("output folder");
    for (set, cases) in
        [("harder", label_fixtures::harder_cases()), ("extreme", label_fixtures::extreme_cases())]
    {
        let photos = measure::render(&cases, 2);
        let full_speed = DecodeOptions::default();
        // A phone `PHONE_SLOWDOWN` times slower meets the safety net that
        // many times sooner: the same run with the net that much tighter.
        let phone_pace = DecodeOptions {
            time_cap: barcode::DEFAULT_TIME_CAP / PHONE_SLOWDOWN,
            ..DecodeOptions::default()
        };
        // One thread: the time per photo on one core.
        let full = measure::answer(&cases, &photos, &full_speed, 1);
        let phone = measure::answer(&cases, &photos, &phone_pace, 1);
        for ((case, photo), (ours, slow)) in cases.iter().zip(&photos).zip(full.iter().zip(&phone)) {
            let path = out_dir.join("harder").join(format!("{}.jpg", case.name));
            std::fs::write(&path, photo).expect("write label");
            println!(
                "{}",
                serde_json::json!({"set": set, "file": path, "expected": case.params.serial,
                    "readable": case.readable, "maker": case.maker,
                    "verdict": format!("{:?}", ours.verdict), "phone_verdict": format!("{:?}", slow.verdict),
                    "ms": ours.millis, "work": ours.work})
            );
        }
        let ms: Vec<f64> = full.iter().map(|o| o.millis).collect();
        let summary = |t: Tally| {
            serde_json::json!({"total": t.total, "sure_right": t.sure_right,
            "sure_wrong": t.sure_wrong, "unsure": t.unsure, "unsure_offered": t.unsure_offered,
            "not_read": t.not_read, "capped": t.capped})
        };
        println!(
            "{}",
            serde_json::json!({"set": format!("{set}-summary"), "full_speed": summary(Tally::of(&full)),
                "phone_pace": summary(Tally::of(&phone)), "phone_slowdown": PHONE_SLOWDOWN,
                "median_ms": percentile(ms.clone(), 0.5), "p95_ms": percentile(ms.clone(), 0.95),
                "max_ms": percentile(ms, 1.0)})
        );
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with("--")).collect();
    let out_dir = PathBuf::from(args.first().cloned().unwrap_or_else(|| "target/bench-capture".into()));
    // Cargo runs a bench from its package's folder, app/core.
    let testdata = PathBuf::from(args.get(1).cloned().unwrap_or_else(|| "../../testdata/barcodes".into()));
    std::fs::create_dir_all(out_dir.join("labels")).expect("output folder");
    let options = DecodeOptions::default();

    // 1. The ZXing test set: every symbol's text must match.
    let images = testdata_images(&testdata);
    assert!(!images.is_empty(), "no test images under {}", testdata.display());
    for (path, expected) in &images {
        let bytes = std::fs::read(path).expect("image");
        let (ms, symbols) = timed(|| barcode::decode_symbols(&bytes, &options).unwrap_or_default());
        let ok = symbols.iter().any(|s| &s.text == expected);
        println!("{}", serde_json::json!({"set": "testdata", "file": path, "ok": ok, "ms": ms}));
    }

    // 2. Generated 12-megapixel label photos: the serial must be found.
    for case in label_fixtures::standard_cases() {
        let jpeg = label_fixtures::label_photo(case.seed, &case.params);
        let path = out_dir.join("labels").join(format!("{}.jpg", case.name));
        std::fs::write(&path, &jpeg).expect("write label");
        let (ms, scan) = timed(|| barcode::scan_serial(&jpeg, &options, &[]));
        // Offered first (these serials are in no published maker's format).
        let ok =
            scan.as_ref().is_ok_and(|s| s.candidates.first().is_some_and(|c| c.serial == case.params.serial));
        println!(
            "{}",
            serde_json::json!({"set": "labels", "file": path, "expected": case.params.serial, "ok": ok, "ms": ms})
        );
    }

    // 3. The harder set (100 photos) and its extreme cases: the answer as the
    // app gives it, on one core, at full speed and at a phone's pace.
    harder(&out_dir);

    // 4. Normalizing a 12-megapixel photo (the first generated label photo is a realistic, noisy 4032x3024 JPEG).
    let case = &label_fixtures::standard_cases()[0];
    let big = label_fixtures::label_photo(case.seed, &case.params);
    let big_path = out_dir.join("photo-12mp.jpg");
    std::fs::write(&big_path, &big).expect("write photo");
    let (ms, normalized) =
        timed(|| photo::normalize_photo(&big, &PhotoLimits::default()).expect("normalize"));
    std::fs::write(out_dir.join("photo-normalized.jpg"), &normalized.jpeg).expect("write output");
    println!(
        "{}",
        serde_json::json!({"set": "photo", "file": big_path, "ms": ms, "bytes": normalized.jpeg.len(),
            "width": normalized.width, "height": normalized.height})
    );
}
