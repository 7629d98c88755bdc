//! Reading the serial from a photo of the terminal's label: barcode region
//! detection and decoding.
//!
//! A whole 12-megapixel phone photo handed to a barcode reader as it is only
//! decodes big, nearly level codes, and simply shrinking the photo destroys
//! codes whose bars are only a few pixels wide. So this module runs the
//! pipeline a good scanner runs, within a fixed amount of work
//! ([`DecodeOptions::work`]):
//!
//! 1. **Load.** The JPEG/PNG bytes are opened by the one loading rule
//!    (`posfield_imaging`: format, sizes and memory bounded before
//!    decoding), turned to grayscale and the EXIF orientation is applied
//!    ([`decode_symbols`], [`scan_serial`]).
//! 2. **Small images** (long side up to 2048 px, e.g. scans and crops) are
//!    first handed whole to rxing with `TRY_HARDER`; once a symbol is found,
//!    rxing's multi-symbol reader (without `TRY_HARDER`, which makes it
//!    slow) looks for more around it. If nothing is found, retries follow:
//!    global-histogram binarizer, inverted, the region pipeline below, 2x
//!    and 0.5x scale.
//! 3. **Find candidate regions.** A structure tensor (products of horizontal
//!    and vertical central differences) is summed over blocks of the
//!    full-resolution image (about 500 blocks across) and smoothed. Blocks
//!    whose gradients are strong *and* share one direction (high coherence)
//!    are the bars of a linear barcode; strong but incoherent blocks may be a
//!    2D code (or text). Connected components of each mask become
//!    candidates; a component's summed tensor gives the bars' angle.
//! 4. **Straighten and decode linear candidates.** Each candidate is cut out
//!    of the full-resolution image along its own axis (bilinear sampling),
//!    so the bars become vertical whatever the photo's rotation, lightly
//!    averaged along the bars to beat noise, and decoded by the 1D readers;
//!    retries at other scales (2x, 0.5x), small extra angles and without
//!    the averaging.
//! 5. **2D candidates** (square-ish incoherent blobs) are cropped with a
//!    margin, scaled to a reader-friendly size and decoded by the QR, Data
//!    Matrix, Aztec and PDF417 readers, which handle rotation themselves.
//! 6. **Whole frame, last resort.** If the regions gave nothing, a
//!    box-downscaled copy (long side at most 1600 px) of a large photo goes
//!    through the multi-symbol reader.
//!
//! Every attempt's cost is counted in pixels handed to the reader (see
//! [`DecodeOptions::work`]) and an attempt that would exceed the work left
//! is not started, so the same photo gets the same attempts, and the same
//! answer, on a fast desktop, a busy one or a slow phone. A wall-clock cap
//! ([`DecodeOptions::time_cap`]) remains as a safety net only, and a decode
//! it stopped says so ([`Decoded::capped`]).
//!
//! Which code is the serial is decided with evidence in [`choose`], with
//! the makers' formats in [`makers`].
//!
//! Every call into rxing runs under [`std::panic::catch_unwind`] (it has
//! panicked on real photos), so a decode returns "not found" rather than
//! panicking. One attempt in progress is not interrupted, so the safety net
//! can be exceeded by the duration of one attempt.

use std::cell::Cell;
use std::collections::HashSet;
use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::{Duration, Instant};

use image::{DynamicImage, GrayImage};
use posfield_imaging::{ImageError, Limits};
use rxing::common::{GlobalHistogramBinarizer, HybridBinarizer};
use rxing::multi::{GenericMultipleBarcodeReader, MultipleBarcodeReader};
use rxing::{
    BarcodeFormat, BinaryBitmap, DecodeHints, Luma8LuminanceSource, MultiFormatReader,
    MultiUseMultiFormatReader, Reader,
};
use serde::{Deserialize, Serialize};

pub mod choose;
pub mod makers;
pub mod qr;

pub use choose::{Candidate, Evidence, SerialAnswer};

#[cfg(any(test, feature = "fixtures"))]
pub mod label_fixtures;

#[cfg(test)]
mod tests;

/// Largest photo accepted, in pixels (width × height).
pub const MAX_PIXELS: u64 = 100_000_000;

/// Longest side accepted, in pixels.
pub const MAX_SIDE: u32 = 30_000;

/// Default work of one decode (see [`DecodeOptions::work`]).
pub const DEFAULT_WORK: u64 = 24_000_000;

/// Default wall-clock safety net of one decode (see [`DecodeOptions::time_cap`]).
pub const DEFAULT_TIME_CAP: Duration = Duration::from_secs(5);

/// Images whose long side is at most this are first decoded whole.
const SMALL_SIDE: u32 = 2048;
/// Long side of the downscaled copy used for whole-frame attempts.
const FRAME_SIDE: u32 = 1600;
/// Number of blocks across the long side of the region-finding map.
const MAP_SIDE: u32 = 512;
/// Most linear (1D) candidates tried.
const MAX_LINEAR_CANDIDATES: usize = 8;
/// Most 2D candidates tried.
const MAX_MATRIX_CANDIDATES: usize = 6;

/// A barcode symbology the decoder can be asked to look for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Format {
    /// Code 128, the usual symbology of terminal serial labels.
    Code128,
    /// Code 39.
    Code39,
    /// Code 93.
    Code93,
    /// Codabar (prone to false reads on text; not in the default set).
    Codabar,
    /// EAN-8.
    Ean8,
    /// EAN-13.
    Ean13,
    /// UPC-A.
    UpcA,
    /// UPC-E.
    UpcE,
    /// Interleaved 2 of 5 (prone to false reads on text; not in the default set).
    Itf,
    /// QR Code.
    QrCode,
    /// Data Matrix.
    DataMatrix,
    /// Aztec.
    Aztec,
    /// PDF417.
    Pdf417,
}

impl Format {
    /// Every supported symbology.
    pub const ALL: [Format; 13] = [
        Format::Code128,
        Format::Code39,
        Format::Code93,
        Format::Codabar,
        Format::Ean8,
        Format::Ean13,
        Format::UpcA,
        Format::UpcE,
        Format::Itf,
        Format::QrCode,
        Format::DataMatrix,
        Format::Aztec,
        Format::Pdf417,
    ];

    /// The symbologies looked for by default: all but Codabar and ITF,
    /// whose weak structure makes false reads on printed text likely.
    pub const DEFAULT: [Format; 11] = [
        Format::Code128,
        Format::Code39,
        Format::Code93,
        Format::Ean8,
        Format::Ean13,
        Format::UpcA,
        Format::UpcE,
        Format::QrCode,
        Format::DataMatrix,
        Format::Aztec,
        Format::Pdf417,
    ];

    /// The name used in [`Symbol::format`], as ZXing spells it
    /// (`"CODE_128"`, `"QR_CODE"`, `"DATA_MATRIX"`, ...).
    pub fn name(self) -> &'static str {
        match self {
            Format::Code128 => "CODE_128",
            Format::Code39 => "CODE_39",
            Format::Code93 => "CODE_93",
            Format::Codabar => "CODABAR",
            Format::Ean8 => "EAN_8",
            Format::Ean13 => "EAN_13",
            Format::UpcA => "UPC_A",
            Format::UpcE => "UPC_E",
            Format::Itf => "ITF",
            Format::QrCode => "QR_CODE",
            Format::DataMatrix => "DATA_MATRIX",
            Format::Aztec => "AZTEC",
            Format::Pdf417 => "PDF_417",
        }
    }

    /// Whether this is a linear (1D) symbology, read along one line across
    /// its bars.
    pub fn is_linear(self) -> bool {
        !matches!(self, Format::QrCode | Format::DataMatrix | Format::Aztec | Format::Pdf417)
    }

    fn to_rxing(self) -> BarcodeFormat {
        match self {
            Format::Code128 => BarcodeFormat::CODE_128,
            Format::Code39 => BarcodeFormat::CODE_39,
            Format::Code93 => BarcodeFormat::CODE_93,
            Format::Codabar => BarcodeFormat::CODABAR,
            Format::Ean8 => BarcodeFormat::EAN_8,
            Format::Ean13 => BarcodeFormat::EAN_13,
            Format::UpcA => BarcodeFormat::UPC_A,
            Format::UpcE => BarcodeFormat::UPC_E,
            Format::Itf => BarcodeFormat::ITF,
            Format::QrCode => BarcodeFormat::QR_CODE,
            Format::DataMatrix => BarcodeFormat::DATA_MATRIX,
            Format::Aztec => BarcodeFormat::AZTEC,
            Format::Pdf417 => BarcodeFormat::PDF_417,
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// How hard and for what to look.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeOptions {
    /// The work one decode may do, in pixels handed to the barcode reader
    /// (twice for its try-harder mode, three times more for its
    /// multiple-symbol reader; default [`DEFAULT_WORK`]). The attempts run
    /// in a fixed order and stop when the next would exceed it, so the same
    /// photo gets the same answer on any machine, however busy or slow.
    pub work: u64,
    /// The wall-clock safety net: no attempt starts after it (default
    /// [`DEFAULT_TIME_CAP`]). Image file decoding counts against it too but
    /// is never interrupted. A decode it stopped says so
    /// ([`Decoded::capped`]); with the default work it is far above what any
    /// photo needs on this project's benchmark machine.
    pub time_cap: Duration,
    /// The symbologies to look for (default [`Format::DEFAULT`]). An empty
    /// list finds nothing.
    pub formats: Vec<Format>,
}

impl Default for DecodeOptions {
    fn default() -> Self {
        DecodeOptions { work: DEFAULT_WORK, time_cap: DEFAULT_TIME_CAP, formats: Format::DEFAULT.to_vec() }
    }
}

/// One decoded barcode.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Symbol {
    /// The symbology, as ZXing names it: `"CODE_128"`, `"QR_CODE"`,
    /// `"DATA_MATRIX"`, ... (see [`Format::name`]).
    pub format: String,
    /// The decoded text, exactly as encoded.
    pub text: String,
}

/// Where a code is in the photo (after its EXIF orientation), in pixels: a
/// rectangle `width` long along `angle` (radians, the code's long axis) and
/// `height` across it, centred on (`cx`, `cy`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Region {
    /// Centre, x.
    pub cx: f32,
    /// Centre, y.
    pub cy: f32,
    /// Extent along the axis.
    pub width: f32,
    /// Extent across it.
    pub height: f32,
    /// The axis' angle from the x axis, radians.
    pub angle: f32,
}

/// A decoded barcode and where it was found, when known.
#[derive(Debug, Clone, PartialEq)]
pub struct Located {
    /// The code.
    pub symbol: Symbol,
    /// Where.
    pub region: Option<Region>,
}

/// What one decode found and what it cost.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Decoded {
    /// Every distinct code (by format and text), in the order found.
    pub symbols: Vec<Located>,
    /// The work spent (see [`DecodeOptions::work`]).
    pub work_spent: u64,
    /// Whether the safety net ([`DecodeOptions::time_cap`]) stopped it.
    pub capped: bool,
    /// Whether an attempt was left out because the work allowed was spent.
    pub exhausted: bool,
}

/// Why no serial could be read from a photo.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BarcodeError {
    /// No barcode was found with the work allowed.
    #[error("no barcode found in the photo")]
    NotFound,
    /// Barcodes were found, but none holds a terminal serial.
    #[error("{}", no_serial_message(.symbols))]
    NoSerial {
        /// Everything that was decoded.
        symbols: Vec<Symbol>,
    },
    /// The bytes are not a decodable JPEG or PNG image.
    #[error("the photo cannot be read: {0}")]
    Image(String),
    /// The image is larger than [`MAX_PIXELS`] or [`MAX_SIDE`].
    #[error("the photo is too large ({width}x{height} pixels)")]
    TooLarge {
        /// Width in pixels.
        width: u32,
        /// Height in pixels.
        height: u32,
    },
}

fn no_serial_message(symbols: &[Symbol]) -> String {
    let listed: Vec<String> = symbols
        .iter()
        .map(|s| {
            let mut text: String = s.text.chars().take(40).collect();
            if s.text.chars().count() > 40 {
                text.push('…');
            }
            format!("{} {:?}", s.format, text)
        })
        .collect();
    let noun = if symbols.len() == 1 { "barcode" } else { "barcodes" };
    format!("found {} {noun} but none is a terminal serial: {}", symbols.len(), listed.join(", "))
}

/// Decodes a JPEG or PNG photo, applies its EXIF orientation and returns
/// every distinct barcode found (deduplicated by format and text), in the
/// order found. `Ok(vec![])` means nothing was found.
pub fn decode_symbols(image_bytes: &[u8], options: &DecodeOptions) -> Result<Vec<Symbol>, BarcodeError> {
    let (_, decoded) = decode_photo(image_bytes, options)?;
    Ok(decoded.symbols.into_iter().map(|l| l.symbol).collect())
}

/// Decodes a JPEG or PNG photo with its EXIF orientation applied; returns
/// the grayscale pixels the regions refer to and what was found.
pub fn decode_photo(
    image_bytes: &[u8],
    options: &DecodeOptions,
) -> Result<(GrayImage, Decoded), BarcodeError> {
    let started = Instant::now();
    let gray = load_gray(image_bytes)?;
    let decoded = decode_gray(&gray, options, started);
    Ok((gray, decoded))
}

/// Runs the pipeline on already-decoded pixels (no EXIF handling).
pub fn decode_image(image: &GrayImage, options: &DecodeOptions) -> Decoded {
    decode_gray(image, options, Instant::now())
}

/// Reads the terminal serial from a photo of its label, given the serials
/// the visit expects (empty when none): the serial with its evidence, or the
/// candidates with a crop of each one's code for the agent to choose (see
/// [`choose`]).
pub fn scan_serial(
    image_bytes: &[u8],
    options: &DecodeOptions,
    expected: &[String],
) -> Result<SerialAnswer, BarcodeError> {
    let (gray, decoded) = decode_photo(image_bytes, options)?;
    let mut answer = answer_of(&decoded, expected)?;
    if !answer.is_sure() {
        for candidate in &mut answer.candidates {
            candidate.crop_jpeg = candidate.region.and_then(|region| crop_jpeg(&gray, &region));
        }
    }
    Ok(answer)
}

/// The answer a decode gives ([`choose::choose`]), knowing how the decode
/// ended: one that stopped before trying everything (its work spent, or the
/// safety net) may have missed the code that is the serial, so only the
/// expected terminal stays sure.
pub fn answer_of(decoded: &Decoded, expected: &[String]) -> Result<SerialAnswer, BarcodeError> {
    let mut answer = choose::choose(&decoded.symbols, expected)?;
    answer.work_spent = decoded.work_spent;
    answer.capped = decoded.capped;
    if (decoded.capped || decoded.exhausted) && answer.evidence != Evidence::Expected && answer.is_sure() {
        answer.serial = None;
        answer.evidence = Evidence::Incomplete;
    }
    Ok(answer)
}

/// Longest side of a candidate's crop, pixels.
const CROP_SIDE: f32 = 480.0;

/// The code in `region`, straightened (bars vertical) with a margin, at most
/// [`CROP_SIDE`] pixels long, as JPEG.
pub fn crop_jpeg(image: &GrayImage, region: &Region) -> Option<Vec<u8>> {
    let margin = Region { width: region.width * 1.1 + 16.0, height: region.height * 1.3 + 16.0, ..*region };
    let scale = (CROP_SIDE / margin.width.max(margin.height)).min(1.0);
    let crop = straighten(image, &margin, region.angle, scale)?;
    let mut out = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 80).encode_image(&crop).ok()?;
    Some(out)
}

/// Extracts a terminal serial from a barcode's text, or `None`: the one
/// rule every reader shares, [`posfield_shared::serial_text::serial_from_text`].
pub fn serial_from_text(text: &str) -> Option<String> {
    posfield_shared::serial_text::serial_from_text(text)
}

// ---------------------------------------------------------------------------
// Loading

/// What a label photo may be: the sides and pixel count the pipeline can
/// work through within its time budget, the memory a phone can spare, and
/// the size of a camera's file (the document photos' bound).
const LOAD_LIMITS: Limits = Limits {
    max_input_bytes: 40 * 1024 * 1024,
    max_width: MAX_SIDE,
    max_height: MAX_SIDE,
    max_pixels: MAX_PIXELS,
    max_alloc: 1 << 30,
};

/// Decodes JPEG/PNG bytes to grayscale with the EXIF orientation applied,
/// opened by the one loading rule ([`posfield_imaging::decode`]).
fn load_gray(bytes: &[u8]) -> Result<GrayImage, BarcodeError> {
    let decoded = posfield_imaging::decode(bytes, &LOAD_LIMITS).map_err(|e| match e {
        ImageError::Dimensions { width, height, .. } | ImageError::Pixels { width, height, .. } => {
            BarcodeError::TooLarge { width, height }
        }
        other => BarcodeError::Image(other.to_string()),
    })?;
    let mut gray = DynamicImage::ImageLuma8(flatten_to_gray(decoded.image));
    gray.apply_orientation(decoded.orientation);
    Ok(gray.into_luma8())
}

/// Converts to 8-bit gray; transparent pixels become white (paper), as a
/// code drawn on a transparent background is meant to be seen on white.
fn flatten_to_gray(image: DynamicImage) -> GrayImage {
    if !image.color().has_alpha() {
        return image.into_luma8();
    }
    let rgba = image.into_rgba8();
    let (width, height) = rgba.dimensions();
    let pixels = rgba
        .pixels()
        .map(|p| {
            let [r, g, b, a] = p.0;
            let luma = (u32::from(r) * 2126 + u32::from(g) * 7152 + u32::from(b) * 722) / 10_000;
            let a = u32::from(a);
            ((luma * a + 255 * (255 - a) + 127) / 255) as u8
        })
        .collect();
    GrayImage::from_raw(width, height, pixels).unwrap_or_else(|| GrayImage::new(1, 1))
}

// ---------------------------------------------------------------------------
// The pipeline

/// Collects deduplicated symbols with where each was found.
struct Found {
    symbols: Vec<Located>,
    seen: HashSet<(String, String)>,
}

impl Found {
    fn new() -> Self {
        Found { symbols: Vec::new(), seen: HashSet::new() }
    }

    /// Adds the symbols; returns how many were new.
    fn add(&mut self, symbols: Vec<Located>) -> usize {
        let mut added = 0;
        for found in symbols {
            if self.seen.insert((found.symbol.format.clone(), found.symbol.text.clone())) {
                self.symbols.push(found);
                added += 1;
            }
        }
        added
    }
}

/// Which binarizer rxing uses.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Binarizer {
    Hybrid,
    Global,
}

/// A prepared set of rxing hints for a group of formats, in groups that
/// rxing reads in a fixed order: it keeps the formats asked for in a hash
/// set, which it walks in a per-process random order, so a photo holding two
/// kinds of 2D code would give one or the other first from run to run. The
/// linear formats are one group (rxing reads them with one reader, in a
/// fixed order); each 2D format is a group of its own, in [`Format::ALL`]
/// order; with `try_harder`, the 2D groups come first, as rxing itself does.
struct Hints {
    groups: Vec<DecodeHints>,
    formats: Vec<Format>,
    try_harder: bool,
}

impl Hints {
    fn new(formats: &[Format], try_harder: bool) -> Option<Self> {
        if formats.is_empty() {
            return None;
        }
        let group = |formats: Vec<Format>| DecodeHints {
            PossibleFormats: Some(formats.iter().map(|f| f.to_rxing()).collect()),
            TryHarder: Some(try_harder),
            ..DecodeHints::default()
        };
        let linear: Vec<Format> = formats.iter().copied().filter(|f| f.is_linear()).collect();
        let mut matrix: Vec<Format> = formats.iter().copied().filter(|f| !f.is_linear()).collect();
        matrix.sort_by_key(|f| Format::ALL.iter().position(|g| g == f));
        matrix.dedup();
        let mut groups: Vec<DecodeHints> = matrix.into_iter().map(|f| group(vec![f])).collect();
        if !linear.is_empty() {
            let linear = group(linear);
            if try_harder { groups.push(linear) } else { groups.insert(0, linear) }
        }
        Some(Hints { groups, formats: formats.to_vec(), try_harder })
    }

    fn inverted(&self) -> Self {
        Hints {
            groups: self
                .groups
                .iter()
                .map(|g| DecodeHints { AlsoInverted: Some(true), ..g.clone() })
                .collect(),
            formats: self.formats.clone(),
            try_harder: self.try_harder,
        }
    }
}

/// A symbol as rxing returns it: the points it reports (the finder
/// patterns' centres, or the ends of the row a linear code was read on) in
/// the coordinates of the image handed to it.
struct Raw {
    symbol: Symbol,
    points: Vec<(f32, f32)>,
}

/// What one rxing call costs in work units (see [`DecodeOptions::work`]):
/// the pixels handed to it, twice for `TRY_HARDER` (it reads more rows and
/// both directions), three times more for the multiple-symbol reader (it
/// decodes again around each symbol found).
fn attempt_cost(image: &GrayImage, hints: &Hints, multi: bool) -> u64 {
    let pixels = u64::from(image.width()) * u64::from(image.height());
    pixels * if hints.try_harder { 2 } else { 1 } * if multi { 3 } else { 1 }
}

/// One rxing call on a grayscale image, panics caught. With `multi`, rxing's
/// multiple-barcode reader looks for more symbols around each one found.
fn rx_decode(image: &GrayImage, hints: &Hints, multi: bool, binarizer: Binarizer) -> Vec<Raw> {
    let (width, height) = image.dimensions();
    if width < 3 || height < 3 {
        return Vec::new();
    }
    let pixels = image.as_raw().clone();
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        let Ok(source) = Luma8LuminanceSource::new(pixels, width, height) else {
            return Vec::new();
        };
        match binarizer {
            Binarizer::Hybrid => run_reader(BinaryBitmap::new(HybridBinarizer::new(source)), hints, multi),
            Binarizer::Global => {
                run_reader(BinaryBitmap::new(GlobalHistogramBinarizer::new(source)), hints, multi)
            }
        }
    }));
    let results = outcome.unwrap_or_default();
    results
        .into_iter()
        .filter_map(|(format, text, points)| {
            let ours = Format::ALL.into_iter().find(|f| f.to_rxing() == format)?;
            hints
                .formats
                .contains(&ours)
                .then(|| Raw { symbol: Symbol { format: ours.name().to_owned(), text }, points })
        })
        .collect()
}

type RxFound = (BarcodeFormat, String, Vec<(f32, f32)>);

/// Reads the bitmap group by group: the first group's find for one symbol,
/// every group's finds with `multi`.
fn run_reader<B: rxing::Binarizer>(mut bitmap: BinaryBitmap<B>, hints: &Hints, multi: bool) -> Vec<RxFound> {
    let found = |r: &rxing::RXingResult| -> RxFound {
        let points = r.getPoints().iter().map(|p| (p.x, p.y)).collect();
        (*r.getBarcodeFormat(), r.getText().to_owned(), points)
    };
    let mut all = Vec::new();
    for group in &hints.groups {
        if multi {
            let mut reader = GenericMultipleBarcodeReader::new(MultiUseMultiFormatReader::default());
            if let Ok(results) = reader.decode_multiple_with_hints(&mut bitmap, group) {
                all.extend(results.iter().map(found));
            }
        } else {
            let mut reader = MultiFormatReader::default();
            if let Ok(r) = reader.decode_with_hints(&mut bitmap, group) {
                return vec![found(&r)];
            }
        }
    }
    all
}

/// The region around the points rxing reported, mapped back to the photo by
/// `to_photo`: their bounding box, widened by a margin, at least `min_side`
/// pixels high (a linear code's two points lie on one row).
fn region_of_points(points: &[(f32, f32)], to_photo: impl Fn(f32, f32) -> (f32, f32)) -> Option<Region> {
    let mapped: Vec<(f32, f32)> = points.iter().map(|&(x, y)| to_photo(x, y)).collect();
    let (mut x0, mut y0, mut x1, mut y1) = (f32::MAX, f32::MAX, f32::MIN, f32::MIN);
    for &(x, y) in &mapped {
        x0 = x0.min(x);
        y0 = y0.min(y);
        x1 = x1.max(x);
        y1 = y1.max(y);
    }
    if mapped.is_empty() || !x0.is_finite() || !y1.is_finite() {
        return None;
    }
    let (w, h) = (x1 - x0, y1 - y0);
    let side = w.max(h);
    // A 2D symbol's points are finder centres: add the finder's half width
    // and a quiet zone; a linear code's two points span its bars.
    let (width, height) =
        if mapped.len() >= 3 { (w + side * 0.4, h + side * 0.4) } else { (w * 1.2, (side * 0.45).max(h)) };
    Some(Region { cx: (x0 + x1) / 2.0, cy: (y0 + y1) / 2.0, width, height, angle: 0.0 })
}

struct Pipeline<'a> {
    image: &'a GrayImage,
    /// The work allowed and spent, in units of [`attempt_cost`].
    work: u64,
    spent: Cell<u64>,
    /// The wall-clock safety net, and whether it was hit.
    deadline: Instant,
    capped: Cell<bool>,
    /// Whether an attempt was refused for want of work.
    exhausted: Cell<bool>,
    all: Option<Hints>,
    /// All formats without TRY_HARDER.
    quick: Option<Hints>,
    linear: Option<Hints>,
    linear_harder: Option<Hints>,
    matrix: Option<Hints>,
}

impl Pipeline<'_> {
    /// Whether an attempt costing `cost` may start: within the work allowed
    /// and before the safety net. Work decides, so the same photo gets the
    /// same attempts on any machine; the clock only stops a run that would
    /// otherwise go on far longer than it should, and says so.
    fn afford(&self, cost: u64) -> bool {
        if self.capped.get() {
            return false;
        }
        if self.spent.get().saturating_add(cost) > self.work {
            self.exhausted.set(true);
            return false;
        }
        if Instant::now() >= self.deadline {
            self.capped.set(true);
            return false;
        }
        true
    }

    /// Whether any more work may be done at all.
    fn done(&self) -> bool {
        if self.spent.get() >= self.work {
            self.exhausted.set(true);
            return true;
        }
        !self.afford(0)
    }

    /// One rxing call, if the work left allows it: `None` when it does not.
    fn attempt(
        &self,
        image: &GrayImage,
        hints: &Hints,
        multi: bool,
        binarizer: Binarizer,
    ) -> Option<Vec<Raw>> {
        let cost = attempt_cost(image, hints, multi);
        if !self.afford(cost) {
            return None;
        }
        self.spent.set(self.spent.get() + cost);
        Some(rx_decode(image, hints, multi, binarizer))
    }
}

fn decode_gray(image: &GrayImage, options: &DecodeOptions, started: Instant) -> Decoded {
    let (width, height) = image.dimensions();
    if width < 3 || height < 3 || options.formats.is_empty() {
        return Decoded::default();
    }
    let mut formats = options.formats.clone();
    formats.sort_by_key(|f| Format::ALL.iter().position(|g| g == f));
    formats.dedup();
    let linear: Vec<Format> = formats.iter().copied().filter(|f| f.is_linear()).collect();
    let matrix: Vec<Format> = formats.iter().copied().filter(|f| !f.is_linear()).collect();
    let p = Pipeline {
        image,
        work: options.work,
        spent: Cell::new(0),
        deadline: started + options.time_cap,
        capped: Cell::new(false),
        exhausted: Cell::new(false),
        all: Hints::new(&formats, true),
        quick: Hints::new(&formats, false),
        linear: Hints::new(&linear, false),
        linear_harder: Hints::new(&linear, true),
        matrix: Hints::new(&matrix, true),
    };
    let mut found = Found::new();
    let long = width.max(height);
    if long <= SMALL_SIDE {
        decode_small(&p, &mut found);
    } else {
        decode_large(&p, &mut found);
    }
    Decoded {
        symbols: found.symbols,
        work_spent: p.spent.get(),
        capped: p.capped.get(),
        exhausted: p.exhausted.get(),
    }
}

/// Symbols found on the whole image (as handed to rxing, `scale` photo
/// pixels per image pixel), located in the photo.
fn located(raw: Vec<Raw>, scale: f32) -> Vec<Located> {
    raw.into_iter()
        .map(|r| {
            let region = region_of_points(&r.points, |x, y| (x * scale, y * scale));
            Located { symbol: r.symbol, region }
        })
        .collect()
}

/// Scans, crops and small photos: whole image first, then retries.
fn decode_small(p: &Pipeline<'_>, found: &mut Found) {
    let Some(all) = p.all.as_ref() else { return };
    let Some(first) = p.attempt(p.image, all, false, Binarizer::Hybrid) else { return };
    if found.add(located(first, 1.0)) > 0 {
        // Look for more symbols around the one found (a QR beside a Code
        // 128), without TRY_HARDER: rxing's multi reader re-decodes every
        // area around each symbol, which with TRY_HARDER costs hundreds of
        // milliseconds on a 1500 px image.
        if let Some(quick) = p.quick.as_ref()
            && let Some(more) = p.attempt(p.image, quick, true, Binarizer::Hybrid)
        {
            found.add(located(more, 1.0));
        }
        return;
    }
    let (width, height) = p.image.dimensions();
    let long = width.max(height);
    let mut retries = vec![Retry::GlobalBinarizer, Retry::Inverted, Retry::Regions];
    if long <= 1024 {
        retries.push(Retry::Upscale);
    }
    if long >= 400 {
        retries.push(Retry::Downscale);
    }
    for retry in retries {
        let Some(all) = p.all.as_ref() else { return };
        let symbols = match retry {
            Retry::GlobalBinarizer => {
                p.attempt(p.image, all, false, Binarizer::Global).map(|r| located(r, 1.0))
            }
            Retry::Inverted => {
                p.attempt(p.image, &all.inverted(), false, Binarizer::Hybrid).map(|r| located(r, 1.0))
            }
            Retry::Regions => Some(regions(p)),
            Retry::Upscale => {
                p.attempt(&upscale2(p.image), all, false, Binarizer::Hybrid).map(|r| located(r, 0.5))
            }
            Retry::Downscale => {
                p.attempt(&downscale_box(p.image, 2), all, false, Binarizer::Hybrid).map(|r| located(r, 2.0))
            }
        };
        if found.add(symbols.unwrap_or_default()) > 0 {
            return;
        }
    }
}

/// Retries for a small image on which the plain attempt found nothing.
#[derive(Clone, Copy)]
enum Retry {
    /// Global-histogram instead of hybrid binarization.
    GlobalBinarizer,
    /// Also light-on-dark symbols.
    Inverted,
    /// The region pipeline of large photos.
    Regions,
    /// Twice the size (small modules).
    Upscale,
    /// Half the size (huge modules, noise).
    Downscale,
}

/// Phone photos: candidate regions first, whole (downscaled) frame last.
fn decode_large(p: &Pipeline<'_>, found: &mut Found) {
    found.add(regions(p));
    // The whole frame only as a last resort: it is slow on 12 MP photos
    // and prone to false reads of textures as UPC/EAN.
    if found.symbols.is_empty() {
        let (width, height) = p.image.dimensions();
        let factor = width.max(height).div_ceil(FRAME_SIDE);
        let small = downscale_box(p.image, factor);
        if let Some(all) = p.all.as_ref()
            && let Some(raw) = p.attempt(&small, all, true, Binarizer::Hybrid)
        {
            found.add(located(raw, factor as f32));
        }
    }
}

/// Finds candidate regions and decodes them; returns what was found.
fn regions(p: &Pipeline<'_>) -> Vec<Located> {
    let mut found = Found::new();
    let map = TensorMap::compute(p.image);
    let (linear, matrix) = map.candidates();
    if let (Some(hints), Some(harder)) = (p.linear.as_ref(), p.linear_harder.as_ref()) {
        for candidate in linear.iter().take(MAX_LINEAR_CANDIDATES) {
            if p.done() {
                break;
            }
            found.add(decode_linear_candidate(p, candidate, hints, harder));
        }
    }
    if let Some(hints) = p.matrix.as_ref() {
        for candidate in matrix.iter().take(MAX_MATRIX_CANDIDATES) {
            if p.done() {
                break;
            }
            found.add(decode_matrix_candidate(p, candidate, hints));
        }
    }
    found.symbols
}

/// Straightens a linear candidate and decodes it, with retries. A label's
/// serial and part number are often stacked a few modules apart and found
/// as one candidate; the reader returns one code per image, so once the
/// whole crop gives a code, its upper and lower halves are read on their own
/// too.
fn decode_linear_candidate(p: &Pipeline<'_>, c: &Area, hints: &Hints, harder: &Hints) -> Vec<Located> {
    // (scale, extra angle in degrees, smoothing along the bars, harder,
    // what else: sharpened across the bars, or its contrast stretched along
    // them, for faint bars under glare)
    const ATTEMPTS: [(f32, f32, bool, bool, Prep); 17] = [
        (1.0, 0.0, true, false, Prep::None),
        (1.0, 0.0, false, true, Prep::None),
        (1.0, 0.0, true, false, Prep::Sharpen),
        (2.0, 0.0, true, false, Prep::None),
        (0.5, 0.0, true, false, Prep::None),
        (1.0, 4.0, true, false, Prep::None),
        (1.0, -4.0, true, false, Prep::None),
        (2.0, 0.0, false, true, Prep::None),
        (2.0, 0.0, true, true, Prep::Sharpen),
        (1.0, 0.0, true, true, Prep::Stretch),
        // Small modules with the bars' direction a little off.
        (2.0, 2.0, false, true, Prep::None),
        (2.0, -2.0, false, true, Prep::None),
        (1.0, 8.0, true, false, Prep::None),
        (1.0, -8.0, true, false, Prep::None),
        (2.0, 4.0, false, true, Prep::None),
        (2.0, -4.0, false, true, Prep::None),
        (2.0, 0.0, true, true, Prep::Stretch),
    ];
    let plain = hints;
    let mut fallback = Vec::new();
    for (scale, extra, smooth, use_harder, prep) in ATTEMPTS {
        let angle = c.angle + extra.to_radians();
        let region = Region { angle, ..c.region() };
        // No crop is cut (nor prepared) that the work left cannot read.
        let pixels = (region.width * scale).max(0.0) * (region.height * scale).max(0.0);
        if !p.afford(pixels as u64 * if use_harder { 2 } else { 1 }) {
            break;
        }
        let Some(crop) = straighten(p.image, &region, angle, scale) else {
            continue;
        };
        let hints = if use_harder { harder } else { plain };
        let Some(raw) =
            p.attempt(&prepared(&crop, region.height * scale, smooth, prep), hints, false, Binarizer::Hybrid)
        else {
            break;
        };
        if raw.is_empty() {
            continue;
        }
        // An EAN or UPC read is weak evidence: their short, checksum-light
        // structure is what a washed-out stretch of another code's bars
        // reads as. Keep it, and keep trying for a stronger code.
        let weak = |r: &Raw| matches!(r.symbol.format.as_str(), "EAN_8" | "EAN_13" | "UPC_A" | "UPC_E");
        if raw.iter().all(weak) {
            if fallback.is_empty() {
                fallback =
                    raw.into_iter().map(|r| Located { symbol: r.symbol, region: Some(region) }).collect();
            }
            continue;
        }
        let mut found = Found::new();
        found.add(raw.into_iter().map(|r| Located { symbol: r.symbol, region: Some(region) }).collect());
        let height = crop.height();
        if height >= 24 {
            for (top, band) in [(0, height / 2), (height / 2, height - height / 2)] {
                let part = image::imageops::crop_imm(&crop, 0, top, crop.width(), band).to_image();
                let Some(mut raw) =
                    p.attempt(&prepared(&part, band as f32, smooth, prep), hints, false, Binarizer::Hybrid)
                else {
                    break;
                };
                // A band is a small image: reading it harder, then sharpened,
                // costs little.
                for (image, hints) in [
                    (prepared(&part, band as f32, true, Prep::None), harder),
                    (part.clone(), harder),
                    (prepared(&part, band as f32, true, Prep::Sharpen), plain),
                    (prepared(&part, band as f32, true, Prep::Stretch), harder),
                ] {
                    if !raw.is_empty() {
                        break;
                    }
                    if let Some(again) = p.attempt(&image, hints, false, Binarizer::Hybrid) {
                        raw = again;
                    }
                }
                // The band's centre, back in the photo.
                let v = (top as f32 + band as f32 / 2.0 - height as f32 / 2.0) / scale;
                let (sin, cos) = angle.sin_cos();
                let placed = Region {
                    cx: region.cx - v * sin,
                    cy: region.cy + v * cos,
                    height: band as f32 / scale,
                    ..region
                };
                found.add(
                    raw.into_iter().map(|r| Located { symbol: r.symbol, region: Some(placed) }).collect(),
                );
            }
        }
        return found.symbols;
    }
    fallback
}

/// What is done to a straightened crop besides smoothing.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Prep {
    /// Nothing.
    None,
    /// Sharpened across the bars ([`sharpen_across`]).
    Sharpen,
    /// Contrast stretched along each row ([`stretch_across`]).
    Stretch,
}

/// The crop averaged along the bars (radius an eighth of its height, 1 to 6
/// pixels) when `smooth`, to beat noise, then prepared by `prep`.
fn prepared(crop: &GrayImage, height: f32, smooth: bool, prep: Prep) -> GrayImage {
    let mut out = crop.clone();
    if smooth {
        smooth_vertical(&mut out, (height / 8.0).clamp(1.0, 6.0) as u32);
    }
    match prep {
        Prep::None => {}
        Prep::Sharpen => sharpen_across(&mut out),
        Prep::Stretch => stretch_across(&mut out),
    }
    out
}

/// Glare and shade leave bars that differ from their spaces by a few grey
/// levels, which a binarizer takes for an even area: each pixel is set
/// between the darkest and lightest of its row within a window a few
/// modules wide (a twelfth of the row, 8 to 48 pixels each side), wherever
/// those differ by at least 6 levels.
fn stretch_across(image: &mut GrayImage) {
    let (w, h) = (image.width() as usize, image.height() as usize);
    let radius = (w / 12).clamp(8, 48);
    let src = image.as_raw().clone();
    let dst: &mut [u8] = image;
    for y in 0..h {
        let row = &src[y * w..(y + 1) * w];
        for x in 0..w {
            let window = &row[x.saturating_sub(radius)..(x + radius + 1).min(w)];
            let (lo, hi) = window.iter().fold((255u8, 0u8), |(lo, hi), &v| (lo.min(v), hi.max(v)));
            if hi - lo >= 6 {
                dst[y * w + x] = ((u32::from(row[x] - lo) * 255) / u32::from(hi - lo)) as u8;
            }
        }
    }
}

/// An unsharp mask across the bars (rows only): each pixel moves away from
/// the mean of its 5-pixel row neighbourhood by 1.5 times its difference.
fn sharpen_across(image: &mut GrayImage) {
    let (w, h) = (image.width() as usize, image.height() as usize);
    if w < 5 {
        return;
    }
    let src = image.as_raw().clone();
    let dst: &mut [u8] = image;
    for y in 0..h {
        let row = &src[y * w..(y + 1) * w];
        for x in 0..w {
            let (lo, hi) = (x.saturating_sub(2), (x + 3).min(w));
            let mean = row[lo..hi].iter().map(|&v| f32::from(v)).sum::<f32>() / (hi - lo) as f32;
            let v = f32::from(row[x]);
            dst[y * w + x] = (v + 1.5 * (v - mean)).clamp(0.0, 255.0) as u8;
        }
    }
}

/// Crops a 2D candidate with a margin, scales it and decodes it.
fn decode_matrix_candidate(p: &Pipeline<'_>, c: &Area, hints: &Hints) -> Vec<Located> {
    let (width, height) = p.image.dimensions();
    let half = c.along.max(c.across) * 0.5 * 1.35 + 8.0;
    let x0 = (c.cx - half).max(0.0) as u32;
    let y0 = (c.cy - half).max(0.0) as u32;
    let x1 = ((c.cx + half) as u32).min(width);
    let y1 = ((c.cy + half) as u32).min(height);
    if x1 <= x0 + 8 || y1 <= y0 + 8 {
        return Vec::new();
    }
    let crop = image::imageops::crop_imm(p.image, x0, y0, x1 - x0, y1 - y0).to_image();
    let long = crop.width().max(crop.height());
    let factor = if long > 800 { long.div_ceil(800) } else { 1 };
    let crop = downscale_box(&crop, factor);
    let place = |raw: Vec<Raw>, scale: f32| -> Vec<Located> {
        raw.into_iter()
            .map(|r| {
                let region =
                    region_of_points(&r.points, |x, y| (x0 as f32 + x * scale, y0 as f32 + y * scale));
                Located { symbol: r.symbol, region }
            })
            .collect()
    };
    let Some(raw) = p.attempt(&crop, hints, false, Binarizer::Hybrid) else { return Vec::new() };
    if !raw.is_empty() {
        return place(raw, factor as f32);
    }
    if crop.width().max(crop.height()) < 400
        && let Some(raw) = p.attempt(&upscale2(&crop), hints, false, Binarizer::Hybrid)
    {
        return place(raw, factor as f32 / 2.0);
    }
    Vec::new()
}

// ---------------------------------------------------------------------------
// Region finding

/// A candidate region in full-resolution coordinates.
#[derive(Debug, Clone)]
struct Area {
    /// Centre.
    cx: f32,
    cy: f32,
    /// Angle of the code's long axis (perpendicular to the bars), radians.
    angle: f32,
    /// Extent along the axis and across it, pixels.
    along: f32,
    across: f32,
    /// Ranking score.
    score: f32,
}

impl Area {
    fn region(&self) -> Region {
        Region { cx: self.cx, cy: self.cy, width: self.along, height: self.across, angle: self.angle }
    }
}

/// Block-summed structure tensor of the image.
struct TensorMap {
    width: usize,
    height: usize,
    block: u32,
    jxx: Vec<f32>,
    jyy: Vec<f32>,
    jxy: Vec<f32>,
}

impl TensorMap {
    fn compute(image: &GrayImage) -> Self {
        let (w, h) = image.dimensions();
        let block = w.max(h).div_ceil(MAP_SIDE).max(2);
        let step = if block >= 6 { 2 } else { 1 };
        let mw = (w / block) as usize;
        let mh = (h / block) as usize;
        let mut jxx = vec![0f32; mw * mh];
        let mut jyy = vec![0f32; mw * mh];
        let mut jxy = vec![0f32; mw * mh];
        let px = image.as_raw();
        let stride = w as usize;
        let b = block as usize;
        let samples = ((b / step) * (b / step)) as f32;
        for by in 0..mh {
            for bx in 0..mw {
                let (mut sxx, mut syy, mut sxy) = (0i64, 0i64, 0i64);
                let y_start = (by * b).max(1);
                let y_end = ((by + 1) * b).min(h as usize - 1);
                let x_start = (bx * b).max(1);
                let x_end = ((bx + 1) * b).min(w as usize - 1);
                let mut y = y_start;
                while y < y_end {
                    let row = y * stride;
                    let mut x = x_start;
                    while x < x_end {
                        let i = row + x;
                        let gx = i64::from(px[i + 1]) - i64::from(px[i - 1]);
                        let gy = i64::from(px[i + stride]) - i64::from(px[i - stride]);
                        sxx += gx * gx;
                        syy += gy * gy;
                        sxy += gx * gy;
                        x += step;
                    }
                    y += step;
                }
                let k = by * mw + bx;
                jxx[k] = sxx as f32 / samples;
                jyy[k] = syy as f32 / samples;
                jxy[k] = sxy as f32 / samples;
            }
        }
        TensorMap { width: mw, height: mh, block, jxx, jyy, jxy }
    }

    /// Linear candidates and 2D candidates, best first.
    fn candidates(&self) -> (Vec<Area>, Vec<Area>) {
        let (w, h) = (self.width, self.height);
        if w < 3 || h < 3 {
            return (Vec::new(), Vec::new());
        }
        let sxx = box_filter(&self.jxx, w, h, 2);
        let syy = box_filter(&self.jyy, w, h, 2);
        let sxy = box_filter(&self.jxy, w, h, 2);
        let n = w * h;
        let mut aniso = vec![0f32; n];
        let mut trace = vec![0f32; n];
        for i in 0..n {
            let t = sxx[i] + syy[i];
            let d = ((sxx[i] - syy[i]).powi(2) + 4.0 * sxy[i] * sxy[i]).sqrt();
            trace[i] = t;
            aniso[i] = d;
        }
        // Sensor noise adds the same energy to both directions, which in a
        // dim photo drowns the bars' coherence: take the noise level as the
        // median cell's weaker direction (most of a photo is not label) and
        // leave it out of the trace.
        let mut weaker: Vec<f32> = (0..n).map(|i| (trace[i] - aniso[i]) / 2.0).collect();
        let middle = n / 2;
        let noise = *weaker.select_nth_unstable_by(middle, f32::total_cmp).1;
        for t in &mut trace {
            *t = (*t - 2.0 * noise).max(0.0);
        }
        // Noise also leaves a random direction in every cell: the bars must
        // stand well above the median cell's.
        let mut spread = aniso.clone();
        let noise_aniso = *spread.select_nth_unstable_by(middle, f32::total_cmp).1;
        let max_aniso = aniso.iter().copied().fold(0.0, f32::max);
        let lin_threshold = (0.08 * max_aniso).max(LINEAR_MIN_ENERGY).max(4.0 * noise_aniso);
        let lin_mask: Vec<bool> =
            (0..n).map(|i| aniso[i] >= lin_threshold && aniso[i] >= 0.6 * trace[i]).collect();
        let max_trace = trace.iter().copied().fold(0.0, f32::max);
        let mat_threshold = (0.08 * max_trace).max(MATRIX_MIN_ENERGY).max(4.0 * noise_aniso);
        let mat_mask: Vec<bool> =
            (0..n).map(|i| trace[i] >= mat_threshold && aniso[i] < 0.6 * trace[i]).collect();
        let block = self.block as f32;
        let mut linear = Vec::new();
        for component in components(&lin_mask, w, h) {
            if component.len() < 6 {
                continue;
            }
            let (mut cxx, mut cyy, mut cxy, mut weight) = (0f32, 0f32, 0f32, 0f32);
            for &k in &component {
                cxx += self.jxx[k];
                cyy += self.jyy[k];
                cxy += self.jxy[k];
                weight += aniso[k];
            }
            // Direction of the dominant gradient: across the bars.
            let angle = 0.5 * (2.0 * cxy).atan2(cxx - cyy);
            let Some(shape) = Shape::of(&component, w, angle) else {
                continue;
            };
            // The bars' direction must be the short one, give or take the
            // smoothing that widened the component on every side.
            if shape.along + 2.0 < shape.across * 0.8 || shape.along < 5.0 {
                continue;
            }
            // Remove the smoothing's dilation (2 blocks each side), then
            // add a quiet zone margin along the axis.
            let along = (shape.along - 2.0).max(2.0) * block;
            let across = (shape.across - 3.0).max(1.5) * block;
            linear.push(Area {
                cx: (shape.cx + 0.5) * block,
                cy: (shape.cy + 0.5) * block,
                angle,
                along: along * 1.15 + 4.0 * block,
                across: across.max(block * 1.5),
                score: weight,
            });
        }
        linear.sort_by(|a, b| b.score.total_cmp(&a.score));
        let mut matrix = Vec::new();
        for component in components(&mat_mask, w, h) {
            if component.len() < 9 {
                continue;
            }
            let Some(shape) = Shape::of(&component, w, 0.0) else {
                continue;
            };
            let (long, short) = (shape.along.max(shape.across), shape.along.min(shape.across));
            let fill = component.len() as f32 / (shape.along * shape.across).max(1.0);
            // Smaller than 3 blocks (after the smoothing's dilation) is noise.
            if long > 2.2 * short || fill < 0.35 || short < 6.0 {
                continue;
            }
            let weight: f32 = component.iter().map(|&k| trace[k]).sum();
            matrix.push(Area {
                cx: (shape.cx + 0.5) * block,
                cy: (shape.cy + 0.5) * block,
                angle: 0.0,
                along: (shape.along - 3.0).max(2.0) * block,
                across: (shape.across - 3.0).max(2.0) * block,
                score: weight * short / long,
            });
        }
        matrix.sort_by(|a, b| b.score.total_cmp(&a.score));
        (linear, matrix)
    }
}

/// Mean squared gradient (per direction) below which no region counts as a
/// barcode, whatever the noise: about 5 grey levels RMS (dim photos' bars
/// stand that low; the noise floor is taken out first).
const LINEAR_MIN_ENERGY: f32 = 30.0;
/// The same for 2D candidates.
const MATRIX_MIN_ENERGY: f32 = 60.0;

/// Extent of a component along an angle and across it, in map cells.
struct Shape {
    cx: f32,
    cy: f32,
    along: f32,
    across: f32,
}

impl Shape {
    fn of(cells: &[usize], width: usize, angle: f32) -> Option<Self> {
        if cells.is_empty() {
            return None;
        }
        let (cos, sin) = (angle.cos(), angle.sin());
        let (mut umin, mut umax, mut vmin, mut vmax) = (f32::MAX, f32::MIN, f32::MAX, f32::MIN);
        for &k in cells {
            let x = (k % width) as f32;
            let y = (k / width) as f32;
            let u = x * cos + y * sin;
            let v = -x * sin + y * cos;
            umin = umin.min(u);
            umax = umax.max(u);
            vmin = vmin.min(v);
            vmax = vmax.max(v);
        }
        let (uc, vc) = ((umin + umax) / 2.0, (vmin + vmax) / 2.0);
        Some(Shape {
            cx: uc * cos - vc * sin,
            cy: uc * sin + vc * cos,
            along: umax - umin + 1.0,
            across: vmax - vmin + 1.0,
        })
    }
}

/// 8-connected components of a mask, as lists of cell indices.
fn components(mask: &[bool], width: usize, height: usize) -> Vec<Vec<usize>> {
    let mut label = vec![false; mask.len()];
    let mut out = Vec::new();
    let mut stack = Vec::new();
    for start in 0..mask.len() {
        if !mask[start] || label[start] {
            continue;
        }
        let mut component = Vec::new();
        label[start] = true;
        stack.push(start);
        while let Some(k) = stack.pop() {
            component.push(k);
            let (x, y) = ((k % width) as isize, (k / width) as isize);
            for dy in -1..=1 {
                for dx in -1..=1 {
                    let (nx, ny) = (x + dx, y + dy);
                    if nx < 0 || ny < 0 || nx >= width as isize || ny >= height as isize {
                        continue;
                    }
                    let j = ny as usize * width + nx as usize;
                    if mask[j] && !label[j] {
                        label[j] = true;
                        stack.push(j);
                    }
                }
            }
        }
        out.push(component);
    }
    out
}

/// Mean over a (2r+1)² window, clamped at the borders.
fn box_filter(values: &[f32], width: usize, height: usize, radius: usize) -> Vec<f32> {
    let mut horizontal = vec![0f32; values.len()];
    for y in 0..height {
        let row = &values[y * width..(y + 1) * width];
        for x in 0..width {
            let lo = x.saturating_sub(radius);
            let hi = (x + radius + 1).min(width);
            horizontal[y * width + x] = row[lo..hi].iter().sum::<f32>() / (hi - lo) as f32;
        }
    }
    let mut out = vec![0f32; values.len()];
    for y in 0..height {
        let lo = y.saturating_sub(radius);
        let hi = (y + radius + 1).min(height);
        for x in 0..width {
            let mut sum = 0.0;
            for yy in lo..hi {
                sum += horizontal[yy * width + x];
            }
            out[y * width + x] = sum / (hi - lo) as f32;
        }
    }
    out
}

// ---------------------------------------------------------------------------
// Resampling

/// Cuts the candidate out along `angle` so its bars are vertical, sampled
/// bilinearly at `scale` output pixels per source pixel.
fn straighten(image: &GrayImage, c: &Region, angle: f32, scale: f32) -> Option<GrayImage> {
    let out_w = (c.width * scale).round() as u32;
    let out_h = (c.height * scale).round() as u32;
    if out_w < 16 || out_h < 3 || out_w > 8000 || out_h > 4000 {
        return None;
    }
    let (cos, sin) = (angle.cos(), angle.sin());
    let (w, h) = image.dimensions();
    let px = image.as_raw();
    let stride = w as usize;
    let mut out = vec![255u8; (out_w * out_h) as usize];
    let inv = 1.0 / scale;
    let half_w = out_w as f32 / 2.0;
    let half_h = out_h as f32 / 2.0;
    for j in 0..out_h {
        let v = (j as f32 + 0.5 - half_h) * inv;
        // Start of the row in source coordinates, and the step per pixel.
        let mut sx = c.cx + (0.5 - half_w) * inv * cos - v * sin;
        let mut sy = c.cy + (0.5 - half_w) * inv * sin + v * cos;
        let (dx, dy) = (inv * cos, inv * sin);
        let row = &mut out[(j * out_w) as usize..((j + 1) * out_w) as usize];
        for value in row.iter_mut() {
            let (fx, fy) = (sx - 0.5, sy - 0.5);
            if fx >= 0.0 && fy >= 0.0 && fx < (w - 1) as f32 && fy < (h - 1) as f32 {
                let (x0, y0) = (fx as usize, fy as usize);
                let (ax, ay) = (fx - x0 as f32, fy - y0 as f32);
                let i = y0 * stride + x0;
                let top = f32::from(px[i]) * (1.0 - ax) + f32::from(px[i + 1]) * ax;
                let bottom = f32::from(px[i + stride]) * (1.0 - ax) + f32::from(px[i + stride + 1]) * ax;
                *value = (top * (1.0 - ay) + bottom * ay + 0.5) as u8;
            }
            sx += dx;
            sy += dy;
        }
    }
    GrayImage::from_raw(out_w, out_h, out)
}

/// Averages each pixel with `radius` pixels above and below (along the bars).
fn smooth_vertical(image: &mut GrayImage, radius: u32) {
    if radius == 0 {
        return;
    }
    let (w, h) = (image.width() as usize, image.height() as usize);
    let src = image.as_raw().clone();
    let r = radius as usize;
    let dst: &mut [u8] = image;
    for x in 0..w {
        let mut sum: u32 = 0;
        let mut count: u32 = 0;
        // Window [y - r, y + r].
        for y in 0..r.min(h) {
            sum += u32::from(src[y * w + x]);
            count += 1;
        }
        for y in 0..h {
            let add = y + r;
            if add < h {
                sum += u32::from(src[add * w + x]);
                count += 1;
            }
            if y > r {
                sum -= u32::from(src[(y - r - 1) * w + x]);
                count -= 1;
            }
            dst[y * w + x] = ((sum + count / 2) / count) as u8;
        }
    }
}

/// Shrinks by an integer factor, averaging each factor × factor block.
fn downscale_box(image: &GrayImage, factor: u32) -> GrayImage {
    if factor <= 1 {
        return image.clone();
    }
    let (w, h) = image.dimensions();
    let (ow, oh) = ((w / factor).max(1), (h / factor).max(1));
    let f = factor as usize;
    let stride = w as usize;
    let px = image.as_raw();
    let mut out = vec![0u8; (ow * oh) as usize];
    let mut sums = vec![0u32; ow as usize];
    for oy in 0..oh as usize {
        sums.iter_mut().for_each(|s| *s = 0);
        for y in oy * f..((oy + 1) * f).min(h as usize) {
            let row = &px[y * stride..y * stride + (ow as usize * f).min(stride)];
            for (chunk, sum) in row.chunks(f).zip(sums.iter_mut()) {
                *sum += chunk.iter().map(|&v| u32::from(v)).sum::<u32>();
            }
        }
        let area = (f * f) as u32;
        for (ox, sum) in sums.iter().enumerate() {
            out[oy * ow as usize + ox] = ((sum + area / 2) / area) as u8;
        }
    }
    GrayImage::from_raw(ow, oh, out).unwrap_or_else(|| GrayImage::new(1, 1))
}

/// Doubles the size (bilinear).
fn upscale2(image: &GrayImage) -> GrayImage {
    let (w, h) = image.dimensions();
    image::imageops::resize(image, w * 2, h * 2, image::imageops::FilterType::Triangle)
}
