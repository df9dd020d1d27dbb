//! The plain values the [`Store`](super::Store) takes and gives: events to insert, claims,
//! attempt records, and the rows the inspection API and CLI read. No I/O here.

use bytes::Bytes;
use serde::Serialize;

use super::EntityState;

/// An accepted event and the deliveries its rules planned.
#[derive(Debug, Clone)]
pub struct NewEvent {
    pub id: String,
    pub source: String,
    pub event_type: String,
    pub received_at: i64,
    pub body: Bytes,
    pub content_type: Option<String>,
    pub matched_rules: Vec<String>,
    pub rules_version: String,
    /// `None`: no deduplication for this source.
    pub dedup: Option<DedupKey>,
    pub deliveries: Vec<NewDelivery>,
    /// `Some`: the event is about an entity key; its rules are routed in the ingest transaction
    /// (replacing `matched_rules` and `deliveries`) and it becomes the key's previous event.
    pub state: Option<EntityState>,
}

#[derive(Debug, Clone)]
pub struct DedupKey {
    pub key: String,
    pub expires_at: i64,
}

#[derive(Debug, Clone)]
pub struct NewDelivery {
    pub rule: String,
    pub action_index: usize,
    pub destination: String,
    /// `Err(reason)`: the template failed; the delivery is stored dead with the reason.
    pub request: Result<(Bytes, Option<String>), String>,
    /// When it is first due (unix ms; `None`: at once). A rule's `after:`.
    pub due_at: Option<i64>,
    /// Its rule has `still:`: a later event of the same key may cancel it until it is due.
    pub waits: bool,
}

/// What became of one event of a batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Inserted {
    New,
    /// Seen within the dedup window: the original event's id. Nothing was stored.
    Duplicate(String),
}

/// A delivery a worker has leased.
#[derive(Debug, Clone)]
pub struct Claimed {
    pub id: i64,
    pub event_id: String,
    pub rule: String,
    pub action_index: usize,
    pub destination: String,
    pub body: Option<Bytes>,
    pub content_type: Option<String>,
    pub series: i64,
    /// Attempts already made in this series.
    pub attempts: u32,
    pub series_started_at: i64,
    /// This claim's fencing token: every later write about the delivery must carry it.
    pub token: i64,
}

impl Claimed {
    /// The lease this claim holds (for renewals and releases).
    pub fn lease(&self) -> Lease {
        Lease { id: self.id, token: self.token }
    }
}

/// A lease as a worker holds it: the delivery and the token of its claim.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Lease {
    pub id: i64,
    pub token: i64,
}

/// What a worker asks one claim for, per destination: at most `room` deliveries of `destination`.
/// A store that enforces limits for a whole fleet (PostgreSQL) also applies `limits` there.
#[derive(Debug, Clone)]
pub struct Want {
    pub destination: String,
    pub room: usize,
    pub limits: crate::policy::Limits,
}

/// What a reload did to deliveries of destinations the rules lost or regained.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Held {
    /// Queued deliveries now `held` (their destination is not in the rules).
    pub held: u64,
    /// `held` deliveries queued again (their destination is back).
    pub resumed: u64,
}

/// One attempt's record.
#[derive(Debug, Clone)]
pub struct AttemptRecord {
    pub attempted_at: i64,
    pub status_code: Option<u16>,
    pub latency_ms: i64,
    pub error: Option<String>,
    pub response_excerpt: Option<String>,
}

/// An attempt with the delivery's next state, as written by `Store::record`.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub id: i64,
    pub series: i64,
    /// The claim's token: a record with a token that is no longer current changes nothing.
    pub token: i64,
    pub attempt: AttemptRecord,
    pub next: NextState,
    /// The delivery's `last_error` from now on.
    pub error: Option<String>,
}

/// Where a delivery goes after an attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NextState {
    Delivered,
    Retry { at: i64 },
    Dead,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Pending,
    Failed,
    Delivered,
    Dead,
    /// Waiting for its destination to be in the rules again (a reload removed or renamed it).
    Held,
    /// A waiting delivery (`after:`) whose `still:` a later event broke: never sent.
    Cancelled,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pending => "pending",
            Status::Failed => "failed",
            Status::Delivered => "delivered",
            Status::Dead => "dead",
            Status::Held => "held",
            Status::Cancelled => "cancelled",
        }
    }
}

/// A delivery as listed by `hookroute deliveries`.
#[derive(Debug, Clone, Serialize)]
pub struct DeliveryRow {
    pub id: i64,
    pub event_id: String,
    pub rule: String,
    pub action_index: i64,
    pub destination: String,
    pub status: String,
    pub series: i64,
    pub attempts: i64,
    pub next_attempt_at: i64,
    pub last_error: Option<String>,
    pub updated_at: i64,
    pub history: Vec<AttemptRow>,
}

#[derive(Debug, Clone, Serialize)]
pub struct AttemptRow {
    pub series: i64,
    pub attempted_at: i64,
    pub status_code: Option<i64>,
    pub latency_ms: i64,
    pub outcome: String,
    pub error: Option<String>,
    pub response_excerpt: Option<String>,
}

/// Which deliveries to list, newest first. `since`/`until` bound `updated_at`; `before` is a
/// delivery id (the next page starts below it).
#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub status: Option<Status>,
    pub event_id: Option<String>,
    pub destination: Option<String>,
    pub rule: Option<String>,
    pub since: Option<i64>,
    pub until: Option<i64>,
    pub before: Option<i64>,
    pub limit: i64,
}

/// Which events to list, newest first. `status`: has a delivery in that status; `before`: an event
/// id (the next page starts below it); `limit` is capped at 500.
#[derive(Debug, Clone, Default)]
pub struct EventFilter {
    pub source: Option<String>,
    pub event_type: Option<String>,
    pub rule: Option<String>,
    pub status: Option<Status>,
    pub since: Option<i64>,
    pub until: Option<i64>,
    pub before: Option<String>,
    pub limit: i64,
}

/// An event as listed, with its deliveries counted by status.
#[derive(Debug, Clone, Serialize)]
pub struct EventSummary {
    pub id: String,
    pub source: String,
    pub event_type: String,
    pub received_at: i64,
    pub matched_rules: Vec<String>,
    pub rules_version: String,
    pub deliveries: Counts,
}

/// Deliveries not yet done.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QueueStats {
    /// Pending and failed (waiting for a retry).
    pub depth: i64,
    /// When the oldest of them started its current attempt series (unix ms).
    pub oldest_started_at: Option<i64>,
}

/// How a destination has been doing (attempts in a recent window, what waits now).
#[derive(Debug, Clone, Default, Serialize)]
pub struct DestinationStats {
    pub name: String,
    pub attempts: i64,
    pub delivered: i64,
    pub avg_latency_ms: Option<f64>,
    pub max_latency_ms: Option<i64>,
    pub last_error: Option<String>,
    pub last_error_at: Option<i64>,
    /// Pending or failed now.
    pub pending: i64,
    pub dead: i64,
    /// Waiting for the destination to be in the rules again.
    pub held: i64,
}

impl DestinationStats {
    pub(super) fn named(name: String) -> Self {
        Self { name, ..Self::default() }
    }
}

/// Which deliveries to replay.
#[derive(Debug, Clone)]
pub enum ReplaySelector {
    Ids(Vec<i64>),
    Event(String),
    Status { status: Status, since: Option<i64> },
}

/// A stored event (for re-rendering a delivery whose template failed, and for inspection).
#[derive(Debug, Clone)]
pub struct StoredEvent {
    pub id: String,
    pub source: String,
    pub event_type: String,
    pub received_at: i64,
    pub body: Bytes,
    pub content_type: Option<String>,
    pub matched_rules: Vec<String>,
    pub rules_version: String,
}

/// Counts of deliveries by status (for shutdown reports and tests).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    pub pending: i64,
    pub failed: i64,
    pub delivered: i64,
    pub dead: i64,
    pub held: i64,
    pub cancelled: i64,
}
