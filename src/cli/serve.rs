//! `hookroute serve`: load the rules (refusing to start on any error), then serve, reload and
//! deliver until SIGTERM or SIGINT.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::config::{self, LoadError, watch::Reloader};
use crate::deliver::{MemoryQueue, Sender};
use crate::server::{self, AppState};

/// Pending deliveries held in memory before new events are refused with 503.
const QUEUE_CAPACITY: usize = 10_000;
/// Requests in flight to destinations at once.
const SEND_CONCURRENCY: usize = 64;
/// How long deliveries in flight may finish after a stop signal.
const GRACE: Duration = Duration::from_secs(10);

pub fn run(rules: &Path, listen: SocketAddr, watch_file: bool) -> anyhow::Result<u8> {
    let loaded = match config::load_on_own_stack(rules) {
        Ok(loaded) => loaded,
        Err(LoadError::Invalid(diags)) => {
            eprint!("{diags}");
            eprintln!("refusing to start: {} error(s) in {}", diags.error_count(), rules.display());
            return Ok(1);
        }
        Err(e) => return Err(e.into()),
    };
    eprint!("{}", loaded.warnings);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(serve(rules, listen, loaded, watch_file))?;
    Ok(0)
}

async fn serve(rules: &Path, listen: SocketAddr, loaded: config::Loaded, watch_file: bool) -> anyhow::Result<()> {
    let listener = TcpListener::bind(listen)
        .await
        .with_context(|| format!("cannot listen on {listen}"))?;
    let version = loaded.config.version.clone();
    let rule_count = loaded.config.rules.len();
    let reloader = Reloader::new(rules.to_owned(), loaded);
    let (stop_tx, stop_rx) = watch::channel(false);
    let reload_task = tokio::spawn(Arc::clone(&reloader).run(stop_rx, watch_file));

    let sender = Sender::new().context("cannot build the HTTP client")?;
    let (queue, workers) = MemoryQueue::new(QUEUE_CAPACITY, SEND_CONCURRENCY, reloader.current(), sender);
    let workers = tokio::spawn(workers);
    let state = AppState {
        config: reloader.current(),
        queue: Arc::new(queue),
    };
    tracing::info!(
        listen = %listener.local_addr()?,
        rules = %rules.display(),
        version = %version,
        rule_count,
        "hookroute is serving"
    );
    server::run(listener, state, stop_signal()).await?;
    let _ = stop_tx.send(true);
    let _ = reload_task.await;
    tracing::info!("stopped accepting; waiting up to {}s for deliveries in flight", GRACE.as_secs());
    if tokio::time::timeout(GRACE, workers).await.is_err() {
        tracing::warn!("deliveries still in flight after the grace period were abandoned");
    }
    tracing::info!("hookroute stopped");
    Ok(())
}

async fn stop_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => tracing::info!("SIGINT received, shutting down"),
        () = term => tracing::info!("SIGTERM received, shutting down"),
    }
}
