//! Row → struct mapping shared by the SQLite and PostgreSQL stores (both decode the same column
//! types: text, 64-bit integers, bytes).

/// A `Claimed` from a row of the claim statement's `RETURNING` list.
macro_rules! claimed_from_row {
    ($r:expr) => {
        Claimed {
            id: $r.try_get("id")?,
            event_id: $r.try_get("event_id")?,
            rule: $r.try_get("rule")?,
            action_index: usize::try_from($r.try_get::<i64, _>("action_index")?).unwrap_or(0),
            destination: $r.try_get("destination")?,
            body: $r.try_get::<Option<Vec<u8>>, _>("body")?.map(Bytes::from),
            content_type: $r.try_get("content_type")?,
            series: $r.try_get("series")?,
            attempts: u32::try_from($r.try_get::<i64, _>("attempts")?).unwrap_or(u32::MAX),
            series_started_at: $r.try_get("series_started_at")?,
            token: $r.try_get("claim_token")?,
        }
    };
}

/// An `AttemptRow` from `SELECT series, attempted_at, status_code, latency_ms, outcome, error,
/// response_excerpt`.
macro_rules! attempt_from_row {
    ($a:expr) => {
        AttemptRow {
            series: $a.try_get("series")?,
            attempted_at: $a.try_get("attempted_at")?,
            status_code: $a.try_get("status_code")?,
            latency_ms: $a.try_get("latency_ms")?,
            outcome: $a.try_get("outcome")?,
            error: $a.try_get("error")?,
            response_excerpt: $a.try_get("response_excerpt")?,
        }
    };
}

/// A `DeliveryRow` (without its history) from the list statement.
macro_rules! delivery_from_row {
    ($r:expr, $history:expr) => {
        DeliveryRow {
            id: $r.try_get("id")?,
            event_id: $r.try_get("event_id")?,
            rule: $r.try_get("rule")?,
            action_index: $r.try_get("action_index")?,
            destination: $r.try_get("destination")?,
            status: $r.try_get("status")?,
            series: $r.try_get("series")?,
            attempts: $r.try_get("attempts")?,
            next_attempt_at: $r.try_get("next_attempt_at")?,
            last_error: $r.try_get("last_error")?,
            updated_at: $r.try_get("updated_at")?,
            history: $history,
        }
    };
}

/// A `StoredEvent` from `SELECT id, source, event_type, received_at, body, content_type,
/// matched_rules, rules_version`.
macro_rules! event_from_row {
    ($r:expr) => {
        StoredEvent {
            id: $r.try_get("id")?,
            source: $r.try_get("source")?,
            event_type: $r.try_get("event_type")?,
            received_at: $r.try_get("received_at")?,
            body: Bytes::from($r.try_get::<Vec<u8>, _>("body")?),
            content_type: $r.try_get("content_type")?,
            matched_rules: serde_json::from_str(&$r.try_get::<String, _>("matched_rules")?)
                .unwrap_or_default(),
            rules_version: $r.try_get("rules_version")?,
        }
    };
}

/// Counts by status from `SELECT status, COUNT(*) AS n ... GROUP BY status`.
macro_rules! counts_from_rows {
    ($rows:expr) => {{
        let mut c = Counts::default();
        for r in $rows {
            let n: i64 = r.try_get("n")?;
            match r.try_get::<String, _>("status")?.as_str() {
                "pending" => c.pending = n,
                "failed" => c.failed = n,
                "delivered" => c.delivered = n,
                "held" => c.held = n,
                "cancelled" => c.cancelled = n,
                _ => c.dead += n,
            }
        }
        c
    }};
}

/// The `Store` methods both stores implement by forwarding to inherent async methods of the same
/// shape (`insert_batch`, `claim_due`, `record_batch`, `replay_selected`).
macro_rules! forward_store_methods {
    () => {
        fn insert(&self, batch: &[NewEvent], now: i64) -> StoreFuture<'_, Vec<Inserted>> {
            let batch = batch.to_vec();
            Box::pin(async move { self.insert_batch(&batch, now).await })
        }

        fn claim(
            &self,
            now: i64,
            lease: Duration,
            owner: &str,
            wants: &[Want],
        ) -> StoreFuture<'_, Vec<Claimed>> {
            let (owner, wants) = (owner.to_owned(), wants.to_vec());
            Box::pin(async move { self.claim_due(now, lease, &owner, &wants).await })
        }

        fn record(&self, batch: &[Recorded]) -> StoreFuture<'_, Vec<i64>> {
            let batch = batch.to_vec();
            Box::pin(async move { self.record_batch(&batch).await })
        }

        fn replay(&self, selector: ReplaySelector, force: bool, now: i64) -> StoreFuture<'_, u64> {
            Box::pin(self.replay_selected(selector, force, now))
        }
    };
}

/// The columns a claim returns.
pub(super) const CLAIMED_COLUMNS: &str =
    "id, event_id, rule, action_index, destination, body, content_type, series,
    attempts, series_started_at, claim_token";

/// The status a held delivery goes back to: `failed` when it was attempted in this series.
pub(super) const RESUMED_STATUS: &str = "CASE WHEN attempts > 0 THEN 'failed' ELSE 'pending' END";

/// The `last_error` of a held delivery (`$2`: the rules version that lost its destination).
pub(super) const HELD_REASON: &str =
    "'destination `' || destination || '` is not in rules version ' || $2 || '; held until it is back'";

/// Ids of `batch` that `applied` does not list: the stale records.
pub(super) fn stale_ids(batch: &[super::Recorded], applied: &[i64]) -> Vec<i64> {
    let applied: std::collections::HashSet<i64> = applied.iter().copied().collect();
    batch.iter().map(|r| r.id).filter(|id| !applied.contains(id)).collect()
}

/// What a replay sets: a new attempt series, due now, unleased.
pub(super) const REPLAY_SET: &str =
    "UPDATE deliveries SET status = 'pending', series = series + 1, attempts = 0,
    series_started_at = $1, next_attempt_at = $1, lease_owner = NULL, lease_until = NULL, updated_at = $1";

pub(super) use {
    attempt_from_row, claimed_from_row, counts_from_rows, delivery_from_row, event_from_row,
    forward_store_methods,
};

/// When a claim made at `now` for `lease` ends.
pub fn lease_until(now: i64, lease: std::time::Duration) -> i64 {
    now + i64::try_from(lease.as_millis()).unwrap_or(i64::MAX / 2)
}

/// What a replay without `force` adds to its `WHERE`: delivered deliveries stay delivered.
pub(super) fn replay_guard(force: bool) -> &'static str {
    if force { "" } else { " AND status <> 'delivered'" }
}

/// A replay by ids without `force` that names delivered deliveries is refused as a whole.
pub(super) fn check_not_delivered(delivered: &[i64]) -> super::StoreResult<()> {
    match delivered {
        [] => Ok(()),
        ids => Err(super::StoreError::Conflict(format!(
            "deliver{} {} {} delivered already; replaying sends {} again",
            if ids.len() == 1 { "y" } else { "ies" },
            ids.iter().map(|i| format!("#{i}")).collect::<Vec<_>>().join(", "),
            if ids.len() == 1 { "was" } else { "were" },
            if ids.len() == 1 { "it" } else { "them" },
        ))),
    }
}

/// A replay by ids that matched fewer rows than ids given names how many do not exist.
pub(super) fn check_replayed(requested: usize, affected: u64) -> super::StoreResult<()> {
    let missing = (requested as u64).saturating_sub(affected);
    if missing > 0 {
        return Err(super::StoreError::NotFound(format!("{missing} of {requested} deliveries do not exist")));
    }
    Ok(())
}

/// Status, next due time and outcome label for a recorded attempt.
pub(super) fn next_columns(r: &super::Recorded) -> (&'static str, i64, &'static str) {
    match r.next {
        super::NextState::Delivered => ("delivered", r.attempt.attempted_at, "delivered"),
        super::NextState::Retry { at } => ("failed", at, "retry"),
        super::NextState::Dead => ("dead", r.attempt.attempted_at, "dead"),
    }
}

/// Events of a batch whose dedup key repeats an earlier one in the same batch: index → the first
/// event's id. Also returns the indexes that carry a key and come first.
pub(super) fn in_batch_duplicates(batch: &[super::NewEvent]) -> (Vec<Option<super::Inserted>>, Vec<usize>) {
    let mut out = vec![None; batch.len()];
    let mut first: std::collections::HashMap<(&str, &str), usize> = std::collections::HashMap::new();
    let mut keyed = Vec::new();
    for (i, ev) in batch.iter().enumerate() {
        if let Some(d) = &ev.dedup {
            match first.entry((ev.source.as_str(), d.key.as_str())) {
                std::collections::hash_map::Entry::Occupied(f) => {
                    out[i] = Some(super::Inserted::Duplicate(batch[*f.get()].id.clone()));
                }
                std::collections::hash_map::Entry::Vacant(v) => {
                    v.insert(i);
                    keyed.push(i);
                }
            }
        }
    }
    (out, keyed)
}
