//! Pagar.me (API v5 "Core"): JSON `{id:"hook_…", account, type, created_at,
//! data}`. v5 signs nothing; the webhook can be registered with HTTP Basic
//! auth, which arrives as `Authorization: Basic base64(user:password)` and
//! must equal a key written `user:password` (gancho generates
//! `gancho:<random>`). NOTES-MORE.md § 3 rates that MEDIUM (one integrator),
//! so where the panel offers no Basic auth the key can ride in `?token=`
//! instead; a Basic header that is present must match (no fallback). The old
//! v4 `X-Hub-Signature` does not apply to v5 and is not accepted.
//!
//! The transaction is the order (`or_…`) for order and charge events (a
//! charge names its `order`), and the invoice (`in_…`) for a subscription's
//! charges. The product is the first item's `code`, which the seller sets.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use chrono::{DateTime, NaiveDateTime, Utc};
use serde_json::{Map, Value};

use super::{GatewayAdapter, Ignored, Normalized, Proof, SecretSource, Setup};
use crate::inbound::normalize::{
    clean_email, rfc3339_to_time, CanonicalStatus, Customer, GatewayKind, NormalizedEvent,
    ProductRef,
};
use crate::inbound::request::{path_text, path_value, InboundRequest, Payload};
use crate::inbound::verify::{token_proof, VerifyError};

/// The Pagar.me adapter.
pub struct Pagarme;

impl GatewayAdapter for Pagarme {
    fn kind(&self) -> GatewayKind {
        GatewayKind::Pagarme
    }

    fn setup(&self) -> Setup {
        Setup {
            name: "Pagar.me",
            formats: "API v5 JSON",
            proof: Proof::HeaderToken,
            proof_detail: "Authorization: Basic base64(user:password) = the key user:password; ?token= where Basic auth is not offered",
            is_token_in_url: false,
            secret: SecretSource::Generated,
            where_to_paste: "No Dashboard Pagar.me, vá em Configurações > Webhooks > + Cadastrar Webhook. Cole a URL do gancho, marque os eventos (order.paid, charge.refunded, charge.chargedback, invoice.paid, subscription.canceled) e preencha usuário e senha da Autenticação básica com o usuário:senha gerado pelo gancho.",
        }
    }

    fn detect(&self, _req: &InboundRequest, payload: &Payload) -> bool {
        let Payload::Json(map) = payload else {
            return false;
        };
        let is_hook = path_text(map, &["id"]).is_some_and(|id| id.starts_with("hook_"))
            || map.get("account").is_some_and(Value::is_object);
        is_hook
            && path_text(map, &["type"]).is_some_and(|t| t.contains('.'))
            && map.get("data").is_some_and(Value::is_object)
    }

    fn verify(
        &self,
        req: &InboundRequest,
        _payload: &Payload,
        secrets: &[&str],
        _now: DateTime<Utc>,
    ) -> Result<usize, VerifyError> {
        let Some(header) = req.header("authorization") else {
            return token_proof(
                "pagarme",
                "Authorization: Basic header or ?token=",
                req.query_param("token"),
                secrets,
            );
        };
        let credentials = header
            .trim()
            .strip_prefix("Basic ")
            .or_else(|| header.trim().strip_prefix("basic "))
            .and_then(|b| STANDARD.decode(b.trim()).ok())
            .and_then(|bytes| String::from_utf8(bytes).ok())
            .ok_or(VerifyError::Malformed(
                "Authorization is not Basic base64(user:password)",
            ))?;
        token_proof(
            "pagarme",
            "Basic auth user:password",
            Some(&credentials),
            secrets,
        )
    }

    fn normalize(&self, _req: &InboundRequest, payload: &Payload) -> Normalized {
        let Some(map) = payload.as_json() else {
            return Ignored::unsupported(None, "Pagar.me webhooks are JSON");
        };
        let Some(event) = path_text(map, &["type"]) else {
            return Ignored::unsupported(None, "the body has no type");
        };
        let Some(data) = map.get("data").and_then(Value::as_object) else {
            return Ignored::unsupported(Some(event), "the body has no data object");
        };
        let built = match event.split_once('.').map(|(kind, _)| kind) {
            Some("order") => order_event(&event, data),
            Some("charge") => charge_event(&event, data),
            Some("invoice") => invoice_event(&event, data),
            Some("subscription") => subscription_event(&event, data),
            _ => None,
        };
        let Some(e) = built else {
            return Ignored::unsupported(Some(event), "this Pagar.me event is not handled");
        };
        Normalized::Event(Box::new(NormalizedEvent {
            customer: customer(data.get("customer")),
            currency: path_text(data, &["currency"])
                .or_else(|| path_text(data, &["charge", "currency"])),
            occurred_at: e
                .occurred_at
                .or_else(|| utc_time(path_text(map, &["created_at"]))),
            native_event: Some(event),
            event_id: path_text(map, &["id"]),
            ..e
        }))
    }

    fn secret_fields(&self) -> &'static [&'static str] {
        &[]
    }
}

/// `data` is an order: `or_…`, amount in cents, items with the seller's codes.
fn order_event(event: &str, order: &Map<String, Value>) -> Option<NormalizedEvent> {
    let status = match event {
        "order.paid" => CanonicalStatus::Approved,
        "order.payment_failed" => CanonicalStatus::Refused,
        "order.canceled" => CanonicalStatus::Canceled,
        _ => return None,
    };
    Some(NormalizedEvent {
        transaction_id: path_text(order, &["id"]),
        product: first_item(order),
        amount_cents: cents(order, "amount"),
        occurred_at: utc_time(
            first_charge(order)
                .and_then(|c| path_text(c, &["paid_at"]))
                .or_else(|| path_text(order, &["updated_at"])),
        ),
        ..NormalizedEvent::new(GatewayKind::Pagarme, status)
    })
}

/// `data` is a charge of an order (`data.order.id`) or of a subscription's
/// invoice (`data.invoice.id`).
fn charge_event(event: &str, charge: &Map<String, Value>) -> Option<NormalizedEvent> {
    let status = match event {
        "charge.refunded" => CanonicalStatus::Refunded,
        "charge.chargedback" => CanonicalStatus::Chargeback,
        "charge.payment_failed" => CanonicalStatus::Refused,
        _ => return None,
    };
    Some(NormalizedEvent {
        transaction_id: path_text(charge, &["order", "id"])
            .or_else(|| path_text(charge, &["invoice", "id"]))
            .or_else(|| path_text(charge, &["id"])),
        subscription_id: path_text(charge, &["invoice", "subscription_id"])
            .or_else(|| path_text(charge, &["invoice", "subscription", "id"])),
        amount_cents: cents(charge, "amount"),
        occurred_at: utc_time(path_text(charge, &["updated_at"])),
        ..NormalizedEvent::new(GatewayKind::Pagarme, status)
    })
}

/// `data` is a subscription's invoice: `cycle.cycle` > 1 is a renewal.
fn invoice_event(event: &str, invoice: &Map<String, Value>) -> Option<NormalizedEvent> {
    let cycle: Option<u32> = path_text(invoice, &["cycle", "cycle"]).and_then(|c| c.parse().ok());
    let status = match event {
        "invoice.paid" if cycle.is_some_and(|c| c > 1) => CanonicalStatus::SubscriptionRenewed,
        "invoice.paid" => CanonicalStatus::Approved,
        "invoice.payment_failed" => CanonicalStatus::SubscriptionDelayed,
        "invoice.canceled" => CanonicalStatus::Canceled,
        _ => return None,
    };
    Some(NormalizedEvent {
        transaction_id: path_text(invoice, &["id"]),
        product: first_item(invoice),
        amount_cents: cents(invoice, "amount"),
        subscription_id: path_text(invoice, &["subscription", "id"])
            .or_else(|| path_text(invoice, &["subscription_id"])),
        recurrence: cycle,
        occurred_at: utc_time(path_text(invoice, &["charge", "paid_at"])),
        ..NormalizedEvent::new(GatewayKind::Pagarme, status)
    })
}

/// `subscription.canceled`: access ends with the cycle already paid for.
fn subscription_event(event: &str, sub: &Map<String, Value>) -> Option<NormalizedEvent> {
    if event != "subscription.canceled" {
        return None;
    }
    Some(NormalizedEvent {
        subscription_id: path_text(sub, &["id"]),
        product: first_item(sub),
        occurred_at: utc_time(path_text(sub, &["canceled_at"])),
        access_ends_at: utc_time(path_text(sub, &["current_cycle", "end_at"])),
        ..NormalizedEvent::new(GatewayKind::Pagarme, CanonicalStatus::SubscriptionCanceled)
    })
}

fn customer(value: Option<&Value>) -> Customer {
    let Some(c) = value.and_then(Value::as_object) else {
        return Customer::default();
    };
    let phone = ["mobile_phone", "home_phone"].iter().find_map(|kind| {
        let part = |k: &str| path_text(c, &["phones", kind, k]).unwrap_or_default();
        let joined = format!(
            "{}{}{}",
            part("country_code"),
            part("area_code"),
            part("number")
        );
        Some(joined).filter(|p| !p.is_empty())
    });
    Customer {
        email: clean_email(path_text(c, &["email"])),
        name: path_text(c, &["name"]),
        phone,
        document: path_text(c, &["document"]),
    }
}

/// The first item with a `code` (set by the seller; Pagar.me has no product id).
fn first_item(map: &Map<String, Value>) -> Option<ProductRef> {
    let items = map.get("items")?.as_array()?;
    items.iter().filter_map(Value::as_object).find_map(|item| {
        Some(ProductRef {
            id: path_text(item, &["code"])?,
            name: path_text(item, &["description"]).or_else(|| path_text(item, &["name"])),
        })
    })
}

fn first_charge(order: &Map<String, Value>) -> Option<&Map<String, Value>> {
    path_value(order, &["charges"])?
        .as_array()?
        .first()?
        .as_object()
}

/// Pagar.me amounts are integer cents.
fn cents(map: &Map<String, Value>, key: &str) -> Option<i64> {
    map.get(key).and_then(Value::as_i64)
}

/// ISO timestamps in UTC, with or without the `Z` (Pagar.me often omits it).
fn utc_time(text: Option<String>) -> Option<DateTime<Utc>> {
    let text = text?;
    rfc3339_to_time(&text).or_else(|| {
        NaiveDateTime::parse_from_str(text.trim(), "%Y-%m-%dT%H:%M:%S%.f")
            .ok()
            .map(|t| t.and_utc())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inbound::gateways::fixture::{
        self, assert_every_fixture_normalizes, event, json_request, Expected,
    };
    use serde_json::json;

    const SECRET: &str = "gancho:test-pagarme-basic-pass-91c2";

    fn basic(credentials: &str) -> String {
        format!("Basic {}", STANDARD.encode(credentials))
    }

    #[test]
    fn every_fixture_verifies_with_its_credentials_only() {
        fixture::assert_only_its_secret_verifies(&Pagarme, "pagarme", Utc::now());
    }

    fn expected(stem: &str) -> Expected<'static> {
        use CanonicalStatus as S;
        let base = Expected {
            status: S::Approved,
            transaction: Some("or_GanchoJoana0001"),
            subscription: None,
            product: Some("mentoria-avancada"),
            amount_cents: Some(49700),
            email: Some("joana.exemplo@example.com"),
            is_dated: true,
        };
        match stem {
            "charge_chargedback" => Expected {
                status: S::Chargeback,
                product: None,
                ..base
            },
            "charge_refunded" => Expected {
                status: S::Refunded,
                product: None,
                ..base
            },
            "invoice_paid_renewal" => Expected {
                status: S::SubscriptionRenewed,
                transaction: Some("in_GanchoInv0002"),
                subscription: Some("sub_GanchoJoana0001"),
                product: None,
                amount_cents: Some(9700),
                ..base
            },
            "order_paid" => base,
            "subscription_canceled" => Expected {
                status: S::SubscriptionCanceled,
                transaction: None,
                subscription: Some("sub_GanchoJoana0001"),
                product: None,
                amount_cents: None,
                ..base
            },
            other => panic!("no expectation for pagarme/{other}"),
        }
    }

    #[test]
    fn every_fixture_normalizes_to_its_expected_event() {
        let events = assert_every_fixture_normalizes(&Pagarme, "pagarme", expected);

        for (name, e) in events {
            assert_eq!(e.currency.as_deref(), Some("BRL"), "{name}");
        }
    }

    #[test]
    fn pagarme_reads_customer_and_cycle_end() {
        let order = fixture::load("pagarme", "order_paid");
        let cancel = fixture::load("pagarme", "subscription_canceled");

        let order = event(Pagarme.normalize(&order.request, &order.payload));
        let cancel = event(Pagarme.normalize(&cancel.request, &cancel.payload));

        assert_eq!(order.customer.phone.as_deref(), Some("5521988887777"));
        assert_eq!(order.customer.document.as_deref(), Some("52998224725"));
        assert_eq!(
            order.occurred_at.map(|t| t.to_rfc3339()).as_deref(),
            Some("2025-01-15T12:25:01+00:00")
        );
        assert_eq!(
            cancel.access_ends_at.map(|t| t.to_rfc3339()).as_deref(),
            Some("2025-03-14T23:59:59+00:00")
        );
    }

    #[test]
    fn pagarme_basic_auth_must_match_when_present_and_token_is_the_fallback() {
        let body = fixture::json("pagarme", "order_paid");
        let wrong_basic = basic("gancho:wrong");
        let (wrong, wrong_payload) = json_request(
            &body,
            &[("authorization", &wrong_basic)],
            &[("token", SECRET)],
        );
        let (query, query_payload) = json_request(&body, &[], &[("token", SECRET)]);
        let (none, none_payload) = json_request(&body, &[], &[]);
        let (bearer, bearer_payload) = json_request(&body, &[("authorization", "Bearer x")], &[]);

        assert!(matches!(
            Pagarme.verify(&wrong, &wrong_payload, &[SECRET], Utc::now()),
            Err(VerifyError::BadSignature(_))
        ));
        assert_eq!(
            Pagarme.verify(&query, &query_payload, &[SECRET], Utc::now()),
            Ok(0)
        );
        assert!(matches!(
            Pagarme.verify(&none, &none_payload, &[SECRET], Utc::now()),
            Err(VerifyError::MissingProof(_))
        ));
        assert!(matches!(
            Pagarme.verify(&bearer, &bearer_payload, &[SECRET], Utc::now()),
            Err(VerifyError::Malformed(_))
        ));
    }

    #[test]
    fn pagarme_refunds_of_an_order_and_first_invoices_map() {
        let mut refund = fixture::json("pagarme", "charge_chargedback");
        refund["type"] = json!("charge.refunded");
        let mut first = fixture::json("pagarme", "invoice_paid_renewal");
        first["data"]["cycle"]["cycle"] = json!(1);
        let mut times = fixture::json("pagarme", "order_paid");
        times["data"]["charges"][0]["paid_at"] = json!("2017-06-29T20:23:47");
        let (refund_req, refund_payload) = json_request(&refund, &[], &[]);
        let (first_req, first_payload) = json_request(&first, &[], &[]);
        let (times_req, times_payload) = json_request(&times, &[], &[]);

        let refund = event(Pagarme.normalize(&refund_req, &refund_payload));
        let first = event(Pagarme.normalize(&first_req, &first_payload));
        let times = event(Pagarme.normalize(&times_req, &times_payload));

        assert_eq!(refund.status, CanonicalStatus::Refunded);
        assert_eq!(refund.transaction_id.as_deref(), Some("or_GanchoJoana0001"));
        assert_eq!(first.status, CanonicalStatus::Approved);
        assert_eq!(first.recurrence, Some(1));
        assert_eq!(
            times.occurred_at.map(|t| t.to_rfc3339()).as_deref(),
            Some("2017-06-29T20:23:47+00:00")
        );
    }

    #[test]
    fn pagarme_other_events_are_ignored_and_bad_payloads_never_panic() {
        let bodies = [
            json!({"type": "customer.created", "data": {}}),
            json!({"type": "order.paid", "data": {"items": "x", "charges": [1], "amount": "5"}}),
            json!({"type": "invoice.paid", "data": {"cycle": {"cycle": "two"}}}),
            json!({"type": "charge.refunded", "data": {"order": []}}),
            json!({"type": "subscription.canceled", "data": {"current_cycle": 3}}),
            json!({"type": 3, "data": {}}),
            json!({}),
        ];
        for body in bodies {
            let (req, payload) = json_request(&body, &[], &[]);

            if let Normalized::Event(e) = Pagarme.normalize(&req, &payload) {
                assert_eq!(e.amount_cents, None, "{body}");
            }
        }
    }
}
