//! The `/in/...` HTTP handlers: turn the request into an [`InboundCall`]
//! (reading the body under `GANCHO_MAX_BODY` while it streams, so an
//! oversized body is refused without being buffered whole) and the
//! [`InboundReply`] back into a response.

use std::time::Instant;

use axum::body::Body;
use axum::extract::{Path, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use http_body_util::{BodyExt, LengthLimitError, Limited};
use serde::Serialize;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{receive, BodyError, InboundCall, InboundContext, InboundReply};
use crate::app::AppState;
use crate::error::ErrorBody;
use crate::model::GatewayKind;

/// How long an overloaded gancho asks a gateway to wait (`GANCHO_MAX_INFLIGHT`).
const OVERLOAD_RETRY_AFTER_SECS: u32 = 5;

/// The inbound routes; they take no bearer token (the gateway's proof is checked instead).
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(global_url))
        .routes(routes!(inbound_url))
}

/// The answer to an accepted call (errors use the API's error shape).
#[derive(Serialize, utoipa::ToSchema)]
pub struct InboundOut {
    /// `processed`, `duplicate` or `ignored`.
    pub status: String,
    pub log_id: String,
}

/// The `?gateway=` values, from [`GatewayKind::ALL`] so the document names every gateway.
fn gateway_param() -> String {
    format!(
        "one of {}; without it the global URL detects the gateway and refuses a request that matches several",
        GatewayKind::join(&GatewayKind::ALL)
    )
}

/// The workspace's global URL: any gateway, detected from the request or named with `?gateway=`.
#[utoipa::path(post, path = "/in/{public_id}", tag = "inbound webhooks", security(()),
    params(("public_id" = String, Path), ("gateway" = Option<String>, Query, description = gateway_param())),
    request_body(description = "the gateway's webhook, as sent", content((String = "application/json"), (String = "application/x-www-form-urlencoded"))),
    responses((status = 200, body = InboundOut), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 413, body = ErrorBody), (status = 415, body = ErrorBody)))]
async fn global_url(
    State(state): State<AppState>,
    Path(public_id): Path<String>,
    request: Request,
) -> Response {
    handle(state, public_id, None, request).await
}

/// An inbound URL: one gateway, granting the URL's products and categories.
#[utoipa::path(post, path = "/in/{public_id}/{slug}", tag = "inbound webhooks", security(()),
    params(("public_id" = String, Path), ("slug" = String, Path), ("gateway" = Option<String>, Query, description = gateway_param())),
    request_body(description = "the gateway's webhook, as sent", content((String = "application/json"), (String = "application/x-www-form-urlencoded"))),
    responses((status = 200, body = InboundOut), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody, description = "the call does not come from one of the URL's allowed_sources"),
        (status = 404, body = ErrorBody), (status = 413, body = ErrorBody), (status = 415, body = ErrorBody),
        (status = 503, body = ErrorBody, description = "the inbound URL is deactivated; retry after Retry-After")))]
async fn inbound_url(
    State(state): State<AppState>,
    Path((public_id, slug)): Path<(String, String)>,
    request: Request,
) -> Response {
    handle(state, public_id, Some(slug), request).await
}

async fn handle(
    state: AppState,
    public_id: String,
    slug: Option<String>,
    request: Request,
) -> Response {
    let started = Instant::now();
    // Past GANCHO_MAX_INFLIGHT calls, the gateway is told to come back
    // rather than queued: latency and memory stay bounded under a flood.
    let Ok(_slot) = state.inbound_slots.try_acquire() else {
        state.metrics.inbound(None, "overloaded");
        return into_response(InboundReply {
            status: 503,
            body: serde_json::json!({"error": {
                "code": "overloaded",
                "message": "too many calls in flight; retry later",
            }}),
            retry_after_secs: Some(OVERLOAD_RETRY_AFTER_SECS),
        });
    };
    let (parts, body) = request.into_parts();
    let client_ip = parts
        .extensions
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|c| {
            let forwarded = parts
                .headers
                .get("x-forwarded-for")
                .and_then(|v| v.to_str().ok());
            crate::client_ip::client_ip(c.0.ip(), forwarded, &state.config.trusted_proxies)
        });
    let headers: Vec<(String, String)> = parts
        .headers
        .iter()
        .filter_map(|(k, v)| Some((k.as_str().to_string(), v.to_str().ok()?.to_string())))
        .collect();
    let query = parts
        .uri
        .query()
        .map(|q| {
            form_urlencoded::parse(q.as_bytes())
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect()
        })
        .unwrap_or_default();
    let call = InboundCall {
        public_id,
        slug,
        path: parts.uri.path().to_string(),
        headers,
        query,
        body: tokio::time::timeout(
            state.config.body_timeout,
            read_body(
                body,
                parts.headers.get(header::CONTENT_LENGTH),
                state.config.max_body,
            ),
        )
        .await
        .unwrap_or(Err(BodyError::TimedOut(state.config.body_timeout))),
        started,
        client_ip,
    };
    let ctx = InboundContext {
        store: state.store.as_ref(),
        sealer: &state.sealer,
        outbox: &state.outbox,
        metrics: Some(&state.metrics),
        now: state.clock.now(),
    };
    into_response(receive(&ctx, call).await)
}

/// Reads at most `max` bytes; a declared or actual larger body is `TooLarge`.
async fn read_body(
    body: Body,
    content_length: Option<&HeaderValue>,
    max: usize,
) -> Result<bytes::Bytes, BodyError> {
    let declared = content_length
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > max as u64) {
        return Err(BodyError::TooLarge(max));
    }
    match Limited::new(body, max).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e) if e.downcast_ref::<LengthLimitError>().is_some() => Err(BodyError::TooLarge(max)),
        Err(e) => Err(BodyError::Read(e.to_string())),
    }
}

fn into_response(reply: InboundReply) -> Response {
    let status = StatusCode::from_u16(reply.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = (status, axum::Json(reply.body)).into_response();
    if let Some(secs) = reply.retry_after_secs {
        if let Ok(v) = HeaderValue::from_str(&secs.to_string()) {
            response.headers_mut().insert(header::RETRY_AFTER, v);
        }
    }
    response
}
