//! The request-body memory budget shared by all requests: a body is read only into bytes reserved
//! here, so a thousand slow senders each declaring a large body cannot together hold more memory
//! than the operator allowed. Reservations never wait: a body that does not fit is refused at once
//! (503 with `Retry-After`), before any of it is read. A [`Reservation`] gives its bytes back when
//! dropped, however the request ends. Large bodies cannot take the last eighth of the budget: it
//! is kept for small ones (what webhooks almost always are), so slow senders of large bodies
//! cannot starve everyone else.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// A body up to this size may use the whole budget; a larger one only what leaves an eighth free.
pub const SMALL_BODY: usize = 64 * 1024;

/// Bytes available for request bodies in memory, across all requests.
#[derive(Debug)]
pub struct Budget {
    total: usize,
    used: AtomicUsize,
}

impl Budget {
    pub fn new(total: usize) -> Arc<Self> {
        Arc::new(Self { total, used: AtomicUsize::new(0) })
    }

    /// Bytes reserved by requests right now.
    pub fn used(&self) -> usize {
        self.used.load(Ordering::Relaxed)
    }

    pub fn total(&self) -> usize {
        self.total
    }

    /// An empty reservation that can [`Reservation::grow`] chunk by chunk.
    pub fn empty(self: &Arc<Self>) -> Reservation {
        Reservation { budget: Arc::clone(self), bytes: 0 }
    }

    /// Reserves `bytes`, or `None` when they do not fit right now.
    pub fn reserve(self: &Arc<Self>, bytes: usize) -> Option<Reservation> {
        let mut r = self.empty();
        r.grow(bytes).then_some(r)
    }

    /// Takes `bytes` for a reservation that will then hold `held` bytes.
    fn take(&self, bytes: usize, held: usize) -> bool {
        let limit = if held > SMALL_BODY { self.total - self.total / 8 } else { self.total };
        self.used
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |used| {
                used.checked_add(bytes).filter(|&n| n <= limit)
            })
            .is_ok()
    }
}

/// Bytes held from the [`Budget`] until dropped.
#[derive(Debug)]
pub struct Reservation {
    budget: Arc<Budget>,
    bytes: usize,
}

impl Reservation {
    /// Adds `bytes` to this reservation; `false` (nothing added) when they do not fit.
    pub fn grow(&mut self, bytes: usize) -> bool {
        let ok = self.budget.take(bytes, self.bytes.saturating_add(bytes));
        if ok {
            self.bytes += bytes;
        }
        ok
    }

    pub fn bytes(&self) -> usize {
        self.bytes
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        self.budget.used.fetch_sub(self.bytes, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::{Budget, SMALL_BODY};

    #[test]
    fn reservations_fit_the_total_and_give_back_on_drop() {
        let b = Budget::new(100);
        let a = b.reserve(60).expect("fits");
        assert!(b.reserve(41).is_none(), "over the total");
        let mut c = b.reserve(40).expect("exactly fits");
        assert_eq!(b.used(), 100);
        assert!(!c.grow(1), "a chunk that does not fit is not added");
        assert_eq!(c.bytes(), 40);
        drop(a);
        assert!(c.grow(60));
        drop(c);
        assert_eq!(b.used(), 0);
        assert!(b.reserve(usize::MAX).is_none(), "no overflow");
    }

    #[test]
    fn large_bodies_leave_an_eighth_for_small_ones() {
        let mib = 1024 * 1024;
        let b = Budget::new(8 * mib);
        let large: Vec<_> = std::iter::from_fn(|| b.reserve(mib)).take(10).collect();
        assert_eq!(large.len(), 7, "the last MiB is kept for small bodies");
        let small: Vec<_> = std::iter::from_fn(|| b.reserve(SMALL_BODY)).take(100).collect();
        assert_eq!(small.len(), 16);
        let mut growing = b.empty();
        drop(small);
        assert!(growing.grow(SMALL_BODY), "small so far");
        assert!(!growing.grow(1), "now large: past the seven eighths");
    }
}
