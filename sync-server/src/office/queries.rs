//! The back office's lists and alerts as the store is asked for them:
//! the visit list's filters from the query string, and the alert dates.
//! Days are China Standard Time (UTC+8), the fleet's time zone; the store
//! knows only Unix times and calendar dates.

pub use crate::store::{ALERT_ROWS, AlertList, Alerts, TerminalAlert, TerminalRow, VisitRow};
use crate::store::{AlertWindow, MerchantMatch, Principal, Store, StoreError, VisitQuery};

/// The fleet's offset from UTC, in seconds.
const CST: i64 = 8 * 3600;

/// `YYYY-MM-DD HH:MM` (UTC+8) of a Unix time in seconds.
pub fn format_time(seconds: i64) -> String {
    let Ok(t) = time::OffsetDateTime::from_unix_timestamp(seconds + CST) else { return String::new() };
    format!("{} {:02}:{:02}", t.date(), t.hour(), t.minute())
}

/// The day (UTC+8, `YYYY-MM-DD`) a Unix time falls on.
pub fn day_of(seconds: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(seconds + CST).map(|t| t.date().to_string()).unwrap_or_default()
}

/// The Unix time at which a day (`YYYY-MM-DD`, UTC+8) starts, if it is a date.
pub fn day_start(day: &str) -> Option<i64> {
    let date = posfield_shared::CalendarDate::parse(day.trim()).ok()?;
    let (y, m, d) = date.ymd();
    let date = time::Date::from_calendar_date(y, time::Month::try_from(m).ok()?, d).ok()?;
    Some(date.midnight().assume_utc().unix_timestamp() - CST)
}

/// The day `days` after `day` (`YYYY-MM-DD`).
pub fn add_days(day: &str, days: i64) -> String {
    day_start(day).map(|s| day_of(s + days * 86_400)).unwrap_or_default()
}

/// Whole days from `from` to `to` (both `YYYY-MM-DD`).
pub fn days_between(from: &str, to: &str) -> Option<i64> {
    Some((day_start(to)? - day_start(from)?) / 86_400)
}

/// The visit list's filters; empty strings mean "any".
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(default)]
pub struct VisitFilter {
    /// Status code.
    pub status: String,
    /// Kind code.
    pub kind: String,
    /// Assigned agent (exact).
    pub agent: String,
    /// Part of the merchant's name or its merchant number.
    pub merchant: String,
    /// Start of the terminal serial.
    pub serial: String,
    /// First day (`YYYY-MM-DD`) of the last change.
    pub from: String,
    /// Last day (`YYYY-MM-DD`) of the last change.
    pub to: String,
    /// The key after which the page starts: `updated_at:id`.
    pub after: String,
}

impl VisitFilter {
    /// The filter as a query string (without `after`), for links.
    pub fn query(&self) -> String {
        let pairs = [
            ("status", &self.status),
            ("kind", &self.kind),
            ("agent", &self.agent),
            ("merchant", &self.merchant),
            ("serial", &self.serial),
            ("from", &self.from),
            ("to", &self.to),
        ];
        pairs
            .iter()
            .filter(|(_, v)| !v.is_empty())
            .map(|(k, v)| format!("{k}={}", url_encode(v)))
            .collect::<Vec<_>>()
            .join("&")
    }
}

/// Percent-encodes a query value.
pub fn url_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

impl VisitFilter {
    /// The filter as the store's query: empty fields match anything, a
    /// merchant of digits only is a merchant number, days are UTC+8.
    pub fn to_query(&self) -> VisitQuery {
        let text = |v: &str| Some(v.trim().to_owned()).filter(|v| !v.is_empty());
        let merchant = self.merchant.trim();
        VisitQuery {
            status: text(&self.status),
            kind: text(&self.kind),
            assignee: text(&self.agent),
            merchant: if merchant.is_empty() {
                None
            } else if merchant.bytes().all(|b| b.is_ascii_digit()) {
                Some(MerchantMatch::Number(merchant.to_owned()))
            } else {
                Some(MerchantMatch::NameContains(merchant.to_owned()))
            },
            serial_prefix: text(&self.serial.to_ascii_uppercase()),
            updated_from: day_start(&self.from),
            updated_before: day_start(&self.to).map(|to| to + 86_400),
            after: self
                .after
                .split_once(':')
                .and_then(|(at, id)| Some((at.parse::<i64>().ok()?, id.to_owned()))),
        }
    }
}

/// A page of the visits `principal` reaches that match `filter`, and the
/// key (`updated_at:id`) of the next page.
pub async fn visits(
    store: &dyn Store,
    principal: &Principal,
    filter: &VisitFilter,
    limit: usize,
) -> Result<(Vec<VisitRow>, Option<String>), StoreError> {
    let (rows, next) = store.visit_list(principal, &filter.to_query(), limit).await?;
    Ok((rows, next.map(|(at, id)| format!("{at}:{id}"))))
}

/// The alerts as of `today` (`YYYY-MM-DD`): SIM cards expiring within 30
/// days or expired, terminals 3 years old or more, warranties ending within
/// 60 days, terminals repaired twice or more in a year, and the visits
/// waiting for a decision or for photos.
pub async fn alerts(store: &dyn Store, principal: &Principal, today: &str) -> Result<Alerts, StoreError> {
    let three_years_ago = format!("{}{}", today[..4].parse::<i32>().unwrap_or(2000) - 3, &today[4..]);
    let window = AlertWindow {
        today: today.to_owned(),
        sim_until: add_days(today, 30),
        old_until: three_years_ago,
        warranty_until: add_days(today, 60),
        repairs_since: day_start(today).unwrap_or_default() - 365 * 86_400,
    };
    let mut alerts = store.alerts(principal, &window).await?;
    let days_left = |date: &str| days_between(today, date).unwrap_or_default();
    for alert in alerts.sim_expiring.rows.iter_mut().chain(&mut alerts.warranty_ending.rows) {
        alert.figure = days_left(&alert.date);
    }
    for alert in &mut alerts.old_terminals.rows {
        alert.figure = days_between(&alert.date, today).unwrap_or_default() / 365;
    }
    Ok(alerts)
}
