//! Asaas: JSON `{id, event, dateCreated, payment:{…}}`, proven by the
//! `asaas-access-token` header (the webhook's "Token de autenticação",
//! optional in Asaas's panel and required here). Asaas signs nothing.
//! Events and the mapping follow ../shared/gateways/NOTES-MORE.md § 2.
//!
//! The buyer is only `payment.customer` (`cus_…`): the webhook carries no
//! e-mail or name. The event names it in `customer_ref`, and when the key
//! carries the seller's API key, `inbound::lookup` keeps a granting event
//! pending until it has fetched the buyer from Asaas's API
//! (`GET /v3/customers/{id}`); without an API key, granting events are
//! ignored ("the event has no buyer e-mail"). Refunds and chargebacks need
//! no buyer: they revoke by `payment.id` at once. Asaas has no product id: a payment made through
//! a payment link names the link (`paymentLink`), anything else is granted
//! by the inbound URL's products.

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use super::{GatewayAdapter, Ignored, Normalized, Proof, SecretSource, Setup};
use crate::inbound::normalize::{
    any_time, decimal_to_cents, CanonicalStatus, GatewayKind, NormalizedEvent, ProductRef,
};
use crate::inbound::request::{path_text, InboundRequest, Payload};
use crate::inbound::verify::{token_proof, VerifyError};

/// The Asaas adapter.
pub struct Asaas;

impl GatewayAdapter for Asaas {
    fn kind(&self) -> GatewayKind {
        GatewayKind::Asaas
    }

    fn setup(&self) -> Setup {
        Setup {
            name: "Asaas",
            formats: "JSON",
            proof: Proof::HeaderToken,
            proof_detail: "asaas-access-token header = the webhook's Token de autenticação",
            is_token_in_url: false,
            secret: SecretSource::Generated,
            where_to_paste: "No Asaas, clique no ícone da conta > Integrações > aba Webhooks > Criar Webhook. Cole a URL do gancho, escolha a versão da API v3, preencha o Token de autenticação com o token gerado pelo gancho, ative a fila de sincronização (envio sequencial) e marque os eventos de Cobrança. O webhook do Asaas não traz o e-mail do comprador: ao criar a chave no gancho, informe também a sua chave de API do Asaas (Integrações > Chaves de API) para que o gancho busque o comprador e libere o acesso.",
        }
    }

    fn detect(&self, req: &InboundRequest, payload: &Payload) -> bool {
        let Payload::Json(map) = payload else {
            return false;
        };
        req.header("asaas-access-token").is_some()
            || (path_text(map, &["event"]).is_some_and(|e| e.starts_with("PAYMENT_"))
                && map.get("payment").is_some_and(Value::is_object))
    }

    fn verify(
        &self,
        req: &InboundRequest,
        _payload: &Payload,
        secrets: &[&str],
        _now: DateTime<Utc>,
    ) -> Result<usize, VerifyError> {
        token_proof(
            "asaas",
            "asaas-access-token header",
            req.header("asaas-access-token"),
            secrets,
        )
    }

    fn normalize(&self, _req: &InboundRequest, payload: &Payload) -> Normalized {
        let Some(map) = payload.as_json() else {
            return Ignored::unsupported(None, "Asaas webhooks are JSON");
        };
        let Some(event) = path_text(map, &["event"]) else {
            return Ignored::unsupported(None, "the body has no event");
        };
        let Some(payment) = map.get("payment").and_then(Value::as_object) else {
            return Ignored::unsupported(Some(event), "only payment events are handled");
        };
        let subscription_id = path_text(payment, &["subscription"]);
        let status = match status(&event, subscription_id.is_some()) {
            Ok(status) => status,
            Err(is_ack) => {
                return Normalized::Ignored(Ignored {
                    native_event: Some(event),
                    reason: if is_ack {
                        "this Asaas event does not change access".into()
                    } else {
                        "this Asaas event is not handled".into()
                    },
                    is_ack,
                })
            }
        };
        let Some(payment_id) = path_text(payment, &["id"]) else {
            return Ignored::unsupported(Some(event), "the payment has no id");
        };
        Normalized::Event(Box::new(NormalizedEvent {
            transaction_id: Some(payment_id),
            // The buyer's e-mail needs Asaas's API (see the module doc):
            // `payment.customer` is all the webhook says about them.
            product: path_text(payment, &["paymentLink"]).map(|id| ProductRef {
                id,
                name: path_text(payment, &["description"]),
            }),
            amount_cents: path_text(payment, &["value"]).and_then(|v| decimal_to_cents(&v)),
            // Asaas charges only in reais.
            currency: Some("BRL".to_string()),
            subscription_id,
            occurred_at: occurred_at(map, payment),
            native_event: Some(event),
            event_id: path_text(map, &["id"]),
            customer_ref: path_text(payment, &["customer"]),
            ..NormalizedEvent::new(GatewayKind::Asaas, status)
        }))
    }

    fn secret_fields(&self) -> &'static [&'static str] {
        &[]
    }
}

/// NOTES-MORE.md § 2. `Err(true)`: known, changes nothing (acknowledged);
/// `Err(false)`: not handled.
fn status(event: &str, has_subscription: bool) -> Result<CanonicalStatus, bool> {
    Ok(match event {
        // CONFIRMED (card) and RECEIVED (money in) are one sale: the same
        // payment id dedupes the second.
        "PAYMENT_CONFIRMED" | "PAYMENT_RECEIVED" => CanonicalStatus::Approved,
        "PAYMENT_REFUNDED" => CanonicalStatus::Refunded,
        "PAYMENT_REFUND_IN_PROGRESS" => CanonicalStatus::RefundRequested,
        "PAYMENT_CHARGEBACK_REQUESTED" | "PAYMENT_CHARGEBACK_DISPUTE" => {
            CanonicalStatus::Chargeback
        }
        "PAYMENT_AWAITING_CHARGEBACK_REVERSAL" => CanonicalStatus::Dispute,
        "PAYMENT_OVERDUE" if has_subscription => CanonicalStatus::SubscriptionDelayed,
        "PAYMENT_OVERDUE" | "PAYMENT_CREATED" | "PAYMENT_AWAITING_RISK_ANALYSIS" => {
            CanonicalStatus::WaitingPayment
        }
        // A deleted charge (also every charge of a deleted subscription) and
        // an undone cash receipt revoke what the payment granted, if anything.
        "PAYMENT_DELETED" | "PAYMENT_RECEIVED_IN_CASH_UNDONE" => CanonicalStatus::Canceled,
        "PAYMENT_CREDIT_CARD_CAPTURE_REFUSED" | "PAYMENT_REPROVED_BY_RISK_ANALYSIS" => {
            CanonicalStatus::Refused
        }
        // A partial refund keeps access (NOTES-MORE.md: flag); the rest are
        // notices about a payment whose status did not change.
        "PAYMENT_PARTIALLY_REFUNDED"
        | "PAYMENT_APPROVED_BY_RISK_ANALYSIS"
        | "PAYMENT_AUTHORIZED"
        | "PAYMENT_UPDATED"
        | "PAYMENT_ANTICIPATED"
        | "PAYMENT_RESTORED"
        | "PAYMENT_DUNNING_RECEIVED"
        | "PAYMENT_DUNNING_REQUESTED"
        | "PAYMENT_BANK_SLIP_VIEWED"
        | "PAYMENT_CHECKOUT_VIEWED" => return Err(true),
        _ => return Err(false),
    })
}

/// When Asaas recorded the event (`dateCreated`, São Paulo wall time); the
/// payment's own dates are days without a time.
fn occurred_at(map: &Map<String, Value>, payment: &Map<String, Value>) -> Option<DateTime<Utc>> {
    [
        path_text(map, &["dateCreated"]),
        path_text(payment, &["confirmedDate"]),
        path_text(payment, &["dateCreated"]),
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

    const TOKEN: &str = "test-asaas-access-token-3e7d";

    #[test]
    fn every_fixture_verifies_with_its_token_only() {
        fixture::assert_only_its_secret_verifies(&Asaas, "asaas", Utc::now());
    }

    fn expected(stem: &str) -> Expected<'static> {
        use CanonicalStatus as S;
        let base = Expected {
            status: S::Approved,
            transaction: Some("pay_ganchocard0002"),
            subscription: Some("sub_gancho7k1m2n3p"),
            product: None,
            amount_cents: Some(9700),
            email: None,
            is_dated: true,
        };
        match stem {
            "payment_chargeback_requested" => Expected {
                status: S::Chargeback,
                transaction: Some("pay_ganchocard0004"),
                subscription: None,
                amount_cents: Some(49700),
                ..base
            },
            "payment_confirmed_subscription" => base,
            "payment_overdue" => Expected {
                status: S::SubscriptionDelayed,
                transaction: Some("pay_ganchobol0005"),
                ..base
            },
            "payment_received" => Expected {
                transaction: Some("pay_gancho8f3k2j1q"),
                subscription: None,
                amount_cents: Some(49700),
                ..base
            },
            "payment_refunded" => Expected {
                status: S::Refunded,
                transaction: Some("pay_gancho8f3k2j1q"),
                subscription: None,
                amount_cents: Some(49700),
                ..base
            },
            other => panic!("no expectation for asaas/{other}"),
        }
    }

    #[test]
    fn every_fixture_normalizes_to_its_expected_event() {
        let events = assert_every_fixture_normalizes(&Asaas, "asaas", expected);

        for (name, e) in events {
            assert_eq!(e.currency.as_deref(), Some("BRL"), "{name}");
            assert!(e.event_id.is_some(), "{name}");
        }
    }

    #[test]
    fn asaas_without_or_with_a_wrong_token_is_rejected() {
        let body = fixture::json("asaas", "payment_received");
        let (missing, missing_payload) = json_request(&body, &[], &[]);
        let (wrong, wrong_payload) = json_request(&body, &[("asaas-access-token", "nope")], &[]);

        let missing = Asaas.verify(&missing, &missing_payload, &[TOKEN], Utc::now());
        let wrong = Asaas.verify(&wrong, &wrong_payload, &[TOKEN], Utc::now());

        assert!(matches!(missing, Err(VerifyError::MissingProof(_))));
        assert!(matches!(wrong, Err(VerifyError::BadSignature(_))));
    }

    #[test]
    fn asaas_output_follows_changed_values() {
        let mut body = fixture::json("asaas", "payment_received");
        body["event"] = json!("PAYMENT_REFUNDED");
        body["payment"]["id"] = json!("pay_other");
        body["payment"]["value"] = json!(12.3);
        body["payment"]["paymentLink"] = json!("lnk_42");
        let (req, payload) = json_request(&body, &[("asaas-access-token", TOKEN)], &[]);

        let e = event(Asaas.normalize(&req, &payload));

        assert_eq!(e.status, CanonicalStatus::Refunded);
        assert_eq!(e.transaction_id.as_deref(), Some("pay_other"));
        assert_eq!(e.amount_cents, Some(1230));
        assert_eq!(e.product.map(|p| p.id).as_deref(), Some("lnk_42"));
    }

    #[test]
    fn asaas_events_map_to_canonical_ones() {
        let cases = [
            ("PAYMENT_DELETED", Some(CanonicalStatus::Canceled)),
            ("PAYMENT_CREATED", Some(CanonicalStatus::WaitingPayment)),
            (
                "PAYMENT_CREDIT_CARD_CAPTURE_REFUSED",
                Some(CanonicalStatus::Refused),
            ),
            (
                "PAYMENT_CHARGEBACK_DISPUTE",
                Some(CanonicalStatus::Chargeback),
            ),
            (
                "PAYMENT_AWAITING_CHARGEBACK_REVERSAL",
                Some(CanonicalStatus::Dispute),
            ),
            (
                "PAYMENT_REFUND_IN_PROGRESS",
                Some(CanonicalStatus::RefundRequested),
            ),
            ("PAYMENT_OVERDUE", Some(CanonicalStatus::WaitingPayment)),
            ("PAYMENT_PARTIALLY_REFUNDED", None),
            ("PAYMENT_SOMETHING_NEW", None),
        ];
        for (name, expected) in cases {
            let mut body = fixture::json("asaas", "payment_received");
            body["event"] = json!(name);
            let (req, payload) = json_request(&body, &[], &[]);

            let result = Asaas.normalize(&req, &payload);

            match (expected, result) {
                (Some(s), Normalized::Event(e)) => assert_eq!(e.status, s, "{name}"),
                (None, Normalized::Ignored(i)) => {
                    assert_eq!(i.native_event.as_deref(), Some(name))
                }
                (_, other) => panic!("{name}: {other:?}"),
            }
        }
    }

    #[test]
    fn asaas_bad_payloads_never_panic() {
        let bodies = [
            json!({"event": "PAYMENT_RECEIVED"}),
            json!({"event": "PAYMENT_RECEIVED", "payment": {"value": "x"}}),
            json!({"event": "PAYMENT_RECEIVED", "payment": {"id": 5, "value": [1]}}),
            json!({"event": "SUBSCRIPTION_DELETED", "subscription": {}}),
            json!({"event": 3}),
            json!({}),
        ];
        for body in bodies {
            let (req, payload) = json_request(&body, &[], &[]);

            if let Normalized::Event(e) = Asaas.normalize(&req, &payload) {
                assert_eq!(e.amount_cents, None, "{body}");
            }
        }
    }
}
