//! The `/hooks` listener's own accept loop. `axum::serve` accepts without bound, gives a slow head
//! 30 s, a keep-alive connection for ever, and sleeps a whole second after `EMFILE`; the edge
//! faces strangers, so every connection here is registered under a cap (the [`registry`]), watched
//! for slow heads and idleness ([`conn`]), and a failing `accept` is counted, logged at most once
//! a second and backed off for a few milliseconds (never spun on), freeing a descriptor by closing
//! the oldest idle connection.

mod conn;
mod registry;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

use crate::config::EdgeLimits;
use crate::metrics::Metrics;
use registry::Registry;

/// How long the loop pauses after a failed accept (out of descriptors, memory, buffers).
const ACCEPT_BACKOFF: Duration = Duration::from_millis(5);
/// File descriptors kept for everything but `/hooks` connections: the store, the admin listener,
/// outbound deliveries, the rules watcher.
const RESERVED_FDS: usize = 128;

/// Serves `router` on `listener` within `limits` until `shutdown` resolves; then stops accepting,
/// lets each connection finish the request it is handling (closing idle ones) and returns when
/// all are closed.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: EdgeLimits,
    metrics: Arc<Metrics>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let registry = Registry::new(connection_cap(limits.max_connections), Arc::clone(&metrics));
    let (stop_tx, stop_rx) = watch::channel(false);
    let (done_tx, mut done_rx) = mpsc::channel::<()>(1);
    let mut errors = AcceptErrors::default();
    tokio::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            () = &mut shutdown => break,
            accepted = async {
                registry.room().await;
                listener.accept().await
            } => accepted,
        };
        match accepted {
            Ok((stream, _)) => {
                let entry = registry.admit();
                let _ = stream.set_nodelay(true);
                let task = conn::serve(
                    stream,
                    entry,
                    router.clone(),
                    limits.clone(),
                    Arc::clone(&metrics),
                    stop_rx.clone(),
                );
                let done = done_tx.clone();
                tokio::spawn(async move {
                    task.await;
                    drop(done);
                });
            }
            Err(e) if is_per_connection(&e) => {}
            Err(e) => {
                metrics.edge.accept_error();
                errors.log(&e);
                registry.evict_one();
                tokio::time::sleep(ACCEPT_BACKOFF).await;
            }
        }
    }
    drop(listener);
    let _ = stop_tx.send(true);
    drop(done_tx);
    let _ = done_rx.recv().await;
    Ok(())
}

/// Errors about one connection that went away before it was accepted: not the listener's.
fn is_per_connection(e: &std::io::Error) -> bool {
    use std::io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset, Interrupted};
    matches!(e.kind(), ConnectionAborted | ConnectionReset | ConnectionRefused | Interrupted)
}

/// Logs failed accepts at most once a second, with how many were not logged.
#[derive(Default)]
struct AcceptErrors {
    last: Option<Instant>,
    unlogged: u64,
}

impl AcceptErrors {
    fn log(&mut self, e: &std::io::Error) {
        let now = Instant::now();
        if self.last.is_some_and(|t| now.duration_since(t) < Duration::from_secs(1)) {
            self.unlogged += 1;
            return;
        }
        tracing::warn!(
            also_since_last_line = self.unlogged,
            "cannot accept connections on the hooks listener: {e}; closing the oldest idle one and retrying"
        );
        self.last = Some(now);
        self.unlogged = 0;
    }
}

/// `max_connections`, lowered to leave [`RESERVED_FDS`] of the process's open-file limit for
/// everything else, so the listener's connections can never use up the descriptors.
fn connection_cap(max_connections: usize) -> usize {
    let Some(soft) = open_file_limit() else { return max_connections };
    let reserve = RESERVED_FDS.max(soft / 8);
    let fit = soft.saturating_sub(reserve).max(16);
    if fit < max_connections {
        tracing::warn!(
            max_connections,
            open_file_limit = soft,
            using = fit,
            "settings.max_connections is more than the open-file limit allows; raise `ulimit -n` to serve more"
        );
    }
    fit.min(max_connections)
}

/// The soft `RLIMIT_NOFILE`, from `/proc/self/limits` (Linux; `None` elsewhere or unlimited).
fn open_file_limit() -> Option<usize> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line.trim_start_matches("Max open files").split_whitespace().next()?.parse().ok()
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_open_file_limit_is_read_on_linux() {
        if cfg!(target_os = "linux") {
            assert!(super::open_file_limit().is_some_and(|n| n > 0));
        }
    }
}
