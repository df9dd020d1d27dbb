//! PagerDuty Events API v2: `{routing_key, event_action, dedup_key?, payload: {summary, source,
//! severity, custom_details?}}`. The rendered (stored) body has no `routing_key`: the key is a
//! secret, put in by [`with_routing_key`] when sending. The action's `text` is the summary (cut to
//! 1 024 characters); its `thread` is the `dedup_key`, so a later `event_action: resolve` with the
//! same thread resolves the incident the first one opened.

use bytes::Bytes;
use serde_json::{Map, Value, json};
use sha2::Digest;

use super::RenderedRequest;
use crate::template::{RenderContext, RenderError, Shape, Templates, Text};

pub const MAX_SUMMARY_CHARS: usize = 1_024;
pub const MAX_DEDUP_KEY_BYTES: usize = 255;
/// PagerDuty refuses larger events; like Alertmanager, `custom_details` is dropped past this.
pub const MAX_EVENT_BYTES: usize = 512_000;
pub const DEFAULT_URL: &str = "https://events.pagerduty.com/v2/enqueue";
const SEVERITIES: [&str; 4] = ["critical", "error", "warning", "info"];
const EVENT_ACTIONS: [&str; 3] = ["trigger", "acknowledge", "resolve"];

#[derive(Debug, Clone)]
pub struct PagerdutyPlan {
    pub summary: Text,
    pub severity: Text,
    pub event_action: Text,
    pub source: Text,
    pub custom_details: Option<Shape>,
}

/// The rendered fields of one event.
pub struct PagerdutyEvent<'a> {
    pub summary: &'a str,
    pub severity: &'a str,
    pub event_action: &'a str,
    pub source: &'a str,
    pub custom_details: Option<Value>,
    pub dedup_key: Option<&'a str>,
}

impl PagerdutyPlan {
    pub fn render(
        &self,
        t: &Templates,
        ctx: &RenderContext,
        thread: Option<&str>,
    ) -> Result<RenderedRequest, RenderError> {
        let summary = t.render_text(&self.summary, ctx)?;
        let severity = t.render_text(&self.severity, ctx)?;
        let event_action = t.render_text(&self.event_action, ctx)?;
        let source = t.render_text(&self.source, ctx)?;
        let custom_details = self.custom_details.as_ref().map(|s| t.render_shape(s, ctx)).transpose()?;
        let event = PagerdutyEvent {
            summary: &summary,
            severity: severity.trim(),
            event_action: event_action.trim(),
            source: &source,
            custom_details,
            dedup_key: thread,
        };
        let (body, notes) =
            body(event).map_err(|(field, reason)| RenderError { template: field.into(), reason })?;
        Ok(RenderedRequest {
            body: Bytes::from(body.to_string()),
            content_type: Some("application/json".into()),
            notes,
        })
    }
}

/// A thread key as a `dedup_key`: itself when it fits PagerDuty's 255 bytes, else its SHA-256
/// (stable, so every message of the thread still names the same incident).
pub fn dedup_key(thread: &str) -> String {
    if thread.len() <= MAX_DEDUP_KEY_BYTES {
        thread.to_owned()
    } else {
        format!("sha256:{}", hex::encode(sha2::Sha256::digest(thread.as_bytes())))
    }
}

/// The event body without `routing_key`; an error names the field at fault.
pub fn body(e: PagerdutyEvent<'_>) -> Result<(Value, Vec<String>), (&'static str, String)> {
    if !EVENT_ACTIONS.contains(&e.event_action) {
        let expected = EVENT_ACTIONS.join(", ");
        return Err((
            "event_action",
            format!("{:?} is not an event action, expected one of: {expected}", e.event_action),
        ));
    }
    let mut body = Map::new();
    body.insert("event_action".into(), e.event_action.into());
    if let Some(thread) = e.dedup_key {
        body.insert("dedup_key".into(), dedup_key(thread).into());
    }
    let mut notes = Vec::new();
    if e.event_action != "trigger" {
        if e.dedup_key.is_none() {
            return Err((
                "thread",
                format!("`event_action: {}` needs `thread` (the incident's dedup_key)", e.event_action),
            ));
        }
        return Ok((Value::Object(body), notes));
    }
    if !SEVERITIES.contains(&e.severity) {
        let expected = SEVERITIES.join(", ");
        return Err(("severity", format!("{:?} is not a severity, expected one of: {expected}", e.severity)));
    }
    if e.summary.trim().is_empty() {
        return Err(("text", "the summary (`text`) is empty".into()));
    }
    let summary = match super::limit::chars(e.summary, MAX_SUMMARY_CHARS) {
        Some(cut) => {
            notes.push(super::limit::chars_note("summary", e.summary, MAX_SUMMARY_CHARS));
            cut
        }
        None => e.summary.to_owned(),
    };
    let source = if e.source.trim().is_empty() { "hookroute" } else { e.source };
    let mut payload = json!({"summary": summary, "source": source, "severity": e.severity});
    if let Some(details) = e.custom_details {
        payload["custom_details"] = details;
    }
    body.insert("payload".into(), payload);
    let mut body = Value::Object(body);
    if body.to_string().len() > MAX_EVENT_BYTES {
        if let Some(p) = body.get_mut("payload").and_then(Value::as_object_mut) {
            p.remove("custom_details");
        }
        notes.push(format!("custom_details dropped: the event was over PagerDuty's {MAX_EVENT_BYTES} bytes"));
    }
    Ok((body, notes))
}

/// The stored body with the destination's routing key, as sent. `None`: the body is not a JSON
/// object (it was not rendered for PagerDuty).
pub fn with_routing_key(body: &[u8], routing_key: &str) -> Option<Bytes> {
    let mut v: Value = serde_json::from_slice(body).ok()?;
    let object = v.as_object_mut()?;
    let mut out = Map::with_capacity(object.len() + 1);
    out.insert("routing_key".into(), routing_key.into());
    out.extend(std::mem::take(object));
    Some(Bytes::from(Value::Object(out).to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event<'a>(action: &'a str, severity: &'a str, thread: Option<&'a str>) -> PagerdutyEvent<'a> {
        PagerdutyEvent {
            summary: "Order 7 failed",
            severity,
            event_action: action,
            source: "hookroute",
            custom_details: None,
            dedup_key: thread,
        }
    }

    #[test]
    fn trigger_acknowledge_and_resolve() {
        let (b, _) = body(event("trigger", "error", Some("order-7"))).expect("builds");
        assert_eq!(
            b,
            json!({"event_action": "trigger", "dedup_key": "order-7",
                   "payload": {"summary": "Order 7 failed", "source": "hookroute", "severity": "error"}})
        );
        let (b, _) = body(event("resolve", "nonsense is fine here", Some("order-7"))).expect("builds");
        assert_eq!(b, json!({"event_action": "resolve", "dedup_key": "order-7"}));
        assert_eq!(body(event("resolve", "error", None)).expect_err("no key").0, "thread");
        assert_eq!(body(event("trigger", "fatal", None)).expect_err("bad").0, "severity");
        assert_eq!(body(event("open", "error", None)).expect_err("bad").0, "event_action");
    }

    #[test]
    fn limits_and_long_keys() {
        let long = "s".repeat(2_000);
        let (b, notes) =
            body(PagerdutyEvent { summary: &long, ..event("trigger", "info", None) }).expect("builds");
        assert_eq!(b["payload"]["summary"].as_str().expect("s").chars().count(), MAX_SUMMARY_CHARS);
        assert_eq!(notes.len(), 1);
        let key = "k".repeat(300);
        assert!(dedup_key(&key).starts_with("sha256:"));
        assert_eq!(dedup_key(&key), dedup_key(&key));
        assert_eq!(dedup_key("order-7"), "order-7");
        let details = json!({"blob": "x".repeat(MAX_EVENT_BYTES)});
        let (b, notes) =
            body(PagerdutyEvent { custom_details: Some(details), ..event("trigger", "info", None) })
                .expect("builds");
        assert!(b["payload"].get("custom_details").is_none());
        assert!(notes[0].contains("custom_details dropped"));
    }

    #[test]
    fn the_routing_key_is_added_when_sending() {
        let sent = with_routing_key(br#"{"event_action":"trigger"}"#, "R0UT1NG").expect("json");
        let v: Value = serde_json::from_slice(&sent).expect("json");
        assert_eq!(v, json!({"routing_key": "R0UT1NG", "event_action": "trigger"}));
        assert!(with_routing_key(b"[1]", "k").is_none());
    }
}
