//! Xgrow: only the setup is known (../shared/gateways/NOTES-MORE.md § 11,
//! LOW): a webhook integration with a "Chave da Xgrow" and per-product
//! actions "compra aprovada" / "compra estornada" that fire the webhook.
//! Where the key travels and the payload's shape are unknown; this reads the
//! fixtures' placeholder shape `{event, platform_id, payment:{id, price, …},
//! product:{id, name}, subscriber:{…}}` and must be checked against a real
//! call. Proof: the key as `Authorization: Bearer <key>` (the fixtures'
//! assumption), else a body `token`, else the URL's `?token=`, compared in
//! constant time.

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::{GatewayAdapter, Ignored, Normalized, Proof, SecretSource, Setup};
use crate::inbound::normalize::{
    any_time, clean_email, decimal_to_cents, CanonicalStatus, Customer, GatewayKind,
    NormalizedEvent, ProductRef,
};
use crate::inbound::request::{path_text, InboundRequest, Payload};
use crate::inbound::verify::{token_proof, VerifyError};

/// The Xgrow adapter.
pub struct Xgrow;

impl GatewayAdapter for Xgrow {
    fn kind(&self) -> GatewayKind {
        GatewayKind::Xgrow
    }

    fn setup(&self) -> Setup {
        Setup {
            name: "Xgrow",
            formats: "JSON (placeholder shape)",
            proof: Proof::HeaderToken,
            proof_detail: "Authorization: Bearer = the Chave da Xgrow, else a body token or ?token=",
            is_token_in_url: false,
            secret: SecretSource::FromGateway,
            where_to_paste: "Na Xgrow, vá em Recursos > Integrações > Nova integração > Webhook, cole a URL do gancho e copie a Chave da Xgrow para o gancho. Depois, em visualizar ações > Nova ação, crie uma ação Disparar webhook para compra aprovada e outra para compra estornada em cada produto/plano.",
        }
    }

    fn detect(&self, _req: &InboundRequest, payload: &Payload) -> bool {
        payload.as_json().is_some_and(|m| {
            m.contains_key("platform_id")
                && m.get("event").is_some_and(Value::is_string)
                && m.get("subscriber").is_some_and(Value::is_object)
        })
    }

    fn verify(
        &self,
        req: &InboundRequest,
        payload: &Payload,
        secrets: &[&str],
        _now: DateTime<Utc>,
    ) -> Result<usize, VerifyError> {
        let bearer = req.header("authorization").and_then(|h| {
            h.trim()
                .strip_prefix("Bearer ")
                .or_else(|| h.trim().strip_prefix("bearer "))
                .map(str::to_string)
        });
        let given = bearer
            .or_else(|| payload.text("token"))
            .or_else(|| req.query_param("token").map(str::to_string));
        token_proof(
            "xgrow",
            "Authorization: Bearer header, token field or ?token=",
            given.as_deref(),
            secrets,
        )
    }

    fn normalize(&self, _req: &InboundRequest, payload: &Payload) -> Normalized {
        let Some(map) = payload.as_json() else {
            return Ignored::unsupported(None, "Xgrow webhooks are JSON");
        };
        let Some(event) = path_text(map, &["event"]) else {
            return Ignored::unsupported(None, "the body has no event");
        };
        let status = match event.as_str() {
            "compra_aprovada" => CanonicalStatus::Approved,
            "compra_estornada" => CanonicalStatus::Refunded,
            _ => return Ignored::unsupported(Some(event), "this Xgrow event is not handled"),
        };
        Normalized::Event(Box::new(NormalizedEvent {
            transaction_id: path_text(map, &["payment", "id"]),
            customer: Customer {
                email: clean_email(path_text(map, &["subscriber", "email"])),
                name: path_text(map, &["subscriber", "name"]),
                phone: path_text(map, &["subscriber", "phone"]),
                document: path_text(map, &["subscriber", "document"]),
            },
            product: path_text(map, &["product", "id"]).map(|id| ProductRef {
                id,
                name: path_text(map, &["product", "name"]),
            }),
            amount_cents: path_text(map, &["payment", "price"]).and_then(|p| decimal_to_cents(&p)),
            currency: Some("BRL".to_string()),
            occurred_at: path_text(map, &["payment", "created_at"]).and_then(|t| any_time(&t)),
            native_event: Some(event),
            ..NormalizedEvent::new(GatewayKind::Xgrow, status)
        }))
    }

    fn secret_fields(&self) -> &'static [&'static str] {
        &["token"]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inbound::gateways::fixture::{
        self, assert_every_fixture_normalizes, json_request, Expected,
    };
    use serde_json::json;

    const KEY: &str = "test-xgrow-key-5d5d";

    #[test]
    fn every_fixture_verifies_with_its_key_only() {
        fixture::assert_only_its_secret_verifies(&Xgrow, "xgrow", Utc::now());
    }

    fn expected(stem: &str) -> Expected<'static> {
        use CanonicalStatus as S;
        let base = Expected {
            status: S::Approved,
            transaction: Some("xgr-pay-0001"),
            subscription: None,
            product: Some("xgr-prod-01"),
            amount_cents: Some(49700),
            email: Some("joana.exemplo@example.com"),
            is_dated: true,
        };
        match stem {
            "compra_aprovada" => base,
            "compra_estornada" => Expected {
                status: S::Refunded,
                ..base
            },
            other => panic!("no expectation for xgrow/{other}"),
        }
    }

    #[test]
    fn every_fixture_normalizes_to_its_expected_event() {
        assert_every_fixture_normalizes(&Xgrow, "xgrow", expected);
    }

    #[test]
    fn xgrow_key_may_come_in_the_body_or_url_and_is_required() {
        let mut body = fixture::json("xgrow", "compra_aprovada");
        let (query, query_payload) = json_request(&body, &[], &[("token", KEY)]);
        let (none, none_payload) = json_request(&body, &[], &[]);
        body["token"] = json!(KEY);
        let (field, field_payload) = json_request(&body, &[], &[]);

        assert_eq!(
            Xgrow.verify(&query, &query_payload, &[KEY], Utc::now()),
            Ok(0)
        );
        assert_eq!(
            Xgrow.verify(&field, &field_payload, &[KEY], Utc::now()),
            Ok(0)
        );
        assert!(matches!(
            Xgrow.verify(&none, &none_payload, &[KEY], Utc::now()),
            Err(VerifyError::MissingProof(_))
        ));
    }

    #[test]
    fn xgrow_unknown_events_and_bad_payloads() {
        for body in [
            json!({"event": "assinatura_cancelada", "platform_id": "p", "subscriber": {}}),
            json!({"event": "compra_aprovada", "payment": {"price": "x"}, "subscriber": 1}),
            json!({}),
        ] {
            let (req, payload) = json_request(&body, &[], &[]);

            if let Normalized::Event(e) = Xgrow.normalize(&req, &payload) {
                assert_eq!(e.amount_cents, None, "{body}");
            }
        }
    }
}
