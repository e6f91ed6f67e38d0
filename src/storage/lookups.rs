//! The customer lookups' storage (`inbound::lookup`), written once for both
//! backends: the SQL text is shared (`storage::*_LOOKUP*`), and
//! [`lookup_store!`] expands the same Rust in each backend's module, where
//! `ms` and `map_err` are that backend's own (times as unix ms on SQLite,
//! native on PostgreSQL).

/// Implements `LookupStore` for `$store`. (Each backend's `LedgerTx`
/// writes new lookups with `INSERT_LOOKUP` on its own connection type.)
macro_rules! lookup_store {
    ($store:ty) => {
        #[async_trait::async_trait]
        impl $crate::storage::LookupStore for $store {
            async fn due_lookups(
                &self,
                now: chrono::DateTime<chrono::Utc>,
                limit: u32,
            ) -> $crate::storage::StoreResult<Vec<$crate::model::CustomerLookup>> {
                let rows = sqlx::query($crate::storage::DUE_LOOKUPS)
                    .bind(ms(now))
                    .bind(i64::from(limit))
                    .fetch_all(&self.reader)
                    .await
                    .map_err(map_err)?;
                rows.iter()
                    .map($crate::storage::rows::customer_lookup)
                    .collect()
            }

            async fn reschedule_lookup(
                &self,
                l: &$crate::model::CustomerLookup,
            ) -> $crate::storage::StoreResult<()> {
                sqlx::query($crate::storage::RESCHEDULE_LOOKUP)
                    .bind(l.log_id.as_str())
                    .bind(i64::from(l.attempts))
                    .bind(ms(l.next_attempt_at))
                    .bind(l.last_error.as_deref())
                    .execute(&self.writer)
                    .await
                    .map_err(map_err)?;
                Ok(())
            }

            async fn delete_lookup(
                &self,
                log_id: &$crate::ids::LogId,
            ) -> $crate::storage::StoreResult<()> {
                sqlx::query($crate::storage::DELETE_LOOKUP)
                    .bind(log_id.as_str())
                    .execute(&self.writer)
                    .await
                    .map_err(map_err)?;
                Ok(())
            }

            async fn count_lookups(&self) -> $crate::storage::StoreResult<u64> {
                let row = sqlx::query($crate::storage::COUNT_LOOKUPS)
                    .fetch_one(&self.reader)
                    .await
                    .map_err(map_err)?;
                let n: i64 = sqlx::Row::try_get(&row, "n").map_err(map_err)?;
                Ok(u64::try_from(n).unwrap_or(0))
            }
        }
    };
}

pub(crate) use lookup_store;
