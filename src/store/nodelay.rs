//! A workaround for sqlx 0.9.0, whose TCP sockets no longer set `TCP_NODELAY` (transact-rs/sqlx
//! issue 4335, fixed upstream but not released): every statement then waits ~40 ms for a delayed
//! ACK, capping a PostgreSQL store at a few hundred commits per second.
//!
//! For a database on this machine, sqlx connects to a Unix socket served here, and each connection
//! is relayed to PostgreSQL over TCP with `TCP_NODELAY` set. Remote databases are left alone: the
//! relay would bypass TLS. Remove this module when sqlx ships the fix.

use std::path::{Path, PathBuf};

use tokio::net::{TcpStream, UnixListener};
use tokio::task::JoinHandle;

/// The relay's socket directory and accept loop; both go away on drop.
pub struct Relay {
    dir: PathBuf,
    task: JoinHandle<()>,
}

impl Relay {
    /// Whether `host` is this machine, where no TLS is at stake.
    pub fn applies_to(host: &str) -> bool {
        matches!(host, "localhost" | "127.0.0.1" | "::1" | "[::1]")
    }

    /// Serves `DIR/.s.PGSQL.{port}` (the layout PostgreSQL clients expect) and relays to `host:port`.
    pub fn start(host: &str, port: u16) -> std::io::Result<Self> {
        let dir = std::env::temp_dir().join(format!("hookroute-pg-{}", uuid::Uuid::now_v7().simple()));
        std::fs::create_dir(&dir)?;
        let listener = UnixListener::bind(dir.join(format!(".s.PGSQL.{port}")))?;
        let target = format!("{}:{port}", host.trim_start_matches('[').trim_end_matches(']'));
        let task = tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                let target = target.clone();
                tokio::spawn(async move {
                    let Ok(mut outbound) = TcpStream::connect(&target).await else { return };
                    if outbound.set_nodelay(true).is_ok() {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
            }
        });
        Ok(Self { dir, task })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.task.abort();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
