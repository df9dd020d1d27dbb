//! Delivery: accepted events are committed to the store in batches (group commit) before the HTTP
//! answer, then workers lease due deliveries, send them, and record every attempt.
//!
//! - [`ingest`]: the handler's way in; batches concurrent events into one transaction.
//! - [`worker`]: claims due deliveries with a lease, applies per-destination limits, sends, records.
//! - [`gate`]: applies the per-destination concurrency and rate limits.
//! - [`send`]: the only place that makes outbound requests (`slack_send`: the Slack Web API).
//! - [`threads`]: a threaded delivery's place in its conversation (opener, reply, or waiting).
//!
//! The retry schedule, outcome classification and limits themselves are plain values in
//! [`crate::policy`], which `config` compiles and this module applies.

mod gate;
mod ingest;
mod send;
mod slack_send;
mod smtp;
mod threads;
mod worker;

pub use gate::Gates;
pub use ingest::{Ingest, IngestError};
pub use send::{Attempt, DELIVERY_HEADER, LogContext, Sender};
pub use worker::{AttemptFact, FactOutcome, FactTx, Worker, WorkerOptions};
