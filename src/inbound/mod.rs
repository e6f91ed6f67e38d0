//! Entrada: receiving gateway webhooks. [`receive`] takes one call as plain
//! data, finds the workspace and inbound URL, reads and verifies the body
//! with the gateway's adapter, normalizes it, and applies it to the ledger;
//! the event record, its effects and the call's log entry commit in one
//! transaction before the reply is sent. `receive.rs` is the HTTP side.

pub mod access;
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
use crate::outbound::event::{enqueue, purchase_event};
use crate::outbound::Outbox;
use crate::redact::Redactor;
use crate::storage::{ProcessedEvent, Store, StoreError};
use access::{Effect, Targets};
use gateways::Normalized;
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
    effects: Vec<Effect>,
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
    let d = &original.detail;
    if original.direction != crate::model::Direction::In {
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
    let mut trace = new_trace();
    trace.workspace = Some(workspace.id.clone());
    trace.integration = original.integration.clone();
    trace.gateway = Some(gateway);
    trace.reprocess_of = Some(original.id.clone());
    trace.key_id = proving_key(&d["verification"]);
    trace.resolved = resolved;
    trace.verification =
        json!({"result": "verified", "reprocess_of": original.id, "original": d["verification"]});
    let url = match original
        .integration
        .id
        .as_deref()
        .and_then(crate::ids::InboundUrlId::parse)
    {
        Some(id) => ctx.store.get_inbound_url(&workspace.id, &id).await.ok(),
        None => None,
    };
    let outcome = renormalize(ctx, &call, &mut trace, workspace, url.as_ref(), gateway).await;
    Ok(finish(ctx, &call, &trace, outcome).await)
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

async fn renormalize(
    ctx: &InboundContext<'_>,
    call: &InboundCall,
    trace: &mut Trace,
    workspace: &Workspace,
    url: Option<&InboundUrl>,
    gateway: GatewayKind,
) -> Result<Outcome, StoreError> {
    let body = call.body.clone().unwrap_or_default();
    let content_type = call
        .headers
        .iter()
        .find(|(k, _)| k == "content-type")
        .map(|(_, v)| v.as_str());
    let kind = content_type
        .and_then(BodyKind::from_content_type)
        .unwrap_or_else(|| BodyKind::sniff(&body));
    let payload = match Payload::parse(kind, &body) {
        Ok(p) => p,
        Err(e) => return Ok(reject(400, "bad_request", e.to_string())),
    };
    let request = InboundRequest {
        headers: call.headers.clone(),
        query: call.query.clone(),
        body,
        kind,
    };
    normalize_and_apply(
        ctx,
        call,
        trace,
        workspace,
        url,
        gateways::adapter(gateway),
        &request,
        &payload,
    )
    .await
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
            return Ok(Outcome::Rejected(Rejection {
                status: 503,
                code: "suspended",
                message: "this inbound URL is deactivated; retry later".into(),
                retry_after_secs: Some(SUSPENDED_RETRY_SECS),
            }));
        }
    }
    let keys = match keys::plain_keys(ctx.store, ctx.sealer, &workspace.id).await {
        Ok(keys) => keys,
        Err(keys::KeyError::Store(e)) => return Err(e),
        Err(e) => {
            tracing::error!(error = %e, "cannot read gateway keys");
            return Ok(reject(500, "internal", "gateway keys cannot be read"));
        }
    };
    // Every key is masked wherever it appears in what we store, even in bodies we cannot parse.
    trace.redactor = Redactor::new(keys.iter().map(|k| k.secret.clone()));
    let (request, payload, gateway) = match read_request(call, url.as_ref()) {
        Ok(read) => read,
        Err(outcome) => return Ok(outcome),
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
            return Ok(reject(401, "unauthorized", e.to_string()));
        }
    };
    trace.verification = json!({"result": "verified", "key_id": key_id});
    trace.key_id = Some(key_id);
    normalize_and_apply(
        ctx,
        call,
        trace,
        &workspace,
        url.as_ref(),
        adapter,
        &request,
        &payload,
    )
    .await
}

/// Normalizes an authentic request and applies it (or says why it is ignored).
#[allow(clippy::too_many_arguments)] // the call, its trace, and what it was resolved to
async fn normalize_and_apply(
    ctx: &InboundContext<'_>,
    call: &InboundCall,
    trace: &mut Trace,
    workspace: &Workspace,
    url: Option<&InboundUrl>,
    adapter: &dyn gateways::GatewayAdapter,
    request: &InboundRequest,
    payload: &Payload,
) -> Result<Outcome, StoreError> {
    match adapter.normalize(request, payload) {
        Normalized::Ignored(ignored) => {
            trace.native_event = ignored.native_event;
            Ok(Outcome::Ignored {
                reason: ignored.reason,
                is_ack: ignored.is_ack,
            })
        }
        Normalized::Event(mut event) => {
            if let Some(buyer) = trace.resolved.clone() {
                lookup::fill_customer(&mut event.customer, buyer);
            }
            apply_event(ctx, call, trace, workspace, url, *event).await
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
    trace.event = Some(event.clone());
    let email = event.customer.email.as_deref().map(Email::parse);
    let mut targets = Targets::default();
    if access::grants_access(event.status) && email.is_none() {
        if let Some(lookup) = lookup::needed(ctx, trace, ws, &event).await? {
            return store_pending(ctx, call, trace, lookup).await;
        }
    }
    if access::grants_access(event.status) {
        let email_ok = matches!(email, Some(Ok(_)));
        if !email_ok {
            let why = match &email {
                Some(Err(e)) => e.clone(),
                _ => "the event has no buyer e-mail".into(),
            };
            return Ok(Outcome::Ignored {
                reason: why,
                is_ack: false,
            });
        }
        if event.transaction_id.is_none() {
            return Ok(Outcome::Ignored {
                reason: "the event has no transaction id".into(),
                is_ack: false,
            });
        }
        targets = targets_for(ctx.store, ws, url, &event).await?;
        if targets.is_empty() {
            let product = event
                .product
                .as_ref()
                .map_or("(none)".to_string(), |p| p.id.clone());
            return Ok(Outcome::Ignored {
                reason: format!(
                    "no product is mapped to {} product {product}; add it to a product's external_ids or to the inbound URL, then reprocess",
                    event.gateway
                ),
                is_ack: false,
            });
        }
    }
    if targets.is_empty() {
        targets = targets_for(ctx.store, ws, url, &event).await?;
    }
    let email = email.and_then(Result::ok);
    let request = request_detail(call, trace);
    let mut tx = ctx.store.begin().await?;
    // Events about one sale are applied one at a time (issue 15): the lock
    // comes before anything is read, so this sees what the last one wrote.
    let keys = access::sale_keys(
        ws,
        event.gateway,
        event.transaction_id.as_deref(),
        event.subscription_id.as_deref(),
    );
    tx.lock_keys(&keys).await?;
    let claimed = tx
        .claim_event(&ProcessedEvent {
            workspace_id: ws.clone(),
            gateway: event.gateway,
            reference: reference(&event, &call.body),
            status: event.status,
            transaction_id: event.transaction_id.clone(),
            subscription_id: event.subscription_id.clone(),
            log_id: trace.log_id.clone(),
            processed_at: ctx.now,
        })
        .await?;
    let outcome = if claimed {
        let applied =
            access::apply(tx.as_mut(), ws, &event, email.as_ref(), &targets, ctx.now).await?;
        let mut products = targets.products.clone();
        let members = tx.category_products(ws, &targets.categories).await?;
        products.extend(members.into_iter().map(|(_, p)| p));
        products.sort();
        products.dedup();
        let mut drafts = vec![purchase_event(
            &event,
            applied.student_id.as_ref(),
            products,
        )];
        drafts.extend(applied.events);
        enqueue(tx.as_mut(), ws, drafts, ctx.outbox.fanout(ctx.now)).await?;
        trace.effects = applied.effects;
        Outcome::Processed
    } else {
        Outcome::Duplicate
    };
    let reply = reply_for(&outcome, &trace.log_id);
    if let Some(entry) = log_entry(call, trace, request, &outcome, &reply, ctx.now) {
        tx.insert_log(&entry).await?;
    }
    tx.commit().await?;
    ctx.outbox.wake();
    Ok(outcome)
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

/// The dedupe reference: the transaction, else the gateway's event id, else the body's hash.
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
