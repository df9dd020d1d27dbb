//! `GET /api/activity`: the overview page's data in one answer — events per bucket by source,
//! attempts per bucket by outcome (over the chosen window), each destination's success rate,
//! p50/p95 latency and whether it is failing (always over the last hour: health is about now),
//! dead letters, and the queue. The store aggregates (see `store::overview`); this lays its sparse
//! rows out as dense series aligned to bucket boundaries.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use super::params::{self, Params, given};
use super::{AdminState, store_error};
use crate::clock::now_ms;
use crate::store::{Filter, Status};

/// The outcomes an attempt records, in the order the page stacks them.
pub const OUTCOMES: [&str; 3] = ["delivered", "retry", "dead"];
/// Dead deliveries listed on the overview (the dead-letter page has them all).
const RECENT_DEAD: i64 = 5;
/// Destination health reads the attempts of the last hour, whatever the charts' window.
const HEALTH_MS: i64 = 3_600_000;

/// A chart's time range: `buckets` buckets of `bucket_ms`, the last one holding now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub name: &'static str,
    pub bucket_ms: i64,
    pub buckets: usize,
}

pub const HOUR: Window = Window { name: "hour", bucket_ms: 60_000, buckets: 60 };
pub const DAY: Window = Window { name: "day", bucket_ms: 15 * 60_000, buckets: 96 };

impl Window {
    pub fn parse(v: Option<String>) -> Result<Self, params::Invalid> {
        match given(v).as_deref() {
            None | Some("hour") => Ok(HOUR),
            Some("day") => Ok(DAY),
            Some(other) => Err(params::Invalid(format!("`window` must be `hour` or `day`, not `{other}`"))),
        }
    }

    /// The start of the first bucket: bucket boundaries are multiples of `bucket_ms` (whole minutes,
    /// quarter hours), and the last bucket is the one `now` is in.
    pub fn start(self, now: i64) -> i64 {
        let current = now.div_euclid(self.bucket_ms) * self.bucket_ms;
        current - (self.buckets as i64 - 1) * self.bucket_ms
    }
}

/// Sparse `(bucket, key, count)` rows as one dense series per key (zeros where nothing happened);
/// rows outside the window are dropped.
pub fn dense<'a>(
    buckets: usize,
    rows: impl IntoIterator<Item = (i64, &'a str, i64)>,
) -> BTreeMap<String, Vec<i64>> {
    let mut out: BTreeMap<String, Vec<i64>> = BTreeMap::new();
    for (bucket, key, n) in rows {
        let Ok(i) = usize::try_from(bucket) else { continue };
        if i < buckets {
            out.entry(key.to_owned()).or_insert_with(|| vec![0; buckets])[i] += n;
        }
    }
    out
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(in crate::admin) struct ActivityQuery {
    window: Option<String>,
}

pub(in crate::admin) async fn activity(
    State(state): State<AdminState>,
    Params(q): Params<ActivityQuery>,
) -> Response {
    let window = match Window::parse(q.window) {
        Ok(w) => w,
        Err(e) => return e.into_response(),
    };
    let now = now_ms();
    let since = window.start(now);
    let health_since = now - HEALTH_MS;
    let store = &state.store;
    let dead_filter = Filter { status: Some(Status::Dead), limit: RECENT_DEAD, ..Filter::default() };
    let answers = tokio::try_join!(
        store.event_rate(since, window.bucket_ms),
        store.outcome_rate(since, window.bucket_ms),
        store.destination_glance(health_since),
        store.destination_stats(health_since, health_since),
        store.list(dead_filter),
        store.queue(),
    );
    let (events, outcomes, glance, stats, dead, queue) = match answers {
        Ok(all) => all,
        Err(e) => return store_error(&e),
    };
    let mut by_source = dense(window.buckets, events.iter().map(|b| (b.bucket, b.source.as_str(), b.events)));
    let config = state.reloader.current().load_full();
    for source in config.sources.keys() {
        by_source.entry(source.clone()).or_insert_with(|| vec![0; window.buckets]);
    }
    let mut by_outcome =
        dense(window.buckets, outcomes.iter().map(|b| (b.bucket, b.outcome.as_str(), b.attempts)));
    for outcome in OUTCOMES {
        by_outcome.entry(outcome.to_owned()).or_insert_with(|| vec![0; window.buckets]);
    }
    let total = |series: &BTreeMap<String, Vec<i64>>| -> BTreeMap<String, i64> {
        series.iter().map(|(k, v)| (k.clone(), v.iter().sum())).collect()
    };

    let mut names: Vec<String> = config.destinations.keys().cloned().collect();
    names.extend(glance.iter().map(|g| g.name.clone()));
    names.extend(stats.iter().map(|s| s.name.clone()));
    names.sort_unstable();
    names.dedup();
    let destinations: Vec<Value> = names
        .iter()
        .map(|name| {
            let g = glance.iter().find(|g| &g.name == name);
            let s = stats.iter().find(|s| &s.name == name);
            json!({
                "name": name,
                "in_rules": config.destinations.contains_key(name),
                "attempts": g.map_or(0, |g| g.attempts),
                "delivered": g.map_or(0, |g| g.delivered),
                "success_rate": g.and_then(|g| g.success_rate),
                "p50_latency_ms": g.and_then(|g| g.p50_latency_ms),
                "p95_latency_ms": g.and_then(|g| g.p95_latency_ms),
                "last_delivered_at": g.and_then(|g| g.last_delivered_at),
                "last_failed_at": g.and_then(|g| g.last_failed_at),
                "failing": g.is_some_and(|g| g.failing),
                "last_error": s.and_then(|s| s.last_error.clone()),
                "pending": s.map_or(0, |s| s.pending),
                "held": s.map_or(0, |s| s.held),
                "dead": s.map_or(0, |s| s.dead),
            })
        })
        .collect();
    let recent_dead: Vec<Value> = dead
        .iter()
        .map(|d| {
            json!({
                "id": d.id, "event_id": d.event_id, "rule": d.rule, "destination": d.destination,
                "attempts": d.attempts, "last_error": d.last_error, "updated_at": d.updated_at,
            })
        })
        .collect();
    let oldest = queue.oldest_started_at.map(|t| (now - t).max(0) as f64 / 1000.0);
    Json(json!({
        "window": window.name,
        "now": now,
        "since": since,
        "bucket_seconds": window.bucket_ms / 1000,
        "buckets": window.buckets,
        "events": { "by_source": by_source, "totals": total(&by_source) },
        "attempts": { "by_outcome": by_outcome, "totals": total(&by_outcome) },
        "destinations": destinations,
        "failing": glance.iter().filter(|g| g.failing).map(|g| g.name.clone()).collect::<Vec<_>>(),
        "health_since": health_since,
        "dead": { "total": stats.iter().map(|s| s.dead).sum::<i64>(), "recent": recent_dead },
        "queue": { "depth": queue.depth, "oldest_pending_age_seconds": oldest },
    }))
    .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_align_to_bucket_boundaries_and_end_at_now() {
        let check = |w: Window, now: i64, start: i64| assert_eq!(w.start(now), start, "{} at {now}", w.name);
        check(HOUR, 3_600_000, 3_600_000 - 59 * 60_000);
        check(HOUR, 3_600_000 + 59_999, 3_600_000 - 59 * 60_000);
        check(HOUR, 3_660_000, 3_660_000 - 59 * 60_000);
        check(DAY, 86_400_000 + 1, 86_400_000 - 95 * 900_000);
    }

    #[test]
    fn window_names() {
        assert_eq!(Window::parse(None), Ok(HOUR));
        assert_eq!(Window::parse(Some("day".into())), Ok(DAY));
        assert!(Window::parse(Some("week".into())).is_err_and(|e| e.0.contains("not `week`")));
    }

    #[test]
    fn sparse_rows_become_dense_series() {
        let got = dense(3, [(0, "a", 2), (2, "a", 1), (1, "b", 5), (3, "b", 9), (-1, "b", 9)]);
        let want: BTreeMap<String, Vec<i64>> =
            [("a".to_owned(), vec![2, 0, 1]), ("b".to_owned(), vec![0, 5, 0])].into_iter().collect();
        assert_eq!(got, want);
        assert!(dense(3, []).is_empty());
    }
}
