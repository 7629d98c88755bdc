//! The terminal the desk dispatched decides which of a label's codes is the
//! serial, through a real server and a real agent core: the desk names the
//! serial, the phone syncs, a label photo holding it is recorded without a
//! question even beside another plausible serial, and a label without it is
//! a possible wrong terminal: nothing is recorded until the agent chooses,
//! and the choice reaches the reviewer with a note.

use posfield_core::Agent;
use posfield_core::agent::PhotoIdentified;
use posfield_core::identify::barcode::Evidence;
use posfield_e2e::ServerProcess;
use posfield_e2e::story::open;
use posfield_shared::VisitId;
use rxing::{BarcodeFormat, MultiFormatWriter, Writer};

/// A flat label: one Code 128 a row, each with its quiet zone.
fn label_png(codes: &[&str]) -> Vec<u8> {
    let module = 4;
    let rows: Vec<_> = codes
        .iter()
        .map(|text| MultiFormatWriter.encode(text, &BarcodeFormat::CODE_128, 0, 0).unwrap())
        .collect();
    let width = rows.iter().map(|m| m.width() * module).max().unwrap() + 120;
    let height = 160 * codes.len() as u32 + 40;
    let image = image::GrayImage::from_fn(width, height, |x, y| {
        let row = ((y.saturating_sub(40)) / 160) as usize;
        let Some(matrix) = rows.get(row) else { return image::Luma([255]) };
        let top = 40 + 160 * row as u32;
        let bars = x >= 60 && x < 60 + matrix.width() * module && (top..top + 100).contains(&y);
        image::Luma([if bars && matrix.get((x - 60) / module, 0) { 0 } else { 255 }])
    });
    let mut out = Vec::new();
    image.write_to(&mut std::io::Cursor::new(&mut out), image::ImageFormat::Png).unwrap();
    out
}

fn dispatch(server: &ServerProcess, merchant: &str, serial: &str) -> VisitId {
    let body =
        serde_json::json!({ "kind": "repair", "merchant": merchant, "agent": "wang", "serial": serial });
    let (status, body) = server.office_post("zhou", "api/v1/office/visits", &body);
    assert_eq!(status, 201, "{body}");
    body["id"].as_str().unwrap().parse().unwrap()
}

fn sync(agent: &mut Agent) {
    agent.sync(&mut |_| {}).unwrap();
}

#[test]
fn the_dispatched_terminal_decides_and_another_one_is_asked_about() {
    let dir = tempfile::tempdir().unwrap();
    let server = ServerProcess::start(&dir.path().join("server"));
    server.add_user("zhou", "admin");
    let mut phone = open(&dir.path().join("phone"));
    phone.enroll(&server.base, &server.enrolment_code("wang"), "王的手机").unwrap();
    // A dispatched serial that is no serial is refused with its reason.
    let body =
        serde_json::json!({ "kind": "repair", "merchant": "老王便利店", "agent": "wang", "serial": "SN 12" });
    let (status, body) = server.office_post("zhou", "api/v1/office/visits", &body);
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid")), "{body}");
    assert!(body["message"].as_str().unwrap().contains("serial"), "{body}");
    let expected = "0821674609";
    let right = dispatch(&server, "老王便利店", "0821-674609");
    let wrong = dispatch(&server, "张姐水果店", expected);
    sync(&mut phone);
    assert_eq!(phone.visit(&right).unwrap().expected_serials(), [expected]);

    // Two plausible serials (a PAX one and one in no known format): alone,
    // that label is unsure; the dispatched one is on it, so it is taken.
    let label = label_png(&["A920-3AW-RD5-21EU", "N9100001234567", expected]);
    let PhotoIdentified::Recorded(found) = phone.identify_photo(&right, &label, false).unwrap() else {
        panic!("the dispatched serial is on the label")
    };
    assert_eq!(found.serial, expected);
    assert!(found.alternatives.contains(&"N9100001234567".to_owned()), "{found:?}");

    // Another PAX terminal's label: nothing recorded, a possible wrong terminal.
    let other = "0821000001";
    let label = label_png(&["A920-3AW-RD5-21EU", other]);
    let PhotoIdentified::Choose(choice) = phone.identify_photo(&wrong, &label, false).unwrap() else {
        panic!("another terminal than the dispatched one must not be taken silently")
    };
    assert_eq!(choice.evidence, Evidence::NotExpected { expected: vec![expected.into()] });
    let offered: Vec<&str> = choice.candidates.iter().map(|c| c.serial.as_str()).collect();
    assert_eq!(offered, [other], "the part number is never offered");
    assert!(choice.candidates[0].crop_jpeg.is_some(), "a crop of its code to recognise it by");
    assert!(phone.visit(&wrong).unwrap().terminal.is_none());
    // Only what the photo offers can be chosen.
    let refused = phone.identify_photo_choice(&wrong, &choice.photo, "A9203AWRD521EU", false).unwrap_err();
    assert_eq!(refused.code(), "serial_not_offered", "{refused}");
    let chosen = phone.identify_photo_choice(&wrong, &choice.photo, other, false).unwrap();
    assert_eq!(chosen.serial, other);
    let visit = phone.visit(&wrong).unwrap();
    let terminal = visit.terminal.as_ref().unwrap();
    assert_eq!(terminal.evidence.as_deref(), Some(choice.photo.as_str()), "the photo is the evidence");
    sync(&mut phone);

    // The reviewer sees the serial recorded and the agent's confirmation.
    let (status, body) = server.office_get("zhou", &format!("api/v1/office/visits/{wrong}"));
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["visit"]["terminal"]["serial"], other, "{body}");
    let notes = body["visit"]["notes"].as_array().unwrap();
    let confirmation = notes.iter().filter_map(|n| n["text"].as_str()).find(|t| t.contains("业务员确认"));
    let confirmation = confirmation.expect("the agent's confirmation is noted");
    assert!(confirmation.contains(other) && confirmation.contains(expected), "{confirmation}");
}
