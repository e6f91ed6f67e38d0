//! `/logs`, `/logs/{id}`, `/logs/{id}/reprocess`, `/logs.csv`, `/logs/stats`
//! and `/queue`: the Logs tab's data.

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, NaiveDate, Utc};
use futures_util::stream;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::extract::{Json, ListOut, Query, Ws};
use crate::app::AppState;
use crate::error::{ApiError, ErrorBody};
use crate::ids::{LogId, WorkspaceId};
use crate::inbound::{self, InboundContext, ReprocessError};
use crate::logs::{self, LogQuery, LogsError};
use crate::model::{Direction, GatewayKind, Integration, LogEntry, LogStatus};
use crate::storage::{LogFilter, Store};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_logs))
        .routes(routes!(export_csv))
        .routes(routes!(log_stats))
        .routes(routes!(get_log))
        .routes(routes!(reprocess))
        .routes(routes!(queue))
}

impl From<LogsError> for ApiError {
    fn from(e: LogsError) -> Self {
        match e {
            LogsError::NotFound(what) => Self::NotFound(format!("{what} not found")),
            LogsError::Invalid(m) => Self::Validation(m),
            LogsError::Store(e) => e.into(),
        }
    }
}

/// `GET /logs` and `/logs.csv` filters.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LogParams {
    /// `in` or `out`.
    pub direction: Option<String>,
    /// `success` or `failure`.
    pub status: Option<String>,
    pub event_type: Option<String>,
    /// Exact e-mail, case-insensitive.
    pub email: Option<String>,
    /// RFC 3339, inclusive.
    pub from: Option<String>,
    /// RFC 3339, inclusive.
    pub to: Option<String>,
    /// 1 to 500, default 50.
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<u32>,
    pub cursor: Option<String>,
}

impl From<LogParams> for LogQuery {
    fn from(p: LogParams) -> Self {
        LogQuery {
            direction: p.direction,
            status: p.status,
            event_type: p.event_type,
            email: p.email,
            from: p.from,
            to: p.to,
            limit: p.limit,
            cursor: p.cursor,
        }
    }
}

/// A row of the Logs table.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"id": "log_01JF4C4F6H8K0M2P4R6T8W0Y2A", "at": "2025-01-15T14:20:00Z", "direction": "in", "gateway": "hotmart", "event_type": "purchase.approved", "email": "maria@example.com", "status": "success", "http_status": 200, "duration_ms": 38, "integration": {"kind": "inbound_url", "id": "in_01JF3YB4N6Q8S0T2V4W6X8Z0A2", "name": "Vendas Hotmart"}, "attempts": 1, "error": null, "reprocess_of": null}))]
pub struct LogOut {
    pub id: LogId,
    pub at: DateTime<Utc>,
    pub direction: Direction,
    pub gateway: Option<GatewayKind>,
    pub event_type: Option<String>,
    pub email: Option<String>,
    pub status: LogStatus,
    /// 0 when no HTTP answer came back (timeout, refused connection).
    pub http_status: u16,
    pub duration_ms: i64,
    pub integration: Integration,
    pub attempts: u32,
    pub error: Option<String>,
    /// The entry this one re-ran, for a reprocess.
    pub reprocess_of: Option<LogId>,
}

impl From<LogEntry> for LogOut {
    fn from(e: LogEntry) -> Self {
        Self {
            id: e.id,
            at: e.at,
            direction: e.direction,
            gateway: e.gateway,
            event_type: e.event_type,
            email: e.email,
            status: e.status,
            http_status: e.http_status,
            duration_ms: e.duration_ms,
            integration: e.integration,
            attempts: e.attempts,
            error: e.error,
            reprocess_of: e.reprocess_of,
        }
    }
}

#[utoipa::path(get, path = "/logs", tag = "logs", params(LogParams),
    responses((status = 200, body = ListOut<LogOut>), (status = 422, body = ErrorBody)))]
async fn list_logs(
    State(state): State<AppState>,
    Ws(ws): Ws,
    Query(params): Query<LogParams>,
) -> Result<Json<ListOut<LogOut>>, ApiError> {
    let filter = logs::parse_filter(&params.into())?;
    let (rows, next_cursor) = logs::search(state.store.as_ref(), &ws, &filter).await?;
    Ok(Json(ListOut {
        items: rows.into_iter().map(LogOut::from).collect(),
        next_cursor,
    }))
}

/// A full entry.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"id": "log_01JF4C4F6H8K0M2P4R6T8W0Y2A", "at": "2025-01-15T14:20:00Z", "direction": "in", "gateway": "hotmart", "event_type": "purchase.approved", "email": "maria@example.com", "status": "success", "http_status": 200, "duration_ms": 38, "integration": {"kind": "inbound_url", "id": "in_01JF3YB4N6Q8S0T2V4W6X8Z0A2", "name": "Vendas Hotmart"}, "attempts": 1, "error": null, "reprocess_of": null, "detail": {"request": {"method": "POST", "client_ip": "203.0.113.7", "path": "/in/ejpmtuf26sawzqffsvh9frhd/vendas-hotmart", "headers": {"content-type": "application/json", "x-hotmart-hottok": "[redacted]"}, "query": {"gateway": "hotmart"}, "body": "{\"event\":\"PURCHASE_APPROVED\"}"}, "verification": {"result": "verified", "key_id": "key_01JF3YC5P7R9T1V3W5X7Z9B1D3"}, "normalized": {"gateway": "hotmart", "transaction_id": "HP16015479281022", "status": "approved"}, "outcome": "processed", "reprocess_of": null, "effects": [{"action": "grant", "product_id": "prod_01JF3Y8Q6ZV5N2T4W7X9A0B1C2"}], "response": {"status": 200, "body": {"status": "processed", "log_id": "log_01JF4C4F6H8K0M2P4R6T8W0Y2A"}}}}))]
pub struct LogDetailOut {
    #[serde(flatten)]
    pub entry: LogOut,
    /// Inbound: `request` (redacted), `verification`, `normalized`, `effects`,
    /// `response`. Outbound: `event`, `endpoint`, `attempts`, `delivery_status`.
    #[schema(value_type = Object)]
    pub detail: Value,
}

fn parse_id(raw: &str) -> Result<LogId, ApiError> {
    LogId::parse(raw).ok_or_else(|| ApiError::NotFound("log entry not found".into()))
}

#[utoipa::path(get, path = "/logs/{id}", tag = "logs",
    responses((status = 200, body = LogDetailOut), (status = 404, body = ErrorBody)))]
async fn get_log(
    State(state): State<AppState>,
    Ws(ws): Ws,
    Path(id): Path<String>,
) -> Result<Json<LogDetailOut>, ApiError> {
    let (entry, detail) = logs::detail(state.store.as_ref(), &ws, &parse_id(&id)?).await?;
    Ok(Json(LogDetailOut {
        entry: entry.into(),
        detail,
    }))
}

/// The outcome of a reprocess: a new entry linked to the first.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"status": "processed", "log_id": "log_01JF4E8K0N2Q4S6V8X0Z2B4D6F", "reprocess_of": "log_01JF4C4F6H8K0M2P4R6T8W0Y2A"}))]
pub struct ReprocessOut {
    /// `processed`, `duplicate` (it had been processed already) or `ignored`.
    pub status: String,
    pub log_id: Option<String>,
    pub reprocess_of: LogId,
}

#[utoipa::path(post, path = "/logs/{id}/reprocess", tag = "logs",
    responses((status = 200, body = ReprocessOut), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn reprocess(
    State(state): State<AppState>,
    Ws(ws): Ws,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let id = parse_id(&id)?;
    let reply = run_reprocess(&state, &ws, &id).await?;
    if reply.status != 200 {
        let status =
            StatusCode::from_u16(reply.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        return Ok((status, axum::Json(reply.body)).into_response());
    }
    let out = ReprocessOut {
        status: reply.body["status"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
        log_id: reply.body["log_id"].as_str().map(str::to_string),
        reprocess_of: id,
    };
    Ok(Json(out).into_response())
}

/// Re-runs a stored inbound call (`POST /logs/{id}/reprocess`, and the
/// admin UI's "Reprocessar"): the reply the call would get now.
pub async fn run_reprocess(
    state: &AppState,
    ws: &WorkspaceId,
    id: &LogId,
) -> Result<inbound::InboundReply, ApiError> {
    let original = state.store.get_log(ws, id).await.map_err(LogsError::from)?;
    let workspace = state.store.get_workspace(ws).await?;
    let ctx = InboundContext {
        store: state.store.as_ref(),
        sealer: &state.sealer,
        outbox: &state.outbox,
        metrics: Some(&state.metrics),
        now: state.clock.now(),
    };
    inbound::reprocess(&ctx, &workspace, &original)
        .await
        .map_err(|e| match e {
            ReprocessError::NotReprocessable(why) => ApiError::Validation(why.into()),
            ReprocessError::Store(e) => e.into(),
        })
}

/// Pages through the filter, one chunk of CSV per page (constant memory).
pub fn csv_stream(
    store: std::sync::Arc<dyn Store>,
    ws: WorkspaceId,
    filter: LogFilter,
) -> impl futures_util::Stream<Item = Result<Vec<u8>, std::io::Error>> {
    let first = {
        let mut w = csv::Writer::from_writer(Vec::new());
        let _ = w.write_record(logs::CSV_HEADER);
        w.into_inner().unwrap_or_default()
    };
    let state = (Some(first), Some(filter));
    stream::unfold(state, move |(header, filter)| {
        let (store, ws) = (store.clone(), ws.clone());
        async move {
            if let Some(h) = header {
                return Some((Ok(h), (None, filter)));
            }
            let mut filter = filter?;
            let rows = match store.search_logs(&ws, &filter).await {
                Ok(rows) => rows,
                Err(e) => return Some((Err(std::io::Error::other(e.to_string())), (None, None))),
            };
            let more = rows.len() == filter.limit as usize;
            let mut w = csv::Writer::from_writer(Vec::new());
            for r in &rows {
                let _ = w.write_record(logs::csv_row(r));
            }
            filter.before = rows.last().map(|r| (r.at, r.id.clone()));
            let chunk = w.into_inner().unwrap_or_default();
            let next = if more { Some(filter) } else { None };
            if chunk.is_empty() && next.is_none() {
                return None;
            }
            Some((Ok(chunk), (None, next)))
        }
    })
}

#[utoipa::path(get, path = "/logs.csv", tag = "logs", params(LogParams),
    responses((status = 200, description = "the entries as CSV, newest first", content_type = "text/csv"),
        (status = 422, body = ErrorBody)))]
async fn export_csv(
    State(state): State<AppState>,
    Ws(ws): Ws,
    Query(params): Query<LogParams>,
) -> Result<Response, ApiError> {
    let mut filter = logs::parse_filter(&params.into())?;
    filter.limit = 1000;
    let body = Body::from_stream(csv_stream(state.store.clone(), ws, filter));
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"gancho-logs.csv\"",
            ),
        ],
        body,
    )
        .into_response())
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct StatsParams {
    /// 1 to 90, default 7.
    #[param(minimum = 1, maximum = 90)]
    pub days: Option<u32>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DayOut {
    pub date: NaiveDate,
    pub total: i64,
    pub success: i64,
    pub failure: i64,
}

#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"total": 42, "success": 40, "failure": 2, "avg_ms": 57.5, "per_day": [{"date": "2025-01-14", "total": 18, "success": 18, "failure": 0}, {"date": "2025-01-15", "total": 24, "success": 22, "failure": 2}]}))]
pub struct StatsOut {
    pub total: i64,
    pub success: i64,
    pub failure: i64,
    pub avg_ms: f64,
    /// One row per day, oldest first, zero-filled; days in `GANCHO_TIMEZONE`.
    pub per_day: Vec<DayOut>,
}

#[utoipa::path(get, path = "/logs/stats", tag = "logs", params(StatsParams),
    responses((status = 200, body = StatsOut), (status = 422, body = ErrorBody)))]
async fn log_stats(
    State(state): State<AppState>,
    Ws(ws): Ws,
    Query(params): Query<StatsParams>,
) -> Result<Json<StatsOut>, ApiError> {
    let days = params.days.unwrap_or(7);
    let tz = state.config.timezone;
    let s = logs::stats(state.store.as_ref(), &ws, days, tz, state.clock.now()).await?;
    Ok(Json(StatsOut {
        total: s.total,
        success: s.success,
        failure: s.failure,
        avg_ms: s.avg_ms,
        per_day: s
            .per_day
            .into_iter()
            .map(|d| DayOut {
                date: d.date,
                total: d.total,
                success: d.success,
                failure: d.failure,
            })
            .collect(),
    }))
}

#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"waiting": 3, "processing": 1, "late": 0, "done": 128, "failed": 2}))]
pub struct QueueOut {
    /// Pending and due within the last minute, or later.
    pub waiting: i64,
    /// Being sent right now.
    pub processing: i64,
    /// Due more than a minute ago and not yet claimed.
    pub late: i64,
    pub done: i64,
    pub failed: i64,
}

#[utoipa::path(get, path = "/queue", tag = "logs", responses((status = 200, body = QueueOut)))]
async fn queue(State(state): State<AppState>, Ws(ws): Ws) -> Result<Json<QueueOut>, ApiError> {
    let q = state.store.queue_counts(&ws, state.clock.now()).await?;
    Ok(Json(QueueOut {
        waiting: q.waiting,
        processing: q.processing,
        late: q.late,
        done: q.done,
        failed: q.failed,
    }))
}
