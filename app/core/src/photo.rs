//! Document photos: decode, orient, downscale and re-encode without metadata.
//!
//! Agents photograph business licences, ID cards, bank cards, receipts and
//! police reports on whatever phone they carry. Those files are large, often
//! sideways (the camera only records the rotation in EXIF), and carry GPS
//! coordinates and device data that we must not keep or sync. Every photo is
//! therefore normalized into one predictable shape before it is stored:
//!
//! * the format is sniffed from magic bytes first, so HEIC/WebP/PDF get an
//!   error that tells the agent what to change instead of a decoder message;
//! * size and dimension limits are enforced from the headers **before** any
//!   pixel buffer is allocated, so a decompression bomb costs nothing;
//!   these checks, and the PNG decoding, are the loading rule every side
//!   shares (`posfield_imaging`), in the agent's words ([`PhotoError`]);
//! * the EXIF orientation is baked into the pixels, the long side is reduced
//!   to at most [`MAX_LONG_SIDE`] (never enlarged) and the result is written
//!   as a fresh baseline JPEG at [`JPEG_QUALITY`] with no metadata segments;
//! * the only thing kept from the metadata is the capture time, which is
//!   returned next to the image instead of inside it.
//!
//! Speed matters because the agent does this on a phone while the merchant
//! waits: JPEGs are decoded with DCT-domain scaling (the decoder produces
//! 1/2, 1/4 or 1/8 size directly, like libjpeg's shrink-on-load), the rest
//! of the reduction uses a SIMD convolution resizer, and orientation is
//! applied to the small image rather than the full-size one.

use std::fmt;
use std::io::Cursor;
use std::panic::{AssertUnwindSafe, catch_unwind};

use fast_image_resize as fr;
use image::DynamicImage;
use image::metadata::Orientation;
use posfield_imaging::{Format, ImageError};
use posfield_shared::{CalendarDate, Timestamp};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The longest side of a normalized photo, in pixels.
///
/// 1600 px keeps a licence or a receipt legible when zoomed while staying
/// around 200–400 KB, which matters on the agents' mobile data plans.
pub const MAX_LONG_SIDE: u32 = 1600;

/// The long side a photo is cut from when the agent crops it: twice the
/// stored size, so a crop of half the photo still fills [`MAX_LONG_SIDE`].
const CROP_SOURCE_SIDE: u32 = 2 * MAX_LONG_SIDE;

/// JPEG quality (libjpeg scale) of normalized photos: text stays crisp and
/// the files stay small.
pub const JPEG_QUALITY: u8 = 80;

/// MIME type of every normalized photo.
pub const OUTPUT_MIME: &str = "image/jpeg";

/// Resource limits applied to an input photo before and while decoding it.
///
/// Width and height are checked strictly from the file header, before any
/// decoder allocates pixels. `max_alloc` is checked against an estimate of
/// the decoder's buffers and also handed to the decoders, which enforce it
/// on a best-effort basis.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PhotoLimits {
    /// Largest accepted input file, in bytes (default 40 MiB).
    pub max_input_bytes: u64,
    /// Largest accepted width in pixels, as stored in the file (default 12000).
    pub max_width: u32,
    /// Largest accepted height in pixels, as stored in the file (default 12000).
    pub max_height: u32,
    /// Largest memory the decoder may need for pixel data, in bytes
    /// (default 512 MiB).
    pub max_alloc: u64,
}

impl PhotoLimits {
    /// The same limits in the loading rule's terms; the sides bound the
    /// pixel count, so it has no bound of its own.
    #[must_use]
    pub fn imaging(&self) -> posfield_imaging::Limits {
        posfield_imaging::Limits {
            max_input_bytes: self.max_input_bytes,
            max_width: self.max_width,
            max_height: self.max_height,
            max_pixels: u64::from(self.max_width) * u64::from(self.max_height),
            max_alloc: self.max_alloc,
        }
    }
}

impl Default for PhotoLimits {
    fn default() -> Self {
        Self {
            max_input_bytes: 40 * 1024 * 1024,
            max_width: 12_000,
            max_height: 12_000,
            max_alloc: 512 * 1024 * 1024,
        }
    }
}

/// When a photo was taken, as the camera wrote it in EXIF.
///
/// Kept as the camera's wall-clock fields rather than an instant because
/// most cameras do not record their UTC offset; see
/// [`CaptureTime::unix_millis`] for how the missing offset is resolved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct CaptureTime {
    /// Year, e.g. 2024.
    pub year: u16,
    /// Month, 1–12.
    pub month: u8,
    /// Day of the month, 1–31.
    pub day: u8,
    /// Hour, 0–23.
    pub hour: u8,
    /// Minute, 0–59.
    pub minute: u8,
    /// Second, 0–60 (60 only for a leap second).
    pub second: u8,
    /// UTC offset in minutes from `OffsetTimeOriginal`/`OffsetTime`, when
    /// the camera wrote one.
    pub offset_minutes: Option<i16>,
}

impl CaptureTime {
    /// Milliseconds since the Unix epoch (the unit of
    /// `posfield_shared::Timestamp`), or `None` for fields no clock shows.
    ///
    /// Without an EXIF offset the time is read in Beijing time (the
    /// Asia/Shanghai zone, where the agents work): phones only write
    /// `OffsetTimeOriginal` since EXIF 2.31, so many photos lack it.
    /// The conversion is the domain's ([`Timestamp::from_wall_clock`]).
    #[must_use]
    pub fn unix_millis(&self) -> Option<i64> {
        let date = CalendarDate::from_ymd(i32::from(self.year), self.month, self.day)?;
        Timestamp::from_wall_clock(date, self.hour, self.minute, self.second, self.offset_minutes)
            .map(Timestamp::millis)
    }

    /// Builds a capture time from EXIF's date/time fields, refusing values
    /// no real clock produces (cameras with an unset clock write zeros).
    fn from_exif(dt: &exif::DateTime) -> Option<Self> {
        let valid = (1900..=2999).contains(&dt.year)
            && (1..=12).contains(&dt.month)
            && CalendarDate::from_ymd(i32::from(dt.year), dt.month, dt.day).is_some()
            && dt.hour <= 23
            && dt.minute <= 59
            && dt.second <= 60
            && dt.offset.is_none_or(|o| o.abs() <= 14 * 60);
        valid.then_some(Self {
            year: dt.year,
            month: dt.month,
            day: dt.day,
            hour: dt.hour,
            minute: dt.minute,
            second: dt.second,
            offset_minutes: dt.offset,
        })
    }
}

/// Formats as `YYYY-MM-DDTHH:MM:SS`, followed by `±HH:MM` only when the
/// camera recorded an offset (no assumed offset is shown).
impl fmt::Display for CaptureTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
            self.year, self.month, self.day, self.hour, self.minute, self.second
        )?;
        if let Some(offset) = self.offset_minutes {
            let sign = if offset < 0 { '-' } else { '+' };
            let abs = offset.unsigned_abs();
            write!(f, "{sign}{:02}:{:02}", abs / 60, abs % 60)?;
        }
        Ok(())
    }
}

/// A photo ready to store: a metadata-free JPEG plus what we kept from the
/// original's metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NormalizedPhoto {
    /// The re-encoded JPEG: JFIF header only, no EXIF/XMP/ICC/GPS.
    pub jpeg: Vec<u8>,
    /// Width in pixels, after orientation.
    pub width: u32,
    /// Height in pixels, after orientation.
    pub height: u32,
    /// Lowercase hex SHA-256 of `jpeg`, for content addressing.
    pub sha256: String,
    /// Always [`OUTPUT_MIME`].
    pub mime: &'static str,
    /// Capture time from EXIF `DateTimeOriginal` (or `DateTime`).
    pub taken_at: Option<CaptureTime>,
    /// `taken_at` as milliseconds since the epoch; see
    /// [`CaptureTime::unix_millis`] for the assumed offset.
    pub taken_at_millis: Option<i64>,
}

/// Why a photo could not be normalized. Messages are meant to be shown to
/// the agent, so they say what to do where there is something to do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PhotoError {
    /// The input has no bytes.
    #[error("the photo is empty")]
    Empty,
    /// The file is larger than [`PhotoLimits::max_input_bytes`]; nothing was
    /// decoded.
    #[error("photo is {bytes} bytes, more than the limit of {max} bytes")]
    TooLarge {
        /// Size of the input.
        bytes: u64,
        /// The limit.
        max: u64,
    },
    /// The header announces dimensions beyond the limits; refused before
    /// decoding any pixel.
    #[error("photo is {width}x{height} pixels, more than the limit of {max_w}x{max_h}")]
    Dimensions {
        /// Width from the header.
        width: u32,
        /// Height from the header.
        height: u32,
        /// Width limit.
        max_w: u32,
        /// Height limit.
        max_h: u32,
    },
    /// Decoding would need more memory than [`PhotoLimits::max_alloc`].
    #[error("photo would need about {needed} bytes to decode, more than the limit of {max} bytes")]
    Memory {
        /// Estimated bytes the decoder would allocate.
        needed: u64,
        /// The limit.
        max: u64,
    },
    /// The format is recognised but not accepted (HEIC, WebP, PDF...) or
    /// not recognised at all (`"unknown"`).
    #[error("unsupported photo format {format}: take the photo as JPEG (camera setting 'most compatible')")]
    Unsupported {
        /// Format name from [`sniff_format`], or `"unknown"`.
        format: &'static str,
    },
    /// The file claims to be JPEG or PNG but cannot be decoded (truncated,
    /// damaged, ...).
    #[error("photo is corrupt: {reason}")]
    Corrupt {
        /// What the decoder reported.
        reason: String,
    },
    /// Writing the output JPEG failed. Not expected for a decoded image;
    /// kept separate so it is never mistaken for a bad input.
    #[error("could not encode the photo as JPEG: {reason}")]
    Encode {
        /// What the encoder reported.
        reason: String,
    },
    /// The crop asked for is outside the photo or too small to keep.
    #[error(
        "the crop {x},{y} {width}x{height} (thousandths of the photo) is not inside it, or smaller than {min} each way"
    )]
    Crop {
        /// Left edge.
        x: u16,
        /// Top edge.
        y: u16,
        /// Width.
        width: u16,
        /// Height.
        height: u16,
        /// The smallest side kept ([`CropBox::MIN_SIDE`]).
        min: u16,
    },
}

/// What the agent did to a photo in the preview before keeping it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PhotoEdit {
    /// Quarter turns clockwise (taken modulo 4).
    pub quarter_turns: u8,
    /// The part kept, of the photo as turned; `None` keeps all of it.
    pub crop: Option<CropBox>,
}

/// A rectangle of a photo in thousandths of its width and height, so the
/// same box means the same part whatever size the photo is stored at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CropBox {
    /// Left edge, from 0.
    pub x: u16,
    /// Top edge, from 0.
    pub y: u16,
    /// Width.
    pub width: u16,
    /// Height.
    pub height: u16,
}

impl CropBox {
    /// The smallest side a crop keeps (5 %): a slip of the finger is not a photo.
    pub const MIN_SIDE: u16 = 50;

    /// The box, checked: inside the photo and at least [`Self::MIN_SIDE`] each way.
    pub fn new(x: u16, y: u16, width: u16, height: u16) -> Result<CropBox, PhotoError> {
        let inside = u32::from(x) + u32::from(width) <= 1000 && u32::from(y) + u32::from(height) <= 1000;
        if !inside || width < Self::MIN_SIDE || height < Self::MIN_SIDE {
            return Err(PhotoError::Crop { x, y, width, height, min: Self::MIN_SIDE });
        }
        Ok(CropBox { x, y, width, height })
    }

    /// `x,y,width,height` in thousandths, as the app sends it.
    pub fn parse(text: &str) -> Result<CropBox, PhotoError> {
        let bad = || PhotoError::Crop { x: 0, y: 0, width: 0, height: 0, min: Self::MIN_SIDE };
        let parts: Vec<u16> =
            text.split(',').map(|p| p.trim().parse::<u16>()).collect::<Result<_, _>>().map_err(|_| bad())?;
        let [x, y, width, height] = parts[..] else { return Err(bad()) };
        CropBox::new(x, y, width, height)
    }

    /// The box in pixels of a `width` x `height` raster (at least one each way).
    fn pixels(&self, width: u32, height: u32) -> (u32, u32, u32, u32) {
        let at =
            |part: u16, whole: u32| u32::try_from(u64::from(part) * u64::from(whole) / 1000).unwrap_or(whole);
        let (x, y) = (at(self.x, width).min(width - 1), at(self.y, height).min(height - 1));
        let w = at(self.width, width).clamp(1, width - x);
        let h = at(self.height, height).clamp(1, height - y);
        (x, y, w, h)
    }
}

/// Names the image format of `bytes` from its magic bytes, without
/// decoding: the loading rule's sniffing ([`posfield_imaging::sniff`]).
pub use posfield_imaging::sniff as sniff_format;

/// Normalizes a document photo: decode JPEG or PNG within `limits`, apply
/// the EXIF orientation, shrink the long side to at most [`MAX_LONG_SIDE`]
/// and encode a metadata-free JPEG at [`JPEG_QUALITY`].
///
/// The output is deterministic: the same input gives the same bytes (and
/// so the same `sha256`), which lets the blob store deduplicate retries.
///
/// # Errors
///
/// [`PhotoError::Empty`], [`PhotoError::TooLarge`] and
/// [`PhotoError::Unsupported`] are decided from the length and magic bytes
/// alone; [`PhotoError::Dimensions`] and [`PhotoError::Memory`] from the
/// header before decoding; [`PhotoError::Corrupt`] when decoding fails.
pub fn normalize_photo(input: &[u8], limits: &PhotoLimits) -> Result<NormalizedPhoto, PhotoError> {
    normalize_photo_edited(input, limits, &PhotoEdit::default())
}

/// [`normalize_photo`] with the agent's edit from the preview: turned
/// clockwise by its quarter turns (for a photo the phone held sideways
/// without saying so in its EXIF), then cropped to its box. Both are in
/// the stored pixels, like the EXIF orientation, and so in the hash. A
/// cropped photo is cut from pixels up to twice the stored size
/// ([`CROP_SOURCE_SIDE`]) before it is shrunk, so a crop of half the photo
/// still fills the stored size.
pub fn normalize_photo_edited(
    input: &[u8],
    limits: &PhotoLimits,
    edit: &PhotoEdit,
) -> Result<NormalizedPhoto, PhotoError> {
    normalize_photo_stamped(input, limits, edit, None)
}

/// The evidence stamp to draw into a photo ([`crate::stamp`]): its first
/// line is the photo's capture time in Beijing time (the camera's, else
/// `fallback_millis`), then `lines`.
#[derive(Debug, Clone)]
pub struct PhotoStamp {
    /// The font it is drawn in.
    pub font: crate::stamp::StampFont,
    /// When the photo was kept, ms since the epoch: the time stamped when the camera wrote none.
    pub fallback_millis: i64,
    /// The merchant, the serial, the place.
    pub lines: Vec<String>,
}

/// [`normalize_photo_edited`], with the evidence stamp drawn across the
/// foot of the turned and cropped photo when `stamp` is given: the stored
/// bytes, and so the hash, are the stamped photo's.
pub fn normalize_photo_stamped(
    input: &[u8],
    limits: &PhotoLimits,
    edit: &PhotoEdit,
    stamp: Option<&PhotoStamp>,
) -> Result<NormalizedPhoto, PhotoError> {
    // Length, format and the header's size, by the one loading rule.
    let header = posfield_imaging::read_header(input, &limits.imaging()).map_err(|e| refused(e, limits))?;

    let meta = read_metadata(input);

    // Decoders are large parsers fed with untrusted bytes; a panic in one
    // must reject this photo, not take down the agent.
    let raster = catch_unwind(AssertUnwindSafe(|| match header.format {
        Format::Jpeg => decode_jpeg(input, limits),
        Format::Png => decode_png(input, limits),
    }))
    .map_err(|_| PhotoError::Corrupt { reason: "the decoder failed on malformed data".to_owned() })??;

    let turn = match edit.quarter_turns % 4 {
        1 => Orientation::Rotate90,
        2 => Orientation::Rotate180,
        3 => Orientation::Rotate270,
        _ => Orientation::NoTransforms,
    };
    let raster = match &edit.crop {
        // Shrunk first: turning a smaller raster is cheaper.
        None => orient(orient(downscale(raster)?, meta.orientation), turn),
        // Cut from pixels up to twice the stored size (what the JPEG decoder
        // gives; a huge PNG is shrunk to it first, so turning it does not
        // double a full-size raster's memory), then shrunk.
        Some(crop) => {
            let source = downscale_to(raster, CROP_SOURCE_SIDE)?;
            downscale(cut(orient(orient(source, meta.orientation), turn), crop))?
        }
    };
    let mut raster = raster;
    if let Some(stamp) = stamp {
        let millis = meta.taken_at.and_then(|t| t.unix_millis()).unwrap_or(stamp.fallback_millis);
        let when = format!("{} 北京时间", posfield_shared::Timestamp(millis).beijing_words());
        let lines = crate::stamp::stamp_lines(std::iter::once(when).chain(stamp.lines.iter().cloned()));
        let channels = if raster.gray { 1 } else { 3 };
        crate::stamp::draw(&mut raster.data, raster.width, raster.height, channels, &lines, &stamp.font);
    }
    let jpeg = encode(&raster)?;

    Ok(NormalizedPhoto {
        sha256: hex::encode(Sha256::digest(&jpeg)),
        jpeg,
        width: raster.width,
        height: raster.height,
        mime: OUTPUT_MIME,
        taken_at: meta.taken_at,
        taken_at_millis: meta.taken_at.and_then(|t| t.unix_millis()),
    })
}

/// 8-bit pixels, either gray (1 channel) or RGB (3 channels), tightly packed.
struct Raster {
    width: u32,
    height: u32,
    gray: bool,
    data: Vec<u8>,
}

/// What we keep from the input's EXIF.
struct Metadata {
    orientation: Orientation,
    taken_at: Option<CaptureTime>,
}

/// Reads orientation and capture time. Broken or missing EXIF is not an
/// error: the pixels are what matter, so the photo is taken upright and
/// undated.
fn read_metadata(input: &[u8]) -> Metadata {
    let none = Metadata { orientation: Orientation::NoTransforms, taken_at: None };
    let Ok(exif) = exif::Reader::new().read_from_container(&mut Cursor::new(input)) else {
        return none;
    };
    let orientation = exif
        .get_field(exif::Tag::Orientation, exif::In::PRIMARY)
        .and_then(|f| f.value.get_uint(0))
        .and_then(|v| u8::try_from(v).ok())
        .and_then(Orientation::from_exif)
        .unwrap_or(Orientation::NoTransforms);

    let ascii = |tag| match exif.get_field(tag, exif::In::PRIMARY).map(|f| &f.value) {
        Some(exif::Value::Ascii(v)) => v.first().cloned(),
        _ => None,
    };
    let taken_at = [
        (exif::Tag::DateTimeOriginal, exif::Tag::OffsetTimeOriginal),
        (exif::Tag::DateTime, exif::Tag::OffsetTime),
    ]
    .into_iter()
    .find_map(|(date_tag, offset_tag)| {
        let mut dt = exif::DateTime::from_ascii(&ascii(date_tag)?).ok()?;
        if let Some(offset) = ascii(offset_tag) {
            // A malformed offset leaves it unknown rather than dropping
            // the date.
            if dt.parse_offset(&offset).is_err() {
                dt.offset = None;
            }
        }
        CaptureTime::from_exif(&dt)
    });
    Metadata { orientation, taken_at }
}

/// The loading rule's answer in the agent's words: the sizes it refused
/// keep their own variants, anything unreadable is corrupt.
fn refused(error: ImageError, limits: &PhotoLimits) -> PhotoError {
    match error {
        ImageError::Empty => PhotoError::Empty,
        ImageError::TooLarge { bytes, max } => PhotoError::TooLarge { bytes, max },
        ImageError::Unsupported { format } => PhotoError::Unsupported { format },
        ImageError::Dimensions { width, height, .. } | ImageError::Pixels { width, height, .. } => {
            PhotoError::Dimensions { width, height, max_w: limits.max_width, max_h: limits.max_height }
        }
        ImageError::Memory { needed, max } => PhotoError::Memory { needed, max },
        other @ (ImageError::NoPixels { .. } | ImageError::Truncated { .. } | ImageError::Corrupt { .. }) => {
            PhotoError::Corrupt { reason: other.to_string() }
        }
    }
}

/// Decodes a JPEG with `jpeg-decoder`, asking it to scale in the DCT domain
/// to the smallest of 1/1, 1/2, 1/4, 1/8 that still covers
/// [`MAX_LONG_SIDE`]. For a 12 MP phone photo this halves the work and the
/// memory compared with decoding at full size and resizing.
fn decode_jpeg(input: &[u8], limits: &PhotoLimits) -> Result<Raster, PhotoError> {
    use jpeg_decoder::{CodingProcess, Decoder, Error, PixelFormat};

    let mut decoder = Decoder::new(input);
    decoder.set_max_decoding_buffer_size(usize::try_from(limits.max_alloc).unwrap_or(usize::MAX));
    // Reads markers up to the first scan only: no pixel memory yet.
    decoder.read_info().map_err(jpeg_corrupt)?;
    let info = decoder
        .info()
        .ok_or_else(|| PhotoError::Corrupt { reason: "JPEG has no frame header".to_owned() })?;
    // The sides were bounded from the same frame header by `read_header`.
    let (width, height) = (u32::from(info.width), u32::from(info.height));

    let channels: u64 = match info.pixel_format {
        PixelFormat::L8 => 1,
        PixelFormat::L16 => 2,
        PixelFormat::RGB24 => 3,
        PixelFormat::CMYK32 => 4,
    };
    // Progressive (and lossless) JPEGs keep every coefficient of the full
    // image (an i16 per sample) until the last scan; baseline ones stream.
    let coefficients = match info.coding_process {
        CodingProcess::DctSequential => 0,
        _ => u64::from(width) * u64::from(height) * channels * 2,
    };

    let (out_w, out_h) = if width.max(height) > MAX_LONG_SIDE {
        let (req_w, req_h) = fit_within(width, height, MAX_LONG_SIDE);
        let to_u16 = |v: u32| u16::try_from(v).unwrap_or(u16::MAX);
        let (w, h) = decoder.scale(to_u16(req_w), to_u16(req_h)).map_err(jpeg_corrupt)?;
        (u32::from(w), u32::from(h))
    } else {
        (width, height)
    };
    // DCT scaling decodes fewer pixels than the header's full size, so the
    // memory needed is this path's own estimate, bounded by the same limit.
    limits
        .imaging()
        .check_memory(coefficients + u64::from(out_w) * u64::from(out_h) * channels)
        .map_err(|e| refused(e, limits))?;

    let pixels = match decoder.decode() {
        Ok(pixels) => pixels,
        // Arithmetic coding, 12-bit samples and similar rarities: let the
        // image crate's decoder try, with the same limits.
        Err(Error::Unsupported(_)) => {
            return decode_with_image(input, limits, coefficients);
        }
        Err(e) => return Err(jpeg_corrupt(e)),
    };
    let info = decoder
        .info()
        .ok_or_else(|| PhotoError::Corrupt { reason: "JPEG has no frame header".to_owned() })?;
    let (out_w, out_h) = (u32::from(info.width), u32::from(info.height));
    let expected = out_w as usize * out_h as usize * channels as usize;
    if pixels.len() < expected {
        return Err(PhotoError::Corrupt {
            reason: format!("JPEG decoded to {} bytes, expected {expected}", pixels.len()),
        });
    }
    let (gray, data) = match info.pixel_format {
        PixelFormat::L8 => (true, pixels),
        // Big-endian 16-bit gray (lossless JPEG): keep the high byte.
        PixelFormat::L16 => (true, pixels.chunks_exact(2).map(|p| p[0]).collect()),
        PixelFormat::RGB24 => (false, pixels),
        PixelFormat::CMYK32 => (false, cmyk_to_rgb(&pixels)),
    };
    Ok(Raster { width: out_w, height: out_h, gray, data })
}

fn jpeg_corrupt(e: jpeg_decoder::Error) -> PhotoError {
    PhotoError::Corrupt { reason: e.to_string() }
}

/// Naive CMYK→RGB, enough for the rare CMYK JPEG (scanner output): the
/// decoder already undoes Adobe's inversion.
fn cmyk_to_rgb(cmyk: &[u8]) -> Vec<u8> {
    let mut rgb = Vec::with_capacity(cmyk.len() / 4 * 3);
    for px in cmyk.chunks_exact(4) {
        let k = u16::from(px[3]);
        for &c in &px[..3] {
            // (255 - c) * (255 - k) / 255, rounded.
            let v = (255 - u16::from(c)) * (255 - k);
            rgb.push(((v + 127) / 255) as u8);
        }
    }
    rgb
}

/// Decodes a PNG by the loading rule, which checks its IHDR's size and the
/// memory its pixels need before the decoder starts.
fn decode_png(input: &[u8], limits: &PhotoLimits) -> Result<Raster, PhotoError> {
    decode_with_image(input, limits, 0)
}

/// Decodes through the loading rule ([`posfield_imaging::decode`]), with
/// `extra_alloc` bytes of the memory limit already spoken for.
fn decode_with_image(input: &[u8], limits: &PhotoLimits, extra_alloc: u64) -> Result<Raster, PhotoError> {
    let mut imaging = limits.imaging();
    imaging.max_alloc = imaging.max_alloc.saturating_sub(extra_alloc);
    let decoded = posfield_imaging::decode(input, &imaging).map_err(|e| refused(e, limits))?;
    Ok(flatten(decoded.image))
}

/// Reduces any decoded image to 8-bit gray or RGB. Transparent areas (PNG
/// screenshots, scans with cut-out backgrounds) are laid on white, as a
/// printed document would be, instead of turning black.
fn flatten(image: DynamicImage) -> Raster {
    let (width, height) = (image.width(), image.height());
    let gray = !image.color().has_color();
    let data = if image.color().has_alpha() {
        let rgba = image.into_rgba8();
        let on_white = |c: u8, a: u8| {
            let (c, a) = (u16::from(c), u16::from(a));
            ((c * a + 255 * (255 - a) + 127) / 255) as u8
        };
        if gray {
            rgba.pixels().map(|p| on_white(p[0], p[3])).collect()
        } else {
            rgba.pixels().flat_map(|p| [0, 1, 2].map(|i| on_white(p[i], p[3]))).collect()
        }
    } else if gray {
        image.into_luma8().into_raw()
    } else {
        image.into_rgb8().into_raw()
    };
    Raster { width, height, gray, data }
}

/// Size with the long side reduced to `max`, keeping the aspect ratio; the
/// input itself when it already fits (photos are never enlarged).
fn fit_within(width: u32, height: u32, max: u32) -> (u32, u32) {
    let long = width.max(height);
    if long <= max {
        return (width, height);
    }
    let scale = |v: u32| {
        let scaled = (u64::from(v) * u64::from(max) + u64::from(long) / 2) / u64::from(long);
        (scaled as u32).max(1)
    };
    (scale(width), scale(height))
}

/// Lanczos3 is what libvips and most photo tools use for reduction: it
/// keeps small print sharp without the ringing of sharper kernels.
fn downscale(raster: Raster) -> Result<Raster, PhotoError> {
    downscale_to(raster, MAX_LONG_SIDE)
}

/// [`downscale`] to a long side of at most `side`.
fn downscale_to(raster: Raster, side: u32) -> Result<Raster, PhotoError> {
    let (width, height) = fit_within(raster.width, raster.height, side);
    if (width, height) == (raster.width, raster.height) {
        return Ok(raster);
    }
    let pixel_type = if raster.gray { fr::PixelType::U8 } else { fr::PixelType::U8x3 };
    let resize_err = |e: &dyn fmt::Display| PhotoError::Corrupt { reason: format!("resize failed: {e}") };
    let src = fr::images::Image::from_vec_u8(raster.width, raster.height, raster.data, pixel_type)
        .map_err(|e| resize_err(&e))?;
    let mut dst = fr::images::Image::new(width, height, pixel_type);
    let options = fr::ResizeOptions::new().resize_alg(fr::ResizeAlg::Convolution(fr::FilterType::Lanczos3));
    fr::Resizer::new().resize(&src, &mut dst, &options).map_err(|e| resize_err(&e))?;
    Ok(Raster { width, height, gray: raster.gray, data: dst.into_vec() })
}

/// Bakes the EXIF orientation into the pixels, since the output carries no
/// EXIF to tell viewers to rotate it.
fn orient(raster: Raster, orientation: Orientation) -> Raster {
    if orientation == Orientation::NoTransforms {
        return raster;
    }
    let Raster { width, height, gray, data } = raster;
    // The buffers are built from our own correctly sized data, so `None`
    // cannot happen; fall back to the unrotated image rather than panic.
    let image = if gray {
        image::GrayImage::from_raw(width, height, data).map(DynamicImage::ImageLuma8)
    } else {
        image::RgbImage::from_raw(width, height, data).map(DynamicImage::ImageRgb8)
    };
    let Some(mut image) = image else {
        return Raster { width, height, gray, data: Vec::new() };
    };
    image.apply_orientation(orientation);
    Raster { width: image.width(), height: image.height(), gray, data: image.into_bytes() }
}

/// The part of `raster` inside `crop`.
fn cut(raster: Raster, crop: &CropBox) -> Raster {
    if raster.width == 0 || raster.height == 0 {
        return raster;
    }
    let (x, y, width, height) = crop.pixels(raster.width, raster.height);
    let channels = if raster.gray { 1 } else { 3 };
    let row = (raster.width * channels) as usize;
    let (from, len) = ((x * channels) as usize, (width * channels) as usize);
    let data = (y..y + height)
        .flat_map(|line| {
            let start = line as usize * row + from;
            raster.data[start..start + len].iter().copied()
        })
        .collect();
    Raster { width, height, gray: raster.gray, data }
}

/// Encodes with `jpeg-encoder` (about 3x faster than the `image` crate's
/// encoder and ~5 % smaller output). Box-averaged chroma, like libjpeg,
/// avoids colour fringes on printed text. Only SOI, APP0 (JFIF), DQT, SOF,
/// DHT, SOS and EOI are written.
///
/// Huffman tables are optimized for the image (about a quarter smaller on
/// document photos than the standard tables libjpeg and libvips use by
/// default). On flat or grey images that yields a table with a single
/// symbol, which zune-jpeg 0.4 (the `image` crate's decoder, used elsewhere
/// in this workspace) decodes into wrong colours, although libjpeg reads it
/// fine: such output is encoded again with the standard tables.
fn encode(raster: &Raster) -> Result<Vec<u8>, PhotoError> {
    let optimized = encode_with(raster, true)?;
    if !has_single_symbol_table(&optimized) {
        return Ok(optimized);
    }
    encode_with(raster, false)
}

fn encode_with(raster: &Raster, optimize_huffman: bool) -> Result<Vec<u8>, PhotoError> {
    let encode_err = |reason: String| PhotoError::Encode { reason };
    let width = u16::try_from(raster.width).map_err(|e| encode_err(e.to_string()))?;
    let height = u16::try_from(raster.height).map_err(|e| encode_err(e.to_string()))?;
    let mut out = Vec::with_capacity(raster.data.len() / 8);
    let mut encoder = jpeg_encoder::Encoder::new(&mut out, JPEG_QUALITY);
    encoder.set_chroma_subsampling_method(jpeg_encoder::ChromaSubsamplingMethod::Average);
    encoder.set_optimized_huffman_tables(optimize_huffman);
    let color = if raster.gray { jpeg_encoder::ColorType::Luma } else { jpeg_encoder::ColorType::Rgb };
    encoder.encode(&raster.data, width, height, color).map_err(|e| encode_err(e.to_string()))?;
    Ok(out)
}

/// Whether a JPEG's header defines a Huffman table (DHT) with one symbol.
/// Reads the marker segments up to the start of scan; malformed headers
/// count as suspect.
fn has_single_symbol_table(jpeg: &[u8]) -> bool {
    let mut at = 2; // after SOI
    while at + 4 <= jpeg.len() {
        if jpeg[at] != 0xFF {
            return true;
        }
        let marker = jpeg[at + 1];
        if marker == 0xDA {
            return false; // start of scan: every table was seen
        }
        let length = usize::from(u16::from_be_bytes([jpeg[at + 2], jpeg[at + 3]]));
        let Some(segment) = jpeg.get(at + 4..at + 2 + length) else { return true };
        if marker == 0xC4 {
            let mut table = 0;
            while table + 17 <= segment.len() {
                let symbols: usize = segment[table + 1..table + 17].iter().map(|&n| usize::from(n)).sum();
                if symbols <= 1 {
                    return true;
                }
                table += 17 + symbols;
            }
        }
        at += 2 + length;
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raster(width: u32, height: u32, pixel: impl Fn(u32, u32) -> [u8; 3]) -> Raster {
        let mut data = Vec::with_capacity((width * height * 3) as usize);
        for y in 0..height {
            for x in 0..width {
                data.extend(pixel(x, y));
            }
        }
        Raster { width, height, gray: false, data }
    }

    #[test]
    fn huffman_tables_are_optimized_unless_one_would_hold_a_single_symbol() {
        // A colourful, textured picture: optimized tables, smaller output.
        let busy = raster(320, 240, |x, y| [((x * 7) ^ (y * 3)) as u8, (x * y) as u8, (y * 5) as u8]);
        let optimized = encode(&busy).unwrap();
        assert!(!has_single_symbol_table(&optimized));
        assert!(optimized.len() < encode_with(&busy, false).unwrap().len());
        // A grey scan: its chroma tables would hold one symbol each, so the
        // standard tables are used (the `image` decoder misreads the others).
        let grey = raster(320, 240, |x, _| [(x % 256) as u8; 3]);
        assert!(has_single_symbol_table(&encode_with(&grey, true).unwrap()));
        let stored = encode(&grey).unwrap();
        assert!(!has_single_symbol_table(&stored));
        assert_eq!(stored, encode_with(&grey, false).unwrap());
    }

    #[test]
    fn a_malformed_header_counts_as_suspect() {
        assert!(has_single_symbol_table(&[]));
        assert!(has_single_symbol_table(&[0xFF, 0xD8, 0x00, 0x00, 0x00, 0x00]));
        assert!(has_single_symbol_table(&[0xFF, 0xD8, 0xFF, 0xC4, 0xFF, 0xFF, 0x00]));
    }

    /// A `width` x `height` PNG, black on its `dark` leftmost columns, white elsewhere.
    fn png_dark_left(width: u32, height: u32, dark: u32) -> Vec<u8> {
        let image = image::RgbImage::from_fn(width, height, |x, _| {
            image::Rgb(if x < dark { [0, 0, 0] } else { [255, 255, 255] })
        });
        let mut png = Vec::new();
        image.write_to(&mut Cursor::new(&mut png), image::ImageFormat::Png).unwrap();
        png
    }

    /// The first channel of pixel (x, y) of a stored photo.
    fn stored_pixel(photo: &NormalizedPhoto, x: u32, y: u32) -> u8 {
        let pixels = decode_jpeg(&photo.jpeg, &PhotoLimits::default()).unwrap();
        let channels = if pixels.gray { 1 } else { 3 };
        pixels.data[((y * pixels.width + x) * channels) as usize]
    }

    #[test]
    fn the_agent_s_turn_is_in_the_stored_pixels_and_four_turns_are_none() {
        let png = png_dark_left(64, 32, 8);
        let limits = PhotoLimits::default();
        let upright = normalize_photo(&png, &limits).unwrap();
        assert_eq!((upright.width, upright.height), (64, 32));
        let turn = |quarter_turns| PhotoEdit { quarter_turns, crop: None };
        let turned = normalize_photo_edited(&png, &limits, &turn(1)).unwrap();
        assert_eq!((turned.width, turned.height), (32, 64));
        assert_ne!(turned.sha256, upright.sha256);
        // A clockwise quarter turn puts the dark left edge at the top.
        assert!(stored_pixel(&turned, 16, 2) < 60 && stored_pixel(&turned, 16, 60) > 200);
        assert_eq!(normalize_photo_edited(&png, &limits, &turn(4)).unwrap().sha256, upright.sha256);
        let half = normalize_photo_edited(&png, &limits, &turn(2)).unwrap();
        assert_eq!((half.width, half.height), (64, 32));
        assert_ne!(half.sha256, upright.sha256);
    }

    #[test]
    fn a_crop_keeps_its_part_of_the_turned_photo_and_a_bad_one_is_refused() {
        // 100 x 50, dark on its left fifth.
        let png = png_dark_left(100, 50, 20);
        let limits = PhotoLimits::default();
        // The left half, unturned: 50 x 50, dark on its left two fifths.
        let left = PhotoEdit { quarter_turns: 0, crop: Some(CropBox::new(0, 0, 500, 1000).unwrap()) };
        let kept = normalize_photo_edited(&png, &limits, &left).unwrap();
        assert_eq!((kept.width, kept.height), (50, 50));
        assert!(stored_pixel(&kept, 5, 25) < 60 && stored_pixel(&kept, 45, 25) > 200);
        // A photo four times the stored size: half of it still fills the stored size.
        let wide = png_dark_left(4 * MAX_LONG_SIDE, 64, 10);
        let half = PhotoEdit { quarter_turns: 0, crop: Some(CropBox::new(0, 0, 500, 1000).unwrap()) };
        assert_eq!(normalize_photo_edited(&wide, &limits, &half).unwrap().width, MAX_LONG_SIDE);
        // Turned a quarter first (50 x 100, dark on top), then its top half: 50 x 50.
        let top = PhotoEdit { quarter_turns: 1, crop: Some(CropBox::parse("0,0,1000,500").unwrap()) };
        let kept = normalize_photo_edited(&png, &limits, &top).unwrap();
        assert_eq!((kept.width, kept.height), (50, 50));
        // Outside the photo, too small, or not four numbers: refused, with the limit.
        assert!(matches!(CropBox::new(600, 0, 500, 1000), Err(PhotoError::Crop { min: 50, .. })));
        assert!(matches!(CropBox::new(0, 0, 49, 1000), Err(PhotoError::Crop { .. })));
        for bad in ["", "1,2,3", "0,0,1000,1000,1", "a,b,c,d", "-1,0,500,500", "0,0,70000,10"] {
            assert!(matches!(CropBox::parse(bad), Err(PhotoError::Crop { .. })), "{bad}");
        }
        assert_eq!(CropBox::parse(" 0, 0, 1000, 1000").unwrap(), CropBox::new(0, 0, 1000, 1000).unwrap());
    }

    #[test]
    fn fit_within_keeps_aspect_and_never_enlarges() {
        assert_eq!(fit_within(4000, 3000, 1600), (1600, 1200));
        assert_eq!(fit_within(3024, 4032, 1600), (1200, 1600));
        assert_eq!(fit_within(800, 600, 1600), (800, 600));
        assert_eq!(fit_within(20_000, 1, 1600), (1600, 1));
    }
}
