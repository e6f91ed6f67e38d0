//! Fixtures from `tests/fixtures/gateways` (copied from
//! ../shared/gateways/fixtures), and independent signers so
//! tests can change a fixture's values and sign it again with any secret.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use hmac::{Hmac, Mac};
use serde_json::Value;

/// A fixture ready to post.
#[derive(Debug, Clone)]
pub struct Fixture {
    pub body: Vec<u8>,
    pub content_type: String,
    pub headers: Vec<(String, String)>,
    pub query: Vec<(String, String)>,
    pub secret: String,
}

pub fn dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/gateways")
}

/// Every fixture stem in a gateway directory.
pub fn stems(gateway_dir: &str) -> Vec<String> {
    let mut stems: Vec<String> = std::fs::read_dir(dir().join(gateway_dir))
        .unwrap()
        .filter_map(|e| {
            let name = e.unwrap().file_name().into_string().unwrap();
            name.strip_suffix(".meta.json").map(str::to_string)
        })
        .collect();
    stems.sort();
    stems
}

pub fn load(gateway_dir: &str, stem: &str) -> Fixture {
    let base = dir().join(gateway_dir);
    let meta: Value =
        serde_json::from_slice(&std::fs::read(base.join(format!("{stem}.meta.json"))).unwrap())
            .unwrap();
    let body = std::fs::read(base.join(meta["body_file"].as_str().unwrap())).unwrap();
    let pairs = |v: &Value| -> Vec<(String, String)> {
        v.as_object()
            .map(|m| {
                m.iter()
                    .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string()))
                    .collect()
            })
            .unwrap_or_default()
    };
    let headers = pairs(&meta["headers"])
        .into_iter()
        .filter(|(k, _)| !k.eq_ignore_ascii_case("content-type"))
        .collect();
    Fixture {
        body,
        content_type: meta["content_type"].as_str().unwrap().to_string(),
        headers,
        query: pairs(&meta["query"]),
        secret: meta["secret"].as_str().unwrap().to_string(),
    }
}

impl Fixture {
    /// The body as JSON (panics on form fixtures).
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap()
    }

    /// Replaces the body with this JSON (compact; key order as in the value).
    pub fn with_json(mut self, value: &Value) -> Self {
        self.body = serde_json::to_vec(value).unwrap();
        self
    }

    /// Changes a JSON body in place.
    pub fn edit(self, f: impl FnOnce(&mut Value)) -> Self {
        let mut v = self.json();
        f(&mut v);
        self.with_json(&v)
    }

    /// Replaces form fields (form fixtures).
    pub fn edit_form(mut self, changes: &[(&str, &str)]) -> Self {
        let text = String::from_utf8(self.body.clone()).unwrap();
        let mut out = form_urlencoded::Serializer::new(String::new());
        for (k, v) in form_urlencoded::parse(text.as_bytes()) {
            let v = changes
                .iter()
                .find(|(ck, _)| *ck == k)
                .map(|(_, cv)| cv.to_string())
                .unwrap_or_else(|| v.into_owned());
            out.append_pair(&k, &v);
        }
        self.body = out.finish().into_bytes();
        self
    }

    pub fn set_header(mut self, name: &str, value: &str) -> Self {
        self.headers.retain(|(k, _)| !k.eq_ignore_ascii_case(name));
        self.headers.push((name.to_string(), value.to_string()));
        self
    }

    /// Kiwify: `?signature=` hex HMAC-SHA1 of the body.
    pub fn sign_kiwify(mut self, secret: &str) -> Self {
        let mut mac = Hmac::<sha1::Sha1>::new_from_slice(secret.as_bytes()).unwrap();
        mac.update(&self.body);
        self.query = vec![("signature".into(), hex::encode(mac.finalize().into_bytes()))];
        self.secret = secret.to_string();
        self
    }

    /// Eduzz hub: `x-signature` hex HMAC-SHA256 of the body.
    pub fn sign_eduzz(self, secret: &str) -> Self {
        let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
        mac.update(&self.body);
        let sig = hex::encode(mac.finalize().into_bytes());
        let mut f = self.set_header("x-signature", &sig);
        f.secret = secret.to_string();
        f
    }
}

/// Standard Webhooks signature, written from the spec: base64 HMAC-SHA256 of
/// `{id}.{timestamp}.{body}` keyed by the base64-decoded part after `whsec_`.
pub fn standard_webhooks_headers(
    secret: &str,
    id: &str,
    ts: i64,
    body: &[u8],
) -> Vec<(String, String)> {
    let key = STANDARD
        .decode(secret.strip_prefix("whsec_").unwrap())
        .unwrap();
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(&key).unwrap();
    mac.update(format!("{id}.{ts}.").as_bytes());
    mac.update(body);
    let sig = STANDARD.encode(mac.finalize().into_bytes());
    vec![
        ("webhook-id".into(), id.into()),
        ("webhook-timestamp".into(), ts.to_string()),
        ("webhook-signature".into(), format!("v1,{sig}")),
    ]
}

/// Checks a delivery's `webhook-signature` the way a receiver would, from
/// the spec (not gancho's code): true if any `v1,` entry matches `secret`.
pub fn signature_matches(secret: &str, id: &str, ts: &str, body: &[u8], header: &str) -> bool {
    let ts: i64 = ts.parse().unwrap();
    let expected = &standard_webhooks_headers(secret, id, ts, body)[2].1;
    header.split(' ').any(|sig| sig == expected)
}
