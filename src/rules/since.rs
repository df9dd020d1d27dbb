//! The operators that compare an event with the previous event of the same entity key (`becomes`,
//! `changed`): pure functions of the nodes a path selects in both bodies. The store supplies the
//! previous body inside the ingest transaction; here there is no I/O.

use serde_json::Value;

use super::condition::{Condition, Op, json_eq};

/// The previous event's body of the same key; `None` when there is none (the key's first event,
/// or an event whose key path selected no string or number).
pub type Prev<'p> = Option<&'p Value>;

impl Op {
    /// Whether this operator compares with the previous event.
    pub fn needs_prev(&self) -> bool {
        matches!(self, Op::Becomes(_) | Op::Changed(_))
    }

    /// Whether `now` (the nodes the path selects in this event) satisfies the operator, given
    /// `before` (the nodes it selected in the previous event; `None`: no previous event).
    pub fn holds_since(&self, now: &[&Value], before: Option<&[&Value]>) -> bool {
        match self {
            Op::Becomes(v) => {
                let is = |nodes: &[&Value]| nodes.iter().any(|n| json_eq(n, v));
                is(now) && !before.is_some_and(is)
            }
            Op::Changed(want) => before.is_none_or(|b| !same_nodes(now, b)) == *want,
            _ => self.holds(now),
        }
    }
}

fn same_nodes(a: &[&Value], b: &[&Value]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| json_eq(x, y))
}

impl Condition {
    /// Whether any test in the tree compares with the previous event (the rule needs a `key`).
    pub fn needs_prev(&self) -> bool {
        match self {
            Condition::All(cs) | Condition::Any(cs) => cs.iter().any(Condition::needs_prev),
            Condition::Not(c) => c.needs_prev(),
            Condition::Test { op, .. } | Condition::Header { op, .. } => op.needs_prev(),
            Condition::Selects(_) => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::{Memo, Path};
    use serde_json::json;

    fn status(s: &str) -> Value {
        json!({"payload": {"id": 1, "status": s, "note": "x"}})
    }

    fn check(op: Op, prev: Option<Value>, now: Value, expected: bool) {
        let name = format!("{} {} after {prev:?} now {now}", op.name(), op.operand());
        let c = Condition::Test { path: Path::parse("$.payload.status").expect("path"), op };
        assert_eq!(c.eval_prev(&now, None, prev.as_ref(), &mut Memo::new(0)), expected, "{name}");
    }

    #[test]
    fn becomes_and_changed_cases() {
        let ready = || Op::Becomes(json!("to schedule"));
        check(ready(), None, status("to schedule"), true);
        check(ready(), Some(status("new")), status("to schedule"), true);
        check(ready(), Some(status("to schedule")), status("to schedule"), false);
        check(ready(), Some(status("to schedule")), status("scheduled"), false);
        check(ready(), Some(json!({"payload": {}})), status("to schedule"), true);
        check(ready(), None, status("new"), false);
        check(Op::Changed(true), None, status("new"), true);
        check(Op::Changed(false), None, status("new"), false);
        check(Op::Changed(true), Some(status("new")), status("new"), false);
        check(Op::Changed(false), Some(status("new")), status("new"), true);
        check(Op::Changed(true), Some(status("new")), status("done"), true);
        check(Op::Changed(true), Some(json!({"payload": {}})), status("new"), true);
        check(
            Op::Changed(true),
            Some(json!({"payload": {"status": 1}})),
            json!({"payload": {"status": 1.0}}),
            false,
        );
    }

    #[test]
    fn combined_with_all_any_not() {
        let p = |t: &str| Path::parse(t).expect("path");
        let becomes = Condition::Test { path: p("$.payload.status"), op: Op::Becomes(json!("to schedule")) };
        let rush = Condition::Test { path: p("$.payload.note"), op: Op::Equals(json!("x")) };
        let both = Condition::All(vec![becomes.clone(), rush]);
        assert!(both.needs_prev());
        let prev = status("new");
        assert!(both.eval_prev(&status("to schedule"), None, Some(&prev), &mut Memo::new(0)));
        let not = Condition::Not(Box::new(becomes));
        assert!(not.eval_prev(&status("to schedule"), None, Some(&status("to schedule")), &mut Memo::new(0)));
        assert!(!Condition::Selects(p("$.a")).needs_prev());
    }
}
