//! Logs: the queue panel (refreshing itself), the period's totals, the
//! events-per-day chart, the filterable table with CSV export, and each
//! entry's detail with resend / reprocess.

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use maud::{html, Markup};
use serde_json::Value;

use crate::app::AppState;
use crate::error::ApiError;
use crate::ids::LogId;
use crate::logs::{self, LogQuery};
use crate::model::{Direction, LogEntry, LogStatus};
use crate::ui::chart::chart;
use crate::ui::i18n::{event_label, M};
use crate::ui::layout;
use crate::ui::{html as to_html, redirect_with, Ctx, Flash, Form, UiError};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/ui/logs", get(list))
        .route("/ui/logs/queue", get(queue_fragment))
        .route("/ui/logs.csv", get(csv))
        .route("/ui/logs/{id}", get(detail))
        .route("/ui/logs/{id}/reprocessar", post(reprocess))
}

const TAB: &str = "/ui/logs";
const PERIODS: [u32; 3] = [7, 30, 90];

/// The table's filters, as typed in the form.
#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct Filters {
    pub days: Option<u32>,
    pub email: Option<String>,
    pub direction: Option<String>,
    pub status: Option<String>,
    pub event_type: Option<String>,
    pub cursor: Option<String>,
}

impl Filters {
    fn days(&self) -> u32 {
        self.days.filter(|d| (1..=90).contains(d)).unwrap_or(7)
    }

    /// The query string of these filters (without the cursor), `&`-joined.
    fn query(&self, days: u32) -> String {
        let mut q = form_urlencoded::Serializer::new(String::new());
        q.append_pair("days", &days.to_string());
        for (k, v) in [
            ("email", &self.email),
            ("direction", &self.direction),
            ("status", &self.status),
            ("event_type", &self.event_type),
        ] {
            if let Some(v) = v.as_deref().filter(|v| !v.trim().is_empty()) {
                q.append_pair(k, v.trim());
            }
        }
        q.finish()
    }

    /// What `logs::parse_filter` reads: the API's own validation.
    fn log_query(&self, now: chrono::DateTime<chrono::Utc>) -> LogQuery {
        let nonempty = |v: &Option<String>| v.clone().filter(|v| !v.trim().is_empty());
        LogQuery {
            direction: nonempty(&self.direction),
            status: nonempty(&self.status),
            event_type: nonempty(&self.event_type),
            email: nonempty(&self.email),
            from: Some((now - chrono::Duration::days(i64::from(self.days()))).to_rfc3339()),
            to: None,
            limit: Some(super::PAGE_SIZE),
            cursor: nonempty(&self.cursor),
        }
    }
}

fn queue_panel(ctx: &Ctx, q: &crate::storage::QueueCounts) -> Markup {
    html! {
        ul class="counters" {
            @for (m, n, class) in [
                (M::QWaiting, q.waiting, "waiting"),
                (M::QProcessing, q.processing, "processing"),
                (M::QLate, q.late, "late"),
                (M::QDone, q.done, "done"),
                (M::QFailed, q.failed, "failed"),
            ] {
                li class=(class) { span class="label" { (ctx.t(m)) } " " strong class="value" { (ctx.lang.int(n)) } }
            }
        }
    }
}

async fn queue_fragment(State(state): State<AppState>, ctx: Ctx) -> Result<Response, UiError> {
    let q = state.store.queue_counts(&ctx.ws, state.clock.now()).await?;
    Ok(to_html(queue_panel(&ctx, &q)))
}

fn direction_label(ctx: &Ctx, d: Direction) -> &'static str {
    match d {
        Direction::In => ctx.t(M::In),
        Direction::Out => ctx.t(M::Out),
    }
}

fn status_badge(ctx: &Ctx, s: LogStatus) -> Markup {
    match s {
        LogStatus::Success => html! { span class="badge on" { (ctx.t(M::Success)) } },
        LogStatus::Failure => html! { span class="badge fail" { (ctx.t(M::Failure)) } },
    }
}

fn select(
    id: &str,
    label: &str,
    name: &str,
    current: Option<&str>,
    options: &[(&str, &str)],
) -> Markup {
    html! {
        div class="field" {
            label for=(id) { (label) }
            select id=(id) name=(name) {
                @for (value, text) in options {
                    option value=(value) selected[current == Some(*value)] { (text) }
                }
            }
        }
    }
}

async fn list(
    State(state): State<AppState>,
    ctx: Ctx,
    Query(f): Query<Filters>,
) -> Result<Response, UiError> {
    let now = state.clock.now();
    let days = f.days();
    let store = state.store.as_ref();
    let queue = store.queue_counts(&ctx.ws, now).await?;
    let stats = logs::stats(store, &ctx.ws, days, ctx.tz, now).await?;
    let filter = logs::parse_filter(&f.log_query(now));
    let (rows, next, filter_error) = match filter {
        Ok(filter) => {
            let (rows, next) = logs::search(store, &ctx.ws, &filter).await?;
            (rows, next, None)
        }
        Err(e) => (
            Vec::new(),
            None,
            Some(crate::ui::error_text(ctx.lang, &ApiError::from(e))),
        ),
    };
    let pct = if stats.total > 0 {
        100.0 * stats.success as f64 / stats.total as f64
    } else {
        0.0
    };
    let query = f.query(days);
    let all = ctx.t(M::All);
    let body = html! {
        section class="queue card" aria-labelledby="queue-title" data-refresh="/ui/logs/queue" aria-live="polite" {
            h2 id="queue-title" { (ctx.t(M::Queue)) }
            div class="queue-body" { (queue_panel(&ctx, &queue)) }
        }
        nav class="periods" aria-label=(ctx.t(M::Period)) {
            span { (ctx.t(M::Period)) ": " }
            @for p in PERIODS {
                a class="period" href={"/ui/logs?" (f.query(p))} aria-current=[(p == days).then_some("true")] { (p) " " (ctx.t(M::Days)) }
                " "
            }
        }
        section class="kpis" aria-label=(ctx.t(M::LastDays)) {
            div class="kpi" { span class="label" { (ctx.t(M::KpiEvents)) } strong { (ctx.lang.int(stats.total)) } }
            div class="kpi ok" { span class="label" { (ctx.t(M::KpiSuccess)) } strong { (ctx.lang.int(stats.success)) } span class="pct" { (ctx.lang.dec1(pct)) "%" } }
            div class="kpi fail" { span class="label" { (ctx.t(M::KpiFailures)) } strong { (ctx.lang.int(stats.failure)) } }
            div class="kpi" { span class="label" { (ctx.t(M::KpiAvgTime)) } strong { (ctx.lang.int(stats.avg_ms.round() as i64)) " ms" } }
        }
        section aria-labelledby="chart-heading" {
            h2 id="chart-heading" { (ctx.t(M::ChartTitle)) }
            (chart(ctx.lang, &stats.per_day))
        }
        form class="filters" method="get" action="/ui/logs" {
            input type="hidden" name="days" value=(days);
            div class="field" {
                label for="email" { (ctx.t(M::Email)) }
                input id="email" type="search" name="email" value=(f.email.as_deref().unwrap_or(""));
            }
            (select("direction", ctx.t(M::Direction), "direction", f.direction.as_deref(),
                &[("", all), ("in", ctx.t(M::In)), ("out", ctx.t(M::Out))]))
            (select("status", ctx.t(M::Status), "status", f.status.as_deref(),
                &[("", all), ("success", ctx.t(M::Success)), ("failure", ctx.t(M::Failure))]))
            div class="field" {
                label for="event_type" { (ctx.t(M::Event)) }
                input id="event_type" type="text" name="event_type" value=(f.event_type.as_deref().unwrap_or("")) placeholder="purchase.approved";
            }
            div class="buttons" {
                button type="submit" { (ctx.t(M::Filter)) }
                a class="button secondary csv" href={"/ui/logs.csv?" (query)} { (ctx.t(M::ExportCsv)) }
            }
        }
        @if let Some(e) = filter_error { p class="flash error" role="alert" { (e) } }
        @if rows.is_empty() {
            p class="empty" { (ctx.t(M::LogsEmpty)) }
        } @else {
            div class="table-wrap" {
                table class="list logs" {
                    thead { tr {
                        th scope="col" { (ctx.t(M::Date)) }
                        th scope="col" { (ctx.t(M::Event)) }
                        th scope="col" { (ctx.t(M::Direction)) }
                        th scope="col" { (ctx.t(M::Customer)) }
                        th scope="col" { (ctx.t(M::Status)) }
                        th scope="col" { (ctx.t(M::Time)) }
                        th scope="col" { (ctx.t(M::Webhook)) }
                    } }
                    tbody {
                        @for e in &rows {
                            tr data-id=(e.id) {
                                td { a class="detail" href={"/ui/logs/" (e.id)} { (ctx.lang.datetime(e.at, ctx.tz)) } }
                                td { (e.event_type.as_deref().map(|t| event_label(ctx.lang, t)).unwrap_or("—")) }
                                td { (direction_label(&ctx, e.direction)) }
                                td { (e.email.as_deref().unwrap_or("—")) }
                                td { (status_badge(&ctx, e.status)) }
                                td class="num" { (ctx.lang.int(e.duration_ms)) " ms" }
                                td { (e.integration.name) }
                            }
                        }
                    }
                }
            }
            (layout::next_link(&ctx, &format!("/ui/logs?{query}&cursor="), next))
        }
    };
    Ok(layout::page(&ctx, TAB, ctx.t(M::LogsTitle), body))
}

/// The same filters as the table, as CSV (the API's export, streamed).
async fn csv(
    State(state): State<AppState>,
    ctx: Ctx,
    Query(f): Query<Filters>,
) -> Result<Response, UiError> {
    let mut query = f.log_query(state.clock.now());
    query.cursor = None;
    let mut filter = logs::parse_filter(&query).map_err(ApiError::from)?;
    filter.limit = 1000;
    let body = Body::from_stream(crate::api::logs::csv_stream(
        state.store.clone(),
        ctx.ws.clone(),
        filter,
    ));
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

fn parse_id(raw: &str) -> Result<LogId, UiError> {
    LogId::parse(raw).ok_or_else(|| ApiError::NotFound("log entry not found".into()).into())
}

fn pretty(v: &Value) -> String {
    serde_json::to_string_pretty(v).unwrap_or_default()
}

fn attempts_table(ctx: &Ctx, attempts: &Value) -> Markup {
    let list = attempts.as_array().cloned().unwrap_or_default();
    html! {
        section class="attempts" aria-labelledby="attempts-title" {
            h2 id="attempts-title" { (ctx.t(M::Attempts)) }
            @if list.is_empty() { p class="empty" { (ctx.t(M::NoEffects)) } }
            @else {
                div class="table-wrap" {
                    table class="list" {
                        thead { tr {
                            th scope="col" { "#" }
                            th scope="col" { (ctx.t(M::Date)) }
                            th scope="col" { (ctx.t(M::Response)) }
                            th scope="col" { (ctx.t(M::Time)) }
                            th scope="col" { (ctx.t(M::Error)) }
                        } }
                        tbody {
                            @for (i, a) in list.iter().enumerate() {
                                tr {
                                    td class="num" { (i + 1) }
                                    td { (a["at"].as_str().unwrap_or("")) }
                                    td { (a["http_status"].as_u64().map(|s| s.to_string()).unwrap_or_default()) }
                                    td class="num" { (a["duration_ms"].as_i64().unwrap_or(0)) " ms" }
                                    td { (a["error"].as_str().unwrap_or("")) }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

async fn detail(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> Result<Response, UiError> {
    let (entry, detail) = logs::detail(state.store.as_ref(), &ctx.ws, &parse_id(&id)?)
        .await
        .map_err(ApiError::from)?;
    let body = detail_body(&ctx, &entry, &detail);
    Ok(layout::page(&ctx, TAB, ctx.t(M::LogDetail), body))
}

fn detail_body(ctx: &Ctx, e: &LogEntry, detail: &Value) -> Markup {
    let payload = match e.direction {
        Direction::In => &detail["request"],
        Direction::Out => &detail["event"],
    };
    html! {
        section class="card" {
            dl class="facts" {
                dt { (ctx.t(M::Date)) } dd { (ctx.lang.datetime(e.at, ctx.tz)) }
                dt { (ctx.t(M::Event)) } dd { (e.event_type.as_deref().map(|t| event_label(ctx.lang, t)).unwrap_or("—")) }
                dt { (ctx.t(M::Direction)) } dd { (direction_label(ctx, e.direction)) }
                dt { (ctx.t(M::Customer)) } dd { (e.email.as_deref().unwrap_or("—")) }
                dt { (ctx.t(M::Status)) } dd { (status_badge(ctx, e.status)) " HTTP " (e.http_status) }
                dt { (ctx.t(M::Time)) } dd { (ctx.lang.int(e.duration_ms)) " ms" }
                dt { (ctx.t(M::Webhook)) } dd { (e.integration.name) }
                @if let Some(err) = &e.error { dt { (ctx.t(M::Error)) } dd { (err) } }
            }
            div class="buttons" {
                @match e.direction {
                    Direction::In => {
                        (layout::action(ctx, "reprocess", &format!("/ui/logs/{}/reprocessar", e.id), ctx.t(M::Reprocess)))
                        a class="button secondary dry-run" href={"/ui/logs/" (e.id) "/testar"} { (ctx.t(M::WhatIfReprocess)) }
                    }
                    Direction::Out => {
                        @if let Some(d) = detail["delivery_id"].as_str() {
                            (layout::action(ctx, "resend", &format!("/ui/entregas/{d}/reenviar"), ctx.t(M::Resend)))
                        }
                    }
                }
            }
        }
        section aria-labelledby="payload-title" {
            h2 id="payload-title" { (ctx.t(M::Payload)) }
            pre class="payload" tabindex="0" { (pretty(payload)) }
        }
        @if e.direction == Direction::Out {
            (attempts_table(ctx, &detail["attempts"]))
        } @else {
            section aria-labelledby="response-title" {
                h2 id="response-title" { (ctx.t(M::Response)) }
                pre class="response" tabindex="0" { (pretty(&detail["response"])) }
            }
            section aria-labelledby="effects-title" {
                h2 id="effects-title" { (ctx.t(M::Effects)) }
                pre class="effects" tabindex="0" { (pretty(&serde_json::json!({
                    "verification": detail["verification"],
                    "normalized": detail["normalized"],
                    "effects": detail["effects"],
                }))) }
            }
        }
    }
}

async fn reprocess(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    _f: Form,
) -> Result<Response, UiError> {
    let id = parse_id(&id)?;
    let reply = crate::api::logs::run_reprocess(&state, &ctx.ws, &id).await?;
    let back = format!("/ui/logs/{id}");
    if reply.status != 200 {
        let message = reply.body["error"]["message"]
            .as_str()
            .or(reply.body["status"].as_str())
            .unwrap_or("failed")
            .to_string();
        return Ok(redirect_with(
            &back,
            Flash::Error(format!("{} {message}", ctx.t(M::ErrorPrefix))),
        ));
    }
    let to = reply.body["log_id"]
        .as_str()
        .and_then(LogId::parse)
        .map_or(back, |l| format!("/ui/logs/{l}"));
    Ok(redirect_with(&to, Flash::Ok(M::FlashQueued)))
}
