//! Which migrations a database has and which this build would apply, for
//! `gancho check` (read without changing anything) and `gancho migrate`.
//! Each backend reads its own `_sqlx_migrations` table
//! (`SqliteStore::migration_state`, `PgStore::migration_state`); the
//! comparison with the migrations embedded in the binary is written once here.

use std::collections::HashMap;

use sqlx::migrate::Migrator;

/// One migration of this build, named as its file is
/// (`migrations/{sqlite,postgres}/0012_ui_sessions.sql`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Migration {
    pub version: i64,
    pub name: String,
}

impl std::fmt::Display for Migration {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:04}_{}", self.version, self.name)
    }
}

/// How a database stands against this build's migrations.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MigrationState {
    /// How many of this build's migrations the database has.
    pub applied: usize,
    /// This build's migrations the database does not have yet, oldest first.
    pub pending: Vec<Migration>,
    /// Versions the database records that this build does not know: a newer
    /// gancho migrated it (this one refuses to start on it).
    pub unknown: Vec<i64>,
    /// Versions whose run stopped part-way (recorded with `success = false`).
    pub failed: Vec<i64>,
}

impl MigrationState {
    /// Whether `gancho serve` would run on this database without migrating.
    pub fn is_current(&self) -> bool {
        self.pending.is_empty() && self.unknown.is_empty() && self.failed.is_empty()
    }
}

/// What each backend reads from its `_sqlx_migrations` table.
pub(crate) const RECORDED: &str = "SELECT version, success FROM _sqlx_migrations";

/// Compares what the database records (`(version, success)` rows; none when
/// it has no migrations table yet) with `migrator`'s migrations.
pub(crate) fn compare(migrator: &Migrator, recorded: &[(i64, bool)]) -> MigrationState {
    let recorded: HashMap<i64, bool> = recorded.iter().copied().collect();
    let known: Vec<Migration> = migrator
        .iter()
        .filter(|m| !m.migration_type.is_down_migration())
        .map(|m| Migration {
            version: m.version,
            name: m.description.replace(' ', "_"),
        })
        .collect();
    let mut state = MigrationState::default();
    for m in &known {
        match recorded.get(&m.version) {
            Some(true) => state.applied += 1,
            Some(false) => state.failed.push(m.version),
            None => state.pending.push(m.clone()),
        }
    }
    state.unknown = recorded
        .keys()
        .filter(|v| !known.iter().any(|m| m.version == **v))
        .copied()
        .collect();
    state.unknown.sort_unstable();
    state
}

#[cfg(test)]
mod tests {
    use super::*;

    static SQLITE: Migrator = sqlx::migrate!("migrations/sqlite");

    #[test]
    fn a_database_missing_the_newest_migration_lists_it_as_pending() {
        let all: Vec<i64> = SQLITE.iter().map(|m| m.version).collect();
        let (last, older) = all.split_last().unwrap();
        let recorded: Vec<(i64, bool)> = older.iter().map(|v| (*v, true)).collect();

        let state = compare(&SQLITE, &recorded);

        assert_eq!(state.applied, older.len());
        assert_eq!(state.pending.len(), 1);
        assert_eq!(state.pending[0].version, *last);
        let name = state.pending[0].to_string();
        assert!(name.starts_with(&format!("{last:04}_")), "{name}");
        assert!(!name.contains(' '), "{name}");
        assert!(!state.is_current());
    }

    #[test]
    fn failed_and_unknown_versions_are_reported_apart() {
        let mut recorded: Vec<(i64, bool)> = SQLITE.iter().map(|m| (m.version, true)).collect();
        recorded[0].1 = false;
        recorded.push((9999, true));

        let state = compare(&SQLITE, &recorded);

        assert!(state.pending.is_empty());
        assert_eq!(state.failed, vec![1]);
        assert_eq!(state.unknown, vec![9999]);
        assert!(!state.is_current());
    }
}
