//! PostgreSQL's side of entity state (see `store/entity.rs`). Instances share the database, so each
//! ingest transaction takes a transaction-scoped advisory lock per key (in sorted order, so two
//! batches cannot deadlock on them) before reading the state: of two simultaneous events of one
//! key, the second waits for the first to commit and then reads it as its previous event.

use std::collections::HashMap;

use bytes::Bytes;
use sqlx::{Postgres, Transaction};

use super::super::entity::{Carry, StateId, StateRow, fresh_ids, state_id, watches};
use super::super::rows::in_batch_duplicates;
use super::super::{Inserted, NewEvent, StoreResult};
use super::{PostgresStore, to_i64};

impl PostgresStore {
    /// [`PostgresStore`]'s insert for a batch holding events about entity keys (or deliveries due
    /// later): dedup, read the keys' state, then per event in batch order: cancel what its
    /// `still:` breaks, route, write; then the keys' new state. One transaction.
    pub(super) async fn insert_keyed(&self, batch: &[NewEvent], now: i64) -> StoreResult<Vec<Inserted>> {
        let (mut out, keyed) = in_batch_duplicates(batch);
        let mut tx = self.pool.begin().await?;
        for i in keyed {
            if let Some(original) = dedup(&mut tx, &batch[i], now).await? {
                out[i] = Some(Inserted::Duplicate(original));
            }
        }
        let mut stored = HashMap::new();
        for id in fresh_ids(batch, &out) {
            lock(&mut tx, &id).await?;
            if let Some(body) = read_state(&mut tx, &id).await? {
                stored.insert(id, body);
            }
        }
        let mut carry = Carry::new(stored);
        for (ev, _) in batch.iter().zip(&out).filter(|(_, o)| o.is_none()) {
            let id = state_id(ev);
            let waiting = match &id {
                Some(id) if watches(ev) => waiting_rules(&mut tx, id, now).await?,
                _ => Vec::new(),
            };
            let (ev, cancels) = carry.route(ev, &waiting);
            if let Some(id) = &id {
                for (rule, reason) in cancels {
                    cancel(&mut tx, id, &rule, &reason, now).await?;
                }
            }
            write_event(&mut tx, &ev, id.as_ref(), now).await?;
        }
        write_states(&mut tx, &carry.states(), now).await?;
        tx.commit().await?;
        Ok(out.into_iter().map(|o| o.unwrap_or(Inserted::New)).collect())
    }

    /// Deletes the state of keys whose last event was stored before `before`.
    pub(super) async fn forget_states(&self, before: i64) -> StoreResult<u64> {
        let r = sqlx::query("DELETE FROM entity_state WHERE updated_at < $1")
            .bind(before)
            .execute(&self.pool)
            .await?;
        Ok(r.rows_affected())
    }
}

super::super::keyed_sql::keyed_statements!(Postgres);

/// Waits for the key's lock, held until this transaction ends.
async fn lock(tx: &mut Transaction<'_, Postgres>, id: &StateId) -> StoreResult<()> {
    let name = format!("{}\u{1f}{}\u{1f}{}", id.0, id.1, id.2);
    sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))")
        .bind(name)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

async fn read_state(tx: &mut Transaction<'_, Postgres>, id: &StateId) -> StoreResult<Option<Bytes>> {
    let body: Option<Vec<u8>> =
        sqlx::query_scalar("SELECT body FROM entity_state WHERE source = $1 AND key_path = $2 AND key = $3")
            .bind(&id.0)
            .bind(&id.1)
            .bind(&id.2)
            .fetch_optional(&mut **tx)
            .await?;
    Ok(body.map(Bytes::from))
}

/// The keys' new last events.
async fn write_states(tx: &mut Transaction<'_, Postgres>, states: &[StateRow], now: i64) -> StoreResult<()> {
    for s in states {
        sqlx::query(
            "INSERT INTO entity_state (source, key_path, key, event_id, body, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT (source, key_path, key) DO UPDATE
               SET event_id = excluded.event_id, body = excluded.body, updated_at = excluded.updated_at",
        )
        .bind(&s.id.0)
        .bind(&s.id.1)
        .bind(&s.id.2)
        .bind(&s.event_id)
        .bind(s.body.to_vec())
        .bind(now)
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}
