//! The queries both backends run with the same text, written once.
//!
//! SQLite and PostgreSQL accept one dialect for nearly everything gancho
//! asks of them: `$N` placeholders (sqlx's SQLite driver binds `$N` by
//! number), `CAST($n AS TEXT) IS NULL` for an optional parameter,
//! `ON CONFLICT DO NOTHING`, boolean columns tested bare (`is_bootstrap`,
//! `NOT is_bootstrap`), `COUNT(*) FILTER (WHERE …)`, and sums cast with
//! `CAST(… AS BIGINT)`. What truly differs (`FOR UPDATE SKIP LOCKED`,
//! advisory locks, the SQLite ledger's own writer connection) stays in
//! `sqlite/` and `postgres/`, side by side.
//!
//! The two drivers' types differ (`SqliteRow` and `PgRow`, `i64` and
//! `timestamptz` for times), so each file here holds a macro that a backend
//! expands in its own `mod.rs`: the code and the SQL are written once, and
//! each backend compiles them against its own driver. A macro's body uses
//! the names every backend module defines alike:
//!
//! | name | SQLite | PostgreSQL |
//! | --- | --- | --- |
//! | `Db` | `sqlx::Sqlite` | `sqlx::Postgres` |
//! | `ms(t)` | unix milliseconds | the `DateTime` itself |
//! | `col`, `parse_id`, `map_err` | read a column, parse an id, map an error | the same |
//! | `self.reader` | the read-only pool | the pool |
//! | `self.write_conn()` | the writer, holding the file lock | a pooled connection |
//! | `self.write_tx()` | `BEGIN IMMEDIATE` on the writer | `BEGIN` with generic plans (`postgres::BEGIN_WRITE`) |
//! | `self.config` | the configuration cache | the same, invalidated by `NOTIFY` |

pub(super) mod catalog;
pub(super) mod logs;
pub(super) mod outbound;
pub(super) mod students;

use super::{Page, StoreError, StoreResult};

/// `NotFound` when a statement changed no row (an update or delete of an id
/// that is not in the workspace).
pub(super) fn changed(rows_affected: u64) -> StoreResult<()> {
    if rows_affected == 0 {
        return Err(StoreError::NotFound);
    }
    Ok(())
}

/// The one item a `WHERE id = …` read found.
pub(super) fn one<T>(mut items: Vec<T>) -> StoreResult<T> {
    items.pop().ok_or(StoreError::NotFound)
}

/// A page's keyset bounds as bound parameters: after this id, at most this many.
pub(super) fn page_bounds(page: &Page) -> (Option<String>, i64) {
    (page.after.clone(), i64::from(page.limit.max(1)))
}
