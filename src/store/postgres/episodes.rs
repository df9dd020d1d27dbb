//! PostgreSQL's operator-event episodes (see `store/episodes.rs`): the same two statements on the
//! pool; the row's primary key makes concurrent opens by several instances take turns.

impl super::PostgresStore {
    super::super::episodes::episode_methods!(pool, pool);
}
