//! `OutboundStore` for both backends: endpoints, events, deliveries and
//! attempts. The claim's SQL differs (`sqlite/outbound.rs` and
//! `postgres/outbound.rs` build it from the shared `CLAIM_RANKED`), and so
//! does the batched `UPDATE … FROM (VALUES …)` that records attempts; the
//! rest is here.
//!
//! Besides the names listed in the module above, a backend provides:
//! `claim_sql()`; `claim_turn(conn)`, which makes claims take turns across
//! instances (PostgreSQL's advisory lock; SQLite's one writer already
//! does); and `update_deliveries(conn, records)`, returning the ids still
//! held under their lease token.

/// How `map_err` words a deadlock or serialization failure
/// (PostgreSQL's SQLSTATE 40P01 and 40001).
pub(in crate::storage) const CONCURRENT_CONFLICT: &str = "conflict with a concurrent transaction";

/// Expands, in a backend's `mod.rs`, into `OutboundStore` for `$Store`.
macro_rules! implement {
    ($Store:ident) => {
        /// The columns an endpoint's insert and update both write, `$1` to `$13`.
        fn bind_endpoint<'q>(
            q: sqlx::query::Query<'q, Db, <Db as sqlx::Database>::Arguments>,
            e: &'q $crate::model::Endpoint,
        ) -> sqlx::query::Query<'q, Db, <Db as sqlx::Database>::Arguments> {
            use $crate::storage::rows::{id_strings, to_json};
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
            conn: &mut <Db as sqlx::Database>::Connection,
            table: &str,
            ids: &[String],
        ) -> $crate::storage::StoreResult<Vec<<Db as sqlx::Database>::Row>> {
            if ids.is_empty() {
                return Ok(Vec::new());
            }
            let mut qb =
                sqlx::QueryBuilder::<Db>::new(format!("SELECT * FROM {table} WHERE id IN ("));
            let mut list = qb.separated(", ");
            for id in ids {
                list.push_bind(id.as_str());
            }
            qb.push(")");
            qb.build().fetch_all(conn).await.map_err(map_err)
        }

        /// The attempts of a batch, one statement; an attempt recorded
        /// again (a retried batch) replaces the first record.
        async fn insert_attempts(
            conn: &mut <Db as sqlx::Database>::Connection,
            records: &[$crate::storage::AttemptRecord],
        ) -> $crate::storage::StoreResult<()> {
            let mut qb = sqlx::QueryBuilder::<Db>::new(
                "INSERT INTO delivery_attempts (delivery_id, number, at, http_status, response_body,
                     duration_ms, error) ",
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
        async fn upsert_logs(
            conn: &mut <Db as sqlx::Database>::Connection,
            entries: &[&$crate::model::LogEntry],
        ) -> $crate::storage::StoreResult<()> {
            if entries.is_empty() {
                return Ok(());
            }
            let mut qb = sqlx::QueryBuilder::<Db>::new(
                "INSERT INTO log_entries (id, workspace_id, at, direction, gateway, event_type, email, status,
                     http_status, duration_ms, integration_kind, integration_id, integration_name, attempts, error) ",
            );
            qb.push_values(entries, |mut b, e| {
                b.push_bind(e.id.as_str())
                    .push_bind(e.workspace_id.as_str())
                    .push_bind(ms(e.at))
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
            let mut qb = sqlx::QueryBuilder::<Db>::new("INSERT INTO log_details (log_id, detail) ");
            qb.push_values(entries, |mut b, e| {
                b.push_bind(e.id.as_str()).push_bind(e.detail.to_string());
            });
            qb.push(" ON CONFLICT (log_id) DO UPDATE SET detail = excluded.detail");
            qb.build().execute(&mut *conn).await.map_err(map_err)?;
            Ok(())
        }

        /// Deletes an endpoint's deliveries, then the endpoint, in one
        /// transaction. See `delete_endpoint` for the order.
        async fn delete_endpoint_once(
            store: &$Store,
            ws: &$crate::ids::WorkspaceId,
            id: &$crate::ids::EndpointId,
        ) -> $crate::storage::StoreResult<()> {
            let mut tx = store.write_tx().await?;
            sqlx::query("DELETE FROM deliveries WHERE workspace_id = $1 AND endpoint_id = $2")
                .bind(ws.as_str())
                .bind(id.as_str())
                .execute(&mut *tx)
                .await
                .map_err(map_err)?;
            let result = sqlx::query("DELETE FROM endpoints WHERE workspace_id = $1 AND id = $2")
                .bind(ws.as_str())
                .bind(id.as_str())
                .execute(&mut *tx)
                .await
                .map_err(map_err)?;
            $crate::storage::sql::changed(result.rows_affected())?;
            tx.commit().await
        }

        #[async_trait::async_trait]
        impl $crate::storage::OutboundStore for $Store {
            async fn insert_endpoint(
                &self,
                e: &$crate::model::Endpoint,
            ) -> $crate::storage::StoreResult<()> {
                let q = sqlx::query(
                    "INSERT INTO endpoints (name, url, event_types, product_ids, headers, rate_limit_per_second,
                         is_enabled, disabled_reason, secret, previous_secret, previous_secret_expires_at,
                         updated_at, max_in_flight, id, workspace_id, created_at)
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

            async fn get_endpoint(
                &self,
                ws: &$crate::ids::WorkspaceId,
                id: &$crate::ids::EndpointId,
            ) -> $crate::storage::StoreResult<$crate::model::Endpoint> {
                let row = sqlx::query("SELECT * FROM endpoints WHERE workspace_id = $1 AND id = $2")
                    .bind(ws.as_str())
                    .bind(id.as_str())
                    .fetch_one(&self.reader)
                    .await
                    .map_err(map_err)?;
                $crate::storage::rows::endpoint(&row)
            }

            async fn list_endpoints(
                &self,
                ws: &$crate::ids::WorkspaceId,
                page: &$crate::storage::Page,
            ) -> $crate::storage::StoreResult<Vec<$crate::model::Endpoint>> {
                let (after, limit) = $crate::storage::sql::page_bounds(page);
                let rows = sqlx::query(
                    "SELECT * FROM endpoints WHERE workspace_id = $1 AND (CAST($2 AS TEXT) IS NULL OR id > $2)
                     ORDER BY id LIMIT $3",
                )
                .bind(ws.as_str())
                .bind(after)
                .bind(limit)
                .fetch_all(&self.reader)
                .await
                .map_err(map_err)?;
                rows.iter().map($crate::storage::rows::endpoint).collect()
            }

            async fn update_endpoint(
                &self,
                e: &$crate::model::Endpoint,
            ) -> $crate::storage::StoreResult<()> {
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
                $crate::storage::sql::changed(result.rows_affected())
            }

            async fn delete_endpoint(
                &self,
                ws: &$crate::ids::WorkspaceId,
                id: &$crate::ids::EndpointId,
            ) -> $crate::storage::StoreResult<()> {
                // The worker locks deliveries, then their endpoint (its
                // health, in `record_attempts`). On PostgreSQL, deleting the
                // endpoint first and letting the cascade reach the
                // deliveries took the two in the other order and deadlocked
                // with it (503 to the admin): the deliveries go first. Two
                // multi-row statements may still meet in opposite row
                // orders, so a deadlock is retried. (SQLite's one writer
                // never deadlocks.)
                let mut tries = 0;
                loop {
                    tries += 1;
                    match delete_endpoint_once(self, ws, id).await {
                        Err($crate::storage::StoreError::Unavailable(why))
                            if tries < 4
                                && why.starts_with(
                                    $crate::storage::sql::outbound::CONCURRENT_CONFLICT,
                                ) =>
                        {
                            tracing::debug!(endpoint = %id, "deleting an endpoint met a deadlock; retrying");
                        }
                        other => return other,
                    }
                }
            }

            async fn get_delivery(
                &self,
                ws: &$crate::ids::WorkspaceId,
                id: &$crate::ids::DeliveryId,
            ) -> $crate::storage::StoreResult<$crate::model::Delivery> {
                let row = sqlx::query("SELECT * FROM deliveries WHERE workspace_id = $1 AND id = $2")
                    .bind(ws.as_str())
                    .bind(id.as_str())
                    .fetch_one(&self.reader)
                    .await
                    .map_err(map_err)?;
                $crate::storage::rows::delivery(&row)
            }

            async fn list_deliveries(
                &self,
                ws: &$crate::ids::WorkspaceId,
                endpoint: &$crate::ids::EndpointId,
                page: &$crate::storage::Page,
            ) -> $crate::storage::StoreResult<Vec<$crate::model::Delivery>> {
                // Newest first: ids are time-ordered, so the cursor walks backwards.
                let (before, limit) = $crate::storage::sql::page_bounds(page);
                let rows = sqlx::query(
                    "SELECT * FROM deliveries WHERE workspace_id = $1 AND endpoint_id = $2
                         AND (CAST($3 AS TEXT) IS NULL OR id < $3)
                     ORDER BY id DESC LIMIT $4",
                )
                .bind(ws.as_str())
                .bind(endpoint.as_str())
                .bind(before)
                .bind(limit)
                .fetch_all(&self.reader)
                .await
                .map_err(map_err)?;
                rows.iter().map($crate::storage::rows::delivery).collect()
            }

            async fn delivery_attempts(
                &self,
                id: &$crate::ids::DeliveryId,
            ) -> $crate::storage::StoreResult<Vec<$crate::model::Attempt>> {
                let rows = sqlx::query(
                    "SELECT * FROM delivery_attempts WHERE delivery_id = $1 ORDER BY number",
                )
                .bind(id.as_str())
                .fetch_all(&self.reader)
                .await
                .map_err(map_err)?;
                rows.iter().map($crate::storage::rows::attempt).collect()
            }

            async fn claim_due_deliveries(
                &self,
                now: chrono::DateTime<chrono::Utc>,
                lease_until: chrono::DateTime<chrono::Utc>,
                limit: u32,
                per_endpoint: u32,
            ) -> $crate::storage::StoreResult<Vec<$crate::storage::DueDelivery>> {
                use $crate::storage::rows;
                let mut tx = self.write_tx().await?;
                claim_turn(&mut tx).await?;
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
                    .collect::<$crate::storage::StoreResult<Vec<_>>>()?;
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
                    .collect::<$crate::storage::StoreResult<Vec<_>>>()?;
                let endpoints = rows_by_id(&mut tx, "endpoints", &endpoint_ids)
                    .await?
                    .iter()
                    .map(rows::endpoint)
                    .collect::<$crate::storage::StoreResult<Vec<_>>>()?;
                tx.commit().await?;
                let mut due: Vec<$crate::storage::DueDelivery> = deliveries
                    .into_iter()
                    .filter_map(|delivery| {
                        let event = events.iter().find(|e| e.id == delivery.event_id)?.clone();
                        let endpoint = endpoints
                            .iter()
                            .find(|e| e.id == delivery.endpoint_id)?
                            .clone();
                        Some($crate::storage::DueDelivery {
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
                records: &[$crate::storage::AttemptRecord],
                health: &[$crate::storage::HealthUpdate],
            ) -> $crate::storage::StoreResult<usize> {
                // A few multi-row statements per batch rather than several
                // per delivery: each statement is a round trip.
                let mut tx = self.write_tx().await?;
                let mut held = Vec::with_capacity(records.len());
                for chunk in records.chunks(100) {
                    let fenced = update_deliveries(&mut tx, chunk).await?;
                    let chunk = $crate::storage::held_records(chunk, &fenced);
                    if chunk.is_empty() {
                        continue;
                    }
                    insert_attempts(&mut tx, &chunk).await?;
                    let logs: Vec<&$crate::model::LogEntry> = chunk.iter().map(|r| &r.log).collect();
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
                        .bind(ms(r.attempt.at))
                        .bind(r.delivery.endpoint_id.as_str())
                        .execute(&mut *tx)
                        .await
                        .map_err(map_err)?;
                    }
                }
                for h in health {
                    sqlx::query($crate::storage::UPDATE_HEALTH)
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
                id: &$crate::ids::DeliveryId,
                lease_token: i64,
                until: chrono::DateTime<chrono::Utc>,
            ) -> $crate::storage::StoreResult<()> {
                sqlx::query($crate::storage::DEFER_DELIVERY)
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
                ws: &$crate::ids::WorkspaceId,
                id: &$crate::ids::DeliveryId,
                now: chrono::DateTime<chrono::Utc>,
            ) -> $crate::storage::StoreResult<$crate::model::Delivery> {
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
                $crate::storage::rows::delivery(&row)
            }
        }
    };
}

pub(crate) use implement;
