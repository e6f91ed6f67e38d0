//! Encryption at rest of gateway keys and endpoint secrets with
//! `GANCHO_ENCRYPTION_KEY` (XChaCha20-Poly1305, key = SHA-256 of the setting).
//! Sealed values are stored as `sealed:v1:<base64(nonce || ciphertext)>`;
//! values stored before a key was set stay readable in clear.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use chacha20poly1305::aead::{Aead, AeadCore, KeyInit, OsRng};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use sha2::{Digest, Sha256};

const PREFIX: &str = "sealed:v1:";
const NONCE_LEN: usize = 24;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SealError {
    #[error("a stored secret is encrypted but GANCHO_ENCRYPTION_KEY is not set")]
    NoKey,
    #[error("a stored secret cannot be decrypted with GANCHO_ENCRYPTION_KEY (wrong key?)")]
    BadCiphertext,
}

/// Seals and opens stored secrets.
#[derive(Clone, Default)]
pub struct Sealer {
    cipher: Option<XChaCha20Poly1305>,
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sealer")
            .field("enabled", &self.cipher.is_some())
            .finish()
    }
}

impl Sealer {
    /// `None` stores secrets in clear (start-up warns about it).
    pub fn new(key: Option<&str>) -> Self {
        let cipher = key.map(|k| {
            let digest = Sha256::digest(k.as_bytes());
            XChaCha20Poly1305::new(&digest)
        });
        Self { cipher }
    }

    pub fn is_enabled(&self) -> bool {
        self.cipher.is_some()
    }

    /// The form to store.
    pub fn seal(&self, plain: &str) -> String {
        let Some(cipher) = &self.cipher else {
            return plain.to_string();
        };
        let nonce = XChaCha20Poly1305::generate_nonce(&mut OsRng);
        match cipher.encrypt(&nonce, plain.as_bytes()) {
            Ok(ct) => {
                let mut raw = nonce.to_vec();
                raw.extend_from_slice(&ct);
                format!("{PREFIX}{}", STANDARD.encode(raw))
            }
            // Encryption of an in-memory buffer cannot fail for sizes we store.
            Err(_) => plain.to_string(),
        }
    }

    /// The plain secret from its stored form.
    pub fn open(&self, stored: &str) -> Result<String, SealError> {
        let Some(encoded) = stored.strip_prefix(PREFIX) else {
            return Ok(stored.to_string());
        };
        let cipher = self.cipher.as_ref().ok_or(SealError::NoKey)?;
        let raw = STANDARD
            .decode(encoded)
            .map_err(|_| SealError::BadCiphertext)?;
        if raw.len() < NONCE_LEN {
            return Err(SealError::BadCiphertext);
        }
        let (nonce, ct) = raw.split_at(NONCE_LEN);
        let plain = cipher
            .decrypt(XNonce::from_slice(nonce), ct)
            .map_err(|_| SealError::BadCiphertext)?;
        String::from_utf8(plain).map_err(|_| SealError::BadCiphertext)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_secrets_open_with_the_same_key_only() {
        let sealer = Sealer::new(Some("k1"));
        let stored = sealer.seal("hottok-123");
        assert!(stored.starts_with(PREFIX));
        assert!(!stored.contains("hottok-123"));
        assert_eq!(sealer.open(&stored).unwrap(), "hottok-123");
        assert_eq!(
            Sealer::new(Some("k2")).open(&stored),
            Err(SealError::BadCiphertext)
        );
        assert_eq!(Sealer::new(None).open(&stored), Err(SealError::NoKey));
    }

    #[test]
    fn clear_secrets_pass_through() {
        assert_eq!(Sealer::new(None).seal("abc"), "abc");
        assert_eq!(Sealer::new(Some("k")).open("abc").unwrap(), "abc");
    }
}
