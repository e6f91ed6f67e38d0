//! `gancho rotate-encryption-key`: re-seals every stored secret (gateway
//! keys and their API keys, endpoint secrets, previous secrets and custom
//! header values) under a new `GANCHO_ENCRYPTION_KEY`, in one transaction.
//! Every value is opened with the old key first, so a wrong old key changes
//! nothing; values stored in clear (before any key was set) are sealed too.
//! [`verify`] opens them all the same way and writes nothing (`gancho check`).

use super::seal::{SealError, Sealer};
use crate::storage::secrets::{SecretColumn, SecretStore, StoredSecret};
use crate::storage::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum RotateError {
    #[error("{what} {id} cannot be opened with the current key: {source}")]
    Open {
        what: &'static str,
        id: String,
        source: SealError,
    },
    #[error("the custom headers of endpoint {0} are not a list of name/value pairs")]
    Headers(String),
    #[error(transparent)]
    Seal(#[from] SealError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What a rotation re-sealed, per kind of secret.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Rotated {
    pub key_secrets: usize,
    pub api_keys: usize,
    pub endpoint_secrets: usize,
    pub header_values: usize,
}

impl std::fmt::Display for Rotated {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} gateway key secrets, {} API keys, {} endpoint secrets, {} header values",
            self.key_secrets, self.api_keys, self.endpoint_secrets, self.header_values
        )
    }
}

fn what(column: SecretColumn) -> &'static str {
    match column {
        SecretColumn::KeySecret => "the secret of gateway key",
        SecretColumn::KeyApiKey => "the API key of gateway key",
        SecretColumn::EndpointSecret => "the secret of endpoint",
        SecretColumn::EndpointPreviousSecret => "the previous secret of endpoint",
        SecretColumn::EndpointHeaders => "a custom header of endpoint",
    }
}

/// Opens every secret with `old` and writes it back sealed with `new`.
pub async fn rotate(
    store: &dyn SecretStore,
    old: &Sealer,
    new: &Sealer,
) -> Result<Rotated, RotateError> {
    let stored = store.stored_secrets().await?;
    let mut counts = Rotated::default();
    let mut resealed = Vec::with_capacity(stored.len());
    for s in stored {
        let value = reseal(&s, old, &mut counts, |plain| new.seal(plain))?;
        resealed.push(StoredSecret { value, ..s });
    }
    store.replace_secrets(&resealed).await?;
    Ok(counts)
}

/// Opens every stored secret with `sealer` and writes nothing: what
/// `gancho check` proves about `GANCHO_ENCRYPTION_KEY`. The first secret
/// that does not open is the error.
pub async fn verify(store: &dyn SecretStore, sealer: &Sealer) -> Result<Rotated, RotateError> {
    let mut counts = Rotated::default();
    for s in store.stored_secrets().await? {
        reseal(&s, sealer, &mut counts, |_| Ok(String::new()))?;
    }
    Ok(counts)
}

/// One stored value opened with `old` and passed through `seal` (each
/// header value on its own), counted in `counts`.
fn reseal(
    s: &StoredSecret,
    old: &Sealer,
    counts: &mut Rotated,
    seal: impl Fn(&str) -> Result<String, SealError>,
) -> Result<String, RotateError> {
    let open = |v: &str| {
        old.open(v).map_err(|source| RotateError::Open {
            what: what(s.column),
            id: s.id.clone(),
            source,
        })
    };
    match s.column {
        SecretColumn::EndpointHeaders => {
            let pairs: Vec<(String, String)> =
                serde_json::from_str(&s.value).map_err(|_| RotateError::Headers(s.id.clone()))?;
            counts.header_values += pairs.len();
            let pairs = pairs
                .into_iter()
                .map(|(name, v)| Ok((name, seal(&open(&v)?)?)))
                .collect::<Result<Vec<_>, RotateError>>()?;
            serde_json::to_string(&pairs).map_err(|_| RotateError::Headers(s.id.clone()))
        }
        column => {
            match column {
                SecretColumn::KeySecret => counts.key_secrets += 1,
                SecretColumn::KeyApiKey => counts.api_keys += 1,
                _ => counts.endpoint_secrets += 1,
            }
            Ok(seal(&open(&s.value)?)?)
        }
    }
}
