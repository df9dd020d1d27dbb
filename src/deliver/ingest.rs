//! Group commit: events accepted by concurrent requests are written in one transaction, so one
//! fsync acknowledges many events. A request is answered only after its transaction committed.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Notify, mpsc, oneshot};

use super::worker::{AttemptFact, FactOutcome, FactTx};
use crate::clock::now_ms;
use crate::store::{Inserted, NewEvent, Store, StoreError};

/// Events per transaction at most.
const MAX_BATCH: usize = 256;
/// Events waiting for a commit before new requests are refused with 503.
const QUEUE: usize = 4096;
/// How long a request waits for room in the queue.
const ENQUEUE_WAIT: Duration = Duration::from_secs(2);

#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error("the store is not keeping up; try again shortly")]
    Busy,
    #[error("the event could not be stored: {0}")]
    Store(String),
    #[error("the service is shutting down")]
    Closed,
}

struct Job {
    event: NewEvent,
    reply: oneshot::Sender<Result<Inserted, IngestError>>,
}

/// The HTTP handler's handle on the committer.
#[derive(Clone)]
pub struct Ingest {
    tx: mpsc::Sender<Job>,
}

impl Ingest {
    /// Starts the committer. It ends when every `Ingest` handle is dropped and the queue is empty;
    /// `wake` is notified after each commit that created deliveries.
    pub fn start(store: Arc<dyn Store>, wake: Arc<Notify>) -> (Self, tokio::task::JoinHandle<()>) {
        Self::start_observed(store, wake, None)
    }

    /// [`Ingest::start`], telling `dead_at_birth` about each delivery stored dead because its
    /// template failed as the event arrived (hookroute's own events: `hookroute.delivery.dead`).
    pub fn start_observed(
        store: Arc<dyn Store>,
        wake: Arc<Notify>,
        dead_at_birth: Option<FactTx>,
    ) -> (Self, tokio::task::JoinHandle<()>) {
        let (tx, rx) = mpsc::channel(QUEUE);
        let task = tokio::spawn(commit_loop(rx, store, wake, dead_at_birth));
        (Self { tx }, task)
    }

    /// Stores the event (and its deliveries) durably, or says why not.
    pub async fn submit(&self, event: NewEvent) -> Result<Inserted, IngestError> {
        let (reply, answer) = oneshot::channel();
        match tokio::time::timeout(ENQUEUE_WAIT, self.tx.send(Job { event, reply })).await {
            Err(_) => return Err(IngestError::Busy),
            Ok(Err(_)) => return Err(IngestError::Closed),
            Ok(Ok(())) => {}
        }
        answer.await.unwrap_or(Err(IngestError::Closed))
    }
}

async fn commit_loop(
    mut rx: mpsc::Receiver<Job>,
    store: Arc<dyn Store>,
    wake: Arc<Notify>,
    dead_at_birth: Option<FactTx>,
) {
    let mut jobs = Vec::with_capacity(MAX_BATCH);
    while rx.recv_many(&mut jobs, MAX_BATCH).await > 0 {
        let (events, replies): (Vec<NewEvent>, Vec<_>) = jobs.drain(..).map(|j| (j.event, j.reply)).unzip();
        // An event about an entity key is routed inside the transaction: its deliveries are not
        // known here, so it may bring work too.
        let may_work = |e: &NewEvent| !e.deliveries.is_empty() || e.state.is_some();
        let has_work = events.iter().any(may_work);
        let started = std::time::Instant::now();
        let results = match store.insert(&events, now_ms()).await {
            Ok(results) => {
                tracing::debug!(
                    events = events.len(),
                    elapsed_us = started.elapsed().as_micros(),
                    "committed"
                );
                results.into_iter().map(Ok).collect()
            }
            Err(e) if events.len() > 1 => {
                tracing::warn!(
                    events = events.len(),
                    "a group commit failed; storing its events one by one: {e}"
                );
                one_by_one(&*store, &events).await
            }
            Err(e) => vec![Err(e)],
        };
        let mut stored_work = false;
        for ((reply, result), event) in replies.into_iter().zip(results).zip(&events) {
            let result = result.map_err(|e| {
                let reason = describe(&e);
                tracing::error!(event_id = %event.id, source = %event.source, "could not store the event: {reason}");
                IngestError::Store(reason)
            });
            stored_work |= result.is_ok() && may_work(event);
            if let (Some(tx), Ok(Inserted::New)) = (&dead_at_birth, &result) {
                report_dead_at_birth(tx, event);
            }
            let _ = reply.send(result);
        }
        if has_work && stored_work {
            wake.notify_one();
        }
    }
}

/// The deliveries of a newly stored event that were stored dead (their template failed).
fn report_dead_at_birth(tx: &FactTx, event: &NewEvent) {
    for d in &event.deliveries {
        if let Err(reason) = &d.request {
            let _ = tx.send(AttemptFact {
                delivery_id: None,
                event_id: event.id.clone(),
                rule: d.rule.clone(),
                destination: d.destination.clone(),
                attempts: 0,
                at: event.received_at,
                sent: false,
                outcome: FactOutcome::Dead { error: reason.clone() },
            });
        }
    }
}

/// Each event in its own transaction, after their group commit failed: one event the store
/// refuses (a value it cannot hold) must not fail the others it happened to share a batch with.
async fn one_by_one(store: &dyn Store, events: &[NewEvent]) -> Vec<Result<Inserted, StoreError>> {
    let mut results = Vec::with_capacity(events.len());
    for event in events {
        let result = store.insert(std::slice::from_ref(event), now_ms()).await;
        results.push(result.and_then(|mut r| {
            r.pop().ok_or_else(|| StoreError::NotFound("the store answered nothing for the event".into()))
        }));
    }
    results
}

fn describe(e: &StoreError) -> String {
    e.to_string()
}
