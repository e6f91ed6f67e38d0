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
    /// JSON is compacted and its secret fields masked in one pass over the
    /// text, keeping its key order, without building a tree: on the inbound
    /// path this runs once per call (issue 9).
    pub fn body(&self, body: &[u8]) -> String {
        let text = String::from_utf8_lossy(body);
        if looks_like_json(&text) {
            return self.text(&compact_and_mask(&text));
        }
        if text.contains('=') {
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

/// Whether the text is JSON (or broken JSON) rather than a form.
fn looks_like_json(text: &str) -> bool {
    text.trim_start().starts_with(['{', '['])
}

/// JSON text without the whitespace between its tokens, in its own key
/// order, with the value of every secret field (at any depth, unless `null`)
/// replaced by the mask: what masking the parsed value and writing it
/// compactly gives, but in one pass over the text. Broken JSON is copied as
/// far as it goes, masked where a secret field can still be told apart.
fn compact_and_mask(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    // Where the last string token starts in `out`: a key if `:` follows.
    let mut last_string: Option<usize> = None;
    let mut mask_next = false;
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if is_space(b) {
            i += 1;
            continue;
        }
        if mask_next && b != b'n' {
            mask_next = false;
            out.push(b'"');
            out.extend_from_slice(MASK.as_bytes());
            out.push(b'"');
            i = value_end(bytes, i);
            last_string = None;
            continue;
        }
        mask_next = false;
        match b {
            b'"' => {
                let end = string_end(bytes, i + 1);
                last_string = Some(out.len());
                out.extend_from_slice(&bytes[i..end]);
                i = end;
            }
            b':' => {
                if let Some(start) = last_string.take() {
                    mask_next = is_secret_key(&out[start..]);
                }
                out.push(b':');
                i += 1;
            }
            _ => {
                last_string = None;
                out.push(b);
                i += 1;
            }
        }
    }
    // Only ASCII bytes were left out or added, so this is still UTF-8.
    String::from_utf8(out).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r')
}

/// Where the string token whose text starts at `i` (after its opening
/// quote) ends: after its closing quote, or at the end of a broken one.
fn string_end(bytes: &[u8], mut i: usize) -> usize {
    while let Some(&b) = bytes.get(i) {
        match b {
            b'\\' => i += 2,
            b'"' => return i + 1,
            _ => i += 1,
        }
    }
    bytes.len()
}

/// Where the value that starts at `i` ends.
fn value_end(bytes: &[u8], i: usize) -> usize {
    let mut depth = 0;
    let mut j = i;
    while let Some(&b) = bytes.get(j) {
        match b {
            b'"' if depth == 0 && j == i => return string_end(bytes, j + 1),
            b'"' => {
                j = string_end(bytes, j + 1);
                continue;
            }
            b'{' | b'[' => depth += 1,
            b'}' | b']' if depth > 0 => {
                depth -= 1;
                if depth == 0 {
                    return j + 1;
                }
            }
            b',' | b'}' | b']' if depth == 0 => return j,
            _ if depth == 0 && is_space(b) => return j,
            _ => {}
        }
        j += 1;
    }
    bytes.len()
}

/// Whether a quoted key (as written, escapes and all) names a secret field.
fn is_secret_key(quoted: &[u8]) -> bool {
    let bare = quoted
        .strip_prefix(b"\"")
        .and_then(|q| q.strip_suffix(b"\""))
        .unwrap_or(quoted);
    if bare.contains(&b'\\') {
        return serde_json::from_slice::<String>(quoted).is_ok_and(|k| is_secret_field(&k));
    }
    std::str::from_utf8(bare).is_ok_and(is_secret_field)
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
    fn json_without_secret_fields_keeps_its_key_order_and_loses_its_spaces() {
        let r = Redactor::default();
        let body =
            "{ \"z\": 1,\n  \"a\": {\"email\": \"x@y.com\", \"tokens\": [2, \"a \\\" b\"]} }";
        assert_eq!(
            r.body(body.as_bytes()),
            r#"{"z":1,"a":{"email":"x@y.com","tokens":[2,"a \" b"]}}"#
        );
    }

    #[test]
    fn a_secret_field_is_masked_whatever_its_value_or_spelling() {
        let r = Redactor::default();
        let cases = [
            (
                r#"{"hott\u006fk": "abc", "a": 1}"#,
                r#"{"hott\u006fk":"[redacted]","a":1}"#,
            ),
            (
                r#"{"token": {"a": "}", "b": [1]}, "x": "token"}"#,
                r#"{"token":"[redacted]","x":"token"}"#,
            ),
            (
                r#"[{"api_key": 123 , "secret": null}, {"k": "v"}]"#,
                r#"[{"api_key":"[redacted]","secret":null},{"k":"v"}]"#,
            ),
            (
                r#"{"a": {"password": "p\"w"}}"#,
                r#"{"a":{"password":"[redacted]"}}"#,
            ),
            (
                r#"{"origin": ["x", {"y": 1}], "z": true}"#,
                r#"{"origin":"[redacted]","z":true}"#,
            ),
        ];
        for (body, masked) in cases {
            assert_eq!(r.body(body.as_bytes()), masked);
        }
    }

    /// The one-pass masking gives what masking the parsed value gives, for
    /// every gateway payload the tests carry.
    #[test]
    fn one_pass_masking_matches_masking_the_parsed_value() {
        fn mask(value: &mut Value) {
            match value {
                Value::Object(map) => {
                    for (k, v) in map.iter_mut() {
                        if is_secret_field(k) && !v.is_null() {
                            *v = Value::String(MASK.into());
                        } else {
                            mask(v);
                        }
                    }
                }
                Value::Array(items) => items.iter_mut().for_each(mask),
                _ => {}
            }
        }
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/gateways");
        let mut checked = 0;
        let gateways = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path());
        for gateway in gateways.filter(|p| p.is_dir()) {
            for file in std::fs::read_dir(gateway).unwrap() {
                let path = file.unwrap().path();
                let text = std::fs::read_to_string(&path).unwrap();
                let Ok(mut expected) = serde_json::from_str::<Value>(&text) else {
                    continue;
                };
                mask(&mut expected);
                let out = Redactor::default().body(text.as_bytes());
                let got: Value = serde_json::from_str(&out).unwrap();
                assert_eq!(got, expected, "{}", path.display());
                checked += 1;
            }
        }
        assert!(checked > 100, "only {checked} payloads");
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
