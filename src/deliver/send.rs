//! Sends one rendered request to its destination and classifies the result. The only place that
//! makes outbound requests; URL and headers are read from the running config at send time.

use std::time::{Duration, Instant, SystemTime};

use crate::actions::threads::{ParentRef, protocol};
use crate::actions::{Destination, DestinationKind, RenderedRequest};
use crate::policy::Outcome;

/// Names the delivery and its attempt series on every HTTP-based request (`<delivery id>.<series>`).
pub const DELIVERY_HEADER: &str = "x-hookroute-delivery";

/// How much of a response body is kept for errors.
pub(super) const EXCERPT_BYTES: usize = 1024;

/// How much of a threading provider's answer is read for its message reference.
const ANSWER_BYTES: usize = 64 * 1024;

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
    /// created (see `actions::threads`): Slack's channel + `ts`, Telegram's `result.message_id`,
    /// the `Message-ID` an SMTP mail was sent with.
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
            (DestinationKind::Email, _) if dest.smtp.is_some() => {
                let sent = super::smtp::send(dest, req, context).await;
                answer = (sent.code, None);
                // The relay's answer names no message: the reference is the Message-ID sent.
                reference =
                    sent.message_id.and_then(|id| protocol(dest).and_then(|p| p.reference(id.as_bytes())));
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
                let (outcome, status, excerpt, found) = self.http(dest, url.expose(), req, context).await;
                reference = found;
                answer = (status, excerpt.map(|e| scrub(dest, e)));
                match outcome {
                    Outcome::Retry { after, reason } => Outcome::Retry { after, reason: scrub(dest, reason) },
                    Outcome::Dead { reason } => Outcome::Dead { reason: scrub(dest, reason) },
                    delivered => delivered,
                }
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
    ) -> (Outcome, Option<u16>, Option<String>, Option<ParentRef>) {
        let url = match dest.kind {
            DestinationKind::GoogleChat => {
                std::borrow::Cow::Owned(crate::actions::google_chat_url(url, &req.body))
            }
            _ => std::borrow::Cow::Borrowed(url),
        };
        let body = match &dest.routing_key {
            Some(key) => match crate::actions::with_routing_key(&req.body, key.expose()) {
                Some(b) => b,
                None => {
                    let reason = "the stored body is not a PagerDuty event".to_owned();
                    return (Outcome::Dead { reason }, None, None, None);
                }
            },
            None => req.body.clone(),
        };
        let mut builder =
            self.client.request(dest.method.clone(), url.as_ref()).timeout(dest.timeout).body(body);
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
                // A threading provider's answer is read whole (up to a bound): its reference may
                // follow an echo of the text longer than the excerpt.
                let threads = protocol(dest);
                let limit = if threads.is_some() { ANSWER_BYTES } else { EXCERPT_BYTES };
                let answer = Answer::read(response, limit).await;
                let outcome = crate::actions::classify_answer(
                    dest.kind,
                    answer.status,
                    answer.retry_after.as_deref(),
                    &String::from_utf8_lossy(&answer.body),
                    SystemTime::now(),
                );
                let reference = match outcome {
                    Outcome::Delivered { .. } => threads.and_then(|p| p.reference(&answer.body)),
                    _ => None,
                };
                (outcome, Some(answer.status), Some(answer.excerpt()), reference)
            }
            Err(e) => (Outcome::Retry { after: None, reason: describe_error(&e) }, None, None, None),
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

/// What a destination answered: its status, its `Retry-After`, and the first bytes of its body.
pub(super) struct Answer {
    pub(super) status: u16,
    pub(super) retry_after: Option<String>,
    pub(super) body: Vec<u8>,
}

impl Answer {
    /// Reads the status, `Retry-After` and at most `limit` bytes of the body.
    pub(super) async fn read(response: reqwest::Response, limit: usize) -> Self {
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get(http::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        Self { status, retry_after, body: read_body(response, limit).await }
    }

    /// The first [`EXCERPT_BYTES`] of the body, as kept with the attempt.
    pub(super) fn excerpt(&self) -> String {
        String::from_utf8_lossy(&self.body[..self.body.len().min(EXCERPT_BYTES)]).into_owned()
    }
}

/// The first `limit` bytes of a response body.
async fn read_body(mut response: reqwest::Response, limit: usize) -> Vec<u8> {
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

/// `text` without the destination's secrets that could be echoed back (a bot token, a routing
/// key, a password): providers' answers and errors are stored and logged.
pub(super) fn scrub(dest: &Destination, text: String) -> String {
    let token = match dest.kind {
        DestinationKind::Telegram => dest.url.as_ref().and_then(|u| telegram_token(u.expose())),
        _ => None,
    };
    let secrets = [
        token,
        dest.routing_key.as_ref().map(|k| k.expose().to_owned()),
        dest.smtp.as_ref().and_then(|s| s.password.as_ref()).map(|p| p.expose().to_owned()),
    ];
    secrets.into_iter().flatten().filter(|s| s.len() >= 4).fold(text, |t, s| t.replace(&s, "[redacted]"))
}

/// The bot token in a Telegram `…/bot<token>/sendMessage` URL.
fn telegram_token(url: &str) -> Option<String> {
    let rest = url.rsplit_once("/bot")?.1;
    Some(rest.strip_suffix("/sendMessage").unwrap_or(rest).to_owned())
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
