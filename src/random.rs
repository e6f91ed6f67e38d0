//! Random tokens and secrets. All come from rand's `ThreadRng`, a CSPRNG
//! (ChaCha12) seeded from the operating system and reseeded as it goes.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use rand::distr::Alphanumeric;
use rand::{Rng, RngExt};

/// `len` random letters and digits (about 5.95 bits each).
pub fn alphanumeric(len: usize) -> String {
    rand::rng()
        .sample_iter(&Alphanumeric)
        .take(len)
        .map(char::from)
        .collect()
}

/// `N` random bytes.
pub fn bytes<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    rand::rng().fill_bytes(&mut bytes);
    bytes
}

/// A Standard Webhooks secret: `whsec_` and the base64 of 32 random bytes.
pub fn whsec() -> String {
    format!("whsec_{}", STANDARD.encode(bytes::<32>()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_have_their_length_and_alphabet_and_differ() {
        let (a, b) = (alphanumeric(40), alphanumeric(40));
        assert_eq!(a.len(), 40);
        assert!(a.chars().all(|c| c.is_ascii_alphanumeric()), "{a}");
        assert_ne!(a, b);
        let secret = whsec();
        let decoded = STANDARD
            .decode(secret.strip_prefix("whsec_").unwrap())
            .unwrap();
        assert_eq!(decoded.len(), 32);
        assert_ne!(bytes::<16>(), [0; 16]);
    }
}
