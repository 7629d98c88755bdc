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

use image::codecs::jpeg::JpegEncoder;
use rxing::{BarcodeFormat, Writer};

/// How a generated label photo looks.
#[derive(Debug, Clone, PartialEq)]
pub struct LabelParams {
    /// The serial encoded in the Code 128 (and printed under it).
    pub serial: String,
    /// Width of one Code 128 module in the photo, pixels.
    pub module_px: f32,
    /// Rotation of the label in the photo, degrees.
    pub rotation_deg: f32,
    /// Perspective: each corner moves by up to this fraction of the label width.
    pub perspective: f32,
    /// Gaussian blur sigma, pixels.
    pub blur_sigma: f32,
    /// Sensor noise standard deviation, gray levels.
    pub noise_sigma: f32,
    /// Uneven lighting: brightness falls by up to this fraction across the frame.
    pub lighting: f32,
    /// Text of a QR code printed beside the Code 128, if any.
    pub qr_text: Option<String>,
    /// Photo width, pixels.
    pub width: u32,
    /// Photo height, pixels.
    pub height: u32,
    /// JPEG quality, 1-100.
    pub jpeg_quality: u8,
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

/// The photo as JPEG bytes.
pub fn label_photo(seed: u64, params: &LabelParams) -> Vec<u8> {
    let rgb = render_rgb(seed, params);
    let mut out = Vec::new();
    let mut encoder = JpegEncoder::new_with_quality(&mut out, params.jpeg_quality.clamp(1, 100));
    encoder
        .encode_image(&image::DynamicImage::ImageRgb8(rgb))
        .expect("encoding a generated image as JPEG cannot fail");
    out
}

/// Paper and ink gray levels on the label raster.
const PAPER: f32 = 238.0;
const INK: f32 = 28.0;
/// Label raster pixels per label unit (one Code 128 module).
const UNIT: usize = 4;

/// The label in its own plane, `UNIT` raster pixels per module.
struct Label {
    width: usize,
    height: usize,
    pixels: Vec<f32>,
}

impl Label {
    fn new(width_units: usize, height_units: usize) -> Self {
        let (width, height) = (width_units * UNIT, height_units * UNIT);
        Label { width, height, pixels: vec![PAPER; width * height] }
    }

    /// Fills a rectangle given in (fractional) units.
    fn fill(&mut self, x: f32, y: f32, w: f32, h: f32) {
        let u = UNIT as f32;
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
            for row in 0..5 {
                for col in 0..3 {
                    if bits >> (row * 3 + col) & 1 == 1 {
                        self.fill(gx + col as f32, y + row as f32, 1.0, 1.0);
                    }
                }
            }
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

fn build_label(rng: &mut Rng, params: &LabelParams) -> Label {
    let bars = code128_modules(&params.serial);
    let qr = params.qr_text.as_deref().map(qr_modules);
    let qr_unit = 1.5f32;
    let pad = 6.0f32;
    let quiet = 11.0f32;
    let bar_height = 36.0f32;
    let code_width = bars.len() as f32;
    let qr_size = qr.as_ref().map_or(0.0, |q| q.len() as f32 * qr_unit);
    let width = pad + quiet + code_width + quiet + if qr.is_some() { qr_size + 4.0 } else { 0.0 } + pad;
    let content_height = 8.0 + 8.0 + bar_height + 2.0 + 6.0 + 8.0;
    let height = pad + content_height.max(qr_size + 10.0) + pad;
    let mut label = Label::new(width.ceil() as usize, height.ceil() as usize);
    let text_chars = |w: f32| ((w - 2.0 * pad) / 4.0) as usize;
    label.text(rng, pad, pad, text_chars(width).min(24));
    label.text(rng, pad, pad + 8.0, text_chars(width).min(18));
    let bar_top = pad + 16.0;
    let bar_left = pad + quiet;
    for (i, &dark) in bars.iter().enumerate() {
        if dark {
            label.fill(bar_left + i as f32, bar_top, 1.0, bar_height);
        }
    }
    // Human-readable serial under the bars, then another line.
    let hr_chars = params.serial.len();
    let hr_left = bar_left + (code_width - hr_chars as f32 * 4.0) / 2.0;
    label.text(rng, hr_left.max(pad), bar_top + bar_height + 2.0, hr_chars);
    label.text(rng, pad, bar_top + bar_height + 10.0, text_chars(width).min(20));
    if let Some(qr) = qr {
        let left = bar_left + code_width + quiet + 2.0;
        let top = pad + 4.0;
        for (y, row) in qr.iter().enumerate() {
            for (x, &dark) in row.iter().enumerate() {
                if dark {
                    label.fill(left + x as f32 * qr_unit, top + y as f32 * qr_unit, qr_unit, qr_unit);
                }
            }
        }
    }
    label
}

/// Renders the photo (before JPEG compression).
pub fn render_rgb(seed: u64, params: &LabelParams) -> image::RgbImage {
    let mut rng = Rng::new(seed);
    let (w, h) = (params.width.max(16) as usize, params.height.max(16) as usize);
    let label = build_label(&mut rng, params);

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

    // Where the label's corners land in the photo.
    let scale = params.module_px / UNIT as f32;
    let (lw, lh) = (label.width as f32 * scale, label.height as f32 * scale);
    let cx = w as f32 * (0.4 + 0.2 * rng.unit());
    let cy = h as f32 * (0.4 + 0.2 * rng.unit());
    let theta = params.rotation_deg.to_radians();
    let (cos, sin) = (theta.cos(), theta.sin());
    let local = [(-lw / 2.0, -lh / 2.0), (lw / 2.0, -lh / 2.0), (lw / 2.0, lh / 2.0), (-lw / 2.0, lh / 2.0)];
    let jitter = params.perspective * lw;
    let corners: Vec<(f64, f64)> = local
        .iter()
        .map(|&(x, y)| {
            let px = cx + x * cos - y * sin + jitter * (rng.unit() * 2.0 - 1.0);
            let py = cy + x * sin + y * cos + jitter * (rng.unit() * 2.0 - 1.0);
            (f64::from(px), f64::from(py))
        })
        .collect();
    let (rw, rh) = (label.width as f64, label.height as f64);
    let raster = [(0.0, 0.0), (rw, 0.0), (rw, rh), (0.0, rh)];
    let to_label = homography(&corners, &raster);

    // Composite the label over the background in its bounding box, with
    // 2x2 supersampling, then blur that box.
    let margin = (3.0 * params.blur_sigma).ceil() as usize + 2;
    let bx0 = (corners.iter().map(|c| c.0).fold(f64::MAX, f64::min).floor().max(0.0) as usize)
        .saturating_sub(margin);
    let by0 = (corners.iter().map(|c| c.1).fold(f64::MAX, f64::min).floor().max(0.0) as usize)
        .saturating_sub(margin);
    let bx1 =
        ((corners.iter().map(|c| c.0).fold(f64::MIN, f64::max).ceil().max(0.0) as usize) + margin).min(w);
    let by1 =
        ((corners.iter().map(|c| c.1).fold(f64::MIN, f64::max).ceil().max(0.0) as usize) + margin).min(h);
    let (rw_box, rh_box) = (bx1.saturating_sub(bx0), by1.saturating_sub(by0));
    let mut region = vec![0f32; rw_box * rh_box];
    for y in by0..by1 {
        for x in bx0..bx1 {
            let bg = background(x, y);
            let mut sum = 0.0;
            for (ox, oy) in [(0.25, 0.25), (0.75, 0.25), (0.25, 0.75), (0.75, 0.75)] {
                let (u, v) = apply(&to_label, x as f64 + ox, y as f64 + oy);
                sum += label.sample(u as f32, v as f32).unwrap_or(bg);
            }
            region[(y - by0) * rw_box + (x - bx0)] = sum / 4.0;
        }
    }
    gaussian_blur(&mut region, rw_box, rh_box, params.blur_sigma);

    // Lighting, noise, color tint.
    let light_angle = rng.unit() * std::f32::consts::TAU;
    let (lx, ly) = (light_angle.cos(), light_angle.sin());
    let diag = ((w * w + h * h) as f32).sqrt();
    let tint = [1.0, 0.97 + 0.03 * rng.unit(), 0.88 + 0.08 * rng.unit()];
    let noise_table: Vec<f32> = (0..4096).map(|_| rng.gaussian() * params.noise_sigma).collect();
    let mut noise_state = rng.next() | 1;
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
            let v = value * (1.0 - params.lighting * t) + noise_table[(noise_state >> 52) as usize];
            let i = (y * w + x) * 3;
            for (c, factor) in tint.iter().enumerate() {
                out[i + c] = (v * factor).clamp(0.0, 255.0) as u8;
            }
        }
    }
    image::RgbImage::from_raw(w as u32, h as u32, out).expect("buffer size matches")
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
