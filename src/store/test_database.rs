//! Test support, compiled only into tests: a fresh PostgreSQL database per test, dropped afterwards,
//! so tests run in parallel and leave nothing behind. The store's unit tests declare it under
//! `#[cfg(test)]`; the integration tests include this same file with `#[path]`, so it is written once
//! and never shipped in the library.
//!
//! Tests that use it are `#[ignore = "needs PostgreSQL on 127.0.0.1:5432"]`: plain `cargo test`
//! lists them as ignored, and `cargo test -- --include-ignored` runs them, failing (never skipping)
//! when the server does not answer.

use sqlx::Connection;

/// Where the test server is. `HOOKROUTE_TEST_POSTGRES` overrides the machine's default.
pub fn admin_url() -> String {
    std::env::var("HOOKROUTE_TEST_POSTGRES")
        .unwrap_or_else(|_| "postgres://root@127.0.0.1:5432/test".to_owned())
}

/// A database created for one test and dropped (forcefully) when this is dropped.
pub struct TestDatabase {
    name: String,
    url: String,
}

impl TestDatabase {
    /// Creates the database; panics with the reason when the server does not answer (the test
    /// was asked to run, so a missing server is a failure, not a skip).
    pub async fn create() -> Self {
        let admin = admin_url();
        let connect =
            tokio::time::timeout(std::time::Duration::from_secs(5), sqlx::PgConnection::connect(&admin));
        let mut conn = match connect.await {
            Ok(Ok(conn)) => conn,
            Ok(Err(e)) => panic!("this test needs PostgreSQL at {admin} (HOOKROUTE_TEST_POSTGRES): {e}"),
            Err(_) => panic!("this test needs PostgreSQL at {admin} (HOOKROUTE_TEST_POSTGRES): timed out"),
        };
        let name = format!("hookroute_test_{}", uuid::Uuid::now_v7().simple());
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut conn)
            .await
            .expect("create test database");
        let base = admin.rsplit_once('/').map_or(admin.as_str(), |(base, _)| base);
        Self { url: format!("{base}/{name}"), name }
    }

    pub fn url(&self) -> &str {
        &self.url
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let name = self.name.clone();
        // Drop may run inside an async test: use a thread with its own small runtime.
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().ok()?;
            runtime.block_on(async {
                let mut conn = sqlx::PgConnection::connect(&admin_url()).await.ok()?;
                sqlx::query(sqlx::AssertSqlSafe(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")))
                    .execute(&mut conn)
                    .await
                    .ok()
            })
        })
        .join();
        if !matches!(dropped, Ok(Some(_))) {
            eprintln!("could not drop test database {}", self.name);
        }
    }
}
