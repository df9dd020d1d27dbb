//! Replaying deliveries: one by id, or every delivery of a status.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;

use super::{AdminState, error, store_error};
use crate::clock::now_ms;
use crate::store::{ReplaySelector, Status};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(in crate::admin) struct ReplayOneBody {
    /// Replay even a delivery that was `delivered` (the receiver gets it again).
    #[serde(default)]
    force: bool,
}

pub(in crate::admin) async fn replay_one(
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
pub(in crate::admin) struct ReplayBody {
    status: Status,
    since: Option<i64>,
    #[serde(default)]
    force: bool,
}

pub(in crate::admin) async fn replay(
    State(state): State<AdminState>,
    Json(body): Json<ReplayBody>,
) -> Response {
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
