//! Whether the queue is stale: a delivery has been due for longer than `settings.alerts.queue_age`
//! without being sent. The pure part of `hookroute.queue.stale`: one step per change, and the
//! first look after a start always asks the store (an episode may have been left open).

/// What the store should be asked to do about the `queue.stale` episode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QueueStep {
    /// Open it: the delivery of `destination` due at `oldest_due` has waited too long.
    Open { destination: String, oldest_due: i64 },
    /// Close it: nothing waits too long now.
    Close,
}

#[derive(Debug, Default)]
pub struct Staleness {
    /// `None` until the first look (or after a store error).
    stale: Option<bool>,
}

impl Staleness {
    /// `oldest`: the destination and due time of the delivery due the longest, if any.
    pub fn check(&mut self, oldest: Option<(String, i64)>, now: i64, queue_age_ms: i64) -> Option<QueueStep> {
        let overdue = oldest.filter(|(_, due)| now - due >= queue_age_ms);
        let stale = overdue.is_some();
        if self.stale == Some(stale) {
            return None;
        }
        self.stale = Some(stale);
        Some(match overdue {
            Some((destination, oldest_due)) => QueueStep::Open { destination, oldest_due },
            None => QueueStep::Close,
        })
    }

    /// The store could not be asked: look again next time.
    pub fn forget(&mut self) {
        self.stale = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(looks: &[(Option<i64>, i64, Option<&str>)]) {
        let mut s = Staleness::default();
        for (i, (due, now, expected)) in looks.iter().enumerate() {
            let step = s.check(due.map(|d| ("crm".to_owned(), d)), *now, 100);
            let got = step.map(|s| match s {
                QueueStep::Open { oldest_due, .. } => format!("open {oldest_due}"),
                QueueStep::Close => "close".to_owned(),
            });
            assert_eq!(got.as_deref(), *expected, "look {i}");
        }
    }

    #[test]
    fn one_step_per_change() {
        check(&[
            (None, 0, Some("close")),
            (None, 10, None),
            (Some(0), 50, None),
            (Some(0), 100, Some("open 0")),
        ]);
        check(&[(Some(0), 500, Some("open 0")), (Some(0), 600, None), (Some(550), 600, Some("close"))]);
        check(&[
            (Some(0), 500, Some("open 0")),
            (None, 600, Some("close")),
            (Some(600), 700, Some("open 600")),
        ]);
    }
}
