//! The merchant's signature: strokes, their compact encoding, the rendered
//! image, and the device's Ed25519 signature that binds them to the signed
//! acceptance summary.
//!
//! A signature drawn on the agent's phone is only as strong as its binding:
//! the acceptance content hash, the strokes' hash and the image's hash are
//! signed together with the device's own key (created on first start and
//! kept in the store), and the server countersigns them on arrival.

use std::io::Cursor;

use ed25519_dalek::SigningKey;
use posfield_shared::visit::{SignatureCheck, Visit, acceptance};
use serde::{Deserialize, Serialize};

use crate::blobs::sha256_hex;

/// MIME type of the compact stroke encoding.
pub const STROKES_MIME: &str = "application/vnd.posfield.strokes";
const MAGIC: &[u8] = b"PFSIG1";
const MAX_STROKES: usize = 500;
const MAX_POINTS: usize = 50_000;
/// Longest side of the rendered image.
const RENDER_MAX_SIDE: f32 = 1000.0;

/// One sampled point of a stroke.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Point {
    /// Horizontal position in pad pixels.
    pub x: f32,
    /// Vertical position in pad pixels.
    pub y: f32,
    /// Milliseconds since the first point of the signature.
    pub t: u32,
    /// Pressure from 0 to 1, when the screen reports it.
    #[serde(default)]
    pub p: Option<f32>,
}

/// What the signature pad captured.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Strokes {
    /// Pad width in pixels.
    pub width: f32,
    /// Pad height in pixels.
    pub height: f32,
    /// Strokes, each a list of points in drawing order.
    pub strokes: Vec<Vec<Point>>,
}

/// Why a signature was refused or does not verify.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SignatureError {
    /// Nothing was drawn.
    #[error("the signature is empty")]
    Empty,
    /// Too little was drawn to be a signature.
    #[error(
        "the signature is too short ({ink:.0} px of ink, at least {min:.0} px needed): please sign again"
    )]
    TooShort {
        /// Ink length drawn.
        ink: f32,
        /// The minimum.
        min: f32,
    },
    /// More strokes or points than any signature has.
    #[error("the signature has {points} points in {strokes} strokes, more than allowed")]
    TooLarge {
        /// Strokes.
        strokes: usize,
        /// Points.
        points: usize,
    },
    /// A point outside the pad or not a number.
    #[error("point {index} ({x}, {y}) is outside the {width}x{height} pad")]
    BadPoint {
        /// Index among all points.
        index: usize,
        /// x.
        x: f32,
        /// y.
        y: f32,
        /// Pad width.
        width: f32,
        /// Pad height.
        height: f32,
    },
    /// The pad size is not usable.
    #[error("the signature pad size {width}x{height} is not usable")]
    BadPad {
        /// Width.
        width: f32,
        /// Height.
        height: f32,
    },
    /// Rendering failed.
    #[error("could not render the signature: {0}")]
    Render(String),
}

/// The signature ready to store: the compact strokes and the rendered PNG.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CapturedSignature {
    /// Compact stroke encoding ([`STROKES_MIME`]).
    pub strokes_blob: Vec<u8>,
    /// SHA-256 of `strokes_blob`.
    pub strokes_sha256: String,
    /// The rendered signature, PNG.
    pub png: Vec<u8>,
    /// SHA-256 of `png`.
    pub png_sha256: String,
    /// Width of the PNG.
    pub width: u32,
    /// Height of the PNG.
    pub height: u32,
}

impl Strokes {
    /// Checks the strokes are a plausible signature.
    pub fn validate(&self) -> Result<(), SignatureError> {
        let (width, height) = (self.width, self.height);
        if !(width.is_finite()
            && height.is_finite()
            && (50.0..=10_000.0).contains(&width)
            && (50.0..=10_000.0).contains(&height))
        {
            return Err(SignatureError::BadPad { width, height });
        }
        let points: usize = self.strokes.iter().map(Vec::len).sum();
        if points == 0 {
            return Err(SignatureError::Empty);
        }
        if self.strokes.len() > MAX_STROKES || points > MAX_POINTS {
            return Err(SignatureError::TooLarge { strokes: self.strokes.len(), points });
        }
        let (margin_x, margin_y) = (width * 0.1, height * 0.1);
        for (index, point) in self.strokes.iter().flatten().enumerate() {
            let inside = point.x.is_finite()
                && point.y.is_finite()
                && (-margin_x..=width + margin_x).contains(&point.x)
                && (-margin_y..=height + margin_y).contains(&point.y);
            if !inside {
                return Err(SignatureError::BadPoint { index, x: point.x, y: point.y, width, height });
            }
        }
        let ink = self.ink_length();
        // A quarter of the pad's longer side: a dot or a tick is not a signature.
        let min = width.max(height) * 0.25;
        if ink < min {
            return Err(SignatureError::TooShort { ink, min });
        }
        Ok(())
    }

    /// Total length of all strokes in pad pixels.
    pub fn ink_length(&self) -> f32 {
        self.strokes
            .iter()
            .flat_map(|s| s.windows(2))
            .map(|w| ((w[1].x - w[0].x).powi(2) + (w[1].y - w[0].y).powi(2)).sqrt())
            .sum()
    }

    /// The compact, deterministic binary encoding: coordinates quantized to
    /// a tenth of a pixel, delta- and zigzag-varint-encoded.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = MAGIC.to_vec();
        put_varint(&mut out, quantize(self.width) as u64);
        put_varint(&mut out, quantize(self.height) as u64);
        put_varint(&mut out, self.strokes.len() as u64);
        let (mut last_x, mut last_y, mut last_t) = (0i64, 0i64, 0i64);
        for stroke in &self.strokes {
            put_varint(&mut out, stroke.len() as u64);
            for point in stroke {
                let (x, y, t) = (quantize(point.x), quantize(point.y), i64::from(point.t));
                put_varint(&mut out, zigzag(x - last_x));
                put_varint(&mut out, zigzag(y - last_y));
                put_varint(&mut out, zigzag(t - last_t));
                out.push(point.p.map_or(0, |p| (p.clamp(0.0, 1.0) * 254.0).round() as u8 + 1));
                (last_x, last_y, last_t) = (x, y, t);
            }
        }
        out
    }

    /// Renders the strokes as a black-on-white PNG, the long side at most 1000 px.
    pub fn render_png(&self) -> Result<(Vec<u8>, u32, u32), SignatureError> {
        let scale = (RENDER_MAX_SIDE / self.width.max(self.height)).min(1.0);
        let (w, h) = ((self.width * scale).ceil() as u32, (self.height * scale).ceil() as u32);
        let mut canvas = image::GrayImage::from_pixel(w.max(1), h.max(1), image::Luma([255]));
        for stroke in &self.strokes {
            let pen = |p: &Point| 1.5 + 2.0 * p.p.unwrap_or(0.5).clamp(0.0, 1.0);
            if let [only] = stroke.as_slice() {
                stamp(&mut canvas, only.x * scale, only.y * scale, pen(only));
            }
            for pair in stroke.windows(2) {
                let (a, b) = (pair[0], pair[1]);
                let length = ((b.x - a.x).powi(2) + (b.y - a.y).powi(2)).sqrt() * scale;
                let steps = (length / 0.7).ceil().max(1.0) as usize;
                for i in 0..=steps {
                    let f = i as f32 / steps as f32;
                    let radius = pen(&a) + (pen(&b) - pen(&a)) * f;
                    stamp(
                        &mut canvas,
                        (a.x + (b.x - a.x) * f) * scale,
                        (a.y + (b.y - a.y) * f) * scale,
                        radius,
                    );
                }
            }
        }
        let mut png = Vec::new();
        canvas
            .write_to(&mut Cursor::new(&mut png), image::ImageFormat::Png)
            .map_err(|e| SignatureError::Render(e.to_string()))?;
        Ok((png, w, h))
    }

    /// Validates, encodes and renders the signature.
    pub fn capture(&self) -> Result<CapturedSignature, SignatureError> {
        self.validate()?;
        let strokes_blob = self.encode();
        let (png, width, height) = self.render_png()?;
        Ok(CapturedSignature {
            strokes_sha256: sha256_hex(&strokes_blob),
            png_sha256: sha256_hex(&png),
            strokes_blob,
            png,
            width,
            height,
        })
    }
}

fn quantize(v: f32) -> i64 {
    (f64::from(v) * 10.0).round() as i64
}

fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Paints a filled disc.
fn stamp(canvas: &mut image::GrayImage, cx: f32, cy: f32, radius: f32) {
    let (w, h) = (canvas.width() as i64, canvas.height() as i64);
    let r = radius.ceil() as i64;
    let (x0, y0) = (cx.round() as i64, cy.round() as i64);
    for y in (y0 - r).max(0)..=(y0 + r).min(h - 1) {
        for x in (x0 - r).max(0)..=(x0 + r).min(w - 1) {
            let d = ((x as f32 - cx).powi(2) + (y as f32 - cy).powi(2)).sqrt();
            if d <= radius {
                canvas.put_pixel(x as u32, y as u32, image::Luma([0]));
            }
        }
    }
}

/// The device's own Ed25519 key. Not `Clone`, not printable; zeroized on drop.
pub struct DeviceKey(SigningKey);

impl std::fmt::Debug for DeviceKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "DeviceKey(public {})", self.public_hex())
    }
}

impl DeviceKey {
    /// A key from 32 secret bytes (from the OS random source on first start).
    pub fn from_secret(secret: [u8; 32]) -> DeviceKey {
        DeviceKey(SigningKey::from_bytes(&secret))
    }

    /// The secret bytes, for the store only.
    pub(crate) fn secret_bytes(&self) -> [u8; 32] {
        self.0.to_bytes()
    }

    /// The public half, hex, sent to the server at enrolment.
    pub fn public_hex(&self) -> String {
        hex::encode(self.0.verifying_key().to_bytes())
    }

    /// Signs the rotation of the device the server knows as
    /// `server_device_id` to the key `next_public` (hex); returns hex.
    pub(crate) fn sign_rotation(&self, server_device_id: &str, next_public: &str) -> String {
        posfield_shared::device_key::sign_rotation(&self.0, server_device_id, next_public)
    }

    /// Signs the hashes that bind an acceptance together; returns hex.
    pub fn sign_acceptance(&self, content_hash: &str, strokes_sha256: &str, image_sha256: &str) -> String {
        acceptance::sign_binding(&self.0, content_hash, strokes_sha256, image_sha256)
    }
}

/// Which part of a signed acceptance no longer verifies.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "part", content = "detail")]
pub enum Tampered {
    /// Summary fields changed since signing (named).
    Summary(Vec<String>),
    /// The stroke data does not match its recorded hash.
    Strokes,
    /// The signature image does not match its recorded hash.
    Image,
    /// The device signature is missing, malformed or does not verify.
    DeviceSignature,
}

/// Verifies a visit's acceptance against the stroke and image bytes and the
/// device's public keys (the signature verifies if one of them made it);
/// lists every part that no longer matches.
pub fn verify_acceptance(visit: &Visit, public_keys: &[String], strokes: &[u8], png: &[u8]) -> Vec<Tampered> {
    let Some(acceptance) = &visit.acceptance else { return vec![Tampered::DeviceSignature] };
    let mut problems = Vec::new();
    if let SignatureCheck::Mismatch { fields } = SignatureCheck::of(visit) {
        problems.push(Tampered::Summary(fields));
    }
    if sha256_hex(strokes) != acceptance.strokes_sha256 {
        problems.push(Tampered::Strokes);
    }
    if sha256_hex(png) != acceptance.signature.sha256 {
        problems.push(Tampered::Image);
    }
    if !public_keys.iter().any(|key| acceptance::device_signature_verifies(acceptance, key)) {
        problems.push(Tampered::DeviceSignature);
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn sample() -> Strokes {
        let wave: Vec<Point> = (0..60)
            .map(|i| Point {
                x: 40.0 + i as f32 * 8.0,
                y: 150.0 + 40.0 * (i as f32 / 5.0).sin(),
                t: i * 16,
                p: Some(0.4 + (i % 5) as f32 / 10.0),
            })
            .collect();
        let bar: Vec<Point> = (0..10)
            .map(|i| Point { x: 100.0 + i as f32 * 20.0, y: 230.0, t: 1200 + i * 16, p: None })
            .collect();
        Strokes { width: 600.0, height: 300.0, strokes: vec![wave, bar] }
    }

    #[test]
    fn a_real_signature_is_captured_deterministically() {
        let first = sample().capture().unwrap();
        let second = sample().capture().unwrap();
        assert_eq!(first, second);
        assert!(first.png.starts_with(b"\x89PNG"));
        assert_eq!((first.width, first.height), (600, 300));
        // 70 points: at most 6 bytes a point, a fraction of the JSON the pad sends.
        let json = serde_json::to_vec(&sample()).unwrap().len();
        assert!(first.strokes_blob.len() <= 70 * 6 + 20, "compact: {} bytes", first.strokes_blob.len());
        assert!(first.strokes_blob.len() * 5 < json, "{} vs {json} bytes of JSON", first.strokes_blob.len());
    }

    #[test]
    fn empty_and_trivial_signatures_are_refused() {
        let mut strokes = sample();
        strokes.strokes.clear();
        assert_eq!(strokes.validate(), Err(SignatureError::Empty));
        strokes.strokes =
            vec![vec![Point { x: 10.0, y: 10.0, t: 0, p: None }, Point { x: 14.0, y: 12.0, t: 5, p: None }]];
        assert!(matches!(strokes.validate(), Err(SignatureError::TooShort { .. })));
        strokes.strokes = vec![vec![Point { x: f32::NAN, y: 1.0, t: 0, p: None }]];
        assert!(matches!(strokes.validate(), Err(SignatureError::BadPoint { index: 0, .. })));
        strokes.width = 0.0;
        assert!(matches!(strokes.validate(), Err(SignatureError::BadPad { .. })));
    }

    #[test]
    fn any_change_in_the_strokes_changes_their_hash() {
        let base = sample().capture().unwrap();
        let mut moved = sample();
        moved.strokes[1][3].y += 0.5;
        assert_ne!(moved.capture().unwrap().strokes_sha256, base.strokes_sha256);
        let mut slower = sample();
        slower.strokes[0][10].t += 1;
        assert_ne!(slower.capture().unwrap().strokes_sha256, base.strokes_sha256);
    }

    #[test]
    fn the_device_key_is_redacted_in_debug_output() {
        let key = DeviceKey::from_secret([7; 32]);
        let debug = format!("{key:?}");
        assert!(debug.contains(&key.public_hex()));
        assert!(!debug.contains(&hex::encode([7u8; 32])));
    }
}
