//! Encryption at rest of gateway keys, endpoint secrets and endpoint
//! custom headers with `GANCHO_ENCRYPTION_KEY` (XChaCha20-Poly1305).
//!
//! The cipher key is derived with HKDF-SHA256 from the setting: a random key
//! (32 bytes or more, as base64 or hex, e.g. `openssl rand -base64 32`) or a
//! passphrase of at least [`MIN_PASSPHRASE`] characters; anything shorter is
//! refused at start-up. Sealed values are stored as
//! `sealed:v2:<base64(nonce || ciphertext)>`. Values sealed by earlier
//! versions (`sealed:v1:`, key = bare SHA-256 of the setting) still open,
//! and `gancho rotate-encryption-key` re-seals them; values stored before a
//! key was set stay readable in clear. Sealing never falls back to clear text.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use chacha20poly1305::aead::{Aead, KeyInit};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use sha2::{Digest, Sha256};

const PREFIX: &str = "sealed:v2:";
const LEGACY_PREFIX: &str = "sealed:v1:";
const NONCE_LEN: usize = 24;
/// Random key material, in bytes, that needs no further length check.
const MIN_KEY_BYTES: usize = 32;
/// The shortest passphrase accepted.
pub const MIN_PASSPHRASE: usize = 32;
/// HKDF's salt and info: fixed, so every instance derives the same key.
const HKDF_SALT: &[u8] = b"gancho sealed secrets";
const HKDF_INFO: &[u8] = b"gancho:seal:v2:xchacha20poly1305";

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SealError {
    #[error("a stored secret is encrypted but GANCHO_ENCRYPTION_KEY is not set")]
    NoKey,
    #[error("a stored secret cannot be decrypted with GANCHO_ENCRYPTION_KEY (wrong key?)")]
    BadCiphertext,
    #[error("a secret could not be encrypted")]
    Encrypt,
}

/// The key material of a `GANCHO_ENCRYPTION_KEY` value: its bytes when it is
/// base64 or hex of at least 32 bytes, else the passphrase's own bytes when
/// it is long enough. `Err` says why it is refused.
pub fn key_material(setting: &str) -> Result<Vec<u8>, String> {
    let setting = setting.trim();
    // Hex first: its digits are also base64's, not the other way round.
    let decoded = hex::decode(setting)
        .ok()
        .or_else(|| STANDARD.decode(setting).ok())
        .filter(|k| k.len() >= MIN_KEY_BYTES);
    if let Some(bytes) = decoded {
        return Ok(bytes);
    }
    if setting.chars().count() >= MIN_PASSPHRASE {
        return Ok(setting.as_bytes().to_vec());
    }
    Err(format!(
        "too short: use a random key of 32 bytes or more in base64 or hex (openssl rand -base64 32), or a passphrase of at least {MIN_PASSPHRASE} characters"
    ))
}

/// Version 1's cipher: the bare SHA-256 of the setting (read-only now).
fn legacy_cipher(key: &str) -> XChaCha20Poly1305 {
    let digest: [u8; 32] = Sha256::digest(key.as_bytes()).into();
    XChaCha20Poly1305::new(&digest.into())
}

fn derive(material: &[u8]) -> XChaCha20Poly1305 {
    let hk = hkdf::Hkdf::<Sha256>::new(Some(HKDF_SALT), material);
    let mut key = [0u8; 32];
    hk.expand(HKDF_INFO, &mut key)
        .expect("32 bytes is a valid HKDF-SHA256 output length");
    XChaCha20Poly1305::new(&key.into())
}

/// Seals and opens stored secrets.
#[derive(Clone, Default)]
pub struct Sealer {
    cipher: Option<XChaCha20Poly1305>,
    /// Opens `sealed:v1:` values (SHA-256 of the setting), never seals.
    legacy: Option<XChaCha20Poly1305>,
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sealer")
            .field("enabled", &self.cipher.is_some())
            .finish()
    }
}

impl Sealer {
    /// `None` stores secrets in clear (start-up warns about it). A key that
    /// [`key_material`] refuses is refused here too.
    pub fn new(key: Option<&str>) -> Result<Self, String> {
        let Some(key) = key else {
            return Ok(Self::default());
        };
        let material = key_material(key)?;
        Ok(Self {
            cipher: Some(derive(&material)),
            legacy: Some(legacy_cipher(key)),
        })
    }

    /// Only for reading what an earlier version sealed with a key that is
    /// now too short (`rotate-encryption-key` moving off it): opens v1
    /// values and nothing else.
    pub fn legacy_only(key: &str) -> Self {
        Self {
            cipher: None,
            legacy: Some(legacy_cipher(key)),
        }
    }

    pub fn is_enabled(&self) -> bool {
        self.cipher.is_some()
    }

    /// The form to store: sealed when a key is set, else the clear text.
    pub fn seal(&self, plain: &str) -> Result<String, SealError> {
        let Some(cipher) = &self.cipher else {
            return Ok(plain.to_string());
        };
        let nonce = XNonce::from(crate::random::bytes::<NONCE_LEN>());
        let ct = cipher
            .encrypt(&nonce, plain.as_bytes())
            .map_err(|_| SealError::Encrypt)?;
        let mut raw = nonce.to_vec();
        raw.extend_from_slice(&ct);
        Ok(format!("{PREFIX}{}", STANDARD.encode(raw)))
    }

    /// Whether a stored value is sealed (by this version or an earlier one).
    pub fn is_sealed(stored: &str) -> bool {
        stored.starts_with(PREFIX) || stored.starts_with(LEGACY_PREFIX)
    }

    /// The plain secret from its stored form.
    pub fn open(&self, stored: &str) -> Result<String, SealError> {
        let (cipher, encoded) = if let Some(e) = stored.strip_prefix(PREFIX) {
            (self.cipher.as_ref(), e)
        } else if let Some(e) = stored.strip_prefix(LEGACY_PREFIX) {
            (self.legacy.as_ref(), e)
        } else {
            return Ok(stored.to_string());
        };
        let cipher = cipher.ok_or(SealError::NoKey)?;
        let raw = STANDARD
            .decode(encoded)
            .map_err(|_| SealError::BadCiphertext)?;
        if raw.len() < NONCE_LEN {
            return Err(SealError::BadCiphertext);
        }
        let (nonce, ct) = raw.split_at(NONCE_LEN);
        let nonce = XNonce::try_from(nonce).map_err(|_| SealError::BadCiphertext)?;
        let plain = cipher
            .decrypt(&nonce, ct)
            .map_err(|_| SealError::BadCiphertext)?;
        String::from_utf8(plain).map_err(|_| SealError::BadCiphertext)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const K1: &str = "a passphrase of at least thirty-two characters";
    const K2: &str = "another passphrase, also long enough to be used";

    #[test]
    fn sealed_secrets_open_with_the_same_key_only() {
        let sealer = Sealer::new(Some(K1)).unwrap();
        let stored = sealer.seal("hottok-123").unwrap();
        assert!(stored.starts_with(PREFIX));
        assert!(!stored.contains("hottok-123"));
        assert_eq!(sealer.open(&stored).unwrap(), "hottok-123");
        assert_eq!(
            Sealer::new(Some(K2)).unwrap().open(&stored),
            Err(SealError::BadCiphertext)
        );
        assert_eq!(
            Sealer::new(None).unwrap().open(&stored),
            Err(SealError::NoKey)
        );
    }

    #[test]
    fn clear_secrets_pass_through() {
        assert_eq!(Sealer::new(None).unwrap().seal("abc").unwrap(), "abc");
        assert_eq!(Sealer::new(Some(K1)).unwrap().open("abc").unwrap(), "abc");
    }

    #[test]
    fn short_keys_are_refused_and_random_keys_accepted() {
        assert!(Sealer::new(Some("k1")).is_err());
        assert!(Sealer::new(Some("short passphrase")).is_err());
        let b64 = STANDARD.encode([7u8; 32]);
        let hex = hex::encode([7u8; 32]);
        let (a, b) = (
            Sealer::new(Some(&b64)).unwrap(),
            Sealer::new(Some(&hex)).unwrap(),
        );
        // The same 32 bytes, written either way, are the same key.
        assert_eq!(b.open(&a.seal("x").unwrap()).unwrap(), "x");
        // 16 random bytes are too few, whatever their spelling.
        assert!(Sealer::new(Some(&STANDARD.encode([7u8; 16]))).is_err());
    }

    #[test]
    fn the_key_is_derived_not_the_bare_digest_of_the_setting() {
        let sealer = Sealer::new(Some(K1)).unwrap();
        let stored = sealer.seal("secret").unwrap();
        let raw = STANDARD.decode(&stored[PREFIX.len()..]).unwrap();
        let (nonce, ct) = raw.split_at(NONCE_LEN);
        let bare = legacy_cipher(K1);
        assert!(bare.decrypt(&XNonce::try_from(nonce).unwrap(), ct).is_err());
    }

    #[test]
    fn values_sealed_by_the_previous_version_still_open() {
        // What 0.1's sealer stored: SHA-256 of the setting as the key.
        let old = legacy_cipher("k1");
        let nonce = XNonce::from(crate::random::bytes::<NONCE_LEN>());
        let mut raw = nonce.to_vec();
        raw.extend_from_slice(&old.encrypt(&nonce, b"legacy".as_slice()).unwrap());
        let stored = format!("{LEGACY_PREFIX}{}", STANDARD.encode(raw));

        assert!(Sealer::is_sealed(&stored));
        assert_eq!(Sealer::legacy_only("k1").open(&stored).unwrap(), "legacy");
        assert_eq!(
            Sealer::legacy_only("k1").seal("new").unwrap(),
            "new",
            "a legacy-only sealer reads, it does not seal"
        );
    }
}
