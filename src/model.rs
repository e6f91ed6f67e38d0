//! Plain data shared across layers (STYLE.md § 1). These types are never
//! serialized straight to clients: `api/` has its own `XxxOut` types, so the
//! public contract stays put when internals change.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::ids::{
    ApiKeyId, CategoryId, DeliveryId, EndpointId, EventId, GrantId, InboundUrlId, KeyId, LogId,
    ProductId, StudentId, WorkspaceId,
};
pub use crate::inbound::normalize::{CanonicalStatus, GatewayKind};

/// An account. `public_id` is the unguessable part of its inbound URLs.
#[derive(Debug, Clone, PartialEq)]
pub struct Workspace {
    pub id: WorkspaceId,
    pub name: String,
    pub public_id: String,
    pub created_at: DateTime<Utc>,
}

/// A named admin API token; only its SHA-256 is stored.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiKey {
    pub id: ApiKeyId,
    pub workspace_id: WorkspaceId,
    pub name: String,
    pub token_hash: String,
    /// The key that mirrors `GANCHO_ADMIN_TOKEN` (or the generated first token).
    pub is_bootstrap: bool,
    pub created_at: DateTime<Utc>,
}

/// A gateway's product id mapped to a gancho product (used by the global URL).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ExternalId {
    pub gateway: GatewayKind,
    pub id: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Product {
    pub id: ProductId,
    pub workspace_id: WorkspaceId,
    pub name: String,
    pub external_ids: Vec<ExternalId>,
    pub created_at: DateTime<Utc>,
}

/// Access to a category is access to every product in it, now and later.
#[derive(Debug, Clone, PartialEq)]
pub struct Category {
    pub id: CategoryId,
    pub workspace_id: WorkspaceId,
    pub name: String,
    pub product_ids: Vec<ProductId>,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum StudentStatus {
    Active,
    Inactive,
    Canceled,
}

impl StudentStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Inactive => "inactive",
            Self::Canceled => "canceled",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        [Self::Active, Self::Inactive, Self::Canceled]
            .into_iter()
            .find(|s| s.as_str() == value)
    }
}

/// A buyer. The e-mail (trimmed, lowercase) is the identity within a workspace.
#[derive(Debug, Clone, PartialEq)]
pub struct Student {
    pub id: StudentId,
    pub workspace_id: WorkspaceId,
    pub email: String,
    pub name: Option<String>,
    pub phone: Option<String>,
    pub document: Option<String>,
    pub status: StudentStatus,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// What a grant gives access to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GrantTarget {
    Product(ProductId),
    Category(CategoryId),
}

/// Where a grant came from: a gateway sale, or a person through the API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GrantSource {
    Gateway {
        gateway: GatewayKind,
        transaction_id: String,
        subscription_id: Option<String>,
    },
    Manual,
}

/// One entry of the access ledger. Active while `revoked_at` is unset and
/// `expires_at` is unset or in the future.
#[derive(Debug, Clone, PartialEq)]
pub struct Grant {
    pub id: GrantId,
    pub workspace_id: WorkspaceId,
    pub student_id: StudentId,
    pub target: GrantTarget,
    pub source: GrantSource,
    pub granted_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
    pub revoke_reason: Option<String>,
}

impl Grant {
    pub fn is_active(&self, now: DateTime<Utc>) -> bool {
        self.revoked_at.is_none() && self.expires_at.is_none_or(|e| e > now)
    }
}

/// An inbound URL (Entrada): where one gateway posts, and what it grants.
#[derive(Debug, Clone, PartialEq)]
pub struct InboundUrl {
    pub id: InboundUrlId,
    pub workspace_id: WorkspaceId,
    pub name: String,
    pub gateway: GatewayKind,
    pub slug: String,
    pub access_days: Option<u32>,
    pub product_ids: Vec<ProductId>,
    pub category_ids: Vec<CategoryId>,
    pub is_enabled: bool,
    /// CIDRs (`203.0.113.0/24`, `2001:db8::/32`) calls must come from;
    /// empty: from anywhere (`client_ip`).
    pub allowed_sources: Vec<String>,
    pub created_at: DateTime<Utc>,
}

/// A gateway token (Chaves). `secret` is as stored: sealed when an
/// encryption key is configured (see `keys::seal`).
#[derive(Debug, Clone, PartialEq)]
pub struct GatewayKey {
    pub id: KeyId,
    pub workspace_id: WorkspaceId,
    pub gateway: GatewayKind,
    pub name: String,
    pub secret: String,
    /// The seller's API key for the gateway's own API, sealed like `secret`:
    /// Asaas's webhooks carry only a customer id, and gancho fetches the
    /// buyer's e-mail with it (`inbound::lookup`).
    pub api_key: Option<String>,
    pub created_at: DateTime<Utc>,
}

/// An authentic inbound call that waits for its buyer's e-mail from the
/// gateway's API (`inbound::lookup`): stored with its log entry, before the
/// gateway is answered, so it is never lost; granted once it is resolved.
#[derive(Debug, Clone, PartialEq)]
pub struct CustomerLookup {
    pub log_id: LogId,
    pub workspace_id: WorkspaceId,
    /// The key that proved the call; its `api_key` asks the gateway.
    pub key_id: KeyId,
    pub gateway: GatewayKind,
    /// The gateway's id of the buyer (Asaas `cus_…`).
    pub customer_ref: String,
    pub attempts: u32,
    pub next_attempt_at: DateTime<Utc>,
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    In,
    Out,
}

impl Direction {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::In => "in",
            Self::Out => "out",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum LogStatus {
    Success,
    Failure,
}

impl LogStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Success => "success",
            Self::Failure => "failure",
        }
    }
}

/// The integration a log entry belongs to: an inbound URL, the global URL, or an endpoint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Integration {
    /// `inbound_url`, `global_url` or `endpoint`.
    pub kind: String,
    pub id: Option<String>,
    pub name: String,
}

/// One call in either direction (DESIGN.md § Data model, log entry). The
/// summary columns are searchable; `detail` holds the redacted request,
/// verification, normalized event and effects.
#[derive(Debug, Clone, PartialEq)]
pub struct LogEntry {
    pub id: LogId,
    pub workspace_id: WorkspaceId,
    pub at: DateTime<Utc>,
    pub direction: Direction,
    pub gateway: Option<GatewayKind>,
    pub event_type: Option<String>,
    pub email: Option<String>,
    pub status: LogStatus,
    pub http_status: u16,
    pub duration_ms: i64,
    pub integration: Integration,
    pub attempts: u32,
    pub error: Option<String>,
    pub detail: serde_json::Value,
    /// For a reprocessed inbound call: the entry it re-ran.
    pub reprocess_of: Option<LogId>,
}

/// An outbound destination (Saída). `secret` and `previous_secret` are as
/// stored (sealed when an encryption key is configured).
#[derive(Debug, Clone, PartialEq)]
pub struct Endpoint {
    pub id: EndpointId,
    pub workspace_id: WorkspaceId,
    pub name: String,
    pub url: String,
    /// Empty = every event type.
    pub event_types: Vec<String>,
    /// Empty = every product; otherwise only events about these products.
    pub product_ids: Vec<ProductId>,
    /// Custom request headers, in the order given.
    pub headers: Vec<(String, String)>,
    pub rate_limit_per_second: Option<u32>,
    pub is_enabled: bool,
    /// Why gancho disabled it (a `410 Gone`), shown to the user.
    pub disabled_reason: Option<String>,
    pub secret: String,
    /// The secret before the last rotation, still signing until it expires.
    pub previous_secret: Option<String>,
    pub previous_secret_expires_at: Option<DateTime<Utc>>,
    /// At most this many deliveries to it in flight at once (else the
    /// `GANCHO_ENDPOINT_MAX_IN_FLIGHT` default).
    pub max_in_flight: Option<u32>,
    /// The circuit breaker, kept by the delivery worker (never written by
    /// `update_endpoint`).
    pub health: EndpointHealth,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// An endpoint's circuit breaker: after enough consecutive timeouts or
/// connection failures it opens, and its deliveries wait, unattempted,
/// until one probe (due at `open_until`) gets an answer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EndpointHealth {
    pub consecutive_failures: u32,
    /// Set while the breaker is open: when the next probe may go.
    pub open_until: Option<DateTime<Utc>>,
}

impl EndpointHealth {
    /// `healthy`, `unhealthy` (waiting for its probe time) or `probing`.
    pub fn state(&self, now: DateTime<Utc>) -> &'static str {
        match self.open_until {
            None => "healthy",
            Some(at) if at > now => "unhealthy",
            Some(_) => "probing",
        }
    }
}

/// One outbound event: `payload` is the exact body every delivery sends.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub id: EventId,
    pub workspace_id: WorkspaceId,
    pub event_type: String,
    pub payload: serde_json::Value,
    /// The gancho products the event is about (for endpoint filters).
    pub product_ids: Vec<ProductId>,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum DeliveryStatus {
    Pending,
    Success,
    Failed,
}

impl DeliveryStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Success => "success",
            Self::Failed => "failed",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        [Self::Pending, Self::Success, Self::Failed]
            .into_iter()
            .find(|s| s.as_str() == value)
    }
}

/// One event on its way to one endpoint.
#[derive(Debug, Clone, PartialEq)]
pub struct Delivery {
    pub id: DeliveryId,
    pub workspace_id: WorkspaceId,
    pub event_id: EventId,
    pub event_type: String,
    pub endpoint_id: EndpointId,
    pub status: DeliveryStatus,
    pub attempts: u32,
    /// Attempts made before the current run of the retry schedule; a
    /// resend by hand starts the schedule again from here.
    pub cycle_start: u32,
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub lease_until: Option<DateTime<Utc>>,
    /// Bumped by every claim and every resend: an attempt is recorded only
    /// under the token it was claimed with (a fence against a worker whose
    /// lease ran out).
    pub lease_token: i64,
    pub last_http_status: Option<u16>,
    pub last_error: Option<String>,
    /// The outbound log entry that follows this delivery.
    pub log_id: LogId,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// One try at sending a delivery.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Attempt {
    pub number: u32,
    pub at: DateTime<Utc>,
    pub http_status: Option<u16>,
    /// The first 4 KiB of the response body.
    pub response_body: Option<String>,
    pub duration_ms: i64,
    /// timeout, connection refused, DNS, TLS, refused target, or the HTTP status.
    pub error: Option<String>,
}
