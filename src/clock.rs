//! The wall clock and its text form, a leaf: every module that stamps or prints a time (the store's
//! rows, the handler's `received_at`, the CLI's listings, the reloader) uses these three functions,
//! so there is one definition of "now" and one RFC 3339 format. Deadlines and waits use
//! `tokio::time` instead, which tests can pause.

/// The time now in unix milliseconds.
pub fn now_ms() -> i64 {
    let d = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// The time now as RFC 3339, in the same form as [`rfc3339_ms`].
pub fn now_rfc3339() -> String {
    rfc3339_ms(now_ms())
}

/// Unix milliseconds as RFC 3339 in UTC, always with three fractional digits
/// (`2026-11-29T07:18:48.990Z`, not the shortest form `…48.99Z`), so times line up and sort as text.
pub fn rfc3339_ms(ms: i64) -> String {
    const FORMAT: &[time::format_description::BorrowedFormatItem<'_>] = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
    );
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| t.format(FORMAT).ok())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    #[test]
    fn times_always_have_three_fractional_digits() {
        let check = |ms: i64, text: &str| assert_eq!(super::rfc3339_ms(ms), text, "{ms}");
        check(0, "1970-01-01T00:00:00.000Z");
        check(1_764_659_928_990, "2025-12-02T07:18:48.990Z");
        check(1_764_659_928_009, "2025-12-02T07:18:48.009Z");
        check(1_764_659_928_123, "2025-12-02T07:18:48.123Z");
        let parsed = time::OffsetDateTime::parse(
            &super::rfc3339_ms(1_764_659_928_990),
            &time::format_description::well_known::Rfc3339,
        );
        assert_eq!(parsed.map(|t| t.unix_timestamp_nanos() / 1_000_000), Ok(1_764_659_928_990));
    }
}
