//! `gancho migrate`: apply the pending migrations and list them. Also the
//! one place the CLI picks a backend's migration functions from the config
//! (`gancho check` reads the state through [`migration_state`]).

use std::time::Duration;

use crate::config::{Config, DatabaseUrl};
use crate::storage::migrations::{Migration, MigrationState};
use crate::storage::postgres::PgStore;
use crate::storage::sqlite::SqliteStore;

pub async fn migrate() -> anyhow::Result<()> {
    let config = super::config()?;
    let spinner = super::spinner("applying migrations");
    let applied = apply(&config).await;
    spinner.finish_and_clear();
    let applied = applied?;
    if applied.is_empty() {
        println!("up to date");
    }
    for m in applied {
        println!("applied {m}");
    }
    Ok(())
}

/// Applies the pending migrations; returns them, oldest first.
pub async fn apply(config: &Config) -> anyhow::Result<Vec<Migration>> {
    Ok(match &config.database_url {
        DatabaseUrl::Sqlite(path) => SqliteStore::migrate(path).await?,
        DatabaseUrl::Postgres(url) => PgStore::migrate(url.expose()).await?,
    })
}

/// The database's migrations, read without changing anything; an error
/// says why the database cannot be read (missing, unreachable, corrupt),
/// and waiting for it ends after `timeout`.
pub async fn migration_state(config: &Config, timeout: Duration) -> Result<MigrationState, String> {
    let read = async {
        match &config.database_url {
            DatabaseUrl::Sqlite(path) if !path.is_file() => Err(format!(
                "no SQLite database at {} (gancho migrate creates it)",
                path.display()
            )),
            DatabaseUrl::Sqlite(path) => SqliteStore::migration_state(path)
                .await
                .map_err(|e| format!("{}: {e}", path.display())),
            DatabaseUrl::Postgres(url) => PgStore::migration_state(url.expose())
                .await
                .map_err(|e| format!("cannot reach PostgreSQL: {e}")),
        }
    };
    tokio::time::timeout(timeout, read)
        .await
        .map_err(|_| format!("no answer within {}s", timeout.as_secs()))?
}
