//! Dead deliveries summarised per destination and window (a minute when serving): the first one
//! of a window is reported at once, the others of that window together at the start of the next,
//! with how many they were. Windows are aligned on the clock (`at / window`), so instances of a
//! fleet share them and the store's dedup key (`destination`, window) lets one report per window
//! through; a report another instance beat is put back and goes out in the next window.

use std::collections::HashMap;

/// One dead delivery, as its report names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dead {
    pub delivery_id: i64,
    pub event_id: String,
    pub rule: String,
    pub destination: String,
    pub attempts: u32,
    pub last_error: String,
    /// When it went dead (unix ms).
    pub at: i64,
}

/// What one `hookroute.delivery.dead` says: the latest dead delivery and how many died since the
/// previous report of its destination (itself included).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadReport {
    pub latest: Dead,
    pub count: u64,
    /// The window this report takes (its dedup key).
    pub window: i64,
}

#[derive(Debug, Default)]
struct Destination {
    /// The window of the last report, if any.
    reported: Option<i64>,
    /// Dead since then, not yet reported.
    pending: Option<(Dead, u64)>,
}

/// The summariser; `window_ms` is a minute when serving (tests shorten it).
#[derive(Debug)]
pub struct Bursts {
    window_ms: i64,
    destinations: HashMap<String, Destination>,
}

impl Bursts {
    pub fn new(window_ms: i64) -> Self {
        Self { window_ms: window_ms.max(1), destinations: HashMap::new() }
    }

    fn window(&self, at: i64) -> i64 {
        at.div_euclid(self.window_ms)
    }

    /// A delivery went dead: its report now, if its destination has none in this window yet.
    pub fn dead(&mut self, dead: Dead) -> Option<DeadReport> {
        let window = self.window(dead.at);
        let d = self.destinations.entry(dead.destination.clone()).or_default();
        let count = d.pending.take().map_or(0, |(_, n)| n) + 1;
        if d.reported == Some(window) {
            d.pending = Some((dead, count));
            return None;
        }
        d.reported = Some(window);
        Some(DeadReport { latest: dead, count, window })
    }

    /// Reports of deaths waiting for a window of their own, due by `now`.
    pub fn due(&mut self, now: i64) -> Vec<DeadReport> {
        let window = self.window(now);
        let mut out: Vec<DeadReport> = Vec::new();
        for d in self.destinations.values_mut() {
            if d.reported.is_some_and(|r| r < window)
                && let Some((latest, count)) = d.pending.take()
            {
                d.reported = Some(window);
                out.push(DeadReport { latest, count, window });
            }
        }
        out.sort_by(|a, b| a.latest.destination.cmp(&b.latest.destination));
        out
    }

    /// The store already had a report for this window (another instance's): its deaths are
    /// counted into the next report instead.
    pub fn put_back(&mut self, report: DeadReport) {
        let d = self.destinations.entry(report.latest.destination.clone()).or_default();
        d.reported = Some(d.reported.map_or(report.window, |r| r.max(report.window)));
        d.pending = Some(match d.pending.take() {
            Some((later, n)) => (later, n + report.count),
            None => (report.latest, report.count),
        });
    }

    /// Forgets destinations with nothing pending and no report in the current window.
    pub fn forget_quiet(&mut self, now: i64) {
        let window = self.window(now);
        self.destinations.retain(|_, d| d.pending.is_some() || d.reported == Some(window));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dead(destination: &str, id: i64, at: i64) -> Dead {
        Dead {
            delivery_id: id,
            event_id: format!("e{id}"),
            rule: "r".into(),
            destination: destination.into(),
            attempts: 3,
            last_error: "HTTP 500".into(),
            at,
        }
    }

    /// `(destination, delivery id, count, window)` of each report.
    fn seen(r: &[DeadReport]) -> Vec<(String, i64, u64, i64)> {
        r.iter().map(|r| (r.latest.destination.clone(), r.latest.delivery_id, r.count, r.window)).collect()
    }

    /// Feeds deaths `(destination, id, at)` and ticks (`("tick", 0, at)`), collecting every report.
    fn check(window_ms: i64, steps: &[(&str, i64, i64)], expected: &[(&str, i64, u64, i64)]) {
        let mut b = Bursts::new(window_ms);
        let mut got = Vec::new();
        for (dest, id, at) in steps {
            if *dest == "tick" {
                got.extend(b.due(*at));
            } else {
                got.extend(b.dead(dead(dest, *id, *at)));
            }
        }
        let expected: Vec<_> = expected.iter().map(|(d, i, n, w)| ((*d).to_owned(), *i, *n, *w)).collect();
        assert_eq!(seen(&got), expected);
    }

    #[test]
    fn at_most_one_report_per_destination_and_window_saying_how_many() {
        // One death: reported at once.
        check(60_000, &[("crm", 1, 5)], &[("crm", 1, 1, 0)]);
        // A burst of five: the first at once, the other four together in the next window.
        check(
            60_000,
            &[("crm", 1, 0), ("crm", 2, 1), ("crm", 3, 2), ("crm", 4, 3), ("crm", 5, 4), ("tick", 0, 59_999)],
            &[("crm", 1, 1, 0)],
        );
        check(
            60_000,
            &[("crm", 1, 0), ("crm", 2, 1), ("crm", 3, 2), ("tick", 0, 60_000), ("tick", 0, 200_000)],
            &[("crm", 1, 1, 0), ("crm", 3, 2, 1)],
        );
        // Destinations are summarised separately.
        check(
            1000,
            &[("crm", 1, 0), ("slack", 2, 1), ("crm", 3, 2), ("tick", 0, 1000)],
            &[("crm", 1, 1, 0), ("slack", 2, 1, 0), ("crm", 3, 1, 1)],
        );
        // A death in a later window with deaths pending reports them all at once.
        check(
            1000,
            &[("crm", 1, 0), ("crm", 2, 10), ("crm", 3, 1500)],
            &[("crm", 1, 1, 0), ("crm", 3, 2, 1)],
        );
    }

    #[test]
    fn a_report_another_instance_beat_goes_into_the_next_window() {
        let mut b = Bursts::new(1000);
        let first = b.dead(dead("crm", 1, 0)).expect("first reported");
        assert!(b.dead(dead("crm", 2, 10)).is_none());
        b.put_back(first);
        assert!(b.due(999).is_empty());
        assert_eq!(seen(&b.due(1000)), [("crm".to_owned(), 2, 2, 1)]);
        b.forget_quiet(5000);
        assert_eq!(seen(&[b.dead(dead("crm", 3, 5000)).expect("new window")]), [("crm".to_owned(), 3, 1, 5)]);
    }
}
