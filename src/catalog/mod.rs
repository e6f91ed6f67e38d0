//! The catalog: products (with the gateway ids that map to them),
//! categories, students and manual grants. Validation lives here; storage
//! only stores. Gateway grants are made by `inbound::access`.

pub mod category;
pub mod product;
pub mod student;

use crate::storage::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    Conflict(String),
    #[error(transparent)]
    Store(StoreError),
}

impl From<StoreError> for CatalogError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound => Self::NotFound("resource"),
            other => Self::Store(other),
        }
    }
}

/// Trims a display name and checks it is 1 to 200 characters.
pub fn clean_name(field: &str, name: &str) -> Result<String, CatalogError> {
    let name = name.trim();
    if name.is_empty() {
        return Err(CatalogError::Invalid(format!("{field}: must not be empty")));
    }
    if name.chars().count() > 200 {
        return Err(CatalogError::Invalid(format!(
            "{field}: at most 200 characters"
        )));
    }
    Ok(name.to_string())
}

/// Maps "not found" to a named resource (so the 404 says what was missing).
pub(crate) fn named(what: &'static str) -> impl Fn(StoreError) -> CatalogError {
    move |e| match e {
        StoreError::NotFound => CatalogError::NotFound(what),
        other => CatalogError::Store(other),
    }
}
