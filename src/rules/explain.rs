//! Why each rule did or did not match an event: the dry-run trace behind `hookroute test`.

use serde::Serialize;
use serde_json::Value;

use super::{Condition, Prev, RuleSet};

/// One rule's verdict.
#[derive(Debug, Serialize, PartialEq)]
pub struct RuleTrace {
    pub rule: String,
    pub matched: bool,
    /// Why not, in one sentence, when it did not match.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub condition: Option<ConditionTrace>,
}

/// One condition's verdict with what it saw.
#[derive(Debug, Serialize, PartialEq)]
pub struct ConditionTrace {
    pub passed: bool,
    pub test: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seen: Option<Vec<Value>>,
    /// `becomes`/`changed`: what the path selected in the previous event of the key (`[]` when
    /// there was no previous event; see `no_previous`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub before: Option<Vec<Value>>,
    /// `becomes`/`changed` judged without a previous event.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub no_previous: bool,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub children: Vec<ConditionTrace>,
}

impl ConditionTrace {
    /// The first failing leaf, for the one-line reason.
    fn first_failure(&self) -> Option<&ConditionTrace> {
        if self.passed {
            return None;
        }
        self.children.iter().find_map(Self::first_failure).or(Some(self))
    }
}

/// Explains every rule in file order for one event, including the `stop` cut-off.
pub fn explain(
    rules: &RuleSet,
    source: &str,
    event_type: &str,
    body: &Value,
    headers: Option<&http::HeaderMap>,
) -> Vec<RuleTrace> {
    explain_prev(rules, source, event_type, body, headers, None)
}

/// [`explain`] given the previous event of the same key (`None`: none).
pub fn explain_prev(
    rules: &RuleSet,
    source: &str,
    event_type: &str,
    body: &Value,
    headers: Option<&http::HeaderMap>,
    prev: Prev<'_>,
) -> Vec<RuleTrace> {
    let mut stopped_by: Option<&str> = None;
    rules
        .rules()
        .iter()
        .map(|rule| {
            let mut trace =
                RuleTrace { rule: rule.name.clone(), matched: false, reason: None, condition: None };
            if let Some(stopper) = stopped_by {
                trace.reason = Some(format!("not evaluated: rule `{stopper}` matched and has stop: true"));
            } else if rule.source.as_deref().is_some_and(|s| s != source) {
                trace.reason = Some(format!(
                    "source is `{source}`, rule wants `{}`",
                    rule.source.as_deref().unwrap_or_default()
                ));
            } else if rule.source.is_none() && source == super::BUILTIN_SOURCE {
                trace.reason = Some(format!(
                    "a rule without `source:` does not see hookroute's own events (add `source: {source}`)"
                ));
            } else if !rule.events.iter().any(|p| p.matches(event_type)) {
                trace.reason = Some(format!("event type `{event_type}` is not in its events"));
            } else if let Some(cond) = &rule.when {
                let ct = trace_condition(cond, body, headers, prev);
                trace.matched = ct.passed;
                if let Some(failed) = ct.first_failure() {
                    trace.reason = Some(match &failed.seen {
                        Some(seen) if seen.is_empty() => {
                            format!("{}: the path selected nothing{}", failed.test, previously(failed))
                        }
                        Some(seen) => {
                            format!("{}: saw {}{}", failed.test, render_seen(seen), previously(failed))
                        }
                        None => failed.test.clone(),
                    });
                }
                trace.condition = Some(ct);
            } else {
                trace.matched = true;
            }
            if trace.matched && rule.stop {
                stopped_by = Some(&rule.name);
            }
            trace
        })
        .collect()
}

/// How many selected values a one-line reason names (a path can select thousands).
const SEEN_IN_REASON: usize = 10;

fn render_seen(seen: &[Value]) -> String {
    let parts: Vec<String> = seen.iter().take(SEEN_IN_REASON).map(Value::to_string).collect();
    match seen.len().saturating_sub(SEEN_IN_REASON) {
        0 => parts.join(", "),
        more => format!("{} … and {more} more", parts.join(", ")),
    }
}

/// What a `becomes`/`changed` test saw in the previous event, for the one-line reason.
fn previously(t: &ConditionTrace) -> String {
    match &t.before {
        _ if t.no_previous => " (no previous event of this key)".to_owned(),
        Some(b) if b.is_empty() => " (the previous event had nothing there)".to_owned(),
        Some(b) => format!(" (previous event: {})", render_seen(b)),
        None => String::new(),
    }
}

fn leaf(passed: bool, test: String, seen: Vec<Value>) -> ConditionTrace {
    ConditionTrace { passed, test, seen: Some(seen), before: None, no_previous: false, children: vec![] }
}

fn trace_condition(
    cond: &Condition,
    body: &Value,
    headers: Option<&http::HeaderMap>,
    prev: Prev<'_>,
) -> ConditionTrace {
    let group = |name: &str, cs: &[Condition], passed: fn(&[ConditionTrace]) -> bool| {
        let children: Vec<_> = cs.iter().map(|c| trace_condition(c, body, headers, prev)).collect();
        ConditionTrace {
            passed: passed(&children),
            test: name.to_owned(),
            seen: None,
            before: None,
            no_previous: false,
            children,
        }
    };
    match cond {
        Condition::All(cs) => group("all", cs, |c| c.iter().all(|t| t.passed)),
        Condition::Any(cs) => group("any", cs, |c| c.iter().any(|t| t.passed)),
        Condition::Not(c) => {
            let inner = trace_condition(c, body, headers, prev);
            ConditionTrace { passed: !inner.passed, children: vec![inner], ..group("not", &[], |_| true) }
        }
        Condition::Selects(path) => {
            let nodes = path.select(body);
            let test = format!("{} selects something", path.text());
            leaf(!nodes.is_empty(), test, nodes.into_iter().cloned().collect())
        }
        Condition::Test { path, op } if op.needs_prev() => {
            let nodes = path.select(body);
            let before = prev.map(|p| path.select(p));
            let test = format!("{} {} {}", path.text(), op.name(), op.operand());
            ConditionTrace {
                before: Some(before.iter().flatten().map(|v| (*v).clone()).collect()),
                no_previous: prev.is_none(),
                ..leaf(op.holds_since(&nodes, before.as_deref()), test, nodes.into_iter().cloned().collect())
            }
        }
        Condition::Test { path, op } => {
            let nodes = path.select(body);
            let test = format!("{} {} {}", path.text(), op.name(), op.operand());
            leaf(op.holds(&nodes), test, nodes.into_iter().cloned().collect())
        }
        Condition::Header { name, op } => {
            let values = super::condition::header_values(headers, name);
            let passed = op.holds(&values.iter().collect::<Vec<_>>());
            leaf(passed, format!("header {name} {} {}", op.name(), op.operand()), values)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::{EventPattern, Op, Path, Rule};
    use serde_json::json;

    #[test]
    fn reasons_name_the_first_values_seen_and_count_the_rest() {
        let check = |n: i64, expected: &str| {
            let seen: Vec<Value> = (0..n).map(|i| json!(i)).collect();
            assert_eq!(render_seen(&seen), expected, "{n} values");
        };
        check(0, "");
        check(2, "0, 1");
        check(10, "0, 1, 2, 3, 4, 5, 6, 7, 8, 9");
        check(11, "0, 1, 2, 3, 4, 5, 6, 7, 8, 9 … and 1 more");
        check(14_000, "0, 1, 2, 3, 4, 5, 6, 7, 8, 9 … and 13990 more");
    }

    #[test]
    fn explains_each_kind_of_miss() {
        let when = Condition::All(vec![Condition::Test {
            path: Path::parse("$.payload.status").expect("path"),
            op: Op::Equals(json!("to schedule")),
        }]);
        let mk = |name: &str, source: Option<&str>, ev: &str, when: Option<Condition>, stop| Rule {
            name: name.into(),
            source: source.map(Into::into),
            events: vec![EventPattern::new(ev)],
            when,
            actions: vec![],
            stop,
            after: None,
            still: None,
        };
        let set = RuleSet::new(vec![
            mk("ready", None, "order.*", Some(when), false),
            mk("other-source", Some("github"), "*", None, false),
            mk("files", None, "files.created", None, false),
            mk("stopper", None, "*", None, true),
            mk("late", None, "*", None, false),
        ]);
        let traces =
            explain(&set, "house-check", "order.updated", &json!({"payload": {"status": "new"}}), None);
        let reasons: Vec<_> =
            traces.iter().map(|t| (t.matched, t.reason.clone().unwrap_or_default())).collect();
        assert_eq!(
            reasons,
            [
                (false, "$.payload.status equals \"to schedule\": saw \"new\"".to_owned()),
                (false, "source is `house-check`, rule wants `github`".to_owned()),
                (false, "event type `order.updated` is not in its events".to_owned()),
                (true, String::new()),
                (false, "not evaluated: rule `stopper` matched and has stop: true".to_owned()),
            ]
        );
    }
}
