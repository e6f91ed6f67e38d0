//! The `/in/...` HTTP handlers: turn the request into an [`InboundCall`]
//! (reading the body under `GANCHO_MAX_BODY` while it streams, so an
//! oversized body is refused without being buffered whole) and the
//! [`InboundReply`] back into a response.

use std::time::Instant;

use axum::body::Body;
use axum::extract::{Path, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use http_body_util::{BodyExt, LengthLimitError, Limited};

use super::{receive, BodyError, InboundCall, InboundContext, InboundReply};
use crate::app::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/in/{public_id}", post(global_url))
        .route("/in/{public_id}/{slug}", post(inbound_url))
}

async fn global_url(
    State(state): State<AppState>,
    Path(public_id): Path<String>,
    request: Request,
) -> Response {
    handle(state, public_id, None, request).await
}

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
    let (parts, body) = request.into_parts();
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
        body: read_body(
            body,
            parts.headers.get(header::CONTENT_LENGTH),
            state.config.max_body,
        )
        .await,
        started,
    };
    let ctx = InboundContext {
        store: state.store.as_ref(),
        sealer: &state.sealer,
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
