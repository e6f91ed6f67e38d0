//! The SQLite writer connection (issue 9): a `rusqlite` connection whose
//! statements run on the thread of the task that holds it, with no hand-off
//! to a worker thread and back per statement (what sqlx's SQLite driver
//! does, and what the profile showed as most of an inbound call's time).
//!
//! The connection lives in the group-commit slot (`group.rs`): a unit of
//! work holds the slot, so it is used by one task at a time. Statements
//! inside a unit never wait on a lock (the group's transaction already
//! holds SQLite's write lock) and do no fsync; the two steps that may wait,
//! `BEGIN IMMEDIATE` (another process holding the file) and `COMMIT` (the
//! fsync), run on tokio's blocking pool instead of a runtime thread.
//!
//! The SQL is the backends' shared text with `$N` placeholders, bound by
//! name, so a statement may use its parameters in any order and more than
//! once, as with sqlx.

use std::path::Path;
use std::time::Duration;

use chrono::{DateTime, Utc};
use rusqlite::config::DbConfig;
use rusqlite::types::ToSql;
use rusqlite::{Connection, OpenFlags, Row};

use super::{conflict_name, unavailable_code};
use crate::storage::rows::{from_millis, RowRead};
use crate::storage::{StoreError, StoreResult};

/// Parameters of one statement, `$1` first.
pub(super) type Params<'a> = &'a [&'a dyn ToSql];

/// How long the writer waits for another connection's write lock (as the
/// sqlx pools do), on the blocking pool only ([`try_now`]).
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// How many prepared statements the connection keeps: every statement of
/// the ledger's unit of work, with room to spare.
const STATEMENT_CACHE: usize = 64;

/// Opens the writer connection on an existing, migrated file with the
/// settings of the sqlx pools (`SqliteStore::open`: WAL, foreign keys, a
/// 10 s busy timeout) but `synchronous = NORMAL`: its `COMMIT` writes the
/// WAL without waiting for the disk, and the committer makes the group
/// durable with [`sync_wal`] after it has let the next group start
/// (`group.rs`). Should the file not be in WAL mode, the connection keeps
/// `FULL` and its `COMMIT` is durable by itself; [`WalSync::None`] says so.
pub(super) fn open(path: &Path) -> StoreResult<(Connection, WalSync)> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(map_err)?;
    conn.busy_timeout(BUSY_TIMEOUT).map_err(map_err)?;
    let mode: String = conn
        .pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0))
        .map_err(map_err)?;
    let sync = if mode.eq_ignore_ascii_case("wal") {
        let mut wal = path.as_os_str().to_owned();
        wal.push("-wal");
        WalSync::After(wal.into())
    } else {
        WalSync::None
    };
    let level = match sync {
        WalSync::After(_) => "NORMAL",
        WalSync::None => "FULL",
    };
    conn.pragma_update(None, "synchronous", level)
        .map_err(map_err)?;
    if sync != WalSync::None {
        // Checkpoints run on a connection of their own ([`checkpoint`]),
        // not inside a group's `COMMIT` while it holds the slot.
        conn.pragma_update(None, "wal_autocheckpoint", 0)
            .map_err(map_err)?;
    }
    conn.pragma_update(None, "foreign_keys", "ON")
        .map_err(map_err)?;
    // A unit's savepoint keeps the original of each page it changes in a
    // sub-journal; in memory, not in a temporary file written on every
    // unit (the profile showed those writes as an eighth of the time).
    // In memory SQLite keeps it in 1 KiB chunks, several allocations a page
    // (5 % of a saturated server's CPU). Tried, with the default
    // `temp_store`: `SQLITE_STMTJRNL_SPILL` (one buffer in memory, a file
    // past it) at 1 MiB saved most of that, but a unit past 1 MiB then
    // failed with SQLITE_FULL (the unix VFS writes at most 128 KiB at once;
    // test `a_unit_past_the_journal_in_memory_still_rolls_back_alone`);
    // at 124 KiB, inbound units spilled to files and the journal took 14 %.
    conn.pragma_update(None, "temp_store", "MEMORY")
        .map_err(map_err)?;
    // Plans that do not depend on the values bound: otherwise SQLite marks
    // each `column = $N` a plan filters on, and binding new values (or
    // rusqlite clearing them as a statement goes back to its cache)
    // prepares the statement again on its next step. That parsing and
    // planning was an eighth of a saturated server's time (issue 9). No
    // statement here needs a value-specific plan: partial indexes are
    // matched on `IS NOT NULL`, which `column = $N` implies whatever $N is.
    conn.set_db_config(DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG, true)
        .map_err(map_err)?;
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    Ok((conn, sync))
}

/// What makes the writer's commits durable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum WalSync {
    /// `COMMIT` itself (`synchronous = FULL`).
    None,
    /// An fsync of this WAL file once `COMMIT` has returned.
    After(std::path::PathBuf),
}

/// Makes every commit written to the WAL so far durable: an fsync of the
/// WAL file, opened afresh each time so it is the file SQLite writes now.
/// On Linux an fsync through any descriptor flushes the file's data, the
/// frames the writer appended included. Frames a checkpoint has copied
/// into the database are durable already: with `synchronous = NORMAL`
/// SQLite syncs the WAL before a checkpoint and the database after it, and
/// it starts the WAL over only after a complete one.
pub(super) fn sync_wal(wal: &Path) -> std::io::Result<()> {
    std::fs::File::open(wal)?.sync_data()
}

/// A connection of its own for [`checkpoint`] (`synchronous` stays `FULL`:
/// a checkpoint syncs the WAL before it copies it, the database after).
pub(super) fn open_checkpointer(path: &Path) -> StoreResult<Connection> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(map_err)?;
    conn.busy_timeout(Duration::from_secs(1)).map_err(map_err)?;
    Ok(conn)
}

/// Copies what the WAL holds into the database file, as far as readers
/// allow (`PASSIVE`: it waits for no one, and writers go on meanwhile).
/// The writer starts the WAL over at its next transaction once all of it
/// has been copied, which keeps the file small.
pub(super) fn checkpoint(conn: &Connection) -> StoreResult<()> {
    conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))
        .map_err(map_err)
}

/// The connection's own statements (`BEGIN`, `SAVEPOINT`, …), one or more
/// separated by `;`, each prepared once and kept.
pub(super) fn batch(conn: &Connection, sql: &str) -> StoreResult<()> {
    for one in sql.split(';').map(str::trim).filter(|s| !s.is_empty()) {
        conn.prepare_cached(one)
            .and_then(|mut stmt| stmt.raw_execute())
            .map_err(map_err)?;
    }
    Ok(())
}

/// Runs the connection's own `sql` (as [`batch`]) without waiting for a
/// lock: `false`, with nothing done, when another connection holds the one
/// it needs (`SQLITE_BUSY`), so the caller can wait for it off the async
/// runtime. The busy handler is off only for this call.
pub(super) fn try_now(conn: &Connection, sql: &str) -> StoreResult<bool> {
    conn.busy_timeout(Duration::ZERO).map_err(map_err)?;
    let done = conn
        .prepare_cached(sql)
        .and_then(|mut stmt| stmt.raw_execute());
    conn.busy_timeout(BUSY_TIMEOUT).map_err(map_err)?;
    match done {
        Ok(_) => Ok(true),
        Err(rusqlite::Error::SqliteFailure(failure, _))
            if failure.code == rusqlite::ErrorCode::DatabaseBusy =>
        {
            Ok(false)
        }
        Err(e) => Err(map_err(e)),
    }
}

/// `$1`… for the usual statement, without formatting a name per parameter
/// on every call (longer `IN` lists format the rest).
const PARAM_NAMES: [&str; 16] = [
    "$1", "$2", "$3", "$4", "$5", "$6", "$7", "$8", "$9", "$10", "$11", "$12", "$13", "$14", "$15",
    "$16",
];

fn bound<'c>(
    conn: &'c Connection,
    sql: &str,
    params: Params<'_>,
) -> StoreResult<rusqlite::CachedStatement<'c>> {
    let mut stmt = conn.prepare_cached(sql).map_err(map_err)?;
    for (i, value) in params.iter().enumerate() {
        let name = match PARAM_NAMES.get(i) {
            Some(name) => std::borrow::Cow::Borrowed(*name),
            None => std::borrow::Cow::Owned(format!("${}", i + 1)),
        };
        if let Some(index) = stmt.parameter_index(&name).map_err(map_err)? {
            stmt.raw_bind_parameter(index, value).map_err(map_err)?;
        }
    }
    Ok(stmt)
}

/// Runs a statement; the number of rows it changed.
pub(super) fn execute(conn: &Connection, sql: &str, params: Params<'_>) -> StoreResult<usize> {
    bound(conn, sql, params)?.raw_execute().map_err(map_err)
}

/// Every row of a query, each mapped by `map`.
pub(super) fn query<T>(
    conn: &Connection,
    sql: &str,
    params: Params<'_>,
    mut map: impl FnMut(&Row<'_>) -> StoreResult<T>,
) -> StoreResult<Vec<T>> {
    let mut stmt = bound(conn, sql, params)?;
    let mut rows = stmt.raw_query();
    let mut out = Vec::new();
    while let Some(row) = rows.next().map_err(map_err)? {
        out.push(map(row)?);
    }
    Ok(out)
}

/// The first row of a query, if any.
pub(super) fn query_opt<T>(
    conn: &Connection,
    sql: &str,
    params: Params<'_>,
    map: impl FnOnce(&Row<'_>) -> StoreResult<T>,
) -> StoreResult<Option<T>> {
    let mut stmt = bound(conn, sql, params)?;
    let mut rows = stmt.raw_query();
    match rows.next().map_err(map_err)? {
        Some(row) => map(row).map(Some),
        None => Ok(None),
    }
}

/// The one row of a query; `NotFound` when there is none.
pub(super) fn query_one<T>(
    conn: &Connection,
    sql: &str,
    params: Params<'_>,
    map: impl FnOnce(&Row<'_>) -> StoreResult<T>,
) -> StoreResult<T> {
    query_opt(conn, sql, params, map)?.ok_or(StoreError::NotFound)
}

/// Maps rusqlite errors as `super::map_err` maps sqlx's: unique violations
/// to `Conflict`, what a retry may cure to `Unavailable`.
pub(super) fn map_err(e: rusqlite::Error) -> StoreError {
    match &e {
        rusqlite::Error::QueryReturnedNoRows => StoreError::NotFound,
        rusqlite::Error::SqliteFailure(failure, message) => {
            let is_unique = matches!(
                failure.extended_code,
                rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
                    | rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY
            );
            if is_unique {
                return StoreError::Conflict(conflict_name(message.as_deref().unwrap_or("")));
            }
            match unavailable_code(i64::from(failure.extended_code)) {
                Some(reason) => StoreError::Unavailable(format!("{reason} ({e})")),
                None => StoreError::Embedded(e),
            }
        }
        _ => StoreError::Embedded(e),
    }
}

impl RowRead for Row<'_> {
    fn opt_text(&self, col: &str) -> StoreResult<Option<String>> {
        self.get(col).map_err(map_err)
    }

    fn opt_int(&self, col: &str) -> StoreResult<Option<i64>> {
        self.get(col).map_err(map_err)
    }

    fn flag(&self, col: &str) -> StoreResult<bool> {
        self.get(col).map_err(map_err)
    }

    /// Times are stored as unix milliseconds.
    fn opt_time(&self, col: &str) -> StoreResult<Option<DateTime<Utc>>> {
        let ms: Option<i64> = self.get(col).map_err(map_err)?;
        ms.map(from_millis).transpose()
    }

    fn text_if_selected(&self, col: &str) -> Option<String> {
        self.get::<_, Option<String>>(col).ok().flatten()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `$N` is bound by name: a statement may use its parameters out of
    /// order and twice (positional binding would swap them).
    #[test]
    fn parameters_bind_by_number_in_any_order() {
        let conn = Connection::open_in_memory().unwrap();
        batch(&conn, "CREATE TABLE t (a TEXT, b TEXT, c TEXT)").unwrap();
        let n = execute(
            &conn,
            "INSERT INTO t (a, b, c) SELECT $2, $1, $2",
            &[&"one", &"two"],
        )
        .unwrap();
        assert_eq!(n, 1);
        let got = query_one(&conn, "SELECT a, b, c FROM t", &[], |r| {
            Ok((r.text("a")?, r.text("b")?, r.text("c")?))
        })
        .unwrap();
        assert_eq!(got, ("two".into(), "one".into(), "two".into()));

        // Past the names kept ready: `$17` and on are bound too.
        let values: Vec<i64> = (1..=18).collect();
        let params: Vec<&dyn ToSql> = values.iter().map(|v| v as &dyn ToSql).collect();
        let list = (1..=18)
            .map(|i| format!("${i}"))
            .collect::<Vec<_>>()
            .join(" + ");
        let sum = query_one(&conn, &format!("SELECT {list} AS n"), &params, |r| {
            r.int("n")
        });
        assert_eq!(sum.unwrap(), (1..=18).sum::<i64>());
    }

    #[test]
    fn errors_map_like_the_pools() {
        let conn = Connection::open_in_memory().unwrap();
        batch(&conn, "CREATE TABLE students (email TEXT UNIQUE)").unwrap();
        execute(&conn, "INSERT INTO students VALUES ($1)", &[&"a@x"]).unwrap();
        let again = execute(&conn, "INSERT INTO students VALUES ($1)", &[&"a@x"]);
        assert!(
            matches!(again, Err(StoreError::Conflict("students.email"))),
            "{again:?}"
        );
        let none = query_one(&conn, "SELECT email FROM students WHERE 0", &[], |r| {
            r.text("email")
        });
        assert!(matches!(none, Err(StoreError::NotFound)), "{none:?}");
        // A value of another type than asked for is an error, not a panic.
        let wrong = query_one(&conn, "SELECT 'x' AS n", &[], |r| r.int("n"));
        assert!(matches!(wrong, Err(StoreError::Embedded(_))), "{wrong:?}");
    }

    /// A cached statement runs as it was prepared, whatever is bound to it
    /// next. SQLite marks every `column = $N` of a plan so that binding a
    /// new value (or rusqlite clearing the bindings as it puts a statement
    /// back in its cache) makes the next step prepare the statement again;
    /// the profile of a saturated server showed an eighth of its time
    /// parsing and planning the unit's statements anew (issue 9).
    #[tokio::test]
    async fn cached_statements_are_not_prepared_again_for_new_values() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("w.db");
        drop(
            crate::storage::sqlite::SqliteStore::open(&path)
                .await
                .unwrap(),
        );
        let (conn, _) = open(&path).unwrap();
        let categories = crate::storage::CATEGORY_PRODUCTS.replace("{categories}", "$2");
        // Statements of an approval's unit of work, with their parameter counts.
        let unit: [(&str, usize); 4] = [
            (crate::storage::GRANTS_FOR_TRANSACTION, 4),
            (crate::storage::GRANTS_FOR_SUBSCRIPTION, 4),
            (crate::storage::ENABLED_ENDPOINTS, 1),
            (&categories, 2),
        ];
        for (sql, n) in unit {
            for call in 0..3 {
                let values: Vec<String> = (0..n).map(|p| format!("v{call}-{p}")).collect();
                let params: Vec<&dyn ToSql> = values.iter().map(|v| v as &dyn ToSql).collect();
                query(&conn, sql, &params, |_| Ok(())).unwrap();
            }
            let stmt = conn.prepare_cached(sql).unwrap();
            assert_eq!(
                stmt.get_status(rusqlite::StatementStatus::RePrepare),
                0,
                "prepared again for new values: {sql}"
            );
        }
    }
}
