//! `LogStore` for both backends: log search (keyset on `(at, id)`), stats
//! from the trigger-kept 15-minute buckets, the queue panel from the
//! trigger-kept delivery counts, and retention in small batches.
//!
//! Besides the names listed in the module above, a backend provides
//! `self.write_log(entry)` (SQLite writes through its group-commit writer),
//! `MIGRATOR`, and the two reads of the trigger-kept counters, which
//! PostgreSQL keeps in shards (migration 0011) and SQLite in one row:
//! `LOG_BUCKETS` (`$1` workspace, slots from `$2` to before `$3`) and
//! `DELIVERY_COUNTS` (`$1` workspace; a `status` and an `n` per row).

/// A minute late (DESIGN.md `GET /queue`: late = due more than a minute ago, unclaimed).
pub(in crate::storage) const LATE: chrono::Duration = chrono::Duration::milliseconds(60_000);

/// Expands, in a backend's `mod.rs`, into `LogStore` for `$Store`.
macro_rules! implement {
    ($Store:ident) => {
        #[async_trait::async_trait]
        impl $crate::storage::LogStore for $Store {
            async fn insert_log(
                &self,
                entry: &$crate::model::LogEntry,
            ) -> $crate::storage::StoreResult<()> {
                self.write_log(entry).await
            }

            async fn get_log(
                &self,
                ws: &$crate::ids::WorkspaceId,
                id: &$crate::ids::LogId,
            ) -> $crate::storage::StoreResult<$crate::model::LogEntry> {
                let row = sqlx::query(
                    "SELECT l.*, d.detail FROM log_entries l LEFT JOIN log_details d ON d.log_id = l.id
                     WHERE l.workspace_id = $1 AND l.id = $2",
                )
                .bind(ws.as_str())
                .bind(id.as_str())
                .fetch_one(&self.reader)
                .await
                .map_err(map_err)?;
                $crate::storage::rows::log_entry(&row)
            }

            async fn search_logs(
                &self,
                ws: &$crate::ids::WorkspaceId,
                f: &$crate::storage::LogFilter,
            ) -> $crate::storage::StoreResult<Vec<$crate::model::LogEntry>> {
                let mut qb =
                    sqlx::QueryBuilder::<Db>::new("SELECT * FROM log_entries WHERE workspace_id = ");
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
                rows.iter().map($crate::storage::rows::log_entry).collect()
            }

            async fn log_buckets(
                &self,
                ws: &$crate::ids::WorkspaceId,
                from: chrono::DateTime<chrono::Utc>,
                to: chrono::DateTime<chrono::Utc>,
            ) -> $crate::storage::StoreResult<Vec<$crate::storage::LogBucket>> {
                let rows = sqlx::query(LOG_BUCKETS)
                    .bind(ws.as_str())
                    .bind(ms(from))
                    .bind(ms(to))
                    .fetch_all(&self.reader)
                    .await
                    .map_err(map_err)?;
                rows.iter().map($crate::storage::rows::log_bucket).collect()
            }

            async fn queue_counts(
                &self,
                ws: &$crate::ids::WorkspaceId,
                now: chrono::DateTime<chrono::Utc>,
            ) -> $crate::storage::StoreResult<$crate::storage::QueueCounts> {
                // Pending deliveries are few (the partial index holds only
                // them); finished ones come from the counts the triggers keep.
                let pending = sqlx::query(
                    "SELECT
                         COUNT(*) FILTER (WHERE lease_until IS NOT NULL AND lease_until > $2) AS processing,
                         COUNT(*) FILTER (WHERE (lease_until IS NULL OR lease_until <= $2)
                             AND next_attempt_at < $3) AS late,
                         COUNT(*) AS pending
                     FROM deliveries WHERE status = 'pending' AND workspace_id = $1",
                )
                .bind(ws.as_str())
                .bind(ms(now))
                .bind(ms(now - $crate::storage::sql::logs::LATE))
                .fetch_one(&self.reader)
                .await
                .map_err(map_err)?;
                let counts = sqlx::query(DELIVERY_COUNTS)
                    .bind(ws.as_str())
                    .fetch_all(&self.reader)
                    .await
                    .map_err(map_err)?;
                let count = |status: &str| -> $crate::storage::StoreResult<i64> {
                    for r in &counts {
                        if col::<&str>(r, "status")? == status {
                            return col(r, "n");
                        }
                    }
                    Ok(0)
                };
                let processing: i64 = col(&pending, "processing")?;
                let late: i64 = col(&pending, "late")?;
                Ok($crate::storage::QueueCounts {
                    waiting: col::<i64>(&pending, "pending")? - processing - late,
                    processing,
                    late,
                    done: count("success")?,
                    failed: count("failed")?,
                })
            }

            async fn get_event(
                &self,
                ws: &$crate::ids::WorkspaceId,
                id: &$crate::ids::EventId,
            ) -> $crate::storage::StoreResult<$crate::model::Event> {
                let row = sqlx::query("SELECT * FROM events WHERE workspace_id = $1 AND id = $2")
                    .bind(ws.as_str())
                    .bind(id.as_str())
                    .fetch_one(&self.reader)
                    .await
                    .map_err(map_err)?;
                $crate::storage::rows::event(&row)
            }

            async fn purge_logs(
                &self,
                before: chrono::DateTime<chrono::Utc>,
                limit: u32,
            ) -> $crate::storage::StoreResult<u64> {
                let result = sqlx::query(
                    "DELETE FROM log_entries WHERE id IN (SELECT id FROM log_entries WHERE at < $1 LIMIT $2)",
                )
                .bind(ms(before))
                .bind(i64::from(limit))
                .execute(&mut *self.write_conn().await?)
                .await
                .map_err(map_err)?;
                Ok(result.rows_affected())
            }

            async fn purge_deliveries(
                &self,
                before: chrono::DateTime<chrono::Utc>,
                limit: u32,
            ) -> $crate::storage::StoreResult<u64> {
                let deliveries = sqlx::query(
                    "DELETE FROM deliveries WHERE id IN (
                         SELECT id FROM deliveries WHERE status <> 'pending' AND updated_at < $1 LIMIT $2)",
                )
                .bind(ms(before))
                .bind(i64::from(limit))
                .execute(&mut *self.write_conn().await?)
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
                .execute(&mut *self.write_conn().await?)
                .await
                .map_err(map_err)?;
                Ok(deliveries.rows_affected() + events.rows_affected())
            }

            async fn migrations_applied(&self) -> $crate::storage::StoreResult<bool> {
                let row = sqlx::query("SELECT COUNT(*) AS n FROM _sqlx_migrations WHERE success")
                    .fetch_one(&self.reader)
                    .await
                    .map_err(map_err)?;
                Ok(col::<i64>(&row, "n")? as usize >= MIGRATOR.iter().count())
            }
        }
    };
}

pub(crate) use implement;
