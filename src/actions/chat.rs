//! The plan shared by the chat-like destination types (Teams, Discord, Google Chat, Mattermost,
//! Telegram): render the text and the optional structured extra, then let the provider's module
//! build its body. Each provider's shape lives in its own file; this one only dispatches.

use bytes::Bytes;
use serde_json::{Map, Value};

use super::{DestinationKind, RenderedRequest};
use crate::template::{RenderContext, RenderError, Shape, Templates, Text};

#[derive(Debug, Clone)]
pub struct ChatPlan {
    pub kind: DestinationKind,
    pub text: Option<Text>,
    /// Teams `card`, Discord `embeds`, Google Chat `cards_v2`.
    pub extra: Option<Shape>,
    /// Body fields fixed by the destination (Discord `username`, Telegram `chat_id`, …).
    pub fixed: Map<String, Value>,
}

/// What a provider's body builder gets.
pub struct ChatMessage<'a> {
    pub text: Option<&'a str>,
    pub extra: Option<Value>,
    pub fixed: &'a Map<String, Value>,
    pub thread: Option<&'a str>,
}

/// A provider's body and what it had to change to fit (the dry run shows the notes).
pub type Built = Result<(Value, Vec<String>), String>;

impl ChatPlan {
    pub fn render(
        &self,
        t: &Templates,
        ctx: &RenderContext,
        thread: Option<&str>,
    ) -> Result<RenderedRequest, RenderError> {
        let text = self.text.as_ref().map(|x| t.render_text(x, ctx)).transpose()?;
        let extra = self.extra.as_ref().map(|x| t.render_shape(x, ctx)).transpose()?;
        let message = ChatMessage { text: text.as_deref(), extra, fixed: &self.fixed, thread };
        let built = match self.kind {
            DestinationKind::Teams => super::teams::body(message),
            DestinationKind::Discord => super::discord::body(message),
            DestinationKind::GoogleChat => super::google_chat::body(message),
            DestinationKind::Mattermost => super::mattermost::body(message),
            DestinationKind::Telegram => super::telegram::body(message, None),
            other => Err(format!("{} is not a chat destination", other.name())),
        };
        let (body, notes) = built.map_err(|reason| RenderError { template: "text".into(), reason })?;
        Ok(RenderedRequest {
            body: Bytes::from(body.to_string()),
            content_type: Some("application/json".into()),
            notes,
        })
    }
}

/// Copies the destination's fixed fields into `body`.
pub fn add_fixed(body: &mut Map<String, Value>, fixed: &Map<String, Value>) {
    for (k, v) in fixed {
        body.insert(k.clone(), v.clone());
    }
}
