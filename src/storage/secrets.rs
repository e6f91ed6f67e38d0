//! Every sealed secret in the database, for `gancho rotate-encryption-key`
//! (`keys::rotate`): read them all, write them back re-sealed in one
//! transaction. The SQL is the same on both backends, so it is written once
//! here and [`secret_store!`] expands the same Rust in each backend's module
//! (where `map_err` is that backend's own).

use async_trait::async_trait;

use super::StoreResult;

/// A column that holds a sealed value (or, before a key was set, a clear one).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecretColumn {
    KeySecret,
    KeyApiKey,
    EndpointSecret,
    EndpointPreviousSecret,
    /// A JSON list of `[name, value]` pairs; each value is sealed.
    EndpointHeaders,
}

impl SecretColumn {
    pub const ALL: [Self; 5] = [
        Self::KeySecret,
        Self::KeyApiKey,
        Self::EndpointSecret,
        Self::EndpointPreviousSecret,
        Self::EndpointHeaders,
    ];

    /// Its table and column: fixed names, never user input.
    pub fn table_column(self) -> (&'static str, &'static str) {
        match self {
            Self::KeySecret => ("gateway_keys", "secret"),
            Self::KeyApiKey => ("gateway_keys", "api_key"),
            Self::EndpointSecret => ("endpoints", "secret"),
            Self::EndpointPreviousSecret => ("endpoints", "previous_secret"),
            Self::EndpointHeaders => ("endpoints", "headers"),
        }
    }

    pub(crate) fn select_sql(self) -> String {
        let (table, column) = self.table_column();
        format!("SELECT id, {column} AS value FROM {table} WHERE {column} IS NOT NULL ORDER BY id")
    }

    pub(crate) fn update_sql(self) -> String {
        let (table, column) = self.table_column();
        format!("UPDATE {table} SET {column} = $1 WHERE id = $2")
    }
}

/// One stored value: which column of which row, and what it holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredSecret {
    pub column: SecretColumn,
    pub id: String,
    pub value: String,
}

#[async_trait]
pub trait SecretStore: Send + Sync {
    /// Every non-null value of every [`SecretColumn`], in every workspace.
    async fn stored_secrets(&self) -> StoreResult<Vec<StoredSecret>>;
    /// Writes `secrets` back in one transaction: all of them, or none.
    async fn replace_secrets(&self, secrets: &[StoredSecret]) -> StoreResult<()>;
}

/// Implements [`SecretStore`] for `$store`.
macro_rules! secret_store {
    ($store:ty) => {
        #[async_trait::async_trait]
        impl $crate::storage::secrets::SecretStore for $store {
            async fn stored_secrets(
                &self,
            ) -> $crate::storage::StoreResult<Vec<$crate::storage::secrets::StoredSecret>> {
                let mut all = Vec::new();
                for column in $crate::storage::secrets::SecretColumn::ALL {
                    let rows = sqlx::query(sqlx::AssertSqlSafe(column.select_sql()))
                        .fetch_all(&self.reader)
                        .await
                        .map_err(map_err)?;
                    for row in rows {
                        all.push($crate::storage::secrets::StoredSecret {
                            column,
                            id: sqlx::Row::try_get(&row, "id").map_err(map_err)?,
                            value: sqlx::Row::try_get(&row, "value").map_err(map_err)?,
                        });
                    }
                }
                Ok(all)
            }

            async fn replace_secrets(
                &self,
                secrets: &[$crate::storage::secrets::StoredSecret],
            ) -> $crate::storage::StoreResult<()> {
                let _changing = self.config.changing();
                let mut tx = self.write_tx().await?;
                for s in secrets {
                    let done = sqlx::query(sqlx::AssertSqlSafe(s.column.update_sql()))
                        .bind(&s.value)
                        .bind(&s.id)
                        .execute(&mut *tx)
                        .await
                        .map_err(map_err)?;
                    if done.rows_affected() != 1 {
                        return Err($crate::storage::StoreError::Conflict(
                            "a secret's row changed during the rotation",
                        ));
                    }
                }
                tx.commit().await
            }
        }
    };
}

pub(crate) use secret_store;
