//! About a hundred harder label photos: two stacked barcodes, QR codes with
//! TID/MID lines, any rotation, EXIF orientations, strong keystones, glare,
//! low light, curved backs, thumbs and stickers, small modules.

use super::{Cover, LabelParams, QUIET_MODULES, Rng, identity_for, layout};

/// One named, seeded harder fixture.
#[derive(Debug, Clone, PartialEq)]
pub struct HarderCase {
    /// A short description of the case's effects, e.g.
    /// `"017_PAX_m2.3_r-141_pn1st_qr_glare0.6"`.
    pub name: String,
    /// The seed for [`super::label_photo`].
    pub seed: u64,
    /// The look (the serial, part number and QR text from [`identity_for`]).
    pub params: LabelParams,
    /// The maker whose label this is.
    pub maker: String,
    /// False only for the cases whose serial barcode is deliberately half
    /// covered.
    pub readable: bool,
}

/// How many harder cases there are.
const COUNT: usize = 100;

/// Exactly `percent` of the indices 0..100, spread by a multiplier coprime
/// with 100; `offset` decorrelates the effects. Returns the index's rank
/// within the picked ones (0..percent) when picked.
fn picked(index: usize, multiplier: usize, offset: usize, percent: usize) -> Option<usize> {
    let v = (index * multiplier + offset) % COUNT;
    (v < percent).then_some(v)
}

/// EXIF orientations of the rotated cases: mostly a phone held upright or
/// upside down, a few mirrored (front cameras, odd software).
const ORIENTATIONS: [u16; 15] = [6, 8, 3, 6, 8, 2, 6, 5, 8, 7, 6, 4, 8, 3, 6];

/// The harder cases: the effects mixed about as often as real photos bring
/// them (most labels carry a part number, ~30 % a QR, ~15 % an EXIF
/// orientation, rotations over the whole circle, ~10 % a strong keystone,
/// ~15 % glare up to 0.75, ~15 % low light, ~15 % a curved back, ~10 % a
/// cover, ~15 % modules of 1.8-2.2 px). Three covers hide half of the serial's barcode
/// (`readable: false`); the others hide only text, part of the part number's
/// barcode or a little of the serial's quiet zone.
pub fn harder_cases() -> Vec<HarderCase> {
    (0..COUNT).map(|i| harder_case(i, false)).collect()
}

/// The cases of [`harder_cases`] with small modules or glare, taken to the
/// extreme: modules of 1.4-1.8 px (a label a tenth of the frame's width)
/// and glare of 0.75-0.95. Not in the set the reader is held to: its
/// benchmark reports how it fares on them, as the reader's limits.
pub fn extreme_cases() -> Vec<HarderCase> {
    (0..COUNT)
        .map(|i| harder_case(i, true))
        .filter(|case| case.params.module_px < 1.8 || case.params.glare > 0.75)
        .collect()
}

fn harder_case(i: usize, extreme: bool) -> HarderCase {
    let seed = 0x4A2D_0000 + i as u64;
    let id = identity_for(seed, i);
    let mut rng = Rng::new(seed ^ 0x0CA5_E5EE_D000_0000);
    let exif = picked(i, 37, 3, 15);
    let keystone = picked(i, 53, 11, 10).is_some();
    let glare = picked(i, 71, 29, 15).is_some();
    let dim = picked(i, 83, 41, 15).is_some();
    let curved = picked(i, 91, 57, 15).is_some();
    let covered = picked(i, 29, 67, 10);
    let small = picked(i, 43, 79, 15).is_some();

    // Small: a label about a fifth of the frame's width (1.8-2.2 px), or a
    // tenth (1.4-1.8 px) in the extreme cases.
    let module_px = match (small, extreme) {
        (true, false) => 1.8 + 0.4 * rng.unit(),
        (true, true) => 1.4 + 0.4 * rng.unit(),
        (false, _) => 2.2 + 2.5 * rng.unit(),
    };
    let spread = ((i * 61 + 17) % COUNT) as f32 + rng.unit();
    let rotation_deg = if exif.is_some() { rng.unit() * 24.0 - 12.0 } else { spread * 3.6 - 180.0 };
    let perspective = if keystone { 0.13 + 0.12 * rng.unit() } else { 0.06 * rng.unit() };
    let mut params = LabelParams {
        serial: id.serial.clone(),
        module_px,
        rotation_deg,
        perspective,
        blur_sigma: (0.5 + 1.1 * rng.unit()).min(0.45 * module_px),
        noise_sigma: 2.0 + 8.0 * rng.unit(),
        lighting: 0.45 * rng.unit(),
        qr_text: id.qr_text.clone(),
        jpeg_quality: 72 + rng.below(21) as u8,
        part_number: id.part_number.clone(),
        part_first: rng.below(4) != 0,
        barcode_gap: 3.0 + 5.0 * rng.unit(),
        printed_keys: rng.below(10) < 6,
        exif_orientation: exif.map_or(1, |k| ORIENTATIONS[k]),
        glare: match (glare, extreme) {
            (true, false) => 0.35 + 0.4 * rng.unit(),
            (true, true) => 0.75 + 0.2 * rng.unit(),
            (false, _) => 0.0,
        },
        exposure: if dim { 0.3 + 0.25 * rng.unit() } else { 1.0 },
        curvature: if curved { 0.2 + 0.3 * rng.unit() } else { 0.0 },
        ..LabelParams::default()
    };
    let unreadable = covered.is_some_and(|k| k < 3);
    params.cover = covered.map(|k| plan_cover(&params, k, &mut rng));

    let mut name = format!("{i:03}_{}_m{:.1}_r{:.0}", id.maker, params.module_px, params.rotation_deg);
    let mut tag = |t: String| {
        name.push('_');
        name.push_str(&t);
    };
    if params.part_number.is_some() {
        tag(if params.part_first { "pn1st" } else { "pn" }.to_owned());
    }
    if params.qr_text.is_some() {
        tag("qr".to_owned());
    }
    if params.printed_keys {
        tag("keys".to_owned());
    }
    if params.exif_orientation != 1 {
        tag(format!("exif{}", params.exif_orientation));
    }
    if keystone {
        tag(format!("keystone{:.2}", params.perspective));
    }
    if glare {
        tag(format!("glare{:.1}", params.glare));
    }
    if dim {
        tag(format!("dim{:.2}", params.exposure));
    }
    if curved {
        tag(format!("curve{:.2}", params.curvature));
    }
    if let Some(cover) = &params.cover {
        let what = if cover.dark { "sticker" } else { "thumb" };
        tag(format!("{what}{}{}", cover.from_edge, if unreadable { "_HALF" } else { "" }));
    }
    HarderCase { name, seed, params, maker: id.maker, readable: !unreadable }
}

/// The `k`-th cover (k < 3: over half of the serial's barcode; otherwise
/// over text, part of the part number's barcode or a little of the serial's
/// quiet zone, never its bars).
fn plan_cover(params: &LabelParams, k: usize, rng: &mut Rng) -> Cover {
    let layout = layout(params);
    let (width, height) = (layout.width as f32, layout.height as f32);
    let serial = &layout.serial;
    let serial_middle = (serial.top + serial.height / 2.0) / height;
    if k < 3 {
        let from_edge = if k == 1 { 2 } else { 0 };
        let depth = if from_edge == 0 {
            serial.left + serial.width() * 0.5
        } else {
            width - serial.left - serial.width() * 0.5
        };
        return Cover {
            from_edge,
            fraction: depth / width,
            along: serial_middle,
            breadth: 2.2 * serial.height / height,
            dark: true,
        };
    }
    let from_edge = (k % 4) as u8;
    let dark = k.is_multiple_of(3);
    // The deepest point, in units from that edge.
    let (depth, extent) = match from_edge {
        0 => (serial.left - QUIET_MODULES + 3.0, width),
        2 => (width - (serial.left + serial.width() + QUIET_MODULES - 3.0), width),
        1 => match &layout.part {
            Some(part) if part.top < serial.top => (part.top + 0.5 * part.height, height),
            _ => (serial.top - 3.0, height),
        },
        _ => match &layout.part {
            Some(part) if part.top > serial.top => (height - (part.top + 0.5 * part.height), height),
            _ => (height - (serial.top + serial.height + 2.0), height),
        },
    };
    let (along, breadth) = if from_edge.is_multiple_of(2) {
        (0.3 + 0.4 * rng.unit(), 0.5 + 0.4 * rng.unit())
    } else {
        (0.25 + 0.5 * rng.unit(), 0.3 + 0.3 * rng.unit())
    };
    Cover { from_edge, fraction: (depth / extent).max(0.0), along, breadth, dark }
}
