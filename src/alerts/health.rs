//! Per destination, whether its attempts have all been failing, and for how long: the pure part of
//! `hookroute.destination.failing` / `recovered`. One step per episode, not per attempt: a
//! destination is reported failing once its attempts have all failed for `failing_after`, and
//! recovered at its first success after that. Whether *this* instance reports the step is then
//! decided through the store (`emit.rs`), so a fleet reports each transition once.

use std::collections::HashMap;

/// What the store should be asked to do about a destination's episode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HealthStep {
    /// Its attempts have all failed since `since`, for at least `failing_after`: open its episode.
    Failing { destination: String, since: i64, failed: u64, last_error: String },
    /// A success after an episode this instance saw reported, or a success when this instance has
    /// not asked for `failing_after` (the first one after a start included): an episode left open
    /// by a restart or by another instance of a fleet (which may have died since) is closed then.
    Recovered { destination: String, at: i64, failed: u64 },
}

impl HealthStep {
    pub fn destination(&self) -> &str {
        match self {
            Self::Failing { destination, .. } | Self::Recovered { destination, .. } => destination,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum State {
    /// The last attempt succeeded; the store was last asked to close an episode at `asked_at`.
    Healthy {
        asked_at: i64,
    },
    Failing {
        since: i64,
        failed: u64,
        last_error: String,
        reported: bool,
    },
}

/// The destinations' states, as this instance saw their attempts.
#[derive(Debug, Default)]
pub struct Health {
    destinations: HashMap<String, State>,
}

impl Health {
    /// One recorded attempt: `error` is `None` for a success. `failing_after_ms` is the running
    /// `settings.alerts.failing_after`.
    pub fn observe(
        &mut self,
        destination: &str,
        at: i64,
        error: Option<&str>,
        failing_after_ms: i64,
    ) -> Option<HealthStep> {
        let state = self.destinations.get_mut(destination);
        match (state, error) {
            (None, None) => {
                self.destinations.insert(destination.to_owned(), State::Healthy { asked_at: at });
                Some(HealthStep::Recovered { destination: destination.to_owned(), at, failed: 0 })
            }
            (Some(State::Healthy { asked_at }), None) => {
                if at - *asked_at < failing_after_ms {
                    return None;
                }
                *asked_at = at;
                Some(HealthStep::Recovered { destination: destination.to_owned(), at, failed: 0 })
            }
            (Some(state), None) => {
                let was = std::mem::replace(state, State::Healthy { asked_at: at });
                match was {
                    State::Failing { failed, reported: true, .. } => {
                        Some(HealthStep::Recovered { destination: destination.to_owned(), at, failed })
                    }
                    _ => None,
                }
            }
            (Some(State::Failing { since, failed, last_error, reported }), Some(error)) => {
                *failed += 1;
                error.clone_into(last_error);
                failing_step(destination, *since, *failed, last_error, reported, at, failing_after_ms)
            }
            (state, Some(error)) => {
                let mut reported = false;
                let step = failing_step(destination, at, 1, error, &mut reported, at, failing_after_ms);
                let new = State::Failing { since: at, failed: 1, last_error: error.to_owned(), reported };
                match state {
                    Some(s) => *s = new,
                    None => {
                        self.destinations.insert(destination.to_owned(), new);
                    }
                }
                step
            }
        }
    }

    /// Destinations whose failures have lasted `failing_after_ms` by `now` without a new attempt
    /// saying so (a destination retried rarely still turns failing on time).
    pub fn due(&mut self, now: i64, failing_after_ms: i64) -> Vec<HealthStep> {
        let mut steps: Vec<HealthStep> = self
            .destinations
            .iter_mut()
            .filter_map(|(name, state)| match state {
                State::Failing { since, failed, last_error, reported } => {
                    failing_step(name, *since, *failed, last_error, reported, now, failing_after_ms)
                }
                State::Healthy { .. } => None,
            })
            .collect();
        steps.sort_by(|a, b| a.destination().cmp(b.destination()));
        steps
    }

    /// The store could not be asked about a failing step: ask again at the next [`Health::due`].
    pub fn retry_later(&mut self, destination: &str) {
        if let Some(State::Failing { reported, .. }) = self.destinations.get_mut(destination) {
            *reported = false;
        }
    }

    /// Forgets destinations the running rules no longer have.
    pub fn retain(&mut self, known: impl Fn(&str) -> bool) {
        self.destinations.retain(|name, _| known(name));
    }
}

fn failing_step(
    destination: &str,
    since: i64,
    failed: u64,
    last_error: &str,
    reported: &mut bool,
    now: i64,
    failing_after_ms: i64,
) -> Option<HealthStep> {
    if *reported || now - since < failing_after_ms {
        return None;
    }
    *reported = true;
    Some(HealthStep::Failing {
        destination: destination.to_owned(),
        since,
        failed,
        last_error: last_error.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One observation: (at, error or `None` for a success) → the step it should produce.
    type Case = (i64, Option<&'static str>, Option<&'static str>);

    /// Feeds `crm`'s attempts in order (failing_after 100 ms); each expected step is written as
    /// `failing since N after K: ERR` or `recovered at N after K`.
    fn check(cases: &[Case]) {
        let mut h = Health::default();
        for (i, (at, error, expected)) in cases.iter().enumerate() {
            let step = h.observe("crm", *at, *error, 100).map(|s| describe(&s));
            assert_eq!(step.as_deref(), *expected, "observation {i} at {at}");
        }
    }

    fn describe(s: &HealthStep) -> String {
        match s {
            HealthStep::Failing { since, failed, last_error, .. } => {
                format!("failing since {since} after {failed}: {last_error}")
            }
            HealthStep::Recovered { at, failed, .. } => format!("recovered at {at} after {failed}"),
        }
    }

    #[test]
    fn one_step_per_episode_not_per_attempt() {
        // The first success, and one every `failing_after` while healthy, closes any episode left
        // open (by a restart, or another instance that reported it and died).
        check(&[
            (0, None, Some("recovered at 0 after 0")),
            (10, None, None),
            (99, None, None),
            (100, None, Some("recovered at 100 after 0")),
            (150, None, None),
        ]);
        // Failing for 100 ms: reported once, at the attempt that crossed the threshold.
        check(&[
            (0, None, Some("recovered at 0 after 0")),
            (10, Some("HTTP 500"), None),
            (60, Some("HTTP 500"), None),
            (110, Some("HTTP 503"), Some("failing since 10 after 3: HTTP 503")),
            (500, Some("HTTP 500"), None),
            (900, Some("HTTP 500"), None),
            (950, None, Some("recovered at 950 after 5")),
            (960, None, None),
        ]);
        // Short blips under the threshold are no episode; a success resets the clock.
        check(&[
            (0, Some("HTTP 500"), None),
            (90, None, None),
            (100, Some("HTTP 500"), None),
            (150, Some("HTTP 500"), None),
            (199, Some("HTTP 500"), None),
            (200, Some("HTTP 500"), Some("failing since 100 after 4: HTTP 500")),
        ]);
        // A second episode after a recovery is reported again.
        check(&[
            (0, Some("a"), None),
            (100, Some("b"), Some("failing since 0 after 2: b")),
            (150, None, Some("recovered at 150 after 2")),
            (160, Some("c"), None),
            (300, Some("d"), Some("failing since 160 after 2: d")),
        ]);
    }

    #[test]
    fn due_turns_a_quiet_failing_destination_failing_once() {
        let mut h = Health::default();
        assert_eq!(h.observe("crm", 0, Some("HTTP 500"), 100), None);
        assert_eq!(
            h.observe("slack", 0, None, 100).map(|s| describe(&s)),
            Some("recovered at 0 after 0".into())
        );
        assert!(h.due(99, 100).is_empty());
        let due: Vec<String> = h.due(100, 100).iter().map(describe).collect();
        assert_eq!(due, ["failing since 0 after 1: HTTP 500"]);
        assert!(h.due(1000, 100).is_empty(), "reported once per episode");
        assert_eq!(h.observe("crm", 1001, Some("x"), 100), None);
        h.retry_later("crm");
        assert_eq!(h.due(1002, 100).len(), 1, "asked again after a store error");
        h.retain(|name| name != "crm");
        assert!(h.due(5000, 100).is_empty());
    }
}
