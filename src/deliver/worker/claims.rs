//! The worker's bookkeeping of what it holds: every delivery it claimed and has not yet recorded
//! or released (waiting in memory or in flight), with its lease token, counted per destination.
//! The lease renewer reads it; the recorder and releases empty it; a lease the renewer found
//! lost is marked so the delivery is dropped instead of sent.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use crate::store::{Claimed, Lease};

#[derive(Default)]
struct Inner {
    /// id → (destination, token).
    held: HashMap<i64, (String, i64)>,
    /// id → when its lease ends as far as this worker knows (unix ms).
    until: HashMap<i64, i64>,
    per_destination: HashMap<String, usize>,
    lost: HashSet<i64>,
}

/// Shared between the claim loop, the recorder and the lease renewer.
#[derive(Clone, Default)]
pub(super) struct Claims {
    inner: Arc<Mutex<Inner>>,
}

impl Claims {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Takes note of a claim whose lease ends at `until` (unix ms).
    pub(super) fn add(&self, c: &Claimed, until: i64) {
        let mut s = self.lock();
        s.until.insert(c.id, until);
        if s.held.insert(c.id, (c.destination.clone(), c.token)).is_none() {
            *s.per_destination.entry(c.destination.clone()).or_default() += 1;
        }
        s.lost.remove(&c.id);
    }

    /// Forgets deliveries that were recorded or released.
    pub(super) fn remove(&self, ids: impl IntoIterator<Item = i64>) {
        let mut s = self.lock();
        for id in ids {
            s.lost.remove(&id);
            s.until.remove(&id);
            if let Some((destination, _)) = s.held.remove(&id)
                && let Some(n) = s.per_destination.get_mut(&destination)
            {
                *n = n.saturating_sub(1);
                if *n == 0 {
                    s.per_destination.remove(&destination);
                }
            }
        }
    }

    /// Every lease held, for one renewal statement.
    pub(super) fn leases(&self) -> Vec<Lease> {
        self.lock().held.iter().map(|(&id, (_, token))| Lease { id, token: *token }).collect()
    }

    pub(super) fn len(&self) -> usize {
        self.lock().held.len()
    }

    /// Deliveries of `destination` held (waiting or in flight).
    pub(super) fn held_for(&self, destination: &str) -> usize {
        self.lock().per_destination.get(destination).copied().unwrap_or(0)
    }

    /// Marks leases the store no longer has under our token: those deliveries must not be sent.
    pub(super) fn mark_lost(&self, ids: impl IntoIterator<Item = i64>) {
        let mut s = self.lock();
        for id in ids {
            if s.held.contains_key(&id) {
                s.lost.insert(id);
            }
        }
    }

    /// Leases the store renewed until `until`.
    pub(super) fn renewed(&self, ids: &[i64], until: i64) {
        let mut s = self.lock();
        for id in ids {
            if let Some(u) = s.until.get_mut(id) {
                *u = until;
            }
        }
    }

    /// Whether a held delivery must not be sent: its lease was lost, or ran out at `now` without
    /// a renewal (then another worker may hold it). Forgets it if so.
    pub(super) fn take_lost(&self, id: i64, now: i64) -> bool {
        let lost = {
            let s = self.lock();
            s.lost.contains(&id) || s.until.get(&id).is_some_and(|u| *u <= now)
        };
        if lost {
            self.remove([id]);
        }
        lost
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;

    fn claimed(id: i64, destination: &str) -> Claimed {
        Claimed {
            id,
            event_id: "e".into(),
            rule: "r".into(),
            action_index: 0,
            destination: destination.into(),
            body: Some(Bytes::new()),
            content_type: None,
            series: 1,
            attempts: 0,
            series_started_at: 0,
            token: id * 10,
        }
    }

    #[test]
    fn counts_per_destination_and_forgets_lost_leases() {
        let c = Claims::default();
        c.add(&claimed(1, "slack"), 1_000);
        c.add(&claimed(2, "slack"), 1_000);
        c.add(&claimed(3, "crm"), 1_000);
        assert_eq!((c.len(), c.held_for("slack"), c.held_for("crm")), (3, 2, 1));
        c.mark_lost([2, 99]);
        assert!(!c.take_lost(1, 500));
        assert!(c.take_lost(2, 500));
        c.renewed(&[1], 2_000);
        assert!(!c.take_lost(1, 1_500), "renewed");
        assert!(c.take_lost(3, 1_500), "its lease ran out unrenewed");
        c.add(&claimed(3, "crm"), 9_000);
        assert_eq!((c.len(), c.held_for("slack")), (2, 1));
        c.remove([1, 3]);
        assert_eq!((c.len(), c.held_for("slack"), c.held_for("crm")), (0, 0, 0));
        assert!(c.leases().is_empty());
    }
}
