//! The worker's short in-memory queues: claimed deliveries waiting for their destination's limits.

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use super::CLAIM_BATCH;
use crate::policy::Limits;
use crate::store::Claimed;

/// Claimed deliveries waiting in memory for their destination's limits, per destination. Queues
/// are kept short (see `queue_cap`), so nothing waits anywhere near its lease.
#[derive(Default)]
pub(super) struct Waiting {
    pub(super) queues: HashMap<String, VecDeque<Claimed>>,
    pub(super) total: usize,
}

impl Waiting {
    pub(super) fn push(&mut self, d: Claimed) {
        self.total += 1;
        self.queues.entry(d.destination.clone()).or_default().push_back(d);
    }

    pub(super) fn drain(&mut self) -> Vec<Claimed> {
        self.total = 0;
        self.queues.drain().flat_map(|(_, q)| q.into_iter()).collect()
    }
}

/// How many claimed deliveries a destination may have waiting: enough to keep its concurrency busy,
/// and never more than its rate lets out within half a lease.
pub(super) fn queue_cap(limits: Limits, lease: Duration) -> usize {
    let by_concurrency = limits.concurrency.saturating_mul(2).clamp(1, CLAIM_BATCH);
    match limits.rate {
        Some(rate) => {
            let per_half_lease = (lease / 2).as_secs_f64() / rate.per.as_secs_f64() * f64::from(rate.count);
            by_concurrency.min((per_half_lease.floor() as usize).max(1))
        }
        None => by_concurrency,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::{Limits, Rate};

    #[test]
    fn waiting_queues_stay_short() {
        let lease = Duration::from_secs(120);
        let cap = |concurrency, rate: Option<(u32, u64)>| {
            let rate = rate.map(|(count, secs)| Rate { count, per: Duration::from_secs(secs) });
            queue_cap(Limits { concurrency, rate }, lease)
        };
        assert_eq!(cap(8, None), 16);
        assert_eq!(cap(1, None), 2);
        assert_eq!(cap(1000, None), CLAIM_BATCH);
        assert_eq!(cap(8, Some((1, 1))), 16, "1/s lets 60 out in half a lease");
        assert_eq!(cap(8, Some((1, 60))), 1, "1/m: one at a time");
        assert_eq!(cap(8, Some((1, 3600))), 1, "never zero");
    }
}
