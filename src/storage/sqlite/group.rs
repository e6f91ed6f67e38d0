//! Group commit on SQLite (issue 9): concurrent inbound calls
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
//! Durability is pipelined (issue 9): the writer connection commits with
//! `synchronous = NORMAL`, so `COMMIT` writes the group's WAL frames without
//! waiting for the disk, and the committer then lets go of the slot (the
//! next group's units run) while it fsyncs the WAL file (`writer::sync_wal`)
//! on the blocking pool. Only after that fsync succeeds are the group's
//! members answered `Ok`: a `200` still means the call is on disk, and no
//! unit waits for the disk to flush another group's. An fsync that fails is
//! a write failure like a failed `COMMIT`: the members are answered with an
//! error and new writes are refused until a probe commits (`WriteHealth`).
//!
//! If the group's transaction breaks (a failed `RELEASE` or rollback, a
//! failed `COMMIT`), every member is answered with an error: nothing of a
//! group is reported durable unless its `COMMIT` succeeded. A connection
//! whose transaction did not end in a successful `COMMIT`, or whose group
//! committed nothing, is closed and a fresh one opened for the next group (as `WriteTx` does for
//! the sqlx pool), so no later call runs in a transaction that will never
//! commit.
//!
//! Besides inbound calls, the delivery worker's claims and its records of
//! attempts run as units (`outbound.rs`), so they share the groups' commits
//! instead of taking the file between them. The writer never checkpoints:
//! [`checkpointer`] copies the WAL into the database file on a thread and
//! a connection of its own, outside the slot.
//!
//! The rest of the backend still writes through the sqlx writer pool. Both
//! take [`GroupCommit::file_lock`] around a write transaction (a group holds
//! it from `BEGIN` to `COMMIT`), so the two connections take turns in
//! arrival order instead of meeting in SQLite's busy handler.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};

use rusqlite::Connection;
use tokio::sync::{oneshot, Mutex, Notify, OwnedMutexGuard};

use super::writer::{self, WalSync};
use crate::storage::write::WriteHealth;
use crate::storage::{StoreError, StoreResult};

/// The writer connection and the transaction a group of units shares.
pub(super) struct Slot {
    path: PathBuf,
    /// `None` after a failure closed it; opened again by the next group.
    conn: Option<Connection>,
    /// What makes the connection's commits durable (`writer::open`).
    sync: WalSync,
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

/// Makes the commits written to a WAL file so far durable.
pub(super) type SyncWal = fn(&Path) -> std::io::Result<()>;

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

    /// Runs `BEGIN IMMEDIATE` or `COMMIT` right here when it cannot wait:
    /// the file is in WAL mode (`COMMIT` writes the WAL, the fsync comes
    /// after, off the slot) and the write lock is free. Otherwise, or when
    /// another connection holds the lock, on the blocking pool
    /// ([`Self::blocking`]). Each hop to the pool and back was two thread
    /// wake-ups per group while every waiting unit waited for the slot.
    async fn run(&mut self, sql: &'static str) -> StoreResult<()> {
        if let (Some(conn), WalSync::After(_)) = (&self.conn, &self.sync) {
            if writer::try_now(conn, sql)? {
                return Ok(());
            }
        }
        self.blocking(sql).await
    }

    /// Runs `sql` on the blocking pool (it may wait on a lock or an fsync),
    /// with the connection moved there and back.
    async fn blocking(&mut self, sql: &'static str) -> StoreResult<()> {
        let conn = match self.conn.take() {
            Some(conn) => conn,
            None => {
                let path = self.path.clone();
                let (conn, sync) = tokio::task::spawn_blocking(move || writer::open(&path))
                    .await
                    .map_err(|e| {
                        StoreError::Unavailable(format!("the writer thread failed: {e}"))
                    })??;
                self.sync = sync;
                conn
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
        Self::start_syncing_with(path, health, writer::sync_wal)
    }

    /// As [`Self::start`], with `sync_wal` in place of `writer::sync_wal`
    /// (the tests use it to see when, and with what outcome, it runs).
    pub(super) fn start_syncing_with(
        path: PathBuf,
        health: Arc<WriteHealth>,
        sync_wal: SyncWal,
    ) -> StoreResult<Self> {
        let (conn, sync) = writer::open(&path)?;
        let file = path.clone();
        let this = Self {
            slot: Arc::new(Mutex::new(Slot {
                path,
                conn: Some(conn),
                sync,
                group: None,
            })),
            wake: Arc::default(),
            file: Arc::default(),
            health,
            commits: Arc::default(),
        };
        checkpointer(file, Arc::downgrade(&this.slot), Arc::clone(&this.commits));
        tokio::spawn(committer(
            Arc::downgrade(&this.slot),
            Arc::clone(&this.wake),
            Arc::clone(&this.health),
            Arc::clone(&this.commits),
            sync_wal,
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
            let begun = slot.run("BEGIN IMMEDIATE").await;
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
    pub(super) async fn commit(self) -> StoreResult<()> {
        let outcome = self.join()?;
        outcome.await.unwrap_or_else(|_| {
            Err(StoreError::Unavailable(
                "the shared transaction failed before it committed".into(),
            ))
        })
    }

    /// Ends the unit without waiting for its group's commit: `Ok` once its
    /// writes are in the group, which commits (or fails) after. For the
    /// delivery worker's records and claims only (`outbound.rs`), whose
    /// loss in a crash or a failed commit costs a delivery sent again,
    /// never a sale: see the module doc of `sqlite/outbound.rs`.
    pub(super) fn commit_unawaited(self) -> StoreResult<()> {
        self.join().map(drop)
    }

    /// Releases the unit's savepoint and joins it to the group's members;
    /// the receiver hears the group's outcome.
    fn join(mut self) -> StoreResult<oneshot::Receiver<StoreResult<()>>> {
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
        Ok(outcome)
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

/// How often the checkpointer looks for committed groups to copy. A page
/// that every group changes (the last leaf of an append-only table) is
/// copied once per checkpoint, so copying less often copies less: at
/// 100 ms the checkpointer took a ninth of a core at saturation, and
/// every second instead gave Hotmart at saturation +8 % (5 alternating
/// pairs, median 5,497/s against 5,930/s). The WAL holds up to a second
/// of groups meanwhile (tens of MB at saturation).
const CHECKPOINT_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

/// Copies the WAL into the database file on a thread and a connection of
/// its own after groups commit ([`writer::checkpoint`]), so no group's
/// `COMMIT` runs a checkpoint while it holds the slot (issue 9: they were a
/// fifth of the slot's time). Ends when the store is gone.
fn checkpointer(path: PathBuf, slot: Weak<Mutex<Slot>>, commits: Arc<AtomicU64>) {
    let run = move || {
        let mut conn = None;
        let mut copied = 0;
        while slot.strong_count() > 0 {
            std::thread::sleep(CHECKPOINT_EVERY);
            let committed = commits.load(Ordering::Relaxed);
            if committed == copied {
                continue;
            }
            if conn.is_none() {
                conn = writer::open_checkpointer(&path).ok();
            }
            let Some(c) = &conn else { continue };
            match writer::checkpoint(c) {
                Ok(()) => copied = committed,
                Err(e) => {
                    // Tried again at the next tick, on a fresh connection;
                    // a failing disk is reported by the writes themselves.
                    tracing::debug!(error = %e, "a WAL checkpoint failed");
                    conn = None;
                }
            }
        }
    };
    if let Err(e) = std::thread::Builder::new()
        .name("gancho-checkpoint".into())
        .spawn(run)
    {
        tracing::warn!(error = %e, "cannot start the WAL checkpointer; the WAL is copied by the other connections' commits only");
    }
}

/// Commits each group once the calls queued before it have joined.
async fn committer(
    slot: Weak<Mutex<Slot>>,
    wake: Arc<Notify>,
    health: Arc<WriteHealth>,
    commits: Arc<AtomicU64>,
    sync_wal: SyncWal,
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
        let Group {
            members,
            _file: file,
            ..
        } = group;
        let outcome = slot.run("COMMIT").await;
        if outcome.is_err() {
            // SQLite may or may not have rolled back: start afresh.
            slot.roll_back();
            slot.conn = None;
        }
        let wal = slot.sync.clone();
        // The next group may begin (and the pools' writers write) while
        // this one's WAL frames go to disk.
        drop(slot);
        drop(file);
        let outcome = match (outcome, wal) {
            (Ok(()), WalSync::After(wal)) => tokio::task::spawn_blocking(move || sync_wal(&wal))
                .await
                .map_err(|e| StoreError::Unavailable(format!("the writer thread failed: {e}")))
                .and_then(|synced| {
                    synced.map_err(|e| {
                        StoreError::Unavailable(format!("the WAL could not be synced to disk: {e}"))
                    })
                }),
            (outcome, _) => outcome,
        };
        commits.fetch_add(1, Ordering::Relaxed);
        let outcome = health.note(outcome);
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
    use std::time::Duration;

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

    /// A migrated file and a group commit on it whose WAL syncs go through `sync`.
    async fn group_on(dir: &tempfile::TempDir, sync: SyncWal) -> (GroupCommit, Arc<WriteHealth>) {
        let path = dir.path().join("g.db");
        drop(SqliteStore::open(&path).await.unwrap());
        let health = Arc::new(WriteHealth::default());
        let group = GroupCommit::start_syncing_with(path, Arc::clone(&health), sync).unwrap();
        (group, health)
    }

    fn write_probe(unit: &mut Unit) {
        write_filler(unit, &[0; 16]);
    }

    fn write_filler(unit: &mut Unit, filler: &[u8]) {
        let conn = unit.conn().unwrap();
        writer::execute(
            conn,
            "INSERT INTO write_probe (filler) VALUES ($1)",
            &[&filler],
        )
        .unwrap();
    }

    /// WAL syncs that wait until their test opens the gate of their file
    /// (tests run in parallel, so each gate is keyed by its WAL's path).
    #[derive(Default)]
    struct Held {
        open: std::collections::HashSet<PathBuf>,
        entered: std::collections::HashMap<PathBuf, u64>,
        synced: std::collections::HashMap<PathBuf, u64>,
    }

    static HELD: std::sync::LazyLock<std::sync::Mutex<Held>> =
        std::sync::LazyLock::new(Default::default);
    static OPENED: std::sync::Condvar = std::sync::Condvar::new();

    fn held_sync(wal: &Path) -> std::io::Result<()> {
        let mut held = HELD.lock().unwrap();
        *held.entered.entry(wal.to_path_buf()).or_default() += 1;
        while !held.open.contains(wal) {
            held = OPENED.wait(held).unwrap();
        }
        drop(held);
        writer::sync_wal(wal)?;
        *HELD
            .lock()
            .unwrap()
            .synced
            .entry(wal.to_path_buf())
            .or_default() += 1;
        Ok(())
    }

    /// The gate of one file's WAL syncs: opened when dropped, however the
    /// test ends, so a failed assertion fails the test instead of leaving
    /// the committer's sync waiting.
    struct Gate(PathBuf);

    impl Gate {
        fn of(dir: &tempfile::TempDir) -> Self {
            Self(dir.path().join("g.db-wal"))
        }

        fn count(&self, of: fn(&Held) -> &std::collections::HashMap<PathBuf, u64>) -> u64 {
            let held = HELD.lock().unwrap_or_else(|e| e.into_inner());
            of(&held).get(&self.0).copied().unwrap_or(0)
        }

        fn entered(&self) -> u64 {
            self.count(|h| &h.entered)
        }

        fn synced(&self) -> u64 {
            self.count(|h| &h.synced)
        }
    }

    impl Drop for Gate {
        fn drop(&mut self) {
            let mut held = HELD.lock().unwrap_or_else(|e| e.into_inner());
            held.open.insert(self.0.clone());
            OPENED.notify_all();
        }
    }

    /// The pipelined fsync: while a group's WAL sync runs, the next group's
    /// units run, and the first group's members are answered only once its
    /// sync has returned.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_unit_is_answered_after_its_wal_sync_and_the_next_runs_meanwhile() {
        let dir = tempfile::tempdir().unwrap();
        let gate = Gate::of(&dir);
        let (group, _health) = group_on(&dir, held_sync).await;
        let mut first = group.begin().await.unwrap();
        write_probe(&mut first);
        let first = tokio::spawn(first.commit());
        for _ in 0..1000 {
            if gate.entered() > 0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(gate.entered(), 1, "the first group never synced");
        // The committer is now held in the first group's sync; a second
        // unit begins, writes and releases all the same.
        let mut second = tokio::time::timeout(Duration::from_secs(10), group.begin())
            .await
            .expect("a unit could not begin while the last group's WAL synced")
            .unwrap();
        write_probe(&mut second);
        let second = tokio::spawn(second.commit());
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(!first.is_finished(), "answered before its WAL was synced");
        assert_eq!(gate.synced(), 0);
        drop(Gate::of(&dir)); // opens it
        first.await.unwrap().unwrap();
        second.await.unwrap().unwrap();
        assert_eq!(gate.synced(), 2, "one sync per group");
    }

    /// A unit ended with `commit_unawaited` is answered while its group's
    /// WAL sync is still held, and a later unit's `commit` answers only
    /// once that earlier group is durable too: what the delivery worker's
    /// last record relies on (see `sqlite/outbound.rs`).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_unawaited_unit_is_answered_before_its_sync_and_a_later_commit_waits_for_it() {
        let dir = tempfile::tempdir().unwrap();
        let gate = Gate::of(&dir);
        let (group, _health) = group_on(&dir, held_sync).await;
        let mut first = group.begin().await.unwrap();
        write_probe(&mut first);
        first.commit_unawaited().unwrap();
        assert_eq!(gate.synced(), 0);
        let mut last = group.begin().await.unwrap();
        write_probe(&mut last);
        let last = tokio::spawn(last.commit());
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(!last.is_finished(), "answered before its WAL was synced");
        drop(Gate::of(&dir)); // opens it
        last.await.unwrap().unwrap();
        assert!(gate.synced() >= 1);
        let other = Connection::open(dir.path().join("g.db")).unwrap();
        let rows: i64 = other
            .query_row("SELECT COUNT(*) FROM write_probe", [], |r| r.get(0))
            .unwrap();
        assert_eq!(rows, 2, "the unawaited unit's write is not on disk");
    }

    /// Checkpoints (copying the WAL's pages into the database file) run in
    /// the background, not inside a group's `COMMIT` while it holds the
    /// slot: the writer never checkpoints, and what a group committed
    /// reaches the database file soon after all the same.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_wal_is_checkpointed_in_the_background_not_by_a_commit() {
        const MARK: &[u8] = b"checkpointed-in-the-background";
        let dir = tempfile::tempdir().unwrap();
        let (group, _health) = group_on(&dir, writer::sync_wal).await;
        let mut unit = group.begin().await.unwrap();
        let conn = unit.conn().unwrap();
        let auto = writer::query_one(conn, "PRAGMA wal_autocheckpoint", &[], |r| {
            crate::storage::rows::RowRead::int(r, "wal_autocheckpoint")
        })
        .unwrap();
        assert_eq!(auto, 0, "the writer checkpoints inside its commits");
        writer::execute(
            conn,
            "INSERT INTO write_probe (filler) VALUES ($1)",
            &[&MARK.to_vec()],
        )
        .unwrap();
        unit.commit().await.unwrap();
        let file = dir.path().join("g.db");
        let in_file = || {
            let bytes = std::fs::read(&file).unwrap();
            bytes.windows(MARK.len()).any(|w| w == MARK)
        };
        for _ in 0..100 {
            if in_file() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("the committed row never reached the database file");
    }

    /// `BEGIN` runs on the calling thread only when the write lock is free:
    /// while another connection holds it, the wait happens on the blocking
    /// pool, and the runtime (one thread here) goes on running other tasks,
    /// among them the one that lets go of the lock.
    #[tokio::test(flavor = "current_thread")]
    async fn a_begin_that_must_wait_for_the_lock_leaves_the_runtime_free() {
        let dir = tempfile::tempdir().unwrap();
        let (group, _health) = group_on(&dir, writer::sync_wal).await;
        let other = Connection::open(dir.path().join("g.db")).unwrap();
        other.execute_batch("BEGIN IMMEDIATE").unwrap();
        let started = std::time::Instant::now();
        let release = async {
            tokio::time::sleep(Duration::from_millis(200)).await;
            let at = started.elapsed();
            other.execute_batch("COMMIT").unwrap();
            at
        };
        let begin = async {
            let mut unit = group.begin().await.unwrap();
            write_probe(&mut unit);
            unit.commit().await.unwrap();
            started.elapsed()
        };
        let (released_at, committed_at) = tokio::join!(release, begin);
        assert!(
            released_at < Duration::from_secs(2),
            "the runtime was blocked for {released_at:?} while the unit waited for the lock"
        );
        assert!(committed_at >= released_at, "{committed_at:?}");
        assert!(committed_at < Duration::from_secs(5), "{committed_at:?}");
    }

    /// A WAL sync that fails fails the group's members, and writes are
    /// refused until a probe commits.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_failed_wal_sync_is_a_failed_commit() {
        fn failing_sync(_wal: &Path) -> std::io::Result<()> {
            Err(std::io::Error::other("no space left on device"))
        }
        let dir = tempfile::tempdir().unwrap();
        let (group, health) = group_on(&dir, failing_sync).await;
        let mut unit = group.begin().await.unwrap();
        write_probe(&mut unit);
        let done = unit.commit().await;
        assert!(
            matches!(&done, Err(StoreError::Unavailable(why)) if why.contains("synced")),
            "{done:?}"
        );
        assert!(health.admit().is_err(), "writes still admitted");
    }

    /// The writer connection runs WAL with `NORMAL` sync and names its WAL
    /// file, which `sync_wal` opens and syncs.
    #[tokio::test]
    async fn the_writer_syncs_the_wal_file_it_writes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("g.db");
        drop(SqliteStore::open(&path).await.unwrap());
        let (conn, sync) = writer::open(&path).unwrap();
        let level: i64 = conn
            .pragma_query_value(None, "synchronous", |r| r.get(0))
            .unwrap();
        assert_eq!(level, 1, "synchronous = NORMAL");
        let WalSync::After(wal) = sync else {
            panic!("not in WAL mode")
        };
        assert_eq!(wal, dir.path().join("g.db-wal"));
        writer::sync_wal(&wal).unwrap();
    }

    /// A unit that changes many pages (about 2 MiB of them: more than
    /// SQLite would keep of its journal in memory were `temp_store` not
    /// `MEMORY`, see `writer::open`) and is dropped still rolls back alone,
    /// and the unit after it in the same group commits.
    #[tokio::test]
    async fn a_unit_past_the_journal_in_memory_still_rolls_back_alone() {
        use crate::storage::rows::RowRead;
        let dir = tempfile::tempdir().unwrap();
        let (group, _health) = group_on(&dir, writer::sync_wal).await;
        let mut unit = group.begin().await.unwrap();
        for _ in 0..2000 {
            write_filler(&mut unit, &[1; 1024]);
        }
        unit.commit().await.unwrap();

        let mut big = group.begin().await.unwrap();
        let changed = writer::execute(
            big.conn().unwrap(),
            "UPDATE write_probe SET filler = zeroblob(1024)",
            &[],
        )
        .unwrap();
        assert_eq!(changed, 2000);
        drop(big);
        let mut next = group.begin().await.unwrap();
        write_probe(&mut next);
        next.commit().await.unwrap();

        let mut unit = group.begin().await.unwrap();
        let mut count =
            |sql: &str| writer::query_one(unit.conn().unwrap(), sql, &[], |r| r.int("n")).unwrap();
        assert_eq!(count("SELECT COUNT(*) AS n FROM write_probe"), 2001);
        assert_eq!(
            count("SELECT COUNT(*) AS n FROM write_probe WHERE filler = zeroblob(1024)"),
            0
        );
        unit.commit().await.unwrap();
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
