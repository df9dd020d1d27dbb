//! Events of a source with a `key`: their routing is deferred into the store's ingest transaction
//! ([`StatefulRoute`]), where the key's previous committed event is known and locked, so `becomes`,
//! `changed` and `prev` see exactly the event committed before this one. The handler keeps the
//! rules matched ([`Outcome`]) to count them once the event is committed.

use std::sync::{Arc, Mutex};

use axum::http::HeaderMap;
use bytes::Bytes;

use crate::config::{Config, Source};
use crate::route::{self, ParsedEvent};
use crate::store::{EntityState, Routed, StatefulRoute};

/// What the deferred routing decided, read by the handler after the commit.
#[derive(Default)]
pub(super) struct Outcome(Mutex<Option<(Vec<String>, usize)>>);

impl Outcome {
    /// The rules matched and the deliveries planned (empty before routing ran).
    pub(super) fn get(&self) -> (Vec<String>, usize) {
        self.0.lock().map(|o| o.clone().unwrap_or_default()).unwrap_or_default()
    }
}

/// One event's routing, owned so it can run on the committer's task.
struct Deferred {
    config: Arc<Config>,
    id: String,
    source: String,
    event_type: String,
    body: serde_json::Value,
    raw: Bytes,
    content_type: Option<String>,
    received_at: String,
    headers: HeaderMap,
    outcome: Arc<Outcome>,
}

impl StatefulRoute for Deferred {
    fn route(&self, prev: Option<&[u8]>, waiting: &[String]) -> Routed {
        // The store holds only bodies that were verified and decoded when they arrived, as JSON.
        let prev: Option<serde_json::Value> = prev.and_then(|p| serde_json::from_slice(p).ok());
        let cancel = self.broken(waiting, prev.as_ref());
        let event = ParsedEvent {
            source: &self.source,
            event_type: &self.event_type,
            body: &self.body,
            raw_body: &self.raw,
            content_type: self.content_type.as_deref(),
            received_at: &self.received_at,
            headers: Some(&self.headers),
        };
        let planned = route::plan_prev(&self.config, &event, prev.as_ref());
        let mut matched_rules: Vec<String> = planned.iter().map(|p| p.rule.to_owned()).collect();
        matched_rules.dedup();
        let deliveries = super::hooks::deliveries(planned, &self.id);
        if let Ok(mut o) = self.outcome.0.lock() {
            *o = Some((matched_rules.clone(), deliveries.len()));
        }
        Routed { matched_rules, deliveries, cancel }
    }

    fn watches(&self) -> bool {
        let source = Some(self.source.as_str());
        self.config
            .rules
            .rules()
            .iter()
            .any(|r| r.still.is_some() && r.source.as_deref().is_none_or(|s| Some(s) == source))
    }
}

impl Deferred {
    /// The waiting rules whose `still:` this event breaks, each with the reason recorded on its
    /// cancelled deliveries. A rule no longer in the rules file (or without `still:`) keeps waiting.
    fn broken(&self, waiting: &[String], prev: Option<&serde_json::Value>) -> Vec<(String, String)> {
        let rules = self.config.rules.rules();
        waiting
            .iter()
            .filter_map(|name| {
                let still = rules.iter().find(|r| &r.name == name)?.still.as_ref()?;
                let mut memo = crate::rules::Memo::new(0);
                let holds = still.eval_prev(&self.body, Some(&self.headers), prev, &mut memo);
                (!holds).then(|| {
                    (
                        name.clone(),
                        format!("cancelled: event {} no longer meets `still` of rule {name}", self.id),
                    )
                })
            })
            .collect()
    }
}

/// The event's key when its source has one and the path selects one string or number.
pub(super) fn key_of(source: &Source, body: &serde_json::Value) -> Option<(String, String)> {
    let path = source.key.as_ref()?;
    route::entity_key(path, body).map(|k| (path.text().to_owned(), k))
}

/// The [`EntityState`] that defers this event's routing to the ingest transaction.
pub(super) fn defer(
    config: &Arc<Config>,
    (key_path, key): (String, String),
    event: &ParsedEvent<'_>,
    id: &str,
) -> (EntityState, Arc<Outcome>) {
    let outcome = Arc::new(Outcome::default());
    let deferred = Deferred {
        config: Arc::clone(config),
        id: id.to_owned(),
        source: event.source.to_owned(),
        event_type: event.event_type.to_owned(),
        body: event.body.clone(),
        raw: event.raw_body.clone(),
        content_type: event.content_type.map(str::to_owned),
        received_at: event.received_at.to_owned(),
        headers: event.headers.cloned().unwrap_or_default(),
        outcome: Arc::clone(&outcome),
    };
    let body = if is_form(event.content_type) {
        Bytes::from(serde_json::to_vec(event.body).unwrap_or_default())
    } else {
        event.raw_body.clone()
    };
    (EntityState { key_path, key, body, route: Arc::new(deferred) }, outcome)
}

/// Whether the body arrived as a form (its JSON is what decoding made of it, not its bytes).
fn is_form(content_type: Option<&str>) -> bool {
    content_type.is_some_and(|t| {
        t.split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .eq_ignore_ascii_case("application/x-www-form-urlencoded")
    })
}
