//! Redaction of secrets before anything is stored in a log entry or traced
//! (DESIGN.md § Inbound: secrets redacted). Two layers: known secret-bearing
//! names (headers, query keys, body fields) are masked structurally, and any
//! literal occurrence of a configured key's secret is masked in whatever text
//! remains, so even a malformed body cannot leak one.

use serde_json::Value;

pub const MASK: &str = "[redacted]";

/// Header names whose values are secrets.
const SECRET_HEADERS: [&str; 7] = [
    "authorization",
    "cookie",
    "x-hotmart-hottok",
    "x-signature",
    "webhook-signature",
    "x-api-key",
    "proxy-authorization",
];

/// Query and body field names whose values are secrets, in any gateway's format.
const SECRET_FIELDS: [&str; 9] = [
    "signature",
    "hottok",
    "origin",
    "origin_secret",
    "originSecret",
    "api_key",
    "token",
    "secret",
    "password",
];

/// Masks secrets; built per call with the workspace's key secrets.
#[derive(Debug, Default)]
pub struct Redactor {
    literals: Vec<String>,
}

impl Redactor {
    /// `secrets` are literal values to mask wherever they appear (short ones
    /// are ignored: masking "ab" everywhere would shred the text).
    pub fn new(secrets: impl IntoIterator<Item = String>) -> Self {
        let mut literals: Vec<String> = secrets.into_iter().filter(|s| s.len() >= 6).collect();
        // Longest first, so a secret containing another is masked whole.
        literals.sort_by_key(|s| std::cmp::Reverse(s.len()));
        Self { literals }
    }

    /// Masks literal secrets in free text.
    pub fn text(&self, text: &str) -> String {
        let mut out = text.to_string();
        for secret in &self.literals {
            if out.contains(secret.as_str()) {
                out = out.replace(secret.as_str(), MASK);
            }
        }
        out
    }

    /// Headers as a JSON object, secret-bearing ones masked.
    pub fn headers(&self, headers: &[(String, String)]) -> Value {
        self.pairs(headers, |name| SECRET_HEADERS.contains(&name))
    }

    /// Query pairs as a JSON object, secret-bearing ones masked.
    pub fn query(&self, query: &[(String, String)]) -> Value {
        self.pairs(query, is_secret_field)
    }

    fn pairs(&self, pairs: &[(String, String)], is_secret: impl Fn(&str) -> bool) -> Value {
        let mut map = serde_json::Map::new();
        for (k, v) in pairs {
            let value = if is_secret(k.as_str()) {
                MASK.to_string()
            } else {
                self.text(v)
            };
            map.insert(k.clone(), Value::String(value));
        }
        Value::Object(map)
    }

    /// A body as text: JSON with secret fields masked at any depth, a form
    /// re-encoded with secret fields masked, anything else masked literally.
    pub fn body(&self, body: &[u8]) -> String {
        let text = String::from_utf8_lossy(body);
        if let Ok(mut json) = serde_json::from_str::<Value>(&text) {
            mask_json(&mut json);
            return self.text(&crate::storage::rows::to_json(&json));
        }
        if !text.trim_start().starts_with('{') && text.contains('=') {
            let mut out = form_urlencoded::Serializer::new(String::new());
            for (k, v) in form_urlencoded::parse(text.trim().as_bytes()) {
                let value = if is_secret_field(&k) { MASK.into() } else { v };
                out.append_pair(&k, &value);
            }
            return self.text(&out.finish());
        }
        self.text(&text)
    }
}

fn is_secret_field(name: &str) -> bool {
    SECRET_FIELDS.contains(&name)
}

fn mask_json(value: &mut Value) {
    match value {
        Value::Object(map) => {
            for (k, v) in map.iter_mut() {
                if is_secret_field(k) && !v.is_null() {
                    *v = Value::String(MASK.into());
                } else {
                    mask_json(v);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(mask_json),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_secrets_are_masked_at_any_depth() {
        let r = Redactor::default();
        let out = r.body(br#"{"hottok":"abc","data":{"producer":{"originSecret":"xyz"}},"a":1}"#);
        assert!(!out.contains("abc") && !out.contains("xyz"));
        assert!(out.contains("\"a\":1"));
    }

    #[test]
    fn form_secrets_are_masked() {
        let r = Redactor::default();
        let out = r.body(b"origin=s3cret&cus_email=a%40b.com&api_key=k3y");
        assert!(!out.contains("s3cret") && !out.contains("k3y"));
        assert!(out.contains("cus_email=a%40b.com"));
    }

    #[test]
    fn known_secrets_are_masked_even_in_broken_bodies() {
        let r = Redactor::new(["super-secret-token".to_string()]);
        let out = r.body(b"{\"truncated\": \"super-secret-token");
        assert!(!out.contains("super-secret-token"));
    }

    #[test]
    fn secret_headers_and_query_are_masked() {
        let r = Redactor::default();
        let h = r.headers(&[
            ("x-hotmart-hottok".into(), "tok".into()),
            ("user-agent".into(), "x".into()),
        ]);
        assert_eq!(h["x-hotmart-hottok"], MASK);
        assert_eq!(h["user-agent"], "x");
        let q = r.query(&[
            ("signature".into(), "abc".into()),
            ("gateway".into(), "kiwify".into()),
        ]);
        assert_eq!(q["signature"], MASK);
        assert_eq!(q["gateway"], "kiwify");
    }
}
