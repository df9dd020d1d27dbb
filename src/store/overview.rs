//! The dashboard's overview, computed in the database: events per time bucket and source, attempts
//! per time bucket and outcome, and each destination's attempts grouped by latency (folded here into
//! success rate, p50/p95 and whether it is failing). Every query reads a time range of an index that
//! covers it (migration 0009), so its cost follows the window's rows, not the rows stored.
//!
//! The SQL is written once for SQLite and PostgreSQL (`overview_methods!`, like `inspect_methods!`);
//! only the event count's "rule name in the JSON list" test differs (`instr` / `strpos`: both are
//! case-sensitive, unlike SQLite's `LIKE`).

use serde::Serialize;

/// Events of one source in one bucket (`bucket` counts from the window's start).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SourceBucket {
    pub bucket: i64,
    pub source: String,
    pub events: i64,
}

/// Attempts with one outcome (`delivered`, `retry`, `dead`) in one bucket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OutcomeBucket {
    pub bucket: i64,
    pub outcome: String,
    pub attempts: i64,
}

/// Attempts of one destination that took `latency_ms`, as the store groups them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LatencyGroup {
    pub destination: String,
    pub latency_ms: i64,
    pub attempts: i64,
    pub delivered: i64,
    pub last_delivered_at: Option<i64>,
    pub last_failed_at: Option<i64>,
}

/// How one destination did in the window.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DestinationGlance {
    pub name: String,
    pub attempts: i64,
    pub delivered: i64,
    pub success_rate: Option<f64>,
    pub p50_latency_ms: Option<i64>,
    pub p95_latency_ms: Option<i64>,
    pub last_delivered_at: Option<i64>,
    pub last_failed_at: Option<i64>,
    /// It failed in the window and has not succeeded since its last failure.
    pub failing: bool,
}

/// Folds latency groups (any order) into one summary per destination, sorted by name. Percentiles
/// are nearest-rank over the attempts: p50 is the latency of the ⌈n/2⌉-th fastest attempt.
pub fn fold_latencies(mut groups: Vec<LatencyGroup>) -> Vec<DestinationGlance> {
    groups.sort_by(|a, b| a.destination.cmp(&b.destination).then(a.latency_ms.cmp(&b.latency_ms)));
    let mut out: Vec<DestinationGlance> = Vec::new();
    for chunk in groups.chunk_by(|a, b| a.destination == b.destination) {
        let attempts: i64 = chunk.iter().map(|g| g.attempts).sum();
        let delivered: i64 = chunk.iter().map(|g| g.delivered).sum();
        let last_delivered_at = chunk.iter().filter_map(|g| g.last_delivered_at).max();
        let last_failed_at = chunk.iter().filter_map(|g| g.last_failed_at).max();
        out.push(DestinationGlance {
            name: chunk[0].destination.clone(),
            attempts,
            delivered,
            success_rate: (attempts > 0).then(|| delivered as f64 / attempts as f64),
            p50_latency_ms: nearest_rank(chunk, attempts, 50),
            p95_latency_ms: nearest_rank(chunk, attempts, 95),
            last_delivered_at,
            last_failed_at,
            failing: last_failed_at.is_some_and(|f| last_delivered_at.is_none_or(|d| d < f)),
        });
    }
    out
}

/// The latency of the attempt at rank ⌈n·p/100⌉ in `sorted` (ascending latency, one destination).
fn nearest_rank(sorted: &[LatencyGroup], total: i64, percent: i64) -> Option<i64> {
    if total <= 0 {
        return None;
    }
    let rank = (total * percent + 99) / 100;
    let mut seen = 0;
    for g in sorted {
        seen += g.attempts;
        if seen >= rank {
            return Some(g.latency_ms);
        }
    }
    sorted.last().map(|g| g.latency_ms)
}

pub(super) const EVENT_RATE: &str = r"
SELECT CAST((received_at - $1) / $2 AS BIGINT) AS bucket, source, COUNT(*) AS n
FROM events
WHERE received_at >= $1
GROUP BY 1, source
ORDER BY 1, source";

pub(super) const OUTCOME_RATE: &str = r"
SELECT CAST((attempted_at - $1) / $2 AS BIGINT) AS bucket, outcome, COUNT(*) AS n
FROM attempts
WHERE attempted_at >= $1
GROUP BY 1, outcome
ORDER BY 1, outcome";

pub(super) const LATENCIES: &str = r"
SELECT d.destination, a.latency_ms, COUNT(*) AS n,
       SUM(CASE WHEN a.outcome = 'delivered' THEN 1 ELSE 0 END) AS delivered,
       MAX(CASE WHEN a.outcome = 'delivered' THEN a.attempted_at END) AS last_ok,
       MAX(CASE WHEN a.outcome <> 'delivered' THEN a.attempted_at END) AS last_failed
FROM attempts a JOIN deliveries d ON d.id = a.delivery_id
WHERE a.attempted_at >= $1
GROUP BY d.destination, a.latency_ms";

/// The event list's filter (without its page), counted. `$contains` tests whether a JSON list of
/// rule names holds `$3` (a JSON-quoted name) case-sensitively.
macro_rules! count_events_sql {
    ($contains:literal) => {
        concat!(
            "SELECT COUNT(*) FROM events e
WHERE (CAST($1 AS TEXT) IS NULL OR e.source = $1)
  AND (CAST($2 AS TEXT) IS NULL OR e.event_type = $2)
  AND (CAST($3 AS TEXT) IS NULL OR ",
            $contains,
            "(e.matched_rules, $3) > 0)
  AND (CAST($4 AS TEXT) IS NULL OR EXISTS
        (SELECT 1 FROM deliveries d WHERE d.event_id = e.id AND d.status = $4))
  AND (CAST($5 AS BIGINT) IS NULL OR e.received_at >= $5)
  AND (CAST($6 AS BIGINT) IS NULL OR e.received_at < $6)"
        )
    };
}

pub(super) const COUNT_EVENTS_SQLITE: &str = count_events_sql!("instr");
pub(super) const COUNT_EVENTS_POSTGRES: &str = count_events_sql!("strpos");

/// Implements the overview methods of `Store` for a store whose pool field is `$pool` and whose
/// event count statement is `$count`.
macro_rules! overview_methods {
    ($pool:ident, $count:expr) => {
        fn event_rate(&self, since: i64, bucket_ms: i64) -> StoreFuture<'_, Vec<overview::SourceBucket>> {
            Box::pin(async move {
                let rows = sqlx::query(overview::EVENT_RATE)
                    .bind(since)
                    .bind(bucket_ms.max(1))
                    .fetch_all(&self.$pool)
                    .await?;
                rows.iter()
                    .map(|r| {
                        Ok(overview::SourceBucket {
                            bucket: r.try_get("bucket")?,
                            source: r.try_get("source")?,
                            events: r.try_get("n")?,
                        })
                    })
                    .collect::<Result<_, sqlx::Error>>()
                    .map_err(Into::into)
            })
        }

        fn outcome_rate(&self, since: i64, bucket_ms: i64) -> StoreFuture<'_, Vec<overview::OutcomeBucket>> {
            Box::pin(async move {
                let rows = sqlx::query(overview::OUTCOME_RATE)
                    .bind(since)
                    .bind(bucket_ms.max(1))
                    .fetch_all(&self.$pool)
                    .await?;
                rows.iter()
                    .map(|r| {
                        Ok(overview::OutcomeBucket {
                            bucket: r.try_get("bucket")?,
                            outcome: r.try_get("outcome")?,
                            attempts: r.try_get("n")?,
                        })
                    })
                    .collect::<Result<_, sqlx::Error>>()
                    .map_err(Into::into)
            })
        }

        fn destination_glance(&self, since: i64) -> StoreFuture<'_, Vec<overview::DestinationGlance>> {
            Box::pin(async move {
                let rows = sqlx::query(overview::LATENCIES).bind(since).fetch_all(&self.$pool).await?;
                let groups = rows
                    .iter()
                    .map(|r| {
                        Ok(overview::LatencyGroup {
                            destination: r.try_get("destination")?,
                            latency_ms: r.try_get("latency_ms")?,
                            attempts: r.try_get("n")?,
                            delivered: r.try_get::<Option<i64>, _>("delivered")?.unwrap_or(0),
                            last_delivered_at: r.try_get("last_ok")?,
                            last_failed_at: r.try_get("last_failed")?,
                        })
                    })
                    .collect::<Result<Vec<_>, sqlx::Error>>()?;
                Ok(overview::fold_latencies(groups))
            })
        }

        fn count_events(&self, f: EventFilter) -> StoreFuture<'_, i64> {
            Box::pin(async move {
                let quoted = f.rule.as_deref().map(|r| serde_json::to_string(r).unwrap_or_default());
                let n: i64 = sqlx::query_scalar($count)
                    .bind(&f.source)
                    .bind(&f.event_type)
                    .bind(quoted)
                    .bind(f.status.map(super::Status::as_str))
                    .bind(f.since)
                    .bind(f.until)
                    .fetch_one(&self.$pool)
                    .await?;
                Ok(n)
            })
        }
    };
}

pub(super) use overview_methods;

#[cfg(test)]
mod tests {
    use super::{LatencyGroup, fold_latencies};

    fn g(destination: &str, latency_ms: i64, attempts: i64, delivered: i64) -> LatencyGroup {
        LatencyGroup {
            destination: destination.into(),
            latency_ms,
            attempts,
            delivered,
            last_delivered_at: (delivered > 0).then_some(latency_ms),
            last_failed_at: (delivered < attempts).then_some(1_000 + latency_ms),
        }
    }

    /// One destination's summary: (name, attempts, rate, p50, p95, failing).
    type Summary<'a> = (&'a str, i64, Option<f64>, Option<i64>, Option<i64>, bool);

    fn check(groups: Vec<LatencyGroup>, expected: &[Summary<'_>]) {
        let got: Vec<_> = fold_latencies(groups)
            .into_iter()
            .map(|d| (d.name, d.attempts, d.success_rate, d.p50_latency_ms, d.p95_latency_ms, d.failing))
            .collect();
        let want: Vec<_> =
            expected.iter().map(|(n, a, r, p50, p95, f)| ((*n).to_owned(), *a, *r, *p50, *p95, *f)).collect();
        assert_eq!(got, want);
    }

    #[test]
    fn percentiles_success_and_failing_per_destination() {
        check(vec![], &[]);
        check(vec![g("a", 10, 1, 1)], &[("a", 1, Some(1.0), Some(10), Some(10), false)]);
        // 100 attempts: 90 at 10 ms, 10 at 500 ms → p50 10, p95 500.
        check(
            vec![g("a", 500, 10, 10), g("a", 10, 90, 90)],
            &[("a", 100, Some(1.0), Some(10), Some(500), false)],
        );
        // 20 attempts: 19 at 10 ms, 1 at 900 → rank ⌈19⌉ is 10 ms.
        check(
            vec![g("a", 10, 19, 19), g("a", 900, 1, 1)],
            &[("a", 20, Some(1.0), Some(10), Some(10), false)],
        );
        // Failures after the last success: failing; groups of two destinations interleaved.
        check(
            vec![g("b", 30, 2, 0), g("a", 5, 4, 2), g("b", 10, 2, 0)],
            &[("a", 4, Some(0.5), Some(5), Some(5), true), ("b", 4, Some(0.0), Some(10), Some(30), true)],
        );
    }

    #[test]
    fn a_success_after_the_last_failure_is_not_failing() {
        let mut recovered = g("a", 10, 2, 1);
        recovered.last_failed_at = Some(100);
        recovered.last_delivered_at = Some(200);
        assert!(!fold_latencies(vec![recovered])[0].failing);
    }
}
