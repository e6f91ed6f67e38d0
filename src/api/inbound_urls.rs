//! `/inbound-urls` (Entrada): where each gateway posts, and what it grants.
//!
//! `POST /inbound-urls/{id}/dry-run` takes a would-be call,
//! `{"payload": "<raw body>", "content_type": "application/json", "headers":
//! {"X-HOTMART-HOTTOK": "…"}, "query": "signature=…"}` (all but `payload`
//! optional; without `content_type`, JSON if the payload parses as JSON,
//! else a form), and answers `200` with what it would do ([`DryRunOut`]:
//! `outcome`, `http_status`, `message`, `gateway`, `proof {passed, reason}`,
//! `event`, `student`, `effects [{action, product_id|category_id, name,
//! until}]`, `event_types`, `outbound [{event_type, endpoint_id,
//! endpoint_name}]`) even when the proof fails; it stores and sends nothing
//! (`inbound::dry_run`). `404` for an unknown URL, `422` for bad input.

use std::collections::BTreeMap;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::extract::{double_option, Json, ListOut, ListParams, Query, Ws};
use crate::app::AppState;
use crate::error::{ApiError, ErrorBody};
use crate::ids::{
    CategoryId, EndpointId, GrantId, InboundUrlId, KeyId, ProductId, StudentId, WorkspaceId,
};
use crate::inbound::dry_run::{self, DryRunCall, DryRunReport};
use crate::inbound::normalize::NormalizedEvent;
use crate::inbound::url::{self, InboundUrlPatch as Patch, NewInboundUrl};
use crate::inbound::ReadContext;
use crate::model::{GatewayKind, InboundUrl};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_inbound_url, list_inbound_urls))
        .routes(routes!(
            get_inbound_url,
            update_inbound_url,
            delete_inbound_url
        ))
        .routes(routes!(dry_run_inbound_url))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"name": "Vendas Hotmart", "gateway": "hotmart", "access_days": 365, "product_ids": ["prod_01JF3Y8Q6ZV5N2T4W7X9A0B1C2"], "category_ids": ["cat_01JF3Y9R7AW6P3U5X8Y0B1C2D3"]}))]
pub struct InboundUrlIn {
    pub name: String,
    pub gateway: GatewayKind,
    /// Lowercase letters, digits and hyphens; generated from the name when omitted.
    pub slug: Option<String>,
    /// Grants expire this many days after the purchase; absent for lifetime access.
    pub access_days: Option<u32>,
    #[serde(default)]
    pub product_ids: Vec<ProductId>,
    #[serde(default)]
    pub category_ids: Vec<CategoryId>,
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Addresses calls must come from: CIDRs (`203.0.113.0/24`) or single
    /// addresses; empty or absent, from anywhere. A call from elsewhere is
    /// `403`. Behind a reverse proxy, list it in `GANCHO_TRUSTED_PROXIES`.
    #[serde(default)]
    pub allowed_sources: Vec<String>,
}

fn yes() -> bool {
    true
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"enabled": false}))]
pub struct InboundUrlPatch {
    pub name: Option<String>,
    pub gateway: Option<GatewayKind>,
    pub slug: Option<String>,
    /// `null` makes access lifetime again.
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<u32>)]
    pub access_days: Option<Option<u32>>,
    pub product_ids: Option<Vec<ProductId>>,
    pub category_ids: Option<Vec<CategoryId>>,
    pub enabled: Option<bool>,
    /// Replaces the list; `[]` accepts calls from anywhere again.
    pub allowed_sources: Option<Vec<String>>,
}

#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"id": "in_01JF3YB4N6Q8S0T2V4W6X8Z0A2", "name": "Vendas Hotmart", "gateway": "hotmart", "slug": "vendas-hotmart", "access_days": 365, "product_ids": ["prod_01JF3Y8Q6ZV5N2T4W7X9A0B1C2"], "category_ids": ["cat_01JF3Y9R7AW6P3U5X8Y0B1C2D3"], "enabled": true, "allowed_sources": [], "url": "https://gancho.example.com/in/ejpmtuf26sawzqffsvh9frhd/vendas-hotmart?gateway=hotmart", "created_at": "2025-01-15T13:55:18Z"}))]
pub struct InboundUrlOut {
    pub id: InboundUrlId,
    pub name: String,
    pub gateway: GatewayKind,
    pub slug: String,
    pub access_days: Option<u32>,
    pub product_ids: Vec<ProductId>,
    pub category_ids: Vec<CategoryId>,
    pub enabled: bool,
    /// Canonical CIDRs; empty: calls from anywhere.
    pub allowed_sources: Vec<String>,
    /// The URL to configure in the gateway.
    pub url: String,
    pub created_at: DateTime<Utc>,
}

async fn out(state: &AppState, ws: &WorkspaceId, u: InboundUrl) -> Result<InboundUrlOut, ApiError> {
    let workspace = state.store.get_workspace(ws).await?;
    Ok(InboundUrlOut {
        url: url::public_url(
            &state.config.public_url,
            &workspace.public_id,
            &u.slug,
            u.gateway,
        ),
        id: u.id,
        name: u.name,
        gateway: u.gateway,
        slug: u.slug,
        access_days: u.access_days,
        product_ids: u.product_ids,
        category_ids: u.category_ids,
        enabled: u.is_enabled,
        allowed_sources: u.allowed_sources,
        created_at: u.created_at,
    })
}

fn parse_id(raw: &str) -> Result<InboundUrlId, ApiError> {
    InboundUrlId::parse(raw).ok_or_else(|| ApiError::NotFound("inbound URL not found".into()))
}

#[utoipa::path(post, path = "/inbound-urls", tag = "inbound", request_body = InboundUrlIn,
    responses((status = 201, body = InboundUrlOut), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn create_inbound_url(
    State(state): State<AppState>,
    Ws(ws): Ws,
    Json(b): Json<InboundUrlIn>,
) -> Result<(StatusCode, Json<InboundUrlOut>), ApiError> {
    let new = NewInboundUrl {
        name: b.name,
        gateway: b.gateway,
        slug: b.slug,
        access_days: b.access_days,
        product_ids: b.product_ids,
        category_ids: b.category_ids,
        is_enabled: b.enabled,
        allowed_sources: b.allowed_sources,
    };
    let u = url::create_inbound_url(state.store.as_ref(), &ws, new, state.clock.now()).await?;
    Ok((StatusCode::CREATED, Json(out(&state, &ws, u).await?)))
}

#[utoipa::path(get, path = "/inbound-urls", tag = "inbound", params(ListParams),
    responses((status = 200, body = ListOut<InboundUrlOut>)))]
async fn list_inbound_urls(
    State(state): State<AppState>,
    Ws(ws): Ws,
    Query(params): Query<ListParams>,
) -> Result<Json<ListOut<InboundUrlOut>>, ApiError> {
    let page = params.page()?;
    let rows = state.store.list_inbound_urls(&ws, &page).await?;
    let list = ListOut::from_rows(rows, &page, |u| u.id.to_string(), |u| u);
    let mut items = Vec::with_capacity(list.items.len());
    for u in list.items {
        items.push(out(&state, &ws, u).await?);
    }
    Ok(Json(ListOut {
        items,
        next_cursor: list.next_cursor,
    }))
}

#[utoipa::path(get, path = "/inbound-urls/{id}", tag = "inbound",
    responses((status = 200, body = InboundUrlOut), (status = 404, body = ErrorBody)))]
async fn get_inbound_url(
    State(state): State<AppState>,
    Ws(ws): Ws,
    Path(id): Path<String>,
) -> Result<Json<InboundUrlOut>, ApiError> {
    let u = url::get_inbound_url(state.store.as_ref(), &ws, &parse_id(&id)?).await?;
    Ok(Json(out(&state, &ws, u).await?))
}

#[utoipa::path(patch, path = "/inbound-urls/{id}", tag = "inbound", request_body = InboundUrlPatch,
    responses((status = 200, body = InboundUrlOut), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn update_inbound_url(
    State(state): State<AppState>,
    Ws(ws): Ws,
    Path(id): Path<String>,
    Json(b): Json<InboundUrlPatch>,
) -> Result<Json<InboundUrlOut>, ApiError> {
    let patch = Patch {
        name: b.name,
        gateway: b.gateway,
        slug: b.slug,
        access_days: b.access_days,
        product_ids: b.product_ids,
        category_ids: b.category_ids,
        is_enabled: b.enabled,
        allowed_sources: b.allowed_sources,
    };
    let u = url::update_inbound_url(state.store.as_ref(), &ws, &parse_id(&id)?, patch).await?;
    Ok(Json(out(&state, &ws, u).await?))
}

#[utoipa::path(delete, path = "/inbound-urls/{id}", tag = "inbound",
    responses((status = 204), (status = 404, body = ErrorBody)))]
async fn delete_inbound_url(
    State(state): State<AppState>,
    Ws(ws): Ws,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    url::delete_inbound_url(state.store.as_ref(), &ws, &parse_id(&id)?).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A would-be call to the inbound URL.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"payload": "{\"event\":\"PURCHASE_APPROVED\",\"data\":{}}", "headers": {"X-Hotmart-Hottok": "hottok-da-sua-conta"}}))]
pub struct DryRunIn {
    /// The raw body, exactly as the gateway would send it.
    pub payload: String,
    /// Default: `application/json` when `payload` parses as JSON, else
    /// `application/x-www-form-urlencoded`.
    pub content_type: Option<String>,
    /// Request headers by name, such as the gateway's signature header.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// The query string (`signature=…&a=b`), with or without its `?`.
    pub query: Option<String>,
}

impl DryRunIn {
    /// The call as plain data; `422` for a header no HTTP request could carry.
    pub fn into_call(self) -> Result<DryRunCall, ApiError> {
        for (name, value) in &self.headers {
            let name_ok = axum::http::HeaderName::from_bytes(name.as_bytes()).is_ok();
            let value_ok =
                axum::http::HeaderValue::from_str(value).is_ok_and(|v| v.to_str().is_ok());
            if !name_ok || !value_ok {
                return Err(ApiError::Validation(format!(
                    "headers: {name:?} is not a valid HTTP header name and visible ASCII value"
                )));
            }
        }
        let query = self.query.unwrap_or_default();
        let query = query.strip_prefix('?').unwrap_or(&query);
        Ok(DryRunCall {
            body: bytes::Bytes::from(self.payload),
            content_type: self.content_type,
            headers: self.headers.into_iter().collect(),
            query: form_urlencoded::parse(query.as_bytes())
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect(),
        })
    }
}

/// What the call would do; nothing of it was stored or sent.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"outcome": "would_apply", "http_status": 200, "message": null, "gateway": "hotmart", "proof": {"passed": true, "reason": "the proof matches a configured key", "key_id": "key_01JF3YC5P7R9T1V3W5X7Z9B1D3"}, "event": {"gateway": "hotmart", "transaction_id": "HP16015479281022", "status": "approved", "customer": {"email": "maria@example.com", "name": "Maria Silva", "phone": "+5511987654321", "document": null}, "product": {"id": "3456789", "name": "Curso Completo de Excel"}, "amount_cents": 49700, "currency": "BRL", "subscription_id": null, "recurrence": null, "occurred_at": "2025-01-15T14:20:00Z", "native_event": "PURCHASE_APPROVED"}, "student": {"email": "maria@example.com", "student_id": null, "is_new": true}, "effects": [{"action": "grant", "product_id": "prod_01JF3Y8Q6ZV5N2T4W7X9A0B1C2", "category_id": null, "name": "Curso Completo de Excel", "until": "2026-01-15T14:20:00Z", "grant_id": null, "reason": null}], "event_types": ["purchase.approved", "student.created", "access.granted"], "outbound": [{"event_type": "access.granted", "endpoint_id": "ep_01JF3YE7R9T1W3Y5A7C9E1G3J5", "endpoint_name": "Área de membros"}]}))]
pub struct DryRunOut {
    /// `would_apply`, `duplicate`, `ignored`, `would_wait_for_buyer`,
    /// `proof_failed`, `unrecognized`, `inactive_url` or `rejected`.
    pub outcome: String,
    /// What the inbound URL would answer.
    pub http_status: u16,
    /// Why, when nothing would be applied (also why `gateway` is null).
    pub message: Option<String>,
    /// The gateway the call is read as; null when it was not reached.
    pub gateway: Option<GatewayKind>,
    /// Null when the call stopped before its proof (a deactivated URL, an unreadable body).
    pub proof: Option<ProofOut>,
    /// The normalized event; null when the call stopped before it.
    pub event: Option<NormalizedEvent>,
    /// The buyer the ledger would act for, when it would act.
    pub student: Option<StudentPreviewOut>,
    pub effects: Vec<EffectOut>,
    /// Every outbound event that would be written, in order.
    pub event_types: Vec<String>,
    /// The deliveries they would queue: one per subscribed, enabled endpoint.
    pub outbound: Vec<OutboundOut>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ProofOut {
    pub passed: bool,
    pub reason: String,
    pub key_id: Option<KeyId>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct StudentPreviewOut {
    pub email: String,
    /// Null for a student who would be created.
    pub student_id: Option<StudentId>,
    pub is_new: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct EffectOut {
    /// `grant`, `extend`, `revoke`, `end` (a canceled subscription's grant
    /// ends at `until`) or `none` (`reason` says why nothing is granted).
    pub action: String,
    pub product_id: Option<ProductId>,
    pub category_id: Option<CategoryId>,
    /// The product's or category's name.
    pub name: Option<String>,
    /// When access would end: null for lifetime access; now for a revoke.
    pub until: Option<DateTime<Utc>>,
    /// The existing grant changed; null for a new grant.
    pub grant_id: Option<GrantId>,
    pub reason: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct OutboundOut {
    pub event_type: String,
    pub endpoint_id: EndpointId,
    pub endpoint_name: String,
}

impl From<DryRunReport> for DryRunOut {
    fn from(r: DryRunReport) -> Self {
        Self {
            outcome: r.outcome.as_str().to_string(),
            http_status: r.http_status,
            message: r.message,
            gateway: r.gateway,
            proof: r.proof.map(|p| ProofOut {
                passed: p.passed,
                reason: p.reason,
                key_id: p.key_id,
            }),
            event: r.event,
            student: r.student.map(|s| StudentPreviewOut {
                email: s.email,
                student_id: s.student_id,
                is_new: s.is_new,
            }),
            effects: r
                .effects
                .into_iter()
                .map(|e| EffectOut {
                    action: e.action.as_str().to_string(),
                    product_id: e.product_id,
                    category_id: e.category_id,
                    name: e.name,
                    until: e.until,
                    grant_id: e.grant_id,
                    reason: e.reason,
                })
                .collect(),
            event_types: r.event_types,
            outbound: r
                .outbound
                .into_iter()
                .map(|d| OutboundOut {
                    event_type: d.event_type,
                    endpoint_id: d.endpoint_id,
                    endpoint_name: d.endpoint_name,
                })
                .collect(),
        }
    }
}

/// What a call to this inbound URL would do, with today's keys and
/// mappings; stores and sends nothing. A failed proof is a result (`200`).
#[utoipa::path(post, path = "/inbound-urls/{id}/dry-run", tag = "inbound", request_body = DryRunIn,
    responses((status = 200, body = DryRunOut, description = "what the call would do; nothing was stored or sent"),
        (status = 400, body = ErrorBody, description = "the request is not valid JSON"),
        (status = 401, body = ErrorBody, description = "missing or wrong token"),
        (status = 404, body = ErrorBody, description = "no inbound URL with this id"),
        (status = 415, body = ErrorBody, description = "the request is not application/json"),
        (status = 422, body = ErrorBody, description = "the request does not have the shape of DryRunIn")))]
async fn dry_run_inbound_url(
    State(state): State<AppState>,
    Ws(ws): Ws,
    Path(id): Path<String>,
    Json(b): Json<DryRunIn>,
) -> Result<Json<DryRunOut>, ApiError> {
    let u = url::get_inbound_url(state.store.as_ref(), &ws, &parse_id(&id)?).await?;
    let workspace = state.store.get_workspace(&ws).await?;
    let ctx = ReadContext {
        store: state.store.as_ref(),
        sealer: &state.sealer,
        now: state.clock.now(),
    };
    let report = dry_run::dry_run(&ctx, &workspace, &u, b.into_call()?).await?;
    Ok(Json(report.into()))
}
