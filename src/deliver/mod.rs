//! Delivery: accepted events are committed to the store in batches (group commit) before the HTTP
//! answer, then workers lease due deliveries, send them, and record every attempt.
//!
//! - [`ingest`]: the handler's way in; batches concurrent events into one transaction.
//! - [`worker`]: claims due deliveries with a lease, applies per-destination limits, sends, records.
//! - [`policy`]: retry schedule as data; [`outcome`]: what an HTTP answer means.
//! - [`gate`]: per-destination concurrency and rate limits.
//! - [`send`]: the only place that makes outbound requests.

mod gate;
mod ingest;
mod outcome;
mod policy;
mod send;
mod worker;

pub use gate::{Gates, Limits, Rate};
pub use ingest::{Ingest, IngestError};
pub use outcome::{Outcome, classify, parse_retry_after};
pub use policy::{DEFAULT_SCHEDULE, Decision, JITTER, RetryPolicy};
pub use send::{Attempt, LogContext, Sender};
pub use worker::{Worker, WorkerOptions, rfc3339_ms};
