//! Perfect Pay: JSON postback with the account's public `token` in the body,
//! compared with the key in constant time (Perfect Pay signs nothing), and
//! the sale's state in `sale_status_enum`. Field locations and the status
//! codes follow ../shared/gateways/NOTES.md § 6 (MEDIUM-HIGH).
//!
//! Decisions: a renewal is an approval whose `subscription.charges_made` is
//! above 1 (or whose `status_event` says so); a cancellation that names
//! `status_event: subscription_cancelled` ends the subscription at
//! `next_charge_date`, any other one cancels the sale. Codes the postback is
//! said to fold into others (MEDIUM) keep a cautious meaning when they
//! arrive raw: 17 pre-chargeback is a dispute, 18–20 are refund requests.

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use super::{GatewayAdapter, Ignored, Normalized, Proof, SecretSource, Setup};
use crate::inbound::normalize::{
    any_time, clean_email, decimal_to_cents, CanonicalStatus, Customer, GatewayKind,
    NormalizedEvent, ProductRef,
};
use crate::inbound::request::{path_text, InboundRequest, Payload};
use crate::inbound::verify::{token_proof, VerifyError};

/// The Perfect Pay adapter.
pub struct PerfectPay;

impl GatewayAdapter for PerfectPay {
    fn kind(&self) -> GatewayKind {
        GatewayKind::PerfectPay
    }

    fn setup(&self) -> Setup {
        Setup {
            name: "Perfect Pay",
            formats: "JSON postback",
            proof: Proof::BodyToken,
            proof_detail: "body token = the account's public token",
            is_token_in_url: false,
            secret: SecretSource::FromGateway,
            where_to_paste: "Na Perfect Pay, vá em Ferramentas > Webhook > Adicionar. Cole a URL do gancho, escolha os produtos e os status, e copie o Token público da sua conta para o gancho.",
        }
    }

    fn detect(&self, _req: &InboundRequest, payload: &Payload) -> bool {
        let Payload::Json(map) = payload else {
            return false;
        };
        map.contains_key("sale_status_enum") && map.contains_key("code")
    }

    fn verify(
        &self,
        _req: &InboundRequest,
        payload: &Payload,
        secrets: &[&str],
        _now: DateTime<Utc>,
    ) -> Result<usize, VerifyError> {
        token_proof(
            "perfectpay",
            "token field",
            payload.text("token").as_deref(),
            secrets,
        )
    }

    fn normalize(&self, _req: &InboundRequest, payload: &Payload) -> Normalized {
        let Some(map) = payload.as_json() else {
            return Ignored::unsupported(None, "Perfect Pay postbacks are JSON");
        };
        let Some(code) = path_text(map, &["sale_status_enum"]) else {
            return Ignored::unsupported(None, "the postback has no sale_status_enum");
        };
        let native = match path_text(map, &["sale_status_enum_key"]) {
            Some(key) => format!("sale_status_enum={code} ({key})"),
            None => format!("sale_status_enum={code}"),
        };
        let subscription = map.get("subscription").and_then(Value::as_object);
        let Some(status) = status(&code, subscription) else {
            return Ignored::unsupported(Some(native), "this Perfect Pay status is not handled");
        };
        let Some(sale) = path_text(map, &["code"]) else {
            return Ignored::unsupported(Some(native), "the postback has no code");
        };
        let access_ends_at = (status == CanonicalStatus::SubscriptionCanceled)
            .then(|| subscription.and_then(|s| path_text(s, &["next_charge_date"])))
            .flatten()
            .and_then(|t| any_time(&t));
        Normalized::Event(Box::new(NormalizedEvent {
            transaction_id: Some(sale),
            customer: customer(map),
            product: path_text(map, &["product", "code"]).map(|id| ProductRef {
                id,
                name: path_text(map, &["product", "name"]),
            }),
            amount_cents: path_text(map, &["sale_amount"]).and_then(|a| decimal_to_cents(&a)),
            currency: path_text(map, &["currency_enum_key"]),
            subscription_id: subscription.and_then(|s| path_text(s, &["code"])),
            recurrence: charges_made(subscription),
            occurred_at: ["date_approved", "date_created"]
                .iter()
                .filter_map(|k| path_text(map, &[k]))
                .find_map(|t| any_time(&t)),
            native_event: Some(native),
            access_ends_at,
            ..NormalizedEvent::new(GatewayKind::PerfectPay, status)
        }))
    }

    fn secret_fields(&self) -> &'static [&'static str] {
        &["token"]
    }
}

fn charges_made(subscription: Option<&Map<String, Value>>) -> Option<u32> {
    subscription
        .and_then(|s| path_text(s, &["charges_made"]))
        .and_then(|c| c.parse().ok())
}

/// NOTES.md § 6: `sale_status_enum`, refined by the subscription.
fn status(code: &str, subscription: Option<&Map<String, Value>>) -> Option<CanonicalStatus> {
    let status_event = subscription.and_then(|s| path_text(s, &["status_event"]));
    let is_renewal = status_event.as_deref() == Some("subscription_renewed")
        || charges_made(subscription).is_some_and(|c| c > 1);
    let is_sub_cancel = status_event.as_deref() == Some("subscription_cancelled");
    Some(match code {
        "2" | "8" if is_renewal => CanonicalStatus::SubscriptionRenewed,
        "2" | "8" => CanonicalStatus::Approved,
        "1" | "3" | "16" => CanonicalStatus::WaitingPayment,
        "4" | "17" => CanonicalStatus::Dispute,
        "5" => CanonicalStatus::Refused,
        "6" | "11" | "15" if is_sub_cancel => CanonicalStatus::SubscriptionCanceled,
        "6" | "11" | "15" => CanonicalStatus::Canceled,
        "7" => CanonicalStatus::Refunded,
        "9" => CanonicalStatus::Chargeback,
        "10" => CanonicalStatus::Completed,
        "12" => CanonicalStatus::CartAbandoned,
        "13" => CanonicalStatus::Expired,
        "18" | "19" | "20" => CanonicalStatus::RefundRequested,
        _ => return None,
    })
}

fn customer(map: &Map<String, Value>) -> Customer {
    let area = path_text(map, &["customer", "phone_area_code"]);
    let number = path_text(map, &["customer", "phone_number"]);
    let phone = match (area, number) {
        (Some(a), Some(n)) => Some(format!("{a}{n}")),
        (None, n) => n,
        (Some(_), None) => None,
    };
    Customer {
        email: clean_email(path_text(map, &["customer", "email"])),
        name: path_text(map, &["customer", "full_name"]),
        phone,
        document: path_text(map, &["customer", "identification_number"]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inbound::gateways::fixture::{
        self, assert_every_fixture_normalizes, event, json_request, Expected,
    };
    use serde_json::json;

    const TOKEN: &str = "test-perfectpay-public-token-5550029d";

    #[test]
    fn every_fixture_verifies_with_its_token_only() {
        fixture::assert_only_its_secret_verifies(&PerfectPay, "perfectpay", Utc::now());
    }

    fn expected(stem: &str) -> Expected<'static> {
        use CanonicalStatus as S;
        let base = Expected {
            status: S::Approved,
            transaction: Some("PPCPMTB5H3745O"),
            subscription: None,
            product: Some("PPPBDC49"),
            amount_cents: Some(49700),
            email: Some("maria.teste@example.com"),
            is_dated: true,
        };
        match stem {
            "approved" => base,
            "chargeback" => Expected {
                status: S::Chargeback,
                ..base
            },
            "pending_billet" => Expected {
                status: S::WaitingPayment,
                ..base
            },
            "precheckout_abandoned" => Expected {
                status: S::CartAbandoned,
                ..base
            },
            "refunded" => Expected {
                status: S::Refunded,
                ..base
            },
            "subscription_cancelled" => Expected {
                status: S::SubscriptionCanceled,
                subscription: Some("PPSUB1O91FP1I"),
                ..base
            },
            other => panic!("no expectation for perfectpay/{other}"),
        }
    }

    #[test]
    fn every_fixture_normalizes_to_its_expected_event() {
        assert_every_fixture_normalizes(&PerfectPay, "perfectpay", expected);
    }

    #[test]
    fn perfectpay_reads_buyer_subscription_and_period_end() {
        let approved = fixture::load("perfectpay", "approved");
        let canceled = fixture::load("perfectpay", "subscription_cancelled");

        let approved = event(PerfectPay.normalize(&approved.request, &approved.payload));
        let canceled = event(PerfectPay.normalize(&canceled.request, &canceled.payload));

        assert_eq!(approved.customer.phone.as_deref(), Some("11987654321"));
        assert_eq!(approved.customer.document.as_deref(), Some("12345678909"));
        assert_eq!(approved.currency.as_deref(), Some("BRL"));
        assert_eq!(
            approved.occurred_at.map(|t| t.to_rfc3339()).as_deref(),
            Some("2025-01-15T12:30:00+00:00")
        );
        assert_eq!(canceled.subscription_id.as_deref(), Some("PPSUB1O91FP1I"));
        assert_eq!(canceled.recurrence, Some(3));
        assert_eq!(
            canceled.access_ends_at.map(|t| t.to_rfc3339()).as_deref(),
            Some("2025-04-15T03:00:00+00:00")
        );
    }

    #[test]
    fn perfectpay_later_charges_are_renewals() {
        let mut body = fixture::json("perfectpay", "approved");
        body["subscription"] = json!({"code": "SUB1", "charges_made": 2, "status_event": "x"});
        let (req, payload) = json_request(&body, &[], &[]);

        let e = event(PerfectPay.normalize(&req, &payload));

        assert_eq!(e.status, CanonicalStatus::SubscriptionRenewed);
        assert_eq!(e.subscription_id.as_deref(), Some("SUB1"));
    }

    #[test]
    fn perfectpay_missing_token_is_rejected_and_unknown_codes_ignored() {
        let mut body = fixture::json("perfectpay", "approved");
        body.as_object_mut().unwrap().remove("token");
        body["sale_status_enum"] = json!(99);
        let (req, payload) = json_request(&body, &[], &[]);

        let verified = PerfectPay.verify(&req, &payload, &[TOKEN], Utc::now());
        let normalized = PerfectPay.normalize(&req, &payload);

        assert!(matches!(verified, Err(VerifyError::MissingProof(_))));
        assert!(matches!(normalized, Normalized::Ignored(_)));
    }

    #[test]
    fn perfectpay_bad_payloads_never_panic() {
        let bodies = [
            json!({"sale_status_enum": 2}),
            json!({"sale_status_enum": 2, "code": "x", "sale_amount": "abc", "customer": 1}),
            json!({"sale_status_enum": 6, "code": "x", "subscription": {"status_event": "subscription_cancelled", "next_charge_date": 5}}),
            json!({"sale_status_enum": [], "code": 1}),
            json!({}),
        ];
        for body in bodies {
            let (req, payload) = json_request(&body, &[], &[]);

            if let Normalized::Event(e) = PerfectPay.normalize(&req, &payload) {
                assert_eq!(e.amount_cents, None, "{body}");
            }
        }
    }
}
