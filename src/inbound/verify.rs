//! Proof of authenticity shared by the gateway adapters: constant-time
//! comparison of tokens and of hex/base64 HMACs. What each gateway compares
//! lives in its own file under `gateways/`.

use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// Why a request was not proven authentic (answered with 401).
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum VerifyError {
    #[error("no {0} key is configured in this workspace")]
    NoKeys(&'static str),
    #[error("missing proof: {0}")]
    MissingProof(&'static str),
    #[error("the {0} does not match any configured key")]
    BadSignature(&'static str),
    #[error("the webhook timestamp is outside the 5-minute tolerance")]
    StaleTimestamp,
    #[error("malformed proof: {0}")]
    Malformed(&'static str),
}

/// Compares two secrets in constant time. Both sides are hashed first so
/// that neither the content nor the length of the stored secret leaks.
pub fn secret_eq(given: &str, expected: &str) -> bool {
    let a = Sha256::digest(given.as_bytes());
    let b = Sha256::digest(expected.as_bytes());
    a.ct_eq(&b).into() && !expected.is_empty()
}

/// Hex HMAC-SHA1 of `message` keyed by `key` (Kiwify).
pub fn hmac_sha1_hex(key: &[u8], message: &[u8]) -> String {
    let mut mac =
        Hmac::<sha1::Sha1>::new_from_slice(key).expect("HMAC-SHA1 accepts any key length");
    mac.update(message);
    hex::encode(mac.finalize().into_bytes())
}

/// Raw HMAC-SHA256 of `message` keyed by `key` (Eduzz hub, Standard Webhooks).
pub fn hmac_sha256(key: &[u8], message: &[u8]) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC-SHA256 accepts any key length");
    mac.update(message);
    mac.finalize().into_bytes().to_vec()
}

/// Compares a hex digest the sender gave (any case, surrounding spaces
/// ignored) with the one we computed, in constant time.
pub fn hex_digest_eq(given: &str, computed_hex: &str) -> bool {
    let given = given.trim().to_ascii_lowercase();
    given.len() == computed_hex.len() && bool::from(given.as_bytes().ct_eq(computed_hex.as_bytes()))
}

/// Tries each secret in turn and returns the index of the one that proves
/// the request. Every secret is tried, so timing does not reveal which matched.
pub fn first_match(secrets: &[&str], mut proves: impl FnMut(&str) -> bool) -> Option<usize> {
    let mut found = None;
    for (i, secret) in secrets.iter().enumerate() {
        if proves(secret) && found.is_none() {
            found = Some(i);
        }
    }
    found
}

/// Proves a request by a static token it carries (a header, a body field or
/// the URL's `?token=`): `given` must equal one of `secrets`, compared in
/// constant time. `gateway` and `proof` name what is missing or wrong in the
/// 401 message. Gateways that sign nothing use this.
pub fn token_proof(
    gateway: &'static str,
    proof: &'static str,
    given: Option<&str>,
    secrets: &[&str],
) -> Result<usize, VerifyError> {
    if secrets.iter().all(|s| s.is_empty()) {
        return Err(VerifyError::NoKeys(gateway));
    }
    let Some(given) = given.map(str::trim).filter(|g| !g.is_empty()) else {
        return Err(VerifyError::MissingProof(proof));
    };
    first_match(secrets, |s| secret_eq(given, s)).ok_or(VerifyError::BadSignature(proof))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_compare_exactly() {
        assert!(secret_eq("abc", "abc"));
        assert!(!secret_eq("abc", "abd"));
        assert!(!secret_eq("", ""));
    }

    #[test]
    fn tokens_prove_only_with_a_configured_key() {
        let secrets = ["", "k1", "k2"];

        assert_eq!(token_proof("g", "p", Some(" k2 "), &secrets), Ok(2));
        assert_eq!(
            token_proof("g", "p", Some("k3"), &secrets),
            Err(VerifyError::BadSignature("p"))
        );
        assert_eq!(
            token_proof("g", "p", Some(""), &secrets),
            Err(VerifyError::MissingProof("p"))
        );
        assert_eq!(
            token_proof("g", "p", None, &secrets),
            Err(VerifyError::MissingProof("p"))
        );
        assert_eq!(
            token_proof("g", "p", Some(""), &[""]),
            Err(VerifyError::NoKeys("g"))
        );
    }

    #[test]
    fn hex_digests_ignore_case() {
        let mac = hmac_sha1_hex(b"key", b"The quick brown fox jumps over the lazy dog");
        assert_eq!(mac, "de7c9b85b8b78aa6bc8a7a36f70a90701c9db4d9");
        assert!(hex_digest_eq(&mac.to_uppercase(), &mac));
        assert!(!hex_digest_eq("de7c", &mac));
    }
}
