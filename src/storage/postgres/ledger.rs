//! PostgreSQL: the access ledger (one write transaction per call), processed
//! inbound events and log entries. The read side is `storage::sql::students`,
//! whose connection functions the transaction here runs too.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::{AssertSqlSafe, PgConnection, Postgres};

use crate::storage::config_cache::ConfigCache;
use crate::storage::write::WriteTx;

use super::pending::{Pending, PgQuery};
use super::{
    category_products, enabled_endpoints, map_err, ms, sale_grants, transaction_has_status, PgStore,
};
use crate::ids::{CategoryId, GrantId, ProductId, StudentId, WorkspaceId};
use crate::model::{
    CanonicalStatus, CustomerLookup, Delivery, Endpoint, Event, GatewayKind, Grant, LogEntry,
    Student,
};
use crate::storage::rows;
use crate::storage::{
    placeholders, LedgerStore, LedgerTx, ProcessedEvent, StoreError, StoreResult,
    GRANTS_FOR_SUBSCRIPTION, GRANTS_FOR_TRANSACTION, INSERT_LINK, TRANSACTION_STATUSES,
};

pub(super) async fn insert_log(conn: &mut PgConnection, e: &LogEntry) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO log_entries (id, workspace_id, at, direction, gateway, event_type, email, status,
             http_status, duration_ms, integration_kind, integration_id, integration_name, attempts, error,
             reprocess_of)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)",
    )
    .bind(e.id.as_str())
    .bind(e.workspace_id.as_str())
    .bind(ms(e.at))
    .bind(e.direction.as_str())
    .bind(e.gateway.map(|g| g.as_str()))
    .bind(e.event_type.as_deref())
    .bind(e.email.as_deref())
    .bind(e.status.as_str())
    .bind(i64::from(e.http_status))
    .bind(e.duration_ms)
    .bind(&e.integration.kind)
    .bind(e.integration.id.as_deref())
    .bind(&e.integration.name)
    .bind(i64::from(e.attempts))
    .bind(e.error.as_deref())
    .bind(e.reprocess_of.as_ref().map(|id| id.as_str()))
    .execute(&mut *conn)
    .await
    .map_err(map_err)?;
    sqlx::query("INSERT INTO log_details (log_id, detail) VALUES ($1, $2)")
        .bind(e.id.as_str())
        .bind(rows::to_json(&e.detail))
        .execute(&mut *conn)
        .await
        .map_err(map_err)?;
    Ok(())
}

/// `SELECT f($p[1]) <sep> f($p[2]) ...` for the array parameter `$p`:
/// PostgreSQL evaluates a target list left to right, so the locks are taken
/// in the array's order.
fn advisory_locks(function: &str, param: usize, n: usize, separator: &str) -> String {
    let calls: Vec<String> = (1..=n)
        .map(|i| format!("{function}(${param}[{i}])"))
        .collect();
    format!("SELECT {}", calls.join(separator))
}

/// The processed-event claim, `$1` to `$8` ([`bind_claim`]); `{rows}` is
/// `VALUES (...)` or a `SELECT` of them from the locks.
const CLAIM: &str = "
    INSERT INTO processed_events (workspace_id, gateway, reference, status, transaction_id,
        subscription_id, log_id, processed_at)
    {rows}
    ON CONFLICT DO NOTHING";

fn bind_claim<'q>(query: PgQuery<'q>, e: &'q ProcessedEvent) -> PgQuery<'q> {
    query
        .bind(e.workspace_id.as_str())
        .bind(e.gateway.as_str())
        .bind(&e.reference)
        .bind(e.status.as_str())
        .bind(e.transaction_id.as_deref())
        .bind(e.subscription_id.as_deref())
        .bind(e.log_id.as_str())
        .bind(ms(e.processed_at))
}

/// A new student's row, `$1` to `$9` ([`bind_student`]), unless one with
/// its e-mail exists.
const INSERT_STUDENT: &str = "
    INSERT INTO students (id, workspace_id, email, name, phone, document, status, created_at, updated_at)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
    ON CONFLICT (workspace_id, email) DO NOTHING";

fn bind_student<'q>(query: PgQuery<'q>, s: &'q Student) -> PgQuery<'q> {
    query
        .bind(s.id.as_str())
        .bind(s.workspace_id.as_str())
        .bind(&s.email)
        .bind(s.name.as_deref())
        .bind(s.phone.as_deref())
        .bind(s.document.as_deref())
        .bind(s.status.as_str())
        .bind(ms(s.created_at))
        .bind(ms(s.updated_at))
}

/// [`INSERT_STUDENT`], returning the student inserted or else the one
/// there (`is_new` says which). Both parts read one snapshot, taken before
/// the insert: a student another transaction committed after it is in
/// neither (the insert waited for it and did nothing), and no row comes back.
static STUDENT_OR_INSERT: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    format!(
        "WITH inserted AS ({INSERT_STUDENT} RETURNING *)
         SELECT *, TRUE AS is_new FROM inserted
         UNION ALL
         SELECT *, FALSE AS is_new FROM students WHERE workspace_id = $2 AND email = $3"
    )
});

/// The claim of `$1`–`$8` ([`bind_claim`]) after the locks of `{locks}`
/// (`$18`), and, when it is new, [`STUDENT_OR_INSERT`]'s student of
/// `$9`–`$17` ([`bind_student`] shifted by eight): one row, `claimed`
/// and the student's columns with `is_new` (all null when the claim is a
/// duplicate, or when the student was committed by another transaction
/// after the statement's snapshot, which predates the locks: then the
/// caller reads it).
const CLAIM_WITH_STUDENT: &str = "
    WITH claimed AS (
        INSERT INTO processed_events (workspace_id, gateway, reference, status, transaction_id,
            subscription_id, log_id, processed_at)
        SELECT $1, $2, $3, $4, $5, $6, $7, $8 FROM ({locks}) AS locked
        ON CONFLICT DO NOTHING
        RETURNING 1
    ), inserted AS (
        INSERT INTO students (id, workspace_id, email, name, phone, document, status, created_at,
            updated_at)
        SELECT $9, $10, $11, $12, $13, $14, $15, $16, $17 WHERE EXISTS (SELECT 1 FROM claimed)
        ON CONFLICT (workspace_id, email) DO NOTHING
        RETURNING *
    ), student AS (
        SELECT *, TRUE AS is_new FROM inserted
        UNION ALL
        SELECT *, FALSE AS is_new FROM students
        WHERE workspace_id = $10 AND email = $11 AND EXISTS (SELECT 1 FROM claimed)
    )
    SELECT EXISTS (SELECT 1 FROM claimed) AS claimed, s.*
    FROM (SELECT 1) AS one LEFT JOIN student s ON TRUE";

fn sorted_lock_keys(keys: &[String]) -> Vec<i64> {
    let mut ids: Vec<i64> = keys.iter().map(|k| super::lock_key(k)).collect();
    ids.sort_unstable();
    ids.dedup();
    ids
}

/// A write transaction on a pooled connection, with the writes nothing in
/// it reads back held until they are needed (`pending.rs`).
pub struct PgLedgerTx {
    tx: WriteTx<Postgres>,
    pending: Pending,
    /// The store's configuration cache, which keeps the enabled endpoints.
    config: std::sync::Arc<ConfigCache>,
}

impl PgLedgerTx {
    /// Sends the held writes: before a statement on a table they touch.
    async fn flush(&mut self) -> StoreResult<()> {
        self.pending.flush(&mut self.tx).await
    }
}

#[async_trait]
impl LedgerStore for PgStore {
    async fn begin(&self) -> StoreResult<Box<dyn LedgerTx>> {
        let tx = self.write_tx().await?;
        Ok(Box::new(PgLedgerTx {
            tx,
            pending: Pending::default(),
            config: std::sync::Arc::clone(&self.config),
        }))
    }
}

#[async_trait]
impl LedgerTx for PgLedgerTx {
    /// Transaction-scoped advisory locks, taken in one statement in a fixed
    /// (sorted) order so two transactions never wait on each other in a cycle.
    async fn lock_keys(&mut self, keys: &[String]) -> StoreResult<()> {
        if keys.is_empty() {
            return Ok(());
        }
        let ids = sorted_lock_keys(keys);
        sqlx::query(AssertSqlSafe(advisory_locks(
            "pg_advisory_xact_lock",
            1,
            ids.len(),
            ", ",
        )))
        .bind(ids)
        .execute(&mut *self.tx)
        .await
        .map_err(map_err)?;
        Ok(())
    }

    async fn try_lock_keys(&mut self, keys: &[String]) -> StoreResult<bool> {
        if keys.is_empty() {
            return Ok(true);
        }
        let ids = sorted_lock_keys(keys);
        let sql = advisory_locks("pg_try_advisory_xact_lock", 1, ids.len(), " AND ");
        let (held,): (bool,) = sqlx::query_as(AssertSqlSafe(sql))
            .bind(ids)
            .fetch_one(&mut *self.tx)
            .await
            .map_err(map_err)?;
        Ok(held)
    }

    async fn claim_event(&mut self, e: &ProcessedEvent) -> StoreResult<bool> {
        let sql = CLAIM.replace("{rows}", "VALUES ($1, $2, $3, $4, $5, $6, $7, $8)");
        let result = bind_claim(sqlx::query(AssertSqlSafe(sql)), e)
            .execute(&mut *self.tx)
            .await
            .map_err(map_err)?;
        Ok(result.rows_affected() == 1)
    }

    /// One statement: the claim's row is selected from the locks, so they
    /// are held before it is inserted. The insert reads nothing the lock
    /// holder wrote (a conflict is found whatever the snapshot: the unique
    /// index is checked against every committed row), and the statements
    /// after it take snapshots of their own, after the locks.
    async fn lock_and_claim(&mut self, keys: &[String], e: &ProcessedEvent) -> StoreResult<bool> {
        if keys.is_empty() {
            return self.claim_event(e).await;
        }
        let ids = sorted_lock_keys(keys);
        let locks = advisory_locks("pg_advisory_xact_lock", 9, ids.len(), ", ");
        let rows = format!("SELECT $1, $2, $3, $4, $5, $6, $7, $8 FROM ({locks}) AS locked");
        let sql = CLAIM.replace("{rows}", &rows);
        let result = bind_claim(sqlx::query(AssertSqlSafe(sql)), e)
            .bind(ids)
            .execute(&mut *self.tx)
            .await
            .map_err(map_err)?;
        Ok(result.rows_affected() == 1)
    }

    /// One statement ([`CLAIM_WITH_STUDENT`]) instead of two; when its
    /// student part comes back empty for a new claim, one more reads the
    /// student (or writes it, if it went meanwhile).
    async fn claim_with_student(
        &mut self,
        keys: &[String],
        e: &ProcessedEvent,
        candidate: &Student,
    ) -> StoreResult<Option<(Student, bool)>> {
        let ids = sorted_lock_keys(keys);
        let locks = if ids.is_empty() {
            "SELECT 1".to_string()
        } else {
            advisory_locks("pg_advisory_xact_lock", 18, ids.len(), ", ")
        };
        let sql = CLAIM_WITH_STUDENT.replace("{locks}", &locks);
        let row = bind_student(bind_claim(sqlx::query(AssertSqlSafe(sql)), e), candidate)
            .bind(ids)
            .fetch_one(&mut *self.tx)
            .await
            .map_err(map_err)?;
        let claimed: bool = sqlx::Row::try_get(&row, "claimed").map_err(map_err)?;
        if !claimed {
            return Ok(None);
        }
        let is_new: Option<bool> = sqlx::Row::try_get(&row, "is_new").map_err(map_err)?;
        match is_new {
            Some(is_new) => Ok(Some((rows::student(&row)?, is_new))),
            None => self.student_or_insert(candidate).await.map(Some),
        }
    }

    async fn transaction_has_status(
        &mut self,
        ws: &WorkspaceId,
        gw: GatewayKind,
        transaction_id: &str,
        statuses: &[CanonicalStatus],
    ) -> StoreResult<bool> {
        transaction_has_status(&mut self.tx, ws, gw, transaction_id, statuses).await
    }

    async fn student_by_email(
        &mut self,
        ws: &WorkspaceId,
        email: &str,
    ) -> StoreResult<Option<Student>> {
        let row = sqlx::query("SELECT * FROM students WHERE workspace_id = $1 AND email = $2")
            .bind(ws.as_str())
            .bind(email)
            .fetch_optional(&mut *self.tx)
            .await
            .map_err(map_err)?;
        row.as_ref().map(rows::student).transpose()
    }

    async fn insert_student(&mut self, s: &Student) -> StoreResult<bool> {
        let result = bind_student(sqlx::query(INSERT_STUDENT), s)
            .execute(&mut *self.tx)
            .await
            .map_err(map_err)?;
        Ok(result.rows_affected() == 1)
    }

    /// One statement ([`STUDENT_OR_INSERT`]); when it returns nothing (the
    /// student was created meanwhile by another transaction), one more
    /// reads it.
    async fn student_or_insert(&mut self, candidate: &Student) -> StoreResult<(Student, bool)> {
        let row = bind_student(
            sqlx::query(AssertSqlSafe(STUDENT_OR_INSERT.as_str())),
            candidate,
        )
        .fetch_optional(&mut *self.tx)
        .await
        .map_err(map_err)?;
        if let Some(row) = row {
            let is_new: bool = sqlx::Row::try_get(&row, "is_new").map_err(map_err)?;
            return Ok((rows::student(&row)?, is_new));
        }
        let ws = &candidate.workspace_id;
        let existing = self.student_by_email(ws, &candidate.email).await?;
        Ok((existing.ok_or(StoreError::NotFound)?, false))
    }

    /// One statement: the count of `statuses`, joined to the grants.
    async fn transaction_grants_unless(
        &mut self,
        ws: &WorkspaceId,
        gw: GatewayKind,
        transaction_id: &str,
        statuses: &[CanonicalStatus],
        now: DateTime<Utc>,
    ) -> StoreResult<Option<Vec<Grant>>> {
        self.flush().await?;
        let reversed = TRANSACTION_STATUSES.replace("{statuses}", &placeholders(5, statuses.len()));
        let sql = format!(
            "SELECT s.n AS status_count, g.* FROM ({reversed}) s
             LEFT JOIN ({GRANTS_FOR_TRANSACTION}) g ON TRUE
             ORDER BY g.granted_at, g.id"
        );
        let mut query = sqlx::query(AssertSqlSafe(sql))
            .bind(ws.as_str())
            .bind(gw.as_str())
            .bind(transaction_id)
            .bind(ms(now));
        for status in statuses {
            query = query.bind(status.as_str());
        }
        let found = query.fetch_all(&mut *self.tx).await.map_err(map_err)?;
        let mut grants = Vec::with_capacity(found.len());
        for row in &found {
            let n: i64 = sqlx::Row::try_get(row, "status_count").map_err(map_err)?;
            if n > 0 {
                return Ok(None);
            }
            let id: Option<String> = sqlx::Row::try_get(row, "id").map_err(map_err)?;
            if id.is_some() {
                grants.push(rows::grant(row)?);
            }
        }
        Ok(Some(grants))
    }

    async fn update_student(&mut self, s: &Student) -> StoreResult<()> {
        sqlx::query(
            "UPDATE students SET name = $1, phone = $2, document = $3, status = $4, updated_at = $5
             WHERE workspace_id = $6 AND id = $7",
        )
        .bind(s.name.as_deref())
        .bind(s.phone.as_deref())
        .bind(s.document.as_deref())
        .bind(s.status.as_str())
        .bind(ms(s.updated_at))
        .bind(s.workspace_id.as_str())
        .bind(s.id.as_str())
        .execute(&mut *self.tx)
        .await
        .map_err(map_err)?;
        Ok(())
    }

    async fn grants_for_transaction(
        &mut self,
        ws: &WorkspaceId,
        gw: GatewayKind,
        transaction_id: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<Vec<Grant>> {
        self.flush().await?;
        sale_grants(
            &mut self.tx,
            GRANTS_FOR_TRANSACTION,
            ws,
            gw,
            transaction_id,
            now,
        )
        .await
    }

    async fn grants_for_subscription(
        &mut self,
        ws: &WorkspaceId,
        gw: GatewayKind,
        subscription_id: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<Vec<Grant>> {
        self.flush().await?;
        sale_grants(
            &mut self.tx,
            GRANTS_FOR_SUBSCRIPTION,
            ws,
            gw,
            subscription_id,
            now,
        )
        .await
    }

    async fn get_grant(&mut self, ws: &WorkspaceId, id: &GrantId) -> StoreResult<Grant> {
        self.flush().await?;
        let row = sqlx::query("SELECT * FROM grants WHERE workspace_id = $1 AND id = $2")
            .bind(ws.as_str())
            .bind(id.as_str())
            .fetch_one(&mut *self.tx)
            .await
            .map_err(map_err)?;
        rows::grant(&row)
    }

    async fn insert_grant(&mut self, g: &Grant) -> StoreResult<()> {
        self.pending.grant(g);
        Ok(())
    }

    async fn link_grant_transaction(
        &mut self,
        grant: &Grant,
        gw: GatewayKind,
        transaction_id: &str,
    ) -> StoreResult<()> {
        self.flush().await?;
        sqlx::query(INSERT_LINK)
            .bind(grant.id.as_str())
            .bind(grant.workspace_id.as_str())
            .bind(gw.as_str())
            .bind(transaction_id)
            .execute(&mut *self.tx)
            .await
            .map_err(map_err)?;
        Ok(())
    }

    async fn set_grant_expiry(
        &mut self,
        grant: &GrantId,
        expires_at: Option<DateTime<Utc>>,
    ) -> StoreResult<()> {
        self.flush().await?;
        sqlx::query("UPDATE grants SET expires_at = $1 WHERE id = $2")
            .bind(expires_at.map(ms))
            .bind(grant.as_str())
            .execute(&mut *self.tx)
            .await
            .map_err(map_err)?;
        Ok(())
    }

    async fn revoke_grant(
        &mut self,
        grant: &GrantId,
        at: DateTime<Utc>,
        reason: &str,
    ) -> StoreResult<bool> {
        self.flush().await?;
        let result = sqlx::query(
            "UPDATE grants SET revoked_at = $1, revoke_reason = $2 WHERE id = $3 AND revoked_at IS NULL",
        )
        .bind(ms(at))
        .bind(reason)
        .bind(grant.as_str())
        .execute(&mut *self.tx)
        .await
        .map_err(map_err)?;
        Ok(result.rows_affected() == 1)
    }

    async fn due_expired_grants(
        &mut self,
        now: DateTime<Utc>,
        limit: u32,
    ) -> StoreResult<Vec<Grant>> {
        self.flush().await?;
        let rows = sqlx::query(
            "SELECT * FROM grants WHERE revoked_at IS NULL AND expires_at IS NOT NULL AND expires_at <= $1
             ORDER BY expires_at, id LIMIT $2",
        )
        .bind(ms(now))
        .bind(i64::from(limit))
        .fetch_all(&mut *self.tx)
        .await
        .map_err(map_err)?;
        rows.iter().map(rows::grant).collect()
    }

    async fn insert_lookup(&mut self, lookup: &CustomerLookup) -> StoreResult<()> {
        self.flush().await?;
        super::lookups::insert_lookup(&mut self.tx, lookup).await
    }

    async fn insert_log(&mut self, entry: &LogEntry) -> StoreResult<()> {
        self.pending.log(entry);
        Ok(())
    }

    async fn get_student(&mut self, ws: &WorkspaceId, id: &StudentId) -> StoreResult<Student> {
        let row = sqlx::query("SELECT * FROM students WHERE workspace_id = $1 AND id = $2")
            .bind(ws.as_str())
            .bind(id.as_str())
            .fetch_one(&mut *self.tx)
            .await
            .map_err(map_err)?;
        rows::student(&row)
    }

    async fn category_products(
        &mut self,
        ws: &WorkspaceId,
        categories: &[CategoryId],
    ) -> StoreResult<Vec<(CategoryId, ProductId)>> {
        category_products(&mut self.tx, ws, categories).await
    }

    /// From the configuration cache, else [`enabled_endpoints`]: every
    /// approval fans out, and this was a round trip of each. The cache is
    /// emptied when an endpoint is added, removed, enabled or disabled, or
    /// its filters change (by any instance, `NOTIFY gancho_config`).
    /// Fan-out reads only the ids and filters; the rest of a cached row
    /// (health, secret) is as it was read, and the worker reads an endpoint
    /// afresh when it sends. SQLite reads them in its unit of work instead
    /// (a prepared statement on the writer's thread): through the cache,
    /// its inbound calls were slower in 8 and 9 of 10 alternating pairs.
    async fn enabled_endpoints(&mut self, ws: &WorkspaceId) -> StoreResult<Vec<Endpoint>> {
        let config = std::sync::Arc::clone(&self.config);
        config
            .get_or_load(
                format!("enabled_endpoints:{ws}"),
                enabled_endpoints(&mut self.tx, ws),
            )
            .await
    }

    async fn insert_event(&mut self, event: &Event) -> StoreResult<()> {
        self.pending.event(event);
        Ok(())
    }

    async fn insert_delivery(&mut self, delivery: &Delivery) -> StoreResult<()> {
        self.pending.delivery(delivery);
        Ok(())
    }

    async fn commit(mut self: Box<Self>) -> StoreResult<()> {
        self.flush().await?;
        self.tx.commit().await
    }
}
