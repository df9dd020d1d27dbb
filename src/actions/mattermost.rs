//! Mattermost incoming webhooks: `{text, channel?, username?, icon_url?, icon_emoji?}`, the
//! optional fields fixed by the destination. Answers 200 `ok`.

use serde_json::{Map, Value};

use super::chat::{Built, ChatMessage, add_fixed};

pub fn body(m: ChatMessage<'_>) -> Built {
    let Some(text) = m.text.filter(|t| !t.is_empty()) else {
        return Err("a mattermost message needs a non-empty `text`".into());
    };
    let mut body = Map::new();
    body.insert("text".into(), text.into());
    add_fixed(&mut body, m.fixed);
    Ok((Value::Object(body), Vec::new()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn text_and_destination_fields() {
        let fixed = json!({"channel": "town-square", "username": "hookroute"});
        let fixed = fixed.as_object().cloned().unwrap_or_default();
        let m = ChatMessage { text: Some("Order 7"), extra: None, fixed: &fixed, thread: None };
        let (b, _) = body(m).expect("builds");
        assert_eq!(b, json!({"text": "Order 7", "channel": "town-square", "username": "hookroute"}));
        let empty = ChatMessage { text: Some(""), extra: None, fixed: &fixed, thread: None };
        assert!(body(empty).is_err());
    }
}
