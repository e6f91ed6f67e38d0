//! The PostgreSQL backend, for several gancho instances sharing one
//! database: the same SQL as `sqlite/` side by side, with native types
//! (`timestamptz`, `boolean`), `FOR UPDATE SKIP LOCKED` claims, and
//! transaction-scoped advisory locks for the one-at-a-time tasks.

mod catalog;
mod ledger;
mod logs;
mod outbound;

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{PgPool, Postgres};

use super::write::{WriteHealth, WriteTx};
use super::{Exclusive, Store, StoreError, StoreResult};

/// Migrations embedded at compile time and run at start-up.
pub(super) static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("migrations/postgres");

/// A gancho database on PostgreSQL.
#[derive(Debug, Clone)]
pub struct PgStore {
    /// One pool serves reads and writes; the two names mirror `SqliteStore`.
    writer: PgPool,
    reader: PgPool,
    health: Arc<WriteHealth>,
}

impl PgStore {
    /// Connects (the pool reconnects by itself after an outage) and applies
    /// migrations; concurrent instances wait on sqlx's migration lock.
    pub async fn open(
        url: &str,
        pool_size: u32,
        statement_timeout: Duration,
    ) -> Result<Self, sqlx::Error> {
        let options = PgConnectOptions::from_str(url)?.options([(
            "statement_timeout",
            format!("{}ms", statement_timeout.as_millis()),
        )]);
        let pool = PgPoolOptions::new()
            .max_connections(pool_size)
            .acquire_timeout(Duration::from_secs(5))
            .connect_with(options)
            .await?;
        MIGRATOR.run(&pool).await?;
        Ok(Self {
            writer: pool.clone(),
            reader: pool,
            health: Arc::default(),
        })
    }

    /// A write transaction (READ COMMITTED; events about one sale are
    /// serialized by `LedgerTx::lock_sale`, not by the isolation level).
    async fn write_tx(&self) -> StoreResult<WriteTx<Postgres>> {
        self.health.admit(|| self.probe_write()).await?;
        self.begin_tx().await
    }

    /// A write transaction, whatever the write health says.
    async fn begin_tx(&self) -> StoreResult<WriteTx<Postgres>> {
        WriteTx::begin(&self.writer, "BEGIN", &self.health, map_err).await
    }

    /// See [`WriteTx::probe`].
    async fn probe_write(&self) -> StoreResult<()> {
        self.begin_tx().await?.probe().await
    }

    /// Closes every connection (tests use a migrated database as a template,
    /// which must have none).
    pub async fn close(&self) {
        self.writer.close().await;
    }
}

/// A stable 64-bit key for a task's advisory lock.
pub(super) fn lock_key(task: &str) -> i64 {
    let digest = <sha2::Sha256 as sha2::Digest>::digest(format!("gancho:{task}").as_bytes());
    let mut bytes = [0u8; 8];
    bytes.copy_from_slice(&digest[..8]);
    i64::from_be_bytes(bytes)
}

#[async_trait]
impl Store for PgStore {
    async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1").execute(&self.reader).await?;
        Ok(())
    }

    fn write_health(&self) -> &WriteHealth {
        &self.health
    }

    /// Ok while the database takes writes; during an episode, a probe
    /// (at most once a second) decides ([`WriteHealth::admit`]).
    async fn check_writes(&self) -> StoreResult<()> {
        self.health.admit(|| self.probe_write()).await
    }

    /// A transaction holding `pg_try_advisory_xact_lock`: released when the
    /// guard drops (the transaction rolls back) or the instance dies.
    async fn try_exclusive(&self, task: &str) -> StoreResult<Option<Exclusive>> {
        let mut tx = self.writer.begin().await.map_err(map_err)?;
        let (held,): (bool,) = sqlx::query_as("SELECT pg_try_advisory_xact_lock($1)")
            .bind(lock_key(task))
            .fetch_one(&mut *tx)
            .await
            .map_err(map_err)?;
        Ok(held.then(|| Exclusive::new(Box::new(tokio::sync::Mutex::new(tx)))))
    }
}

/// Timestamps are native here; these keep the SQL code shaped like SQLite's.
fn ms(t: DateTime<Utc>) -> DateTime<Utc> {
    t
}

fn parse_id<T>(value: &str, parse: impl Fn(&str) -> Option<T>) -> StoreResult<T> {
    parse(value).ok_or_else(|| StoreError::Corrupt(format!("malformed id {value}")))
}

/// Maps sqlx errors: missing rows to `NotFound`, unique violations to
/// `Conflict` named after the table.
fn map_err(e: sqlx::Error) -> StoreError {
    match &e {
        sqlx::Error::RowNotFound => StoreError::NotFound,
        sqlx::Error::Database(db) if db.is_unique_violation() => {
            let name = db.constraint().unwrap_or_default().to_string();
            let known = [
                ("inbound_urls", "inbound_urls.slug"),
                ("students", "students.email"),
                ("api_keys", "api_keys.token_hash"),
                ("workspaces", "workspaces.public_id"),
                ("processed_events", "processed_events.key"),
            ];
            let name = known
                .into_iter()
                .find(|(table, _)| name.starts_with(table))
                .map(|(_, n)| n)
                .unwrap_or("unique");
            StoreError::Conflict(name)
        }
        _ => match unavailable(&e) {
            Some(reason) => StoreError::Unavailable(format!("{reason} ({e})")),
            None => StoreError::Other(e),
        },
    }
}

/// What an error that a retry may cure says about the server, in words an
/// operator acts on; `None` for errors of the call itself.
fn unavailable(e: &sqlx::Error) -> Option<&'static str> {
    match e {
        sqlx::Error::Io(_) | sqlx::Error::Tls(_) | sqlx::Error::Protocol(_) => {
            Some("database connection lost")
        }
        sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::WorkerCrashed => {
            Some("no database connection")
        }
        sqlx::Error::Database(db) => {
            // SQLSTATE classes: https://www.postgresql.org/docs/current/errcodes-appendix.html
            let code = db.code()?;
            match code.as_ref() {
                c if c.starts_with("08") => Some("database connection lost"),
                "53100" => Some("database server disk full"),
                c if c.starts_with("53") => Some("database server out of resources"),
                "57P01" | "57P02" | "57P03" => Some("database server is shutting down or starting"),
                "25006" => Some("database is read-only"),
                "40001" | "40P01" => Some("conflict with a concurrent transaction"),
                "57014" => Some("statement timed out"),
                _ => None,
            }
        }
        _ => None,
    }
}

impl crate::storage::rows::RowRead for sqlx::postgres::PgRow {
    fn opt_text(&self, col: &str) -> StoreResult<Option<String>> {
        Ok(sqlx::Row::try_get(self, col)?)
    }

    fn opt_int(&self, col: &str) -> StoreResult<Option<i64>> {
        Ok(sqlx::Row::try_get(self, col)?)
    }

    fn flag(&self, col: &str) -> StoreResult<bool> {
        Ok(sqlx::Row::try_get(self, col)?)
    }

    fn opt_time(&self, col: &str) -> StoreResult<Option<DateTime<Utc>>> {
        Ok(sqlx::Row::try_get(self, col)?)
    }

    fn text_if_selected(&self, col: &str) -> Option<String> {
        sqlx::Row::try_get::<Option<String>, _>(self, col)
            .ok()
            .flatten()
    }
}
