//! SQLite's part of the outbound queries (the rest is `storage::sql::outbound`):
//! the worker's claim is one `UPDATE ... RETURNING` on the single writer
//! connection, and a batch of attempts updates its deliveries from an
//! untyped `VALUES` list.

use std::collections::HashSet;

use sqlx::{Sqlite, SqliteConnection};

use super::{map_err, ms};
use crate::storage::{AttemptRecord, StoreResult, CLAIM_CANDIDATES, CLAIM_RANKED};

/// The delivery claim as SQLite runs it (see `CLAIM_RANKED`).
pub(super) fn claim_sql() -> &'static str {
    // Built once: the claim runs several times a second.
    static SQL: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
        CLAIM_RANKED
            .replace("{lock}", "")
            .replace("{leased}", "INDEXED BY deliveries_leased")
            .replace(
                "{candidates}",
                &format!(
                    "JOIN deliveries d ON d.id IN ({})",
                    CLAIM_CANDIDATES.replace("{columns}", "c.id")
                ),
            )
    });
    &SQL
}

/// Claims need no turns here: the one writer connection runs them one at a time.
pub(super) async fn claim_turn(_conn: &mut SqliteConnection) -> StoreResult<()> {
    Ok(())
}

/// One `UPDATE ... FROM (VALUES ...)` for the whole batch.
pub(super) async fn update_deliveries(
    conn: &mut SqliteConnection,
    records: &[AttemptRecord],
) -> StoreResult<HashSet<String>> {
    let mut qb = sqlx::QueryBuilder::<Sqlite>::new(
        "UPDATE deliveries SET status = v.column2, attempts = v.column3, cycle_start = v.column4,
             next_attempt_at = v.column5, lease_until = v.column6, last_http_status = v.column7,
             last_error = v.column8, updated_at = v.column9
         FROM (",
    );
    qb.push_values(records, |mut b, r| {
        let d = &r.delivery;
        b.push_bind(d.id.as_str())
            .push_bind(d.status.as_str())
            .push_bind(i64::from(d.attempts))
            .push_bind(i64::from(d.cycle_start))
            .push_bind(d.next_attempt_at.map(ms))
            .push_bind(d.lease_until.map(ms))
            .push_bind(d.last_http_status.map(i64::from))
            .push_bind(d.last_error.as_deref())
            .push_bind(ms(d.updated_at))
            .push_bind(d.lease_token);
    });
    // Fenced: only deliveries still held under the token they were claimed with.
    qb.push(
        ") AS v WHERE deliveries.id = v.column1 AND deliveries.lease_token = v.column10 RETURNING id",
    );
    let rows = qb.build().fetch_all(conn).await.map_err(map_err)?;
    rows.iter()
        .map(|r| sqlx::Row::try_get::<String, _>(r, "id").map_err(map_err))
        .collect()
}
