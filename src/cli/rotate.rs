//! `gancho rotate-encryption-key`: reads the current and the new key, then
//! lets `keys::rotate` re-seal every stored secret.

use anyhow::Context;

use crate::config::Config;
use crate::keys::rotate::rotate;
use crate::keys::seal::{key_material, Sealer};

pub async fn rotate_encryption_key() -> anyhow::Result<()> {
    let new_key = std::env::var("GANCHO_NEW_ENCRYPTION_KEY")
        .ok()
        .filter(|k| !k.trim().is_empty())
        .context("GANCHO_NEW_ENCRYPTION_KEY: set it to the new key")?;
    key_material(&new_key).map_err(|e| anyhow::anyhow!("GANCHO_NEW_ENCRYPTION_KEY: {e}"))?;
    // The current key may be one that today's rules refuse (a short key from
    // before keys were derived): it is still read, to move off it.
    let (config, old) = match Config::from_env() {
        Ok((config, _)) => {
            let old = match &config.encryption_key {
                Some(k) => Sealer::new(Some(k.expose())).map_err(anyhow::Error::msg)?,
                None => Sealer::default(),
            };
            (config, old)
        }
        Err(e) if e.var == "GANCHO_ENCRYPTION_KEY" => {
            let (config, _) = Config::from_env_except(&["GANCHO_ENCRYPTION_KEY"])?;
            let raw = std::env::var("GANCHO_ENCRYPTION_KEY").unwrap_or_default();
            (config, Sealer::legacy_only(&raw))
        }
        Err(e) => return Err(e.into()),
    };
    if config.encryption_key.as_ref().map(|k| k.expose()) == Some(new_key.as_str()) {
        anyhow::bail!("GANCHO_NEW_ENCRYPTION_KEY is the current key; nothing to rotate");
    }
    let new = Sealer::new(Some(&new_key)).map_err(anyhow::Error::msg)?;
    let store = crate::app::open_store(&config, false).await?;
    let rotated = rotate(store.as_ref(), &old, &new).await?;
    println!("re-sealed {rotated}; now set GANCHO_ENCRYPTION_KEY to the new key and start gancho");
    Ok(())
}
