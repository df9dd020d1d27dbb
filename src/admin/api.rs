//! The admin JSON endpoints (contract: docs/admin-api.md). Thin: each handler turns its query into
//! a store call or a reloader call and its result into JSON.

use std::path::PathBuf;
use std::time::Duration;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde::Deserialize;
use serde_json::{Value, json};

use super::AdminState;
use crate::clock::now_ms;
use crate::config::{Config, LoadError};
use crate::metrics::Gauges;
use crate::store::{EventFilter, Filter, ReplaySelector, Status, StoreError};

/// Destination health looks at attempts of the last hour, and at failures of the last day.
const HEALTH_WINDOW: Duration = Duration::from_secs(3600);
const ERROR_WINDOW: Duration = Duration::from_secs(24 * 3600);

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

#[derive(Deserialize)]
pub(super) struct EventsQuery {
    source: Option<String>,
    #[serde(rename = "type")]
    event_type: Option<String>,
    rule: Option<String>,
    status: Option<Status>,
    since: Option<i64>,
    until: Option<i64>,
    before: Option<String>,
    limit: Option<i64>,
}

/// Empty query values (`?source=`, as forms send them) mean "any".
fn given(v: Option<String>) -> Option<String> {
    v.filter(|s| !s.is_empty())
}

fn page_size(limit: Option<i64>) -> i64 {
    limit.filter(|l| *l > 0).unwrap_or(50).min(500)
}

pub(super) async fn events(State(state): State<AdminState>, Query(q): Query<EventsQuery>) -> Response {
    let limit = page_size(q.limit);
    let filter = EventFilter {
        source: given(q.source),
        event_type: given(q.event_type),
        rule: given(q.rule),
        status: q.status,
        since: q.since,
        until: q.until,
        before: given(q.before),
        limit,
    };
    match state.store.events(filter).await {
        Ok(events) => {
            let next = (events.len() as i64 == limit).then(|| events.last().map(|e| e.id.clone())).flatten();
            Json(json!({ "events": events, "next": next })).into_response()
        }
        Err(e) => store_error(&e),
    }
}

pub(super) async fn event(State(state): State<AdminState>, Path(id): Path<String>) -> Response {
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
        Ok(report) => (serde_json::to_value(report).unwrap_or(Value::Null), None),
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

#[derive(Deserialize)]
pub(super) struct DeliveriesQuery {
    status: Option<Status>,
    destination: Option<String>,
    rule: Option<String>,
    event: Option<String>,
    since: Option<i64>,
    until: Option<i64>,
    before: Option<i64>,
    limit: Option<i64>,
}

pub(super) async fn deliveries(
    State(state): State<AdminState>,
    Query(q): Query<DeliveriesQuery>,
) -> Response {
    let limit = page_size(q.limit);
    let filter = Filter {
        status: q.status,
        event_id: given(q.event),
        destination: given(q.destination),
        rule: given(q.rule),
        since: q.since,
        until: q.until,
        before: q.before,
        limit,
    };
    match state.store.list(filter).await {
        Ok(rows) => {
            let next = (rows.len() as i64 == limit).then(|| rows.last().map(|d| d.id)).flatten();
            Json(json!({ "deliveries": rows, "next": next })).into_response()
        }
        Err(e) => store_error(&e),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ReplayOneBody {
    /// Replay even a delivery that was `delivered` (the receiver gets it again).
    #[serde(default)]
    force: bool,
}

pub(super) async fn replay_one(
    State(state): State<AdminState>,
    Path(id): Path<i64>,
    Json(body): Json<ReplayOneBody>,
) -> Response {
    match state.store.replay(ReplaySelector::Ids(vec![id]), body.force, now_ms()).await {
        Ok(n) => {
            tracing::info!(delivery_id = id, force = body.force, "delivery replayed from the admin API");
            Json(json!({ "replayed": n })).into_response()
        }
        Err(e) => store_error(&e),
    }
}

#[derive(Deserialize)]
pub(super) struct ReplayBody {
    status: Status,
    since: Option<i64>,
    #[serde(default)]
    force: bool,
}

pub(super) async fn replay(State(state): State<AdminState>, Json(body): Json<ReplayBody>) -> Response {
    if body.status == Status::Delivered && !body.force {
        return error(
            StatusCode::CONFLICT,
            "replaying delivered deliveries sends them again: pass \"force\": true to do so",
        );
    }
    let selector = ReplaySelector::Status { status: body.status, since: body.since };
    match state.store.replay(selector, body.force, now_ms()).await {
        Ok(n) => {
            tracing::info!(
                replayed = n,
                status = body.status.as_str(),
                "deliveries replayed from the admin API"
            );
            Json(json!({ "replayed": n })).into_response()
        }
        Err(e) => store_error(&e),
    }
}

pub(super) async fn destinations(State(state): State<AdminState>) -> Response {
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

pub(super) async fn reload(State(state): State<AdminState>) -> Response {
    state.reloader.reload("admin API", true).await;
    Json(state.reloader.last_report()).into_response()
}

#[derive(Deserialize)]
pub(super) struct DryRunBody {
    event: Value,
    source: Option<String>,
    #[serde(default)]
    headers: std::collections::BTreeMap<String, String>,
    rules: Option<String>,
    /// The previous event of the same key (a JSON value or its text); absent: the first one.
    prev: Option<Value>,
}

pub(super) async fn dry_run(State(state): State<AdminState>, Json(body): Json<DryRunBody>) -> Response {
    let config: std::sync::Arc<Config> = match body.rules {
        None => state.reloader.current().load_full(),
        Some(text) => {
            let path = PathBuf::from("(posted rules)");
            match tokio::task::spawn_blocking(move || crate::config::compile_posted_on_own_stack(&path, text))
                .await
            {
                Ok(Ok(loaded)) => std::sync::Arc::new(loaded.config),
                Ok(Err(LoadError::Invalid(d))) => {
                    let diagnostics: Vec<String> = d.items.iter().map(|i| i.render(&d.file)).collect();
                    let message = format!("the posted rules have {} error(s)", d.error_count());
                    return (
                        StatusCode::UNPROCESSABLE_ENTITY,
                        Json(json!({ "error": message, "diagnostics": diagnostics })),
                    )
                        .into_response();
                }
                Ok(Err(e)) => return error(StatusCode::UNPROCESSABLE_ENTITY, &e.to_string()),
                Err(e) => {
                    return error(StatusCode::INTERNAL_SERVER_ERROR, &format!("compile task failed: {e}"));
                }
            }
        }
    };
    let raw = match body.event {
        Value::String(s) => Bytes::from(s),
        other => Bytes::from(serde_json::to_vec(&other).unwrap_or_default()),
    };
    let mut headers = HeaderMap::new();
    for (name, value) in &body.headers {
        match (HeaderName::from_bytes(name.as_bytes()), HeaderValue::from_str(value)) {
            (Ok(n), Ok(v)) => {
                headers.append(n, v);
            }
            _ => {
                return error(
                    StatusCode::BAD_REQUEST,
                    &format!("header `{name}` is not a valid HTTP header"),
                );
            }
        }
    }
    let prev = body.prev.map(|p| match p {
        Value::String(s) => s.into_bytes(),
        other => serde_json::to_vec(&other).unwrap_or_default(),
    });
    match crate::dry_run::build_with_prev(
        &config,
        body.source.as_deref(),
        raw,
        &headers,
        None,
        prev.as_deref(),
    ) {
        Ok(report) => Json(report).into_response(),
        Err(e) => error(StatusCode::UNPROCESSABLE_ENTITY, &e.to_string()),
    }
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
