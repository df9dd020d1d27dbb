//! The HTTP edge: `POST /hooks/{source}` verifies, routes, renders and stores; it never calls a
//! destination.

mod hooks;
mod keyed;

use std::future::Future;
use std::sync::Arc;

use arc_swap::ArcSwap;
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use tokio::net::TcpListener;

use crate::config::Config;
use crate::deliver::Ingest;
use crate::store::Store;

/// What handlers share.
#[derive(Clone)]
pub struct AppState {
    pub config: Arc<ArcSwap<Config>>,
    pub ingest: Ingest,
    pub store: Arc<dyn Store>,
    /// Requests being handled at once at most (`settings.max_concurrent_requests`, read at start);
    /// past it, 503 (see `hooks`).
    pub in_flight: Arc<tokio::sync::Semaphore>,
    pub metrics: Arc<crate::metrics::Metrics>,
}

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/hooks/{source}", post(hooks::receive))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        // The body limit comes from the running config (it can change on reload): see `hooks`.
        .layer(DefaultBodyLimit::disable())
        .with_state(state)
}

/// Serves until `shutdown` resolves, then stops accepting and finishes requests in flight.
pub async fn run(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(state)).with_graceful_shutdown(shutdown).await
}

/// Ready when the rules are loaded (always, once serving) and the store answers within a second.
async fn readyz(axum::extract::State(state): axum::extract::State<AppState>) -> axum::response::Response {
    let version = state.config.load().version.clone();
    readiness(version, &*state.store).await
}

/// The `/readyz` answer, shared with the admin listener: 200 with the running rules version when the
/// store answers within a second, else 503 with `Retry-After`.
pub async fn readiness(rules_version: String, store: &dyn Store) -> axum::response::Response {
    use axum::response::IntoResponse;
    let reason = match tokio::time::timeout(std::time::Duration::from_secs(1), store.ping()).await {
        Ok(Ok(())) => {
            return axum::Json(serde_json::json!({"ready": true, "rules_version": rules_version}))
                .into_response();
        }
        Ok(Err(e)) => {
            // /readyz is unauthenticated on both listeners: the reason goes to the log only.
            tracing::warn!("readiness: the store failed: {e}");
            "the store is unavailable".to_owned()
        }
        Err(_) => "the store did not answer within 1 s".to_owned(),
    };
    (
        axum::http::StatusCode::SERVICE_UNAVAILABLE,
        [(axum::http::header::RETRY_AFTER, "5")],
        axum::Json(serde_json::json!({"ready": false, "reason": reason})),
    )
        .into_response()
}
