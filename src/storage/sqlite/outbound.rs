//! SQLite's part of the outbound queries (the rest is
//! `storage::sql::outbound`): the worker's claim and its records of
//! attempts run as units of the group commit on the writer connection
//! (`group.rs`), like an inbound call's: no statement hops to another
//! thread, and they share a group's `COMMIT` and fsync with the calls
//! instead of taking the file for a transaction (and an fsync) of their
//! own between two groups. A unit's statements are single-row and
//! prepared once.
//!
//! The worker's record-then-claim is the one unit answered before its
//! group commits (`Unit::commit_unawaited`): the deliveries it claims are
//! sent at once instead of after the commit and the WAL's fsync, which
//! were most of one endpoint's round of sends under load (issue 9). What
//! that risks is what a crash between a send and its record already
//! risks: if the group is lost (a crash, a failed commit), its records and
//! leases are undone, and the deliveries they covered are claimed and
//! sent again (at least once; receivers dedupe on `webhook-id`). No sale,
//! event or delivery row is lost, as those are written by units that wait.
//! `record_attempts`, the worker's last record before it stops, waits for
//! its group's commit and so for every group before it.

use rusqlite::Connection;

use super::{ms, writer, SqliteStore};
use crate::storage::rows;
use crate::storage::sql::outbound::{disables_an_endpoint, due_deliveries, ids_to_load};
use crate::storage::{
    AttemptRecord, ClaimRequest, DueDelivery, HealthUpdate, StoreResult, CLAIM_CANDIDATES,
    CLAIM_RANKED, UPDATE_HEALTH,
};

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

/// A delivery's new state after an attempt, fenced: written only while the
/// delivery is still held under the token it was claimed with.
const UPDATE_DELIVERY: &str = "
    UPDATE deliveries SET status = $1, attempts = $2, cycle_start = $3, next_attempt_at = $4,
        lease_until = $5, last_http_status = $6, last_error = $7, updated_at = $8
    WHERE id = $9 AND lease_token = $10";

/// An attempt; one recorded again (a retried batch) replaces the first.
const UPSERT_ATTEMPT: &str = "
    INSERT INTO delivery_attempts (delivery_id, number, at, http_status, response_body, duration_ms, error)
    VALUES ($1, $2, $3, $4, $5, $6, $7)
    ON CONFLICT (delivery_id, number) DO UPDATE SET at = excluded.at, http_status = excluded.http_status,
        response_body = excluded.response_body, duration_ms = excluded.duration_ms, error = excluded.error";

const DISABLE_ENDPOINT: &str =
    "UPDATE endpoints SET is_enabled = FALSE, disabled_reason = $1, updated_at = $2 WHERE id = $3";

impl SqliteStore {
    /// `OutboundStore::claim_due_deliveries`: one unit that leases the due
    /// deliveries and reads their events and endpoints; answered once the
    /// group holding the leases has committed.
    pub(super) async fn claim_due(&self, claim: ClaimRequest) -> StoreResult<Vec<DueDelivery>> {
        let mut unit = self.group.begin().await?;
        let due = claim_in(unit.conn()?, claim)?;
        unit.commit().await?;
        Ok(due)
    }

    /// `OutboundStore::record_attempts`: one unit; a record whose delivery
    /// changed hands meanwhile writes nothing and is counted as stale.
    pub(super) async fn record(
        &self,
        records: &[AttemptRecord],
        health: &[HealthUpdate],
    ) -> StoreResult<usize> {
        let mut unit = self.group.begin().await?;
        let stale = record_in(unit.conn()?, records, health)?;
        unit.commit().await?;
        Ok(stale)
    }

    /// `OutboundStore::record_then_claim`: the record and the claim in one
    /// unit, so the claim sees the leases the record let go. Answered once
    /// the unit is in its group, not after the group's commit (see the
    /// module doc), unless it disables an endpoint.
    pub(super) async fn record_and_claim(
        &self,
        records: &[AttemptRecord],
        health: &[HealthUpdate],
        claim: ClaimRequest,
    ) -> StoreResult<(usize, Vec<DueDelivery>)> {
        let mut unit = self.group.begin().await?;
        let conn = unit.conn()?;
        let stale = record_in(conn, records, health)?;
        let due = claim_in(conn, claim)?;
        if disables_an_endpoint(records) {
            // The configuration cache is emptied when this returns, and
            // reloads from what is committed: the endpoint must be disabled there.
            unit.commit().await?;
        } else {
            unit.commit_unawaited()?;
        }
        Ok((stale, due))
    }
}

/// Leases the due deliveries (`claim_sql`) and reads their events and
/// endpoints, inside a unit.
fn claim_in(conn: &Connection, claim: ClaimRequest) -> StoreResult<Vec<DueDelivery>> {
    let deliveries = writer::query(
        conn,
        claim_sql(),
        &[
            &ms(claim.lease_until),
            &ms(claim.now),
            &i64::from(claim.limit),
            &i64::from(claim.per_endpoint),
        ],
        |r| rows::delivery(r),
    )?;
    let (event_ids, endpoint_ids) = ids_to_load(&deliveries);
    let events = by_id(
        conn,
        "SELECT * FROM events WHERE id = $1",
        &event_ids,
        |r| rows::event(r),
    )?;
    let endpoints = by_id(
        conn,
        "SELECT * FROM endpoints WHERE id = $1",
        &endpoint_ids,
        |r| rows::endpoint(r),
    )?;
    Ok(due_deliveries(deliveries, &events, &endpoints))
}

/// Records a batch of attempts and the endpoints' health, inside a unit;
/// how many attempts were stale.
fn record_in(
    conn: &Connection,
    records: &[AttemptRecord],
    health: &[HealthUpdate],
) -> StoreResult<usize> {
    let mut stale = 0;
    for r in records {
        if !record_one(conn, r)? {
            stale += 1;
        }
    }
    for h in health {
        writer::execute(
            conn,
            UPDATE_HEALTH,
            &[
                &h.endpoint_id.as_str(),
                &h.is_reset,
                &i64::from(h.failures),
                &i64::from(h.threshold),
                &ms(h.open_until),
            ],
        )?;
    }
    Ok(stale)
}

/// The rows `sql` (`... WHERE id = $1`) reads for each of `ids`, in order;
/// an id without a row is left out.
fn by_id<T>(
    conn: &Connection,
    sql: &str,
    ids: &[String],
    map: impl Fn(&rusqlite::Row<'_>) -> StoreResult<T>,
) -> StoreResult<Vec<T>> {
    let mut found = Vec::with_capacity(ids.len());
    for id in ids {
        found.extend(writer::query_opt(conn, sql, &[id], &map)?);
    }
    Ok(found)
}

/// Records one attempt: the delivery's new state (fenced), the attempt, its
/// log entry and, when the attempt says so, the endpoint disabled. `false`
/// when the delivery is no longer held under the record's token.
fn record_one(conn: &Connection, r: &AttemptRecord) -> StoreResult<bool> {
    let d = &r.delivery;
    let held = writer::execute(
        conn,
        UPDATE_DELIVERY,
        &[
            &d.status.as_str(),
            &i64::from(d.attempts),
            &i64::from(d.cycle_start),
            &d.next_attempt_at.map(ms),
            &d.lease_until.map(ms),
            &d.last_http_status.map(i64::from),
            &d.last_error.as_deref(),
            &ms(d.updated_at),
            &d.id.as_str(),
            &d.lease_token,
        ],
    )? == 1;
    if !held {
        return Ok(false);
    }
    let a = &r.attempt;
    writer::execute(
        conn,
        UPSERT_ATTEMPT,
        &[
            &d.id.as_str(),
            &i64::from(a.number),
            &ms(a.at),
            &a.http_status.map(i64::from),
            &a.response_body.as_deref(),
            &a.duration_ms,
            &a.error.as_deref(),
        ],
    )?;
    super::ledger::upsert_log(conn, &r.log)?;
    if let Some(reason) = &r.disable_endpoint {
        writer::execute(
            conn,
            DISABLE_ENDPOINT,
            &[reason, &ms(a.at), &d.endpoint_id.as_str()],
        )?;
    }
    Ok(true)
}
