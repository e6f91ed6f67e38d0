//! Voomp: the seller picks, in Dashboard > Integrações > Configurar
//! integração do Webhook, the products, the URL, the variables to receive
//! (`name`, `email`, `status`, …) and the events (Venda paga; Assinatura não
//! paga, encerrada, cancelada). No token or signature is known, so the
//! inbound URL carries the key as `?token=`, compared in constant time.
//!
//! Everything beyond `name`, `email` and `status` is a guess
//! (../shared/gateways/NOTES-MORE.md § 12, LOW): this reads the fixtures'
//! flat placeholder `{event, name, email, status, sale_id, product_id,
//! product_name, amount}` and must be checked against a real call. Voomp
//! names no subscription id we know of, so an ended or canceled
//! subscription revokes what its sale (`sale_id`) granted; an unpaid one is
//! a grace period.

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::{GatewayAdapter, Ignored, Normalized, Proof, SecretSource, Setup};
use crate::inbound::normalize::{
    clean_email, decimal_to_cents, CanonicalStatus, Customer, GatewayKind, NormalizedEvent,
    ProductRef,
};
use crate::inbound::request::{path_text, InboundRequest, Payload};
use crate::inbound::verify::{token_proof, VerifyError};

/// The Voomp adapter.
pub struct Voomp;

impl GatewayAdapter for Voomp {
    fn kind(&self) -> GatewayKind {
        GatewayKind::Voomp
    }

    fn setup(&self) -> Setup {
        Setup {
            name: "Voomp",
            formats: "JSON (placeholder shape)",
            proof: Proof::QueryToken,
            proof_detail: "none known: gancho's token in the URL's ?token=",
            is_token_in_url: true,
            secret: SecretSource::Generated,
            where_to_paste: "Na Voomp, vá em Dashboard > Integrações > Configurar integração do Webhook. Selecione os produtos, cole a URL do gancho com o token no fim (…&token=SEU_TOKEN), marque as variáveis name, email e status e os eventos Venda paga, Assinatura não paga, encerrada e cancelada.",
        }
    }

    fn detect(&self, _req: &InboundRequest, payload: &Payload) -> bool {
        payload.as_json().is_some_and(|m| {
            m.get("event").is_some_and(Value::is_string)
                && m.get("email").is_some_and(Value::is_string)
                && m.contains_key("sale_id")
                && !m.contains_key("checkout_id")
                && !m.contains_key("herospark")
        })
    }

    fn verify(
        &self,
        req: &InboundRequest,
        _payload: &Payload,
        secrets: &[&str],
        _now: DateTime<Utc>,
    ) -> Result<usize, VerifyError> {
        token_proof("voomp", "?token=", req.query_param("token"), secrets)
    }

    fn normalize(&self, _req: &InboundRequest, payload: &Payload) -> Normalized {
        let Some(map) = payload.as_json() else {
            return Ignored::unsupported(None, "Voomp webhooks are JSON");
        };
        let Some(event) = path_text(map, &["event"]) else {
            return Ignored::unsupported(None, "the body has no event");
        };
        let status = match event.as_str() {
            "sale_paid" => CanonicalStatus::Approved,
            "sale_refunded" => CanonicalStatus::Refunded,
            "sale_chargeback" => CanonicalStatus::Chargeback,
            "subscription_canceled" | "subscription_ended" => CanonicalStatus::Canceled,
            "subscription_unpaid" => CanonicalStatus::SubscriptionDelayed,
            _ => return Ignored::unsupported(Some(event), "this Voomp event is not handled"),
        };
        Normalized::Event(Box::new(NormalizedEvent {
            transaction_id: path_text(map, &["sale_id"]),
            customer: Customer {
                email: clean_email(path_text(map, &["email"])),
                name: path_text(map, &["name"]),
                phone: path_text(map, &["phone"]),
                document: path_text(map, &["document"]),
            },
            product: path_text(map, &["product_id"]).map(|id| ProductRef {
                id,
                name: path_text(map, &["product_name"]),
            }),
            amount_cents: path_text(map, &["amount"]).and_then(|a| decimal_to_cents(&a)),
            currency: Some("BRL".to_string()),
            native_event: Some(event),
            ..NormalizedEvent::new(GatewayKind::Voomp, status)
        }))
    }

    fn secret_fields(&self) -> &'static [&'static str] {
        &[]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inbound::gateways::fixture::{
        self, assert_every_fixture_normalizes, json_request, Expected,
    };
    use serde_json::json;

    const TOKEN: &str = "test-voomp-url-token-0c0c";

    #[test]
    fn every_fixture_verifies_with_its_url_token_only() {
        fixture::assert_only_its_secret_verifies(&Voomp, "voomp", Utc::now());
    }

    fn expected(stem: &str) -> Expected<'static> {
        use CanonicalStatus as S;
        let base = Expected {
            status: S::Approved,
            transaction: Some("vmp-0001"),
            subscription: None,
            product: Some("vmp-prod-01"),
            amount_cents: Some(49700),
            email: Some("joana.exemplo@example.com"),
            is_dated: false,
        };
        match stem {
            "assinatura_cancelada" => Expected {
                status: S::Canceled,
                transaction: Some("vmp-0002"),
                product: Some("vmp-prod-02"),
                amount_cents: Some(9700),
                ..base
            },
            "venda_paga" => base,
            other => panic!("no expectation for voomp/{other}"),
        }
    }

    #[test]
    fn every_fixture_normalizes_to_its_expected_event() {
        assert_every_fixture_normalizes(&Voomp, "voomp", expected);
    }

    #[test]
    fn voomp_without_the_url_token_is_rejected() {
        let body = fixture::json("voomp", "venda_paga");
        let (req, payload) = json_request(&body, &[], &[]);

        assert!(matches!(
            Voomp.verify(&req, &payload, &[TOKEN], Utc::now()),
            Err(VerifyError::MissingProof(_))
        ));
    }

    #[test]
    fn voomp_unknown_events_and_bad_payloads() {
        for body in [
            json!({"event": "sale_shipped", "email": "a@b.c", "sale_id": 1}),
            json!({"event": "sale_paid", "email": 3, "amount": "x"}),
            json!({}),
        ] {
            let (req, payload) = json_request(&body, &[], &[]);

            if let Normalized::Event(e) = Voomp.normalize(&req, &payload) {
                assert_eq!(e.amount_cents, None, "{body}");
            }
        }
    }
}
