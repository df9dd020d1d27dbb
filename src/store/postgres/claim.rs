//! Claims on PostgreSQL, with each destination's limits held for the whole fleet: in one
//! transaction the claim locks the destinations' bucket rows (so claims for a destination take
//! turns across instances), counts their live leases (concurrency), refills and spends their
//! token buckets (rate), and leases at most what is left, each row with its next fencing token.

use std::collections::HashMap;
use std::time::Duration;

use bytes::Bytes;
use sqlx::Row;

use super::PostgresStore;
use crate::store::rows::{CLAIMED_COLUMNS, claimed_from_row, lease_until};
use crate::store::{Claimed, StoreResult, Want};

/// A destination's bucket row as locked by the claim.
struct Bucket {
    tokens: f64,
    refilled_at: i64,
}

/// How many of `want` the fleet may lease now, and the bucket's tokens before spending.
fn quota(want: &Want, bucket: Option<&Bucket>, leased: i64, now: i64) -> (usize, Option<f64>) {
    let free = usize::try_from(i64::try_from(want.limits.concurrency.max(1)).unwrap_or(i64::MAX) - leased)
        .unwrap_or(0);
    let room = want.room.min(free);
    match (want.limits.rate, bucket) {
        (Some(rate), Some(b)) => {
            let gained = (now - b.refilled_at).max(0) as f64 / rate.per_token_ms();
            let tokens = (b.tokens + gained).min(rate.burst());
            (room.min(tokens.max(0.0).floor() as usize), Some(tokens))
        }
        _ => (room, None),
    }
}

impl PostgresStore {
    pub(super) async fn claim_due(
        &self,
        now: i64,
        lease: Duration,
        owner: &str,
        wants: &[Want],
    ) -> StoreResult<Vec<Claimed>> {
        let mut wants: Vec<&Want> = wants.iter().filter(|w| w.room > 0).collect();
        if wants.is_empty() {
            return Ok(Vec::new());
        }
        // One lock order for every claimer: no deadlocks between instances.
        wants.sort_by(|a, b| a.destination.cmp(&b.destination));
        let names: Vec<&str> = wants.iter().map(|w| w.destination.as_str()).collect();
        let bursts: Vec<f64> = wants.iter().map(|w| w.limits.rate.map_or(0.0, |r| r.burst())).collect();
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "INSERT INTO destination_buckets (destination, tokens, refilled_at)
             SELECT d, t, $3 FROM UNNEST($1::text[], $2::float8[]) AS b(d, t)
             ON CONFLICT (destination) DO NOTHING",
        )
        .bind(&names)
        .bind(&bursts)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        let buckets: HashMap<String, Bucket> = sqlx::query(
            "SELECT destination, tokens, refilled_at FROM destination_buckets
             WHERE destination = ANY($1) ORDER BY destination FOR UPDATE",
        )
        .bind(&names)
        .fetch_all(&mut *tx)
        .await?
        .iter()
        .map(|r| {
            Ok((
                r.try_get("destination")?,
                Bucket { tokens: r.try_get("tokens")?, refilled_at: r.try_get("refilled_at")? },
            ))
        })
        .collect::<StoreResult<_>>()?;
        let leased: HashMap<String, i64> = sqlx::query(
            "SELECT destination, COUNT(*) AS n FROM deliveries
             WHERE destination = ANY($1) AND lease_owner IS NOT NULL AND lease_until > $2 GROUP BY destination",
        )
        .bind(&names)
        .bind(now)
        .fetch_all(&mut *tx)
        .await?
        .iter()
        .map(|r| Ok((r.try_get("destination")?, r.try_get("n")?)))
        .collect::<StoreResult<_>>()?;
        let quotas: Vec<(usize, Option<f64>)> = wants
            .iter()
            .map(|w| {
                quota(w, buckets.get(&w.destination), leased.get(&w.destination).copied().unwrap_or(0), now)
            })
            .collect();
        let limits: Vec<i64> = quotas.iter().map(|(q, _)| i64::try_from(*q).unwrap_or(0)).collect();
        let sql = format!(
            "UPDATE deliveries SET lease_owner = $1, lease_until = $2, claim_token = claim_token + 1
             WHERE id IN (
                SELECT c.id FROM UNNEST($4::text[], $5::bigint[]) AS w(destination, quota)
                CROSS JOIN LATERAL (
                    SELECT id FROM deliveries
                    WHERE destination = w.destination AND status IN ('pending', 'failed')
                      AND next_attempt_at <= $3 AND (lease_until IS NULL OR lease_until <= $3)
                    ORDER BY next_attempt_at LIMIT w.quota
                    FOR UPDATE SKIP LOCKED) c)
             RETURNING {CLAIMED_COLUMNS}"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(owner)
            .bind(lease_until(now, lease))
            .bind(now)
            .bind(&names)
            .bind(&limits)
            .fetch_all(&mut *tx)
            .await?;
        let claimed: Vec<Claimed> =
            rows.iter().map(|r| Ok(claimed_from_row!(r))).collect::<StoreResult<_>>()?;
        let mut spent: HashMap<&str, f64> = HashMap::new();
        for c in &claimed {
            *spent.entry(c.destination.as_str()).or_default() += 1.0;
        }
        let (rated, left): (Vec<&str>, Vec<f64>) = wants
            .iter()
            .zip(&quotas)
            .filter_map(|(w, (_, tokens))| {
                tokens.map(|t| {
                    (w.destination.as_str(), t - spent.get(w.destination.as_str()).copied().unwrap_or(0.0))
                })
            })
            .unzip();
        if !rated.is_empty() {
            sqlx::query(
                "UPDATE destination_buckets b SET tokens = u.tokens, refilled_at = GREATEST(b.refilled_at, $3)
                 FROM UNNEST($1::text[], $2::float8[]) AS u(destination, tokens) WHERE b.destination = u.destination",
            )
            .bind(&rated)
            .bind(&left)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(claimed)
    }
}
