//! The writes of a ledger unit that nothing in it reads back (new grants
//! and their transaction links, outbound events and their deliveries, the
//! call's log entry), held in memory and sent to PostgreSQL together: one
//! statement of data-modifying `WITH` parts, each inserting its table's rows
//! from arrays (`UNNEST`), so its text is the same whatever the counts and
//! it stays prepared (one text for each set of tables with rows). An
//! approval went from 19 round trips to 10 with it (issue 9); five now,
//! with the claim and the student in one statement (`ledger.rs`).
//!
//! [`super::ledger::PgLedgerTx`] flushes before any statement that touches
//! one of these tables, and before `COMMIT`; the statements that run
//! between (locks, the processed-event claim, students, endpoints,
//! category members) never read them. Foreign keys between the parts (a
//! delivery's event, a link's grant, a log detail's entry) are checked at
//! the end of the statement, when every part's rows are there.

use sqlx::PgConnection;

use super::{map_err, ms};
use crate::model::Grant;
use crate::model::{Delivery, Event, GrantSource, GrantTarget, LogEntry};
use crate::storage::rows::{id_strings, to_json};
use crate::storage::StoreResult;

/// The flush's parts, one a table, each inserting its rows from arrays;
/// their parameters are numbered as [`Pending::flush`] binds them, every
/// one of them whatever parts the statement holds.
const PARTS: [&str; 6] = [
    "new_grants AS (
        INSERT INTO grants (id, workspace_id, student_id, product_id, category_id, is_manual, gateway,
            transaction_id, subscription_id, granted_at, expires_at, revoked_at, revoke_reason)
        SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::boolean[],
            $7::text[], $8::text[], $9::text[], $10::timestamptz[], $11::timestamptz[],
            $12::timestamptz[], $13::text[])
    )",
    "new_links AS (
        INSERT INTO grant_transactions (grant_id, workspace_id, gateway, transaction_id)
        SELECT * FROM UNNEST($14::text[], $15::text[], $16::text[], $17::text[])
        ON CONFLICT DO NOTHING
    )",
    "new_events AS (
        INSERT INTO events (id, workspace_id, type, payload, product_ids, created_at)
        SELECT * FROM UNNEST($18::text[], $19::text[], $20::text[], $21::text[], $22::text[],
            $23::timestamptz[])
    )",
    "new_deliveries AS (
        INSERT INTO deliveries (id, workspace_id, event_id, event_type, endpoint_id, status, attempts,
            cycle_start, next_attempt_at, lease_until, last_http_status, last_error, log_id, created_at,
            updated_at)
        SELECT * FROM UNNEST($24::text[], $25::text[], $26::text[], $27::text[], $28::text[],
            $29::text[], $30::bigint[], $31::bigint[], $32::timestamptz[], $33::timestamptz[],
            $34::bigint[], $35::text[], $36::text[], $37::timestamptz[], $38::timestamptz[])
    )",
    "new_logs AS (
        INSERT INTO log_entries (id, workspace_id, at, direction, gateway, event_type, email, status,
            http_status, duration_ms, integration_kind, integration_id, integration_name, attempts, error,
            reprocess_of)
        SELECT * FROM UNNEST($39::text[], $40::text[], $41::timestamptz[], $42::text[], $43::text[],
            $44::text[], $45::text[], $46::text[], $47::bigint[], $48::bigint[], $49::text[],
            $50::text[], $51::text[], $52::bigint[], $53::text[], $54::text[])
    )",
    "new_log_details AS (
        INSERT INTO log_details (log_id, detail)
        SELECT * FROM UNNEST($55::text[], $56::text[])
    )",
];

/// The flush of the parts whose bit is set in `parts` (bit `i`: `PARTS[i]`),
/// built once per combination. A part with no rows is left out: each part
/// costs its executor's start even with nothing to insert, and an insert
/// into `deliveries` fires its statement-level counting trigger whatever
/// it inserted. An approval with no endpoint to notify queues no event or
/// delivery (issue 9). The few combinations calls make (an approval with
/// or without events, a duplicate's log entry alone) each stay prepared.
fn flush_sql(parts: usize) -> &'static str {
    static SQL: [std::sync::OnceLock<String>; 1 << PARTS.len()] =
        [const { std::sync::OnceLock::new() }; 1 << PARTS.len()];
    SQL[parts].get_or_init(|| {
        let with: Vec<&str> = PARTS
            .iter()
            .enumerate()
            .filter(|(i, _)| parts & (1 << i) != 0)
            .map(|(_, part)| *part)
            .collect();
        format!("WITH {} SELECT 1", with.join(", "))
    })
}

/// The bits of [`flush_sql`] for the parts whose count of rows (in
/// [`PARTS`]' order) is not zero.
fn parts_with_rows(rows: [usize; PARTS.len()]) -> usize {
    rows.iter()
        .enumerate()
        .filter(|(_, n)| **n > 0)
        .fold(0, |parts, (i, _)| parts | 1 << i)
}

/// Rows waiting to be written, in the order they were written.
#[derive(Debug, Default)]
pub(super) struct Pending {
    grants: Vec<Grant>,
    /// `(grant_id, workspace_id, gateway, transaction_id)`.
    links: Vec<[String; 4]>,
    events: Vec<Event>,
    deliveries: Vec<Delivery>,
    logs: Vec<LogEntry>,
}

impl Pending {
    /// A new grant, with its transaction link when it came from a sale.
    pub(super) fn grant(&mut self, g: &Grant) {
        if let GrantSource::Gateway {
            gateway,
            transaction_id,
            ..
        } = &g.source
        {
            self.links.push([
                g.id.to_string(),
                g.workspace_id.to_string(),
                gateway.as_str().to_string(),
                transaction_id.clone(),
            ]);
        }
        self.grants.push(g.clone());
    }

    pub(super) fn event(&mut self, e: &Event) {
        self.events.push(e.clone());
    }

    pub(super) fn delivery(&mut self, d: &Delivery) {
        self.deliveries.push(d.clone());
    }

    pub(super) fn log(&mut self, e: &LogEntry) {
        self.logs.push(e.clone());
    }

    fn is_empty(&self) -> bool {
        self.grants.is_empty()
            && self.links.is_empty()
            && self.events.is_empty()
            && self.deliveries.is_empty()
            && self.logs.is_empty()
    }

    /// Writes everything held, in one statement, and forgets it.
    pub(super) async fn flush(&mut self, conn: &mut PgConnection) -> StoreResult<()> {
        if self.is_empty() {
            return Ok(());
        }
        let Self {
            grants: g,
            links,
            events: e,
            deliveries: d,
            logs: l,
        } = std::mem::take(self);
        let text = |s: &str| s.to_string();
        let product = |g: &Grant| match &g.target {
            GrantTarget::Product(p) => Some(p.to_string()),
            GrantTarget::Category(_) => None,
        };
        let category = |g: &Grant| match &g.target {
            GrantTarget::Product(_) => None,
            GrantTarget::Category(c) => Some(c.to_string()),
        };
        let sale = |g: &Grant| match &g.source {
            GrantSource::Gateway {
                gateway,
                transaction_id,
                subscription_id,
            } => (
                Some(gateway.as_str().to_string()),
                Some(transaction_id.clone()),
                subscription_id.clone(),
            ),
            GrantSource::Manual => (None, None, None),
        };
        let parts = parts_with_rows([g.len(), links.len(), e.len(), d.len(), l.len(), l.len()]);
        let query = sqlx::query(flush_sql(parts))
            .bind(col(&g, |g| text(g.id.as_str())))
            .bind(col(&g, |g| text(g.workspace_id.as_str())))
            .bind(col(&g, |g| text(g.student_id.as_str())))
            .bind(col(&g, product))
            .bind(col(&g, category))
            .bind(col(&g, |g| matches!(g.source, GrantSource::Manual)))
            .bind(col(&g, |g| sale(g).0))
            .bind(col(&g, |g| sale(g).1))
            .bind(col(&g, |g| sale(g).2))
            .bind(col(&g, |g| ms(g.granted_at)))
            .bind(col(&g, |g| g.expires_at.map(ms)))
            .bind(col(&g, |g| g.revoked_at.map(ms)))
            .bind(col(&g, |g| g.revoke_reason.clone()))
            .bind(col(&links, |l| l[0].clone()))
            .bind(col(&links, |l| l[1].clone()))
            .bind(col(&links, |l| l[2].clone()))
            .bind(col(&links, |l| l[3].clone()))
            .bind(col(&e, |e| text(e.id.as_str())))
            .bind(col(&e, |e| text(e.workspace_id.as_str())))
            .bind(col(&e, |e| e.event_type.clone()))
            .bind(col(&e, |e| to_json(&e.payload)))
            .bind(col(&e, |e| to_json(&id_strings(&e.product_ids))))
            .bind(col(&e, |e| ms(e.created_at)))
            .bind(col(&d, |d| text(d.id.as_str())))
            .bind(col(&d, |d| text(d.workspace_id.as_str())))
            .bind(col(&d, |d| text(d.event_id.as_str())))
            .bind(col(&d, |d| d.event_type.clone()))
            .bind(col(&d, |d| text(d.endpoint_id.as_str())))
            .bind(col(&d, |d| text(d.status.as_str())))
            .bind(col(&d, |d| i64::from(d.attempts)))
            .bind(col(&d, |d| i64::from(d.cycle_start)))
            .bind(col(&d, |d| d.next_attempt_at.map(ms)))
            .bind(col(&d, |d| d.lease_until.map(ms)))
            .bind(col(&d, |d| d.last_http_status.map(i64::from)))
            .bind(col(&d, |d| d.last_error.clone()))
            .bind(col(&d, |d| text(d.log_id.as_str())))
            .bind(col(&d, |d| ms(d.created_at)))
            .bind(col(&d, |d| ms(d.updated_at)));
        let logs: Vec<&LogEntry> = l.iter().collect();
        bind_log_columns(query, &logs)
            .bind(col(&l, |l| {
                l.reprocess_of.as_ref().map(|id| text(id.as_str()))
            }))
            .bind(col(&l, |l| text(l.id.as_str())))
            .bind(col(&l, |l| to_json(&l.detail)))
            .execute(conn)
            .await
            .map_err(map_err)?;
        Ok(())
    }
}

/// A statement being bound.
pub(super) type PgQuery<'q> = sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments>;

/// The columns of log entries both writers of them send as arrays, in
/// order: `id`, `workspace_id`, `at`, `direction`, `gateway`,
/// `event_type`, `email`, `status`, `http_status`, `duration_ms`, the
/// integration's `kind`, `id` and `name`, `attempts`, `error` (the flush
/// here, and the delivery record in `outbound.rs`).
pub(super) fn bind_log_columns<'q>(query: PgQuery<'q>, l: &[&LogEntry]) -> PgQuery<'q> {
    let text = |s: &str| s.to_string();
    query
        .bind(col(l, |l| text(l.id.as_str())))
        .bind(col(l, |l| text(l.workspace_id.as_str())))
        .bind(col(l, |l| ms(l.at)))
        .bind(col(l, |l| text(l.direction.as_str())))
        .bind(col(l, |l| l.gateway.map(|g| text(g.as_str()))))
        .bind(col(l, |l| l.event_type.clone()))
        .bind(col(l, |l| l.email.clone()))
        .bind(col(l, |l| text(l.status.as_str())))
        .bind(col(l, |l| i64::from(l.http_status)))
        .bind(col(l, |l| l.duration_ms))
        .bind(col(l, |l| l.integration.kind.clone()))
        .bind(col(l, |l| l.integration.id.clone()))
        .bind(col(l, |l| l.integration.name.clone()))
        .bind(col(l, |l| i64::from(l.attempts)))
        .bind(col(l, |l| l.error.clone()))
}

/// One column of `rows`, as the array `UNNEST` reads.
pub(super) fn col<T, U>(rows: &[T], f: impl Fn(&T) -> U) -> Vec<U> {
    rows.iter().map(f).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_flush_holds_only_the_parts_with_rows() {
        let approval = flush_sql(parts_with_rows([2, 2, 0, 0, 1, 1]));
        for table in ["grants", "grant_transactions", "log_entries", "log_details"] {
            assert!(
                approval.contains(&format!("INSERT INTO {table} (")),
                "{table}"
            );
        }
        for table in ["events", "deliveries"] {
            assert!(
                !approval.contains(&format!("INSERT INTO {table} (")),
                "{table}"
            );
        }
        let notified = flush_sql(parts_with_rows([2, 2, 3, 30, 1, 1]));
        assert_eq!(notified.matches("INSERT INTO").count(), PARTS.len());
        let duplicate = flush_sql(parts_with_rows([0, 0, 0, 0, 1, 1]));
        assert_eq!(duplicate.matches("INSERT INTO").count(), 2);
        assert!(duplicate.starts_with("WITH new_logs AS ("));
    }
}
