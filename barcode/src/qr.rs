//! QR codes this app shows: the merchant's verification address after
//! signing. Encoded by rxing's own writer (the reader's project), so the
//! codes it shows are read back by the same library in the tests.

use rxing::qrcode::QRCodeWriter;
use rxing::{BarcodeFormat, EncodeHints, Writer};

/// The longest text a shown code carries: far above an address, far below
/// what makes a code too dense to scan from a phone's screen.
pub const MAX_QR_TEXT: usize = 512;

/// A QR code's modules, quiet zone included (four modules each side).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QrCode {
    /// Modules per side.
    pub size: u32,
    /// Whether each module is dark, row by row.
    pub dark: Vec<bool>,
}

/// Why a code could not be made.
#[derive(Debug, thiserror::Error)]
pub enum QrError {
    /// Nothing to encode, or more than [`MAX_QR_TEXT`] bytes.
    #[error("a QR code carries 1 to {MAX_QR_TEXT} bytes; this text has {0}")]
    Length(usize),
    /// The writer failed.
    #[error("the QR code cannot be made: {0}")]
    Writer(String),
}

impl QrCode {
    /// `text` as a QR code, error correction level M (15 % of the code
    /// may be lost: a scratched or glaring phone screen).
    pub fn of(text: &str) -> Result<QrCode, QrError> {
        if text.is_empty() || text.len() > MAX_QR_TEXT {
            return Err(QrError::Length(text.len()));
        }
        let hints = EncodeHints { ErrorCorrection: Some("M".into()), ..EncodeHints::default() };
        let matrix = QRCodeWriter
            .encode_with_hints(text, &BarcodeFormat::QR_CODE, 0, 0, &hints)
            .map_err(|e| QrError::Writer(e.to_string()))?;
        let size = matrix.getWidth();
        let dark =
            (0..size).flat_map(|y| (0..size).map(move |x| (x, y))).map(|(x, y)| matrix.get(x, y)).collect();
        Ok(QrCode { size, dark })
    }

    /// An SVG of the code: one path of the dark modules, one unit each,
    /// black on a white square, scaled to whatever box it is shown in.
    pub fn svg(&self) -> String {
        let mut path = String::new();
        for (i, _) in self.dark.iter().enumerate().filter(|(_, dark)| **dark) {
            let (x, y) = (i as u32 % self.size, i as u32 / self.size);
            path.push_str(&format!("M{x} {y}h1v1h-1z"));
        }
        let n = self.size;
        format!(
            "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {n} {n}\" shape-rendering=\"crispEdges\">\
             <rect width=\"{n}\" height=\"{n}\" fill=\"#fff\"/><path d=\"{path}\" fill=\"#000\"/></svg>"
        )
    }

    /// The code as a grayscale image, `scale` pixels a module.
    pub fn image(&self, scale: u32) -> image::GrayImage {
        let scale = scale.max(1);
        image::GrayImage::from_fn(self.size * scale, self.size * scale, |x, y| {
            let i = (y / scale * self.size + x / scale) as usize;
            image::Luma([if self.dark[i] { 0 } else { 255 }])
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{DecodeOptions, decode_image};

    #[test]
    fn a_verification_address_reads_back_exactly_from_its_code() {
        let url = "https://posfield.example.com/verify/019ae5a1-2b3c-7d4e-8f90-123456789abc?h=\
                   3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c";
        let code = QrCode::of(url).unwrap();
        assert_eq!(code.dark.len() as u32, code.size * code.size);
        let decoded = decode_image(&code.image(4), &DecodeOptions::default());
        let texts: Vec<&str> = decoded.symbols.iter().map(|s| s.symbol.text.as_str()).collect();
        assert_eq!(texts, [url]);
        assert_eq!(decoded.symbols[0].symbol.format, "QR_CODE");
        // The quiet zone: four light modules on every side.
        let n = code.size as usize;
        let corner_light = (0..4).all(|i| !code.dark[i] && !code.dark[i * n] && !code.dark[n * n - 1 - i]);
        assert!(corner_light);
    }

    #[test]
    fn the_svg_draws_every_dark_module_once() {
        let code = QrCode::of("https://127.0.0.1:8443/verify/x?h=0").unwrap();
        let svg = code.svg();
        assert!(svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""), "{svg}");
        assert!(svg.contains(&format!("viewBox=\"0 0 {0} {0}\"", code.size)));
        assert_eq!(svg.matches('M').count(), code.dark.iter().filter(|d| **d).count());
    }

    #[test]
    fn an_empty_or_overlong_text_is_refused_with_its_length() {
        assert!(matches!(QrCode::of(""), Err(QrError::Length(0))));
        let long = "x".repeat(MAX_QR_TEXT + 1);
        assert!(matches!(QrCode::of(&long), Err(QrError::Length(n)) if n == MAX_QR_TEXT + 1));
    }
}
