//! The `posfield-agent` binary: the three script commands with their exact
//! output and exit codes, and a visit driven entirely from the command line.

use std::path::Path;
use std::process::{Command, Output};

use rxing::{BarcodeFormat, MultiFormatWriter, Writer};

fn agent(data: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_posfield-agent")).arg("--data").arg(data).args(args).output().unwrap()
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}

fn testdata(relative: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/barcodes").join(relative)
}

/// A clean PNG of a Code 128 symbol with a quiet zone.
fn code128_png(text: &str, path: &Path) {
    let matrix = MultiFormatWriter.encode(text, &BarcodeFormat::CODE_128, 0, 0).unwrap();
    let module = 4;
    let (w, h) = (matrix.width() * module + 80, 200);
    let image = image::GrayImage::from_fn(w, h, |x, y| {
        let inside = x >= 40 && x < w - 40 && (50..150).contains(&y);
        let dark = inside && matrix.get((x - 40) / module, 0);
        image::Luma([if dark { 0 } else { 255 }])
    });
    image.save(path).unwrap();
}

#[test]
fn decode_barcodes_prints_one_json_object_per_symbol() {
    let dir = tempfile::tempdir().unwrap();
    let image = testdata("qrcode-1/1.png");
    let expected = std::fs::read_to_string(testdata("qrcode-1/1.txt")).unwrap();
    let output = agent(dir.path(), &["decode-barcodes", image.to_str().unwrap()]);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let line: serde_json::Value = serde_json::from_str(stdout(&output).lines().next().unwrap()).unwrap();
    assert_eq!(line["format"], "QR_CODE");
    assert_eq!(line["text"].as_str().unwrap(), expected);
}

#[test]
fn decode_barcodes_without_a_symbol_fails_with_a_message() {
    let dir = tempfile::tempdir().unwrap();
    let blank = dir.path().join("blank.png");
    image::GrayImage::from_pixel(400, 300, image::Luma([255])).save(&blank).unwrap();
    let output = agent(dir.path(), &["decode-barcodes", blank.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(1));
    assert!(output.stdout.is_empty());
    assert!(String::from_utf8_lossy(&output.stderr).contains("no barcode"), "{:?}", output);
}

#[test]
fn scan_serial_prints_the_serial_or_the_candidates_or_fails_clearly() {
    let dir = tempfile::tempdir().unwrap();
    // A PAX serial (a known maker's format): sure.
    let label = dir.path().join("pax.png");
    code128_png("0821674609", &label);
    let output = agent(dir.path(), &["scan-serial", label.to_str().unwrap()]);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert_eq!(stdout(&output), "0821674609");

    // A serial in no known maker's format: the candidates, and status 3.
    let label = dir.path().join("label.png");
    code128_png("N9100001234567", &label);
    let output = agent(dir.path(), &["scan-serial", label.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(3), "{}", String::from_utf8_lossy(&output.stderr));
    let candidate: serde_json::Value = serde_json::from_str(&stdout(&output)).unwrap();
    assert_eq!(candidate["serial"], "N9100001234567");
    assert_eq!(candidate["format"], "CODE_128");
    assert!(String::from_utf8_lossy(&output.stderr).contains("no known maker"), "{output:?}");
    // The visit expects it: sure.
    let output = agent(dir.path(), &["scan-serial", label.to_str().unwrap(), "--expect", "N9100001234567"]);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert_eq!(stdout(&output), "N9100001234567");
    // An expected serial that is no serial is refused, not ignored.
    let output = agent(dir.path(), &["scan-serial", label.to_str().unwrap(), "--expect", "N/A"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stderr).contains("--expect \"N/A\""), "{output:?}");
    // It expects another: a possible wrong terminal, status 3.
    let output = agent(dir.path(), &["scan-serial", label.to_str().unwrap(), "--expect", "0821674609"]);
    assert_eq!(output.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&output.stderr).contains("possibly the wrong terminal"), "{output:?}");

    let not_a_serial = dir.path().join("text.png");
    code128_png("hello/world", &not_a_serial);
    let output = agent(dir.path(), &["scan-serial", not_a_serial.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(1));
    assert!(!String::from_utf8_lossy(&output.stderr).trim().is_empty());
}

#[test]
fn normalize_photo_writes_the_jpeg_and_prints_its_size() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("licence.jpg");
    let photo =
        image::RgbImage::from_fn(3200, 2400, |x, y| image::Rgb([(x % 256) as u8, (y % 256) as u8, 128]));
    photo.save(&input).unwrap();
    let output_path = dir.path().join("out.jpg");
    let output =
        agent(dir.path(), &["normalize-photo", input.to_str().unwrap(), output_path.to_str().unwrap()]);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let written = std::fs::read(&output_path).unwrap();
    assert_eq!(stdout(&output), format!("1600 1200 {}", written.len()));
    assert!(written.starts_with(&[0xFF, 0xD8]));
}

#[test]
fn a_visit_is_driven_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    assert!(agent(&data, &["sign-in", "agent-li"]).status.success());
    let created = agent(&data, &["create", "--kind", "sim_renewal", "--merchant", "老王便利店"]);
    assert!(created.status.success(), "{:?}", created);
    let id = stdout(&created);
    let run = |args: &[&str]| {
        let output = agent(&data, args);
        assert!(output.status.success(), "{args:?}: {}", String::from_utf8_lossy(&output.stderr));
        stdout(&output)
    };
    run(&["identify", &id, "--serial", "N9100001234567"]);
    run(&[
        "sim",
        &id,
        "--iccid",
        "89860012345678901238",
        "--carrier",
        "china_mobile",
        "--expiry",
        "2026-12-01",
    ]);
    run(&["sim-action", &id, "renewed", "--new-expiry", "2027-12-01"]);
    for step in ["identify", "sim.record", "sim.action", "verify.data"] {
        run(&["step", &id, step, "done"]);
    }
    run(&["step", &id, "acceptance", "n/a"]);
    assert_eq!(run(&["missing", &id]), "");
    run(&["complete", &id]);
    let shown: serde_json::Value = serde_json::from_str(&run(&["show", &id])).unwrap();
    assert_eq!(shown["status"], "completed");
    assert_eq!(shown["sim"]["iccid"], "89860012345678901238");
    let listed = run(&["list", "--unsynced"]);
    assert!(listed.contains(&id));
    // A bad value is refused with the list of valid ones.
    let output = agent(&data, &["warranty", &id, "maybe"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stderr).contains("in_warranty"));
}

#[test]
fn a_visit_argument_that_is_not_a_visit_id_is_refused_before_anything_opens() {
    let dir = tempfile::tempdir().unwrap();
    for visit in ["../../etc/passwd", "v1", "01A207B7-E9E1-7141-ABF3-6A5AB3C38FC6"] {
        let output = agent(dir.path(), &["note", visit, "备注"]);
        assert!(!output.status.success(), "{visit:?} was taken for a visit id");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains("is not a visit id"), "{visit:?}: {stderr}");
    }
    assert!(!dir.path().join("agent.db").exists(), "nothing was opened for a refused argument");
}

/// "Photos on Wi-Fi only" is chosen from the command line and kept; the
/// status and the data usage say where things stand; a word that is not on
/// or off, and a network that is not one of three, are refused by name.
#[test]
fn photos_on_wifi_only_is_kept_and_the_status_and_data_usage_are_printed() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let status = |data: &Path| -> serde_json::Value {
        let output = agent(data, &["sync-status"]);
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
        serde_json::from_str(&stdout(&output)).unwrap()
    };
    assert_eq!(status(&data)["photos_on_wifi_only"], false, "off until chosen");
    assert!(agent(&data, &["photos-on-wifi-only", "on"]).status.success());
    let shown = status(&data);
    assert_eq!(shown["photos_on_wifi_only"], true);
    assert_eq!(
        (shown["photos_waiting_for_wifi"].as_u64(), shown["data_used"]["sent"].as_u64()),
        (Some(0), Some(0))
    );
    let usage: serde_json::Value = serde_json::from_str(&stdout(&agent(&data, &["data-usage"]))).unwrap();
    assert_eq!(usage["visits"], serde_json::json!([]));
    assert_eq!(usage["total"], serde_json::json!({ "sent": 0, "received": 0 }));
    for (args, word) in [
        (&["photos-on-wifi-only", "yes"][..], "\"yes\" is not on or off"),
        (&["sync", "--network", "4g"][..], "\"4g\" is not wifi, cellular or unknown"),
    ] {
        let output = agent(&data, args);
        assert!(!output.status.success(), "{args:?}");
        assert!(String::from_utf8_lossy(&output.stderr).contains(word), "{args:?}: {output:?}");
    }
    assert!(agent(&data, &["photos-on-wifi-only", "off"]).status.success());
    assert_eq!(status(&data)["photos_on_wifi_only"], false);
}
