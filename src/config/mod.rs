//! The rules file: loaded, `${ENV}`-expanded and compiled once into a [`Config`] snapshot that the
//! hot path reads without re-parsing or re-checking anything. Reloads build a whole new snapshot
//! and swap it in; a file that fails to compile never replaces the running one.

mod action;
mod action_types;
mod compile;
mod delivery;
mod destination;
mod destination_types;
pub mod diagnostic;
mod edge;
pub mod env;
mod hours;
pub mod node;
mod problems;
mod raw;
pub mod schema;
mod source;
pub mod watch;
mod when;

#[cfg(test)]
mod destination_types_tests;
#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub use compile::DEFAULT_MAX_BODY_BYTES;
pub use diagnostic::{Diagnostic, Diagnostics, Severity};
pub use edge::EdgeLimits;
pub use env::Redactor;
pub use source::builtin as builtin_source;

use crate::actions::Destination;
use crate::rules::RuleSet;
use crate::template::Templates;
use crate::verify::Verifier;

/// One compiled, validated version of the rules file.
#[derive(Debug)]
pub struct Config {
    /// 12 hex digits of a SHA-256 over the file's text and the values its `${…}` expanded to:
    /// names the version in logs and storage, and changes when a secret is rotated.
    pub version: String,
    pub sources: HashMap<String, Source>,
    pub destinations: HashMap<String, Destination>,
    pub rules: RuleSet,
    pub templates: Templates,
    pub settings: Settings,
    /// Masks secrets in text meant for people.
    pub redactor: Redactor,
    /// The `${file:…}` paths read (not their contents), so the reloader can notice a rotated
    /// secret file without a signal.
    pub secret_files: Vec<String>,
}

#[derive(Debug)]
pub struct Source {
    pub name: String,
    pub verifier: Verifier,
    /// `None`: every request is a new event.
    pub dedup: Option<Dedup>,
    pub event_type: EventTypeSpec,
    /// The entity key path (`key:`): events with the same key are compared by `becomes` and
    /// `changed`, and see the previous one as `prev`. `None`: every event stands alone.
    pub key: Option<crate::rules::Path>,
}

/// Where a source's requests carry their event type.
#[derive(Debug, Clone)]
pub enum EventTypeSpec {
    /// A JSONPath into the body (House Check, Stripe, Standard Webhooks: `$.type`).
    Path(crate::rules::Path),
    /// A header (Shopify: `X-Shopify-Topic`).
    Header(Vec<http::HeaderName>),
    /// GitHub: the `X-GitHub-Event` header, `.` and the body's string `action` when it has one.
    GitHub,
    /// Slack: `$.event.type`, else `$.type`.
    Slack,
}

/// How a source spots a request it has already accepted.
#[derive(Debug, Clone)]
pub struct Dedup {
    pub key: DedupKey,
    pub window: Duration,
}

#[derive(Debug, Clone)]
pub enum DedupKey {
    /// SHA-256 of the raw body (House Check signs no id or timestamp).
    Body,
    /// A request header, e.g. a delivery id; falls back to the body hash when absent.
    Header(http::HeaderName),
    /// A JSONPath into the body; falls back to the body hash when it selects nothing.
    Path(crate::rules::Path),
}

#[derive(Debug, Clone)]
pub struct Settings {
    pub max_body_bytes: usize,
    /// What a client of the `/hooks` listener may hold, and for how long (read at start).
    pub edge: EdgeLimits,
    pub delivery: DeliverySettings,
    /// Events whose deliveries all succeeded are deleted after this long.
    pub retention: Duration,
    /// An entity key's last event is forgotten this long after it (a key seen again later is new).
    pub state_retention: Duration,
    /// How long a client may take to send its body (slow-loris defence).
    pub read_timeout: Duration,
    /// Requests handled at once before new ones get 503 (load shedding).
    pub max_concurrent_requests: usize,
    /// Bearer token for the admin API's `/api` routes (the command line's wins).
    pub admin_token: Option<crate::secret::Secret>,
    /// Host names the admin listener answers to besides IP literals and `localhost` (DNS
    /// rebinding defence), e.g. `hookroute.internal`.
    pub admin_allowed_hosts: Vec<String>,
    /// When hookroute's own events fire (`settings.alerts`, issue 16).
    pub alerts: AlertSettings,
}

/// `settings.alerts`: the thresholds of hookroute's own events.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AlertSettings {
    /// A destination whose attempts have all failed for this long is `hookroute.destination.failing`.
    pub failing_after: Duration,
    /// A queue whose oldest pending delivery is older than this is `hookroute.queue.stale`.
    pub queue_age: Duration,
}

impl AlertSettings {
    pub const DEFAULT_FAILING_AFTER: Duration = Duration::from_secs(5 * 60);
    pub const DEFAULT_QUEUE_AGE: Duration = Duration::from_secs(15 * 60);
}

impl Default for AlertSettings {
    fn default() -> Self {
        Self { failing_after: Self::DEFAULT_FAILING_AFTER, queue_age: Self::DEFAULT_QUEUE_AGE }
    }
}

#[derive(Debug, Clone)]
pub struct DeliverySettings {
    pub timeout: Duration,
    pub retry: crate::policy::RetryPolicy,
    pub concurrency: usize,
}

/// Why a rules file could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("cannot read rules file {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("{n} error(s) in the rules file:\n{d}", n = .0.error_count(), d = .0)]
    Invalid(Diagnostics),
}

/// A compiled config with the warnings found on the way.
pub struct Loaded {
    pub config: Config,
    pub warnings: Diagnostics,
    /// The exact text compiled, so a watcher can tell a real change from a touch.
    pub text: String,
}

/// Compiles rules-file text; `file` names it in diagnostics.
pub fn compile_text(text: &str, file: &str) -> Result<(Config, Diagnostics), Diagnostics> {
    compile::compile(text, file, &|name| std::env::var(name).ok())
}

/// Compiles with an explicit environment (tests, dry runs against another environment).
pub fn compile_text_with_env(
    text: &str,
    file: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<(Config, Diagnostics), Diagnostics> {
    compile::compile(text, file, lookup)
}

/// Reads and compiles the rules file. Blocking: call it from a plain thread or `spawn_blocking`.
pub fn load(path: &Path) -> Result<Loaded, LoadError> {
    let text =
        std::fs::read_to_string(path).map_err(|source| LoadError::Read { path: path.to_owned(), source })?;
    let (config, warnings) = compile_text(&text, &path.display().to_string()).map_err(LoadError::Invalid)?;
    Ok(Loaded { config, warnings, text })
}

/// Runs `f` on a thread with a known, generous stack, so deep YAML or JSONPath input can never
/// overflow a small async worker stack.
fn on_own_stack(
    path: &Path,
    f: impl FnOnce() -> Result<Loaded, LoadError> + Send + 'static,
) -> Result<Loaded, LoadError> {
    let worker =
        std::thread::Builder::new().name("config-compile".into()).stack_size(16 * 1024 * 1024).spawn(f);
    match worker {
        Ok(handle) => handle.join().unwrap_or_else(|_| {
            Err(LoadError::Invalid(Diagnostics {
                file: path.display().to_string(),
                items: vec![Diagnostic::error(node::Loc::default(), "", "the compiler crashed on this file")],
            }))
        }),
        Err(source) => Err(LoadError::Read { path: path.to_owned(), source }),
    }
}

/// [`load`] on its own stack.
pub fn load_on_own_stack(path: &Path) -> Result<Loaded, LoadError> {
    let owned = path.to_owned();
    on_own_stack(path, move || load(&owned))
}

/// Compiles text posted to the admin API (a draft to try), on its own stack, sandboxed: every
/// `${VAR}` and `${file:…}` is a placeholder, so the draft reads neither the server's environment
/// nor its files, and nothing it compiles to (rendered bodies, diagnostics) can show them.
pub fn compile_posted_on_own_stack(path: &Path, text: String) -> Result<Loaded, LoadError> {
    let file = path.display().to_string();
    on_own_stack(path, move || {
        let (config, warnings) =
            compile::compile_in(&text, &file, env::Env::Sandbox).map_err(LoadError::Invalid)?;
        Ok(Loaded { config, warnings, text })
    })
}

/// Compiles text already read from `path`, on its own stack.
pub fn compile_on_own_stack(path: &Path, text: String) -> Result<Loaded, LoadError> {
    let file = path.display().to_string();
    on_own_stack(path, move || {
        let (config, warnings) = compile_text(&text, &file).map_err(LoadError::Invalid)?;
        Ok(Loaded { config, warnings, text })
    })
}
