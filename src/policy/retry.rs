//! Retry policy as data: after each attempt, decide whether the delivery is done, waits, or is dead.

use std::time::Duration;

use super::Outcome;

/// The default waits between attempts: about 16 hours in all.
pub const DEFAULT_SCHEDULE: [Duration; 9] = [
    Duration::from_secs(5),
    Duration::from_secs(30),
    Duration::from_secs(2 * 60),
    Duration::from_secs(10 * 60),
    Duration::from_secs(30 * 60),
    Duration::from_secs(3600),
    Duration::from_secs(2 * 3600),
    Duration::from_secs(4 * 3600),
    Duration::from_secs(8 * 3600),
];

/// Random spread added to each scheduled wait so retries of many deliveries do not arrive together.
pub const JITTER: f64 = 0.2;

#[derive(Debug, Clone, PartialEq)]
pub struct RetryPolicy {
    /// Wait before the 2nd, 3rd … attempt; the last entry repeats when `max_attempts` is larger.
    pub schedule: Vec<Duration>,
    /// Attempts per series, the first included.
    pub max_attempts: u32,
    /// A series older than this is not retried again.
    pub max_age: Option<Duration>,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            schedule: DEFAULT_SCHEDULE.to_vec(),
            max_attempts: u32::try_from(DEFAULT_SCHEDULE.len() + 1).unwrap_or(10),
            max_age: None,
        }
    }
}

/// What to do after an attempt.
#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    Delivered,
    RetryIn(Duration),
    Dead(String),
}

impl RetryPolicy {
    /// The longest scheduled wait; `Retry-After` is clamped to it.
    pub fn max_wait(&self) -> Duration {
        self.schedule.iter().copied().max().unwrap_or(Duration::from_secs(60))
    }

    /// `attempts` counts the attempt just made; `age` is how old the series is now; `jitter` is a
    /// random number in [-1, 1] scaled by [`JITTER`].
    pub fn decide(&self, attempts: u32, age: Duration, outcome: &Outcome, jitter: f64) -> Decision {
        match outcome {
            Outcome::Delivered { .. } => Decision::Delivered,
            Outcome::Dead { reason } => Decision::Dead(reason.clone()),
            Outcome::Retry { after, reason } => {
                if attempts >= self.max_attempts {
                    return Decision::Dead(format!("gave up after {attempts} attempts; last: {reason}"));
                }
                let wait = match after {
                    Some(after) => (*after).min(self.max_wait()),
                    None => {
                        let i = usize::try_from(attempts.saturating_sub(1)).unwrap_or(usize::MAX);
                        let base = self.schedule.get(i).or(self.schedule.last()).copied().unwrap_or_default();
                        base.mul_f64(1.0 + jitter.clamp(-1.0, 1.0) * JITTER)
                    }
                };
                if let Some(max_age) = self.max_age
                    && age + wait > max_age
                {
                    return Decision::Dead(format!(
                        "gave up: the next attempt would be past max_age ({}s); last: {reason}",
                        max_age.as_secs()
                    ));
                }
                Decision::RetryIn(wait)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn retry(after: Option<u64>) -> Outcome {
        Outcome::Retry { after: after.map(Duration::from_secs), reason: "HTTP 503".into() }
    }

    fn secs(s: u64) -> Decision {
        Decision::RetryIn(Duration::from_secs(s))
    }

    #[test]
    fn schedule_cases() {
        let p = RetryPolicy::default();
        let zero = Duration::ZERO;
        assert_eq!(p.decide(1, zero, &Outcome::Delivered { status: 200 }, 0.0), Decision::Delivered);
        assert_eq!(
            p.decide(1, zero, &Outcome::Dead { reason: "HTTP 400".into() }, 0.0),
            Decision::Dead("HTTP 400".into())
        );
        assert_eq!(p.decide(1, zero, &retry(None), 0.0), secs(5));
        assert_eq!(p.decide(2, zero, &retry(None), 0.0), secs(30));
        assert_eq!(p.decide(9, zero, &retry(None), 0.0), secs(8 * 3600));
        assert!(
            matches!(p.decide(10, zero, &retry(None), 0.0), Decision::Dead(r) if r.starts_with("gave up after 10 attempts"))
        );
        // ±20 % jitter.
        assert_eq!(p.decide(1, zero, &retry(None), 1.0), Decision::RetryIn(Duration::from_secs(6)));
        assert_eq!(p.decide(1, zero, &retry(None), -1.0), Decision::RetryIn(Duration::from_secs(4)));
        // Retry-After is honoured exactly (no jitter) and clamped to the longest step.
        assert_eq!(p.decide(1, zero, &retry(Some(3)), 1.0), secs(3));
        assert_eq!(p.decide(1, zero, &retry(Some(100 * 3600)), 0.0), secs(8 * 3600));
        // The whole default schedule is about 16 hours.
        let total: Duration = p.schedule.iter().sum();
        assert_eq!(total.as_secs(), 56_555);
    }

    #[test]
    fn max_age_and_short_schedules() {
        let p = RetryPolicy {
            schedule: vec![Duration::from_secs(1)],
            max_attempts: 100,
            max_age: Some(Duration::from_secs(10)),
        };
        assert_eq!(p.decide(7, Duration::from_secs(8), &retry(None), 0.0), secs(1), "the last step repeats");
        assert!(
            matches!(p.decide(8, Duration::from_secs(10), &retry(None), 0.0), Decision::Dead(r) if r.contains("max_age"))
        );
    }
}
