//! What a rule does: an [`Action`] renders one outgoing request body for one [`Destination`].
//!
//! Rendering is pure. The destination's URL and headers (which hold secrets) are not part of the
//! rendered request: the deliverer takes them from the running config when it sends, so they are
//! never copied into a queue or a log.

mod email;
mod sign;
pub mod slack_api;
pub mod threads;
// Issue 15: the chat, paging and SMTP destination types.
mod answer;
mod chat;
mod discord;
mod google_chat;
mod limit;
mod mattermost;
mod pagerduty;
pub mod smtp;
mod teams;
pub mod telegram;

pub use answer::classify_answer;
use bytes::Bytes;
pub use chat::ChatPlan;
pub use email::{EmailProvider, one_address};
pub use google_chat::url_with_thread as google_chat_url;
pub use pagerduty::{PagerdutyPlan, with_routing_key};
pub use sign::OutboundSign;

/// PagerDuty's Events API v2 endpoint, the default `url` of a pagerduty destination.
pub fn pagerduty_default_url() -> &'static str {
    pagerduty::DEFAULT_URL
}

use crate::secret::Secret;
use crate::template::{RenderContext, RenderError, Shape, Templates, Text};

/// The kinds of destination, as written in `destinations.<name>.type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, serde::Serialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum DestinationKind {
    Slack,
    Email,
    Http,
    Log,
    Teams,
    Discord,
    #[serde(rename = "google-chat")]
    GoogleChat,
    Mattermost,
    Telegram,
    Pagerduty,
}

impl DestinationKind {
    /// The name as written in `type:`.
    pub fn name(self) -> &'static str {
        match self {
            DestinationKind::Slack => "slack",
            DestinationKind::Email => "email",
            DestinationKind::Http => "http",
            DestinationKind::Log => "log",
            DestinationKind::Teams => "teams",
            DestinationKind::Discord => "discord",
            DestinationKind::GoogleChat => "google-chat",
            DestinationKind::Mattermost => "mattermost",
            DestinationKind::Telegram => "telegram",
            DestinationKind::Pagerduty => "pagerduty",
        }
    }

    /// Whether the type can put messages into a conversation named by `thread:`.
    pub fn has_threads(self) -> bool {
        matches!(
            self,
            DestinationKind::Slack
                | DestinationKind::Email
                | DestinationKind::GoogleChat
                | DestinationKind::Telegram
                | DestinationKind::Pagerduty
        )
    }
}

/// Where requests go, compiled from `destinations.<name>`.
#[derive(Debug, Clone)]
pub struct Destination {
    pub name: String,
    pub kind: DestinationKind,
    pub method: http::Method,
    /// `None` for `log` destinations. A Slack URL is itself the credential, so URLs are secrets.
    pub url: Option<Secret>,
    /// Header values may carry API keys.
    pub headers: Vec<(http::HeaderName, Secret)>,
    pub timeout: std::time::Duration,
    /// Provider and default sender, for `type: email` only.
    pub email: Option<EmailDefaults>,
    pub retry: crate::policy::RetryPolicy,
    pub limits: crate::policy::Limits,
    /// `type: http` only: sign each request for the receiver.
    pub sign: Option<OutboundSign>,
    /// When deliveries may be sent (`hours:`).
    pub hours: crate::policy::Hours,
    /// `type: slack` with `token:` + `channel:`: the Web API instead of an incoming webhook.
    pub slack_api: Option<slack_api::SlackApi>,
    /// `type: pagerduty`: the integration key, put into the body only when sending (never stored).
    pub routing_key: Option<Secret>,
    /// `type: email` with `provider: smtp`: the relay.
    pub smtp: Option<smtp::SmtpRelay>,
    /// Body fields the destination fixes for every message (Discord `username`, Telegram
    /// `chat_id`, Mattermost `channel`, …).
    pub chat_fields: serde_json::Map<String, serde_json::Value>,
}

impl Destination {
    /// Whether `thread:` means something here (email threads only over SMTP, where hookroute
    /// writes the headers).
    pub fn has_threads(&self) -> bool {
        match self.kind {
            DestinationKind::Email => self.smtp.is_some(),
            // An incoming webhook returns no message id: only the Web API threads.
            DestinationKind::Slack => self.slack_api.is_some(),
            kind => kind.has_threads(),
        }
    }
}

#[derive(Debug, Clone)]
pub struct EmailDefaults {
    pub provider: EmailProvider,
    pub from: Option<String>,
}

/// One action of a rule, compiled.
#[derive(Debug, Clone)]
pub struct Action {
    pub destination: String,
    pub plan: Plan,
    /// The action's own `hours:`; `None`: the destination's.
    pub hours: Option<crate::policy::Hours>,
    /// The conversation this message belongs to (`thread:`, a template rendered to its key).
    pub thread: Option<Text>,
    /// Slack Web API: a reply also re-renders the thread's first message (`chat.update`).
    pub update_parent: bool,
    /// Slack Web API: a reply also shows in the channel (`reply_broadcast`).
    pub reply_broadcast: bool,
}

#[derive(Debug, Clone)]
pub enum Plan {
    Slack {
        text: Option<Text>,
        blocks: Option<Shape>,
    },
    Email {
        provider: EmailProvider,
        from: Text,
        recipients: Vec<Text>,
        subject: Text,
        reply_to: Option<Text>,
        text: Option<Text>,
        html: Option<Text>,
    },
    Http {
        body: HttpBody,
    },
    Log {
        text: Text,
    },
    /// Teams, Discord, Google Chat, Mattermost and Telegram: a text, an optional structured extra
    /// (Teams `card`, Discord `embeds`, Google Chat `cards_v2`) and the destination's fixed fields.
    Chat(chat::ChatPlan),
    Pagerduty(pagerduty::PagerdutyPlan),
}

#[derive(Debug, Clone)]
pub enum HttpBody {
    /// The received body, byte for byte, with the received `Content-Type`.
    Forward,
    Text {
        text: Text,
        content_type: String,
    },
    Json(Shape),
}

/// A request body ready to send; method, URL and headers come from the destination.
#[derive(Debug, Clone, PartialEq)]
pub struct RenderedRequest {
    pub body: Bytes,
    pub content_type: Option<String>,
    /// What rendering changed to fit the provider (a text cut to its length limit): shown by the
    /// dry run, not sent.
    pub notes: Vec<String>,
}

/// The received event as actions see it.
pub struct Incoming<'a> {
    pub raw_body: &'a Bytes,
    pub content_type: Option<&'a str>,
    pub ctx: &'a RenderContext,
}

impl Action {
    pub fn render(&self, t: &Templates, event: &Incoming<'_>) -> Result<RenderedRequest, RenderError> {
        let ctx = event.ctx;
        let json_body = |v: serde_json::Value| RenderedRequest {
            body: Bytes::from(v.to_string()),
            content_type: Some("application/json".into()),
            notes: Vec::new(),
        };
        let thread = self.thread.as_ref().map(|x| t.render_text(x, ctx)).transpose()?;
        Ok(match &self.plan {
            Plan::Slack { text, blocks } => {
                let mut body = serde_json::Map::new();
                if let Some(text) = text {
                    body.insert("text".into(), t.render_text(text, ctx)?.into());
                }
                if let Some(blocks) = blocks {
                    body.insert("blocks".into(), t.render_shape(blocks, ctx)?);
                }
                json_body(body.into())
            }
            Plan::Email { provider, from, recipients, subject, reply_to, text, html } => {
                let address = |field: String, value: String| {
                    email::one_address(&value).map_err(|reason| RenderError { template: field, reason })
                };
                let mut to = Vec::with_capacity(recipients.len());
                for (i, r) in recipients.iter().enumerate() {
                    to.push(address(format!("recipients[{i}]"), t.render_text(r, ctx)?)?);
                }
                let mail = email::Mail {
                    from: address("from".into(), t.render_text(from, ctx)?)?,
                    to,
                    subject: email::one_line(&t.render_text(subject, ctx)?),
                    reply_to: match reply_to {
                        Some(r) => Some(address("reply_to".into(), t.render_text(r, ctx)?)?),
                        None => None,
                    },
                    text: text.as_ref().map(|x| t.render_text(x, ctx)).transpose()?,
                    html: html.as_ref().map(|x| t.render_text(x, ctx)).transpose()?,
                };
                match provider {
                    EmailProvider::Smtp => smtp::stored_mail(&mail, thread.as_deref()),
                    _ => provider.request(&mail),
                }
            }
            Plan::Http { body } => match body {
                HttpBody::Forward => RenderedRequest {
                    body: event.raw_body.clone(),
                    content_type: event.content_type.map(str::to_owned),
                    notes: Vec::new(),
                },
                HttpBody::Text { text, content_type } => RenderedRequest {
                    body: Bytes::from(t.render_text(text, ctx)?),
                    content_type: Some(content_type.clone()),
                    notes: Vec::new(),
                },
                HttpBody::Json(shape) => json_body(t.render_shape(shape, ctx)?),
            },
            Plan::Log { text } => RenderedRequest {
                body: Bytes::from(t.render_text(text, ctx)?),
                content_type: Some("text/plain; charset=utf-8".into()),
                notes: Vec::new(),
            },
            Plan::Chat(plan) => plan.render(t, ctx, thread.as_deref())?,
            Plan::Pagerduty(plan) => plan.render(t, ctx, thread.as_deref())?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn incoming_parts() -> (Bytes, RenderContext) {
        let raw = Bytes::from_static(br#"{"type":"order.updated","payload":{"id":7,"status":"x"}}"#);
        let body: serde_json::Value = serde_json::from_slice(&raw).expect("json");
        let ctx = RenderContext::new("order.updated", &body, "house-check", "now");
        (raw, ctx)
    }

    #[test]
    fn slack_and_forward_and_json_bodies() {
        let mut t = Templates::default();
        let (raw, ctx) = incoming_parts();
        let ev = Incoming { raw_body: &raw, content_type: Some("application/json"), ctx: &ctx };
        let slack = Action {
            hours: None,
            thread: None,
            update_parent: false,
            reply_broadcast: false,
            destination: "s".into(),
            plan: Plan::Slack {
                text: Some(t.text("a", "Order {{ payload.id }}").expect("ok")),
                blocks: None,
            },
        };
        let r = slack.render(&t, &ev).expect("renders");
        assert_eq!(
            serde_json::from_slice::<serde_json::Value>(&r.body).expect("json"),
            serde_json::json!({"text": "Order 7"})
        );

        let forward = Action { plan: Plan::Http { body: HttpBody::Forward }, ..slack.clone() };
        let r = forward.render(&t, &ev).expect("renders");
        assert_eq!(r.body, raw, "byte for byte");
        assert_eq!(r.content_type.as_deref(), Some("application/json"));

        let shaped = Action {
            hours: None,
            thread: None,
            update_parent: false,
            reply_broadcast: false,
            destination: "h".into(),
            plan: Plan::Http {
                body: HttpBody::Json(Shape::Object(vec![(
                    "order".into(),
                    t.leaf("b", "{{ payload.id }}").expect("ok"),
                )])),
            },
        };
        let r = shaped.render(&t, &ev).expect("renders");
        assert_eq!(&r.body[..], br#"{"order":7}"#);
    }
}
