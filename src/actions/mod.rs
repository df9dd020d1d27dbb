//! What a rule does: an [`Action`] renders one outgoing request body for one [`Destination`].
//!
//! Rendering is pure. The destination's URL and headers (which hold secrets) are not part of the
//! rendered request: the deliverer takes them from the running config when it sends, so they are
//! never copied into a queue or a log.

mod email;
mod sign;
pub mod slack_api;
pub mod threads;

use bytes::Bytes;
pub use email::{EmailProvider, one_address};
pub use sign::OutboundSign;

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
        };
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
                provider.request(&mail)
            }
            Plan::Http { body } => match body {
                HttpBody::Forward => RenderedRequest {
                    body: event.raw_body.clone(),
                    content_type: event.content_type.map(str::to_owned),
                },
                HttpBody::Text { text, content_type } => RenderedRequest {
                    body: Bytes::from(t.render_text(text, ctx)?),
                    content_type: Some(content_type.clone()),
                },
                HttpBody::Json(shape) => json_body(t.render_shape(shape, ctx)?),
            },
            Plan::Log { text } => RenderedRequest {
                body: Bytes::from(t.render_text(text, ctx)?),
                content_type: Some("text/plain; charset=utf-8".into()),
            },
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
