//! `ApiError`: the only place an error becomes an HTTP status and the
//! contract's `{"error":{"code","message"}}` body. A 5xx is logged here,
//! once, with its source; the client gets a fixed message.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::storage::StoreError;

/// How long a client is asked to wait when the database is unavailable.
pub const STORAGE_RETRY_AFTER_SECS: u32 = 30;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("missing or invalid token")]
    Unauthorized(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    Validation(String),
    #[error("{0}")]
    Conflict(String),
    #[error("the body is larger than the limit of {0} bytes")]
    PayloadTooLarge(usize),
    #[error("{0}")]
    UnsupportedMediaType(String),
    #[error("{message}")]
    Unavailable {
        message: String,
        retry_after_secs: u32,
    },
    #[error("internal error")]
    Internal(#[source] Box<dyn std::error::Error + Send + Sync>),
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct ErrorDetail {
    pub code: String,
    pub message: String,
}

impl ApiError {
    pub fn status(&self) -> StatusCode {
        match self {
            Self::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::Validation(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::Conflict(_) => StatusCode::CONFLICT,
            Self::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::Unavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            Self::Unauthorized(_) => "unauthorized",
            Self::NotFound(_) => "not_found",
            Self::BadRequest(_) => "bad_request",
            Self::Validation(_) => "validation_failed",
            Self::Conflict(_) => "conflict",
            Self::PayloadTooLarge(_) => "payload_too_large",
            Self::UnsupportedMediaType(_) => "unsupported_media_type",
            Self::Unavailable { .. } => "unavailable",
            Self::Internal(_) => "internal",
        }
    }

    /// The message the client sees (never the internal source).
    pub fn public_message(&self) -> String {
        match self {
            Self::Unauthorized(m) => m.clone(),
            other => other.to_string(),
        }
    }

    /// The database cannot take the call right now; the client retries.
    pub fn unavailable() -> Self {
        Self::Unavailable {
            message: "the database is unavailable; retry later".into(),
            retry_after_secs: STORAGE_RETRY_AFTER_SECS,
        }
    }

    pub fn internal(e: impl std::error::Error + Send + Sync + 'static) -> Self {
        Self::Internal(Box::new(e))
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound => Self::NotFound("not found".into()),
            StoreError::Conflict(what) => Self::Conflict(format!("already exists ({what})")),
            // The store logs the episode once (storage::write::WriteHealth).
            StoreError::Unavailable(_) => Self::unavailable(),
            other => Self::internal(other),
        }
    }
}

impl ApiError {
    /// What every answer of this error carries, whatever its body (the
    /// API's JSON, the admin UI's page): the internal source logged once,
    /// and `Retry-After` when the database is unavailable.
    pub fn finish(&self, mut response: Response) -> Response {
        if let Self::Internal(source) = self {
            tracing::error!(error = %source, source = ?source.source(), "request failed");
        }
        if let Self::Unavailable {
            retry_after_secs, ..
        } = self
        {
            if let Ok(v) = HeaderValue::from_str(&retry_after_secs.to_string()) {
                response.headers_mut().insert(header::RETRY_AFTER, v);
            }
        }
        response
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code().to_string(),
                message: self.public_message(),
            },
        };
        self.finish((self.status(), axum::Json(body)).into_response())
    }
}

impl From<crate::catalog::CatalogError> for ApiError {
    fn from(e: crate::catalog::CatalogError) -> Self {
        use crate::catalog::CatalogError as E;
        match e {
            E::NotFound(what) => Self::NotFound(format!("{what} not found")),
            E::Invalid(m) => Self::Validation(m),
            E::Conflict(m) => Self::Conflict(m),
            E::Store(e) => e.into(),
        }
    }
}

impl From<crate::keys::SealError> for ApiError {
    fn from(e: crate::keys::SealError) -> Self {
        Self::internal(e)
    }
}

impl From<crate::keys::KeyError> for ApiError {
    fn from(e: crate::keys::KeyError) -> Self {
        use crate::keys::KeyError as E;
        match e {
            E::Invalid(m) => Self::Validation(m),
            E::Seal(e) => Self::internal(e),
            E::Store(e) => e.into(),
        }
    }
}

impl From<crate::outbound::OutboundError> for ApiError {
    fn from(e: crate::outbound::OutboundError) -> Self {
        use crate::outbound::OutboundError as E;
        match e {
            E::NotFound(what) => Self::NotFound(format!("{what} not found")),
            E::Invalid(m) => Self::Validation(m),
            E::Seal(e) => Self::internal(e),
            E::Store(e) => e.into(),
        }
    }
}
