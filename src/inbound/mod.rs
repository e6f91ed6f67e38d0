//! Entrada: receiving gateway webhooks. [`receive`] takes one call as plain
//! data, finds the workspace and inbound URL, reads and verifies the body
//! with the gateway's adapter, normalizes it, and applies it to the ledger;
//! the event record, its effects and the call's log entry commit in one
//! transaction before the reply is sent. `receive.rs` is the HTTP side;
//! `dry_run.rs` runs the same steps on a would-be call and writes nothing.

pub mod access;
pub mod dry_run;
pub mod gateways;
pub mod lookup;
pub mod normalize;
pub mod receive;
pub mod request;
pub mod url;
pub mod verify;

use std::time::Instant;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::email::Email;
use crate::ids::{KeyId, LogId, WorkspaceId};
use crate::keys::{self, Sealer};
use crate::model::{
    Direction, GatewayKind, InboundUrl, Integration, LogEntry, LogStatus, Workspace,
};
use crate::outbound::event::{enqueue_to, fanout_endpoints, purchase_event, Fanout};
use crate::outbound::Outbox;
use crate::redact::Redactor;
use crate::storage::{LedgerTx, ProcessedEvent, Store, StoreError, StoreResult};
use access::{Applied, Targets};
use gateways::{GatewayAdapter, Normalized};
use normalize::NormalizedEvent;
use request::{BodyKind, InboundRequest, Payload};
use verify::VerifyError;

/// How long a gateway is asked to wait before retrying a suspended URL.
const SUSPENDED_RETRY_SECS: u32 = 600;

/// What the server knows when it calls [`receive`].
pub struct InboundContext<'a> {
    pub store: &'a dyn Store,
    pub sealer: &'a Sealer,
    pub outbox: &'a Outbox,
    /// Counters for `/metrics` (absent in tools that run the pipeline alone).
    pub metrics: Option<&'a crate::metrics::Metrics>,
    pub now: DateTime<Utc>,
}

impl InboundContext<'_> {
    /// What deciding about a call reads.
    fn reads(&self) -> ReadContext<'_> {
        ReadContext {
            store: self.store,
            sealer: self.sealer,
            now: self.now,
        }
    }
}

/// What deciding about a call reads: the store (only reads), the sealer
/// that opens the gateway keys, and the time. The dry run has only this.
pub struct ReadContext<'a> {
    pub store: &'a dyn Store,
    pub sealer: &'a Sealer,
    pub now: DateTime<Utc>,
}

/// Why the body could not be read off the wire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BodyError {
    TooLarge(usize),
    Read(String),
    /// Not all of it arrived within `GANCHO_BODY_TIMEOUT`.
    TimedOut(std::time::Duration),
}

/// One inbound HTTP call as plain data.
pub struct InboundCall {
    pub public_id: String,
    pub slug: Option<String>,
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub query: Vec<(String, String)>,
    pub body: Result<Bytes, BodyError>,
    pub started: Instant,
    /// Where the call came from (`client_ip`); `None` for a reprocess.
    pub client_ip: Option<std::net::IpAddr>,
}

/// The answer to send back.
#[derive(Debug, Clone, PartialEq)]
pub struct InboundReply {
    pub status: u16,
    pub body: Value,
    pub retry_after_secs: Option<u32>,
}

/// What happened to a call; turned into the reply and the log entry.
enum Outcome {
    Processed,
    Duplicate,
    Ignored {
        reason: String,
        is_ack: bool,
    },
    /// Stored with a customer lookup: applied once the buyer is known.
    Pending {
        customer_ref: String,
    },
    Rejected(Rejection),
}

struct Rejection {
    status: u16,
    code: &'static str,
    message: String,
    retry_after_secs: Option<u32>,
}

fn reject(status: u16, code: &'static str, message: impl Into<String>) -> Outcome {
    Outcome::Rejected(Rejection {
        status,
        code,
        message: message.into(),
        retry_after_secs: None,
    })
}

/// Everything known about a call so far, for its log entry.
struct Trace {
    log_id: LogId,
    workspace: Option<WorkspaceId>,
    integration: Integration,
    gateway: Option<GatewayKind>,
    redactor: Redactor,
    verification: Value,
    event: Option<NormalizedEvent>,
    native_event: Option<String>,
    effects: Vec<access::Effect>,
    /// Set when this call is a reprocess of an earlier entry.
    reprocess_of: Option<LogId>,
    /// The key that proved the call (for a reprocess, the first call's).
    key_id: Option<KeyId>,
    /// The buyer as the gateway's API told it (`lookup`), filled into an
    /// event whose webhook named only the buyer's id.
    resolved: Option<normalize::Customer>,
}

fn new_trace() -> Trace {
    Trace {
        log_id: LogId::new(),
        workspace: None,
        integration: Integration {
            kind: "global_url".into(),
            id: None,
            name: "Global URL".into(),
        },
        gateway: None,
        redactor: Redactor::default(),
        verification: Value::Null,
        event: None,
        native_event: None,
        effects: Vec::new(),
        reprocess_of: None,
        key_id: None,
        resolved: None,
    }
}

/// Handles one inbound call from start to reply (DESIGN.md § Inbound).
pub async fn receive(ctx: &InboundContext<'_>, call: InboundCall) -> InboundReply {
    let mut trace = new_trace();
    let outcome = process(ctx, &call, &mut trace).await;
    finish(ctx, &call, &trace, outcome).await
}

/// Turns the outcome into the reply, writing the log entry of calls that
/// did not write it inside the ledger transaction.
async fn finish(
    ctx: &InboundContext<'_>,
    call: &InboundCall,
    trace: &Trace,
    outcome: Result<Outcome, StoreError>,
) -> InboundReply {
    let mut outcome = match outcome {
        Ok(outcome) => outcome,
        Err(e) => storage_failed(&e),
    };
    // Processed and duplicate calls wrote their log entry inside the ledger
    // transaction. An ignored call's entry is what lets it be reprocessed,
    // so it is answered 200 only once that entry is stored.
    if !matches!(
        outcome,
        Outcome::Processed | Outcome::Duplicate | Outcome::Pending { .. }
    ) {
        let reply = reply_for(&outcome, &trace.log_id);
        if let Some(entry) = log_entry(
            call,
            trace,
            request_detail(call, trace),
            &outcome,
            &reply,
            ctx.now,
        ) {
            if let Err(e) = ctx.store.insert_log(&entry).await {
                if matches!(outcome, Outcome::Ignored { .. }) {
                    outcome = storage_failed(&e);
                } else if !matches!(e, StoreError::Unavailable(_)) {
                    tracing::error!(error = %e, log_id = %trace.log_id, "could not write inbound log entry");
                }
            }
        }
    }
    let reply = reply_for(&outcome, &trace.log_id);
    if let Some(m) = ctx.metrics {
        m.inbound(trace.gateway, reply_label(&outcome, reply.status));
        if matches!(outcome, Outcome::Processed) {
            m.ledger(&trace.effects);
        }
    }
    reply
}

/// The answer when the call's writes did not commit: `503`, and the gateway retries.
fn storage_failed(e: &StoreError) -> Outcome {
    // An unavailable database is logged once per episode by the store.
    if !matches!(e, StoreError::Unavailable(_)) {
        tracing::error!(error = %e, "inbound call failed on storage");
    }
    Outcome::Rejected(Rejection {
        status: 503,
        code: "unavailable",
        message: "storage is unavailable; retry later".into(),
        retry_after_secs: Some(crate::error::STORAGE_RETRY_AFTER_SECS),
    })
}

/// The `outcome` label of the inbound metric.
fn reply_label(outcome: &Outcome, status: u16) -> &'static str {
    match (outcome, status) {
        (Outcome::Processed, _) => "processed",
        (Outcome::Duplicate, _) => "duplicate",
        (Outcome::Ignored { .. }, _) => "ignored",
        (Outcome::Pending { .. }, _) => "pending",
        (_, 401) => "unauthorized",
        (_, 503) => "unavailable",
        (_, s) if s >= 500 => "error",
        _ => "rejected",
    }
}

/// Why a log entry cannot be reprocessed.
#[derive(Debug, thiserror::Error)]
pub enum ReprocessError {
    #[error("{0}")]
    NotReprocessable(&'static str),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Re-runs a logged inbound call through normalization and the ledger with
/// today's configuration (DESIGN.md: after a mapping was fixed). It is not
/// verified again (its proof was checked when it arrived, and the stored
/// copy is redacted); the dedupe key makes it idempotent. The outcome is a
/// new log entry linked to the first.
pub async fn reprocess(
    ctx: &InboundContext<'_>,
    workspace: &Workspace,
    original: &crate::model::LogEntry,
) -> Result<InboundReply, ReprocessError> {
    rerun(ctx, workspace, original, None).await
}

/// [`reprocess`], with the buyer `resolved` from the gateway's API when the
/// webhook named only their id (`lookup`).
async fn rerun(
    ctx: &InboundContext<'_>,
    workspace: &Workspace,
    original: &crate::model::LogEntry,
    resolved: Option<normalize::Customer>,
) -> Result<InboundReply, ReprocessError> {
    let (call, gateway) = stored_call(workspace, original)?;
    let mut trace = reprocess_trace(workspace, original, gateway);
    trace.resolved = resolved;
    let url = stored_url(ctx.store, workspace, original).await;
    let outcome = match reread(&call, gateway) {
        Ok(proved) => {
            normalize_and_apply(ctx, &call, &mut trace, workspace, url.as_ref(), &proved).await
        }
        Err(outcome) => Ok(outcome),
    };
    Ok(finish(ctx, &call, &trace, outcome).await)
}

/// The call a log entry stored, to run again: only an inbound call that
/// proved authentic, with its request (redacted) and gateway.
fn stored_call(
    workspace: &Workspace,
    original: &LogEntry,
) -> Result<(InboundCall, GatewayKind), ReprocessError> {
    let d = &original.detail;
    if original.direction != Direction::In {
        return Err(ReprocessError::NotReprocessable(
            "only inbound calls can be reprocessed",
        ));
    }
    if d["verification"]["result"] != "verified" {
        return Err(ReprocessError::NotReprocessable(
            "only calls that proved authentic can be reprocessed",
        ));
    }
    let (Some(gateway), Some(body)) = (original.gateway, d["request"]["body"].as_str()) else {
        return Err(ReprocessError::NotReprocessable(
            "the stored request is incomplete",
        ));
    };
    let pairs = |v: &Value| -> Vec<(String, String)> {
        v.as_object()
            .map(|m| {
                m.iter()
                    .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                    .collect()
            })
            .unwrap_or_default()
    };
    let call = InboundCall {
        public_id: workspace.public_id.clone(),
        slug: None,
        path: d["request"]["path"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
        headers: pairs(&d["request"]["headers"]),
        query: pairs(&d["request"]["query"]),
        body: Ok(Bytes::from(body.to_string())),
        started: std::time::Instant::now(),
        client_ip: None,
    };
    Ok((call, gateway))
}

/// A reprocess's trace: linked to the entry it re-runs, proved as that
/// entry was (its proof was checked when it arrived; the stored copy is redacted).
fn reprocess_trace(workspace: &Workspace, original: &LogEntry, gateway: GatewayKind) -> Trace {
    let d = &original.detail;
    let mut trace = new_trace();
    trace.workspace = Some(workspace.id.clone());
    trace.integration = original.integration.clone();
    trace.gateway = Some(gateway);
    trace.reprocess_of = Some(original.id.clone());
    trace.key_id = proving_key(&d["verification"]);
    trace.verification =
        json!({"result": "verified", "reprocess_of": original.id, "original": d["verification"]});
    trace
}

/// The inbound URL a logged call came to, as it is configured today
/// (`None` for the global URL, or a URL deleted since).
async fn stored_url(
    store: &dyn Store,
    workspace: &Workspace,
    original: &LogEntry,
) -> Option<InboundUrl> {
    let id = original
        .integration
        .id
        .as_deref()
        .and_then(crate::ids::InboundUrlId::parse)?;
    store.get_inbound_url(&workspace.id, &id).await.ok()
}

/// The key that proved a call, from its log entry's `verification` (a
/// reprocess keeps the first call's under `original`).
fn proving_key(verification: &Value) -> Option<KeyId> {
    let mut v = verification;
    for _ in 0..16 {
        if let Some(id) = v["key_id"].as_str() {
            return KeyId::parse(id);
        }
        v = &v["original"];
    }
    None
}

/// Parses a stored call's body again, for its gateway's adapter; `Err` is the answer.
fn reread(call: &InboundCall, gateway: GatewayKind) -> Result<Proved, Outcome> {
    let body = call.body.clone().unwrap_or_default();
    let content_type = call
        .headers
        .iter()
        .find(|(k, _)| k == "content-type")
        .map(|(_, v)| v.as_str());
    let kind = content_type
        .and_then(BodyKind::from_content_type)
        .unwrap_or_else(|| BodyKind::sniff(&body));
    let payload =
        Payload::parse(kind, &body).map_err(|e| reject(400, "bad_request", e.to_string()))?;
    let request = InboundRequest {
        headers: call.headers.clone(),
        query: call.query.clone(),
        body,
        kind,
    };
    Ok(Proved {
        request,
        payload,
        adapter: gateways::adapter(gateway),
    })
}

fn reply_for(outcome: &Outcome, log_id: &LogId) -> InboundReply {
    let ok = |status: &str| InboundReply {
        status: 200,
        body: json!({"status": status, "log_id": log_id}),
        retry_after_secs: None,
    };
    match outcome {
        Outcome::Processed => ok("processed"),
        Outcome::Duplicate => ok("duplicate"),
        Outcome::Ignored { .. } => ok("ignored"),
        Outcome::Pending { .. } => ok("pending"),
        Outcome::Rejected(r) => InboundReply {
            status: r.status,
            body: json!({"error": {"code": r.code, "message": r.message}}),
            retry_after_secs: r.retry_after_secs,
        },
    }
}

async fn process(
    ctx: &InboundContext<'_>,
    call: &InboundCall,
    trace: &mut Trace,
) -> Result<Outcome, StoreError> {
    let Some(workspace) = ctx.store.workspace_by_public_id(&call.public_id).await? else {
        return Ok(reject(404, "not_found", "unknown workspace"));
    };
    trace.workspace = Some(workspace.id.clone());
    let url = match &call.slug {
        Some(slug) => match ctx.store.inbound_url_by_slug(&workspace.id, slug).await? {
            Some(url) => Some(url),
            None => {
                trace.integration = Integration {
                    kind: "inbound_url".into(),
                    id: None,
                    name: slug.clone(),
                };
                return Ok(reject(
                    404,
                    "not_found",
                    format!("no inbound URL with slug {slug:?}"),
                ));
            }
        },
        None => None,
    };
    if let Some(url) = &url {
        trace.integration = Integration {
            kind: "inbound_url".into(),
            id: Some(url.id.to_string()),
            name: url.name.clone(),
        };
        // Before anything else about the URL: a stranger learns nothing.
        if !url.allowed_sources.is_empty() {
            let allowed = call
                .client_ip
                .is_some_and(|ip| crate::client_ip::is_allowed(ip, &url.allowed_sources));
            if !allowed {
                let from = call
                    .client_ip
                    .map_or_else(|| "an unknown address".to_string(), |ip| ip.to_string());
                return Ok(reject(
                    403,
                    "forbidden",
                    format!("this inbound URL accepts calls only from its allowed sources, not from {from}"),
                ));
            }
        }
        if !url.is_enabled {
            return Ok(suspended());
        }
    }
    let proved = match prove(&ctx.reads(), &workspace.id, call, url.as_ref(), trace).await? {
        Ok(proved) => proved,
        Err(outcome) => return Ok(outcome),
    };
    normalize_and_apply(ctx, call, trace, &workspace, url.as_ref(), &proved).await
}

/// The answer of a deactivated inbound URL: `503`, so the gateway retries later.
fn suspended() -> Outcome {
    Outcome::Rejected(Rejection {
        status: 503,
        code: "suspended",
        message: "this inbound URL is deactivated; retry later".into(),
        retry_after_secs: Some(SUSPENDED_RETRY_SECS),
    })
}

/// A request that proved authentic (or, reprocessed, did when it arrived),
/// parsed for its gateway's adapter.
struct Proved {
    request: InboundRequest,
    payload: Payload,
    adapter: &'static dyn GatewayAdapter,
}

/// Reads the call and proves it with the workspace's keys of its gateway,
/// noting the gateway, the redactor and the verification in `trace`. The
/// inner `Err` is the answer instead (unreadable, undetected, unproven).
async fn prove(
    ctx: &ReadContext<'_>,
    ws: &WorkspaceId,
    call: &InboundCall,
    url: Option<&InboundUrl>,
    trace: &mut Trace,
) -> StoreResult<Result<Proved, Outcome>> {
    let keys = match keys::plain_keys(ctx.store, ctx.sealer, ws).await {
        Ok(keys) => keys,
        Err(keys::KeyError::Store(e)) => return Err(e),
        Err(e) => {
            tracing::error!(error = %e, "cannot read gateway keys");
            return Ok(Err(reject(500, "internal", "gateway keys cannot be read")));
        }
    };
    // Every key is masked wherever it appears in what we store, even in bodies we cannot parse.
    trace.redactor = Redactor::new(keys.iter().map(|k| k.secret.clone()));
    let (request, payload, gateway) = match read_request(call, url) {
        Ok(read) => read,
        Err(outcome) => return Ok(Err(outcome)),
    };
    trace.gateway = Some(gateway);
    let adapter = gateways::adapter(gateway);
    let mine: Vec<&keys::PlainKey> = keys.iter().filter(|k| k.gateway == gateway).collect();
    let secrets: Vec<&str> = mine.iter().map(|k| k.secret.as_str()).collect();
    let verified = adapter
        .verify(&request, &payload, &secrets, ctx.now)
        .and_then(|i| {
            mine.get(i)
                .map(|k| k.id.clone())
                .ok_or(VerifyError::BadSignature("proof"))
        });
    let key_id: KeyId = match verified {
        Ok(id) => id,
        Err(e) => {
            trace.verification = json!({"result": "failed", "error": e.to_string()});
            return Ok(Err(reject(401, "unauthorized", e.to_string())));
        }
    };
    trace.verification = json!({"result": "verified", "key_id": key_id});
    trace.key_id = Some(key_id);
    Ok(Ok(Proved {
        request,
        payload,
        adapter,
    }))
}

/// Normalizes an authentic request and applies it (or says why it is ignored).
async fn normalize_and_apply(
    ctx: &InboundContext<'_>,
    call: &InboundCall,
    trace: &mut Trace,
    workspace: &Workspace,
    url: Option<&InboundUrl>,
    proved: &Proved,
) -> Result<Outcome, StoreError> {
    match normalize(trace, proved) {
        Ok(event) => apply_event(ctx, call, trace, workspace, url, event).await,
        Err(outcome) => Ok(outcome),
    }
}

/// The adapter's canonical event (noted in `trace`), with the buyer filled
/// in when the gateway's API told who they are (`lookup`); `Err`: ignored.
fn normalize(trace: &mut Trace, proved: &Proved) -> Result<NormalizedEvent, Outcome> {
    match proved.adapter.normalize(&proved.request, &proved.payload) {
        Normalized::Ignored(ignored) => {
            trace.native_event = ignored.native_event;
            Err(Outcome::Ignored {
                reason: ignored.reason,
                is_ack: ignored.is_ack,
            })
        }
        Normalized::Event(mut event) => {
            if let Some(buyer) = trace.resolved.clone() {
                lookup::fill_customer(&mut event.customer, buyer);
            }
            trace.event = Some((*event).clone());
            Ok(*event)
        }
    }
}

/// Resolves the gateway and parses the body; an `Err` is the reply.
fn read_request(
    call: &InboundCall,
    url: Option<&InboundUrl>,
) -> Result<(InboundRequest, Payload, GatewayKind), Outcome> {
    let named = match call.query.iter().find(|(k, _)| k == "gateway") {
        Some((_, g)) => Some(GatewayKind::parse(g).ok_or_else(|| {
            reject(
                400,
                "bad_request",
                format!(
                    "unknown gateway {g:?}; expected one of {}",
                    GatewayKind::join(&GatewayKind::ALL)
                ),
            )
        })?),
        None => None,
    };
    if let (Some(url), Some(named)) = (url, named) {
        if url.gateway != named {
            return Err(reject(
                400,
                "bad_request",
                format!(
                    "this inbound URL receives {} webhooks, not {named}",
                    url.gateway
                ),
            ));
        }
    }
    let body = match &call.body {
        Ok(body) => body.clone(),
        Err(BodyError::TooLarge(max)) => {
            return Err(reject(
                413,
                "payload_too_large",
                format!("the body is larger than the limit of {max} bytes"),
            ))
        }
        Err(BodyError::Read(e)) => {
            return Err(reject(
                400,
                "bad_request",
                format!("the body could not be read: {e}"),
            ))
        }
        Err(BodyError::TimedOut(limit)) => {
            return Err(reject(
                408,
                "request_timeout",
                format!("the body did not arrive within {limit:?}"),
            ))
        }
    };
    let content_type = call
        .headers
        .iter()
        .find(|(k, _)| k == "content-type")
        .map(|(_, v)| v.as_str());
    let kind = match content_type {
        Some(ct) => BodyKind::from_content_type(ct).ok_or_else(|| {
            reject(415, "unsupported_media_type", format!("content type {ct:?} is not accepted; send application/json or application/x-www-form-urlencoded"))
        })?,
        None => BodyKind::sniff(&body),
    };
    let payload =
        Payload::parse(kind, &body).map_err(|e| reject(400, "bad_request", e.to_string()))?;
    let request = InboundRequest {
        headers: call.headers.clone(),
        query: call.query.clone(),
        body,
        kind,
    };
    let gateway = match url.map(|u| u.gateway).or(named) {
        Some(g) => g,
        None => detect_one(&request, &payload)?,
    };
    Ok((request, payload, gateway))
}

/// The one gateway whose shape the request has. None, or several, is a 400
/// that says to name it: a guess could grant through the wrong gateway's
/// reading of the body (issue 10: refuse an ambiguous request by name).
fn detect_one(request: &InboundRequest, payload: &Payload) -> Result<GatewayKind, Outcome> {
    match gateways::detect_candidates(request, payload).as_slice() {
        [one] => Ok(*one),
        [] => Err(reject(
            400,
            "bad_request",
            format!(
                "could not detect the gateway from the request; tried {}. Add ?gateway=NAME to the URL",
                GatewayKind::join(&GatewayKind::ALL)
            ),
        )),
        several => Err(reject(
            400,
            "bad_request",
            format!(
                "the request has the shape of several gateways ({}); add ?gateway=NAME to the URL with the one that sent it",
                GatewayKind::join(several)
            ),
        )),
    }
}

/// Checks a canonical event can be applied, then applies it in one transaction.
async fn apply_event(
    ctx: &InboundContext<'_>,
    call: &InboundCall,
    trace: &mut Trace,
    workspace: &Workspace,
    url: Option<&InboundUrl>,
    event: NormalizedEvent,
) -> Result<Outcome, StoreError> {
    let ws = &workspace.id;
    let (email, targets) = match admit(&ctx.reads(), trace, ws, url, &event).await? {
        Admission::Ready { email, targets } => (email, targets),
        Admission::Wait(lookup) => return store_pending(ctx, call, trace, lookup).await,
        Admission::Answer(outcome) => return Ok(outcome),
    };
    let request = request_detail(call, trace);
    let claim = processed_event(ws, &event, call, &trace.log_id, ctx.now);
    let mut tx = ctx.store.begin().await?;
    let fanout = ctx.outbox.fanout(ctx.now);
    let applied = apply_in(
        tx.as_mut(),
        &claim,
        &event,
        email.as_ref(),
        &targets,
        fanout,
    )
    .await?;
    let (outcome, queued) = match applied {
        Some((applied, queued)) => {
            trace.effects = applied.effects;
            (Outcome::Processed, queued)
        }
        None => (Outcome::Duplicate, 0),
    };
    let reply = reply_for(&outcome, &trace.log_id);
    if let Some(entry) = log_entry(call, trace, request, &outcome, &reply, ctx.now) {
        tx.insert_log(&entry).await?;
    }
    tx.commit().await?;
    ctx.outbox.wake_for(queued);
    Ok(outcome)
}

/// Whether an authentic event can go to the ledger, and with what.
enum Admission {
    /// The buyer's e-mail (if valid) and what the event grants or concerns.
    Ready {
        email: Option<Email>,
        targets: Targets,
    },
    /// A granting event that names only the buyer's id: it waits for them.
    Wait(crate::model::CustomerLookup),
    /// It cannot be applied; the answer says why.
    Answer(Outcome),
}

/// DESIGN.md § Inbound: a granting event needs a buyer, a transaction and
/// something to grant; an authentic one that lacks them is ignored (and can
/// be reprocessed once the mapping is fixed). Reads only.
async fn admit(
    ctx: &ReadContext<'_>,
    trace: &Trace,
    ws: &WorkspaceId,
    url: Option<&InboundUrl>,
    event: &NormalizedEvent,
) -> StoreResult<Admission> {
    let email = event.customer.email.as_deref().map(Email::parse);
    let ignored = |reason: String| {
        Admission::Answer(Outcome::Ignored {
            reason,
            is_ack: false,
        })
    };
    if access::grants_access(event.status) && email.is_none() {
        if let Some(lookup) = lookup::needed(ctx, trace, ws, event).await? {
            return Ok(Admission::Wait(lookup));
        }
    }
    let grants = access::grants_access(event.status);
    if grants {
        match &email {
            Some(Ok(_)) => {}
            Some(Err(e)) => return Ok(ignored(e.clone())),
            None => return Ok(ignored("the event has no buyer e-mail".into())),
        }
        if event.transaction_id.is_none() {
            return Ok(ignored("the event has no transaction id".into()));
        }
    }
    let targets = targets_for(ctx.store, ws, url, event).await?;
    if grants && targets.is_empty() {
        let product = event
            .product
            .as_ref()
            .map_or("(none)".to_string(), |p| p.id.clone());
        return Ok(ignored(format!(
            "no product is mapped to {} product {product}; add it to a product's external_ids or to the inbound URL, then reprocess",
            event.gateway
        )));
    }
    Ok(Admission::Ready {
        email: email.and_then(Result::ok),
        targets,
    })
}

/// The record that claims an event once: its dedupe key and the call's log entry.
fn processed_event(
    ws: &WorkspaceId,
    event: &NormalizedEvent,
    call: &InboundCall,
    log_id: &LogId,
    now: DateTime<Utc>,
) -> ProcessedEvent {
    ProcessedEvent {
        workspace_id: ws.clone(),
        gateway: event.gateway,
        reference: reference(event, &call.body),
        status: event.status,
        transaction_id: event.transaction_id.clone(),
        subscription_id: event.subscription_id.clone(),
        log_id: log_id.clone(),
        processed_at: now,
    }
}

/// Applies an admitted event in `tx`: takes its sale's lock, claims it,
/// applies it to the access ledger and enqueues its outbound events. The
/// real call and the dry run share this (the dry run's `tx` writes
/// nothing). `None`: the event was processed before, nothing was applied.
/// The [`Applied`] events are the ones enqueued after the purchase event;
/// the count beside it is of the deliveries queued for them all. With no
/// endpoint to take them (and a `tx` that keeps no unsent event), no event
/// is drafted at all.
async fn apply_in(
    tx: &mut dyn LedgerTx,
    claim: &ProcessedEvent,
    event: &NormalizedEvent,
    email: Option<&Email>,
    targets: &Targets,
    fanout: Fanout<'_>,
) -> StoreResult<Option<(Applied, usize)>> {
    let ws = &claim.workspace_id;
    // Events about one sale are applied one at a time (issue 15): the lock
    // comes before anything is read, so this sees what the last one wrote.
    let keys = access::sale_keys(
        ws,
        event.gateway,
        event.transaction_id.as_deref(),
        event.subscription_id.as_deref(),
    );
    // A granting event's student is written with the claim (on PostgreSQL
    // in the claim's statement: a round trip less per approval).
    let buyer = match email {
        Some(email) if access::grants_access(event.status) => {
            let candidate = access::student_candidate(ws, event, email, fanout.now);
            match tx.claim_with_student(&keys, claim, &candidate).await? {
                Some((student, is_new)) => access::Buyer::Student(student, is_new),
                None => return Ok(None),
            }
        }
        _ => {
            if !tx.lock_and_claim(&keys, claim).await? {
                return Ok(None);
            }
            email.map_or(access::Buyer::Unknown, access::Buyer::Email)
        }
    };
    let endpoints = fanout_endpoints(tx, ws, fanout).await?;
    let drafts_events = !endpoints.is_empty() || tx.keeps_unsent_events();
    let applied = access::apply(tx, ws, event, buyer, targets, fanout.now, drafts_events).await?;
    if !drafts_events {
        return Ok(Some((applied, 0)));
    }
    let mut products = targets.products.clone();
    let members = tx.category_products(ws, &targets.categories).await?;
    products.extend(members.into_iter().map(|(_, p)| p));
    products.sort();
    products.dedup();
    let mut drafts = vec![purchase_event(event, applied.student_id.as_ref(), products)];
    drafts.extend(applied.events.iter().cloned());
    let queued = enqueue_to(tx, ws, drafts, fanout, &endpoints).await?;
    let deliveries = queued.iter().map(|(_, d)| d.len()).sum();
    Ok(Some((applied, deliveries)))
}

/// Stores a call that waits for its buyer with its log entry, in one
/// transaction, so the `200` promises only what is durable.
async fn store_pending(
    ctx: &InboundContext<'_>,
    call: &InboundCall,
    trace: &Trace,
    lookup: crate::model::CustomerLookup,
) -> Result<Outcome, StoreError> {
    let outcome = Outcome::Pending {
        customer_ref: lookup.customer_ref.clone(),
    };
    let reply = reply_for(&outcome, &trace.log_id);
    let request = request_detail(call, trace);
    let mut tx = ctx.store.begin().await?;
    if let Some(entry) = log_entry(call, trace, request, &outcome, &reply, ctx.now) {
        tx.insert_log(&entry).await?;
    }
    tx.insert_lookup(&lookup).await?;
    tx.commit().await?;
    Ok(outcome)
}

/// The inbound URL's products and categories; when it names none (or on the
/// global URL), the products whose `external_ids` match the gateway's product.
async fn targets_for(
    store: &dyn Store,
    ws: &WorkspaceId,
    url: Option<&InboundUrl>,
    event: &NormalizedEvent,
) -> Result<Targets, StoreError> {
    let access_days = url.and_then(|u| u.access_days);
    if let Some(url) = url.filter(|u| !u.product_ids.is_empty() || !u.category_ids.is_empty()) {
        return Ok(Targets {
            products: url.product_ids.clone(),
            categories: url.category_ids.clone(),
            access_days,
        });
    }
    let mut products = Vec::new();
    let ids = event
        .product
        .iter()
        .map(|p| &p.id)
        .chain(&event.product_aliases);
    for id in ids {
        products = store.products_by_external_id(ws, event.gateway, id).await?;
        if !products.is_empty() {
            break;
        }
    }
    Ok(Targets {
        products,
        categories: Vec::new(),
        access_days,
    })
}

/// The dedupe reference: the transaction, else the gateway's event id, else
/// the body's hash. The storage asks for a transaction's statuses by this
/// key (`storage::TRANSACTION_STATUSES`), so `tx:{id}` must stay its form.
fn reference(event: &NormalizedEvent, body: &Result<Bytes, BodyError>) -> String {
    if let Some(tx) = &event.transaction_id {
        return format!("tx:{tx}");
    }
    if let Some(id) = &event.event_id {
        return format!("evt:{id}");
    }
    let bytes = body.as_ref().map(|b| b.as_ref()).unwrap_or_default();
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

/// The redacted request, as a log entry's detail shows it. Built before a
/// ledger transaction begins, so the redaction does not run while the call
/// holds the SQLite writer (issue 9).
fn request_detail(call: &InboundCall, trace: &Trace) -> Value {
    let r = &trace.redactor;
    let body = match &call.body {
        Ok(b) => Value::String(r.body(b)),
        Err(_) => Value::Null,
    };
    let request_id = call
        .headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(crate::app::REQUEST_ID))
        .map(|(_, v)| v.as_str());
    json!({
        "request_id": request_id,
        "method": "POST",
        "path": call.path,
        "client_ip": call.client_ip,
        "headers": r.headers(&call.headers),
        "query": r.query(&call.query),
        "body": body,
    })
}

fn log_entry(
    call: &InboundCall,
    trace: &Trace,
    request: Value,
    outcome: &Outcome,
    reply: &InboundReply,
    now: DateTime<Utc>,
) -> Option<LogEntry> {
    let workspace_id = trace.workspace.clone()?;
    let (status, label, error) = match outcome {
        Outcome::Processed => (LogStatus::Success, "processed", None),
        Outcome::Duplicate => (LogStatus::Success, "duplicate", None),
        Outcome::Ignored {
            reason,
            is_ack: true,
        } => (LogStatus::Success, "ignored", Some(reason.clone())),
        Outcome::Ignored { reason, .. } => (LogStatus::Failure, "ignored", Some(reason.clone())),
        Outcome::Pending { customer_ref } => (
            LogStatus::Success,
            "pending",
            Some(format!(
                "waiting for the buyer's e-mail from the gateway's API (customer {customer_ref})"
            )),
        ),
        Outcome::Rejected(r) => (LogStatus::Failure, "rejected", Some(r.message.clone())),
    };
    let r = &trace.redactor;
    let event_type = match &trace.event {
        Some(e) => Some(e.status.event_type().to_string()),
        None => trace.native_event.clone(),
    };
    let detail = json!({
        "request": request,
        "verification": trace.verification,
        "normalized": trace.event,
        "outcome": label,
        "reprocess_of": trace.reprocess_of,
        "effects": trace.effects,
        "response": {"status": reply.status, "body": reply.body},
    });
    Some(LogEntry {
        id: trace.log_id.clone(),
        workspace_id,
        at: now,
        direction: Direction::In,
        gateway: trace.gateway,
        event_type,
        email: trace.event.as_ref().and_then(|e| e.customer.email.clone()),
        status,
        http_status: reply.status,
        duration_ms: i64::try_from(call.started.elapsed().as_millis()).unwrap_or(i64::MAX),
        integration: trace.integration.clone(),
        attempts: 1,
        error: error.map(|e| r.text(&e)),
        detail,
        reprocess_of: trace.reprocess_of.clone(),
    })
}
