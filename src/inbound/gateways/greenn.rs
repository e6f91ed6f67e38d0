//! Greenn: JSON `{type, event, oldStatus, currentStatus, …}` with three
//! types: `sale` (`saleUpdated`, `sale`, `client`, `product`), `contract` (a
//! subscription: `contract`, `currentSale`) and `lead` (`checkoutAbandoned`).
//! Greenn offers no proof of authenticity (NOTES-MORE.md § 7), so the inbound
//! URL carries the key as `?token=`, compared in constant time. The older
//! shape (`client.document` instead of `cpf_cnpj`) is read too.
//!
//! Decisions where NOTES-MORE is unsure (LOW): the contract's event name
//! and keys are guessed by analogy; a contract `paid` is a renewal of
//! `contract.id` with `currentSale.id` as the transaction, `trialing` a sale,
//! `pending_payment`/`unpaid` a grace period, `canceled` the end of the
//! subscription at `contract.current_period_end`. Only the main product is
//! named; order bumps (`products[].is_order_bump`) are granted only through
//! the inbound URL's products.

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use super::{GatewayAdapter, Ignored, Normalized, Proof, SecretSource, Setup};
use crate::inbound::normalize::{
    any_time, clean_email, decimal_to_cents, CanonicalStatus, Customer, GatewayKind,
    NormalizedEvent, ProductRef,
};
use crate::inbound::request::{path_text, InboundRequest, Payload};
use crate::inbound::verify::{token_proof, VerifyError};

/// The Greenn adapter.
pub struct Greenn;

impl GatewayAdapter for Greenn {
    fn kind(&self) -> GatewayKind {
        GatewayKind::Greenn
    }

    fn setup(&self) -> Setup {
        Setup {
            name: "Greenn",
            formats: "JSON",
            proof: Proof::QueryToken,
            proof_detail: "none offered by Greenn: gancho's token in the URL's ?token=",
            is_token_in_url: true,
            secret: SecretSource::Generated,
            where_to_paste: "Na Greenn, vá em Produtos > editar produto > aba Conteúdo > Adicionar Conteúdo > Sistema externo > Webhook, cole a URL do gancho com o token no fim (…&token=SEU_TOKEN) e clique em Criar Liberação.",
        }
    }

    fn detect(&self, _req: &InboundRequest, payload: &Payload) -> bool {
        let Payload::Json(map) = payload else {
            return false;
        };
        matches!(
            (
                path_text(map, &["type"]).as_deref(),
                path_text(map, &["event"]).as_deref()
            ),
            (Some("sale"), Some("saleUpdated"))
                | (Some("contract"), Some("contractUpdated"))
                | (Some("lead"), Some("checkoutAbandoned"))
        )
    }

    fn verify(
        &self,
        req: &InboundRequest,
        _payload: &Payload,
        secrets: &[&str],
        _now: DateTime<Utc>,
    ) -> Result<usize, VerifyError> {
        token_proof("greenn", "?token=", req.query_param("token"), secrets)
    }

    fn normalize(&self, _req: &InboundRequest, payload: &Payload) -> Normalized {
        let Some(map) = payload.as_json() else {
            return Ignored::unsupported(None, "Greenn webhooks are JSON");
        };
        let kind = path_text(map, &["type"]).unwrap_or_default();
        let current = path_text(map, &["currentStatus"]).unwrap_or_default();
        let native = format!("{kind}:{current}");
        let built = match kind.as_str() {
            "sale" => sale(map, &current),
            "contract" => contract(map, &current),
            "lead" => Some(lead(map)),
            _ => None,
        };
        let Some(e) = built else {
            return Ignored::unsupported(Some(native), "this Greenn status is not handled");
        };
        Normalized::Event(Box::new(NormalizedEvent {
            product: path_text(map, &["product", "id"]).map(|id| ProductRef {
                id,
                name: path_text(map, &["product", "name"]),
            }),
            currency: Some("BRL".to_string()),
            native_event: Some(native),
            ..e
        }))
    }

    fn secret_fields(&self) -> &'static [&'static str] {
        &[]
    }
}

fn sale(map: &Map<String, Value>, current: &str) -> Option<NormalizedEvent> {
    let status = match current {
        "paid" => CanonicalStatus::Approved,
        "refunded" => CanonicalStatus::Refunded,
        "chargedback" => CanonicalStatus::Chargeback,
        "refused" => CanonicalStatus::Refused,
        "waiting_payment" => CanonicalStatus::WaitingPayment,
        "canceled" => CanonicalStatus::Canceled,
        _ => return None,
    };
    Some(NormalizedEvent {
        transaction_id: path_text(map, &["sale", "id"]),
        customer: client(map, "client"),
        amount_cents: path_text(map, &["sale", "amount"]).and_then(|a| decimal_to_cents(&a)),
        subscription_id: path_text(map, &["contract", "id"]),
        occurred_at: time(map, &["sale", "updated_at"]),
        ..NormalizedEvent::new(GatewayKind::Greenn, status)
    })
}

fn contract(map: &Map<String, Value>, current: &str) -> Option<NormalizedEvent> {
    let status = match current {
        "paid" => CanonicalStatus::SubscriptionRenewed,
        "trialing" => CanonicalStatus::Approved,
        "pending_payment" | "unpaid" => CanonicalStatus::SubscriptionDelayed,
        "canceled" => CanonicalStatus::SubscriptionCanceled,
        _ => return None,
    };
    let access_ends_at = (status == CanonicalStatus::SubscriptionCanceled)
        .then(|| time(map, &["contract", "current_period_end"]))
        .flatten();
    Some(NormalizedEvent {
        transaction_id: path_text(map, &["currentSale", "id"]),
        customer: client(map, "client"),
        amount_cents: path_text(map, &["currentSale", "amount"]).and_then(|a| decimal_to_cents(&a)),
        subscription_id: path_text(map, &["contract", "id"]),
        recurrence: path_text(map, &["contract", "recurrence"]).and_then(|r| r.parse().ok()),
        occurred_at: time(map, &["currentSale", "updated_at"]),
        access_ends_at,
        ..NormalizedEvent::new(GatewayKind::Greenn, status)
    })
}

fn lead(map: &Map<String, Value>) -> NormalizedEvent {
    NormalizedEvent {
        customer: client(map, "lead"),
        ..NormalizedEvent::new(GatewayKind::Greenn, CanonicalStatus::CartAbandoned)
    }
}

fn client(map: &Map<String, Value>, key: &str) -> Customer {
    Customer {
        email: clean_email(path_text(map, &[key, "email"])),
        name: path_text(map, &[key, "name"]),
        phone: path_text(map, &[key, "cellphone"]),
        document: path_text(map, &[key, "cpf_cnpj"]).or_else(|| path_text(map, &[key, "document"])),
    }
}

/// São Paulo wall time (`"2025-01-15 12:25:01"` or a bare date).
fn time(map: &Map<String, Value>, path: &[&str]) -> Option<DateTime<Utc>> {
    path_text(map, path).and_then(|t| any_time(&t))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inbound::gateways::fixture::{
        self, assert_every_fixture_normalizes, event, json_request, Expected,
    };
    use serde_json::json;

    const TOKEN: &str = "test-greenn-url-token-8a8a";

    #[test]
    fn every_fixture_verifies_with_its_url_token_only() {
        for dir in ["greenn", "greenn_v2"] {
            fixture::assert_only_its_secret_verifies(&Greenn, dir, Utc::now());
        }
    }

    fn expected_greenn(stem: &str) -> Expected<'static> {
        use CanonicalStatus as S;
        let base = Expected {
            status: S::Approved,
            transaction: Some("1122334"),
            subscription: None,
            product: Some("88990"),
            amount_cents: Some(49700),
            email: Some("maria.teste@example.com"),
            is_dated: true,
        };
        match stem {
            "sale_paid" => base,
            "sale_refunded" => Expected {
                status: S::Refunded,
                ..base
            },
            other => panic!("no expectation for greenn/{other}"),
        }
    }

    fn expected_greenn_v2(stem: &str) -> Expected<'static> {
        use CanonicalStatus as S;
        let base = Expected {
            status: S::Approved,
            transaction: Some("2233445"),
            subscription: None,
            product: Some("99001"),
            amount_cents: Some(49700),
            email: Some("joana.exemplo@example.com"),
            is_dated: true,
        };
        match stem {
            "contract_canceled" => Expected {
                status: S::SubscriptionCanceled,
                transaction: Some("2233999"),
                subscription: Some("55001"),
                amount_cents: Some(9700),
                ..base
            },
            "contract_paid_renewal" => Expected {
                status: S::SubscriptionRenewed,
                transaction: Some("2233999"),
                subscription: Some("55001"),
                amount_cents: Some(9700),
                ..base
            },
            "lead_checkout_abandoned" => Expected {
                status: S::CartAbandoned,
                transaction: None,
                amount_cents: None,
                is_dated: false,
                ..base
            },
            "sale_chargedback" => Expected {
                status: S::Chargeback,
                ..base
            },
            "sale_paid_with_order_bump" => base,
            other => panic!("no expectation for greenn_v2/{other}"),
        }
    }

    #[test]
    fn every_fixture_normalizes_to_its_expected_event() {
        assert_every_fixture_normalizes(&Greenn, "greenn", expected_greenn);
        assert_every_fixture_normalizes(&Greenn, "greenn_v2", expected_greenn_v2);
    }

    #[test]
    fn greenn_reads_the_client_and_the_period_end() {
        let sale = fixture::load("greenn_v2", "sale_paid_with_order_bump");
        let canceled = fixture::load("greenn_v2", "contract_canceled");

        let sale = event(Greenn.normalize(&sale.request, &sale.payload));
        let canceled = event(Greenn.normalize(&canceled.request, &canceled.payload));

        assert_eq!(sale.product.map(|p| p.id).as_deref(), Some("99001"));
        assert_eq!(sale.customer.document.as_deref(), Some("52998224725"));
        assert_eq!(
            sale.occurred_at.map(|t| t.to_rfc3339()).as_deref(),
            Some("2025-01-15T15:25:01+00:00")
        );
        assert_eq!(
            canceled.access_ends_at.map(|t| t.to_rfc3339()).as_deref(),
            Some("2025-03-15T03:00:00+00:00")
        );
    }

    #[test]
    fn greenn_without_the_url_token_is_rejected() {
        let body = fixture::json("greenn_v2", "sale_paid_with_order_bump");
        let (req, payload) = json_request(&body, &[], &[]);

        assert!(matches!(
            Greenn.verify(&req, &payload, &[TOKEN], Utc::now()),
            Err(VerifyError::MissingProof(_))
        ));
    }

    #[test]
    fn greenn_sale_statuses_map_and_unknown_ones_are_ignored() {
        let cases = [
            ("chargedback", Some(CanonicalStatus::Chargeback)),
            ("refused", Some(CanonicalStatus::Refused)),
            ("waiting_payment", Some(CanonicalStatus::WaitingPayment)),
            ("delivered", None),
        ];
        for (current, expected) in cases {
            let mut body = fixture::json("greenn_v2", "sale_paid_with_order_bump");
            body["currentStatus"] = json!(current);
            let (req, payload) = json_request(&body, &[], &[]);

            match (expected, Greenn.normalize(&req, &payload)) {
                (Some(s), Normalized::Event(e)) => assert_eq!(e.status, s, "{current}"),
                (None, Normalized::Ignored(i)) => {
                    assert_eq!(i.native_event, Some(format!("sale:{current}")))
                }
                (_, other) => panic!("{current}: {other:?}"),
            }
        }
    }

    #[test]
    fn greenn_bad_payloads_never_panic() {
        let bodies = [
            json!({"type": "sale", "currentStatus": "paid"}),
            json!({"type": "sale", "currentStatus": "paid", "sale": {"amount": "x"}, "client": 1}),
            json!({"type": "contract", "currentStatus": "canceled", "contract": []}),
            json!({"type": "lead", "lead": "x"}),
            json!({"type": 3}),
            json!({}),
        ];
        for body in bodies {
            let (req, payload) = json_request(&body, &[], &[]);

            if let Normalized::Event(e) = Greenn.normalize(&req, &payload) {
                assert_eq!(e.amount_cents, None, "{body}");
            }
        }
    }
}
