//! One adapter per gateway behind [`GatewayAdapter`]. Adding a gateway means
//! one new file here, one line in [`ADAPTERS`], and its fixtures. Adapters are
//! pure: they read an [`InboundRequest`] and never touch storage or the clock
//! (the time they need comes in as an argument).

mod eduzz;
mod generic;
mod hotmart;
mod kiwify;

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

/// A gateway's webhook format: how to recognise it, prove it, and read it.
pub trait GatewayAdapter: Send + Sync {
    fn kind(&self) -> GatewayKind;

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

/// Every adapter, in detection order: formats with a distinctive header first.
static ADAPTERS: [&dyn GatewayAdapter; 4] = [
    &generic::Generic,
    &kiwify::Kiwify,
    &eduzz::Eduzz,
    &hotmart::Hotmart,
];

/// The adapter for a gateway.
pub fn adapter(kind: GatewayKind) -> &'static dyn GatewayAdapter {
    match kind {
        GatewayKind::Hotmart => &hotmart::Hotmart,
        GatewayKind::Kiwify => &kiwify::Kiwify,
        GatewayKind::Eduzz => &eduzz::Eduzz,
        GatewayKind::Generic => &generic::Generic,
    }
}

/// Detects the gateway of a request from its shape, or `None`.
pub fn detect(req: &InboundRequest, payload: &Payload) -> Option<GatewayKind> {
    ADAPTERS
        .iter()
        .find(|a| a.detect(req, payload))
        .map(|a| a.kind())
}

/// The names of the gateways [`detect`] tries, for the 400 message.
pub fn detectable_names() -> Vec<&'static str> {
    ADAPTERS.iter().map(|a| a.kind().as_str()).collect()
}

/// Body field names that carry secrets in any gateway's format.
pub fn all_secret_fields() -> impl Iterator<Item = &'static str> {
    ADAPTERS
        .iter()
        .flat_map(|a| a.secret_fields().iter().copied())
}

#[cfg(test)]
pub(crate) mod fixture {
    //! Loads `../shared/gateways/fixtures/<dir>/<name>` with its meta file.

    use crate::inbound::request::{BodyKind, InboundRequest, Payload};
    use bytes::Bytes;
    use serde_json::Value;

    pub struct Fixture {
        pub request: InboundRequest,
        pub payload: Payload,
        pub secret: String,
    }

    pub fn dir() -> std::path::PathBuf {
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/gateways/fixtures")
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
}
