//! Standard Webhooks signing (<https://www.standardwebhooks.com>): used by
//! the inbound `generic` adapter to verify and by outbound delivery to sign.
//! Signed content is `{id}.{timestamp}.{body}`, HMAC-SHA256 keyed by the
//! base64-decoded part of a `whsec_` secret, sent as `v1,<base64>`.

use base64::alphabet;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use base64::Engine;

use crate::inbound::verify::hmac_sha256;

/// Standard base64 that also reads unpadded input (some senders strip `=`).
pub const BASE64: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// The signature of `body` as `v1,<base64>`, or `None` when `secret` is
/// empty or a `whsec_` key that is not base64.
pub fn sign(secret: &str, msg_id: &str, timestamp: i64, body: &[u8]) -> Option<String> {
    let key = key_bytes(secret)?;
    let mut content = format!("{msg_id}.{timestamp}.").into_bytes();
    content.extend_from_slice(body);
    Some(format!("v1,{}", BASE64.encode(hmac_sha256(&key, &content))))
}

/// The HMAC key: base64 after `whsec_`; without the prefix, the base64
/// decoding of the whole key if it has one, else the key's own bytes.
fn key_bytes(secret: &str) -> Option<Vec<u8>> {
    if secret.is_empty() {
        return None;
    }
    match secret.strip_prefix("whsec_") {
        Some(encoded) => BASE64.decode(encoded).ok().filter(|k| !k.is_empty()),
        None => Some(
            BASE64
                .decode(secret)
                .ok()
                .filter(|k| !k.is_empty())
                .unwrap_or_else(|| secret.as_bytes().to_vec()),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_spec_test_vector_signs_as_published() {
        let sig = sign(
            "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1614265330,
            br#"{"test": 2432232314}"#,
        );
        assert_eq!(
            sig.as_deref(),
            Some("v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=")
        );
    }

    #[test]
    fn unusable_secrets_sign_nothing() {
        assert_eq!(sign("", "id", 1, b"x"), None);
        assert_eq!(sign("whsec_***", "id", 1, b"x"), None);
    }
}
