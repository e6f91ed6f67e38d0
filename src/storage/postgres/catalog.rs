//! PostgreSQL: workspaces, API keys, products, categories, inbound URLs and gateway keys.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::{PgConnection, Postgres};

use super::{col, map_err, ms, parse_id, PgStore};
use crate::ids::{ApiKeyId, CategoryId, InboundUrlId, KeyId, ProductId, WorkspaceId};
use crate::model::{ApiKey, Category, GatewayKey, GatewayKind, InboundUrl, Product, Workspace};
use crate::storage::rows::{self, to_json};
use crate::storage::{
    CatalogStore, InboundUrlStore, KeyStore, Page, StoreError, StoreResult, UiSession,
    WorkspaceStore, UI_SESSION,
};

#[async_trait]
impl WorkspaceStore for PgStore {
    async fn default_workspace(&self) -> StoreResult<Option<Workspace>> {
        let row = sqlx::query("SELECT * FROM workspaces ORDER BY created_at, id LIMIT 1")
            .fetch_optional(&self.reader)
            .await
            .map_err(map_err)?;
        row.as_ref().map(rows::workspace).transpose()
    }

    async fn insert_workspace(&self, w: &Workspace) -> StoreResult<()> {
        let _changing = self.config.changing();
        sqlx::query(
            "INSERT INTO workspaces (id, name, public_id, created_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(w.id.as_str())
        .bind(&w.name)
        .bind(&w.public_id)
        .bind(ms(w.created_at))
        .execute(&self.writer)
        .await
        .map_err(map_err)?;
        Ok(())
    }

    async fn get_workspace(&self, id: &WorkspaceId) -> StoreResult<Workspace> {
        let row = sqlx::query("SELECT * FROM workspaces WHERE id = $1")
            .bind(id.as_str())
            .fetch_one(&self.reader)
            .await
            .map_err(map_err)?;
        rows::workspace(&row)
    }

    async fn workspace_by_public_id(&self, public_id: &str) -> StoreResult<Option<Workspace>> {
        let load = async {
            let row = sqlx::query("SELECT * FROM workspaces WHERE public_id = $1")
                .bind(public_id)
                .fetch_optional(&self.reader)
                .await
                .map_err(map_err)?;
            row.as_ref().map(rows::workspace).transpose()
        };
        let key = format!("workspace:{public_id}");
        self.config.get_or_load(key, load).await
    }

    async fn insert_api_key(&self, k: &ApiKey) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO api_keys (id, workspace_id, name, token_hash, is_bootstrap, created_at)
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(k.id.as_str())
        .bind(k.workspace_id.as_str())
        .bind(&k.name)
        .bind(&k.token_hash)
        .bind(k.is_bootstrap)
        .bind(ms(k.created_at))
        .execute(&self.writer)
        .await
        .map_err(map_err)?;
        Ok(())
    }

    async fn api_key_by_hash(&self, token_hash: &str) -> StoreResult<Option<ApiKey>> {
        let row = sqlx::query("SELECT * FROM api_keys WHERE token_hash = $1")
            .bind(token_hash)
            .fetch_optional(&self.reader)
            .await
            .map_err(map_err)?;
        row.as_ref().map(rows::api_key).transpose()
    }

    async fn bootstrap_api_key(&self, ws: &WorkspaceId) -> StoreResult<Option<ApiKey>> {
        let row =
            sqlx::query("SELECT * FROM api_keys WHERE workspace_id = $1 AND is_bootstrap LIMIT 1")
                .bind(ws.as_str())
                .fetch_optional(&self.reader)
                .await
                .map_err(map_err)?;
        row.as_ref().map(rows::api_key).transpose()
    }

    async fn set_api_key_hash(&self, id: &ApiKeyId, token_hash: &str) -> StoreResult<()> {
        sqlx::query("UPDATE api_keys SET token_hash = $1 WHERE id = $2")
            .bind(token_hash)
            .bind(id.as_str())
            .execute(&self.writer)
            .await
            .map_err(map_err)?;
        Ok(())
    }

    async fn list_api_keys(&self, ws: &WorkspaceId, page: &Page) -> StoreResult<Vec<ApiKey>> {
        let rows = sqlx::query(
            "SELECT * FROM api_keys WHERE workspace_id = $1 AND ($2::text IS NULL OR id > $2) ORDER BY id LIMIT $3",
        )
        .bind(ws.as_str())
        .bind(page.after.as_deref())
        .bind(i64::from(page.limit.max(1)))
        .fetch_all(&self.reader)
        .await
        .map_err(map_err)?;
        rows.iter().map(rows::api_key).collect()
    }

    async fn delete_api_key(&self, ws: &WorkspaceId, id: &ApiKeyId) -> StoreResult<()> {
        let result = sqlx::query(
            "DELETE FROM api_keys WHERE workspace_id = $1 AND id = $2 AND NOT is_bootstrap",
        )
        .bind(ws.as_str())
        .bind(id.as_str())
        .execute(&self.writer)
        .await
        .map_err(map_err)?;
        ensure_changed(result).await
    }

    async fn insert_ui_session(&self, s: &UiSession) -> StoreResult<()> {
        sqlx::query("DELETE FROM ui_sessions WHERE expires_at < $1")
            .bind(ms(s.created_at))
            .execute(&self.writer)
            .await
            .map_err(map_err)?;
        sqlx::query(
            "INSERT INTO ui_sessions (id, workspace_id, api_key_id, token_hash, created_at, expires_at)
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&s.id)
        .bind(s.workspace_id.as_str())
        .bind(s.api_key_id.as_str())
        .bind(&s.token_hash)
        .bind(ms(s.created_at))
        .bind(ms(s.expires_at))
        .execute(&self.writer)
        .await
        .map_err(map_err)?;
        Ok(())
    }

    async fn ui_session(&self, id: &str, now: DateTime<Utc>) -> StoreResult<Option<UiSession>> {
        let row = sqlx::query(UI_SESSION)
            .bind(id)
            .bind(ms(now))
            .fetch_optional(&self.reader)
            .await
            .map_err(map_err)?;
        row.as_ref().map(rows::ui_session).transpose()
    }

    async fn delete_ui_session(&self, id: &str) -> StoreResult<()> {
        sqlx::query("DELETE FROM ui_sessions WHERE id = $1")
            .bind(id)
            .execute(&self.writer)
            .await
            .map_err(map_err)?;
        Ok(())
    }
}

/// Rows of a `(parent id, child id)` table for the given parents, in position order.
async fn children(
    db: &sqlx::PgPool,
    sql_prefix: &str,
    parents: &[&str],
) -> StoreResult<Vec<sqlx::postgres::PgRow>> {
    if parents.is_empty() {
        return Ok(Vec::new());
    }
    let mut qb = sqlx::QueryBuilder::<Postgres>::new(sql_prefix);
    qb.push(" (");
    let mut list = qb.separated(", ");
    for p in parents {
        list.push_bind(*p);
    }
    qb.push(") ORDER BY position");
    qb.build().fetch_all(db).await.map_err(map_err)
}

fn page_bounds(page: &Page) -> (Option<String>, i64) {
    (page.after.clone(), i64::from(page.limit.max(1)))
}

async fn ensure_changed(result: sqlx::postgres::PgQueryResult) -> StoreResult<()> {
    if result.rows_affected() == 0 {
        return Err(StoreError::NotFound);
    }
    Ok(())
}

async fn write_external_ids(conn: &mut PgConnection, p: &Product) -> StoreResult<()> {
    sqlx::query("DELETE FROM product_external_ids WHERE product_id = $1")
        .bind(p.id.as_str())
        .execute(&mut *conn)
        .await
        .map_err(map_err)?;
    for (i, e) in p.external_ids.iter().enumerate() {
        sqlx::query(
            "INSERT INTO product_external_ids (product_id, workspace_id, gateway, external_id, position)
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
        )
        .bind(p.id.as_str())
        .bind(p.workspace_id.as_str())
        .bind(e.gateway.as_str())
        .bind(&e.id)
        .bind(i as i64)
        .execute(&mut *conn)
        .await
        .map_err(map_err)?;
    }
    Ok(())
}

/// Replaces the rows of a link table (`category_products`, `inbound_url_products`, ...).
async fn write_links(
    conn: &mut PgConnection,
    table: &str,
    parent_col: &str,
    child_col: &str,
    parent: &str,
    children: &[&str],
) -> StoreResult<()> {
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "DELETE FROM {table} WHERE {parent_col} = $1"
    )))
    .bind(parent)
    .execute(&mut *conn)
    .await
    .map_err(map_err)?;
    for (i, child) in children.iter().enumerate() {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "INSERT INTO {table} ({parent_col}, {child_col}, position) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING"
        )))
        .bind(parent)
        .bind(*child)
        .bind(i as i64)
        .execute(&mut *conn)
        .await
        .map_err(map_err)?;
    }
    Ok(())
}

impl PgStore {
    async fn products_from_rows(
        &self,
        rows: Vec<sqlx::postgres::PgRow>,
    ) -> StoreResult<Vec<Product>> {
        let ids = rows
            .iter()
            .map(|r| col::<&str>(r, "id"))
            .collect::<StoreResult<Vec<_>>>()?;
        let ext = children(
            &self.reader,
            "SELECT product_id, gateway, external_id FROM product_external_ids WHERE product_id IN",
            &ids,
        )
        .await?;
        rows::products(&rows, &ext)
    }

    async fn categories_from_rows(
        &self,
        rows: Vec<sqlx::postgres::PgRow>,
    ) -> StoreResult<Vec<Category>> {
        let ids = rows
            .iter()
            .map(|r| col::<&str>(r, "id"))
            .collect::<StoreResult<Vec<_>>>()?;
        let links = children(
            &self.reader,
            "SELECT category_id, product_id FROM category_products WHERE category_id IN",
            &ids,
        )
        .await?;
        rows::categories(&rows, &links)
    }

    async fn inbound_urls_from_rows(
        &self,
        rows: Vec<sqlx::postgres::PgRow>,
    ) -> StoreResult<Vec<InboundUrl>> {
        let ids = rows
            .iter()
            .map(|r| col::<&str>(r, "id"))
            .collect::<StoreResult<Vec<_>>>()?;
        let products = children(
            &self.reader,
            "SELECT inbound_url_id, product_id FROM inbound_url_products WHERE inbound_url_id IN",
            &ids,
        )
        .await?;
        let categories = children(
            &self.reader,
            "SELECT inbound_url_id, category_id FROM inbound_url_categories WHERE inbound_url_id IN",
            &ids,
        )
        .await?;
        rows::inbound_urls(&rows, &products, &categories)
    }

    async fn write_inbound_url_links(conn: &mut PgConnection, u: &InboundUrl) -> StoreResult<()> {
        let products: Vec<&str> = u.product_ids.iter().map(|p| p.as_str()).collect();
        write_links(
            conn,
            "inbound_url_products",
            "inbound_url_id",
            "product_id",
            u.id.as_str(),
            &products,
        )
        .await?;
        let categories: Vec<&str> = u.category_ids.iter().map(|c| c.as_str()).collect();
        write_links(
            conn,
            "inbound_url_categories",
            "inbound_url_id",
            "category_id",
            u.id.as_str(),
            &categories,
        )
        .await
    }
}

fn one<T>(mut items: Vec<T>) -> StoreResult<T> {
    items.pop().ok_or(StoreError::NotFound)
}

#[async_trait]
impl CatalogStore for PgStore {
    async fn insert_product(&self, p: &Product) -> StoreResult<()> {
        let _changing = self.config.changing();
        let mut tx = self.write_tx().await?;
        sqlx::query(
            "INSERT INTO products (id, workspace_id, name, created_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(p.id.as_str())
        .bind(p.workspace_id.as_str())
        .bind(&p.name)
        .bind(ms(p.created_at))
        .execute(&mut *tx)
        .await
        .map_err(map_err)?;
        write_external_ids(&mut tx, p).await?;
        tx.commit().await
    }

    async fn get_product(&self, ws: &WorkspaceId, id: &ProductId) -> StoreResult<Product> {
        let rows = sqlx::query("SELECT * FROM products WHERE workspace_id = $1 AND id = $2")
            .bind(ws.as_str())
            .bind(id.as_str())
            .fetch_all(&self.reader)
            .await
            .map_err(map_err)?;
        one(self.products_from_rows(rows).await?)
    }

    async fn list_products(&self, ws: &WorkspaceId, page: &Page) -> StoreResult<Vec<Product>> {
        let (after, limit) = page_bounds(page);
        let rows = sqlx::query(
            "SELECT * FROM products WHERE workspace_id = $1 AND ($2::text IS NULL OR id > $2) ORDER BY id LIMIT $3",
        )
        .bind(ws.as_str())
        .bind(after)
        .bind(limit)
        .fetch_all(&self.reader)
        .await
        .map_err(map_err)?;
        self.products_from_rows(rows).await
    }

    async fn update_product(&self, p: &Product) -> StoreResult<()> {
        let _changing = self.config.changing();
        let mut tx = self.write_tx().await?;
        let result =
            sqlx::query("UPDATE products SET name = $1 WHERE workspace_id = $2 AND id = $3")
                .bind(&p.name)
                .bind(p.workspace_id.as_str())
                .bind(p.id.as_str())
                .execute(&mut *tx)
                .await
                .map_err(map_err)?;
        ensure_changed(result).await?;
        write_external_ids(&mut tx, p).await?;
        tx.commit().await
    }

    async fn delete_product(&self, ws: &WorkspaceId, id: &ProductId) -> StoreResult<()> {
        let _changing = self.config.changing();
        let result = sqlx::query("DELETE FROM products WHERE workspace_id = $1 AND id = $2")
            .bind(ws.as_str())
            .bind(id.as_str())
            .execute(&self.writer)
            .await
            .map_err(map_err)?;
        ensure_changed(result).await
    }

    async fn products_by_external_id(
        &self,
        ws: &WorkspaceId,
        gw: GatewayKind,
        external_id: &str,
    ) -> StoreResult<Vec<ProductId>> {
        let load = async {
            let rows = sqlx::query(
                "SELECT product_id FROM product_external_ids
                 WHERE workspace_id = $1 AND gateway = $2 AND external_id = $3 ORDER BY product_id",
            )
            .bind(ws.as_str())
            .bind(gw.as_str())
            .bind(external_id)
            .fetch_all(&self.reader)
            .await
            .map_err(map_err)?;
            rows.iter()
                .map(|r| parse_id(col(r, "product_id")?, ProductId::parse))
                .collect()
        };
        let key = format!("products:{ws}:{gw}:{external_id}");
        self.config.get_or_load(key, load).await
    }

    async fn insert_category(&self, c: &Category) -> StoreResult<()> {
        let _changing = self.config.changing();
        let mut tx = self.write_tx().await?;
        sqlx::query(
            "INSERT INTO categories (id, workspace_id, name, created_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(c.id.as_str())
        .bind(c.workspace_id.as_str())
        .bind(&c.name)
        .bind(ms(c.created_at))
        .execute(&mut *tx)
        .await
        .map_err(map_err)?;
        let products: Vec<&str> = c.product_ids.iter().map(|p| p.as_str()).collect();
        write_links(
            &mut tx,
            "category_products",
            "category_id",
            "product_id",
            c.id.as_str(),
            &products,
        )
        .await?;
        tx.commit().await
    }

    async fn get_category(&self, ws: &WorkspaceId, id: &CategoryId) -> StoreResult<Category> {
        let rows = sqlx::query("SELECT * FROM categories WHERE workspace_id = $1 AND id = $2")
            .bind(ws.as_str())
            .bind(id.as_str())
            .fetch_all(&self.reader)
            .await
            .map_err(map_err)?;
        one(self.categories_from_rows(rows).await?)
    }

    async fn list_categories(&self, ws: &WorkspaceId, page: &Page) -> StoreResult<Vec<Category>> {
        let (after, limit) = page_bounds(page);
        let rows = sqlx::query(
            "SELECT * FROM categories WHERE workspace_id = $1 AND ($2::text IS NULL OR id > $2) ORDER BY id LIMIT $3",
        )
        .bind(ws.as_str())
        .bind(after)
        .bind(limit)
        .fetch_all(&self.reader)
        .await
        .map_err(map_err)?;
        self.categories_from_rows(rows).await
    }

    async fn update_category(&self, c: &Category) -> StoreResult<()> {
        let _changing = self.config.changing();
        let mut tx = self.write_tx().await?;
        let result =
            sqlx::query("UPDATE categories SET name = $1 WHERE workspace_id = $2 AND id = $3")
                .bind(&c.name)
                .bind(c.workspace_id.as_str())
                .bind(c.id.as_str())
                .execute(&mut *tx)
                .await
                .map_err(map_err)?;
        ensure_changed(result).await?;
        let products: Vec<&str> = c.product_ids.iter().map(|p| p.as_str()).collect();
        write_links(
            &mut tx,
            "category_products",
            "category_id",
            "product_id",
            c.id.as_str(),
            &products,
        )
        .await?;
        tx.commit().await
    }

    async fn delete_category(&self, ws: &WorkspaceId, id: &CategoryId) -> StoreResult<()> {
        let _changing = self.config.changing();
        let result = sqlx::query("DELETE FROM categories WHERE workspace_id = $1 AND id = $2")
            .bind(ws.as_str())
            .bind(id.as_str())
            .execute(&self.writer)
            .await
            .map_err(map_err)?;
        ensure_changed(result).await
    }
}

#[async_trait]
impl InboundUrlStore for PgStore {
    async fn insert_inbound_url(&self, u: &InboundUrl) -> StoreResult<()> {
        let _changing = self.config.changing();
        let mut tx = self.write_tx().await?;
        sqlx::query(
            "INSERT INTO inbound_urls (id, workspace_id, name, gateway, slug, access_days, is_enabled, created_at,
                 allowed_sources)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(u.id.as_str())
        .bind(u.workspace_id.as_str())
        .bind(&u.name)
        .bind(u.gateway.as_str())
        .bind(&u.slug)
        .bind(u.access_days.map(i64::from))
        .bind(u.is_enabled)
        .bind(ms(u.created_at))
        .bind(to_json(&u.allowed_sources))
        .execute(&mut *tx)
        .await
        .map_err(map_err)?;
        Self::write_inbound_url_links(&mut tx, u).await?;
        tx.commit().await
    }

    async fn get_inbound_url(
        &self,
        ws: &WorkspaceId,
        id: &InboundUrlId,
    ) -> StoreResult<InboundUrl> {
        let rows = sqlx::query("SELECT * FROM inbound_urls WHERE workspace_id = $1 AND id = $2")
            .bind(ws.as_str())
            .bind(id.as_str())
            .fetch_all(&self.reader)
            .await
            .map_err(map_err)?;
        one(self.inbound_urls_from_rows(rows).await?)
    }

    async fn inbound_url_by_slug(
        &self,
        ws: &WorkspaceId,
        slug: &str,
    ) -> StoreResult<Option<InboundUrl>> {
        let load = async {
            let rows =
                sqlx::query("SELECT * FROM inbound_urls WHERE workspace_id = $1 AND slug = $2")
                    .bind(ws.as_str())
                    .bind(slug)
                    .fetch_all(&self.reader)
                    .await
                    .map_err(map_err)?;
            Ok(self.inbound_urls_from_rows(rows).await?.pop())
        };
        let key = format!("inbound_url:{ws}:{slug}");
        self.config.get_or_load(key, load).await
    }

    async fn list_inbound_urls(
        &self,
        ws: &WorkspaceId,
        page: &Page,
    ) -> StoreResult<Vec<InboundUrl>> {
        let (after, limit) = page_bounds(page);
        let rows = sqlx::query(
            "SELECT * FROM inbound_urls WHERE workspace_id = $1 AND ($2::text IS NULL OR id > $2) ORDER BY id LIMIT $3",
        )
        .bind(ws.as_str())
        .bind(after)
        .bind(limit)
        .fetch_all(&self.reader)
        .await
        .map_err(map_err)?;
        self.inbound_urls_from_rows(rows).await
    }

    async fn update_inbound_url(&self, u: &InboundUrl) -> StoreResult<()> {
        let _changing = self.config.changing();
        let mut tx = self.write_tx().await?;
        let result = sqlx::query(
            "UPDATE inbound_urls SET name = $1, gateway = $2, slug = $3, access_days = $4, is_enabled = $5,
                 allowed_sources = $8
             WHERE workspace_id = $6 AND id = $7",
        )
        .bind(&u.name)
        .bind(u.gateway.as_str())
        .bind(&u.slug)
        .bind(u.access_days.map(i64::from))
        .bind(u.is_enabled)
        .bind(u.workspace_id.as_str())
        .bind(u.id.as_str())
        .bind(to_json(&u.allowed_sources))
        .execute(&mut *tx)
        .await
        .map_err(map_err)?;
        ensure_changed(result).await?;
        Self::write_inbound_url_links(&mut tx, u).await?;
        tx.commit().await
    }

    async fn delete_inbound_url(&self, ws: &WorkspaceId, id: &InboundUrlId) -> StoreResult<()> {
        let _changing = self.config.changing();
        let result = sqlx::query("DELETE FROM inbound_urls WHERE workspace_id = $1 AND id = $2")
            .bind(ws.as_str())
            .bind(id.as_str())
            .execute(&self.writer)
            .await
            .map_err(map_err)?;
        ensure_changed(result).await
    }
}

#[async_trait]
impl KeyStore for PgStore {
    async fn insert_key(&self, k: &GatewayKey) -> StoreResult<()> {
        let _changing = self.config.changing();
        sqlx::query(
            "INSERT INTO gateway_keys (id, workspace_id, gateway, name, secret, created_at, api_key)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(k.id.as_str())
        .bind(k.workspace_id.as_str())
        .bind(k.gateway.as_str())
        .bind(&k.name)
        .bind(&k.secret)
        .bind(ms(k.created_at))
        .bind(k.api_key.as_deref())
        .execute(&self.writer)
        .await
        .map_err(map_err)?;
        Ok(())
    }

    async fn list_keys(&self, ws: &WorkspaceId, page: &Page) -> StoreResult<Vec<GatewayKey>> {
        let (after, limit) = page_bounds(page);
        let rows = sqlx::query(
            "SELECT * FROM gateway_keys WHERE workspace_id = $1 AND ($2::text IS NULL OR id > $2) ORDER BY id LIMIT $3",
        )
        .bind(ws.as_str())
        .bind(after)
        .bind(limit)
        .fetch_all(&self.reader)
        .await
        .map_err(map_err)?;
        rows.iter().map(rows::gateway_key).collect()
    }

    async fn all_keys(&self, ws: &WorkspaceId) -> StoreResult<Vec<GatewayKey>> {
        let load = async {
            let rows =
                sqlx::query("SELECT * FROM gateway_keys WHERE workspace_id = $1 ORDER BY id")
                    .bind(ws.as_str())
                    .fetch_all(&self.reader)
                    .await
                    .map_err(map_err)?;
            rows.iter().map(rows::gateway_key).collect()
        };
        self.config.get_or_load(format!("keys:{ws}"), load).await
    }

    async fn delete_key(&self, ws: &WorkspaceId, id: &KeyId) -> StoreResult<()> {
        let _changing = self.config.changing();
        let result = sqlx::query("DELETE FROM gateway_keys WHERE workspace_id = $1 AND id = $2")
            .bind(ws.as_str())
            .bind(id.as_str())
            .execute(&self.writer)
            .await
            .map_err(map_err)?;
        ensure_changed(result).await
    }
}
