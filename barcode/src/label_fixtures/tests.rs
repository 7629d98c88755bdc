//! The harder cases: deterministic, their geometry sound. How well the
//! reader does on them is `crate::tests`' and the capture bench's.

use super::*;
use crate::{DecodeOptions, decode_symbols};

#[test]
fn new_params_default_to_todays_look() {
    let params = LabelParams::default();
    assert_eq!(params.part_number, None);
    assert!(!params.printed_keys);
    assert_eq!(
        (params.exif_orientation, params.glare, params.exposure, params.curvature),
        (1, 0.0, 1.0, 0.0)
    );
    assert_eq!(params.cover, None);
    assert_eq!(stored_orientation(&params), None);
    assert!(standard_cases().iter().all(|c| matches!(layout(&c.params).unit, UNIT)));
}

#[test]
fn harder_cases_render_deterministically() {
    let cases = harder_cases();
    let exif = cases.iter().find(|c| c.params.exif_orientation != 1 && c.params.cover.is_some());
    let exif = exif.or_else(|| cases.iter().find(|c| c.params.exif_orientation != 1)).expect("an EXIF case");
    let curved = cases.iter().find(|c| c.params.curvature > 0.0 && c.params.glare > 0.0);
    let curved = curved.or_else(|| cases.iter().find(|c| c.params.curvature > 0.0)).expect("a curved case");
    for case in [exif, curved] {
        let first = label_photo(case.seed, &case.params);
        let second = label_photo(case.seed, &case.params);
        assert!(first == second, "{} renders differently twice", case.name);
    }
}

#[test]
fn harder_cases_mix_the_effects() {
    let cases = harder_cases();
    let count = |f: &dyn Fn(&HarderCase) -> bool| cases.iter().filter(|c| f(c)).count();
    assert_eq!(cases.len(), 100);
    assert!(count(&|c| c.params.part_number.is_some()) >= 75);
    assert!((20..=40).contains(&count(&|c| c.params.qr_text.is_some())));
    assert_eq!(count(&|c| c.params.exif_orientation != 1), 15);
    assert_eq!(count(&|c| c.params.perspective > 0.06), 10);
    assert_eq!(count(&|c| c.params.glare > 0.0), 15);
    assert_eq!(count(&|c| c.params.exposure < 1.0), 15);
    assert_eq!(count(&|c| c.params.curvature > 0.0), 15);
    assert_eq!(count(&|c| c.params.cover.is_some()), 10);
    assert_eq!(count(&|c| c.params.module_px < 2.2), 15);
    assert_eq!(count(&|c| !c.readable), 3);
    for quadrant in 0..4 {
        let lo = -180.0 + 90.0 * quadrant as f32;
        assert!(
            count(&|c| (lo..lo + 90.0).contains(&c.params.rotation_deg)) >= 15,
            "rotations in [{lo}, {lo}+90)"
        );
    }
    let makers: std::collections::BTreeSet<&str> = cases.iter().map(|c| c.maker.as_str()).collect();
    assert_eq!(
        makers.into_iter().collect::<Vec<_>>(),
        ["Acme", "Castles", "LANDI", "Newland", "PAX", "SUNMI", "Verifone", "WizarPOS"]
    );
    let names: std::collections::BTreeSet<&str> = cases.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names.len(), cases.len(), "names are unique");
}

#[test]
fn covers_spare_the_serial_unless_meant_not_to() {
    for case in harder_cases().iter().filter(|c| c.params.cover.is_some()) {
        let layout = layout(&case.params);
        let unit = layout.unit as f32;
        let cover = case.params.cover.as_ref().expect("a cover");
        let shape = CoverShape::new(cover, layout.width as f32 * unit, layout.height as f32 * unit, unit);
        let s = &layout.serial;
        let (x0, x1) = (s.left - QUIET_MODULES + 3.0, s.left + s.width() + QUIET_MODULES - 3.0);
        let (mut hits, mut bar_hits, mut bar_points) = (0, 0, 0);
        for yi in 0..=20 {
            let y = s.top + s.height * yi as f32 / 20.0;
            for xi in 0..=200 {
                let x = x0 + (x1 - x0) * xi as f32 / 200.0;
                let inside = shape.radius(x * unit, y * unit) < 1.0;
                hits += usize::from(inside);
                if x >= s.left && x <= s.left + s.width() {
                    bar_points += 1;
                    bar_hits += usize::from(inside);
                }
            }
        }
        if case.readable {
            assert_eq!(hits, 0, "{}: the cover reaches the serial's barcode", case.name);
        } else {
            let covered = bar_hits as f32 / bar_points as f32;
            assert!(
                (0.3..0.6).contains(&covered),
                "{}: {covered:.2} of the serial's bars covered",
                case.name
            );
        }
    }
}

#[test]
fn keystone_keeps_the_label_convex_and_the_homography_sane() {
    let local = [(-500.0, -150.0), (500.0, -150.0), (500.0, 150.0), (-500.0, 150.0)];
    for near in 0..4 {
        for strength in [0.1, 0.3, 0.38, 0.6] {
            let moved = keystone(local, strength, near);
            for angle in (-180..180).step_by(15) {
                let (sin, cos) = (angle as f64).to_radians().sin_cos();
                let corners: Vec<(f64, f64)> = moved
                    .iter()
                    .map(|&(x, y)| {
                        (
                            2000.0 + f64::from(x) * cos - f64::from(y) * sin,
                            1500.0 + f64::from(x) * sin + f64::from(y) * cos,
                        )
                    })
                    .collect();
                assert!(convex(&corners), "near {near}, strength {strength}, angle {angle}");
                let raster = [(0.0, 0.0), (4000.0, 0.0), (4000.0, 1200.0), (0.0, 1200.0)];
                let to_label = homography(&corners, &raster);
                for (c, r) in corners.iter().zip(raster) {
                    let (u, v) = apply(&to_label, c.0, c.1);
                    assert!((u - r.0).abs() < 1e-6 && (v - r.1).abs() < 1e-6);
                }
                // The whole quadrilateral lies on one side of the horizon.
                let signs: Vec<f64> =
                    corners.iter().map(|c| denominator(&to_label, c.0, c.1).signum()).collect();
                assert!(signs.iter().all(|&s| s == signs[0]));
            }
        }
    }
}

#[test]
fn curve_maps_label_and_plane_both_ways() {
    let curve = Curve::new(0.5, 1000.0).expect("curved");
    assert!(curve.plane_width < 1000.0 * 0.9);
    for s in [-40.0, 0.0, 123.0, 500.0, 990.0, 1000.0, 1050.0] {
        let back = curve.label_x_extended(curve.plane_x(s));
        assert!((back - s).abs() < 0.05, "{s} -> {back}");
    }
    assert!(Curve::new(0.0, 1000.0).is_none());
}

/// Each orientation is stored so that the reader, applying the tag, sees the
/// upright scene.
#[test]
fn exif_orientations_show_the_scene() {
    let base = LabelParams {
        width: 240,
        height: 160,
        module_px: 1.0,
        blur_sigma: 0.0,
        noise_sigma: 0.0,
        ..LabelParams::default()
    };
    let scene = image::DynamicImage::ImageRgb8(render_rgb(3, &base)).to_luma8();
    for orientation in 1..=8u16 {
        let params = LabelParams { exif_orientation: orientation, jpeg_quality: 95, ..base.clone() };
        let stored = render_rgb(3, &params);
        assert_eq!(
            stored.width() == 240,
            orientation < 5,
            "orientation {orientation}: {:?}",
            stored.dimensions()
        );
        let shown = crate::load_gray(&label_photo(3, &params)).expect("decodes");
        assert_eq!(shown.dimensions(), scene.dimensions(), "orientation {orientation}");
        let diff: f64 =
            shown.pixels().zip(scene.pixels()).map(|(a, b)| f64::from(a[0].abs_diff(b[0]))).sum::<f64>()
                / f64::from(240 * 160);
        assert!(diff < 6.0, "orientation {orientation}: mean difference {diff:.1}");
    }
}

fn stacked_params(part_first: bool) -> LabelParams {
    LabelParams {
        serial: "4011234567".to_owned(),
        part_number: Some("A920-3AW-RD5-25EA".to_owned()),
        part_first,
        printed_keys: true,
        qr_text: Some("TID:12345678\nMID:898440153990123".to_owned()),
        module_px: 3.0,
        rotation_deg: 8.0,
        width: 1600,
        height: 1200,
        ..LabelParams::default()
    }
}

fn texts(bytes: &[u8]) -> Vec<String> {
    let symbols = decode_symbols(bytes, &DecodeOptions::default()).expect("decodes");
    symbols.into_iter().map(|s| s.text).collect()
}

/// The stacked label itself (its raster, straight, sharp) carries the
/// serial, the part number and the multi-line QR text, each readable.
#[test]
fn stacked_label_raster_carries_all_three_codes() {
    for part_first in [false, true] {
        let params = stacked_params(part_first);
        let layout = layout(&params);
        let label = build_label(&mut Rng::new(1), &layout);
        let gray = image::GrayImage::from_fn(label.width as u32 / 2, label.height as u32 / 2, |x, y| {
            image::Luma([label.sample(2.0 * x as f32 + 1.0, 2.0 * y as f32 + 1.0).unwrap_or(PAPER) as u8])
        });
        let mut png = Vec::new();
        gray.write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png).expect("encodes");
        let found = texts(&png);
        for expected in
            [params.serial.as_str(), "A920-3AW-RD5-25EA", params.qr_text.as_deref().unwrap_or_default()]
        {
            assert!(
                found.iter().any(|t| t == expected),
                "part_first {part_first}: {expected:?} not in {found:?}"
            );
        }
    }
}

/// A photo of the stacked label at a modest size: the serial and the
/// multi-line QR read.
#[test]
fn stacked_label_photo_gives_serial_and_multiline_qr() {
    for part_first in [false, true] {
        let params = stacked_params(part_first);
        let found = texts(&label_photo(11, &params));
        for expected in [params.serial.as_str(), params.qr_text.as_deref().unwrap_or_default()] {
            assert!(
                found.iter().any(|t| t == expected),
                "part_first {part_first}: {expected:?} not in {found:?}"
            );
        }
    }
}
