//! The event list (with its total count), one event with its deliveries and match explanation,
//! and the delivery list. The explanation of a huge event is cut: a path that selected 14 000 nodes
//! shows the first [`SEEN_SHOWN`] and how many more (see [`cut_seen`]).

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use super::params::{self, Params, given};
use super::{AdminState, error, store_error};
use crate::store::{EventFilter, Filter};

/// How many selected values of one condition the event page shows.
pub const SEEN_SHOWN: usize = 10;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(in crate::admin) struct EventsQuery {
    source: Option<String>,
    #[serde(rename = "type")]
    event_type: Option<String>,
    rule: Option<String>,
    status: Option<String>,
    since: Option<String>,
    until: Option<String>,
    before: Option<String>,
    limit: Option<String>,
}

impl EventsQuery {
    fn filter(self) -> Result<EventFilter, params::Invalid> {
        let (since, until) =
            params::range(params::integer("since", self.since)?, params::integer("until", self.until)?)?;
        Ok(EventFilter {
            source: given(self.source),
            event_type: given(self.event_type),
            rule: given(self.rule),
            status: params::status(self.status)?,
            since,
            until,
            before: params::event_id("before", self.before)?,
            limit: params::limit(self.limit)?,
        })
    }
}

pub(in crate::admin) async fn events(
    State(state): State<AdminState>,
    Params(q): Params<EventsQuery>,
) -> Response {
    let filter = match q.filter() {
        Ok(f) => f,
        Err(e) => return e.into_response(),
    };
    let limit = filter.limit;
    match tokio::try_join!(state.store.events(filter.clone()), state.store.count_events(filter)) {
        Ok((events, total)) => {
            let next = (events.len() as i64 == limit).then(|| events.last().map(|e| e.id.clone())).flatten();
            Json(json!({ "events": events, "next": next, "total": total })).into_response()
        }
        Err(e) => store_error(&e),
    }
}

pub(in crate::admin) async fn event(State(state): State<AdminState>, Path(id): Path<String>) -> Response {
    let stored = match state.store.event(&id).await {
        Ok(Some(e)) => e,
        Ok(None) => return error(StatusCode::NOT_FOUND, &format!("no event `{id}`")),
        Err(e) => return store_error(&e),
    };
    let deliveries =
        match state.store.list(Filter { event_id: Some(id), limit: 500, ..Filter::default() }).await {
            Ok(d) => d,
            Err(e) => return store_error(&e),
        };
    // Its threaded deliveries and their threads (`thread:`).
    let threads = match state.store.threads_of_event(&stored.id).await {
        Ok(t) => t,
        Err(e) => return store_error(&e),
    };
    let config = state.reloader.current().load_full();
    let explanation = crate::dry_run::build(
        &config,
        Some(&stored.source),
        stored.body.clone(),
        &HeaderMap::new(),
        Some(&stored.event_type),
    );
    let (explanation, explanation_error) = match explanation {
        Ok(report) => {
            let mut v = serde_json::to_value(report).unwrap_or(Value::Null);
            cut_seen(&mut v, SEEN_SHOWN);
            (v, None)
        }
        Err(e) => (Value::Null, Some(e.to_string())),
    };
    Json(json!({
        "event": {
            "id": stored.id,
            "source": stored.source,
            "event_type": stored.event_type,
            "received_at": stored.received_at,
            "content_type": stored.content_type,
            "matched_rules": stored.matched_rules,
            "rules_version": stored.rules_version,
            "body": String::from_utf8_lossy(&stored.body),
        },
        "explanation": explanation,
        "explanation_error": explanation_error,
        "deliveries": deliveries,
        "threads": threads,
    }))
    .into_response()
}

/// Cuts every `seen` / `before` list of a condition trace to its first `shown` values, recording how
/// many were left out in `seen_more` / `before_more`.
pub fn cut_seen(v: &mut Value, shown: usize) {
    match v {
        Value::Object(map) => {
            for key in ["seen", "before"] {
                let more = match map.get_mut(key) {
                    Some(Value::Array(list)) if list.len() > shown => {
                        let more = list.len() - shown;
                        list.truncate(shown);
                        more
                    }
                    _ => continue,
                };
                map.insert(format!("{key}_more"), json!(more));
            }
            for (key, child) in map.iter_mut() {
                if key != "seen" && key != "before" {
                    cut_seen(child, shown);
                }
            }
        }
        Value::Array(list) => list.iter_mut().for_each(|c| cut_seen(c, shown)),
        _ => {}
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(in crate::admin) struct DeliveriesQuery {
    status: Option<String>,
    destination: Option<String>,
    rule: Option<String>,
    event: Option<String>,
    since: Option<String>,
    until: Option<String>,
    before: Option<String>,
    limit: Option<String>,
}

impl DeliveriesQuery {
    fn filter(self) -> Result<Filter, params::Invalid> {
        let (since, until) =
            params::range(params::integer("since", self.since)?, params::integer("until", self.until)?)?;
        Ok(Filter {
            status: params::status(self.status)?,
            event_id: given(self.event),
            destination: given(self.destination),
            rule: given(self.rule),
            since,
            until,
            before: params::integer("before", self.before)?,
            limit: params::limit(self.limit)?,
        })
    }
}

pub(in crate::admin) async fn deliveries(
    State(state): State<AdminState>,
    Params(q): Params<DeliveriesQuery>,
) -> Response {
    let filter = match q.filter() {
        Ok(f) => f,
        Err(e) => return e.into_response(),
    };
    let limit = filter.limit;
    match state.store.list(filter).await {
        Ok(rows) => {
            let next = (rows.len() as i64 == limit).then(|| rows.last().map(|d| d.id)).flatten();
            Json(json!({ "deliveries": rows, "next": next })).into_response()
        }
        Err(e) => store_error(&e),
    }
}

#[cfg(test)]
mod tests {
    use super::cut_seen;
    use serde_json::{Value, json};

    fn check(mut input: Value, shown: usize, expected: Value) {
        cut_seen(&mut input, shown);
        assert_eq!(input, expected);
    }

    #[test]
    fn long_seen_lists_are_cut_everywhere_in_the_trace() {
        check(json!({"seen": [1, 2]}), 2, json!({"seen": [1, 2]}));
        check(json!({"seen": [1, 2, 3]}), 2, json!({"seen": [1, 2], "seen_more": 1}));
        check(json!({"seen": []}), 0, json!({"seen": []}));
        check(
            json!({"rules": [{"condition": {"children": [{"seen": [1, 2, 3, 4], "before": [5, 6, 7]}]}}]}),
            1,
            json!({"rules": [{"condition": {"children": [
                {"seen": [1], "seen_more": 3, "before": [5], "before_more": 2}]}}]}),
        );
        let many: Vec<i64> = (0..14_000).collect();
        let mut v = json!({"seen": many});
        cut_seen(&mut v, 10);
        assert_eq!((v["seen"].as_array().map(Vec::len), &v["seen_more"]), (Some(10), &json!(13_990)));
    }
}
