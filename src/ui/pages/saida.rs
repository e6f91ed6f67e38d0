//! Saída: outbound endpoints, their secret, test send and rotation, and
//! each endpoint's delivery history with resend.

use axum::extract::{Path, Query, State};
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use maud::{html, Markup};

use super::catalog::{product_ids, Cursor};
use super::{all_products, list_page, options, split_page};
use crate::app::AppState;
use crate::error::ApiError;
use crate::ids::{DeliveryId, EndpointId};
use crate::keys::mask;
use crate::model::Endpoint;
use crate::outbound::endpoint::{self, EndpointPatch, NewEndpoint};
use crate::outbound::event::EVENT_TYPES;
use crate::outbound::{delivery, OutboundError};
use crate::ui::i18n::{event_label, M};
use crate::ui::layout::{self, csrf, field};
use crate::ui::{error_text, redirect_with, Ctx, Flash, Form, UiError};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/ui/saida", get(list).post(create))
        .route("/ui/saida/new", get(new))
        .route("/ui/saida/{id}", get(detail))
        .route("/ui/saida/{id}/editar", get(edit).post(update))
        .route("/ui/saida/{id}/ativar", post(toggle))
        .route("/ui/saida/{id}/teste", post(send_test))
        .route("/ui/saida/{id}/segredo", post(rotate))
        .route("/ui/saida/{id}/excluir", get(confirm).post(delete))
        .route("/ui/entregas/{id}/reenviar", post(resend))
}

const TAB: &str = "/ui/saida";

fn parse_id(raw: &str) -> Result<EndpointId, UiError> {
    EndpointId::parse(raw).ok_or_else(|| ApiError::NotFound("endpoint not found".into()).into())
}

async fn list(
    State(state): State<AppState>,
    ctx: Ctx,
    Query(q): Query<Cursor>,
) -> Result<Response, UiError> {
    let rows = state
        .store
        .list_endpoints(&ctx.ws, &list_page(q.cursor))
        .await?;
    let (rows, next) = split_page(rows, |e| e.id.to_string());
    let body = html! {
        p class="intro" { (ctx.t(M::SaidaIntro)) }
        (layout::listing(&ctx, "/ui/saida/new", M::NewEndpoint, M::EndpointsEmpty, rows.is_empty(), next, html! {
                table class="list" {
                    thead { tr {
                        th scope="col" { (ctx.t(M::Name)) }
                        th scope="col" { (ctx.t(M::Status)) }
                        th scope="col" { (ctx.t(M::Url)) }
                        th scope="col" { (ctx.t(M::EventCount)) }
                        th scope="col" { (ctx.t(M::Actions)) }
                    } }
                    tbody {
                        @for e in &rows {
                            tr data-id=(e.id) {
                                td { a class="detail" href={"/ui/saida/" (e.id)} { (e.name) } }
                                td { (layout::status_badge(&ctx, e.is_enabled)) }
                                td { code class="url" { (e.url) } }
                                td class="num" {
                                    @if e.event_types.is_empty() { (ctx.t(M::EveryEvent)) } @else { (e.event_types.len()) }
                                }
                                td class="row-actions" {
                                    (layout::row_actions(&ctx, &format!("/ui/saida/{}", e.id), "/editar", Some(e.is_enabled)))
                                }
                            }
                        }
                    }
                }
        }))
    };
    Ok(layout::page(&ctx, TAB, ctx.t(M::SaidaTitle), body))
}

async fn form(
    state: &AppState,
    ctx: &Ctx,
    action: &str,
    values: &Form,
    error: Option<&str>,
) -> Result<Markup, UiError> {
    let products = all_products(state, &ctx.ws).await?;
    let product_opts = options(&products, |p| (p.id.to_string(), p.name.clone()));
    let event_opts: Vec<(String, String)> = EVENT_TYPES
        .iter()
        .map(|t| (t.to_string(), event_label(ctx.lang, t).to_string()))
        .collect();
    let mut headers: Vec<(String, String)> = values
        .pairs("header_name", "header_value")
        .into_iter()
        .filter(|(n, _)| !n.trim().is_empty())
        .collect();
    headers.push((String::new(), String::new()));
    Ok(html! {
        @if let Some(e) = error { p class="flash error" role="alert" { (e) } }
        form class="entity" method="post" action=(action) {
            (csrf(ctx))
            (field("name", ctx.t(M::Name), "name", values.raw("name"), None, true))
            div class="field" {
                label for="url" { (ctx.t(M::Url)) }
                input id="url" type="url" name="url" value=(values.raw("url")) required placeholder="https://";
            }
            (layout::checklist(ctx, ctx.t(M::Events), "events", &event_opts, &values.all("events"), Some(ctx.t(M::EventsHint))))
            (layout::checklist(ctx, ctx.t(M::ProductFilter), "product_ids", &product_opts, &values.all("product_ids"), Some(ctx.t(M::ProductFilterHint))))
            fieldset class="rows headers" {
                legend { (ctx.t(M::CustomHeaders)) }
                @for (i, (name, value)) in headers.iter().enumerate() {
                    div class="row" {
                        div class="field" {
                            label for={"header-name-" (i)} { (ctx.t(M::HeaderName)) }
                            input id={"header-name-" (i)} type="text" name="header_name" value=(name);
                        }
                        div class="field" {
                            label for={"header-value-" (i)} { (ctx.t(M::HeaderValue)) }
                            input id={"header-value-" (i)} type="text" name="header_value" value=(value);
                        }
                    }
                }
                button type="button" class="add-row secondary" { (ctx.t(M::AddHeader)) }
            }
            div class="buttons" {
                button type="submit" { (ctx.t(M::Save)) }
                a class="button secondary" href=(TAB) { (ctx.t(M::Cancel)) }
            }
        }
    })
}

fn headers_of(f: &Form) -> Vec<(String, String)> {
    f.pairs("header_name", "header_value")
        .into_iter()
        .filter(|(n, _)| !n.trim().is_empty())
        .map(|(n, v)| (n.trim().to_string(), v.trim().to_string()))
        .collect()
}

async fn new(State(state): State<AppState>, ctx: Ctx) -> Result<Response, UiError> {
    let body = form(&state, &ctx, TAB, &Form::default(), None).await?;
    Ok(layout::page(
        &ctx,
        TAB,
        ctx.t(M::NewEndpoint).trim_start_matches("+ "),
        body,
    ))
}

async fn create(State(state): State<AppState>, ctx: Ctx, f: Form) -> Result<Response, UiError> {
    let result = async {
        let new = NewEndpoint {
            name: f.raw("name").to_string(),
            url: f.raw("url").trim().to_string(),
            event_types: f.all("events"),
            product_ids: product_ids(&f, "product_ids")?,
            headers: headers_of(&f),
            is_enabled: true,
            ..Default::default()
        };
        endpoint::create_endpoint(
            state.store.as_ref(),
            &state.sealer,
            &ctx.ws,
            new,
            state.config.allow_private_targets,
            state.clock.now(),
        )
        .await
        .map_err(ApiError::from)
    }
    .await;
    Ok(match result {
        Ok((e, _)) => redirect_with(&format!("/ui/saida/{}", e.id), Flash::Ok(M::FlashCreated)),
        Err(e) => {
            let body = form(&state, &ctx, TAB, &f, Some(&error_text(ctx.lang, &e))).await?;
            let title = ctx.t(M::NewEndpoint).trim_start_matches("+ ");
            layout::page_with_status(&ctx, e.status(), TAB, title, body)
        }
    })
}

fn values_of(state: &AppState, e: &Endpoint) -> Result<Form, UiError> {
    let mut v = vec![
        ("name".to_string(), e.name.clone()),
        ("url".to_string(), e.url.clone()),
    ];
    v.extend(
        e.event_types
            .iter()
            .map(|t| ("events".to_string(), t.clone())),
    );
    v.extend(
        e.product_ids
            .iter()
            .map(|p| ("product_ids".to_string(), p.to_string())),
    );
    for (name, value) in endpoint::open_headers(&state.sealer, e).map_err(ApiError::from)? {
        v.push(("header_name".into(), name));
        v.push(("header_value".into(), value));
    }
    Ok(Form(v))
}

async fn edit(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> Result<Response, UiError> {
    let e = endpoint::get_endpoint(state.store.as_ref(), &ctx.ws, &parse_id(&id)?).await?;
    let action = format!("/ui/saida/{}/editar", e.id);
    let body = form(&state, &ctx, &action, &values_of(&state, &e)?, None).await?;
    Ok(layout::page(&ctx, TAB, ctx.t(M::EditEndpoint), body))
}

async fn update(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    f: Form,
) -> Result<Response, UiError> {
    let id = parse_id(&id)?;
    let result = async {
        let patch = EndpointPatch {
            name: Some(f.raw("name").to_string()),
            url: Some(f.raw("url").trim().to_string()),
            event_types: Some(f.all("events")),
            product_ids: Some(product_ids(&f, "product_ids")?),
            headers: Some(headers_of(&f)),
            ..Default::default()
        };
        patch_endpoint(&state, &ctx, &id, patch).await
    }
    .await;
    Ok(match result {
        Ok(e) => redirect_with(&format!("/ui/saida/{}", e.id), Flash::Ok(M::FlashSaved)),
        Err(e @ ApiError::NotFound(_)) => return Err(e.into()),
        Err(e) => {
            let action = format!("/ui/saida/{id}/editar");
            let body = form(&state, &ctx, &action, &f, Some(&error_text(ctx.lang, &e))).await?;
            layout::page_with_status(&ctx, e.status(), TAB, ctx.t(M::EditEndpoint), body)
        }
    })
}

async fn patch_endpoint(
    state: &AppState,
    ctx: &Ctx,
    id: &EndpointId,
    patch: EndpointPatch,
) -> Result<Endpoint, ApiError> {
    let e = endpoint::update_endpoint(
        state.store.as_ref(),
        &state.sealer,
        &ctx.ws,
        id,
        patch,
        state.config.allow_private_targets,
        state.clock.now(),
    )
    .await?;
    state.outbox.wake();
    Ok(e)
}

async fn detail(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    Query(q): Query<Cursor>,
) -> Result<Response, UiError> {
    let e = endpoint::get_endpoint(state.store.as_ref(), &ctx.ws, &parse_id(&id)?).await?;
    let secret = endpoint::reveal_secret(&state.sealer, &e).map_err(ApiError::from)?;
    let rows = state
        .store
        .list_deliveries(&ctx.ws, &e.id, &list_page(q.cursor))
        .await?;
    let (rows, next) = split_page(rows, |d| d.id.to_string());
    let base = format!("/ui/saida/{}", e.id);
    let body = html! {
        section class="card" {
            dl class="facts" {
                dt { (ctx.t(M::Status)) } dd { (layout::status_badge(&ctx, e.is_enabled)) @if let Some(r) = &e.disabled_reason { " " span class="muted" { (r) } } }
                dt { (ctx.t(M::Url)) } dd { (layout::copyable_url(&ctx, &e.url)) }
                dt { (ctx.t(M::Events)) } dd {
                    @if e.event_types.is_empty() { (ctx.t(M::EveryEvent)) }
                    @for t in &e.event_types { span class="tag" { (event_label(ctx.lang, t)) } " " }
                }
                dt { (ctx.t(M::SigningSecret)) } dd { (layout::secret(&ctx, &mask(&secret), &secret)) }
            }
            div class="buttons" {
                a class="button edit" href={(base) "/editar"} { (ctx.t(M::Edit)) }
                (layout::action(&ctx, "send-test", &format!("{base}/teste"), ctx.t(M::SendTest)))
                (layout::action(&ctx, "rotate", &format!("{base}/segredo"), ctx.t(M::RotateSecret)))
                (layout::action(&ctx, "toggle", &format!("{base}/ativar"), ctx.t(if e.is_enabled { M::Deactivate } else { M::Activate })))
                a class="button danger delete" href={(base) "/excluir"} { (ctx.t(M::Delete)) }
            }
        }
        section aria-labelledby="deliveries-title" {
            h2 id="deliveries-title" { (ctx.t(M::Deliveries)) }
            @if rows.is_empty() { p class="empty" { (ctx.t(M::DeliveriesEmpty)) } }
            @else {
                div class="table-wrap" {
                    table class="list deliveries" {
                        thead { tr {
                            th scope="col" { (ctx.t(M::Date)) }
                            th scope="col" { (ctx.t(M::Event)) }
                            th scope="col" { (ctx.t(M::Status)) }
                            th scope="col" { (ctx.t(M::Attempts)) }
                            th scope="col" { (ctx.t(M::Response)) }
                            th scope="col" { (ctx.t(M::Actions)) }
                        } }
                        tbody {
                            @for d in &rows {
                                tr data-id=(d.id) {
                                    td { (ctx.lang.datetime(d.created_at, ctx.tz)) }
                                    td { (event_label(ctx.lang, &d.event_type)) }
                                    td { span class={"badge " (d.status.as_str())} { (d.status.as_str()) } }
                                    td class="num" { (d.attempts) }
                                    td {
                                        @if let Some(s) = d.last_http_status { "HTTP " (s) " " }
                                        @if let Some(err) = &d.last_error { span class="muted" { (err) } }
                                    }
                                    td { (layout::action(&ctx, "resend", &format!("/ui/entregas/{}/reenviar", d.id), ctx.t(M::Resend))) }
                                }
                            }
                        }
                    }
                }
                (layout::next_link(&ctx, "?cursor=", next))
            }
        }
    };
    Ok(layout::page(&ctx, TAB, &e.name, body))
}

async fn toggle(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    _f: Form,
) -> Result<Response, UiError> {
    let id = parse_id(&id)?;
    let e = endpoint::get_endpoint(state.store.as_ref(), &ctx.ws, &id).await?;
    let patch = EndpointPatch {
        is_enabled: Some(!e.is_enabled),
        ..Default::default()
    };
    patch_endpoint(&state, &ctx, &id, patch).await?;
    Ok(redirect_with(TAB, Flash::Ok(M::FlashSaved)))
}

async fn send_test(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    _f: Form,
) -> Result<Response, UiError> {
    let id = parse_id(&id)?;
    endpoint::send_test(
        state.store.as_ref(),
        &state.outbox,
        &ctx.ws,
        &id,
        state.clock.now(),
    )
    .await?;
    Ok(redirect_with(
        &format!("/ui/saida/{id}"),
        Flash::Ok(M::FlashSent),
    ))
}

async fn rotate(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    _f: Form,
) -> Result<Response, UiError> {
    let id = parse_id(&id)?;
    endpoint::rotate_secret(
        state.store.as_ref(),
        &state.sealer,
        &ctx.ws,
        &id,
        None,
        state.clock.now(),
    )
    .await?;
    Ok(redirect_with(
        &format!("/ui/saida/{id}"),
        Flash::Ok(M::FlashRotated),
    ))
}

async fn confirm(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> Result<Response, UiError> {
    let e = endpoint::get_endpoint(state.store.as_ref(), &ctx.ws, &parse_id(&id)?).await?;
    let to = format!("/ui/saida/{}/excluir", e.id);
    Ok(layout::confirm_delete(&ctx, TAB, &e.name, &to, TAB))
}

async fn delete(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    _f: Form,
) -> Result<Response, UiError> {
    state
        .store
        .delete_endpoint(&ctx.ws, &parse_id(&id)?)
        .await
        .map_err(|e| ApiError::from(OutboundError::from(e)))?;
    Ok(redirect_with(TAB, Flash::Ok(M::FlashDeleted)))
}

async fn resend(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    _f: Form,
) -> Result<Response, UiError> {
    let id =
        DeliveryId::parse(&id).ok_or_else(|| ApiError::NotFound("delivery not found".into()))?;
    let d = delivery::resend(
        state.store.as_ref(),
        &state.outbox,
        &ctx.ws,
        &id,
        state.clock.now(),
    )
    .await?;
    Ok(redirect_with(
        &format!("/ui/saida/{}", d.endpoint_id),
        Flash::Ok(M::FlashQueued),
    ))
}
