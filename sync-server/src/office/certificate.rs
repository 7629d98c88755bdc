//! The acceptance certificate (验收单) of a visit as a PDF: the summary the
//! merchant signed, whether the signature still matches it, the signature
//! image and the list of document photos.
//!
//! Written with `pdf-writer`; Chinese is set in a TrueType CJK font from
//! the Debian package `fonts-wqy-microhei` (or `fonts-droid-fallback`), or
//! only the font file `POSFIELD_CERTIFICATE_FONT` names when it is set
//! (`scripts/run` and the test scripts install the package), embedded as a CID font
//! subset with `subsetter` so a certificate weighs tens of kilobytes, with a
//! ToUnicode map so its text can be searched and copied.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::OnceLock;

use pdf_writer::types::{CidFontType, FontFlags, SystemInfo, UnicodeCmap};
use pdf_writer::{Content, Filter, Finish, Name, Pdf, Rect, Ref, Str};
use posfield_shared::visit::Visit;
use posfield_shared::visit::acceptance::{self, AcceptanceSummary, SignatureCheck};
use posfield_shared::vocab::Term;

/// Why a certificate cannot be made.
#[derive(Debug, thiserror::Error)]
pub enum CertificateError {
    /// The visit has no signed acceptance.
    #[error("visit {0} has no signed acceptance")]
    Unsigned(String),
    /// No CJK font was found: the server cannot make any certificate until
    /// one is installed.
    #[error(
        "no CJK TrueType font for acceptance certificates (tried {tried}): install the Debian package \
         fonts-wqy-microhei (apt-get install fonts-wqy-microhei) or set POSFIELD_CERTIFICATE_FONT \
         to a TrueType font file with Chinese"
    )]
    NoFont {
        /// The font files tried, in order.
        tried: String,
    },
    /// The font could not be read or subset.
    #[error("the certificate font cannot be used: {0}")]
    Font(String),
}

/// Font files tried in order, from Debian packages.
/// WenQuanYi Micro Hei first: it has Latin letters and digits as well as
/// CJK; Droid Sans Fallback has CJK only.
const FONT_CANDIDATES: &[(&str, u32)] = &[
    ("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc", 0),
    ("/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf", 0),
];

struct FontFile {
    data: Vec<u8>,
    index: u32,
}

/// The first of `candidates` that is a font file ttf-parser reads, or the
/// list of what was tried.
fn find_font(candidates: &[(PathBuf, u32)]) -> Result<FontFile, String> {
    for (path, index) in candidates {
        if let Ok(data) = std::fs::read(path)
            && ttf_parser::Face::parse(&data, *index).is_ok()
        {
            tracing::info!(font = %path.display(), "certificate font");
            return Ok(FontFile { data, index: *index });
        }
    }
    Err(candidates.iter().map(|(path, _)| path.display().to_string()).collect::<Vec<_>>().join(", "))
}

/// The font files to try: only the one `POSFIELD_CERTIFICATE_FONT` names
/// when it is set, so a broken setting is reported, not hidden behind
/// another font; else the Debian packages' files.
fn candidates() -> Vec<(PathBuf, u32)> {
    match std::env::var_os("POSFIELD_CERTIFICATE_FONT") {
        Some(configured) => vec![(PathBuf::from(configured), 0)],
        None => FONT_CANDIDATES.iter().map(|(path, index)| (PathBuf::from(path), *index)).collect(),
    }
}

fn font() -> Result<&'static FontFile, CertificateError> {
    static FONT: OnceLock<Result<FontFile, String>> = OnceLock::new();
    FONT.get_or_init(|| find_font(&candidates()))
        .as_ref()
        .map_err(|tried| CertificateError::NoFont { tried: tried.clone() })
}

/// Whether certificates can be made: the server says so at start, rather
/// than only when someone asks for one. The font is read and dropped, not
/// kept in memory until the first certificate.
pub fn check_font() -> Result<(), CertificateError> {
    find_font(&candidates()).map(|_| ()).map_err(|tried| CertificateError::NoFont { tried })
}

/// The lines of text of a certificate, in order; a line starting with `#`
/// is a heading. `phone` is the merchant's registered phone as the reader
/// may see it on a certificate ([`crate::personal`]); `verify_url` the
/// address of the merchant's verification page ([`crate::verify`]).
pub fn lines(visit: &Visit, phone: Option<&str>, verify_url: &str) -> Result<Vec<String>, CertificateError> {
    let acceptance = visit.acceptance.as_ref().ok_or_else(|| CertificateError::Unsigned(visit.id.clone()))?;
    let mut lines = vec![format!("#{}验收单 Acceptance certificate", visit.kind.zh())];
    lines.push(format!("工单编号：{}", visit.id));
    match serde_json::from_str::<AcceptanceSummary>(&acceptance.summary_json) {
        Ok(summary) => lines.extend(summary.render_zh().lines().map(str::to_owned)),
        Err(_) => lines.push("验收摘要无法读取".into()),
    }
    if let Some(phone) = phone {
        lines.push(format!("注册手机号：{phone}"));
    }
    if let Some(address) = &visit.merchant.address {
        lines.push(format!("地址：{address}"));
    }
    lines.push(String::new());
    lines.push("#签字核验".into());
    lines.push(match SignatureCheck::of(visit) {
        SignatureCheck::Valid => "签字有效：与验收摘要一致".into(),
        SignatureCheck::Mismatch { fields } => {
            format!("签字失效：以下内容签字后被改动：{}", acceptance::changed_fields_words(&fields).0)
        }
        SignatureCheck::Unsigned => "尚未签字".into(),
    });
    lines.push(format!("签字人：{}", acceptance.signer_name));
    lines.push(format!("摘要 SHA-256：{}", acceptance.content_hash));
    lines.push(format!("商户核验：{verify_url}"));
    lines.push(String::new());
    lines.push("#材料照片".into());
    let photos: Vec<_> = visit.current_documents().collect();
    if photos.is_empty() {
        lines.push("无".into());
    }
    for (n, photo) in photos.iter().enumerate() {
        lines.push(format!(
            "{}. {}  {}×{}  {}",
            n + 1,
            photo.kind.zh(),
            photo.width,
            photo.height,
            &photo.sha256[..16]
        ));
    }
    Ok(lines)
}

/// Breaks a line into pieces of at most `width` font units.
fn wrap(text: &str, advance: &dyn Fn(char) -> f32, width: f32) -> Vec<String> {
    let mut pieces = vec![String::new()];
    let mut used = 0.0;
    for c in text.chars() {
        let a = advance(c);
        if used + a > width && !pieces.last().is_some_and(String::is_empty) {
            pieces.push(String::new());
            used = 0.0;
        }
        if let Some(last) = pieces.last_mut() {
            last.push(c);
        }
        used += a;
    }
    pieces
}

/// What a signature image may be: the phone draws it a few hundred pixels
/// on a side, so anything much larger is not one.
const SIGNATURE_LIMITS: posfield_imaging::Limits = posfield_imaging::Limits {
    max_input_bytes: 4 * 1024 * 1024,
    max_width: 4_000,
    max_height: 4_000,
    max_pixels: 4_000 * 4_000,
    max_alloc: 64 << 20,
};

/// Renders the certificate; `phone` is the registered phone as the reader
/// may see it, `signature_png` the signature image's bytes when the server
/// has them.
pub fn render(
    visit: &Visit,
    phone: Option<&str>,
    verify_url: &str,
    signature_png: Option<&[u8]>,
) -> Result<Vec<u8>, CertificateError> {
    let font = font()?;
    let face =
        ttf_parser::Face::parse(&font.data, font.index).map_err(|e| CertificateError::Font(e.to_string()))?;
    let units = f32::from(face.units_per_em());
    let glyph = |c: char| face.glyph_index(c).map_or(0, |g| g.0);
    let advance = |c: char| {
        f32::from(face.glyph_hor_advance(ttf_parser::GlyphId(glyph(c))).unwrap_or(0)) * 1000.0 / units
    };

    // Lay out the text: A4, 50 pt margins.
    let (page_w, page_h, margin) = (595.0_f32, 842.0_f32, 50.0_f32);
    let mut laid_out: Vec<(f32, String)> = Vec::new();
    for line in lines(visit, phone, verify_url)? {
        let (size, text) = match line.strip_prefix('#') {
            Some(heading) => (15.0, heading.to_owned()),
            None => (10.5, line),
        };
        for piece in wrap(&text, &advance, (page_w - 2.0 * margin) * 1000.0 / size) {
            laid_out.push((size, piece));
        }
    }

    // The subset: every glyph used, renumbered from 1 (0 stays .notdef).
    let mut remapper = subsetter::GlyphRemapper::new();
    let mut used: BTreeMap<u16, char> = BTreeMap::new();
    for (_, text) in &laid_out {
        for c in text.chars() {
            let new = remapper.remap(glyph(c));
            used.entry(new).or_insert(c);
        }
    }
    let subset = subsetter::subset(&font.data, font.index, &remapper)
        .map_err(|e| CertificateError::Font(format!("{e:?}")))?;

    let mut pdf = Pdf::new();
    let catalog = Ref::new(1);
    let pages = Ref::new(2);
    let page = Ref::new(3);
    let contents = Ref::new(4);
    let type0 = Ref::new(5);
    let cid_font = Ref::new(6);
    let descriptor = Ref::new(7);
    let font_file = Ref::new(8);
    let to_unicode = Ref::new(9);
    let image = Ref::new(10);
    let font_name = Name(b"F1");
    let image_name = Name(b"Im1");
    let base_font = Name(b"POSFLD+CJK");

    pdf.catalog(catalog).pages(pages);
    pdf.pages(pages).kids([page]).count(1);

    // The signature image, as 8-bit grey.
    let signature = signature_png
        .and_then(|png| match posfield_imaging::decode(png, &SIGNATURE_LIMITS) {
            Ok(decoded) => Some(decoded.image),
            Err(error) => {
                tracing::warn!(%error, "the certificate is made without the signature's image");
                None
            }
        })
        .map(|img| img.to_luma8());
    let mut content = Content::new();
    let mut y = page_h - margin;
    for (size, text) in &laid_out {
        y -= size * 1.6;
        if text.is_empty() {
            continue;
        }
        let encoded: Vec<u8> =
            text.chars().flat_map(|c| remapper.get(glyph(c)).unwrap_or(0).to_be_bytes()).collect();
        content.begin_text().set_font(font_name, *size).next_line(margin, y).show(Str(&encoded)).end_text();
    }
    if let Some(sig) = &signature {
        let width = 240.0_f32;
        let height = width * sig.height() as f32 / sig.width().max(1) as f32;
        y -= height + 20.0;
        content.save_state();
        content.transform([width, 0.0, 0.0, height, margin, y.max(margin)]);
        content.x_object(image_name);
        content.restore_state();
    }
    let content_bytes = content.finish();

    let mut page_writer = pdf.page(page);
    page_writer.media_box(Rect::new(0.0, 0.0, page_w, page_h)).parent(pages).contents(contents);
    let mut resources = page_writer.resources();
    resources.fonts().pair(font_name, type0);
    if signature.is_some() {
        resources.x_objects().pair(image_name, image);
    }
    resources.finish();
    page_writer.finish();
    pdf.stream(contents, &deflate(&content_bytes)).filter(Filter::FlateDecode);

    let system_info = SystemInfo { registry: Str(b"Adobe"), ordering: Str(b"Identity"), supplement: 0 };
    pdf.type0_font(type0)
        .base_font(base_font)
        .encoding_predefined(Name(b"Identity-H"))
        .descendant_font(cid_font)
        .to_unicode(to_unicode);
    let widths: Vec<f32> = (0..=used.keys().max().copied().unwrap_or(0))
        .map(|gid| used.get(&gid).map_or(0.0, |c| advance(*c)))
        .collect();
    let mut cid = pdf.cid_font(cid_font);
    cid.subtype(CidFontType::Type2)
        .base_font(base_font)
        .system_info(system_info)
        .font_descriptor(descriptor)
        .default_width(1000.0);
    cid.widths().consecutive(0, widths);
    cid.cid_to_gid_map_predefined(Name(b"Identity"));
    cid.finish();
    let bbox = face.global_bounding_box();
    let scale = |v: i16| f32::from(v) * 1000.0 / units;
    pdf.font_descriptor(descriptor)
        .name(base_font)
        .flags(FontFlags::NON_SYMBOLIC)
        .bbox(Rect::new(scale(bbox.x_min), scale(bbox.y_min), scale(bbox.x_max), scale(bbox.y_max)))
        .italic_angle(0.0)
        .ascent(scale(face.ascender()))
        .descent(scale(face.descender()))
        .cap_height(scale(face.capital_height().unwrap_or(face.ascender())))
        .stem_v(80.0)
        .font_file2(font_file);
    pdf.stream(font_file, &deflate(&subset)).filter(Filter::FlateDecode);
    let mut cmap = UnicodeCmap::new(Name(b"Posfield-UTF16"), system_info);
    for (gid, c) in &used {
        cmap.pair(*gid, *c);
    }
    pdf.stream(to_unicode, &cmap.finish());
    if let Some(sig) = &signature {
        let pixels = deflate(sig.as_raw());
        let mut xobject = pdf.image_xobject(image, &pixels);
        xobject.filter(Filter::FlateDecode);
        xobject.width(sig.width() as i32);
        xobject.height(sig.height() as i32);
        xobject.bits_per_component(8);
        xobject.color_space().device_gray();
        xobject.finish();
    }
    Ok(pdf.finish())
}

fn deflate(bytes: &[u8]) -> Vec<u8> {
    miniz_oxide::deflate::compress_to_vec_zlib(bytes, 6)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A grey PNG of the given size, as the phone renders a signature.
    fn signature_png(width: u32, height: u32) -> Vec<u8> {
        let image = image::GrayImage::from_pixel(width, height, image::Luma([255]));
        let mut out = std::io::Cursor::new(Vec::new());
        image.write_to(&mut out, image::ImageFormat::Png).unwrap();
        out.into_inner()
    }

    #[test]
    fn the_phone_s_largest_signature_opens_and_a_huge_image_is_refused_unread() {
        // The phone renders a signature at most 1000 pixels on its long side.
        let drawn = posfield_imaging::decode(&signature_png(1000, 400), &SIGNATURE_LIMITS).unwrap();
        assert_eq!((drawn.image.width(), drawn.image.height()), (1000, 400));
        let error = posfield_imaging::decode(&signature_png(4001, 10), &SIGNATURE_LIMITS).unwrap_err();
        assert_eq!(
            error,
            posfield_imaging::ImageError::Dimensions {
                width: 4001,
                height: 10,
                max_width: 4000,
                max_height: 4000
            }
        );
    }

    #[test]
    fn the_font_has_a_glyph_for_every_character_a_certificate_uses() {
        let font = font().expect("a CJK font (Debian package fonts-wqy-microhei)");
        let face = ttf_parser::Face::parse(&font.data, font.index).unwrap();
        let text = "维修验收单 Acceptance certificate 工单编号：0123456789-abcdef 商户名称：老王便利店（已修复）、× 商户核验：https://posfield.example.cn/verify/x?h=0f";
        let missing: Vec<char> =
            text.chars().filter(|c| !c.is_whitespace() && face.glyph_index(*c).is_none()).collect();
        assert!(missing.is_empty(), "no glyph for {missing:?}");
    }

    #[test]
    fn without_a_font_the_error_names_what_was_tried_and_what_to_install() {
        let dir = tempfile::tempdir().unwrap();
        let not_a_font = dir.path().join("not-a-font.ttf");
        std::fs::write(&not_a_font, b"plain text, no glyphs").unwrap();
        let absent = dir.path().join("absent.ttc");
        let tried = find_font(&[(absent.clone(), 0), (not_a_font.clone(), 0)]).err().expect("no font");
        let message = CertificateError::NoFont { tried }.to_string();
        for needed in [
            absent.display().to_string(),
            not_a_font.display().to_string(),
            "fonts-wqy-microhei".to_owned(),
            "POSFIELD_CERTIFICATE_FONT".to_owned(),
        ] {
            assert!(message.contains(&needed), "{needed} missing from: {message}");
        }
    }
}
