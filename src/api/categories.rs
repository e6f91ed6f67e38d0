//! `/categories`: named groups of products.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::extract::{Json, ListOut, ListParams, Query, Ws};
use crate::app::AppState;
use crate::catalog::category;
use crate::error::{ApiError, ErrorBody};
use crate::ids::{CategoryId, ProductId};
use crate::model::Category;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_category, list_categories))
        .routes(routes!(get_category, update_category, delete_category))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"name": "Trilha Excel", "product_ids": ["prod_01JF3Y8Q6ZV5N2T4W7X9A0B1C2"]}))]
pub struct CategoryIn {
    pub name: String,
    #[serde(default)]
    pub product_ids: Vec<ProductId>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"product_ids": ["prod_01JF3Y8Q6ZV5N2T4W7X9A0B1C2"]}))]
pub struct CategoryPatch {
    pub name: Option<String>,
    pub product_ids: Option<Vec<ProductId>>,
}

#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"id": "cat_01JF3Y9R7AW6P3U5X8Y0B1C2D3", "name": "Trilha Excel", "product_ids": ["prod_01JF3Y8Q6ZV5N2T4W7X9A0B1C2"], "created_at": "2025-01-15T13:47:12Z"}))]
pub struct CategoryOut {
    pub id: CategoryId,
    pub name: String,
    pub product_ids: Vec<ProductId>,
    pub created_at: DateTime<Utc>,
}

impl From<Category> for CategoryOut {
    fn from(c: Category) -> Self {
        Self {
            id: c.id,
            name: c.name,
            product_ids: c.product_ids,
            created_at: c.created_at,
        }
    }
}

fn parse_id(raw: &str) -> Result<CategoryId, ApiError> {
    CategoryId::parse(raw).ok_or_else(|| ApiError::NotFound("category not found".into()))
}

#[utoipa::path(post, path = "/categories", tag = "catalog", request_body = CategoryIn,
    responses((status = 201, body = CategoryOut), (status = 422, body = ErrorBody)))]
async fn create_category(
    State(state): State<AppState>,
    Ws(ws): Ws,
    Json(body): Json<CategoryIn>,
) -> Result<(StatusCode, Json<CategoryOut>), ApiError> {
    let c = category::create_category(
        state.store.as_ref(),
        &ws,
        &body.name,
        body.product_ids,
        state.clock.now(),
    )
    .await?;
    Ok((StatusCode::CREATED, Json(c.into())))
}

#[utoipa::path(get, path = "/categories", tag = "catalog", params(ListParams),
    responses((status = 200, body = ListOut<CategoryOut>)))]
async fn list_categories(
    State(state): State<AppState>,
    Ws(ws): Ws,
    Query(params): Query<ListParams>,
) -> Result<Json<ListOut<CategoryOut>>, ApiError> {
    let page = params.page()?;
    let rows = state.store.list_categories(&ws, &page).await?;
    Ok(Json(ListOut::from_rows(
        rows,
        &page,
        |c| c.id.to_string(),
        CategoryOut::from,
    )))
}

#[utoipa::path(get, path = "/categories/{id}", tag = "catalog",
    responses((status = 200, body = CategoryOut), (status = 404, body = ErrorBody)))]
async fn get_category(
    State(state): State<AppState>,
    Ws(ws): Ws,
    Path(id): Path<String>,
) -> Result<Json<CategoryOut>, ApiError> {
    let c = category::get_category(state.store.as_ref(), &ws, &parse_id(&id)?).await?;
    Ok(Json(c.into()))
}

#[utoipa::path(patch, path = "/categories/{id}", tag = "catalog", request_body = CategoryPatch,
    responses((status = 200, body = CategoryOut), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn update_category(
    State(state): State<AppState>,
    Ws(ws): Ws,
    Path(id): Path<String>,
    Json(body): Json<CategoryPatch>,
) -> Result<Json<CategoryOut>, ApiError> {
    let c = category::update_category(
        state.store.as_ref(),
        &ws,
        &parse_id(&id)?,
        body.name.as_deref(),
        body.product_ids,
    )
    .await?;
    Ok(Json(c.into()))
}

#[utoipa::path(delete, path = "/categories/{id}", tag = "catalog",
    responses((status = 204), (status = 404, body = ErrorBody)))]
async fn delete_category(
    State(state): State<AppState>,
    Ws(ws): Ws,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    category::delete_category(state.store.as_ref(), &ws, &parse_id(&id)?).await?;
    Ok(StatusCode::NO_CONTENT)
}
