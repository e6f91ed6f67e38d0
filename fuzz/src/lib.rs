//! What the fuzz targets feed gancho, and what they check. Each target in
//! `fuzz_targets/` is one call into here, so the seed generator
//! (`examples/seed_corpus.rs`) writes inputs in exactly the layout the
//! targets read, and runs every seed through the same checks first.
//!
//! A check fails (panics) on a panic inside gancho or on a broken invariant;
//! libFuzzer saves the input under `fuzz/artifacts/<target>/`.

use bytes::Bytes;
use chrono::{DateTime, Utc};
use gancho::inbound::gateways::{self, Normalized};
use gancho::inbound::normalize::GatewayKind;
use gancho::inbound::request::{BodyKind, InboundRequest, Payload};
use gancho::logs::{self, LogQuery};
use gancho::standard_webhooks;

/// The clock used when an input's own time is out of chrono's range.
const FALLBACK_NOW: i64 = 1_736_955_000;

/// Splits `data` at the first `sep`: `(before, after)`, or all of it and nothing.
fn split_once<'a>(data: &'a [u8], sep: &[u8]) -> (&'a [u8], &'a [u8]) {
    match data.windows(sep.len()).position(|w| w == sep) {
        Some(i) => (&data[..i], &data[i + sep.len()..]),
        None => (data, &[]),
    }
}

fn lines(block: &[u8]) -> impl Iterator<Item = String> + '_ {
    block
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| String::from_utf8_lossy(l).into_owned())
}

fn time(seconds: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(seconds, 0)
        .or_else(|| DateTime::from_timestamp(FALLBACK_NOW, 0))
        .expect("the fallback time is in range")
}

/// A header value as the HTTP layer hands it over: `HeaderValue::to_str`
/// keeps only visible ASCII, spaces and tabs, and the parser trims it.
fn header_value(raw: &str) -> Option<String> {
    raw.bytes()
        .all(|b| b == b'\t' || (0x20..0x7f).contains(&b))
        .then(|| raw.trim().to_string())
}

/// One inbound call for the `gateways` target.
///
/// Layout: byte 0 picks the gateway (`GatewayKind::ALL[b % 22]`), bytes 1..9
/// are `now` (unix seconds, little-endian), then three blocks ended by a
/// blank line (`\n\n`): the workspace's secrets (one a line), the headers
/// (`name: value`) and the query (`key=value`, already decoded); the rest
/// is the raw body.
#[derive(Debug, Clone, PartialEq)]
pub struct GatewayCase {
    pub kind: GatewayKind,
    pub now: i64,
    pub secrets: Vec<String>,
    pub headers: Vec<(String, String)>,
    pub query: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl GatewayCase {
    pub fn decode(data: &[u8]) -> Option<Self> {
        if data.len() < 9 {
            return None;
        }
        let kind = GatewayKind::ALL[usize::from(data[0]) % GatewayKind::ALL.len()];
        let now = i64::from_le_bytes(data[1..9].try_into().ok()?);
        let (secrets, rest) = split_once(&data[9..], b"\n\n");
        let (headers, rest) = split_once(rest, b"\n\n");
        let (query, body) = split_once(rest, b"\n\n");
        Some(Self {
            kind,
            now,
            secrets: lines(secrets).collect(),
            headers: lines(headers)
                .filter_map(|l| {
                    let (name, value) = l.split_once(':')?;
                    Some((name.trim().to_ascii_lowercase(), header_value(value)?))
                })
                .collect(),
            query: lines(query)
                .map(|l| match l.split_once('=') {
                    Some((k, v)) => (k.to_string(), v.to_string()),
                    None => (l, String::new()),
                })
                .collect(),
            body: body.to_vec(),
        })
    }

    pub fn encode(&self) -> Vec<u8> {
        let index = GatewayKind::ALL
            .iter()
            .position(|k| *k == self.kind)
            .expect("a known gateway");
        let mut out = vec![u8::try_from(index).expect("fewer than 256 gateways")];
        out.extend_from_slice(&self.now.to_le_bytes());
        let mut block = |lines: Vec<String>| {
            out.extend_from_slice(lines.join("\n").as_bytes());
            out.extend_from_slice(b"\n\n");
        };
        block(self.secrets.clone());
        block(
            self.headers
                .iter()
                .map(|(k, v)| format!("{k}: {v}"))
                .collect(),
        );
        block(self.query.iter().map(|(k, v)| format!("{k}={v}")).collect());
        out.extend_from_slice(&self.body);
        out
    }
}

/// The gateway `GANCHO_FUZZ_GATEWAY` pins (`hotmart`, `stripe`, ...), so one
/// run can give a single adapter all its executions. Unset: byte 0 picks.
pub fn pinned_gateway() -> Option<GatewayKind> {
    static PINNED: std::sync::OnceLock<Option<GatewayKind>> = std::sync::OnceLock::new();
    *PINNED.get_or_init(|| {
        let name = std::env::var("GANCHO_FUZZ_GATEWAY").ok()?;
        Some(
            GatewayKind::parse(&name)
                .unwrap_or_else(|| panic!("GANCHO_FUZZ_GATEWAY={name:?} is not a gateway")),
        )
    })
}

/// What the inbound pipeline does with one call, up to the ledger: read the
/// body as `Content-Type` says (or sniff it), detect, verify, normalize.
pub fn check_gateway(case: &GatewayCase) {
    let kind = pinned_gateway().unwrap_or(case.kind);
    let body = Bytes::from(case.body.clone());
    let body_kind = match case.headers.iter().find(|(k, _)| k == "content-type") {
        Some((_, ct)) => match BodyKind::from_content_type(ct) {
            Some(kind) => kind,
            None => return, // 415
        },
        None => BodyKind::sniff(&body),
    };
    let Ok(payload) = Payload::parse(body_kind, &body) else {
        return; // 400
    };
    let request = InboundRequest {
        headers: case.headers.clone(),
        query: case.query.clone(),
        body,
        kind: body_kind,
    };
    let adapter = gateways::adapter(kind);
    let candidates = gateways::detect_candidates(&request, &payload);
    assert_eq!(
        candidates.contains(&kind),
        adapter.detect(&request, &payload),
        "detect_candidates agrees with the adapter's detect"
    );
    let secrets: Vec<&str> = case.secrets.iter().map(String::as_str).collect();
    if let Ok(i) = adapter.verify(&request, &payload, &secrets, time(case.now)) {
        assert!(i < secrets.len(), "verify names one of the secrets");
        assert!(!secrets[i].is_empty(), "an empty secret proves nothing");
    }
    if let Normalized::Event(event) = adapter.normalize(&request, &payload) {
        assert_eq!(
            event.gateway, kind,
            "an adapter makes events of its gateway"
        );
        if let Some(email) = &event.customer.email {
            assert!(!email.is_empty(), "an absent e-mail is None, not \"\"");
            assert_eq!(email, &email.trim().to_lowercase(), "e-mails are clean");
        }
        serde_json::to_vec(&event).expect("an event serializes");
    }
}

/// The form-body parser (and the JSON one next to it) on any bytes.
pub fn check_form_body(data: &[u8]) {
    let _ = BodyKind::sniff(data);
    let first_line = String::from_utf8_lossy(split_once(data, b"\n").0).into_owned();
    let _ = BodyKind::from_content_type(&first_line);
    for kind in [BodyKind::Form, BodyKind::Json] {
        let Ok(payload) = Payload::parse(kind, data) else {
            continue;
        };
        let keys: Vec<String> = match &payload {
            Payload::Form(pairs) => {
                assert!(
                    pairs.iter().any(|(k, _)| !k.is_empty()),
                    "a parsed form has a named field"
                );
                pairs.iter().map(|(k, _)| k.clone()).collect()
            }
            Payload::Json(map) => map.keys().cloned().collect(),
        };
        for key in keys {
            if let Some(text) = payload.text(&key) {
                assert!(!text.is_empty(), "{key}: empty text is None");
                assert_eq!(text, text.trim(), "{key}: text is trimmed");
            }
        }
    }
}

/// One Standard Webhooks message for the `standard_webhooks` target.
///
/// Layout, one field a line: the secret, `webhook-id`, `webhook-timestamp`,
/// `now` (unix seconds; when not a number, the timestamp), `webhook-signature`
/// (empty: the correct signature), a byte offset to flip in the body; the
/// rest is the body.
#[derive(Debug, Clone, PartialEq)]
pub struct SignedCase {
    pub secret: String,
    pub id: String,
    pub timestamp: String,
    pub now: String,
    pub signature: String,
    pub flip: String,
    pub body: Vec<u8>,
}

impl SignedCase {
    pub fn decode(data: &[u8]) -> Self {
        let mut rest = data;
        let mut field = || {
            let (line, after) = split_once(rest, b"\n");
            rest = after;
            String::from_utf8_lossy(line).into_owned()
        };
        let (secret, id, timestamp, now, signature, flip) =
            (field(), field(), field(), field(), field(), field());
        Self {
            secret,
            id,
            timestamp,
            now,
            signature,
            flip,
            body: rest.to_vec(),
        }
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        for f in [
            &self.secret,
            &self.id,
            &self.timestamp,
            &self.now,
            &self.signature,
            &self.flip,
        ] {
            out.extend_from_slice(f.as_bytes());
            out.push(b'\n');
        }
        out.extend_from_slice(&self.body);
        out
    }
}

/// The `generic` adapter's Standard Webhooks verification: never panics; a
/// message signed with the secret, on time, verifies; the same signature
/// over a body with one byte changed does not.
pub fn check_standard_webhooks(case: &SignedCase) {
    let generic = gateways::adapter(GatewayKind::Generic);
    let payload = Payload::Json(serde_json::Map::new());
    let ts: Option<i64> = case.timestamp.trim().parse().ok();
    let now = case.now.trim().parse().ok().or(ts).unwrap_or(FALLBACK_NOW);
    let correct = ts.and_then(|ts| standard_webhooks::sign(&case.secret, &case.id, ts, &case.body));
    let signature = match (&correct, case.signature.is_empty()) {
        (Some(sig), true) => sig.clone(),
        _ => case.signature.clone(),
    };
    let request = |body: &[u8]| InboundRequest {
        headers: [
            ("webhook-id", &case.id),
            ("webhook-timestamp", &case.timestamp),
            ("webhook-signature", &signature),
        ]
        .into_iter()
        .filter_map(|(k, v)| Some((k.to_string(), header_value(v)?)))
        .collect(),
        query: Vec::new(),
        body: Bytes::copy_from_slice(body),
        kind: BodyKind::Json,
    };
    let secrets = [case.secret.as_str()];
    let verdict = generic.verify(&request(&case.body), &payload, &secrets, time(now));

    // The correct signature, sent as a sender would: headers that survive
    // HTTP unchanged, within the 5-minute tolerance.
    let sent_as_is = [&case.id, &case.timestamp]
        .iter()
        .all(|v| header_value(v).as_deref() == Some(v.as_str()) && !v.is_empty());
    let on_time =
        ts.is_some_and(|ts| ts.abs_diff(now) <= 300) && DateTime::from_timestamp(now, 0).is_some();
    if correct.as_deref() == Some(signature.as_str()) && sent_as_is && on_time {
        assert_eq!(verdict, Ok(0), "a correctly signed message verifies");
        if !case.body.is_empty() {
            let at = case.flip.trim().parse::<usize>().unwrap_or(0) % case.body.len();
            let mut tampered = case.body.clone();
            tampered[at] ^= 1;
            let verdict = generic.verify(&request(&tampered), &payload, &secrets, time(now));
            assert!(verdict.is_err(), "a changed body does not verify");
        }
    }
}

/// The `GET /logs` query string through the same steps as the API: decoded
/// pairs (a `limit` that is not a `u32` is refused before, with 400), then
/// [`logs::parse_filter`]. A filter it accepts keeps its documented bounds.
pub fn check_log_filter(data: &[u8]) {
    let mut q = LogQuery::default();
    for (key, value) in form_urlencoded::parse(data) {
        let value = value.into_owned();
        let slot = match key.as_ref() {
            "direction" => &mut q.direction,
            "status" => &mut q.status,
            "event_type" => &mut q.event_type,
            "email" => &mut q.email,
            "from" => &mut q.from,
            "to" => &mut q.to,
            "cursor" => &mut q.cursor,
            "limit" => match value.parse::<u32>() {
                Ok(limit) => {
                    q.limit = Some(limit);
                    continue;
                }
                Err(_) => return,
            },
            _ => continue,
        };
        slot.get_or_insert(value);
    }
    let Ok(filter) = logs::parse_filter(&q) else {
        return;
    };
    assert!(
        (1..=logs::MAX_LIMIT).contains(&filter.limit),
        "limit in range"
    );
    if let (Some(from), Some(to)) = (filter.from, filter.to) {
        assert!(from <= to, "from is not after to");
    }
    if let Some(email) = &filter.email {
        assert!(!email.is_empty());
        assert_eq!(email, &email.trim().to_lowercase(), "the e-mail is clean");
    }
    if let Some(t) = &filter.event_type {
        assert!(!t.is_empty() && t == t.trim(), "the event type is trimmed");
    }
}
