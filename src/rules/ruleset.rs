//! The compiled rules with an index by event type, so routing cost does not grow with rules written
//! for other event types.

use std::collections::HashMap;

use serde_json::Value;

use super::{Condition, EventPattern, Memo, Prev};
use crate::actions::Action;

/// The built-in source of hookroute's own events (`hookroute.*`, issue 16). Only rules that name
/// it with `source: hookroute` see its events: a rule without `source:` sees every *other* source,
/// so a catch-all rule written for senders never forwards operator alerts by surprise.
pub const BUILTIN_SOURCE: &str = "hookroute";

/// Whether a rule for `rule_source` (`None`: no `source:`) sees events of `source`.
fn sees(rule_source: Option<&str>, source: &str) -> bool {
    rule_source.map_or(source != BUILTIN_SOURCE, |s| s == source)
}

/// A rule, made only by the config compiler.
#[derive(Debug)]
pub struct Rule {
    pub name: String,
    /// `None`: any source.
    pub source: Option<String>,
    pub events: Vec<EventPattern>,
    pub when: Option<Condition>,
    pub actions: Vec<Action>,
    pub stop: bool,
    /// `after:`: the actions are due this long after the event (durably; the store keeps them).
    pub after: Option<std::time::Duration>,
    /// `still:`: must hold for every later event of the same key before the due time, or the
    /// waiting deliveries are cancelled.
    pub still: Option<Condition>,
}

impl Rule {
    pub fn applies_to(&self, source: &str, event_type: &str) -> bool {
        sees(self.source.as_deref(), source) && self.events.iter().any(|p| p.matches(event_type))
    }
}

#[derive(Debug, Default)]
pub struct RuleSet {
    rules: Vec<Rule>,
    /// Exact event type → indexes of rules naming it, ascending.
    by_type: HashMap<String, Vec<usize>>,
    /// Each distinct glob with the rules using it, ascending: an event type is matched against
    /// every glob once, however many rules share it.
    globs: Vec<(EventPattern, Vec<usize>)>,
    /// Distinct dotted paths in all conditions (the size of a routing [`Memo`]).
    memo_slots: usize,
    /// Source names as numbers, so that checking a candidate's source compares integers.
    source_ids: HashMap<String, u32>,
    /// Per rule, its source's number (`None`: any source).
    rule_sources: Vec<Option<u32>>,
}

impl RuleSet {
    pub fn new(mut rules: Vec<Rule>) -> Self {
        let mut slots = HashMap::new();
        for rule in &mut rules {
            if let Some(when) = &mut rule.when {
                when.assign_slots(&mut slots);
            }
        }
        let mut by_type: HashMap<String, Vec<usize>> = HashMap::new();
        let mut by_glob: HashMap<String, Vec<usize>> = HashMap::new();
        for (i, rule) in rules.iter().enumerate() {
            for pattern in &rule.events {
                let (EventPattern::Exact(text) | EventPattern::Glob(text)) = pattern;
                let map = if matches!(pattern, EventPattern::Exact(_)) { &mut by_type } else { &mut by_glob };
                let list = map.entry(text.clone()).or_default();
                if list.last() != Some(&i) {
                    list.push(i);
                }
            }
        }
        let mut globs: Vec<(EventPattern, Vec<usize>)> =
            by_glob.into_iter().map(|(text, list)| (EventPattern::new(&text), list)).collect();
        globs.sort_by_key(|(_, list)| list.first().copied());
        let mut source_ids: HashMap<String, u32> = HashMap::new();
        let rule_sources = rules
            .iter()
            .map(|r| {
                let next = u32::try_from(source_ids.len()).unwrap_or(u32::MAX);
                r.source.as_ref().map(|s| *source_ids.entry(s.clone()).or_insert(next))
            })
            .collect();
        Self { rules, by_type, globs, memo_slots: slots.len(), source_ids, rule_sources }
    }

    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    pub fn len(&self) -> usize {
        self.rules.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// Rules whose source and event patterns fit, in file order, before conditions are checked.
    pub fn candidates<'a, 'e>(
        &'a self,
        source: &'e str,
        event_type: &'e str,
    ) -> impl Iterator<Item = &'a Rule> + 'e
    where
        'a: 'e,
    {
        let exact = self.by_type.get(event_type).map_or(&[][..], Vec::as_slice);
        let mut globbed: Vec<usize> = Vec::new();
        let mut several = false;
        for (glob, list) in &self.globs {
            if glob.matches(event_type) {
                several |= !globbed.is_empty();
                globbed.extend_from_slice(list);
            }
        }
        if several {
            globbed.sort_unstable();
            globbed.dedup();
        }
        // Every rule here names the type or a glob matching it: only its source is left to check.
        let source_id = self.source_ids.get(source).copied();
        let merged: Vec<usize> = merge_sorted(exact, &globbed)
            .filter(|&i| match self.rule_sources[i] {
                Some(s) => Some(s) == source_id,
                None => source != BUILTIN_SOURCE,
            })
            .collect();
        merged.into_iter().map(move |i| &self.rules[i])
    }

    /// The rules that fire for this event, in file order, stopping after a matching `stop: true` rule.
    pub fn matching<'a>(&'a self, source: &str, event_type: &str, body: &Value) -> Vec<&'a Rule> {
        self.matching_with(source, event_type, body, None)
    }

    /// [`RuleSet::matching`] with the request's headers, for `header:` conditions.
    pub fn matching_with<'a>(
        &'a self,
        source: &str,
        event_type: &str,
        body: &Value,
        headers: Option<&http::HeaderMap>,
    ) -> Vec<&'a Rule> {
        self.matching_prev(source, event_type, body, headers, None)
    }

    /// [`RuleSet::matching_with`] given the previous event of the same key (`None`: none), which
    /// `becomes` and `changed` compare with.
    pub fn matching_prev<'a>(
        &'a self,
        source: &str,
        event_type: &str,
        body: &Value,
        headers: Option<&http::HeaderMap>,
        prev: Prev<'_>,
    ) -> Vec<&'a Rule> {
        let mut fired = Vec::new();
        let mut memo = Memo::new(self.memo_slots);
        for rule in self.candidates(source, event_type) {
            if rule.when.as_ref().is_none_or(|c| c.eval_prev(body, headers, prev, &mut memo)) {
                fired.push(rule);
                if rule.stop {
                    break;
                }
            }
        }
        fired
    }
}

/// Merges two ascending index lists, dropping duplicates.
fn merge_sorted<'a>(a: &'a [usize], b: &'a [usize]) -> impl Iterator<Item = usize> + 'a {
    let (mut i, mut j) = (0, 0);
    std::iter::from_fn(move || {
        let next = match (a.get(i), b.get(j)) {
            (Some(&x), Some(&y)) if x == y => {
                i += 1;
                j += 1;
                x
            }
            (Some(&x), Some(&y)) if x < y => {
                i += 1;
                x
            }
            (_, Some(&y)) => {
                j += 1;
                y
            }
            (Some(&x), None) => {
                i += 1;
                x
            }
            (None, None) => return None,
        };
        Some(next)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::{Op, Path};
    use serde_json::json;

    fn rule(name: &str, source: Option<&str>, events: &[&str], when: Option<Condition>, stop: bool) -> Rule {
        Rule {
            name: name.into(),
            source: source.map(Into::into),
            events: events.iter().map(|e| EventPattern::new(e)).collect(),
            when,
            actions: vec![],
            stop,
            after: None,
            still: None,
        }
    }

    fn names(set: &RuleSet, source: &str, ty: &str, body: &Value) -> Vec<String> {
        set.matching(source, ty, body).iter().map(|r| r.name.clone()).collect()
    }

    #[test]
    fn file_order_globs_sources_and_stop() {
        let ready = Condition::Test {
            path: Path::parse("$.payload.status").expect("path"),
            op: Op::Equals(json!("to schedule")),
        };
        let set = RuleSet::new(vec![
            rule("any", None, &["*"], None, false),
            rule(
                "both-spellings",
                Some("house-check"),
                &["order.updated", "order.update"],
                Some(ready),
                false,
            ),
            rule("orders", None, &["order.*", "order.updated"], None, true),
            rule("after-stop", None, &["order.updated"], None, false),
            rule("files", None, &["files.created"], None, false),
        ]);
        let ready_body = json!({"payload": {"status": "to schedule"}});
        let other_body = json!({"payload": {"status": "new"}});
        assert_eq!(
            names(&set, "house-check", "order.updated", &ready_body),
            ["any", "both-spellings", "orders"]
        );
        assert_eq!(
            names(&set, "house-check", "order.update", &ready_body),
            ["any", "both-spellings", "orders"]
        );
        assert_eq!(names(&set, "house-check", "order.updated", &other_body), ["any", "orders"]);
        assert_eq!(names(&set, "other", "order.updated", &ready_body), ["any", "orders"]);
        assert_eq!(names(&set, "house-check", "files.created", &other_body), ["any", "files"]);
        assert_eq!(names(&set, "house-check", "inspection.updated", &other_body), ["any"]);
    }

    #[test]
    fn a_rule_reached_by_several_globs_and_names_fires_once_in_file_order() {
        let set = RuleSet::new(vec![
            rule("globs", None, &["order.*", "*.updated", "order.updated"], None, false),
            rule("other-source", Some("partner"), &["order.*"], None, false),
            rule("late", None, &["*"], None, false),
        ]);
        let body = json!({});
        assert_eq!(names(&set, "house-check", "order.updated", &body), ["globs", "late"]);
        assert_eq!(names(&set, "partner", "order.updated", &body), ["globs", "other-source", "late"]);
        assert_eq!(names(&set, "unknown-source", "files.updated", &body), ["globs", "late"]);
        // hookroute's own events reach only rules that name its source.
        assert!(names(&set, BUILTIN_SOURCE, "files.updated", &body).is_empty());
        let own = RuleSet::new(vec![rule("ops", Some(BUILTIN_SOURCE), &["hookroute.*"], None, false)]);
        assert_eq!(names(&own, BUILTIN_SOURCE, "hookroute.delivery.dead", &body), ["ops"]);
        assert!(own.rules()[0].applies_to(BUILTIN_SOURCE, "hookroute.queue.stale"));
    }

    #[test]
    fn merge_keeps_order_and_drops_duplicates() {
        assert_eq!(merge_sorted(&[0, 2, 5], &[1, 2, 7]).collect::<Vec<_>>(), [0, 1, 2, 5, 7]);
        assert_eq!(merge_sorted(&[], &[3]).collect::<Vec<_>>(), [3]);
        assert_eq!(merge_sorted(&[4], &[]).collect::<Vec<_>>(), [4]);
    }
}
