//! `hookroute diff`: what a rules change would have done to the events actually received. Each stored
//! event of the window is routed through the new rules and the planned deliveries are compared with
//! the ones stored for it (which the rules running at the time created). Exit 0: no difference;
//! 1: some event would be delivered differently (so a pipeline can stop the change); 2: the new
//! rules or the store could not be read.

use super::say;
use std::collections::BTreeSet;
use std::path::Path;

use serde::Serialize;

use crate::clock::{now_ms, rfc3339_ms};
use crate::config::{self, Config, LoadError};
use crate::route::{self, ParsedEvent};
use crate::store::{EventFilter, Filter, Store, StoredEvent};

/// One delivery, as the comparison sees it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Planned {
    pub rule: String,
    pub action: usize,
    pub destination: String,
}

/// How one event would change.
#[derive(Debug, Default, Serialize)]
pub struct EventChange {
    pub id: String,
    pub source: String,
    pub event_type: String,
    pub received_at: i64,
    pub added: Vec<Planned>,
    pub removed: Vec<Planned>,
    /// Deliveries the new rules plan whose template fails on this event.
    pub template_errors: Vec<String>,
}

/// A destination the new rules lack while deliveries to it wait: a reload would hold them.
#[derive(Debug, Serialize)]
pub struct WouldHold {
    pub destination: String,
    /// Pending or failed now.
    pub queued: i64,
}

#[derive(Debug, Default, Serialize)]
struct Summary {
    rules_version: String,
    since: i64,
    events: usize,
    changed: Vec<EventChange>,
    would_hold: Vec<WouldHold>,
}

/// Added and removed deliveries between what happened and what would happen.
pub fn compare(actual: &BTreeSet<Planned>, planned: &BTreeSet<Planned>) -> (Vec<Planned>, Vec<Planned>) {
    (planned.difference(actual).cloned().collect(), actual.difference(planned).cloned().collect())
}

pub fn run(rules: &Path, store_url: &str, since: &str, json: bool) -> anyhow::Result<u8> {
    let since_ms = match super::deliveries::parse_since(since) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("error: {e:#}");
            return Ok(2);
        }
    };
    let loaded = match config::load_on_own_stack(rules) {
        Ok(l) => l,
        Err(LoadError::Invalid(d)) => {
            eprint!("{d}");
            eprintln!("{}: {} error(s); nothing compared", rules.display(), d.error_count());
            return Ok(2);
        }
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(2);
        }
    };
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let summary = match runtime.block_on(collect(&loaded.config, store_url, since_ms)) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e:#}");
            return Ok(2);
        }
    };
    if json {
        say!("{}", serde_json::to_string_pretty(&summary)?);
    } else {
        print_text(&summary, rules)?;
    }
    Ok(u8::from(!summary.changed.is_empty() || !summary.would_hold.is_empty()))
}

/// Destinations with queued deliveries that `config` does not have.
async fn would_hold(config: &Config, store: &dyn Store) -> anyhow::Result<Vec<WouldHold>> {
    let now = now_ms();
    let mut out: Vec<WouldHold> = store
        .destination_stats(now, now)
        .await?
        .into_iter()
        .filter(|d| d.pending > 0 && !config.destinations.contains_key(&d.name))
        .map(|d| WouldHold { destination: d.name, queued: d.pending })
        .collect();
    out.sort_by(|a, b| a.destination.cmp(&b.destination));
    Ok(out)
}

async fn collect(config: &Config, url: &str, since: i64) -> anyhow::Result<Summary> {
    let store = super::open_existing_store(url).await?;
    let mut summary = Summary { rules_version: config.version.clone(), since, ..Summary::default() };
    let mut before = None;
    let mut ids = Vec::new();
    loop {
        let page =
            EventFilter { since: Some(since), before: before.clone(), limit: 500, ..EventFilter::default() };
        let events = store.events(page).await?;
        let full = events.len() == 500;
        ids.extend(events.iter().map(|e| e.id.clone()));
        before = events.last().map(|e| e.id.clone());
        if !full {
            break;
        }
    }
    // Oldest first (ids are UUIDv7, in the order events were accepted), carrying each entity
    // key's last event, so `becomes` and `changed` are judged as they would have been.
    ids.reverse();
    let mut state = EntityStates::default();
    for id in ids {
        let Some(stored) = store.event(&id).await? else { continue }; // pruned meanwhile
        summary.events += 1;
        if let Some(change) = diff_event(config, &*store, &stored, &mut state).await? {
            summary.changed.push(change);
        }
    }
    summary.would_hold = would_hold(config, &*store).await?;
    Ok(summary)
}

/// The last event of each (source, key) seen in the replay; a key's first event in the window has
/// no previous event (widen `--since` to reach further back).
#[derive(Default)]
struct EntityStates(std::collections::HashMap<(String, String), serde_json::Value>);

async fn diff_event(
    config: &Config,
    store: &dyn Store,
    e: &StoredEvent,
    state: &mut EntityStates,
) -> anyhow::Result<Option<EventChange>> {
    let filter = Filter { event_id: Some(e.id.clone()), limit: 10_000, ..Filter::default() };
    let actual: BTreeSet<Planned> = store
        .list(filter)
        .await?
        .into_iter()
        .map(|d| Planned {
            rule: d.rule,
            action: usize::try_from(d.action_index).unwrap_or(0),
            destination: d.destination,
        })
        .collect();
    let mut change = EventChange {
        id: e.id.clone(),
        source: e.source.clone(),
        event_type: e.event_type.clone(),
        received_at: e.received_at,
        ..EventChange::default()
    };
    let mut planned = BTreeSet::new();
    // An event whose source the new rules dropped gets nothing; its body may not be JSON then.
    if (config.sources.contains_key(&e.source) || e.source == crate::rules::BUILTIN_SOURCE)
        && let Ok(body) = crate::json::decode_received(&e.body, e.content_type.as_deref())
    {
        let received_at = rfc3339_ms(e.received_at);
        let event = ParsedEvent {
            source: &e.source,
            event_type: &e.event_type,
            body: &body,
            raw_body: &e.body,
            content_type: e.content_type.as_deref(),
            received_at: &received_at,
            headers: None,
        };
        let key = config
            .sources
            .get(&e.source)
            .and_then(|s| s.key.as_ref())
            .and_then(|k| route::entity_key(k, &body))
            .map(|k| (e.source.clone(), k));
        let prev = key.as_ref().and_then(|k| state.0.get(k));
        let plans = route::plan_prev(config, &event, prev);
        for p in plans {
            if let Err(err) = &p.request {
                change.template_errors.push(format!("rule {} action {}: {err}", p.rule, p.action_index));
            }
            planned.insert(Planned {
                rule: p.rule.to_owned(),
                action: p.action_index,
                destination: p.destination.to_owned(),
            });
        }
        if let Some(k) = key {
            state.0.insert(k, body.clone());
        }
    }
    (change.added, change.removed) = compare(&actual, &planned);
    let changed =
        !change.added.is_empty() || !change.removed.is_empty() || !change.template_errors.is_empty();
    Ok(changed.then_some(change))
}

fn print_text(s: &Summary, rules: &Path) -> std::io::Result<()> {
    for c in &s.changed {
        say!("event {} {} on {} at {}", c.id, c.event_type, c.source, rfc3339_ms(c.received_at));
        for a in &c.added {
            say!("  + {} action {} -> {}", a.rule, a.action, a.destination);
        }
        for r in &c.removed {
            say!("  - {} action {} -> {}", r.rule, r.action, r.destination);
        }
        for t in &c.template_errors {
            say!("  ! template fails: {t}");
        }
    }
    for w in &s.would_hold {
        say!(
            "! destination `{}` is not in {}: its {} queued delivery(ies) would be held until it is back",
            w.destination,
            rules.display(),
            w.queued
        );
    }
    let added: usize = s.changed.iter().map(|c| c.added.len()).sum();
    let removed: usize = s.changed.iter().map(|c| c.removed.len()).sum();
    let window = rfc3339_ms(s.since);
    if s.changed.is_empty() {
        say!(
            "no change: {} event(s) since {window} would be delivered the same way by {} (version {})",
            s.events,
            rules.display(),
            s.rules_version
        );
    } else {
        say!(
            "{} of {} event(s) since {window} would change: {added} delivery(ies) added, {removed} removed (rules {}, version {}; as of {})",
            s.changed.len(),
            s.events,
            rules.display(),
            s.rules_version,
            rfc3339_ms(now_ms())
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(rule: &str, action: usize, destination: &str) -> Planned {
        Planned { rule: rule.into(), action, destination: destination.into() }
    }

    #[test]
    fn added_and_removed_are_set_differences() {
        let actual = BTreeSet::from([p("a", 0, "slack"), p("a", 1, "mail"), p("b", 0, "crm")]);
        let planned = BTreeSet::from([p("a", 0, "slack"), p("a", 1, "sms"), p("c", 0, "crm")]);
        let (added, removed) = compare(&actual, &planned);
        assert_eq!(added, [p("a", 1, "sms"), p("c", 0, "crm")]);
        assert_eq!(removed, [p("a", 1, "mail"), p("b", 0, "crm")]);
        assert_eq!(compare(&actual, &actual), (vec![], vec![]));
    }
}
