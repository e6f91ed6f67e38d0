//! `/products`: the catalog's products and their gateway `external_ids`.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::extract::{string_or_number, Json, ListOut, ListParams, Query, Ws};
use crate::app::AppState;
use crate::catalog::product;
use crate::error::{ApiError, ErrorBody};
use crate::ids::ProductId;
use crate::model::{ExternalId, GatewayKind, Product};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_product, list_products))
        .routes(routes!(get_product, update_product, delete_product))
}

/// A gateway's id for this product.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ExternalIdIo {
    pub gateway: GatewayKind,
    #[serde(deserialize_with = "string_or_number")]
    pub id: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"name": "Curso Completo de Excel", "external_ids": [{"gateway": "hotmart", "id": "3456789"}]}))]
pub struct ProductIn {
    pub name: String,
    #[serde(default)]
    pub external_ids: Vec<ExternalIdIo>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"name": "Excel Avançado"}))]
pub struct ProductPatch {
    pub name: Option<String>,
    pub external_ids: Option<Vec<ExternalIdIo>>,
}

#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"id": "prod_01JF3Y8Q6ZV5N2T4W7X9A0B1C2", "name": "Curso Completo de Excel", "external_ids": [{"gateway": "hotmart", "id": "3456789"}], "created_at": "2025-01-15T13:46:05Z"}))]
pub struct ProductOut {
    pub id: ProductId,
    pub name: String,
    pub external_ids: Vec<ExternalIdIo>,
    pub created_at: DateTime<Utc>,
}

impl From<Product> for ProductOut {
    fn from(p: Product) -> Self {
        Self {
            id: p.id,
            name: p.name,
            external_ids: p
                .external_ids
                .into_iter()
                .map(|e| ExternalIdIo {
                    gateway: e.gateway,
                    id: e.id,
                })
                .collect(),
            created_at: p.created_at,
        }
    }
}

fn model_ids(ids: Vec<ExternalIdIo>) -> Vec<ExternalId> {
    ids.into_iter()
        .map(|e| ExternalId {
            gateway: e.gateway,
            id: e.id,
        })
        .collect()
}

fn parse_id(raw: &str) -> Result<ProductId, ApiError> {
    ProductId::parse(raw).ok_or_else(|| ApiError::NotFound("product not found".into()))
}

#[utoipa::path(post, path = "/products", tag = "catalog", request_body = ProductIn,
    responses((status = 201, body = ProductOut), (status = 422, body = ErrorBody)))]
async fn create_product(
    State(state): State<AppState>,
    Ws(ws): Ws,
    Json(body): Json<ProductIn>,
) -> Result<(StatusCode, Json<ProductOut>), ApiError> {
    let p = product::create_product(
        state.store.as_ref(),
        &ws,
        &body.name,
        model_ids(body.external_ids),
        state.clock.now(),
    )
    .await?;
    Ok((StatusCode::CREATED, Json(p.into())))
}

#[utoipa::path(get, path = "/products", tag = "catalog", params(ListParams),
    responses((status = 200, body = ListOut<ProductOut>)))]
async fn list_products(
    State(state): State<AppState>,
    Ws(ws): Ws,
    Query(params): Query<ListParams>,
) -> Result<Json<ListOut<ProductOut>>, ApiError> {
    let page = params.page()?;
    let rows = state.store.list_products(&ws, &page).await?;
    Ok(Json(ListOut::from_rows(
        rows,
        &page,
        |p| p.id.to_string(),
        ProductOut::from,
    )))
}

#[utoipa::path(get, path = "/products/{id}", tag = "catalog",
    responses((status = 200, body = ProductOut), (status = 404, body = ErrorBody)))]
async fn get_product(
    State(state): State<AppState>,
    Ws(ws): Ws,
    Path(id): Path<String>,
) -> Result<Json<ProductOut>, ApiError> {
    let p = product::get_product(state.store.as_ref(), &ws, &parse_id(&id)?).await?;
    Ok(Json(p.into()))
}

#[utoipa::path(patch, path = "/products/{id}", tag = "catalog", request_body = ProductPatch,
    responses((status = 200, body = ProductOut), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn update_product(
    State(state): State<AppState>,
    Ws(ws): Ws,
    Path(id): Path<String>,
    Json(body): Json<ProductPatch>,
) -> Result<Json<ProductOut>, ApiError> {
    let p = product::update_product(
        state.store.as_ref(),
        &ws,
        &parse_id(&id)?,
        body.name.as_deref(),
        body.external_ids.map(model_ids),
    )
    .await?;
    Ok(Json(p.into()))
}

#[utoipa::path(delete, path = "/products/{id}", tag = "catalog",
    responses((status = 204), (status = 404, body = ErrorBody)))]
async fn delete_product(
    State(state): State<AppState>,
    Ws(ws): Ws,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    product::delete_product(state.store.as_ref(), &ws, &parse_id(&id)?).await?;
    Ok(StatusCode::NO_CONTENT)
}
