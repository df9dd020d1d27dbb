//! Entity state: the last committed event of each (source, key path, key), read and replaced in the
//! same transaction as the event and its deliveries, so "the previous event" is always the last one
//! committed before it and a crash never separates them.
//!
//! Routing that depends on the previous event happens *inside* that transaction, through
//! [`StatefulRoute`], which the layers above implement (the store knows no rules): given the
//! previous body it says which rules matched and which deliveries to store. The events of a batch
//! are routed in batch order, carrying each key's body forward, so the second of two events of one
//! key sees the first. Both stores route through [`Carry`]; they only differ in how they read,
//! lock and write the rows.

use std::collections::HashMap;
use std::sync::Arc;

use bytes::Bytes;

use super::{Inserted, NewDelivery, NewEvent};

/// What an event about an entity needs from the store.
#[derive(Clone)]
pub struct EntityState {
    /// The source's `key` path as written: part of the state's identity, so changing the path in
    /// the rules file starts fresh keys instead of comparing values of different fields.
    pub key_path: String,
    /// The key's value as JSON text (`9001`, `"A-17"`).
    pub key: String,
    /// The event as its key's state keeps it, for the next event's `prev`: the body's JSON (a form
    /// body decoded, so `prev` reads like the event did).
    pub body: Bytes,
    pub route: Arc<dyn StatefulRoute>,
}

impl std::fmt::Debug for EntityState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EntityState").field("key_path", &self.key_path).field("key", &self.key).finish()
    }
}

/// Routing that needs the previous event of the key, run inside the ingest transaction.
pub trait StatefulRoute: Send + Sync {
    /// The rules matched and the deliveries to store, given the previous event's raw body (`None`:
    /// the key's first event, or its state was forgotten after `settings.state_retention`) and
    /// the rules with deliveries of this key still waiting (`after:` + `still:`), whose `still`
    /// this event may break.
    fn route(&self, prev: Option<&[u8]>, waiting: &[String]) -> Routed;

    /// Whether any rule of this event's source has `still:` (else the store need not look up
    /// waiting deliveries).
    fn watches(&self) -> bool {
        true
    }
}

/// What [`StatefulRoute::route`] decided.
#[derive(Debug, Clone, Default)]
pub struct Routed {
    pub matched_rules: Vec<String>,
    pub deliveries: Vec<NewDelivery>,
    /// (rule, reason): the waiting deliveries of these rules for this key are cancelled.
    pub cancel: Vec<(String, String)>,
}

/// A state row's identity.
pub(super) type StateId = (String, String, String);

pub(super) fn state_id(ev: &NewEvent) -> Option<StateId> {
    ev.state.as_ref().map(|s| (ev.source.clone(), s.key_path.clone(), s.key.clone()))
}

/// A state row to write: the key's new last event.
pub(super) struct StateRow {
    pub(super) id: StateId,
    pub(super) event_id: String,
    pub(super) body: Bytes,
}

/// Routes a batch's fresh events one by one in batch order, carrying each key's last body, so the
/// second of two events of one key sees the first; collects the state rows to write at the end
/// (one per key, its last event).
pub(super) struct Carry {
    stored: HashMap<StateId, Bytes>,
    states: Vec<StateRow>,
    last: HashMap<StateId, usize>,
}

impl Carry {
    /// `stored`: the committed bodies of the batch's keys.
    pub(super) fn new(stored: HashMap<StateId, Bytes>) -> Self {
        Self { stored, states: Vec::new(), last: HashMap::new() }
    }

    /// The event to write (with its final rules and deliveries: an event without state keeps what
    /// the handler planned) and the cancellations its routing asked for.
    pub(super) fn route(&mut self, ev: &NewEvent, waiting: &[String]) -> (NewEvent, Vec<(String, String)>) {
        let mut ev = ev.clone();
        let id = state_id(&ev);
        let (Some(state), Some(id)) = (ev.state.take(), id) else { return (ev, Vec::new()) };
        let routed = state.route.route(self.stored.get(&id).map(|b| &b[..]), waiting);
        ev.matched_rules = routed.matched_rules;
        ev.deliveries = routed.deliveries;
        self.stored.insert(id.clone(), state.body.clone());
        let row = StateRow { id: id.clone(), event_id: ev.id.clone(), body: state.body };
        match self.last.get(&id) {
            Some(&i) => self.states[i] = row,
            None => {
                self.last.insert(id, self.states.len());
                self.states.push(row);
            }
        }
        (ev, routed.cancel)
    }

    pub(super) fn states(self) -> Vec<StateRow> {
        self.states
    }
}

/// Whether the store must look up waiting deliveries for this event's key.
pub(super) fn watches(ev: &NewEvent) -> bool {
    ev.state.as_ref().is_some_and(|s| s.route.watches())
}

/// The distinct state ids of the fresh events, sorted: every instance locks them in this order.
pub(super) fn fresh_ids(batch: &[NewEvent], out: &[Option<Inserted>]) -> Vec<StateId> {
    let mut ids: Vec<StateId> =
        batch.iter().zip(out).filter(|(_, o)| o.is_none()).filter_map(|(ev, _)| state_id(ev)).collect();
    ids.sort_unstable();
    ids.dedup();
    ids
}

/// Whether a batch needs the keyed insert: events about entity keys, or deliveries due later.
pub(super) fn needs_keyed_insert(batch: &[NewEvent]) -> bool {
    batch.iter().any(|e| e.state.is_some() || e.deliveries.iter().any(|d| d.due_at.is_some()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Records the previous body it was given and plans one delivery naming it.
    struct Echo;

    impl StatefulRoute for Echo {
        fn route(&self, prev: Option<&[u8]>, waiting: &[String]) -> Routed {
            let seen = prev.map_or("none".to_owned(), |p| String::from_utf8_lossy(p).into_owned());
            Routed {
                matched_rules: vec![seen.clone()],
                deliveries: vec![NewDelivery {
                    rule: seen,
                    action_index: 0,
                    destination: "d".into(),
                    request: Ok((Bytes::new(), None)),
                    due_at: None,
                    waits: false,
                }],
                cancel: waiting.iter().map(|w| (w.clone(), "broken".into())).collect(),
            }
        }
    }

    fn ev(id: &str, key: Option<&str>) -> NewEvent {
        NewEvent {
            id: id.into(),
            source: "s".into(),
            event_type: "t".into(),
            received_at: 0,
            body: Bytes::from(format!("body-{id}")),
            content_type: None,
            matched_rules: vec!["plain".into()],
            rules_version: "v".into(),
            dedup: None,
            deliveries: vec![],
            state: key.map(|k| EntityState {
                key_path: "$.id".into(),
                key: k.into(),
                body: Bytes::from(format!("body-{id}")),
                route: Arc::new(Echo),
            }),
        }
    }

    #[test]
    fn a_batch_is_routed_in_order_carrying_each_key() {
        let batch =
            [ev("a", Some("1")), ev("b", Some("1")), ev("c", None), ev("d", Some("2")), ev("e", Some("1"))];
        let out = [None, None, None, Some(Inserted::Duplicate("x".into())), None];
        let stored = HashMap::from([(("s".into(), "$.id".into(), "1".into()), Bytes::from("old"))]);
        let mut carry = Carry::new(stored);
        let mut seen = Vec::new();
        for (ev, _) in batch.iter().zip(&out).filter(|(_, o)| o.is_none()) {
            let (routed, cancel) = carry.route(ev, &["r".to_owned()]);
            seen.push((routed.matched_rules[0].clone(), cancel.len()));
        }
        let seen: Vec<(&str, usize)> = seen.iter().map(|(s, n)| (s.as_str(), *n)).collect();
        assert_eq!(
            seen,
            [("old", 1), ("body-a", 1), ("plain", 0), ("body-b", 1)],
            "a duplicate is not routed"
        );
        let states = carry.states();
        assert_eq!(states.len(), 1, "one row per key, the last event's");
        assert_eq!(states[0].event_id, "e");
        assert_eq!(fresh_ids(&batch, &out), [("s".to_owned(), "$.id".to_owned(), "1".to_owned())]);
    }
}
