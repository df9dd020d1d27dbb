//! JSONPath queries on the event body, compiled once at load. A path written `$.a.b` (the usual
//! case) is walked directly, without the query engine or an allocation, and rules testing the same
//! path share its result for the event being routed ([`Memo`]).

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
    pub(super) fn with_selected_memo<'v, R>(
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

    #[test]
    fn pathological_paths_are_refused_not_crashing() {
        let deep = format!("$[?{}@.a{}]", "(".repeat(1000), ")".repeat(1000));
        assert!(Path::parse(&deep).expect_err("too deep").contains("nests"));
        let long = format!("$.{}", "a".repeat(5000));
        assert!(Path::parse(&long).is_err());
        assert!(Path::parse("$.a[?@.b == '((((((']").is_ok(), "brackets inside strings do not count");
        assert!(Path::parse("payload.status").expect_err("no $").starts_with("invalid JSONPath"));
    }
}
