//! Points in time, calendar dates and Beijing time: the one home of date
//! arithmetic and of the fleet's time zone.
//!
//! The device's clock is read by the agent core or the server and handed to
//! the domain as a [`Timestamp`]; this crate never asks for the time itself.
//! Every calendar rule (leap days, month ends, adding days and years) and
//! every conversion between an instant and a wall clock is jiff's, here and
//! nowhere else: the app, the server and the certificate call these methods.
//!
//! People read times in Beijing time, the IANA zone Asia/Shanghai, wherever
//! the phone or the server happens to run.
//! The zone's rules are compiled into this crate (`jiff::tz::get!` takes
//! them from the bundled time-zone database at build time), so nothing here
//! reads the system's zoneinfo files: a phone without them, and this pure
//! crate, get the same answers.

use std::fmt;

use autosurgeon::{Hydrate, Reconcile};
use jiff::civil::{Date, DateTime, Time};
use jiff::tz::{Offset, TimeZone};
use jiff::{Span, ToSpan};
use serde::{Deserialize, Serialize};

/// The fleet's time zone, in which days begin and times are shown.
static BEIJING: TimeZone = jiff::tz::get!("Asia/Shanghai");

/// The IANA name of the time zone times are shown in.
pub const BEIJING_ZONE: &str = "Asia/Shanghai";

/// Milliseconds since the Unix epoch, as recorded on the device that acted.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Reconcile, Hydrate,
)]
#[serde(transparent)]
pub struct Timestamp(pub i64);

impl Timestamp {
    /// The instant `seconds` whole seconds after the Unix epoch.
    pub fn from_seconds(seconds: i64) -> Self {
        Timestamp(seconds.saturating_mul(1000))
    }

    /// The instant a wall clock showed `date` `hour:minute:second`, read at
    /// the given UTC offset, or in Beijing time when there is none (a camera
    /// that wrote no offset was, as far as anyone knows, set to local time
    /// where the agents work).
    ///
    /// Second 60 (a leap second) is the first second of the next minute.
    /// `None` when the hour, minute or offset cannot be a clock's.
    pub fn from_wall_clock(
        date: CalendarDate,
        hour: u8,
        minute: u8,
        second: u8,
        utc_offset_minutes: Option<i16>,
    ) -> Option<Self> {
        let leap = u8::from(second == 60);
        let time = Time::new(
            i8::try_from(hour).ok()?,
            i8::try_from(minute).ok()?,
            i8::try_from(second - leap).ok()?,
            0,
        )
        .ok()?;
        let wall = DateTime::from_parts(date.0, time);
        let instant = match utc_offset_minutes {
            Some(minutes) => Offset::from_seconds(i32::from(minutes) * 60).ok()?.to_timestamp(wall).ok()?,
            None => BEIJING.to_timestamp(wall).ok()?,
        };
        Some(Timestamp(instant.as_millisecond().saturating_add(i64::from(leap) * 1000)))
    }

    /// Milliseconds since the Unix epoch.
    pub fn millis(self) -> i64 {
        self.0
    }

    /// Whole seconds since the Unix epoch (automerge's change time unit).
    pub fn seconds(self) -> i64 {
        self.0.div_euclid(1000)
    }

    /// The instant as jiff sees it; instants outside years -9999 to 9999
    /// are held at the nearest end, which no clock will ever reach.
    fn instant(self) -> jiff::Timestamp {
        let end = if self.0 < 0 { jiff::Timestamp::MIN } else { jiff::Timestamp::MAX };
        jiff::Timestamp::from_millisecond(self.0).unwrap_or(end)
    }

    /// The wall clock in Beijing at this instant.
    fn beijing_wall_clock(self) -> DateTime {
        BEIJING.to_datetime(self.instant())
    }

    /// The day this instant falls on in Beijing: the business day, the one
    /// "today" means in alerts, filters and the demo.
    pub fn beijing_date(self) -> CalendarDate {
        CalendarDate(self.beijing_wall_clock().date())
    }

    /// Beijing time to the minute, `YYYY-MM-DD HH:MM`, as people read it on
    /// pages, in summaries and on the certificate.
    pub fn beijing_words(self) -> String {
        let wall = self.beijing_wall_clock();
        format!("{} {:02}:{:02}", CalendarDate(wall.date()), wall.hour(), wall.minute())
    }

    /// RFC 3339 text in UTC with millisecond precision, e.g.
    /// `2026-11-23T08:30:00.000Z`: for logs and machines, not for people.
    pub fn to_rfc3339(self) -> String {
        format!("{:.3}", self.instant())
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
pub struct CalendarDate(Date);

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
        let year = i16::try_from(year).ok()?;
        Date::new(year, i8::try_from(month).ok()?, i8::try_from(day).ok()?).ok().map(Self)
    }

    /// Parses exactly `YYYY-MM-DD` (surrounding spaces ignored), the one
    /// form documents, the database and forms use; jiff's own parser would
    /// also take a date-time or a signed six-digit year.
    pub fn parse(text: &str) -> Result<Self, DateError> {
        let bad = || DateError { value: text.to_owned() };
        let bytes = text.trim().as_bytes();
        let digits = |range: std::ops::Range<usize>| -> Option<i32> {
            let part = bytes.get(range)?;
            part.iter()
                .all(u8::is_ascii_digit)
                .then(|| part.iter().fold(0, |n, d| n * 10 + i32::from(d - b'0')))
        };
        if bytes.len() != 10 || bytes[4] != b'-' || bytes[7] != b'-' {
            return Err(bad());
        }
        let (Some(year), Some(month), Some(day)) = (digits(0..4), digits(5..7), digits(8..10)) else {
            return Err(bad());
        };
        Self::from_ymd(year, u8::try_from(month).map_err(|_| bad())?, u8::try_from(day).map_err(|_| bad())?)
            .ok_or_else(bad)
    }

    /// The same day `years` years later (29 February becomes 28 February in
    /// a common year); held at the calendar's ends (years -9999 and 9999).
    pub fn add_years(self, years: i32) -> Self {
        Self(self.0.saturating_add(Span::new().try_years(years).unwrap_or_else(|_| saturated(years).years())))
    }

    /// The day `days` days later (earlier when negative); held at the
    /// calendar's ends.
    pub fn add_days(self, days: i64) -> Self {
        match Span::new().try_days(days) {
            Ok(span) => Self(self.0.saturating_add(span)),
            Err(_) if days < 0 => Self(Date::MIN),
            Err(_) => Self(Date::MAX),
        }
    }

    /// Whole days from `self` until `later` (negative when `later` is earlier).
    pub fn days_until(self, later: CalendarDate) -> i64 {
        i64::from((later.0 - self.0).get_days())
    }

    /// The instant this day begins in Beijing.
    pub fn beijing_start(self) -> Timestamp {
        let midnight = DateTime::from_parts(self.0, Time::midnight());
        match BEIJING.to_timestamp(midnight) {
            Ok(instant) => Timestamp(instant.as_millisecond()),
            Err(_) if self.0.year() < 0 => Timestamp(jiff::Timestamp::MIN.as_millisecond()),
            Err(_) => Timestamp(jiff::Timestamp::MAX.as_millisecond()),
        }
    }

    /// Year, month, day.
    pub fn ymd(self) -> (i32, u8, u8) {
        (i32::from(self.0.year()), self.0.month() as u8, self.0.day() as u8)
    }
}

/// The largest number of years jiff adds in one step, with `years`' sign.
fn saturated(years: i32) -> i64 {
    if years < 0 { -19_998 } else { 19_998 }
}

impl fmt::Display for CalendarDate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (y, m, d) = self.ymd();
        write!(f, "{y:04}-{m:02}-{d:02}")
    }
}

/// Stored and sent as its text, parsed strictly on the way back in: the
/// `FromStr`, serde and autosurgeon impls of a type with `parse` and `Display`.
macro_rules! stored_as_text {
    ($type:ty, $error:ty, $expected:literal) => {
        impl std::str::FromStr for $type {
            type Err = $error;

            fn from_str(text: &str) -> Result<Self, $error> {
                <$type>::parse(text)
            }
        }

        impl Serialize for $type {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.collect_str(self)
            }
        }

        impl<'de> Deserialize<'de> for $type {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let text = String::deserialize(deserializer)?;
                <$type>::parse(&text).map_err(serde::de::Error::custom)
            }
        }

        impl Reconcile for $type {
            type Key<'a> = autosurgeon::reconcile::NoKey;
            fn reconcile<R: autosurgeon::Reconciler>(&self, mut reconciler: R) -> Result<(), R::Error> {
                reconciler.str(self.to_string())
            }
        }

        impl Hydrate for $type {
            fn hydrate_string(value: &'_ str) -> Result<Self, autosurgeon::HydrateError> {
                <$type>::parse(value).map_err(|e| autosurgeon::HydrateError::unexpected($expected, e.value))
            }
        }
    };
}

stored_as_text!(CalendarDate, DateError, "a date YYYY-MM-DD");

/// A time of day on the wall clock in Beijing, such as the start or end of
/// the window a merchant asked for: `HH:MM`, from 00:00 to 23:59.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TimeOfDay(Time);

/// A time that is not `HH:MM` between 00:00 and 23:59.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a time of day (expected HH:MM, 00:00 to 23:59): {value:?}")]
pub struct TimeOfDayError {
    /// The text that failed to parse.
    pub value: String,
}

impl TimeOfDay {
    /// Builds a time from hours (0-23) and minutes (0-59).
    pub fn from_hm(hour: u8, minute: u8) -> Option<Self> {
        Time::new(i8::try_from(hour).ok()?, i8::try_from(minute).ok()?, 0, 0).ok().map(Self)
    }

    /// Parses exactly `HH:MM` (surrounding spaces ignored; `9:30` is taken
    /// as `09:30`, the way people type it).
    pub fn parse(text: &str) -> Result<Self, TimeOfDayError> {
        let bad = || TimeOfDayError { value: text.to_owned() };
        let (hour, minute) = text.trim().split_once(':').ok_or_else(bad)?;
        let number = |part: &str, digits: std::ops::RangeInclusive<usize>| -> Option<u8> {
            (digits.contains(&part.len()) && part.bytes().all(|b| b.is_ascii_digit()))
                .then(|| part.parse().ok())
                .flatten()
        };
        let (Some(hour), Some(minute)) = (number(hour, 1..=2), number(minute, 2..=2)) else {
            return Err(bad());
        };
        Self::from_hm(hour, minute).ok_or_else(bad)
    }

    /// Hours and minutes.
    pub fn hm(self) -> (u8, u8) {
        (self.0.hour() as u8, self.0.minute() as u8)
    }

    /// Minutes since midnight.
    pub fn minutes(self) -> u16 {
        let (h, m) = self.hm();
        u16::from(h) * 60 + u16::from(m)
    }
}

impl fmt::Display for TimeOfDay {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (h, m) = self.hm();
        write!(f, "{h:02}:{m:02}")
    }
}

stored_as_text!(TimeOfDay, TimeOfDayError, "a time of day HH:MM");

#[cfg(test)]
mod tests {
    use rstest::rstest;

    use super::*;

    fn date(text: &str) -> CalendarDate {
        CalendarDate::parse(text).unwrap()
    }

    /// Milliseconds of a UTC wall clock, written out so the expectations do
    /// not lean on the code under test.
    fn utc(text: &str) -> i64 {
        text.parse::<jiff::Timestamp>().unwrap().as_millisecond()
    }

    #[rstest]
    #[case::plain("09:30", Ok("09:30"))]
    #[case::one_digit_hour("9:30", Ok("09:30"))]
    #[case::spaces("  18:05 ", Ok("18:05"))]
    #[case::midnight("00:00", Ok("00:00"))]
    #[case::last_minute("23:59", Ok("23:59"))]
    #[case::hour_24("24:00", Err(()))]
    #[case::minute_60("10:60", Err(()))]
    #[case::one_digit_minute("10:5", Err(()))]
    #[case::seconds("10:05:00", Err(()))]
    #[case::full_width_colon("10：05", Err(()))]
    #[case::sign("+9:30", Err(()))]
    #[case::empty("", Err(()))]
    fn times_of_day_parse_strictly(#[case] text: &str, #[case] expected: Result<&str, ()>) {
        let parsed = TimeOfDay::parse(text).map(|t| t.to_string()).map_err(|_| ());
        assert_eq!(parsed, expected.map(str::to_owned));
    }

    #[test]
    fn times_of_day_order_by_the_clock() {
        let nine = TimeOfDay::parse("9:00").unwrap();
        let half_past_ten = TimeOfDay::parse("10:30").unwrap();
        assert!(nine < half_past_ten);
        assert_eq!(half_past_ten.minutes(), 630);
    }

    #[rstest]
    #[case::plain("2027-02-28", Ok("2027-02-28"))]
    #[case::spaces_trimmed(" 2027-02-28 ", Ok("2027-02-28"))]
    #[case::leap_day("2024-02-29", Ok("2024-02-29"))]
    #[case::no_leap_day_in_a_century("1900-02-29", Err(()))]
    #[case::leap_day_in_a_fourth_century("2000-02-29", Ok("2000-02-29"))]
    #[case::day_past_month_end("2027-02-30", Err(()))]
    #[case::short_fields("27-2-3", Err(()))]
    #[case::date_time_is_not_a_date("2027-02-28T08:00", Err(()))]
    #[case::signed_year("+002027-02-28", Err(()))]
    #[case::slashes("2027/02/28", Err(()))]
    #[case::plus_in_a_field("2027-+2-28", Err(()))]
    fn only_yyyy_mm_dd_calendar_days_parse(#[case] text: &str, #[case] expected: Result<&str, ()>) {
        let parsed = CalendarDate::parse(text).map(|d| d.to_string()).map_err(|_| ());
        assert_eq!(parsed, expected.map(str::to_owned));
    }

    // The cases where the hand-written copies this module replaced could
    // disagree, and the answer chosen:
    // - adding years to 29 February (`time`'s clamp in the domain, string
    //   surgery on the year in the alerts' "three years ago", which gave the
    //   non-date 2025-02-29): the last day of February;
    // - adding days across a month's or a leap year's end (seconds times
    //   86,400 in the server): the calendar's answer.
    #[rstest]
    #[case::leap_day_plus_a_year("2024-02-29", 1, 0, "2025-02-28")]
    #[case::leap_day_plus_four_years("2024-02-29", 4, 0, "2028-02-29")]
    #[case::leap_day_minus_three_years("2028-02-29", -3, 0, "2025-02-28")]
    #[case::plain_day_minus_three_years("2026-11-10", -3, 0, "2023-11-10")]
    #[case::thirty_days_over_a_month_end("2026-11-10", 0, 30, "2026-12-10")]
    #[case::sixty_days_over_a_year_end("2026-12-01", 0, 60, "2027-01-30")]
    #[case::days_over_a_leap_day("2028-02-28", 0, 1, "2028-02-29")]
    #[case::a_year_of_days_back_over_a_leap_day("2028-11-10", 0, -365, "2027-11-11")]
    #[case::days_past_the_calendar_end("9999-12-30", 0, 5, "9999-12-31")]
    #[case::days_beyond_any_span("2026-11-10", 0, i64::MAX, "9999-12-31")]
    #[case::years_beyond_any_span("2026-11-10", i32::MIN, 0, "-9999-01-01")]
    fn calendar_arithmetic_follows_the_calendar(
        #[case] start: &str,
        #[case] years: i32,
        #[case] days: i64,
        #[case] expected: &str,
    ) {
        let moved = date(start).add_years(years).add_days(days);
        let shown = match moved.ymd() {
            (y, m, d) if y < 0 => format!("-{:04}-{m:02}-{d:02}", -y),
            _ => moved.to_string(),
        };
        assert_eq!(shown, expected);
    }

    #[rstest]
    #[case::same_day("2026-11-10", "2026-11-10", 0)]
    #[case::over_a_leap_day("2028-02-01", "2028-03-01", 29)]
    #[case::backwards("2026-11-10", "2026-10-11", -30)]
    #[case::three_years("2023-11-10", "2026-11-10", 1_096)]
    fn days_until_counts_calendar_days(#[case] from: &str, #[case] to: &str, #[case] expected: i64) {
        assert_eq!(date(from).days_until(date(to)), expected);
    }

    // The day boundary: the server added a fixed eight hours to find the day
    // and its start, the agent core assumed +08:00 for photos, and the domain
    // offered only the UTC day. Beijing's day begins at 16:00 UTC; during
    // China's daylight saving time (1986 to 1991) at 15:00 UTC, which only
    // the zone knows.
    #[rstest]
    #[case::just_before_beijing_midnight("2026-11-18T15:59:59.999Z", "2026-11-18", "2026-11-18 23:59")]
    #[case::beijing_midnight("2026-11-18T16:00:00Z", "2026-11-19", "2026-11-19 00:00")]
    #[case::utc_midnight_is_eight_in_the_morning("2026-11-19T00:00:00Z", "2026-11-19", "2026-11-19 08:00")]
    #[case::leap_day_evening("2028-02-29T16:30:00Z", "2028-03-01", "2028-03-01 00:30")]
    #[case::daylight_saving_summer_1988("1988-07-01T15:30:00Z", "1988-07-02", "1988-07-02 00:30")]
    #[case::before_the_epoch("1969-12-31T20:00:00Z", "1970-01-01", "1970-01-01 04:00")]
    fn instants_are_read_in_beijing_time(#[case] instant: &str, #[case] day: &str, #[case] words: &str) {
        let t = Timestamp(utc(instant));
        assert_eq!((t.beijing_date().to_string(), t.beijing_words()), (day.to_owned(), words.to_owned()));
    }

    #[rstest]
    #[case::plain_day("2026-11-19", "2026-11-18T16:00:00Z")]
    #[case::leap_day("2028-02-29", "2028-02-28T16:00:00Z")]
    #[case::daylight_saving_summer_1988("1988-07-02", "1988-07-01T15:00:00Z")]
    fn a_day_begins_at_beijing_midnight(#[case] day: &str, #[case] instant: &str) {
        let start = date(day).beijing_start();
        assert_eq!(start.millis(), utc(instant));
        assert_eq!(start.beijing_date(), date(day));
        assert_eq!(Timestamp(start.millis() - 1).beijing_date(), date(day).add_days(-1));
    }

    // A camera's clock: EXIF gives the wall clock and, since EXIF 2.31, an
    // offset. Without one the old copy assumed a fixed +08:00; now the time
    // is read in Asia/Shanghai, which differs only for the summers of 1986
    // to 1991 (+09:00) and before 1901 (local mean time).
    #[rstest]
    #[case::offset_given_utc("2024-02-29", (12, 0, 0), Some(0), Some("2024-02-29T12:00:00Z"))]
    #[case::offset_given_east("2024-02-29", (12, 0, 0), Some(9 * 60), Some("2024-02-29T03:00:00Z"))]
    #[case::offset_given_west("2024-02-29", (12, 0, 0), Some(-5 * 60), Some("2024-02-29T17:00:00Z"))]
    #[case::no_offset_is_beijing_time("2024-02-29", (12, 0, 0), None, Some("2024-02-29T04:00:00Z"))]
    #[case::no_offset_early_morning_is_the_utc_day_before("2024-03-01", (7, 59, 0), None, Some("2024-02-29T23:59:00Z"))]
    #[case::no_offset_in_daylight_saving_1988("1988-07-01", (12, 0, 0), None, Some("1988-07-01T03:00:00Z"))]
    #[case::leap_second_is_the_next_minute("2016-12-31", (23, 59, 60), Some(0), Some("2017-01-01T00:00:00Z"))]
    #[case::hour_24_is_no_clock("2024-02-29", (24, 0, 0), Some(0), None)]
    #[case::minute_60_is_no_clock("2024-02-29", (12, 60, 0), Some(0), None)]
    #[case::offset_past_a_day_is_no_clock("2024-02-29", (12, 0, 0), Some(26 * 60), None)]
    fn wall_clocks_become_instants(
        #[case] day: &str,
        #[case] (hour, minute, second): (u8, u8, u8),
        #[case] offset: Option<i16>,
        #[case] expected: Option<&str>,
    ) {
        let instant = Timestamp::from_wall_clock(date(day), hour, minute, second, offset);
        assert_eq!(instant.map(Timestamp::millis), expected.map(utc));
    }

    #[test]
    fn timestamps_format_as_utc_for_machines() {
        assert_eq!(Timestamp(1_795_000_000_123).to_rfc3339(), "2026-11-18T11:06:40.123Z");
        assert_eq!(Timestamp(1_795_000_000_000).to_rfc3339(), "2026-11-18T11:06:40.000Z");
        assert_eq!(Timestamp(-1).to_rfc3339(), "1969-12-31T23:59:59.999Z");
        assert_eq!(Timestamp::from_seconds(1_795_000_000).millis(), 1_795_000_000_000);
    }

    #[test]
    fn instants_beyond_the_calendar_are_held_at_its_ends() {
        assert_eq!(Timestamp(i64::MAX).beijing_date().to_string(), "9999-12-31");
        assert_eq!(Timestamp(i64::MIN).beijing_date().ymd().0, -9999);
        assert_eq!(
            CalendarDate::from_ymd(9999, 12, 31).unwrap().add_days(1).beijing_start().beijing_date().ymd().0,
            9999
        );
    }
}
