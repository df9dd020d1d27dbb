//! The HTTP edge: `POST /hooks/{source}` verifies, routes, renders and stores; it never calls a
//! destination.

mod hooks;

pub use hooks::now_rfc3339;

use std::future::Future;
use std::sync::Arc;

use arc_swap::ArcSwap;
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use tokio::net::TcpListener;

use crate::config::Config;
use crate::deliver::Ingest;

/// What handlers share.
#[derive(Clone)]
pub struct AppState {
    pub config: Arc<ArcSwap<Config>>,
    pub ingest: Ingest,
}

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/hooks/{source}", post(hooks::receive))
        .route("/healthz", get(|| async { "ok\n" }))
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
