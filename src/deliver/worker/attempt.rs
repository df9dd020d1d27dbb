//! One attempt: render again if needed, send, decide what comes next, and hand the record to
//! the recorder (with the claim's token).

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;

use super::facts::{AttemptFact, FactOutcome, Finished as Done};
use super::{Outbox, RecordTx};
use crate::actions::{Incoming, RenderedRequest};
use crate::clock::{now_ms, rfc3339_ms};
use crate::config::Config;
use crate::deliver::gate::Permit;
use crate::deliver::threads::{self, Finished, PlaceError, Placement};
use crate::deliver::{LogContext, Sender};
use crate::metrics::{DeliveryOutcome, Metrics};
use crate::policy::{Decision, Outcome};
use crate::store::{AttemptRecord, Claimed, NextState, Recorded, Store, StoredEvent};
use crate::template::RenderContext;

pub(super) async fn attempt(
    store: Arc<dyn Store>,
    sender: Sender,
    config: Arc<Config>,
    d: Claimed,
    _permit: Permit,
    out: Outbox,
    metrics: Arc<Metrics>,
) {
    let record_tx = &out.record_tx;
    let Some(dest) = config.destinations.get(&d.destination) else { return };
    // Rendered before it is placed: a delivery that cannot be sent never opens its thread.
    let request = match d.body.clone() {
        Some(body) => RenderedRequest { body, content_type: d.content_type.clone(), notes: Vec::new() },
        None => match rerender(&*store, &config, &d).await {
            Ok(r) => r,
            Err(reason) => {
                dead_unsent(&metrics, record_tx, d, reason);
                return;
            }
        },
    };
    let placement = match threads::place(&*store, &config, dest, &d).await {
        Ok(Placement::Waits) => {
            // The store gave the lease back and made it due later: forget the claim.
            out.claims.remove([d.id]);
            return;
        }
        Ok(p) => p,
        Err(PlaceError::Dead(reason)) => {
            dead_unsent(&metrics, record_tx, d, reason);
            return;
        }
        Err(PlaceError::Store(reason)) => {
            tracing::warn!(event_id = %d.event_id, rule = %d.rule, destination = %d.destination, "will try again: {reason}");
            unsent_retry(record_tx, d, reason);
            return;
        }
    };
    let to_send = match threads::apply(&placement, dest, request.clone()) {
        Ok(r) => r,
        Err(reason) => {
            dead_unsent(&metrics, record_tx, d, reason);
            return;
        }
    };
    let started = now_ms();
    let ctx = LogContext { event_id: &d.event_id, rule: &d.rule, delivery_id: d.id, series: d.series };
    let result = sender.send(dest, &to_send, &ctx).await;
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
    let (next, error) = match &decision {
        Decision::Delivered => {
            tracing::info!(event_id = %d.event_id, rule = %d.rule, destination = %d.destination, delivery_id = d.id,
                attempt = attempts, latency_ms, "delivered");
            (NextState::Delivered, None)
        }
        Decision::RetryIn(wait) => {
            let wait = *wait;
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
            (NextState::Dead, Some(reason.clone()))
        }
    };
    let sent = Finished { decision: &decision, reference: result.reference.as_ref(), request: &request };
    threads::after_send(&*store, &sender, dest, &placement, sent, &ctx).await;
    let record_row = AttemptRecord {
        attempted_at: started,
        status_code: result.status,
        latency_ms,
        error: error.clone(),
        response_excerpt: result.excerpt,
    };
    let (id, series, token) = (d.id, d.series, d.token);
    let fact = fact(d, attempts, started, &next, error.as_deref(), true);
    let record = Recorded { id, series, token, attempt: record_row, next, error };
    let _ = record_tx.send(Done { record, fact });
}

/// What the attempt showed, taking the claim's names (the claim is done with).
fn fact(
    d: Claimed,
    attempts: u32,
    at: i64,
    next: &NextState,
    error: Option<&str>,
    sent: bool,
) -> AttemptFact {
    let error = error.unwrap_or_default().to_owned();
    AttemptFact {
        delivery_id: Some(d.id),
        event_id: d.event_id,
        rule: d.rule,
        destination: d.destination,
        attempts,
        at,
        sent,
        outcome: match next {
            NextState::Delivered => FactOutcome::Delivered,
            NextState::Retry { .. } => FactOutcome::Failed { error },
            NextState::Dead => FactOutcome::Dead { error },
        },
    }
}

fn outcome_reason(o: &Outcome) -> String {
    match o {
        Outcome::Retry { reason, .. } | Outcome::Dead { reason } => reason.clone(),
        Outcome::Delivered { status } => format!("HTTP {status}"),
    }
}

/// Logs, counts and records a delivery that is dead before it was sent.
fn dead_unsent(metrics: &Metrics, record_tx: &RecordTx, d: Claimed, reason: String) {
    tracing::error!(event_id = %d.event_id, rule = %d.rule, destination = %d.destination, "delivery dead: {reason}");
    metrics.attempt(&d.destination, DeliveryOutcome::Dead, None);
    unsent(record_tx, d, reason);
}

/// Records an attempt that never reached the network because the store did not answer: due again
/// in a few seconds.
fn unsent_retry(record_tx: &RecordTx, d: Claimed, reason: String) {
    let next = NextState::Retry { at: now_ms() + 5_000 };
    unsent_then(record_tx, d, reason, next);
}

/// Records an attempt that never reached the network (unknown destination, failed template).
pub(super) fn unsent(record_tx: &RecordTx, d: Claimed, reason: String) {
    unsent_then(record_tx, d, reason, NextState::Dead);
}

/// An attempt that asked nobody: not counted against the destination (`sent: false`).
fn unsent_then(record_tx: &RecordTx, d: Claimed, reason: String, next: NextState) {
    let at = now_ms();
    let attempt = AttemptRecord {
        attempted_at: at,
        status_code: None,
        latency_ms: 0,
        error: Some(reason.clone()),
        response_excerpt: None,
    };
    let (id, series, token, attempts) = (d.id, d.series, d.token, d.attempts + 1);
    let fact = fact(d, attempts, at, &next, Some(&reason), false);
    let record = Recorded { id, series, token, attempt, next, error: Some(reason) };
    let _ = record_tx.send(Done { record, fact });
}

/// A delivery whose template failed when the event arrived is rendered again from the stored
/// event with the running rules: replaying it after fixing the template sends the fixed message.
async fn rerender(store: &dyn Store, config: &Config, d: &Claimed) -> Result<RenderedRequest, String> {
    let (event, ctx) = stored_context(store, d).await?;
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
    let raw: Bytes = event.body.clone();
    let incoming = Incoming { raw_body: &raw, content_type: event.content_type.as_deref(), ctx: &ctx };
    action.render(&config.templates, &incoming).map_err(|e| format!("template failed: {e}"))
}

/// The delivery's stored event and the context its templates render in.
pub(crate) async fn stored_context(
    store: &dyn Store,
    d: &Claimed,
) -> Result<(StoredEvent, RenderContext), String> {
    let event = store
        .event(&d.event_id)
        .await
        .map_err(|e| format!("cannot load event: {e}"))?
        .ok_or_else(|| format!("event {} is no longer stored", d.event_id))?;
    let body = crate::json::decode_received(&event.body, event.content_type.as_deref())
        .map_err(|e| format!("stored body: {e}"))?;
    let received_at = rfc3339_ms(event.received_at);
    let ctx = RenderContext::new(&event.event_type, &body, &event.source, &received_at);
    Ok((event, ctx))
}
