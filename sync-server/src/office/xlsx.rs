//! The register and the lists as spreadsheets: an XLSX file's first sheet
//! read as the import's rows (calamine), and the exports written as XLSX
//! (rust_xlsxwriter), beside their CSV forms. The sheet is read from its
//! first used row, the header's, so a bad row's number counts from there.
//!
//! An XLSX file is a zip archive, so before calamine opens it, every entry
//! is inflated once into nothing, counted, and the file refused when an
//! entry or the whole unpacks past its bound or it has too many entries:
//! a zip bomb (a few hundred kilobytes that inflate to gigabytes) costs
//! the server at most [`MAX_UNPACKED`] bytes of inflating and no memory.
//! The counting is of the bytes actually inflated, not of the sizes the
//! archive declares, which a forged file can set to anything.

use std::io::{Cursor, Read};

use calamine::{Data, Reader, Xlsx};
use posfield_shared::CalendarDate;

/// The largest XLSX file an import takes.
pub const MAX_XLSX_BYTES: usize = 4 << 20;

/// The most an XLSX file may unpack to, all its entries together.
pub const MAX_UNPACKED: u64 = 64 << 20;

/// The most one entry of an XLSX file may unpack to.
pub const MAX_ENTRY: u64 = 32 << 20;

/// The most entries an XLSX file may have.
pub const MAX_ENTRIES: usize = 500;

/// The most rows an imported sheet may have (the header included).
pub const MAX_ROWS: usize = 100_001;

/// The content type of an XLSX file.
pub const CONTENT_TYPE: &str = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";

/// Why an XLSX file was not read.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum XlsxError {
    /// Over [`MAX_XLSX_BYTES`].
    #[error("the XLSX file is {0} bytes; at most {MAX_XLSX_BYTES}")]
    TooLarge(usize),
    /// Not a zip archive, or a broken one.
    #[error("not an XLSX file (not a readable zip archive): {0}")]
    NotZip(String),
    /// It unpacks past a bound: a zip bomb, or far more than a register.
    #[error(
        "the XLSX file unpacks to more than {} MB (entries at most {} MB, {MAX_ENTRIES} entries): refused as a zip bomb",
        MAX_UNPACKED >> 20,
        MAX_ENTRY >> 20
    )]
    Bomb,
    /// calamine could not read the workbook or its first sheet.
    #[error("the XLSX workbook cannot be read: {0}")]
    Unreadable(String),
    /// No sheet.
    #[error("the XLSX workbook has no sheet")]
    NoSheet,
    /// Over [`MAX_ROWS`] rows.
    #[error("the sheet has {0} rows; at most {MAX_ROWS}")]
    TooManyRows(usize),
}

/// Inflates every entry of the archive into nothing, counting, and
/// refuses it when it unpacks past the bounds.
fn measure(bytes: &[u8]) -> Result<(), XlsxError> {
    let mut archive =
        zip::ZipArchive::new(Cursor::new(bytes)).map_err(|e| XlsxError::NotZip(e.to_string()))?;
    if archive.len() > MAX_ENTRIES {
        return Err(XlsxError::Bomb);
    }
    let mut total = 0u64;
    for index in 0..archive.len() {
        let entry = archive.by_index(index).map_err(|e| XlsxError::NotZip(e.to_string()))?;
        let unpacked = std::io::copy(&mut entry.take(MAX_ENTRY + 1), &mut std::io::sink())
            .map_err(|e| XlsxError::NotZip(e.to_string()))?;
        total += unpacked;
        if unpacked > MAX_ENTRY || total > MAX_UNPACKED {
            return Err(XlsxError::Bomb);
        }
    }
    Ok(())
}

/// A cell as the import reads it: text as it is, whole numbers without a
/// decimal point, dates as `YYYY-MM-DD`.
fn cell_text(cell: &Data) -> String {
    match cell {
        Data::Empty => String::new(),
        Data::String(text) | Data::DateTimeIso(text) | Data::DurationIso(text) => text.clone(),
        Data::Int(n) => n.to_string(),
        Data::Float(f) if f.fract() == 0.0 && f.abs() < 1e15 => format!("{f:.0}"),
        Data::Float(f) => f.to_string(),
        Data::Bool(b) => b.to_string(),
        // A date cell holds Excel's serial day: days since 1899-12-30.
        Data::DateTime(at) => CalendarDate::parse("1899-12-30")
            .map(|epoch| epoch.add_days(at.as_f64().floor() as i64).to_string())
            .unwrap_or_default(),
        Data::Error(e) => format!("#{e:?}"),
    }
}

/// The first sheet of an XLSX file as CSV text, for the import's one
/// reader of rows (line numbers stay the sheet's row numbers).
pub fn first_sheet_as_csv(bytes: &[u8]) -> Result<String, XlsxError> {
    if bytes.len() > MAX_XLSX_BYTES {
        return Err(XlsxError::TooLarge(bytes.len()));
    }
    measure(bytes)?;
    let mut workbook: Xlsx<_> =
        Xlsx::new(Cursor::new(bytes)).map_err(|e| XlsxError::Unreadable(e.to_string()))?;
    let first = workbook.sheet_names().first().cloned().ok_or(XlsxError::NoSheet)?;
    let range = workbook.worksheet_range(&first).map_err(|e| XlsxError::Unreadable(e.to_string()))?;
    if range.height() > MAX_ROWS {
        return Err(XlsxError::TooManyRows(range.height()));
    }
    // The sheet's rows from its first used one, the header's: blank rows
    // above it are left out (the import reads its first line as the header).
    let mut writer = csv::Writer::from_writer(Vec::new());
    for row in range.rows() {
        writer.write_record(row.iter().map(cell_text)).map_err(|e| XlsxError::Unreadable(e.to_string()))?;
    }
    let bytes = writer.into_inner().map_err(|e| XlsxError::Unreadable(e.to_string()))?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

/// A workbook of one sheet: a bold header and the rows, every cell
/// written as text (a cell is never taken as a formula).
pub fn workbook(
    sheet: &str,
    header: &[&str],
    rows: &[Vec<String>],
) -> Result<Vec<u8>, rust_xlsxwriter::XlsxError> {
    let mut book = rust_xlsxwriter::Workbook::new();
    let bold = rust_xlsxwriter::Format::new().set_bold();
    let page = book.add_worksheet().set_name(sheet)?;
    for (col, name) in header.iter().enumerate() {
        let col = u16::try_from(col).unwrap_or(u16::MAX);
        page.write_string_with_format(0, col, *name, &bold)?;
        page.set_column_width(col, 18)?;
    }
    for (i, row) in rows.iter().enumerate() {
        let at = u32::try_from(i + 1).unwrap_or(u32::MAX);
        for (col, cell) in row.iter().enumerate() {
            if !cell.is_empty() {
                page.write_string(at, u16::try_from(col).unwrap_or(u16::MAX), cell)?;
            }
        }
    }
    book.save_to_buffer()
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    #[test]
    fn a_written_workbook_reads_back_as_its_rows() {
        let rows = vec![
            vec!["N9100000000001".into(), "老王便利店".into(), "=1+1".into(), String::new()],
            vec!["N9100000000002".into(), "张姐水果店".into(), "2027-01-31".into(), "x".into()],
        ];
        let bytes = workbook("终端", &["serial", "merchant", "sim_expiry", "model"], &rows).unwrap();
        let csv = first_sheet_as_csv(&bytes).unwrap();
        assert_eq!(
            csv,
            "serial,merchant,sim_expiry,model\nN9100000000001,老王便利店,=1+1,\nN9100000000002,张姐水果店,2027-01-31,x\n"
        );
    }

    #[test]
    fn a_header_below_blank_rows_is_still_the_header() {
        let mut book = rust_xlsxwriter::Workbook::new();
        let page = book.add_worksheet();
        page.write_string(2, 1, "serial").unwrap();
        page.write_string(2, 2, "merchant").unwrap();
        page.write_string(3, 1, "N9100000000001").unwrap();
        page.write_string(3, 2, "老王便利店").unwrap();
        let bytes = book.save_to_buffer().unwrap();
        assert_eq!(first_sheet_as_csv(&bytes).unwrap(), "serial,merchant\nN9100000000001,老王便利店\n");
    }

    /// A zip archive of `entries` (name, bytes), deflated.
    fn archive(entries: &[(&str, Vec<u8>)]) -> Vec<u8> {
        let mut zip = zip::ZipWriter::new(Cursor::new(Vec::new()));
        let options =
            zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
        for (name, bytes) in entries {
            zip.start_file(*name, options).unwrap();
            zip.write_all(bytes).unwrap();
        }
        zip.finish().unwrap().into_inner()
    }

    #[test]
    fn a_file_that_unpacks_past_its_bounds_is_refused_before_it_is_opened() {
        // 100 MB of zeros deflate to about 100 KB.
        let bomb = archive(&[("xl/worksheets/sheet1.xml", vec![0u8; 100 << 20])]);
        assert!(bomb.len() < MAX_XLSX_BYTES, "{}", bomb.len());
        assert_eq!(first_sheet_as_csv(&bomb), Err(XlsxError::Bomb));
        // Three entries each under the entry bound, together over the whole's.
        let wide: Vec<(String, Vec<u8>)> =
            (0..3).map(|i| (format!("xl/{i}.xml"), vec![b' '; 30 << 20])).collect();
        let wide: Vec<(&str, Vec<u8>)> = wide.iter().map(|(n, b)| (n.as_str(), b.clone())).collect();
        assert_eq!(first_sheet_as_csv(&archive(&wide)), Err(XlsxError::Bomb));
        let many: Vec<(String, Vec<u8>)> = (0..=MAX_ENTRIES).map(|i| (format!("{i}"), Vec::new())).collect();
        let many: Vec<(&str, Vec<u8>)> = many.iter().map(|(n, b)| (n.as_str(), b.clone())).collect();
        assert_eq!(first_sheet_as_csv(&archive(&many)), Err(XlsxError::Bomb));
    }

    #[test]
    fn what_is_not_a_workbook_says_so() {
        assert!(matches!(first_sheet_as_csv(b"serial\nN910\n"), Err(XlsxError::NotZip(_))));
        let empty_zip = archive(&[("readme.txt", b"hello".to_vec())]);
        assert!(matches!(first_sheet_as_csv(&empty_zip), Err(XlsxError::Unreadable(_))));
        let big = vec![0u8; MAX_XLSX_BYTES + 1];
        assert_eq!(first_sheet_as_csv(&big), Err(XlsxError::TooLarge(MAX_XLSX_BYTES + 1)));
    }
}
