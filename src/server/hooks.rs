//! `POST /hooks/{source}`: read the raw bytes (size-limited), verify, parse, route, queue, answer.

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http_body_util::{BodyExt, LengthLimitError, Limited};
use serde_json::json;

use super::AppState;
use crate::deliver::{AcceptedEvent, Delivery, QueueError};
use crate::route::{self, ParsedEvent};

fn reply(status: StatusCode, message: &str) -> Response {
    (status, Json(json!({ "error": message }))).into_response()
}

pub async fn receive(
    State(state): State<AppState>,
    Path(source_name): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let config = state.config.load_full();
    let Some(source) = config.sources.get(&source_name) else {
        return reply(StatusCode::NOT_FOUND, "unknown source");
    };

    let limit = config.settings.max_body_bytes;
    let raw: Bytes = match Limited::new(body, limit).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(e) if e.downcast_ref::<LengthLimitError>().is_some() => {
            tracing::warn!(source = %source_name, limit, "request body over the limit");
            return reply(StatusCode::PAYLOAD_TOO_LARGE, &format!("body larger than {limit} bytes"));
        }
        Err(_) => return reply(StatusCode::BAD_REQUEST, "could not read the request body"),
    };

    let verified = match source.verifier.verify(&headers, raw) {
        Ok(v) => v,
        Err(reason) => {
            tracing::warn!(source = %source_name, "request refused: {reason}");
            return reply(StatusCode::UNAUTHORIZED, "unauthorized");
        }
    };

    let raw = verified.bytes();
    let body: serde_json::Value = match serde_json::from_slice(raw) {
        Ok(v) => v,
        Err(e) => return reply(StatusCode::BAD_REQUEST, &format!("body is not valid JSON: {e}")),
    };
    let Some(event_type) = route::event_type(&body) else {
        return reply(StatusCode::BAD_REQUEST, "body has no string `type`");
    };

    let id = uuid::Uuid::now_v7().to_string();
    let received_at = now_rfc3339();
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok());
    let event = ParsedEvent {
        source: &source_name,
        event_type,
        body: &body,
        raw_body: raw,
        content_type,
        received_at: &received_at,
    };
    let mut deliveries = Vec::new();
    for planned in route::plan(&config, &event) {
        match planned.request {
            Ok(request) => deliveries.push(Delivery {
                event_id: id.clone(),
                rule: planned.rule.to_owned(),
                action_index: planned.action_index,
                destination: planned.destination.to_owned(),
                request,
            }),
            Err(e) => tracing::error!(event_id = %id, rule = planned.rule, destination = planned.destination,
                "action skipped: its template failed: {e}"),
        }
    }
    let matched = deliveries.len();
    let accepted = AcceptedEvent {
        id: id.clone(),
        source: source_name.clone(),
        event_type: event_type.to_owned(),
        raw_body: raw.clone(),
        rules_version: config.version.clone(),
        deliveries,
    };
    match state.queue.enqueue(accepted).await {
        Ok(()) => {
            tracing::info!(event_id = %id, source = %source_name, event_type, deliveries = matched, "event accepted");
            (StatusCode::ACCEPTED, Json(json!({ "id": id }))).into_response()
        }
        Err(e) => {
            tracing::warn!(source = %source_name, "event refused: {e}");
            let mut r = reply(StatusCode::SERVICE_UNAVAILABLE, &e.to_string());
            if matches!(e, QueueError::Full) {
                r.headers_mut().insert(header::RETRY_AFTER, header::HeaderValue::from_static("5"));
            }
            r
        }
    }
}

pub fn now_rfc3339() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}
