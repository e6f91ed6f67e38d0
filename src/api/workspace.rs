//! `/workspace`: the account, with its global inbound URL (Chaves).

use axum::extract::State;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::extract::{Json, Ws};
use crate::app::AppState;
use crate::error::ApiError;
use crate::ids::WorkspaceId;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(get_workspace))
}

#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"id": "ws_01JF3Y7P5XT4M1R3V6W8Z9A0B1", "name": "Escola da Maria", "public_id": "ejpmtuf26sawzqffsvh9frhd", "global_inbound_url": "https://gancho.example.com/in/ejpmtuf26sawzqffsvh9frhd"}))]
pub struct WorkspaceOut {
    pub id: WorkspaceId,
    pub name: String,
    pub public_id: String,
    /// Receives any gateway; the gateway is detected or named with `?gateway=`.
    pub global_inbound_url: String,
}

#[utoipa::path(get, path = "/workspace", tag = "workspace",
    responses((status = 200, body = WorkspaceOut)))]
async fn get_workspace(
    State(state): State<AppState>,
    Ws(ws): Ws,
) -> Result<Json<WorkspaceOut>, ApiError> {
    let w = state.store.get_workspace(&ws).await?;
    Ok(Json(WorkspaceOut {
        global_inbound_url: crate::inbound::url::global_url(&state.config.public_url, &w.public_id),
        id: w.id,
        name: w.name,
        public_id: w.public_id,
    }))
}
