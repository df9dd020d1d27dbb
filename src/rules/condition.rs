//! Conditions on the event body: JSONPath compiled once at load, evaluated without allocation where
//! it can be.
//!
//! Semantics, documented in the README: a comparison looks at every node the path selects and holds
//! when **any** node satisfies it; `not_equals` and `not_in` hold when nodes were selected and **none**
//! equals. A path that selects nothing makes every comparison false and `exists: false` true.
//! Numbers compare as numbers (`1 == 1.0`), never as strings; `gt`/`lt` compare two numbers or two
//! strings (ISO dates order correctly as strings) and are false for any other pair.

use regex::Regex;
use serde_json::Value;
use serde_json_path::JsonPath;

/// A compiled JSONPath with its source text (for explanations).
#[derive(Debug, Clone)]
pub struct Path {
    text: String,
    compiled: JsonPath,
    /// The member names of a path written `$.a.b` (the usual case), walked directly instead of
    /// through the query engine: no allocation per evaluation. `None` for any other path.
    members: Option<Vec<String>>,
    /// Where a rule set memoises this path's node for the event being routed (`NO_SLOT`: not
    /// memoised). Paths with the same text share a slot, so each is walked once per event.
    slot: u32,
}

const NO_SLOT: u32 = u32::MAX;

/// The nodes dotted paths selected in one event, by slot: many rules test the same few paths.
pub struct Memo<'v> {
    slots: Vec<Option<Option<&'v Value>>>,
}

impl<'v> Memo<'v> {
    pub fn new(slots: usize) -> Self {
        Self { slots: vec![None; slots] }
    }
}

/// Paths deeper than this are refused: the parser recurses and would overflow its stack.
pub const MAX_PATH_NESTING: usize = 64;
/// Paths longer than this are refused.
pub const MAX_PATH_LEN: usize = 4096;

impl Path {
    pub fn parse(text: &str) -> Result<Self, String> {
        if text.len() > MAX_PATH_LEN {
            return Err(format!("JSONPath is longer than {MAX_PATH_LEN} characters"));
        }
        let depth = nesting_depth(text);
        if depth > MAX_PATH_NESTING {
            return Err(format!(
                "JSONPath nests {depth} levels of brackets; at most {MAX_PATH_NESTING} are allowed"
            ));
        }
        let compiled = JsonPath::parse(text)
            .map_err(|e| format!("invalid JSONPath at character {}: {}", e.position() + 1, e.message()))?;
        Ok(Self { text: text.to_owned(), compiled, members: dotted_members(text), slot: NO_SLOT })
    }

    pub fn text(&self) -> &str {
        &self.text
    }

    pub fn select<'v>(&self, doc: &'v Value) -> Vec<&'v Value> {
        match &self.members {
            Some(names) => walk(doc, names).into_iter().collect(),
            None => self.compiled.query(doc).all(),
        }
    }

    /// Calls `f` with the selected nodes, without allocating for a `$.a.b` path.
    pub fn with_selected<R>(&self, doc: &Value, f: impl FnOnce(&[&Value]) -> R) -> R {
        match &self.members {
            Some(names) => match walk(doc, names) {
                Some(node) => f(&[node]),
                None => f(&[]),
            },
            None => f(&self.compiled.query(doc).all()),
        }
    }

    /// [`Path::with_selected`], reusing (or filling) the event's memo.
    fn with_selected_memo<'v, R>(
        &self,
        doc: &'v Value,
        memo: &mut Memo<'v>,
        f: impl FnOnce(&[&Value]) -> R,
    ) -> R {
        let (Some(names), Some(cell)) = (&self.members, memo.slots.get_mut(self.slot as usize)) else {
            return self.with_selected(doc, f);
        };
        let node = *cell.get_or_insert_with(|| walk(doc, names));
        match node {
            Some(node) => f(&[node]),
            None => f(&[]),
        }
    }

    /// Memoises this path in `slots` (text → slot) when it is a dotted path.
    pub(super) fn assign_slot(&mut self, slots: &mut std::collections::HashMap<String, u32>) {
        if self.members.is_some() {
            let next = u32::try_from(slots.len()).unwrap_or(NO_SLOT);
            self.slot = *slots.entry(self.text.clone()).or_insert(next);
        }
    }

    /// Whether the path selects anything.
    pub fn selects(&self, doc: &Value) -> bool {
        match &self.members {
            Some(names) => walk(doc, names).is_some(),
            None => !self.compiled.query(doc).is_empty(),
        }
    }

    /// For `$.a.b` paths, which select at most one node.
    pub fn is_singular_member_path(&self) -> bool {
        self.members.is_some()
    }
}

/// The member names of `$.name.name…` (RFC 9535 member-name shorthand, ASCII names), else `None`.
fn dotted_members(text: &str) -> Option<Vec<String>> {
    let rest = text.strip_prefix('$')?;
    if rest.is_empty() {
        return Some(Vec::new());
    }
    rest.strip_prefix('.')?
        .split('.')
        .map(|name| {
            let mut chars = name.chars();
            let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
            (first_ok && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')).then(|| name.to_owned())
        })
        .collect()
}

/// The node at `names` under `doc`: each step a member of an object.
fn walk<'v>(doc: &'v Value, names: &[String]) -> Option<&'v Value> {
    names.iter().try_fold(doc, |node, name| node.as_object()?.get(name))
}

/// The deepest nesting of `(`, `[` and `{` outside string literals.
fn nesting_depth(text: &str) -> usize {
    let (mut depth, mut max, mut quote) = (0usize, 0usize, None::<char>);
    let mut escaped = false;
    for c in text.chars() {
        if let Some(q) = quote {
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == q {
                quote = None;
            }
            continue;
        }
        match c {
            '\'' | '"' => quote = Some(c),
            '(' | '[' | '{' => {
                depth += 1;
                max = max.max(depth);
            }
            ')' | ']' | '}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    max
}

/// A bound for `gt`/`gte`/`lt`/`lte`.
#[derive(Debug, Clone, PartialEq)]
pub enum Bound {
    Number(f64),
    Text(String),
}

#[derive(Debug, Clone)]
pub enum Op {
    Equals(Value),
    NotEquals(Value),
    In(Vec<Value>),
    NotIn(Vec<Value>),
    Exists(bool),
    Matches(Regex),
    Contains(Value),
    StartsWith(String),
    EndsWith(String),
    Gt(Bound),
    Gte(Bound),
    Lt(Bound),
    Lte(Bound),
}

impl Op {
    /// The operator's name as written in the rules file.
    pub fn name(&self) -> &'static str {
        match self {
            Op::Equals(_) => "equals",
            Op::NotEquals(_) => "not_equals",
            Op::In(_) => "in",
            Op::NotIn(_) => "not_in",
            Op::Exists(_) => "exists",
            Op::Matches(_) => "matches",
            Op::Contains(_) => "contains",
            Op::StartsWith(_) => "starts_with",
            Op::EndsWith(_) => "ends_with",
            Op::Gt(_) => "gt",
            Op::Gte(_) => "gte",
            Op::Lt(_) => "lt",
            Op::Lte(_) => "lte",
        }
    }

    /// The operand as JSON, for explanations.
    pub fn operand(&self) -> Value {
        match self {
            Op::Equals(v) | Op::NotEquals(v) | Op::Contains(v) => v.clone(),
            Op::In(vs) | Op::NotIn(vs) => Value::Array(vs.clone()),
            Op::Exists(b) => Value::Bool(*b),
            Op::Matches(r) => Value::String(r.as_str().to_owned()),
            Op::StartsWith(s) | Op::EndsWith(s) => Value::String(s.clone()),
            Op::Gt(b) | Op::Gte(b) | Op::Lt(b) | Op::Lte(b) => match b {
                Bound::Number(n) => serde_json::Number::from_f64(*n).map_or(Value::Null, Value::Number),
                Bound::Text(s) => Value::String(s.clone()),
            },
        }
    }

    /// Whether the selected `nodes` satisfy this operator.
    pub fn holds(&self, nodes: &[&Value]) -> bool {
        match self {
            Op::Exists(want) => nodes.is_empty() != *want,
            Op::NotEquals(v) => !nodes.is_empty() && !nodes.iter().any(|n| json_eq(n, v)),
            Op::NotIn(vs) => !nodes.is_empty() && !nodes.iter().any(|n| vs.iter().any(|v| json_eq(n, v))),
            _ => nodes.iter().any(|n| self.holds_for(n)),
        }
    }

    fn holds_for(&self, node: &Value) -> bool {
        use std::cmp::Ordering::{Equal, Greater, Less};
        match self {
            Op::Equals(v) => json_eq(node, v),
            Op::In(vs) => vs.iter().any(|v| json_eq(node, v)),
            Op::Matches(re) => node.as_str().is_some_and(|s| re.is_match(s)),
            Op::Contains(v) => match (node, v) {
                (Value::String(s), Value::String(part)) => s.contains(part.as_str()),
                (Value::Array(items), _) => items.iter().any(|i| json_eq(i, v)),
                (Value::Object(map), Value::String(key)) => map.contains_key(key),
                _ => false,
            },
            Op::StartsWith(p) => node.as_str().is_some_and(|s| s.starts_with(p.as_str())),
            Op::EndsWith(p) => node.as_str().is_some_and(|s| s.ends_with(p.as_str())),
            Op::Gt(b) => compare(node, b) == Some(Greater),
            Op::Gte(b) => matches!(compare(node, b), Some(Greater | Equal)),
            Op::Lt(b) => compare(node, b) == Some(Less),
            Op::Lte(b) => matches!(compare(node, b), Some(Less | Equal)),
            Op::NotEquals(_) | Op::NotIn(_) | Op::Exists(_) => false,
        }
    }
}

fn compare(node: &Value, bound: &Bound) -> Option<std::cmp::Ordering> {
    match (node, bound) {
        (Value::Number(n), Bound::Number(b)) => n.as_f64()?.partial_cmp(b),
        (Value::String(s), Bound::Text(b)) => Some(s.as_str().cmp(b.as_str())),
        _ => None,
    }
}

/// JSON equality where numbers are compared by value: `1`, `1.0` and `1e0` are equal.
pub fn json_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => match (x.as_i64(), y.as_i64()) {
            (Some(i), Some(j)) => i == j,
            _ => match (x.as_u64(), y.as_u64()) {
                (Some(i), Some(j)) => i == j,
                _ => x.as_f64() == y.as_f64(),
            },
        },
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| json_eq(a, b))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| json_eq(v, w)))
        }
        _ => a == b,
    }
}

/// A rule's `when`: a tree of tests on the event body.
#[derive(Debug, Clone)]
pub enum Condition {
    All(Vec<Condition>),
    Any(Vec<Condition>),
    Not(Box<Condition>),
    /// A bare JSONPath query: true when it selects anything.
    Selects(Path),
    Test {
        path: Path,
        op: Op,
    },
    /// A test on a request header: its values (all of them, when repeated) are the selected nodes.
    Header {
        name: http::HeaderName,
        op: Op,
    },
}

impl Condition {
    /// Gives every dotted path in the tree its memo slot (see [`Memo`]).
    pub(super) fn assign_slots(&mut self, slots: &mut std::collections::HashMap<String, u32>) {
        match self {
            Condition::All(cs) | Condition::Any(cs) => cs.iter_mut().for_each(|c| c.assign_slots(slots)),
            Condition::Not(c) => c.assign_slots(slots),
            Condition::Selects(path) | Condition::Test { path, .. } => path.assign_slot(slots),
            Condition::Header { .. } => {}
        }
    }
}

/// A header's values as JSON strings (values that are not text are skipped).
pub fn header_values(headers: Option<&http::HeaderMap>, name: &http::HeaderName) -> Vec<Value> {
    headers
        .map(|h| {
            h.get_all(name)
                .iter()
                .filter_map(|v| v.to_str().ok())
                .map(|v| Value::String(v.to_owned()))
                .collect()
        })
        .unwrap_or_default()
}

impl Condition {
    /// Evaluates against the body alone (header tests see no headers).
    pub fn eval(&self, doc: &Value) -> bool {
        self.eval_with(doc, None)
    }

    pub fn eval_with(&self, doc: &Value, headers: Option<&http::HeaderMap>) -> bool {
        self.eval_memo(doc, headers, &mut Memo::new(0))
    }

    /// [`Condition::eval_with`] sharing dotted paths' nodes with other rules through `memo`.
    pub fn eval_memo<'v>(
        &self,
        doc: &'v Value,
        headers: Option<&http::HeaderMap>,
        memo: &mut Memo<'v>,
    ) -> bool {
        match self {
            Condition::All(cs) => cs.iter().all(|c| c.eval_memo(doc, headers, memo)),
            Condition::Any(cs) => cs.iter().any(|c| c.eval_memo(doc, headers, memo)),
            Condition::Not(c) => !c.eval_memo(doc, headers, memo),
            Condition::Selects(p) => match memo.slots.get(p.slot as usize) {
                Some(_) => p.with_selected_memo(doc, memo, |nodes| !nodes.is_empty()),
                None => p.selects(doc),
            },
            Condition::Test { path, op } => path.with_selected_memo(doc, memo, |nodes| op.holds(nodes)),
            Condition::Header { name, op } => {
                let values = header_values(headers, name);
                op.holds(&values.iter().collect::<Vec<_>>())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dotted_paths_take_the_direct_walk_and_agree_with_the_engine() {
        assert_eq!(dotted_members("$.payload.status"), Some(vec!["payload".into(), "status".into()]));
        assert_eq!(dotted_members("$"), Some(vec![]));
        for other in ["$.a[0]", "$..a", "$.1a", "$.a b", "$['a']", "$.a.", "$.*", "@.a", "$ .a"] {
            assert_eq!(dotted_members(other), None, "{other}");
        }
        let doc = serde_json::json!({"a": {"b": [1, 2], "c": null}, "d": 7});
        for text in ["$", "$.a", "$.a.b", "$.a.c", "$.a.missing", "$.d.e", "$.a.b.x"] {
            let path = Path::parse(text).expect("parse");
            let engine = path.compiled.query(&doc).all();
            assert_eq!(path.select(&doc), engine, "{text}");
            assert_eq!(path.selects(&doc), !engine.is_empty(), "{text}");
            path.with_selected(&doc, |nodes| assert_eq!(nodes, engine.as_slice(), "{text}"));
        }
    }
    use serde_json::json;

    fn doc() -> Value {
        json!({"type": "order.updated", "payload": {
            "id": 9001, "status": "to schedule", "price": 12.5, "when": "2026-11-29T10:00:00Z",
            "tags": ["rush", "vip"], "files": [{"size": 10}, {"size": 2000000}],
            "statuses": ["open", "closed"], "meta": {"k": 1}, "nothing": null}})
    }

    fn test(path: &str, op: Op) -> bool {
        Condition::Test { path: Path::parse(path).expect("path"), op }.eval(&doc())
    }

    #[test]
    fn operator_cases() {
        let s = |x: &str| Value::String(x.into());
        let cases: Vec<(&str, Op, bool)> = vec![
            ("$.payload.status", Op::Equals(s("to schedule")), true),
            ("$.payload.status", Op::Equals(s("To Schedule")), false),
            ("$.payload.id", Op::Equals(json!(9001.0)), true),
            ("$.payload.id", Op::Equals(s("9001")), false),
            ("$.payload.status", Op::NotEquals(s("done")), true),
            ("$.payload.status", Op::NotEquals(s("to schedule")), false),
            ("$.payload.absent", Op::NotEquals(s("x")), false),
            ("$.payload.status", Op::In(vec![s("a"), s("to schedule")]), true),
            ("$.payload.status", Op::NotIn(vec![s("a"), s("b")]), true),
            ("$.payload.status", Op::NotIn(vec![s("to schedule")]), false),
            ("$.payload.absent", Op::NotIn(vec![s("x")]), false),
            ("$.payload.status", Op::Exists(true), true),
            ("$.payload.absent", Op::Exists(true), false),
            ("$.payload.absent", Op::Exists(false), true),
            ("$.payload.nothing", Op::Exists(true), true),
            ("$.payload.status", Op::Matches(Regex::new("^to ").expect("re")), true),
            ("$.payload.id", Op::Matches(Regex::new("9").expect("re")), false),
            ("$.payload.status", Op::Contains(s("sched")), true),
            ("$.payload.tags", Op::Contains(s("vip")), true),
            ("$.payload.tags", Op::Contains(s("vi")), false),
            ("$.payload.meta", Op::Contains(s("k")), true),
            ("$.payload.status", Op::StartsWith("to".into()), true),
            ("$.payload.status", Op::EndsWith("dule".into()), true),
            ("$.payload.price", Op::Gt(Bound::Number(12.0)), true),
            ("$.payload.price", Op::Gt(Bound::Number(12.5)), false),
            ("$.payload.price", Op::Gte(Bound::Number(12.5)), true),
            ("$.payload.id", Op::Lt(Bound::Number(10000.0)), true),
            ("$.payload.id", Op::Lte(Bound::Number(9000.0)), false),
            ("$.payload.status", Op::Gt(Bound::Number(1.0)), false),
            ("$.payload.id", Op::Gt(Bound::Text("1".into())), false),
            ("$.payload.when", Op::Gte(Bound::Text("2026-01-01".into())), true),
            ("$.payload.absent", Op::Gt(Bound::Number(0.0)), false),
            // Several nodes: any one satisfying is enough; negatives need none to match.
            ("$.payload.files[*].size", Op::Gt(Bound::Number(1_000_000.0)), true),
            ("$.payload.statuses[*]", Op::Equals(s("closed")), true),
            ("$.payload.statuses[*]", Op::NotEquals(s("closed")), false),
            ("$.payload.statuses[*]", Op::NotEquals(s("void")), true),
        ];
        for (path, op, expected) in cases {
            let name = format!("{path} {} {}", op.name(), op.operand());
            assert_eq!(test(path, op), expected, "{name}");
        }
    }

    #[test]
    fn combinators_and_bare_queries() {
        let p = |t: &str| Path::parse(t).expect("path");
        let yes = Condition::Selects(p("$.payload.files[?@.size > 1000000]"));
        let no = Condition::Selects(p("$.payload.files[?@.size > 5000000]"));
        assert!(yes.eval(&doc()));
        assert!(!no.eval(&doc()));
        assert!(Condition::Any(vec![no.clone(), yes.clone()]).eval(&doc()));
        assert!(!Condition::All(vec![no.clone(), yes.clone()]).eval(&doc()));
        assert!(Condition::Not(Box::new(no)).eval(&doc()));
        assert!(Condition::All(vec![]).eval(&doc()));
        assert!(!Condition::Any(vec![]).eval(&doc()));
    }

    #[test]
    fn pathological_paths_are_refused_not_crashing() {
        let deep = format!("$[?{}@.a{}]", "(".repeat(1000), ")".repeat(1000));
        assert!(Path::parse(&deep).expect_err("too deep").contains("nests"));
        let long = format!("$.{}", "a".repeat(5000));
        assert!(Path::parse(&long).is_err());
        assert!(Path::parse("$.a[?@.b == '((((((']").is_ok(), "brackets inside strings do not count");
        assert!(Path::parse("payload.status").expect_err("no $").starts_with("invalid JSONPath"));
    }

    #[test]
    fn header_tests() {
        let mut headers = http::HeaderMap::new();
        headers.insert("x-github-event", "issues".parse().expect("value"));
        let on = |op| Condition::Header { name: http::HeaderName::from_static("x-github-event"), op };
        assert!(on(Op::Equals(json!("issues"))).eval_with(&doc(), Some(&headers)));
        assert!(!on(Op::Equals(json!("push"))).eval_with(&doc(), Some(&headers)));
        assert!(on(Op::Exists(true)).eval_with(&doc(), Some(&headers)));
        assert!(on(Op::Exists(false)).eval(&doc()), "no headers: nothing selected");
    }

    #[test]
    fn json_eq_cases() {
        assert!(json_eq(&json!(1), &json!(1.0)));
        assert!(json_eq(&json!({"a": [1, 2.0]}), &json!({"a": [1.0, 2]})));
        assert!(!json_eq(&json!("1"), &json!(1)));
        assert!(json_eq(&json!(u64::MAX), &json!(u64::MAX)));
        assert!(!json_eq(&json!(u64::MAX), &json!(u64::MAX - 1)));
    }
}
