//! Sends one rendered request to its destination and classifies the result. The only place that
//! makes outbound requests; URL and headers are read from the running config at send time.

use std::time::{Duration, Instant, SystemTime};

use crate::actions::{Destination, DestinationKind, RenderedRequest};
use crate::policy::{Outcome, classify};

/// Names the delivery and its attempt series on every HTTP-based request (`<delivery id>.<series>`).
pub const DELIVERY_HEADER: &str = "x-hookroute-delivery";

/// How much of a response body is kept for errors.
pub(super) const EXCERPT_BYTES: usize = 1024;

#[derive(Clone)]
pub struct Sender {
    pub(super) client: reqwest::Client,
}

/// One attempt: its outcome, how long it took, and what the destination answered.
pub struct Attempt {
    pub outcome: Outcome,
    pub latency: Duration,
    pub status: Option<u16>,
    /// The first 1 KiB of the response body.
    pub excerpt: Option<String>,
    /// A destination with conversations: the provider's reference to the message a success
    /// created (see `actions::threads`).
    pub reference: Option<crate::actions::threads::ParentRef>,
}

impl Sender {
    pub fn new() -> Result<Self, reqwest::Error> {
        let client = reqwest::Client::builder()
            .user_agent(concat!("hookroute/", env!("CARGO_PKG_VERSION")))
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(Duration::from_secs(5))
            .pool_idle_timeout(Duration::from_secs(60))
            .build()?;
        Ok(Self { client })
    }

    pub async fn send(&self, dest: &Destination, req: &RenderedRequest, context: &LogContext<'_>) -> Attempt {
        let started = Instant::now();
        let mut answer = (None, None);
        let mut reference = None;
        let outcome = match (dest.kind, &dest.url) {
            (DestinationKind::Slack, _) if dest.slack_api.is_some() => {
                let sent = self.slack_post(dest, req, context).await;
                answer = (sent.status, sent.excerpt);
                reference = sent.reference;
                sent.outcome
            }
            (DestinationKind::Log, _) => {
                let message = String::from_utf8_lossy(&req.body);
                tracing::info!(
                    destination = %dest.name,
                    rule = context.rule,
                    event_id = context.event_id,
                    "{message}"
                );
                Outcome::Delivered { status: 200 }
            }
            (_, None) => Outcome::Dead { reason: format!("destination `{}` has no URL", dest.name) },
            (_, Some(url)) => {
                let (outcome, status, excerpt) = self.http(dest, url.expose(), req, context).await;
                answer = (status, excerpt);
                outcome
            }
        };
        Attempt { outcome, latency: started.elapsed(), status: answer.0, excerpt: answer.1, reference }
    }

    async fn http(
        &self,
        dest: &Destination,
        url: &str,
        req: &RenderedRequest,
        context: &LogContext<'_>,
    ) -> (Outcome, Option<u16>, Option<String>) {
        let mut builder =
            self.client.request(dest.method.clone(), url).timeout(dest.timeout).body(req.body.clone());
        if let Some(ct) = &req.content_type {
            builder = builder.header(http::header::CONTENT_TYPE, ct);
        }
        for (name, value) in &dest.headers {
            builder = builder.header(name, value.expose());
        }
        // The same on every retry and replay of one series: receivers deduplicate on it.
        builder = builder.header(DELIVERY_HEADER, format!("{}.{}", context.delivery_id, context.series));
        if let Some(sign) = &dest.sign {
            let id = format!("msg_{}_{}", context.delivery_id, context.event_id);
            for (name, value) in sign.headers(&req.body, &id, crate::clock::now_ms() / 1000) {
                builder = builder.header(name, value);
            }
        }
        match builder.send().await {
            Ok(response) => {
                let status = response.status().as_u16();
                let retry_after = response
                    .headers()
                    .get(http::header::RETRY_AFTER)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned);
                let body = read_excerpt(response).await;
                (classify(status, retry_after.as_deref(), &body, SystemTime::now()), Some(status), Some(body))
            }
            Err(e) => (Outcome::Retry { after: None, reason: describe_error(&e) }, None, None),
        }
    }
}

/// Fields every delivery log line carries.
pub struct LogContext<'a> {
    pub event_id: &'a str,
    pub rule: &'a str,
    /// Stable across retries: names the delivery to a receiver that verifies signatures.
    pub delivery_id: i64,
    /// The attempt series (bumped by each replay).
    pub series: i64,
}

async fn read_excerpt(response: reqwest::Response) -> String {
    String::from_utf8_lossy(&read_body(response, EXCERPT_BYTES).await).into_owned()
}

/// The first `limit` bytes of a response body.
pub(super) async fn read_body(mut response: reqwest::Response, limit: usize) -> Vec<u8> {
    let mut buf = Vec::new();
    while buf.len() < limit {
        match response.chunk().await {
            Ok(Some(chunk)) => buf.extend_from_slice(&chunk),
            _ => break,
        }
    }
    buf.truncate(limit);
    buf
}

/// A transport error without the URL (which may be a secret).
pub(super) fn describe_error(e: &reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "connection failed"
    } else if e.is_body() || e.is_decode() {
        "response body error"
    } else {
        "request failed"
    };
    let mut cause = String::new();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        cause = s.to_string();
        source = s.source();
    }
    if cause.is_empty() { kind.to_owned() } else { format!("{kind}: {cause}") }
}
