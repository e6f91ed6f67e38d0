//! Digital Manager Guru: JSON with `webhook_type` `transaction` (a sale:
//! `id`, `status`, `contact`, `product`, `payment`, `dates`) or
//! `subscription` (`last_status`, `subscriber`, `current_invoice`), proven by
//! the body's `api_token` (also nested as `payload.api_token`) = the account
//! API token, compared in constant time. Guru signs nothing.
//! ../shared/gateways/NOTES-MORE.md § 10 (MEDIUM).
//!
//! Decisions: transactions carry the sale; an `active` subscription webhook
//! is a renewal only from its second charge (`charged_times` > 1, with
//! `current_invoice.id` as the transaction), the first charge being granted
//! by its transaction; `canceled`/`expired`/`inactive` end the subscription
//! at `cycle_end_date`; `pastdue` is a grace period. The subscription id is
//! the webhook's `id` (a transaction's `subscription.id` when it has one;
//! LOW). Dates are São Paulo wall time (UNVERIFIED).

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use super::{GatewayAdapter, Ignored, Normalized, Proof, SecretSource, Setup};
use crate::inbound::normalize::{
    any_time, clean_email, decimal_to_cents, CanonicalStatus, Customer, GatewayKind,
    NormalizedEvent, ProductRef,
};
use crate::inbound::request::{path_text, InboundRequest, Payload};
use crate::inbound::verify::{token_proof, VerifyError};

/// The Digital Manager Guru adapter.
pub struct DmGuru;

impl GatewayAdapter for DmGuru {
    fn kind(&self) -> GatewayKind {
        GatewayKind::DmGuru
    }

    fn setup(&self) -> Setup {
        Setup {
            name: "Digital Manager Guru",
            formats: "JSON",
            proof: Proof::BodyToken,
            proof_detail: "body api_token (or payload.api_token) = the account API token",
            is_token_in_url: false,
            secret: SecretSource::FromGateway,
            where_to_paste: "No Guru, vá em Configurações > Webhooks > Add webhook. Dê um nome, cole a URL do gancho, escolha os status (Aprovada, Reembolsada, Chargeback, Cancelada) e filtre por produtos se quiser. Copie o token da API da conta (Configurações > API) para o gancho.",
        }
    }

    fn detect(&self, _req: &InboundRequest, payload: &Payload) -> bool {
        payload.as_json().is_some_and(|m| {
            matches!(
                path_text(m, &["webhook_type"]).as_deref(),
                Some("transaction" | "subscription" | "abandoned cart" | "abandoned_cart")
            )
        })
    }

    fn verify(
        &self,
        _req: &InboundRequest,
        payload: &Payload,
        secrets: &[&str],
        _now: DateTime<Utc>,
    ) -> Result<usize, VerifyError> {
        let given = payload.text("api_token").or_else(|| {
            payload
                .as_json()
                .and_then(|m| path_text(m, &["payload", "api_token"]))
        });
        token_proof("dmguru", "api_token field", given.as_deref(), secrets)
    }

    fn normalize(&self, _req: &InboundRequest, payload: &Payload) -> Normalized {
        let Some(map) = payload.as_json() else {
            return Ignored::unsupported(None, "Guru webhooks are JSON");
        };
        match path_text(map, &["webhook_type"]).as_deref() {
            Some("subscription") => subscription(map),
            _ => transaction(map),
        }
    }

    fn secret_fields(&self) -> &'static [&'static str] {
        &["api_token"]
    }
}

fn transaction(map: &Map<String, Value>) -> Normalized {
    let Some(raw) = path_text(map, &["status"]) else {
        return Ignored::unsupported(None, "the transaction has no status");
    };
    let native = format!("transaction:{raw}");
    let status = match raw.as_str() {
        "approved" => CanonicalStatus::Approved,
        "refunded" => CanonicalStatus::Refunded,
        "chargeback" => CanonicalStatus::Chargeback,
        "dispute" => CanonicalStatus::Dispute,
        "refused" => CanonicalStatus::Refused,
        "canceled" => CanonicalStatus::Canceled,
        "expired" => CanonicalStatus::Expired,
        "waiting_payment" | "billet_printed" | "in_analysis" => CanonicalStatus::WaitingPayment,
        "abandoned" => CanonicalStatus::CartAbandoned,
        _ => return Ignored::unsupported(Some(native), "this Guru status is not handled"),
    };
    let occurred = match status {
        CanonicalStatus::Approved => ["confirmed_at", "updated_at"],
        CanonicalStatus::Canceled => ["canceled_at", "updated_at"],
        _ => ["updated_at", "created_at"],
    };
    Normalized::Event(Box::new(NormalizedEvent {
        transaction_id: path_text(map, &["id"]),
        customer: person(map, "contact"),
        product: product(map),
        amount_cents: path_text(map, &["payment", "total"]).and_then(|v| decimal_to_cents(&v)),
        currency: path_text(map, &["payment", "currency"]),
        subscription_id: path_text(map, &["subscription", "id"]),
        occurred_at: occurred
            .iter()
            .filter_map(|k| path_text(map, &["dates", k]))
            .find_map(|t| any_time(&t)),
        native_event: Some(native),
        ..NormalizedEvent::new(GatewayKind::DmGuru, status)
    }))
}

fn subscription(map: &Map<String, Value>) -> Normalized {
    let Some(raw) = path_text(map, &["last_status"]) else {
        return Ignored::unsupported(None, "the subscription has no last_status");
    };
    let native = format!("subscription:{raw}");
    let charges: Option<u32> = path_text(map, &["charged_times"]).and_then(|c| c.parse().ok());
    let status = match raw.as_str() {
        "active" if charges.is_some_and(|c| c > 1) => CanonicalStatus::SubscriptionRenewed,
        "canceled" | "expired" | "inactive" => CanonicalStatus::SubscriptionCanceled,
        "pastdue" => CanonicalStatus::SubscriptionDelayed,
        "active" | "started" | "trial" => {
            return Normalized::Ignored(Ignored {
                native_event: Some(native),
                reason: "the subscription's first charge is granted by its transaction".into(),
                is_ack: true,
            })
        }
        _ => return Ignored::unsupported(Some(native), "this Guru status is not handled"),
    };
    let access_ends_at = (status == CanonicalStatus::SubscriptionCanceled)
        .then(|| path_text(map, &["cycle_end_date"]))
        .flatten()
        .and_then(|t| any_time(&t));
    Normalized::Event(Box::new(NormalizedEvent {
        transaction_id: (status == CanonicalStatus::SubscriptionRenewed)
            .then(|| path_text(map, &["current_invoice", "id"]))
            .flatten(),
        customer: person(map, "subscriber"),
        product: product(map),
        amount_cents: path_text(map, &["current_invoice", "value"])
            .and_then(|v| decimal_to_cents(&v)),
        currency: Some("BRL".to_string()),
        subscription_id: path_text(map, &["id"]),
        recurrence: charges,
        occurred_at: path_text(map, &["last_status_at"]).and_then(|t| any_time(&t)),
        native_event: Some(native),
        access_ends_at,
        ..NormalizedEvent::new(GatewayKind::DmGuru, status)
    }))
}

fn person(map: &Map<String, Value>, key: &str) -> Customer {
    let phone = [
        path_text(map, &[key, "phone_local_code"]),
        path_text(map, &[key, "phone_number"]),
    ]
    .into_iter()
    .flatten()
    .collect::<String>();
    Customer {
        email: clean_email(path_text(map, &[key, "email"])),
        name: path_text(map, &[key, "name"]),
        phone: Some(phone).filter(|p| !p.is_empty()),
        document: path_text(map, &[key, "doc"]),
    }
}

fn product(map: &Map<String, Value>) -> Option<ProductRef> {
    Some(ProductRef {
        id: path_text(map, &["product", "id"])?,
        name: path_text(map, &["product", "name"]),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inbound::gateways::fixture::{
        self, assert_every_fixture_normalizes, event, json_request, Expected,
    };
    use serde_json::json;

    const TOKEN: &str = "test-guru-api-token-Zq81mX";

    #[test]
    fn every_fixture_verifies_with_its_token_only() {
        fixture::assert_only_its_secret_verifies(&DmGuru, "dmguru", Utc::now());
    }

    fn expected(stem: &str) -> Expected<'static> {
        use CanonicalStatus as S;
        let base = Expected {
            status: S::Approved,
            transaction: Some("9d2f4b1c-gancho-tx-0001"),
            subscription: None,
            product: Some("1737000001"),
            amount_cents: Some(49700),
            email: Some("joana.exemplo@example.com"),
            is_dated: true,
        };
        match stem {
            "subscription_active_renewal" => Expected {
                status: S::SubscriptionRenewed,
                transaction: Some("9d2f4b1c-gancho-iv-0002"),
                subscription: Some("9d2f4b1c-gancho-sb-0001"),
                amount_cents: Some(9700),
                ..base
            },
            "subscription_canceled" => Expected {
                status: S::SubscriptionCanceled,
                transaction: None,
                subscription: Some("9d2f4b1c-gancho-sb-0001"),
                amount_cents: Some(9700),
                ..base
            },
            "transaction_approved" => base,
            "transaction_chargeback" => Expected {
                status: S::Chargeback,
                ..base
            },
            "transaction_refunded" => Expected {
                status: S::Refunded,
                ..base
            },
            "transaction_waiting_payment_pix" => Expected {
                status: S::WaitingPayment,
                ..base
            },
            other => panic!("no expectation for dmguru/{other}"),
        }
    }

    #[test]
    fn every_fixture_normalizes_to_its_expected_event() {
        assert_every_fixture_normalizes(&DmGuru, "dmguru", expected);
    }

    #[test]
    fn dmguru_reads_contact_and_period_end() {
        let sale = fixture::load("dmguru", "transaction_approved");
        let canceled = fixture::load("dmguru", "subscription_canceled");

        let sale = event(DmGuru.normalize(&sale.request, &sale.payload));
        let canceled = event(DmGuru.normalize(&canceled.request, &canceled.payload));

        assert_eq!(sale.customer.phone.as_deref(), Some("5521988887777"));
        assert_eq!(sale.customer.document.as_deref(), Some("52998224725"));
        assert_eq!(sale.currency.as_deref(), Some("BRL"));
        assert_eq!(
            sale.occurred_at.map(|t| t.to_rfc3339()).as_deref(),
            Some("2025-01-15T15:25:01+00:00")
        );
        assert_eq!(
            canceled.access_ends_at.map(|t| t.to_rfc3339()).as_deref(),
            Some("2025-03-16T03:00:00+00:00")
        );
    }

    #[test]
    fn dmguru_without_its_token_or_with_an_empty_one_is_rejected() {
        let mut missing = fixture::json("dmguru", "transaction_approved");
        missing.as_object_mut().unwrap().remove("api_token");
        let mut empty = missing.clone();
        empty["payload"] = json!({"api_token": ""});
        let (missing, missing_payload) = json_request(&missing, &[], &[]);
        let (empty, empty_payload) = json_request(&empty, &[], &[]);

        let missing = DmGuru.verify(&missing, &missing_payload, &[TOKEN], Utc::now());
        let empty = DmGuru.verify(&empty, &empty_payload, &[TOKEN], Utc::now());

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
    fn dmguru_nested_token_and_first_charge() {
        let mut body = fixture::json("dmguru", "subscription_active_renewal");
        body.as_object_mut().unwrap().remove("api_token");
        body["payload"] = json!({"api_token": TOKEN});
        body["charged_times"] = json!(1);
        let (req, payload) = json_request(&body, &[], &[]);

        let verified = DmGuru.verify(&req, &payload, &[TOKEN], Utc::now());
        let normalized = DmGuru.normalize(&req, &payload);

        assert_eq!(verified, Ok(0));
        assert!(matches!(
            normalized,
            Normalized::Ignored(Ignored { is_ack: true, .. })
        ));
    }

    #[test]
    fn dmguru_statuses_map_and_bad_payloads_never_panic() {
        for (raw, expected) in [
            ("refunded", Some(CanonicalStatus::Refunded)),
            ("dispute", Some(CanonicalStatus::Dispute)),
            ("abandoned", Some(CanonicalStatus::CartAbandoned)),
            ("shipped", None),
        ] {
            let mut body = fixture::json("dmguru", "transaction_approved");
            body["status"] = json!(raw);
            let (req, payload) = json_request(&body, &[], &[]);

            match (expected, DmGuru.normalize(&req, &payload)) {
                (Some(s), Normalized::Event(e)) => assert_eq!(e.status, s, "{raw}"),
                (None, Normalized::Ignored(_)) => {}
                (_, other) => panic!("{raw}: {other:?}"),
            }
        }
        for body in [
            json!({"webhook_type": "transaction", "status": "approved", "payment": {"total": "x"}}),
            json!({"webhook_type": "subscription", "last_status": "canceled", "cycle_end_date": 3}),
            json!({"webhook_type": "subscription"}),
            json!({}),
        ] {
            let (req, payload) = json_request(&body, &[], &[]);

            if let Normalized::Event(e) = DmGuru.normalize(&req, &payload) {
                assert_eq!(e.amount_cents, None, "{body}");
            }
        }
    }
}
