//! The dashboard's overview, computed in the database: events per minute and source, attempts per
//! minute and outcome (folded here into the caller's buckets), and each destination's attempts
//! grouped by latency (folded here into success rate, p50/p95 and whether it is failing). Every
//! query reads a time range of an index that covers it (migration 0009), so its cost follows the
//! window's rows, not the rows stored; the per-minute counts read an index on the minute itself
//! (`received_at / 60000`), already in group order, so the database sorts nothing.
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
    /// Its attempts have all failed for at least [`FAILING_AFTER_MS`] (its last success, if any in
    /// the window, is that much older than its last failure): one retry does not make it failing.
    pub failing: bool,
}

/// How long a destination's attempts must all have failed before it shows as failing.
pub const FAILING_AFTER_MS: i64 = 60_000;

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
            failing: last_failed_at
                .is_some_and(|f| last_delivered_at.is_none_or(|d| f - d >= FAILING_AFTER_MS)),
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

/// A minute's number, as the expression indexes of migration 0009 compute it.
pub const MINUTE_MS: i64 = 60_000;

/// Per-minute counts from minute `$1` on. The expressions match the indexes' exactly.
pub(super) const EVENT_RATE: &str = r"
SELECT received_at / 60000 AS minute, source AS key, COUNT(*) AS n
FROM events
WHERE received_at / 60000 >= $1
GROUP BY received_at / 60000, source";

pub(super) const OUTCOME_RATE: &str = r"
SELECT attempted_at / 60000 AS minute, outcome AS key, COUNT(*) AS n
FROM attempts
WHERE attempted_at / 60000 >= $1
GROUP BY attempted_at / 60000, outcome";

/// Per-minute counts `(minute, key, n)` folded into buckets of `bucket_ms` counted from `since`:
/// `(bucket, key, n)` sorted by bucket then key. A bucket that does not fill whole minutes takes
/// each minute by its start; minutes before `since` are dropped.
pub fn fold_minutes(rows: Vec<(i64, String, i64)>, since: i64, bucket_ms: i64) -> Vec<(i64, String, i64)> {
    let bucket_ms = bucket_ms.max(1);
    let mut out: std::collections::BTreeMap<(i64, String), i64> = std::collections::BTreeMap::new();
    for (minute, key, n) in rows {
        let start = minute.saturating_mul(MINUTE_MS);
        if start >= since.div_euclid(MINUTE_MS) * MINUTE_MS {
            *out.entry(((start - since).max(0) / bucket_ms, key)).or_insert(0) += n;
        }
    }
    out.into_iter().map(|((bucket, key), n)| (bucket, key, n)).collect()
}

pub(super) const LATENCIES: &str = r"
SELECT d.destination, a.latency_ms, COUNT(*) AS n,
       SUM(CASE WHEN a.outcome = 'delivered' THEN 1 ELSE 0 END) AS delivered,
       MAX(CASE WHEN a.outcome = 'delivered' THEN a.attempted_at END) AS last_ok,
       MAX(CASE WHEN a.outcome <> 'delivered' THEN a.attempted_at END) AS last_failed
FROM attempts a JOIN deliveries d ON d.id = a.delivery_id
WHERE a.attempted_at >= $1
GROUP BY d.destination, a.latency_ms";

/// A value bound to a built statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Bind {
    Text(String),
    Int(i64),
}

/// The event list's filter (without its page), counted. Built with only the conditions given, so
/// each is a plain comparison the planner can use an index for (`$n IS NULL OR …` is not: a source
/// and a day cost a scan of every event). `contains` names the database's case-sensitive
/// substring function (`instr`, `strpos`) that finds a JSON-quoted rule name in `matched_rules`.
pub fn count_events_query(f: &super::EventFilter, contains: &str) -> (String, Vec<Bind>) {
    let mut binds = Vec::new();
    let mut conditions: Vec<String> = Vec::new();
    let mut add = |bind: Bind, condition: &dyn Fn(&str) -> String| {
        binds.push(bind);
        conditions.push(condition(&format!("${}", binds.len())));
    };
    if let Some(source) = &f.source {
        add(Bind::Text(source.clone()), &|p| format!("e.source = {p}"));
    }
    if let Some(event_type) = &f.event_type {
        add(Bind::Text(event_type.clone()), &|p| format!("e.event_type = {p}"));
    }
    if let Some(rule) = &f.rule {
        let quoted = serde_json::to_string(rule).unwrap_or_default();
        add(Bind::Text(quoted), &|p| format!("{contains}(e.matched_rules, {p}) > 0"));
    }
    if let Some(status) = f.status {
        add(Bind::Text(status.as_str().to_owned()), &|p| {
            format!("EXISTS (SELECT 1 FROM deliveries d WHERE d.event_id = e.id AND d.status = {p})")
        });
    }
    if let Some(since) = f.since {
        add(Bind::Int(since), &|p| format!("e.received_at >= {p}"));
    }
    if let Some(until) = f.until {
        add(Bind::Int(until), &|p| format!("e.received_at < {p}"));
    }
    let mut sql = String::from("SELECT COUNT(*) FROM events e");
    if !conditions.is_empty() {
        sql.push_str(" WHERE ");
        sql.push_str(&conditions.join(" AND "));
    }
    (sql, binds)
}

/// Implements the overview methods of `Store` for a store whose pool field is `$pool` and whose
/// case-sensitive substring function is `$contains` (see [`count_events_query`]).
macro_rules! overview_methods {
    ($pool:ident, $contains:literal) => {
        fn event_rate(&self, since: i64, bucket_ms: i64) -> StoreFuture<'_, Vec<overview::SourceBucket>> {
            Box::pin(async move {
                let rows = self.per_minute(overview::EVENT_RATE, since).await?;
                Ok(overview::fold_minutes(rows, since, bucket_ms)
                    .into_iter()
                    .map(|(bucket, source, events)| overview::SourceBucket { bucket, source, events })
                    .collect())
            })
        }

        fn outcome_rate(&self, since: i64, bucket_ms: i64) -> StoreFuture<'_, Vec<overview::OutcomeBucket>> {
            Box::pin(async move {
                let rows = self.per_minute(overview::OUTCOME_RATE, since).await?;
                Ok(overview::fold_minutes(rows, since, bucket_ms)
                    .into_iter()
                    .map(|(bucket, outcome, attempts)| overview::OutcomeBucket { bucket, outcome, attempts })
                    .collect())
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
                let (sql, binds) = overview::count_events_query(&f, $contains);
                let mut query = sqlx::query_scalar(sqlx::AssertSqlSafe(sql));
                for bind in binds {
                    query = match bind {
                        overview::Bind::Text(t) => query.bind(t),
                        overview::Bind::Int(n) => query.bind(n),
                    };
                }
                let n: i64 = query.fetch_one(&self.$pool).await?;
                Ok(n)
            })
        }
    };
}

/// `per_minute(sql, since)`: the rows of [`EVENT_RATE`] or [`OUTCOME_RATE`] from the minute
/// `since` is in, as `(minute, key, n)`; an inherent method of each store (its pool field is `$pool`).
macro_rules! per_minute_method {
    ($pool:ident) => {
        async fn per_minute(&self, sql: &'static str, since: i64) -> StoreResult<Vec<(i64, String, i64)>> {
            let rows =
                sqlx::query(sql).bind(since.div_euclid(overview::MINUTE_MS)).fetch_all(&self.$pool).await?;
            rows.iter()
                .map(|r| Ok((r.try_get("minute")?, r.try_get("key")?, r.try_get("n")?)))
                .collect::<Result<_, sqlx::Error>>()
                .map_err(Into::into)
        }
    };
}

pub(super) use {overview_methods, per_minute_method};

#[cfg(test)]
mod tests {
    use super::{Bind, LatencyGroup, count_events_query, fold_latencies, fold_minutes};

    #[test]
    fn minutes_fold_into_buckets_from_the_window_start() {
        let check = |rows: &[(i64, &str, i64)], since: i64, bucket_ms: i64, expected: &[(i64, &str, i64)]| {
            let rows = rows.iter().map(|(m, k, n)| (*m, (*k).to_owned(), *n)).collect();
            let want: Vec<_> = expected.iter().map(|(b, k, n)| (*b, (*k).to_owned(), *n)).collect();
            assert_eq!(fold_minutes(rows, since, bucket_ms), want);
        };
        check(&[], 0, 60_000, &[]);
        // Minute buckets: minute m is bucket m - first minute.
        check(
            &[(10, "a", 2), (12, "a", 1), (10, "b", 3)],
            600_000,
            60_000,
            &[(0, "a", 2), (0, "b", 3), (2, "a", 1)],
        );
        // Quarter hours: minutes 0-14 in bucket 0, 15-29 in bucket 1.
        check(
            &[(0, "a", 1), (14, "a", 1), (15, "a", 5), (29, "b", 1)],
            0,
            900_000,
            &[(0, "a", 2), (1, "a", 5), (1, "b", 1)],
        );
        // A minute before the window is dropped; the minute `since` is in counts from bucket 0.
        check(&[(9, "a", 7), (10, "a", 1)], 630_000, 60_000, &[(0, "a", 1)]);
    }
    use crate::store::{EventFilter, Status};

    #[test]
    fn event_counts_use_only_the_conditions_given() {
        let check = |f: EventFilter, sql: &str, binds: &[Bind]| {
            let (got_sql, got_binds) = count_events_query(&f, "instr");
            assert_eq!((got_sql.as_str(), got_binds.as_slice()), (sql, binds));
        };
        check(EventFilter::default(), "SELECT COUNT(*) FROM events e", &[]);
        check(
            EventFilter { source: Some("a".into()), since: Some(5), ..EventFilter::default() },
            "SELECT COUNT(*) FROM events e WHERE e.source = $1 AND e.received_at >= $2",
            &[Bind::Text("a".into()), Bind::Int(5)],
        );
        check(
            EventFilter {
                rule: Some("r".into()),
                status: Some(Status::Dead),
                until: Some(9),
                ..EventFilter::default()
            },
            "SELECT COUNT(*) FROM events e WHERE instr(e.matched_rules, $1) > 0 AND EXISTS (SELECT 1 FROM \
             deliveries d WHERE d.event_id = e.id AND d.status = $2) AND e.received_at < $3",
            &[Bind::Text("\"r\"".into()), Bind::Text("dead".into()), Bind::Int(9)],
        );
        // The page does not change the count.
        let paged = EventFilter { before: Some("x".into()), limit: 3, ..EventFilter::default() };
        check(paged, "SELECT COUNT(*) FROM events e", &[]);
    }

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
        // No success in the window: failing; a failure just after a success (one retry): not
        // failing. Groups of two destinations interleaved.
        check(
            vec![g("b", 30, 2, 0), g("a", 5, 4, 2), g("b", 10, 2, 0)],
            &[("a", 4, Some(0.5), Some(5), Some(5), false), ("b", 4, Some(0.0), Some(10), Some(30), true)],
        );
    }

    #[test]
    fn failing_means_only_failures_for_a_minute() {
        let check = |last_ok: Option<i64>, last_failed: Option<i64>, failing: bool| {
            let mut group = g("a", 10, 2, 1);
            (group.last_delivered_at, group.last_failed_at) = (last_ok, last_failed);
            assert_eq!(fold_latencies(vec![group])[0].failing, failing, "{last_ok:?} {last_failed:?}");
        };
        check(Some(200), Some(100), false);
        check(Some(100), Some(200), false);
        check(Some(100), Some(60_099), false);
        check(Some(100), Some(60_100), true);
        check(None, Some(100), true);
        check(Some(100), None, false);
    }
}
