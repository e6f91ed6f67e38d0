//! `gancho copy --to URL`: every row of one gancho database written into
//! another, empty one, on either backend (SQLite to PostgreSQL and back).
//!
//! The two schemas have the same tables and columns; only the column types
//! differ (`INTEGER` unix milliseconds against `timestamptz`, `0/1` against
//! `boolean`). [`TABLES`] names each table's columns once with a [`Kind`],
//! which says how to read the value on one backend and write it on the
//! other; a test checks the list against both migrated schemas, so a new
//! migration cannot add a column the copy leaves behind.
//!
//! The source is read in one read-only snapshot (a deferred transaction on
//! SQLite's WAL, `REPEATABLE READ` on PostgreSQL), so a server still
//! running gives a copy of one instant; the target is written in one
//! transaction, so a failed copy leaves it as empty as it was and can be
//! run again. Rows move in multi-row `INSERT`s of a few hundred, parents
//! before children. The counters that triggers keep (`log_buckets`,
//! `delivery_counts`) are filled by those triggers as the logs and
//! deliveries arrive, then replaced by the source's own figures, which also
//! count entries that retention has since deleted. Before the commit every
//! table's row count in the target is checked against what was read.
//!
//! Secrets are copied as stored, sealed: the target needs the same
//! `GANCHO_ENCRYPTION_KEY`.

use std::path::Path;

use chrono::{DateTime, Utc};
use futures_util::TryStreamExt;
use sqlx::postgres::{PgConnectOptions, PgRow};
use sqlx::sqlite::SqliteRow;
use sqlx::{AssertSqlSafe, ConnectOptions, Connection, PgConnection, Row, SqliteConnection};

use super::rows::from_millis;
use crate::config::DatabaseUrl;

/// How a column's value is stored on each backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `TEXT` on both.
    Text,
    /// `INTEGER` on SQLite, `BIGINT` on PostgreSQL.
    Int,
    /// `INTEGER` 0/1 on SQLite, `BOOLEAN` on PostgreSQL.
    Bool,
    /// `INTEGER` unix milliseconds on SQLite, `TIMESTAMPTZ` on PostgreSQL.
    Time,
}

use Kind::{Bool, Int, Text, Time};

/// One table the copy moves.
#[derive(Debug)]
pub struct Table {
    pub name: &'static str,
    pub columns: &'static [(&'static str, Kind)],
    /// Kept by triggers on another table: emptied after the rows that fire
    /// them are in, then written from the source's figures (summed over
    /// PostgreSQL's shards).
    pub counter: Option<&'static str>,
}

const fn table(name: &'static str, columns: &'static [(&'static str, Kind)]) -> Table {
    Table {
        name,
        columns,
        counter: None,
    }
}

/// Every table of a gancho database, parents before the rows that refer
/// to them. Not copied: `_sqlx_migrations` (the target's own migrations
/// write it) and `write_probe` (empty between probes).
pub const TABLES: &[Table] = &[
    table(
        "workspaces",
        &[
            ("id", Text),
            ("name", Text),
            ("public_id", Text),
            ("created_at", Time),
        ],
    ),
    table(
        "api_keys",
        &[
            ("id", Text),
            ("workspace_id", Text),
            ("name", Text),
            ("token_hash", Text),
            ("is_bootstrap", Bool),
            ("created_at", Time),
        ],
    ),
    table(
        "ui_sessions",
        &[
            ("id", Text),
            ("workspace_id", Text),
            ("api_key_id", Text),
            ("token_hash", Text),
            ("created_at", Time),
            ("expires_at", Time),
        ],
    ),
    table(
        "products",
        &[
            ("id", Text),
            ("workspace_id", Text),
            ("name", Text),
            ("created_at", Time),
        ],
    ),
    table(
        "product_external_ids",
        &[
            ("product_id", Text),
            ("workspace_id", Text),
            ("gateway", Text),
            ("external_id", Text),
            ("position", Int),
        ],
    ),
    table(
        "categories",
        &[
            ("id", Text),
            ("workspace_id", Text),
            ("name", Text),
            ("created_at", Time),
        ],
    ),
    table(
        "category_products",
        &[("category_id", Text), ("product_id", Text), ("position", Int)],
    ),
    table(
        "students",
        &[
            ("id", Text),
            ("workspace_id", Text),
            ("email", Text),
            ("name", Text),
            ("phone", Text),
            ("document", Text),
            ("status", Text),
            ("created_at", Time),
            ("updated_at", Time),
        ],
    ),
    table(
        "grants",
        &[
            ("id", Text),
            ("workspace_id", Text),
            ("student_id", Text),
            ("product_id", Text),
            ("category_id", Text),
            ("is_manual", Bool),
            ("gateway", Text),
            ("transaction_id", Text),
            ("subscription_id", Text),
            ("granted_at", Time),
            ("expires_at", Time),
            ("revoked_at", Time),
            ("revoke_reason", Text),
        ],
    ),
    table(
        "grant_transactions",
        &[
            ("grant_id", Text),
            ("workspace_id", Text),
            ("gateway", Text),
            ("transaction_id", Text),
        ],
    ),
    table(
        "inbound_urls",
        &[
            ("id", Text),
            ("workspace_id", Text),
            ("name", Text),
            ("gateway", Text),
            ("slug", Text),
            ("access_days", Int),
            ("is_enabled", Bool),
            ("created_at", Time),
            ("allowed_sources", Text),
        ],
    ),
    table(
        "inbound_url_products",
        &[
            ("inbound_url_id", Text),
            ("product_id", Text),
            ("position", Int),
        ],
    ),
    table(
        "inbound_url_categories",
        &[
            ("inbound_url_id", Text),
            ("category_id", Text),
            ("position", Int),
        ],
    ),
    table(
        "gateway_keys",
        &[
            ("id", Text),
            ("workspace_id", Text),
            ("gateway", Text),
            ("name", Text),
            ("secret", Text),
            ("created_at", Time),
            ("api_key", Text),
        ],
    ),
    table(
        "processed_events",
        &[
            ("workspace_id", Text),
            ("gateway", Text),
            ("reference", Text),
            ("status", Text),
            ("transaction_id", Text),
            ("subscription_id", Text),
            ("log_id", Text),
            ("processed_at", Time),
        ],
    ),
    table(
        "log_entries",
        &[
            ("id", Text),
            ("workspace_id", Text),
            ("at", Time),
            ("direction", Text),
            ("gateway", Text),
            ("event_type", Text),
            ("email", Text),
            ("status", Text),
            ("http_status", Int),
            ("duration_ms", Int),
            ("integration_kind", Text),
            ("integration_id", Text),
            ("integration_name", Text),
            ("attempts", Int),
            ("error", Text),
            ("reprocess_of", Text),
        ],
    ),
    table("log_details", &[("log_id", Text), ("detail", Text)]),
    table(
        "customer_lookups",
        &[
            ("log_id", Text),
            ("workspace_id", Text),
            ("key_id", Text),
            ("gateway", Text),
            ("customer_ref", Text),
            ("attempts", Int),
            ("next_attempt_at", Time),
            ("last_error", Text),
            ("created_at", Time),
        ],
    ),
    table(
        "endpoints",
        &[
            ("id", Text),
            ("workspace_id", Text),
            ("name", Text),
            ("url", Text),
            ("event_types", Text),
            ("product_ids", Text),
            ("headers", Text),
            ("rate_limit_per_second", Int),
            ("is_enabled", Bool),
            ("disabled_reason", Text),
            ("secret", Text),
            ("previous_secret", Text),
            ("previous_secret_expires_at", Time),
            ("created_at", Time),
            ("updated_at", Time),
            ("max_in_flight", Int),
            ("breaker_failures", Int),
            ("breaker_open_until", Time),
        ],
    ),
    table(
        "events",
        &[
            ("id", Text),
            ("workspace_id", Text),
            ("type", Text),
            ("payload", Text),
            ("product_ids", Text),
            ("created_at", Time),
        ],
    ),
    table(
        "deliveries",
        &[
            ("id", Text),
            ("workspace_id", Text),
            ("event_id", Text),
            ("event_type", Text),
            ("endpoint_id", Text),
            ("status", Text),
            ("attempts", Int),
            ("cycle_start", Int),
            ("next_attempt_at", Time),
            ("lease_until", Time),
            ("last_http_status", Int),
            ("last_error", Text),
            ("log_id", Text),
            ("created_at", Time),
            ("updated_at", Time),
            ("lease_token", Int),
        ],
    ),
    table(
        "delivery_attempts",
        &[
            ("delivery_id", Text),
            ("number", Int),
            ("at", Time),
            ("http_status", Int),
            ("response_body", Text),
            ("duration_ms", Int),
            ("error", Text),
        ],
    ),
    Table {
        name: "log_buckets",
        columns: &[
            ("workspace_id", Text),
            ("bucket", Time),
            ("total", Int),
            ("success", Int),
            ("failure", Int),
            ("sum_ms", Int),
        ],
        counter: Some(
            "SELECT workspace_id, bucket, CAST(SUM(total) AS BIGINT), CAST(SUM(success) AS BIGINT), \
             CAST(SUM(failure) AS BIGINT), CAST(SUM(sum_ms) AS BIGINT) \
             FROM log_buckets GROUP BY workspace_id, bucket",
        ),
    },
    Table {
        name: "delivery_counts",
        columns: &[("workspace_id", Text), ("status", Text), ("n", Int)],
        counter: Some(
            "SELECT workspace_id, status, CAST(SUM(n) AS BIGINT) \
             FROM delivery_counts GROUP BY workspace_id, status",
        ),
    },
];

/// Tables a gancho database has that the copy leaves out on purpose.
pub const NOT_COPIED: &[&str] = &["_sqlx_migrations", "write_probe"];

/// Rows per `INSERT`; also the unit the progress callback counts in.
const BATCH_ROWS: usize = 500;

#[derive(Debug, thiserror::Error)]
pub enum CopyError {
    #[error("the source and the target are the same database")]
    SameDatabase,
    #[error("{0}")]
    Source(String),
    #[error(
        "the target already holds data ({rows} rows in {table}): gancho copy writes only into an empty database"
    )]
    NotEmpty { table: &'static str, rows: i64 },
    #[error("{table}: read {read} rows from the source but the target has {written}; nothing was committed")]
    Mismatch {
        table: &'static str,
        read: u64,
        written: i64,
    },
    #[error("{0}")]
    Database(#[from] sqlx::Error),
}

/// What was copied: each table's rows, in [`TABLES`]' order.
#[derive(Debug, Default)]
pub struct Copied {
    pub tables: Vec<(&'static str, u64)>,
}

impl Copied {
    pub fn rows(&self) -> u64 {
        self.tables.iter().map(|(_, n)| n).sum()
    }
}

/// Progress, as `(table, rows copied so far, rows in all)`.
pub type Progress<'a> = &'a (dyn Fn(&'static str, u64, u64) + Sync);

/// Copies every table of `from` (a database this build has migrated) into
/// `to`, which is migrated first (created, for a SQLite file) and must hold
/// no rows.
pub async fn copy(
    from: &DatabaseUrl,
    to: &DatabaseUrl,
    progress: Progress<'_>,
) -> Result<Copied, CopyError> {
    if same_database(from, to) {
        return Err(CopyError::SameDatabase);
    }
    let mut source = Db::connect(from, false).await?;
    let state = source.migrations().await?;
    if !state.is_current() {
        return Err(CopyError::Source(format!(
            "the source database is not at this version's schema (pending: {}): run gancho migrate on it first",
            state
                .pending
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    migrate(to).await?;
    let mut target = Db::connect(to, true).await?;

    source.begin_snapshot().await?;
    let mut total = 0u64;
    for t in TABLES {
        total += u64::try_from(source.count(t.name).await?).unwrap_or(0);
    }
    target.begin_write().await?;
    for t in TABLES {
        let rows = target.count(t.name).await?;
        if rows > 0 {
            return Err(CopyError::NotEmpty {
                table: t.name,
                rows,
            });
        }
    }

    let mut copied = Copied::default();
    let mut done = 0u64;
    progress(TABLES[0].name, 0, total);
    for t in TABLES {
        if t.counter.is_some() {
            target.execute(&format!("DELETE FROM {}", t.name)).await?;
        }
        let columns: Vec<&str> = t.columns.iter().map(|(c, _)| *c).collect();
        let select = match t.counter {
            Some(sql) => sql.to_string(),
            None => format!("SELECT {} FROM {}", columns.join(", "), t.name),
        };
        let full = target.insert_sql(t, BATCH_ROWS);
        let mut read = 0u64;
        let mut batch = Vec::with_capacity(BATCH_ROWS);
        let mut rows = source.rows(&select, t.columns);
        while let Some(row) = rows.try_next().await? {
            batch.push(row);
            if batch.len() == BATCH_ROWS {
                let rows = std::mem::replace(&mut batch, Vec::with_capacity(BATCH_ROWS));
                target.insert(&full, rows).await?;
                read += BATCH_ROWS as u64;
                done += BATCH_ROWS as u64;
                progress(t.name, done, total);
            }
        }
        drop(rows);
        if !batch.is_empty() {
            let n = batch.len() as u64;
            let sql = target.insert_sql(t, batch.len());
            target.insert(&sql, batch).await?;
            read += n;
            done += n;
            progress(t.name, done, total);
        }
        let written = target.count(t.name).await?;
        if u64::try_from(written).ok() != Some(read) {
            return Err(CopyError::Mismatch {
                table: t.name,
                read,
                written,
            });
        }
        copied.tables.push((t.name, read));
    }
    target.commit().await?;
    source.close().await;
    Ok(copied)
}

fn same_database(a: &DatabaseUrl, b: &DatabaseUrl) -> bool {
    match (a, b) {
        (DatabaseUrl::Sqlite(a), DatabaseUrl::Sqlite(b)) => {
            let canonical = |p: &Path| p.canonicalize().unwrap_or_else(|_| p.to_path_buf());
            canonical(a) == canonical(b)
        }
        (DatabaseUrl::Postgres(a), DatabaseUrl::Postgres(b)) => {
            let at = |u: &str| {
                u.parse::<PgConnectOptions>().ok().map(|o| {
                    let db = o.get_database().map(str::to_string);
                    (o.get_host().to_string(), o.get_port(), db)
                })
            };
            let a = at(a.expose());
            a.is_some() && a == at(b.expose())
        }
        _ => false,
    }
}

/// Applies this build's migrations to the target (creating a SQLite file).
async fn migrate(to: &DatabaseUrl) -> Result<(), CopyError> {
    match to {
        DatabaseUrl::Sqlite(path) => {
            super::sqlite::SqliteStore::migrate(path)
                .await
                .map_err(|e| CopyError::Source(format!("the target {}: {e}", path.display())))?;
        }
        DatabaseUrl::Postgres(url) => {
            super::postgres::PgStore::migrate(url.expose()).await?;
        }
    }
    Ok(())
}

/// One value read from the source, with the kind it is written as.
#[derive(Debug, Clone)]
enum Value {
    Text(Option<String>),
    Int(Option<i64>),
    Bool(Option<bool>),
    Time(Option<DateTime<Utc>>),
}

/// A connection to one side of the copy.
enum Db {
    Sqlite(SqliteConnection),
    Postgres(PgConnection),
}

type Rows<'c> = futures_util::stream::BoxStream<'c, Result<Vec<Value>, sqlx::Error>>;

impl Db {
    async fn connect(url: &DatabaseUrl, create: bool) -> Result<Self, CopyError> {
        Ok(match url {
            DatabaseUrl::Sqlite(path) => {
                if !create && !path.is_file() {
                    return Err(CopyError::Source(format!(
                        "no SQLite database at {}",
                        path.display()
                    )));
                }
                let options = super::sqlite::connect_options(path)
                    .map_err(|e| CopyError::Source(e.to_string()))?
                    .create_if_missing(create);
                Db::Sqlite(options.connect().await?)
            }
            DatabaseUrl::Postgres(url) => {
                let options: PgConnectOptions = url.expose().parse()?;
                Db::Postgres(options.connect().await?)
            }
        })
    }

    async fn migrations(&mut self) -> Result<super::migrations::MigrationState, CopyError> {
        match self {
            Db::Sqlite(c) => super::sqlite::recorded_migrations(c)
                .await
                .map_err(|e| CopyError::Source(e.to_string())),
            Db::Postgres(c) => Ok(super::postgres::recorded_migrations(c).await?),
        }
    }

    /// Starts the read-only snapshot every source read comes from.
    async fn begin_snapshot(&mut self) -> Result<(), sqlx::Error> {
        match self {
            // Deferred: the snapshot is taken at the first read, and holds
            // no lock a running gancho would wait on.
            Db::Sqlite(c) => sqlx::query("BEGIN").execute(&mut *c).await.map(drop),
            Db::Postgres(c) => sqlx::query("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
                .execute(&mut *c)
                .await
                .map(drop),
        }
    }

    async fn begin_write(&mut self) -> Result<(), sqlx::Error> {
        let begin = match self {
            Db::Sqlite(_) => "BEGIN IMMEDIATE",
            Db::Postgres(_) => "BEGIN",
        };
        self.execute(begin).await
    }

    async fn commit(&mut self) -> Result<(), sqlx::Error> {
        self.execute("COMMIT").await
    }

    async fn execute(&mut self, sql: &str) -> Result<(), sqlx::Error> {
        match self {
            Db::Sqlite(c) => sqlx::raw_sql(AssertSqlSafe(sql))
                .execute(&mut *c)
                .await
                .map(drop),
            Db::Postgres(c) => sqlx::raw_sql(AssertSqlSafe(sql))
                .execute(&mut *c)
                .await
                .map(drop),
        }
    }

    async fn count(&mut self, table: &str) -> Result<i64, sqlx::Error> {
        let sql = format!("SELECT COUNT(*) FROM {table}");
        match self {
            Db::Sqlite(c) => {
                sqlx::query_scalar(AssertSqlSafe(sql))
                    .fetch_one(&mut *c)
                    .await
            }
            Db::Postgres(c) => {
                sqlx::query_scalar(AssertSqlSafe(sql))
                    .fetch_one(&mut *c)
                    .await
            }
        }
    }

    /// The rows `sql` selects, each read as `columns` say.
    fn rows<'c>(&'c mut self, sql: &'c str, columns: &'static [(&'static str, Kind)]) -> Rows<'c> {
        match self {
            Db::Sqlite(c) => Box::pin(
                sqlx::query(AssertSqlSafe(sql))
                    .fetch(&mut *c)
                    .and_then(move |row| async move { sqlite_values(&row, columns) }),
            ),
            Db::Postgres(c) => Box::pin(
                sqlx::query(AssertSqlSafe(sql))
                    .fetch(&mut *c)
                    .and_then(move |row| async move { pg_values(&row, columns) }),
            ),
        }
    }

    /// One multi-row `INSERT` of `rows` into `t`.
    /// `sql` is [`Db::insert_sql`] for `rows.len()`, built once for full batches.
    async fn insert(&mut self, sql: &str, rows: Vec<Vec<Value>>) -> Result<(), sqlx::Error> {
        match self {
            Db::Sqlite(c) => {
                let mut q = sqlx::query(AssertSqlSafe(sql));
                for v in rows.into_iter().flatten() {
                    q = match v {
                        Value::Text(s) => q.bind(s),
                        Value::Int(n) => q.bind(n),
                        Value::Bool(b) => q.bind(b.map(i64::from)),
                        Value::Time(t) => q.bind(t.map(|t| t.timestamp_millis())),
                    };
                }
                q.execute(&mut *c).await.map(drop)
            }
            Db::Postgres(c) => {
                let mut q = sqlx::query(AssertSqlSafe(sql));
                for v in rows.into_iter().flatten() {
                    q = match v {
                        Value::Text(s) => q.bind(s),
                        Value::Int(n) => q.bind(n),
                        Value::Bool(b) => q.bind(b),
                        Value::Time(t) => q.bind(t),
                    };
                }
                q.execute(&mut *c).await.map(drop)
            }
        }
    }

    /// `INSERT INTO t (columns) VALUES (…), (…)` for `rows` rows, in this
    /// database's placeholders: numbered `$N` on PostgreSQL, anonymous `?`
    /// on SQLite. sqlx asks SQLite for the name of every numbered parameter
    /// it binds, which SQLite finds by a linear search of the statement's
    /// names: for the 7,500 of a full batch that search was most of a copy
    /// to SQLite (100,000 log entries in 16.7 s).
    fn insert_sql(&self, t: &Table, rows: usize) -> String {
        insert_sql(t, rows, matches!(self, Db::Postgres(_)))
    }

    async fn close(self) {
        let _ = match self {
            Db::Sqlite(c) => c.close().await,
            Db::Postgres(c) => c.close().await,
        };
    }
}

/// `INSERT INTO t (columns) VALUES ($1, …), (…)` for `rows` rows, with
/// `$N` placeholders when `numbered`, else `?` ([`Db::insert_sql`]).
fn insert_sql(t: &Table, rows: usize, numbered: bool) -> String {
    let width = t.columns.len();
    let names: Vec<&str> = t.columns.iter().map(|(c, _)| *c).collect();
    let anonymous = vec!["?"; width].join(", ");
    let values: Vec<String> = (0..rows)
        .map(|r| match numbered {
            true => format!("({})", super::placeholders(r * width + 1, width)),
            false => format!("({anonymous})"),
        })
        .collect();
    format!(
        "INSERT INTO {} ({}) VALUES {}",
        t.name,
        names.join(", "),
        values.join(", ")
    )
}

fn sqlite_values(row: &SqliteRow, columns: &[(&str, Kind)]) -> Result<Vec<Value>, sqlx::Error> {
    columns
        .iter()
        .enumerate()
        .map(|(i, (name, kind))| {
            Ok(match kind {
                Text => Value::Text(row.try_get(i)?),
                Int => Value::Int(row.try_get(i)?),
                Bool => Value::Bool(row.try_get::<Option<i64>, _>(i)?.map(|b| b != 0)),
                Time => Value::Time(
                    row.try_get::<Option<i64>, _>(i)?
                        .map(from_millis)
                        .transpose()
                        .map_err(|e| sqlx::Error::Decode(format!("{name}: {e}").into()))?,
                ),
            })
        })
        .collect()
}

fn pg_values(row: &PgRow, columns: &[(&str, Kind)]) -> Result<Vec<Value>, sqlx::Error> {
    columns
        .iter()
        .enumerate()
        .map(|(i, (_, kind))| {
            Ok(match kind {
                Text => Value::Text(row.try_get(i)?),
                Int => Value::Int(row.try_get(i)?),
                Bool => Value::Bool(row.try_get(i)?),
                Time => Value::Time(row.try_get(i)?),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_insert_numbers_its_placeholders_row_after_row() {
        let t = &TABLES[6]; // category_products: three columns
        assert_eq!(
            insert_sql(t, 2, true),
            "INSERT INTO category_products (category_id, product_id, position) VALUES ($1, $2, $3), ($4, $5, $6)"
        );
        // SQLite's are anonymous: sqlx binds them by position without
        // asking SQLite for each one's name (a linear search per parameter).
        assert_eq!(
            insert_sql(t, 2, false),
            "INSERT INTO category_products (category_id, product_id, position) VALUES (?, ?, ?), (?, ?, ?)"
        );
    }

    /// The copy into SQLite writes its batches with anonymous placeholders.
    #[tokio::test]
    async fn a_sqlite_target_gets_anonymous_placeholders() {
        let dir = tempfile::tempdir().unwrap();
        let url = DatabaseUrl::Sqlite(dir.path().join("t.db"));
        let db = Db::connect(&url, true).await.unwrap();
        let sql = db.insert_sql(&TABLES[6], 2);
        db.close().await;
        assert!(sql.ends_with("VALUES (?, ?, ?), (?, ?, ?)"), "{sql}");
    }

    #[test]
    fn parents_come_before_the_tables_that_refer_to_them() {
        let at = |name: &str| TABLES.iter().position(|t| t.name == name).unwrap();
        for (child, parent) in [
            ("api_keys", "workspaces"),
            ("grants", "students"),
            ("grants", "categories"),
            ("grant_transactions", "grants"),
            ("inbound_url_categories", "inbound_urls"),
            ("deliveries", "events"),
            ("deliveries", "endpoints"),
            ("delivery_attempts", "deliveries"),
            ("log_details", "log_entries"),
            ("log_buckets", "log_entries"),
            ("delivery_counts", "deliveries"),
        ] {
            assert!(at(parent) < at(child), "{parent} after {child}");
        }
    }
}
