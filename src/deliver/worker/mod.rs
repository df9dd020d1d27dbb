//! The delivery loop: lease due deliveries from the store, pass them through the destination's
//! limits, send, and record each attempt with the delivery's next state.
//!
//! At least once: a delivery is marked done only after its request succeeded, so a crash between
//! the send and the record sends it again once the lease expires (SQLite: at the next start).

use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use bytes::Bytes;
use tokio::sync::{Notify, mpsc, watch};
use tokio::task::JoinSet;

use super::gate::{Gates, Permit};
use super::{LogContext, Sender};
use crate::actions::{Incoming, RenderedRequest};
use crate::clock::{now_ms, rfc3339_ms};
use crate::config::Config;
use crate::metrics::{DeliveryOutcome, Metrics};
use crate::policy::{Decision, Outcome};
use crate::store::{AttemptRecord, Claimed, NextState, Recorded, Store};
use crate::template::RenderContext;

mod queue;

use queue::{Waiting, queue_cap};

/// Deliveries claimed per store round trip at most.
const CLAIM_BATCH: usize = 256;
/// Attempts recorded per transaction at most.
const RECORD_BATCH: usize = 512;

/// Where finished attempts go to be written in batches.
type RecordTx = mpsc::UnboundedSender<Recorded>;

#[derive(Debug, Clone)]
pub struct WorkerOptions {
    /// Requests in flight across all destinations.
    pub max_in_flight: usize,
    /// How often to look for due work when nothing wakes the worker.
    pub poll: Duration,
    /// How long a claim lasts. `None`: twice the longest destination timeout plus 5 s, so a send
    /// always ends inside its lease, and a dead instance's claims come back soon after.
    pub lease: Option<Duration>,
    /// How long sends in flight may finish after a stop.
    pub grace: Duration,
    /// Names this worker's leases.
    pub owner: String,
}

impl Default for WorkerOptions {
    fn default() -> Self {
        Self {
            max_in_flight: 64,
            poll: Duration::from_millis(200),
            lease: None,
            grace: Duration::from_secs(10),
            owner: format!("{}-{}", std::process::id(), uuid::Uuid::now_v7().simple()),
        }
    }
}

pub struct Worker {
    pub store: Arc<dyn Store>,
    pub config: Arc<ArcSwap<Config>>,
    pub sender: Sender,
    pub wake: Arc<Notify>,
    pub options: WorkerOptions,
    pub metrics: Arc<Metrics>,
}

/// Twice the longest destination timeout plus 5 s.
fn lease_for(config: &Config) -> Duration {
    let longest = config.destinations.values().map(|d| d.timeout).max().unwrap_or(Duration::from_secs(10));
    longest * 2 + Duration::from_secs(5)
}

impl Worker {
    /// Runs until `stop` turns true, then lets sends in flight finish within the grace period.
    pub async fn run(self, mut stop: watch::Receiver<bool>) {
        let gates = Gates::default();
        let mut tasks = JoinSet::new();
        let mut waiting = Waiting::default();
        let (record_tx, record_rx) = mpsc::unbounded_channel();
        let recorder = tokio::spawn(record_loop(record_rx, Arc::clone(&self.store), Arc::clone(&self.wake)));
        // A claim is a write transaction: after a send finishes, wait until a worthwhile number of
        // slots is free rather than claiming one delivery at a time.
        let claim_min = (self.options.max_in_flight / 4).max(1);
        let mut woken = true;
        loop {
            if *stop.borrow() {
                break;
            }
            let config = self.config.load_full();
            let lease = self.options.lease.unwrap_or_else(|| lease_for(&config));
            let mut next_token = self.start_waiting(&config, &gates, &mut waiting, &mut tasks, &record_tx);
            let room =
                self.options.max_in_flight.saturating_sub(tasks.len() + waiting.total).min(CLAIM_BATCH);
            let mut full_batch = false;
            // Destinations whose queue is full are left out of the claim: then it names the others
            // (none left: no claim). With none full it takes any destination's work, including
            // deliveries for destinations a reload removed (they are then marked dead).
            let full = |name: &String| {
                waiting.queues.get(name).is_some_and(|q| {
                    config.destinations.get(name).is_some_and(|d| q.len() >= queue_cap(d.limits, lease))
                })
            };
            let any_full = config.destinations.keys().any(full);
            let only: Vec<String> = if any_full {
                config.destinations.keys().filter(|n| !full(n)).cloned().collect()
            } else {
                Vec::new()
            };
            if room > 0 && (woken || room >= claim_min || tasks.is_empty()) && (!any_full || !only.is_empty())
            {
                match self.store.claim(now_ms(), room, lease, &self.options.owner, &only).await {
                    Ok(batch) => {
                        full_batch = batch.len() == room;
                        for d in batch {
                            if config.destinations.contains_key(&d.destination) {
                                waiting.push(d);
                            } else {
                                let reason =
                                    format!("destination `{}` is no longer in the rules", d.destination);
                                tracing::error!(event_id = %d.event_id, rule = %d.rule, destination = %d.destination,
                                    "delivery dead: {reason}");
                                self.metrics.attempt(&d.destination, DeliveryOutcome::Dead, None);
                                unsent(&record_tx, &d, reason);
                            }
                        }
                        next_token =
                            self.start_waiting(&config, &gates, &mut waiting, &mut tasks, &record_tx);
                    }
                    Err(e) => {
                        tracing::error!("cannot claim deliveries: {e}");
                        tokio::time::sleep(Duration::from_secs(1)).await;
                    }
                }
            }
            if full_batch && tasks.len() + waiting.total < self.options.max_in_flight {
                continue;
            }
            let nap = next_token.map_or(self.options.poll, |t| t.min(self.options.poll));
            woken = tokio::select! {
                () = self.wake.notified() => true,
                () = tokio::time::sleep(nap) => true,
                Some(_) = tasks.join_next(), if !tasks.is_empty() => false,
                _ = stop.changed() => true,
            };
        }
        // Claimed but never started: hand them back now rather than when their lease runs out.
        let unstarted = waiting.drain_ids();
        if !unstarted.is_empty()
            && let Err(e) = self.store.release(&unstarted).await
        {
            tracing::warn!(deliveries = unstarted.len(), "cannot release unstarted deliveries: {e}");
        }
        let in_flight = tasks.len();
        if in_flight > 0 {
            tracing::info!(in_flight, "waiting up to {}s for sends in flight", self.options.grace.as_secs());
        }
        let drained =
            tokio::time::timeout(self.options.grace, async { while tasks.join_next().await.is_some() {} })
                .await;
        if drained.is_err() {
            tracing::warn!(
                abandoned = tasks.len(),
                "sends still in flight after the grace period were stopped; they stay stored and will be retried"
            );
            tasks.abort_all();
        }
        // Every attempt that finished is written before the worker returns.
        drop(record_tx);
        let _ = recorder.await;
    }

    /// Starts every waiting delivery its destination's limits allow now; returns the shortest wait
    /// for a rate token, if any destination is waiting for one.
    fn start_waiting(
        &self,
        config: &Arc<Config>,
        gates: &Gates,
        waiting: &mut Waiting,
        tasks: &mut JoinSet<()>,
        record_tx: &RecordTx,
    ) -> Option<Duration> {
        let mut next_token: Option<Duration> = None;
        for (name, queue) in &mut waiting.queues {
            let Some(dest) = config.destinations.get(name) else {
                for d in queue.drain(..) {
                    self.metrics.attempt(name, DeliveryOutcome::Dead, None);
                    unsent(record_tx, &d, format!("destination `{name}` is no longer in the rules"));
                    waiting.total -= 1;
                }
                continue;
            };
            while !queue.is_empty() {
                match gates.try_enter(name, dest.limits) {
                    Ok(permit) => {
                        let Some(d) = queue.pop_front() else { break };
                        waiting.total -= 1;
                        let (store, sender) = (Arc::clone(&self.store), self.sender.clone());
                        let metrics = Arc::clone(&self.metrics);
                        tasks.spawn(attempt(
                            store,
                            sender,
                            Arc::clone(config),
                            d,
                            permit,
                            record_tx.clone(),
                            metrics,
                        ));
                    }
                    Err(wait) => {
                        next_token = Some(next_token.map_or(wait, |t| t.min(wait)));
                        break;
                    }
                }
            }
        }
        waiting.queues.retain(|_, q| !q.is_empty());
        next_token
    }
}

async fn attempt(
    store: Arc<dyn Store>,
    sender: Sender,
    config: Arc<Config>,
    d: Claimed,
    _permit: Permit,
    record_tx: RecordTx,
    metrics: Arc<Metrics>,
) {
    let Some(dest) = config.destinations.get(&d.destination) else { return };
    let request = match d.body.clone() {
        Some(body) => RenderedRequest { body, content_type: d.content_type.clone() },
        None => match rerender(&*store, &config, &d).await {
            Ok(r) => r,
            Err(reason) => {
                tracing::error!(event_id = %d.event_id, rule = %d.rule, destination = %d.destination, "delivery dead: {reason}");
                metrics.attempt(&d.destination, DeliveryOutcome::Dead, None);
                unsent(&record_tx, &d, reason);
                return;
            }
        },
    };
    let started = now_ms();
    let ctx = LogContext { event_id: &d.event_id, rule: &d.rule, delivery_id: d.id };
    let result = sender.send(dest, &request, &ctx).await;
    let attempts = d.attempts + 1;
    let age = Duration::from_millis(u64::try_from(now_ms() - d.series_started_at).unwrap_or(0));
    let decision = dest.retry.decide(attempts, age, &result.outcome, rand::random_range(-1.0..=1.0));
    let latency_ms = i64::try_from(result.latency.as_millis()).unwrap_or(i64::MAX);
    let counted = match decision {
        Decision::Delivered => DeliveryOutcome::Delivered,
        Decision::RetryIn(_) => DeliveryOutcome::Retried,
        Decision::Dead(_) => DeliveryOutcome::Dead,
    };
    metrics.attempt(&d.destination, counted, Some(result.latency));
    let (next, error) = match decision {
        Decision::Delivered => {
            tracing::info!(event_id = %d.event_id, rule = %d.rule, destination = %d.destination, delivery_id = d.id,
                attempt = attempts, latency_ms, "delivered");
            (NextState::Delivered, None)
        }
        Decision::RetryIn(wait) => {
            let reason = outcome_reason(&result.outcome);
            tracing::warn!(event_id = %d.event_id, rule = %d.rule, destination = %d.destination, delivery_id = d.id,
                attempt = attempts, retry_in_s = wait.as_secs_f64(), "attempt failed, will retry: {reason}");
            (
                NextState::Retry {
                    at: crate::route::hours_of(&config, &d.rule, d.action_index, &d.destination)
                        .next_open(now_ms() + i64::try_from(wait.as_millis()).unwrap_or(i64::MAX / 4)),
                },
                Some(reason),
            )
        }
        Decision::Dead(reason) => {
            tracing::error!(event_id = %d.event_id, rule = %d.rule, destination = %d.destination, delivery_id = d.id,
                attempt = attempts, "delivery dead: {reason}");
            (NextState::Dead, Some(reason))
        }
    };
    let record_row = AttemptRecord {
        attempted_at: started,
        status_code: result.status,
        latency_ms,
        error: error.clone(),
        response_excerpt: result.excerpt,
    };
    let _ = record_tx.send(Recorded { id: d.id, series: d.series, attempt: record_row, next, error });
}

fn outcome_reason(o: &Outcome) -> String {
    match o {
        Outcome::Retry { reason, .. } | Outcome::Dead { reason } => reason.clone(),
        Outcome::Delivered { status } => format!("HTTP {status}"),
    }
}

/// Records an attempt that never reached the network (unknown destination, failed template).
fn unsent(record_tx: &RecordTx, d: &Claimed, reason: String) {
    let attempt = AttemptRecord {
        attempted_at: now_ms(),
        status_code: None,
        latency_ms: 0,
        error: Some(reason.clone()),
        response_excerpt: None,
    };
    let _ = record_tx.send(Recorded {
        id: d.id,
        series: d.series,
        attempt,
        next: NextState::Dead,
        error: Some(reason),
    });
}

/// Writes finished attempts in batches: one transaction (one fsync) for everything that finished
/// while the previous batch was being written. Retries a failed write, since until it is written
/// the deliveries stay leased and would be sent again after the lease.
async fn record_loop(mut rx: mpsc::UnboundedReceiver<Recorded>, store: Arc<dyn Store>, wake: Arc<Notify>) {
    let mut batch = Vec::with_capacity(RECORD_BATCH);
    while rx.recv_many(&mut batch, RECORD_BATCH).await > 0 {
        let mut wait = Duration::from_millis(100);
        loop {
            match store.record(&batch).await {
                Ok(()) => break,
                Err(e) if wait < Duration::from_secs(5) => {
                    tracing::error!(attempts = batch.len(), "cannot record attempts, retrying: {e}");
                    tokio::time::sleep(wait).await;
                    wait *= 2;
                }
                Err(e) => {
                    tracing::error!(
                        attempts = batch.len(),
                        "cannot record attempts; their deliveries will be sent again after their lease: {e}"
                    );
                    break;
                }
            }
        }
        // A retry may be due sooner than the next poll.
        if batch.iter().any(|r| matches!(r.next, NextState::Retry { .. })) {
            wake.notify_one();
        }
        batch.clear();
    }
}

/// A delivery whose template failed when the event arrived is rendered again from the stored
/// event with the running rules: replaying it after fixing the template sends the fixed message.
async fn rerender(store: &dyn Store, config: &Config, d: &Claimed) -> Result<RenderedRequest, String> {
    let event = store
        .event(&d.event_id)
        .await
        .map_err(|e| format!("cannot load event: {e}"))?
        .ok_or_else(|| format!("event {} is no longer stored", d.event_id))?;
    let rule = config
        .rules
        .rules()
        .iter()
        .find(|r| r.name == d.rule)
        .ok_or_else(|| format!("rule `{}` is no longer in the rules", d.rule))?;
    let action = rule
        .actions
        .get(d.action_index)
        .filter(|a| a.destination == d.destination)
        .ok_or_else(|| format!("rule `{}` no longer has this action", d.rule))?;
    let body: serde_json::Value =
        serde_json::from_slice(&event.body).map_err(|e| format!("stored body: {e}"))?;
    let received_at = rfc3339_ms(event.received_at);
    let ctx = RenderContext::new(&event.event_type, &body, &event.source, &received_at);
    let raw: Bytes = event.body.clone();
    let incoming = Incoming { raw_body: &raw, content_type: event.content_type.as_deref(), ctx: &ctx };
    action.render(&config.templates, &incoming).map_err(|e| format!("template failed: {e}"))
}
