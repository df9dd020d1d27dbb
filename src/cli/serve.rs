//! `hookroute serve`: load the rules (refusing to start on any error), open the store, then serve,
//! reload and deliver until SIGTERM or SIGINT.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio::net::TcpListener;
use tokio::sync::{Notify, watch};

use crate::admin::{self, AdminState};
use crate::alerts::{OwnEventOptions, OwnEvents};
use crate::clock::now_ms;
use crate::config::{self, LoadError, watch::Reloader};
use crate::deliver::{Ingest, Sender, Worker, WorkerOptions};
use crate::metrics::Metrics;
use crate::server::{self, AppState};
use crate::store::{self, Store};

/// How often delivered events past their retention are pruned.
const PRUNE_EVERY: Duration = Duration::from_secs(3600);

pub struct ServeArgs<'a> {
    pub rules: &'a Path,
    pub listen: SocketAddr,
    pub store: &'a str,
    pub watch_file: bool,
    pub grace: Duration,
    pub admin_listen: Option<SocketAddr>,
    pub admin_token: Option<crate::secret::Secret>,
    /// Allow a non-loopback admin listener without any token.
    pub admin_allow_no_token: bool,
}

pub fn run(args: &ServeArgs<'_>) -> anyhow::Result<u8> {
    let loaded = match config::load_on_own_stack(args.rules) {
        Ok(loaded) => loaded,
        Err(LoadError::Invalid(diags)) => {
            eprint!("{diags}");
            eprintln!("refusing to start: {} error(s) in {}", diags.error_count(), args.rules.display());
            return Ok(1);
        }
        Err(e) => return Err(e.into()),
    };
    eprint!("{}", loaded.warnings);
    if let Some(addr) = args.admin_listen {
        let token = args.admin_token.is_some() || loaded.config.settings.admin_token.is_some();
        if !addr.ip().is_loopback() && !token && !args.admin_allow_no_token {
            eprintln!(
                "refusing to start: --admin-listen {addr} is reachable from other hosts and no admin token is \
                 set; give --admin-token-file, HOOKROUTE_ADMIN_TOKEN or settings.admin_token (or \
                 --admin-allow-no-token when something in front authenticates)"
            );
            return Ok(1);
        }
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(serve(args, loaded))?;
    Ok(0)
}

async fn serve(args: &ServeArgs<'_>, loaded: config::Loaded) -> anyhow::Result<()> {
    // Before the store is opened: a second serve must not even take back the first one's leases.
    let _lock = store::lock_for_serving(args.store).context("refusing to start")?;
    let store = super::open_store(args.store).await?;
    // One process owns a SQLite file: leases left by a process that died are stale.
    let released = store.release_stale_leases().await?;
    if released > 0 {
        tracing::warn!(released, "took back deliveries left leased by a previous run; they will be retried");
    }
    let listener =
        server::listen(args.listen).with_context(|| format!("cannot listen on {}", args.listen))?;
    let admin_listener = match args.admin_listen {
        Some(addr) => Some(TcpListener::bind(addr).await.with_context(|| {
            format!("cannot listen on {addr} for the admin API (--admin-listen off disables it)")
        })?),
        None => None,
    };
    let metrics = Arc::new(Metrics::new());
    let version = loaded.config.version.clone();
    let rule_count = loaded.config.rules.len();
    let reloader = Reloader::new(args.rules.to_owned(), loaded);
    let (stop_tx, stop_rx) = watch::channel(false);
    let reload_task = tokio::spawn(Arc::clone(&reloader).run(stop_rx.clone(), args.watch_file));

    let wake = Arc::new(Notify::new());
    let (facts_tx, facts_rx) = tokio::sync::mpsc::unbounded_channel();
    let (ingest, committer) =
        Ingest::start_observed(Arc::clone(&store), Arc::clone(&wake), Some(facts_tx.clone()));
    let worker = Worker {
        store: Arc::clone(&store),
        config: reloader.current(),
        sender: Sender::new().context("cannot build the HTTP client")?,
        wake,
        options: WorkerOptions { grace: args.grace, facts: Some(facts_tx), ..WorkerOptions::default() },
        metrics: Arc::clone(&metrics),
    };
    let worker_task = tokio::spawn(worker.run(stop_rx.clone()));
    // hookroute's own events; stopped before the committer is awaited, since it holds an Ingest.
    let (own_stop_tx, own_stop_rx) = watch::channel(false);
    let own_events = OwnEvents {
        store: Arc::clone(&store),
        config: reloader.current(),
        reloader: Arc::clone(&reloader),
        ingest: ingest.clone(),
        metrics: Arc::clone(&metrics),
        options: OwnEventOptions::default(),
    };
    let own_task = tokio::spawn(own_events.run(facts_rx, own_stop_rx));
    let prune_task = tokio::spawn(prune_loop(Arc::clone(&store), reloader.current(), stop_rx.clone()));
    let state = AppState::new(reloader.current(), ingest, Arc::clone(&store), Arc::clone(&metrics));
    let admin_task = admin_listener.map(|l| {
        let admin = AdminState {
            reloader: Arc::clone(&reloader),
            store: Arc::clone(&store),
            metrics: Arc::clone(&metrics),
            token: args.admin_token.clone().map(Arc::new),
            token_required: !args.admin_allow_no_token
                && args.admin_listen.is_some_and(|a| !a.ip().is_loopback()),
            started_at: now_ms() as f64 / 1000.0,
        };
        if let Ok(addr) = l.local_addr() {
            tracing::info!(admin = %addr, "admin API, dashboard and /metrics at http://{addr}/");
        }
        let mut stop = stop_rx.clone();
        tokio::spawn(admin::run(l, admin, async move {
            let _ = stop.changed().await;
        }))
    });
    tracing::info!(
        listen = %listener.local_addr()?,
        rules = %args.rules.display(),
        store = %store::redact_url(args.store),
        version = %version,
        rule_count,
        "hookroute is serving"
    );
    server::run(listener, state, stop_signal()).await?;
    let _ = own_stop_tx.send(true);
    let _ = own_task.await;
    // The server has answered every request it accepted; the committer drains what it holds.
    let _ = committer.await;
    let _ = stop_tx.send(true);
    let _ = worker_task.await;
    let _ = reload_task.await;
    let _ = prune_task.await;
    if let Some(task) = admin_task {
        let _ = task.await;
    }
    let counts = store.counts().await?;
    tracing::info!(
        pending = counts.pending + counts.failed,
        dead = counts.dead,
        "hookroute stopped; deliveries not yet done stay stored and resume at the next start"
    );
    Ok(())
}

async fn prune_loop(
    store: Arc<dyn Store>,
    config: Arc<arc_swap::ArcSwap<config::Config>>,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        let retention = config.load().settings.retention;
        let now = now_ms();
        let before = now - i64::try_from(retention.as_millis()).unwrap_or(i64::MAX / 2);
        match store.prune(before, false, now).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(events = n, "pruned delivered events past their retention"),
            Err(e) => tracing::error!("pruning failed: {e}"),
        }
        prune_state(&*store, config.load().settings.state_retention, now).await;
        tokio::select! {
            () = tokio::time::sleep(PRUNE_EVERY) => {}
            _ = stop.changed() => return,
        }
    }
}

/// Forgets entity keys whose last event is older than `settings.state_retention`, and threads
/// whose last message is.
async fn prune_state(store: &dyn Store, retention: std::time::Duration, now: i64) {
    let before = now - i64::try_from(retention.as_millis()).unwrap_or(i64::MAX / 2);
    match store.prune_state(before).await {
        Ok(0) => {}
        Ok(n) => tracing::info!(keys = n, "forgot entity keys past their state retention"),
        Err(e) => tracing::error!("pruning entity state failed: {e}"),
    }
    match store.prune_threads(before).await {
        Ok(0) => {}
        Ok(n) => tracing::info!(threads = n, "forgot threads without a message within the state retention"),
        Err(e) => tracing::error!("pruning threads failed: {e}"),
    }
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
        () = ctrl_c => tracing::info!("SIGINT received: no new requests; finishing the ones in flight"),
        () = term => tracing::info!("SIGTERM received: no new requests; finishing the ones in flight"),
    }
}
