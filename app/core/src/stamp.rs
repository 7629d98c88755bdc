//! The evidence stamp: the time in Beijing, the merchant, the terminal's
//! serial and where the phone was, written into a photo's pixels as a
//! band across its foot, so the photo says on its face when and where it
//! was taken, as the watermark cameras agents know do. The stamp is drawn
//! after the agent's turn and crop, upright whatever the photo, and the
//! stamped image is the one stored: its hash is the photo's in the visit.
//!
//! The text is laid out with ab_glyph (the rasterizer rxing's imageproc
//! already brings; well kept, pure Rust) in a CJK font the platform has:
//! [`StampFont::system`] looks for one where each platform keeps it. A
//! phone without one cannot stamp, and says so; the photo is kept unstamped
//! only if the agent chooses.

use std::sync::Arc;

use ab_glyph::{Font, FontArc, GlyphId, PxScale, ScaleFont, point};

/// A font the stamp is drawn in.
#[derive(Clone)]
pub struct StampFont(Arc<FontArc>);

impl std::fmt::Debug for StampFont {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StampFont")
    }
}

/// Where each platform keeps a font with Chinese characters: Debian's
/// packages (the test command installs `fonts-wqy-microhei`), Android's
/// system fonts, macOS and Windows. iOS keeps its fonts out of an app's
/// reach: there the stamp needs a font shipped with the app (not yet).
const CANDIDATES: &[(&str, u32)] = &[
    ("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc", 0),
    ("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc", 2),
    ("/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf", 0),
    ("/system/fonts/NotoSansCJK-Regular.ttc", 2),
    ("/system/fonts/NotoSansSC-Regular.otf", 0),
    ("/system/fonts/DroidSansFallback.ttf", 0),
    ("/System/Library/Fonts/PingFang.ttc", 0),
    ("/System/Library/Fonts/STHeiti Medium.ttc", 0),
    ("C:\\Windows\\Fonts\\msyh.ttc", 0),
];

impl StampFont {
    /// A font from a font file's bytes (`index` within a collection), if it is one.
    pub fn from_bytes(bytes: Vec<u8>, index: u32) -> Option<StampFont> {
        let font = ab_glyph::FontVec::try_from_vec_and_index(bytes, index).ok()?;
        // A font without Chinese would draw empty boxes for the merchant's name.
        (font.glyph_id('商') != GlyphId(0)).then(|| StampFont(Arc::new(FontArc::new(font))))
    }

    /// The first CJK font of the platform's usual places.
    pub fn system() -> Option<StampFont> {
        CANDIDATES.iter().find_map(|(path, index)| StampFont::from_bytes(std::fs::read(path).ok()?, *index))
    }
}

/// The most characters a stamp line keeps (a long shop name is cut).
const LINE_CHARS: usize = 32;

/// The lines of a stamp, at most four, each cut to a readable length.
pub fn stamp_lines(lines: impl IntoIterator<Item = String>) -> Vec<String> {
    lines
        .into_iter()
        .map(|line| line.chars().filter(|c| !c.is_control()).take(LINE_CHARS).collect::<String>())
        .filter(|line| !line.trim().is_empty())
        .take(4)
        .collect()
}

/// Draws `lines` in a dark band across the foot of an 8-bit image of
/// `channels` (1: gray, 3: RGB) channels, `width` × `height`, in place. The
/// text's size follows the image's width, so a stamp reads alike on any
/// photo; it never covers more than a third of the photo's height.
pub fn draw(pixels: &mut [u8], width: u32, height: u32, channels: usize, lines: &[String], font: &StampFont) {
    if lines.is_empty() || width == 0 || height == 0 {
        return;
    }
    let font = font.0.as_ref();
    let (w, h) = (width as usize, height as usize);
    let size = (width as f32 / 34.0).clamp(12.0, 64.0);
    let line_height = (size * 1.3).ceil() as usize;
    let pad = (size * 0.5).ceil() as usize;
    let band = (lines.len() * line_height + 2 * pad).min(h / 3);
    let top = h - band;
    // The band: the photo darkened to 40 %, so white text reads on any scene.
    for y in top..h {
        for byte in &mut pixels[y * w * channels..(y + 1) * w * channels] {
            *byte = (u16::from(*byte) * 2 / 5) as u8;
        }
    }
    let scaled = font.as_scaled(PxScale::from(size));
    for (i, line) in lines.iter().enumerate() {
        let baseline = (top + pad + i * line_height) as f32 + scaled.ascent();
        let mut x = pad as f32;
        let mut previous: Option<GlyphId> = None;
        for c in line.chars() {
            let id = scaled.glyph_id(c);
            if let Some(before) = previous {
                x += scaled.kern(before, id);
            }
            let glyph = id.with_scale_and_position(PxScale::from(size), point(x, baseline));
            x += scaled.h_advance(id);
            previous = Some(id);
            let Some(outlined) = font.outline_glyph(glyph) else { continue };
            let bounds = outlined.px_bounds();
            outlined.draw(|gx, gy, coverage| {
                let (px, py) = (bounds.min.x as i64 + i64::from(gx), bounds.min.y as i64 + i64::from(gy));
                if px < 0 || py < top as i64 || px >= w as i64 || py >= h as i64 {
                    return;
                }
                let at = (py as usize * w + px as usize) * channels;
                for byte in &mut pixels[at..at + channels] {
                    let ink = coverage.clamp(0.0, 1.0);
                    *byte = (f32::from(*byte) * (1.0 - ink) + 255.0 * ink).round() as u8;
                }
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn font() -> StampFont {
        StampFont::system().expect("a CJK font (the test command installs fonts-wqy-microhei)")
    }

    #[test]
    fn a_font_without_chinese_is_not_a_stamp_font() {
        assert!(StampFont::from_bytes(b"not a font".to_vec(), 0).is_none());
        assert!(StampFont::system().is_some(), "the desktop finds its CJK font");
    }

    #[test]
    fn the_stamp_darkens_the_foot_and_writes_white_text_there_only() {
        let (w, h) = (800u32, 600u32);
        let mut pixels = vec![200u8; (w * h * 3) as usize];
        let lines = stamp_lines([
            "2026-12-08 14:30 北京时间".to_owned(),
            "老王便利店 · SN N9100001234567".to_owned(),
        ]);
        draw(&mut pixels, w, h, 3, &lines, &font());
        let row = |y: u32| &pixels[(y * w * 3) as usize..((y + 1) * w * 3) as usize];
        assert!(row(0).iter().all(|&b| b == 200), "the top is untouched");
        let foot: Vec<u8> = (h - 80..h).flat_map(|y| row(y).to_vec()).collect();
        assert!(foot.contains(&80), "the band is the photo darkened");
        assert!(foot.iter().any(|&b| b > 240), "and holds white ink");
    }

    #[test]
    fn a_stamp_keeps_to_four_short_lines_and_a_third_of_a_small_photo() {
        let long = "很".repeat(100);
        let lines = stamp_lines([long, String::new(), "a\u{7}b".into(), "3".into(), "4".into(), "5".into()]);
        assert_eq!(lines.len(), 4);
        assert_eq!(lines[0].chars().count(), LINE_CHARS);
        assert_eq!(lines[1], "ab", "no control characters");
        let (w, h) = (60u32, 30u32);
        let mut gray = vec![255u8; (w * h) as usize];
        draw(&mut gray, w, h, 1, &lines, &font());
        assert!(gray[..(w * (h - h / 3)) as usize].iter().all(|&b| b == 255), "two thirds untouched");
    }
}
