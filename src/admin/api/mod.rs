//! The admin JSON endpoints (contract: docs/admin-api.md). Thin: each handler turns its query into
//! a store call or a reloader call and its result into JSON. Query parameters are checked in
//! `params` (a bad one is a 400 `{"error": …}`), one file per group of endpoints.

mod activity;
mod destinations;
mod dry_run;
mod events;
mod params;
mod replay;

use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

pub(super) use activity::activity;
pub(super) use destinations::destinations;
pub(super) use dry_run::dry_run;
pub(super) use events::{deliveries, event, events};
pub(super) use replay::{replay, replay_one};

use super::AdminState;
use crate::clock::now_ms;
use crate::metrics::Gauges;
use crate::store::StoreError;

pub(super) fn error(status: StatusCode, message: &str) -> Response {
    (status, Json(json!({ "error": message }))).into_response()
}

fn store_error(e: &StoreError) -> Response {
    match e {
        StoreError::NotFound(m) => error(StatusCode::NOT_FOUND, m),
        StoreError::Conflict(m) => {
            error(StatusCode::CONFLICT, &format!("{m}: pass \"force\": true to do so"))
        }
        other => {
            // The reason goes to the log only: a driver's message can name hosts or users.
            tracing::error!("admin API: store failed: {other}");
            let mut r = error(StatusCode::SERVICE_UNAVAILABLE, "the store is unavailable; see the log");
            r.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
            r
        }
    }
}

fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

fn rules_json(state: &AdminState) -> Value {
    let config = state.reloader.current().load_full();
    let mut sources: Vec<&String> = config.sources.keys().collect();
    sources.sort_unstable();
    let mut destinations: Vec<&String> = config.destinations.keys().collect();
    destinations.sort_unstable();
    json!({
        "version": config.version,
        "path": state.reloader.path().display().to_string(),
        "rule_count": config.rules.len(),
        "sources": sources,
        "destinations": destinations,
        "loaded_at": state.reloader.loaded_at(),
        "last_reload": state.reloader.last_report(),
    })
}

pub(super) async fn overview(State(state): State<AdminState>) -> Response {
    let (counts, queue) = match tokio::try_join!(state.store.counts(), state.store.queue()) {
        Ok(both) => both,
        Err(e) => return store_error(&e),
    };
    let oldest = queue.oldest_started_at.map(|t| (now_ms() - t).max(0) as f64 / 1000.0);
    Json(json!({
        "rules": rules_json(&state),
        "counts": counts,
        "queue": {"depth": queue.depth, "oldest_pending_age_seconds": oldest},
    }))
    .into_response()
}

pub(super) async fn rules(State(state): State<AdminState>) -> Response {
    Json(rules_json(&state)).into_response()
}

pub(super) async fn reload(State(state): State<AdminState>) -> Response {
    state.reloader.reload("admin API", true).await;
    Json(state.reloader.last_report()).into_response()
}

pub(super) async fn metrics(State(state): State<AdminState>) -> Response {
    let config = state.reloader.current().load_full();
    let last = state.reloader.last_report();
    let mut gauges = Gauges {
        rules_version: config.version.clone(),
        reloads: state.reloader.outcome_counts().to_vec(),
        last_reload_success_unix: Some(state.reloader.loaded_at() as f64 / 1000.0),
        last_reload_successful: last.as_ref().is_none_or(|r| matches!(r.outcome, "applied" | "unchanged")),
        last_reload_duration: last.map(|r| Duration::from_secs_f64(r.duration_ms / 1000.0)),
        resident_memory_bytes: crate::metrics::resident_memory_bytes(),
        start_time_unix: state.started_at,
        ..Gauges::default()
    };
    // Metrics stay available when the store is not: its gauges are left out, and /readyz says why.
    match tokio::try_join!(state.store.queue(), state.store.counts()) {
        Ok((queue, counts)) => {
            gauges.queue_depth = Some(queue.depth);
            gauges.queue_oldest_age =
                Some(queue.oldest_started_at.map_or(Duration::ZERO, |t| {
                    Duration::from_millis(u64::try_from(now_ms() - t).unwrap_or(0))
                }));
            gauges.stored = vec![
                ("pending", counts.pending),
                ("failed", counts.failed),
                ("delivered", counts.delivered),
                ("dead", counts.dead),
                ("held", counts.held),
            ];
        }
        Err(e) => tracing::warn!("metrics: the store did not answer: {e}"),
    }
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], state.metrics.render(&gauges))
        .into_response()
}

pub(super) async fn readyz(State(state): State<AdminState>) -> Response {
    let version = state.reloader.current().load().version.clone();
    crate::server::readiness(version, &*state.store).await
}
