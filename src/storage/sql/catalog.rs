//! Workspaces, API keys, UI sessions, products, categories, inbound URLs
//! and gateway keys: `WorkspaceStore`, `CatalogStore`, `InboundUrlStore`
//! and `KeyStore` for both backends (see the module above for the names a
//! backend provides). Reads of the configuration every inbound call needs
//! go through the store's cache; every write that changes it holds
//! `config.changing()` so no read started before it is cached after it.

/// Expands, in a backend's `mod.rs`, into the four traits' implementations
/// for `$Store`.
macro_rules! implement {
    ($Store:ident) => {
        #[async_trait::async_trait]
        impl $crate::storage::WorkspaceStore for $Store {
            async fn default_workspace(
                &self,
            ) -> $crate::storage::StoreResult<Option<$crate::model::Workspace>> {
                let row = sqlx::query("SELECT * FROM workspaces ORDER BY created_at, id LIMIT 1")
                    .fetch_optional(&self.reader)
                    .await
                    .map_err(map_err)?;
                row.as_ref().map($crate::storage::rows::workspace).transpose()
            }

            async fn insert_workspace(
                &self,
                w: &$crate::model::Workspace,
            ) -> $crate::storage::StoreResult<()> {
                let _changing = self.config.changing();
                sqlx::query(
                    "INSERT INTO workspaces (id, name, public_id, created_at) VALUES ($1, $2, $3, $4)",
                )
                .bind(w.id.as_str())
                .bind(&w.name)
                .bind(&w.public_id)
                .bind(ms(w.created_at))
                .execute(&mut *self.write_conn().await?)
                .await
                .map_err(map_err)?;
                Ok(())
            }

            async fn get_workspace(
                &self,
                id: &$crate::ids::WorkspaceId,
            ) -> $crate::storage::StoreResult<$crate::model::Workspace> {
                let row = sqlx::query("SELECT * FROM workspaces WHERE id = $1")
                    .bind(id.as_str())
                    .fetch_one(&self.reader)
                    .await
                    .map_err(map_err)?;
                $crate::storage::rows::workspace(&row)
            }

            async fn workspace_by_public_id(
                &self,
                public_id: &str,
            ) -> $crate::storage::StoreResult<Option<$crate::model::Workspace>> {
                let load = async {
                    let row = sqlx::query("SELECT * FROM workspaces WHERE public_id = $1")
                        .bind(public_id)
                        .fetch_optional(&self.reader)
                        .await
                        .map_err(map_err)?;
                    row.as_ref().map($crate::storage::rows::workspace).transpose()
                };
                let key = format!("workspace:{public_id}");
                self.config.get_or_load(key, load).await
            }

            async fn insert_api_key(
                &self,
                k: &$crate::model::ApiKey,
            ) -> $crate::storage::StoreResult<()> {
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
                .execute(&mut *self.write_conn().await?)
                .await
                .map_err(map_err)?;
                Ok(())
            }

            async fn api_key_by_hash(
                &self,
                token_hash: &str,
            ) -> $crate::storage::StoreResult<Option<$crate::model::ApiKey>> {
                let row = sqlx::query("SELECT * FROM api_keys WHERE token_hash = $1")
                    .bind(token_hash)
                    .fetch_optional(&self.reader)
                    .await
                    .map_err(map_err)?;
                row.as_ref().map($crate::storage::rows::api_key).transpose()
            }

            async fn bootstrap_api_key(
                &self,
                ws: &$crate::ids::WorkspaceId,
            ) -> $crate::storage::StoreResult<Option<$crate::model::ApiKey>> {
                let row = sqlx::query(
                    "SELECT * FROM api_keys WHERE workspace_id = $1 AND is_bootstrap LIMIT 1",
                )
                .bind(ws.as_str())
                .fetch_optional(&self.reader)
                .await
                .map_err(map_err)?;
                row.as_ref().map($crate::storage::rows::api_key).transpose()
            }

            async fn set_api_key_hash(
                &self,
                id: &$crate::ids::ApiKeyId,
                token_hash: &str,
            ) -> $crate::storage::StoreResult<()> {
                sqlx::query("UPDATE api_keys SET token_hash = $1 WHERE id = $2")
                    .bind(token_hash)
                    .bind(id.as_str())
                    .execute(&mut *self.write_conn().await?)
                    .await
                    .map_err(map_err)?;
                Ok(())
            }

            async fn list_api_keys(
                &self,
                ws: &$crate::ids::WorkspaceId,
                page: &$crate::storage::Page,
            ) -> $crate::storage::StoreResult<Vec<$crate::model::ApiKey>> {
                let (after, limit) = $crate::storage::sql::page_bounds(page);
                let rows = sqlx::query(
                    "SELECT * FROM api_keys WHERE workspace_id = $1 AND (CAST($2 AS TEXT) IS NULL OR id > $2)
                     ORDER BY id LIMIT $3",
                )
                .bind(ws.as_str())
                .bind(after)
                .bind(limit)
                .fetch_all(&self.reader)
                .await
                .map_err(map_err)?;
                rows.iter().map($crate::storage::rows::api_key).collect()
            }

            async fn delete_api_key(
                &self,
                ws: &$crate::ids::WorkspaceId,
                id: &$crate::ids::ApiKeyId,
            ) -> $crate::storage::StoreResult<()> {
                let result = sqlx::query(
                    "DELETE FROM api_keys WHERE workspace_id = $1 AND id = $2 AND NOT is_bootstrap",
                )
                .bind(ws.as_str())
                .bind(id.as_str())
                .execute(&mut *self.write_conn().await?)
                .await
                .map_err(map_err)?;
                $crate::storage::sql::changed(result.rows_affected())
            }

            async fn insert_ui_session(
                &self,
                s: &$crate::storage::UiSession,
            ) -> $crate::storage::StoreResult<()> {
                let mut conn = self.write_conn().await?;
                sqlx::query("DELETE FROM ui_sessions WHERE expires_at < $1")
                    .bind(ms(s.created_at))
                    .execute(&mut *conn)
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
                .execute(&mut *conn)
                .await
                .map_err(map_err)?;
                Ok(())
            }

            async fn ui_session(
                &self,
                id: &str,
                now: chrono::DateTime<chrono::Utc>,
            ) -> $crate::storage::StoreResult<Option<$crate::storage::UiSession>> {
                let row = sqlx::query($crate::storage::UI_SESSION)
                    .bind(id)
                    .bind(ms(now))
                    .fetch_optional(&self.reader)
                    .await
                    .map_err(map_err)?;
                row.as_ref().map($crate::storage::rows::ui_session).transpose()
            }

            async fn delete_ui_session(&self, id: &str) -> $crate::storage::StoreResult<()> {
                sqlx::query("DELETE FROM ui_sessions WHERE id = $1")
                    .bind(id)
                    .execute(&mut *self.write_conn().await?)
                    .await
                    .map_err(map_err)?;
                Ok(())
            }
        }

        /// Rows of a `(parent id, child id)` table for the given parents, in
        /// position order.
        async fn children(
            db: &sqlx::Pool<Db>,
            sql_prefix: &str,
            parents: &[&str],
        ) -> $crate::storage::StoreResult<Vec<<Db as sqlx::Database>::Row>> {
            if parents.is_empty() {
                return Ok(Vec::new());
            }
            let mut qb = sqlx::QueryBuilder::<Db>::new(sql_prefix);
            qb.push(" (");
            let mut list = qb.separated(", ");
            for p in parents {
                list.push_bind(*p);
            }
            qb.push(") ORDER BY position");
            qb.build().fetch_all(db).await.map_err(map_err)
        }

        async fn write_external_ids(
            conn: &mut <Db as sqlx::Database>::Connection,
            p: &$crate::model::Product,
        ) -> $crate::storage::StoreResult<()> {
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

        /// Replaces the rows of a link table (`category_products`,
        /// `inbound_url_products`, ...).
        async fn write_links(
            conn: &mut <Db as sqlx::Database>::Connection,
            table: &str,
            parent_col: &str,
            child_col: &str,
            parent: &str,
            children: &[&str],
        ) -> $crate::storage::StoreResult<()> {
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "DELETE FROM {table} WHERE {parent_col} = $1"
            )))
            .bind(parent)
            .execute(&mut *conn)
            .await
            .map_err(map_err)?;
            for (i, child) in children.iter().enumerate() {
                sqlx::query(sqlx::AssertSqlSafe(format!(
                    "INSERT INTO {table} ({parent_col}, {child_col}, position) VALUES ($1, $2, $3)
                     ON CONFLICT DO NOTHING"
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

        impl $Store {
            async fn products_from_rows(
                &self,
                rows: Vec<<Db as sqlx::Database>::Row>,
            ) -> $crate::storage::StoreResult<Vec<$crate::model::Product>> {
                let ids = rows
                    .iter()
                    .map(|r| col::<&str>(r, "id"))
                    .collect::<$crate::storage::StoreResult<Vec<_>>>()?;
                let ext = children(
                    &self.reader,
                    "SELECT product_id, gateway, external_id FROM product_external_ids WHERE product_id IN",
                    &ids,
                )
                .await?;
                $crate::storage::rows::products(&rows, &ext)
            }

            async fn categories_from_rows(
                &self,
                rows: Vec<<Db as sqlx::Database>::Row>,
            ) -> $crate::storage::StoreResult<Vec<$crate::model::Category>> {
                let ids = rows
                    .iter()
                    .map(|r| col::<&str>(r, "id"))
                    .collect::<$crate::storage::StoreResult<Vec<_>>>()?;
                let links = children(
                    &self.reader,
                    "SELECT category_id, product_id FROM category_products WHERE category_id IN",
                    &ids,
                )
                .await?;
                $crate::storage::rows::categories(&rows, &links)
            }

            async fn inbound_urls_from_rows(
                &self,
                rows: Vec<<Db as sqlx::Database>::Row>,
            ) -> $crate::storage::StoreResult<Vec<$crate::model::InboundUrl>> {
                let ids = rows
                    .iter()
                    .map(|r| col::<&str>(r, "id"))
                    .collect::<$crate::storage::StoreResult<Vec<_>>>()?;
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
                $crate::storage::rows::inbound_urls(&rows, &products, &categories)
            }

            async fn write_inbound_url_links(
                conn: &mut <Db as sqlx::Database>::Connection,
                u: &$crate::model::InboundUrl,
            ) -> $crate::storage::StoreResult<()> {
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

            /// Replaces a category's products.
            async fn write_category_products(
                conn: &mut <Db as sqlx::Database>::Connection,
                c: &$crate::model::Category,
            ) -> $crate::storage::StoreResult<()> {
                let products: Vec<&str> = c.product_ids.iter().map(|p| p.as_str()).collect();
                write_links(
                    conn,
                    "category_products",
                    "category_id",
                    "product_id",
                    c.id.as_str(),
                    &products,
                )
                .await
            }
        }

        #[async_trait::async_trait]
        impl $crate::storage::CatalogStore for $Store {
            async fn insert_product(
                &self,
                p: &$crate::model::Product,
            ) -> $crate::storage::StoreResult<()> {
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

            async fn get_product(
                &self,
                ws: &$crate::ids::WorkspaceId,
                id: &$crate::ids::ProductId,
            ) -> $crate::storage::StoreResult<$crate::model::Product> {
                let rows = sqlx::query("SELECT * FROM products WHERE workspace_id = $1 AND id = $2")
                    .bind(ws.as_str())
                    .bind(id.as_str())
                    .fetch_all(&self.reader)
                    .await
                    .map_err(map_err)?;
                $crate::storage::sql::one(self.products_from_rows(rows).await?)
            }

            async fn list_products(
                &self,
                ws: &$crate::ids::WorkspaceId,
                page: &$crate::storage::Page,
            ) -> $crate::storage::StoreResult<Vec<$crate::model::Product>> {
                let (after, limit) = $crate::storage::sql::page_bounds(page);
                let rows = sqlx::query(
                    "SELECT * FROM products WHERE workspace_id = $1 AND (CAST($2 AS TEXT) IS NULL OR id > $2)
                     ORDER BY id LIMIT $3",
                )
                .bind(ws.as_str())
                .bind(after)
                .bind(limit)
                .fetch_all(&self.reader)
                .await
                .map_err(map_err)?;
                self.products_from_rows(rows).await
            }

            async fn update_product(
                &self,
                p: &$crate::model::Product,
            ) -> $crate::storage::StoreResult<()> {
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
                $crate::storage::sql::changed(result.rows_affected())?;
                write_external_ids(&mut tx, p).await?;
                tx.commit().await
            }

            async fn delete_product(
                &self,
                ws: &$crate::ids::WorkspaceId,
                id: &$crate::ids::ProductId,
            ) -> $crate::storage::StoreResult<()> {
                let _changing = self.config.changing();
                let result = sqlx::query("DELETE FROM products WHERE workspace_id = $1 AND id = $2")
                    .bind(ws.as_str())
                    .bind(id.as_str())
                    .execute(&mut *self.write_conn().await?)
                    .await
                    .map_err(map_err)?;
                $crate::storage::sql::changed(result.rows_affected())
            }

            async fn products_by_external_id(
                &self,
                ws: &$crate::ids::WorkspaceId,
                gw: $crate::model::GatewayKind,
                external_id: &str,
            ) -> $crate::storage::StoreResult<Vec<$crate::ids::ProductId>> {
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
                        .map(|r| parse_id(col(r, "product_id")?, $crate::ids::ProductId::parse))
                        .collect()
                };
                let key = format!("products:{ws}:{gw}:{external_id}");
                self.config.get_or_load(key, load).await
            }

            async fn insert_category(
                &self,
                c: &$crate::model::Category,
            ) -> $crate::storage::StoreResult<()> {
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
                Self::write_category_products(&mut tx, c).await?;
                tx.commit().await
            }

            async fn get_category(
                &self,
                ws: &$crate::ids::WorkspaceId,
                id: &$crate::ids::CategoryId,
            ) -> $crate::storage::StoreResult<$crate::model::Category> {
                let rows = sqlx::query("SELECT * FROM categories WHERE workspace_id = $1 AND id = $2")
                    .bind(ws.as_str())
                    .bind(id.as_str())
                    .fetch_all(&self.reader)
                    .await
                    .map_err(map_err)?;
                $crate::storage::sql::one(self.categories_from_rows(rows).await?)
            }

            async fn list_categories(
                &self,
                ws: &$crate::ids::WorkspaceId,
                page: &$crate::storage::Page,
            ) -> $crate::storage::StoreResult<Vec<$crate::model::Category>> {
                let (after, limit) = $crate::storage::sql::page_bounds(page);
                let rows = sqlx::query(
                    "SELECT * FROM categories WHERE workspace_id = $1 AND (CAST($2 AS TEXT) IS NULL OR id > $2)
                     ORDER BY id LIMIT $3",
                )
                .bind(ws.as_str())
                .bind(after)
                .bind(limit)
                .fetch_all(&self.reader)
                .await
                .map_err(map_err)?;
                self.categories_from_rows(rows).await
            }

            async fn update_category(
                &self,
                c: &$crate::model::Category,
            ) -> $crate::storage::StoreResult<()> {
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
                $crate::storage::sql::changed(result.rows_affected())?;
                Self::write_category_products(&mut tx, c).await?;
                tx.commit().await
            }

            async fn delete_category(
                &self,
                ws: &$crate::ids::WorkspaceId,
                id: &$crate::ids::CategoryId,
            ) -> $crate::storage::StoreResult<()> {
                let _changing = self.config.changing();
                let result = sqlx::query("DELETE FROM categories WHERE workspace_id = $1 AND id = $2")
                    .bind(ws.as_str())
                    .bind(id.as_str())
                    .execute(&mut *self.write_conn().await?)
                    .await
                    .map_err(map_err)?;
                $crate::storage::sql::changed(result.rows_affected())
            }
        }

        #[async_trait::async_trait]
        impl $crate::storage::InboundUrlStore for $Store {
            async fn insert_inbound_url(
                &self,
                u: &$crate::model::InboundUrl,
            ) -> $crate::storage::StoreResult<()> {
                let _changing = self.config.changing();
                let mut tx = self.write_tx().await?;
                sqlx::query(
                    "INSERT INTO inbound_urls (id, workspace_id, name, gateway, slug, access_days, is_enabled,
                         created_at, allowed_sources)
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
                .bind($crate::storage::rows::to_json(&u.allowed_sources))
                .execute(&mut *tx)
                .await
                .map_err(map_err)?;
                Self::write_inbound_url_links(&mut tx, u).await?;
                tx.commit().await
            }

            async fn get_inbound_url(
                &self,
                ws: &$crate::ids::WorkspaceId,
                id: &$crate::ids::InboundUrlId,
            ) -> $crate::storage::StoreResult<$crate::model::InboundUrl> {
                let rows =
                    sqlx::query("SELECT * FROM inbound_urls WHERE workspace_id = $1 AND id = $2")
                        .bind(ws.as_str())
                        .bind(id.as_str())
                        .fetch_all(&self.reader)
                        .await
                        .map_err(map_err)?;
                $crate::storage::sql::one(self.inbound_urls_from_rows(rows).await?)
            }

            async fn inbound_url_by_slug(
                &self,
                ws: &$crate::ids::WorkspaceId,
                slug: &str,
            ) -> $crate::storage::StoreResult<Option<$crate::model::InboundUrl>> {
                let load = async {
                    let rows = sqlx::query(
                        "SELECT * FROM inbound_urls WHERE workspace_id = $1 AND slug = $2",
                    )
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
                ws: &$crate::ids::WorkspaceId,
                page: &$crate::storage::Page,
            ) -> $crate::storage::StoreResult<Vec<$crate::model::InboundUrl>> {
                let (after, limit) = $crate::storage::sql::page_bounds(page);
                let rows = sqlx::query(
                    "SELECT * FROM inbound_urls WHERE workspace_id = $1 AND (CAST($2 AS TEXT) IS NULL OR id > $2)
                     ORDER BY id LIMIT $3",
                )
                .bind(ws.as_str())
                .bind(after)
                .bind(limit)
                .fetch_all(&self.reader)
                .await
                .map_err(map_err)?;
                self.inbound_urls_from_rows(rows).await
            }

            async fn update_inbound_url(
                &self,
                u: &$crate::model::InboundUrl,
            ) -> $crate::storage::StoreResult<()> {
                let _changing = self.config.changing();
                let mut tx = self.write_tx().await?;
                let result = sqlx::query(
                    "UPDATE inbound_urls SET name = $1, gateway = $2, slug = $3, access_days = $4,
                         is_enabled = $5, allowed_sources = $8
                     WHERE workspace_id = $6 AND id = $7",
                )
                .bind(&u.name)
                .bind(u.gateway.as_str())
                .bind(&u.slug)
                .bind(u.access_days.map(i64::from))
                .bind(u.is_enabled)
                .bind(u.workspace_id.as_str())
                .bind(u.id.as_str())
                .bind($crate::storage::rows::to_json(&u.allowed_sources))
                .execute(&mut *tx)
                .await
                .map_err(map_err)?;
                $crate::storage::sql::changed(result.rows_affected())?;
                Self::write_inbound_url_links(&mut tx, u).await?;
                tx.commit().await
            }

            async fn delete_inbound_url(
                &self,
                ws: &$crate::ids::WorkspaceId,
                id: &$crate::ids::InboundUrlId,
            ) -> $crate::storage::StoreResult<()> {
                let _changing = self.config.changing();
                let result =
                    sqlx::query("DELETE FROM inbound_urls WHERE workspace_id = $1 AND id = $2")
                        .bind(ws.as_str())
                        .bind(id.as_str())
                        .execute(&mut *self.write_conn().await?)
                        .await
                        .map_err(map_err)?;
                $crate::storage::sql::changed(result.rows_affected())
            }
        }

        #[async_trait::async_trait]
        impl $crate::storage::KeyStore for $Store {
            async fn insert_key(
                &self,
                k: &$crate::model::GatewayKey,
            ) -> $crate::storage::StoreResult<()> {
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
                .execute(&mut *self.write_conn().await?)
                .await
                .map_err(map_err)?;
                Ok(())
            }

            async fn list_keys(
                &self,
                ws: &$crate::ids::WorkspaceId,
                page: &$crate::storage::Page,
            ) -> $crate::storage::StoreResult<Vec<$crate::model::GatewayKey>> {
                let (after, limit) = $crate::storage::sql::page_bounds(page);
                let rows = sqlx::query(
                    "SELECT * FROM gateway_keys WHERE workspace_id = $1 AND (CAST($2 AS TEXT) IS NULL OR id > $2)
                     ORDER BY id LIMIT $3",
                )
                .bind(ws.as_str())
                .bind(after)
                .bind(limit)
                .fetch_all(&self.reader)
                .await
                .map_err(map_err)?;
                rows.iter().map($crate::storage::rows::gateway_key).collect()
            }

            async fn all_keys(
                &self,
                ws: &$crate::ids::WorkspaceId,
            ) -> $crate::storage::StoreResult<Vec<$crate::model::GatewayKey>> {
                let load = async {
                    let rows =
                        sqlx::query("SELECT * FROM gateway_keys WHERE workspace_id = $1 ORDER BY id")
                            .bind(ws.as_str())
                            .fetch_all(&self.reader)
                            .await
                            .map_err(map_err)?;
                    rows.iter().map($crate::storage::rows::gateway_key).collect()
                };
                self.config.get_or_load(format!("keys:{ws}"), load).await
            }

            async fn delete_key(
                &self,
                ws: &$crate::ids::WorkspaceId,
                id: &$crate::ids::KeyId,
            ) -> $crate::storage::StoreResult<()> {
                let _changing = self.config.changing();
                let result =
                    sqlx::query("DELETE FROM gateway_keys WHERE workspace_id = $1 AND id = $2")
                        .bind(ws.as_str())
                        .bind(id.as_str())
                        .execute(&mut *self.write_conn().await?)
                        .await
                        .map_err(map_err)?;
                $crate::storage::sql::changed(result.rows_affected())
            }
        }
    };
}

pub(crate) use implement;
