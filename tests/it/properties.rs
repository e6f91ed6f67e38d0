//! Properties over the code that reads untrusted input, the same functions
//! the fuzz targets in `fuzz/` cover (README.md § Development): every
//! gateway adapter's detect, verify and normalize, the body parser, the
//! Standard Webhooks verifier, the `GET /logs` filter parser and decimal
//! amounts. The fuzzers run for hours by hand; these run in CI in seconds.

use std::sync::OnceLock;

use bytes::Bytes;
use chrono::{DateTime, TimeZone, Utc};
use gancho::ids::{LogId, WorkspaceId};
use gancho::inbound::gateways::{self, Normalized};
use gancho::inbound::normalize::{decimal_to_cents, GatewayKind};
use gancho::inbound::request::{BodyKind, InboundRequest, Payload};
use gancho::logs::{self, LogQuery, MAX_LIMIT};
use gancho::model::{Direction, Integration, LogEntry, LogStatus};
use proptest::prelude::*;
use proptest::test_runner::Config;
use serde_json::Value;

use crate::helpers::fixture::{self, standard_webhooks_headers, Fixture};
use crate::helpers::fixture_time;

/// Cases per property: enough to shake out a panic on each push, few
/// enough that the whole file runs in a few seconds.
fn cases(n: u32) -> Config {
    Config {
        cases: n,
        failure_persistence: None,
        ..Config::default()
    }
}

/// Every fixture, with the gateway it belongs to (its directory's name up to `_`).
fn fixtures() -> &'static [(GatewayKind, Fixture)] {
    static ALL: OnceLock<Vec<(GatewayKind, Fixture)>> = OnceLock::new();
    ALL.get_or_init(|| {
        let mut dirs: Vec<String> = std::fs::read_dir(fixture::dir())
            .unwrap()
            .map(|e| e.unwrap())
            .filter(|e| e.path().is_dir())
            .map(|e| e.file_name().into_string().unwrap())
            .collect();
        dirs.sort();
        dirs.iter()
            .filter_map(|dir| Some((dir, GatewayKind::parse(dir.split('_').next()?)?)))
            .flat_map(|(dir, kind)| {
                fixture::stems(dir)
                    .into_iter()
                    .map(move |stem| (kind, fixture::load(dir, &stem)))
            })
            .collect()
    })
}

/// Runs one call through `kind`'s adapter as the inbound pipeline does and
/// checks what must hold whatever the input: no panic, detection agrees
/// with [`gateways::detect_candidates`], only a non-empty secret proves, an
/// event is of the adapter's gateway and its e-mail is trimmed, lowercased
/// and never `""`.
fn check_adapter(
    kind: GatewayKind,
    content_type: Option<&str>,
    headers: Vec<(String, String)>,
    query: Vec<(String, String)>,
    body: Vec<u8>,
    secrets: &[&str],
) -> Result<(), TestCaseError> {
    let body = Bytes::from(body);
    let body_kind = match content_type {
        Some(ct) => match BodyKind::from_content_type(ct) {
            Some(k) => k,
            None => return Ok(()),
        },
        None => BodyKind::sniff(&body),
    };
    let Ok(payload) = Payload::parse(body_kind, &body) else {
        return Ok(());
    };
    let mut headers = headers;
    if let Some(ct) = content_type {
        headers.push(("content-type".into(), ct.into()));
    }
    let request = InboundRequest {
        headers,
        query,
        body,
        kind: body_kind,
    };
    let adapter = gateways::adapter(kind);

    let candidates = gateways::detect_candidates(&request, &payload);
    let verdict = adapter.verify(&request, &payload, secrets, fixture_time());
    let normalized = adapter.normalize(&request, &payload);

    prop_assert_eq!(
        candidates.contains(&kind),
        adapter.detect(&request, &payload)
    );
    if let Ok(i) = verdict {
        prop_assert!(!secrets[i].is_empty(), "{kind}: an empty secret proved");
    }
    if let Normalized::Event(e) = normalized {
        prop_assert_eq!(e.gateway, kind);
        if let Some(email) = &e.customer.email {
            prop_assert!(!email.is_empty(), "{kind}: empty e-mail");
            prop_assert_eq!(
                email,
                &email.trim().to_lowercase(),
                "{}: e-mail not clean",
                kind
            );
        }
    }
    Ok(())
}

/// Any JSON value, a few levels deep.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("JSON has no NaN", |f| f.is_finite())
            .prop_map(Value::from),
        ".{0,12}".prop_map(Value::from),
        "[ A-Za-z@.]{0,24}".prop_map(Value::from),
        "-?[0-9]{0,20}(\\.[0-9]{0,4})?".prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
            prop::collection::btree_map("[a-z_]{1,8}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Every place in `value` where a value sits, as a path from the root.
fn paths(value: &Value, prefix: &mut Vec<String>, out: &mut Vec<Vec<String>>) {
    out.push(prefix.clone());
    let children: Vec<(String, &Value)> = match value {
        Value::Object(m) => m.iter().map(|(k, v)| (k.clone(), v)).collect(),
        Value::Array(a) => a
            .iter()
            .enumerate()
            .map(|(i, v)| (i.to_string(), v))
            .collect(),
        _ => return,
    };
    for (key, child) in children {
        prefix.push(key);
        paths(child, prefix, out);
        prefix.pop();
    }
}

fn at_path<'a>(value: &'a mut Value, path: &[String]) -> &'a mut Value {
    path.iter().fold(value, |v, key| match v {
        Value::Object(m) => m.get_mut(key).unwrap(),
        Value::Array(a) => &mut a[key.parse::<usize>().unwrap()],
        _ => unreachable!("paths only lead into objects and arrays"),
    })
}

/// A header as a gateway (or an attacker) might send it.
fn header() -> impl Strategy<Value = (String, String)> {
    let names = prop::sample::select(vec![
        "x-hotmart-hottok",
        "x-kiwify-signature",
        "stripe-signature",
        "asaas-access-token",
        "x-hub-signature-256",
        "x-signature",
        "x-cakto-timestamp",
        "webhook-id",
        "webhook-timestamp",
        "webhook-signature",
        "authorization",
        "x-token",
    ]);
    (names, "[ -~]{0,40}").prop_map(|(n, v)| (n.to_string(), v.trim().to_string()))
}

proptest! {
    #![proptest_config(cases(1000))]

    /// A fixture with one value anywhere in it replaced by any JSON (or one
    /// form field by any text), fed to any adapter, with extra headers.
    #[test]
    fn adapters_survive_a_fixture_with_any_value_changed(
        which in any::<prop::sample::Index>(),
        adapter in prop::sample::select(GatewayKind::ALL.to_vec()),
        place in any::<prop::sample::Index>(),
        replacement in json_value(),
        extra in prop::collection::vec(header(), 0..3),
    ) {
        let all = fixtures();
        let (own, f) = &all[which.index(all.len())];
        let kind = if place.index(4) == 0 { adapter } else { *own };
        let body = match serde_json::from_slice::<Value>(&f.body) {
            Ok(mut json) => {
                let mut found = Vec::new();
                paths(&json, &mut Vec::new(), &mut found);
                *at_path(&mut json, &found[place.index(found.len())]) = replacement;
                serde_json::to_vec(&json).unwrap()
            }
            Err(_) => {
                let text = match &replacement {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                let mut pairs: Vec<(String, String)> = form_urlencoded::parse(&f.body)
                    .map(|(k, v)| (k.into_owned(), v.into_owned()))
                    .collect();
                let i = place.index(pairs.len());
                pairs[i].1 = text;
                form_urlencoded::Serializer::new(String::new())
                    .extend_pairs(pairs)
                    .finish()
                    .into_bytes()
            }
        };
        let mut headers = f.headers.clone();
        headers.extend(extra);
        let secrets = [f.secret.as_str(), "", "another-secret"];
        check_adapter(kind, Some(&f.content_type), headers, f.query.clone(), body, &secrets)?;
    }

    /// Any bytes, any headers, any adapter.
    #[test]
    fn adapters_survive_any_body(
        kind in prop::sample::select(GatewayKind::ALL.to_vec()),
        content_type in prop::option::of(prop::sample::select(vec![
            "application/json", "application/x-www-form-urlencoded", "text/plain",
        ])),
        headers in prop::collection::vec(header(), 0..4),
        query in prop::collection::vec(("[a-z]{1,8}", ".{0,16}"), 0..3),
        body in prop_oneof![
            prop::collection::vec(any::<u8>(), 0..256),
            json_value().prop_map(|v| serde_json::to_vec(&v).unwrap()),
            "([a-z_\\[\\]]{1,10}=[^&]{0,10}&){0,6}".prop_map(String::into_bytes),
        ],
        secret in "[ -~]{0,24}",
    ) {
        check_adapter(kind, content_type, headers, query, body, &[&secret])?;
    }

    /// A form body's fields read back trimmed, and never as `""`.
    #[test]
    fn form_fields_read_as_trimmed_text(body in "([^&=]{0,8}=?[^&]{0,12}&?){0,8}") {
        if let Ok(payload) = Payload::parse(BodyKind::Form, body.as_bytes()) {
            let Payload::Form(pairs) = &payload else {
                return Err(TestCaseError::fail("a form parsed as JSON"));
            };
            prop_assert!(pairs.iter().any(|(k, _)| !k.is_empty()));
            for (key, _) in pairs {
                if let Some(text) = payload.text(key) {
                    prop_assert!(!text.is_empty());
                    prop_assert_eq!(text.trim(), text.as_str());
                }
            }
        }
    }

    /// A message signed as the spec says (signed here, not by gancho's
    /// `sign`) verifies within the tolerance; changing any one byte of the
    /// body, `webhook-id`, `webhook-timestamp` or `webhook-signature` fails.
    #[test]
    fn standard_webhooks_accept_the_signed_message_and_no_single_byte_change(
        key in prop::collection::vec(any::<u8>(), 1..48),
        id in "[A-Za-z0-9_-]{1,32}",
        timestamp in 1_000_000_000i64..4_000_000_000,
        skew in -300i64..=300,
        body in prop::collection::vec(any::<u8>(), 1..200),
        part in 0usize..4,
        at in any::<prop::sample::Index>(),
        change in 1u8..=255,
    ) {
        use base64::Engine;
        let secret = format!("whsec_{}", base64::engine::general_purpose::STANDARD.encode(&key));
        let generic = gateways::adapter(GatewayKind::Generic);
        let payload = Payload::Json(serde_json::Map::new());
        let now = Utc.timestamp_opt(timestamp + skew, 0).unwrap();
        let verify = |headers: Vec<(String, String)>, body: &[u8]| {
            let request = InboundRequest {
                headers,
                query: vec![],
                body: Bytes::copy_from_slice(body),
                kind: BodyKind::Json,
            };
            generic.verify(&request, &payload, &[&secret], now)
        };
        let headers = standard_webhooks_headers(&secret, &id, timestamp, &body);
        prop_assert_eq!(verify(headers.clone(), &body), Ok(0));

        let (mut headers, mut body) = (headers, body);
        if part == 3 {
            let i = at.index(body.len());
            body[i] ^= change;
        } else {
            // A header byte becomes another visible ASCII byte (what HTTP carries).
            let value = &mut headers[part].1;
            let mut bytes = value.clone().into_bytes();
            let i = at.index(bytes.len());
            let visible = 0x21 + (bytes[i] - 0x21 + change % 93 + 1) % 94;
            prop_assume!(visible != bytes[i]);
            bytes[i] = visible;
            *value = String::from_utf8(bytes).unwrap();
        }
        prop_assert!(verify(headers, &body).is_err());
    }

    /// Whatever the query, `parse_filter` answers; what it accepts keeps
    /// the bounds the store relies on.
    #[test]
    fn log_filters_keep_their_bounds(
        direction in prop::option::of(prop_oneof![Just("in".to_string()), Just(" out ".to_string()), ".{0,6}"]),
        status in prop::option::of(prop_oneof![Just("success".to_string()), Just("failure".to_string()), ".{0,8}"]),
        email in prop::option::of(".{0,24}"),
        event_type in prop::option::of(".{0,16}"),
        from in prop::option::of(prop_oneof![Just("2026-11-23T15:00:00Z".to_string()), ".{0,24}"]),
        to in prop::option::of(prop_oneof![Just("2026-11-24T15:00:00-03:00".to_string()), ".{0,24}"]),
        limit in prop::option::of(prop_oneof![0u32..=600, any::<u32>()]),
        cursor in prop::option::of(".{0,40}"),
    ) {
        let q = LogQuery { direction, status, event_type, email, from, to, limit, cursor };
        if let Ok(f) = logs::parse_filter(&q) {
            prop_assert!((1..=MAX_LIMIT).contains(&f.limit));
            if let (Some(from), Some(to)) = (f.from, f.to) {
                prop_assert!(from <= to);
            }
            if let Some(email) = &f.email {
                prop_assert!(!email.is_empty());
                prop_assert_eq!(email, &email.trim().to_lowercase());
            }
            if let Some(t) = &f.event_type {
                prop_assert!(!t.is_empty());
                prop_assert_eq!(t.trim(), t.as_str());
            }
        }
    }

    /// The cursor of any entry reads back as that entry's place.
    #[test]
    fn log_cursors_round_trip(ms in -8_000_000_000_000i64..8_000_000_000_000) {
        let at = DateTime::from_timestamp_millis(ms).unwrap();
        let entry = log_entry(at);
        let q = LogQuery { cursor: Some(logs::encode_cursor(&entry)), ..LogQuery::default() };

        let filter = logs::parse_filter(&q).map_err(|e| TestCaseError::fail(e.to_string()))?;

        prop_assert_eq!(filter.before, Some((at, entry.id)));
    }

    /// Decimal amounts never panic; `whole.cc` is exactly `whole * 100 + cc`
    /// cents, or `None` when that does not fit in an `i64`.
    #[test]
    fn decimal_amounts_are_exact_cents(
        text in "[ ]?-?[0-9]{0,21}(\\.[0-9]{0,4})?[ ]?",
        whole in prop_oneof![0i64..1_000_000, i64::MAX / 100 - 2..=i64::MAX / 100, any::<i64>().prop_map(i64::abs)],
        cents in 0i64..100,
    ) {
        let _ = decimal_to_cents(&text);

        let exact = whole.checked_mul(100).and_then(|w| w.checked_add(cents));

        prop_assert_eq!(decimal_to_cents(&format!("{whole}.{cents:02}")), exact);
    }
}

fn log_entry(at: DateTime<Utc>) -> LogEntry {
    LogEntry {
        id: LogId::new(),
        workspace_id: WorkspaceId::new(),
        at,
        direction: Direction::In,
        gateway: None,
        event_type: None,
        email: None,
        status: LogStatus::Success,
        http_status: 200,
        duration_ms: 1,
        integration: Integration {
            kind: "inbound_url".into(),
            id: None,
            name: String::new(),
        },
        attempts: 1,
        error: None,
        detail: Value::Null,
        reprocess_of: None,
    }
}
