//! Deliveries as the API sees them: history per endpoint and resend.

use chrono::{DateTime, Utc};

use super::{OutboundError, Outbox};
use crate::ids::{DeliveryId, WorkspaceId};
use crate::model::Delivery;
use crate::storage::{Store, StoreError};

/// Queues a new attempt now, restarting the retry schedule (DESIGN.md:
/// a failed or succeeded delivery can be resent by hand).
pub async fn resend(
    store: &dyn Store,
    outbox: &Outbox,
    ws: &WorkspaceId,
    id: &DeliveryId,
    now: DateTime<Utc>,
) -> Result<Delivery, OutboundError> {
    let delivery = store
        .requeue_delivery(ws, id, now)
        .await
        .map_err(|e| match e {
            StoreError::NotFound => OutboundError::NotFound("delivery"),
            other => OutboundError::Store(other),
        })?;
    outbox.wake();
    Ok(delivery)
}
