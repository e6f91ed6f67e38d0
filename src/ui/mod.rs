//! The admin web UI under `/ui` (DESIGN.md § Admin UI, issue 8): pages
//! rendered on the server with maud (every interpolated value is escaped),
//! one stylesheet and one small script embedded in the binary, nothing
//! fetched from elsewhere. Pages call the same capability functions as the
//! API handlers (`catalog`, `inbound::url`, `keys`, `outbound::endpoint`,
//! `logs`), never the API over HTTP, so the two cannot disagree.
//!
//! - `session.rs`: login with the admin token or a named API key, sessions
//!   stored server-side, CSRF tokens, the login rate limit.
//! - `i18n.rs`: every string, one table per language (pt-BR default).
//! - `layout.rs`: the page shell, tabs, flash messages, form helpers.
//! - `pages/`: one file per tab.
//!
//! Every response carries a `Content-Security-Policy` that allows scripts
//! and styles from `/ui/static` only, so no user text can run as script.

pub mod chart;
pub mod dry_run;
pub mod i18n;
pub mod layout;
pub mod pages;
pub mod samples;
pub mod session;

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::Router;

use crate::app::AppState;
use crate::error::ApiError;
use crate::ids::WorkspaceId;
use i18n::{Lang, M};

/// What the pages may load: this origin's script and styles only.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                   connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

const APP_CSS: &str = include_str!("static/app.css");
const APP_JS: &str = include_str!("static/app.js");

/// The `/ui` routes, and `/` redirecting there.
pub fn router(state: AppState) -> Router<AppState> {
    let private = pages::router().route_layer(middleware::from_fn_with_state(
        state.clone(),
        session::require_session,
    ));
    Router::new()
        .route("/", get(|| async { Redirect::to("/ui") }))
        .route("/ui", get(|| async { Redirect::to("/ui/entrada") }))
        .route("/ui/", get(|| async { Redirect::to("/ui/entrada") }))
        .merge(session::router())
        .route("/ui/static/app.css", get(css))
        .route("/ui/static/app.js", get(js))
        .merge(private)
        .layer(axum::Extension(session::LoginLimiter::shared()))
        .layer(middleware::from_fn(headers))
}

async fn css() -> Response {
    static_file("text/css; charset=utf-8", APP_CSS)
}

async fn js() -> Response {
    static_file("text/javascript; charset=utf-8", APP_JS)
}

fn static_file(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "public, max-age=300"),
        ],
        body,
    )
        .into_response()
}

/// Security headers on every `/ui` answer, and the language cookie when
/// `?lang=` chose one.
async fn headers(request: Request, next: Next) -> Response {
    let chosen = query_value(request.uri().query(), "lang").and_then(|v| Lang::parse(&v));
    let mut response = next.run(request).await;
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
    if let Some(lang) = chosen {
        let cookie = format!(
            "gancho_lang={}; Path=/; Max-Age=31536000; SameSite=Lax",
            lang.code()
        );
        if let Ok(v) = HeaderValue::from_str(&cookie) {
            h.append(header::SET_COOKIE, v);
        }
    }
    response
}

/// The first value of `name` in a query string.
pub fn query_value(query: Option<&str>, name: &str) -> Option<String> {
    form_urlencoded::parse(query?.as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// A cookie's value from the request's `Cookie` headers.
pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_string())
}

/// The language of a request: `?lang=`, else the cookie, else
/// `Accept-Language`, else pt-BR.
pub fn lang_of(parts: &Parts) -> Lang {
    query_value(parts.uri.query(), "lang")
        .and_then(|v| Lang::parse(&v))
        .or_else(|| cookie(&parts.headers, "gancho_lang").and_then(|v| Lang::parse(&v)))
        .or_else(|| {
            parts
                .headers
                .get(header::ACCEPT_LANGUAGE)
                .and_then(|v| v.to_str().ok())
                .map(Lang::from_accept_language)
        })
        .unwrap_or(Lang::Pt)
}

/// A flash message carried to the next page by a short-lived cookie.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Flash {
    Ok(M),
    Error(String),
}

const FLASHES: [(&str, M); 7] = [
    ("saved", M::FlashSaved),
    ("deleted", M::FlashDeleted),
    ("created", M::FlashCreated),
    ("sent", M::FlashSent),
    ("rotated", M::FlashRotated),
    ("queued", M::FlashQueued),
    ("logout", M::FlashLoggedOut),
];

impl Flash {
    fn cookie_value(&self) -> String {
        match self {
            Self::Ok(m) => FLASHES
                .iter()
                .find(|(_, f)| f == m)
                .map_or("saved", |(code, _)| code)
                .to_string(),
            Self::Error(text) => format!(
                "e:{}",
                form_urlencoded::byte_serialize(text.as_bytes()).collect::<String>()
            ),
        }
    }

    fn from_cookie(value: &str) -> Option<Self> {
        if let Some(text) = value.strip_prefix("e:") {
            let text: String = form_urlencoded::parse(format!("t={text}").as_bytes())
                .next()
                .map(|(_, v)| v.into_owned())?;
            return Some(Self::Error(text.chars().take(500).collect()));
        }
        FLASHES
            .iter()
            .find(|(code, _)| *code == value)
            .map(|(_, m)| Self::Ok(*m))
    }
}

/// What every signed-in page knows: the workspace, the language, the CSRF
/// token to put in its forms, and the flash message to show once.
#[derive(Debug, Clone)]
pub struct Ctx {
    pub ws: WorkspaceId,
    pub lang: Lang,
    pub csrf: String,
    pub flash: Option<Flash>,
    pub tz: chrono_tz::Tz,
    /// The path asked for, for the language links.
    pub path: String,
}

impl Ctx {
    pub fn t(&self, m: M) -> &'static str {
        self.lang.t(m)
    }
}

impl FromRequestParts<AppState> for Ctx {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let session = parts
            .extensions
            .get::<session::Session>()
            .cloned()
            .ok_or_else(|| Redirect::to("/ui/login").into_response())?;
        Ok(Self {
            ws: session.workspace_id,
            lang: lang_of(parts),
            csrf: session.csrf,
            flash: cookie(&parts.headers, "gancho_flash").and_then(|v| Flash::from_cookie(&v)),
            tz: state.config.timezone,
            path: parts.uri.path().to_string(),
        })
    }
}

/// A `303 See Other` to `to`, carrying a flash message.
pub fn redirect_with(to: &str, flash: Flash) -> Response {
    let mut response = Redirect::to(to).into_response();
    let cookie = format!(
        "gancho_flash={}; Path=/ui; Max-Age=60; HttpOnly; SameSite=Strict",
        flash.cookie_value()
    );
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        response.headers_mut().append(header::SET_COOKIE, v);
    }
    response
}

/// A submitted form, after its CSRF token was checked against the session.
/// Fields keep their order and may repeat (checkbox lists).
#[derive(Debug, Clone, Default)]
pub struct Form(pub Vec<(String, String)>);

impl Form {
    pub fn parse(body: &[u8]) -> Self {
        Self(
            form_urlencoded::parse(body)
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect(),
        )
    }

    /// The first value of a field, trimmed; `None` when absent or empty.
    pub fn get(&self, name: &str) -> Option<String> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.trim().to_string())
            .filter(|v| !v.is_empty())
    }

    /// The raw first value of a field (not trimmed), or "".
    pub fn raw(&self, name: &str) -> &str {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map_or("", |(_, v)| v.as_str())
    }

    /// The raw values of two fields side by side, row by row (a form's
    /// repeated `gateway`/`external_id` or `header_name`/`header_value`).
    pub fn pairs(&self, left: &str, right: &str) -> Vec<(String, String)> {
        let of = |name: &str| {
            self.0
                .iter()
                .filter(move |(k, _)| k == name)
                .map(|(_, v)| v.clone())
                .collect::<Vec<_>>()
        };
        of(left).into_iter().zip(of(right)).collect()
    }

    /// Every non-empty value of a field, in order.
    pub fn all(&self, name: &str) -> Vec<String> {
        self.0
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.trim().to_string())
            .filter(|v| !v.is_empty())
            .collect()
    }
}

impl FromRequest<AppState> for Form {
    type Rejection = Response;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Response> {
        let expected = req
            .extensions()
            .get::<session::Session>()
            .map(|s| s.csrf.clone());
        let bytes = crate::api::extract::body_bytes(req, state)
            .await
            .map_err(|e| UiError::from(e).into_response())?;
        let form = Self::parse(&bytes);
        match expected {
            Some(csrf) if session::same(form.raw("_csrf"), &csrf) => Ok(form),
            _ => Err(UiError::Csrf.into_response()),
        }
    }
}

/// What a page answers when it cannot be shown: a small page with the
/// reason (never the internal source), or the login page for no session.
#[derive(Debug)]
pub enum UiError {
    Api(ApiError),
    Csrf,
}

impl<E: Into<ApiError>> From<E> for UiError {
    fn from(e: E) -> Self {
        Self::Api(e.into())
    }
}

impl IntoResponse for UiError {
    fn into_response(self) -> Response {
        let (status, pt, en) = match &self {
            Self::Csrf => (
                StatusCode::FORBIDDEN,
                i18n::pt(M::BadCsrf).to_string(),
                i18n::en(M::BadCsrf).to_string(),
            ),
            Self::Api(ApiError::Unauthorized(_)) => {
                return Redirect::to("/ui/login").into_response()
            }
            Self::Api(e @ ApiError::Unavailable { .. }) => (
                e.status(),
                i18n::pt(M::Unavailable).to_string(),
                i18n::en(M::Unavailable).to_string(),
            ),
            Self::Api(e @ ApiError::NotFound(_)) => (
                e.status(),
                format!("{} ({})", i18n::pt(M::NotFound), e.public_message()),
                i18n::en(M::NotFound).to_string(),
            ),
            Self::Api(e) => (e.status(), e.public_message(), e.public_message()),
        };
        let response = (status, layout::error_page(status, &pt, &en)).into_response();
        match &self {
            Self::Api(e) => e.finish(response),
            Self::Csrf => response,
        }
    }
}

/// The message of a failed action, for a flash or a form's error line.
pub fn error_text(lang: Lang, e: &ApiError) -> String {
    match e {
        ApiError::Unavailable { .. } => lang.t(M::Unavailable).to_string(),
        e => format!("{} {}", lang.t(M::ErrorPrefix), e.public_message()),
    }
}

/// Renders markup as an HTML response.
pub fn html(markup: maud::Markup) -> Response {
    (
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        markup.into_string(),
    )
        .into_response()
}
