//! `gancho backup FILE`: a consistent copy of the SQLite file while gancho
//! runs. `VACUUM INTO` reads the whole database in one read transaction, so
//! the copy is the database as of one instant (every call answered `200`
//! before it began is in it), and in WAL mode that read blocks no writer:
//! gancho keeps taking calls. SQLite's online backup API was the other
//! choice; it restarts whenever another process writes between its steps,
//! so under steady traffic it may never finish. How far the copy is comes
//! from the size of the file being written (SQLite reports no progress).

use std::fs::{File, OpenOptions};
use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};

#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error("{0} already exists; choose a new file (a backup never overwrites one)")]
    Exists(PathBuf),
    #[error("no SQLite database at {0}")]
    NoDatabase(PathBuf),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{0} is not a path SQLite can be given (it is not UTF-8)")]
    Path(PathBuf),
    #[error("copying the database: {0}")]
    Sqlite(#[from] rusqlite::Error),
}

/// How often the size of the copy is reported while it is written.
const POLL: Duration = Duration::from_millis(100);

/// Copies the database at `source` into the new file `dest` and returns
/// the copy's size in bytes. `progress(written, total)` is called every
/// [`POLL`] from another thread, `total` being the database's size in use.
/// On failure the partial copy is removed. Blocking: run it off the runtime.
pub fn backup(
    source: &Path,
    dest: &Path,
    progress: &(dyn Fn(u64, u64) + Sync),
) -> Result<u64, BackupError> {
    if !source.is_file() {
        return Err(BackupError::NoDatabase(source.to_path_buf()));
    }
    let dest_str = dest
        .to_str()
        .ok_or_else(|| BackupError::Path(dest.to_path_buf()))?;
    // Created here, exclusively, so two backups (or a file that appeared
    // meanwhile) can never be overwritten; `VACUUM INTO` accepts an empty file.
    let created = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(dest)
        .map_err(|e| match e.kind() {
            ErrorKind::AlreadyExists => BackupError::Exists(dest.to_path_buf()),
            _ => io(dest, e),
        })?;
    drop(created);
    let copied = copy(source, dest, dest_str, progress);
    if copied.is_err() {
        let _ = std::fs::remove_file(dest);
    }
    copied
}

fn copy(
    source: &Path,
    dest: &Path,
    dest_str: &str,
    progress: &(dyn Fn(u64, u64) + Sync),
) -> Result<u64, BackupError> {
    // Read-write without create: a read-only connection cannot open a WAL
    // file whose `-shm` is gone (gancho stopped), and nothing here writes.
    let conn = Connection::open_with_flags(
        source,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.busy_timeout(Duration::from_secs(10))?;
    let in_use: u64 = conn.query_row(
        "SELECT (page_count - freelist_count) * page_size
         FROM pragma_page_count(), pragma_freelist_count(), pragma_page_size()",
        [],
        |r| r.get::<_, i64>(0),
    )? as u64;
    let is_done = AtomicBool::new(false);
    let vacuumed = std::thread::scope(|scope| {
        scope.spawn(|| {
            while !is_done.load(Ordering::Relaxed) {
                let written = std::fs::metadata(dest).map(|m| m.len()).unwrap_or(0);
                progress(written.min(in_use), in_use);
                std::thread::sleep(POLL);
            }
        });
        let result = conn.execute("VACUUM INTO ?1", [dest_str]);
        is_done.store(true, Ordering::Relaxed);
        result
    });
    vacuumed?;
    drop(conn);
    // `VACUUM INTO` does not sync what it wrote: a backup that a power cut
    // right after "done" could lose is no backup.
    File::open(dest)
        .and_then(|f| f.sync_all())
        .map_err(|e| io(dest, e))?;
    if let Some(dir) = dest.parent().filter(|d| !d.as_os_str().is_empty()) {
        File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| io(dir, e))?;
    }
    let size = std::fs::metadata(dest).map_err(|e| io(dest, e))?.len();
    progress(size, size);
    Ok(size)
}

fn io(path: &Path, source: std::io::Error) -> BackupError {
    BackupError::Io {
        path: path.to_path_buf(),
        source,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_existing_file_is_refused_and_left_as_it_was() {
        let dir = tempfile::tempdir().unwrap();
        let source = dir.path().join("gancho.db");
        Connection::open(&source)
            .unwrap()
            .execute_batch("CREATE TABLE t (x); INSERT INTO t VALUES (1);")
            .unwrap();
        let dest = dir.path().join("taken");
        std::fs::write(&dest, "keep me").unwrap();

        let got = backup(&source, &dest, &|_, _| {});

        assert!(matches!(got, Err(BackupError::Exists(_))), "{got:?}");
        assert_eq!(std::fs::read_to_string(&dest).unwrap(), "keep me");
    }

    #[test]
    fn a_missing_database_is_named_and_no_file_is_left() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("copy.db");

        let got = backup(&dir.path().join("nope.db"), &dest, &|_, _| {});

        assert!(matches!(got, Err(BackupError::NoDatabase(_))), "{got:?}");
        assert!(!dest.exists());
    }
}
