//! One `serve` per SQLite file: an exclusive advisory lock (`flock`) on `PATH.serve-lock`, held
//! for the life of the process and released by the kernel when it exits, however it exits. A
//! second `serve` on the same file fails to take it and refuses to start, instead of taking back
//! the first one's leases.

use std::fs::{File, OpenOptions, TryLockError};
use std::path::PathBuf;
use std::str::FromStr;

use sqlx::sqlite::SqliteConnectOptions;

use super::StoreError;

/// Held while serving; dropping it releases the lock.
#[derive(Debug)]
pub struct ServeLock {
    _file: File,
    pub path: PathBuf,
}

/// Takes the serve lock of the SQLite file `url` names; `None` for other stores (PostgreSQL is
/// meant to be shared) and in-memory databases.
pub fn lock_for_serving(url: &str) -> Result<Option<ServeLock>, StoreError> {
    if !url.starts_with("sqlite:") {
        return Ok(None);
    }
    let base = url.split_once('?').map_or(url, |(base, _)| base);
    let options = SqliteConnectOptions::from_str(base).map_err(|_| StoreError::bad_url(url))?;
    let db = options.get_filename();
    if db == std::path::Path::new(":memory:") {
        return Ok(None);
    }
    let mut name = db.as_os_str().to_owned();
    name.push(".serve-lock");
    let path = PathBuf::from(name);
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| StoreError::Locked(format!("cannot open the lock file {}: {e}", path.display())))?;
    match file.try_lock() {
        Ok(()) => Ok(Some(ServeLock { _file: file, path })),
        Err(TryLockError::WouldBlock) => Err(StoreError::Locked(format!(
            "{} is in use by another `hookroute serve` (it holds {}); one process serves a SQLite file — \
             stop the other one, or use PostgreSQL for several instances",
            db.display(),
            path.display()
        ))),
        Err(TryLockError::Error(e)) => {
            Err(StoreError::Locked(format!("cannot lock {}: {e}", path.display())))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_on_the_same_file_is_refused_until_the_first_is_dropped() {
        let dir = tempfile::tempdir().expect("tempdir");
        let url = format!("sqlite://{}", dir.path().join("h.db").display());
        let first = lock_for_serving(&url).expect("first").expect("a lock");
        assert!(first.path.ends_with("h.db.serve-lock"));
        let second = lock_for_serving(&format!("{url}?synchronous=normal")).expect_err("refused");
        assert!(second.to_string().contains("in use by another `hookroute serve`"), "{second}");
        drop(first);
        assert!(lock_for_serving(&url).expect("again").is_some());
        assert!(lock_for_serving("postgres://u@h/db").expect("pg").is_none());
    }
}
