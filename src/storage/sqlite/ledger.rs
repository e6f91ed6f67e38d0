//! SQLite: the access ledger (one unit of work per call, group-committed on
//! the writer connection), processed inbound events and log entries. The
//! read side is `storage::sql::students`.

use super::group::Unit;
use async_trait::async_trait;
use chrono::{DateTime, Utc};

use rusqlite::types::ToSql;
use rusqlite::Connection;

use super::writer;
use super::{ms, parse_id, SqliteStore};
use crate::ids::{CategoryId, GrantId, ProductId, StudentId, WorkspaceId};
use crate::model::{
    CanonicalStatus, CustomerLookup, Delivery, Endpoint, Event, GatewayKind, Grant, GrantSource,
    GrantTarget, LogEntry, Student,
};
use crate::storage::rows::{self, id_strings, to_json, RowRead};
use crate::storage::{
    placeholders, LedgerStore, LedgerTx, ProcessedEvent, StoreResult, CATEGORY_PRODUCTS,
    ENABLED_ENDPOINTS, GRANTS_FOR_SUBSCRIPTION, GRANTS_FOR_TRANSACTION, INSERT_LINK, INSERT_LOOKUP,
    TRANSACTION_STATUSES,
};

/// One call's unit of work, group-committed with its neighbours
/// (`group.rs`) on the writer connection (`writer.rs`): every statement
/// runs right here, on the calling task's thread.
pub struct SqliteLedgerTx {
    tx: Unit,
}

#[async_trait]
impl LedgerStore for SqliteStore {
    async fn begin(&self) -> StoreResult<Box<dyn LedgerTx>> {
        let tx = self.group.begin().await?;
        Ok(Box::new(SqliteLedgerTx { tx }))
    }
}

const INSERT_LOG: &str = "
    INSERT INTO log_entries (id, workspace_id, at, direction, gateway, event_type, email, status,
        http_status, duration_ms, integration_kind, integration_id, integration_name, attempts, error,
        reprocess_of)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)";

/// [`INSERT_LOG`], or the update of the entry already there: an outbound
/// entry follows its delivery's latest attempt, its time and integration stay.
const UPSERT_LOG: &str = "
    INSERT INTO log_entries (id, workspace_id, at, direction, gateway, event_type, email, status,
        http_status, duration_ms, integration_kind, integration_id, integration_name, attempts, error,
        reprocess_of)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)
    ON CONFLICT (id) DO UPDATE SET status = excluded.status, http_status = excluded.http_status,
        duration_ms = excluded.duration_ms, attempts = excluded.attempts, error = excluded.error";

/// Writes a log entry and its detail on the writer connection.
pub(super) fn insert_log(conn: &Connection, e: &LogEntry) -> StoreResult<()> {
    write_log(
        conn,
        e,
        INSERT_LOG,
        "INSERT INTO log_details (log_id, detail) VALUES ($1, $2)",
    )
}

/// Writes a log entry and its detail, or updates them (an attempt's entry).
pub(super) fn upsert_log(conn: &Connection, e: &LogEntry) -> StoreResult<()> {
    write_log(
        conn,
        e,
        UPSERT_LOG,
        "INSERT INTO log_details (log_id, detail) VALUES ($1, $2)
         ON CONFLICT (log_id) DO UPDATE SET detail = excluded.detail",
    )
}

fn write_log(conn: &Connection, e: &LogEntry, entry: &str, detail: &str) -> StoreResult<()> {
    writer::execute(
        conn,
        entry,
        &[
            &e.id.as_str(),
            &e.workspace_id.as_str(),
            &ms(e.at),
            &e.direction.as_str(),
            &e.gateway.map(|g| g.as_str()),
            &e.event_type.as_deref(),
            &e.email.as_deref(),
            &e.status.as_str(),
            &i64::from(e.http_status),
            &e.duration_ms,
            &e.integration.kind,
            &e.integration.id.as_deref(),
            &e.integration.name,
            &i64::from(e.attempts),
            &e.error.as_deref(),
            &e.reprocess_of.as_ref().map(|id| id.as_str()),
        ],
    )?;
    writer::execute(conn, detail, &[&e.id.as_str(), &to_json(&e.detail)])?;
    Ok(())
}

fn grants(conn: &Connection, sql: &str, params: writer::Params<'_>) -> StoreResult<Vec<Grant>> {
    writer::query(conn, sql, params, |r| rows::grant(r))
}

impl SqliteLedgerTx {
    /// [`INSERT_LINK`] on the unit's connection: a new grant's link is
    /// written by `insert_grant` itself, without the boxed future a call
    /// through the trait's async method would make for every grant.
    fn insert_link(
        &mut self,
        grant: &Grant,
        gw: GatewayKind,
        transaction_id: &str,
    ) -> StoreResult<()> {
        writer::execute(
            self.tx.conn()?,
            INSERT_LINK,
            &[
                &grant.id.as_str(),
                &grant.workspace_id.as_str(),
                &gw.as_str(),
                &transaction_id,
            ],
        )?;
        Ok(())
    }
}

#[async_trait]
impl LedgerTx for SqliteLedgerTx {
    /// The one writer connection already runs one unit at a time.
    async fn lock_keys(&mut self, _keys: &[String]) -> StoreResult<()> {
        Ok(())
    }

    async fn try_lock_keys(&mut self, _keys: &[String]) -> StoreResult<bool> {
        Ok(true)
    }

    async fn claim_event(&mut self, e: &ProcessedEvent) -> StoreResult<bool> {
        let changed = writer::execute(
            self.tx.conn()?,
            "INSERT INTO processed_events (workspace_id, gateway, reference, status, transaction_id,
                 subscription_id, log_id, processed_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
             ON CONFLICT DO NOTHING",
            &[
                &e.workspace_id.as_str(),
                &e.gateway.as_str(),
                &e.reference,
                &e.status.as_str(),
                &e.transaction_id.as_deref(),
                &e.subscription_id.as_deref(),
                &e.log_id.as_str(),
                &ms(e.processed_at),
            ],
        )?;
        Ok(changed == 1)
    }

    async fn transaction_has_status(
        &mut self,
        ws: &WorkspaceId,
        gw: GatewayKind,
        transaction_id: &str,
        statuses: &[CanonicalStatus],
    ) -> StoreResult<bool> {
        let sql = TRANSACTION_STATUSES.replace("{statuses}", &placeholders(4, statuses.len()));
        let (ws, gw) = (ws.as_str(), gw.as_str());
        let names: Vec<&str> = statuses.iter().map(|s| s.as_str()).collect();
        let mut params: Vec<&dyn ToSql> = vec![&ws, &gw, &transaction_id];
        params.extend(names.iter().map(|n| n as &dyn ToSql));
        let n = writer::query_one(self.tx.conn()?, &sql, &params, |r| r.int("n"))?;
        Ok(n > 0)
    }

    async fn student_by_email(
        &mut self,
        ws: &WorkspaceId,
        email: &str,
    ) -> StoreResult<Option<Student>> {
        writer::query_opt(
            self.tx.conn()?,
            "SELECT * FROM students WHERE workspace_id = $1 AND email = $2",
            &[&ws.as_str(), &email],
            |r| rows::student(r),
        )
    }

    async fn insert_student(&mut self, s: &Student) -> StoreResult<bool> {
        let changed = writer::execute(
            self.tx.conn()?,
            "INSERT INTO students (id, workspace_id, email, name, phone, document, status, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
             ON CONFLICT (workspace_id, email) DO NOTHING",
            &[
                &s.id.as_str(),
                &s.workspace_id.as_str(),
                &s.email,
                &s.name.as_deref(),
                &s.phone.as_deref(),
                &s.document.as_deref(),
                &s.status.as_str(),
                &ms(s.created_at),
                &ms(s.updated_at),
            ],
        )?;
        Ok(changed == 1)
    }

    async fn update_student(&mut self, s: &Student) -> StoreResult<()> {
        writer::execute(
            self.tx.conn()?,
            "UPDATE students SET name = $1, phone = $2, document = $3, status = $4, updated_at = $5
             WHERE workspace_id = $6 AND id = $7",
            &[
                &s.name.as_deref(),
                &s.phone.as_deref(),
                &s.document.as_deref(),
                &s.status.as_str(),
                &ms(s.updated_at),
                &s.workspace_id.as_str(),
                &s.id.as_str(),
            ],
        )?;
        Ok(())
    }

    async fn grants_for_transaction(
        &mut self,
        ws: &WorkspaceId,
        gw: GatewayKind,
        transaction_id: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<Vec<Grant>> {
        grants(
            self.tx.conn()?,
            GRANTS_FOR_TRANSACTION,
            &[&ws.as_str(), &gw.as_str(), &transaction_id, &ms(now)],
        )
    }

    async fn grants_for_subscription(
        &mut self,
        ws: &WorkspaceId,
        gw: GatewayKind,
        subscription_id: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<Vec<Grant>> {
        grants(
            self.tx.conn()?,
            GRANTS_FOR_SUBSCRIPTION,
            &[&ws.as_str(), &gw.as_str(), &subscription_id, &ms(now)],
        )
    }

    async fn get_grant(&mut self, ws: &WorkspaceId, id: &GrantId) -> StoreResult<Grant> {
        writer::query_one(
            self.tx.conn()?,
            "SELECT * FROM grants WHERE workspace_id = $1 AND id = $2",
            &[&ws.as_str(), &id.as_str()],
            |r| rows::grant(r),
        )
    }

    async fn insert_grant(&mut self, g: &Grant) -> StoreResult<()> {
        let (product, category) = match &g.target {
            GrantTarget::Product(p) => (Some(p.as_str()), None),
            GrantTarget::Category(c) => (None, Some(c.as_str())),
        };
        let (is_manual, gw, transaction_id, subscription_id) = match &g.source {
            GrantSource::Manual => (true, None, None, None),
            GrantSource::Gateway {
                gateway,
                transaction_id,
                subscription_id,
            } => (
                false,
                Some(*gateway),
                Some(transaction_id.as_str()),
                subscription_id.as_deref(),
            ),
        };
        writer::execute(
            self.tx.conn()?,
            "INSERT INTO grants (id, workspace_id, student_id, product_id, category_id, is_manual, gateway,
                 transaction_id, subscription_id, granted_at, expires_at, revoked_at, revoke_reason)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
            &[
                &g.id.as_str(),
                &g.workspace_id.as_str(),
                &g.student_id.as_str(),
                &product,
                &category,
                &is_manual,
                &gw.map(|g| g.as_str()),
                &transaction_id,
                &subscription_id,
                &ms(g.granted_at),
                &g.expires_at.map(ms),
                &g.revoked_at.map(ms),
                &g.revoke_reason.as_deref(),
            ],
        )?;
        if let (Some(gw), Some(tx)) = (gw, transaction_id) {
            self.insert_link(g, gw, tx)?;
        }
        Ok(())
    }

    async fn link_grant_transaction(
        &mut self,
        grant: &Grant,
        gw: GatewayKind,
        transaction_id: &str,
    ) -> StoreResult<()> {
        self.insert_link(grant, gw, transaction_id)
    }

    async fn set_grant_expiry(
        &mut self,
        grant: &GrantId,
        expires_at: Option<DateTime<Utc>>,
    ) -> StoreResult<()> {
        writer::execute(
            self.tx.conn()?,
            "UPDATE grants SET expires_at = $1 WHERE id = $2",
            &[&expires_at.map(ms), &grant.as_str()],
        )?;
        Ok(())
    }

    async fn revoke_grant(
        &mut self,
        grant: &GrantId,
        at: DateTime<Utc>,
        reason: &str,
    ) -> StoreResult<bool> {
        let changed = writer::execute(
            self.tx.conn()?,
            "UPDATE grants SET revoked_at = $1, revoke_reason = $2 WHERE id = $3 AND revoked_at IS NULL",
            &[&ms(at), &reason, &grant.as_str()],
        )?;
        Ok(changed == 1)
    }

    async fn due_expired_grants(
        &mut self,
        now: DateTime<Utc>,
        limit: u32,
    ) -> StoreResult<Vec<Grant>> {
        grants(
            self.tx.conn()?,
            "SELECT * FROM grants WHERE revoked_at IS NULL AND expires_at IS NOT NULL AND expires_at <= $1
             ORDER BY expires_at, id LIMIT $2",
            &[&ms(now), &i64::from(limit)],
        )
    }

    async fn insert_lookup(&mut self, l: &CustomerLookup) -> StoreResult<()> {
        writer::execute(
            self.tx.conn()?,
            INSERT_LOOKUP,
            &[
                &l.log_id.as_str(),
                &l.workspace_id.as_str(),
                &l.key_id.as_str(),
                &l.gateway.as_str(),
                &l.customer_ref,
                &i64::from(l.attempts),
                &ms(l.next_attempt_at),
                &l.last_error.as_deref(),
                &ms(l.created_at),
            ],
        )?;
        Ok(())
    }

    async fn insert_log(&mut self, entry: &LogEntry) -> StoreResult<()> {
        insert_log(self.tx.conn()?, entry)
    }

    async fn get_student(&mut self, ws: &WorkspaceId, id: &StudentId) -> StoreResult<Student> {
        writer::query_one(
            self.tx.conn()?,
            "SELECT * FROM students WHERE workspace_id = $1 AND id = $2",
            &[&ws.as_str(), &id.as_str()],
            |r| rows::student(r),
        )
    }

    async fn category_products(
        &mut self,
        ws: &WorkspaceId,
        categories: &[CategoryId],
    ) -> StoreResult<Vec<(CategoryId, ProductId)>> {
        if categories.is_empty() {
            return Ok(Vec::new());
        }
        let sql = CATEGORY_PRODUCTS.replace("{categories}", &placeholders(2, categories.len()));
        let ws = ws.as_str();
        let ids: Vec<&str> = categories.iter().map(|c| c.as_str()).collect();
        let mut params: Vec<&dyn ToSql> = vec![&ws];
        params.extend(ids.iter().map(|c| c as &dyn ToSql));
        writer::query(self.tx.conn()?, &sql, &params, |r| {
            Ok((
                parse_id(&r.text("category_id")?, CategoryId::parse)?,
                parse_id(&r.text("product_id")?, ProductId::parse)?,
            ))
        })
    }

    async fn enabled_endpoints(&mut self, ws: &WorkspaceId) -> StoreResult<Vec<Endpoint>> {
        writer::query(self.tx.conn()?, ENABLED_ENDPOINTS, &[&ws.as_str()], |r| {
            rows::endpoint(r)
        })
    }

    async fn insert_event(&mut self, e: &Event) -> StoreResult<()> {
        writer::execute(
            self.tx.conn()?,
            "INSERT INTO events (id, workspace_id, type, payload, product_ids, created_at)
             VALUES ($1, $2, $3, $4, $5, $6)",
            &[
                &e.id.as_str(),
                &e.workspace_id.as_str(),
                &e.event_type,
                &to_json(&e.payload),
                &to_json(&id_strings(&e.product_ids)),
                &ms(e.created_at),
            ],
        )?;
        Ok(())
    }

    async fn insert_delivery(&mut self, d: &Delivery) -> StoreResult<()> {
        writer::execute(
            self.tx.conn()?,
            "INSERT INTO deliveries (id, workspace_id, event_id, event_type, endpoint_id, status, attempts,
                 cycle_start, next_attempt_at, lease_until, last_http_status, last_error, log_id, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)",
            &[
                &d.id.as_str(),
                &d.workspace_id.as_str(),
                &d.event_id.as_str(),
                &d.event_type,
                &d.endpoint_id.as_str(),
                &d.status.as_str(),
                &i64::from(d.attempts),
                &i64::from(d.cycle_start),
                &d.next_attempt_at.map(ms),
                &d.lease_until.map(ms),
                &d.last_http_status.map(i64::from),
                &d.last_error.as_deref(),
                &d.log_id.as_str(),
                &ms(d.created_at),
                &ms(d.updated_at),
            ],
        )?;
        Ok(())
    }

    async fn commit(self: Box<Self>) -> StoreResult<()> {
        self.tx.commit().await
    }
}
