//! Entity state: the last committed event of each (source, key path, key), read and replaced in the
//! same transaction as the event and its deliveries, so "the previous event" is always the last one
//! committed before it and a crash never separates them.
//!
//! Routing that depends on the previous event happens *inside* that transaction, through
//! [`StatefulRoute`], which the layers above implement (the store knows no rules): given the
//! previous body it says which rules matched and which deliveries to store. The events of a batch
//! are routed in batch order, carrying each key's body forward, so the second of two events of one
//! key sees the first. Both stores call [`route_in_order`]; they only differ in how they read,
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
    /// the key's first event, or its state was forgotten after `settings.state_retention`).
    fn route(&self, prev: Option<&[u8]>) -> Routed;
}

/// What [`StatefulRoute::route`] decided.
#[derive(Debug, Clone, Default)]
pub struct Routed {
    pub matched_rules: Vec<String>,
    pub deliveries: Vec<NewDelivery>,
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

/// The batch after routing: each fresh event with its final rules and deliveries (events without
/// state keep what the handler planned), and the state rows to write (the last event per key).
pub(super) struct RoutedBatch {
    pub(super) events: Vec<NewEvent>,
    pub(super) states: Vec<StateRow>,
}

/// Routes the fresh events (`out[i]` is `None`) in batch order. `stored` holds the committed
/// bodies of the batch's keys; each routed event becomes its key's previous event for the next.
pub(super) fn route_in_order(
    batch: &[NewEvent],
    out: &[Option<Inserted>],
    mut stored: HashMap<StateId, Bytes>,
) -> RoutedBatch {
    let mut events = Vec::new();
    let mut last: HashMap<StateId, usize> = HashMap::new();
    let mut states: Vec<StateRow> = Vec::new();
    for (ev, _) in batch.iter().zip(out).filter(|(_, o)| o.is_none()) {
        let mut ev = ev.clone();
        let id = state_id(&ev);
        if let (Some(state), Some(id)) = (ev.state.take(), id) {
            let routed = state.route.route(stored.get(&id).map(|b| &b[..]));
            ev.matched_rules = routed.matched_rules;
            ev.deliveries = routed.deliveries;
            stored.insert(id.clone(), ev.body.clone());
            let row = StateRow { id: id.clone(), event_id: ev.id.clone(), body: ev.body.clone() };
            match last.get(&id) {
                Some(&i) => states[i] = row,
                None => {
                    last.insert(id, states.len());
                    states.push(row);
                }
            }
        }
        events.push(ev);
    }
    RoutedBatch { events, states }
}

/// The distinct state ids of the fresh events, sorted: every instance locks them in this order.
pub(super) fn fresh_ids(batch: &[NewEvent], out: &[Option<Inserted>]) -> Vec<StateId> {
    let mut ids: Vec<StateId> =
        batch.iter().zip(out).filter(|(_, o)| o.is_none()).filter_map(|(ev, _)| state_id(ev)).collect();
    ids.sort_unstable();
    ids.dedup();
    ids
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Records the previous body it was given and plans one delivery naming it.
    struct Echo;

    impl StatefulRoute for Echo {
        fn route(&self, prev: Option<&[u8]>) -> Routed {
            let seen = prev.map_or("none".to_owned(), |p| String::from_utf8_lossy(p).into_owned());
            Routed {
                matched_rules: vec![seen.clone()],
                deliveries: vec![NewDelivery {
                    rule: seen,
                    action_index: 0,
                    destination: "d".into(),
                    request: Ok((Bytes::new(), None)),
                }],
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
            state: key.map(|k| EntityState { key_path: "$.id".into(), key: k.into(), route: Arc::new(Echo) }),
        }
    }

    #[test]
    fn a_batch_is_routed_in_order_carrying_each_key() {
        let batch =
            [ev("a", Some("1")), ev("b", Some("1")), ev("c", None), ev("d", Some("2")), ev("e", Some("1"))];
        let out = [None, None, None, Some(Inserted::Duplicate("x".into())), None];
        let stored = HashMap::from([(("s".into(), "$.id".into(), "1".into()), Bytes::from("old"))]);
        let routed = route_in_order(&batch, &out, stored);
        let seen: Vec<&str> = routed.events.iter().map(|e| e.matched_rules[0].as_str()).collect();
        assert_eq!(seen, ["old", "body-a", "plain", "body-b"], "a duplicate is not routed");
        assert_eq!(routed.states.len(), 1, "one row per key, the last event's");
        assert_eq!(routed.states[0].event_id, "e");
        assert_eq!(fresh_ids(&batch, &out), [("s".to_owned(), "$.id".to_owned(), "1".to_owned())]);
    }
}
