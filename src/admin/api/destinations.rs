//! Destination health: attempts of the last hour and failures of the last day per destination.

use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::{AdminState, ms, store_error};
use crate::clock::now_ms;

/// Destination health looks at attempts of the last hour, and at failures of the last day.
const HEALTH_WINDOW: Duration = Duration::from_secs(3600);
const ERROR_WINDOW: Duration = Duration::from_secs(24 * 3600);

pub(in crate::admin) async fn destinations(State(state): State<AdminState>) -> Response {
    let now = now_ms();
    let stats = match state.store.destination_stats(now - ms(HEALTH_WINDOW), now - ms(ERROR_WINDOW)).await {
        Ok(s) => s,
        Err(e) => return store_error(&e),
    };
    let config = state.reloader.current().load_full();
    let mut names: Vec<&String> = config.destinations.keys().collect();
    names.sort_unstable();
    let mut out: Vec<Value> = Vec::new();
    let find = |name: &str| stats.iter().find(|s| s.name == name);
    for name in &names {
        let kind = config.destinations.get(*name).map(|d| d.kind.name().to_owned());
        out.push(destination_json(name, kind.as_deref(), find(name)));
    }
    // Deliveries still point at destinations a reload removed: show them so they are not hidden.
    for s in stats.iter().filter(|s| !config.destinations.contains_key(&s.name)) {
        out.push(destination_json(&s.name, None, Some(s)));
    }
    Json(json!({ "destinations": out })).into_response()
}

fn destination_json(name: &str, kind: Option<&str>, s: Option<&crate::store::DestinationStats>) -> Value {
    let default = crate::store::DestinationStats::default();
    let s = s.unwrap_or(&default);
    let rate = (s.attempts > 0).then(|| s.delivered as f64 / s.attempts as f64);
    json!({
        "name": name, "kind": kind, "in_rules": kind.is_some(),
        "attempts": s.attempts, "delivered": s.delivered, "success_rate": rate,
        "avg_latency_ms": s.avg_latency_ms, "max_latency_ms": s.max_latency_ms,
        "last_error": s.last_error, "last_error_at": s.last_error_at,
        "pending": s.pending, "held": s.held, "dead": s.dead,
    })
}
