//! Chaves: the global inbound URL, the gateway keys (secrets masked until
//! revealed), and where to paste URL and token in each gateway's panel.

use axum::extract::{Path, Query, State};
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use maud::{html, Markup};

use super::catalog::Cursor;
use super::{list_page, split_page};
use crate::app::AppState;
use crate::error::ApiError;
use crate::ids::KeyId;
use crate::inbound::gateways;
use crate::keys::{self, NewKey};
use crate::model::GatewayKind;
use crate::ui::i18n::M;
use crate::ui::layout::{self, csrf, field};
use crate::ui::{error_text, redirect_with, Ctx, Flash, Form, UiError};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/ui/chaves", get(list).post(create))
        .route("/ui/chaves/new", get(new))
        .route("/ui/chaves/{id}/excluir", get(confirm).post(delete))
}

const TAB: &str = "/ui/chaves";

fn parse_id(raw: &str) -> Result<KeyId, UiError> {
    KeyId::parse(raw).ok_or_else(|| ApiError::NotFound("key not found".into()).into())
}

async fn list(
    State(state): State<AppState>,
    ctx: Ctx,
    Query(q): Query<Cursor>,
) -> Result<Response, UiError> {
    let workspace = state.store.get_workspace(&ctx.ws).await?;
    let global = crate::inbound::url::global_url(&state.config.public_url, &workspace.public_id);
    let rows = state.store.list_keys(&ctx.ws, &list_page(q.cursor)).await?;
    let (rows, next) = split_page(rows, |k| k.id.to_string());
    let mut secrets = Vec::with_capacity(rows.len());
    for k in &rows {
        let plain = state.sealer.open(&k.secret).map_err(ApiError::from)?;
        secrets.push((keys::mask(&plain), plain));
    }
    let body = html! {
        p class="intro" { (ctx.t(M::ChavesIntro)) }
        section class="card global" aria-labelledby="global-title" {
            h2 id="global-title" { (ctx.t(M::GlobalUrl)) }
            p class="hint" { (ctx.t(M::GlobalUrlHint)) }
            (layout::copyable_url(&ctx, &global))
        }
        (layout::listing(&ctx, "/ui/chaves/new", M::NewKey, M::KeysEmpty, rows.is_empty(), next, html! {
                table class="list" {
                    thead { tr {
                        th scope="col" { (ctx.t(M::Gateway)) }
                        th scope="col" { (ctx.t(M::Name)) }
                        th scope="col" { (ctx.t(M::Secret)) }
                        th scope="col" { (ctx.t(M::CreatedAt)) }
                        th scope="col" { (ctx.t(M::Actions)) }
                    } }
                    tbody {
                        @for (k, (masked, plain)) in rows.iter().zip(&secrets) {
                            tr data-id=(k.id) {
                                td { (gateways::adapter(k.gateway).setup().name) }
                                td { (k.name) }
                                td { (layout::secret(&ctx, masked, plain)) }
                                td { (ctx.lang.datetime(k.created_at, ctx.tz)) }
                                td class="row-actions" {
                                    a class="delete" href={"/ui/chaves/" (k.id) "/excluir"} { (ctx.t(M::Delete)) }
                                }
                            }
                        }
                    }
                }
        }))
        (instructions(&ctx))
    };
    Ok(layout::page(&ctx, TAB, ctx.t(M::ChavesTitle), body))
}

/// For each gateway: where to paste the URL and the token (pt-BR facts
/// kept by each adapter's `setup`).
fn instructions(ctx: &Ctx) -> Markup {
    html! {
        section class="instructions" aria-labelledby="where-title" {
            h2 id="where-title" { (ctx.t(M::WhereToPaste)) }
            @for g in GatewayKind::ALL {
                @let s = gateways::adapter(g).setup();
                details {
                    summary { (s.name) }
                    p lang="pt-BR" { (s.where_to_paste) }
                }
            }
        }
    }
}

fn form(ctx: &Ctx, values: &Form, error: Option<&str>) -> Markup {
    let gateway = values.get("gateway").and_then(|g| GatewayKind::parse(&g));
    html! {
        @if let Some(e) = error { p class="flash error" role="alert" { (e) } }
        form class="entity" method="post" action=(TAB) {
            (csrf(ctx))
            (layout::gateway_select(ctx, "gateway", gateway))
            (field("name", ctx.t(M::Name), "name", values.raw("name"), None, false))
            div class="field" {
                label for="secret" { (ctx.t(M::Secret)) }
                div class="inline" {
                    input id="secret" type="text" name="secret" value=(values.raw("secret")) autocomplete="off" spellcheck="false" aria-describedby="secret-hint";
                    button type="button" class="generate" data-target="secret" { (ctx.t(M::Generate)) }
                }
                p id="secret-hint" class="hint" { (ctx.t(M::SecretHint)) }
            }
            (field("api_key", ctx.t(M::ApiKey), "api_key", values.raw("api_key"), Some(ctx.t(M::ApiKeyHint)), false))
            p class="hint" { (ctx.t(M::KeyCreatedOnce)) }
            div class="buttons" {
                button type="submit" { (ctx.t(M::Save)) }
                a class="button secondary" href=(TAB) { (ctx.t(M::Cancel)) }
            }
        }
        (instructions(ctx))
    }
}

async fn new(ctx: Ctx) -> Response {
    layout::page(
        &ctx,
        TAB,
        ctx.t(M::NewKey).trim_start_matches("+ "),
        form(&ctx, &Form::default(), None),
    )
}

async fn create(State(state): State<AppState>, ctx: Ctx, f: Form) -> Response {
    let result = async {
        let raw = f.raw("gateway");
        let gateway = GatewayKind::parse(raw)
            .ok_or_else(|| ApiError::Validation(format!("gateway: unknown {raw:?}")))?;
        let new = NewKey {
            gateway,
            name: f.get("name"),
            secret: f.get("secret"),
            api_key: f.get("api_key"),
        };
        keys::create_key(
            state.store.as_ref(),
            &state.sealer,
            &ctx.ws,
            new,
            state.clock.now(),
        )
        .await
        .map_err(ApiError::from)
    }
    .await;
    match result {
        Ok(_) => redirect_with(TAB, Flash::Ok(M::FlashCreated)),
        Err(e) => layout::page_with_status(
            &ctx,
            e.status(),
            TAB,
            ctx.t(M::NewKey).trim_start_matches("+ "),
            form(&ctx, &f, Some(&error_text(ctx.lang, &e))),
        ),
    }
}

async fn confirm(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> Result<Response, UiError> {
    let id = parse_id(&id)?;
    let key = state
        .store
        .all_keys(&ctx.ws)
        .await?
        .into_iter()
        .find(|k| k.id == id)
        .ok_or_else(|| ApiError::NotFound("key not found".into()))?;
    let to = format!("/ui/chaves/{}/excluir", key.id);
    let what = format!("{} ({})", key.name, key.gateway);
    Ok(layout::confirm_delete(&ctx, TAB, &what, &to, TAB))
}

async fn delete(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    _f: Form,
) -> Result<Response, UiError> {
    state
        .store
        .delete_key(&ctx.ws, &parse_id(&id)?)
        .await
        .map_err(|e| match e {
            crate::storage::StoreError::NotFound => ApiError::NotFound("key not found".into()),
            e => e.into(),
        })?;
    Ok(redirect_with(TAB, Flash::Ok(M::FlashDeleted)))
}
