//! The statements of the keyed ingest that read the same on SQLite and PostgreSQL, written once:
//! each store expands [`keyed_statements!`] with its database type (as [`super::inspect`] does for
//! the operators' queries). What differs (reading and locking states, batched writes) stays in
//! each store's own file.

/// `dedup`, `waiting_rules`, `cancel` and `write_event` over a `Transaction<'_, $db>`; the caller
/// imports `Transaction`, `NewEvent`, `StateId`, `StoreResult` and `to_i64`.
macro_rules! keyed_statements {
    ($db:ty) => {
        /// Claims the event's dedup key; `Some(original id)` when it was seen within the window.
        async fn dedup(tx: &mut Transaction<'_, $db>, ev: &NewEvent, now: i64) -> StoreResult<Option<String>> {
            let Some(d) = &ev.dedup else { return Ok(None) };
            let fresh: Option<String> = sqlx::query_scalar(
                "INSERT INTO dedup (source, key, event_id, expires_at) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (source, key) DO UPDATE SET event_id = excluded.event_id, expires_at = excluded.expires_at
                   WHERE dedup.expires_at <= $5
                 RETURNING event_id",
            )
            .bind(&ev.source)
            .bind(&d.key)
            .bind(&ev.id)
            .bind(d.expires_at)
            .bind(now)
            .fetch_optional(&mut **tx)
            .await?;
            if fresh.is_some() {
                return Ok(None);
            }
            let original: String = sqlx::query_scalar("SELECT event_id FROM dedup WHERE source = $1 AND key = $2")
                .bind(&ev.source)
                .bind(&d.key)
                .fetch_one(&mut **tx)
                .await?;
            Ok(Some(original))
        }

        /// The rules with deliveries of this key waiting (`after:` + `still:`, not yet due or sent).
        async fn waiting_rules(
            tx: &mut Transaction<'_, $db>,
            id: &StateId,
            now: i64,
        ) -> StoreResult<Vec<String>> {
            Ok(sqlx::query_scalar(
                "SELECT DISTINCT w.rule FROM waits w JOIN deliveries d ON d.id = w.delivery_id
                 WHERE w.source = $1 AND w.key_path = $2 AND w.key = $3
                   AND d.status = 'pending' AND d.attempts = 0 AND d.next_attempt_at > $4",
            )
            .bind(&id.0)
            .bind(&id.1)
            .bind(&id.2)
            .bind(now)
            .fetch_all(&mut **tx)
            .await?)
        }

        /// Cancels the waiting deliveries of `rule` for this key, with the reason.
        async fn cancel(
            tx: &mut Transaction<'_, $db>,
            id: &StateId,
            rule: &str,
            reason: &str,
            now: i64,
        ) -> StoreResult<()> {
            sqlx::query(
                "UPDATE deliveries SET status = 'cancelled', last_error = $5, updated_at = $6
                 WHERE status = 'pending' AND attempts = 0 AND next_attempt_at > $6 AND id IN (
                    SELECT delivery_id FROM waits WHERE source = $1 AND key_path = $2 AND key = $3 AND rule = $4)",
            )
            .bind(&id.0)
            .bind(&id.1)
            .bind(&id.2)
            .bind(rule)
            .bind(reason)
            .bind(now)
            .execute(&mut **tx)
            .await?;
            Ok(())
        }

        /// The event and its deliveries; a delivery that may be cancelled is listed under its key.
        async fn write_event(
            tx: &mut Transaction<'_, $db>,
            ev: &NewEvent,
            id: Option<&StateId>,
            now: i64,
        ) -> StoreResult<()> {
            let rules = serde_json::to_string(&ev.matched_rules).unwrap_or_else(|_| "[]".into());
            sqlx::query(
                "INSERT INTO events (id, source, event_type, received_at, body, content_type, matched_rules, rules_version)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            )
            .bind(&ev.id)
            .bind(&ev.source)
            .bind(&ev.event_type)
            .bind(ev.received_at)
            .bind(ev.body.to_vec())
            .bind(&ev.content_type)
            .bind(rules)
            .bind(&ev.rules_version)
            .execute(&mut **tx)
            .await?;
            for d in &ev.deliveries {
                let (body, content_type, status, error) = match &d.request {
                    Ok((body, ct)) => (Some(body.to_vec()), ct.clone(), "pending", None),
                    Err(reason) => (None, None, "dead", Some(reason.clone())),
                };
                let due = d.due_at.unwrap_or(now);
                let delivery: i64 = sqlx::query_scalar(
                    "INSERT INTO deliveries (event_id, rule, action_index, destination, body, content_type, status,
                        series_started_at, next_attempt_at, last_error, updated_at)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8, $9, $10) RETURNING id",
                )
                .bind(&ev.id)
                .bind(&d.rule)
                .bind(to_i64(d.action_index))
                .bind(&d.destination)
                .bind(body)
                .bind(content_type)
                .bind(status)
                .bind(due)
                .bind(error)
                .bind(now)
                .fetch_one(&mut **tx)
                .await?;
                if let (true, Some(id)) = (d.waits, id) {
                    sqlx::query(
                        "INSERT INTO waits (delivery_id, source, key_path, key, rule) VALUES ($1, $2, $3, $4, $5)",
                    )
                    .bind(delivery)
                    .bind(&id.0)
                    .bind(&id.1)
                    .bind(&id.2)
                    .bind(&d.rule)
                    .execute(&mut **tx)
                    .await?;
                }
            }
            Ok(())
        }
    };
}

pub(super) use keyed_statements;
