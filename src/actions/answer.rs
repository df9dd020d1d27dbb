//! What a provider's answer means, where the status alone does not say it: Telegram's
//! `{"ok":false,"error_code":…}` (a 429 carries `parameters.retry_after`), Teams' 2xx answers
//! whose text is an error, Discord's 429 whose wait is in the body when no header gives it.
//! Everything else follows [`crate::policy::classify`].

use std::time::{Duration, SystemTime};

use serde_json::Value;

use super::DestinationKind;
use crate::policy::{Outcome, classify};

/// The longest wait a provider's body may ask for; the retry policy clamps it again.
const MAX_BODY_WAIT: Duration = Duration::from_secs(3_600);

/// Classifies one HTTP answer of a `kind` destination. `retry_after` is the raw header.
pub fn classify_answer(
    kind: DestinationKind,
    status: u16,
    retry_after: Option<&str>,
    body: &str,
    now: SystemTime,
) -> Outcome {
    match kind {
        DestinationKind::Telegram => telegram(status, retry_after, body, now),
        DestinationKind::Teams => teams(status, retry_after, body, now),
        DestinationKind::Discord if status == 429 && retry_after.is_none() => {
            let after = json_seconds(body, &["retry_after"]);
            with_wait(classify(status, None, body, now), after)
        }
        _ => classify(status, retry_after, body, now),
    }
}

fn telegram(status: u16, retry_after: Option<&str>, body: &str, now: SystemTime) -> Outcome {
    let Ok(answer) = serde_json::from_str::<Value>(body) else {
        return classify(status, retry_after, body, now);
    };
    if answer.get("ok") == Some(&Value::Bool(true)) && (200..300).contains(&status) {
        return Outcome::Delivered { status };
    }
    let code = answer
        .get("error_code")
        .and_then(Value::as_u64)
        .and_then(|c| u16::try_from(c).ok())
        .unwrap_or(if (200..300).contains(&status) { 400 } else { status });
    let description = answer.get("description").and_then(Value::as_str).unwrap_or("no description");
    let reason = format!("telegram error {code}: {description}");
    match code {
        429 | 500..=599 => Outcome::Retry {
            after: json_seconds(body, &["parameters", "retry_after"])
                .or_else(|| retry_after.and_then(|v| crate::policy::parse_retry_after(v, now))),
            reason,
        },
        _ => Outcome::Dead { reason },
    }
}

fn teams(status: u16, retry_after: Option<&str>, body: &str, now: SystemTime) -> Outcome {
    let text = body.trim();
    // Workflows answer 202 with no body, the connector 200 with `1`; an error text with a 2xx
    // (e.g. "Summary or Text is required.") is a refused message.
    let fine = text.is_empty() || text == "1" || text.starts_with('{');
    match classify(status, retry_after, body, now) {
        Outcome::Delivered { status } if !fine => {
            let excerpt: String = text.chars().take(200).collect();
            let reason = format!("teams answered {status} with an error: {excerpt}");
            // The connector reports its own throttling this way ("… returned HTTP error 429").
            if text.contains("429") || text.to_ascii_lowercase().contains("throttl") {
                Outcome::Retry { after: None, reason }
            } else {
                Outcome::Dead { reason }
            }
        }
        other => other,
    }
}

/// A number of seconds at `path` in a JSON body (Discord sends a float).
fn json_seconds(body: &str, path: &[&str]) -> Option<Duration> {
    let v: Value = serde_json::from_str(body).ok()?;
    let secs = path.iter().try_fold(&v, |node, key| node.get(key))?.as_f64()?;
    (secs.is_finite() && secs >= 0.0).then(|| Duration::from_secs_f64(secs).min(MAX_BODY_WAIT))
}

fn with_wait(outcome: Outcome, after: Option<Duration>) -> Outcome {
    match outcome {
        Outcome::Retry { after: None, reason } => Outcome::Retry { after, reason },
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use DestinationKind as K;

    #[derive(Debug, PartialEq)]
    enum V {
        Delivered,
        Retry(Option<u64>),
        Dead,
    }

    fn check(kind: K, status: u16, retry_after: Option<&str>, body: &str, expected: V) {
        let now = httpdate::parse_http_date("Sun, 29 Nov 2026 00:00:00 GMT").expect("date");
        let got = match classify_answer(kind, status, retry_after, body, now) {
            Outcome::Delivered { .. } => V::Delivered,
            Outcome::Retry { after, .. } => V::Retry(after.map(|d| d.as_secs())),
            Outcome::Dead { .. } => V::Dead,
        };
        assert_eq!(got, expected, "{kind:?} {status} {retry_after:?} {body}");
    }

    /// The classification table of issue 15, per provider (tests/data/destinations.md 7–13).
    #[test]
    fn provider_answers() {
        // Telegram (section 11)
        check(K::Telegram, 200, None, r#"{"ok":true,"result":{"message_id":1}}"#, V::Delivered);
        let limited = r#"{"ok":false,"error_code":429,"description":"Too Many Requests: retry after 7","parameters":{"retry_after":7}}"#;
        check(K::Telegram, 429, None, limited, V::Retry(Some(7)));
        check(
            K::Telegram,
            400,
            None,
            r#"{"ok":false,"error_code":400,"description":"Bad Request: chat not found"}"#,
            V::Dead,
        );
        check(
            K::Telegram,
            403,
            None,
            r#"{"ok":false,"error_code":403,"description":"Forbidden: bot was blocked by the user"}"#,
            V::Dead,
        );
        check(
            K::Telegram,
            401,
            None,
            r#"{"ok":false,"error_code":401,"description":"Unauthorized"}"#,
            V::Dead,
        );
        check(K::Telegram, 200, None, r#"{"ok":false,"error_code":400,"description":"x"}"#, V::Dead);
        check(K::Telegram, 502, None, "<html>bad gateway</html>", V::Retry(None));
        check(
            K::Telegram,
            500,
            None,
            r#"{"ok":false,"error_code":500,"description":"Internal"}"#,
            V::Retry(None),
        );
        // Teams (sections 8, 9)
        check(K::Teams, 200, None, "1", V::Delivered);
        check(K::Teams, 202, None, "", V::Delivered);
        check(K::Teams, 200, None, "Summary or Text is required.", V::Dead);
        let throttled =
            "Webhook message delivery failed with error: Microsoft Teams endpoint returned HTTP error 429";
        check(K::Teams, 200, None, throttled, V::Retry(None));
        check(K::Teams, 413, None, "", V::Dead);
        check(K::Teams, 429, Some("2"), "", V::Retry(Some(2)));
        check(K::Teams, 400, None, "Bad payload", V::Dead);
        // Discord (section 7)
        check(K::Discord, 204, None, "", V::Delivered);
        check(K::Discord, 200, None, r#"{"id":"1"}"#, V::Delivered);
        let rl = r#"{"message":"You are being rate limited.","retry_after":1.5,"global":false}"#;
        check(K::Discord, 429, None, rl, V::Retry(Some(1)));
        check(K::Discord, 429, Some("4"), rl, V::Retry(Some(4)));
        check(K::Discord, 400, None, r#"{"code":50006,"message":"Cannot send an empty message"}"#, V::Dead);
        check(K::Discord, 401, None, r#"{"code":50027,"message":"Invalid Webhook Token"}"#, V::Dead);
        check(K::Discord, 404, None, r#"{"code":10015,"message":"Unknown Webhook"}"#, V::Dead);
        // Google Chat (section 12)
        check(K::GoogleChat, 200, None, r#"{"name":"spaces/S/messages/M"}"#, V::Delivered);
        check(K::GoogleChat, 429, None, "", V::Retry(None));
        check(K::GoogleChat, 400, None, "", V::Dead);
        check(K::GoogleChat, 403, None, "", V::Dead);
        check(K::GoogleChat, 404, None, "", V::Dead);
        // Mattermost (section 13)
        check(K::Mattermost, 200, None, "ok", V::Delivered);
        check(K::Mattermost, 400, None, "", V::Dead);
        check(K::Mattermost, 503, None, "", V::Retry(None));
        // PagerDuty (section 10)
        check(K::Pagerduty, 202, None, r#"{"status":"success","message":"Event processed"}"#, V::Delivered);
        check(K::Pagerduty, 400, None, r#"{"status":"invalid event"}"#, V::Dead);
        check(K::Pagerduty, 429, None, "", V::Retry(None));
        check(K::Pagerduty, 500, None, "", V::Retry(None));
    }
}
