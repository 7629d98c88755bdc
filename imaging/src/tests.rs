//! The loading rule as a table: the inputs on which the four old loaders
//! (the phone's photo normalisation, the barcode reader's `load_gray`, the
//! office's thumbnails and the acceptance certificate's signature) gave
//! different answers, what each did, and the one answer kept.

use std::io::Cursor;

use image::{DynamicImage, GrayImage, ImageFormat, Luma, Rgb, RgbImage};
use rstest::rstest;

use super::*;

/// The limits the table is read against: the phone's photo limits, with
/// the barcode reader's pixel bound.
const LIMITS: Limits = Limits {
    max_input_bytes: 40 * 1024 * 1024,
    max_width: 12_000,
    max_height: 12_000,
    max_pixels: 100_000_000,
    max_alloc: 512 * 1024 * 1024,
};

fn jpeg(width: u32, height: u32) -> Vec<u8> {
    let image = RgbImage::from_fn(width, height, |x, y| Rgb([(x * 7) as u8, (y * 5) as u8, 90]));
    let mut out = Cursor::new(Vec::new());
    DynamicImage::ImageRgb8(image).write_to(&mut out, ImageFormat::Jpeg).expect("encodes");
    out.into_inner()
}

fn png(width: u32, height: u32) -> Vec<u8> {
    let image = GrayImage::from_fn(width, height, |x, y| Luma([((x + y) * 3) as u8]));
    let mut out = Cursor::new(Vec::new());
    DynamicImage::ImageLuma8(image).write_to(&mut out, ImageFormat::Png).expect("encodes");
    out.into_inner()
}

fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &b in bytes {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 { (crc >> 1) ^ 0xEDB8_8320 } else { crc >> 1 };
        }
    }
    !crc
}

/// A PNG whose IHDR says what it is told, with an empty IDAT: its pixels
/// cannot be decoded, so only a refusal from the header ends well.
fn png_header_only(width: u32, height: u32, bit_depth: u8, color_type: u8) -> Vec<u8> {
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut ihdr = b"IHDR".to_vec();
    ihdr.extend_from_slice(&width.to_be_bytes());
    ihdr.extend_from_slice(&height.to_be_bytes());
    ihdr.extend_from_slice(&[bit_depth, color_type, 0, 0, 0]);
    out.extend_from_slice(&13u32.to_be_bytes());
    out.extend_from_slice(&ihdr);
    out.extend_from_slice(&crc32(&ihdr).to_be_bytes());
    for chunk in [&b"IDAT"[..], &b"IEND"[..]] {
        out.extend_from_slice(&0u32.to_be_bytes());
        out.extend_from_slice(chunk);
        out.extend_from_slice(&crc32(chunk).to_be_bytes());
    }
    out
}

/// A real JPEG whose frame header is rewritten to claim another size.
fn jpeg_claiming(width: u16, height: u16) -> Vec<u8> {
    let mut bytes = jpeg(64, 48);
    let sof = bytes.windows(2).position(|w| w == [0xFF, 0xC0]).expect("a baseline frame header");
    bytes[sof + 5..sof + 7].copy_from_slice(&height.to_be_bytes());
    bytes[sof + 7..sof + 9].copy_from_slice(&width.to_be_bytes());
    bytes
}

/// The smallest GIF: one white pixel.
const GIF: &[u8] = b"GIF89a\x01\x00\x01\x00\x80\x00\x00\xff\xff\xff\x00\x00\x00!\xf9\x04\x01\x00\x00\x00\x00,\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;";

fn bmp() -> Vec<u8> {
    // A 1x1 24-bit BMP: file header, BITMAPINFOHEADER, one padded row.
    let mut out = b"BM".to_vec();
    out.extend_from_slice(&58u32.to_le_bytes());
    out.extend_from_slice(&[0, 0, 0, 0]);
    out.extend_from_slice(&54u32.to_le_bytes());
    out.extend_from_slice(&40u32.to_le_bytes());
    out.extend_from_slice(&1i32.to_le_bytes());
    out.extend_from_slice(&1i32.to_le_bytes());
    out.extend_from_slice(&1u16.to_le_bytes());
    out.extend_from_slice(&24u16.to_le_bytes());
    out.extend_from_slice(&[0; 24]);
    out.extend_from_slice(&[255, 255, 255, 0]);
    out
}

/// What the one rule answers: the size decoded, or the refusal.
type Answer = Result<(u32, u32), ImageError>;

fn corrupt(format: &'static str, reason: &str) -> Answer {
    Err(ImageError::Corrupt { format, reason: reason.to_owned() })
}

#[rstest]
// Photo, barcode, thumbnails and certificate all decoded these; they stay.
#[case::a_jpeg_opens(jpeg(64, 48), LIMITS, Ok((64, 48)))]
#[case::a_png_opens(png(50, 30), LIMITS, Ok((50, 30)))]
// The barcode reader opened GIF, BMP and WebP label photos (the barcode
// library builds the image crate with every decoder); the photo refused
// them; the thumbnails and the certificate opened them or not depending on
// whether the server was built alone or with the phone's crates (cargo
// unifies the image crate's features). Refused everywhere now, by name.
#[case::a_gif_is_refused_by_name(GIF.to_vec(), LIMITS, Err(ImageError::Unsupported { format: "GIF" }))]
#[case::a_bmp_is_refused_by_name(bmp(), LIMITS, Err(ImageError::Unsupported { format: "BMP" }))]
#[case::a_webp_is_refused_by_name(b"RIFF\x24\0\0\0WEBPVP8 ".to_vec(), LIMITS, Err(ImageError::Unsupported { format: "WebP" }))]
#[case::a_heic_is_refused_by_name(b"\0\0\0\x18ftypheic\0\0\0\0mif1heic".to_vec(), LIMITS, Err(ImageError::Unsupported { format: "HEIC" }))]
#[case::text_is_an_unknown_format(b"SN: N9100001234567".to_vec(), LIMITS, Err(ImageError::Unsupported { format: "unknown" }))]
// A 20000x20000 header: the photo refused it (sides over 12000), the
// barcode reader too (pixels over 100 million), the thumbnails by the
// decoder's own limits; the certificate had no limit of its own (the
// image crate's default 512 MiB lets a 400 MB grey image through) and began
// to decode it. Refused from the header everywhere.
#[case::a_20000_square_png_header_is_refused_before_decoding(
    png_header_only(20_000, 20_000, 8, 0), LIMITS,
    Err(ImageError::Dimensions { width: 20_000, height: 20_000, max_width: 12_000, max_height: 12_000 }))]
#[case::a_20000_square_jpeg_header_is_refused_before_decoding(
    jpeg_claiming(20_000, 20_000), LIMITS,
    Err(ImageError::Dimensions { width: 20_000, height: 20_000, max_width: 12_000, max_height: 12_000 }))]
// Within both sides but over the pixel count: only the barcode reader
// bounded the product; every caller has a pixel bound now.
#[case::sides_within_limits_but_too_many_pixels(
    png_header_only(11_000, 11_000, 8, 0), LIMITS,
    Err(ImageError::Pixels { width: 11_000, height: 11_000, max: 100_000_000 }))]
// Sixteen-bit RGBA at 11000x9000 needs 792 million bytes: the photo
// refused it from the header, the others left it to the decoder.
#[case::a_header_whose_pixels_need_too_much_memory(
    png_header_only(11_000, 9_000, 16, 6), LIMITS,
    Err(ImageError::Memory { needed: 11_000 * 9_000 * 8, max: 512 * 1024 * 1024 }))]
// A cut JPEG: the photo's decoder failed on it, the barcode reader looked
// for the end marker and refused it, the thumbnails and the certificate
// decoded it with the missing half painted grey. Refused everywhere.
#[case::a_truncated_jpeg_is_refused(truncate(jpeg(320, 240), 2), LIMITS, Err(ImageError::Truncated { bytes: jpeg(320, 240).len() as u64 / 2 }))]
#[case::a_jpeg_cut_inside_its_first_segment_is_corrupt(jpeg(320, 240)[..5].to_vec(), LIMITS, corrupt("jpeg", "a marker segment is cut short"))]
#[case::a_truncated_png_is_corrupt(truncate(png(300, 200), 2), LIMITS, Err(ImageError::Corrupt { format: "png", reason: String::new() }))]
// A PNG signature over a JPEG body: refused by all, in four wordings; now
// one, from the header.
#[case::a_png_signature_with_a_jpeg_body_is_corrupt(
    [&b"\x89PNG\r\n\x1a\n"[..], &jpeg(64, 48)[..]].concat(), LIMITS,
    corrupt("png", "it does not start with an IHDR chunk"))]
#[case::jpeg_magic_over_noise_is_corrupt(
    [&[0xFF, 0xD8, 0xFF][..], &[0x13; 64][..]].concat(), LIMITS,
    corrupt("jpeg", "it has no frame header"))]
// A zero-size header: "corrupt" to the photo, "no pixels" to the barcode
// reader, a decoder error (no thumbnail) to the office. One answer, with
// the size.
#[case::a_zero_width_png_has_no_pixels(png_header_only(0, 10, 8, 0), LIMITS, Err(ImageError::NoPixels { width: 0, height: 10 }))]
#[case::a_zero_height_jpeg_has_no_pixels(jpeg_claiming(64, 0), LIMITS, Err(ImageError::NoPixels { width: 64, height: 0 }))]
// Empty and oversized files: the photo named them, the barcode reader
// named the empty one only, the server's loaders said nothing.
#[case::an_empty_file_is_refused(Vec::new(), LIMITS, Err(ImageError::Empty))]
#[case::a_file_over_the_byte_limit_is_refused_unread(
    jpeg(64, 48), Limits { max_input_bytes: 100, ..LIMITS },
    Err(ImageError::TooLarge { bytes: jpeg(64, 48).len() as u64, max: 100 }))]
fn every_loader_gives_the_one_answer(
    #[case] bytes: Vec<u8>,
    #[case] limits: Limits,
    #[case] expected: Answer,
) {
    let answer = decode(&bytes, &limits).map(|d| (d.image.width(), d.image.height()));
    match (&answer, &expected) {
        // A decoder's own words are not pinned, only the format and that
        // it says something.
        (
            Err(ImageError::Corrupt { format, reason }),
            Err(ImageError::Corrupt { format: want, reason: empty }),
        ) if empty.is_empty() => {
            assert_eq!(format, want);
            assert!(!reason.is_empty());
        }
        _ => assert_eq!(answer, expected),
    }
    if let Err(error) = answer {
        let message = error.to_string();
        assert!(message.starts_with(|c: char| c.is_lowercase()), "{message}");
        assert!(!message.ends_with('.'), "{message}");
    }
}

fn truncate(mut bytes: Vec<u8>, fraction: usize) -> Vec<u8> {
    bytes.truncate(bytes.len() / fraction);
    bytes
}

#[test]
fn the_header_is_read_without_decoding_and_gives_the_decoded_size() {
    let header = read_header(&png_header_only(4_000, 3_000, 8, 2), &LIMITS).expect("within the limits");
    assert_eq!(
        header,
        Header { format: Format::Png, width: 4_000, height: 3_000, decoded_bytes: 36_000_000 }
    );
    let header = read_header(&jpeg(64, 48), &LIMITS).expect("within the limits");
    assert_eq!(header, Header { format: Format::Jpeg, width: 64, height: 48, decoded_bytes: 64 * 48 * 3 });
}

#[rstest]
#[case::dimensions(
    ImageError::Dimensions { width: 20_000, height: 20_000, max_width: 12_000, max_height: 12_000 },
    "the image is 20000x20000 pixels, more than the limit of 12000x12000")]
#[case::unsupported(ImageError::Unsupported { format: "GIF" }, "unsupported image format GIF: only jpeg and png are accepted")]
#[case::no_pixels(ImageError::NoPixels { width: 0, height: 10 }, "the image header gives an empty size 0x10")]
#[case::truncated(ImageError::Truncated { bytes: 1234 }, "the jpeg data is truncated: 1234 bytes and no end-of-image marker")]
fn messages_name_the_refused_value(#[case] error: ImageError, #[case] message: &str) {
    assert_eq!(error.to_string(), message);
}
