//! LastLink: PascalCase JSON `{Id, IsTest, Event, CreatedAt, Data:{Products,
//! Buyer, Purchase, Subscriptions, …}}` (MEDIUM: several integrations agree).
//! How LastLink proves a call is unknown (integrators disagree: a header
//! token, or an HMAC one adapter calls `X-Lastlink-Signature`, LOW), so the
//! inbound URL carries the key as `?token=`, compared in constant time.
//! Events and the mapping follow ../shared/gateways/NOTES-MORE.md § 15.
//!
//! Decisions: `IsTest: true` (the panel's test button) is acknowledged and
//! not applied. LastLink gives no period end, so `Subscription_Canceled`
//! ends the subscription's grants now, like `Subscription_Expired` and
//! `Product_Access_Ended`. `Refund_Period_Over` completes the sale.

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use super::{GatewayAdapter, Ignored, Normalized, Proof, SecretSource, Setup};
use crate::inbound::normalize::{
    any_time, clean_email, decimal_to_cents, CanonicalStatus, Customer, GatewayKind,
    NormalizedEvent, ProductRef,
};
use crate::inbound::request::{path_text, path_value, InboundRequest, Payload};
use crate::inbound::verify::{token_proof, VerifyError};

/// The LastLink adapter.
pub struct LastLink;

impl GatewayAdapter for LastLink {
    fn kind(&self) -> GatewayKind {
        GatewayKind::LastLink
    }

    fn setup(&self) -> Setup {
        Setup {
            name: "LastLink",
            formats: "JSON (PascalCase)",
            proof: Proof::QueryToken,
            proof_detail: "none known: gancho's token in the URL's ?token=",
            is_token_in_url: true,
            secret: SecretSource::Generated,
            where_to_paste: "Na LastLink, abra o produto > Integrações > Lastlink - Webhook > Ativar > Novo webhook. Dê um nome, cole a URL do gancho com o token no fim (…&token=SEU_TOKEN), clique em Selecionar eventos (Purchase_Order_Confirmed, Recurrent_Payment, Payment_Refund, Payment_Chargeback, Subscription_Canceled, Subscription_Expired, Product_Access_Ended), confirme, teste e salve.",
        }
    }

    fn detect(&self, _req: &InboundRequest, payload: &Payload) -> bool {
        let Payload::Json(map) = payload else {
            return false;
        };
        map.get("Event").is_some_and(Value::is_string)
            && map.get("Data").is_some_and(Value::is_object)
    }

    fn verify(
        &self,
        req: &InboundRequest,
        _payload: &Payload,
        secrets: &[&str],
        _now: DateTime<Utc>,
    ) -> Result<usize, VerifyError> {
        token_proof("lastlink", "?token=", req.query_param("token"), secrets)
    }

    fn normalize(&self, _req: &InboundRequest, payload: &Payload) -> Normalized {
        let Some(map) = payload.as_json() else {
            return Ignored::unsupported(None, "LastLink webhooks are JSON");
        };
        let Some(event) = path_text(map, &["Event"]) else {
            return Ignored::unsupported(None, "the body has no Event");
        };
        if map.get("IsTest") == Some(&Value::Bool(true)) {
            return Normalized::Ignored(Ignored {
                native_event: Some(event),
                reason: "a LastLink test event (IsTest)".into(),
                is_ack: true,
            });
        }
        let Some(data) = map.get("Data").and_then(Value::as_object) else {
            return Ignored::unsupported(Some(event), "the body has no Data object");
        };
        let subscription_id = first(data, "Subscriptions").and_then(|s| path_text(s, &["Id"]));
        let Some(status) = status(&event, subscription_id.is_some()) else {
            return Ignored::unsupported(Some(event), "this LastLink event is not handled");
        };
        Normalized::Event(Box::new(NormalizedEvent {
            transaction_id: path_text(data, &["Purchase", "PaymentId"]),
            customer: Customer {
                email: clean_email(path_text(data, &["Buyer", "Email"])),
                name: path_text(data, &["Buyer", "Name"]),
                phone: path_text(data, &["Buyer", "PhoneNumber"]),
                document: path_text(data, &["Buyer", "Document"]),
            },
            product: first(data, "Products").and_then(|p| {
                Some(ProductRef {
                    id: path_text(p, &["Id"])?,
                    name: path_text(p, &["Name"]),
                })
            }),
            amount_cents: path_text(data, &["Purchase", "Price", "Value"])
                .and_then(|v| decimal_to_cents(&v)),
            currency: Some("BRL".to_string()),
            subscription_id,
            recurrence: path_text(data, &["Purchase", "Recurrency"]).and_then(|r| r.parse().ok()),
            occurred_at: path_text(map, &["CreatedAt"]).and_then(|t| any_time(&t)),
            native_event: Some(event),
            event_id: path_text(map, &["Id"]),
            ..NormalizedEvent::new(GatewayKind::LastLink, status)
        }))
    }

    fn secret_fields(&self) -> &'static [&'static str] {
        &[]
    }
}

fn status(event: &str, has_subscription: bool) -> Option<CanonicalStatus> {
    Some(match event {
        "Purchase_Order_Confirmed" | "Product_Access_Started" => CanonicalStatus::Approved,
        "Recurrent_Payment" => CanonicalStatus::SubscriptionRenewed,
        "Payment_Refund" => CanonicalStatus::Refunded,
        "Refund_Requested" => CanonicalStatus::RefundRequested,
        "Payment_Chargeback" => CanonicalStatus::Chargeback,
        "Subscription_Canceled" | "Subscription_Expired" => CanonicalStatus::SubscriptionCanceled,
        "Product_Access_Ended" if has_subscription => CanonicalStatus::SubscriptionCanceled,
        "Product_Access_Ended" => CanonicalStatus::Canceled,
        "Subscription_Renewal_Pending" => CanonicalStatus::SubscriptionDelayed,
        "Purchase_Request_Confirmed" => CanonicalStatus::WaitingPayment,
        "Purchase_Request_Expired" => CanonicalStatus::Expired,
        "Purchase_Request_Canceled" => CanonicalStatus::Canceled,
        "Abandoned_Cart" => CanonicalStatus::CartAbandoned,
        "Refund_Period_Over" => CanonicalStatus::Completed,
        _ => return None,
    })
}

/// `Data.{list}[0]` as an object.
fn first<'a>(data: &'a Map<String, Value>, list: &str) -> Option<&'a Map<String, Value>> {
    path_value(data, &[list])?.as_array()?.first()?.as_object()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inbound::gateways::fixture::{
        self, assert_every_fixture_normalizes, json_request, Expected,
    };
    use serde_json::json;

    const TOKEN: &str = "test-lastlink-url-token-3c3c";

    #[test]
    fn every_fixture_verifies_with_its_url_token_only() {
        fixture::assert_only_its_secret_verifies(&LastLink, "lastlink", Utc::now());
    }

    fn expected(stem: &str) -> Expected<'static> {
        use CanonicalStatus as S;
        let base = Expected {
            status: S::Approved,
            transaction: Some("7c8d9e0f-gancho-pay-0001"),
            subscription: Some("8d9e0f1a-gancho-sub-0001"),
            product: Some("3e4f5a6b-gancho-prd-0001"),
            amount_cents: Some(9700),
            email: Some("joana.exemplo@example.com"),
            is_dated: true,
        };
        match stem {
            "payment_chargeback" => Expected {
                status: S::Chargeback,
                ..base
            },
            "payment_refund" => Expected {
                status: S::Refunded,
                ..base
            },
            "purchase_order_confirmed" => base,
            "recurrent_payment" => Expected {
                status: S::SubscriptionRenewed,
                transaction: Some("7c8d9e0f-gancho-pay-0002"),
                ..base
            },
            "subscription_canceled" => Expected {
                status: S::SubscriptionCanceled,
                ..base
            },
            other => panic!("no expectation for lastlink/{other}"),
        }
    }

    #[test]
    fn every_fixture_normalizes_to_its_expected_event() {
        let events = assert_every_fixture_normalizes(&LastLink, "lastlink", expected);

        for (name, e) in events {
            let renewal = name.ends_with("recurrent_payment");
            assert_eq!(e.recurrence, Some(if renewal { 2 } else { 1 }), "{name}");
            assert!(e.event_id.is_some(), "{name}");
        }
    }

    #[test]
    fn lastlink_test_events_are_acknowledged_and_token_is_required() {
        let mut body = fixture::json("lastlink", "purchase_order_confirmed");
        body["IsTest"] = json!(true);
        let (req, payload) = json_request(&body, &[], &[]);

        let normalized = LastLink.normalize(&req, &payload);
        let verified = LastLink.verify(&req, &payload, &[TOKEN], Utc::now());

        assert!(matches!(
            normalized,
            Normalized::Ignored(Ignored { is_ack: true, .. })
        ));
        assert!(matches!(verified, Err(VerifyError::MissingProof(_))));
    }

    #[test]
    fn lastlink_events_map_to_canonical_ones() {
        let cases = [
            ("Payment_Refund", Some(CanonicalStatus::Refunded)),
            (
                "Product_Access_Ended",
                Some(CanonicalStatus::SubscriptionCanceled),
            ),
            (
                "Purchase_Request_Confirmed",
                Some(CanonicalStatus::WaitingPayment),
            ),
            ("Refund_Period_Over", Some(CanonicalStatus::Completed)),
            ("Active_Member_Notification", None),
        ];
        for (name, expected) in cases {
            let mut body = fixture::json("lastlink", "purchase_order_confirmed");
            body["Event"] = json!(name);
            let (req, payload) = json_request(&body, &[], &[]);

            match (expected, LastLink.normalize(&req, &payload)) {
                (Some(s), Normalized::Event(e)) => assert_eq!(e.status, s, "{name}"),
                (None, Normalized::Ignored(i)) => assert_eq!(i.native_event.as_deref(), Some(name)),
                (_, other) => panic!("{name}: {other:?}"),
            }
        }
    }

    #[test]
    fn lastlink_bad_payloads_never_panic() {
        let bodies = [
            json!({"Event": "Purchase_Order_Confirmed", "Data": {}}),
            json!({"Event": "Purchase_Order_Confirmed", "Data": {"Products": "x", "Purchase": {"Price": {"Value": "a"}}}}),
            json!({"Event": "Purchase_Order_Confirmed", "Data": {"Subscriptions": [1], "Buyer": []}}),
            json!({"Event": 1, "Data": {}}),
            json!({}),
        ];
        for body in bodies {
            let (req, payload) = json_request(&body, &[], &[]);

            if let Normalized::Event(e) = LastLink.normalize(&req, &payload) {
                assert_eq!(e.amount_cents, None, "{body}");
            }
        }
    }
}
