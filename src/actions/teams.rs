//! Microsoft Teams (Workflows and the legacy connector accept the same envelope): an Adaptive
//! Card in a `message` attachment, the text as a wrapping TextBlock, or the action's own `card:`.
//! Teams refuses messages over 28 KB, so the text is cut to fit.

use serde_json::{Value, json};

use super::chat::{Built, ChatMessage};

/// Teams' documented message limit (28 KB); one client measured less, so bytes, not KiB.
pub const MAX_BYTES: usize = 28_000;

fn envelope(card: Value) -> Value {
    json!({
        "type": "message",
        "attachments": [{
            "contentType": "application/vnd.microsoft.card.adaptive",
            "contentUrl": null,
            "content": card,
        }],
    })
}

fn text_card(text: &str) -> Value {
    json!({
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": "1.2",
        "body": [{"type": "TextBlock", "text": text, "wrap": true}],
    })
}

pub fn body(m: ChatMessage<'_>) -> Built {
    match (m.extra, m.text) {
        (Some(card), _) => {
            let body = envelope(card);
            let size = body.to_string().len();
            if size > MAX_BYTES {
                return Err(format!("the card is {size} bytes, over Teams' {MAX_BYTES}-byte limit"));
            }
            Ok((body, Vec::new()))
        }
        (None, Some(text)) => {
            let (body, note) = super::limit::fit_body(text, MAX_BYTES, "text", |t| envelope(text_card(t)))?;
            Ok((body, note.into_iter().collect()))
        }
        (None, None) => Err("a teams message needs `text` or `card`".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn build(text: Option<&str>, card: Option<Value>) -> Built {
        let fixed = serde_json::Map::new();
        body(ChatMessage { text, extra: card, fixed: &fixed, thread: None })
    }

    #[test]
    fn text_becomes_a_text_block_in_the_workflows_envelope() {
        let (b, notes) = build(Some("Order 7 shipped"), None).expect("builds");
        assert!(notes.is_empty());
        assert_eq!(b["type"], "message");
        let a = &b["attachments"][0];
        assert_eq!(a["contentType"], "application/vnd.microsoft.card.adaptive");
        assert_eq!(a["contentUrl"], Value::Null);
        assert_eq!(a["content"]["type"], "AdaptiveCard");
        assert_eq!(
            a["content"]["body"][0],
            json!({"type": "TextBlock", "text": "Order 7 shipped", "wrap": true})
        );
    }

    #[test]
    fn a_card_is_sent_as_written_and_long_text_is_cut() {
        let card = json!({"type": "AdaptiveCard", "version": "1.4", "body": []});
        let (b, _) = build(Some("ignored"), Some(card.clone())).expect("builds");
        assert_eq!(b["attachments"][0]["content"], card);
        let (b, notes) = build(Some(&"x".repeat(40_000)), None).expect("builds");
        assert!(b.to_string().len() <= MAX_BYTES);
        assert_eq!(notes.len(), 1, "{notes:?}");
        let huge =
            json!({"type": "AdaptiveCard", "body": [{"type": "TextBlock", "text": "x".repeat(30_000)}]});
        assert!(build(None, Some(huge)).expect_err("too big").contains("28000-byte"));
        assert!(build(None, None).is_err());
    }
}
