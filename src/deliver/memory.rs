//! The in-memory queue: a bounded channel and a pool of workers that send with retries.

use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use tokio::sync::{Semaphore, mpsc};
use tokio::task::JoinSet;

use super::{AcceptedEvent, Delivery, LogContext, Outcome, Queue, QueueError, QueueFuture, Sender, backoff};
use crate::config::Config;

/// Waits between retries never exceed this in memory (a durable store can wait hours).
const MAX_BACKOFF: Duration = Duration::from_secs(60);

pub struct MemoryQueue {
    tx: mpsc::Sender<Delivery>,
}

impl MemoryQueue {
    /// A queue holding at most `capacity` pending deliveries, and its worker loop. The loop ends
    /// when every `MemoryQueue` handle is dropped and the in-flight deliveries have finished.
    pub fn new(
        capacity: usize,
        concurrency: usize,
        config: Arc<ArcSwap<Config>>,
        sender: Sender,
    ) -> (Self, impl std::future::Future<Output = ()>) {
        let (tx, rx) = mpsc::channel(capacity);
        (Self { tx }, run_workers(rx, concurrency, config, sender))
    }
}

impl Queue for MemoryQueue {
    fn enqueue(&self, event: AcceptedEvent) -> QueueFuture<'_> {
        Box::pin(async move {
            let permits = self.tx.try_reserve_many(event.deliveries.len()).map_err(|e| match e {
                mpsc::error::TrySendError::Full(()) => QueueError::Full,
                mpsc::error::TrySendError::Closed(()) => QueueError::Closed,
            })?;
            for (permit, delivery) in permits.zip(event.deliveries) {
                permit.send(delivery);
            }
            Ok(())
        })
    }
}

async fn run_workers(
    mut rx: mpsc::Receiver<Delivery>,
    concurrency: usize,
    config: Arc<ArcSwap<Config>>,
    sender: Sender,
) {
    let limit = Arc::new(Semaphore::new(concurrency.max(1)));
    let mut tasks = JoinSet::new();
    while let Some(delivery) = rx.recv().await {
        let Ok(permit) = Arc::clone(&limit).acquire_owned().await else { break };
        let (config, sender) = (Arc::clone(&config), sender.clone());
        tasks.spawn(async move {
            deliver(&delivery, &config, &sender).await;
            drop(permit);
        });
        while tasks.try_join_next().is_some() {}
    }
    while tasks.join_next().await.is_some() {}
}

/// Sends one delivery until it succeeds, fails for good, or runs out of attempts.
async fn deliver(d: &Delivery, config: &ArcSwap<Config>, sender: &Sender) {
    let ctx = LogContext {
        event_id: &d.event_id,
        rule: &d.rule,
    };
    let mut attempt = 1;
    loop {
        // Read the destination from the running config on every attempt: a reload may fix its URL.
        let snapshot = config.load_full();
        let Some(dest) = snapshot.destinations.get(&d.destination) else {
            tracing::error!(event_id = %d.event_id, rule = %d.rule, destination = %d.destination,
                "delivery dropped: the destination is no longer in the rules");
            return;
        };
        let max_attempts = snapshot.settings.delivery.max_attempts;
        let result = sender.send(dest, &d.request, &ctx).await;
        let latency_ms = u64::try_from(result.latency.as_millis()).unwrap_or(u64::MAX);
        match result.outcome {
            Outcome::Delivered { status } => {
                tracing::info!(event_id = %d.event_id, rule = %d.rule, destination = %d.destination,
                    status, attempt, latency_ms, "delivered");
                return;
            }
            Outcome::Dead { reason } => {
                tracing::error!(event_id = %d.event_id, rule = %d.rule, destination = %d.destination,
                    attempt, "delivery failed for good: {reason}");
                return;
            }
            Outcome::Retry { after, reason } => {
                if attempt >= max_attempts {
                    tracing::error!(event_id = %d.event_id, rule = %d.rule, destination = %d.destination,
                        attempt, "delivery gave up after {attempt} attempts: {reason}");
                    return;
                }
                let jitter = rand::random_range(-0.2..=0.2);
                let wait = backoff(attempt, after, MAX_BACKOFF, jitter);
                tracing::warn!(event_id = %d.event_id, rule = %d.rule, destination = %d.destination,
                    attempt, retry_in_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX),
                    "delivery will be retried: {reason}");
                tokio::time::sleep(wait).await;
                attempt += 1;
            }
        }
    }
}
