//! Produtos and Categorias: what inbound URLs grant.

use axum::extract::{Path, Query, State};
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use maud::{html, Markup};

use super::{all_products, list_page, options, split_page};
use crate::app::AppState;
use crate::catalog::{category, product};
use crate::error::ApiError;
use crate::ids::{CategoryId, ProductId};
use crate::model::{ExternalId, GatewayKind};
use crate::ui::i18n::M;
use crate::ui::layout::{self, csrf, field};
use crate::ui::{error_text, redirect_with, Ctx, Flash, Form, UiError};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/ui/produtos", get(products).post(create_product))
        .route("/ui/produtos/new", get(new_product))
        .route("/ui/produtos/{id}", get(edit_product).post(update_product))
        .route(
            "/ui/produtos/{id}/excluir",
            get(confirm_product).post(delete_product),
        )
        .route("/ui/categorias", get(categories).post(create_category))
        .route("/ui/categorias/new", get(new_category))
        .route(
            "/ui/categorias/{id}",
            get(edit_category).post(update_category),
        )
        .route(
            "/ui/categorias/{id}/excluir",
            get(confirm_category).post(delete_category),
        )
}

const PRODUCTS: &str = "/ui/produtos";
const CATEGORIES: &str = "/ui/categorias";

#[derive(Debug, serde::Deserialize)]
pub struct Cursor {
    pub cursor: Option<String>,
}

fn product_id(raw: &str) -> Result<ProductId, UiError> {
    ProductId::parse(raw).ok_or_else(|| ApiError::NotFound("product not found".into()).into())
}

fn category_id(raw: &str) -> Result<CategoryId, UiError> {
    CategoryId::parse(raw).ok_or_else(|| ApiError::NotFound("category not found".into()).into())
}

async fn products(
    State(state): State<AppState>,
    ctx: Ctx,
    Query(q): Query<Cursor>,
) -> Result<Response, UiError> {
    let rows = state
        .store
        .list_products(&ctx.ws, &list_page(q.cursor))
        .await?;
    let (rows, next) = split_page(rows, |p| p.id.to_string());
    let body = html! {
        (layout::listing(&ctx, "/ui/produtos/new", M::NewProduct, M::ProductsEmpty, rows.is_empty(), next, html! {
                table class="list" {
                    thead { tr { th scope="col" { (ctx.t(M::Name)) } th scope="col" { (ctx.t(M::ExternalIds)) } th scope="col" { (ctx.t(M::Actions)) } } }
                    tbody {
                        @for p in &rows {
                            tr data-id=(p.id) {
                                td { (p.name) }
                                td { @for e in &p.external_ids { span class="tag" { (e.gateway) ": " (e.id) } " " } }
                                td class="row-actions" {
                                    (layout::row_actions(&ctx, &format!("/ui/produtos/{}", p.id), "", None))
                                }
                            }
                        }
                    }
                }
        }))
    };
    Ok(layout::page(&ctx, PRODUCTS, ctx.t(M::ProductsTitle), body))
}

/// The product form, filled from `values` (what was typed, or the product).
fn product_form(ctx: &Ctx, action: &str, values: &Form, error: Option<&str>) -> Markup {
    let mut rows: Vec<(Option<GatewayKind>, String)> = values
        .pairs("gateway", "external_id")
        .into_iter()
        .map(|(g, i)| (GatewayKind::parse(&g), i))
        .collect();
    rows.push((None, String::new()));
    html! {
        @if let Some(e) = error { p class="flash error" role="alert" { (e) } }
        form class="entity" method="post" action=(action) {
            (csrf(ctx))
            (field("name", ctx.t(M::Name), "name", values.raw("name"), None, true))
            fieldset class="rows" {
                legend { (ctx.t(M::ExternalIds)) }
                p class="hint" { (ctx.t(M::ExternalIdsHint)) }
                @for (i, (gateway, id)) in rows.iter().enumerate() {
                    div class="row" {
                        div class="field" {
                            label for={"gateway-" (i)} { (ctx.t(M::Gateway)) }
                            select id={"gateway-" (i)} name="gateway" {
                                @for g in GatewayKind::ALL {
                                    option value=(g.as_str()) selected[*gateway == Some(g)] { (crate::inbound::gateways::adapter(g).setup().name) }
                                }
                            }
                        }
                        div class="field" {
                            label for={"external-id-" (i)} { (ctx.t(M::ExternalId)) }
                            input id={"external-id-" (i)} type="text" name="external_id" value=(id);
                        }
                    }
                }
            }
            div class="buttons" {
                button type="submit" { (ctx.t(M::Save)) }
                a class="button secondary" href=(PRODUCTS) { (ctx.t(M::Cancel)) }
            }
        }
    }
}

/// `gateway` / `external_id` pairs of the form; rows with no id are skipped.
fn external_ids(form: &Form) -> Result<Vec<ExternalId>, ApiError> {
    let mut out = Vec::new();
    for (g, id) in form.pairs("gateway", "external_id") {
        let id = id.trim();
        if id.is_empty() {
            continue;
        }
        let gateway = GatewayKind::parse(&g)
            .ok_or_else(|| ApiError::Validation(format!("gateway: unknown {g:?}")))?;
        out.push(ExternalId {
            gateway,
            id: id.to_string(),
        });
    }
    Ok(out)
}

fn product_values(p: &crate::model::Product) -> Form {
    let mut v = vec![("name".to_string(), p.name.clone())];
    for e in &p.external_ids {
        v.push(("gateway".into(), e.gateway.as_str().into()));
        v.push(("external_id".into(), e.id.clone()));
    }
    Form(v)
}

async fn new_product(ctx: Ctx) -> Response {
    layout::page(
        &ctx,
        PRODUCTS,
        ctx.t(M::NewProduct).trim_start_matches("+ "),
        product_form(&ctx, PRODUCTS, &Form::default(), None),
    )
}

async fn create_product(State(state): State<AppState>, ctx: Ctx, form: Form) -> Response {
    let result = async {
        let ids = external_ids(&form)?;
        product::create_product(
            state.store.as_ref(),
            &ctx.ws,
            form.raw("name"),
            ids,
            state.clock.now(),
        )
        .await
        .map_err(ApiError::from)
    }
    .await;
    match result {
        Ok(_) => redirect_with(PRODUCTS, Flash::Ok(M::FlashCreated)),
        Err(e) => layout::page_with_status(
            &ctx,
            e.status(),
            PRODUCTS,
            ctx.t(M::NewProduct).trim_start_matches("+ "),
            product_form(&ctx, PRODUCTS, &form, Some(&error_text(ctx.lang, &e))),
        ),
    }
}

async fn edit_product(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> Result<Response, UiError> {
    let p = product::get_product(state.store.as_ref(), &ctx.ws, &product_id(&id)?).await?;
    let action = format!("/ui/produtos/{}", p.id);
    Ok(layout::page(
        &ctx,
        PRODUCTS,
        ctx.t(M::EditProduct),
        product_form(&ctx, &action, &product_values(&p), None),
    ))
}

async fn update_product(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    form: Form,
) -> Result<Response, UiError> {
    let id = product_id(&id)?;
    let result = async {
        let ids = external_ids(&form)?;
        product::update_product(
            state.store.as_ref(),
            &ctx.ws,
            &id,
            Some(form.raw("name")),
            Some(ids),
        )
        .await
        .map_err(ApiError::from)
    }
    .await;
    Ok(match result {
        Ok(_) => redirect_with(PRODUCTS, Flash::Ok(M::FlashSaved)),
        Err(e @ ApiError::NotFound(_)) => return Err(e.into()),
        Err(e) => layout::page_with_status(
            &ctx,
            e.status(),
            PRODUCTS,
            ctx.t(M::EditProduct),
            product_form(
                &ctx,
                &format!("/ui/produtos/{id}"),
                &form,
                Some(&error_text(ctx.lang, &e)),
            ),
        ),
    })
}

async fn confirm_product(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> Result<Response, UiError> {
    let p = product::get_product(state.store.as_ref(), &ctx.ws, &product_id(&id)?).await?;
    let to = format!("/ui/produtos/{}/excluir", p.id);
    Ok(layout::confirm_delete(
        &ctx, PRODUCTS, &p.name, &to, PRODUCTS,
    ))
}

async fn delete_product(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    _form: Form,
) -> Result<Response, UiError> {
    product::delete_product(state.store.as_ref(), &ctx.ws, &product_id(&id)?).await?;
    Ok(redirect_with(PRODUCTS, Flash::Ok(M::FlashDeleted)))
}

async fn categories(
    State(state): State<AppState>,
    ctx: Ctx,
    Query(q): Query<Cursor>,
) -> Result<Response, UiError> {
    let rows = state
        .store
        .list_categories(&ctx.ws, &list_page(q.cursor))
        .await?;
    let (rows, next) = split_page(rows, |c| c.id.to_string());
    let names = all_products(&state, &ctx.ws).await?;
    let name_of = |id: &ProductId| {
        names
            .iter()
            .find(|p| &p.id == id)
            .map_or_else(|| id.to_string(), |p| p.name.clone())
    };
    let body = html! {
        (layout::listing(&ctx, "/ui/categorias/new", M::NewCategory, M::CategoriesEmpty, rows.is_empty(), next, html! {
                table class="list" {
                    thead { tr { th scope="col" { (ctx.t(M::Name)) } th scope="col" { (ctx.t(M::Products)) } th scope="col" { (ctx.t(M::Actions)) } } }
                    tbody {
                        @for c in &rows {
                            tr data-id=(c.id) {
                                td { (c.name) }
                                td { @for p in &c.product_ids { span class="tag" { (name_of(p)) } " " } }
                                td class="row-actions" {
                                    (layout::row_actions(&ctx, &format!("/ui/categorias/{}", c.id), "", None))
                                }
                            }
                        }
                    }
                }
        }))
    };
    Ok(layout::page(
        &ctx,
        CATEGORIES,
        ctx.t(M::CategoriesTitle),
        body,
    ))
}

async fn category_form(
    state: &AppState,
    ctx: &Ctx,
    action: &str,
    values: &Form,
    error: Option<&str>,
) -> Result<Markup, UiError> {
    let products = all_products(state, &ctx.ws).await?;
    let opts = options(&products, |p| (p.id.to_string(), p.name.clone()));
    Ok(html! {
        @if let Some(e) = error { p class="flash error" role="alert" { (e) } }
        form class="entity" method="post" action=(action) {
            (csrf(ctx))
            (field("name", ctx.t(M::Name), "name", values.raw("name"), None, true))
            (layout::checklist(ctx, ctx.t(M::CategoryProducts), "product_ids", &opts, &values.all("product_ids"), None))
            div class="buttons" {
                button type="submit" { (ctx.t(M::Save)) }
                a class="button secondary" href=(CATEGORIES) { (ctx.t(M::Cancel)) }
            }
        }
    })
}

/// Product ids of a form field; an unknown one is a validation error.
pub fn product_ids(form: &Form, name: &str) -> Result<Vec<ProductId>, ApiError> {
    form.all(name)
        .iter()
        .map(|raw| {
            ProductId::parse(raw)
                .ok_or_else(|| ApiError::Validation(format!("{name}: unknown product {raw:?}")))
        })
        .collect()
}

/// Category ids of a form field.
pub fn category_ids(form: &Form, name: &str) -> Result<Vec<CategoryId>, ApiError> {
    form.all(name)
        .iter()
        .map(|raw| {
            CategoryId::parse(raw)
                .ok_or_else(|| ApiError::Validation(format!("{name}: unknown category {raw:?}")))
        })
        .collect()
}

async fn new_category(State(state): State<AppState>, ctx: Ctx) -> Result<Response, UiError> {
    let form = category_form(&state, &ctx, CATEGORIES, &Form::default(), None).await?;
    Ok(layout::page(
        &ctx,
        CATEGORIES,
        ctx.t(M::NewCategory).trim_start_matches("+ "),
        form,
    ))
}

async fn create_category(
    State(state): State<AppState>,
    ctx: Ctx,
    form: Form,
) -> Result<Response, UiError> {
    let result = async {
        let ids = product_ids(&form, "product_ids")?;
        category::create_category(
            state.store.as_ref(),
            &ctx.ws,
            form.raw("name"),
            ids,
            state.clock.now(),
        )
        .await
        .map_err(ApiError::from)
    }
    .await;
    Ok(match result {
        Ok(_) => redirect_with(CATEGORIES, Flash::Ok(M::FlashCreated)),
        Err(e) => {
            let body = category_form(
                &state,
                &ctx,
                CATEGORIES,
                &form,
                Some(&error_text(ctx.lang, &e)),
            )
            .await?;
            let title = ctx.t(M::NewCategory).trim_start_matches("+ ");
            layout::page_with_status(&ctx, e.status(), CATEGORIES, title, body)
        }
    })
}

async fn edit_category(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> Result<Response, UiError> {
    let c = category::get_category(state.store.as_ref(), &ctx.ws, &category_id(&id)?).await?;
    let mut values = vec![("name".to_string(), c.name.clone())];
    values.extend(
        c.product_ids
            .iter()
            .map(|p| ("product_ids".to_string(), p.to_string())),
    );
    let action = format!("/ui/categorias/{}", c.id);
    let body = category_form(&state, &ctx, &action, &Form(values), None).await?;
    Ok(layout::page(&ctx, CATEGORIES, ctx.t(M::EditCategory), body))
}

async fn update_category(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    form: Form,
) -> Result<Response, UiError> {
    let id = category_id(&id)?;
    let result = async {
        let ids = product_ids(&form, "product_ids")?;
        category::update_category(
            state.store.as_ref(),
            &ctx.ws,
            &id,
            Some(form.raw("name")),
            Some(ids),
        )
        .await
        .map_err(ApiError::from)
    }
    .await;
    Ok(match result {
        Ok(_) => redirect_with(CATEGORIES, Flash::Ok(M::FlashSaved)),
        Err(e @ ApiError::NotFound(_)) => return Err(e.into()),
        Err(e) => {
            let action = format!("/ui/categorias/{id}");
            let body = category_form(
                &state,
                &ctx,
                &action,
                &form,
                Some(&error_text(ctx.lang, &e)),
            )
            .await?;
            layout::page_with_status(&ctx, e.status(), CATEGORIES, ctx.t(M::EditCategory), body)
        }
    })
}

async fn confirm_category(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> Result<Response, UiError> {
    let c = category::get_category(state.store.as_ref(), &ctx.ws, &category_id(&id)?).await?;
    let to = format!("/ui/categorias/{}/excluir", c.id);
    Ok(layout::confirm_delete(
        &ctx, CATEGORIES, &c.name, &to, CATEGORIES,
    ))
}

async fn delete_category(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    _form: Form,
) -> Result<Response, UiError> {
    category::delete_category(state.store.as_ref(), &ctx.ws, &category_id(&id)?).await?;
    Ok(redirect_with(CATEGORIES, Flash::Ok(M::FlashDeleted)))
}
