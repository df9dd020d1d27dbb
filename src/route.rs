//! From a verified, parsed event to the deliveries it causes: which rules fire (in file order) and
//! each action's rendered request. Pure, shared by the server and the `test` dry run.

use bytes::Bytes;
use serde_json::Value;

use crate::actions::{Incoming, RenderedRequest};
use crate::config::{Config, EventTypeSpec};
use crate::policy::Hours;
use crate::template::{RenderContext, RenderError};

/// An event after verification and parsing.
pub struct ParsedEvent<'a> {
    pub source: &'a str,
    pub event_type: &'a str,
    pub body: &'a Value,
    pub raw_body: &'a Bytes,
    pub content_type: Option<&'a str>,
    pub received_at: &'a str,
    /// The request's headers, for `header:` conditions (`None` in dry runs without headers).
    pub headers: Option<&'a http::HeaderMap>,
}

/// One action of one fired rule, rendered (or the reason it could not be).
pub struct PlannedAction<'c> {
    pub rule: &'c str,
    pub action_index: usize,
    pub destination: &'c str,
    pub request: Result<RenderedRequest, RenderError>,
    /// The rule's `after:` (the delivery is due this long after the event).
    pub after: Option<std::time::Duration>,
    /// The rule has `still:`: later events of the key may cancel the delivery while it waits.
    pub waits: bool,
    /// The action's `hours:`, else its destination's (`None`: no destination of that name).
    pub hours: Option<&'c Hours>,
}

impl PlannedAction<'_> {
    /// When the delivery is first due, given the event was accepted at `now`: after the rule's
    /// `after:`, then at the next opening of its hours. `None`: at once.
    pub fn due_at(&self, now: i64) -> Option<i64> {
        let after = self.after.map_or(0, |a| i64::try_from(a.as_millis()).unwrap_or(i64::MAX / 4));
        let due = self.hours.map_or(now + after, |h| h.next_open(now + after));
        (due != now).then_some(due)
    }
}

/// The hours a stored delivery keeps (its action's, else its destination's): retries wait for
/// the next opening too. Always open when the rule or destination is gone from the config.
pub fn hours_of<'c>(config: &'c Config, rule: &str, action_index: usize, destination: &str) -> &'c Hours {
    static ALWAYS: Hours = Hours::Always;
    let action =
        config.rules.rules().iter().find(|r| r.name == rule).and_then(|r| r.actions.get(action_index));
    action
        .and_then(|a| a.hours.as_ref())
        .or_else(|| config.destinations.get(destination).map(|d| &d.hours))
        .unwrap_or(&ALWAYS)
}

/// The actions the event triggers under `config`, in rule order then action order.
pub fn plan<'c>(config: &'c Config, event: &ParsedEvent<'_>) -> Vec<PlannedAction<'c>> {
    plan_prev(config, event, None)
}

/// [`plan`] given the previous event of the same entity key (`None`: none), for `becomes`,
/// `changed` and `prev` in templates.
pub fn plan_prev<'c>(
    config: &'c Config,
    event: &ParsedEvent<'_>,
    prev: Option<&Value>,
) -> Vec<PlannedAction<'c>> {
    let fired = config.rules.matching_prev(event.source, event.event_type, event.body, event.headers, prev);
    if fired.is_empty() {
        return Vec::new();
    }
    let ctx = RenderContext::with_prev(event.event_type, event.body, event.source, event.received_at, prev);
    let incoming = Incoming { raw_body: event.raw_body, content_type: event.content_type, ctx: &ctx };
    fired
        .into_iter()
        .flat_map(|rule| {
            let incoming = &incoming;
            rule.actions.iter().enumerate().map(move |(i, action)| PlannedAction {
                rule: &rule.name,
                action_index: i,
                destination: &action.destination,
                request: action.render(&config.templates, incoming),
                after: rule.after,
                waits: rule.still.is_some(),
                hours: action
                    .hours
                    .as_ref()
                    .or_else(|| config.destinations.get(&action.destination).map(|d| &d.hours)),
            })
        })
        .collect()
}

/// The entity key an event is about: what `key` selects when that is exactly one string or number
/// (as JSON text, so `"9001"` and `9001` differ); `None` otherwise (the event has no previous event).
pub fn entity_key(key: &crate::rules::Path, body: &Value) -> Option<String> {
    match key.select(body).as_slice() {
        [v @ (Value::String(_) | Value::Number(_))] => Some(v.to_string()),
        _ => None,
    }
}

/// The event type House Check puts in the body: a string `type` at the top level.
pub fn event_type(body: &Value) -> Option<&str> {
    body.get("type")?.as_str()
}

/// The event type where the source's sender puts it (see `EventTypeSpec`).
pub fn event_type_of(spec: &EventTypeSpec, headers: &http::HeaderMap, body: &Value) -> Option<String> {
    let text = |v: &Value| v.as_str().map(str::to_owned);
    match spec {
        EventTypeSpec::Path(path) => path.select(body).first().and_then(|v| text(v)),
        EventTypeSpec::Header(names) => {
            names.iter().find_map(|n| headers.get(n)).and_then(|v| v.to_str().ok()).map(str::to_owned)
        }
        EventTypeSpec::GitHub => {
            let event = headers.get("x-github-event")?.to_str().ok()?;
            Some(match body.get("action").and_then(Value::as_str) {
                Some(action) => format!("{event}.{action}"),
                None => event.to_owned(),
            })
        }
        EventTypeSpec::Slack => body
            .get("event")
            .and_then(|e| e.get("type"))
            .and_then(text)
            .or_else(|| event_type(body).map(str::to_owned)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn event_types_per_sender() {
        let mut h = http::HeaderMap::new();
        h.insert("x-github-event", "issues".parse().expect("value"));
        h.insert("x-shopify-topic", "orders/create".parse().expect("value"));
        let p = |s: &str| crate::rules::Path::parse(s).expect("path");
        assert_eq!(
            event_type_of(&EventTypeSpec::GitHub, &h, &json!({"action": "opened"})).as_deref(),
            Some("issues.opened")
        );
        assert_eq!(
            event_type_of(&EventTypeSpec::GitHub, &h, &json!({"ref": "x"})).as_deref(),
            Some("issues")
        );
        assert_eq!(
            event_type_of(&EventTypeSpec::GitHub, &h, &json!({"action": 5})).as_deref(),
            Some("issues")
        );
        assert_eq!(event_type_of(&EventTypeSpec::GitHub, &http::HeaderMap::new(), &json!({})), None);
        let shopify = EventTypeSpec::Header(vec![http::HeaderName::from_static("x-shopify-topic")]);
        assert_eq!(event_type_of(&shopify, &h, &json!({})).as_deref(), Some("orders/create"));
        assert_eq!(
            event_type_of(
                &EventTypeSpec::Slack,
                &h,
                &json!({"type": "event_callback", "event": {"type": "app_mention"}})
            )
            .as_deref(),
            Some("app_mention")
        );
        assert_eq!(
            event_type_of(&EventTypeSpec::Slack, &h, &json!({"type": "url_verification"})).as_deref(),
            Some("url_verification")
        );
        assert_eq!(
            event_type_of(&EventTypeSpec::Path(p("$.type")), &h, &json!({"type": "order.updated"}))
                .as_deref(),
            Some("order.updated")
        );
        assert_eq!(event_type_of(&EventTypeSpec::Path(p("$.type")), &h, &json!({"type": 5})), None);
    }
}
