//! Inbound calls waiting for their buyer's details: see `storage::lookups`.

use super::{map_err, ms, PgStore};

crate::storage::lookups::lookup_store!(PgStore);

/// Writes a new lookup inside the call's ledger transaction.
pub(super) async fn insert_lookup(
    conn: &mut sqlx::PgConnection,
    l: &crate::model::CustomerLookup,
) -> crate::storage::StoreResult<()> {
    sqlx::query(crate::storage::INSERT_LOOKUP)
        .bind(l.log_id.as_str())
        .bind(l.workspace_id.as_str())
        .bind(l.key_id.as_str())
        .bind(l.gateway.as_str())
        .bind(&l.customer_ref)
        .bind(i64::from(l.attempts))
        .bind(ms(l.next_attempt_at))
        .bind(l.last_error.as_deref())
        .bind(ms(l.created_at))
        .execute(conn)
        .await
        .map_err(map_err)?;
    Ok(())
}
