//! `POST /api/dry-run`: an event run through the running rules, or posted draft rules.

use std::path::PathBuf;

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{AdminState, error};
use crate::config::{Config, LoadError};

#[derive(Deserialize)]
pub(in crate::admin) struct DryRunBody {
    event: Value,
    source: Option<String>,
    #[serde(default)]
    headers: std::collections::BTreeMap<String, String>,
    rules: Option<String>,
    /// The previous event of the same key (a JSON value or its text); absent: the first one.
    prev: Option<Value>,
}

pub(in crate::admin) async fn dry_run(
    State(state): State<AdminState>,
    Json(body): Json<DryRunBody>,
) -> Response {
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
