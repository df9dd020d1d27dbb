//! Conversations ("threads") at a provider, as a small pure interface per destination kind: how to
//! find the provider's reference to the message a success response created, and how to make a
//! request a reply to such a reference. The deliverer (`deliver::threads`) decides through the
//! store which delivery opens a conversation and which reply to it; it knows nothing about any
//! provider.
//!
//! Extension point: a destination kind that can thread implements [`ThreadProtocol`] and is named
//! in [`protocol`]. Implemented: Slack's Web API (`slack_api.rs`: `{channel, ts}` → `thread_ts`),
//! Telegram (`telegram.rs`: `result.message_id` → `reply_parameters.message_id`) and SMTP email
//! (`smtp.rs`: the `Message-ID` sent → `In-Reply-To`/`References`). Providers that thread by a key the sender
//! chooses (Google Chat's `threadKey`, PagerDuty's `dedup_key`) need no stored reference and no
//! protocol here: their request shapes use the rendered key directly.

use super::{Destination, DestinationKind, RenderedRequest};

/// The provider's reference to the message that opened a conversation (Slack: `{"channel", "ts"}`),
/// as JSON: stored as text in the thread record, never holding a secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParentRef(pub serde_json::Value);

impl ParentRef {
    /// The reference as stored.
    pub fn to_stored(&self) -> String {
        self.0.to_string()
    }

    /// A stored reference back; `None` when the text is not JSON (a damaged row).
    pub fn from_stored(text: &str) -> Option<Self> {
        serde_json::from_str(text).ok().map(Self)
    }
}

/// How a reply is sent, from the action.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReplyOptions {
    /// Slack `reply_broadcast`: the reply also shows in the channel.
    pub broadcast: bool,
}

/// What a destination kind that supports conversations must provide. Both functions are pure.
pub trait ThreadProtocol: Send + Sync {
    /// The reference to the message a success response (its body) created; `None` when the
    /// response names none (the message is delivered but opens no conversation).
    fn reference(&self, response: &[u8]) -> Option<ParentRef>;
    /// The request to send as a reply in the conversation `parent` opened.
    fn apply_parent(
        &self,
        request: &RenderedRequest,
        parent: &ParentRef,
        options: ReplyOptions,
    ) -> Result<RenderedRequest, String>;
}

/// The conversation protocol of a destination, if it has one (`thread:` is ignored otherwise).
pub fn protocol(dest: &Destination) -> Option<&'static dyn ThreadProtocol> {
    if dest.slack_api.is_some() {
        return Some(&super::slack_api::SlackThreads);
    }
    match dest.kind {
        DestinationKind::Telegram => Some(&super::telegram::TelegramThreads),
        DestinationKind::Email if dest.smtp.is_some() => Some(&super::smtp::SmtpThreads),
        _ => None,
    }
}

/// Whether actions sending to `dest` can use `thread:`.
pub fn supports_threads(dest: &Destination) -> bool {
    protocol(dest).is_some()
}
