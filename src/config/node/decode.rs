//! A serde `Deserializer` over [`Node`]: errors carry the line, column and field path of the value
//! that caused them, and [`Spanned`] values keep where they were written.

use std::fmt;

use serde::de::{self, DeserializeSeed, IntoDeserializer, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer};

use super::{Loc, Node, NodeValue, ValueVisitor};

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

/// Like [`decode`], but an unknown key does not hide the node's other problems: each unknown key
/// is reported and left out, and decoding goes on without it. Returns the value, if the rest
/// decoded, and every error found on the way (unknown keys first).
pub fn decode_all<T: de::DeserializeOwned>(node: &Node, path: &str) -> (Option<T>, Vec<DecodeError>) {
    /// A node has few keys; this bounds the retries whatever the input.
    const MAX_UNKNOWN: usize = 32;
    let mut errors = Vec::new();
    let mut trimmed: Option<Node> = None;
    loop {
        match decode(trimmed.as_ref().unwrap_or(node), path) {
            Ok(v) => return (Some(v), errors),
            Err(e) => {
                let retry = e.unknown_field && errors.len() < MAX_UNKNOWN && {
                    let n = trimmed.get_or_insert_with(|| node.clone());
                    relative(&e.path, path).is_some_and(|rel| remove_key(n, rel))
                };
                errors.push(e);
                if !retry {
                    return (None, errors);
                }
            }
        }
    }
}

/// `rules[0].retry.bogus` under `rules[0]` → `retry.bogus`.
fn relative<'p>(full: &'p str, base: &str) -> Option<&'p str> {
    if base.is_empty() {
        return Some(full);
    }
    let rest = full.strip_prefix(base)?;
    rest.strip_prefix('.').or_else(|| rest.starts_with('[').then_some(rest))
}

/// Removes the mapping entry that `rel` (`key`, `a.b`, `a[2].b`) leads to; `false` when there is none.
fn remove_key(node: &mut Node, rel: &str) -> bool {
    if let Some(after) = rel.strip_prefix('[') {
        let Some((index, rest)) = after.split_once(']') else { return false };
        let (Ok(i), NodeValue::Seq(items)) = (index.parse::<usize>(), &mut node.value) else { return false };
        let rest = rest.strip_prefix('.').unwrap_or(rest);
        return items.get_mut(i).is_some_and(|n| remove_key(n, rest));
    }
    let end = rel.find(['.', '[']).unwrap_or(rel.len());
    let (key, rest) = rel.split_at(end);
    let NodeValue::Map(entries) = &mut node.value else { return false };
    let Some(at) = entries.iter().position(|(k, _)| k.as_str() == Some(key)) else { return false };
    if rest.is_empty() {
        entries.remove(at);
        return true;
    }
    let rest = rest.strip_prefix('.').unwrap_or(rest);
    remove_key(&mut entries[at].1, rest)
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

/// In the JSON Schema a spanned value is just its value.
impl<T: schemars::JsonSchema> schemars::JsonSchema for Spanned<T> {
    fn inline_schema() -> bool {
        true
    }
    fn schema_name() -> std::borrow::Cow<'static, str> {
        T::schema_name()
    }
    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        T::json_schema(generator)
    }
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
