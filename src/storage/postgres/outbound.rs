//! PostgreSQL's part of the outbound queries (the rest is
//! `storage::sql::outbound`): the worker's claim locks what it leases with
//! `FOR UPDATE SKIP LOCKED` and takes turns across instances, and a batch
//! of attempts is recorded in a few multi-row statements (each statement
//! is a round trip), its deliveries updated from a typed `VALUES` list.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, Postgres};

use super::{map_err, PgStore};
use crate::model::LogEntry;
use crate::storage::rows;
use crate::storage::sql::outbound::{due_deliveries, ids_to_load};
use crate::storage::{
    held_records, AttemptRecord, DueDelivery, HealthUpdate, StoreResult, CLAIM_CANDIDATES,
    CLAIM_RANKED, UPDATE_HEALTH,
};

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
async fn claim_turn(conn: &mut PgConnection) -> StoreResult<()> {
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(super::lock_key("claim"))
        .execute(conn)
        .await
        .map_err(map_err)?;
    Ok(())
}

/// One `UPDATE ... FROM (VALUES ...)` for the whole batch (typed: the
/// values of a `VALUES` list have no column types of their own here).
async fn update_deliveries(
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

impl PgStore {
    /// `OutboundStore::claim_due_deliveries`: one transaction that takes
    /// the claim's turn, leases the due deliveries and reads their events
    /// and endpoints.
    pub(super) async fn claim_due(
        &self,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: u32,
        per_endpoint: u32,
    ) -> StoreResult<Vec<DueDelivery>> {
        let mut tx = self.write_tx().await?;
        claim_turn(&mut tx).await?;
        let leased = sqlx::query(claim_sql())
            .bind(lease_until)
            .bind(now)
            .bind(i64::from(limit))
            .bind(i64::from(per_endpoint))
            .fetch_all(&mut *tx)
            .await
            .map_err(map_err)?;
        let deliveries = leased
            .iter()
            .map(rows::delivery)
            .collect::<StoreResult<Vec<_>>>()?;
        let (event_ids, endpoint_ids) = ids_to_load(&deliveries);
        let events = rows_by_id(&mut tx, "events", &event_ids)
            .await?
            .iter()
            .map(rows::event)
            .collect::<StoreResult<Vec<_>>>()?;
        let endpoints = rows_by_id(&mut tx, "endpoints", &endpoint_ids)
            .await?
            .iter()
            .map(rows::endpoint)
            .collect::<StoreResult<Vec<_>>>()?;
        tx.commit().await?;
        Ok(due_deliveries(deliveries, &events, &endpoints))
    }

    /// `OutboundStore::record_attempts`: one transaction of a few
    /// multi-row statements per 100 records.
    pub(super) async fn record(
        &self,
        records: &[AttemptRecord],
        health: &[HealthUpdate],
    ) -> StoreResult<usize> {
        let mut tx = self.write_tx().await?;
        let mut held = Vec::with_capacity(records.len());
        for chunk in records.chunks(100) {
            let fenced = update_deliveries(&mut tx, chunk).await?;
            let chunk = held_records(chunk, &fenced);
            if chunk.is_empty() {
                continue;
            }
            insert_attempts(&mut tx, &chunk).await?;
            let logs: Vec<&LogEntry> = chunk.iter().map(|r| &r.log).collect();
            upsert_logs(&mut tx, &logs).await?;
            held.extend(chunk);
        }
        let stale = records.len() - held.len();
        for r in &held {
            if let Some(reason) = &r.disable_endpoint {
                sqlx::query(
                    "UPDATE endpoints SET is_enabled = FALSE, disabled_reason = $1, updated_at = $2
                     WHERE id = $3",
                )
                .bind(reason)
                .bind(r.attempt.at)
                .bind(r.delivery.endpoint_id.as_str())
                .execute(&mut *tx)
                .await
                .map_err(map_err)?;
            }
        }
        for h in health {
            sqlx::query(UPDATE_HEALTH)
                .bind(h.endpoint_id.as_str())
                .bind(h.is_reset)
                .bind(i64::from(h.failures))
                .bind(i64::from(h.threshold))
                .bind(h.open_until)
                .execute(&mut *tx)
                .await
                .map_err(map_err)?;
        }
        tx.commit().await?;
        Ok(stale)
    }
}

/// Rows of `table` whose id is in `ids`.
async fn rows_by_id(
    conn: &mut PgConnection,
    table: &str,
    ids: &[String],
) -> StoreResult<Vec<sqlx::postgres::PgRow>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let mut qb =
        sqlx::QueryBuilder::<Postgres>::new(format!("SELECT * FROM {table} WHERE id IN ("));
    let mut list = qb.separated(", ");
    for id in ids {
        list.push_bind(id.as_str());
    }
    qb.push(")");
    qb.build().fetch_all(conn).await.map_err(map_err)
}

/// The attempts of a batch, one statement; an attempt recorded
/// again (a retried batch) replaces the first record.
async fn insert_attempts(conn: &mut PgConnection, records: &[AttemptRecord]) -> StoreResult<()> {
    let mut qb = sqlx::QueryBuilder::<Postgres>::new(
        "INSERT INTO delivery_attempts (delivery_id, number, at, http_status, response_body,
             duration_ms, error) ",
    );
    qb.push_values(records, |mut b, r| {
        let a = &r.attempt;
        b.push_bind(r.delivery.id.as_str())
            .push_bind(i64::from(a.number))
            .push_bind(a.at)
            .push_bind(a.http_status.map(i64::from))
            .push_bind(a.response_body.as_deref())
            .push_bind(a.duration_ms)
            .push_bind(a.error.as_deref());
    });
    qb.push(
        " ON CONFLICT (delivery_id, number) DO UPDATE SET at = excluded.at,
             http_status = excluded.http_status, response_body = excluded.response_body,
             duration_ms = excluded.duration_ms, error = excluded.error",
    );
    qb.build().execute(conn).await.map_err(map_err)?;
    Ok(())
}

/// Writes log entries, or updates the ones already there (an outbound entry
/// follows its delivery's latest attempt; its time and integration stay).
async fn upsert_logs(conn: &mut PgConnection, entries: &[&LogEntry]) -> StoreResult<()> {
    if entries.is_empty() {
        return Ok(());
    }
    let mut qb = sqlx::QueryBuilder::<Postgres>::new(
        "INSERT INTO log_entries (id, workspace_id, at, direction, gateway, event_type, email, status,
             http_status, duration_ms, integration_kind, integration_id, integration_name, attempts, error) ",
    );
    qb.push_values(entries, |mut b, e| {
        b.push_bind(e.id.as_str())
            .push_bind(e.workspace_id.as_str())
            .push_bind(e.at)
            .push_bind(e.direction.as_str())
            .push_bind(e.gateway.map(|g| g.as_str()))
            .push_bind(e.event_type.as_deref())
            .push_bind(e.email.as_deref())
            .push_bind(e.status.as_str())
            .push_bind(i64::from(e.http_status))
            .push_bind(e.duration_ms)
            .push_bind(e.integration.kind.as_str())
            .push_bind(e.integration.id.as_deref())
            .push_bind(e.integration.name.as_str())
            .push_bind(i64::from(e.attempts))
            .push_bind(e.error.as_deref());
    });
    qb.push(
        " ON CONFLICT (id) DO UPDATE SET status = excluded.status, http_status = excluded.http_status,
             duration_ms = excluded.duration_ms, attempts = excluded.attempts, error = excluded.error",
    );
    qb.build().execute(&mut *conn).await.map_err(map_err)?;
    let mut qb = sqlx::QueryBuilder::<Postgres>::new("INSERT INTO log_details (log_id, detail) ");
    qb.push_values(entries, |mut b, e| {
        b.push_bind(e.id.as_str()).push_bind(e.detail.to_string());
    });
    qb.push(" ON CONFLICT (log_id) DO UPDATE SET detail = excluded.detail");
    qb.build().execute(&mut *conn).await.map_err(map_err)?;
    Ok(())
}
