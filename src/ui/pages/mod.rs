//! One file per tab. Each handler takes [`Ctx`] (the session, language and
//! CSRF token), calls the capability functions the API calls, and renders
//! with `layout`. Forms re-render with the error and what was typed when an
//! action fails; a successful one redirects (303) with a flash message.

pub mod catalog;
pub mod chaves;
pub mod entrada;
pub mod logs;
pub mod saida;
pub mod students;

use axum::Router;

use super::UiError;
use crate::app::AppState;
use crate::ids::WorkspaceId;
use crate::model::{Category, Product};
use crate::storage::Page;

pub fn router() -> Router<AppState> {
    Router::new()
        .merge(catalog::router())
        .merge(entrada::router())
        .merge(chaves::router())
        .merge(saida::router())
        .merge(logs::router())
        .merge(students::router())
        .merge(super::dry_run::router())
}

/// How many rows a list page shows.
pub const PAGE_SIZE: u32 = 50;
/// How many products or categories a form offers to pick from.
const PICK_LIMIT: u32 = 1000;

/// The products a form offers, by name.
pub async fn all_products(state: &AppState, ws: &WorkspaceId) -> Result<Vec<Product>, UiError> {
    let page = Page {
        after: None,
        limit: PICK_LIMIT,
    };
    let mut list = state.store.list_products(ws, &page).await?;
    list.sort_by_key(|p| p.name.to_lowercase());
    Ok(list)
}

/// The categories a form offers, by name.
pub async fn all_categories(state: &AppState, ws: &WorkspaceId) -> Result<Vec<Category>, UiError> {
    let page = Page {
        after: None,
        limit: PICK_LIMIT,
    };
    let mut list = state.store.list_categories(ws, &page).await?;
    list.sort_by_key(|c| c.name.to_lowercase());
    Ok(list)
}

/// `(id, name)` pairs for a checklist.
pub fn options<T>(items: &[T], f: impl Fn(&T) -> (String, String)) -> Vec<(String, String)> {
    items.iter().map(f).collect()
}

/// One page of a list: `PAGE_SIZE + 1` rows asked, so the extra says there is more.
pub fn list_page(cursor: Option<String>) -> Page {
    Page {
        after: cursor.filter(|c| !c.is_empty()),
        limit: PAGE_SIZE + 1,
    }
}

/// Trims a fetched page to `PAGE_SIZE` rows and returns the next cursor.
pub fn split_page<T>(mut rows: Vec<T>, id: impl Fn(&T) -> String) -> (Vec<T>, Option<String>) {
    if rows.len() > PAGE_SIZE as usize {
        rows.truncate(PAGE_SIZE as usize);
        let next = rows.last().map(id);
        (rows, next)
    } else {
        (rows, None)
    }
}
