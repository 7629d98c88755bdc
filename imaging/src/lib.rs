//! The one way Posfield opens an image that came from outside.
//!
//! Document photos on the phone, label photos for the barcode reader, the
//! back office's thumbnails and the signature drawn on the acceptance
//! certificate are all bytes someone else produced. Each is opened here, by
//! the same steps in the same order, so that a file one side accepts is not
//! refused (or, worse, half-decoded) by another:
//!
//! 1. the length: empty files and files over [`Limits::max_input_bytes`] are
//!    refused before anything is parsed;
//! 2. the format, from the magic bytes: JPEG and PNG only, whatever other
//!    decoders the `image` crate happens to be built with elsewhere in the
//!    program (the barcode library turns all of them on);
//! 3. the dimensions, read from the header (a PNG's IHDR, a JPEG's frame
//!    header) and bounded by [`Limits`] before any pixel is allocated, so a
//!    decompression bomb costs nothing;
//! 4. the memory the decoded pixels need, estimated from the header and
//!    bounded by [`Limits::max_alloc`], which is also handed to the decoder;
//! 5. a JPEG that stops before its end-of-image marker is refused, because
//!    the decoder would silently paint the missing part grey;
//! 6. decoding, with a panic in a decoder turned into an error.
//!
//! [`read_header`] runs steps 1 to 3 alone, for a caller with its own
//! decoder (the phone's photo normalisation keeps a JPEG decoder that
//! scales in the DCT domain); [`decode`] runs them all. Nothing here reads a
//! file or a clock: bytes in, pixels or an [`ImageError`] out.

use std::io::Cursor;
use std::panic::{AssertUnwindSafe, catch_unwind};

use image::{DynamicImage, ImageDecoder, ImageFormat, ImageReader};

pub use image::metadata::Orientation;

#[cfg(test)]
mod tests;

/// The image formats Posfield accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    /// JPEG (JFIF or EXIF), what phone cameras write.
    Jpeg,
    /// PNG, what screenshots and the signature pad give.
    Png,
}

impl Format {
    /// The format's name as [`sniff`] gives it (`"JPEG"`, `"PNG"`).
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Format::Jpeg => "JPEG",
            Format::Png => "PNG",
        }
    }

    fn image_format(self) -> ImageFormat {
        match self {
            Format::Jpeg => ImageFormat::Jpeg,
            Format::Png => ImageFormat::Png,
        }
    }
}

/// How large an image may be, checked before decoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest accepted file, in bytes.
    pub max_input_bytes: u64,
    /// Largest accepted width in pixels, as the header gives it.
    pub max_width: u32,
    /// Largest accepted height in pixels, as the header gives it.
    pub max_height: u32,
    /// Largest accepted width times height.
    pub max_pixels: u64,
    /// Largest memory the decoder may need for the decoded pixels, in bytes.
    pub max_alloc: u64,
}

impl Limits {
    /// Whether decoding that needs `needed` bytes fits [`Limits::max_alloc`].
    ///
    /// # Errors
    ///
    /// [`ImageError::Memory`] when it does not.
    pub fn check_memory(&self, needed: u64) -> Result<(), ImageError> {
        if needed > self.max_alloc {
            return Err(ImageError::Memory { needed, max: self.max_alloc });
        }
        Ok(())
    }

    fn check_size(&self, width: u32, height: u32) -> Result<(), ImageError> {
        if width == 0 || height == 0 {
            return Err(ImageError::NoPixels { width, height });
        }
        if width > self.max_width || height > self.max_height {
            return Err(ImageError::Dimensions {
                width,
                height,
                max_width: self.max_width,
                max_height: self.max_height,
            });
        }
        if u64::from(width) * u64::from(height) > self.max_pixels {
            return Err(ImageError::Pixels { width, height, max: self.max_pixels });
        }
        Ok(())
    }
}

/// Why an image could not be opened. Every message is lowercase and names
/// the value that was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ImageError {
    /// The input has no bytes.
    #[error("the image is empty")]
    Empty,
    /// The file is larger than [`Limits::max_input_bytes`]; nothing was parsed.
    #[error("the image is {bytes} bytes, more than the limit of {max} bytes")]
    TooLarge {
        /// Size of the input.
        bytes: u64,
        /// The limit.
        max: u64,
    },
    /// The magic bytes name a format that is not JPEG or PNG (its name from
    /// [`sniff`]), or no format at all (`"unknown"`).
    #[error("unsupported image format {format}: only jpeg and png are accepted")]
    Unsupported {
        /// Format name from [`sniff`], or `"unknown"`.
        format: &'static str,
    },
    /// The header gives a width or a height of zero.
    #[error("the image header gives an empty size {width}x{height}")]
    NoPixels {
        /// Width from the header.
        width: u32,
        /// Height from the header.
        height: u32,
    },
    /// The header gives a side beyond [`Limits::max_width`] or [`Limits::max_height`].
    #[error("the image is {width}x{height} pixels, more than the limit of {max_width}x{max_height}")]
    Dimensions {
        /// Width from the header.
        width: u32,
        /// Height from the header.
        height: u32,
        /// Width limit.
        max_width: u32,
        /// Height limit.
        max_height: u32,
    },
    /// The header gives more pixels than [`Limits::max_pixels`].
    #[error("the image is {width}x{height} pixels, more than the limit of {max} pixels")]
    Pixels {
        /// Width from the header.
        width: u32,
        /// Height from the header.
        height: u32,
        /// The limit.
        max: u64,
    },
    /// Decoding would need more memory than [`Limits::max_alloc`].
    #[error("decoding the image would need about {needed} bytes, more than the limit of {max} bytes")]
    Memory {
        /// Estimated bytes the decoder would allocate.
        needed: u64,
        /// The limit.
        max: u64,
    },
    /// A JPEG stops before its end-of-image marker (a cut upload).
    #[error("the jpeg data is truncated: {bytes} bytes and no end-of-image marker")]
    Truncated {
        /// Size of the input.
        bytes: u64,
    },
    /// The header or the data cannot be decoded.
    #[error("the {format} image is corrupt: {reason}")]
    Corrupt {
        /// `"jpeg"` or `"png"`: what the magic bytes promised.
        format: &'static str,
        /// What is wrong, in the decoder's words where it gave some.
        reason: String,
    },
}

/// What the header of an accepted image says, read without decoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// The format, from the magic bytes.
    pub format: Format,
    /// Width in pixels, as stored (before any EXIF orientation).
    pub width: u32,
    /// Height in pixels, as stored.
    pub height: u32,
    /// The bytes the decoded pixels take at full size (samples per pixel
    /// times bytes per sample times pixels).
    pub decoded_bytes: u64,
}

/// A decoded image and the orientation its metadata asks for (not applied).
#[derive(Debug, Clone)]
pub struct Decoded {
    /// The pixels, as stored.
    pub image: DynamicImage,
    /// The EXIF orientation (`NoTransforms` when there is none).
    pub orientation: Orientation,
}

/// Names the image format of `bytes` from its magic bytes, without decoding.
///
/// Returns `"JPEG"` or `"PNG"` for the accepted formats and a display name
/// for the common refused ones (`"HEIC"`, `"AVIF"`, `"WebP"`, `"GIF"`,
/// `"TIFF"`, `"BMP"`, `"PDF"`, `"JPEG XL"`, `"JPEG 2000"`, `"MP4"`), or
/// `None` when nothing matches.
#[must_use]
pub fn sniff(bytes: &[u8]) -> Option<&'static str> {
    let starts = |magic: &[u8]| bytes.starts_with(magic);
    if starts(&[0xFF, 0xD8, 0xFF]) {
        return Some("JPEG");
    }
    if starts(b"\x89PNG\r\n\x1a\n") {
        return Some("PNG");
    }
    // ISO base media files (HEIF, AVIF, MP4) start with a box header
    // followed by `ftyp` and the major brand.
    if bytes.len() >= 12 && &bytes[4..8] == b"ftyp" {
        return Some(match &bytes[8..12] {
            b"heic" | b"heix" | b"hevc" | b"hevx" | b"heim" | b"heis" | b"hevm" | b"hevs" | b"mif1"
            | b"msf1" => "HEIC",
            b"avif" | b"avis" => "AVIF",
            _ => "MP4",
        });
    }
    if bytes.len() >= 12 && starts(b"RIFF") && &bytes[8..12] == b"WEBP" {
        return Some("WebP");
    }
    if starts(b"GIF87a") || starts(b"GIF89a") {
        return Some("GIF");
    }
    if starts(b"II*\0") || starts(b"MM\0*") {
        return Some("TIFF");
    }
    if starts(b"BM") {
        return Some("BMP");
    }
    if starts(b"%PDF-") {
        return Some("PDF");
    }
    if starts(&[0xFF, 0x0A]) || starts(b"\0\0\0\x0cJXL \r\n\x87\n") {
        return Some("JPEG XL");
    }
    if starts(b"\0\0\0\x0cjP  \r\n\x87\n") || starts(&[0xFF, 0x4F, 0xFF, 0x51]) {
        return Some("JPEG 2000");
    }
    None
}

/// Checks the length, the format and the header's dimensions of `bytes`
/// against `limits`, without decoding a pixel.
///
/// # Errors
///
/// [`ImageError::Empty`], [`ImageError::TooLarge`] and
/// [`ImageError::Unsupported`] from the length and the magic bytes;
/// [`ImageError::Corrupt`] when the header cannot be found;
/// [`ImageError::NoPixels`], [`ImageError::Dimensions`] and
/// [`ImageError::Pixels`] from the header's size.
pub fn read_header(bytes: &[u8], limits: &Limits) -> Result<Header, ImageError> {
    if bytes.is_empty() {
        return Err(ImageError::Empty);
    }
    let length = bytes.len() as u64;
    if length > limits.max_input_bytes {
        return Err(ImageError::TooLarge { bytes: length, max: limits.max_input_bytes });
    }
    let header = match sniff(bytes) {
        Some("JPEG") => jpeg_header(bytes)?,
        Some("PNG") => png_header(bytes)?,
        Some(format) => return Err(ImageError::Unsupported { format }),
        None => return Err(ImageError::Unsupported { format: "unknown" }),
    };
    limits.check_size(header.width, header.height)?;
    Ok(header)
}

/// Opens `bytes` as a JPEG or PNG within `limits`: [`read_header`], the
/// memory the pixels need, a truncated JPEG, then the `image` crate's
/// decoder under the same limits.
///
/// # Errors
///
/// Everything [`read_header`] refuses; [`ImageError::Memory`] when the
/// decoded pixels would not fit [`Limits::max_alloc`];
/// [`ImageError::Truncated`] for a JPEG with no end-of-image marker;
/// [`ImageError::Corrupt`] when the decoder fails or panics.
pub fn decode(bytes: &[u8], limits: &Limits) -> Result<Decoded, ImageError> {
    let header = read_header(bytes, limits)?;
    limits.check_memory(header.decoded_bytes)?;
    if header.format == Format::Jpeg && jpeg_is_truncated(bytes) {
        return Err(ImageError::Truncated { bytes: bytes.len() as u64 });
    }
    let format = header.format;
    let corrupt = |reason: String| ImageError::Corrupt { format: lowercase(format), reason };
    let memory = || ImageError::Memory {
        needed: header.decoded_bytes.max(limits.max_alloc.saturating_add(1)),
        max: limits.max_alloc,
    };
    let mut decoder_limits = image::Limits::default();
    decoder_limits.max_image_width = Some(limits.max_width);
    decoder_limits.max_image_height = Some(limits.max_height);
    decoder_limits.max_alloc = Some(limits.max_alloc);
    let mut reader = ImageReader::with_format(Cursor::new(bytes), format.image_format());
    reader.limits(decoder_limits);
    // Decoders are large parsers fed with outside bytes: a panic in one
    // refuses this image instead of taking the program down.
    catch_unwind(AssertUnwindSafe(|| {
        let mut decoder = reader.into_decoder()?;
        let orientation = decoder.orientation().unwrap_or(Orientation::NoTransforms);
        DynamicImage::from_decoder(decoder).map(|image| Decoded { image, orientation })
    }))
    .map_err(|_| corrupt("the decoder failed on malformed data".to_owned()))?
    .map_err(|e| match e {
        image::ImageError::Limits(_) => memory(),
        other => corrupt(lowercase_first(&other.to_string())),
    })
}

fn lowercase(format: Format) -> &'static str {
    match format {
        Format::Jpeg => "jpeg",
        Format::Png => "png",
    }
}

fn lowercase_first(message: &str) -> String {
    let mut chars = message.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// A PNG's IHDR sits at a fixed offset: its size, depth and colour type
/// give the decoded size exactly.
fn png_header(bytes: &[u8]) -> Result<Header, ImageError> {
    let ihdr = bytes.get(8..29).filter(|h| &h[4..8] == b"IHDR").ok_or_else(|| ImageError::Corrupt {
        format: "png",
        reason: "it does not start with an IHDR chunk".to_owned(),
    })?;
    let be32 = |b: &[u8]| u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
    let (width, height) = (be32(&ihdr[8..12]), be32(&ihdr[12..16]));
    let (bit_depth, color_type) = (ihdr[16], ihdr[17]);
    let samples: u64 = match color_type {
        0 => 1,
        4 => 2,
        2 => 3,
        // Palette images are expanded to RGBA by the decoder.
        _ => 4,
    };
    let bytes_per_sample = if bit_depth > 8 { 2 } else { 1 };
    // Two 32-bit sides can overflow 64 bits once samples are counted.
    let decoded_bytes = (u64::from(width) * u64::from(height)).saturating_mul(samples * bytes_per_sample);
    Ok(Header { format: Format::Png, width, height, decoded_bytes })
}

/// Walks a JPEG's marker segments up to its frame header (SOF), which holds
/// the size and the number of components; no entropy-coded data is read.
fn jpeg_header(bytes: &[u8]) -> Result<Header, ImageError> {
    let corrupt = |reason: &str| ImageError::Corrupt { format: "jpeg", reason: reason.to_owned() };
    let mut i = 2;
    loop {
        while bytes.get(i) == Some(&0xFF) && bytes.get(i + 1) == Some(&0xFF) {
            i += 1; // fill bytes
        }
        if bytes.get(i) != Some(&0xFF) || i + 1 >= bytes.len() {
            return Err(corrupt("it has no frame header"));
        }
        let marker = bytes[i + 1];
        i += 2;
        match marker {
            0x01 | 0xD0..=0xD8 => continue,
            0xD9 | 0xDA => return Err(corrupt("it has no frame header before its image data")),
            _ => {}
        }
        let length = bytes
            .get(i..i + 2)
            .map(|b| usize::from(u16::from_be_bytes([b[0], b[1]])))
            .filter(|length| *length >= 2)
            .ok_or_else(|| corrupt("a marker segment is cut short"))?;
        // SOF0..SOF15, leaving out DHT (C4), JPG (C8) and DAC (CC).
        if matches!(marker, 0xC0..=0xCF) && !matches!(marker, 0xC4 | 0xC8 | 0xCC) {
            let frame = bytes
                .get(i + 2..i + length)
                .filter(|f| f.len() >= 6)
                .ok_or_else(|| corrupt("its frame header is cut short"))?;
            let height = u32::from(u16::from_be_bytes([frame[1], frame[2]]));
            let width = u32::from(u16::from_be_bytes([frame[3], frame[4]]));
            let samples = u64::from(frame[5].max(1));
            let bytes_per_sample = if frame[0] > 8 { 2 } else { 1 };
            let decoded_bytes = u64::from(width) * u64::from(height) * samples * bytes_per_sample;
            return Ok(Header { format: Format::Jpeg, width, height, decoded_bytes });
        }
        i += length;
    }
}

/// Whether JPEG data stops before its end-of-image marker (a truncated
/// upload). The decoder would silently fill the missing part with grey.
fn jpeg_is_truncated(bytes: &[u8]) -> bool {
    let mut i = 2;
    // Header segments up to the first start-of-scan.
    loop {
        while i < bytes.len() && bytes[i] == 0xFF && bytes.get(i + 1) == Some(&0xFF) {
            i += 1; // fill bytes
        }
        if i + 1 >= bytes.len() || bytes[i] != 0xFF {
            return true;
        }
        let marker = bytes[i + 1];
        i += 2;
        match marker {
            0xD9 => return false,
            0x01 | 0xD0..=0xD7 => continue,
            _ => {}
        }
        if i + 1 >= bytes.len() {
            return true;
        }
        let length = usize::from(u16::from_be_bytes([bytes[i], bytes[i + 1]]));
        i += length;
        if marker == 0xDA {
            break;
        }
    }
    // Entropy-coded data stuffs every 0xFF with 0x00, so 0xFF 0xD9 can only
    // be the end-of-image marker.
    !bytes.get(i..).is_some_and(|rest| rest.windows(2).any(|w| w == [0xFF, 0xD9]))
}
