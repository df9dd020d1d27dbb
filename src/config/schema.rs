//! `hookroute schema`: a JSON Schema (draft-07, what the VS Code YAML extension and IntelliJ read) of
//! the rules file, derived from the same `raw` structs the loader decodes, so it cannot drift from
//! what `check` accepts. The polymorphic parts (`when`, `events`, `dedup`) are decoded from the
//! located node tree by hand, so their schemas are written here, next to each other.
//!
//! The schema checks shape (keys, types, enum values) for completion and red squiggles as rules are
//! typed; `hookroute check` remains the authority (JSONPath syntax, templates, references).

use std::collections::BTreeMap;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde_json::Value;

use super::raw::{RawDedup, RawDestination, RawRule, RawSettings, RawSource};

/// The whole rules file.
#[derive(JsonSchema)]
#[schemars(deny_unknown_fields, title = "hookroute rules file")]
#[allow(dead_code)] // only its schema is used
struct RulesFile {
    /// Service-wide limits and delivery defaults.
    settings: Option<RawSettings>,
    /// Who may send events, and how their signatures are checked; keyed by the name in `/hooks/{name}`.
    sources: Option<BTreeMap<String, RawSource>>,
    /// Where actions send; keyed by the name actions use in `to:`.
    destinations: Option<BTreeMap<String, RawDestination>>,
    /// Evaluated in file order for every verified event.
    rules: Option<Vec<RawRule>>,
}

/// The schema as pretty JSON.
pub fn rules_file_json() -> String {
    let generator = schemars::generate::SchemaSettings::draft07().into_generator();
    let schema = generator.into_root_schema_for::<RulesFile>();
    serde_json::to_string_pretty(&schema).unwrap_or_default()
}

/// `events:` a name, a glob or a list of them.
pub(super) fn events(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "description": "Event types this rule handles: a name (`order.updated`), a glob (`order.*`, `*`) or a list of them. All types when absent.",
        "anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]
    })
}

/// `dedup:` `false`, `true` or the key and window.
pub(super) fn dedup(generator: &mut SchemaGenerator) -> Schema {
    let detailed = generator.subschema_for::<RawDedup>();
    json_schema!({
        "description": "Drop repeated deliveries of the same event: `false` to turn off, or which key and for how long (default: the body hash, 24h).",
        "anyOf": [{"type": "boolean"}, detailed]
    })
}

pub(super) fn blocks(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "description": "Slack Block Kit blocks; every string inside is a template.",
        "type": "array"
    })
}

pub(super) fn any(_: &mut SchemaGenerator) -> Schema {
    json_schema!({"description": "Any YAML value; every string inside is a template, `{{ expr }}` alone keeps its JSON type."})
}

/// `when:`, recursive: stored once under `definitions/Condition` and referenced.
pub(super) fn condition(generator: &mut SchemaGenerator) -> Schema {
    const NAME: &str = "Condition";
    let reference = json_schema!({"$ref": "#/definitions/Condition"});
    if generator.definitions().contains_key(NAME) {
        return reference;
    }
    let r = Value::from(reference.clone());
    let list = serde_json::json!({"type": "array", "items": r});
    let operand =
        |kind: Value, description: &str| serde_json::json!({"description": description, "type": kind});
    let mut operators = serde_json::Map::new();
    let any_value = serde_json::json!({"description": "Equal to this value (numbers compare numerically)."});
    operators.insert("equals".into(), any_value.clone());
    operators.insert("not_equals".into(), any_value);
    operators.insert("in".into(), operand("array".into(), "One of these values."));
    operators.insert("not_in".into(), operand("array".into(), "None of these values."));
    operators.insert("exists".into(), operand("boolean".into(), "Whether the path selects anything."));
    operators.insert("matches".into(), operand("string".into(), "A regular expression the string matches."));
    operators.insert(
        "contains".into(),
        serde_json::json!({"description": "A substring, or an element of an array."}),
    );
    operators.insert(
        "becomes".into(),
        serde_json::json!({"description": "Equals this now, and the previous event of the same key did not (or there was none). Needs the source's `key`."}),
    );
    operators.insert(
        "changed".into(),
        operand(
            "boolean".into(),
            "Whether the value differs from the previous event of the same key's (first event: true).",
        ),
    );
    operators.insert("starts_with".into(), operand("string".into(), "A prefix of the string."));
    operators.insert("ends_with".into(), operand("string".into(), "A suffix of the string."));
    for op in ["gt", "gte", "lt", "lte"] {
        operators.insert(
            op.into(),
            operand(
                serde_json::json!(["number", "string"]),
                "A number (or an RFC 3339 time) to compare with.",
            ),
        );
    }
    let mut test_properties = operators.clone();
    test_properties.insert(
        "path".into(),
        operand("string".into(), "A JSONPath query on the event body, e.g. `$.payload.status`."),
    );
    test_properties.insert("header".into(), operand("string".into(), "A request header name."));
    let definition = serde_json::json!({
        "description": "A JSONPath string (true when it selects anything), a list (all of them), `all`/`any`/`not`, or `path:` or `header:` with exactly one operator.",
        "anyOf": [
            {"type": "string"},
            list,
            {"type": "object", "properties": {"all": list}, "required": ["all"], "additionalProperties": false},
            {"type": "object", "properties": {"any": list}, "required": ["any"], "additionalProperties": false},
            {"type": "object", "properties": {"not": r}, "required": ["not"], "additionalProperties": false},
            {
                "type": "object",
                "properties": test_properties,
                "additionalProperties": false,
                "minProperties": 2,
                "maxProperties": 2,
                "oneOf": [{"required": ["path"]}, {"required": ["header"]}]
            }
        ]
    });
    generator.definitions_mut().insert(NAME.into(), definition);
    reference
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_schema_is_draft_07_and_refuses_unknown_keys() {
        let schema: serde_json::Value = serde_json::from_str(&super::rules_file_json()).expect("JSON");
        assert_eq!(schema["$schema"], "http://json-schema.org/draft-07/schema#");
        assert_eq!(schema["additionalProperties"], false);
        assert!(schema["definitions"]["Condition"]["anyOf"].is_array(), "{schema:#}");
        let text = schema.to_string();
        for needle in
            ["hmac-sha256", "standard-webhooks", "sendgrid", "max_concurrent_requests", "admin_token"]
        {
            assert!(text.contains(needle), "{needle} in the schema");
        }
    }
}
