//! PostgreSQL's part of the outbound queries (the rest is
//! `storage::sql::outbound`): the worker's claim locks what it leases with
//! `FOR UPDATE SKIP LOCKED` and takes turns across instances, and a batch
//! of attempts is recorded in one statement ([`RECORD`]) that reads its
//! rows from arrays (`UNNEST`, as `pending.rs` does): its text is the same
//! whatever the batch's size, so it stays prepared on every connection.
//! With one `VALUES` row per record, every batch size was a statement of
//! its own, prepared and planned again on each pooled connection, more
//! than its cache holds (issue 9). A record and the claim
//! after it share one transaction ([`PgStore::record_and_claim`]).

use std::collections::HashSet;

use sqlx::PgConnection;

use super::pending::{bind_log_columns, col};
use super::{map_err, PgStore};
use crate::model::LogEntry;
use crate::storage::rows;
use crate::storage::sql::outbound::{due_deliveries, ids_to_load};
use crate::storage::{
    held_records, AttemptRecord, ClaimRequest, DueDelivery, HealthUpdate, StoreResult,
    CLAIM_CANDIDATES, CLAIM_RANKED, UPDATE_HEALTH,
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

/// [`claim_turn`]'s statement, `$1` the turn's lock; public for the test
/// that checks what a claim after it reads (`tests/it/counters.rs`).
#[doc(hidden)]
pub const CLAIM_TURN: &str =
    "SELECT pg_advisory_xact_lock($1), set_config('enable_bitmapscan', 'off', true)";

/// Claims take turns across instances, so the per-endpoint count of leases
/// each one reads is exact (SKIP LOCKED alone would let two instances fill
/// the same endpoint's room at once).
///
/// The same statement turns bitmap scans off for the rest of the
/// transaction (`set_config(..., true)` is `SET LOCAL`): the count of
/// leases reads the partial index of leased deliveries, and every lease
/// and every record leaves an entry there for a row version that is gone
/// until a vacuum. A bitmap scan visited each of them in the heap on every
/// claim (11,478 entries and 1,726 heap blocks for 32 live leases, 2.5 ms
/// of a 3.5 ms claim, late in a drain to 10 endpoints), while a plain index
/// scan marks the dead ones as it passes and skips them after (issue 9;
/// test `a_claim_counts_leases_without_revisiting_dead_ones`).
async fn claim_turn(conn: &mut PgConnection) -> StoreResult<()> {
    sqlx::query(CLAIM_TURN)
        .bind(super::lock_key("claim"))
        .execute(conn)
        .await
        .map_err(map_err)?;
    Ok(())
}

/// A batch of attempts in one statement: the deliveries are updated
/// where this worker's lease still holds (`RETURNING` the ids it did), and
/// only those deliveries' attempts and log entries are written (filtered
/// by the update's ids in the statement, so a record is one round trip,
/// not three; issue 9). An attempt recorded again (a retried batch)
/// replaces the first record; a log entry is written or brought up to
/// date (an outbound entry follows its delivery's latest attempt; its time
/// and integration stay). Foreign keys between the parts (an attempt's
/// delivery, a detail's entry) are checked at the end of the statement.
///
/// `$1` is the deliveries' ids, `$2`–`$10` their new state and the lease
/// token they were claimed with; `$11`–`$16` the attempts; `$17`–`$31` the
/// log entries' columns (`bind_log_columns`) and `$32` their details.
const RECORD: &str = "
    WITH updated AS (
        UPDATE deliveries SET status = v.status, attempts = v.attempts,
            cycle_start = v.cycle_start, next_attempt_at = v.next_attempt_at,
            lease_until = v.lease_until, last_http_status = v.last_http_status,
            last_error = v.last_error, updated_at = v.updated_at
        FROM UNNEST($1::text[], $2::text[], $3::bigint[], $4::bigint[], $5::timestamptz[],
            $6::timestamptz[], $7::bigint[], $8::text[], $9::timestamptz[], $10::bigint[])
            AS v(id, status, attempts, cycle_start, next_attempt_at, lease_until,
                 last_http_status, last_error, updated_at, lease_token)
        WHERE deliveries.id = v.id AND deliveries.lease_token = v.lease_token
        RETURNING deliveries.id
    ), attempts AS (
        INSERT INTO delivery_attempts (delivery_id, number, at, http_status, response_body,
            duration_ms, error)
        SELECT a.* FROM UNNEST($1::text[], $11::bigint[], $12::timestamptz[], $13::bigint[],
            $14::text[], $15::bigint[], $16::text[])
            AS a(delivery_id, number, at, http_status, response_body, duration_ms, error)
        WHERE a.delivery_id IN (SELECT id FROM updated)
        ON CONFLICT (delivery_id, number) DO UPDATE SET at = excluded.at,
            http_status = excluded.http_status, response_body = excluded.response_body,
            duration_ms = excluded.duration_ms, error = excluded.error
    ), entries AS (
        INSERT INTO log_entries (id, workspace_id, at, direction, gateway, event_type, email,
            status, http_status, duration_ms, integration_kind, integration_id, integration_name,
            attempts, error)
        SELECT l.id, l.workspace_id, l.at, l.direction, l.gateway, l.event_type, l.email,
            l.status, l.http_status, l.duration_ms, l.integration_kind, l.integration_id,
            l.integration_name, l.attempts, l.error
        FROM UNNEST($1::text[], $17::text[], $18::text[], $19::timestamptz[], $20::text[],
            $21::text[], $22::text[], $23::text[], $24::text[], $25::bigint[], $26::bigint[],
            $27::text[], $28::text[], $29::text[], $30::bigint[], $31::text[])
            AS l(delivery_id, id, workspace_id, at, direction, gateway, event_type, email,
                 status, http_status, duration_ms, integration_kind, integration_id,
                 integration_name, attempts, error)
        WHERE l.delivery_id IN (SELECT id FROM updated)
        ON CONFLICT (id) DO UPDATE SET status = excluded.status,
            http_status = excluded.http_status, duration_ms = excluded.duration_ms,
            attempts = excluded.attempts, error = excluded.error
    ), details AS (
        INSERT INTO log_details (log_id, detail)
        SELECT d.log_id, d.detail FROM UNNEST($1::text[], $17::text[], $32::text[])
            AS d(delivery_id, log_id, detail)
        WHERE d.delivery_id IN (SELECT id FROM updated)
        ON CONFLICT (log_id) DO UPDATE SET detail = excluded.detail
    )
    SELECT id FROM updated";

/// Runs [`RECORD`] for the batch and returns the ids of the deliveries it
/// updated (whose lease held).
async fn record_batch(
    conn: &mut PgConnection,
    records: &[AttemptRecord],
) -> StoreResult<HashSet<String>> {
    let logs: Vec<&LogEntry> = records.iter().map(|r| &r.log).collect();
    let query = sqlx::query(RECORD)
        .bind(col(records, |r| r.delivery.id.to_string()))
        .bind(col(records, |r| r.delivery.status.as_str().to_string()))
        .bind(col(records, |r| i64::from(r.delivery.attempts)))
        .bind(col(records, |r| i64::from(r.delivery.cycle_start)))
        .bind(col(records, |r| r.delivery.next_attempt_at))
        .bind(col(records, |r| r.delivery.lease_until))
        .bind(col(records, |r| r.delivery.last_http_status.map(i64::from)))
        .bind(col(records, |r| r.delivery.last_error.clone()))
        .bind(col(records, |r| r.delivery.updated_at))
        .bind(col(records, |r| r.delivery.lease_token))
        .bind(col(records, |r| i64::from(r.attempt.number)))
        .bind(col(records, |r| r.attempt.at))
        .bind(col(records, |r| r.attempt.http_status.map(i64::from)))
        .bind(col(records, |r| r.attempt.response_body.clone()))
        .bind(col(records, |r| r.attempt.duration_ms))
        .bind(col(records, |r| r.attempt.error.clone()));
    let rows = bind_log_columns(query, &logs)
        .bind(col(&logs, |e| rows::to_json(&e.detail)))
        .fetch_all(conn)
        .await
        .map_err(map_err)?;
    rows.iter()
        .map(|r| sqlx::Row::try_get::<String, _>(r, "id").map_err(map_err))
        .collect()
}

impl PgStore {
    /// `OutboundStore::record_then_claim`: one transaction that records
    /// the batch, then takes the claim's turn and leases what is due, so
    /// the worker's round waits for one `BEGIN` and one `COMMIT` (and its
    /// fsync) instead of two of each: the worker records and claims one
    /// round at a time, and its rounds, not the machine, held a drain to
    /// 10 endpoints (45 % idle; issue 9). The record's row
    /// locks are its own deliveries', which the claim's `SKIP LOCKED`
    /// passes over, so holding them while waiting for the turn makes no
    /// cycle. When the transaction fails, the record is tried again alone
    /// and the claim is left to the worker's next one: a failed claim does
    /// not lose the attempts it was sent with.
    pub(super) async fn record_and_claim(
        &self,
        records: &[AttemptRecord],
        health: &[HealthUpdate],
        claim: ClaimRequest,
    ) -> StoreResult<(usize, Vec<DueDelivery>)> {
        let together = async {
            let mut tx = self.write_tx().await?;
            let stale = record_in(&mut tx, records, health).await?;
            let due = claim_in(&mut tx, claim).await?;
            tx.commit().await?;
            Ok::<_, crate::storage::StoreError>((stale, due))
        };
        match together.await {
            Ok(done) => Ok(done),
            Err(e) => {
                tracing::warn!(error = %e, "recording and claiming together failed; recording alone");
                Ok((self.record(records, health).await?, Vec::new()))
            }
        }
    }

    /// `OutboundStore::claim_due_deliveries`: one transaction that takes
    /// the claim's turn, leases the due deliveries and reads their events
    /// and endpoints.
    pub(super) async fn claim_due(&self, claim: ClaimRequest) -> StoreResult<Vec<DueDelivery>> {
        let mut tx = self.write_tx().await?;
        let due = claim_in(&mut tx, claim).await?;
        tx.commit().await?;
        Ok(due)
    }

    /// `OutboundStore::record_attempts`: one transaction of one statement
    /// for the batch, and the endpoints' changes.
    pub(super) async fn record(
        &self,
        records: &[AttemptRecord],
        health: &[HealthUpdate],
    ) -> StoreResult<usize> {
        let mut tx = self.write_tx().await?;
        let stale = record_in(&mut tx, records, health).await?;
        tx.commit().await?;
        Ok(stale)
    }
}

/// The claim on `conn`'s open transaction: its turn, the leases, and the
/// deliveries' events and endpoints.
async fn claim_in(conn: &mut PgConnection, claim: ClaimRequest) -> StoreResult<Vec<DueDelivery>> {
    claim_turn(&mut *conn).await?;
    let leased = sqlx::query(claim_sql())
        .bind(claim.lease_until)
        .bind(claim.now)
        .bind(i64::from(claim.limit))
        .bind(i64::from(claim.per_endpoint))
        .fetch_all(&mut *conn)
        .await
        .map_err(map_err)?;
    let deliveries = leased
        .iter()
        .map(rows::delivery)
        .collect::<StoreResult<Vec<_>>>()?;
    let (event_ids, endpoint_ids) = ids_to_load(&deliveries);
    let events = rows_by_id(&mut *conn, EVENTS_BY_ID, &event_ids)
        .await?
        .iter()
        .map(rows::event)
        .collect::<StoreResult<Vec<_>>>()?;
    let endpoints = rows_by_id(&mut *conn, ENDPOINTS_BY_ID, &endpoint_ids)
        .await?
        .iter()
        .map(rows::endpoint)
        .collect::<StoreResult<Vec<_>>>()?;
    Ok(due_deliveries(deliveries, &events, &endpoints))
}

/// The record on `conn`'s open transaction: one statement for the batch
/// (its text is the same for any number of rows), and the endpoints'
/// changes. Returns how many attempts were dropped (their delivery's
/// lease had changed hands).
async fn record_in(
    conn: &mut PgConnection,
    records: &[AttemptRecord],
    health: &[HealthUpdate],
) -> StoreResult<usize> {
    let fenced = if records.is_empty() {
        HashSet::new()
    } else {
        record_batch(&mut *conn, records).await?
    };
    let held = held_records(records, &fenced);
    for r in &held {
        if let Some(reason) = &r.disable_endpoint {
            sqlx::query(
                "UPDATE endpoints SET is_enabled = FALSE, disabled_reason = $1, updated_at = $2
                 WHERE id = $3",
            )
            .bind(reason)
            .bind(r.attempt.at)
            .bind(r.delivery.endpoint_id.as_str())
            .execute(&mut *conn)
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
            .execute(&mut *conn)
            .await
            .map_err(map_err)?;
    }
    Ok(records.len() - held.len())
}

/// The events whose id is in `$1`: one text for any number of ids.
const EVENTS_BY_ID: &str = "SELECT * FROM events WHERE id = ANY($1::text[])";
/// The endpoints whose id is in `$1`.
const ENDPOINTS_BY_ID: &str = "SELECT * FROM endpoints WHERE id = ANY($1::text[])";

/// Rows of [`EVENTS_BY_ID`] or [`ENDPOINTS_BY_ID`] for `ids`.
async fn rows_by_id(
    conn: &mut PgConnection,
    sql: &'static str,
    ids: &[String],
) -> StoreResult<Vec<sqlx::postgres::PgRow>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    sqlx::query(sql)
        .bind(ids)
        .fetch_all(conn)
        .await
        .map_err(map_err)
}
