//! Operator-event episodes (issue 16): a row per subject (`destination.failing:NAME`,
//! `queue.stale`) that one statement opens or closes. The statement's answer says whether *this*
//! call made the transition, so in a fleet sharing the database exactly one instance reports it.
//! The SQL reads the same on SQLite and PostgreSQL; each store runs it on its own writer.

/// Opens the subject's episode unless one is open; returns the `since` it was opened with.
pub(super) const OPEN: &str = "INSERT INTO alert_episodes (subject, since, opened_at, closed_at)
    VALUES ($1, $2, $3, NULL)
    ON CONFLICT (subject) DO UPDATE SET since = excluded.since, opened_at = excluded.opened_at,
        closed_at = NULL
    WHERE alert_episodes.closed_at IS NOT NULL
    RETURNING since";

/// Closes the subject's open episode; returns the `since` it had been opened with.
pub(super) const CLOSE: &str = "UPDATE alert_episodes SET closed_at = $2
    WHERE subject = $1 AND closed_at IS NULL
    RETURNING since";

/// The destination and due time of the delivery that has been due the longest without being sent
/// (deliveries waiting for `after:`, opening hours or a retry's back-off are not due yet).
pub(super) const OLDEST_DUE: &str = "SELECT destination, next_attempt_at FROM deliveries
    WHERE status IN ('pending', 'failed') AND next_attempt_at <= $1
    ORDER BY next_attempt_at LIMIT 1";

/// The methods, written once for a store whose writer is `$store.$writer`.
macro_rules! episode_methods {
    ($writer:ident, $reader:ident) => {
        fn open_episode(
            &self,
            subject: &str,
            since: i64,
            now: i64,
        ) -> $crate::store::StoreFuture<'_, Option<i64>> {
            let subject = subject.to_owned();
            Box::pin(async move {
                Ok(sqlx::query_scalar::<_, i64>($crate::store::episodes::OPEN)
                    .bind(subject)
                    .bind(since)
                    .bind(now)
                    .fetch_optional(&self.$writer)
                    .await?)
            })
        }

        fn close_episode(&self, subject: &str, now: i64) -> $crate::store::StoreFuture<'_, Option<i64>> {
            let subject = subject.to_owned();
            Box::pin(async move {
                Ok(sqlx::query_scalar::<_, i64>($crate::store::episodes::CLOSE)
                    .bind(subject)
                    .bind(now)
                    .fetch_optional(&self.$writer)
                    .await?)
            })
        }

        fn oldest_due(&self, now: i64) -> $crate::store::StoreFuture<'_, Option<(String, i64)>> {
            Box::pin(async move {
                Ok(sqlx::query_as::<_, (String, i64)>($crate::store::episodes::OLDEST_DUE)
                    .bind(now)
                    .fetch_optional(&self.$reader)
                    .await?)
            })
        }
    };
}
pub(super) use episode_methods;
