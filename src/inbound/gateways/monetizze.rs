//! Monetizze: postback 2.0, form fields with bracketed keys
//! (`venda[codigo]`, `comprador[email]`, `produto[codigo]`, …; nested JSON
//! objects are read the same way), proven by `chave_unica` = the producer's
//! key, compared in constant time. Monetizze signs nothing.
//!
//! Everything here is LOW (../shared/gateways/NOTES-MORE.md § 13: from
//! memory, and a third-party parser numbers the statuses differently). So
//! the status is read from its text first (`venda[status]`, then
//! `tipoPostback[descricao]`: "Finalizada", "Cancelada", "Devolvida", …),
//! which does not depend on the numbering; the remembered codes
//! (1 aguardando, 2 finalizada, 3 cancelada, 4 devolvida, 5 bloqueada,
//! 6 completa) are the fallback. A charge of a subscription
//! (`assinatura[parcela]` > 1) that is paid is a renewal.

use chrono::{DateTime, Utc};

use super::{GatewayAdapter, Ignored, Normalized, Proof, SecretSource, Setup};
use crate::inbound::normalize::{
    any_time, clean_email, decimal_to_cents, CanonicalStatus, Customer, GatewayKind,
    NormalizedEvent, ProductRef,
};
use crate::inbound::request::{path_text, InboundRequest, Payload};
use crate::inbound::verify::{token_proof, VerifyError};

/// The Monetizze adapter.
pub struct Monetizze;

impl GatewayAdapter for Monetizze {
    fn kind(&self) -> GatewayKind {
        GatewayKind::Monetizze
    }

    fn setup(&self) -> Setup {
        Setup {
            name: "Monetizze",
            formats: "postback (form, bracketed keys)",
            proof: Proof::BodyToken,
            proof_detail: "body chave_unica = the producer's chave única",
            is_token_in_url: false,
            secret: SecretSource::FromGateway,
            where_to_paste: "Na Monetizze, vá em Ferramentas > Postback (ou Integrações > Postback), cadastre a URL do gancho para o produto e copie a chave única para o gancho.",
        }
    }

    fn detect(&self, _req: &InboundRequest, payload: &Payload) -> bool {
        payload.text("chave_unica").is_some()
            || (field(payload, "venda", "codigo").is_some()
                && field(payload, "comprador", "email").is_some())
    }

    fn verify(
        &self,
        _req: &InboundRequest,
        payload: &Payload,
        secrets: &[&str],
        _now: DateTime<Utc>,
    ) -> Result<usize, VerifyError> {
        token_proof(
            "monetizze",
            "chave_unica field",
            payload.text("chave_unica").as_deref(),
            secrets,
        )
    }

    fn normalize(&self, _req: &InboundRequest, payload: &Payload) -> Normalized {
        let text = field(payload, "venda", "status")
            .or_else(|| field(payload, "tipoPostback", "descricao"));
        let code = field(payload, "tipoPostback", "codigo");
        let native = match (&text, &code) {
            (Some(t), _) => format!("venda[status]={t}"),
            (None, Some(c)) => format!("tipoPostback[codigo]={c}"),
            (None, None) => {
                return Ignored::unsupported(None, "the postback has no status");
            }
        };
        let parcel: Option<u32> =
            field(payload, "assinatura", "parcela").and_then(|p| p.parse().ok());
        let status = text
            .as_deref()
            .and_then(status_from_text)
            .or_else(|| code.as_deref().and_then(status_from_code));
        let Some(status) = status else {
            return Ignored::unsupported(Some(native), "this Monetizze status is not handled");
        };
        let status = match status {
            CanonicalStatus::Approved if parcel.is_some_and(|p| p > 1) => {
                CanonicalStatus::SubscriptionRenewed
            }
            other => other,
        };
        let Some(sale) = field(payload, "venda", "codigo") else {
            return Ignored::unsupported(Some(native), "the postback has no venda[codigo]");
        };
        Normalized::Event(Box::new(NormalizedEvent {
            transaction_id: Some(sale),
            customer: Customer {
                email: clean_email(field(payload, "comprador", "email")),
                name: field(payload, "comprador", "nome"),
                phone: field(payload, "comprador", "telefone"),
                document: field(payload, "comprador", "cnpj_cpf"),
            },
            product: field(payload, "produto", "codigo").map(|id| ProductRef {
                id,
                name: field(payload, "produto", "nome"),
            }),
            amount_cents: field(payload, "venda", "valor").and_then(|v| decimal_to_cents(&v)),
            currency: Some("BRL".to_string()),
            subscription_id: field(payload, "assinatura", "codigo"),
            recurrence: parcel,
            occurred_at: ["dataFinalizada", "dataInicio"]
                .iter()
                .filter_map(|k| field(payload, "venda", k))
                .find_map(|t| any_time(&t)),
            native_event: Some(native),
            ..NormalizedEvent::new(GatewayKind::Monetizze, status)
        }))
    }

    fn secret_fields(&self) -> &'static [&'static str] {
        &["chave_unica"]
    }
}

/// `group[key]` as a form field, or `{group: {key}}` in JSON.
fn field(payload: &Payload, group: &str, key: &str) -> Option<String> {
    payload
        .text(&format!("{group}[{key}]"))
        .or_else(|| payload.as_json().and_then(|m| path_text(m, &[group, key])))
}

fn status_from_text(text: &str) -> Option<CanonicalStatus> {
    let text = text.trim().to_lowercase();
    Some(match text.as_str() {
        "finalizada" | "aprovada" | "aprovado" => CanonicalStatus::Approved,
        "completa" | "completo" => CanonicalStatus::Completed,
        "cancelada" | "cancelado" | "bloqueada" => CanonicalStatus::Canceled,
        "devolvida" | "estornada" | "estornado" | "reembolsada" => CanonicalStatus::Refunded,
        "chargeback" => CanonicalStatus::Chargeback,
        t if t.starts_with("aguardando") => CanonicalStatus::WaitingPayment,
        _ => return None,
    })
}

fn status_from_code(code: &str) -> Option<CanonicalStatus> {
    Some(match code.trim() {
        "1" => CanonicalStatus::WaitingPayment,
        "2" => CanonicalStatus::Approved,
        "3" | "5" => CanonicalStatus::Canceled,
        "4" => CanonicalStatus::Refunded,
        "6" => CanonicalStatus::Completed,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inbound::gateways::fixture::{self, assert_every_fixture_normalizes, Expected};
    use crate::inbound::request::BodyKind;
    use bytes::Bytes;

    fn form(pairs: &[(&str, &str)]) -> (InboundRequest, Payload) {
        let mut out = form_urlencoded::Serializer::new(String::new());
        for (k, v) in pairs {
            out.append_pair(k, v);
        }
        let body = out.finish().into_bytes();
        let payload = Payload::parse(BodyKind::Form, &body).unwrap();
        let req = InboundRequest {
            headers: vec![],
            query: vec![],
            body: Bytes::from(body),
            kind: BodyKind::Form,
        };
        (req, payload)
    }

    #[test]
    fn every_fixture_verifies_with_its_key_only() {
        fixture::assert_only_its_secret_verifies(&Monetizze, "monetizze", Utc::now());
    }

    fn expected(stem: &str) -> Expected<'static> {
        use CanonicalStatus as S;
        let base = Expected {
            status: S::Approved,
            transaction: Some("98765432"),
            subscription: None,
            product: Some("123456"),
            amount_cents: Some(49700),
            email: Some("joana.exemplo@example.com"),
            is_dated: true,
        };
        match stem {
            "cancelada" => Expected {
                status: S::Canceled,
                ..base
            },
            "devolvida" => Expected {
                status: S::Refunded,
                ..base
            },
            "finalizada" => base,
            other => panic!("no expectation for monetizze/{other}"),
        }
    }

    #[test]
    fn every_fixture_normalizes_to_its_expected_event() {
        let events = assert_every_fixture_normalizes(&Monetizze, "monetizze", expected);

        for (name, e) in events {
            assert_eq!(
                e.occurred_at.map(|t| t.to_rfc3339()).as_deref(),
                Some("2025-01-15T15:25:01+00:00"),
                "{name}"
            );
        }
    }

    #[test]
    fn monetizze_codes_are_the_fallback_and_later_parcels_renew() {
        let (by_code, by_code_payload) = form(&[
            ("chave_unica", "k"),
            ("tipoPostback[codigo]", "2"),
            ("venda[codigo]", "V1"),
            ("assinatura[codigo]", "A1"),
            ("assinatura[parcela]", "3"),
            ("comprador[email]", "x@y.com"),
        ]);
        let (unknown, unknown_payload) = form(&[
            ("chave_unica", "k"),
            ("venda[status]", "Nova"),
            ("venda[codigo]", "V1"),
        ]);

        let e = fixture::event(Monetizze.normalize(&by_code, &by_code_payload));
        let unknown = Monetizze.normalize(&unknown, &unknown_payload);

        assert_eq!(e.status, CanonicalStatus::SubscriptionRenewed);
        assert_eq!(e.subscription_id.as_deref(), Some("A1"));
        assert_eq!(e.recurrence, Some(3));
        assert!(matches!(unknown, Normalized::Ignored(_)));
    }

    #[test]
    fn monetizze_status_texts_map_to_canonical_ones() {
        let cases = [
            ("Devolvida", Some(CanonicalStatus::Refunded)),
            ("Completa", Some(CanonicalStatus::Completed)),
            ("Bloqueada", Some(CanonicalStatus::Canceled)),
            (
                "Aguardando pagamento",
                Some(CanonicalStatus::WaitingPayment),
            ),
            ("Chargeback", Some(CanonicalStatus::Chargeback)),
            ("Outra", None),
        ];
        for (text, expected) in cases {
            assert_eq!(status_from_text(text), expected, "{text}");
        }
    }

    #[test]
    fn monetizze_without_the_key_is_rejected() {
        let (req, payload) = form(&[("venda[codigo]", "V1"), ("comprador[email]", "x@y.com")]);

        assert!(Monetizze.detect(&req, &payload));
        assert!(matches!(
            Monetizze.verify(&req, &payload, &["k"], Utc::now()),
            Err(VerifyError::MissingProof(_))
        ));
    }

    #[test]
    fn monetizze_bad_payloads_never_panic() {
        for pairs in [
            vec![("venda[status]", "Finalizada")],
            vec![
                ("venda[status]", "Finalizada"),
                ("venda[codigo]", "1"),
                ("venda[valor]", "x"),
            ],
            vec![("tipoPostback[codigo]", "abc")],
            vec![("x", "y")],
        ] {
            let (req, payload) = form(&pairs);

            if let Normalized::Event(e) = Monetizze.normalize(&req, &payload) {
                assert_eq!(e.amount_cents, None, "{pairs:?}");
            }
        }
    }
}
