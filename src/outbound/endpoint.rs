//! Endpoints (Saída): validation (URL and SSRF guard, event types, products,
//! custom headers gancho does not own), `whsec_` secrets from a CSPRNG,
//! rotation with a 24-hour overlap, and the test send.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use chrono::{DateTime, Duration, Utc};
use serde_json::json;

use super::event::{enqueue, EventDraft, EVENT_TYPES};
use super::target::{check_url, parse_url};
use super::{OutboundError, Outbox};
use crate::catalog::product::check_products_exist;
use crate::catalog::CatalogError;
use crate::ids::{DeliveryId, EndpointId, EventId, ProductId, WorkspaceId};
use crate::keys::Sealer;
use crate::model::Endpoint;
use crate::storage::{Store, StoreError};

/// How long the old secret keeps signing after a rotation.
pub const ROTATION_OVERLAP_HOURS: i64 = 24;
const MAX_RATE: u32 = 1_000;

/// What the API asks to create.
#[derive(Debug, Clone, Default)]
pub struct NewEndpoint {
    pub name: String,
    pub url: String,
    pub event_types: Vec<String>,
    pub product_ids: Vec<ProductId>,
    pub headers: Vec<(String, String)>,
    pub rate_limit_per_second: Option<u32>,
    pub max_in_flight: Option<u32>,
    pub is_enabled: bool,
    pub secret: Option<String>,
}

/// Fields to change; absent ones stay. `rate_limit_per_second: Some(None)` removes the limit.
#[derive(Debug, Clone, Default)]
pub struct EndpointPatch {
    pub name: Option<String>,
    pub url: Option<String>,
    pub event_types: Option<Vec<String>>,
    pub product_ids: Option<Vec<ProductId>>,
    pub headers: Option<Vec<(String, String)>>,
    pub rate_limit_per_second: Option<Option<u32>>,
    /// `Some(None)` goes back to the `GANCHO_ENDPOINT_MAX_IN_FLIGHT` default.
    pub max_in_flight: Option<Option<u32>>,
    pub is_enabled: Option<bool>,
}

/// A fresh `whsec_` secret (32 random bytes).
pub fn generate_secret() -> String {
    crate::random::whsec()
}

fn check_secret(secret: &str) -> Result<(), OutboundError> {
    let len = secret
        .strip_prefix("whsec_")
        .and_then(|b| STANDARD.decode(b).ok())
        .map(|k| k.len());
    match len {
        Some(24..=64) => Ok(()),
        _ => Err(OutboundError::Invalid(
            "secret: whsec_ followed by the base64 of 24 to 64 bytes".into(),
        )),
    }
}

fn invalid(e: impl std::fmt::Display) -> OutboundError {
    OutboundError::Invalid(e.to_string())
}

fn check_name(name: &str) -> Result<String, OutboundError> {
    crate::catalog::clean_name("name", name).map_err(invalid)
}

fn check_event_types(types: Vec<String>) -> Result<Vec<String>, OutboundError> {
    let mut out: Vec<String> = Vec::new();
    for t in types {
        if !EVENT_TYPES.contains(&t.as_str()) {
            return Err(OutboundError::Invalid(format!(
                "event_types: unknown event type {t:?}"
            )));
        }
        if !out.contains(&t) {
            out.push(t);
        }
    }
    Ok(out)
}

/// Custom headers: valid names and values, none of the ones gancho sets itself.
fn check_headers(headers: Vec<(String, String)>) -> Result<Vec<(String, String)>, OutboundError> {
    for (name, value) in &headers {
        let lower = name.to_ascii_lowercase();
        if lower.starts_with("webhook-")
            || [
                "content-type",
                "content-length",
                "host",
                "transfer-encoding",
            ]
            .contains(&lower.as_str())
        {
            return Err(OutboundError::Invalid(format!(
                "headers: {name} is set by gancho and cannot be overridden"
            )));
        }
        if reqwest::header::HeaderName::from_bytes(name.as_bytes()).is_err() {
            return Err(OutboundError::Invalid(format!(
                "headers: {name:?} is not a valid header name"
            )));
        }
        if reqwest::header::HeaderValue::from_str(value).is_err() {
            return Err(OutboundError::Invalid(format!(
                "headers: the value of {name} is not a valid header value"
            )));
        }
    }
    Ok(headers)
}

/// The most deliveries one endpoint may have in flight (the worker sends 64 at once).
pub const MAX_IN_FLIGHT: u32 = 64;

fn check_max_in_flight(max: Option<u32>) -> Result<(), OutboundError> {
    match max {
        Some(m) if m == 0 || m > MAX_IN_FLIGHT => Err(OutboundError::Invalid(format!(
            "max_in_flight: from 1 to {MAX_IN_FLIGHT}, or null for the default"
        ))),
        _ => Ok(()),
    }
}

fn check_rate(rate: Option<u32>) -> Result<(), OutboundError> {
    match rate {
        Some(r) if r == 0 || r > MAX_RATE => Err(OutboundError::Invalid(format!(
            "rate_limit_per_second: from 1 to {MAX_RATE}, or null for no limit"
        ))),
        _ => Ok(()),
    }
}

async fn check_target(raw: &str, allow_private: bool) -> Result<String, OutboundError> {
    let url = parse_url(raw).map_err(invalid)?;
    check_url(&url, allow_private).await.map_err(invalid)?;
    Ok(url.to_string())
}

async fn check_products(
    store: &dyn Store,
    ws: &WorkspaceId,
    ids: &[ProductId],
) -> Result<(), OutboundError> {
    check_products_exist(store, ws, ids)
        .await
        .map_err(|e| match e {
            CatalogError::Store(s) => OutboundError::Store(s),
            other => invalid(other),
        })
}

/// Creates an endpoint; returns it with its secret in clear (shown once).
pub async fn create_endpoint(
    store: &dyn Store,
    sealer: &Sealer,
    ws: &WorkspaceId,
    new: NewEndpoint,
    allow_private: bool,
    now: DateTime<Utc>,
) -> Result<(Endpoint, String), OutboundError> {
    let name = check_name(&new.name)?;
    let url = check_target(&new.url, allow_private).await?;
    let event_types = check_event_types(new.event_types)?;
    check_products(store, ws, &new.product_ids).await?;
    let headers = seal_headers(sealer, check_headers(new.headers)?)?;
    check_rate(new.rate_limit_per_second)?;
    check_max_in_flight(new.max_in_flight)?;
    let secret = match new.secret {
        Some(s) => {
            check_secret(&s)?;
            s
        }
        None => generate_secret(),
    };
    let endpoint = Endpoint {
        id: EndpointId::new(),
        workspace_id: ws.clone(),
        name,
        url,
        event_types,
        product_ids: new.product_ids,
        headers,
        rate_limit_per_second: new.rate_limit_per_second,
        is_enabled: new.is_enabled,
        disabled_reason: None,
        secret: sealer.seal(&secret)?,
        previous_secret: None,
        previous_secret_expires_at: None,
        max_in_flight: new.max_in_flight,
        health: Default::default(),
        created_at: now,
        updated_at: now,
    };
    store.insert_endpoint(&endpoint).await?;
    Ok((endpoint, secret))
}

pub async fn get_endpoint(
    store: &dyn Store,
    ws: &WorkspaceId,
    id: &EndpointId,
) -> Result<Endpoint, OutboundError> {
    store.get_endpoint(ws, id).await.map_err(|e| match e {
        StoreError::NotFound => OutboundError::NotFound("endpoint"),
        other => OutboundError::Store(other),
    })
}

pub async fn update_endpoint(
    store: &dyn Store,
    sealer: &Sealer,
    ws: &WorkspaceId,
    id: &EndpointId,
    patch: EndpointPatch,
    allow_private: bool,
    now: DateTime<Utc>,
) -> Result<Endpoint, OutboundError> {
    let mut e = get_endpoint(store, ws, id).await?;
    if let Some(name) = patch.name {
        e.name = check_name(&name)?;
    }
    if let Some(url) = patch.url {
        e.url = check_target(&url, allow_private).await?;
    }
    if let Some(types) = patch.event_types {
        e.event_types = check_event_types(types)?;
    }
    if let Some(ids) = patch.product_ids {
        check_products(store, ws, &ids).await?;
        e.product_ids = ids;
    }
    if let Some(headers) = patch.headers {
        e.headers = seal_headers(sealer, check_headers(headers)?)?;
    }
    if let Some(rate) = patch.rate_limit_per_second {
        check_rate(rate)?;
        e.rate_limit_per_second = rate;
    }
    if let Some(max) = patch.max_in_flight {
        check_max_in_flight(max)?;
        e.max_in_flight = max;
    }
    if let Some(enabled) = patch.is_enabled {
        e.is_enabled = enabled;
        if enabled {
            e.disabled_reason = None;
        }
    }
    e.updated_at = now;
    store.update_endpoint(&e).await?;
    Ok(e)
}

/// The endpoint's current secret, in clear.
/// Custom headers as stored: each value sealed like the endpoint's secret
/// (they often carry an `Authorization`).
fn seal_headers(
    sealer: &Sealer,
    headers: Vec<(String, String)>,
) -> Result<Vec<(String, String)>, OutboundError> {
    headers
        .into_iter()
        .map(|(name, value)| Ok((name, sealer.seal(&value)?)))
        .collect()
}

/// The custom headers in clear, to send with a delivery.
pub fn open_headers(sealer: &Sealer, e: &Endpoint) -> Result<Vec<(String, String)>, OutboundError> {
    e.headers
        .iter()
        .map(|(name, value)| Ok((name.clone(), sealer.open(value)?)))
        .collect()
}

/// The custom headers as the API shows them: values masked (`abcd…wxyz`).
pub fn masked_headers(
    sealer: &Sealer,
    e: &Endpoint,
) -> Result<Vec<(String, String)>, OutboundError> {
    Ok(open_headers(sealer, e)?
        .into_iter()
        .map(|(name, value)| (name, crate::keys::mask(&value)))
        .collect())
}

pub fn reveal_secret(sealer: &Sealer, e: &Endpoint) -> Result<String, OutboundError> {
    Ok(sealer.open(&e.secret)?)
}

/// The secrets deliveries are signed with at `now`: the current one, and
/// the previous one during the rotation overlap.
pub fn signing_secrets(
    sealer: &Sealer,
    e: &Endpoint,
    now: DateTime<Utc>,
) -> Result<Vec<String>, OutboundError> {
    let mut secrets = vec![sealer.open(&e.secret)?];
    if let (Some(previous), Some(until)) = (&e.previous_secret, e.previous_secret_expires_at) {
        if until > now {
            secrets.push(sealer.open(previous)?);
        }
    }
    Ok(secrets)
}

/// Issues a new secret; the old one keeps signing for 24 hours.
pub async fn rotate_secret(
    store: &dyn Store,
    sealer: &Sealer,
    ws: &WorkspaceId,
    id: &EndpointId,
    given: Option<String>,
    now: DateTime<Utc>,
) -> Result<(Endpoint, String), OutboundError> {
    let mut e = get_endpoint(store, ws, id).await?;
    let secret = match given {
        Some(s) => {
            check_secret(&s)?;
            s
        }
        None => generate_secret(),
    };
    e.previous_secret = Some(e.secret.clone());
    e.previous_secret_expires_at = Some(now + Duration::hours(ROTATION_OVERLAP_HOURS));
    e.secret = sealer.seal(&secret)?;
    e.updated_at = now;
    store.update_endpoint(&e).await?;
    Ok((e, secret))
}

/// Queues a `webhook.test` event to this endpoint only.
pub async fn send_test(
    store: &dyn Store,
    outbox: &Outbox,
    ws: &WorkspaceId,
    id: &EndpointId,
    now: DateTime<Utc>,
) -> Result<(EventId, DeliveryId), OutboundError> {
    let endpoint = get_endpoint(store, ws, id).await?;
    let draft = EventDraft {
        event_type: "webhook.test".into(),
        data: json!({
            "endpoint_id": endpoint.id,
            "endpoint_name": endpoint.name,
            "message": "This is a test event from gancho.",
        }),
        product_ids: Vec::new(),
    };
    let mut tx = store.begin().await?;
    let fanout = super::event::Fanout {
        only: Some(&endpoint),
        ..outbox.fanout(now)
    };
    let mut written = enqueue(tx.as_mut(), ws, vec![draft], fanout).await?;
    tx.commit().await?;
    outbox.wake();
    let (event, mut deliveries) = written.pop().ok_or(OutboundError::NotFound("event"))?;
    let delivery = deliveries
        .pop()
        .ok_or(OutboundError::NotFound("delivery"))?;
    Ok((event, delivery))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_secrets_are_whsec_with_32_random_bytes() {
        let a = generate_secret();
        assert!(check_secret(&a).is_ok());
        assert_ne!(a, generate_secret());
        assert!(check_secret("whsec_c2hvcnQ=").is_err());
        assert!(check_secret("nope").is_err());
    }

    #[test]
    fn headers_gancho_owns_are_refused() {
        for name in [
            "webhook-id",
            "Webhook-Signature",
            "Content-Type",
            "content-length",
            "Host",
        ] {
            assert!(
                check_headers(vec![(name.into(), "x".into())]).is_err(),
                "{name}"
            );
        }
        assert!(check_headers(vec![("X-Api-Key".into(), "k".into())]).is_ok());
        assert!(check_headers(vec![("bad header".into(), "k".into())]).is_err());
    }

    #[test]
    fn unknown_event_types_are_refused() {
        assert!(check_event_types(vec!["access.granted".into()]).is_ok());
        assert!(check_event_types(vec!["access.maybe".into()]).is_err());
    }
}
