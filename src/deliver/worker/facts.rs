//! What each recorded attempt showed, for whoever watches the deliverer (hookroute's own events,
//! issue 16): sent only after the attempt's record was written and not refused as stale, so a
//! fact is what the store now says.

use tokio::sync::mpsc;

use crate::store::Recorded;

/// How an attempt ended, as the watcher needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FactOutcome {
    Delivered,
    /// Failed; another attempt is scheduled.
    Failed {
        error: String,
    },
    /// Failed for the last time: the delivery is dead now.
    Dead {
        error: String,
    },
}

/// One recorded attempt of one delivery, or a delivery stored dead at ingest (`attempts` 0).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttemptFact {
    /// `None` for a delivery stored dead as its event arrived (the store numbers it then).
    pub delivery_id: Option<i64>,
    pub event_id: String,
    pub rule: String,
    pub destination: String,
    /// Attempts in this series, this one included.
    pub attempts: u32,
    /// When the attempt was made (unix ms).
    pub at: i64,
    /// Whether a request was sent (`false`: it died before, e.g. its template failed), so whether
    /// the outcome says anything about the destination.
    pub sent: bool,
    pub outcome: FactOutcome,
}

/// Where the worker sends [`AttemptFact`]s (`WorkerOptions::facts`).
pub type FactTx = mpsc::UnboundedSender<AttemptFact>;

/// An attempt on its way to the recorder, with what it showed.
pub(super) struct Finished {
    pub record: Recorded,
    pub fact: AttemptFact,
}
