//! A YAML document as a tree of located nodes, and a serde `Deserializer` over it.
//!
//! serde stops at the first error of a document. Parsing into this tree first lets the compiler decode
//! every rule, destination and source on its own, so `check` reports every problem at once, each with
//! its line, column and field path (`rules[2].when.all[0].path`).

use std::fmt;

use serde::de::{self, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer};

mod decode;

pub use decode::{DecodeError, Spanned, decode, decode_all, join};

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
    // The parser's default budget (250 000 nodes) refuses rules files past ~10 000 rules. Plain
    // YAML has fewer nodes than bytes, so a budget that grows with the text keeps large files
    // working while aliases (the way to blow up) stay under the parser's own alias limits.
    let mut budget = serde_saphyr::budget::Budget::default();
    budget.max_nodes = budget.max_nodes.max(text.len());
    budget.max_events = budget.max_events.max(text.len().saturating_mul(2));
    options.budget = Some(budget);
    match serde_saphyr::from_str_with_options::<Option<YamlNode>>(text, options) {
        Ok(Some(node)) => Ok(node.0),
        Ok(None) => Ok(Node { loc: Loc { line: 1, col: 1 }, value: NodeValue::Null }),
        Err(err) => {
            let loc = err.location().map_or(Loc { line: 1, col: 1 }, |l| Loc {
                line: u32::try_from(l.line()).unwrap_or(u32::MAX),
                col: u32::try_from(l.column()).unwrap_or(u32::MAX),
            });
            let message = first_line_without_location(&err.without_snippet().to_string());
            if message.contains("tab")
                && let Some(tab) = tab_in_indentation(text, loc.line)
            {
                let message = "tabs are not allowed for indentation; use spaces".to_owned();
                return Err(SyntaxError { loc: tab, message });
            }
            Err(SyntaxError { loc, message })
        }
    }
}

/// The tab that a parser complaint about tabs is about: the first one in a line's indentation, on
/// the error's line or after it (the parser may stop a line early), else the last one before it.
fn tab_in_indentation(text: &str, error_line: u32) -> Option<Loc> {
    let tabs = text.lines().enumerate().filter_map(|(i, line)| {
        let indent = line.len() - line.trim_start_matches([' ', '\t']).len();
        let col = line[..indent].find('\t')?;
        Some(Loc { line: u32::try_from(i + 1).ok()?, col: u32::try_from(col + 1).ok()? })
    });
    let (before, after): (Vec<Loc>, Vec<Loc>) = tabs.partition(|l| l.line < error_line);
    after.first().or(before.last()).copied()
}

/// serde-saphyr prints `message at line L, column C`; we print the location ourselves.
fn first_line_without_location(text: &str) -> String {
    let line = text.lines().next().unwrap_or("invalid YAML").trim();
    match line.rfind(" at line ") {
        Some(i) => line[..i].to_owned(),
        None => line.to_owned(),
    }
}

#[cfg(test)]
mod tests;
