//! Categories: named groups of products. A grant of a category covers the
//! products in it at the time access is checked, so products added later
//! are covered too.

use chrono::{DateTime, Utc};

use super::product::check_products_exist;
use super::{clean_name, named, CatalogError};
use crate::ids::{CategoryId, ProductId, WorkspaceId};
use crate::model::Category;
use crate::storage::CatalogStore;

fn dedup(ids: Vec<ProductId>) -> Vec<ProductId> {
    let mut out: Vec<ProductId> = Vec::with_capacity(ids.len());
    for id in ids {
        if !out.contains(&id) {
            out.push(id);
        }
    }
    out
}

pub async fn create_category(
    store: &dyn CatalogStore,
    ws: &WorkspaceId,
    name: &str,
    product_ids: Vec<ProductId>,
    now: DateTime<Utc>,
) -> Result<Category, CatalogError> {
    let product_ids = dedup(product_ids);
    let name = clean_name("name", name)?;
    check_products_exist(store, ws, &product_ids).await?;
    let category = Category {
        id: CategoryId::new(),
        workspace_id: ws.clone(),
        name,
        product_ids,
        created_at: now,
    };
    store.insert_category(&category).await?;
    Ok(category)
}

pub async fn get_category(
    store: &dyn CatalogStore,
    ws: &WorkspaceId,
    id: &CategoryId,
) -> Result<Category, CatalogError> {
    store.get_category(ws, id).await.map_err(named("category"))
}

pub async fn update_category(
    store: &dyn CatalogStore,
    ws: &WorkspaceId,
    id: &CategoryId,
    name: Option<&str>,
    product_ids: Option<Vec<ProductId>>,
) -> Result<Category, CatalogError> {
    let mut category = get_category(store, ws, id).await?;
    if let Some(name) = name {
        category.name = clean_name("name", name)?;
    }
    if let Some(ids) = product_ids {
        let ids = dedup(ids);
        check_products_exist(store, ws, &ids).await?;
        category.product_ids = ids;
    }
    store
        .update_category(&category)
        .await
        .map_err(named("category"))?;
    Ok(category)
}

pub async fn delete_category(
    store: &dyn CatalogStore,
    ws: &WorkspaceId,
    id: &CategoryId,
) -> Result<(), CatalogError> {
    store
        .delete_category(ws, id)
        .await
        .map_err(named("category"))
}

/// Checks that every id names a category of the workspace.
pub async fn check_categories_exist(
    store: &dyn CatalogStore,
    ws: &WorkspaceId,
    ids: &[CategoryId],
) -> Result<(), CatalogError> {
    for id in ids {
        if store.get_category(ws, id).await.is_err() {
            return Err(CatalogError::Invalid(format!(
                "category_ids: {id} is not a category of this workspace"
            )));
        }
    }
    Ok(())
}
