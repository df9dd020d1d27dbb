//! A stand-in for Slack's Web API (`https://slack.com/api`) on 127.0.0.1: it checks every call as
//! Slack would (POST, `/api/chat.postMessage` or `/api/chat.update`, `Authorization: Bearer` with
//! the test token, a JSON body with the fields the method needs, no token in the body) and answers
//! like Slack, `{"ok":true,"channel":"C1","ts":…}` with a new `ts` per message, or from a script.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::http::{HeaderMap, Method, Uri};
use serde_json::{Value, json};

use crate::support::WAIT;

pub const TOKEN: &str = "xoxb-test-token-5f1e";

/// One Web API call the stand-in got.
#[derive(Debug, Clone)]
pub struct Call {
    /// `chat.postMessage` or `chat.update`.
    pub method: String,
    pub body: Value,
    /// The `ts` the stand-in answered with (`None`: it answered an error).
    pub ts: Option<String>,
}

#[derive(Default)]
struct SlackState {
    calls: Vec<Call>,
    /// Problems with a request's shape (wrong method, path, token, content type, JSON).
    wrong: Vec<String>,
    /// Answers to the next `chat.postMessage` calls instead of success: (status, body).
    script: VecDeque<(u16, &'static str)>,
    next_ts: u64,
    /// Requests that arrived (answered or not yet).
    received: usize,
    /// The first `chat.postMessage` is answered only after this (a slow Slack).
    slow_first: Option<Duration>,
}

/// A stand-in for `https://slack.com/api` on 127.0.0.1.
#[derive(Clone)]
pub struct SlackApi {
    /// What a destination's `api_url` is set to.
    pub api_url: String,
    state: Arc<Mutex<SlackState>>,
}

impl SlackApi {
    pub async fn start(script: Vec<(u16, &'static str)>) -> Self {
        Self::start_with(script, None).await
    }

    pub async fn start_with(script: Vec<(u16, &'static str)>, slow_first: Option<Duration>) -> Self {
        let state =
            Arc::new(Mutex::new(SlackState { script: script.into(), slow_first, ..SlackState::default() }));
        let shared = Arc::clone(&state);
        let app = Router::new().fallback(move |method: Method, uri: Uri, headers: HeaderMap, body: Bytes| {
            let shared = Arc::clone(&shared);
            async move {
                let delay = {
                    let mut s = shared.lock().expect("lock");
                    s.received += 1;
                    if uri.path().ends_with("chat.postMessage") { s.slow_first.take() } else { None }
                };
                if let Some(delay) = delay {
                    tokio::time::sleep(delay).await;
                }
                answer(&shared, &method, &uri, &headers, &body)
            }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self { api_url: format!("http://{addr}/api"), state }
    }

    pub fn calls(&self) -> Vec<Call> {
        self.state.lock().expect("lock").calls.clone()
    }

    /// Waits until `n` calls answered with a `ts` arrived (at most [`WAIT`]); returns every call.
    pub async fn wait_for_messages(&self, n: usize) -> Vec<Call> {
        let deadline = Instant::now() + WAIT;
        loop {
            let calls = self.calls();
            if calls.iter().filter(|c| c.ts.is_some()).count() >= n || Instant::now() > deadline {
                return calls;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Waits until `n` requests arrived, answered or not (at most [`WAIT`]).
    pub async fn wait_for_received(&self, n: usize) {
        let deadline = Instant::now() + WAIT;
        while self.state.lock().expect("lock").received < n && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(self.state.lock().expect("lock").received >= n, "{n} requests did not arrive");
    }

    pub fn assert_well_formed(&self) {
        let wrong = self.state.lock().expect("lock").wrong.clone();
        assert!(wrong.is_empty(), "requests Slack would refuse: {wrong:?}");
    }
}

fn answer(
    state: &Mutex<SlackState>,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let mut s = state.lock().expect("lock");
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    let api = uri.path().strip_prefix("/api/").unwrap_or_default().to_owned();
    let mut problems = Vec::new();
    if method != Method::POST {
        problems.push(format!("method {method}"));
    }
    if !matches!(api.as_str(), "chat.postMessage" | "chat.update") {
        problems.push(format!("path {}", uri.path()));
    }
    if header("authorization") != format!("Bearer {TOKEN}") {
        problems.push("Authorization is not the bearer token".to_owned());
    }
    if !header("content-type").starts_with("application/json") {
        problems.push(format!("content-type {}", header("content-type")));
    }
    let parsed: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let fields_ok = match api.as_str() {
        "chat.update" => {
            parsed["channel"].is_string() && parsed["ts"].is_string() && parsed["text"].is_string()
        }
        _ => parsed["channel"].is_string() && parsed["text"].is_string(),
    };
    if !fields_ok {
        problems.push(format!("{api} body {parsed}"));
    }
    if body.windows(TOKEN.len()).any(|w| w == TOKEN.as_bytes()) {
        problems.push("the token is in the body".to_owned());
    }
    if !problems.is_empty() {
        s.wrong.extend(problems);
        return (axum::http::StatusCode::OK, r#"{"ok":false,"error":"invalid_auth"}"#).into_response();
    }
    if api == "chat.postMessage"
        && let Some((status, reply)) = s.script.pop_front()
    {
        s.calls.push(Call { method: api, body: parsed, ts: None });
        let status = axum::http::StatusCode::from_u16(status).expect("status");
        return (status, [("content-type", "application/json")], reply).into_response();
    }
    let ts = if api == "chat.update" {
        parsed["ts"].as_str().unwrap_or_default().to_owned()
    } else {
        s.next_ts += 1;
        format!("1700000000.{:06}", s.next_ts)
    };
    s.calls.push(Call { method: api, body: parsed, ts: Some(ts.clone()) });
    let reply = json!({"ok": true, "channel": "C1", "ts": ts, "message": {"text": "…", "ts": ts}});
    axum::Json(reply).into_response()
}
