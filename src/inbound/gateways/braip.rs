//! Braip: postback (form fields or JSON) `{basic_authentication, type,
//! trans_key, trans_status, trans_status_code, trans_value, product_key,
//! client_*, subs_key?}`, proven by `basic_authentication` = the account's
//! postback key, compared in constant time. Braip signs nothing.
//!
//! Everything here is LOW (../shared/gateways/NOTES-MORE.md § 14: from
//! memory). Decisions: the status is `trans_status_code` (1 aguardando,
//! 2 aprovado, 3 cancelada, 4 chargeback, 5 devolvida, 6 em análise,
//! 7 estorno pendente, 8 processando, 9 parcialmente pago, 10 atrasado);
//! `trans_value` is in cents; an approval of a subscription (`subs_key`)
//! whose `trans_key` was already granted is left to the ledger; an overdue
//! subscription charge (10) is a grace period.

use chrono::{DateTime, Utc};

use super::{GatewayAdapter, Ignored, Normalized, Proof, SecretSource, Setup};
use crate::inbound::normalize::{
    any_time, clean_email, CanonicalStatus, Customer, GatewayKind, NormalizedEvent, ProductRef,
};
use crate::inbound::request::{InboundRequest, Payload};
use crate::inbound::verify::{token_proof, VerifyError};

/// The Braip adapter.
pub struct Braip;

impl GatewayAdapter for Braip {
    fn kind(&self) -> GatewayKind {
        GatewayKind::Braip
    }

    fn setup(&self) -> Setup {
        Setup {
            name: "Braip",
            formats: "postback (form or JSON)",
            proof: Proof::BodyToken,
            proof_detail: "body basic_authentication = the postback key",
            is_token_in_url: false,
            secret: SecretSource::FromGateway,
            where_to_paste: "Na Braip, vá em Ferramentas > Postback > Nova postback, cole a URL do gancho, selecione o produto e os status, e copie a chave de autenticação para o gancho.",
        }
    }

    fn detect(&self, _req: &InboundRequest, payload: &Payload) -> bool {
        payload.text("basic_authentication").is_some()
            || (payload.text("trans_key").is_some() && payload.text("trans_status_code").is_some())
    }

    fn verify(
        &self,
        _req: &InboundRequest,
        payload: &Payload,
        secrets: &[&str],
        _now: DateTime<Utc>,
    ) -> Result<usize, VerifyError> {
        token_proof(
            "braip",
            "basic_authentication field",
            payload.text("basic_authentication").as_deref(),
            secrets,
        )
    }

    fn normalize(&self, _req: &InboundRequest, payload: &Payload) -> Normalized {
        let Some(code) = payload.text("trans_status_code") else {
            return Ignored::unsupported(None, "the postback has no trans_status_code");
        };
        let native = match payload.text("trans_status") {
            Some(text) => format!("trans_status_code={code} ({text})"),
            None => format!("trans_status_code={code}"),
        };
        let subscription_id = payload.text("subs_key");
        let Some(status) = status(&code, subscription_id.is_some()) else {
            return Ignored::unsupported(Some(native), "this Braip status is not handled");
        };
        let Some(sale) = payload.text("trans_key") else {
            return Ignored::unsupported(Some(native), "the postback has no trans_key");
        };
        Normalized::Event(Box::new(NormalizedEvent {
            transaction_id: Some(sale),
            customer: Customer {
                email: clean_email(payload.text("client_email")),
                name: payload.text("client_name"),
                phone: payload.text("client_cel"),
                // Sic: Braip spells it with two m's.
                document: payload
                    .text("client_documment")
                    .or_else(|| payload.text("client_document")),
            },
            product: payload.text("product_key").map(|id| ProductRef {
                id,
                name: payload.text("product_name"),
            }),
            amount_cents: payload.text("trans_value").and_then(|v| v.parse().ok()),
            currency: Some("BRL".to_string()),
            subscription_id,
            occurred_at: ["trans_updatedate", "trans_createdate"]
                .iter()
                .filter_map(|k| payload.text(k))
                .find_map(|t| any_time(&t)),
            native_event: Some(native),
            ..NormalizedEvent::new(GatewayKind::Braip, status)
        }))
    }

    fn secret_fields(&self) -> &'static [&'static str] {
        &["basic_authentication"]
    }
}

fn status(code: &str, has_subscription: bool) -> Option<CanonicalStatus> {
    Some(match code.trim() {
        "2" => CanonicalStatus::Approved,
        "1" | "6" | "8" | "9" => CanonicalStatus::WaitingPayment,
        "3" => CanonicalStatus::Canceled,
        "4" => CanonicalStatus::Chargeback,
        "5" => CanonicalStatus::Refunded,
        "7" => CanonicalStatus::RefundRequested,
        "10" if has_subscription => CanonicalStatus::SubscriptionDelayed,
        "10" => CanonicalStatus::WaitingPayment,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inbound::gateways::fixture::{
        self, assert_every_fixture_normalizes, json_request, Expected,
    };
    use crate::inbound::request::BodyKind;
    use serde_json::json;

    #[test]
    fn every_fixture_verifies_with_its_key_only() {
        fixture::assert_only_its_secret_verifies(&Braip, "braip", Utc::now());
    }

    fn expected(stem: &str) -> Expected<'static> {
        use CanonicalStatus as S;
        let base = Expected {
            status: S::Approved,
            transaction: Some("vnd0gancho01"),
            subscription: None,
            product: Some("pro0gancho01"),
            amount_cents: Some(49700),
            email: Some("joana.exemplo@example.com"),
            is_dated: true,
        };
        match stem {
            "chargeback" => Expected {
                status: S::Chargeback,
                ..base
            },
            "devolvida" => Expected {
                status: S::Refunded,
                ..base
            },
            "pagamento_aprovado" => base,
            other => panic!("no expectation for braip/{other}"),
        }
    }

    #[test]
    fn every_fixture_normalizes_to_its_expected_event() {
        let events = assert_every_fixture_normalizes(&Braip, "braip", expected);

        for (name, e) in events {
            // trans_updatedate, São Paulo time: the chargeback came weeks later.
            let updated = if name.ends_with("/chargeback") {
                "2025-02-10T13:00:00+00:00"
            } else {
                "2025-01-15T15:25:01+00:00"
            };
            assert_eq!(
                e.customer.document.as_deref(),
                Some("52998224725"),
                "{name}"
            );
            assert_eq!(
                e.occurred_at.map(|t| t.to_rfc3339()).as_deref(),
                Some(updated),
                "{name}"
            );
        }
    }

    #[test]
    fn braip_without_its_key_or_with_an_empty_one_is_rejected() {
        let f = fixture::load("braip", "pagamento_aprovado");
        let text = String::from_utf8(f.request.body.to_vec()).unwrap();
        let without = |key_pair: Option<&str>| {
            let mut pairs: Vec<&str> = text
                .split('&')
                .filter(|p| !p.starts_with("basic_authentication="))
                .collect();
            pairs.extend(key_pair);
            let body = pairs.join("&");
            let payload = Payload::parse(BodyKind::Form, body.as_bytes()).unwrap();
            let request = InboundRequest {
                body: bytes::Bytes::from(body),
                ..f.request.clone()
            };
            Braip.verify(&request, &payload, &[&f.secret], Utc::now())
        };

        let missing = without(None);
        let empty = without(Some("basic_authentication="));

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
    fn braip_json_postbacks_and_codes_are_read() {
        let cases = [
            ("4", None, Some(CanonicalStatus::Chargeback)),
            ("3", None, Some(CanonicalStatus::Canceled)),
            ("7", None, Some(CanonicalStatus::RefundRequested)),
            (
                "10",
                Some("sub1"),
                Some(CanonicalStatus::SubscriptionDelayed),
            ),
            ("99", None, None),
        ];
        for (code, subs, expected) in cases {
            let body = json!({"basic_authentication": "k", "trans_key": "T1",
                "trans_status_code": code, "subs_key": subs, "client_email": "a@b.com"});
            let (req, payload) = json_request(&body, &[], &[]);

            assert!(Braip.detect(&req, &payload));
            match (expected, Braip.normalize(&req, &payload)) {
                (Some(s), Normalized::Event(e)) => assert_eq!(e.status, s, "{code}"),
                (None, Normalized::Ignored(_)) => {}
                (_, other) => panic!("{code}: {other:?}"),
            }
        }
    }

    #[test]
    fn braip_bad_payloads_never_panic() {
        let bodies = [
            json!({"trans_status_code": 2}),
            json!({"trans_status_code": 2, "trans_key": "x", "trans_value": "49,7"}),
            json!({"trans_status_code": [], "trans_key": 1}),
            json!({}),
        ];
        for body in bodies {
            let (req, payload) = json_request(&body, &[], &[]);

            if let Normalized::Event(e) = Braip.normalize(&req, &payload) {
                assert_eq!(e.amount_cents, None, "{body}");
            }
        }
    }
}
