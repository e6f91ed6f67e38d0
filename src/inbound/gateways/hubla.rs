//! Hubla (webhook v2.0.0): JSON `{type, event:{…}, version}`, proven by the
//! static `x-hubla-token` header; `x-hubla-idempotency` names the delivery
//! and is kept as the event id. Hubla signs nothing. Types and the mapping
//! follow ../shared/gateways/NOTES-MORE.md § 4.
//!
//! Decisions where NOTES-MORE is unsure: a chargeback has no type of its own
//! that we know of, so `invoice.status_updated` is read by its
//! `invoice.status` (`chargeback`, `disputed` → chargeback; `refunded` →
//! refunded; anything else acknowledged) (LOW). A paid invoice is a sale;
//! whether it renews a subscription is left to the ledger, which extends the
//! grants of the same `subscriptionId`. `customer.member_removed` ends the
//! subscription it names now; `customer.member_added` is acknowledged (the
//! paid invoice grants, and a member event has no invoice to dedupe on).

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use super::{GatewayAdapter, Ignored, Normalized, Proof, SecretSource, Setup};
use crate::inbound::normalize::{
    any_time, clean_email, CanonicalStatus, Customer, GatewayKind, NormalizedEvent, ProductRef,
};
use crate::inbound::request::{path_text, InboundRequest, Payload};
use crate::inbound::verify::{token_proof, VerifyError};

/// The Hubla adapter.
pub struct Hubla;

impl GatewayAdapter for Hubla {
    fn kind(&self) -> GatewayKind {
        GatewayKind::Hubla
    }

    fn setup(&self) -> Setup {
        Setup {
            name: "Hubla",
            formats: "webhook v2.0.0 (JSON)",
            proof: Proof::HeaderToken,
            proof_detail: "x-hubla-token header = the integration's token",
            is_token_in_url: false,
            secret: SecretSource::FromGateway,
            where_to_paste: "Na Hubla, menu Integrações > seção Automações > Webhook > aba Configurações > Adicionar regra. Dê um nome, cole a URL do gancho, escolha os produtos e marque: Pagamento da fatura realizado, Fatura reembolsada, Assinatura desativada e Assinatura cancelada. Copie o token do webhook para o gancho.",
        }
    }

    fn detect(&self, req: &InboundRequest, payload: &Payload) -> bool {
        let Payload::Json(map) = payload else {
            return false;
        };
        req.header("x-hubla-token").is_some()
            || req.header("x-hubla-idempotency").is_some()
            || (map.get("type").is_some_and(Value::is_string)
                && map.get("event").is_some_and(Value::is_object)
                && map.get("version").is_some_and(Value::is_string))
    }

    fn verify(
        &self,
        req: &InboundRequest,
        _payload: &Payload,
        secrets: &[&str],
        _now: DateTime<Utc>,
    ) -> Result<usize, VerifyError> {
        token_proof(
            "hubla",
            "x-hubla-token header",
            req.header("x-hubla-token"),
            secrets,
        )
    }

    fn normalize(&self, req: &InboundRequest, payload: &Payload) -> Normalized {
        let Some(map) = payload.as_json() else {
            return Ignored::unsupported(None, "Hubla webhooks are JSON");
        };
        let Some(kind) = path_text(map, &["type"]) else {
            return Ignored::unsupported(None, "the body has no type");
        };
        let Some(event) = map.get("event").and_then(Value::as_object) else {
            return Ignored::unsupported(Some(kind), "the body has no event object");
        };
        let status = match status(&kind, event) {
            Ok(status) => status,
            Err((is_ack, reason)) => {
                return Normalized::Ignored(Ignored {
                    native_event: Some(kind),
                    reason: reason.to_string(),
                    is_ack,
                })
            }
        };
        let invoice = event.get("invoice").and_then(Value::as_object);
        let subscription_id = invoice
            .and_then(|i| path_text(i, &["subscriptionId"]))
            .or_else(|| path_text(event, &["subscription", "id"]));
        if status == CanonicalStatus::SubscriptionCanceled && subscription_id.is_none() {
            return Ignored::unsupported(Some(kind), "the event names no subscription to end");
        }
        Normalized::Event(Box::new(NormalizedEvent {
            transaction_id: invoice.and_then(|i| path_text(i, &["id"])),
            customer: customer(event),
            product: path_text(event, &["product", "id"]).map(|id| ProductRef {
                id,
                name: path_text(event, &["product", "name"]),
            }),
            amount_cents: invoice
                .and_then(|i| path_text(i, &["amount", "totalCents"]))
                .and_then(|c| c.parse().ok()),
            currency: invoice.and_then(|i| path_text(i, &["currency"])),
            subscription_id,
            occurred_at: occurred_at(event, invoice, status),
            native_event: Some(kind),
            event_id: req.header("x-hubla-idempotency").map(str::to_string),
            ..NormalizedEvent::new(GatewayKind::Hubla, status)
        }))
    }

    fn secret_fields(&self) -> &'static [&'static str] {
        &[]
    }
}

/// The type (and, for `invoice.status_updated`, the invoice's status) as a
/// canonical status, or why it is skipped: `(is_ack, reason)`.
fn status(kind: &str, event: &Map<String, Value>) -> Result<CanonicalStatus, (bool, &'static str)> {
    const ACK: (bool, &str) = (true, "this Hubla event does not change access");
    Ok(match kind {
        "invoice.payment_succeeded" => CanonicalStatus::Approved,
        "invoice.refunded" => CanonicalStatus::Refunded,
        "invoice.payment_failed" => CanonicalStatus::Refused,
        "invoice.expired" => CanonicalStatus::Expired,
        "invoice.created" => CanonicalStatus::WaitingPayment,
        "invoice.status_updated" => match path_text(event, &["invoice", "status"]).as_deref() {
            Some("chargeback" | "chargedback" | "disputed") => CanonicalStatus::Chargeback,
            Some("refunded") => CanonicalStatus::Refunded,
            _ => return Err(ACK),
        },
        "subscription.deactivated" | "customer.member_removed" => {
            CanonicalStatus::SubscriptionCanceled
        }
        "subscription.expiring" => CanonicalStatus::SubscriptionDelayed,
        "refund_request.created" => CanonicalStatus::RefundRequested,
        "lead.abandoned_checkout" => CanonicalStatus::CartAbandoned,
        "customer.member_added"
        | "subscription.created"
        | "subscription.activated"
        | "subscription.renewal_disabled"
        | "subscription.renewal_enabled"
        | "refund_request.accepted"
        | "refund_request.canceled"
        | "refund_request.rejected" => return Err(ACK),
        _ => return Err((false, "this Hubla event is not handled")),
    })
}

/// `event.user` (or `event.lead` for an abandoned checkout, LOW).
fn customer(event: &Map<String, Value>) -> Customer {
    let Some(user) = ["user", "lead", "payer"]
        .iter()
        .find_map(|k| event.get(*k).and_then(Value::as_object))
    else {
        return Customer::default();
    };
    let name = match (
        path_text(user, &["firstName"]),
        path_text(user, &["lastName"]),
    ) {
        (Some(first), Some(last)) => Some(format!("{first} {last}")),
        (first, last) => first.or(last).or_else(|| path_text(user, &["name"])),
    };
    Customer {
        email: clean_email(path_text(user, &["email"])),
        name,
        phone: path_text(user, &["phone"]),
        document: path_text(user, &["document"]),
    }
}

/// The sale date for payments; else the last status change, else the
/// record's last modification.
fn occurred_at(
    event: &Map<String, Value>,
    invoice: Option<&Map<String, Value>>,
    status: CanonicalStatus,
) -> Option<DateTime<Utc>> {
    let last_status = invoice
        .and_then(|i| i.get("statusAt"))
        .and_then(Value::as_array)
        .and_then(|list| list.last())
        .and_then(|s| s.get("when"))
        .and_then(Value::as_str)
        .map(str::to_string);
    let sale_date = (status == CanonicalStatus::Approved)
        .then(|| invoice.and_then(|i| path_text(i, &["saleDate"])))
        .flatten();
    [
        sale_date,
        last_status,
        invoice.and_then(|i| path_text(i, &["modifiedAt"])),
        path_text(event, &["subscription", "modifiedAt"]),
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

    const TOKEN: &str = "test-hubla-token-b8f2a6";

    #[test]
    fn every_fixture_verifies_with_its_token_only() {
        fixture::assert_only_its_secret_verifies(&Hubla, "hubla", Utc::now());
    }

    fn expected(stem: &str) -> Expected<'static> {
        use CanonicalStatus as S;
        let base = Expected {
            status: S::Approved,
            transaction: Some("b7c1d2e3-gancho-inv-0001"),
            subscription: Some("c8d2e3f4-gancho-sub-0001"),
            product: Some("gAnChOpRoD0001hubla"),
            amount_cents: Some(49700),
            email: Some("joana.exemplo@example.com"),
            is_dated: true,
        };
        match stem {
            "customer_member_removed" => Expected {
                status: S::SubscriptionCanceled,
                transaction: None,
                amount_cents: None,
                ..base
            },
            "invoice_payment_succeeded" => base,
            "invoice_refunded" => Expected {
                status: S::Refunded,
                ..base
            },
            "invoice_status_updated_chargeback" => Expected {
                status: S::Chargeback,
                ..base
            },
            "subscription_deactivated" => Expected {
                status: S::SubscriptionCanceled,
                transaction: None,
                amount_cents: None,
                ..base
            },
            other => panic!("no expectation for hubla/{other}"),
        }
    }

    #[test]
    fn every_fixture_normalizes_to_its_expected_event() {
        let events = assert_every_fixture_normalizes(&Hubla, "hubla", expected);

        for (name, e) in events {
            assert!(
                e.event_id.is_some_and(|id| id.starts_with("e5f6a7b8")),
                "{name}"
            );
        }
    }

    #[test]
    fn hubla_reads_the_user_and_the_sale_date() {
        let f = fixture::load("hubla", "invoice_payment_succeeded");

        let e = event(Hubla.normalize(&f.request, &f.payload));

        assert_eq!(e.customer.name.as_deref(), Some("Joana Exemplo"));
        assert_eq!(e.customer.phone.as_deref(), Some("+5521988887777"));
        assert_eq!(e.customer.document.as_deref(), Some("52998224725"));
        assert_eq!(e.currency.as_deref(), Some("BRL"));
        assert_eq!(
            e.occurred_at.map(|t| t.to_rfc3339()).as_deref(),
            Some("2025-01-15T12:25:01+00:00")
        );
    }

    #[test]
    fn hubla_without_or_with_a_wrong_token_is_rejected() {
        let body = fixture::json("hubla", "invoice_payment_succeeded");
        let (missing, missing_payload) = json_request(&body, &[], &[("token", TOKEN)]);
        let (wrong, wrong_payload) = json_request(&body, &[("x-hubla-token", "nope")], &[]);

        assert!(matches!(
            Hubla.verify(&missing, &missing_payload, &[TOKEN], Utc::now()),
            Err(VerifyError::MissingProof(_))
        ));
        assert!(matches!(
            Hubla.verify(&wrong, &wrong_payload, &[TOKEN], Utc::now()),
            Err(VerifyError::BadSignature(_))
        ));
    }

    #[test]
    fn hubla_types_map_to_canonical_ones() {
        let cases = [
            ("invoice.refunded", "paid", Some(CanonicalStatus::Refunded)),
            ("invoice.expired", "expired", Some(CanonicalStatus::Expired)),
            (
                "invoice.payment_failed",
                "unpaid",
                Some(CanonicalStatus::Refused),
            ),
            (
                "invoice.status_updated",
                "refunded",
                Some(CanonicalStatus::Refunded),
            ),
            ("invoice.status_updated", "paid", None),
            (
                "refund_request.created",
                "paid",
                Some(CanonicalStatus::RefundRequested),
            ),
            ("customer.member_added", "paid", None),
            ("smart_installment.created", "paid", None),
        ];
        for (kind, invoice_status, expected) in cases {
            let mut body = fixture::json("hubla", "invoice_payment_succeeded");
            body["type"] = json!(kind);
            body["event"]["invoice"]["status"] = json!(invoice_status);
            let (req, payload) = json_request(&body, &[], &[]);

            let result = Hubla.normalize(&req, &payload);

            match (expected, result) {
                (Some(s), Normalized::Event(e)) => assert_eq!(e.status, s, "{kind}"),
                (None, Normalized::Ignored(i)) => assert_eq!(i.native_event.as_deref(), Some(kind)),
                (_, other) => panic!("{kind}: {other:?}"),
            }
        }
    }

    #[test]
    fn hubla_bad_payloads_never_panic() {
        let bodies = [
            json!({"type": "invoice.payment_succeeded", "event": {}}),
            json!({"type": "invoice.payment_succeeded", "event": {"invoice": {"amount": {"totalCents": "x"}, "statusAt": 3}}}),
            json!({"type": "customer.member_removed", "event": {"user": []}}),
            json!({"type": "invoice.payment_succeeded", "event": []}),
            json!({"type": 1}),
            json!({}),
        ];
        for body in bodies {
            let (req, payload) = json_request(&body, &[], &[]);

            if let Normalized::Event(e) = Hubla.normalize(&req, &payload) {
                assert_eq!(e.amount_cents, None, "{body}");
            }
        }
    }
}
