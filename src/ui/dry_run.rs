//! The "Testar" panel: what a pasted (or sample) notification would do at
//! an inbound URL, and what reprocessing a log entry would do now, shown
//! from `inbound::dry_run`'s report. Nothing is stored or sent.

use axum::extract::{Path, State};
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use maud::{html, Markup};

use super::i18n::{effect_label, event_label, outcome_label, M};
use super::layout::{self, csrf};
use super::pages::entrada;
use super::samples;
use super::{error_text, Ctx, Form, UiError};
use crate::api::inbound_urls::DryRunIn;
use crate::app::AppState;
use crate::error::ApiError;
use crate::ids::LogId;
use crate::inbound::dry_run::{self, DryRunReport};
use crate::inbound::{ReadContext, ReprocessError};
use crate::model::InboundUrl;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/ui/entrada/{id}/testar", get(page).post(run))
        .route("/ui/logs/{id}/testar", get(log_entry))
}

fn read_context(state: &AppState) -> ReadContext<'_> {
    ReadContext {
        store: state.store.as_ref(),
        sealer: &state.sealer,
        now: state.clock.now(),
    }
}

/// `Name: value` lines.
fn parse_headers(text: &str) -> Result<Vec<(String, String)>, ApiError> {
    let mut out = Vec::new();
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let (name, value) = line.split_once(':').ok_or_else(|| {
            ApiError::Validation(format!("headers: {line:?} is not `Name: value`"))
        })?;
        out.push((name.trim().to_string(), value.trim().to_string()));
    }
    Ok(out)
}

fn form(ctx: &Ctx, u: &InboundUrl, values: &Form) -> Markup {
    let action = format!("/ui/entrada/{}/testar", u.id);
    let chosen = values.get("sample");
    html! {
        p class="intro" { (ctx.t(M::DryRunIntro)) }
        form class="entity dry-run" method="post" action=(action) {
            (csrf(ctx))
            div class="field" {
                label for="sample" { (ctx.t(M::Sample)) }
                select id="sample" name="sample" {
                    option value="" { (ctx.t(M::SampleNone)) }
                    @for (i, s) in samples::of(u.gateway) {
                        option value=(i) selected[chosen.as_deref() == Some(i.to_string().as_str())] { (s.name) }
                    }
                }
            }
            div class="field" {
                label for="payload" { (ctx.t(M::Payload)) }
                textarea id="payload" name="payload" spellcheck="false" { (values.raw("payload")) }
            }
            div class="field" {
                label for="headers" { (ctx.t(M::Headers)) }
                textarea id="headers" name="headers" class="short" spellcheck="false" aria-describedby="headers-hint" { (values.raw("headers")) }
                p id="headers-hint" class="hint" { (ctx.t(M::HeadersHint)) }
            }
            (layout::field("query", ctx.t(M::QueryString), "query", values.raw("query"), None, false))
            div class="buttons" {
                button type="submit" { (ctx.t(M::RunDryRun)) }
                a class="button secondary" href=(entrada::TAB) { (ctx.t(M::Back)) }
            }
        }
    }
}

async fn page(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> Result<Response, UiError> {
    let u = crate::inbound::url::get_inbound_url(
        state.store.as_ref(),
        &ctx.ws,
        &entrada::parse_id(&id)?,
    )
    .await?;
    let title = format!("{}: {}", ctx.t(M::DryRunTitle), u.name);
    Ok(layout::page(
        &ctx,
        entrada::TAB,
        &title,
        form(&ctx, &u, &Form::default()),
    ))
}

async fn run(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    f: Form,
) -> Result<Response, UiError> {
    let u = crate::inbound::url::get_inbound_url(
        state.store.as_ref(),
        &ctx.ws,
        &entrada::parse_id(&id)?,
    )
    .await?;
    let title = format!("{}: {}", ctx.t(M::DryRunTitle), u.name);
    // A sample chosen with nothing pasted: the sample, shown in the form.
    let mut values = f.clone();
    let sample = f
        .get("sample")
        .and_then(|i| i.parse::<usize>().ok())
        .and_then(|i| samples::SAMPLES.get(i));
    let mut content_type = None;
    if let (Some(s), true) = (sample, f.raw("payload").trim().is_empty()) {
        values
            .0
            .retain(|(k, _)| !matches!(k.as_str(), "payload" | "headers" | "query"));
        values.0.push(("payload".into(), s.body.to_string()));
        let headers: Vec<String> = s.headers.iter().map(|(k, v)| format!("{k}: {v}")).collect();
        values.0.push(("headers".into(), headers.join("\n")));
        let query: String = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(s.query.iter())
            .finish();
        values.0.push(("query".into(), query));
        content_type = Some(s.content_type.to_string());
    }
    let outcome = async {
        let call = DryRunIn {
            payload: values.raw("payload").to_string(),
            content_type,
            headers: parse_headers(values.raw("headers"))?.into_iter().collect(),
            query: values.get("query"),
        }
        .into_call()?;
        let workspace = state.store.get_workspace(&ctx.ws).await?;
        Ok::<_, ApiError>(dry_run::dry_run(&read_context(&state), &workspace, &u, call).await?)
    }
    .await;
    let body = html! {
        (form(&ctx, &u, &values))
        @match &outcome {
            Ok(report) => (result(&ctx, report)),
            Err(e) => p class="flash error" role="alert" { (error_text(ctx.lang, e)) },
        }
    };
    let status = match &outcome {
        Ok(_) => axum::http::StatusCode::OK,
        Err(e) => e.status(),
    };
    Ok(layout::page_with_status(
        &ctx,
        status,
        entrada::TAB,
        &title,
        body,
    ))
}

/// "What would happen if I reprocess now": the entry read as the reprocess
/// reads it, with today's mappings.
async fn log_entry(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> Result<Response, UiError> {
    let id = LogId::parse(&id).ok_or_else(|| ApiError::NotFound("log entry not found".into()))?;
    let original = state
        .store
        .get_log(&ctx.ws, &id)
        .await
        .map_err(crate::logs::LogsError::from)
        .map_err(ApiError::from)?;
    let workspace = state.store.get_workspace(&ctx.ws).await?;
    let report = dry_run::dry_run_reprocess(&read_context(&state), &workspace, &original)
        .await
        .map_err(|e| match e {
            ReprocessError::NotReprocessable(why) => ApiError::Validation(why.into()),
            ReprocessError::Store(e) => e.into(),
        })?;
    let body = html! {
        p { a href={"/ui/logs/" (id)} { (ctx.t(M::Back)) } }
        (result(&ctx, &report))
    };
    Ok(layout::page(
        &ctx,
        "/ui/logs",
        ctx.t(M::WhatIfReprocess),
        body,
    ))
}

/// The report: outcome, gateway, proof, event, access effects, webhooks.
pub fn result(ctx: &Ctx, r: &DryRunReport) -> Markup {
    let event = r.event.as_ref();
    html! {
        section id="dry-run-result" aria-labelledby="dry-run-title" data-outcome=(r.outcome.as_str()) {
            h2 id="dry-run-title" { (ctx.t(M::DryRunResult)) }
            p class="flash ok" role="status" { (ctx.t(M::DryRunNothingStored)) }
            dl class="facts card" {
                dt { (ctx.t(M::Outcome)) }
                dd class="outcome" { strong { (outcome_label(ctx.lang, r.outcome.as_str())) } " (HTTP " (r.http_status) ")"
                    @if let Some(m) = &r.message { br; span class="muted" { (m) } } }
                dt { (ctx.t(M::Detected)) }
                dd class="gateway" { (r.gateway.map(|g| crate::inbound::gateways::adapter(g).setup().name).unwrap_or("—")) }
                dt { (ctx.t(M::Proof)) }
                dd class="proof" {
                    @match &r.proof {
                        Some(p) if p.passed => span class="badge on" { (ctx.t(M::ProofPassed)) },
                        Some(_) => span class="badge fail" { (ctx.t(M::ProofFailed)) },
                        None => "—",
                    }
                    @if let Some(p) = r.proof.as_ref().filter(|p| !p.passed) { " " span class="muted" { (p.reason) } }
                }
                dt { (ctx.t(M::NormalizedEvent)) }
                dd class="event" {
                    @if let Some(e) = event {
                        (event_label(ctx.lang, e.status.event_type())) " · " (e.customer.email.as_deref().unwrap_or("—"))
                        @if let Some(t) = &e.transaction_id { " · " code { (t) } }
                        @if let Some(c) = e.amount_cents { " · " (e.currency.as_deref().unwrap_or("")) " " (ctx.lang.money(c)) }
                    } @else { "—" }
                }
            }
            h3 { (ctx.t(M::Effects)) }
            @if r.effects.is_empty() { p class="empty" { (ctx.t(M::NoEffects)) } }
            @else {
                ul class="effects" {
                    @for e in &r.effects {
                        li data-action=(e.action.as_str()) {
                            strong { (effect_label(ctx.lang, e.action.as_str())) } " "
                            (e.name.as_deref().unwrap_or(""))
                            @if let Some(u) = e.until { " · " (ctx.t(M::Until)) " " (ctx.lang.datetime(u, ctx.tz)) }
                            @if let Some(why) = &e.reason { " · " span class="muted" { (why) } }
                        }
                    }
                }
            }
            h3 { (ctx.t(M::OutboundEvents)) }
            @if r.outbound.is_empty() { p class="empty" { (ctx.t(M::NoEffects)) } }
            @else {
                ul class="outbound" {
                    @for d in &r.outbound {
                        li { (event_label(ctx.lang, &d.event_type)) " → " (d.endpoint_name) }
                    }
                }
            }
            @if let Some(e) = event {
                details {
                    summary { (ctx.t(M::NormalizedEvent)) " (JSON)" }
                    pre class="payload" tabindex="0" { (serde_json::to_string_pretty(e).unwrap_or_default()) }
                }
            }
        }
    }
}
