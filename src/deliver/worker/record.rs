//! The recorder: finished attempts written in batches, fenced by their claims' tokens.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Notify, mpsc};

use super::RECORD_BATCH;
use super::claims::Claims;
use super::facts::{FactTx, Finished};
use crate::metrics::Metrics;
use crate::store::{NextState, Recorded, Store};

/// Writes finished attempts in batches: one transaction (one fsync) for everything that finished
/// while the previous batch was being written. Retries a failed write, since until it is written
/// the deliveries stay leased and would be sent again after the lease. A record the store refused
/// as stale (another worker holds the delivery now) is logged and counted.
pub(super) async fn record_loop(
    mut rx: mpsc::UnboundedReceiver<Finished>,
    store: Arc<dyn Store>,
    wake: Arc<Notify>,
    claims: Claims,
    metrics: Arc<Metrics>,
    facts_tx: Option<FactTx>,
) {
    let mut finished = Vec::with_capacity(RECORD_BATCH);
    let mut batch = Vec::with_capacity(RECORD_BATCH);
    let mut facts = Vec::with_capacity(RECORD_BATCH);
    while rx.recv_many(&mut finished, RECORD_BATCH).await > 0 {
        for f in finished.drain(..) {
            batch.push(f.record);
            facts.push(f.fact);
        }
        let mut wait = Duration::from_millis(100);
        loop {
            match store.record(&batch).await {
                Ok(stale) => {
                    report_stale(&batch, &stale, &metrics);
                    if let Some(tx) = &facts_tx {
                        for fact in
                            facts.drain(..).filter(|f| f.delivery_id.is_none_or(|id| !stale.contains(&id)))
                        {
                            let _ = tx.send(fact);
                        }
                    }
                    break;
                }
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
        claims.remove(batch.iter().map(|r| r.id));
        // A retry may be due sooner than the next poll.
        if batch.iter().any(|r| matches!(r.next, NextState::Retry { .. })) {
            wake.notify_one();
        }
        batch.clear();
        facts.clear();
    }
}

fn report_stale(batch: &[Recorded], stale: &[i64], metrics: &Metrics) {
    for r in batch.iter().filter(|r| stale.contains(&r.id)) {
        tracing::warn!(
            delivery_id = r.id,
            series = r.series,
            token = r.token,
            "stale write ignored: this worker's claim on the delivery was superseded (lease expired or replayed)"
        );
    }
    metrics.stale_writes(stale.len() as u64);
}
