//! One adapter per gateway behind [`GatewayAdapter`]. Adding a gateway means
//! one new file here, a `GatewayKind` variant, a line in [`ADAPTERS`] and in
//! [`adapter`], and its fixtures in `tests/fixtures/gateways/`. Adapters are
//! pure: they read an [`InboundRequest`] and never touch storage or the clock
//! (the time they need comes in as an argument).

mod asaas;
mod braip;
mod cakto;
mod dmguru;
mod eduzz;
mod generic;
mod greenn;
mod herospark;
mod hotmart;
mod hubla;
mod kirvano;
mod kiwify;
mod lastlink;
mod monetizze;
mod pagarme;
mod payt;
mod perfectpay;
mod stripe;
mod ticto;
mod tmb;
mod voomp;
mod xgrow;

use chrono::{DateTime, Utc};

use crate::inbound::normalize::{GatewayKind, NormalizedEvent};
use crate::inbound::request::{InboundRequest, Payload};
use crate::inbound::verify::VerifyError;

/// What a gateway adapter made of an authentic request.
#[derive(Debug, Clone, PartialEq)]
pub enum Normalized {
    /// A canonical event for the ledger.
    Event(Box<NormalizedEvent>),
    /// Authentic, but nothing for the ledger (DESIGN.md: `200 ignored`).
    Ignored(Ignored),
}

/// Why an authentic request is ignored.
#[derive(Debug, Clone, PartialEq)]
pub struct Ignored {
    /// The gateway's name for the event, when it has one.
    pub native_event: Option<String>,
    /// Shown in the log entry.
    pub reason: String,
    /// `true` for health checks (Eduzz `ping`): logged as a success, since
    /// there is nothing to fix and nothing to reprocess.
    pub is_ack: bool,
}

impl Ignored {
    pub fn unsupported(native_event: Option<String>, reason: impl Into<String>) -> Normalized {
        Normalized::Ignored(Ignored {
            native_event,
            reason: reason.into(),
            is_ack: false,
        })
    }
}

/// How a gateway proves a webhook authentic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Proof {
    /// An HMAC of the body keyed by the key's secret.
    Signature,
    /// A static token in a header, compared in constant time.
    HeaderToken,
    /// A static token in a body field, compared in constant time.
    BodyToken,
    /// The gateway offers none: gancho's token in the URL's `?token=`.
    QueryToken,
}

/// Where a key's secret comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SecretSource {
    /// gancho generates it (leave `secret` out when creating the key) and
    /// the seller pastes it into the gateway's panel or the URL.
    Generated,
    /// The gateway shows it; the seller pastes it into gancho.
    FromGateway,
}

/// What a seller needs to connect a gateway to gancho (`GET /api/v1/gateways`).
/// Each adapter states its own, next to the code that checks the proof.
#[derive(Debug, Clone, PartialEq)]
pub struct Setup {
    /// The gateway's name as sellers know it.
    pub name: &'static str,
    pub formats: &'static str,
    pub proof: Proof,
    /// Where the proof travels and what it is compared with.
    pub proof_detail: &'static str,
    /// The URL pasted into the gateway must end in `?token=<the key's secret>`.
    pub is_token_in_url: bool,
    pub secret: SecretSource,
    /// pt-BR: where in the gateway's panel to paste the URL and the token.
    pub where_to_paste: &'static str,
}

/// A gateway's webhook format: how to recognise it, prove it, and read it.
pub trait GatewayAdapter: Send + Sync {
    fn kind(&self) -> GatewayKind;

    /// How a seller connects this gateway: its proof and where to paste.
    fn setup(&self) -> Setup;

    /// Whether the request has this gateway's shape. Used on the global
    /// URL without `?gateway=`; must not depend on secrets.
    fn detect(&self, req: &InboundRequest, payload: &Payload) -> bool;

    /// Proves the request authentic with one of `secrets` (the workspace's
    /// keys of this gateway) and returns the index of the key that matched.
    /// `now` is only for timestamp tolerance.
    fn verify(
        &self,
        req: &InboundRequest,
        payload: &Payload,
        secrets: &[&str],
        now: DateTime<Utc>,
    ) -> Result<usize, VerifyError>;

    /// Reads the payload into a canonical event.
    fn normalize(&self, req: &InboundRequest, payload: &Payload) -> Normalized;

    /// Body field names that carry secrets; their values are redacted in
    /// stored log entries.
    fn secret_fields(&self) -> &'static [&'static str];
}

/// Every adapter. Each adapter's `detect` is specific enough that no
/// fixture matches two (checked by `every_fixture_is_detected_as_its_gateway_only`
/// below); a request that still matches several is refused, not guessed.
static ADAPTERS: &[&dyn GatewayAdapter] = &[
    &generic::Generic,
    &stripe::Stripe,
    &kiwify::Kiwify,
    &eduzz::Eduzz,
    &hotmart::Hotmart,
    &asaas::Asaas,
    &pagarme::Pagarme,
    &hubla::Hubla,
    &cakto::Cakto,
    &kirvano::Kirvano,
    &greenn::Greenn,
    &perfectpay::PerfectPay,
    &ticto::Ticto,
    &monetizze::Monetizze,
    &braip::Braip,
    &lastlink::LastLink,
    &tmb::Tmb,
    &payt::Payt,
    &herospark::HeroSpark,
    &dmguru::DmGuru,
    &xgrow::Xgrow,
    &voomp::Voomp,
];

/// The adapter for a gateway.
pub fn adapter(kind: GatewayKind) -> &'static dyn GatewayAdapter {
    match kind {
        GatewayKind::Hotmart => &hotmart::Hotmart,
        GatewayKind::Kiwify => &kiwify::Kiwify,
        GatewayKind::Eduzz => &eduzz::Eduzz,
        GatewayKind::Generic => &generic::Generic,
        GatewayKind::Stripe => &stripe::Stripe,
        GatewayKind::Voomp => &voomp::Voomp,
        GatewayKind::Xgrow => &xgrow::Xgrow,
        GatewayKind::DmGuru => &dmguru::DmGuru,
        GatewayKind::HeroSpark => &herospark::HeroSpark,
        GatewayKind::Payt => &payt::Payt,
        GatewayKind::Tmb => &tmb::Tmb,
        GatewayKind::LastLink => &lastlink::LastLink,
        GatewayKind::Braip => &braip::Braip,
        GatewayKind::Monetizze => &monetizze::Monetizze,
        GatewayKind::Ticto => &ticto::Ticto,
        GatewayKind::PerfectPay => &perfectpay::PerfectPay,
        GatewayKind::Greenn => &greenn::Greenn,
        GatewayKind::Kirvano => &kirvano::Kirvano,
        GatewayKind::Cakto => &cakto::Cakto,
        GatewayKind::Hubla => &hubla::Hubla,
        GatewayKind::Pagarme => &pagarme::Pagarme,
        GatewayKind::Asaas => &asaas::Asaas,
    }
}

/// Every gateway whose shape the request has. More than one means the
/// request is ambiguous: refuse it and name them rather than guess.
pub fn detect_candidates(req: &InboundRequest, payload: &Payload) -> Vec<GatewayKind> {
    ADAPTERS
        .iter()
        .filter(|a| a.detect(req, payload))
        .map(|a| a.kind())
        .collect()
}

/// Body field names that carry secrets in any gateway's format.
pub fn all_secret_fields() -> impl Iterator<Item = &'static str> {
    ADAPTERS
        .iter()
        .flat_map(|a| a.secret_fields().iter().copied())
}

#[cfg(test)]
pub(crate) mod fixture {
    //! Loads `tests/fixtures/gateways/<dir>/<name>` with its meta file (a
    //! copy of ../shared/gateways/fixtures, so a clone alone runs its tests).

    use super::{GatewayAdapter, Normalized};
    use crate::inbound::normalize::{CanonicalStatus, NormalizedEvent};
    use crate::inbound::request::{BodyKind, InboundRequest, Payload};
    use crate::inbound::verify::VerifyError;
    use bytes::Bytes;
    use chrono::{DateTime, Utc};
    use serde_json::Value;

    pub struct Fixture {
        pub request: InboundRequest,
        pub payload: Payload,
        pub secret: String,
    }

    pub fn dir() -> std::path::PathBuf {
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/gateways")
    }

    /// Loads the fixture whose meta file is `<dir>/<stem>.meta.json`.
    pub fn load(gateway_dir: &str, stem: &str) -> Fixture {
        let base = dir().join(gateway_dir);
        let meta: Value = serde_json::from_slice(
            &std::fs::read(base.join(format!("{stem}.meta.json"))).expect("meta file"),
        )
        .expect("meta json");
        let body = std::fs::read(base.join(meta["body_file"].as_str().expect("body_file")))
            .expect("body file");
        let headers = meta["headers"]
            .as_object()
            .map(|h| {
                h.iter()
                    .map(|(k, v)| (k.to_ascii_lowercase(), v.as_str().unwrap_or("").to_string()))
                    .collect()
            })
            .unwrap_or_default();
        let query = meta["query"]
            .as_object()
            .map(|q| {
                q.iter()
                    .map(|(k, v)| (k.clone(), v.as_str().unwrap_or("").to_string()))
                    .collect()
            })
            .unwrap_or_default();
        let kind = BodyKind::from_content_type(meta["content_type"].as_str().unwrap_or(""))
            .expect("supported content type");
        let payload = Payload::parse(kind, &body).expect("fixture parses");
        Fixture {
            request: InboundRequest {
                headers,
                query,
                body: Bytes::from(body),
                kind,
            },
            payload,
            secret: meta["secret"].as_str().expect("secret").to_string(),
        }
    }

    /// Every fixture stem in a gateway directory.
    pub fn stems(gateway_dir: &str) -> Vec<String> {
        let mut stems: Vec<String> = std::fs::read_dir(dir().join(gateway_dir))
            .expect("fixture dir")
            .filter_map(|e| e.ok())
            .filter_map(|e| {
                e.file_name()
                    .to_str()
                    .and_then(|n| n.strip_suffix(".meta.json"))
                    .map(str::to_string)
            })
            .collect();
        stems.sort();
        stems
    }

    /// A fixture's body as JSON.
    pub fn json(gateway_dir: &str, stem: &str) -> Value {
        serde_json::from_slice(&load(gateway_dir, stem).request.body).expect("JSON fixture")
    }

    /// `body` posted as JSON with these headers and query pairs.
    pub fn json_request(
        body: &Value,
        headers: &[(&str, &str)],
        query: &[(&str, &str)],
    ) -> (InboundRequest, Payload) {
        let bytes = serde_json::to_vec(body).expect("serializable");
        let payload = Payload::parse(BodyKind::Json, &bytes).expect("a JSON object");
        let pairs = |list: &[(&str, &str)]| -> Vec<(String, String)> {
            list.iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        let request = InboundRequest {
            headers: pairs(headers),
            query: pairs(query),
            body: Bytes::from(bytes),
            kind: BodyKind::Json,
        };
        (request, payload)
    }

    /// The event inside, or a panic naming what came instead.
    pub fn event(normalized: Normalized) -> NormalizedEvent {
        match normalized {
            Normalized::Event(e) => *e,
            other => panic!("expected an event, got {other:?}"),
        }
    }

    /// What a fixture must normalize to: the fields every adapter's test
    /// pins down, compared in one go so a failure shows them all.
    #[derive(Debug, Clone, PartialEq)]
    pub struct Expected<'a> {
        pub status: CanonicalStatus,
        pub transaction: Option<&'a str>,
        pub subscription: Option<&'a str>,
        pub product: Option<&'a str>,
        pub amount_cents: Option<i64>,
        pub email: Option<&'a str>,
        /// The event says when it happened.
        pub is_dated: bool,
    }

    impl<'a> Expected<'a> {
        fn of(e: &'a NormalizedEvent) -> Self {
            Expected {
                status: e.status,
                transaction: e.transaction_id.as_deref(),
                subscription: e.subscription_id.as_deref(),
                product: e.product.as_ref().map(|p| p.id.as_str()),
                amount_cents: e.amount_cents,
                email: e.customer.email.as_deref(),
                is_dated: e.occurred_at.is_some(),
            }
        }
    }

    /// Every fixture of `dir` normalizes to an event of `adapter`'s gateway
    /// matching `expected(stem)`. Returns the events, named `dir/stem`, for
    /// the checks only one gateway needs.
    pub fn assert_every_fixture_normalizes(
        adapter: &dyn GatewayAdapter,
        dir: &str,
        expected: impl Fn(&str) -> Expected<'static>,
    ) -> Vec<(String, NormalizedEvent)> {
        stems(dir)
            .into_iter()
            .map(|stem| {
                let f = load(dir, &stem);

                let e = event(adapter.normalize(&f.request, &f.payload));

                assert_eq!(e.gateway, adapter.kind(), "{dir}/{stem}");
                assert_eq!(Expected::of(&e), expected(&stem), "{dir}/{stem}");
                (format!("{dir}/{stem}"), e)
            })
            .collect()
    }

    /// Every fixture of `dir` proves authentic with its own secret (also
    /// behind an empty and a wrong key), and not with another key or none.
    pub fn assert_only_its_secret_verifies(
        adapter: &dyn GatewayAdapter,
        dir: &str,
        now: DateTime<Utc>,
    ) {
        let other = "a-different-secret-of-this-gateway";
        for stem in stems(dir) {
            let f = load(dir, &stem);
            let verify = |secrets: &[&str]| adapter.verify(&f.request, &f.payload, secrets, now);

            assert_eq!(verify(&[&f.secret]), Ok(0), "{dir}/{stem}");
            assert_eq!(verify(&["", other, &f.secret]), Ok(2), "{dir}/{stem}");
            assert!(
                matches!(verify(&[other]), Err(VerifyError::BadSignature(_))),
                "{dir}/{stem}: {:?}",
                verify(&[other])
            );
            assert!(
                matches!(verify(&[]), Err(VerifyError::NoKeys(_))),
                "{dir}/{stem}"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every fixture directory and the gateway it belongs to.
    const DIRS: &[(&str, GatewayKind)] = &[
        ("hotmart", GatewayKind::Hotmart),
        ("hotmart_v1", GatewayKind::Hotmart),
        ("kiwify", GatewayKind::Kiwify),
        ("eduzz", GatewayKind::Eduzz),
        ("eduzz_legacy", GatewayKind::Eduzz),
        ("stripe", GatewayKind::Stripe),
        ("voomp", GatewayKind::Voomp),
        ("xgrow", GatewayKind::Xgrow),
        ("dmguru", GatewayKind::DmGuru),
        ("herospark", GatewayKind::HeroSpark),
        ("payt", GatewayKind::Payt),
        ("tmb", GatewayKind::Tmb),
        ("lastlink", GatewayKind::LastLink),
        ("braip", GatewayKind::Braip),
        ("monetizze", GatewayKind::Monetizze),
        ("ticto", GatewayKind::Ticto),
        ("perfectpay", GatewayKind::PerfectPay),
        ("greenn", GatewayKind::Greenn),
        ("greenn_v2", GatewayKind::Greenn),
        ("kirvano", GatewayKind::Kirvano),
        ("cakto", GatewayKind::Cakto),
        ("hubla", GatewayKind::Hubla),
        ("pagarme", GatewayKind::Pagarme),
        ("asaas", GatewayKind::Asaas),
    ];

    #[test]
    fn every_fixture_is_detected_as_its_gateway_only() {
        for (dir, kind) in DIRS {
            for stem in fixture::stems(dir) {
                let mut f = fixture::load(dir, &stem);

                let as_sent = detect_candidates(&f.request, &f.payload);
                // Without the proof headers/query the shape alone must still tell.
                f.request.headers.retain(|(k, _)| k == "content-type");
                f.request.query.clear();
                let bare = detect_candidates(&f.request, &f.payload);

                assert_eq!(as_sent, vec![*kind], "{dir}/{stem}");
                assert_eq!(bare, vec![*kind], "{dir}/{stem} without proof");
            }
        }
    }

    #[test]
    fn detect_claims_no_fixture_of_an_unsupported_gateway() {
        for entry in std::fs::read_dir(fixture::dir()).unwrap() {
            let entry = entry.unwrap();
            let dir = entry.file_name().into_string().unwrap();
            if !entry.path().is_dir() || DIRS.iter().any(|(d, _)| *d == dir) {
                continue;
            }
            for stem in fixture::stems(&dir) {
                let f = fixture::load(&dir, &stem);

                let detected = detect_candidates(&f.request, &f.payload);

                assert_eq!(detected, vec![], "{dir}/{stem}");
            }
        }
    }

    #[test]
    fn a_gateway_asks_for_a_url_token_exactly_when_its_fixtures_carry_one() {
        for (dir, kind) in DIRS {
            let setup = adapter(*kind).setup();
            for stem in fixture::stems(dir) {
                let f = fixture::load(dir, &stem);

                let carries = f.request.query_param("token").is_some();

                assert_eq!(setup.is_token_in_url, carries, "{dir}/{stem}");
            }
        }
    }

    #[test]
    fn only_gateways_without_proof_put_the_token_in_the_url_and_gancho_makes_it() {
        for kind in GatewayKind::ALL {
            let setup = adapter(kind).setup();

            assert_eq!(
                setup.is_token_in_url,
                setup.proof == Proof::QueryToken,
                "{kind}"
            );
            if setup.is_token_in_url {
                assert_eq!(setup.secret, SecretSource::Generated, "{kind}");
            }
            assert!(!setup.where_to_paste.is_empty(), "{kind}");
        }
    }

    #[test]
    fn every_gateway_has_its_adapter() {
        for kind in GatewayKind::ALL {
            assert_eq!(adapter(kind).kind(), kind);
        }
    }
}
