//! The PostgreSQL backend, for several gancho instances sharing one
//! database: the same SQL as `sqlite/` side by side, with native types
//! (`timestamptz`, `boolean`), `FOR UPDATE SKIP LOCKED` claims, and
//! transaction-scoped advisory locks for the one-at-a-time tasks.

mod ledger;
mod lookups;
mod outbound;
mod pending;
mod secrets;

pub use outbound::{claim_sql, CLAIM_TURN};

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{ConnectOptions, Connection, PgConnection, PgPool, Postgres};

use super::config_cache::ConfigCache;
use super::migrations::{compare, Migration, MigrationState, RECORDED};
use super::write::{WriteHealth, WriteTx};
use super::{Exclusive, Store, StoreError, StoreResult};

/// Migrations embedded at compile time and run at start-up.
pub(super) static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("migrations/postgres");

/// The driver the shared queries (`storage::sql`) are compiled against here.
type Db = Postgres;

/// The chart's slots: the shards of each slot summed (migration 0011).
const LOG_BUCKETS: &str =
    "SELECT bucket, SUM(total)::BIGINT AS total, SUM(success)::BIGINT AS success,
         SUM(failure)::BIGINT AS failure, SUM(sum_ms)::BIGINT AS sum_ms
     FROM log_buckets WHERE workspace_id = $1 AND bucket >= $2 AND bucket < $3
     GROUP BY bucket ORDER BY bucket";

/// The queue panel's finished deliveries: the shards of each status summed.
const DELIVERY_COUNTS: &str =
    "SELECT status, SUM(n)::BIGINT AS n FROM delivery_counts WHERE workspace_id = $1 GROUP BY status";

crate::storage::sql::catalog::implement!(PgStore);
crate::storage::sql::logs::implement!(PgStore);
crate::storage::sql::outbound::implement!(PgStore);
crate::storage::sql::students::implement!(PgStore);

/// A gancho database on PostgreSQL.
#[derive(Debug, Clone)]
pub struct PgStore {
    /// One pool serves reads and writes; the two names mirror `SqliteStore`.
    writer: PgPool,
    reader: PgPool,
    health: Arc<WriteHealth>,
    /// Trusted while [`follow_config_changes`] is listening.
    config: Arc<ConfigCache>,
}

/// How a write transaction begins: one simple-query message, so no round
/// trip more than a bare `BEGIN`.
///
/// The session plans every statement for its values
/// (`plan_cache_mode = force_custom_plan`, set in [`PgStore::open`]), which
/// the reads need; but an inbound call's ten statements were planned anew
/// on every call, the trigger's counter upsert too, and `perf` put 17 % of
/// PostgreSQL's CPU in planning at saturation (issue 9). The writes'
/// statements are lookups by key and inserts, whose right plan does not
/// depend on the values, so a write transaction uses each statement's
/// generic plan, made once per connection. With sequential scans priced
/// out, as the cached plan of a lookup made while the table was empty
/// would otherwise scan the table whole once it had grown (the reason for
/// custom plans in the first place); a statement with no index to use still
/// scans. Public for the tests that check the plans it makes.
#[doc(hidden)]
pub const BEGIN_WRITE: &str =
    "BEGIN; SET LOCAL plan_cache_mode = force_generic_plan; SET LOCAL enable_seqscan = off";

impl PgStore {
    /// Connects (the pool reconnects by itself after an outage) and applies
    /// migrations; concurrent instances wait on sqlx's migration lock.
    ///
    /// With `warm`, the pool opens all its connections at start-up, not
    /// while the first calls wait: a new backend takes milliseconds to
    /// start and load its caches, and the first second at 1,000 calls/s
    /// had a p99 of 45 ms against 15 ms after it (issue 9). The server
    /// opens its store warm; a one-shot command opens only what it uses.
    pub async fn open(
        url: &str,
        pool_size: u32,
        statement_timeout: Duration,
        warm: bool,
    ) -> Result<Self, sqlx::Error> {
        let options = PgConnectOptions::from_str(url)?.options([
            (
                "statement_timeout",
                format!("{}ms", statement_timeout.as_millis()),
            ),
            // Every execution planned for the table as it is now: a generic
            // plan cached while a table was small (a fresh database) kept
            // scanning it whole once it had grown (issue 9: the grants of a
            // transaction looked up by a sequential scan of all grants).
            ("plan_cache_mode", "force_custom_plan".to_string()),
            // Short statements only: compiling one took longer than running it
            // (41 ms of JIT for a 2 ms claim on a table without statistics).
            ("jit", "off".to_string()),
        ]);
        let pool = PgPoolOptions::new()
            .max_connections(pool_size)
            .min_connections(if warm { pool_size } else { 0 })
            .acquire_timeout(Duration::from_secs(5))
            .connect_with(options.clone())
            .await?;
        MIGRATOR.run(&pool).await?;
        let config = Arc::new(ConfigCache::untrusted());
        tokio::spawn(follow_config_changes(
            options,
            pool.close_event(),
            Arc::downgrade(&config),
        ));
        Ok(Self {
            writer: pool.clone(),
            reader: pool,
            health: Arc::default(),
            config,
        })
    }

    /// How the database at `url` stands against this build's migrations,
    /// read on one connection of its own, changing nothing.
    pub async fn migration_state(url: &str) -> Result<MigrationState, sqlx::Error> {
        let mut conn = PgConnectOptions::from_str(url)?.connect().await?;
        let state = recorded_migrations(&mut conn).await;
        let _ = conn.close().await;
        state
    }

    /// Applies this build's pending migrations to the database at `url`
    /// and returns them (instances migrating at once wait on sqlx's lock).
    pub async fn migrate(url: &str) -> Result<Vec<Migration>, sqlx::Error> {
        let mut conn = PgConnectOptions::from_str(url)?.connect().await?;
        let before = recorded_migrations(&mut conn).await?;
        let ran = MIGRATOR.run(&mut conn).await.map_err(sqlx::Error::from);
        let _ = conn.close().await;
        ran?;
        Ok(before.pending)
    }

    /// A write transaction (READ COMMITTED; events about one sale are
    /// serialized by `LedgerTx::lock_sale`, not by the isolation level),
    /// begun with [`BEGIN_WRITE`].
    async fn write_tx(&self) -> StoreResult<WriteTx<Postgres>> {
        self.health.admit()?;
        WriteTx::begin(&self.writer, BEGIN_WRITE, &self.health, map_err).await
    }

    /// A pooled connection for one statement in its own transaction (the
    /// name mirrors `SqliteStore::write_conn`, which also takes the file lock).
    async fn write_conn(&self) -> StoreResult<sqlx::pool::PoolConnection<Postgres>> {
        self.writer.acquire().await.map_err(map_err)
    }

    /// A log entry on its own, in a transaction of its own.
    async fn write_log(&self, entry: &crate::model::LogEntry) -> StoreResult<()> {
        let mut tx = self.write_tx().await?;
        ledger::insert_log(&mut tx, entry).await?;
        tx.commit().await
    }

    /// See [`WriteTx::probe`]: a write transaction, whatever the write health says.
    async fn probe_write(&self) -> StoreResult<()> {
        WriteTx::begin_probe(&self.writer, "BEGIN", &self.health, map_err)
            .await?
            .probe()
            .await
    }

    /// Closes every connection (tests use a migrated database as a template,
    /// which must have none).
    pub async fn close(&self) {
        self.writer.close().await;
    }
}

/// The migrations `conn`'s database records, against [`MIGRATOR`].
pub(super) async fn recorded_migrations(
    conn: &mut PgConnection,
) -> Result<MigrationState, sqlx::Error> {
    let (has_table,): (bool,) =
        sqlx::query_as("SELECT to_regclass('_sqlx_migrations') IS NOT NULL")
            .fetch_one(&mut *conn)
            .await?;
    let recorded: Vec<(i64, bool)> = if has_table {
        sqlx::query_as(RECORDED).fetch_all(&mut *conn).await?
    } else {
        Vec::new()
    };
    Ok(compare(&MIGRATOR, &recorded))
}

/// The channel the configuration triggers notify (migration 0007).
const CONFIG_CHANNEL: &str = "gancho_config";

/// Listens on [`CONFIG_CHANNEL`] on a connection of its own, emptying the
/// cache on every notification. The cache is trusted only while listening:
/// a notification missed while the connection was down cannot leave a stale
/// entry behind. Ends when the store's pool closes or the store is gone.
async fn follow_config_changes(
    options: PgConnectOptions,
    closed: sqlx::pool::CloseEvent,
    cache: std::sync::Weak<ConfigCache>,
) {
    tokio::pin!(closed);
    let mut is_warned = false;
    loop {
        let listened = async {
            // Its own pool of one, so the listener never takes a connection
            // the calls need.
            let pool = PgPoolOptions::new()
                .max_connections(1)
                .acquire_timeout(Duration::from_secs(5))
                .connect_with(options.clone())
                .await?;
            let mut listener = sqlx::postgres::PgListener::connect_with(&pool).await?;
            listener.listen(CONFIG_CHANNEL).await?;
            Ok::<_, sqlx::Error>(listener)
        };
        let mut listener = tokio::select! {
            _ = &mut closed => return,
            listened = listened => match listened {
                Ok(listener) => listener,
                Err(e) => {
                    if !std::mem::replace(&mut is_warned, true) {
                        tracing::warn!(error = %e, "cannot listen for configuration changes; reading it from the database on every call until it can");
                    }
                    tokio::select! {
                        _ = &mut closed => return,
                        _ = tokio::time::sleep(Duration::from_secs(1)) => continue,
                    }
                }
            },
        };
        let Some(c) = cache.upgrade() else { return };
        c.set_trusted(true);
        drop(c);
        is_warned = false;
        loop {
            let next = tokio::select! {
                _ = &mut closed => return,
                next = listener.try_recv() => next,
            };
            let Some(c) = cache.upgrade() else { return };
            match next {
                Ok(Some(_)) => c.changed(),
                // The connection was lost: notifications may have been missed.
                Ok(None) | Err(_) => {
                    c.set_trusted(false);
                    break;
                }
            }
        }
    }
}

/// A stable 64-bit key for a task's advisory lock.
#[doc(hidden)]
pub fn lock_key(task: &str) -> i64 {
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
        self.health.probe(|| self.probe_write()).await
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

/// Column `name` of `row`; a column missing or of another type than `T` is
/// an error, where `Row::get` would panic.
fn col<'r, T>(row: &'r sqlx::postgres::PgRow, name: &str) -> StoreResult<T>
where
    T: sqlx::Decode<'r, Postgres> + sqlx::Type<Postgres>,
{
    sqlx::Row::try_get(row, name).map_err(map_err)
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
                "40001" | "40P01" => Some(super::sql::outbound::CONCURRENT_CONFLICT),
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
