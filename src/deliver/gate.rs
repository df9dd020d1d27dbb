//! Per-destination limits: how many requests may be in flight at once and how many may start per
//! unit of time (a token bucket). A delivery that cannot pass waits in the worker's short queue for
//! its destination without holding a send slot, so a slow or rate-limited destination never delays
//! others.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

use crate::policy::Limits;

#[derive(Debug)]
struct State {
    in_flight: usize,
    tokens: f64,
    refilled: Instant,
}

/// The limits' live state for every destination.
#[derive(Clone, Default)]
pub struct Gates {
    states: Arc<Mutex<HashMap<String, State>>>,
}

/// Held while a request to the destination is in flight.
pub struct Permit {
    gates: Gates,
    destination: String,
}

impl Drop for Permit {
    fn drop(&mut self) {
        if let Some(s) = self.gates.lock().get_mut(&self.destination) {
            s.in_flight = s.in_flight.saturating_sub(1);
        }
    }
}

impl Gates {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, State>> {
        self.states.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Lets a request start now, or says how long to wait.
    pub fn try_enter(&self, destination: &str, limits: Limits) -> Result<Permit, Duration> {
        let now = Instant::now();
        let mut states = self.lock();
        let s = states.entry(destination.to_owned()).or_insert_with(|| State {
            in_flight: 0,
            tokens: limits.rate.map_or(0.0, crate::policy::Rate::burst),
            refilled: now,
        });
        if s.in_flight >= limits.concurrency.max(1) {
            return Err(Duration::from_millis(100));
        }
        if let Some(rate) = limits.rate {
            let per_token = rate.per_token().as_secs_f64();
            let gained = now.duration_since(s.refilled).as_secs_f64() / per_token;
            // Capped at the burst, not the count: evenly spaced, no volley at each second.
            s.tokens = (s.tokens + gained).min(rate.burst());
            s.refilled = now;
            if s.tokens < 1.0 {
                return Err(Duration::from_secs_f64((1.0 - s.tokens) * per_token));
            }
            s.tokens -= 1.0;
        }
        s.in_flight += 1;
        Ok(Permit { gates: self.clone(), destination: destination.to_owned() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::Rate;

    #[tokio::test(start_paused = true)]
    async fn token_bucket_spaces_requests() {
        let g = Gates::default();
        let limits = Limits { concurrency: 10, rate: Some(Rate { count: 1, per: Duration::from_secs(1) }) };
        let first = g.try_enter("slack", limits);
        assert!(first.is_ok());
        let wait = g.try_enter("slack", limits).err().expect("no token left");
        assert_eq!(wait, Duration::from_secs(1));
        tokio::time::advance(Duration::from_millis(600)).await;
        assert_eq!(g.try_enter("slack", limits).err(), Some(Duration::from_millis(400)));
        tokio::time::advance(Duration::from_millis(400)).await;
        assert!(g.try_enter("slack", limits).is_ok());
        assert!(g.try_enter("other", limits).is_ok(), "destinations are independent");
    }

    #[tokio::test(start_paused = true)]
    async fn a_quiet_destination_gets_no_volley() {
        let g = Gates::default();
        let limits = Limits { concurrency: 10, rate: Some(Rate { count: 2, per: Duration::from_secs(1) }) };
        assert!(g.try_enter("slack", limits).is_ok());
        assert_eq!(
            g.try_enter("slack", limits).err(),
            Some(Duration::from_millis(500)),
            "spaced, not 2 at once"
        );
        tokio::time::advance(Duration::from_secs(10)).await;
        assert!(g.try_enter("slack", limits).is_ok());
        assert!(g.try_enter("slack", limits).is_err(), "ten quiet seconds earn one token, not twenty");
    }

    #[tokio::test(start_paused = true)]
    async fn concurrency_limit_is_released_with_the_permit() {
        let g = Gates::default();
        let limits = Limits { concurrency: 2, rate: None };
        let a = g.try_enter("crm", limits).expect("1st");
        let _b = g.try_enter("crm", limits).expect("2nd");
        assert!(g.try_enter("crm", limits).is_err());
        drop(a);
        assert!(g.try_enter("crm", limits).is_ok());
    }
}
