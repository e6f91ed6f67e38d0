//! gancho's own `generic` format (DESIGN.md § Inbound), signed with Standard
//! Webhooks: headers `webhook-id`, `webhook-timestamp` and `webhook-signature`
//! (`v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">`). [`sign`] is the
//! one implementation of that signature; outbound signing reuses it.

use base64::Engine;
use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use super::{GatewayAdapter, Ignored, Normalized, Proof, SecretSource, Setup};
use crate::inbound::normalize::{
    any_time, clean_email, CanonicalStatus, Customer, GatewayKind, NormalizedEvent, ProductRef,
};
use crate::inbound::request::{path_text, InboundRequest, Payload};
use crate::inbound::verify::{first_match, secret_eq, VerifyError};
use crate::standard_webhooks::{sign, BASE64};

/// How far `webhook-timestamp` may be from now, either way (replay window).
const TOLERANCE_SECONDS: u64 = 5 * 60;

/// The event types that carry a purchase, subscription or cart status.
const EVENT_PREFIXES: [&str; 3] = ["purchase.", "subscription.", "cart."];

/// The `generic` adapter.
pub struct Generic;

impl GatewayAdapter for Generic {
    fn kind(&self) -> GatewayKind {
        GatewayKind::Generic
    }

    fn setup(&self) -> Setup {
        Setup {
            name: "gancho (generic)",
            formats: "gancho's own JSON event format (DESIGN.md § Inbound)",
            proof: Proof::Signature,
            proof_detail: "Standard Webhooks headers (webhook-id, webhook-timestamp, webhook-signature), 5-minute tolerance",
            is_token_in_url: false,
            secret: SecretSource::Generated,
            where_to_paste: "No seu sistema, envie os eventos no formato do gancho para a URL do gancho, assinados com Standard Webhooks (cabeçalhos webhook-id, webhook-timestamp e webhook-signature) usando o segredo whsec_… que o gancho gerou em Chaves.",
        }
    }

    fn detect(&self, req: &InboundRequest, payload: &Payload) -> bool {
        matches!(payload, Payload::Json(_))
            && req.header("webhook-id").is_some()
            && req.header("webhook-signature").is_some()
    }

    fn verify(
        &self,
        req: &InboundRequest,
        _payload: &Payload,
        secrets: &[&str],
        now: DateTime<Utc>,
    ) -> Result<usize, VerifyError> {
        if secrets.iter().all(|s| s.is_empty()) {
            return Err(VerifyError::NoKeys("generic"));
        }
        let (Some(id), Some(timestamp), Some(signatures)) = (
            req.header("webhook-id"),
            req.header("webhook-timestamp"),
            req.header("webhook-signature"),
        ) else {
            return Err(VerifyError::MissingProof(
                "webhook-id, webhook-timestamp and webhook-signature headers",
            ));
        };
        let timestamp: i64 = timestamp
            .trim()
            .parse()
            .map_err(|_| VerifyError::Malformed("webhook-timestamp is not unix seconds"))?;
        if now.timestamp().abs_diff(timestamp) > TOLERANCE_SECONDS {
            return Err(VerifyError::StaleTimestamp);
        }
        let given = v1_signatures(signatures);
        if given.is_empty() {
            return Err(VerifyError::MissingProof("a v1 entry in webhook-signature"));
        }
        first_match(secrets, |s| {
            sign(s, id.trim(), timestamp, &req.body)
                .is_some_and(|expected| given.iter().any(|g| secret_eq(g, &expected)))
        })
        .ok_or(VerifyError::BadSignature("webhook-signature"))
    }

    fn normalize(&self, req: &InboundRequest, payload: &Payload) -> Normalized {
        let Some(map) = payload.as_json() else {
            return Ignored::unsupported(None, "generic events are JSON");
        };
        let event_type = path_text(map, &["type"]);
        if let Some(t) = &event_type {
            if !EVENT_PREFIXES.iter().any(|p| t.starts_with(p)) {
                return Ignored::unsupported(
                    event_type.clone(),
                    "not a purchase, subscription or cart event",
                );
            }
        }
        let Some(data) = map.get("data").and_then(Value::as_object) else {
            return Ignored::unsupported(event_type, "the event has no data object");
        };
        let status = path_text(data, &["status"])
            .and_then(|s| CanonicalStatus::parse(&s))
            .or_else(|| {
                event_type
                    .as_deref()
                    .and_then(CanonicalStatus::from_event_type)
            });
        let Some(status) = status else {
            return Ignored::unsupported(event_type, "neither data.status nor type is known");
        };
        let event_id = path_text(map, &["id"])
            .or_else(|| req.header("webhook-id").map(|h| h.trim().to_string()))
            .filter(|id| !id.is_empty());
        let native_event = event_type.or_else(|| Some(status.event_type().to_string()));
        Normalized::Event(Box::new(read_data(
            map,
            data,
            status,
            native_event,
            event_id,
        )))
    }

    fn secret_fields(&self) -> &'static [&'static str] {
        &[]
    }
}

/// The `v1,` entries of `webhook-signature`, re-encoded with padding so they
/// compare with [`sign`]'s output. Other versions are ignored (spec).
fn v1_signatures(header: &str) -> Vec<String> {
    header
        .split_whitespace()
        .filter_map(|entry| entry.strip_prefix("v1,"))
        .map(|b64| match BASE64.decode(b64) {
            Ok(bytes) => format!("v1,{}", BASE64.encode(bytes)),
            // Kept so that a v1 entry that is not base64 fails as a bad signature.
            Err(_) => format!("v1,{b64}"),
        })
        .collect()
}

/// Reads `data` field by field, so that a number where text is expected
/// (or the reverse) never fails the whole event.
fn read_data(
    map: &Map<String, Value>,
    data: &Map<String, Value>,
    status: CanonicalStatus,
    native_event: Option<String>,
    event_id: Option<String>,
) -> NormalizedEvent {
    let text = |path: &[&str]| path_text(data, path);
    let time = |path: &[&str]| text(path).and_then(|t| any_time(&t));
    NormalizedEvent {
        gateway: GatewayKind::Generic,
        transaction_id: text(&["transaction_id"]),
        status,
        customer: Customer {
            email: clean_email(text(&["customer", "email"])),
            name: text(&["customer", "name"]),
            phone: text(&["customer", "phone"]),
            document: text(&["customer", "document"]),
        },
        product: text(&["product", "id"]).map(|id| ProductRef {
            id,
            name: text(&["product", "name"]),
        }),
        amount_cents: text(&["amount_cents"]).and_then(|a| a.parse().ok()),
        currency: text(&["currency"]),
        subscription_id: text(&["subscription_id"]),
        recurrence: text(&["recurrence"]).and_then(|r| r.parse().ok()),
        occurred_at: time(&["occurred_at"])
            .or_else(|| path_text(map, &["created_at"]).and_then(|t| any_time(&t))),
        native_event,
        event_id,
        access_ends_at: time(&["access_ends_at"]),
        customer_ref: None,
        product_aliases: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inbound::request::BodyKind;
    use bytes::Bytes;
    use chrono::TimeZone;
    use serde_json::json;

    // The Standard Webhooks spec's published test vector.
    const SPEC_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    const SPEC_ID: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";
    const SPEC_TIMESTAMP: i64 = 1614265330;
    const SPEC_BODY: &[u8] = br#"{"test": 2432232314}"#;
    const SPEC_SIGNATURE: &str = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";
    const OTHER_SECRET: &str = "whsec_c2VjcmV0LWZvci1hbm90aGVyLXNlbmRlcg==";

    fn at(seconds: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(seconds, 0).unwrap()
    }

    fn request(body: &[u8], headers: &[(&str, &str)]) -> (InboundRequest, Payload) {
        let payload = Payload::parse(BodyKind::Json, body).unwrap();
        let request = InboundRequest {
            headers: headers
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            query: vec![],
            body: Bytes::copy_from_slice(body),
            kind: BodyKind::Json,
        };
        (request, payload)
    }

    fn spec_request(signature: &str, body: &[u8]) -> (InboundRequest, Payload) {
        let timestamp = SPEC_TIMESTAMP.to_string();
        request(
            body,
            &[
                ("webhook-id", SPEC_ID),
                ("webhook-timestamp", &timestamp),
                ("webhook-signature", signature),
            ],
        )
    }

    /// A body signed with `secret` at `timestamp`, as a sender would post it.
    fn signed(body: &Value, secret: &str, timestamp: i64) -> (InboundRequest, Payload) {
        let bytes = serde_json::to_vec(body).unwrap();
        let signature = sign(secret, "msg_abc", timestamp, &bytes).unwrap();
        let timestamp = timestamp.to_string();
        request(
            &bytes,
            &[
                ("webhook-id", "msg_abc"),
                ("webhook-timestamp", &timestamp),
                ("webhook-signature", &signature),
            ],
        )
    }

    fn verify(
        (req, payload): &(InboundRequest, Payload),
        secrets: &[&str],
        now: DateTime<Utc>,
    ) -> Result<usize, VerifyError> {
        Generic.verify(req, payload, secrets, now)
    }

    fn normalize((req, payload): &(InboundRequest, Payload)) -> Normalized {
        Generic.normalize(req, payload)
    }

    fn event(normalized: Normalized) -> NormalizedEvent {
        match normalized {
            Normalized::Event(e) => *e,
            other => panic!("expected an event, got {other:?}"),
        }
    }

    fn design_example() -> Value {
        json!({"id":"evt_01","type":"purchase.approved","created_at":"2026-11-23T15:00:00Z",
            "data":{"gateway":"generic","transaction_id":"T-1001","status":"approved",
                "customer":{"email":"ana@example.com","name":"Ana","phone":"+5511912345678","document":null},
                "product":{"id":"EXT-42","name":"Curso"},"amount_cents":49700,"currency":"BRL",
                "subscription_id":null,"recurrence":null,"occurred_at":"2026-11-23T14:59:58Z"}})
    }

    #[test]
    fn sign_reproduces_the_spec_test_vector() {
        let signature = sign(SPEC_SECRET, SPEC_ID, SPEC_TIMESTAMP, SPEC_BODY);

        assert_eq!(signature.as_deref(), Some(SPEC_SIGNATURE));
    }

    #[test]
    fn the_spec_test_vector_verifies_within_the_tolerance() {
        let req = spec_request(SPEC_SIGNATURE, SPEC_BODY);

        assert_eq!(verify(&req, &[SPEC_SECRET], at(SPEC_TIMESTAMP + 10)), Ok(0));
        assert_eq!(
            verify(&req, &[SPEC_SECRET], at(SPEC_TIMESTAMP - 300)),
            Ok(0)
        );
        assert_eq!(
            verify(&req, &[SPEC_SECRET], at(SPEC_TIMESTAMP + 300)),
            Ok(0)
        );
    }

    #[test]
    fn a_tampered_body_is_rejected() {
        let req = spec_request(SPEC_SIGNATURE, br#"{"test": 2432232315}"#);

        let result = verify(&req, &[SPEC_SECRET], at(SPEC_TIMESTAMP));

        assert_eq!(result, Err(VerifyError::BadSignature("webhook-signature")));
    }

    #[test]
    fn a_wrong_secret_is_rejected_and_the_right_one_is_found_among_several() {
        let req = spec_request(SPEC_SIGNATURE, SPEC_BODY);
        let now = at(SPEC_TIMESTAMP);

        assert!(matches!(
            verify(&req, &[OTHER_SECRET], now),
            Err(VerifyError::BadSignature(_))
        ));
        assert_eq!(verify(&req, &["", OTHER_SECRET, SPEC_SECRET], now), Ok(2));
        assert_eq!(verify(&req, &[], now), Err(VerifyError::NoKeys("generic")));
        assert_eq!(
            verify(&req, &[""], now),
            Err(VerifyError::NoKeys("generic"))
        );
    }

    #[test]
    fn stale_and_future_timestamps_are_rejected() {
        let req = spec_request(SPEC_SIGNATURE, SPEC_BODY);

        let late = verify(&req, &[SPEC_SECRET], at(SPEC_TIMESTAMP + 301));
        let early = verify(&req, &[SPEC_SECRET], at(SPEC_TIMESTAMP - 301));

        assert_eq!(late, Err(VerifyError::StaleTimestamp));
        assert_eq!(early, Err(VerifyError::StaleTimestamp));
    }

    #[test]
    fn one_valid_signature_among_several_is_enough() {
        let header = format!("v1,Zm9vYmFy v2,abcdef v1,not-base64!! {SPEC_SIGNATURE}");
        let req = spec_request(&header, SPEC_BODY);

        assert_eq!(verify(&req, &[SPEC_SECRET], at(SPEC_TIMESTAMP)), Ok(0));
    }

    #[test]
    fn a_signature_without_padding_still_verifies() {
        let unpadded = SPEC_SIGNATURE.trim_end_matches('=');
        let req = spec_request(unpadded, SPEC_BODY);

        assert_eq!(verify(&req, &[SPEC_SECRET], at(SPEC_TIMESTAMP)), Ok(0));
    }

    #[test]
    fn only_other_signature_versions_count_as_no_proof() {
        let req = spec_request("v2,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=", SPEC_BODY);

        let result = verify(&req, &[SPEC_SECRET], at(SPEC_TIMESTAMP));

        assert!(matches!(result, Err(VerifyError::MissingProof(_))));
    }

    #[test]
    fn missing_headers_are_missing_proof() {
        let ts = SPEC_TIMESTAMP.to_string();
        let all = [
            ("webhook-id", SPEC_ID),
            ("webhook-timestamp", ts.as_str()),
            ("webhook-signature", SPEC_SIGNATURE),
        ];
        for skip in 0..all.len() {
            let headers: Vec<_> = all
                .iter()
                .enumerate()
                .filter(|(i, _)| *i != skip)
                .map(|(_, h)| *h)
                .collect();
            let req = request(SPEC_BODY, &headers);

            let result = verify(&req, &[SPEC_SECRET], at(SPEC_TIMESTAMP));

            assert!(
                matches!(result, Err(VerifyError::MissingProof(_))),
                "{skip}: {result:?}"
            );
        }
    }

    #[test]
    fn a_non_numeric_timestamp_is_malformed() {
        let req = request(
            SPEC_BODY,
            &[
                ("webhook-id", SPEC_ID),
                ("webhook-timestamp", "2021-02-26T12:00:00Z"),
                ("webhook-signature", SPEC_SIGNATURE),
            ],
        );

        let result = verify(&req, &[SPEC_SECRET], at(SPEC_TIMESTAMP));

        assert!(matches!(result, Err(VerifyError::Malformed(_))));
    }

    #[test]
    fn keys_without_the_whsec_prefix_are_used_as_base64_or_raw_bytes() {
        let now = 1_800_000_000;
        let raw = signed(&design_example(), "plain text key!", now);
        let b64 = signed(&design_example(), "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", now);

        assert_eq!(verify(&raw, &["plain text key!"], at(now)), Ok(0));
        assert_eq!(verify(&b64, &[SPEC_SECRET], at(now)), Ok(0));
        assert_eq!(sign("whsec_!!!", "m", 1, b"{}"), None);
        assert_eq!(sign("", "m", 1, b"{}"), None);
    }

    #[test]
    fn a_body_re_signed_with_another_secret_verifies_with_that_secret_only() {
        let now = 1_800_000_000;
        let req = signed(&design_example(), OTHER_SECRET, now);

        assert_eq!(verify(&req, &[SPEC_SECRET, OTHER_SECRET], at(now)), Ok(1));
        assert!(verify(&req, &[SPEC_SECRET], at(now)).is_err());
    }

    #[test]
    fn the_design_example_normalizes_to_its_own_fields() {
        let req = signed(&design_example(), SPEC_SECRET, 1_800_000_000);

        let e = event(normalize(&req));

        assert_eq!(e.gateway, GatewayKind::Generic);
        assert_eq!(e.status, CanonicalStatus::Approved);
        assert_eq!(e.transaction_id.as_deref(), Some("T-1001"));
        assert_eq!(e.customer.email.as_deref(), Some("ana@example.com"));
        assert_eq!(e.customer.phone.as_deref(), Some("+5511912345678"));
        assert_eq!(e.customer.document, None);
        assert_eq!(e.product.as_ref().map(|p| p.id.as_str()), Some("EXT-42"));
        assert_eq!(e.amount_cents, Some(49700));
        assert_eq!(e.currency.as_deref(), Some("BRL"));
        assert_eq!(e.subscription_id, None);
        assert_eq!(e.native_event.as_deref(), Some("purchase.approved"));
        assert_eq!(e.event_id.as_deref(), Some("evt_01"));
        assert_eq!(
            e.occurred_at.map(|t| t.to_rfc3339()).as_deref(),
            Some("2026-11-23T14:59:58+00:00")
        );
    }

    #[test]
    fn numbers_and_messy_text_are_read_leniently() {
        let mut body = design_example();
        body["data"]["transaction_id"] = json!(1001);
        body["data"]["product"]["id"] = json!(42);
        body["data"]["customer"]["email"] = json!("  Ana.Souza@Example.COM ");
        body["data"]["amount_cents"] = json!("1990");
        body["data"]["recurrence"] = json!("3");
        body["data"]["status"] = json!("subscription_renewed");
        body["data"]["subscription_id"] = json!("sub_9");
        body["data"]["unknown_field"] = json!({"nested": [1, 2]});

        let e = event(normalize(&signed(&body, SPEC_SECRET, 1)));

        assert_eq!(e.status, CanonicalStatus::SubscriptionRenewed);
        assert_eq!(e.transaction_id.as_deref(), Some("1001"));
        assert_eq!(e.product.map(|p| p.id), Some("42".to_string()));
        assert_eq!(e.customer.email.as_deref(), Some("ana.souza@example.com"));
        assert_eq!(e.amount_cents, Some(1990));
        assert_eq!(e.recurrence, Some(3));
        assert_eq!(e.subscription_id.as_deref(), Some("sub_9"));
    }

    #[test]
    fn the_status_comes_from_the_type_when_data_has_none() {
        let mut body = design_example();
        body["type"] = json!("purchase.refunded");
        body["data"].as_object_mut().unwrap().remove("status");
        body.as_object_mut().unwrap().remove("id");

        let e = event(normalize(&signed(&body, SPEC_SECRET, 1)));

        assert_eq!(e.status, CanonicalStatus::Refunded);
        assert_eq!(e.event_id.as_deref(), Some("msg_abc"));
    }

    #[test]
    fn events_that_are_not_purchases_subscriptions_or_carts_are_ignored() {
        for event_type in ["access.granted", "student.created", "ping"] {
            let mut body = design_example();
            body["type"] = json!(event_type);

            let result = normalize(&signed(&body, SPEC_SECRET, 1));

            assert!(
                matches!(&result, Normalized::Ignored(i) if i.native_event.as_deref() == Some(event_type)),
                "{event_type}: {result:?}"
            );
        }
    }

    #[test]
    fn bad_payloads_are_ignored_or_read_partially_without_panicking() {
        let bodies = [
            json!({"id": "evt_1", "type": "purchase.approved"}),
            json!({"id": "evt_1", "type": "purchase.approved", "data": [1, 2]}),
            json!({"id": "evt_1", "type": "purchase.unknown", "data": {}}),
            json!({"type": 5, "data": {"status": "nope"}}),
            json!({"type": "purchase.approved", "data": {"customer": "x", "product": 3,
                "amount_cents": "12.5", "recurrence": -1, "occurred_at": 7}}),
        ];
        for body in bodies {
            let result = normalize(&signed(&body, SPEC_SECRET, 1));

            if let Normalized::Event(e) = result {
                assert_eq!(e.amount_cents, None);
                assert_eq!(e.product, None);
                assert_eq!(e.recurrence, None);
            }
        }
    }

    #[test]
    fn detection_needs_the_standard_webhooks_headers_and_json() {
        let req = signed(&design_example(), SPEC_SECRET, 1);
        let bare = request(SPEC_BODY, &[("webhook-id", SPEC_ID)]);
        let form = Payload::parse(BodyKind::Form, b"a=1").unwrap();

        assert!(Generic.detect(&req.0, &req.1));
        assert!(!Generic.detect(&bare.0, &bare.1));
        assert!(!Generic.detect(&req.0, &form));
    }
}
