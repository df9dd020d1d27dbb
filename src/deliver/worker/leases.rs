//! Keeps the leases of everything the worker holds alive: one renewal statement per tick for all
//! of them, every third of a lease, so no delivery waiting in memory for its rate limit or in
//! flight can expire and be claimed by another worker. A lease the store did not renew (it
//! expired during an outage and someone else claimed it) is marked lost: it is dropped, not sent.

use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use tokio::sync::watch;

use super::claims::Claims;
use crate::clock::now_ms;
use crate::config::Config;
use crate::store::{Store, lease_until};

/// Renews until `stop` turns true. `lease` gives the lease length for the running config.
pub(super) async fn renew_loop(
    store: Arc<dyn Store>,
    claims: Claims,
    config: Arc<ArcSwap<Config>>,
    lease: impl Fn(&Config) -> Duration + Send + 'static,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        let every = (lease(&config.load()) / 3).max(Duration::from_millis(100));
        tokio::select! {
            () = tokio::time::sleep(every) => {}
            _ = stop.changed() => return,
        }
        renew_once(&*store, &claims, lease(&config.load())).await;
    }
}

/// One statement: extends every held lease by a whole lease from now.
pub(super) async fn renew_once(store: &dyn Store, claims: &Claims, lease: Duration) {
    let leases = claims.leases();
    if leases.is_empty() {
        return;
    }
    let until = lease_until(now_ms(), lease);
    match store.renew(&leases, until).await {
        Ok(renewed) => {
            claims.renewed(&renewed, until);
            let renewed: std::collections::HashSet<i64> = renewed.into_iter().collect();
            let lost: Vec<i64> = leases.iter().map(|l| l.id).filter(|id| !renewed.contains(id)).collect();
            if !lost.is_empty() {
                // Recorded meanwhile (then forgotten anyway) or taken by another worker.
                claims.mark_lost(lost);
            }
        }
        Err(e) => tracing::warn!(leases = leases.len(), "cannot renew leases: {e}"),
    }
}
