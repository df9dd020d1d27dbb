//! Read-only queries for operators (the CLI's `deliveries`, the admin API, `/metrics`), written once
//! for both databases: every optional filter is `CAST($n AS type) IS NULL OR …`, which SQLite and
//! PostgreSQL both accept, and the row mapping is shared through `inspect_methods!`.

/// Events newest first (ids are UUIDv7, so id order is arrival order and pages are keyset pages).
pub(super) const LIST_EVENTS: &str = r"
SELECT e.id, e.source, e.event_type, e.received_at, e.matched_rules, e.rules_version,
       (SELECT COUNT(*) FROM deliveries d WHERE d.event_id = e.id AND d.status = 'pending') AS n_pending,
       (SELECT COUNT(*) FROM deliveries d WHERE d.event_id = e.id AND d.status = 'failed') AS n_failed,
       (SELECT COUNT(*) FROM deliveries d WHERE d.event_id = e.id AND d.status = 'delivered') AS n_delivered,
       (SELECT COUNT(*) FROM deliveries d WHERE d.event_id = e.id AND d.status = 'dead') AS n_dead,
       (SELECT COUNT(*) FROM deliveries d WHERE d.event_id = e.id AND d.status = 'held') AS n_held,
       (SELECT COUNT(*) FROM deliveries d WHERE d.event_id = e.id AND d.status = 'cancelled') AS n_cancelled
FROM events e
WHERE (CAST($1 AS TEXT) IS NULL OR e.source = $1)
  AND (CAST($2 AS TEXT) IS NULL OR e.event_type = $2)
  AND (CAST($3 AS TEXT) IS NULL OR e.matched_rules LIKE $3 ESCAPE '\')
  AND (CAST($4 AS TEXT) IS NULL OR EXISTS
        (SELECT 1 FROM deliveries d WHERE d.event_id = e.id AND d.status = $4))
  AND (CAST($5 AS BIGINT) IS NULL OR e.received_at >= $5)
  AND (CAST($6 AS BIGINT) IS NULL OR e.received_at < $6)
  AND (CAST($7 AS TEXT) IS NULL OR e.id < $7)
ORDER BY e.id DESC
LIMIT $8";

pub(super) const LIST_DELIVERIES: &str = r"
SELECT id, event_id, rule, action_index, destination, status, series, attempts, next_attempt_at,
       last_error, updated_at
FROM deliveries
WHERE (CAST($1 AS TEXT) IS NULL OR status = $1)
  AND (CAST($2 AS TEXT) IS NULL OR event_id = $2)
  AND (CAST($3 AS TEXT) IS NULL OR destination = $3)
  AND (CAST($4 AS TEXT) IS NULL OR rule = $4)
  AND (CAST($5 AS BIGINT) IS NULL OR updated_at >= $5)
  AND (CAST($6 AS BIGINT) IS NULL OR updated_at < $6)
  AND (CAST($7 AS BIGINT) IS NULL OR id < $7)
ORDER BY id DESC
LIMIT $8";

pub(super) const HISTORY: &str = r"
SELECT series, attempted_at, status_code, latency_ms, outcome, error, response_excerpt
FROM attempts WHERE delivery_id = $1 ORDER BY id";

pub(super) const QUEUE: &str = r"
SELECT COUNT(*) AS n, MIN(series_started_at) AS oldest
FROM deliveries WHERE status IN ('pending', 'failed')";

pub(super) const ATTEMPT_STATS: &str = r"
SELECT d.destination,
       COUNT(*) AS attempts,
       SUM(CASE WHEN a.outcome = 'delivered' THEN 1 ELSE 0 END) AS delivered,
       CAST(AVG(a.latency_ms) AS DOUBLE PRECISION) AS avg_latency,
       MAX(a.latency_ms) AS max_latency
FROM attempts a JOIN deliveries d ON d.id = a.delivery_id
WHERE a.attempted_at >= $1
GROUP BY d.destination";

pub(super) const LAST_ERRORS: &str = r"
SELECT d.destination, a.error, a.attempted_at
FROM attempts a JOIN deliveries d ON d.id = a.delivery_id
WHERE a.id IN (SELECT MAX(a2.id) FROM attempts a2 JOIN deliveries d2 ON d2.id = a2.delivery_id
               WHERE a2.attempted_at >= $1 AND a2.outcome <> 'delivered'
               GROUP BY d2.destination)";

pub(super) const WAITING_BY_DESTINATION: &str = r"
SELECT destination, status, COUNT(*) AS n
FROM deliveries WHERE status IN ('pending', 'failed', 'dead', 'held')
GROUP BY destination, status";

/// The `LIKE` pattern finding `rule` in a JSON array of rule names. Case-insensitive in SQLite, so
/// callers check the decoded list again.
pub(super) fn rule_pattern(rule: &str) -> String {
    let quoted = serde_json::to_string(rule).unwrap_or_default();
    let escaped = quoted.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_");
    format!("%{escaped}%")
}

/// A page size within 1..=500 (default 50).
pub(super) fn page(limit: i64) -> i64 {
    if limit <= 0 { 50 } else { limit.min(500) }
}

/// Implements the inspection methods of `Store` for a store whose pool field is `$pool`.
macro_rules! inspect_methods {
    ($pool:ident) => {
        fn list(&self, f: Filter) -> StoreFuture<'_, Vec<DeliveryRow>> {
            Box::pin(async move {
                let rows = sqlx::query(inspect::LIST_DELIVERIES)
                    .bind(f.status.map(super::Status::as_str))
                    .bind(&f.event_id)
                    .bind(&f.destination)
                    .bind(&f.rule)
                    .bind(f.since)
                    .bind(f.until)
                    .bind(f.before)
                    .bind(if f.limit > 0 { f.limit } else { 100 })
                    .fetch_all(&self.$pool)
                    .await?;
                let mut out = Vec::with_capacity(rows.len());
                for r in rows {
                    let id: i64 = r.try_get("id")?;
                    let history = sqlx::query(inspect::HISTORY)
                        .bind(id)
                        .fetch_all(&self.$pool)
                        .await?
                        .iter()
                        .map(|a| Ok(attempt_from_row!(a)))
                        .collect::<Result<Vec<_>, sqlx::Error>>()?;
                    out.push(delivery_from_row!(r, history));
                }
                Ok(out)
            })
        }

        fn events(&self, f: EventFilter) -> StoreFuture<'_, Vec<EventSummary>> {
            Box::pin(async move {
                let rows = sqlx::query(inspect::LIST_EVENTS)
                    .bind(&f.source)
                    .bind(&f.event_type)
                    .bind(f.rule.as_deref().map(inspect::rule_pattern))
                    .bind(f.status.map(super::Status::as_str))
                    .bind(f.since)
                    .bind(f.until)
                    .bind(&f.before)
                    .bind(inspect::page(f.limit))
                    .fetch_all(&self.$pool)
                    .await?;
                let mut out = Vec::with_capacity(rows.len());
                for r in rows {
                    let matched: String = r.try_get("matched_rules")?;
                    let matched_rules: Vec<String> = serde_json::from_str(&matched).unwrap_or_default();
                    if f.rule.as_ref().is_some_and(|rule| !matched_rules.contains(rule)) {
                        continue;
                    }
                    out.push(EventSummary {
                        id: r.try_get("id")?,
                        source: r.try_get("source")?,
                        event_type: r.try_get("event_type")?,
                        received_at: r.try_get("received_at")?,
                        matched_rules,
                        rules_version: r.try_get("rules_version")?,
                        deliveries: Counts {
                            pending: r.try_get("n_pending")?,
                            failed: r.try_get("n_failed")?,
                            delivered: r.try_get("n_delivered")?,
                            dead: r.try_get("n_dead")?,
                            held: r.try_get("n_held")?,
                            cancelled: r.try_get("n_cancelled")?,
                        },
                    });
                }
                Ok(out)
            })
        }

        fn queue(&self) -> StoreFuture<'_, QueueStats> {
            Box::pin(async move {
                let r = sqlx::query(inspect::QUEUE).fetch_one(&self.$pool).await?;
                Ok(QueueStats { depth: r.try_get("n")?, oldest_started_at: r.try_get("oldest")? })
            })
        }

        fn destination_stats(&self, since: i64, errors_since: i64) -> StoreFuture<'_, Vec<DestinationStats>> {
            Box::pin(async move {
                let mut by_name: std::collections::BTreeMap<String, DestinationStats> = Default::default();
                for r in sqlx::query(inspect::ATTEMPT_STATS).bind(since).fetch_all(&self.$pool).await? {
                    let name: String = r.try_get("destination")?;
                    let s = by_name.entry(name.clone()).or_insert_with(|| DestinationStats::named(name));
                    s.attempts = r.try_get("attempts")?;
                    s.delivered = r.try_get::<Option<i64>, _>("delivered")?.unwrap_or(0);
                    s.avg_latency_ms = r.try_get("avg_latency")?;
                    s.max_latency_ms = r.try_get("max_latency")?;
                }
                for r in sqlx::query(inspect::LAST_ERRORS).bind(errors_since).fetch_all(&self.$pool).await? {
                    let name: String = r.try_get("destination")?;
                    let s = by_name.entry(name.clone()).or_insert_with(|| DestinationStats::named(name));
                    s.last_error = r.try_get("error")?;
                    s.last_error_at = r.try_get("attempted_at")?;
                }
                for r in sqlx::query(inspect::WAITING_BY_DESTINATION).fetch_all(&self.$pool).await? {
                    let name: String = r.try_get("destination")?;
                    let s = by_name.entry(name.clone()).or_insert_with(|| DestinationStats::named(name));
                    let n: i64 = r.try_get("n")?;
                    match r.try_get::<String, _>("status")?.as_str() {
                        "dead" => s.dead += n,
                        "held" => s.held += n,
                        _ => s.pending += n,
                    }
                }
                Ok(by_name.into_values().collect())
            })
        }
    };
}

pub(super) use inspect_methods;

#[cfg(test)]
mod tests {
    #[test]
    fn rule_patterns_escape_like_wildcards() {
        assert_eq!(super::rule_pattern("ready"), "%\"ready\"%");
        assert_eq!(super::rule_pattern("a_b%c"), "%\"a\\_b\\%c\"%");
        assert_eq!(super::rule_pattern("q\"x"), "%\"q\\\\\"x\"%");
    }

    #[test]
    fn pages_are_bounded() {
        assert_eq!(super::page(0), 50);
        assert_eq!(super::page(10), 10);
        assert_eq!(super::page(10_000), 500);
    }
}
