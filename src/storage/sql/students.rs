//! `StudentStore` and `SaleStore` for both backends: the read side of the
//! ledger. The statements that a ledger transaction also reads (a sale's
//! grants, its statuses, a category's products, the enabled endpoints) are
//! functions on a connection, so PostgreSQL's `LedgerTx` runs the same
//! code inside its transaction; SQLite's runs them on its own writer
//! connection (`sqlite/ledger.rs`), from the same SQL constants.

/// Expands, in a backend's `mod.rs`, into `StudentStore` and `SaleStore`
/// for `$Store`, and the connection functions both use.
macro_rules! implement {
    ($Store:ident) => {
        /// The products of the given categories ([`CATEGORY_PRODUCTS`]).
        ///
        /// [`CATEGORY_PRODUCTS`]: $crate::storage::CATEGORY_PRODUCTS
        async fn category_products(
            conn: &mut <Db as sqlx::Database>::Connection,
            ws: &$crate::ids::WorkspaceId,
            categories: &[$crate::ids::CategoryId],
        ) -> $crate::storage::StoreResult<Vec<($crate::ids::CategoryId, $crate::ids::ProductId)>>
        {
            if categories.is_empty() {
                return Ok(Vec::new());
            }
            let sql = $crate::storage::CATEGORY_PRODUCTS.replace(
                "{categories}",
                &$crate::storage::placeholders(2, categories.len()),
            );
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(ws.as_str());
            for c in categories {
                query = query.bind(c.as_str());
            }
            let rows = query.fetch_all(conn).await.map_err(map_err)?;
            rows.iter()
                .map(|r| {
                    Ok((
                        parse_id(col(r, "category_id")?, $crate::ids::CategoryId::parse)?,
                        parse_id(col(r, "product_id")?, $crate::ids::ProductId::parse)?,
                    ))
                })
                .collect()
        }

        /// Whether the sale has an event of one of `statuses` ([`TRANSACTION_STATUSES`]).
        ///
        /// [`TRANSACTION_STATUSES`]: $crate::storage::TRANSACTION_STATUSES
        async fn transaction_has_status(
            conn: &mut <Db as sqlx::Database>::Connection,
            ws: &$crate::ids::WorkspaceId,
            gw: $crate::model::GatewayKind,
            transaction_id: &str,
            statuses: &[$crate::model::CanonicalStatus],
        ) -> $crate::storage::StoreResult<bool> {
            let sql = $crate::storage::TRANSACTION_STATUSES.replace(
                "{statuses}",
                &$crate::storage::placeholders(4, statuses.len()),
            );
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(ws.as_str())
                .bind(gw.as_str())
                .bind(transaction_id);
            for s in statuses {
                query = query.bind(s.as_str());
            }
            let row = query.fetch_one(conn).await.map_err(map_err)?;
            Ok(col::<i64>(&row, "n")? > 0)
        }

        /// [`GRANTS_FOR_TRANSACTION`] or [`GRANTS_FOR_SUBSCRIPTION`] for one sale.
        ///
        /// [`GRANTS_FOR_TRANSACTION`]: $crate::storage::GRANTS_FOR_TRANSACTION
        /// [`GRANTS_FOR_SUBSCRIPTION`]: $crate::storage::GRANTS_FOR_SUBSCRIPTION
        async fn sale_grants(
            conn: &mut <Db as sqlx::Database>::Connection,
            sql: &'static str,
            ws: &$crate::ids::WorkspaceId,
            gw: $crate::model::GatewayKind,
            sale: &str,
            now: chrono::DateTime<chrono::Utc>,
        ) -> $crate::storage::StoreResult<Vec<$crate::model::Grant>> {
            let rows = sqlx::query(sql)
                .bind(ws.as_str())
                .bind(gw.as_str())
                .bind(sale)
                .bind(ms(now))
                .fetch_all(conn)
                .await
                .map_err(map_err)?;
            rows.iter().map($crate::storage::rows::grant).collect()
        }

        /// The workspace's enabled endpoints ([`ENABLED_ENDPOINTS`]).
        ///
        /// [`ENABLED_ENDPOINTS`]: $crate::storage::ENABLED_ENDPOINTS
        async fn enabled_endpoints(
            conn: &mut <Db as sqlx::Database>::Connection,
            ws: &$crate::ids::WorkspaceId,
        ) -> $crate::storage::StoreResult<Vec<$crate::model::Endpoint>> {
            let rows = sqlx::query($crate::storage::ENABLED_ENDPOINTS)
                .bind(ws.as_str())
                .fetch_all(conn)
                .await
                .map_err(map_err)?;
            rows.iter().map($crate::storage::rows::endpoint).collect()
        }

        #[async_trait::async_trait]
        impl $crate::storage::StudentStore for $Store {
            async fn get_student(
                &self,
                ws: &$crate::ids::WorkspaceId,
                id: &$crate::ids::StudentId,
            ) -> $crate::storage::StoreResult<$crate::model::Student> {
                let row = sqlx::query("SELECT * FROM students WHERE workspace_id = $1 AND id = $2")
                    .bind(ws.as_str())
                    .bind(id.as_str())
                    .fetch_one(&self.reader)
                    .await
                    .map_err(map_err)?;
                $crate::storage::rows::student(&row)
            }

            async fn student_by_email(
                &self,
                ws: &$crate::ids::WorkspaceId,
                email: &str,
            ) -> $crate::storage::StoreResult<Option<$crate::model::Student>> {
                let row =
                    sqlx::query("SELECT * FROM students WHERE workspace_id = $1 AND email = $2")
                        .bind(ws.as_str())
                        .bind(email)
                        .fetch_optional(&self.reader)
                        .await
                        .map_err(map_err)?;
                row.as_ref().map($crate::storage::rows::student).transpose()
            }

            async fn list_students(
                &self,
                ws: &$crate::ids::WorkspaceId,
                page: &$crate::storage::Page,
            ) -> $crate::storage::StoreResult<Vec<$crate::model::Student>> {
                let (after, limit) = $crate::storage::sql::page_bounds(page);
                let rows = sqlx::query(
                    "SELECT * FROM students WHERE workspace_id = $1 AND (CAST($2 AS TEXT) IS NULL OR id > $2)
                     ORDER BY id LIMIT $3",
                )
                .bind(ws.as_str())
                .bind(after)
                .bind(limit)
                .fetch_all(&self.reader)
                .await
                .map_err(map_err)?;
                rows.iter().map($crate::storage::rows::student).collect()
            }

            async fn active_grants_of(
                &self,
                ws: &$crate::ids::WorkspaceId,
                students: &[$crate::ids::StudentId],
                now: chrono::DateTime<chrono::Utc>,
            ) -> $crate::storage::StoreResult<Vec<$crate::model::Grant>> {
                if students.is_empty() {
                    return Ok(Vec::new());
                }
                let sql = $crate::storage::ACTIVE_GRANTS.replace(
                    "{students}",
                    &$crate::storage::placeholders(3, students.len()),
                );
                let mut query = sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(ws.as_str())
                    .bind(ms(now));
                for s in students {
                    query = query.bind(s.as_str());
                }
                let rows = query.fetch_all(&self.reader).await.map_err(map_err)?;
                rows.iter().map($crate::storage::rows::grant).collect()
            }

            async fn get_grant(
                &self,
                ws: &$crate::ids::WorkspaceId,
                id: &$crate::ids::GrantId,
            ) -> $crate::storage::StoreResult<$crate::model::Grant> {
                let row = sqlx::query("SELECT * FROM grants WHERE workspace_id = $1 AND id = $2")
                    .bind(ws.as_str())
                    .bind(id.as_str())
                    .fetch_one(&self.reader)
                    .await
                    .map_err(map_err)?;
                $crate::storage::rows::grant(&row)
            }

            async fn category_products(
                &self,
                ws: &$crate::ids::WorkspaceId,
                categories: &[$crate::ids::CategoryId],
            ) -> $crate::storage::StoreResult<Vec<($crate::ids::CategoryId, $crate::ids::ProductId)>>
            {
                let mut conn = self.reader.acquire().await.map_err(map_err)?;
                category_products(&mut conn, ws, categories).await
            }
        }

        /// The readers answer what the ledger transaction reads, with the
        /// same statements.
        #[async_trait::async_trait]
        impl $crate::storage::SaleStore for $Store {
            async fn is_event_processed(
                &self,
                ws: &$crate::ids::WorkspaceId,
                gw: $crate::model::GatewayKind,
                reference: &str,
                status: $crate::model::CanonicalStatus,
            ) -> $crate::storage::StoreResult<bool> {
                let row = sqlx::query($crate::storage::EVENT_PROCESSED)
                    .bind(ws.as_str())
                    .bind(gw.as_str())
                    .bind(reference)
                    .bind(status.as_str())
                    .fetch_one(&self.reader)
                    .await
                    .map_err(map_err)?;
                Ok(col::<i64>(&row, "n")? > 0)
            }

            async fn transaction_has_status(
                &self,
                ws: &$crate::ids::WorkspaceId,
                gw: $crate::model::GatewayKind,
                transaction_id: &str,
                statuses: &[$crate::model::CanonicalStatus],
            ) -> $crate::storage::StoreResult<bool> {
                let mut conn = self.reader.acquire().await.map_err(map_err)?;
                transaction_has_status(&mut conn, ws, gw, transaction_id, statuses).await
            }

            async fn grants_for_transaction(
                &self,
                ws: &$crate::ids::WorkspaceId,
                gw: $crate::model::GatewayKind,
                transaction_id: &str,
                now: chrono::DateTime<chrono::Utc>,
            ) -> $crate::storage::StoreResult<Vec<$crate::model::Grant>> {
                let mut conn = self.reader.acquire().await.map_err(map_err)?;
                let sql = $crate::storage::GRANTS_FOR_TRANSACTION;
                sale_grants(&mut conn, sql, ws, gw, transaction_id, now).await
            }

            async fn grants_for_subscription(
                &self,
                ws: &$crate::ids::WorkspaceId,
                gw: $crate::model::GatewayKind,
                subscription_id: &str,
                now: chrono::DateTime<chrono::Utc>,
            ) -> $crate::storage::StoreResult<Vec<$crate::model::Grant>> {
                let mut conn = self.reader.acquire().await.map_err(map_err)?;
                let sql = $crate::storage::GRANTS_FOR_SUBSCRIPTION;
                sale_grants(&mut conn, sql, ws, gw, subscription_id, now).await
            }

            async fn enabled_endpoints(
                &self,
                ws: &$crate::ids::WorkspaceId,
            ) -> $crate::storage::StoreResult<Vec<$crate::model::Endpoint>> {
                let mut conn = self.reader.acquire().await.map_err(map_err)?;
                enabled_endpoints(&mut conn, ws).await
            }
        }
    };
}

pub(crate) use implement;
