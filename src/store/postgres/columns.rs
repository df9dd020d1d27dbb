//! Batches as one array per column, the shape `UNNEST` takes: one statement whatever the batch size.

/// A batch of new events as one array per column, for `UNNEST`.
#[derive(Default)]
pub(super) struct EventColumns {
    pub(super) id: Vec<String>,
    pub(super) source: Vec<String>,
    pub(super) event_type: Vec<String>,
    pub(super) received_at: Vec<i64>,
    pub(super) body: Vec<Vec<u8>>,
    pub(super) content_type: Vec<Option<String>>,
    pub(super) matched_rules: Vec<String>,
    pub(super) rules_version: Vec<String>,
    pub(super) dedup_key: Vec<Option<String>>,
    pub(super) dedup_expires: Vec<i64>,
}

/// Their deliveries, likewise.
#[derive(Default)]
pub(super) struct DeliveryColumns {
    pub(super) event_id: Vec<String>,
    pub(super) rule: Vec<String>,
    pub(super) action_index: Vec<i64>,
    pub(super) destination: Vec<String>,
    pub(super) body: Vec<Option<Vec<u8>>>,
    pub(super) content_type: Vec<Option<String>>,
    pub(super) status: Vec<&'static str>,
    pub(super) error: Vec<Option<String>>,
}

/// A batch of recorded attempts as one array per column, for `UNNEST`.
#[derive(Default)]
pub(super) struct RecordColumns {
    pub(super) id: Vec<i64>,
    pub(super) series: Vec<i64>,
    pub(super) token: Vec<i64>,
    pub(super) attempted_at: Vec<i64>,
    pub(super) status_code: Vec<Option<i64>>,
    pub(super) latency_ms: Vec<i64>,
    pub(super) outcome: Vec<&'static str>,
    pub(super) error: Vec<Option<String>>,
    pub(super) excerpt: Vec<Option<String>>,
    pub(super) status: Vec<&'static str>,
    pub(super) next_at: Vec<i64>,
    pub(super) last_error: Vec<Option<String>>,
}
