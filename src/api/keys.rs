//! `/keys` (Chaves): gateway tokens. The secret is shown in full only in the
//! create response; lists show it masked.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::extract::{Json, ListOut, ListParams, Query, Ws};
use crate::app::AppState;
use crate::error::{ApiError, ErrorBody};
use crate::ids::KeyId;
use crate::keys::{self, NewKey};
use crate::model::{GatewayKey, GatewayKind};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_key, list_keys))
        .routes(routes!(delete_key))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"gateway": "hotmart", "name": "Conta principal", "secret": "hottok-da-sua-conta"}))]
pub struct KeyIn {
    pub gateway: GatewayKind,
    pub name: Option<String>,
    /// Generated when omitted (`whsec_…` for `generic`).
    pub secret: Option<String>,
    /// `asaas` only: the seller's Asaas API key (`$aact_…`), with which
    /// gancho fetches the buyer's e-mail and name, since Asaas's webhooks
    /// carry only a customer id. Without it, Asaas sales cannot be granted.
    pub api_key: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"id": "key_01JF3YC5P7R9T1V3W5X7Z9B1D3", "gateway": "hotmart", "name": "Conta principal", "secret": "hott…onta", "created_at": "2025-01-15T13:52:40Z"}))]
pub struct KeyOut {
    pub id: KeyId,
    pub gateway: GatewayKind,
    pub name: String,
    /// In full in the create response only; masked everywhere else.
    pub secret: String,
    /// The API key (`asaas` only), masked like the secret.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api_key: Option<String>,
    pub created_at: DateTime<Utc>,
}

fn key_out(k: GatewayKey, secret: String, api_key: Option<String>) -> KeyOut {
    KeyOut {
        id: k.id,
        gateway: k.gateway,
        name: k.name,
        secret,
        api_key,
        created_at: k.created_at,
    }
}

#[utoipa::path(post, path = "/keys", tag = "keys", request_body = KeyIn,
    responses((status = 201, body = KeyOut), (status = 422, body = ErrorBody)))]
async fn create_key(
    State(state): State<AppState>,
    Ws(ws): Ws,
    Json(body): Json<KeyIn>,
) -> Result<(StatusCode, Json<KeyOut>), ApiError> {
    let new = NewKey {
        gateway: body.gateway,
        name: body.name,
        secret: body.secret,
        api_key: body.api_key,
    };
    let created = keys::create_key(
        state.store.as_ref(),
        &state.sealer,
        &ws,
        new,
        state.clock.now(),
    )
    .await?;
    Ok((
        StatusCode::CREATED,
        Json(key_out(created.key, created.secret, created.api_key)),
    ))
}

#[utoipa::path(get, path = "/keys", tag = "keys", params(ListParams),
    responses((status = 200, body = ListOut<KeyOut>)))]
async fn list_keys(
    State(state): State<AppState>,
    Ws(ws): Ws,
    Query(params): Query<ListParams>,
) -> Result<Json<ListOut<KeyOut>>, ApiError> {
    let page = params.page()?;
    let rows = keys::list_keys(state.store.as_ref(), &state.sealer, &ws, &page).await?;
    Ok(Json(ListOut::from_rows(
        rows,
        &page,
        |m| m.key.id.to_string(),
        |m| key_out(m.key, m.secret, m.api_key),
    )))
}

#[utoipa::path(delete, path = "/keys/{id}", tag = "keys",
    responses((status = 204), (status = 404, body = ErrorBody)))]
async fn delete_key(
    State(state): State<AppState>,
    Ws(ws): Ws,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let not_found = || ApiError::NotFound("key not found".into());
    let id = KeyId::parse(&id).ok_or_else(not_found)?;
    state
        .store
        .delete_key(&ws, &id)
        .await
        .map_err(|e| match e {
            crate::storage::StoreError::NotFound => not_found(),
            other => other.into(),
        })?;
    Ok(StatusCode::NO_CONTENT)
}
