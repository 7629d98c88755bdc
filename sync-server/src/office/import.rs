//! The terminal register's CSV import, and the CSV exports.
//!
//! An import keeps every good row and reports every bad one by its line
//! number and what is wrong with it; nothing is half-imported from a row.
//!
//! Every cell of every export goes through [`spreadsheet_safe`]: a cell a
//! spreadsheet would run as a formula (OWASP's CSV injection) starts with
//! `'` instead, and an import takes that `'` off again, so an export
//! imports back unchanged.

use std::borrow::Cow;
use std::collections::HashMap;

use posfield_shared::lifecycle::TerminalState;
use posfield_shared::visit::GeoPoint;
use posfield_shared::vocab::{SimCarrier, Term};
use posfield_shared::{CalendarDate, Timestamp, validate};

use super::queries::{TerminalRow, VisitRow};
use crate::personal::{Place, phone_for};
use crate::store::{AuditEntry, RegisterRow, Store, StoreError, UserRole};

/// The columns an import understands; `serial` is required, the others optional.
pub const COLUMNS: &[&str] = &[
    "serial",
    "model",
    "manufacturer",
    "merchant",
    "merchant_number",
    "state",
    "production_date",
    "warranty_end",
    "sim_iccid",
    "sim_carrier",
    "sim_expiry",
];

/// The columns of the shop's place an import also understands (WGS-84
/// degrees, both or neither). An export leaves them out: imported back, it
/// keeps the place the register has.
pub const PLACE_COLUMNS: &[&str] = &["latitude", "longitude"];

/// Every column an import understands, as the import page lists them.
pub fn import_columns() -> String {
    [COLUMNS, PLACE_COLUMNS].concat().join(",")
}

/// A row that was not imported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadRow {
    /// Its line in the file (the header is line 1).
    pub line: u64,
    /// What is wrong.
    pub problem: String,
}

/// What an import did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImportReport {
    /// Rows imported (new or updated).
    pub imported: usize,
    /// Rows refused.
    pub bad: Vec<BadRow>,
}

fn date(value: Option<&str>, what: &str) -> Result<Option<String>, String> {
    value
        .map(|v| {
            CalendarDate::parse(v)
                .map(|d| d.to_string())
                .map_err(|_| format!("{what} {v:?} is not YYYY-MM-DD"))
        })
        .transpose()
}

fn parse_row(get: &dyn Fn(&str) -> Option<String>) -> Result<RegisterRow, String> {
    let serial_text = get("serial").ok_or("the serial is empty")?;
    let serial = validate::serial(&serial_text).map_err(|e| format!("serial {serial_text:?}: {e}"))?;
    let state = match get("state") {
        None => TerminalState::InStock,
        Some(v) => TerminalState::ALL
            .iter()
            .copied()
            .find(|s| s.code() == v || s.zh() == v)
            .ok_or_else(|| format!("state {v:?} is not a terminal state"))?,
    };
    let merchant_number = get("merchant_number")
        .map(|v| validate::merchant_number(&v).map_err(|e| format!("merchant number {v:?}: {e}")))
        .transpose()?;
    let sim_iccid =
        get("sim_iccid").map(|v| validate::iccid(&v).map_err(|e| format!("ICCID {v:?}: {e}"))).transpose()?;
    let sim_carrier = get("sim_carrier")
        .map(|v| {
            SimCarrier::ALL
                .iter()
                .find(|c| c.code() == v || c.zh() == v)
                .map(|c| c.code().to_owned())
                .ok_or_else(|| format!("carrier {v:?} is not 中国移动, 中国联通 or 中国电信"))
        })
        .transpose()?;
    // The shop's place: both or neither, in degrees (WGS-84).
    let place = match (get("latitude"), get("longitude")) {
        (None, None) => None,
        (Some(lat), Some(lon)) => {
            let bad = || format!("place {lat:?},{lon:?} is not a latitude and longitude in degrees");
            let (lat, lon) = (lat.parse::<f64>().map_err(|_| bad())?, lon.parse::<f64>().map_err(|_| bad())?);
            Some(GeoPoint::from_degrees(lat, lon, None).ok_or_else(bad)?)
        }
        _ => return Err("a place needs both latitude and longitude".to_owned()),
    };
    Ok(RegisterRow {
        serial,
        model: get("model"),
        manufacturer: get("manufacturer"),
        merchant: get("merchant"),
        merchant_number,
        state: state.code().to_owned(),
        production_date: date(get("production_date").as_deref(), "production date")?,
        warranty_end: date(get("warranty_end").as_deref(), "warranty end")?,
        sim_iccid,
        sim_carrier,
        sim_expiry: date(get("sim_expiry").as_deref(), "SIM expiry")?,
        lat_e6: place.map(|p| p.lat_e6),
        lon_e6: place.map(|p| p.lon_e6),
    })
}

/// Reads a register CSV (header line first, UTF-8, an optional BOM) and
/// stores its good rows with the audit entry `audit` makes of the report;
/// a later row for the same serial is reported, not imported.
pub async fn import_terminals(
    store: &dyn Store,
    text: &str,
    audit: impl FnOnce(&ImportReport) -> AuditEntry,
) -> Result<ImportReport, StoreError> {
    let (good, mut report) = read_register(text);
    report.imported = good.len();
    let entry = audit(&report);
    store.import_register(good, entry).await?;
    Ok(report)
}

/// The good rows of a register CSV, and the report of the bad ones.
fn read_register(text: &str) -> (Vec<RegisterRow>, ImportReport) {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    // Browsers send a form's text with CRLF line ends; count lines as the file has them.
    let text = text.replace("\r\n", "\n");
    let mut reader =
        csv::ReaderBuilder::new().flexible(true).trim(csv::Trim::All).from_reader(text.as_bytes());
    let mut report = ImportReport::default();
    let header: Vec<String> = match reader.headers() {
        Ok(h) => h.iter().map(|c| c.trim().to_ascii_lowercase()).collect(),
        Err(e) => {
            report.bad.push(BadRow { line: 1, problem: format!("the header cannot be read: {e}") });
            return (Vec::new(), report);
        }
    };
    if let Some(unknown) =
        header.iter().find(|h| !COLUMNS.contains(&h.as_str()) && !PLACE_COLUMNS.contains(&h.as_str()))
    {
        report.bad.push(BadRow {
            line: 1,
            problem: format!("unknown column {unknown:?}; the columns are {}", import_columns()),
        });
        return (Vec::new(), report);
    }
    if !header.iter().any(|h| h == "serial") {
        report.bad.push(BadRow { line: 1, problem: "the header has no serial column".into() });
        return (Vec::new(), report);
    }
    let mut good: Vec<RegisterRow> = Vec::new();
    let mut seen: HashMap<String, u64> = HashMap::new();
    for record in reader.records() {
        let record = match record {
            Ok(record) => record,
            Err(e) => {
                let line = e.position().map_or(0, |p| p.line());
                report.bad.push(BadRow { line, problem: format!("unreadable CSV: {e}") });
                continue;
            }
        };
        let line = record.position().map_or(0, |p| p.line());
        if record.iter().all(str::is_empty) {
            continue;
        }
        if record.len() != header.len() {
            report.bad.push(BadRow {
                line,
                problem: format!("{} fields where the header has {}", record.len(), header.len()),
            });
            continue;
        }
        let get = |name: &str| {
            header
                .iter()
                .position(|h| h == name)
                .and_then(|i| record.get(i))
                .map(from_spreadsheet)
                .filter(|v| !v.is_empty())
                .map(str::to_owned)
        };
        match parse_row(&get) {
            Ok(row) => {
                if let Some(first) = seen.get(&row.serial) {
                    report.bad.push(BadRow {
                        line,
                        problem: format!("serial {} already on line {first}", row.serial),
                    });
                    continue;
                }
                seen.insert(row.serial.clone(), line);
                good.push(row);
            }
            Err(problem) => report.bad.push(BadRow { line, problem }),
        }
    }
    (good, report)
}

/// The characters a spreadsheet takes as the start of a formula (OWASP,
/// CSV injection): `=`, `+`, `-`, `@`, a tab and a carriage return.
const FORMULA_STARTS: [char; 6] = ['=', '+', '-', '@', '\t', '\r'];

/// A cell as an export writes it: one that would start a formula is
/// prefixed with `'`, which spreadsheets show as text and do not run.
pub fn spreadsheet_safe(cell: &str) -> Cow<'_, str> {
    if cell.starts_with(FORMULA_STARTS) { Cow::Owned(format!("'{cell}")) } else { Cow::Borrowed(cell) }
}

/// A cell as an import reads it: the `'` that [`spreadsheet_safe`] put
/// before a formula's first character is taken off.
fn from_spreadsheet(cell: &str) -> &str {
    match cell.strip_prefix('\'') {
        Some(rest) if rest.starts_with(FORMULA_STARTS) => rest,
        _ => cell,
    }
}

/// A CSV file of a header and rows, every cell made [`spreadsheet_safe`].
pub(super) fn csv_text<R: IntoIterator<Item = String>>(
    header: &[&str],
    rows: impl IntoIterator<Item = R>,
) -> String {
    let mut writer = csv::Writer::from_writer(Vec::new());
    let mut result = writer.write_record(header.iter().map(|h| spreadsheet_safe(h).into_owned()));
    for row in rows {
        if result.is_err() {
            break;
        }
        result = writer.write_record(row.into_iter().map(|cell| spreadsheet_safe(&cell).into_owned()));
    }
    let bytes = writer.into_inner().unwrap_or_default();
    if let Err(e) = result {
        tracing::error!(error = %e, "writing a CSV export failed");
    }
    // A BOM so that spreadsheet programs read the Chinese as UTF-8.
    format!("\u{feff}{}", String::from_utf8_lossy(&bytes))
}

/// The visit export's columns.
pub const VISIT_COLUMNS: &[&str] = &[
    "id",
    "kind",
    "status",
    "merchant",
    "merchant_number",
    "merchant_phone",
    "serial",
    "assignee",
    "created",
    "updated",
    "photos_missing",
];

/// The visits as the export's rows, the registered phone as `role` may
/// see it in an export ([`crate::personal`]).
pub fn visits_table(rows: &[VisitRow], role: UserRole) -> Vec<Vec<String>> {
    rows.iter()
        .map(|r| {
            vec![
                r.id.clone(),
                r.kind.clone(),
                r.status.clone(),
                r.merchant.clone(),
                r.merchant_number.clone().unwrap_or_default(),
                r.merchant_phone.as_deref().map(|p| phone_for(role, Place::Export, p)).unwrap_or_default(),
                r.serial.clone().unwrap_or_default(),
                r.assignee.clone(),
                Timestamp::from_seconds(r.created_at).beijing_words(),
                Timestamp::from_seconds(r.updated_at).beijing_words(),
                r.blobs_missing.to_string(),
            ]
        })
        .collect()
}

/// The visits as CSV ([`visits_table`]).
pub fn visits_csv(rows: &[VisitRow], role: UserRole) -> String {
    csv_text(VISIT_COLUMNS, visits_table(rows, role))
}

/// The terminals as the export's rows, in the import's columns (an
/// export imports back).
pub fn terminals_table(rows: &[TerminalRow]) -> Vec<Vec<String>> {
    rows.iter()
        .map(|r| {
            let o = |v: &Option<String>| v.clone().unwrap_or_default();
            vec![
                r.serial.clone(),
                o(&r.model),
                o(&r.manufacturer),
                r.merchant.clone(),
                o(&r.merchant_number),
                r.state.clone().unwrap_or_else(|| "installed".into()),
                o(&r.production_date),
                o(&r.warranty_end),
                o(&r.sim_iccid),
                o(&r.sim_carrier),
                o(&r.sim_expiry),
            ]
        })
        .collect()
}

/// The terminals as CSV ([`terminals_table`]).
pub fn terminals_csv(rows: &[TerminalRow]) -> String {
    csv_text(COLUMNS, terminals_table(rows))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::sqlite::SqliteStore;

    fn audit(report: &ImportReport) -> AuditEntry {
        AuditEntry::new(None, "zhou", "import_terminals", &format!("{} imported", report.imported))
    }

    fn store() -> (tempfile::TempDir, SqliteStore) {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("s.db")).unwrap();
        (dir, store)
    }

    #[tokio::test]
    async fn good_rows_are_kept_and_bad_rows_reported_by_line() {
        let (_dir, store) = store();
        let csv = "serial,model,manufacturer,merchant,state,production_date,warranty_end,sim_iccid,sim_carrier,sim_expiry\n\
                   N910000000001,N910,新大陆,老王便利店,installed,2022-03-01,2025-03-01,89860012345678901238,中国移动,2026-12-01\n\
                   bad serial!,N910,新大陆,x,installed,,,,,\n\
                   N910000000002,N910,新大陆,李记面馆,已安装,2021-13-01,,,,\n\
                   N910000000003,A8,联迪,张姐水果店,suspended,,,,china_unicom,\n\
                   N910000000001,N910,新大陆,again,installed,,,,,\n\
                   N910000000004,A8,联迪,x,installed,,,89860012345678901230,,\n\
                   N910000000005,A8\n";
        // The same lines as a browser sends them (CRLF) are reported alike.
        let crlf = import_terminals(&store, &csv.replace('\n', "\r\n"), audit).await.unwrap();
        let report = import_terminals(&store, csv, audit).await.unwrap();
        assert_eq!(crlf, report);
        assert_eq!(report.imported, 2, "{report:?}");
        let lines: Vec<u64> = report.bad.iter().map(|b| b.line).collect();
        assert_eq!(lines, [3, 4, 6, 7, 8], "{report:?}");
        assert!(report.bad[1].problem.contains("production date"), "{report:?}");
        assert!(report.bad[3].problem.contains("ICCID"), "{report:?}");
        let rows = store.all_terminals().await.unwrap();
        let serials: Vec<&str> = rows.iter().map(|r| r.serial.as_str()).collect();
        assert_eq!(serials, ["N910000000001", "N910000000003"]);
        assert_eq!(rows[0].sim_carrier.as_deref(), Some("china_mobile"));
        assert_eq!(rows[1].state.as_deref(), Some("suspended"));
        let log = store.audit_log(None, 10).await.unwrap();
        let imports = log.iter().filter(|r| r.entry.action == "import_terminals" && r.entry.actor == "zhou");
        assert_eq!(imports.count(), 2, "each import is audited: {log:?}");
    }

    #[tokio::test]
    async fn a_shops_place_is_both_numbers_on_the_earth_or_none() {
        let (_dir, store) = store();
        let csv = "serial,merchant_number,latitude,longitude\n\
                   N910000000001,898310048161234,31.2304,121.4737\n\
                   N910000000002,898310048161235,31.2304,\n\
                   N910000000003,898310048161236,91,121\n\
                   N910000000004,898310048161237,北纬31度,121\n\
                   N910000000005,898310048161238,,\n";
        let report = import_terminals(&store, csv, audit).await.unwrap();
        assert_eq!(report.imported, 2, "{report:?}");
        let lines: Vec<u64> = report.bad.iter().map(|b| b.line).collect();
        assert_eq!(lines, [3, 4, 5], "{report:?}");
        assert!(report.bad[0].problem.contains("both"), "{report:?}");
        assert_eq!(store.merchant_place("898310048161234").await.unwrap(), Some((31_230_400, 121_473_700)));
        assert_eq!(store.merchant_place("898310048161238").await.unwrap(), None);
    }

    #[tokio::test]
    async fn an_unknown_column_refuses_the_file_at_line_one() {
        let (_dir, store) = store();
        let report = import_terminals(&store, "serial,colour\nN910000000001,red\n", audit).await.unwrap();
        assert_eq!(report.imported, 0);
        assert_eq!(report.bad[0].line, 1);
    }

    #[tokio::test]
    async fn an_export_imports_back_unchanged() {
        let (_dir, store) = store();
        let csv = "serial,model,state,production_date,sim_iccid,sim_carrier,sim_expiry\n\
                   N910000000001,N910,installed,2022-03-01,89860012345678901238,china_mobile,2026-12-01\n";
        assert_eq!(import_terminals(&store, csv, audit).await.unwrap().imported, 1);
        let before = store.all_terminals().await.unwrap();
        let exported = terminals_csv(&before);
        let report = import_terminals(&store, &exported, audit).await.unwrap();
        assert_eq!((report.imported, report.bad.len()), (1, 0), "{report:?}");
        assert_eq!(store.all_terminals().await.unwrap(), before);
    }

    #[tokio::test]
    async fn an_xlsx_export_imports_back_unchanged() {
        let (_dir, store) = store();
        let csv = "serial,model,merchant,merchant_number,state,production_date,sim_iccid,sim_carrier,sim_expiry\n\
                   N910000000001,N910,=老王便利店,898310048161234,installed,2022-03-01,89860012345678901238,china_mobile,2026-12-01\n";
        assert_eq!(import_terminals(&store, csv, audit).await.unwrap().imported, 1);
        let before = store.all_terminals().await.unwrap();
        let book = crate::office::xlsx::workbook("terminals", COLUMNS, &terminals_table(&before)).unwrap();
        let sheet = crate::office::xlsx::first_sheet_as_csv(&book).unwrap();
        let report = import_terminals(&store, &sheet, audit).await.unwrap();
        assert_eq!((report.imported, report.bad.len()), (1, 0), "{report:?}");
        assert_eq!(store.all_terminals().await.unwrap(), before);
    }

    #[test]
    fn csv_cells_never_start_a_formula() {
        // (cell, as exported)
        let cases = [
            ("=HYPERLINK(\"http://example.invalid\",\"x\")", "'=HYPERLINK(\"http://example.invalid\",\"x\")"),
            ("+1+cmd|' /C calc'!A0", "'+1+cmd|' /C calc'!A0"),
            ("-2+3", "'-2+3"),
            ("@SUM(1+1)", "'@SUM(1+1)"),
            ("\t=1+1", "'\t=1+1"),
            ("\r=1+1", "'\r=1+1"),
            ("老王便利店", "老王便利店"),
            ("a=b", "a=b"),
            ("2026-12-01", "2026-12-01"),
            ("'quoted", "'quoted"),
            ("", ""),
        ];
        for (cell, exported) in cases {
            assert_eq!(spreadsheet_safe(cell), exported, "{cell:?}");
            assert_eq!(from_spreadsheet(&spreadsheet_safe(cell)), cell, "{cell:?} reads back");
        }
        let row = VisitRow {
            id: "v1".into(),
            kind: "repair".into(),
            status: "draft".into(),
            merchant: "=cmd|' /C calc'!A0".into(),
            merchant_number: Some("@1".into()),
            merchant_phone: Some("=13812345678".into()),
            serial: Some("-P1".into()),
            assignee: "+wang".into(),
            created_at: 0,
            updated_at: 0,
            blobs_missing: 0,
        };
        let exported = visits_csv(&[row], UserRole::Admin);
        let mut reader =
            csv::ReaderBuilder::new().from_reader(exported.trim_start_matches('\u{feff}').as_bytes());
        for cell in reader.records().flat_map(|r| r.unwrap().iter().map(str::to_owned).collect::<Vec<_>>()) {
            assert!(!cell.starts_with(FORMULA_STARTS), "{cell:?} starts a formula");
        }
    }

    #[tokio::test]
    async fn a_formula_in_the_register_is_exported_as_text_and_imports_back_unchanged() {
        let (_dir, store) = store();
        let csv = "serial,merchant,model\nN910000000001,=cmd|' /C calc'!A0,@N910\n";
        assert_eq!(import_terminals(&store, csv, audit).await.unwrap().imported, 1);
        let before = store.all_terminals().await.unwrap();
        assert_eq!(before[0].merchant, "=cmd|' /C calc'!A0", "stored as typed");
        let exported = terminals_csv(&before);
        assert!(exported.contains("'=cmd|") && exported.contains("'@N910"), "{exported}");
        assert_eq!(import_terminals(&store, &exported, audit).await.unwrap().imported, 1);
        assert_eq!(store.all_terminals().await.unwrap(), before);
    }
}
