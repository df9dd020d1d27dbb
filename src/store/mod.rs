//! Durable state: events, their deliveries and every attempt. Only this module touches the database.
//!
//! The [`Store`] trait is what the server, the workers and the CLI use; `sqlite` is the embedded
//! implementation. Times are unix milliseconds, passed in by callers so tests and replays control
//! the clock.

mod entity;
mod episodes;
mod inspect;
mod keyed_sql;
mod nodelay;
pub mod overview;
#[cfg(test)]
mod overview_tests;
mod postgres;
mod redact;
mod rows;
mod serve_lock;
mod sqlite;
mod sqlite_entity;
#[cfg(test)]
pub(crate) mod test_database;
#[cfg(test)]
mod tests;
mod threads;
mod types;

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

pub use entity::{EntityState, Routed, StatefulRoute};
pub use postgres::PostgresStore;
pub use redact::redact_url;
pub use rows::lease_until;
pub use serve_lock::{ServeLock, lock_for_serving};
pub use sqlite::SqliteStore;
pub use threads::{ThreadId, ThreadPlace, ThreadRow};
pub use types::*;

/// Why the store failed. The HTTP layer answers 503: the sender keeps the event and retries.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// sqlx's message already holds its cause: no `source`, so `{:#}` does not print it twice.
    #[error("database error: {0}")]
    Database(sqlx::Error),
    #[error("`{0}` does not exist; only `hookroute serve` creates a store")]
    Missing(String),
    #[error("migration failed: {0}")]
    Migration(String),
    /// Holds the URL already redacted (see [`StoreError::bad_url`]), for `Debug`; callers name the
    /// URL in their context (`cannot open the store URL`), so the message does not repeat it.
    #[error("unsupported store URL: expected sqlite://PATH or postgres://USER@HOST:PORT/DB")]
    BadUrl(String),
    #[error("{0}")]
    NotFound(String),
    /// The request conflicts with the state of the data (replaying a delivered delivery without
    /// `force`).
    #[error("{0}")]
    Conflict(String),
    /// Another process serves this SQLite file (or its lock file cannot be taken).
    #[error("{0}")]
    Locked(String),
}

/// `text` as a text column can hold it on both stores: PostgreSQL refuses NUL in `TEXT`, so each
/// is replaced by U+FFFD (a destination's answer, or an error quoting it, is recorded, never lost).
pub fn storable_text(text: &str) -> std::borrow::Cow<'_, str> {
    if text.contains('\0') { text.replace('\0', "\u{fffd}").into() } else { text.into() }
}

/// [`storable_text`] of an optional owned value.
pub(crate) fn storable(text: Option<&String>) -> Option<String> {
    text.map(|t| storable_text(t).into_owned())
}

impl StoreError {
    /// A `BadUrl` that shows the URL without its password.
    pub fn bad_url(url: &str) -> Self {
        StoreError::BadUrl(redact_url(url))
    }
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        Self::Database(e)
    }
}

pub type StoreResult<T> = Result<T, StoreError>;
pub type StoreFuture<'a, T> = Pin<Box<dyn Future<Output = StoreResult<T>> + Send + 'a>>;

pub trait Store: Send + Sync + 'static {
    /// Stores a batch of events with their deliveries in one transaction (group commit).
    fn insert(&self, batch: &[NewEvent], now: i64) -> StoreFuture<'_, Vec<Inserted>>;
    /// Leases due deliveries for `lease`, oldest due first, at most `room` of each destination
    /// wanted (each found through an index, however many deliveries others have waiting). Each
    /// claim bumps the delivery's token. A store shared by a fleet (PostgreSQL) also holds each
    /// destination's rate and concurrency for the whole fleet here.
    fn claim(&self, now: i64, lease: Duration, owner: &str, wants: &[Want]) -> StoreFuture<'_, Vec<Claimed>>;
    /// Records attempts and moves each delivery on, releasing its lease, in one transaction. Only
    /// records whose delivery still has the same series and token apply; the others (stale: the
    /// lease expired and someone claimed it again, or a replay started a new series) change
    /// nothing and their ids are returned.
    fn record(&self, batch: &[Recorded]) -> StoreFuture<'_, Vec<i64>>;
    /// Gives leased deliveries back unattempted (a worker stopping with work it had not started);
    /// a lease whose token is no longer current is left alone.
    fn release(&self, leases: &[Lease]) -> StoreFuture<'_, ()>;
    /// Extends the leases still held (same token) until `until`, in one statement; returns the ids
    /// renewed (a missing id: the lease was lost and the delivery must not be sent).
    fn renew(&self, leases: &[Lease], until: i64) -> StoreFuture<'_, Vec<i64>>;
    /// Holds queued deliveries whose destination is not in `known` (status `held`, with the reason
    /// naming `version`) and queues again held ones whose destination is back.
    fn hold(&self, known: &[String], version: &str, now: i64) -> StoreFuture<'_, Held>;
    /// Whether `claim` holds rate and concurrency limits for every process sharing the store.
    fn fleet_limits(&self) -> bool {
        false
    }
    /// At startup: takes back leases a previous process can no longer hold. SQLite (one process
    /// owns the file) drops them all; PostgreSQL leaves them to expire, since other instances live.
    fn release_stale_leases(&self) -> StoreFuture<'_, u64>;
    /// Whether the database answers (for `/readyz`).
    fn ping(&self) -> StoreFuture<'_, ()>;
    fn list(&self, filter: Filter) -> StoreFuture<'_, Vec<DeliveryRow>>;
    /// Events with their delivery counts (admin API).
    fn events(&self, filter: EventFilter) -> StoreFuture<'_, Vec<EventSummary>>;
    /// Deliveries not yet done (`/metrics`).
    fn queue(&self) -> StoreFuture<'_, QueueStats>;
    /// Attempts since `since` per destination, the latest failure since `errors_since`, and what
    /// waits or died, for every destination that has deliveries.
    fn destination_stats(&self, since: i64, errors_since: i64) -> StoreFuture<'_, Vec<DestinationStats>>;
    /// Re-queues deliveries as a new attempt series; returns how many. Without `force`, deliveries
    /// already `delivered` are left alone (a receiver would get them twice), and naming one by id
    /// is a [`StoreError::Conflict`] that replays nothing.
    fn replay(&self, selector: ReplaySelector, force: bool, now: i64) -> StoreFuture<'_, u64>;
    fn event(&self, id: &str) -> StoreFuture<'_, Option<StoredEvent>>;
    fn counts(&self) -> StoreFuture<'_, Counts>;
    /// Deletes events received before `before` whose deliveries are all delivered (and, with
    /// `include_dead`, dead ones too), and expired dedup keys. Returns events deleted.
    fn prune(&self, before: i64, include_dead: bool, now: i64) -> StoreFuture<'_, u64>;
    /// Forgets entity keys whose last event was stored before `before` (`settings.state_retention`):
    /// a key seen again afterwards has no previous event. Returns keys forgotten.
    fn prune_state(&self, before: i64) -> StoreFuture<'_, u64>;

    // --- The dashboard at a glance (issue 16; SQL in overview.rs) ---
    /// Events received since `since`, counted per source and per `bucket_ms` from `since`.
    fn event_rate(&self, since: i64, bucket_ms: i64) -> StoreFuture<'_, Vec<overview::SourceBucket>>;
    /// Attempts made since `since`, counted per outcome and per `bucket_ms` from `since`.
    fn outcome_rate(&self, since: i64, bucket_ms: i64) -> StoreFuture<'_, Vec<overview::OutcomeBucket>>;
    /// Each destination's attempts since `since`: success rate, p50/p95 latency, failing or not.
    fn destination_glance(&self, since: i64) -> StoreFuture<'_, Vec<overview::DestinationGlance>>;
    /// How many events the filter selects (its `before` and `limit` are ignored).
    fn count_events(&self, filter: EventFilter) -> StoreFuture<'_, i64>;
    // Operator events (issue 16): episodes opened and closed by one statement each, so that in a
    // fleet exactly one instance reports a transition.
    /// Opens `subject`'s episode (trouble since `since`) unless one is open; `Some(since)` when
    /// this call opened it.
    fn open_episode(&self, subject: &str, since: i64, now: i64) -> StoreFuture<'_, Option<i64>>;
    /// Closes `subject`'s open episode; `Some(since)` (as it was opened) when this call closed it.
    fn close_episode(&self, subject: &str, now: i64) -> StoreFuture<'_, Option<i64>>;
    /// The destination and due time of the delivery due the longest (by `now`) and not yet sent.
    fn oldest_due(&self, now: i64) -> StoreFuture<'_, Option<(String, i64)>>;
    // Threads (issue 15, one conversation per entity): statements in threads.rs, `thread_methods!`.
    /// Places a claimed delivery in its conversation, in one transaction: the first delivery of a
    /// thread opens it ([`ThreadPlace::Opener`]); one of an open thread replies to its reference;
    /// one whose thread another delivery is still opening is deferred (lease given back, due again
    /// later, woken when the opener is recorded). An opener that ended without a reference (dead,
    /// or gone) hands the thread to this delivery.
    fn thread_place(&self, thread: &ThreadId, lease: Lease, now: i64) -> StoreFuture<'_, ThreadPlace>;
    /// Records the reference of the message `delivery_id` opened the thread with, and wakes the
    /// replies waiting for it. `false`: another delivery opened it first (this one counts as a reply).
    fn thread_opened(
        &self,
        thread: &ThreadId,
        delivery_id: i64,
        reference: &str,
        now: i64,
    ) -> StoreFuture<'_, bool>;
    /// Records a reply delivered into the thread (the thread's retention runs from it).
    fn thread_replied(&self, thread: &ThreadId, delivery_id: i64, now: i64) -> StoreFuture<'_, ()>;
    /// The opener `delivery_id` will not open the thread (dead, or no reference in the answer):
    /// forgets the unopened thread, so the next message opens it, and wakes the waiting replies.
    fn thread_abandoned(&self, thread: &ThreadId, delivery_id: i64, now: i64) -> StoreFuture<'_, bool>;
    /// The threaded deliveries of an event with their threads (the dashboard's event page).
    fn threads_of_event(&self, event_id: &str) -> StoreFuture<'_, Vec<ThreadRow>>;
    /// Forgets threads without a message since `before` (`settings.state_retention`, like entity
    /// state); returns threads forgotten.
    fn prune_threads(&self, before: i64) -> StoreFuture<'_, u64>;
}

/// Opens the store a URL names: `sqlite://PATH` (created when missing) or `postgres://…`; both are
/// migrated on open.
pub async fn open(url: &str) -> StoreResult<std::sync::Arc<dyn Store>> {
    if url.starts_with("sqlite:") {
        Ok(std::sync::Arc::new(SqliteStore::open(url).await?))
    } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
        Ok(std::sync::Arc::new(PostgresStore::open(url).await?))
    } else {
        Err(StoreError::bad_url(url))
    }
}

/// Opens a store that must already exist (`deliveries`, `replay`, `prune`, `diff`): a SQLite file
/// that is missing is an error naming it, not a new empty store. Migrates it like [`open`].
pub async fn open_existing(url: &str) -> StoreResult<std::sync::Arc<dyn Store>> {
    if url.starts_with("sqlite:") {
        Ok(std::sync::Arc::new(SqliteStore::open_existing(url).await?))
    } else {
        open(url).await
    }
}
