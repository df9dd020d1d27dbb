//! The shared store: PostgreSQL, so several hookroute instances accept and deliver together.
//!
//! Claims use `FOR UPDATE SKIP LOCKED` with a lease, so two live workers never hold the same
//! delivery and a dead instance's claims return to the pool when their lease ends. Dedup keys are
//! arbitrated by the primary key, so a repeat is caught whichever instance it reaches. Migrations
//! take an advisory lock, so instances can start together.

use std::time::Duration;

use bytes::Bytes;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{AssertSqlSafe, PgPool, Row};

use super::inspect::{self, inspect_methods};
use super::nodelay::Relay;
use super::overview::{self, overview_methods, per_minute_method};
use super::rows::{
    HELD_REASON, REPLAY_SET, RESUMED_STATUS, attempt_from_row, check_not_delivered, check_replayed,
    counts_from_rows, delivery_from_row, event_from_row, forward_store_methods, in_batch_duplicates,
    next_columns, replay_guard, stale_ids,
};
use super::{
    AttemptRow, Claimed, Counts, DeliveryRow, DestinationStats, EventFilter, EventSummary, Filter, Held,
    Inserted, Lease, NewEvent, QueueStats, Recorded, ReplaySelector, Store, StoreError, StoreFuture,
    StoreResult, StoredEvent, Want,
};

mod claim;
mod columns;
mod entity;

use columns::{DeliveryColumns, EventColumns, RecordColumns};

const MIGRATIONS: &[(i64, &str)] = &[
    (1, include_str!("../../../migrations/postgres/0001_init.sql")),
    (2, include_str!("../../../migrations/postgres/0002_inspection_indexes.sql")),
    (3, include_str!("../../../migrations/postgres/0003_claim_token.sql")),
    (4, include_str!("../../../migrations/postgres/0004_destination_buckets.sql")),
    (5, include_str!("../../../migrations/postgres/0005_leased_index.sql")),
    (6, include_str!("../../../migrations/postgres/0006_entity_state.sql")),
    (7, include_str!("../../../migrations/postgres/0007_threads.sql")),
    (8, include_str!("../../../migrations/postgres/0008_alert_episodes.sql")),
    (9, include_str!("../../../migrations/postgres/0009_overview_indexes.sql")),
];
/// Any constant shared by all instances: serialises migrations.
const MIGRATION_LOCK: i64 = 0x686f_6f6b_726f_7574;

#[derive(Clone)]
pub struct PostgresStore {
    pool: PgPool,
    /// Kept alive as long as the pool (see `nodelay`).
    _relay: Option<std::sync::Arc<Relay>>,
}

impl PostgresStore {
    /// Connects to `postgres://USER@HOST:PORT/DB` and migrates. The pool reconnects by itself after
    /// an outage; until then every operation fails fast and the HTTP layer answers 503.
    pub async fn open(url: &str) -> StoreResult<Self> {
        let mut options: PgConnectOptions = url.parse().map_err(|_| StoreError::bad_url(url))?;
        let relay = if options.get_socket().is_none() && Relay::applies_to(options.get_host()) {
            let relay = Relay::start(options.get_host(), options.get_port()).map_err(|e| {
                StoreError::Migration(format!("cannot start the local PostgreSQL relay: {e}"))
            })?;
            options = options.socket(relay.dir());
            Some(std::sync::Arc::new(relay))
        } else {
            None
        };
        let pool = PgPoolOptions::new()
            .max_connections(16)
            .min_connections(1)
            .acquire_timeout(Duration::from_secs(3))
            .connect_with(options)
            .await?;
        migrate(&pool).await?;
        Ok(Self { pool, _relay: relay })
    }
}

async fn migrate(pool: &PgPool) -> StoreResult<()> {
    let mut tx = pool.begin().await?;
    sqlx::query("SELECT pg_advisory_xact_lock($1)").bind(MIGRATION_LOCK).execute(&mut *tx).await?;
    sqlx::query(
        "CREATE TABLE IF NOT EXISTS hookroute_migrations (version BIGINT PRIMARY KEY, applied_at BIGINT NOT NULL)",
    )
    .execute(&mut *tx)
    .await?;
    for (version, sql) in MIGRATIONS {
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
    }
    tx.commit().await?;
    Ok(())
}

fn to_i64(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

impl PostgresStore {
    /// The whole batch in ONE statement (atomic by itself, so no BEGIN/COMMIT round trips): arrays
    /// in, data-modifying CTEs for dedup keys, events and deliveries. One constant SQL text is
    /// prepared once and then sent as a single write, which also keeps sqlx 0.9's sockets (no
    /// TCP_NODELAY) clear of Nagle/delayed-ACK stalls that multi-statement transactions hit.
    async fn insert_batch(&self, batch: &[NewEvent], now: i64) -> StoreResult<Vec<Inserted>> {
        if super::entity::needs_keyed_insert(batch) {
            return self.insert_keyed(batch, now).await;
        }
        let (mut out, _) = in_batch_duplicates(batch);
        let mut e = EventColumns::default();
        let mut d = DeliveryColumns::default();
        for (ev, _) in batch.iter().zip(&out).filter(|(_, o)| o.is_none()) {
            e.id.push(ev.id.clone());
            e.source.push(ev.source.clone());
            e.event_type.push(ev.event_type.clone());
            e.received_at.push(ev.received_at);
            e.body.push(ev.body.to_vec());
            e.content_type.push(ev.content_type.clone());
            e.matched_rules.push(serde_json::to_string(&ev.matched_rules).unwrap_or_else(|_| "[]".into()));
            e.rules_version.push(ev.rules_version.clone());
            e.dedup_key.push(ev.dedup.as_ref().map(|k| k.key.clone()));
            e.dedup_expires.push(ev.dedup.as_ref().map_or(0, |k| k.expires_at));
            for del in &ev.deliveries {
                let (body, content_type, status, error) = match &del.request {
                    Ok((body, ct)) => (Some(body.to_vec()), ct.clone(), "pending", None),
                    Err(reason) => (None, None, "dead", Some(reason.clone())),
                };
                d.event_id.push(ev.id.clone());
                d.rule.push(del.rule.clone());
                d.action_index.push(to_i64(del.action_index));
                d.destination.push(del.destination.clone());
                d.body.push(body);
                d.content_type.push(content_type);
                d.status.push(status);
                d.error.push(error);
            }
        }
        let accepted: Vec<String> = sqlx::query_scalar(
            "WITH input AS (
                SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::bigint[], $5::bytea[], $6::text[],
                                     $7::text[], $8::text[], $9::text[], $10::bigint[])
                  AS t(id, source, event_type, received_at, body, content_type, matched_rules, rules_version,
                       dedup_key, dedup_expires)),
             fresh AS (
                INSERT INTO dedup (source, key, event_id, expires_at)
                SELECT source, dedup_key, id, dedup_expires FROM input WHERE dedup_key IS NOT NULL
                ON CONFLICT (source, key) DO UPDATE SET event_id = excluded.event_id, expires_at = excluded.expires_at
                  WHERE dedup.expires_at <= $11
                RETURNING event_id),
             accepted AS (
                SELECT * FROM input WHERE dedup_key IS NULL OR id IN (SELECT event_id FROM fresh)),
             stored AS (
                INSERT INTO events (id, source, event_type, received_at, body, content_type, matched_rules, rules_version)
                SELECT id, source, event_type, received_at, body, content_type, matched_rules, rules_version
                FROM accepted),
             planned AS (
                INSERT INTO deliveries (event_id, rule, action_index, destination, body, content_type, status,
                                        series_started_at, next_attempt_at, last_error, updated_at)
                SELECT p.event_id, p.rule, p.action_index, p.destination, p.body, p.content_type, p.status,
                       $11, $11, p.error, $11
                FROM UNNEST($12::text[], $13::text[], $14::bigint[], $15::text[], $16::bytea[], $17::text[],
                            $18::text[], $19::text[])
                  AS p(event_id, rule, action_index, destination, body, content_type, status, error)
                WHERE p.event_id IN (SELECT id FROM accepted))
             SELECT id FROM accepted",
        )
        .bind(&e.id)
        .bind(&e.source)
        .bind(&e.event_type)
        .bind(&e.received_at)
        .bind(&e.body)
        .bind(&e.content_type)
        .bind(&e.matched_rules)
        .bind(&e.rules_version)
        .bind(&e.dedup_key)
        .bind(&e.dedup_expires)
        .bind(now)
        .bind(&d.event_id)
        .bind(&d.rule)
        .bind(&d.action_index)
        .bind(&d.destination)
        .bind(&d.body)
        .bind(&d.content_type)
        .bind(&d.status)
        .bind(&d.error)
        .fetch_all(&self.pool)
        .await?;
        let accepted: std::collections::HashSet<String> = accepted.into_iter().collect();
        for (i, ev) in batch.iter().enumerate() {
            if out[i].is_some() || accepted.contains(&ev.id) {
                continue;
            }
            // Seen within the window (by this instance or another): answer with the original id.
            let key = ev.dedup.as_ref().map(|k| k.key.as_str()).unwrap_or_default();
            let original: Option<String> =
                sqlx::query_scalar("SELECT event_id FROM dedup WHERE source = $1 AND key = $2")
                    .bind(&ev.source)
                    .bind(key)
                    .fetch_optional(&self.pool)
                    .await?;
            out[i] = Some(Inserted::Duplicate(original.unwrap_or_default()));
        }
        Ok(out.into_iter().map(|o| o.unwrap_or(Inserted::New)).collect())
    }

    async fn record_batch(&self, batch: &[Recorded]) -> StoreResult<Vec<i64>> {
        // One statement for the whole batch: arrays in, one row per attempt out of UNNEST.
        let mut c = RecordColumns::default();
        for r in batch {
            let (status, next_at, outcome) = next_columns(r);
            c.id.push(r.id);
            c.series.push(r.series);
            c.token.push(r.token);
            c.attempted_at.push(r.attempt.attempted_at);
            c.status_code.push(r.attempt.status_code.map(i64::from));
            c.latency_ms.push(r.attempt.latency_ms);
            c.outcome.push(outcome);
            c.error.push(super::storable(r.attempt.error.as_ref()));
            c.excerpt.push(super::storable(r.attempt.response_excerpt.as_ref()));
            c.status.push(status);
            c.next_at.push(next_at);
            c.last_error.push(super::storable(r.error.as_ref()));
        }
        // Fenced: only rows whose series and token are still the claim's move on and get their
        // attempt; the others changed hands (or were replayed) and are returned as stale.
        let applied: Vec<i64> = sqlx::query_scalar(
            "WITH r AS (
                SELECT * FROM UNNEST($1::bigint[], $2::bigint[], $3::bigint[], $4::bigint[], $5::bigint[],
                                     $6::text[], $7::text[], $8::text[], $9::text[], $10::bigint[], $11::text[],
                                     $12::bigint[])
                  AS t(id, series, attempted_at, status_code, latency_ms, outcome, error, excerpt, status, next_at,
                       last_error, token)),
             moved AS (
                UPDATE deliveries d SET status = r.status, attempts = d.attempts + 1, next_attempt_at = r.next_at,
                       last_error = r.last_error, lease_owner = NULL, lease_until = NULL, updated_at = r.attempted_at
                FROM r WHERE d.id = r.id AND d.series = r.series AND d.claim_token = r.token
                RETURNING d.id),
             ins AS (
                INSERT INTO attempts (delivery_id, series, attempted_at, status_code, latency_ms, outcome, error,
                                      response_excerpt)
                SELECT id, series, attempted_at, status_code, latency_ms, outcome, error, excerpt FROM r
                WHERE id IN (SELECT id FROM moved))
             SELECT id FROM moved",
        )
        .bind(&c.id)
        .bind(&c.series)
        .bind(&c.attempted_at)
        .bind(&c.status_code)
        .bind(&c.latency_ms)
        .bind(&c.outcome)
        .bind(&c.error)
        .bind(&c.excerpt)
        .bind(&c.status)
        .bind(&c.next_at)
        .bind(&c.last_error)
        .bind(&c.token)
        .fetch_all(&self.pool)
        .await?;
        Ok(stale_ids(batch, &applied))
    }

    async fn replay_selected(&self, selector: ReplaySelector, force: bool, now: i64) -> StoreResult<u64> {
        const SET: &str = REPLAY_SET;
        let guard = replay_guard(force);
        let result = match selector {
            ReplaySelector::Ids(ids) => {
                if !force {
                    let delivered = sqlx::query_scalar::<_, i64>(
                        "SELECT id FROM deliveries WHERE status = 'delivered' AND id = ANY($1)",
                    )
                    .bind(&ids)
                    .fetch_all(&self.pool)
                    .await?;
                    check_not_delivered(&delivered)?;
                }
                let r = sqlx::query(AssertSqlSafe(format!("{SET} WHERE id = ANY($2){guard}")))
                    .bind(now)
                    .bind(&ids)
                    .execute(&self.pool)
                    .await?;
                check_replayed(ids.len(), r.rows_affected())?;
                r
            }
            ReplaySelector::Event(event) => {
                sqlx::query(AssertSqlSafe(format!("{SET} WHERE event_id = $2{guard}")))
                    .bind(now)
                    .bind(event)
                    .execute(&self.pool)
                    .await?
            }
            ReplaySelector::Status { status, since } => {
                sqlx::query(AssertSqlSafe(format!("{SET} WHERE status = $2 AND updated_at >= $3{guard}")))
                    .bind(now)
                    .bind(status.as_str())
                    .bind(since.unwrap_or(i64::MIN))
                    .execute(&self.pool)
                    .await?
            }
        };
        Ok(result.rows_affected())
    }
}

impl Store for PostgresStore {
    forward_store_methods!();
    inspect_methods!(pool);
    overview_methods!(pool, "strpos");
    crate::store::threads::thread_methods!(pool, " FOR UPDATE");

    fn release(&self, leases: &[Lease]) -> StoreFuture<'_, ()> {
        let (ids, tokens): (Vec<i64>, Vec<i64>) = leases.iter().map(|l| (l.id, l.token)).unzip();
        Box::pin(async move {
            sqlx::query(
                "UPDATE deliveries d SET lease_owner = NULL, lease_until = NULL
                 FROM UNNEST($1::bigint[], $2::bigint[]) AS l(id, token)
                 WHERE d.id = l.id AND d.claim_token = l.token",
            )
            .bind(&ids)
            .bind(&tokens)
            .execute(&self.pool)
            .await?;
            Ok(())
        })
    }

    fn renew(&self, leases: &[Lease], until: i64) -> StoreFuture<'_, Vec<i64>> {
        let (ids, tokens): (Vec<i64>, Vec<i64>) = leases.iter().map(|l| (l.id, l.token)).unzip();
        Box::pin(async move {
            let renewed = sqlx::query_scalar(
                "UPDATE deliveries d SET lease_until = $3
                 FROM UNNEST($1::bigint[], $2::bigint[]) AS l(id, token)
                 WHERE d.id = l.id AND d.claim_token = l.token AND d.lease_owner IS NOT NULL
                 RETURNING d.id",
            )
            .bind(&ids)
            .bind(&tokens)
            .bind(until)
            .fetch_all(&self.pool)
            .await?;
            Ok(renewed)
        })
    }

    fn hold(&self, known: &[String], version: &str, now: i64) -> StoreFuture<'_, Held> {
        let (known, version) = (known.to_vec(), version.to_owned());
        Box::pin(async move {
            let mut tx = self.pool.begin().await?;
            let held = sqlx::query(AssertSqlSafe(format!(
                "UPDATE deliveries SET status = 'held', last_error = {HELD_REASON}, updated_at = $3
                 WHERE status IN ('pending', 'failed') AND destination <> ALL($1)"
            )))
            .bind(&known)
            .bind(&version)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            let resumed = sqlx::query(AssertSqlSafe(format!(
                "UPDATE deliveries SET status = {RESUMED_STATUS}, last_error = NULL, updated_at = $2
                 WHERE status = 'held' AND destination = ANY($1)"
            )))
            .bind(&known)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            Ok(Held { held: held.rows_affected(), resumed: resumed.rows_affected() })
        })
    }

    fn fleet_limits(&self) -> bool {
        true
    }

    fn release_stale_leases(&self) -> StoreFuture<'_, u64> {
        // Other instances may hold live leases: expired ones are claimable anyway.
        Box::pin(async { Ok(0) })
    }

    fn event(&self, id: &str) -> StoreFuture<'_, Option<StoredEvent>> {
        let id = id.to_owned();
        Box::pin(async move {
            let row = sqlx::query(
                "SELECT id, source, event_type, received_at, body, content_type, matched_rules, rules_version
                 FROM events WHERE id = $1",
            )
            .bind(&id)
            .fetch_optional(&self.pool)
            .await?;
            row.map(|r| Ok(event_from_row!(r))).transpose()
        })
    }

    fn counts(&self) -> StoreFuture<'_, Counts> {
        Box::pin(async move {
            let rows = sqlx::query("SELECT status, COUNT(*) AS n FROM deliveries GROUP BY status")
                .fetch_all(&self.pool)
                .await?;
            Ok(counts_from_rows!(rows))
        })
    }

    fn ping(&self) -> StoreFuture<'_, ()> {
        Box::pin(async move {
            sqlx::query("SELECT 1").execute(&self.pool).await?;
            Ok(())
        })
    }

    fn prune_state(&self, before: i64) -> StoreFuture<'_, u64> {
        Box::pin(self.forget_states(before))
    }

    // Operator events (issue 16).
    crate::store::episodes::episode_methods!(pool, pool);

    fn prune(&self, before: i64, include_dead: bool, now: i64) -> StoreFuture<'_, u64> {
        Box::pin(async move {
            let finished: &[&str] =
                if include_dead { &["delivered", "cancelled", "dead"] } else { &["delivered", "cancelled"] };
            let r = sqlx::query(
                "DELETE FROM events WHERE received_at < $1 AND NOT EXISTS (
                    SELECT 1 FROM deliveries d WHERE d.event_id = events.id AND d.status <> ALL($2))",
            )
            .bind(before)
            .bind(finished)
            .execute(&self.pool)
            .await?;
            sqlx::query("DELETE FROM dedup WHERE expires_at <= $1").bind(now).execute(&self.pool).await?;
            Ok(r.rows_affected())
        })
    }
}

/// The overview's per-minute counts (see `store::overview`).
impl PostgresStore {
    per_minute_method!(pool);
}
