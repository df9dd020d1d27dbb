//! The Slack Web API's side of the sender: `chat.postMessage` and `chat.update` with the bot token
//! as `Authorization: Bearer …` (never in a body, a log line or an error), the whole answer read
//! (up to 64 KiB) because success is in its body (`"ok": true`) and so is the message's `ts`.

use std::time::SystemTime;

use super::send::{Answer, DELIVERY_HEADER, LogContext, Sender, describe_error};
use crate::actions::slack_api::{self, SlackApi};
use crate::actions::threads::{ParentRef, protocol};
use crate::actions::{Destination, RenderedRequest};
use crate::policy::Outcome;

/// How much of a Web API answer is read (a `chat.postMessage` answer echoes the message).
const ANSWER_BYTES: usize = 64 * 1024;

/// One Web API call's result.
pub(super) struct Sent {
    pub outcome: Outcome,
    pub status: Option<u16>,
    pub excerpt: Option<String>,
    pub reference: Option<ParentRef>,
}

impl Sent {
    fn unsent(reason: String) -> Self {
        Self { outcome: Outcome::Dead { reason }, status: None, excerpt: None, reference: None }
    }
}

impl Sender {
    /// `chat.postMessage` of a rendered Slack message (a reply already carries its `thread_ts`).
    pub(super) async fn slack_post(
        &self,
        dest: &Destination,
        req: &RenderedRequest,
        ctx: &LogContext<'_>,
    ) -> Sent {
        let Some(api) = &dest.slack_api else {
            return Sent::unsent(format!("destination `{}` has no Slack token", dest.name));
        };
        match slack_api::post_message(req, &api.channel) {
            Ok(body) => self.slack_call(dest, api, "chat.postMessage", &body, ctx).await,
            Err(reason) => Sent::unsent(reason),
        }
    }

    /// `chat.update` of a thread's first message with this message's text and blocks. An error is
    /// returned as text: the reply itself is delivered whatever becomes of the update.
    pub async fn slack_update(
        &self,
        dest: &Destination,
        parent: &ParentRef,
        req: &RenderedRequest,
        ctx: &LogContext<'_>,
    ) -> Result<(), String> {
        let Some(api) = &dest.slack_api else {
            return Err(format!("destination `{}` has no Slack token", dest.name));
        };
        let body = slack_api::update_message(req, parent)?;
        match self.slack_call(dest, api, "chat.update", &body, ctx).await.outcome {
            Outcome::Delivered { .. } => Ok(()),
            Outcome::Retry { reason, .. } | Outcome::Dead { reason } => Err(reason),
        }
    }

    async fn slack_call(
        &self,
        dest: &Destination,
        api: &SlackApi,
        method: &str,
        body: &RenderedRequest,
        ctx: &LogContext<'_>,
    ) -> Sent {
        let mut builder = self
            .client
            .post(api.method_url(method))
            .timeout(dest.timeout)
            .bearer_auth(api.token.expose())
            .header(http::header::CONTENT_TYPE, "application/json; charset=utf-8")
            .header(DELIVERY_HEADER, format!("{}.{}", ctx.delivery_id, ctx.series))
            .body(body.body.clone());
        for (name, value) in &dest.headers {
            builder = builder.header(name, value.expose());
        }
        match builder.send().await {
            Ok(response) => {
                let answer = Answer::read(response, ANSWER_BYTES).await;
                let outcome = slack_api::classify(
                    answer.status,
                    answer.retry_after.as_deref(),
                    &answer.body,
                    SystemTime::now(),
                );
                let reference = match outcome {
                    Outcome::Delivered { .. } => protocol(dest).and_then(|p| p.reference(&answer.body)),
                    _ => None,
                };
                Sent { outcome, status: Some(answer.status), excerpt: Some(answer.excerpt()), reference }
            }
            Err(e) => Sent {
                outcome: Outcome::Retry { after: None, reason: describe_error(&e) },
                status: None,
                excerpt: None,
                reference: None,
            },
        }
    }
}
