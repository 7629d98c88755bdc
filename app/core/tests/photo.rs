//! Properties of document-photo normalization, on fixtures generated here
//! (no binary images are committed).

use std::time::{Duration, Instant};

use image::codecs::jpeg::JpegEncoder;
use image::{ImageEncoder, Rgb, RgbImage};
use posfield_core::photo::{
    CaptureTime, JPEG_QUALITY, MAX_LONG_SIDE, NormalizedPhoto, OUTPUT_MIME, PhotoEdit, PhotoError,
    PhotoLimits, PhotoStamp, normalize_photo, normalize_photo_stamped, sniff_format,
};
use rstest::rstest;
use sha2::{Digest, Sha256};

// ---------------------------------------------------------------- fixtures

/// A deterministic image with what makes photos hard to compress: smooth
/// gradients (paper under uneven light), sensor noise and sharp dark
/// strokes (print).
fn photo_like(width: u32, height: u32) -> RgbImage {
    let mut seed: u32 = 0x1234_5678;
    let mut noise = move || {
        seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
        (seed >> 24) as i32 % 17 - 8
    };
    RgbImage::from_fn(width, height, |x, y| {
        let base = [
            150 + (x * 80 / width) as i32,
            140 + (y * 90 / height) as i32,
            120 + ((x + y) * 60 / (width + height)) as i32,
        ];
        let stroke = (y / 12) % 4 == 0 && (x / 7) % 5 != 0 && (x * 3 + y) % 97 > 20;
        let px = base.map(|c| {
            let c = if stroke { c - 110 } else { c };
            (c + noise()).clamp(0, 255) as u8
        });
        Rgb(px)
    })
}

fn encode_jpeg(image: &RgbImage, quality: u8) -> Vec<u8> {
    let mut out = Vec::new();
    JpegEncoder::new_with_quality(&mut out, quality)
        .write_image(image.as_raw(), image.width(), image.height(), image::ExtendedColorType::Rgb8)
        .unwrap();
    out
}

fn encode_png(image: &image::DynamicImage) -> Vec<u8> {
    let mut out = Vec::new();
    image.write_to(&mut std::io::Cursor::new(&mut out), image::ImageFormat::Png).unwrap();
    out
}

/// One TIFF directory entry; `data` is the value's bytes (little-endian).
struct Entry {
    tag: u16,
    kind: u16,
    count: u32,
    data: Vec<u8>,
}

fn ascii(tag: u16, text: &str) -> Entry {
    let mut data = text.as_bytes().to_vec();
    data.push(0);
    Entry { tag, kind: 2, count: data.len() as u32, data }
}

fn long(tag: u16, value: u32) -> Entry {
    Entry { tag, kind: 4, count: 1, data: value.to_le_bytes().to_vec() }
}

/// Lays out one IFD at `start`, values over 4 bytes right after it.
fn ifd(entries: &[Entry], start: u32) -> Vec<u8> {
    let table_len = 2 + 12 * entries.len() as u32 + 4;
    let mut table = (entries.len() as u16).to_le_bytes().to_vec();
    let mut extra = Vec::new();
    for e in entries {
        table.extend(e.tag.to_le_bytes());
        table.extend(e.kind.to_le_bytes());
        table.extend(e.count.to_le_bytes());
        if e.data.len() <= 4 {
            let mut inline = e.data.clone();
            inline.resize(4, 0);
            table.extend(inline);
        } else {
            table.extend((start + table_len + extra.len() as u32).to_le_bytes());
            extra.extend(&e.data);
            if extra.len() % 2 == 1 {
                extra.push(0);
            }
        }
    }
    table.extend(0u32.to_le_bytes()); // no next IFD
    table.extend(extra);
    table
}

/// A minimal little-endian EXIF TIFF block: IFD0 with Orientation and
/// pointers to an Exif IFD (DateTimeOriginal, OffsetTimeOriginal) and a
/// GPS IFD (a latitude that must never leave the phone).
fn exif_tiff(orientation: Option<u16>, taken: Option<&str>, offset: Option<&str>) -> Vec<u8> {
    let mut exif_entries = Vec::new();
    if let Some(taken) = taken {
        exif_entries.push(ascii(0x9003, taken));
    }
    if let Some(offset) = offset {
        exif_entries.push(ascii(0x9011, offset));
    }
    let mut latitude = Vec::new();
    for (num, den) in [(22u32, 1u32), (32, 1), (1234, 100)] {
        latitude.extend(num.to_le_bytes());
        latitude.extend(den.to_le_bytes());
    }
    let gps_entries = [
        Entry { tag: 0x0000, kind: 1, count: 4, data: vec![2, 2, 0, 0] },
        ascii(0x0001, "N"),
        Entry { tag: 0x0002, kind: 5, count: 3, data: latitude },
    ];
    let ifd0 = |exif_at: u32, gps_at: u32| {
        let mut entries = Vec::new();
        if let Some(o) = orientation {
            entries.push(Entry { tag: 0x0112, kind: 3, count: 1, data: o.to_le_bytes().to_vec() });
        }
        entries.push(long(0x8769, exif_at));
        entries.push(long(0x8825, gps_at));
        ifd(&entries, 8)
    };
    let ifd0_len = ifd0(0, 0).len() as u32;
    let exif_at = 8 + ifd0_len;
    let exif = ifd(&exif_entries, exif_at);
    let gps_at = exif_at + exif.len() as u32;
    let mut tiff = b"II*\0".to_vec();
    tiff.extend(8u32.to_le_bytes());
    tiff.extend(ifd0(exif_at, gps_at));
    tiff.extend(exif);
    tiff.extend(ifd(&gps_entries, gps_at));
    tiff
}

/// Inserts an APP1 Exif segment right after SOI, where cameras put it.
fn with_exif(jpeg: &[u8], tiff: &[u8]) -> Vec<u8> {
    let mut out = jpeg[..2].to_vec();
    out.extend([0xFF, 0xE1]);
    out.extend(((2 + 6 + tiff.len()) as u16).to_be_bytes());
    out.extend(b"Exif\0\0");
    out.extend(tiff);
    out.extend(&jpeg[2..]);
    out
}

fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in bytes {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 { (crc >> 1) ^ 0xEDB8_8320 } else { crc >> 1 };
        }
    }
    !crc
}

/// A PNG that is nothing but a (valid) header claiming a huge RGB image.
fn png_bomb(width: u32, height: u32) -> Vec<u8> {
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut chunk = b"IHDR".to_vec();
    chunk.extend(width.to_be_bytes());
    chunk.extend(height.to_be_bytes());
    chunk.extend([8, 2, 0, 0, 0]); // 8-bit RGB, deflate, no interlace
    png.extend(13u32.to_be_bytes());
    png.extend(&chunk);
    png.extend(crc32(&chunk).to_be_bytes());
    let idat = b"IDAT\x78\x9c\x03\x00\x00\x00\x00\x01";
    png.extend(((idat.len() - 4) as u32).to_be_bytes());
    png.extend(idat);
    png.extend(crc32(idat).to_be_bytes());
    png
}

/// Markers of a JPEG's segments in order, skipping entropy-coded data.
fn markers(jpeg: &[u8]) -> Vec<u8> {
    let mut found = vec![];
    let mut i = 0;
    while i + 1 < jpeg.len() {
        assert_eq!(jpeg[i], 0xFF, "segment start at {i}");
        let marker = jpeg[i + 1];
        found.push(marker);
        i += 2;
        if marker == 0xD8 || marker == 0xD9 {
            continue;
        }
        let len = u16::from_be_bytes([jpeg[i], jpeg[i + 1]]) as usize;
        if marker == 0xE0 {
            assert_eq!(&jpeg[i + 2..i + 7], b"JFIF\0", "APP0 must be JFIF");
        }
        i += len;
        if marker == 0xDA {
            // Entropy data ends at the first marker that is not a stuffed
            // zero or a restart marker.
            while !(jpeg[i] == 0xFF && jpeg[i + 1] != 0 && !(0xD0..=0xD7).contains(&jpeg[i + 1])) {
                i += 1;
            }
        }
    }
    found
}

fn normalize(input: &[u8]) -> Result<NormalizedPhoto, PhotoError> {
    normalize_photo(input, &PhotoLimits::default())
}

fn decode(photo: &NormalizedPhoto) -> RgbImage {
    image::load_from_memory(&photo.jpeg).unwrap().into_rgb8()
}

// --------------------------------------------------------------- properties

#[rstest]
#[case::landscape_12mp(4000, 3000, 1600, 1200)]
#[case::portrait_phone(3024, 4032, 1200, 1600)]
#[case::odd_scale(2500, 1000, 1600, 640)]
#[case::exactly_max(1600, 900, 1600, 900)]
#[case::small_not_upscaled(640, 480, 640, 480)]
fn jpeg_long_side_is_capped_and_never_enlarged(
    #[case] width: u32,
    #[case] height: u32,
    #[case] out_w: u32,
    #[case] out_h: u32,
) {
    let input = encode_jpeg(&photo_like(width, height), 90);
    let photo = normalize(&input).unwrap();
    assert_eq!((photo.width, photo.height), (out_w, out_h));
    assert!(photo.width.max(photo.height) <= MAX_LONG_SIDE);
    assert_eq!(photo.mime, OUTPUT_MIME);
    let decoded = decode(&photo);
    assert_eq!(decoded.dimensions(), (out_w, out_h));
}

#[rstest]
#[case::rgb(image::DynamicImage::ImageRgb8(photo_like(2000, 1000)), 1600, 800)]
#[case::rgba(image::DynamicImage::ImageRgba8(image::RgbaImage::from_pixel(300, 200, image::Rgba([0, 0, 0, 0]))), 300, 200)]
#[case::gray16(image::DynamicImage::ImageLuma16(image::ImageBuffer::from_pixel(100, 50, image::Luma([40_000u16]))), 100, 50)]
fn png_input_is_reencoded_as_jpeg(
    #[case] image: image::DynamicImage,
    #[case] out_w: u32,
    #[case] out_h: u32,
) {
    let photo = normalize(&encode_png(&image)).unwrap();
    assert_eq!((photo.width, photo.height), (out_w, out_h));
    assert_eq!(sniff_format(&photo.jpeg), Some("JPEG"));
    assert_eq!(photo.taken_at, None);
}

#[test]
fn transparent_png_is_laid_on_white() {
    let clear = image::RgbaImage::from_pixel(64, 64, image::Rgba([0, 0, 0, 0]));
    let photo = normalize(&encode_png(&image::DynamicImage::ImageRgba8(clear))).unwrap();
    let px = decode(&photo).get_pixel(32, 32).0;
    assert!(px.iter().all(|&c| c > 245), "{px:?}");
}

/// Grey scans have no chroma detail at all; the output must still decode
/// to the right colours with the `image` crate's own decoder.
#[test]
fn grey_rgb_image_keeps_its_colours() {
    let grey = RgbImage::from_fn(64, 64, |x, _| Rgb([(x * 3) as u8; 3]));
    let photo = normalize(&encode_png(&image::DynamicImage::ImageRgb8(grey))).unwrap();
    let px = decode(&photo).get_pixel(32, 32).0;
    assert!(px.iter().all(|&c| c.abs_diff(96) <= 6), "{px:?}");
}

fn is_red(px: Rgb<u8>) -> bool {
    px[0] > 180 && px[1] < 90 && px[2] < 90
}

/// Every EXIF orientation is baked into the pixels: a red block in the
/// stored top-left corner ends where a viewer would show it.
#[rstest]
#[case::normal(1, (400, 300), "top-left")]
#[case::mirror(2, (400, 300), "top-right")]
#[case::rotate_180(3, (400, 300), "bottom-right")]
#[case::flip(4, (400, 300), "bottom-left")]
#[case::transpose(5, (300, 400), "top-left")]
#[case::rotate_90_cw(6, (300, 400), "top-right")]
#[case::transverse(7, (300, 400), "bottom-right")]
#[case::rotate_270_cw(8, (300, 400), "bottom-left")]
fn exif_orientation_is_applied(#[case] orientation: u16, #[case] size: (u32, u32), #[case] red_corner: &str) {
    let stored =
        RgbImage::from_fn(
            400,
            300,
            |x, y| {
                if x < 80 && y < 80 { Rgb([255, 0, 0]) } else { Rgb([40, 90, 200]) }
            },
        );
    let input = with_exif(&encode_jpeg(&stored, 95), &exif_tiff(Some(orientation), None, None));
    let photo = normalize(&input).unwrap();
    assert_eq!((photo.width, photo.height), size);
    let out = decode(&photo);
    let (w, h) = size;
    let corners = [
        ("top-left", 20, 20),
        ("top-right", w - 21, 20),
        ("bottom-left", 20, h - 21),
        ("bottom-right", w - 21, h - 21),
    ];
    for (name, x, y) in corners {
        let px = *out.get_pixel(x, y);
        assert_eq!(is_red(px), name == red_corner, "{name} is {px:?}");
    }
}

#[test]
fn metadata_is_stripped_but_capture_time_kept() {
    let tiff = exif_tiff(Some(1), Some("2024:03:05 14:30:15"), Some("+07:00"));
    let input = with_exif(&encode_jpeg(&photo_like(800, 600), 90), &tiff);
    // The fixture itself must carry the GPS data we expect to drop.
    let original = exif::Reader::new().read_from_container(&mut std::io::Cursor::new(&input)).unwrap();
    assert!(original.get_field(exif::Tag::GPSLatitude, exif::In::PRIMARY).is_some());

    let photo = normalize(&input).unwrap();
    let taken = photo.taken_at.unwrap();
    assert_eq!(taken.to_string(), "2024-03-05T14:30:15+07:00");
    // 2024-03-05T07:30:15Z
    assert_eq!(photo.taken_at_millis, Some(1_709_623_815_000));

    let found = markers(&photo.jpeg);
    let allowed = [0xD8, 0xE0, 0xDB, 0xC0, 0xC2, 0xC4, 0xDD, 0xDA, 0xD9];
    assert!(found.iter().all(|m| allowed.contains(m)), "unexpected markers {found:02X?}");
    assert_eq!(found.first(), Some(&0xD8));
    assert_eq!(found.last(), Some(&0xD9));
    assert!(exif::Reader::new().read_from_container(&mut std::io::Cursor::new(&photo.jpeg)).is_err());
    assert!(!photo.jpeg.windows(4).any(|w| w == b"Exif"));
}

#[rstest]
#[case::no_offset_assumes_china_time(
    Some("2024:03:05 14:30:15"),
    None,
    Some("2024-03-05T14:30:15"),
    Some(1_709_620_215_000)
)]
#[case::negative_offset(
    Some("2023:12:31 23:59:59"),
    Some("-05:00"),
    Some("2023-12-31T23:59:59-05:00"),
    Some(1_704_085_199_000)
)]
#[case::unset_camera_clock(Some("0000:00:00 00:00:00"), None, None, None)]
#[case::blank(Some("    :  :     :  :  "), None, None, None)]
#[case::no_date(None, None, None, None)]
fn capture_time_comes_from_exif(
    #[case] taken: Option<&str>,
    #[case] offset: Option<&str>,
    #[case] shown: Option<&str>,
    #[case] millis: Option<i64>,
) {
    let input = with_exif(&encode_jpeg(&photo_like(64, 48), 90), &exif_tiff(None, taken, offset));
    let photo = normalize(&input).unwrap();
    assert_eq!(photo.taken_at.map(|t| t.to_string()).as_deref(), shown);
    assert_eq!(photo.taken_at_millis, millis);
}

#[test]
fn capture_time_displays_as_documented() {
    let t = CaptureTime {
        year: 2024,
        month: 1,
        day: 2,
        hour: 3,
        minute: 4,
        second: 5,
        offset_minutes: Some(8 * 60),
    };
    assert_eq!(t.to_string(), "2024-01-02T03:04:05+08:00");
    // With the assumed offset the instant is the same.
    let assumed = CaptureTime { offset_minutes: None, ..t };
    assert_eq!(assumed.unix_millis(), t.unix_millis());
}

#[test]
fn output_is_deterministic_and_hashed() {
    let input = encode_jpeg(&photo_like(2400, 1800), 90);
    let a = normalize(&input).unwrap();
    let b = normalize(&input).unwrap();
    assert_eq!(a.sha256, b.sha256);
    assert_eq!(a.jpeg, b.jpeg);
    assert_eq!(a.sha256, hex::encode(Sha256::digest(&a.jpeg)));
    assert_eq!(a.sha256.len(), 64);
    assert!(a.sha256.chars().all(|c| matches!(c, '0'..='9' | 'a'..='f')));
}

// ----------------------------------------------------------- the evidence stamp

fn stamped(input: &[u8], fallback_millis: i64) -> NormalizedPhoto {
    let font = posfield_core::stamp::StampFont::system().expect("a CJK font (fonts-wqy-microhei)");
    let stamp =
        PhotoStamp {
            font, fallback_millis, lines: vec!["老王便利店".into(), "SN N9100001234567".into()]
        };
    normalize_photo_stamped(input, &PhotoLimits::default(), &PhotoEdit::default(), Some(&stamp)).unwrap()
}

/// Mean brightness of rows `rows` of an image.
fn brightness(image: &RgbImage, rows: std::ops::Range<u32>) -> f64 {
    let (mut sum, mut n) = (0u64, 0u64);
    for y in rows {
        for x in 0..image.width() {
            sum += image.get_pixel(x, y).0.iter().map(|&c| u64::from(c)).sum::<u64>();
            n += 3;
        }
    }
    sum as f64 / n as f64
}

#[test]
fn a_stamp_is_drawn_into_the_foot_and_is_part_of_the_hash() {
    let input = encode_jpeg(&photo_like(2400, 1800), 90);
    let plain = normalize(&input).unwrap();
    let stamp = stamped(&input, 1_795_000_000_000);
    assert_ne!(plain.sha256, stamp.sha256, "the stored bytes are the stamped photo's");
    assert_eq!((stamp.width, stamp.height), (plain.width, plain.height));
    let (a, b) = (decode(&plain), decode(&stamp));
    let h = a.height();
    assert!(
        (brightness(&a, 0..h / 2) - brightness(&b, 0..h / 2)).abs() < 1.0,
        "the top is the photo as it was"
    );
    assert!(brightness(&b, h - 40..h) < brightness(&a, h - 40..h) * 0.8, "the foot is the stamp's band");
    assert_eq!(stamp.sha256, stamped(&input, 1_795_000_000_000).sha256, "stamping is deterministic");
}

#[test]
fn the_stamp_tells_the_cameras_time_when_it_has_one() {
    // No capture time: the time of keeping it is stamped, so another time draws another photo.
    let bare = encode_jpeg(&photo_like(1600, 1200), 90);
    assert_ne!(stamped(&bare, 1_795_000_000_000).sha256, stamped(&bare, 1_795_003_600_000).sha256);
    // A capture time in the EXIF is the one stamped, whenever the photo is kept.
    let dated = with_exif(&bare, &exif_tiff(None, Some("2026:11:20 09:15:00"), Some("+08:00")));
    assert_eq!(stamped(&dated, 1_795_000_000_000).sha256, stamped(&dated, 1_795_003_600_000).sha256);
}

// ----------------------------------------------------------- refusals

#[test]
fn png_bomb_is_refused_from_the_header() {
    let started = Instant::now();
    let err = normalize(&png_bomb(60_000, 60_000)).unwrap_err();
    assert_eq!(err, PhotoError::Dimensions { width: 60_000, height: 60_000, max_w: 12_000, max_h: 12_000 });
    assert!(err.to_string().contains("60000x60000"), "{err}");
    assert!(started.elapsed() < Duration::from_secs(1));
}

#[test]
fn png_bomb_within_dimension_limits_is_refused_by_memory_limit() {
    let limits = PhotoLimits { max_width: 100_000, max_height: 100_000, ..PhotoLimits::default() };
    let started = Instant::now();
    let err = normalize_photo(&png_bomb(60_000, 60_000), &limits).unwrap_err();
    assert_eq!(err, PhotoError::Memory { needed: 60_000 * 60_000 * 3, max: 512 * 1024 * 1024 });
    assert!(started.elapsed() < Duration::from_secs(1));
}

#[test]
fn jpeg_header_claiming_huge_size_is_refused() {
    let mut jpeg = encode_jpeg(&photo_like(64, 48), 90);
    let sof = jpeg.windows(2).position(|w| w == [0xFF, 0xC0]).unwrap();
    jpeg[sof + 5..sof + 7].copy_from_slice(&60_000u16.to_be_bytes());
    jpeg[sof + 7..sof + 9].copy_from_slice(&60_000u16.to_be_bytes());
    let started = Instant::now();
    assert!(matches!(normalize(&jpeg), Err(PhotoError::Dimensions { width: 60_000, height: 60_000, .. })));
    assert!(started.elapsed() < Duration::from_secs(1));
}

#[rstest]
#[case::half(2)]
#[case::headers_only(8)]
fn truncated_jpeg_is_corrupt(#[case] keep_fraction: usize) {
    let jpeg = encode_jpeg(&photo_like(800, 600), 90);
    let truncated = &jpeg[..jpeg.len() / keep_fraction];
    assert!(
        matches!(normalize(truncated), Err(PhotoError::Corrupt { .. })),
        "{:?}",
        normalize(truncated).map(|p| (p.width, p.height))
    );
}

#[test]
fn truncated_png_is_corrupt() {
    let png = encode_png(&image::DynamicImage::ImageRgb8(photo_like(300, 200)));
    let err = normalize(&png[..png.len() / 2]).unwrap_err();
    assert!(matches!(err, PhotoError::Corrupt { .. }), "{err:?}");
    assert!(err.to_string().starts_with("photo is corrupt: "), "{err}");
}

#[rstest]
#[case::heic(b"\0\0\0\x18ftypheic\0\0\0\0mif1heic".as_slice(), "HEIC")]
#[case::heix(b"\0\0\0\x18ftypheix\0\0\0\0mif1heix".as_slice(), "HEIC")]
#[case::mif1(b"\0\0\0\x18ftypmif1\0\0\0\0mif1heic".as_slice(), "HEIC")]
#[case::hevc(b"\0\0\0\x18ftyphevc\0\0\0\0msf1hevc".as_slice(), "HEIC")]
#[case::avif(b"\0\0\0\x1cftypavif\0\0\0\0avifmif1miaf".as_slice(), "AVIF")]
#[case::webp(b"RIFF\x24\0\0\0WEBPVP8 ".as_slice(), "WebP")]
#[case::gif(b"GIF89a\x01\0\x01\0".as_slice(), "GIF")]
#[case::tiff_le(b"II*\0\x08\0\0\0".as_slice(), "TIFF")]
#[case::tiff_be(b"MM\0*\0\0\0\x08".as_slice(), "TIFF")]
#[case::bmp(b"BM\x36\0\0\0\0\0".as_slice(), "BMP")]
#[case::pdf(b"%PDF-1.7\n".as_slice(), "PDF")]
#[case::unknown(b"hello, this is not a photo".as_slice(), "unknown")]
fn unsupported_formats_are_named(#[case] bytes: &[u8], #[case] format: &'static str) {
    let err = normalize(bytes).unwrap_err();
    assert_eq!(err, PhotoError::Unsupported { format });
    assert_eq!(
        err.to_string(),
        format!(
            "unsupported photo format {format}: take the photo as JPEG (camera setting 'most compatible')"
        )
    );
}

#[rstest]
#[case::jpeg(&[0xFF, 0xD8, 0xFF, 0xE0], Some("JPEG"))]
#[case::png(b"\x89PNG\r\n\x1a\n", Some("PNG"))]
#[case::too_short(&[0xFF, 0xD8], None)]
#[case::empty(&[], None)]
fn sniffing_uses_magic_bytes(#[case] bytes: &[u8], #[case] expected: Option<&str>) {
    assert_eq!(sniff_format(bytes), expected);
}

#[rstest]
#[case::plain(0)]
#[case::after_jpeg_magic(1)]
fn random_bytes_are_refused(#[case] variant: u8) {
    let mut seed = 0x9E37_79B9u32;
    let mut bytes: Vec<u8> = (0..4096)
        .map(|_| {
            seed ^= seed << 13;
            seed ^= seed >> 17;
            seed ^= seed << 5;
            seed as u8
        })
        .collect();
    if variant == 1 {
        bytes[..3].copy_from_slice(&[0xFF, 0xD8, 0xFF]);
    }
    let err = normalize(&bytes).unwrap_err();
    assert!(
        matches!(err, PhotoError::Unsupported { format: "unknown" } | PhotoError::Corrupt { .. }),
        "{err:?}"
    );
}

#[test]
fn empty_input_is_refused() {
    assert_eq!(normalize(&[]), Err(PhotoError::Empty));
}

#[test]
fn fifty_megabyte_input_is_refused_without_decoding() {
    // Valid JPEG magic so only the size check can refuse it.
    let mut big = vec![0u8; 50 * 1024 * 1024];
    big[..3].copy_from_slice(&[0xFF, 0xD8, 0xFF]);
    let started = Instant::now();
    assert_eq!(normalize(&big), Err(PhotoError::TooLarge { bytes: 50 * 1024 * 1024, max: 40 * 1024 * 1024 }));
    assert!(started.elapsed() < Duration::from_millis(100));
}

#[test]
fn quality_constant_is_eighty() {
    assert_eq!(JPEG_QUALITY, 80);
}

/// Not a correctness test: prints how long a 12 MP phone photo takes.
/// Run with `cargo test --release -p posfield-core --test photo -- --ignored --nocapture`.
#[test]
#[ignore = "timing, run by hand in release"]
fn timing_12mp_phone_photo() {
    let input = encode_jpeg(&photo_like(4032, 3024), 92);
    let mut runs: Vec<Duration> = (0..7)
        .map(|_| {
            let started = Instant::now();
            let photo = normalize(&input).unwrap();
            assert_eq!((photo.width, photo.height), (1600, 1200));
            started.elapsed()
        })
        .collect();
    runs.sort();
    let photo = normalize(&input).unwrap();
    eprintln!(
        "4032x3024 ({} KB in) -> 1600x1200 ({} KB out): min {:?}, median {:?}",
        input.len() / 1024,
        photo.jpeg.len() / 1024,
        runs[0],
        runs[3]
    );
}
