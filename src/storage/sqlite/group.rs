//! Group commit for the ledger on SQLite (issue 9): concurrent inbound calls
//! share one transaction and one `COMMIT` (one fsync), and each learns that
//! its writes are durable only when that commit succeeds.
//!
//! A call's unit of work runs inside the group's open transaction between
//! `SAVEPOINT unit` and `RELEASE unit`, holding the group's mutex, so units
//! run one at a time and each sees what the ones before it wrote (what
//! `LedgerTx::lock_keys` asks for). A unit that fails or is dropped rolls
//! back to its savepoint and leaves the others' writes alone. A finished
//! unit joins the group's members and wakes the committer, a task that
//! queues for the mutex like any call: the mutex is first come, first
//! served, so every call already waiting runs its unit before the committer
//! takes the group and commits it. Under load a group holds every call that
//! arrived during the previous commit; alone, a call commits at once.
//!
//! If the group's transaction breaks (a failed `RELEASE` or rollback, a
//! failed `COMMIT`), every member is answered with an error: nothing of a
//! group is reported durable unless its `COMMIT` succeeded.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};

use sqlx::{Sqlite, SqliteConnection};
use tokio::sync::{oneshot, Mutex, Notify, OwnedMappedMutexGuard, OwnedMutexGuard};

use super::{map_err, SqliteStore};
use crate::storage::write::WriteTx;
use crate::storage::{StoreError, StoreResult};

/// The open transaction a group of units shares.
pub(super) struct Group {
    tx: WriteTx<Sqlite>,
    /// Units that finished, waiting for the commit's outcome.
    members: Vec<oneshot::Sender<StoreResult<()>>>,
    /// The transaction can no longer be committed.
    is_broken: bool,
}

type Slot = Arc<Mutex<Option<Group>>>;

/// The store's side of group commit: the slot holding the open group, and
/// the committer's wake-up call.
#[derive(Debug, Clone)]
pub(super) struct GroupCommit {
    slot: Slot,
    wake: Arc<Notify>,
    /// Groups committed so far (for tests and, later, metrics).
    commits: Arc<AtomicU64>,
}

impl std::fmt::Debug for Group {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Group")
            .field("members", &self.members.len())
            .field("is_broken", &self.is_broken)
            .finish()
    }
}

impl GroupCommit {
    /// Starts the committer task (it ends when the store is gone).
    pub(super) fn start() -> Self {
        let this = Self {
            slot: Arc::default(),
            wake: Arc::default(),
            commits: Arc::default(),
        };
        tokio::spawn(committer(
            Arc::downgrade(&this.slot),
            Arc::clone(&this.wake),
            Arc::clone(&this.commits),
        ));
        this
    }

    /// Opens a unit of work in the current group, starting a group (a new
    /// write transaction) when none is open.
    pub(super) async fn begin(&self, store: &SqliteStore) -> StoreResult<Unit> {
        let mut slot: OwnedMutexGuard<Option<Group>> = Arc::clone(&self.slot).lock_owned().await;
        if slot.as_ref().is_some_and(|g| g.is_broken) {
            // Its members learn of the failure when their senders drop.
            *slot = None;
        }
        if slot.is_none() {
            *slot = Some(Group {
                tx: store.write_tx().await?,
                members: Vec::new(),
                is_broken: false,
            });
        }
        let mut group = OwnedMutexGuard::try_map(slot, Option::as_mut)
            .map_err(|_| StoreError::Corrupt("the group commit slot is empty".into()))?;
        if let Err(e) = sqlx::query("SAVEPOINT unit")
            .execute(&mut *group.tx)
            .await
            .map_err(map_err)
        {
            group.is_broken = true;
            self.wake.notify_one();
            return Err(e);
        }
        Ok(Unit {
            group: Some(group),
            wake: Arc::clone(&self.wake),
        })
    }
}

/// One call's unit of work inside a group (see the module doc). Dropped
/// without [`Unit::commit`], it rolls back to its savepoint.
pub struct Unit {
    group: Option<OwnedMappedMutexGuard<Option<Group>, Group>>,
    wake: Arc<Notify>,
}

impl Unit {
    /// The connection, inside the group's transaction.
    pub(super) fn conn(&mut self) -> StoreResult<&mut SqliteConnection> {
        match self.group.as_mut() {
            Some(group) => Ok(&mut *group.tx),
            None => Err(StoreError::Corrupt("the unit of work has ended".into())),
        }
    }

    /// Ends the unit and waits for the commit of its group: `Ok` only once
    /// the group's `COMMIT` succeeded.
    pub(super) async fn commit(mut self) -> StoreResult<()> {
        let Some(mut group) = self.group.take() else {
            return Err(StoreError::Corrupt("the unit of work has ended".into()));
        };
        let released = sqlx::query("RELEASE unit")
            .execute(&mut *group.tx)
            .await
            .map_err(map_err);
        if let Err(e) = released {
            group.is_broken = true;
            drop(group);
            self.wake.notify_one();
            return Err(e);
        }
        let (done, outcome) = oneshot::channel();
        group.members.push(done);
        drop(group);
        self.wake.notify_one();
        outcome.await.unwrap_or_else(|_| {
            Err(StoreError::Unavailable(
                "the shared transaction failed before it committed".into(),
            ))
        })
    }
}

impl Drop for Unit {
    fn drop(&mut self) {
        let Some(mut group) = self.group.take() else {
            return;
        };
        let wake = Arc::clone(&self.wake);
        // Rolling back needs an await: a task does it, holding the group
        // (so no other unit runs in between), then wakes the committer.
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                runtime.spawn(async move {
                    let undone = async {
                        sqlx::query("ROLLBACK TO unit")
                            .execute(&mut *group.tx)
                            .await?;
                        sqlx::query("RELEASE unit").execute(&mut *group.tx).await
                    };
                    if undone.await.is_err() {
                        group.is_broken = true;
                    }
                    drop(group);
                    wake.notify_one();
                });
            }
            Err(_) => {
                group.is_broken = true;
                drop(group);
                wake.notify_one();
            }
        }
    }
}

/// Commits each group once the calls queued before it have joined.
async fn committer(slot: Weak<Mutex<Option<Group>>>, wake: Arc<Notify>, commits: Arc<AtomicU64>) {
    loop {
        wake.notified().await;
        let Some(slot) = slot.upgrade() else { return };
        let Some(group) = slot.lock().await.take() else {
            continue;
        };
        drop(slot);
        if group.is_broken || group.members.is_empty() {
            // Dropping the transaction rolls it back; members hear of it.
            continue;
        }
        let Group { tx, members, .. } = group;
        let outcome = tx.commit().await;
        commits.fetch_add(1, Ordering::Relaxed);
        for member in members {
            let shared = match &outcome {
                Ok(()) => Ok(()),
                Err(StoreError::Unavailable(why)) => Err(StoreError::Unavailable(why.clone())),
                Err(e) => Err(StoreError::Unavailable(format!(
                    "the shared transaction did not commit: {e}"
                ))),
            };
            let _ = member.send(shared);
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::Utc;

    use super::*;
    use crate::ids::{LogId, WorkspaceId};
    use crate::model::{CanonicalStatus, GatewayKind, Workspace};
    use crate::storage::{LedgerStore, ProcessedEvent, WorkspaceStore};

    fn event(ws: &WorkspaceId, i: usize) -> ProcessedEvent {
        ProcessedEvent {
            workspace_id: ws.clone(),
            gateway: GatewayKind::Hotmart,
            reference: format!("tx:G-{i}"),
            status: CanonicalStatus::Approved,
            transaction_id: Some(format!("G-{i}")),
            subscription_id: None,
            log_id: LogId::new(),
            processed_at: Utc::now(),
        }
    }

    /// 200 concurrent units, every fifth dropped half-way: the others all
    /// commit, in fewer commits than units, and are there after a reopen;
    /// the dropped ones left nothing.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_units_share_commits_and_a_dropped_one_leaves_the_rest() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("g.db");
        let store = SqliteStore::open(&path).await.unwrap();
        let ws = Workspace {
            id: WorkspaceId::new(),
            name: "w".into(),
            public_id: "group-commit".into(),
            created_at: Utc::now(),
        };
        store.insert_workspace(&ws).await.unwrap();
        let mut units = tokio::task::JoinSet::new();
        for i in 0..200 {
            let (store, ws) = (store.clone(), ws.id.clone());
            units.spawn(async move {
                let mut tx = store.begin().await?;
                assert!(tx.claim_event(&event(&ws, i)).await?);
                if i % 5 == 0 {
                    return Ok(false); // dropped: rolled back to its savepoint
                }
                tx.commit().await.map(|()| true)
            });
        }
        let mut committed = 0;
        while let Some(done) = units.join_next().await {
            let done: StoreResult<bool> = done.unwrap();
            committed += usize::from(done.unwrap());
        }
        assert_eq!(committed, 160);
        let commits = store.group.commits.load(Ordering::Relaxed);
        assert!(commits < 160, "{commits} commits for 160 units");
        drop(store);

        let store = SqliteStore::open(&path).await.unwrap();
        let mut tx = store.begin().await.unwrap();
        for i in 0..200 {
            // A second claim fails for what was committed, succeeds for the rest.
            let again = tx.claim_event(&event(&ws.id, i)).await.unwrap();
            assert_eq!(again, i % 5 == 0, "unit {i}");
        }
    }
}
