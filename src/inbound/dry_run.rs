//! The dry run (DESIGN.md § REST API, `POST /inbound-urls/{id}/dry-run`):
//! what a would-be call to an inbound URL, or a reprocess of a logged one,
//! would do. It runs the receive pipeline's own steps (detection, proof,
//! normalization, admission, and [`super::apply_in`] on the ledger) with a
//! [`LedgerTx`] that reads through to the store's readers and keeps every
//! write in memory, so it stores, logs, counts and sends nothing. The HTTP
//! side is `api/inbound_urls.rs`.

use bytes::Bytes;
use chrono::{DateTime, Utc};

use super::access::{Applied, Effect};
use super::{
    admit, normalize, processed_event, prove, reprocess_trace, reread, stored_call, stored_url,
    suspended, Admission, InboundCall, Outcome, Proved, ReadContext, ReprocessError, Trace,
};
use crate::email::Email;
use crate::ids::{CategoryId, EndpointId, GrantId, KeyId, ProductId, StudentId, WorkspaceId};
use crate::model::{
    CanonicalStatus, CustomerLookup, Delivery, Endpoint, Event, GatewayKind, Grant, GrantTarget,
    InboundUrl, Integration, LogEntry, Student, Workspace,
};
use crate::outbound::event::Fanout;
use crate::storage::{LedgerTx, ProcessedEvent, Store, StoreError, StoreResult};

/// A call as it would reach the inbound URL.
#[derive(Debug, Clone, Default)]
pub struct DryRunCall {
    /// The raw body, exactly as the gateway would send it.
    pub body: Bytes,
    /// `None`: `application/json` when the body parses as JSON, else a form.
    /// Wins over a `content-type` among `headers`.
    pub content_type: Option<String>,
    /// Header names in any case (a signature header, say).
    pub headers: Vec<(String, String)>,
    /// Decoded query pairs (Kiwify's `signature`, say).
    pub query: Vec<(String, String)>,
}

/// What a call would do. Nothing in it was stored.
#[derive(Debug, Clone, PartialEq)]
pub struct DryRunReport {
    pub outcome: DryRunOutcome,
    /// What the inbound URL would answer.
    pub http_status: u16,
    /// Why, for an outcome that applies nothing (as the log entry would say).
    pub message: Option<String>,
    /// The gateway the call is read as; `None` when it was not reached.
    pub gateway: Option<GatewayKind>,
    /// `None` when the call stopped before its proof was checked.
    pub proof: Option<Proof>,
    /// The canonical event; `None` when the call stopped before it.
    pub event: Option<crate::inbound::normalize::NormalizedEvent>,
    /// The buyer the ledger would act for, when it would act.
    pub student: Option<StudentPreview>,
    /// The ledger's changes, in order.
    pub effects: Vec<PlannedEffect>,
    /// Every outbound event that would be written, in order, by type.
    pub event_types: Vec<String>,
    /// The deliveries those events would queue: one per subscribed endpoint.
    pub outbound: Vec<PlannedDelivery>,
}

/// The short code of a dry run's outcome: what the log entry would say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DryRunOutcome {
    /// Processed: the effects and outbound events below would happen.
    WouldApply,
    /// Processed before (the same gateway, transaction and status): nothing happens.
    Duplicate,
    /// Authentic but not applicable (unmapped product, no e-mail, unsupported event).
    Ignored,
    /// Authentic, naming only the buyer's id: it would wait for the gateway's API.
    WouldWaitForBuyer,
    /// `401`: the proof is missing or matches no key.
    ProofFailed,
    /// `400`/`415`: the body cannot be read, or the gateway not told.
    Unrecognized,
    /// `503`: the inbound URL is deactivated.
    InactiveUrl,
    /// Any other refusal (`http_status` and `message` say which).
    Rejected,
}

impl DryRunOutcome {
    pub const ALL: [DryRunOutcome; 8] = [
        Self::WouldApply,
        Self::Duplicate,
        Self::Ignored,
        Self::WouldWaitForBuyer,
        Self::ProofFailed,
        Self::Unrecognized,
        Self::InactiveUrl,
        Self::Rejected,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::WouldApply => "would_apply",
            Self::Duplicate => "duplicate",
            Self::Ignored => "ignored",
            Self::WouldWaitForBuyer => "would_wait_for_buyer",
            Self::ProofFailed => "proof_failed",
            Self::Unrecognized => "unrecognized",
            Self::InactiveUrl => "inactive_url",
            Self::Rejected => "rejected",
        }
    }
}

/// Whether the call proved authentic, and how (or why not).
#[derive(Debug, Clone, PartialEq)]
pub struct Proof {
    pub passed: bool,
    pub reason: String,
    /// The key that proved it.
    pub key_id: Option<KeyId>,
}

/// The buyer the ledger would act for.
#[derive(Debug, Clone, PartialEq)]
pub struct StudentPreview {
    pub email: String,
    /// `None` for a student who would be created.
    pub student_id: Option<StudentId>,
    pub is_new: bool,
}

/// What one change of the ledger does to access.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EffectAction {
    Grant,
    Extend,
    Revoke,
    /// A canceled subscription's grant would end at `until`.
    End,
    /// Nothing is granted (`reason` says why).
    None,
}

impl EffectAction {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Grant => "grant",
            Self::Extend => "extend",
            Self::Revoke => "revoke",
            Self::End => "end",
            Self::None => "none",
        }
    }
}

/// One change of the ledger, with what it covers.
#[derive(Debug, Clone, PartialEq)]
pub struct PlannedEffect {
    pub action: EffectAction,
    pub product_id: Option<ProductId>,
    pub category_id: Option<CategoryId>,
    /// The product's or category's name.
    pub name: Option<String>,
    /// When access would end: a grant's expiry (`None`: lifetime), now for a revoke.
    pub until: Option<DateTime<Utc>>,
    /// The existing grant changed (`None` for a new one).
    pub grant_id: Option<GrantId>,
    pub reason: Option<String>,
}

/// One delivery that would be queued.
#[derive(Debug, Clone, PartialEq)]
pub struct PlannedDelivery {
    pub event_type: String,
    pub endpoint_id: EndpointId,
    pub endpoint_name: String,
}

/// What a `call` to inbound URL `url` would do today. The caller's IP is
/// not known, so the URL's `allowed_sources` are not checked.
#[tracing::instrument(skip_all, fields(inbound_url = %url.id))]
pub async fn dry_run(
    ctx: &ReadContext<'_>,
    workspace: &Workspace,
    url: &InboundUrl,
    call: DryRunCall,
) -> StoreResult<DryRunReport> {
    let call = inbound_call(workspace, url, call);
    let mut trace = super::new_trace();
    trace.workspace = Some(workspace.id.clone());
    trace.integration = Integration {
        kind: "inbound_url".into(),
        id: Some(url.id.to_string()),
        name: url.name.clone(),
    };
    if !url.is_enabled {
        return report(ctx, &trace, &suspended(), None).await;
    }
    match prove(ctx, &workspace.id, &call, Some(url), &mut trace).await? {
        Ok(proved) => preview(ctx, &call, &mut trace, workspace, Some(url), &proved).await,
        Err(outcome) => report(ctx, &trace, &outcome, None).await,
    }
}

/// What `POST /logs/{id}/reprocess` of `original` would do today, read the
/// way the reprocess reads it (with today's mappings, not verified again).
#[tracing::instrument(skip_all, fields(log_id = %original.id))]
pub async fn dry_run_reprocess(
    ctx: &ReadContext<'_>,
    workspace: &Workspace,
    original: &LogEntry,
) -> Result<DryRunReport, ReprocessError> {
    let (call, gateway) = stored_call(workspace, original)?;
    let mut trace = reprocess_trace(workspace, original, gateway);
    let url = stored_url(ctx.store, workspace, original).await;
    Ok(match reread(&call, gateway) {
        Ok(proved) => preview(ctx, &call, &mut trace, workspace, url.as_ref(), &proved).await?,
        Err(outcome) => report(ctx, &trace, &outcome, None).await?,
    })
}

/// The would-be call as the receive handler would hand it over.
fn inbound_call(workspace: &Workspace, url: &InboundUrl, call: DryRunCall) -> InboundCall {
    let content_type = call.content_type.unwrap_or_else(|| {
        let is_json = serde_json::from_slice::<serde_json::Value>(&call.body).is_ok();
        let kind = if is_json {
            "application/json"
        } else {
            "application/x-www-form-urlencoded"
        };
        call.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("content-type"))
            .map_or_else(|| kind.to_string(), |(_, v)| v.clone())
    });
    let mut headers: Vec<(String, String)> = call
        .headers
        .into_iter()
        .filter(|(k, _)| !k.eq_ignore_ascii_case("content-type"))
        .map(|(k, v)| (k.to_ascii_lowercase(), v))
        .collect();
    headers.push(("content-type".into(), content_type));
    InboundCall {
        public_id: workspace.public_id.clone(),
        slug: Some(url.slug.clone()),
        path: format!("/in/{}/{}", workspace.public_id, url.slug),
        headers,
        query: call.query,
        body: Ok(call.body),
        started: std::time::Instant::now(),
        client_ip: None,
    }
}

/// Normalizes and admits a proved call, then applies it on a [`DryRunTx`].
async fn preview(
    ctx: &ReadContext<'_>,
    call: &InboundCall,
    trace: &mut Trace,
    workspace: &Workspace,
    url: Option<&InboundUrl>,
    proved: &Proved,
) -> StoreResult<DryRunReport> {
    let event = match normalize(trace, proved) {
        Ok(event) => event,
        Err(outcome) => return report(ctx, trace, &outcome, None).await,
    };
    let ws = &workspace.id;
    let (email, targets) = match admit(ctx, trace, ws, url, &event).await? {
        Admission::Ready { email, targets } => (email, targets),
        Admission::Wait(lookup) => {
            let outcome = Outcome::Pending {
                customer_ref: lookup.customer_ref,
            };
            return report(ctx, trace, &outcome, None).await;
        }
        Admission::Answer(outcome) => return report(ctx, trace, &outcome, None).await,
    };
    let claim = processed_event(ws, &event, call, &trace.log_id, ctx.now);
    let fanout = Fanout {
        now: ctx.now,
        first_delay: std::time::Duration::ZERO,
        only: None,
    };
    let mut tx = DryRunTx::new(ctx.store);
    let applied =
        super::apply_in(&mut tx, &claim, &event, email.as_ref(), &targets, fanout).await?;
    let Some((applied, _)) = applied else {
        return report(ctx, trace, &Outcome::Duplicate, None).await;
    };
    let ledger = Ledger {
        tx: &tx,
        applied: &applied,
        email: email.as_ref(),
    };
    report(ctx, trace, &Outcome::Processed, Some(ledger)).await
}

/// What the ledger would have done, for the report.
struct Ledger<'a> {
    tx: &'a DryRunTx<'a>,
    applied: &'a Applied,
    email: Option<&'a Email>,
}

async fn report(
    ctx: &ReadContext<'_>,
    trace: &Trace,
    outcome: &Outcome,
    ledger: Option<Ledger<'_>>,
) -> StoreResult<DryRunReport> {
    let reply = super::reply_for(outcome, &trace.log_id);
    let (code, message) = match outcome {
        Outcome::Processed => (DryRunOutcome::WouldApply, None),
        Outcome::Duplicate => (DryRunOutcome::Duplicate, None),
        Outcome::Ignored { reason, .. } => (DryRunOutcome::Ignored, Some(reason.clone())),
        Outcome::Pending { customer_ref } => (
            DryRunOutcome::WouldWaitForBuyer,
            Some(format!(
                "it would wait for the buyer's e-mail from the gateway's API (customer {customer_ref})"
            )),
        ),
        Outcome::Rejected(r) => {
            let code = match (r.status, r.code) {
                (401, _) => DryRunOutcome::ProofFailed,
                (503, "suspended") => DryRunOutcome::InactiveUrl,
                (400 | 415, _) => DryRunOutcome::Unrecognized,
                _ => DryRunOutcome::Rejected,
            };
            (code, Some(r.message.clone()))
        }
    };
    let mut report = DryRunReport {
        outcome: code,
        http_status: reply.status,
        message: message.map(|m| trace.redactor.text(&m)),
        gateway: trace.gateway,
        proof: proof(trace),
        event: trace.event.clone(),
        student: None,
        effects: Vec::new(),
        event_types: Vec::new(),
        outbound: Vec::new(),
    };
    if let (Some(ledger), Some(ws)) = (ledger, &trace.workspace) {
        fill_ledger(ctx, ws, &ledger, &mut report).await?;
    }
    Ok(report)
}

/// The proof as the trace recorded it.
fn proof(trace: &Trace) -> Option<Proof> {
    let v = &trace.verification;
    match v["result"].as_str()? {
        "verified" => {
            let reason = match v["reprocess_of"].as_str() {
                Some(log) => format!("proved when it first arrived ({log}); not checked again"),
                None => "the proof matches a configured key".to_string(),
            };
            Some(Proof {
                passed: true,
                reason,
                key_id: trace.key_id.clone(),
            })
        }
        _ => Some(Proof {
            passed: false,
            reason: v["error"].as_str().unwrap_or("not proven").to_string(),
            key_id: None,
        }),
    }
}

async fn fill_ledger(
    ctx: &ReadContext<'_>,
    ws: &WorkspaceId,
    ledger: &Ledger<'_>,
    report: &mut DryRunReport,
) -> StoreResult<()> {
    let tx = ledger.tx;
    report.student = ledger.email.map(|email| StudentPreview {
        email: email.as_str().to_string(),
        is_new: !tx.students.is_empty(),
        student_id: ledger
            .applied
            .student_id
            .clone()
            .filter(|id| !tx.students.iter().any(|s| &s.id == id)),
    });
    for effect in &ledger.applied.effects {
        if let Some(planned) = plan_effect(ctx, ws, tx, effect).await? {
            report.effects.push(planned);
        }
    }
    report.event_types = tx.events.iter().map(|e| e.event_type.clone()).collect();
    report.outbound = tx
        .deliveries
        .iter()
        .map(|d| PlannedDelivery {
            event_type: d.event_type.clone(),
            endpoint_id: d.endpoint_id.clone(),
            endpoint_name: tx
                .endpoints
                .iter()
                .find(|e| e.id == d.endpoint_id)
                .map(|e| e.name.clone())
                .unwrap_or_default(),
        })
        .collect();
    Ok(())
}

/// An [`Effect`] with the product or category it covers, by name. A new
/// student is the report's `student`, not an effect on access.
async fn plan_effect(
    ctx: &ReadContext<'_>,
    ws: &WorkspaceId,
    tx: &DryRunTx<'_>,
    effect: &Effect,
) -> StoreResult<Option<PlannedEffect>> {
    let (action, target, until, grant_id, reason) = match effect {
        Effect::StudentCreated { .. } => return Ok(None),
        Effect::Granted {
            product_id,
            category_id,
            expires_at,
            ..
        } => {
            let target = match (product_id, category_id) {
                (Some(p), _) => Some(GrantTarget::Product(p.clone())),
                (None, Some(c)) => Some(GrantTarget::Category(c.clone())),
                (None, None) => None,
            };
            (EffectAction::Grant, target, *expires_at, None, None)
        }
        Effect::Extended {
            grant_id,
            expires_at,
            ..
        } => (
            EffectAction::Extend,
            tx.target_of(grant_id),
            *expires_at,
            Some(grant_id.clone()),
            None,
        ),
        Effect::Revoked { grant_id, reason } => (
            EffectAction::Revoke,
            tx.target_of(grant_id),
            Some(ctx.now),
            Some(grant_id.clone()),
            Some(reason.clone()),
        ),
        Effect::EndScheduled {
            grant_id,
            expires_at,
        } => (
            EffectAction::End,
            tx.target_of(grant_id),
            Some(*expires_at),
            Some(grant_id.clone()),
            None,
        ),
        Effect::NotGranted { reason } => {
            (EffectAction::None, None, None, None, Some(reason.clone()))
        }
    };
    let (product_id, category_id, name) = match target {
        Some(GrantTarget::Product(p)) => {
            let name = named(ctx.store.get_product(ws, &p).await.map(|p| p.name))?;
            (Some(p), None, name)
        }
        Some(GrantTarget::Category(c)) => {
            let name = named(ctx.store.get_category(ws, &c).await.map(|c| c.name))?;
            (None, Some(c), name)
        }
        None => (None, None, None),
    };
    Ok(Some(PlannedEffect {
        action,
        product_id,
        category_id,
        name,
        until,
        grant_id,
        reason,
    }))
}

/// A name, or `None` for a product or category deleted meanwhile.
fn named(read: StoreResult<String>) -> StoreResult<Option<String>> {
    match read {
        Ok(name) => Ok(Some(name)),
        Err(StoreError::NotFound) => Ok(None),
        Err(e) => Err(e),
    }
}

/// A [`LedgerTx`] that writes nothing: reads go to the store's readers,
/// writes are kept here for the report. A reader sees this transaction's
/// own new students and revocations; the ledger reads a sale's grants
/// before it changes them, so it needs no more of its own writes back.
/// There is no lock to take: a dry run changes nothing another could see.
struct DryRunTx<'a> {
    store: &'a dyn Store,
    /// Students it would create.
    students: Vec<Student>,
    /// Every grant the ledger read: what an effect on an existing grant covers.
    seen: Vec<Grant>,
    revoked: Vec<GrantId>,
    /// The endpoints the events fanned out to, for their names.
    endpoints: Vec<Endpoint>,
    events: Vec<Event>,
    deliveries: Vec<Delivery>,
}

impl<'a> DryRunTx<'a> {
    fn new(store: &'a dyn Store) -> Self {
        Self {
            store,
            students: Vec::new(),
            seen: Vec::new(),
            revoked: Vec::new(),
            endpoints: Vec::new(),
            events: Vec::new(),
            deliveries: Vec::new(),
        }
    }

    fn target_of(&self, grant: &GrantId) -> Option<GrantTarget> {
        self.seen
            .iter()
            .find(|g| &g.id == grant)
            .map(|g| g.target.clone())
    }

    fn saw(&mut self, grants: StoreResult<Vec<Grant>>) -> StoreResult<Vec<Grant>> {
        let grants = grants?;
        self.seen.extend(grants.iter().cloned());
        Ok(grants
            .into_iter()
            .filter(|g| !self.revoked.contains(&g.id))
            .collect())
    }
}

#[async_trait::async_trait]
impl LedgerTx for DryRunTx<'_> {
    async fn insert_lookup(&mut self, _lookup: &CustomerLookup) -> StoreResult<()> {
        Ok(())
    }

    async fn lock_keys(&mut self, _keys: &[String]) -> StoreResult<()> {
        Ok(())
    }

    async fn try_lock_keys(&mut self, _keys: &[String]) -> StoreResult<bool> {
        Ok(true)
    }

    async fn claim_event(&mut self, e: &ProcessedEvent) -> StoreResult<bool> {
        let done = self
            .store
            .is_event_processed(&e.workspace_id, e.gateway, &e.reference, e.status)
            .await?;
        Ok(!done)
    }

    async fn transaction_has_status(
        &mut self,
        ws: &WorkspaceId,
        gateway: GatewayKind,
        transaction_id: &str,
        statuses: &[CanonicalStatus],
    ) -> StoreResult<bool> {
        self.store
            .transaction_has_status(ws, gateway, transaction_id, statuses)
            .await
    }

    async fn student_by_email(
        &mut self,
        ws: &WorkspaceId,
        email: &str,
    ) -> StoreResult<Option<Student>> {
        if let Some(s) = self.students.iter().find(|s| s.email == email) {
            return Ok(Some(s.clone()));
        }
        crate::storage::StudentStore::student_by_email(self.store, ws, email).await
    }

    async fn insert_student(&mut self, student: &Student) -> StoreResult<bool> {
        self.students.push(student.clone());
        Ok(true)
    }

    async fn update_student(&mut self, _student: &Student) -> StoreResult<()> {
        Ok(())
    }

    async fn grants_for_transaction(
        &mut self,
        ws: &WorkspaceId,
        gateway: GatewayKind,
        transaction_id: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<Vec<Grant>> {
        let read = self
            .store
            .grants_for_transaction(ws, gateway, transaction_id, now)
            .await;
        self.saw(read)
    }

    async fn grants_for_subscription(
        &mut self,
        ws: &WorkspaceId,
        gateway: GatewayKind,
        subscription_id: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<Vec<Grant>> {
        let read = self
            .store
            .grants_for_subscription(ws, gateway, subscription_id, now)
            .await;
        self.saw(read)
    }

    async fn get_grant(&mut self, ws: &WorkspaceId, id: &GrantId) -> StoreResult<Grant> {
        let grant = crate::storage::StudentStore::get_grant(self.store, ws, id).await?;
        self.seen.push(grant.clone());
        Ok(grant)
    }

    async fn insert_grant(&mut self, _grant: &Grant) -> StoreResult<()> {
        Ok(())
    }

    async fn link_grant_transaction(
        &mut self,
        _grant: &Grant,
        _gateway: GatewayKind,
        _transaction_id: &str,
    ) -> StoreResult<()> {
        Ok(())
    }

    async fn set_grant_expiry(
        &mut self,
        _grant: &GrantId,
        _expires_at: Option<DateTime<Utc>>,
    ) -> StoreResult<()> {
        Ok(())
    }

    async fn revoke_grant(
        &mut self,
        grant: &GrantId,
        _at: DateTime<Utc>,
        _reason: &str,
    ) -> StoreResult<bool> {
        if self.revoked.contains(grant) {
            return Ok(false);
        }
        self.revoked.push(grant.clone());
        Ok(true)
    }

    /// A dry run previews one inbound event; the expiry pass is no part of it.
    async fn due_expired_grants(
        &mut self,
        _now: DateTime<Utc>,
        _limit: u32,
    ) -> StoreResult<Vec<Grant>> {
        Ok(Vec::new())
    }

    async fn insert_log(&mut self, _entry: &LogEntry) -> StoreResult<()> {
        Ok(())
    }

    async fn get_student(&mut self, ws: &WorkspaceId, id: &StudentId) -> StoreResult<Student> {
        if let Some(s) = self.students.iter().find(|s| &s.id == id) {
            return Ok(s.clone());
        }
        crate::storage::StudentStore::get_student(self.store, ws, id).await
    }

    async fn category_products(
        &mut self,
        ws: &WorkspaceId,
        categories: &[CategoryId],
    ) -> StoreResult<Vec<(CategoryId, ProductId)>> {
        crate::storage::StudentStore::category_products(self.store, ws, categories).await
    }

    async fn enabled_endpoints(&mut self, ws: &WorkspaceId) -> StoreResult<Vec<Endpoint>> {
        let endpoints = crate::storage::SaleStore::enabled_endpoints(self.store, ws).await?;
        self.endpoints.clone_from(&endpoints);
        Ok(endpoints)
    }

    async fn insert_event(&mut self, event: &Event) -> StoreResult<()> {
        self.events.push(event.clone());
        Ok(())
    }

    /// The report lists every event, sent or not.
    fn keeps_unsent_events(&self) -> bool {
        true
    }

    async fn insert_delivery(&mut self, delivery: &Delivery) -> StoreResult<()> {
        self.deliveries.push(delivery.clone());
        Ok(())
    }

    /// Nothing was written, so nothing is committed.
    async fn commit(self: Box<Self>) -> StoreResult<()> {
        Ok(())
    }
}
