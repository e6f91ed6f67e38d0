//! `/inbound-urls` (Entrada): where each gateway posts, and what it grants.

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
use crate::ids::{CategoryId, InboundUrlId, ProductId, WorkspaceId};
use crate::inbound::url::{self, InboundUrlPatch as Patch, NewInboundUrl};
use crate::model::{GatewayKind, InboundUrl};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_inbound_url, list_inbound_urls))
        .routes(routes!(
            get_inbound_url,
            update_inbound_url,
            delete_inbound_url
        ))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
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
