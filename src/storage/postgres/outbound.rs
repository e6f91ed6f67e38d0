//! PostgreSQL's part of the outbound queries (the rest is
//! `storage::sql::outbound`): the claim locks what it leases with
//! `FOR UPDATE SKIP LOCKED` and takes turns across instances, and a batch
//! of attempts updates its deliveries from a typed `VALUES` list.

use std::collections::HashSet;

use sqlx::{PgConnection, Postgres};

use super::map_err;
use crate::storage::{AttemptRecord, StoreResult, CLAIM_CANDIDATES, CLAIM_RANKED};

/// The delivery claim as PostgreSQL runs it (see `CLAIM_RANKED`); public
/// for the test that checks its plan (`tests/it/counters.rs`).
#[doc(hidden)]
pub fn claim_sql() -> &'static str {
    // Built once: the claim runs several times a second.
    static SQL: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
        CLAIM_RANKED
            .replace("{lock}", "FOR UPDATE SKIP LOCKED")
            .replace("{leased}", "")
            .replace(
                "{candidates}",
                &format!(
                    "CROSS JOIN LATERAL ({}) d",
                    CLAIM_CANDIDATES.replace("{columns}", "c.id, c.endpoint_id, c.next_attempt_at")
                ),
            )
    });
    &SQL
}

/// Claims take turns across instances, so the per-endpoint count of leases
/// each one reads is exact (SKIP LOCKED alone would let two instances fill
/// the same endpoint's room at once).
pub(super) async fn claim_turn(conn: &mut PgConnection) -> StoreResult<()> {
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(super::lock_key("claim"))
        .execute(conn)
        .await
        .map_err(map_err)?;
    Ok(())
}

/// One `UPDATE ... FROM (VALUES ...)` for the whole batch (typed: the
/// values of a `VALUES` list have no column types of their own here).
pub(super) async fn update_deliveries(
    conn: &mut PgConnection,
    records: &[AttemptRecord],
) -> StoreResult<HashSet<String>> {
    let mut qb = sqlx::QueryBuilder::<Postgres>::new(
        "UPDATE deliveries SET status = v.status, attempts = v.attempts, cycle_start = v.cycle_start,
             next_attempt_at = v.next_attempt_at, lease_until = v.lease_until,
             last_http_status = v.last_http_status, last_error = v.last_error, updated_at = v.updated_at
         FROM (",
    );
    qb.push_values(records, |mut b, r| {
        let d = &r.delivery;
        b.push_bind(d.id.as_str())
            .push_unseparated("::text")
            .push_bind(d.status.as_str())
            .push_unseparated("::text")
            .push_bind(i64::from(d.attempts))
            .push_unseparated("::bigint")
            .push_bind(i64::from(d.cycle_start))
            .push_unseparated("::bigint")
            .push_bind(d.next_attempt_at)
            .push_unseparated("::timestamptz")
            .push_bind(d.lease_until)
            .push_unseparated("::timestamptz")
            .push_bind(d.last_http_status.map(i64::from))
            .push_unseparated("::bigint")
            .push_bind(d.last_error.as_deref())
            .push_unseparated("::text")
            .push_bind(d.updated_at)
            .push_unseparated("::timestamptz")
            .push_bind(d.lease_token)
            .push_unseparated("::bigint");
    });
    qb.push(
        ") AS v(id, status, attempts, cycle_start, next_attempt_at, lease_until, last_http_status, last_error, updated_at, lease_token)
         WHERE deliveries.id = v.id AND deliveries.lease_token = v.lease_token
         RETURNING deliveries.id",
    );
    let rows = qb.build().fetch_all(conn).await.map_err(map_err)?;
    rows.iter()
        .map(|r| sqlx::Row::try_get::<String, _>(r, "id").map_err(map_err))
        .collect()
}
