//! The collector every part of the compile reports into, and the small decoders the parts share.
//! A leaf of `config`: `compile.rs` (the orchestrator) and each part (`source`, `destination`,
//! `action`, `when`, `delivery`) import it, and it imports only `diagnostic` and `node`, so no part
//! calls back into the orchestrator.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use super::diagnostic::Diagnostic;
use super::node::{DecodeError, Loc, Node, NodeValue, Spanned};

/// The diagnostics of one compile (and what it compiled once for all rules: regexes).
#[derive(Default)]
pub struct Problems {
    /// Errors and warnings, in the order they were found.
    pub(super) diagnostics: Vec<Diagnostic>,
    /// Destinations declared with errors (see [`Problems::broken_destination`]).
    broken_destinations: HashSet<String>,
    /// Regexes compiled so far, by pattern (see [`Problems::regex`]).
    regexes: HashMap<String, regex::Regex>,
}

impl Problems {
    /// `pattern` compiled once per rules file: rules repeating a pattern share it (a compiled regex
    /// takes tens of KiB; cloning one shares it).
    pub fn regex(&mut self, pattern: &str, size_limit: usize) -> Result<regex::Regex, regex::Error> {
        if let Some(re) = self.regexes.get(pattern) {
            return Ok(re.clone());
        }
        let re = regex::RegexBuilder::new(pattern).size_limit(size_limit).build()?;
        self.regexes.insert(pattern.to_owned(), re.clone());
        Ok(re)
    }

    /// Remembers a destination that is declared but has errors, so references to it are not
    /// reported again as unknown.
    pub fn broken_destination(&mut self, name: &str) {
        self.broken_destinations.insert(name.to_owned());
    }

    pub fn is_broken_destination(&self, name: &str) -> bool {
        self.broken_destinations.contains(name)
    }

    /// Records an error; returns `None` so callers can `return p.error(..)`. A second error at the
    /// same place is a knock-on of the first (a missing variable makes a bad URL) and is dropped.
    pub fn error<T>(&mut self, loc: Loc, path: &str, message: impl Into<String>) -> Option<T> {
        let d = Diagnostic::error(loc, path, message);
        if !self.diagnostics.iter().any(|e| e.severity == d.severity && (e.line, e.col) == (d.line, d.col)) {
            self.diagnostics.push(d);
        }
        None
    }

    pub fn warning(&mut self, loc: Loc, path: &str, message: impl Into<String>) {
        self.diagnostics.push(Diagnostic::warning(loc, path, message));
    }

    fn decode_error<T>(&mut self, e: DecodeError, fallback: Loc) -> Option<T> {
        self.error(e.loc.unwrap_or(fallback), &e.path, e.message)
    }

    /// Decodes `node`, reporting every unknown key (not just the first) and, past them, the
    /// node's other problems; `None` only when something other than an unknown key failed.
    pub(super) fn decode<T: serde::de::DeserializeOwned>(&mut self, node: &Node, path: &str) -> Option<T> {
        let (value, errors) = super::node::decode_all(node, path);
        for e in errors {
            self.decode_error::<()>(e, node.loc);
        }
        value
    }
}

/// A mapping's entries, or an error when the node is something else.
pub(super) fn mapping<'n>(
    node: Option<&'n Node>,
    path: &str,
    p: &mut Problems,
) -> Vec<(&'n str, &'n Node, &'n Node)> {
    match node {
        None => vec![],
        Some(n) if matches!(n.value, NodeValue::Null) => vec![],
        Some(n) => match n.entries() {
            Some(entries) => entries.collect(),
            None => p
                .error(n.loc, path, format!("expected a mapping of names, found {}", n.kind()))
                .unwrap_or_default(),
        },
    }
}

/// `250ms`, `10s`, `5m`, `1h`, `7d`.
pub(super) fn duration(text: &Spanned<String>, path: &str, p: &mut Problems) -> Option<Duration> {
    let s = text.value.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (digits, unit) = s.split_at(split);
    let Ok(n) = digits.parse::<u64>() else {
        return p.error(text.loc, path, format!("`{s}` is not a duration; write e.g. 500ms, 10s, 5m or 1h"));
    };
    let d = match unit.trim() {
        "ms" => Duration::from_millis(n),
        "s" | "" => Duration::from_secs(n),
        "m" => Duration::from_secs(n * 60),
        "h" => Duration::from_secs(n * 3600),
        "d" => Duration::from_secs(n * 86_400),
        _ => {
            return p.error(
                text.loc,
                path,
                format!("`{s}` is not a duration; write e.g. 500ms, 10s, 5m or 1h"),
            );
        }
    };
    if d.is_zero() {
        return p.error(text.loc, path, "a duration must be longer than zero");
    }
    Some(d)
}
