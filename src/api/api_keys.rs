//! `/api-keys`: named admin API keys. The token is shown once, at creation;
//! only its SHA-256 is stored. The bootstrap key (`GANCHO_ADMIN_TOKEN`) is
//! listed but cannot be deleted here.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::extract::{Json, ListOut, ListParams, Query, Ws};
use crate::app::{token_hash, AppState};
use crate::catalog::clean_name;
use crate::error::{ApiError, ErrorBody};
use crate::ids::ApiKeyId;
use crate::model::ApiKey;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_api_key, list_api_keys))
        .routes(routes!(delete_api_key))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"name": "assistente"}))]
pub struct ApiKeyIn {
    pub name: String,
}

#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"id": "ak_01JF3YD6Q8S0V2X4Z6B8D0F2H4", "name": "assistente", "bootstrap": false, "token": "Cg1536Q0Sawv8QgBmXBecLjXC2mfEWgk742JgMl6", "created_at": "2025-01-15T13:45:00Z"}))]
pub struct ApiKeyOut {
    pub id: ApiKeyId,
    pub name: String,
    /// The bootstrap key mirrors `GANCHO_ADMIN_TOKEN`.
    pub bootstrap: bool,
    /// The token, in the create response only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    pub created_at: DateTime<Utc>,
}

fn out(k: ApiKey, token: Option<String>) -> ApiKeyOut {
    ApiKeyOut {
        id: k.id,
        name: k.name,
        bootstrap: k.is_bootstrap,
        token,
        created_at: k.created_at,
    }
}

#[utoipa::path(post, path = "/api-keys", tag = "workspace", request_body = ApiKeyIn,
    responses((status = 201, body = ApiKeyOut), (status = 422, body = ErrorBody)))]
async fn create_api_key(
    State(state): State<AppState>,
    Ws(ws): Ws,
    Json(body): Json<ApiKeyIn>,
) -> Result<(StatusCode, Json<ApiKeyOut>), ApiError> {
    let name = clean_name("name", &body.name)?;
    let token = crate::random::alphanumeric(40);
    let key = ApiKey {
        id: ApiKeyId::new(),
        workspace_id: ws,
        name,
        token_hash: token_hash(&token),
        is_bootstrap: false,
        created_at: state.clock.now(),
    };
    state.store.insert_api_key(&key).await?;
    Ok((StatusCode::CREATED, Json(out(key, Some(token)))))
}

#[utoipa::path(get, path = "/api-keys", tag = "workspace", params(ListParams),
    responses((status = 200, body = ListOut<ApiKeyOut>)))]
async fn list_api_keys(
    State(state): State<AppState>,
    Ws(ws): Ws,
    Query(params): Query<ListParams>,
) -> Result<Json<ListOut<ApiKeyOut>>, ApiError> {
    let page = params.page()?;
    let rows = state.store.list_api_keys(&ws, &page).await?;
    Ok(Json(ListOut::from_rows(
        rows,
        &page,
        |k| k.id.to_string(),
        |k| out(k, None),
    )))
}

#[utoipa::path(delete, path = "/api-keys/{id}", tag = "workspace",
    responses((status = 204), (status = 404, body = ErrorBody)))]
async fn delete_api_key(
    State(state): State<AppState>,
    Ws(ws): Ws,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let not_found =
        || ApiError::NotFound("API key not found (the bootstrap key cannot be deleted)".into());
    let id = ApiKeyId::parse(&id).ok_or_else(not_found)?;
    state
        .store
        .delete_api_key(&ws, &id)
        .await
        .map_err(|e| match e {
            crate::storage::StoreError::NotFound => not_found(),
            other => other.into(),
        })?;
    Ok(StatusCode::NO_CONTENT)
}
