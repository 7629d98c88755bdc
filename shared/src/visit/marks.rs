//! Drawing the marks an agent made over a photo ([`Annotation`]) as an SVG
//! overlay: the back office lays it over the photo; the app draws the same
//! shapes from the same rules (`app/ui/src/marks.ts`).
//!
//! The overlay's view box is the photo's own size, so a mark keeps its
//! shape at any display size; lines and text are sized from the photo's
//! shorter side, so a mark reads the same on a small and a large photo.

use std::fmt::Write as _;

use super::schema::{Annotation, MarkShape};
use crate::vocab::Open;

/// The marks' colour: a red that stands out on a grey terminal and a white shop wall.
pub const MARK_COLOUR: &str = "#e11d48";

/// The stroke width for a photo whose shorter side is `short` pixels.
pub fn stroke_width(short: u32) -> f64 {
    (f64::from(short) / 120.0).max(2.0)
}

/// An SVG document drawing `marks` over a `width` × `height` photo, sized to
/// fill the box it is placed in. Marks of a shape this version does not
/// know are left out (the office says how many there are).
pub fn overlay_svg<'a>(marks: impl IntoIterator<Item = &'a Annotation>, width: u32, height: u32) -> String {
    let (w, h) = (f64::from(width.max(1)), f64::from(height.max(1)));
    let stroke = stroke_width(width.min(height));
    let mut svg = format!(
        r#"<svg xmlns="http://www.w3.org/2000/svg" class="marks" viewBox="0 0 {w} {h}" preserveAspectRatio="xMidYMid meet" aria-hidden="true">"#
    );
    for mark in marks {
        let point = |p: super::schema::MarkPoint| {
            (f64::from(p.x.min(1000)) * w / 1000.0, f64::from(p.y.min(1000)) * h / 1000.0)
        };
        let ((x1, y1), (x2, y2)) = (point(mark.from), point(mark.to));
        let paint = format!(
            r#"stroke="{MARK_COLOUR}" stroke-width="{stroke:.1}" fill="none" stroke-linecap="round""#
        );
        match &mark.shape {
            Open::Known(MarkShape::Arrow) => {
                let _ = write!(svg, r#"<line x1="{x1:.1}" y1="{y1:.1}" x2="{x2:.1}" y2="{y2:.1}" {paint}/>"#);
                let (a, b) = arrow_head((x1, y1), (x2, y2), stroke * 5.0);
                let _ = write!(
                    svg,
                    r#"<polyline points="{:.1},{:.1} {x2:.1},{y2:.1} {:.1},{:.1}" {paint} stroke-linejoin="round"/>"#,
                    a.0, a.1, b.0, b.1
                );
            }
            Open::Known(MarkShape::Circle) => {
                let (cx, cy, rx, ry) =
                    ((x1 + x2) / 2.0, (y1 + y2) / 2.0, (x2 - x1).abs() / 2.0, (y2 - y1).abs() / 2.0);
                let _ =
                    write!(svg, r#"<ellipse cx="{cx:.1}" cy="{cy:.1}" rx="{rx:.1}" ry="{ry:.1}" {paint}/>"#);
            }
            Open::Known(MarkShape::Text) => {
                let size = stroke * 8.0;
                let words = escape(mark.text.as_deref().unwrap_or_default());
                let _ = write!(
                    svg,
                    r#"<text x="{x1:.1}" y="{y1:.1}" font-size="{size:.1}" fill="{MARK_COLOUR}" stroke="white" stroke-width="{:.1}" paint-order="stroke" dominant-baseline="hanging">{words}</text>"#,
                    stroke / 2.0
                );
            }
            Open::Unknown(_) => {}
        }
    }
    svg.push_str("</svg>");
    svg
}

/// The two ends of an arrow's head at `to`, coming from `from`, each `length` long.
pub fn arrow_head(from: (f64, f64), to: (f64, f64), length: f64) -> ((f64, f64), (f64, f64)) {
    let angle = (to.1 - from.1).atan2(to.0 - from.0);
    let spread = std::f64::consts::PI / 7.0;
    let end = |a: f64| (to.0 - length * a.cos(), to.1 - length * a.sin());
    (end(angle - spread), end(angle + spread))
}

fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::actor::Actor;
    use crate::time::Timestamp;
    use crate::visit::schema::{MarkPoint, Stamp};

    fn mark(shape: Open<MarkShape>, text: Option<&str>) -> Annotation {
        Annotation {
            id: "m".into(),
            photo: "a".repeat(64),
            shape,
            from: MarkPoint { x: 100, y: 200 },
            to: MarkPoint { x: 500, y: 600 },
            text: text.map(str::to_owned),
            stamp: Stamp { by: Actor::agent("li", "phone"), at: Timestamp(0) },
            removed: None,
        }
    }

    #[test]
    fn each_shape_is_drawn_in_the_photos_own_pixels() {
        let marks = [
            mark(MarkShape::Arrow.into(), None),
            mark(MarkShape::Circle.into(), None),
            mark(MarkShape::Text.into(), Some("屏幕裂")),
        ];
        let svg = overlay_svg(&marks, 1600, 1200);
        assert!(svg.starts_with("<svg") && svg.contains(r#"viewBox="0 0 1600 1200""#), "{svg}");
        assert!(svg.contains(r#"<line x1="160.0" y1="240.0" x2="800.0" y2="720.0""#), "{svg}");
        assert!(svg.contains(r#"<ellipse cx="480.0" cy="480.0" rx="320.0" ry="240.0""#), "{svg}");
        assert!(svg.contains(">屏幕裂</text>"), "{svg}");
    }

    #[test]
    fn a_marks_text_cannot_write_markup_and_an_unknown_shape_is_left_out() {
        let marks = [
            mark(MarkShape::Text.into(), Some(r#"</text><script>alert("x")</script>"#)),
            mark(Open::Unknown("star".into()), None),
        ];
        let svg = overlay_svg(&marks, 100, 100);
        assert!(!svg.contains("<script"), "{svg}");
        assert!(svg.contains("&lt;/text&gt;&lt;script&gt;"), "{svg}");
        assert_eq!(svg.matches("<text").count(), 1);
        assert!(!svg.contains("star"));
    }

    #[test]
    fn the_arrow_head_points_back_along_the_line() {
        let (a, b) = arrow_head((0.0, 0.0), (100.0, 0.0), 10.0);
        assert!(a.0 < 100.0 && b.0 < 100.0);
        assert!((a.1 + b.1).abs() < 1e-9, "symmetric about the line");
    }
}
