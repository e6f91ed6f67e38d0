//! Eduzz: the Developer Hub webhook (JSON `{id, event, sentDate, data}`,
//! `x-signature` = hex HMAC-SHA256 of the raw body) and the legacy Órbita
//! postback (flat fields, as a form or as JSON, proven by the `origin` key).
//! Field locations and the status mapping follow ../shared/gateways/NOTES.md § 4–5.
//!
//! The hub signs every call, so a hub call must carry a valid `x-signature`:
//! its body's `data.producer.originSecret` is not accepted instead (issue 11),
//! since it is the producer's origin key, also sent in every legacy postback,
//! and would let whoever holds it forge hub events. Only the legacy postback,
//! which has nothing else, is proven by a body token.

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use super::{GatewayAdapter, Ignored, Normalized, Proof, SecretSource, Setup};
use crate::inbound::normalize::{
    any_time, clean_email, decimal_to_cents, CanonicalStatus, Customer, GatewayKind,
    NormalizedEvent, ProductRef,
};
use crate::inbound::request::{path_text, InboundRequest, Payload};
use crate::inbound::verify::{first_match, hex_digest_eq, hmac_sha256, secret_eq, VerifyError};

/// The Eduzz adapter, for both webhook formats.
pub struct Eduzz;

impl GatewayAdapter for Eduzz {
    fn kind(&self) -> GatewayKind {
        GatewayKind::Eduzz
    }

    fn setup(&self) -> Setup {
        Setup {
            name: "Eduzz",
            formats: "Developer Hub (JSON); legacy postback (form or JSON)",
            proof: Proof::Signature,
            proof_detail: "x-signature = hex HMAC-SHA256 of the raw body (hub, required); legacy postback only: origin / origin_secret, else api_key",
            is_token_in_url: false,
            secret: SecretSource::FromGateway,
            where_to_paste: "Na Eduzz, abra o Console do Desenvolvedor > Webhooks > Criar webhook. Cole a URL do gancho, marque os eventos de fatura (paga, reembolsada, cancelada, expirada) e copie a chave secreta do webhook para o gancho. No postback antigo (Nutror), copie o origin/origin_secret da conta.",
        }
    }

    fn detect(&self, req: &InboundRequest, payload: &Payload) -> bool {
        if let Some(event) = payload
            .as_json()
            .and_then(|m| m.get("event"))
            .and_then(Value::as_str)
        {
            let has_data = payload
                .as_json()
                .is_some_and(|m| m.get("data").is_some_and(Value::is_object));
            let is_hub_event = event.starts_with("myeduzz.") || event == "ping";
            if req.header("x-signature").is_some() || (has_data && is_hub_event) {
                return true;
            }
        }
        is_legacy(payload)
    }

    fn verify(
        &self,
        req: &InboundRequest,
        payload: &Payload,
        secrets: &[&str],
        _now: DateTime<Utc>,
    ) -> Result<usize, VerifyError> {
        if secrets.iter().all(|s| s.is_empty()) {
            return Err(VerifyError::NoKeys("eduzz"));
        }
        if hub_envelope(req, payload).is_some() {
            verify_hub(req, secrets)
        } else {
            verify_legacy(payload, secrets)
        }
    }

    fn normalize(&self, req: &InboundRequest, payload: &Payload) -> Normalized {
        match hub_envelope(req, payload) {
            Some(map) => normalize_hub(map),
            None if payload.text("type").as_deref() == Some("abandonment") => {
                normalize_abandonment(payload)
            }
            None => normalize_legacy_invoice(payload),
        }
    }

    fn secret_fields(&self) -> &'static [&'static str] {
        &["origin", "origin_secret", "api_key", "originSecret"]
    }
}

/// The hub envelope: JSON with an `event` name and a `data` object (or a signature).
fn hub_envelope<'a>(req: &InboundRequest, payload: &'a Payload) -> Option<&'a Map<String, Value>> {
    let map = payload.as_json()?;
    let has_data = map.get("data").is_some_and(Value::is_object);
    let is_hub = map.get("event").is_some_and(Value::is_string)
        && (has_data || req.header("x-signature").is_some());
    is_hub.then_some(map)
}

/// The legacy postback's flat fields.
fn is_legacy(payload: &Payload) -> bool {
    if payload.text("trans_cod").is_some() {
        return true;
    }
    let is_known_type = matches!(
        payload.text("type").as_deref(),
        Some("invoice" | "abandonment")
    );
    is_known_type
        && [
            "origin",
            "origin_secret",
            "api_key",
            "cus_email",
            "identifier",
        ]
        .iter()
        .any(|k| payload.text(k).is_some())
}

fn verify_hub(req: &InboundRequest, secrets: &[&str]) -> Result<usize, VerifyError> {
    // The body's originSecret is no proof here: see the module doc.
    let Some(header) = req.header("x-signature") else {
        return Err(VerifyError::MissingProof("x-signature header"));
    };
    let given = header.trim();
    let given = given.strip_prefix("sha256=").unwrap_or(given);
    first_match(secrets, |s| {
        !s.is_empty() && hex_digest_eq(given, &hex::encode(hmac_sha256(s.as_bytes(), &req.body)))
    })
    .ok_or(VerifyError::BadSignature("x-signature header"))
}

fn verify_legacy(payload: &Payload, secrets: &[&str]) -> Result<usize, VerifyError> {
    let origins: Vec<String> = ["origin", "origin_secret"]
        .iter()
        .filter_map(|k| payload.text(k))
        .collect();
    // DESIGN.md § Inbound: the deprecated `api_key` counts only when no origin key is sent.
    let candidates = if origins.is_empty() {
        payload.text("api_key").into_iter().collect()
    } else {
        origins
    };
    if candidates.is_empty() {
        return Err(VerifyError::MissingProof("origin field"));
    }
    first_match(secrets, |s| candidates.iter().any(|c| secret_eq(c, s)))
        .ok_or(VerifyError::BadSignature("origin field"))
}

fn normalize_hub(map: &Map<String, Value>) -> Normalized {
    let event = path_text(map, &["event"]).unwrap_or_default();
    let name = event.strip_prefix("myeduzz.").unwrap_or(&event).to_string();
    if name == "ping" {
        return Normalized::Ignored(Ignored {
            native_event: Some(event),
            reason: "Eduzz health check (ping)".to_string(),
            is_ack: true,
        });
    }
    let Some(data) = map.get("data").and_then(Value::as_object) else {
        return Ignored::unsupported(Some(event), "the event has no data object");
    };
    let Some(status) = hub_status(&name, data) else {
        return Ignored::unsupported(Some(event), "this Eduzz event is not handled");
    };
    let Some(invoice) = path_text(data, &["id"]) else {
        return Ignored::unsupported(Some(event), "the invoice has no data.id");
    };
    let subscription_id = path_text(data, &["contract", "id"]);
    let recurrence = contract_recurrence(data);
    // NOTES.md § 5: no renewal event; a counted charge of a contract is one.
    let status = match status {
        CanonicalStatus::Approved
            if subscription_id.is_some() && recurrence.is_some_and(|r| r > 1) =>
        {
            CanonicalStatus::SubscriptionRenewed
        }
        other => other,
    };
    let (amount_cents, currency) = ["price", "paid"]
        .iter()
        .find_map(|k| {
            let cents = path_text(data, &[k, "value"]).and_then(|v| decimal_to_cents(&v))?;
            Some((Some(cents), path_text(data, &[k, "currency"])))
        })
        .unwrap_or((None, None));
    Normalized::Event(Box::new(NormalizedEvent {
        transaction_id: Some(invoice),
        customer: Customer {
            email: clean_email(path_text(data, &["buyer", "email"])),
            name: path_text(data, &["buyer", "name"]),
            phone: path_text(data, &["buyer", "cellphone"])
                .or_else(|| path_text(data, &["buyer", "phone"])),
            document: path_text(data, &["buyer", "document"]),
        },
        product: first_item(data),
        amount_cents,
        currency,
        subscription_id,
        recurrence,
        occurred_at: hub_time(map, data, status),
        native_event: Some(event),
        event_id: path_text(map, &["id"]),
        ..NormalizedEvent::new(GatewayKind::Eduzz, status)
    }))
}

fn hub_status(name: &str, data: &Map<String, Value>) -> Option<CanonicalStatus> {
    // NOTES.md § 5: no chargeback event was found; the invoice carries it.
    let has_chargeback = data
        .get("chargeback")
        .is_some_and(|c| !c.is_null() && *c != Value::Bool(false));
    if name.starts_with("invoice_") && has_chargeback {
        return Some(CanonicalStatus::Chargeback);
    }
    Some(match name {
        "invoice_paid" => CanonicalStatus::Approved,
        "invoice_refunded" => CanonicalStatus::Refunded,
        "invoice_waiting_refund" => CanonicalStatus::RefundRequested,
        "invoice_canceled" => CanonicalStatus::Canceled,
        "invoice_expired" => CanonicalStatus::Expired,
        "invoice_refused" => CanonicalStatus::Refused,
        "invoice_waiting_payment" | "invoice_opened" | "invoice_recovering" => {
            CanonicalStatus::WaitingPayment
        }
        "invoice_overdue" => CanonicalStatus::SubscriptionDelayed,
        _ => return None,
    })
}

/// The contract's charge number, under whichever name it comes.
fn contract_recurrence(data: &Map<String, Value>) -> Option<u32> {
    [
        "recurrence",
        "recurrenceNumber",
        "recurrence_number",
        "recurrenceCount",
    ]
    .iter()
    .find_map(|k| path_text(data, &["contract", k]))
    .and_then(|r| r.parse().ok())
}

/// The first of `data.items[]`.
fn first_item(data: &Map<String, Value>) -> Option<ProductRef> {
    let item = data.get("items")?.as_array()?.first()?.as_object()?;
    path_text(item, &["productId"]).map(|id| ProductRef {
        id,
        name: path_text(item, &["name"]),
    })
}

/// When this status happened: the payment time for payments, else when
/// Eduzz sent the event.
fn hub_time(
    map: &Map<String, Value>,
    data: &Map<String, Value>,
    status: CanonicalStatus,
) -> Option<DateTime<Utc>> {
    let is_payment = matches!(
        status,
        CanonicalStatus::Approved | CanonicalStatus::SubscriptionRenewed
    );
    let paid_at = is_payment.then(|| path_text(data, &["paidAt"])).flatten();
    [
        paid_at,
        path_text(map, &["sentDate"]),
        path_text(data, &["createdAt"]),
    ]
    .into_iter()
    .flatten()
    .find_map(|t| any_time(&t))
}

fn normalize_legacy_invoice(payload: &Payload) -> Normalized {
    let Some(raw) = payload.text("trans_status") else {
        return Ignored::unsupported(None, "the postback has no trans_status");
    };
    let native = format!("trans_status={raw}");
    let recurrence: Option<u32> = payload
        .text("recurrence_count")
        .and_then(|r| r.parse().ok());
    let subscription_id = payload.text("recurrence_cod");
    let recurrence_status = payload.text("recurrence_status");
    let status = legacy_status(
        &raw,
        recurrence,
        subscription_id.is_some(),
        recurrence_status.as_deref(),
    );
    let Some(status) = status else {
        return Ignored::unsupported(Some(native), "this trans_status is not handled");
    };
    let Some(transaction) = payload.text("trans_cod") else {
        return Ignored::unsupported(Some(native), "the postback has no trans_cod");
    };
    let product = legacy_product(payload, "product_cod", "product_name").or_else(|| {
        legacy_product(
            payload,
            "trans_items[0][item_product_id]",
            "trans_items[0][item_product_name]",
        )
    });
    Normalized::Event(Box::new(NormalizedEvent {
        transaction_id: Some(transaction),
        customer: Customer {
            email: clean_email(payload.text("cus_email")),
            name: payload.text("cus_name"),
            phone: payload.text("cus_cel").or_else(|| payload.text("cus_tel")),
            document: payload.text("cus_taxnumber"),
        },
        product,
        amount_cents: payload
            .text("trans_value")
            .and_then(|v| decimal_to_cents(&v)),
        currency: payload.text("trans_currency"),
        subscription_id,
        recurrence,
        occurred_at: legacy_time(payload, "trans_paiddate", "trans_paidtime")
            .or_else(|| legacy_time(payload, "trans_createdate", "trans_createtime")),
        native_event: Some(native),
        ..NormalizedEvent::new(GatewayKind::Eduzz, status)
    }))
}

/// NOTES.md § 4: `trans_status` codes, refined by the contract's
/// `recurrence_status` (4 Cancelado; 3 Suspenso, 7 Atrasado).
fn legacy_status(
    trans_status: &str,
    recurrence: Option<u32>,
    has_contract: bool,
    recurrence_status: Option<&str>,
) -> Option<CanonicalStatus> {
    // A payment, a refund or a duplicate keeps its own meaning: a refund
    // revokes now, which a subscription status would hide.
    let keeps_own = matches!(trans_status, "3" | "6" | "7" | "9");
    if has_contract && !keeps_own {
        match recurrence_status {
            Some("4") => return Some(CanonicalStatus::SubscriptionCanceled),
            Some("3" | "7") => return Some(CanonicalStatus::SubscriptionDelayed),
            _ => {}
        }
    }
    Some(match trans_status {
        "3" if recurrence.is_some_and(|r| r > 1) => CanonicalStatus::SubscriptionRenewed,
        "3" => CanonicalStatus::Approved,
        "1" | "11" => CanonicalStatus::WaitingPayment,
        "15" if has_contract => CanonicalStatus::SubscriptionDelayed,
        "15" => CanonicalStatus::WaitingPayment,
        "4" => CanonicalStatus::Canceled,
        "6" => CanonicalStatus::RefundRequested,
        "7" => CanonicalStatus::Refunded,
        "10" => CanonicalStatus::Expired,
        // 9 is a duplicated invoice: nothing happened to the sale.
        _ => return None,
    })
}

fn legacy_product(payload: &Payload, id_key: &str, name_key: &str) -> Option<ProductRef> {
    payload.text(id_key).map(|id| ProductRef {
        id,
        name: payload.text(name_key),
    })
}

/// `YYYYMMDD` + `HH:MM:SS`, São Paulo wall time.
fn legacy_time(payload: &Payload, date_key: &str, time_key: &str) -> Option<DateTime<Utc>> {
    let date = payload.text(date_key)?;
    match payload.text(time_key) {
        Some(time) => any_time(&format!("{date} {time}")),
        None => any_time(&date),
    }
}

/// `type=abandonment`: a lead with no invoice; the ledger dedupes it by
/// `identifier`.
fn normalize_abandonment(payload: &Payload) -> Normalized {
    // Sent as flat `customer[email]` keys; accept nested JSON objects too.
    let nested = |group: &str, key: &str| {
        payload
            .text(&format!("{group}[{key}]"))
            .or_else(|| payload.as_json().and_then(|m| path_text(m, &[group, key])))
    };
    Normalized::Event(Box::new(NormalizedEvent {
        customer: Customer {
            email: clean_email(nested("customer", "email")),
            name: nested("customer", "name"),
            phone: nested("customer", "phone"),
            document: None,
        },
        product: nested("product", "id").map(|id| ProductRef {
            id,
            name: nested("product", "title"),
        }),
        occurred_at: payload.text("cartAccessedAt").and_then(|t| any_time(&t)),
        native_event: Some("type=abandonment".to_string()),
        event_id: payload.text("identifier"),
        ..NormalizedEvent::new(GatewayKind::Eduzz, CanonicalStatus::CartAbandoned)
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inbound::gateways::fixture;
    use crate::inbound::request::BodyKind;
    use bytes::Bytes;
    use serde_json::json;

    const OTHER: &str = "another-eduzz-key";
    const HUB_SECRET: &str = "test-eduzz-webhook-secret-9d8e";
    const ORIGIN: &str = "test-eduzz-origin-key-4b21";

    /// status, transaction, subscription, recurrence, amount in cents.
    type Expected = (
        CanonicalStatus,
        Option<&'static str>,
        Option<&'static str>,
        Option<u32>,
        Option<i64>,
    );

    fn expected(dir: &str, stem: &str) -> Option<Expected> {
        use CanonicalStatus as S;
        let hub = Some("91234567");
        let legacy = Some("98765432");
        Some(match (dir, stem) {
            ("eduzz", "invoice_paid") => (S::Approved, hub, None, None, Some(49700)),
            ("eduzz", "invoice_refunded") => (S::Refunded, hub, None, None, Some(49700)),
            ("eduzz", "invoice_waiting_payment_pix") => {
                (S::WaitingPayment, Some("91234568"), None, None, Some(49700))
            }
            ("eduzz_legacy", "abandonment") => (S::CartAbandoned, None, None, None, None),
            ("eduzz_legacy", "invoice_expired") => (S::Expired, legacy, None, None, Some(49700)),
            ("eduzz_legacy", "invoice_open_billet") => {
                (S::WaitingPayment, legacy, None, None, Some(49700))
            }
            ("eduzz_legacy", "invoice_paid") => (S::Approved, legacy, None, None, Some(49700)),
            ("eduzz_legacy", "invoice_paid_recurrence") => (
                S::SubscriptionRenewed,
                Some("98765499"),
                Some("3344"),
                Some(2),
                Some(49700),
            ),
            ("eduzz_legacy", "invoice_refunded") => (S::Refunded, legacy, None, None, Some(49700)),
            _ => return None,
        })
    }

    fn event(normalized: Normalized) -> NormalizedEvent {
        match normalized {
            Normalized::Event(e) => *e,
            other => panic!("expected an event, got {other:?}"),
        }
    }

    fn json_request(body: &Value, headers: &[(&str, &str)]) -> (InboundRequest, Payload) {
        let bytes = serde_json::to_vec(body).unwrap();
        let payload = Payload::parse(BodyKind::Json, &bytes).unwrap();
        let request = InboundRequest {
            headers: headers
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            query: vec![],
            body: Bytes::from(bytes),
            kind: BodyKind::Json,
        };
        (request, payload)
    }

    /// A hub body signed with `secret` in `x-signature`.
    fn hub_signed(body: &Value, secret: &str, prefix: &str) -> (InboundRequest, Payload) {
        let bytes = serde_json::to_vec(body).unwrap();
        let signature = format!(
            "{prefix}{}",
            hex::encode(hmac_sha256(secret.as_bytes(), &bytes))
        );
        let (mut request, payload) = json_request(body, &[]);
        request.headers = vec![("x-signature".to_string(), signature)];
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

    /// The legacy paid invoice's pairs with fields replaced, added or (with "") emptied.
    fn legacy_pairs(changes: &[(&str, &str)]) -> Vec<(String, String)> {
        let Payload::Form(mut pairs) = fixture::load("eduzz_legacy", "invoice_paid").payload else {
            panic!("the legacy fixture is a form")
        };
        for (key, value) in changes {
            match pairs.iter_mut().find(|(k, _)| k == key) {
                Some(pair) => pair.1 = value.to_string(),
                None => pairs.push((key.to_string(), value.to_string())),
            }
        }
        pairs
    }

    fn hub_body(stem: &str) -> Value {
        serde_json::from_slice(&fixture::load("eduzz", stem).request.body).unwrap()
    }

    fn verify(
        (req, payload): &(InboundRequest, Payload),
        secrets: &[&str],
    ) -> Result<usize, VerifyError> {
        Eduzz.verify(req, payload, secrets, Utc::now())
    }

    fn normalize((req, payload): &(InboundRequest, Payload)) -> Normalized {
        Eduzz.normalize(req, payload)
    }

    #[test]
    fn every_fixture_verifies_with_its_key_only() {
        for dir in ["eduzz", "eduzz_legacy"] {
            for stem in fixture::stems(dir) {
                let f = fixture::load(dir, &stem);
                let verify =
                    |secrets: &[&str]| Eduzz.verify(&f.request, &f.payload, secrets, Utc::now());

                assert_eq!(verify(&[&f.secret]), Ok(0), "{dir}/{stem}");
                assert_eq!(verify(&["", OTHER, &f.secret]), Ok(2), "{dir}/{stem}");
                assert!(
                    matches!(verify(&[OTHER]), Err(VerifyError::BadSignature(_))),
                    "{dir}/{stem}"
                );
                assert_eq!(
                    verify(&[]),
                    Err(VerifyError::NoKeys("eduzz")),
                    "{dir}/{stem}"
                );
            }
        }
    }

    #[test]
    fn every_fixture_normalizes_to_its_expected_event() {
        for dir in ["eduzz", "eduzz_legacy"] {
            for stem in fixture::stems(dir) {
                let f = fixture::load(dir, &stem);
                let normalized = Eduzz.normalize(&f.request, &f.payload);
                let Some((status, transaction, subscription, recurrence, cents)) =
                    expected(dir, &stem)
                else {
                    continue; // ping, or a new fixture: it must at least not panic.
                };

                let e = event(normalized);

                assert_eq!(e.gateway, GatewayKind::Eduzz, "{dir}/{stem}");
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
                    Some("1234567"),
                    "{dir}/{stem}"
                );
                assert!(e.occurred_at.is_some(), "{dir}/{stem}");
            }
        }
    }

    #[test]
    fn eduzz_ping_is_an_acknowledged_ignore() {
        let f = fixture::load("eduzz", "ping");

        let result = Eduzz.normalize(&f.request, &f.payload);

        assert!(matches!(
            result,
            Normalized::Ignored(Ignored { is_ack: true, native_event: Some(n), .. }) if n == "ping"
        ));
    }

    #[test]
    fn eduzz_hub_reads_ids_names_and_times() {
        let f = fixture::load("eduzz", "invoice_paid");

        let e = event(Eduzz.normalize(&f.request, &f.payload));

        assert_eq!(e.event_id.as_deref(), Some("z154l2pvk6jltotg0xy86gl1"));
        assert_eq!(e.native_event.as_deref(), Some("myeduzz.invoice_paid"));
        assert_eq!(e.customer.phone.as_deref(), Some("+5511987654321"));
        assert_eq!(e.customer.document.as_deref(), Some("12345678909"));
        assert_eq!(e.currency.as_deref(), Some("BRL"));
        assert_eq!(
            e.occurred_at.map(|t| t.to_rfc3339()).as_deref(),
            Some("2025-01-15T12:30:00+00:00")
        );
    }

    #[test]
    fn eduzz_hub_output_follows_changed_values_and_a_new_secret() {
        let mut body = hub_body("invoice_paid");
        body["id"] = json!("evt-2");
        body["data"]["id"] = json!(5550001);
        body["data"]["buyer"]["email"] = json!(" Carla.Dias@EXAMPLE.com");
        body["data"]["items"][0]["productId"] = json!(987);
        body["data"]["price"] = json!({"currency": "USD", "value": "10.5"});
        body["data"]["contract"] = json!({"id": "C-9", "recurrence": 4});
        body["data"]["whatever"] = json!([null]);
        let req = hub_signed(&body, OTHER, "sha256=");

        let verified = verify(&req, &[HUB_SECRET, OTHER]);
        let e = event(normalize(&req));

        assert_eq!(verified, Ok(1));
        assert_eq!(e.status, CanonicalStatus::SubscriptionRenewed);
        assert_eq!(e.event_id.as_deref(), Some("evt-2"));
        assert_eq!(e.transaction_id.as_deref(), Some("5550001"));
        assert_eq!(e.customer.email.as_deref(), Some("carla.dias@example.com"));
        assert_eq!(e.product.map(|p| p.id).as_deref(), Some("987"));
        assert_eq!(e.amount_cents, Some(1050));
        assert_eq!(e.currency.as_deref(), Some("USD"));
        assert_eq!(e.subscription_id.as_deref(), Some("C-9"));
        assert_eq!(e.recurrence, Some(4));
    }

    #[test]
    fn eduzz_hub_paid_contract_without_a_count_stays_approved() {
        let mut body = hub_body("invoice_paid");
        body["data"]["contract"] = json!({"id": "C-9"});
        let req = hub_signed(&body, OTHER, "");

        let e = event(normalize(&req));

        assert_eq!(e.status, CanonicalStatus::Approved);
        assert_eq!(e.subscription_id.as_deref(), Some("C-9"));
    }

    #[test]
    fn eduzz_hub_invoice_with_a_chargeback_is_a_chargeback() {
        let mut body = hub_body("invoice_refunded");
        body["event"] = json!("myeduzz.invoice_canceled");
        body["data"]["chargeback"] = json!({"id": "cb1", "reason": "fraud"});
        let req = hub_signed(&body, OTHER, "");

        assert_eq!(event(normalize(&req)).status, CanonicalStatus::Chargeback);
    }

    #[test]
    fn eduzz_hub_events_map_with_or_without_the_myeduzz_prefix() {
        let cases = [
            (
                "invoice_waiting_refund",
                Some(CanonicalStatus::RefundRequested),
            ),
            ("myeduzz.invoice_canceled", Some(CanonicalStatus::Canceled)),
            ("myeduzz.invoice_expired", Some(CanonicalStatus::Expired)),
            ("myeduzz.invoice_refused", Some(CanonicalStatus::Refused)),
            (
                "myeduzz.invoice_opened",
                Some(CanonicalStatus::WaitingPayment),
            ),
            (
                "myeduzz.invoice_recovering",
                Some(CanonicalStatus::WaitingPayment),
            ),
            (
                "myeduzz.invoice_overdue",
                Some(CanonicalStatus::SubscriptionDelayed),
            ),
            ("myeduzz.contract_created", None),
            ("myeduzz.commission_processed", None),
        ];
        for (name, expected) in cases {
            let mut body = hub_body("invoice_paid");
            body["event"] = json!(name);

            let result = normalize(&hub_signed(&body, OTHER, ""));

            match (expected, result) {
                (Some(s), Normalized::Event(e)) => assert_eq!(e.status, s, "{name}"),
                (None, Normalized::Ignored(i)) => assert!(!i.is_ack, "{name}"),
                (_, other) => panic!("{name}: {other:?}"),
            }
        }
    }

    #[test]
    fn eduzz_hub_without_a_signature_is_refused_even_when_the_origin_secret_matches() {
        let body = hub_body("invoice_paid");
        let unsigned = json_request(&body, &[]);
        let mut no_origin = body.clone();
        no_origin["data"]["producer"]
            .as_object_mut()
            .unwrap()
            .remove("originSecret");
        let bare = json_request(&no_origin, &[]);

        assert_eq!(
            verify(&unsigned, &[OTHER, ORIGIN]),
            Err(VerifyError::MissingProof("x-signature header"))
        );
        assert_eq!(
            verify(&unsigned, &[HUB_SECRET]),
            Err(VerifyError::MissingProof("x-signature header"))
        );
        assert_eq!(
            verify(&bare, &[HUB_SECRET]),
            Err(VerifyError::MissingProof("x-signature header"))
        );
    }

    #[test]
    fn eduzz_hub_with_a_bad_signature_does_not_fall_back_to_the_origin_secret() {
        let body = hub_body("invoice_paid");
        let req = json_request(&body, &[("x-signature", "00ff")]);

        assert!(matches!(
            verify(&req, &[ORIGIN]),
            Err(VerifyError::BadSignature(_))
        ));
    }

    #[test]
    fn eduzz_legacy_output_follows_changed_values_and_a_new_origin() {
        let req = form_request(&legacy_pairs(&[
            ("origin", OTHER),
            ("trans_cod", "11112222"),
            ("cus_email", "  Bia.Lima@Example.COM"),
            ("cus_cel", ""),
            ("trans_value", "1234.5"),
            ("product_cod", ""),
            ("brand_new", "1"),
        ]));

        let verified = verify(&req, &[ORIGIN, OTHER]);
        let e = event(normalize(&req));

        assert_eq!(verified, Ok(1));
        assert_eq!(e.native_event.as_deref(), Some("trans_status=3"));
        assert_eq!(e.transaction_id.as_deref(), Some("11112222"));
        assert_eq!(e.customer.email.as_deref(), Some("bia.lima@example.com"));
        assert_eq!(e.customer.phone.as_deref(), Some("11987654321"));
        assert_eq!(e.amount_cents, Some(123450));
        // Without product_cod, the first item's product id.
        assert_eq!(e.product.map(|p| p.id).as_deref(), Some("1234567"));
        assert_eq!(
            e.occurred_at.map(|t| t.to_rfc3339()).as_deref(),
            Some("2025-01-15T12:30:00+00:00")
        );
    }

    #[test]
    fn eduzz_legacy_api_key_counts_only_without_an_origin_key() {
        let wrong_origin = form_request(&legacy_pairs(&[("origin", "wrong"), ("api_key", OTHER)]));
        let no_origin = form_request(&legacy_pairs(&[("origin", ""), ("api_key", OTHER)]));
        let nothing = form_request(&legacy_pairs(&[("origin", ""), ("api_key", "")]));

        assert!(matches!(
            verify(&wrong_origin, &[OTHER]),
            Err(VerifyError::BadSignature(_))
        ));
        assert_eq!(verify(&no_origin, &[OTHER]), Ok(0));
        assert!(matches!(
            verify(&nothing, &[OTHER]),
            Err(VerifyError::MissingProof(_))
        ));
    }

    #[test]
    fn eduzz_legacy_statuses_map_to_canonical_ones() {
        use CanonicalStatus as S;
        type Changes = &'static [(&'static str, &'static str)];
        let cases: [(Changes, Option<S>); 10] = [
            (&[("trans_status", "1")], Some(S::WaitingPayment)),
            (&[("trans_status", "11")], Some(S::WaitingPayment)),
            (&[("trans_status", "15")], Some(S::WaitingPayment)),
            (
                &[("trans_status", "15"), ("recurrence_cod", "9")],
                Some(S::SubscriptionDelayed),
            ),
            (&[("trans_status", "4")], Some(S::Canceled)),
            (&[("trans_status", "6")], Some(S::RefundRequested)),
            (&[("trans_status", "9")], None),
            (
                &[
                    ("trans_status", "4"),
                    ("recurrence_cod", "9"),
                    ("recurrence_status", "4"),
                ],
                Some(S::SubscriptionCanceled),
            ),
            (
                &[
                    ("trans_status", "1"),
                    ("recurrence_cod", "9"),
                    ("recurrence_status", "7"),
                ],
                Some(S::SubscriptionDelayed),
            ),
            (
                &[
                    ("trans_status", "7"),
                    ("recurrence_cod", "9"),
                    ("recurrence_status", "4"),
                ],
                Some(S::Refunded),
            ),
        ];
        for (changes, expected) in cases {
            let result = normalize(&form_request(&legacy_pairs(changes)));

            match (expected, result) {
                (Some(s), Normalized::Event(e)) => assert_eq!(e.status, s, "{changes:?}"),
                (None, Normalized::Ignored(_)) => {}
                (_, other) => panic!("{changes:?}: {other:?}"),
            }
        }
    }

    #[test]
    fn eduzz_abandonment_reads_the_bracketed_keys() {
        let f = fixture::load("eduzz_legacy", "abandonment");

        let e = event(Eduzz.normalize(&f.request, &f.payload));

        assert_eq!(
            e.event_id.as_deref(),
            Some("36ec1293-17f8-404a-bbda-b58eaeb21aab")
        );
        assert_eq!(e.customer.name.as_deref(), Some("Maria Teste"));
        assert_eq!(e.customer.phone.as_deref(), Some("011987654321"));
        assert_eq!(
            e.product.and_then(|p| p.name).as_deref(),
            Some("Curso Completo de Excel")
        );
    }

    #[test]
    fn eduzz_bad_payloads_never_panic() {
        let bodies = [
            json!({"event": "myeduzz.invoice_paid", "data": "x"}),
            json!({"event": "myeduzz.invoice_paid", "data": {}}),
            json!({"event": "myeduzz.invoice_paid", "data": {"id": 1, "items": [],
                "buyer": 3, "price": {"value": "n/a"}, "contract": [1]}}),
            json!({"event": "myeduzz.invoice_paid", "data": {"id": 1, "items": [5, {"productId": null}],
                "price": null, "paid": {"value": {}}, "chargeback": false}}),
            json!({"event": "ping"}),
            json!({"type": "invoice", "trans_cod": 5}),
            json!({"type": "invoice", "trans_status": 3, "trans_cod": {"a": 1}}),
            json!({"type": "abandonment", "customer": {"email": 4}, "product": []}),
            json!({}),
        ];
        for body in bodies {
            let req = hub_signed(&body, OTHER, "");

            if let Normalized::Event(e) = normalize(&req) {
                assert_eq!(e.amount_cents, None, "{body}");
                assert_eq!(e.product, None, "{body}");
            }
        }
    }
}
