//! Compiles a rule's `when:` into a [`Condition`], reporting every problem with its place.
//!
//! Forms: a string is a JSONPath query (true when it selects anything); a list means `all`; a mapping
//! is `all: [...]`, `any: [...]`, `not: ...`, or `path:` with exactly one operator.

use super::node::{Node, NodeValue, join};
use super::problems::Problems;
use crate::rules::{Bound, Condition, Op, Path};

const OPERATORS: &[&str] = &[
    "equals",
    "not_equals",
    "in",
    "not_in",
    "exists",
    "matches",
    "contains",
    "starts_with",
    "ends_with",
    "gt",
    "gte",
    "lt",
    "lte",
    "becomes",
    "changed",
];
const COMBINATORS: &[&str] = &["all", "any", "not"];
/// Compiled regexes are bounded so a pattern cannot take unbounded memory.
const REGEX_SIZE_LIMIT: usize = 1 << 20;

pub fn compile(node: &Node, path: &str, p: &mut Problems) -> Option<Condition> {
    match &node.value {
        NodeValue::Str(text) => match Path::parse(text) {
            Ok(q) => Some(Condition::Selects(q)),
            Err(e) => p.error(node.loc, path, e),
        },
        NodeValue::Seq(items) => list(items, path, p).map(Condition::All),
        NodeValue::Map(_) => mapping(node, path, p),
        _ => p.error(
            node.loc,
            path,
            format!("a condition is a JSONPath string, a list or a mapping, found {}", node.kind()),
        ),
    }
}

fn list(items: &[Node], path: &str, p: &mut Problems) -> Option<Vec<Condition>> {
    let compiled: Vec<_> =
        items.iter().enumerate().map(|(i, n)| compile(n, &format!("{path}[{i}]"), p)).collect();
    compiled.into_iter().collect()
}

fn mapping(node: &Node, path: &str, p: &mut Problems) -> Option<Condition> {
    let entries: Vec<_> = node.entries()?.collect();
    let mut ok = true;
    for (key, key_node, _) in &entries {
        if !OPERATORS.contains(key) && !COMBINATORS.contains(key) && *key != "path" && *key != "header" {
            p.error::<()>(
                key_node.loc,
                &join(path, key),
                format!(
                    "unknown condition key `{key}`, expected one of: all, any, not, path, header, {}",
                    OPERATORS.join(", ")
                ),
            );
            ok = false;
        }
    }
    if !ok {
        return None;
    }
    if let [(key, _, value)] = entries.as_slice()
        && COMBINATORS.contains(key)
    {
        let sub = join(path, key);
        return match *key {
            "not" => compile(value, &sub, p).map(|c| Condition::Not(Box::new(c))),
            _ => match &value.value {
                NodeValue::Seq(items) => list(items, &sub, p)
                    .map(|cs| if *key == "all" { Condition::All(cs) } else { Condition::Any(cs) }),
                _ => p.error(
                    value.loc,
                    &sub,
                    format!("`{key}` takes a list of conditions, found {}", value.kind()),
                ),
            },
        };
    }
    if let Some((key, key_node, _)) = entries.iter().find(|(k, _, _)| COMBINATORS.contains(k)) {
        return p.error(
            key_node.loc,
            &join(path, key),
            format!("`{key}` must stand alone in its mapping; put the other tests inside it"),
        );
    }
    let header = entries.iter().find(|(k, _, _)| *k == "header");
    let target = entries.iter().find(|(k, _, _)| *k == "path");
    let (path_key, path_node) = match (target, header) {
        (Some((_, k, n)), None) | (None, Some((_, k, n))) => (*k, *n),
        (Some(_), Some((_, k, _))) => {
            return p.error(k.loc, path, "a test takes `path:` or `header:`, not both");
        }
        (None, None) => {
            return p.error(
                node.loc,
                path,
                "a test needs `path:` (a JSONPath such as `$.payload.status`) or `header:`",
            );
        }
    };
    let is_header = header.is_some();
    let ops: Vec<_> = entries.iter().filter(|(k, _, _)| OPERATORS.contains(k)).collect();
    let [(op_name, _, operand)] = ops.as_slice() else {
        let found: Vec<&str> = ops.iter().map(|(k, _, _)| *k).collect();
        return p.error(
            path_key.loc,
            path,
            if found.is_empty() {
                format!("a test needs one operator, one of: {}", OPERATORS.join(", "))
            } else {
                format!("a test takes exactly one operator, found: {}", found.join(", "))
            },
        );
    };
    if is_header {
        let name = match path_node.as_str().map(|h| http::HeaderName::from_bytes(h.as_bytes())) {
            Some(Ok(h)) => Some(h),
            _ => p.error(path_node.loc, &join(path, "header"), "expected a header name"),
        };
        let op = operator(op_name, operand, &join(path, op_name), p);
        if op.as_ref().is_some_and(Op::needs_prev) {
            return p.error(
                operand.loc,
                &join(path, op_name),
                format!("`{op_name}` compares the body with the previous event's; headers are not kept"),
            );
        }
        return Some(Condition::Header { name: name?, op: op? });
    }
    let json_path = match path_node.as_str().map(Path::parse) {
        Some(Ok(q)) => Some(q),
        Some(Err(e)) => p.error(path_node.loc, &join(path, "path"), e),
        None => p.error(
            path_node.loc,
            &join(path, "path"),
            format!("expected a JSONPath string, found {}", path_node.kind()),
        ),
    };
    let op = operator(op_name, operand, &join(path, op_name), p);
    Some(Condition::Test { path: json_path?, op: op? })
}

fn operator(name: &str, operand: &Node, path: &str, p: &mut Problems) -> Option<Op> {
    let text = |p: &mut Problems| match operand.as_str() {
        Some(s) => Some(s.to_owned()),
        None => p.error(operand.loc, path, format!("`{name}` takes a string, found {}", operand.kind())),
    };
    let bound = |p: &mut Problems| match &operand.value {
        NodeValue::Str(s) => Some(Bound::Text(s.clone())),
        NodeValue::Int(_) | NodeValue::UInt(_) | NodeValue::Float(_) => {
            operand.to_json().as_f64().map(Bound::Number)
        }
        _ => p.error(
            operand.loc,
            path,
            format!("`{name}` takes a number or a string, found {}", operand.kind()),
        ),
    };
    let many = |p: &mut Problems| match &operand.value {
        NodeValue::Seq(items) => Some(items.iter().map(Node::to_json).collect()),
        _ => p.error(operand.loc, path, format!("`{name}` takes a list of values, found {}", operand.kind())),
    };
    Some(match name {
        "equals" => Op::Equals(operand.to_json()),
        "not_equals" => Op::NotEquals(operand.to_json()),
        "contains" => Op::Contains(operand.to_json()),
        "in" => Op::In(many(p)?),
        "not_in" => Op::NotIn(many(p)?),
        "becomes" => Op::Becomes(operand.to_json()),
        "exists" | "changed" => match operand.value {
            NodeValue::Bool(b) if name == "exists" => Op::Exists(b),
            NodeValue::Bool(b) => Op::Changed(b),
            _ => {
                return p.error(
                    operand.loc,
                    path,
                    format!("`{name}` takes true or false, found {}", operand.kind()),
                );
            }
        },
        "matches" => {
            let pattern = text(p)?;
            match p.regex(&pattern, REGEX_SIZE_LIMIT) {
                Ok(re) => Op::Matches(re),
                Err(e) => {
                    return p.error(
                        operand.loc,
                        path,
                        format!("invalid regex: {}", one_line(&e.to_string())),
                    );
                }
            }
        }
        "starts_with" => Op::StartsWith(text(p)?),
        "ends_with" => Op::EndsWith(text(p)?),
        "gt" => Op::Gt(bound(p)?),
        "gte" => Op::Gte(bound(p)?),
        "lt" => Op::Lt(bound(p)?),
        "lte" => Op::Lte(bound(p)?),
        _ => return None,
    })
}

fn one_line(text: &str) -> String {
    text.lines().map(str::trim).filter(|l| !l.is_empty()).collect::<Vec<_>>().join(" ")
}
