//! The operators' listener, separate from the senders' one so it can stay on loopback or a private
//! network: the dashboard, its JSON API, `/metrics` and the health probes. See docs/admin-api.md.
//!
//! Only `/api/…` carries event data, so only it needs the bearer token; probes, metrics and the
//! page itself stay open for load balancers and Prometheus. Every request first passes the
//! browser defences of `guard` (allowed `Host`, same-origin JSON `POST`s, hardening headers).

mod api;
pub mod guard;

use std::future::Future;
use std::sync::Arc;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use tokio::net::TcpListener;

use crate::config::watch::Reloader;
use crate::metrics::Metrics;
use crate::secret::Secret;
use crate::store::Store;

/// What the admin handlers share.
#[derive(Clone)]
pub struct AdminState {
    pub reloader: Arc<Reloader>,
    pub store: Arc<dyn Store>,
    pub metrics: Arc<Metrics>,
    /// From `--admin-token` / `HOOKROUTE_ADMIN_TOKEN`; when `None`, `settings.admin_token` of the
    /// running rules applies (so it can be rotated by a reload).
    pub token: Option<Arc<Secret>>,
    /// The listener is reachable from other hosts and was not started with
    /// `--admin-allow-no-token`: if a reload removes `settings.admin_token`, `/api` is refused
    /// rather than opened.
    pub token_required: bool,
    /// Unix seconds.
    pub started_at: f64,
}

const INDEX_HTML: &str = include_str!("assets/index.html");
const APP_JS: &str = include_str!("assets/app.js");
const APP_CSS: &str = include_str!("assets/app.css");
const OVERVIEW_JS: &str = include_str!("assets/overview.js");

pub fn router(state: AdminState) -> Router {
    let api = Router::new()
        .route("/overview", get(api::overview))
        .route("/activity", get(api::activity))
        .route("/events", get(api::events))
        .route("/events/{id}", get(api::event))
        .route("/deliveries", get(api::deliveries))
        .route("/deliveries/{id}/replay", post(api::replay_one))
        .route("/replay", post(api::replay))
        .route("/destinations", get(api::destinations))
        .route("/rules", get(api::rules))
        .route("/reload", post(api::reload))
        .route("/dry-run", post(api::dry_run))
        .fallback(|| async { api::error(StatusCode::NOT_FOUND, "no such endpoint") })
        .route_layer(middleware::from_fn_with_state(state.clone(), require_token));
    Router::new()
        .nest("/api", api)
        .route("/", get(|| async { asset("text/html; charset=utf-8", INDEX_HTML) }))
        .route("/assets/app.js", get(|| async { asset("text/javascript; charset=utf-8", APP_JS) }))
        .route("/assets/overview.js", get(|| async { asset("text/javascript; charset=utf-8", OVERVIEW_JS) }))
        .route("/assets/app.css", get(|| async { asset("text/css; charset=utf-8", APP_CSS) }))
        .route("/metrics", get(api::metrics))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(api::readyz))
        .layer(middleware::from_fn_with_state(state.clone(), browser_guard))
        .with_state(state)
}

/// Applies `guard` to every request (routes and fallbacks alike) and hardens every answer.
async fn browser_guard(State(state): State<AdminState>, request: Request, next: Next) -> Response {
    let verdict = {
        let config = state.reloader.current().load();
        guard::check(request.method(), request.headers(), &config.settings.admin_allowed_hosts)
    };
    let mut response = match verdict {
        Ok(()) => next.run(request).await,
        Err(refusal) => {
            let status = match refusal {
                guard::Refusal::Host => StatusCode::MISDIRECTED_REQUEST,
                guard::Refusal::CrossSite => StatusCode::FORBIDDEN,
                guard::Refusal::NotJson => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            };
            // A hostile page can send these in a loop: log at most one every 10 s.
            if log_refusal_now() {
                tracing::warn!(
                    method = %request.method(),
                    path = request.uri().path(),
                    "admin request refused (more in the next 10 s are not logged): {}",
                    refusal.message()
                );
            }
            api::error(status, refusal.message())
        }
    };
    guard::harden(response.headers_mut());
    response
}

/// Serves until `shutdown` resolves.
pub async fn run(
    listener: TcpListener,
    state: AdminState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(state)).with_graceful_shutdown(shutdown).await
}

/// Whether a refused request may be logged now (at most one line per 10 s per process).
fn log_refusal_now() -> bool {
    use std::sync::atomic::{AtomicI64, Ordering};
    static LAST: AtomicI64 = AtomicI64::new(i64::MIN);
    let now = crate::clock::now_ms();
    let last = LAST.load(Ordering::Relaxed);
    now.saturating_sub(last) >= 10_000
        && LAST.compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed).is_ok()
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    ([(header::CONTENT_TYPE, content_type), (header::CACHE_CONTROL, "no-cache")], body).into_response()
}

async fn require_token(State(state): State<AdminState>, request: Request, next: Next) -> Response {
    let from_config = state.reloader.current().load().settings.admin_token.clone();
    let expected =
        state.token.as_ref().map(|t| t.expose().to_owned()).or(from_config.map(|t| t.expose().to_owned()));
    match expected {
        None if state.token_required => api::error(
            StatusCode::SERVICE_UNAVAILABLE,
            "this admin listener is reachable from other hosts and no admin token is set any more; \
             restore settings.admin_token",
        ),
        Some(token) if !bearer_matches(request.headers(), &token) => {
            let mut r = api::error(
                StatusCode::UNAUTHORIZED,
                "a bearer token is required: Authorization: Bearer TOKEN",
            );
            r.headers_mut().insert(header::WWW_AUTHENTICATE, header::HeaderValue::from_static("Bearer"));
            r
        }
        _ => next.run(request).await,
    }
}

/// Constant-time comparison of the presented bearer token.
fn bearer_matches(headers: &HeaderMap, expected: &str) -> bool {
    let Some(presented) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
    else {
        return false;
    };
    let (a, b) = (presented.trim().as_bytes(), expected.as_bytes());
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::bearer_matches;
    use axum::http::{HeaderMap, HeaderValue, header};

    fn with(auth: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::AUTHORIZATION, HeaderValue::from_str(auth).expect("header"));
        h
    }

    #[test]
    fn bearer_tokens_must_match_exactly() {
        assert!(bearer_matches(&with("Bearer s3cret"), "s3cret"));
        assert!(!bearer_matches(&with("Bearer s3cre"), "s3cret"));
        assert!(!bearer_matches(&with("Bearer s3cret2"), "s3cret"));
        assert!(!bearer_matches(&with("Basic s3cret"), "s3cret"));
        assert!(!bearer_matches(&HeaderMap::new(), "s3cret"));
    }
}
