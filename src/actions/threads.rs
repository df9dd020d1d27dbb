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

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;
    use crate::actions::smtp::SmtpThreads;
    use crate::actions::telegram::TelegramThreads;

    fn request(body: Value) -> RenderedRequest {
        RenderedRequest {
            body: body.to_string().into(),
            content_type: Some("application/json".into()),
            notes: vec![],
        }
    }

    /// What `answer` yields as a reference, and (when it yields one) what a reply made from
    /// `body` with it looks like.
    fn check(p: &dyn ThreadProtocol, answer: &str, expected: Option<Value>, body: Value, reply: Value) {
        let got = p.reference(answer.as_bytes());
        assert_eq!(got.as_ref().map(|r| r.0.clone()), expected, "{answer}");
        let Some(parent) = got else { return };
        let stored = ParentRef::from_stored(&parent.to_stored()).expect("stored and read back");
        let applied = p.apply_parent(&request(body), &stored, ReplyOptions::default()).expect("applies");
        assert_eq!(serde_json::from_slice::<Value>(&applied.body).expect("json"), reply, "{answer}");
        assert_eq!(applied.content_type.as_deref(), Some("application/json"), "the content type is kept");
    }

    #[test]
    fn telegram_and_smtp_references_and_replies() {
        let tg = &TelegramThreads;
        let msg = json!({"chat_id": 1, "text": "x"});
        check(
            tg,
            r#"{"ok":true,"result":{"message_id":77}}"#,
            Some(json!({"message_id": 77})),
            msg.clone(),
            json!({"chat_id": 1, "text": "x",
                   "reply_parameters": {"message_id": 77, "allow_sending_without_reply": true}}),
        );
        check(tg, r#"{"ok":false,"error_code":400}"#, None, msg.clone(), Value::Null);
        check(tg, r#"{"ok":true,"result":{}}"#, None, msg, Value::Null);

        let smtp = &SmtpThreads;
        let mail = json!({"from": "a@x.example", "to": ["b@x.example"], "subject": "s", "text": "t"});
        let mut replied = mail.clone();
        replied["parent"] = json!("<hookroute.e.1@x.example>");
        check(
            smtp,
            "<hookroute.e.1@x.example>",
            Some(json!({"message_id": "<hookroute.e.1@x.example>"})),
            mail.clone(),
            replied,
        );
        check(smtp, "no-brackets@x.example", None, mail.clone(), Value::Null);
        check(smtp, "<a@b>\r\nBcc: c@d", None, mail, Value::Null);
    }

    #[test]
    fn a_damaged_reference_or_body_is_an_error_not_a_panic() {
        let wrong = ParentRef(json!({"ts": "1"}));
        let o = ReplyOptions::default();
        assert!(TelegramThreads.apply_parent(&request(json!({"text": "x"})), &wrong, o).is_err());
        assert!(SmtpThreads.apply_parent(&request(json!({"text": "x"})), &wrong, o).is_err());
        let id = ParentRef(json!({"message_id": 5}));
        assert!(TelegramThreads.apply_parent(&request(json!([1])), &id, o).is_err());
        let mid = ParentRef(json!({"message_id": "<a@b>"}));
        assert!(SmtpThreads.apply_parent(&request(json!({"text": "no from"})), &mid, o).is_err());
    }
}
