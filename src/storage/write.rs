//! Write transactions and the health of the write path, shared by both
//! backends. A [`WriteTx`] owns one pooled connection and issues `BEGIN`,
//! `COMMIT` and `ROLLBACK` itself: a connection whose transaction did not
//! end in a successful `COMMIT` is closed, never handed out again, so no
//! later call can run inside a transaction that will never commit (the
//! full-disk bug of issue 13). [`WriteHealth`] remembers that writes are
//! failing: it refuses writes until a probe commits, answers `/readyz`, and
//! logs one error line per episode.

use std::ops::{Deref, DerefMut};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sqlx::pool::PoolConnection;
use sqlx::{Database, Executor, Pool};

use super::{StoreError, StoreResult};

/// What the write probe writes: more than one inbound call does.
const PROBE_BYTES: usize = 64 * 1024;

/// How often, at most, a write is let through to probe a failing database.
const PROBE_EVERY: Duration = Duration::from_secs(1);

/// Whether the database is taking writes. After a write fails for a reason
/// a retry may cure ([`StoreError::Unavailable`]), writes are refused
/// without being tried ([`Self::admit`]) while a background task
/// (`app.rs`) runs one probe a second ([`Self::probe`]): a write the size of
/// an inbound call's, committed. Its success ends the episode. Refusing in
/// between keeps small writes from nibbling at a nearly full disk, answers
/// every call the same way and at once until the cause is gone (a call
/// never waits out a locked file's busy timeout behind a probe).
#[derive(Debug, Default)]
pub struct WriteHealth {
    state: Mutex<HealthState>,
    /// Rung when an episode starts, so the first probe comes at once.
    episode_started: tokio::sync::Notify,
}

#[derive(Debug, Default)]
struct HealthState {
    /// The reason writes fail, while they do.
    problem: Option<String>,
    last_probe: Option<Instant>,
    /// A probe is running: everyone else is refused at once rather than
    /// queued behind it (a locked SQLite file makes each try wait out its
    /// busy timeout, so queued writers piled up past the request timeout).
    is_probing: bool,
}

/// Clears [`HealthState::is_probing`] however the probe ends (even cancelled).
struct Probing<'a>(&'a WriteHealth);

impl Drop for Probing<'_> {
    fn drop(&mut self) {
        self.0.state().is_probing = false;
    }
}

impl WriteHealth {
    fn state(&self) -> std::sync::MutexGuard<'_, HealthState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Records a failed write. Logs at `error` only when an episode starts,
    /// not on every call that runs into it.
    pub fn failed(&self, reason: &str) {
        let mut state = self.state();
        if state.problem.is_none() {
            tracing::error!(
                reason,
                "the database cannot take writes: calls are answered 503 with Retry-After until it recovers"
            );
            self.episode_started.notify_one();
        }
        state.problem = Some(reason.to_string());
    }

    /// Resolves when an episode starts (or one started since the last call).
    pub async fn episode_started(&self) {
        self.episode_started.notified().await;
    }

    /// Why writes are failing, if they are.
    pub fn problem(&self) -> Option<String> {
        self.state().problem.clone()
    }

    /// Notes `result`'s outcome: `Unavailable` starts (or continues) an episode.
    pub fn note<T>(&self, result: StoreResult<T>) -> StoreResult<T> {
        if let Err(StoreError::Unavailable(reason)) = &result {
            self.failed(reason);
        }
        result
    }

    /// Lets a write through when the database is healthy; refuses it,
    /// untried, during an episode.
    pub fn admit(&self) -> StoreResult<()> {
        match self.problem() {
            Some(problem) => Err(StoreError::Unavailable(problem)),
            None => Ok(()),
        }
    }

    /// During an episode, runs `probe` (at most once a second, one at a
    /// time, else refuses) and ends the episode when it commits; `Ok` at
    /// once when the database is healthy.
    pub async fn probe<F>(&self, probe: impl FnOnce() -> F) -> StoreResult<()>
    where
        F: std::future::Future<Output = StoreResult<()>>,
    {
        {
            let mut state = self.state();
            let Some(problem) = &state.problem else {
                return Ok(());
            };
            if state.is_probing || state.last_probe.is_some_and(|t| t.elapsed() < PROBE_EVERY) {
                return Err(StoreError::Unavailable(problem.clone()));
            }
            state.last_probe = Some(Instant::now());
            state.is_probing = true;
        }
        let probing = Probing(self);
        let probed = probe().await;
        drop(probing);
        self.note(probed)?;
        if let Some(reason) = self.state().problem.take() {
            tracing::warn!(was = %reason, "the database takes writes again");
        }
        Ok(())
    }
}

/// One write transaction on a pooled connection. Derefs to the connection,
/// so statements run on `&mut *tx`. Dropped without a successful
/// [`WriteTx::commit`], the connection is closed instead of returned to the
/// pool; closing rolls back whatever the database still holds open.
pub struct WriteTx<DB: Database> {
    conn: PoolConnection<DB>,
    is_committed: bool,
    health: Arc<WriteHealth>,
    map_err: fn(sqlx::Error) -> StoreError,
    /// A lock held for as long as the transaction (SQLite's file lock
    /// shared with the group-commit writer, `sqlite::group`).
    hold: Option<tokio::sync::OwnedMutexGuard<()>>,
}

impl<DB: Database> WriteTx<DB>
where
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
{
    /// Takes a connection from `pool` and runs `begin` (`BEGIN IMMEDIATE`
    /// on SQLite, `BEGIN` on PostgreSQL), for a write [`WriteHealth::admit`]
    /// let through. If an episode began while it waited for the connection,
    /// it is refused without being tried, like the writes that come after.
    pub async fn begin(
        pool: &Pool<DB>,
        begin: &'static str,
        health: &Arc<WriteHealth>,
        map_err: fn(sqlx::Error) -> StoreError,
    ) -> StoreResult<Self> {
        Self::start(pool, begin, health, map_err, false).await
    }

    /// [`Self::begin`] for the probe, which runs during an episode.
    pub async fn begin_probe(
        pool: &Pool<DB>,
        begin: &'static str,
        health: &Arc<WriteHealth>,
        map_err: fn(sqlx::Error) -> StoreError,
    ) -> StoreResult<Self> {
        Self::start(pool, begin, health, map_err, true).await
    }

    async fn start(
        pool: &Pool<DB>,
        begin: &'static str,
        health: &Arc<WriteHealth>,
        map_err: fn(sqlx::Error) -> StoreError,
        is_probe: bool,
    ) -> StoreResult<Self> {
        let conn = health.note(pool.acquire().await.map_err(map_err))?;
        if let (false, Some(problem)) = (is_probe, health.problem()) {
            return Err(StoreError::Unavailable(problem));
        }
        let mut tx = Self {
            conn,
            is_committed: false,
            health: Arc::clone(health),
            map_err,
            hold: None,
        };
        let begun = tx.conn.execute(begin).await.map(|_| ()).map_err(map_err);
        health.note(begun)?;
        Ok(tx)
    }

    /// Keeps `guard` until the transaction ends.
    pub fn holding(mut self, guard: tokio::sync::OwnedMutexGuard<()>) -> Self {
        self.hold = Some(guard);
        self
    }

    /// Writes and deletes a row the size of an inbound call's writes (more
    /// than one page: a one-page write can still fit on a disk too full for
    /// a sale), and commits. The table is `write_probe` on both backends.
    pub async fn probe(mut self) -> StoreResult<()>
    where
        DB::Arguments: sqlx::IntoArguments<DB>,
        for<'q> Vec<u8>: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    {
        sqlx::query("INSERT INTO write_probe (id, filler) VALUES (1, $1)")
            .bind(vec![0xa5u8; PROBE_BYTES])
            .execute(&mut *self.conn)
            .await
            .map_err(self.map_err)?;
        sqlx::query("DELETE FROM write_probe")
            .execute(&mut *self.conn)
            .await
            .map_err(self.map_err)?;
        self.commit().await
    }

    /// Commits. Only an `Ok` here means the writes are durable; on an error
    /// the connection is closed (its transaction may still be open, or may
    /// have been rolled back by the database: either way it is discarded).
    pub async fn commit(mut self) -> StoreResult<()> {
        let committed = self
            .conn
            .execute("COMMIT")
            .await
            .map(|_| ())
            .map_err(self.map_err);
        self.is_committed = committed.is_ok();
        self.health.note(committed)
    }
}

impl<DB: Database> Drop for WriteTx<DB> {
    fn drop(&mut self) {
        if !self.is_committed {
            // Rolling back here would need an await; closing the connection
            // rolls back too, and guarantees the next call gets a clean one.
            self.conn.close_on_drop();
        }
    }
}

impl<DB: Database> Deref for WriteTx<DB> {
    type Target = DB::Connection;

    fn deref(&self) -> &Self::Target {
        &self.conn
    }
}

impl<DB: Database> DerefMut for WriteTx<DB> {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.conn
    }
}
