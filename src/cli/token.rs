//! `gancho token reset`: a new random token for the default workspace's
//! bootstrap admin key. Only its SHA-256 is stored, and every API call and
//! admin UI page looks the key up by that hash in the database (nothing
//! caches it: `storage::config_cache` holds what inbound calls read, never
//! API keys), so the old token stops working at once on every instance. A
//! UI session is tied to the hash it was opened with
//! (`storage::UI_SESSION`), so the sessions opened with the old token end too.

use anyhow::Context;

use crate::app::{bootstrap, new_admin_token, open_store, token_hash};
use crate::clock::SystemClock;

/// Replaces the bootstrap key's token and returns the new one (to print once).
pub async fn reset() -> anyhow::Result<String> {
    let config = super::config()?;
    if config.admin_token.is_some() {
        // `app::bootstrap` writes the configured token's hash at every start,
        // so a reset here would be undone by the next restart.
        anyhow::bail!(
            "GANCHO_ADMIN_TOKEN is set (environment or gancho.toml), and gancho serve puts that token back at every start: change the setting and restart instead, or remove it and run gancho token reset"
        );
    }
    let store = open_store(&config, false).await?;
    // A database no instance has started on yet gets its workspace and
    // first token here, as the first `serve` would.
    let (workspace, generated) = bootstrap(store.as_ref(), &config, &SystemClock).await?;
    if let Some(token) = generated {
        return Ok(token);
    }
    let key = store
        .bootstrap_api_key(&workspace.id)
        .await?
        .context("the default workspace has no bootstrap admin key")?;
    let token = new_admin_token();
    store
        .set_api_key_hash(&key.id, &token_hash(&token))
        .await
        .context("storing the new admin token")?;
    Ok(token)
}
