//! Hot reload: the running [`Config`] lives in an `ArcSwap`; a reload compiles the file on its own
//! thread and swaps only a valid result in, atomically, so requests in flight keep the snapshot they
//! started with and none fails during a swap.
//!
//! Triggers: a directory watch (editors that save by rename and Kubernetes ConfigMap symlink swaps
//! never touch the file's own inode), `SIGHUP`, and a slow poll as a fallback for filesystems
//! without notifications. A deleted or broken file keeps the last good rules running.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use arc_swap::ArcSwap;
use sha2::{Digest, Sha256};
use tokio::sync::{mpsc, watch};

use super::{Config, LoadError, Loaded, compile_on_own_stack};

/// How often the fallback poll re-reads the file.
const POLL_EVERY: Duration = Duration::from_secs(1);
/// Events closer together than this become one reload (editors write in several steps).
const DEBOUNCE: Duration = Duration::from_millis(150);

/// The result of the latest reload attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReloadOutcome {
    /// The file compiled and replaced the running rules.
    Applied { version: String },
    /// The file is the same as the running one.
    Unchanged,
    /// The file could not be read or compiled; the old rules keep running.
    Rejected { reason: String },
}

/// The last reload attempt, as the admin API and `/metrics` show it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ReloadReport {
    /// Unix milliseconds.
    pub at: i64,
    pub trigger: String,
    /// `applied`, `unchanged`, `rejected` (the file has errors) or `unreadable`.
    pub outcome: &'static str,
    /// The version running after the attempt.
    pub version: String,
    /// Every problem, as `FILE:LINE:COL: message`.
    pub diagnostics: Vec<String>,
    pub duration_ms: f64,
}

/// Reload attempts by outcome since start (for `hookroute_config_reloads_total`).
#[derive(Debug, Default)]
struct OutcomeCounts {
    applied: AtomicU64,
    unchanged: AtomicU64,
    rejected: AtomicU64,
    unreadable: AtomicU64,
}

/// The running rules and how to replace them.
pub struct Reloader {
    path: PathBuf,
    current: Arc<ArcSwap<Config>>,
    running_digest: Mutex<[u8; 32]>,
    /// What the file held at the last attempt (applied or rejected), so an unchanged broken file
    /// is reported once, not on every poll.
    last_seen: Mutex<Option<[u8; 32]>>,
    /// Reload attempts that read and compiled the file (skipped unchanged files not counted).
    attempts: AtomicU64,
    outcomes: watch::Sender<Option<ReloadOutcome>>,
    counts: OutcomeCounts,
    last_report: Mutex<Option<ReloadReport>>,
    /// When the running rules were loaded (unix milliseconds).
    loaded_at: AtomicI64,
    /// What the running config's `${file:…}` secrets held when last looked at.
    secrets_seen: Mutex<[u8; 32]>,
    /// One reload at a time, whatever triggered it (file watch, poll, SIGHUP, the admin API): each
    /// reads the file only once the previous one is applied, so the newest file always wins.
    turn: tokio::sync::Mutex<()>,
}

impl Reloader {
    /// Starts from a config loaded at startup.
    pub fn new(path: PathBuf, first: Loaded) -> Arc<Self> {
        let digest = digest(&first.text);
        let secrets = secret_files_digest(&first.config.secret_files);
        Arc::new(Self {
            secrets_seen: Mutex::new(secrets),
            path,
            current: Arc::new(ArcSwap::from_pointee(first.config)),
            running_digest: Mutex::new(digest),
            last_seen: Mutex::new(Some(digest)),
            attempts: AtomicU64::new(0),
            outcomes: watch::channel(None).0,
            counts: OutcomeCounts::default(),
            last_report: Mutex::new(None),
            loaded_at: AtomicI64::new(crate::clock::now_ms()),
            turn: tokio::sync::Mutex::new(()),
        })
    }

    /// The live config, shared with the server and the deliverer.
    pub fn current(&self) -> Arc<ArcSwap<Config>> {
        Arc::clone(&self.current)
    }

    /// How many reloads were attempted since start.
    pub fn attempts(&self) -> u64 {
        self.attempts.load(Ordering::Relaxed)
    }

    /// The rules file this reloader reads.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The last reload attempt since start, if any.
    pub fn last_report(&self) -> Option<ReloadReport> {
        lock(&self.last_report).clone()
    }

    /// When the running rules were loaded (unix milliseconds).
    pub fn loaded_at(&self) -> i64 {
        self.loaded_at.load(Ordering::Relaxed)
    }

    /// Attempts by outcome label since start.
    pub fn outcome_counts(&self) -> [(&'static str, u64); 4] {
        let c = &self.counts;
        [
            ("applied", c.applied.load(Ordering::Relaxed)),
            ("unchanged", c.unchanged.load(Ordering::Relaxed)),
            ("rejected", c.rejected.load(Ordering::Relaxed)),
            ("unreadable", c.unreadable.load(Ordering::Relaxed)),
        ]
    }

    /// Watches reload outcomes (tests, admin endpoints).
    pub fn outcomes(&self) -> watch::Receiver<Option<ReloadOutcome>> {
        self.outcomes.subscribe()
    }

    /// Reads the file and, when it changed and compiles, swaps it in. Logs every problem once:
    /// a file that has not changed since the last attempt is only looked at again on `force`
    /// (SIGHUP, an explicit request). Reloads take turns: one that starts while another runs waits
    /// and then reads the file as it is then.
    pub async fn reload(self: &Arc<Self>, trigger: &str, force: bool) -> ReloadOutcome {
        let _turn = self.turn.lock().await;
        let read = tokio::fs::read_to_string(&self.path).await;
        let seen = match &read {
            Ok(text) => digest(text),
            Err(_) => [0; 32],
        };
        {
            let mut last = lock(&self.last_seen);
            if !force && *last == Some(seen) {
                return ReloadOutcome::Unchanged;
            }
            *last = Some(seen);
        }
        self.attempts.fetch_add(1, Ordering::Relaxed);
        let started = std::time::Instant::now();
        let (outcome, label, diagnostics) = match read {
            Err(source) => {
                let err = LoadError::Read { path: self.path.clone(), source };
                (self.reject(&err, trigger), "unreadable", vec![err.to_string()])
            }
            Ok(text) => {
                let path = self.path.clone();
                match tokio::task::spawn_blocking(move || compile_on_own_stack(&path, text)).await {
                    Ok(Ok(loaded)) => match self.apply(loaded, trigger) {
                        o @ ReloadOutcome::Applied { .. } => (o, "applied", Vec::new()),
                        o => (o, "unchanged", Vec::new()),
                    },
                    Ok(Err(err)) => {
                        let diagnostics = match &err {
                            LoadError::Invalid(d) => d.items.iter().map(|i| i.render(&d.file)).collect(),
                            LoadError::Read { .. } => vec![err.to_string()],
                        };
                        (self.reject(&err, trigger), "rejected", diagnostics)
                    }
                    Err(join) => {
                        let reason = format!("reload task failed: {join}");
                        (ReloadOutcome::Rejected { reason: reason.clone() }, "rejected", vec![reason])
                    }
                }
            }
        };
        let counter = match label {
            "applied" => &self.counts.applied,
            "unchanged" => &self.counts.unchanged,
            "rejected" => &self.counts.rejected,
            _ => &self.counts.unreadable,
        };
        counter.fetch_add(1, Ordering::Relaxed);
        *lock(&self.last_report) = Some(ReloadReport {
            at: crate::clock::now_ms(),
            trigger: trigger.to_owned(),
            outcome: label,
            version: self.current.load().version.clone(),
            diagnostics,
            duration_ms: started.elapsed().as_secs_f64() * 1000.0,
        });
        self.outcomes.send_replace(Some(outcome.clone()));
        outcome
    }

    fn apply(&self, loaded: Loaded, trigger: &str) -> ReloadOutcome {
        let new_digest = digest(&loaded.text);
        let mut running = lock(&self.running_digest);
        // The same text can expand differently (a rotated `${file:…}` secret or variable): the
        // version, a hash over the expanded values too, tells.
        if *running == new_digest && self.current.load().version == loaded.config.version {
            return ReloadOutcome::Unchanged;
        }
        for w in &loaded.warnings.items {
            tracing::warn!(trigger, "rules warning: {}", w.render(&loaded.warnings.file));
        }
        let version = loaded.config.version.clone();
        let rules = loaded.config.rules.len();
        *lock(&self.secrets_seen) = secret_files_digest(&loaded.config.secret_files);
        self.current.store(Arc::new(loaded.config));
        self.loaded_at.store(crate::clock::now_ms(), Ordering::Relaxed);
        *running = new_digest;
        tracing::info!(trigger, version = %version, rules, "rules reloaded");
        ReloadOutcome::Applied { version }
    }

    fn reject(&self, err: &LoadError, trigger: &str) -> ReloadOutcome {
        let running = self.current.load().version.clone();
        match err {
            LoadError::Invalid(diags) => {
                for d in &diags.items {
                    tracing::error!(trigger, "rules problem: {}", d.render(&diags.file));
                }
            }
            LoadError::Read { .. } => tracing::error!(trigger, "{err}"),
        }
        tracing::error!(trigger, running_version = %running, "reload rejected; the previous rules keep running");
        ReloadOutcome::Rejected { reason: err.to_string() }
    }

    /// Runs the SIGHUP trigger and, when `watch_file`, the watch and poll triggers, until
    /// `shutdown` fires.
    pub async fn run(self: Arc<Self>, mut shutdown: watch::Receiver<bool>, watch_file: bool) {
        let (tx, mut rx) = mpsc::channel::<&'static str>(8);
        let _watcher = if watch_file { start_watcher(&self.path, tx.clone()) } else { None };
        let mut poll = tokio::time::interval(POLL_EVERY);
        poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut hup = sighup();
        loop {
            let trigger = tokio::select! {
                _ = shutdown.changed() => return,
                Some(t) = rx.recv() => t,
                _ = poll.tick() => {
                    if !watch_file { continue; }
                    if self.file_changed().await {
                        "poll"
                    } else if self.secret_files_changed() {
                        "secret file change"
                    } else {
                        continue;
                    }
                }
                Some(()) = recv_hup(&mut hup) => "SIGHUP",
            };
            // Coalesce a burst of events into one reload.
            tokio::time::sleep(DEBOUNCE).await;
            while rx.try_recv().is_ok() {}
            // The rules text did not change when a secret file did: force the compile.
            let force = trigger == "SIGHUP" || trigger == "secret file change";
            let outcome = self.reload(trigger, force).await;
            if trigger == "SIGHUP" && outcome == ReloadOutcome::Unchanged {
                tracing::info!("SIGHUP: rules file unchanged");
            }
        }
    }

    /// Whether a `${file:…}` secret of the running config changed since it was last looked at
    /// (a rotated Kubernetes or Docker secret). Remembers what it saw, so a change is reported once.
    fn secret_files_changed(&self) -> bool {
        let files = self.current.load().secret_files.clone();
        if files.is_empty() {
            return false;
        }
        let now = secret_files_digest(&files);
        let mut seen = lock(&self.secrets_seen);
        let changed = *seen != now;
        *seen = now;
        changed
    }

    /// Whether the file differs from what the last attempt saw (cheap: one read, one hash).
    async fn file_changed(&self) -> bool {
        let seen = match tokio::fs::read(&self.path).await {
            Ok(bytes) => Sha256::digest(&bytes).into(),
            Err(_) => [0; 32],
        };
        *lock(&self.last_seen) != Some(seen)
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// One hash over what the secret files hold now (an unreadable file hashes as its error).
fn secret_files_digest(files: &[String]) -> [u8; 32] {
    let mut h = Sha256::new();
    for path in files {
        h.update(Sha256::digest(path.as_bytes()));
        match super::env::read_secret_file(path) {
            Ok(value) => h.update(Sha256::digest(value.as_bytes())),
            Err(e) => h.update(Sha256::digest(format!("error: {e}").as_bytes())),
        }
    }
    h.finalize().into()
}

fn digest(text: &str) -> [u8; 32] {
    Sha256::digest(text.as_bytes()).into()
}

type Watcher =
    notify_debouncer_full::Debouncer<notify::RecommendedWatcher, notify_debouncer_full::RecommendedCache>;

/// Watches the file's directory; any change there triggers a (hash-checked) reload.
fn start_watcher(path: &Path, tx: mpsc::Sender<&'static str>) -> Option<Watcher> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf);
    let name = path.file_name().map(std::ffi::OsStr::to_owned);
    let handler = move |result: notify_debouncer_full::DebounceEventResult| {
        // Reading the file (as a reload does) makes access events: they must not trigger reloads.
        // Nor may other files in the directory (a SQLite store beside the rules writes constantly).
        let changed = result.is_ok_and(|events| {
            events.iter().any(|e| {
                !matches!(e.kind, notify::EventKind::Access(_))
                    && e.paths.iter().any(|p| concerns_rules(p, name.as_deref()))
            })
        });
        if changed {
            let _ = tx.try_send("file change");
        }
    };
    match notify_debouncer_full::new_debouncer(Duration::from_millis(100), None, handler) {
        Ok(mut debouncer) => match debouncer.watch(&dir, notify::RecursiveMode::NonRecursive) {
            Ok(()) => Some(debouncer),
            Err(e) => {
                tracing::warn!(dir = %dir.display(), "cannot watch the rules directory ({e}); polling every second instead");
                None
            }
        },
        Err(e) => {
            tracing::warn!("file watching unavailable ({e}); polling every second instead");
            None
        }
    }
}

/// Whether a change to `changed` may change the rules file: the file itself (written, or renamed
/// into place by an editor), or Kubernetes' `..data` symlink swap of a ConfigMap directory.
fn concerns_rules(changed: &Path, rules_name: Option<&std::ffi::OsStr>) -> bool {
    match changed.file_name() {
        Some(n) => Some(n) == rules_name || n.to_string_lossy().starts_with(".."),
        None => true,
    }
}

#[cfg(unix)]
fn sighup() -> Option<tokio::signal::unix::Signal> {
    tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok()
}

#[cfg(unix)]
async fn recv_hup(sig: &mut Option<tokio::signal::unix::Signal>) -> Option<()> {
    match sig {
        Some(s) => s.recv().await,
        None => std::future::pending().await,
    }
}

#[cfg(not(unix))]
fn sighup() -> Option<()> {
    None
}

#[cfg(not(unix))]
async fn recv_hup(_: &mut Option<()>) -> Option<()> {
    std::future::pending().await
}

#[cfg(test)]
mod tests {
    use std::ffi::OsStr;
    use std::path::Path;

    #[test]
    fn only_the_rules_file_and_configmap_swaps_concern_the_watch() {
        let name = Some(OsStr::new("rules.yaml"));
        assert!(super::concerns_rules(Path::new("/etc/hr/rules.yaml"), name));
        assert!(super::concerns_rules(Path::new("/etc/hr/..data"), name));
        assert!(super::concerns_rules(Path::new("/etc/hr/..2026_11_29_10_00_00.123"), name));
        assert!(!super::concerns_rules(Path::new("/etc/hr/hookroute.db-wal"), name));
        assert!(!super::concerns_rules(Path::new("/etc/hr/other.yaml"), name));
        assert!(!super::concerns_rules(Path::new("/etc/hr/.rules.yaml.swp"), name));
    }
}
