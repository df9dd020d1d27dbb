//! Telegram Bot API `sendMessage`: `POST {api_url}/bot<token>/sendMessage` with
//! `{chat_id, text, parse_mode?, reply_parameters?}`. The token sits in the URL path, so the URL is
//! built at compile time and masked like every other secret. Text over 4 096 characters is cut.
//! Threads: a reply names the first message's `message_id` (the "parent reference"), which a
//! success answer carries as `result.message_id`.

use serde_json::{Map, Value, json};

use super::chat::{Built, ChatMessage, add_fixed};

pub const MAX_TEXT_CHARS: usize = 4_096;
pub const DEFAULT_API_URL: &str = "https://api.telegram.org";

/// The `sendMessage` URL of a bot.
pub fn send_message_url(api_url: &str, token: &str) -> String {
    format!("{}/bot{token}/sendMessage", api_url.trim_end_matches('/'))
}

/// The body; `parent` is the `message_id` of the thread's first message, when known.
pub fn body(m: ChatMessage<'_>, parent: Option<i64>) -> Built {
    let Some(text) = m.text.filter(|t| !t.trim().is_empty()) else {
        return Err("a telegram message needs a non-empty `text`".into());
    };
    let mut notes = Vec::new();
    let text = match super::limit::chars(text, MAX_TEXT_CHARS) {
        Some(cut) => {
            notes.push(super::limit::chars_note("text", text, MAX_TEXT_CHARS));
            cut
        }
        None => text.to_owned(),
    };
    let mut body = Map::new();
    add_fixed(&mut body, m.fixed);
    body.insert("text".into(), text.into());
    if let Some(id) = parent {
        // A parent deleted since is not an error: the message is sent on its own.
        body.insert(
            "reply_parameters".into(),
            json!({"message_id": id, "allow_sending_without_reply": true}),
        );
    }
    Ok((Value::Object(body), notes))
}

/// A stored body given its thread's parent reference: what the thread store's wiring sends.
pub fn with_parent(body: &[u8], parent: i64) -> Option<Vec<u8>> {
    let mut v: Value = serde_json::from_slice(body).ok()?;
    v.as_object_mut()?.insert(
        "reply_parameters".into(),
        json!({"message_id": parent, "allow_sending_without_reply": true}),
    );
    Some(v.to_string().into_bytes())
}

/// The sent message's id from a `sendMessage` answer (`{"ok":true,"result":{"message_id":…}}`).
pub fn message_id(answer: &[u8]) -> Option<i64> {
    let v: Value = serde_json::from_slice(answer).ok()?;
    if v.get("ok") != Some(&Value::Bool(true)) {
        return None;
    }
    v.get("result")?.get("message_id")?.as_i64()
}

/// Telegram's conversations: the reference is `{"message_id": <result.message_id>}`, a reply
/// carries it as `reply_parameters.message_id`.
pub struct TelegramThreads;

impl super::threads::ThreadProtocol for TelegramThreads {
    fn reference(&self, response: &[u8]) -> Option<super::threads::ParentRef> {
        message_id(response).map(|id| super::threads::ParentRef(json!({ "message_id": id })))
    }

    fn apply_parent(
        &self,
        request: &super::RenderedRequest,
        parent: &super::threads::ParentRef,
        _options: super::threads::ReplyOptions,
    ) -> Result<super::RenderedRequest, String> {
        let id = parent
            .0
            .get("message_id")
            .and_then(Value::as_i64)
            .ok_or("the stored Telegram thread reference has no message_id")?;
        let body =
            with_parent(&request.body, id).ok_or("the rendered Telegram message is not a JSON object")?;
        Ok(super::RenderedRequest { body: body.into(), ..request.clone() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn build(text: &str, parent: Option<i64>) -> Built {
        let fixed = json!({"chat_id": -1001, "parse_mode": "HTML"});
        let fixed = fixed.as_object().cloned().unwrap_or_default();
        body(ChatMessage { text: Some(text), extra: None, fixed: &fixed, thread: None }, parent)
    }

    #[test]
    fn body_url_and_parent_reference() {
        let (b, notes) = build("Order <b>7</b>", None).expect("builds");
        assert_eq!(b, json!({"chat_id": -1001, "parse_mode": "HTML", "text": "Order <b>7</b>"}));
        assert!(notes.is_empty());
        let (b, _) = build("reply", Some(42)).expect("builds");
        assert_eq!(b["reply_parameters"], json!({"message_id": 42, "allow_sending_without_reply": true}));
        assert_eq!(
            send_message_url("http://127.0.0.1:9/", "123:ABC"),
            "http://127.0.0.1:9/bot123:ABC/sendMessage"
        );
        let stored = br#"{"chat_id":1,"text":"x"}"#;
        let v: Value = serde_json::from_slice(&with_parent(stored, 5).expect("json")).expect("json");
        assert_eq!(v["reply_parameters"]["message_id"], 5);
        assert!(with_parent(b"[]", 5).is_none());
        assert!(build(" ", None).is_err());
    }

    #[test]
    fn long_text_is_cut() {
        let (b, notes) = build(&"a".repeat(5_000), None).expect("builds");
        assert_eq!(b["text"].as_str().expect("text").chars().count(), MAX_TEXT_CHARS);
        assert_eq!(notes.len(), 1);
    }

    fn check_id(answer: &str, expected: Option<i64>) {
        assert_eq!(message_id(answer.as_bytes()), expected, "{answer}");
    }

    #[test]
    fn message_ids_from_answers() {
        check_id(r#"{"ok":true,"result":{"message_id":77,"chat":{"id":1}}}"#, Some(77));
        check_id(r#"{"ok":false,"error_code":400,"description":"Bad Request"}"#, None);
        check_id(r#"{"ok":true,"result":{}}"#, None);
        check_id("not json", None);
    }
}
