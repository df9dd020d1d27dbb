//! What one attempt's result means for the delivery: done, try again later, or give up.
//!
//! 2xx is delivered. 408, 425, 429, 5xx, timeouts and connection errors are worth retrying, and a
//! `Retry-After` (seconds or an HTTP date) says when. Any other 4xx will fail the same way again.

use std::time::{Duration, SystemTime};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Delivered {
        status: u16,
    },
    /// Try again; `after` is the destination's own `Retry-After`, when it gave one.
    Retry {
        after: Option<Duration>,
        reason: String,
    },
    Dead {
        reason: String,
    },
}

/// Classifies an HTTP response. `retry_after` is the raw header; `now` makes HTTP dates testable.
pub fn classify(status: u16, retry_after: Option<&str>, body_excerpt: &str, now: SystemTime) -> Outcome {
    let detail = |what: &str| {
        let excerpt = body_excerpt.trim();
        if excerpt.is_empty() {
            format!("{what} {status}")
        } else {
            format!("{what} {status}: {}", truncate(excerpt, 200))
        }
    };
    match status {
        200..=299 => Outcome::Delivered { status },
        408 | 425 | 429 | 500..=599 => Outcome::Retry {
            after: retry_after.and_then(|v| parse_retry_after(v, now)),
            reason: detail("HTTP"),
        },
        _ => Outcome::Dead { reason: detail("HTTP") },
    }
}

/// `Retry-After: 120` or `Retry-After: Wed, 21 Oct 2026 07:28:00 GMT`. A date in the past is zero.
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let when = httpdate::parse_http_date(value).ok()?;
    Some(when.duration_since(now).unwrap_or(Duration::ZERO))
}

fn truncate(text: &str, max: usize) -> &str {
    match text.char_indices().nth(max) {
        Some((i, _)) => &text[..i],
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> SystemTime {
        httpdate::parse_http_date("Sun, 29 Nov 2026 00:00:00 GMT").expect("date")
    }

    fn check(status: u16, retry_after: Option<&str>, expected: Outcome) {
        assert_eq!(classify(status, retry_after, "", now()), expected, "{status} {retry_after:?}");
    }

    fn retry(after: Option<u64>, status: u16) -> Outcome {
        Outcome::Retry { after: after.map(Duration::from_secs), reason: format!("HTTP {status}") }
    }

    fn dead(status: u16) -> Outcome {
        Outcome::Dead { reason: format!("HTTP {status}") }
    }

    #[test]
    fn classification_cases() {
        check(200, None, Outcome::Delivered { status: 200 });
        check(202, None, Outcome::Delivered { status: 202 });
        check(204, None, Outcome::Delivered { status: 204 });
        check(429, Some("3"), retry(Some(3), 429));
        check(429, Some("Sun, 29 Nov 2026 00:01:00 GMT"), retry(Some(60), 429));
        check(429, Some("Sat, 28 Nov 2026 00:00:00 GMT"), retry(Some(0), 429));
        check(429, Some("soon"), retry(None, 429));
        check(503, None, retry(None, 503));
        check(500, None, retry(None, 500));
        check(408, None, retry(None, 408));
        check(425, None, retry(None, 425));
        check(400, None, dead(400));
        check(401, None, dead(401));
        check(404, None, dead(404));
        check(410, None, dead(410));
        check(301, None, dead(301));
    }

    #[test]
    fn reasons_carry_a_short_body_excerpt() {
        let o = classify(400, None, "invalid_payload\n", now());
        assert_eq!(o, Outcome::Dead { reason: "HTTP 400: invalid_payload".into() });
        let long = "x".repeat(1000);
        let Outcome::Dead { reason } = classify(400, None, &long, now()) else { panic!("dead") };
        assert_eq!(reason.len(), "HTTP 400: ".len() + 200);
    }
}
