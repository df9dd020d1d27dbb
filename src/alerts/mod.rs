//! hookroute's own events (issue 16): `hookroute.delivery.dead`, `hookroute.destination.failing`
//! and `recovered`, `hookroute.reload.rejected`, `hookroute.queue.stale`, emitted into the
//! built-in source `hookroute` and routed by ordinary rules (`source: hookroute`), so operators
//! hear about trouble through the destinations they already have.
//!
//! Why it is built this way:
//! - The decisions are pure and tested beside the code: [`health`] (one failing/recovered step per
//!   episode, not per attempt), [`bursts`] (at most one `delivery.dead` per destination and
//!   minute, saying how many), [`stale`] (one queue step per change), [`payload`] (the bodies and
//!   their dedup keys). [`emit`] is the I/O around them.
//! - Emitted events take the same way in as received ones: routed by `route::plan`, stored with
//!   their deliveries in one transaction by `deliver::Ingest`, deduplicated by a key of source
//!   `hookroute` naming the episode (or minute). Durable, replayable, shown like any other event.
//! - A fleet emits each once: episodes are opened and closed by one store statement whose answer
//!   says whether this instance made the transition (`Store::open_episode`), and the dedup keys
//!   are the same on every instance.
//! - Loop safety: a dead delivery of a `hookroute.*` event emits nothing (logged, counted in
//!   `hookroute_own_events_suppressed_total{reason="own_delivery"}`).

pub mod bursts;
mod emit;
pub mod health;
pub mod payload;
pub mod stale;

pub use emit::{OwnEventOptions, OwnEvents};
