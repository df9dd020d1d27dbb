//! The embedded store: one SQLite file in WAL mode with `synchronous=FULL`, so a transaction that
//! committed survives a crash and a power cut. One process owns the file (its leases are released
//! at startup); several instances share work through PostgreSQL instead.

use std::str::FromStr;
use std::time::Duration;

use bytes::Bytes;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{AssertSqlSafe, QueryBuilder, Row, Sqlite, SqlitePool};

use super::inspect::{self, inspect_methods};
use super::overview::{self, overview_methods, per_minute_method};
use super::rows::{
    CLAIMED_COLUMNS, HELD_REASON, REPLAY_SET, RESUMED_STATUS, attempt_from_row, check_not_delivered,
    check_replayed, claimed_from_row, counts_from_rows, delivery_from_row, event_from_row,
    forward_store_methods, in_batch_duplicates, lease_until, next_columns, replay_guard,
};
use super::{
    AttemptRow, Claimed, Counts, DeliveryRow, DestinationStats, EventFilter, EventSummary, Filter, Held,
    Inserted, Lease, NewEvent, QueueStats, Recorded, ReplaySelector, Store, StoreError, StoreFuture,
    StoreResult, StoredEvent, Want,
};

/// The writer's page cache (negative: KiB). Its pages stay valid between transactions (it is the only
/// writer), so a larger cache saves re-reading hot pages from the WAL: +4-15 % events/s in a load
/// test, for ~16 MiB more resident memory (the default is 2 MiB).
const WRITER_CACHE_KIB: &str = "-16384";

/// Rows per multi-row INSERT (11 binds each stays far below SQLite's 32 766 variables).
const ROWS_PER_STATEMENT: usize = 500;

const MIGRATIONS: &[(i64, &str)] = &[
    (1, include_str!("../../migrations/sqlite/0001_init.sql")),
    (2, include_str!("../../migrations/sqlite/0002_inspection_indexes.sql")),
    (3, include_str!("../../migrations/sqlite/0003_claim_token.sql")),
    (6, include_str!("../../migrations/sqlite/0006_entity_state.sql")),
    (7, include_str!("../../migrations/sqlite/0007_threads.sql")),
    (8, include_str!("../../migrations/sqlite/0008_alert_episodes.sql")),
    (9, include_str!("../../migrations/sqlite/0009_overview_indexes.sql")),
];

/// Writes go through a pool of one connection, so writers queue in order inside the process instead
/// of spinning on SQLite's busy handler; reads use their own connections (WAL lets them run
/// alongside the writer).
#[derive(Clone)]
pub struct SqliteStore {
    pub(super) writer: SqlitePool,
    pub(super) reader: SqlitePool,
}

impl SqliteStore {
    /// Opens (creating and migrating) the database at `sqlite://PATH`. `?synchronous=normal` trades
    /// the last commits before a power cut (not a process crash) for fewer fsyncs.
    pub async fn open(url: &str) -> StoreResult<Self> {
        Self::open_with(url, true).await
    }

    /// Opens (and migrates) the database at `sqlite://PATH` only if the file exists: the commands
    /// that inspect a store must not turn a mistyped path into a new, empty one.
    pub async fn open_existing(url: &str) -> StoreResult<Self> {
        Self::open_with(url, false).await
    }

    async fn open_with(url: &str, create: bool) -> StoreResult<Self> {
        let (base, synchronous) = match url.split_once("?synchronous=") {
            Some((base, "full")) => (base, SqliteSynchronous::Full),
            Some((base, "normal")) => (base, SqliteSynchronous::Normal),
            Some(_) => return Err(StoreError::bad_url(url)),
            None => (url, SqliteSynchronous::Full),
        };
        let options = SqliteConnectOptions::from_str(base)
            .map_err(|_| StoreError::bad_url(url))?
            .create_if_missing(create)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(synchronous)
            .busy_timeout(Duration::from_secs(10))
            .foreign_keys(true);
        let file = options.get_filename();
        if !create && file != std::path::Path::new(":memory:") && !file.exists() {
            return Err(StoreError::Missing(file.display().to_string()));
        }
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .acquire_timeout(Duration::from_secs(30))
            .connect_with(options.clone().pragma("cache_size", WRITER_CACHE_KIB))
            .await?;
        migrate(&writer).await?;
        let reader = SqlitePoolOptions::new().max_connections(4).connect_with(options).await?;
        Ok(Self { writer, reader })
    }
}

async fn migrate(pool: &SqlitePool) -> StoreResult<()> {
    sqlx::query(
        "CREATE TABLE IF NOT EXISTS hookroute_migrations (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)",
    )
    .execute(pool)
    .await?;
    for (version, sql) in MIGRATIONS {
        let mut tx = pool.begin().await?;
        let applied: Option<i64> =
            sqlx::query_scalar("SELECT version FROM hookroute_migrations WHERE version = $1")
                .bind(version)
                .fetch_optional(&mut *tx)
                .await?;
        if applied.is_some() {
            continue;
        }
        sqlx::raw_sql(AssertSqlSafe(*sql))
            .execute(&mut *tx)
            .await
            .map_err(|e| StoreError::Migration(format!("version {version}: {e}")))?;
        sqlx::query("INSERT INTO hookroute_migrations (version, applied_at) VALUES ($1, $2)")
            .bind(version)
            .bind(crate::clock::now_ms())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
    }
    Ok(())
}

/// Leases as a JSON array of `[id, token]` pairs, for `json_each`.
fn lease_json(leases: &[Lease]) -> String {
    let pairs: Vec<[i64; 2]> = leases.iter().map(|l| [l.id, l.token]).collect();
    serde_json::to_string(&pairs).unwrap_or_else(|_| "[]".into())
}

pub(super) fn to_i64(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

fn placeholders(from: usize, count: usize) -> String {
    (from..from + count).map(|i| format!("${i}")).collect::<Vec<_>>().join(", ")
}

impl SqliteStore {
    async fn insert_batch(&self, batch: &[NewEvent], now: i64) -> StoreResult<Vec<Inserted>> {
        if super::entity::needs_keyed_insert(batch) {
            return self.insert_keyed(batch, now).await;
        }
        // Multi-row statements: one round trip to SQLite's thread per table, not per row.
        let (mut out, keyed) = in_batch_duplicates(batch);
        let mut tx = self.writer.begin().await?;
        if !keyed.is_empty() {
            let mut q = QueryBuilder::<Sqlite>::new("INSERT INTO dedup (source, key, event_id, expires_at) ");
            q.push_values(&keyed, |mut b, &i| {
                let ev = &batch[i];
                let d = ev.dedup.as_ref().map(|d| (d.key.clone(), d.expires_at)).unwrap_or_default();
                b.push_bind(ev.source.clone()).push_bind(d.0).push_bind(ev.id.clone()).push_bind(d.1);
            });
            q.push(
                " ON CONFLICT (source, key) DO UPDATE SET event_id = excluded.event_id, expires_at = excluded.expires_at
                  WHERE dedup.expires_at <= ",
            );
            q.push_bind(now);
            q.push(" RETURNING event_id");
            let fresh: std::collections::HashSet<String> =
                q.build_query_scalar::<String>().fetch_all(&mut *tx).await?.into_iter().collect();
            for &i in &keyed {
                let ev = &batch[i];
                if fresh.contains(&ev.id) {
                    continue;
                }
                let key = ev.dedup.as_ref().map(|d| d.key.as_str()).unwrap_or_default();
                let original: String =
                    sqlx::query_scalar("SELECT event_id FROM dedup WHERE source = $1 AND key = $2")
                        .bind(&ev.source)
                        .bind(key)
                        .fetch_one(&mut *tx)
                        .await?;
                out[i] = Some(Inserted::Duplicate(original));
            }
        }
        let new: Vec<&NewEvent> =
            batch.iter().zip(&out).filter(|(_, o)| o.is_none()).map(|(ev, _)| ev).collect();
        for chunk in new.chunks(ROWS_PER_STATEMENT) {
            let mut q = QueryBuilder::<Sqlite>::new(
                "INSERT INTO events (id, source, event_type, received_at, body, content_type, matched_rules, rules_version) ",
            );
            q.push_values(chunk, |mut b, ev| {
                let rules = serde_json::to_string(&ev.matched_rules).unwrap_or_else(|_| "[]".into());
                b.push_bind(ev.id.clone())
                    .push_bind(ev.source.clone())
                    .push_bind(ev.event_type.clone())
                    .push_bind(ev.received_at)
                    .push_bind(ev.body.to_vec())
                    .push_bind(ev.content_type.clone())
                    .push_bind(rules)
                    .push_bind(ev.rules_version.clone());
            });
            q.build().execute(&mut *tx).await?;
        }
        let deliveries: Vec<(&NewEvent, &super::NewDelivery)> =
            new.iter().flat_map(|ev| ev.deliveries.iter().map(move |d| (*ev, d))).collect();
        for chunk in deliveries.chunks(ROWS_PER_STATEMENT) {
            let mut q = QueryBuilder::<Sqlite>::new(
                "INSERT INTO deliveries (event_id, rule, action_index, destination, body, content_type, status,
                    series_started_at, next_attempt_at, last_error, updated_at) ",
            );
            q.push_values(chunk, |mut b, (ev, d)| {
                let (body, content_type, status, error) = match &d.request {
                    Ok((body, ct)) => (Some(body.to_vec()), ct.clone(), "pending", None),
                    Err(reason) => (None, None, "dead", Some(reason.clone())),
                };
                b.push_bind(ev.id.clone())
                    .push_bind(d.rule.clone())
                    .push_bind(to_i64(d.action_index))
                    .push_bind(d.destination.clone())
                    .push_bind(body)
                    .push_bind(content_type)
                    .push_bind(status)
                    .push_bind(now)
                    .push_bind(now)
                    .push_bind(error)
                    .push_bind(now);
            });
            q.build().execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(out.into_iter().map(|o| o.unwrap_or(Inserted::New)).collect())
    }

    async fn claim_due(
        &self,
        now: i64,
        lease: Duration,
        owner: &str,
        wants: &[Want],
    ) -> StoreResult<Vec<Claimed>> {
        let wants: Vec<&Want> = wants.iter().filter(|w| w.room > 0).collect();
        let mut claimed = Vec::new();
        // SQLite allows 500 terms per compound select: one statement per 400 destinations.
        for chunk in wants.chunks(400) {
            claimed.extend(self.claim_chunk(now, lease, owner, chunk).await?);
        }
        Ok(claimed)
    }

    /// One statement: for each destination, an index seek through its due deliveries, at most
    /// its room; every row claimed gets the next token.
    async fn claim_chunk(
        &self,
        now: i64,
        lease: Duration,
        owner: &str,
        wants: &[&Want],
    ) -> StoreResult<Vec<Claimed>> {
        const DUE: &str = "status IN ('pending', 'failed') AND next_attempt_at <= $3
                  AND (lease_until IS NULL OR lease_until <= $3)";
        // INDEXED BY: walk a partial index of due work in order and stop at LIMIT. Left to itself
        // the planner picks the status index and sorts every pending row on each claim.
        let per_destination: Vec<String> = (0..wants.len())
            .map(|i| {
                format!(
                    "SELECT * FROM (SELECT id FROM deliveries INDEXED BY deliveries_due_destination
                     WHERE destination = ${} AND {DUE} ORDER BY next_attempt_at LIMIT ${})",
                    2 * i + 4,
                    2 * i + 5
                )
            })
            .collect();
        let sql = format!(
            "UPDATE deliveries SET lease_owner = $1, lease_until = $2, claim_token = claim_token + 1
             WHERE id IN ({}) RETURNING {CLAIMED_COLUMNS}",
            per_destination.join(" UNION ALL ")
        );
        // Only placeholders are formatted in; values are bound.
        let mut q = sqlx::query(AssertSqlSafe(sql)).bind(owner).bind(lease_until(now, lease)).bind(now);
        for w in wants {
            q = q.bind(&w.destination).bind(to_i64(w.room));
        }
        let rows = q.fetch_all(&self.writer).await?;
        rows.iter().map(|r| Ok(claimed_from_row!(r))).collect()
    }

    async fn record_batch(&self, batch: &[Recorded]) -> StoreResult<Vec<i64>> {
        let mut tx = self.writer.begin().await?;
        let mut stale = Vec::new();
        for r in batch {
            let a = &r.attempt;
            let (status, next_at, outcome) = next_columns(r);
            // Fenced: a replay started a new series, or the lease expired and another claim
            // took the delivery: then this record changes nothing.
            let moved = sqlx::query(
                "UPDATE deliveries SET status = $1, attempts = attempts + 1, next_attempt_at = $2, last_error = $3,
                    lease_owner = NULL, lease_until = NULL, updated_at = $4
                 WHERE id = $5 AND series = $6 AND claim_token = $7",
            )
            .bind(status)
            .bind(next_at)
            .bind(super::storable(r.error.as_ref()))
            .bind(a.attempted_at)
            .bind(r.id)
            .bind(r.series)
            .bind(r.token)
            .execute(&mut *tx)
            .await?;
            if moved.rows_affected() == 0 {
                stale.push(r.id);
                continue;
            }
            sqlx::query(
                "INSERT INTO attempts (delivery_id, series, attempted_at, status_code, latency_ms, outcome, error, response_excerpt)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            )
            .bind(r.id)
            .bind(r.series)
            .bind(a.attempted_at)
            .bind(a.status_code.map(i64::from))
            .bind(a.latency_ms)
            .bind(outcome)
            .bind(super::storable(a.error.as_ref()))
            .bind(super::storable(a.response_excerpt.as_ref()))
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(stale)
    }

    async fn replay_selected(&self, selector: ReplaySelector, force: bool, now: i64) -> StoreResult<u64> {
        const SET: &str = REPLAY_SET;
        let guard = replay_guard(force);
        let result = match selector {
            ReplaySelector::Ids(ids) => {
                if !force {
                    let sql = format!(
                        "SELECT id FROM deliveries WHERE status = 'delivered' AND id IN ({})",
                        placeholders(1, ids.len())
                    );
                    let mut q = sqlx::query_scalar::<_, i64>(AssertSqlSafe(sql));
                    for id in &ids {
                        q = q.bind(id);
                    }
                    check_not_delivered(&q.fetch_all(&self.writer).await?)?;
                }
                let sql = format!("{SET} WHERE id IN ({}){guard}", placeholders(2, ids.len()));
                let mut q = sqlx::query(AssertSqlSafe(sql)).bind(now);
                for id in &ids {
                    q = q.bind(id);
                }
                let r = q.execute(&self.writer).await?;
                check_replayed(ids.len(), r.rows_affected())?;
                r
            }
            ReplaySelector::Event(event) => {
                sqlx::query(AssertSqlSafe(format!("{SET} WHERE event_id = $2{guard}")))
                    .bind(now)
                    .bind(event)
                    .execute(&self.writer)
                    .await?
            }
            ReplaySelector::Status { status, since } => {
                sqlx::query(AssertSqlSafe(format!("{SET} WHERE status = $2 AND updated_at >= $3{guard}")))
                    .bind(now)
                    .bind(status.as_str())
                    .bind(since.unwrap_or(i64::MIN))
                    .execute(&self.writer)
                    .await?
            }
        };
        Ok(result.rows_affected())
    }
}

impl Store for SqliteStore {
    forward_store_methods!();
    inspect_methods!(reader);
    overview_methods!(reader, "instr");
    super::threads::thread_methods!(writer, "");

    fn release(&self, leases: &[Lease]) -> StoreFuture<'_, ()> {
        let leases = lease_json(leases);
        Box::pin(async move {
            sqlx::query(
                "UPDATE deliveries SET lease_owner = NULL, lease_until = NULL
                 FROM (SELECT json_extract(value, '$[0]') AS id, json_extract(value, '$[1]') AS token
                       FROM json_each($1)) AS l
                 WHERE deliveries.id = l.id AND deliveries.claim_token = l.token",
            )
            .bind(leases)
            .execute(&self.writer)
            .await?;
            Ok(())
        })
    }

    fn renew(&self, leases: &[Lease], until: i64) -> StoreFuture<'_, Vec<i64>> {
        let leases = lease_json(leases);
        Box::pin(async move {
            let renewed = sqlx::query_scalar(
                "UPDATE deliveries SET lease_until = $1
                 FROM (SELECT json_extract(value, '$[0]') AS id, json_extract(value, '$[1]') AS token
                       FROM json_each($2)) AS l
                 WHERE deliveries.id = l.id AND deliveries.claim_token = l.token
                   AND deliveries.lease_owner IS NOT NULL
                 RETURNING deliveries.id",
            )
            .bind(until)
            .bind(leases)
            .fetch_all(&self.writer)
            .await?;
            Ok(renewed)
        })
    }

    fn hold(&self, known: &[String], version: &str, now: i64) -> StoreFuture<'_, Held> {
        let known = serde_json::to_string(known).unwrap_or_else(|_| "[]".into());
        let version = version.to_owned();
        Box::pin(async move {
            let mut tx = self.writer.begin().await?;
            let held = sqlx::query(AssertSqlSafe(format!(
                "UPDATE deliveries SET status = 'held', last_error = {HELD_REASON}, updated_at = $3
                 WHERE status IN ('pending', 'failed') AND destination NOT IN (SELECT value FROM json_each($1))"
            )))
            .bind(&known)
            .bind(&version)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            let resumed = sqlx::query(AssertSqlSafe(format!(
                "UPDATE deliveries SET status = {RESUMED_STATUS}, last_error = NULL, updated_at = $2
                 WHERE status = 'held' AND destination IN (SELECT value FROM json_each($1))"
            )))
            .bind(&known)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            Ok(Held { held: held.rows_affected(), resumed: resumed.rows_affected() })
        })
    }

    fn release_stale_leases(&self) -> StoreFuture<'_, u64> {
        Box::pin(async move {
            let r = sqlx::query(
                "UPDATE deliveries SET lease_owner = NULL, lease_until = NULL WHERE lease_owner IS NOT NULL",
            )
            .execute(&self.writer)
            .await?;
            Ok(r.rows_affected())
        })
    }

    fn ping(&self) -> StoreFuture<'_, ()> {
        Box::pin(async move {
            sqlx::query("SELECT 1").execute(&self.reader).await?;
            Ok(())
        })
    }

    fn event(&self, id: &str) -> StoreFuture<'_, Option<StoredEvent>> {
        let id = id.to_owned();
        Box::pin(async move {
            let row = sqlx::query(
                "SELECT id, source, event_type, received_at, body, content_type, matched_rules, rules_version
                 FROM events WHERE id = $1",
            )
            .bind(&id)
            .fetch_optional(&self.reader)
            .await?;
            row.map(|r| Ok(event_from_row!(r))).transpose()
        })
    }

    fn counts(&self) -> StoreFuture<'_, Counts> {
        Box::pin(async move {
            let rows = sqlx::query("SELECT status, COUNT(*) AS n FROM deliveries GROUP BY status")
                .fetch_all(&self.reader)
                .await?;
            Ok(counts_from_rows!(rows))
        })
    }

    fn prune_state(&self, before: i64) -> StoreFuture<'_, u64> {
        Box::pin(self.forget_states(before))
    }

    // Operator events (issue 16).
    super::episodes::episode_methods!(writer, reader);

    fn prune(&self, before: i64, include_dead: bool, now: i64) -> StoreFuture<'_, u64> {
        Box::pin(async move {
            let finished = if include_dead {
                "('delivered', 'cancelled', 'dead')"
            } else {
                "('delivered', 'cancelled')"
            };
            // `finished` is one of two constant lists.
            let r = sqlx::query(AssertSqlSafe(format!(
                "DELETE FROM events WHERE received_at < $1 AND NOT EXISTS (
                    SELECT 1 FROM deliveries d WHERE d.event_id = events.id AND d.status NOT IN {finished})"
            )))
            .bind(before)
            .execute(&self.writer)
            .await?;
            sqlx::query("DELETE FROM dedup WHERE expires_at <= $1").bind(now).execute(&self.writer).await?;
            Ok(r.rows_affected())
        })
    }
}

/// The overview's per-minute counts (see `store::overview`).
impl SqliteStore {
    per_minute_method!(reader);
}
