//! The server's clock: the one place it reads the time of day.
//!
//! [`Clock`] is the clock credentials are checked and issued by. It is the
//! system's, moved by an offset that only tests and drills set
//! (`clock_offset_secs` in the configuration file): a whole-system test
//! starts a real server a year ahead instead of waiting a year.

/// Seconds since the Unix epoch.
pub fn now() -> i64 {
    now_millis() / 1000
}

/// Milliseconds since the Unix epoch (visit documents' time unit).
pub fn now_millis() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or_default()
}

/// The clock credentials are issued and checked by: the system's, moved by
/// a fixed number of seconds (none, outside tests and drills).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Clock {
    offset_secs: i64,
}

impl Clock {
    /// The system's clock.
    pub fn system() -> Clock {
        Clock::default()
    }

    /// The system's clock moved `offset_secs` ahead (behind when negative).
    pub fn offset_by(offset_secs: i64) -> Clock {
        Clock { offset_secs }
    }

    /// Seconds since the Unix epoch, by this clock.
    pub fn now(&self) -> i64 {
        now().saturating_add(self.offset_secs)
    }
}
