//! `/healthz` (the process is up), `/readyz` (the database answers, is
//! migrated and takes writes) and `/metrics` (Prometheus text). Unauthenticated.

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::app::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(healthz))
        .routes(routes!(readyz))
        .routes(routes!(metrics))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct HealthOut {
    pub status: String,
}

#[utoipa::path(get, path = "/healthz", tag = "operations", security(()),
    responses((status = 200, body = HealthOut)))]
async fn healthz() -> axum::Json<HealthOut> {
    axum::Json(HealthOut {
        status: "ok".into(),
    })
}

#[utoipa::path(get, path = "/readyz", tag = "operations", security(()),
    responses((status = 200, body = HealthOut), (status = 503, body = HealthOut)))]
async fn readyz(State(state): State<AppState>) -> Response {
    let ready = match state.store.ping().await {
        Ok(()) => state
            .store
            .migrations_applied()
            .await
            .map_err(|e| e.to_string()),
        Err(e) => Err(e.to_string()),
    };
    match ready {
        Ok(true) => {}
        Ok(false) => return unavailable("migrations are not applied"),
        Err(e) => {
            tracing::warn!(error = %e, "not ready: database unreachable");
            return unavailable("database unreachable");
        }
    }
    // While writes fail, a background task probes them once a second
    // (app.rs), so recovery shows here without a restart.
    if let Some(why) = state.store.write_health().problem() {
        return unavailable(&format!("database cannot take writes: {why}"));
    }
    (
        StatusCode::OK,
        axum::Json(HealthOut {
            status: "ready".into(),
        }),
    )
        .into_response()
}

fn unavailable(why: &str) -> Response {
    (
        StatusCode::SERVICE_UNAVAILABLE,
        axum::Json(HealthOut { status: why.into() }),
    )
        .into_response()
}

#[utoipa::path(get, path = "/metrics", tag = "operations", security(()),
    responses((status = 200, description = "Prometheus text exposition", content_type = "text/plain")))]
async fn metrics(State(state): State<AppState>) -> Response {
    let queue = match state.store.default_workspace().await {
        Ok(Some(ws)) => state
            .store
            .queue_counts(&ws.id, state.clock.now())
            .await
            .unwrap_or_default(),
        _ => Default::default(),
    };
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        state.metrics.render(&queue),
    )
        .into_response()
}
