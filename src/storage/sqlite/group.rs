//! Group commit for the ledger on SQLite (issue 9): concurrent inbound calls
//! share one transaction and one `COMMIT` (one fsync), and each learns that
//! its writes are durable only when that commit succeeds.
//!
//! The slot holds the writer connection (`writer.rs`) and the open group.
//! A call's unit of work runs inside the group's transaction between
//! `SAVEPOINT unit` and `RELEASE unit`, holding the slot's mutex, so units
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
//! group is reported durable unless its `COMMIT` succeeded. A connection
//! whose transaction did not end in a successful `COMMIT`, or whose group
//! committed nothing, is closed and a fresh one opened for the next group (as `WriteTx` does for
//! the sqlx pool), so no later call runs in a transaction that will never
//! commit.
//!
//! The rest of the backend still writes through the sqlx writer pool. Both
//! take [`GroupCommit::file_lock`] around a write transaction (a group holds
//! it from `BEGIN` to `COMMIT`), so the two connections take turns in
//! arrival order instead of meeting in SQLite's busy handler.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};

use rusqlite::Connection;
use tokio::sync::{oneshot, Mutex, Notify, OwnedMutexGuard};

use super::writer;
use crate::storage::write::WriteHealth;
use crate::storage::{StoreError, StoreResult};

/// The writer connection and the transaction a group of units shares.
pub(super) struct Slot {
    path: PathBuf,
    /// `None` after a failure closed it; opened again by the next group.
    conn: Option<Connection>,
    group: Option<Group>,
}

struct Group {
    /// Units that finished, waiting for the commit's outcome.
    members: Vec<oneshot::Sender<StoreResult<()>>>,
    /// The transaction can no longer be committed.
    is_broken: bool,
    /// Held from `BEGIN` to the end of the transaction.
    _file: OwnedMutexGuard<()>,
}

/// The store's side of group commit: the slot, the committer's wake-up
/// call and the lock both writer connections take.
#[derive(Debug, Clone)]
pub(super) struct GroupCommit {
    slot: Arc<Mutex<Slot>>,
    wake: Arc<Notify>,
    file: Arc<Mutex<()>>,
    health: Arc<WriteHealth>,
    /// Groups committed so far (for tests and, later, metrics).
    commits: Arc<AtomicU64>,
}

impl std::fmt::Debug for Slot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Slot")
            .field("is_open", &self.conn.is_some())
            .field("members", &self.group.as_ref().map(|g| g.members.len()))
            .finish()
    }
}

impl Slot {
    fn conn(&mut self) -> StoreResult<&mut Connection> {
        self.conn
            .as_mut()
            .ok_or_else(|| StoreError::Unavailable("the writer connection is closed".into()))
    }

    /// Ends whatever transaction the connection holds; closes it if that fails.
    fn roll_back(&mut self) {
        if let Some(conn) = &self.conn {
            if !conn.is_autocommit() && writer::batch(conn, "ROLLBACK").is_err() {
                self.conn = None;
            }
        }
    }

    /// Runs `sql` on the blocking pool (it may wait on a lock or an fsync),
    /// with the connection moved there and back.
    async fn blocking(&mut self, sql: &'static str) -> StoreResult<()> {
        let conn = match self.conn.take() {
            Some(conn) => conn,
            None => {
                let path = self.path.clone();
                tokio::task::spawn_blocking(move || writer::open(&path))
                    .await
                    .map_err(|e| {
                        StoreError::Unavailable(format!("the writer thread failed: {e}"))
                    })??
            }
        };
        let (conn, done) = tokio::task::spawn_blocking(move || {
            let done = writer::batch(&conn, sql);
            (conn, done)
        })
        .await
        .map_err(|e| StoreError::Unavailable(format!("the writer thread failed: {e}")))?;
        self.conn = Some(conn);
        done
    }
}

impl GroupCommit {
    /// Opens the writer connection on the migrated file at `path` and
    /// starts the committer task (it ends when the store is gone).
    pub(super) fn start(path: PathBuf, health: Arc<WriteHealth>) -> StoreResult<Self> {
        let conn = writer::open(&path)?;
        let this = Self {
            slot: Arc::new(Mutex::new(Slot {
                path,
                conn: Some(conn),
                group: None,
            })),
            wake: Arc::default(),
            file: Arc::default(),
            health,
            commits: Arc::default(),
        };
        tokio::spawn(committer(
            Arc::downgrade(&this.slot),
            Arc::clone(&this.wake),
            Arc::clone(&this.health),
            Arc::clone(&this.commits),
        ));
        Ok(this)
    }

    /// The lock a write transaction holds on the file (see the module doc).
    pub(super) async fn file_lock(&self) -> OwnedMutexGuard<()> {
        Arc::clone(&self.file).lock_owned().await
    }

    /// Opens a unit of work in the current group, starting a group (a new
    /// write transaction) when none is open. Refused untried while writes
    /// are failing ([`WriteHealth::admit`]).
    pub(super) async fn begin(&self) -> StoreResult<Unit> {
        self.health.admit()?;
        let mut slot = Arc::clone(&self.slot).lock_owned().await;
        if slot.group.as_ref().is_some_and(|g| g.is_broken) {
            // Its members learn of the failure when their senders drop.
            slot.roll_back();
            slot.group = None;
        }
        if slot.group.is_none() {
            let file = self.file_lock().await;
            // An episode may have begun while this call waited.
            self.health.admit()?;
            let begun = slot.blocking("BEGIN IMMEDIATE").await;
            if begun.is_err() {
                slot.roll_back();
            }
            self.health.note(begun)?;
            slot.group = Some(Group {
                members: Vec::new(),
                is_broken: false,
                _file: file,
            });
        }
        let saved = slot.conn().and_then(|c| writer::batch(c, "SAVEPOINT unit"));
        if let Err(e) = saved {
            if let Some(group) = slot.group.as_mut() {
                group.is_broken = true;
            }
            self.wake.notify_one();
            return Err(e);
        }
        Ok(Unit {
            slot: Some(slot),
            wake: Arc::clone(&self.wake),
        })
    }

    /// Groups committed so far.
    #[cfg(test)]
    pub(super) fn commits(&self) -> u64 {
        self.commits.load(Ordering::Relaxed)
    }
}

/// One call's unit of work inside a group (see the module doc). Dropped
/// without [`Unit::commit`], it rolls back to its savepoint.
pub struct Unit {
    slot: Option<OwnedMutexGuard<Slot>>,
    wake: Arc<Notify>,
}

impl Unit {
    /// The writer connection, inside the group's transaction.
    pub(super) fn conn(&mut self) -> StoreResult<&mut Connection> {
        match self.slot.as_mut() {
            Some(slot) => slot.conn(),
            None => Err(StoreError::Corrupt("the unit of work has ended".into())),
        }
    }

    /// Ends the unit and waits for the commit of its group: `Ok` only once
    /// the group's `COMMIT` succeeded.
    pub(super) async fn commit(mut self) -> StoreResult<()> {
        let Some(mut slot) = self.slot.take() else {
            return Err(StoreError::Corrupt("the unit of work has ended".into()));
        };
        let released = slot.conn().and_then(|c| writer::batch(c, "RELEASE unit"));
        let Some(group) = slot.group.as_mut() else {
            return Err(StoreError::Corrupt("the unit's group has ended".into()));
        };
        if let Err(e) = released {
            group.is_broken = true;
            drop(slot);
            self.wake.notify_one();
            return Err(e);
        }
        let (done, outcome) = oneshot::channel();
        group.members.push(done);
        drop(slot);
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
        let Some(mut slot) = self.slot.take() else {
            return;
        };
        let undone = slot
            .conn()
            .and_then(|c| writer::batch(c, "ROLLBACK TO unit; RELEASE unit"));
        if undone.is_err() {
            if let Some(group) = slot.group.as_mut() {
                group.is_broken = true;
            }
        }
        drop(slot);
        self.wake.notify_one();
    }
}

/// Commits each group once the calls queued before it have joined.
async fn committer(
    slot: Weak<Mutex<Slot>>,
    wake: Arc<Notify>,
    health: Arc<WriteHealth>,
    commits: Arc<AtomicU64>,
) {
    loop {
        wake.notified().await;
        let Some(slot) = slot.upgrade() else { return };
        let mut slot = slot.lock().await;
        let Some(group) = slot.group.take() else {
            continue;
        };
        if group.is_broken || group.members.is_empty() {
            // Members, if any, hear of it when their senders drop. Every
            // unit failed or was dropped: the connection may have cached
            // what made it fail (a page that read as corrupt stays in its
            // cache after the file is whole again), so a fresh one serves
            // the next group.
            slot.roll_back();
            slot.conn = None;
            continue;
        }
        let outcome = slot.blocking("COMMIT").await;
        if outcome.is_err() {
            // SQLite may or may not have rolled back: start afresh.
            slot.roll_back();
            slot.conn = None;
        }
        drop(slot);
        commits.fetch_add(1, Ordering::Relaxed);
        let outcome = health.note(outcome);
        for member in group.members {
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
    use crate::storage::sqlite::SqliteStore;
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
        let commits = store.group.commits();
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
