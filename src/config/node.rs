//! A YAML document as a tree of located nodes, and a serde `Deserializer` over it.
//!
//! serde stops at the first error of a document. Parsing into this tree first lets the compiler decode
//! every rule, destination and source on its own, so `check` reports every problem at once, each with
//! its line, column and field path (`rules[2].when.all[0].path`).

use std::fmt;

use serde::de::{self, DeserializeSeed, IntoDeserializer, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer};

/// A position in the rules file, 1-based. `0:0` means unknown.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Loc {
    pub line: u32,
    pub col: u32,
}

impl fmt::Display for Loc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.col)
    }
}

/// One YAML value with where it stands.
#[derive(Clone, Debug, PartialEq)]
pub struct Node {
    pub loc: Loc,
    pub value: NodeValue,
}

#[derive(Clone, Debug, PartialEq)]
pub enum NodeValue {
    Null,
    Bool(bool),
    Int(i64),
    UInt(u64),
    Float(f64),
    Str(String),
    Seq(Vec<Node>),
    Map(Vec<(Node, Node)>),
}

impl Node {
    pub fn kind(&self) -> &'static str {
        match &self.value {
            NodeValue::Null => "null",
            NodeValue::Bool(_) => "a boolean",
            NodeValue::Int(_) | NodeValue::UInt(_) | NodeValue::Float(_) => "a number",
            NodeValue::Str(_) => "a string",
            NodeValue::Seq(_) => "a list",
            NodeValue::Map(_) => "a mapping",
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match &self.value {
            NodeValue::Str(s) => Some(s),
            _ => None,
        }
    }

    /// The mapping's entries with string keys; `None` when this is not a mapping.
    pub fn entries(&self) -> Option<impl Iterator<Item = (&str, &Node, &Node)>> {
        match &self.value {
            NodeValue::Map(entries) => Some(entries.iter().map(|(k, v)| (k.as_str().unwrap_or(""), k, v))),
            _ => None,
        }
    }

    /// The value under `key` in a mapping.
    pub fn get(&self, key: &str) -> Option<&Node> {
        self.entries()?.find(|(name, _, _)| *name == key).map(|(_, _, v)| v)
    }

    /// The node as plain JSON (for literal values such as `equals: 5`).
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::Value;
        match &self.value {
            NodeValue::Null => Value::Null,
            NodeValue::Bool(b) => Value::Bool(*b),
            NodeValue::Int(i) => Value::from(*i),
            NodeValue::UInt(u) => Value::from(*u),
            NodeValue::Float(f) => serde_json::Number::from_f64(*f).map_or(Value::Null, Value::Number),
            NodeValue::Str(s) => Value::String(s.clone()),
            NodeValue::Seq(items) => Value::Array(items.iter().map(Node::to_json).collect()),
            NodeValue::Map(entries) => {
                Value::Object(entries.iter().map(|(k, v)| (k.scalar_text(), v.to_json())).collect())
            }
        }
    }

    /// The text of a scalar (numbers and booleans printed), empty for collections.
    pub fn scalar_text(&self) -> String {
        match &self.value {
            NodeValue::Null => String::new(),
            NodeValue::Bool(b) => b.to_string(),
            NodeValue::Int(i) => i.to_string(),
            NodeValue::UInt(u) => u.to_string(),
            NodeValue::Float(f) => f.to_string(),
            NodeValue::Str(s) => s.clone(),
            NodeValue::Seq(_) | NodeValue::Map(_) => String::new(),
        }
    }

    /// Calls `f` with the location and field path of every string scalar, keys excluded.
    pub fn for_each_str_mut(&mut self, path: &str, f: &mut dyn FnMut(Loc, &str, &mut String)) {
        let loc = self.loc;
        match &mut self.value {
            NodeValue::Str(s) => f(loc, path, s),
            NodeValue::Seq(items) => {
                for (i, n) in items.iter_mut().enumerate() {
                    n.for_each_str_mut(&format!("{path}[{i}]"), f);
                }
            }
            NodeValue::Map(entries) => {
                for (k, v) in entries.iter_mut() {
                    v.for_each_str_mut(&join(path, &k.scalar_text()), f);
                }
            }
            _ => {}
        }
    }
}

// ---------------------------------------------------------------------------------------------
// From YAML text: serde-saphyr parses (with its budgets against alias bombs) into this tree.

/// What serde-saphyr gives us: a value with its location.
struct YamlNode(Node);

impl<'de> Deserialize<'de> for YamlNode {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let spanned = serde_saphyr::Spanned::<YamlValue>::deserialize(d)?;
        let loc = Loc {
            line: u32::try_from(spanned.referenced.line()).unwrap_or(u32::MAX),
            col: u32::try_from(spanned.referenced.column()).unwrap_or(u32::MAX),
        };
        Ok(YamlNode(Node { loc, value: spanned.value.0 }))
    }
}

struct YamlValue(NodeValue);

impl<'de> Deserialize<'de> for YamlValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ValueVisitor(|n: YamlNode| n.0, std::marker::PhantomData)).map(YamlValue)
    }
}

/// Builds a `NodeValue` from any self-describing deserializer; `wrap` turns a child into a `Node`.
struct ValueVisitor<C, F>(F, std::marker::PhantomData<fn() -> C>);

macro_rules! visit_scalar {
    ($name:ident, $t:ty, $variant:expr) => {
        fn $name<E: de::Error>(self, v: $t) -> Result<NodeValue, E> {
            Ok($variant(v))
        }
    };
}

impl<'de, C: Deserialize<'de>, F: Fn(C) -> Node> Visitor<'de> for ValueVisitor<C, F> {
    type Value = NodeValue;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any YAML value")
    }

    visit_scalar!(visit_bool, bool, NodeValue::Bool);
    visit_scalar!(visit_i64, i64, NodeValue::Int);
    visit_scalar!(visit_u64, u64, NodeValue::UInt);
    visit_scalar!(visit_f64, f64, NodeValue::Float);
    visit_scalar!(visit_string, String, NodeValue::Str);

    fn visit_str<E: de::Error>(self, v: &str) -> Result<NodeValue, E> {
        Ok(NodeValue::Str(v.to_owned()))
    }
    fn visit_unit<E: de::Error>(self) -> Result<NodeValue, E> {
        Ok(NodeValue::Null)
    }
    fn visit_none<E: de::Error>(self) -> Result<NodeValue, E> {
        Ok(NodeValue::Null)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<NodeValue, D::Error> {
        d.deserialize_any(self)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<NodeValue, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element::<C>()? {
            items.push((self.0)(item));
        }
        Ok(NodeValue::Seq(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<NodeValue, A::Error> {
        let mut entries = Vec::new();
        while let Some(key) = map.next_key::<C>()? {
            let value = map.next_value::<C>()?;
            entries.push(((self.0)(key), (self.0)(value)));
        }
        Ok(NodeValue::Map(entries))
    }
}

/// A YAML syntax problem: the message and where.
#[derive(Debug)]
pub struct SyntaxError {
    pub loc: Loc,
    pub message: String,
}

/// Parses YAML text into a located tree. Duplicate keys are errors.
pub fn parse_yaml(text: &str) -> Result<Node, SyntaxError> {
    let mut options = serde_saphyr::Options::default();
    options.duplicate_keys = serde_saphyr::DuplicateKeyPolicy::Error;
    // Only `true` and `false` are booleans: `y`, `no` and `on` stay strings (YAML 1.2).
    options.strict_booleans = true;
    match serde_saphyr::from_str_with_options::<Option<YamlNode>>(text, options) {
        Ok(Some(node)) => Ok(node.0),
        Ok(None) => Ok(Node { loc: Loc { line: 1, col: 1 }, value: NodeValue::Null }),
        Err(err) => {
            let loc = err.location().map_or(Loc { line: 1, col: 1 }, |l| Loc {
                line: u32::try_from(l.line()).unwrap_or(u32::MAX),
                col: u32::try_from(l.column()).unwrap_or(u32::MAX),
            });
            let message = first_line_without_location(&err.without_snippet().to_string());
            Err(SyntaxError { loc, message })
        }
    }
}

/// serde-saphyr prints `message at line L, column C`; we print the location ourselves.
fn first_line_without_location(text: &str) -> String {
    let line = text.lines().next().unwrap_or("invalid YAML").trim();
    match line.rfind(" at line ") {
        Some(i) => line[..i].to_owned(),
        None => line.to_owned(),
    }
}

// ---------------------------------------------------------------------------------------------
// Into typed config: a Deserializer over `Node` whose errors carry a location and a field path.

/// Where a decode error happened and what it is.
#[derive(Debug, Clone)]
pub struct DecodeError {
    pub loc: Option<Loc>,
    pub path: String,
    pub message: String,
    unknown_field: bool,
}

impl DecodeError {
    pub fn new(loc: Loc, path: impl Into<String>, message: impl Into<String>) -> Self {
        Self { loc: Some(loc), path: path.into(), message: message.into(), unknown_field: false }
    }
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for DecodeError {}

impl de::Error for DecodeError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        Self { loc: None, path: String::new(), message: msg.to_string(), unknown_field: false }
    }

    fn unknown_field(field: &str, expected: &'static [&'static str]) -> Self {
        let mut e =
            Self::custom(format_args!("unknown field `{field}`, expected one of: {}", expected.join(", ")));
        e.unknown_field = true;
        e
    }

    fn unknown_variant(variant: &str, expected: &'static [&'static str]) -> Self {
        Self::custom(format_args!("unknown value `{variant}`, expected one of: {}", expected.join(", ")))
    }

    fn invalid_type(unexp: de::Unexpected<'_>, exp: &dyn de::Expected) -> Self {
        Self::custom(format_args!("expected {exp}, found {}", describe(&unexp)))
    }
}

fn describe(unexp: &de::Unexpected<'_>) -> String {
    match unexp {
        de::Unexpected::Map => "a mapping".into(),
        de::Unexpected::Seq => "a list".into(),
        de::Unexpected::Unit => "null".into(),
        other => other.to_string(),
    }
}

/// Decodes `node` (found at `path`) into `T`.
pub fn decode<T: de::DeserializeOwned>(node: &Node, path: &str) -> Result<T, DecodeError> {
    T::deserialize(NodeDe { node, path })
}

/// Joins a field path: `rules[2]` + `when` → `rules[2].when`.
pub fn join(path: &str, key: &str) -> String {
    if path.is_empty() { key.to_owned() } else { format!("{path}.{key}") }
}

const SPANNED: &str = "$hookroute::Spanned";

struct NodeDe<'a> {
    node: &'a Node,
    path: &'a str,
}

impl NodeDe<'_> {
    fn locate(&self, mut e: DecodeError) -> DecodeError {
        if e.loc.is_none() {
            e.loc = Some(self.node.loc);
            e.path = self.path.to_owned();
        }
        e
    }
}

impl<'de> Deserializer<'de> for NodeDe<'_> {
    type Error = DecodeError;

    fn deserialize_any<V: Visitor<'de>>(self, v: V) -> Result<V::Value, DecodeError> {
        let result = match &self.node.value {
            NodeValue::Null => v.visit_unit(),
            NodeValue::Bool(b) => v.visit_bool(*b),
            NodeValue::Int(i) => v.visit_i64(*i),
            NodeValue::UInt(u) => v.visit_u64(*u),
            NodeValue::Float(f) => v.visit_f64(*f),
            NodeValue::Str(s) => v.visit_str(s),
            NodeValue::Seq(items) => v.visit_seq(Seq { items: items.iter(), index: 0, path: self.path }),
            NodeValue::Map(entries) => {
                let last_key = std::cell::Cell::new(None);
                let r = v.visit_map(Map {
                    entries: entries.iter(),
                    pending: None,
                    path: self.path,
                    last_key: &last_key,
                });
                r.map_err(|mut e| {
                    if e.unknown_field
                        && e.loc.is_none()
                        && let Some((loc, key)) = last_key.get()
                    {
                        e.loc = Some(loc);
                        e.path = join(self.path, key);
                    }
                    e
                })
            }
        };
        result.map_err(|e| self.locate(e))
    }

    fn deserialize_option<V: Visitor<'de>>(self, v: V) -> Result<V::Value, DecodeError> {
        match self.node.value {
            NodeValue::Null => v.visit_none(),
            _ => v.visit_some(self),
        }
    }

    fn deserialize_str<V: Visitor<'de>>(self, v: V) -> Result<V::Value, DecodeError> {
        // Scalars are text where text is wanted: `subject: 2024` is the string "2024".
        match &self.node.value {
            NodeValue::Bool(_) | NodeValue::Int(_) | NodeValue::UInt(_) | NodeValue::Float(_) => {
                v.visit_string(self.node.scalar_text()).map_err(|e| self.locate(e))
            }
            _ => self.deserialize_any(v),
        }
    }

    fn deserialize_string<V: Visitor<'de>>(self, v: V) -> Result<V::Value, DecodeError> {
        self.deserialize_str(v)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        v: V,
    ) -> Result<V::Value, DecodeError> {
        v.visit_newtype_struct(self)
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        fields: &'static [&'static str],
        v: V,
    ) -> Result<V::Value, DecodeError> {
        if name == SPANNED {
            return v.visit_map(SpannedAccess { de: Some(self), step: 0 });
        }
        let _ = fields;
        self.deserialize_any(v)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        v: V,
    ) -> Result<V::Value, DecodeError> {
        match &self.node.value {
            NodeValue::Str(s) => {
                v.visit_enum(s.as_str().into_deserializer()).map_err(|e: DecodeError| self.locate(e))
            }
            _ => {
                Err(self
                    .locate(de::Error::custom(format_args!("expected a string, found {}", self.node.kind()))))
            }
        }
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char bytes byte_buf unit
        unit_struct seq tuple tuple_struct map identifier ignored_any
    }
}

struct Seq<'a> {
    items: std::slice::Iter<'a, Node>,
    index: usize,
    path: &'a str,
}

impl<'de> SeqAccess<'de> for Seq<'_> {
    type Error = DecodeError;
    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, DecodeError> {
        let Some(node) = self.items.next() else {
            return Ok(None);
        };
        let path = format!("{}[{}]", self.path, self.index);
        self.index += 1;
        seed.deserialize(NodeDe { node, path: &path }).map(Some)
    }
}

struct Map<'a, 'k> {
    entries: std::slice::Iter<'a, (Node, Node)>,
    pending: Option<(&'a Node, String)>,
    path: &'a str,
    last_key: &'k std::cell::Cell<Option<(Loc, &'a str)>>,
}

impl<'de> MapAccess<'de> for Map<'_, '_> {
    type Error = DecodeError;
    fn next_key_seed<K: DeserializeSeed<'de>>(&mut self, seed: K) -> Result<Option<K::Value>, DecodeError> {
        let Some((key, value)) = self.entries.next() else {
            return Ok(None);
        };
        let name = key.as_str().unwrap_or("");
        self.last_key.set(Some((key.loc, name)));
        let path = join(self.path, name);
        let k = seed.deserialize(NodeDe { node: key, path: &path })?;
        self.pending = Some((value, path));
        Ok(Some(k))
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, DecodeError> {
        let (node, path) =
            self.pending.take().ok_or_else(|| <DecodeError as de::Error>::custom("value without a key"))?;
        seed.deserialize(NodeDe { node, path: &path })
    }
}

/// Hands a `Spanned<T>` its line, column and value.
struct SpannedAccess<'a> {
    de: Option<NodeDe<'a>>,
    step: u8,
}

impl<'de> MapAccess<'de> for SpannedAccess<'_> {
    type Error = DecodeError;
    fn next_key_seed<K: DeserializeSeed<'de>>(&mut self, seed: K) -> Result<Option<K::Value>, DecodeError> {
        let key = match self.step {
            0 => "line",
            1 => "col",
            2 => "value",
            _ => return Ok(None),
        };
        seed.deserialize(key.into_deserializer()).map(Some)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, DecodeError> {
        self.step += 1;
        let de =
            self.de.as_ref().ok_or_else(|| <DecodeError as de::Error>::custom("spanned value read twice"))?;
        match self.step {
            1 => seed.deserialize(de.node.loc.line.into_deserializer()),
            2 => seed.deserialize(de.node.loc.col.into_deserializer()),
            _ => {
                let de = self
                    .de
                    .take()
                    .ok_or_else(|| <DecodeError as de::Error>::custom("spanned value read twice"))?;
                seed.deserialize(de)
            }
        }
    }
}

/// A config value with the place it was written, for errors found after decoding.
#[derive(Clone, Debug, PartialEq)]
pub struct Spanned<T> {
    pub loc: Loc,
    pub value: T,
}

impl<T> std::ops::Deref for Spanned<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.value
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Spanned<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        struct Raw<T> {
            line: u32,
            col: u32,
            value: T,
        }
        struct V<T>(std::marker::PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for V<T> {
            type Value = Raw<T>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a located value")
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Raw<T>, A::Error> {
                Raw::deserialize(de::value::MapAccessDeserializer::new(map))
            }
        }
        let raw = d.deserialize_struct(SPANNED, &["line", "col", "value"], V(std::marker::PhantomData))?;
        Ok(Spanned { loc: Loc { line: raw.line, col: raw.col }, value: raw.value })
    }
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Located(Node);
        impl<'de> Deserialize<'de> for Located {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = Spanned::<Inner>::deserialize(d)?;
                Ok(Located(Node { loc: s.loc, value: s.value.0 }))
            }
        }
        struct Inner(NodeValue);
        impl<'de> Deserialize<'de> for Inner {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                d.deserialize_any(ValueVisitor(|n: Located| n.0, std::marker::PhantomData)).map(Inner)
            }
        }
        Located::deserialize(d).map(|l| l.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Item {
        name: Spanned<String>,
        #[serde(default)]
        size: Option<u32>,
        #[serde(default)]
        rest: Option<Node>,
    }

    fn parse(text: &str) -> Node {
        parse_yaml(text).expect("valid yaml")
    }

    #[test]
    fn locations_are_one_based_line_and_column() {
        let n = parse("a:\n  - x: 1\n    y: hello\n");
        let item = &n.get("a").expect("a");
        let NodeValue::Seq(items) = &item.value else { panic!("seq") };
        assert_eq!(items[0].get("y").map(|y| y.loc), Some(Loc { line: 3, col: 8 }));
    }

    #[test]
    fn unknown_field_points_at_the_key_with_its_path() {
        let n = parse("name: a\nsize: 3\nsise: 4\n");
        let err = decode::<Item>(&n, "rules[0]").expect_err("unknown field");
        assert_eq!(err.loc, Some(Loc { line: 3, col: 1 }));
        assert_eq!(err.path, "rules[0].sise");
        assert!(err.message.contains("expected one of: name, size, rest"), "{}", err.message);
    }

    #[test]
    fn type_error_points_at_the_value() {
        let n = parse("name: a\nsize: [1]\n");
        let err = decode::<Item>(&n, "x").expect_err("bad type");
        assert_eq!(err.loc, Some(Loc { line: 2, col: 7 }));
        assert_eq!(err.path, "x.size");
        assert!(err.message.contains("found a list"), "{}", err.message);
    }

    #[test]
    fn spanned_and_nested_nodes_keep_locations() {
        let n = parse("name: 2024\nrest:\n  k: [1, 2]\n");
        let item = decode::<Item>(&n, "").expect("decodes");
        assert_eq!(item.name.value, "2024");
        assert_eq!(item.name.loc, Loc { line: 1, col: 7 });
        let rest = item.rest.expect("rest");
        assert_eq!(rest.get("k").map(|k| k.loc), Some(Loc { line: 3, col: 6 }));
    }

    #[test]
    fn missing_field_points_at_the_mapping() {
        let n = parse("size: 3\n");
        let err = decode::<Item>(&n, "items[1]").expect_err("missing");
        assert_eq!(err.loc, Some(Loc { line: 1, col: 1 }));
        assert!(err.message.contains("missing field `name`"));
    }

    #[test]
    fn syntax_and_duplicate_key_errors_have_a_location() {
        let err = parse_yaml("a: 1\na: 2\n").expect_err("duplicate");
        assert_eq!(err.loc.line, 2, "{err:?}");
        let err = parse_yaml("a: [1, 2\nb: 3\n").expect_err("syntax");
        assert!(err.loc.line >= 1 && !err.message.is_empty(), "{err:?}");
    }
}
