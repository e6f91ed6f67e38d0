//! Chaves: gateway keys (hotmart hottok, kiwify token, eduzz origin or
//! webhook secret, generic `whsec_` secret). Generates secrets when omitted,
//! seals them at rest (`seal.rs`), masks them in lists, and hands the plain
//! secrets to inbound verification.

pub mod rotate;
pub mod seal;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use chrono::{DateTime, Utc};

use crate::ids::{KeyId, WorkspaceId};
use crate::model::{GatewayKey, GatewayKind};
use crate::storage::{KeyStore, Page, StoreError};
pub use seal::{SealError, Sealer};

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Seal(#[from] SealError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What the API asks to create.
#[derive(Debug, Clone)]
pub struct NewKey {
    pub gateway: GatewayKind,
    pub name: Option<String>,
    pub secret: Option<String>,
    /// The seller's API key for the gateway's API (only `asaas` takes one).
    pub api_key: Option<String>,
}

/// The gateways whose key may carry an API key: their webhooks leave out
/// the buyer's e-mail, which gancho then fetches (`inbound::lookup`).
pub fn takes_api_key(gateway: GatewayKind) -> bool {
    gateway == GatewayKind::Asaas
}

/// A key with its secret in clear: returned once, at creation.
#[derive(Debug, Clone)]
pub struct CreatedKey {
    pub key: GatewayKey,
    pub secret: String,
    /// The API key in clear, when one was given.
    pub api_key: Option<String>,
}

/// A fresh secret for a gateway: `whsec_` + base64 of 32 random bytes for
/// `generic` (Standard Webhooks), `gancho:` + a password for `pagarme` (its
/// Basic auth user and password), 32 random letters and digits otherwise
/// (URL-safe, for the gateways that carry it in `?token=`).
pub fn generate_secret(gateway: GatewayKind) -> String {
    match gateway {
        GatewayKind::Generic => crate::random::whsec(),
        GatewayKind::Pagarme => format!("gancho:{}", crate::random::alphanumeric(32)),
        _ => crate::random::alphanumeric(32),
    }
}

/// Shows only the ends of a secret: `abcd…wxyz`; short secrets are fully hidden.
pub fn mask(secret: &str) -> String {
    let chars: Vec<char> = secret.chars().collect();
    if chars.len() < 16 {
        return "********".to_string();
    }
    let head: String = chars[..4].iter().collect();
    let tail: String = chars[chars.len() - 4..].iter().collect();
    format!("{head}…{tail}")
}

fn validate_secret(gateway: GatewayKind, secret: &str) -> Result<(), KeyError> {
    if secret.trim().is_empty() || secret != secret.trim() {
        return Err(KeyError::Invalid(
            "secret: must not be empty or start/end with spaces".into(),
        ));
    }
    if secret.len() > 512 {
        return Err(KeyError::Invalid("secret: at most 512 characters".into()));
    }
    if gateway == GatewayKind::Generic {
        let ok = secret
            .strip_prefix("whsec_")
            .and_then(|b| STANDARD.decode(b).ok())
            .is_some_and(|k| !k.is_empty());
        if !ok {
            return Err(KeyError::Invalid(
                "secret: a generic key is whsec_ followed by base64".into(),
            ));
        }
    }
    // Stripe signs with the endpoint's secret as text, so any whsec_ value works.
    if gateway == GatewayKind::Stripe && !secret.starts_with("whsec_") {
        return Err(KeyError::Invalid(
            "secret: a stripe key is the endpoint's signing secret, whsec_…".into(),
        ));
    }
    if gateway == GatewayKind::Pagarme
        && !secret
            .split_once(':')
            .is_some_and(|(user, pass)| !user.is_empty() && !pass.is_empty())
    {
        return Err(KeyError::Invalid(
            "secret: a pagarme key is the webhook's Basic auth user:password".into(),
        ));
    }
    Ok(())
}

/// Creates a key, generating its secret when none is given.
pub async fn create_key(
    store: &dyn KeyStore,
    sealer: &Sealer,
    ws: &WorkspaceId,
    new: NewKey,
    now: DateTime<Utc>,
) -> Result<CreatedKey, KeyError> {
    let secret = match new.secret {
        Some(s) => {
            validate_secret(new.gateway, &s)?;
            s
        }
        // Stripe makes the secret; one made here could never match.
        None if new.gateway == GatewayKind::Stripe => {
            return Err(KeyError::Invalid(
                "secret: paste the endpoint's signing secret (whsec_…) from Stripe".into(),
            ))
        }
        None => generate_secret(new.gateway),
    };
    let name = new
        .name
        .map(|n| n.trim().to_string())
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| format!("{} key", new.gateway));
    if name.chars().count() > 200 {
        return Err(KeyError::Invalid("name: at most 200 characters".into()));
    }
    let api_key = new.api_key.map(|a| a.trim().to_string());
    if let Some(api_key) = &api_key {
        if !takes_api_key(new.gateway) {
            return Err(KeyError::Invalid(format!(
                "api_key: only asaas keys take an API key, not {}",
                new.gateway
            )));
        }
        if api_key.is_empty() || api_key.len() > 512 {
            return Err(KeyError::Invalid(
                "api_key: must be 1 to 512 characters".into(),
            ));
        }
    }
    let key = GatewayKey {
        id: KeyId::new(),
        workspace_id: ws.clone(),
        gateway: new.gateway,
        name,
        secret: sealer.seal(&secret)?,
        api_key: api_key.as_deref().map(|a| sealer.seal(a)).transpose()?,
        created_at: now,
    };
    store.insert_key(&key).await?;
    Ok(CreatedKey {
        key,
        secret,
        api_key,
    })
}

/// A key as lists show it: its secret and API key masked.
#[derive(Debug, Clone)]
pub struct MaskedKey {
    pub key: GatewayKey,
    pub secret: String,
    pub api_key: Option<String>,
}

/// Keys with their secrets masked.
pub async fn list_keys(
    store: &dyn KeyStore,
    sealer: &Sealer,
    ws: &WorkspaceId,
    page: &Page,
) -> Result<Vec<MaskedKey>, KeyError> {
    let keys = store.list_keys(ws, page).await?;
    keys.into_iter()
        .map(|k| {
            let secret = mask(&sealer.open(&k.secret)?);
            let api_key = match &k.api_key {
                Some(a) => Some(mask(&sealer.open(a)?)),
                None => None,
            };
            Ok(MaskedKey {
                key: k,
                secret,
                api_key,
            })
        })
        .collect()
}

/// A key's id, gateway and plain secret.
#[derive(Debug, Clone)]
pub struct PlainKey {
    pub id: KeyId,
    pub gateway: GatewayKind,
    pub secret: String,
    pub api_key: Option<String>,
}

/// Every key of the workspace with its plain secret: verification picks
/// the gateway's, and redaction masks all of them wherever they appear.
pub async fn plain_keys(
    store: &dyn KeyStore,
    sealer: &Sealer,
    ws: &WorkspaceId,
) -> Result<Vec<PlainKey>, KeyError> {
    let keys = store.all_keys(ws).await?;
    keys.into_iter()
        .map(|k| {
            Ok(PlainKey {
                secret: sealer.open(&k.secret)?,
                api_key: match &k.api_key {
                    Some(a) => Some(sealer.open(a)?),
                    None => None,
                },
                id: k.id,
                gateway: k.gateway,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_secrets_fit_their_gateway() {
        let g = generate_secret(GatewayKind::Generic);
        assert!(validate_secret(GatewayKind::Generic, &g).is_ok());
        assert_eq!(STANDARD.decode(&g[6..]).unwrap().len(), 32);
        let h = generate_secret(GatewayKind::Hotmart);
        assert_eq!(h.len(), 32);
        assert_ne!(h, generate_secret(GatewayKind::Hotmart));
    }

    #[test]
    fn masks_hide_the_middle() {
        assert_eq!(
            mask("test-hottok-Xk3p9QmZ2v8T"),
            "test…v8T".replace("…v8T", "…2v8T")
        );
        assert_eq!(mask("short"), "********");
    }

    #[test]
    fn generic_secrets_must_be_whsec() {
        assert!(validate_secret(GatewayKind::Generic, "plain").is_err());
        assert!(validate_secret(GatewayKind::Hotmart, "plain").is_ok());
        assert!(validate_secret(GatewayKind::Hotmart, " padded ").is_err());
    }

    #[test]
    fn stripe_and_pagarme_secrets_have_their_gateway_shape() {
        assert!(validate_secret(GatewayKind::Stripe, "whsec_abc").is_ok());
        assert!(validate_secret(GatewayKind::Stripe, "sk_live_abc").is_err());
        assert!(validate_secret(GatewayKind::Pagarme, "user:pass").is_ok());
        assert!(validate_secret(GatewayKind::Pagarme, "nopass:").is_err());
        assert!(validate_secret(GatewayKind::Pagarme, "plain").is_err());
        let generated = generate_secret(GatewayKind::Pagarme);
        assert!(validate_secret(GatewayKind::Pagarme, &generated).is_ok());
        assert!(generated.starts_with("gancho:"));
    }
}
