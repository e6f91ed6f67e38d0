//! Hotmart: webhook 2.0.0 (JSON, token in the `X-HOTMART-HOTTOK` header) and
//! the legacy v1 postback (form fields, token in `hottok`; cart and
//! cancellation came as camelCase JSON). Hotmart signs nothing: the proof is
//! the account hottok itself. Field locations and the status mapping follow
//! ../shared/gateways/NOTES.md § 1–2.

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use super::{GatewayAdapter, Ignored, Normalized, Proof, SecretSource, Setup};
use crate::inbound::normalize::{
    any_time, clean_email, decimal_to_cents, CanonicalStatus, Customer, GatewayKind,
    NormalizedEvent, ProductRef,
};
use crate::inbound::request::{path_text, InboundRequest, Payload};
use crate::inbound::verify::{first_match, secret_eq, VerifyError};

/// The Hotmart adapter, for both webhook versions.
pub struct Hotmart;

impl GatewayAdapter for Hotmart {
    fn kind(&self) -> GatewayKind {
        GatewayKind::Hotmart
    }

    fn setup(&self) -> Setup {
        Setup {
            name: "Hotmart",
            formats: "webhook 2.0.0 (JSON); legacy postback v1 (form)",
            proof: Proof::HeaderToken,
            proof_detail: "X-HOTMART-HOTTOK header, else the body's hottok (v1)",
            is_token_in_url: false,
            secret: SecretSource::FromGateway,
            where_to_paste: "Na Hotmart, vá em Ferramentas > Webhook (API e notificações) > Cadastrar Webhook. Dê um nome, cole a URL do gancho, escolha a versão 2.0.0, os produtos e os eventos, e salve. Depois copie o Hottok de verificação (aba Autenticação) para o gancho.",
        }
    }

    fn detect(&self, req: &InboundRequest, payload: &Payload) -> bool {
        if req.header("x-hotmart-hottok").is_some() {
            return true;
        }
        match payload {
            Payload::Json(map) => is_v2(map) || is_v1_json(map),
            Payload::Form(_) => {
                payload.text("hottok").is_some()
                    && (payload.text("prod").is_some() || payload.text("transaction").is_some())
            }
        }
    }

    fn verify(
        &self,
        req: &InboundRequest,
        payload: &Payload,
        secrets: &[&str],
        _now: DateTime<Utc>,
    ) -> Result<usize, VerifyError> {
        if secrets.iter().all(|s| s.is_empty()) {
            return Err(VerifyError::NoKeys("hotmart"));
        }
        // v2 sends the header; v1 (and some v2 test payloads) carry `hottok` in the body.
        let given = req
            .header("x-hotmart-hottok")
            .map(str::trim)
            .filter(|h| !h.is_empty())
            .map(str::to_string)
            .or_else(|| payload.text("hottok"));
        let Some(given) = given else {
            return Err(VerifyError::MissingProof(
                "X-HOTMART-HOTTOK header or hottok field",
            ));
        };
        first_match(secrets, |s| secret_eq(&given, s)).ok_or(VerifyError::BadSignature("hottok"))
    }

    fn normalize(&self, _req: &InboundRequest, payload: &Payload) -> Normalized {
        match payload.as_json() {
            Some(map) if map.get("event").is_some_and(Value::is_string) => normalize_v2(map),
            Some(map) if is_v1_json(map) => normalize_v1_json(map),
            _ => normalize_v1_postback(payload),
        }
    }

    fn secret_fields(&self) -> &'static [&'static str] {
        &["hottok"]
    }
}

/// The 2.0.0 envelope `{id, creation_date, event, version, data}`, told
/// apart from the Eduzz hub envelope (`sentDate`, `myeduzz.*` events).
fn is_v2(map: &Map<String, Value>) -> bool {
    let Some(event) = map.get("event").and_then(Value::as_str) else {
        return false;
    };
    let has_marker = ["version", "creation_date", "hottok"]
        .iter()
        .any(|k| map.contains_key(*k));
    map.get("data").is_some_and(Value::is_object)
        && has_marker
        && !map.contains_key("sentDate")
        && !event.starts_with("myeduzz.")
}

/// The v1 cart abandonment (`buyerVO`) and cancellation (`subscriberCode`) JSON.
fn is_v1_json(map: &Map<String, Value>) -> bool {
    map.contains_key("buyerVO") || map.contains_key("subscriberCode")
}

/// Mapped on `event`, never on `data.purchase.status` (NOTES.md § 1).
fn v2_status(event: &str) -> Option<CanonicalStatus> {
    Some(match event {
        "PURCHASE_APPROVED" => CanonicalStatus::Approved,
        "PURCHASE_COMPLETE" => CanonicalStatus::Completed,
        "PURCHASE_REFUNDED" => CanonicalStatus::Refunded,
        "PURCHASE_CHARGEBACK" => CanonicalStatus::Chargeback,
        "PURCHASE_CANCELED" => CanonicalStatus::Canceled,
        "PURCHASE_EXPIRED" => CanonicalStatus::Expired,
        "PURCHASE_PROTEST" => CanonicalStatus::Dispute,
        "PURCHASE_BILLET_PRINTED" => CanonicalStatus::WaitingPayment,
        "PURCHASE_DELAYED" => CanonicalStatus::SubscriptionDelayed,
        "PURCHASE_REFUND_REQUEST" => CanonicalStatus::RefundRequested,
        "SUBSCRIPTION_CANCELLATION" => CanonicalStatus::SubscriptionCanceled,
        "PURCHASE_OUT_OF_SHOPPING_CART" => CanonicalStatus::CartAbandoned,
        "SWITCH_PLAN" => CanonicalStatus::PlanChanged,
        _ => return None,
    })
}

fn normalize_v2(map: &Map<String, Value>) -> Normalized {
    let event = path_text(map, &["event"]).unwrap_or_default();
    let Some(status) = v2_status(&event) else {
        return Ignored::unsupported(Some(event), "this Hotmart event is not handled");
    };
    let Some(data) = map.get("data").and_then(Value::as_object) else {
        return Ignored::unsupported(Some(event), "the event has no data object");
    };
    let built = match status {
        CanonicalStatus::SubscriptionCanceled => v2_cancellation(map, data),
        CanonicalStatus::CartAbandoned => Ok(v2_cart(map, data)),
        CanonicalStatus::PlanChanged => v2_plan_change(map, data),
        _ => v2_purchase(map, data, status),
    };
    match built {
        Ok(normalized) => Normalized::Event(Box::new(NormalizedEvent {
            native_event: Some(event),
            event_id: path_text(map, &["id"]),
            ..normalized
        })),
        Err(reason) => Ignored::unsupported(Some(event), reason),
    }
}

/// The `PURCHASE_*` events, which all share the purchase `data` shape.
fn v2_purchase(
    root: &Map<String, Value>,
    data: &Map<String, Value>,
    status: CanonicalStatus,
) -> Result<NormalizedEvent, &'static str> {
    let Some(transaction) = path_text(data, &["purchase", "transaction"]) else {
        return Err("the purchase has no data.purchase.transaction");
    };
    let recurrence: Option<u32> =
        path_text(data, &["purchase", "recurrence_number"]).and_then(|r| r.parse().ok());
    // NOTES.md § 1: no renewal event; a renewal is an approval with recurrence_number > 1.
    let status = match status {
        CanonicalStatus::Approved if recurrence.is_some_and(|r| r > 1) => {
            CanonicalStatus::SubscriptionRenewed
        }
        other => other,
    };
    let (amount_cents, currency) = ["price", "full_price"]
        .iter()
        .find_map(|p| {
            let cents =
                path_text(data, &["purchase", p, "value"]).and_then(|v| decimal_to_cents(&v))?;
            Some((
                Some(cents),
                path_text(data, &["purchase", p, "currency_value"]),
            ))
        })
        .unwrap_or((None, None));
    Ok(NormalizedEvent {
        transaction_id: Some(transaction),
        customer: Customer {
            email: clean_email(path_text(data, &["buyer", "email"])),
            name: path_text(data, &["buyer", "name"]),
            phone: checkout_phone(data),
            document: path_text(data, &["buyer", "document"]),
        },
        product: product(data, &["product"]),
        amount_cents,
        currency,
        subscription_id: path_text(data, &["subscription", "subscriber", "code"]),
        recurrence,
        occurred_at: first_time([
            path_text(root, &["creation_date"]),
            path_text(data, &["purchase", "approved_date"]),
        ]),
        ..NormalizedEvent::new(GatewayKind::Hotmart, status)
    })
}

/// `SUBSCRIPTION_CANCELLATION`: a `subscriber` instead of a buyer, no transaction.
fn v2_cancellation(
    root: &Map<String, Value>,
    data: &Map<String, Value>,
) -> Result<NormalizedEvent, &'static str> {
    let Some(code) = path_text(data, &["subscriber", "code"]) else {
        return Err("the cancellation has no data.subscriber.code");
    };
    let phone = joined(
        path_text(data, &["subscriber", "phone", "dddCell"]),
        path_text(data, &["subscriber", "phone", "cell"]),
    )
    .or_else(|| {
        joined(
            path_text(data, &["subscriber", "phone", "dddPhone"]),
            path_text(data, &["subscriber", "phone", "phone"]),
        )
    });
    Ok(NormalizedEvent {
        customer: Customer {
            email: clean_email(path_text(data, &["subscriber", "email"])),
            name: path_text(data, &["subscriber", "name"]),
            phone,
            document: None,
        },
        product: product(data, &["product"]),
        subscription_id: Some(code),
        occurred_at: first_time([
            path_text(data, &["cancellation_date"]),
            path_text(root, &["creation_date"]),
        ]),
        access_ends_at: first_time([path_text(data, &["date_next_charge"])]),
        ..NormalizedEvent::new(GatewayKind::Hotmart, CanonicalStatus::SubscriptionCanceled)
    })
}

/// `PURCHASE_OUT_OF_SHOPPING_CART`: a lead, with no transaction.
fn v2_cart(root: &Map<String, Value>, data: &Map<String, Value>) -> NormalizedEvent {
    NormalizedEvent {
        customer: Customer {
            email: clean_email(path_text(data, &["buyer", "email"])),
            name: path_text(data, &["buyer", "name"]),
            phone: path_text(data, &["buyer", "phone"]).or_else(|| checkout_phone(data)),
            document: None,
        },
        product: product(data, &["product"]),
        occurred_at: first_time([path_text(root, &["creation_date"])]),
        ..NormalizedEvent::new(GatewayKind::Hotmart, CanonicalStatus::CartAbandoned)
    }
}

/// `SWITCH_PLAN`: the subscription, its product and its user's e-mail.
fn v2_plan_change(
    root: &Map<String, Value>,
    data: &Map<String, Value>,
) -> Result<NormalizedEvent, &'static str> {
    let Some(code) = path_text(data, &["subscription", "subscriber_code"])
        .or_else(|| path_text(data, &["subscription", "subscriber", "code"]))
    else {
        return Err("the plan change has no data.subscription.subscriber_code");
    };
    let email = path_text(data, &["subscription", "user", "email"])
        .or_else(|| path_text(data, &["subscription", "subscriber", "email"]));
    Ok(NormalizedEvent {
        customer: Customer {
            email: clean_email(email),
            ..Customer::default()
        },
        product: product(data, &["subscription", "product"])
            .or_else(|| product(data, &["product"])),
        subscription_id: Some(code),
        occurred_at: first_time([
            path_text(data, &["switch_plan_date"]),
            path_text(root, &["creation_date"]),
        ]),
        ..NormalizedEvent::new(GatewayKind::Hotmart, CanonicalStatus::PlanChanged)
    })
}

/// The legacy v1 postback: flat fields, mapped on `status`.
fn normalize_v1_postback(payload: &Payload) -> Normalized {
    let Some(raw) = payload.text("status") else {
        return Ignored::unsupported(None, "the postback has no status");
    };
    let native = format!("status={raw}");
    let recurrence = payload.text("recurrency").and_then(|r| r.parse().ok());
    let Some(status) = v1_status(&raw.to_ascii_lowercase(), recurrence) else {
        return Ignored::unsupported(Some(native), "this Hotmart postback status is not handled");
    };
    let Some(transaction) = payload.text("transaction") else {
        return Ignored::unsupported(Some(native), "the postback has no transaction");
    };
    let phone = joined(
        payload.text("phone_checkout_local_code"),
        payload.text("phone_checkout_number"),
    )
    .or_else(|| {
        joined(
            payload.text("phone_local_code"),
            payload.text("phone_number"),
        )
    });
    Normalized::Event(Box::new(NormalizedEvent {
        transaction_id: Some(transaction),
        customer: Customer {
            email: clean_email(payload.text("email")),
            name: payload.text("name"),
            phone,
            document: payload.text("doc"),
        },
        product: payload.text("prod").map(|id| ProductRef {
            id,
            name: payload.text("prod_name"),
        }),
        amount_cents: [payload.text("price"), payload.text("full_price")]
            .into_iter()
            .flatten()
            .find_map(|p| decimal_to_cents(&p)),
        currency: payload.text("currency"),
        subscription_id: payload.text("subscriber_code"),
        recurrence,
        occurred_at: first_time([
            payload.text("confirmation_purchase_date"),
            payload.text("purchase_date"),
        ]),
        native_event: Some(native),
        ..NormalizedEvent::new(GatewayKind::Hotmart, status)
    }))
}

fn v1_status(status: &str, recurrence: Option<u32>) -> Option<CanonicalStatus> {
    Some(match status {
        "approved" if recurrence.is_some_and(|r| r > 1) => CanonicalStatus::SubscriptionRenewed,
        "approved" => CanonicalStatus::Approved,
        "completed" => CanonicalStatus::Completed,
        "canceled" | "cancelled" | "blocked" => CanonicalStatus::Canceled,
        "refunded" => CanonicalStatus::Refunded,
        "chargeback" => CanonicalStatus::Chargeback,
        "dispute" => CanonicalStatus::Dispute,
        "billet_printed" | "wayting_payment" | "waiting_payment" | "started" | "under_analisys"
        | "under_analysis" => CanonicalStatus::WaitingPayment,
        "expired" => CanonicalStatus::Expired,
        "delayed" => CanonicalStatus::SubscriptionDelayed,
        _ => return None,
    })
}

/// The v1 camelCase JSON: cart abandonment (`buyerVO`) or subscription
/// cancellation (`subscriberCode`). Named after their 2.0.0 equivalents.
fn normalize_v1_json(map: &Map<String, Value>) -> Normalized {
    let product = path_text(map, &["productId"])
        .or_else(|| path_text(map, &["productUcode"]))
        .map(|id| ProductRef {
            id,
            name: path_text(map, &["productName"]),
        });
    let event = if map.get("buyerVO").is_some_and(Value::is_object) {
        NormalizedEvent {
            customer: Customer {
                email: clean_email(path_text(map, &["buyerVO", "email"])),
                name: path_text(map, &["buyerVO", "name"]),
                phone: path_text(map, &["buyerVO", "phone"]),
                document: None,
            },
            product,
            native_event: Some("PURCHASE_OUT_OF_SHOPPING_CART".to_string()),
            ..NormalizedEvent::new(GatewayKind::Hotmart, CanonicalStatus::CartAbandoned)
        }
    } else if let Some(code) = path_text(map, &["subscriberCode"]) {
        NormalizedEvent {
            customer: Customer {
                email: clean_email(path_text(map, &["userEmail"])),
                name: path_text(map, &["userName"]),
                ..Customer::default()
            },
            product,
            subscription_id: Some(code),
            occurred_at: first_time([path_text(map, &["cancellationDate"])]),
            access_ends_at: first_time([path_text(map, &["dateNextCharge"])]),
            native_event: Some("SUBSCRIPTION_CANCELLATION".to_string()),
            ..NormalizedEvent::new(GatewayKind::Hotmart, CanonicalStatus::SubscriptionCanceled)
        }
    } else {
        return Ignored::unsupported(None, "the v1 JSON has neither buyerVO nor subscriberCode");
    };
    Normalized::Event(Box::new(event))
}

/// `{id, name}` under `path`; the numeric id becomes text.
fn product(data: &Map<String, Value>, path: &[&str]) -> Option<ProductRef> {
    let at = |key: &str| {
        let mut full = path.to_vec();
        full.push(key);
        path_text(data, &full)
    };
    at("id").map(|id| ProductRef {
        id,
        name: at("name"),
    })
}

/// `checkout_phone` already holds the area code in real payloads; prefix
/// `checkout_phone_code` only when it is missing.
fn checkout_phone(data: &Map<String, Value>) -> Option<String> {
    let number = path_text(data, &["buyer", "checkout_phone"])?;
    match path_text(data, &["buyer", "checkout_phone_code"]) {
        Some(code) if !number.starts_with(&code) => Some(format!("{code}{number}")),
        _ => Some(number),
    }
}

/// Area code + number; `None` without a number.
fn joined(code: Option<String>, number: Option<String>) -> Option<String> {
    let number = number?;
    Some(format!("{}{number}", code.unwrap_or_default()))
}

/// The first of `texts` that reads as a time (epoch ms or ISO).
fn first_time<const N: usize>(texts: [Option<String>; N]) -> Option<DateTime<Utc>> {
    texts.into_iter().flatten().find_map(|t| any_time(&t))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inbound::gateways::fixture;
    use crate::inbound::request::BodyKind;
    use bytes::Bytes;
    use serde_json::json;

    const OTHER: &str = "another-hottok-9f8e7d";

    /// Expected results per fixture stem: status, transaction, subscription,
    /// recurrence, amount in cents.
    type Expected = (
        CanonicalStatus,
        Option<&'static str>,
        Option<&'static str>,
        Option<u32>,
        Option<i64>,
    );

    fn expected(dir: &str, stem: &str) -> Option<Expected> {
        use CanonicalStatus as S;
        let sale = Some("HP1234567890123");
        let sub = Some("SUBMT7X2");
        Some(match (dir, stem) {
            ("hotmart", "purchase_approved") => (S::Approved, sale, sub, None, Some(49700)),
            ("hotmart", "purchase_approved_renewal") => (
                S::SubscriptionRenewed,
                Some("HP9876543210987"),
                sub,
                Some(3),
                Some(9700),
            ),
            ("hotmart", "purchase_billet_printed") => {
                (S::WaitingPayment, sale, sub, None, Some(49700))
            }
            ("hotmart", "purchase_canceled") => (S::Canceled, sale, sub, None, Some(49700)),
            ("hotmart", "purchase_chargeback") => (S::Chargeback, sale, sub, None, Some(49700)),
            ("hotmart", "purchase_complete") => (S::Completed, sale, sub, None, Some(49700)),
            ("hotmart", "purchase_delayed") => {
                (S::SubscriptionDelayed, sale, sub, None, Some(49700))
            }
            ("hotmart", "purchase_expired") => (S::Expired, sale, sub, None, Some(49700)),
            ("hotmart", "purchase_refunded") => (S::Refunded, sale, sub, None, Some(49700)),
            ("hotmart", "purchase_out_of_shopping_cart") => {
                (S::CartAbandoned, None, None, None, None)
            }
            ("hotmart", "subscription_cancellation") => {
                (S::SubscriptionCanceled, None, sub, None, None)
            }
            ("hotmart_v1", "approved") => (S::Approved, sale, None, None, Some(49700)),
            ("hotmart_v1", "billet_printed") => (S::WaitingPayment, sale, None, None, Some(49700)),
            ("hotmart_v1", "refunded") => (S::Refunded, sale, None, None, Some(49700)),
            _ => return None,
        })
    }

    fn event(normalized: Normalized) -> NormalizedEvent {
        match normalized {
            Normalized::Event(e) => *e,
            other => panic!("expected an event, got {other:?}"),
        }
    }

    fn json_request(body: &Value, hottok: Option<&str>) -> (InboundRequest, Payload) {
        let bytes = serde_json::to_vec(body).unwrap();
        let headers = hottok
            .map(|h| vec![("x-hotmart-hottok".to_string(), h.to_string())])
            .unwrap_or_default();
        let payload = Payload::parse(BodyKind::Json, &bytes).unwrap();
        let request = InboundRequest {
            headers,
            query: vec![],
            body: Bytes::from(bytes),
            kind: BodyKind::Json,
        };
        (request, payload)
    }

    fn form_request(pairs: &[(String, String)]) -> (InboundRequest, Payload) {
        let body = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(pairs)
            .finish();
        let payload = Payload::parse(BodyKind::Form, body.as_bytes()).unwrap();
        let request = InboundRequest {
            headers: vec![],
            query: vec![],
            body: Bytes::from(body),
            kind: BodyKind::Form,
        };
        (request, payload)
    }

    /// The v1 approved fixture's pairs with some fields replaced or added.
    fn v1_pairs(changes: &[(&str, &str)]) -> Vec<(String, String)> {
        let fixture = fixture::load("hotmart_v1", "approved");
        let Payload::Form(mut pairs) = fixture.payload else {
            panic!("v1 fixture is a form")
        };
        for (key, value) in changes {
            match pairs.iter_mut().find(|(k, _)| k == key) {
                Some(pair) => pair.1 = value.to_string(),
                None => pairs.push((key.to_string(), value.to_string())),
            }
        }
        pairs
    }

    fn v2_body(stem: &str) -> Value {
        serde_json::from_slice(&fixture::load("hotmart", stem).request.body).unwrap()
    }

    #[test]
    fn every_fixture_verifies_with_its_hottok_only() {
        for dir in ["hotmart", "hotmart_v1"] {
            for stem in fixture::stems(dir) {
                let f = fixture::load(dir, &stem);
                let verify =
                    |secrets: &[&str]| Hotmart.verify(&f.request, &f.payload, secrets, Utc::now());

                assert_eq!(verify(&[&f.secret]), Ok(0), "{dir}/{stem}");
                assert_eq!(verify(&[OTHER, &f.secret]), Ok(1), "{dir}/{stem}");
                assert_eq!(
                    verify(&[OTHER]),
                    Err(VerifyError::BadSignature("hottok")),
                    "{dir}/{stem}"
                );
                assert_eq!(verify(&[]), Err(VerifyError::NoKeys("hotmart")));
            }
        }
    }

    #[test]
    fn every_fixture_normalizes_to_its_expected_event() {
        for dir in ["hotmart", "hotmart_v1"] {
            for stem in fixture::stems(dir) {
                let f = fixture::load(dir, &stem);
                let normalized = Hotmart.normalize(&f.request, &f.payload);
                let Some((status, transaction, subscription, recurrence, cents)) =
                    expected(dir, &stem)
                else {
                    continue; // A new fixture: it must at least not panic.
                };

                let e = event(normalized);

                assert_eq!(e.gateway, GatewayKind::Hotmart, "{dir}/{stem}");
                assert_eq!(e.status, status, "{dir}/{stem}");
                assert_eq!(e.transaction_id.as_deref(), transaction, "{dir}/{stem}");
                assert_eq!(e.subscription_id.as_deref(), subscription, "{dir}/{stem}");
                assert_eq!(e.recurrence, recurrence, "{dir}/{stem}");
                assert_eq!(e.amount_cents, cents, "{dir}/{stem}");
                assert_eq!(
                    e.customer.email.as_deref(),
                    Some("maria.teste@example.com"),
                    "{dir}/{stem}"
                );
                assert_eq!(
                    e.product.as_ref().map(|p| p.id.as_str()),
                    Some("3456789"),
                    "{dir}/{stem}"
                );
                assert!(e.occurred_at.is_some(), "{dir}/{stem}");
                assert!(e.native_event.is_some(), "{dir}/{stem}");
            }
        }
    }

    #[test]
    fn hotmart_v2_reads_buyer_product_and_times() {
        let f = fixture::load("hotmart", "purchase_approved");

        let e = event(Hotmart.normalize(&f.request, &f.payload));

        assert_eq!(e.customer.name.as_deref(), Some("Maria Teste"));
        assert_eq!(e.customer.phone.as_deref(), Some("11987654321"));
        assert_eq!(e.customer.document.as_deref(), Some("12345678909"));
        assert_eq!(
            e.product.and_then(|p| p.name).as_deref(),
            Some("Curso Completo de Excel")
        );
        assert_eq!(e.currency.as_deref(), Some("BRL"));
        assert_eq!(e.native_event.as_deref(), Some("PURCHASE_APPROVED"));
        assert_eq!(
            e.event_id.as_deref(),
            Some("5f1c9a7e-0b3d-4e2a-9c1f-000000000000")
        );
        assert_eq!(
            e.occurred_at.map(|t| t.timestamp_millis()),
            Some(1736955001000)
        );
    }

    #[test]
    fn hotmart_subscription_cancellation_ends_access_at_the_next_charge() {
        let f = fixture::load("hotmart", "subscription_cancellation");

        let e = event(Hotmart.normalize(&f.request, &f.payload));

        assert_eq!(
            e.access_ends_at.map(|t| t.timestamp_millis()),
            Some(1741000000000)
        );
        assert_eq!(
            e.occurred_at.map(|t| t.timestamp_millis()),
            Some(1740000000000)
        );
        assert_eq!(e.customer.phone.as_deref(), Some("11987654321"));
        assert_eq!(e.transaction_id, None);
    }

    #[test]
    fn hotmart_v2_output_follows_changed_values() {
        let mut body = v2_body("purchase_approved");
        body["data"]["buyer"]["email"] = json!("  Ana.SOUZA@Example.COM ");
        body["data"]["buyer"]["checkout_phone"] = json!("912345678");
        body["data"]["purchase"]["transaction"] = json!("HP0000000000042");
        body["data"]["purchase"]["price"] = json!({"value": "12.3", "currency_value": "USD"});
        body["data"]["product"]["id"] = json!(42);
        body["data"]["subscription"]["subscriber"]["code"] = json!("SUBX");
        body["data"]["purchase"]["recurrence_number"] = json!(2);
        body["id"] = json!("evt-other");
        body["unknown"] = json!({"nested": true});
        body.as_object_mut().unwrap().remove("hottok");
        // Re-serializing also reorders the keys (serde_json sorts them).
        let (req, payload) = json_request(&body, Some(OTHER));

        let verified = Hotmart.verify(
            &req,
            &payload,
            &["test-hottok-Xk3p9QmZ2v8T", OTHER],
            Utc::now(),
        );
        let e = event(Hotmart.normalize(&req, &payload));

        assert_eq!(verified, Ok(1));
        assert_eq!(e.status, CanonicalStatus::SubscriptionRenewed);
        assert_eq!(e.customer.email.as_deref(), Some("ana.souza@example.com"));
        assert_eq!(e.customer.phone.as_deref(), Some("11912345678"));
        assert_eq!(e.transaction_id.as_deref(), Some("HP0000000000042"));
        assert_eq!(e.amount_cents, Some(1230));
        assert_eq!(e.currency.as_deref(), Some("USD"));
        assert_eq!(e.product.map(|p| p.id).as_deref(), Some("42"));
        assert_eq!(e.subscription_id.as_deref(), Some("SUBX"));
        assert_eq!(e.recurrence, Some(2));
        assert_eq!(e.event_id.as_deref(), Some("evt-other"));
    }

    #[test]
    fn hotmart_v2_without_header_falls_back_to_the_body_hottok() {
        let mut body = v2_body("purchase_approved");
        body["hottok"] = json!(OTHER);
        let (req, payload) = json_request(&body, None);

        assert_eq!(Hotmart.verify(&req, &payload, &[OTHER], Utc::now()), Ok(0));
        assert!(Hotmart
            .verify(&req, &payload, &["test-hottok-Xk3p9QmZ2v8T"], Utc::now())
            .is_err());
    }

    #[test]
    fn hotmart_v2_with_wrong_or_missing_hottok_is_rejected() {
        let body = v2_body("purchase_refunded");
        let (wrong, wrong_payload) = json_request(&body, Some("nope"));
        let (missing, missing_payload) = json_request(&body, None);

        let wrong = Hotmart.verify(&wrong, &wrong_payload, &[OTHER, ""], Utc::now());
        let missing = Hotmart.verify(&missing, &missing_payload, &[OTHER], Utc::now());

        assert_eq!(wrong, Err(VerifyError::BadSignature("hottok")));
        assert!(matches!(missing, Err(VerifyError::MissingProof(_))));
    }

    #[test]
    fn hotmart_v2_events_that_do_not_change_access_are_ignored() {
        for name in [
            "UPDATE_SUBSCRIPTION_CHARGE_DATE",
            "CLUB_FIRST_ACCESS",
            "ORDER_FULFILLMENT",
            "NEW_THING",
        ] {
            let mut body = v2_body("purchase_approved");
            body["event"] = json!(name);
            let (req, payload) = json_request(&body, Some(OTHER));

            let result = Hotmart.normalize(&req, &payload);

            assert!(
                matches!(&result, Normalized::Ignored(i) if i.native_event.as_deref() == Some(name) && !i.is_ack),
                "{name}: {result:?}"
            );
        }
    }

    #[test]
    fn hotmart_switch_plan_is_a_plan_change_of_the_subscription() {
        let body = json!({"id": "e1", "creation_date": 1633003064000u64, "event": "SWITCH_PLAN",
            "version": "2.0.0", "data": {"switch_plan_date": 1629926054000u64,
            "subscription": {"subscriber_code": "AT3IV3RX", "product": {"id": 4116023, "name": "P"},
                "user": {"email": "Email@Hotmart.com"}},
            "plans": [{"id": 1, "name": "A", "current": true}]}});
        let (req, payload) = json_request(&body, Some(OTHER));

        let e = event(Hotmart.normalize(&req, &payload));

        assert_eq!(e.status, CanonicalStatus::PlanChanged);
        assert_eq!(e.subscription_id.as_deref(), Some("AT3IV3RX"));
        assert_eq!(e.customer.email.as_deref(), Some("email@hotmart.com"));
        assert_eq!(e.product.map(|p| p.id).as_deref(), Some("4116023"));
        assert_eq!(
            e.occurred_at.map(|t| t.timestamp_millis()),
            Some(1629926054000)
        );
    }

    #[test]
    fn hotmart_bad_payloads_never_panic() {
        let bodies = [
            json!({"event": "PURCHASE_APPROVED", "version": "2.0.0"}),
            json!({"event": "PURCHASE_APPROVED", "data": []}),
            json!({"event": "PURCHASE_APPROVED", "data": {"purchase": "x", "buyer": 5}}),
            json!({"event": "PURCHASE_APPROVED", "data": {"purchase": {"transaction": 123,
                "recurrence_number": "two", "price": {"value": "abc"}}, "product": {"id": null}}}),
            json!({"event": "SUBSCRIPTION_CANCELLATION", "data": {"subscriber": []}}),
            json!({"event": "SWITCH_PLAN", "data": {"subscription": 1}}),
            json!({"event": "PURCHASE_OUT_OF_SHOPPING_CART", "data": {}}),
            json!({"event": 7, "data": {}}),
            json!({"buyerVO": 3}),
            json!({"subscriberCode": {"a": 1}}),
            json!({}),
        ];
        for body in bodies {
            let (req, payload) = json_request(&body, Some(OTHER));

            let result = Hotmart.normalize(&req, &payload);

            if let Normalized::Event(e) = &result {
                assert_eq!(e.amount_cents, None, "{body}");
            }
        }
        let (req, payload) = json_request(
            &json!({"event": "PURCHASE_APPROVED", "data": {"purchase": {"transaction": 123}}}),
            None,
        );
        assert_eq!(
            event(Hotmart.normalize(&req, &payload))
                .transaction_id
                .as_deref(),
            Some("123")
        );
    }

    #[test]
    fn hotmart_v1_output_follows_changed_values() {
        let pairs = v1_pairs(&[
            ("hottok", OTHER),
            ("email", " Joao.Silva@Example.COM "),
            ("transaction", "HP777"),
            ("price", "19.9"),
            ("recurrency", "4"),
            ("subscriber_code", "SUB4"),
            ("phone_checkout_local_code", ""),
            ("phone_checkout_number", ""),
            ("phone_local_code", "21"),
            ("phone_number", "33334444"),
            ("brand_new_field", "x"),
        ]);
        let (req, payload) = form_request(&pairs);

        let verified = Hotmart.verify(
            &req,
            &payload,
            &["test-hottok-Xk3p9QmZ2v8T", OTHER],
            Utc::now(),
        );
        let e = event(Hotmart.normalize(&req, &payload));

        assert_eq!(verified, Ok(1));
        assert_eq!(e.status, CanonicalStatus::SubscriptionRenewed);
        assert_eq!(e.native_event.as_deref(), Some("status=approved"));
        assert_eq!(e.customer.email.as_deref(), Some("joao.silva@example.com"));
        assert_eq!(e.customer.phone.as_deref(), Some("2133334444"));
        assert_eq!(e.transaction_id.as_deref(), Some("HP777"));
        assert_eq!(e.amount_cents, Some(1990));
        assert_eq!(e.subscription_id.as_deref(), Some("SUB4"));
        assert_eq!(e.recurrence, Some(4));
    }

    #[test]
    fn hotmart_v1_statuses_map_to_canonical_ones() {
        let cases = [
            ("completed", Some(CanonicalStatus::Completed)),
            ("cancelled", Some(CanonicalStatus::Canceled)),
            ("blocked", Some(CanonicalStatus::Canceled)),
            ("chargeback", Some(CanonicalStatus::Chargeback)),
            ("dispute", Some(CanonicalStatus::Dispute)),
            ("wayting_payment", Some(CanonicalStatus::WaitingPayment)),
            ("under_analisys", Some(CanonicalStatus::WaitingPayment)),
            ("expired", Some(CanonicalStatus::Expired)),
            ("delayed", Some(CanonicalStatus::SubscriptionDelayed)),
            ("APPROVED", Some(CanonicalStatus::Approved)),
            ("something_new", None),
        ];
        for (status, expected) in cases {
            let (req, payload) = form_request(&v1_pairs(&[("status", status)]));

            let result = Hotmart.normalize(&req, &payload);

            match (expected, result) {
                (Some(s), Normalized::Event(e)) => assert_eq!(e.status, s, "{status}"),
                (None, Normalized::Ignored(i)) => {
                    assert_eq!(i.native_event, Some(format!("status={status}")))
                }
                (_, other) => panic!("{status}: {other:?}"),
            }
        }
    }

    #[test]
    fn hotmart_v1_without_hottok_or_transaction_is_refused_or_ignored() {
        let (no_hottok, no_hottok_payload) = form_request(&v1_pairs(&[("hottok", "")]));
        let (no_tx, no_tx_payload) = form_request(&v1_pairs(&[("transaction", "")]));

        let verified = Hotmart.verify(&no_hottok, &no_hottok_payload, &[OTHER], Utc::now());
        let normalized = Hotmart.normalize(&no_tx, &no_tx_payload);

        assert!(matches!(verified, Err(VerifyError::MissingProof(_))));
        assert!(matches!(normalized, Normalized::Ignored(_)));
    }

    #[test]
    fn hotmart_v1_json_cart_and_cancellation_are_read() {
        let cart = json!({"affiliate": false, "productName": "Curso", "productUcode": "uc-1",
            "buyerVO": {"name": "Ana", "email": "ANA@x.com ", "phone": "11999"}, "hottok": OTHER});
        let cancel = json!({"subscriptionId": 9, "subscriberCode": "SC1", "cancellationDate": 1740000000000u64,
            "userName": "Ana", "userEmail": "ana@x.com", "productName": "Curso", "hottok": OTHER});
        let (cart_req, cart_payload) = json_request(&cart, None);
        let (cancel_req, cancel_payload) = json_request(&cancel, None);

        let cart_event = event(Hotmart.normalize(&cart_req, &cart_payload));
        let cancel_event = event(Hotmart.normalize(&cancel_req, &cancel_payload));

        assert!(Hotmart.detect(&cart_req, &cart_payload));
        assert_eq!(
            Hotmart.verify(&cart_req, &cart_payload, &[OTHER], Utc::now()),
            Ok(0)
        );
        assert_eq!(cart_event.status, CanonicalStatus::CartAbandoned);
        assert_eq!(cart_event.customer.email.as_deref(), Some("ana@x.com"));
        assert_eq!(cart_event.product.map(|p| p.id).as_deref(), Some("uc-1"));
        assert_eq!(cancel_event.status, CanonicalStatus::SubscriptionCanceled);
        assert_eq!(cancel_event.subscription_id.as_deref(), Some("SC1"));
        assert!(cancel_event.occurred_at.is_some());
    }
}
