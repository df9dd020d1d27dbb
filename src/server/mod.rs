//! The HTTP edge: `POST /hooks/{source}` verifies, routes, renders and stores; it never calls a
//! destination. `edge/` is the listener (connection cap, head and idle timeouts, head size),
//! `budget` and `body` bound the request bodies held in memory.

pub mod body;
pub mod budget;
mod dedup;
mod edge;
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
    /// Request-body bytes in memory across all requests (`settings.body_memory_bytes`, read at
    /// start); a body that does not fit gets 503 before it is read.
    pub budget: Arc<budget::Budget>,
}

impl AppState {
    /// The state for `config`'s settings as they are now (the shared limits are read at start).
    pub fn new(
        config: Arc<ArcSwap<Config>>,
        ingest: Ingest,
        store: Arc<dyn Store>,
        metrics: Arc<crate::metrics::Metrics>,
    ) -> Self {
        let settings = config.load().settings.clone();
        Self {
            config,
            ingest,
            store,
            in_flight: Arc::new(tokio::sync::Semaphore::new(settings.max_concurrent_requests)),
            metrics,
            budget: budget::Budget::new(settings.edge.body_memory_bytes),
        }
    }
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

/// Connections the kernel may queue before they are accepted (it caps this at `somaxconn`).
const BACKLOG: u32 = 4096;

/// A listener on `addr` whose accept queue holds a burst of connections (tokio's default, 1024,
/// drops SYNs when thousands of clients reconnect at once, costing each a 1 s retransmission).
pub fn listen(addr: std::net::SocketAddr) -> std::io::Result<TcpListener> {
    let socket =
        if addr.is_ipv4() { tokio::net::TcpSocket::new_v4()? } else { tokio::net::TcpSocket::new_v6()? };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(BACKLOG)
}

/// Serves until `shutdown` resolves, then stops accepting and finishes requests in flight. The
/// edge limits (`settings.head_timeout`, `idle_timeout`, `max_head_bytes`, `max_connections`) are
/// read from the config now, at start.
pub async fn run(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let limits = state.config.load().settings.edge.clone();
    let metrics = Arc::clone(&state.metrics);
    edge::serve(listener, router(state), limits, metrics, shutdown).await
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
