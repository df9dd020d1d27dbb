//! Conditions on the event body, over paths compiled once at load (`path.rs`).
//!
//! Semantics, documented in the README: a comparison looks at every node the path selects and holds
//! when **any** node satisfies it; `not_equals` and `not_in` hold when nodes were selected and **none**
//! equals. A path that selects nothing makes every comparison false and `exists: false` true.
//! Numbers compare as numbers (`1 == 1.0`), never as strings; `gt`/`lt` compare two numbers or two
//! strings (ISO dates order correctly as strings) and are false for any other pair.

use regex::Regex;
use serde_json::Value;

pub use super::path::{MAX_PATH_LEN, MAX_PATH_NESTING, Memo, Path};
pub use super::since::Prev;

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
    /// Equals this now, and the previous event of the key did not (or there was none).
    Becomes(Value),
    /// Whether the selected nodes differ from the previous event's (first sight: changed).
    Changed(bool),
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
            Op::Becomes(_) => "becomes",
            Op::Changed(_) => "changed",
        }
    }

    /// The operand as JSON, for explanations.
    pub fn operand(&self) -> Value {
        match self {
            Op::Equals(v) | Op::NotEquals(v) | Op::Contains(v) | Op::Becomes(v) => v.clone(),
            Op::In(vs) | Op::NotIn(vs) => Value::Array(vs.clone()),
            Op::Exists(b) | Op::Changed(b) => Value::Bool(*b),
            Op::Matches(r) => Value::String(r.as_str().to_owned()),
            Op::StartsWith(s) | Op::EndsWith(s) => Value::String(s.clone()),
            Op::Gt(b) | Op::Gte(b) | Op::Lt(b) | Op::Lte(b) => match b {
                Bound::Number(n) => serde_json::Number::from_f64(*n).map_or(Value::Null, Value::Number),
                Bound::Text(s) => Value::String(s.clone()),
            },
        }
    }

    /// Whether the selected `nodes` satisfy this operator. The operators that compare with the
    /// previous event judge here as on a key's first event (see [`Op::holds_since`]).
    pub fn holds(&self, nodes: &[&Value]) -> bool {
        match self {
            Op::Becomes(_) | Op::Changed(_) => self.holds_since(nodes, None),
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
            Op::NotEquals(_) | Op::NotIn(_) | Op::Exists(_) | Op::Becomes(_) | Op::Changed(_) => false,
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
        self.eval_prev(doc, headers, None, memo)
    }

    /// [`Condition::eval_memo`] with the previous event of the same key (`None`: there is none),
    /// for `becomes` and `changed`.
    pub fn eval_prev<'v>(
        &self,
        doc: &'v Value,
        headers: Option<&http::HeaderMap>,
        prev: Prev<'_>,
        memo: &mut Memo<'v>,
    ) -> bool {
        match self {
            Condition::All(cs) => cs.iter().all(|c| c.eval_prev(doc, headers, prev, memo)),
            Condition::Any(cs) => cs.iter().any(|c| c.eval_prev(doc, headers, prev, memo)),
            Condition::Not(c) => !c.eval_prev(doc, headers, prev, memo),
            Condition::Selects(p) => p.with_selected_memo(doc, memo, |nodes| !nodes.is_empty()),
            Condition::Test { path, op } if op.needs_prev() => {
                let before = prev.map(|p| path.select(p));
                path.with_selected_memo(doc, memo, |nodes| op.holds_since(nodes, before.as_deref()))
            }
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
