//! The storage traits, split by capability, and the `Store` that joins them
//! (STYLE.md § 2). Capability code asks for the narrowest trait it needs.
//! Backends live in `sqlite/` and `postgres/`, the queries they share in
//! `sql/`; `app.rs` picks one from `Config::database_url`.

pub mod config_cache;
pub mod copy;
pub(crate) mod lookups;
pub mod migrations;
pub mod postgres;
pub mod rows;
pub mod secrets;
mod sql;
pub mod sqlite;
pub mod write;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::ids::{
    ApiKeyId, CategoryId, DeliveryId, EndpointId, EventId, GrantId, InboundUrlId, KeyId, LogId,
    ProductId, StudentId, WorkspaceId,
};
use crate::model::{
    ApiKey, Attempt, CanonicalStatus, Category, CustomerLookup, Delivery, Direction, Endpoint,
    Event, GatewayKey, GatewayKind, Grant, InboundUrl, LogEntry, LogStatus, Product, Student,
    Workspace,
};

/// Errors every backend maps its own into.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("not found")]
    NotFound,
    /// A unique constraint was violated; the name says which.
    #[error("conflict: {0}")]
    Conflict(&'static str),
    /// A stored value could not be read back (a bug or a hand-edited row).
    #[error("corrupt row: {0}")]
    Corrupt(String),
    /// The database cannot serve the call right now (disk full, read-only
    /// file system, connection lost, busy): the caller answers `503` with
    /// `Retry-After`, and a retry may succeed. The text says why.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    #[error(transparent)]
    Other(#[from] sqlx::Error),
    /// From the SQLite writer connection (`storage::sqlite::writer`).
    #[error(transparent)]
    Embedded(#[from] rusqlite::Error),
}

pub type StoreResult<T> = Result<T, StoreError>;

/// Keyset pagination: rows with an id greater than `after`, at most `limit`.
#[derive(Debug, Clone, Default)]
pub struct Page {
    pub after: Option<String>,
    pub limit: u32,
}

/// Workspaces and admin API keys.
#[async_trait]
pub trait WorkspaceStore: Send + Sync {
    /// The oldest workspace, which start-up creates if there is none.
    async fn default_workspace(&self) -> StoreResult<Option<Workspace>>;
    async fn insert_workspace(&self, workspace: &Workspace) -> StoreResult<()>;
    async fn get_workspace(&self, id: &WorkspaceId) -> StoreResult<Workspace>;
    async fn workspace_by_public_id(&self, public_id: &str) -> StoreResult<Option<Workspace>>;
    async fn insert_api_key(&self, key: &ApiKey) -> StoreResult<()>;
    async fn api_key_by_hash(&self, token_hash: &str) -> StoreResult<Option<ApiKey>>;
    async fn bootstrap_api_key(&self, workspace: &WorkspaceId) -> StoreResult<Option<ApiKey>>;
    /// Replaces the hash of the bootstrap key (when `GANCHO_ADMIN_TOKEN` changes).
    async fn set_api_key_hash(&self, id: &ApiKeyId, token_hash: &str) -> StoreResult<()>;
    async fn list_api_keys(&self, ws: &WorkspaceId, page: &Page) -> StoreResult<Vec<ApiKey>>;
    /// Deletes a named key; the bootstrap key cannot be deleted (`NotFound`).
    async fn delete_api_key(&self, ws: &WorkspaceId, id: &ApiKeyId) -> StoreResult<()>;
    /// Stores an admin UI session (and drops the ones expired at its start).
    async fn insert_ui_session(&self, session: &UiSession) -> StoreResult<()>;
    /// The session with this id, if it has not expired at `now` and the key
    /// that opened it still exists with the same token.
    async fn ui_session(&self, id: &str, now: DateTime<Utc>) -> StoreResult<Option<UiSession>>;
    /// Ends a session (logout); ending one that is gone is not an error.
    async fn delete_ui_session(&self, id: &str) -> StoreResult<()>;
}

/// A live session: not expired, and its key still there with the same token.
pub(crate) const UI_SESSION: &str = "SELECT s.* FROM ui_sessions s
     JOIN api_keys k ON k.id = s.api_key_id AND k.token_hash = s.token_hash
     WHERE s.id = $1 AND s.expires_at > $2";

/// An admin UI session (`src/ui/session.rs`): `id` is the SHA-256 of the
/// cookie's value, `token_hash` the hash of the key's token at login.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UiSession {
    pub id: String,
    pub workspace_id: WorkspaceId,
    pub api_key_id: ApiKeyId,
    pub token_hash: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

/// Products and categories.
#[async_trait]
pub trait CatalogStore: Send + Sync {
    async fn insert_product(&self, product: &Product) -> StoreResult<()>;
    async fn get_product(&self, ws: &WorkspaceId, id: &ProductId) -> StoreResult<Product>;
    async fn list_products(&self, ws: &WorkspaceId, page: &Page) -> StoreResult<Vec<Product>>;
    /// Replaces name and external ids.
    async fn update_product(&self, product: &Product) -> StoreResult<()>;
    /// Deletes the product and, with it, its grants and memberships.
    async fn delete_product(&self, ws: &WorkspaceId, id: &ProductId) -> StoreResult<()>;
    /// Products whose `external_ids` contain `{gateway, external_id}`.
    async fn products_by_external_id(
        &self,
        ws: &WorkspaceId,
        gateway: GatewayKind,
        external_id: &str,
    ) -> StoreResult<Vec<ProductId>>;
    async fn insert_category(&self, category: &Category) -> StoreResult<()>;
    async fn get_category(&self, ws: &WorkspaceId, id: &CategoryId) -> StoreResult<Category>;
    async fn list_categories(&self, ws: &WorkspaceId, page: &Page) -> StoreResult<Vec<Category>>;
    /// Replaces name and product list.
    async fn update_category(&self, category: &Category) -> StoreResult<()>;
    async fn delete_category(&self, ws: &WorkspaceId, id: &CategoryId) -> StoreResult<()>;
}

/// Students and their grants, read side (writes go through [`LedgerTx`]).
#[async_trait]
pub trait StudentStore: Send + Sync {
    async fn get_student(&self, ws: &WorkspaceId, id: &StudentId) -> StoreResult<Student>;
    async fn student_by_email(&self, ws: &WorkspaceId, email: &str)
        -> StoreResult<Option<Student>>;
    async fn list_students(&self, ws: &WorkspaceId, page: &Page) -> StoreResult<Vec<Student>>;
    /// Grants of a student that are active at `now`, oldest first.
    async fn active_grants(
        &self,
        ws: &WorkspaceId,
        student: &StudentId,
        now: DateTime<Utc>,
    ) -> StoreResult<Vec<Grant>> {
        self.active_grants_of(ws, std::slice::from_ref(student), now)
            .await
    }
    /// Grants of the given students that are active at `now`, in one
    /// statement ([`ACTIVE_GRANTS`]) however many students there are:
    /// by student id, each student's oldest first.
    async fn active_grants_of(
        &self,
        ws: &WorkspaceId,
        students: &[StudentId],
        now: DateTime<Utc>,
    ) -> StoreResult<Vec<Grant>>;
    async fn get_grant(&self, ws: &WorkspaceId, id: &GrantId) -> StoreResult<Grant>;
    /// The products of the given categories, for expanding category grants.
    async fn category_products(
        &self,
        ws: &WorkspaceId,
        categories: &[CategoryId],
    ) -> StoreResult<Vec<(CategoryId, ProductId)>>;
}

/// Inbound URLs (Entrada).
#[async_trait]
pub trait InboundUrlStore: Send + Sync {
    async fn insert_inbound_url(&self, url: &InboundUrl) -> StoreResult<()>;
    async fn get_inbound_url(&self, ws: &WorkspaceId, id: &InboundUrlId)
        -> StoreResult<InboundUrl>;
    async fn inbound_url_by_slug(
        &self,
        ws: &WorkspaceId,
        slug: &str,
    ) -> StoreResult<Option<InboundUrl>>;
    async fn list_inbound_urls(
        &self,
        ws: &WorkspaceId,
        page: &Page,
    ) -> StoreResult<Vec<InboundUrl>>;
    async fn update_inbound_url(&self, url: &InboundUrl) -> StoreResult<()>;
    async fn delete_inbound_url(&self, ws: &WorkspaceId, id: &InboundUrlId) -> StoreResult<()>;
}

/// Gateway keys (Chaves).
#[async_trait]
pub trait KeyStore: Send + Sync {
    async fn insert_key(&self, key: &GatewayKey) -> StoreResult<()>;
    async fn list_keys(&self, ws: &WorkspaceId, page: &Page) -> StoreResult<Vec<GatewayKey>>;
    /// Every key of the workspace (a handful), oldest first.
    async fn all_keys(&self, ws: &WorkspaceId) -> StoreResult<Vec<GatewayKey>>;
    async fn delete_key(&self, ws: &WorkspaceId, id: &KeyId) -> StoreResult<()>;
}

/// What `GET /logs` asks for. Results are newest first: `(at, id)` descending.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LogFilter {
    pub direction: Option<Direction>,
    pub status: Option<LogStatus>,
    pub event_type: Option<String>,
    /// Lowercase, trimmed.
    pub email: Option<String>,
    /// Inclusive bounds on `at`.
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    /// Keyset cursor: only entries strictly older than this `(at, id)`.
    pub before: Option<(DateTime<Utc>, LogId)>,
    pub limit: u32,
}

/// Counts of log entries in one 15-minute UTC slot (kept by the store as
/// entries are written, so stats never scan the log).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogBucket {
    pub start: DateTime<Utc>,
    pub total: i64,
    pub success: i64,
    pub failure: i64,
    pub sum_ms: i64,
}

/// The queue panel (DESIGN.md `GET /queue`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QueueCounts {
    /// Pending, not claimed, due within the last minute or later.
    pub waiting: i64,
    /// Claimed by a worker right now.
    pub processing: i64,
    /// Pending, not claimed, due more than a minute ago.
    pub late: i64,
    pub done: i64,
    pub failed: i64,
}

/// Log entries: writing outside a ledger transaction (rejected calls),
/// search, stats, the queue panel and retention.
#[async_trait]
pub trait LogStore: Send + Sync {
    async fn insert_log(&self, entry: &LogEntry) -> StoreResult<()>;
    async fn get_log(&self, ws: &WorkspaceId, id: &LogId) -> StoreResult<LogEntry>;
    /// Summaries (no `detail`) matching the filter, newest first.
    async fn search_logs(&self, ws: &WorkspaceId, filter: &LogFilter)
        -> StoreResult<Vec<LogEntry>>;
    /// The 15-minute buckets that start in `[from, to)`.
    async fn log_buckets(
        &self,
        ws: &WorkspaceId,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> StoreResult<Vec<LogBucket>>;
    async fn queue_counts(&self, ws: &WorkspaceId, now: DateTime<Utc>) -> StoreResult<QueueCounts>;
    async fn get_event(&self, ws: &WorkspaceId, id: &EventId) -> StoreResult<Event>;
    /// Deletes up to `limit` log entries (with their details) older than `before`.
    async fn purge_logs(&self, before: DateTime<Utc>, limit: u32) -> StoreResult<u64>;
    /// Deletes up to `limit` finished deliveries (with their attempts) last
    /// touched before `before`, then events older than `before` that no
    /// delivery needs any more.
    async fn purge_deliveries(&self, before: DateTime<Utc>, limit: u32) -> StoreResult<u64>;
    /// Whether every migration this build knows has been applied.
    async fn migrations_applied(&self) -> StoreResult<bool>;
}

/// Inbound calls waiting for their buyer's details from the gateway's API
/// (`inbound::lookup`). Each row is written in the call's own ledger
/// transaction ([`LedgerTx::insert_lookup`]).
#[async_trait]
pub trait LookupStore: Send + Sync {
    /// Up to `limit` lookups due at `now`, oldest first.
    async fn due_lookups(&self, now: DateTime<Utc>, limit: u32)
        -> StoreResult<Vec<CustomerLookup>>;
    /// Records a failed attempt and when to try again.
    async fn reschedule_lookup(&self, lookup: &CustomerLookup) -> StoreResult<()>;
    /// Removes a lookup whose call has been applied.
    async fn delete_lookup(&self, log_id: &LogId) -> StoreResult<()>;
    /// How many lookups wait (for `/metrics` and tests).
    async fn count_lookups(&self) -> StoreResult<u64>;
}

/// The lookup statements, the same on both backends (`$1`… placeholders).
pub(crate) const INSERT_LOOKUP: &str = "
    INSERT INTO customer_lookups (log_id, workspace_id, key_id, gateway, customer_ref, attempts,
        next_attempt_at, last_error, created_at)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)";
pub(crate) const DUE_LOOKUPS: &str = "
    SELECT * FROM customer_lookups WHERE next_attempt_at <= $1
    ORDER BY next_attempt_at, log_id LIMIT $2";
pub(crate) const RESCHEDULE_LOOKUP: &str = "
    UPDATE customer_lookups SET attempts = $2, next_attempt_at = $3, last_error = $4
    WHERE log_id = $1";
pub(crate) const DELETE_LOOKUP: &str = "DELETE FROM customer_lookups WHERE log_id = $1";
pub(crate) const COUNT_LOOKUPS: &str = "SELECT COUNT(*) AS n FROM customer_lookups";

/// `$from, $from + 1, …`: `n` placeholders, for an `IN ({list})` of the
/// statements below.
pub(crate) fn placeholders(from: usize, n: usize) -> String {
    (from..from + n)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The grants of several students (`{students}`: their ids, `$3` on) that
/// are active at `$2`, in workspace `$1`: by student, each one's oldest
/// first. The same on both backends; a page of `GET /students` reads its
/// students' grants with this one statement.
pub(crate) const ACTIVE_GRANTS: &str = "
    SELECT * FROM grants
    WHERE workspace_id = $1 AND student_id IN ({students})
      AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > $2)
    ORDER BY student_id, granted_at, id";

/// The products of the categories `{categories}` (their ids, `$2` on) of
/// workspace `$1`, each category's in position order; the same on both backends.
pub(crate) const CATEGORY_PRODUCTS: &str = "
    SELECT cp.category_id, cp.product_id FROM category_products cp
    JOIN categories c ON c.id = cp.category_id
    WHERE c.workspace_id = $1 AND cp.category_id IN ({categories})
    ORDER BY cp.position";

/// The active grants (at `$4`) made or extended by transaction `$3` of
/// gateway `$2` in workspace `$1`, oldest first; the same on both backends,
/// in a ledger transaction and outside one ([`SaleStore`]).
pub(crate) const GRANTS_FOR_TRANSACTION: &str = "
    SELECT g.* FROM grants g JOIN grant_transactions t ON t.grant_id = g.id
    WHERE t.workspace_id = $1 AND t.gateway = $2 AND t.transaction_id = $3
      AND g.revoked_at IS NULL AND (g.expires_at IS NULL OR g.expires_at > $4)
    ORDER BY g.granted_at, g.id";

/// The active grants (at `$4`) of subscription `$3` of gateway `$2` in
/// workspace `$1`, oldest first; as [`GRANTS_FOR_TRANSACTION`].
pub(crate) const GRANTS_FOR_SUBSCRIPTION: &str = "
    SELECT * FROM grants WHERE workspace_id = $1 AND gateway = $2 AND subscription_id = $3
      AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > $4)
    ORDER BY granted_at, id";

/// Links grant `$1` of workspace `$2` to transaction `$4` of gateway `$3`
/// (`LedgerTx::link_grant_transaction`); the same on both backends.
pub(crate) const INSERT_LINK: &str = "
    INSERT INTO grant_transactions (grant_id, workspace_id, gateway, transaction_id)
    VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING";

/// How many times transaction `$3` of gateway `$2` in workspace `$1` was
/// processed with one of `{statuses}` (their names, `$4` on), as `n`.
/// Asked by the dedupe key, which for an event with a transaction id is
/// `tx:{id}` (`inbound::reference`), so the primary key answers it
/// (migration 0017 dropped the index on `transaction_id`). `status || ''`
/// keeps the statuses out of the key's search: one seek to the sale's few
/// rows, which are filtered, instead of one seek per status.
pub(crate) const TRANSACTION_STATUSES: &str = "
    SELECT COUNT(*) AS n FROM processed_events
    WHERE workspace_id = $1 AND gateway = $2 AND reference = 'tx:' || $3
      AND status || '' IN ({statuses})";

/// Whether the event with dedupe key `($1, $2, $3, $4)` was processed, as a count `n`.
pub(crate) const EVENT_PROCESSED: &str = "
    SELECT COUNT(*) AS n FROM processed_events
    WHERE workspace_id = $1 AND gateway = $2 AND reference = $3 AND status = $4";

/// The enabled endpoints of workspace `$1`, by id: where an event fans out to.
pub(crate) const ENABLED_ENDPOINTS: &str =
    "SELECT * FROM endpoints WHERE workspace_id = $1 AND is_enabled ORDER BY id";

/// The record that an inbound event was processed: its dedupe key is
/// `(workspace, gateway, reference, status)` (DESIGN.md § Inbound).
#[derive(Debug, Clone, PartialEq)]
pub struct ProcessedEvent {
    pub workspace_id: WorkspaceId,
    pub gateway: GatewayKind,
    /// `tx:<transaction id>`, else `evt:<gateway event id>`, else `sha256:<body hash>`.
    pub reference: String,
    pub status: CanonicalStatus,
    pub transaction_id: Option<String>,
    pub subscription_id: Option<String>,
    pub log_id: LogId,
    pub processed_at: DateTime<Utc>,
}

/// Opens write transactions on the ledger.
#[async_trait]
pub trait LedgerStore: Send + Sync {
    async fn begin(&self) -> StoreResult<Box<dyn LedgerTx>>;
}

/// One write transaction: inbound processing, manual grants and expiry all
/// go through it, so a call's event, effects and log entry commit together.
/// Dropping it without [`LedgerTx::commit`] rolls everything back.
#[async_trait]
pub trait LedgerTx: Send {
    /// Stores a call that waits for its buyer's details (`inbound::lookup`).
    async fn insert_lookup(&mut self, lookup: &CustomerLookup) -> StoreResult<()>;
    /// Waits until no other transaction holds any of `keys`, then holds
    /// them until this one ends: events about one sale (or subscription) are
    /// applied one at a time, across instances too, so each reads what the
    /// one before it wrote. Keys come from `inbound::access::sale_keys`. On
    /// SQLite, whose one writer runs one transaction at a time, a no-op.
    async fn lock_keys(&mut self, keys: &[String]) -> StoreResult<()>;
    /// As [`Self::lock_keys`], without waiting: `false` when another
    /// transaction holds one of them (then the caller leaves that work for later).
    async fn try_lock_keys(&mut self, keys: &[String]) -> StoreResult<bool>;
    /// Records the event as processed; `false` if it already was (a duplicate).
    /// Backed by a unique constraint, so it holds across concurrent writers.
    async fn claim_event(&mut self, event: &ProcessedEvent) -> StoreResult<bool>;
    /// Whether `(gateway, transaction)` was processed with any of `statuses`.
    async fn transaction_has_status(
        &mut self,
        ws: &WorkspaceId,
        gateway: GatewayKind,
        transaction_id: &str,
        statuses: &[CanonicalStatus],
    ) -> StoreResult<bool>;
    async fn student_by_email(
        &mut self,
        ws: &WorkspaceId,
        email: &str,
    ) -> StoreResult<Option<Student>>;
    /// Inserts the student; `false` when one with that e-mail exists (then
    /// nothing is written, and the transaction stays usable).
    async fn insert_student(&mut self, student: &Student) -> StoreResult<bool>;
    /// Writes name, phone, document, status and `updated_at`.
    async fn update_student(&mut self, student: &Student) -> StoreResult<()>;

    // The ledger's steps that read one after the other on every approval,
    // each as its primitives in order. A backend whose statements are round
    // trips (PostgreSQL) runs each in one statement (issue 9).

    /// [`Self::lock_keys`], then [`Self::claim_event`].
    async fn lock_and_claim(
        &mut self,
        keys: &[String],
        event: &ProcessedEvent,
    ) -> StoreResult<bool> {
        self.lock_keys(keys).await?;
        self.claim_event(event).await
    }

    /// [`Self::lock_and_claim`], then, when the event is new,
    /// [`Self::student_or_insert`] for `candidate`: `None` when the event
    /// was processed before (and then no student is written).
    async fn claim_with_student(
        &mut self,
        keys: &[String],
        event: &ProcessedEvent,
        candidate: &Student,
    ) -> StoreResult<Option<(Student, bool)>> {
        if !self.lock_and_claim(keys, event).await? {
            return Ok(None);
        }
        self.student_or_insert(candidate).await.map(Some)
    }

    /// The student with `candidate`'s e-mail, or else `candidate`, inserted:
    /// `(student, true)` when it was inserted. Another writer's student
    /// created meanwhile is found, not duplicated (the unique e-mail holds).
    async fn student_or_insert(&mut self, candidate: &Student) -> StoreResult<(Student, bool)> {
        let ws = &candidate.workspace_id;
        if let Some(student) = self.student_by_email(ws, &candidate.email).await? {
            return Ok((student, false));
        }
        if self.insert_student(candidate).await? {
            return Ok((candidate.clone(), true));
        }
        let existing = self.student_by_email(ws, &candidate.email).await?;
        Ok((existing.ok_or(StoreError::NotFound)?, false))
    }

    /// The active grants of a transaction ([`Self::grants_for_transaction`]),
    /// or `None` when it was processed with one of `statuses`
    /// ([`Self::transaction_has_status`]).
    async fn transaction_grants_unless(
        &mut self,
        ws: &WorkspaceId,
        gateway: GatewayKind,
        transaction_id: &str,
        statuses: &[CanonicalStatus],
        now: DateTime<Utc>,
    ) -> StoreResult<Option<Vec<Grant>>> {
        if self
            .transaction_has_status(ws, gateway, transaction_id, statuses)
            .await?
        {
            return Ok(None);
        }
        self.grants_for_transaction(ws, gateway, transaction_id, now)
            .await
            .map(Some)
    }

    /// Active grants made or extended by a transaction.
    async fn grants_for_transaction(
        &mut self,
        ws: &WorkspaceId,
        gateway: GatewayKind,
        transaction_id: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<Vec<Grant>>;
    /// Active grants of a subscription.
    async fn grants_for_subscription(
        &mut self,
        ws: &WorkspaceId,
        gateway: GatewayKind,
        subscription_id: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<Vec<Grant>>;
    async fn get_grant(&mut self, ws: &WorkspaceId, id: &GrantId) -> StoreResult<Grant>;
    /// Inserts a grant; a gateway grant is also linked to its transaction.
    async fn insert_grant(&mut self, grant: &Grant) -> StoreResult<()>;
    /// Links a grant to another transaction that extended it (a renewal), so
    /// a refund of that transaction revokes it too.
    async fn link_grant_transaction(
        &mut self,
        grant: &Grant,
        gateway: GatewayKind,
        transaction_id: &str,
    ) -> StoreResult<()>;
    async fn set_grant_expiry(
        &mut self,
        grant: &GrantId,
        expires_at: Option<DateTime<Utc>>,
    ) -> StoreResult<()>;
    /// Revokes a grant that is not revoked yet; `false` if it already was.
    async fn revoke_grant(
        &mut self,
        grant: &GrantId,
        at: DateTime<Utc>,
        reason: &str,
    ) -> StoreResult<bool>;
    /// Unrevoked grants whose `expires_at` is at or before `now`, oldest first.
    async fn due_expired_grants(
        &mut self,
        now: DateTime<Utc>,
        limit: u32,
    ) -> StoreResult<Vec<Grant>>;
    async fn insert_log(&mut self, entry: &LogEntry) -> StoreResult<()>;
    async fn get_student(&mut self, ws: &WorkspaceId, id: &StudentId) -> StoreResult<Student>;
    /// The products of the given categories.
    async fn category_products(
        &mut self,
        ws: &WorkspaceId,
        categories: &[CategoryId],
    ) -> StoreResult<Vec<(CategoryId, ProductId)>>;
    /// The workspace's enabled endpoints, to fan an event out to.
    async fn enabled_endpoints(&mut self, ws: &WorkspaceId) -> StoreResult<Vec<Endpoint>>;
    async fn insert_event(&mut self, event: &Event) -> StoreResult<()>;
    /// Whether an event no endpoint takes is written all the same. Only a
    /// delivery (its worker, its log entry) reads an event back, so the
    /// stores skip them (issue 9: four rows of every approval when no
    /// endpoint is set); the dry run, which shows every event, keeps them.
    fn keeps_unsent_events(&self) -> bool {
        false
    }
    async fn insert_delivery(&mut self, delivery: &Delivery) -> StoreResult<()>;
    async fn commit(self: Box<Self>) -> StoreResult<()>;
}

/// What the ledger knows about one sale, read outside a transaction, on the
/// readers: the dry run (`inbound::dry_run`) previews an event with these,
/// while the ledger reads the same through its [`LedgerTx`], under the
/// sale's lock. Each answers as the [`LedgerTx`] method of the same name.
#[async_trait]
pub trait SaleStore: Send + Sync {
    /// Whether the event with this dedupe key was processed (then
    /// [`LedgerTx::claim_event`] would answer `false`: a duplicate).
    async fn is_event_processed(
        &self,
        ws: &WorkspaceId,
        gateway: GatewayKind,
        reference: &str,
        status: CanonicalStatus,
    ) -> StoreResult<bool>;
    async fn transaction_has_status(
        &self,
        ws: &WorkspaceId,
        gateway: GatewayKind,
        transaction_id: &str,
        statuses: &[CanonicalStatus],
    ) -> StoreResult<bool>;
    async fn grants_for_transaction(
        &self,
        ws: &WorkspaceId,
        gateway: GatewayKind,
        transaction_id: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<Vec<Grant>>;
    async fn grants_for_subscription(
        &self,
        ws: &WorkspaceId,
        gateway: GatewayKind,
        subscription_id: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<Vec<Grant>>;
    async fn enabled_endpoints(&self, ws: &WorkspaceId) -> StoreResult<Vec<Endpoint>>;
}

/// What a claim asks for ([`OutboundStore::claim_due_deliveries`],
/// [`OutboundStore::record_then_claim`]): up to `limit` deliveries due at
/// `now`, leased until `lease_until`, at most `per_endpoint` leased to an
/// endpoint that sets no `max_in_flight` of its own.
#[derive(Debug, Clone, Copy)]
pub struct ClaimRequest {
    pub now: DateTime<Utc>,
    pub lease_until: DateTime<Utc>,
    pub limit: u32,
    pub per_endpoint: u32,
}

/// A delivery claimed by a worker, with what it needs to send it.
#[derive(Debug, Clone)]
pub struct DueDelivery {
    pub delivery: Delivery,
    pub event: Event,
    pub endpoint: Endpoint,
}

/// The outcome of one attempt, written in one go: the attempt row, the
/// delivery's new state, its log entry, and (on `410 Gone`) the endpoint's.
#[derive(Debug, Clone)]
pub struct AttemptRecord {
    pub attempt: Attempt,
    /// The delivery after the attempt (status, attempts, next_attempt_at, ...).
    pub delivery: Delivery,
    pub log: LogEntry,
    /// Disable the endpoint with this reason.
    pub disable_endpoint: Option<String>,
}

/// What a batch of attempts says about one endpoint's circuit breaker.
#[derive(Debug, Clone, PartialEq)]
pub struct HealthUpdate {
    pub endpoint_id: EndpointId,
    /// An attempt got an HTTP answer: the count of failures starts over.
    pub is_reset: bool,
    /// Timeouts and connection failures after the last answer.
    pub failures: u32,
    /// Once the count reaches this, the breaker opens ...
    pub threshold: u32,
    /// ... until this time (the next probe).
    pub open_until: DateTime<Utc>,
}

/// The claim's SQL on both backends: leases the oldest due delivery of each
/// endpoint with room before anyone's second (`rank`), so one endpoint's
/// backlog never crowds out the others; `room` is the endpoint's cap (one
/// while its breaker is half-open) less what any instance holds leased.
/// Each endpoint's candidates are its 64 oldest due deliveries (an index
/// range, `deliveries_endpoint_due`), so a large backlog costs no more.
/// `$1` lease end, `$2` now, `$3` limit, `$4` default cap. PostgreSQL
/// locks the chosen rows too (`{lock}`); SQLite's one writer needs nothing.
/// SQLite is told to count the busy endpoints from the small partial index
/// of leased rows (`{leased}`): left to itself it scanned every pending
/// delivery, so 1,000,000 scheduled for later slowed each claim (issue 9).
/// The count names no status: only a pending delivery holds a lease (every
/// record of an attempt and every requeue clears it), and with the status
/// in it PostgreSQL's generic plan, made on empty tables, counted from the
/// index of pending deliveries, reading every one (8.6 ms a claim at
/// 20,000 pending).
/// The candidates are joined as each backend plans well (`{candidates}`,
/// [`CLAIM_CANDIDATES`]): SQLite has no `LATERAL`, and PostgreSQL ran the
/// `IN` form once per pending delivery of the endpoint (a claim took 180 ms
/// at 3,000 pending).
pub(crate) const CLAIM_RANKED: &str = "
    WITH busy AS (
        SELECT endpoint_id, COUNT(*) AS n FROM deliveries {leased}
        WHERE lease_until IS NOT NULL AND lease_until > $2
        GROUP BY endpoint_id
    ), open_endpoints AS (
        SELECT e.id,
               (CASE WHEN e.breaker_open_until IS NULL THEN COALESCE(e.max_in_flight, $4) ELSE 1 END)
                   - COALESCE(b.n, 0) AS room
        FROM endpoints e LEFT JOIN busy b ON b.endpoint_id = e.id
        WHERE e.is_enabled AND (e.breaker_open_until IS NULL OR e.breaker_open_until <= $2)
    ), ranked AS (
        SELECT d.id, d.next_attempt_at, o.room,
               ROW_NUMBER() OVER (PARTITION BY d.endpoint_id ORDER BY d.next_attempt_at, d.id) AS rank
        FROM open_endpoints o {candidates}
        WHERE o.room > 0
    )
    UPDATE deliveries SET lease_until = $1, lease_token = lease_token + 1 WHERE id IN (
        SELECT id FROM deliveries WHERE id IN (
            SELECT id FROM ranked WHERE rank <= room ORDER BY rank, next_attempt_at, id LIMIT $3
        ) {lock}
    )
    RETURNING *";

/// An endpoint's candidates in [`CLAIM_RANKED`]: its 64 oldest due
/// deliveries, for `o.id` (`{columns}` of `deliveries c`).
pub(crate) const CLAIM_CANDIDATES: &str = "
    SELECT {columns} FROM deliveries c
    WHERE c.endpoint_id = o.id AND c.status = 'pending' AND c.next_attempt_at <= $2
      AND (c.lease_until IS NULL OR c.lease_until <= $2)
    ORDER BY c.next_attempt_at LIMIT 64";

/// Moves a delivery still held under lease token `$3` to `$1` (pacing);
/// the same on both backends.
pub(crate) const DEFER_DELIVERY: &str =
    "UPDATE deliveries SET next_attempt_at = $1, lease_until = NULL WHERE id = $2 AND lease_token = $3";

/// The records of `chunk` whose delivery the fenced update wrote (its id in
/// `fenced`); the others lost their lease and write nothing more.
pub(crate) fn held_records<'a>(
    chunk: &'a [AttemptRecord],
    fenced: &std::collections::HashSet<String>,
) -> Vec<&'a AttemptRecord> {
    chunk
        .iter()
        .filter(|r| fenced.contains(r.delivery.id.as_str()))
        .collect()
}

/// The breaker's update for one endpoint (`$1` id, `$2` reset, `$3`
/// failures, `$4` threshold, `$5` open until); the same on both backends.
pub(crate) const UPDATE_HEALTH: &str = "
    UPDATE endpoints SET
        breaker_failures = (CASE WHEN $2 THEN 0 ELSE breaker_failures END) + $3,
        breaker_open_until = CASE
            WHEN (CASE WHEN $2 THEN 0 ELSE breaker_failures END) + $3 >= $4 THEN $5
            ELSE NULL END
    WHERE id = $1";

/// Endpoints, deliveries and the worker's claims (Saída).
#[async_trait]
pub trait OutboundStore: Send + Sync {
    async fn insert_endpoint(&self, endpoint: &Endpoint) -> StoreResult<()>;
    async fn get_endpoint(&self, ws: &WorkspaceId, id: &EndpointId) -> StoreResult<Endpoint>;
    async fn list_endpoints(&self, ws: &WorkspaceId, page: &Page) -> StoreResult<Vec<Endpoint>>;
    /// Replaces every field but `id`, `workspace_id` and `created_at`.
    async fn update_endpoint(&self, endpoint: &Endpoint) -> StoreResult<()>;
    async fn delete_endpoint(&self, ws: &WorkspaceId, id: &EndpointId) -> StoreResult<()>;
    async fn get_delivery(&self, ws: &WorkspaceId, id: &DeliveryId) -> StoreResult<Delivery>;
    async fn list_deliveries(
        &self,
        ws: &WorkspaceId,
        endpoint: &EndpointId,
        page: &Page,
    ) -> StoreResult<Vec<Delivery>>;
    async fn delivery_attempts(&self, id: &DeliveryId) -> StoreResult<Vec<Attempt>>;
    /// Leases up to `limit` pending deliveries that are due at `now` and not
    /// leased (or whose lease expired), to enabled endpoints whose breaker
    /// lets them through. No endpoint gets more than its `max_in_flight`
    /// (else `per_endpoint`) leased at once, counting every instance's
    /// leases, and one while its breaker is half-open. Fair across
    /// endpoints: each endpoint's oldest due delivery comes before anyone's
    /// second (round-robin), then oldest due first.
    async fn claim_due_deliveries(&self, claim: ClaimRequest) -> StoreResult<Vec<DueDelivery>>;
    /// Writes the outcomes of a batch of attempts, and what they say about
    /// their endpoints' health, in one transaction. An attempt whose
    /// delivery no longer has the lease token it was claimed with (claimed
    /// again after its lease ran out, or resent by hand) writes nothing:
    /// returns how many were dropped so.
    async fn record_attempts(
        &self,
        records: &[AttemptRecord],
        health: &[HealthUpdate],
    ) -> StoreResult<usize>;
    /// [`Self::record_attempts`], then [`Self::claim_due_deliveries`] as
    /// `claim` asks, so the leases the record lets go are claimed again at
    /// once: the worker's round of one endpoint (its `max_in_flight`
    /// deliveries sent, recorded, the next ones claimed) waits for one
    /// commit instead of two. SQLite runs both in one unit of its group
    /// commit, and answers before that group commits: if it is lost (a
    /// crash, a failed commit), the deliveries are sent again, as after a
    /// crash between a send and its record. [`Self::record_attempts`]
    /// waits for its commit, and so for every record before it.
    /// PostgreSQL runs both in one transaction (one commit a round), and
    /// when it fails records alone and claims nothing. Returns the
    /// record's count of dropped attempts and the claim's deliveries; a
    /// record that fails claims nothing.
    async fn record_then_claim(
        &self,
        records: &[AttemptRecord],
        health: &[HealthUpdate],
        claim: ClaimRequest,
    ) -> StoreResult<(usize, Vec<DueDelivery>)>;
    /// Moves a claimed delivery to a later time without counting an attempt
    /// (rate-limit pacing), releasing its lease; nothing when it is no
    /// longer held under `lease_token`.
    async fn defer_delivery(
        &self,
        id: &DeliveryId,
        lease_token: i64,
        until: DateTime<Utc>,
    ) -> StoreResult<()>;
    /// Queues a new attempt now for a delivery, restarting its schedule; a
    /// send of it still running then records nothing (its lease token changes).
    async fn requeue_delivery(
        &self,
        ws: &WorkspaceId,
        id: &DeliveryId,
        now: DateTime<Utc>,
    ) -> StoreResult<Delivery>;
}

/// Everything a running gancho needs from its database.
#[async_trait]
pub trait Store:
    WorkspaceStore
    + CatalogStore
    + StudentStore
    + InboundUrlStore
    + KeyStore
    + LogStore
    + LedgerStore
    + SaleStore
    + OutboundStore
    + LookupStore
    + secrets::SecretStore
    + Send
    + Sync
{
    /// Cheap liveness check of the database.
    async fn ping(&self) -> StoreResult<()>;

    /// Whether writes are failing, and why (see [`write::WriteHealth`]).
    fn write_health(&self) -> &write::WriteHealth;

    /// `Ok` while the database takes writes. While writes fail, it commits a
    /// probe write (at most once a second) to learn whether they work again.
    async fn check_writes(&self) -> StoreResult<()>;

    /// Takes the lock that lets one instance at a time run a periodic task
    /// (`expiry`, `retention`). `None` when another instance holds it.
    /// Dropping the guard releases it; so does the holder's death.
    async fn try_exclusive(&self, task: &str) -> StoreResult<Option<Exclusive>>;
}

/// Proof of holding a task's lock (see [`Store::try_exclusive`]).
pub struct Exclusive(#[allow(dead_code)] Box<dyn Send + Sync>);

impl Exclusive {
    /// A guard that holds `inner` (a lock-holding transaction, or nothing).
    pub fn new(inner: Box<dyn Send + Sync>) -> Self {
        Self(inner)
    }
}
