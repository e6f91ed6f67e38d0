//! HeroSpark: no webhook format of its own. The seller builds the request in
//! "Piloto automático > Gerar um Webhook" (one automation per trigger) with
//! the JSON body gancho hands out:
//! `{"event":"PAYMENT_CONFIRMED","name":"{{buyer_name}}","email":"{{buyer_email}}",
//! "phone":"{{buyer_phone}}","price":"{{ offer_price | divided_by: 100.00 }}","herospark":true}`
//! and the header `X-Gancho-Token: <key>`, compared in constant time
//! (`?token=` is accepted too); HeroSpark signs nothing
//! (../shared/gateways/NOTES-MORE.md § 9, MEDIUM: the template is ours).
//!
//! The template has no sale id (`{{payment_id}}` is UNVERIFIED; read as
//! `payment_id` when the seller adds it), so without one the transaction is
//! the buyer's e-mail: a refund then revokes what that buyer got through
//! this URL, and a buyer whose purchase was refunded is not granted again by
//! a later purchase (DESIGN.md: a refunded transaction is never re-granted).
//! Events: `PAYMENT_CONFIRMED` grants, `PAYMENT_REFUNDED` revokes (the
//! trigger is UNVERIFIED), `SUBSCRIPTION_CANCELED` cancels the same way.

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::{GatewayAdapter, Ignored, Normalized, Proof, SecretSource, Setup};
use crate::inbound::normalize::{
    clean_email, decimal_to_cents, CanonicalStatus, Customer, GatewayKind, NormalizedEvent,
    ProductRef,
};
use crate::inbound::request::{path_text, InboundRequest, Payload};
use crate::inbound::verify::{token_proof, VerifyError};

/// The HeroSpark adapter.
pub struct HeroSpark;

impl GatewayAdapter for HeroSpark {
    fn kind(&self) -> GatewayKind {
        GatewayKind::HeroSpark
    }

    fn setup(&self) -> Setup {
        Setup {
            name: "HeroSpark",
            formats: "JSON built from gancho's template",
            proof: Proof::HeaderToken,
            proof_detail: "X-Gancho-Token header added to the automation, else ?token=",
            is_token_in_url: false,
            secret: SecretSource::Generated,
            where_to_paste: "Na HeroSpark, vá em Piloto automático > Usar modelo de automação > Gerar um Webhook. Escolha o produto, cole a URL do gancho com método POST, adicione os headers Content-Type: application/json e X-Gancho-Token com o token gerado pelo gancho, e cole o corpo JSON fornecido pelo gancho (um webhook por evento).",
        }
    }

    fn detect(&self, _req: &InboundRequest, payload: &Payload) -> bool {
        payload
            .as_json()
            .is_some_and(|m| m.get("herospark") == Some(&Value::Bool(true)))
    }

    fn verify(
        &self,
        req: &InboundRequest,
        _payload: &Payload,
        secrets: &[&str],
        _now: DateTime<Utc>,
    ) -> Result<usize, VerifyError> {
        let given = req
            .header("x-gancho-token")
            .or_else(|| req.query_param("token"));
        token_proof(
            "herospark",
            "X-Gancho-Token header or ?token=",
            given,
            secrets,
        )
    }

    fn normalize(&self, _req: &InboundRequest, payload: &Payload) -> Normalized {
        let Some(map) = payload.as_json() else {
            return Ignored::unsupported(None, "HeroSpark webhooks are JSON");
        };
        let Some(event) = path_text(map, &["event"]) else {
            return Ignored::unsupported(None, "the body has no event (see gancho's template)");
        };
        let status = match event.to_ascii_uppercase().as_str() {
            "PAYMENT_CONFIRMED" => CanonicalStatus::Approved,
            "PAYMENT_REFUNDED" => CanonicalStatus::Refunded,
            "SUBSCRIPTION_CANCELED" => CanonicalStatus::Canceled,
            _ => return Ignored::unsupported(Some(event), "this HeroSpark event is not handled"),
        };
        let email = clean_email(path_text(map, &["email"]));
        let transaction_id = path_text(map, &["payment_id"]).or_else(|| email.clone());
        Normalized::Event(Box::new(NormalizedEvent {
            transaction_id,
            customer: Customer {
                email,
                name: path_text(map, &["name"]),
                phone: path_text(map, &["phone"]),
                document: None,
            },
            product: path_text(map, &["product_id"]).map(|id| ProductRef {
                id,
                name: path_text(map, &["product_name"]),
            }),
            amount_cents: path_text(map, &["price"]).and_then(|p| decimal_to_cents(&p)),
            currency: Some("BRL".to_string()),
            native_event: Some(event),
            ..NormalizedEvent::new(GatewayKind::HeroSpark, status)
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
        self, assert_every_fixture_normalizes, event, json_request, Expected,
    };
    use serde_json::json;

    const TOKEN: &str = "test-herospark-header-token-21aa";

    #[test]
    fn every_fixture_verifies_with_its_token_only() {
        fixture::assert_only_its_secret_verifies(&HeroSpark, "herospark", Utc::now());
    }

    fn expected(stem: &str) -> Expected<'static> {
        use CanonicalStatus as S;
        let base = Expected {
            status: S::Approved,
            transaction: Some("joana.exemplo@example.com"),
            subscription: None,
            product: None,
            amount_cents: Some(49700),
            email: Some("joana.exemplo@example.com"),
            is_dated: false,
        };
        match stem {
            "payment_confirmed" => base,
            "payment_refunded" => Expected {
                status: S::Refunded,
                ..base
            },
            other => panic!("no expectation for herospark/{other}"),
        }
    }

    #[test]
    fn every_fixture_normalizes_to_its_expected_event() {
        assert_every_fixture_normalizes(&HeroSpark, "herospark", expected);
    }

    #[test]
    fn herospark_payment_id_is_the_transaction_when_the_template_has_it() {
        let mut body = fixture::json("herospark", "payment_confirmed");
        body["payment_id"] = json!("hs-pay-1");
        let (req, payload) = json_request(&body, &[("x-gancho-token", TOKEN)], &[]);

        let e = event(HeroSpark.normalize(&req, &payload));

        assert_eq!(e.transaction_id.as_deref(), Some("hs-pay-1"));
    }

    #[test]
    fn herospark_token_may_come_in_the_url_and_is_required() {
        let body = fixture::json("herospark", "payment_confirmed");
        let (query, query_payload) = json_request(&body, &[], &[("token", TOKEN)]);
        let (none, none_payload) = json_request(&body, &[], &[]);

        assert_eq!(
            HeroSpark.verify(&query, &query_payload, &[TOKEN], Utc::now()),
            Ok(0)
        );
        assert!(matches!(
            HeroSpark.verify(&none, &none_payload, &[TOKEN], Utc::now()),
            Err(VerifyError::MissingProof(_))
        ));
    }

    #[test]
    fn herospark_unknown_events_and_bad_payloads() {
        for body in [
            json!({"herospark": true, "event": "SOMETHING"}),
            json!({"herospark": true}),
            json!({"herospark": true, "event": "PAYMENT_CONFIRMED", "price": "{{ offer_price }}"}),
        ] {
            let (req, payload) = json_request(&body, &[], &[]);

            if let Normalized::Event(e) = HeroSpark.normalize(&req, &payload) {
                assert_eq!(e.amount_cents, None, "{body}");
                assert_eq!(e.transaction_id, None, "{body}");
            }
        }
    }
}
