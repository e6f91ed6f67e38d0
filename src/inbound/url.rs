//! Inbound URLs (Entrada): where one gateway posts and what it grants. Owns
//! slugs (lowercase letters, digits, hyphens; generated from the name when
//! omitted, unique per workspace) and the public URL shown to users.

use chrono::{DateTime, Utc};

use crate::catalog::category::check_categories_exist;
use crate::catalog::product::check_products_exist;
use crate::catalog::{clean_name, named, CatalogError};
use crate::ids::{CategoryId, InboundUrlId, ProductId, WorkspaceId};
use crate::model::{GatewayKind, InboundUrl};
use crate::storage::{Store, StoreError};

const MAX_SLUG: usize = 64;
const MAX_ACCESS_DAYS: u32 = 36_500;
const MAX_SOURCES: usize = 100;

/// The URL a gateway is configured with (DESIGN.md § Inbound).
pub fn public_url(base: &str, public_id: &str, slug: &str, gateway: GatewayKind) -> String {
    format!("{base}/in/{public_id}/{slug}?gateway={gateway}")
}

/// The workspace's global inbound URL: any gateway, detected or named
/// with `?gateway=`.
pub fn global_url(base: &str, public_id: &str) -> String {
    format!("{base}/in/{public_id}")
}

/// `Curso Básico de Excel!` → `curso-basico-de-excel`.
pub fn slugify(name: &str) -> String {
    let ascii = deunicode::deunicode(name).to_lowercase();
    let mut slug = String::with_capacity(ascii.len());
    for c in ascii.chars() {
        if c.is_ascii_alphanumeric() {
            slug.push(c);
        } else if !slug.ends_with('-') && !slug.is_empty() {
            slug.push('-');
        }
    }
    let mut slug: String = slug.trim_matches('-').chars().take(MAX_SLUG - 4).collect();
    slug = slug.trim_end_matches('-').to_string();
    if slug.is_empty() {
        "url".to_string()
    } else {
        slug
    }
}

/// Checks a slug given by the user.
pub fn check_slug(slug: &str) -> Result<(), CatalogError> {
    let ok = !slug.is_empty()
        && slug.len() <= MAX_SLUG
        && slug
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !slug.starts_with('-')
        && !slug.ends_with('-');
    if ok {
        Ok(())
    } else {
        Err(CatalogError::Invalid(format!(
            "slug: use 1 to {MAX_SLUG} lowercase letters, digits and hyphens, not starting or ending with a hyphen"
        )))
    }
}

fn check_access_days(days: Option<u32>) -> Result<(), CatalogError> {
    match days {
        Some(d) if d == 0 || d > MAX_ACCESS_DAYS => Err(CatalogError::Invalid(format!(
            "access_days: from 1 to {MAX_ACCESS_DAYS}, or null for lifetime access"
        ))),
        _ => Ok(()),
    }
}

/// Allowed sources as given (CIDRs or single addresses), checked and stored
/// in their canonical form (`10.1.2.3/8` → `10.0.0.0/8`, `203.0.113.9` →
/// `203.0.113.9/32`).
fn check_sources(sources: Vec<String>) -> Result<Vec<String>, CatalogError> {
    if sources.len() > MAX_SOURCES {
        return Err(CatalogError::Invalid(format!(
            "allowed_sources: at most {MAX_SOURCES} entries"
        )));
    }
    let mut nets = Vec::with_capacity(sources.len());
    for s in &sources {
        let net = crate::client_ip::parse_net(s).ok_or_else(|| {
            CatalogError::Invalid(format!(
                "allowed_sources: {s:?} is not an address or a CIDR such as 203.0.113.0/24"
            ))
        })?;
        nets.push(net.to_string());
    }
    nets.sort();
    nets.dedup();
    Ok(nets)
}

/// What the API asks to create.
#[derive(Debug, Clone)]
pub struct NewInboundUrl {
    pub name: String,
    pub gateway: GatewayKind,
    pub slug: Option<String>,
    pub access_days: Option<u32>,
    pub product_ids: Vec<ProductId>,
    pub category_ids: Vec<CategoryId>,
    pub is_enabled: bool,
    pub allowed_sources: Vec<String>,
}

/// Fields to change; absent ones stay. `access_days: Some(None)` clears it.
#[derive(Debug, Clone, Default)]
pub struct InboundUrlPatch {
    pub name: Option<String>,
    pub gateway: Option<GatewayKind>,
    pub slug: Option<String>,
    pub access_days: Option<Option<u32>>,
    pub product_ids: Option<Vec<ProductId>>,
    pub category_ids: Option<Vec<CategoryId>>,
    pub is_enabled: Option<bool>,
    pub allowed_sources: Option<Vec<String>>,
}

fn conflict(slug: &str) -> CatalogError {
    CatalogError::Conflict(format!("slug {slug:?} is already used in this workspace"))
}

pub async fn create_inbound_url(
    store: &dyn Store,
    ws: &WorkspaceId,
    new: NewInboundUrl,
    now: DateTime<Utc>,
) -> Result<InboundUrl, CatalogError> {
    let name = clean_name("name", &new.name)?;
    check_access_days(new.access_days)?;
    let allowed_sources = check_sources(new.allowed_sources)?;
    check_products_exist(store, ws, &new.product_ids).await?;
    check_categories_exist(store, ws, &new.category_ids).await?;
    let explicit = new.slug.is_some();
    let base = match new.slug {
        Some(s) => {
            check_slug(&s)?;
            s
        }
        None => slugify(&name),
    };
    let mut url = InboundUrl {
        id: InboundUrlId::new(),
        workspace_id: ws.clone(),
        name,
        gateway: new.gateway,
        slug: base.clone(),
        access_days: new.access_days,
        product_ids: new.product_ids,
        category_ids: new.category_ids,
        is_enabled: new.is_enabled,
        allowed_sources,
        created_at: now,
    };
    // A generated slug that is taken gets a number; an explicit one is a 409.
    for n in 2..=100 {
        match store.insert_inbound_url(&url).await {
            Ok(()) => return Ok(url),
            Err(StoreError::Conflict(_)) if !explicit => url.slug = format!("{base}-{n}"),
            Err(StoreError::Conflict(_)) => return Err(conflict(&url.slug)),
            Err(e) => return Err(e.into()),
        }
    }
    Err(conflict(&base))
}

pub async fn get_inbound_url(
    store: &dyn Store,
    ws: &WorkspaceId,
    id: &InboundUrlId,
) -> Result<InboundUrl, CatalogError> {
    store
        .get_inbound_url(ws, id)
        .await
        .map_err(named("inbound URL"))
}

pub async fn update_inbound_url(
    store: &dyn Store,
    ws: &WorkspaceId,
    id: &InboundUrlId,
    patch: InboundUrlPatch,
) -> Result<InboundUrl, CatalogError> {
    let mut url = get_inbound_url(store, ws, id).await?;
    if let Some(name) = patch.name {
        url.name = clean_name("name", &name)?;
    }
    if let Some(gateway) = patch.gateway {
        url.gateway = gateway;
    }
    if let Some(slug) = patch.slug {
        check_slug(&slug)?;
        url.slug = slug;
    }
    if let Some(days) = patch.access_days {
        check_access_days(days)?;
        url.access_days = days;
    }
    if let Some(ids) = patch.product_ids {
        check_products_exist(store, ws, &ids).await?;
        url.product_ids = ids;
    }
    if let Some(ids) = patch.category_ids {
        check_categories_exist(store, ws, &ids).await?;
        url.category_ids = ids;
    }
    if let Some(enabled) = patch.is_enabled {
        url.is_enabled = enabled;
    }
    if let Some(sources) = patch.allowed_sources {
        url.allowed_sources = check_sources(sources)?;
    }
    match store.update_inbound_url(&url).await {
        Ok(()) => Ok(url),
        Err(StoreError::Conflict(_)) => Err(conflict(&url.slug)),
        Err(e) => Err(named("inbound URL")(e)),
    }
}

pub async fn delete_inbound_url(
    store: &dyn Store,
    ws: &WorkspaceId,
    id: &InboundUrlId,
) -> Result<(), CatalogError> {
    store
        .delete_inbound_url(ws, id)
        .await
        .map_err(named("inbound URL"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_are_made_from_names() {
        assert_eq!(slugify("Curso Básico de Excel!"), "curso-basico-de-excel");
        assert_eq!(slugify("  --Ação 2025--  "), "acao-2025");
        assert_eq!(slugify("!!!"), "url");
        assert!(check_slug(&slugify(&"x".repeat(300))).is_ok());
    }

    #[test]
    fn bad_slugs_are_refused() {
        for bad in ["", "Upper", "with space", "-lead", "trail-", "acentuação"] {
            assert!(check_slug(bad).is_err(), "{bad}");
        }
        assert!(check_slug("hotmart-2025").is_ok());
    }
}
