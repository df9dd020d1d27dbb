//! The delivery loop: lease due deliveries from the store, pass them through the destination's
//! limits, send, and record each attempt with the delivery's next state.
//!
//! At least once: a delivery is marked done only after its request succeeded, so a crash between
//! the send and the record sends it again once the lease expires (SQLite: at the next start).

use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use bytes::Bytes;
use tokio::sync::{Notify, watch};
use tokio::task::JoinSet;

use super::gate::{Gates, Permit};
use super::{Decision, LogContext, Sender};
use crate::actions::{Incoming, RenderedRequest};
use crate::config::Config;
use crate::store::{AttemptRecord, Claimed, NextState, Store, now_ms};
use crate::template::RenderContext;

/// Deliveries claimed per store round trip at most.
const CLAIM_BATCH: usize = 64;

#[derive(Debug, Clone)]
pub struct WorkerOptions {
    /// Requests in flight across all destinations.
    pub max_in_flight: usize,
    /// How often to look for due work when nothing wakes the worker.
    pub poll: Duration,
    /// How long a claim lasts; must exceed the longest destination timeout.
    pub lease: Duration,
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
            lease: Duration::from_secs(120),
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
}

impl Worker {
    /// Runs until `stop` turns true, then lets sends in flight finish within the grace period.
    pub async fn run(self, mut stop: watch::Receiver<bool>) {
        let gates = Gates::default();
        let mut tasks = JoinSet::new();
        loop {
            if *stop.borrow() {
                break;
            }
            let free = self.options.max_in_flight.saturating_sub(tasks.len()).min(CLAIM_BATCH);
            let mut full_batch = false;
            if free > 0 {
                let config = self.config.load_full();
                let blocked = gates.blocked(&|name| config.destinations.get(name).map(|d| d.limits));
                match self
                    .store
                    .claim(now_ms(), free, self.options.lease, &self.options.owner, &blocked)
                    .await
                {
                    Ok(batch) => {
                        full_batch = batch.len() == free;
                        for d in batch {
                            self.dispatch(d, &config, &gates, &mut tasks).await;
                        }
                    }
                    Err(e) => {
                        tracing::error!("cannot claim deliveries: {e}");
                        tokio::time::sleep(Duration::from_secs(1)).await;
                    }
                }
            }
            if full_batch && tasks.len() < self.options.max_in_flight {
                continue;
            }
            tokio::select! {
                () = self.wake.notified() => {}
                () = tokio::time::sleep(self.options.poll) => {}
                Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
                _ = stop.changed() => {}
            }
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
    }

    async fn dispatch(&self, d: Claimed, config: &Arc<Config>, gates: &Gates, tasks: &mut JoinSet<()>) {
        let Some(dest) = config.destinations.get(&d.destination) else {
            let reason = format!("destination `{}` is no longer in the rules", d.destination);
            tracing::error!(event_id = %d.event_id, rule = %d.rule, destination = %d.destination, "delivery dead: {reason}");
            record(&*self.store, &d, now_ms(), None, NextState::Dead, Some(reason)).await;
            return;
        };
        match gates.try_enter(&dest.name, dest.limits) {
            Err(wait) => {
                let at = now_ms() + i64::try_from(wait.as_millis()).unwrap_or(1000);
                if let Err(e) = self.store.defer(d.id, at).await {
                    tracing::error!(delivery_id = d.id, "cannot defer delivery: {e}");
                }
            }
            Ok(permit) => {
                let (store, sender, config) =
                    (Arc::clone(&self.store), self.sender.clone(), Arc::clone(config));
                tasks.spawn(attempt(store, sender, config, d, permit));
            }
        }
    }
}

async fn attempt(store: Arc<dyn Store>, sender: Sender, config: Arc<Config>, d: Claimed, _permit: Permit) {
    let Some(dest) = config.destinations.get(&d.destination) else { return };
    let request = match d.body.clone() {
        Some(body) => RenderedRequest { body, content_type: d.content_type.clone() },
        None => match rerender(&*store, &config, &d).await {
            Ok(r) => r,
            Err(reason) => {
                tracing::error!(event_id = %d.event_id, rule = %d.rule, destination = %d.destination, "delivery dead: {reason}");
                record(&*store, &d, now_ms(), None, NextState::Dead, Some(reason)).await;
                return;
            }
        },
    };
    let started = now_ms();
    let ctx = LogContext { event_id: &d.event_id, rule: &d.rule };
    let result = sender.send(dest, &request, &ctx).await;
    let attempts = d.attempts + 1;
    let age = Duration::from_millis(u64::try_from(now_ms() - d.series_started_at).unwrap_or(0));
    let decision = dest.retry.decide(attempts, age, &result.outcome, rand::random_range(-1.0..=1.0));
    let latency_ms = i64::try_from(result.latency.as_millis()).unwrap_or(i64::MAX);
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
                NextState::Retry { at: now_ms() + i64::try_from(wait.as_millis()).unwrap_or(i64::MAX / 4) },
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
    if let Err(e) = store.record(d.id, d.series, record_row, next, error).await {
        tracing::error!(
            delivery_id = d.id,
            "cannot record the attempt (it will be retried after its lease): {e}"
        );
    }
}

fn outcome_reason(o: &super::Outcome) -> String {
    match o {
        super::Outcome::Retry { reason, .. } | super::Outcome::Dead { reason } => reason.clone(),
        super::Outcome::Delivered { status } => format!("HTTP {status}"),
    }
}

/// Records an attempt that never reached the network (unknown destination, failed template).
async fn record(
    store: &dyn Store,
    d: &Claimed,
    at: i64,
    status: Option<u16>,
    next: NextState,
    error: Option<String>,
) {
    let row = AttemptRecord {
        attempted_at: at,
        status_code: status,
        latency_ms: 0,
        error: error.clone(),
        response_excerpt: None,
    };
    if let Err(e) = store.record(d.id, d.series, row, next, error).await {
        tracing::error!(delivery_id = d.id, "cannot record the attempt: {e}");
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

/// Unix milliseconds as RFC 3339.
pub fn rfc3339_ms(ms: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok())
        .unwrap_or_default()
}
