//! Cakto: JSON `{secret, event, data}`. Proof: newer deliveries carry
//! `X-Cakto-Timestamp` (unix s) and `X-Cakto-Signature: v1=<hex HMAC-SHA256
//! of "<ts>." + raw body keyed by the webhook secret>`, checked with a
//! 5-minute window; when the signature header is present it must match and
//! the body is not consulted. Without it, the body's `secret` must equal the
//! key. NOTES-MORE.md § 5 (MEDIUM for the headers: implementations citing
//! Cakto's page, which was seen only in part).
//!
//! Unlike Eduzz's hub (issue 11), the unsigned form stays accepted: Cakto
//! puts in every body the very secret that keys the signature (HIGH), so a
//! call without the headers proves as much as a signed one (whoever can read
//! a call can also sign one), and older deliveries carry no headers at all.
//!
//! Sellers map by `data.product.id`. `data.subscription.current_period` is
//! read as the charge number (LOW: the name suggests it).

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use super::{GatewayAdapter, Ignored, Normalized, Proof, SecretSource, Setup};
use crate::inbound::normalize::{
    any_time, clean_email, decimal_to_cents, CanonicalStatus, Customer, GatewayKind,
    NormalizedEvent, ProductRef,
};
use crate::inbound::request::{path_text, InboundRequest, Payload};
use crate::inbound::verify::{first_match, hex_digest_eq, hmac_sha256, token_proof, VerifyError};

/// How far `X-Cakto-Timestamp` may be from now, either way.
const TOLERANCE_SECONDS: u64 = 5 * 60;

/// The Cakto adapter.
pub struct Cakto;

impl GatewayAdapter for Cakto {
    fn kind(&self) -> GatewayKind {
        GatewayKind::Cakto
    }

    fn setup(&self) -> Setup {
        Setup {
            name: "Cakto",
            formats: "JSON",
            proof: Proof::Signature,
            proof_detail: "X-Cakto-Signature: v1=… = hex HMAC-SHA256 of \"timestamp.body\" (5-minute tolerance); without it, the body's secret",
            is_token_in_url: false,
            secret: SecretSource::FromGateway,
            where_to_paste: "Na Cakto, abra o produto > aba Integrações > Webhooks > Adicionar. Cole a URL do gancho, escolha o produto e os eventos, e copie a Chave secreta do webhook para o gancho. Use Enviar teste para confirmar.",
        }
    }

    fn detect(&self, req: &InboundRequest, payload: &Payload) -> bool {
        let Payload::Json(map) = payload else {
            return false;
        };
        let is_bot = req
            .header("user-agent")
            .is_some_and(|ua| ua.starts_with("CaktoBot"));
        req.header("x-cakto-signature").is_some()
            || is_bot
            || (map.contains_key("secret")
                && map.get("event").is_some_and(Value::is_string)
                && map.get("data").is_some_and(Value::is_object)
                && !map.contains_key("version"))
    }

    fn verify(
        &self,
        req: &InboundRequest,
        payload: &Payload,
        secrets: &[&str],
        now: DateTime<Utc>,
    ) -> Result<usize, VerifyError> {
        let Some(signature) = req.header("x-cakto-signature") else {
            return token_proof(
                "cakto",
                "X-Cakto-Signature header or body secret",
                payload.text("secret").as_deref(),
                secrets,
            );
        };
        if secrets.iter().all(|s| s.is_empty()) {
            return Err(VerifyError::NoKeys("cakto"));
        }
        let timestamp: i64 = req
            .header("x-cakto-timestamp")
            .and_then(|t| t.trim().parse().ok())
            .ok_or(VerifyError::Malformed(
                "X-Cakto-Timestamp is missing or not unix seconds",
            ))?;
        let given: Vec<&str> = signature
            .split(',')
            .map(|part| part.trim().strip_prefix("v1=").unwrap_or(part.trim()))
            .collect();
        let mut message = format!("{timestamp}.").into_bytes();
        message.extend_from_slice(&req.body);
        let matched = first_match(secrets, |s| {
            let expected = hex::encode(hmac_sha256(s.as_bytes(), &message));
            !s.is_empty() && given.iter().any(|g| hex_digest_eq(g, &expected))
        })
        .ok_or(VerifyError::BadSignature("X-Cakto-Signature"))?;
        if now.timestamp().abs_diff(timestamp) > TOLERANCE_SECONDS {
            return Err(VerifyError::StaleTimestamp);
        }
        Ok(matched)
    }

    fn normalize(&self, _req: &InboundRequest, payload: &Payload) -> Normalized {
        let Some(map) = payload.as_json() else {
            return Ignored::unsupported(None, "Cakto webhooks are JSON");
        };
        let Some(event) = path_text(map, &["event"]) else {
            return Ignored::unsupported(None, "the body has no event");
        };
        let status = match status(&event) {
            Ok(status) => status,
            Err(is_ack) => {
                return Normalized::Ignored(Ignored {
                    native_event: Some(event),
                    reason: if is_ack {
                        "this Cakto event does not change access (purchase_approved grants)".into()
                    } else {
                        "this Cakto event is not handled".into()
                    },
                    is_ack,
                })
            }
        };
        let Some(data) = map.get("data").and_then(Value::as_object) else {
            return Ignored::unsupported(Some(event), "the body has no data object");
        };
        let access_ends_at = (status == CanonicalStatus::SubscriptionCanceled)
            .then(|| path_text(data, &["subscription", "next_payment_date"]))
            .flatten()
            .and_then(|t| any_time(&t));
        Normalized::Event(Box::new(NormalizedEvent {
            transaction_id: path_text(data, &["id"]),
            customer: Customer {
                email: clean_email(path_text(data, &["customer", "email"])),
                name: path_text(data, &["customer", "name"]),
                phone: path_text(data, &["customer", "phone"]),
                document: path_text(data, &["customer", "docNumber"]),
            },
            product: path_text(data, &["product", "id"]).map(|id| ProductRef {
                id,
                name: path_text(data, &["product", "name"]),
            }),
            amount_cents: path_text(data, &["amount"]).and_then(|a| decimal_to_cents(&a)),
            // Cakto sells in reais only.
            currency: Some("BRL".to_string()),
            subscription_id: path_text(data, &["subscription", "id"]),
            recurrence: path_text(data, &["subscription", "current_period"])
                .and_then(|p| p.parse().ok()),
            occurred_at: occurred_at(data, status),
            native_event: Some(event),
            access_ends_at,
            ..NormalizedEvent::new(GatewayKind::Cakto, status)
        }))
    }

    fn secret_fields(&self) -> &'static [&'static str] {
        &["secret"]
    }
}

/// NOTES-MORE.md § 5. `Err(true)`: known, changes nothing; `Err(false)`: not handled.
fn status(event: &str) -> Result<CanonicalStatus, bool> {
    Ok(match event {
        "purchase_approved" => CanonicalStatus::Approved,
        "subscription_renewed" => CanonicalStatus::SubscriptionRenewed,
        "refund" => CanonicalStatus::Refunded,
        "chargeback" => CanonicalStatus::Chargeback,
        "purchase_refused" => CanonicalStatus::Refused,
        "pix_gerado" | "boleto_gerado" | "picpay_gerado" | "openfinance_nubank_gerado" => {
            CanonicalStatus::WaitingPayment
        }
        // Cakto retries a refused renewal: a grace period, not an end.
        "subscription_renewal_refused" | "subscription_late" => {
            CanonicalStatus::SubscriptionDelayed
        }
        "subscription_canceled" => CanonicalStatus::SubscriptionCanceled,
        "checkout_abandonment" => CanonicalStatus::CartAbandoned,
        // purchase_approved fires too, so the creation grants nothing more.
        "subscription_created" | "initiate_checkout" => return Err(true),
        _ => return Err(false),
    })
}

fn occurred_at(data: &Map<String, Value>, status: CanonicalStatus) -> Option<DateTime<Utc>> {
    let is_payment = matches!(
        status,
        CanonicalStatus::Approved | CanonicalStatus::SubscriptionRenewed
    );
    let paid_at = is_payment.then(|| path_text(data, &["paidAt"])).flatten();
    [paid_at, path_text(data, &["createdAt"])]
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
    use chrono::TimeZone;
    use serde_json::json;

    const SECRET: &str = "7c1e2f0a-3b4d-4e5f-8a9b-test-cakto-sec";
    /// The timestamp every fixture was signed with.
    const FIXTURE_T: i64 = 1736955000;

    fn at(t: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(t, 0).unwrap()
    }

    /// `body` as Cakto would post it, signed at `t` with `secret`.
    fn signed(body: &Value, secret: &str, t: i64) -> (InboundRequest, Payload) {
        let bytes = serde_json::to_vec(body).unwrap();
        let mut message = format!("{t}.").into_bytes();
        message.extend_from_slice(&bytes);
        let sig = format!(
            "v1={}",
            hex::encode(hmac_sha256(secret.as_bytes(), &message))
        );
        json_request(
            body,
            &[
                ("x-cakto-timestamp", &t.to_string()),
                ("x-cakto-signature", &sig),
            ],
            &[],
        )
    }

    #[test]
    fn every_fixture_verifies_with_its_secret_only() {
        fixture::assert_only_its_secret_verifies(&Cakto, "cakto", at(FIXTURE_T));
    }

    fn expected(stem: &str) -> Expected<'static> {
        use CanonicalStatus as S;
        let base = Expected {
            status: S::Approved,
            transaction: Some("9a1b2c3d-4e5f-4a6b-8c7d-0e1f2a3b4c5d"),
            subscription: None,
            product: Some("3f2e1d0c-gancho-prod-0001"),
            amount_cents: Some(49700),
            email: Some("joana.exemplo@example.com"),
            is_dated: true,
        };
        match stem {
            "chargeback" => Expected {
                status: S::Chargeback,
                ..base
            },
            "pix_gerado" => Expected {
                status: S::WaitingPayment,
                ..base
            },
            "purchase_approved" => base,
            "refund" => Expected {
                status: S::Refunded,
                ..base
            },
            "subscription_canceled" => Expected {
                status: S::SubscriptionCanceled,
                transaction: Some("1b2c3d4e-gancho-ord-0002"),
                subscription: Some("sUbGaNcHo01"),
                amount_cents: Some(9700),
                ..base
            },
            "subscription_renewed" => Expected {
                status: S::SubscriptionRenewed,
                transaction: Some("1b2c3d4e-gancho-ord-0002"),
                subscription: Some("sUbGaNcHo01"),
                amount_cents: Some(9700),
                ..base
            },
            other => panic!("no expectation for cakto/{other}"),
        }
    }

    #[test]
    fn every_fixture_normalizes_to_its_expected_event() {
        assert_every_fixture_normalizes(&Cakto, "cakto", expected);
    }

    #[test]
    fn cakto_reads_amounts_times_and_the_period_end() {
        let approved = fixture::load("cakto", "purchase_approved");
        let canceled = fixture::load("cakto", "subscription_canceled");

        let approved = event(Cakto.normalize(&approved.request, &approved.payload));
        let canceled = event(Cakto.normalize(&canceled.request, &canceled.payload));

        assert_eq!(approved.amount_cents, Some(49700));
        assert_eq!(approved.customer.document.as_deref(), Some("52998224725"));
        assert_eq!(
            approved.occurred_at.map(|t| t.to_rfc3339()).as_deref(),
            Some("2025-01-15T15:25:01+00:00")
        );
        assert_eq!(canceled.recurrence, Some(2));
        assert_eq!(
            canceled.access_ends_at.map(|t| t.to_rfc3339()).as_deref(),
            Some("2025-03-17T11:00:00+00:00")
        );
    }

    #[test]
    fn cakto_stale_signatures_are_rejected() {
        let f = fixture::load("cakto", "purchase_approved");
        let verify = |now: i64| Cakto.verify(&f.request, &f.payload, &[SECRET], at(now));

        assert_eq!(verify(FIXTURE_T + 300), Ok(0));
        assert_eq!(verify(FIXTURE_T + 301), Err(VerifyError::StaleTimestamp));
        assert_eq!(verify(FIXTURE_T - 301), Err(VerifyError::StaleTimestamp));
    }

    #[test]
    fn cakto_signature_resigned_now_with_a_new_secret_verifies() {
        let mut body = fixture::json("cakto", "purchase_approved");
        body["secret"] = json!("new-secret");
        body["data"]["id"] = json!("order-new");
        let (req, payload) = signed(&body, "new-secret", Utc::now().timestamp());

        let verified = Cakto.verify(&req, &payload, &[SECRET, "new-secret"], Utc::now());
        let e = event(Cakto.normalize(&req, &payload));

        assert_eq!(verified, Ok(1));
        assert_eq!(e.transaction_id.as_deref(), Some("order-new"));
    }

    #[test]
    fn cakto_wrong_signature_does_not_fall_back_to_the_body_secret() {
        let body = fixture::json("cakto", "purchase_approved");
        let (req, payload) = signed(&body, "not-the-secret", FIXTURE_T);
        let (body_only, body_payload) = json_request(&body, &[], &[]);

        let signed = Cakto.verify(&req, &payload, &[SECRET], at(FIXTURE_T));
        let body_only = Cakto.verify(&body_only, &body_payload, &[SECRET], at(FIXTURE_T));

        assert_eq!(signed, Err(VerifyError::BadSignature("X-Cakto-Signature")));
        assert_eq!(
            body_only,
            Ok(0),
            "the body secret alone proves an older delivery"
        );
    }

    #[test]
    fn cakto_without_a_signature_or_the_body_secret_is_rejected() {
        let mut body = fixture::json("cakto", "purchase_approved");
        body.as_object_mut().unwrap().remove("secret");
        let ts = FIXTURE_T.to_string();
        let (bare, bare_payload) = json_request(&body, &[], &[]);
        // A timestamp alone signs nothing.
        let (dated, dated_payload) = json_request(&body, &[("x-cakto-timestamp", &ts)], &[]);

        let bare = Cakto.verify(&bare, &bare_payload, &[SECRET], at(FIXTURE_T));
        let dated = Cakto.verify(&dated, &dated_payload, &[SECRET], at(FIXTURE_T));

        assert!(
            matches!(bare, Err(VerifyError::MissingProof(_))),
            "{bare:?}"
        );
        assert!(
            matches!(dated, Err(VerifyError::MissingProof(_))),
            "{dated:?}"
        );
    }

    #[test]
    fn cakto_events_map_to_canonical_ones() {
        let cases = [
            (
                "subscription_renewed",
                Some(CanonicalStatus::SubscriptionRenewed),
            ),
            ("purchase_refused", Some(CanonicalStatus::Refused)),
            ("boleto_gerado", Some(CanonicalStatus::WaitingPayment)),
            (
                "subscription_renewal_refused",
                Some(CanonicalStatus::SubscriptionDelayed),
            ),
            ("checkout_abandonment", Some(CanonicalStatus::CartAbandoned)),
            ("subscription_created", None),
            ("something_new", None),
        ];
        for (name, expected) in cases {
            let mut body = fixture::json("cakto", "purchase_approved");
            body["event"] = json!(name);
            let (req, payload) = json_request(&body, &[], &[]);

            match (expected, Cakto.normalize(&req, &payload)) {
                (Some(s), Normalized::Event(e)) => assert_eq!(e.status, s, "{name}"),
                (None, Normalized::Ignored(i)) => assert_eq!(i.native_event.as_deref(), Some(name)),
                (_, other) => panic!("{name}: {other:?}"),
            }
        }
    }

    #[test]
    fn cakto_bad_payloads_never_panic() {
        let bodies = [
            json!({"event": "purchase_approved"}),
            json!({"event": "purchase_approved", "data": {"amount": "abc", "customer": 1}}),
            json!({"event": "subscription_canceled", "data": {"subscription": {"next_payment_date": 5}}}),
            json!({"event": [], "data": {}}),
            json!({}),
        ];
        for body in bodies {
            let (req, payload) = json_request(&body, &[], &[]);

            if let Normalized::Event(e) = Cakto.normalize(&req, &payload) {
                assert_eq!(e.amount_cents, None, "{body}");
            }
        }
    }
}
