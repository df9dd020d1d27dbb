//! Discord channel webhooks: `{content, embeds?, username?, avatar_url?, allowed_mentions}`.
//! `allowed_mentions.parse` is `[]` unless the destination allows some, so forwarded text cannot
//! ping `@everyone`. Content over 2 000 characters is refused by Discord, so it is cut.

use serde_json::{Map, Value, json};

use super::chat::{Built, ChatMessage, add_fixed};

pub const MAX_CONTENT_CHARS: usize = 2_000;
/// Discord's limit on embeds per message.
const MAX_EMBEDS: usize = 10;

pub fn body(m: ChatMessage<'_>) -> Built {
    let mut body = Map::new();
    let mut notes = Vec::new();
    if let Some(text) = m.text {
        let content = match super::limit::chars(text, MAX_CONTENT_CHARS) {
            Some(cut) => {
                notes.push(super::limit::chars_note("content", text, MAX_CONTENT_CHARS));
                cut
            }
            None => text.to_owned(),
        };
        body.insert("content".into(), content.into());
    }
    if let Some(embeds) = m.extra {
        let embeds = match embeds {
            Value::Array(list) => list,
            single @ Value::Object(_) => vec![single],
            other => return Err(format!("`embeds` must render to a list of objects, not {other}")),
        };
        if embeds.len() > MAX_EMBEDS {
            return Err(format!("{} embeds: Discord takes at most {MAX_EMBEDS}", embeds.len()));
        }
        body.insert("embeds".into(), embeds.into());
    }
    if body.get("content").and_then(Value::as_str).is_none_or(str::is_empty) && !body.contains_key("embeds") {
        return Err("a discord message needs a non-empty `text` or `embeds`".into());
    }
    body.insert("allowed_mentions".into(), json!({ "parse": [] }));
    add_fixed(&mut body, m.fixed);
    Ok((Value::Object(body), notes))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn build(text: Option<&str>, embeds: Option<Value>, fixed: Value) -> Built {
        let fixed = fixed.as_object().cloned().unwrap_or_default();
        body(ChatMessage { text, extra: embeds, fixed: &fixed, thread: None })
    }

    #[test]
    fn content_with_no_pings_by_default() {
        let (b, notes) = build(Some("hi @everyone"), None, json!({})).expect("builds");
        assert_eq!(b, json!({"content": "hi @everyone", "allowed_mentions": {"parse": []}}));
        assert!(notes.is_empty());
    }

    #[test]
    fn destination_fields_and_embeds() {
        let fixed = json!({"username": "hookroute", "allowed_mentions": {"parse": ["users"]}});
        let (b, _) = build(Some("x"), Some(json!([{"title": "t"}])), fixed).expect("builds");
        assert_eq!(b["username"], "hookroute");
        assert_eq!(b["allowed_mentions"], json!({"parse": ["users"]}));
        assert_eq!(b["embeds"], json!([{"title": "t"}]));
        let (b, _) = build(None, Some(json!({"title": "one"})), json!({})).expect("builds");
        assert_eq!(b["embeds"], json!([{"title": "one"}]));
    }

    #[test]
    fn limits() {
        let (b, notes) = build(Some(&"é".repeat(2_500)), None, json!({})).expect("builds");
        assert_eq!(b["content"].as_str().expect("content").chars().count(), 2_000);
        assert_eq!(notes, vec!["content cut from 2500 to 2000 characters (the provider's limit)"]);
        assert!(build(None, Some(json!(vec![json!({}); 11])), json!({})).is_err());
        assert!(build(Some(""), None, json!({})).is_err());
        assert!(build(None, Some(json!("x")), json!({})).is_err());
    }
}
