//! Strict JSON for received bodies: like `serde_json`, plus duplicate keys are refused (two parsers
//! could otherwise disagree on which value a rule saw). Depth is bounded by serde_json (128).
//! [`decode_received`] turns a verified body into the JSON value rules see, whatever its label:
//! the server, replays and `diff` must all agree on it, so it lives here, in a leaf.

use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};

/// Parses `bytes` as one JSON value, refusing duplicate object keys.
pub fn parse_strict(bytes: &[u8]) -> Result<Value, serde_json::Error> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = Strict.deserialize(&mut de)?;
    de.end()?;
    Ok(value)
}

/// Why a received body has no JSON value.
#[derive(Debug, thiserror::Error)]
pub enum BodyDecodeError {
    #[error("body is not valid JSON: {0}")]
    InvalidJson(serde_json::Error),
    #[error("the body must be JSON or application/x-www-form-urlencoded")]
    Unsupported,
}

/// The JSON value of a verified body. JSON is accepted whatever it is labelled (senders label it
/// carelessly; the signature already says who sent it). A form (`application/x-www-form-urlencoded`)
/// becomes an object of its fields: a field given more than once an array of its values, and a
/// `payload` field holding JSON that JSON. A form that is only a `payload` field holding an object
/// is that object, so GitHub's form deliveries route exactly like its JSON ones (and a Slack
/// interactivity request is its payload). Anything else labelled other than JSON is unsupported.
pub fn decode_received(raw: &[u8], content_type: Option<&str>) -> Result<Value, BodyDecodeError> {
    let json_error = match parse_strict(raw) {
        Ok(value) => return Ok(value),
        Err(e) => e,
    };
    let essence = content_type.map(|ct| ct.split(';').next().unwrap_or_default().trim().to_ascii_lowercase());
    match essence.as_deref() {
        Some("application/x-www-form-urlencoded") => Ok(form(raw)),
        None => Err(BodyDecodeError::InvalidJson(json_error)),
        Some(e) if e == "application/json" || e == "text/json" || e.ends_with("+json") => {
            Err(BodyDecodeError::InvalidJson(json_error))
        }
        Some(_) => Err(BodyDecodeError::Unsupported),
    }
}

/// A form body's fields as a JSON object (see [`decode_received`]).
fn form(raw: &[u8]) -> Value {
    let mut fields = Map::new();
    for (key, value) in form_urlencoded::parse(raw) {
        let value = match (key.as_ref(), parse_strict(value.as_bytes())) {
            ("payload", Ok(json)) => json,
            _ => Value::String(value.into_owned()),
        };
        match fields.get_mut(key.as_ref()) {
            Some(Value::Array(values)) => values.push(value),
            Some(first) => *first = Value::Array(vec![first.take(), value]),
            None => {
                fields.insert(key.into_owned(), value);
            }
        }
    }
    if fields.len() == 1
        && let Some(Value::Object(_)) = fields.get("payload")
    {
        return fields.remove("payload").unwrap_or_default();
    }
    Value::Object(fields)
}

struct Strict;

impl<'de> DeserializeSeed<'de> for Strict {
    type Value = Value;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Strict {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        Number::from_f64(v).map(Value::Number).ok_or_else(|| E::custom("number out of range"))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }
    fn visit_unit<E: de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(v) = seq.next_element_seed(Strict)? {
            items.push(v);
        }
        Ok(Value::Array(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            if out.contains_key(&key) {
                return Err(de::Error::custom(format_args!("duplicate key `{key}`")));
            }
            let value = map.next_value_seed(Strict)?;
            out.insert(key, value);
        }
        Ok(Value::Object(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strict_cases() {
        assert_eq!(
            parse_strict(br#"{"a": [1, 2.5, "x", null, true]}"#).expect("ok"),
            serde_json::json!({"a": [1, 2.5, "x", null, true]})
        );
        let dup = parse_strict(br#"{"type": "a", "type": "b"}"#).expect_err("duplicate");
        assert!(dup.to_string().contains("duplicate key `type`"), "{dup}");
        assert!(parse_strict(br#"{"a": {"b": 1, "b": 2}}"#).is_err(), "nested duplicates too");
        assert!(parse_strict(b"1e400").is_err(), "huge numbers");
        assert!(parse_strict(b"").is_err());
        assert!(parse_strict(b"{} {}").is_err(), "trailing data");
        assert!(parse_strict(&[b'['; 200]).is_err(), "depth is bounded");
        assert!(parse_strict(b"\"\xff\"").is_err(), "invalid UTF-8");
    }

    fn check(raw: &str, content_type: Option<&str>, expected: Option<serde_json::Value>) {
        let got = decode_received(raw.as_bytes(), content_type).ok();
        assert_eq!(got, expected, "{raw:?} as {content_type:?}");
    }

    #[test]
    fn received_bodies_by_content() {
        use serde_json::json;
        let form = Some("application/x-www-form-urlencoded");
        check(r#"{"type":"a"}"#, Some("text/plain"), Some(json!({"type": "a"})));
        check(r#"{"type":"a"}"#, None, Some(json!({"type": "a"})));
        check(r#"{"type":"a"}"#, Some("application/octet-stream"), Some(json!({"type": "a"})));
        check("payload=%7B%22action%22%3A%22opened%22%7D", form, Some(json!({"action": "opened"})));
        check(
            "command=%2Fdeploy&text=api+now&user_id=U1",
            Some("application/x-www-form-urlencoded; charset=utf-8"),
            Some(json!({"command": "/deploy", "text": "api now", "user_id": "U1"})),
        );
        check("a=1&a=2&a=3", form, Some(json!({"a": ["1", "2", "3"]})));
        check("payload=%7B%7D&x=1", form, Some(json!({"payload": {}, "x": "1"})));
        check("payload=not-json", form, Some(json!({"payload": "not-json"})));
        check("a=1", Some("text/plain"), None);
        check("a=1", Some("application/json"), None);
        check("a=1", None, None);
    }
}
