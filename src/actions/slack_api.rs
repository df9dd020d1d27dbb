//! Slack's Web API (`type: slack` with `token:` + `channel:`): the bodies of `chat.postMessage` and
//! `chat.update`, how its answers are classified (HTTP 200 is not enough: the body's `"ok"` says),
//! and its conversations (`ts` of the parent → `thread_ts` of a reply). Pure; the token is added
//! by the sender as `Authorization: Bearer …` and never appears in a body.

use std::time::{Duration, SystemTime};

use bytes::Bytes;
use serde_json::{Map, Value};

use super::RenderedRequest;
use super::threads::{ParentRef, ReplyOptions, ThreadProtocol};
use crate::policy::{Outcome, classify as classify_http, parse_retry_after};
use crate::secret::Secret;

/// Where `api_url` points unless the destination says otherwise.
pub const DEFAULT_API_URL: &str = "https://slack.com/api";

/// A Slack Web API destination's fields.
#[derive(Debug, Clone)]
pub struct SlackApi {
    /// `https://slack.com/api`, without a trailing `/`.
    pub api_url: String,
    /// The bot token (`xoxb-…`): sent as a bearer token, masked everywhere else.
    pub token: Secret,
    /// Channel id or name messages go to (replies go to the parent's channel).
    pub channel: String,
}

impl SlackApi {
    /// `{api_url}/{method}`, e.g. `chat.postMessage`.
    pub fn method_url(&self, method: &str) -> String {
        format!("{}/{method}", self.api_url.trim_end_matches('/'))
    }
}

/// Error codes worth trying again; every other `"ok": false` fails the same way again.
const TRANSIENT: &[&str] = &[
    "ratelimited",
    "rate_limited",
    "internal_error",
    "fatal_error",
    "service_unavailable",
    "request_timeout",
];

/// Without `Retry-After`, a `ratelimited` answer waits this long (Slack allows ~1 message/s/channel).
const RATELIMITED_WAIT: Duration = Duration::from_secs(1);

/// Classifies a Web API answer: HTTP 200 with `"ok": true` is delivered; `"ok": false` is retried
/// for the transient codes (honouring `Retry-After`) and dead for the others; a status other than
/// 200 follows the HTTP rules (429 and 5xx retried).
pub fn classify(status: u16, retry_after: Option<&str>, body: &[u8], now: SystemTime) -> Outcome {
    if status != 200 {
        return classify_http(status, retry_after, &String::from_utf8_lossy(body), now);
    }
    let Ok(Value::Object(answer)) = serde_json::from_slice::<Value>(body) else {
        return Outcome::Retry {
            after: None,
            reason: "HTTP 200 without a Slack API answer (JSON with `ok`)".into(),
        };
    };
    match answer.get("ok") {
        Some(Value::Bool(true)) => Outcome::Delivered { status },
        Some(Value::Bool(false)) => {
            let code = answer.get("error").and_then(Value::as_str).unwrap_or("unknown_error");
            let reason = format!("slack: {code}");
            if TRANSIENT.contains(&code) {
                let after = retry_after
                    .and_then(|v| parse_retry_after(v, now))
                    .or((code.contains("rate")).then_some(RATELIMITED_WAIT));
                Outcome::Retry { after, reason }
            } else {
                Outcome::Dead { reason }
            }
        }
        _ => Outcome::Retry {
            after: None,
            reason: "HTTP 200 without a Slack API answer (JSON with `ok`)".into(),
        },
    }
}

/// The rendered message as a JSON object (a Slack action renders `{text?, blocks?}`).
fn message(body: &[u8]) -> Result<Map<String, Value>, String> {
    match serde_json::from_slice(body) {
        Ok(Value::Object(m)) => Ok(m),
        _ => Err("the rendered Slack message is not a JSON object".into()),
    }
}

fn json(body: &Map<String, Value>) -> RenderedRequest {
    RenderedRequest {
        body: Bytes::from(Value::Object(body.clone()).to_string()),
        content_type: Some("application/json; charset=utf-8".into()),
        notes: Vec::new(),
    }
}

/// The `chat.postMessage` body: the rendered message with `channel` (unless a reply set it already).
pub fn post_message(request: &RenderedRequest, channel: &str) -> Result<RenderedRequest, String> {
    let mut body = message(&request.body)?;
    body.entry("channel").or_insert_with(|| Value::String(channel.to_owned()));
    Ok(json(&body))
}

/// The `chat.update` body re-rendering the parent with this message's `text` and `blocks`.
pub fn update_message(request: &RenderedRequest, parent: &ParentRef) -> Result<RenderedRequest, String> {
    let (channel, ts) = parent_fields(parent)?;
    let sent = message(&request.body)?;
    let mut body = Map::new();
    body.insert("channel".into(), channel.into());
    body.insert("ts".into(), ts.into());
    for field in ["text", "blocks"] {
        if let Some(v) = sent.get(field) {
            body.insert(field.into(), v.clone());
        }
    }
    Ok(json(&body))
}

fn parent_fields(parent: &ParentRef) -> Result<(String, String), String> {
    let field = |name: &str| parent.0.get(name).and_then(Value::as_str).map(str::to_owned);
    match (field("channel"), field("ts")) {
        (Some(c), Some(t)) => Ok((c, t)),
        _ => Err("the stored Slack thread reference has no `channel` and `ts`".into()),
    }
}

/// Slack's conversations: the parent is `{channel, ts}` of the `chat.postMessage` answer; a reply
/// goes to that channel with `thread_ts`.
pub struct SlackThreads;

impl ThreadProtocol for SlackThreads {
    fn reference(&self, response: &[u8]) -> Option<ParentRef> {
        let answer: Value = serde_json::from_slice(response).ok()?;
        let channel = answer.get("channel")?.as_str()?;
        let ts = answer.get("ts")?.as_str()?;
        Some(ParentRef(serde_json::json!({ "channel": channel, "ts": ts })))
    }

    fn apply_parent(
        &self,
        request: &RenderedRequest,
        parent: &ParentRef,
        options: ReplyOptions,
    ) -> Result<RenderedRequest, String> {
        let (channel, ts) = parent_fields(parent)?;
        let mut body = message(&request.body)?;
        body.insert("channel".into(), channel.into());
        body.insert("thread_ts".into(), ts.into());
        if options.broadcast {
            body.insert("reply_broadcast".into(), Value::Bool(true));
        }
        Ok(json(&body))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> SystemTime {
        httpdate::parse_http_date("Sun, 29 Nov 2026 00:00:00 GMT").expect("date")
    }

    /// What an outcome comes to, without its wording: `delivered`, `retry`, `retry 30s`, `dead`.
    fn verdict(o: &Outcome) -> String {
        match o {
            Outcome::Delivered { .. } => "delivered".into(),
            Outcome::Retry { after: None, .. } => "retry".into(),
            Outcome::Retry { after: Some(a), .. } => format!("retry {}s", a.as_secs()),
            Outcome::Dead { .. } => "dead".into(),
        }
    }

    fn check(status: u16, retry_after: Option<&str>, body: &str, expected: &str) {
        let outcome = classify(status, retry_after, body.as_bytes(), now());
        assert_eq!(verdict(&outcome), expected, "{status} {retry_after:?} {body}");
    }

    #[test]
    fn web_api_answers_are_classified_by_their_body() {
        check(200, None, r#"{"ok":true,"channel":"C1","ts":"1.2"}"#, "delivered");
        check(200, None, r#"{"ok":true,"warning":"missing_charset"}"#, "delivered");
        check(200, None, r#"{"ok":false,"error":"ratelimited"}"#, "retry 1s");
        check(200, Some("30"), r#"{"ok":false,"error":"ratelimited"}"#, "retry 30s");
        check(200, None, r#"{"ok":false,"error":"rate_limited"}"#, "retry 1s");
        check(200, None, r#"{"ok":false,"error":"internal_error"}"#, "retry");
        check(200, None, r#"{"ok":false,"error":"fatal_error"}"#, "retry");
        check(200, None, r#"{"ok":false,"error":"service_unavailable"}"#, "retry");
        check(200, None, r#"{"ok":false,"error":"request_timeout"}"#, "retry");
        check(429, Some("7"), r#"{"ok":false,"error":"ratelimited"}"#, "retry 7s");
        check(429, None, "", "retry");
        check(503, None, "", "retry");
        for permanent in [
            "invalid_auth",
            "not_authed",
            "channel_not_found",
            "not_in_channel",
            "is_archived",
            "msg_too_long",
            "no_text",
            "too_many_attachments",
            "invalid_blocks",
            "account_inactive",
            "token_revoked",
            "missing_scope",
        ] {
            check(200, None, &format!(r#"{{"ok":false,"error":"{permanent}"}}"#), "dead");
        }
        check(200, None, r#"{"ok":false}"#, "dead");
        check(200, None, "ok", "retry");
        check(200, None, r#"{"channel":"C1"}"#, "retry");
        check(404, None, "", "dead");
        check(403, None, "invalid_token", "dead");
    }

    #[test]
    fn the_reason_names_the_slack_error() {
        let o = classify(200, None, br#"{"ok":false,"error":"channel_not_found"}"#, now());
        assert_eq!(o, Outcome::Dead { reason: "slack: channel_not_found".into() });
    }

    fn rendered(body: &str) -> RenderedRequest {
        RenderedRequest {
            body: Bytes::from(body.to_owned()),
            content_type: Some("application/json".into()),
            notes: Vec::new(),
        }
    }

    fn body_of(r: &RenderedRequest) -> Value {
        serde_json::from_slice(&r.body).expect("json")
    }

    #[test]
    fn post_message_adds_the_channel_and_a_reply_its_parent() {
        let msg = rendered(r#"{"text":"Order 7: paid"}"#);
        let first = post_message(&msg, "#ops").expect("ok");
        assert_eq!(body_of(&first), serde_json::json!({"channel": "#ops", "text": "Order 7: paid"}));
        let parent = SlackThreads.reference(br#"{"ok":true,"channel":"C1","ts":"1700.1","message":{}}"#);
        let parent = parent.expect("a reference");
        assert_eq!(parent.0, serde_json::json!({"channel": "C1", "ts": "1700.1"}));
        let reply = SlackThreads.apply_parent(&msg, &parent, ReplyOptions::default()).expect("ok");
        let reply = post_message(&reply, "#ops").expect("ok");
        assert_eq!(
            body_of(&reply),
            serde_json::json!({"channel": "C1", "thread_ts": "1700.1", "text": "Order 7: paid"})
        );
        let loud = SlackThreads.apply_parent(&msg, &parent, ReplyOptions { broadcast: true }).expect("ok");
        assert_eq!(body_of(&loud)["reply_broadcast"], Value::Bool(true));
        let update = update_message(&rendered(r#"{"text":"shipped","blocks":[]}"#), &parent).expect("ok");
        assert_eq!(
            body_of(&update),
            serde_json::json!({"channel": "C1", "ts": "1700.1", "text": "shipped", "blocks": []})
        );
    }

    #[test]
    fn answers_without_a_message_reference_open_no_thread() {
        for answer in [&b"ok"[..], br#"{"ok":true}"#, br#"{"ok":true,"channel":"C1"}"#, br#"{"ts":1}"#] {
            assert_eq!(SlackThreads.reference(answer), None, "{}", String::from_utf8_lossy(answer));
        }
        let stored = ParentRef::from_stored(r#"{"channel":"C1"}"#).expect("json");
        assert!(SlackThreads.apply_parent(&rendered("{}"), &stored, ReplyOptions::default()).is_err());
        assert!(post_message(&rendered("[1]"), "c").is_err());
    }
}
