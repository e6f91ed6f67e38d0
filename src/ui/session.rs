//! Signing in to the admin UI.
//!
//! - `POST /ui/login` takes form field `token`: the admin token or a named
//!   admin API key, looked up by its SHA-256 like the API's bearer token.
//!   On success a random session id goes into an `HttpOnly`,
//!   `SameSite=Strict` cookie (`Secure` when `GANCHO_PUBLIC_URL` is https);
//!   the database keeps only its SHA-256 ([`crate::storage::UiSession`]),
//!   with the key's token hash, so logging out, deleting the key or
//!   changing the admin token ends the session on every instance.
//!   Sessions last [`SESSION_HOURS`].
//! - CSRF: every form carries `_csrf`, derived from the session's cookie
//!   value (which scripts cannot read); the login form, before there is a
//!   session, carries the value of a login cookie set with it.
//! - At most [`LOGIN_ATTEMPTS`] login attempts per client address per
//!   minute ([`LoginLimiter`], per instance); the rest answer `429`.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Extension, Router};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use maud::html;
use sha2::{Digest, Sha256};

use super::i18n::M;
use super::{cookie, html, lang_of, layout, redirect_with, Flash, Form, UiError};
use crate::app::{token_hash, AppState};
use crate::ids::WorkspaceId;
use crate::storage::UiSession;

/// How long a session lasts from login.
pub const SESSION_HOURS: i64 = 12;
/// Login attempts allowed per client address per [`LOGIN_WINDOW`].
pub const LOGIN_ATTEMPTS: u32 = 10;
const LOGIN_WINDOW: Duration = Duration::from_secs(60);

const SESSION_COOKIE: &str = "gancho_session";
const LOGIN_COOKIE: &str = "gancho_login";

/// The signed-in session, put in the request's extensions by
/// [`require_session`].
#[derive(Debug, Clone)]
pub struct Session {
    /// SHA-256 of the cookie's value.
    pub id: String,
    pub workspace_id: WorkspaceId,
    pub csrf: String,
}

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/ui/login", get(login_page).post(login))
        .route("/ui/logout", post(logout))
}

fn sha256_hex(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}

/// The CSRF token of a session: only who holds the cookie can make it.
fn csrf_of(cookie_value: &str) -> String {
    sha256_hex(&format!("gancho-csrf:{cookie_value}"))[..40].to_string()
}

fn random_token() -> String {
    URL_SAFE_NO_PAD.encode(crate::random::bytes::<32>())
}

/// Constant-time comparison of two tokens.
pub fn same(a: &str, b: &str) -> bool {
    use subtle::ConstantTimeEq;
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

fn secure(state: &AppState) -> &'static str {
    if state.config.public_url.starts_with("https://") {
        "; Secure"
    } else {
        ""
    }
}

fn set_cookie(response: &mut Response, value: String) {
    if let Ok(v) = HeaderValue::from_str(&value) {
        response.headers_mut().append(header::SET_COOKIE, v);
    }
}

/// Every private `/ui` route: no live session → the login page.
pub async fn require_session(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Response {
    let Some(value) = cookie(request.headers(), SESSION_COOKIE) else {
        return Redirect::to("/ui/login").into_response();
    };
    let id = sha256_hex(&value);
    match state.store.ui_session(&id, state.clock.now()).await {
        Ok(Some(s)) => {
            request.extensions_mut().insert(Session {
                id,
                workspace_id: s.workspace_id,
                csrf: csrf_of(&value),
            });
            next.run(request).await
        }
        Ok(None) => Redirect::to("/ui/login").into_response(),
        Err(e) => UiError::from(e).into_response(),
    }
}

/// Counts login attempts per client address.
#[derive(Debug, Default)]
pub struct LoginLimiter {
    attempts: Mutex<HashMap<IpAddr, (Instant, u32)>>,
}

impl LoginLimiter {
    pub fn shared() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// Counts one attempt; false when the address is over the limit.
    fn allow(&self, ip: IpAddr, now: Instant) -> bool {
        let Ok(mut map) = self.attempts.lock() else {
            return true;
        };
        if map.len() > 10_000 {
            map.retain(|_, (start, _)| now.duration_since(*start) < LOGIN_WINDOW);
        }
        let entry = map.entry(ip).or_insert((now, 0));
        if now.duration_since(entry.0) >= LOGIN_WINDOW {
            *entry = (now, 0);
        }
        entry.1 += 1;
        entry.1 <= LOGIN_ATTEMPTS
    }
}

/// Where the call came from, as the inbound URLs see it.
fn client_ip(state: &AppState, headers: &HeaderMap, peer: Option<SocketAddr>) -> Option<IpAddr> {
    let forwarded = headers.get("x-forwarded-for").and_then(|v| v.to_str().ok());
    peer.map(|p| crate::client_ip::client_ip(p.ip(), forwarded, &state.config.trusted_proxies))
}

fn login_form(lang: super::i18n::Lang, csrf: &str, error: Option<&str>) -> maud::Markup {
    let t = |m| lang.t(m);
    layout::bare(
        lang,
        t(M::LoginTitle),
        html! {
            main id="main" class="login" {
                h1 { "gancho" }
                p class="tagline" { (t(M::LoginTitle)) }
                @if let Some(e) = error {
                    p class="flash error" role="alert" { (e) }
                }
                form id="login" method="post" action="/ui/login" aria-label=(t(M::LoginForm)) {
                    input type="hidden" name="_csrf" value=(csrf);
                    label for="token" { (t(M::LoginToken)) }
                    input id="token" type="password" name="token" required autocomplete="current-password" aria-describedby="token-hint";
                    p id="token-hint" class="hint" { (t(M::LoginTokenHint)) }
                    button type="submit" { (t(M::LoginSubmit)) }
                }
                (layout::lang_links(lang, "/ui/login"))
            }
        },
    )
}

/// A login page with a fresh login-CSRF cookie.
fn login_response(
    state: &AppState,
    lang: super::i18n::Lang,
    status: StatusCode,
    error: Option<&str>,
    flash: Option<Flash>,
) -> Response {
    let token = random_token();
    let had_flash = flash.is_some();
    let message = error.map(str::to_string).or(match flash {
        Some(Flash::Ok(m)) => Some(lang.t(m).to_string()),
        Some(Flash::Error(e)) => Some(e),
        None => None,
    });
    let mut response = (status, html(login_form(lang, &token, message.as_deref()))).into_response();
    set_cookie(
        &mut response,
        format!(
            "{LOGIN_COOKIE}={token}; Path=/ui/login; HttpOnly; SameSite=Strict; Max-Age=3600{}",
            secure(state)
        ),
    );
    if had_flash {
        set_cookie(&mut response, clear("gancho_flash", "/ui"));
    }
    response
}

fn clear(name: &str, path: &str) -> String {
    format!("{name}=; Path={path}; Max-Age=0; HttpOnly; SameSite=Strict")
}

async fn login_page(State(state): State<AppState>, request: Request) -> Response {
    let (parts, _) = request.into_parts();
    let lang = lang_of(&parts);
    // Already signed in: straight to the first tab.
    if let Some(value) = cookie(&parts.headers, SESSION_COOKIE) {
        if let Ok(Some(_)) = state
            .store
            .ui_session(&sha256_hex(&value), state.clock.now())
            .await
        {
            return Redirect::to("/ui/entrada").into_response();
        }
    }
    let flash = cookie(&parts.headers, "gancho_flash").and_then(|v| Flash::from_cookie(&v));
    login_response(&state, lang, StatusCode::OK, None, flash)
}

async fn login(
    State(state): State<AppState>,
    Extension(limiter): Extension<Arc<LoginLimiter>>,
    request: Request,
) -> Response {
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0);
    let (parts, body) = request.into_parts();
    let lang = lang_of(&parts);
    if let Some(ip) = client_ip(&state, &parts.headers, peer) {
        if !limiter.allow(ip, Instant::now()) {
            let mut r = login_response(
                &state,
                lang,
                StatusCode::TOO_MANY_REQUESTS,
                Some(lang.t(M::LoginTooMany)),
                None,
            );
            r.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("60"));
            return r;
        }
    }
    let bytes =
        match crate::api::extract::body_bytes(Request::from_parts(parts.clone(), body), &state)
            .await
        {
            Ok(b) => b,
            Err(e) => return UiError::from(e).into_response(),
        };
    let form = Form::parse(&bytes);
    let expected = cookie(&parts.headers, LOGIN_COOKIE).unwrap_or_default();
    if expected.is_empty() || !same(form.raw("_csrf"), &expected) {
        return login_response(
            &state,
            lang,
            StatusCode::FORBIDDEN,
            Some(lang.t(M::BadCsrf)),
            None,
        );
    }
    let token = form.get("token").unwrap_or_default();
    let key = if token.is_empty() {
        None
    } else {
        match state.store.api_key_by_hash(&token_hash(&token)).await {
            Ok(k) => k,
            Err(e) => return UiError::from(e).into_response(),
        }
    };
    let Some(key) = key else {
        return login_response(
            &state,
            lang,
            StatusCode::UNAUTHORIZED,
            Some(lang.t(M::LoginWrong)),
            None,
        );
    };
    let value = random_token();
    let now = state.clock.now();
    let session = UiSession {
        id: sha256_hex(&value),
        workspace_id: key.workspace_id,
        api_key_id: key.id,
        token_hash: key.token_hash,
        created_at: now,
        expires_at: now + chrono::Duration::hours(SESSION_HOURS),
    };
    if let Err(e) = state.store.insert_ui_session(&session).await {
        return UiError::from(e).into_response();
    }
    tracing::info!("admin UI login");
    let mut response = Redirect::to("/ui/entrada").into_response();
    set_cookie(
        &mut response,
        format!(
            "{SESSION_COOKIE}={value}; Path=/ui; HttpOnly; SameSite=Strict; Max-Age={}{}",
            SESSION_HOURS * 3600,
            secure(&state)
        ),
    );
    set_cookie(&mut response, clear(LOGIN_COOKIE, "/ui/login"));
    response
}

/// Ends the session (its CSRF token required, so no other site can log
/// the admin out).
async fn logout(State(state): State<AppState>, request: Request) -> Response {
    let Some(value) = cookie(request.headers(), SESSION_COOKIE) else {
        return Redirect::to("/ui/login").into_response();
    };
    let id = sha256_hex(&value);
    let csrf = csrf_of(&value);
    let bytes = match crate::api::extract::body_bytes(request, &state).await {
        Ok(b) => b,
        Err(e) => return UiError::from(e).into_response(),
    };
    if !same(Form::parse(&bytes).raw("_csrf"), &csrf) {
        return UiError::Csrf.into_response();
    }
    if let Err(e) = state.store.delete_ui_session(&id).await {
        return UiError::from(e).into_response();
    }
    let mut response = redirect_with("/ui/login", Flash::Ok(M::FlashLoggedOut));
    set_cookie(&mut response, clear(SESSION_COOKIE, "/ui"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_is_refused_past_the_limit_until_the_window_passes() {
        let limiter = LoginLimiter::default();
        let ip: IpAddr = "203.0.113.9".parse().unwrap_or(IpAddr::from([0, 0, 0, 0]));
        let other: IpAddr = "203.0.113.10".parse().unwrap_or(IpAddr::from([0, 0, 0, 0]));
        let t0 = Instant::now();
        for _ in 0..LOGIN_ATTEMPTS {
            assert!(limiter.allow(ip, t0));
        }
        assert!(!limiter.allow(ip, t0));
        assert!(limiter.allow(other, t0), "another address is not affected");
        assert!(limiter.allow(ip, t0 + LOGIN_WINDOW));
    }

    #[test]
    fn the_csrf_token_depends_on_the_session() {
        assert_ne!(csrf_of("a"), csrf_of("b"));
        assert_eq!(csrf_of("a"), csrf_of("a"));
        assert!(same("abc", "abc"));
        assert!(!same("abc", "abd"));
        assert!(!same("abc", "ab"));
    }
}
