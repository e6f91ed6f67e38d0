//! The database a test runs on: a temp SQLite file by default; with
//! `GANCHO_TEST_DATABASE_URL` set, a fresh PostgreSQL database cloned from
//! a template migrated once per run, dropped when the test ends.

use serde_json::{Map, Value};
use sqlx::{Column, Row};
use tokio::sync::OnceCell;

/// The admin URL of the PostgreSQL server tests may use, if any.
pub fn pg_url() -> Option<String> {
    std::env::var("GANCHO_TEST_DATABASE_URL")
        .ok()
        .filter(|v| !v.trim().is_empty())
}

/// The PostgreSQL server a PostgreSQL-only test needs. Such tests are
/// `#[ignore]`d, so a plain `cargo test` reports them as ignored instead of
/// passing without PostgreSQL; run with `--include-ignored` and no server,
/// they fail here rather than pass having proved nothing.
pub fn pg_required() -> String {
    pg_url().expect(
        "this test needs PostgreSQL: set GANCHO_TEST_DATABASE_URL (e.g. postgres://postgres@127.0.0.1:5432/test)",
    )
}

fn with_database(admin: &str, name: &str) -> String {
    let mut url = url::Url::parse(admin).expect("GANCHO_TEST_DATABASE_URL is a URL");
    url.set_path(&format!("/{name}"));
    url.to_string()
}

static TEMPLATE: OnceCell<String> = OnceCell::const_new();

async fn admin_exec(admin: &str, sql: &str) {
    use sqlx::Connection;
    let mut conn = sqlx::PgConnection::connect(admin)
        .await
        .unwrap_or_else(|e| panic!("cannot reach PostgreSQL at GANCHO_TEST_DATABASE_URL: {e}"));
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .execute(&mut conn)
        .await
        .unwrap();
    let _ = conn.close().await;
}

/// Creates and migrates the template once per test process.
async fn template(admin: &str) -> String {
    TEMPLATE
        .get_or_init(|| async {
            let name = format!(
                "gancho_tpl_{}",
                ulid::Ulid::generate().to_string().to_lowercase()
            );
            admin_exec(admin, &format!("CREATE DATABASE {name}")).await;
            let store = gancho::storage::postgres::PgStore::open(
                &with_database(admin, &name),
                2,
                std::time::Duration::from_secs(30),
                false,
            )
            .await
            .unwrap();
            store.close().await;
            name
        })
        .await
        .clone()
}

/// A PostgreSQL database for one test.
pub struct PgDatabase {
    pub url: String,
    name: String,
    admin: String,
}

impl PgDatabase {
    /// A database with every migration applied.
    pub async fn create(admin: &str) -> Self {
        let template = template(admin).await;
        Self::create_from(admin, &format!("TEMPLATE {template}")).await
    }

    /// A database without gancho's tables: no migration applied yet.
    pub async fn create_empty(admin: &str) -> Self {
        Self::create_from(admin, "").await
    }

    async fn create_from(admin: &str, template: &str) -> Self {
        let name = format!(
            "gancho_t_{}",
            ulid::Ulid::generate().to_string().to_lowercase()
        );
        admin_exec(admin, &format!("CREATE DATABASE {name} {template}")).await;
        Self {
            url: with_database(admin, &name),
            name,
            admin: admin.to_string(),
        }
    }
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        let (admin, name) = (self.admin.clone(), self.name.clone());
        // Drop runs outside async code: a short-lived runtime on its own thread.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(admin_exec(
                &admin,
                &format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
            ));
        })
        .join();
    }
}

/// One row of a raw query, with columns as JSON (integers, text, booleans, null).
pub struct SqlRow(pub Map<String, Value>);

impl SqlRow {
    pub fn str(&self, col: &str) -> String {
        self.0[col]
            .as_str()
            .unwrap_or_else(|| panic!("{col} is not text: {:?}", self.0[col]))
            .to_string()
    }

    pub fn int(&self, col: &str) -> i64 {
        self.0[col]
            .as_i64()
            .unwrap_or_else(|| panic!("{col} is not an integer: {:?}", self.0[col]))
    }
}

fn cell<'r, R: Row>(row: &'r R, i: usize) -> Value
where
    usize: sqlx::ColumnIndex<R>,
    i64: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    String: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    bool: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    if let Ok(Some(v)) = row.try_get::<Option<i64>, _>(i) {
        return Value::from(v);
    }
    if let Ok(Some(v)) = row.try_get::<Option<String>, _>(i) {
        return Value::from(v);
    }
    if let Ok(Some(v)) = row.try_get::<Option<bool>, _>(i) {
        return Value::from(v);
    }
    Value::Null
}

fn to_map<R: Row>(row: &R) -> SqlRow
where
    usize: sqlx::ColumnIndex<R>,
    for<'r> i64: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> String: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> bool: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    let mut map = Map::new();
    for (i, c) in row.columns().iter().enumerate() {
        map.insert(c.name().to_string(), cell(row, i));
    }
    SqlRow(map)
}

/// Runs a read-only query on whichever database the test uses.
pub async fn query(url: &str, sql: &str) -> Vec<SqlRow> {
    if url.starts_with("postgres") {
        let pool = sqlx::PgPool::connect(url).await.unwrap();
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .fetch_all(&pool)
            .await
            .unwrap();
        pool.close().await;
        rows.iter().map(to_map).collect()
    } else {
        let pool = sqlx::SqlitePool::connect(url).await.unwrap();
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .fetch_all(&pool)
            .await
            .unwrap();
        pool.close().await;
        rows.iter().map(to_map).collect()
    }
}
