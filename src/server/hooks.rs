//! `POST /hooks/{source}`: read the raw bytes (within limits), verify, decode, route, render, store
//! (deduplicated, group-committed), answer. `receive` and `accept` are the flow, one line per step;
//! each step is a small function below that refuses with its own status and metric reason, so
//! reordering the steps moves one line.

use std::borrow::Cow;
use std::sync::Arc;

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde_json::json;

use tokio::sync::OwnedSemaphorePermit;

use super::AppState;
use super::body::{self, BodyError, BodyLimits};
use super::budget::Reservation;
use super::keyed::{self, Outcome};
use crate::config::{Config, Settings, Source};
use crate::json::BodyDecodeError;
use crate::metrics::{Received, Rejection};
use crate::route::{self, ParsedEvent, PlannedAction};
use crate::store::{DedupKey, Inserted, NewDelivery, NewEvent};
use crate::verify::Verified;

/// `POST /hooks/{source}`, step by step: shed load, find the source, then [`accept`] the request.
pub async fn receive(
    State(state): State<AppState>,
    Path(source_name): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let Some(_permit) = admit(&state, &source_name) else {
        return busy("too many requests in flight");
    };
    if source_name == crate::rules::BUILTIN_SOURCE {
        state.metrics.received("", "", Received::Rejected(Rejection::UnknownSource));
        return reply(
            StatusCode::FORBIDDEN,
            "`hookroute` is the built-in source of hookroute's own events; it takes no requests",
        );
    }
    let config = state.config.load_full();
    let Some(source) = known_source(&state, &config, &source_name) else {
        return reply(StatusCode::NOT_FOUND, "unknown source");
    };
    match accept(&state, &config, &source_name, source, &headers, body).await {
        Ok(response) => response,
        Err(refusal) => {
            state.metrics.received(&source_name, "", Received::Rejected(refusal.reason));
            let mut response = reply(refusal.status, &refusal.message);
            if refusal.status == StatusCode::SERVICE_UNAVAILABLE {
                // Only the body budget refuses so: room comes back as soon as requests finish.
                response.headers_mut().insert(header::RETRY_AFTER, header::HeaderValue::from_static("1"));
            }
            response
        }
    }
}

/// A request of a known source: one step a line, each refusing with its own [`Refusal`] (counted
/// under the source by [`receive`]), then stored and answered. Authentication comes before any
/// other look at the request: the content type is only read once the signature is verified.
async fn accept(
    state: &AppState,
    config: &Arc<Config>,
    source_name: &str,
    source: &Source,
    headers: &HeaderMap,
    body: Body,
) -> Result<Response, Refusal> {
    let (raw, _held) = read_body(state, headers, body, &config.settings, source_name).await?;
    let verified = verify(source, headers, raw, source_name)?;
    let body = decode(headers, verified.body.bytes())?;
    let event_type = event_type(source, headers, &body)?;

    let request =
        Request { source_name, source, headers, verified: &verified, body: &body, event_type: &event_type };

    let id = uuid::Uuid::now_v7().to_string();
    let received_ms = crate::clock::now_ms();
    let (event, matched, deferred) = route_event(config, &request, &id, received_ms);
    storable(&event)?;
    Ok(store(state, event, &id, source_name, &event_type, &matched, deferred.as_deref()).await)
}

/// A verified, parsed request of a known source: what routing and storing read.
struct Request<'r> {
    source_name: &'r str,
    source: &'r Source,
    headers: &'r HeaderMap,
    verified: &'r Verified,
    body: &'r serde_json::Value,
    event_type: &'r str,
}

/// The event to store with its rendered deliveries, and the rules it matched (borrowed from the
/// config this request holds: counting matches allocates nothing). An event with an entity key is
/// routed later, in the ingest transaction (`keyed.rs`); its [`Outcome`] tells what matched.
fn route_event<'c>(
    config: &'c Arc<Config>,
    r: &Request<'_>,
    id: &str,
    received_ms: i64,
) -> (NewEvent, Vec<&'c str>, Option<Arc<Outcome>>) {
    let raw = r.verified.body.bytes();
    let received_at = crate::clock::rfc3339_ms(received_ms);
    let content_type = r.headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok());
    let event = ParsedEvent {
        source: r.source_name,
        event_type: r.event_type,
        body: r.body,
        raw_body: raw,
        content_type,
        received_at: &received_at,
        headers: Some(r.headers),
    };
    let key = keyed::key_of(r.source, r.body);
    let (state, outcome) = match key {
        Some(key) => {
            let (state, outcome) = keyed::defer(config, key, &event, id);
            (Some(state), Some(outcome))
        }
        None => (None, None),
    };
    let planned = if state.is_some() { Vec::new() } else { route::plan(config, &event) };
    let mut matched_for_metrics: Vec<&str> = planned.iter().map(|p| p.rule).collect();
    matched_for_metrics.dedup();
    let mut matched_rules: Vec<String> = planned.iter().map(|p| p.rule.to_owned()).collect();
    matched_rules.dedup();
    let new_event = NewEvent {
        id: id.to_owned(),
        source: r.source_name.to_owned(),
        event_type: r.event_type.to_owned(),
        received_at: received_ms,
        body: raw.clone(),
        content_type: content_type.map(str::to_owned),
        matched_rules,
        rules_version: config.version.clone(),
        dedup: r.source.dedup.as_ref().map(|d| DedupKey {
            key: super::dedup::key(&d.key, r.verified.delivery_id.as_deref(), r.headers, r.body, raw),
            expires_at: received_ms + i64::try_from(d.window.as_millis()).unwrap_or(i64::MAX / 4),
        }),
        deliveries: deliveries(planned, id),
        state,
    };
    (new_event, matched_for_metrics, outcome)
}

/// Why a request of a known source is refused before it is stored: counted as `reason`, answered
/// with `status` and `message`.
struct Refusal {
    reason: Rejection,
    status: StatusCode,
    message: Cow<'static, str>,
}

impl Refusal {
    fn new(reason: Rejection, status: StatusCode, message: impl Into<Cow<'static, str>>) -> Self {
        Self { reason, status, message: message.into() }
    }
}

fn reply(status: StatusCode, message: &str) -> Response {
    (status, Json(json!({ "error": message }))).into_response()
}

/// Load shedding: past the cap, answer 503 at once instead of queueing without bound. The permit
/// is held until the answer.
fn admit(state: &AppState, source_name: &str) -> Option<OwnedSemaphorePermit> {
    let permit = state.in_flight.clone().try_acquire_owned().ok();
    if permit.is_none() {
        tracing::warn!(source = %source_name, "too many requests in flight; shedding load");
        state.metrics.received("", "", Received::Rejected(Rejection::Overloaded));
    }
    permit
}

fn known_source<'c>(state: &AppState, config: &'c Config, source_name: &str) -> Option<&'c Source> {
    let source = config.sources.get(source_name);
    if source.is_none() {
        // Not labelled with the name: anyone can make up source names.
        state.metrics.received("", "", Received::Rejected(Rejection::UnknownSource));
    }
    source
}

/// The raw bytes, within the running config's size limit and read timeout, held in the shared
/// body-memory budget (the [`Reservation`] gives the bytes back when the request is answered).
async fn read_body(
    state: &AppState,
    headers: &HeaderMap,
    body: Body,
    settings: &Settings,
    source_name: &str,
) -> Result<(Bytes, Reservation), Refusal> {
    let limits = BodyLimits { max_bytes: settings.max_body_bytes, timeout: settings.read_timeout };
    body::read(body, headers, limits, &state.budget).await.map_err(|e| {
        let (reason, status) = match e {
            BodyError::TooLarge { .. } => (Rejection::BodyTooLarge, StatusCode::PAYLOAD_TOO_LARGE),
            BodyError::NoRoom => (Rejection::BodyBudget, StatusCode::SERVICE_UNAVAILABLE),
            BodyError::Timeout => (Rejection::ReadTimeout, StatusCode::REQUEST_TIMEOUT),
            BodyError::Unreadable => (Rejection::UnreadableBody, StatusCode::BAD_REQUEST),
        };
        if e != BodyError::Unreadable {
            tracing::warn!(source = %source_name, "request body refused: {e}");
        }
        Refusal::new(reason, status, e.to_string())
    })
}

/// The source's signature check on the raw bytes; the reason is logged, never answered.
fn verify(source: &Source, headers: &HeaderMap, raw: Bytes, source_name: &str) -> Result<Verified, Refusal> {
    source.verifier.verify(headers, raw, std::time::SystemTime::now()).map_err(|reason| {
        tracing::warn!(source = %source_name, "request refused: {reason}");
        Refusal::new(Rejection::Signature, StatusCode::UNAUTHORIZED, "unauthorized")
    })
}

/// The verified body's JSON value: JSON whatever its label, or a decoded form; else 415.
fn decode(headers: &HeaderMap, raw: &Bytes) -> Result<serde_json::Value, Refusal> {
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok());
    crate::json::decode_received(raw, content_type).map_err(|e| match e {
        BodyDecodeError::InvalidJson(_) => {
            Refusal::new(Rejection::InvalidJson, StatusCode::BAD_REQUEST, e.to_string())
        }
        BodyDecodeError::Unsupported => {
            Refusal::new(Rejection::UnsupportedMediaType, StatusCode::UNSUPPORTED_MEDIA_TYPE, e.to_string())
        }
    })
}

/// Text the stores keep as text must hold no NUL (PostgreSQL refuses it, and a refused event
/// would be retried by its sender for ever): refused here with a clear 400 instead.
fn storable(event: &NewEvent) -> Result<(), Refusal> {
    let fields = [
        ("the event type", Some(event.event_type.as_str())),
        ("the content type", event.content_type.as_deref()),
        ("the dedup key", event.dedup.as_ref().map(|d| d.key.as_str())),
    ];
    match fields.iter().find(|(_, v)| v.is_some_and(|v| v.contains('\0'))) {
        Some((what, _)) => Err(Refusal::new(
            Rejection::NulInText,
            StatusCode::BAD_REQUEST,
            format!("{what} contains a NUL character, which cannot be stored"),
        )),
        None => Ok(()),
    }
}

fn event_type(source: &Source, headers: &HeaderMap, body: &serde_json::Value) -> Result<String, Refusal> {
    route::event_type_of(&source.event_type, headers, body).ok_or_else(|| {
        Refusal::new(
            Rejection::NoEventType,
            StatusCode::BAD_REQUEST,
            "the request carries no event type where this source expects one",
        )
    })
}

/// The rendered deliveries to store; a failed render is logged and stored as dead.
pub(super) fn deliveries(planned: Vec<PlannedAction<'_>>, id: &str) -> Vec<NewDelivery> {
    planned
        .into_iter()
        .map(|p| NewDelivery {
            rule: p.rule.to_owned(),
            action_index: p.action_index,
            destination: p.destination.to_owned(),
            due_at: p.due_at(crate::clock::now_ms()),
            waits: p.waits,
            request: p.request.map(|r| (r.body, r.content_type)).map_err(|e| {
                tracing::error!(event_id = %id, rule = p.rule, destination = p.destination,
                    "template failed; the delivery is stored as dead: {e}");
                format!("template failed: {e}")
            }),
        })
        .collect()
}

/// Commits the event (group commit, deduplicated) and answers: 202 with its id, 200 for a
/// duplicate, 503 when the store failed. Counted only here, once the outcome is known.
async fn store(
    state: &AppState,
    event: NewEvent,
    id: &str,
    source_name: &str,
    event_type: &str,
    matched: &[&str],
    deferred: Option<&Outcome>,
) -> Response {
    let mut count = event.deliveries.len();
    match state.ingest.submit(event).await {
        Ok(Inserted::New) => {
            let routed = deferred.map(Outcome::get);
            let matched: Vec<&str> = match &routed {
                Some((rules, n)) => {
                    count = *n;
                    rules.iter().map(String::as_str).collect()
                }
                None => matched.to_vec(),
            };
            tracing::info!(event_id = %id, source = %source_name, event_type, deliveries = count, "event accepted");
            state.metrics.received(source_name, event_type, Received::Accepted);
            state.metrics.rules_matched(matched.iter().copied());
            (StatusCode::ACCEPTED, Json(json!({ "id": id }))).into_response()
        }
        Ok(Inserted::Duplicate(original)) => {
            tracing::info!(event_id = %original, source = %source_name, event_type, "duplicate event ignored");
            state.metrics.received(source_name, event_type, Received::Duplicate);
            (StatusCode::OK, Json(json!({ "id": original, "duplicate": true }))).into_response()
        }
        Err(e) => {
            tracing::warn!(source = %source_name, "event refused: {e}");
            state.metrics.received(source_name, event_type, Received::Rejected(Rejection::StoreUnavailable));
            // Generic: a driver's message can name hosts, users or worse; the reason is logged above.
            busy("the event could not be stored; retry later")
        }
    }
}

fn busy(message: &str) -> Response {
    let mut r = reply(StatusCode::SERVICE_UNAVAILABLE, message);
    r.headers_mut().insert(header::RETRY_AFTER, header::HeaderValue::from_static("5"));
    r
}
