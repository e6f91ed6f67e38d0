//! The page shell (head, tabs, language links, logout, flash message) and
//! the small pieces every tab uses: copy buttons, masked secrets, status
//! badges, labelled fields, the delete confirmation page.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use maud::{html, Markup, DOCTYPE};

use super::i18n::{Lang, M};
use super::{html as to_html, Ctx, Flash};

/// The tabs, in order: path, label.
pub const TABS: [(&str, M); 7] = [
    ("/ui/entrada", M::TabEntrada),
    ("/ui/saida", M::TabSaida),
    ("/ui/chaves", M::TabChaves),
    ("/ui/logs", M::TabLogs),
    ("/ui/produtos", M::TabProducts),
    ("/ui/categorias", M::TabCategories),
    ("/ui/alunos", M::TabStudents),
];

/// A whole document around `body` (no tabs: the login and error pages).
pub fn bare(lang: Lang, title: &str, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang=(lang.code()) {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · gancho" }
                link rel="stylesheet" href="/ui/static/app.css";
                script src="/ui/static/app.js" defer {}
            }
            body {
                a class="skip" href="#main" { (lang.t(M::SkipToContent)) }
                (body)
            }
        }
    }
}

/// `Português · English`, linking to `path` in the other language.
pub fn lang_links(lang: Lang, path: &str) -> Markup {
    html! {
        nav class="lang" aria-label=(lang.t(M::Language)) {
            a class="lang-pt" href={(path) "?lang=pt-BR"} lang="pt-BR" aria-current=[(lang == Lang::Pt).then_some("true")] { "Português" }
            " · "
            a class="lang-en" href={(path) "?lang=en"} lang="en" aria-current=[(lang == Lang::En).then_some("true")] { "English" }
        }
    }
}

/// A signed-in page: tabs with `tab` current, the flash message, `body`.
pub fn page(ctx: &Ctx, tab: &str, title: &str, body: Markup) -> Response {
    page_with_status(ctx, StatusCode::OK, tab, title, body)
}

pub fn page_with_status(
    ctx: &Ctx,
    status: StatusCode,
    tab: &str,
    title: &str,
    body: Markup,
) -> Response {
    let markup = bare(
        ctx.lang,
        title,
        html! {
            header class="top" {
                span class="brand" { "gancho" }
                span class="tagline" { (ctx.t(M::AppTagline)) }
                (lang_links(ctx.lang, &ctx.path))
                form class="logout" method="post" action="/ui/logout" {
                    input type="hidden" name="_csrf" value=(ctx.csrf);
                    button type="submit" { (ctx.t(M::Logout)) }
                }
            }
            nav class="tabs" aria-label=(ctx.t(M::MainMenu)) {
                ul {
                    @for (path, label) in TABS {
                        li {
                            a href=(path) aria-current=[(path == tab).then_some("page")] { (ctx.t(label)) }
                        }
                    }
                }
            }
            main id="main" {
                h1 { (title) }
                @match &ctx.flash {
                    Some(Flash::Ok(m)) => p class="flash ok" role="status" { (ctx.t(*m)) },
                    Some(Flash::Error(e)) => p class="flash error" role="alert" { (e) },
                    None => {},
                }
                (body)
            }
        },
    );
    let mut response = (status, to_html(markup)).into_response();
    if ctx.flash.is_some() {
        if let Ok(v) =
            HeaderValue::from_str("gancho_flash=; Path=/ui; Max-Age=0; HttpOnly; SameSite=Strict")
        {
            response.headers_mut().append(header::SET_COOKIE, v);
        }
    }
    response
}

/// A page that could not be shown.
pub fn error_page(status: StatusCode, pt: &str, en: &str) -> Response {
    let markup = bare(
        Lang::Pt,
        "Erro / Error",
        html! {
            main id="main" class="login" {
                h1 { (status.as_u16()) }
                p lang="pt-BR" { (pt) }
                @if en != pt { p lang="en" { (en) } }
                p { a href="/ui" { "gancho" } }
            }
        },
    );
    to_html(markup)
}

/// A button that copies `text` (app.js); the text is also shown.
pub fn copy_button(ctx: &Ctx, text: &str, what: &str) -> Markup {
    html! {
        button type="button" class="copy" data-copy=(text) data-copied=(ctx.t(M::Copied))
            aria-label={(ctx.t(M::Copy)) " " (what)} { (ctx.t(M::Copy)) }
    }
}

/// A URL in `code.url` with its copy button.
pub fn copyable_url(ctx: &Ctx, url: &str) -> Markup {
    html! {
        span class="copyable" {
            code class="url" { (url) }
            " "
            (copy_button(ctx, url, ctx.t(M::Url)))
        }
    }
}

/// A secret shown masked, with reveal and copy buttons (app.js swaps the
/// text; without script the masked form stays).
pub fn secret(ctx: &Ctx, masked: &str, plain: &str) -> Markup {
    html! {
        span class="secret-box" {
            span class="secret" data-secret=(plain) data-masked=(masked) { (masked) }
            " "
            button type="button" class="reveal" data-reveal=(ctx.t(M::Reveal)) data-hide=(ctx.t(M::Hide)) aria-pressed="false" { (ctx.t(M::Reveal)) }
            " "
            (copy_button(ctx, plain, ctx.t(M::Secret)))
        }
    }
}

pub fn status_badge(ctx: &Ctx, active: bool) -> Markup {
    html! {
        @if active { span class="badge on" { (ctx.t(M::Active)) } }
        @else { span class="badge off" { (ctx.t(M::Inactive)) } }
    }
}

/// A POST form with the CSRF token and one button.
pub fn action(ctx: &Ctx, class: &str, to: &str, label: &str) -> Markup {
    html! {
        form class=(class) method="post" action=(to) {
            input type="hidden" name="_csrf" value=(ctx.csrf);
            button type="submit" { (label) }
        }
    }
}

/// The hidden CSRF field of a form.
pub fn csrf(ctx: &Ctx) -> Markup {
    html! { input type="hidden" name="_csrf" value=(ctx.csrf); }
}

/// A labelled text input.
pub fn field(
    id: &str,
    label: &str,
    name: &str,
    value: &str,
    hint: Option<&str>,
    required: bool,
) -> Markup {
    html! {
        div class="field" {
            label for=(id) { (label) }
            input id=(id) type="text" name=(name) value=(value) required[required]
                aria-describedby=[hint.map(|_| format!("{id}-hint"))];
            @if let Some(h) = hint { p id={(id) "-hint"} class="hint" { (h) } }
        }
    }
}

/// A list of checkboxes with a filter box (the searchable multi-select).
pub fn checklist(
    ctx: &Ctx,
    legend: &str,
    name: &str,
    options: &[(String, String)],
    checked: &[String],
    hint: Option<&str>,
) -> Markup {
    html! {
        fieldset class="checklist" {
            legend { (legend) }
            @if let Some(h) = hint { p class="hint" { (h) } }
            @if options.len() > 6 {
                label class="filter-label" {
                    span class="visually-hidden" { (ctx.t(M::FilterList)) }
                    input type="search" class="filter" placeholder=(ctx.t(M::FilterList)) aria-label=(ctx.t(M::FilterList));
                }
            }
            @if options.is_empty() { p class="empty" { (ctx.t(M::None)) } }
            ul {
                @for (value, label) in options {
                    li {
                        label {
                            input type="checkbox" name=(name) value=(value) checked[checked.contains(value)];
                            " " (label)
                        }
                    }
                }
            }
        }
    }
}

/// The gateway `<select>`.
pub fn gateway_select(ctx: &Ctx, id: &str, selected: Option<crate::model::GatewayKind>) -> Markup {
    html! {
        div class="field" {
            label for=(id) { (ctx.t(M::Gateway)) }
            select id=(id) name="gateway" required {
                @for g in crate::model::GatewayKind::ALL {
                    option value=(g.as_str()) selected[selected == Some(g)] {
                        (crate::inbound::gateways::adapter(g).setup().name)
                    }
                }
            }
        }
    }
}

/// "Really delete X?" with a POST button: works without script, by keyboard.
pub fn confirm_delete(ctx: &Ctx, tab: &str, what: &str, to: &str, back: &str) -> Response {
    page(
        ctx,
        tab,
        ctx.t(M::ConfirmDelete),
        html! {
            p class="confirm" { strong { (what) } }
            p { (ctx.t(M::ConfirmDeleteHint)) }
            div class="buttons" {
                form class="delete" method="post" action=(to) {
                    (csrf(ctx))
                    button type="submit" class="danger" { (ctx.t(M::Delete)) }
                }
                a class="button secondary" href=(back) { (ctx.t(M::Cancel)) }
            }
        },
    )
}

/// An empty list: what to do next.
pub fn empty(text: &str, new_href: &str, new_label: &str) -> Markup {
    html! {
        div class="empty-state" {
            p { (text) }
            a class="button new" href=(new_href) { (new_label) }
        }
    }
}

/// A list tab's body: the "+ New" button, then `table`, or, with no rows
/// yet, what to do next; and the next page's link.
pub fn listing(
    ctx: &Ctx,
    new_href: &str,
    new: M,
    empty_text: M,
    is_empty: bool,
    next: Option<String>,
    table: Markup,
) -> Markup {
    html! {
        @if is_empty {
            (empty(ctx.t(empty_text), new_href, ctx.t(new)))
        } @else {
            p class="toolbar" { a class="button new" href=(new_href) { (ctx.t(new)) } }
            div class="table-wrap" { (table) }
            (next_link(ctx, "?cursor=", next))
        }
    }
}

/// "Next page", when there is one: `prefix` + the cursor.
pub fn next_link(ctx: &Ctx, prefix: &str, next: Option<String>) -> Markup {
    html! {
        @if let Some(c) = next {
            p { a class="next" href={(prefix) (c)} { (ctx.t(M::NextPage)) } }
        }
    }
}

/// A row's Edit link (`base` + `edit`), its Activate/Deactivate button
/// (`base/ativar`) when it has a status, and its Delete link (`base/excluir`).
pub fn row_actions(ctx: &Ctx, base: &str, edit: &str, enabled: Option<bool>) -> Markup {
    html! {
        a class="edit" href={(base) (edit)} { (ctx.t(M::Edit)) }
        " "
        @if let Some(on) = enabled {
            (action(ctx, "toggle", &format!("{base}/ativar"), ctx.t(if on { M::Deactivate } else { M::Activate })))
            " "
        }
        a class="delete" href={(base) "/excluir"} { (ctx.t(M::Delete)) }
    }
}
