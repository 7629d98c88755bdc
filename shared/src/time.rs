//! Points in time and calendar dates, always passed in by the caller.
//!
//! The device's clock is read by the agent core or the server and handed to
//! the domain as a [`Timestamp`]; this crate never asks for the time itself.

use std::fmt;

use autosurgeon::{Hydrate, Reconcile};
use serde::{Deserialize, Serialize};

/// Milliseconds since the Unix epoch, as recorded on the device that acted.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Reconcile, Hydrate,
)]
#[serde(transparent)]
pub struct Timestamp(pub i64);

impl Timestamp {
    /// Milliseconds since the Unix epoch.
    pub fn millis(self) -> i64 {
        self.0
    }

    /// Whole seconds since the Unix epoch (automerge's change time unit).
    pub fn seconds(self) -> i64 {
        self.0.div_euclid(1000)
    }

    /// The UTC calendar day this instant falls on.
    pub fn utc_date(self) -> CalendarDate {
        let date = time::OffsetDateTime::from_unix_timestamp(self.seconds())
            .map(|t| t.date())
            .unwrap_or(time::Date::MIN);
        CalendarDate(date)
    }

    /// RFC 3339 text in UTC with millisecond precision, e.g. `2026-11-23T08:30:00.000Z`.
    pub fn to_rfc3339(self) -> String {
        let nanos = i128::from(self.0) * 1_000_000;
        match time::OffsetDateTime::from_unix_timestamp_nanos(nanos) {
            Ok(t) => t
                .format(&time::macros::format_description!(
                    "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
                ))
                .unwrap_or_else(|_| self.0.to_string()),
            Err(_) => self.0.to_string(),
        }
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_rfc3339())
    }
}

/// A calendar day without a time zone, such as a SIM card's expiry or a
/// terminal's production date. Stored as `YYYY-MM-DD`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CalendarDate(time::Date);

/// A date that is not a valid `YYYY-MM-DD` calendar day.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a calendar date (expected YYYY-MM-DD): {value:?}")]
pub struct DateError {
    /// The text that failed to parse.
    pub value: String,
}

impl CalendarDate {
    /// Builds a date from year, month (1-12) and day, if it exists.
    pub fn from_ymd(year: i32, month: u8, day: u8) -> Option<Self> {
        let month = time::Month::try_from(month).ok()?;
        time::Date::from_calendar_date(year, month, day).ok().map(Self)
    }

    /// Parses `YYYY-MM-DD`.
    pub fn parse(text: &str) -> Result<Self, DateError> {
        let format = time::macros::format_description!("[year]-[month]-[day]");
        time::Date::parse(text.trim(), &format).map(Self).map_err(|_| DateError { value: text.to_owned() })
    }

    /// The same day `years` years later (29 February becomes 28 February).
    pub fn add_years(self, years: i32) -> Self {
        let year = self.0.year() + years;
        let day = self.0.day().min(time::util::days_in_month(self.0.month(), year));
        Self(time::Date::from_calendar_date(year, self.0.month(), day).unwrap_or(self.0))
    }

    /// Whole days from `self` until `later` (negative when `later` is earlier).
    pub fn days_until(self, later: CalendarDate) -> i64 {
        (later.0 - self.0).whole_days()
    }

    /// Year, month, day.
    pub fn ymd(self) -> (i32, u8, u8) {
        (self.0.year(), self.0.month() as u8, self.0.day())
    }
}

impl fmt::Display for CalendarDate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (y, m, d) = self.ymd();
        write!(f, "{y:04}-{m:02}-{d:02}")
    }
}

impl Serialize for CalendarDate {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for CalendarDate {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        CalendarDate::parse(&text).map_err(serde::de::Error::custom)
    }
}

impl Reconcile for CalendarDate {
    type Key<'a> = autosurgeon::reconcile::NoKey;
    fn reconcile<R: autosurgeon::Reconciler>(&self, mut reconciler: R) -> Result<(), R::Error> {
        reconciler.str(self.to_string())
    }
}

impl Hydrate for CalendarDate {
    fn hydrate_string(value: &'_ str) -> Result<Self, autosurgeon::HydrateError> {
        CalendarDate::parse(value)
            .map_err(|e| autosurgeon::HydrateError::unexpected("a date YYYY-MM-DD", e.value))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_parse_and_print_round_trip() {
        let date = CalendarDate::parse("2027-02-28").unwrap();
        assert_eq!(date.to_string(), "2027-02-28");
        assert!(CalendarDate::parse("2027-02-30").is_err());
        assert!(CalendarDate::parse("27-2-3").is_err());
    }

    #[test]
    fn adding_years_clamps_leap_day() {
        let leap = CalendarDate::parse("2024-02-29").unwrap();
        assert_eq!(leap.add_years(3).to_string(), "2027-02-28");
    }

    #[test]
    fn timestamps_format_as_utc() {
        assert_eq!(Timestamp(1_795_000_000_123).to_rfc3339(), "2026-11-18T11:06:40.123Z");
        assert_eq!(Timestamp(1_795_000_000_123).utc_date().to_string(), "2026-11-18");
    }
}
