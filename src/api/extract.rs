//! Extractors and shapes shared by every resource: our `Json` (whose
//! rejection is the contract's error shape), the authenticated workspace,
//! and list pagination (`limit`, `cursor` → `{items, next_cursor}`).

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Request, State};
use axum::http::header;
use axum::http::request::Parts;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Deserializer, Serialize};

use crate::app::{token_hash, AppState};
use crate::error::ApiError;
use crate::ids::WorkspaceId;
use crate::storage::Page;

/// JSON body whose rejection is an [`ApiError`]: 415 without a JSON content
/// type, 413 past the body limit, 400 for malformed JSON, 422 when it does
/// not fit the expected shape or a string holds a NUL (`\u0000`: no text
/// gancho stores has one, and PostgreSQL cannot store it).
pub struct Json<T>(pub T);

impl<S, T> FromRequest<S> for Json<T>
where
    S: Send + Sync,
    T: serde::de::DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let is_json = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .map(|m| m.trim().to_ascii_lowercase())
            .is_some_and(|m| {
                m == "application/json" || (m.starts_with("application/") && m.ends_with("+json"))
            });
        if !is_json {
            return Err(ApiError::UnsupportedMediaType(
                "send Content-Type: application/json".into(),
            ));
        }
        let bytes = body_bytes(req, state).await?;
        if has_nul(&bytes) {
            return Err(ApiError::Validation(
                "strings must not contain NUL characters (\\u0000)".into(),
            ));
        }
        let axum::Json(value) = axum::Json::<T>::from_bytes(&bytes)?;
        Ok(Self(value))
    }
}

/// The whole body, under the router's body limit (413 past it).
pub async fn body_bytes<S: Send + Sync>(req: Request, state: &S) -> Result<bytes::Bytes, ApiError> {
    bytes::Bytes::from_request(req, state).await.map_err(|e| {
        if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::PayloadTooLarge(DEFAULT_BODY_LIMIT)
        } else {
            ApiError::BadRequest(e.body_text())
        }
    })
}

/// axum's default body limit, which the API keeps.
const DEFAULT_BODY_LIMIT: usize = 2 * 1024 * 1024;

/// Whether JSON text holds a `\u0000` escape (one not itself escaped: an
/// even run of backslashes before `u0000` is text, not a NUL). A raw NUL
/// byte is not valid JSON, so the parser refuses it anyway.
fn has_nul(json: &[u8]) -> bool {
    let mut backslashes = 0usize;
    for (i, b) in json.iter().enumerate() {
        if *b == b'\\' {
            backslashes += 1;
            continue;
        }
        if backslashes % 2 == 1 && *b == b'u' && json[i + 1..].starts_with(b"0000") {
            return true;
        }
        backslashes = 0;
    }
    false
}

impl<T: Serialize> IntoResponse for Json<T> {
    fn into_response(self) -> Response {
        axum::Json(self.0).into_response()
    }
}

impl From<JsonRejection> for ApiError {
    fn from(r: JsonRejection) -> Self {
        match r {
            JsonRejection::MissingJsonContentType(_) => {
                Self::UnsupportedMediaType("send Content-Type: application/json".into())
            }
            JsonRejection::JsonDataError(e) => Self::Validation(e.body_text()),
            JsonRejection::JsonSyntaxError(e) => Self::BadRequest(e.body_text()),
            other => Self::BadRequest(other.body_text()),
        }
    }
}

/// Query string whose rejection is a 422.
#[derive(FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(ApiError))]
pub struct Query<T>(pub T);

impl From<QueryRejection> for ApiError {
    fn from(r: QueryRejection) -> Self {
        Self::Validation(r.body_text())
    }
}

/// The workspace the bearer token belongs to (set by [`require_token`]).
#[derive(Debug, Clone)]
pub struct Ws(pub WorkspaceId);

impl<S: Send + Sync> FromRequestParts<S> for Ws {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        parts
            .extensions
            .get::<Ws>()
            .cloned()
            .ok_or_else(|| ApiError::Unauthorized("missing or invalid token".into()))
    }
}

/// Middleware on every `/api/v1` route: `Authorization: Bearer <token>`,
/// looked up by its SHA-256 (so the comparison never touches the token
/// itself and takes the same time whatever the token is).
pub async fn require_token(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let unauthorized = || ApiError::Unauthorized("missing or invalid token".into());
    let token = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or_else(unauthorized)?;
    let key = state
        .store
        .api_key_by_hash(&token_hash(token))
        .await?
        .ok_or_else(unauthorized)?;
    request.extensions_mut().insert(Ws(key.workspace_id));
    Ok(next.run(request).await)
}

/// `?limit=&cursor=` of a list.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    /// 1 to 500, default 50.
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

impl ListParams {
    /// The page to ask storage for: one row more than the limit, to know
    /// whether there is a next page.
    pub fn page(&self) -> Result<Page, ApiError> {
        let limit = self.limit.unwrap_or(50);
        if !(1..=500).contains(&limit) {
            return Err(ApiError::Validation("limit: from 1 to 500".into()));
        }
        Ok(Page {
            after: self.cursor.clone().filter(|c| !c.is_empty()),
            limit: limit + 1,
        })
    }
}

/// `{items, next_cursor}` (DESIGN.md § REST API).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ListOut<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

impl<T> ListOut<T> {
    /// Builds a page from `limit + 1` rows: the extra row only says there is more.
    pub fn from_rows<R>(
        mut rows: Vec<R>,
        page: &Page,
        id: impl Fn(&R) -> String,
        out: impl FnMut(R) -> T,
    ) -> Self {
        let limit = page.limit.saturating_sub(1) as usize;
        let next_cursor = if rows.len() > limit {
            rows.truncate(limit);
            rows.last().map(id)
        } else {
            None
        };
        Self {
            items: rows.into_iter().map(out).collect(),
            next_cursor,
        }
    }
}

/// For PATCH fields that may be set to `null`: absent → `None`,
/// `null` → `Some(None)`, a value → `Some(Some(v))`.
pub fn double_option<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

/// Accepts a string or a number (gateway product ids are often numbers).
pub fn string_or_number<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    match serde_json::Value::deserialize(d)? {
        serde_json::Value::String(s) => Ok(s),
        serde_json::Value::Number(n) => Ok(n.to_string()),
        other => Err(serde::de::Error::custom(format!(
            "expected a string or a number, got {other}"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::has_nul;

    #[test]
    fn a_nul_escape_is_found_and_an_escaped_backslash_is_not_one() {
        assert!(has_nul(br#"{"name":"a\u0000b"}"#));
        assert!(has_nul(br#"{"name":"\\\u0000"}"#));
        assert!(
            !has_nul(br#"{"name":"a\\u0000b"}"#),
            "a backslash, then text"
        );
        assert!(has_nul(br#"{"name":"\u00001"}"#), "a NUL, then a digit");
        assert!(!has_nul(br#"{"name":"\u0041"}"#));
        assert!(!has_nul(b"{}"));
    }
}
