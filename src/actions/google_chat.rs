//! Google Chat incoming webhooks: `{text, cardsV2?}`, and with `thread:` the body's
//! `thread.threadKey` plus the URL's `messageReplyOption=REPLY_MESSAGE_FALLBACK_TO_NEW_THREAD`
//! (Chat keeps the thread: no storage needed). Messages are at most 32 000 bytes.

use serde_json::{Map, Value, json};

use super::chat::{Built, ChatMessage, add_fixed};

pub const MAX_BYTES: usize = 32_000;
const REPLY_OPTION: &str = "messageReplyOption=REPLY_MESSAGE_FALLBACK_TO_NEW_THREAD";

pub fn body(m: ChatMessage<'_>) -> Built {
    let build = |text: Option<&str>| {
        let mut body = Map::new();
        if let Some(text) = text {
            body.insert("text".into(), text.into());
        }
        if let Some(cards) = &m.extra {
            body.insert("cardsV2".into(), cards.clone());
        }
        if let Some(key) = m.thread {
            body.insert("thread".into(), json!({ "threadKey": key }));
        }
        add_fixed(&mut body, m.fixed);
        Value::Object(body)
    };
    if m.extra.as_ref().is_some_and(|c| !c.is_array()) {
        return Err("`cards_v2` must render to a list of cards".into());
    }
    match m.text {
        Some(text) => {
            let (body, note) = super::limit::fit_body(text, MAX_BYTES, "text", |t| build(Some(t)))?;
            Ok((body, note.into_iter().collect()))
        }
        None if m.extra.is_some() => {
            let body = build(None);
            let size = body.to_string().len();
            if size > MAX_BYTES {
                return Err(format!(
                    "the message is {size} bytes, over Google Chat's {MAX_BYTES}-byte limit"
                ));
            }
            Ok((body, Vec::new()))
        }
        None => Err("a google-chat message needs `text` or `cards_v2`".into()),
    }
}

/// The webhook URL for one rendered body: a body with a thread key asks Chat to reply in that
/// thread (or open it). Pure, applied at send time (the URL is a secret and never stored).
pub fn url_with_thread(url: &str, body: &[u8]) -> String {
    let threaded = serde_json::from_slice::<Value>(body).is_ok_and(|b| b.get("thread").is_some());
    if !threaded || url.contains("messageReplyOption=") {
        return url.to_owned();
    }
    let separator = if url.contains('?') { '&' } else { '?' };
    format!("{url}{separator}{REPLY_OPTION}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn build(text: Option<&str>, cards: Option<Value>, thread: Option<&str>) -> Built {
        let fixed = Map::new();
        body(ChatMessage { text, extra: cards, fixed: &fixed, thread })
    }

    #[test]
    fn text_cards_and_thread_key() {
        assert_eq!(build(Some("hi"), None, None).expect("builds").0, json!({"text": "hi"}));
        let (b, _) = build(Some("hi"), Some(json!([{"cardId": "c"}])), Some("order-7")).expect("builds");
        assert_eq!(
            b,
            json!({"text": "hi", "cardsV2": [{"cardId": "c"}], "thread": {"threadKey": "order-7"}})
        );
        assert!(build(None, None, None).is_err());
        assert!(build(None, Some(json!({"cardId": "c"})), None).is_err());
    }

    #[test]
    fn long_text_is_cut_to_the_byte_limit() {
        let (b, notes) = build(Some(&"ü".repeat(20_000)), None, Some("k")).expect("builds");
        assert!(b.to_string().len() <= MAX_BYTES);
        assert_eq!(notes.len(), 1);
    }

    fn check_url(url: &str, body: &str, expected: &str) {
        assert_eq!(url_with_thread(url, body.as_bytes()), expected, "{url} {body}");
    }

    #[test]
    fn the_reply_option_goes_on_threaded_messages_only() {
        let u = "https://chat.googleapis.com/v1/spaces/S/messages?key=K&token=T";
        check_url(u, r#"{"text":"x"}"#, u);
        check_url(u, r#"{"text":"x","thread":{"threadKey":"k"}}"#, &format!("{u}&{REPLY_OPTION}"));
        check_url(
            "http://127.0.0.1:9/m",
            r#"{"thread":{"threadKey":"k"}}"#,
            &format!("http://127.0.0.1:9/m?{REPLY_OPTION}"),
        );
        let given = format!("{u}&{REPLY_OPTION}");
        check_url(&given, r#"{"thread":{"threadKey":"k"}}"#, &given);
        check_url(u, "not json", u);
    }
}
