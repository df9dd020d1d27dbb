//! The wall clock and its text form, a leaf: every module that stamps or prints a time (the store's
//! rows, the handler's `received_at`, the CLI's listings, the reloader) uses these three functions,
//! so there is one definition of "now" and one RFC 3339 format. Deadlines and waits use
//! `tokio::time` instead, which tests can pause.

/// The time now in unix milliseconds.
pub fn now_ms() -> i64 {
    let d = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// The time now as RFC 3339.
pub fn now_rfc3339() -> String {
    time::OffsetDateTime::now_utc().format(&time::format_description::well_known::Rfc3339).unwrap_or_default()
}

/// Unix milliseconds as RFC 3339.
pub fn rfc3339_ms(ms: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok())
        .unwrap_or_default()
}
