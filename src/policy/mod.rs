//! Delivery policy as plain values, a leaf: the retry schedule and its decision after each attempt
//! ([`retry`]), what an attempt's HTTP answer means ([`outcome`]) and a destination's concurrency
//! and rate limits ([`limits`]). `config` compiles them from the rules file, `actions` keeps them on
//! each destination, `deliver` applies them; this module imports none of those, so they can all
//! import it. Pure: no I/O, no clock.

pub mod hours;
pub mod limits;
pub mod outcome;
pub mod retry;

pub use hours::{Hours, OpenHours};
pub use limits::{Limits, Rate};
pub use outcome::{Outcome, classify, parse_retry_after};
pub use retry::{DEFAULT_SCHEDULE, Decision, JITTER, RetryPolicy};
