//! Deterministic synthetic "phone photos" of terminal serial labels, for
//! tests and benchmarks of the barcode pipeline (compiled for tests and with
//! the `fixtures` cargo feature).
//!
//! A photo is a 4032x3024 (12-megapixel) JPEG: a white label with text-like
//! glyph rows, a Code 128 of the serial (rendered with rxing's encoder at a
//! chosen module width) and optionally a QR code beside it, on a gray
//! textured background with a device edge, rotated, in mild perspective,
//! blurred, lit unevenly, with sensor noise, JPEG-compressed. The same seed
//! and parameters always give the same bytes.
//!
//! Harder photos ([`harder_cases`]) add what real labels and hands bring, each
//! effect off by default so that [`standard_cases`] render as they always
//! did: a second Code 128 with the part number stacked a few modules from the
//! serial's, printed "S/N" and "P/N" keys, a QR with multi-line text, any
//! rotation, an EXIF orientation, a strong keystone, glare, low light, a
//! label wrapped on a curved back and a thumb or sticker over part of it.
//! The serial, part number and QR text of those cases come from one place,
//! [`identity_for`].

use image::codecs::jpeg::JpegEncoder;
use rxing::{BarcodeFormat, Writer};

mod harder;
mod identity;
pub mod measure;
#[cfg(test)]
mod tests;

pub use harder::{HarderCase, extreme_cases, harder_cases};
pub use identity::{Identity, identity_for};

/// Something in front of part of the label: a thumb or a dark sticker, a
/// rounded blob reaching from outside the label over one of its edges.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Cover {
    /// The label edge it comes over (the label upright): 0 left, 1 top,
    /// 2 right, 3 bottom.
    pub from_edge: u8,
    /// How far it reaches into the label, as a fraction of the label's
    /// extent across that edge (its deepest point).
    pub fraction: f32,
    /// Where its middle is along the edge, as a fraction of the edge.
    pub along: f32,
    /// How broad it is along the edge, as a fraction of the edge (more than
    /// 1 covers the whole edge).
    pub breadth: f32,
    /// A dark, squarish sticker rather than a (lighter, round) thumb.
    pub dark: bool,
}

impl Cover {
    /// A thumb over the middle of an edge, about half the edge broad.
    pub fn thumb(from_edge: u8, fraction: f32) -> Self {
        Cover { from_edge, fraction, along: 0.5, breadth: 0.5, dark: false }
    }
}

/// How a generated label photo looks.
#[derive(Debug, Clone, PartialEq)]
pub struct LabelParams {
    /// The serial encoded in the Code 128 (and printed under it).
    pub serial: String,
    /// Width of one Code 128 module in the photo, pixels.
    pub module_px: f32,
    /// Rotation of the label in the photo, degrees (any angle).
    pub rotation_deg: f32,
    /// Perspective: up to 0.06 each corner moves randomly by up to this
    /// fraction of the label width; above that the excess becomes a keystone
    /// (one side of the label nearer than the other: at 0.25 the far side is
    /// about two thirds as long as the near one).
    pub perspective: f32,
    /// Gaussian blur sigma, pixels.
    pub blur_sigma: f32,
    /// Sensor noise standard deviation, gray levels.
    pub noise_sigma: f32,
    /// Uneven lighting: brightness falls by up to this fraction across the frame.
    pub lighting: f32,
    /// Text of a QR code printed beside the Code 128, if any (may hold
    /// several lines).
    pub qr_text: Option<String>,
    /// Photo width, pixels (as displayed, after the EXIF orientation).
    pub width: u32,
    /// Photo height, pixels (as displayed, after the EXIF orientation).
    pub height: u32,
    /// JPEG quality, 1-100.
    pub jpeg_quality: u8,
    /// A part number encoded in a second Code 128 stacked with the serial's.
    pub part_number: Option<String>,
    /// The part number's Code 128 is printed above the serial's.
    pub part_first: bool,
    /// Gap between the two stacked Code 128s, in (serial) modules.
    pub barcode_gap: f32,
    /// "S/N" and "P/N" keys printed to the left of the barcodes.
    pub printed_keys: bool,
    /// EXIF orientation, 1-8 (1: none). The stored pixels are the scene
    /// transformed by the inverse of the orientation and the JPEG carries the
    /// tag, so a viewer applying it sees the scene.
    pub exif_orientation: u16,
    /// A specular highlight on the label, 0 (none) to 1 (washed out).
    pub glare: f32,
    /// Exposure: 1 normal, 0.3 low light (darker, less contrast, more noise).
    pub exposure: f32,
    /// The label wrapped on a cylinder whose axis runs along the bars:
    /// 0 flat, 0.5 its edges seen at about 45°.
    pub curvature: f32,
    /// A thumb or sticker over part of the label.
    pub cover: Option<Cover>,
}

impl Default for LabelParams {
    fn default() -> Self {
        LabelParams {
            serial: "N9100001234567".to_owned(),
            module_px: 3.0,
            rotation_deg: 0.0,
            perspective: 0.0,
            blur_sigma: 0.8,
            noise_sigma: 4.0,
            lighting: 0.2,
            qr_text: None,
            width: 4032,
            height: 3024,
            jpeg_quality: 85,
            part_number: None,
            part_first: false,
            barcode_gap: 5.0,
            printed_keys: false,
            exif_orientation: 1,
            glare: 0.0,
            exposure: 1.0,
            curvature: 0.0,
            cover: None,
        }
    }
}

/// One named, seeded fixture.
#[derive(Debug, Clone, PartialEq)]
pub struct LabelCase {
    /// A short description, e.g. `"03_m3.5_r-12_p0.06_qr"`.
    pub name: String,
    /// The seed for [`label_photo`].
    pub seed: u64,
    /// The look.
    pub params: LabelParams,
}

/// The text of the QR code printed beside the Code 128 in the standard
/// cases: a support URL that holds no serial.
pub const QR_TEXT: &str = "https://support.example.com/pos/help?model=A920";

/// The 24 standard cases: module widths 2 to 5 px, rotations up to ±30°,
/// perspective up to 6 %, blur, noise and lighting varied, a QR beside the
/// Code 128 in every third case.
pub fn standard_cases() -> Vec<LabelCase> {
    const MODULES: [f32; 6] = [2.0, 2.5, 3.0, 3.5, 4.0, 5.0];
    const ROTATIONS: [f32; 12] = [-30.0, -25.0, -18.0, -12.0, -6.0, 0.0, 4.0, 9.0, 14.0, 20.0, 25.0, 30.0];
    const PERSPECTIVE: [f32; 4] = [0.0, 0.02, 0.04, 0.06];
    const BLUR: [f32; 3] = [0.6, 0.9, 1.2];
    const NOISE: [f32; 3] = [3.0, 5.0, 8.0];
    const LIGHTING: [f32; 3] = [0.0, 0.2, 0.4];
    (0..24u64)
        .map(|i| {
            let k = i as usize;
            let seed = 0x5EED_0000 + i;
            let module_px = MODULES[k % 6];
            let params = LabelParams {
                serial: serial_for(seed),
                module_px,
                rotation_deg: ROTATIONS[(k * 5) % 12],
                perspective: PERSPECTIVE[k % 4],
                blur_sigma: BLUR[(k / 2) % 3].min(0.45 * module_px),
                noise_sigma: NOISE[k % 3],
                lighting: LIGHTING[(k / 3) % 3],
                qr_text: k.is_multiple_of(3).then(|| QR_TEXT.to_owned()),
                ..LabelParams::default()
            };
            let name = format!(
                "{i:02}_m{}_r{}_p{}{}",
                params.module_px,
                params.rotation_deg,
                params.perspective,
                if params.qr_text.is_some() { "_qr" } else { "" }
            );
            LabelCase { name, seed, params }
        })
        .collect()
}

/// A plausible terminal serial derived from a seed (valid per
/// `posfield_shared::validate::serial`).
pub fn serial_for(seed: u64) -> String {
    let mut rng = Rng::new(seed ^ 0xA5A5_5A5A);
    let digits = |n: usize, rng: &mut Rng| -> String {
        (0..n).map(|_| char::from(b'0' + (rng.below(10)) as u8)).collect()
    };
    match seed % 3 {
        0 => format!("N9100{}", digits(9, &mut rng)),
        1 => format!("PX{}", digits(10, &mut rng)),
        _ => {
            let letter = char::from(b'A' + rng.below(26) as u8);
            format!("{}{letter}{}", digits(4, &mut rng), digits(6, &mut rng))
        }
    }
}

/// The photo as JPEG bytes (with an EXIF orientation segment when
/// `exif_orientation` is 2-8).
pub fn label_photo(seed: u64, params: &LabelParams) -> Vec<u8> {
    let rgb = render_rgb(seed, params);
    let mut out = Vec::new();
    let mut encoder = JpegEncoder::new_with_quality(&mut out, params.jpeg_quality.clamp(1, 100));
    if let Some(orientation) = stored_orientation(params) {
        image::ImageEncoder::set_exif_metadata(&mut encoder, exif_orientation_segment(orientation))
            .expect("the JPEG encoder takes EXIF metadata");
    }
    encoder
        .encode_image(&image::DynamicImage::ImageRgb8(rgb))
        .expect("encoding a generated image as JPEG cannot fail");
    out
}

/// The EXIF orientation to store, if any (2-8).
fn stored_orientation(params: &LabelParams) -> Option<u16> {
    (2..=8).contains(&params.exif_orientation).then_some(params.exif_orientation)
}

/// A little-endian TIFF header with one IFD holding the Orientation tag: the
/// payload of an EXIF APP1 segment (the encoder adds the `Exif\0\0` prefix).
pub(crate) fn exif_orientation_segment(orientation: u16) -> Vec<u8> {
    let mut exif = b"II*\0".to_vec();
    exif.extend_from_slice(&8u32.to_le_bytes()); // IFD offset
    exif.extend_from_slice(&1u16.to_le_bytes()); // one entry
    exif.extend_from_slice(&0x0112u16.to_le_bytes()); // Orientation
    exif.extend_from_slice(&3u16.to_le_bytes()); // SHORT
    exif.extend_from_slice(&1u32.to_le_bytes()); // count
    exif.extend_from_slice(&orientation.to_le_bytes());
    exif.extend_from_slice(&[0, 0]);
    exif.extend_from_slice(&0u32.to_le_bytes()); // no next IFD
    exif
}

/// Where the stored pixel of displayed pixel (x, y) goes: `base + x * dx +
/// y * dy` (in pixels) in the stored image, and the stored width and height,
/// for a `w`x`h` scene shown through `orientation` (the inverse of the
/// orientation's display transform).
fn stored_layout(orientation: u16, w: usize, h: usize) -> (isize, isize, isize, usize, usize) {
    let (wi, hi) = (w as isize, h as isize);
    match orientation {
        // Mirrored left-right, turned half round, mirrored top-bottom.
        2 => (wi - 1, -1, wi, w, h),
        3 => ((hi - 1) * wi + wi - 1, -1, -wi, w, h),
        4 => ((hi - 1) * wi, 1, -wi, w, h),
        // Transposed: stored (y, x).
        5 => (0, hi, 1, h, w),
        // Shown turned 90° clockwise: stored (y, w - 1 - x).
        6 => ((wi - 1) * hi, -hi, 1, h, w),
        // Transverse: stored (h - 1 - y, w - 1 - x).
        7 => ((wi - 1) * hi + hi - 1, -hi, -1, h, w),
        // Shown turned 90° counter-clockwise: stored (h - 1 - y, x).
        8 => (hi - 1, hi, -1, h, w),
        _ => (0, 1, wi, w, h),
    }
}

/// Paper and ink gray levels on the label raster.
const PAPER: f32 = 238.0;
const INK: f32 = 28.0;
/// Label raster pixels per label unit (one Code 128 module) of the classic
/// layout (one barcode, no keys).
const UNIT: usize = 4;
/// The same for the stacked layout, finer so that the part number's
/// fractional modules keep their widths.
const STACKED_UNIT: usize = 8;

/// The label in its own plane, `unit` raster pixels per module.
struct Label {
    width: usize,
    height: usize,
    unit: usize,
    pixels: Vec<f32>,
}

impl Label {
    fn new(width_units: usize, height_units: usize, unit: usize) -> Self {
        let (width, height) = (width_units * unit, height_units * unit);
        Label { width, height, unit, pixels: vec![PAPER; width * height] }
    }

    /// Fills a rectangle given in (fractional) units.
    fn fill(&mut self, x: f32, y: f32, w: f32, h: f32) {
        let u = self.unit as f32;
        let x0 = (x * u).round().max(0.0) as usize;
        let y0 = (y * u).round().max(0.0) as usize;
        let x1 = ((x + w) * u).round().min(self.width as f32) as usize;
        let y1 = ((y + h) * u).round().min(self.height as f32) as usize;
        for yy in y0..y1 {
            for xx in x0..x1 {
                self.pixels[yy * self.width + xx] = INK;
            }
        }
    }

    /// One 3x5 glyph (bit `row * 3 + col` set: ink) at (x, y), in units.
    fn glyph(&mut self, x: f32, y: f32, bits: u64) {
        for row in 0..5 {
            for col in 0..3 {
                if bits >> (row * 3 + col) & 1 == 1 {
                    self.fill(x + col as f32, y + row as f32, 1.0, 1.0);
                }
            }
        }
    }

    /// A row of `count` random 3x5 glyphs starting at (x, y), in units.
    fn text(&mut self, rng: &mut Rng, x: f32, y: f32, count: usize) {
        for i in 0..count {
            if rng.below(7) == 0 {
                continue; // a space
            }
            let gx = x + i as f32 * 4.0;
            let bits = loop {
                let b = rng.next() & 0x7FFF;
                if b.count_ones() >= 5 {
                    break b;
                }
            };
            self.glyph(gx, y, bits);
        }
    }

    /// A printed key such as "S/N" at (x, y), in units.
    fn key(&mut self, x: f32, y: f32, key: &str) {
        for (i, c) in key.chars().enumerate() {
            self.glyph(x + i as f32 * 4.0, y, key_glyph(c));
        }
    }

    fn sample(&self, x: f32, y: f32) -> Option<f32> {
        if x < 0.0 || y < 0.0 || x >= self.width as f32 || y >= self.height as f32 {
            return None;
        }
        let (fx, fy) = ((x - 0.5).max(0.0), (y - 0.5).max(0.0));
        let (x0, y0) = (fx as usize, fy as usize);
        let (x1, y1) = ((x0 + 1).min(self.width - 1), (y0 + 1).min(self.height - 1));
        let (ax, ay) = (fx - x0 as f32, fy - y0 as f32);
        let p = |xx: usize, yy: usize| self.pixels[yy * self.width + xx];
        let top = p(x0, y0) * (1.0 - ax) + p(x1, y0) * ax;
        let bottom = p(x0, y1) * (1.0 - ax) + p(x1, y1) * ax;
        Some(top * (1.0 - ay) + bottom * ay)
    }
}

/// The 3x5 bitmap of a key character (rows top to bottom, bit `row * 3 + col`).
fn key_glyph(c: char) -> u64 {
    let rows: [u8; 5] = match c {
        'S' => [0b111, 0b001, 0b111, 0b100, 0b111],
        'P' => [0b111, 0b101, 0b111, 0b001, 0b001],
        'N' => [0b101, 0b111, 0b111, 0b101, 0b101],
        '/' => [0b100, 0b100, 0b010, 0b001, 0b001],
        _ => [0; 5],
    };
    rows.iter().enumerate().fold(0, |bits, (row, &r)| bits | u64::from(r) << (row * 3))
}

fn code128_modules(text: &str) -> Vec<bool> {
    let matrix = rxing::oned::Code128Writer
        .encode(text, &BarcodeFormat::CODE_128, 0, 1)
        .expect("a serial is encodable as Code 128");
    let row: Vec<bool> = (0..matrix.width()).map(|x| matrix.get(x, 0)).collect();
    let first = row.iter().position(|&b| b).unwrap_or(0);
    let last = row.iter().rposition(|&b| b).unwrap_or(row.len() - 1);
    row[first..=last].to_vec()
}

fn qr_modules(text: &str) -> Vec<Vec<bool>> {
    let matrix = rxing::qrcode::QRCodeWriter
        .encode(text, &BarcodeFormat::QR_CODE, 0, 0)
        .expect("the QR text is encodable");
    // Drop the writer's quiet zone: keep the dark modules' bounding box.
    let (w, h) = (matrix.width(), matrix.height());
    let (mut x0, mut y0, mut x1, mut y1) = (w, h, 0, 0);
    for y in 0..h {
        for x in 0..w {
            if matrix.get(x, y) {
                x0 = x0.min(x);
                y0 = y0.min(y);
                x1 = x1.max(x);
                y1 = y1.max(y);
            }
        }
    }
    (y0..=y1).map(|y| (x0..=x1).map(|x| matrix.get(x, y)).collect()).collect()
}

/// A Code 128 on the label, in units.
struct Code {
    modules: Vec<bool>,
    left: f32,
    top: f32,
    module: f32,
    height: f32,
}

impl Code {
    fn width(&self) -> f32 {
        self.modules.len() as f32 * self.module
    }
}

/// Where everything goes on the label, in units (serial modules).
struct Layout {
    /// Label size in units.
    width: usize,
    height: usize,
    /// Raster pixels per unit.
    unit: usize,
    serial: Code,
    part: Option<Code>,
    /// Glyph rows (x, y, count), in the order they are drawn (they consume
    /// the random stream).
    texts: Vec<(f32, f32, usize)>,
    /// Printed keys (x, y, text).
    keys: Vec<(f32, f32, &'static str)>,
    /// QR modules, left, top and cell size.
    qr: Option<(Vec<Vec<bool>>, f32, f32, f32)>,
}

/// Quiet zone on each side of a Code 128, in its modules.
const QUIET_MODULES: f32 = 11.0;

fn layout(params: &LabelParams) -> Layout {
    if params.part_number.is_none() && !params.printed_keys {
        classic_layout(params)
    } else {
        stacked_layout(params)
    }
}

/// One Code 128 of the serial with a QR beside it: the layout of the
/// standard cases (unchanged, so their photos stay byte for byte the same).
fn classic_layout(params: &LabelParams) -> Layout {
    let bars = code128_modules(&params.serial);
    let qr = params.qr_text.as_deref().map(qr_modules);
    let qr_unit = 1.5f32;
    let pad = 6.0f32;
    let quiet = QUIET_MODULES;
    let bar_height = 36.0f32;
    let code_width = bars.len() as f32;
    let qr_size = qr.as_ref().map_or(0.0, |q| q.len() as f32 * qr_unit);
    let width = pad + quiet + code_width + quiet + if qr.is_some() { qr_size + 4.0 } else { 0.0 } + pad;
    let content_height = 8.0 + 8.0 + bar_height + 2.0 + 6.0 + 8.0;
    let height = pad + content_height.max(qr_size + 10.0) + pad;
    let text_chars = ((width - 2.0 * pad) / 4.0) as usize;
    let bar_top = pad + 16.0;
    let bar_left = pad + quiet;
    // Human-readable serial under the bars, then another line.
    let hr_chars = params.serial.len();
    let hr_left = bar_left + (code_width - hr_chars as f32 * 4.0) / 2.0;
    let texts = vec![
        (pad, pad, text_chars.min(24)),
        (pad, pad + 8.0, text_chars.min(18)),
        (hr_left.max(pad), bar_top + bar_height + 2.0, hr_chars),
        (pad, bar_top + bar_height + 10.0, text_chars.min(20)),
    ];
    let qr = qr.map(|q| (q, bar_left + code_width + quiet + 2.0, pad + 4.0, qr_unit));
    Layout {
        width: width.ceil() as usize,
        height: height.ceil() as usize,
        unit: UNIT,
        serial: Code { modules: bars, left: bar_left, top: bar_top, module: 1.0, height: bar_height },
        part: None,
        texts,
        keys: Vec::new(),
        qr,
    }
}

/// The serial's Code 128 and the part number's stacked a few modules apart
/// (as most makers print them), each with its own quiet zones, human-readable
/// text and optional key, and the QR to their right.
fn stacked_layout(params: &LabelParams) -> Layout {
    let pad = 6.0f32;
    let qr_unit = 1.5f32;
    let bar_height = 30.0f32;
    let keys_width = if params.printed_keys { 14.0 } else { 0.0 };
    let left = pad + keys_width;
    let serial_modules = code128_modules(&params.serial);
    let serial_width = serial_modules.len() as f32;
    let mut codes: Vec<(Code, &'static str, usize)> = Vec::new();
    let serial = Code { modules: serial_modules, left: 0.0, top: 0.0, module: 1.0, height: bar_height };
    codes.push((serial, "S/N", params.serial.len()));
    if let Some(part) = &params.part_number {
        let modules = code128_modules(part);
        // Makers print the two barcodes about as wide as each other.
        let module = (serial_width * 1.1 / modules.len() as f32).clamp(0.65, 1.4);
        let code = Code { modules, left: 0.0, top: 0.0, module, height: bar_height };
        let entry = (code, "P/N", part.len());
        if params.part_first { codes.insert(0, entry) } else { codes.push(entry) }
    }
    let column =
        codes.iter().map(|(c, _, _)| 2.0 * QUIET_MODULES * c.module + c.width()).fold(0.0f32, f32::max);
    let gap = params.barcode_gap.clamp(1.0, 30.0);
    let mut texts = vec![(pad, pad, 0), (pad, pad + 8.0, 0)];
    let mut keys = Vec::new();
    let mut y = pad + 16.0;
    let count = codes.len();
    for (i, (code, key, chars)) in codes.iter_mut().enumerate() {
        code.left = left + QUIET_MODULES * code.module;
        let hr_left = (code.left + (code.width() - *chars as f32 * 4.0) / 2.0).max(left);
        if i == 0 && count > 1 {
            // The upper code's human-readable text above it.
            texts.push((hr_left, y, *chars));
            y += 7.0;
            code.top = y;
            y += bar_height + gap;
        } else {
            code.top = y;
            y += bar_height + 2.0;
            texts.push((hr_left, y, *chars));
            y += 8.0;
        }
        if params.printed_keys {
            keys.push((pad, code.top + bar_height / 2.0 - 2.5, *key));
        }
    }
    texts.push((pad, y, 0));
    let content_bottom = y + 5.0;
    let qr = params.qr_text.as_deref().map(qr_modules);
    let qr_size = qr.as_ref().map_or(0.0, |q| q.len() as f32 * qr_unit);
    let width = left + column + if qr.is_some() { qr_size + 4.0 } else { 0.0 } + pad;
    let height = content_bottom.max(pad + 4.0 + qr_size + 4.0) + pad;
    let text_chars = ((width - 2.0 * pad) / 4.0) as usize;
    texts[0].2 = text_chars.min(24);
    texts[1].2 = text_chars.min(18);
    let last = texts.len() - 1;
    texts[last].2 = text_chars.min(20);
    let qr = qr.map(|q| (q, left + column + 2.0, pad + 4.0, qr_unit));
    let mut serial = None;
    let mut part = None;
    for (code, key, _) in codes {
        if key == "S/N" {
            serial = Some(code);
        } else {
            part = Some(code);
        }
    }
    Layout {
        width: width.ceil() as usize,
        height: height.ceil() as usize,
        unit: STACKED_UNIT,
        serial: serial.expect("the serial's code is laid out"),
        part,
        texts,
        keys,
        qr,
    }
}

fn build_label(rng: &mut Rng, layout: &Layout) -> Label {
    let mut label = Label::new(layout.width, layout.height, layout.unit);
    for &(x, y, count) in &layout.texts {
        label.text(rng, x, y, count);
    }
    for code in std::iter::once(&layout.serial).chain(&layout.part) {
        for (i, &dark) in code.modules.iter().enumerate() {
            if dark {
                label.fill(code.left + i as f32 * code.module, code.top, code.module, code.height);
            }
        }
    }
    for &(x, y, key) in &layout.keys {
        label.key(x, y, key);
    }
    if let Some((qr, left, top, cell)) = &layout.qr {
        for (y, row) in qr.iter().enumerate() {
            for (x, &dark) in row.iter().enumerate() {
                if dark {
                    label.fill(left + x as f32 * cell, top + y as f32 * cell, *cell, *cell);
                }
            }
        }
    }
    label
}

/// The label wrapped on a cylinder whose axis runs along the bars, seen
/// from the front: label x (arc length) against x in the projected plane.
#[derive(Clone, Copy)]
struct Curve {
    /// Label width (arc length), raster pixels.
    width: f32,
    /// Cylinder radius, raster pixels.
    radius: f32,
    /// Half the angle the label spans, radians.
    half_angle: f32,
    /// Width of the label's projection, raster pixels.
    plane_width: f32,
}

impl Curve {
    fn new(curvature: f32, width: f32) -> Option<Self> {
        let half_angle = curvature.clamp(0.0, 0.9) * 1.6;
        if half_angle < 1e-3 {
            return None;
        }
        let radius = width / 2.0 / half_angle;
        Some(Curve { width, radius, half_angle, plane_width: 2.0 * radius * half_angle.sin() })
    }

    /// Label x and the angle of the surface there, for plane x (None off the label).
    fn label_x(self, u: f32) -> Option<(f32, f32)> {
        let x = (u - self.plane_width / 2.0) / self.radius;
        if !(-1.0..=1.0).contains(&x) {
            return None;
        }
        let angle = x.asin();
        Some((self.radius * angle + self.width / 2.0, angle))
    }

    /// Label x for plane x, continued linearly beyond the label's sides
    /// (where a cover may reach).
    fn label_x_extended(self, u: f32) -> f32 {
        let x = u - self.plane_width / 2.0;
        let side = self.plane_width / 2.0;
        if x.abs() < side {
            self.radius * (x / self.radius).asin() + self.width / 2.0
        } else {
            x.signum() * (self.radius * self.half_angle + (x.abs() - side)) + self.width / 2.0
        }
    }

    /// Plane x for label x (the inverse of `label_x_extended`).
    fn plane_x(self, s: f32) -> f32 {
        let x = s - self.width / 2.0;
        let arc = self.radius * self.half_angle;
        if x.abs() < arc {
            self.radius * (x / self.radius).sin() + self.plane_width / 2.0
        } else {
            x.signum() * (self.plane_width / 2.0 + (x.abs() - arc)) + self.plane_width / 2.0
        }
    }
}

/// A cover as a (super)ellipse in label raster coordinates.
struct CoverShape {
    /// Edge normal axis is x (left and right edges), else y.
    normal_is_x: bool,
    /// Centre and semi-axes along the normal and along the edge.
    centre_n: f32,
    semi_n: f32,
    centre_t: f32,
    semi_t: f32,
    /// Normal coordinate runs from the far edge (right, bottom).
    flipped: bool,
    extent_n: f32,
    /// Ellipse exponent (2 a thumb, 4 a sticker) and gray level.
    power: i32,
    gray: f32,
}

impl CoverShape {
    fn new(cover: &Cover, width: f32, height: f32, unit: f32) -> Self {
        let edge = cover.from_edge % 4;
        let normal_is_x = edge.is_multiple_of(2);
        let (extent_n, extent_t) = if normal_is_x { (width, height) } else { (height, width) };
        let depth = cover.fraction.clamp(0.0, 1.0) * extent_n;
        // It reaches in from outside the label (a finger, a sticker's edge
        // on the device).
        let outside = 12.0 * unit;
        CoverShape {
            normal_is_x,
            centre_n: (depth - outside) / 2.0,
            semi_n: ((depth + outside) / 2.0).max(1.0),
            centre_t: cover.along * extent_t,
            semi_t: (cover.breadth * extent_t / 2.0).max(1.0),
            flipped: edge >= 2,
            extent_n,
            power: if cover.dark { 4 } else { 2 },
            gray: if cover.dark { 48.0 } else { 172.0 },
        }
    }

    /// Normalised (super)ellipse radius at label raster (s, v): inside below 1.
    fn radius(&self, s: f32, v: f32) -> f32 {
        let (n, t) = if self.normal_is_x { (s, v) } else { (v, s) };
        let n = if self.flipped { self.extent_n - n } else { n };
        let a = ((n - self.centre_n) / self.semi_n).abs();
        let b = ((t - self.centre_t) / self.semi_t).abs();
        a.powi(self.power) + b.powi(self.power)
    }

    /// The cover's gray level at (s, v), if it covers that point.
    fn value(&self, s: f32, v: f32) -> Option<f32> {
        let r = self.radius(s, v);
        (r < 1.0).then(|| self.gray * (0.72 + 0.28 * (1.0 - r).sqrt()))
    }

    /// Its bounding box's corners in label raster coordinates.
    fn corners(&self) -> [(f32, f32); 4] {
        let (n0, n1) = (self.centre_n - self.semi_n, self.centre_n + self.semi_n);
        let (n0, n1) = if self.flipped { (self.extent_n - n1, self.extent_n - n0) } else { (n0, n1) };
        let (t0, t1) = (self.centre_t - self.semi_t, self.centre_t + self.semi_t);
        let point = |n: f32, t: f32| if self.normal_is_x { (n, t) } else { (t, n) };
        [point(n0, t0), point(n1, t0), point(n1, t1), point(n0, t1)]
    }
}

/// A soft elliptical specular highlight in the label's plane.
struct Glare {
    centre: (f32, f32),
    /// Inverse semi-axes along the rotated axes.
    inv_a: f32,
    inv_b: f32,
    cos: f32,
    sin: f32,
    amplitude: f32,
}

impl Glare {
    fn new(rng: &mut Rng, strength: f32, width: f32, height: f32) -> Option<Self> {
        if strength <= 0.0 {
            return None;
        }
        let centre = (width * (0.15 + 0.7 * rng.unit()), height * (0.15 + 0.7 * rng.unit()));
        let a = width * (0.07 + 0.15 * rng.unit());
        let b = height * (0.12 + 0.25 * rng.unit());
        let angle = rng.unit() * std::f32::consts::PI;
        Some(Glare {
            centre,
            inv_a: 1.0 / a,
            inv_b: 1.0 / b,
            cos: angle.cos(),
            sin: angle.sin(),
            amplitude: strength.min(1.0) * 330.0,
        })
    }

    fn light(&self, u: f32, v: f32) -> f32 {
        let (dx, dy) = (u - self.centre.0, v - self.centre.1);
        let p = (dx * self.cos + dy * self.sin) * self.inv_a;
        let q = (dy * self.cos - dx * self.sin) * self.inv_b;
        let d2 = p * p + q * q;
        if d2 > 9.0 { 0.0 } else { self.amplitude * (-1.5 * d2).exp() }
    }
}

/// Moves the label's local corners (top-left, top-right, bottom-right,
/// bottom-left) for a view from one side: the near side (0 left, 1 right,
/// 2 top, 3 bottom) longer, the far side shorter by `strength`, the label
/// foreshortened along the tilt.
fn keystone(local: [(f32, f32); 4], strength: f32, near: u64) -> [(f32, f32); 4] {
    let (grow, shrink, squash) = (1.0 + 0.25 * strength, 1.0 - 0.75 * strength, 1.0 - 0.4 * strength);
    let mut out = local;
    for (i, (x, y)) in out.iter_mut().enumerate() {
        let on_left = i == 0 || i == 3;
        let on_top = i < 2;
        match near {
            0 | 1 => {
                let near_side = on_left == (near == 0);
                *y *= if near_side { grow } else { shrink };
                *x *= squash;
            }
            _ => {
                let near_side = on_top == (near == 2);
                *x *= if near_side { grow } else { shrink };
                *y *= squash;
            }
        }
    }
    out
}

/// Whether the quadrilateral is strictly convex (its corners in order).
fn convex(corners: &[(f64, f64)]) -> bool {
    let n = corners.len();
    let cross = |i: usize| {
        let (a, b, c) = (corners[i], corners[(i + 1) % n], corners[(i + 2) % n]);
        (b.0 - a.0) * (c.1 - b.1) - (b.1 - a.1) * (c.0 - b.0)
    };
    let first = cross(0);
    first != 0.0 && (1..n).all(|i| cross(i) * first > 0.0)
}

/// Renders the photo (before JPEG compression) as stored: for an EXIF
/// orientation of 2-8 the scene transformed by the orientation's inverse.
pub fn render_rgb(seed: u64, params: &LabelParams) -> image::RgbImage {
    render_scene(seed, params)
}

/// Renders the scene (as displayed) into the stored pixels.
fn render_scene(seed: u64, params: &LabelParams) -> image::RgbImage {
    let mut rng = Rng::new(seed);
    // The harder effects draw from a stream of their own, so the standard
    // cases' photos do not change.
    let mut effects = Rng::new(seed ^ 0xE77E_C75E_ED00_0001);
    let (w, h) = (params.width.max(16) as usize, params.height.max(16) as usize);
    let layout = layout(params);
    let label = build_label(&mut rng, &layout);

    // Background: base gray, smooth separable variation, faint wood-grain
    // stripes and the edge of the terminal's body.
    let base = 70.0 + rng.unit() * 80.0;
    let fx = smooth_walk(&mut rng, w, 25.0);
    let fy = smooth_walk(&mut rng, h, 25.0);
    let period = 7.0 + rng.unit() * 6.0;
    let grain: Vec<f32> = (0..w).map(|x| 4.0 * (x as f32 * std::f32::consts::TAU / period).sin()).collect();
    let edge_angle = rng.unit() * std::f32::consts::TAU;
    let (en_x, en_y) = (edge_angle.cos(), edge_angle.sin());
    let edge_offset = (w.min(h) as f32) * (0.4 + 0.1 * rng.unit());
    let (mid_x, mid_y) = (w as f32 / 2.0, h as f32 / 2.0);
    let background = |x: usize, y: usize| -> f32 {
        let mut v = base + fx[x] + fy[y] + grain[x];
        if (x as f32 - mid_x) * en_x + (y as f32 - mid_y) * en_y > edge_offset {
            v -= 45.0;
        }
        v
    };

    // The label's projection: flat, or narrower when wrapped on a cylinder.
    let curve = Curve::new(params.curvature, label.width as f32);
    let plane_width = curve.map_or(label.width as f32, |c| c.plane_width);

    // Where the label's corners land in the photo.
    let scale = params.module_px / layout.unit as f32;
    let (lw, lh) = (plane_width * scale, label.height as f32 * scale);
    let cx = w as f32 * (0.4 + 0.2 * rng.unit());
    let cy = h as f32 * (0.4 + 0.2 * rng.unit());
    let theta = params.rotation_deg.to_radians();
    let (cos, sin) = (theta.cos(), theta.sin());
    let mut local =
        [(-lw / 2.0, -lh / 2.0), (lw / 2.0, -lh / 2.0), (lw / 2.0, lh / 2.0), (-lw / 2.0, lh / 2.0)];
    let keystone_strength = ((params.perspective - 0.06).max(0.0) * 2.0).min(0.6);
    if keystone_strength > 0.0 {
        local = keystone(local, keystone_strength, effects.below(4));
    }
    // Random corner jitter: at most 6 % of the label width (the keystone
    // takes the rest); halved until the quadrilateral stays convex.
    let mut jitter = params.perspective.min(0.06) * lw;
    let draws: Vec<(f32, f32)> = (0..4).map(|_| (rng.unit(), rng.unit())).collect();
    let place = |jitter: f32| -> Vec<(f64, f64)> {
        local
            .iter()
            .zip(&draws)
            .map(|(&(x, y), &(rx, ry))| {
                let px = cx + x * cos - y * sin + jitter * (rx * 2.0 - 1.0);
                let py = cy + x * sin + y * cos + jitter * (ry * 2.0 - 1.0);
                (f64::from(px), f64::from(py))
            })
            .collect()
    };
    let mut corners = place(jitter);
    while !convex(&corners) && jitter > 0.01 {
        jitter /= 2.0;
        corners = place(jitter);
    }
    let (rw, rh) = (f64::from(plane_width), label.height as f64);
    let raster = [(0.0, 0.0), (rw, 0.0), (rw, rh), (0.0, rh)];
    let to_label = homography(&corners, &raster);
    let to_photo = homography(&raster, &corners);
    // Beyond the horizon the mapping wraps around: points there are not on
    // the label whatever it says.
    let centre_x = corners.iter().map(|c| c.0).sum::<f64>() / 4.0;
    let centre_y = corners.iter().map(|c| c.1).sum::<f64>() / 4.0;
    let front = denominator(&to_label, centre_x, centre_y).signum();

    let cover = params
        .cover
        .as_ref()
        .map(|c| CoverShape::new(c, label.width as f32, label.height as f32, label.unit as f32));
    let glare = Glare::new(&mut effects, params.glare, plane_width, label.height as f32);
    let light_side = if effects.below(2) == 0 { 1.0 } else { -1.0 };

    // The photo box to composite: the label's corners and the cover's.
    let photo_front = denominator(&to_photo, rw / 2.0, rh / 2.0).signum();
    let mut extent = corners.clone();
    if let Some(cover) = &cover {
        for (s, v) in cover.corners() {
            let u = curve.map_or(s, |c| c.plane_x(s));
            let (u, v) = (f64::from(u), f64::from(v));
            if denominator(&to_photo, u, v) * photo_front > 0.0 {
                extent.push(apply(&to_photo, u, v));
            }
        }
    }

    // Composite the label over the background in its bounding box, with
    // 2x2 supersampling (4x4 for modules under 2 px), then blur that box.
    let margin = (3.0 * params.blur_sigma).ceil() as usize + 2;
    let bx0 = (extent.iter().map(|c| c.0).fold(f64::MAX, f64::min).floor().max(0.0) as usize)
        .saturating_sub(margin);
    let by0 = (extent.iter().map(|c| c.1).fold(f64::MAX, f64::min).floor().max(0.0) as usize)
        .saturating_sub(margin);
    let bx1 =
        ((extent.iter().map(|c| c.0).fold(f64::MIN, f64::max).ceil().max(0.0) as usize) + margin).min(w);
    let by1 =
        ((extent.iter().map(|c| c.1).fold(f64::MIN, f64::max).ceil().max(0.0) as usize) + margin).min(h);
    let (rw_box, rh_box) = (bx1.saturating_sub(bx0), by1.saturating_sub(by0));
    let offsets: &[f64] = if params.module_px < 2.0 { &[0.125, 0.375, 0.625, 0.875] } else { &[0.25, 0.75] };
    let samples = (offsets.len() * offsets.len()) as f32;
    let on_label = |u: f32, v: f32| -> Option<f32> {
        let value = match curve {
            None => label.sample(u, v)?,
            Some(c) => {
                let (s, angle) = c.label_x(u)?;
                let shade = 1.0 - 0.9 * (1.0 - angle.cos()) + 0.12 * light_side * angle.sin();
                label.sample(s, v)? * shade
            }
        };
        Some(value + glare.as_ref().map_or(0.0, |g| g.light(u, v)))
    };
    let mut region = vec![0f32; rw_box * rh_box];
    for y in by0..by1 {
        for x in bx0..bx1 {
            let bg = background(x, y);
            let mut sum = 0.0;
            for &oy in offsets {
                for &ox in offsets {
                    let (px, py) = (x as f64 + ox, y as f64 + oy);
                    if denominator(&to_label, px, py) * front <= 0.0 {
                        sum += bg;
                        continue;
                    }
                    let (u, v) = apply(&to_label, px, py);
                    let (u, v) = (u as f32, v as f32);
                    let covered = cover.as_ref().and_then(|c| {
                        let s = curve.map_or(u, |curve| curve.label_x_extended(u));
                        c.value(s, v)
                    });
                    sum += covered.or_else(|| on_label(u, v)).unwrap_or(bg);
                }
            }
            region[(y - by0) * rw_box + (x - bx0)] = sum / samples;
        }
    }
    gaussian_blur(&mut region, rw_box, rh_box, params.blur_sigma);

    // Lighting, exposure, noise, color tint.
    let light_angle = rng.unit() * std::f32::consts::TAU;
    let (lx, ly) = (light_angle.cos(), light_angle.sin());
    let diag = ((w * w + h * h) as f32).sqrt();
    let tint = [1.0, 0.97 + 0.03 * rng.unit(), 0.88 + 0.08 * rng.unit()];
    // Low light: the signal scaled down over a lifted black level, the
    // sensor's gain making the noise stronger.
    let exposure = params.exposure.clamp(0.05, 4.0);
    let dim = exposure != 1.0;
    let noise_gain = if exposure < 1.0 { exposure.sqrt().recip() } else { 1.0 };
    let lift = 12.0 * (1.0 - exposure).max(0.0);
    let noise_table: Vec<f32> = (0..4096).map(|_| rng.gaussian() * params.noise_sigma * noise_gain).collect();
    let mut noise_state = rng.next() | 1;
    let (base_index, dx, dy, stored_w, stored_h) = stored_layout(params.exif_orientation, w, h);
    let mut out = vec![0u8; w * h * 3];
    for y in 0..h {
        let in_box_y = y >= by0 && y < by1;
        for x in 0..w {
            let value = if in_box_y && x >= bx0 && x < bx1 {
                region[(y - by0) * rw_box + (x - bx0)]
            } else {
                background(x, y)
            };
            let t = ((x as f32 - mid_x) * lx + (y as f32 - mid_y) * ly) / diag + 0.5;
            noise_state ^= noise_state << 13;
            noise_state ^= noise_state >> 7;
            noise_state ^= noise_state << 17;
            let lit = value * (1.0 - params.lighting * t);
            let v = if dim { lit * exposure + lift } else { lit } + noise_table[(noise_state >> 52) as usize];
            let i = (base_index + x as isize * dx + y as isize * dy) as usize * 3;
            for (c, factor) in tint.iter().enumerate() {
                out[i + c] = (v * factor).clamp(0.0, 255.0) as u8;
            }
        }
    }
    image::RgbImage::from_raw(stored_w as u32, stored_h as u32, out).expect("buffer size matches")
}

/// A smooth random curve of `n` values within about ±amplitude.
fn smooth_walk(rng: &mut Rng, n: usize, amplitude: f32) -> Vec<f32> {
    let knots: Vec<f32> = (0..n / 256 + 2).map(|_| (rng.unit() * 2.0 - 1.0) * amplitude).collect();
    (0..n)
        .map(|i| {
            let t = i as f32 / 256.0;
            let k = t as usize;
            let a = t - k as f32;
            let s = a * a * (3.0 - 2.0 * a);
            knots[k] * (1.0 - s) + knots[k + 1] * s
        })
        .collect()
}

fn gaussian_blur(values: &mut [f32], width: usize, height: usize, sigma: f32) {
    if sigma <= 0.05 || width == 0 || height == 0 {
        return;
    }
    let radius = (3.0 * sigma).ceil() as isize;
    let kernel: Vec<f32> =
        (-radius..=radius).map(|i| (-(i * i) as f32 / (2.0 * sigma * sigma)).exp()).collect();
    let total: f32 = kernel.iter().sum();
    let kernel: Vec<f32> = kernel.iter().map(|k| k / total).collect();
    let mut tmp = vec![0f32; values.len()];
    for y in 0..height {
        for x in 0..width {
            let mut sum = 0.0;
            for (j, k) in kernel.iter().enumerate() {
                let xx = (x as isize + j as isize - radius).clamp(0, width as isize - 1) as usize;
                sum += values[y * width + xx] * k;
            }
            tmp[y * width + x] = sum;
        }
    }
    for y in 0..height {
        for x in 0..width {
            let mut sum = 0.0;
            for (j, k) in kernel.iter().enumerate() {
                let yy = (y as isize + j as isize - radius).clamp(0, height as isize - 1) as usize;
                sum += tmp[yy * width + x] * k;
            }
            values[y * width + x] = sum;
        }
    }
}

/// The homography mapping each `from` point to the `to` point.
fn homography(from: &[(f64, f64)], to: &[(f64, f64)]) -> [f64; 9] {
    // Solve A h = b for h = (a, b, c, d, e, f, g, i), with h33 = 1.
    let mut a = [[0f64; 9]; 8];
    for k in 0..4 {
        let (x, y) = from[k];
        let (u, v) = to[k];
        a[2 * k] = [x, y, 1.0, 0.0, 0.0, 0.0, -u * x, -u * y, u];
        a[2 * k + 1] = [0.0, 0.0, 0.0, x, y, 1.0, -v * x, -v * y, v];
    }
    for col in 0..8 {
        let pivot = (col..8).max_by(|&p, &q| a[p][col].abs().total_cmp(&a[q][col].abs())).unwrap_or(col);
        a.swap(col, pivot);
        let d = a[col][col];
        if d.abs() < 1e-12 {
            continue;
        }
        for value in a[col].iter_mut().skip(col) {
            *value /= d;
        }
        let pivot_row = a[col];
        for (row, values) in a.iter_mut().enumerate() {
            if row != col {
                let factor = values[col];
                for (value, p) in values.iter_mut().zip(pivot_row.iter()).skip(col) {
                    *value -= factor * p;
                }
            }
        }
    }
    [a[0][8], a[1][8], a[2][8], a[3][8], a[4][8], a[5][8], a[6][8], a[7][8], 1.0]
}

/// The projective denominator of `h` at (x, y): its sign tells the side of
/// the horizon.
fn denominator(h: &[f64; 9], x: f64, y: f64) -> f64 {
    h[6] * x + h[7] * y + h[8]
}

fn apply(h: &[f64; 9], x: f64, y: f64) -> (f64, f64) {
    let w = h[6] * x + h[7] * y + h[8];
    ((h[0] * x + h[1] * y + h[2]) / w, (h[3] * x + h[4] * y + h[5]) / w)
}

/// SplitMix64: small, deterministic, good enough for fixtures.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Rng(seed)
    }

    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    fn unit(&mut self) -> f32 {
        (self.next() >> 40) as f32 / (1u64 << 24) as f32
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn gaussian(&mut self) -> f32 {
        let u1 = self.unit().max(1e-7);
        let u2 = self.unit();
        (-2.0 * u1.ln()).sqrt() * (std::f32::consts::TAU * u2).cos()
    }
}
