//! `/endpoints` and `/deliveries` (Saída): outbound destinations, their
//! secrets (shown in full on creation and rotation only), test sends,
//! delivery history and resend.

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
use crate::ids::{DeliveryId, EndpointId, EventId, ProductId};
use crate::keys::mask;
use crate::model::{Attempt, Delivery, DeliveryStatus, Endpoint};
use crate::outbound::endpoint::{self, EndpointPatch as Patch, NewEndpoint};
use crate::outbound::{delivery, OutboundError};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_endpoint, list_endpoints))
        .routes(routes!(get_endpoint, update_endpoint, delete_endpoint))
        .routes(routes!(get_secret))
        .routes(routes!(rotate_secret))
        .routes(routes!(send_test))
        .routes(routes!(list_deliveries))
        .routes(routes!(get_delivery))
        .routes(routes!(retry_delivery))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"name": "Área de membros", "url": "https://membros.example.com/webhooks/gancho", "event_types": ["access.granted", "access.revoked"], "headers": {"X-Origem": "gancho"}}))]
pub struct EndpointIn {
    pub name: String,
    /// http or https.
    pub url: String,
    /// Empty = every event type.
    #[serde(default)]
    pub event_types: Vec<String>,
    /// Empty = every product.
    #[serde(default)]
    pub product_ids: Vec<ProductId>,
    /// Sent on every delivery; `webhook-*`, `content-type`, `content-length` and `host` are refused.
    #[serde(default)]
    pub headers: std::collections::BTreeMap<String, String>,
    /// Deliveries to this endpoint are paced to this rate (never dropped).
    pub rate_limit_per_second: Option<u32>,
    /// At most this many deliveries to this endpoint in flight at once
    /// (1 to 64; default `GANCHO_ENDPOINT_MAX_IN_FLIGHT`, 16).
    pub max_in_flight: Option<u32>,
    #[serde(default = "yes")]
    pub enabled: bool,
    /// `whsec_…`; generated when omitted.
    pub secret: Option<String>,
}

fn yes() -> bool {
    true
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"event_types": ["access.granted", "access.revoked", "student.created"]}))]
pub struct EndpointPatch {
    pub name: Option<String>,
    pub url: Option<String>,
    pub event_types: Option<Vec<String>>,
    pub product_ids: Option<Vec<ProductId>>,
    pub headers: Option<std::collections::BTreeMap<String, String>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<u32>)]
    pub rate_limit_per_second: Option<Option<u32>>,
    /// `null` goes back to the default.
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<u32>)]
    pub max_in_flight: Option<Option<u32>>,
    /// Re-enabling clears `disabled_reason`.
    pub enabled: Option<bool>,
}

#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"id": "ep_01JF3YE7R9T1W3Y5A7C9E1G3J5", "name": "Área de membros", "url": "https://membros.example.com/webhooks/gancho", "event_types": ["access.granted", "access.revoked"], "product_ids": [], "headers": {"X-Origem": "********"}, "rate_limit_per_second": null, "max_in_flight": null, "enabled": true, "disabled_reason": null, "health": {"state": "healthy", "consecutive_failures": 0, "next_probe_at": null}, "secret": "whse…BRM=", "created_at": "2025-01-15T14:02:31Z"}))]
pub struct EndpointOut {
    pub id: EndpointId,
    pub name: String,
    pub url: String,
    pub event_types: Vec<String>,
    pub product_ids: Vec<ProductId>,
    pub headers: std::collections::BTreeMap<String, String>,
    pub rate_limit_per_second: Option<u32>,
    /// `null`: the `GANCHO_ENDPOINT_MAX_IN_FLIGHT` default.
    pub max_in_flight: Option<u32>,
    pub enabled: bool,
    /// Why gancho disabled the endpoint (it answered `410 Gone`).
    pub disabled_reason: Option<String>,
    pub health: EndpointHealthOut,
    /// In full on creation and rotation; masked elsewhere (`GET /endpoints/{id}/secret` reveals it).
    pub secret: String,
    pub created_at: DateTime<Utc>,
}

/// The circuit breaker (README, "Slow and failing endpoints").
#[derive(Debug, Serialize, ToSchema)]
pub struct EndpointHealthOut {
    /// `healthy`; `unhealthy` (its deliveries wait, unattempted, until
    /// `next_probe_at`); or `probing` (one delivery is trying it).
    pub state: String,
    /// Timeouts and connection failures in a row.
    pub consecutive_failures: u32,
    pub next_probe_at: Option<DateTime<Utc>>,
}

fn endpoint_out(
    e: Endpoint,
    secret: String,
    headers: Vec<(String, String)>,
    now: DateTime<Utc>,
) -> EndpointOut {
    EndpointOut {
        health: EndpointHealthOut {
            state: e.health.state(now).to_string(),
            consecutive_failures: e.health.consecutive_failures,
            next_probe_at: e.health.open_until,
        },
        max_in_flight: e.max_in_flight,
        id: e.id,
        name: e.name,
        url: e.url,
        event_types: e.event_types,
        product_ids: e.product_ids,
        headers: headers.into_iter().collect(),
        rate_limit_per_second: e.rate_limit_per_second,
        enabled: e.is_enabled,
        disabled_reason: e.disabled_reason,
        secret,
        created_at: e.created_at,
    }
}

fn masked(state: &AppState, e: Endpoint) -> Result<EndpointOut, ApiError> {
    let secret = mask(&endpoint::reveal_secret(&state.sealer, &e)?);
    let headers = endpoint::masked_headers(&state.sealer, &e)?;
    Ok(endpoint_out(e, secret, headers, state.clock.now()))
}

fn parse_id(raw: &str) -> Result<EndpointId, ApiError> {
    EndpointId::parse(raw).ok_or_else(|| ApiError::NotFound("endpoint not found".into()))
}

#[utoipa::path(post, path = "/endpoints", tag = "outbound", request_body = EndpointIn,
    responses((status = 201, body = EndpointOut), (status = 422, body = ErrorBody)))]
async fn create_endpoint(
    State(state): State<AppState>,
    Ws(ws): Ws,
    Json(b): Json<EndpointIn>,
) -> Result<(StatusCode, Json<EndpointOut>), ApiError> {
    let new = NewEndpoint {
        name: b.name,
        url: b.url,
        event_types: b.event_types,
        product_ids: b.product_ids,
        headers: b.headers.into_iter().collect(),
        rate_limit_per_second: b.rate_limit_per_second,
        max_in_flight: b.max_in_flight,
        is_enabled: b.enabled,
        secret: b.secret,
    };
    let private = state.config.allow_private_targets;
    let (e, secret) = endpoint::create_endpoint(
        state.store.as_ref(),
        &state.sealer,
        &ws,
        new,
        private,
        state.clock.now(),
    )
    .await?;
    let headers = endpoint::masked_headers(&state.sealer, &e)?;
    let out = endpoint_out(e, secret, headers, state.clock.now());
    Ok((StatusCode::CREATED, Json(out)))
}

#[utoipa::path(get, path = "/endpoints", tag = "outbound", params(ListParams),
    responses((status = 200, body = ListOut<EndpointOut>)))]
async fn list_endpoints(
    State(state): State<AppState>,
    Ws(ws): Ws,
    Query(params): Query<ListParams>,
) -> Result<Json<ListOut<EndpointOut>>, ApiError> {
    let page = params.page()?;
    let rows = state.store.list_endpoints(&ws, &page).await?;
    let list = ListOut::from_rows(rows, &page, |e| e.id.to_string(), |e| e);
    let items = list
        .items
        .into_iter()
        .map(|e| masked(&state, e))
        .collect::<Result<_, _>>()?;
    Ok(Json(ListOut {
        items,
        next_cursor: list.next_cursor,
    }))
}

#[utoipa::path(get, path = "/endpoints/{id}", tag = "outbound",
    responses((status = 200, body = EndpointOut), (status = 404, body = ErrorBody)))]
async fn get_endpoint(
    State(state): State<AppState>,
    Ws(ws): Ws,
    Path(id): Path<String>,
) -> Result<Json<EndpointOut>, ApiError> {
    let e = endpoint::get_endpoint(state.store.as_ref(), &ws, &parse_id(&id)?).await?;
    Ok(Json(masked(&state, e)?))
}

#[utoipa::path(patch, path = "/endpoints/{id}", tag = "outbound", request_body = EndpointPatch,
    responses((status = 200, body = EndpointOut), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn update_endpoint(
    State(state): State<AppState>,
    Ws(ws): Ws,
    Path(id): Path<String>,
    Json(b): Json<EndpointPatch>,
) -> Result<Json<EndpointOut>, ApiError> {
    let patch = Patch {
        name: b.name,
        url: b.url,
        event_types: b.event_types,
        product_ids: b.product_ids,
        headers: b.headers.map(|h| h.into_iter().collect()),
        rate_limit_per_second: b.rate_limit_per_second,
        max_in_flight: b.max_in_flight,
        is_enabled: b.enabled,
    };
    let private = state.config.allow_private_targets;
    let store = state.store.as_ref();
    let e = endpoint::update_endpoint(
        store,
        &state.sealer,
        &ws,
        &parse_id(&id)?,
        patch,
        private,
        state.clock.now(),
    )
    .await?;
    state.outbox.wake();
    Ok(Json(masked(&state, e)?))
}

#[utoipa::path(delete, path = "/endpoints/{id}", tag = "outbound",
    responses((status = 204), (status = 404, body = ErrorBody)))]
async fn delete_endpoint(
    State(state): State<AppState>,
    Ws(ws): Ws,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    state
        .store
        .delete_endpoint(&ws, &parse_id(&id)?)
        .await
        .map_err(|e| ApiError::from(OutboundError::from(e)))?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"secret": "whsec_SnHRlh2ut8qPFYY05VFmoigcm2PfpcQX/ZmDgc54B64=", "previous_secret_expires_at": "2025-01-16T14:10:00Z"}))]
pub struct SecretOut {
    pub secret: String,
    /// Until when the previous secret also signs deliveries.
    pub previous_secret_expires_at: Option<DateTime<Utc>>,
}

#[utoipa::path(get, path = "/endpoints/{id}/secret", tag = "outbound",
    responses((status = 200, body = SecretOut), (status = 404, body = ErrorBody)))]
async fn get_secret(
    State(state): State<AppState>,
    Ws(ws): Ws,
    Path(id): Path<String>,
) -> Result<Json<SecretOut>, ApiError> {
    let e = endpoint::get_endpoint(state.store.as_ref(), &ws, &parse_id(&id)?).await?;
    let secret = endpoint::reveal_secret(&state.sealer, &e)?;
    Ok(Json(SecretOut {
        secret,
        previous_secret_expires_at: e.previous_secret_expires_at,
    }))
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({}))]
pub struct RotateIn {
    /// The new `whsec_` secret; generated when omitted.
    pub secret: Option<String>,
}

#[utoipa::path(post, path = "/endpoints/{id}/rotate-secret", tag = "outbound", request_body = Option<RotateIn>,
    responses((status = 200, body = SecretOut), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn rotate_secret(
    State(state): State<AppState>,
    Ws(ws): Ws,
    Path(id): Path<String>,
    request: axum::extract::Request,
) -> Result<Json<SecretOut>, ApiError> {
    let body = super::extract::body_bytes(request, &()).await?;
    // The body is optional: no body (or `{}`) generates the new secret.
    let given = if body.iter().all(u8::is_ascii_whitespace) {
        None
    } else {
        serde_json::from_slice::<RotateIn>(&body)
            .map_err(|e| ApiError::Validation(e.to_string()))?
            .secret
    };
    let store = state.store.as_ref();
    let (e, secret) = endpoint::rotate_secret(
        store,
        &state.sealer,
        &ws,
        &parse_id(&id)?,
        given,
        state.clock.now(),
    )
    .await?;
    Ok(Json(SecretOut {
        secret,
        previous_secret_expires_at: e.previous_secret_expires_at,
    }))
}

#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"event_id": "evt_01JF4C5G7J9M1P3R5T7V9X1Z3B", "delivery_id": "dlv_01JF4C6H8K0N2Q4S6V8X0Z2B4D"}))]
pub struct TestOut {
    pub event_id: EventId,
    pub delivery_id: DeliveryId,
}

#[utoipa::path(post, path = "/endpoints/{id}/test", tag = "outbound",
    responses((status = 202, body = TestOut), (status = 404, body = ErrorBody)))]
async fn send_test(
    State(state): State<AppState>,
    Ws(ws): Ws,
    Path(id): Path<String>,
) -> Result<(StatusCode, Json<TestOut>), ApiError> {
    let store = state.store.as_ref();
    let (event_id, delivery_id) = endpoint::send_test(
        store,
        &state.outbox,
        &ws,
        &parse_id(&id)?,
        state.clock.now(),
    )
    .await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(TestOut {
            event_id,
            delivery_id,
        }),
    ))
}

#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"id": "dlv_01JF4C6H8K0N2Q4S6V8X0Z2B4D", "event_id": "evt_01JF4C5G7J9M1P3R5T7V9X1Z3B", "event_type": "access.granted", "endpoint_id": "ep_01JF3YE7R9T1W3Y5A7C9E1G3J5", "status": "success", "attempts": 2, "last_http_status": 200, "last_error": null, "next_attempt_at": null, "created_at": "2025-01-15T14:20:03Z", "attempt_log": [{"number": 1, "at": "2025-01-15T14:20:03Z", "http_status": 503, "response_body": "Service Unavailable", "duration_ms": 412, "error": "HTTP 503"}, {"number": 2, "at": "2025-01-15T14:20:33Z", "http_status": 200, "response_body": "ok", "duration_ms": 87, "error": null}]}))]
pub struct DeliveryOut {
    pub id: DeliveryId,
    pub event_id: EventId,
    pub event_type: String,
    pub endpoint_id: EndpointId,
    pub status: DeliveryStatus,
    pub attempts: u32,
    pub last_http_status: Option<u16>,
    pub last_error: Option<String>,
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    /// Every attempt (on `GET /deliveries/{id}` only).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Vec<Object>>)]
    pub attempt_log: Option<Vec<Attempt>>,
}

fn delivery_out(d: Delivery, attempts: Option<Vec<Attempt>>) -> DeliveryOut {
    DeliveryOut {
        id: d.id,
        event_id: d.event_id,
        event_type: d.event_type,
        endpoint_id: d.endpoint_id,
        status: d.status,
        attempts: d.attempts,
        last_http_status: d.last_http_status,
        last_error: d.last_error,
        next_attempt_at: d.next_attempt_at,
        created_at: d.created_at,
        attempt_log: attempts,
    }
}

#[utoipa::path(get, path = "/endpoints/{id}/deliveries", tag = "outbound", params(ListParams),
    responses((status = 200, body = ListOut<DeliveryOut>), (status = 404, body = ErrorBody)))]
async fn list_deliveries(
    State(state): State<AppState>,
    Ws(ws): Ws,
    Path(id): Path<String>,
    Query(params): Query<ListParams>,
) -> Result<Json<ListOut<DeliveryOut>>, ApiError> {
    let endpoint_id = parse_id(&id)?;
    endpoint::get_endpoint(state.store.as_ref(), &ws, &endpoint_id).await?;
    let page = params.page()?;
    let rows = state
        .store
        .list_deliveries(&ws, &endpoint_id, &page)
        .await?;
    Ok(Json(ListOut::from_rows(
        rows,
        &page,
        |d| d.id.to_string(),
        |d| delivery_out(d, None),
    )))
}

fn parse_delivery(raw: &str) -> Result<DeliveryId, ApiError> {
    DeliveryId::parse(raw).ok_or_else(|| ApiError::NotFound("delivery not found".into()))
}

#[utoipa::path(get, path = "/deliveries/{id}", tag = "outbound",
    responses((status = 200, body = DeliveryOut), (status = 404, body = ErrorBody)))]
async fn get_delivery(
    State(state): State<AppState>,
    Ws(ws): Ws,
    Path(id): Path<String>,
) -> Result<Json<DeliveryOut>, ApiError> {
    let d = state
        .store
        .get_delivery(&ws, &parse_delivery(&id)?)
        .await
        .map_err(|e| ApiError::from(OutboundError::from(e)))?;
    let attempts = state.store.delivery_attempts(&d.id).await?;
    Ok(Json(delivery_out(d, Some(attempts))))
}

#[utoipa::path(post, path = "/deliveries/{id}/retry", tag = "outbound",
    responses((status = 202, body = DeliveryOut), (status = 404, body = ErrorBody)))]
async fn retry_delivery(
    State(state): State<AppState>,
    Ws(ws): Ws,
    Path(id): Path<String>,
) -> Result<(StatusCode, Json<DeliveryOut>), ApiError> {
    let store = state.store.as_ref();
    let d = delivery::resend(
        store,
        &state.outbox,
        &ws,
        &parse_delivery(&id)?,
        state.clock.now(),
    )
    .await?;
    Ok((StatusCode::ACCEPTED, Json(delivery_out(d, None))))
}
