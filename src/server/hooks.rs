//! `POST /hooks/{source}`: read the raw bytes (size-limited), verify, parse, route, render, store
//! (deduplicated, group-committed), answer.

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http_body_util::{BodyExt, LengthLimitError, Limited};
use serde_json::json;

use super::AppState;
use sha2::{Digest, Sha256};

use crate::config::DedupKey as DedupKeySpec;
use crate::metrics::{Received, Rejection};
use crate::route::{self, ParsedEvent};
use crate::store::{DedupKey, Inserted, NewDelivery, NewEvent};

fn reply(status: StatusCode, message: &str) -> Response {
    (status, Json(json!({ "error": message }))).into_response()
}

pub async fn receive(
    State(state): State<AppState>,
    Path(source_name): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    // Load shedding: past the cap, answer 503 at once instead of queueing without bound.
    let Ok(_permit) = state.in_flight.clone().try_acquire_owned() else {
        tracing::warn!(source = %source_name, "too many requests in flight; shedding load");
        state.metrics.received("", "", Received::Rejected(Rejection::Overloaded));
        return busy("too many requests in flight");
    };
    let config = state.config.load_full();
    let Some(source) = config.sources.get(&source_name) else {
        // Not labelled with the name: anyone can make up source names.
        state.metrics.received("", "", Received::Rejected(Rejection::UnknownSource));
        return reply(StatusCode::NOT_FOUND, "unknown source");
    };
    let refuse = |reason: Rejection, status: StatusCode, message: &str| {
        state.metrics.received(&source_name, "", Received::Rejected(reason));
        reply(status, message)
    };
    if let Some(ct) = headers.get(header::CONTENT_TYPE)
        && !is_json(ct.to_str().unwrap_or_default())
    {
        return refuse(
            Rejection::UnsupportedMediaType,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "the body must be JSON (application/json)",
        );
    }

    let limit = config.settings.max_body_bytes;
    let read = tokio::time::timeout(config.settings.read_timeout, Limited::new(body, limit).collect()).await;
    let raw: Bytes = match read {
        Ok(Ok(collected)) => collected.to_bytes(),
        Ok(Err(e)) if e.downcast_ref::<LengthLimitError>().is_some() => {
            tracing::warn!(source = %source_name, limit, "request body over the limit");
            return refuse(
                Rejection::BodyTooLarge,
                StatusCode::PAYLOAD_TOO_LARGE,
                &format!("body larger than {limit} bytes"),
            );
        }
        Ok(Err(_)) => {
            return refuse(
                Rejection::UnreadableBody,
                StatusCode::BAD_REQUEST,
                "could not read the request body",
            );
        }
        Err(_) => {
            tracing::warn!(source = %source_name, "request body not received in time");
            return refuse(
                Rejection::ReadTimeout,
                StatusCode::REQUEST_TIMEOUT,
                "the body was not received in time",
            );
        }
    };

    let verified = match source.verifier.verify(&headers, raw, std::time::SystemTime::now()) {
        Ok(v) => v,
        Err(reason) => {
            tracing::warn!(source = %source_name, "request refused: {reason}");
            return refuse(Rejection::Signature, StatusCode::UNAUTHORIZED, "unauthorized");
        }
    };

    let raw = verified.body.bytes();
    let body: serde_json::Value = match crate::json::parse_strict(raw) {
        Ok(v) => v,
        Err(e) => {
            return refuse(
                Rejection::InvalidJson,
                StatusCode::BAD_REQUEST,
                &format!("body is not valid JSON: {e}"),
            );
        }
    };
    let Some(event_type) = route::event_type_of(&source.event_type, &headers, &body) else {
        return refuse(
            Rejection::NoEventType,
            StatusCode::BAD_REQUEST,
            "the request carries no event type where this source expects one",
        );
    };
    let event_type = event_type.as_str();

    let id = uuid::Uuid::now_v7().to_string();
    let received_ms = crate::store::now_ms();
    let received_at = crate::deliver::rfc3339_ms(received_ms);
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok());
    let event = ParsedEvent {
        source: &source_name,
        event_type,
        body: &body,
        raw_body: raw,
        content_type,
        received_at: &received_at,
        headers: Some(&headers),
    };
    let planned = route::plan(&config, &event);
    let mut matched_rules: Vec<String> = planned.iter().map(|p| p.rule.to_owned()).collect();
    matched_rules.dedup();
    // Borrowed from the config this request holds: counting matches allocates nothing.
    let mut matched_for_metrics: Vec<&str> = planned.iter().map(|p| p.rule).collect();
    matched_for_metrics.dedup();
    let deliveries: Vec<NewDelivery> = planned
        .into_iter()
        .map(|p| NewDelivery {
            rule: p.rule.to_owned(),
            action_index: p.action_index,
            destination: p.destination.to_owned(),
            request: p.request.map(|r| (r.body, r.content_type)).map_err(|e| {
                tracing::error!(event_id = %id, rule = p.rule, destination = p.destination,
                    "template failed; the delivery is stored as dead: {e}");
                format!("template failed: {e}")
            }),
        })
        .collect();
    let count = deliveries.len();
    let new_event = NewEvent {
        id: id.clone(),
        source: source_name.clone(),
        event_type: event_type.to_owned(),
        received_at: received_ms,
        body: raw.clone(),
        content_type: content_type.map(str::to_owned),
        matched_rules,
        rules_version: config.version.clone(),
        dedup: source.dedup.as_ref().map(|d| DedupKey {
            key: dedup_key(&d.key, verified.delivery_id.as_deref(), &headers, &body, raw),
            expires_at: received_ms + i64::try_from(d.window.as_millis()).unwrap_or(i64::MAX / 4),
        }),
        deliveries,
    };
    match state.ingest.submit(new_event).await {
        Ok(Inserted::New) => {
            tracing::info!(event_id = %id, source = %source_name, event_type, deliveries = count, "event accepted");
            state.metrics.received(&source_name, event_type, Received::Accepted);
            state.metrics.rules_matched(matched_for_metrics.iter().copied());
            (StatusCode::ACCEPTED, Json(json!({ "id": id }))).into_response()
        }
        Ok(Inserted::Duplicate(original)) => {
            tracing::info!(event_id = %original, source = %source_name, event_type, "duplicate event ignored");
            state.metrics.received(&source_name, event_type, Received::Duplicate);
            (StatusCode::OK, Json(json!({ "id": original, "duplicate": true }))).into_response()
        }
        Err(e) => {
            tracing::warn!(source = %source_name, "event refused: {e}");
            state.metrics.received(&source_name, event_type, Received::Rejected(Rejection::StoreUnavailable));
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

/// `application/json`, `text/json` or any `+json` type, parameters ignored.
fn is_json(content_type: &str) -> bool {
    let essence = content_type.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
    essence == "application/json" || essence == "text/json" || essence.ends_with("+json")
}

/// The key a repeated request shares with the original: by default the sender's delivery id when
/// its scheme signs one (`webhook-id`, `X-GitHub-Delivery`, Stripe's event id), else the body hash.
fn dedup_key(
    spec: &DedupKeySpec,
    delivery_id: Option<&str>,
    headers: &HeaderMap,
    body: &serde_json::Value,
    raw: &[u8],
) -> String {
    let from_request = match spec {
        DedupKeySpec::Body => delivery_id.map(|id| format!("id:{id}")),
        DedupKeySpec::Header(name) => {
            headers.get(name).and_then(|v| v.to_str().ok()).map(|v| format!("h:{v}"))
        }
        DedupKeySpec::Path(path) => path.select(body).first().map(|v| match v {
            serde_json::Value::String(s) => format!("p:{s}"),
            other => format!("p:{other}"),
        }),
    };
    from_request.unwrap_or_else(|| format!("sha256:{}", hex::encode(Sha256::digest(raw))))
}

pub fn now_rfc3339() -> String {
    time::OffsetDateTime::now_utc().format(&time::format_description::well_known::Rfc3339).unwrap_or_default()
}
