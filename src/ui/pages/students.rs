//! Alunos: search by e-mail, a student's current access with the
//! transaction it came from, and manual grant and revoke.

use axum::extract::{Path, Query, State};
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use maud::html;

use super::{all_categories, all_products, list_page, split_page};
use crate::app::AppState;
use crate::catalog::student;
use crate::error::ApiError;
use crate::ids::{CategoryId, GrantId, ProductId, StudentId};
use crate::model::{GrantSource, GrantTarget};
use crate::ui::i18n::M;
use crate::ui::layout::{self, csrf};
use crate::ui::{redirect_with, Ctx, Flash, Form, UiError};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/ui/alunos", get(list))
        .route("/ui/alunos/{id}", get(detail))
        .route("/ui/alunos/{id}/acessos", post(grant))
        .route("/ui/alunos/{id}/acessos/{grant}/revogar", post(revoke))
}

const TAB: &str = "/ui/alunos";

#[derive(Debug, serde::Deserialize)]
pub struct Search {
    pub email: Option<String>,
    pub cursor: Option<String>,
}

fn parse_id(raw: &str) -> Result<StudentId, UiError> {
    StudentId::parse(raw).ok_or_else(|| ApiError::NotFound("student not found".into()).into())
}

async fn list(
    State(state): State<AppState>,
    ctx: Ctx,
    Query(q): Query<Search>,
) -> Result<Response, UiError> {
    let email = q.email.clone().filter(|e| !e.trim().is_empty());
    let (rows, next, missing) = match &email {
        Some(e) => match student::find_by_email(state.store.as_ref(), &ctx.ws, e).await {
            Ok(Some(s)) => (vec![s], None, false),
            Ok(None) => (Vec::new(), None, true),
            Err(crate::catalog::CatalogError::Invalid(_)) => (Vec::new(), None, true),
            Err(e) => return Err(e.into()),
        },
        None => {
            let rows = state
                .store
                .list_students(&ctx.ws, &list_page(q.cursor.clone()))
                .await?;
            let (rows, next) = split_page(rows, |s| s.id.to_string());
            (rows, next, false)
        }
    };
    let body = html! {
        p class="intro" { (ctx.t(M::StudentsIntro)) }
        form class="search" method="get" action=(TAB) role="search" {
            div class="field" {
                label for="email" { (ctx.t(M::Email)) }
                div class="inline" {
                    input id="email" type="search" name="email" value=(email.as_deref().unwrap_or("")) autocomplete="off";
                    button type="submit" { (ctx.t(M::Search)) }
                }
            }
        }
        @if missing { p class="empty" { (ctx.t(M::StudentNotFound)) } }
        @else if rows.is_empty() { p class="empty" { (ctx.t(M::StudentsEmpty)) } }
        @else {
            div class="table-wrap" {
                table class="list" {
                    thead { tr {
                        th scope="col" { (ctx.t(M::Email)) }
                        th scope="col" { (ctx.t(M::Name)) }
                        th scope="col" { (ctx.t(M::Status)) }
                        th scope="col" { (ctx.t(M::CreatedAt)) }
                    } }
                    tbody {
                        @for s in &rows {
                            tr data-id=(s.id) {
                                td { a class="detail" href={"/ui/alunos/" (s.id)} { (s.email) } }
                                td { (s.name.as_deref().unwrap_or("—")) }
                                td { (s.status.as_str()) }
                                td { (ctx.lang.datetime(s.created_at, ctx.tz)) }
                            }
                        }
                    }
                }
            }
            (layout::next_link(&ctx, "?cursor=", next))
        }
    };
    Ok(layout::page(&ctx, TAB, ctx.t(M::StudentsTitle), body))
}

async fn detail(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> Result<Response, UiError> {
    let store = state.store.as_ref();
    let s = student::get_student(store, &ctx.ws, &parse_id(&id)?).await?;
    let access = student::current_access(store, &ctx.ws, &s.id, state.clock.now()).await?;
    let products = all_products(&state, &ctx.ws).await?;
    let categories = all_categories(&state, &ctx.ws).await?;
    let product_name = |id: &ProductId| {
        products
            .iter()
            .find(|p| &p.id == id)
            .map_or_else(|| id.to_string(), |p| p.name.clone())
    };
    let category_name = |id: &CategoryId| {
        categories
            .iter()
            .find(|c| &c.id == id)
            .map_or_else(|| id.to_string(), |c| c.name.clone())
    };
    let base = format!("/ui/alunos/{}", s.id);
    let body = html! {
        section class="card" {
            dl class="facts" {
                dt { (ctx.t(M::Email)) } dd { (s.email) }
                dt { (ctx.t(M::Name)) } dd { (s.name.as_deref().unwrap_or("—")) }
                dt { (ctx.t(M::Status)) } dd { (s.status.as_str()) }
            }
        }
        section aria-labelledby="access-title" {
            h2 id="access-title" { (ctx.t(M::Access)) }
            @if access.is_empty() { p class="empty" { (ctx.t(M::AccessEmpty)) } }
            @else {
                div class="table-wrap" {
                    table class="list access" {
                        thead { tr {
                            th scope="col" { (ctx.t(M::Product)) " / " (ctx.t(M::Category)) }
                            th scope="col" { (ctx.t(M::Source)) }
                            th scope="col" { (ctx.t(M::Until)) }
                            th scope="col" { (ctx.t(M::Actions)) }
                        } }
                        tbody {
                            @for a in &access {
                                tr data-id=(a.grant.id) {
                                    td {
                                        @match &a.grant.target {
                                            GrantTarget::Product(p) => (product_name(p)),
                                            GrantTarget::Category(c) => {
                                                (category_name(c)) " "
                                                span class="muted" { "(" (a.product_ids.iter().map(&product_name).collect::<Vec<_>>().join(", ")) ")" }
                                            },
                                        }
                                    }
                                    td {
                                        @match &a.grant.source {
                                            GrantSource::Gateway { gateway, transaction_id, .. } => {
                                                (gateway) " · " code { (transaction_id) }
                                            },
                                            GrantSource::Manual => "manual",
                                        }
                                    }
                                    td { (a.grant.expires_at.map(|e| ctx.lang.datetime(e, ctx.tz)).unwrap_or_else(|| ctx.t(M::Forever).to_string())) }
                                    td { (layout::action(&ctx, "revoke", &format!("{base}/acessos/{}/revogar", a.grant.id), ctx.t(M::Revoke))) }
                                }
                            }
                        }
                    }
                }
            }
        }
        section aria-labelledby="grant-title" {
            h2 id="grant-title" { (ctx.t(M::GrantAccess)) }
            form class="grant" method="post" action={(base) "/acessos"} {
                (csrf(&ctx))
                div class="field" {
                    label for="target" { (ctx.t(M::Product)) " / " (ctx.t(M::Category)) }
                    select id="target" name="target" required {
                        @for p in &products { option value={"product:" (p.id)} { (ctx.t(M::Product)) ": " (p.name) } }
                        @for c in &categories { option value={"category:" (c.id)} { (ctx.t(M::Category)) ": " (c.name) } }
                    }
                }
                div class="field" {
                    label for="days" { (ctx.t(M::AccessDays)) }
                    input id="days" type="number" min="1" name="days" aria-describedby="days-hint";
                    p id="days-hint" class="hint" { (ctx.t(M::AccessDaysHint)) }
                }
                div class="buttons" { button type="submit" { (ctx.t(M::GrantAccess)) } }
            }
        }
    };
    Ok(layout::page(&ctx, TAB, &s.email, body))
}

async fn grant(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    f: Form,
) -> Result<Response, UiError> {
    let id = parse_id(&id)?;
    let back = format!("/ui/alunos/{id}");
    let raw = f.raw("target");
    let target = match raw.split_once(':') {
        Some(("product", p)) => ProductId::parse(p).map(GrantTarget::Product),
        Some(("category", c)) => CategoryId::parse(c).map(GrantTarget::Category),
        _ => None,
    };
    let Some(target) = target else {
        return Ok(redirect_with(
            &back,
            Flash::Error(format!("{} target", ctx.t(M::ErrorPrefix))),
        ));
    };
    let now = state.clock.now();
    let expires_at = match f.get("days").map(|d| d.parse::<i64>()) {
        None => None,
        Some(Ok(d)) if d > 0 => Some(now + chrono::Duration::days(d)),
        Some(_) => {
            return Ok(redirect_with(
                &back,
                Flash::Error(format!(
                    "{} {}",
                    ctx.t(M::ErrorPrefix),
                    ctx.t(M::AccessDays)
                )),
            ))
        }
    };
    let result = student::grant_manually(
        state.store.as_ref(),
        &state.outbox,
        &ctx.ws,
        &id,
        target,
        expires_at,
        now,
    )
    .await;
    Ok(match result {
        Ok(_) => redirect_with(&back, Flash::Ok(M::FlashSaved)),
        Err(e) => {
            let e = ApiError::from(e);
            if matches!(e, ApiError::NotFound(_)) {
                return Err(e.into());
            }
            redirect_with(&back, Flash::Error(crate::ui::error_text(ctx.lang, &e)))
        }
    })
}

async fn revoke(
    State(state): State<AppState>,
    ctx: Ctx,
    Path((id, grant)): Path<(String, String)>,
    _f: Form,
) -> Result<Response, UiError> {
    let id = parse_id(&id)?;
    let grant =
        GrantId::parse(&grant).ok_or_else(|| ApiError::NotFound("grant not found".into()))?;
    student::revoke_manually(
        state.store.as_ref(),
        &state.outbox,
        &ctx.ws,
        &id,
        &grant,
        state.clock.now(),
    )
    .await?;
    Ok(redirect_with(
        &format!("/ui/alunos/{id}"),
        Flash::Ok(M::FlashSaved),
    ))
}
