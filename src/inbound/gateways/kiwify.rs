//! Kiwify: JSON orders signed with `?signature=` (hex HMAC-SHA1 of the raw
//! body keyed by the webhook token), plus the flat abandoned-cart payload,
//! which has no `webhook_event_type`. Field locations and the status mapping
//! follow ../shared/gateways/NOTES.md § 3.

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use super::{GatewayAdapter, Ignored, Normalized, Proof, SecretSource, Setup};
use crate::inbound::normalize::{
    any_time, clean_email, CanonicalStatus, Customer, GatewayKind, NormalizedEvent, ProductRef,
};
use crate::inbound::request::{path_text, value_text, InboundRequest, Payload};
use crate::inbound::verify::{first_match, hex_digest_eq, hmac_sha1_hex, VerifyError};

/// The Kiwify adapter.
pub struct Kiwify;

impl GatewayAdapter for Kiwify {
    fn kind(&self) -> GatewayKind {
        GatewayKind::Kiwify
    }

    fn setup(&self) -> Setup {
        Setup {
            name: "Kiwify",
            formats: "JSON",
            proof: Proof::Signature,
            proof_detail: "?signature= = hex HMAC-SHA1 of the raw body keyed by the webhook's token",
            is_token_in_url: false,
            secret: SecretSource::FromGateway,
            where_to_paste: "Na Kiwify, vá em Apps > Webhooks > Criar Webhook. Dê um nome, cole a URL do gancho, escolha os produtos e os eventos (Compra aprovada, Compra reembolsada, Chargeback, Assinatura cancelada, Assinatura renovada) e copie o Token do webhook para o gancho.",
        }
    }

    fn detect(&self, req: &InboundRequest, payload: &Payload) -> bool {
        let Payload::Json(root) = payload else {
            return false;
        };
        if req.query_param("signature").is_some_and(is_sha1_hex) {
            return true;
        }
        let map = unwrap_order(root);
        let has_customer = map.contains_key("Customer") || map.contains_key("customer");
        map.contains_key("webhook_event_type")
            || (map.contains_key("order_id") && has_customer)
            || (map.contains_key("checkout_link") && map.contains_key("status"))
    }

    fn verify(
        &self,
        req: &InboundRequest,
        _payload: &Payload,
        secrets: &[&str],
        _now: DateTime<Utc>,
    ) -> Result<usize, VerifyError> {
        if secrets.iter().all(|s| s.is_empty()) {
            return Err(VerifyError::NoKeys("kiwify"));
        }
        let Some(given) = req
            .query_param("signature")
            .map(str::trim)
            .filter(|s| !s.is_empty())
        else {
            return Err(VerifyError::MissingProof("signature query parameter"));
        };
        // NOTES.md § 3: the MAC covers the raw bytes (also when the body is
        // wrapped in `order`), and an empty token proves nothing.
        first_match(secrets, |s| {
            !s.is_empty() && hex_digest_eq(given, &hmac_sha1_hex(s.as_bytes(), &req.body))
        })
        .ok_or(VerifyError::BadSignature("signature"))
    }

    fn normalize(&self, _req: &InboundRequest, payload: &Payload) -> Normalized {
        let Some(root) = payload.as_json() else {
            return Ignored::unsupported(None, "Kiwify webhooks are JSON");
        };
        let map = unwrap_order(root);
        let is_abandoned = path_text(map, &["status"]).is_some_and(|s| s == "abandoned");
        match path_text(map, &["webhook_event_type"]) {
            Some(event) => normalize_order(map, event),
            None if is_abandoned => normalize_abandoned_cart(map),
            None => Ignored::unsupported(None, "the body has no webhook_event_type"),
        }
    }

    fn secret_fields(&self) -> &'static [&'static str] {
        &[]
    }
}

fn is_sha1_hex(text: &str) -> bool {
    let text = text.trim();
    text.len() == 40 && text.chars().all(|c| c.is_ascii_hexdigit())
}

/// Test webhooks may arrive wrapped as `{"order": {...}}` (NOTES.md § 3).
fn unwrap_order(root: &Map<String, Value>) -> &Map<String, Value> {
    let is_bare = root.contains_key("webhook_event_type") || root.contains_key("order_id");
    match root.get("order").and_then(Value::as_object) {
        Some(inner) if !is_bare => inner,
        _ => root,
    }
}

fn order_status(event: &str) -> Option<CanonicalStatus> {
    Some(match event {
        "order_approved" => CanonicalStatus::Approved,
        "subscription_renewed" => CanonicalStatus::SubscriptionRenewed,
        "order_refunded" => CanonicalStatus::Refunded,
        "chargeback" => CanonicalStatus::Chargeback,
        "order_rejected" => CanonicalStatus::Refused,
        "billet_created" | "pix_created" => CanonicalStatus::WaitingPayment,
        "subscription_canceled" => CanonicalStatus::SubscriptionCanceled,
        "subscription_late" => CanonicalStatus::SubscriptionDelayed,
        _ => return None,
    })
}

fn normalize_order(map: &Map<String, Value>, event: String) -> Normalized {
    let Some(status) = order_status(&event) else {
        return Ignored::unsupported(Some(event), "this Kiwify event is not handled");
    };
    let Some(order_id) = path_text(map, &["order_id"]) else {
        return Ignored::unsupported(Some(event), "the order has no order_id");
    };
    let customer = section(map, "Customer");
    let product = section(map, "Product");
    let subscription = section(map, "Subscription");
    let commissions = section(map, "Commissions");
    let access_ends_at = match status {
        CanonicalStatus::SubscriptionCanceled => {
            field(subscription, "next_payment").and_then(|t| any_time(&t))
        }
        _ => None,
    };
    Normalized::Event(Box::new(NormalizedEvent {
        transaction_id: Some(order_id),
        customer: Customer {
            email: clean_email(field(customer, "email")),
            name: field(customer, "full_name").or_else(|| field(customer, "first_name")),
            phone: field(customer, "mobile"),
            document: ["CPF", "cpf", "cnpj", "CNPJ"]
                .iter()
                .find_map(|k| field(customer, k)),
        },
        product: field(product, "product_id").map(|id| ProductRef {
            id,
            name: field(product, "product_name"),
        }),
        // Kiwify amounts are already integer cents.
        amount_cents: field(commissions, "charge_amount").and_then(|a| integer_cents(&a)),
        currency: field(commissions, "currency")
            .or_else(|| field(commissions, "product_base_price_currency"))
            .or_else(|| path_text(map, &["product_base_price_currency"])),
        subscription_id: path_text(map, &["subscription_id"]).or_else(|| field(subscription, "id")),
        recurrence: subscription.and_then(completed_charges),
        occurred_at: occurred_at(map, status),
        native_event: Some(event),
        access_ends_at,
        ..NormalizedEvent::new(GatewayKind::Kiwify, status)
    }))
}

/// The flat "carrinho abandonado" payload: a lead, with no order.
fn normalize_abandoned_cart(map: &Map<String, Value>) -> Normalized {
    let text = |key: &str| path_text(map, &[key]);
    Normalized::Event(Box::new(NormalizedEvent {
        customer: Customer {
            email: clean_email(text("email")),
            name: text("name"),
            phone: text("phone"),
            document: text("cpf").or_else(|| text("cnpj")),
        },
        product: text("product_id").map(|id| ProductRef {
            id,
            name: text("product_name"),
        }),
        occurred_at: text("created_at").and_then(|t| any_time(&t)),
        native_event: Some("status=abandoned".to_string()),
        event_id: text("id"),
        ..NormalizedEvent::new(GatewayKind::Kiwify, CanonicalStatus::CartAbandoned)
    }))
}

/// A top-level object under its PascalCase name or its lowercase one.
fn section<'a>(map: &'a Map<String, Value>, name: &str) -> Option<&'a Map<String, Value>> {
    map.get(name).and_then(Value::as_object).or_else(|| {
        map.get(&name.to_ascii_lowercase())
            .and_then(Value::as_object)
    })
}

fn field(section: Option<&Map<String, Value>>, key: &str) -> Option<String> {
    section.and_then(|s| s.get(key)).and_then(value_text)
}

/// `49700` (or `"49700"`, `49700.0`) as cents.
fn integer_cents(text: &str) -> Option<i64> {
    text.parse()
        .ok()
        .or_else(|| text.strip_suffix(".0")?.parse().ok())
}

/// NOTES.md § 3: no explicit counter; the number of completed charges.
fn completed_charges(subscription: &Map<String, Value>) -> Option<u32> {
    let completed = subscription.get("charges")?.get("completed")?.as_array()?;
    u32::try_from(completed.len()).ok().filter(|n| *n > 0)
}

/// When this status happened: the refund's time for refunds, the approval
/// for approvals, else the last update (São Paulo wall time or ISO).
fn occurred_at(map: &Map<String, Value>, status: CanonicalStatus) -> Option<DateTime<Utc>> {
    let keys: &[&str] = match status {
        CanonicalStatus::Refunded | CanonicalStatus::Chargeback => {
            &["refunded_at", "updated_at", "created_at"]
        }
        CanonicalStatus::Approved | CanonicalStatus::SubscriptionRenewed => {
            &["approved_date", "updated_at", "created_at"]
        }
        _ => &["updated_at", "created_at"],
    };
    keys.iter()
        .filter_map(|k| path_text(map, &[k]))
        .find_map(|t| any_time(&t))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inbound::gateways::fixture;
    use crate::inbound::request::BodyKind;
    use bytes::Bytes;
    use serde_json::json;

    const OTHER: &str = "another-kiwify-token";
    const FIXTURE_TOKEN: &str = "test-kiwify-token-7f3a9c";

    /// status, transaction, subscription, recurrence, amount in cents.
    type Expected = (
        CanonicalStatus,
        Option<&'static str>,
        Option<&'static str>,
        Option<u32>,
        Option<i64>,
    );

    fn expected(stem: &str) -> Option<Expected> {
        use CanonicalStatus as S;
        let sale = Some("b6ba3959-30b5-44fc-a3e5-2c61e3d68ee5");
        let renewal = Some("0b5e0003-1111-4222-8333-444455556666");
        let sub = Some("f3a1b2c4-d5e6-4f70-8a9b-c0d1e2f3a4b5");
        Some(match stem {
            "abandoned_cart" => (S::CartAbandoned, None, None, None, None),
            "billet_created" => (
                S::WaitingPayment,
                Some("4e9f0a1b-2c3d-4e4f-8a5b-6c7d8e9f0a1b"),
                None,
                None,
                Some(49700),
            ),
            "chargeback" => (S::Chargeback, sale, None, None, Some(49700)),
            "order_approved" => (S::Approved, sale, None, None, Some(49700)),
            "order_refunded" => (S::Refunded, sale, None, None, Some(49700)),
            "pix_created" => (
                S::WaitingPayment,
                Some("3d8e9f0a-1b2c-4d3e-8f4a-5b6c7d8e9f0a"),
                None,
                None,
                Some(49700),
            ),
            "subscription_canceled" => (S::SubscriptionCanceled, renewal, sub, Some(3), Some(9700)),
            "subscription_renewed" => (S::SubscriptionRenewed, renewal, sub, Some(3), Some(9700)),
            _ => return None,
        })
    }

    fn event(normalized: Normalized) -> NormalizedEvent {
        match normalized {
            Normalized::Event(e) => *e,
            other => panic!("expected an event, got {other:?}"),
        }
    }

    /// `body` as Kiwify would post it, signed with `token`.
    fn signed(body: &Value, token: &str) -> (InboundRequest, Payload) {
        let bytes = serde_json::to_vec(body).unwrap();
        let signature = hmac_sha1_hex(token.as_bytes(), &bytes);
        let payload = Payload::parse(BodyKind::Json, &bytes).unwrap();
        let request = InboundRequest {
            headers: vec![],
            query: vec![("signature".to_string(), signature)],
            body: Bytes::from(bytes),
            kind: BodyKind::Json,
        };
        (request, payload)
    }

    fn body(stem: &str) -> Value {
        serde_json::from_slice(&fixture::load("kiwify", stem).request.body).unwrap()
    }

    #[test]
    fn every_fixture_verifies_with_its_token_only() {
        for stem in fixture::stems("kiwify") {
            let f = fixture::load("kiwify", &stem);
            let verify =
                |secrets: &[&str]| Kiwify.verify(&f.request, &f.payload, secrets, Utc::now());

            assert_eq!(verify(&[&f.secret]), Ok(0), "{stem}");
            assert_eq!(verify(&["", OTHER, &f.secret]), Ok(2), "{stem}");
            assert_eq!(
                verify(&[OTHER]),
                Err(VerifyError::BadSignature("signature")),
                "{stem}"
            );
            assert_eq!(verify(&[]), Err(VerifyError::NoKeys("kiwify")), "{stem}");
        }
    }

    #[test]
    fn every_fixture_normalizes_to_its_expected_event() {
        for stem in fixture::stems("kiwify") {
            let f = fixture::load("kiwify", &stem);
            let normalized = Kiwify.normalize(&f.request, &f.payload);
            let Some((status, transaction, subscription, recurrence, cents)) = expected(&stem)
            else {
                continue; // A new fixture: it must at least not panic.
            };

            let e = event(normalized);

            assert_eq!(e.gateway, GatewayKind::Kiwify, "{stem}");
            assert_eq!(e.status, status, "{stem}");
            assert_eq!(e.transaction_id.as_deref(), transaction, "{stem}");
            assert_eq!(e.subscription_id.as_deref(), subscription, "{stem}");
            assert_eq!(e.recurrence, recurrence, "{stem}");
            assert_eq!(e.amount_cents, cents, "{stem}");
            assert_eq!(
                e.customer.email.as_deref(),
                Some("maria.teste@example.com"),
                "{stem}"
            );
            assert_eq!(
                e.product.as_ref().map(|p| p.id.as_str()),
                Some("8a1c2f4e-5b6d-4c7e-9f80-1a2b3c4d5e6f"),
                "{stem}"
            );
            assert!(e.occurred_at.is_some(), "{stem}");
        }
    }

    #[test]
    fn kiwify_order_fields_and_sao_paulo_times_are_read() {
        let f = fixture::load("kiwify", "order_approved");

        let e = event(Kiwify.normalize(&f.request, &f.payload));

        assert_eq!(e.customer.name.as_deref(), Some("Maria Teste"));
        assert_eq!(e.customer.phone.as_deref(), Some("+5511987654321"));
        assert_eq!(e.customer.document.as_deref(), Some("12345678909"));
        assert_eq!(e.currency.as_deref(), Some("BRL"));
        assert_eq!(e.native_event.as_deref(), Some("order_approved"));
        // "2025-01-15 09:30" in São Paulo is 12:30 UTC.
        assert_eq!(
            e.occurred_at.map(|t| t.to_rfc3339()).as_deref(),
            Some("2025-01-15T12:30:00+00:00")
        );
    }

    #[test]
    fn kiwify_refunds_happen_at_refunded_at() {
        let f = fixture::load("kiwify", "order_refunded");

        let e = event(Kiwify.normalize(&f.request, &f.payload));

        assert_eq!(
            e.occurred_at.map(|t| t.to_rfc3339()).as_deref(),
            Some("2025-01-20T13:00:00+00:00")
        );
    }

    #[test]
    fn kiwify_subscription_canceled_ends_access_at_next_payment() {
        let f = fixture::load("kiwify", "subscription_canceled");

        let e = event(Kiwify.normalize(&f.request, &f.payload));

        assert_eq!(
            e.access_ends_at.map(|t| t.to_rfc3339()).as_deref(),
            Some("2025-04-15T12:30:00+00:00")
        );
    }

    #[test]
    fn kiwify_abandoned_cart_reads_the_flat_fields() {
        let f = fixture::load("kiwify", "abandoned_cart");

        let e = event(Kiwify.normalize(&f.request, &f.payload));

        assert_eq!(
            e.event_id.as_deref(),
            Some("7a6b5c4d-3e2f-4a1b-9c8d-7e6f5a4b3c2d")
        );
        assert_eq!(e.customer.phone.as_deref(), Some("5511987654321"));
        assert_eq!(e.customer.document.as_deref(), Some("12345678909"));
        assert_eq!(e.transaction_id, None);
    }

    #[test]
    fn kiwify_output_follows_changed_values_and_a_new_token() {
        let mut b = body("subscription_renewed");
        b["order_id"] = json!("order-xyz");
        b["Customer"]["email"] = json!("  Pedro.ALVES@Example.com ");
        b["Commissions"]["charge_amount"] = json!("12345");
        b["Subscription"]["charges"]["completed"] = json!([{}, {}, {}, {}, {}]);
        b["Product"]["product_id"] = json!(777);
        b["extra"] = json!({"deep": [1, 2, 3]});
        let (req, payload) = signed(&b, OTHER);

        let verified = Kiwify.verify(&req, &payload, &[FIXTURE_TOKEN, OTHER], Utc::now());
        let e = event(Kiwify.normalize(&req, &payload));

        assert_eq!(verified, Ok(1));
        assert_eq!(e.transaction_id.as_deref(), Some("order-xyz"));
        assert_eq!(e.customer.email.as_deref(), Some("pedro.alves@example.com"));
        assert_eq!(e.amount_cents, Some(12345));
        assert_eq!(e.recurrence, Some(5));
        assert_eq!(e.product.map(|p| p.id).as_deref(), Some("777"));
    }

    #[test]
    fn kiwify_lowercase_sections_and_order_wrapper_are_read() {
        let mut inner = body("order_approved");
        let map = inner.as_object_mut().unwrap();
        for name in ["Customer", "Product", "Commissions", "Subscription"] {
            let value = map.remove(name).unwrap();
            map.insert(name.to_ascii_lowercase(), value);
        }
        let (req, payload) = signed(&json!({ "order": inner }), OTHER);

        let verified = Kiwify.verify(&req, &payload, &[OTHER], Utc::now());
        let e = event(Kiwify.normalize(&req, &payload));

        assert_eq!(verified, Ok(0));
        assert!(Kiwify.detect(&req, &payload));
        assert_eq!(e.status, CanonicalStatus::Approved);
        assert_eq!(e.customer.email.as_deref(), Some("maria.teste@example.com"));
        assert_eq!(e.amount_cents, Some(49700));
    }

    #[test]
    fn kiwify_tampered_or_unsigned_bodies_are_rejected() {
        let f = fixture::load("kiwify", "order_approved");
        let mut tampered = f.request.clone();
        let text = String::from_utf8(f.request.body.to_vec()).unwrap();
        tampered.body = Bytes::from(text.replacen("49700", "49701", 1));
        let mut unsigned = f.request.clone();
        unsigned.query.clear();
        let mut upper = f.request.clone();
        upper.query = vec![("signature".into(), f.request.query[0].1.to_uppercase())];

        let tampered = Kiwify.verify(&tampered, &f.payload, &[&f.secret], Utc::now());
        let unsigned = Kiwify.verify(&unsigned, &f.payload, &[&f.secret], Utc::now());
        let upper = Kiwify.verify(&upper, &f.payload, &[&f.secret], Utc::now());

        assert_eq!(tampered, Err(VerifyError::BadSignature("signature")));
        assert!(matches!(unsigned, Err(VerifyError::MissingProof(_))));
        assert_eq!(upper, Ok(0));
    }

    #[test]
    fn kiwify_signature_with_an_empty_token_proves_nothing() {
        let (req, payload) = signed(&body("order_approved"), "");

        assert_eq!(
            Kiwify.verify(&req, &payload, &[""], Utc::now()),
            Err(VerifyError::NoKeys("kiwify"))
        );
        assert!(Kiwify
            .verify(&req, &payload, &["", OTHER], Utc::now())
            .is_err());
    }

    #[test]
    fn kiwify_unknown_events_are_ignored() {
        let mut b = body("order_approved");
        b["webhook_event_type"] = json!("order_shipped");
        let (req, payload) = signed(&b, OTHER);

        let result = Kiwify.normalize(&req, &payload);

        assert!(matches!(
            result,
            Normalized::Ignored(Ignored { native_event: Some(n), .. }) if n == "order_shipped"
        ));
    }

    #[test]
    fn kiwify_bad_payloads_never_panic() {
        let bodies = [
            json!({"webhook_event_type": "order_approved"}),
            json!({"webhook_event_type": "order_approved", "order_id": 5, "Customer": "x",
                "Product": [], "Commissions": {"charge_amount": "12.34"}, "Subscription": 3}),
            json!({"webhook_event_type": "subscription_canceled", "order_id": "o",
                "Subscription": {"charges": {"completed": "all"}, "next_payment": 12}}),
            json!({"webhook_event_type": 9, "status": "abandoned"}),
            json!({"status": "abandoned", "email": 3}),
            json!({"order": 1}),
            json!({}),
        ];
        for b in bodies {
            let (req, payload) = signed(&b, OTHER);

            if let Normalized::Event(e) = Kiwify.normalize(&req, &payload) {
                assert_eq!(e.amount_cents, None, "{b}");
                assert_eq!(e.recurrence, None, "{b}");
            }
        }
    }
}
