//! Products and their `external_ids` (a gateway's product id → this product).

use chrono::{DateTime, Utc};

use super::{clean_name, named, CatalogError};
use crate::ids::{ProductId, WorkspaceId};
use crate::model::{ExternalId, Product};
use crate::storage::CatalogStore;

/// Checks and normalizes external ids: non-empty ids, no duplicates.
fn clean_external_ids(ids: Vec<ExternalId>) -> Result<Vec<ExternalId>, CatalogError> {
    let mut out: Vec<ExternalId> = Vec::with_capacity(ids.len());
    for e in ids {
        let id = e.id.trim().to_string();
        if id.is_empty() || id.len() > 200 {
            return Err(CatalogError::Invalid(
                "external_ids: each id must be 1 to 200 characters".into(),
            ));
        }
        let e = ExternalId {
            gateway: e.gateway,
            id,
        };
        if !out.contains(&e) {
            out.push(e);
        }
    }
    Ok(out)
}

pub async fn create_product(
    store: &dyn CatalogStore,
    ws: &WorkspaceId,
    name: &str,
    external_ids: Vec<ExternalId>,
    now: DateTime<Utc>,
) -> Result<Product, CatalogError> {
    let product = Product {
        id: ProductId::new(),
        workspace_id: ws.clone(),
        name: clean_name("name", name)?,
        external_ids: clean_external_ids(external_ids)?,
        created_at: now,
    };
    store.insert_product(&product).await?;
    Ok(product)
}

pub async fn get_product(
    store: &dyn CatalogStore,
    ws: &WorkspaceId,
    id: &ProductId,
) -> Result<Product, CatalogError> {
    store.get_product(ws, id).await.map_err(named("product"))
}

/// Applies the fields that are present.
pub async fn update_product(
    store: &dyn CatalogStore,
    ws: &WorkspaceId,
    id: &ProductId,
    name: Option<&str>,
    external_ids: Option<Vec<ExternalId>>,
) -> Result<Product, CatalogError> {
    let mut product = get_product(store, ws, id).await?;
    if let Some(name) = name {
        product.name = clean_name("name", name)?;
    }
    if let Some(ids) = external_ids {
        product.external_ids = clean_external_ids(ids)?;
    }
    store
        .update_product(&product)
        .await
        .map_err(named("product"))?;
    Ok(product)
}

pub async fn delete_product(
    store: &dyn CatalogStore,
    ws: &WorkspaceId,
    id: &ProductId,
) -> Result<(), CatalogError> {
    store.delete_product(ws, id).await.map_err(named("product"))
}

/// Checks that every id names a product of the workspace.
pub async fn check_products_exist(
    store: &dyn CatalogStore,
    ws: &WorkspaceId,
    ids: &[ProductId],
) -> Result<(), CatalogError> {
    for id in ids {
        if store.get_product(ws, id).await.is_err() {
            return Err(CatalogError::Invalid(format!(
                "product_ids: {id} is not a product of this workspace"
            )));
        }
    }
    Ok(())
}
