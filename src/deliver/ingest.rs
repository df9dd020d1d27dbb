//! Group commit: events accepted by concurrent requests are written in one transaction, so one
//! fsync acknowledges many events. A request is answered only after its transaction committed.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Notify, mpsc, oneshot};

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
        let (tx, rx) = mpsc::channel(QUEUE);
        let task = tokio::spawn(commit_loop(rx, store, wake));
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

async fn commit_loop(mut rx: mpsc::Receiver<Job>, store: Arc<dyn Store>, wake: Arc<Notify>) {
    let mut jobs = Vec::with_capacity(MAX_BATCH);
    while rx.recv_many(&mut jobs, MAX_BATCH).await > 0 {
        let (events, replies): (Vec<NewEvent>, Vec<_>) = jobs.drain(..).map(|j| (j.event, j.reply)).unzip();
        let has_work = events.iter().any(|e| !e.deliveries.is_empty());
        let started = std::time::Instant::now();
        match store.insert(&events, now_ms()).await {
            Ok(results) => {
                tracing::debug!(
                    events = events.len(),
                    elapsed_us = started.elapsed().as_micros(),
                    "committed"
                );
                for (reply, result) in replies.into_iter().zip(results) {
                    let _ = reply.send(Ok(result));
                }
                if has_work {
                    wake.notify_one();
                }
            }
            Err(e) => {
                let reason = describe(&e);
                tracing::error!(events = events.len(), "could not store events: {reason}");
                for reply in replies {
                    let _ = reply.send(Err(IngestError::Store(reason.clone())));
                }
            }
        }
    }
}

fn describe(e: &StoreError) -> String {
    e.to_string()
}
