//! Payt: JSON "postback V1" `{integration_key, status, type, transaction_id,
//! customer, product, transaction, subscription?, test, …}`, proven by
//! `integration_key` = the seller's "chave de integração", compared in
//! constant time (Payt signs nothing). Statuses and the mapping follow
//! ../shared/gateways/NOTES-MORE.md § 8 (MEDIUM-HIGH: vendor-made examples).
//!
//! Decisions: `test: true` postbacks are acknowledged and not applied.
//! `cancelled` is a refusal when `transaction.payment_status` says
//! `refused`, else a cancellation. `refunded` and `chargeback` are not in
//! Payt's public examples (LOW) but are read by their obvious names.
//! Logistics statuses of physical goods are acknowledged. Money is cents,
//! dates São Paulo wall time.

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use super::{GatewayAdapter, Ignored, Normalized, Proof, SecretSource, Setup};
use crate::inbound::normalize::{
    any_time, clean_email, CanonicalStatus, Customer, GatewayKind, NormalizedEvent, ProductRef,
};
use crate::inbound::request::{path_text, InboundRequest, Payload};
use crate::inbound::verify::{token_proof, VerifyError};

/// The Payt adapter.
pub struct Payt;

impl GatewayAdapter for Payt {
    fn kind(&self) -> GatewayKind {
        GatewayKind::Payt
    }

    fn setup(&self) -> Setup {
        Setup {
            name: "Payt",
            formats: "JSON postback V1",
            proof: Proof::BodyToken,
            proof_detail: "body integration_key = the chave de integração",
            is_token_in_url: false,
            secret: SecretSource::FromGateway,
            where_to_paste: "Na Payt, vá em Ferramentas > Postbacks > + Cadastrar. Cole a URL do gancho e copie a chave de integração exibida pela Payt para o gancho.",
        }
    }

    fn detect(&self, _req: &InboundRequest, payload: &Payload) -> bool {
        let Payload::Json(map) = payload else {
            return false;
        };
        map.contains_key("integration_key")
            && map.get("status").is_some_and(Value::is_string)
            && (map.contains_key("transaction_id") || map.contains_key("cart_id"))
    }

    fn verify(
        &self,
        _req: &InboundRequest,
        payload: &Payload,
        secrets: &[&str],
        _now: DateTime<Utc>,
    ) -> Result<usize, VerifyError> {
        token_proof(
            "payt",
            "integration_key field",
            payload.text("integration_key").as_deref(),
            secrets,
        )
    }

    fn normalize(&self, _req: &InboundRequest, payload: &Payload) -> Normalized {
        let Some(map) = payload.as_json() else {
            return Ignored::unsupported(None, "Payt postbacks are JSON");
        };
        let Some(raw) = path_text(map, &["status"]) else {
            return Ignored::unsupported(None, "the postback has no status");
        };
        let native = format!("status={raw}");
        let ack = |reason: &str| {
            Normalized::Ignored(Ignored {
                native_event: Some(native.clone()),
                reason: reason.to_string(),
                is_ack: true,
            })
        };
        if map.get("test") == Some(&Value::Bool(true)) {
            return ack("a Payt test postback");
        }
        let payment_status = path_text(map, &["transaction", "payment_status"]);
        let status = match raw.as_str() {
            "paid" | "billed" => CanonicalStatus::Approved,
            "subscription_renewed" => CanonicalStatus::SubscriptionRenewed,
            "subscription_canceled" => CanonicalStatus::SubscriptionCanceled,
            "subscription_overdue" => CanonicalStatus::SubscriptionDelayed,
            "cancelled" if payment_status.as_deref() == Some("refused") => CanonicalStatus::Refused,
            "cancelled" => CanonicalStatus::Canceled,
            "waiting_payment" => CanonicalStatus::WaitingPayment,
            "lost_cart" => CanonicalStatus::CartAbandoned,
            "refunded" => CanonicalStatus::Refunded,
            "chargeback" => CanonicalStatus::Chargeback,
            // `paid` already granted; the rest is the delivery of goods.
            "subscription_activated"
            | "separation"
            | "collected_order"
            | "shipping"
            | "shipped" => return ack("this Payt status does not change access"),
            _ => return Ignored::unsupported(Some(native), "this Payt status is not handled"),
        };
        let subscription = map.get("subscription").and_then(Value::as_object);
        let access_ends_at = (status == CanonicalStatus::SubscriptionCanceled)
            .then(|| subscription.and_then(|s| path_text(s, &["next_charge_at"])))
            .flatten()
            .and_then(|t| any_time(&t));
        Normalized::Event(Box::new(NormalizedEvent {
            transaction_id: path_text(map, &["transaction_id"]),
            customer: customer(map),
            product: path_text(map, &["product", "code"]).map(|id| ProductRef {
                id,
                name: path_text(map, &["product", "name"]),
            }),
            amount_cents: path_text(map, &["transaction", "total_price"])
                .or_else(|| path_text(map, &["product", "price"]))
                .and_then(|p| p.parse().ok()),
            currency: Some("BRL".to_string()),
            subscription_id: subscription.and_then(|s| path_text(s, &["code"])),
            recurrence: subscription
                .and_then(|s| path_text(s, &["charges"]))
                .and_then(|c| c.parse().ok()),
            occurred_at: occurred_at(map, status),
            native_event: Some(native),
            access_ends_at,
            ..NormalizedEvent::new(GatewayKind::Payt, status)
        }))
    }

    fn secret_fields(&self) -> &'static [&'static str] {
        &["integration_key"]
    }
}

fn customer(map: &Map<String, Value>) -> Customer {
    // Payt marks placeholder addresses of buyers who gave none.
    let is_fake = path_text(map, &["customer", "fake_email"]).as_deref() == Some("true");
    Customer {
        email: clean_email(path_text(map, &["customer", "email"]).filter(|_| !is_fake)),
        name: path_text(map, &["customer", "name"]),
        phone: path_text(map, &["customer", "phone"]),
        document: path_text(map, &["customer", "doc"]),
    }
}

fn occurred_at(map: &Map<String, Value>, status: CanonicalStatus) -> Option<DateTime<Utc>> {
    let is_payment = matches!(
        status,
        CanonicalStatus::Approved | CanonicalStatus::SubscriptionRenewed
    );
    let paid_at = is_payment
        .then(|| path_text(map, &["transaction", "paid_at"]))
        .flatten();
    [paid_at, path_text(map, &["updated_at"])]
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
    fn every_fixture_verifies_with_its_key_only() {
        fixture::assert_only_its_secret_verifies(&Payt, "payt", Utc::now());
    }

    fn expected(stem: &str) -> Expected<'static> {
        use CanonicalStatus as S;
        let base = Expected {
            status: S::Approved,
            transaction: Some("TXGANCHO1"),
            subscription: None,
            product: Some("PRGANCHO1"),
            amount_cents: Some(49700),
            email: Some("joana.exemplo@example.com"),
            is_dated: true,
        };
        match stem {
            "cancelled" => Expected {
                status: S::Refused,
                ..base
            },
            "chargeback" => Expected {
                status: S::Chargeback,
                ..base
            },
            "lost_cart" => Expected {
                status: S::CartAbandoned,
                ..base
            },
            "paid" => base,
            "refunded" => Expected {
                status: S::Refunded,
                ..base
            },
            "subscription_canceled" => Expected {
                status: S::SubscriptionCanceled,
                transaction: Some("TXGANCHO2"),
                subscription: Some("SBGANCHO1"),
                ..base
            },
            "subscription_overdue" => Expected {
                status: S::SubscriptionDelayed,
                transaction: Some("TXGANCHO3"),
                subscription: Some("SBGANCHO1"),
                amount_cents: Some(9700),
                ..base
            },
            "subscription_renewed" => Expected {
                status: S::SubscriptionRenewed,
                transaction: Some("TXGANCHO2"),
                subscription: Some("SBGANCHO1"),
                amount_cents: Some(9700),
                ..base
            },
            other => panic!("no expectation for payt/{other}"),
        }
    }

    #[test]
    fn every_fixture_normalizes_to_its_expected_event() {
        assert_every_fixture_normalizes(&Payt, "payt", expected);
    }

    #[test]
    fn payt_without_its_key_or_with_an_empty_one_is_rejected() {
        let key = fixture::load("payt", "paid").secret;
        let mut missing = fixture::json("payt", "paid");
        missing.as_object_mut().unwrap().remove("integration_key");
        let mut empty = missing.clone();
        empty["integration_key"] = json!("  ");
        let (missing, missing_payload) = json_request(&missing, &[], &[]);
        let (empty, empty_payload) = json_request(&empty, &[], &[]);

        let missing = Payt.verify(&missing, &missing_payload, &[&key], Utc::now());
        let empty = Payt.verify(&empty, &empty_payload, &[&key], Utc::now());

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
    fn payt_cancellation_ends_at_the_next_charge_and_renewals_count() {
        let canceled = fixture::load("payt", "subscription_canceled");
        let renewed = fixture::load("payt", "subscription_renewed");

        let canceled = event(Payt.normalize(&canceled.request, &canceled.payload));
        let renewed = event(Payt.normalize(&renewed.request, &renewed.payload));

        assert_eq!(
            canceled.access_ends_at.map(|t| t.to_rfc3339()).as_deref(),
            Some("2025-03-15T03:00:00+00:00")
        );
        assert_eq!(renewed.recurrence, Some(2));
    }

    #[test]
    fn payt_tests_fake_emails_and_other_statuses() {
        let mut test = fixture::json("payt", "paid");
        test["test"] = json!(true);
        let mut fake = fixture::json("payt", "paid");
        fake["customer"]["fake_email"] = json!(true);
        let mut shipped = fixture::json("payt", "paid");
        shipped["status"] = json!("shipped");
        let (test_req, test_payload) = json_request(&test, &[], &[]);
        let (fake_req, fake_payload) = json_request(&fake, &[], &[]);
        let (ship_req, ship_payload) = json_request(&shipped, &[], &[]);

        let test = Payt.normalize(&test_req, &test_payload);
        let fake = event(Payt.normalize(&fake_req, &fake_payload));
        let shipped = Payt.normalize(&ship_req, &ship_payload);

        assert!(matches!(
            test,
            Normalized::Ignored(Ignored { is_ack: true, .. })
        ));
        assert_eq!(fake.customer.email, None);
        assert!(matches!(
            shipped,
            Normalized::Ignored(Ignored { is_ack: true, .. })
        ));
    }

    #[test]
    fn payt_bad_payloads_never_panic() {
        let bodies = [
            json!({"status": "paid"}),
            json!({"status": "paid", "transaction": {"total_price": "4,5"}, "customer": []}),
            json!({"status": "subscription_canceled", "subscription": {"next_charge_at": 3}}),
            json!({"status": 1}),
            json!({}),
        ];
        for body in bodies {
            let (req, payload) = json_request(&body, &[], &[]);

            if let Normalized::Event(e) = Payt.normalize(&req, &payload) {
                assert_eq!(e.amount_cents, None, "{body}");
            }
        }
    }
}
