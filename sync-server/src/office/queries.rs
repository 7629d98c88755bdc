//! The back office's lists and alerts as the store is asked for them:
//! the visit list's filters from the query string, and the alert dates.
//! Days are Beijing days, worked out by `posfield_shared::time`; the store
//! knows only Unix times and calendar dates.

use posfield_shared::{CalendarDate, Timestamp};

pub use crate::store::{ALERT_ROWS, AlertList, Alerts, TerminalAlert, TerminalRow, VisitRow};
use crate::store::{AlertWindow, MerchantMatch, Principal, Store, StoreError, VisitQuery};

/// The Beijing day (`YYYY-MM-DD`) a Unix time in seconds falls on.
pub fn day_of(seconds: i64) -> String {
    Timestamp::from_seconds(seconds).beijing_date().to_string()
}

/// The Unix time in seconds at which a day (`YYYY-MM-DD`, as typed in a
/// filter) begins in Beijing, if it is a date.
pub fn day_start(day: &str) -> Option<i64> {
    CalendarDate::parse(day).ok().map(|date| date.beijing_start().seconds())
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
    /// merchant of digits only is a merchant number, days are Beijing days.
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
            updated_before: CalendarDate::parse(&self.to)
                .ok()
                .map(|to| to.add_days(1).beijing_start().seconds()),
            after: self
                .after
                .split_once(':')
                .and_then(|(at, id)| Some((at.parse::<i64>().ok()?, id.to_owned()))),
            oldest_first: false,
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

/// One day in seconds.
const DAY_SECS: i64 = 86_400;

/// The dates the alerts are taken at, as of `now`: the one home of their
/// thresholds, for the alerts page and the job's brief alike
/// ([`crate::brief`]).
pub fn alert_window(now: Timestamp) -> AlertWindow {
    let today = now.beijing_date();
    AlertWindow {
        today: today.to_string(),
        sim_until: today.add_days(30).to_string(),
        old_until: today.add_years(-3).to_string(),
        warranty_until: today.add_days(60).to_string(),
        repairs_since: today.add_days(-365).beijing_start().seconds(),
        inspection_until: today.add_years(-1).to_string(),
        held_before: now.seconds() - 7 * DAY_SECS,
        recalled_before: now.seconds() - 14 * DAY_SECS,
    }
}

/// The alerts: SIM cards expiring within 30 days or
/// expired, terminals 3 years old or more, warranties ending within 60
/// days, terminals repaired twice or more in 365 days, terminals in service
/// not inspected for 12 months, terminals an agent has held more than 7
/// days (taken back and not checked in within 14), repairs not back by the
/// promised day, and the visits waiting for a decision or for photos, all
/// as of `now` (the server's [`crate::clock::Clock`], which tests move).
pub async fn alerts(store: &dyn Store, principal: &Principal, now: Timestamp) -> Result<Alerts, StoreError> {
    let today = now.beijing_date();
    let window = alert_window(now);
    let mut alerts = store.alerts(principal, &window).await?;
    let days = |from: &str, to: &str| match (CalendarDate::parse(from), CalendarDate::parse(to)) {
        (Ok(from), Ok(to)) => from.days_until(to),
        _ => 0,
    };
    let today = today.to_string();
    for alert in alerts.sim_expiring.rows.iter_mut().chain(&mut alerts.warranty_ending.rows) {
        alert.figure = days(&today, &alert.date);
    }
    for alert in &mut alerts.old_terminals.rows {
        alert.figure = days(&alert.date, &today) / 365;
    }
    for alert in &mut alerts.inspection_due.rows {
        alert.figure = days(&alert.date, &today);
    }
    // Custody alerts: days held (or days past the promised day).
    for alert in alerts.held_too_long.rows.iter_mut().chain(&mut alerts.recalled_not_checked_in.rows) {
        alert.figure = (now.seconds() - alert.figure) / DAY_SECS;
    }
    for alert in &mut alerts.repair_overdue.rows {
        alert.figure = days(&alert.date, &today);
    }
    Ok(alerts)
}
