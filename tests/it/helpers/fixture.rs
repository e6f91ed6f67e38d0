//! Fixtures from `tests/fixtures/gateways` (copied from
//! ../shared/gateways/fixtures, plus the few listed in its README), and
//! independent signers so tests can change a fixture's values (another
//! buyer, sale and key: [`Fixture::into_another_sale`]) and prove it again.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use gancho::inbound::gateways::{adapter, Normalized};
use gancho::inbound::normalize::GatewayKind;
use gancho::inbound::request::{BodyKind, InboundRequest, Payload};
use hmac::{Hmac, KeyInit, Mac};
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
        let sig = hmac_sha256_hex(secret, b"", &self.body);
        let mut f = self.set_header("x-signature", &sig);
        f.secret = secret.to_string();
        f
    }

    /// Stripe: `Stripe-Signature: t=<t>,v1=<hex HMAC-SHA256 of "<t>." + body>`.
    pub fn sign_stripe(self, secret: &str, t: i64) -> Self {
        let sig = hmac_sha256_hex(secret, format!("{t}.").as_bytes(), &self.body);
        let mut f = self.set_header("Stripe-Signature", &format!("t={t},v1={sig}"));
        f.secret = secret.to_string();
        f
    }

    /// Cakto: `X-Cakto-Timestamp: <ts>` and `X-Cakto-Signature: v1=<hex
    /// HMAC-SHA256 of "<ts>." + body>`.
    pub fn sign_cakto(self, secret: &str, ts: i64) -> Self {
        let sig = hmac_sha256_hex(secret, format!("{ts}.").as_bytes(), &self.body);
        let mut f = self
            .set_header("X-Cakto-Timestamp", &ts.to_string())
            .set_header("X-Cakto-Signature", &format!("v1={sig}"));
        f.secret = secret.to_string();
        f
    }

    /// A header's value, whatever the case of its name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The buyer's e-mail and the transaction id in this fixture, as gancho
    /// reads them: the values [`Fixture::into_another_sale`] replaces.
    pub fn sale(&self, gateway: &str) -> Sale {
        let kind = GatewayKind::parse(gateway).unwrap();
        let body_kind = BodyKind::from_content_type(&self.content_type).unwrap();
        let request = InboundRequest {
            headers: self
                .headers
                .iter()
                .map(|(k, v)| (k.to_ascii_lowercase(), v.clone()))
                .collect(),
            query: self.query.clone(),
            body: bytes::Bytes::from(self.body.clone()),
            kind: body_kind,
        };
        let payload = Payload::parse(body_kind, &self.body).unwrap();
        match adapter(kind).normalize(&request, &payload) {
            Normalized::Event(e) => Sale {
                email: e.customer.email,
                transaction_id: e.transaction_id,
            },
            Normalized::Ignored(_) => Sale::default(),
        }
    }

    /// This fixture as another sale: its buyer's e-mail becomes `email` and
    /// its transaction id [`another_transaction`] wherever they occur in the
    /// body, then it is proven with `secret` instead ([`Fixture::proven_with`]).
    pub fn into_another_sale(self, gateway: &str, email: &str, secret: &str) -> Self {
        let sale = self.sale(gateway);
        let mut f = self;
        if let Some(old) = &sale.email {
            let replaced = f.replace_in_body(old, email, true);
            assert!(
                replaced > 0,
                "{gateway}: the e-mail {old} is not in the body"
            );
        }
        // A sale without an id of its own (HeroSpark's template) is known by
        // its e-mail, which is already another one.
        let own_id = sale
            .transaction_id
            .filter(|t| Some(t) != sale.email.as_ref());
        if let Some(old) = own_id {
            let replaced = f.replace_in_body(&old, &another_transaction(&old), false);
            assert!(
                replaced > 0,
                "{gateway}: the transaction {old} is not in the body"
            );
        }
        f.proven_with(secret)
    }

    /// The fixture proven with `secret` instead of its own: wherever the old
    /// secret rides as a token (header, `Bearer`/`Basic` credentials, body
    /// field, `?token=`) it is swapped, then any signature is computed again
    /// over the final body, at the fixture's own signing time.
    pub fn proven_with(mut self, secret: &str) -> Self {
        let old = std::mem::replace(&mut self.secret, secret.to_string());
        let mut swapped = self.replace_in_body(&old, secret, false);
        for (_, value) in self.headers.iter_mut().chain(self.query.iter_mut()) {
            let basic = value
                .strip_prefix("Basic ")
                .and_then(|b| STANDARD.decode(b).ok())
                .is_some_and(|b| b == old.as_bytes());
            if basic {
                *value = format!("Basic {}", STANDARD.encode(secret));
                swapped += 1;
            } else if value.contains(old.as_str()) {
                *value = value.replace(old.as_str(), secret);
                swapped += 1;
            }
        }
        let resigned = self.signed_again();
        assert!(
            swapped > 0 || resigned.is_some(),
            "the fixture carries its secret nowhere"
        );
        let f = resigned.unwrap_or(self);
        let body = String::from_utf8_lossy(&f.body);
        let values = f.headers.iter().chain(f.query.iter()).map(|(_, v)| v);
        assert!(
            !body.contains(&old) && !values.into_iter().any(|v| v.contains(&old)),
            "the old secret is still in the fixture"
        );
        f
    }

    /// Signs again with `self.secret`, the way the fixture was signed; `None`
    /// when it carries no signature.
    fn signed_again(&self) -> Option<Self> {
        let secret = self.secret.clone();
        let f = self.clone();
        if let Some(header) = self.header("stripe-signature") {
            let t = header
                .split(',')
                .find_map(|part| part.strip_prefix("t="))
                .unwrap()
                .parse()
                .unwrap();
            return Some(f.sign_stripe(&secret, t));
        }
        if self.header("x-cakto-signature").is_some() {
            let ts = self.header("x-cakto-timestamp").unwrap().parse().unwrap();
            return Some(f.sign_cakto(&secret, ts));
        }
        if self.header("x-signature").is_some() {
            return Some(f.sign_eduzz(&secret));
        }
        if self.query.iter().any(|(k, _)| k == "signature") {
            return Some(f.sign_kiwify(&secret));
        }
        None
    }

    /// The fixture with no proof at all: no signature or token header, no
    /// `?token=`/`?signature=`, and no body field holding the secret (nor
    /// Eduzz's deprecated `api_key`, which its legacy format still accepts).
    pub fn without_proof(mut self) -> Self {
        const PROOF_HEADERS: [&str; 5] = [
            "authorization",
            "stripe-signature",
            "x-cakto-signature",
            "x-cakto-timestamp",
            "x-signature",
        ];
        let secret = self.secret.clone();
        self.headers.retain(|(k, v)| {
            !PROOF_HEADERS.iter().any(|p| k.eq_ignore_ascii_case(p)) && !v.contains(&secret)
        });
        self.query.retain(|(k, _)| k != "token" && k != "signature");
        let is_proof = |k: &str, v: &str| v == secret || k == "api_key";
        if self
            .content_type
            .starts_with("application/x-www-form-urlencoded")
        {
            let text = String::from_utf8(self.body.clone()).unwrap();
            let mut out = form_urlencoded::Serializer::new(String::new());
            for (k, v) in form_urlencoded::parse(text.as_bytes()) {
                if !is_proof(&k, &v) {
                    out.append_pair(&k, &v);
                }
            }
            self.body = out.finish().into_bytes();
        } else {
            let mut v = self.json();
            remove_fields(&mut v, &is_proof);
            self.body = serde_json::to_vec(&v).unwrap();
        }
        self
    }

    /// Replaces every whole occurrence of `from` in the body (also in its
    /// form-encoded spelling) with `to`; returns how many there were.
    fn replace_in_body(&mut self, from: &str, to: &str, ignore_case: bool) -> usize {
        let mut text = String::from_utf8(self.body.clone()).unwrap();
        let mut count = 0;
        let encode = |s: &str| form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
        let mut pairs = vec![(from.to_string(), to.to_string())];
        if encode(from) != from {
            pairs.push((encode(from), encode(to)));
        }
        for (from, to) in pairs {
            let (replaced, n) = replace_token(&text, &from, &to, ignore_case);
            text = replaced;
            count += n;
        }
        self.body = text.into_bytes();
        count
    }
}

/// What a fixture sells to whom, as gancho reads it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Sale {
    pub email: Option<String>,
    pub transaction_id: Option<String>,
}

/// The transaction id [`Fixture::into_another_sale`] gives a sale instead of
/// `id`: the same for every fixture of that sale, and still all digits when
/// `id` was (some gateways send it as a JSON number).
pub fn another_transaction(id: &str) -> String {
    if id.chars().all(|c| c.is_ascii_digit()) {
        format!("{id}42")
    } else {
        format!("{id}N42")
    }
}

fn hmac_sha256_hex(secret: &str, prefix: &[u8], body: &[u8]) -> String {
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(prefix);
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

/// `text` with each occurrence of `from` that is not part of a longer word
/// (letters, digits, `_`, `-`) replaced by `to`, and how many there were.
fn replace_token(text: &str, from: &str, to: &str, ignore_case: bool) -> (String, usize) {
    let is_word = |c: Option<char>| c.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '-');
    // ASCII lowercasing keeps every byte offset, so matches map back to `text`.
    let (haystack, needle) = if ignore_case {
        (text.to_ascii_lowercase(), from.to_ascii_lowercase())
    } else {
        (text.to_string(), from.to_string())
    };
    let mut out = String::with_capacity(text.len());
    let mut count = 0;
    let mut last = 0;
    for (at, _) in haystack.match_indices(&needle) {
        let end = at + needle.len();
        if at < last || is_word(text[..at].chars().last()) || is_word(text[end..].chars().next()) {
            continue;
        }
        out.push_str(&text[last..at]);
        out.push_str(to);
        last = end;
        count += 1;
    }
    out.push_str(&text[last..]);
    (out, count)
}

/// Removes, at any depth, the object fields for which `is_proof(key, text)` holds.
fn remove_fields(value: &mut Value, is_proof: &impl Fn(&str, &str) -> bool) {
    match value {
        Value::Object(map) => {
            map.retain(|k, v| !is_proof(k, v.as_str().unwrap_or_default()));
            map.values_mut().for_each(|v| remove_fields(v, is_proof));
        }
        Value::Array(items) => items.iter_mut().for_each(|v| remove_fields(v, is_proof)),
        _ => {}
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
