//! `OutboundStore` for both backends: endpoints, events, deliveries and
//! attempts. The worker's two writes differ, and each backend provides
//! them as `claim_due` and `record` beside this: SQLite runs them as units
//! of its group commit on the writer connection (`sqlite/outbound.rs`),
//! PostgreSQL as transactions of batched statements that lock what they
//! lease (`postgres/outbound.rs`). Both build the claim from the shared
//! `CLAIM_RANKED` and answer it through [`due_deliveries`].

use crate::model::{Delivery, Endpoint, Event};
use crate::storage::DueDelivery;

/// The events and endpoints a claim's deliveries need, each id once.
pub(in crate::storage) fn ids_to_load(deliveries: &[Delivery]) -> (Vec<String>, Vec<String>) {
    let unique = |ids: Vec<String>| {
        let mut ids = ids;
        ids.sort();
        ids.dedup();
        ids
    };
    (
        unique(deliveries.iter().map(|d| d.event_id.to_string()).collect()),
        unique(
            deliveries
                .iter()
                .map(|d| d.endpoint_id.to_string())
                .collect(),
        ),
    )
}

/// A claim's answer: each delivery with its event and endpoint (one whose
/// event or endpoint is gone is left out), earliest due first.
pub(in crate::storage) fn due_deliveries(
    deliveries: Vec<Delivery>,
    events: &[Event],
    endpoints: &[Endpoint],
) -> Vec<DueDelivery> {
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
    due
}

/// How `map_err` words a deadlock or serialization failure
/// (PostgreSQL's SQLSTATE 40P01 and 40001).
pub(in crate::storage) const CONCURRENT_CONFLICT: &str = "conflict with a concurrent transaction";

/// Held while recording attempts: when one of them disables its endpoint
/// (it answered 410), the configuration cache is emptied once the record
/// ends, as fan-out reads the enabled endpoints from it.
pub(in crate::storage) fn disabling<'c>(
    config: &'c crate::storage::config_cache::ConfigCache,
    records: &[crate::storage::AttemptRecord],
) -> Option<crate::storage::config_cache::Changing<'c>> {
    disables_an_endpoint(records).then(|| config.changing())
}

/// Whether one of `records` disables its endpoint (it answered 410).
pub(in crate::storage) fn disables_an_endpoint(records: &[crate::storage::AttemptRecord]) -> bool {
    records.iter().any(|r| r.disable_endpoint.is_some())
}

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
                let _changing = self.config.changing();
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
                let _changing = self.config.changing();
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
                let _changing = self.config.changing();
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
                claim: $crate::storage::ClaimRequest,
            ) -> $crate::storage::StoreResult<Vec<$crate::storage::DueDelivery>> {
                self.claim_due(claim).await
            }

            async fn record_attempts(
                &self,
                records: &[$crate::storage::AttemptRecord],
                health: &[$crate::storage::HealthUpdate],
            ) -> $crate::storage::StoreResult<usize> {
                let _changing = $crate::storage::sql::outbound::disabling(&self.config, records);
                self.record(records, health).await
            }

            async fn record_then_claim(
                &self,
                records: &[$crate::storage::AttemptRecord],
                health: &[$crate::storage::HealthUpdate],
                claim: $crate::storage::ClaimRequest,
            ) -> $crate::storage::StoreResult<(usize, Vec<$crate::storage::DueDelivery>)> {
                let _changing = $crate::storage::sql::outbound::disabling(&self.config, records);
                self.record_and_claim(records, health, claim).await
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
