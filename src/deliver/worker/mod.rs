//! The delivery loop: lease due deliveries from the store, pass them through the destination's
//! limits, send, and record each attempt with the delivery's next state.
//!
//! At least once: a delivery is marked done only after its request succeeded, so a crash between
//! the send and the record sends it again once the lease expires (SQLite: at the next start).

use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use tokio::sync::{Notify, mpsc, watch};
use tokio::task::JoinSet;

use super::Sender;
use super::gate::Gates;
use crate::clock::now_ms;
use crate::config::Config;
use crate::metrics::Metrics;
use crate::policy::Limits;
use crate::store::{Claimed, Lease, Store, Want, lease_until};

mod attempt;
mod claims;
mod facts;
mod leases;
mod queue;
mod record;

use attempt::attempt;
pub(crate) use attempt::stored_context;
use claims::Claims;
use queue::{Waiting, queue_cap};
use record::record_loop;

pub use facts::{AttemptFact, FactOutcome, FactTx};

/// Deliveries claimed per store round trip at most.
const CLAIM_BATCH: usize = 256;
/// Attempts recorded per transaction at most.
const RECORD_BATCH: usize = 512;

/// Where finished attempts go to be written in batches.
type RecordTx = mpsc::UnboundedSender<facts::Finished>;

/// What an attempt hands its results to: the recorder, and the claims (a delivery the store
/// deferred, waiting for its thread's opener, is forgotten without a record).
#[derive(Clone)]
struct Outbox {
    record_tx: RecordTx,
    claims: Claims,
}

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
    /// Where to tell what each recorded attempt showed (hookroute's own events); `None`: nowhere.
    pub facts: Option<FactTx>,
}

impl Default for WorkerOptions {
    fn default() -> Self {
        Self {
            max_in_flight: 64,
            poll: Duration::from_millis(200),
            lease: None,
            grace: Duration::from_secs(10),
            owner: format!("{}-{}", std::process::id(), uuid::Uuid::now_v7().simple()),
            facts: None,
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
        let claims = Claims::default();
        let mut tasks = JoinSet::new();
        let mut waiting = Waiting::default();
        let (record_tx, record_rx) = mpsc::unbounded_channel();
        let recorder = tokio::spawn(record_loop(
            record_rx,
            Arc::clone(&self.store),
            Arc::clone(&self.wake),
            claims.clone(),
            Arc::clone(&self.metrics),
            self.options.facts.clone(),
        ));
        let fixed_lease = self.options.lease;
        // Renewals go on through the grace period: sends finishing then still hold their leases.
        let (renew_stop, renew_stop_rx) = watch::channel(false);
        let renewer = tokio::spawn(leases::renew_loop(
            Arc::clone(&self.store),
            claims.clone(),
            Arc::clone(&self.config),
            move |c: &Config| fixed_lease.unwrap_or_else(|| lease_for(c)),
            renew_stop_rx,
        ));
        // A claim is a write transaction: after a send finishes, wait until a worthwhile number of
        // slots is free rather than claiming one delivery at a time.
        let claim_min = (self.options.max_in_flight / 4).max(1);
        let mut woken = true;
        let mut held_version = String::new();
        loop {
            if *stop.borrow() {
                break;
            }
            let config = self.config.load_full();
            if config.version != held_version {
                self.hold_missing(&config).await;
                held_version.clone_from(&config.version);
            }
            let lease = self.options.lease.unwrap_or_else(|| lease_for(&config));
            let mut next_token =
                self.start_waiting(&config, &gates, &claims, &mut waiting, &mut tasks, &record_tx).await;
            let room = self.options.max_in_flight.saturating_sub(claims.len()).min(CLAIM_BATCH);
            let wants = wants(&config, &claims, room, lease);
            let mut full_batch = false;
            if !wants.is_empty() && (woken || room >= claim_min || tasks.is_empty()) {
                let now = now_ms();
                match self.store.claim(now, lease, &self.options.owner, &wants).await {
                    Ok(batch) => {
                        full_batch = !batch.is_empty() && batch.len() == room;
                        let fleet_wait = self.fleet_token_wait(&config, &batch);
                        for d in batch {
                            claims.add(&d, lease_until(now, lease));
                            waiting.push(d);
                        }
                        next_token = self
                            .start_waiting(&config, &gates, &claims, &mut waiting, &mut tasks, &record_tx)
                            .await;
                        next_token = min_wait(next_token, fleet_wait);
                    }
                    Err(e) => {
                        tracing::error!("cannot claim deliveries: {e}");
                        tokio::time::sleep(Duration::from_secs(1)).await;
                    }
                }
            }
            if full_batch && claims.len() < self.options.max_in_flight {
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
        self.release(&claims, waiting.drain()).await;
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
        let _ = renew_stop.send(true);
        let _ = renewer.await;
    }

    /// Holds queued deliveries of destinations the running rules do not have, and resumes held
    /// ones whose destination is back (at start and after each reload).
    async fn hold_missing(&self, config: &Config) {
        let known: Vec<String> = config.destinations.keys().cloned().collect();
        match self.store.hold(&known, &config.version, now_ms()).await {
            Ok(h) if h.held > 0 || h.resumed > 0 => tracing::warn!(
                version = %config.version,
                held = h.held,
                resumed = h.resumed,
                "deliveries of destinations missing from the rules are held; those whose destination is back resume"
            ),
            Ok(_) => {}
            Err(e) => tracing::error!("cannot hold deliveries of removed destinations: {e}"),
        }
    }

    /// Gives leases back unattempted and forgets them.
    async fn release(&self, claims: &Claims, unstarted: Vec<Claimed>) {
        if unstarted.is_empty() {
            return;
        }
        let leases: Vec<Lease> = unstarted.iter().map(Claimed::lease).collect();
        if let Err(e) = self.store.release(&leases).await {
            tracing::warn!(deliveries = leases.len(), "cannot release unstarted deliveries: {e}");
        }
        claims.remove(leases.iter().map(|l| l.id));
    }

    /// Starts every waiting delivery its destination's limits allow now; returns the shortest wait
    /// for a rate token, if any destination is waiting for one. Deliveries of a destination a
    /// reload removed are released (the store then holds them); those whose lease was lost are
    /// dropped unsent.
    async fn start_waiting(
        &self,
        config: &Arc<Config>,
        gates: &Gates,
        claims: &Claims,
        waiting: &mut Waiting,
        tasks: &mut JoinSet<()>,
        record_tx: &RecordTx,
    ) -> Option<Duration> {
        let mut next_token: Option<Duration> = None;
        let mut orphaned = Vec::new();
        for (name, queue) in &mut waiting.queues {
            let Some(dest) = config.destinations.get(name) else {
                waiting.total -= queue.len();
                orphaned.extend(queue.drain(..));
                continue;
            };
            let limits = self.local_limits(dest.limits);
            while let Some(front) = queue.front() {
                if claims.take_lost(front.id, now_ms()) {
                    tracing::warn!(delivery_id = front.id, destination = %name, "lease lost before sending; not sent");
                    queue.pop_front();
                    waiting.total -= 1;
                    continue;
                }
                match gates.try_enter(name, limits) {
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
                            Outbox { record_tx: record_tx.clone(), claims: claims.clone() },
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
        self.release(claims, orphaned).await;
        next_token
    }

    /// On a store that spends rate tokens at claim time (PostgreSQL), a destination that just got
    /// deliveries likely has more due: claim again when its next token is earned, not at the next
    /// poll, or a rate above one claim per poll could not be reached.
    fn fleet_token_wait(&self, config: &Config, batch: &[Claimed]) -> Option<Duration> {
        if !self.store.fleet_limits() {
            return None;
        }
        batch
            .iter()
            .filter_map(|d| config.destinations.get(&d.destination).and_then(|dest| dest.limits.rate))
            .map(|r| r.per_token().mul_f64(r.burst()))
            .min()
    }

    /// The limits this process applies itself: all of them on SQLite; on a store that holds rates
    /// for the fleet (PostgreSQL) the claim already spent a rate token, so only concurrency.
    fn local_limits(&self, limits: Limits) -> Limits {
        if self.store.fleet_limits() { Limits { rate: None, ..limits } } else { limits }
    }
}

fn min_wait(a: Option<Duration>, b: Option<Duration>) -> Option<Duration> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// What to ask the next claim for: per destination, what fits its short queue (enough for its
/// concurrency, no more than its rate sends within half a lease) minus what this worker already
/// holds of it, and never more than `room` in all.
fn wants(config: &Config, claims: &Claims, room: usize, lease: Duration) -> Vec<Want> {
    if room == 0 {
        return Vec::new();
    }
    config
        .destinations
        .iter()
        .filter_map(|(name, d)| {
            let free = queue_cap(d.limits, lease).saturating_sub(claims.held_for(name)).min(room);
            (free > 0).then(|| Want { destination: name.clone(), room: free, limits: d.limits })
        })
        .collect()
}
