//! Delivery: rendered requests leave the HTTP handler through the [`Queue`] seam and are sent by
//! workers with a timeout and retries with backoff.
//!
//! The queue here is in memory: an acknowledged event is lost if the process dies before its
//! deliveries finish. The durable-delivery work replaces [`MemoryQueue`] with a store-backed queue
//! behind the same trait.

mod memory;
mod outcome;
mod send;

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use bytes::Bytes;

pub use memory::MemoryQueue;
pub use outcome::{Outcome, classify, parse_retry_after};
pub use send::{Attempt, LogContext, Sender};

use crate::actions::RenderedRequest;

/// One request to make, planned when the event was accepted.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub event_id: String,
    pub rule: String,
    pub action_index: usize,
    pub destination: String,
    pub request: RenderedRequest,
}

/// An accepted event with the deliveries its rules produced.
#[derive(Debug, Clone)]
pub struct AcceptedEvent {
    pub id: String,
    pub source: String,
    pub event_type: String,
    pub raw_body: Bytes,
    pub rules_version: String,
    pub deliveries: Vec<Delivery>,
}

/// Why a queue refused an event; the HTTP layer answers 503 so the sender retries.
#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    #[error("the delivery queue is full")]
    Full,
    #[error("the service is shutting down")]
    Closed,
}

pub type QueueFuture<'a> = Pin<Box<dyn Future<Output = Result<(), QueueError>> + Send + 'a>>;

/// Where the HTTP handler hands accepted events. Resolving `Ok` means the event is accepted.
pub trait Queue: Send + Sync + 'static {
    fn enqueue(&self, event: AcceptedEvent) -> QueueFuture<'_>;
}

/// The wait before attempt `n + 1` (n ≥ 1): 1 s, 2 s, 4 s … capped at `max`, ±20 % jitter, unless
/// the destination said when (`Retry-After`, clamped to `max`).
pub fn backoff(attempt: u32, retry_after: Option<Duration>, max: Duration, jitter: f64) -> Duration {
    if let Some(after) = retry_after {
        return after.min(max);
    }
    let base = Duration::from_secs(1).saturating_mul(1u32 << attempt.saturating_sub(1).min(16));
    base.min(max).mul_f64(1.0 + jitter.clamp(-0.2, 0.2))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_caps_and_honours_retry_after() {
        let max = Duration::from_secs(30);
        let b = |n, after: Option<u64>, j| backoff(n, after.map(Duration::from_secs), max, j);
        assert_eq!(b(1, None, 0.0), Duration::from_secs(1));
        assert_eq!(b(2, None, 0.0), Duration::from_secs(2));
        assert_eq!(b(4, None, 0.0), Duration::from_secs(8));
        assert_eq!(b(10, None, 0.0), max);
        assert_eq!(b(40, None, 0.0), max);
        assert_eq!(b(1, None, 0.2), Duration::from_millis(1200));
        assert_eq!(b(1, None, -0.5), Duration::from_millis(800), "jitter is clamped to 20 %");
        assert_eq!(b(1, Some(3), 0.2), Duration::from_secs(3), "Retry-After wins, no jitter");
        assert_eq!(b(1, Some(3600), 0.0), max, "Retry-After is clamped");
    }
}
