//! The server's clock: the one place it reads the time of day.

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
