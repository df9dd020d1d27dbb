//! The dashboard overview's aggregate queries (`/api/activity`, issue 16) at 1 000 000 stored events,
//! on SQLite and PostgreSQL: each store method the endpoint calls, for the hour and the day window.
//! The goal is under 100 ms each.
//!
//!   cargo bench --bench overview                          # 1 000 000 events, SQLite + PostgreSQL
//!   OVERVIEW_EVENTS=100000 cargo bench --bench overview -- sqlite   # smaller, SQLite only
//!
//! The store is filled by bulk SQL, not through HTTP: `OVERVIEW_EVENTS` events spread evenly over
//! the last 10 days (100 000 a day, ~70 a minute), 4 sources, one delivery each to one of 5
//! destinations (2 % dead, 1 % failed waiting for a retry, the rest delivered) with one attempt
//! each (latency 5-504 ms). PostgreSQL is `HOOKROUTE_BENCH_POSTGRES` (default the test server,
//! database `test`): a fresh database is created and dropped; when it does not answer, only SQLite
//! is measured.

use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use hookroute::store::{EventFilter, Filter, PostgresStore, SqliteStore, Status, Store};
use sqlx::Connection;
use tokio::runtime::Runtime;

const DAY_MS: i64 = 24 * 3_600_000;
const SPREAD_DAYS: i64 = 10;
/// Events per INSERT statement (one transaction each), so the fill is bounded and reports progress.
const CHUNK: i64 = 100_000;

fn events_wanted() -> i64 {
    std::env::var("OVERVIEW_EVENTS").ok().and_then(|v| v.parse().ok()).unwrap_or(1_000_000)
}

fn now_ms() -> i64 {
    i64::try_from(
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis()),
    )
    .unwrap_or(0)
}

/// Event `i`'s columns, as SQL expressions over `i` shared by both fills. `$1` is the start time,
/// `$2` the step between events (ms).
const EVENT_COLUMNS: &str = "'source-' || (i % 4), 'order.updated', $1 + i * $2, '[\"r\"]', 'v1'";
const STATUS: &str = "CASE WHEN i % 50 = 0 THEN 'dead' WHEN i % 100 = 1 THEN 'failed' ELSE 'delivered' END";
const OUTCOME: &str = "CASE WHEN i % 50 = 0 THEN 'dead' WHEN i % 100 = 1 THEN 'retry' ELSE 'delivered' END";

/// The three INSERTs of one chunk (`$3`..`$4` are the event numbers), for a database whose integer
/// series is `series`, whose zero-padded text of `i` is `id`, and whose blob literal is `blob`.
fn fill_statements(series: &str, id: &str, blob: &str, override_ids: &str) -> [String; 3] {
    [
        format!(
            "INSERT INTO events (id, source, event_type, received_at, matched_rules, rules_version, body, content_type)
             SELECT {id}, {EVENT_COLUMNS}, {blob}, 'application/json' FROM {series}"
        ),
        format!(
            "INSERT INTO deliveries (id, event_id, rule, action_index, destination, body, status, series, attempts,
                                     series_started_at, next_attempt_at, last_error, updated_at) {override_ids}
             SELECT i + 1, {id}, 'r', 0, 'dest-' || (i % 5), {blob}, {STATUS}, 1, 1, $1 + i * $2,
                    $1 + i * $2 + 60000, CASE WHEN i % 50 = 0 THEN 'HTTP 500' END, $1 + i * $2 + 60
             FROM {series}"
        ),
        format!(
            "INSERT INTO attempts (delivery_id, series, attempted_at, status_code, latency_ms, outcome, error)
             SELECT i + 1, 1, $1 + i * $2 + 50, CASE WHEN i % 50 = 0 OR i % 100 = 1 THEN 500 ELSE 200 END,
                    5 + (i * 7919) % 500, {OUTCOME}, CASE WHEN i % 50 = 0 OR i % 100 = 1 THEN 'HTTP 500' END
             FROM {series}"
        ),
    ]
}

/// Runs the three statements per chunk of events (one transaction each) on `$pool`; the fill's
/// duration. A macro: the two pools' executors have different types.
macro_rules! fill {
    ($rt:expr, $pool:expr, $statements:expr, $total:expr) => {{
        let started = Instant::now();
        let total: i64 = $total;
        let step = (SPREAD_DAYS * DAY_MS) / total.max(1);
        let start = now_ms() - step * total;
        let mut from = 0;
        while from < total {
            let to = (from + CHUNK).min(total);
            $rt.block_on(async {
                let mut tx = $pool.begin().await.expect("begin");
                for sql in $statements.iter() {
                    sqlx::query(sqlx::AssertSqlSafe(sql.clone()))
                        .bind(start)
                        .bind(step)
                        .bind(from)
                        .bind(to - 1)
                        .execute(&mut *tx)
                        .await
                        .expect("fill");
                }
                tx.commit().await.expect("commit");
            });
            from = to;
            eprintln!("  filled {to} of {total} events ({:.1} s)", started.elapsed().as_secs_f64());
        }
        started.elapsed()
    }};
}

/// Every store call `/api/activity` makes (charts per window; destination health always over the
/// last hour), then the events list's total.
fn measure(c: &mut Criterion, rt: &Runtime, name: &str, store: &dyn Store) {
    let mut group = c.benchmark_group(format!("overview/{name}"));
    group.sample_size(10).warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_secs(4));
    for (window, span, bucket) in [("hour", 3_600_000, 60_000), ("day", DAY_MS, 900_000)] {
        let since = now_ms() - span;
        group.bench_function(format!("event_rate/{window}"), |b| {
            b.iter(|| rt.block_on(store.event_rate(since, bucket)).expect("event rate"));
        });
        group.bench_function(format!("outcome_rate/{window}"), |b| {
            b.iter(|| rt.block_on(store.outcome_rate(since, bucket)).expect("outcome rate"));
        });
    }
    let hour = now_ms() - 3_600_000;
    group.bench_function("destination_glance/hour", |b| {
        b.iter(|| rt.block_on(store.destination_glance(hour)).expect("glance"));
    });
    group.bench_function("destination_stats/hour", |b| {
        b.iter(|| rt.block_on(store.destination_stats(hour, hour)).expect("stats"));
    });
    group.bench_function("recent_dead", |b| {
        let filter = Filter { status: Some(Status::Dead), limit: 5, ..Filter::default() };
        b.iter(|| rt.block_on(store.list(filter.clone())).expect("dead"));
    });
    group.bench_function("queue", |b| b.iter(|| rt.block_on(store.queue()).expect("queue")));
    group.bench_function("count_events/all", |b| {
        b.iter(|| rt.block_on(store.count_events(EventFilter::default())).expect("count"));
    });
    group.bench_function("count_events/source_last_day", |b| {
        let filter = EventFilter {
            source: Some("source-1".into()),
            since: Some(now_ms() - DAY_MS),
            ..EventFilter::default()
        };
        b.iter(|| rt.block_on(store.count_events(filter.clone())).expect("count"));
    });
    group.finish();
}

fn sqlite(c: &mut Criterion) {
    let rt = Runtime::new().expect("runtime");
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("sqlite://{}?synchronous=normal", dir.path().join("overview.db").display());
    let total = events_wanted();
    let store = rt.block_on(SqliteStore::open(&url)).expect("open");
    let pool = rt
        .block_on(sqlx::SqlitePool::connect(&url.replace("?synchronous=normal", "")))
        .expect("fill connection");
    let series =
        "(WITH RECURSIVE n(i) AS (SELECT $3 UNION ALL SELECT i + 1 FROM n WHERE i < $4) SELECT i FROM n)";
    let statements = fill_statements(series, "printf('%020d', i)", "X'7B7D'", "");
    eprintln!("SQLite: filling {total} events");
    let took = fill!(rt, pool, statements, total);
    // No ANALYZE: hookroute never runs it, so the planner works without statistics, as in service.
    eprintln!("SQLite: {total} events filled in {:.1} s", took.as_secs_f64());
    measure(c, &rt, "sqlite", &store);
}

fn postgres(c: &mut Criterion) {
    let rt = Runtime::new().expect("runtime");
    let admin = std::env::var("HOOKROUTE_BENCH_POSTGRES")
        .unwrap_or_else(|_| "postgres://root@127.0.0.1:5432/test".to_owned());
    let name = format!("hookroute_bench_overview_{}", std::process::id());
    let connected = rt.block_on(async {
        let mut conn = tokio::time::timeout(Duration::from_secs(5), sqlx::PgConnection::connect(&admin))
            .await
            .ok()?
            .ok()?;
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}"))).execute(&mut conn).await.ok()?;
        Some(conn)
    });
    let Some(mut conn) = connected else {
        eprintln!("PostgreSQL at {admin} does not answer: only SQLite was measured");
        return;
    };
    let url = format!("{}/{name}", admin.rsplit_once('/').map_or(admin.as_str(), |(base, _)| base));
    let total = events_wanted();
    {
        let store = rt.block_on(PostgresStore::open(&url)).expect("open");
        let pool = rt.block_on(sqlx::PgPool::connect(&url)).expect("fill connection");
        let statements = fill_statements(
            "generate_series($3::bigint, $4::bigint) AS i",
            "lpad(i::text, 20, '0')",
            "'\\x7b7d'::bytea",
            "OVERRIDING SYSTEM VALUE",
        );
        eprintln!("PostgreSQL: filling {total} events");
        let took = fill!(rt, pool, statements, total);
        rt.block_on(sqlx::query("VACUUM ANALYZE").execute(&pool)).expect("analyze");
        eprintln!("PostgreSQL: {total} events filled in {:.1} s", took.as_secs_f64());
        measure(c, &rt, "postgres", &store);
        rt.block_on(pool.close());
    }
    let dropped = rt.block_on(
        sqlx::query(sqlx::AssertSqlSafe(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")))
            .execute(&mut conn),
    );
    if let Err(e) = dropped {
        eprintln!("could not drop {name}: {e}");
    }
}

criterion_group!(benches, sqlite, postgres);
criterion_main!(benches);
