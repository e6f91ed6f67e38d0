//! Stripe: Event objects (`{id, object:"event", type, data:{object}}`) signed
//! in `Stripe-Signature: t=<unix>,v1=<hex>[,v1=…]` = hex HMAC-SHA256 of
//! `"<t>." + raw body` keyed by the endpoint's `whsec_` secret as bytes; any
//! `v1` may match (secret rotation), and `t` must be within 5 minutes of now.
//! Field locations and the mapping follow ../shared/gateways/NOTES-MORE.md § 1.
//!
//! The transaction is the PaymentIntent (`pi_…`) wherever the object carries
//! one: Checkout Sessions, invoices (top level before API 2025-03-31, under
//! `payments` after), charges and disputes all do, so a refund or dispute
//! finds the grant its payment made. A Checkout Session carries no line
//! items, so it names no product: the inbound URL's products are granted
//! (on the global URL it is ignored until mapped). Invoices name the first
//! line's price id (`price_…`), in either layout. A subscription's access
//! comes from its invoices: its Checkout Session (which has no PaymentIntent
//! to match the invoice's) is acknowledged and ignored.

use chrono::{DateTime, TimeZone, Utc};
use serde_json::{Map, Value};

use super::{GatewayAdapter, Ignored, Normalized, Proof, SecretSource, Setup};
use crate::inbound::normalize::{
    clean_email, CanonicalStatus, Customer, GatewayKind, NormalizedEvent, ProductRef,
};
use crate::inbound::request::{path_text, path_value, InboundRequest, Payload};
use crate::inbound::verify::{first_match, hex_digest_eq, hmac_sha256, VerifyError};

/// How far `t` may be from now, either way (Stripe's SDK default).
const TOLERANCE_SECONDS: u64 = 5 * 60;

/// The Stripe adapter.
pub struct Stripe;

impl GatewayAdapter for Stripe {
    fn kind(&self) -> GatewayKind {
        GatewayKind::Stripe
    }

    fn setup(&self) -> Setup {
        Setup {
            name: "Stripe",
            formats: "JSON Event",
            proof: Proof::Signature,
            proof_detail: "Stripe-Signature: t=…,v1=… = hex HMAC-SHA256 of \"t.body\" keyed by the endpoint's signing secret; 5-minute tolerance",
            is_token_in_url: false,
            secret: SecretSource::FromGateway,
            where_to_paste: "No Dashboard da Stripe, vá em Desenvolvedores > Webhooks > Adicionar endpoint. Cole a URL do gancho, selecione os eventos (checkout.session.completed, invoice.paid, charge.refunded, charge.dispute.created, customer.subscription.deleted) e depois copie o Segredo de assinatura (whsec_…) para o gancho.",
        }
    }

    fn detect(&self, req: &InboundRequest, payload: &Payload) -> bool {
        let Payload::Json(map) = payload else {
            return false;
        };
        if req.header("stripe-signature").is_some() {
            return true;
        }
        path_text(map, &["object"]).as_deref() == Some("event")
            && path_value(map, &["data", "object"]).is_some_and(Value::is_object)
            && map.get("type").is_some_and(Value::is_string)
    }

    fn verify(
        &self,
        req: &InboundRequest,
        _payload: &Payload,
        secrets: &[&str],
        now: DateTime<Utc>,
    ) -> Result<usize, VerifyError> {
        if secrets.iter().all(|s| s.is_empty()) {
            return Err(VerifyError::NoKeys("stripe"));
        }
        let Some(header) = req.header("stripe-signature") else {
            return Err(VerifyError::MissingProof("Stripe-Signature header"));
        };
        let (timestamp, given) = parse_signature(header)?;
        let mut message = format!("{timestamp}.").into_bytes();
        message.extend_from_slice(&req.body);
        let matched = first_match(secrets, |s| {
            let expected = hex::encode(hmac_sha256(s.as_bytes(), &message));
            !s.is_empty() && given.iter().any(|g| hex_digest_eq(g, &expected))
        })
        .ok_or(VerifyError::BadSignature("Stripe-Signature"))?;
        // Stripe's libraries check the signature first, then the age.
        if now.timestamp().abs_diff(timestamp) > TOLERANCE_SECONDS {
            return Err(VerifyError::StaleTimestamp);
        }
        Ok(matched)
    }

    fn normalize(&self, _req: &InboundRequest, payload: &Payload) -> Normalized {
        let Some(map) = payload.as_json() else {
            return Ignored::unsupported(None, "Stripe events are JSON");
        };
        let Some(event) = path_text(map, &["type"]) else {
            return Ignored::unsupported(None, "the event has no type");
        };
        let Some(object) = path_value(map, &["data", "object"]).and_then(Value::as_object) else {
            return Ignored::unsupported(Some(event), "the event has no data.object");
        };
        let built = match event.as_str() {
            "checkout.session.completed"
            | "checkout.session.async_payment_succeeded"
            | "checkout.session.async_payment_failed"
            | "checkout.session.expired" => checkout_session(&event, object),
            "invoice.paid" | "invoice.payment_succeeded" | "invoice.payment_failed" => {
                invoice(&event, object)
            }
            "charge.refunded" => charge_refunded(object),
            "charge.dispute.created" | "charge.dispute.closed" => dispute(&event, object),
            "customer.subscription.deleted" => subscription_deleted(object),
            _ => Err(skip(false, "this Stripe event is not handled")),
        };
        match built {
            Ok(e) => Normalized::Event(Box::new(NormalizedEvent {
                native_event: Some(event),
                event_id: path_text(map, &["id"]),
                occurred_at: e
                    .occurred_at
                    .or_else(|| unix_time(path_text(map, &["created"]))),
                ..e
            })),
            Err((is_ack, reason)) => Normalized::Ignored(Ignored {
                native_event: Some(event),
                reason,
                is_ack,
            }),
        }
    }

    fn secret_fields(&self) -> &'static [&'static str] {
        &[]
    }
}

/// Why an authentic event is not applied: `(is_ack, reason)`.
type Skip = (bool, String);

fn skip(is_ack: bool, reason: &str) -> Skip {
    (is_ack, reason.to_string())
}

/// `t=<unix>,v1=<hex>,v1=<hex>,v0=<hex>` → the time and the `v1` values.
fn parse_signature(header: &str) -> Result<(i64, Vec<&str>), VerifyError> {
    let mut timestamp = None;
    let mut given = Vec::new();
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", t)) => timestamp = t.trim().parse::<i64>().ok(),
            Some(("v1", sig)) => given.push(sig.trim()),
            _ => {}
        }
    }
    let Some(timestamp) = timestamp else {
        return Err(VerifyError::Malformed(
            "Stripe-Signature has no t=<unix seconds>",
        ));
    };
    if given.is_empty() {
        return Err(VerifyError::MissingProof("a v1 entry in Stripe-Signature"));
    }
    Ok((timestamp, given))
}

fn checkout_session(event: &str, s: &Map<String, Value>) -> Result<NormalizedEvent, Skip> {
    if path_text(s, &["mode"]).as_deref() == Some("subscription") {
        return Err(skip(
            true,
            "a subscription's Checkout Session: its invoice.paid grants access",
        ));
    }
    let is_paid = matches!(
        path_text(s, &["payment_status"]).as_deref(),
        Some("paid" | "no_payment_required")
    );
    let status = match event {
        "checkout.session.completed" if is_paid => CanonicalStatus::Approved,
        "checkout.session.completed" => CanonicalStatus::WaitingPayment,
        "checkout.session.async_payment_succeeded" => CanonicalStatus::Approved,
        "checkout.session.async_payment_failed" => CanonicalStatus::Refused,
        _ => CanonicalStatus::Expired,
    };
    let document = s
        .get("customer_details")
        .and_then(|d| d.get("tax_ids"))
        .and_then(Value::as_array)
        .and_then(|ids| {
            ids.iter().find_map(|id| {
                let kind = id.get("type").and_then(Value::as_str)?;
                matches!(kind, "br_cpf" | "br_cnpj")
                    .then(|| id.get("value").and_then(Value::as_str))
                    .flatten()
                    .map(|v| v.chars().filter(char::is_ascii_digit).collect::<String>())
            })
        });
    Ok(NormalizedEvent {
        transaction_id: id_of(s.get("payment_intent")).or_else(|| path_text(s, &["id"])),
        customer: Customer {
            email: clean_email(
                path_text(s, &["customer_details", "email"])
                    .or_else(|| path_text(s, &["customer_email"])),
            ),
            name: path_text(s, &["customer_details", "name"]),
            phone: path_text(s, &["customer_details", "phone"]),
            document,
        },
        amount_cents: integer(s, "amount_total"),
        currency: currency(s),
        ..NormalizedEvent::new(GatewayKind::Stripe, status)
    })
}

fn invoice(event: &str, inv: &Map<String, Value>) -> Result<NormalizedEvent, Skip> {
    let subscription_id = invoice_subscription(inv);
    let status = match event {
        "invoice.payment_failed" if subscription_id.is_some() => {
            CanonicalStatus::SubscriptionDelayed
        }
        "invoice.payment_failed" => CanonicalStatus::Refused,
        // NOTES-MORE.md § 1: `subscription_cycle` is a renewal; the first
        // invoice (`subscription_create`) and one-off invoices are sales.
        _ if path_text(inv, &["billing_reason"]).as_deref() == Some("subscription_cycle") => {
            CanonicalStatus::SubscriptionRenewed
        }
        _ => CanonicalStatus::Approved,
    };
    let amount_key = match status {
        CanonicalStatus::Refused | CanonicalStatus::SubscriptionDelayed => "amount_due",
        _ => "amount_paid",
    };
    let payment_intent = id_of(inv.get("payment_intent")).or_else(|| {
        // API 2025-03-31 and later: `payments.data[].payment.payment_intent`.
        first_line(inv, "payments")
            .and_then(|p| id_of(path_value(p, &["payment", "payment_intent"])))
    });
    Ok(NormalizedEvent {
        transaction_id: payment_intent.or_else(|| path_text(inv, &["id"])),
        customer: Customer {
            email: clean_email(path_text(inv, &["customer_email"])),
            name: path_text(inv, &["customer_name"]),
            phone: path_text(inv, &["customer_phone"]),
            document: None,
        },
        product: invoice_price(inv),
        product_aliases: invoice_product(inv).into_iter().collect(),
        amount_cents: integer(inv, amount_key),
        currency: currency(inv),
        subscription_id,
        occurred_at: unix_time(path_text(inv, &["status_transitions", "paid_at"])),
        ..NormalizedEvent::new(GatewayKind::Stripe, status)
    })
}

/// The invoice's subscription: top level before API 2025-03-31,
/// `parent.subscription_details.subscription` after; else its first line's.
fn invoice_subscription(inv: &Map<String, Value>) -> Option<String> {
    id_of(inv.get("subscription"))
        .or_else(|| {
            id_of(path_value(
                inv,
                &["parent", "subscription_details", "subscription"],
            ))
        })
        .or_else(|| {
            let line = first_line(inv, "lines")?;
            id_of(line.get("subscription")).or_else(|| {
                id_of(path_value(
                    line,
                    &["parent", "subscription_item_details", "subscription"],
                ))
            })
        })
}

/// The first line's price: `lines.data[].price.id` before API 2025-03-31,
/// `lines.data[].pricing.price_details.price` after.
fn invoice_price(inv: &Map<String, Value>) -> Option<ProductRef> {
    let line = first_line(inv, "lines")?;
    let id = id_of(line.get("price"))
        .or_else(|| id_of(path_value(line, &["pricing", "price_details", "price"])))?;
    Some(ProductRef { id, name: None })
}

/// The Stripe product behind the first line's price: `price.product` before
/// API 2025-03-31, `pricing.price_details.product` after. A product mapped
/// by it is granted whichever of its prices was bought.
fn invoice_product(inv: &Map<String, Value>) -> Option<String> {
    let line = first_line(inv, "lines")?;
    id_of(path_value(line, &["price", "product"]))
        .or_else(|| id_of(path_value(line, &["pricing", "price_details", "product"])))
}

/// `{list}.data[0]` as an object.
fn first_line<'a>(map: &'a Map<String, Value>, list: &str) -> Option<&'a Map<String, Value>> {
    path_value(map, &[list, "data"])?
        .as_array()?
        .first()?
        .as_object()
}

fn charge_refunded(charge: &Map<String, Value>) -> Result<NormalizedEvent, Skip> {
    let amount = integer(charge, "amount");
    let refunded = integer(charge, "amount_refunded");
    let is_full = path_text(charge, &["refunded"]).as_deref() == Some("true")
        || (amount.is_some() && refunded >= amount);
    if !is_full {
        // NOTES-MORE.md § 1: a partial refund is flagged, not revoked.
        return Err(skip(true, "a partial refund: access is kept"));
    }
    Ok(NormalizedEvent {
        transaction_id: id_of(charge.get("payment_intent")).or_else(|| path_text(charge, &["id"])),
        customer: Customer {
            email: clean_email(
                path_text(charge, &["billing_details", "email"])
                    .or_else(|| path_text(charge, &["receipt_email"])),
            ),
            name: path_text(charge, &["billing_details", "name"]),
            phone: path_text(charge, &["billing_details", "phone"]),
            document: None,
        },
        amount_cents: amount,
        currency: currency(charge),
        ..NormalizedEvent::new(GatewayKind::Stripe, CanonicalStatus::Refunded)
    })
}

/// A dispute is a chargeback at once (access is revoked while it is open);
/// one closed as won is not undone automatically.
fn dispute(event: &str, d: &Map<String, Value>) -> Result<NormalizedEvent, Skip> {
    if event == "charge.dispute.closed" {
        match path_text(d, &["status"]).as_deref() {
            Some("lost") => {}
            Some("won") => {
                return Err(skip(
                    false,
                    "the dispute was won: gancho does not restore revoked access; grant it again by hand",
                ))
            }
            _ => return Err(skip(true, "the dispute closed without a loss")),
        }
    }
    Ok(NormalizedEvent {
        transaction_id: id_of(d.get("payment_intent")).or_else(|| id_of(d.get("charge"))),
        amount_cents: integer(d, "amount"),
        currency: currency(d),
        ..NormalizedEvent::new(GatewayKind::Stripe, CanonicalStatus::Chargeback)
    })
}

/// The subscription is over (Stripe sends this when it ends, not when the
/// end is scheduled), so its grants end now.
fn subscription_deleted(sub: &Map<String, Value>) -> Result<NormalizedEvent, Skip> {
    let Some(id) = path_text(sub, &["id"]) else {
        return Err(skip(false, "the subscription has no id"));
    };
    let price = path_value(sub, &["items", "data"])
        .and_then(Value::as_array)
        .and_then(|items| items.first())
        .and_then(|item| id_of(item.get("price")))
        .map(|id| ProductRef { id, name: None });
    Ok(NormalizedEvent {
        subscription_id: Some(id),
        product: price,
        occurred_at: unix_time(path_text(sub, &["ended_at"])),
        ..NormalizedEvent::new(GatewayKind::Stripe, CanonicalStatus::SubscriptionCanceled)
    })
}

/// An id that Stripe sends as a string, or as an expanded object with `id`.
fn id_of(value: Option<&Value>) -> Option<String> {
    match value? {
        Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_string()),
        Value::Object(o) => o.get("id").and_then(|v| id_of(Some(v))),
        _ => None,
    }
}

/// An integer amount in minor units.
fn integer(map: &Map<String, Value>, key: &str) -> Option<i64> {
    map.get(key).and_then(Value::as_i64)
}

/// Stripe's lowercase ISO code (`brl`) in gancho's uppercase.
fn currency(map: &Map<String, Value>) -> Option<String> {
    path_text(map, &["currency"]).map(|c| c.to_ascii_uppercase())
}

fn unix_time(text: Option<String>) -> Option<DateTime<Utc>> {
    let seconds: i64 = text?.parse().ok()?;
    Utc.timestamp_opt(seconds, 0).single()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inbound::gateways::fixture::{
        self, assert_every_fixture_normalizes, event, json_request, Expected,
    };
    use serde_json::json;

    const SECRET: &str = "whsec_test_gancho_5f3c9a1b2d4e6f708192a3b4";
    const OTHER: &str = "whsec_another_one";
    /// The `t` every fixture was signed with.
    const FIXTURE_T: i64 = 1736955000;

    fn at(t: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(t, 0).unwrap()
    }

    fn signature(body: &[u8], secret: &str, t: i64) -> String {
        let mut message = format!("{t}.").into_bytes();
        message.extend_from_slice(body);
        hex::encode(hmac_sha256(secret.as_bytes(), &message))
    }

    /// `body` as Stripe would post it, signed at `t` with `secret`.
    fn signed(body: &Value, secret: &str, t: i64) -> (InboundRequest, Payload) {
        let bytes = serde_json::to_vec(body).unwrap();
        let header = format!("t={t},v1={}", signature(&bytes, secret, t));
        json_request(body, &[("stripe-signature", &header)], &[])
    }

    #[test]
    fn every_fixture_verifies_with_its_secret_only() {
        fixture::assert_only_its_secret_verifies(&Stripe, "stripe", at(FIXTURE_T));
    }

    fn expected(stem: &str) -> Expected<'static> {
        use CanonicalStatus as S;
        let base = Expected {
            status: S::Approved,
            transaction: Some("pi_3QhGanchoJoana0001"),
            subscription: None,
            product: None,
            amount_cents: Some(49700),
            email: Some("joana.exemplo@example.com"),
            is_dated: true,
        };
        match stem {
            "charge_dispute_created" => Expected {
                status: S::Chargeback,
                email: None,
                ..base
            },
            "charge_refunded" => Expected {
                status: S::Refunded,
                ..base
            },
            "checkout_session_completed" => base,
            "customer_subscription_deleted" => Expected {
                status: S::SubscriptionCanceled,
                transaction: None,
                subscription: Some("sub_1QhGanchoJoana01"),
                product: Some("price_1QhGanchoMensal97"),
                amount_cents: None,
                email: None,
                ..base
            },
            "invoice_paid_renewal" => Expected {
                status: S::SubscriptionRenewed,
                transaction: Some("pi_3QhGanchoRenew0003"),
                subscription: Some("sub_1QhGanchoJoana01"),
                product: Some("price_1QhGanchoMensal97"),
                amount_cents: Some(9700),
                ..base
            },
            "invoice_payment_failed" => Expected {
                status: S::SubscriptionDelayed,
                transaction: Some("pi_3QhGanchoRenew0003"),
                subscription: Some("sub_1QhGanchoJoana01"),
                product: Some("price_1QhGanchoMensal97"),
                amount_cents: Some(9700),
                ..base
            },
            other => panic!("no expectation for stripe/{other}"),
        }
    }

    #[test]
    fn every_fixture_normalizes_to_its_expected_event() {
        let events = assert_every_fixture_normalizes(&Stripe, "stripe", expected);

        for (name, e) in events {
            assert!(
                e.event_id.is_some_and(|id| id.starts_with("evt_")),
                "{name}"
            );
        }
    }

    #[test]
    fn stripe_signatures_older_or_newer_than_five_minutes_are_stale() {
        let f = fixture::load("stripe", "checkout_session_completed");
        let verify = |now: i64| Stripe.verify(&f.request, &f.payload, &[SECRET], at(now));

        assert_eq!(verify(FIXTURE_T + 300), Ok(0));
        assert_eq!(verify(FIXTURE_T - 300), Ok(0));
        assert_eq!(verify(FIXTURE_T + 301), Err(VerifyError::StaleTimestamp));
        assert_eq!(verify(FIXTURE_T - 301), Err(VerifyError::StaleTimestamp));
    }

    #[test]
    fn stripe_accepts_any_of_several_v1_signatures_and_ignores_v0() {
        let body = fixture::json("stripe", "invoice_paid_renewal");
        let bytes = serde_json::to_vec(&body).unwrap();
        let now = Utc::now().timestamp();
        let good = signature(&bytes, SECRET, now);
        let header = format!(
            "t={now},v1={},v1={good},v0={}",
            signature(&bytes, OTHER, now),
            signature(&bytes, SECRET, now)
        );
        let only_v0 = format!("t={now},v0={good}");
        let (req, payload) = json_request(&body, &[("stripe-signature", &header)], &[]);
        let (v0_req, v0_payload) = json_request(&body, &[("stripe-signature", &only_v0)], &[]);

        assert_eq!(Stripe.verify(&req, &payload, &[SECRET], Utc::now()), Ok(0));
        assert_eq!(
            Stripe.verify(&v0_req, &v0_payload, &[SECRET], Utc::now()),
            Err(VerifyError::MissingProof("a v1 entry in Stripe-Signature"))
        );
    }

    #[test]
    fn stripe_tampered_unsigned_or_malformed_requests_are_rejected() {
        let f = fixture::load("stripe", "checkout_session_completed");
        let mut tampered = f.request.clone();
        let text = String::from_utf8(f.request.body.to_vec()).unwrap();
        tampered.body = bytes::Bytes::from(text.replacen("49700", "49701", 1));
        let mut unsigned = f.request.clone();
        unsigned.headers.retain(|(k, _)| k != "stripe-signature");
        let mut malformed = f.request.clone();
        malformed.headers = vec![("stripe-signature".into(), "v1=abc".into())];
        let now = at(FIXTURE_T);

        assert_eq!(
            Stripe.verify(&tampered, &f.payload, &[SECRET], now),
            Err(VerifyError::BadSignature("Stripe-Signature"))
        );
        assert!(matches!(
            Stripe.verify(&unsigned, &f.payload, &[SECRET], now),
            Err(VerifyError::MissingProof(_))
        ));
        assert!(matches!(
            Stripe.verify(&malformed, &f.payload, &[SECRET], now),
            Err(VerifyError::Malformed(_))
        ));
    }

    #[test]
    fn stripe_event_resigned_now_with_a_new_secret_verifies_and_follows_its_values() {
        let mut body = fixture::json("stripe", "checkout_session_completed");
        let object = &mut body["data"]["object"];
        object["customer_details"]["email"] = json!(" Pedro.Alves@Example.com ");
        object["payment_intent"] = json!("pi_new");
        object["amount_total"] = json!(12345);
        let (req, payload) = signed(&body, OTHER, Utc::now().timestamp());

        let verified = Stripe.verify(&req, &payload, &[SECRET, OTHER], Utc::now());
        let e = event(Stripe.normalize(&req, &payload));

        assert_eq!(verified, Ok(1));
        assert_eq!(e.customer.email.as_deref(), Some("pedro.alves@example.com"));
        assert_eq!(e.customer.document.as_deref(), Some("52998224725"));
        assert_eq!(e.transaction_id.as_deref(), Some("pi_new"));
        assert_eq!(e.amount_cents, Some(12345));
        assert_eq!(e.currency.as_deref(), Some("BRL"));
        assert_eq!(e.product, None, "a Checkout Session names no product");
    }

    #[test]
    fn stripe_invoices_after_api_2025_03_31_are_read_the_same() {
        let mut body = fixture::json("stripe", "invoice_paid_renewal");
        body["api_version"] = json!("2025-03-31.basil");
        let inv = body["data"]["object"].as_object_mut().unwrap();
        inv.remove("subscription");
        inv.remove("payment_intent");
        inv.remove("charge");
        inv.insert(
            "parent".into(),
            json!({"type": "subscription_details",
                   "subscription_details": {"subscription": "sub_1QhGanchoJoana01"}}),
        );
        inv.insert(
            "payments".into(),
            json!({"object": "list", "data": [{"id": "inpay_1", "payment":
                {"type": "payment_intent", "payment_intent": "pi_3QhGanchoRenew0003"}}]}),
        );
        let line = inv["lines"]["data"][0].as_object_mut().unwrap();
        line.remove("price");
        line.remove("subscription");
        line.insert(
            "pricing".into(),
            json!({"type": "price_details", "price_details":
                {"price": "price_1QhGanchoMensal97", "product": "prod_RgAnchoMentoria"}}),
        );
        let (req, payload) = signed(&body, SECRET, FIXTURE_T);

        let e = event(Stripe.normalize(&req, &payload));

        assert_eq!(e.status, CanonicalStatus::SubscriptionRenewed);
        assert_eq!(e.transaction_id.as_deref(), Some("pi_3QhGanchoRenew0003"));
        assert_eq!(e.subscription_id.as_deref(), Some("sub_1QhGanchoJoana01"));
        assert_eq!(
            e.product.map(|p| p.id).as_deref(),
            Some("price_1QhGanchoMensal97")
        );
    }

    #[test]
    fn stripe_first_invoice_is_a_sale_and_a_subscription_checkout_is_acknowledged() {
        let mut first = fixture::json("stripe", "invoice_paid_renewal");
        first["data"]["object"]["billing_reason"] = json!("subscription_create");
        let mut checkout = fixture::json("stripe", "checkout_session_completed");
        checkout["data"]["object"]["mode"] = json!("subscription");
        checkout["data"]["object"]["payment_intent"] = json!(null);
        let (first_req, first_payload) = signed(&first, SECRET, FIXTURE_T);
        let (co_req, co_payload) = signed(&checkout, SECRET, FIXTURE_T);

        let first = event(Stripe.normalize(&first_req, &first_payload));
        let checkout = Stripe.normalize(&co_req, &co_payload);

        assert_eq!(first.status, CanonicalStatus::Approved);
        assert!(matches!(
            checkout,
            Normalized::Ignored(Ignored { is_ack: true, .. })
        ));
    }

    #[test]
    fn stripe_unpaid_or_async_checkouts_map_to_their_status() {
        let cases = [
            (
                "checkout.session.completed",
                "unpaid",
                CanonicalStatus::WaitingPayment,
            ),
            (
                "checkout.session.async_payment_succeeded",
                "paid",
                CanonicalStatus::Approved,
            ),
            (
                "checkout.session.async_payment_failed",
                "unpaid",
                CanonicalStatus::Refused,
            ),
            (
                "checkout.session.expired",
                "unpaid",
                CanonicalStatus::Expired,
            ),
        ];
        for (kind, payment_status, status) in cases {
            let mut body = fixture::json("stripe", "checkout_session_completed");
            body["type"] = json!(kind);
            body["data"]["object"]["payment_status"] = json!(payment_status);
            let (req, payload) = signed(&body, SECRET, FIXTURE_T);

            let e = event(Stripe.normalize(&req, &payload));

            assert_eq!(e.status, status, "{kind}");
        }
    }

    #[test]
    fn stripe_full_refunds_revoke_the_payment_and_partial_ones_are_acknowledged() {
        let charge = |refunded: i64| {
            json!({"id": "evt_r", "object": "event", "type": "charge.refunded", "created": FIXTURE_T,
                "data": {"object": {"id": "ch_3QhGanchoJoana0001", "object": "charge", "amount": 49700,
                "amount_refunded": refunded, "refunded": refunded == 49700, "currency": "brl",
                "payment_intent": "pi_3QhGanchoJoana0001", "receipt_email": "Joana.Exemplo@example.com",
                "billing_details": {"email": null, "name": "Joana Exemplo", "phone": null}}}})
        };
        let (full_req, full_payload) = signed(&charge(49700), SECRET, FIXTURE_T);
        let (part_req, part_payload) = signed(&charge(100), SECRET, FIXTURE_T);

        let full = event(Stripe.normalize(&full_req, &full_payload));
        let partial = Stripe.normalize(&part_req, &part_payload);

        assert_eq!(full.status, CanonicalStatus::Refunded);
        assert_eq!(
            full.transaction_id.as_deref(),
            Some("pi_3QhGanchoJoana0001")
        );
        assert_eq!(
            full.customer.email.as_deref(),
            Some("joana.exemplo@example.com")
        );
        assert!(matches!(
            partial,
            Normalized::Ignored(Ignored { is_ack: true, .. })
        ));
    }

    #[test]
    fn stripe_closed_disputes_are_chargebacks_only_when_lost() {
        let closed = |status: &str| {
            let mut body = fixture::json("stripe", "charge_dispute_created");
            body["type"] = json!("charge.dispute.closed");
            body["data"]["object"]["status"] = json!(status);
            signed(&body, SECRET, FIXTURE_T)
        };
        let (lost_req, lost_payload) = closed("lost");
        let (won_req, won_payload) = closed("won");

        let lost = event(Stripe.normalize(&lost_req, &lost_payload));
        let won = Stripe.normalize(&won_req, &won_payload);

        assert_eq!(lost.status, CanonicalStatus::Chargeback);
        assert!(matches!(
            won,
            Normalized::Ignored(Ignored { is_ack: false, .. })
        ));
    }

    #[test]
    fn stripe_other_events_are_ignored() {
        let mut body = fixture::json("stripe", "customer_subscription_deleted");
        body["type"] = json!("customer.subscription.updated");
        let (req, payload) = signed(&body, SECRET, FIXTURE_T);

        let result = Stripe.normalize(&req, &payload);

        assert!(matches!(
            result,
            Normalized::Ignored(Ignored { native_event: Some(n), .. }) if n == "customer.subscription.updated"
        ));
    }

    #[test]
    fn stripe_bad_payloads_never_panic() {
        let bodies = [
            json!({"type": "invoice.paid"}),
            json!({"type": "invoice.paid", "data": {"object": {"lines": {"data": "x"}, "amount_paid": "9"}}}),
            json!({"type": "invoice.paid", "data": {"object": {"payments": {"data": [{"payment": 3}]}}}}),
            json!({"type": "checkout.session.completed", "data": {"object": {"customer_details": {"tax_ids": [1, {"type": 2}]}}}}),
            json!({"type": "charge.refunded", "data": {"object": {"amount": "all"}}}),
            json!({"type": "charge.dispute.closed", "data": {"object": {"status": 5}}}),
            json!({"type": "customer.subscription.deleted", "data": {"object": {"items": []}}}),
            json!({"type": 5, "data": {"object": {}}}),
            json!({}),
        ];
        for body in bodies {
            let (req, payload) = signed(&body, SECRET, FIXTURE_T);

            if let Normalized::Event(e) = Stripe.normalize(&req, &payload) {
                assert_eq!(e.amount_cents, None, "{body}");
            }
        }
    }
}
