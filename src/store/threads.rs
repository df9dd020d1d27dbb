//! Conversations in the store (`thread:`): which delivery opens the thread of a (destination,
//! thread key), the provider's reference to that first message once it is delivered, and each
//! threaded delivery's part (`opener`, `reply`, `waiting`). Both databases run the same statements
//! (`thread_methods!`); PostgreSQL also locks the thread's row (`FOR UPDATE`), so two instances
//! placing the first messages of one key take turns and open one thread, not two. SQLite's one
//! writer connection orders them already.
//!
//! A reply whose thread is still being opened is deferred in the same transaction that finds it
//! so: its lease is given back and it is due again when the opener is likely done, and it is
//! written down as `waiting`, so the transaction that records the opener (delivered, or dead and
//! so abandoned) makes it due at once. Nothing waits in memory; nothing is lost on a restart.

use serde::Serialize;

/// A conversation's identity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThreadId {
    pub destination: String,
    pub key: String,
}

/// Where a threaded delivery goes, as [`Store::thread_place`](super::Store::thread_place) decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ThreadPlace {
    /// The thread is open: send as a reply to the stored reference (provider JSON).
    Reply { reference: String },
    /// This delivery opens the thread: send it as a new message, then `thread_opened`.
    Opener,
    /// Another delivery is opening the thread: this one was deferred until `until` (its lease
    /// given back); it is woken earlier when the opener is recorded.
    Wait { until: i64, opener: i64 },
}

/// One threaded delivery of an event and its thread (the event page of the dashboard).
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct ThreadRow {
    pub delivery_id: i64,
    pub destination: String,
    pub thread_key: String,
    /// `opener`, `reply` or `waiting`.
    pub role: String,
    pub at: i64,
    /// `None`: the thread record is gone (past its retention).
    pub opener_delivery_id: Option<i64>,
    /// The provider's reference to the first message (JSON text); `None` while it is being sent.
    pub reference: Option<String>,
    pub messages: Option<i64>,
    pub created_at: Option<i64>,
    pub updated_at: Option<i64>,
}

/// A reply does not look again sooner than this after its opener was found unfinished (ms).
pub(super) const WAIT_AT_LEAST_MS: i64 = 1_000;
/// Nor later than this (ms): a safety net, since recording the opener wakes it anyway.
pub(super) const WAIT_AT_MOST_MS: i64 = 60_000;

/// When a deferred reply is due again: when its opener is due or its lease ends, bounded.
pub(super) fn wait_until(now: i64, opener_due: i64, opener_lease_until: Option<i64>) -> i64 {
    let likely_done = opener_due.max(opener_lease_until.unwrap_or(0)) + 250;
    likely_done.clamp(now + WAIT_AT_LEAST_MS, now + WAIT_AT_MOST_MS)
}

/// Delivery statuses of an opener that will never record a reference: the next message opens.
pub(super) fn opener_finished(status: Option<&str>) -> bool {
    !matches!(status, Some("pending" | "failed" | "held"))
}

/// Makes the deliveries waiting for `($1, $2)` due at `$3`.
pub(super) const WAKE_WAITING: &str = r"
UPDATE deliveries SET next_attempt_at = $3
WHERE id IN (SELECT delivery_id FROM thread_messages
             WHERE destination = $1 AND thread_key = $2 AND role = 'waiting')
  AND status IN ('pending', 'failed') AND lease_owner IS NULL AND next_attempt_at > $3";

/// Writes a delivery's part in a thread (`$1` delivery, `$2` destination, `$3` key, `$4` role,
/// `$5` now).
pub(super) const SET_ROLE: &str = r"
INSERT INTO thread_messages (delivery_id, destination, thread_key, role, at) VALUES ($1, $2, $3, $4, $5)
ON CONFLICT (delivery_id) DO UPDATE
SET destination = excluded.destination, thread_key = excluded.thread_key, role = excluded.role, at = excluded.at";

pub(super) const OF_EVENT: &str = r"
SELECT m.delivery_id, m.destination, m.thread_key, m.role, m.at,
       t.opener_delivery_id, t.reference, t.messages, t.created_at, t.updated_at
FROM thread_messages m
JOIN deliveries d ON d.id = m.delivery_id
LEFT JOIN threads t ON t.destination = m.destination AND t.thread_key = m.thread_key
WHERE d.event_id = $1
ORDER BY m.delivery_id";

/// The `Store` methods of threads for a store whose pool field is `$pool`; `$lock` is appended to
/// the statement reading the thread's row (` FOR UPDATE` on PostgreSQL).
macro_rules! thread_methods {
    ($pool:ident, $lock:literal) => {
        fn thread_place(
            &self,
            thread: &$crate::store::ThreadId,
            lease: $crate::store::Lease,
            now: i64,
        ) -> StoreFuture<'_, $crate::store::ThreadPlace> {
            use $crate::store::ThreadPlace;
            use $crate::store::threads::{SET_ROLE, opener_finished, wait_until};
            let thread = thread.clone();
            Box::pin(async move {
                let (dest, key) = (&thread.destination, &thread.key);
                let mut tx = self.$pool.begin().await?;
                sqlx::query(
                    "INSERT INTO threads (destination, thread_key, opener_delivery_id, reference, messages,
                                          created_at, updated_at)
                     VALUES ($1, $2, $3, NULL, 0, $4, $4) ON CONFLICT (destination, thread_key) DO NOTHING",
                )
                .bind(dest)
                .bind(key)
                .bind(lease.id)
                .bind(now)
                .execute(&mut *tx)
                .await?;
                let row = sqlx::query(concat!(
                    "SELECT opener_delivery_id, reference FROM threads WHERE destination = $1 AND thread_key = $2",
                    $lock
                ))
                .bind(dest)
                .bind(key)
                .fetch_one(&mut *tx)
                .await?;
                let opener: i64 = row.try_get("opener_delivery_id")?;
                let reference: Option<String> = row.try_get("reference")?;
                let place = if let Some(reference) = reference {
                    ThreadPlace::Reply { reference }
                } else if opener == lease.id {
                    ThreadPlace::Opener
                } else {
                    let state = sqlx::query(
                        "SELECT status, next_attempt_at, lease_until FROM deliveries WHERE id = $1",
                    )
                    .bind(opener)
                    .fetch_optional(&mut *tx)
                    .await?;
                    let status: Option<String> = state.as_ref().map(|r| r.try_get("status")).transpose()?;
                    if opener_finished(status.as_deref()) {
                        sqlx::query(
                            "UPDATE threads SET opener_delivery_id = $3, updated_at = $4
                             WHERE destination = $1 AND thread_key = $2",
                        )
                        .bind(dest)
                        .bind(key)
                        .bind(lease.id)
                        .bind(now)
                        .execute(&mut *tx)
                        .await?;
                        ThreadPlace::Opener
                    } else {
                        let (due, lease_until): (i64, Option<i64>) = match &state {
                            Some(r) => (r.try_get("next_attempt_at")?, r.try_get("lease_until")?),
                            None => (now, None),
                        };
                        let until = wait_until(now, due, lease_until);
                        sqlx::query(SET_ROLE)
                            .bind(lease.id)
                            .bind(dest)
                            .bind(key)
                            .bind("waiting")
                            .bind(now)
                            .execute(&mut *tx)
                            .await?;
                        sqlx::query(
                            "UPDATE deliveries SET next_attempt_at = $3, lease_owner = NULL, lease_until = NULL,
                                    last_error = $4, updated_at = $5
                             WHERE id = $1 AND claim_token = $2",
                        )
                        .bind(lease.id)
                        .bind(lease.token)
                        .bind(until)
                        .bind(format!("waiting for delivery {opener}, which opens its thread"))
                        .bind(now)
                        .execute(&mut *tx)
                        .await?;
                        ThreadPlace::Wait { until, opener }
                    }
                };
                tx.commit().await?;
                Ok(place)
            })
        }

        fn thread_opened(
            &self,
            thread: &$crate::store::ThreadId,
            delivery_id: i64,
            reference: &str,
            now: i64,
        ) -> StoreFuture<'_, bool> {
            use $crate::store::threads::{SET_ROLE, WAKE_WAITING};
            let (thread, reference) = (thread.clone(), reference.to_owned());
            Box::pin(async move {
                let (dest, key) = (&thread.destination, &thread.key);
                let mut tx = self.$pool.begin().await?;
                // A thread pruned meanwhile is written again; one opened by another is kept.
                let opened = sqlx::query(
                    "INSERT INTO threads (destination, thread_key, opener_delivery_id, reference, messages,
                                          created_at, updated_at)
                     VALUES ($1, $2, $3, $4, 1, $5, $5)
                     ON CONFLICT (destination, thread_key) DO UPDATE
                     SET opener_delivery_id = excluded.opener_delivery_id, reference = excluded.reference,
                         messages = threads.messages + 1, updated_at = excluded.updated_at
                     WHERE threads.reference IS NULL",
                )
                .bind(dest)
                .bind(key)
                .bind(delivery_id)
                .bind(&reference)
                .bind(now)
                .execute(&mut *tx)
                .await?
                .rows_affected()
                    > 0;
                let role = if opened { "opener" } else { "reply" };
                sqlx::query(SET_ROLE).bind(delivery_id).bind(dest).bind(key).bind(role).bind(now).execute(&mut *tx).await?;
                sqlx::query(WAKE_WAITING).bind(dest).bind(key).bind(now).execute(&mut *tx).await?;
                tx.commit().await?;
                Ok(opened)
            })
        }

        fn thread_replied(
            &self,
            thread: &$crate::store::ThreadId,
            delivery_id: i64,
            now: i64,
        ) -> StoreFuture<'_, ()> {
            use $crate::store::threads::SET_ROLE;
            let thread = thread.clone();
            Box::pin(async move {
                let (dest, key) = (&thread.destination, &thread.key);
                let mut tx = self.$pool.begin().await?;
                sqlx::query(SET_ROLE).bind(delivery_id).bind(dest).bind(key).bind("reply").bind(now).execute(&mut *tx).await?;
                sqlx::query(
                    "UPDATE threads SET messages = messages + 1, updated_at = $3
                     WHERE destination = $1 AND thread_key = $2",
                )
                .bind(dest)
                .bind(key)
                .bind(now)
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(())
            })
        }

        fn thread_abandoned(
            &self,
            thread: &$crate::store::ThreadId,
            delivery_id: i64,
            now: i64,
        ) -> StoreFuture<'_, bool> {
            use $crate::store::threads::WAKE_WAITING;
            let thread = thread.clone();
            Box::pin(async move {
                let (dest, key) = (&thread.destination, &thread.key);
                let mut tx = self.$pool.begin().await?;
                let gone = sqlx::query(
                    "DELETE FROM threads
                     WHERE destination = $1 AND thread_key = $2 AND opener_delivery_id = $3 AND reference IS NULL",
                )
                .bind(dest)
                .bind(key)
                .bind(delivery_id)
                .execute(&mut *tx)
                .await?
                .rows_affected()
                    > 0;
                sqlx::query("DELETE FROM thread_messages WHERE delivery_id = $1")
                    .bind(delivery_id)
                    .execute(&mut *tx)
                    .await?;
                sqlx::query(WAKE_WAITING).bind(dest).bind(key).bind(now).execute(&mut *tx).await?;
                tx.commit().await?;
                Ok(gone)
            })
        }

        fn threads_of_event(&self, event_id: &str) -> StoreFuture<'_, Vec<$crate::store::ThreadRow>> {
            let event_id = event_id.to_owned();
            Box::pin(async move {
                let rows = sqlx::query($crate::store::threads::OF_EVENT)
                    .bind(&event_id)
                    .fetch_all(&self.$pool)
                    .await?;
                rows.iter()
                    .map(|r| {
                        Ok($crate::store::ThreadRow {
                            delivery_id: r.try_get("delivery_id")?,
                            destination: r.try_get("destination")?,
                            thread_key: r.try_get("thread_key")?,
                            role: r.try_get("role")?,
                            at: r.try_get("at")?,
                            opener_delivery_id: r.try_get("opener_delivery_id")?,
                            reference: r.try_get("reference")?,
                            messages: r.try_get("messages")?,
                            created_at: r.try_get("created_at")?,
                            updated_at: r.try_get("updated_at")?,
                        })
                    })
                    .collect()
            })
        }

        fn prune_threads(&self, before: i64) -> StoreFuture<'_, u64> {
            Box::pin(async move {
                let r = sqlx::query("DELETE FROM threads WHERE updated_at < $1")
                    .bind(before)
                    .execute(&self.$pool)
                    .await?;
                Ok(r.rows_affected())
            })
        }
    };
}

pub(super) use thread_methods;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_deferred_reply_looks_again_when_its_opener_is_likely_done_within_bounds() {
        let now = 1_000_000;
        let check = |due: i64, lease: Option<i64>, expected: i64| {
            assert_eq!(wait_until(now, due, lease), expected, "due {due} lease {lease:?}");
        };
        check(now - 5_000, None, now + WAIT_AT_LEAST_MS);
        check(now, Some(now + 20_000), now + 20_250);
        check(now + 5_000, None, now + 5_250);
        check(now + 3_600_000, None, now + WAIT_AT_MOST_MS);
    }

    #[test]
    fn an_opener_that_will_never_record_a_reference_hands_the_thread_on() {
        for (status, finished) in [
            (None, true),
            (Some("delivered"), true),
            (Some("dead"), true),
            (Some("cancelled"), true),
            (Some("pending"), false),
            (Some("failed"), false),
            (Some("held"), false),
        ] {
            assert_eq!(opener_finished(status), finished, "{status:?}");
        }
    }
}
