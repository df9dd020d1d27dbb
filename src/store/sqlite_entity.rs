//! SQLite's side of entity state (see `entity.rs`): one writer connection orders every transaction,
//! so reading a key's state in the ingest transaction already sees the last committed event.

use std::collections::HashMap;

use bytes::Bytes;
use sqlx::{QueryBuilder, Sqlite, Transaction};

use super::entity::{Carry, StateId, StateRow, fresh_ids, state_id, watches};
use super::rows::in_batch_duplicates;
use super::sqlite::to_i64;
use super::{Inserted, NewDelivery, NewEvent, SqliteStore, StoreResult};

impl SqliteStore {
    /// [`SqliteStore`]'s insert for a batch holding events about entity keys (or deliveries due
    /// later): dedup, read the keys' state, then per event in batch order: cancel what its
    /// `still:` breaks, route, write; then the keys' new state. One transaction.
    pub(super) async fn insert_keyed(&self, batch: &[NewEvent], now: i64) -> StoreResult<Vec<Inserted>> {
        let (mut out, keyed) = in_batch_duplicates(batch);
        let mut tx = self.writer.begin().await?;
        for i in keyed {
            if let Some(original) = dedup(&mut tx, &batch[i], now).await? {
                out[i] = Some(Inserted::Duplicate(original));
            }
        }
        let stored = read_states(&mut tx, &fresh_ids(batch, &out)).await?;
        let mut carry = Carry::new(stored);
        // Events with a delivery that may be cancelled are written at once (a later event of the
        // batch must see its wait); the others together, in multi-row statements, at the end.
        let mut later = Vec::new();
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
            if ev.deliveries.iter().any(|d| d.waits) {
                write_event(&mut tx, &ev, id.as_ref(), now).await?;
            } else {
                later.push(ev);
            }
        }
        write_many(&mut tx, &later, now).await?;
        write_states(&mut tx, &carry.states(), now).await?;
        tx.commit().await?;
        Ok(out.into_iter().map(|o| o.unwrap_or(Inserted::New)).collect())
    }

    /// Deletes the state of keys whose last event was stored before `before`.
    pub(super) async fn forget_states(&self, before: i64) -> StoreResult<u64> {
        let r = sqlx::query("DELETE FROM entity_state WHERE updated_at < $1")
            .bind(before)
            .execute(&self.writer)
            .await?;
        Ok(r.rows_affected())
    }
}

super::keyed_sql::keyed_statements!(Sqlite);

/// Rows per SELECT of states (3 binds a key).
const KEYS_PER_READ: usize = 500;

/// The stored last bodies of these keys, [`KEYS_PER_READ`] keys a statement (one round trip to
/// the connection's thread each, not one a key).
async fn read_states(
    tx: &mut Transaction<'_, Sqlite>,
    ids: &[StateId],
) -> StoreResult<HashMap<StateId, Bytes>> {
    let mut stored = HashMap::with_capacity(ids.len());
    for chunk in ids.chunks(KEYS_PER_READ) {
        let mut q = QueryBuilder::<Sqlite>::new(
            "SELECT source, key_path, key, body FROM entity_state WHERE (source, key_path, key) IN (VALUES ",
        );
        let mut list = q.separated(", ");
        for id in chunk {
            list.push("(");
            list.push_bind_unseparated(id.0.clone());
            list.push_unseparated(", ");
            list.push_bind_unseparated(id.1.clone());
            list.push_unseparated(", ");
            list.push_bind_unseparated(id.2.clone());
            list.push_unseparated(")");
        }
        q.push(")");
        let rows: Vec<(String, String, String, Vec<u8>)> = q.build_query_as().fetch_all(&mut **tx).await?;
        for (source, key_path, key, body) in rows {
            stored.insert((source, key_path, key), Bytes::from(body));
        }
    }
    Ok(stored)
}

/// Rows per multi-row INSERT (at most 11 binds a row, far below SQLite's 32 766 variables).
const ROWS_PER_STATEMENT: usize = 500;

/// Events and their deliveries in multi-row statements (none of them waits on a key).
async fn write_many(tx: &mut Transaction<'_, Sqlite>, events: &[NewEvent], now: i64) -> StoreResult<()> {
    for chunk in events.chunks(ROWS_PER_STATEMENT) {
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
        q.build().execute(&mut **tx).await?;
    }
    let deliveries: Vec<(&NewEvent, &NewDelivery)> =
        events.iter().flat_map(|ev| ev.deliveries.iter().map(move |d| (ev, d))).collect();
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
            let due = d.due_at.unwrap_or(now);
            b.push_bind(ev.id.clone())
                .push_bind(d.rule.clone())
                .push_bind(to_i64(d.action_index))
                .push_bind(d.destination.clone())
                .push_bind(body)
                .push_bind(content_type)
                .push_bind(status)
                .push_bind(due)
                .push_bind(due)
                .push_bind(error)
                .push_bind(now);
        });
        q.build().execute(&mut **tx).await?;
    }
    Ok(())
}

/// The keys' new last events.
async fn write_states(tx: &mut Transaction<'_, Sqlite>, states: &[StateRow], now: i64) -> StoreResult<()> {
    for chunk in states.chunks(ROWS_PER_STATEMENT) {
        let mut q = QueryBuilder::<Sqlite>::new(
            "INSERT INTO entity_state (source, key_path, key, event_id, body, updated_at) ",
        );
        q.push_values(chunk, |mut b, s| {
            b.push_bind(s.id.0.clone())
                .push_bind(s.id.1.clone())
                .push_bind(s.id.2.clone())
                .push_bind(s.event_id.clone())
                .push_bind(s.body.to_vec())
                .push_bind(now);
        });
        q.push(
            " ON CONFLICT (source, key_path, key) DO UPDATE
               SET event_id = excluded.event_id, body = excluded.body, updated_at = excluded.updated_at",
        );
        q.build().execute(&mut **tx).await?;
    }
    Ok(())
}
