//! The I/O of hookroute's own events: one task reads what the worker's attempts showed, the
//! reloader's outcomes and a ticker; asks the pure trackers what that means; asks the store
//! whether this instance makes the transition; and stores each event through the ingest path.

use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use bytes::Bytes;
use tokio::sync::{mpsc, watch};

use super::bursts::{Bursts, Dead, DeadReport};
use super::health::{Health, HealthStep};
use super::payload::{self, OwnEvent};
use super::stale::{QueueStep, Staleness};
use crate::clock::{now_ms, rfc3339_ms};
use crate::config::Config;
use crate::config::watch::{ReloadOutcome, Reloader};
use crate::deliver::{AttemptFact, FactOutcome, Ingest, IngestError};
use crate::metrics::Metrics;
use crate::metrics::own_events::NotEmitted;
use crate::route::{self, ParsedEvent};
use crate::rules::BUILTIN_SOURCE;
use crate::store::{DedupKey, Filter, Inserted, NewDelivery, NewEvent, Status, Store};

/// How long an own event's dedup key is kept (an episode's key names its start, so this only
/// bounds how long the same rejected file is one event).
const DEDUP_WINDOW_MS: i64 = 24 * 3600 * 1000;
/// Diagnostics carried by one `reload.rejected` at most (a file can have thousands).
const MAX_DIAGNOSTICS: usize = 50;
/// The episode subject of the queue.
const QUEUE_SUBJECT: &str = "queue.stale";

/// Timings of the emitter; the defaults are the documented behaviour, tests shorten them.
#[derive(Debug, Clone)]
pub struct OwnEventOptions {
    /// How often quiet failing destinations, pending summaries and the queue are looked at.
    pub tick: Duration,
    /// Dead deliveries of a destination are summarised per window of this length.
    pub summary_window: Duration,
}

impl Default for OwnEventOptions {
    fn default() -> Self {
        Self { tick: Duration::from_secs(1), summary_window: Duration::from_secs(60) }
    }
}

/// The emitter, wired to the running config, the store and the ingest path.
pub struct OwnEvents {
    pub store: Arc<dyn Store>,
    pub config: Arc<ArcSwap<Config>>,
    pub reloader: Arc<Reloader>,
    pub ingest: Ingest,
    pub metrics: Arc<Metrics>,
    pub options: OwnEventOptions,
}

fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX / 4)
}

fn failing_subject(destination: &str) -> String {
    format!("destination.failing:{destination}")
}

impl OwnEvents {
    /// Runs until `stop` turns true. `facts` is the receiving end of `WorkerOptions::facts`.
    pub async fn run(self, mut facts: mpsc::UnboundedReceiver<AttemptFact>, mut stop: watch::Receiver<bool>) {
        let mut health = Health::default();
        let mut bursts = Bursts::new(ms(self.options.summary_window));
        let mut queue = Staleness::default();
        let mut reloads = self.reloader.outcomes();
        let mut ticker = tokio::time::interval(self.options.tick);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        let (mut facts_open, mut reloads_open) = (true, true);
        let mut next_queue_look = 0;
        loop {
            tokio::select! {
                fact = facts.recv(), if facts_open => match fact {
                    Some(f) => self.fact(f, &mut health, &mut bursts).await,
                    None => facts_open = false,
                },
                changed = reloads.changed(), if reloads_open => match changed {
                    Ok(()) => {
                        let rejected = matches!(*reloads.borrow_and_update(), Some(ReloadOutcome::Rejected { .. }));
                        if rejected {
                            self.reload_rejected().await;
                        }
                    }
                    Err(_) => reloads_open = false,
                },
                _ = ticker.tick() => {
                    let now = now_ms();
                    let alerts = self.config.load().settings.alerts;
                    for step in health.due(now, ms(alerts.failing_after)) {
                        self.health_step(step, &mut health).await;
                    }
                    for report in bursts.due(now) {
                        self.report_dead(report, &mut bursts).await;
                    }
                    bursts.forget_quiet(now);
                    let config = self.config.load();
                    health.retain(|name| config.destinations.contains_key(name));
                    if now >= next_queue_look {
                        let age = ms(alerts.queue_age);
                        self.look_at_queue(&mut queue, age).await;
                        next_queue_look = now + (age / 4).clamp(1000, 30_000);
                    }
                }
                _ = stop.changed() => break,
            }
        }
    }

    async fn fact(&self, f: AttemptFact, health: &mut Health, bursts: &mut Bursts) {
        let config = self.config.load_full();
        let failing_after = ms(config.settings.alerts.failing_after);
        let error = match &f.outcome {
            FactOutcome::Delivered => None,
            FactOutcome::Failed { error } | FactOutcome::Dead { error } => {
                Some(config.redactor.redact(error))
            }
        };
        // A delivery that died before its request (a failed template) says nothing of its destination.
        if f.sent
            && let Some(step) = health.observe(&f.destination, f.at, error.as_deref(), failing_after)
        {
            self.health_step(step, health).await;
        }
        let FactOutcome::Dead { .. } = f.outcome else { return };
        if self.about_own_event(&config, &f).await {
            tracing::warn!(delivery_id = ?f.delivery_id, event_id = %f.event_id, rule = %f.rule,
                destination = %f.destination,
                "a delivery of hookroute's own event went dead; not reported as an event (it could loop)");
            self.metrics.own_events.not_emitted(NotEmitted::OwnDelivery);
            return;
        }
        let delivery_id = match f.delivery_id {
            Some(id) => id,
            None => self.dead_delivery_id(&f).await,
        };
        let dead = Dead {
            delivery_id,
            event_id: f.event_id,
            rule: f.rule,
            destination: f.destination,
            attempts: f.attempts,
            last_error: error.unwrap_or_default(),
            at: f.at,
        };
        if let Some(report) = bursts.dead(dead) {
            self.report_dead(report, bursts).await;
        }
    }

    /// Whether the delivery carried one of hookroute's own events: its rule names the built-in
    /// source (only such rules see its events), or, for a rule no longer in the config, the
    /// stored event says so.
    async fn about_own_event(&self, config: &Config, f: &AttemptFact) -> bool {
        if let Some(rule) = config.rules.rules().iter().find(|r| r.name == f.rule) {
            return rule.source.as_deref() == Some(BUILTIN_SOURCE);
        }
        matches!(self.store.event(&f.event_id).await, Ok(Some(e)) if e.source == BUILTIN_SOURCE)
    }

    /// The id of a delivery stored dead as its event arrived (0 when the store cannot say).
    async fn dead_delivery_id(&self, f: &AttemptFact) -> i64 {
        let filter = Filter {
            event_id: Some(f.event_id.clone()),
            rule: Some(f.rule.clone()),
            destination: Some(f.destination.clone()),
            status: Some(Status::Dead),
            limit: 10,
            ..Filter::default()
        };
        match self.store.list(filter).await {
            Ok(rows) => rows.iter().map(|r| r.id).min().unwrap_or(0),
            Err(e) => {
                tracing::warn!(event_id = %f.event_id, "cannot look up a delivery stored dead: {e}");
                0
            }
        }
    }

    async fn report_dead(&self, report: DeadReport, bursts: &mut Bursts) {
        let event = payload::delivery_dead(&report);
        if self.emit(event).await == Some(false) {
            bursts.put_back(report);
        }
    }

    async fn health_step(&self, step: HealthStep, health: &mut Health) {
        let now = now_ms();
        match step {
            HealthStep::Failing { destination, since, failed, last_error } => {
                match self.store.open_episode(&failing_subject(&destination), since, now).await {
                    Ok(Some(since)) => {
                        self.emit(payload::destination_failing(
                            &destination,
                            since,
                            failed,
                            &last_error,
                            now,
                        ))
                        .await;
                    }
                    Ok(None) => {
                        tracing::debug!(destination = %destination, "destination failing: already reported");
                        self.metrics.own_events.not_emitted(NotEmitted::Duplicate);
                    }
                    Err(e) => {
                        tracing::error!(destination = %destination, "cannot record that the destination is failing: {e}");
                        health.retry_later(&destination);
                    }
                }
            }
            HealthStep::Recovered { destination, at, failed } => {
                match self.store.close_episode(&failing_subject(&destination), at).await {
                    Ok(Some(since)) => {
                        self.emit(payload::destination_recovered(&destination, since, failed, at)).await;
                    }
                    Ok(None) => {}
                    Err(e) => {
                        tracing::error!(destination = %destination, "cannot record that the destination recovered: {e}");
                    }
                }
            }
        }
    }

    async fn reload_rejected(&self) {
        let Some(report) = self.reloader.last_report() else { return };
        if !matches!(report.outcome, "rejected" | "unreadable") {
            return;
        }
        let config = self.config.load_full();
        let diagnostics: Vec<String> =
            report.diagnostics.iter().take(MAX_DIAGNOSTICS).map(|d| config.redactor.redact(d)).collect();
        let path = self.reloader.path().display().to_string();
        self.emit(payload::reload_rejected(&report.version, &diagnostics, &path, now_ms())).await;
    }

    async fn look_at_queue(&self, queue: &mut Staleness, queue_age_ms: i64) {
        let now = now_ms();
        let oldest = match self.store.oldest_due(now).await {
            Ok(o) => o,
            Err(e) => {
                tracing::warn!("cannot look at the queue's oldest delivery: {e}");
                return;
            }
        };
        match queue.check(oldest, now, queue_age_ms) {
            Some(QueueStep::Open { destination, oldest_due }) => {
                match self.store.open_episode(QUEUE_SUBJECT, oldest_due, now).await {
                    Ok(Some(_)) => {
                        let depth = self.store.queue().await.map_or(0, |q| q.depth);
                        self.emit(payload::queue_stale(oldest_due, depth, &destination, now)).await;
                    }
                    Ok(None) => self.metrics.own_events.not_emitted(NotEmitted::Duplicate),
                    Err(e) => {
                        tracing::error!("cannot record that the queue is stale: {e}");
                        queue.forget();
                    }
                }
            }
            Some(QueueStep::Close) => {
                if let Err(e) = self.store.close_episode(QUEUE_SUBJECT, now).await {
                    tracing::warn!("cannot record that the queue is no longer stale: {e}");
                    queue.forget();
                }
            }
            None => {}
        }
    }

    /// Routes and stores the event like a received one (deliveries in the same transaction).
    /// `Some(true)`: stored; `Some(false)`: the store already had its key; `None`: not stored.
    async fn emit(&self, e: OwnEvent) -> Option<bool> {
        let mut wait = Duration::from_millis(500);
        for _ in 0..3 {
            match self.ingest.submit(self.new_event(&e)).await {
                Ok(Inserted::New) => {
                    tracing::info!(event_type = e.event_type, "hookroute event emitted");
                    self.metrics.own_events.emitted(e.event_type);
                    return Some(true);
                }
                Ok(Inserted::Duplicate(original)) => {
                    tracing::debug!(event_type = e.event_type, event_id = %original, "hookroute event already stored");
                    self.metrics.own_events.not_emitted(NotEmitted::Duplicate);
                    return Some(false);
                }
                Err(IngestError::Closed) => break,
                Err(err) => {
                    tracing::warn!(
                        event_type = e.event_type,
                        "cannot store hookroute's own event yet: {err}"
                    );
                    tokio::time::sleep(wait).await;
                    wait *= 2;
                }
            }
        }
        tracing::error!(event_type = e.event_type, "hookroute's own event was not stored");
        None
    }

    fn new_event(&self, e: &OwnEvent) -> NewEvent {
        let config = self.config.load_full();
        let id = uuid::Uuid::now_v7().to_string();
        let now = now_ms();
        let received_at = rfc3339_ms(now);
        let raw = Bytes::from(serde_json::to_vec(&e.body).unwrap_or_default());
        let content_type = "application/json";
        let event = ParsedEvent {
            source: BUILTIN_SOURCE,
            event_type: e.event_type,
            body: &e.body,
            raw_body: &raw,
            content_type: Some(content_type),
            received_at: &received_at,
            headers: None,
        };
        let planned = route::plan(&config, &event);
        let mut matched_rules: Vec<String> = planned.iter().map(|p| p.rule.to_owned()).collect();
        matched_rules.dedup();
        let deliveries = planned
            .into_iter()
            .map(|p| NewDelivery {
                rule: p.rule.to_owned(),
                action_index: p.action_index,
                destination: p.destination.to_owned(),
                due_at: p.due_at(now),
                waits: p.waits,
                request: p.request.map(|r| (r.body, r.content_type)).map_err(|err| {
                    tracing::error!(event_id = %id, rule = p.rule, destination = p.destination,
                        "template failed; the delivery is stored as dead: {err}");
                    format!("template failed: {err}")
                }),
            })
            .collect();
        NewEvent {
            id,
            source: BUILTIN_SOURCE.to_owned(),
            event_type: e.event_type.to_owned(),
            received_at: now,
            body: raw,
            content_type: Some(content_type.to_owned()),
            matched_rules,
            rules_version: config.version.clone(),
            dedup: Some(DedupKey { key: e.dedup_key.clone(), expires_at: now + DEDUP_WINDOW_MS }),
            deliveries,
            state: None,
        }
    }
}
