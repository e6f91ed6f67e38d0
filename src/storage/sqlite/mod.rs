//! The SQLite backend: one file in WAL mode, a single writer connection (so
//! writes never fight over the lock) and a small pool of readers. Plain
//! `sqlx::query` with `$N` placeholders, so the SQL reads side by side with
//! the PostgreSQL backend. Timestamps are stored as UTC unix milliseconds.

pub mod backup;
mod group;
mod ledger;
mod lookups;
mod outbound;
mod secrets;
mod writer;

use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{ConnectOptions, Connection, Sqlite, SqliteConnection, SqlitePool};

use super::config_cache::ConfigCache;
use super::migrations::{compare, Migration, MigrationState, RECORDED};
use super::write::{WriteHealth, WriteTx};
use super::{Exclusive, Store, StoreError, StoreResult};

/// Migrations embedded at compile time and run at start-up.
static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("migrations/sqlite");

/// The driver the shared queries (`storage::sql`) are compiled against here.
type Db = Sqlite;

/// The chart's slots: one row per workspace and slot here (PostgreSQL
/// keeps shards of it).
const LOG_BUCKETS: &str =
    "SELECT * FROM log_buckets WHERE workspace_id = $1 AND bucket >= $2 AND bucket < $3
     ORDER BY bucket";

/// The queue panel's finished deliveries: one row per workspace and status.
const DELIVERY_COUNTS: &str = "SELECT status, n FROM delivery_counts WHERE workspace_id = $1";

crate::storage::sql::catalog::implement!(SqliteStore);
crate::storage::sql::logs::implement!(SqliteStore);
crate::storage::sql::outbound::implement!(SqliteStore);
crate::storage::sql::students::implement!(SqliteStore);

/// A gancho database in one SQLite file.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    writer: SqlitePool,
    reader: SqlitePool,
    health: Arc<WriteHealth>,
    /// One file has one gancho process, so its own writes are all the
    /// changes there are: trusted from the start.
    config: Arc<ConfigCache>,
    /// The ledger's transactions, committed in groups.
    group: group::GroupCommit,
}

impl SqliteStore {
    /// Opens (creating if missing) the file at `path` and applies migrations.
    pub async fn open(path: &Path) -> StoreResult<Self> {
        let options = connect_options(path)?;
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options.clone())
            .await?;
        MIGRATOR.run(&writer).await.map_err(sqlx::Error::from)?;
        let reader = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(options.read_only(true))
            .await?;
        let health = Arc::<WriteHealth>::default();
        Ok(Self {
            writer,
            reader,
            group: group::GroupCommit::start(path.to_path_buf(), Arc::clone(&health))?,
            health,
            config: Arc::new(ConfigCache::trusted()),
        })
    }

    /// How the file at `path` stands against this build's migrations, read
    /// without changing (or creating) anything.
    pub async fn migration_state(path: &Path) -> StoreResult<MigrationState> {
        // Read-write without create: a read-only connection cannot open a
        // WAL file whose `-shm` is gone, and nothing here writes.
        let options = SqliteConnectOptions::from_str("sqlite://")?
            .filename(path)
            .create_if_missing(false);
        let mut conn = options.connect().await.map_err(map_err)?;
        let state = recorded_migrations(&mut conn).await;
        let _ = conn.close().await;
        state
    }

    /// Applies this build's pending migrations to the file at `path`
    /// (created if missing, as `gancho serve` does) and returns them.
    pub async fn migrate(path: &Path) -> StoreResult<Vec<Migration>> {
        let mut conn = connect_options(path)?.connect().await.map_err(map_err)?;
        let before = recorded_migrations(&mut conn).await?;
        let ran = MIGRATOR.run(&mut conn).await.map_err(sqlx::Error::from);
        let _ = conn.close().await;
        ran?;
        Ok(before.pending)
    }

    /// A write transaction on the writer connection. `IMMEDIATE` takes the
    /// write lock up front, so another process on the file (`gancho backup`)
    /// makes it wait at `BEGIN` rather than fail mid-way.
    async fn write_tx(&self) -> StoreResult<WriteTx<Sqlite>> {
        self.health.admit()?;
        let file = self.group.file_lock().await;
        let tx = WriteTx::begin(&self.writer, "BEGIN IMMEDIATE", &self.health, map_err).await?;
        Ok(tx.holding(file))
    }

    /// The sqlx writer connection for one statement in its own
    /// transaction, holding the file lock ([`group::GroupCommit::file_lock`]).
    async fn write_conn(&self) -> StoreResult<WriteConn> {
        let file = self.group.file_lock().await;
        let conn = self.writer.acquire().await.map_err(map_err)?;
        Ok(WriteConn { conn, _file: file })
    }

    /// A log entry on its own, in a unit of the group-commit writer.
    async fn write_log(&self, entry: &crate::model::LogEntry) -> StoreResult<()> {
        let mut unit = self.group.begin().await?;
        ledger::insert_log(unit.conn()?, entry)?;
        unit.commit().await
    }

    /// See [`WriteTx::probe`]: a write transaction, whatever the write health says.
    async fn probe_write(&self) -> StoreResult<()> {
        let file = self.group.file_lock().await;
        WriteTx::begin_probe(&self.writer, "BEGIN IMMEDIATE", &self.health, map_err)
            .await?
            .holding(file)
            .probe()
            .await
    }
}

/// The connection settings of every gancho connection to the file: WAL,
/// `FULL` sync, foreign keys, a 10 s busy timeout; created if missing.
pub(super) fn connect_options(path: &Path) -> StoreResult<SqliteConnectOptions> {
    Ok(SqliteConnectOptions::from_str("sqlite://")?
        .filename(path)
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        // FULL: a `200` to a gateway means the sale survives a power cut,
        // not only a process crash (DESIGN.md § Inbound).
        .synchronous(SqliteSynchronous::Full)
        .foreign_keys(true)
        .busy_timeout(Duration::from_secs(10)))
}

/// The migrations `conn`'s database records, against [`MIGRATOR`].
pub(super) async fn recorded_migrations(
    conn: &mut SqliteConnection,
) -> StoreResult<MigrationState> {
    let (has_table,): (bool,) = sqlx::query_as(
        "SELECT COUNT(*) > 0 FROM sqlite_master WHERE type = 'table' AND name = '_sqlx_migrations'",
    )
    .fetch_one(&mut *conn)
    .await
    .map_err(map_err)?;
    let recorded: Vec<(i64, bool)> = if has_table {
        sqlx::query_as(RECORDED)
            .fetch_all(&mut *conn)
            .await
            .map_err(map_err)?
    } else {
        Vec::new()
    };
    Ok(compare(&MIGRATOR, &recorded))
}

/// See [`SqliteStore::write_conn`]; derefs to the connection.
struct WriteConn {
    conn: sqlx::pool::PoolConnection<Sqlite>,
    _file: tokio::sync::OwnedMutexGuard<()>,
}

impl std::ops::Deref for WriteConn {
    type Target = sqlx::SqliteConnection;

    fn deref(&self) -> &Self::Target {
        &self.conn
    }
}

impl std::ops::DerefMut for WriteConn {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.conn
    }
}

#[async_trait]
impl Store for SqliteStore {
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

    /// One SQLite file has one gancho: every task is always its own.
    async fn try_exclusive(&self, _task: &str) -> StoreResult<Option<Exclusive>> {
        Ok(Some(Exclusive::new(Box::new(()))))
    }
}

/// UTC time to stored milliseconds.
fn ms(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

fn parse_id<T>(value: &str, parse: impl Fn(&str) -> Option<T>) -> StoreResult<T> {
    parse(value).ok_or_else(|| StoreError::Corrupt(format!("malformed id {value}")))
}

/// Column `name` of `row`; a column missing or of another type than `T` is
/// an error, where `Row::get` would panic.
fn col<'r, T>(row: &'r sqlx::sqlite::SqliteRow, name: &str) -> StoreResult<T>
where
    T: sqlx::Decode<'r, Sqlite> + sqlx::Type<Sqlite>,
{
    sqlx::Row::try_get(row, name).map_err(map_err)
}

/// Maps sqlx errors: missing rows to `NotFound`, unique violations to
/// `Conflict` named after the table.
fn map_err(e: sqlx::Error) -> StoreError {
    match &e {
        sqlx::Error::RowNotFound => StoreError::NotFound,
        sqlx::Error::Database(db) if db.is_unique_violation() => {
            StoreError::Conflict(conflict_name(db.message()))
        }
        _ => match unavailable(&e) {
            Some(reason) => StoreError::Unavailable(format!("{reason} ({e})")),
            None => StoreError::Other(e),
        },
    }
}

/// What an error that a retry may cure says about the database, in words
/// an operator acts on; `None` for errors of the call itself.
fn unavailable(e: &sqlx::Error) -> Option<&'static str> {
    match e {
        sqlx::Error::Io(_) => Some("I/O error"),
        sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::WorkerCrashed => {
            Some("no database connection")
        }
        sqlx::Error::Database(db) => unavailable_code(db.code()?.parse().ok()?),
        _ => None,
    }
}

/// The name a unique violation's message (`UNIQUE constraint failed:
/// table.column`) is reported under.
fn conflict_name(message: &str) -> &'static str {
    [
        ("inbound_urls", "inbound_urls.slug"),
        ("students", "students.email"),
        ("api_keys", "api_keys.token_hash"),
        ("workspaces", "workspaces.public_id"),
        ("processed_events", "processed_events.key"),
    ]
    .into_iter()
    .find(|(table, _)| message.contains(&format!("{table}.")))
    .map(|(_, name)| name)
    .unwrap_or("unique")
}

/// What an SQLite result code a retry may cure says, by its primary code
/// (<https://sqlite.org/rescode.html>).
fn unavailable_code(code: i64) -> Option<&'static str> {
    match code & 0xff {
        5 | 6 => Some("database is locked (busy)"),
        7 => Some("out of memory"),
        8 => Some("read-only database or file system"),
        10 => Some("disk I/O error"),
        11 | 26 => Some("database file is corrupt"),
        13 => Some("disk full"),
        14 => Some("cannot open the database file"),
        _ => None,
    }
}

impl crate::storage::rows::RowRead for sqlx::sqlite::SqliteRow {
    fn opt_text(&self, col: &str) -> StoreResult<Option<String>> {
        Ok(sqlx::Row::try_get(self, col)?)
    }

    fn opt_int(&self, col: &str) -> StoreResult<Option<i64>> {
        Ok(sqlx::Row::try_get(self, col)?)
    }

    fn flag(&self, col: &str) -> StoreResult<bool> {
        Ok(sqlx::Row::try_get(self, col)?)
    }

    /// Times are stored as unix milliseconds.
    fn opt_time(&self, col: &str) -> StoreResult<Option<DateTime<Utc>>> {
        let ms: Option<i64> = sqlx::Row::try_get(self, col)?;
        ms.map(crate::storage::rows::from_millis).transpose()
    }

    fn text_if_selected(&self, col: &str) -> Option<String> {
        sqlx::Row::try_get::<Option<String>, _>(self, col)
            .ok()
            .flatten()
    }
}

#[cfg(test)]
mod tests {
    use chrono::Utc;

    use super::*;
    use crate::ids::WorkspaceId;
    use crate::model::{GatewayKind, Workspace};
    use crate::storage::{CatalogStore, LogStore, Page, WorkspaceStore};

    async fn store_with_workspace() -> (tempfile::TempDir, SqliteStore, WorkspaceId) {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("t.db")).await.unwrap();
        let ws = Workspace {
            id: WorkspaceId::new(),
            name: "w".into(),
            public_id: "schema-mismatch".into(),
            created_at: Utc::now(),
        };
        store.insert_workspace(&ws).await.unwrap();
        (dir, store, ws.id)
    }

    fn is_decode_error<T: std::fmt::Debug>(got: &StoreResult<T>) -> bool {
        matches!(
            got,
            Err(StoreError::Other(sqlx::Error::ColumnDecode { .. }))
        )
    }

    // SQLite keeps whatever type a value was written with, so a row can
    // disagree with the schema: the reads that used `Row::get` (which
    // panics then) answer an error instead, and the request a 500.

    /// `delivery_counts.n` as text (read by `queue_counts`).
    #[tokio::test]
    async fn a_count_of_another_type_is_an_error_not_a_panic() {
        let (_dir, store, ws) = store_with_workspace().await;
        sqlx::query(
            "INSERT INTO delivery_counts (workspace_id, status, n) VALUES ($1, 'success', 'many')",
        )
        .bind(ws.as_str())
        .execute(&store.writer)
        .await
        .unwrap();
        let got = store.queue_counts(&ws, Utc::now()).await;
        assert!(is_decode_error(&got), "{got:?}");
    }

    /// `products.id` as a blob (read by `list_products` to load the
    /// products' external ids).
    #[tokio::test]
    async fn an_id_of_another_type_is_an_error_not_a_panic() {
        let (_dir, store, ws) = store_with_workspace().await;
        sqlx::query(
            "INSERT INTO products (id, workspace_id, name, created_at) VALUES (X'01', $1, 'p', 0)",
        )
        .bind(ws.as_str())
        .execute(&store.writer)
        .await
        .unwrap();
        let page = Page {
            after: None,
            limit: 10,
        };
        let got = store.list_products(&ws, &page).await;
        assert!(is_decode_error(&got), "{got:?}");
    }

    /// `product_external_ids.product_id` as a blob (read by the inbound
    /// path's `products_by_external_id`).
    #[tokio::test]
    async fn a_linked_id_of_another_type_is_an_error_not_a_panic() {
        let (_dir, store, ws) = store_with_workspace().await;
        sqlx::query("PRAGMA foreign_keys = OFF")
            .execute(&store.writer)
            .await
            .unwrap();
        sqlx::query(
            "INSERT INTO product_external_ids (product_id, workspace_id, gateway, external_id, position)
             VALUES (X'02', $1, 'hotmart', 'P-1', 0)",
        )
        .bind(ws.as_str())
        .execute(&store.writer)
        .await
        .unwrap();
        let got = store
            .products_by_external_id(&ws, GatewayKind::Hotmart, "P-1")
            .await;
        assert!(is_decode_error(&got), "{got:?}");
    }

    /// The delivery claim reads `deliveries` by index ranges only, never
    /// by scanning the pending rows: with 1,000,000 deliveries scheduled
    /// for later, a scan made every claim slow (issue 9's backlog scenario
    /// drained at 0.12x the rate without the backlog).
    #[tokio::test]
    async fn the_claim_never_scans_the_pending_deliveries() {
        let (_dir, store, _ws) = store_with_workspace().await;
        let claim = outbound::claim_sql();
        let plan: Vec<String> =
            sqlx::query(sqlx::AssertSqlSafe(format!("EXPLAIN QUERY PLAN {claim}")))
                .bind(1_i64)
                .bind(1_i64)
                .bind(1_i64)
                .bind(1_i64)
                .fetch_all(&store.reader)
                .await
                .unwrap()
                .iter()
                .map(|r| col::<String>(r, "detail").unwrap())
                .collect();
        let scans: Vec<&String> = plan
            .iter()
            .filter(|l| l.starts_with("SCAN deliveries") && !l.contains("deliveries_leased"))
            .collect();
        assert!(scans.is_empty(), "the claim scans: {scans:?}\n{plan:#?}");
    }

    /// What an approval or a refund reads about its sale is found by the
    /// tables' primary keys, not by indexes of their own, each a
    /// random-keyed leaf every sale wrote (issue 9): whether the
    /// transaction was refunded, by the processed events' dedupe key
    /// `tx:{id}` (migration 0017), and its grants, by the links' key
    /// leading with the transaction (0018).
    #[tokio::test]
    async fn a_sales_lookups_are_read_by_primary_keys() {
        let (_dir, store, _ws) = store_with_workspace().await;
        let plan = |sql: String, binds: &'static [&'static str]| {
            let reader = store.reader.clone();
            async move {
                let mut query =
                    sqlx::query(sqlx::AssertSqlSafe(format!("EXPLAIN QUERY PLAN {sql}")));
                for b in binds {
                    query = query.bind(*b);
                }
                query
                    .fetch_all(&reader)
                    .await
                    .unwrap()
                    .iter()
                    .map(|r| col::<String>(r, "detail").unwrap())
                    .collect::<Vec<String>>()
            }
        };
        let statuses = crate::storage::TRANSACTION_STATUSES
            .replace("{statuses}", &crate::storage::placeholders(4, 2));
        let steps = plan(
            statuses,
            &["w", "hotmart", "HP-1", "refunded", "chargeback"],
        )
        .await;
        assert!(
            steps.iter().any(|l| l
                == "SEARCH processed_events USING PRIMARY KEY (workspace_id=? AND gateway=? AND reference=?)"),
            "{steps:#?}"
        );
        let grants = crate::storage::GRANTS_FOR_TRANSACTION.to_string();
        let steps = plan(grants, &["w", "hotmart", "HP-1", "0"]).await;
        assert!(
            steps
                .iter()
                .any(|l| l.starts_with("SEARCH t USING PRIMARY KEY")),
            "{steps:#?}"
        );
        let indexes: Vec<String> = sqlx::query_scalar(
            "SELECT name FROM sqlite_master WHERE type = 'index'
               AND tbl_name IN ('processed_events', 'grant_transactions') AND sql IS NOT NULL",
        )
        .fetch_all(&store.reader)
        .await
        .unwrap();
        assert!(indexes.is_empty(), "{indexes:?}");
    }

    /// Migration 0015 rebuilds the small tables every sale writes `WITHOUT
    /// ROWID` (issue 9: one B-tree each instead of a table and its key's
    /// index). A file migrated by an earlier build keeps every row and
    /// index, and the counters' triggers, dropped and made again around the
    /// rebuild, still count into the rebuilt tables.
    #[tokio::test]
    async fn a_file_from_before_the_rebuild_keeps_its_rows_and_counters() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("old.db");
        let earlier = dir.path().join("earlier-migrations");
        std::fs::create_dir(&earlier).unwrap();
        let ours = Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations/sqlite");
        for file in std::fs::read_dir(&ours).unwrap() {
            let name = file.unwrap().file_name();
            if name.to_string_lossy().as_ref() < "0015" {
                std::fs::copy(ours.join(&name), earlier.join(&name)).unwrap();
            }
        }
        let mut conn = connect_options(&path).unwrap().connect().await.unwrap();
        sqlx::migrate::Migrator::new(earlier.as_path())
            .await
            .unwrap()
            .run(&mut conn)
            .await
            .unwrap();
        for statement in [
            "INSERT INTO workspaces VALUES ('ws1', 'w', 'rebuild', 0)",
            "INSERT INTO students (id, workspace_id, email, status, created_at, updated_at)
             VALUES ('st1', 'ws1', 'a@example.com', 'active', 0, 0)",
            "INSERT INTO products VALUES ('pr1', 'ws1', 'p', 0)",
            "INSERT INTO grants (id, workspace_id, student_id, product_id, is_manual, granted_at)
             VALUES ('gr1', 'ws1', 'st1', 'pr1', 0, 0)",
            "INSERT INTO grant_transactions VALUES ('gr1', 'ws1', 'hotmart', 'HP1')",
            "INSERT INTO processed_events VALUES ('ws1', 'hotmart', 'ev1', 'approved', 'HP1', NULL, 'log1', 0)",
            "INSERT INTO endpoints (id, workspace_id, name, url, event_types, product_ids, headers,
                                    is_enabled, secret, created_at, updated_at)
             VALUES ('ep1', 'ws1', 'e', 'http://127.0.0.1:9/', '[]', '[]', '{}', 1, 's', 0, 0)",
            "INSERT INTO events VALUES ('ev1', 'ws1', 'purchase.approved', '{}', '[]', 0)",
            "INSERT INTO deliveries (id, workspace_id, event_id, event_type, endpoint_id, status,
                                     attempts, cycle_start, log_id, created_at, updated_at)
             VALUES ('de1', 'ws1', 'ev1', 'purchase.approved', 'ep1', 'pending', 1, 0, 'log2', 0, 0)",
            "INSERT INTO delivery_attempts VALUES ('de1', 1, 0, 500, 'no', 12, NULL)",
            "INSERT INTO log_entries (id, workspace_id, at, direction, status, http_status,
                                      duration_ms, integration_kind, integration_name, attempts)
             VALUES ('log1', 'ws1', 1000, 'in', 'success', 200, 5, 'inbound_url', 'u', 1)",
        ] {
            sqlx::query(statement).execute(&mut conn).await.unwrap();
        }
        conn.close().await.unwrap();

        let store = SqliteStore::open(&path).await.unwrap();

        let count = |sql: &'static str| {
            let pool = store.writer.clone();
            async move {
                sqlx::query_scalar::<_, i64>(sql)
                    .fetch_one(&pool)
                    .await
                    .unwrap()
            }
        };
        // (Their indexes by transaction were dropped since: 0017, 0018.)
        for table in [
            "grant_transactions",
            "processed_events",
            "log_buckets",
            "delivery_counts",
            "delivery_attempts",
        ] {
            let sql: String = sqlx::query_scalar("SELECT sql FROM sqlite_master WHERE name = $1")
                .bind(table)
                .fetch_one(&store.writer)
                .await
                .unwrap();
            assert!(sql.ends_with("WITHOUT ROWID"), "{sql}");
        }
        let kept = "SELECT (SELECT COUNT(*) FROM grant_transactions WHERE transaction_id = 'HP1')
                         + (SELECT COUNT(*) FROM processed_events WHERE log_id = 'log1')
                         + (SELECT COUNT(*) FROM delivery_attempts WHERE http_status = 500)";
        assert_eq!(count(kept).await, 3);
        let bucket = "SELECT total FROM log_buckets WHERE workspace_id = 'ws1' AND bucket = 0";
        let pending =
            "SELECT n FROM delivery_counts WHERE workspace_id = 'ws1' AND status = 'pending'";
        assert_eq!(count(bucket).await, 1);
        assert_eq!(count(pending).await, 1);

        // The triggers count into the rebuilt tables.
        for statement in [
            "INSERT INTO log_entries (id, workspace_id, at, direction, status, http_status,
                                      duration_ms, integration_kind, integration_name, attempts)
             VALUES ('log3', 'ws1', 2000, 'in', 'failure', 401, 1, 'inbound_url', 'u', 1)",
            "UPDATE deliveries SET status = 'success' WHERE id = 'de1'",
        ] {
            sqlx::query(statement).execute(&store.writer).await.unwrap();
        }
        assert_eq!(count(bucket).await, 2);
        assert_eq!(count(pending).await, 0);
        let success =
            "SELECT n FROM delivery_counts WHERE workspace_id = 'ws1' AND status = 'success'";
        assert_eq!(count(success).await, 1);
    }

    /// Retention deletes old events, finished deliveries and log entries in
    /// batches, holding the write lock. Each row deleted cascades to the
    /// rows that reference it, which SQLite finds by scanning the child
    /// table unless an index leads with the referencing columns: without
    /// `deliveries (event_id)`, each event purged read every delivery (a
    /// batch of 500 with 1,000,000 deliveries kept every writer waiting).
    #[tokio::test]
    async fn every_key_that_retention_cascades_through_is_indexed() {
        let (_dir, store, _ws) = store_with_workspace().await;
        let tables: Vec<String> = sqlx::query_scalar(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'",
        )
        .fetch_all(&store.reader)
        .await
        .unwrap();
        let mut checked = Vec::new();
        for table in &tables {
            let keys: Vec<(i64, String, String)> = sqlx::query_as(
                "SELECT id, \"table\", \"from\" FROM pragma_foreign_key_list($1) ORDER BY id, seq",
            )
            .bind(table)
            .fetch_all(&store.reader)
            .await
            .unwrap();
            let indexes: Vec<String> = sqlx::query_scalar("SELECT name FROM pragma_index_list($1)")
                .bind(table)
                .fetch_all(&store.reader)
                .await
                .unwrap();
            let mut leading = Vec::new();
            for index in &indexes {
                let columns: Vec<String> =
                    sqlx::query_scalar("SELECT name FROM pragma_index_info($1) ORDER BY seqno")
                        .bind(index)
                        .fetch_all(&store.reader)
                        .await
                        .unwrap();
                leading.push(columns);
            }
            for id in keys
                .iter()
                .map(|k| k.0)
                .collect::<std::collections::BTreeSet<_>>()
            {
                let parent = &keys.iter().find(|k| k.0 == id).unwrap().1;
                if !["events", "deliveries", "log_entries"].contains(&parent.as_str()) {
                    continue;
                }
                let columns: Vec<&String> =
                    keys.iter().filter(|k| k.0 == id).map(|k| &k.2).collect();
                let indexed = leading.iter().any(|index| {
                    index.len() >= columns.len() && index.iter().zip(&columns).all(|(a, b)| a == *b)
                });
                assert!(indexed, "{table} ({columns:?}) -> {parent} has no index");
                checked.push(format!("{table}.{}", columns[0]));
            }
        }
        checked.sort();
        assert_eq!(
            checked,
            [
                "deliveries.event_id",
                "delivery_attempts.delivery_id",
                "log_details.log_id"
            ]
        );
    }
}
