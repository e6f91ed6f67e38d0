//! PostgreSQL: log search (keyset on `(at, id)`), stats from the trigger-kept
//! 15-minute buckets, the queue panel from the trigger-kept delivery counts,
//! and retention in small batches.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::Postgres;

use super::ledger::insert_log;
use super::{col, map_err, ms, PgStore, MIGRATOR};
use crate::ids::{EventId, LogId, WorkspaceId};
use crate::model::{Event, LogEntry};
use crate::storage::rows;
use crate::storage::{LogBucket, LogFilter, LogStore, QueueCounts, StoreResult};

/// A minute late (DESIGN.md `GET /queue`: late = due more than a minute ago, unclaimed).
const LATE_MS: i64 = 60_000;

#[async_trait]
impl LogStore for PgStore {
    async fn insert_log(&self, entry: &LogEntry) -> StoreResult<()> {
        let mut tx = self.write_tx().await?;
        insert_log(&mut tx, entry).await?;
        tx.commit().await
    }

    async fn get_log(&self, ws: &WorkspaceId, id: &LogId) -> StoreResult<LogEntry> {
        let row = sqlx::query(
            "SELECT l.*, d.detail FROM log_entries l LEFT JOIN log_details d ON d.log_id = l.id
             WHERE l.workspace_id = $1 AND l.id = $2",
        )
        .bind(ws.as_str())
        .bind(id.as_str())
        .fetch_one(&self.reader)
        .await
        .map_err(map_err)?;
        rows::log_entry(&row)
    }

    async fn search_logs(&self, ws: &WorkspaceId, f: &LogFilter) -> StoreResult<Vec<LogEntry>> {
        let mut qb =
            sqlx::QueryBuilder::<Postgres>::new("SELECT * FROM log_entries WHERE workspace_id = ");
        qb.push_bind(ws.as_str());
        if let Some(d) = f.direction {
            qb.push(" AND direction = ").push_bind(d.as_str());
        }
        if let Some(s) = f.status {
            qb.push(" AND status = ").push_bind(s.as_str());
        }
        if let Some(t) = &f.event_type {
            qb.push(" AND event_type = ").push_bind(t.as_str());
        }
        if let Some(e) = &f.email {
            qb.push(" AND email = ").push_bind(e.as_str());
        }
        if let Some(from) = f.from {
            qb.push(" AND at >= ").push_bind(ms(from));
        }
        if let Some(to) = f.to {
            qb.push(" AND at <= ").push_bind(ms(to));
        }
        if let Some((at, id)) = &f.before {
            qb.push(" AND (at, id) < (").push_bind(ms(*at));
            qb.push(", ").push_bind(id.as_str()).push(")");
        }
        qb.push(" ORDER BY at DESC, id DESC LIMIT ")
            .push_bind(i64::from(f.limit.max(1)));
        let rows = qb.build().fetch_all(&self.reader).await.map_err(map_err)?;
        rows.iter().map(rows::log_entry).collect()
    }

    async fn log_buckets(
        &self,
        ws: &WorkspaceId,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> StoreResult<Vec<LogBucket>> {
        let rows = sqlx::query(
            // The shards of each slot summed (migration 0011).
            "SELECT bucket, SUM(total)::BIGINT AS total, SUM(success)::BIGINT AS success,
                 SUM(failure)::BIGINT AS failure, SUM(sum_ms)::BIGINT AS sum_ms
             FROM log_buckets WHERE workspace_id = $1 AND bucket >= $2 AND bucket < $3
             GROUP BY bucket ORDER BY bucket",
        )
        .bind(ws.as_str())
        .bind(ms(from))
        .bind(ms(to))
        .fetch_all(&self.reader)
        .await
        .map_err(map_err)?;
        rows.iter().map(rows::log_bucket).collect()
    }

    async fn queue_counts(&self, ws: &WorkspaceId, now: DateTime<Utc>) -> StoreResult<QueueCounts> {
        // Pending deliveries are few (the partial index holds only them);
        // finished ones come from the counts the triggers keep.
        let pending = sqlx::query(
            "SELECT
                 COUNT(*) FILTER (WHERE lease_until IS NOT NULL AND lease_until > $2) AS processing,
                 COUNT(*) FILTER (WHERE (lease_until IS NULL OR lease_until <= $2) AND next_attempt_at < $3) AS late,
                 COUNT(*) AS pending
             FROM deliveries WHERE status = 'pending' AND workspace_id = $1",
        )
        .bind(ws.as_str())
        .bind(ms(now))
        .bind(now - chrono::Duration::milliseconds(LATE_MS))
        .fetch_one(&self.reader)
        .await
        .map_err(map_err)?;
        let counts = sqlx::query(
            "SELECT status, SUM(n)::BIGINT AS n FROM delivery_counts WHERE workspace_id = $1 GROUP BY status",
        )
            .bind(ws.as_str())
            .fetch_all(&self.reader)
            .await
            .map_err(map_err)?;
        let count = |status: &str| -> StoreResult<i64> {
            for r in &counts {
                if col::<&str>(r, "status")? == status {
                    return col(r, "n");
                }
            }
            Ok(0)
        };
        let processing: i64 = col(&pending, "processing")?;
        let late: i64 = col(&pending, "late")?;
        Ok(QueueCounts {
            waiting: col::<i64>(&pending, "pending")? - processing - late,
            processing,
            late,
            done: count("success")?,
            failed: count("failed")?,
        })
    }

    async fn get_event(&self, ws: &WorkspaceId, id: &EventId) -> StoreResult<Event> {
        let row = sqlx::query("SELECT * FROM events WHERE workspace_id = $1 AND id = $2")
            .bind(ws.as_str())
            .bind(id.as_str())
            .fetch_one(&self.reader)
            .await
            .map_err(map_err)?;
        rows::event(&row)
    }

    async fn purge_logs(&self, before: DateTime<Utc>, limit: u32) -> StoreResult<u64> {
        let result = sqlx::query(
            "DELETE FROM log_entries WHERE id IN (SELECT id FROM log_entries WHERE at < $1 LIMIT $2)",
        )
        .bind(ms(before))
        .bind(i64::from(limit))
        .execute(&self.writer)
        .await
        .map_err(map_err)?;
        Ok(result.rows_affected())
    }

    async fn purge_deliveries(&self, before: DateTime<Utc>, limit: u32) -> StoreResult<u64> {
        let deliveries = sqlx::query(
            "DELETE FROM deliveries WHERE id IN (
                 SELECT id FROM deliveries WHERE status <> 'pending' AND updated_at < $1 LIMIT $2)",
        )
        .bind(ms(before))
        .bind(i64::from(limit))
        .execute(&self.writer)
        .await
        .map_err(map_err)?;
        let events = sqlx::query(
            "DELETE FROM events WHERE id IN (
                 SELECT e.id FROM events e WHERE e.created_at < $1
                   AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.event_id = e.id)
                 LIMIT $2)",
        )
        .bind(ms(before))
        .bind(i64::from(limit))
        .execute(&self.writer)
        .await
        .map_err(map_err)?;
        Ok(deliveries.rows_affected() + events.rows_affected())
    }

    async fn migrations_applied(&self) -> StoreResult<bool> {
        let row = sqlx::query("SELECT COUNT(*) AS n FROM _sqlx_migrations WHERE success")
            .fetch_one(&self.reader)
            .await
            .map_err(map_err)?;
        Ok(col::<i64>(&row, "n")? as usize >= MIGRATOR.iter().count())
    }
}
