//! Saída: signed outbound webhooks. Events are written with their
//! deliveries in the ledger's transaction (`event.rs`, the outbox); the
//! worker claims due deliveries with a lease, signs and sends them
//! (`worker.rs`), and reschedules failures (`schedule.rs`). Endpoints and
//! their secrets live in `endpoint.rs`; the SSRF guard in `target.rs`.

pub mod delivery;
pub mod endpoint;
pub mod event;
pub mod schedule;
pub mod target;
pub mod worker;

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::Notify;

use crate::keys::SealError;
use crate::storage::StoreError;
use event::Fanout;

#[derive(Debug, thiserror::Error)]
pub enum OutboundError {
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Seal(#[from] SealError),
    #[error(transparent)]
    Store(StoreError),
}

impl From<StoreError> for OutboundError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound => Self::NotFound("resource"),
            other => Self::Store(other),
        }
    }
}

/// Where new deliveries are scheduled, and the bell that wakes the worker
/// once they are committed (so a delivery does not wait for the next poll).
#[derive(Debug, Clone)]
pub struct Outbox {
    first_delay: Duration,
    bell: Arc<Notify>,
}

impl Outbox {
    pub fn new(schedule: &[Duration]) -> Self {
        Self {
            first_delay: schedule.first().copied().unwrap_or_default(),
            bell: Arc::new(Notify::new()),
        }
    }

    /// Fan-out settings for events written at `now`.
    pub fn fanout(&self, now: DateTime<Utc>) -> Fanout<'static> {
        Fanout {
            now,
            first_delay: self.first_delay,
            only: None,
        }
    }

    /// Call after committing new deliveries.
    pub fn wake(&self) {
        self.bell.notify_one();
    }

    /// Call after committing what `enqueue` wrote: wakes the worker only
    /// when it queued a delivery. A claim is a write transaction (on
    /// SQLite, a unit of the group commit), so an inbound call whose
    /// events go to no endpoint should not cost one.
    pub fn wake_for(&self, deliveries: usize) {
        if deliveries > 0 {
            self.wake();
        }
    }

    /// Resolves when [`Outbox::wake`] was called.
    pub async fn woken(&self) {
        self.bell.notified().await;
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    /// An inbound call whose events go to no endpoint does not wake the
    /// worker (its claim is a write transaction); one that queued a
    /// delivery does.
    #[tokio::test]
    async fn the_worker_is_woken_only_for_queued_deliveries() {
        async fn woken(outbox: &Outbox) -> bool {
            tokio::time::timeout(Duration::from_millis(50), outbox.woken())
                .await
                .is_ok()
        }
        let outbox = Outbox::new(&[]);
        outbox.wake_for(0);
        assert!(!woken(&outbox).await, "woken with nothing queued");
        outbox.wake_for(3);
        assert!(woken(&outbox).await, "not woken for three deliveries");
    }
}
