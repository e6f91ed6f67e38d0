//! Ticto: JSON postback with the account's `token` in the body (compared in
//! constant time; Ticto signs nothing) and the sale's state in `status`.
//! ../shared/gateways/NOTES.md § 7 knows the fields only from a flattened
//! mirror (`customer_email`, `order_hash`, `item_product_id`, …), read here
//! as `customer.email`, `order.hash`, `item.product_id` like the fixtures
//! (LOW); the flat names are accepted too.
//!
//! Decisions (LOW): amounts are cents (`order.paid_amount`); `trial` and
//! `trial_started` grant like a sale; `all_charges_paid` completes it;
//! Ticto names no subscription id we know of, so `subscription_canceled`
//! and `subscription_delayed` are recorded and forwarded but change no access.

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use super::{GatewayAdapter, Ignored, Normalized, Proof, SecretSource, Setup};
use crate::inbound::normalize::{
    any_time, clean_email, CanonicalStatus, Customer, GatewayKind, NormalizedEvent, ProductRef,
};
use crate::inbound::request::{path_text, InboundRequest, Payload};
use crate::inbound::verify::{token_proof, VerifyError};

/// The Ticto adapter.
pub struct Ticto;

impl GatewayAdapter for Ticto {
    fn kind(&self) -> GatewayKind {
        GatewayKind::Ticto
    }

    fn setup(&self) -> Setup {
        Setup {
            name: "Ticto",
            formats: "JSON postback",
            proof: Proof::BodyToken,
            proof_detail: "body token = the postback's token",
            is_token_in_url: false,
            secret: SecretSource::FromGateway,
            where_to_paste: "Na Ticto, vá em Ferramentas > Webhooks (Postback) > Adicionar. Cole a URL do gancho, escolha o produto e os eventos, e copie o token exibido pela Ticto para o gancho.",
        }
    }

    fn detect(&self, _req: &InboundRequest, payload: &Payload) -> bool {
        let Payload::Json(map) = payload else {
            return false;
        };
        let nested = path_text(map, &["order", "hash"]).is_some()
            && map.get("item").is_some_and(Value::is_object);
        let flat = map.contains_key("order_hash") && map.contains_key("item_product_id");
        (nested || flat) && map.get("status").is_some_and(Value::is_string)
    }

    fn verify(
        &self,
        _req: &InboundRequest,
        payload: &Payload,
        secrets: &[&str],
        _now: DateTime<Utc>,
    ) -> Result<usize, VerifyError> {
        token_proof(
            "ticto",
            "token field",
            payload.text("token").as_deref(),
            secrets,
        )
    }

    fn normalize(&self, _req: &InboundRequest, payload: &Payload) -> Normalized {
        let Some(map) = payload.as_json() else {
            return Ignored::unsupported(None, "Ticto postbacks are JSON");
        };
        let Some(raw) = path_text(map, &["status"]) else {
            return Ignored::unsupported(None, "the postback has no status");
        };
        let native = format!("status={raw}");
        let status = match status(&raw) {
            Ok(status) => status,
            Err(is_ack) => {
                return Normalized::Ignored(Ignored {
                    native_event: Some(native),
                    reason: "this Ticto status does not change access".into(),
                    is_ack,
                })
            }
        };
        let text = |nested: &[&str], flat: &str| {
            path_text(map, nested).or_else(|| path_text(map, &[flat]))
        };
        let phone = ["ddi", "ddd", "number"]
            .iter()
            .filter_map(|k| path_text(map, &["customer", "phone", k]))
            .collect::<String>();
        Normalized::Event(Box::new(NormalizedEvent {
            transaction_id: text(&["order", "hash"], "order_hash"),
            customer: Customer {
                email: clean_email(text(&["customer", "email"], "customer_email")),
                name: text(&["customer", "name"], "customer_name"),
                phone: Some(phone).filter(|p| !p.is_empty()),
                document: text(&["customer", "cpf"], "customer_cpf")
                    .or_else(|| path_text(map, &["customer", "cnpj"])),
            },
            product: text(&["item", "product_id"], "item_product_id").map(|id| ProductRef {
                id,
                name: text(&["item", "product_name"], "item_product_name"),
            }),
            amount_cents: text(&["order", "paid_amount"], "order_paid_amount")
                .and_then(|a| a.parse().ok()),
            currency: Some("BRL".to_string()),
            occurred_at: occurred_at(map),
            native_event: Some(native),
            ..NormalizedEvent::new(GatewayKind::Ticto, status)
        }))
    }

    fn secret_fields(&self) -> &'static [&'static str] {
        &["token"]
    }
}

/// NOTES.md § 7. `Err(true)`: known, changes nothing; `Err(false)`: not handled.
fn status(raw: &str) -> Result<CanonicalStatus, bool> {
    Ok(match raw {
        "authorized" | "trial" | "trial_started" => CanonicalStatus::Approved,
        "waiting_payment" | "bank_slip_created" | "bank_slip_delayed" | "pix_created" => {
            CanonicalStatus::WaitingPayment
        }
        "pix_expired" => CanonicalStatus::Expired,
        "refused" => CanonicalStatus::Refused,
        "refunded" => CanonicalStatus::Refunded,
        "chargeback" => CanonicalStatus::Chargeback,
        "abandoned_cart" => CanonicalStatus::CartAbandoned,
        "all_charges_paid" => CanonicalStatus::Completed,
        "subscription_canceled" => CanonicalStatus::SubscriptionCanceled,
        "subscription_delayed" => CanonicalStatus::SubscriptionDelayed,
        "close" | "trial_ended" | "card_exchanged" | "extended" | "uncanceled" => return Err(true),
        _ => return Err(false),
    })
}

/// `status_date`, else the order's date (São Paulo wall time).
fn occurred_at(map: &Map<String, Value>) -> Option<DateTime<Utc>> {
    [
        path_text(map, &["status_date"]),
        path_text(map, &["order", "order_date"]),
    ]
    .into_iter()
    .flatten()
    .find_map(|t| any_time(&t))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inbound::gateways::fixture::{
        self, assert_every_fixture_normalizes, event, json_request, Expected,
    };
    use serde_json::json;

    #[test]
    fn every_fixture_verifies_with_its_token_only() {
        fixture::assert_only_its_secret_verifies(&Ticto, "ticto", Utc::now());
    }

    fn expected(stem: &str) -> Expected<'static> {
        use CanonicalStatus as S;
        let base = Expected {
            status: S::Approved,
            transaction: Some("TOA1B2C3D4E5F6"),
            subscription: None,
            product: Some("12345"),
            amount_cents: Some(49700),
            email: Some("maria.teste@example.com"),
            is_dated: true,
        };
        match stem {
            "authorized" => base,
            "pix_created" => Expected {
                status: S::WaitingPayment,
                ..base
            },
            "refunded" => Expected {
                status: S::Refunded,
                ..base
            },
            other => panic!("no expectation for ticto/{other}"),
        }
    }

    #[test]
    fn every_fixture_normalizes_to_its_expected_event() {
        let events = assert_every_fixture_normalizes(&Ticto, "ticto", expected);

        for (name, e) in events {
            assert_eq!(
                e.customer.phone.as_deref(),
                Some("+5511987654321"),
                "{name}"
            );
            assert_eq!(
                e.occurred_at.map(|t| t.to_rfc3339()).as_deref(),
                Some("2025-01-15T12:30:00+00:00"),
                "{name}"
            );
        }
    }

    #[test]
    fn ticto_without_its_token_or_with_an_empty_one_is_rejected() {
        let key = fixture::load("ticto", "authorized").secret;
        let mut missing = fixture::json("ticto", "authorized");
        missing.as_object_mut().unwrap().remove("token");
        let mut empty = missing.clone();
        empty["token"] = json!("");
        let (missing, missing_payload) = json_request(&missing, &[], &[]);
        let (empty, empty_payload) = json_request(&empty, &[], &[]);

        let missing = Ticto.verify(&missing, &missing_payload, &[&key], Utc::now());
        let empty = Ticto.verify(&empty, &empty_payload, &[&key], Utc::now());

        assert!(
            matches!(missing, Err(VerifyError::MissingProof(_))),
            "{missing:?}"
        );
        assert!(
            matches!(empty, Err(VerifyError::MissingProof(_))),
            "{empty:?}"
        );
    }

    #[test]
    fn ticto_flat_field_names_are_read_too() {
        let body = json!({"token": "t", "status": "authorized", "order_hash": "H1",
            "item_product_id": 9, "customer_email": "Ana@X.com", "order_paid_amount": 100});
        let (req, payload) = json_request(&body, &[], &[]);

        let e = event(Ticto.normalize(&req, &payload));

        assert!(Ticto.detect(&req, &payload));
        assert_eq!(e.transaction_id.as_deref(), Some("H1"));
        assert_eq!(e.customer.email.as_deref(), Some("ana@x.com"));
        assert_eq!(e.product.map(|p| p.id).as_deref(), Some("9"));
        assert_eq!(e.amount_cents, Some(100));
    }

    #[test]
    fn ticto_statuses_map_and_others_are_ignored() {
        let cases = [
            ("chargeback", Some(CanonicalStatus::Chargeback)),
            ("pix_expired", Some(CanonicalStatus::Expired)),
            ("abandoned_cart", Some(CanonicalStatus::CartAbandoned)),
            ("card_exchanged", None),
            ("new_status", None),
        ];
        for (raw, expected) in cases {
            let mut body = fixture::json("ticto", "authorized");
            body["status"] = json!(raw);
            let (req, payload) = json_request(&body, &[], &[]);

            match (expected, Ticto.normalize(&req, &payload)) {
                (Some(s), Normalized::Event(e)) => assert_eq!(e.status, s, "{raw}"),
                (None, Normalized::Ignored(i)) => {
                    assert_eq!(i.native_event, Some(format!("status={raw}")))
                }
                (_, other) => panic!("{raw}: {other:?}"),
            }
        }
    }

    #[test]
    fn ticto_bad_payloads_never_panic() {
        let bodies = [
            json!({"status": "authorized"}),
            json!({"status": "authorized", "order": [], "customer": {"phone": 5}}),
            json!({"status": "authorized", "order": {"paid_amount": "12.5"}}),
            json!({"status": 3}),
            json!({}),
        ];
        for body in bodies {
            let (req, payload) = json_request(&body, &[], &[]);

            if let Normalized::Event(e) = Ticto.normalize(&req, &payload) {
                assert_eq!(e.amount_cents, None, "{body}");
            }
        }
    }
}
