//! Retention: deletes log entries (with their stored requests), finished
//! deliveries (with their attempts) and events no delivery needs, once they
//! are older than `GANCHO_RETENTION_DAYS`. Small batches with a pause in
//! between, so writers are never blocked for long. The access ledger, the
//! processed-event keys (dedupe) and the stats buckets are kept.

use chrono::{DateTime, Duration, Utc};

use crate::storage::{LogStore, StoreResult};

/// Rows deleted per statement.
pub const BATCH: u32 = 500;

/// What one purge removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Purged {
    pub log_entries: u64,
    pub deliveries_and_events: u64,
}

/// Deletes everything older than `retention_days` before `now`, batch by
/// batch, yielding between batches.
pub async fn purge(
    store: &dyn LogStore,
    now: DateTime<Utc>,
    retention_days: u32,
) -> StoreResult<Purged> {
    let cutoff = now - Duration::days(i64::from(retention_days));
    let mut purged = Purged::default();
    loop {
        let n = store.purge_logs(cutoff, BATCH).await?;
        purged.log_entries += n;
        if n < u64::from(BATCH) {
            break;
        }
        tokio::task::yield_now().await;
    }
    loop {
        let n = store.purge_deliveries(cutoff, BATCH).await?;
        purged.deliveries_and_events += n;
        if n == 0 {
            break;
        }
        tokio::task::yield_now().await;
    }
    Ok(purged)
}
