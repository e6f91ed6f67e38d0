//! TMB (boleto parcelado): "Webhook Vendas" (the entry paid grants, a
//! canceled order revokes) and "Webhook Financeiro" (installments overdue,
//! paid, renegotiated). TMB signs nothing; its form has an optional custom
//! header (Chave / Valor), so the seller sets `X-Gancho-Token: <key>`,
//! compared in constant time (`?token=` is accepted too).
//!
//! The payload is unknown (../shared/gateways/NOTES-MORE.md § 16, LOW): this
//! reads the placeholder shape of the fixtures, `{evento, pedido:{id, …},
//! cliente:{…}, produto:{…}, parcela?:{…}}`, and must be checked against a
//! real call ("Histórico de interações" in TMB). Decisions: `pedido_pago`
//! grants; `pedido_cancelado` revokes; an overdue installment is a grace
//! period (`subscription_delayed`, flagged; Mentorfy pauses after 30 days,
//! gancho does not); a paid or renegotiated installment is acknowledged.

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use super::{GatewayAdapter, Ignored, Normalized, Proof, SecretSource, Setup};
use crate::inbound::normalize::{
    any_time, clean_email, decimal_to_cents, CanonicalStatus, Customer, GatewayKind,
    NormalizedEvent, ProductRef,
};
use crate::inbound::request::{path_text, InboundRequest, Payload};
use crate::inbound::verify::{token_proof, VerifyError};

/// The TMB adapter.
pub struct Tmb;

impl GatewayAdapter for Tmb {
    fn kind(&self) -> GatewayKind {
        GatewayKind::Tmb
    }

    fn setup(&self) -> Setup {
        Setup {
            name: "TMB",
            formats: "JSON (placeholder shape)",
            proof: Proof::HeaderToken,
            proof_detail: "X-Gancho-Token header set in TMB's Chave/Valor fields, else ?token=",
            is_token_in_url: false,
            secret: SecretSource::Generated,
            where_to_paste: "Na TMB, em Produtos > Mais opções > Integrações, escolha Webhook Vendas, cole a URL do gancho, em Chave digite X-Gancho-Token e em Valor o token gerado pelo gancho, ative o Status e salve. Repita em Webhook Financeiro.",
        }
    }

    fn detect(&self, _req: &InboundRequest, payload: &Payload) -> bool {
        let Payload::Json(map) = payload else {
            return false;
        };
        map.get("evento").is_some_and(Value::is_string)
            && map.get("pedido").is_some_and(Value::is_object)
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
        token_proof("tmb", "X-Gancho-Token header or ?token=", given, secrets)
    }

    fn normalize(&self, _req: &InboundRequest, payload: &Payload) -> Normalized {
        let Some(map) = payload.as_json() else {
            return Ignored::unsupported(None, "TMB webhooks are JSON");
        };
        let Some(event) = path_text(map, &["evento"]) else {
            return Ignored::unsupported(None, "the body has no evento");
        };
        let status = match event.as_str() {
            "pedido_pago" => CanonicalStatus::Approved,
            "pedido_cancelado" => CanonicalStatus::Canceled,
            "parcela_vencida" => CanonicalStatus::SubscriptionDelayed,
            "parcela_paga" | "parcela_renegociada" => {
                return Normalized::Ignored(Ignored {
                    native_event: Some(event),
                    reason: "a TMB installment notice: access is unchanged".into(),
                    is_ack: true,
                })
            }
            _ => return Ignored::unsupported(Some(event), "this TMB event is not handled"),
        };
        Normalized::Event(Box::new(NormalizedEvent {
            transaction_id: path_text(map, &["pedido", "id"]),
            customer: customer(map),
            product: path_text(map, &["produto", "id"]).map(|id| ProductRef {
                id,
                name: path_text(map, &["produto", "nome"]),
            }),
            amount_cents: path_text(map, &["pedido", "valor_total"])
                .or_else(|| path_text(map, &["parcela", "valor"]))
                .and_then(|v| decimal_to_cents(&v)),
            currency: Some("BRL".to_string()),
            recurrence: path_text(map, &["parcela", "numero"]).and_then(|n| n.parse().ok()),
            occurred_at: [
                path_text(map, &["pedido", "data"]),
                path_text(map, &["parcela", "vencimento"]),
            ]
            .into_iter()
            .flatten()
            .find_map(|t| any_time(&t)),
            native_event: Some(event),
            ..NormalizedEvent::new(GatewayKind::Tmb, status)
        }))
    }

    fn secret_fields(&self) -> &'static [&'static str] {
        &[]
    }
}

fn customer(map: &Map<String, Value>) -> Customer {
    Customer {
        email: clean_email(path_text(map, &["cliente", "email"])),
        name: path_text(map, &["cliente", "nome"]),
        phone: path_text(map, &["cliente", "telefone"]),
        document: path_text(map, &["cliente", "cpf"]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inbound::gateways::fixture::{
        self, assert_every_fixture_normalizes, json_request, Expected,
    };
    use serde_json::json;

    const TOKEN: &str = "test-tmb-header-token-6e6e";

    #[test]
    fn every_fixture_verifies_with_its_token_only() {
        fixture::assert_only_its_secret_verifies(&Tmb, "tmb", Utc::now());
    }

    fn expected(stem: &str) -> Expected<'static> {
        use CanonicalStatus as S;
        let base = Expected {
            status: S::Approved,
            transaction: Some("TMB-0001"),
            subscription: None,
            product: Some("tmb-prod-01"),
            amount_cents: Some(149700),
            email: Some("joana.exemplo@example.com"),
            is_dated: true,
        };
        match stem {
            "parcela_vencida" => Expected {
                status: S::SubscriptionDelayed,
                product: None,
                amount_cents: Some(12475),
                ..base
            },
            "pedido_cancelado" => Expected {
                status: S::Canceled,
                ..base
            },
            "pedido_pago_entrada" => base,
            other => panic!("no expectation for tmb/{other}"),
        }
    }

    #[test]
    fn every_fixture_normalizes_to_its_expected_event() {
        assert_every_fixture_normalizes(&Tmb, "tmb", expected);
    }

    #[test]
    fn tmb_token_may_come_in_the_url_and_is_required() {
        let body = fixture::json("tmb", "pedido_pago_entrada");
        let (query, query_payload) = json_request(&body, &[], &[("token", TOKEN)]);
        let (none, none_payload) = json_request(&body, &[], &[]);

        assert_eq!(
            Tmb.verify(&query, &query_payload, &[TOKEN], Utc::now()),
            Ok(0)
        );
        assert!(matches!(
            Tmb.verify(&none, &none_payload, &[TOKEN], Utc::now()),
            Err(VerifyError::MissingProof(_))
        ));
    }

    #[test]
    fn tmb_other_events_and_bad_payloads() {
        let bodies = [
            (
                json!({"evento": "pedido_cancelado", "pedido": {"id": "T"}}),
                Some(CanonicalStatus::Canceled),
            ),
            (
                json!({"evento": "parcela_paga", "pedido": {"id": "T"}}),
                None,
            ),
            (json!({"evento": "novo", "pedido": {}}), None),
            (
                json!({"evento": "pedido_pago", "pedido": [], "cliente": 3}),
                Some(CanonicalStatus::Approved),
            ),
            (json!({}), None),
        ];
        for (body, expected) in bodies {
            let (req, payload) = json_request(&body, &[], &[]);

            match (expected, Tmb.normalize(&req, &payload)) {
                (Some(s), Normalized::Event(e)) => assert_eq!(e.status, s, "{body}"),
                (None, Normalized::Ignored(_)) => {}
                (_, other) => panic!("{body}: {other:?}"),
            }
        }
    }
}
