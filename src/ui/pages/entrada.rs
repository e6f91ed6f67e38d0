//! Entrada: inbound URLs (where each gateway posts, and what it grants),
//! and the "Testar" panel (the dry run).

use axum::extract::{Path, Query, State};
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use maud::{html, Markup};

use super::catalog::{category_ids, product_ids, Cursor};
use super::{all_categories, all_products, list_page, options, split_page};
use crate::app::AppState;
use crate::error::ApiError;
use crate::ids::InboundUrlId;
use crate::inbound::url::{self, InboundUrlPatch, NewInboundUrl};
use crate::model::{GatewayKind, InboundUrl};
use crate::ui::i18n::M;
use crate::ui::layout::{self, csrf, field};
use crate::ui::{error_text, redirect_with, Ctx, Flash, Form, UiError};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/ui/entrada", get(list).post(create))
        .route("/ui/entrada/new", get(new))
        .route("/ui/entrada/{id}", get(edit).post(update))
        .route("/ui/entrada/{id}/ativar", post(toggle))
        .route("/ui/entrada/{id}/excluir", get(confirm).post(delete))
}

pub const TAB: &str = "/ui/entrada";

pub fn parse_id(raw: &str) -> Result<InboundUrlId, UiError> {
    InboundUrlId::parse(raw)
        .ok_or_else(|| ApiError::NotFound("inbound URL not found".into()).into())
}

async fn list(
    State(state): State<AppState>,
    ctx: Ctx,
    Query(q): Query<Cursor>,
) -> Result<Response, UiError> {
    let rows = state
        .store
        .list_inbound_urls(&ctx.ws, &list_page(q.cursor))
        .await?;
    let (rows, next) = split_page(rows, |u| u.id.to_string());
    // One workspace read for the page, not one per row.
    let workspace = state.store.get_workspace(&ctx.ws).await?;
    let urls: Vec<String> = rows
        .iter()
        .map(|u| {
            url::public_url(
                &state.config.public_url,
                &workspace.public_id,
                &u.slug,
                u.gateway,
            )
        })
        .collect();
    let body = html! {
        p class="intro" { (ctx.t(M::EntradaIntro)) }
        (layout::listing(&ctx, "/ui/entrada/new", M::NewInboundUrl, M::EntradaEmpty, rows.is_empty(), next, html! {
                table class="list" {
                    thead { tr {
                        th scope="col" { (ctx.t(M::Name)) }
                        th scope="col" { (ctx.t(M::Status)) }
                        th scope="col" { (ctx.t(M::Url)) }
                        th scope="col" { (ctx.t(M::Products)) }
                        th scope="col" { (ctx.t(M::Categories)) }
                        th scope="col" { (ctx.t(M::Actions)) }
                    } }
                    tbody {
                        @for (u, link) in rows.iter().zip(&urls) {
                            tr data-id=(u.id) {
                                td { (u.name) br; span class="muted" { (crate::inbound::gateways::adapter(u.gateway).setup().name) } }
                                td { (layout::status_badge(&ctx, u.is_enabled)) }
                                td { (layout::copyable_url(&ctx, link)) }
                                td class="num" { (u.product_ids.len()) }
                                td class="num" { (u.category_ids.len()) }
                                td class="row-actions" {
                                    a class="test" href={"/ui/entrada/" (u.id) "/testar"} { (ctx.t(M::TestUrl)) }
                                    " "
                                    (layout::row_actions(&ctx, &format!("/ui/entrada/{}", u.id), "", Some(u.is_enabled)))
                                }
                            }
                        }
                    }
                }
        }))
    };
    Ok(layout::page(&ctx, TAB, ctx.t(M::EntradaTitle), body))
}

async fn form(
    state: &AppState,
    ctx: &Ctx,
    action: &str,
    values: &Form,
    error: Option<&str>,
) -> Result<Markup, UiError> {
    let products = all_products(state, &ctx.ws).await?;
    let categories = all_categories(state, &ctx.ws).await?;
    let product_opts = options(&products, |p| (p.id.to_string(), p.name.clone()));
    let category_opts = options(&categories, |c| (c.id.to_string(), c.name.clone()));
    let gateway = values.get("gateway").and_then(|g| GatewayKind::parse(&g));
    Ok(html! {
        @if let Some(e) = error { p class="flash error" role="alert" { (e) } }
        form class="entity" method="post" action=(action) {
            (csrf(ctx))
            (field("name", ctx.t(M::Name), "name", values.raw("name"), None, true))
            (layout::gateway_select(ctx, "gateway", gateway))
            div class="field" {
                label for="slug" { (ctx.t(M::Slug)) }
                input id="slug" type="text" name="slug" value=(values.raw("slug")) data-slug-from="name"
                    pattern="[a-z0-9]+(-[a-z0-9]+)*" aria-describedby="slug-hint";
                p id="slug-hint" class="hint" { (ctx.t(M::SlugHint)) }
            }
            div class="field" {
                label for="access_days" { (ctx.t(M::AccessDays)) }
                input id="access_days" type="number" min="1" name="access_days" value=(values.raw("access_days")) aria-describedby="access_days-hint";
                p id="access_days-hint" class="hint" { (ctx.t(M::AccessDaysHint)) }
            }
            (layout::checklist(ctx, ctx.t(M::Products), "product_ids", &product_opts, &values.all("product_ids"), None))
            (layout::checklist(ctx, ctx.t(M::Categories), "category_ids", &category_opts, &values.all("category_ids"), None))
            div class="buttons" {
                button type="submit" { (ctx.t(M::Save)) }
                a class="button secondary" href=(TAB) { (ctx.t(M::Cancel)) }
            }
        }
    })
}

fn access_days(form: &Form) -> Result<Option<u32>, ApiError> {
    form.get("access_days")
        .map(|d| {
            d.parse::<u32>()
                .map_err(|_| ApiError::Validation("access_days: a whole number of days".into()))
        })
        .transpose()
}

fn gateway(form: &Form) -> Result<GatewayKind, ApiError> {
    let raw = form.raw("gateway");
    GatewayKind::parse(raw).ok_or_else(|| ApiError::Validation(format!("gateway: unknown {raw:?}")))
}

async fn new(State(state): State<AppState>, ctx: Ctx) -> Result<Response, UiError> {
    let body = form(&state, &ctx, TAB, &Form::default(), None).await?;
    Ok(layout::page(
        &ctx,
        TAB,
        ctx.t(M::NewInboundUrl).trim_start_matches("+ "),
        body,
    ))
}

async fn create(State(state): State<AppState>, ctx: Ctx, f: Form) -> Result<Response, UiError> {
    let result = async {
        let new = NewInboundUrl {
            name: f.raw("name").to_string(),
            gateway: gateway(&f)?,
            slug: f.get("slug"),
            access_days: access_days(&f)?,
            product_ids: product_ids(&f, "product_ids")?,
            category_ids: category_ids(&f, "category_ids")?,
            is_enabled: true,
            allowed_sources: Vec::new(),
        };
        url::create_inbound_url(state.store.as_ref(), &ctx.ws, new, state.clock.now())
            .await
            .map_err(ApiError::from)
    }
    .await;
    Ok(match result {
        Ok(_) => redirect_with(TAB, Flash::Ok(M::FlashCreated)),
        Err(e) => {
            let body = form(&state, &ctx, TAB, &f, Some(&error_text(ctx.lang, &e))).await?;
            let title = ctx.t(M::NewInboundUrl).trim_start_matches("+ ");
            layout::page_with_status(&ctx, e.status(), TAB, title, body)
        }
    })
}

fn values_of(u: &InboundUrl) -> Form {
    let mut v = vec![
        ("name".to_string(), u.name.clone()),
        ("gateway".to_string(), u.gateway.as_str().to_string()),
        ("slug".to_string(), u.slug.clone()),
        (
            "access_days".to_string(),
            u.access_days.map(|d| d.to_string()).unwrap_or_default(),
        ),
    ];
    v.extend(
        u.product_ids
            .iter()
            .map(|p| ("product_ids".to_string(), p.to_string())),
    );
    v.extend(
        u.category_ids
            .iter()
            .map(|c| ("category_ids".to_string(), c.to_string())),
    );
    Form(v)
}

async fn edit(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> Result<Response, UiError> {
    let u = url::get_inbound_url(state.store.as_ref(), &ctx.ws, &parse_id(&id)?).await?;
    let action = format!("/ui/entrada/{}", u.id);
    let body = form(&state, &ctx, &action, &values_of(&u), None).await?;
    Ok(layout::page(&ctx, TAB, ctx.t(M::EditInboundUrl), body))
}

async fn update(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    f: Form,
) -> Result<Response, UiError> {
    let id = parse_id(&id)?;
    let result = async {
        let patch = InboundUrlPatch {
            name: Some(f.raw("name").to_string()),
            gateway: Some(gateway(&f)?),
            slug: f.get("slug"),
            access_days: Some(access_days(&f)?),
            product_ids: Some(product_ids(&f, "product_ids")?),
            category_ids: Some(category_ids(&f, "category_ids")?),
            is_enabled: None,
            allowed_sources: None,
        };
        url::update_inbound_url(state.store.as_ref(), &ctx.ws, &id, patch)
            .await
            .map_err(ApiError::from)
    }
    .await;
    Ok(match result {
        Ok(_) => redirect_with(TAB, Flash::Ok(M::FlashSaved)),
        Err(e @ ApiError::NotFound(_)) => return Err(e.into()),
        Err(e) => {
            let action = format!("/ui/entrada/{id}");
            let body = form(&state, &ctx, &action, &f, Some(&error_text(ctx.lang, &e))).await?;
            layout::page_with_status(&ctx, e.status(), TAB, ctx.t(M::EditInboundUrl), body)
        }
    })
}

async fn toggle(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    _f: Form,
) -> Result<Response, UiError> {
    let id = parse_id(&id)?;
    let u = url::get_inbound_url(state.store.as_ref(), &ctx.ws, &id).await?;
    let patch = InboundUrlPatch {
        is_enabled: Some(!u.is_enabled),
        ..Default::default()
    };
    url::update_inbound_url(state.store.as_ref(), &ctx.ws, &id, patch).await?;
    Ok(redirect_with(TAB, Flash::Ok(M::FlashSaved)))
}

async fn confirm(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> Result<Response, UiError> {
    let u = url::get_inbound_url(state.store.as_ref(), &ctx.ws, &parse_id(&id)?).await?;
    let to = format!("/ui/entrada/{}/excluir", u.id);
    Ok(layout::confirm_delete(&ctx, TAB, &u.name, &to, TAB))
}

async fn delete(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    _f: Form,
) -> Result<Response, UiError> {
    url::delete_inbound_url(state.store.as_ref(), &ctx.ws, &parse_id(&id)?).await?;
    Ok(redirect_with(TAB, Flash::Ok(M::FlashDeleted)))
}
