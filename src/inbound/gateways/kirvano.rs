//! Kirvano: flat JSON `{event, sale_id, checkout_id, status, customer,
//! products[], total_price:"R$ 497,00", plan?, …}` with no envelope. Proof:
//! the webhook's optional "Token", read from the `security-token` header
//! (MEDIUM: several implementations; Kirvano's help does not say where it
//! travels), or else from the URL's `?token=`. Kirvano signs nothing.
//! Events and the mapping follow ../shared/gateways/NOTES-MORE.md § 6.
//!
//! Decisions where NOTES-MORE is unsure: money comes as pt-BR display
//! strings and dates as São Paulo wall time. Kirvano names no subscription
//! id, so a `RECURRING` sale's `checkout_id` stands for its subscription
//! (LOW: the fixtures share it across the sale and its cancellation).
//! `REFUND` is read as `SALE_REFUNDED`; `SUBSCRIPTION_EXPIRED` and
//! `SUBSCRIPTION_LATE` as `SUBSCRIPTION_OVERDUE` (a grace period).

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use super::{GatewayAdapter, Ignored, Normalized, Proof, SecretSource, Setup};
use crate::inbound::normalize::{
    any_time, clean_email, decimal_to_cents, CanonicalStatus, Customer, GatewayKind,
    NormalizedEvent, ProductRef,
};
use crate::inbound::request::{path_text, InboundRequest, Payload};
use crate::inbound::verify::{token_proof, VerifyError};

/// The Kirvano adapter.
pub struct Kirvano;

impl GatewayAdapter for Kirvano {
    fn kind(&self) -> GatewayKind {
        GatewayKind::Kirvano
    }

    fn setup(&self) -> Setup {
        Setup {
            name: "Kirvano",
            formats: "JSON",
            proof: Proof::HeaderToken,
            proof_detail: "security-token header = the webhook's Token, else ?token=",
            is_token_in_url: false,
            secret: SecretSource::Generated,
            where_to_paste: "Na Kirvano, abra o produto > aba Integrações > Webhooks > Criar Webhook. Cole a URL do gancho, preencha o campo Token com o token gerado pelo gancho, selecione os eventos e use Testar Integração.",
        }
    }

    fn detect(&self, req: &InboundRequest, payload: &Payload) -> bool {
        let Payload::Json(map) = payload else {
            return false;
        };
        req.header("security-token").is_some()
            || (map.contains_key("sale_id")
                && map.contains_key("checkout_id")
                && map.get("event").is_some_and(Value::is_string))
    }

    fn verify(
        &self,
        req: &InboundRequest,
        _payload: &Payload,
        secrets: &[&str],
        _now: DateTime<Utc>,
    ) -> Result<usize, VerifyError> {
        let given = req
            .header("security-token")
            .or_else(|| req.query_param("token"));
        token_proof(
            "kirvano",
            "security-token header or ?token=",
            given,
            secrets,
        )
    }

    fn normalize(&self, _req: &InboundRequest, payload: &Payload) -> Normalized {
        let Some(map) = payload.as_json() else {
            return Ignored::unsupported(None, "Kirvano webhooks are JSON");
        };
        let Some(event) = path_text(map, &["event"]) else {
            return Ignored::unsupported(None, "the body has no event");
        };
        let Some(status) = status(&event) else {
            return Ignored::unsupported(Some(event), "this Kirvano event is not handled");
        };
        let is_recurring = path_text(map, &["type"]).as_deref() == Some("RECURRING");
        let access_ends_at = (status == CanonicalStatus::SubscriptionCanceled)
            .then(|| path_text(map, &["plan", "next_charge_date"]))
            .flatten()
            .and_then(|t| any_time(&t));
        Normalized::Event(Box::new(NormalizedEvent {
            transaction_id: path_text(map, &["sale_id"]),
            customer: Customer {
                email: clean_email(path_text(map, &["customer", "email"])),
                name: path_text(map, &["customer", "name"]),
                phone: path_text(map, &["customer", "phone_number"]),
                document: path_text(map, &["customer", "document"]),
            },
            product: main_product(map),
            amount_cents: path_text(map, &["total_price"]).and_then(|p| brl_to_cents(&p)),
            currency: Some("BRL".to_string()),
            subscription_id: is_recurring
                .then(|| path_text(map, &["checkout_id"]))
                .flatten(),
            occurred_at: occurred_at(map, status),
            native_event: Some(event),
            access_ends_at,
            ..NormalizedEvent::new(GatewayKind::Kirvano, status)
        }))
    }

    fn secret_fields(&self) -> &'static [&'static str] {
        &[]
    }
}

fn status(event: &str) -> Option<CanonicalStatus> {
    Some(match event {
        "SALE_APPROVED" => CanonicalStatus::Approved,
        "SALE_REFUSED" => CanonicalStatus::Refused,
        "SALE_REFUNDED" | "REFUND" => CanonicalStatus::Refunded,
        "SALE_CHARGEBACK" => CanonicalStatus::Chargeback,
        "PIX_GENERATED" | "BANK_SLIP_GENERATED" | "PICPAY_GENERATED" => {
            CanonicalStatus::WaitingPayment
        }
        "PIX_EXPIRED" | "BANK_SLIP_EXPIRED" | "PICPAY_EXPIRED" => CanonicalStatus::Expired,
        "ABANDONED_CART" => CanonicalStatus::CartAbandoned,
        "SUBSCRIPTION_RENEWED" => CanonicalStatus::SubscriptionRenewed,
        "SUBSCRIPTION_CANCELED" => CanonicalStatus::SubscriptionCanceled,
        "SUBSCRIPTION_OVERDUE" | "SUBSCRIPTION_EXPIRED" | "SUBSCRIPTION_LATE" => {
            CanonicalStatus::SubscriptionDelayed
        }
        _ => return None,
    })
}

/// The first product that is not an order bump (else the first one).
fn main_product(map: &Map<String, Value>) -> Option<ProductRef> {
    let products: Vec<&Map<String, Value>> = map
        .get("products")?
        .as_array()?
        .iter()
        .filter_map(Value::as_object)
        .collect();
    let main = products
        .iter()
        .find(|p| p.get("is_order_bump") != Some(&Value::Bool(true)))
        .or_else(|| products.first())?;
    Some(ProductRef {
        id: path_text(main, &["id"])?,
        name: path_text(main, &["name"]),
    })
}

/// `"R$ 1.497,00"` → 149700.
fn brl_to_cents(text: &str) -> Option<i64> {
    let digits: String = text
        .trim()
        .trim_start_matches("R$")
        .trim()
        .chars()
        .filter(|c| *c != '.')
        .map(|c| if c == ',' { '.' } else { c })
        .collect();
    decimal_to_cents(&digits)
}

fn occurred_at(map: &Map<String, Value>, status: CanonicalStatus) -> Option<DateTime<Utc>> {
    let is_payment = matches!(
        status,
        CanonicalStatus::Approved | CanonicalStatus::SubscriptionRenewed
    );
    let paid_at = is_payment
        .then(|| path_text(map, &["payment", "finished_at"]))
        .flatten();
    [paid_at, path_text(map, &["created_at"])]
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

    const TOKEN: &str = "test-kirvano-security-token-44d1";

    #[test]
    fn every_fixture_verifies_with_its_token_only() {
        fixture::assert_only_its_secret_verifies(&Kirvano, "kirvano", Utc::now());
    }

    fn expected(stem: &str) -> Expected<'static> {
        use CanonicalStatus as S;
        let base = Expected {
            status: S::Approved,
            transaction: Some("GNCH7K2Q"),
            subscription: None,
            product: Some("7d8e9f0a-gancho-prd-0001"),
            amount_cents: Some(49700),
            email: Some("joana.exemplo@example.com"),
            is_dated: true,
        };
        match stem {
            "sale_approved" => base,
            "sale_chargeback" => Expected {
                status: S::Chargeback,
                ..base
            },
            "sale_refunded" => Expected {
                status: S::Refunded,
                ..base
            },
            "subscription_canceled" => Expected {
                status: S::SubscriptionCanceled,
                transaction: Some("GNCH9R4S"),
                subscription: Some("5c6d7e8f-gancho-chk-0001"),
                amount_cents: Some(9700),
                ..base
            },
            "subscription_renewed" => Expected {
                status: S::SubscriptionRenewed,
                transaction: Some("GNCH8P3R"),
                subscription: Some("5c6d7e8f-gancho-chk-0001"),
                amount_cents: Some(9700),
                ..base
            },
            other => panic!("no expectation for kirvano/{other}"),
        }
    }

    #[test]
    fn every_fixture_normalizes_to_its_expected_event() {
        assert_every_fixture_normalizes(&Kirvano, "kirvano", expected);
    }

    #[test]
    fn kirvano_times_are_sao_paulo_and_cancellation_ends_at_the_next_charge() {
        let approved = fixture::load("kirvano", "sale_approved");
        let canceled = fixture::load("kirvano", "subscription_canceled");

        let approved = event(Kirvano.normalize(&approved.request, &approved.payload));
        let canceled = event(Kirvano.normalize(&canceled.request, &canceled.payload));

        assert_eq!(
            approved.occurred_at.map(|t| t.to_rfc3339()).as_deref(),
            Some("2025-01-15T15:25:01+00:00")
        );
        assert_eq!(
            canceled.access_ends_at.map(|t| t.to_rfc3339()).as_deref(),
            Some("2025-03-15T15:25:01+00:00")
        );
    }

    #[test]
    fn kirvano_token_may_come_in_the_url_instead() {
        let body = fixture::json("kirvano", "sale_approved");
        let (query, query_payload) = json_request(&body, &[], &[("token", TOKEN)]);
        let (none, none_payload) = json_request(&body, &[], &[]);

        assert_eq!(
            Kirvano.verify(&query, &query_payload, &[TOKEN], Utc::now()),
            Ok(0)
        );
        assert!(matches!(
            Kirvano.verify(&none, &none_payload, &[TOKEN], Utc::now()),
            Err(VerifyError::MissingProof(_))
        ));
    }

    #[test]
    fn kirvano_order_bumps_are_not_the_main_product_and_prices_parse() {
        let mut body = fixture::json("kirvano", "sale_approved");
        body["products"] = json!([
            {"id": "bump", "name": "Bump", "is_order_bump": true},
            {"id": "main", "name": "Main", "is_order_bump": false}
        ]);
        body["total_price"] = json!("R$ 1.497,90");
        body["event"] = json!("REFUND");
        let (req, payload) = json_request(&body, &[], &[]);

        let e = event(Kirvano.normalize(&req, &payload));

        assert_eq!(e.product.map(|p| p.id).as_deref(), Some("main"));
        assert_eq!(e.amount_cents, Some(149790));
        assert_eq!(e.status, CanonicalStatus::Refunded);
    }

    #[test]
    fn kirvano_unknown_events_are_ignored_and_bad_payloads_never_panic() {
        let bodies = [
            json!({"event": "SALE_SHIPPED", "sale_id": "x"}),
            json!({"event": "SALE_APPROVED", "products": "x", "total_price": "R$ abc"}),
            json!({"event": "SALE_APPROVED", "products": [1, {"id": null}], "customer": []}),
            json!({"event": "SUBSCRIPTION_CANCELED", "plan": 3}),
            json!({}),
        ];
        for body in bodies {
            let (req, payload) = json_request(&body, &[], &[]);

            if let Normalized::Event(e) = Kirvano.normalize(&req, &payload) {
                assert_eq!(e.amount_cents, None, "{body}");
            }
        }
    }
}
