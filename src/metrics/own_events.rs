//! Counters of hookroute's own events (issue 16): emitted by type, and those not emitted because
//! they were about a delivery of an own event (loop safety) or already reported (summarised,
//! another instance's episode). Plain atomics, rendered with the other families at scrape time.

use std::sync::atomic::{AtomicU64, Ordering};

/// The five event types, in the order they are rendered.
pub const OWN_EVENT_TYPES: [&str; 5] = [
    "hookroute.delivery.dead",
    "hookroute.destination.failing",
    "hookroute.destination.recovered",
    "hookroute.reload.rejected",
    "hookroute.queue.stale",
];

/// Why an own event was not emitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotEmitted {
    /// A delivery of a `hookroute.*` event went dead: reporting it could loop.
    OwnDelivery,
    /// The store already had it (another instance, or this one, reported the episode or minute).
    Duplicate,
}

#[derive(Debug, Default)]
pub struct OwnEventCounters {
    emitted: [AtomicU64; 5],
    own_delivery: AtomicU64,
    duplicate: AtomicU64,
}

impl OwnEventCounters {
    /// One event of `event_type` (one of [`OWN_EVENT_TYPES`]) stored.
    pub fn emitted(&self, event_type: &str) {
        if let Some(i) = OWN_EVENT_TYPES.iter().position(|t| *t == event_type) {
            self.emitted[i].fetch_add(1, Ordering::Relaxed);
        }
    }

    pub fn not_emitted(&self, why: NotEmitted) {
        let counter = match why {
            NotEmitted::OwnDelivery => &self.own_delivery,
            NotEmitted::Duplicate => &self.duplicate,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    pub(super) fn render(&self, out: &mut String) {
        super::family(
            out,
            "hookroute_own_events_total",
            "counter",
            "hookroute's own events stored, by type.",
        );
        for (t, n) in OWN_EVENT_TYPES.iter().zip(&self.emitted) {
            super::sample(
                out,
                "hookroute_own_events_total",
                &[("type", t)],
                n.load(Ordering::Relaxed) as f64,
            );
        }
        super::family(
            out,
            "hookroute_own_events_suppressed_total",
            "counter",
            "hookroute's own events not emitted: about a delivery of an own event (loop), or already reported.",
        );
        for (reason, n) in [("own_delivery", &self.own_delivery), ("duplicate", &self.duplicate)] {
            let value = n.load(Ordering::Relaxed) as f64;
            super::sample(out, "hookroute_own_events_suppressed_total", &[("reason", reason)], value);
        }
    }
}
