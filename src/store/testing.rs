//! Test support: a fresh PostgreSQL database per test, dropped afterwards, so tests run in
//! parallel and leave nothing behind. Not used by the service.

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
    /// Creates the database. Without a reachable server: `None` (the test is skipped with a
    /// message), unless `HOOKROUTE_REQUIRE_POSTGRES=1`, as in CI, where it panics.
    pub async fn create() -> Option<Self> {
        let admin = admin_url();
        let connect =
            tokio::time::timeout(std::time::Duration::from_secs(5), sqlx::PgConnection::connect(&admin));
        let mut conn = match connect.await {
            Ok(Ok(conn)) => conn,
            failed => {
                let why = match failed {
                    Ok(Err(e)) => e.to_string(),
                    _ => "timed out".to_owned(),
                };
                assert!(
                    std::env::var("HOOKROUTE_REQUIRE_POSTGRES").as_deref() != Ok("1"),
                    "PostgreSQL at {admin} is required (HOOKROUTE_REQUIRE_POSTGRES=1) but unreachable: {why}"
                );
                eprintln!("skipped: PostgreSQL at {admin} is unreachable ({why})");
                return None;
            }
        };
        let name = format!("hookroute_test_{}", uuid::Uuid::now_v7().simple());
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut conn)
            .await
            .expect("create test database");
        let base = admin.rsplit_once('/').map_or(admin.as_str(), |(base, _)| base);
        Some(Self { url: format!("{base}/{name}"), name })
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
