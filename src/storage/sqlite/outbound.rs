//! SQLite: endpoints, events, deliveries and attempts; the worker's claim
//! is one `UPDATE ... RETURNING` on the single writer connection.

use std::collections::HashSet;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::{Sqlite, SqliteConnection};

use super::ledger::upsert_logs;
use super::{map_err, ms, SqliteStore};
use crate::ids::{DeliveryId, EndpointId, WorkspaceId};
use crate::model::{Attempt, Delivery, Endpoint, LogEntry};
use crate::storage::rows::{self, id_strings, to_json};
use crate::storage::{
    AttemptRecord, DueDelivery, HealthUpdate, OutboundStore, Page, StoreError, StoreResult,
    CLAIM_CANDIDATES, CLAIM_RANKED, UPDATE_HEALTH,
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

async fn insert_attempts(
    conn: &mut SqliteConnection,
    records: &[AttemptRecord],
) -> StoreResult<()> {
    let mut qb = sqlx::QueryBuilder::<Sqlite>::new(
        "INSERT OR REPLACE INTO delivery_attempts (delivery_id, number, at, http_status, response_body, duration_ms, error) ",
    );
    qb.push_values(records, |mut b, r| {
        let a = &r.attempt;
        b.push_bind(r.delivery.id.as_str())
            .push_bind(i64::from(a.number))
            .push_bind(ms(a.at))
            .push_bind(a.http_status.map(i64::from))
            .push_bind(a.response_body.as_deref())
            .push_bind(a.duration_ms)
            .push_bind(a.error.as_deref());
    });
    qb.build().execute(conn).await.map_err(map_err)?;
    Ok(())
}

/// One `UPDATE ... FROM (VALUES ...)` for the whole batch.
async fn update_deliveries(
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

fn bind_endpoint<'q>(
    q: sqlx::query::Query<'q, Sqlite, sqlx::sqlite::SqliteArguments>,
    e: &'q Endpoint,
) -> sqlx::query::Query<'q, Sqlite, sqlx::sqlite::SqliteArguments> {
    q.bind(&e.name)
        .bind(&e.url)
        .bind(to_json(&e.event_types))
        .bind(to_json(&id_strings(&e.product_ids)))
        .bind(to_json(&e.headers))
        .bind(e.rate_limit_per_second.map(i64::from))
        .bind(e.is_enabled)
        .bind(e.disabled_reason.as_deref())
        .bind(&e.secret)
        .bind(e.previous_secret.as_deref())
        .bind(e.previous_secret_expires_at.map(ms))
        .bind(ms(e.updated_at))
        .bind(e.max_in_flight.map(i64::from))
}

/// Rows of `table` whose id is in `ids`.
async fn rows_by_id(
    conn: &mut SqliteConnection,
    table: &str,
    ids: &[String],
) -> StoreResult<Vec<sqlx::sqlite::SqliteRow>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let mut qb = sqlx::QueryBuilder::<Sqlite>::new(format!("SELECT * FROM {table} WHERE id IN ("));
    let mut list = qb.separated(", ");
    for id in ids {
        list.push_bind(id.as_str());
    }
    qb.push(")");
    qb.build().fetch_all(conn).await.map_err(map_err)
}

#[async_trait]
impl OutboundStore for SqliteStore {
    async fn insert_endpoint(&self, e: &Endpoint) -> StoreResult<()> {
        let q = sqlx::query(
            "INSERT INTO endpoints (name, url, event_types, product_ids, headers, rate_limit_per_second,
                 is_enabled, disabled_reason, secret, previous_secret, previous_secret_expires_at, updated_at,
                 max_in_flight, id, workspace_id, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)",
        );
        bind_endpoint(q, e)
            .bind(e.id.as_str())
            .bind(e.workspace_id.as_str())
            .bind(ms(e.created_at))
            .execute(&mut *self.write_conn().await?)
            .await
            .map_err(map_err)?;
        Ok(())
    }

    async fn get_endpoint(&self, ws: &WorkspaceId, id: &EndpointId) -> StoreResult<Endpoint> {
        let row = sqlx::query("SELECT * FROM endpoints WHERE workspace_id = $1 AND id = $2")
            .bind(ws.as_str())
            .bind(id.as_str())
            .fetch_one(&self.reader)
            .await
            .map_err(map_err)?;
        rows::endpoint(&row)
    }

    async fn list_endpoints(&self, ws: &WorkspaceId, page: &Page) -> StoreResult<Vec<Endpoint>> {
        let rows = sqlx::query(
            "SELECT * FROM endpoints WHERE workspace_id = $1 AND ($2 IS NULL OR id > $2) ORDER BY id LIMIT $3",
        )
        .bind(ws.as_str())
        .bind(page.after.as_deref())
        .bind(i64::from(page.limit.max(1)))
        .fetch_all(&self.reader)
        .await
        .map_err(map_err)?;
        rows.iter().map(rows::endpoint).collect()
    }

    async fn update_endpoint(&self, e: &Endpoint) -> StoreResult<()> {
        let q = sqlx::query(
            "UPDATE endpoints SET name = $1, url = $2, event_types = $3, product_ids = $4, headers = $5,
                 rate_limit_per_second = $6, is_enabled = $7, disabled_reason = $8, secret = $9,
                 previous_secret = $10, previous_secret_expires_at = $11, updated_at = $12,
                 max_in_flight = $13
             WHERE id = $14 AND workspace_id = $15",
        );
        let result = bind_endpoint(q, e)
            .bind(e.id.as_str())
            .bind(e.workspace_id.as_str())
            .execute(&mut *self.write_conn().await?)
            .await
            .map_err(map_err)?;
        if result.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    async fn delete_endpoint(&self, ws: &WorkspaceId, id: &EndpointId) -> StoreResult<()> {
        let result = sqlx::query("DELETE FROM endpoints WHERE workspace_id = $1 AND id = $2")
            .bind(ws.as_str())
            .bind(id.as_str())
            .execute(&mut *self.write_conn().await?)
            .await
            .map_err(map_err)?;
        if result.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    async fn get_delivery(&self, ws: &WorkspaceId, id: &DeliveryId) -> StoreResult<Delivery> {
        let row = sqlx::query("SELECT * FROM deliveries WHERE workspace_id = $1 AND id = $2")
            .bind(ws.as_str())
            .bind(id.as_str())
            .fetch_one(&self.reader)
            .await
            .map_err(map_err)?;
        rows::delivery(&row)
    }

    async fn list_deliveries(
        &self,
        ws: &WorkspaceId,
        endpoint: &EndpointId,
        page: &Page,
    ) -> StoreResult<Vec<Delivery>> {
        // Newest first: ids are time-ordered, so the cursor walks backwards.
        let rows = sqlx::query(
            "SELECT * FROM deliveries WHERE workspace_id = $1 AND endpoint_id = $2 AND ($3 IS NULL OR id < $3)
             ORDER BY id DESC LIMIT $4",
        )
        .bind(ws.as_str())
        .bind(endpoint.as_str())
        .bind(page.after.as_deref())
        .bind(i64::from(page.limit.max(1)))
        .fetch_all(&self.reader)
        .await
        .map_err(map_err)?;
        rows.iter().map(rows::delivery).collect()
    }

    async fn delivery_attempts(&self, id: &DeliveryId) -> StoreResult<Vec<Attempt>> {
        let rows =
            sqlx::query("SELECT * FROM delivery_attempts WHERE delivery_id = $1 ORDER BY number")
                .bind(id.as_str())
                .fetch_all(&self.reader)
                .await
                .map_err(map_err)?;
        rows.iter().map(rows::attempt).collect()
    }

    async fn claim_due_deliveries(
        &self,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: u32,
        per_endpoint: u32,
    ) -> StoreResult<Vec<DueDelivery>> {
        let mut tx = self.write_tx().await?;
        let rows = sqlx::query(claim_sql())
            .bind(ms(lease_until))
            .bind(ms(now))
            .bind(i64::from(limit))
            .bind(i64::from(per_endpoint))
            .fetch_all(&mut *tx)
            .await
            .map_err(map_err)?;
        let deliveries = rows
            .iter()
            .map(rows::delivery)
            .collect::<StoreResult<Vec<_>>>()?;
        let mut event_ids: Vec<String> =
            deliveries.iter().map(|d| d.event_id.to_string()).collect();
        event_ids.dedup();
        let mut endpoint_ids: Vec<String> = deliveries
            .iter()
            .map(|d| d.endpoint_id.to_string())
            .collect();
        endpoint_ids.sort();
        endpoint_ids.dedup();
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
        let mut due: Vec<DueDelivery> = deliveries
            .into_iter()
            .filter_map(|delivery| {
                let event = events.iter().find(|e| e.id == delivery.event_id)?.clone();
                let endpoint = endpoints
                    .iter()
                    .find(|e| e.id == delivery.endpoint_id)?
                    .clone();
                Some(DueDelivery {
                    delivery,
                    event,
                    endpoint,
                })
            })
            .collect();
        due.sort_by_key(|d| d.delivery.next_attempt_at);
        Ok(due)
    }

    async fn record_attempts(
        &self,
        records: &[AttemptRecord],
        health: &[HealthUpdate],
    ) -> StoreResult<usize> {
        // A few multi-row statements per batch rather than several per
        // delivery: each statement is a round trip to SQLite's thread.
        let mut tx = self.write_tx().await?;
        let mut held = Vec::with_capacity(records.len());
        for chunk in records.chunks(100) {
            let fenced = update_deliveries(&mut tx, chunk).await?;
            let chunk = crate::storage::held_records(chunk, &fenced);
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
                sqlx::query("UPDATE endpoints SET is_enabled = 0, disabled_reason = $1, updated_at = $2 WHERE id = $3")
                    .bind(reason)
                    .bind(ms(r.attempt.at))
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
                .bind(ms(h.open_until))
                .execute(&mut *tx)
                .await
                .map_err(map_err)?;
        }
        tx.commit().await?;
        Ok(stale)
    }

    async fn defer_delivery(
        &self,
        id: &DeliveryId,
        lease_token: i64,
        until: DateTime<Utc>,
    ) -> StoreResult<()> {
        sqlx::query(crate::storage::DEFER_DELIVERY)
            .bind(ms(until))
            .bind(id.as_str())
            .bind(lease_token)
            .execute(&mut *self.write_conn().await?)
            .await
            .map_err(map_err)?;
        Ok(())
    }

    async fn requeue_delivery(
        &self,
        ws: &WorkspaceId,
        id: &DeliveryId,
        now: DateTime<Utc>,
    ) -> StoreResult<Delivery> {
        let row = sqlx::query(
            "UPDATE deliveries SET status = 'pending', cycle_start = attempts, next_attempt_at = $1,
                 lease_until = NULL, lease_token = lease_token + 1, updated_at = $1
             WHERE workspace_id = $2 AND id = $3 RETURNING *",
        )
        .bind(ms(now))
        .bind(ws.as_str())
        .bind(id.as_str())
        .fetch_one(&mut *self.write_conn().await?)
        .await
        .map_err(map_err)?;
        rows::delivery(&row)
    }
}
