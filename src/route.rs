//! From a verified, parsed event to the deliveries it causes: which rules fire (in file order) and
//! each action's rendered request. Pure, shared by the server and the `test` dry run.

use bytes::Bytes;
use serde_json::Value;

use crate::actions::{Incoming, RenderedRequest};
use crate::config::Config;
use crate::template::{RenderContext, RenderError};

/// An event after verification and parsing.
pub struct ParsedEvent<'a> {
    pub source: &'a str,
    pub event_type: &'a str,
    pub body: &'a Value,
    pub raw_body: &'a Bytes,
    pub content_type: Option<&'a str>,
    pub received_at: &'a str,
}

/// One action of one fired rule, rendered (or the reason it could not be).
pub struct PlannedAction<'c> {
    pub rule: &'c str,
    pub action_index: usize,
    pub destination: &'c str,
    pub request: Result<RenderedRequest, RenderError>,
}

/// The actions the event triggers under `config`, in rule order then action order.
pub fn plan<'c>(config: &'c Config, event: &ParsedEvent<'_>) -> Vec<PlannedAction<'c>> {
    let fired = config.rules.matching(event.source, event.event_type, event.body);
    if fired.is_empty() {
        return Vec::new();
    }
    let ctx = RenderContext::new(event.event_type, event.body, event.source, event.received_at);
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
            })
        })
        .collect()
}

/// The event type House Check puts in the body: a string `type` at the top level.
pub fn event_type(body: &Value) -> Option<&str> {
    body.get("type")?.as_str()
}
